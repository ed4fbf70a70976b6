import { StageError } from "./stage-error.js";

/** A failure of the cluster stage: what failed, the diagnostics gathered, and what to try next. */
export class ClusterError extends StageError {
  override readonly name = "ClusterError";

  constructor(summary: string, advice: string, details: string[] = []) {
    super("cluster", summary, advice, details);
  }
}
