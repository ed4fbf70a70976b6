/**
 * The examples, checked against the module as the SDK registers it:
 *  - every `dagger call` in .github/workflows/, examples/ci/ and the README's shell blocks names functions and
 *    flags this module registers (the introspector scan) or the engine's core API has (Directory.export,
 *    Service.up, Container.terminal…), so an example cannot drift from the module;
 *  - each CI example runs the same call, pins the Dagger CLI of dagger.json, publishes the report and its JUnit,
 *    fails on report/status, pins its images, and names the module by the Git address of module-address.txt;
 *  - examples/compose registers as a module (the same scan), and its `dag.kindPipeline(…)` calls type-check
 *    against the client Dagger would generate from this module's registration;
 *  - this module's signatures stay composable, and its test path is registered as a check (`dagger check`).
 * What needs an engine (running the examples in their vendors, the compose module on Dagger) is not here.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { buildSchema, getNamedType, isListType, isNonNullType, isObjectType, type GraphQLType } from "graphql";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { renderJunit, statusOf } from "../ci/src/report.js";
import type { TestResult } from "../ci/src/results.js";
import { scanModule, type ScannedArgument, type ScannedFunction, type ScannedModule } from "../cli/module-scan.js";
import { gateProblems, junitCounts } from "../examples/compose/src/gate.js";
import { engineVersion } from "./support/dagger-cli.js";
import { REPO_ROOT } from "./support/projects.js";

const SDK_INDEX = join(REPO_ROOT, "ci/node_modules/@dagger.io/dagger/dist/src/index.js");
const COMPOSE = join(REPO_ROOT, "examples/compose");
const CI_EXAMPLES = join(REPO_ROOT, "examples/ci");

/** The module's Git address, written once (module-address.txt); the README and the examples take it from there. */
const ADDRESS = readFileSync(join(REPO_ROOT, "module-address.txt"), "utf8").trim();

/** dagger.json's engineVersion without its `v`, as Dagger's install.sh takes it (DAGGER_VERSION=0.21.9). */
const CLI_VERSION = engineVersion().replace(/^v/, "");

// ---------------------------------------------------------------------------------------------------------
// Shell: the `dagger` commands of a script

type Token = { word: string } | { op: string };

/** The index of the `)` closing the `(` at `open`, skipping quoted text. */
function closingParen(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === "'") i = src.indexOf("'", i + 1);
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i;
    if (i < 0) break;
  }
  throw new Error(`unbalanced "(" in: ${src.slice(open, open + 80)}`);
}

/**
 * Splits shell text into words and operators as sh does, as far as finding commands needs: quotes removed
 * (expansions such as "$VAR" and $(…) kept as written), `\` + newline joining lines, comments dropped,
 * redirections and their targets dropped.
 */
function shellTokens(src: string): Token[] {
  const out: Token[] = [];
  let word: string | undefined;
  let skipNextWord = false;
  const flush = () => {
    if (word === undefined) return;
    if (skipNextWord) skipNextWord = false;
    else out.push({ word });
    word = undefined;
  };
  for (let i = 0; i < src.length; ) {
    const c = src[i] as string;
    if (c === "\\" && src[i + 1] === "\n") {
      i += 2;
    } else if (c === "\\" && src[i + 1] === "\r" && src[i + 2] === "\n") {
      i += 3;
    } else if (c === " " || c === "\t" || c === "\r") {
      flush();
      i++;
    } else if (c === "\n") {
      flush();
      out.push({ op: "\n" });
      i++;
    } else if (c === "#" && word === undefined) {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === ">" || c === "<") {
      if (word !== undefined && /^\d+$/.test(word)) word = undefined; // 2>&1: the descriptor
      flush();
      i += src[i + 1] === c || src[i + 1] === "&" ? 2 : 1;
      if (src[i - 1] === "&" && /\d|-/.test(src[i] ?? "")) i++; // >&1, >&-
      else skipNextWord = true; // the redirection's target
    } else if (";&|()".includes(c)) {
      flush();
      const two = src.slice(i, i + 2);
      const op = ["&&", "||", ";;"].includes(two) ? two : c;
      out.push({ op });
      i += op.length;
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${src.slice(i, i + 80)}`);
      word = (word ?? "") + src.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < src.length && src[j] !== '"') {
        if (src[j] === "\\" && '"\\$`\n'.includes(src[j + 1] ?? "")) {
          if (src[j + 1] !== "\n") text += src[j + 1];
          j += 2;
        } else if (src[j] === "$" && src[j + 1] === "(") {
          const close = closingParen(src, j + 1);
          text += src.slice(j, close + 1);
          j = close + 1;
        } else {
          text += src[j];
          j++;
        }
      }
      if (j >= src.length) throw new Error(`unterminated " in: ${src.slice(i, i + 80)}`);
      word = (word ?? "") + text;
      i = j + 1;
    } else if (c === "$" && src[i + 1] === "(") {
      const close = closingParen(src, i + 1);
      word = (word ?? "") + src.slice(i, close + 1);
      i = close + 1;
    } else if (c === "\\") {
      word = (word ?? "") + (src[i + 1] ?? "");
      i += 2;
    } else {
      word = (word ?? "") + c;
      i++;
    }
  }
  flush();
  return out;
}

const SHELL_PREFIXES = new Set(["if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec", "command", "{", "}"]);

/** Every `dagger …` command in shell text, as its words after `dagger`. */
function daggerCommands(src: string): string[][] {
  const commands: string[][] = [];
  let current: string[] = [];
  const end = () => {
    let words = current;
    while (words.length > 0 && (SHELL_PREFIXES.has(words[0] as string) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] as string))) words = words.slice(1);
    if (words[0] === "dagger" || words[0]?.endsWith("/dagger")) commands.push(words.slice(1));
    current = [];
  };
  for (const token of shellTokens(src)) {
    if ("op" in token) end();
    else current.push(token.word);
  }
  end();
  return commands;
}

// ---------------------------------------------------------------------------------------------------------
// The API `dagger call` walks: this module's functions (the scan) and the engine's core types (its schema)

interface ApiArgument {
  /** As registered (camelCase); the flag is its kebab-case. */
  name: string;
  /** `string`, `boolean`, `integer`, `Directory`, `string[]`… */
  type: string;
  required: boolean;
}
interface ApiFunction {
  name: string;
  args: ApiArgument[];
  returns: string;
  check?: boolean;
}
interface CallApi {
  /** The module's constructor: its arguments are the flags before the first function. */
  constructor: ApiFunction;
  /** Functions by type name, then by CLI name (kebab-case). */
  types: Map<string, Map<string, ApiFunction>>;
}

/** Dagger's CLI name of a function or argument: `testReport` → `test-report`, `failFast` → `--fail-fast`. */
function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/([A-Z])([A-Z][a-z])/g, "$1-$2").toLowerCase();
}

const SCALARS: Record<string, string> = { String: "string", Boolean: "boolean", Int: "integer", Float: "float", Void: "void" };

