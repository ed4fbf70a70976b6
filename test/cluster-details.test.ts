/**
 * The cluster stage's details as users read them: the exact error messages and advice of every failure
 * on the way (the engine's own failures included), the `[cluster]` status lines, the sections of the
 * readiness diagnostics and the commands behind them, the canonical definition of the service (its id
 * does not depend on the order of keys), and the container that saves a published node image.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { parse } from "yaml";
import { ClusterError } from "../ci/src/cluster-error.js";
import { definitionId, definitionInputs, hostKubeconfig, startCluster, type Patience } from "../ci/src/cluster.js";
import { nodeImageFor } from "../ci/src/node-images.js";
import type { PlannedCluster, Selection } from "../ci/src/plan.js";
import { toolbox } from "../ci/src/tools.js";
import type { Call, EnumValue } from "./support/calls.js";
import { calls, envOf, runs, STATUS } from "./support/cluster-replies.js";
import type { StandInEngine } from "./support/engine.js";
import { pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { REPO_ROOT } from "./support/projects.js";
import { answer, engineError, execFailure, hang } from "./support/replies.js";

const QUICK: Patience = { startSeconds: 0.3, attempts: 3, intervalMs: 0, readySeconds: 5, observationSeconds: 1, readyMarginSeconds: 1 };
const AT = "Kubernetes 1.37.0 (kind-pipeline-1-37-0)";
const ENGINE_FAILING = "This is the engine failing, not the cluster: retry, and report it if it persists.";
const LIST_NODES = '"kubectl","get","nodes","-o","name","--request-timeout=10s"';
const WAIT = '"kubectl","wait"';
const CONFLICTS = runs("cluster-conflicts.sh");
const STATE = runs("cluster-state.sh");
const READ = runs("read-kubeconfig.sh");
const NODES_WIDE = '"kubectl","get","nodes","-o","wide"';
const DOCKER_PS = '"docker","ps","-a"';
const DOCKER_LOGS = '"docker","logs"';
const nodeList = (cluster: string) => `node/${cluster}-control-plane\nnode/${cluster}-worker\n`;

/** A linux/amd64 engine whose services start and stop, whose status reads say ready and whose two nodes are listed. */
function amd64(engine: StandInEngine, cluster = "kind-pipeline-1-37-0"): StandInEngine {
  return engine
    .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
    .reply({ leaf: "start" }, answer())
    .reply({ leaf: "stop" }, answer())
    .reply({ leaf: "stdout", where: LIST_NODES }, answer(nodeList(cluster)));
}

/** The cluster stage with test patience: what it threw (if anything), the status lines it wrote, the definition id. */
async function startWith(engine: StandInEngine, selection: Selection = {}, patience = QUICK): Promise<{ error: unknown; lines: string[]; definition: string }> {
  const lines: string[] = [];
  return engine.run(async () => {
    const run = await runAt(threeImages(), selection, lines);
    const tools = await toolbox(run.plan.kind);
    const cluster = run.plan.clusters[0]!;
    const error = await startCluster(run, cluster, tools, await nodeImageFor(cluster.nodeImage, async () => tools), patience).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error, lines, definition: definitionId(cluster, run.plan.kind) };
  });
}

/** The lines of a ClusterError's message (fails the test for anything else). */
function messageLines(error: unknown): string[] {
  expect(error).toBeInstanceOf(ClusterError);
  return (error as Error).message.split("\n");
}

/** The exec a recorded leaf ran last: its args and, when set, what exit codes it accepts. */
const lastExec = (call: Call) => {
  const { args, expect: accepted } = calls(call, "withExec").at(-1)!.args;
  return accepted === undefined ? { args } : { args, expect: (accepted as EnumValue).name };
};

