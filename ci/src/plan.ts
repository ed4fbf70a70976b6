/**
 * The plan: config + selection in, the stage graph out, as plain data. It is pure (no engine, no
 * files), so `plan` can print it anywhere, and the stages consume the same value: the printed plan and
 * the executed pipeline cannot drift apart.
 */
import { ConfigError, dockerfilePath, unpublishedVersionMessage, type ConfigProblem } from "./config.js";
import { imageReferenceParts, kubernetesVersion, PUBLISH_VALUES, type KindConfigPatch, type PipelineConfig } from "./config-schema.js";
import { otherReleasesPublishing, publishedNodeImage, sameMinorPublished, type KindVersion } from "./releases.js";

/** Which Kubernetes versions and images to run; omitted parts come from the config. */
export interface Selection {
  /** Kubernetes versions; default: every configured version (functions of one cluster take the first). */
  kubernetes?: string[];
  /** Image names; default: every image not marked optional; an empty list selects none. */
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
  /** The reference it carries in the cluster, when the config sets one (else derived from its build inputs). */
  ref?: string;
}

/** Where the node image of a Kubernetes version comes from. */
export type NodeImageSource = { kind: "published"; ref: string } | { kind: "build"; version: string };

/** A Kind cluster to create for one Kubernetes version. */
export interface PlannedCluster {
  kubernetes: string;
  name: string;
  nodeImage: NodeImageSource;
  /** Nodes besides the first control plane. */
  workers: number;
  nodeLabels: Record<string, string>;
  /** The config's partial kind Cluster (or the lane's), merged into the generated one. */
  kindConfig?: KindConfigPatch;
  /** The lane this cluster is a cell of: default (the plain cluster) or a name from lanes. */
  lane: string;
  /** Environment every step of the lane gets. */
  env: Record<string, string>;
}

/** An e2e step: the images it needs, the steps it runs after, what it runs. */
export interface PlannedStep {
  name: string;
  /** Its position in the config's e2e list, for messages that point into the file (`e2e.2.secrets.TOKEN`). */
  index: number;
  needs: string[];
  after: string[];
  run: string[];
  timeoutSeconds: number;
  env: Record<string, string>;
  /** Secret environment variable → Dagger secret reference. */
  secrets: Record<string, string>;
  /** The versions it runs on; every version of the run when absent. */
  kubernetes?: string[];
  /** The lanes it runs in; every lane when absent. */
  lanes?: string[];
  image?: string;
}

/** The stage graph of one run. */
export interface Plan {
  kind: KindVersion;
  images: PlannedImage[];
  /** Configured images left out of this run, and why. */
  skippedImages: { name: string; reason: string }[];
  clusters: PlannedCluster[];
  /** The steps, in the order they run on a cluster: `after` order, then file order. */
  steps: PlannedStep[];
  /** Steps left out because an image they need is not selected, or a step they run after is left out. */
  skippedSteps: { name: string; reason: string }[];
  /** Outside images loaded into every node before any step. */
  preload: string[];
  build: { retries: number; retryDelaySeconds: number; timeoutSeconds: number };
  /** Clusters run at once when the config says (cluster.parallel); else the preflight derives it from the engine. */
  parallel?: number;
  /** Where `publish` pushes the selected images, when the config has a publish section. */
  publish?: PlannedPublish;
}

/** A value a publish call gives: `--revision`, `--pull-request`, `--version`. */
export type PublishValue = (typeof PUBLISH_VALUES)[number];

/** A registry the published images go to. */
export interface PlannedRegistry {
  registry: string;
  repository: string;
  username: string;
  /** The token's Dagger secret reference, when the config names one; else the call's `--token`. */
  token?: string;
}

/** An image `publish` pushes. */
export interface PublishTarget {
  name: string;
  /** Platforms built and pushed as one manifest list; empty: the engine's platform only (the tested build itself). */
  platforms: string[];
  /** `<registry>/<repository>/<name>`, one per registry, in the order of `PlannedPublish.registries`. */
  repositories: string[];
}

/** What `publish` pushes, where, under which tag policy. */
export interface PlannedPublish {
  registries: PlannedRegistry[];
  /** Tag templates (`sha-{revision}`, `pr-{pullRequest}`, `{version}`) and literal tags. */
  tags: string[];
  /** The selected images that are pushed. */
  images: PublishTarget[];
  /** Selected images that are built and tested but never pushed (`publish: false`). */
  notPushed: string[];
  /** Build args the publish call gives, by selected image (pushed or not): NAME → the call's value. */
  callBuildArgs: Record<string, Record<string, PublishValue>>;
}

