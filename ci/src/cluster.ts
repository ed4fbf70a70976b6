/**
 * The cluster stage: a Kind cluster inside a Docker-in-Docker Dagger service (never the host's Docker
 * socket). The service creates the cluster itself (ci/scripts/kind-cluster.sh), so `dagger call cluster
 * up` gives a live cluster; the pipeline starts it explicitly, waits until every node is Ready with a
 * bound, and reads its kubeconfig. A cluster that does not come up fails with the diagnostics to fix it.
 */
import { randomUUID } from "node:crypto";
import { CacheSharingMode, dag, ExecError, ReturnType, type CacheVolume, type Container, type File, type Service } from "@dagger.io/dagger";
import { stringify } from "yaml";
import { ClusterError } from "./cluster-error.js";
import { describeFailure, lastLines, LOG_TAIL_LINES } from "./errors.js";
import { moduleScripts, type NodeImageChoice } from "./node-images.js";
import type { PlannedCluster } from "./plan.js";
import type { Toolbox } from "./tools.js";

/** The Kubernetes API port, the same inside the service and on the host after `up --ports 6443:6443`. */
export const API_PORT = 6443;
/** dockerd's port inside the service, for kind and docker clients (`DOCKER_HOST=tcp://<alias>:2375`). */
export const DOCKER_PORT = 2375;

const SCRIPTS = "/kind-pipeline/scripts";
const KIND_CONFIG = "/kind-pipeline/kind-config.yaml";
const NODE_ARCHIVE = "/kind-pipeline/node-image.tar";
const STATE = "/kind-pipeline/state";
const KUBECONFIG = "/kind-pipeline/kubeconfig";

/** How long to wait for a cluster; the defaults suit a real engine, tests shorten them. */
export interface Patience {
  /** Attempts to reach the API server (`kubectl get nodes`). */
  attempts: number;
  /** Pause between attempts, in milliseconds. */
  intervalMs: number;
  /** `kubectl wait --for=condition=Ready nodes --all --timeout`, in seconds. */
  readySeconds: number;
}

/** 60 attempts 5 s apart to reach the API server, then 3 minutes for every node to be Ready. */
export const DEFAULT_PATIENCE: Patience = { attempts: 60, intervalMs: 5000, readySeconds: 180 };

