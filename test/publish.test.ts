/**
 * Publishing on the stand-in engine: the tested images pushed under the tag policy to every registry, each
 * ref with its digest; nothing pushed after failed tests or a failed build; the tokens only ever inside the
 * engine's registry auth; one manifest list per image of several platforms; the overwrite guard; images
 * with publish: false tested, not pushed. And in the config and the plan: the policy, platforms, computed
 * build args, the ARCH-with-platforms refusal, the refs the plan lists.
 *
 * The engine answers only what a registry would (a digest for a push, a resolved ref or "not found" for a
 * tag); every assertion is on what the module asked the engine for, or on what it made of the answers.
 */
import { createHash } from "node:crypto";
import { dag, type Secret } from "@dagger.io/dagger";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, validateConfig } from "../ci/src/config.js";
import { inClusterRefs } from "../ci/src/load.js";
import { expandTags, planPipeline, renderPlan } from "../ci/src/plan.js";
import { PublishError, type PublishRequest } from "../ci/src/publish.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import type { Call } from "./support/calls.js";
import { calls, diagnosticsCollect, escapeRe, liveCluster, passingSteps, podList, STEP, stepExits } from "./support/cluster-replies.js";
import type { RecordedLeaf, StandInEngine } from "./support/engine.js";
import { pipelineAt, runAt, threeImages, type ProjectExtras } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { projectTree } from "./support/projects.js";
import { answer, engineError, execFailure } from "./support/replies.js";

const SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const SHORT = "1a2b3c4";
const GHCR = "ghcr.io/example/x";
const HUB = "docker.io/example";
/** The tokens' values: the GHCR one set by the caller (setSecret), the Docker Hub one read by reference. */
const GHCR_CANARY = "ghcr-canary-7f3e9a";
const HUB_CANARY = "hub-canary-51c0d2";
const HUB_REFERENCE = "env://DOCKERHUB_TOKEN";

const REGISTRIES = `publish:
  registries:
    - { registry: ghcr.io, repository: example/x, username: octocat }
    - { registry: docker.io, repository: example, username: example, token: "${HUB_REFERENCE}" }`;

/** A project of three images (jax, pytorch, xgboost), a smoke step on jax, a publish section and the test's additions. */
function project(publish = REGISTRIES, extras: ProjectExtras = {}): string {
  return threeImages({
    ...extras,
    config: [`e2e:\n  - { name: smoke, needs: [jax], run: [sh, smoke.sh] }`, publish, extras.config].filter(Boolean).join("\n"),
    files: { "smoke.sh": "echo ok\n", ...extras.files },
  });
}

/** A digest a registry would answer for a ref (distinct per ref, so a swapped answer shows). */
const digestOf = (ref: string) => `sha256:${createHash("sha256").update(ref).digest("hex")}`;

/** The registries accept a push of each ref, answering it with its digest. */
function registryAccepts(engine: StandInEngine, refs: string[]): StandInEngine {
  for (const ref of refs) engine.reply({ leaf: "publish", where: new RegExp(`\\.publish\\(address:"${escapeRe(ref)}"[,)]`) }, answer(`${ref}@${digestOf(ref)}`));
  return engine;
}

/** The registry resolves `ref` (it exists), or says it is not found. */
function tagIs(engine: StandInEngine, ref: string, state: "present" | "absent"): StandInEngine {
  const where = new RegExp(`\\.from\\(address:"${escapeRe(ref)}"\\)\\.imageRef$`);
  return engine.reply(
    { leaf: "imageRef", where },
    state === "present" ? answer(`${ref}@${digestOf(`${ref}-old`)}`) : engineError(`failed to resolve image "${ref}" (platform: "linux/amd64"): ${ref}: not found`),
  );
}

/** A healthy cluster of the default version whose nodes hold the refs of the project's images (with the build args the call adds, by image); every step passes. */
async function testsPass(engine: StandInEngine, root: string, buildArgs: Record<string, Record<string, string>> = {}): Promise<void> {
  const refs = await engine.run(async () => {
    const run = await runAt(root, {});
    run.plan.images = run.plan.images.map((image) => ({ ...image, buildArgs: { ...image.buildArgs, ...buildArgs[image.name] } }));
    return inClusterRefs(run);
  });
  liveCluster(engine, { held: [...refs.values()] });
  passingSteps(engine);
}

