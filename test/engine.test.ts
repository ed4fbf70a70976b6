/**
 * The stand-in engine's own tests: the real SDK against it, with nothing of the SDK mocked.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connection, dag, ExecError, GraphQLRequestError } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { moduleScripts } from "../ci/src/scripts.js";
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

describe("the engine's schema", () => {
  /** Posts a query to the engine as the SDK does, and returns the response's body. */
  const post = async (engine: StandInEngine, query: string) => {
    const { DAGGER_SESSION_PORT: port, DAGGER_SESSION_TOKEN: token } = engine.sessionEnv;
    const response = await fetch(`http://127.0.0.1:${port}/query`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${token}:`).toString("base64")}`, "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    return response.json();
  };

  test("a query with a misspelt argument is refused, with the field path and graphql's message", async ({ engine }) => {
    const body = await post(engine, '{ container { from (adress: "alpine") { id } } }');
    const refused = [
      'container.from: Unknown argument "adress" on field "Container.from". Did you mean "address"?',
      'container.from: Field "from" argument "address" of type "String!" is required, but it was not provided.',
    ];
    expect(body).toEqual({
      data: null,
      errors: [{ message: `stand-in engine: the query does not validate against the schema of dagger v0.21.8: ${refused.join("; ")}`, path: ["container", "from", "id"] }],
    });
    expect(engine.leaves.map((l) => l.outcome)).toEqual(["refused"]);
    expect(engine.takeViolations()).toEqual(refused.map((message) => ({ kind: "query", message })));
  });

  test("the SDK driven with a wrong argument fails, with the whole chain's path through node(id:)", async ({ engine }) => {
    const error = await engine.run(async () => {
      const synced = await dag.container().from("alpine").sync();
      return synced.withExec(["true"], { argz: ["x"] } as never).sync();
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphQLRequestError);
    expect(engine.takeViolations()).toEqual([{ kind: "query", message: 'container.from.withExec: Unknown argument "argz" on field "Container.withExec". Did you mean "args"?' }]);
  });

  test("a violation fails the test in stop(), even when the module swallowed the error", async () => {
    const engine = await StandInEngine.start();
    await engine.run(() => dag.container().withExec(["true"], { expect: "SUCESS" } as never).sync().catch(() => undefined));
    await expect(engine.stop()).rejects.toThrow(
      'the stand-in engine refused or failed, as a real engine (dagger v0.21.8) would:\n  query: container.withExec: Value "SUCESS" does not exist in "ReturnType" enum. Did you mean the enum value "SUCCESS"?',
    );
  });

  test("a scripted answer of another type than the leaf's is refused, with the field path", async ({ engine }) => {
    engine.reply({ leaf: "exitCode" }, answer("0")).reply({ leaf: "stdout" }, answer(42)).reply({ leaf: "stderr" }, answer(null));
    engine.reply({ leaf: "combinedOutput" }, answer()).reply({ leaf: "kind" }, answer("CLASS_KIND"));
    const outcomes = await engine.run(async () => {
      const synced = await dag.container().from("alpine").sync();
      const exec = synced.withExec(["true"]);
      const leaves = [() => exec.exitCode(), () => exec.stdout(), () => exec.stderr(), () => exec.combinedOutput(), () => dag.typeDef().kind()];
      const messages = [];
      for (const leaf of leaves) messages.push(await leaf().catch((e: Error) => e.message));
      return messages;
    });
    expect(outcomes[0]).toBe('stand-in engine: the answer does not have the type the schema of dagger v0.21.8 declares: container.from.withExec.exitCode: declared Int!, scripted "0" (string)');
    expect(engine.takeViolations().map((v) => v.message)).toEqual([
      'container.from.withExec.exitCode: declared Int!, scripted "0" (string)',
      "container.from.withExec.stdout: declared String!, scripted 42 (number)",
      "container.from.withExec.stderr: declared String!, scripted null (null)",
      "container.from.withExec.combinedOutput: declared String!, scripted no value (which answers the object's ID)",
      'typeDef.kind: declared TypeDefKind!, scripted "CLASS_KIND" (string)',
    ]);
  });

  test("load<Type>FromID, which the engine shows clients before v0.22.0, leads to the ID's chain and its types", async ({ engine }) => {
    engine.reply({ leaf: "exitCode" }, answer("0"));
    await engine.run(async () => {
      const id = await dag.container().from("alpine").id(); // the SDK types it ID, its loader wants ContainerID
      return dag.loadContainerFromID(id as never).withExec(["true"]).exitCode().catch(() => undefined);
    });
    expect(engine.find("exitCode").map((l) => l.text)).toEqual(['container.from(address:"alpine").withExec(args:["true"]).exitCode']);
    expect(engine.takeViolations()).toEqual([{ kind: "answer", message: 'container.from.withExec.exitCode: declared Int!, scripted "0" (string)' }]);
  });

  test("answers of the declared type pass: scalars, enum members, lists, null where allowed, IDs", async ({ engine }) => {
    engine.reply({ leaf: "exitCode" }, answer(0)).reply({ leaf: "stdout" }, answer("hi\n")).reply({ leaf: "kind" }, answer("OBJECT_KIND"));
    engine.reply({ leaf: "entries" }, answer(["a", "b/"])).reply({ leaf: "exportImage" }, answer(null)).reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    const answers = await engine.run(async () => {
      const exec = (await dag.container().from("alpine").sync()).withExec(["true"]);
      return Promise.all([exec.exitCode(), exec.stdout(), dag.typeDef().kind(), dag.directory().entries(), exec.exportImage("x"), dag.defaultPlatform()]);
    });
    expect(answers).toEqual([0, "hi\n", "OBJECT_KIND", ["a", "b/"], undefined, "linux/amd64"]);
  });
});

