/**
 * Failure signatures: why each pod of a cluster is not well, in a person's words, read from the output of
 * `kubectl get pods --all-namespaces -o json` and the containers' last log lines. Pure: the diagnostics
 * stage collects the JSON and the logs; this only reads them. Unknown shapes are ignored, never thrown on.
 */
import { lastLines } from "./errors.js";
import type { PodSignature } from "./results.js";

/** What pods are judged against: the images loaded into the cluster, and the containers' last log lines. */
export interface SignatureContext {
  /** The images loaded into the cluster: name in the config, and the ref it carries there. */
  loaded: { name: string; ref: string }[];
  /** The last log lines of each container, by "namespace/pod/container". */
  logs?: Record<string, string>;
}

/**
 * One signature per pod that is not well (image pull failures, crash loops, OOM kills, failed containers,
 * unschedulable or evicted pods, containers stuck waiting), in the order kubectl listed them. Malformed
 * JSON gives none.
 */
export function podSignatures(podsJson: string, context: SignatureContext): PodSignature[] {
  return readPods(podsJson).flatMap((pod) => {
    const finding = evicted(pod) ?? unschedulable(pod) ?? containerFinding(pod, context);
    return finding ? [{ namespace: pod.namespace, pod: pod.name, ...finding }] : [];
  });
}

/**
 * An image reference as containerd names it: the registry made explicit (docker.io by default, with
 * `library/` for official images), and the tag `latest` when there is neither tag nor digest.
 * `jax:1` → `docker.io/library/jax:1`; `ghcr.io/x/y:t` stays; `jax@sha256:…` → `docker.io/library/jax@sha256:…`.
 */
export function normalizeRef(ref: string): string {
  const trimmed = ref.trim();
  if (trimmed === "") return trimmed;
  const at = trimmed.indexOf("@");
  const name = at === -1 ? trimmed : trimmed.slice(0, at);
  const digest = at === -1 ? "" : trimmed.slice(at);
  const [domain, path] = splitDomain(name);
  const tagged = path.includes(":", path.lastIndexOf("/"));
  return `${domain}/${path}${tagged || digest ? "" : ":latest"}${digest}`;
}

/** The registry and the repository path of a reference without its digest, as the Docker reference grammar splits them. */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf("/");
  const first = name.slice(0, slash);
  const isDomain = slash !== -1 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  if (!isDomain) return ["docker.io", slash === -1 ? `library/${name}` : name];
  const path = name.slice(slash + 1);
  if (first !== "docker.io" && first !== "index.docker.io") return [first, path];
  return ["docker.io", path.includes("/") ? path : `library/${path}`];
}

/** A signature without its pod: what a rule finds. */
type Finding = Omit<PodSignature, "namespace" | "pod">;

/** A pod, reduced to what the rules read. */
interface Pod {
  namespace: string;
  name: string;
  node?: string;
  reason?: string;
  message?: string;
  /** The scheduler's message when the pod could not be scheduled. */
  unschedulable?: string;
  /** Init containers first, then the others; each with its spec and status merged. */
  containers: Container[];
}

interface Container {
  name: string;
  image?: string;
  pullPolicy?: string;
  memoryLimit?: string;
  requests: [string, string][];
  restarts: number;
  waiting?: { reason: string; message?: string };
  terminated?: Terminated;
  lastTerminated?: Terminated;
}

interface Terminated {
  reason?: string;
  exitCode?: number;
  message?: string;
}

/** A rule that looks at one container of a pod. */
type ContainerRule = (pod: Pod, container: Container, context: SignatureContext) => Finding | undefined;

/** The waiting reasons of a failed image pull. */
const IMAGE_PULL_REASONS = new Set(["ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull"]);

/** Waiting reasons of a container that is on its way: not a problem. */
const STARTING_REASONS = new Set(["ContainerCreating", "PodInitializing"]);

/** Container rules, root causes first: the first rule that finds anything in any container names the pod's problem. */
const CONTAINER_RULES: ContainerRule[] = [imagePull, oomKilled, crashLoop, exitedWithError, otherWaiting];

function containerFinding(pod: Pod, context: SignatureContext): Finding | undefined {
  for (const rule of CONTAINER_RULES) {
    for (const container of pod.containers) {
      const finding = rule(pod, container, context);
      if (finding) return finding;
    }
  }
  return undefined;
}

function evicted(pod: Pod): Finding | undefined {
  if (pod.reason !== "Evicted") return undefined;
  return { reason: "Evicted", summary: `pod was evicted: ${pod.message ?? "the node gave no reason"}`, details: [] };
}

