/**
 * The module's shell scripts, run for real with stub programs: the cluster service's retry policy for
 * `kind create cluster`, its published state, and the node image build.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/projects.js";
import { runScript, scratch } from "./support/shell.js";

const CLUSTER_SCRIPT = join(REPO_ROOT, "ci/scripts/kind-cluster.sh");
const NODE_IMAGE_SCRIPT = join(REPO_ROOT, "ci/scripts/build-node-image.sh");
const SAVE_NODE_IMAGE = join(REPO_ROOT, "ci/scripts/save-node-image.sh");
const READ_KUBECONFIG = join(REPO_ROOT, "ci/scripts/read-kubeconfig.sh");
const CLUSTER_STATE = join(REPO_ROOT, "ci/scripts/cluster-state.sh");
const CLUSTER_STATUS = join(REPO_ROOT, "ci/scripts/cluster-status.sh");
/** The age at which cluster-status.sh calls a heartbeat stale by default (pinned below). */
const READERS_STALE_SECONDS = 30;
const FLAKY = 'ERROR: failed to create cluster: could not find a log line that matches "Reached target .*Multi-User System.*|detected cgroup v1"';

/** `kind create cluster` behaviours, as stub bodies; `$SCRATCH/creates` counts the attempts. */
const CREATE = {
  ok: 'echo "Creating cluster ..."',
  flakyOnce: `n=$(($(cat "$SCRATCH/creates" 2>/dev/null || echo 0) + 1)); echo $n >"$SCRATCH/creates"; if [ $n -eq 1 ]; then echo '${FLAKY}'; exit 1; fi; echo "Creating cluster ..."`,
  alwaysFlaky: `echo '${FLAKY}'; exit 1`,
  broken: 'echo "Creating cluster ..."; echo "ERROR: failed to create cluster: failed to init node with kubeadm: unknown field \\"apiServer.certSAN\\""; exit 1',
};

interface ClusterRun {
  code: number;
  stderr: string;
  calls: string[];
  /** The status file at the end, and the kubeconfig ("(missing)" if none) and heartbeat when the status was first seen ready. */
  finalStatus: string;
  readyKubeconfig?: string;
  readyHeartbeat?: string;
  readySession?: string;
  /** Whether a kubeconfig was left behind after the script ended. */
  kubeconfigAfterStop: boolean;
  createLog: string;
  /** With `watchStatus`: how often a reader polling the status file in a tight loop found it empty. */
  emptyStatusReads?: number;
  /** The fake cgroup root: what was moved to init/cgroup.procs, and what cgroup.subtree_control enables. */
  cgroup: { moved: string; subtreeControl: string };
}

/** Runs the cluster service script; stops it (SIGTERM) once ready, as Dagger stops a service. */
interface ClusterOptions {
  controllers?: string;
  /** What the last, killed run left in the docker daemon: kind's node containers, their volumes, its network. */
  leftover?: boolean;
  archive?: boolean;
  cachedImage?: boolean;
  kubeconfig?: string;
  /** Stub bodies replacing the defaults (docker pull, docker load…). */
  stubs?: Record<string, string>;
  /** Environment added to the service's. */
  env?: Record<string, string>;
  /** When the service is stopped (SIGTERM), given its status and state directory; default: once ready. */
  stopWhen?: (status: string, state: string) => boolean;
  /** Prepares the state directory before the script runs. */
  prepare?: (state: string) => void;
  /** Leaves HEARTBEAT_SECONDS unset: the heartbeat users get. */
  defaultHeartbeat?: boolean;
  /** Reads the status file in a tight loop, in another process, while the service runs. */
  watchStatus?: boolean;
  shell?: string[];
}

