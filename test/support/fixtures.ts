/**
 * Projects for the stage tests: three images, like the embedded example, with a config the test can extend.
 */
import { dag, type Directory, type Secret } from "@dagger.io/dagger";
import { KindPipeline } from "../../ci/src/index.js";
import { prepareRun, type Run } from "../../ci/src/run.js";
import type { Selection } from "../../ci/src/plan.js";
import { projectTree } from "./projects.js";

/** What a stage after the build would ask for: a cluster, kind, kubectl, image archives. */
export const DOWNSTREAM = /kindest\/node|kind-linux|"kind"|kubectl|docker:[^"]*dind|asService|withServiceBinding|asTarball/;

/** Additions to the project of `threeImages()`. */
export interface ProjectExtras {
  /** More entries under `images:` (indented by two spaces). */
  images?: string;
  /** The `build:` mapping's content; default `retries: 1, retryDelay: 0s`. */
  build?: string;
  /** More top-level sections of the config. */
  config?: string;
  /** More files. */
  files?: Record<string, string>;
}

/** A project on disk with images jax, pytorch and xgboost (built by default), and the test's additions. */
export function threeImages(extras: ProjectExtras = {}): string {
  const config = [
    "images:",
    '  jax: { context: images/jax, buildArgs: { JAX_VERSION: "0.6.2" }, target: runtime }',
    '  pytorch: { context: images/pytorch, buildArgs: { TORCH_VERSION: "2.7.1" } }',
    "  xgboost: { context: images/xgboost, dockerfile: build/Dockerfile }",
    extras.images ?? "",
    `build: { ${extras.build ?? "retries: 1, retryDelay: 0s"} }`,
    extras.config ?? "",
  ];
  return projectTree({
    "kind-pipeline.yaml": config.filter(Boolean).join("\n") + "\n",
    "images/jax/Dockerfile": "FROM python:3.12-slim AS runtime\nCOPY train.py /app/\n",
    "images/jax/train.py": "print('jax')\n",
    "images/jax/.dockerignore": "__pycache__\n",
    "images/pytorch/Dockerfile": "FROM python:3.12-slim\nCOPY train.py /app/\n",
    "images/pytorch/train.py": "print('pytorch')\n",
    "images/xgboost/build/Dockerfile": "FROM python:3.12-slim\n",
    "README.md": "not part of any build\n",
    ...extras.files,
  });
}

/** The pipeline over a project on disk, as `dagger call --source=<root>` makes it. Call inside `engine.run`. */
export function pipelineAt(root: string, secrets: Secret[] = []): KindPipeline {
  return new KindPipeline(dag.host().directory(root), "kind-pipeline.yaml", secrets);
}

/** A stage context over a project on disk, with status lines collected into `lines`. Call inside `engine.run`. */
export function runAt(root: string, selection: Selection, lines: string[] = []): Promise<Run> {
  const source: Directory = dag.host().directory(root);
  return prepareRun(source, "kind-pipeline.yaml", selection, [], (line) => lines.push(line));
}
