/**
 * The test path, stage by stage: the build gate (every selected image builds, or nothing else starts),
 * the preflight (how many clusters the engine holds at once), then for each selected Kubernetes version,
 * in parallel within that bound: its cluster, the load, the steps, diagnostics after a failure, the
 * cluster stopped; then one report of everything. One version failing does not stop the others, unless
 * asked (`failFast`: no new version starts after a failure).
 */
import { dag, type Container, type Directory } from "@dagger.io/dagger";
import { BuildFailure, buildImages, type BuiltImage } from "./build.js";
import { ClusterError } from "./cluster-error.js";
import { startCluster, type LiveCluster } from "./cluster.js";
import { collectDiagnostics, type Diagnostics } from "./diagnostics.js";
import { firstLineOf, messageOf } from "./errors.js";
import { imagesToLoad, inClusterRefs, LoadError, loadImages, type ImageToLoad } from "./load.js";
import { nodeImageFor } from "./node-images.js";
import { DEFAULT_LANE, type PlannedCluster } from "./plan.js";
import { renderFailure, renderJunit, renderSummary, statusOf } from "./report.js";
import { cellPath, versionPassed, type StageFailure, type StepResult, type TestResult, type VersionResult } from "./results.js";
import type { Run } from "./run.js";
import { engineResources, parallelClusters } from "./preflight.js";
import { passedSecrets } from "./secrets.js";
import { runSteps, type StepContext } from "./steps.js";
import { stepImage, toolbox } from "./tools.js";

/** A failed test run: its message is the report's failure summary, so `dagger call test` exits non-zero with it. */
export class TestFailure extends Error {
  override readonly name = "TestFailure";

  constructor(readonly result: TestResult) {
    super(renderFailure(result));
  }
}

/** A finished run: what it found, and the report directory. */
export interface TestRun {
  result: TestResult;
  report: Directory;
}

/** What one version's run leaves for the report besides its result. */
interface VersionFiles {
  diagnostics?: Directory;
  artifacts: Map<string, Directory>;
}

/** The images of a run, built and ready to load into any cluster. */
export interface LoadableImages {
  refs: Map<string, string>;
  images: ImageToLoad[];
}

/**
 * Builds every selected image (throws BuildFailure naming every failed one, before any cluster stage call)
 * and prepares their archives, named by their in-cluster refs, with the preloads.
 */
export async function buildForCluster(run: Run): Promise<LoadableImages> {
  const built: BuiltImage[] = await buildImages(run);
  const refs = await inClusterRefs(run);
  return { refs, images: imagesToLoad(built, refs, run.plan.preload) };
}

/**
 * Starts a version's cluster and loads the images into it: a cluster is ready only with its images.
 * Throws ClusterError or LoadError; after a LoadError the cluster is still running (for diagnostics).
 */
export async function clusterWithImages(run: Run, cluster: PlannedCluster, tools: Container, loadable: LoadableImages): Promise<LiveCluster> {
  const live = await startCluster(run, cluster, tools, await nodeImageFor(cluster.nodeImage, async () => tools));
  await loadImages(run, live, loadable.images);
  return live;
}

/**
 * The whole test path. Throws ConfigError (a step secret not passed) or BuildFailure before any cluster
 * starts; otherwise returns every version's result and the report, whatever failed.
 */
