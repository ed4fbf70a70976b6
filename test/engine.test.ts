/**
 * The stand-in engine's own tests: the real SDK against it, with nothing of the SDK mocked.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connection, dag, ExecError, GraphQLRequestError } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { StandInEngine } from "./support/engine.js";
import { assertAllScripted, engineTest as test } from "./support/harness.js";
import { projectTree } from "./support/projects.js";
import { answer, engineError, execFailure, hang } from "./support/replies.js";

describe("recorder", () => {
  test("records each leaf as its whole chain and answers from the script", async ({ engine }) => {
    engine.reply({ leaf: "stdout", where: "echo hi" }, answer("hi\n"));
    const out = await engine.run(() => dag.container().from("alpine:3.20").withExec(["sh", "-c", "echo hi"]).stdout());
    expect(out).toBe("hi\n");
    expect(engine.leaves.map((l) => l.text)).toEqual([
      'container.from(address:"alpine:3.20").withExec(args:["sh","-c","echo hi"]).stdout',
    ]);
  });

  test("expands objects passed by ID into their chains", async ({ engine }) => {
    engine.reply({ leaf: "stdout" }, answer("ok"));
    await engine.run(() =>
      dag.container().from("python:3.12").withDirectory("/src", dag.host().directory(".")).withExec(["ls", "/src"]).stdout(),
    );
    const [resolveId, stdout] = engine.leaves;
    expect(resolveId?.text).toBe('host.directory(path:".").id');
    expect(stdout?.text).toBe(
      'container.from(address:"python:3.12").withDirectory(path:"/src",source:<host.directory(path:".")>).withExec(args:["ls","/src"]).stdout',
    );
    expect(engine.find("withDirectory")).toEqual([stdout]);
    expect(engine.find("host.directory", { ids: true })).toHaveLength(2);
  });

  test("follows synced objects through node(id:) back to their chain", async ({ engine }) => {
    engine.reply({ leaf: "stdout" }, answer("done"));
    const out = await engine.run(async () => {
      const synced = await dag.container().from("alpine").withExec(["true"]).sync();
      return synced.withExec(["echo", "done"]).stdout();
    });
    expect(out).toBe("done");
    expect(engine.leaves.map((l) => l.leaf)).toEqual(["sync", "stdout"]);
    expect(engine.leaves[1]?.text).toBe('container.from(address:"alpine").withExec(args:["true"]).withExec(args:["echo","done"]).stdout');
  });

  test("keeps enums apart from strings", async ({ engine }) => {
    engine.reply({ leaf: "stdout" }, answer(""));
    await engine.run(() =>
      dag.container().from("alpine").withMountedCache("/var/lib/docker", dag.cacheVolume("docker")).withExec(["true"]).stdout(),
    );
    expect(engine.find("withMountedCache")[0]?.text).toContain('cache:<cacheVolume(key:"docker")>');
  });

  test("expectNever fails, naming the call, when the pattern was asked for", async ({ engine }) => {
    await engine.run(() => dag.container().from("kindest/node:v1.37.0").sync());
    expect(() => engine.expectNever("kindest/node")).toThrow(/expected no call matching kindest\/node, but the SDK asked for:\n {2}container\.from/);
    expect(() => engine.expectNever("kubectl")).not.toThrow();
  });
});

describe("failures as the engine reports them", () => {
  test("an exec failure arrives as the SDK's own ExecError with the same fields", async ({ engine }) => {
    engine.reply({ leaf: "sync" }, execFailure({ exitCode: 3, stdout: "partial output\n", stderr: "boom\n" }));
    const error = await engine.run(() => dag.container().from("alpine").withExec(["sh", "-c", "exit 3"]).sync()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecError);
    expect(error).toMatchObject({
      message: 'process "sh -c exit 3" did not complete successfully: exit code: 3',
      cmd: ["sh", "-c", "exit 3"],
      exitCode: 3,
      stdout: "partial output\n",
      stderr: "boom\n",
    });
  });

  test("any other engine error arrives as GraphQLRequestError", async ({ engine }) => {
    engine.reply({ leaf: "sync" }, engineError("failed to resolve source metadata for docker.io/library/pythn:3.12: not found"));
    const error = await engine.run(() => dag.container().from("pythn:3.12").sync()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphQLRequestError);
    expect((error as Error).message).toMatch(/pythn:3\.12: not found/);
  });

  test("an unscripted leaf fails the query, and the test even when the module swallowed the error", async () => {
    const engine = await StandInEngine.start();
    try {
      const error = await engine.run(() => dag.container().from("alpine").withExec(["date"]).stdout()).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/stand-in engine: no script answers stdout of container\.from/);
      expect(engine.unscripted.map((l) => l.leaf)).toEqual(["stdout"]);
      expect(() => assertAllScripted(engine)).toThrow(/the SDK asked for leaves no script answers:\n {2}container\.from\(address:"alpine"\)\.withExec\(args:\["date"\]\)\.stdout/);
    } finally {
      await engine.stop();
    }
  });

  test("a hanging leaf never answers until the engine stops", async () => {
    const engine = await StandInEngine.start();
    engine.reply({ leaf: "stdout" }, hang());
    let settled = false;
    const pending = engine
      .run(() => dag.container().from("alpine").withExec(["sleep", "infinity"]).stdout())
      .finally(() => (settled = true))
      .catch((e: unknown) => e);
    while (engine.leaves[0]?.outcome !== "hang") await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    await engine.stop();
    expect(await pending).toBeInstanceOf(Error);
  });

  test("refuses a wrong session token", async ({ engine }) => {
    const saved = { ...process.env };
    Object.assign(process.env, engine.sessionEnv, { DAGGER_SESSION_TOKEN: "wrong" });
    try {
      const error = await connection(() => dag.container().from("alpine").sync().then(() => undefined)).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/unauthorized: wrong session token/);
      expect(engine.unauthorized).toBe(1);
      expect(engine.leaves).toEqual([]);
    } finally {
      process.env = saved;
    }
  });
});

describe("scripts", () => {
  test("the latest that applies answers, each for as many queries as it allows", async ({ engine }) => {
    engine.reply({ leaf: "stdout" }, answer("second"));
    engine.reply({ leaf: "stdout" }, engineError("connection reset by peer"), { times: 1 });
    const first = await engine.run(() => dag.container().from("a").withExec(["x"]).stdout()).catch((e: Error) => e.message);
    const second = await engine.run(() => dag.container().from("a").withExec(["x"]).stdout());
    expect([first, second]).toEqual(["connection reset by peer", "second"]);
  });

  test("match the chain by substring or RegExp", async ({ engine }) => {
    engine.reply({ leaf: "stdout", where: /from\(address:"b"\)/ }, answer("b"));
    engine.reply({ leaf: "stdout", where: 'from(address:"a")' }, answer("a"));
    const outs = await engine.run(() => Promise.all(["a", "b"].map((image) => dag.container().from(image).withExec(["x"]).stdout())));
    expect(outs).toEqual(["a", "b"]);
  });
});

describe("concurrency meter", () => {
  test("measures a known schedule of simulated leaves", async ({ engine }) => {
    for (const [name, delayMs] of [["a", 40], ["b", 600], ["c", 40]] as const) {
      engine.reply({ leaf: "sync", where: `from(address:"${name}")` }, answer(), { delayMs });
    }
    const sync = (name: string) => dag.container().from(name).sync();
    await engine.run(async () => {
      // a and b start together; c starts when a ends, while b is still running: never more than two at once
      await Promise.all([sync("a").then(() => sync("c")), sync("b")]);
    });
    expect(engine.maxConcurrency(/from/)).toBe(2);
    const at = (name: string) => engine.find(`from(address:"${name}")`)[0]!;
    expect(at("c").startedAt).toBeGreaterThanOrEqual(at("a").endedAt!);
    expect(at("b").endedAt! - at("b").startedAt).toBeGreaterThanOrEqual(595);
    expect(engine.maxConcurrency(/from\(address:"[ac]"\)/)).toBe(1);
  });
});

describe("directories and files", () => {
  test("answers exists, contents and digest from real files", async ({ engine }) => {
    const root = projectTree({ "kind-pipeline.yaml": "images: {}\n", "images/jax/Dockerfile": "FROM scratch\n" });
    const answers = await engine.run(async () => {
      const source = dag.host().directory(root);
      return Promise.all([
        source.exists("images/jax", { expectedType: "DIRECTORY_TYPE" as never }),
        source.exists("images/jax/Dockerfile", { expectedType: "DIRECTORY_TYPE" as never }),
        source.exists("images/jax/Dockerfile"),
        source.file("kind-pipeline.yaml").contents(),
        source.directory("images/jax").digest(),
      ]);
    });
    expect(answers.slice(0, 4)).toEqual([true, false, true, "images: {}\n"]);
    expect(answers[4]).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test("gives directories content cache keys: a changed file changes only the chains that include it", async ({ engine }) => {
    const root = projectTree({ "a/Dockerfile": "FROM a\n", "b/Dockerfile": "FROM b\n" });
    const build = (path: string) => dag.host().directory(root).directory(path).dockerBuild().sync();
    const keys = async () => {
      const start = engine.leaves.length;
      await engine.run(() => Promise.all([build("a"), build("b")]));
      const [a, b] = ["a", "b"].map((p) => engine.leaves.slice(start).find((l) => l.text.includes(`directory(path:"${p}")`))!);
      return { a: engine.cacheKey(a!.call), b: engine.cacheKey(b!.call) };
    };
    const before = await keys();
    expect(await keys()).toEqual(before);
    writeFileSync(join(root, "a/Dockerfile"), "FROM a:2\n");
    const after = await keys();
    expect(after.a).not.toBe(before.a);
    expect(after.b).toBe(before.b);
  });
});
