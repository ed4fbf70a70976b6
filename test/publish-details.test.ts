/**
 * The publish stage's details, as a user meets them: the exact refusals (ConfigError, PublishError) with
 * their paths and advice, the checks of the call's values, the tags a call expands to, the tokens taken
 * by reference or from --token, the overwrite guard's wording and what counts as an absent tag, the
 * platform builds, the time limits and the pushed/failed summary, and the status lines.
 *
 * The stand-in engine answers as a registry would; every assertion is on what the module asked it for, or
 * on what the module made of its answers.
 */
import { createHash } from "node:crypto";
import { dag, type Secret } from "@dagger.io/dagger";
import { describe, expect, it, vi } from "vitest";
import { ConfigError } from "../ci/src/config.js";
import { inClusterRefs } from "../ci/src/load.js";
import { PUSH_TIMEOUT_SECONDS, PublishError, type PublishRequest } from "../ci/src/publish.js";
import { StageError } from "../ci/src/stage-error.js";
import type { Call } from "./support/calls.js";
import { calls, diagnosticsCollect, escapeRe, liveCluster, LOAD, passingSteps, podList, STEP } from "./support/cluster-replies.js";
import type { StandInEngine } from "./support/engine.js";
import { pipelineAt, runAt, threeImages, type ProjectExtras } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { answer, engineError, execFailure, hang } from "./support/replies.js";
import { Taking } from "./support/taking.js";

const SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const SHORT = "1a2b3c4";
const GHCR = "ghcr.io/example/x";
const HUB = "docker.io/example";
const HUB_REFERENCE = "env://DOCKERHUB_TOKEN";

const GHCR_ONLY = `publish:
  registries:
    - { registry: ghcr.io, repository: example/x, username: octocat }`;
const BOTH = `${GHCR_ONLY}
    - { registry: docker.io, repository: example, username: example, token: "${HUB_REFERENCE}" }`;

/** The three images of `threeImages()` with a publish section (and the test's additions). */
function project(publish: string, extras: ProjectExtras = {}): string {
  return threeImages({ ...extras, config: [publish, extras.config].filter(Boolean).join("\n") });
}

/**
 * A publish call: the call's values, which images, the references passed as --tokens and --secrets; `token: false` passes no
 * --token. `skipTests` is true unless given: only the tests-first cases run the test path.
 */
interface CallOf extends Omit<PublishRequest, "token" | "tokens"> {
  images?: string[];
  token?: boolean;
  tokens?: string[];
  secrets?: string[];
}

/** `publish` as the CLI calls it: its text or what it threw, and the `[publish]` status lines. */
async function publish(engine: StandInEngine, root: string, call: CallOf = {}): Promise<{ text?: string; error?: unknown; logged: string[] }> {
  for (const reference of [...(call.tokens ?? []), ...(call.secrets ?? [])]) engine.reply({ leaf: "uri", where: `secret(uri:"${reference}")` }, answer(reference));
  const statusLines = vi.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    const outcome = await engine.run(async () => {
      const token: Secret | undefined = call.token === false ? undefined : dag.setSecret("ghcr-token", "ghcr-value");
      const tokens = call.tokens?.map((reference) => dag.secret(reference));
      const secrets = (call.secrets ?? []).map((reference) => dag.secret(reference));
      try {
        const text = await pipelineAt(root, secrets).publish(token, tokens, call.revision, call.pullRequest, call.version, call.tags, call.images, undefined, call.skipTests ?? true, call.overwrite);
        return { text };
      } catch (error) {
        return { error };
      }
    });
    return { ...outcome, logged: statusLines.mock.calls.map((args) => args.join(" ")).filter((line) => line.startsWith("[publish]")) };
  } finally {
    statusLines.mockRestore();
  }
}

/** A digest a registry would answer for a ref. */
const digestOf = (ref: string) => `sha256:${createHash("sha256").update(ref).digest("hex")}`;

/** The registries accept a push of each ref, answering it with its digest. */
function accepts(engine: StandInEngine, refs: string[]): StandInEngine {
  for (const ref of refs) engine.reply({ leaf: "publish", where: new RegExp(`\\.publish\\(address:"${escapeRe(ref)}"[,)]`) }, answer(`${ref}@${digestOf(ref)}`));
  return engine;
}

/** The registry answers the overwrite guard's question about `ref` with `reply`. */
function asked(engine: StandInEngine, ref: string, reply: ReturnType<typeof answer>): StandInEngine {
  return engine.reply({ leaf: "imageRef", where: new RegExp(`\\.from\\(address:"${escapeRe(ref)}"\\)\\.imageRef$`) }, reply);
}

const absent = (ref: string) => engineError(`failed to resolve image "${ref}": ${ref}: not found`);
const present = (ref: string) => answer(`${ref}@${digestOf(`${ref}-old`)}`);

/** The pushes asked for: address and chain. */
function pushes(engine: StandInEngine): { address: string; call: Call }[] {
  return engine.find("", { leaf: "publish" }).map((l) => ({ address: String(l.call.args.address), call: l.call }));
}

