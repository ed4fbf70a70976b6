/**
 * What every stage's error says about a failed engine call. The SDK's `ExecError` message leaves the
 * command's output out, and the module's entrypoint forwards only the message to the user, so each
 * stage error puts the command, its exit code and the tail of its output into its own message.
 */
import { ExecError } from "@dagger.io/dagger";

/** How many lines of a failed command's output an error quotes. */
export const LOG_TAIL_LINES = 40;

/** The last `count` non-blank-ended lines of a text. */
export function lastLines(text: string, count = LOG_TAIL_LINES): string[] {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.length === 1 && lines[0] === "" ? [] : lines.slice(-count);
}

/**
 * A failed engine call, as indented lines for a person: for an exec, the command, its exit code and the
 * tail of its output (stderr, else stdout); for anything else, the engine's message.
 */
export function describeFailure(error: unknown, indent = "  "): string[] {
  if (error instanceof ExecError) {
    const stream = error.stderr.trim() ? "stderr" : "stdout";
    const tail = lastLines(error[stream]);
    return [
      `${indent}command: ${error.cmd.join(" ")} (exit code ${error.exitCode})`,
      ...(tail.length > 0 ? [`${indent}last ${tail.length} lines of ${stream}:`, ...tail.map((l) => `${indent}  | ${l}`)] : [`${indent}(no output)`]),
    ];
  }
  const [first = "", ...rest] = lastLines(messageOf(error));
  return [`${indent}error: ${first}`, ...rest.map((l) => `${indent}  | ${l}`)];
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The first line of the message of anything thrown: for one-line status lines. */
export function firstLineOf(error: unknown): string {
  // Stryker disable next-line StringLiteral: split always returns at least one element; the fallback only satisfies noUncheckedIndexedAccess
  return messageOf(error).split("\n")[0] ?? "";
}

/** The text a failure is judged by: an exec's output tail, or the engine's message. */
function failureText(error: unknown): string {
  if (error instanceof ExecError) return lastLines(`${error.stdout}\n${error.stderr}`, 20).join("\n");
  return messageOf(error);
}

/**
 * Registry and network trouble worth one more try: timeouts, resets, rate limits, 5xx answers, TLS
 * handshakes, name resolution. They are looked for in the engine's message, and in the last lines of a
 * failed command's output (a `RUN pip install` that hit "Read timed out"); a compile error, a missing
 * file or a Dockerfile syntax error matches none of them.
 */
const TRANSIENT = [
  /connection reset by peer/i,
  /connection refused/i,
  /\bi\/o timeout\b/i,
  /TLS handshake timeout/i,
  /context deadline exceeded/i,
  /\b(read|connect|request|operation) timed out\b/i,
  /\b429\b|too many requests|toomanyrequests/i,
  /\b50[0234]\b[^\n]*(error|status|gateway|unavailable)|bad gateway|service unavailable|gateway timeout/i,
  /temporary failure in name resolution|server misbehaving/i,
  /unexpected EOF/i,
];

/** Whether a failure looks like transient registry or network trouble. */
export function isTransient(error: unknown): boolean {
  const text = failureText(error);
  return TRANSIENT.some((pattern) => pattern.test(text));
}
