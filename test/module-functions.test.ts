/**
 * What users get through the module's functions themselves (index.ts), beyond the stages they run: the
 * constructor's defaults, what `plan`, `build` and `build-all` return, which version a function takes when
 * none is given, `kubeconfig --local` against the started cluster, `failFast` of `test` and `test-report`,
 * and which errors `test-report` lets through instead of turning them into a report.
 */
import { dag } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { ConfigError } from "../ci/src/config.js";
import { KindPipeline } from "../ci/src/index.js";
import { inClusterRefs } from "../ci/src/load.js";
import { PreflightError } from "../ci/src/preflight.js";
import { TestFailure } from "../ci/src/test-run.js";
import {
  calls,
  CLUSTER,
  diagnosticsCollect,
  engineWith,
  envOf,
  execArgs,
  fileText,
  junitOutcomes,
  liveCluster,
  passingSteps,
  podList,
  reportFiles,
  stepExits,
} from "./support/cluster-replies.js";
import type { StandInEngine } from "./support/engine.js";
import { pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { answer } from "./support/replies.js";

/** Two configured versions, the first not the default one, so "the config's first" shows. */
const TWO_VERSIONS = 'kubernetes: { versions: ["1.36.4", "1.37.0"] }';
const FIRST = "kind-pipeline-1-36-4";
const NODE_1_36_4 = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";
const NODE_1_37_0 = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5";

/** A step that needs jax, and the script it runs. */
const SMOKE = { config: "e2e:\n  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh] }", files: { "e2e/smoke.sh": "exit 0\n" } };

/** The clusters whose services the engine was asked to start, in order. */
function startedClusterName(engine: StandInEngine): unknown[] {
  return engine.find("", { leaf: "start" }).map((l) => envOf(l.call.parent!).CLUSTER_NAME);
}

describe("the constructor", () => {
  test("reads kind-pipeline.yaml by default, and passes no secrets when none are given", async ({ engine }) => {
    const root = threeImages({ images: "  tokens: { context: images/jax, secrets: { pip: env://PIP_TOKEN } }" });
    const error = await engine.run(() => new KindPipeline(dag.host().directory(root)).buildAll(["tokens"])).catch((e: unknown) => e);
    expect(engine.find(/\.file\(path:"kind-pipeline\.yaml"\)\.contents$/, { leaf: "contents" })).toHaveLength(1);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      [
        "invalid arguments (1 problem):",
        "  images.tokens.secrets.pip: env://PIP_TOKEN was not passed to the pipeline",
        "Pass the build secrets as Dagger secrets: dagger call --secrets=env://PIP_TOKEN build-all",
      ].join("\n"),
    );
    engine.expectNever("dockerBuild");
  });
});

describe("plan", () => {
  test("plans the versions and images given", async ({ engine }) => {
    const root = threeImages({ config: `${TWO_VERSIONS}\n${SMOKE.config}`, files: SMOKE.files });
    const text = await engine.run(() => pipelineAt(root).plan(["1.37.0"], ["pytorch"]));
    expect(text).toBe(
      [
        "1. build — 1 image in parallel; all must succeed before any later stage starts",
        "   - pytorch: context images/pytorch; dockerfile images/pytorch/Dockerfile; args TORCH_VERSION=2.7.1",
        "   - jax: skipped (not selected; select it with --images)",
        "   - xgboost: skipped (not selected; select it with --images)",
        "2. cluster — kind v0.33.0, one Docker-in-Docker service per Kubernetes version, as many at a time as the engine's memory and CPUs hold",
        `   - 1.37.0: kind-pipeline-1-37-0, 1 control plane + 1 worker, node image ${NODE_1_37_0}`,
        "3. load — into every node of each cluster, in parallel, then verified in each node's containerd; no registry",
        "   - pytorch as kind-pipeline.local/pytorch:build-<hash of its build inputs>",
        "4. e2e — 0 steps, one at a time on each cluster, in this order; a step that fails skips the steps after it, those that list it in after",
        "   - smoke: skipped (needs jax, not selected)",
        "5. report — summary.md, junit.xml, step logs, artifacts and, after a failure, diagnostics",
        "",
      ].join("\n"),
    );
    engine.expectNever("container");
  });
});

