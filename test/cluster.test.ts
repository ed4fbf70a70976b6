/**
 * The cluster stage on the stand-in engine: the service as defined, node image resolution, start
 * failures and readiness with diagnostics, kubeconfigs, pinned downloads, and the build gate.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { parse } from "yaml";
import { BuildFailure } from "../ci/src/build.js";
import { ClusterError } from "../ci/src/cluster-error.js";
import { DEFAULT_PATIENCE, definitionId, definitionInputs, hostKubeconfig, isLive, startCluster, STOP_SECONDS, stopCluster, type LiveCluster, type Patience } from "../ci/src/cluster.js";
import { ConfigError } from "../ci/src/config.js";
import { nodeImageFor } from "../ci/src/node-images.js";
import type { Selection } from "../ci/src/plan.js";
import { DIND_IMAGE } from "../ci/src/releases.js";
import { toolbox } from "../ci/src/tools.js";
import type { Call } from "./support/calls.js";
import type { StandInEngine } from "./support/engine.js";
import { DOWNSTREAM, pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { REPO_ROOT } from "./support/projects.js";
import { answer, engineError, execFailure, hang } from "./support/replies.js";

const KIND_AMD64 = "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64";
const QUICK: Patience = { startSeconds: 0.3, attempts: 3, intervalMs: 0, readySeconds: 5, observationSeconds: 1, readyMarginSeconds: 1 };
const LIST_NODES = '"kubectl","get","nodes","-o","name","--request-timeout=10s"';
const BOTH_NODES = "node/kind-pipeline-1-37-0-control-plane\nnode/kind-pipeline-1-37-0-worker\n";

/** A pattern for the exec of one of the module's scripts, by file name. */
const runs = (script: string) => `withExec(args:["sh","/kind-pipeline/scripts/${script}"`;
const STATUS = runs("cluster-status.sh");
const CONFLICTS = runs("cluster-conflicts.sh");

/**
 * The engine answers as a linux/amd64 engine whose services start, and whose cluster (one control plane,
 * one worker: the default) lists both nodes; the service's status is "ready" by default (sync succeeds).
 */
function amd64(engine: StandInEngine): StandInEngine {
  return engine
    .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
    .reply({ leaf: "start" }, answer())
    .reply({ leaf: "stop" }, answer())
    .reply({ leaf: "stdout", where: LIST_NODES }, answer(BOTH_NODES));
}

/** The definition id of a project's planned cluster, as the module computes it. Call inside `engine.run`. */
async function definitionOf(root: string, selection: Selection = {}): Promise<string> {
  const run = await runAt(root, selection);
  return definitionId(run.plan.clusters[0]!, run.plan.kind);
}

/** The calls of a chain with the given field, in order. */
const calls = (call: Call, field: string) => call.path.filter((c) => c.field === field);

/** The environment a chain sets, by name. */
const envOf = (call: Call) => Object.fromEntries(calls(call, "withEnvVariable").map((c) => [c.args.name, c.args.value]));

/** The service chain the SDK resolved last (by ID, as it does before binding or returning it). */
const lastService = (engine: StandInEngine) => engine.find("asService", { leaf: "id", ids: true }).filter((l) => l.call.parent?.field === "asService").at(-1)!.call.parent!;

/** The cluster stage as index.ts runs it (after the build), with test patience; returns what it threw, if anything. */
async function startWith(engine: StandInEngine, selection: Selection = {}, patience = QUICK): Promise<unknown> {
  return engine.run(async () => {
    const run = await runAt(threeImages(), selection);
    const tools = await toolbox(run.plan.kind);
    const cluster = run.plan.clusters[0]!;
    return startCluster(run, cluster, tools, await nodeImageFor(cluster.nodeImage, async () => tools), patience).catch((e: unknown) => e);
  });
}

