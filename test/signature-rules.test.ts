/**
 * The rules of failure signatures one by one: the exact summary and details each gives, which rule wins
 * when several containers fail, how image references are normalized at the edges of the grammar, and
 * that pod lists of unexpected shapes are read as far as they make sense and never thrown on.
 */
import { describe, expect, it } from "vitest";
import { normalizeRef, podSignatures, type SignatureContext } from "../ci/src/signatures.js";

const DIGEST = `sha256:${"a1".repeat(32)}`;
const NODE = "kind-pipeline-worker";

type Json = Record<string, unknown>;

/** A container of a pod: its spec and its status, either of which may be left out. */
interface ContainerParts {
  spec?: Json;
  status?: Json;
}

/** A pod as kubectl prints it; containers are given by name, each with the parts of its spec and status. */
function pod(
  name: string,
  containers: Record<string, ContainerParts>,
  extra: { namespace?: unknown; spec?: Json; status?: Json; init?: Record<string, ContainerParts> } = {},
): Json {
  const specs = (parts: Record<string, ContainerParts>) =>
    Object.entries(parts)
      .filter(([, p]) => p.spec)
      .map(([n, p]) => ({ name: n, ...p.spec }));
  const statuses = (parts: Record<string, ContainerParts>) =>
    Object.entries(parts)
      .filter(([, p]) => p.status)
      .map(([n, p]) => ({ name: n, restartCount: 0, ...p.status }));
  return {
    metadata: { name, ...("namespace" in extra ? { namespace: extra.namespace } : { namespace: "ml" }) },
    spec: { nodeName: NODE, initContainers: specs(extra.init ?? {}), containers: specs(containers), ...extra.spec },
    status: {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "True" }],
      initContainerStatuses: statuses(extra.init ?? {}),
      containerStatuses: statuses(containers),
      ...extra.status,
    },
  };
}

const list = (...items: unknown[]) => JSON.stringify({ kind: "List", items });

const waitingFor = (reason: string, message?: string) => ({ state: { waiting: { reason, ...(message ? { message } : {}) } } });

const LOADED: SignatureContext["loaded"] = [
  { name: "jax", ref: "kind-pipeline.local/jax:build-1" },
  { name: "torch", ref: "kind-pipeline.local/pytorch-cpu:build-2" },
];

function signatures(json: string, context: SignatureContext = { loaded: LOADED }) {
  return podSignatures(json, context);
}

/** The one signature of a pod list of one pod. */
function only(item: Json, context: SignatureContext = { loaded: LOADED }) {
  const found = podSignatures(list(item), context);
  expect(found).toHaveLength(1);
  return found[0];
}

describe("normalizeRef at the edges of the reference grammar", () => {
  it.each([
    ["", ""],
    ["   ", ""],
    ["docker.io/library/jax:1", "docker.io/library/jax:1"],
    ["docker.io/team/jax", "docker.io/team/jax:latest"],
    ["index.docker.io/jax:1", "docker.io/library/jax:1"],
    ["index.docker.io/team/jax:1", "docker.io/team/jax:1"],
    ["localhost/team/jax:1", "localhost/team/jax:1"],
    ["localhost:5000/jax", "localhost:5000/jax:latest"],
    ["registry:5000/jax", "registry:5000/jax:latest"],
    ["registry:5000/team/jax:2.1", "registry:5000/team/jax:2.1"],
    ["Registry/jax:1", "Registry/jax:1"],
    ["MyHost/team/jax", "MyHost/team/jax:latest"],
    ["team/jax", "docker.io/team/jax:latest"],
    ["a/b/c:1", "docker.io/a/b/c:1"],
    [`registry:5000/jax@${DIGEST}`, `registry:5000/jax@${DIGEST}`],
    [`docker.io/jax@${DIGEST}`, `docker.io/library/jax@${DIGEST}`],
    [`jax:1@${DIGEST}`, `docker.io/library/jax:1@${DIGEST}`],
  ])("%j → %j", (ref, normalized) => {
    expect(normalizeRef(ref)).toBe(normalized);
  });
});