describe("status lines", () => {
  test("a built node image, the start with its definition, and the ready cluster with its node count and seconds", async ({ engine }) => {
    // the service creates the cluster for one status read, and kubectl wait takes 1.6 s (simulated): ready 2 s after the stage began
    amd64(engine, "kind-pipeline-1-38-0")
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 3, stdout: "status: creating\n" }), { times: 1 })
      .reply({ leaf: "sync", where: WAIT }, answer(), { delayMs: 1600 });
    const { error, lines, definition } = await startWith(engine, { kubernetes: ["1.38.0"] });
    expect(error).toBeUndefined();
    expect(engine.find(STATUS, { leaf: "sync" }).map((l) => l.outcome)).toEqual(["exec-error", "answer"]);
    expect(lines).toEqual([
      "[cluster] 1.38.0: building the node image kind-pipeline/node:v1.38.0 (kind publishes none)",
      `[cluster] 1.38.0: starting kind-pipeline-1-38-0 from kind-pipeline/node:v1.38.0 (definition ${definition})`,
      "[cluster] 1.38.0: kind-pipeline-1-38-0 is ready, 2 nodes (2s)",
    ]);
  });
});

describe("failures before the cluster runs", () => {
  test("a node image that cannot be built: the command, its output and where kind downloads from", async ({ engine }) => {
    amd64(engine).reply(
      { leaf: "sync", where: /\.file\(path:"\/out\/node-image\.tar"\)\.sync$/ },
      execFailure({ exitCode: 1, stderr: "ERROR: failed to download kubernetes-server-linux-amd64.tar.gz: 404 Not Found\n" }),
    );
    const { error } = await startWith(engine, { kubernetes: ["1.38.0"] });
    expect(messageLines(error)).toEqual([
      "cluster: the node image for Kubernetes 1.38.0 (kind-pipeline-1-38-0) could not be built",
      "",
      "  command: sh /kind-pipeline/scripts/build-node-image.sh v1.38.0 kind-pipeline/node:v1.38.0 /out/node-image.tar (exit code 1)",
      "  last 1 lines of stderr:",
      "    | ERROR: failed to download kubernetes-server-linux-amd64.tar.gz: 404 Not Found",
      "",
      "kind build node-image downloads the release from dl.k8s.io: check the engine's network, or choose a version kind publishes.",
    ]);
  });

  test("a check for other runs that fails otherwise than with exit code 5 is the engine failing, and nothing starts", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: CONFLICTS }, execFailure({ exitCode: 1, stdout: "this definition runs in another Dagger session\n" }));
    const { error, definition } = await startWith(engine);
    expect(messageLines(error)).toEqual([
      `cluster: checking for other runs of ${AT} failed: process "sh /kind-pipeline/scripts/cluster-conflicts.sh /kind-pipeline/state ${definition}" did not complete successfully: exit code: 1`,
      "",
      ENGINE_FAILING,
    ]);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
  });

  test("a check for other runs that never answers fails within the observation limit, naming the check", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: CONFLICTS }, hang());
    const { error } = await startWith(engine);
    expect(messageLines(error)).toEqual([`cluster: checking for other runs of ${AT} failed: the check for other runs of ${AT} did not answer within 1s`, "", ENGINE_FAILING]);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
  });

  test("a service that exits at once: its command and output, its state, and the lock it may have waited for", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "start" }, execFailure({ cmd: ["sh", "/kind-pipeline/scripts/kind-cluster.sh"], exitCode: 1, stderr: "ERROR: failed to create cluster\n[cluster] FAILED: kind create cluster failed (attempt 1)\n" }))
      .reply({ leaf: "combinedOutput", where: STATE }, answer("status: failed: kind create cluster failed (attempt 1)\n"));
    const { error, definition } = await startWith(engine);
    expect(messageLines(error)).toEqual([
      `cluster: the Kind cluster service for ${AT} did not start`,
      "",
      "  command: sh /kind-pipeline/scripts/kind-cluster.sh (exit code 1)",
      "  last 2 lines of stderr:",
      "    | ERROR: failed to create cluster",
      "    | [cluster] FAILED: kind create cluster failed (attempt 1)",
      "",
      "the cluster service's state:",
      "  | status: failed: kind create cluster failed (attempt 1)",
      "",
      `If it waited, another run of this definition may hold its Locked docker cache (kind-pipeline-docker-kind-pipeline-1-37-0-${definition}) and keeps it until its session ends: give concurrent runs their own cluster.name.`,
    ]);
  });
});