/** The dockerBuild calls whose builds the module awaited, by their context. */
function buildsOf(engine: StandInEngine, context: string): Call[] {
  return engine.leaves.filter((l) => l.leaf === "sync" && l.call.parent?.field === "dockerBuild" && String(calls(l.call, "directory").at(-1)!.args.path) === context).map((l) => l.call.parent!);
}

const messageOf = (error: unknown) => (error as Error).message;

describe("PublishError", () => {
  it("is a stage error of the publish stage: summary, each detail and the advice, a blank line apart", () => {
    const error = new PublishError("it failed", ["one", "two"], "Try again.");
    expect(error).toBeInstanceOf(StageError);
    expect(error.name).toBe("PublishError");
    expect(error.stage).toBe("publish");
    expect(error.message).toBe("publish: it failed\n\none\n\ntwo\n\nTry again.");
  });
});

describe("nothing to publish", () => {
  test("a config without a publish section", async ({ engine }) => {
    const { error } = await publish(engine, threeImages(), { revision: SHA });
    expect(error).toBeInstanceOf(PublishError);
    expect(messageOf(error)).toBe(
      "publish: nothing to publish: the config has no publish section\n\nAdd publish.registries (registry, repository, username) to the config; see the README's Publish section.",
    );
  });

  test("every selected image has publish: false, or no image is selected", async ({ engine }) => {
    const root = project(GHCR_ONLY, {
      images: "  helper: { context: images/helper, publish: false }\n  other: { context: images/helper, publish: false }",
      files: { "images/helper/Dockerfile": "FROM alpine\n" },
    });
    const advice = "\n\nSelect images that are published (--images), or set publish: true on one.";
    expect(messageOf((await publish(engine, root, { revision: SHA, images: ["helper", "other"] })).error)).toBe(
      `publish: nothing to publish: every selected image (helper, other) has publish: false${advice}`,
    );
    const { error } = await publish(engine, root, { revision: SHA, images: [] });
    expect(error).toBeInstanceOf(PublishError);
    expect(messageOf(error)).toBe(`publish: nothing to publish: no image is selected${advice}`);
    engine.expectNever("dockerBuild");
  });
});

describe("the call's values", () => {
  const ADVICE = "Pass the values CI gives: --revision=$GITHUB_SHA, --pull-request=<number>, --version=<git tag>.";

  test("every malformed value, with what it must be and the advice", async ({ engine }) => {
    const { error } = await publish(engine, project(GHCR_ONLY), { revision: "main", pullRequest: "#12", version: "1.2.3+build.5", tags: ["ok, -x", ".y"] });
    expect(error).toBeInstanceOf(ConfigError);
    expect(messageOf(error).split("\n")).toEqual([
      "invalid arguments (5 problems):",
      '  revision: "main" must be a commit hash: 7 to 64 hexadecimal digits (e.g. $GITHUB_SHA, $CI_COMMIT_SHA)',
      '  pull-request: "#12" must be a pull request number such as 123',
      "  version: \"1.2.3+build.5\" must be a version such as v1.2.3 or 1.2.3-rc.1 (a digit first, after an optional v; letters, digits, '.', '-' and '_', no '+')",
      "  tags: \"-x\" must be an image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', 128 at most",
      "  tags: \".y\" must be an image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', 128 at most",
      ADVICE,
    ]);
    engine.expectNever("dockerBuild");
  });

  test("the smallest values each check accepts: a one-digit pull request, a bare version", async ({ engine }) => {
    const { error } = await publish(engine, project(GHCR_ONLY), { revision: "main", pullRequest: "9", version: "0" });
    expect((error as ConfigError).problems.map((p) => p.path)).toEqual(["revision"]);
  });

  test.for([
    ["6 hex digits", "1a2b3c"],
    ["65 hex digits", "a".repeat(65)],
    ["a non-hex digit", "1a2b3c4g"],
    ["a prefix", "x1a2b3c4d"],
    ["a suffix", "1a2b3c4d-dirty"],
  ])("a revision of %s is refused", async ([, revision], { engine }) => {
    const { error } = await publish(engine, project(GHCR_ONLY), { revision });
    expect((error as ConfigError).problems).toEqual([{ path: "revision", message: `"${revision}" must be a commit hash: 7 to 64 hexadecimal digits (e.g. $GITHUB_SHA, $CI_COMMIT_SHA)` }]);
  });

  test.for([
    ["0", "0"],
    ["a leading zero", "012"],
    ["11 digits", "12345678901"],
    ["a suffix", "12a"],
    ["a prefix", "a12"],
  ])("a pull request number of %s is refused", async ([, pullRequest], { engine }) => {
    const { error } = await publish(engine, project(GHCR_ONLY), { pullRequest });
    expect((error as ConfigError).problems).toEqual([{ path: "pull-request", message: `"${pullRequest}" must be a pull request number such as 123` }]);
  });

  test.for([
    ["no digit first", "x1.0"],
    ["two v's", "vv1.0"],
    ["a v that is not leading", "1.0v" + "1".repeat(125)],
    ["a '+'", "v1.0+meta"],
  ])("a version with %s is refused", async ([, version], { engine }) => {
    const { error } = await publish(engine, project(GHCR_ONLY), { version });
    expect((error as ConfigError).problems).toEqual([
      { path: "version", message: `"${version}" must be a version such as v1.2.3 or 1.2.3-rc.1 (a digit first, after an optional v; letters, digits, '.', '-' and '_', no '+')` },
    ]);
  });
});

