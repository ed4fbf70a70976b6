/**
 * Failure signatures read from `kubectl get pods --all-namespaces -o json`: one person-readable line per
 * pod that is not well, with what supports it; and image references normalized the way containerd does.
 */
import { describe, expect, it } from "vitest";
import { normalizeRef, podSignatures, type SignatureContext } from "../ci/src/signatures.js";

const DIGEST = `sha256:${"4f".repeat(32)}`;

describe("normalizeRef", () => {
  it.each([
    ["jax:1", "docker.io/library/jax:1"],
    ["jax", "docker.io/library/jax:latest"],
    ["library/jax:1", "docker.io/library/jax:1"],
    ["docker.io/jax:1", "docker.io/library/jax:1"],
    ["index.docker.io/library/jax", "docker.io/library/jax:latest"],
    ["example/manager:v2", "docker.io/example/manager:v2"],
    ["ghcr.io/x/y:t", "ghcr.io/x/y:t"],
    ["ghcr.io/x/y", "ghcr.io/x/y:latest"],
    ["localhost/jax", "localhost/jax:latest"],
    ["localhost:5000/team/jax:1", "localhost:5000/team/jax:1"],
    ["registry.example.com:5000/jax", "registry.example.com:5000/jax:latest"],
    ["kind-pipeline.local/jax:build-3f2a9c", "kind-pipeline.local/jax:build-3f2a9c"],
    [`jax@${DIGEST}`, `docker.io/library/jax@${DIGEST}`],
    [`ghcr.io/x/y:t@${DIGEST}`, `ghcr.io/x/y:t@${DIGEST}`],
    [" jax:1 ", "docker.io/library/jax:1"],
  ])("%s → %s", (ref, normalized) => {
    expect(normalizeRef(ref)).toBe(normalized);
  });
});

// Fixtures: pods as `kubectl get pods -o json` prints them, trimmed to the fields that matter plus some that do not.

const LOADED: SignatureContext["loaded"] = [
  { name: "jax", ref: "kind-pipeline.local/jax:build-3f2a9c" },
  { name: "pytorch-cpu", ref: "kind-pipeline.local/pytorch-cpu:build-81b07e" },
];

interface ContainerFixture {
  name?: string;
  image?: string;
  imagePullPolicy?: string;
  resources?: object;
  state?: object;
  lastState?: object;
  restartCount?: number;
}

/** A pod of a Job with one container, as the API server returns it; `status` fields replace the defaults. */
function jobPod(name: string, container: ContainerFixture = {}, status: object = {}, namespace = "default") {
  const containerName = container.name ?? "train";
  const image = container.image ?? "kind-pipeline.local/jax:build-3f2a9c";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      uid: "6d7f2c1e-0a57-4b8e-9a43-2f0c9b1d5e11",
      labels: { "batch.kubernetes.io/job-name": name.replace(/-[a-z0-9]{5}$/, "") },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: name.replace(/-[a-z0-9]{5}$/, ""), controller: true }],
    },
    spec: {
      restartPolicy: "Never",
      nodeName: "kind-pipeline-1-37-0-worker",
      containers: [
        {
          name: containerName,
          image,
          imagePullPolicy: container.imagePullPolicy ?? "IfNotPresent",
          command: ["python", "/app/train.py"],
          resources: container.resources ?? {},
          terminationMessagePath: "/dev/termination-log",
        },
      ],
    },
    status: {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: "2026-11-26T10:00:00Z" }],
      hostIP: "172.18.0.3",
      podIP: "10.244.1.7",
      startTime: "2026-11-26T10:00:01Z",
      containerStatuses: [
        {
          name: containerName,
          image,
          imageID: "",
          ready: false,
          started: false,
          restartCount: container.restartCount ?? 0,
          state: container.state ?? { waiting: { reason: "ContainerCreating" } },
          lastState: container.lastState ?? {},
        },
      ],
      qosClass: "BestEffort",
      ...status,
    },
  };
}

function podList(...items: object[]): string {
  return JSON.stringify({ apiVersion: "v1", kind: "List", items, metadata: { resourceVersion: "" } });
}

const PULL_DENIED =
  'failed to pull and unpack image "docker.io/library/jax:latest": failed to resolve reference "docker.io/library/jax:latest": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed';

