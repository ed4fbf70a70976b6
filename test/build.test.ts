/**
 * The build stage on the stand-in engine: what is built from what, every failure reported together with
 * its log, retries for transient trouble only, cache keys that follow each image's own files.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { dag } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { BuildFailure, buildImages } from "../ci/src/build.js";
import { ConfigError } from "../ci/src/config.js";
import { prepareRun } from "../ci/src/run.js";
import type { Call } from "./support/calls.js";
import { engineTest as test } from "./support/harness.js";
import { DOWNSTREAM, pipelineAt, runAt, threeImages } from "./support/fixtures.js";
import { answer, engineError, execFailure, hang } from "./support/replies.js";

const ALL = ["jax", "pytorch", "xgboost"];
const buildOf = (image: string) => new RegExp(`directory\\(path:"images/${image}"\\)\\.dockerBuild`);

describe("what is built from what", () => {
  test("each image from its own context, Dockerfile, args and target, and nothing else", async ({ engine }) => {
    const root = threeImages();
    const containers = await engine.run(() => pipelineAt(root).buildAll(ALL));
    expect(containers).toHaveLength(3);
    expect(engine.find("dockerBuild", { leaf: "sync" }).map((l) => l.text)).toEqual([
      `host.directory(path:"${root}").directory(path:"images/jax").dockerBuild(dockerfile:"Dockerfile",buildArgs:[{name:"JAX_VERSION",value:"0.6.2"}],target:"runtime").sync`,
      `host.directory(path:"${root}").directory(path:"images/pytorch").dockerBuild(dockerfile:"Dockerfile",buildArgs:[{name:"TORCH_VERSION",value:"2.7.1"}]).sync`,
      `host.directory(path:"${root}").directory(path:"images/xgboost").dockerBuild(dockerfile:"build/Dockerfile",buildArgs:[]).sync`,
    ]);
  });

  test("a Dockerfile elsewhere in a whole-repository context, as Kubeflow Trainer builds its managers", async ({ engine }) => {
    const root = threeImages({ images: "  manager: { context: ., dockerfile: cmd/manager/Dockerfile }", files: { "cmd/manager/Dockerfile": "FROM golang:1.24\n" } });
    await engine.run(() => pipelineAt(root).buildAll(["manager"]));
    expect(engine.find("dockerBuild", { leaf: "sync" }).map((l) => l.text)).toEqual([
      `host.directory(path:"${root}").directory(path:".").dockerBuild(dockerfile:"cmd/manager/Dockerfile",buildArgs:[]).sync`,
    ]);
  });

  test("by default, every image not marked optional", async ({ engine }) => {
    const root = threeImages({ images: "  opt: { context: images/pytorch, optional: true }" });
    await engine.run(() => pipelineAt(root).buildAll());
    expect(engine.find("dockerBuild", { leaf: "sync" }).map((l) => /images\/(\w+)/.exec(l.text)?.[1])).toEqual(ALL);
  });

  test("the context the engine builds from is the image's own directory, its .dockerignore included", async ({ engine }) => {
    const root = threeImages();
    await engine.run(() => pipelineAt(root).buildAll(ALL));
    const contextOf = (image: string) => engine.files(engine.find(buildOf(image), { leaf: "sync" })[0]!.call.nearest("dockerBuild")!.parent!);
    expect(contextOf("jax")).toEqual([".dockerignore", "Dockerfile", "train.py"]);
    expect(contextOf("pytorch")).toEqual(["Dockerfile", "train.py"]);
    expect(contextOf("xgboost")).toEqual(["build/Dockerfile"]);
  });

  test("all builds start at once", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: "dockerBuild" }, answer(), { delayMs: 400 });
    await engine.run(() => pipelineAt(threeImages()).buildAll(ALL));
    expect(engine.maxConcurrency("dockerBuild", { leaf: "sync" })).toBe(3);
  });

  test("build returns one image lazily, so it can be chained; an unknown name lists the configured ones", async ({ engine }) => {
    const root = threeImages();
    await engine.run(async () => {
      const container = await pipelineAt(root).build("pytorch");
      expect(engine.find("dockerBuild")).toEqual([]);
      await container.withExec(["python", "-c", "import torch"]).sync();
    });
    expect(engine.find("dockerBuild").map((l) => l.text)).toEqual([
      expect.stringMatching(/directory\(path:"images\/pytorch"\)\.dockerBuild\(.*\)\.withExec\(args:\["python","-c","import torch"\]\)\.sync$/),
    ]);
    const error = await engine.run(() => pipelineAt(root).build("tensorflow")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/images: unknown image "tensorflow" \(configured: jax, pytorch, xgboost\)/);
    const several = await engine.run(() => pipelineAt(root).build("jax,pytorch")).catch((e: unknown) => e);
    expect((several as Error).message).toMatch(/image: build takes one image, got "jax,pytorch"\nBuild several with build-all --images=jax,pytorch\./);
  });
});

describe("failures", () => {
  const pipFailure = execFailure({
    cmd: ["/bin/sh", "-c", "pip install jax==0.0.0"],
    exitCode: 1,
    stdout: "Collecting jax==0.0.0\n",
    stderr: Array.from({ length: 50 }, (_, i) => `pip line ${i + 1}`).join("\n") + "\nERROR: No matching distribution found for jax==0.0.0\n",
  });
  const unpullable = engineError(
    "failed to solve: python:3.12-slimm: failed to resolve source metadata for docker.io/library/python:3.12-slimm: docker.io/library/python:3.12-slimm: not found",
  );

  test("two images fail: one BuildFailure names both with their log tails, the third still finishes, nothing downstream runs", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, pipFailure, { delayMs: 20 });
    engine.reply({ leaf: "sync", where: buildOf("pytorch") }, unpullable);
    engine.reply({ leaf: "sync", where: buildOf("xgboost") }, answer(), { delayMs: 150 });
    const error = await engine.run(() => pipelineAt(threeImages()).buildAll(ALL)).catch((e: unknown) => e);
    const thrownAt = engine.now();

    expect(error).toBeInstanceOf(BuildFailure);
    const failure = error as BuildFailure;
    expect(failure.failures.map((f) => f.image.name)).toEqual(["jax", "pytorch"]);
    expect(failure.built).toEqual(["xgboost"]);
    const lines = failure.message.split("\n");
    expect(lines[0]).toBe(
      "build: 2 of 3 images failed: jax, pytorch. Nothing after the build stage was started (no cluster, no image load, no test).",
    );
    expect(failure.message).toContain(
      [
        "jax (images/jax/Dockerfile)",
        "  command: /bin/sh -c pip install jax==0.0.0 (exit code 1)",
        "  last 40 lines of stderr:",
        "    | pip line 12",
      ].join("\n"),
    );
    expect(failure.message).toContain("    | ERROR: No matching distribution found for jax==0.0.0\n  debug: dagger call --interactive build --image=jax terminal");
    expect(failure.message).not.toContain("pip line 11\n");
    expect(failure.message).toContain(
      "pytorch (images/pytorch/Dockerfile)\n  error: failed to solve: python:3.12-slimm: failed to resolve source metadata",
    );
    expect(lines.at(-1)).toBe("built: xgboost");

    const xgboost = engine.find(buildOf("xgboost"), { leaf: "sync" })[0]!;
    expect(xgboost.outcome).toBe("answer");
    expect(thrownAt).toBeGreaterThanOrEqual(xgboost.endedAt!);
    engine.expectNever(DOWNSTREAM);
  });

  test("a transient failure is retried once, then the image builds", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, engineError("failed to do request: Head https://registry-1.docker.io/v2/library/python/manifests/3.12-slim: read: connection reset by peer"), { times: 1 });
    const lines: string[] = [];
    const built = await engine.run(async () => buildImages(await runAt(threeImages(), { images: ["jax"] }, lines)));
    expect(built.map((b) => b.name)).toEqual(["jax"]);
    expect(engine.find(buildOf("jax"), { leaf: "sync" }).map((l) => l.outcome)).toEqual(["engine-error", "answer"]);
    expect(lines).toEqual([
      expect.stringMatching(/^\[build\] jax: transient failure, retry 1 of 1 in 0s: failed to do request: .*connection reset by peer$/),
      expect.stringMatching(/^\[build\] jax: built in \d+\.\ds \(after 1 retry\)$/),
    ]);
  });

  test("a transient failure that persists fails after the configured retries", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, engineError("pull python:3.12-slim: 503 Service Unavailable"));
    const error = (await engine.run(() => pipelineAt(threeImages()).buildAll(["jax"])).catch((e: unknown) => e)) as BuildFailure;
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(2);
    expect(error.failures[0]?.attempts).toBe(2);
    expect(error.message).toContain("  failed again after 1 retry (the first failure looked transient)");
  });

  test("a build error is never retried", async ({ engine }) => {
    engine.reply(
      { leaf: "sync", where: buildOf("jax") },
      execFailure({ cmd: ["/bin/sh", "-c", "go build ./..."], exitCode: 2, stderr: "main.go:3:1: syntax error: unexpected }\n" }),
    );
    const error = (await engine.run(() => pipelineAt(threeImages()).buildAll(["jax"])).catch((e: unknown) => e)) as BuildFailure;
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(1);
    expect(error.failures[0]?.attempts).toBe(1);
    expect(error.message).toContain("  command: /bin/sh -c go build ./... (exit code 2)\n  last 1 lines of stderr:\n    | main.go:3:1: syntax error: unexpected }");
  });

  test("a build that never finishes fails after build.timeout; the others still finish", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, hang());
    const error = (await engine.run(() => pipelineAt(threeImages({ build: "retries: 1, timeout: 1s" })).buildAll(ALL)).catch((e: unknown) => e)) as BuildFailure;
    expect(error).toBeInstanceOf(BuildFailure);
    expect(error.built).toEqual(["pytorch", "xgboost"]);
    expect(error.message).toContain("jax (images/jax/Dockerfile)\n  error: did not finish within 1s (build.timeout); the engine may still be pulling or building");
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(1);
  });

  test("a Dockerfile syntax error is attributed to its image", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("pytorch") }, engineError("failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY"));
    const error = (await engine.run(() => pipelineAt(threeImages()).buildAll(ALL)).catch((e: unknown) => e)) as BuildFailure;
    expect(error.message).toContain("pytorch (images/pytorch/Dockerfile)\n  error: failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY");
    expect(engine.find(buildOf("pytorch"), { leaf: "sync" })).toHaveLength(1);
  });
});

describe("cache keys", () => {
  test("identical inputs give identical build calls; a changed file changes only its own image's", async ({ engine }) => {
    const root = threeImages();
    const buildCalls = async () => {
      const from = engine.leaves.length;
      await engine.run(() => pipelineAt(root).buildAll(ALL));
      const leaves = engine.leaves.slice(from).filter((l) => l.leaf === "sync" && l.text.includes("dockerBuild"));
      return Object.fromEntries(ALL.map((name) => {
        const leaf = leaves.find((l) => buildOf(name).test(l.text))!;
        return [name, { text: leaf.text, key: engine.cacheKey(leaf.call) }];
      }));
    };
    const first = await buildCalls();
    const second = await buildCalls();
    expect(second).toEqual(first);

    writeFileSync(join(root, "images/jax/train.py"), "print('jax, changed')\n");
    writeFileSync(join(root, "README.md"), "changed too, but in no context\n");
    const third = await buildCalls();
    expect(third.jax!.text).toBe(first.jax!.text);
    expect(third.jax!.key).not.toBe(first.jax!.key);
    expect(third.pytorch).toEqual(first.pytorch);
    expect(third.xgboost).toEqual(first.xgboost);
  });
});

describe("build secrets", () => {
  const withSecret = { images: "  tokens: { context: images/jax, secrets: { pip: env://PIP_TOKEN } }" };

  test("reach the build as secrets named by their id; the value travels only inside setSecret, never into a build argument, a status line or an error", async ({ engine }) => {
    engine.reply({ leaf: "uri" }, answer("env://PIP_TOKEN"));
    engine.reply({ leaf: "plaintext" }, answer("s3cr3t-value"));
    engine.reply({ leaf: "sync", where: "dockerBuild" }, execFailure({ exitCode: 1, stderr: "pip: 401 Unauthorized\n" }));
    const lines: string[] = [];
    const root = threeImages(withSecret);
    const error = await engine.run(async () => {
      const run = await prepareRun(dag.host().directory(root), "kind-pipeline.yaml", { images: ["tokens"] }, [dag.secret("env://PIP_TOKEN")], (l) => lines.push(l));
      return buildImages(run).catch((e: unknown) => e);
    });
    const build = engine.find("dockerBuild", { leaf: "sync" })[0]!.call.nearest("dockerBuild")!;
    expect(build.args).toMatchObject({ dockerfile: "Dockerfile", buildArgs: [] });
    expect((build.args.secrets as Call[]).map((secret) => [secret.field, secret.args.name])).toEqual([["setSecret", "pip"]]);
    const outside = engine.leaves.filter((l) => l.text.replaceAll('setSecret(name:"pip",plaintext:"s3cr3t-value")', "").includes("s3cr3t-value"));
    expect(outside.map((l) => l.text)).toEqual([]);
    expect(error).toBeInstanceOf(BuildFailure);
    expect(`${(error as Error).message}\n${lines.join("\n")}`).not.toContain("s3cr3t-value");
    expect(lines).toEqual([expect.stringMatching(/^\[build\] tokens: FAILED/)]);
  });

  test("a secret the config names but the caller did not pass stops everything before any build", async ({ engine }) => {
    engine.reply({ leaf: "uri" }, answer("env://OTHER"));
    const root = threeImages(withSecret);
    const error = await engine.run(() => pipelineAt(root, [dag.secret("env://OTHER")]).buildAll(["jax", "tokens"])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message.split("\n")).toEqual([
      "invalid arguments (1 problem):",
      "  images.tokens.secrets.pip: env://PIP_TOKEN was not passed to the pipeline",
      "Pass the build secrets as Dagger secrets: dagger call --secrets=env://PIP_TOKEN build-all",
    ]);
    engine.expectNever("dockerBuild");
  });
});
