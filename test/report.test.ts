/**
 * The report of a test run: summary.md, junit.xml (read back with a real XML parser) and the TestFailure
 * message, all rendered from the same results.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { formatDuration, renderFailure, renderJunit, renderSummary, statusOf } from "../ci/src/report.js";
import { cellName, cellPath, type StepResult, type TestResult, type VersionResult } from "../ci/src/results.js";

const CANARY = "CANARY-7f3e-passing-step-output";

const IMAGES = [
  { name: "jax", ref: "kind-pipeline.local/jax:build-3f2a9c" },
  { name: "pytorch", ref: "kind-pipeline.local/pytorch:build-81b07e" },
];

/** 50 numbered lines of a failing job's output: only the last 40 are quoted. */
const JAX_OUTPUT = [...Array.from({ length: 49 }, (_, i) => `jax line ${i + 1}`), "error: job jax-smoke failed: BackoffLimitExceeded"].join("\n") + "\n";

function step(name: string, fields: Partial<StepResult> = {}): StepResult {
  return { name, status: "passed", command: ["sh", "test/e2e/run.sh", name], durationMs: 0, output: "", ...fields };
}

const PASSING_137: VersionResult = {
  kubernetes: "1.37.0",
  cluster: "kind-pipeline-1-37-0",
  steps: [step("operator", { durationMs: 41_200, exitCode: 0, output: "ok\n" }), step("jax-smoke", { durationMs: 90_000, exitCode: 0, output: "ok\n" })],
  signatures: [],
};

const PASSING: TestResult = {
  images: IMAGES,
  versions: [PASSING_137, { ...PASSING_137, kubernetes: "1.36.4", cluster: "kind-pipeline-1-36-4" }],
};

/** Two versions: one with a failed step, a timed-out step and a skipped dependent; one whose cluster failed. */
const MIXED: TestResult = {
  images: IMAGES,
  versions: [
    {
      kubernetes: "1.37.0",
      cluster: "kind-pipeline-1-37-0",
      steps: [
        step("operator", { command: ["go", "test", "./test/e2e/..."], durationMs: 41_200, exitCode: 0, output: `ok  example.com/operator\n${CANARY}\n` }),
        step("jax-smoke", { status: "failed", command: ["sh", "-c", "kubectl wait --for=condition=complete job/jax-smoke"], durationMs: 12_345, exitCode: 1, output: JAX_OUTPUT }),
        step("slow", { status: "timed-out", durationMs: 600_000, output: "waiting for job/slow\n" }),
        step("pytorch-smoke", { status: "skipped", reason: "after jax-smoke, which failed" }),
      ],
      signatures: [
        {
          namespace: "default",
          pod: "jax-smoke-x7k2p",
          reason: "ErrImagePull",
          summary: "image jax:latest of container \"train\" was not loaded into the cluster: …; make the manifest use $IMAGE_JAX or set images.jax.ref",
          details: ["pull access denied"],
        },
      ],
    },
    {
      kubernetes: "1.36.4",
      cluster: "kind-pipeline-1-36-4",
      failure: { stage: "cluster", message: "cluster: kind create cluster failed for 1.36.4\n  | ERROR: failed to create cluster: node(s) already exist" },
      steps: ["operator", "jax-smoke", "slow", "pytorch-smoke"].map((name) => step(name, { status: "skipped" })),
      signatures: [],
    },
  ],
};

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseAttributeValue: false,
  isArray: (name) => ["testsuite", "testcase"].includes(name),
});

interface Case {
  name: string;
  classname: string;
  time: string;
  failure?: { "#text"?: string; message: string; type: string };
  error?: { "#text"?: string; message: string; type: string };
  skipped?: { message: string };
}
interface Suite {
  name: string;
  tests: string;
  failures: string;
  errors: string;
  skipped: string;
  time: string;
  testcase: Case[];
}

function parseJunit(xml: string): { testsuites: Suite & { testsuite: Suite[] } } {
  expect(XMLValidator.validate(xml)).toBe(true);
  return parser.parse(xml) as { testsuites: Suite & { testsuite: Suite[] } };
}

/** The counts a suite's testcases add up to, as the attributes should say them. */
function countsOf(cases: Case[]) {
  return {
    tests: String(cases.length),
    failures: String(cases.filter((c) => c.failure).length),
    errors: String(cases.filter((c) => c.error).length),
    skipped: String(cases.filter((c) => c.skipped !== undefined).length),
  };
}