describe("what a call pushes", () => {
  const WEB = "  web: { context: images/web, buildArgsFrom: { REVISION: { arg: revision }, VERSION: { arg: version }, PR: { arg: pullRequest } } }";
  const FILES = { "images/web/Dockerfile": "FROM alpine\n" };
  const LONG_VERSION = `v${"1".repeat(128)}`;

  test("values trimmed, a revision lowercased, a version of 128 characters after its v, literal tags split on commas; the build args from the call; each push logged", async ({ engine }) => {
    const root = project(GHCR_ONLY, { images: WEB, files: FILES });
    const version = `${GHCR}/web:${"1".repeat(128)}`;
    asked(engine, version, absent(version));
    const refs = ["sha-abcdef0", "pr-1234567890", "1".repeat(128), "a", "b", "c"].map((tag) => `${GHCR}/web:${tag}`);
    accepts(engine, refs);
    const { text, error, logged } = await publish(engine, root, { images: ["web"], revision: " ABCDEF0 ", pullRequest: " 1234567890 ", version: ` ${LONG_VERSION} `, tags: ["a, b", " c ", ",, "] });
    expect(error).toBeUndefined();
    expect(text).toBe(refs.map((ref) => `${ref}@${digestOf(ref)}\n`).join(""));
    const [build] = buildsOf(engine, "images/web");
    expect(build!.args.buildArgs).toEqual([
      { name: "REVISION", value: "abcdef0" },
      { name: "VERSION", value: LONG_VERSION },
      { name: "PR", value: "1234567890" },
    ]);
    expect(logged).toEqual([
      `[publish] version tags not yet in any registry: ${version}`,
      "[publish] --skip-tests: no tests run in this call; the images are built from this source and pushed, trusting a job before this one to have tested the same source",
      ...refs.map((ref) => `[publish] web: pushed ${ref}@${digestOf(ref)}`),
    ]);
  });

  test("64 hexadecimal digits are a revision; without a version tag there is no question to the registries, and --overwrite says nothing", async ({ engine }) => {
    const root = project(GHCR_ONLY);
    const revision = "F".repeat(64);
    const ref = `${GHCR}/jax:sha-fffffff`;
    accepts(engine, [ref]);
    const { error, logged } = await publish(engine, root, { images: ["jax"], revision, overwrite: true });
    expect(error).toBeUndefined();
    expect(engine.find("", { leaf: "imageRef" })).toEqual([]);
    expect(logged).toEqual([
      "[publish] --skip-tests: no tests run in this call; the images are built from this source and pushed, trusting a job before this one to have tested the same source",
      `[publish] jax: pushed ${ref}@${digestOf(ref)}`,
    ]);
  });

  test("--overwrite with a version tag: said once, nothing asked", async ({ engine }) => {
    const root = project(GHCR_ONLY);
    const ref = `${GHCR}/jax:2.0.0`;
    accepts(engine, [ref]);
    const { error, logged } = await publish(engine, root, { images: ["jax"], version: "v2.0.0", overwrite: true });
    expect(error).toBeUndefined();
    expect(engine.find("", { leaf: "imageRef" })).toEqual([]);
    expect(logged[0]).toBe("[publish] --overwrite: version tags are pushed over if they exist");
  });

  test("blank values count as not given: no tag to push", async ({ engine }) => {
    const { error } = await publish(engine, project(GHCR_ONLY), { revision: "  ", pullRequest: " ", version: "", tags: [" , ", ""] });
    expect(error).toBeInstanceOf(ConfigError);
    expect(messageOf(error).split("\n")).toEqual([
      "invalid arguments (1 problem):",
      "  tags: no tag to push: the policy (sha-{revision}, pr-{pullRequest}, {version}) takes values this call did not give; pass --revision, --pull-request or --version, or a literal tag with --tags",
      "Nothing was built or pushed.",
    ]);
  });

  test("a tag the policy makes longer than 128 characters is refused, each one", async ({ engine }) => {
    const root = project(`${GHCR_ONLY}\n  tags: ["release-{version}", "{version}", "b-{version}"]`);
    const { error } = await publish(engine, root, { version: "1".repeat(127) });
    expect(error).toBeInstanceOf(ConfigError);
    expect(messageOf(error).split("\n")).toEqual([
      "invalid arguments (2 problems):",
      `  tags: "release-${"1".repeat(127)}" is longer than a tag may be (128 characters)`,
      `  tags: "b-${"1".repeat(127)}" is longer than a tag may be (128 characters)`,
      "Nothing was built or pushed.",
    ]);
    engine.expectNever("imageRef");
  });

  test("a build arg the call gives no value for: each one, with the flag it takes", async ({ engine }) => {
    const root = project(`${GHCR_ONLY}\n  tags: [edge]`, { images: WEB, files: FILES });
    const { error } = await publish(engine, root, { images: ["web"] });
    expect(error).toBeInstanceOf(ConfigError);
    expect(messageOf(error).split("\n")).toEqual([
      "invalid arguments (3 problems):",
      "  images.web.buildArgsFrom.REVISION: takes --revision, which this call did not give",
      "  images.web.buildArgsFrom.VERSION: takes --version, which this call did not give",
      "  images.web.buildArgsFrom.PR: takes --pull-request, which this call did not give",
      "Pass the values the config's build args take; nothing was built or pushed.",
    ]);
    engine.expectNever("dockerBuild");
  });
});

