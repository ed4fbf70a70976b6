/**
 * `npm run bench` (second part): the test stage's figures on the stand-in engine, which simulates the
 * duration of each build, of the cluster service's start, of each `kind load` and of each step.
 *
 * - the example path: `test()`'s wall time ÷ (longest build + cluster start + longest load + the steps'
 *   sum), the least the path can take with builds in parallel, loads in parallel and steps one at a time
 *   (bar ≤ 1.10);
 * - the load stage, 6 images: from the cluster ready (its `kubectl wait` answered) to the last node's
 *   containerd listed (the verification), ÷ the longest single load (bar ≤ 1.15; sequential loads would
 *   be the sum ÷ the longest);
 * - the matrix: `test()` over three versions ÷ `test()` over one, on an engine that holds three clusters
 *   (bar ≤ 1.2), and the image builds each awaits (equal: images are built once for every version).
 *
 * Figures are medians over several runs, each on a fresh engine, measured on the engine's one clock; they
 * are compared to their bars and printed, never asserted, so a busy machine cannot fail a build.
 */
import { cpus, loadavg } from "node:os";
import { dag } from "@dagger.io/dagger";
import { buildImages } from "../ci/src/build.js";
import { startCluster } from "../ci/src/cluster.js";
import { KindPipeline } from "../ci/src/index.js";
import { imagesToLoad, inClusterRefs, loadImages } from "../ci/src/load.js";
import { nodeImageFor } from "../ci/src/node-images.js";
import { prepareRun } from "../ci/src/run.js";
import { toolbox } from "../ci/src/tools.js";
import { StandInEngine } from "../test/support/engine.js";
import { projectTree } from "../test/support/projects.js";
import { answer } from "../test/support/replies.js";

process.env.OTEL_SDK_DISABLED = "true";
// The module's status lines ([load] 1.37.0: jax as … (0s)) go to stderr through console.error; the figures are the output here.
console.error = () => undefined;
const RUNS = 5;

const NODES = ["kind-pipeline-1-37-0-control-plane", "kind-pipeline-1-37-0-worker"];
/** Every step runs through the module's wrapper, named kind-pipeline-step, then its timeout and its command. */
const STEP = '"kind-pipeline-step"';
/** The versions of the matrix figure. */
const MATRIX = ["1.37.0", "1.36.4", "1.35.8"];

/** One benchmark: images with their simulated build and load durations (ms), steps with theirs, the service's start. */
interface Scenario {
  images: { name: string; buildMs: number; loadMs: number }[];
  steps: { name: string; after: string[]; ms: number }[];
  startMs: number;
}

/** The example path: 3 images, a deploy step and two suites after it. */
const EXAMPLE: Scenario = {
  images: [
    { name: "jax", buildMs: 300, loadMs: 200 },
    { name: "pytorch", buildMs: 500, loadMs: 400 },
    { name: "xgboost", buildMs: 700, loadMs: 300 },
  ],
  steps: [
    { name: "deploy", after: [], ms: 300 },
    { name: "suite", after: ["deploy"], ms: 300 },
    { name: "smoke", after: ["deploy"], ms: 300 },
  ],
  startMs: 400,
};

/** The load stage alone: 6 images of unequal load durations; builds, start and the one step kept short. */
const SIX_LOADS: Scenario = {
  images: [
    { name: "operator", buildMs: 50, loadMs: 250 },
    { name: "webhook", buildMs: 50, loadMs: 200 },
    { name: "jax", buildMs: 50, loadMs: 400 },
    { name: "pytorch", buildMs: 50, loadMs: 350 },
    { name: "xgboost", buildMs: 50, loadMs: 300 },
    { name: "tuner", buildMs: 50, loadMs: 280 },
  ],
  steps: [{ name: "smoke", after: [], ms: 50 }],
  startMs: 100,
};

const refOf = (name: string) => `ghcr.io/example/${name}:bench`;

