/**
 * The module's shell scripts (ci/scripts), as a Directory for the containers that run them. They are
 * read from beside this file, where the module's source is in the Dagger runtime and in a checkout alike,
 * so the module never depends on the calling client having a current module.
 */
import { readFileSync } from "node:fs";
import { dag, type Directory } from "@dagger.io/dagger";

const SCRIPTS = new URL("../scripts/", import.meta.url);

/** Where the scripts are in the containers that run them. */
export const SCRIPTS_PATH = "/kind-pipeline/scripts";

/**
 * The named scripts of ci/scripts, and only those, so that a container's definition (and the engine's
 * cache of it) changes only with the scripts it runs.
 */
export function moduleScripts(names: string[]): Directory {
  return Object.entries(scriptContents(names)).reduce((dir, [name, contents]) => dir.withNewFile(name, contents, { permissions: 0o755 }), dag.directory());
}

/** The contents of the named scripts of ci/scripts by file name, sorted by name whatever the order asked. */
export function scriptContents(names: string[]): Record<string, string> {
  const chosen = [...names].sort();
  return Object.fromEntries(chosen.map((name) => [name, readFileSync(new URL(name, SCRIPTS), "utf8")]));
}