/** The caller's secrets: the GHCR token as `--token`, the Docker Hub one by reference as `--tokens`. Call inside `engine.run`. */
function callerTokens(engine: StandInEngine): Pick<PublishRequest, "token" | "tokens"> {
  engine.reply({ leaf: "uri", where: `secret(uri:"${HUB_REFERENCE}")` }, answer(HUB_REFERENCE)).reply({ leaf: "plaintext" }, answer(HUB_CANARY));
  return { token: dag.setSecret("ghcr-token", GHCR_CANARY), tokens: [dag.secret(HUB_REFERENCE)] };
}

/** `publish` with the caller's tokens and the request's values: its text, or what it threw, and the status lines it wrote. */
async function publish(engine: StandInEngine, root: string, request: PublishRequest = {}, secrets: () => Secret[] = () => []): Promise<{ text?: string; error?: unknown; logged: string[] }> {
  const statusLines = vi.spyOn(console, "error");
  try {
    const outcome = await engine.run(async () => {
      const r = { ...callerTokens(engine), ...request };
      try {
        const text = await pipelineAt(root, secrets()).publish(r.token, r.tokens, r.revision, r.pullRequest, r.version, r.tags, undefined, undefined, r.skipTests, r.overwrite);
        return { text };
      } catch (error) {
        return { error };
      }
    });
    return { ...outcome, logged: statusLines.mock.calls.map((args) => args.join(" ")) };
  } finally {
    statusLines.mockRestore();
  }
}

/** The pushes the module asked for: each `publish` leaf's address, with the chain it was asked of. */
function pushes(engine: StandInEngine): { address: string; call: Call }[] {
  return engine.find("", { leaf: "publish" }).map((l) => ({ address: String(l.call.args.address), call: l.call }));
}

/** The image builds the module awaited (a build's own `sync`). */
const builds = (engine: StandInEngine): RecordedLeaf[] => engine.leaves.filter((l) => l.leaf === "sync" && l.call.parent?.field === "dockerBuild");

/** The context a build chain builds (its last `directory` call). */
const contextOf = (call: Call) => String(calls(call, "directory").at(-1)!.args.path);

/** Every ref of every image to both registries under the given tags. */
const refsOf = (images: string[], tags: string[]) => images.flatMap((image) => [GHCR, HUB].flatMap((repo) => tags.map((tag) => `${repo}/${image}:${tag}`)));

describe("the tag policy", () => {
  it("fills sha-{revision} with 7 characters, pr-{pullRequest}, {version} without its v; leaves out a template whose value is not given", () => {
    const policy = ["sha-{revision}", "pr-{pullRequest}", "{version}"];
    expect(expandTags(policy, { revision: SHA })).toEqual([{ tag: `sha-${SHORT}`, versioned: false }]);
    expect(expandTags(policy, { revision: SHA, pullRequest: "42" }).map((t) => t.tag)).toEqual([`sha-${SHORT}`, "pr-42"]);
    expect(expandTags(policy, { revision: SHA, version: "v1.2.3" })).toEqual([
      { tag: `sha-${SHORT}`, versioned: false },
      { tag: "1.2.3", versioned: true },
    ]);
    expect(expandTags(policy, {})).toEqual([]);
  });

  it("keeps the v when the template writes it, keeps literal tags, adds latest only when listed, never a tag twice", () => {
    expect(expandTags(["v{version}", "{version}-{revision}", "stable"], { version: "v2.0.0", revision: SHA }).map((t) => t.tag)).toEqual(["v2.0.0", `2.0.0-${SHORT}`, "stable"]);
    expect(expandTags(["{version}", "latest"], { version: "1.0.0" }).map((t) => t.tag)).toEqual(["1.0.0", "latest"]);
    expect(expandTags(["{version}", "latest"], {}).map((t) => t.tag)).toEqual(["latest"]);
    expect(expandTags(["sha-{revision}", "sha-{revision}"], { revision: SHA }).map((t) => t.tag)).toEqual([`sha-${SHORT}`]);
    expect(expandTags(["sha-{revision}", "pr-{pullRequest}", "{version}"], { revision: SHA, pullRequest: "1", version: "1.0.0" }).map((t) => t.tag)).not.toContain("latest");
  });
});

