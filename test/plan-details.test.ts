/**
 * The plan in detail: what a user reads in `dagger call plan` and what the stages consume, for a project
 * with lanes, a lane kept to some versions, steps out of file order, build secrets, a build policy and a
 * publish section; and the argument errors of a selection.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../ci/src/config.js";
import { planPipeline, renderPlan, type Plan, type Selection } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { projectTree } from "./support/projects.js";

const root = projectTree({
  "build/api.Dockerfile": "FROM golang\n",
  "images/worker/Dockerfile": "FROM python\n",
  "images/ui/Dockerfile": "FROM node\n",
  "e2e/crds.sh": "true\n",
  "e2e/deploy.sh": "true\n",
  "e2e/suite.sh": "true\n",
  "e2e/ui.sh": "true\n",
});

const PRELOAD = `docker.io/library/busybox:1.37.0@sha256:${"c".repeat(64)}`;

/**
 * Steps listed out of their run order (suite after deploy after crds), a ui chain whose later steps come
 * first in the file, two optional images, a lane with its environment, a lane on one version only.
 */
const PROJECT = `
images:
  api:
    context: .
    dockerfile: build/api.Dockerfile
    buildArgs: { GO_VERSION: "1.24", CGO_ENABLED: "0" }
    buildArgsFrom: { VERSION: { arg: version }, PR: { arg: pullRequest } }
    secrets: { NPM_TOKEN: "env://NPM_TOKEN", GIT_AUTH: "file://./auth" }
  worker: { context: images/worker, optional: true }
  ui: { context: images/ui, optional: true }
kubernetes: { versions: ["1.37.0", "1.36.4"] }
cluster: { name: ci, workers: 1 }
build: { retries: 3, retryDelay: 1m30s, timeout: 1h }
lanes:
  - { name: flags, env: { FEATURE_X: "on", LOG_LEVEL: debug } }
  - { name: old, kubernetes: ["1.36.4"] }
preload: ["${PRELOAD}"]
e2e:
  - name: suite
    needs: [api]
    after: [deploy, crds]
    run: [sh, e2e/suite.sh]
    timeout: 1h1m1s
    env: { MODE: full, RETRIES: "2" }
    secrets: { HF_TOKEN: "env://HF_TOKEN", GH_TOKEN: "env://GH_TOKEN" }
    kubernetes: ["1.37.0", "1.36.4"]
    lanes: [default, flags]
  - { name: deploy, needs: [api], after: [crds], run: [sh, e2e/deploy.sh], timeout: 1h, image: "alpine:3.20" }
  - { name: crds, run: [sh, e2e/crds.sh], timeout: 90s }
  - { name: ui-report, after: [ui-smoke], run: [sh, e2e/ui.sh, report] }
  - { name: ui-smoke, after: [ui-deploy], run: [sh, e2e/ui.sh, smoke] }
  - { name: ui-deploy, needs: [ui, worker], run: [sh, e2e/ui.sh, deploy] }
publish:
  registries: [{ registry: ghcr.io, repository: acme, username: bot }]
  tags: ["sha-{revision}", "pr-{pullRequest}", "{version}"]
`;

async function plan(selection: Selection = {}, yaml = PROJECT): Promise<Plan> {
  return planPipeline(await validateConfig(yaml, localSourceTree(root)), selection);
}

/** What a selection is refused with. */
async function refusal(selection: Selection, yaml = PROJECT): Promise<ConfigError> {
  const error = await plan(selection, yaml).catch((e: unknown) => e);
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error;
}

describe("images left out", () => {
  it("optional ones are optional by default, and not selected once the selection names images", async () => {
    expect((await plan()).skippedImages).toEqual([
      { name: "worker", reason: "optional" },
      { name: "ui", reason: "optional" },
    ]);
    expect((await plan({ images: ["api"] })).skippedImages).toEqual([
      { name: "worker", reason: "not selected" },
      { name: "ui", reason: "not selected" },
    ]);
  });
});