describe("build-all", () => {
  test("returns the built images themselves, in the config's order", async ({ engine }) => {
    const root = threeImages();
    const ids = await engine.run(async () => Promise.all((await pipelineAt(root).buildAll(["xgboost", "jax"])).map((container) => container.id())));
    const contexts = ids.map((id) => calls(engine.callOf(id), "directory").at(-1)?.args.path);
    expect(contexts).toEqual(["images/jax", "images/xgboost"]);
    expect(ids.map((id) => engine.callOf(id).field)).toEqual(["dockerBuild", "dockerBuild"]);
  });
});

describe("build", () => {
  test("refuses several images in one name with the whole argument error", async ({ engine }) => {
    const error = await engine.run(() => pipelineAt(threeImages()).build("jax,pytorch")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(["invalid arguments (1 problem):", '  image: build takes one image, got "jax,pytorch"', "Build several with build-all --images=jax,pytorch."].join("\n"));
    engine.expectNever("dockerBuild");
  });
});

describe("the version a function takes: the one given, else the config's first", () => {
  test("nodeImage", async ({ engine }) => {
    const root = threeImages({ config: TWO_VERSIONS });
    const images = await engine.run(async () => {
      const pipeline = pipelineAt(root);
      const fields = async (kubernetes?: string) => {
        const node = await pipeline.nodeImage(kubernetes);
        return [node.kubernetes, node.ref, node.published];
      };
      return [await fields(), await fields("1.37.0")];
    });
    expect(images).toEqual([
      ["1.36.4", NODE_1_36_4, true],
      ["1.37.0", NODE_1_37_0, true],
    ]);
  });

  test("cluster", async ({ engine }) => {
    liveCluster(engine, { held: [] });
    liveCluster(engine, { cluster: FIRST, held: [] });
    const root = threeImages({ config: TWO_VERSIONS });
    await engine.run(async () => {
      await (await pipelineAt(root).cluster(undefined, [])).id();
      await (await pipelineAt(root).cluster("1.37.0", [])).id();
    });
    expect(startedClusterName(engine)).toEqual([FIRST, CLUSTER]);
  });

  test("kubeconfig: a started cluster's, for the service alias; with local, a running cluster's, for localhost, starting nothing", async ({ engine }) => {
    liveCluster(engine, { held: [] });
    liveCluster(engine, { cluster: FIRST, held: [] });
    const root = threeImages({ config: TWO_VERSIONS });
    const [started, startedGiven, local, localGiven] = await engine.run(async () => {
      const pipeline = pipelineAt(root);
      const ids: string[] = [];
      for (const [kubernetes, local] of [[undefined, false], ["1.37.0", false], [undefined, true], ["1.37.0", true]] as const) {
        ids.push(await (await pipeline.kubeconfig(kubernetes, local, local ? undefined : [])).id());
      }
      return ids;
    });
    const server = (id: string) => calls(engine.callOf(id), "withExec").map((c) => c.args.args as string[]).find((args) => args.includes("set-cluster"))?.at(-1);
    expect([server(started!), server(startedGiven!)]).toEqual([`--server=https://${FIRST}:6443`, `--server=https://${CLUSTER}:6443`]);
    const read = (id: string) => execArgs(engine.callOf(id)).slice(3, 5);
    expect([read(local!), read(localGiven!)]).toEqual([
      [FIRST, "https://localhost:6443"],
      [CLUSTER, "https://localhost:6443"],
    ]);
    expect(execArgs(engine.callOf(local!))[1]).toBe("/kind-pipeline/scripts/read-kubeconfig.sh");
    expect(startedClusterName(engine)).toEqual([FIRST, CLUSTER]);
  });
});

/**
 * A project of two versions run one at a time (1.36.4 first) whose smoke step fails on every version;
 * both clusters healthy, holding jax.
 */
async function smokeFailsEverywhere(engine: StandInEngine): Promise<string> {
  const root = threeImages({ config: `${TWO_VERSIONS}\ncluster: { parallel: 1 }\n${SMOKE.config}`, files: SMOKE.files });
  const refs = await engine.run(async () => inClusterRefs(await runAt(root, { images: ["jax"] })));
  for (const cluster of [FIRST, CLUSTER]) liveCluster(engine, { cluster, held: [...refs.values()] });
  passingSteps(engine);
  stepExits(engine, '"sh","e2e/smoke.sh"', 1, "smoke failed\n");
  diagnosticsCollect(engine, podList());
  return root;
}

describe("test and test-report without failFast", () => {
  test("run every version after one failed", async ({ engine }) => {
    const root = await smokeFailsEverywhere(engine);
    const error = await engine.run(() => pipelineAt(root).test(undefined, ["jax"])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TestFailure);
    expect((error as Error).message.split("\n")[0]).toBe("test: 2 of 2 Kubernetes versions failed: 1.36.4 (failed steps: smoke), 1.37.0 (failed steps: smoke).");
    const id = await engine.run(async () => (await pipelineAt(root).testReport(undefined, ["jax"])).id());
    const files = reportFiles(engine.callOf(id));
    expect(junitOutcomes(files, "kubernetes-1.37.0")).toEqual({ smoke: "failure StepFailed: exit code 1" });
    expect(startedClusterName(engine)).toEqual([FIRST, CLUSTER, FIRST, CLUSTER]);
  });
});

describe("test-report", () => {
  test("with failFast, starts no further version once one failed, and reports it as not started", async ({ engine }) => {
    const root = await smokeFailsEverywhere(engine);
    const id = await engine.run(async () => (await pipelineAt(root).testReport(undefined, ["jax"], true)).id());
    const files = reportFiles(engine.callOf(id));
    expect(startedClusterName(engine)).toEqual([FIRST]);
    expect(junitOutcomes(files, "kubernetes-1.36.4")).toEqual({ smoke: "failure StepFailed: exit code 1" });
    expect(junitOutcomes(files, "kubernetes-1.37.0")).toEqual({ cluster: "error ClusterFailed", smoke: "skipped: not run: the cluster stage failed" });
    expect(fileText(files, "summary.md")).toContain("not started: --fail-fast stopped starting versions after Kubernetes 1.36.4 failed");
  });

  test("lets through what is not a stopped run: an engine too small for one cluster (PreflightError), a step secret not passed (ConfigError)", async ({ engine }) => {
    const root = threeImages({ config: SMOKE.config, files: SMOKE.files });
    liveCluster(engine, { held: [] });
    engineWith(engine, { cpus: 8, memoryGiB: 3 });
    const preflight = await engine.run(() => pipelineAt(root).testReport(undefined, ["jax"])).catch((e: unknown) => e);
    expect(preflight).toBeInstanceOf(PreflightError);
    expect((preflight as Error).message.split("\n")[0]).toBe(
      "preflight: the engine has 3.0 GiB of memory available; one Kind cluster with 1 worker needs 4.0 GiB. Nothing was started.",
    );
    expect(engine.find("", { leaf: "start" })).toEqual([]);

    const withSecret = threeImages({ config: SMOKE.config.replace(" }", ', secrets: { TOKEN: "env://TOKEN" } }'), files: SMOKE.files });
    engine.reply({ leaf: "uri" }, answer("env://OTHER"));
    const config = await engine.run(() => new KindPipeline(dag.host().directory(withSecret), "kind-pipeline.yaml", [dag.secret("env://OTHER")]).testReport(undefined, ["jax"])).catch((e: unknown) => e);
    expect(config).toBeInstanceOf(ConfigError);
    expect((config as Error).message).toContain("  e2e.0.secrets.TOKEN: env://TOKEN was not passed to the pipeline");
  });
});
