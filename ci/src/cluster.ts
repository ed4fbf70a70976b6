/**
 * The cluster stage: a Kind cluster inside a Docker-in-Docker Dagger service (never the host's Docker
 * socket). The service creates the cluster itself (ci/scripts/kind-cluster.sh), so `dagger call cluster
 * up` gives a live cluster; the pipeline starts it explicitly, waits until every node is Ready with a
 * bound, and reads its kubeconfig. A cluster that does not come up fails with the diagnostics to fix it.
 *
 * Engine behaviour this relies on, as Dagger's source has it (v0.21.8):
 * - A service is keyed by its definition's digest and the session: byte-identical definitions are one
 *   instance per `dagger call`, started once and kept after `start()` until the session ends
 *   (core/services.go `Start`, `StopSessionServices`).
 * - The end of a session kills its services (core/services.go `StopSessionServices`: `StopRunning(…, true)`);
 *   only `Service.stop` without `kill` sends SIGTERM first (core/service.go `stopSvc`).
 * - Binding a service that is not running starts it (core/services.go `StartBindings`): whatever may find
 *   the service dead reads its published state instead of binding it.
 * - Locked (and Private) cache volumes take an engine-wide lock, without a timeout, that a service holds
 *   as long as it runs (core/container_exec.go `lockMountedCaches`; engine/server/server.go `locker`).
 */
import { createHash, randomUUID } from "node:crypto";
import { CacheSharingMode, dag, ExecError, ReturnType, type Container, type File, type Service } from "@dagger.io/dagger";
import { stringify } from "yaml";
import { ClusterError } from "./cluster-error.js";
import { describeFailure, lastLines, LOG_TAIL_LINES, messageOf } from "./errors.js";
import type { NodeImageChoice } from "./node-images.js";
import type { PlannedCluster } from "./plan.js";
import { DIND_IMAGE, KIND_RELEASES, KUBECTL, type KindVersion } from "./releases.js";
import type { Run } from "./run.js";
import { moduleScripts, scriptContents, SCRIPTS_PATH } from "./scripts.js";
import { poll, withTimeout } from "./waits.js";

/** The Kubernetes API port: the only port the service exposes (`up --ports 6443:6443`). */
const API_PORT = 6443;
/**
 * dockerd's port, for kind and docker in bound containers (`DOCKER_HOST=tcp://<alias>:2375`). Reachable
 * by the service's alias but not exposed, so that `up` never forwards an unauthenticated Docker daemon.
 */
export const DOCKER_PORT = 2375;

const KIND_CONFIG = "/kind-pipeline/kind-config.yaml";
const NODE_ARCHIVE = "/kind-pipeline/node-image.tar";
/** The state volume's mount: one directory per definition of the cluster (see `definitionId`). */
const STATE = "/kind-pipeline/state";
/** Where a bound client (and every e2e step) finds the cluster's kubeconfig. */
export const KUBECONFIG = "/kind-pipeline/kubeconfig";
/** The scripts the service runs, and those that build a node image it loads: part of its definition. */
const SERVICE_SCRIPTS = ["dockerd.sh", "kind-cluster.sh", "session.sh"];
const NODE_IMAGE_SCRIPTS = ["build-node-image.sh", "dockerd.sh"];
const READER_SCRIPTS = ["cluster-conflicts.sh", "cluster-state.sh", "cluster-status.sh", "read-kubeconfig.sh", "session.sh"];
const SERVICE_ARGS = ["sh", `${SCRIPTS_PATH}/kind-cluster.sh`];
/** How long a graceful stop may take (SIGTERM: the script stops kind, then dockerd its nodes) before a kill. */
export const STOP_SECONDS = 60;
const ENGINE_FAILING = "This is the engine failing, not the cluster: retry, and report it if it persists.";

/** How long to wait for a cluster; the defaults suit a real engine (see DEFAULT_PATIENCE), tests shorten them. */
export interface Patience {
  /** Time limit for `start()`: for the service's container to run. */
  startSeconds: number;
  /** Attempts to see the cluster ready and every node registered, and the pause between them. */
  attempts: number;
  intervalMs: number;
  /** `kubectl wait --for=condition=Ready nodes --all --timeout`, in seconds. */
  readySeconds: number;
  /** Time limit of one observation (a status read, a kubectl or docker call, a diagnostic), in seconds. */
  observationSeconds: number;
  /** What the `kubectl wait` exec gets beyond `readySeconds`, so that kubectl's own verdict arrives first. */
  readyMarginSeconds: number;
}

