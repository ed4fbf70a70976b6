/**
 * Which files a container chain holds, as far as its own calls tell, and the exec that would not find
 * one it needs: a script run with `sh <path>` that nothing put in the container, or a path under a mounted
 * directory that is not in it. A real engine fails such an exec; the stand-in fails it the same way.
 *
 * The rule, since the files of base images (`/bin/sh`, `kubectl` on the PATH) cannot be known:
 * - a script given to sh/bash/ash/dash (its first operand, unless `-c` or `-s`) must be placed by the chain
 *   (`withNewFile`, `withFile`, `withMountedFile`, `withMountedSecret`) or lie under a directory the chain
 *   places (`withDirectory`, `withMountedDirectory`, `withMountedCache`, `withMountedTemp`); a script an
 *   earlier exec writes is not known: place scripts with those calls;
 * - so must the scripts such a script runs or sources from its own directory, when its text is known:
 *   `"$(dirname "$0")/<name>"`, or `"$dir/<name>"` after `dir=$(dirname "$0")`;
 * - args[0] when it is a path (has a `/`), and any other argument that is a path (`/…`, `./…`, `../…`),
 *   must exist where the chain mounts a directory whose content the tree model knows; elsewhere (the base
 *   image, a copy onto it with `withDirectory`, a cache volume, a directory an exec wrote to) it may exist;
 * - relative paths resolve against the chain's `withWorkdir`, as in the engine; after an exec the content
 *   of every directory is unknown (it may have written there);
 * - execs run when a leaf evaluates the chain (EVALUATING); `asService(args:)` runs its args too. Execs of
 *   objects passed as arguments are checked when a leaf evaluates their own chain.
 */
import { posix } from "node:path";
import { Call } from "./calls.js";
import { existsIn, filtered, type Tree, type TreeModel } from "./trees.js";

/** Leaves that make the engine run the chain's execs (an `id` never does). */
const EVALUATING = new Set(["sync", "stdout", "stderr", "exitCode", "combinedOutput", "contents", "entries", "glob", "exists", "digest", "size", "export", "start", "up"]);

const SHELLS = new Set(["sh", "ash", "dash", "bash"]);

/**
 * A path the chain places: a file, or a directory, with their content (evaluated only when a lookup needs
 * it) where the model knows it. A mount hides what the image had there; a copy adds to it.
 */
interface Placed {
  path: string;
  mounted: boolean;
  file?: () => Buffer | undefined;
  directory?: () => Tree | undefined;
}

/** Whether a path is in the container: placed (with its text when known), or not known to be, or missing and why. */
interface Found {
  placed: boolean;
  text?: string;
  missing?: string;
}

/** An exec that fails for want of a file, as the engine reports it, and the fidelity violation to record. */
export interface MissingFile {
  cmd: string[];
  exitCode: number;
  stderr: string;
  /** `<field path of the exec>: <the command>: <what is missing and why>`. */
  violation: string;
}

/** The first exec the leaf runs that would not find a file it needs, or undefined. */
export function missingFile(leaf: Call, trees: TreeModel): MissingFile | undefined {
  if (!EVALUATING.has(leaf.field)) return undefined;
  let placed: Placed[] = [];
  let workdir = "/";
  for (const call of leaf.path) {
    if (call.type === "Container" && call.parent?.type !== "Container") [placed, workdir] = [[], "/"];
    if (call.parent?.type !== "Container") continue;
    const { field, args } = call;
    const path = posix.resolve(workdir, typeof args.path === "string" ? args.path : ".");
    const source = args.source instanceof Call ? args.source : undefined;
    switch (field) {
      case "withWorkdir":
        workdir = path;
        break;
      case "withNewFile":
        placed.push({ path, mounted: false, file: () => Buffer.from(String(args.contents ?? "")) });
        break;
      case "withFile":
      case "withMountedFile":
        placed.push({ path, mounted: field === "withMountedFile", file: () => source && trees.file(source) });
        break;
      case "withMountedSecret":
        placed.push({ path, mounted: true, file: () => undefined });
        break;
      case "withDirectory":
        placed.push({ path, mounted: false, directory: () => { const tree = source && trees.directory(source); return tree && filtered(tree, args); } });
        break;
      case "withMountedDirectory":
      case "withMountedTemp":
      case "withMountedCache":
        placed.push({ path, mounted: true, directory: field === "withMountedCache" ? () => undefined : () => (source ? trees.directory(source) : new Map()) });
        break;
      case "withExec":
      case "asService": {
        const missing = Array.isArray(args.args) && !args.useEntrypoint ? checkExec(call, args.args.map(String), workdir, placed) : undefined;
        if (missing) return missing;
        placed = placed.map((p) => (p.directory ? { ...p, directory: () => undefined } : p)); // it may have written there
        break;
      }
    }
  }
  return undefined;
}

