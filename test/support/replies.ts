/**
 * What a scripted leaf answers, in the engine's own terms: a value, an exec failure (which the SDK turns
 * into its `ExecError`), any other engine error (`GraphQLRequestError`), or nothing at all (a hang).
 */

/** A scripted answer. */
export type Reply =
  | { kind: "answer"; value?: unknown }
  | { kind: "exec-error"; exitCode: number; stdout: string; stderr: string; cmd?: string[] }
  | { kind: "engine-error"; message: string }
  | { kind: "hang" };

/**
 * Answers the value (null too); without one, the object's ID, as the engine answers `id`, `sync` and other
 * ID fields. The engine checks it against the type its schema declares for the leaf.
 */
export function answer(value?: unknown): Reply {
  return { kind: "answer", value };
}

/**
 * Fails as an exec fails in the engine: `process "<cmd>" did not complete successfully: exit code: N`,
 * with `cmd`, `exitCode`, `stdout` and `stderr` in the error's extensions. `cmd` defaults to the args of
 * the chain's last `withExec`.
 */
export function execFailure(failure: { exitCode: number; stdout?: string; stderr?: string; cmd?: string[] }): Reply {
  return { kind: "exec-error", stdout: "", stderr: "", ...failure };
}

/** Fails with a plain engine error, such as a base image that cannot be resolved. */
export function engineError(message: string): Reply {
  return { kind: "engine-error", message };
}

/** Never answers (until the engine stops): for testing the module's own time limits. */
export function hang(): Reply {
  return { kind: "hang" };
}

/** Which leaves a script applies to. */
export interface Match {
  /** The leaf field: `sync`, `stdout`, `contents`… Any leaf when omitted. */
  leaf?: string;
  /** Matched against the whole chain's text (`Call.text`): a substring, or a RegExp. */
  where?: string | RegExp;
}

/** How a script answers. */
export interface ScriptOptions {
  /** Simulated duration: the answer comes this many milliseconds after the query. */
  delayMs?: number;
  /** Applies to this many queries, then gives way to later scripts. Unlimited when omitted. */
  times?: number;
}

/** A script as the engine keeps it. */
export interface Script {
  match: Match;
  reply: Reply;
  delayMs: number;
  remaining: number;
}

/** Whether a script applies to a leaf. */
export function applies(script: Script, leaf: string, text: string): boolean {
  const { leaf: wanted, where } = script.match;
  if (script.remaining <= 0 || (wanted !== undefined && wanted !== leaf)) return false;
  if (where === undefined) return true;
  return typeof where === "string" ? text.includes(where) : where.test(text);
}