describe("registry tokens", () => {
  const ADVICE = "Registry tokens are Dagger secrets: dagger call publish --token=env://GITHUB_TOKEN --tokens=env://DOCKERHUB_TOKEN …; nothing was built or pushed.";

  test("each registry left without one, with the flag to pass", async ({ engine }) => {
    const { error } = await publish(engine, project(BOTH), { revision: SHA, token: false });
    expect(error).toBeInstanceOf(ConfigError);
    expect(messageOf(error).split("\n")).toEqual([
      "invalid arguments (2 problems):",
      "  publish.registries.0: ghcr.io has no token: pass --token=<secret reference> (e.g. --token=env://GITHUB_TOKEN), or name one in its config (token: env://…) and pass it with --tokens",
      `  publish.registries.1.token: ${HUB_REFERENCE} (docker.io) was not passed: add --tokens=${HUB_REFERENCE}`,
      ADVICE,
    ]);
  });

  test("a registry that names its token never falls back to --token", async ({ engine }) => {
    const { error } = await publish(engine, project(BOTH), { revision: SHA, tokens: ["env://OTHER"] });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([{ path: "publish.registries.1.token", message: `${HUB_REFERENCE} (docker.io) was not passed: add --tokens=${HUB_REFERENCE}` }]);
  });

  test("--tokens may be left out when the pipeline's --secrets has the reference", async ({ engine }) => {
    const refs = [`${GHCR}/jax:sha-${SHORT}`, `${HUB}/jax:sha-${SHORT}`];
    accepts(engine, refs);
    const { error } = await publish(engine, project(BOTH), { images: ["jax"], revision: SHA, secrets: [HUB_REFERENCE] });
    expect(error).toBeUndefined();
    const secretOf = (address: string) => (calls(pushes(engine).find((p) => p.address === address)!.call, "withRegistryAuth")[0]!.args.secret as Call).text;
    expect(secretOf(refs[0]!)).toBe('setSecret(name:"ghcr-token",plaintext:"ghcr-value")');
    expect(secretOf(refs[1]!)).toBe(`secret(uri:"${HUB_REFERENCE}")`);
  });

  test("no secret is looked at when no registry names a token", async ({ engine }) => {
    const ref = `${GHCR}/jax:sha-${SHORT}`;
    accepts(engine, [ref]);
    const { error } = await publish(engine, project(GHCR_ONLY), { images: ["jax"], revision: SHA, secrets: ["env://UNRELATED"], tokens: ["env://ALSO_UNRELATED"] });
    expect(error).toBeUndefined();
    expect(engine.find("", { leaf: "uri" })).toEqual([]);
  });
});