/** The kind config of a planned cluster: API server reachable from other containers by the service's alias. */
export function kindConfig(cluster: PlannedCluster): string {
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

/** The cache volume where the cluster service publishes its status, kind's output and its kubeconfig. */
function stateVolume(cluster: PlannedCluster): CacheVolume {
  return dag.cacheVolume(`kind-pipeline-state-${cluster.name}`);
}

/**
 * The Docker-in-Docker service that runs the cluster. Its definition depends only on the plan and the
 * pinned tools, so every function of a session reaches the same instance. `/var/lib/docker` lives in a
 * Locked cache volume (one service per volume at a time), keeping pulled node images between runs;
 * the script deletes any leftover cluster first.
 */
export function clusterService(cluster: PlannedCluster, toolbox: Toolbox, node: NodeImageChoice): Service {
  const base = toolbox.container
    .withMountedDirectory(SCRIPTS, moduleScripts())
    .withNewFile(KIND_CONFIG, kindConfig(cluster))
    .withMountedCache("/var/lib/docker", dag.cacheVolume(`kind-pipeline-docker-${cluster.name}`), { sharing: CacheSharingMode.Locked })
    .withMountedCache(STATE, stateVolume(cluster), { sharing: CacheSharingMode.Shared })
    .withEnvVariable("DOCKER_TLS_CERTDIR", "")
    .withEnvVariable("CLUSTER_NAME", cluster.name)
    .withEnvVariable("NODE_IMAGE", node.ref)
    .withEnvVariable("KIND_CONFIG", KIND_CONFIG)
    .withEnvVariable("STATE_DIR", STATE);
  const withNode = node.archive ? base.withMountedFile(NODE_ARCHIVE, node.archive).withEnvVariable("NODE_IMAGE_ARCHIVE", NODE_ARCHIVE) : base;
  return withNode
    .withExposedPort(DOCKER_PORT)
    .withExposedPort(API_PORT)
    .asService({ args: ["sh", `${SCRIPTS}/kind-cluster.sh`], insecureRootCapabilities: true });
}

/** A container that reaches the cluster service by its alias (the cluster name), with kind, kubectl and docker. */
function clusterClient(cluster: PlannedCluster, toolbox: Toolbox, service: Service): Container {
  return toolbox.container
    .withServiceBinding(cluster.name, service)
    .withEnvVariable("DOCKER_HOST", `tcp://${cluster.name}:${DOCKER_PORT}`)
    .withEnvVariable("KUBECONFIG", KUBECONFIG);
}

/**
 * A container whose next exec observes live state, so the engine must run it now rather than answer from
 * its cache: the value differs on every call. Only observations carry it, never builds or the service.
 */
function observing(container: Container): Container {
  return container.withEnvVariable("KIND_PIPELINE_OBSERVATION", randomUUID());
}

/** The kubeconfig of the cluster, read from its control-plane node, with the API server at `server`. */
function withKubeconfig(client: Container, cluster: PlannedCluster, server: string): Container {
  return client
    .withExec(["kind", "export", "kubeconfig", "--name", cluster.name, "--kubeconfig", KUBECONFIG])
    .withExec(["kubectl", "config", "set-cluster", `kind-${cluster.name}`, `--server=${server}`]);
}

/** A running cluster: its service (stop it when done) and a kubeconfig that reaches it from bound containers. */
export interface StartedCluster {
  service: Service;
  /** Server `https://<cluster name>:6443`: bind the service under the cluster's name to use it. */
  kubeconfig: File;
}

/**
 * Starts the cluster service and waits, with a bound, until the API server answers and every node is
 * Ready. Throws ClusterError with diagnostics when the service does not start or the nodes never get ready.
 */
export async function startCluster(
  cluster: PlannedCluster,
  toolbox: Toolbox,
  service: Service,
  patience: Patience = DEFAULT_PATIENCE,
): Promise<StartedCluster> {
  try {
    await service.start();
  } catch (error) {
    const createLog = await observe(observing(toolbox.container.withMountedCache(STATE, stateVolume(cluster), { sharing: CacheSharingMode.Shared })), ["tail", "-n", String(LOG_TAIL_LINES), `${STATE}/create.log`]);
    throw new ClusterError(
      `the Kind cluster service for Kubernetes ${cluster.kubernetes} (${cluster.name}) did not start`,
      "Run `dagger call cluster up` with --progress=plain to see the service's log; a node image that cannot be pulled or a kind config kubeadm rejects shows there.",
      [describeFailure(error).join("\n"), section("kind create cluster (last lines)", createLog)],
    );
  }
  const client = clusterClient(cluster, toolbox, service);
  const server = `https://${cluster.name}:${API_PORT}`;
  let reachable: Container | undefined;
  let lastFailure: unknown;
  for (let attempt = 1; attempt <= patience.attempts && !reachable; attempt++) {
    try {
      reachable = await withKubeconfig(observing(client), cluster, server).withExec(["kubectl", "get", "nodes", "--request-timeout=5s"]).sync();
    } catch (error) {
      if (!(error instanceof ExecError)) throw error;
      lastFailure = error;
      if (attempt < patience.attempts) await new Promise((resolve) => setTimeout(resolve, patience.intervalMs));
    }
  }
  if (!reachable) {
    const waited = Math.round((patience.attempts * patience.intervalMs) / 1000);
    throw await notReady(cluster, client, server, `its API server did not answer in ${patience.attempts} attempts over ${waited}s`, lastFailure);
  }
  try {
    const ready = await reachable.withExec(["kubectl", "wait", "--for=condition=Ready", "nodes", "--all", `--timeout=${patience.readySeconds}s`]).sync();
    return { service, kubeconfig: ready.file(KUBECONFIG) };
  } catch (error) {
    if (!(error instanceof ExecError)) throw error;
    throw await notReady(cluster, client, server, `its nodes were not all Ready within ${patience.readySeconds}s`, error);
  }
}

/**
 * The kubeconfig of a cluster another `dagger call … cluster up` keeps running, with the API server at
 * `https://localhost:6443` (its forwarded port). Read from the state the service publishes; waits, with a
 * bound, while the cluster is still being created. Starts nothing.
 */
export async function hostKubeconfig(cluster: PlannedCluster, toolbox: Toolbox, patience: Patience = DEFAULT_PATIENCE): Promise<File> {
  const reader = toolbox.container.withMountedCache(STATE, stateVolume(cluster), { sharing: CacheSharingMode.Shared });
  for (let attempt = 1; attempt <= patience.attempts; attempt++) {
    try {
      const copied = await observing(reader)
        .withExec(["cp", `${STATE}/kubeconfig`, KUBECONFIG])
        .withExec(["kubectl", "--kubeconfig", KUBECONFIG, "config", "set-cluster", `kind-${cluster.name}`, `--server=https://localhost:${API_PORT}`])
        .sync();
      return copied.file(KUBECONFIG);
    } catch (error) {
      if (!(error instanceof ExecError)) throw error;
      if (attempt < patience.attempts) await new Promise((resolve) => setTimeout(resolve, patience.intervalMs));
    }
  }
  const status = await observe(observing(reader), ["cat", `${STATE}/status`]);
  throw new ClusterError(
    `no running cluster publishes a kubeconfig for Kubernetes ${cluster.kubernetes} (${cluster.name})`,
    `Start one first, in another terminal: dagger call cluster --kubernetes=${cluster.kubernetes} up --ports ${API_PORT}:${API_PORT}`,
    [section("status of the cluster service", status)],
  );
}

/** The readiness failure, with what a person needs to see: nodes, the dind daemon's containers, the control plane's log. */
async function notReady(cluster: PlannedCluster, client: Container, server: string, what: string, cause: unknown): Promise<ClusterError> {
  const controlPlane = `${cluster.name}-control-plane`;
  const [nodes, containers, controlPlaneLog] = await Promise.all([
    observe(withKubeconfig(observing(client), cluster, server), ["kubectl", "get", "nodes", "-o", "wide", "--request-timeout=5s"]),
    observe(observing(client), ["docker", "ps", "-a"]),
    observe(observing(client), ["docker", "logs", "--tail", String(LOG_TAIL_LINES), controlPlane]),
  ]);
  return new ClusterError(
    `Kubernetes ${cluster.kubernetes} (${cluster.name}) is not ready: ${what}`,
    "A node that never gets Ready is often short of memory or disk in the engine; try fewer workers (cluster.workers) or a published node image.",
    [
      ["last failure:", ...describeFailure(cause)].join("\n"),
      section("kubectl get nodes -o wide", nodes),
      section("docker ps -a (the Docker-in-Docker daemon)", containers),
      section(`${controlPlane} log (last ${LOG_TAIL_LINES} lines)`, controlPlaneLog),
    ],
  );
}

/** Runs a diagnostic command whatever its exit code and returns its output, or why it could not run. */
async function observe(container: Container, args: string[]): Promise<string> {
  try {
    return await container.withExec(args, { expect: ReturnType.Any }).combinedOutput();
  } catch (error) {
    return `(could not run ${args.join(" ")}: ${error instanceof Error ? error.message : String(error)})`;
  }
}

function section(title: string, output: string): string {
  const lines = lastLines(output);
  return [`${title}:`, ...(lines.length > 0 ? lines.map((l) => `  | ${l}`) : ["  (no output)"])].join("\n");
}