describe("the cluster service as defined", () => {
  test("docker:dind with root capabilities, the API port only, a Locked docker cache, the repository's scripts and the generated kind config", async ({ engine }) => {
    amd64(engine).reply({ leaf: "stdout", where: LIST_NODES }, answer(`${BOTH_NODES}node/kind-pipeline-1-37-0-worker2\n`));
    const root = threeImages({ config: "cluster:\n  workers: 2\n  nodeLabels: { example.com/pool: e2e }" });
    const definition = await engine.run(async () => {
      await (await pipelineAt(root).cluster(undefined, [])).id();
      return definitionOf(root);
    });
    const service = lastService(engine);

    expect(definition).toMatch(/^[0-9a-f]{12}$/);
    expect(calls(service, "from").map((c) => c.args.address)).toEqual([DIND_IMAGE]);
    expect(calls(service, "asService")[0]?.args).toEqual({ args: ["sh", "/kind-pipeline/scripts/kind-cluster.sh"], insecureRootCapabilities: true });
    // the engine's health check would give up after 15 minutes (core/healthcheck.go): the module's polling carries readiness
    expect(calls(service, "withExposedPort").map((c) => c.args)).toEqual([{ port: 6443, experimentalSkipHealthcheck: true }]);
    const caches = calls(service, "withMountedCache").map((c) => [c.args.path, (c.args.cache as Call).args.key, String((c.args.sharing as { name: string }).name)]);
    expect(caches).toEqual([
      ["/kind-pipeline/state", "kind-pipeline-state-kind-pipeline-1-37-0", "SHARED"],
      ["/var/lib/docker", `kind-pipeline-docker-kind-pipeline-1-37-0-${definition}`, "LOCKED"],
    ]);
    expect(envOf(service)).toMatchObject({
      DOCKER_TLS_CERTDIR: "",
      CLUSTER_NAME: "kind-pipeline-1-37-0",
      NODE_IMAGE: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
      KIND_CONFIG: "/kind-pipeline/kind-config.yaml",
      STATE_DIR: `/kind-pipeline/state/${definition}`,
    });
    expect(envOf(service).NODE_IMAGE_ARCHIVE).toBeUndefined();

    const scripts = calls(service, "withMountedDirectory")[0]!.args.source as Call;
    const mounted = Object.fromEntries(calls(scripts, "withNewFile").map((c) => [c.args.path, c.args.contents]));
    const repository = ["dockerd.sh", "kind-cluster.sh", "session.sh"].map((name) => [name, readFileSync(join(REPO_ROOT, "ci/scripts", name), "utf8")]);
    expect(mounted).toEqual(Object.fromEntries(repository));
    expect(service.text).not.toContain("KIND_PIPELINE_OBSERVATION");

    const config = parse(String(calls(service, "withNewFile").find((c) => c.args.path === "/kind-pipeline/kind-config.yaml")?.args.contents));
    expect(config).toEqual({
      kind: "Cluster",
      apiVersion: "kind.x-k8s.io/v1alpha4",
      name: "kind-pipeline-1-37-0",
      networking: { apiServerAddress: "0.0.0.0", apiServerPort: 6443 },
      kubeadmConfigPatches: [expect.any(String)],
      nodes: [
        { role: "control-plane" },
        { role: "worker", labels: { "example.com/pool": "e2e" } },
        { role: "worker", labels: { "example.com/pool": "e2e" } },
      ],
    });
    expect(parse(config.kubeadmConfigPatches[0])).toEqual({
      kind: "ClusterConfiguration",
      apiServer: { certSANs: ["kind-pipeline-1-37-0", "localhost", "127.0.0.1"] },
    });
  });

  test("without workers, the control plane carries the node labels", async ({ engine }) => {
    amd64(engine);
    const root = threeImages({ config: "cluster:\n  workers: 0\n  nodeLabels: { example.com/pool: e2e }" });
    await engine.run(async () => (await pipelineAt(root).cluster(undefined, [])).id());
    const config = parse(String(calls(lastService(engine), "withNewFile").find((c) => c.args.path === "/kind-pipeline/kind-config.yaml")?.args.contents));
    expect(config.nodes).toEqual([{ role: "control-plane", labels: { "example.com/pool": "e2e" } }]);
  });

  test("kubeconfig starts and binds the very service cluster returns, so both reach one instance", async ({ engine }) => {
    amd64(engine);
    const root = threeImages();
    const returnedId = await engine.run(async () => {
      const id = await (await pipelineAt(root).cluster(undefined, [])).id();
      await (await pipelineAt(root).kubeconfig(undefined, false, [])).id();
      return id;
    });
    const returned = engine.callOf(returnedId).text;
    const started = engine.find("", { leaf: "start" }).map((l) => l.call.parent!.text);
    const bound = engine.find(/withServiceBinding/).map((l) => (calls(l.call, "withServiceBinding")[0]!.args.service as Call).text);
    expect(new Set(started)).toEqual(new Set([returned]));
    expect(bound.length).toBeGreaterThan(0);
    expect(new Set(bound)).toEqual(new Set([returned]));
  });
});

describe("kind and kubectl downloads", () => {
  test("pinned by version and sha256 for the engine's architecture", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/arm64"));
    await engine.run(() => toolbox("v0.33.0"));
    expect(engine.find("http(", { leaf: "sync" }).map((l) => l.text)).toEqual([
      'http(url:"https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-arm64",checksum:"sha256:20022bee6cfcd5086cb7234d218e3454e6090022f2a8f55d1fa7fcf42c3867a2",permissions:493).sync',
      'http(url:"https://dl.k8s.io/release/v1.37.1/bin/linux/arm64/kubectl",checksum:"sha256:ff749f4b78d9c4f1ec87307df9b50119ed819e2094aa9810cb9acffc3286c8c7",permissions:493).sync',
    ]);
  });

  test("a checksum mismatch is a clear error and nothing runs with the download", async ({ engine }) => {
    amd64(engine).reply(
      { leaf: "sync", where: KIND_AMD64 },
      engineError("http checksum mismatch: expected sha256:aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d, got sha256:0a0b"),
    );
    const error = await engine.run(() => pipelineAt(threeImages()).cluster()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message).toMatch(/^cluster: kind v0\.33\.0 \(linux\/amd64\) does not match its pinned sha256: http checksum mismatch: expected sha256:aee61515/);
    expect((error as Error).message).toMatch(/nothing was run with it/);
    engine.expectNever(/asService|withExec/);
  });

  test("an engine on another platform is refused with the platforms that are pinned", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/s390x"));
    const error = await engine.run(() => toolbox("v0.33.0")).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/the engine runs on linux\/s390x; kind and kubectl are pinned for linux\/amd64 and linux\/arm64 only/);
  });
});

