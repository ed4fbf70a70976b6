/**
 * The context every stage receives: the source, the plan of this run, the secrets the caller passed and
 * where status lines go. Stages take it explicitly; nothing is kept in module-level state.
 */
import type { Directory, Secret } from "@dagger.io/dagger";
import { loadConfig } from "./config.js";
import { planPipeline, type Plan, type Selection } from "./plan.js";
import { directoryTree } from "./source-tree.js";

/** One run of the pipeline. */
export interface Run {
  source: Directory;
  plan: Plan;
  /** Secrets the caller passed (`--secrets`), for the config to name. */
  secrets: Secret[];
  /** Writes a status line (`[build] jax: built in 41.2s`), as kind prints its steps. */
  log: (line: string) => void;
}

/** Loads and validates the config from the source, plans the selection. Throws ConfigError. */
export async function prepareRun(
  source: Directory,
  configPath: string,
  selection: Selection,
  secrets: Secret[] = [],
  log: (line: string) => void = (line) => console.error(line),
): Promise<Run> {
  const config = await loadConfig(directoryTree(source), configPath);
  return { source, plan: planPipeline(config, selection), secrets, log };
}
