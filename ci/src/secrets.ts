/**
 * Secrets the caller passes (`--secrets=env://PIP_TOKEN`), found by the reference the config gives them.
 * Only references are compared: a secret's value is never read here.
 */
import type { Secret } from "@dagger.io/dagger";
import { ConfigError } from "./config.js";
import type { Run } from "./run.js";

/** A secret the config names: where (`e2e.0.secrets.HF_TOKEN`) and which reference. */
export interface WantedSecret {
  path: string;
  reference: string;
}

/**
 * The passed secrets of the wanted references, by normalized reference. Throws ConfigError, before
 * anything runs, listing every wanted secret that was not passed and the flags that pass them.
 */
export async function passedSecrets(run: Run, wanted: WantedSecret[], what: string, functionName: string): Promise<Map<string, Secret>> {
  if (wanted.length === 0) return new Map();
  const passed = new Map(await Promise.all(run.secrets.map(async (s) => [normalizeReference(await s.uri()), s] as const)));
  const missing = wanted.filter(({ reference }) => !passed.has(normalizeReference(reference)));
  if (missing.length > 0) {
    const flags = [...new Set(wanted.map((w) => normalizeReference(w.reference)))].map((r) => `--secrets=${r}`);
    throw new ConfigError(
      "arguments",
      missing.map(({ path, reference }) => ({ path, message: `${reference} was not passed to the pipeline` })),
      `Pass the ${what} as Dagger secrets: dagger call ${flags.join(" ")} ${functionName}`,
    );
  }
  return passed;
}

/** `env:X` and `env://X` are the same reference. */
export function normalizeReference(reference: string): string {
  return reference.replace(/^([a-z]+):(?!\/\/)/, "$1://");
}
