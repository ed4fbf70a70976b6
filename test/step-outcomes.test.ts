/**
 * How each step and each version ends, as users read it: the status lines the test stage logs, the step
 * reasons in the report (junit.xml, summary.md, the TestFailure message), the exit codes the wrapper
 * moves, the time limits at their boundaries, the reasons dependents are skipped, and how a version
 * that did not get as far as its steps is reported.
 *
 * Durations are exact: the wall clock is frozen (fake Date, real timers) and moves on only when the
 * stand-in engine receives a step's exec, by the time the test says that exec takes (Taking). The one
 * test of the pipeline's own step limit fakes setTimeout too, so its 60 s of grace pass at once. The
 * engine's answers are the engine's side only; every assertion is on what the module made of them.
 */
import { afterEach, describe, expect, vi } from "vitest";
import { ConfigError } from "../ci/src/config.js";
import { inClusterRefs } from "../ci/src/load.js";
import { TestFailure } from "../ci/src/test-run.js";
import type { Call } from "./support/calls.js";
import {
  calls,
  CLUSTER,
  DIAGNOSTICS,
  diagnosticsCollect,
  fileText,
  imagePullBackOffPod,
  liveCluster,
  LOAD,
  passingSteps,
  podList,
  reportFiles,
  runs,
  STEP,
  stepExits,
  escapeRe,
  junitOutcomes,
} from "./support/cluster-replies.js";
import type { StandInEngine } from "./support/engine.js";
import { pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { answer, engineError, execFailure, hang } from "./support/replies.js";
import { Taking } from "./support/taking.js";

const DEPLOY = '"sh","e2e/deploy.sh"';
const SUITE = '"sh","e2e/suite.sh"';
const COLLECT = '"sh","e2e/collect.sh"';
const SMOKE = '"sh","e2e/smoke.sh"';
const E2E_FILES = { "e2e/deploy.sh": "true\n", "e2e/suite.sh": "true\n", "e2e/collect.sh": "true\n", "e2e/smoke.sh": "true\n" };

/** A chain: deploy, suite after it, collect after suite; smoke on its own. */
const CHAIN = `e2e:
  - { name: deploy, needs: [jax], run: [sh, e2e/deploy.sh] }
  - { name: suite, needs: [jax], after: [deploy], run: [sh, e2e/suite.sh], timeout: 2s }
  - { name: collect, needs: [jax], after: [suite], run: [sh, e2e/collect.sh] }
  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh], timeout: 90s }`;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** A project with the jax image and the given config (e2e steps, versions…). */
function project(config: string): string {
  return threeImages({ config, files: E2E_FILES });
}

/** Clusters of the given versions, healthy and holding the jax image after the load. */
async function healthy(engine: StandInEngine, root: string, versions = ["1.37.0"]): Promise<void> {
  const refs = await engine.run(async () => inClusterRefs(await runAt(root, { images: ["jax"] })));
  for (const version of versions) liveCluster(engine, { cluster: `kind-pipeline-${version.replaceAll(".", "-")}`, held: [...refs.values()] });
}

/** Freezes the wall clock (Date only: the engine and the SDK keep their real timers). */
function freezeClock(): void {
  vi.useFakeTimers({ toFake: ["Date"], now: new Date("2026-01-01T00:00:00Z") });
}

/** The step's exec pattern, as the engine sees its chain (the wrapper's args, then the step's command). */
function stepPattern(command: string): RegExp {
  return new RegExp(`${escapeRe(STEP)},"\\d+",${escapeRe(command)}\\]`);
}


/** The step running `command` takes `ms` (on the frozen clock) and answers `reply` for its exec. */
function stepTakes(engine: StandInEngine, command: string, ms: number, reply = answer()): StandInEngine {
  return engine.reply({ leaf: "sync", where: new Taking(stepPattern(command), ms) }, reply);
}

/** The status lines of everything `fn` runs (the module writes them to stderr). */
async function logged<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    const value = await fn();
    return { value, lines: spy.mock.calls.map((args) => args.join(" ")) };
  } finally {
    spy.mockRestore();
  }
}

/** `test`: its summary or what it threw, and the status lines. */
async function runTest(engine: StandInEngine, root: string, kubernetes?: string[], failFast = false) {
  const { value, lines } = await logged(() =>
    engine.run(() => pipelineAt(root).test(kubernetes, ["jax"], failFast)).then(
      (summary) => ({ summary, error: undefined as unknown }),
      (error: unknown) => ({ summary: undefined, error }),
    ),
  );
  return { ...value, lines };
}