function unschedulable(pod: Pod): Finding | undefined {
  if (pod.unschedulable === undefined) return undefined;
  const details = pod.containers
    .filter((c) => c.requests.length > 0)
    .map((c) => `container "${c.name}" requests ${c.requests.map(([resource, amount]) => `${resource} ${amount}`).join(", ")}`);
  return { reason: "Pending", summary: `pod cannot be scheduled: ${pod.unschedulable}`, details };
}

function imagePull(pod: Pod, container: Container, context: SignatureContext): Finding | undefined {
  const { waiting, image } = container;
  if (!waiting || !IMAGE_PULL_REASONS.has(waiting.reason) || !image) return undefined;
  const wanted = normalizeRef(image);
  const loaded = context.loaded.find((l) => normalizeRef(l.ref) === wanted);
  const summary = loaded
    ? `image ${image} of container "${container.name}" was loaded into the cluster (as ${loaded.name}) but the kubelet tries to pull it: ${whyPulled(pod, container)}`
    : `image ${image} of container "${container.name}" was not loaded into the cluster: the pod asks for ${wanted}, ${loadedRefs(context.loaded)}; ${howToLoad(wanted, context.loaded)}`;
  return { reason: waiting.reason, summary, details: waiting.message ? [waiting.message] : [] };
}

/** Why a loaded image is pulled all the same. */
function whyPulled(pod: Pod, container: Container): string {
  const latest = normalizeRef(container.image ?? "").endsWith(":latest");
  if (container.pullPolicy === "Always" || (container.pullPolicy === undefined && latest)) {
    return latest
      ? "its imagePullPolicy is Always (the default for a :latest or untagged image); set imagePullPolicy: IfNotPresent or use a tag other than latest"
      : "its imagePullPolicy is Always; set imagePullPolicy: IfNotPresent";
  }
  const node = pod.node ? `node ${pod.node}` : "its node";
  return `${node} does not have it (imagePullPolicy ${container.pullPolicy ?? "unknown"}); check that the load reached every node`;
}

function loadedRefs(loaded: SignatureContext["loaded"]): string {
  if (loaded.length === 0) return "no image was loaded";
  return `loaded refs are ${loaded.map((l) => `${normalizeRef(l.ref)} (${l.name})`).join(", ")}`;
}

/** The advice for an image that was not loaded: named after the loaded image of the same repository name, if any. */
function howToLoad(wanted: string, loaded: SignatureContext["loaded"]): string {
  const name = repositoryName(wanted);
  const match = loaded.find((l) => l.name === name || repositoryName(normalizeRef(l.ref)) === name);
  const [variable, key] = match ? [match.name.toUpperCase().replaceAll("-", "_"), match.name] : ["<NAME>", "<name>"];
  return `make the manifest use $IMAGE_${variable} or set images.${key}.ref`;
}

/** The last path element of a normalized reference, without tag or digest: `jax` for `docker.io/library/jax:1`. */
function repositoryName(normalized: string): string {
  // Stryker disable next-line StringLiteral: split always gives a first element; the fallback only satisfies the type checker
  const path = normalized.split("@")[0] ?? "";
  // Stryker disable next-line StringLiteral: as above
  return path.slice(path.lastIndexOf("/") + 1).split(":")[0] ?? "";
}

function oomKilled(_pod: Pod, container: Container): Finding | undefined {
  const terminated = [container.terminated, container.lastTerminated].find((t) => t?.reason === "OOMKilled");
  if (!terminated) return undefined;
  const limit = container.memoryLimit
    ? `it used more memory than its limit of ${container.memoryLimit}`
    : "it has no memory limit, so the node itself ran out of memory";
  return { reason: "OOMKilled", summary: `container "${container.name}" was OOMKilled: ${limit}${restarted(container)}`, details: [] };
}

function crashLoop(pod: Pod, container: Container, context: SignatureContext): Finding | undefined {
  if (container.waiting?.reason !== "CrashLoopBackOff") return undefined;
  const last = container.lastTerminated;
  const exit = last ? `: it last exited with ${exitText(last)}` : "";
  return {
    reason: "CrashLoopBackOff",
    summary: `container "${container.name}" keeps crashing${restarted(container)}${exit}`,
    details: [...optional(container.waiting.message), ...logLines(pod, container, context)],
  };
}

function exitedWithError(pod: Pod, container: Container, context: SignatureContext): Finding | undefined {
  const terminated = container.terminated;
  if (!terminated || terminated.exitCode === undefined || terminated.exitCode === 0) return undefined;
  return {
    reason: terminated.reason ?? "Error",
    summary: `container "${container.name}" exited with ${exitText(terminated)}`,
    details: [...optional(terminated.message), ...logLines(pod, container, context)],
  };
}

