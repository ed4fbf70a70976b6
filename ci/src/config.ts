/**
 * Reads kind-pipeline.yaml: the only place that does. It returns a validated, normalized config or
 * throws one ConfigError that lists every problem as `dotted.path: message (line N)`, including
 * checks against the source tree (every context and Dockerfile exists) and between sections
 * (every `needs` names a configured image). Nothing else in the module re-validates.
 */
import { posix } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { configSchema, DOCKER_HUB, kubernetesVersion, partSchemas, type ImageConfig, type PipelineConfig } from "./config-schema.js";
import { otherReleasesPublishing, publishedKubernetesVersions, type KindVersion } from "./releases.js";
import type { SourceTree } from "./source-tree.js";

/** The config file read when none is named. */
export const DEFAULT_CONFIG_FILE = "kind-pipeline.yaml";

/** One problem found in the config: where (a dotted path, `e2e.0.needs`) and what. */
export interface ConfigProblem {
  path: string;
  message: string;
  /** 1-based line in the file, when the problem points at something written there. */
  line?: number;
}

/** A config (or a selection of its images and versions) that cannot run; lists every problem. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(
    /** What was checked: the config file's path, or "arguments" for a selection. */
    readonly subject: string,
    readonly problems: ConfigProblem[],
    advice = subject === "arguments"
      ? "Choose images and versions from the config (`dagger call plan` lists them)."
      : `Fix ${subject}; \`dagger call plan\` (or \`npm run plan\` here) checks a config without running anything.`,
  ) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super([`invalid ${subject} (${count}):`, ...problems.map(formatProblem), advice].join("\n"));
  }
}

function formatProblem({ path, message, line }: ConfigProblem): string {
  return `  ${path || "(top level)"}: ${message}${line ? ` (line ${line})` : ""}`;
}

/** Reads, parses and validates the config file of a source tree. Throws ConfigError. */
export async function loadConfig(tree: SourceTree, file = DEFAULT_CONFIG_FILE): Promise<PipelineConfig> {
  const text = await tree.readFile(file);
  if (text === undefined) {
    throw new ConfigError(
      file,
      [{ path: "", message: `file not found: ${file} (looked in the source directory)` }],
      "Create it (see the README's config reference) or name another file with --config.",
    );
  }
  return validateConfig(text, tree, file);
}

/** Parses and validates config text against a source tree. Throws ConfigError listing every problem. */
export async function validateConfig(text: string, tree: SourceTree, file = DEFAULT_CONFIG_FILE): Promise<PipelineConfig> {
  const lines = new LineCounter();
  // merge keys (`<<: *defaults`) so that images and steps can share a block instead of repeating it
  const doc = parseDocument(text, { lineCounter: lines, merge: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const [at] = e.linePos ?? [];
        const message = (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
        return { path: at ? `${file}:${at.line}:${at.col}` : file, message: `YAML syntax error: ${message}` };
      }),
    );
  }
  const raw = withoutExtensions(doc.toJS());
  const parsed = configSchema.safeParse(raw ?? {});
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => describeIssue(issue, raw))),
    ...checkReferences(raw),
    ...(await checkSourceTree(raw, tree)),
  ];
  const fileArgs = await readBuildArgFiles(raw, tree);
  problems.push(...fileArgs.problems);
  if (!parsed.success || problems.length > 0) {
    throw new ConfigError(file, sortByLine(problems.map((p) => ({ ...p, line: lineOf(doc, lines, p.path) }))));
  }
  return withFileBuildArgs(parsed.data, fileArgs.values);
}

/**
 * The build args read from the source (`buildArgsFrom: { NODE_VERSION: { file: frontend/.nvmrc } }`), by
 * image: each file's content, trimmed; and the problems: a file that is missing, empty or of several lines.
 */