/** `test-report`: the report's files, and the status lines. */
async function runReport(engine: StandInEngine, root: string, kubernetes?: string[], failFast = false) {
  const { value: id, lines } = await logged(() => engine.run(async () => (await pipelineAt(root).testReport(kubernetes, ["jax"], failFast)).id()));
  return { files: reportFiles(engine.callOf(id)), lines };
}

/** The status lines of the e2e stage only. */
const e2eLines = (lines: string[]) => lines.filter((l) => l.startsWith("[e2e]"));

describe("the status lines and results of the steps", () => {
  test("each step: started with its limit, then passed or failed in its duration (seconds, one decimal) with the reason; dependents skipped, naming why", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    diagnosticsCollect(engine, podList());
    stepExits(engine, SUITE, 2, "suite failed\n");
    freezeClock();
    stepTakes(engine, DEPLOY, 1234);
    stepTakes(engine, SUITE, 310);
    stepTakes(engine, SMOKE, 70);
    const { error, lines } = await runTest(engine, root);
    expect(error).toBeInstanceOf(TestFailure);
    expect((error as Error).name).toBe("TestFailure");
    expect(e2eLines(lines)).toEqual([
      "[e2e] 1.37.0: deploy started (timeout 600s)",
      "[e2e] 1.37.0: deploy passed in 1.2s",
      "[e2e] 1.37.0: suite started (timeout 2s)",
      "[e2e] 1.37.0: suite failed in 0.3s: exit code 2",
      "[e2e] 1.37.0: collect skipped (after suite, which failed)",
      "[e2e] 1.37.0: smoke started (timeout 90s)",
      "[e2e] 1.37.0: smoke passed in 0.1s",
    ]);
  });

  test("a step after a skipped step is skipped because that one was skipped", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    diagnosticsCollect(engine, podList());
    stepExits(engine, DEPLOY, 1, "deploy failed\n");
    const { files, lines } = await runReport(engine, root);
    expect(junitOutcomes(files)).toEqual({
      deploy: "failure StepFailed: exit code 1",
      suite: "skipped: after deploy, which failed",
      collect: "skipped: after suite, which was skipped",
      smoke: "passed",
    });
    expect(fileText(files, "summary.md")).toContain("- collect: after suite, which was skipped");
    expect(e2eLines(lines)).toContain("[e2e] 1.37.0: collect skipped (after suite, which was skipped)");
  });

  test("a failure once the limit has passed is a time-out (at exactly the limit too); 1 ms before it, exit 124 is a failure", async ({ engine }) => {
    const steps = `e2e:
  - { name: suite, needs: [jax], run: [sh, e2e/suite.sh], timeout: 2s }
  - { name: collect, needs: [jax], after: [suite], run: [sh, e2e/collect.sh] }
  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh], timeout: 1s }`;
    const root = project(steps);
    await healthy(engine, root);
    passingSteps(engine);
    diagnosticsCollect(engine, podList());
    stepExits(engine, SUITE, 124, "waiting for job/suite\n");
    stepExits(engine, SMOKE, 124, "my own timeout\n");
    freezeClock();
    stepTakes(engine, SUITE, 2000);
    stepTakes(engine, SMOKE, 999);
    const { files, lines } = await runReport(engine, root);
    expect(e2eLines(lines)).toEqual([
      "[e2e] 1.37.0: suite started (timeout 2s)",
      "[e2e] 1.37.0: suite timed-out in 2.0s: timed out after 2s (e2e timeout)",
      "[e2e] 1.37.0: collect skipped (after suite, which timed out)",
      "[e2e] 1.37.0: smoke started (timeout 1s)",
      "[e2e] 1.37.0: smoke failed in 1.0s: exit code 124",
    ]);
    expect(junitOutcomes(files)).toEqual({
      suite: "failure TimedOut: timed out after 2s",
      collect: "skipped: after suite, which timed out",
      smoke: "failure StepFailed: exit code 124",
    });
  });

  test("exit codes from the wrapper: 192 and above have 64 subtracted (a signal's 128 and above); 191 and below are as they came; 128 and above name the signal", async ({ engine }) => {
    const steps = `e2e:
  - { name: deploy, needs: [jax], run: [sh, e2e/deploy.sh] }
  - { name: suite, needs: [jax], run: [sh, e2e/suite.sh] }
  - { name: collect, needs: [jax], run: [sh, e2e/collect.sh] }
  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh] }`;
    const root = project(steps);
    await healthy(engine, root);
    diagnosticsCollect(engine, podList());
    stepExits(engine, DEPLOY, 192, "");
    stepExits(engine, SUITE, 191, "");
    stepExits(engine, COLLECT, 255, "");
    stepExits(engine, SMOKE, 127, "sh: e2e/smoke.sh: not found\n");
    const { files, lines } = await runReport(engine, root);
    expect(junitOutcomes(files)).toEqual({
      deploy: "failure StepFailed: exit code 128 (killed by signal 0)",
      suite: "failure StepFailed: exit code 191 (killed by signal 63)",
      collect: "failure StepFailed: exit code 191 (killed by signal 63)",
      smoke: "failure StepFailed: exit code 127",
    });
    expect(fileText(files, "summary.md")).toMatch(/\| deploy \| failed \(exit 128\) [\d.]+s \|\n\| suite \| failed \(exit 191\) [\d.]+s \|\n\| collect \| failed \(exit 191\) [\d.]+s \|\n\| smoke \| failed \(exit 127\) [\d.]+s \|/);
    expect(e2eLines(lines).filter((l) => l.includes(" failed in "))).toEqual([
      expect.stringMatching(/^\[e2e\] 1\.37\.0: deploy failed in \d+\.\ds: exit code 128 \(killed by signal 0\)$/),
      expect.stringMatching(/^\[e2e\] 1\.37\.0: suite failed in \d+\.\ds: exit code 191 \(killed by signal 63\)$/),
      expect.stringMatching(/^\[e2e\] 1\.37\.0: collect failed in \d+\.\ds: exit code 191 \(killed by signal 63\)$/),
      expect.stringMatching(/^\[e2e\] 1\.37\.0: smoke failed in \d+\.\ds: exit code 127$/),
    ]);
  });

  test("a step the engine does not answer within its limit and the grace is timed out by the pipeline, and its dependents are skipped", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    diagnosticsCollect(engine, podList());
    // real time stands still: the 62 s pass on the fake clock the moment the engine receives the exec
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: new Date("2026-01-01T00:00:00Z") });
    stepTakes(engine, SUITE, (2 + 60) * 1000, hang());
    const { files, lines } = await runReport(engine, root);
    expect(e2eLines(lines)).toEqual([
      "[e2e] 1.37.0: deploy started (timeout 600s)",
      "[e2e] 1.37.0: deploy passed in 0.0s",
      "[e2e] 1.37.0: suite started (timeout 2s)",
      "[e2e] 1.37.0: suite timed-out after 62.0s: timed out after 2s (e2e timeout)",
      "[e2e] 1.37.0: collect skipped (after suite, which timed out)",
      "[e2e] 1.37.0: smoke started (timeout 90s)",
      "[e2e] 1.37.0: smoke passed in 0.0s",
    ]);
    expect(junitOutcomes(files)).toEqual({
      deploy: "passed",
      suite: "failure TimedOut: timed out after 1m2s",
      collect: "skipped: after suite, which timed out",
      smoke: "passed",
    });
    expect(fileText(files, "status")).toBe("failed\n");
    expect(fileText(files, "steps/1.37.0/suite.log")).toBe("");
    expect((files.get("artifacts/1.37.0/suite") as Call).text).toBe("directory");
  });

  test("a step the engine could not run fails after its duration with the engine's first line; what an exec error printed is its log", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    diagnosticsCollect(engine, podList());
    freezeClock();
    stepTakes(engine, DEPLOY, 500, engineError('failed to resolve image "python:3.99": not found\nsecond line'));
    stepTakes(engine, SMOKE, 250, execFailure({ exitCode: 139, stdout: "partial output\n", stderr: "Segmentation fault\n" }));
    const { files, lines } = await runReport(engine, root);
    expect(e2eLines(lines)).toEqual([
      "[e2e] 1.37.0: deploy started (timeout 600s)",
      '[e2e] 1.37.0: deploy failed after 0.5s: the engine could not run it: failed to resolve image "python:3.99": not found',
      "[e2e] 1.37.0: suite skipped (after deploy, which failed)",
      "[e2e] 1.37.0: collect skipped (after suite, which was skipped)",
      "[e2e] 1.37.0: smoke started (timeout 90s)",
      expect.stringMatching(/^\[e2e\] 1\.37\.0: smoke failed after 0\.3s: the engine could not run it: process ".*" did not complete successfully: exit code: 139$/),
    ]);
    expect(junitOutcomes(files)).toMatchObject({
      deploy: 'failure StepFailed: the engine could not run it: failed to resolve image "python:3.99": not found',
      smoke: expect.stringMatching(/^failure StepFailed: the engine could not run it: process ".*" did not complete successfully: exit code: 139$/),
    });
    expect(fileText(files, "steps/1.37.0/smoke.log")).toBe("partial output\nSegmentation fault\n");
    expect(fileText(files, "steps/1.37.0/deploy.log")).toBe('failed to resolve image "python:3.99": not found\nsecond line');
  });
});