describe("node images", () => {
  test("a published version resolves to its pinned digest, with nothing downloaded or built; its archive is pulled and saved only when asked for", async ({ engine }) => {
    const { image, before } = await engine.run(async () => {
      const node = await pipelineAt(threeImages()).nodeImage("1.36.4");
      const before = engine.leaves.length;
      return { image: { ref: node.ref, published: node.published }, archive: await node.archive.id(), before };
    });
    expect(image).toEqual({ ref: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed", published: true });
    expect(engine.leaves.slice(0, before).filter((l) => /http|withExec|dockerBuild|defaultPlatform/.test(l.text))).toEqual([]);
    const archive = engine.find(/save-node-image\.sh.*\.file\(path:"\/out\/node-image\.tar"\)\.id$/, { leaf: "id", ids: true }).at(-1)!.call;
    expect(calls(archive, "from").map((c) => c.args.address)).toEqual([DIND_IMAGE]);
    expect(calls(archive, "withMountedCache").map((c) => [c.args.path, (c.args.cache as Call).args.key, String((c.args.sharing as { name: string }).name)])).toEqual([
      ["/var/lib/docker", "kind-pipeline-node-image-save", "LOCKED"],
    ]);
    expect(calls(archive, "withExec").map((c) => c.args)).toEqual([
      { args: ["sh", "/kind-pipeline/scripts/save-node-image.sh", "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed", "/out/node-image.tar"], insecureRootCapabilities: true },
    ]);
    expect(engine.find("", { leaf: "sync" })).toEqual([]);
  });

  test("an unpublished version is built once from the release binaries; a second call is the same cached build", async ({ engine }) => {
    amd64(engine);
    const root = threeImages();
    const archives = await engine.run(async () => {
      const ids = [];
      for (let call = 0; call < 2; call++) {
        const node = await pipelineAt(root).nodeImage("1.38.0");
        expect([node.ref, node.published]).toEqual(["kind-pipeline/node:v1.38.0", false]);
        ids.push(await node.archive!.id());
      }
      return ids;
    });
    expect(archives[1]).toBe(archives[0]);
    const builds = engine.find(/build-node-image\.sh.*\.file\(path:"\/out\/node-image\.tar"\)\.id$/, { leaf: "id", ids: true }).map((l) => l.call);
    expect(builds).toHaveLength(2);
    expect(builds[1]!.text).toBe(builds[0]!.text);
    expect(calls(builds[0]!, "withExec").map((c) => c.args)).toEqual([
      { args: ["sh", "/kind-pipeline/scripts/build-node-image.sh", "v1.38.0", "kind-pipeline/node:v1.38.0", "/out/node-image.tar"], insecureRootCapabilities: true },
    ]);
    expect(calls(builds[0]!, "from").map((c) => c.args.address)).toEqual([DIND_IMAGE]);
    expect(builds[0]!.text).not.toMatch(/KIND_PIPELINE_OBSERVATION/);
  });

  test("a built node image is loaded into the cluster service instead of pulled", async ({ engine }) => {
    amd64(engine);
    await engine.run(async () => (await pipelineAt(threeImages()).cluster("1.38.0", [])).id());
    const service = lastService(engine);
    expect(envOf(service)).toMatchObject({ NODE_IMAGE: "kind-pipeline/node:v1.38.0", NODE_IMAGE_ARCHIVE: "/kind-pipeline/node-image.tar" });
    expect((calls(service, "withMountedFile")[0]?.args.source as Call).text).toMatch(/build-node-image\.sh.*\.file\(path:"\/out\/node-image\.tar"\)$/);
  });

  test("a node image that cannot be built stops the cluster before it starts", async ({ engine }) => {
    amd64(engine).reply(
      { leaf: "sync", where: /\.file\(path:"\/out\/node-image\.tar"\)\.sync$/ },
      execFailure({ exitCode: 1, stderr: "ERROR: failed to download https://dl.k8s.io/v1.38.0/kubernetes-server-linux-amd64.tar.gz: 404 Not Found\n" }),
    );
    const error = await startWith(engine, { kubernetes: ["1.38.0"] });
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message).toMatch(/^cluster: the node image for Kubernetes 1\.38\.0 \(kind-pipeline-1-38-0\) could not be built\n\n {2}command: sh \/kind-pipeline\/scripts\/build-node-image\.sh v1\.38\.0/);
    expect((error as Error).message).toContain("404 Not Found");
    expect(engine.find("", { leaf: "start" })).toEqual([]);
  });

  test("an unpublished version with nodeImageFallback: fail is refused, listing the published ones", async ({ engine }) => {
    const root = threeImages({ config: "kubernetes: { nodeImageFallback: fail }" });
    const error = await engine.run(() => pipelineAt(root).nodeImage("1.38.0")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("kubernetes: kind v0.33.0 publishes no node image for Kubernetes 1.38.0 (published: 1.37.0, 1.36.4, 1.35.8, 1.34.11)");
  });

  test("a malformed version is a config error", async ({ engine }) => {
    const error = await engine.run(() => pipelineAt(threeImages()).nodeImage("1.38")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('kubernetes: "1.38" must be a Kubernetes version MAJOR.MINOR.PATCH');
  });
});

describe("starting and readiness", () => {
  test("kubeconfig starts the cluster, waits for every node, and points at the service alias", async ({ engine }) => {
    amd64(engine);
    await engine.run(async () => (await pipelineAt(threeImages()).kubeconfig(undefined, false, [])).id());
    expect(engine.find("", { leaf: "start" })).toHaveLength(1);
    const kubeconfig = engine.find(/\.file\(path:"\/kind-pipeline\/kubeconfig"\)\.id$/, { leaf: "id", ids: true }).at(-1)!.call;
    expect(calls(kubeconfig, "withExec").map((c) => (c.args.args as string[]).join(" "))).toEqual([
      "kind export kubeconfig --name kind-pipeline-1-37-0 --kubeconfig /kind-pipeline/kubeconfig",
      "kubectl config set-cluster kind-kind-pipeline-1-37-0 --server=https://kind-pipeline-1-37-0:6443",
      "kubectl get nodes -o name --request-timeout=10s",
      "kubectl wait --for=condition=Ready nodes --all --timeout=180s",
    ]);
    expect(calls(kubeconfig, "withServiceBinding").map((c) => c.args.alias)).toEqual(["kind-pipeline-1-37-0"]);
    expect(envOf(kubeconfig)).toMatchObject({ DOCKER_HOST: "tcp://kind-pipeline-1-37-0:2375", KUBECONFIG: "/kind-pipeline/kubeconfig" });
    const status = engine.find(STATUS, { leaf: "sync" });
    expect(status).toHaveLength(1);
    expect(status[0]!.text).not.toContain("withServiceBinding");
  });

  test("waits for the service to report the cluster ready, then for every node to register, each check run anew", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 3, stdout: "status: creating\n" }), { times: 2 })
      .reply({ leaf: "stdout", where: LIST_NODES }, answer("node/kind-pipeline-1-37-0-control-plane\n"), { times: 1 });
    const patience = { ...QUICK, attempts: 5 };
    expect(await startWith(engine, {}, patience)).not.toBeInstanceOf(Error);
    const statuses = engine.find(STATUS, { leaf: "sync" });
    expect(statuses.map((l) => l.outcome)).toEqual(["exec-error", "exec-error", "answer", "answer"]);
    expect(engine.find(LIST_NODES, { leaf: "stdout" })).toHaveLength(2);
    expect(new Set(statuses.map((l) => envOf(l.call).KIND_PIPELINE_OBSERVATION)).size).toBe(4);
  });

  test("a cluster still creating when the attempts run out fails with the service's state, nodes, docker ps -a and the control plane's log", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 3, stdout: "status: creating\n" }))
      .reply({ leaf: "combinedOutput", where: runs("cluster-state.sh") }, answer("status: creating\n\nkind create cluster (last 40 lines):\n ✗ Starting control-plane 🕹️\n"))
      .reply({ leaf: "combinedOutput", where: '"get","nodes","-o","wide"' }, answer("The connection to the server kind-pipeline-1-37-0:6443 was refused\n"))
      .reply({ leaf: "combinedOutput", where: '"docker","ps","-a"' }, answer("CONTAINER ID   IMAGE   STATUS\nabc123   kindest/node   Exited (137)\n"))
      .reply({ leaf: "combinedOutput", where: '"docker","logs"' }, answer(Array.from({ length: 40 }, (_, i) => `systemd line ${i + 1}`).join("\n")));
    const error = await startWith(engine);
    expect(error).toBeInstanceOf(ClusterError);
    const message = (error as Error).message;
    expect(message.split("\n")[0]).toMatch(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) is not ready: not every node was up after \ds \(status: creating\)$/);
    expect(message).toContain("the cluster service's state:\n  | status: creating\n  | \n  | kind create cluster (last 40 lines):\n  |  ✗ Starting control-plane 🕹️");
    expect(message).toContain("kubectl get nodes -o wide:\n  | The connection to the server kind-pipeline-1-37-0:6443 was refused");
    expect(message).toContain("docker ps -a (the Docker-in-Docker daemon):\n  | CONTAINER ID   IMAGE   STATUS\n  | abc123   kindest/node   Exited (137)");
    expect(message).toContain("kind-pipeline-1-37-0-control-plane log (last 40 lines):\n  | systemd line 1\n");
    expect(message).toMatch(/The control plane or a node did not come up/);
    expect(engine.find(STATUS, { leaf: "sync" })).toHaveLength(4); // three polls, then whether it still runs before binding it
    expect(engine.find(LIST_NODES)).toEqual([]);
    expect(engine.find('"docker","logs","--tail","40","kind-pipeline-1-37-0-control-plane"', { leaf: "combinedOutput" })).toHaveLength(1);
  });

  test("a worker that never registers keeps the cluster from being ready", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "stdout", where: LIST_NODES }, answer("node/kind-pipeline-1-37-0-control-plane\n"))
      .reply({ leaf: "combinedOutput" }, answer("diagnostic output\n"));
    const error = await startWith(engine);
    expect((error as Error).message).toMatch(/is not ready: not every node was up after \ds \(1 of 2 nodes registered\)/);
    engine.expectNever('"kubectl","wait"');
  });

  test("a service that dies while it is waited for is reported with its state, and never started again", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 4, stdout: "status: failed: kind create cluster failed (attempt 1)\n" }))
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 3, stdout: "status: creating\n" }), { times: 1 })
      .reply({ leaf: "combinedOutput", where: runs("cluster-state.sh") }, answer("status: failed: kind create cluster failed (attempt 1)\n\nkind create cluster (last 40 lines):\nERROR: failed to create cluster: failed to join node with kubeadm\n"));
    const error = await startWith(engine);
    expect((error as Error).message.split("\n").slice(0, 6)).toEqual([
      "cluster: Kubernetes 1.37.0 (kind-pipeline-1-37-0) stopped before it was ready",
      "",
      "the cluster service's state:",
      "  | status: failed: kind create cluster failed (attempt 1)",
      "  | ",
      "  | kind create cluster (last 40 lines):",
    ]);
    expect((error as Error).message).toContain("failed to join node with kubeadm");
    expect(engine.find(STATUS, { leaf: "sync" }).map((l) => l.outcome)).toEqual(["exec-error", "exec-error"]);
    engine.expectNever("withServiceBinding");
  });

  test("nodes that never get Ready fail with the diagnostics and other advice", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: '"kubectl","wait"' }, execFailure({ exitCode: 1, stderr: "error: timed out waiting for the condition on nodes/kind-pipeline-1-37-0-worker\n" }))
      .reply({ leaf: "combinedOutput" }, answer("diagnostic output\n"));
    const error = await startWith(engine);
    expect((error as Error).message).toMatch(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) is not ready: its nodes were not all Ready within 5s:/);
    expect((error as Error).message).toContain("timed out waiting for the condition on nodes/kind-pipeline-1-37-0-worker");
    expect((error as Error).message).toMatch(/short of memory or disk/);
    expect(engine.find("", { leaf: "combinedOutput" })).toHaveLength(4);
  });

  test("a diagnostic that fails still shows what it printed, naming the command that failed", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: '"kubectl","wait"' }, execFailure({ exitCode: 1, stderr: "timed out\n" }))
      .reply({ leaf: "combinedOutput" }, answer("ok\n"))
      .reply({ leaf: "combinedOutput", where: '"docker","logs"' }, execFailure({ exitCode: 137, stdout: "partial log\n" }))
      .reply({ leaf: "combinedOutput", where: '"get","nodes","-o","wide"' }, execFailure({ cmd: ["kind", "export", "kubeconfig"], exitCode: 1, stderr: "ERROR: could not locate any control plane nodes\n" }));
    const message = ((await startWith(engine)) as Error).message;
    expect(message).toContain("log (last 40 lines):\n  | partial log\n  | (docker logs --tail 40 kind-pipeline-1-37-0-control-plane exited with code 137)");
    expect(message).toContain("kubectl get nodes -o wide:\n  | ERROR: could not locate any control plane nodes\n  | (kind export kubeconfig exited with code 1)");
  });

  test("a service that exits reports its output and its state; nothing waits on it", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "start" }, execFailure({ cmd: ["sh", "/kind-pipeline/scripts/kind-cluster.sh"], exitCode: 1, stderr: "ERROR: failed to create cluster: failed to init node with kubeadm: invalid kubeadm patch\n[cluster] FAILED: kind create cluster failed (attempt 1)\n" }))
      .reply({ leaf: "combinedOutput", where: runs("cluster-state.sh") }, answer("status: failed: kind create cluster failed (attempt 1)\n"));
    const error = await engine.run(() => pipelineAt(threeImages()).kubeconfig()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    const message = (error as Error).message;
    expect(message).toMatch(/^cluster: the Kind cluster service for Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) did not start\n\n {2}command: sh \/kind-pipeline\/scripts\/kind-cluster\.sh \(exit code 1\)/);
    expect(message).toContain("    | ERROR: failed to create cluster: failed to init node with kubeadm: invalid kubeadm patch");
    expect(message).toContain("the cluster service's state:\n  | status: failed: kind create cluster failed (attempt 1)");
    engine.expectNever(/"kubectl"/);
  });

  test("a service that never runs fails within the start time limit, naming the lock it may wait for", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "start" }, hang())
      .reply({ leaf: "combinedOutput", where: runs("cluster-state.sh") }, answer("status: ready\n"));
    const error = await startWith(engine);
    expect((error as Error).message).toMatch(/did not start\n\n {2}error: its container did not run within 0\.3s/);
    expect((error as Error).message).toMatch(/another run of this definition may hold its Locked docker cache \(kind-pipeline-docker-kind-pipeline-1-37-0-[0-9a-f]{12}\) and keeps it until its session ends/);
  });
});

