/**
 * The real-engine tiers' helpers: finding the Dagger CLI and kubectl, checking the CLI's version against
 * dagger.json, running `dagger` with a time limit (or in the background, always stoppable), and reading a
 * report's junit.xml (with fast-xml-parser, as test/report.test.ts does). Nothing here needs an engine:
 * the stub-driven tests in real-engine-cli.test.ts exercise it without one.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { REPO_ROOT } from "./projects.js";

/** The absolute path of an executable on PATH, or undefined. */
export function onPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** dagger.json's engineVersion, e.g. "v0.21.9". */
export function engineVersion(root = REPO_ROOT): string {
  const version = (JSON.parse(readFileSync(join(root, "dagger.json"), "utf8")) as { engineVersion?: unknown }).engineVersion;
  if (typeof version !== "string") throw new Error(`dagger.json in ${root} has no engineVersion`);
  return version;
}

/** "0.21.9" and "v0.21.9" alike → "v0.21.9". */
export function normalizeVersion(version: string): string {
  const trimmed = version.trim();
  return trimmed.startsWith("v") ? trimmed : `v${trimmed}`;
}

/** The version in `dagger version`'s output (`dagger v0.21.9 (image://…) linux/amd64`), or undefined. */
export function parseCliVersion(output: string): string | undefined {
  return /^dagger (v?\d+\.\d+\.\d+\S*)/m.exec(output)?.[1];
}

/**
 * The environment for a `dagger` child: no session variables (a `dagger` started inside `dagger run`
 * would join that session instead of opening its own, and the cluster tests need separate sessions), no
 * OpenTelemetry settings of the test runner, no colours, no update nag.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === "DAGGER_SESSION_PORT" || key === "DAGGER_SESSION_TOKEN" || key.startsWith("OTEL_")) continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: "1", DAGGER_NO_NAG: "1", ...extra };
}

/** One finished `dagger` (or other) command. */
export interface CliRun {
  label: string;
  command: string[];
  /** The exit code; null when it was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they arrived. */
  output: string;
}

export interface RunOptions {
  /** A short name for messages and the log file (`DAGGER_E2E_LOG_DIR/<label>.log`). */
  label: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * A command running in the background, in its own process group (so stopping it also stops whatever it
 * started): its output so far, whether it ended, and a way to stop it.
 */
export class Background {
  readonly pid: number | undefined;
  /** Resolves when it ended, however it ended. */
  readonly result: Promise<CliRun>;
  private stdout = "";
  private stderr = "";
  private all = "";
  private timedOut = false;
  private finished: CliRun | undefined;

  constructor(
    readonly command: string[],
    readonly options: RunOptions,
  ) {
    const [file, ...args] = command;
    if (!file) throw new Error("Background: empty command");
    const started = Date.now();
    const child = spawn(file, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? cliEnv(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.pid = child.pid;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      this.all += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      this.all += chunk;
    });
    this.result = new Promise<CliRun>((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (this.finished) return;
        if (error) this.all += `\n[${options.label}: ${error.message}]\n`;
        const { stdout, stderr, all: output, timedOut } = this;
        this.finished = { label: options.label, command, code, signal, timedOut, durationMs: Date.now() - started, stdout, stderr, output };
        writeLog(this.finished);
        resolve(this.finished);
      };
      child.on("error", (error) => finish(null, null, error));
      child.on("close", (code, signal) => finish(code, signal));
    });
  }

  get label(): string {
    return this.options.label;
  }

  /** Output so far (stdout and stderr as they arrived). */
  output(): string {
    return this.all;
  }

  /** The finished run, once it ended. */
  ended(): CliRun | undefined {
    return this.finished;
  }

  /** Interrupts it (SIGINT, as Ctrl-C), then SIGTERM, then SIGKILL, graceMs apart; resolves when it ended. */
  async stop(graceMs = 30_000, reason: "stopped" | "timed out" = "stopped"): Promise<CliRun> {
    if (reason === "timed out") this.timedOut = true;
    for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
      if (this.finished || this.pid === undefined) break;
      try {
        process.kill(-this.pid, signal);
      } catch {
        // the group is gone already
      }
      await Promise.race([this.result, sleep(graceMs)]);
    }
    return this.result;
  }
}

/** Runs a command to its end, stopping it (and marking the run as timed out) after timeoutMs. */
export async function runCommand(command: string[], options: RunOptions & { timeoutMs: number; graceMs?: number }): Promise<CliRun> {
  const background = new Background(command, options);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  const first = await Promise.race([background.result, limit]);
  clearTimeout(timer);
  return first === "timeout" ? background.stop(options.graceMs ?? 10_000, "timed out") : first;
}

/** `dagger --progress=plain <args>`: the plain progress format prints every log line, with no TTY needed. */
export function daggerCommand(dagger: string, args: string[]): string[] {
  return [dagger, "--progress=plain", ...args];
}