describe("cells of the matrix", () => {
  it("are named by their version, and their lane when they have one: in text with a space, in paths with a dash", () => {
    expect(cellName({ kubernetes: "1.37.0" })).toBe("1.37.0");
    expect(cellName({ kubernetes: "1.37.0", lane: "cache-off" })).toBe("1.37.0 cache-off");
    expect(cellPath({ kubernetes: "1.37.0", lane: "cache-off" })).toBe("1.37.0-cache-off");
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [40, "0s"],
    [400, "0.4s"],
    [960, "1s"],
    [1_000, "1s"],
    [41_200, "41s"],
    [59_400, "59s"],
    [90_000, "1m30s"],
    [600_000, "10m"],
    [3_661_000, "1h1m1s"],
    [3_900_000, "1h5m"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("statusOf", () => {
  it.each([
    ["every step passed", "passed", PASSING],
    ["a step failed on one version", "failed", MIXED],
    ["only a cluster failed", "failed", { images: [], versions: [MIXED.versions[1]!] }],
    ["steps skipped, none failed", "passed", { images: [], versions: [{ ...PASSING_137, steps: [step("a"), step("b", { status: "skipped" })] }] }],
  ])("%s: %s", (_, status, result) => {
    expect(statusOf(result as TestResult)).toBe(status);
  });
});

describe("junit.xml", () => {
  it("counts tests, failures, errors and skipped the same in each suite, in the whole, and in the data", () => {
    const { testsuites } = parseJunit(renderJunit(MIXED));
    const [v137, v136] = testsuites.testsuite;
    expect(v137).toMatchObject({ name: "kubernetes-1.37.0", tests: "4", failures: "2", errors: "0", skipped: "1", time: "653.545" });
    expect(v136).toMatchObject({ name: "kubernetes-1.36.4", tests: "5", failures: "0", errors: "1", skipped: "4", time: "0.000" });
    expect(testsuites).toMatchObject({ tests: "9", failures: "2", errors: "1", skipped: "5", time: "653.545" });
    for (const suite of testsuites.testsuite) expect(suite).toMatchObject(countsOf(suite.testcase));
    expect(testsuites).toMatchObject(countsOf(testsuites.testsuite.flatMap((s) => s.testcase)));
  });

  it("has one testcase per step, a failure per failed or timed-out step with its output tail, skipped ones with their reason", () => {
    const [cases = []] = parseJunit(renderJunit(MIXED)).testsuites.testsuite.map((s) => s.testcase);
    expect(cases.map((c) => [c.classname, c.name, c.time])).toEqual([
      ["kind-pipeline.1.37.0", "operator", "41.200"],
      ["kind-pipeline.1.37.0", "jax-smoke", "12.345"],
      ["kind-pipeline.1.37.0", "slow", "600.000"],
      ["kind-pipeline.1.37.0", "pytorch-smoke", "0.000"],
    ]);
    const [operator, jax, slow, pytorch] = cases;
    expect(operator?.failure).toBeUndefined();
    expect(jax?.failure).toMatchObject({ message: "exit code 1", type: "StepFailed" });
    const text = jax?.failure?.["#text"] ?? "";
    expect(text.split("\n")).toEqual([
      "$ sh -c 'kubectl wait --for=condition=complete job/jax-smoke'",
      ...Array.from({ length: 39 }, (_, i) => `jax line ${i + 11}`),
      "error: job jax-smoke failed: BackoffLimitExceeded",
    ]);
    expect(slow?.failure).toMatchObject({ message: "timed out after 10m", type: "TimedOut" });
    expect(pytorch?.skipped).toEqual({ message: "after jax-smoke, which failed" });
  });

  it("names a failed cluster as a testcase with an error, and skips every step for it", () => {
    const [, cases = []] = parseJunit(renderJunit(MIXED)).testsuites.testsuite.map((s) => s.testcase);
    expect(cases.map((c) => c.name)).toEqual(["cluster", "operator", "jax-smoke", "slow", "pytorch-smoke"]);
    expect(cases[0]?.error).toEqual({
      message: "cluster: kind create cluster failed for 1.36.4",
      type: "ClusterFailed",
      "#text": "cluster: kind create cluster failed for 1.36.4\n  | ERROR: failed to create cluster: node(s) already exist",
    });
    for (const c of cases.slice(1)) expect(c.skipped).toEqual({ message: "not run: the cluster stage failed" });
  });

  it("escapes markup and quotes, and drops what XML cannot carry", () => {
    const output = `if a < b && c > d then "quoted" 'single' ]]> bell\u0007 esc\u001b[31mred\u001b[0m nul\u0000 ok\n`;
    const result: TestResult = {
      images: [],
      versions: [
        {
          kubernetes: "1.37.0",
          cluster: "kind-pipeline-1-37-0",
          steps: [
            step("quoting", { status: "failed", command: ["echo", "<b>&"], durationMs: 1, exitCode: 3, output }),
            step("later", { status: "skipped", reason: `needs "quoting" <first> & 'then'\u0001` }),
          ],
          signatures: [],
        },
      ],
    };
    const xml = renderJunit(result);
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    expect(xml).toContain("]]&gt;");
    const [quoting, later] = parseJunit(xml).testsuites.testsuite[0]?.testcase ?? [];
    expect(quoting?.failure?.["#text"]).toBe(`$ echo '<b>&'\nif a < b && c > d then "quoted" 'single' ]]> bell escred nul ok`);
    expect(later?.skipped?.message).toBe(`needs "quoting" <first> & 'then'`);
  });
});

describe("summary.md", () => {
  it("is the headline and the table for a passing run", () => {
    expect(renderSummary(PASSING)).toBe(
      [
        "# kind-pipeline test: passed",
        "",
        "2 Kubernetes versions passed: 1.37.0, 1.36.4. Steps: 4 passed.",
        "",
        "Images: jax `kind-pipeline.local/jax:build-3f2a9c`, pytorch `kind-pipeline.local/pytorch:build-81b07e`.",
        "",
        "| step | 1.37.0 | 1.36.4 |",
        "| --- | --- | --- |",
        "| cluster and load | ready | ready |",
        "| operator | passed 41s | passed 41s |",
        "| jax-smoke | passed 1m30s | passed 1m30s |",
        "",
      ].join("\n"),
    );
  });

  it("shows each cell, then for each failed version what failed, what was skipped and the signatures", () => {
    const lines = renderSummary(MIXED).split("\n");
    const key = [
      "# kind-pipeline test: failed",
      "2 of 2 Kubernetes versions failed: 1.37.0, 1.36.4. Steps: 1 passed, 1 failed, 1 timed out, 5 skipped.",
      "| step | 1.37.0 | 1.36.4 |",
      "| cluster and load | ready | failed: cluster |",
      "| operator | passed 41s | skipped |",
      "| jax-smoke | failed (exit 1) 12s | skipped |",
      "| slow | timed out after 10m | skipped |",
      "| pytorch-smoke | skipped | skipped |",
      "## Kubernetes 1.37.0 (kind-pipeline-1-37-0): failed",
      "### jax-smoke: failed with exit code 1 after 12s",
      "$ sh -c 'kubectl wait --for=condition=complete job/jax-smoke'",
      "jax line 11",
      "error: job jax-smoke failed: BackoffLimitExceeded",
      "### slow: timed out after 10m",
      "- pytorch-smoke: after jax-smoke, which failed",
      "### Failure signatures",
      '- **default/jax-smoke-x7k2p** ErrImagePull: image jax:latest of container "train" was not loaded into the cluster: …; make the manifest use $IMAGE\\_JAX or set images.jax.ref',
      "  pull access denied",
      "## Kubernetes 1.36.4 (kind-pipeline-1-36-4): failed",
      "### The cluster stage failed",
      "cluster: kind create cluster failed for 1.36.4",
      "- operator, jax-smoke, slow, pytorch-smoke: not run: the cluster stage failed",
    ];
    for (const line of key) expect(lines).toContain(line);
    expect(lines).not.toContain("jax line 10");
    expect(lines.join("\n")).not.toContain(CANARY);
  });

  it("fences output that holds backticks with a longer fence", () => {
    const result: TestResult = {
      images: [],
      versions: [{ ...PASSING_137, steps: [step("md", { status: "failed", exitCode: 1, output: "```\nnot the end\n```\n" })] }],
    };
    const summary = renderSummary(result);
    expect(summary).toContain("````text\n$ sh test/e2e/run.sh md\n```\nnot the end\n```\n````\n");
  });
});

describe("the TestFailure message", () => {
  const message = renderFailure(MIXED);

  it("names the stage, each failed version and step, with command, exit code, duration and output tail", () => {
    const lines = message.split("\n");
    expect(lines[0]).toBe("test: 2 of 2 Kubernetes versions failed: 1.37.0 (failed steps: jax-smoke, slow), 1.36.4 (the cluster stage failed).");
    for (const line of [
      "Kubernetes 1.37.0 (cluster kind-pipeline-1-37-0)",
      "  step jax-smoke: failed with exit code 1 after 12s",
      "    command: sh -c 'kubectl wait --for=condition=complete job/jax-smoke'",
      "    last 40 lines of output:",
      "      | jax line 11",
      "      | error: job jax-smoke failed: BackoffLimitExceeded",
      "  step slow: timed out after 10m",
      "    command: sh test/e2e/run.sh slow",
      "    last 1 line of output:",
      "      | waiting for job/slow",
      "  skipped pytorch-smoke: after jax-smoke, which failed",
      "  failure signatures:",
      '    default/jax-smoke-x7k2p: ErrImagePull: image jax:latest of container "train" was not loaded into the cluster: …; make the manifest use $IMAGE_JAX or set images.jax.ref',
      "      pull access denied",
      "Kubernetes 1.36.4 (cluster kind-pipeline-1-36-4)",
      "  the cluster stage failed:",
      "    | cluster: kind create cluster failed for 1.36.4",
      "    |   | ERROR: failed to create cluster: node(s) already exist",
      "  skipped operator, jax-smoke, slow, pytorch-smoke: not run: the cluster stage failed",
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines).not.toContain("      | jax line 10");
  });

  it("ends with one line of advice, naming the first failed version", () => {
    expect(message.split("\n").at(-1)).toBe(
      "Get the whole report with `dagger call test-report export --path=report`; " +
        "open a shell on the cluster with `dagger call cluster --kubernetes=1.37.0 up --ports 6443:6443`.",
    );
  });

  it("quotes only failed steps' output: a passing step's never appears", () => {
    expect(message).not.toContain(CANARY);
    expect(message).not.toContain("example.com/operator");
  });
});
