/** A failure of the cluster stage: what failed, the diagnostics gathered, and what to try next. */
export class ClusterError extends Error {
  override readonly name = "ClusterError";

  constructor(
    /** What failed, with the version and cluster it concerns. */
    readonly summary: string,
    /** One line: what to try next. */
    readonly advice: string,
    /** Sections of diagnostics (command output, logs), already formatted. */
    readonly details: string[] = [],
  ) {
    super([`cluster: ${summary}`, ...details.flatMap((d) => ["", d]), "", advice].join("\n"));
  }
}
