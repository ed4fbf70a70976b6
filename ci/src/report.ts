/**
 * The report of a test run, rendered from its results so that all of it agrees: summary.md for people,
 * junit.xml for CI test reporters (GitHub and GitLab), and the message of the TestFailure that
 * `dagger call test` ends with. Pure: the test stage writes the files and throws the error.
 */
import { lastLines } from "./errors.js";
import { cellName, cellPath, versionPassed, type PodSignature, type StageFailure, type StepResult, type TestResult, type VersionResult } from "./results.js";

/** Whether a whole run passed: every version's cluster, load and steps. */
export function statusOf(result: TestResult): "passed" | "failed" {
  return result.versions.every(versionPassed) ? "passed" : "failed";
}

/** A duration for people: `0.4s` under a second, then whole seconds and minutes: `41s`, `1m30s`, `10m`, `1h5m`. */
export function formatDuration(ms: number): string {
  // Stryker disable next-line EqualityOperator: 1000 ms is "1s" either way
  if (ms < 1000) return `${Math.round(ms / 100) / 10}s`;
  const total = Math.round(ms / 1000);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  return [h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean).join("");
}

/**
 * summary.md: the headline, a table of every step on every version, and for each failed version what
 * failed (the stage failure, each failed step with the tail of its output), what was skipped, and the
 * failure signatures of its pods. A passing run is the headline and the table.
 */
export function renderSummary(result: TestResult): string {
  const failed = result.versions.filter((v) => !versionPassed(v));
  return [
    `# kind-pipeline test: ${statusOf(result)}`,
    "",
    headline(result),
    ...(result.images.length > 0 ? ["", `Images: ${result.images.map((i) => `${i.name} \`${i.ref}\``).join(", ")}.`] : []),
    "",
    ...summaryTable(result),
    ...failed.flatMap(summarySection),
  ].join("\n") + "\n";
}

/**
 * junit.xml, as GitHub's and GitLab's test reporters read it: one testsuite per Kubernetes version, one
 * testcase per step (a failure, a TimedOut failure, or skipped with its reason), and for a cluster or load
 * that failed, a testcase named after that stage with an error. Times in seconds.
 */
export function renderJunit(result: TestResult): string {
  const suites = result.versions.map((version) => ({ version, cases: junitCases(version) }));
  const all = suites.flatMap((s) => s.cases);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="kind-pipeline" ${countAttributes(all)}>`,
    ...suites.flatMap(({ version, cases }) => [
      `  <testsuite name="kubernetes-${xmlAttribute(cellPath(version))}" ${countAttributes(cases)}>`,
      `    <properties><property name="cluster" value="${xmlAttribute(version.cluster)}"/></properties>`,
      ...cases.map((c) => junitCase(version, c)),
      `  </testsuite>`,
    ]),
    `</testsuites>`,
  ].join("\n") + "\n";
}

/**
 * The message of the TestFailure `dagger call test` throws, for a terminal: which versions failed and
 * why; each failed step with its command, exit code, duration and the tail of its output; the skipped
 * steps; the failure signatures; and where to look next. Only failed steps' output is quoted.
 */
export function renderFailure(result: TestResult): string {
  const failed = result.versions.filter((v) => !versionPassed(v));
  const first = failed[0]?.kubernetes;
  return [
    `test: ${failed.length} of ${result.versions.length} Kubernetes versions failed: ${failed.map(failedWhat).join(", ")}.`,
    ...failed.flatMap((version) => ["", ...failureSection(version)]),
    "",
    "Get the whole report with `dagger call test-report export --path=report`; open a shell on the cluster with " +
      `\`dagger call cluster${first ? ` --kubernetes=${first}` : ""} up --ports 6443:6443\`.`,
  ].join("\n");
}

// Shared by the three renderings.

const STATUS_WORDS: Record<StepResult["status"], string> = { passed: "passed", failed: "failed", "timed-out": "timed out", skipped: "skipped" };

function headline(result: TestResult): string {
  const failed = result.versions.filter((v) => !versionPassed(v)).map(cellName);
  const versions = result.versions.map(cellName);
  const steps = `Steps: ${stepCounts(result.versions.flatMap((v) => v.steps))}.`;
  if (failed.length === 0) return `${plural(versions.length, "Kubernetes version")} passed: ${versions.join(", ")}. ${steps}`;
  return `${failed.length} of ${plural(versions.length, "Kubernetes version")} failed: ${failed.join(", ")}. ${steps}`;
}

/** `3 passed, 1 failed, 2 skipped`: the count of each status that occurs. */
function stepCounts(steps: StepResult[]): string {
  const counts = (Object.keys(STATUS_WORDS) as StepResult["status"][])
    .map((status) => [steps.filter((s) => s.status === status).length, STATUS_WORDS[status]] as const)
    .filter(([n]) => n > 0);
  return counts.map(([n, word]) => `${n} ${word}`).join(", ") || "none";
}