describe("image pull failures", () => {
  it("names an image that was not loaded, the loaded refs, and the variable to use instead", () => {
    const pod = jobPod("jax-smoke-x7k2p", { image: "jax:latest", state: { waiting: { reason: "ErrImagePull", message: PULL_DENIED } } });
    expect(podSignatures(podList(pod), { loaded: LOADED })).toEqual([
      {
        namespace: "default",
        pod: "jax-smoke-x7k2p",
        reason: "ErrImagePull",
        summary:
          'image jax:latest of container "train" was not loaded into the cluster: the pod asks for docker.io/library/jax:latest, ' +
          "loaded refs are kind-pipeline.local/jax:build-3f2a9c (jax), kind-pipeline.local/pytorch-cpu:build-81b07e (pytorch-cpu); " +
          "make the manifest use $IMAGE_JAX or set images.jax.ref",
        details: [PULL_DENIED],
      },
    ]);
  });

  it("matches a loaded image by its repository name too, with the variable spelled as steps get it", () => {
    const pod = jobPod("torch-smoke-a1b2c", {
      image: "ghcr.io/example/pytorch-cpu:v2",
      state: { waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "ghcr.io/example/pytorch-cpu:v2"' } },
    });
    const [signature] = podSignatures(podList(pod), { loaded: LOADED });
    expect(signature?.summary).toMatch(/make the manifest use \$IMAGE_PYTORCH_CPU or set images\.pytorch-cpu\.ref$/);
    expect(signature?.reason).toBe("ImagePullBackOff");
  });

  it("gives the general advice when no loaded image resembles the one asked for, and says when nothing was loaded", () => {
    const pod = jobPod("manager-6c9f7", {
      name: "manager",
      image: "example/manager:v2",
      state: { waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "example/manager:v2"' } },
    });
    expect(podSignatures(podList(pod), { loaded: [] })[0]?.summary).toBe(
      'image example/manager:v2 of container "manager" was not loaded into the cluster: the pod asks for docker.io/example/manager:v2, ' +
        "no image was loaded; make the manifest use $IMAGE_<NAME> or set images.<name>.ref",
    );
  });

  it("says a loaded image is pulled because of imagePullPolicy Always, comparing normalized refs", () => {
    const pod = jobPod("jax-smoke-q9w8e", {
      image: "jax:1",
      imagePullPolicy: "Always",
      state: { waiting: { reason: "ErrImagePull", message: "failed to pull image" } },
    });
    const loaded = [{ name: "jax", ref: "docker.io/library/jax:1" }];
    expect(podSignatures(podList(pod), { loaded })[0]?.summary).toBe(
      'image jax:1 of container "train" was loaded into the cluster (as jax) but the kubelet tries to pull it: ' +
        "its imagePullPolicy is Always; set imagePullPolicy: IfNotPresent",
    );
  });

  it("blames the :latest tag when the pod gives no pull policy", () => {
    const pod = jobPod("jax-smoke-q9w8e", { image: "jax", state: { waiting: { reason: "ImagePullBackOff" } } });
    delete (pod.spec.containers[0] as { imagePullPolicy?: string }).imagePullPolicy;
    const loaded = [{ name: "jax", ref: "jax:latest" }];
    expect(podSignatures(podList(pod), { loaded })).toEqual([
      {
        namespace: "default",
        pod: "jax-smoke-q9w8e",
        reason: "ImagePullBackOff",
        summary:
          'image jax of container "train" was loaded into the cluster (as jax) but the kubelet tries to pull it: its imagePullPolicy is Always ' +
          "(the default for a :latest or untagged image); set imagePullPolicy: IfNotPresent or use a tag other than latest",
        details: [],
      },
    ]);
  });

  it("points at the node when a loaded image is missing there although the pod would not pull it", () => {
    const pod = jobPod("jax-smoke-z0x9c", {
      imagePullPolicy: "Never",
      state: { waiting: { reason: "ErrImageNeverPull", message: 'Container image "kind-pipeline.local/jax:build-3f2a9c" is not present with pull policy of Never' } },
    });
    expect(podSignatures(podList(pod), { loaded: LOADED })[0]?.summary).toBe(
      'image kind-pipeline.local/jax:build-3f2a9c of container "train" was loaded into the cluster (as jax) but the kubelet tries to pull it: ' +
        "node kind-pipeline-1-37-0-worker does not have it (imagePullPolicy Never); check that the load reached every node",
    );
  });
});

const TRACEBACK = [
  "Epoch 1/3: loss=2.301",
  "Traceback (most recent call last):",
  '  File "/app/train.py", line 42, in <module>',
  "ValueError: expected 10 classes, got 9",
].join("\n");

describe("crashing containers", () => {
  it("quotes the last exit and the container's last log lines for a crash loop", () => {
    const pod = jobPod(
      "serve-7d9b8c6f5-k2j4h",
      {
        name: "server",
        restartCount: 4,
        state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 1m20s restarting failed container=server pod=serve-7d9b8c6f5-k2j4h_ml(1c2d)" } },
        lastState: { terminated: { exitCode: 1, reason: "Error", startedAt: "2026-11-26T10:03:00Z", finishedAt: "2026-11-26T10:03:04Z" } },
      },
      { phase: "Running" },
      "ml",
    );
    const logs = { "ml/serve-7d9b8c6f5-k2j4h/server": `${TRACEBACK}\n` };
    expect(podSignatures(podList(pod), { loaded: LOADED, logs })).toEqual([
      {
        namespace: "ml",
        pod: "serve-7d9b8c6f5-k2j4h",
        reason: "CrashLoopBackOff",
        summary: 'container "server" keeps crashing (restarted 4 times): it last exited with code 1 (Error)',
        details: [
          "back-off 1m20s restarting failed container=server pod=serve-7d9b8c6f5-k2j4h_ml(1c2d)",
          "last 4 log lines of server:",
          "| Epoch 1/3: loss=2.301",
          "| Traceback (most recent call last):",
          '|   File "/app/train.py", line 42, in <module>',
          "| ValueError: expected 10 classes, got 9",
        ],
      },
    ]);
  });

  it("quotes only the last 40 log lines", () => {
    const pod = jobPod("serve-7d9b8c6f5-k2j4h", { restartCount: 1, state: { waiting: { reason: "CrashLoopBackOff" } } });
    const logs = { "default/serve-7d9b8c6f5-k2j4h/train": Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join("\n") };
    const [signature] = podSignatures(podList(pod), { loaded: LOADED, logs });
    expect(signature?.summary).toBe('container "train" keeps crashing (restarted once)');
    expect(signature?.details).toEqual(["last 40 log lines of train:", ...Array.from({ length: 40 }, (_, i) => `| line ${i + 61}`)]);
  });

  it("names the memory limit of a container killed for memory, before its crash loop", () => {
    const pod = jobPod("jax-smoke-m3n4b", {
      resources: { limits: { cpu: "1", memory: "512Mi" }, requests: { cpu: "500m", memory: "512Mi" } },
      restartCount: 2,
      state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 20s restarting failed container" } },
      lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } },
    });
    expect(podSignatures(podList(pod), { loaded: LOADED })).toEqual([
      {
        namespace: "default",
        pod: "jax-smoke-m3n4b",
        reason: "OOMKilled",
        summary: 'container "train" was OOMKilled: it used more memory than its limit of 512Mi (restarted 2 times)',
        details: [],
      },
    ]);
  });

  it("says when a container killed for memory had no limit", () => {
    const pod = jobPod("jax-smoke-m3n4b", { state: { terminated: { exitCode: 137, reason: "OOMKilled" } } }, { phase: "Failed" });
    expect(podSignatures(podList(pod), { loaded: LOADED })[0]?.summary).toBe(
      'container "train" was OOMKilled: it has no memory limit, so the node itself ran out of memory',
    );
  });

  it("quotes the exit code, termination message and logs of a Job's container that failed", () => {
    const pod = jobPod(
      "jax-smoke-p5o6i",
      { state: { terminated: { exitCode: 2, reason: "Error", message: "accuracy 0.41 below 0.9" } } },
      { phase: "Failed" },
    );
    const logs = { "default/jax-smoke-p5o6i/train": "training...\nFAILED: accuracy 0.41 below 0.9\n" };
    expect(podSignatures(podList(pod), { loaded: LOADED, logs })).toEqual([
      {
        namespace: "default",
        pod: "jax-smoke-p5o6i",
        reason: "Error",
        summary: 'container "train" exited with code 2 (Error)',
        details: ["accuracy 0.41 below 0.9", "last 2 log lines of train:", "| training...", "| FAILED: accuracy 0.41 below 0.9"],
      },
    ]);
  });

  it("reads init containers, whose failure holds the others in PodInitializing", () => {
    const pod = jobPod("operator-5f6d7-abcde", { state: { waiting: { reason: "PodInitializing" } } });
    Object.assign(pod.spec, { initContainers: [{ name: "migrate", image: "kind-pipeline.local/jax:build-3f2a9c" }] });
    Object.assign(pod.status, {
      initContainerStatuses: [
        { name: "migrate", restartCount: 3, state: { waiting: { reason: "CrashLoopBackOff" } }, lastState: { terminated: { exitCode: 3 } } },
      ],
    });
    expect(podSignatures(podList(pod), { loaded: LOADED })[0]?.summary).toBe(
      'container "migrate" keeps crashing (restarted 3 times): it last exited with code 3',
    );
  });
});

