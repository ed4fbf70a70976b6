/**
 * The stand-in engine's model of directories and files: what a chain of `host.directory`, `directory`,
 * `withNewFile`, `withDirectory`, `filter` and `file` calls holds, computed from the real files on disk.
 * It lets the module read its config and test its paths for real, gives directories a content digest,
 * as the engine does, so that cache keys follow content, not paths, and tells what the directories a
 * container mounts hold (execs.ts).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { posix, resolve } from "node:path";
import { Call, type ArgValue } from "./calls.js";

/** A directory's content: regular files by relative path. */
export type Tree = Map<string, Buffer>;

/** Evaluates directory and file chains; answers undefined for anything it does not model (a container's files). */
export class TreeModel {
  private readonly cache = new Map<string, Tree | Buffer | undefined>();

  constructor(private readonly hostRoot: string) {}

  /** The directory a chain evaluates to, if the model can tell. */
  directory(call: Call): Tree | undefined {
    const value = this.evaluate(call);
    return value instanceof Map ? value : undefined;
  }

  /** The file a chain evaluates to, if the model can tell. */
  file(call: Call): Buffer | undefined {
    const value = this.evaluate(call);
    return Buffer.isBuffer(value) ? value : undefined;
  }

  /** `sha256:<hex>` over the sorted paths and contents, as stable as the content. */
  digest(content: Tree | Buffer): string {
    const hash = createHash("sha256");
    if (Buffer.isBuffer(content)) hash.update(content);
    else for (const [path, data] of [...content].sort(([a], [b]) => a.localeCompare(b))) hash.update(`${path}\0${data.length}\0`).update(data);
    return `sha256:${hash.digest("hex")}`;
  }

  private evaluate(call: Call): Tree | Buffer | undefined {
    const key = call.text;
    if (!this.cache.has(key)) this.cache.set(key, this.compute(call));
    return this.cache.get(key);
  }

  private compute(call: Call): Tree | Buffer | undefined {
    const { field, args, parent } = call;
    const path = typeof args.path === "string" ? args.path : "";
    const parentType = parent?.type ?? "Query";
    if (parentType === "Query" && field === "directory") return new Map();
    if (parentType === "Host" && field === "directory") return filtered(readDisk(resolve(this.hostRoot, path), globs(args.exclude)), args);
    if (parentType === "Host" && field === "file") return readFileSync(resolve(this.hostRoot, path));
    if (parentType !== "Directory" || !parent) return undefined;
    const tree = this.directory(parent);
    if (!tree) return undefined;
    switch (field) {
      case "directory":
        return subtree(tree, path);
      case "file":
        return tree.get(normalize(path));
      case "withNewFile":
        return new Map(tree).set(normalize(path), Buffer.from(String(args.contents ?? "")));
      case "withDirectory": {
        const source = args.source instanceof Call ? this.directory(args.source) : undefined;
        return source && mount(tree, path, filtered(source, args));
      }
      case "filter":
        return filtered(tree, args);
      default:
        return undefined;
    }
  }
}

/** Whether a path of a tree exists as the given Dagger `ExistsType`. */
export function existsIn(tree: Tree, path: string, expectedType: string | undefined): boolean {
  const target = normalize(path);
  const isFile = tree.has(target);
  const isDirectory = target === "" || [...tree.keys()].some((p) => p.startsWith(`${target}/`));
  if (expectedType === "REGULAR_TYPE") return isFile;
  if (expectedType === "DIRECTORY_TYPE") return isDirectory;
  return isFile || isDirectory;
}

/** Reads a directory from disk, not descending into excluded directories (node_modules). */
function readDisk(root: string, exclude: RegExp[]): Tree {
  const tree: Tree = new Map();
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      const full = resolve(dir, entry.name);
      if (entry.isDirectory()) {
        if (!exclude.some((re) => re.test(relative))) walk(full, relative);
      }
      else if (entry.isFile() || (entry.isSymbolicLink() && statSync(full).isFile())) tree.set(relative, readFileSync(full));
    }
  };
  walk(root, "");
  return tree;
}

function subtree(tree: Tree, path: string): Tree | undefined {
  const prefix = normalize(path);
  if (prefix === "") return tree;
  const sub: Tree = new Map();
  for (const [p, data] of tree) if (p.startsWith(`${prefix}/`)) sub.set(p.slice(prefix.length + 1), data);
  return sub.size > 0 ? sub : undefined;
}

function mount(tree: Tree, path: string, source: Tree): Tree {
  const prefix = normalize(path);
  const merged = new Map(tree);
  for (const [p, data] of source) merged.set(prefix ? `${prefix}/${p}` : p, data);
  return merged;
}

/** Applies `exclude`/`include` globs (`*`, `?`, `**`; a pattern matching a directory matches all below it). */
export function filtered(tree: Tree, args: Readonly<Record<string, ArgValue>>): Tree {
  const exclude = globs(args.exclude);
  const include = globs(args.include);
  if (exclude.length === 0 && include.length === 0) return tree;
  const matches = (res: RegExp[], path: string) => res.some((re) => ancestorsAndSelf(path).some((p) => re.test(p)));
  return new Map([...tree].filter(([p]) => (include.length === 0 || matches(include, p)) && !matches(exclude, p)));
}

function globs(patterns: ArgValue | undefined): RegExp[] {
  return Array.isArray(patterns) ? patterns.map(String).map(globToRegExp) : [];
}

function ancestorsAndSelf(path: string): string[] {
  const parts = path.split("/");
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

function globToRegExp(glob: string): RegExp {
  const body = normalize(glob)
    .split(/(\*\*\/|\*\*|\*|\?)/)
    .map((part) => ({ "**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]" })[part] ?? part.replace(/[.+^${}()|[\]\\]/g, "\\$&"))
    .join("");
  return new RegExp(`^${body}$`);
}

function normalize(path: string): string {
  const normalized = posix.normalize(path || ".").replace(/\/+$/, "");
  return normalized === "." ? "" : normalized;
}
