/**
 * Test helpers over the stand-in engine: a vitest fixture that gives each test its own engine and fails
 * the test if any leaf went unscripted, and throwaway project trees on disk.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test as base } from "vitest";
import { StandInEngine } from "./engine.js";

/** The repository root: the embedded example. */
export const REPO_ROOT = resolve(import.meta.dirname, "../..");

/** What `dag.host().directory(REPO_ROOT, …)` should leave out, as the module's own `ignore` does. */
export const REPO_EXCLUDES = ["node_modules", "ci/node_modules", "ci/sdk", ".git", "bench/out"];

/** `test` with an `engine` fixture: started before the test, stopped after, and no leaf left unscripted. */
export const engineTest = base.extend<{ engine: StandInEngine }>({
  // vitest reads a fixture's dependencies from its first parameter's pattern: this one has none
  engine: async ({}, use) => {
    const engine = await StandInEngine.start();
    try {
      await use(engine);
    } finally {
      await engine.stop();
    }
    const unscripted = engine.unscripted;
    if (unscripted.length > 0) {
      throw new Error(`the SDK asked for leaves no script answers:\n${unscripted.map((l) => `  ${l.call.display}`).join("\n")}`);
    }
  },
});

/** Writes files (path → contents) into a fresh temporary directory and returns its path. */
export function projectTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "kind-pipeline-test-"));
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), contents);
  }
  return root;
}
