/**
 * The plan: which images, versions and steps a selection runs, in dependency order.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../ci/src/config.js";
import { planPipeline, renderPlan, type Selection } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { projectTree } from "./support/projects.js";

const root = projectTree({
  "images/jax/Dockerfile": "FROM a\n",
  "images/pytorch/Dockerfile": "FROM b\n",
  "cmd/manager/Dockerfile": "FROM c\n",
});

const CONFIG = `
images:
  manager: { context: ., dockerfile: cmd/manager/Dockerfile, buildArgs: { GO_VERSION: "1.24" } }
  jax: { context: images/jax, target: runtime }
  pytorch: { context: images/pytorch, optional: true }
kubernetes:
  versions: ["1.37.0", "1.36.4"]
cluster: { workers: 2 }
e2e:
  - { name: operator, needs: [manager], run: [go, test, ./test/e2e/...], timeout: 15m }
  - { name: jax-smoke, needs: [manager, jax], run: [sh, test/e2e/run.sh, jax] }
  - { name: pytorch-smoke, needs: [pytorch], run: [sh, test/e2e/run.sh, pytorch] }
`;

async function plan(selection: Selection = {}, yaml = CONFIG) {
  return planPipeline(await validateConfig(yaml, localSourceTree(root)), selection);
}

describe("default selection", () => {
  it("builds every image not marked optional, on the first version, with the steps whose images are all selected", async () => {
    const p = await plan();
    expect(p.images.map((i) => i.name)).toEqual(["manager", "jax"]);
    expect(p.skippedImages).toEqual([{ name: "pytorch", reason: "optional" }]);
    expect(p.clusters.map((c) => c.kubernetes)).toEqual(["1.37.0"]);
    expect(p.steps.map((s) => s.name)).toEqual(["operator", "jax-smoke"]);
    expect(p.skippedSteps).toEqual([{ name: "pytorch-smoke", missing: ["pytorch"] }]);
  });

  it("carries what each build depends on, the Dockerfile relative to its context", async () => {
    const [manager, jax] = (await plan()).images;
    expect(manager).toEqual({
      name: "manager",
      context: ".",
      dockerfile: "cmd/manager/Dockerfile",
      dockerfilePath: "cmd/manager/Dockerfile",
      buildArgs: { GO_VERSION: "1.24" },
      secrets: {},
    });
    expect(jax).toMatchObject({ context: "images/jax", dockerfile: "Dockerfile", dockerfilePath: "images/jax/Dockerfile", target: "runtime" });
  });

  it("names the cluster and node image for each version", async () => {
    expect((await plan()).clusters).toEqual([
      {
        kubernetes: "1.37.0",
        name: "kind-pipeline-1-37-0",
        nodeImage: { kind: "published", ref: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5" },
        workers: 2,
        nodeLabels: {},
      },
    ]);
  });
});

describe("explicit selection", () => {
  it("selects images by name, also comma-separated, in config order", async () => {
    const p = await plan({ images: ["pytorch,manager"] });
    expect(p.images.map((i) => i.name)).toEqual(["manager", "pytorch"]);
    expect(p.skippedImages).toEqual([{ name: "jax", reason: "not selected" }]);
    expect(p.steps.map((s) => s.name)).toEqual(["operator", "pytorch-smoke"]);
  });

  it("selects versions, with or without v, published or to be built", async () => {
    const p = await plan({ kubernetes: ["v1.36.4", "1.38.0"] });
    expect(p.clusters.map((c) => [c.kubernetes, c.nodeImage])).toEqual([
      ["1.36.4", { kind: "published", ref: expect.stringMatching(/^kindest\/node:v1\.36\.4@sha256:099e0493/) }],
      ["1.38.0", { kind: "build", version: "1.38.0" }],
    ]);
  });

  it("refuses unknown images and bad versions, all in one error", async () => {
    const error = await plan({ images: ["jax", "tensorflow", "mxnet"], kubernetes: ["1.37"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      { path: "images", message: 'unknown image "tensorflow" (configured: manager, jax, pytorch)' },
      { path: "images", message: 'unknown image "mxnet" (configured: manager, jax, pytorch)' },
    ]);
    const versions = await plan({ kubernetes: ["1.37", "latest"] }).catch((e: ConfigError) => e.problems.map((p) => p.message));
    expect(versions).toEqual([expect.stringMatching(/^"1\.37" must be a Kubernetes version/), expect.stringMatching(/^"latest" must be/)]);
  });

  it("refuses a selection that names nothing", async () => {
    const images = await plan({ images: [",", " "] }).catch((e: ConfigError) => e.problems);
    expect(images).toEqual([{ path: "images", message: 'no image named in [","," "] (configured: manager, jax, pytorch)' }]);
    const versions = await plan({ kubernetes: [""] }).catch((e: ConfigError) => e.problems);
    expect(versions).toEqual([{ path: "kubernetes", message: 'no version named in [""] (configured: 1.37.0, 1.36.4)' }]);
  });

  it("refuses a version with no published node image when building one is not allowed", async () => {
    const yaml = CONFIG.replace('versions: ["1.37.0", "1.36.4"]', 'versions: ["1.37.0"]\n  nodeImageFallback: fail');
    const error = await plan({ kubernetes: ["1.38.0"] }, yaml).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/kubernetes: kind v0\.33\.0 publishes no node image for Kubernetes 1\.38\.0/);
  });
});

describe("renderPlan", () => {
  it("prints the stages in dependency order, skipped parts with the reason", async () => {
    expect(renderPlan(await plan({ kubernetes: ["1.38.0"] }))).toBe(
      [
        "1. build — 2 images in parallel; all must succeed before any later stage starts",
        "   - manager: context .; dockerfile cmd/manager/Dockerfile; args GO_VERSION=1.24",
        "   - jax: context images/jax; dockerfile images/jax/Dockerfile; target runtime",
        "   - pytorch: skipped (optional; select it with --images)",
        "2. cluster — kind v0.33.0, one Docker-in-Docker service per Kubernetes version",
        "   - 1.38.0: kind-pipeline-1-38-0, 1 control plane + 2 workers, node image built from Kubernetes v1.38.0 release binaries (kind build node-image; none is published)",
        "3. load — manager, jax into each cluster (planned: not run by this version of kind-pipeline)",
        "4. e2e — 2 steps, each after the images it needs are loaded (planned: not run by this version of kind-pipeline)",
        "   - operator: needs manager; runs go test ./test/e2e/...; timeout 15m",
        "   - jax-smoke: needs manager, jax; runs sh test/e2e/run.sh jax; timeout 10m",
        "   - pytorch-smoke: skipped (needs pytorch, not selected)",
        "",
      ].join("\n"),
    );
  });
});