/** Builds the plan for a selection. Throws ConfigError (subject "arguments") for an unknown image or a malformed version. */
export function planPipeline(config: PipelineConfig, selection: Selection = {}): Plan {
  const [names, versions] = bothOrEveryProblem(
    () => selectImages(config, selection.images),
    () => selectVersions(config, selection.kubernetes),
  );
  const { steps, skippedSteps } = selectSteps(config, names);
  return {
    kind: config.kubernetes.kind,
    images: names.map((name) => planImage(name, config)),
    skippedImages: Object.entries(config.images)
      .filter(([name]) => !names.includes(name))
      .map(([name, image]) => ({ name, reason: image.optional && !selection.images ? "optional" : "not selected" })),
    clusters: versions.flatMap(({ kubernetes, nodeImage }) =>
      [{ name: DEFAULT_LANE, env: {}, kindConfig: config.cluster.kindConfig }, ...config.lanes]
        .filter((lane) => !("kubernetes" in lane && lane.kubernetes) || lane.kubernetes.includes(kubernetes))
        .map(({ name: lane, env, kindConfig }) => ({
          kubernetes,
          name: clusterName(config.cluster.name, kubernetes, lane),
          nodeImage,
          workers: kindConfig?.nodes ? kindConfig.nodes.length - 1 : config.cluster.workers,
          nodeLabels: config.cluster.nodeLabels,
          ...(kindConfig && { kindConfig }),
          lane,
          env,
        })),
    ),
    steps: runOrder(steps).map(({ timeout, image, kubernetes, lanes, ...step }) => ({
      ...step,
      index: config.e2e.findIndex((s) => s.name === step.name),
      timeoutSeconds: timeout,
      ...(kubernetes && { kubernetes }),
      ...(lanes && { lanes }),
      ...(image && { image }),
    })),
    skippedSteps,
    preload: config.preload,
    build: { retries: config.build.retries, retryDelaySeconds: config.build.retryDelay, timeoutSeconds: config.build.timeout },
    ...(config.cluster.parallel && { parallel: config.cluster.parallel }),
    ...(config.publish && { publish: planPublish(config, names) }),
  };
}

/** Where the selected images are pushed: every registry, each image's platforms, the build args the call gives. */
function planPublish(config: PipelineConfig, names: string[]): PlannedPublish {
  const publish = config.publish!;
  const pushed = names.filter((name) => config.images[name]!.publish);
  return {
    registries: publish.registries.map(({ registry, repository, username, token }) => ({ registry, repository, username, ...(token && { token }) })),
    tags: publish.tags,
    images: pushed.map((name) => ({
      name,
      platforms: config.images[name]!.platforms ?? publish.platforms ?? [],
      repositories: publish.registries.map((r) => `${r.registry}/${r.repository}/${name}`),
    })),
    notPushed: names.filter((name) => !pushed.includes(name)),
    callBuildArgs: Object.fromEntries(
      names.map((name) => [
        name,
        Object.fromEntries(Object.entries(config.images[name]!.buildArgsFrom).flatMap(([arg, source]) => (source.arg ? [[arg, source.arg]] : []))),
      ]),
    ),
  };
}

/** One tag of a publish, from its template. */
export interface PublishTag {
  tag: string;
  /** Whether it carries the version: such a tag is never pushed over unless asked (`--overwrite`). */
  versioned: boolean;
}

/**
 * The tags of a policy for the values a publish call gives: each template with every placeholder filled
 * (`{revision}`: the revision's first 7 characters; `{version}`: the version without its leading `v`;
 * `{pullRequest}`: the number), in order, once each. A template whose values the call does not give is
 * left out; a literal tag is always kept. Nothing else is added: no implicit `latest`.
 */
export function expandTags(templates: string[], values: Partial<Record<PublishValue, string>>): PublishTag[] {
  const filled = (name: PublishValue): string | undefined => {
    const value = values[name];
    if (value === undefined) return undefined;
    return name === "revision" ? value.slice(0, 7) : name === "version" ? value.replace(/^v/, "") : value;
  };
  const tags: PublishTag[] = [];
  for (const template of templates) {
    const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as PublishValue);
    if (names.some((name) => filled(name) === undefined)) continue;
    const tag = template.replace(/\{(\w+)\}/g, (_, name: PublishValue) => filled(name)!);
    if (!tags.some((t) => t.tag === tag)) tags.push({ tag, versioned: names.includes("version") });
  }
  return tags;
}

type StepConfig = PipelineConfig["e2e"][number];

/**
 * The steps whose images are all selected, and whose `after` steps are kept too; the others with the
 * reason they are left out (a step after a left-out step is left out: it would run without its deploy).
 */
