/**
 * The schema of kind-pipeline.yaml as users meet it: the defaults a minimal file gets (with their units),
 * how durations read, the limits, the normalization of paths and versions, and the messages of each rule.
 * The schema alone, without the checks config.ts adds over the source tree (test/config.test.ts).
 */
import { describe, expect, test } from "vitest";
import { configJsonSchema, configSchema, kubernetesVersion, partSchemas } from "../ci/src/config-schema.js";
import { KIND_VERSIONS } from "../ci/src/releases.js";

const IMAGE = { context: "images/jax" };
const MINIMAL = { images: { jax: IMAGE } };

/** The normalized config of a file with the given sections besides one image. */
const parsed = (sections: Record<string, unknown> = {}) => configSchema.parse({ ...MINIMAL, ...sections });

/** The problems of an invalid config, as `path: message` lines. */
function problems(config: unknown): string[] {
  const result = configSchema.safeParse(config);
  if (result.success) throw new Error(`expected problems, but the config is valid: ${JSON.stringify(result.data)}`);
  // A record key's problems come wrapped in one "invalid key" issue, as config.ts unwraps them.
  return result.error.issues.flatMap((issue) =>
    (issue.code === "invalid_key" ? issue.issues : [issue]).map((inner) => `${issue.path.join(".")}: ${inner.message}`),
  );
}
const problemsWith = (sections: Record<string, unknown>) => problems({ ...MINIMAL, ...sections });

/** One e2e step with the given fields. */
const step = (fields: Record<string, unknown> = {}) => ({ name: "smoke", run: ["sh", "test/e2e/run.sh"], ...fields });

describe("the defaults users get from a minimal file", () => {
  test("kind v0.33.0 on Kubernetes 1.37.0, a node image built when none is published", () => {
    expect(parsed().kubernetes).toEqual({ versions: ["1.37.0"], kind: "v0.33.0", nodeImageFallback: "build" });
    expect(parsed({ kubernetes: {} }).kubernetes).toEqual({ versions: ["1.37.0"], kind: "v0.33.0", nodeImageFallback: "build" });
  });

  test("a cluster named kind-pipeline with one worker and no labels", () => {
    expect(parsed().cluster).toEqual({ name: "kind-pipeline", workers: 1, nodeLabels: {} });
  });

  test("one retry 5 seconds after a transient failure, 30 minutes (1800 s) per build attempt", () => {
    expect(parsed().build).toEqual({ retries: 1, retryDelay: 5, timeout: 1800 });
    expect(parsed({ build: {} }).build).toEqual({ retries: 1, retryDelay: 5, timeout: 1800 });
  });

  test("an image: Dockerfile in its context, no build args, no secrets, built by default", () => {
    expect(parsed().images.jax).toMatchObject({ context: "images/jax", dockerfile: "Dockerfile", buildArgs: {}, secrets: {}, optional: false });
    expect(parsed().images.jax).not.toHaveProperty("target");
  });

  test("no e2e steps; a step gets 10 minutes (600 s), no needs and no extra environment", () => {
    expect(parsed().e2e).toEqual([]);
    expect(parsed({ e2e: [step()] }).e2e[0]).toMatchObject({ name: "smoke", run: ["sh", "test/e2e/run.sh"], timeout: 600, needs: [], env: {} });
    expect(parsed({ e2e: [step()] }).e2e[0]).not.toHaveProperty("image");
  });

  test("no publishing unless configured", () => {
    expect(parsed()).not.toHaveProperty("publish");
  });

  test("the parts checked again after the whole file give the same defaults", () => {
    expect(partSchemas.image.parse(IMAGE)).toMatchObject({ dockerfile: "Dockerfile", optional: false });
    expect(partSchemas.kubernetes.parse({})).toEqual({ versions: ["1.37.0"], kind: "v0.33.0", nodeImageFallback: "build" });
    expect(partSchemas.step.parse(step())).toMatchObject({ timeout: 600 });
  });
});

