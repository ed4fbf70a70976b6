/**
 * The version matrix: every configured version on its own cluster from one build, as many at once as the
 * engine holds (the preflight), one failing version leaving the others complete, and --fail-fast.
 */
import { describe, expect, it } from "vitest";
import { availableMemory, clusterMemoryBytes, parallelClusters, PreflightError } from "../ci/src/preflight.js";
import { inClusterRefs } from "../ci/src/load.js";
import { diagnosticsCollect, engineWith, liveCluster, passingSteps, podList, STEP } from "./support/cluster-replies.js";
import type { StandInEngine } from "./support/engine.js";
import { pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { answer } from "./support/replies.js";

const GIB = 1024 ** 3;
const VERSIONS = ["1.37.0", "1.36.4", "1.35.8"];
const CLUSTERS = VERSIONS.map((v) => `kind-pipeline-${v.replaceAll(".", "-")}`);

describe("the preflight", () => {
  it("reads the memory available now, not the total", () => {
    expect(availableMemory("MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8388608 kB\n")).toBe(8 * GIB);
    expect(availableMemory("MemTotal:       32000000 kB\n")).toBe(0);
  });

  it("needs 4 GiB for a cluster with one worker (or none), 1 GiB more per further worker", () => {
    expect([0, 1, 2, 8].map((workers) => clusterMemoryBytes(workers) / GIB)).toEqual([4, 4, 5, 11]);
  });

  it("runs as many clusters at once as memory and CPUs (2 each) hold, at least one, at most the clusters there are", () => {
    expect(parallelClusters({ cpus: 16, memoryBytes: 13 * GIB }, 1, 5)).toBe(3);
    expect(parallelClusters({ cpus: 4, memoryBytes: 64 * GIB }, 1, 5)).toBe(2);
    expect(parallelClusters({ cpus: 1, memoryBytes: 64 * GIB }, 1, 5)).toBe(1);
    expect(parallelClusters({ cpus: 64, memoryBytes: 64 * GIB }, 1, 3)).toBe(3);
    expect(parallelClusters({ cpus: 64, memoryBytes: 64 * GIB }, 1, 3, 1)).toBe(1);
  });

  it("refuses an engine that holds not even one cluster, saying what it has and what one needs", () => {
    expect(() => parallelClusters({ cpus: 8, memoryBytes: 3 * GIB }, 2, 3)).toThrow(PreflightError);
    expect(() => parallelClusters({ cpus: 8, memoryBytes: 3 * GIB }, 2, 3)).toThrow(
      "preflight: the engine has 3.0 GiB of memory available; one Kind cluster with 2 workers needs 5.0 GiB. Nothing was started.",
    );
    const error = (() => {
      try {
        parallelClusters({ cpus: 8, memoryBytes: 3.5 * GIB }, 1, 1);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.name).toBe("PreflightError");
    expect(error?.message).toBe(
      "preflight: the engine has 3.5 GiB of memory available; one Kind cluster with 1 worker needs 4.0 GiB. Nothing was started.\n\n" +
        "Give the Dagger engine's host more memory (Docker Desktop: Settings → Resources), or use fewer workers (cluster.workers).",
    );
  });
});

/** A project with three versions and one step; the engine's clusters all healthy and holding the image. */
async function matrix(engine: StandInEngine, config = ""): Promise<string> {
  const root = threeImages({
    config: `kubernetes: { versions: ${JSON.stringify(VERSIONS)} }\n${config}\ne2e:\n  - { name: smoke, needs: [jax], run: [sh, smoke.sh] }`,
    files: { "smoke.sh": "echo ok\n" },
  });
  const refs = await engine.run(async () => inClusterRefs(await runAt(root, { images: ["jax"] })));
  for (const cluster of CLUSTERS) liveCluster(engine, { cluster, held: [...refs.values()] });
  passingSteps(engine, { delayMs: 150 });
  return root;
}

/** The step of one version fails with exit code 1. */
function failsOn(engine: StandInEngine, version: string): void {
  const own = new RegExp(`KUBERNETES_VERSION",value:"${version.replaceAll(".", "\\.")}".*"kind-pipeline-step"`);
  engine.reply({ leaf: "exitCode", where: own }, answer(1)).reply({ leaf: "combinedOutput", where: own }, answer(`smoke failed on ${version}\n`));
  diagnosticsCollect(engine, podList());
}

/** The image builds the SDK awaited (a build's own `sync`, not the loads whose archives come from it). */
const builds = (engine: StandInEngine) => engine.leaves.filter((l) => l.leaf === "sync" && l.call.parent?.field === "dockerBuild");

const outcome = (promise: Promise<string>) => promise.then((summary) => ({ summary, error: undefined as unknown }), (error: unknown) => ({ summary: undefined, error }));

describe("every configured version", () => {
  test("by default: one build, three clusters, in parallel when the engine holds them", async ({ engine }) => {
    const root = await matrix(engine);
    const { summary } = await engine.run(() => outcome(pipelineAt(root).test(undefined, ["jax"])));
    expect(summary).toBeDefined();
    expect(builds(engine)).toHaveLength(1);
    const started = engine.find("asService", { leaf: "start" }).map((l) => /CLUSTER_NAME",value:"([^"]+)"/.exec(l.text)?.[1]);
    expect(started.sort()).toEqual([...CLUSTERS].sort());
    expect(engine.maxConcurrency(STEP, { leaf: "sync" })).toBe(3);
    const versionsRun = engine.find(STEP, { leaf: "sync" }).map((l) => /KUBERNETES_VERSION",value:"([^"]+)"/.exec(l.text)?.[1]);
    expect(versionsRun.sort()).toEqual([...VERSIONS].sort());
  });

  test("the build calls of three versions are those of one", async ({ engine }) => {
    const root = await matrix(engine);
    await engine.run(() => outcome(pipelineAt(root).test(["1.37.0"], ["jax"])));
    const one = builds(engine).map((l) => l.text);
    await engine.run(() => outcome(pipelineAt(root).test(undefined, ["jax"])));
    const all = builds(engine).map((l) => l.text).slice(one.length);
    expect(all).toEqual(one);
  });

  test("one version failing leaves the other two complete in the report", async ({ engine }) => {
    const root = await matrix(engine);
    failsOn(engine, "1.36.4");
    const { error } = await engine.run(() => outcome(pipelineAt(root).test(undefined, ["jax"])));
    const message = (error as Error).message;
    expect(message).toMatch(/^test: 1 of 3 Kubernetes versions failed: 1\.36\.4 \(failed steps: smoke\)\./);
    expect(message).toContain("smoke failed on 1.36.4");
    expect(engine.find(STEP, { leaf: "exitCode" })).toHaveLength(3);
  });

  test("the preflight bounds how many clusters run at once by the engine's memory", async ({ engine }) => {
    const root = await matrix(engine);
    engineWith(engine, { cpus: 8, memoryGiB: 5 });
    await engine.run(() => outcome(pipelineAt(root).test(undefined, ["jax"])));
    expect(engine.find(STEP, { leaf: "sync" })).toHaveLength(3);
    expect(engine.maxConcurrency(STEP, { leaf: "sync" })).toBe(1);
  });

  test("an engine too small for one cluster is refused before any cluster starts", async ({ engine }) => {
    const root = await matrix(engine);
    engineWith(engine, { cpus: 8, memoryGiB: 3 });
    const { error } = await engine.run(() => outcome(pipelineAt(root).test(undefined, ["jax"])));
    expect(error).toBeInstanceOf(PreflightError);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
    engine.expectNever(/"kind","load"/);
  });

  test("--fail-fast starts no further version once one failed; those are reported as not started", async ({ engine }) => {
    const root = await matrix(engine, "cluster: { parallel: 1 }");
    failsOn(engine, "1.37.0");
    const { error } = await engine.run(() => outcome(pipelineAt(root).test(undefined, ["jax"], true)));
    expect(engine.find("", { leaf: "start" })).toHaveLength(1);
    const message = (error as Error).message;
    expect(message).toMatch(/^test: 3 of 3 Kubernetes versions failed/);
    expect(message).toContain("not started: --fail-fast stopped starting versions after Kubernetes 1.37.0 failed");
  });
});