async function runClusterIn(create: string, options: ClusterOptions = {}): Promise<ClusterRun> {
  const dir = scratch();
  const state = join(dir, "state");
  options.prepare?.(state);
  mkdirSync(join(dir, "cgroup"));
  writeFileSync(join(dir, "cgroup/cgroup.controllers"), options.controllers ?? "cpuset cpu io memory hugetlb pids rdma misc\n");
  writeFileSync(join(dir, "cgroup/cgroup.procs"), "1\n7\n");
  writeFileSync(join(dir, "resolv.conf"), "nameserver 10.87.0.1\nsearch ns.svc.cluster.local 3ogt6oa28srh2.dagger.local\n");
  if (options.leftover) for (const what of ["containers", "volumes", "network"]) writeFileSync(join(dir, `leftover-${what}`), "");
  const status = () => (existsSync(join(state, "status")) ? readFileSync(join(state, "status"), "utf8").trim() : "");
  let readyKubeconfig: string | undefined;
  let readyHeartbeat: string | undefined;
  let readySession: string | undefined;
  const watcher = options.watchStatus ? watchForEmpty(join(state, "status")) : undefined;
  const run = await runScript(CLUSTER_SCRIPT, [], {
    dir,
    env: {
      CLUSTER_NAME: "kind-pipeline-1-37-0",
      NODE_IMAGE: options.archive ? "kind-pipeline/node:v1.38.0" : "kindest/node:v1.37.0@sha256:a1ed56cf",
      KIND_CONFIG: "/kind-pipeline/kind-config.yaml",
      STATE_DIR: state,
      CGROUP_ROOT: join(dir, "cgroup"),
      ...(!options.defaultHeartbeat && { HEARTBEAT_SECONDS: "0.2" }),
      RESOLV_CONF: join(dir, "resolv.conf"),
      ...(options.archive && { NODE_IMAGE_ARCHIVE: "/kind-pipeline/node-image.tar" }),
      ...options.env,
    },
    stubs: {
      sysctl: "exit 0",
      // dockerd runs until the service stops or fails
      "dockerd-entrypoint.sh": 'while ! grep -qE "^(failed|stopped)" "$STATE_DIR/status" 2>/dev/null; do sleep 0.05; done',
      // with a leftover: two node containers, a volume and the kind network of a killed run
      docker: `left() { [ -e "$SCRATCH/leftover-$1" ]; }
        case "$1 $2" in
        "info "*) exit 0 ;;
        "image "*) exit ${options.cachedImage ? 0 : 1} ;;
        "ps "*) if left containers; then echo c0ffee01; echo c0ffee02; fi ;;
        "rm "*) rm -f "$SCRATCH/leftover-containers" ;;
        "volume ls") if left volumes; then echo 5e1ec7ed; fi ;;
        "volume rm") rm -f "$SCRATCH/leftover-volumes" ;;
        "network inspect") left network ;;
        "network rm") rm -f "$SCRATCH/leftover-network" ;;
        *) exit 0 ;;
      esac`,
      ...options.stubs,
      kind: `case "$1 $2" in
        "create cluster") ${create} ;;
        "get kubeconfig") ${options.kubeconfig ?? 'echo "apiVersion: v1"; echo "server: https://0.0.0.0:6443"'} ;;
        *) exit 0 ;;
      esac`,
    },
    terminateWhen: () => {
      const now = status();
      if (now === "ready" && readyKubeconfig === undefined) {
        readyKubeconfig = existsSync(join(state, "kubeconfig")) ? readFileSync(join(state, "kubeconfig"), "utf8") : "(missing)";
        readyHeartbeat = readFileSync(join(state, "heartbeat"), "utf8").trim();
        readySession = readFileSync(join(state, "session"), "utf8").trim();
      }
      return options.stopWhen ? options.stopWhen(now, state) : now === "ready";
    },
    shell: options.shell,
  });
  const createLog = existsSync(join(state, "create.log")) ? readFileSync(join(state, "create.log"), "utf8") : "";
  const kubeconfigAfterStop = existsSync(join(state, "kubeconfig"));
  const emptyStatusReads = await watcher?.stop();
  const cgroupFile = (name: string) => (existsSync(join(dir, "cgroup", name)) ? readFileSync(join(dir, "cgroup", name), "utf8") : "");
  const cgroup = { moved: cgroupFile("init/cgroup.procs"), subtreeControl: cgroupFile("cgroup.subtree_control") };
  return { code: run.code, stderr: run.stderr, calls: run.calls, finalStatus: status(), readyKubeconfig, readyHeartbeat, kubeconfigAfterStop, createLog, emptyStatusReads, cgroup, readySession };
}

/**
 * A reader of a file in a tight loop, in its own process: counts the times the file exists but is empty
 * (a writer that truncates it in place; a rename never shows that).
 */
function watchForEmpty(file: string): { stop: () => Promise<number> } {
  const reader = spawn("sh", ["-c", 'n=0; trap \'echo $n; exit 0\' TERM; while :; do if [ -e "$1" ] && [ ! -s "$1" ]; then n=$((n + 1)); fi; done', "watch", file]);
  let out = "";
  reader.stdout.on("data", (chunk: Buffer) => (out += chunk));
  const closed = new Promise<void>((resolve) => reader.on("close", () => resolve()));
  return {
    stop: async () => {
      reader.kill("SIGTERM");
      await closed;
      return Number(out.trim());
    },
  };
}

