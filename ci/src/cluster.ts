/**
 * The cluster stage: a Kind cluster inside a Docker-in-Docker Dagger service (never the host's Docker
 * socket). The service creates the cluster itself (ci/scripts/kind-cluster.sh), so `dagger call cluster
 * up` gives a live cluster; the pipeline starts it explicitly, waits until every node is Ready with a
 * bound, and reads its kubeconfig. A cluster that does not come up fails with the diagnostics to fix it.
 */
import { randomUUID } from "node:crypto";
import { CacheSharingMode, dag, ExecError, ReturnType, type Container, type File, type Service } from "@dagger.io/dagger";
import { stringify } from "yaml";
import { ClusterError } from "./cluster-error.js";
import { describeFailure, lastLines, LOG_TAIL_LINES, messageOf } from "./errors.js";
import type { NodeImageChoice } from "./node-images.js";
import type { PlannedCluster } from "./plan.js";
import type { KindVersion } from "./releases.js";
import type { Run } from "./run.js";
import { moduleScripts, SCRIPTS_PATH } from "./scripts.js";
import { poll, withTimeout } from "./waits.js";

/** The Kubernetes API port: the only port the service exposes (`up --ports 6443:6443`). */
const API_PORT = 6443;
/**
 * dockerd's port, for kind and docker in bound containers (`DOCKER_HOST=tcp://<alias>:2375`). Reachable
 * by the service's alias but not exposed, so that `up` never forwards an unauthenticated Docker daemon.
 */
const DOCKER_PORT = 2375;

const KIND_CONFIG = "/kind-pipeline/kind-config.yaml";
const NODE_ARCHIVE = "/kind-pipeline/node-image.tar";
const STATE = "/kind-pipeline/state";
const KUBECONFIG = "/kind-pipeline/kubeconfig";
/** Time limit of one observation (a status check, a kubectl call), in seconds. */
const OBSERVATION_SECONDS = 60;
const ENGINE_FAILING = "This is the engine failing, not the cluster: retry, and report it if it persists.";

/** How long to wait for a cluster; the defaults suit a real engine, tests shorten them. */
export interface Patience {
  /**
   * Time limit for the service to start, in seconds: for its container to run (it may wait for the
   * Locked docker cache) and its API port to open (the engine's own health check gives up after 15 min).
   */
  startSeconds: number;
  /** Attempts to see the cluster ready and every node registered, and the pause between them. */
  attempts: number;
  intervalMs: number;
  /** `kubectl wait --for=condition=Ready nodes --all --timeout`, in seconds. */
  readySeconds: number;
}

/** 20 minutes to start (a first run pulls the node image), 120 checks 5 s apart, 3 minutes for Ready nodes. */
const DEFAULT_PATIENCE: Patience = { startSeconds: 1200, attempts: 120, intervalMs: 5000, readySeconds: 180 };

/** The kind config of a planned cluster: API server reachable from other containers by the service's alias. */
function kindConfig(cluster: PlannedCluster): string {
  const labels = Object.keys(cluster.nodeLabels).length > 0 ? { labels: cluster.nodeLabels } : {};
  const workers = Array.from({ length: cluster.workers }, () => ({ role: "worker", ...labels }));
  return stringify({
    kind: "Cluster",
    apiVersion: "kind.x-k8s.io/v1alpha4",
    name: cluster.name,
    networking: { apiServerAddress: "0.0.0.0", apiServerPort: API_PORT },
    kubeadmConfigPatches: [stringify({ kind: "ClusterConfiguration", apiServer: { certSANs: [cluster.name, "localhost", "127.0.0.1"] } })],
    nodes: [{ role: "control-plane", ...(cluster.workers === 0 ? labels : {}) }, ...workers],
  });
}

/** A container with the cache volume where the cluster service publishes its state (see kind-cluster.sh). */
function withState(container: Container, cluster: PlannedCluster): Container {
  return container.withMountedCache(STATE, dag.cacheVolume(`kind-pipeline-state-${cluster.name}`), { sharing: CacheSharingMode.Shared });
}