describe("image pull failures", () => {
  const pulling = (image: string, imagePullPolicy?: string, reason = "ErrImagePull", message?: string): ContainerParts => ({
    spec: { image, ...(imagePullPolicy ? { imagePullPolicy } : {}) },
    status: { image, ...waitingFor(reason, message) },
  });

  it("blames the :latest default when the pull policy is Always and the tag is latest", () => {
    const found = only(pod("p", { main: pulling("jax:latest", "Always") }), { loaded: [{ name: "jax", ref: "jax" }] });
    expect(found).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "ErrImagePull",
      summary:
        'image jax:latest of container "main" was loaded into the cluster (as jax) but the kubelet tries to pull it: its imagePullPolicy is Always ' +
        "(the default for a :latest or untagged image); set imagePullPolicy: IfNotPresent or use a tag other than latest",
      details: [],
    });
  });

  it("blames the node, not the tag, when a :latest image has the pull policy IfNotPresent", () => {
    const found = only(pod("p", { main: pulling("jax:latest", "IfNotPresent", "ImagePullBackOff", "Back-off pulling image") }), {
      loaded: [{ name: "jax", ref: "docker.io/library/jax:latest" }],
    });
    expect(found?.summary).toBe(
      'image jax:latest of container "main" was loaded into the cluster (as jax) but the kubelet tries to pull it: ' +
        `node ${NODE} does not have it (imagePullPolicy IfNotPresent); check that the load reached every node`,
    );
    expect(found?.details).toEqual(["Back-off pulling image"]);
  });

  it("says the policy is unknown, and names no node, when the pod gives neither for a tagged image", () => {
    const item = pod("p", { main: pulling("jax:1") }, { spec: { nodeName: "  " } });
    expect(only(item, { loaded: [{ name: "jax", ref: "jax:1" }] })?.summary).toBe(
      'image jax:1 of container "main" was loaded into the cluster (as jax) but the kubelet tries to pull it: ' +
        "its node does not have it (imagePullPolicy unknown); check that the load reached every node",
    );
  });

  it("names the loaded image whose name is the repository asked for, whatever its ref", () => {
    const found = only(pod("p", { main: pulling("ghcr.io/example/jax:2") }), {
      loaded: [{ name: "jax", ref: "kind-pipeline.local/other:1" }],
    });
    expect(found?.summary).toBe(
      'image ghcr.io/example/jax:2 of container "main" was not loaded into the cluster: the pod asks for ghcr.io/example/jax:2, ' +
        "loaded refs are kind-pipeline.local/other:1 (jax); make the manifest use $IMAGE_JAX or set images.jax.ref",
    );
  });

  it("names the loaded image whose ref has the repository asked for, whatever its name", () => {
    const found = only(pod("p", { main: pulling("ghcr.io/example/pytorch-cpu:v2", undefined, "ImagePullBackOff") }));
    expect(found).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "ImagePullBackOff",
      summary:
        'image ghcr.io/example/pytorch-cpu:v2 of container "main" was not loaded into the cluster: the pod asks for ghcr.io/example/pytorch-cpu:v2, ' +
        "loaded refs are kind-pipeline.local/jax:build-1 (jax), kind-pipeline.local/pytorch-cpu:build-2 (torch); " +
        "make the manifest use $IMAGE_TORCH or set images.torch.ref",
      details: [],
    });
  });

  it("takes the image from the status when the spec is missing", () => {
    const item = { metadata: { name: "p" }, status: { containerStatuses: [{ name: "main", image: "jax:9", ...waitingFor("ErrImageNeverPull") }] } };
    expect(only(item, { loaded: [] })).toEqual({
      namespace: "default",
      pod: "p",
      reason: "ErrImageNeverPull",
      summary:
        'image jax:9 of container "main" was not loaded into the cluster: the pod asks for docker.io/library/jax:9, no image was loaded; ' +
        "make the manifest use $IMAGE_<NAME> or set images.<name>.ref",
      details: [],
    });
  });

  it("reports a pull failure of a container without an image as an ordinary wait", () => {
    const item = pod("p", { main: { spec: {}, status: waitingFor("ErrImagePull", "no image") } });
    expect(only(item)?.summary).toBe('container "main" is waiting (ErrImagePull): no image');
  });
});

describe("OOM kills", () => {
  it("reads a current OOM kill, the limit given as a number, and a single restart", () => {
    const item = pod("p", {
      main: {
        spec: { image: "jax:1", resources: { limits: { memory: 536870912 } } },
        status: { restartCount: 1, state: { terminated: { reason: "OOMKilled", exitCode: 137 } } },
      },
    });
    expect(only(item)).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "OOMKilled",
      summary: 'container "main" was OOMKilled: it used more memory than its limit of 536870912 (restarted once)',
      details: [],
    });
  });

  it("treats a blank memory limit as none", () => {
    const item = pod("p", {
      main: {
        spec: { resources: { limits: { memory: "  " } } },
        status: { restartCount: 7, ...waitingFor("CrashLoopBackOff"), lastState: { terminated: { reason: "OOMKilled" } } },
      },
    });
    expect(only(item)?.summary).toBe('container "main" was OOMKilled: it has no memory limit, so the node itself ran out of memory (restarted 7 times)');
  });
});

