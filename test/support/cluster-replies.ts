/**
 * Scripted answers for the stages after the build (the cluster, the load, the steps, the diagnostics) and
 * ways to read what the module asked for: the patterns of its execs, the chains of its containers, the
 * files of its report. The answers are the engine's side only (a service that starts, nodes kind lists,
 * refs containerd holds, what a step printed); everything the tests assert is what the module made of them.
 */
import { dag } from "@dagger.io/dagger";
import { XMLParser } from "fast-xml-parser";
import type { LiveCluster } from "../../ci/src/cluster.js";
import type { PlannedCluster } from "../../ci/src/plan.js";
import type { Call } from "./calls.js";
import type { RecordedLeaf, StandInEngine } from "./engine.js";
import { answer } from "./replies.js";

/** The Kind cluster of the config's default version (1.37.0) under the default cluster name. */
export const CLUSTER = "kind-pipeline-1-37-0";

/** A pattern for the exec of one of the module's scripts, by file name. */
export const runs = (script: string) => `withExec(args:["sh","/kind-pipeline/scripts/${script}"`;
/** The service's status, read without binding it (readiness, `isLive`). */
export const STATUS = runs("cluster-status.sh");
/** The diagnostics collection. */
export const DIAGNOSTICS = runs("diagnostics.sh");
/** The exec of an e2e step: every step runs through the module's wrapper (`timeout -s TERM <seconds>`), named kind-pipeline-step. */
export const STEP = '"kind-pipeline-step"';
/** `kind load image-archive`, one per image. */
export const LOAD = '"kind","load","image-archive"';
/** `kind get nodes`, before the verification. */
export const GET_NODES = '"kind","get","nodes"';
/** A node's containerd asked for its images. */
export const VERIFY = '"ctr","--namespace=k8s.io","images","list"';
/** The readiness check's node listing. */
const LIST_NODES = '"kubectl","get","nodes","-o","name"';

/** The two nodes (control plane and worker, the default shape) of a cluster. */
export function nodesOf(cluster: string): string[] {
  return [`${cluster}-control-plane`, `${cluster}-worker`];
}

/** What the engine answers for one cluster. */
export interface ClusterAnswers {
  /** The cluster's name (default: CLUSTER). */
  cluster?: string;
  /** The refs every node's containerd lists after the load. */
  held: string[];
  /** Simulated duration of each `kind load`. */
  loadDelayMs?: number;
}

/** The engine host's CPUs and available memory as the preflight reads them (`nproc`, /proc/meminfo). */
export function engineWith(engine: StandInEngine, { cpus, memoryGiB }: { cpus: number; memoryGiB: number }): StandInEngine {
  return engine
    .reply({ leaf: "stdout", where: 'withExec(args:["nproc"])' }, answer(`${cpus}\n`))
    .reply({ leaf: "stdout", where: 'withExec(args:["cat","/proc/meminfo"])' }, answer(`MemTotal:       ${memoryGiB * 1048576 + 524288} kB\nMemAvailable:   ${memoryGiB * 1048576} kB\n`));
}

/**
 * A linux/amd64 engine whose services start and stop, and a cluster (control plane and worker) that is
 * ready at once and whose nodes hold `held` after the load. Status reads succeed (ready, live) unless a
 * test scripts them otherwise.
 */
export function liveCluster(engine: StandInEngine, { cluster = CLUSTER, held, loadDelayMs = 0 }: ClusterAnswers): StandInEngine {
  const nodes = nodesOf(cluster);
  const ofCluster = (pattern: string) => new RegExp(`${escapeRe(`"--name","${cluster}"`)}.*${escapeRe(pattern)}`);
  return engineWith(engine, { cpus: 8, memoryGiB: 16 })
    .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
    .reply({ leaf: "start" }, answer())
    .reply({ leaf: "stop" }, answer())
    .reply({ leaf: "stdout", where: ofCluster(LIST_NODES) }, answer(nodes.map((n) => `node/${n}\n`).join("")))
    .reply({ leaf: "sync", where: ofCluster(LOAD) }, answer(), { delayMs: loadDelayMs })
    .reply({ leaf: "stdout", where: `${GET_NODES},"--name","${cluster}"` }, answer(nodes.map((n) => `${n}\n`).join("")))
    .reply({ leaf: "stdout", where: new RegExp(`"docker","exec","${escapeRe(cluster)}-[a-z-]+",${escapeRe(VERIFY)}`) }, answer(held.map((r) => `${r}\n`).join("")));
}

