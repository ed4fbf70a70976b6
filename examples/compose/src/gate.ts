/**
 * The step this module adds on top of kind-pipeline: a gate on a run's report. Plain functions over the
 * report's files (its `status` and `junit.xml`), with no Dagger call, so they can be tested without an engine.
 */

/** What the gate requires of a run. */
export interface GatePolicy {
  /** The fewest e2e steps (junit testcases, over every Kubernetes version) that must be in the report. */
  minTests: number;
  /** Whether a skipped step passes (kind-pipeline itself does not count a skipped step as a failure). */
  allowSkipped: boolean;
}

/** The counts kind-pipeline writes on junit.xml's root element: `<testsuites tests=… failures=… errors=… skipped=…>`. */
export interface JunitCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

/** Reads the counts of junit.xml's root `<testsuites>` element. Throws when the element or a count is missing. */
export function junitCounts(xml: string): JunitCounts {
  const root = /<testsuites\b([^>]*)>/.exec(xml);
  if (!root) throw new Error("junit.xml has no <testsuites> element");
  const attributes = root[1] ?? "";
  const count = (name: keyof JunitCounts): number => {
    const found = new RegExp(`\\b${name}="(\\d+)"`).exec(attributes);
    if (!found) throw new Error(`junit.xml's <testsuites> element has no ${name} count`);
    return Number(found[1]);
  };
  return { tests: count("tests"), failures: count("failures"), errors: count("errors"), skipped: count("skipped") };
}

/** Why a run does not pass the gate, one line per problem; empty when it passes. */
export function gateProblems(status: string, junitXml: string, policy: GatePolicy): string[] {
  const problems: string[] = [];
  const state = status.trim();
  if (state !== "passed") problems.push(`kind-pipeline reports the run as ${state === "" ? "(no status)" : state}`);
  const counts = junitCounts(junitXml);
  if (counts.tests < policy.minTests) {
    problems.push(`${counts.tests} e2e step${counts.tests === 1 ? "" : "s"} in the report, fewer than the ${policy.minTests} required (min-tests)`);
  }
  if (!policy.allowSkipped && counts.skipped > 0) {
    problems.push(`${counts.skipped} e2e step${counts.skipped === 1 ? " was" : "s were"} skipped (allow-skipped accepts that)`);
  }
  return problems;
}
