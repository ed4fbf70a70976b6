/**
 * The cluster stage on the stand-in engine: the service as defined, node image resolution, start
 * failures and readiness with diagnostics, kubeconfigs, pinned downloads, and the build gate.
 */
import { dag } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { parse } from "yaml";
import { BuildFailure } from "../ci/src/build.js";
import { ClusterError } from "../ci/src/cluster-error.js";
import { clusterService, hostKubeconfig, startCluster, type Patience } from "../ci/src/cluster.js";
import { ConfigError } from "../ci/src/config.js";
import { nodeImageFor } from "../ci/src/node-images.js";
import { DIND_IMAGE } from "../ci/src/releases.js";
import { toolbox } from "../ci/src/tools.js";
import type { Call } from "./support/calls.js";
import type { StandInEngine } from "./support/engine.js";
import { DOWNSTREAM, pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { answer, engineError, execFailure } from "./support/replies.js";

const KIND_AMD64 = "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64";
const QUICK: Patience = { attempts: 3, intervalMs: 0, readySeconds: 5 };

/** The engine answers as a linux/amd64 engine whose services start. */
function amd64(engine: StandInEngine): StandInEngine {
  return engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64")).reply({ leaf: "start" }, answer());
}

/** A literal string as a RegExp source. */
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The calls of a chain with the given field, in order. */
const calls = (call: Call, field: string) => call.path.filter((c) => c.field === field);

describe("the cluster service as defined", () => {
  test("docker:dind with root capabilities, both ports, a Locked docker cache, and the generated kind config", async ({ engine }) => {
    amd64(engine);
    const root = threeImages({ config: "cluster:\n  workers: 2\n  nodeLabels: { example.com/pool: e2e }" });
    await engine.run(async () => (await pipelineAt(root).cluster()).id());
    const service = engine.find(/asService/, { leaf: "id", ids: true }).at(-1)!.call;

    expect(calls(service, "from").map((c) => c.args.address)).toEqual([DIND_IMAGE]);
    expect(calls(service, "asService")[0]?.args).toEqual({ args: ["sh", "/kind-pipeline/scripts/kind-cluster.sh"], insecureRootCapabilities: true });
    expect(calls(service, "withExposedPort").map((c) => c.args.port)).toEqual([2375, 6443]);
    const caches = calls(service, "withMountedCache").map((c) => [c.args.path, (c.args.cache as Call).args.key, String((c.args.sharing as { name: string }).name)]);
    expect(caches).toEqual([
      ["/var/lib/docker", "kind-pipeline-docker-kind-pipeline-1-37-0", "LOCKED"],
      ["/kind-pipeline/state", "kind-pipeline-state-kind-pipeline-1-37-0", "SHARED"],
    ]);
    const env = Object.fromEntries(calls(service, "withEnvVariable").map((c) => [c.args.name, c.args.value]));
    expect(env).toMatchObject({
      DOCKER_TLS_CERTDIR: "",
      CLUSTER_NAME: "kind-pipeline-1-37-0",
      NODE_IMAGE: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
    });
    expect(env.NODE_IMAGE_ARCHIVE).toBeUndefined();
    expect(calls(service, "withMountedDirectory")[0]?.args.source).toMatchObject({ field: "directory", args: { path: "scripts" } });
    expect((calls(service, "withMountedDirectory")[0]?.args.source as Call).text).toBe('currentModule.source.directory(path:"scripts")');

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
    await engine.run(async () => (await pipelineAt(root).cluster()).id());
    const service = engine.find(/asService/, { leaf: "id", ids: true }).at(-1)!.call;
    const config = parse(String(calls(service, "withNewFile")[0]?.args.contents));
    expect(config.nodes).toEqual([{ role: "control-plane", labels: { "example.com/pool": "e2e" } }]);
  });

  test("is the same definition for every function of a session, so they share one instance", async ({ engine }) => {
    amd64(engine);
    const root = threeImages();
    await engine.run(async () => {
      await (await pipelineAt(root).cluster()).id();
      await (await pipelineAt(root).cluster("v1.37.0")).id();
    });
    const [first, second] = engine.find(/asService/, { leaf: "id", ids: true }).filter((l) => l.call.parent?.field === "asService");
    expect(second?.text).toBe(first?.text);
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
  test("a published version resolves to its pinned digest, with nothing to download or build", async ({ engine }) => {
    const image = await engine.run(async () => {
      const node = await pipelineAt(threeImages()).nodeImage("1.36.4");
      return { ref: node.ref, published: node.published, archive: node.archive };
    });
    expect(image).toEqual({
      ref: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
      published: true,
      archive: undefined,
    });
    engine.expectNever(/http|withExec|dockerBuild/);
  });

  test("an unpublished version is built once from the release binaries; a second call is the same cached build", async ({ engine }) => {
    amd64(engine);
    const root = threeImages();
    const archiveIds = await engine.run(async () => {
      const ids = [];
      for (let call = 0; call < 2; call++) {
        const node = await pipelineAt(root).nodeImage("1.38.0");
        expect([node.ref, node.published]).toEqual(["kind-pipeline/node:v1.38.0", false]);
        ids.push(await node.archive!.id());
      }
      return ids;
    });
    expect(archiveIds[1]).toBe(archiveIds[0]);
    const builds = engine.find(/build-node-image\.sh.*\.file\(path:"\/out\/node-image\.tar"\)\.id$/, { leaf: "id", ids: true }).map((l) => l.text);
    expect(new Set(builds).size).toBe(1);
    expect(builds[0]).toContain(
      '.withExec(args:["sh","/kind-pipeline/build-node-image.sh","v1.38.0","kind-pipeline/node:v1.38.0","/out/node-image.tar"],insecureRootCapabilities:true).file(path:"/out/node-image.tar")',
    );
    expect(builds[0]).toMatch(/^container\.from\(address:"docker:29\.9\.0-dind@sha256:[0-9a-f]{64}"\)\.withFile\(path:"\/usr\/local\/bin\/kind",source:<http\(url:"https:\/\/github\.com\/kubernetes-sigs\/kind/);
  });

  test("a built node image is loaded into the cluster service instead of pulled", async ({ engine }) => {
    amd64(engine);
    const run = await engine.run(() => runAt(threeImages(), { kubernetes: ["1.38.0"] }));
    await engine.run(async () => {
      const tools = await toolbox(run.plan.kind);
      const cluster = run.plan.clusters[0]!;
      await clusterService(cluster, tools, nodeImageFor(cluster.nodeImage, tools)).id();
    });
    const service = engine.find(/asService/, { leaf: "id", ids: true }).at(-1)!.call;
    const env = Object.fromEntries(calls(service, "withEnvVariable").map((c) => [c.args.name, c.args.value]));
    expect(env).toMatchObject({ NODE_IMAGE: "kind-pipeline/node:v1.38.0", NODE_IMAGE_ARCHIVE: "/kind-pipeline/node-image.tar" });
    expect((calls(service, "withMountedFile")[0]?.args.source as Call).text).toMatch(/build-node-image\.sh.*\.file\(path:"\/out\/node-image\.tar"\)$/);
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
  const probe = 'withExec(args:["kubectl","get","nodes","--request-timeout=5s"])';

  test("kubeconfig starts the cluster, waits for every node, and points at the service alias", async ({ engine }) => {
    amd64(engine);
    const id = await engine.run(async () => (await pipelineAt(threeImages()).kubeconfig()).id());
    expect(engine.find("", { leaf: "start" })).toHaveLength(1);
    const kubeconfig = engine.find(/kubectl","wait/, { leaf: "id", ids: true }).at(-1)!;
    expect(kubeconfig.text).toContain(
      'withExec(args:["kind","export","kubeconfig","--name","kind-pipeline-1-37-0","--kubeconfig","/kind-pipeline/kubeconfig"]).withExec(args:["kubectl","config","set-cluster","kind-kind-pipeline-1-37-0","--server=https://kind-pipeline-1-37-0:6443"])',
    );
    expect(kubeconfig.text).toMatch(/withExec\(args:\["kubectl","wait","--for=condition=Ready","nodes","--all","--timeout=180s"\]\)\.file\(path:"\/kind-pipeline\/kubeconfig"\)\.id$/);
    expect(kubeconfig.text).toContain('withServiceBinding(alias:"kind-pipeline-1-37-0",service:<');
    expect(id).toMatch(/^standin:/);
  });

  test("retries until the API server answers, each probe run anew rather than from the cache", async ({ engine }) => {
    amd64(engine).reply({ leaf: "sync", where: probe }, execFailure({ exitCode: 1, stderr: "The connection to the server kind-pipeline-1-37-0:6443 was refused\n" }), { times: 2 });
    await engine.run(async () => {
      const run = await runAt(threeImages(), {});
      const tools = await toolbox(run.plan.kind);
      const cluster = run.plan.clusters[0]!;
      await startCluster(cluster, tools, clusterService(cluster, tools, nodeImageFor(cluster.nodeImage, tools)), QUICK);
    });
    const probes = engine.find(new RegExp(`${escape(probe)}\\.sync$`), { leaf: "sync" });
    expect(probes.map((l) => l.outcome)).toEqual(["exec-error", "exec-error", "answer"]);
    const observations = probes.map((l) => calls(l.call, "withEnvVariable").find((c) => c.args.name === "KIND_PIPELINE_OBSERVATION")?.args.value);
    expect(new Set(observations).size).toBe(3);
  });

  test("a readiness timeout carries kubectl get nodes, docker ps -a and the control plane's log", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: probe }, execFailure({ exitCode: 1, stderr: "Unable to connect to the server: EOF\n" }))
      .reply({ leaf: "combinedOutput", where: '"get","nodes","-o","wide"' }, answer("The connection to the server kind-pipeline-1-37-0:6443 was refused\n"))
      .reply({ leaf: "combinedOutput", where: '"docker","ps","-a"' }, answer("CONTAINER ID   IMAGE   STATUS\nabc123   kindest/node   Exited (137)\n"))
      .reply({ leaf: "combinedOutput", where: '"docker","logs"' }, answer(Array.from({ length: 60 }, (_, i) => `systemd line ${i + 1}`).join("\n")));
    const error = await engine.run(async () => {
      const run = await runAt(threeImages(), {});
      const tools = await toolbox(run.plan.kind);
      const cluster = run.plan.clusters[0]!;
      return startCluster(cluster, tools, clusterService(cluster, tools, nodeImageFor(cluster.nodeImage, tools)), QUICK).catch((e: unknown) => e);
    });
    expect(error).toBeInstanceOf(ClusterError);
    const message = (error as Error).message;
    expect(message.split("\n")[0]).toBe("cluster: Kubernetes 1.37.0 (kind-pipeline-1-37-0) is not ready: its API server did not answer in 3 attempts over 0s");
    expect(message).toContain("last failure:\n  command: kubectl get nodes --request-timeout=5s (exit code 1)\n  last 1 lines of stderr:\n    | Unable to connect to the server: EOF");
    expect(message).toContain("kubectl get nodes -o wide:\n  | The connection to the server kind-pipeline-1-37-0:6443 was refused");
    expect(message).toContain("docker ps -a (the Docker-in-Docker daemon):\n  | CONTAINER ID   IMAGE   STATUS\n  | abc123   kindest/node   Exited (137)");
    expect(message).toContain("kind-pipeline-1-37-0-control-plane log (last 40 lines):\n  | systemd line 21\n");
    expect(message).not.toContain("systemd line 20\n");
    expect(engine.find(probe, { leaf: "sync" })).toHaveLength(3);
    expect(engine.find('"docker","logs","--tail","40","kind-pipeline-1-37-0-control-plane"', { leaf: "combinedOutput" })).toHaveLength(1);
  });

  test("nodes that never get Ready fail with the same diagnostics", async ({ engine }) => {
    amd64(engine)
      .reply({ leaf: "sync", where: '"kubectl","wait"' }, execFailure({ exitCode: 1, stderr: "error: timed out waiting for the condition on nodes/kind-pipeline-1-37-0-worker\n" }))
      .reply({ leaf: "combinedOutput" }, answer("diagnostic output\n"));
    const error = await engine.run(async () => {
      const run = await runAt(threeImages(), {});
      const tools = await toolbox(run.plan.kind);
      const cluster = run.plan.clusters[0]!;
      return startCluster(cluster, tools, clusterService(cluster, tools, nodeImageFor(cluster.nodeImage, tools)), QUICK).catch((e: unknown) => e);
    });
    expect((error as Error).message).toMatch(/^cluster: Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) is not ready: its nodes were not all Ready within 5s/);
    expect((error as Error).message).toContain("timed out waiting for the condition on nodes/kind-pipeline-1-37-0-worker");
    expect(engine.find("", { leaf: "combinedOutput" })).toHaveLength(3);
  });

  test("a service that does not start reports kind's output; nothing waits on it", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "start" }, engineError("start kind-pipeline-1-37-0: service exited: exit code 1"))
      .reply(
        { leaf: "combinedOutput", where: '"tail","-n","40","/kind-pipeline/state/create.log"' },
        answer("Creating cluster \"kind-pipeline-1-37-0\" ...\nERROR: failed to create cluster: failed to init node with kubeadm: invalid kubeadm patch\n"),
      );
    const error = await engine.run(() => pipelineAt(threeImages()).kubeconfig()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    const message = (error as Error).message;
    expect(message).toMatch(/^cluster: the Kind cluster service for Kubernetes 1\.37\.0 \(kind-pipeline-1-37-0\) did not start\n\n {2}error: start kind-pipeline-1-37-0: service exited: exit code 1/);
    expect(message).toContain("kind create cluster (last lines):\n  | Creating cluster \"kind-pipeline-1-37-0\" ...\n  | ERROR: failed to create cluster: failed to init node with kubeadm: invalid kubeadm patch");
    engine.expectNever(/"kubectl"/);
  });
});

describe("kubeconfig for the host", () => {
  test("reads the running cluster's kubeconfig from the service's state, for https://localhost:6443, starting nothing", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    await engine.run(async () => (await pipelineAt(threeImages()).kubeconfig(undefined, true)).id());
    const file = engine.find(/set-cluster/, { leaf: "id", ids: true }).at(-1)!.text;
    expect(file).toContain('withMountedCache(path:"/kind-pipeline/state",cache:<cacheVolume(key:"kind-pipeline-state-kind-pipeline-1-37-0")>,sharing:SHARED)');
    expect(file).toContain('withExec(args:["cp","/kind-pipeline/state/kubeconfig","/kind-pipeline/kubeconfig"]).withExec(args:["kubectl","--kubeconfig","/kind-pipeline/kubeconfig","config","set-cluster","kind-kind-pipeline-1-37-0","--server=https://localhost:6443"])');
    engine.expectNever(/asService|"start"|dockerBuild/);
    expect(engine.find("", { leaf: "start" })).toEqual([]);
  });

  test("without a running cluster, says how to start one", async ({ engine }) => {
    engine
      .reply({ leaf: "defaultPlatform" }, answer("linux/amd64"))
      .reply({ leaf: "sync", where: '"cp","/kind-pipeline/state/kubeconfig"' }, execFailure({ exitCode: 1, stderr: "cp: can't stat '/kind-pipeline/state/kubeconfig': No such file or directory\n" }))
      .reply({ leaf: "combinedOutput", where: '"cat","/kind-pipeline/state/status"' }, answer("stopped\n"));
    const error = await engine.run(async () => {
      const run = await runAt(threeImages(), { kubernetes: ["1.36.4"] });
      return hostKubeconfig(run.plan.clusters[0]!, await toolbox(run.plan.kind), QUICK).catch((e: unknown) => e);
    });
    expect((error as Error).message.split("\n")).toEqual([
      "cluster: no running cluster publishes a kubeconfig for Kubernetes 1.36.4 (kind-pipeline-1-36-4)",
      "",
      "status of the cluster service:",
      "  | stopped",
      "",
      "Start one first, in another terminal: dagger call cluster --kubernetes=1.36.4 up --ports 6443:6443",
    ]);
    expect(engine.find('"cp"', { leaf: "sync" })).toHaveLength(3);
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
    engine.expectNever(/defaultPlatform|kind-linux|dl\.k8s\.io|"start"/);
    expect(engine.find("", { leaf: "defaultPlatform" })).toEqual([]);
  });

  test("the real SDK's dag is the one the module uses", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    expect(await engine.run(() => dag.defaultPlatform())).toBe("linux/amd64");
  });
});