describe("the service's status while it is waited for", () => {
  test("a status read that fails otherwise than with exit code 3 or 4 is the engine failing, with the engine's message", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 2, stdout: "status: creating\n", stderr: "sh: syntax error\n" }));
    const { error, definition } = await startWith(engine);
    expect(messageLines(error)).toEqual([
      `cluster: reading the status of ${AT} failed: process "sh /kind-pipeline/scripts/cluster-status.sh /kind-pipeline/state/${definition}" did not complete successfully: exit code: 2`,
      "",
      ENGINE_FAILING,
    ]);
    expect(engine.find(STATUS, { leaf: "sync" })).toHaveLength(1);
  });

  test("a service that stopped says so, with its state and where its own log is", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 4, stdout: "status: stopped\n" }))
      .reply({ leaf: "combinedOutput", where: STATE }, answer("status: stopped\n"));
    const { error } = await startWith(engine);
    expect(messageLines(error)).toEqual([
      `cluster: ${AT} stopped before it was ready`,
      "",
      "the cluster service's state:",
      "  | status: stopped",
      "",
      "kind's output above says why; the service's own log shows with `dagger call cluster up --progress=plain`.",
    ]);
  });
});

describe("the node listing while polling", () => {
  test("a kubectl get nodes that keeps failing is asked again each attempt, and the timeout says what it answered", async ({ engine }) => {
    // each listing takes 0.55 s (simulated): the three attempts last 2 s
    amd64(engine)
      .reply({ leaf: "stdout", where: LIST_NODES }, execFailure({ exitCode: 1, stderr: "The connection to the server kind-pipeline-1-37-0:6443 was refused\n" }), { delayMs: 550 })
      .reply({ leaf: "combinedOutput" }, answer("diagnostic output\n"));
    const { error } = await startWith(engine);
    expect(messageLines(error)[0]).toBe(
      `cluster: ${AT} is not ready: not every node was up after 2s (command: kubectl get nodes -o name --request-timeout=10s (exit code 1) last 1 lines of stderr:   | The connection to the server kind-pipeline-1-37-0:6443 was refused)`,
    );
    expect(engine.find(LIST_NODES, { leaf: "stdout" }).map((l) => l.outcome)).toEqual(["exec-error", "exec-error", "exec-error"]);
  });

  test("a listing the engine fails (not the command) fails at once with the service's state", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "stdout", where: LIST_NODES }, engineError("failed to resolve service kind-pipeline-1-37-0: connection lost"))
      .reply({ leaf: "combinedOutput", where: STATE }, answer("status: ready\n"));
    const { error } = await startWith(engine);
    expect(messageLines(error)).toEqual([
      `cluster: listing the nodes of ${AT} failed: failed to resolve service kind-pipeline-1-37-0: connection lost`,
      "",
      "the cluster service's state:",
      "  | status: ready",
      "",
      ENGINE_FAILING,
    ]);
    expect(engine.find(LIST_NODES, { leaf: "stdout" })).toHaveLength(1);
  });

  test("a listing that never answers fails within the observation limit, naming it", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "stdout", where: LIST_NODES }, hang())
      .reply({ leaf: "combinedOutput", where: STATE }, answer("status: ready\n"));
    const { error } = await startWith(engine);
    expect(messageLines(error)[0]).toBe(`cluster: listing the nodes of ${AT} failed: kubectl get nodes on ${AT} did not answer within 1s`);
  });
});