describe("the overwrite guard", () => {
  const ADVICE = "A version tag is pushed once: publish a new version, or pass --overwrite to push over it.";
  const VERSIONED = `${BOTH}\n  tags: ["{version}"]`;
  const ref = (repository: string, image: string) => `${repository}/${image}:1.2.0`;

  test("several tags exist: each named, with what it resolved to or as existing for other platforms; an unanswered one listed too", async ({ engine }) => {
    const root = project(`${VERSIONED}\n  platforms: [linux/arm64, linux/amd64]`);
    asked(engine, ref(GHCR, "jax"), present(ref(GHCR, "jax")));
    asked(engine, ref(HUB, "jax"), engineError(`image "${ref(HUB, "jax")}": No Match For Platform in manifest sha256:0123: not found`));
    asked(engine, ref(GHCR, "pytorch"), engineError("failed to resolve image: unexpected status from HEAD request: 503 Service Unavailable\nretry later"));
    asked(engine, ref(HUB, "pytorch"), absent(ref(HUB, "pytorch")));
    const { error } = await publish(engine, root, { images: ["jax", "pytorch"], version: "1.2.0", tokens: [HUB_REFERENCE] });
    expect(error).toBeInstanceOf(PublishError);
    expect(messageOf(error)).toBe(
      [
        `publish: 2 version tags exist already: ${ref(GHCR, "jax")}, ${ref(HUB, "jax")}. Nothing was tested or pushed.`,
        "",
        `${ref(GHCR, "jax")}: exists as ${ref(GHCR, "jax")}@${digestOf(`${ref(GHCR, "jax")}-old`)}`,
        "",
        `${ref(HUB, "jax")}: exists`,
        "",
        `${ref(GHCR, "pytorch")}: the registry did not say\n  error: failed to resolve image: unexpected status from HEAD request: 503 Service Unavailable\n    | retry later`,
        "",
        ADVICE,
      ].join("\n"),
    );
    // asked for the image's first platform, with the registry's credentials
    for (const leaf of engine.find("", { leaf: "imageRef" })) {
      expect(calls(leaf.call, "container")[0]!.args).toEqual({ platform: "linux/arm64" });
      const [auth] = calls(leaf.call, "withRegistryAuth");
      const address = String(calls(leaf.call, "from")[0]!.args.address);
      expect(auth!.args.address).toBe(address.slice(0, address.lastIndexOf(":")));
    }
    engine.expectNever("dockerBuild");
  });

  test("tags no registry answers for: could not tell, each quoted; one tag exists, several exist", async ({ engine }) => {
    const root = project(VERSIONED);
    asked(engine, ref(GHCR, "jax"), engineError("unexpected status: 500 Internal Server Error"));
    asked(engine, ref(HUB, "jax"), engineError("toomanyrequests: rate limit"));
    const { error } = await publish(engine, root, { images: ["jax"], version: "1.2.0", tokens: [HUB_REFERENCE] });
    expect(messageOf(error)).toBe(
      [
        `publish: could not tell whether ${ref(GHCR, "jax")}, ${ref(HUB, "jax")} exist. Nothing was tested or pushed.`,
        "",
        `${ref(GHCR, "jax")}: the registry did not say\n  error: unexpected status: 500 Internal Server Error`,
        "",
        `${ref(HUB, "jax")}: the registry did not say\n  error: toomanyrequests: rate limit`,
        "",
        ADVICE,
      ].join("\n"),
    );
    // an image of the engine's platform is asked about without one
    for (const leaf of engine.find("", { leaf: "imageRef" })) expect(calls(leaf.call, "container")[0]!.args).toEqual({});
  });

  test("one tag that exists", async ({ engine }) => {
    const root = project(VERSIONED);
    asked(engine, ref(GHCR, "jax"), absent(ref(GHCR, "jax")));
    asked(engine, ref(HUB, "jax"), present(ref(HUB, "jax")));
    const { error } = await publish(engine, root, { images: ["jax"], version: "1.2.0", tokens: [HUB_REFERENCE] });
    expect(messageOf(error).split("\n\n")[0]).toBe(`publish: a version tag exists already: ${ref(HUB, "jax")}. Nothing was tested or pushed.`);
  });

  test("no version tag in any registry: every ref asked about is listed, then pushed", async ({ engine }) => {
    const root = project(VERSIONED);
    const refs = [ref(GHCR, "jax"), ref(HUB, "jax")];
    for (const r of refs) asked(engine, r, absent(r));
    accepts(engine, refs);
    const { error, logged } = await publish(engine, root, { images: ["jax"], version: "1.2.0", tokens: [HUB_REFERENCE] });
    expect(error).toBeUndefined();
    expect(logged[0]).toBe(`[publish] version tags not yet in any registry: ${refs.join(", ")}`);
    expect(pushes(engine).map((p) => p.address).sort()).toEqual([...refs].sort());
  });

  const ABSENT_ANSWERS = [
    `${GHCR}/jax:1.2.0: NOT FOUND`,
    "GET https://ghcr.io/v2/example/x/jax/manifests/1.2.0: Manifest Unknown",
    "GET https://ghcr.io/v2/example/x/jax/manifests/1.2.0: manifest_unknown: manifest unknown to registry",
    "MANIFEST_UNKNOWN",
    "manifest_unknown",
    "Name Unknown: repository name not known to registry",
    "NAME_UNKNOWN",
    "name_unknown",
    "pull access denied: Repository Does Not Exist or may require 'docker login'",
  ];

  test.for(ABSENT_ANSWERS)("the registry's answer %j means the tag is absent", async (message, { engine }) => {
    const root = project(`${GHCR_ONLY}\n  tags: ["{version}"]`);
    asked(engine, ref(GHCR, "jax"), engineError(message));
    asked(engine, ref(GHCR, "pytorch"), present(ref(GHCR, "pytorch")));
    const { error } = await publish(engine, root, { images: ["jax", "pytorch"], version: "1.2.0" });
    expect(messageOf(error)).toBe(
      [
        `publish: a version tag exists already: ${ref(GHCR, "pytorch")}. Nothing was tested or pushed.`,
        "",
        `${ref(GHCR, "pytorch")}: exists as ${ref(GHCR, "pytorch")}@${digestOf(`${ref(GHCR, "pytorch")}-old`)}`,
        "",
        ADVICE,
      ].join("\n"),
    );
  });

  test.for(["cannot found the host", "a value not founded", "unknown manifest", "name is unknown"])("%j is not an answer: the tag's state is unknown", async (message, { engine }) => {
    const root = project(`${GHCR_ONLY}\n  tags: ["{version}"]`);
    asked(engine, ref(GHCR, "jax"), engineError(message));
    const { error } = await publish(engine, root, { images: ["jax"], version: "1.2.0" });
    expect(messageOf(error).split("\n\n")[0]).toBe(`publish: could not tell whether ${ref(GHCR, "jax")} exists. Nothing was tested or pushed.`);
  });
});

