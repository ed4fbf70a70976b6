/**
 * Lanes: more cells of the matrix than one cluster per version: the same steps with other environment
 * values (Kubeflow Pipelines: cache on/off × two Argo versions), or some steps on another cluster shape
 * (Trainer's GPU lane). Planned, validated, and run on the stand-in engine.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../ci/src/config.js";
import { inClusterRefs } from "../ci/src/load.js";
import { planPipeline, renderPlan } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import type { Call } from "./support/calls.js";
import { calls, envOf, execArgs, liveCluster, passingSteps, reportFiles, STEP } from "./support/cluster-replies.js";
import { pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { projectTree } from "./support/projects.js";

const FILES = { "e2e/deploy.sh": "true\n", "e2e/suite.sh": "true\n", "e2e/gpu.sh": "true\n" };
const tree = localSourceTree(projectTree({ "images/jax/Dockerfile": "FROM python:3.12-slim\n", ...FILES }));

/** Kubeflow Pipelines' axis (cache on/off × two Argo versions, the default lane being cache on with Argo 3.5) and Trainer's GPU lane. */
const LANES = `images:
  jax: { context: images/jax }
kubernetes: { versions: ["1.37.0", "1.36.4"] }
x-cache-off: &cache-off { CACHE_ENABLED: "false" }
lanes:
  - { name: cache-off, env: *cache-off }
  - { name: argo-36, env: { ARGO_VERSION: "3.6.7" } }
  - { name: off-argo-36, env: { <<: *cache-off, ARGO_VERSION: "3.6.7" } }
  - name: gpu
    kubernetes: ["1.37.0"]
    kindConfig:
      nodes: [{ role: control-plane }, { role: worker, labels: { example.com/accelerator: gpu } }]
e2e:
  - { name: deploy, needs: [jax], run: [sh, e2e/deploy.sh], env: { CACHE_ENABLED: "true", ARGO_VERSION: "3.5.14" } }
  - { name: suite, needs: [jax], after: [deploy], run: [sh, e2e/suite.sh], lanes: [default, cache-off, argo-36, off-argo-36] }
  - { name: gpu-suite, needs: [jax], after: [deploy], run: [sh, e2e/gpu.sh], lanes: [gpu] }
`;

async function problems(yaml: string): Promise<string[]> {
  const error = await validateConfig(yaml, tree).catch((e: unknown) => e);
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems.map((p) => `${p.path}: ${p.message}`);
}

describe("lanes in the config and the plan", () => {
  it("are cells of the matrix: every lane on each of its versions, each its own cluster", async () => {
    const plan = planPipeline(await validateConfig(LANES, tree));
    expect(plan.clusters.map((c) => [c.kubernetes, c.lane, c.name, c.env])).toEqual([
      ["1.37.0", "default", "kind-pipeline-1-37-0", {}],
      ["1.37.0", "cache-off", "kind-pipeline-cache-off-1-37-0", { CACHE_ENABLED: "false" }],
      ["1.37.0", "argo-36", "kind-pipeline-argo-36-1-37-0", { ARGO_VERSION: "3.6.7" }],
      ["1.37.0", "off-argo-36", "kind-pipeline-off-argo-36-1-37-0", { CACHE_ENABLED: "false", ARGO_VERSION: "3.6.7" }],
      ["1.37.0", "gpu", "kind-pipeline-gpu-1-37-0", {}],
      ["1.36.4", "default", "kind-pipeline-1-36-4", {}],
      ["1.36.4", "cache-off", "kind-pipeline-cache-off-1-36-4", { CACHE_ENABLED: "false" }],
      ["1.36.4", "argo-36", "kind-pipeline-argo-36-1-36-4", { ARGO_VERSION: "3.6.7" }],
      ["1.36.4", "off-argo-36", "kind-pipeline-off-argo-36-1-36-4", { CACHE_ENABLED: "false", ARGO_VERSION: "3.6.7" }],
    ]);
    const gpu = plan.clusters.find((c) => c.lane === "gpu")!;
    expect(gpu.kindConfig?.nodes?.[1]?.labels).toEqual({ "example.com/accelerator": "gpu" });
    expect(gpu.workers).toBe(1);
    const text = renderPlan(plan);
    expect(text).toContain("   - 1.37.0 lane off-argo-36 (env CACHE_ENABLED=false ARGO_VERSION=3.6.7): kind-pipeline-off-argo-36-1-37-0, 1 control plane + 1 worker");
    expect(text).toContain("   - 1.37.0 lane gpu: kind-pipeline-gpu-1-37-0, control-plane, worker (cluster.kindConfig)");
    expect(text).toContain('   - gpu-suite: runs ["sh","e2e/gpu.sh"]; image the pinned step image (kubectl, kind, helm, kustomize, docker); needs jax; after deploy; only in lanes gpu; timeout 10m');
  });

  it("are validated: names, lengths beside cluster.name, versions, and the lanes steps name", async () => {
    const yaml = `images:
  jax: { context: images/jax }
cluster: { name: ${"k".repeat(30)} }
lanes:
  - { name: default }
  - { name: cache-off-long }
  - { name: gpu, kubernetes: ["1.30.0"] }
  - { name: gpu }
e2e:
  - { name: s, run: [sh, e2e/suite.sh], lanes: [gpuu] }
`;
    expect((await problems(yaml)).sort()).toEqual([
      "e2e.0.lanes.0: unknown lane \"gpuu\" (did you mean \"gpu\"?) (lanes: default, gpu)",
      "lanes.0.name: default is the plain cluster's lane; give this one another name",
      "lanes.1.name: must be at most 12 characters: it becomes part of the lane's cluster names",
      "lanes.2.kubernetes.0: 1.30.0 is not in kubernetes.versions (1.37.0)",
      "lanes.3.name: duplicate lane name \"gpu\" (also lanes.2.name)",
    ].sort());
    expect(await problems(`images:\n  jax: { context: images/jax }\ncluster: { name: ${"k".repeat(35)} }\nlanes: [{ name: gpu-lane }]\n`)).toEqual([
      `lanes.0.name: with cluster.name "${"k".repeat(35)}" it makes cluster names too long for kind's node names: the two together must stay within 39 characters`,
    ]);
  });
});