function graphqlTypeName(type: GraphQLType): string {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return `${graphqlTypeName(inner.ofType)}[]`;
  const name = getNamedType(inner).name;
  return SCALARS[name] ?? name;
}

/** The engine's core object types (Directory, Container, Service, File…) from its schema, as `dagger call` offers them. */
function coreTypes(): Map<string, Map<string, ApiFunction>> {
  const schema = buildSchema(readFileSync(join(REPO_ROOT, "test/support/dagger-schema.graphqls"), "utf8"));
  const types = new Map<string, Map<string, ApiFunction>>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith("__") || type.name === "Query") continue;
    const fns = new Map<string, ApiFunction>();
    for (const field of Object.values(type.getFields())) {
      fns.set(kebab(field.name), {
        name: field.name,
        returns: graphqlTypeName(field.type),
        args: field.args.map((a) => ({ name: a.name, type: graphqlTypeName(a.type), required: isNonNullType(a.type) && a.defaultValue === undefined })),
      });
    }
    types.set(type.name, fns);
  }
  return types;
}

const requiredArgument = (a: ScannedArgument) => !a.optional && a.defaultValue === undefined && a.defaultPath === undefined;
const apiArgument = (a: ScannedArgument): ApiArgument => ({ name: a.name, type: a.type, required: requiredArgument(a) });

function callApi(module: ScannedModule): CallApi {
  const types = coreTypes();
  types.set(module.objectName, new Map(module.functions.map((fn) => [kebab(fn.name), { name: fn.name, args: fn.arguments.map(apiArgument), returns: fn.returns, check: fn.check }])));
  for (const type of module.types) {
    types.set(type.name, new Map(type.fields.map((f) => [kebab(f.name), { name: f.name, args: [], returns: f.type }])));
  }
  return { constructor: { name: "", args: module.constructorArguments.map(apiArgument), returns: module.objectName }, types };
}

// ---------------------------------------------------------------------------------------------------------
// The check of one `dagger call`

/** The Dagger CLI's own flags (v0.21.8's cmd/dagger: global, module and call flags) and whether each takes a value. */
const CLI_FLAGS: Record<string, boolean> = {
  ...Object.fromEntries(["--workdir", "--progress", "--lock", "--interactive-command", "--x-release", "--dot-output", "--dot-focus-field", "--mod", "-m", "--allow-llm", "--output", "-o"].map((f) => [f, true])),
  ...Object.fromEntries(
    ["--verbose", "-v", "-vv", "-vvv", "--quiet", "-q", "--silent", "-s", "--debug", "-d", "--interactive", "-i", "--web", "-w", "--no-exit", "-E", "--auto-apply", "-y"]
      .concat(["--dot-show-internal", "--cloud", "--scale-out", "--no-mod", "-M", "--eager-runtime", "--json", "-j", "--help", "-h"])
      .map((f) => [f, false]),
  ),
};
const CHECK_FLAGS: Record<string, boolean> = { "--list": false, "-l": false, "--failfast": false, "--no-generate": false, "--generate": false };

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