async function readBuildArgFiles(raw: unknown, tree: SourceTree): Promise<{ problems: ConfigProblem[]; values: Map<string, Record<string, string>> }> {
  const images = Object.entries(asRecord(valueAt(raw, ["images"]))).map(async ([name, image]) => {
    const sources = Object.entries(computedBuildArgs(image));
    const read = sources.map(async ([arg, { file }]): Promise<{ arg: string; value?: string; problem?: ConfigProblem }> => {
      if (file === undefined) return { arg };
      const at = (message: string) => ({ arg, problem: { path: `images.${name}.buildArgsFrom.${arg}.file`, message } });
      const text = await tree.readFile(file);
      if (text === undefined) return at(`file not found: ${file} (relative to the source root)`);
      const value = text.trim();
      if (!value) return at(`${file} is empty: a build arg read from a file takes its one line`);
      if (value.includes("\n")) return at(`${file} holds ${value.split("\n").length} lines: a build arg read from a file takes its one line (as .nvmrc holds "20.11.0")`);
      return { arg, value };
    });
    return { name, read: await Promise.all(read) };
  });
  const done = await Promise.all(images);
  return {
    problems: done.flatMap(({ read }) => read.flatMap((r) => (r.problem ? [r.problem] : []))),
    values: new Map(done.map(({ name, read }) => [name, Object.fromEntries(read.flatMap((r) => (r.value !== undefined ? [[r.arg, r.value]] : [])))])),
  };
}

/** The config with the build args read from files set among each image's buildArgs, so every build (tested or pushed) gets them. */
function withFileBuildArgs(config: PipelineConfig, values: Map<string, Record<string, string>>): PipelineConfig {
  const images = Object.entries(config.images).map(([name, image]) => [name, { ...image, buildArgs: { ...image.buildArgs, ...values.get(name) } }] as const);
  return { ...config, images: Object.fromEntries(images) };
}

/**
 * The document without its `x-` top-level keys: a place for YAML anchors to share (`x-python: &python
 * {…}`), as Compose files allow. Every other unknown key is still an error.
 */
function withoutExtensions(raw: unknown): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  return Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith("x-")));
}

/** Turns a zod issue into problems with human messages (one per unknown key). */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigProblem[] {
  const path = issue.path.map(String);
  const at = (message: string, p = path): ConfigProblem => ({ path: p.join("."), message });
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => {
        const known = knownKeys(path);
        return at(`unknown key${didYouMean(key, known) || ` (expected one of: ${known.join(", ")})`}`, [...path, key]);
      });
    case "invalid_key":
      return [at(issue.issues[0]?.message ?? issue.message)];
    case "invalid_type": {
      const value = valueAt(raw, path);
      if (value === undefined) return [at("required")];
      if (issue.message.startsWith("Invalid input")) return [at(`must be ${article(issue.expected)}, not ${describeValue(value)}`)];
      return [at(issue.message)];
    }
    // Every enum, minimum and maximum of the schema carries its own "must …" message, which passes as is.
    default:
      return [at(issue.message)];
  }
}

/**
 * Checks between sections: every `needs` is a configured image, every `after` a step (without cycles),
 * step names and versions are unique, versions have node images when building one is not allowed, and
 * no build secret id stands for two references. Each field is read on its own, so these problems are
 * reported together with the schema's, even when a neighbouring field is wrong.
 */
function checkReferences(raw: unknown): ConfigProblem[] {
  const written = valueAt(raw, ["kubernetes", "versions"]);
  const versions = (written === undefined ? partSchemas.kubernetes.shape.versions.parse(undefined) : asArray(written)).map((v) => kubernetesVersion.safeParse(v).data);
  return [...checkSteps(raw, versions), ...checkVersions(raw, versions), ...checkBuildSecretIds(raw), ...checkMisnamedImages(raw), ...checkNodeShape(raw), ...checkPublish(raw), ...checkLanes(raw, versions)];
}

/** Lane names unique and short enough beside cluster.name, their versions configured, and every step's lanes known. */
function checkLanes(raw: unknown, versions: (string | undefined)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const base = partSchemas.cluster.shape.name.safeParse(valueAt(raw, ["cluster", "name"])).data ?? "kind-pipeline";
  const lanes = asArray(valueAt(raw, ["lanes"]));
  const names = lanes.map((lane) => partSchemas.lane.shape.name.safeParse(valueAt(lane, ["name"])).data);
  const configured = versions.filter((v) => v !== undefined);
  lanes.forEach((lane, i) => {
    const name = names[i];
    if (name && names.indexOf(name) !== i) problems.push({ path: `lanes.${i}.name`, message: `duplicate lane name "${name}" (also lanes.${names.indexOf(name)}.name)` });
    if (name && base.length + 1 + name.length > 40) {
      problems.push({ path: `lanes.${i}.name`, message: `with cluster.name "${base}" it makes cluster names too long for kind's node names: the two together must stay within 39 characters` });
    }
    (partSchemas.lane.shape.kubernetes.safeParse(valueAt(lane, ["kubernetes"])).data ?? []).forEach((version, j) => {
      if (configured.length > 0 && !configured.includes(version)) problems.push({ path: `lanes.${i}.kubernetes.${j}`, message: `${version} is not in kubernetes.versions (${configured.join(", ")})` });
    });
  });
  const known = [...new Set(["default", ...names.filter((n) => n !== undefined)])];
  asArray(valueAt(raw, ["e2e"])).forEach((step, i) => {
    (partSchemas.step.shape.lanes.safeParse(valueAt(step, ["lanes"])).data ?? []).forEach((lane, j) => {
      if (!known.includes(lane)) problems.push({ path: `e2e.${i}.lanes.${j}`, message: `unknown lane "${lane}"${didYouMean(lane, known)} (lanes: ${known.join(", ")})` });
    });
  });
  return problems;
}