function selectSteps(config: PipelineConfig, images: string[]): { steps: StepConfig[]; skippedSteps: { name: string; reason: string }[] } {
  const skipped = new Map<string, string>();
  for (const step of config.e2e) {
    const missing = step.needs.filter((need) => !images.includes(need));
    if (missing.length > 0) skipped.set(step.name, `needs ${missing.join(", ")}, not selected`);
  }
  // `after` edges have no cycles (config validation), so this settles within as many passes as steps
  for (let changed = true; changed; ) {
    changed = false;
    for (const step of config.e2e) {
      const before = step.after.find((name) => skipped.has(name));
      if (!skipped.has(step.name) && before) {
        skipped.set(step.name, `runs after ${before}, which is left out`);
        changed = true;
      }
    }
  }
  return {
    steps: config.e2e.filter((step) => !skipped.has(step.name)),
    skippedSteps: config.e2e.flatMap((step) => (skipped.has(step.name) ? [{ name: step.name, reason: skipped.get(step.name)! }] : [])),
  };
}

/** Steps in the order they run: each after its `after` steps, otherwise in file order. */
function runOrder(steps: StepConfig[]): StepConfig[] {
  const ordered: StepConfig[] = [];
  const pending = [...steps];
  while (pending.length > 0) {
    const next = pending.findIndex((step) => step.after.every((name) => ordered.some((done) => done.name === name)));
    ordered.push(...pending.splice(Math.max(next, 0), 1)); // -1 only for a cycle, which validation refuses
  }
  return ordered;
}

/** Where the node image for a version comes from under the fallback policy; undefined when it is unavailable. */
function nodeImageSource(kind: KindVersion, kubernetes: string, fallback: "build" | "fail"): NodeImageSource | undefined {
  const ref = publishedNodeImage(kind, kubernetes);
  if (ref) return { kind: "published", ref };
  return fallback === "build" ? { kind: "build", version: kubernetes } : undefined;
}

/** The Kind cluster name for a version: `<name>-1-37-0` (dots are not allowed in every place a name goes). */
function clusterName(base: string, kubernetes: string, lane: string): string {
  return `${base}${lane === DEFAULT_LANE ? "" : `-${lane}`}-${kubernetes.replaceAll(".", "-")}`;
}

/** The lane of the plain cluster (cluster.kindConfig, no extra environment). */
export const DEFAULT_LANE = "default";

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
    ...(image.ref && { ref: image.ref }),
  };
}

