/**
 * The shape every stage's error shares: the stage, what failed (with the version, image or step it
 * concerns), the diagnostics gathered, and one line of advice. The message carries all of it, since the
 * module's entrypoint forwards only the message to the user.
 */
export class StageError extends Error {
  constructor(
    /** The stage that failed: load, steps, test… */
    readonly stage: string,
    /** What failed, with the version, image or step it concerns. */
    readonly summary: string,
    /** One line: what to try next. */
    readonly advice: string,
    /** Sections of diagnostics (command output, logs), already formatted. */
    readonly details: string[] = [],
  ) {
    super([`${stage}: ${summary}`, ...details.flatMap((d) => ["", d]), "", advice].join("\n"));
  }
}