describe("durations are whole seconds", () => {
  test.each([
    ["0s", 0],
    ["1s", 1],
    ["90s", 90],
    ["10m", 600],
    ["30m", 1800],
    ["1h", 3600],
    ["1h30m", 5400],
    ["2h3m4s", 7384],
    ["1m30s", 90],
    ["24h", 86_400],
    ["1440m", 86_400],
    ["86400s", 86_400],
  ])("%s is %i seconds", (text, seconds) => {
    expect(parsed({ build: { retryDelay: text } }).build.retryDelay).toBe(seconds);
  });

  test("the same in every duration: build timeout and step timeout", () => {
    expect(parsed({ build: { timeout: "1h30m" }, e2e: [step({ timeout: "2m5s" })] })).toMatchObject({ build: { timeout: 5400 }, e2e: [{ timeout: 125 }] });
  });

  test.each(["10", "m", "10 minutes", "1.5h", "-1s", "1s2m", "10M", " 10m", "10m ", "1d", "", "h1"])("%j is not a duration", (text) => {
    expect(problemsWith({ build: { retryDelay: text } })).toEqual(['build.retryDelay: must be a duration such as "90s", "10m", "1h" or "1h30m"']);
  });

  test("at most 24h", () => {
    expect(problemsWith({ build: { retryDelay: "24h1s" } })).toEqual(["build.retryDelay: must be at most 24h"]);
    expect(problemsWith({ build: { timeout: "25h" } })).toEqual(["build.timeout: must be at most 24h"]);
    expect(problemsWith({ e2e: [step({ timeout: "1441m" })] })).toEqual(["e2e.0.timeout: must be at most 24h"]);
  });

  test("a time limit must be longer than 0s; a retry delay may be 0s", () => {
    expect(problemsWith({ build: { timeout: "0s" } })).toEqual([expect.stringMatching(/^build\.timeout: .*0s/)]);
    expect(problemsWith({ e2e: [step({ timeout: "0m" })] })).toEqual([expect.stringMatching(/^e2e\.0\.timeout: .*0s/)]);
    expect(parsed({ build: { retryDelay: "0s", timeout: "1s" } }).build).toMatchObject({ retryDelay: 0, timeout: 1 });
  });
});

describe("paths inside the source are normalized", () => {
  test.each([
    ["./images/jax/", "images/jax"],
    ["images//jax", "images/jax"],
    ["images/pytorch/../jax", "images/jax"],
    [".", "."],
    ["./", "."],
    ["..hidden", "..hidden"],
  ])("%j reads as %j", (context, normalized) => {
    expect(parsed({ images: { jax: { context } } }).images.jax?.context).toBe(normalized);
  });

  test("a Dockerfile path too", () => {
    expect(parsed({ images: { jax: { context: ".", dockerfile: "./cmd/manager/Dockerfile" } } }).images.jax?.dockerfile).toBe("cmd/manager/Dockerfile");
  });

  test.each([
    ["/etc", "must be relative to the source directory, not absolute"],
    ["C:\\images", "must be relative to the source directory, not absolute"],
    ["c:/images", "must be relative to the source directory, not absolute"],
    ["..", "must stay inside the source directory (no '..')"],
    ["../elsewhere", "must stay inside the source directory (no '..')"],
    ["images/../../elsewhere", "must stay inside the source directory (no '..')"],
    ["", "must not be empty"],
  ])("%j: %s", (context, message) => {
    expect(problems({ images: { jax: { context } } })).toEqual([`images.jax.context: ${message}`]);
  });
});