const creates = (calls: string[]) => calls.filter((c) => c.startsWith("kind create cluster"));

/** The shells the service script must work in: the test machine's sh, and busybox's (the docker:dind image's). */
const SHELLS: [string, string[]][] = [["sh", ["sh"]], ...(existsSync("/usr/bin/busybox") || existsSync("/bin/busybox") ? [["busybox sh", ["busybox", "sh"]] as [string, string[]]] : [])];

describe.each(SHELLS)("the cluster service script, in %s", (_shell, shell) => {
  const runCluster = (create: string, options: ClusterOptions = {}) => runClusterIn(create, { shell, ...options });

  it("starts dockerd, pulls the pinned node image, creates the cluster, publishes its kubeconfig, and cleans up when stopped", async () => {
    const run = await runCluster(CREATE.ok);
    // dockerd runs in the background: its record may come before or after the first `docker info`
    expect(run.calls).toContain("dockerd-entrypoint.sh dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false");
    expect(run.calls.filter((c) => !c.startsWith("dockerd-entrypoint.sh"))).toEqual([
      "sysctl -w fs.inotify.max_user_watches=524288",
      "sysctl -w fs.inotify.max_user_instances=512",
      "docker info",
      "docker ps --all --quiet --filter label=io.x-k8s.kind.cluster",
      "docker volume ls --quiet --filter label=io.x-k8s.kind.cluster",
      "docker network inspect kind",
      "docker image inspect kindest/node:v1.37.0@sha256:a1ed56cf",
      "docker pull kindest/node:v1.37.0@sha256:a1ed56cf",
      "kind create cluster --name kind-pipeline-1-37-0 --image kindest/node:v1.37.0@sha256:a1ed56cf --config /kind-pipeline/kind-config.yaml --wait 5m",
      "kind get kubeconfig --name kind-pipeline-1-37-0",
    ]);
    expect(run.readyKubeconfig).toBe("apiVersion: v1\nserver: https://0.0.0.0:6443\n");
    expect(Math.abs(Number(run.readyHeartbeat) - Date.now() / 1000)).toBeLessThan(5);
    expect(run).toMatchObject({ code: 0, finalStatus: "stopped", kubeconfigAfterStop: false });
  });

  it("uses a node image already in the docker cache", async () => {
    const run = await runCluster(CREATE.ok, { cachedImage: true });
    expect(run.calls.filter((c) => c.startsWith("docker pull"))).toEqual([]);
    expect(run.stderr).toContain("node image kindest/node:v1.37.0@sha256:a1ed56cf is cached");
  });

  it("says so in its status when a step after the creation fails", async () => {
    const run = await runCluster(CREATE.ok, { kubeconfig: "echo 'ERROR: could not locate any control plane nodes' >&2; exit 1" });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: kind get kubeconfig failed");
    expect(run.kubeconfigAfterStop).toBe(false);
  });

  it("retries kind create cluster once after the known flaky failure, and succeeds", async () => {
    const run = await runCluster(CREATE.flakyOnce);
    expect(creates(run.calls)).toHaveLength(2);
    expect(run.calls).toContain("kind delete cluster --name kind-pipeline-1-37-0");
    expect(run.stderr).toContain("known flaky failure");
    expect(run.readyKubeconfig).toBeDefined();
    expect(run.code).toBe(0);
  });

  it("does not retry a second time", async () => {
    const run = await runCluster(CREATE.alwaysFlaky);
    expect(creates(run.calls)).toHaveLength(2);
    expect(run.code).toBe(1);
    expect(run.finalStatus).toMatch(/^failed: kind create cluster failed \(attempt 2\)/);
  });

  it("does not retry any other failure, and leaves kind's output for the pipeline's error", async () => {
    const run = await runCluster(CREATE.broken);
    expect(creates(run.calls)).toHaveLength(1);
    expect(run.code).toBe(1);
    expect(run.finalStatus).toMatch(/^failed: kind create cluster failed \(attempt 1\)/);
    expect(run.createLog).toContain('failed to init node with kubeadm: unknown field "apiServer.certSAN"');
    expect(run.stderr).toContain('failed to init node with kubeadm: unknown field "apiServer.certSAN"');
    expect(run.readyKubeconfig).toBeUndefined();
  });

  it("removes what a killed run left in the docker daemon (kind's containers, their volumes, its network) before creating", async () => {
    const run = await runCluster(CREATE.ok, { leftover: true });
    const docker = run.calls.filter((c) => c.startsWith("docker ") && c !== "docker info");
    expect(docker.slice(0, 6)).toEqual([
      "docker ps --all --quiet --filter label=io.x-k8s.kind.cluster",
      "docker rm --force --volumes c0ffee01 c0ffee02",
      "docker volume ls --quiet --filter label=io.x-k8s.kind.cluster",
      "docker volume rm --force 5e1ec7ed",
      "docker network inspect kind",
      "docker network rm kind",
    ]);
    const order = (prefix: string) => run.calls.findIndex((c) => c.startsWith(prefix));
    expect(order("docker network rm")).toBeGreaterThan(order("docker info"));
    expect(order("docker network rm")).toBeLessThan(order("kind create cluster"));
    expect(run.readyKubeconfig).toBeDefined();
  });

  it("fails, saying so, when the leftovers cannot be removed", async () => {
    const run = await runCluster(CREATE.ok, { leftover: true, stubs: { docker: 'case "$1" in info) exit 0 ;; ps) echo c0ffee01 ;; rm) echo "Error response from daemon: cannot remove container" >&2; exit 1 ;; *) exit 0 ;; esac' } });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: could not remove kind's leftover containers, volumes or network");
    expect(creates(run.calls)).toEqual([]);
  });

  it("loads a built node image instead of pulling", async () => {
    const run = await runCluster(CREATE.ok, { archive: true });
    expect(run.calls).toContain("docker load --input /kind-pipeline/node-image.tar");
    expect(run.calls.filter((c) => c.startsWith("docker pull"))).toEqual([]);
  });

  it("fails early, saying why, when no cpu cgroup controller reaches the container", async () => {
    const run = await runCluster(CREATE.ok, { controllers: "memory pids\n" });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: no cpu cgroup controller reaches this container (controllers: memory pids); Kind nodes cannot run here");
    expect(creates(run.calls)).toEqual([]);
  });

  it("stops kind at once when the service is stopped while the cluster is being created", async () => {
    const slowCreate = 'trap \'echo "kind create stopped" >>"$CALLS"; exit 143\' TERM; touch "$STATE_DIR/kind-running"; sleep 30 & wait $!';
    const run = await runCluster(slowCreate, { stopWhen: (status, state) => status === "creating" && existsSync(join(state, "kind-running")) });
    expect(run.calls).toContain("kind create stopped");
    expect(run).toMatchObject({ code: 0, finalStatus: "stopped" });
  });

  it("moves every process out of the root cgroup and enables the controllers first, before anything runs in the background", async () => {
    // the kernel refuses cgroup.subtree_control (EBUSY) while a process is left in the root cgroup: the
    // stub xargs (the move) records whether the heartbeat or any status existed when it ran
    const xargs = '[ -e "$STATE_DIR/heartbeat" ] || [ -e "$STATE_DIR/status" ] && echo "xargs ran after the service started" >>"$CALLS"; PATH=${PATH#*:} exec xargs "$@"';
    const run = await runCluster(CREATE.ok, { stubs: { xargs } });
    expect(run.calls[0]).toBe("xargs -rn1");
    expect(run.calls).not.toContain("xargs ran after the service started");
    expect(run.cgroup).toEqual({ moved: "1\n7\n", subtreeControl: "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc\n" });
    expect(run.readyKubeconfig).toBeDefined();
  });

  it("fails when pulling the node image fails, and creates nothing", async () => {
    const docker = 'case "$1" in info) exit 0 ;; image) exit 1 ;; pull) echo "toomanyrequests: You have reached your pull rate limit" >&2; exit 1 ;; *) exit 0 ;; esac';
    const run = await runCluster(CREATE.ok, { stubs: { docker } });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: docker pull kindest/node:v1.37.0@sha256:a1ed56cf failed");
    expect(run.stderr).toContain("toomanyrequests");
    expect(creates(run.calls)).toEqual([]);
  });

  it("fails when loading the built node image fails, and creates nothing", async () => {
    const docker = 'case "$1" in info) exit 0 ;; load) echo "open /kind-pipeline/node-image.tar: no such file or directory" >&2; exit 1 ;; *) exit 0 ;; esac';
    const run = await runCluster(CREATE.ok, { archive: true, stubs: { docker } });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: docker load of /kind-pipeline/node-image.tar failed");
    expect(creates(run.calls)).toEqual([]);
  });

  it("publishes ready only once the kubeconfig is there", async () => {
    // every rename takes a while: a status published before the kubeconfig's rename would show alone
    const run = await runCluster(CREATE.ok, { stubs: { mv: "sleep 0.15; PATH=${PATH#*:} exec mv \"$@\"" } });
    expect(run.readyKubeconfig).toBe("apiVersion: v1\nserver: https://0.0.0.0:6443\n");
  });

  it("replaces its status whole, so that a reader never finds it empty", async () => {
    const run = await runCluster(CREATE.flakyOnce, { watchStatus: true });
    expect(run.finalStatus).toBe("stopped");
    expect(run.emptyStatusReads).toBe(0);
    // the reader above may miss a short window by luck; the writes themselves must be renames
    const withMv = await runCluster(CREATE.ok, { stubs: { mv: 'PATH=${PATH#*:} exec mv "$@"' } });
    const statusWrites = withMv.calls.filter((c) => /^mv \S+\/status\.new \S+\/status$/.test(c));
    expect(statusWrites).toHaveLength(4); // starting, creating, ready, stopped
  });

  it("beats its heartbeat every 5 s by default, well within the readers' 30 s staleness limit", async () => {
    const run = await runCluster(CREATE.ok, { defaultHeartbeat: true, stubs: { sleep: 'PATH=${PATH#*:} exec sleep 0.05' } });
    const beats = run.calls.filter((c) => c.startsWith("sleep ") && c !== "sleep 1" && c !== "sleep 0.05");
    expect(new Set(beats)).toEqual(new Set(["sleep 5"]));
    expect(5 * 3).toBeLessThanOrEqual(READERS_STALE_SECONDS); // three beats may be missed before a reader calls it dead
    expect(run.readyKubeconfig).toBeDefined();
  });

  it("publishes the Dagger session it runs in, from its DNS search domains", async () => {
    const run = await runCluster(CREATE.ok);
    expect(run.readySession).toBe("3ogt6oa28srh2");
  });

  it("refuses a cpu controller it only finds inside cpuset", async () => {
    const run = await runCluster(CREATE.ok, { controllers: "cpuset io memory pids\n" });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: no cpu cgroup controller reaches this container (controllers: cpuset io memory pids); Kind nodes cannot run here");
  });

  it("leaves a failed status whatever ends it, even a step that set -e stops", async () => {
    // a kubeconfig left as a non-empty directory: the first clean-up fails
    const run = await runCluster(CREATE.ok, { prepare: (state) => mkdirSync(join(state, "kubeconfig/stuck"), { recursive: true }) });
    expect(run.code).toBe(1);
    expect(run.finalStatus).toBe("failed: the service script exited with code 1");
    expect(creates(run.calls)).toEqual([]);
  });
});

