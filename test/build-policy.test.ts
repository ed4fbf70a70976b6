/**
 * The build stage's policy as users configure it, on the stand-in engine: the retry delay and the build
 * time limit in their units (the waits themselves are replaced by recorders, so a 5 s delay costs nothing
 * and its value can be read exactly; test/waits.test.ts pins the waits' own units), the number of retries,
 * and the status lines and failure report they produce.
 */
import { dag } from "@dagger.io/dagger";
import { beforeEach, describe, expect, vi } from "vitest";
import { BuildFailure, buildImages } from "../ci/src/build.js";
import { prepareRun } from "../ci/src/run.js";
import * as waits from "../ci/src/waits.js";
import { engineTest as test } from "./support/harness.js";
import { runAt, threeImages } from "./support/fixtures.js";
import { answer, engineError, execFailure } from "./support/replies.js";

vi.mock("../ci/src/waits.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../ci/src/waits.js")>();
  return {
    ...real,
    // Records the delay and returns at once.
    sleep: vi.fn(async () => {}),
    withTimeout: vi.fn(real.withTimeout),
  };
});

const sleep = vi.mocked(waits.sleep);
const withTimeout = vi.mocked(waits.withTimeout);

beforeEach(() => {
  sleep.mockClear();
  withTimeout.mockClear();
});

const buildOf = (image: string) => new RegExp(`directory\\(path:"images/${image}"\\)\\.dockerBuild`);
const registryReset = engineError('failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/3.12-slim": read: connection reset by peer');

/** Builds the selection of a project on the stand-in engine; returns what was built or the failure, and the status lines. */
async function build(engine: { run: <T>(fn: () => Promise<T>) => Promise<T> }, root: string, images: string[]) {
  const lines: string[] = [];
  const outcome = await engine.run(async () => buildImages(await runAt(root, { images }, lines)).catch((e: unknown) => e));
  return { outcome, lines };
}

/** The seconds a status line reports, e.g. 41.2 for `built in 41.2s`. */
const secondsIn = (line: string | undefined, verb: string) => Number(new RegExp(`${verb} (\\d+\\.\\d)s`).exec(line ?? "")?.[1]);

describe("defaults users get without a build section", () => {
  test("one retry, 5 seconds after a transient failure; each attempt within 30 minutes", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset, { times: 1 });
    const { outcome, lines } = await build(engine, threeImages({ build: "" }), ["jax"]);
    expect(outcome).toEqual([expect.objectContaining({ name: "jax" })]);
    expect(sleep.mock.calls).toEqual([[5000]]);
    expect(withTimeout.mock.calls.map(([, seconds]) => seconds)).toEqual([1800, 1800]);
    expect(lines[0]).toMatch(/^\[build\] jax: transient failure, retry 1 of 1 in 5s: failed to do request: /);
  });

  test("a transient failure that persists is retried once, then reported", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset);
    const { outcome } = await build(engine, threeImages({ build: "" }), ["jax"]);
    expect((outcome as BuildFailure).failures[0]?.attempts).toBe(2);
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(2);
  });
});