describe("crash loops and failed containers", () => {
  it("gives no log lines when none were collected, and an unknown code when the last exit has none", () => {
    const item = pod("p", {
      main: { spec: {}, status: { restartCount: 2, ...waitingFor("CrashLoopBackOff"), lastState: { terminated: { reason: "Error" } } } },
    });
    expect(only(item, { loaded: LOADED, logs: { "ml/p/other": "unrelated\n" } })).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "CrashLoopBackOff",
      summary: 'container "main" keeps crashing (restarted 2 times): it last exited with an unknown code (Error)',
      details: [],
    });
  });

  it("gives no log lines when the collected log is blank", () => {
    const item = pod("p", { main: { spec: {}, status: { restartCount: 1, ...waitingFor("CrashLoopBackOff", "back-off 10s") } } });
    expect(only(item, { loaded: LOADED, logs: { "ml/p/main": " \n\n" } })?.details).toEqual(["back-off 10s"]);
  });

  it("calls a failure without a reason an Error and quotes only the code", () => {
    const item = pod("p", { main: { spec: {}, status: { state: { terminated: { exitCode: 126 } } } } });
    expect(only(item, { loaded: LOADED, logs: { "ml/p/main": "exec format error" } })).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "Error",
      summary: 'container "main" exited with code 126',
      details: ["last 1 log lines of main:", "| exec format error"],
    });
  });

  it("keeps the reason a container gives for its failure", () => {
    const item = pod("p", { main: { spec: {}, status: { state: { terminated: { exitCode: 128, reason: "StartError", message: "exec: not found" } } } } });
    expect(only(item)).toMatchObject({ reason: "StartError", summary: 'container "main" exited with code 128 (StartError)', details: ["exec: not found"] });
  });

  it.each([
    ["has no exit code", { reason: "Error" }],
    ["has an exit code that is not a number", { reason: "Error", exitCode: "1" }],
    ["exited with code 0", { reason: "Completed", exitCode: 0 }],
  ])("finds nothing in a container that terminated but %s", (_, terminated) => {
    expect(signatures(list(pod("p", { main: { spec: {}, status: { state: { terminated } } } })))).toEqual([]);
  });
});

describe("other waiting reasons", () => {
  it("reports a waiting reason without a message", () => {
    expect(only(pod("p", { main: { spec: {}, status: waitingFor("RunContainerError") } }))).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "RunContainerError",
      summary: 'container "main" is waiting (RunContainerError)',
      details: [],
    });
  });

  it.each(["ContainerCreating", "PodInitializing"])("does not report a container that is %s", (reason) => {
    const item = pod("p", { main: { spec: {}, status: waitingFor(reason, "starting") } }, { init: { setup: { spec: {}, status: { state: { running: {} } } } } });
    expect(signatures(list(item))).toEqual([]);
  });
});

describe("pods that do not run", () => {
  it("lists only containers that request something, and only quantities it can read", () => {
    const item = pod(
      "p",
      {
        sidecar: { spec: { resources: { requests: {} } } },
        main: { spec: { resources: { requests: { cpu: 2, memory: "4Gi", "nvidia.com/gpu": null, ephemeral: " " } } } },
        idle: { spec: {} },
      },
      { status: { conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: " 0/1 nodes are available " }] } },
    );
    expect(only(item)).toEqual({
      namespace: "ml",
      pod: "p",
      reason: "Pending",
      summary: "pod cannot be scheduled: 0/1 nodes are available",
      details: ['container "main" requests cpu 2, memory 4Gi'],
    });
  });

  it.each([
    ["an array", ["4"]],
    ["a string", "4"],
  ])("reads no requests given as %s", (_, requests) => {
    const item = pod("p", { main: { spec: { resources: { requests } } } }, { status: { conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }] } });
    expect(only(item)).toMatchObject({ summary: "pod cannot be scheduled: Unschedulable", details: [] });
  });

  it("says so when the scheduler gives neither message nor reason, for a pod with neither status of its containers nor image", () => {
    const item = {
      metadata: { name: "p" },
      spec: { containers: [{ name: "main" }] },
      status: { conditions: [{ type: "PodScheduled", status: "False" }] },
    };
    expect(only(item)).toEqual({ namespace: "default", pod: "p", reason: "Pending", summary: "pod cannot be scheduled: no reason given", details: [] });
  });

  it("reads only the PodScheduled condition", () => {
    const item = pod(
      "p",
      { main: { spec: {}, status: waitingFor("CreateContainerConfigError") } },
      { status: { conditions: [{ type: "Ready", status: "False", reason: "ContainersNotReady" }, { type: "PodScheduled", status: "True" }] } },
    );
    expect(only(item)?.reason).toBe("CreateContainerConfigError");
  });

  it("says so when the node gave no reason for an eviction, and puts the eviction first", () => {
    const item = pod(
      "p",
      { main: { spec: {}, status: waitingFor("CrashLoopBackOff") } },
      { status: { reason: "Evicted", conditions: [{ type: "PodScheduled", status: "False", message: "no nodes" }] } },
    );
    expect(only(item)).toEqual({ namespace: "ml", pod: "p", reason: "Evicted", summary: "pod was evicted: the node gave no reason", details: [] });
  });
});