describe("clusters", () => {
  it("one per lane and version: the default lane plus each configured lane, a lane with versions only on those", async () => {
    expect((await plan()).clusters.map((c) => [c.kubernetes, c.lane, c.name, c.env])).toEqual([
      ["1.37.0", "default", "ci-1-37-0", {}],
      ["1.37.0", "flags", "ci-flags-1-37-0", { FEATURE_X: "on", LOG_LEVEL: "debug" }],
      ["1.36.4", "default", "ci-1-36-4", {}],
      ["1.36.4", "flags", "ci-flags-1-36-4", { FEATURE_X: "on", LOG_LEVEL: "debug" }],
      ["1.36.4", "old", "ci-old-1-36-4", {}],
    ]);
  });

  it("a lane kept to versions the selection leaves out has no cluster", async () => {
    expect((await plan({ kubernetes: ["1.37.0"] })).clusters.map((c) => c.name)).toEqual(["ci-1-37-0", "ci-flags-1-37-0"]);
  });
});

describe("steps", () => {
  it("run after their after steps, keep their index in the file, and carry lanes, versions and image only when set", async () => {
    const p = await plan();
    expect(p.steps).toStrictEqual([
      { name: "crds", index: 2, needs: [], after: [], run: ["sh", "e2e/crds.sh"], timeoutSeconds: 90, env: {}, secrets: {} },
      { name: "deploy", index: 1, needs: ["api"], after: ["crds"], run: ["sh", "e2e/deploy.sh"], timeoutSeconds: 3600, env: {}, secrets: {}, image: "alpine:3.20" },
      {
        name: "suite",
        index: 0,
        needs: ["api"],
        after: ["deploy", "crds"],
        run: ["sh", "e2e/suite.sh"],
        timeoutSeconds: 3661,
        env: { MODE: "full", RETRIES: "2" },
        secrets: { HF_TOKEN: "env://HF_TOKEN", GH_TOKEN: "env://GH_TOKEN" },
        kubernetes: ["1.37.0", "1.36.4"],
        lanes: ["default", "flags"],
      },
    ]);
  });

  it("a step after a left-out step is left out, however far down the file that step is", async () => {
    expect((await plan()).skippedSteps).toEqual([
      { name: "ui-report", reason: "runs after ui-smoke, which is left out" },
      { name: "ui-smoke", reason: "runs after ui-deploy, which is left out" },
      { name: "ui-deploy", reason: "needs ui, worker, not selected" },
    ]);
    const all = await plan({ images: ["api", "worker", "ui"] });
    expect(all.skippedSteps).toEqual([]);
    expect(all.steps.map((s) => [s.name, s.index])).toEqual([
      ["crds", 2],
      ["deploy", 1],
      ["suite", 0],
      ["ui-deploy", 5],
      ["ui-smoke", 4],
      ["ui-report", 3],
    ]);
  });
});

describe("build and publish settings", () => {
  it("carries the build policy in seconds", async () => {
    expect((await plan()).build).toEqual({ retries: 3, retryDelaySeconds: 90, timeoutSeconds: 3600 });
  });

  it("plans a publish only when the config has a publish section", async () => {
    expect((await plan()).publish).toEqual({
      registries: [{ registry: "ghcr.io", repository: "acme", username: "bot" }],
      tags: ["sha-{revision}", "pr-{pullRequest}", "{version}"],
      images: [{ name: "api", platforms: [], repositories: ["ghcr.io/acme/api"] }],
      notPushed: [],
      callBuildArgs: { api: { VERSION: "version", PR: "pullRequest" } },
    });
    const without = await plan({}, PROJECT.slice(0, PROJECT.indexOf("publish:")));
    expect("publish" in without).toBe(false);
  });
});