/** A project whose images carry explicit refs (so the scripted containerd listing can hold them) and its steps. */
function project(scenario: Scenario): string {
  const files: Record<string, string> = { "test/e2e/run.sh": "echo run\n" };
  const config = [`kubernetes: { versions: ${JSON.stringify(MATRIX)} }`, "images:"];
  for (const { name } of scenario.images) {
    files[`images/${name}/Dockerfile`] = "FROM python:3.12-slim\nCOPY . /app\n";
    files[`images/${name}/main.py`] = `print(${JSON.stringify(name)})\n`;
    config.push(`  ${name}: { context: images/${name}, ref: ${refOf(name)} }`);
  }
  const needs = scenario.images.map((i) => i.name).join(", ");
  config.push("e2e:");
  for (const step of scenario.steps) {
    const after = step.after.length > 0 ? `, after: [${step.after.join(", ")}]` : "";
    config.push(`  - { name: ${step.name}, needs: [${needs}]${after}, run: [sh, test/e2e/run.sh, ${step.name}], timeout: 5m }`);
  }
  files["kind-pipeline.yaml"] = `${config.join("\n")}\n`;
  return projectTree(files);
}

/** A healthy cluster of two nodes holding every ref after the load, with the scenario's durations. */
function script(engine: StandInEngine, scenario: Scenario): void {
  engine
    // the preflight's reading of the engine (CPUs, available memory)
    .reply({ leaf: "stdout", where: 'withExec(args:["nproc"])' }, answer("8\n"))
    .reply({ leaf: "stdout", where: 'withExec(args:["cat","/proc/meminfo"])' }, answer("MemTotal:       17301504 kB\nMemAvailable:   16777216 kB\n"))
    .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
    .reply({ leaf: "start" }, answer(), { delayMs: scenario.startMs })
    .reply({ leaf: "stop" }, answer())
    .reply({ leaf: "stdout", where: '"kubectl","get","nodes","-o","name"' }, answer(NODES.map((n) => `node/${n}`).join("\n") + "\n"))
    .reply({ leaf: "stdout", where: '"kind","get","nodes"' }, answer(NODES.join("\n") + "\n"))
    .reply({ leaf: "stdout", where: '"ctr","--namespace=k8s.io","images","list"' }, answer(scenario.images.map((i) => refOf(i.name)).join("\n") + "\n"))
    .reply({ leaf: "exitCode" }, answer(0))
    .reply({ leaf: "combinedOutput", where: STEP }, answer("ok\n"));
  scenario.images.forEach(({ name, buildMs, loadMs }, i) => {
    engine.reply({ leaf: "sync", where: `images/${name}").dockerBuild` }, answer(), { delayMs: buildMs });
    // the load stage mounts image i's archive at /kind-pipeline/images/<i>.tar
    engine.reply({ leaf: "sync", where: `"kind","load","image-archive","/kind-pipeline/images/${i}.tar"` }, answer(), { delayMs: loadMs });
  });
  for (const step of scenario.steps) {
    engine.reply({ leaf: "sync", where: `${STEP},"300","sh","test/e2e/run.sh","${step.name}"` }, answer(), { delayMs: step.ms });
  }
}

/** Throws, naming them, when the SDK asked for leaves no script answers: the run did not go as scripted. */
function allScripted(engine: StandInEngine): void {
  if (engine.unscripted.length > 0) throw new Error(`unscripted leaves:\n${engine.unscripted.map((l) => `  ${l.call.display}`).join("\n")}`);
}

/**
 * Of the window [from, to] on the engine's clock, the time no leaf was in flight: the SDK building queries,
 * the stand-in parsing them, the module's own code. The rest is the engine at work (simulated or not).
 */
function idleTime(engine: StandInEngine, from: number, to: number): number {
  const spans = engine.leaves.map((l) => [Math.max(from, l.startedAt), Math.min(to, l.endedAt ?? to)] as const).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let busy = 0;
  let reached = from;
  for (const [a, b] of spans) {
    if (b <= reached) continue;
    busy += b - Math.max(a, reached);
    reached = b;
  }
  return to - from - busy;
}

/** RUNS runs, each on a fresh engine scripted for the scenario, over the scenario's project. */
async function simulatedRuns<T>(scenario: Scenario, measure: (engine: StandInEngine, root: string) => Promise<T>): Promise<T[]> {
  const root = project(scenario);
  const results: T[] = [];
  for (let run = 0; run < RUNS; run++) {
    const engine = await StandInEngine.start();
    try {
      script(engine, scenario);
      results.push(await engine.run(() => measure(engine, root)));
      allScripted(engine);
    } finally {
      await engine.stop();
    }
  }
  return results;
}

