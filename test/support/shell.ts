/**
 * Runs the module's shell scripts for real, with the programs they drive (dockerd, docker, kind, sysctl)
 * replaced by stubs on PATH that record each invocation: the stand-in engine's counterpart for scripts.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What a script run did. */
export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Every stub invocation, in order: `kind create cluster --name …`. */
  calls: string[];
}

/** A scratch directory for a script run: stubs, state, logs. */
export function scratch(): string {
  return mkdtempSync(join(tmpdir(), "kind-pipeline-script-"));
}

/**
 * Runs `sh <script> <args>` (or another shell: `["busybox", "sh"]`) with the given stubs (program name → shell body) first on PATH. Each stub
 * records `<name> <args>` before its body runs; `$CALLS` names the record, `$SCRATCH` the scratch dir.
 * With `terminateWhen`, the script gets SIGTERM (as a stopping service does) once the check holds. When
 * the script ends, whatever it left running is killed.
 */
export async function runScript(
  script: string,
  args: string[],
  options: { stubs: Record<string, string>; env?: Record<string, string>; dir?: string; terminateWhen?: () => boolean; shell?: string[] },
): Promise<ScriptRun> {
  const dir = options.dir ?? scratch();
  const bin = mkdtempSync(join(dir, "bin-"));
  const calls = join(dir, "calls.log");
  writeFileSync(calls, "");
  for (const [name, body] of Object.entries(options.stubs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >>"$CALLS"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const env = { PATH: `${bin}:/usr/bin:/bin`, CALLS: calls, SCRATCH: dir, ...options.env };
  // in its own process group, so that everything it started (a heartbeat loop, stub daemons) can be ended with it
  const [shell = "sh", ...shellArgs] = options.shell ?? ["sh"];
  const child = spawn(shell, [...shellArgs, script, ...args], { env, detached: true });
  const endGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is already gone
    }
  };
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  const watch = setInterval(() => {
    if (options.terminateWhen?.()) {
      clearInterval(watch);
      child.kill("SIGTERM");
    }
  }, 20);
  const killer = setTimeout(() => endGroup("SIGKILL"), 20_000);
  const closed = new Promise((resolve) => child.on("close", resolve));
  const code = await new Promise<number>((resolve) => child.on("exit", (status) => resolve(status ?? -1)));
  clearInterval(watch);
  clearTimeout(killer);
  endGroup("SIGKILL");
  await closed;
  return { code, stdout, stderr, calls: readFileSync(calls, "utf8").split("\n").filter(Boolean) };
}