describe("pods that do not run", () => {
  it("quotes the scheduler for a pod that cannot be scheduled, with what its containers request", () => {
    const pod = jobPod(
      "pytorch-smoke-r7t8y",
      { resources: { requests: { cpu: "4", memory: "8Gi" } }, state: {} },
      {
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
          },
        ],
        containerStatuses: undefined,
      },
    );
    expect(podSignatures(podList(pod), { loaded: LOADED })).toEqual([
      {
        namespace: "default",
        pod: "pytorch-smoke-r7t8y",
        reason: "Pending",
        summary:
          "pod cannot be scheduled: 0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
        details: ['container "train" requests cpu 4, memory 8Gi'],
      },
    ]);
  });

  it("quotes the kubelet for an evicted pod", () => {
    const pod = jobPod(
      "jax-smoke-e1v2c",
      { state: { terminated: { exitCode: 137, reason: "ContainerStatusUnknown" } } },
      { phase: "Failed", reason: "Evicted", message: "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 8%." },
    );
    expect(podSignatures(podList(pod), { loaded: LOADED })).toEqual([
      {
        namespace: "default",
        pod: "jax-smoke-e1v2c",
        reason: "Evicted",
        summary: "pod was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 8%.",
        details: [],
      },
    ]);
  });

  it("reports any other waiting reason with its message", () => {
    const pod = jobPod("jax-smoke-c3f4g", { state: { waiting: { reason: "CreateContainerConfigError", message: 'secret "hf-token" not found' } } });
    expect(podSignatures(podList(pod), { loaded: LOADED })).toEqual([
      {
        namespace: "default",
        pod: "jax-smoke-c3f4g",
        reason: "CreateContainerConfigError",
        summary: 'container "train" is waiting (CreateContainerConfigError): secret "hf-token" not found',
        details: [],
      },
    ]);
  });
});