export async function runTests(run: Run, options: { failFast?: boolean } = {}): Promise<TestRun> {
  const stepSecrets = run.plan.steps.flatMap((step) => Object.entries(step.secrets).map(([name, reference]) => ({ path: `e2e.${step.index}.secrets.${name}`, reference })));
  const secrets = await passedSecrets(run, stepSecrets, "step secrets", "test");
  const loadable = await buildForCluster(run);
  const tools = await toolbox(run.plan.kind);
  const { clusters } = run.plan;
  // the preflight's reading and the step image's downloads at once: neither waits for the other
  const [resources, steps] = await Promise.all([engineResources(tools), stepImage(tools)]);
  const parallel = parallelClusters(resources, clusters[0]!.workers, clusters.length, run.plan.parallel);
  if (clusters.length > 1) run.log(`[test] ${clusters.length} Kubernetes versions, ${parallel} at a time`);
  const context: StepContext = { refs: loadable.refs, secrets, stepImage: steps, kubectl: tools.file("/usr/local/bin/kubectl") };
  let stopAfter: string | undefined;
  const versions = await inParallel(clusters, parallel, async (cluster) => {
    if (stopAfter) return notStarted(run, cluster, stopAfter);
    const version = await runVersion(run, cluster, tools, loadable, context);
    if (options.failFast && !versionPassed(version.result)) stopAfter ??= cluster.kubernetes;
    return version;
  });
  const result: TestResult = { images: [...loadable.refs].map(([name, ref]) => ({ name, ref })), versions: versions.map((v) => v.result) };
  run.log(`[test] ${statusOf(result)}: ${versions.filter((v) => versionPassed(v.result)).length} of ${versions.length} versions passed`);
  return { result, report: reportDirectory(result, versions.map((v) => v.files)) };
}

/**
 * The report of a run stopped before any cluster: by its build, or by the cluster tools that could not be
 * had (a download that does not match its checksum). Every version failed at that stage, no step run.
 */
export function stoppedRunReport(run: Run, error: BuildFailure | ClusterError): TestRun {
  const stage = error instanceof BuildFailure ? "build" : "cluster";
  const result: TestResult = { images: [], versions: run.plan.clusters.map((cluster) => notRun(run, cluster, { stage, message: error.message })) };
  // Stryker disable next-line ObjectLiteral: every step here is skipped, and reportDirectory reads artifacts only of steps that ran
  return { result, report: reportDirectory(result, result.versions.map(() => ({ artifacts: new Map() }))) };
}

/** Runs `task` over the items, at most `limit` at once, each started in order; results in the items' order. */
async function inParallel<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  // Stryker disable next-line ArrayDeclaration: every index below the length is assigned before the array is returned
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A version --fail-fast did not start, after another failed. */
function notStarted(run: Run, cluster: PlannedCluster, failed: string): { result: VersionResult; files: VersionFiles } {
  run.log(`[test] ${cluster.kubernetes}: not started (--fail-fast, after ${failed} failed)`);
  const message = `not started: --fail-fast stopped starting versions after Kubernetes ${failed} failed`;
  // Stryker disable next-line ObjectLiteral: the steps of a version not started are all skipped: no artifacts are read
  return { result: notRun(run, cluster, { stage: "cluster", message }), files: { artifacts: new Map() } };
}

/** One version: cluster, load, steps, diagnostics after a failure; the cluster is stopped at the end. */
async function runVersion(run: Run, cluster: PlannedCluster, tools: Container, loadable: LoadableImages, context: StepContext): Promise<{ result: VersionResult; files: VersionFiles }> {
  let live: LiveCluster | undefined;
  try {
    live = await startCluster(run, cluster, tools, await nodeImageFor(cluster.nodeImage, async () => tools));
    await loadImages(run, live, loadable.images);
  } catch (error) {
    // Stryker disable next-line ConditionalExpression: the stages in this try wrap every engine failure; only a bug of the module reaches this
    if (!(error instanceof ClusterError || error instanceof LoadError)) throw error;
    const stage = error instanceof LoadError ? "load" : "cluster";
    run.log(`[test] ${cluster.kubernetes}: the ${stage} stage failed: ${firstLineOf(error)}`);
    const diagnostics = live ? await diagnose(run, live, loadable) : clusterDiagnostics(error);
    await stop(run, live);
    return { result: { ...notRun(run, cluster, { stage, message: error.message }), signatures: diagnostics?.signatures ?? [] }, files: { diagnostics: diagnostics?.directory, artifacts: new Map() } };
  }
  const outcomes = await runSteps(run, live, stepsOf(run, cluster), context);
  const steps = outcomes.map((o) => o.result);
  const failed = steps.some((s) => s.status === "failed" || s.status === "timed-out");
  const diagnostics = failed ? await diagnose(run, live, loadable) : undefined;
  await stop(run, live);
  return {
    // Stryker disable next-line ArrayDeclaration: without diagnostics the version passed, and no rendering shows a passed version's signatures
    result: { ...cellOf(cluster), steps, signatures: diagnostics?.signatures ?? [] },
    files: { diagnostics: diagnostics?.directory, artifacts: new Map(outcomes.map((o) => [o.result.name, o.artifacts])) },
  };
}