describe("names, versions and values", () => {
  test("Kubernetes versions lose their v", () => {
    expect(parsed({ kubernetes: { versions: ["v1.36.4", "1.35.8"] } }).kubernetes.versions).toEqual(["1.36.4", "1.35.8"]);
    expect(kubernetesVersion.parse("v1.38.0")).toBe("1.38.0");
  });

  test.each(["1.37", "1.37.0.1", "x1.37.0", "1.37.0-rc.1", "V1.37.0", "vv1.37.0", ""])("%j is not a Kubernetes version", (version) => {
    expect(kubernetesVersion.safeParse(version).error?.issues.map((i) => i.message)).toEqual(['must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. "1.37.0"']);
  });

  test("every part of a version may have several digits", () => {
    expect(parsed({ kubernetes: { versions: ["10.0.0", "1.37.10", "v12.345.6789"] } }).kubernetes.versions).toEqual(["10.0.0", "1.37.10", "12.345.6789"]);
  });

  test("a version YAML read as a number says to quote it", () => {
    expect(problemsWith({ kubernetes: { versions: [1.37] } })).toEqual(['kubernetes.versions.0: must be a string, not number 1.37 as YAML read it: quote it and give all three parts, e.g. "1.37.0"']);
    expect(problemsWith({ kubernetes: { versions: [true] } })).toEqual([expect.not.stringContaining("quote it")]);
  });

  test("a duration YAML read as a number says it has no unit", () => {
    expect(problemsWith({ build: { timeout: 600 } })).toEqual(['build.timeout: must be a duration with its unit, e.g. "600s" or "600m": a bare number has none']);
    expect(problemsWith({ build: { timeout: true } })).toEqual([expect.not.stringContaining("bare number")]);
  });

  test("a Dockerfile must stay inside its context", () => {
    for (const dockerfile of ["..", "../Dockerfile", "sub/../../Dockerfile"]) {
      expect(problems({ images: { jax: { ...IMAGE, dockerfile } } })).toEqual([expect.stringMatching(/^images\.jax\.dockerfile: must stay inside the context \(no '\.\.'\)/)]);
    }
    expect(parsed({ images: { jax: { ...IMAGE, dockerfile: "..Dockerfile" } } }).images.jax?.dockerfile).toBe("..Dockerfile");
    expect(parsed({ images: { jax: { ...IMAGE, dockerfile: "build/../Dockerfile.dev" } } }).images.jax?.dockerfile).toBe("Dockerfile.dev");
  });

  test("a directory named like a Windows drive inside the source is a relative path", () => {
    expect(parsed({ images: { jax: { context: "images/c:/jax" } } }).images.jax?.context).toBe("images/c:/jax");
  });

  test("labels the kubelet sets itself: kubelet.kubernetes.io and node.kubernetes.io, and their subdomains", () => {
    const labels = { "kubelet.kubernetes.io/x": "a", "pool.node.kubernetes.io/y": "b", "a.kubelet.kubernetes.io/z": "c" };
    expect(parsed({ cluster: { nodeLabels: labels } }).cluster.nodeLabels).toEqual(labels);
    expect(problemsWith({ cluster: { nodeLabels: { "evilnode.kubernetes.io/x": "a" } } })).toHaveLength(1);
  });

  test("image names are DNS-1123 labels of at most 63 characters", () => {
    expect(Object.keys(parsed({ images: { [`a${"b".repeat(61)}c`]: IMAGE, "x-1": IMAGE, "9": IMAGE } }).images)).toHaveLength(3);
    expect(problems({ images: { [`a${"b".repeat(62)}c`]: IMAGE } })).toEqual([`images.a${"b".repeat(62)}c: must be at most 63 characters (a DNS-1123 label)`]);
    for (const name of ["-jax", "jax-", "Jax", "ja_x", "ja.x"]) {
      expect(problems({ images: { [name]: IMAGE } })).toEqual([
        `images.${name}: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit`,
      ]);
    }
  });

  test("at least one image", () => {
    expect(problems({ images: {} })).toEqual(["images: must define at least one image"]);
  });

  test("build args are strings named like variables; a number or boolean YAML read says to quote it", () => {
    expect(parsed({ images: { jax: { ...IMAGE, buildArgs: { _A1: "x", PY: "3.10" } } } }).images.jax?.buildArgs).toEqual({ _A1: "x", PY: "3.10" });
    expect(problems({ images: { jax: { ...IMAGE, buildArgs: { PY: 3.1, DEBUG: true } } } })).toEqual([
      "images.jax.buildArgs.PY: must be a string, not number 3.1 as YAML read it: quote the value so that it is kept exactly as written",
      "images.jax.buildArgs.DEBUG: must be a string, not boolean true as YAML read it: quote the value so that it is kept exactly as written",
    ]);
    expect(problems({ images: { jax: { ...IMAGE, buildArgs: { LIST: ["a"] } } } })).toEqual([expect.not.stringMatching(/quote the value/)]);
    expect(problems({ images: { jax: { ...IMAGE, buildArgs: { "1X": "a", "A-B": "b" } } } })).toEqual([
      "images.jax.buildArgs.1X: must be a variable name: letters, digits and '_', not starting with a digit",
      "images.jax.buildArgs.A-B: must be a variable name: letters, digits and '_', not starting with a digit",
    ]);
  });

  test("a target is a build stage name", () => {
    expect(parsed({ images: { jax: { ...IMAGE, target: "runtime.v2_x-1" } } }).images.jax?.target).toBe("runtime.v2_x-1");
    for (const target of ["run time", "-runtime", ""]) {
      expect(problems({ images: { jax: { ...IMAGE, target } } })).toEqual(["images.jax.target: must be a build stage name from the Dockerfile (FROM … AS <name>)"]);
    }
  });

  test("build secrets: ids as Dockerfiles mount them, values as Dagger secret references, never the secret", () => {
    const secrets = { pip: "env://PIP_TOKEN", "npm.rc": "file://./npmrc", gh_1: "cmd://gh auth token", op: "op://vault/item/field", v: "vault://secret/x", l: "libsecret://k" };
    expect(parsed({ images: { jax: { ...IMAGE, secrets } } }).images.jax?.secrets).toEqual(secrets);
    expect(problems({ images: { jax: { ...IMAGE, secrets: { "a b": "env://X" } } } })).toEqual(["images.jax.secrets.a b: must be a secret id as used in RUN --mount=type=secret,id=<id>"]);
    for (const value of ["ghp_plaintext", "env:PIP_TOKEN", "env://", "http://x", " env://X"]) {
      expect(problems({ images: { jax: { ...IMAGE, secrets: { pip: value } } } })).toEqual([
        'images.jax.secrets.pip: must be a Dagger secret reference such as "env://NPM_TOKEN" or "file://./token", never the secret itself',
      ]);
    }
  });

  test("kind releases, node image fallbacks", () => {
    expect(problemsWith({ kubernetes: { kind: "v0.20.0" } })).toEqual([`kubernetes.kind: must be a kind release this module pins: ${KIND_VERSIONS.join(", ")}`]);
    expect(KIND_VERSIONS[0]).toBe("v0.33.0");
    expect(problemsWith({ kubernetes: { nodeImageFallback: "pull" } })).toEqual(['kubernetes.nodeImageFallback: must be "build" or "fail"']);
    expect(parsed({ kubernetes: { nodeImageFallback: "fail" } }).kubernetes.nodeImageFallback).toBe("fail");
    expect(problemsWith({ kubernetes: { versions: [] } })).toEqual(["kubernetes.versions: must list at least one version"]);
  });

  test("cluster name: a DNS label of at most 40 characters", () => {
    expect(parsed({ cluster: { name: "k".repeat(40) } }).cluster.name).toHaveLength(40);
    expect(problemsWith({ cluster: { name: "k".repeat(41) } })).toEqual([
      "cluster.name: must be at most 40 characters: kind adds the version and node role (…-1-37-0-control-plane) within its 63",
    ]);
    expect(problemsWith({ cluster: { name: "Kind" } })).toEqual([expect.stringMatching(/^cluster\.name: must be a DNS-1123 label/)]);
  });

  test("workers: a whole number from 0 to 8", () => {
    expect(parsed({ cluster: { workers: 0 } }).cluster.workers).toBe(0);
    expect(parsed({ cluster: { workers: 8 } }).cluster.workers).toBe(8);
    expect(problemsWith({ cluster: { workers: 9 } })).toEqual(["cluster.workers: must be at most 8: every node is a container in one Docker-in-Docker service"]);
    expect(problemsWith({ cluster: { workers: -1 } })).toEqual(["cluster.workers: must be 0 or more"]);
    expect(problemsWith({ cluster: { workers: 1.5 } })).toEqual(["cluster.workers: must be a whole number"]);
  });

  test("node labels: Kubernetes label keys and values, outside the kubelet's own namespaces", () => {
    const labels = { "example.com/role": "gpu", tier: "", "a.b-c.d/x_y.z": "A-1_b.2" };
    expect(parsed({ cluster: { nodeLabels: labels } }).cluster.nodeLabels).toEqual(labels);
    expect(problemsWith({ cluster: { nodeLabels: { "bad key": "x", "-x": "y", "Example.com/x": "z" } } })).toEqual([
      "cluster.nodeLabels.bad key: must be a Kubernetes label key such as example.com/role",
      "cluster.nodeLabels.-x: must be a Kubernetes label key such as example.com/role",
      "cluster.nodeLabels.Example.com/x: must be a Kubernetes label key such as example.com/role",
    ]);
    for (const key of ["node-role.kubernetes.io/worker", "kubernetes.io/team", "k8s.io/x", "node.k8s.io/y"]) {
      expect(problemsWith({ cluster: { nodeLabels: { [key]: "x" } } })).toEqual([expect.stringMatching(/is in the kubernetes\.io or k8s\.io namespaces, where the kubelet sets only its own labels/)]);
    }
    expect(Object.keys(parsed({ cluster: { nodeLabels: { "kubernetes.io/arch": "amd64", "node.kubernetes.io/pool": "a" } } }).cluster.nodeLabels)).toEqual(["kubernetes.io/arch", "node.kubernetes.io/pool"]);
    expect(parsed({ cluster: { nodeLabels: { "kubernetes.io.example.com/x": "y", "notk8s.io/x": "y" } } }).cluster.nodeLabels).toHaveProperty("notk8s.io/x");
    expect(problemsWith({ cluster: { nodeLabels: { role: "-gpu" } } })).toEqual(["cluster.nodeLabels.role: must be a Kubernetes label value (63 characters at most)"]);
    expect(problemsWith({ cluster: { nodeLabels: { role: "v".repeat(64) } } })).toEqual(["cluster.nodeLabels.role: must be a Kubernetes label value (63 characters at most)"]);
    expect(parsed({ cluster: { nodeLabels: { role: "v".repeat(63) } } }).cluster.nodeLabels.role).toHaveLength(63);
  });

  test("retries: a whole number from 0 to 5", () => {
    expect(parsed({ build: { retries: 0 } }).build.retries).toBe(0);
    expect(parsed({ build: { retries: 5 } }).build.retries).toBe(5);
    expect(problemsWith({ build: { retries: 6 } })).toEqual(["build.retries: must be at most 5"]);
    expect(problemsWith({ build: { retries: -1 } })).toEqual(["build.retries: must be 0 or more"]);
    expect(problemsWith({ build: { retries: 0.5 } })).toEqual(["build.retries: must be a whole number"]);
  });

  test("e2e steps: a command as a list of non-empty arguments", () => {
    expect(problemsWith({ e2e: [step({ run: [] })] })).toEqual(["e2e.0.run: must be a command as a list of arguments, e.g. [sh, test/e2e/run.sh, jax]"]);
    expect(problemsWith({ e2e: [step({ run: ["sh", ""] })] })).toEqual(["e2e.0.run.1: must not be empty"]);
    expect(problemsWith({ e2e: [step({ name: "Smoke" })] })).toEqual([expect.stringMatching(/^e2e\.0\.name: must be a DNS-1123 label/)]);
    expect(problemsWith({ e2e: [step({ needs: ["Jax"] })] })).toEqual([expect.stringMatching(/^e2e\.0\.needs\.0: must be a DNS-1123 label/)]);
    expect(problemsWith({ e2e: [step({ env: { "A-B": "x" } })] })).toEqual([expect.stringMatching(/^e2e\.0\.env\.A-B: must be a variable name/)]);
    expect(problemsWith({ e2e: [step({ image: "" })] })).toHaveLength(1);
    expect(parsed({ e2e: [step({ image: "alpine:3.20", env: { MODE: "fast" } })] }).e2e[0]).toMatchObject({ image: "alpine:3.20", env: { MODE: "fast" } });
  });

  test("keys are strict: a typo is an error", () => {
    expect(problemsWith({ buld: {} }).map((p) => p.split(":")[0])).toEqual([""]);
    expect(problems({ images: { jax: { ...IMAGE, contxt: "x" } } })).toHaveLength(1);
    expect(problemsWith({ cluster: { worker: 1 } })).toHaveLength(1);
    expect(problemsWith({ build: { retry: 1 } })).toHaveLength(1);
    expect(problemsWith({ kubernetes: { version: ["1.37.0"] } })).toHaveLength(1);
    expect(problemsWith({ e2e: [step({ timeot: "1m" })] })).toHaveLength(1);
  });
});