describe("the configured policy, in its units", () => {
  test("retryDelay: 1m30s waits 90 seconds before the retry", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset, { times: 1 });
    const { lines } = await build(engine, threeImages({ build: "retryDelay: 1m30s" }), ["jax"]);
    expect(sleep.mock.calls).toEqual([[90_000]]);
    expect(lines[0]).toMatch(/ retry 1 of 1 in 90s: /);
  });

  test("timeout: 1h30m gives each attempt 5400 seconds and says so when it runs out", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset, { times: 1 });
    await build(engine, threeImages({ build: "timeout: 1h30m" }), ["jax"]);
    expect(withTimeout.mock.calls.map(([, seconds]) => seconds)).toEqual([5400, 5400]);
    const onTimeout = withTimeout.mock.calls[0]![2];
    expect(onTimeout().message).toBe("did not finish within 5400s (build.timeout); the engine may still be pulling or building");
  });

  test("retries: 2 retries twice, each after the delay, then names both retries", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset);
    const { outcome, lines } = await build(engine, threeImages({ build: "retries: 2, retryDelay: 3s" }), ["jax"]);
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(3);
    expect(sleep.mock.calls).toEqual([[3000], [3000]]);
    expect(lines.map((l) => l.replace(/: failed to do request.*$/, ""))).toEqual([
      "[build] jax: transient failure, retry 1 of 2 in 3s",
      "[build] jax: transient failure, retry 2 of 2 in 3s",
      expect.stringMatching(/^\[build\] jax: FAILED after \d+\.\ds$/),
    ]);
    const failure = outcome as BuildFailure;
    expect(failure.failures[0]?.attempts).toBe(3);
    expect(failure.message).toContain("  failed again after 2 retries (the first failure looked transient)\n");
  });

  test("retries: 2, where the second retry builds: the status line counts the retries", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset, { times: 2 });
    const { outcome, lines } = await build(engine, threeImages({ build: "retries: 2, retryDelay: 0s" }), ["jax"]);
    expect(outcome).toEqual([expect.objectContaining({ name: "jax" })]);
    expect(lines.at(-1)).toMatch(/^\[build\] jax: built in \d+\.\ds \(after 2 retries\)$/);
  });

  test("retries: 0 never retries, not even a transient failure", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, registryReset);
    const { outcome } = await build(engine, threeImages({ build: "retries: 0" }), ["jax"]);
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
    expect((outcome as BuildFailure).failures[0]?.attempts).toBe(1);
    expect((outcome as BuildFailure).message).not.toContain("failed again");
  });
});

describe("a failed RUN's output is searched for transient trouble", () => {
  test("pip hitting a read timeout inside RUN is retried, then the image builds", async ({ engine }) => {
    const pip = execFailure({
      cmd: ["/bin/sh", "-c", "pip install -r requirements.txt"],
      exitCode: 1,
      stdout: "Collecting jax==0.6.2\n",
      stderr: "ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Read timed out.\n",
    });
    engine.reply({ leaf: "sync", where: buildOf("jax") }, pip, { times: 1 });
    const { outcome, lines } = await build(engine, threeImages(), ["jax"]);
    expect(outcome).toEqual([expect.objectContaining({ name: "jax" })]);
    expect(engine.find(buildOf("jax"), { leaf: "sync" }).map((l) => l.outcome)).toEqual(["exec-error", "answer"]);
    expect(lines[0]).toBe('[build] jax: transient failure, retry 1 of 1 in 0s: process "/bin/sh -c pip install -r requirements.txt" did not complete successfully: exit code: 1');
  });

  test("a failed RUN whose output shows no transient trouble is not retried", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, execFailure({ exitCode: 1, stdout: "collected 500 items\n", stderr: "ERROR tests/test_train.py - ImportError\n" }));
    await build(engine, threeImages(), ["jax"]);
    expect(engine.find(buildOf("jax"), { leaf: "sync" })).toHaveLength(1);
  });
});