/** `cluster.kindConfig.nodes` shapes the nodes alone: `cluster.workers` and `cluster.nodeLabels` beside it would be ignored. */
function checkNodeShape(raw: unknown): ConfigProblem[] {
  if (valueAt(raw, ["cluster", "kindConfig", "nodes"]) === undefined) return [];
  return ["workers", "nodeLabels"]
    .filter((key) => valueAt(raw, ["cluster", key]) !== undefined)
    .map((key) => ({ path: `cluster.${key}`, message: "cannot be combined with cluster.kindConfig.nodes, which lists every node with its labels: set them there" }));
}

/** An image's valid `buildArgsFrom` entries, each read on its own, so that one wrong entry leaves the others checked. */
function computedBuildArgs(image: unknown): Record<string, { file?: string; arg?: string }> {
  const source = partSchemas.image.shape.buildArgsFrom.unwrap().valueType;
  return Object.fromEntries(Object.entries(asRecord(valueAt(image, ["buildArgsFrom"]))).flatMap(([arg, value]) => {
    const parsed = source.safeParse(value);
    return parsed.success ? [[arg, parsed.data]] : [];
  }));
}

/** A build arg that fixes the architecture: by its name, or by its value (amd64, linux/arm64, x86_64…). */
function fixesArchitecture(name: string, value?: string): boolean {
  return (
    /(^|_)(ARCH|ARCHITECTURE|GOARCH|GOARM|TARGETARCH|TARGETOS|TARGETPLATFORM|TARGETVARIANT)$/i.test(name) ||
    (value !== undefined && /^(linux\/)?(amd64|x86_64|x86-64|arm64|aarch64|armv?7l?|armhf|ppc64le|s390x|i?386|riscv64)(\/v\d)?$/i.test(value.trim()))
  );
}

/** The registry host the engine keys a credential by: Docker Hub's names are one host (auth/registry.go parseAuthAddress). */
function credentialHost(registry: string): string {
  return ["docker.io", "index.docker.io", "registry-1.docker.io"].includes(registry) ? DOCKER_HUB : registry;
}

/**
 * The publish settings against the images: a build arg given both literally and computed; a fixed ARCH-like
 * build arg with several platforms (each platform's build would get that one value: an arm64 image with amd64
 * binaries); two registries on one host with different credentials (the engine keeps one per host for the
 * session, so one would push with the other's), or pushing to the same repository twice.
 */
