/** Project trees on disk for tests and benchmarks: the repository's own example, and throwaway ones. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** The repository root: the embedded example. */
export const REPO_ROOT = resolve(import.meta.dirname, "../..");

/** What `dag.host().directory(REPO_ROOT, …)` should leave out, as the module's own `ignore` does. */
export const REPO_EXCLUDES = ["node_modules", "ci/node_modules", "ci/sdk", ".git", "bench/out"];

/** Writes files (path → contents) into a fresh temporary directory and returns its path. */
export function projectTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "kind-pipeline-test-"));
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), contents);
  }
  return root;
}
