/**
 * The e2e stage: the plan's steps on one live cluster, one at a time (real suites deploy into shared
 * namespaces), in run order: `after` order, then file order. A failed, timed-out or skipped step skips
 * every step after it; steps that do not depend on it still run, so one run reports every independent
 * failure.
 *
 * The step contract: each step runs from the source root (/src), bound to the cluster service, with
 * KUBECONFIG, IMAGE_<NAME> (the image's in-cluster ref), KIND_CLUSTER_NAME, KUBERNETES_VERSION,
 * DOCKER_HOST (the cluster's Docker-in-Docker daemon, for `kind` and `docker`), its `env` (and its lane's,
 * which win), its secret variables, and KIND_PIPELINE_ARTIFACTS, a directory whose files land in the report.
 */
import { dag, ExecError, ReturnType, type Container, type Directory, type File, type Secret } from "@dagger.io/dagger";
import { DOCKER_PORT, KUBECONFIG, observing, type LiveCluster } from "./cluster.js";
import { firstLineOf, messageOf } from "./errors.js";
import type { PlannedStep } from "./plan.js";
import type { StepResult } from "./results.js";
import type { Run } from "./run.js";
import { normalizeReference } from "./secrets.js";
import { withTimeout } from "./waits.js";

/** Where a step finds the source and its artifacts directory (its kubeconfig is where a bound client has it). */
const SOURCE = "/src";
const ARTIFACTS = "/kind-pipeline/artifacts";

/**
 * How long past its timeout the pipeline waits for a step before it reports it timed out itself: the
 * step's own `timeout` stops it in the engine; this covers an engine that does not answer.
 */
export const STEP_GRACE_SECONDS = 60;

/** What every step of a run shares: the images' refs, the secrets passed, the default image and kubectl. */
export interface StepContext {
  /** Image name → in-cluster ref. */
  refs: Map<string, string>;
  /** Passed secrets by normalized reference. */
  secrets: Map<string, Secret>;
  /** The default step image: kubectl, kind, helm, kustomize and the docker CLI. */
  stepImage: Container;
  /** The pinned kubectl, added to a step's own image. */
  kubectl: File;
}

/** A step's result and the artifacts it left (an empty directory when it left none or did not run). */
export interface StepOutcome {
  result: StepResult;
  artifacts: Directory;
}

/**
 * Runs the steps of one cluster in order and returns every step's outcome, skipped ones included. Never
 * throws for a step that fails: its result says how.
 */
export async function runSteps(run: Run, live: LiveCluster, steps: PlannedStep[], context: StepContext): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    const absent = step.after.find((name) => !steps.some((s) => s.name === name));
    const blocker = step.after.map((name) => outcomes.find((o) => o.result.name === name)?.result).find((r) => r && r.status !== "passed");
    if (absent || blocker) {
      const reason = absent
        ? `after ${absent}, which does not run on Kubernetes ${live.cluster.kubernetes}`
        : `after ${blocker!.name}, which ${blocker!.status === "skipped" ? "was skipped" : blocker!.status === "timed-out" ? "timed out" : "failed"}`;
      run.log(`[e2e] ${live.cluster.kubernetes}: ${step.name} skipped (${reason})`);
      // Stryker disable next-line StringLiteral: a skipped step's output is shown nowhere (no log file, no junit text, not quoted)
      outcomes.push({ result: { name: step.name, status: "skipped", command: step.run, durationMs: 0, output: "", reason }, artifacts: dag.directory() });
      continue;
    }
    outcomes.push(await runStep(run, live, step, context));
  }
  return outcomes;
}

/**
 * How a step runs: under `timeout -s TERM <seconds>` (coreutils or busybox), so that the engine stops it
 * at its limit; an exit code of 128–191 (killed by a signal: TERM at the limit, KILL when out of memory)
 * is moved up by 64, since the engine rejects those codes even with ReturnType.Any (core/container.go
 * ReturnCodes) and the step's output and artifacts would be lost. The script is a constant; the step's
 * arguments reach it as its positional parameters, never as shell text.
 */
const STEP_WRAPPER = 'timeout -s TERM "$@"; code=$?; if [ "$code" -ge 128 ] && [ "$code" -le 191 ]; then exit $((code + 64)); fi; exit "$code"';