/**
 * A live cluster as startCluster hands it to the later stages, for testing one of them on its own: the
 * cluster of 1.37.0, its client a plain container, live or not. Call inside `engine.run`.
 */
export function givenLiveCluster({ isLive = true }: { isLive?: boolean } = {}): LiveCluster {
  const client = dag.container().from("alpine:3.22");
  return {
    cluster: { kubernetes: "1.37.0", name: CLUSTER } as PlannedCluster,
    service: client.asService(),
    kubeconfig: client.file("/kubeconfig"),
    client,
    isLive: async () => isLive,
    stop: async () => {},
  };
}

/** Every step passes, printing `output`, each taking `delayMs`. */
export function passingSteps(engine: StandInEngine, { output = "ok\n", delayMs = 0 }: { output?: string; delayMs?: number } = {}): StandInEngine {
  return engine
    .reply({ leaf: "sync", where: STEP }, answer(), { delayMs })
    .reply({ leaf: "exitCode", where: STEP }, answer(0))
    .reply({ leaf: "combinedOutput", where: STEP }, answer(output));
}

/** The step whose command contains `command` (its run args as JSON, e.g. `"sh","e2e/deploy.sh"`) exits with `exitCode`, printing `output`. */
export function stepExits(engine: StandInEngine, command: string, exitCode: number, output: string, delayMs = 0): StandInEngine {
  const own = new RegExp(`${escapeRe(STEP)},"\\d+",${escapeRe(command)}\\]`);
  return engine
    .reply({ leaf: "sync", where: own }, answer(), { delayMs })
    .reply({ leaf: "exitCode", where: own }, answer(exitCode))
    .reply({ leaf: "combinedOutput", where: own }, answer(output));
}

/** What diagnostics.sh leaves: pods.json and logs/ (file name → content). */
export function diagnosticsCollect(engine: StandInEngine, pods: unknown, logs: Record<string, string> = {}): StandInEngine {
  engine
    .reply({ leaf: "contents", where: /\.file\(path:"pods\.json"\)\.contents$/ }, answer(JSON.stringify(pods)))
    .reply({ leaf: "entries", where: /\.directory\(path:"logs"\)\.entries$/ }, answer(Object.keys(logs)));
  for (const [name, content] of Object.entries(logs)) {
    engine.reply({ leaf: "contents", where: `.file(path:"logs/${name}").contents` }, answer(content));
  }
  return engine;
}

/** A pod list as `kubectl get pods -o json` prints it. */
export function podList(...items: unknown[]): unknown {
  return { apiVersion: "v1", kind: "List", items };
}