describe("diagnostics after a failure", () => {
  const one = `e2e:
  - { name: suite, needs: [jax], run: [sh, e2e/suite.sh], timeout: 1s }`;

  for (const [what, exitCode, ms] of [
    ["a failed step", 1, 10],
    ["a timed-out step", 124, 1000],
  ] as const) {
    test(`are collected after ${what} alone`, async ({ engine }) => {
      const root = project(one);
      await healthy(engine, root);
      diagnosticsCollect(engine, podList());
      stepExits(engine, SUITE, exitCode, "");
      freezeClock();
      stepTakes(engine, SUITE, ms);
      const { files, lines } = await runReport(engine, root);
      expect(lines).toContain(`[diagnostics] 1.37.0: collecting from ${CLUSTER}`);
      expect((files.get("diagnostics/1.37.0") as Call).text).toContain(`"sh","/kind-pipeline/scripts/diagnostics.sh","${CLUSTER}","/kind-pipeline/diagnostics"`);
    });
  }

  test("are not collected after a passing run", async ({ engine }) => {
    const root = project(one);
    await healthy(engine, root);
    passingSteps(engine);
    const { files, lines } = await runReport(engine, root);
    expect(lines.filter((l) => l.startsWith("[diagnostics]"))).toEqual([]);
    expect([...files.keys()].filter((p) => p.startsWith("diagnostics/"))).toEqual([]);
    engine.expectNever(DIAGNOSTICS);
  });
});