describe("what users get by default", () => {
  const scriptDefault = (script: string, pattern: RegExp) => Number(pattern.exec(readFileSync(join(REPO_ROOT, "ci/scripts", script), "utf8"))?.[1]);

  test("the default patience", () => {
    expect(DEFAULT_PATIENCE).toEqual({ startSeconds: 300, attempts: 240, intervalMs: 5000, readySeconds: 180, observationSeconds: 60, readyMarginSeconds: 60 });
    expect(STOP_SECONDS).toBe(60);
  });

  test("the readiness budget covers a first run: dockerd's wait, a node image pull, a flaky kind create and its retry", () => {
    const dockerdWait = scriptDefault("dockerd.sh", /DOCKERD_WAIT_SECONDS:-(\d+)/);
    const kindWait = scriptDefault("kind-cluster.sh", /--wait (\d+)m/) * 60;
    expect([dockerdWait, kindWait]).toEqual([60, 300]);
    const pull = 600; // ≈ 450 MB at 0.75 MB/s
    const create = 60 + (60 + 120 + kindWait); // a flaky attempt, then boot, kubeadm init and kind's --wait
    expect((DEFAULT_PATIENCE.attempts * DEFAULT_PATIENCE.intervalMs) / 1000).toBeGreaterThanOrEqual(dockerdWait + pull + create);
    // a check every heartbeat: the service beats every 5 s (kind-cluster.sh)
    expect(DEFAULT_PATIENCE.intervalMs / 1000).toBe(scriptDefault("kind-cluster.sh", /HEARTBEAT_SECONDS:-(\d+)/));
  });

  test("kubeconfig waits with the default patience: kubectl wait's timeout, and every node registered before it", async ({ engine }) => {
    amd64(engine);
    await engine.run(async () => (await pipelineAt(threeImages()).kubeconfig(undefined, false, [])).id());
    expect(engine.find('"kubectl","wait"', { leaf: "sync" }).map((l) => calls(l.call, "withExec").at(-1)!.args.args)).toEqual([
      ["kubectl", "wait", "--for=condition=Ready", "nodes", "--all", `--timeout=${DEFAULT_PATIENCE.readySeconds}s`],
    ]);
  });

  test("an observation that never answers fails within the observation limit", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: STATUS }, hang());
    const started = Date.now();
    const error = await startWith(engine);
    expect((error as Error).message).toMatch(/^cluster: reading the status of Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) failed: the status of Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) did not answer within 1s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  test("kubectl wait gets its timeout plus the margin, then the module stops waiting", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: '"kubectl","wait"' }, hang());
    const patience = { ...QUICK, readySeconds: 0.5, readyMarginSeconds: 0.5 };
    const started = Date.now();
    const error = await startWith(engine, {}, patience);
    expect((error as Error).message).toMatch(/^cluster: waiting for the nodes of Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) failed: kubectl wait on .* did not answer within 1s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});