/** How a failed step ended, in a few words: `failed with exit code 1 after 12s`, `timed out after 10m`. */
function outcome(step: StepResult): string {
  const took = formatDuration(step.durationMs);
  if (step.status === "timed-out") return `timed out after ${took}`;
  return step.exitCode === undefined ? `failed after ${took}${step.reason ? `: ${step.reason}` : ""}` : `failed with exit code ${step.exitCode} after ${took}`;
}

function isFailed(step: StepResult): boolean {
  return step.status === "failed" || step.status === "timed-out";
}

/** The skipped steps of a version, grouped by their reason. */
function skippedGroups(version: VersionResult): { reason: string; names: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const step of version.steps.filter((s) => s.status === "skipped")) {
    const reason = skipReason(version, step);
    groups.set(reason, [...(groups.get(reason) ?? []), step.name]);
  }
  return [...groups].map(([reason, names]) => ({ reason, names }));
}

/** Why a step was skipped: its own reason, else the stage failure that stopped its cluster. */
function skipReason(version: VersionResult, step: StepResult): string {
  return step.reason ?? (version.failure ? `not run: the ${version.failure.stage} stage failed` : "no reason given");
}

/** The last lines of a step's output, without terminal color codes. */
function outputTail(step: StepResult): string[] {
  return lastLines(withoutAnsi(step.output));
}

/** A command line as a shell would take it back: arguments with spaces or quotes are single-quoted. */
function commandLine(command: string[]): string {
  return command.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(" ");
}

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

function withoutAnsi(text: string): string {
  return text.replace(ANSI, "");
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

// summary.md

function summaryTable(result: TestResult): string[] {
  const names = [...new Set(result.versions.flatMap((v) => v.steps.map((s) => s.name)))];
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    row(["step", ...result.versions.map(cellName)]),
    row(["---", ...result.versions.map(() => "---")]),
    row(["cluster and load", ...result.versions.map((v) => (v.failure ? `failed: ${v.failure.stage}` : "ready"))]),
    ...names.map((name) => row([name, ...result.versions.map((v) => cell(v.steps.find((s) => s.name === name)))])),
  ];
}

/** A table cell: `passed 41s`, `failed (exit 1) 12s`, `timed out after 10m`, `skipped`. */
function cell(step: StepResult | undefined): string {
  if (!step) return "—";
  const took = formatDuration(step.durationMs);
  switch (step.status) {
    case "passed":
      return `passed ${took}`;
    case "failed":
      return `failed${step.exitCode === undefined ? "" : ` (exit ${step.exitCode})`} ${took}`;
    case "timed-out":
      return `timed out after ${took}`;
    case "skipped":
      return "skipped";
  }
}

function summarySection(version: VersionResult): string[] {
  const out = ["", `## Kubernetes ${cellName(version)} (${version.cluster}): failed`];
  if (version.failure) out.push("", `### The ${version.failure.stage} stage failed`, "", ...fenced(withoutAnsi(version.failure.message).split("\n")));
  for (const step of version.steps.filter(isFailed)) {
    const tail = outputTail(step);
    out.push("", `### ${step.name}: ${markdownText(outcome(step))}`, "", ...fenced([`$ ${commandLine(step.command)}`, ...tail]));
  }
  const skipped = skippedGroups(version);
  if (skipped.length > 0) out.push("", "### Skipped", "", ...skipped.map((g) => `- ${g.names.join(", ")}: ${markdownText(g.reason)}`));
  if (version.signatures.length > 0) out.push("", "### Failure signatures", "", ...version.signatures.flatMap(summarySignature));
  return out;
}

function summarySignature(signature: PodSignature): string[] {
  const head = `- **${signature.namespace}/${signature.pod}** ${signature.reason}: ${markdownText(signature.summary)}`;
  return signature.details.length > 0 ? [head, ...fenced(signature.details).map((l) => `  ${l}`)] : [head];
}

/** Lines in a fenced code block, the fence longer than any run of backticks in them. */
function fenced(lines: string[]): string[] {
  const longest = Math.max(2, ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((run) => run.length))));
  const fence = "`".repeat(longest + 1);
  return [`${fence}text`, ...lines, fence];
}