describe("the versions of a run", () => {
  const SMOKE_ONLY = `e2e:
  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh] }`;
  const versions = (list: string[], extra = "") => `kubernetes: { versions: ${JSON.stringify(list)} }\n${extra}\n${SMOKE_ONLY}`;

  /** The step of one version fails with exit code 1. */
  function failsOn(engine: StandInEngine, version: string): void {
    const own = new RegExp(`KUBERNETES_VERSION",value:"${escapeRe(version)}".*"kind-pipeline-step"`);
    engine.reply({ leaf: "exitCode", where: own }, answer(1)).reply({ leaf: "combinedOutput", where: own }, answer(`smoke failed on ${version}\n`));
    diagnosticsCollect(engine, podList());
  }
  const stepVersions = (engine: StandInEngine) => engine.find(STEP, { leaf: "sync" }).map((l) => /KUBERNETES_VERSION",value:"([^"]+)"/.exec(l.text)?.[1]);

  test("one version: no line about versions at once; the last line counts the versions that passed", async ({ engine }) => {
    const root = project(SMOKE_ONLY);
    await healthy(engine, root);
    passingSteps(engine);
    const { summary, lines } = await runTest(engine, root);
    expect(summary).toBeDefined();
    expect(lines.filter((l) => l.startsWith("[test]"))).toEqual(["[test] passed: 1 of 1 versions passed"]);
  });

  test("several versions: how many run at once, and how many of them passed", async ({ engine }) => {
    const root = project(versions(["1.37.0", "1.36.4"]));
    await healthy(engine, root, ["1.37.0", "1.36.4"]);
    passingSteps(engine);
    failsOn(engine, "1.36.4");
    const { error, lines } = await runTest(engine, root);
    expect(error).toBeInstanceOf(TestFailure);
    expect(lines.filter((l) => l.startsWith("[test]"))).toEqual(["[test] 2 Kubernetes versions, 2 at a time", "[test] failed: 1 of 2 versions passed"]);
  });

  test("without --fail-fast, a failed version does not stop the next from starting, one at a time", async ({ engine }) => {
    const root = project(versions(["1.37.0", "1.36.4"], "cluster: { parallel: 1 }"));
    await healthy(engine, root, ["1.37.0", "1.36.4"]);
    passingSteps(engine);
    failsOn(engine, "1.37.0");
    const { error, lines } = await runTest(engine, root);
    expect((error as Error).message).toMatch(/^test: 1 of 2 Kubernetes versions failed: 1\.37\.0 \(failed steps: smoke\)\./);
    expect(stepVersions(engine)).toEqual(["1.37.0", "1.36.4"]);
    expect(lines.filter((l) => l.startsWith("[test]"))).toEqual(["[test] 2 Kubernetes versions, 1 at a time", "[test] failed: 1 of 2 versions passed"]);
  });

  test("with --fail-fast, passing versions do not stop the next", async ({ engine }) => {
    const root = project(versions(["1.37.0", "1.36.4"], "cluster: { parallel: 1 }"));
    await healthy(engine, root, ["1.37.0", "1.36.4"]);
    passingSteps(engine);
    const { summary, lines } = await runTest(engine, root, undefined, true);
    expect(summary).toBeDefined();
    expect(stepVersions(engine)).toEqual(["1.37.0", "1.36.4"]);
    expect(lines).toContain("[test] passed: 2 of 2 versions passed");
  });

  test("with --fail-fast, a version not started after a failure is logged, and reported as a cluster stage that did not run its steps", async ({ engine }) => {
    const root = project(versions(["1.37.0", "1.36.4"], "cluster: { parallel: 1 }"));
    await healthy(engine, root, ["1.37.0", "1.36.4"]);
    passingSteps(engine);
    failsOn(engine, "1.37.0");
    const { files, lines } = await runReport(engine, root, undefined, true);
    expect(stepVersions(engine)).toEqual(["1.37.0"]);
    expect(lines).toContain("[test] 1.36.4: not started (--fail-fast, after 1.37.0 failed)");
    expect(lines).toContain("[test] failed: 0 of 2 versions passed");
    expect(junitOutcomes(files, "kubernetes-1.36.4")).toEqual({ cluster: "error ClusterFailed", smoke: "skipped: not run: the cluster stage failed" });
    expect(fileText(files, "summary.md")).toContain("### The cluster stage failed\n\n```text\nnot started: --fail-fast stopped starting versions after Kubernetes 1.37.0 failed\n```");
  });

  test("a version kind publishes no node image for gets one built with the run's tools, then runs its steps", async ({ engine }) => {
    const root = project(versions(["1.38.0"]));
    await healthy(engine, root, ["1.38.0"]);
    passingSteps(engine);
    const { summary, error, lines } = await runTest(engine, root);
    expect(error).toBeUndefined();
    expect(summary).toMatch(/^# kind-pipeline test: passed\n/);
    expect(lines).toContain("[cluster] 1.38.0: building the node image kind-pipeline/node:v1.38.0 (kind publishes none)");
    expect(stepVersions(engine)).toEqual(["1.38.0"]);
  });
});

describe("a version that did not reach its steps", () => {
  test("a cluster error without diagnostics: the cluster stage is logged and reported, every step skipped, no diagnostics and no signatures", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    engine.reply({ leaf: "sync", where: runs("cluster-conflicts.sh") }, engineError("connection reset by peer"));
    const { error, lines } = await runTest(engine, root);
    expect(error).toBeInstanceOf(TestFailure);
    const text = (error as Error).message;
    expect(text).toMatch(/^test: 1 of 1 Kubernetes versions failed: 1\.37\.0 \(the cluster stage failed\)\./);
    expect(text).toContain("    | cluster: checking for other runs of Kubernetes 1.37.0 (kind-pipeline-1-37-0) failed: connection reset by peer");
    expect(text).toContain("  skipped deploy, suite, collect, smoke: not run: the cluster stage failed");
    expect(text).not.toContain("failure signatures");
    expect(lines).toContain("[test] 1.37.0: the cluster stage failed: cluster: checking for other runs of Kubernetes 1.37.0 (kind-pipeline-1-37-0) failed: connection reset by peer");

    const { files } = await runReport(engine, root);
    expect(junitOutcomes(files)).toEqual({
      cluster: "error ClusterFailed",
      deploy: "skipped: not run: the cluster stage failed",
      suite: "skipped: not run: the cluster stage failed",
      collect: "skipped: not run: the cluster stage failed",
      smoke: "skipped: not run: the cluster stage failed",
    });
    expect([...files.keys()].filter((p) => p.startsWith("diagnostics/") || p.startsWith("steps/") || p.startsWith("artifacts/"))).toEqual([]);
    expect(fileText(files, "summary.md")).not.toContain("Failure signatures");
    engine.expectNever(STEP);
  });

  test("a cluster that did not start leaves what its error collected as cluster.txt, its sections a blank line apart", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    engine
      .reply({ leaf: "start" }, execFailure({ cmd: ["sh", "/kind-pipeline/scripts/kind-cluster.sh"], exitCode: 1, stderr: "ERROR: failed to create cluster\n" }))
      .reply({ leaf: "combinedOutput", where: "cluster-state.sh" }, answer("status: failed: kind create cluster failed (attempt 1)\n"));
    const { files, lines } = await runReport(engine, root);
    expect(lines).toContainEqual(expect.stringMatching(/^\[test\] 1\.37\.0: the cluster stage failed: cluster: the Kind cluster service for Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) did not start$/));
    const written = calls(files.get("diagnostics/1.37.0") as Call, "withNewFile").map((c) => c.args);
    expect(written).toHaveLength(1);
    expect(written[0]!.path).toBe("cluster.txt");
    expect(written[0]!.contents).toMatch(/^ {2}command: sh \/kind-pipeline\/scripts\/kind-cluster\.sh \(exit code 1\)\n[\s\S]*ERROR: failed to create cluster\n\nthe cluster service's state:\n {2}\| status: failed: kind create cluster failed \(attempt 1\)\n$/);
    engine.expectNever(STEP);
  });

  test("a failed load is logged, and the signatures its diagnostics found are reported", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    diagnosticsCollect(engine, podList(imagePullBackOffPod("jax-smoke-7xk2p", "ghcr.io/example/jax:typo")));
    engine.reply({ leaf: "sync", where: LOAD }, execFailure({ exitCode: 1, stderr: "ctr: failed to ingest: no space left on device\n" }));
    const { error, lines } = await runTest(engine, root);
    expect(error).toBeInstanceOf(TestFailure);
    const text = (error as Error).message;
    expect(text).toMatch(/^test: 1 of 1 Kubernetes versions failed: 1\.37\.0 \(the load stage failed\)\./);
    expect(text).toContain('  failure signatures:\n    default/jax-smoke-7xk2p: ImagePullBackOff: image ghcr.io/example/jax:typo of container "train" was not loaded into the cluster');
    expect(lines).toContain("[test] 1.37.0: the load stage failed: load: 1 of 1 images did not load into kind-pipeline-1-37-0 (Kubernetes 1.37.0): jax");
    expect(lines).toContain(`[diagnostics] 1.37.0: collecting from ${CLUSTER}`);
  });

  test("a cluster that does not stop is logged; the run's result stands", async ({ engine }) => {
    const root = project(CHAIN);
    await healthy(engine, root);
    passingSteps(engine);
    engine.reply({ leaf: "stop" }, engineError("service kind-pipeline-1-37-0 is not running"));
    const { summary, lines } = await runTest(engine, root);
    expect(summary).toMatch(/^# kind-pipeline test: passed\n/);
    expect(lines).toContain(`[cluster] 1.37.0: stopping ${CLUSTER} failed: service kind-pipeline-1-37-0 is not running`);
  });
});

describe("before any cluster", () => {
  test("a step secret not passed names the step secrets to pass, and the call that passes them", async ({ engine }) => {
    const root = project(`e2e:
  - { name: suite, needs: [jax], run: [sh, e2e/suite.sh], secrets: { API_TOKEN: "env://API_TOKEN" } }`);
    const { error } = await runTest(engine, root);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("Pass the step secrets as Dagger secrets: dagger call --secrets=env://API_TOKEN test");
    engine.expectNever("dockerBuild");
  });

  test("the report of a failed build lists no images: none was built", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: /images\/jax"\)\.dockerBuild/ }, execFailure({ exitCode: 1, stderr: "ModuleNotFoundError: No module named 'jax'\n" }));
    const { files } = await runReport(engine, project(CHAIN));
    const summary = fileText(files, "summary.md");
    expect(summary).toMatch(/^# kind-pipeline test: failed\n\n1 of 1 Kubernetes version failed: 1\.37\.0\. Steps: 4 skipped\.\n\n\| step \| 1\.37\.0 \|/);
    expect(summary).not.toContain("Images:");
  });
});
