/**
 * The exact text of the errors a config gets: ConfigError's header, problem lines and advice, YAML syntax
 * errors, how a wrong value is described, the checks between sections (steps, versions, build secrets,
 * scripts), the line each problem points at and the order problems come in. test/config.test.ts checks
 * that each invalid config names the right path; here the whole message is pinned, as users read it.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, validateConfig } from "../ci/src/config.js";
import { planPipeline } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { projectTree } from "./support/projects.js";

const tree = localSourceTree(
  projectTree({
    "images/jax/Dockerfile": "FROM python:3.12-slim\n",
    "images/pytorch/Dockerfile": "FROM python:3.12-slim\n",
    "images/xgboost/Dockerfile": "FROM python:3.12-slim\n",
    "run.sh": "echo run\n",
  }),
);

const JAX = "images:\n  jax: { context: images/jax }\n";
const ADVICE = "Fix kind-pipeline.yaml; `dagger call plan` (or `npm run plan` here) checks a config without running anything.";

/** The ConfigError an invalid config gets. */
async function configError(yaml: string): Promise<ConfigError> {
  const error = await validateConfig(yaml, tree).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error;
}

/** The problem lines of an invalid config's message, as users read them (without the header and the advice). */
async function problemLines(yaml: string): Promise<string[]> {
  const lines = (await configError(yaml)).message.split("\n");
  expect(lines.at(-1)).toBe(ADVICE);
  return lines.slice(1, -1);
}