describe("the readiness diagnostics", () => {
  test("each section titled, its lines prefixed, empty output and a command that could not run said as such", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: WAIT }, execFailure({ exitCode: 1, stderr: "error: timed out waiting for the condition on nodes/kind-pipeline-1-37-0-worker\n" }))
      .reply({ leaf: "combinedOutput", where: STATE }, answer("status: ready\n\ndockerd (last 40 lines):\nlevel=info msg=\"API listen on [::]:2375\"\n"))
      .reply({ leaf: "combinedOutput", where: NODES_WIDE }, answer(""))
      .reply({ leaf: "combinedOutput", where: DOCKER_PS }, hang())
      .reply({ leaf: "combinedOutput", where: DOCKER_LOGS }, engineError("container kind-pipeline-1-37-0-control-plane: no such container"));
    const { error } = await startWith(engine);
    expect(messageLines(error)).toEqual([
      `cluster: ${AT} is not ready: its nodes were not all Ready within 5s:`,
      "  command: kubectl wait --for=condition=Ready nodes --all --timeout=5s (exit code 1)",
      "  last 1 lines of stderr:",
      "    | error: timed out waiting for the condition on nodes/kind-pipeline-1-37-0-worker",
      "",
      "the cluster service's state:",
      "  | status: ready",
      "  | ",
      "  | dockerd (last 40 lines):",
      '  | level=info msg="API listen on [::]:2375"',
      "",
      "kubectl get nodes -o wide:",
      "  (no output)",
      "",
      "docker ps -a (the Docker-in-Docker daemon):",
      "  | (could not run docker ps -a: docker ps -a did not answer within 1s)",
      "",
      "kind-pipeline-1-37-0-control-plane log (last 40 lines):",
      "  | (could not run docker logs --tail 40 kind-pipeline-1-37-0-control-plane: container kind-pipeline-1-37-0-control-plane: no such container)",
      "",
      "A node that never gets Ready is often short of memory or disk in the engine: try fewer workers (cluster.workers).",
    ]);
  });

  test("the commands behind them accept any exit code; the nodes are listed wide through the kubeconfig, with a request timeout", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: WAIT }, execFailure({ exitCode: 1, stderr: "timed out\n" }))
      .reply({ leaf: "combinedOutput" }, answer("diagnostic output\n"));
    const { definition } = await startWith(engine);
    // run at once: in the order of their commands
    const observations = engine.find("", { leaf: "combinedOutput" }).map((l) => l.call.parent!);
    const byCommand = (c: Call) => (lastExec(c).args as string[]).join(" ");
    observations.sort((a, b) => (byCommand(a) < byCommand(b) ? -1 : 1));
    expect(observations.map(lastExec)).toEqual([
      { args: ["docker", "logs", "--tail", "40", "kind-pipeline-1-37-0-control-plane"], expect: "ANY" },
      { args: ["docker", "ps", "-a"], expect: "ANY" },
      { args: ["kubectl", "get", "nodes", "-o", "wide", "--request-timeout=10s"], expect: "ANY" },
      { args: ["sh", "/kind-pipeline/scripts/cluster-state.sh", `/kind-pipeline/state/${definition}`], expect: "ANY" },
    ]);
    const wide = observations[2]!;
    expect(calls(wide, "withExec").map((c) => (c.args.args as string[]).join(" "))).toEqual([
      "kind export kubeconfig --name kind-pipeline-1-37-0 --kubeconfig /kind-pipeline/kubeconfig",
      "kubectl config set-cluster kind-kind-pipeline-1-37-0 --server=https://kind-pipeline-1-37-0:6443",
      "kubectl get nodes -o wide --request-timeout=10s",
    ]);
  });
});

