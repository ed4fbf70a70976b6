/**
 * What a test run found, as plain data: per Kubernetes version, how far its cluster got and how each step
 * ended. The test stage fills it in; the report (summary.md, junit.xml) and the TestFailure message are
 * rendered from it, so they always agree.
 */

/** How a step ended. */
export type StepStatus = "passed" | "failed" | "timed-out" | "skipped";

/** One e2e step on one cluster. */
export interface StepResult {
  name: string;
  status: StepStatus;
  /** The command, as its argument list. */
  command: string[];
  /** Wall time in milliseconds (0 when skipped). */
  durationMs: number;
  /** The exit code, for a step that ran to its end. */
  exitCode?: number;
  /** What the step printed (stdout, then stderr); empty when skipped. */
  output: string;
  /** Why it was skipped, or how it failed, in one line. */
  reason?: string;
}

/** A stage before the steps that failed for a cluster (the build fails them all): nothing of that cluster ran after it. */
export interface StageFailure {
  stage: "build" | "cluster" | "load" | "steps";
  /** The stage error's whole message (what failed, the log tail, the advice). */
  message: string;
}

/** Why one pod is not well, in a person's words: the failure signature. */
export interface PodSignature {
  namespace: string;
  pod: string;
  /** ImagePullBackOff, ErrImagePull, CrashLoopBackOff, OOMKilled, Pending, Evicted, … */
  reason: string;
  /** One line: what happened and what it means (e.g. which image, and whether it was loaded). */
  summary: string;
  /** Supporting lines: the scheduler's message, the container's last log lines. */
  details: string[];
}

/** One Kubernetes version's cluster and steps. */
export interface VersionResult {
  kubernetes: string;
  /** The lane, when the cluster is not the plain one (lanes in the config). */
  lane?: string;
  /** The Kind cluster's name. */
  cluster: string;
  /** Set when the cluster or the load failed, before any step. */
  failure?: StageFailure;
  /** Every planned step, in the order they ran (skipped ones included). */
  steps: StepResult[];
  /** Failure signatures found by the diagnostics (empty when nothing failed). */
  signatures: PodSignature[];
}

/** A whole test run. */
export interface TestResult {
  /** The images under test and the refs they carry in the cluster. */
  images: { name: string; ref: string }[];
  versions: VersionResult[];
}

/** How a cell of the matrix is named in reports: its version, and its lane when it has one (`1.37.0 cache-off`). */
export function cellName(version: Pick<VersionResult, "kubernetes" | "lane">): string {
  return version.lane ? `${version.kubernetes} ${version.lane}` : version.kubernetes;
}

/** A cell of the matrix as a path segment of the report (`1.37.0-cache-off`). */
export function cellPath(version: Pick<VersionResult, "kubernetes" | "lane">): string {
  return version.lane ? `${version.kubernetes}-${version.lane}` : version.kubernetes;
}

/** Whether a version passed: its cluster and load succeeded and no step failed or timed out. */
export function versionPassed(version: VersionResult): boolean {
  return !version.failure && version.steps.every((step) => step.status === "passed" || step.status === "skipped");
}