/**
 * What users get. The API port is exposed with the engine's health check skipped, so `start()` returns
 * once the container runs, and the module's own status polling carries readiness, with these bounds:
 *
 * - startSeconds 300: with every port skipped and no image HEALTHCHECK (docker:dind declares none), the
 *   engine's check returns at once (core/healthcheck.go `portHealthChecker.Check`; core/service.go runs it
 *   on the ports `withExposedPort` declared, never on the image's EXPOSE). `start()` then waits only for the
 *   Locked docker volume's lock and for the container to run; the toolbox image is pulled before, by the
 *   checks that read the state volume. Five minutes is ample for that, and ends a wait on a lock that the
 *   pre-start check could not see (two runs starting at once) with an error instead of silence. Before
 *   this, the engine's own check dialled 6443 with a backoff that gives up after 15 minutes (backoff v4's
 *   default MaxElapsedTime), which a first run (pull, then create) could exceed.
 * - attempts × intervalMs = 240 × 5 s = 20 minutes from the container running to every node registered:
 *   dockerd (≤ 60 s, dockerd.sh's own bound) + the node image (≈ 450 MB compressed: ≤ 10 minutes at
 *   0.75 MB/s, or loading a built archive) + kind create (≤ 9 minutes: a flaky first attempt fails within
 *   about a minute, the retry boots the nodes, runs kubeadm init and waits up to `--wait 5m`). A run with
 *   the node image cached takes 1-3 minutes of it. 5 s is the heartbeat's period: a check costs an exec.
 * - observationSeconds 60: a status read or a `kubectl --request-timeout=10s` takes seconds; a minute
 *   covers an engine busy with builds and pulls, and a stuck `docker exec` or API call cannot stall the run.
 * - readySeconds 180: once every node is registered (kind already waited for the control plane), workers
 *   get Ready when the CNI runs on them, within a minute; three leave room for a loaded engine.
 * - readyMarginSeconds 60 (one observation): the exec of `kubectl wait` gets readySeconds + 60 s, so that
 *   kubectl's own timeout, which names the nodes that are not Ready, is what the user sees.
 */
export const DEFAULT_PATIENCE: Patience = { startSeconds: 300, attempts: 240, intervalMs: 5000, readySeconds: 180, observationSeconds: 60, readyMarginSeconds: 60 };

/**
 * The kind config of a planned cluster: the API server reachable from other containers by the service's
 * alias, the nodes of cluster.workers and cluster.nodeLabels (or cluster.kindConfig.nodes), and the rest of
 * cluster.kindConfig merged in; its kubeadm patches come after the module's certificate SANs.
 */
function kindConfig(cluster: PlannedCluster): string {
  const { nodes, kubeadmConfigPatches = [], networking, ...rest } = cluster.kindConfig ?? {};
  // sorted, so that the same labels in another order are the same service (and definition)
  const sorted = Object.fromEntries(Object.keys(cluster.nodeLabels).sort().map((key) => [key, cluster.nodeLabels[key]]));
  const labels = Object.keys(sorted).length > 0 ? { labels: sorted } : {};
  const workers = Array.from({ length: cluster.workers }, () => ({ role: "worker", ...labels }));
  return stringify({
    ...rest, // featureGates, runtimeConfig, containerd and JSON6902 patches; what the module owns comes after
    kind: "Cluster",
    apiVersion: "kind.x-k8s.io/v1alpha4",
    name: cluster.name,
    networking: { ...networking, apiServerAddress: "0.0.0.0", apiServerPort: API_PORT },
    kubeadmConfigPatches: [stringify({ kind: "ClusterConfiguration", apiServer: { certSANs: [cluster.name, "localhost", "127.0.0.1"] } }), ...kubeadmConfigPatches],
    nodes: nodes ?? [{ role: "control-plane", ...(cluster.workers === 0 ? labels : {}) }, ...workers],
  });
}