function checkPublish(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { buildArgs: argsField, platforms: platformsField } = partSchemas.image.shape;
  const defaultPlatforms = partSchemas.publish.shape.platforms.safeParse(valueAt(raw, ["publish", "platforms"])).data;
  for (const [name, image] of Object.entries(asRecord(valueAt(raw, ["images"])))) {
    const args = argsField.safeParse(valueAt(image, ["buildArgs"])).data ?? {};
    const computed = computedBuildArgs(image);
    for (const arg of Object.keys(computed).filter((a) => a in args)) {
      problems.push({ path: `images.${name}.buildArgsFrom.${arg}`, message: `${arg} is also set in buildArgs: give it one source` });
    }
    const platforms = platformsField.safeParse(valueAt(image, ["platforms"])).data ?? defaultPlatforms ?? [];
    if (platforms.length < 2) continue;
    const fixed = [
      ...Object.entries(args).filter(([arg, value]) => fixesArchitecture(arg, value)).map(([arg, value]) => ({ path: `images.${name}.buildArgs.${arg}`, arg, value: `"${value}"` })),
      ...Object.entries(computed).filter(([arg]) => fixesArchitecture(arg)).map(([arg]) => ({ path: `images.${name}.buildArgsFrom.${arg}`, arg, value: "one value" })),
    ];
    // Platforms are distinct, so of two or more at least one is not linux/amd64.
    const other = platforms.find((p) => p !== "linux/amd64")!;
    for (const { path, arg, value } of fixed) {
      problems.push({
        path,
        message:
          `${arg} fixes the architecture (${value}) while the image is published for ${platforms.join(", ")}: every platform's build would get it, ` +
          `so the ${other} image would carry another platform's binaries; remove it and read ` +
          `TARGETARCH in the Dockerfile (ARG TARGETARCH: BuildKit sets it for each platform's build)`,
      });
    }
  }
  const field = partSchemas.publish.shape.registries.element;
  const registries = asArray(valueAt(raw, ["publish", "registries"])).map((r) => field.safeParse(r).data);
  registries.forEach((registry, j) => {
    if (!registry) return;
    const i = registries.findIndex((r) => r && credentialHost(r.registry) === credentialHost(registry.registry));
    const first = registries[i];
    if (i === j || !first) return;
    if (first.registry === registry.registry && first.repository === registry.repository) {
      problems.push({ path: `publish.registries.${j}`, message: `pushes where publish.registries.${i} does (${registry.registry}/${registry.repository})` });
    } else if (first.username !== registry.username || first.token !== registry.token) {
      problems.push({
        path: `publish.registries.${j}`,
        message: `is on ${credentialHost(registry.registry)} as publish.registries.${i} is, with another username or token: the engine keeps one credential per registry host for the whole call, so one of them would push with the other's; give them the same username and token`,
      });
    }
  });
  return problems;
}

/** The problems inside the block of an image whose name is invalid: the schema reports only the name. */
function checkMisnamedImages(raw: unknown): ConfigProblem[] {
  return Object.entries(asRecord(valueAt(raw, ["images"])))
    .filter(([name]) => !configSchema.shape.images.keyType.safeParse(name).success)
    .flatMap(([name, image]) => {
      const parsed = partSchemas.image.safeParse(image);
      return parsed.success ? [] : parsed.error.issues.flatMap((issue) => describeIssue({ ...issue, path: ["images", name, ...issue.path] }, raw));
    });
}

/** The steps' references: names unique, `needs` images, `after` steps without cycles, `kubernetes` configured. */
function checkSteps(raw: unknown, versions: (string | undefined)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const images = Object.keys(asRecord(valueAt(raw, ["images"])));
  const { name: nameField, needs: needsField, after: afterField, kubernetes: versionsField } = partSchemas.step.shape;
  const steps = asArray(valueAt(raw, ["e2e"])).map((step) => ({
    name: nameField.safeParse(valueAt(step, ["name"])).data,
    needs: needsField.safeParse(valueAt(step, ["needs"])).data ?? [],
    after: afterField.safeParse(valueAt(step, ["after"])).data ?? [],
    kubernetes: versionsField.safeParse(valueAt(step, ["kubernetes"])).data ?? [],
  }));
  const names = steps.flatMap((s) => (s.name ? [s.name] : []));
  const configuredVersions = versions.filter((v) => v !== undefined);
  steps.forEach((step, i) => {
    const first = names.indexOf(step.name ?? "");
    if (step.name && steps.findIndex((s) => s.name === step.name) !== i) {
      problems.push({ path: `e2e.${i}.name`, message: `duplicate step name "${step.name}" (also e2e.${first}.name)` });
    }
    step.needs.forEach((need, j) => {
      if (images.includes(need)) return;
      const message = names.includes(need)
        ? `"${need}" is a step, and needs lists images; to run after step ${need}, use after: [${need}]`
        : `unknown image "${need}"${didYouMean(need, images)} (configured images: ${images.join(", ") || "none"})`;
      problems.push({ path: `e2e.${i}.needs.${j}`, message });
    });
    step.after.forEach((before, j) => {
      if (before === step.name) problems.push({ path: `e2e.${i}.after.${j}`, message: "a step cannot run after itself" });
      else if (!names.includes(before)) {
        const hint = images.includes(before) ? `; "${before}" is an image: list it in needs` : didYouMean(before, names);
        problems.push({ path: `e2e.${i}.after.${j}`, message: `unknown step "${before}"${hint} (steps: ${names.join(", ")})` });
      }
    });
    step.kubernetes.forEach((version, j) => {
      if (configuredVersions.length > 0 && !configuredVersions.includes(version)) {
        problems.push({ path: `e2e.${i}.kubernetes.${j}`, message: `${version} is not in kubernetes.versions (${configuredVersions.join(", ")})` });
      }
    });
  });
  const cycle = findCycle(steps.map((s) => ({ name: s.name ?? "", after: s.after.filter((a) => a !== s.name) })));
  if (cycle) {
    const at = steps.findIndex((s) => s.name === cycle[0]);
    problems.push({ path: `e2e.${at}.after`, message: `steps wait for each other in a cycle: ${cycle.join(" → ")}` });
  }
  return problems;
}

