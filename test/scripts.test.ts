/**
 * The module's shell scripts, run for real with stub programs: the cluster service's retry policy for
 * `kind create cluster`, its published state, and the node image build.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/projects.js";
import { runScript, scratch } from "./support/shell.js";

const CLUSTER_SCRIPT = join(REPO_ROOT, "ci/scripts/kind-cluster.sh");
const NODE_IMAGE_SCRIPT = join(REPO_ROOT, "ci/scripts/build-node-image.sh");
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
  /** The status file at the end, and the kubeconfig while the status was ready. */
  finalStatus: string;
  readyKubeconfig?: string;
  /** Whether a kubeconfig was left behind after the script ended. */
  kubeconfigAfterStop: boolean;
  createLog: string;
}

/** Runs the cluster service script; stops it (SIGTERM) once ready, as Dagger stops a service. */
async function runCluster(create: string, options: { controllers?: string; leftover?: boolean; archive?: boolean } = {}): Promise<ClusterRun> {
  const dir = scratch();
  const state = join(dir, "state");
  mkdirSync(join(dir, "cgroup"));
  writeFileSync(join(dir, "cgroup/cgroup.controllers"), options.controllers ?? "cpuset cpu io memory hugetlb pids rdma misc\n");
  if (options.leftover) writeFileSync(join(dir, "clusters"), "kind-pipeline-1-37-0\n");
  const status = () => (existsSync(join(state, "status")) ? readFileSync(join(state, "status"), "utf8").trim() : "");
  let readyKubeconfig: string | undefined;
  const run = await runScript(CLUSTER_SCRIPT, [], {
    dir,
    env: {
      CLUSTER_NAME: "kind-pipeline-1-37-0",
      NODE_IMAGE: options.archive ? "kind-pipeline/node:v1.38.0" : "kindest/node:v1.37.0@sha256:a1ed56cf",
      KIND_CONFIG: "/kind-pipeline/kind-config.yaml",
      STATE_DIR: state,
      CGROUP_ROOT: join(dir, "cgroup"),
      DOCKERD_LOG: join(dir, "dockerd.log"),
      ...(options.archive && { NODE_IMAGE_ARCHIVE: "/kind-pipeline/node-image.tar" }),
    },
    stubs: {
      sysctl: "exit 0",
      // dockerd runs until the service stops or fails
      "dockerd-entrypoint.sh": 'while ! grep -qE "^(failed|stopped)" "$STATE_DIR/status" 2>/dev/null; do sleep 0.05; done',
      docker: 'case "$1" in info) exit 0 ;; image) exit 1 ;; *) exit 0 ;; esac',
      kind: `case "$1 $2" in
        "get clusters") cat "$SCRATCH/clusters" 2>/dev/null ;;
        "create cluster") ${create} ;;
        "get kubeconfig") echo "apiVersion: v1"; echo "server: https://0.0.0.0:6443" ;;
        *) exit 0 ;;
      esac`,
    },
    terminateWhen: () => {
      if (status() !== "ready") return false;
      readyKubeconfig = readFileSync(join(state, "kubeconfig"), "utf8");
      return true;
    },
  });
  const createLog = existsSync(join(state, "create.log")) ? readFileSync(join(state, "create.log"), "utf8") : "";
  const kubeconfigAfterStop = existsSync(join(state, "kubeconfig"));
  return { code: run.code, stderr: run.stderr, calls: run.calls, finalStatus: status(), readyKubeconfig, kubeconfigAfterStop, createLog };
}

const creates = (calls: string[]) => calls.filter((c) => c.startsWith("kind create cluster"));

describe("the cluster service script", () => {
  it("starts dockerd, pulls the pinned node image, creates the cluster, publishes its kubeconfig, and cleans up when stopped", async () => {
    const run = await runCluster(CREATE.ok);
    // dockerd runs in the background: its record may come before or after the first `docker info`
    expect(run.calls).toContain("dockerd-entrypoint.sh dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false");
    expect(run.calls.filter((c) => !c.startsWith("dockerd-entrypoint.sh"))).toEqual([
      "sysctl -w fs.inotify.max_user_watches=524288",
      "sysctl -w fs.inotify.max_user_instances=512",
      "docker info",
      "docker image inspect kindest/node:v1.37.0@sha256:a1ed56cf",
      "docker pull kindest/node:v1.37.0@sha256:a1ed56cf",
      "kind get clusters",
      "kind create cluster --name kind-pipeline-1-37-0 --image kindest/node:v1.37.0@sha256:a1ed56cf --config /kind-pipeline/kind-config.yaml --wait 5m",
      "kind get kubeconfig --name kind-pipeline-1-37-0",
    ]);
    expect(run.readyKubeconfig).toBe("apiVersion: v1\nserver: https://0.0.0.0:6443\n");
    expect(run).toMatchObject({ code: 0, finalStatus: "stopped", kubeconfigAfterStop: false });
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

  it("deletes a leftover cluster before creating", async () => {
    const run = await runCluster(CREATE.ok, { leftover: true });
    const calls = run.calls.filter((c) => c.startsWith("kind"));
    expect(calls.slice(0, 3)).toEqual(["kind get clusters", "kind delete cluster --name kind-pipeline-1-37-0", expect.stringMatching(/^kind create cluster/)]);
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
});

describe("the node image build script", () => {
  it("builds from the release binaries and saves the image as an archive", async () => {
    const dir = scratch();
    const run = await runScript(NODE_IMAGE_SCRIPT, ["v1.38.0", "kind-pipeline/node:v1.38.0", join(dir, "out/node-image.tar")], {
      dir,
      env: { DOCKERD_LOG: join(dir, "dockerd.log") },
      stubs: {
        "dockerd-entrypoint.sh": "sleep 30",
        docker: 'exit 0',
        kind: "exit 0",
      },
    });
    expect(run.code).toBe(0);
    expect(run.calls).toContain("dockerd-entrypoint.sh dockerd --host=unix:///var/run/docker.sock");
    expect(run.calls.filter((c) => !c.startsWith("dockerd-entrypoint.sh"))).toEqual([
      "docker info",
      "kind build node-image v1.38.0 --image kind-pipeline/node:v1.38.0",
      `docker save --output ${join(dir, "out/node-image.tar")} kind-pipeline/node:v1.38.0`,
    ]);
  });

  it("stops when dockerd does not start, with the end of its log", async () => {
    const dir = scratch();
    const run = await runScript(NODE_IMAGE_SCRIPT, ["v1.38.0", "ref", join(dir, "node.tar")], {
      dir,
      env: { DOCKERD_LOG: join(dir, "dockerd.log") },
      stubs: { "dockerd-entrypoint.sh": 'echo "failed to start daemon: operation not permitted"; exit 1', docker: "exit 1", kind: "exit 0" },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("dockerd exited before it answered; its log ends with:\nfailed to start daemon: operation not permitted");
    expect(run.calls.filter((c) => c.startsWith("kind"))).toEqual([]);
  });
});