describe("status lines and the failure report", () => {
  test("an image built at the first attempt: its time in seconds with one decimal, no retry mentioned", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, answer(), { delayMs: 300 });
    const { lines } = await build(engine, threeImages(), ["jax"]);
    expect(lines).toEqual([expect.stringMatching(/^\[build\] jax: built in \d+\.\ds$/)]);
    // measured in seconds: at least the 0.3 s the engine took, nowhere near 300 (milliseconds) or more
    expect(secondsIn(lines[0], "built in")).toBeGreaterThanOrEqual(0.3);
    expect(secondsIn(lines[0], "built in")).toBeLessThan(120);
  });

  test("a failure's time, in seconds too", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, engineError("failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY"), { delayMs: 300 });
    const { lines } = await build(engine, threeImages(), ["jax"]);
    expect(lines).toEqual([expect.stringMatching(/^\[build\] jax: FAILED after \d+\.\ds: failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY$/)]);
    expect(secondsIn(lines[0], "FAILED after")).toBeGreaterThanOrEqual(0.3);
    expect(secondsIn(lines[0], "FAILED after")).toBeLessThan(120);
  });

  test("every image failed, none retried: the whole report, with no built line and no retry line", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, engineError("failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY"));
    engine.reply({ leaf: "sync", where: buildOf("xgboost") }, execFailure({ cmd: ["/bin/sh", "-c", "exit 3"], exitCode: 3 }));
    const { outcome } = await build(engine, threeImages(), ["jax", "xgboost"]);
    expect(outcome).toBeInstanceOf(BuildFailure);
    expect((outcome as BuildFailure).name).toBe("BuildFailure");
    expect((outcome as BuildFailure).built).toEqual([]);
    expect((outcome as BuildFailure).message).toBe(
      [
        "build: 2 of 2 images failed: jax, xgboost. Nothing after the build stage was started (no cluster, no image load, no test).",
        "",
        "jax (images/jax/Dockerfile)",
        "  error: failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY",
        "  debug: dagger call --interactive build --image=jax terminal",
        "",
        "xgboost (images/xgboost/build/Dockerfile)",
        "  command: /bin/sh -c exit 3 (exit code 3)",
        "  (no output)",
        "  debug: dagger call --interactive build --image=xgboost terminal",
      ].join("\n"),
    );
  });

  test("one of two failed: the report ends with what did build", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, engineError("failed to solve: not found"));
    const { outcome } = await build(engine, threeImages(), ["jax", "pytorch"]);
    expect((outcome as BuildFailure).message.split("\n")).toEqual([
      "build: 1 of 2 images failed: jax. Nothing after the build stage was started (no cluster, no image load, no test).",
      "",
      "jax (images/jax/Dockerfile)",
      "  error: failed to solve: not found",
      "  debug: dagger call --interactive build --image=jax terminal",
      "",
      "built: pytorch",
    ]);
  });

  test("one of three failed: the images that built are listed, comma-separated, in order", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: buildOf("jax") }, engineError("failed to solve: not found"));
    const { outcome } = await build(engine, threeImages(), ["jax", "pytorch", "xgboost"]);
    expect((outcome as BuildFailure).message.split("\n").slice(-2)).toEqual(["", "built: pytorch, xgboost"]);
    expect((outcome as BuildFailure).message.split("\n")[0]).toMatch(/^build: 1 of 3 images failed: jax\. /);
  });
});

describe("build secrets are read only when the config names them", () => {
  test("secrets passed to a project whose images name none are never read", async ({ engine }) => {
    const root = threeImages();
    const built = await engine.run(async () => {
      const run = await prepareRun(dag.host().directory(root), "kind-pipeline.yaml", { images: ["jax"] }, [dag.secret("env://PIP_TOKEN")], () => {});
      return buildImages(run);
    });
    expect(built.map((b) => b.name)).toEqual(["jax"]);
    expect(engine.find(/./, { leaf: "uri" })).toEqual([]);
    expect(engine.find(/./, { leaf: "plaintext" })).toEqual([]);
    expect(engine.find("setSecret")).toEqual([]);
  });

  test("a secret passed as env:NAME is the one the config names as env://NAME", async ({ engine }) => {
    engine.reply({ leaf: "uri" }, answer("env:PIP_TOKEN"));
    engine.reply({ leaf: "plaintext" }, answer("token-value"));
    const root = threeImages({ images: "  tokens: { context: images/jax, secrets: { pip: env://PIP_TOKEN } }" });
    const built = await engine.run(async () => {
      const run = await prepareRun(dag.host().directory(root), "kind-pipeline.yaml", { images: ["tokens"] }, [dag.secret("env:PIP_TOKEN")], () => {});
      return buildImages(run);
    });
    expect(built.map((b) => b.name)).toEqual(["tokens"]);
    const dockerBuild = engine.find("dockerBuild", { leaf: "sync" })[0]!.call.nearest("dockerBuild")!;
    expect((dockerBuild.args.secrets as { field: string; args: Record<string, unknown> }[]).map((s) => [s.field, s.args.name])).toEqual([["setSecret", "pip"]]);
  });
});