/** A cycle of `after` edges, as the names along it (first name repeated at the end), if there is one. */
function findCycle(steps: { name: string; after: string[] }[]): string[] | undefined {
  const afterOf = new Map(steps.map((s) => [s.name, s.after]));
  const done = new Set<string>();
  const visit = (name: string, path: string[]): string[] | undefined => {
    if (path.includes(name)) return [...path.slice(path.indexOf(name)), name];
    if (done.has(name)) return undefined;
    for (const before of afterOf.get(name) ?? []) {
      const cycle = visit(before, [...path, name]);
      if (cycle) return cycle;
    }
    done.add(name);
    return undefined;
  };
  for (const { name } of steps) {
    const cycle = visit(name, []);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Versions unique, and published by kind when building a node image is not allowed. */
function checkVersions(raw: unknown, versions: (string | undefined)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { kind: kindField, nodeImageFallback: fallbackField } = partSchemas.kubernetes.shape;
  const kind = kindField.safeParse(valueAt(raw, ["kubernetes", "kind"]));
  const fallback = fallbackField.safeParse(valueAt(raw, ["kubernetes", "nodeImageFallback"]));
  versions.forEach((version, i) => {
    if (version === undefined) return;
    if (versions.indexOf(version) !== i) {
      problems.push({ path: `kubernetes.versions.${i}`, message: `duplicate version ${version}` });
    } else if (kind.success && fallback.data === "fail" && !publishedKubernetesVersions(kind.data).includes(version)) {
      problems.push({ path: `kubernetes.versions.${i}`, message: unpublishedVersionMessage(version, kind.data) });
    }
  });
  return problems;
}

/**
 * A build secret id stands for one reference across all images: the engine identifies a named secret by
 * the module and its name, and the last `setSecret` wins (core/schema/secret.go), so two images mapping
 * one id to two references could each read the other's token.
 */
function checkBuildSecretIds(raw: unknown): ConfigProblem[] {
  const seen = new Map<string, { image: string; reference: string }>();
  return Object.entries(asRecord(valueAt(raw, ["images"]))).flatMap(([image, config]) =>
    Object.entries(asRecord(valueAt(config, ["secrets"]))).flatMap(([id, reference]) => {
      if (typeof reference !== "string") return [];
      const first = seen.get(id);
      if (!first) seen.set(id, { image, reference });
      if (!first || first.reference === reference) return [];
      return [{
        path: `images.${image}.secrets.${id}`,
        message: `secret id "${id}" is ${reference} here but ${first.reference} in images.${first.image}: a secret id names one secret for every image (the engine keeps the last one set under a name); give this one another id, in its Dockerfile too`,
      }];
    }),
  );
}

/** The message for a version kind publishes no node image for, when building one is not allowed. */
export function unpublishedVersionMessage(version: string, kind: KindVersion): string {
  const others = otherReleasesPublishing(kind, version);
  return (
    `kind ${kind} publishes no node image for Kubernetes ${version} ` +
    `(published: ${publishedKubernetesVersions(kind).join(", ")}); ` +
    (others.length > 0 ? `kind ${others.join(", ")} publishes it (set kubernetes.kind: ${others[0]}); or ` : "") +
    `choose one of those or set kubernetes.nodeImageFallback: build`
  );
}

/** Checks that every image's context directory and Dockerfile, and every step's script, exist in the source tree. */
async function checkSourceTree(raw: unknown, tree: SourceTree): Promise<ConfigProblem[]> {
  const images = Object.entries(asRecord(valueAt(raw, ["images"]))).map(async ([name, image]) => {
    const parsed = partSchemas.image.safeParse(image);
    return parsed.success ? checkImageFiles(name, parsed.data, tree) : [];
  });
  const steps = asArray(valueAt(raw, ["e2e"])).map(async (step, i) => {
    const run = partSchemas.step.shape.run.safeParse(valueAt(step, ["run"]));
    const script = run.success ? stepScript(run.data) : undefined;
    if (!script || (await tree.exists(script.path, "file"))) return [];
    return [{ path: `e2e.${i}.run.${script.index}`, message: `file not found: ${script.path} (a step runs from the source root)` }];
  });
  return (await Promise.all([...images, ...steps])).flat();
}

const SCRIPT_RUNNERS = new Set(["sh", "bash", "ash", "dash", "zsh", "python", "python3", "node"]);

/**
 * The source file a step's command runs, when it names one: `sh test/e2e/run.sh`, `./hack/e2e.sh`. A
 * command found on PATH (`go test ./...`, `kubectl apply`) or an absolute path (in the step's image) is none.
 */
function stepScript(run: string[]): { path: string; index: number } | undefined {
  const [program = "", first] = run;
  const candidate = SCRIPT_RUNNERS.has(program) && first && !first.startsWith("-") ? { path: first, index: 1 } : program.includes("/") ? { path: program, index: 0 } : undefined;
  if (!candidate || posix.isAbsolute(candidate.path)) return undefined;
  return { ...candidate, path: posix.normalize(candidate.path) };
}

async function checkImageFiles(name: string, image: ImageConfig, tree: SourceTree): Promise<ConfigProblem[]> {
  if (!(await tree.exists(image.context, "directory"))) {
    return [{ path: `images.${name}.context`, message: `directory not found: ${image.context}` }];
  }
  const dockerfile = dockerfilePath(image);
  if (!(await tree.exists(dockerfile, "file"))) {
    return [{ path: `images.${name}.dockerfile`, message: `file not found: ${dockerfile} (the dockerfile is relative to the context ${image.context})` }];
  }
  return [];
}

/** The Dockerfile's path relative to the source root. */
export function dockerfilePath(image: ImageConfig): string {
  return posix.join(image.context, image.dockerfile);
}

/** The keys a strict object at `path` of the schema accepts. */
function knownKeys(path: string[]): string[] {
  let schema: z.core.$ZodType | undefined = configSchema;
  for (const segment of path) schema = schema && childSchema(schema, segment);
  schema = schema && unwrap(schema);
  const def = schema?._zod.def;
  return def?.type === "object" ? Object.keys((def as z.core.$ZodObjectDef).shape) : [];
}

function childSchema(schema: z.core.$ZodType, segment: string): z.core.$ZodType | undefined {
  const def = unwrap(schema)._zod.def;
  if (def.type === "object") return (def as z.core.$ZodObjectDef).shape[segment];
  if (def.type === "record") return (def as z.core.$ZodRecordDef).valueType;
  if (def.type === "array") return (def as z.core.$ZodArrayDef).element;
  return undefined;
}

/** Strips defaults and optionals to reach the schema that holds the shape (the schema's pipes wrap strings only). */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  const def = schema._zod.def as { innerType?: z.core.$ZodType };
  if (def.innerType) return unwrap(def.innerType);
  return schema;
}

/** ` (did you mean "context"?)` when a known word is close to the given one, else "". */
function didYouMean(word: string, known: string[]): string {
  const [best] = known.map((k) => ({ k, d: editDistance(word.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  return best && best.d <= Math.max(1, Math.floor(best.k.length / 3)) ? ` (did you mean "${best.k}"?)` : "";
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The line of the YAML node a dotted path points at, or of its nearest written ancestor. */
function lineOf(doc: Document, lines: LineCounter, dotted: string): number | undefined {
  let node: Node | null | undefined = doc.contents;
  let line = node?.range ? lines.linePos(node.range[0]).line : undefined;
  for (const segment of dotted ? dotted.split(".") : []) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) break;
      const key = pair.key as Node;
      if (key.range) line = lines.linePos(key.range[0]).line;
      node = pair.value as Node | null;
    } else if (isSeq(node)) {
      node = node.items[Number(segment)] as Node | undefined;
      if (node?.range) line = lines.linePos(node.range[0]).line;
    } else break;
  }
  return line;
}

function sortByLine(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || a.path.localeCompare(b.path));
}

function valueAt(raw: unknown, path: string[]): unknown {
  return path.reduce<unknown>((value, key) => (value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined), raw);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function describeValue(value: unknown): string {
  if (value === null) return "empty (null)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${article(typeof value)} (${JSON.stringify(value)})`;
}

function article(type: string): string {
  const noun = { object: "mapping", array: "list" }[type] ?? type;
  return `${/^[aeiou]/.test(noun) ? "an" : "a"} ${noun}`;
}