describe("which container and which rule names a pod's problem", () => {
  it("puts an image pull failure of a later container before a crash loop of an earlier one", () => {
    const item = pod("p", {
      first: { spec: {}, status: { restartCount: 3, ...waitingFor("CrashLoopBackOff") } },
      second: { spec: { image: "ghcr.io/x/other:1" }, status: waitingFor("ImagePullBackOff") },
    });
    expect(only(item)?.reason).toBe("ImagePullBackOff");
    expect(only(item)?.summary).toMatch(/^image ghcr\.io\/x\/other:1 of container "second" was not loaded/);
  });

  it("reads each container's own spec and status", () => {
    const item = pod("p", {
      first: { spec: { image: "jax:1", resources: { limits: { memory: "1Gi" } } }, status: { state: { running: {} } } },
      second: { spec: { image: "jax:2", resources: { limits: { memory: "2Gi" } } }, status: { restartCount: 5, state: { terminated: { reason: "OOMKilled", exitCode: 137 } } } },
    });
    expect(only(item)?.summary).toBe('container "second" was OOMKilled: it used more memory than its limit of 2Gi (restarted 5 times)');
  });

  it("looks at init containers before the others under the same rule", () => {
    const item = pod(
      "p",
      { main: { spec: {}, status: { state: { terminated: { exitCode: 1 } } } } },
      { init: { setup: { spec: {}, status: { state: { terminated: { exitCode: 2, reason: "Error" } } } } } },
    );
    expect(only(item)?.summary).toBe('container "setup" exited with code 2 (Error)');
  });

  it("ignores containers without a name", () => {
    const item = pod("p", {});
    (item.status as Json).containerStatuses = [{ restartCount: 9, ...waitingFor("CrashLoopBackOff") }, { name: "  ", ...waitingFor("CrashLoopBackOff") }];
    (item.spec as Json).containers = [{ image: "jax:1" }];
    expect(signatures(list(item))).toEqual([]);
  });
});

describe("pods of unexpected shapes", () => {
  it("trims the namespace, and takes a blank one as the default", () => {
    const crash = (name: string, namespace: unknown) => pod(name, { main: { spec: {}, status: waitingFor("RunContainerError") } }, { namespace });
    expect(signatures(list(crash("a", " ml "), crash("b", "   "), crash("c", ""), crash("d", undefined))).map((s) => `${s.namespace}/${s.pod}`)).toEqual([
      "ml/a",
      "default/b",
      "default/c",
      "default/d",
    ]);
  });

  it("reads a pod without status as one that is well, and one without spec from its status", () => {
    const noStatus = { metadata: { name: "a" }, spec: { containers: [{ name: "main", image: "jax:1" }], initContainers: [{ name: "init" }] } };
    const noSpec = {
      metadata: { name: "b", namespace: "ml" },
      status: { reason: "Failed", message: "gone", initContainerStatuses: [], containerStatuses: [{ name: "main", ...waitingFor("RunContainerError") }] },
    };
    expect(signatures(list(noStatus, noSpec))).toEqual([
      { namespace: "ml", pod: "b", reason: "RunContainerError", summary: 'container "main" is waiting (RunContainerError)', details: [] },
    ]);
  });

  it("skips states and conditions of the wrong types", () => {
    const item = pod(
      "p",
      {
        main: {
          spec: { resources: [{ limits: { memory: "1Gi" } }] },
          status: { state: { waiting: ["CrashLoopBackOff"], terminated: [{ reason: "OOMKilled" }] }, lastState: { terminated: null } },
        },
      },
      { status: { conditions: [["PodScheduled", "False"], null, "PodScheduled"] } },
    );
    expect(signatures(list(item))).toEqual([]);
  });
});
