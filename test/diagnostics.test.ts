/**
 * collectDiagnostics on the stand-in engine, given a live cluster: which log files it reads into the failure
 * signatures (the current run of each container, never `.previous.log`), and what the report holds when
 * collecting fails or runs out of time (a note, never a thrown error). The test stage's own tests cover when
 * it is called (only while the service is live).
 */
import { describe, expect } from "vitest";
import { collectDiagnostics, type Diagnostics } from "../ci/src/diagnostics.js";
import type { Call } from "./support/calls.js";
import { DIAGNOSTICS, diagnosticsCollect, givenLiveCluster, podList } from "./support/cluster-replies.js";
import type { StandInEngine } from "./support/engine.js";
import { engineTest as test } from "./support/harness.js";
import { answer, engineError, hang } from "./support/replies.js";

/** A pod whose container `app` keeps crashing. */
const crashing = {
  metadata: { namespace: "e2e", name: "trainer-0" },
  spec: { containers: [{ name: "app", image: "docker.io/library/jax:e2e" }] },
  status: {
    containerStatuses: [
      {
        name: "app",
        restartCount: 3,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: { terminated: { reason: "Error", exitCode: 1 } },
      },
    ],
  },
};

/** The text of the note a Directory holds instead of the diagnostics. */
async function noteOf(engine: StandInEngine, diagnostics: Diagnostics): Promise<string> {
  const call: Call = engine.callOf(await diagnostics.directory.id());
  expect(call.field).toBe("withNewFile");
  expect(call.args.path).toBe("NOT-COLLECTED.txt");
  return call.args.contents as string;
}

describe("collectDiagnostics", () => {
  test("a container's signature quotes the last lines of its current log, read from logs/<namespace>_<pod>_<container>.log; the previous run's log is not read", async ({ engine }) => {
    diagnosticsCollect(engine, podList(crashing), {
      "e2e_trainer-0_app.log": "loading model\nValueError: no GPU\n",
      "e2e_trainer-0_app.previous.log": "the run before\n",
      "README": "not a log\n",
    });
    const diagnostics = await engine.run(() => collectDiagnostics(givenLiveCluster(), new Map([["jax", "jax:e2e"]])));
    expect(diagnostics.signatures).toEqual([
      {
        namespace: "e2e",
        pod: "trainer-0",
        reason: "CrashLoopBackOff",
        summary: 'container "app" keeps crashing (restarted 3 times): it last exited with code 1 (Error)',
        details: ["last 2 log lines of app:", "| loading model", "| ValueError: no GPU"],
      },
    ]);
    const read = engine.find(DIAGNOSTICS, { leaf: "contents" }).map((l) => l.call.nearest("file")!.args.path);
    expect(read.sort()).toEqual(["logs/e2e_trainer-0_app.log", "pods.json"]);
  });

  test("when collecting fails, the report holds a note naming the cluster and the first line of the error, and there are no signatures", async ({ engine }) => {
    engine
      .reply({ leaf: "contents", where: /\.file\(path:"pods\.json"\)\.contents$/ }, engineError("kubectl: connection refused\nmore detail"))
      .reply({ leaf: "entries" }, answer([]));
    const diagnostics = await engine.run(async () => {
      const found = await collectDiagnostics(givenLiveCluster(), new Map());
      return { ...found, note: await noteOf(engine, found) };
    });
    expect(diagnostics.signatures).toEqual([]);
    expect(diagnostics.note).toMatch(/^Collecting diagnostics of kind-pipeline-1-37-0 failed: .*kubectl: connection refused\n$/);
    expect(diagnostics.note).not.toContain("more detail");
  });

  test("a collection that never finishes ends at the limit, in seconds, with a note saying so", async ({ engine }) => {
    engine.reply({ leaf: "contents" }, hang()).reply({ leaf: "entries" }, answer([]));
    const started = Date.now();
    const diagnostics = await engine.run(async () => {
      const found = await collectDiagnostics(givenLiveCluster(), new Map(), 0.3);
      return { ...found, note: await noteOf(engine, found) };
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(diagnostics.note).toBe("Collecting diagnostics of kind-pipeline-1-37-0 failed: collecting did not finish within 0.3s\n");
  });

  test("a service that is no longer live is not bound: the note says why nothing was collected", async ({ engine }) => {
    const diagnostics = await engine.run(async () => {
      const found = await collectDiagnostics(givenLiveCluster({ isLive: false }), new Map());
      return { ...found, note: await noteOf(engine, found) };
    });
    engine.expectNever(DIAGNOSTICS);
    expect(diagnostics.signatures).toEqual([]);
    expect(diagnostics.note).toBe(
      "The cluster service of kind-pipeline-1-37-0 was no longer running, so nothing was collected (collecting would have started a new, empty cluster).\n",
    );
  });
});