describe("pushes", () => {
  test("test first, then every image to both registries under the policy's tags, each ref returned with its digest", async ({ engine }) => {
    const root = project();
    await testsPass(engine, root);
    const refs = refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`, "pr-42"]);
    registryAccepts(engine, refs);
    const { text, error, logged } = await publish(engine, root, { revision: SHA, pullRequest: "42" });
    expect(error).toBeUndefined();
    expect(text).toBe(refs.map((ref) => `${ref}@${digestOf(ref)}`).join("\n") + "\n");
    expect(pushes(engine).map((p) => p.address).sort()).toEqual([...refs].sort());
    // the tests ran to their end before the first push
    const firstPush = Math.min(...engine.find("", { leaf: "publish" }).map((l) => l.startedAt));
    const lastStep = Math.max(...engine.find(STEP, { leaf: "combinedOutput" }).map((l) => l.endedAt ?? Infinity));
    expect(engine.find(STEP, { leaf: "combinedOutput" })).toHaveLength(1);
    expect(firstPush).toBeGreaterThanOrEqual(lastStep);
    // each push authenticates to its own registry with its own user, on the repository's address
    for (const { address, call } of pushes(engine)) {
      const [auth] = calls(call, "withRegistryAuth");
      const repository = address.split(":")[0];
      expect([auth!.args.address, auth!.args.username]).toEqual([repository, address.startsWith("ghcr.io") ? "octocat" : "example"]);
    }
    expect(logged).toContainEqual(`[publish] jax: pushed ${GHCR}/jax:sha-${SHORT}@${digestOf(`${GHCR}/jax:sha-${SHORT}`)}`);
  });

  test("the pushed image is the tested build: the same engine calls as the test path's", async ({ engine }) => {
    const root = project();
    await testsPass(engine, root);
    registryAccepts(engine, refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`]));
    const { error } = await publish(engine, root, { revision: SHA });
    expect(error).toBeUndefined();
    const tested = new Set(builds(engine).map((l) => l.call.parent!.text));
    expect(tested.size).toBe(3);
    for (const { call } of pushes(engine)) {
      const pushed = calls(call, "withRegistryAuth")[0]!.parent!;
      expect(tested.has(pushed.text), pushed.display).toBe(true);
    }
  });

  test("a version, a literal tag of the policy and --tags: latest only because it is listed", async ({ engine }) => {
    const root = project(`${REGISTRIES}\n  tags: ["v{version}", "{version}", edge]`, { images: "" });
    await testsPass(engine, root);
    for (const ref of refsOf(["jax", "pytorch", "xgboost"], ["v1.4.0", "1.4.0"])) tagIs(engine, ref, "absent");
    const refs = refsOf(["jax", "pytorch", "xgboost"], ["v1.4.0", "1.4.0", "edge", "latest"]);
    registryAccepts(engine, refs);
    const { error } = await publish(engine, root, { revision: SHA, version: "v1.4.0", tags: ["latest"] });
    expect(error).toBeUndefined();
    expect(pushes(engine).map((p) => p.address).sort()).toEqual([...refs].sort());
  });

  test("the default policy never pushes latest, and with no value given pushes nothing and builds nothing", async ({ engine }) => {
    const root = project();
    const { error } = await publish(engine, root, {});
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("tags: no tag to push: the policy (sha-{revision}, pr-{pullRequest}, {version}) takes values this call did not give");
    engine.expectNever("dockerBuild");
    engine.expectNever(/latest/);
    expect(pushes(engine)).toEqual([]);
  });

  test("malformed values are refused before anything runs, every one at once", async ({ engine }) => {
    const { error } = await publish(engine, project(), { revision: "main", pullRequest: "#12", version: "1.2.3+build.5", tags: ["-x"] });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.path)).toEqual(["revision", "pull-request", "version", "tags"]);
    engine.expectNever("dockerBuild");
  });
});

describe("nothing is pushed after failed tests", () => {
  test("a failed step: PublishError naming it, no push, no registry auth", async ({ engine }) => {
    const root = project();
    await testsPass(engine, root);
    stepExits(engine, '"sh","smoke.sh"', 1, "smoke: job failed\n");
    diagnosticsCollect(engine, podList());
    registryAccepts(engine, refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`]));
    const { error } = await publish(engine, root, { revision: SHA });
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toMatch(/^publish: nothing was pushed: the tests failed \(Kubernetes 1\.37\.0: failed steps smoke\)/);
    expect((error as Error).message).toContain("smoke: job failed");
    expect(pushes(engine)).toEqual([]);
    engine.expectNever("withRegistryAuth");
  });

  test("a failed build: PublishError with the build's failure, no cluster, no push", async ({ engine }) => {
    const root = project();
    await testsPass(engine, root);
    engine.reply({ leaf: "sync", where: /directory\(path:"images\/pytorch"\)\.dockerBuild\([^)]*\)\.sync$/ }, execFailure({ exitCode: 1, stderr: "ERROR: No matching distribution found for torch==0.0.0\n", cmd: ["/bin/sh", "-c", "pip install torch==0.0.0"] }));
    const { error } = await publish(engine, root, { revision: SHA });
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toMatch(/^publish: nothing was pushed: the tests stopped before their end/);
    expect((error as Error).message).toContain("No matching distribution found for torch==0.0.0");
    expect(engine.find("", { leaf: "start" })).toEqual([]);
    expect(pushes(engine)).toEqual([]);
  });

  test("--skip-tests starts no cluster and says so, and still builds every image before the first push", async ({ engine }) => {
    const root = project();
    engine.reply({ leaf: "sync", where: "dockerBuild" }, answer(), { delayMs: 30 });
    const refs = refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`]);
    registryAccepts(engine, refs);
    const { error, logged } = await publish(engine, root, { revision: SHA, skipTests: true });
    expect(error).toBeUndefined();
    expect(engine.find("", { leaf: "start" })).toEqual([]);
    engine.expectNever(STEP);
    expect(logged).toContainEqual(expect.stringMatching(/^\[publish\] --skip-tests: no tests run in this call/));
    expect(Math.min(...engine.find("", { leaf: "publish" }).map((l) => l.startedAt))).toBeGreaterThanOrEqual(Math.max(...builds(engine).map((l) => l.endedAt!)));
    expect(pushes(engine)).toHaveLength(refs.length);
  });
});

