/**
 * kind-pipeline.yaml validation: every invalid config names its exact dotted path; valid configs
 * normalize as documented; the committed JSON Schema matches the zod schema.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, validateConfig } from "../ci/src/config.js";
import { configJsonSchema } from "../ci/src/config-schema.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { projectTree, REPO_ROOT } from "./support/projects.js";

const root = projectTree({
  "images/jax/Dockerfile": "FROM python:3.12-slim\n",
  "images/pytorch/Dockerfile": "FROM python:3.12-slim\n",
  "cmd/manager/Dockerfile": "FROM golang:1.24\n",
  "images/jax/.dockerignore": "__pycache__\n",
  "run.sh": "echo run\n",
});
const tree = localSourceTree(root);

const JAX = "images:\n  jax: { context: images/jax }\n";

/** The problems of an invalid config, as `path: message` lines. */
async function problems(yaml: string): Promise<string[]> {
  const error = await validateConfig(yaml, tree).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems.map((p) => `${p.path}: ${p.message}`);
}

describe("invalid configs name the exact path of each problem", () => {
  const cases: [string, string, string, RegExp][] = [
    ["no images", "kubernetes: {}\n", "images", /^required$/],
    ["an empty images map", "images: {}\n", "images", /at least one image/],
    ["an image name that is not a DNS label", "images:\n  Jax_1: { context: images/jax }\n", "images.Jax_1", /DNS-1123 label/],
    ["a misspelt key", "images:\n  jax: { contxt: images/jax }\n", "images.jax.contxt", /unknown key \(did you mean "context"\?\)/],
    ["a missing context", "images:\n  jax: { dockerfile: Dockerfile }\n", "images.jax.context", /^required$/],
    ["an absolute context", "images:\n  jax: { context: /etc }\n", "images.jax.context", /relative to the source directory/],
    ["a context escaping the source", "images:\n  jax: { context: ../elsewhere }\n", "images.jax.context", /inside the source directory/],
    ["a context that does not exist", "images:\n  jax: { context: images/jaxx }\n", "images.jax.context", /^directory not found: images\/jaxx$/],
    ["a Dockerfile that does not exist", "images:\n  jax: { context: images/jax, dockerfile: jax.Dockerfile }\n", "images.jax.dockerfile", /^file not found: images\/jax\/jax\.Dockerfile/],
    ["a Dockerfile outside its context", "images:\n  jax: { context: images/jax, dockerfile: ../pytorch/Dockerfile }\n", "images.jax.dockerfile", /^must stay inside the context \(no '\.\.'\): only the context is sent to the build; widen the context \(e\.g\. context: \.\)/],
    ["a timeout without its unit", `${JAX}e2e:\n  - { name: s, run: [x], timeout: 90 }\n`, "e2e.0.timeout", /^must be a duration with its unit, e\.g\. "90s" or "90m": a bare number has none$/],
    ["a Kubernetes version YAML reads as a number", `${JAX}kubernetes: { versions: [1.36] }\n`, "kubernetes.versions.0", /^must be a string, not number 1\.36 as YAML read it: quote it and give all three parts, e\.g\. "1\.36\.0"$/],
    ["an error inside the block of an image with an invalid name", "images:\n  Jax_1: { contxt: images/jax }\n", "images.Jax_1.contxt", /unknown key \(did you mean "context"\?\)/],
    ["a step image that is no reference", `${JAX}e2e:\n  - { name: s, run: [x], image: "Golang 1.24" }\n`, "e2e.0.image", /must be an image reference such as golang:1\.24/],
    ["a step script missing from the source", `${JAX}e2e:\n  - { name: s, run: [sh, test/e2e/missing.sh] }\n`, "e2e.0.run.1", /^file not found: test\/e2e\/missing\.sh \(a step runs from the source root\)$/],
    ["a step program given as a missing source path", `${JAX}e2e:\n  - { name: s, run: [./hack/e2e.sh, --fast] }\n`, "e2e.0.run.0", /^file not found: hack\/e2e\.sh/],
    ["a build arg YAML reads as a number", "images:\n  jax:\n    context: images/jax\n    buildArgs: { PYTHON_VERSION: 3.10 }\n", "images.jax.buildArgs.PYTHON_VERSION", /must be a string, not number 3\.1 as YAML read it/],
    ["a build arg name that is not a variable", "images:\n  jax:\n    context: images/jax\n    buildArgs: { 1X: a }\n", "images.jax.buildArgs.1X", /must be a variable name/],
    ["a secret given as plain text", "images:\n  jax:\n    context: images/jax\n    secrets: { token: ghp_plaintext }\n", "images.jax.secrets.token", /Dagger secret reference/],
    ["optional that is not a boolean", "images:\n  jax: { context: images/jax, optional: maybe }\n", "images.jax.optional", /must be a boolean, not a string \("maybe"\)/],
    ["a target that is not a stage name", "images:\n  jax: { context: images/jax, target: 'run time' }\n", "images.jax.target", /build stage name/],
    ["a malformed Kubernetes version", `${JAX}kubernetes: { versions: ["1.37"] }\n`, "kubernetes.versions.0", /MAJOR\.MINOR\.PATCH/],
    ["no Kubernetes versions", `${JAX}kubernetes: { versions: [] }\n`, "kubernetes.versions", /at least one version/],
    ["a duplicate Kubernetes version", `${JAX}kubernetes: { versions: ["1.37.0", "v1.37.0"] }\n`, "kubernetes.versions.1", /^duplicate version 1\.37\.0$/],
    ["a kind release without pins", `${JAX}kubernetes: { kind: v0.20.0 }\n`, "kubernetes.kind", /kind release this module pins: v0\.33\.0/],
    ["an unknown node image fallback", `${JAX}kubernetes: { nodeImageFallback: pull }\n`, "kubernetes.nodeImageFallback", /"build" or "fail"/],
    ["an unpublished version that may not be built", `${JAX}kubernetes: { versions: ["1.30.0"], nodeImageFallback: fail }\n`, "kubernetes.versions.0", /publishes no node image for Kubernetes 1\.30\.0 \(published: 1\.37\.0, 1\.36\.4, 1\.35\.8, 1\.34\.11\)/],
    ["too many workers", `${JAX}cluster: { workers: 20 }\n`, "cluster.workers", /at most 8/],
    ["a fractional worker count", `${JAX}cluster: { workers: 1.5 }\n`, "cluster.workers", /whole number/],
    ["a node label key with a space", `${JAX}cluster:\n  nodeLabels: { "bad key": x }\n`, "cluster.nodeLabels.bad key", /label key/],
    ["a node label the kubelet may not set", `${JAX}cluster:\n  nodeLabels: { node-role.kubernetes.io/worker: "" }\n`, "cluster.nodeLabels.node-role.kubernetes.io/worker", /^is in the kubernetes\.io or k8s\.io namespaces, where the kubelet sets only its own labels .* and refuses this one; use your own prefix/],
    ["a cluster name too long for kind's node names", `${JAX}cluster: { name: ${"k".repeat(41)} }\n`, "cluster.name", /at most 40 characters/],
    ["an empty duration", `${JAX}build: { timeout: "" }\n`, "build.timeout", /duration such as "90s"/],
    ["too many build retries", `${JAX}build: { retries: 9 }\n`, "build.retries", /at most 5/],
    ["an e2e step needing an unknown image", `${JAX}e2e:\n  - { name: smoke, needs: [jaxx], run: [sh, t.sh] }\n`, "e2e.0.needs.0", /unknown image "jaxx" \(did you mean "jax"\?\) \(configured images: jax\)/],
    ["an e2e command given as one string", `${JAX}e2e:\n  - { name: smoke, run: "sh t.sh" }\n`, "e2e.0.run", /^must be a list of arguments, not a string: split it \(e\.g\. \[make, test-e2e\]\), or for a shell line write \[sh, -c, "sh t\.sh"\]$/],
    ["an e2e step without a command", `${JAX}e2e:\n  - { name: smoke, run: [] }\n`, "e2e.0.run", /list of arguments/],
    ["a malformed timeout", `${JAX}e2e:\n  - { name: smoke, run: [x], timeout: 10 minutes }\n`, "e2e.0.timeout", /duration such as "90s"/],
    ["a zero timeout", `${JAX}e2e:\n  - { name: smoke, run: [x], timeout: 0s }\n`, "e2e.0.timeout", /^a time limit is required: 0s would mean none; give one such as "10m"$/],
    ["a duplicate step name", `${JAX}e2e:\n  - { name: smoke, run: [x] }\n  - { name: smoke, run: [y] }\n`, "e2e.1.name", /duplicate step name "smoke" \(also e2e\.0\.name\)/],
    ["a step env name that is not a variable", `${JAX}e2e:\n  - { name: smoke, run: [x], env: { "A-B": c } }\n`, "e2e.0.env.A-B", /variable name/],
    ["an uppercase registry", `${JAX}publish: { registries: [{ registry: GHCR.io, repository: example/x, username: u }] }\n`, "publish.registries.0.registry", /registry host/],
    ["an uppercase repository", `${JAX}publish: { registries: [{ registry: ghcr.io, repository: Example/X, username: u }] }\n`, "publish.registries.0.repository", /lowercase repository path/],
    ["an unknown top-level key", `${JAX}tests: []\n`, "tests", /unknown key \(expected one of: images, kubernetes, cluster, build, e2e, lanes, preload, publish\)/],
    ["an in-cluster ref tagged latest", "images:\n  jax: { context: images/jax, ref: ghcr.io/x/jax:latest }\n", "images.jax.ref", /^must not be tagged latest: Kubernetes pulls such an image \(imagePullPolicy: Always\), so the loaded one ends in ImagePullBackOff; use a tag such as ghcr\.io\/x\/jax:test$/],
    ["an untagged in-cluster ref", "images:\n  jax: { context: images/jax, ref: ghcr.io/x/jax }\n", "images.jax.ref", /^must carry a tag \(e\.g\. ghcr\.io\/x\/jax:test\): an untagged reference means :latest/],
    ["an in-cluster ref with a digest", `images:\n  jax: { context: images/jax, ref: "ghcr.io/x/jax:t@sha256:${"a".repeat(64)}" }\n`, "images.jax.ref", /must not carry a digest: the image is built here/],
    ["an in-cluster ref that is no reference", "images:\n  jax: { context: images/jax, ref: 'Ghcr.io/X Y' }\n", "images.jax.ref", /must be an image reference such as ghcr\.io\/example\/manager:test/],
    ["a preload tagged latest", `${JAX}preload: [registry.k8s.io/pause:latest]\n`, "preload.0", /must not be tagged latest: .*; use a tag such as registry\.k8s\.io\/pause:<its version>@sha256:<digest>$/],
    ["an untagged preload", `${JAX}preload: [nvcr.io/nvidia/jax]\n`, "preload.0", /^must carry a tag \(e\.g\. nvcr\.io\/nvidia\/jax:<its version>@sha256:<digest>\)/],
    ["a step that needs a step", `${JAX}e2e:\n  - { name: deploy, run: [x] }\n  - { name: suite, needs: [deploy], run: [y] }\n`, "e2e.1.needs.0", /^"deploy" is a step, and needs lists images; to run after step deploy, use after: \[deploy\]$/],
    ["a step after an unknown step", `${JAX}e2e:\n  - { name: deploy, run: [x] }\n  - { name: suite, after: [deplyo], run: [y] }\n`, "e2e.1.after.0", /^unknown step "deplyo" \(did you mean "deploy"\?\) \(steps: deploy, suite\)$/],
    ["a step after an image", `${JAX}e2e:\n  - { name: suite, after: [jax], run: [y] }\n`, "e2e.0.after.0", /"jax" is an image: list it in needs/],
    ["a step after itself", `${JAX}e2e:\n  - { name: suite, after: [suite], run: [y] }\n`, "e2e.0.after.0", /^a step cannot run after itself$/],
    ["steps after each other in a cycle", `${JAX}e2e:\n  - { name: a, after: [c], run: [x] }\n  - { name: b, after: [a], run: [x] }\n  - { name: c, after: [b], run: [x] }\n`, "e2e.0.after", /^steps wait for each other in a cycle: a → c → b → a$/],
    ["a step secret given as plain text", `${JAX}e2e:\n  - { name: s, run: [x], secrets: { TOKEN: hunter2 } }\n`, "e2e.0.secrets.TOKEN", /Dagger secret reference/],
    ["a step secret name that is not a variable", `${JAX}e2e:\n  - { name: s, run: [x], secrets: { "A-B": "env://X" } }\n`, "e2e.0.secrets.A-B", /variable name/],
    ["a step on a version the run does not have", `${JAX}kubernetes: { versions: ["1.37.0"] }\ne2e:\n  - { name: s, run: [x], kubernetes: ["1.36.4"] }\n`, "e2e.0.kubernetes.0", /^1\.36\.4 is not in kubernetes\.versions \(1\.37\.0\)$/],
    ["a step with an empty version list", `${JAX}e2e:\n  - { name: s, run: [x], kubernetes: [] }\n`, "e2e.0.kubernetes", /at least one version, or be left out/],
    ["one build secret id for two references", "images:\n  jax: { context: images/jax, secrets: { pip: env://A } }\n  pytorch: { context: images/pytorch, secrets: { pip: env://B } }\n", "images.pytorch.secrets.pip", /^secret id "pip" is env:\/\/B here but env:\/\/A in images\.jax: a secret id names one secret for every image/],
    ["a document that is a list", "- images\n", "", /must be a mapping, not a list/],
  ];

  it.each(cases)("%s", async (_name, yaml, path, message) => {
    const found = await problems(yaml);
    const atPath = found.filter((line) => line.startsWith(`${path}: `));
    expect(atPath, `problems were:\n${found.join("\n")}`).toHaveLength(1);
    expect(atPath[0]!.slice(path.length + 2)).toMatch(message);
  });

  it("has at least 20 distinct cases", () => {
    expect(new Set(cases.map(([, yaml]) => yaml)).size).toBeGreaterThanOrEqual(20);
  });
});