function didYouMean(name: string, candidates: string[]): string {
  const best = candidates.map((c) => ({ c, d: editDistance(name, c) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean ${best.c}?)` : "";
}

interface CallCheckOptions {
  /** Whether a `-m` reference names this module. */
  isThisModule(ref: string): boolean;
}

/**
 * What is wrong with one `dagger …` command (its words after `dagger`), as the Dagger CLI would parse it:
 * unknown or misplaced flags, unknown functions, missing required flags, chaining after a list or a scalar,
 * a `-m` that is not this module. Empty when nothing is.
 */
function checkDaggerCommand(words: string[], api: CallApi, options: CallCheckOptions): string[] {
  const problems: string[] = [];
  let i = 0;
  const cliFlag = (flags: Record<string, boolean>): boolean => {
    const word = words[i] as string;
    const [flag, inline] = word.includes("=") ? [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)] : [word, undefined];
    const takesValue = flags[flag];
    if (takesValue === undefined) return false;
    let value = inline;
    if (takesValue && inline === undefined) value = words[++i];
    if (takesValue && value === undefined) problems.push(`${flag} needs a value`);
    if ((flag === "-m" || flag === "--mod") && value !== undefined && !options.isThisModule(value)) problems.push(`${flag} ${value} is not this module (module-address.txt: ${ADDRESS})`);
    i++;
    return true;
  };
  while (i < words.length && (words[i] as string).startsWith("-")) {
    if (!cliFlag(CLI_FLAGS)) problems.push(`unknown dagger flag ${words[i++]}`);
  }
  const subcommand = words[i++];
  if (subcommand === "check") {
    const checks = [...(api.types.get(api.constructor.returns)?.values() ?? [])].filter((fn) => fn.check).map((fn) => kebab(fn.name));
    while (i < words.length) {
      const word = words[i] as string;
      if (word.startsWith("-")) {
        if (!cliFlag({ ...CLI_FLAGS, ...CHECK_FLAGS })) problems.push(`dagger check: unknown flag ${words[i++]}`);
        continue;
      }
      const pattern = new RegExp(`^${word.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
      if (!checks.some((c) => pattern.test(c))) problems.push(`dagger check ${word}: no check matches (checks: ${checks.join(", ") || "none"})${didYouMean(word, checks)}`);
      i++;
    }
    return problems;
  }
  if (subcommand !== "call") return problems;

  let fn = api.constructor;
  let label = "the module's constructor";
  for (;;) {
    const seen = new Set<string>();
    while (i < words.length && (words[i] as string).startsWith("-")) {
      if (cliFlag(CLI_FLAGS)) continue;
      const word = words[i] as string;
      const eq = word.indexOf("=");
      const flag = eq < 0 ? word : word.slice(0, eq);
      const inline = eq < 0 ? undefined : word.slice(eq + 1);
      const name = flag.replace(/^--?/, "");
      const arg = fn.args.find((a) => kebab(a.name) === name);
      if (!arg || !flag.startsWith("--")) {
        const flags = fn.args.map((a) => `--${kebab(a.name)}`);
        problems.push(`${label}: unknown flag ${flag}${didYouMean(flag, flags)}; its flags: ${flags.join(", ") || "none"}`);
        i++;
        continue;
      }
      seen.add(arg.name);
      if (arg.type === "boolean") {
        if (inline !== undefined && !/^(true|false)$/.test(inline)) problems.push(`${label}: ${flag} is a boolean, not ${JSON.stringify(inline)}`);
        i++;
      } else if (inline !== undefined) {
        if (inline === "") problems.push(`${label}: ${flag} has an empty value`);
        i++;
      } else {
        if (i + 1 >= words.length || (words[i + 1] as string).startsWith("--")) problems.push(`${label}: ${flag} needs a value`);
        i += 2;
      }
    }
    for (const arg of fn.args.filter((a) => a.required && !seen.has(a.name))) problems.push(`${label}: missing required flag --${kebab(arg.name)}`);
    if (i >= words.length) break;
    const name = words[i++] as string;
    const type = api.types.get(fn.returns);
    if (!type) {
      problems.push(`${label} returns ${fn.returns}: nothing can be chained after it (${name})`);
      break;
    }
    const next = type.get(name);
    if (!next) {
      problems.push(`unknown function ${name} on ${fn.returns}${didYouMean(name, [...type.keys()])}`);
      break;
    }
    fn = next;
    label = name;
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// Where the commands are: YAML files, the Jenkinsfile, the README

/** Every string value of a parsed YAML document. */
function yamlStrings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(yamlStrings);
  if (value && typeof value === "object") return Object.values(value).flatMap(yamlStrings);
  return [];
}

/** A line that looks like it runs `dagger … call` (in a script, a string, a quote). */
const DAGGER_CALL_LINE = /(^|[\s;&|('"`])dagger(\s+-\S+)*\s+call\b/;

/** Lines of a file that look like a `dagger … call`, outside comments: what the extraction must account for. */
function daggerCallLines(text: string, comment: RegExp): number {
  return text.split("\n").filter((line) => !comment.test(line) && DAGGER_CALL_LINE.test(line)).length;
}

interface Found {
  file: string;
  words: string[];
}

function yamlCommands(file: string, unescape: (s: string) => string = (s) => s): Found[] {
  const text = readFileSync(file, "utf8");
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join("; ")}`);
  const found = yamlStrings(document.toJS())
    .filter((s) => /(^|[\s;&|(])dagger(\s|$)/.test(s))
    .flatMap((s) => daggerCommands(unescape(s)))
    .filter((words) => words.includes("call"))
    .map((words) => ({ file: relative(REPO_ROOT, file), words }));
  const lines = daggerCallLines(text, /^\s*#/);
  if (found.length !== lines) throw new Error(`${file}: ${lines} lines call dagger, ${found.length} commands were found in its YAML strings`);
  return found;
}

/** The scripts of a Jenkinsfile's `sh '…'`, `sh "…"`, `sh '''…'''`, `sh """…"""` and `sh(script: …)` steps, as the shell gets them. */
function jenkinsShellSteps(text: string): { script: string; start: number; end: number }[] {
  // comments blanked (same length, so offsets stay): whole `//` lines and /* … */ blocks
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/^[ \t]*\/\/.*$/gm, (m) => " ".repeat(m.length));
  const steps: { script: string; start: number; end: number }[] = [];
  const opening = /\bsh\s*(?:\(\s*(?:script\s*:\s*)?)?('''|"""|'|")/g;
  for (let match = opening.exec(code); match; match = opening.exec(code)) {
    const quote = match[1] as string;
    const from = match.index + match[0].length;
    let to = -1;
    if (quote.length === 3) to = code.indexOf(quote, from);
    else for (let j = from; j < code.length; j++) {
      if (code[j] === "\\") j++;
      else if (code[j] === quote) {
        to = j;
        break;
      } else if (code[j] === "\n") break;
    }
    if (to < 0) throw new Error(`Jenkinsfile: an sh step's string is not closed: ${code.slice(match.index, match.index + 80)}`);
    const raw = code.slice(from, to);
    // Groovy's escapes: `\` + newline continues the line; \\, \', \" and (in "…") \$ stand for the character
    const script = raw.replace(/\\(\r?\n|[\\'"$])/g, (_, c: string) => (c.endsWith("\n") ? "" : c));
    steps.push({ script, start: match.index, end: to + quote.length });
    opening.lastIndex = to + quote.length;
  }
  return steps;
}

function jenkinsCommands(file: string): Found[] {
  const text = readFileSync(file, "utf8");
  const steps = jenkinsShellSteps(text);
  // every line calling dagger outside a comment lies in an sh step: the extraction missed none
  let offset = 0;
  for (const line of text.split("\n")) {
    const at = /^\s*\/\//.test(line) ? -1 : line.search(DAGGER_CALL_LINE);
    if (at >= 0 && !steps.some((s) => s.start <= offset + at && offset + at < s.end)) throw new Error(`${file}: a dagger call outside an sh step: ${line.trim()}`);
    offset += line.length + 1;
  }
  return steps.flatMap((s) => daggerCommands(s.script)).filter((words) => words.includes("call")).map((words) => ({ file: relative(REPO_ROOT, file), words }));
}

/** The README's ```sh blocks, each a script. */
function readmeShellBlocks(readme: string): string[] {
  return [...readme.matchAll(/^```(?:sh|shell|bash)\n([\s\S]*?)^```/gm)].map((m) => m[1] as string);
}

const examples = () => readdirSync(CI_EXAMPLES).sort();
const workflows = () => readdirSync(join(REPO_ROOT, ".github/workflows")).filter((f) => /\.ya?ml$/.test(f));

/** Buildkite interpolates `$VAR` at upload; `$$` leaves `$` to the shell. */
const buildkiteUnescape = (s: string) => s.replaceAll("$$", "$");

function commandsOf(file: string): Found[] {
  const name = file.split("/").pop() as string;
  if (name === "Jenkinsfile") return jenkinsCommands(file);
  return yamlCommands(file, name === "pipeline.yml" ? buildkiteUnescape : undefined);
}

/** `-m` may name this repository (`.`), its Git address (maybe @ref), or the examples' variable holding it. */
function isThisModule(ref: string): boolean {
  return ref === "." || ref === "./" || ref === REPO_ROOT || ref === "$KIND_PIPELINE_MODULE" || ref === "${KIND_PIPELINE_MODULE}" || ref === ADDRESS || ref.startsWith(`${ADDRESS}@`);
}

// ---------------------------------------------------------------------------------------------------------
// Composability and checks, as rules over a scan

/** Argument types a composing module can make and pass (scalars, core objects it builds with dag, this module's objects). */
const COMPOSABLE = new Set(["string", "integer", "float", "boolean", "Directory", "File", "Secret", "Container", "Service", "CacheVolume", "GitRepository", "GitRef", "Platform"]);

/** Required arguments a composing module could not pass: a type only the CLI can make (a host socket, the host…). */
function composabilityProblems(module: ScannedModule): string[] {
  const own = new Set([module.objectName, ...module.types.map((t) => t.name)]);
  const problems: string[] = [];
  const scan = (fn: string, args: ScannedArgument[]) => {
    for (const arg of args.filter(requiredArgument)) {
      const type = arg.type.replace(/(\[\])+$/, "");
      if (!COMPOSABLE.has(type) && !own.has(type)) problems.push(`${fn}(${arg.name}: ${arg.type}): a required argument of a type a composing module cannot make`);
    }
  };
  scan("constructor", module.constructorArguments);
  for (const fn of module.functions) scan(fn.name, fn.arguments);
  return problems;
}

/** Checks the engine would not run: `dagger check` calls a check (and constructs the module) with no arguments (core/module.go functionRequiresArgs). */
function checkProblems(module: ScannedModule): string[] {
  const checks = module.functions.filter((fn) => fn.check);
  if (checks.length === 0) return [];
  return [
    ...module.constructorArguments.filter(requiredArgument).map((a) => `constructor: required argument ${a.name}, so dagger check cannot construct the module`),
    ...checks.flatMap((fn) => fn.arguments.filter(requiredArgument).map((a) => `${fn.name}: a check with a required argument (${a.name}), which dagger check skips`)),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// The client Dagger generates for a dependency, from its registration (the TypeScript SDK's codegen rules)

function tsType(type: string): string {
  if (type.endsWith("[]")) return `${tsType(type.slice(0, -2))}[]`;
  const scalar = { string: "string", integer: "number", float: "number", boolean: "boolean", void: "void" }[type];
  return scalar ?? `sdk.${type}`;
}

/** Scalars and lists come back as promises; objects as lazy objects to chain on. */
function tsReturn(type: string, own: Set<string>): string {
  const base = type.replace(/(\[\])+$/, "");
  const isObject = !["string", "integer", "float", "boolean", "void"].includes(base);
  const name = (t: string) => (own.has(t.replace(/(\[\])+$/, "")) ? t : tsType(t));
  if (type.endsWith("[]") || !isObject) return `Promise<${name(type)}>`;
  return name(type);
}

function tsParameters(args: ScannedArgument[], own: Set<string>): string {
  const type = (t: string) => (own.has(t.replace(/(\[\])+$/, "")) ? t : tsType(t));
  const required = args.filter(requiredArgument).map((a) => `${a.name}: ${type(a.type)}`);
  const optional = args.filter((a) => !requiredArgument(a)).map((a) => `${a.name}?: ${type(a.type)}`);
  return [...required, ...(optional.length > 0 ? [`opts?: { ${optional.join("; ")} }`] : [])].join(", ");
}

/**
 * The `sdk/index.ts` a composing module compiles against (its tsconfig maps @dagger.io/dagger there): the SDK,
 * plus `dag.<module>()` and the module's objects, generated from the scan.
 */
function generatedClient(module: ScannedModule, moduleName: string, sdkIndex: string): string {
  const own = new Set([module.objectName, ...module.types.map((t) => t.name)]);
  const method = (fn: ScannedFunction) => `  ${fn.name}(${tsParameters(fn.arguments, own)}): ${tsReturn(fn.returns, own)};`;
  const client = moduleName.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return [
    `import * as sdk from ${JSON.stringify(sdkIndex)};`,
    `export * from ${JSON.stringify(sdkIndex)};`,
    `export interface ${module.objectName} {`,
    ...module.functions.map(method),
    `}`,
    ...module.types.flatMap((t) => [`export interface ${t.name} {`, ...t.fields.map((f) => `  ${f.name}(): ${tsReturn(f.type, own)};`), `}`]),
    `export const dag = sdk.dag as sdk.Client & { ${client}(${tsParameters(module.constructorArguments, own)}): ${module.objectName} };`,
    ``,
  ].join("\n");
}

/** Type-checks a composing module's sources against a generated client; returns the diagnostics of its files. */
function typeCheck(sourceDir: string, clientFile: string): string[] {
  const files = readdirSync(sourceDir).filter((f) => f.endsWith(".ts")).map((f) => join(sourceDir, f));
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    // the runtime's tsconfig says "Node" (node10), deprecated by TypeScript 6; Bundler resolves these imports alike
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    experimentalDecorators: true,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
    paths: { "@dagger.io/dagger": [clientFile] },
  });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => !d.file || d.file.fileName.startsWith(sourceDir) || d.file.fileName === clientFile)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
      if (!d.file || d.start === undefined) return text;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${relative(sourceDir, d.file.fileName)}:${line + 1}: ${text}`;
    });
}

/** The `dag.kindPipeline(…).<fn>(…)` calls of a source file: the function called on the module and the option names passed. */
function compositionCalls(file: string, client: string): { constructorOptions: string[]; fn: string; options: string[] }[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
  const calls: { constructorOptions: string[]; fn: string; options: string[] }[] = [];
  const optionNames = (args: ts.NodeArray<ts.Expression>) =>
    args.flatMap((a) => (ts.isObjectLiteralExpression(a) ? a.properties.map((p) => p.name?.getText(source) ?? "") : []));
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.getText(source) === `dag.${client}`) {
      const access = node.parent;
      const call = access?.parent;
      if (access && call && ts.isPropertyAccessExpression(access) && ts.isCallExpression(call) && call.expression === access) {
        calls.push({ constructorOptions: optionNames(node.arguments), fn: access.name.text, options: optionNames(call.arguments) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return calls;
}

/** Scans a module source directory from a copy inside ci/node_modules, where its `@dagger.io/dagger` import resolves. */
async function scanCopy(sourceDir: string, moduleName: string, edit?: (file: string, text: string) => string): Promise<ScannedModule> {
  const copy = mkdtempSync(join(REPO_ROOT, "ci/node_modules/.kind-pipeline-examples-scan-"));
  try {
    cpSync(sourceDir, copy, { recursive: true });
    const files = readdirSync(copy, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    if (edit) for (const f of files) writeFileSync(join(copy, f), edit(f, readFileSync(join(copy, f), "utf8")));
    return await scanModule(copy, moduleName);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

// =========================================================================================================

let module: ScannedModule;
let api: CallApi;
beforeAll(async () => {
  module = await scanModule();
  api = callApi(module);
}, 60_000);

const check = (line: string) => checkDaggerCommand(daggerCommands(line)[0] ?? [], api, { isThisModule });

describe("the dagger call checker", () => {
  it("finds each dagger command in shell text: continuations, quotes, conditionals, redirections, comments", () => {
    expect(daggerCommands('dagger call -m "$KIND_PIPELINE_MODULE" \\\n  --source=. test-report \\\n  export --path=report')).toEqual([
      ["call", "-m", "$KIND_PIPELINE_MODULE", "--source=.", "test-report", "export", "--path=report"],
    ]);
    expect(daggerCommands('if [ -f x ]; then echo "$(cat x)"; else dagger --progress=plain call -m . test-report export --path report; fi')).toEqual([
      ["--progress=plain", "call", "-m", ".", "test-report", "export", "--path", "report"],
    ]);
    expect(daggerCommands("dagger call schema > kind-pipeline.schema.json 2>&1 # the schema\n# dagger call ignored\nFOO=1 dagger call plan | tee plan.txt")).toEqual([
      ["call", "schema"],
      ["call", "plan"],
    ]);
    expect(daggerCommands("echo dagger call nothing && /usr/local/bin/dagger version")).toEqual([["version"]]);
  });

  it("accepts the module's functions, flags and chained core calls", () => {
    for (const line of [
      "dagger call -m . test-report export --path=report",
      "dagger --progress=plain call -m . test-report export --path report",
      'dagger call -m "$KIND_PIPELINE_MODULE" --source=. --config=ci/kind-pipeline.yaml --secrets=env://PIP_TOKEN test --kubernetes=1.37.0,1.36.4 --images=jax --fail-fast',
      "dagger call test-report --fail-fast=true export --path=report --wipe",
      "dagger call build-all --images=jax,pytorch",
      "dagger call --interactive build --image=jax terminal",
      "dagger call build --image=jax export --path=jax.tar",
      "dagger call cluster --kubernetes=1.37.0 up --ports 6443:6443",
      "dagger call kubeconfig --local export --path=./kubeconfig",
      "dagger call node-image --kubernetes=1.38.0 archive export --path=node-1.38.0.tar",
      "dagger call node-image ref",
      `dagger call -m "${ADDRESS}@v1.2.3" --source=. plan`,
      "dagger check",
      "dagger check test",
    ]) {
      expect(check(line), line).toEqual([]);
    }
  });

  it("fails on a misspelt function, naming the one meant", () => {
    expect(check("dagger call -m . test-reprot export --path=report")).toEqual(["unknown function test-reprot on KindPipeline (did you mean test-report?)"]);
    expect(check("dagger call testReport export --path=report")).toEqual(["unknown function testReport on KindPipeline (did you mean test-report?)"]);
    expect(check("dagger call test-report exprot --path=report")).toEqual(["unknown function exprot on Directory (did you mean export?)"]);
    expect(check("dagger call cluster upp --ports 6443:6443")).toEqual(["unknown function upp on Service (did you mean up?)"]);
    expect(check("dagger check tset")[0]).toMatch(/^dagger check tset: no check matches \(checks: test\) \(did you mean test\?\)$/);
  });

  it("fails on a misspelt flag, naming the one meant and the function's flags", () => {
    expect(check("dagger call test-report --fail-fats export --path=report")).toEqual([
      "test-report: unknown flag --fail-fats (did you mean --fail-fast?); its flags: --kubernetes, --images, --fail-fast",
    ]);
    expect(check("dagger call --sources=. test")).toEqual([
      "the module's constructor: unknown flag --sources (did you mean --source?); its flags: --source, --config, --secrets",
    ]);
    expect(check("dagger call test-report export --paht=report")).toEqual([
      "export: unknown flag --paht (did you mean --path?); its flags: --path, --wipe",
      "export: missing required flag --path",
    ]);
    expect(check("dagger --progres=plain call test")).toEqual(["unknown dagger flag --progres=plain"]);
  });

  it("fails on what the CLI would refuse: a missing required flag, a bad boolean, chaining after a list or a string, a flag after its function, another module", () => {
    expect(check("dagger call build terminal")).toEqual(["build: missing required flag --image"]);
    expect(check("dagger call test --fail-fast=yes")).toEqual(['test: --fail-fast is a boolean, not "yes"']);
    expect(check("dagger call build-all terminal")).toEqual(["build-all returns Container[]: nothing can be chained after it (terminal)"]);
    expect(check("dagger call plan stdout")).toEqual(["plan returns string: nothing can be chained after it (stdout)"]);
    expect(check("dagger call test-report --path=report export")).toEqual([
      "test-report: unknown flag --path; its flags: --kubernetes, --images, --fail-fast",
      "export: missing required flag --path",
    ]);
    expect(check("dagger call -m github.com/someone/else test")).toEqual([`-m github.com/someone/else is not this module (module-address.txt: ${ADDRESS})`]);
  });
});

describe("every dagger call in the workflows, the CI examples and the README is one the module answers", () => {
  it("examples/ci holds GitLab CI, CircleCI, Jenkins, Buildkite and Azure Pipelines", () => {
    expect(examples()).toEqual([".gitlab-ci.yml", "Jenkinsfile", "azure-pipelines.yml", "config.yml", "pipeline.yml"]);
  });

  it.each([...workflows().map((f) => `.github/workflows/${f}`), ...examples().map((f) => `examples/ci/${f}`)])("%s", (file) => {
    const found = commandsOf(join(REPO_ROOT, file));
    expect(found.length, `${file} runs no dagger call`).toBeGreaterThan(0);
    for (const { words } of found) expect(checkDaggerCommand(words, api, { isThisModule }), `dagger ${words.join(" ")}`).toEqual([]);
  });

  it("README.md's shell blocks", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const found = readmeShellBlocks(readme).flatMap(daggerCommands).filter((w) => w.includes("call") || w[0] === "check");
    expect(found.length).toBeGreaterThan(10);
    const problems = found.map((words) => ({ command: `dagger ${words.join(" ")}`, problems: checkDaggerCommand(words, api, { isThisModule }) })).filter((c) => c.problems.length > 0);
    expect(problems).toEqual([]);
  });

  it("an example that drifts fails: a misspelt function in a YAML script, a misspelt flag in a Jenkinsfile, a call the extraction would miss", () => {
    const dir = mkdtempSync(join(tmpdir(), "kind-pipeline-drift-"));
    try {
      const gitlab = join(dir, ".gitlab-ci.yml");
      writeFileSync(gitlab, 'job:\n  script:\n    - dagger call -m "$KIND_PIPELINE_MODULE" --source=. test-reports export --path=report\n');
      expect(commandsOf(gitlab).map(({ words }) => checkDaggerCommand(words, api, { isThisModule }))).toEqual([["unknown function test-reports on KindPipeline (did you mean test-report?)"]]);
      const jenkins = join(dir, "Jenkinsfile");
      writeFileSync(jenkins, "pipeline {\n  stages {\n    stage('e2e') {\n      steps {\n        sh 'dagger call -m \"$KIND_PIPELINE_MODULE\" --source=. test --failfast'\n      }\n    }\n  }\n}\n");
      expect(commandsOf(jenkins).map(({ words }) => checkDaggerCommand(words, api, { isThisModule }))).toEqual([
        ["test: unknown flag --failfast (did you mean --fail-fast?); its flags: --kubernetes, --images, --fail-fast"],
      ]);
      writeFileSync(jenkins, "pipeline {\n  steps {\n    script { run('dagger call test') }\n  }\n}\n");
      expect(() => commandsOf(jenkins)).toThrow(/a dagger call outside an sh step: script \{ run\('dagger call test'\) \}/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the Jenkinsfile's sh steps are read as Groovy writes them: every quoting, escapes, comments", () => {
    const steps = jenkinsShellSteps(
      [
        "// sh 'dagger call in-a-comment'",
        "/* sh 'dagger call in-a-block' */",
        `sh 'dagger call -m "$KIND_PIPELINE_MODULE" test'`,
        `sh "dagger call -m \\$KIND_PIPELINE_MODULE plan"`,
        "sh '''",
        "  dagger call build --image=jax \\\\",
        "    terminal",
        "'''",
        `sh(script: 'dagger call schema', returnStdout: true)`,
      ].join("\n"),
    );
    expect(steps.flatMap((s) => daggerCommands(s.script))).toEqual([
      ["call", "-m", "$KIND_PIPELINE_MODULE", "test"],
      ["call", "-m", "$KIND_PIPELINE_MODULE", "plan"],
      ["call", "build", "--image=jax", "terminal"],
      ["call", "schema"],
    ]);
  });
});