describe("lanes on the stand-in engine", () => {
  test("each lane runs its steps on its own cluster, with its environment over the step's, and reports under its own name", async ({ engine }) => {
    const root = threeImages({
      files: FILES,
      config: `lanes:
  - { name: cache-off, env: { CACHE_ENABLED: "false" } }
  - { name: gpu, kindConfig: { nodes: [{ role: control-plane }, { role: worker, labels: { example.com/accelerator: gpu } }] } }
e2e:
  - { name: deploy, needs: [jax], run: [sh, e2e/deploy.sh], env: { CACHE_ENABLED: "true" } }
  - { name: suite, needs: [jax], after: [deploy], run: [sh, e2e/suite.sh], lanes: [default, cache-off] }
  - { name: gpu-suite, needs: [jax], after: [deploy], run: [sh, e2e/gpu.sh], lanes: [gpu] }`,
    });
    const refs = await engine.run(async () => inClusterRefs(await runAt(root, { images: ["jax"] })));
    for (const cluster of ["kind-pipeline-1-37-0", "kind-pipeline-cache-off-1-37-0", "kind-pipeline-gpu-1-37-0"]) liveCluster(engine, { cluster, held: [...refs.values()] });
    passingSteps(engine);
    const id = await engine.run(async () => (await pipelineAt(root).testReport(undefined, ["jax"])).id());

    const ran = engine.find(STEP, { leaf: "sync" }).map((l) => {
      const env = envOf(l.call);
      return `${env.KIND_CLUSTER_NAME} ${execArgs(l.call.parent!).at(-1)} CACHE_ENABLED=${env.CACHE_ENABLED}`;
    });
    expect(ran.sort()).toEqual(
      [
        "kind-pipeline-1-37-0 e2e/deploy.sh CACHE_ENABLED=true",
        "kind-pipeline-1-37-0 e2e/suite.sh CACHE_ENABLED=undefined",
        "kind-pipeline-cache-off-1-37-0 e2e/deploy.sh CACHE_ENABLED=false",
        "kind-pipeline-cache-off-1-37-0 e2e/suite.sh CACHE_ENABLED=false",
        "kind-pipeline-gpu-1-37-0 e2e/deploy.sh CACHE_ENABLED=true",
        "kind-pipeline-gpu-1-37-0 e2e/gpu.sh CACHE_ENABLED=undefined",
      ].sort(),
    );
    const files = reportFiles(engine.callOf(id));
    expect([...files.keys()].filter((f) => f.startsWith("steps/")).sort()).toEqual([
      "steps/1.37.0-cache-off/deploy.log",
      "steps/1.37.0-cache-off/suite.log",
      "steps/1.37.0-gpu/deploy.log",
      "steps/1.37.0-gpu/gpu-suite.log",
      "steps/1.37.0/deploy.log",
      "steps/1.37.0/suite.log",
    ]);
    const junit = String(files.get("junit.xml"));
    expect(junit.match(/<testsuite name="[^"]+"/g)).toEqual(['<testsuite name="kubernetes-1.37.0"', '<testsuite name="kubernetes-1.37.0-cache-off"', '<testsuite name="kubernetes-1.37.0-gpu"']);
    const gpuService = engine.find("asService", { leaf: "start" }).map((l) => l.call.parent as Call).find((c) => envOf(c).CLUSTER_NAME === "kind-pipeline-gpu-1-37-0")!;
    expect(String(calls(gpuService, "withNewFile").find((c) => c.args.path === "/kind-pipeline/kind-config.yaml")?.args.contents)).toContain("example.com/accelerator: gpu");
  });
});