/** A state directory as a service leaves it: its status, a heartbeat this many seconds old, a kubeconfig. */
function stateDir(status: string | undefined, heartbeatAge?: number | "garbled"): { dir: string; state: string } {
  const dir = scratch();
  const state = join(dir, "state");
  mkdirSync(state);
  if (status) writeFileSync(join(state, "status"), `${status}\n`);
  if (heartbeatAge === "garbled") writeFileSync(join(state, "heartbeat"), "");
  else if (heartbeatAge !== undefined) writeFileSync(join(state, "heartbeat"), `${Math.floor(Date.now() / 1000) - heartbeatAge}\n`);
  writeFileSync(join(state, "kubeconfig"), "apiVersion: v1\n");
  return { dir, state };
}

describe("the status of a cluster service, read without binding it", () => {
  const status = async (value: string | undefined, heartbeatAge?: number | "garbled") => {
    const { dir, state } = stateDir(value, heartbeatAge);
    const run = await runScript(CLUSTER_STATUS, [state], { dir, stubs: {} });
    return { code: run.code, said: run.stdout.trim() };
  };

  it("is ready, or still starting or creating, only with a recent heartbeat", async () => {
    expect(await status("ready", 2)).toEqual({ code: 0, said: "status: ready" });
    expect(await status("creating", 2)).toEqual({ code: 3, said: "status: creating" });
    expect(await status("starting", 0)).toEqual({ code: 3, said: "status: starting" });
  });

  it("is not running when the heartbeat stopped: Dagger killed the service with its session", async () => {
    expect(await status("ready", 400)).toEqual({ code: 4, said: expect.stringMatching(/^status: ready, but its heartbeat stopped 40\ds ago: the service was killed with its session$/) });
    expect(await status("creating", "garbled")).toEqual({ code: 4, said: "status: creating, without a heartbeat: the service is not running" });
    expect(await status("ready")).toEqual({ code: 4, said: "status: ready, without a heartbeat: the service is not running" });
  });

  it("calls a heartbeat stale after 30 s by default", async () => {
    expect(await status("ready", READERS_STALE_SECONDS - 3)).toEqual({ code: 0, said: "status: ready" });
    expect(await status("ready", READERS_STALE_SECONDS + 3)).toMatchObject({ code: 4, said: expect.stringMatching(/heartbeat stopped 3\ds ago/) });
  });

  it("is not running when it stopped, failed, or never ran", async () => {
    expect(await status("stopped", 1)).toEqual({ code: 4, said: "status: stopped" });
    expect(await status("failed: kind create cluster failed (attempt 1)", 1)).toEqual({ code: 4, said: "status: failed: kind create cluster failed (attempt 1)" });
    expect(await status(undefined)).toEqual({ code: 4, said: "status: none: no cluster service has run on this volume" });
  });
});

