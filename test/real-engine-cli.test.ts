/**
 * The real-engine tier as users run it: the module through the Dagger CLI (`dagger call …`), where
 * namespaces, nested clients, setSecret and function caching are those of a module call, not of a plain
 * client (test/real-engine.test.ts). It runs only with DAGGER_E2E=1 and a `dagger` on PATH
 * (`npm run test:engine`; CI: .github/workflows/ci.yml) and is reported as skipped everywhere else.
 *
 * The tier's own harness (version check, time limits, stopping the background `cluster up`, reading the
 * report) is tested here too, without an engine, against stub `dagger` and `kubectl` programs: those
 * tests run in `npm test` and are skipped when the tier itself runs.
 */
import { execFile } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  Background,
  type CliRun,
  cliVersionProblem,
  clusterSessionEnded,
  daggerCommand,
  describeRun,
  engineVersion,
  junitCases,
  onPath,
  parseCliVersion,
  runCommand,
  settleAfterClusterSession,
  sleep,
} from "./support/dagger-cli.js";
import { REPO_ROOT } from "./support/projects.js";

const MINUTE = 60_000;
const onRealEngine = process.env.DAGGER_E2E === "1";
const dagger = onPath("dagger");
const kubectl = onPath("kubectl");
/** How long to wait between two attempts to reach the cluster that `cluster up` keeps. */
const POLL_MS = Number(process.env.DAGGER_E2E_POLL_MS ?? 10_000);

/** The embedded example's Kubernetes versions and node count, as its kind-pipeline.yaml says. */
function example(): { versions: string[]; nodes: number } {
  const config = parseYaml(readFileSync(join(REPO_ROOT, "kind-pipeline.yaml"), "utf8")) as {
    kubernetes?: { versions?: string[] };
    cluster?: { workers?: number };
  };
  return { versions: config.kubernetes?.versions ?? ["1.37.0"], nodes: 1 + (config.cluster?.workers ?? 1) };
}

/** `dagger --progress=plain <args>` from the repository root, within timeoutMs. */
function daggerRun(args: string[], label: string, timeoutMs: number): Promise<CliRun> {
  return runCommand(daggerCommand(dagger as string, args), { label, timeoutMs, cwd: REPO_ROOT });
}

/** A copy of the embedded example (config, images, e2e files), to break one thing in. */
function copyOfExample(): string {
  const root = mkdtempSync(join(tmpdir(), "kind-pipeline-e2e-source-"));
  for (const path of ["kind-pipeline.yaml", "kind-pipeline.schema.json", "images", "test/e2e"]) {
    if (existsSync(join(REPO_ROOT, path))) cpSync(join(REPO_ROOT, path), join(root, path), { recursive: true });
  }
  return root;
}

