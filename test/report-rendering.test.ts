/**
 * The exact text of the report's renderings (summary.md, junit.xml, the TestFailure message): durations at
 * their boundaries, the table's cells, skipped groups and their reasons, quoting, escaping and fences.
 */
import { describe, expect, it } from "vitest";
import { formatDuration, renderFailure, renderJunit, renderSummary, statusOf } from "../ci/src/report.js";
import type { StageFailure, StepResult, TestResult, VersionResult } from "../ci/src/results.js";

function step(name: string, fields: Partial<StepResult> = {}): StepResult {
  return { name, status: "passed", command: ["sh", "test/e2e/run.sh", name], durationMs: 0, output: "", ...fields };
}

const ESC = "\u001b";

/** A lane whose steps end every way: passed, failed with and without an exit code or reason, timed out, skipped. */
const STEPS_FAILED: VersionResult = {
  kubernetes: "1.37.0",
  lane: "gpu",
  cluster: "kind-pipeline-1-37-0-gpu",
  steps: [
    step("operator", { durationMs: 41_200, exitCode: 0, output: "ok\n" }),
    step("jax", {
      status: "failed",
      command: ["python", "-c", "print('hi there')"],
      durationMs: 999,
      exitCode: 2,
      output: `${ESC}[31mred${ESC}[0m line\nsecond \`\`\`\` x\n`,
    }),
    step("raw", { status: "failed", command: ["a b", "safe@%+=:,./-_x", ""], durationMs: 1_000, reason: "killed by <OOM>" }),
    step("bare", { status: "failed" }),
    step("slow", { status: "timed-out", durationMs: 3_600_000, output: "waiting\n" }),
    step("torch", { status: "skipped", reason: "after jax, which failed" }),
    step("bench", { status: "skipped" }),
    step("docs", { status: "skipped", reason: "after jax, which failed" }),
  ],
  signatures: [
    { namespace: "default", pod: "p1", reason: "CrashLoopBackOff", summary: "uses $IMAGE_<NAME> | *x*", details: [] },
    { namespace: "kube-system", pod: "p2", reason: "Pending", summary: "s", details: ["0/1 nodes ``` ok"] },
  ],
};

/** A version whose load failed: its steps skipped, one with a reason of its own. */
const LOAD_FAILED: VersionResult = {
  kubernetes: "1.36.4",
  cluster: "kind-pipeline-1-36-4",
  failure: { stage: "load", message: "\n  load: failed\nsecond \"line\" ]]> & <x>\n" },
  steps: [step("operator", { status: "skipped" }), step("only-b", { status: "skipped", reason: "own_reason #1" })],
  signatures: [],
};

const FAILED: TestResult = { images: [], versions: [STEPS_FAILED, LOAD_FAILED] };