describe("one service definition, one lock", () => {
  test("the images under test never change the definition; the cluster's own settings do", async ({ engine }) => {
    const ids = await engine.run(async () => ({
      base: await definitionOf(threeImages()),
      otherImages: await definitionOf(threeImages({ images: "  extra: { context: images/jax }", files: { "images/jax/train.py": "print('changed')\n", "images/jax/Dockerfile": "FROM python:3.13-slim AS runtime\n" } })),
      moreWorkers: await definitionOf(threeImages({ config: "cluster: { workers: 2 }" })),
      labels: await definitionOf(threeImages({ config: "cluster: { nodeLabels: { a.example.com/x: one, b.example.com/y: two } }" })),
      labelsReordered: await definitionOf(threeImages({ config: "cluster: { nodeLabels: { b.example.com/y: two, a.example.com/x: one } }" })),
      otherName: await definitionOf(threeImages({ config: "cluster: { name: other }" })),
      otherVersion: await definitionOf(threeImages({ config: 'kubernetes: { versions: ["1.36.4"] }' })),
    }));
    expect(ids.otherImages).toBe(ids.base);
    expect(ids.labelsReordered).toBe(ids.labels);
    expect(new Set([ids.base, ids.moreWorkers, ids.labels, ids.otherName, ids.otherVersion]).size).toBe(5);
  });

  test("the definition covers the node image, the pinned tools and the content of the scripts the service runs", async ({ engine }) => {
    const [published, built] = await engine.run(async () => {
      const plans = [await runAt(threeImages(), {}), await runAt(threeImages(), { kubernetes: ["1.38.0"] })];
      return plans.map((run) => definitionInputs(run.plan.clusters[0]!, run.plan.kind) as Record<string, Record<string, unknown>>);
    });
    const script = (name: string) => readFileSync(join(REPO_ROOT, "ci/scripts", name), "utf8");
    expect(published!.cluster!.nodeImage).toEqual({ kind: "published", ref: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5" });
    expect(published!.tools).toEqual({ image: DIND_IMAGE, kind: { version: "v0.33.0", sha256: expect.objectContaining({ amd64: expect.any(String), arm64: expect.any(String) }) }, kubectl: expect.objectContaining({ version: "1.37.1" }) });
    expect(published!.service!.scripts).toEqual({ "dockerd.sh": script("dockerd.sh"), "kind-cluster.sh": script("kind-cluster.sh"), "session.sh": script("session.sh") });
    expect(published!.nodeImageBuild).toBeUndefined();
    expect(built!.nodeImageBuild).toEqual({ "build-node-image.sh": script("build-node-image.sh"), "dockerd.sh": script("dockerd.sh") });
  });

  test("before starting, another live run of the cluster fails fast, with what runs and what to do, and nothing starts", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: CONFLICTS }, execFailure({ exitCode: 5, stdout: "this definition (3f2a9c0d1e4b) runs in another Dagger session (ready)\n" }));
    const error = await startWith(engine);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message.split("\n")).toEqual([
      expect.stringMatching(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) is already running on this engine, for another run \(this one's definition: [0-9a-f]{12}\)$/),
      "",
      "what runs:",
      "  | this definition (3f2a9c0d1e4b) runs in another Dagger session (ready)",
      "",
      "Waiting would last until that run's session ends. Reach that cluster with `dagger call kubeconfig --local` if it is yours, end that `dagger call` to stop it, or give this project its own cluster.name.",
    ]);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
    engine.expectNever(/withServiceBinding/);
  });

  test("the check reads every definition's state, before the service starts and without binding it", async ({ engine }) => {
    amd64(engine);
    await startWith(engine);
    const definition = await engine.run(() => definitionOf(threeImages()));
    const [check] = engine.find(CONFLICTS, { leaf: "sync" });
    expect(calls(check!.call, "withExec").map((c) => c.args.args)).toEqual([["sh", "/kind-pipeline/scripts/cluster-conflicts.sh", "/kind-pipeline/state", definition]]);
    expect(calls(check!.call, "withMountedCache").map((c) => (c.args.cache as Call).args.key)).toEqual(["kind-pipeline-state-kind-pipeline-1-37-0"]);
    expect(check!.text).not.toContain("withServiceBinding");
    expect(check!.seq).toBeLessThan(engine.find("", { leaf: "start" })[0]!.seq);
    expect(envOf(check!.call).KIND_PIPELINE_OBSERVATION).toBeDefined();
  });
});