describe("the check for other runs of a cluster, before its service starts", () => {
  const CONFLICTS = join(REPO_ROOT, "ci/scripts/cluster-conflicts.sh");
  const OURS = "3ogt6oa28srh2";
  /** A state root with one directory per definition: status, heartbeat age, the session that runs it. */
  async function check(definitions: Record<string, { status: string; age: number; session?: string }>, resolv = `search svc.cluster.local 7bq1m.${OURS}.dagger.local ${OURS}.dagger.local\n`) {
    const dir = scratch();
    const root = join(dir, "state");
    for (const [id, d] of Object.entries(definitions)) {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, "status"), `${d.status}\n`);
      writeFileSync(join(root, id, "heartbeat"), `${Math.floor(Date.now() / 1000) - d.age}\n`);
      if (d.session !== undefined) writeFileSync(join(root, id, "session"), `${d.session}\n`);
    }
    writeFileSync(join(dir, "resolv.conf"), `nameserver 10.87.0.1\n${resolv}`);
    const run = await runScript(CONFLICTS, [root, "aaaaaaaaaaaa"], { dir, env: { RESOLV_CONF: join(dir, "resolv.conf") }, stubs: {} });
    return { code: run.code, said: run.stdout, stderr: run.stderr };
  }

  it("finds nothing in the way on a fresh volume, or when every other run is gone", async () => {
    expect(await check({})).toMatchObject({ code: 0, said: "" });
    expect(await check({ aaaaaaaaaaaa: { status: "ready", age: 400, session: "other" }, bbbbbbbbbbbb: { status: "stopped", age: 1, session: "other" } })).toMatchObject({ code: 0, said: "" });
  });

  it("lets this session reach its own service again", async () => {
    expect(await check({ aaaaaaaaaaaa: { status: "ready", age: 1, session: OURS } })).toMatchObject({ code: 0, said: "" });
    // the session is the label before .dagger.local, in a module's domain (<module>.<session>.dagger.local) too
    expect(await check({ aaaaaaaaaaaa: { status: "ready", age: 1, session: OURS } }, `search 7bq1m.${OURS}.dagger.local.\n`)).toMatchObject({ code: 0, said: "" });
  });

  it("refuses this definition held by another session: its Locked docker volume would make the start wait", async () => {
    expect(await check({ aaaaaaaaaaaa: { status: "creating", age: 2, session: "9ssq0l4d1kd3a" } })).toEqual({
      code: 5,
      said: "this definition (aaaaaaaaaaaa) runs in another Dagger session (creating)\n",
      stderr: "",
    });
  });

  it("refuses another definition of the same cluster that runs", async () => {
    expect(await check({ bbbbbbbbbbbb: { status: "ready", age: 3, session: OURS } })).toMatchObject({ code: 5, said: "another definition (bbbbbbbbbbbb) of this cluster runs (ready)\n" });
  });

  it("starts anyway, saying so, when it cannot tell the sessions apart", async () => {
    const run = await check({ aaaaaaaaaaaa: { status: "ready", age: 1, session: "9ssq0l4d1kd3a" } }, "search svc.cluster.local\n");
    expect(run).toMatchObject({ code: 0, said: "" });
    expect(run.stderr).toMatch(/^cannot tell which Dagger session runs definition aaaaaaaaaaaa \(status: ready\); starting anyway/);
  });
});