/** What one run of `test()` shows on the engine's clock. */
interface ExampleTiming {
  /** `test()`'s wall time (the session's connection left out, as `dagger call` opens it before). */
  wall: number;
  /** Leaves the SDK asked for. */
  queries: number;
  /** Of the wall time, the time no leaf was in flight. */
  idle: number;
  /** Steps in flight at once (1: one at a time). */
  stepConcurrency: number;
}

/** `pipelineAt(root).test()`, timed. */
function examplePath(): Promise<ExampleTiming[]> {
  return simulatedRuns(EXAMPLE, async (engine, root) => {
    const started = engine.now();
    const summary = await new KindPipeline(dag.host().directory(root), "kind-pipeline.yaml").test(["1.37.0"]);
    const wall = engine.now() - started;
    if (!/passed/.test(summary)) throw new Error(`expected a passing run, got:\n${summary}`);
    const steps = engine.find(STEP, { leaf: "sync" });
    if (steps.length !== EXAMPLE.steps.length) throw new Error(`expected ${EXAMPLE.steps.length} steps, the engine saw ${steps.length}`);
    return { wall, queries: engine.leaves.length, idle: idleTime(engine, started, started + wall), stepConcurrency: engine.maxConcurrency(STEP, { leaf: "sync" }) };
  });
}

/** What one call of `loadImages` shows on the engine's clock. */
interface LoadTiming {
  /** `loadImages`' wall time: the loads, then the verification in every node. */
  wall: number;
  /** From the first `kind load` exec's start to the last node's containerd listed (the id resolutions before it left out). */
  execs: number;
  /** `kind load` execs in flight at once. */
  concurrency: number;
  /** Of the wall time, the time no leaf was in flight. */
  idle: number;
}

/** The load stage alone: the images built, the cluster started, then `loadImages` timed. */
function loadStage(): Promise<LoadTiming[]> {
  return simulatedRuns(SIX_LOADS, async (engine, root) => {
    const run = await prepareRun(dag.host().directory(root), "kind-pipeline.yaml", {}, [], () => undefined);
    const refs = await inClusterRefs(run);
    const images = imagesToLoad(await buildImages(run), refs, run.plan.preload);
    const tools = await toolbox(run.plan.kind);
    const cluster = run.plan.clusters[0]!;
    const live = await startCluster(run, cluster, tools, await nodeImageFor(cluster.nodeImage, async () => tools));
    const started = engine.now();
    await loadImages(run, live, images);
    const wall = engine.now() - started;
    await live.stop();
    const loads = engine.find('"kind","load","image-archive"', { leaf: "sync" });
    const listed = engine.find('"ctr","--namespace=k8s.io","images","list"', { leaf: "stdout" });
    if (loads.length !== SIX_LOADS.images.length || listed.length !== NODES.length) {
      throw new Error(`expected ${SIX_LOADS.images.length} loads and ${NODES.length} listings, the engine saw ${loads.length} and ${listed.length}`);
    }
    const execs = Math.max(...listed.map((l) => l.endedAt!)) - Math.min(...loads.map((l) => l.startedAt));
    return { wall, execs, idle: idleTime(engine, started, started + wall), concurrency: engine.maxConcurrency('"kind","load","image-archive"', { leaf: "sync" }) };
  });
}

/** One run of a 3-version matrix and one of a single version on the same engine: their wall times and build calls. */
interface MatrixTiming {
  one: number;
  three: number;
  buildsOne: number;
  buildsThree: number;
}