describe("a service that is gone is never bound again", () => {
  /** The leaves of diagnostics run in a container bound to the service. */
  const boundDiagnostics = (engine: StandInEngine) => engine.find("withServiceBinding", { leaf: "combinedOutput" });

  test("nodes that never get Ready, from a service that died meanwhile: its state alone, and no binding", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: '"kubectl","wait"' }, execFailure({ exitCode: 1, stderr: "error: timed out waiting for the condition\n" }))
      .reply({ leaf: "combinedOutput", where: runs("cluster-state.sh") }, answer("status: ready, but its heartbeat stopped 41s ago: the service was killed with its session\n"));
    // ready while polled, gone when the failure is reported
    engine.reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 4, stdout: "status: ready, but its heartbeat stopped 41s ago\n" }));
    engine.reply({ leaf: "sync", where: STATUS }, answer(), { times: 1 });
    const error = await startWith(engine);
    const message = (error as Error).message;
    expect(message).toMatch(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) is not ready: its nodes were not all Ready within 5s:/);
    expect(message).toContain("the cluster service's state:\n  | status: ready, but its heartbeat stopped 41s ago");
    expect(message).toMatch(/Its service no longer runs, so nothing was asked of its nodes/);
    expect(message).not.toMatch(/docker ps -a|kubectl get nodes -o wide/);
    expect(boundDiagnostics(engine)).toEqual([]);
  });

  test("a cluster that stayed in creation and died at the end: no binding either", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 4, stdout: "status: failed: dockerd exited; the cluster is gone\n" }))
      .reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 3, stdout: "status: creating\n" }), { times: 3 })
      .reply({ leaf: "combinedOutput", where: runs("cluster-state.sh") }, answer("status: failed: dockerd exited; the cluster is gone\n"));
    const error = await startWith(engine);
    expect((error as Error).message).toMatch(/is not ready: not every node was up after \ds \(status: creating\)/);
    expect(boundDiagnostics(engine)).toEqual([]);
    engine.expectNever("withServiceBinding");
  });

  test("while it runs, the diagnostics bind it", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: '"kubectl","wait"' }, execFailure({ exitCode: 1, stderr: "timed out\n" }))
      .reply({ leaf: "combinedOutput" }, answer("diagnostic output\n"));
    await startWith(engine);
    expect(boundDiagnostics(engine)).toHaveLength(3);
  });

  test("a failing kubectl get nodes while polling is asked again, not fatal", async ({ engine }) => {
    amd64(engine).reply({ leaf: "stdout", where: LIST_NODES }, execFailure({ exitCode: 1, stderr: "The connection to the server kind-pipeline-1-37-0:6443 was refused\n" }), { times: 2 });
    expect(await startWith(engine)).not.toBeInstanceOf(Error);
    expect(engine.find(LIST_NODES, { leaf: "stdout" }).map((l) => l.outcome)).toEqual(["exec-error", "exec-error", "answer"]);
  });
});