describe("builds for platforms", () => {
  const TWO = `${GHCR_ONLY}\n  platforms: [linux/amd64, linux/arm64]`;

  test("an arm64 engine (linux/arm64/v8) builds arm64 as the tested build, and amd64 from the same inputs: dockerfile, target, build args, secrets", async ({ engine }) => {
    const root = project(TWO, { images: "  tokens: { context: images/jax, target: runtime, secrets: { pip: env://PIP_TOKEN } }" });
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/arm64/v8"));
    engine.reply({ leaf: "plaintext" }, answer("pip-value"));
    const refs = ["jax", "xgboost", "tokens"].map((image) => `${GHCR}/${image}:sha-${SHORT}`);
    accepts(engine, refs);
    const { error, logged } = await publish(engine, root, { images: ["jax", "xgboost", "tokens"], revision: SHA, secrets: ["env://PIP_TOKEN"] });
    expect(error).toBeUndefined();
    const argsOf = (context: string) =>
      buildsOf(engine, context)
        .map((build) => build.args)
        .sort((a, b) => String(a.platform ?? "").localeCompare(String(b.platform ?? "")));
    const jax = argsOf("images/jax").filter((args) => args.secrets === undefined);
    expect(jax).toEqual([
      { dockerfile: "Dockerfile", buildArgs: [{ name: "JAX_VERSION", value: "0.6.2" }], target: "runtime" },
      { dockerfile: "Dockerfile", buildArgs: [{ name: "JAX_VERSION", value: "0.6.2" }], target: "runtime", platform: "linux/amd64" },
    ]);
    expect(argsOf("images/xgboost")).toEqual([
      { dockerfile: "build/Dockerfile", buildArgs: [] },
      { dockerfile: "build/Dockerfile", buildArgs: [], platform: "linux/amd64" },
    ]);
    const tokens = argsOf("images/jax").filter((args) => args.secrets !== undefined);
    expect(tokens.map((args) => [args.platform, args.target, (args.secrets as Call[]).map((s) => s.text)])).toEqual([
      [undefined, "runtime", ['setSecret(name:"pip",plaintext:"pip-value")']],
      ["linux/amd64", "runtime", ['setSecret(name:"pip",plaintext:"pip-value")']],
    ]);
    expect(logged.filter((line) => line.includes("built from the tested"))).toEqual(
      ["jax", "xgboost", "tokens"].map((image) => `[publish] ${image}: linux/amd64 built from the tested inputs, not run by the tests (the engine runs linux/arm64)`),
    );
  });

  test("an image only for the engine's platform has nothing untested; several untested platforms are listed; an image without platforms is the tested build", async ({ engine }) => {
    const root = project(GHCR_ONLY, {
      images: "  native: { context: images/jax, platforms: [linux/arm64] }\n  many: { context: images/jax, platforms: [linux/arm64, linux/s390x, linux/ppc64le] }",
    });
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/arm64"));
    accepts(engine, ["jax", "native", "many"].map((image) => `${GHCR}/${image}:sha-${SHORT}`));
    const { error, logged } = await publish(engine, root, { images: ["jax", "native", "many"], revision: SHA });
    expect(error).toBeUndefined();
    expect(logged.filter((line) => line.includes("built from the tested"))).toEqual([
      "[publish] many: linux/s390x, linux/ppc64le built from the tested inputs, not run by the tests (the engine runs linux/arm64)",
    ]);
    const platformsOf = (image: string) => calls(pushes(engine).find((p) => p.address.includes(`/${image}:`))!.call, "dockerBuild").map((b) => b.args.platform ?? "tested");
    expect(platformsOf("native")).toEqual(["tested"]);
  });

  test("only linux/arm64/v8 is the engine's linux/arm64: another variant is named as the engine names it", async ({ engine }) => {
    const root = project(GHCR_ONLY, { images: "  arm: { context: images/jax, platforms: [linux/arm64] }" });
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/arm64/v8.2"));
    accepts(engine, [`${GHCR}/arm:sha-${SHORT}`]);
    const { error, logged } = await publish(engine, root, { images: ["arm"], revision: SHA });
    expect(error).toBeUndefined();
    expect(logged.filter((line) => line.includes("built from the tested"))).toEqual([
      "[publish] arm: linux/arm64 built from the tested inputs, not run by the tests (the engine runs linux/arm64/v8.2)",
    ]);
  });

  test("builds that fail or do not finish within build.timeout: nothing pushed, each named with its platform and failure", async ({ engine }) => {
    const root = project(TWO, { build: "retries: 1, timeout: 1s" });
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    engine.reply({ leaf: "sync", where: /images\/jax"\)\.dockerBuild\((?![^)]*platform)[^)]*\)\.sync$/ }, hang());
    engine.reply(
      { leaf: "sync", where: /images\/pytorch"\)\.dockerBuild\([^)]*platform:"linux\/arm64"[^)]*\)\.sync$/ },
      execFailure({ exitCode: 2, stderr: "no wheel for arm64\n", cmd: ["/bin/sh", "-c", "pip install torch"] }),
    );
    const { error } = await publish(engine, root, { images: ["jax", "pytorch"], revision: SHA });
    expect(error).toBeInstanceOf(PublishError);
    expect(messageOf(error)).toBe(
      [
        "publish: nothing was pushed: 2 of 4 builds failed: jax (linux/amd64), pytorch (linux/arm64)",
        "",
        "jax for linux/amd64\n  error: did not finish within 1s (build.timeout)",
        "",
        "pytorch for linux/arm64\n  command: /bin/sh -c pip install torch (exit code 2)\n  last 1 lines of stderr:\n    | no wheel for arm64",
        "",
        "Fix the build; `dagger call build --image=<name>` builds one image on the engine's platform.",
      ].join("\n"),
    );
    expect(pushes(engine)).toEqual([]);
  });

  test("an image of the engine's platform is named so when its build fails", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: /images\/jax"\)\.dockerBuild\([^)]*\)\.sync$/ }, engineError("failed to solve: base image not found"));
    const { error } = await publish(engine, project(GHCR_ONLY), { images: ["jax"], revision: SHA });
    expect(messageOf(error).split("\n\n").slice(0, 2)).toEqual(["publish: nothing was pushed: 1 of 1 builds failed: jax (the engine's platform)", "jax for the engine's platform\n  error: failed to solve: base image not found"]);
  });
});

describe("pushes", () => {
  const PUSH_ADVICE = "Check the registry's answer above (a token without write access, a repository that does not exist); run the same publish again once fixed.";

  test("some pushes fail: how many of how many, each failure quoted and logged by its first line, what was pushed listed", async ({ engine }) => {
    const root = project(BOTH);
    const refs = [`${GHCR}/jax:sha-${SHORT}`, `${GHCR}/jax:pr-42`, `${HUB}/jax:sha-${SHORT}`, `${HUB}/jax:pr-42`];
    accepts(engine, refs);
    engine.reply({ leaf: "publish", where: `publish(address:"${refs[0]}")` }, engineError("failed to push: denied: permission_denied\nsecond line"));
    engine.reply({ leaf: "publish", where: `publish(address:"${refs[3]}")` }, engineError("unauthorized: authentication required"));
    const { error, logged } = await publish(engine, root, { images: ["jax"], revision: SHA, pullRequest: "42", tokens: [HUB_REFERENCE] });
    expect(error).toBeInstanceOf(PublishError);
    expect(messageOf(error)).toBe(
      [
        `publish: 2 of 4 pushes failed: ${refs[0]}, ${refs[3]}`,
        "",
        `${refs[0]}\n  error: failed to push: denied: permission_denied\n    | second line`,
        "",
        `${refs[3]}\n  error: unauthorized: authentication required`,
        "",
        `pushed:\n  ${refs[1]}@${digestOf(refs[1]!)}\n  ${refs[2]}@${digestOf(refs[2]!)}`,
        "",
        PUSH_ADVICE,
      ].join("\n"),
    );
    expect(logged.filter((line) => !line.startsWith("[publish] --skip-tests")).sort()).toEqual(
      [
        `[publish] jax: pushing ${refs[0]} FAILED: failed to push: denied: permission_denied`,
        `[publish] jax: pushed ${refs[1]}@${digestOf(refs[1]!)}`,
        `[publish] jax: pushed ${refs[2]}@${digestOf(refs[2]!)}`,
        `[publish] jax: pushing ${refs[3]} FAILED: unauthorized: authentication required`,
      ].sort(),
    );
  });

  test("every push fails: nothing was pushed", async ({ engine }) => {
    const ref = `${GHCR}/jax:sha-${SHORT}`;
    engine.reply({ leaf: "publish" }, engineError("name invalid"));
    const { error } = await publish(engine, project(GHCR_ONLY), { images: ["jax"], revision: SHA });
    expect(messageOf(error)).toBe([`publish: 1 of 1 pushes failed: ${ref}`, "", `${ref}\n  error: name invalid`, "", "nothing was pushed", "", PUSH_ADVICE].join("\n"));
  });

  it("a push may take 30 minutes", () => {
    expect(PUSH_TIMEOUT_SECONDS).toBe(1800);
  });

  test("a push the registry does not finish within PUSH_TIMEOUT_SECONDS fails, saying so", async ({ engine }) => {
    const ref = `${GHCR}/jax:sha-${SHORT}`;
    // real time stands still: 30 minutes pass on the fake clock the moment the engine receives the push
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      engine.reply({ leaf: "publish", where: new Taking(/\.publish\(address:/, PUSH_TIMEOUT_SECONDS * 1000) }, hang());
      const { error, logged } = await publish(engine, project(GHCR_ONLY), { images: ["jax"], revision: SHA });
      expect(messageOf(error)).toBe([`publish: 1 of 1 pushes failed: ${ref}`, "", `${ref}\n  error: did not finish within 1800s`, "", "nothing was pushed", "", PUSH_ADVICE].join("\n"));
      expect(logged).toContainEqual(`[publish] jax: pushing ${ref} FAILED: did not finish within 1800s`);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the tests first", () => {
  const VERSIONS = `kubernetes: { versions: ["1.37.0", "1.36.4", "1.35.8"] }
e2e:
  - { name: deploy, needs: [jax], run: [sh, e2e/deploy.sh] }
  - { name: suite, needs: [jax], run: [sh, e2e/suite.sh], timeout: 2s }
  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh] }`;
  const FILES = { "e2e/deploy.sh": "true\n", "e2e/suite.sh": "true\n", "e2e/smoke.sh": "true\n" };
  const root = () => project(GHCR_ONLY, { config: VERSIONS, files: FILES });

  /** Healthy clusters of the three versions, holding the jax image after the load; every step passes unless scripted otherwise. */
  async function healthy(engine: StandInEngine, at: string): Promise<void> {
    const refs = await engine.run(async () => inClusterRefs(await runAt(at, { images: ["jax"] })));
    for (const cluster of ["kind-pipeline-1-37-0", "kind-pipeline-1-36-4", "kind-pipeline-1-35-8"]) liveCluster(engine, { cluster, held: [...refs.values()] });
    passingSteps(engine);
  }

  /** The exec of one step on one version. */
  const stepOn = (version: string, script: string) => new RegExp(`KUBERNETES_VERSION",value:"${escapeRe(version)}".*${escapeRe(STEP)},"\\d+","sh","${escapeRe(script)}"\\]`);

  test("passed on every version: said, then pushed", async ({ engine }) => {
    const at = root();
    await healthy(engine, at);
    const ref = `${GHCR}/jax:sha-${SHORT}`;
    accepts(engine, [ref]);
    const { error, logged } = await publish(engine, at, { images: ["jax"], revision: SHA, skipTests: false });
    expect(error).toBeUndefined();
    expect(logged).toEqual(["[publish] tests passed on 1.37.0, 1.36.4, 1.35.8", `[publish] jax: pushed ${ref}@${digestOf(ref)}`]);
  });

  test("failed: every failed version (not the one that passed), its failed or timed-out steps or its failed stage, in one line", async ({ engine }) => {
    const at = root();
    await healthy(engine, at);
    diagnosticsCollect(engine, podList());
    engine.reply({ leaf: "exitCode", where: stepOn("1.37.0", "e2e/deploy.sh") }, answer(1)).reply({ leaf: "combinedOutput", where: stepOn("1.37.0", "e2e/deploy.sh") }, answer("deploy: rollout stuck\n"));
    // the suite exits 124 once its 2 s are over (on the fake clock)
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      engine.reply({ leaf: "sync", where: new Taking(stepOn("1.37.0", "e2e/suite.sh"), 3000) }, answer());
      engine.reply({ leaf: "exitCode", where: stepOn("1.37.0", "e2e/suite.sh") }, answer(124)).reply({ leaf: "combinedOutput", where: stepOn("1.37.0", "e2e/suite.sh") }, answer(""));
      engine.reply({ leaf: "sync", where: new RegExp(`"--name","kind-pipeline-1-36-4".*${escapeRe(LOAD)}`) }, engineError("ctr: content digest sha256:0: not found"));
      const { error } = await publish(engine, at, { images: ["jax"], revision: SHA, skipTests: false });
      expect(error).toBeInstanceOf(PublishError);
      const message = messageOf(error);
      expect(message.split("\n")[0]).toBe("publish: nothing was pushed: the tests failed (Kubernetes 1.37.0: failed steps deploy, suite; Kubernetes 1.36.4: the load stage)");
      expect(message).toContain("deploy: rollout stuck");
      expect(message.endsWith("\n\nRun the same publish again once the tests pass.")).toBe(true);
      expect(pushes(engine)).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  test("stopped before their end: the reason, and how to run the same tests alone", async ({ engine }) => {
    const at = root();
    engine.reply({ leaf: "sync", where: /images\/jax"\)\.dockerBuild\([^)]*\)\.sync$/ }, engineError("failed to solve: base image not found"));
    const { error } = await publish(engine, at, { images: ["jax"], revision: SHA, skipTests: false });
    expect(error).toBeInstanceOf(PublishError);
    const message = messageOf(error);
    expect(message).toMatch(/^publish: nothing was pushed: the tests stopped before their end\n\nbuild: 1 of 1 images failed: jax\./);
    expect(message).toContain("  error: failed to solve: base image not found");
    expect(message.endsWith("\n\nFix what stopped them; `dagger call test` runs the same tests without publishing.")).toBe(true);
  });

  test("a step secret not passed is the ConfigError it is", async ({ engine }) => {
    const at = project(GHCR_ONLY, { config: "e2e:\n  - { name: smoke, needs: [jax], run: [sh, e2e/smoke.sh], secrets: { HF_TOKEN: env://HF_TOKEN } }", files: FILES });
    const { error } = await publish(engine, at, { images: ["jax"], revision: SHA, skipTests: false });
    expect(error).toBeInstanceOf(ConfigError);
    expect(messageOf(error).split("\n")[1]).toBe("  e2e.0.secrets.HF_TOKEN: env://HF_TOKEN was not passed to the pipeline");
    engine.expectNever("dockerBuild");
  });
});
