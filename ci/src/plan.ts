/**
 * The plan: config + selection in, the stage graph out, as plain data. It is pure (no engine, no
 * files), so `plan` can print it anywhere, and the stages consume the same value: the printed plan and
 * the executed pipeline cannot drift apart.
 */
import { ConfigError, dockerfilePath, unpublishedVersionMessage, type ConfigProblem } from "./config.js";
import { kubernetesVersion, type PipelineConfig } from "./config-schema.js";
import { publishedNodeImage, type KindVersion } from "./releases.js";

/** Which Kubernetes versions and images to run; omitted parts come from the config. */
export interface Selection {
  /** Kubernetes versions; default: the config's first version. */
  kubernetes?: string[];
  /** Image names; default: every image not marked optional. */
  images?: string[];
}

/** An image to build, with everything its build depends on. */
export interface PlannedImage {
  name: string;
  /** Build context, relative to the source root. */
  context: string;
  /** Dockerfile path relative to the context (as given to the build). */
  dockerfile: string;
  /** Dockerfile path relative to the source root (for people). */
  dockerfilePath: string;
  buildArgs: Record<string, string>;
  target?: string;
  /** Build secret id → Dagger secret reference. */
  secrets: Record<string, string>;
}

/** Where the node image of a Kubernetes version comes from. */
export type NodeImageSource = { kind: "published"; ref: string } | { kind: "build"; version: string };

/** A Kind cluster to create for one Kubernetes version. */
export interface PlannedCluster {
  kubernetes: string;
  name: string;
  nodeImage: NodeImageSource;
  workers: number;
  nodeLabels: Record<string, string>;
}

/** An e2e step and the images it needs. */
export interface PlannedStep {
  name: string;
  needs: string[];
  run: string[];
  timeoutSeconds: number;
  env: Record<string, string>;
  image?: string;
}

/** The stage graph of one run. */
export interface Plan {
  kind: KindVersion;
  images: PlannedImage[];
  /** Configured images left out of this run, and why. */
  skippedImages: { name: string; reason: string }[];
  clusters: PlannedCluster[];
  steps: PlannedStep[];
  /** Steps left out because an image they need is not selected. */
  skippedSteps: { name: string; missing: string[] }[];
  build: { retries: number; retryDelaySeconds: number; timeoutSeconds: number };
}

/** Builds the plan for a selection. Throws ConfigError (subject "arguments") for an unknown image or a malformed version. */
export function planPipeline(config: PipelineConfig, selection: Selection = {}): Plan {
  const names = selectImages(config, selection.images);
  const versions = selectVersions(config, selection.kubernetes);
  const steps = config.e2e.filter((step) => step.needs.every((need) => names.includes(need)));
  return {
    kind: config.kubernetes.kind,
    images: names.map((name) => planImage(name, config)),
    skippedImages: Object.entries(config.images)
      .filter(([name]) => !names.includes(name))
      .map(([name, image]) => ({ name, reason: image.optional && !selection.images ? "optional" : "not selected" })),
    clusters: versions.map(({ kubernetes, nodeImage }) => ({
      kubernetes,
      name: clusterName(config.cluster.name, kubernetes),
      nodeImage,
      workers: config.cluster.workers,
      nodeLabels: config.cluster.nodeLabels,
    })),
    steps: steps.map(({ name, needs, run, timeout, env, image }) => ({ name, needs, run, timeoutSeconds: timeout, env, ...(image && { image }) })),
    skippedSteps: config.e2e
      .filter((step) => !steps.includes(step))
      .map(({ name, needs }) => ({ name, missing: needs.filter((need) => !names.includes(need)) })),
    build: { retries: config.build.retries, retryDelaySeconds: config.build.retryDelay, timeoutSeconds: config.build.timeout },
  };
}

/** Where the node image for a version comes from under the fallback policy; undefined when it is unavailable. */
function nodeImageSource(kind: KindVersion, kubernetes: string, fallback: "build" | "fail"): NodeImageSource | undefined {
  const ref = publishedNodeImage(kind, kubernetes);
  if (ref) return { kind: "published", ref };
  return fallback === "build" ? { kind: "build", version: kubernetes } : undefined;
}

/** The Kind cluster name for a version: `<name>-1-37-0` (dots are not allowed in every place a name goes). */
function clusterName(base: string, kubernetes: string): string {
  return `${base}-${kubernetes.replaceAll(".", "-")}`;
}

function planImage(name: string, config: PipelineConfig): PlannedImage {
  const image = config.images[name]!;
  return {
    name,
    context: image.context,
    dockerfile: image.dockerfile,
    dockerfilePath: dockerfilePath(image),
    buildArgs: image.buildArgs,
    ...(image.target && { target: image.target }),
    secrets: image.secrets,
  };
}