/**
 * Everything that defines a cluster's service: the planned cluster (name, version, workers, node labels,
 * node image), its kind config, the pinned tools and image, the service's layout and the content of its
 * scripts (and of the scripts that build its node image, when kind publishes none). Not the images under
 * test: a later stage loads them into the cluster from a bound client, so they never change the service.
 */
export function definitionInputs(cluster: PlannedCluster, kind: KindVersion): unknown {
  return {
    cluster: { name: cluster.name, kubernetes: cluster.kubernetes, workers: cluster.workers, nodeLabels: cluster.nodeLabels, nodeImage: cluster.nodeImage },
    kindConfig: kindConfig(cluster),
    tools: { image: DIND_IMAGE, kind: { version: kind, sha256: KIND_RELEASES[kind].binarySha256 }, kubectl: KUBECTL },
    service: { args: SERVICE_ARGS, apiPort: API_PORT, dockerPort: DOCKER_PORT, kindConfig: KIND_CONFIG, nodeArchive: NODE_ARCHIVE, state: STATE, scripts: scriptContents(SERVICE_SCRIPTS) },
    ...(cluster.nodeImage.kind === "build" && { nodeImageBuild: scriptContents(NODE_IMAGE_SCRIPTS) }),
  };
}

/**
 * A short id of a cluster's service definition (12 hex digits of a sha256 of `definitionInputs`): it
 * names the service's docker volume and its state directory, so that each definition has its own lock
 * and its readers find its state. Two runs of the same definition share the docker volume's cache.
 */
export function definitionId(cluster: PlannedCluster, kind: KindVersion): string {
  return createHash("sha256").update(canonicalJson(definitionInputs(cluster, kind))).digest("hex").slice(0, 12);
}

/** JSON with object keys sorted, so that the same inputs always hash the same (node labels in any order). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The cache volume of the cluster's state, one per cluster name: each definition publishes in its own
 * directory, and the pre-start check looks at all of them. Its sharing mode is part of its identity (the
 * engine selects `cacheVolume(key, sharing, …)` anew for a mount's mode: core/schema/container.go
 * `withMountedCacheDynamicInputs`; core/cache.go `lockKey` includes it), so it stays SHARED: readers and
 * the service at once, and no lock (core/container_exec.go `cacheSharingModeLocksWrites`).
 */
function stateVolume(cluster: PlannedCluster): { key: string; sharing: CacheSharingMode } {
  return { key: `kind-pipeline-state-${cluster.name}`, sharing: CacheSharingMode.Shared };
}

/**
 * The cache volume of the service's /var/lib/docker, one per definition, keeping pulled node images
 * between runs. LOCKED, and fixed: two dockerds must never share a data root, and the mode is part of the
 * volume's identity (see stateVolume). PRIVATE would not help: in v0.21.x it is implemented as LOCKED
 * (core/container_exec.go `cacheSharingModeLocksWrites`: "PRIVATE is implemented with the same serialized
 * writes as LOCKED"). The lock is engine-wide, without a timeout, and held while the service runs
 * (core/service.go takes it before the container starts; engine/server/server.go's `locker`), which is
 * why the key includes the definition: another definition never waits for it, and the pre-start check
 * reports the same definition held by another session instead of waiting.
 */
function dockerVolume(cluster: PlannedCluster, definition: string): { key: string; sharing: CacheSharingMode } {
  return { key: `kind-pipeline-docker-${cluster.name}-${definition}`, sharing: CacheSharingMode.Locked };
}

/** One definition of a cluster, as its readers see it: where its state is, and a container to read it. */
interface Site {
  cluster: PlannedCluster;
  /** "Kubernetes 1.37.0 (kind-pipeline-1-37-0)", for messages. */
  at: string;
  definition: string;
  /** This definition's directory on the state volume. */
  stateDir: string;
  /** The toolbox with the state volume and the reading scripts: never bound to the service. */
  reader: Container;
}