describe("tokens", () => {
  test("each registry's token reaches withRegistryAuth and nothing else: no argument, status line, result or error holds it", async ({ engine }) => {
    const root = project();
    await testsPass(engine, root);
    const refs = refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`]);
    registryAccepts(engine, refs.slice(0, -1));
    engine.reply({ leaf: "publish", where: `publish(address:"${refs.at(-1)}")` }, engineError(`failed to push ${refs.at(-1)}: unauthorized: authentication required`));
    const { text, error, logged } = await publish(engine, root, { revision: SHA });
    expect(text).toBeUndefined();
    expect(error).toBeInstanceOf(PublishError);

    const secretOf = (call: Call) => (calls(call, "withRegistryAuth")[0]!.args.secret as Call).text;
    for (const { address, call } of pushes(engine)) {
      expect(secretOf(call)).toBe(address.startsWith("ghcr.io") ? `setSecret(name:"ghcr-token",plaintext:"${GHCR_CANARY}")` : `secret(uri:"${HUB_REFERENCE}")`);
    }
    // the values: one set by the caller (travels only inside its setSecret), one the module could read but never does
    expect(engine.find("", { leaf: "plaintext" })).toEqual([]);
    const outsideSetSecret = (text: string) => text.replaceAll(`setSecret(name:"ghcr-token",plaintext:"${GHCR_CANARY}")`, "");
    const leaked = engine.leaves.filter((l) => [GHCR_CANARY, HUB_CANARY].some((canary) => outsideSetSecret(l.text).includes(canary)));
    expect(leaked.map((l) => l.call.display)).toEqual([]);
    for (const shown of [(error as Error).message, logged.join("\n")]) {
      expect(shown).not.toContain(GHCR_CANARY);
      expect(shown).not.toContain(HUB_CANARY);
    }
    // a failed push names what was pushed and what was not
    expect((error as Error).message).toMatch(new RegExp(`^publish: 1 of 6 pushes failed: ${escapeRe(refs.at(-1)!)}`));
    expect((error as Error).message).toContain(`pushed:\n  ${refs[0]}@${digestOf(refs[0]!)}`);
  });

  test("ghcr.io and docker.io at once from the CLI: --token for the one, the other's reference in --tokens or the pipeline's --secrets", async ({ engine }) => {
    const root = project();
    const refs = refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`]);
    registryAccepts(engine, refs);
    engine.reply({ leaf: "uri", where: 'secret(uri:"env:DOCKERHUB_TOKEN")' }, answer("env:DOCKERHUB_TOKEN"));
    const { error } = await publish(engine, root, { revision: SHA, skipTests: true, tokens: [] }, () => [dag.secret("env:DOCKERHUB_TOKEN")]);
    expect(error).toBeUndefined();
    const hub = pushes(engine).filter((p) => p.address.startsWith("docker.io"));
    expect(hub.map((p) => (calls(p.call, "withRegistryAuth")[0]!.args.secret as Call).text)).toEqual(Array(3).fill('secret(uri:"env:DOCKERHUB_TOKEN")'));
  });

  test("a registry left without a token stops the call before anything is built, naming the flag to pass", async ({ engine }) => {
    const { error } = await publish(engine, project(), { revision: SHA, token: undefined, tokens: [] });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      { path: "publish.registries.0", message: expect.stringContaining("ghcr.io has no token: pass --token=<secret reference> (e.g. --token=env://GITHUB_TOKEN)") },
      { path: "publish.registries.1.token", message: `${HUB_REFERENCE} (docker.io) was not passed: add --tokens=${HUB_REFERENCE}` },
    ]);
    engine.expectNever("dockerBuild");
  });
});