describe("kubeconfig for the host", () => {
  const hostKubeconfigOf = (engine: StandInEngine) =>
    engine.run(async () => {
      const run = await runAt(threeImages(), {});
      const cluster = run.plan.clusters[0]!;
      const error = await hostKubeconfig(cluster, await toolbox(run.plan.kind), run.plan.kind, QUICK).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { error, definition: definitionId(cluster, run.plan.kind) };
    });
  const onHost = (engine: StandInEngine) => engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));

  test("a read the engine fails (not the script) fails at once as the engine failing", async ({ engine }) => {
    onHost(engine).reply({ leaf: "sync", where: READ }, engineError("failed to mount cache volume kind-pipeline-state-kind-pipeline-1-37-0"));
    const { error } = await hostKubeconfigOf(engine);
    expect(messageLines(error)).toEqual([`cluster: reading the kubeconfig of ${AT} failed: failed to mount cache volume kind-pipeline-state-kind-pipeline-1-37-0`, "", ENGINE_FAILING]);
    expect(engine.find(READ, { leaf: "sync" })).toHaveLength(1);
  });

  test("a read that never answers fails within the observation limit, naming it", async ({ engine }) => {
    onHost(engine).reply({ leaf: "sync", where: READ }, hang());
    const { error } = await hostKubeconfigOf(engine);
    expect(messageLines(error)).toEqual([`cluster: reading the kubeconfig of ${AT} failed: reading the kubeconfig of ${AT} did not answer within 1s`, "", ENGINE_FAILING]);
  });

  test("a copy that fails: the command and its output, as the engine failing", async ({ engine }) => {
    onHost(engine).reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 1, stderr: "error: open /kind-pipeline/kubeconfig: read-only file system\n" }));
    const { error, definition } = await hostKubeconfigOf(engine);
    expect(messageLines(error)).toEqual([
      `cluster: the kubeconfig of ${AT} could not be copied`,
      "",
      `  command: sh /kind-pipeline/scripts/read-kubeconfig.sh /kind-pipeline/state/${definition} kind-pipeline-1-37-0 https://localhost:6443 /kind-pipeline/kubeconfig (exit code 1)`,
      "  last 1 lines of stderr:",
      "    | error: open /kind-pipeline/kubeconfig: read-only file system",
      "",
      ENGINE_FAILING,
    ]);
  });

  test("a cluster that stays in creation: where to watch what it waits for", async ({ engine }) => {
    onHost(engine).reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 3, stderr: "status: creating\n" }));
    const { error } = await hostKubeconfigOf(engine);
    expect(messageLines(error)).toEqual([
      expect.stringMatching(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) was not ready after \d+s \(status: creating\)$/),
      "",
      "Watch the service started by `dagger call cluster --kubernetes=1.37.0 up --ports 6443:6443`; its output says what it is waiting for.",
    ]);
  });

  test("no other run is named when the check for them fails otherwise than with exit code 5", async ({ engine }) => {
    onHost(engine)
      .reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 4, stderr: "status: stopped\n" }))
      .reply({ leaf: "sync", where: CONFLICTS }, execFailure({ exitCode: 1, stdout: "another definition (0b1c2d3e4f5a) of this cluster runs (ready)\n" }));
    const { error, definition } = await hostKubeconfigOf(engine);
    expect(messageLines(error)).toEqual([
      `cluster: no running cluster publishes a kubeconfig for ${AT} (definition ${definition})`,
      "",
      "the cluster service's state:",
      "  | status: stopped",
      "",
      "Start one first, in another terminal, and keep it running: dagger call cluster --kubernetes=1.37.0 up --ports 6443:6443",
    ]);
    expect(engine.find(CONFLICTS, { leaf: "sync" })).toHaveLength(1);
  });
});