describe("ConfigError", () => {
  it("lists every problem across sections, one per line with its line number, in file order", async () => {
    const yaml = ["images:", "  jax: { context: images/jax, optinal: true }", "kubernetes: { versions: [1.37] }", "e2e:", "  - { name: s, needs: [torch], run: [x] }", ""].join("\n");
    const error = (await validateConfig(yaml, tree).catch((e: unknown) => e)) as ConfigError;
    expect(error.message.split("\n")).toEqual([
      "invalid kind-pipeline.yaml (3 problems):",
      '  images.jax.optinal: unknown key (did you mean "optional"?) (line 2)',
      '  kubernetes.versions.0: must be a string, not number 1.37 as YAML read it: quote it and give all three parts, e.g. "1.37.0" (line 3)',
      '  e2e.0.needs.0: unknown image "torch" (configured images: jax) (line 5)',
      "Fix kind-pipeline.yaml; `dagger call plan` (or `npm run plan` here) checks a config without running anything.",
    ]);
  });

  it("reports a YAML syntax error with its line and column", async () => {
    expect(await problems("images:\n  jax: { context: images/jax\n")).toEqual([
      expect.stringMatching(/^kind-pipeline\.yaml:3:1: YAML syntax error: /),
    ]);
  });

  it("reports duplicate keys as a syntax error", async () => {
    expect(await problems(`${JAX}images: {}\n`)).toEqual([expect.stringMatching(/^kind-pipeline\.yaml:3:1: YAML syntax error: Map keys must be unique/)]);
  });

  it("says which file it looked for when the config is missing", async () => {
    const error = await loadConfig(tree, "ci/kind-pipeline.yaml").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/file not found: ci\/kind-pipeline\.yaml/);
    expect((error as Error).message).toMatch(/--config/);
  });
});