/** A container that reads the service's state without binding it, so that reading never starts a service. */
function stateReader(cluster: PlannedCluster, toolbox: Container): Container {
  return withState(toolbox, cluster).withMountedDirectory(SCRIPTS_PATH, moduleScripts(["cluster-state.sh", "cluster-status.sh", "read-kubeconfig.sh"]));
}

/**
 * The Docker-in-Docker service that runs the cluster. Its definition depends only on the plan, the pinned
 * tools and its two scripts, so every function of a session reaches the same instance. `/var/lib/docker`
 * lives in a Locked cache volume (one service at a time per cluster name), keeping pulled node images
 * between runs; the script deletes any leftover cluster first.
 */
export function clusterService(cluster: PlannedCluster, toolbox: Container, node: NodeImageChoice): Service {
  const base = withState(toolbox, cluster)
    .withMountedDirectory(SCRIPTS_PATH, moduleScripts(["dockerd.sh", "kind-cluster.sh", "session.sh"]))
    .withNewFile(KIND_CONFIG, kindConfig(cluster))
    .withMountedCache("/var/lib/docker", dag.cacheVolume(`kind-pipeline-docker-${cluster.name}`), { sharing: CacheSharingMode.Locked })
    .withEnvVariable("DOCKER_TLS_CERTDIR", "")
    .withEnvVariable("CLUSTER_NAME", cluster.name)
    .withEnvVariable("NODE_IMAGE", node.ref)
    .withEnvVariable("KIND_CONFIG", KIND_CONFIG)
    .withEnvVariable("STATE_DIR", STATE);
  const withNode = node.archive ? base.withMountedFile(NODE_ARCHIVE, node.archive).withEnvVariable("NODE_IMAGE_ARCHIVE", NODE_ARCHIVE) : base;
  return withNode.withExposedPort(API_PORT).asService({ args: ["sh", `${SCRIPTS_PATH}/kind-cluster.sh`], insecureRootCapabilities: true });
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
   * are cached like any other: give an exec that observes live state a fresh input (`observing`).
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
 * Returns the live cluster: the service, its kubeconfig and a client bound to it. Throws ClusterError with
 * diagnostics when anything on the way fails.
 */
export async function startCluster(
  run: Run,
  cluster: PlannedCluster,
  toolbox: Container,
  node: NodeImageChoice,
  patience: Patience = DEFAULT_PATIENCE,
): Promise<LiveCluster> {
  const started = Date.now();
  const at = `Kubernetes ${cluster.kubernetes} (${cluster.name})`;
  const reader = stateReader(cluster, toolbox);
  const report = () => observe(observing(reader), ["sh", `${SCRIPTS_PATH}/cluster-state.sh`, STATE]);
  if (node.archive) {
    run.log(`[cluster] ${cluster.kubernetes}: building the node image ${node.ref} (kind publishes none)`);
    await node.archive.sync().catch((error: unknown) => {
      throw new ClusterError(`the node image for ${at} could not be built`, "kind build node-image downloads the release from dl.k8s.io: check the engine's network, or choose a version kind publishes.", [describeFailure(error).join("\n")]);
    });
  }
  run.log(`[cluster] ${cluster.kubernetes}: starting ${cluster.name} from ${node.ref}`);
  const service = clusterService(cluster, toolbox, node);
  try {
    await withTimeout(service.start(), patience.startSeconds, () => new Error(`its container did not run and open its API port ${API_PORT} within ${patience.startSeconds}s`));
  } catch (error) {
    throw new ClusterError(
      `the Kind cluster service for ${at} did not start`,
      `If it waited, another run may hold this cluster's Locked docker cache (kind-pipeline-docker-${cluster.name}): one service per cluster name at a time; give concurrent runs their own cluster.name.`,
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
    const status = await observeStatus(reader, at, report);
    if (status !== "ready") {
      waitingFor = status;
      return undefined;
    }
    const listing = withKubeconfig(observing(client), cluster, server).withExec(["kubectl", "get", "nodes", "-o", "name", "--request-timeout=10s"]);
    try {
      const nodes = (await observed(listing.stdout(), `kubectl get nodes on ${at}`)).split("\n").filter(Boolean);
      waitingFor = `${nodes.length} of ${expected} nodes registered`;
      return nodes.length >= expected ? listing : undefined;
    } catch (error) {
      if (!(error instanceof ExecError)) throw new ClusterError(`listing the nodes of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING, [section("the cluster service's state", await report())]);
      waitingFor = describeFailure(error, "").join(" ");
      return undefined;
    }
  });
  if (!registered) {
    const what = `not every node was up after ${seconds(Date.now() - waitingSince)} (${waitingFor})`;
    throw await notReady(cluster, client, server, what, report, "The control plane or a node did not come up: kind's output and the control plane's log above say why.");
  }
  try {
    const ready = registered.withExec(["kubectl", "wait", "--for=condition=Ready", "nodes", "--all", `--timeout=${patience.readySeconds}s`]);
    await observed(ready.sync(), `kubectl wait on ${at}`, patience.readySeconds + OBSERVATION_SECONDS);
    run.log(`[cluster] ${cluster.kubernetes}: ${cluster.name} is ready, ${expected} nodes (${seconds(Date.now() - started)})`);
    const kubeconfig = ready.file(KUBECONFIG);
    return {
      cluster,
      service,
      kubeconfig,
      client: client.withFile(KUBECONFIG, kubeconfig),
      isLive: () => isLive(cluster, toolbox, run.plan.kind),
      stop: () => stopCluster(service),
    };
  } catch (error) {
    if (!(error instanceof ExecError)) throw new ClusterError(`waiting for the nodes of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING);
    const what = `its nodes were not all Ready within ${patience.readySeconds}s:\n${describeFailure(error).join("\n")}`;
    throw await notReady(cluster, client, server, what, report, "A node that never gets Ready is often short of memory or disk in the engine: try fewer workers (cluster.workers).");
  }
}

/**
 * The service's status as cluster-status.sh tells it: "ready", or what it is still doing. Throws
 * ClusterError, with the service's state, when the service is not running (failed, stopped, killed).
 */
async function observeStatus(reader: Container, at: string, report: () => Promise<string>): Promise<string> {
  try {
    await observed(observing(reader).withExec(["sh", `${SCRIPTS_PATH}/cluster-status.sh`, STATE]).sync(), `the status of ${at}`);
    return "ready";
  } catch (error) {
    if (error instanceof ExecError && error.exitCode === 3) return error.stdout.trim();
    if (error instanceof ExecError && error.exitCode === 4) {
      throw new ClusterError(`${at} stopped before it was ready`, "kind's output above says why; the service's own log shows with `dagger call cluster up --progress=plain`.", [section("the cluster service's state", await report())]);
    }
    throw new ClusterError(`reading the status of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING);
  }
}

/**
 * Whether the cluster service of a planned cluster is running (starting, creating or ready, with a live
 * heartbeat), from the status it publishes: read without binding the service, so asking never starts one
 * (binding a service that is not running starts it: `StartBindings` in Dagger's core/services.go).
 * `kind` is the plan's kind release, part of the service's definition.
 */
export async function isLive(cluster: PlannedCluster, toolbox: Container, _kind: KindVersion): Promise<boolean> {
  try {
    await observed(observing(stateReader(cluster, toolbox)).withExec(["sh", `${SCRIPTS_PATH}/cluster-status.sh`, STATE]).sync(), `the status of ${cluster.name}`);
    return true;
  } catch (error) {
    if (error instanceof ExecError && error.exitCode === 3) return true;
    if (error instanceof ExecError && error.exitCode === 4) return false;
    throw new ClusterError(`reading the status of Kubernetes ${cluster.kubernetes} (${cluster.name}) failed: ${messageOf(error)}`, ENGINE_FAILING);
  }
}

/**
 * Stops a cluster service gracefully: SIGTERM, so its script records `stopped` and stops kind and dockerd
 * (Dagger's `Service.stop` without `kill`, core/services.go `Stop`; the end of a session kills instead).
 */
export async function stopCluster(service: Service): Promise<void> {
  await service.stop();
}

/** An observation within its time limit: a stuck `docker exec` or API call does not stall the pipeline. */
function observed<T>(observation: Promise<T>, what: string, limitSeconds = OBSERVATION_SECONDS): Promise<T> {
  return withTimeout(observation, limitSeconds, () => new Error(`${what} did not answer within ${limitSeconds}s`));
}

/**
 * The kubeconfig of a cluster another `dagger call … cluster up` keeps running, with the API server at
 * `https://localhost:6443` (its forwarded port). Read from the state the service publishes, only while the
 * service is alive; waits, with a bound, while the cluster is still being created. Starts nothing.
 */
export async function hostKubeconfig(cluster: PlannedCluster, toolbox: Container, patience: Patience = DEFAULT_PATIENCE): Promise<File> {
  const at = `Kubernetes ${cluster.kubernetes} (${cluster.name})`;
  const start = `dagger call cluster --kubernetes=${cluster.kubernetes} up --ports ${API_PORT}:${API_PORT}`;
  const reader = stateReader(cluster, toolbox);
  const waitingSince = Date.now();
  let waitingFor = "";
  const copied = await poll(patience.attempts, patience.intervalMs, async () => {
    try {
      const args = ["sh", `${SCRIPTS_PATH}/read-kubeconfig.sh`, STATE, cluster.name, `https://localhost:${API_PORT}`, KUBECONFIG];
      return await observed(observing(reader).withExec(args).sync(), `reading the kubeconfig of ${at}`);
    } catch (error) {
      if (!(error instanceof ExecError)) throw new ClusterError(`reading the kubeconfig of ${at} failed: ${messageOf(error)}`, ENGINE_FAILING);
      if (error.exitCode === 3) {
        waitingFor = error.stderr.trim();
        return undefined;
      }
      if (error.exitCode === 4) {
        throw new ClusterError(`no running cluster publishes a kubeconfig for ${at}`, `Start one first, in another terminal, and keep it running: ${start}`, [section("the cluster service's state", error.stderr)]);
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
 * The readiness failure of a live service, with what a person needs: the service's state, the nodes, the
 * dind daemon's containers, the control plane's log.
 */
async function notReady(cluster: PlannedCluster, client: Container, server: string, what: string, report: () => Promise<string>, advice: string): Promise<ClusterError> {
  const controlPlane = `${cluster.name}-control-plane`;
  const [serviceState, nodes, containers, controlPlaneLog] = await Promise.all([
    report(),
    observe(withKubeconfig(observing(client), cluster, server), ["kubectl", "get", "nodes", "-o", "wide", "--request-timeout=10s"]),
    observe(observing(client), ["docker", "ps", "-a"]),
    observe(observing(client), ["docker", "logs", "--tail", String(LOG_TAIL_LINES), controlPlane]),
  ]);
  return new ClusterError(`Kubernetes ${cluster.kubernetes} (${cluster.name}) is not ready: ${what}`, advice, [
    section("the cluster service's state", serviceState),
    section("kubectl get nodes -o wide", nodes),
    section("docker ps -a (the Docker-in-Docker daemon)", containers),
    section(`${controlPlane} log (last ${LOG_TAIL_LINES} lines)`, controlPlaneLog),
  ]);
}

/** Runs a diagnostic command whatever its exit code and returns its output, or why it could not run. */
async function observe(container: Container, args: string[]): Promise<string> {
  try {
    return await observed(container.withExec(args, { expect: ReturnType.Any }).combinedOutput(), args.join(" "));
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