describe("platforms", () => {
  const MULTI = `${REGISTRIES}\n  platforms: [linux/amd64, linux/arm64]`;

  test("an image of several platforms: each built for its platform, pushed as one manifest list per ref; the engine's own platform is the tested build", async ({ engine }) => {
    const root = project(MULTI, { images: "  tool: { context: images/tool, platforms: [linux/arm64] }\n  single: { context: images/single, platforms: [linux/amd64] }", files: { "images/tool/Dockerfile": "FROM alpine\n", "images/single/Dockerfile": "FROM alpine\n" } });
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    const images = ["jax", "pytorch", "xgboost", "tool", "single"];
    registryAccepts(engine, refsOf(images, [`sha-${SHORT}`]));
    const { error, logged } = await publish(engine, root, { revision: SHA, skipTests: true });
    expect(error).toBeUndefined();
    const byImage = (image: string) => pushes(engine).filter((p) => p.address.includes(`/${image}:`));
    for (const image of ["jax", "pytorch", "xgboost"]) {
      const [ghcr, hub] = byImage(image);
      expect(byImage(image)).toHaveLength(2);
      for (const { call } of [ghcr!, hub!]) {
        // an empty container (left out of the list by the engine) carrying the auth, and one variant per platform
        expect(call.parent!.parent!.text).toBe("container");
        const variants = call.args.platformVariants as Call[];
        expect(variants.map((v) => calls(v, "dockerBuild")[0]!.args.platform ?? "(the engine's)")).toEqual(["(the engine's)", "linux/arm64"]);
        expect(variants.map(contextOf)).toEqual([`images/${image}`, `images/${image}`]);
      }
    }
    // one platform: the container itself, no list
    const [tool] = byImage("tool");
    expect(tool!.call.args.platformVariants).toBeUndefined();
    expect(calls(tool!.call, "dockerBuild")[0]!.args.platform).toBe("linux/arm64");
    const [single] = byImage("single");
    expect(calls(single!.call, "dockerBuild")[0]!.args.platform).toBeUndefined();
    expect(logged).toContainEqual("[publish] jax: linux/arm64 built from the tested inputs, not run by the tests (the engine runs linux/amd64)");
    // every platform build is awaited before the first push
    expect(builds(engine).filter((l) => calls(l.call, "dockerBuild")[0]!.args.platform === "linux/arm64")).toHaveLength(4);
  });

  test("a platform that does not build: nothing is pushed, the image and platform named", async ({ engine }) => {
    const root = project(MULTI);
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    engine.reply({ leaf: "sync", where: /images\/xgboost"\)\.dockerBuild\([^)]*platform:"linux\/arm64"[^)]*\)\.sync$/ }, engineError("failed to solve: no match for platform in manifest: not found"));
    const { error } = await publish(engine, root, { revision: SHA, skipTests: true });
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toMatch(/^publish: nothing was pushed: 1 of 6 builds failed: xgboost \(linux\/arm64\)/);
    expect(pushes(engine)).toEqual([]);
  });
});

describe("the overwrite guard", () => {
  const VERSIONED = `${REGISTRIES}\n  tags: ["sha-{revision}", "{version}"]`;
  const versionRefs = refsOf(["jax", "pytorch", "xgboost"], ["1.2.0"]);

  test("a version tag that exists stops the publish before anything is tested or built, naming it", async ({ engine }) => {
    const root = project(VERSIONED);
    for (const ref of versionRefs) tagIs(engine, ref, ref === `${HUB}/pytorch:1.2.0` ? "present" : "absent");
    const { error } = await publish(engine, root, { revision: SHA, version: "v1.2.0" });
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toMatch(new RegExp(`^publish: a version tag exists already: ${escapeRe(HUB)}/pytorch:1\\.2\\.0\\. Nothing was tested or pushed\\.`));
    expect((error as Error).message).toContain(`${HUB}/pytorch:1.2.0: exists as ${HUB}/pytorch:1.2.0@${digestOf(`${HUB}/pytorch:1.2.0-old`)}`);
    expect((error as Error).message).toContain("--overwrite");
    // each registry was asked with its own credentials; the sha- tags were not asked about
    const asked = engine.find("", { leaf: "imageRef" });
    expect(asked.map((l) => String(calls(l.call, "from")[0]!.args.address)).sort()).toEqual([...versionRefs].sort());
    for (const leaf of asked) expect(calls(leaf.call, "withRegistryAuth")[0]!.args.username).toBe(String(calls(leaf.call, "from")[0]!.args.address).startsWith("ghcr.io") ? "octocat" : "example");
    engine.expectNever("dockerBuild");
    expect(pushes(engine)).toEqual([]);
  });

  test("absent version tags: tested and pushed", async ({ engine }) => {
    const root = project(VERSIONED);
    await testsPass(engine, root);
    for (const ref of versionRefs) tagIs(engine, ref, "absent");
    registryAccepts(engine, refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`, "1.2.0"]));
    const { error } = await publish(engine, root, { revision: SHA, version: "1.2.0" });
    expect(error).toBeUndefined();
    expect(engine.find("", { leaf: "imageRef" })).toHaveLength(versionRefs.length);
    expect(Math.max(...engine.find("", { leaf: "imageRef" }).map((l) => l.endedAt!))).toBeLessThanOrEqual(Math.min(...builds(engine).map((l) => l.startedAt)));
    expect(pushes(engine)).toHaveLength(12);
  });

  test("--overwrite pushes over an existing version tag without asking", async ({ engine }) => {
    const root = project(VERSIONED);
    for (const ref of versionRefs) tagIs(engine, ref, "present");
    registryAccepts(engine, refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`, "1.2.0"]));
    const { error } = await publish(engine, root, { revision: SHA, version: "1.2.0", overwrite: true, skipTests: true });
    expect(error).toBeUndefined();
    expect(engine.find("", { leaf: "imageRef" })).toEqual([]);
    expect(pushes(engine)).toHaveLength(12);
  });

  test("a registry that neither resolves nor denies the ref: refused, the registry's error quoted", async ({ engine }) => {
    const root = project(VERSIONED);
    for (const ref of versionRefs) tagIs(engine, ref, "absent");
    engine.reply({ leaf: "imageRef", where: `from(address:"${GHCR}/jax:1.2.0")` }, engineError("failed to resolve image: unexpected status from HEAD request: 503 Service Unavailable"));
    const { error } = await publish(engine, root, { revision: SHA, version: "1.2.0" });
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toMatch(/^publish: could not tell whether ghcr\.io\/example\/x\/jax:1\.2\.0 exists\. Nothing was tested or pushed\./);
    expect((error as Error).message).toContain("503 Service Unavailable");
    expect(pushes(engine)).toEqual([]);
  });
});