/** Where a path stands, from the innermost thing the chain placed over it; `outside` of everything it placed. */
function lookup(path: string, placed: Placed[]): Found | "outside" {
  const covering = placed.filter((p) => path === p.path || path.startsWith(p.path === "/" ? "/" : `${p.path}/`));
  for (const p of covering.sort((a, b) => b.path.length - a.path.length)) {
    if (p.file) return path === p.path ? { placed: true, text: p.file()?.toString("utf8") } : { placed: false, missing: `under the file placed at ${p.path}` };
    const tree = p.directory!();
    if (!tree) return { placed: false };
    const relative = posix.relative(p.path, path);
    if (path === p.path || existsIn(tree, relative, undefined)) return { placed: true, text: tree.get(relative)?.toString("utf8") };
    if (p.mounted) return { placed: false, missing: `not in what the chain mounts at ${p.path} (${[...tree.keys()].sort().join(", ") || "nothing"})` };
  }
  return "outside";
}

const OUTSIDE = "not in the container: no withNewFile, withFile, withDirectory or withMounted* call of the chain places it";

function checkExec(exec: Call, args: string[], workdir: string, placed: Placed[]): MissingFile | undefined {
  const failure = (path: string, missing: string, exitCode: number, stderr: string): MissingFile => ({
    cmd: args,
    exitCode,
    stderr,
    violation: `${exec.path.map((c) => c.field).join(".")}: ${args.join(" ")}: ${path} is ${missing}`,
  });
  const script = scriptOperand(args);
  if (script !== undefined) {
    const at = posix.resolve(workdir, script);
    const found = lookup(at, placed);
    const shell = posix.basename(args[0]!);
    if (found === "outside" || found.missing) {
      // busybox ash (the shell of the docker:dind image) and bash both exit with 127
      const stderr = shell === "bash" ? `bash: ${script}: No such file or directory\n` : `${shell}: can't open '${script}': No such file or directory\n`;
      return failure(script, found === "outside" ? OUTSIDE : found.missing!, 127, stderr);
    }
    for (const { name, line, sourced } of found.placed ? companions(found.text ?? "") : []) {
      const path = posix.join(posix.dirname(at), name);
      const companion = lookup(path, placed);
      if (companion !== "outside" && !companion.missing) continue;
      const stderr = sourced ? `${script}: .: line ${line}: can't open '${path}': No such file or directory\n` : `sh: can't open '${path}': No such file or directory\n`;
      return failure(path, `run by ${script} (line ${line}), but ${companion === "outside" ? OUTSIDE : companion.missing}`, 127, stderr);
    }
  }
  const program = args[0]?.includes("/") ? args[0] : undefined;
  for (const path of args.filter((arg, i) => arg === program || (i > 0 && arg !== script && /^\.{0,2}\//.test(arg)))) {
    const found = lookup(posix.resolve(workdir, path), placed);
    if (found === "outside" || !found.missing) continue;
    return path === program
      ? failure(path, found.missing, 127, `exec: "${path}": stat ${path}: no such file or directory\n`) // as runc reports it
      : failure(path, found.missing, 2, `${posix.basename(args[0]!)}: can't open '${path}': No such file or directory\n`);
  }
  return undefined;
}

/** The script a shell invocation reads: its first operand, unless it runs a command string (-c) or stdin (-s). */
function scriptOperand(args: string[]): string | undefined {
  if (!SHELLS.has(posix.basename(args[0] ?? ""))) return undefined;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return args[i + 1];
    if (!/^[-+]/.test(arg)) return arg;
    if (/^-[a-zA-Z]*[cs]/.test(arg)) return undefined;
    if (/^[-+][oO]$/.test(arg)) i++; // -o pipefail
  }
  return undefined;
}

/** The files a script runs or sources from its own directory (see the rule above), with their line. */
function companions(text: string): { name: string; line: number; sourced: boolean }[] {
  const dirVars = [...text.matchAll(/^\s*(\w+)=["']?\$\(dirname "\$0"\)["']?\s*$/gm)].map((m) => m[1]!);
  return text.split("\n").flatMap((content, i) => {
    if (/^\s*#/.test(content)) return [];
    return [...content.matchAll(/(?:\$\(dirname "\$0"\)|\$\{?(\w+)\}?)\/([\w.-]+)/g)]
      .filter(([, variable]) => variable === undefined || dirVars.includes(variable))
      .map(([, , name]) => ({ name: name!, line: i + 1, sourced: /^\s*(\.|source)\s/.test(content) }));
  });
}