function siteOf(cluster: PlannedCluster, kind: KindVersion, toolbox: Container): Site {
  const definition = definitionId(cluster, kind);
  return {
    cluster,
    at: `Kubernetes ${cluster.kubernetes} (${cluster.name})`,
    definition,
    stateDir: `${STATE}/${definition}`,
    reader: withState(toolbox, cluster).withMountedDirectory(SCRIPTS_PATH, moduleScripts(READER_SCRIPTS)),
  };
}

/** A container with the state volume mounted (see stateVolume). */
function withState(container: Container, cluster: PlannedCluster): Container {
  const volume = stateVolume(cluster);
  return container.withMountedCache(STATE, dag.cacheVolume(volume.key), { sharing: volume.sharing });
}

/**
 * The Docker-in-Docker service that runs the cluster. Its definition depends only on the plan, the pinned
 * tools and its scripts (see definitionInputs), so every function of a session reaches the same
 * instance. The API port is exposed for `up --ports`, without the engine's health check: the module's
 * status polling carries readiness (see DEFAULT_PATIENCE).
 */
export function clusterService(cluster: PlannedCluster, toolbox: Container, node: NodeImageChoice, kind: KindVersion): Service {
  const definition = definitionId(cluster, kind);
  const docker = dockerVolume(cluster, definition);
  const base = withState(toolbox, cluster)
    .withMountedDirectory(SCRIPTS_PATH, moduleScripts(SERVICE_SCRIPTS))
    .withNewFile(KIND_CONFIG, kindConfig(cluster))
    .withMountedCache("/var/lib/docker", dag.cacheVolume(docker.key), { sharing: docker.sharing })
    .withEnvVariable("DOCKER_TLS_CERTDIR", "")
    .withEnvVariable("CLUSTER_NAME", cluster.name)
    .withEnvVariable("NODE_IMAGE", node.ref)
    .withEnvVariable("KIND_CONFIG", KIND_CONFIG)
    .withEnvVariable("STATE_DIR", `${STATE}/${definition}`);
  const withNode = node.archive ? base.withMountedFile(NODE_ARCHIVE, node.archive).withEnvVariable("NODE_IMAGE_ARCHIVE", NODE_ARCHIVE) : base;
  return withNode.withExposedPort(API_PORT, { experimentalSkipHealthcheck: true }).asService({ args: SERVICE_ARGS, insecureRootCapabilities: true });
}

/**
 * A node image kind publishes, as a docker archive: pulled by its pinned digest in a privileged
 * Docker-in-Docker exec and saved under its tag (`kindest/node:v1.37.0`). Lazy: nothing runs until the
 * archive is asked for (`node-image archive` of a published version), and the engine caches it like any
 * other result, since its inputs are the pinned image, the reference and the scripts.
 */
export function publishedNodeArchive(ref: string): File {
  const archive = "/out/node-image.tar";
  // dockerd's data root on a cache volume, as in the service (not the container's overlay root), keeping
  // pulled layers between runs. LOCKED, and fixed (the mode is part of the volume's identity; see
  // dockerVolume): one dockerd at a time; the lock is held by this exec only, until it ends.
  return dag
    .container()
    .from(DIND_IMAGE)
    .withMountedDirectory(SCRIPTS_PATH, moduleScripts(["dockerd.sh", "save-node-image.sh"]))
    .withMountedCache("/var/lib/docker", dag.cacheVolume("kind-pipeline-node-image-save"), { sharing: CacheSharingMode.Locked })
    .withEnvVariable("DOCKER_TLS_CERTDIR", "")
    .withExec(["sh", `${SCRIPTS_PATH}/save-node-image.sh`, ref, archive], { insecureRootCapabilities: true })
    .file(archive);
}

/**
 * A container whose next exec observes live state, so the engine must run it now rather than answer from
 * its cache: the value differs on every call. Only observations carry it, never builds or the service.
 */
export function observing(container: Container): Container {
  return container.withEnvVariable("KIND_PIPELINE_OBSERVATION", randomUUID());
}

/** The cluster's kubeconfig, read from its control-plane node, with the API server at `server`. */
function withKubeconfig(client: Container, cluster: PlannedCluster, server: string): Container {
  return client
    .withExec(["kind", "export", "kubeconfig", "--name", cluster.name, "--kubeconfig", KUBECONFIG])
    .withExec(["kubectl", "config", "set-cluster", `kind-${cluster.name}`, `--server=${server}`]);
}