describe("publish: false", () => {
  test("such an image is built and tested, never pushed", async ({ engine }) => {
    const root = project(REGISTRIES, { images: "  helper: { context: images/helper, publish: false }", files: { "images/helper/Dockerfile": "FROM alpine\n" } });
    await testsPass(engine, root);
    const refs = refsOf(["jax", "pytorch", "xgboost"], [`sha-${SHORT}`]);
    registryAccepts(engine, refs);
    const { error } = await publish(engine, root, { revision: SHA });
    expect(error).toBeUndefined();
    expect(builds(engine).map((l) => contextOf(l.call))).toContain("images/helper");
    expect(pushes(engine).map((p) => p.address).sort()).toEqual([...refs].sort());
    engine.expectNever(/withRegistryAuth\(address:"[^"]*\/helper"/);
  });

  test("a selection of only such images is refused before anything runs", async ({ engine }) => {
    const root = project(REGISTRIES.replace("publish:", "publish:"), { images: "  helper: { context: images/helper, publish: false }", files: { "images/helper/Dockerfile": "FROM alpine\n" } });
    const error = await engine.run(async () => pipelineAt(root).publish(dag.setSecret("t", GHCR_CANARY), [], SHA, undefined, undefined, undefined, ["helper"]).catch((e: unknown) => e));
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toMatch(/^publish: nothing to publish: every selected image \(helper\) has publish: false/);
    engine.expectNever("dockerBuild");
  });
});

describe("build args computed from the source and the call", () => {
  const FROM = `  web: { context: images/web, buildArgsFrom: { NODE_VERSION: { file: frontend/.nvmrc }, REVISION: { arg: revision } } }`;
  const FILES = { "images/web/Dockerfile": "ARG NODE_VERSION\nFROM node:${NODE_VERSION}\n", "frontend/.nvmrc": "20.11.0\n" };

  test("the file's trimmed content and the call's revision reach the tested build and the pushed one alike", async ({ engine }) => {
    const root = project(REGISTRIES, { images: FROM, files: FILES });
    await testsPass(engine, root, { web: { REVISION: SHA } });
    registryAccepts(engine, refsOf(["jax", "pytorch", "xgboost", "web"], [`sha-${SHORT}`]));
    const { error } = await publish(engine, root, { revision: SHA });
    expect(error).toBeUndefined();
    const web = builds(engine).filter((l) => contextOf(l.call) === "images/web");
    expect(web.length).toBeGreaterThan(0);
    for (const leaf of web) {
      expect(calls(leaf.call, "dockerBuild")[0]!.args.buildArgs).toEqual([
        { name: "NODE_VERSION", value: "20.11.0" },
        { name: "REVISION", value: SHA },
      ]);
    }
    const pushedWeb = pushes(engine).filter((p) => p.address.includes("/web:"));
    for (const { call } of pushedWeb) expect(calls(call, "dockerBuild")[0]!.args.buildArgs).toContainEqual({ name: "REVISION", value: SHA });
  });

  test("a value the call does not give is refused, naming the build arg", async ({ engine }) => {
    const root = project(`${REGISTRIES}\n  tags: [edge]`, { images: FROM, files: FILES });
    const { error } = await publish(engine, root, {});
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([{ path: "images.web.buildArgsFrom.REVISION", message: "takes --revision, which this call did not give" }]);
    engine.expectNever("dockerBuild");
  });
});

describe("the config", () => {
  const root = projectTree({ "images/a/Dockerfile": "FROM alpine\n", "frontend/.nvmrc": "  20.11.0\n\n", "two-lines": "a\nb\n" });
  const tree = localSourceTree(root);
  const config = (images: string, publish = "") =>
    `images:\n${images}\npublish:\n  registries: [{ registry: ghcr.io, repository: example/x, username: u }]\n${publish}`;
  const problems = async (yaml: string) => (await validateConfig(yaml, tree).catch((e: ConfigError) => e)) as ConfigError;

  it.each([
    ["ARCH", "  a: { context: images/a, buildArgs: { ARCH: amd64 }, platforms: [linux/amd64, linux/arm64] }", "", "images.a.buildArgs.ARCH"],
    ["GOARCH", "  a: { context: images/a, buildArgs: { GOARCH: amd64 } }", "  platforms: [linux/amd64, linux/arm64]", "images.a.buildArgs.GOARCH"],
    ["TARGETARCH set literally", "  a: { context: images/a, buildArgs: { TARGETARCH: arm64 }, platforms: [linux/amd64, linux/arm64] }", "", "images.a.buildArgs.TARGETARCH"],
    ["an architecture as the value", "  a: { context: images/a, buildArgs: { BASE_PLATFORM: linux/amd64 }, platforms: [linux/amd64, linux/s390x] }", "", "images.a.buildArgs.BASE_PLATFORM"],
    ["a computed ARCH", "  a: { context: images/a, buildArgsFrom: { ARCH: { file: frontend/.nvmrc } }, platforms: [linux/amd64, linux/arm64] }", "", "images.a.buildArgsFrom.ARCH"],
  ])("a fixed architecture with several platforms is refused: %s", async (_, images, publish, path) => {
    const error = await problems(config(images, publish));
    expect(error).toBeInstanceOf(ConfigError);
    const found = error.problems.filter((p) => p.path === path);
    expect(found).toHaveLength(1);
    expect(found[0]!.message).toMatch(/fixes the architecture .* every platform's build would get it, .* read TARGETARCH in the Dockerfile \(ARG TARGETARCH: BuildKit sets it for each platform's build\)$/);
  });

  it("a fixed architecture with one platform, or a build arg that names none, is accepted", async () => {
    await expect(validateConfig(config("  a: { context: images/a, buildArgs: { ARCH: amd64 }, platforms: [linux/amd64] }"), tree)).resolves.toBeDefined();
    await expect(validateConfig(config("  a: { context: images/a, buildArgs: { GO_VERSION: \"1.24\" } }", "  platforms: [linux/amd64, linux/arm64]"), tree)).resolves.toBeDefined();
  });

  it("reads a build arg from a file of the source, trimmed, into the image's build args (and the plan)", async () => {
    const parsed = await validateConfig(config("  a: { context: images/a, buildArgsFrom: { NODE_VERSION: { file: frontend/.nvmrc } } }"), tree);
    expect(parsed.images.a!.buildArgs).toEqual({ NODE_VERSION: "20.11.0" });
    expect(renderPlan(planPipeline(parsed))).toContain("   - a: context images/a; dockerfile images/a/Dockerfile; args NODE_VERSION=20.11.0\n");
  });

  it("refuses a build arg file that is missing or not one line, a source that is neither or both, an arg given twice", async () => {
    const error = await problems(
      config(
        [
          "  a: { context: images/a, buildArgs: { X: \"1\" }, buildArgsFrom: { A: { file: nope/.nvmrc }, B: { file: two-lines }, C: { arg: commit }, D: { file: two-lines, arg: revision }, X: { arg: version } } }",
        ].join("\n"),
      ),
    );
    expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "images.a.buildArgsFrom.A.file: file not found: nope/.nvmrc (relative to the source root)",
      expect.stringMatching(/^images\.a\.buildArgsFrom\.B\.file: two-lines holds 2 lines: a build arg read from a file takes its one line/),
      "images.a.buildArgsFrom.C.arg: must be one of revision, pullRequest, version",
      "images.a.buildArgsFrom.D: must name one source: { file: <path> } or { arg: revision | version | pullRequest }",
      "images.a.buildArgsFrom.X: X is also set in buildArgs: give it one source",
    ]);
  });

  it("refuses tag templates with unknown placeholders or that cannot be tags, and registries that would share a credential", async () => {
    const error = await problems(
      [
        "images:\n  a: { context: images/a }",
        "publish:",
        "  registries:",
        "    - { registry: docker.io, repository: example, username: one }",
        "    - { registry: index.docker.io, repository: other, username: two }",
        "    - { registry: docker.io, repository: example, username: one }",
        '  tags: ["sha-{sha}", ".{version}", latest]',
      ].join("\n"),
    );
    expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      expect.stringMatching(/^publish\.registries\.1: is on docker\.io as publish\.registries\.0 is, with another username or token: the engine keeps one credential per registry host/),
      "publish.registries.2: pushes where publish.registries.0 does (docker.io/example)",
      "publish.tags.0: unknown placeholder {sha}: use {revision}, {pullRequest} or {version}",
      expect.stringMatching(/^publish\.tags\.1: must be an image tag \(letters, digits/),
    ]);
  });
});