describe("formatDuration at its boundaries", () => {
  it.each([
    [0, "0s"],
    [49, "0s"],
    [50, "0.1s"],
    [999, "1s"],
    [1_000, "1s"],
    [1_499, "1s"],
    [1_500, "2s"],
    [59_499, "59s"],
    [59_500, "1m"],
    [61_000, "1m1s"],
    [3_599_499, "59m59s"],
    [3_600_000, "1h"],
    [3_601_000, "1h1s"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("summary.md, exactly", () => {
  it("of a passing run: the headline in the singular, the images, and the table", () => {
    const result: TestResult = {
      images: [
        { name: "jax", ref: "kind-pipeline.local/jax:1" },
        { name: "torch", ref: "t:2" },
      ],
      versions: [{ kubernetes: "1.37.0", cluster: "c", steps: [step("a", { durationMs: 50 }), step("b", { status: "skipped" })], signatures: [] }],
    };
    expect(statusOf(result)).toBe("passed");
    expect(renderSummary(result)).toBe(
      [
        "# kind-pipeline test: passed",
        "",
        "1 Kubernetes version passed: 1.37.0. Steps: 1 passed, 1 skipped.",
        "",
        "Images: jax `kind-pipeline.local/jax:1`, torch `t:2`.",
        "",
        "| step | 1.37.0 |",
        "| --- | --- |",
        "| cluster and load | ready |",
        "| a | passed 0.1s |",
        "| b | skipped |",
        "",
      ].join("\n"),
    );
  });

  it("without images or steps: no images line, and `none` for the steps", () => {
    const result: TestResult = { images: [], versions: [{ kubernetes: "1.37.0", cluster: "c", steps: [], signatures: [] }] };
    expect(renderSummary(result)).toBe(
      [
        "# kind-pipeline test: passed",
        "",
        "1 Kubernetes version passed: 1.37.0. Steps: none.",
        "",
        "| step | 1.37.0 |",
        "| --- | --- |",
        "| cluster and load | ready |",
        "",
      ].join("\n"),
    );
  });

  it("of a failed run: every cell, each failed step fenced, skipped groups with their reasons, signatures", () => {
    expect(statusOf(FAILED)).toBe("failed");
    expect(renderSummary(FAILED)).toBe(
      [
        "# kind-pipeline test: failed",
        "",
        "2 of 2 Kubernetes versions failed: 1.37.0 gpu, 1.36.4. Steps: 1 passed, 3 failed, 1 timed out, 5 skipped.",
        "",
        "| step | 1.37.0 gpu | 1.36.4 |",
        "| --- | --- | --- |",
        "| cluster and load | ready | failed: load |",
        "| operator | passed 41s | skipped |",
        "| jax | failed (exit 2) 1s | — |",
        "| raw | failed 1s | — |",
        "| bare | failed 0s | — |",
        "| slow | timed out after 1h | — |",
        "| torch | skipped | — |",
        "| bench | skipped | — |",
        "| docs | skipped | — |",
        "| only-b | — | skipped |",
        "",
        "## Kubernetes 1.37.0 gpu (kind-pipeline-1-37-0-gpu): failed",
        "",
        "### jax: failed with exit code 2 after 1s",
        "",
        "`````text",
        "$ python -c 'print('\\''hi there'\\'')'",
        "red line",
        "second ```` x",
        "`````",
        "",
        "### raw: failed after 1s: killed by \\<OOM\\>",
        "",
        "```text",
        "$ 'a b' safe@%+=:,./-_x ''",
        "```",
        "",
        "### bare: failed after 0s",
        "",
        "```text",
        "$ sh test/e2e/run.sh bare",
        "```",
        "",
        "### slow: timed out after 1h",
        "",
        "```text",
        "$ sh test/e2e/run.sh slow",
        "waiting",
        "```",
        "",
        "### Skipped",
        "",
        "- torch, docs: after jax, which failed",
        "- bench: no reason given",
        "",
        "### Failure signatures",
        "",
        "- **default/p1** CrashLoopBackOff: uses $IMAGE\\_\\<NAME\\> \\| \\*x\\*",
        "- **kube-system/p2** Pending: s",
        "  ````text",
        "  0/1 nodes ``` ok",
        "  ````",
        "",
        "## Kubernetes 1.36.4 (kind-pipeline-1-36-4): failed",
        "",
        "### The load stage failed",
        "",
        "```text",
        "",
        "  load: failed",
        'second "line" ]]> & <x>',
        "",
        "```",
        "",
        "### Skipped",
        "",
        "- operator: not run: the load stage failed",
        "- only-b: own\\_reason \\#1",
        "",
      ].join("\n"),
    );
  });

  it("without a skipped step or a signature: neither section", () => {
    const result: TestResult = {
      images: [],
      versions: [{ kubernetes: "1.35.0", cluster: "c", steps: [step("x", { status: "timed-out", durationMs: 600_000 })], signatures: [] }],
    };
    expect(renderSummary(result)).toBe(
      [
        "# kind-pipeline test: failed",
        "",
        "1 of 1 Kubernetes version failed: 1.35.0. Steps: 1 timed out.",
        "",
        "| step | 1.35.0 |",
        "| --- | --- |",
        "| cluster and load | ready |",
        "| x | timed out after 10m |",
        "",
        "## Kubernetes 1.35.0 (c): failed",
        "",
        "### x: timed out after 10m",
        "",
        "```text",
        "$ sh test/e2e/run.sh x",
        "```",
        "",
      ].join("\n"),
    );
  });

  it("drops terminal color codes from a stage failure's message", () => {
    const result: TestResult = {
      images: [],
      versions: [{ kubernetes: "1.35.0", cluster: "c", failure: { stage: "cluster", message: `${ESC}[1;31mboom${ESC}[0m \`\`\`` }, steps: [], signatures: [] }],
    };
    expect(renderSummary(result)).toContain(["### The cluster stage failed", "", "````text", "boom ```", "````", ""].join("\n"));
  });
});

describe("junit.xml, exactly", () => {
  it("of a failed run: counts and times per suite and in the whole, failures, errors and skipped with their messages", () => {
    const classname = 'classname="kind-pipeline.1.37.0-gpu"';
    expect(renderJunit(FAILED)).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="kind-pipeline" tests="11" failures="4" errors="1" skipped="5" time="3643.199">',
        '  <testsuite name="kubernetes-1.37.0-gpu" tests="8" failures="4" errors="0" skipped="3" time="3643.199">',
        '    <properties><property name="cluster" value="kind-pipeline-1-37-0-gpu"/></properties>',
        `    <testcase ${classname} name="operator" time="41.200"/>`,
        `    <testcase ${classname} name="jax" time="0.999"><failure message="exit code 2" type="StepFailed">$ python -c 'print('\\''hi there'\\'')'\nred line\nsecond \`\`\`\` x</failure></testcase>`,
        `    <testcase ${classname} name="raw" time="1.000"><failure message="killed by &lt;OOM&gt;" type="StepFailed">$ 'a b' safe@%+=:,./-_x ''</failure></testcase>`,
        `    <testcase ${classname} name="bare" time="0.000"><failure message="failed" type="StepFailed">$ sh test/e2e/run.sh bare</failure></testcase>`,
        `    <testcase ${classname} name="slow" time="3600.000"><failure message="timed out after 1h" type="TimedOut">$ sh test/e2e/run.sh slow\nwaiting</failure></testcase>`,
        `    <testcase ${classname} name="torch" time="0.000"><skipped message="after jax, which failed"/></testcase>`,
        `    <testcase ${classname} name="bench" time="0.000"><skipped message="no reason given"/></testcase>`,
        `    <testcase ${classname} name="docs" time="0.000"><skipped message="after jax, which failed"/></testcase>`,
        "  </testsuite>",
        '  <testsuite name="kubernetes-1.36.4" tests="3" failures="0" errors="1" skipped="2" time="0.000">',
        '    <properties><property name="cluster" value="kind-pipeline-1-36-4"/></properties>',
        '    <testcase classname="kind-pipeline.1.36.4" name="load" time="0.000"><error message="load: failed" type="LoadFailed">\n  load: failed\nsecond "line" ]]&gt; &amp; &lt;x&gt;\n</error></testcase>',
        '    <testcase classname="kind-pipeline.1.36.4" name="operator" time="0.000"><skipped message="not run: the load stage failed"/></testcase>',
        '    <testcase classname="kind-pipeline.1.36.4" name="only-b" time="0.000"><skipped message="own_reason #1"/></testcase>',
        "  </testsuite>",
        "</testsuites>",
        "",
      ].join("\n"),
    );
  });

  it.each([
    ["build", "BuildFailed"],
    ["cluster", "ClusterFailed"],
    ["load", "LoadFailed"],
    ["steps", "StepsFailed"],
  ] as const)("names the error of a failed %s stage %s, its message the first line of the stage's", (stage: StageFailure["stage"], type) => {
    const result: TestResult = { images: [], versions: [{ kubernetes: "1.35.0", cluster: "c", failure: { stage, message: "  first\nsecond" }, steps: [], signatures: [] }] };
    expect(renderJunit(result)).toContain(
      `    <testcase classname="kind-pipeline.1.35.0" name="${stage}" time="0.000"><error message="first" type="${type}">  first\nsecond</error></testcase>\n`,
    );
  });

  it("escapes attributes (quotes, line breaks, tabs, markup) and drops what XML cannot carry", () => {
    const result: TestResult = {
      images: [],
      versions: [
        {
          kubernetes: "1.35.0",
          lane: "a&b",
          cluster: `c"1'\t2\r\n3<&>\u0001${ESC}[31m4`,
          steps: [
            step('say "hi"\nnow', {
              status: "failed",
              command: ["echo"],
              durationMs: 1_234,
              reason: "it's\tbad\r",
              output: `x\u0000y\u0007z\t|\u000bv ]]> "q" 'a' <b> & c\uFFFF\uFFFE\n`,
            }),
          ],
          signatures: [],
        },
      ],
    };
    expect(renderJunit(result)).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="kind-pipeline" tests="1" failures="1" errors="0" skipped="0" time="1.234">',
        '  <testsuite name="kubernetes-1.35.0-a&amp;b" tests="1" failures="1" errors="0" skipped="0" time="1.234">',
        '    <properties><property name="cluster" value="c&quot;1&apos;&#9;2&#13;&#10;3&lt;&amp;&gt;4"/></properties>',
        '    <testcase classname="kind-pipeline.1.35.0-a&amp;b" name="say &quot;hi&quot;&#10;now" time="1.234">' +
          `<failure message="it&apos;s&#9;bad&#13;" type="StepFailed">$ echo\nxyz\t|v ]]&gt; "q" 'a' &lt;b&gt; &amp; c</failure></testcase>`,
        "  </testsuite>",
        "</testsuites>",
        "",
      ].join("\n"),
    );
  });
});

describe("the TestFailure message, exactly", () => {
  it("says which versions failed and why, each failed step with its command and output tail, skipped groups and signatures", () => {
    expect(renderFailure(FAILED)).toBe(
      [
        "test: 2 of 2 Kubernetes versions failed: 1.37.0 gpu (failed steps: jax, raw, bare, slow), 1.36.4 (the load stage failed).",
        "",
        "Kubernetes 1.37.0 gpu (cluster kind-pipeline-1-37-0-gpu)",
        "  step jax: failed with exit code 2 after 1s",
        "    command: python -c 'print('\\''hi there'\\'')'",
        "    last 2 lines of output:",
        "      | red line",
        "      | second ```` x",
        "  step raw: failed after 1s: killed by <OOM>",
        "    command: 'a b' safe@%+=:,./-_x ''",
        "    (no output)",
        "  step bare: failed after 0s",
        "    command: sh test/e2e/run.sh bare",
        "    (no output)",
        "  step slow: timed out after 1h",
        "    command: sh test/e2e/run.sh slow",
        "    last 1 line of output:",
        "      | waiting",
        "  skipped torch, docs: after jax, which failed",
        "  skipped bench: no reason given",
        "  failure signatures:",
        "    default/p1: CrashLoopBackOff: uses $IMAGE_<NAME> | *x*",
        "    kube-system/p2: Pending: s",
        "      0/1 nodes ``` ok",
        "",
        "Kubernetes 1.36.4 (cluster kind-pipeline-1-36-4)",
        "  the load stage failed:",
        "    | ",
        "    |   load: failed",
        '    | second "line" ]]> & <x>',
        "  skipped operator: not run: the load stage failed",
        "  skipped only-b: own_reason #1",
        "",
        "Get the whole report with `dagger call test-report export --path=report`; open a shell on the cluster with " +
          "`dagger call cluster --kubernetes=1.37.0 up --ports 6443:6443`.",
      ].join("\n"),
    );
  });

  it("without a signature: no signatures line", () => {
    const result: TestResult = {
      images: [],
      versions: [{ kubernetes: "1.35.0", cluster: "c", steps: [step("x", { status: "failed", exitCode: 1, durationMs: 59_500, output: "a\nb\nc\n" })], signatures: [] }],
    };
    expect(renderFailure(result)).toBe(
      [
        "test: 1 of 1 Kubernetes versions failed: 1.35.0 (failed steps: x).",
        "",
        "Kubernetes 1.35.0 (cluster c)",
        "  step x: failed with exit code 1 after 1m",
        "    command: sh test/e2e/run.sh x",
        "    last 3 lines of output:",
        "      | a",
        "      | b",
        "      | c",
        "",
        "Get the whole report with `dagger call test-report export --path=report`; open a shell on the cluster with " +
          "`dagger call cluster --kubernetes=1.35.0 up --ports 6443:6443`.",
      ].join("\n"),
    );
  });

  it("of a run with no failed version: the advice without a version", () => {
    const result: TestResult = { images: [], versions: [{ kubernetes: "1.35.0", cluster: "c", steps: [step("x")], signatures: [] }] };
    expect(renderFailure(result)).toBe(
      [
        "test: 0 of 1 Kubernetes versions failed: .",
        "",
        "Get the whole report with `dagger call test-report export --path=report`; open a shell on the cluster with " +
          "`dagger call cluster up --ports 6443:6443`.",
      ].join("\n"),
    );
  });
});
