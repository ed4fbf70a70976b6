import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { SourceTree } from "../ci/src/source-tree.js";

/** A SourceTree over a directory on this machine, for running config validation without an engine. */
export function localSourceTree(root: string): SourceTree {
  const exists = async (path: string, kind: "file" | "directory") => {
    const info = await stat(resolve(root, path)).catch(() => undefined);
    return kind === "file" ? !!info?.isFile() : !!info?.isDirectory();
  };
  return {
    exists,
    readFile: async (path) => ((await exists(path, "file")) ? readFile(resolve(root, path), "utf8") : undefined),
  };
}