describe("plan", () => {
  it("lists every ref publish would push, per image and registry, the call's values as placeholders", async () => {
    const root = projectTree({ "images/a/Dockerfile": "FROM alpine\n", "images/b/Dockerfile": "FROM alpine\n", "images/c/Dockerfile": "FROM alpine\n" });
    const yaml = [
      "images:",
      "  a: { context: images/a, platforms: [linux/amd64, linux/arm64], buildArgsFrom: { REVISION: { arg: revision } } }",
      "  b: { context: images/b, publish: false }",
      "  c: { context: images/c }",
      "publish:",
      "  registries:",
      "    - { registry: ghcr.io, repository: example/x, username: u }",
      "    - { registry: docker.io, repository: example, username: u, token: env://HUB }",
      '  tags: ["sha-{revision}", "v{version}", latest]',
    ].join("\n");
    const text = renderPlan(planPipeline(await validateConfig(yaml, localSourceTree(root))));
    expect(text.slice(text.indexOf("6. publish"))).toBe(
      [
        "6. publish — only by `publish`, after stages 1–5 passed on every version (unless --skip-tests); 2 images to 2 registries; a tag whose value the call does not give (--revision, --pull-request, --version) is left out",
        "   - a: linux/amd64 + linux/arm64 as one manifest list; args REVISION=<revision>",
        "       ghcr.io/example/x/a:sha-<revision>",
        "       ghcr.io/example/x/a:v<version> (never pushed over without --overwrite)",
        "       ghcr.io/example/x/a:latest",
        "       docker.io/example/a:sha-<revision>",
        "       docker.io/example/a:v<version> (never pushed over without --overwrite)",
        "       docker.io/example/a:latest",
        "   - c: the engine's platform (the tested build)",
        "       ghcr.io/example/x/c:sha-<revision>",
        "       ghcr.io/example/x/c:v<version> (never pushed over without --overwrite)",
        "       ghcr.io/example/x/c:latest",
        "       docker.io/example/c:sha-<revision>",
        "       docker.io/example/c:v<version> (never pushed over without --overwrite)",
        "       docker.io/example/c:latest",
        "   - b: tested, not pushed (publish: false)",
        "",
      ].join("\n"),
    );
  });

  it("has no publish section without a publish config", async () => {
    const root = projectTree({ "images/a/Dockerfile": "FROM alpine\n" });
    const text = renderPlan(planPipeline(await validateConfig("images:\n  a: { context: images/a }\n", localSourceTree(root))));
    expect(text).not.toContain("publish");
  });
});