function otherWaiting(_pod: Pod, container: Container): Finding | undefined {
  const waiting = container.waiting;
  if (!waiting || STARTING_REASONS.has(waiting.reason)) return undefined;
  const message = waiting.message ? `: ${waiting.message}` : "";
  return { reason: waiting.reason, summary: `container "${container.name}" is waiting (${waiting.reason})${message}`, details: [] };
}

function exitText(terminated: Terminated): string {
  const code = terminated.exitCode === undefined ? "an unknown code" : `code ${terminated.exitCode}`;
  return terminated.reason ? `${code} (${terminated.reason})` : code;
}

function restarted(container: Container): string {
  const n = container.restarts;
  if (n === 0) return "";
  return n === 1 ? " (restarted once)" : ` (restarted ${n} times)`;
}

function optional(line: string | undefined): string[] {
  return line ? [line] : [];
}

/** The container's last log lines, if the diagnostics collected them. */
function logLines(pod: Pod, container: Container, context: SignatureContext): string[] {
  const lines = lastLines(context.logs?.[`${pod.namespace}/${pod.name}/${container.name}`] ?? "");
  if (lines.length === 0) return [];
  return [`last ${lines.length} log lines of ${container.name}:`, ...lines.map((l) => `| ${l}`)];
}

// Reading the JSON: every field is checked for its type, so an unexpected shape is skipped, never thrown on.

type Json = Record<string, unknown>;

function readPods(podsJson: string): Pod[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(podsJson);
  // Stryker disable next-line BlockStatement: without the early return, the undefined parse result gives no pods all the same
  } catch {
    return [];
  }
  return objects(object(parsed)?.items).flatMap((item) => {
    const pod = readPod(item);
    return pod ? [pod] : [];
  });
}

function readPod(item: Json): Pod | undefined {
  const metadata = object(item.metadata);
  const name = text(metadata?.name);
  if (!name) return undefined;
  const spec = object(item.spec);
  const status = object(item.status);
  const scheduled = objects(status?.conditions).find((c) => c.type === "PodScheduled" && c.status === "False");
  return {
    // Stryker disable next-line OptionalChaining: a pod without metadata has no name and was returned above
    namespace: text(metadata?.namespace) ?? "default",
    name,
    node: text(spec?.nodeName),
    reason: text(status?.reason),
    message: text(status?.message),
    unschedulable: scheduled && (text(scheduled.message) ?? text(scheduled.reason) ?? "no reason given"),
    containers: [
      ...mergeContainers(objects(spec?.initContainers), objects(status?.initContainerStatuses)),
      ...mergeContainers(objects(spec?.containers), objects(status?.containerStatuses)),
    ],
  };
}

/** Containers by name, each with its spec and its status. */
function mergeContainers(specs: Json[], statuses: Json[]): Container[] {
  const names = [...new Set([...specs, ...statuses].map((c) => text(c.name)))].filter((n): n is string => n !== undefined);
  return names.map((name) =>
    readContainer(
      name,
      specs.find((s) => s.name === name),
      statuses.find((s) => s.name === name),
    ),
  );
}

function readContainer(name: string, spec: Json | undefined, status: Json | undefined): Container {
  const resources = object(spec?.resources);
  const state = object(status?.state);
  const waiting = object(state?.waiting);
  const waitingReason = text(waiting?.reason);
  return {
    name,
    image: text(spec?.image) ?? text(status?.image),
    pullPolicy: text(spec?.imagePullPolicy),
    memoryLimit: quantity(object(resources?.limits)?.memory),
    requests: Object.entries(object(resources?.requests) ?? {}).flatMap(([resource, amount]) => {
      const value = quantity(amount);
      return value ? [[resource, value] as [string, string]] : [];
    }),
    restarts: typeof status?.restartCount === "number" ? status.restartCount : 0,
    // Stryker disable next-line OptionalChaining: a waiting reason means the waiting object exists
    waiting: waitingReason ? { reason: waitingReason, message: text(waiting?.message) } : undefined,
    terminated: readTerminated(object(state?.terminated)),
    lastTerminated: readTerminated(object(object(status?.lastState)?.terminated)),
  };
}

function readTerminated(terminated: Json | undefined): Terminated | undefined {
  if (!terminated) return undefined;
  const exitCode = terminated.exitCode;
  return {
    reason: text(terminated.reason),
    exitCode: typeof exitCode === "number" ? exitCode : undefined,
    message: text(terminated.message),
  };
}

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function objects(value: unknown): Json[] {
  // Stryker disable next-line ArrayDeclaration: every caller drops elements without the fields it reads
  return Array.isArray(value) ? value.map(object).filter((v): v is Json => v !== undefined) : [];
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/** A resource quantity: a string such as "512Mi", or a plain number. */
function quantity(value: unknown): string | undefined {
  return typeof value === "number" ? String(value) : text(value);
}