describe("the files a container holds", () => {
  const STATUS = ["sh", "/kind-pipeline/scripts/cluster-status.sh", "/kind-pipeline/state"];
  const reader = () => dag.container().from("docker:29.9.0-dind").withMountedCache("/kind-pipeline/state", dag.cacheVolume("state"));

  test("a state reader that mounts none of its scripts fails as busybox sh does, and the test with it", async ({ engine }) => {
    engine.reply({ leaf: "sync" }, answer());
    const error = await engine.run(() => reader().withExec(STATUS).sync()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecError);
    expect(error).toMatchObject({
      message: 'process "sh /kind-pipeline/scripts/cluster-status.sh /kind-pipeline/state" did not complete successfully: exit code: 127',
      exitCode: 127,
      stderr: "sh: can't open '/kind-pipeline/scripts/cluster-status.sh': No such file or directory\n",
    });
    expect(engine.takeViolations()).toEqual([{
      kind: "exec",
      message: "container.from.withMountedCache.withExec: sh /kind-pipeline/scripts/cluster-status.sh /kind-pipeline/state: /kind-pipeline/scripts/cluster-status.sh is not in the container: no withNewFile, withFile, withDirectory or withMounted* call of the chain places it",
    }]);
  });

  test("with its scripts mounted it runs; a script the mount lacks fails, naming what the mount holds", async ({ engine }) => {
    await engine.run(async () => {
      await reader().withMountedDirectory("/kind-pipeline/scripts", moduleScripts(["cluster-status.sh"])).withExec(STATUS).sync();
      await reader().withMountedDirectory("/kind-pipeline/scripts", moduleScripts(["cluster-status.sh"])).withWorkdir("/kind-pipeline").withExec(["sh", "-e", "scripts/cluster-status.sh"]).sync();
      await reader().withExec(["sh", "-c", "cat /kind-pipeline/state/status"]).sync();
      const wrong = await reader().withMountedDirectory("/kind-pipeline/scripts", moduleScripts(["cluster-state.sh"])).withExec(STATUS).sync().catch((e: unknown) => e);
      expect(wrong).toMatchObject({ exitCode: 127 });
    });
    expect(engine.takeViolations().map((v) => v.message)).toEqual([
      "container.from.withMountedCache.withMountedDirectory.withExec: sh /kind-pipeline/scripts/cluster-status.sh /kind-pipeline/state: /kind-pipeline/scripts/cluster-status.sh is not in what the chain mounts at /kind-pipeline/scripts (cluster-state.sh)",
    ]);
  });

  test("so must the scripts a script sources or runs from its own directory", async ({ engine }) => {
    const run = (files: Record<string, string>) => {
      const scripts = Object.entries(files).reduce((dir, [name, text]) => dir.withNewFile(name, text), dag.directory());
      return dag.container().from("alpine").withMountedDirectory("/s", scripts).withExec(["sh", "/s/run.sh"]).sync().then(() => "ran", (e: ExecError) => `exit ${e.exitCode}: ${e.stderr.trim()}`);
    };
    const script = '#!/bin/sh\nhere=$(dirname "$0")\n. "$here/lib.sh"\n# "$here/not-a-call.sh"\n';
    const outcomes = await engine.run(async () => [await run({ "run.sh": script, "lib.sh": "" }), await run({ "run.sh": script })]);
    expect(outcomes).toEqual(["ran", "exit 127: /s/run.sh: .: line 3: can't open '/s/lib.sh': No such file or directory"]);
    expect(engine.takeViolations().map((v) => v.message)).toEqual([
      "container.from.withMountedDirectory.withExec: sh /s/run.sh: /s/lib.sh is run by /s/run.sh (line 3), but not in what the chain mounts at /s (run.sh)",
    ]);
  });

  test("a path read under a mounted directory must be in it; paths of the image cannot be known and pass", async ({ engine }) => {
    const root = projectTree({ "test/e2e/jax.yaml": "kind: Job\n" });
    const outcomes = await engine.run(async () => {
      const src = dag.container().from("golang:1.24").withMountedDirectory("/src", dag.host().directory(root)).withWorkdir("/src");
      const run = (args: string[]) => src.withExec(args).sync().then(() => "ran", (e: ExecError) => `exit ${e.exitCode}: ${e.stderr.trim()}`);
      return [
        await run(["kubectl", "apply", "-f", "./test/e2e/jax.yaml"]),
        await run(["/usr/local/bin/kubectl", "apply", "-f", "/src/test/e2e/pytorch.yaml"]),
        await run(["./bin/e2e"]),
      ];
    });
    expect(outcomes).toEqual([
      "ran",
      "exit 2: kubectl: can't open '/src/test/e2e/pytorch.yaml': No such file or directory",
      'exit 127: exec: "./bin/e2e": stat ./bin/e2e: no such file or directory',
    ]);
    expect(engine.takeViolations().map((v) => v.message)).toEqual([
      "container.from.withMountedDirectory.withWorkdir.withExec: /usr/local/bin/kubectl apply -f /src/test/e2e/pytorch.yaml: /src/test/e2e/pytorch.yaml is not in what the chain mounts at /src (test/e2e/jax.yaml)",
      "container.from.withMountedDirectory.withWorkdir.withExec: ./bin/e2e: ./bin/e2e is not in what the chain mounts at /src (test/e2e/jax.yaml)",
    ]);
  });
});