/** What a failed expectation on a run prints: the command, how it ended, and the end of its output. */
export function describeRun(run: CliRun, lines = 150): string {
  const how = run.timedOut
    ? `timed out after ${seconds(run.durationMs)} and was stopped`
    : run.signal
      ? `was ended by ${run.signal} after ${seconds(run.durationMs)}`
      : `exited with code ${run.code} after ${seconds(run.durationMs)}`;
  const all = run.output.trimEnd().split("\n");
  const tail = all.slice(-lines);
  const cut = all.length > tail.length ? `(first ${all.length - tail.length} lines left out; DAGGER_E2E_LOG_DIR keeps them all)\n` : "";
  return `${run.label}: \`${run.command.join(" ")}\` ${how}.\n--- its output ---\n${cut}${tail.join("\n")}\n--- end of output ---`;
}

/** Every finished run goes to DAGGER_E2E_LOG_DIR/<label>.log when that is set (CI uploads the folder). */
function writeLog(run: CliRun): void {
  const dir = process.env.DAGGER_E2E_LOG_DIR;
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true });
    const header = `$ ${run.command.join(" ")}\n# code ${run.code}, signal ${run.signal}, timed out ${run.timedOut}, ${seconds(run.durationMs)}\n`;
    writeFileSync(join(dir, `${run.label.replace(/[^A-Za-z0-9._-]+/g, "-")}.log`), header + run.output);
  } catch {
    // a log that cannot be written must not hide the test's own result
  }
}

/**
 * The CLI's version problem, if any: undefined when `dagger version` reports dagger.json's engineVersion,
 * else a sentence saying what was found and what to do.
 */
export async function cliVersionProblem(dagger: string, expected = engineVersion()): Promise<string | undefined> {
  const run = await runCommand([dagger, "version"], { label: "dagger-version", timeoutMs: 60_000 });
  const found = parseCliVersion(run.stdout) ?? parseCliVersion(run.output);
  if (run.code !== 0 || !found) {
    return `\`${dagger} version\` did not report a version.\n${describeRun(run, 20)}`;
  }
  if (normalizeVersion(found) !== normalizeVersion(expected)) {
    return (
      `the Dagger CLI at ${dagger} is ${found}, but dagger.json's engineVersion is ${expected}: the CLI starts an engine of ` +
      `its own version, so this tier would test another engine than the module declares. Install the Dagger CLI ${expected} ` +
      `(e.g. \`curl -fsSL https://dl.dagger.io/dagger/install.sh | DAGGER_VERSION=${normalizeVersion(expected)} sh\`) and run again.`
    );
  }
  return undefined;
}

/**
 * Services die with their session, without a last word: the module reads a cluster as alive until its
 * heartbeat is 30 s old (ci/scripts/cluster-status.sh), and a new cluster of the same name may refuse to
 * start next to one that looks alive. So every run that may start clusters waits until the previous one,
 * in any test file, ended at least this long ago.
 */
export const CLUSTER_SETTLE_MS = Number(process.env.DAGGER_E2E_SETTLE_MS ?? 40_000);
const settleFile = join(tmpdir(), "kind-pipeline-e2e-last-cluster-session");

/** Waits until CLUSTER_SETTLE_MS have passed since the last session that ran clusters ended. */
export async function settleAfterClusterSession(): Promise<void> {
  let last = 0;
  try {
    last = Number(readFileSync(settleFile, "utf8")) || 0;
  } catch {
    // none yet
  }
  const wait = last + CLUSTER_SETTLE_MS - Date.now();
  if (wait > 0) await sleep(Math.min(wait, CLUSTER_SETTLE_MS));
}

/** Records that a session that ran clusters ended now. */
export function clusterSessionEnded(): void {
  try {
    writeFileSync(settleFile, String(Date.now()));
  } catch {
    // best effort: at worst the next run waits less
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** One <testcase> of a junit.xml, with its suite's name. */
export interface JunitCase {
  suite: string;
  name: string;
  status: "passed" | "failed" | "skipped";
}

type XmlNode = Record<string, unknown>;

const junitParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  parseAttributeValue: false,
  isArray: (name) => ["testsuite", "testcase"].includes(name),
});

/**
 * The cases of a junit.xml (`<testsuites>` or one `<testsuite>` at the root). Throws when it is not
 * well-formed XML or holds no testsuite.
 */
export function junitCases(xml: string): JunitCase[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`junit.xml is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  const root = junitParser.parse(xml) as { testsuites?: { testsuite?: XmlNode[] } | string; testsuite?: XmlNode[] };
  const suites = root.testsuite ?? (typeof root.testsuites === "object" ? root.testsuites.testsuite : undefined) ?? [];
  if (suites.length === 0) throw new Error(`junit.xml has no <testsuite> (its elements: ${Object.keys(root).join(", ") || "none"})`);
  return suites.flatMap((suite) =>
    ((suite.testcase as XmlNode[] | undefined) ?? []).map((testcase) => ({
      suite: String(suite["@name"] ?? ""),
      name: String(testcase["@name"] ?? ""),
      status: "failure" in testcase || "error" in testcase ? "failed" : "skipped" in testcase ? "skipped" : "passed",
    })),
  );
}
