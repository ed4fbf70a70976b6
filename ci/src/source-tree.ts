import { Directory, ExistsType } from "@dagger.io/dagger";

/**
 * The few questions config validation asks of the project's files. The module answers them from a
 * Dagger `Directory`; the local `plan` command answers them from the disk, so both validate alike.
 */
export interface SourceTree {
  /** The text of a file, or undefined when there is no such file. */
  readFile(path: string): Promise<string | undefined>;
  /** Whether `path` exists and is a directory (`"directory"`) or a regular file (`"file"`). */
  exists(path: string, kind: "file" | "directory"): Promise<boolean>;
}

/** A SourceTree over a Dagger Directory: one engine query per question, asked lazily. */
export function directoryTree(source: Directory): SourceTree {
  const exists = (path: string, kind: "file" | "directory") =>
    source.exists(path, {
      expectedType: kind === "file" ? ExistsType.RegularType : ExistsType.DirectoryType,
    });
  return {
    exists,
    readFile: async (path) => ((await exists(path, "file")) ? source.file(path).contents() : undefined),
  };
}