/** Text with Markdown's punctuation escaped, so `$IMAGE_<NAME>` shows as written. */
function markdownText(text: string): string {
  return text.replace(/[\\`*_[\]<>|#]/g, "\\$&");
}

// junit.xml

type JunitCase =
  | { name: string; ms: number; kind: "passed" }
  | { name: string; ms: number; kind: "skipped"; message: string }
  | { name: string; ms: number; kind: "failure" | "error"; type: string; message: string; text: string };

/** The testcases of a version: the failed stage first, if any, then every step. */
function junitCases(version: VersionResult): JunitCase[] {
  const { failure } = version;
  const stage: JunitCase[] = failure
    ? [{ name: failure.stage, ms: 0, kind: "error", type: STAGE_ERRORS[failure.stage], message: firstLine(failure.message), text: failure.message }]
    : [];
  return [...stage, ...version.steps.map((step) => stepCase(version, step))];
}

/** The error type of the testcase of a failed stage. */
const STAGE_ERRORS: Record<StageFailure["stage"], string> = { build: "BuildFailed", cluster: "ClusterFailed", load: "LoadFailed", steps: "StepsFailed" };

function stepCase(version: VersionResult, step: StepResult): JunitCase {
  const base = { name: step.name, ms: step.durationMs };
  const text = [`$ ${commandLine(step.command)}`, ...outputTail(step)].join("\n");
  switch (step.status) {
    case "passed":
      return { ...base, kind: "passed" };
    case "skipped":
      return { ...base, kind: "skipped", message: skipReason(version, step) };
    case "timed-out":
      return { ...base, kind: "failure", type: "TimedOut", message: `timed out after ${formatDuration(step.durationMs)}`, text };
    case "failed":
      return { ...base, kind: "failure", type: "StepFailed", message: step.reason ?? (step.exitCode === undefined ? "failed" : `exit code ${step.exitCode}`), text };
  }
}

function junitCase(version: VersionResult, c: JunitCase): string {
  const open = `    <testcase classname="kind-pipeline.${xmlAttribute(cellPath(version))}" name="${xmlAttribute(c.name)}" time="${junitSeconds(c.ms)}"`;
  switch (c.kind) {
    case "passed":
      return `${open}/>`;
    case "skipped":
      return `${open}><skipped message="${xmlAttribute(c.message)}"/></testcase>`;
    default:
      return `${open}><${c.kind} message="${xmlAttribute(c.message)}" type="${c.type}">${xmlText(c.text)}</${c.kind}></testcase>`;
  }
}

function countAttributes(cases: JunitCase[]): string {
  const count = (kind: JunitCase["kind"]) => cases.filter((c) => c.kind === kind).length;
  const ms = cases.reduce((sum, c) => sum + c.ms, 0);
  return `tests="${cases.length}" failures="${count("failure")}" errors="${count("error")}" skipped="${count("skipped")}" time="${junitSeconds(ms)}"`;
}

function junitSeconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function firstLine(text: string): string {
  // Stryker disable next-line StringLiteral: split always gives a first element; the fallback only satisfies the type checker
  return text.trim().split("\n")[0] ?? "";
}

/** Characters XML 1.0 does not allow, even escaped: most control characters, lone surrogates, U+FFFE and U+FFFF. */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Text content for XML: color codes and characters XML cannot carry dropped, markup escaped (`]]>` included). */
function xmlText(text: string): string {
  return withoutAnsi(text).replace(NOT_XML, "").replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** An attribute value for XML, quotes and line breaks escaped so they survive attribute normalization. */
function xmlAttribute(text: string): string {
  return xmlText(text).replaceAll('"', "&quot;").replaceAll("'", "&apos;").replaceAll("\n", "&#10;").replaceAll("\r", "&#13;").replaceAll("\t", "&#9;");
}

// The TestFailure message

/** A failed version in a few words: `1.37.0 (failed steps: jax, slow)`, `1.36.4 (the load stage failed)`. */
function failedWhat(version: VersionResult): string {
  if (version.failure) return `${cellName(version)} (the ${version.failure.stage} stage failed)`;
  return `${cellName(version)} (failed steps: ${version.steps.filter(isFailed).map((s) => s.name).join(", ")})`;
}

function failureSection(version: VersionResult): string[] {
  const out = [`Kubernetes ${cellName(version)} (cluster ${version.cluster})`];
  if (version.failure) out.push(`  the ${version.failure.stage} stage failed:`, ...indent(version.failure.message.trimEnd().split("\n"), "    | "));
  for (const step of version.steps.filter(isFailed)) {
    const tail = outputTail(step);
    out.push(
      `  step ${step.name}: ${outcome(step)}`,
      `    command: ${commandLine(step.command)}`,
      ...(tail.length > 0 ? [`    last ${plural(tail.length, "line")} of output:`, ...indent(tail, "      | ")] : ["    (no output)"]),
    );
  }
  for (const { reason, names } of skippedGroups(version)) out.push(`  skipped ${names.join(", ")}: ${reason}`);
  if (version.signatures.length > 0) out.push("  failure signatures:", ...version.signatures.flatMap(failureSignature));
  return out;
}

function failureSignature(signature: PodSignature): string[] {
  return [`    ${signature.namespace}/${signature.pod}: ${signature.reason}: ${signature.summary}`, ...indent(signature.details, "      ")];
}

function indent(lines: string[], prefix: string): string[] {
  return lines.map((l) => `${prefix}${l}`);
}