describe("pods that are well, and input that is not a pod list", () => {
  it("finds nothing in pods that are running, starting or done, and keeps kubectl's order for the others", () => {
    const running = jobPod("serve-1", { state: { running: { startedAt: "2026-11-26T10:00:05Z" } } }, { phase: "Running" });
    const creating = jobPod("serve-2");
    const done = jobPod("jax-smoke-d0n3e", { state: { terminated: { exitCode: 0, reason: "Completed" } } }, { phase: "Succeeded" });
    const failedB = jobPod("b-job-aaaaa", { state: { waiting: { reason: "CreateContainerConfigError" } } }, {}, "team-b");
    const failedA = jobPod("a-job-bbbbb", { state: { terminated: { exitCode: 1 } } }, {}, "team-a");
    const signatures = podSignatures(podList(running, failedB, creating, done, failedA), { loaded: LOADED });
    expect(signatures.map((s) => [s.namespace, s.pod, s.reason, s.summary])).toEqual([
      ["team-b", "b-job-aaaaa", "CreateContainerConfigError", 'container "train" is waiting (CreateContainerConfigError)'],
      ["team-a", "a-job-bbbbb", "Error", 'container "train" exited with code 1'],
    ]);
  });

  it.each([
    ["not JSON", "error: the server doesn't have a resource type \"pods\""],
    ["empty", ""],
    ["null", "null"],
    ["an array", "[]"],
    ["items not a list", '{"items": "none"}'],
    ["items not objects", '{"items": [null, 1, "pod", []]}'],
    ["pods without names", '{"items": [{"metadata": {}}, {"status": {"reason": "Evicted"}}]}'],
    [
      "fields of the wrong types",
      JSON.stringify({
        items: [
          {
            metadata: { name: "odd", namespace: 7 },
            spec: { containers: "train", initContainers: [{ name: 3 }] },
            status: {
              conditions: { type: "PodScheduled" },
              containerStatuses: [{ name: "train", state: { waiting: { reason: 5 }, terminated: "yes" }, lastState: null, restartCount: "2" }],
            },
          },
        ],
      }),
    ],
  ])("finds nothing, and throws nothing, in %s", (_, json) => {
    expect(podSignatures(json, { loaded: LOADED })).toEqual([]);
  });
});