/** One step: its container, run within its time limit, its output, exit code and artifacts. */
async function runStep(run: Run, live: LiveCluster, step: PlannedStep, context: StepContext): Promise<StepOutcome> {
  const at = `[e2e] ${live.cluster.kubernetes}: ${step.name}`;
  run.log(`${at} started (timeout ${step.timeoutSeconds}s)`);
  const started = Date.now();
  const args = ["sh", "-c", STEP_WRAPPER, "kind-pipeline-step", String(step.timeoutSeconds), ...step.run];
  const result = (fields: Omit<StepResult, "name" | "command" | "durationMs">): StepResult => ({ name: step.name, command: step.run, durationMs: Date.now() - started, ...fields });
  try {
    const executed = await withTimeout(
      stepContainer(run, live, step, context).withExec(args, { expect: ReturnType.Any }).sync(),
      step.timeoutSeconds + STEP_GRACE_SECONDS,
      () => new StepTimeout(),
    );
    const [wrapped, output] = await Promise.all([executed.exitCode(), executed.combinedOutput()]);
    const exitCode = wrapped >= 192 ? wrapped - 64 : wrapped;
    // any failure once the limit has passed is the limit's doing (timeout's 124, TERM's 143, or a command that trapped TERM)
    const status = exitCode === 0 ? "passed" : Date.now() - started >= step.timeoutSeconds * 1000 ? "timed-out" : "failed";
    const reason = status === "passed" ? undefined : reasonOf(status, exitCode, step);
    run.log(`${at} ${status} in ${seconds(Date.now() - started)}${reason ? `: ${reason}` : ""}`);
    return { result: result({ status, exitCode, output, ...(reason && { reason }) }), artifacts: executed.directory(ARTIFACTS) };
  } catch (error) {
    const timedOut = error instanceof StepTimeout;
    const reason = timedOut ? reasonOf("timed-out", undefined, step) : `the engine could not run it: ${firstLineOf(error)}`;
    run.log(`${at} ${timedOut ? "timed-out" : "failed"} after ${seconds(Date.now() - started)}: ${reason}`);
    const output = error instanceof ExecError ? `${error.stdout}${error.stderr}` : messageOf(error);
    return { result: result({ status: timedOut ? "timed-out" : "failed", output, reason }), artifacts: dag.directory() };
  }
}

/** The pipeline stopped waiting for a step that its own `timeout` did not end. */
class StepTimeout extends Error {}

function reasonOf(status: "failed" | "timed-out", exitCode: number | undefined, step: PlannedStep): string {
  if (status === "timed-out") return `timed out after ${step.timeoutSeconds}s (e2e timeout)`;
  return exitCode !== undefined && exitCode >= 128 ? `exit code ${exitCode} (killed by signal ${exitCode - 128})` : `exit code ${exitCode}`;
}

/**
 * The container a step runs in: its image (the default step image, or its own with kubectl added), the
 * source at /src as the working directory, bound to the cluster, with the step contract's variables.
 */
function stepContainer(run: Run, live: LiveCluster, step: PlannedStep, context: StepContext): Container {
  const { cluster } = live;
  const image = step.image ? dag.container().from(step.image).withFile("/usr/local/bin/kubectl", context.kubectl, { permissions: 0o755 }) : context.stepImage;
  const variables: [string, string][] = [
    ["KUBECONFIG", KUBECONFIG],
    ["KIND_CLUSTER_NAME", cluster.name],
    ["KUBERNETES_VERSION", cluster.kubernetes],
    ["DOCKER_HOST", `tcp://${cluster.name}:${DOCKER_PORT}`],
    ["KIND_PIPELINE_ARTIFACTS", ARTIFACTS],
    ...[...context.refs].map(([name, ref]): [string, string] => [imageVariable(name), ref]),
    ...Object.entries(step.env),
    ...Object.entries(cluster.env), // the lane's values win: they are what the lane is for
  ];
  const configured = image
    .withServiceBinding(cluster.name, live.service)
    .withFile(KUBECONFIG, live.kubeconfig)
    .withDirectory(ARTIFACTS, dag.directory())
    // mounted, not copied: a large repository costs nothing per step, and a step may still write into it
    .withMountedDirectory(SOURCE, run.source)
    .withWorkdir(SOURCE);
  const withVariables = variables.reduce((c, [name, value]) => c.withEnvVariable(name, value), configured);
  const withSecrets = Object.entries(step.secrets).reduce(
    (c, [name, reference]) => c.withSecretVariable(name, context.secrets.get(normalizeReference(reference))!),
    withVariables,
  );
  // a step observes (and changes) a live cluster: never answered from the engine's cache
  return observing(withSecrets);
}

/** `IMAGE_<NAME>`: the image's name upper-cased, `-` as `_`. */
export function imageVariable(name: string): string {
  return `IMAGE_${name.toUpperCase().replaceAll("-", "_")}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