describe("reading the kubeconfig of a running cluster", () => {
  async function read(status: string, heartbeatAge: number, kubectl = "exit 0") {
    const { dir, state } = stateDir(status, heartbeatAge);
    const out = join(dir, "kubeconfig");
    const run = await runScript(READ_KUBECONFIG, [state, "kind-pipeline-1-37-0", "https://localhost:6443", out], { dir, stubs: { kubectl } });
    return { ...run, out, copied: existsSync(out) ? readFileSync(out, "utf8") : undefined };
  }

  it("copies a live, ready cluster's kubeconfig and points it at the server", async () => {
    const run = await read("ready", 2);
    expect(run).toMatchObject({ code: 0, copied: "apiVersion: v1\n" });
    expect(run.calls).toEqual([`kubectl --kubeconfig ${run.out} config set-cluster kind-kind-pipeline-1-37-0 --server=https://localhost:6443`]);
  });

  it("passes the status on: wait (3) while creating, give up (4) on a service that is gone", async () => {
    expect(await read("creating", 1)).toMatchObject({ code: 3, stderr: "status: creating\n", copied: undefined });
    expect(await read("ready", 400)).toMatchObject({ code: 4, stderr: expect.stringMatching(/heartbeat stopped/), copied: undefined });
  });

  it("fails with kubectl's error, not as a missing cluster, when the rewrite fails", async () => {
    const run = await read("ready", 1, "echo 'error: open kubeconfig: read-only file system' >&2; exit 1");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("read-only file system");
  });
});