/** A started cluster that every node of is Ready, for the stages that use it (load, e2e). */
export interface LiveCluster {
  cluster: PlannedCluster;
  /** The running service (started explicitly: it runs until the session ends, or until `stop()`). */
  service: Service;
  /** The kubeconfig for containers that bind the service under the cluster's name: server `https://<cluster name>:6443`. */
  kubeconfig: File;
  /**
   * The toolbox (docker, kind, kubectl) bound to the service under the cluster's name, with
   * `DOCKER_HOST=tcp://<cluster name>:2375`, `KUBECONFIG` set and the kubeconfig at that path. Its execs
   * are cached like any other: give an exec that observes live state a fresh input (`observing`). Bind
   * it only while `isLive()`: binding a service that is not running starts a new, empty one.
   */
  client: Container;
  /** Whether the service still runs, from its published status: reads, never binds, so it never starts one. */
  isLive(): Promise<boolean>;
  /** Stops the service gracefully (its script records `stopped`), for a caller that finishes early. */
  stop(): Promise<void>;
}

/**
 * Starts the cluster service explicitly (it then runs until the session ends, so every later step reaches
 * the same cluster) and waits, with bounds, until the service reports the cluster ready (kind created it
 * and every node joined), `kubectl get nodes` lists every node, and `kubectl wait` sees them all Ready.
 * Before starting, it fails fast when another run of the cluster is live on the engine (see
 * cluster-conflicts.sh). Returns the live cluster: the service, its kubeconfig and a client bound to it.
 * Throws ClusterError with diagnostics when anything on the way fails.
 */