function selectImages(config: PipelineConfig, requested: string[] | undefined): string[] {
  const configured = Object.keys(config.images);
  if (!requested) return configured.filter((name) => !config.images[name]!.optional);
  if (requested.length === 0) return []; // an explicitly empty selection: nothing built (a bare cluster)
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
  const wanted = requested?.length ? requested.flatMap(splitList) : configured;
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

/** Both selections, or one ConfigError with the problems of both: argument errors come all at once, like config errors. */
function bothOrEveryProblem<A, B>(first: () => A, second: () => B): [A, B] {
  const attempt = <T>(select: () => T): { value?: T; problems: ConfigProblem[] } => {
    try {
      return { value: select(), problems: [] };
    } catch (error) {
      if (error instanceof ConfigError) return { problems: error.problems };
      throw error;
    }
  };
  const [a, b] = [attempt(first), attempt(second)];
  if (a.problems.length > 0 || b.problems.length > 0) throw argumentError([...a.problems, ...b.problems]);
  return [a.value as A, b.value as B];
}

/** Accepts `--images a,b` as well as `--images a --images b`. */
function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

function argumentError(problems: ConfigProblem[]): ConfigError {
  return new ConfigError("arguments", problems);
}

/** The repository of an image's in-cluster reference when the config sets none. */
export const DEFAULT_REF_REPOSITORY = "kind-pipeline.local";

/** The plan as text, stage by stage in dependency order. */
export function renderPlan(plan: Plan): string {
  const out: string[] = [];
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
  const parallel = plan.parallel ? `${plan.parallel} at a time (cluster.parallel)` : "as many at a time as the engine's memory and CPUs hold";
  out.push(`2. cluster — kind ${plan.kind}, one Docker-in-Docker service per Kubernetes version, ${parallel}`);
  for (const cluster of plan.clusters) {
    const nodes = cluster.kindConfig?.nodes
      ? cluster.kindConfig.nodes.map((n) => n.role).join(", ") + " (cluster.kindConfig)"
      : `1 control plane + ${count(cluster.workers, "worker")}`;
    const lane = cluster.lane === DEFAULT_LANE ? "" : ` lane ${cluster.lane}${Object.keys(cluster.env).length > 0 ? ` (env ${Object.entries(cluster.env).map(([k, v]) => `${k}=${v}`).join(" ")})` : ""}`;
    out.push(`   - ${cluster.kubernetes}${lane}: ${cluster.name}, ${nodes}, node image ${describeNodeImage(plan.kind, cluster.nodeImage)}`);
  }
  out.push(`3. load — into every node of each cluster, in parallel, then verified in each node's containerd; no registry`);
  for (const image of plan.images) out.push(`   - ${image.name} as ${image.ref ?? `${DEFAULT_REF_REPOSITORY}/${image.name}:build-<hash of its build inputs>`}`);
  for (const ref of plan.preload) out.push(`   - ${ref} (preload, pulled by the engine)${imageReferenceParts(ref)?.digest ? "" : "; warning: not pinned by digest, so its content can change between runs"}`);
  out.push(`4. e2e — ${count(plan.steps.length, "step")}, one at a time on each cluster, in this order; a step that fails skips the steps after it, those that list it in after`);
  for (const step of plan.steps) {
    const details = [
      `image ${step.image ? `${step.image} (+ kubectl)` : "the pinned step image (kubectl, kind, helm, kustomize, docker)"}`,
      step.needs.length > 0 && `needs ${step.needs.join(", ")}`,
      step.after.length > 0 && `after ${step.after.join(", ")}`,
      step.kubernetes && `only on ${step.kubernetes.join(", ")}`,
      step.lanes && `only in lanes ${step.lanes.join(", ")}`,
      Object.keys(step.env).length > 0 && `env ${Object.keys(step.env).join(" ")}`,
      Object.keys(step.secrets).length > 0 && `secret env ${Object.keys(step.secrets).join(" ")}`,
      `timeout ${formatSeconds(step.timeoutSeconds)}`,
    ].filter(Boolean);
    out.push(`   - ${step.name}: runs ${JSON.stringify(step.run)}; ${details.join("; ")}`);
  }
  for (const { name, reason } of plan.skippedSteps) out.push(`   - ${name}: skipped (${reason})`);
  out.push(`5. report — summary.md, junit.xml, step logs, artifacts and, after a failure, diagnostics`);
  if (plan.publish) out.push(...renderPublish(plan.publish));
  return out.join("\n") + "\n";
}

/** How the plan names the values a publish call gives. */
const PLACEHOLDER_TEXT: Record<PublishValue, string> = { revision: "<revision>", pullRequest: "<pull-request>", version: "<version>" };

/** The publish section of the plan: every ref `publish` would push, the call's values as placeholders. */
function renderPublish(publish: PlannedPublish): string[] {
  const out = [
    `6. publish — only by \`publish\`, after stages 1–5 passed on every version (unless --skip-tests); ` +
      `${count(publish.images.length, "image")} to ${publish.registries.length === 1 ? "1 registry" : `${publish.registries.length} registries`}; ` +
      `a tag whose value the call does not give (--revision, --pull-request, --version) is left out`,
  ];
  for (const image of publish.images) {
    const platforms = image.platforms.length > 1 ? `${image.platforms.join(" + ")} as one manifest list` : image.platforms.length === 1 ? image.platforms[0] : "the engine's platform (the tested build)";
    const fromCall = Object.entries(publish.callBuildArgs[image.name] ?? {});
    const args = fromCall.length > 0 ? `; args ${fromCall.map(([arg, value]) => `${arg}=${PLACEHOLDER_TEXT[value]}`).join(" ")}` : "";
    out.push(`   - ${image.name}: ${platforms}${args}`);
    for (const repository of image.repositories) {
      for (const template of publish.tags) {
        const tag = template.replace(/\{(\w+)\}/g, (_, name: PublishValue) => PLACEHOLDER_TEXT[name]);
        out.push(`       ${repository}:${tag}${template.includes("{version}") ? " (never pushed over without --overwrite)" : ""}`);
      }
    }
  }
  for (const name of publish.notPushed) out.push(`   - ${name}: tested, not pushed (publish: false)`);
  return out;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function describeNodeImage(kind: KindVersion, source: NodeImageSource): string {
  if (source.kind === "published") return source.ref;
  const others = otherReleasesPublishing(kind, source.version);
  const sameMinor = sameMinorPublished(kind, source.version);
  const instead =
    (others.length > 0 ? `; kind ${others.join(", ")} publishes one: set kubernetes.kind: ${others[0]} to pull it instead` : "") +
    (sameMinor ? `; kind ${kind} publishes ${sameMinor} of the same minor, pulled in seconds instead of built` : "");
  return `built from Kubernetes v${source.version} release binaries (kind build node-image; kind ${kind} publishes none${instead})`;
}

function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean).join("") || "0s";
}