describe("the live cluster for later stages", () => {
  /** Starts the default cluster and hands the live cluster to `use`, inside the same session. */
  const withLive = <T>(engine: StandInEngine, use: (live: LiveCluster) => Promise<T>) =>
    engine.run(async () => {
      const run = await runAt(threeImages(), {});
      const tools = await toolbox(run.plan.kind);
      const cluster = run.plan.clusters[0]!;
      return use(await startCluster(run, cluster, tools, await nodeImageFor(cluster.nodeImage, async () => tools), QUICK));
    });

  test("a client bound to the service under the cluster's name, with DOCKER_HOST, KUBECONFIG and the kubeconfig there", async ({ engine }) => {
    amd64(engine);
    const { client, kubeconfig, service, cluster } = await withLive(engine, async (live) => ({
      client: engine.callOf(await live.client.id()),
      kubeconfig: engine.callOf(await live.kubeconfig.id()),
      service: engine.callOf(await live.service.id()),
      cluster: live.cluster,
    }));
    expect(cluster.name).toBe("kind-pipeline-1-37-0");
    expect(calls(client, "withServiceBinding").map((c) => [c.args.alias, (c.args.service as Call).text])).toEqual([["kind-pipeline-1-37-0", service.text]]);
    expect(envOf(client)).toMatchObject({ DOCKER_HOST: "tcp://kind-pipeline-1-37-0:2375", KUBECONFIG: "/kind-pipeline/kubeconfig" });
    const file = calls(client, "withFile").find((c) => c.args.path === "/kind-pipeline/kubeconfig");
    expect((file?.args.source as Call).text).toBe(kubeconfig.text);
    expect(kubeconfig.text).toMatch(/"kubectl","wait","--for=condition=Ready".*\.file\(path:"\/kind-pipeline\/kubeconfig"\)$/);
    expect(calls(client, "withExec")).toEqual([]);
  });

  test("isLive reads the service's status without binding it: starting or creating or ready is live, anything else is not", async ({ engine }) => {
    amd64(engine);
    const answers = await withLive(engine, async (live) => {
      const seen = [];
      for (const [exitCode, stdout] of [[3, "status: creating\n"], [4, "status: stopped\n"], [4, "status: ready, but its heartbeat stopped 400s ago\n"]] as const) {
        engine.reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode, stdout }), { times: 1 });
        seen.push(await live.isLive());
      }
      seen.push(await live.isLive());
      return seen;
    });
    expect(answers).toEqual([true, false, false, true]);
    const reads = engine.find(STATUS, { leaf: "sync" }).slice(-4);
    expect(reads.filter((l) => l.text.includes("withServiceBinding"))).toEqual([]);
    expect(new Set(reads.map((l) => envOf(l.call).KIND_PIPELINE_OBSERVATION)).size).toBe(4);
  });

  test("isLive of a cluster never started is false, and starts nothing", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64")).reply({ leaf: "sync", where: STATUS }, execFailure({ exitCode: 4, stdout: "status: none: no cluster service has run on this volume\n" }));
    const live = await engine.run(async () => {
      const run = await runAt(threeImages(), {});
      return isLive(run.plan.clusters[0]!, await toolbox(run.plan.kind), run.plan.kind);
    });
    expect(live).toBe(false);
    engine.expectNever(/withServiceBinding|asService/);
  });

  test("a service that does not stop within the grace period is killed", async ({ engine }) => {
    amd64(engine).reply({ leaf: "stop", where: /\.stop$/ }, hang()).reply({ leaf: "stop", where: "stop(kill:true)" }, answer());
    const started = Date.now();
    await withLive(engine, (live) => stopCluster(live.service, 0.3));
    expect(engine.find("", { leaf: "stop" }).map((l) => l.call.args)).toEqual([{}, { kill: true }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  test("stop stops the service gracefully (no kill)", async ({ engine }) => {
    amd64(engine).reply({ leaf: "stop" }, answer());
    const serviceText = await withLive(engine, async (live) => {
      await live.stop();
      return engine.callOf(await live.service.id()).text;
    });
    const stops = engine.find("", { leaf: "stop" });
    expect(stops.map((l) => [l.call.parent!.text, l.call.args])).toEqual([[serviceText, {}]]);
  });
});

describe("kubeconfig for the host", () => {
  const READ = runs("read-kubeconfig.sh");
  const hostKubeconfigOf = (engine: StandInEngine, selection: Selection = {}) =>
    engine.run(async () => {
      const run = await runAt(threeImages(), selection);
      return hostKubeconfig(run.plan.clusters[0]!, await toolbox(run.plan.kind), run.plan.kind, QUICK).catch((e: unknown) => e);
    });

  test("reads a live cluster's kubeconfig from the service's state, for https://localhost:6443, starting nothing", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    const root = threeImages();
    const definition = await engine.run(async () => {
      await (await pipelineAt(root).kubeconfig(undefined, true)).id();
      return definitionOf(root);
    });
    const file = engine.find(READ, { leaf: "id", ids: true }).at(-1)!.call;
    expect(calls(file, "withExec").map((c) => c.args.args)).toEqual([
      ["sh", "/kind-pipeline/scripts/read-kubeconfig.sh", `/kind-pipeline/state/${definition}`, "kind-pipeline-1-37-0", "https://localhost:6443", "/kind-pipeline/kubeconfig"],
    ]);
    expect(calls(file, "withMountedCache").map((c) => (c.args.cache as Call).args.key)).toEqual(["kind-pipeline-state-kind-pipeline-1-37-0"]);
    engine.expectNever(/asService|dockerBuild/);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
  });

  test("waits while the cluster is being created", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 3, stderr: "status: creating\n" }), { times: 2 });
    expect(await hostKubeconfigOf(engine)).not.toBeInstanceOf(Error);
    expect(engine.find(READ, { leaf: "sync" }).map((l) => l.outcome)).toEqual(["exec-error", "exec-error", "answer"]);
  });

  test("without a live cluster, says so at once and how to start one", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 4, stderr: "status: ready, but its heartbeat stopped 412s ago: the service was killed with its session\n" }));
    const error = await hostKubeconfigOf(engine, { kubernetes: ["1.36.4"] });
    expect((error as Error).message.split("\n")).toEqual([
      expect.stringMatching(/^cluster: no running cluster publishes a kubeconfig for Kubernetes 1\.36\.4 \(kind-pipeline-1-36-4\) \(definition [0-9a-f]{12}\)$/),
      "",
      "the cluster service's state:",
      "  | status: ready, but its heartbeat stopped 412s ago: the service was killed with its session",
      "",
      "Start one first, in another terminal, and keep it running: dagger call cluster --kubernetes=1.36.4 up --ports 6443:6443",
    ]);
    expect(engine.find(READ, { leaf: "sync" })).toHaveLength(1);
  });

  test("without a live cluster of this definition, names another definition of the cluster that runs", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 4, stderr: "status: none: no cluster service has run on this volume\n" }))
      .reply({ leaf: "sync", where: CONFLICTS }, execFailure({ exitCode: 5, stdout: "another definition (0b1c2d3e4f5a) of this cluster runs (ready)\n" }));
    const error = await hostKubeconfigOf(engine);
    expect((error as Error).message).toContain(
      "other runs of this cluster name (another config or module version started them):\n  | another definition (0b1c2d3e4f5a) of this cluster runs (ready)",
    );
    expect(engine.find(CONFLICTS, { leaf: "sync" }).filter((l) => l.text.includes("withServiceBinding"))).toEqual([]);
  });

  test("gives up, with a bound, on a cluster that stays in creation", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 3, stderr: "status: creating\n" }));
    const error = await hostKubeconfigOf(engine);
    expect((error as Error).message).toMatch(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) was not ready after \ds \(status: creating\)/);
    expect(engine.find(READ, { leaf: "sync" })).toHaveLength(3);
  });

  test("a copy that fails is reported as such, not as a missing cluster", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "sync", where: READ }, execFailure({ exitCode: 1, stderr: "error: open /kind-pipeline/kubeconfig: read-only file system\n" }));
    const error = await hostKubeconfigOf(engine);
    expect((error as Error).message).toMatch(/^cluster: the kubeconfig of Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) could not be copied\n/);
    expect((error as Error).message).toContain("read-only file system");
  });
});

describe("the build gate", () => {
  test("with a failing image build, no call of the cluster stage is made", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: /images\/pytorch"\)\.dockerBuild/ }, execFailure({ exitCode: 1, stderr: "ModuleNotFoundError: No module named 'torch'\n" }));
    const clusterFunctions: ((root: string) => Promise<unknown>)[] = [(root) => pipelineAt(root).cluster(), (root) => pipelineAt(root).kubeconfig()];
    for (const call of clusterFunctions) {
      const error = await engine.run(() => call(threeImages())).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BuildFailure);
    }
    engine.expectNever(DOWNSTREAM);
    engine.expectNever(/defaultPlatform|dl\.k8s\.io/);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
  });
});