/** `test(["1.37.0"])`, then `test()` over three versions (the engine holds three clusters at once), timed. */
function matrix(): Promise<MatrixTiming[]> {
  return simulatedRuns(EXAMPLE, async (engine, root) => {
    const builds = () => engine.leaves.filter((l) => l.leaf === "sync" && l.call.parent?.field === "dockerBuild").length;
    const pipeline = () => new KindPipeline(dag.host().directory(root), "kind-pipeline.yaml");
    let started = engine.now();
    await pipeline().test(["1.37.0"]);
    const one = engine.now() - started;
    const buildsOne = builds();
    started = engine.now();
    await pipeline().test();
    const three = engine.now() - started;
    const clusters = new Set(engine.find(STEP, { leaf: "sync" }).map((l) => /KIND_CLUSTER_NAME",value:"([^"]+)"/.exec(l.text)?.[1]));
    if (clusters.size !== MATRIX.length) throw new Error(`expected steps on ${MATRIX.length} clusters, the engine saw ${clusters.size}`);
    return { one, three, buildsOne, buildsThree: builds() - buildsOne };
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${value.toFixed(0)} ms`;
const max = (values: number[]) => Math.max(...values);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

const load = loadavg()[0]!;
const example = await examplePath();
const six = await loadStage();
const cells = await matrix();

const longestBuild = max(EXAMPLE.images.map((i) => i.buildMs));
const stepsSum = sum(EXAMPLE.steps.map((s) => s.ms));
const least = longestBuild + EXAMPLE.startMs + max(EXAMPLE.images.map((i) => i.loadMs)) + stepsSum;
const exampleRatios = example.map((t) => t.wall / least);
const longestLoad = max(SIX_LOADS.images.map((i) => i.loadMs));
const sequentialLoads = sum(SIX_LOADS.images.map((i) => i.loadMs));
const loadRatios = six.map((t) => t.wall / longestLoad);
const execRatios = six.map((t) => t.execs / longestLoad);
const exampleWall = median(example.map((t) => t.wall));

const rows = [
  { figure: "example path: test() ÷ least", ratios: exampleRatios, bar: 1.1 },
  { figure: "6 images: loadImages ÷ longest", ratios: loadRatios, bar: 1.15 },
  { figure: "3-version matrix ÷ 1 version", ratios: cells.map((c) => c.three / c.one), bar: 1.2 },
];

const describe = (s: Scenario) =>
  `builds ${s.images.map((i) => i.buildMs).join("/")}, start ${s.startMs}, loads ${s.images.map((i) => i.loadMs).join("/")}, steps ${s.steps.map((t) => t.ms).join("/")}`;
console.log(`test stage on the stand-in engine, median of ${RUNS} runs; simulated ms: example ${describe(EXAMPLE)}; 6 images ${describe(SIX_LOADS)}`);
console.log(`  (${cpus().length} CPUs, load average ${load.toFixed(1)} at the start: on a busy machine each query's cost, and the figures, grow)`);
console.log(`  ${"figure".padEnd(32)} ${"median".padStart(7)} ${"worst".padStart(7)} ${"bar".padStart(7)}  within the bar`);
for (const { figure, ratios, bar } of rows) {
  const value = median(ratios);
  console.log(`  ${figure.padEnd(32)} ${value.toFixed(3).padStart(7)} ${max(ratios).toFixed(3).padStart(7)} ${`≤ ${bar.toFixed(2)}`.padStart(7)}  ${value <= bar ? "yes" : "no"}`);
}
console.log(
  `  example path: wall ${ms(exampleWall)}, least ${least} ms (longest build ${longestBuild} + start ${EXAMPLE.startMs} + longest load ${max(EXAMPLE.images.map((i) => i.loadMs))} + steps ${stepsSum}), ` +
    `${ms(exampleWall - least)} over it, ${ms(median(example.map((t) => t.idle)))} of the wall with no query in flight (${median(example.map((t) => t.queries))} queries); ${max(example.map((t) => t.stepConcurrency))} step in flight at once`,
);
console.log(
  `  6 images: loadImages ${ms(median(six.map((t) => t.wall)))} (${ms(median(six.map((t) => t.idle)))} with no query in flight), its execs alone (first kind load → last node listed) ${ms(median(six.map((t) => t.execs)))} = ${median(execRatios).toFixed(3)}× the longest load (${longestLoad} ms); ` +
    `sequential would be ${sequentialLoads} ms = ${(sequentialLoads / longestLoad).toFixed(2)}×; ${Math.min(...six.map((t) => t.concurrency))} loads in flight at once`,
);
console.log(
  `  matrix: 1 version ${ms(median(cells.map((c) => c.one)))}, ${MATRIX.length} versions ${ms(median(cells.map((c) => c.three)))} with ${MATRIX.length} clusters at once; ` +
    `image builds awaited: ${median(cells.map((c) => c.buildsOne))} for 1 version, ${median(cells.map((c) => c.buildsThree))} for ${MATRIX.length}`,
);