describe("renderPlan", () => {
  it("prints every detail of the project, singular counts, lanes with their env, a publish section with placeholders", async () => {
    expect(renderPlan(await plan())).toBe(
      [
        "1. build — 1 image in parallel; all must succeed before any later stage starts",
        "   - api: context .; dockerfile build/api.Dockerfile; args GO_VERSION=1.24 CGO_ENABLED=0; secrets NPM_TOKEN GIT_AUTH",
        "   - worker: skipped (optional; select it with --images)",
        "   - ui: skipped (optional; select it with --images)",
        "2. cluster — kind v0.33.0, one Docker-in-Docker service per Kubernetes version, as many at a time as the engine's memory and CPUs hold",
        `   - 1.37.0: ci-1-37-0, 1 control plane + 1 worker, node image kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5`,
        `   - 1.37.0 lane flags (env FEATURE_X=on LOG_LEVEL=debug): ci-flags-1-37-0, 1 control plane + 1 worker, node image kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5`,
        `   - 1.36.4: ci-1-36-4, 1 control plane + 1 worker, node image kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed`,
        `   - 1.36.4 lane flags (env FEATURE_X=on LOG_LEVEL=debug): ci-flags-1-36-4, 1 control plane + 1 worker, node image kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed`,
        `   - 1.36.4 lane old: ci-old-1-36-4, 1 control plane + 1 worker, node image kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed`,
        "3. load — into every node of each cluster, in parallel, then verified in each node's containerd; no registry",
        "   - api as kind-pipeline.local/api:build-<hash of its build inputs>",
        `   - ${PRELOAD} (preload, pulled by the engine)`,
        "4. e2e — 3 steps, one at a time on each cluster, in this order; a step that fails skips the steps after it, those that list it in after",
        '   - crds: runs ["sh","e2e/crds.sh"]; image the pinned step image (kubectl, kind, helm, kustomize, docker); timeout 1m30s',
        '   - deploy: runs ["sh","e2e/deploy.sh"]; image alpine:3.20 (+ kubectl); needs api; after crds; timeout 1h',
        '   - suite: runs ["sh","e2e/suite.sh"]; image the pinned step image (kubectl, kind, helm, kustomize, docker); needs api; after deploy, crds; only on 1.37.0, 1.36.4; only in lanes default, flags; env MODE RETRIES; secret env HF_TOKEN GH_TOKEN; timeout 1h1m1s',
        "   - ui-report: skipped (runs after ui-smoke, which is left out)",
        "   - ui-smoke: skipped (runs after ui-deploy, which is left out)",
        "   - ui-deploy: skipped (needs ui, worker, not selected)",
        "5. report — summary.md, junit.xml, step logs, artifacts and, after a failure, diagnostics",
        "6. publish — only by `publish`, after stages 1–5 passed on every version (unless --skip-tests); 1 image to 1 registry; a tag whose value the call does not give (--revision, --pull-request, --version) is left out",
        "   - api: the engine's platform (the tested build); args VERSION=<version> PR=<pull-request>",
        "       ghcr.io/acme/api:sha-<revision>",
        "       ghcr.io/acme/api:pr-<pull-request>",
        "       ghcr.io/acme/api:<version> (never pushed over without --overwrite)",
        "",
      ].join("\n"),
    );
  });

  it("one step in the e2e stage is counted singular", async () => {
    const text = renderPlan(await plan({ images: [] }));
    expect(text).toContain("\n4. e2e — 1 step, one at a time on each cluster");
  });
});

describe("node images to build", () => {
  const UI = "images:\n  ui: { context: images/ui }\n";

  it("point to the release that publishes the version, when only another one does", async () => {
    const p = await plan({ kubernetes: ["1.36.1"] }, `${UI}kubernetes: { kind: v0.31.0, versions: ["1.35.0"] }\n`);
    expect(renderPlan(p)).toContain(
      "   - 1.36.1: kind-pipeline-1-36-1, 1 control plane + 1 worker, node image built from Kubernetes v1.36.1 release binaries (kind build node-image; kind v0.31.0 publishes none; kind v0.32.0 publishes one: set kubernetes.kind: v0.32.0 to pull it instead)\n",
    );
  });

  it("point to the published patch of the same minor, when no release publishes the version", async () => {
    const p = await plan({ kubernetes: ["1.37.5"] }, UI);
    expect(renderPlan(p)).toContain(
      "   - 1.37.5: kind-pipeline-1-37-5, 1 control plane + 1 worker, node image built from Kubernetes v1.37.5 release binaries (kind build node-image; kind v0.33.0 publishes none; kind v0.33.0 publishes 1.37.0 of the same minor, pulled in seconds instead of built)\n",
    );
  });
});

describe("argument errors", () => {
  it("name the arguments, each problem with the first message of its check, and what to do", async () => {
    const error = await refusal({ images: ["api", "db"], kubernetes: ["1.37", "1.36.4"] });
    expect(error.subject).toBe("arguments");
    expect(error.message).toBe(
      [
        "invalid arguments (2 problems):",
        '  images: unknown image "db" (configured: api, worker, ui)',
        '  kubernetes: "1.37" must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. "1.37.0"',
        "Choose images and versions from the config (`dagger call plan` lists them).",
      ].join("\n"),
    );
  });

  it("a failure that is no argument problem reaches the caller as it is", async () => {
    const config = await validateConfig(PROJECT, localSourceTree(root));
    const failure = new Error("selection unreadable");
    const selection: Selection = {
      get images(): string[] {
        throw failure;
      },
    };
    expect(() => planPipeline(config, selection)).toThrow(failure);
  });
});
