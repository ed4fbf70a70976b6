/**
 * The plan: which images, versions and steps a selection runs, in dependency order.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../ci/src/config.js";
import { planPipeline, renderPlan, type Selection } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { projectTree } from "./support/projects.js";

const root = projectTree({
  "images/jax/Dockerfile": "FROM a\n",
  "images/pytorch/Dockerfile": "FROM b\n",
  "cmd/manager/Dockerfile": "FROM c\n",
  "test/e2e/run.sh": "echo e2e\n",
  "t.sh": "echo t\n",
  "report.sh": "echo report\n",
});

const CONFIG = `
images:
  manager: { context: ., dockerfile: cmd/manager/Dockerfile, buildArgs: { GO_VERSION: "1.24" } }
  jax: { context: images/jax, target: runtime }
  pytorch: { context: images/pytorch, optional: true }
kubernetes:
  versions: ["1.37.0", "1.36.4"]
cluster: { workers: 2 }
e2e:
  - { name: operator, needs: [manager], run: [go, test, ./test/e2e/...], timeout: 15m }
  - { name: jax-smoke, needs: [manager, jax], run: [sh, test/e2e/run.sh, jax] }
  - { name: pytorch-smoke, needs: [pytorch], run: [sh, test/e2e/run.sh, pytorch] }
`;

async function plan(selection: Selection = {}, yaml = CONFIG) {
  return planPipeline(await validateConfig(yaml, localSourceTree(root)), selection);
}

describe("default selection", () => {
  it("builds every image not marked optional, on every configured version, with the steps whose images are all selected", async () => {
    const p = await plan();
    expect(p.images.map((i) => i.name)).toEqual(["manager", "jax"]);
    expect(p.skippedImages).toEqual([{ name: "pytorch", reason: "optional" }]);
    expect(p.clusters.map((c) => c.kubernetes)).toEqual(["1.37.0", "1.36.4"]);
    expect(p.steps.map((s) => s.name)).toEqual(["operator", "jax-smoke"]);
    expect(p.skippedSteps).toEqual([{ name: "pytorch-smoke", reason: "needs pytorch, not selected" }]);
  });

  it("carries what each build depends on, the Dockerfile relative to its context", async () => {
    const [manager, jax] = (await plan()).images;
    expect(manager).toEqual({
      name: "manager",
      context: ".",
      dockerfile: "cmd/manager/Dockerfile",
      dockerfilePath: "cmd/manager/Dockerfile",
      buildArgs: { GO_VERSION: "1.24" },
      secrets: {},
    });
    expect(jax).toMatchObject({ context: "images/jax", dockerfile: "Dockerfile", dockerfilePath: "images/jax/Dockerfile", target: "runtime" });
  });

  it("names the cluster and node image for each version", async () => {
    expect((await plan({ kubernetes: ["1.37.0"] })).clusters).toEqual([
      {
        kubernetes: "1.37.0",
        name: "kind-pipeline-1-37-0",
        nodeImage: { kind: "published", ref: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5" },
        workers: 2,
        nodeLabels: {},
        lane: "default",
        env: {},
      },
    ]);
  });
});

describe("explicit selection", () => {
  it("an empty image selection selects none (a bare cluster)", async () => {
    const p = await plan({ images: [] });
    expect(p.images).toEqual([]);
    expect(p.steps).toEqual([]);
  });

  it("runs cluster.parallel clusters at a time when the config says so", async () => {
    const p = await plan({}, CONFIG.replace("cluster: { workers: 2 }", "cluster: { workers: 2, parallel: 1 }"));
    expect(p.parallel).toBe(1);
    expect(renderPlan(p)).toContain("one Docker-in-Docker service per Kubernetes version, 1 at a time (cluster.parallel)\n");
  });

  it("selects images by name, also comma-separated, in config order", async () => {
    const p = await plan({ images: ["pytorch,manager"] });
    expect(p.images.map((i) => i.name)).toEqual(["manager", "pytorch"]);
    expect(p.skippedImages).toEqual([{ name: "jax", reason: "not selected" }]);
    expect(p.steps.map((s) => s.name)).toEqual(["operator", "pytorch-smoke"]);
  });

  it("selects versions, with or without v, published or to be built", async () => {
    const p = await plan({ kubernetes: ["v1.36.4", "1.38.0"] });
    expect(p.clusters.map((c) => [c.kubernetes, c.nodeImage])).toEqual([
      ["1.36.4", { kind: "published", ref: expect.stringMatching(/^kindest\/node:v1\.36\.4@sha256:099e0493/) }],
      ["1.38.0", { kind: "build", version: "1.38.0" }],
    ]);
  });

  it("refuses unknown images and bad versions, all in one error", async () => {
    const error = await plan({ images: ["jax", "tensorflow", "mxnet"], kubernetes: ["1.37"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      { path: "images", message: 'unknown image "tensorflow" (configured: manager, jax, pytorch)' },
      { path: "images", message: 'unknown image "mxnet" (configured: manager, jax, pytorch)' },
      { path: "kubernetes", message: expect.stringMatching(/^"1\.37" must be a Kubernetes version/) },
    ]);
    const versions = await plan({ kubernetes: ["1.37", "latest"] }).catch((e: ConfigError) => e.problems.map((p) => p.message));
    expect(versions).toEqual([expect.stringMatching(/^"1\.37" must be a Kubernetes version/), expect.stringMatching(/^"latest" must be/)]);
  });

  it("refuses a selection that names nothing", async () => {
    const images = await plan({ images: [",", " "] }).catch((e: ConfigError) => e.problems);
    expect(images).toEqual([{ path: "images", message: 'no image named in [","," "] (configured: manager, jax, pytorch)' }]);
    const versions = await plan({ kubernetes: [""] }).catch((e: ConfigError) => e.problems);
    expect(versions).toEqual([{ path: "kubernetes", message: 'no version named in [""] (configured: 1.37.0, 1.36.4)' }]);
  });

  it("refuses a version with no published node image when building one is not allowed", async () => {
    const yaml = CONFIG.replace('versions: ["1.37.0", "1.36.4"]', 'versions: ["1.37.0"]\n  nodeImageFallback: fail');
    const error = await plan({ kubernetes: ["1.38.0"] }, yaml).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/kubernetes: kind v0\.33\.0 publishes no node image for Kubernetes 1\.38\.0/);
  });
});

describe("renderPlan", () => {
  it("prints the stages in dependency order, skipped parts with the reason", async () => {
    expect(renderPlan(await plan({ kubernetes: ["1.38.0"] }))).toBe(
      [
        "1. build — 2 images in parallel; all must succeed before any later stage starts",
        "   - manager: context .; dockerfile cmd/manager/Dockerfile; args GO_VERSION=1.24",
        "   - jax: context images/jax; dockerfile images/jax/Dockerfile; target runtime",
        "   - pytorch: skipped (optional; select it with --images)",
        "2. cluster — kind v0.33.0, one Docker-in-Docker service per Kubernetes version, as many at a time as the engine's memory and CPUs hold",
        "   - 1.38.0: kind-pipeline-1-38-0, 1 control plane + 2 workers, node image built from Kubernetes v1.38.0 release binaries (kind build node-image; kind v0.33.0 publishes none)",
        "3. load — into every node of each cluster, in parallel, then verified in each node's containerd; no registry",
        "   - manager as kind-pipeline.local/manager:build-<hash of its build inputs>",
        "   - jax as kind-pipeline.local/jax:build-<hash of its build inputs>",
        "4. e2e — 2 steps, one at a time on each cluster, in this order; a step that fails skips the steps after it, those that list it in after",
        '   - operator: runs ["go","test","./test/e2e/..."]; image the pinned step image (kubectl, kind, helm, kustomize, docker); needs manager; timeout 15m',
        '   - jax-smoke: runs ["sh","test/e2e/run.sh","jax"]; image the pinned step image (kubectl, kind, helm, kustomize, docker); needs manager, jax; timeout 10m',
        "   - pytorch-smoke: skipped (needs pytorch, not selected)",
        "5. report — summary.md, junit.xml, step logs, artifacts and, after a failure, diagnostics",
        "",
      ].join("\n"),
    );
  });
});

describe("steps after steps, on some versions, with preloads", () => {
  const PINNED = `docker.io/library/busybox:1.37.0@sha256:${"b".repeat(64)}`;
  const YAML = `
images:
  manager: { context: ., dockerfile: cmd/manager/Dockerfile, ref: "ghcr.io/example/manager:test" }
  pytorch: { context: images/pytorch, optional: true }
kubernetes: { versions: ["1.37.0", "1.36.4"] }
preload: ["registry.k8s.io/pause:3.10", "${PINNED}"]
e2e:
  - { name: suite, needs: [manager], after: [deploy], run: [go, test, ./test/e2e/..., "--label-filter=smoke && !slow"], timeout: 15m, secrets: { HF_TOKEN: "env://HF_TOKEN" } }
  - { name: deploy, needs: [manager], run: [kubectl, apply, -k, config/default], env: { LOG_LEVEL: debug } }
  - { name: torch, needs: [pytorch], after: [deploy], run: [sh, t.sh], kubernetes: ["1.37.0"], image: "python:3.12" }
  - { name: torch-report, after: [torch], run: [sh, report.sh] }
`;

  it("orders steps after the steps they name, then in file order, and leaves out a step after a left-out one", async () => {
    const p = await plan({}, YAML);
    expect(p.steps.map((s) => s.name)).toEqual(["deploy", "suite"]);
    expect(p.skippedSteps).toEqual([
      { name: "torch", reason: "needs pytorch, not selected" },
      { name: "torch-report", reason: "runs after torch, which is left out" },
    ]);
    const all = await plan({ images: ["manager", "pytorch"] }, YAML);
    expect(all.steps.map((s) => s.name)).toEqual(["deploy", "suite", "torch", "torch-report"]);
    expect(all.steps[2]).toMatchObject({ kubernetes: ["1.37.0"], image: "python:3.12", after: ["deploy"] });
  });

  it("prints refs, preloads with a warning when not pinned, argv with its boundaries, env and secret names but never their values", async () => {
    const text = renderPlan(await plan({}, YAML));
    expect(text).toContain("   - manager as ghcr.io/example/manager:test\n");
    expect(text).toContain("   - registry.k8s.io/pause:3.10 (preload, pulled by the engine); warning: not pinned by digest, so its content can change between runs\n");
    expect(text).toContain(`   - ${PINNED} (preload, pulled by the engine)\n`);
    expect(text).toContain('   - deploy: runs ["kubectl","apply","-k","config/default"]; image the pinned step image (kubectl, kind, helm, kustomize, docker); needs manager; env LOG_LEVEL; timeout 10m\n');
    expect(text).toContain('   - suite: runs ["go","test","./test/e2e/...","--label-filter=smoke && !slow"]; image the pinned step image (kubectl, kind, helm, kustomize, docker); needs manager; after deploy; secret env HF_TOKEN; timeout 15m\n');
    expect(text).not.toMatch(/env:\/\/HF_TOKEN|debug/);
    const all = renderPlan(await plan({ images: ["manager", "pytorch"] }, YAML));
    expect(all).toContain('   - torch: runs ["sh","t.sh"]; image python:3.12 (+ kubectl); needs pytorch; after deploy; only on 1.37.0; timeout 10m\n');
  });
});

describe("kind releases", () => {
  it("each release resolves its own published node images by digest, and its own default version", async () => {
    const yaml = (kind: string, versions: string) => `images:\n  jax: { context: images/jax }\nkubernetes: { kind: ${kind}, versions: [${versions}] }\n`;
    const refs = async (kind: string, versions: string) => (await plan({}, yaml(kind, versions))).clusters.map((c) => c.nodeImage);
    expect(await refs("v0.32.0", '"1.36.1"')).toEqual([{ kind: "published", ref: "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5" }]);
    expect(await refs("v0.31.0", '"1.35.0"')).toEqual([{ kind: "published", ref: "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f" }]);
    expect(await refs("v0.33.0", '"1.35.8"')).toEqual([{ kind: "published", ref: "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0" }]);
    // 1.36.1 is kind v0.32.0's: v0.33.0 builds it, and says which release publishes it
    expect(await refs("v0.33.0", '"1.36.1"')).toEqual([{ kind: "build", version: "1.36.1" }]);
    const text = renderPlan(await plan({}, yaml("v0.33.0", '"1.36.1"')));
    expect(text).toContain("node image built from Kubernetes v1.36.1 release binaries (kind build node-image; kind v0.33.0 publishes none; kind v0.32.0 publishes one: set kubernetes.kind: v0.32.0 to pull it instead; kind v0.33.0 publishes 1.36.4 of the same minor, pulled in seconds instead of built)");
  });

  it("with nodeImageFallback: fail, the error names the release that publishes the version", async () => {
    const yaml = 'images:\n  jax: { context: images/jax }\nkubernetes: { kind: v0.31.0, versions: ["1.36.1"], nodeImageFallback: fail }\n';
    const error = await plan({}, yaml).catch((e: unknown) => e);
    expect((error as Error).message).toContain("kubernetes.versions.0: kind v0.31.0 publishes no node image for Kubernetes 1.36.1 (published: 1.35.0, 1.34.3, 1.33.7, 1.32.11, 1.31.14); kind v0.32.0 publishes it (set kubernetes.kind: v0.32.0); or choose one of those");
  });
});