/** A pod of a Job whose one container waits in ImagePullBackOff for `image`. */
export function imagePullBackOffPod(name: string, image: string): unknown {
  return {
    metadata: { namespace: "default", name },
    spec: { nodeName: "kind-pipeline-1-37-0-worker", containers: [{ name: "train", image, imagePullPolicy: "IfNotPresent" }] },
    status: {
      phase: "Pending",
      containerStatuses: [{ name: "train", image, ready: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${image}"` } } }],
    },
  };
}

/** The calls of a chain with the given field, in order. */
export const calls = (call: Call, field: string): Call[] => call.path.filter((c) => c.field === field);

/** The environment a chain sets, by name (the last value of each). */
export const envOf = (call: Call): Record<string, unknown> => Object.fromEntries(calls(call, "withEnvVariable").map((c) => [c.args.name, c.args.value]));

/** The args of a chain's last exec. */
export const execArgs = (call: Call): string[] => (calls(call, "withExec").at(-1)?.args.args as string[] | undefined) ?? [];

/**
 * Recorded leaves that run an exec of their own (the leaf is asked of a `withExec`) whose args, as JSON,
 * contain `args`: not the many chains that merely build on that exec's result.
 */
export function ownExecs(engine: StandInEngine, args: string, leaf: string): RecordedLeaf[] {
  return engine.find(args, { leaf }).filter((l) => l.call.parent?.field === "withExec" && JSON.stringify(l.call.parent.args.args).includes(args));
}

/** A leaf's end; a hung leaf never ends. */
export const ended = (leaf: RecordedLeaf): number => leaf.endedAt ?? Infinity;

/** The latest end among leaves (−∞ for none). */
export const lastEnd = (leaves: RecordedLeaf[]): number => Math.max(-Infinity, ...leaves.map(ended));

/** The earliest start among leaves (∞ for none). */
export const firstStart = (leaves: RecordedLeaf[]): number => Math.min(Infinity, ...leaves.map((l) => l.startedAt));

/**
 * The files of a report directory, from its chain: path → the text written (`withNewFile`) or the
 * directory placed there (`withDirectory`, its chain).
 */
export function reportFiles(report: Call): Map<string, string | Call> {
  const files = new Map<string, string | Call>();
  for (const call of report.path) {
    if (call.field === "withNewFile") files.set(String(call.args.path), String(call.args.contents));
    if (call.field === "withDirectory") files.set(String(call.args.path), call.args.source as Call);
  }
  return files;
}

/** The text of a report file; throws naming the files there are when it is missing or a directory. */
export function fileText(files: Map<string, string | Call>, path: string): string {
  const value = files.get(path);
  if (typeof value !== "string") throw new Error(`the report has no file ${path}; it has: ${[...files.keys()].join(", ")}`);
  return value;
}

/** A testcase of junit.xml, as a test reporter reads it. */
export interface JunitCase {
  name: string;
  classname: string;
  time: string;
  failure?: { message: string; type: string; text: string };
  error?: { message: string; type: string; text: string };
  skipped?: { message: string };
}

/** A testsuite of junit.xml with its counts as its attributes say, and its testcases. */
export interface JunitSuite {
  name: string;
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  cases: JunitCase[];
}

/** junit.xml read with a real XML parser: the totals of `<testsuites>` and every suite. */
export function parseJunit(xml: string): { tests: number; failures: number; errors: number; skipped: number; suites: JunitSuite[] } {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    textNodeName: "text",
    parseAttributeValue: false,
    isArray: (name) => name === "testsuite" || name === "testcase",
  });
  const parsed = parser.parse(xml, true) as { testsuites: Record<string, unknown> & { testsuite?: Record<string, unknown>[] } };
  const root = parsed.testsuites;
  const counts = (node: Record<string, unknown>) => ({
    tests: Number(node.tests),
    failures: Number(node.failures),
    errors: Number(node.errors),
    skipped: Number(node.skipped),
  });
  const outcome = (value: unknown) => {
    if (value === undefined) return undefined;
    const node = (typeof value === "object" && value !== null ? value : { text: value }) as Record<string, unknown>;
    return { message: String(node.message ?? ""), type: String(node.type ?? ""), text: String(node.text ?? "") };
  };
  const suites = (root.testsuite ?? []).map((suite) => ({
    name: String(suite.name),
    ...counts(suite),
    cases: ((suite.testcase as Record<string, unknown>[] | undefined) ?? []).map((c) => ({
      name: String(c.name),
      classname: String(c.classname),
      time: String(c.time),
      ...(c.failure !== undefined && { failure: outcome(c.failure) }),
      ...(c.error !== undefined && { error: outcome(c.error) }),
      ...(c.skipped !== undefined && { skipped: { message: String((c.skipped as Record<string, unknown>).message ?? "") } }),
    })),
  }));
  return { ...counts(root), suites };
}

/** Text as a RegExp that matches it literally. */
export function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** How junit.xml says each step (and stage) of the version ended: `passed`, `failure <type>: <message>`, `skipped: <reason>`, `error <type>`. */
export function junitOutcomes(files: Map<string, string | Call>, suite = "kubernetes-1.37.0"): Record<string, string> {
  const junit = parseJunit(fileText(files, "junit.xml"));
  const found = junit.suites.find((s) => s.name === suite);
  if (!found) throw new Error(`junit.xml has no testsuite ${suite}: ${junit.suites.map((s) => s.name).join(", ")}`);
  return Object.fromEntries(
    found.cases.map((c) => [
      c.name,
      c.failure ? `failure ${c.failure.type}: ${c.failure.message}` : c.error ? `error ${c.error.type}` : c.skipped ? `skipped: ${c.skipped.message}` : "passed",
    ]),
  );
}