describe("the JSON Schema for editors", () => {
  const schema = JSON.parse(configJsonSchema());

  test("is titled, formatted with two spaces and ends with a newline", () => {
    const text = configJsonSchema();
    expect(schema.title).toBe("kind-pipeline.yaml");
    expect(text.endsWith("}\n")).toBe(true);
    expect(text.split("\n")[1]).toMatch(/^ {2}"/);
  });

  test("describes the file as users write it: only images is required, defaulted keys are optional", () => {
    expect(schema.required).toEqual(["images"]);
    expect(schema.additionalProperties).toBe(false);
    const image = schema.properties.images.additionalProperties;
    expect(image.required).toEqual(["context"]);
    expect(schema.properties.build.properties.timeout.default).toBe("30m");
    expect(schema.properties.build.properties.retryDelay.default).toBe("5s");
    expect(schema.properties.build.properties.retries.default).toBe(1);
    expect(schema.properties.cluster.properties.workers.default).toBe(1);
  });
});

describe("image references, platforms and computed build args", () => {
  const image = (fields: Record<string, unknown>) => ({ images: { jax: { ...IMAGE, ...fields } } });

  test("an in-cluster ref: tagged, not latest, without a digest; the messages give an example from the name", () => {
    expect(parsed(image({ ref: "ghcr.io/x/jax:test" })).images.jax?.ref).toBe("ghcr.io/x/jax:test");
    expect(problems(image({ ref: "Not A Ref" }))).toEqual(["images.jax.ref: must be an image reference such as ghcr.io/example/manager:test"]);
    expect(problems(image({ ref: "registry.local:5000/x/jax" }))).toEqual([
      "images.jax.ref: must carry a tag (e.g. registry.local:5000/x/jax:test): an untagged reference means :latest, and Kubernetes pulls such an image (imagePullPolicy: Always), so the loaded one ends in ImagePullBackOff",
    ]);
    expect(problems(image({ ref: "registry.local:5000/x/jax:latest" }))).toEqual([
      "images.jax.ref: must not be tagged latest: Kubernetes pulls such an image (imagePullPolicy: Always), so the loaded one ends in ImagePullBackOff; use a tag such as registry.local:5000/x/jax:test",
    ]);
  });

  test("platforms: known linux platforms, at least one, each once", () => {
    const all = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/386"];
    expect(parsed(image({ platforms: all })).images.jax?.platforms).toEqual(all);
    for (const platform of ["windows/amd64", "linux/amd64/v2", "xlinux/amd64"]) {
      expect(problems(image({ platforms: [platform] }))).toEqual(["images.jax.platforms.0: must be a platform such as linux/amd64 or linux/arm64"]);
    }
    expect(problems(image({ platforms: [] }))).toEqual(["images.jax.platforms: must list at least one platform"]);
    expect(problems(image({ platforms: ["linux/amd64", "linux/amd64"] }))).toEqual(["images.jax.platforms: lists a platform twice"]);
  });

  test("a computed build arg names one source: a file of the source, or a value of the publish call", () => {
    expect(parsed(image({ buildArgsFrom: { NODE: { file: "./frontend/.nvmrc" }, REV: { arg: "revision" } } })).images.jax?.buildArgsFrom).toEqual({
      NODE: { file: "frontend/.nvmrc" },
      REV: { arg: "revision" },
    });
    const oneSource = "images.jax.buildArgsFrom.X: must name one source: { file: <path> } or { arg: revision | version | pullRequest }";
    expect(problems(image({ buildArgsFrom: { X: {} } }))).toEqual([oneSource]);
    expect(problems(image({ buildArgsFrom: { X: { file: "a", arg: "version" } } }))).toEqual([oneSource]);
    expect(problems(image({ buildArgsFrom: { X: { arg: "branch" } } }))).toEqual(["images.jax.buildArgsFrom.X.arg: must be one of revision, pullRequest, version"]);
  });

  test("published unless publish: false", () => {
    expect(parsed().images.jax?.publish).toBe(true);
    expect(parsed(image({ publish: false })).images.jax?.publish).toBe(false);
  });
});

describe("kind's own config, where the module does not own it", () => {
  const kindConfig = (config: Record<string, unknown>) => ({ cluster: { kindConfig: config } });

  test("nodes: at least one, a control plane among them, at most 9", () => {
    const cp = { role: "control-plane" };
    const worker = { role: "worker" };
    expect(parsed(kindConfig({ nodes: [cp, worker] })).cluster.kindConfig?.nodes).toHaveLength(2);
    expect(parsed(kindConfig({ nodes: [cp, ...Array(8).fill(worker)] })).cluster.kindConfig?.nodes).toHaveLength(9);
    expect(problemsWith(kindConfig({ nodes: [worker] }))).toEqual(["cluster.kindConfig.nodes: must have a control-plane node"]);
    expect(problemsWith(kindConfig({ nodes: [cp, ...Array(9).fill(worker)] }))).toEqual([
      "cluster.kindConfig.nodes: must have at most 9 nodes: every node is a container in one Docker-in-Docker service",
    ]);
  });

  test("fields the module owns are refused with the reason", () => {
    expect(problemsWith(kindConfig({ name: "mine" }))).toEqual(["cluster.kindConfig.name: is set by kind-pipeline: the cluster is <cluster.name>-<version>"]);
    expect(problemsWith(kindConfig({ nodes: [{ role: "control-plane", image: "kindest/node:v1.30.0" }] }))).toEqual([
      expect.stringMatching(/^cluster\.kindConfig\.nodes\.0\.image: is set by kind-pipeline: the node image comes from kubernetes\.versions/),
    ]);
    expect(problemsWith(kindConfig({ networking: { apiServerPort: 7443 } }))).toEqual([expect.stringMatching(/^cluster\.kindConfig\.networking\.apiServerPort: is set by kind-pipeline: /)]);
    expect(parsed(kindConfig({ networking: { kubeProxyMode: "ipvs" } })).cluster.kindConfig?.networking).toEqual({ kubeProxyMode: "ipvs" });
  });
});

describe("lanes", () => {
  test("a lane's name is short, and not default", () => {
    expect(problemsWith({ lanes: [{ name: "default" }] })).toEqual(["lanes.0.name: default is the plain cluster's lane; give this one another name"]);
    expect(problemsWith({ lanes: [{ name: "a".repeat(13) }] })).toEqual(["lanes.0.name: must be at most 12 characters: it becomes part of the lane's cluster names"]);
    expect(parsed({ lanes: [{ name: "gpu" }] }).lanes[0]).toMatchObject({ name: "gpu", env: {} });
  });
});

describe("the publish tag policy", () => {
  const publish = (fields: Record<string, unknown> = {}) => ({ publish: { registries: [{ registry: "ghcr.io", repository: "example/x", username: "bot" }], ...fields } });

  test("by default: the commit, the pull request and the version, never latest", () => {
    expect(parsed(publish()).publish?.tags).toEqual(["sha-{revision}", "pr-{pullRequest}", "{version}"]);
  });

  test("templates take {revision}, {pullRequest} and {version}; each tag is an image tag, listed once", () => {
    expect(parsed(publish({ tags: ["v{version}", "{revision}", "edge", "pr-{pullRequest}-x"] })).publish?.tags).toHaveLength(4);
    expect(problemsWith(publish({ tags: ["{branch}"] }))).toEqual(["publish.tags.0: unknown placeholder {branch}: use {revision}, {pullRequest} or {version}"]);
    expect(problemsWith(publish({ tags: ["-{version}"] }))).toEqual([
      "publish.tags.0: must be an image tag (letters, digits, '_', '.' and '-', not starting with '.' or '-', 128 at most), with {revision}, {pullRequest} or {version} where the call's values go",
    ]);
    expect(problemsWith(publish({ tags: ["edge", "edge"] }))).toEqual(["publish.tags: lists a tag twice"]);
  });
});

describe("more of what users are told", () => {
  test("every label the kubelet sets itself in kubernetes.io is accepted on a node", () => {
    const known = [
      "kubernetes.io/hostname",
      "kubernetes.io/os",
      "kubernetes.io/arch",
      "beta.kubernetes.io/os",
      "beta.kubernetes.io/arch",
      "beta.kubernetes.io/instance-type",
      "topology.kubernetes.io/zone",
      "topology.kubernetes.io/region",
      "failure-domain.beta.kubernetes.io/zone",
      "failure-domain.beta.kubernetes.io/region",
    ];
    for (const key of known) expect(parsed({ cluster: { nodeLabels: { [key]: "x" } } }).cluster.nodeLabels).toEqual({ [key]: "x" });
    expect(problemsWith({ cluster: { nodeLabels: { "topology.kubernetes.io/rack": "x" } } })).toHaveLength(1);
  });

  test("a Dockerfile path: not empty, not absolute", () => {
    expect(problems({ images: { jax: { ...IMAGE, dockerfile: "" } } })).toEqual(["images.jax.dockerfile: must not be empty"]);
    expect(problems({ images: { jax: { ...IMAGE, dockerfile: "/Dockerfile" } } })).toEqual(["images.jax.dockerfile: must be relative to the context, not absolute"]);
  });
});