describe("the cluster state report", () => {
  it("prints the status and the end of kind's and dockerd's output", async () => {
    const { dir, state } = stateDir("creating", 3);
    writeFileSync(join(state, "create.log"), Array.from({ length: 50 }, (_, i) => `kind ${i + 1}`).join("\n") + "\n");
    writeFileSync(join(state, "dockerd.log"), "dockerd started\n");
    const run = await runScript(CLUSTER_STATE, [state], { dir, stubs: {} });
    const lines = run.stdout.split("\n");
    expect(lines.slice(0, 4)).toEqual(["status: creating", "", "kind create cluster (last 40 lines):", "kind 11"]);
    expect(run.stdout).toContain("kind 50\n\ndockerd (last 15 lines):\ndockerd started\n");
    expect(run.code).toBe(0);
  });

  it("still reports what it can when the heartbeat is garbled or the service never ran", async () => {
    const { dir, state } = stateDir("creating", "garbled");
    writeFileSync(join(state, "create.log"), "kind output\n");
    const garbled = await runScript(CLUSTER_STATE, [state], { dir, stubs: {} });
    expect(garbled.stdout).toBe("status: creating, without a heartbeat: the service is not running\n\nkind create cluster (last 40 lines):\nkind output\n");
    const never = await runScript(CLUSTER_STATE, [join(scratch(), "none")], { stubs: {} });
    expect(never.stdout).toBe("status: none: no cluster service has run on this volume\n");
  });
});

