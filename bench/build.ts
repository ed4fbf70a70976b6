/**
 * `npm run bench`: the build stage's figures on the stand-in engine, which simulates each build's duration.
 *
 * - parallelism: buildAll's wall time ÷ the longest single build (1.0 is perfect; sequential would be
 *   the sum ÷ the longest);
 * - time to failure: from the last build settling to BuildFailure reaching the caller;
 * - overhead of reading, validating and planning a 50-image config (no engine, and through the engine).
 *
 * Figures are medians over several runs, measured on one clock in one process; they are printed, never
 * asserted, so a busy machine cannot fail a build.
 */
import { dag } from "@dagger.io/dagger";
import { BuildFailure } from "../ci/src/build.js";
import { loadConfig } from "../ci/src/config.js";
import { KindPipeline } from "../ci/src/index.js";
import { planPipeline, renderPlan } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { StandInEngine } from "../test/support/engine.js";
import { projectTree } from "../test/support/projects.js";
import { answer, engineError, execFailure } from "../test/support/replies.js";

process.env.OTEL_SDK_DISABLED = "true";
// The module's status lines ([build] jax: built in 0.6s) go to stderr through console.error; the figures are the output here.
console.error = () => undefined;
const RUNS = 5;

/** Simulated build durations (ms) of the benchmark's images, deliberately unequal. */
const DURATIONS: Record<string, number> = { jax: 600, pytorch: 900, xgboost: 350, operator: 450, webhook: 200, tuner: 750, exporter: 300, dashboard: 500 };
const IMAGES = Object.keys(DURATIONS);

function project(names: string[]): string {
  const files: Record<string, string> = {};
  const config = ["images:"];
  for (const name of names) {
    files[`images/${name}/Dockerfile`] = `FROM python:3.12-slim\nCOPY . /app\n`;
    files[`images/${name}/main.py`] = `print(${JSON.stringify(name)})\n`;
    config.push(`  ${name}: { context: images/${name}, buildArgs: { VERSION: "1.0.0" } }`);
  }
  config.push("e2e:", ...names.map((name) => `  - { name: ${name}-smoke, needs: [${name}], run: [sh, test/e2e/run.sh, ${name}] }`));
  files["test/e2e/run.sh"] = "echo e2e\n";
  files["kind-pipeline.yaml"] = `${config.join("\n")}\n`;
  return projectTree(files);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function withEngine<T>(fn: (engine: StandInEngine) => Promise<T>): Promise<T> {
  const engine = await StandInEngine.start();
  try {
    return await fn(engine);
  } finally {
    await engine.stop();
  }
}

/** RUNS runs of `buildAll` over the benchmark's images, each on a fresh engine that simulates their durations. */
async function simulatedRuns<T>(script: (engine: StandInEngine) => void, measure: (engine: StandInEngine, buildAll: () => Promise<unknown>) => Promise<T>): Promise<T[]> {
  const root = project(IMAGES);
  const results: T[] = [];
  for (let run = 0; run < RUNS; run++) {
    results.push(
      await withEngine(async (engine) => {
        for (const [name, delayMs] of Object.entries(DURATIONS)) {
          engine.reply({ leaf: "sync", where: `images/${name}").dockerBuild` }, answer(), { delayMs });
        }
        script(engine);
        return engine.run(() => measure(engine, () => new KindPipeline(dag.host().directory(root), "kind-pipeline.yaml").buildAll()));
      }),
    );
  }
  return results;
}

const LONGEST = Math.max(...Object.values(DURATIONS));
const SEQUENTIAL = Object.values(DURATIONS).reduce((a, b) => a + b, 0);

function parallelism(): Promise<{ ratio: number; wall: number; concurrency: number }[]> {
  return simulatedRuns(
    () => undefined,
    async (engine, buildAll) => {
      const started = performance.now();
      await buildAll();
      const wall = performance.now() - started;
      return { ratio: wall / LONGEST, wall, concurrency: engine.maxConcurrency("dockerBuild", { leaf: "sync" }) };
    },
  );
}

function timeToFailure(): Promise<number[]> {
  return simulatedRuns(
    (engine) => {
      engine.reply({ leaf: "sync", where: 'images/webhook").dockerBuild' }, execFailure({ cmd: ["/bin/sh", "-c", "make"], exitCode: 2, stderr: "make: *** [all] Error 2\n" }), { delayMs: 120 });
      engine.reply({ leaf: "sync", where: 'images/exporter").dockerBuild' }, engineError("failed to resolve source metadata: not found"), { delayMs: 250 });
    },
    async (engine, buildAll) => {
      const error = await buildAll().catch((e: unknown) => e);
      if (!(error instanceof BuildFailure)) throw new Error(`expected a BuildFailure, got ${String(error)}`);
      const failedAt = engine.now();
      return failedAt - Math.max(...engine.find("dockerBuild", { leaf: "sync" }).map((l) => l.endedAt!));
    },
  );
}

async function planOverhead(): Promise<{ local: number[]; engine: number[]; queries: number }> {
  const names = Array.from({ length: 50 }, (_, i) => `image-${String(i).padStart(2, "0")}`);
  const root = project(names);
  const local: number[] = [];
  for (let run = 0; run < 50; run++) {
    const started = performance.now();
    renderPlan(planPipeline(await loadConfig(localSourceTree(root))));
    local.push(performance.now() - started);
  }
  const RUNS_THROUGH_ENGINE = 20;
  return withEngine(async (engine) => {
    const times: number[] = [];
    await engine.run(async () => {
      for (let run = 0; run < RUNS_THROUGH_ENGINE; run++) {
        const started = performance.now();
        await new KindPipeline(dag.host().directory(root), "kind-pipeline.yaml").plan();
        times.push(performance.now() - started);
      }
    });
    return { local, engine: times, queries: engine.leaves.length / RUNS_THROUGH_ENGINE };
  });
}

const p = await parallelism();
const ttf = await timeToFailure();
const overhead = await planOverhead();

const durations = Object.entries(DURATIONS).map(([name, d]) => `${name} ${d}`).join(", ");
console.log(`build stage on the stand-in engine (${IMAGES.length} images, simulated ms: ${durations}); median of ${RUNS} runs`);
console.log(`  parallelism   wall ÷ longest build = ${median(p.map((r) => r.ratio)).toFixed(3)} (worst ${Math.max(...p.map((r) => r.ratio)).toFixed(3)}; wall ${ms(median(p.map((r) => r.wall)))}, longest ${LONGEST} ms, sequential would be ${SEQUENTIAL} ms = ${(SEQUENTIAL / LONGEST).toFixed(2)}×; ${Math.min(...p.map((r) => r.concurrency))} builds in flight at once)`);
console.log(`  time to failure  last build settled → BuildFailure caught = ${ms(median(ttf))} (worst ${ms(Math.max(...ttf))})`);
console.log(`  config + plan, 50 images, no engine = ${ms(median(overhead.local))} median, ${ms(percentile(overhead.local, 0.95))} p95 (50 runs)`);
console.log(`  config + plan, 50 images, through the stand-in engine (${overhead.queries} queries each) = ${ms(median(overhead.engine))} median, ${ms(percentile(overhead.engine, 0.95))} p95 (${overhead.engine.length} runs)`);