/** A report exported by the tier is also kept where CI uploads it from (DAGGER_E2E_REPORT_DIR), if set. */
function keepReport(dir: string): void {
  const keep = process.env.DAGGER_E2E_REPORT_DIR;
  if (keep && existsSync(dir)) cpSync(dir, keep, { recursive: true });
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** The nodes in `kubectl get nodes -o json`, each with whether its Ready condition is True. */
function nodesOf(json: string): { name: string; ready: boolean }[] {
  const list = JSON.parse(json) as { items?: { metadata?: { name?: string }; status?: { conditions?: { type?: string; status?: string }[] } }[] };
  return (list.items ?? []).map((node) => ({
    name: node.metadata?.name ?? "?",
    ready: (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  }));
}

/** Whether nothing listens on a local TCP port (so `up --ports` can take it, and kubectl reaches our cluster). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** The tier's cases, by title (the stub-driven tests below find them by these). */
const CASES = {
  test: "`dagger call test` on the embedded example exits 0 and says every step passed; `test-report` says passed",
  broken: "a broken Dockerfile: `dagger call --source=… test` exits non-zero with the BuildFailure naming jax, and starts no cluster",
  cluster: "`dagger call cluster up --ports 6443:6443` in one call, `kubeconfig --local` from another: kubectl get nodes shows every node Ready",
} as const;

function tail(text: string, lines = 60): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

describe.skipIf(!onRealEngine || !dagger)("through the Dagger CLI (needs DAGGER_E2E=1 and `dagger` on PATH)", () => {
  const running: Background[] = [];

  beforeAll(async () => {
    const problem = await cliVersionProblem(dagger as string);
    if (problem) throw new Error(problem);
  }, 2 * MINUTE);

  // Whatever happened (a test past its own time limit included), no background `dagger call` outlives the tier.
  afterAll(async () => {
    await Promise.all(running.map((background) => background.stop(20_000)));
  }, 2 * MINUTE);

  it(CASES.test, { timeout: 100 * MINUTE }, async () => {
    await settleAfterClusterSession();
    const test = await daggerRun(["call", "-m", ".", "test"], "call-test", 45 * MINUTE);
    clusterSessionEnded();

    await settleAfterClusterSession();
    const reportDir = mkdtempSync(join(tmpdir(), "kind-pipeline-e2e-report-"));
    const exported = await daggerRun(["call", "-m", ".", "test-report", "export", "--path", reportDir], "call-test-report", 45 * MINUTE);
    clusterSessionEnded();
    keepReport(reportDir);

    expect(test.code, describeRun(test)).toBe(0);
    expect(exported.code, describeRun(exported)).toBe(0);
    for (const file of ["status", "summary.md", "junit.xml"]) {
      expect(existsSync(join(reportDir, file)), `test-report has no ${file}\n${describeRun(exported)}`).toBe(true);
    }
    expect(isDirectory(join(reportDir, "steps")), "test-report has no steps/").toBe(true);
    const summary = readFileSync(join(reportDir, "summary.md"), "utf8");
    expect(readFileSync(join(reportDir, "status"), "utf8").trim(), `test-report's status; its summary.md:\n${summary}`).toBe("passed");

    const cases = junitCases(readFileSync(join(reportDir, "junit.xml"), "utf8"));
    expect(cases.filter((c) => c.status === "failed"), `failed cases in junit.xml; summary.md:\n${summary}`).toEqual([]);
    // The example runs jax-smoke on every Kubernetes version it configures (jax is its only default image).
    const { versions } = example();
    expect(cases.filter((c) => c.name.includes("jax-smoke") && c.status === "passed"), `jax-smoke per version in junit.xml: ${JSON.stringify(cases)}`).toHaveLength(
      versions.length,
    );
    const passed = [...new Set(cases.filter((c) => c.status === "passed").map((c) => c.name))];
    for (const step of passed) expect(test.stdout, `\`dagger call test\`'s stdout does not name step ${step}\n${describeRun(test)}`).toContain(step);
    expect(test.stdout, describeRun(test)).toMatch(/passed/i);
  });

  it(CASES.broken, { timeout: 25 * MINUTE }, async () => {
    const source = copyOfExample();
    const dockerfile = join(source, "images/jax/Dockerfile");
    const original = readFileSync(dockerfile, "utf8");
    // Fails in the first stage, right after its base image: no pip install needed to see the failure.
    const broken = original.replace(/^(FROM [^\n]*)$/m, "$1\nRUN exit 3");
    expect(broken).not.toBe(original);
    writeFileSync(dockerfile, broken);

    const run = await daggerRun(["call", "-m", ".", `--source=${source}`, "test"], "call-test-broken-dockerfile", 20 * MINUTE);

    expect(run.code !== 0 && !run.timedOut, describeRun(run)).toBe(true);
    expect(run.output, describeRun(run)).toMatch(/build: 1 of 1 images failed: jax\b/);
    expect(run.output, describeRun(run)).toMatch(/exit 3/);
    // The module's status lines reach this output (so their absence below means something) …
    expect(run.output, `no [build] status line in the CLI's output: the check for [cluster] lines would prove nothing\n${describeRun(run)}`).toMatch(
      /\[build\] jax: FAILED/,
    );
    // … and none of the cluster stage is there.
    expect(run.output, describeRun(run)).not.toMatch(/\[cluster\]/);
  });

  it.skipIf(!kubectl)(
    CASES.cluster,
    { timeout: 50 * MINUTE },
    async () => {
      expect(await portIsFree(6443), "something already listens on port 6443 here: `up --ports 6443:6443` could not take it, and kubectl might reach another cluster").toBe(true);
      const { nodes: expected } = example();
      const kubeconfig = join(mkdtempSync(join(tmpdir(), "kind-pipeline-e2e-kubeconfig-")), "kubeconfig");
      await settleAfterClusterSession();
      const up = new Background(daggerCommand(dagger as string, ["call", "-m", ".", "cluster", "up", "--ports", "6443:6443"]), { label: "cluster-up", cwd: REPO_ROOT });
      running.push(up);
      try {
        const deadline = Date.now() + 35 * MINUTE;
        let last = "nothing tried yet";
        for (let attempt = 1; ; attempt++) {
          const ended = up.ended();
          if (ended) throw new Error(`\`cluster up\` ended before the cluster was reachable.\n${describeRun(ended)}\n\nLast attempt to reach it:\n${last}`);
          const exported = await daggerRun(["call", "-m", ".", "kubeconfig", "--local", "export", "--path", kubeconfig], `kubeconfig-local-${attempt}`, 10 * MINUTE);
          if (exported.code === 0) {
            const get = await runCommand([kubectl as string, "--kubeconfig", kubeconfig, "--request-timeout=30s", "get", "nodes", "-o", "json"], {
              label: `kubectl-get-nodes-${attempt}`,
              timeoutMs: 2 * MINUTE,
              env: process.env,
            });
            if (get.code === 0) {
              const nodes = nodesOf(get.stdout);
              if (nodes.length === expected && nodes.every((node) => node.ready)) break;
              last = `kubectl get nodes: ${nodes.map((n) => `${n.name} ${n.ready ? "Ready" : "NotReady"}`).join(", ") || "no nodes"} (expected ${expected}, all Ready)`;
            } else {
              last = describeRun(get, 20);
            }
          } else {
            last = describeRun(exported, 30);
          }
          if (Date.now() > deadline) {
            throw new Error(`no cluster with ${expected} Ready nodes within 35 minutes. Last attempt:\n${last}\n\n\`cluster up\` so far:\n${tail(up.output())}`);
          }
          await sleep(POLL_MS);
        }
        expect(up.ended(), "`cluster up` should still keep the cluster").toBeUndefined();
      } finally {
        await up.stop();
        clusterSessionEnded();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// The harness itself, without an engine.

describe.skipIf(onRealEngine)("the CLI tier's helpers", () => {
  it("reads `dagger version` and dagger.json's engineVersion", () => {
    expect(parseCliVersion("dagger v0.21.9 (image://registry.dagger.io/engine:v0.21.9) linux/amd64\n")).toBe("v0.21.9");
    expect(parseCliVersion("something else")).toBeUndefined();
    expect(engineVersion()).toMatch(/^v\d+\.\d+\.\d+$/);
  });

  it("stops a command at its time limit, escalating to SIGKILL when it ignores SIGINT and SIGTERM", async () => {
    const started = Date.now();
    const run = await runCommand(["sh", "-c", "trap '' INT TERM; echo started; sleep 30"], { label: "stubborn", timeoutMs: 300, graceMs: 200 });
    expect(run).toMatchObject({ timedOut: true, signal: "SIGKILL" });
    expect(run.output).toContain("started");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(describeRun(run)).toMatch(/^stubborn: `sh -c .*` timed out after \d+\.\ds and was stopped\.\n--- its output ---\nstarted\n--- end of output ---$/);
  }, 40_000);

  it("reads a junit.xml's cases, and refuses one that is not well-formed or has no testsuite", () => {
    const cases = junitCases(
      `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="3">\n  <testsuite name="kubernetes-1.37.0">\n` +
        `    <testcase name="jax-smoke" time="1.5"/>\n    <testcase name="a &amp; b"><failure message="x &lt; y"><![CDATA[ <not> xml ]]></failure></testcase>\n` +
        `    <testcase name='skip'><skipped message="after a"/></testcase>\n  </testsuite>\n` +
        `  <testsuite name="kubernetes-1.36.4"><testcase name="jax-smoke"><error message="load"/></testcase></testsuite>\n</testsuites>\n`,
    );
    expect(cases).toEqual([
      { suite: "kubernetes-1.37.0", name: "jax-smoke", status: "passed" },
      { suite: "kubernetes-1.37.0", name: "a & b", status: "failed" },
      { suite: "kubernetes-1.37.0", name: "skip", status: "skipped" },
      { suite: "kubernetes-1.36.4", name: "jax-smoke", status: "failed" },
    ]);
    expect(junitCases('<testsuite name="one"><testcase name="x"/></testsuite>')).toEqual([{ suite: "one", name: "x", status: "passed" }]);
    for (const bad of ["<testsuites><testsuite></testsuites>", '<testsuites><testsuite name="a"></testcase></testsuites>']) {
      expect(() => junitCases(bad), bad).toThrow(/not well-formed/);
    }
    expect(() => junitCases("<html/>")).toThrow(/no <testsuite>/);
  });
});

/** Stub `dagger`: what the tier calls, answered from STUB_MODE (pass | fail); every call is logged. */
const STUB_DAGGER = `#!/usr/bin/env node
const fs = require("node:fs");
const path = require("node:path");
const state = process.env.STUB_STATE;
const mode = process.env.STUB_MODE || "pass";
const args = process.argv.slice(2);
fs.appendFileSync(path.join(state, "calls"), args.join(" ") + "\\n");
const out = (s) => process.stdout.write(s + "\\n");
const err = (s) => process.stderr.write(s + "\\n");
const line = args.join(" ");
if (line === "version") { out("dagger " + process.env.STUB_VERSION + " (image://registry.dagger.io/engine:" + process.env.STUB_VERSION + ") linux/amd64"); process.exit(0); }
if (args[0] !== "--progress=plain" || args[1] !== "call" || args[2] !== "-m" || args[3] !== ".") { err("stub: unexpected call: " + line); process.exit(64); }
const rest = args.slice(4).join(" ");
if (rest === "test") {
  err("[build] jax: built in 1.0s");
  err("[cluster] 1.37.0: starting kind-pipeline-1-37-0");
  if (mode === "pass") { out("test: every step passed\\n  1.37.0 jax-smoke: passed\\n  1.36.4 jax-smoke: passed"); process.exit(0); }
  err("Error: TestFailure: 1.37.0 jax-smoke failed (exit code 1)"); process.exit(1);
}
if (rest.startsWith("test-report export --path ")) {
  const dir = rest.slice("test-report export --path ".length);
  fs.mkdirSync(path.join(dir, "steps/1.37.0"), { recursive: true });
  fs.writeFileSync(path.join(dir, "steps/1.37.0/jax-smoke.log"), "ok\\n");
  fs.writeFileSync(path.join(dir, "status"), mode === "pass" ? "passed\\n" : "failed\\n");
  fs.writeFileSync(path.join(dir, "summary.md"), "# kind-pipeline\\n");
  const failure = mode === "pass" ? "" : "<failure message=\\"exit code 1\\">boom</failure>";
  fs.writeFileSync(path.join(dir, "junit.xml"), '<?xml version="1.0"?>\\n<testsuites>' +
    '<testsuite name="1.37.0"><testcase name="jax-smoke">' + failure + '</testcase><testcase name="pytorch-smoke"><skipped/></testcase></testsuite>' +
    '<testsuite name="1.36.4"><testcase name="jax-smoke"/></testsuite></testsuites>\\n');
  out("Directory evaluated"); process.exit(0);
}
if (rest.startsWith("--source=") && rest.endsWith(" test")) {
  const source = rest.slice("--source=".length, -" test".length);
  const broken = /\\nRUN exit 3\\n/.test(fs.readFileSync(path.join(source, "images/jax/Dockerfile"), "utf8"));
  if (!broken) { out("test: every step passed"); process.exit(0); }
  err("[build] jax: FAILED after 2.0s: process \\"/bin/sh -c exit 3\\" did not complete successfully: exit code: 3");
  if (mode !== "pass") err("[cluster] 1.37.0: starting kind-pipeline-1-37-0");
  err("Error: build: 1 of 1 images failed: jax. Nothing after the build stage was started (no cluster, no image load, no test).");
  process.exit(1);
}
if (rest === "cluster up --ports 6443:6443") {
  if (mode !== "pass") { err("Error: cluster: dockerd did not start"); process.exit(1); }
  process.on("SIGINT", () => { fs.writeFileSync(path.join(state, "up-stopped"), "SIGINT\\n"); process.exit(130); });
  fs.writeFileSync(path.join(state, "up-started"), "");
  setInterval(() => {}, 1000);
} else if (rest.startsWith("kubeconfig --local export --path ")) {
  const file = rest.slice("kubeconfig --local export --path ".length);
  const attempts = path.join(state, "kubeconfig-attempts");
  const n = (fs.existsSync(attempts) ? Number(fs.readFileSync(attempts, "utf8")) : 0) + 1;
  fs.writeFileSync(attempts, String(n));
  if (n < 2 || !fs.existsSync(path.join(state, "up-started"))) { err("Error: no cluster is running: start one with dagger call cluster up --ports 6443:6443"); process.exit(1); }
  fs.writeFileSync(file, "apiVersion: v1\\nkind: Config\\n");
  out("exported"); process.exit(0);
} else { err("stub: unexpected call: " + line); process.exit(64); }
`;

/** Stub `kubectl get nodes -o json`: two Ready nodes. */
const STUB_KUBECTL = `#!/usr/bin/env node
const fs = require("node:fs");
const path = require("node:path");
fs.appendFileSync(path.join(process.env.STUB_STATE, "calls"), "kubectl " + process.argv.slice(2).join(" ") + "\\n");
const node = (name) => ({ metadata: { name }, status: { conditions: [{ type: "Ready", status: "True" }] } });
process.stdout.write(JSON.stringify({ items: [node("kind-pipeline-1-37-0-control-plane"), node("kind-pipeline-1-37-0-worker")] }));
`;

interface InnerRun {
  code: number | null;
  output: string;
  state: string;
  work: string;
  results: { title: string; status: string; failureMessages: string[] }[];
}

/** Runs this file's real-engine tier in a child vitest, with the stubs first on PATH. */
async function runTierAgainstStubs(mode: "pass" | "fail", version: string): Promise<InnerRun> {
  const work = mkdtempSync(join(tmpdir(), "kind-pipeline-cli-tier-"));
  const bin = join(work, "bin");
  const state = join(work, "state");
  mkdirSync(bin);
  mkdirSync(state);
  writeFileSync(join(bin, "dagger"), STUB_DAGGER);
  writeFileSync(join(bin, "kubectl"), STUB_KUBECTL);
  chmodSync(join(bin, "dagger"), 0o755);
  chmodSync(join(bin, "kubectl"), 0o755);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    TMPDIR: work,
    DAGGER_E2E: "1",
    DAGGER_E2E_POLL_MS: "100",
    DAGGER_E2E_SETTLE_MS: "0",
    DAGGER_E2E_REPORT_DIR: join(work, "report"),
    DAGGER_E2E_LOG_DIR: join(work, "logs"),
    STUB_STATE: state,
    STUB_MODE: mode,
    STUB_VERSION: version,
  };
  // the child is a fresh vitest, not a worker of this one, and opens no Dagger session
  for (const key of Object.keys(env)) if (key.startsWith("VITEST") || key.startsWith("DAGGER_SESSION_")) delete env[key];
  const vitest = join(REPO_ROOT, "node_modules/vitest/vitest.mjs");
  const outputFile = join(work, "results.json");
  const args = [vitest, "run", "test/real-engine-cli.test.ts", "--reporter=default", "--reporter=json", `--outputFile.json=${outputFile}`];
  const result = await promisify(execFile)(process.execPath, args, { cwd: REPO_ROOT, env, timeout: 90_000, maxBuffer: 16 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0 as number | null, output: stdout + stderr }),
    (error: { code?: number | null; stdout?: string; stderr?: string }) => ({ code: error.code ?? null, output: `${error.stdout ?? ""}${error.stderr ?? ""}` }),
  );
  const json = existsSync(outputFile)
    ? (JSON.parse(readFileSync(outputFile, "utf8")) as { testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[] })
    : { testResults: [] };
  return { ...result, state, work, results: json.testResults.flatMap((file) => file.assertionResults) };
}

describe.skipIf(onRealEngine)("the CLI tier against stub `dagger` and `kubectl` (no engine)", () => {
  let passing: InnerRun;
  let failing: InnerRun;
  let wrongVersion: InnerRun;

  beforeAll(async () => {
    [passing, failing, wrongVersion] = await Promise.all([
      runTierAgainstStubs("pass", engineVersion()),
      runTierAgainstStubs("fail", engineVersion()),
      runTierAgainstStubs("pass", "v0.20.0"),
    ]);
  }, 120_000);

  afterAll(() => {
    for (const run of [passing, failing, wrongVersion]) if (run) rmSync(run.work, { recursive: true, force: true });
  });

  const result = (run: InnerRun, title: string) => run.results.find((r) => r.title === title) ?? { title, status: "missing", failureMessages: [] };

  it("passes all three cases when the CLI does what users expect, and stops the background `cluster up`", () => {
    expect(passing.code, passing.output).toBe(0);
    expect(Object.values(CASES).map((title) => result(passing, title).status)).toEqual(["passed", "passed", "passed"]);
    const calls = readFileSync(join(passing.state, "calls"), "utf8");
    expect(calls).toContain("--progress=plain call -m . test\n");
    expect(calls).toMatch(/--progress=plain call -m \. --source=\S+ test\n/);
    expect(calls).toMatch(/kubectl --kubeconfig \S+\/kubeconfig --request-timeout=30s get nodes -o json\n/);
    // the first kubeconfig --local found no cluster yet: the tier polled again
    expect(readFileSync(join(passing.state, "kubeconfig-attempts"), "utf8")).toBe("2");
    expect(readFileSync(join(passing.state, "up-stopped"), "utf8")).toBe("SIGINT\n");
    // the report is kept for CI, every CLI run is logged
    expect(readFileSync(join(passing.work, "report/status"), "utf8")).toBe("passed\n");
    expect(readFileSync(join(passing.work, "logs/cluster-up.log"), "utf8")).toMatch(/^\$ \S+\/dagger --progress=plain call -m \. cluster up --ports 6443:6443\n/);
  });

  it("fails each case, with the CLI's output, when the module misbehaves", () => {
    expect(failing.code).not.toBe(0);
    const test = result(failing, CASES.test);
    expect(test.status).toBe("failed");
    expect(test.failureMessages.join("\n")).toMatch(/call-test: `\S+ --progress=plain call -m \. test` exited with code 1 .*\n--- its output ---\n[^]*TestFailure/);
    const broken = result(failing, CASES.broken);
    expect(broken.status).toBe("failed");
    expect(broken.failureMessages.join("\n")).toMatch(/\[cluster\] 1\.37\.0: starting/);
    const cluster = result(failing, CASES.cluster);
    expect(cluster.status).toBe("failed");
    expect(cluster.failureMessages.join("\n")).toMatch(/`cluster up` ended before the cluster was reachable[^]*dockerd did not start/);
  });

  it("fails, saying what to install, when the CLI's version is not dagger.json's engineVersion", () => {
    expect(wrongVersion.code).not.toBe(0);
    expect(wrongVersion.output).toContain(`is v0.20.0, but dagger.json's engineVersion is ${engineVersion()}`);
    expect(readFileSync(join(wrongVersion.state, "calls"), "utf8")).toBe("version\n");
  });
});