describe("the node image build script", () => {
  /** A fake cgroup v2 root with two processes in it. */
  const cgroupRoot = (dir: string) => {
    mkdirSync(join(dir, "cgroup"));
    writeFileSync(join(dir, "cgroup/cgroup.controllers"), "cpuset cpu memory pids\n");
    writeFileSync(join(dir, "cgroup/cgroup.procs"), "1\n12\n");
    return join(dir, "cgroup");
  };

  it("builds from the release binaries and saves the image as an archive", async () => {
    const dir = scratch();
    const run = await runScript(NODE_IMAGE_SCRIPT, ["v1.38.0", "kind-pipeline/node:v1.38.0", join(dir, "out/node-image.tar")], {
      dir,
      env: { DOCKERD_LOG: join(dir, "dockerd.log"), CGROUP_ROOT: cgroupRoot(dir) },
      stubs: {
        "dockerd-entrypoint.sh": "sleep 30",
        // dockerd answers once it runs (it is in the background: else the script may stop it before it records itself)
        docker: 'case "$1" in info) grep -q "^dockerd-entrypoint.sh" "$CALLS" ;; *) exit 0 ;; esac',
        kind: "exit 0",
      },
    });
    expect(run.code).toBe(0);
    expect(run.calls).toContain("dockerd-entrypoint.sh dockerd --host=unix:///var/run/docker.sock");
    expect(run.calls.filter((c) => !c.startsWith("dockerd-entrypoint.sh") && c !== "docker info")).toEqual([
      "kind build node-image v1.38.0 --image kind-pipeline/node:v1.38.0",
      `docker save --output ${join(dir, "out/node-image.tar")} kind-pipeline/node:v1.38.0`,
    ]);
  });

  it("moves every process out of the root cgroup and enables the controllers before starting dockerd", async () => {
    const dir = scratch();
    const root = cgroupRoot(dir);
    const run = await runScript(NODE_IMAGE_SCRIPT, ["v1.38.0", "ref", join(dir, "out/node.tar")], {
      dir,
      env: { CGROUP_ROOT: root },
      stubs: { xargs: 'PATH=${PATH#*:} exec xargs "$@"', "dockerd-entrypoint.sh": "sleep 30", docker: "exit 0", kind: "exit 0" },
    });
    expect(run.code).toBe(0);
    expect(run.calls[0]).toBe("xargs -rn1");
    expect(readFileSync(join(root, "init/cgroup.procs"), "utf8")).toBe("1\n12\n");
    expect(readFileSync(join(root, "cgroup.subtree_control"), "utf8")).toBe("+cpuset +cpu +memory +pids\n");
  });

  it("stops when dockerd does not start, with the end of its log, kept beside the archive (the dind wrapper hides /tmp)", async () => {
    const dir = scratch();
    const run = await runScript(NODE_IMAGE_SCRIPT, ["v1.38.0", "ref", join(dir, "out/node.tar")], {
      dir,
      env: { CGROUP_ROOT: cgroupRoot(dir) },
      stubs: { "dockerd-entrypoint.sh": 'echo "failed to start daemon: operation not permitted"; exit 1', docker: "exit 1", kind: "exit 0" },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("dockerd exited before it answered; its log ends with:\nfailed to start daemon: operation not permitted");
    expect(readFileSync(join(dir, "out/dockerd.log"), "utf8")).toBe("failed to start daemon: operation not permitted\n");
    expect(run.calls.filter((c) => c.startsWith("kind"))).toEqual([]);
  });

  it("gives up on a dockerd that never answers after 60 s by default", async () => {
    const dir = scratch();
    // a clock that runs 7 s per reading, and pauses that take no time
    const date = 'n=$(cat "$SCRATCH/clock" 2>/dev/null || echo 1000); echo $((n + 7)) >"$SCRATCH/clock"; echo "$n"';
    const run = await runScript(NODE_IMAGE_SCRIPT, ["v1.38.0", "ref", join(dir, "out/node.tar")], {
      dir,
      env: { CGROUP_ROOT: cgroupRoot(dir) },
      stubs: { "dockerd-entrypoint.sh": "echo 'API listen on /var/run/docker.sock'; tail -f /dev/null", docker: "exit 1", kind: "exit 0", date, sleep: "exit 0" },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("dockerd did not answer within 60s; its log ends with:\nAPI listen on /var/run/docker.sock");
    expect(run.calls.filter((c) => c === "docker info")).toHaveLength(9); // the clock reads 7, 14, … 63 s after the start
    expect(run.calls.filter((c) => c.startsWith("kind"))).toEqual([]);
  });
});

describe("saving a published node image", () => {
  it("pulls it by digest and saves it under its tag, after the cgroup evacuation", async () => {
    const dir = scratch();
    mkdirSync(join(dir, "cgroup"));
    writeFileSync(join(dir, "cgroup/cgroup.controllers"), "cpu memory\n");
    writeFileSync(join(dir, "cgroup/cgroup.procs"), "1\n");
    const out = join(dir, "out/node-image.tar");
    const run = await runScript(SAVE_NODE_IMAGE, ["kindest/node:v1.36.4@sha256:099e0493", out], {
      dir,
      env: { CGROUP_ROOT: join(dir, "cgroup") },
      stubs: { xargs: 'PATH=${PATH#*:} exec xargs "$@"', "dockerd-entrypoint.sh": "sleep 30", docker: "exit 0" },
    });
    expect(run.code).toBe(0);
    expect(run.calls[0]).toBe("xargs -rn1");
    expect(run.calls.filter((c) => !c.startsWith("dockerd-entrypoint.sh") && c !== "xargs -rn1")).toEqual([
      "docker info",
      "docker pull kindest/node:v1.36.4@sha256:099e0493",
      "docker tag kindest/node:v1.36.4@sha256:099e0493 kindest/node:v1.36.4",
      `docker save --output ${out} kindest/node:v1.36.4`,
    ]);
    expect(readFileSync(join(dir, "cgroup/cgroup.subtree_control"), "utf8")).toBe("+cpu +memory\n");
  });

  it("fails when the pull fails, saving nothing", async () => {
    const dir = scratch();
    const run = await runScript(SAVE_NODE_IMAGE, ["kindest/node:v1.36.4@sha256:099e0493", join(dir, "out/node.tar")], {
      dir,
      env: { CGROUP_ROOT: join(dir, "none") },
      stubs: { "dockerd-entrypoint.sh": "sleep 30", docker: 'case "$1" in info) exit 0 ;; pull) echo "manifest unknown" >&2; exit 1 ;; *) exit 0 ;; esac' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("manifest unknown");
    expect(run.calls.filter((c) => c.startsWith("docker save"))).toEqual([]);
  });
});