describe("the CI examples", () => {
  const text = (file: string) => readFileSync(join(CI_EXAMPLES, file), "utf8");
  const yaml = <T>(file: string) => parseDocument(text(file)).toJS() as T;
  const CANONICAL = ["call", "-m", "$KIND_PIPELINE_MODULE", "--source=.", "test-report", "export", "--path=report"];

  it.each(examples())("%s: runs the one call, with the pinned CLI and the module's Git address, and fails on report/status", (file) => {
    const raw = file === "pipeline.yml" ? buildkiteUnescape(text(file)) : text(file);
    const runs = commandsOf(join(CI_EXAMPLES, file)).filter((c) => c.words.includes("-m"));
    expect(runs.map((c) => c.words)).toEqual([CANONICAL]);
    // the Dagger CLI of dagger.json, by Dagger's install.sh (which checks the release's checksums.txt)
    const versions = [...raw.matchAll(/\bDAGGER_VERSION\s*[:=]\s*["']?(?!\$)([^"'\s]+)["']?/g)].map((m) => m[1]);
    expect(versions).toEqual([CLI_VERSION]);
    expect(raw).toMatch(/curl -fsSL https:\/\/dl\.dagger\.io\/dagger\/install\.sh \| BIN_DIR=\S+ DAGGER_VERSION="\$DAGGER_VERSION" sh/);
    // the module by its Git address, defined once
    const modules = [...raw.matchAll(/\bKIND_PIPELINE_MODULE\s*[:=]\s*["']?([^"'\s]+)["']?/g)].map((m) => m[1]);
    expect(modules).toEqual([ADDRESS]);
    // fails when the run did, on the report's status
    expect(raw).toMatch(/test "(\$\(cat report\/status\)|\$status)" = passed/);
    // no secret by value: references only, and no credential-looking literal
    for (const secret of raw.matchAll(/--secrets=(\S+)/g)) expect(secret[1], file).toMatch(/^(env|file|cmd|op|vault):\/\//);
    expect(raw).not.toMatch(/\b(gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|xox[bp]-[A-Za-z0-9-]+)/);
    expect(raw).not.toMatch(/^\s*[A-Z_]*(TOKEN|PASSWORD|SECRET)[A-Z_]*\s*[:=]\s*["']?[A-Za-z0-9+/_-]{8,}/m);
  });

  it("GitLab CI: images pinned by digest, the report as artifacts and JUnit whatever happened, the status last", () => {
    interface GitlabJob {
      image: string;
      services: { name: string; alias: string }[];
      variables: Record<string, string>;
      script: string[];
      artifacts: { when: string; paths: string[]; reports: { junit: string } };
    }
    const job = yaml<Record<string, GitlabJob>>(".gitlab-ci.yml")["kind-pipeline"] as GitlabJob;
    for (const image of [job.image, ...job.services.map((s) => s.name)]) expect(image).toMatch(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    expect(job.services).toEqual([expect.objectContaining({ alias: "docker" })]);
    expect(job.variables.DOCKER_HOST).toBe("tcp://docker:2376");
    expect(job.artifacts).toEqual(expect.objectContaining({ when: "always", paths: ["report/"], reports: { junit: "report/junit.xml" } }));
    expect(job.script.at(-1)).toBe('test "$(cat report/status)" = passed');
  });

  it("CircleCI: a dated machine image, test results and artifacts stored before the status fails the job", () => {
    interface Step {
      run?: { name: string; command: string };
      store_test_results?: { path: string };
      store_artifacts?: { path: string };
    }
    const config = yaml<{ version: number; jobs: Record<string, { machine: { image: string }; resource_class: string; steps: (string | Step)[] }> }>("config.yml");
    expect(config.version).toBe(2.1);
    const job = config.jobs["kind-pipeline"];
    expect(job?.machine.image).toMatch(/^ubuntu-\d{4}:\d{4}\.\d{2}\.\d+$/);
    const steps = (job?.steps ?? []).map((s) => (typeof s === "string" ? {} : s));
    const call = steps.findIndex((s) => s.run?.command.includes("test-report export"));
    const results = steps.findIndex((s) => s.store_test_results?.path === "report/junit.xml");
    const artifacts = steps.findIndex((s) => s.store_artifacts?.path === "report");
    const status = steps.findIndex((s) => s.run?.command.includes("report/status"));
    expect([call, results, artifacts, status].every((i) => i >= 0)).toBe(true);
    expect(call < results && results < artifacts && artifacts < status && status === steps.length - 1).toBe(true);
  });

  it("Jenkins: JUnit and the archive in post { always }, the status stage after the call", () => {
    const jenkinsfile = text("Jenkinsfile");
    const post = /\bpost\s*\{\s*always\s*\{([\s\S]*?)\}\s*\}/.exec(jenkinsfile)?.[1] ?? "";
    expect(post).toMatch(/junit testResults: 'report\/junit\.xml', allowEmptyResults: true/);
    expect(post).toMatch(/archiveArtifacts artifacts: 'report\/\*\*', allowEmptyArchive: true/);
    const scripts = jenkinsShellSteps(jenkinsfile).map((s) => s.script);
    const call = scripts.findIndex((s) => s.includes("test-report export"));
    const status = scripts.findIndex((s) => s.includes("report/status"));
    expect(call >= 0 && status > call && status === scripts.length - 1).toBe(true);
    expect(jenkinsfile).toMatch(/agent \{ label 'dagger' \}/);
  });

  it("Buildkite: the report as artifacts, the junit-annotate plugin pinned by commit after a wait that continues on failure", () => {
    interface Step {
      command?: string;
      artifact_paths?: string[];
      wait?: null;
      continue_on_failure?: boolean;
      plugins?: Record<string, { artifacts: string }>[];
    }
    const { steps } = yaml<{ steps: Step[] }>("pipeline.yml");
    expect(steps[0]?.artifact_paths).toEqual(["report/**/*"]);
    expect(steps[0]?.command).toMatch(/test "\$\$status" = passed\n$/);
    expect(steps[1]).toEqual({ wait: null, continue_on_failure: true });
    const [plugin] = steps[2]?.plugins ?? [];
    expect(Object.keys(plugin ?? {})).toEqual([expect.stringMatching(/^junit-annotate#[0-9a-f]{40}$/)]);
    expect(Object.values(plugin ?? {})[0]).toEqual(expect.objectContaining({ artifacts: "report/junit.xml" }));
  });

  it("Azure Pipelines: a named VM image, test results and the artifact published whatever happened, the status last", () => {
    interface Step {
      script?: string;
      task?: string;
      condition?: string;
      inputs?: Record<string, string>;
    }
    const pipeline = yaml<{ jobs: { pool: { vmImage: string }; steps: Step[] }[] }>("azure-pipelines.yml");
    const [job] = pipeline.jobs;
    expect(job?.pool.vmImage).toMatch(/^ubuntu-\d\d\.\d\d$/);
    const steps = job?.steps ?? [];
    const call = steps.findIndex((s) => s.script?.includes("test-report export"));
    const results = steps.findIndex((s) => s.task === "PublishTestResults@2");
    const artifact = steps.findIndex((s) => s.task === "PublishPipelineArtifact@1");
    const status = steps.findIndex((s) => s.script?.includes("report/status"));
    expect(call >= 0 && call < results && results < artifact && artifact < status && status === steps.length - 1).toBe(true);
    expect(steps[results]).toEqual(expect.objectContaining({ condition: "succeededOrFailed()", inputs: expect.objectContaining({ testResultsFormat: "JUnit", testResultsFiles: "report/junit.xml" }) }));
    expect(steps[artifact]).toEqual(expect.objectContaining({ condition: "succeededOrFailed()", inputs: expect.objectContaining({ targetPath: "report" }) }));
  });
});

describe("the module's Git address: written once, and everything agrees with it", () => {
  it("module-address.txt holds one Git address of a module at a repository's root", () => {
    expect(ADDRESS).toMatch(/^github\.com\/[^/\s]+\/kind-pipeline$/);
  });

  it("the README, the compose example's README and every CI example name that address and no other", () => {
    const files = ["README.md", "examples/compose/README.md", ...examples().map((f) => `examples/ci/${f}`)];
    for (const file of files) {
      const named = [...readFileSync(join(REPO_ROOT, file), "utf8").matchAll(/github\.com\/[^\s/`"'@]+\/kind-pipeline\b/g)].map((m) => m[0]);
      expect(named.length, `${file} does not name the module's address`).toBeGreaterThan(0);
      expect(new Set(named), `${file} names another address than module-address.txt's (${ADDRESS})`).toEqual(new Set([ADDRESS]));
    }
  });
});

describe("README: Use it in CI, Compose it", () => {
  const readme = () => readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const section = (title: string) => {
    const text = readme();
    const from = text.indexOf(`\n## ${title}\n`);
    if (from < 0) return "";
    const to = text.indexOf("\n## ", from + 1);
    return text.slice(from, to < 0 ? undefined : to);
  };

  it("has both sections, right before the config reference", () => {
    const text = readme();
    const [ci = -1, compose = -1, config = -1] = ["## Use it in CI", "## Compose it", "## Config reference"].map((h) => text.indexOf(`\n${h}\n`));
    expect(ci).toBeGreaterThan(0);
    expect(ci < compose && compose < config).toBe(true);
  });

  it("Use it in CI: GitHub Actions first (this repository's workflow), then every example linked", () => {
    const ci = section("Use it in CI");
    const github = ci.indexOf(".github/workflows/ci.yml");
    expect(github).toBeGreaterThan(0);
    for (const file of examples()) {
      const link = ci.indexOf(`(examples/ci/${file})`);
      expect(link, `examples/ci/${file} is not linked`).toBeGreaterThan(github);
    }
  });

  it("Compose it: links the example module and says it is unverified on a real engine", () => {
    const compose = section("Compose it");
    expect(compose).toContain("(examples/compose/)");
    expect(compose).toMatch(/dag\.kindPipeline\(/);
    expect(compose).toMatch(/not (yet )?(been )?(run|verified)[^.]*engine|unverified/i);
  });
});

describe("examples/compose: a module that composes this one", () => {
  let composed: ScannedModule;
  let work: string;
  beforeAll(async () => {
    composed = await scanCopy(join(COMPOSE, "src"), "kind-pipeline-compose");
    work = mkdtempSync(join(tmpdir(), "kind-pipeline-compose-"));
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("its dagger.json depends on this module by local path, and pins the same engine", () => {
    const config = JSON.parse(readFileSync(join(COMPOSE, "dagger.json"), "utf8")) as { name: string; engineVersion: string; sdk: { source: string }; dependencies: { name: string; source: string }[] };
    expect(config).toEqual(expect.objectContaining({ name: "kind-pipeline-compose", engineVersion: engineVersion(), sdk: { source: "typescript" } }));
    expect(config.dependencies).toEqual([{ name: "kind-pipeline", source: "../.." }]);
    expect(existsSync(join(COMPOSE, config.dependencies[0]?.source ?? "", "dagger.json"))).toBe(true);
    const own = JSON.parse(readFileSync(join(REPO_ROOT, "dagger.json"), "utf8")) as { name: string };
    expect(own.name).toBe("kind-pipeline");
    // the runtime's own tsconfig shape, mapping the SDK to the generated ./sdk
    const tsconfig = JSON.parse(readFileSync(join(COMPOSE, "tsconfig.json"), "utf8")) as { compilerOptions: { paths: Record<string, string[]> } };
    expect(tsconfig.compilerOptions.paths["@dagger.io/dagger"]).toEqual(["./sdk/index.ts"]);
  });

  it("registers, as the runtime's scan sees it: its functions, their arguments and descriptions, the gate as a check", () => {
    expect(composed.objectName).toBe("KindPipelineCompose");
    expect(composed.moduleDescription).toMatch(/composes kind-pipeline/);
    expect(composed.constructorArguments.map((a) => `${a.name}: ${a.type}`)).toEqual(["source: Directory", "config: string", "secrets: Secret[]"]);
    expect(composed.constructorArguments[0]).toEqual(expect.objectContaining({ defaultPath: "/" }));
    expect(composed.functions.map((fn) => ({ name: fn.name, returns: fn.returns, check: fn.check, cache: fn.cache, args: fn.arguments.map((a) => `${a.name}: ${a.type}`) }))).toEqual([
      { name: "test", returns: "string", check: false, cache: "never", args: ["kubernetes: string[]"] },
      { name: "report", returns: "Directory", check: false, cache: "never", args: ["kubernetes: string[]"] },
      { name: "gate", returns: "string", check: true, cache: "never", args: ["kubernetes: string[]", "minTests: integer", "allowSkipped: boolean"] },
    ]);
    const bare = [
      ...composed.constructorArguments.filter((a) => !a.description).map((a) => `constructor.${a.name}`),
      ...composed.functions.flatMap((fn) => [...(fn.description ? [] : [fn.name]), ...fn.arguments.filter((a) => !a.description).map((a) => `${fn.name}.${a.name}`)]),
    ];
    expect(bare).toEqual([]);
    expect(checkProblems(composed)).toEqual([]);
  });

  it("calls dag.kindPipeline(…) with names this module registers: its constructor's arguments, then one of its functions with that function's arguments", () => {
    const calls = compositionCalls(join(COMPOSE, "src/index.ts"), "kindPipeline");
    expect(calls.map((c) => c.fn).sort()).toEqual(["test", "testReport"]);
    const constructorArgs = module.constructorArguments.map((a) => a.name);
    for (const call of calls) {
      expect(call.constructorOptions.filter((o) => !constructorArgs.includes(o)), `dag.kindPipeline({ ${call.constructorOptions.join(", ")} })`).toEqual([]);
      const fn = module.functions.find((f) => f.name === call.fn);
      expect(fn, `${call.fn} is not a function of kind-pipeline (registered: ${module.functions.map((f) => f.name).join(", ")})`).toBeDefined();
      expect(call.options.filter((o) => !fn?.arguments.some((a) => a.name === o))).toEqual([]);
    }
  });

  it("type-checks against the client Dagger would generate from this module's registration", () => {
    const generated = generatedClient(module, "kind-pipeline", SDK_INDEX);
    expect(generated).toContain("testReport(opts?: { kubernetes?: string[]; images?: string[]; failFast?: boolean }): sdk.Directory;");
    expect(generated).toContain("build(image: string): sdk.Container;");
    expect(generated).toContain("kindPipeline(opts?: { source?: sdk.Directory; config?: string; secrets?: sdk.Secret[] }): KindPipeline");
    const dir = join(work, "ok");
    cpSync(join(COMPOSE, "src"), dir, { recursive: true });
    writeFileSync(join(dir, "client.ts"), generated);
    expect(typeCheck(dir, join(dir, "client.ts"))).toEqual([]);
  }, 60_000);

  it("the type check fails on a misspelt function, a wrong argument type and an unknown option", () => {
    const generated = generatedClient(module, "kind-pipeline", SDK_INDEX);
    const cases: [string, (s: string) => string, RegExp][] = [
      ["testReports", (s) => s.replace(".testReport({ kubernetes })", ".testReports({ kubernetes })"), /Property 'testReports' does not exist on type 'KindPipeline'/],
      ["kubernetes: string", (s) => s.replace(".test({ kubernetes })", '.test({ kubernetes: "1.37.0" })'), /Type 'string' is not assignable to type 'string\[\]'/],
      ["configFile", (s) => s.replace("config: this.config, secrets", "configFile: this.config, secrets"), /'configFile' does not exist/],
    ];
    for (const [name, edit, error] of cases) {
      const dir = join(work, `broken-${name.replace(/\W/g, "")}`);
      cpSync(join(COMPOSE, "src"), dir, { recursive: true });
      const index = join(dir, "index.ts");
      const source = readFileSync(index, "utf8");
      expect(edit(source), name).not.toBe(source);
      writeFileSync(index, edit(source));
      writeFileSync(join(dir, "client.ts"), generated);
      expect(typeCheck(dir, join(dir, "client.ts")).join("\n"), name).toMatch(error);
    }
  }, 60_000);

  it("its own step, the gate, reads the report kind-pipeline writes", () => {
    const step = (name: string, status: "passed" | "failed" | "skipped") => ({ name, status, command: ["sh", "test/e2e/run.sh"], durationMs: status === "skipped" ? 0 : 1200, output: "", ...(status === "skipped" ? { reason: "after deploy, which failed" } : {}) });
    const run = (steps: ReturnType<typeof step>[]): TestResult => ({ images: [], versions: [{ kubernetes: "1.37.0", cluster: "kind-pipeline-1-37-0", steps, signatures: [] }] });
    const passed = run([step("deploy", "passed"), step("smoke", "passed")]);
    expect(junitCounts(renderJunit(passed))).toEqual({ tests: 2, failures: 0, errors: 0, skipped: 0 });
    expect(gateProblems(`${statusOf(passed)}\n`, renderJunit(passed), { minTests: 1, allowSkipped: false })).toEqual([]);
    expect(gateProblems("passed\n", renderJunit(passed), { minTests: 3, allowSkipped: false })).toEqual(["2 e2e steps in the report, fewer than the 3 required (min-tests)"]);
    const failed = run([step("deploy", "failed"), step("smoke", "skipped")]);
    expect(gateProblems(`${statusOf(failed)}\n`, renderJunit(failed), { minTests: 1, allowSkipped: false })).toEqual([
      "kind-pipeline reports the run as failed",
      "1 e2e step was skipped (allow-skipped accepts that)",
    ]);
    expect(gateProblems(`${statusOf(failed)}\n`, renderJunit(failed), { minTests: 1, allowSkipped: true })).toEqual(["kind-pipeline reports the run as failed"]);
    expect(() => junitCounts("<testsuite/>")).toThrow("junit.xml has no <testsuites> element");
  });

  it("its README: by local path and by the Git address, and unverified on a real engine", () => {
    const readme = readFileSync(join(COMPOSE, "README.md"), "utf8");
    expect(readme).toContain('"source": "../.."');
    expect(readme).toContain(`dagger install "${ADDRESS}@`);
    expect(readme).toMatch(/unverified/i);
  });
});

describe("this module stays composable, and its test path is a check", () => {
  it("no required argument has a type only the Dagger CLI can make", () => {
    expect(composabilityProblems(module)).toEqual([]);
  });

  it("the composability rule flags one (a host socket, the host)", () => {
    const broken: ScannedModule = {
      ...module,
      functions: [
        ...module.functions,
        { name: "dockerHost", description: "", returns: "string", up: false, check: false, arguments: [{ name: "socket", description: "", type: "Socket", optional: false }] },
        { name: "hostFiles", description: "", returns: "string", up: false, check: false, arguments: [{ name: "host", description: "", type: "Host", optional: false }, { name: "path", description: "", type: "string", optional: false }] },
      ],
    };
    expect(composabilityProblems(broken)).toEqual([
      "dockerHost(socket: Socket): a required argument of a type a composing module cannot make",
      "hostFiles(host: Host): a required argument of a type a composing module cannot make",
    ]);
  });

  it("test is registered as a check (the SDK's @check), callable with no arguments, so `dagger check` runs it", () => {
    expect(module.functions.filter((fn) => fn.check).map((fn) => fn.name)).toEqual(["test"]);
    expect(checkProblems(module)).toEqual([]);
    expect(check("dagger check test")).toEqual([]);
  });

  it("the check rule flags a check the engine would skip, and the scan sees a check lose its decorator", async () => {
    const withRequired: ScannedModule = { ...module, functions: module.functions.map((fn) => (fn.name === "test" ? { ...fn, arguments: [...fn.arguments, { name: "suite", description: "", type: "string", optional: false }] } : fn)) };
    expect(checkProblems(withRequired)).toEqual(["test: a check with a required argument (suite), which dagger check skips"]);
    const undecorated = await scanCopy(join(REPO_ROOT, "ci/src"), "kind-pipeline", (file, text) => (file === "index.ts" ? text.replace(/^\s*@check\(\)\n/m, "") : text));
    expect(undecorated.functions.filter((fn) => fn.check)).toEqual([]);
  }, 60_000);
});