function selectImages(config: PipelineConfig, requested: string[] | undefined): string[] {
  const configured = Object.keys(config.images);
  if (!requested || requested.length === 0) return configured.filter((name) => !config.images[name]!.optional);
  const wanted = requested.flatMap(splitList);
  if (wanted.length === 0) throw argumentError([{ path: "images", message: `no image named in ${JSON.stringify(requested)} (configured: ${configured.join(", ")})` }]);
  const unknown = wanted.filter((name) => !configured.includes(name));
  if (unknown.length > 0) {
    throw argumentError(unknown.map((name) => ({ path: "images", message: `unknown image "${name}" (configured: ${configured.join(", ")})` })));
  }
  return configured.filter((name) => wanted.includes(name));
}

/** The selected versions with their node images; every problem (malformed, unavailable) in one error. */
function selectVersions(config: PipelineConfig, requested: string[] | undefined): { kubernetes: string; nodeImage: NodeImageSource }[] {
  const { kind, nodeImageFallback, versions: configured } = config.kubernetes;
  const wanted = requested?.length ? requested.flatMap(splitList) : [configured[0]!];
  if (wanted.length === 0) throw argumentError([{ path: "kubernetes", message: `no version named in ${JSON.stringify(requested)} (configured: ${configured.join(", ")})` }]);
  const problems: ConfigProblem[] = [];
  const selected = [...new Set(wanted)].flatMap((v) => {
    const parsed = kubernetesVersion.safeParse(v);
    if (!parsed.success) {
      problems.push({ path: "kubernetes", message: `"${v}" ${parsed.error.issues[0]?.message}` });
      return [];
    }
    const nodeImage = nodeImageSource(kind, parsed.data, nodeImageFallback);
    if (!nodeImage) problems.push({ path: "kubernetes", message: unpublishedVersionMessage(parsed.data, kind) });
    return nodeImage ? [{ kubernetes: parsed.data, nodeImage }] : [];
  });
  if (problems.length > 0) throw argumentError(problems);
  return selected;
}

/** Accepts `--images a,b` as well as `--images a --images b`. */
function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

function argumentError(problems: ConfigProblem[]): ConfigError {
  return new ConfigError("arguments", problems);
}

/** Marks the stages of the plan this version of the module does not run yet. */
const NOT_YET = "planned: not run by this version of kind-pipeline";

/** The plan as text, stage by stage in dependency order. */
export function renderPlan(plan: Plan): string {
  const out: string[] = [];
  const list = (items: string[]) => items.join(", ") || "none";
  out.push(`1. build — ${count(plan.images.length, "image")} in parallel; all must succeed before any later stage starts`);
  for (const image of plan.images) {
    const details = [
      `context ${image.context}`,
      `dockerfile ${image.dockerfilePath}`,
      image.target && `target ${image.target}`,
      Object.keys(image.buildArgs).length > 0 && `args ${Object.entries(image.buildArgs).map(([k, v]) => `${k}=${v}`).join(" ")}`,
      Object.keys(image.secrets).length > 0 && `secrets ${Object.keys(image.secrets).join(" ")}`,
    ].filter(Boolean);
    out.push(`   - ${image.name}: ${details.join("; ")}`);
  }
  for (const { name, reason } of plan.skippedImages) out.push(`   - ${name}: skipped (${reason}; select it with --images)`);
  out.push(`2. cluster — kind ${plan.kind}, one Docker-in-Docker service per Kubernetes version`);
  for (const cluster of plan.clusters) {
    const nodes = `1 control plane + ${count(cluster.workers, "worker")}`;
    out.push(`   - ${cluster.kubernetes}: ${cluster.name}, ${nodes}, node image ${describeNodeImage(cluster.nodeImage)}`);
  }
  out.push(`3. load — ${list(plan.images.map((i) => i.name))} into each cluster (${NOT_YET})`);
  out.push(`4. e2e — ${count(plan.steps.length, "step")}, each after the images it needs are loaded (${NOT_YET})`);
  for (const step of plan.steps) {
    out.push(`   - ${step.name}: needs ${list(step.needs)}; runs ${step.run.join(" ")}; timeout ${formatSeconds(step.timeoutSeconds)}`);
  }
  for (const { name, missing } of plan.skippedSteps) out.push(`   - ${name}: skipped (needs ${list(missing)}, not selected)`);
  return out.join("\n") + "\n";
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function describeNodeImage(source: NodeImageSource): string {
  if (source.kind === "published") return source.ref;
  return `built from Kubernetes v${source.version} release binaries (kind build node-image; none is published)`;
}

function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean).join("") || "0s";
}