/** The steps that run on a cluster: those for its version (e2e[].kubernetes) and its lane (e2e[].lanes). */
function stepsOf(run: Run, cluster: PlannedCluster) {
  return run.plan.steps.filter((step) => (!step.kubernetes || step.kubernetes.includes(cluster.kubernetes)) && (!step.lanes || step.lanes.includes(cluster.lane)));
}

/** How a cluster's results are named: its version, its cluster, and its lane unless it is the plain one. */
function cellOf(cluster: PlannedCluster): Pick<VersionResult, "kubernetes" | "cluster" | "lane"> {
  return { kubernetes: cluster.kubernetes, cluster: cluster.name, ...(cluster.lane !== DEFAULT_LANE && { lane: cluster.lane }) };
}

/** A version whose steps did not run, every one skipped with the failed stage as its reason. */
function notRun(run: Run, cluster: PlannedCluster, failure: StageFailure): VersionResult {
  const reason = `not run: the ${failure.stage} stage failed`;
  // Stryker disable next-line StringLiteral: a skipped step's output is shown nowhere
  const steps: StepResult[] = stepsOf(run, cluster).map((step) => ({ name: step.name, status: "skipped", command: step.run, durationMs: 0, output: "", reason }));
  return { ...cellOf(cluster), failure, steps, signatures: [] };
}

/**
 * What a cluster that did not come up left to read: the diagnostics its ClusterError collected while the
 * service lived (its state, the nodes, the Docker daemon's containers, the control plane's log).
 */
function clusterDiagnostics(error: ClusterError | LoadError): Diagnostics | undefined {
  if (!(error instanceof ClusterError) || error.details.length === 0) return undefined;
  return { directory: dag.directory().withNewFile("cluster.txt", `${error.details.join("\n\n")}\n`), signatures: [] };
}

async function diagnose(run: Run, live: LiveCluster, loadable: LoadableImages): Promise<Diagnostics> {
  run.log(`[diagnostics] ${live.cluster.kubernetes}: collecting from ${live.cluster.name}`);
  return collectDiagnostics(live, loadable.refs);
}

/** Stops a cluster the run is done with, so its resources and its Docker cache are free for the next. */
async function stop(run: Run, live: LiveCluster | undefined): Promise<void> {
  if (!live) return;
  await live.stop().catch((error: unknown) => run.log(`[cluster] ${live.cluster.kubernetes}: stopping ${live.cluster.name} failed: ${messageOf(error)}`));
}

/**
 * The report: summary.md, junit.xml, status, steps/<version>/<step>.log, artifacts/<version>/<step>/ and,
 * after a failure, diagnostics/<version>/.
 */
function reportDirectory(result: TestResult, files: VersionFiles[]): Directory {
  let report = dag
    .directory()
    .withNewFile("summary.md", renderSummary(result))
    .withNewFile("junit.xml", renderJunit(result))
    .withNewFile("status", `${statusOf(result)}\n`);
  result.versions.forEach((version, i) => {
    const { diagnostics, artifacts } = files[i]!;
    for (const step of version.steps.filter((s) => s.status !== "skipped")) {
      report = report.withNewFile(`steps/${cellPath(version)}/${step.name}.log`, step.output);
      const left = artifacts.get(step.name);
      // Stryker disable next-line ConditionalExpression: every step that ran has its artifacts (skipped ones are filtered out above)
      if (left) report = report.withDirectory(`artifacts/${cellPath(version)}/${step.name}`, left);
    }
    if (diagnostics) report = report.withDirectory(`diagnostics/${cellPath(version)}`, diagnostics);
  });
  return report;
}