describe("ConfigError's message", () => {
  it("is a ConfigError counting one problem as '1 problem'; a problem with nothing written to point at has no line", async () => {
    const error = await configError("");
    expect(error.name).toBe("ConfigError");
    expect(String(error)).toBe(["ConfigError: invalid kind-pipeline.yaml (1 problem):", "  images: required", ADVICE].join("\n"));
  });

  it("names the whole document (top level), with its line, when it is not a mapping", async () => {
    expect(await problemLines("- images\n")).toEqual(["  (top level): must be a mapping, not a list (line 1)"]);
    expect(await problemLines("hello\n")).toEqual(['  (top level): must be a mapping, not a string ("hello") (line 1)']);
    expect(await problemLines("42\n")).toEqual(["  (top level): must be a mapping, not a number (42) (line 1)"]);
  });

  it("says which file it looked for, and how to name another, when the config is missing", async () => {
    const error = await loadConfig(tree, "ci/kind-pipeline.yaml").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message.split("\n")).toEqual([
      "invalid ci/kind-pipeline.yaml (1 problem):",
      "  (top level): file not found: ci/kind-pipeline.yaml (looked in the source directory)",
      "Create it (see the README's config reference) or name another file with --config.",
    ]);
  });

  it("for a selection, counts the problems of the arguments and says to choose from the config", async () => {
    const config = await validateConfig(JAX, tree);
    let error: unknown;
    try {
      planPipeline(config, { images: ["tensorflow"], kubernetes: ["1.37"] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message.split("\n")).toEqual([
      "invalid arguments (2 problems):",
      '  images: unknown image "tensorflow" (configured: jax)',
      '  kubernetes: "1.37" must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. "1.37.0"',
      "Choose images and versions from the config (`dagger call plan` lists them).",
    ]);
  });
});

describe("YAML syntax errors", () => {
  it("give the file, line and column once, in the path, not again at the end of the message", async () => {
    const yaml = ["images:", "  jax:", "    context: images/jax", "kubernetes:", "  versions:", '    - "1.37.0"', "cluster:", "  workers: 1", "e2e:", "  - name: smoke", "    run: [sh, run.sh]]", ""].join("\n");
    expect(await problemLines(yaml)).toEqual(['  kind-pipeline.yaml:11:22: YAML syntax error: Unexpected flow-seq-end token in YAML stream: "]"']);
  });

  it("keep text quoted from the file that reads like a position: only the position yaml appends is cut", async () => {
    const yaml = `${JAX}e2e:\n  - name: smoke\n    run: >- at line 1, column 2\n      sh run.sh\n`;
    expect(await problemLines(yaml)).toEqual(["  kind-pipeline.yaml:5:13: YAML syntax error: Not a YAML token: at line 1, column 2"]);
  });
});

describe("x- keys", () => {
  it("are dropped at the top level only: inside a section, an x- key is an unknown key", async () => {
    expect(await problemLines(`${JAX}cluster: { x-foo: 1 }\n`)).toEqual([
      "  cluster.x-foo: unknown key (expected one of: name, workers, nodeLabels, parallel, kindConfig) (line 3)",
    ]);
  });
});

describe("a value of the wrong kind is described as YAML reads it", () => {
  const step = "e2e:\n  - { name: s, needs: [jax], run: [x] }\n";
  it.each([
    ["empty", "images: ~\n", "  images: must be a record, not empty (null) (line 1)"],
    ["a list", "images: [jax]\n", "  images: must be a record, not a list (line 1)"],
    ["a string", "images: jax\n", '  images: must be a record, not a string ("jax") (line 1)'],
    ["an empty mapping", "images: {}\n", "  images: must define at least one image (line 1)"],
  ])("images %s: no image is configured, so a step's needs name none", async (_name, images, problem) => {
    expect(await problemLines(`${images}${step}`)).toEqual([problem, '  e2e.0.needs.0: unknown image "jax" (configured images: none) (line 3)']);
  });

  it("a mapping where a string goes, a number where a mapping goes, a string where a list goes", async () => {
    expect(await problemLines(`${JAX}kubernetes: { versions: [{ a: 1 }] }\ncluster: 5\ne2e: hello\n`)).toEqual([
      "  kubernetes.versions.0: must be a string, not a mapping (line 3)",
      "  cluster: must be a mapping, not a number (5) (line 4)",
      '  e2e: must be a list, not a string ("hello") (line 5)',
    ]);
  });
});

describe("steps", () => {
  it("a version a step names is checked against the valid versions of kubernetes.versions, listed in full", async () => {
    const yaml = `${JAX}kubernetes: { versions: ["1.37", "1.36.4", "1.35.8"] }\ne2e:\n  - { name: s, run: [x], kubernetes: ["1.34.11"] }\n`;
    expect(await problemLines(yaml)).toEqual([
      '  kubernetes.versions.0: must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. "1.37.0" (line 3)',
      "  e2e.0.kubernetes.0: 1.34.11 is not in kubernetes.versions (1.36.4, 1.35.8) (line 5)",
    ]);
  });

  it("with no valid version in kubernetes.versions, a step's versions are not checked against it", async () => {
    const yaml = `${JAX}kubernetes: { versions: [] }\ne2e:\n  - { name: s, run: [x], kubernetes: ["1.37.0"] }\n`;
    expect(await problemLines(yaml)).toEqual(["  kubernetes.versions: must list at least one version (line 3)"]);
  });

  it("a step after itself is that one problem, not also a cycle", async () => {
    expect(await problemLines(`${JAX}e2e:\n  - { name: suite, after: [suite], run: [y] }\n`)).toEqual(["  e2e.0.after.0: a step cannot run after itself (line 4)"]);
  });

  it("a step after an unknown step is that one problem, not also a cycle", async () => {
    expect(await problemLines(`${JAX}e2e:\n  - { name: suite, after: [deploy], run: [y] }\n`)).toEqual(['  e2e.0.after.0: unknown step "deploy" (steps: suite) (line 4)']);
  });

  it("a cycle is reported at its first step, as the names along it only, even when the first step leads into it", async () => {
    const yaml = `${JAX}e2e:\n  - { name: a, after: [b], run: [x] }\n  - { name: b, after: [c], run: [x] }\n  - { name: c, after: [b], run: [x] }\n`;
    expect(await problemLines(yaml)).toEqual(["  e2e.1.after: steps wait for each other in a cycle: b → c → b (line 5)"]);
  });

  it("a cycle among later steps is found when the first step is outside it", async () => {
    const yaml = `${JAX}e2e:\n  - { name: a, run: [x] }\n  - { name: b, after: [c], run: [x] }\n  - { name: c, after: [b], run: [x] }\n`;
    expect(await problemLines(yaml)).toEqual(["  e2e.1.after: steps wait for each other in a cycle: b → c → b (line 5)"]);
  });

  it("a cycle through a step's second after is found", async () => {
    const yaml = `${JAX}e2e:\n  - { name: a, after: [b, c], run: [x] }\n  - { name: b, run: [x] }\n  - { name: c, after: [a], run: [x] }\n`;
    expect(await problemLines(yaml)).toEqual(["  e2e.0.after: steps wait for each other in a cycle: a → c → a (line 4)"]);
  });

  // Walking a step again from every step after it would take 2^60 visits here: the test would time out.
  it("a long chain of steps, each after the two before it, validates: no step is walked twice", async () => {
    const steps = Array.from({ length: 60 }, (_, i) => {
      const after = [i - 1, i - 2].filter((j) => j >= 0).map((j) => `s${j}`);
      return `  - { name: s${i}, after: [${after.join(", ")}], run: [x] }`;
    });
    const config = await validateConfig(`${JAX}e2e:\n${steps.join("\n")}\n`, tree);
    expect(config.e2e.at(-1)?.after).toEqual(["s58", "s57"]);
  });

  it.each(["sh", "bash", "ash", "dash", "zsh", "python", "python3", "node"])("%s runs a script file of the source, which must exist", async (runner) => {
    expect(await problemLines(`${JAX}e2e:\n  - { name: s, run: [${runner}, test/missing, --fast] }\n`)).toEqual([
      "  e2e.0.run.1: file not found: test/missing (a step runs from the source root) (line 4)",
    ]);
  });
});

describe("build secret ids", () => {
  it("one id for the same reference in several images is fine", async () => {
    const yaml = "images:\n  jax: { context: images/jax, secrets: { pip: env://PIP } }\n  pytorch: { context: images/pytorch, secrets: { pip: env://PIP } }\n";
    const config = await validateConfig(yaml, tree);
    expect([config.images.jax?.secrets, config.images.pytorch?.secrets]).toEqual([{ pip: "env://PIP" }, { pip: "env://PIP" }]);
  });

  it("an id is held to the reference it first stands for: only the image that differs from the first is named", async () => {
    const yaml = [
      "images:",
      "  jax: { context: images/jax, secrets: { pip: env://A } }",
      "  pytorch: { context: images/pytorch, secrets: { pip: env://B } }",
      "  xgboost: { context: images/xgboost, secrets: { pip: env://A } }",
      "",
    ].join("\n");
    expect(await problemLines(yaml)).toEqual([
      '  images.pytorch.secrets.pip: secret id "pip" is env://B here but env://A in images.jax: a secret id names one secret for every image (the engine keeps the last one set under a name); give this one another id, in its Dockerfile too (line 3)',
    ]);
  });

  it("a reference that is not a string is its own problem and binds no id", async () => {
    const yaml = "images:\n  jax: { context: images/jax, secrets: { pip: 42 } }\n  pytorch: { context: images/pytorch, secrets: { pip: env://B } }\n";
    expect(await problemLines(yaml)).toEqual(["  images.jax.secrets.pip: must be a string, not a number (42) (line 2)"]);
  });
});

describe("a version kind publishes no node image for, when building one is not allowed", () => {
  it("names the kind releases that publish it, or only the choices left when none does", async () => {
    const yaml = `${JAX}kubernetes: { versions: ["1.36.1", "1.30.0"], nodeImageFallback: fail }\n`;
    expect(await problemLines(yaml)).toEqual([
      "  kubernetes.versions.0: kind v0.33.0 publishes no node image for Kubernetes 1.36.1 (published: 1.37.0, 1.36.4, 1.35.8, 1.34.11); kind v0.32.0 publishes it (set kubernetes.kind: v0.32.0); or choose one of those or set kubernetes.nodeImageFallback: build (line 3)",
      "  kubernetes.versions.1: kind v0.33.0 publishes no node image for Kubernetes 1.30.0 (published: 1.37.0, 1.36.4, 1.35.8, 1.34.11); choose one of those or set kubernetes.nodeImageFallback: build (line 3)",
    ]);
  });
});

describe("an image's context", () => {
  it("must be a directory: a file is not found as one", async () => {
    expect(await problemLines("images:\n  jax: { context: images/jax/Dockerfile }\n")).toEqual(["  images.jax.context: directory not found: images/jax/Dockerfile (line 2)"]);
  });
});

describe("unknown keys deeper in the file", () => {
  it("suggest the key meant inside a step, a record's value and a list inside an optional block", async () => {
    const yaml = `${JAX.replace("}", ", buildArgsFrom: { V: { fil: x } } }")}cluster: { kindConfig: { nodes: [{ rol: worker }] } }\ne2e:\n  - { name: s, run: [x], nedds: [jax] }\n`;
    expect(await problemLines(yaml)).toEqual([
      "  images.jax.buildArgsFrom.V: must name one source: { file: <path> } or { arg: revision | version | pullRequest } (line 2)",
      '  images.jax.buildArgsFrom.V.fil: unknown key (did you mean "file"?) (line 2)',
      '  cluster.kindConfig.nodes.0.rol: unknown key (did you mean "role"?) (line 3)',
      '  cluster.kindConfig.nodes.0.role: must be "control-plane" or "worker" (line 3)',
      '  e2e.0.nedds: unknown key (did you mean "needs"?) (line 5)',
    ]);
  });
});

describe("the line a problem points at", () => {
  it("is the item's own line in a block list", async () => {
    expect(await problemLines(`${JAX}kubernetes:\n  versions:\n    - "1.37.0"\n    - "1.37"\n`)).toEqual([
      '  kubernetes.versions.1: must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. "1.37.0" (line 6)',
    ]);
  });

  it("is the line of the key that uses an alias, for a problem inside the aliased block", async () => {
    expect(await problemLines("x-base: &base { context: images/jax, optinal: true }\nimages:\n  jax: *base\n")).toEqual([
      '  images.jax.optinal: unknown key (did you mean "optional"?) (line 3)',
    ]);
  });

  it("is the key's line for a key that holds a colon", async () => {
    expect(await problemLines(`${JAX}build: { retries: 1, "a:b": 2 }\n`)).toEqual([
      '  build.a:b: unknown key (expected one of: retries, retryDelay, timeout) (line 3)',
    ]);
  });

  it("is the line of the list's key inside a YAML 1.1 !!pairs list, whose items have no position of their own", async () => {
    expect(await problemLines(`${JAX}e2e: !!pairs\n  - name: smoke\n`)).toEqual(["  e2e.0.run: required (line 3)"]);
  });
});

describe("problems come in file order", () => {
  it("sorted by line whichever check found them, then by path on one line", async () => {
    const yaml = "e2e:\n  - { name: s, needs: [torch], run: [x] }\nimages:\n  jax: { context: images/jax, zzz: 1, aaa: 2 }\nbuild: { retries: 9 }\n";
    const keys = "context, dockerfile, buildArgs, target, secrets, optional, ref, buildArgsFrom, platforms, publish";
    expect(await problemLines(yaml)).toEqual([
      '  e2e.0.needs.0: unknown image "torch" (configured images: jax) (line 2)',
      `  images.jax.aaa: unknown key (expected one of: ${keys}) (line 4)`,
      `  images.jax.zzz: unknown key (expected one of: ${keys}) (line 4)`,
      "  build.retries: must be at most 5 (line 5)",
    ]);
  });
});

describe("lanes", () => {
  it("a lane name fits beside cluster.name up to 39 characters together, and not one more", async () => {
    const base = "c".repeat(30);
    await expect(validateConfig(`${JAX}cluster: { name: ${base} }\nlanes:\n  - { name: ${"l".repeat(9)} }\n`, tree)).resolves.toBeDefined();
    expect(await problemLines(`${JAX}cluster: { name: ${base} }\nlanes:\n  - { name: ${"l".repeat(10)} }\n`)).toEqual([
      `  lanes.0.name: with cluster.name "${base}" it makes cluster names too long for kind's node names: the two together must stay within 39 characters (line 5)`,
    ]);
  });

  it("a lane's versions are checked against the valid versions of kubernetes.versions, unless none is valid", async () => {
    expect(await problemLines(`${JAX}kubernetes: { versions: ["1.37", "1.36.4", "1.35.8"] }\nlanes:\n  - { name: gpu, kubernetes: ["1.36.4", "1.34.11"] }\n`)).toEqual([
      "  kubernetes.versions.0: must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. \"1.37.0\" (line 3)",
      "  lanes.0.kubernetes.1: 1.34.11 is not in kubernetes.versions (1.36.4, 1.35.8) (line 5)",
    ]);
    expect(await problemLines(`${JAX}kubernetes: { versions: ["1.37"] }\nlanes:\n  - { name: gpu, kubernetes: ["1.34.11"] }\n`)).toEqual([
      "  kubernetes.versions.0: must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. \"1.37.0\" (line 3)",
    ]);
  });
});

describe("a build arg that fixes the architecture of an image published for several platforms", () => {
  const PUBLISH = "publish:\n  registries: [{ registry: ghcr.io, repository: example/x, username: bot }]\n";
  const image = (args: string, platforms = "[linux/amd64, linux/arm64]") =>
    `images:\n  jax: { context: images/jax, platforms: ${platforms}, buildArgs: { ${args} } }\n${PUBLISH}`;
  const problem = (arg: string, value: string, platforms: string, other: string) =>
    `  images.jax.buildArgs.${arg}: ${arg} fixes the architecture ("${value}") while the image is published for ${platforms}: every platform's build would get it, ` +
    `so the ${other} image would carry another platform's binaries; remove it and read TARGETARCH in the Dockerfile (ARG TARGETARCH: BuildKit sets it for each platform's build) (line 2)`;

  it("is named by its name (any case, alone or after an underscore) and the message names a platform that is not amd64", async () => {
    for (const arg of ["GOARCH", "goarm", "TARGETVARIANT", "TARGETOS", "BASE_ARCH"]) {
      expect(await problemLines(image(`${arg}: x`, "[linux/arm64, linux/amd64]")), arg).toEqual([problem(arg, "x", "linux/arm64, linux/amd64", "linux/arm64")]);
    }
    await expect(validateConfig(image("MONARCH: x"), tree)).resolves.toBeDefined();
  });

  it("is named by a value that is a whole architecture or platform, with spaces around it trimmed", async () => {
    for (const value of ["amd64", "linux/arm64", "linux/arm64/v8", "armv7l", "arm7", "386", "i386", " riscv64 "]) {
      expect(await problemLines(image(`BASE: "${value}"`)), value).toEqual([problem("BASE", value, "linux/amd64, linux/arm64", "linux/arm64")]);
    }
    for (const value of ["xamd64", "amd64x", "linux/amd64/v8x", "darwin/arm64"]) {
      await expect(validateConfig(image(`BASE: "${value}"`), tree), value).resolves.toBeDefined();
    }
  });
});

describe("registries on one host", () => {
  const registries = (...entries: string[]) => `${JAX}publish:\n  registries:\n${entries.map((e) => `    - { ${e} }`).join("\n")}\n`;

  it("are one credential for Docker Hub's three names: another username there is refused", async () => {
    for (const alias of ["index.docker.io", "registry-1.docker.io"]) {
      expect(await problemLines(registries("registry: docker.io, repository: a/x, username: bot", `registry: ${alias}, repository: b/x, username: other`)), alias).toEqual([
        "  publish.registries.1: is on docker.io as publish.registries.0 is, with another username or token: the engine keeps one credential per registry host for the whole call, so one of them would push with the other's; give them the same username and token (line 6)",
      ]);
    }
  });

  it("may push to two repositories with the same credentials, not twice to one, and not with another token", async () => {
    await expect(validateConfig(registries("registry: ghcr.io, repository: a/x, username: bot", "registry: ghcr.io, repository: b/x, username: bot"), tree)).resolves.toBeDefined();
    expect(await problemLines(registries("registry: ghcr.io, repository: a/x, username: bot", "registry: ghcr.io, repository: a/x, username: bot"))).toEqual([
      "  publish.registries.1: pushes where publish.registries.0 does (ghcr.io/a/x) (line 6)",
    ]);
    expect(await problemLines(registries("registry: ghcr.io, repository: a/x, username: bot", "registry: ghcr.io, repository: b/x, username: bot, token: env://OTHER"))).toEqual([
      "  publish.registries.1: is on ghcr.io as publish.registries.0 is, with another username or token: the engine keeps one credential per registry host for the whole call, so one of them would push with the other's; give them the same username and token (line 6)",
    ]);
  });

  it("an invalid registry entry is its own problem and is compared with none", async () => {
    expect(await problemLines(registries("registry: ghcr.io, repository: a/x", "registry: ghcr.io, repository: a/x, username: bot"))).toEqual([
      "  publish.registries.0.username: required (line 5)",
    ]);
  });
});