describe("valid configs normalize as documented", () => {
  it("fills every default", async () => {
    expect(await validateConfig(JAX, tree)).toEqual({
      images: { jax: { context: "images/jax", dockerfile: "Dockerfile", buildArgs: {}, secrets: {}, optional: false, buildArgsFrom: {}, publish: true } },
      kubernetes: { versions: ["1.37.0"], kind: "v0.33.0", nodeImageFallback: "build" },
      cluster: { name: "kind-pipeline", workers: 1, nodeLabels: {} },
      build: { retries: 1, retryDelay: 5, timeout: 1800 },
      e2e: [],
      lanes: [],
      preload: [],
    });
  });

  it("normalizes paths, versions and durations", async () => {
    const config = await validateConfig(
      [
        "images:",
        "  manager: { context: ./, dockerfile: ./cmd/manager/Dockerfile }",
        "  jax: { context: ./images/jax/, secrets: { pip: env://PIP_TOKEN } }",
        'kubernetes: { versions: [v1.36.4, "1.38.0"] }',
        "build: { retryDelay: 1m30s }",
        "e2e:",
        "  - { name: smoke, needs: [jax], run: [sh, run.sh], timeout: 1h30m, env: { LEVEL: debug }, kubernetes: [v1.38.0] }",
        "publish: { registries: [{ registry: ghcr.io, repository: example/kind-pipeline, username: octocat }] }",
      ].join("\n"),
      tree,
    );
    expect(config.images.manager).toMatchObject({ context: ".", dockerfile: "cmd/manager/Dockerfile" });
    expect(config.images.jax).toMatchObject({ context: "images/jax", secrets: { pip: "env://PIP_TOKEN" } });
    expect(config.kubernetes.versions).toEqual(["1.36.4", "1.38.0"]);
    expect(config.build.retryDelay).toBe(90);
    expect(config.e2e[0]).toEqual({ name: "smoke", needs: ["jax"], after: [], run: ["sh", "run.sh"], timeout: 5400, env: { LEVEL: "debug" }, secrets: {}, kubernetes: ["1.38.0"] });
    expect(config.publish).toEqual({ registries: [{ registry: "ghcr.io", repository: "example/kind-pipeline", username: "octocat" }], tags: ["sha-{revision}", "pr-{pullRequest}", "{version}"] });
  });

  it("takes YAML merge keys and ignores x- top-level keys, so shared blocks are written once", async () => {
    const yaml = [
      'x-python: &python { buildArgs: { PYTHON_VERSION: "3.12" }, target: runtime }',
      "images:",
      "  jax: { <<: *python, context: images/jax }",
      "  pytorch: { <<: *python, context: images/pytorch, target: slim }",
    ].join("\n");
    const config = await validateConfig(yaml, tree);
    expect(config.images.jax).toMatchObject({ buildArgs: { PYTHON_VERSION: "3.12" }, target: "runtime" });
    expect(config.images.pytorch).toMatchObject({ buildArgs: { PYTHON_VERSION: "3.12" }, target: "slim" });
    expect(await problems(`${JAX}y-python: {}\n`)).toEqual([expect.stringMatching(/^y-python: unknown key/)]);
  });

  it("accepts a step that runs a program on PATH or a script of its image", async () => {
    const yaml = `${JAX}e2e:\n  - { name: a, run: [go, test, ./test/e2e/...] }\n  - { name: b, run: [sh, -c, "exit 0"] }\n  - { name: c, run: [/opt/tests/run.sh] }\n  - { name: d, run: [sh, run.sh] }\n`;
    expect((await validateConfig(yaml, tree)).e2e.map((s) => s.name)).toEqual(["a", "b", "c", "d"]);
  });

  it("accepts the node labels the kubelet sets itself, as descheduler's topology tests use them", async () => {
    const labels = ["topology.kubernetes.io/zone", "node.kubernetes.io/exclude-from-external-load-balancers", "x.kubelet.kubernetes.io/pool", "kubernetes.io/os"];
    const yaml = `${JAX}cluster:\n  nodeLabels:\n${labels.map((l) => `    ${l}: "a"`).join("\n")}\n`;
    expect(Object.keys((await validateConfig(yaml, tree)).cluster.nodeLabels)).toEqual(labels);
    expect(await problems(`${JAX}cluster:\n  nodeLabels: { k8s.io/team: a }\n`)).toEqual([expect.stringMatching(/^cluster\.nodeLabels\.k8s\.io\/team: is in the kubernetes\.io or k8s\.io namespaces/)]);
  });

  it("accepts the embedded example", async () => {
    const config = await loadConfig(localSourceTree(REPO_ROOT));
    expect(Object.keys(config.images)).toEqual(["jax", "pytorch", "xgboost"]);
    expect(Object.entries(config.images).filter(([, image]) => !image.optional).map(([name]) => name)).toEqual(["jax"]);
  });
});

describe("kind-pipeline.schema.json", () => {
  it("is generated from the zod schema (run `npm run schema` when this fails)", () => {
    expect(readFileSync(join(REPO_ROOT, "kind-pipeline.schema.json"), "utf8")).toBe(configJsonSchema());
  });

  it("is what the example's editor hint points at", () => {
    expect(readFileSync(join(REPO_ROOT, "kind-pipeline.yaml"), "utf8")).toMatch(/^# yaml-language-server: \$schema=\.\/kind-pipeline\.schema\.json$/m);
  });
});