export async function startCluster(
  run: Run,
  cluster: PlannedCluster,
  toolbox: Container,
  node: NodeImageChoice,
  patience: Patience = DEFAULT_PATIENCE,
): Promise<LiveCluster> {
  const started = Date.now();
  const site = siteOf(cluster, run.plan.kind, toolbox);
  const { at } = site;
  const report = () => stateReport(site, patience);
  if (node.archive) {
    run.log(`[cluster] ${cluster.kubernetes}: building the node image ${node.ref} (kind publishes none)`);
    await node.archive.sync().catch((error: unknown) => {
      throw new ClusterError(`the node image for ${at} could not be built`, "kind build node-image downloads the release from dl.k8s.io: check the engine's network, or choose a version kind publishes.", [describeFailure(error).join("\n")]);
    });
  }
  await nothingInTheWay(site, patience);
  run.log(`[cluster] ${cluster.kubernetes}: starting ${cluster.name} from ${node.ref} (definition ${site.definition})`);
  const service = clusterService(cluster, toolbox, node, run.plan.kind);
  try {
    await withTimeout(service.start(), patience.startSeconds, () => new Error(`its container did not run within ${patience.startSeconds}s`));
  } catch (error) {
    throw new ClusterError(
      `the Kind cluster service for ${at} did not start`,
      `If it waited, another run of this definition may hold its Locked docker cache (${dockerVolume(cluster, site.definition).key}) and keeps it until its session ends: give concurrent runs their own cluster.name.`,
      [describeFailure(error).join("\n"), section("the cluster service's state", await report())],
    );
  }

  const client = toolbox
    .withServiceBinding(cluster.name, service)
    .withEnvVariable("DOCKER_HOST", `tcp://${cluster.name}:${DOCKER_PORT}`)
    .withEnvVariable("KUBECONFIG", KUBECONFIG);
  const server = `https://${cluster.name}:${API_PORT}`;
  const expected = cluster.workers + 1;
  const waitingSince = Date.now();
  let waitingFor = "";
  const registered = await poll(patience.attempts, patience.intervalMs, async () => {
    // The service's own status first, read without binding it: a service that died is not started again.
    const status = await observeStatus(site, patience);
    if (status !== "ready") {
      waitingFor = status;
      return undefined;
    }
    const listing = withKubeconfig(observing(client), cluster, server).withExec(["kubectl", "get", "nodes", "-o", "name", "--request-timeout=10s"]);
    try {
      const nodes = (await observed(listing.stdout(), `kubectl get nodes on ${at}`, patience.observationSeconds)).split("\n").filter(Boolean);
      waitingFor = `${nodes.length} of ${expected} nodes registered`;
      return nodes.length >= expected ? listing : undefined;
    } catch (error) {
      // the API server may still be starting, or restarting: ask again
      if (!(error instanceof ExecError)) throw new ClusterError(`listing the nodes of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING, [section("the cluster service's state", await report())]);
      waitingFor = describeFailure(error, "").join(" ");
      return undefined;
    }
  });
  if (!registered) {
    const what = `not every node was up after ${seconds(Date.now() - waitingSince)} (${waitingFor})`;
    throw await stoppedAfter(service, notReady(site, client, server, what, patience, "The control plane or a node did not come up: kind's output and the control plane's log above say why."));
  }
  try {
    const ready = registered.withExec(["kubectl", "wait", "--for=condition=Ready", "nodes", "--all", `--timeout=${patience.readySeconds}s`]);
    await observed(ready.sync(), `kubectl wait on ${at}`, patience.readySeconds + patience.readyMarginSeconds);
    run.log(`[cluster] ${cluster.kubernetes}: ${cluster.name} is ready, ${expected} nodes (${seconds(Date.now() - started)})`);
    const kubeconfig = ready.file(KUBECONFIG);
    return {
      cluster,
      service,
      kubeconfig,
      client: client.withFile(KUBECONFIG, kubeconfig),
      isLive: () => liveNow(site, patience),
      stop: () => stopCluster(service),
    };
  } catch (error) {
    if (!(error instanceof ExecError)) throw new ClusterError(`waiting for the nodes of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING);
    const what = `its nodes were not all Ready within ${patience.readySeconds}s:\n${describeFailure(error).join("\n")}`;
    throw await stoppedAfter(service, notReady(site, client, server, what, patience, "A node that never gets Ready is often short of memory or disk in the engine: try fewer workers (cluster.workers)."));
  }
}

/**
 * Fails fast, before `start()`, when a live service is in the way (cluster-conflicts.sh): this definition
 * in another session (its Locked docker volume would make `start()` wait for that session to end), or
 * another definition of the same cluster name (a second cluster of that name on the engine).
 */
async function nothingInTheWay(site: Site, patience: Patience): Promise<void> {
  try {
    await checkOtherRuns(site, patience);
  } catch (error) {
    if (error instanceof ExecError && error.exitCode === 5) {
      throw new ClusterError(
        `${site.at} is already running on this engine, for another run (this one's definition: ${site.definition})`,
        `Waiting would last until that run's session ends. Reach that cluster with \`dagger call kubeconfig --local\` if it is yours, end that \`dagger call\` to stop it, or give this project its own cluster.name.`,
        [section("what runs", error.stdout)],
      );
    }
    throw new ClusterError(`checking for other runs of ${site.at} failed: ${messageOf(error)}`, ENGINE_FAILING);
  }
}

/** cluster-conflicts.sh over every definition's state: fails with exit code 5, saying what runs, when another run is live. */
function checkOtherRuns(site: Site, patience: Patience): Promise<Container> {
  const check = observing(site.reader).withExec(["sh", `${SCRIPTS_PATH}/cluster-conflicts.sh`, STATE, site.definition]);
  return observed(check.sync(), `the check for other runs of ${site.at}`, patience.observationSeconds);
}

/** The state the service published (status, the end of kind's output and dockerd's log), for errors. */
function stateReport(site: Site, patience: Patience): Promise<string> {
  return observe(observing(site.reader), ["sh", `${SCRIPTS_PATH}/cluster-state.sh`, site.stateDir], patience);
}

/**
 * The service's status as cluster-status.sh tells it: "ready", or what it is still doing. Throws
 * ClusterError, with the service's state, when the service is not running (failed, stopped, killed).
 */
async function observeStatus(site: Site, patience: Patience): Promise<string> {
  const status = await readStatus(site, patience);
  if (status.code === 0 || status.code === 3) return status.said;
  if (status.code === 4) {
    throw new ClusterError(`${site.at} stopped before it was ready`, "kind's output above says why; the service's own log shows with `dagger call cluster up --progress=plain`.", [section("the cluster service's state", await stateReport(site, patience))]);
  }
  throw new ClusterError(`reading the status of ${site.at} failed: ${status.said}`, ENGINE_FAILING);
}

/** cluster-status.sh's answer: 0 ready, 3 starting or creating, 4 not running; -1 when it could not be read. */
async function readStatus(site: Site, patience: Patience): Promise<{ code: number; said: string }> {
  try {
    await observed(observing(site.reader).withExec(["sh", `${SCRIPTS_PATH}/cluster-status.sh`, site.stateDir]).sync(), `the status of ${site.at}`, patience.observationSeconds);
    return { code: 0, said: "ready" };
  } catch (error) {
    if (error instanceof ExecError && (error.exitCode === 3 || error.exitCode === 4)) return { code: error.exitCode, said: error.stdout.trim() };
    return { code: -1, said: messageOf(error) };
  }
}

/** Whether the service runs (starting, creating or ready, with a live heartbeat); false when that cannot be read. */
async function liveNow(site: Site, patience: Patience): Promise<boolean> {
  const { code } = await readStatus(site, patience);
  return code === 0 || code === 3;
}

/**
 * Whether the cluster service of a planned cluster is running (starting, creating or ready, with a live
 * heartbeat), from the status it publishes: read without binding the service, so asking never starts one.
 * `kind` is the plan's kind release (`run.plan.kind`), part of the service's definition. False when the
 * status cannot be read: then binding the service is not safe either.
 */
export function isLive(cluster: PlannedCluster, toolbox: Container, kind: KindVersion): Promise<boolean> {
  return liveNow(siteOf(cluster, kind, toolbox), DEFAULT_PATIENCE);
}

/**
 * Stops a cluster service gracefully: SIGTERM, so that its script records `stopped` and stops kind and
 * dockerd (Service.stop without kill: core/services.go `Stop`, core/service.go `stopSvc`). The engine
 * waits for the exit without a time limit of its own, so after `graceSeconds` the service is killed.
 */
export async function stopCluster(service: Service, graceSeconds = STOP_SECONDS): Promise<void> {
  try {
    await withTimeout(service.stop(), graceSeconds, () => new Error(`the service did not stop within ${graceSeconds}s`));
  } catch {
    await service.stop({ kill: true });
  }
}

/**
 * The readiness failure, once its diagnostics are collected, with the service stopped: a cluster that did
 * not come up holds its Docker volume and the engine's memory for nothing until the session ends.
 */
async function stoppedAfter(service: Service, diagnosed: Promise<ClusterError>): Promise<ClusterError> {
  const error = await diagnosed;
  await stopCluster(service).catch(() => undefined); // the error says what matters; a stop that fails changes nothing of it
  return error;
}

/** An observation within its time limit: a stuck `docker exec` or API call does not stall the pipeline. */
function observed<T>(observation: Promise<T>, what: string, limitSeconds: number): Promise<T> {
  return withTimeout(observation, limitSeconds, () => new Error(`${what} did not answer within ${limitSeconds}s`));
}

/**
 * The kubeconfig of a cluster another `dagger call … cluster up` keeps running, with the API server at
 * `https://localhost:6443` (its forwarded port). Read from the state the service publishes, only while the
 * service is alive; waits, with a bound, while the cluster is still being created. Starts nothing.
 * `kind` is the plan's kind release (`run.plan.kind`), part of the service's definition.
 */
export async function hostKubeconfig(cluster: PlannedCluster, toolbox: Container, kind: KindVersion, patience: Patience = DEFAULT_PATIENCE): Promise<File> {
  const site = siteOf(cluster, kind, toolbox);
  const { at } = site;
  const start = `dagger call cluster --kubernetes=${cluster.kubernetes} up --ports ${API_PORT}:${API_PORT}`;
  const waitingSince = Date.now();
  let waitingFor = "";
  const copied = await poll(patience.attempts, patience.intervalMs, async () => {
    try {
      const args = ["sh", `${SCRIPTS_PATH}/read-kubeconfig.sh`, site.stateDir, cluster.name, `https://localhost:${API_PORT}`, KUBECONFIG];
      return await observed(observing(site.reader).withExec(args).sync(), `reading the kubeconfig of ${at}`, patience.observationSeconds);
    } catch (error) {
      if (!(error instanceof ExecError)) throw new ClusterError(`reading the kubeconfig of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING);
      if (error.exitCode === 3) {
        waitingFor = error.stderr.trim();
        return undefined;
      }
      if (error.exitCode === 4) {
        throw new ClusterError(`no running cluster publishes a kubeconfig for ${at} (definition ${site.definition})`, `Start one first, in another terminal, and keep it running: ${start}`, [
          section("the cluster service's state", error.stderr),
          ...(await othersRunning(site, patience)),
        ]);
      }
      throw new ClusterError(`the kubeconfig of ${at} could not be copied`, ENGINE_FAILING, [describeFailure(error).join("\n")]);
    }
  });
  if (!copied) {
    throw new ClusterError(`${at} was not ready after ${seconds(Date.now() - waitingSince)} (${waitingFor})`, `Watch the service started by \`${start}\`; its output says what it is waiting for.`);
  }
  return copied.file(KUBECONFIG);
}

/**
 * Live services of other definitions of the cluster, as a section for an error (none: no section): a
 * cluster of this name started from another config or module version is not the one this call reads.
 */
async function othersRunning(site: Site, patience: Patience): Promise<string[]> {
  try {
    await checkOtherRuns(site, patience);
    return [];
  } catch (error) {
    if (error instanceof ExecError && error.exitCode === 5) return [section("other runs of this cluster name (another config or module version started them)", error.stdout)];
    return [];
  }
}

/**
 * The readiness failure of a service, with what a person needs: the service's state and, only while the
 * service still runs, what its nodes, its dind daemon and the control plane say. A service that is gone
 * is never bound for diagnostics: that would start a new, empty cluster (core/services.go `StartBindings`)
 * just to print an error, and hold its docker volume's lock.
 */
async function notReady(site: Site, client: Container, server: string, what: string, patience: Patience, advice: string): Promise<ClusterError> {
  const { cluster } = site;
  const controlPlane = `${cluster.name}-control-plane`;
  const summary = `${site.at} is not ready: ${what}`;
  const [serviceState, live] = await Promise.all([stateReport(site, patience), liveNow(site, patience)]);
  if (!live) {
    return new ClusterError(summary, `Its service no longer runs, so nothing was asked of its nodes (that would start a new cluster). ${advice}`, [section("the cluster service's state", serviceState)]);
  }
  const [nodes, containers, controlPlaneLog] = await Promise.all([
    observe(withKubeconfig(observing(client), cluster, server), ["kubectl", "get", "nodes", "-o", "wide", "--request-timeout=10s"], patience),
    observe(observing(client), ["docker", "ps", "-a"], patience),
    observe(observing(client), ["docker", "logs", "--tail", String(LOG_TAIL_LINES), controlPlane], patience),
  ]);
  return new ClusterError(summary, advice, [
    section("the cluster service's state", serviceState),
    section("kubectl get nodes -o wide", nodes),
    section("docker ps -a (the Docker-in-Docker daemon)", containers),
    section(`${controlPlane} log (last ${LOG_TAIL_LINES} lines)`, controlPlaneLog),
  ]);
}

/** Runs a diagnostic command whatever its exit code and returns its output, or why it could not run. */
async function observe(container: Container, args: string[], patience: Patience): Promise<string> {
  try {
    return await observed(container.withExec(args, { expect: ReturnType.Any }).combinedOutput(), args.join(" "), patience.observationSeconds);
  } catch (error) {
    // exit codes 128-191 (killed by a signal) are not accepted by ReturnType.Any, and a command before
    // this one may have failed: keep what it printed, and name the command that failed
    if (error instanceof ExecError) return `${`${error.stdout}${error.stderr}`.trimEnd()}\n(${error.cmd.join(" ")} exited with code ${error.exitCode})`;
    return `(could not run ${args.join(" ")}: ${messageOf(error)})`;
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

function section(title: string, output: string): string {
  const lines = lastLines(output, 60);
  return [`${title}:`, ...(lines.length > 0 ? lines.map((l) => `  | ${l}`) : ["  (no output)"])].join("\n");
}