describe("the service's definition", () => {
  /** The config's node labels in the order given, on `workers` workers. */
  const labelled = (labels: [string, string][], workers = 1) =>
    threeImages({ config: `cluster:\n  workers: ${workers}\n  nodeLabels:\n${labels.map(([k, v]) => `    ${k}: ${v}\n`).join("")}` });
  const plannedAt = async (root: string) => {
    const run = await runAt(root, {});
    return { cluster: run.plan.clusters[0]!, kind: run.plan.kind };
  };
  const LABELS: [string, string][] = [
    ["c.example.com/tier", "gpu"],
    ["a.example.com/pool", "e2e"],
    ["d.example.com/zone", "z1"],
    ["b.example.com/team", "ml"],
  ];
  const SORTED = ["a.example.com/pool", "b.example.com/team", "c.example.com/tier", "d.example.com/zone"];

  test("the kind config puts the node labels in key order, whatever the config's order; every order is one definition", async ({ engine }) => {
    const orders = [LABELS, [...LABELS].reverse(), [LABELS[3]!, LABELS[1]!, LABELS[2]!, LABELS[0]!], [LABELS[1]!, LABELS[0]!, LABELS[3]!, LABELS[2]!]];
    const seen = await engine.run(async () => {
      const results = [];
      for (const order of orders) {
        for (const workers of [0, 1]) {
          const { cluster, kind } = await plannedAt(labelled(order, workers));
          const config = parse((definitionInputs(cluster, kind) as { kindConfig: string }).kindConfig) as { nodes: { labels?: Record<string, string> }[] };
          results.push({ workers, keys: config.nodes.map((n) => Object.keys(n.labels ?? {})), id: definitionId(cluster, kind) });
        }
      }
      return results;
    });
    expect(seen.filter((s) => s.workers === 0).map((s) => s.keys)).toEqual(orders.map(() => [SORTED]));
    expect(seen.filter((s) => s.workers === 1).map((s) => s.keys)).toEqual(orders.map(() => [[], SORTED]));
    expect(new Set(seen.filter((s) => s.workers === 0).map((s) => s.id)).size).toBe(1);
    expect(new Set(seen.filter((s) => s.workers === 1).map((s) => s.id)).size).toBe(1);
  });

  test("without node labels, no node gets a labels key", async ({ engine }) => {
    const configs = await engine.run(async () => {
      const found = [];
      for (const workers of [0, 2]) {
        const { cluster, kind } = await plannedAt(threeImages({ config: `cluster: { workers: ${workers} }` }));
        found.push(parse((definitionInputs(cluster, kind) as { kindConfig: string }).kindConfig).nodes);
      }
      return found;
    });
    expect(configs).toEqual([[{ role: "control-plane" }], [{ role: "control-plane" }, { role: "worker" }, { role: "worker" }]]);
  });

  test("the definition id is the sha256 of the inputs as JSON with every object's keys sorted, arrays kept in order", async ({ engine }) => {
    /** JSON.stringify of a copy whose objects, at any depth, have their keys in sorted order. */
    const sortedJson = (value: unknown): string =>
      JSON.stringify(value, (_, v: unknown) =>
        v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
      );
    const planned = await engine.run(async () => [await plannedAt(labelled(LABELS)), await plannedAt(threeImages({ config: 'kubernetes: { versions: ["1.38.0"] }' }))]);
    for (const { cluster, kind } of planned) {
      const inputs = definitionInputs(cluster, kind);
      expect(JSON.stringify(inputs)).not.toBe(sortedJson(inputs)); // the inputs' own key order is not the sorted one
      expect(definitionId(cluster, kind)).toBe(createHash("sha256").update(sortedJson(inputs)).digest("hex").slice(0, 12));
    }
  });

  test("the node image and node labels with their keys in another order are the same definition", async ({ engine }) => {
    const { cluster, kind } = await engine.run(() => plannedAt(labelled(LABELS)));
    const reversed = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).reverse()) as T;
    const reordered: PlannedCluster = { ...cluster, nodeImage: reversed(cluster.nodeImage), nodeLabels: reversed(cluster.nodeLabels) };
    // the inputs differ as plain JSON: only the sorted keys make them one definition
    expect(JSON.stringify(definitionInputs(reordered, kind))).not.toBe(JSON.stringify(definitionInputs(cluster, kind)));
    expect(definitionId(reordered, kind)).toBe(definitionId(cluster, kind));
  });
});

describe("a published node image's archive", () => {
  test("saved by save-node-image.sh with dockerd.sh beside it, mounted from the repository, and Docker without TLS", async ({ engine }) => {
    await engine.run(async () => (await pipelineAt(threeImages()).nodeImage("1.36.4")).archive.id());
    const archive = engine.find(/save-node-image\.sh.*\.file\(path:"\/out\/node-image\.tar"\)\.id$/, { leaf: "id", ids: true }).at(-1)!.call;
    const mounts = calls(archive, "withMountedDirectory");
    expect(mounts.map((c) => c.args.path)).toEqual(["/kind-pipeline/scripts"]);
    const mounted = Object.fromEntries(calls(mounts[0]!.args.source as Call, "withNewFile").map((c) => [c.args.path, c.args.contents]));
    const script = (name: string) => readFileSync(join(REPO_ROOT, "ci/scripts", name), "utf8");
    expect(mounted).toEqual({ "dockerd.sh": script("dockerd.sh"), "save-node-image.sh": script("save-node-image.sh") });
    expect(envOf(archive)).toEqual({ DOCKER_TLS_CERTDIR: "" });
  });
});
