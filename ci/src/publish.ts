/**
 * The publish stage: the selected images, tested first, pushed to every configured registry under the
 * tags of the policy, each pushed ref returned with its digest (`ghcr.io/example/x/jax:sha-1a2b3c4@sha256:…`).
 *
 * The order is what keeps the promise that an untested image is never pushed, and that a refusal leaves
 * nothing half-pushed: every argument, token and value is checked first, then the overwrite guard asks
 * the registries about the version tags, then the whole test path runs (unless `skipTests`), then every
 * platform of every image is built and awaited, and only then does anything reach a registry.
 *
 * A token is a Dagger `Secret` handed to the engine's registry auth (`withRegistryAuth`) and nothing
 * else: the module never reads it, so it is in no argument, status line or error.
 */
import { dag, type Container, type Directory, type Platform, type Secret } from "@dagger.io/dagger";
import { imageBuild, resolveBuildSecrets } from "./build.js";
import { ConfigError, type ConfigProblem } from "./config.js";
import { IMAGE_TAG } from "./config-schema.js";
import { describeFailure, firstLineOf, messageOf } from "./errors.js";
import { expandTags, type PlannedImage, type PlannedPublish, type PlannedRegistry, type PublishTag, type PublishTarget, type PublishValue } from "./plan.js";
import { renderFailure, statusOf } from "./report.js";
import { versionPassed, type TestResult } from "./results.js";
import type { Run } from "./run.js";
import { normalizeReference } from "./secrets.js";
import { StageError } from "./stage-error.js";
import { runTests } from "./test-run.js";
import { withTimeout } from "./waits.js";

/** Time limit of one push (one ref), in seconds: a multi-GB framework image on a slow uplink. */
export const PUSH_TIMEOUT_SECONDS = 1800;

/**
 * Engine errors that say a ref is not in the registry: containerd's resolver (`…: not found`), the
 * distribution API's codes, and Docker Hub's answer for a repository that does not exist yet.
 */
const ABSENT = /\bnot found\b|manifest unknown|MANIFEST_UNKNOWN|name unknown|NAME_UNKNOWN|repository does not exist/i;

/** A publish that did not happen, or not all of it: what was refused or failed, what was pushed anyway. */
export class PublishError extends StageError {
  override readonly name = "PublishError";

  constructor(summary: string, details: string[], advice: string) {
    super("publish", summary, advice, details);
  }
}

/** What a publish call gives besides the config. */
export interface PublishRequest {
  /** The token of every registry whose config names none of its own. */
  token?: Secret;
  /** Tokens of the registries that name one (`token: env://DOCKERHUB_TOKEN`), found by that reference. */
  tokens?: Secret[];
  /** The commit being published (`--revision`). */
  revision?: string;
  /** The pull request's number (`--pull-request`). */
  pullRequest?: string;
  /** The version or git tag (`--version`). */
  version?: string;
  /** Literal tags of this call, besides the policy's (`--tags=latest`). */
  tags?: string[];
  /** Push without running the tests in this call. */
  skipTests?: boolean;
  /** Push over version tags that already exist. */
  overwrite?: boolean;
}

/** One ref to push to: an image, a registry, its token, the repository there. */
interface Push {
  image: PublishTarget;
  registry: PlannedRegistry;
  token: Secret;
  repository: string;
}

/** An image built for every platform it is pushed for. */
interface BuiltVariants {
  image: PublishTarget;
  /** One container per platform (the tested build itself for the engine's platform). */
  containers: Container[];
}

/**
 * Tests the selected images (unless `skipTests`) and pushes them under every tag of the policy to every
 * registry. Returns each pushed ref with its digest, in image, registry and tag order. Throws ConfigError
 * (a malformed value, a missing token or a tag the call gives no value for) or PublishError (nothing to
 * publish, a version tag that exists, failed tests, a failed build, a failed push) — before any push,
 * except when a push itself fails.
 */
export async function publishImages(run: Run, request: PublishRequest): Promise<string[]> {
  const publish = plannedPublish(run);
  const values = callValues(request);
  const tags = policyTags(publish, values, request.tags ?? []);
  const buildRun = withCallBuildArgs(run, publish, values);
  const tokens = await registryTokens(run, publish, request);
  const pushes = publish.images.flatMap((image) => publish.registries.map((registry, i) => ({ image, registry, token: tokens[i]!, repository: image.repositories[i]! })));
  const versioned = tags.filter((t) => t.versioned);
  if (versioned.length > 0 && request.overwrite) run.log(`[publish] --overwrite: version tags are pushed over if they exist`);
  else if (versioned.length > 0) await refuseExisting(run, pushes, versioned);
  if (request.skipTests) {
    run.log(`[publish] --skip-tests: no tests run in this call; the images are built from this source and pushed, trusting a job before this one to have tested the same source`);
  } else {
    await testFirst(buildRun);
  }
  const built = await buildVariants(buildRun, publish.images);
  return pushAll(run, pushes, built, tags);
}

/** The run's publish plan, with at least one image to push; PublishError otherwise. */
function plannedPublish(run: Run): PlannedPublish {
  const publish = run.plan.publish;
  if (!publish) {
    throw new PublishError("nothing to publish: the config has no publish section", [], "Add publish.registries (registry, repository, username) to the config; see the README's Publish section.");
  }
  if (publish.images.length === 0) {
    const selected = run.plan.images.map((i) => i.name);
    throw new PublishError(
      `nothing to publish: ${selected.length === 0 ? "no image is selected" : `every selected image (${selected.join(", ")}) has publish: false`}`,
      [],
      "Select images that are published (--images), or set publish: true on one.",
    );
  }
  return publish;
}

/** The call's values, checked: a commit hash, a pull request number, a version; blank ones count as not given. */
function callValues(request: PublishRequest): Partial<Record<PublishValue, string>> {
  const problems: ConfigProblem[] = [];
  const values: Partial<Record<PublishValue, string>> = {};
  const given = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);
  const revision = given(request.revision);
  if (revision !== undefined) {
    if (/^[0-9a-f]{7,64}$/i.test(revision)) values.revision = revision.toLowerCase();
    else problems.push({ path: "revision", message: `"${revision}" must be a commit hash: 7 to 64 hexadecimal digits (e.g. $GITHUB_SHA, $CI_COMMIT_SHA)` });
  }
  const pullRequest = given(request.pullRequest);
  if (pullRequest !== undefined) {
    if (/^[1-9]\d{0,9}$/.test(pullRequest)) values.pullRequest = pullRequest;
    else problems.push({ path: "pull-request", message: `"${pullRequest}" must be a pull request number such as 123` });
  }
  const version = given(request.version);
  if (version !== undefined) {
    if (/^v?\d/.test(version) && IMAGE_TAG.test(version.replace(/^v/, ""))) values.version = version;
    else problems.push({ path: "version", message: `"${version}" must be a version such as v1.2.3 or 1.2.3-rc.1 (a digit first, after an optional v; letters, digits, '.', '-' and '_', no '+')` });
  }
  for (const tag of (request.tags ?? []).flatMap((t) => t.split(",")).map((t) => t.trim()).filter(Boolean)) {
    if (!IMAGE_TAG.test(tag)) problems.push({ path: "tags", message: `"${tag}" must be an image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', 128 at most` });
  }
  if (problems.length > 0) throw new ConfigError("arguments", problems, "Pass the values CI gives: --revision=$GITHUB_SHA, --pull-request=<number>, --version=<git tag>.");
  return values;
}

/** The tags of this call: the policy's with the call's values, then the call's literal tags; ConfigError when there is none, or one too long. */
function policyTags(publish: PlannedPublish, values: Partial<Record<PublishValue, string>>, extra: string[]): PublishTag[] {
  const literal = extra.flatMap((t) => t.split(",")).map((t) => t.trim()).filter(Boolean);
  const tags = expandTags([...publish.tags, ...literal], values);
  const problems: ConfigProblem[] = tags.filter((t) => !IMAGE_TAG.test(t.tag)).map((t) => ({ path: "tags", message: `"${t.tag}" is longer than a tag may be (128 characters)` }));
  if (tags.length === 0) {
    problems.push({
      path: "tags",
      message: `no tag to push: the policy (${publish.tags.join(", ")}) takes values this call did not give; pass --revision, --pull-request or --version, or a literal tag with --tags`,
    });
  }
  if (problems.length > 0) throw new ConfigError("arguments", problems, "Nothing was built or pushed.");
  return tags;
}

/**
 * The run with the build args the call gives (`buildArgsFrom: { REVISION: { arg: revision } }`) set on
 * every selected image: the tests then build exactly what is pushed. ConfigError for a value not given.
 */
function withCallBuildArgs(run: Run, publish: PlannedPublish, values: Partial<Record<PublishValue, string>>): Run {
  const problems: ConfigProblem[] = [];
  const images = run.plan.images.map((image): PlannedImage => {
    const fromCall = Object.entries(publish.callBuildArgs[image.name] ?? {});
    const set = fromCall.flatMap(([arg, value]) => {
      const given = value === "revision" ? values.revision : value === "version" ? values.version : values.pullRequest;
      if (given === undefined) problems.push({ path: `images.${image.name}.buildArgsFrom.${arg}`, message: `takes --${value === "pullRequest" ? "pull-request" : value}, which this call did not give` });
      return given === undefined ? [] : [[arg, given] as const];
    });
    return set.length > 0 ? { ...image, buildArgs: { ...image.buildArgs, ...Object.fromEntries(set) } } : image;
  });
  if (problems.length > 0) throw new ConfigError("arguments", problems, "Pass the values the config's build args take; nothing was built or pushed.");
  return { ...run, plan: { ...run.plan, images } };
}

/**
 * Each registry's token, in the order of the registries: the one its config names (found among `tokens`
 * and the pipeline's `--secrets` by reference), else the call's `token`. Throws ConfigError naming every
 * registry left without one. Only references are compared; no token is read.
 */
async function registryTokens(run: Run, publish: PlannedPublish, request: PublishRequest): Promise<Secret[]> {
  const named = publish.registries.some((r) => r.token);
  const candidates = named ? [...run.secrets, ...(request.tokens ?? [])] : [];
  const byReference = new Map(await Promise.all(candidates.map(async (secret) => [normalizeReference(await secret.uri()), secret] as const)));
  const problems: ConfigProblem[] = [];
  const tokens = publish.registries.map((registry, i) => {
    // The config's references are in scheme:// form already (the schema accepts no other); the passed secrets' may not be.
    const token = registry.token ? byReference.get(registry.token) : request.token;
    if (!token && registry.token) problems.push({ path: `publish.registries.${i}.token`, message: `${registry.token} (${registry.registry}) was not passed: add --tokens=${registry.token}` });
    if (!token && !registry.token) problems.push({ path: `publish.registries.${i}`, message: `${registry.registry} has no token: pass --token=<secret reference> (e.g. --token=env://GITHUB_TOKEN), or name one in its config (token: env://…) and pass it with --tokens` });
    return token;
  });
  if (problems.length > 0) throw new ConfigError("arguments", problems, "Registry tokens are Dagger secrets: dagger call publish --token=env://GITHUB_TOKEN --tokens=env://DOCKERHUB_TOKEN …; nothing was built or pushed.");
  return tokens.map((t) => t!);
}

/**
 * The overwrite guard: asks each registry for every version tag of every image, all at once, by resolving
 * the ref (`container.from(ref).imageRef`, with the registry's credentials); an engine error that says the
 * ref is not there means it is absent. Throws PublishError listing every tag that exists, or that could not
 * be checked, before anything is tested or pushed.
 */
async function refuseExisting(run: Run, pushes: Push[], versioned: PublishTag[]): Promise<void> {
  const checks = pushes.flatMap((push) => versioned.map((tag) => ({ push, ref: `${push.repository}:${tag.tag}` })));
  const found = await Promise.all(checks.map(async ({ push, ref }) => ({ ref, ...(await existing(push, ref)) })));
  const taken = found.filter((f) => f.exists);
  const unknown = found.filter((f) => f.error !== undefined);
  if (taken.length === 0 && unknown.length === 0) {
    run.log(`[publish] version tags not yet in any registry: ${checks.map((c) => c.ref).join(", ")}`);
    return;
  }
  const summary =
    taken.length > 0
      ? `${taken.length === 1 ? "a version tag exists" : `${taken.length} version tags exist`} already: ${taken.map((t) => t.ref).join(", ")}. Nothing was tested or pushed.`
      : `could not tell whether ${unknown.map((u) => u.ref).join(", ")} exist${unknown.length === 1 ? "s" : ""}. Nothing was tested or pushed.`;
  throw new PublishError(
    summary,
    [
      ...taken.map((t) => `${t.ref}: exists${t.exists === true ? "" : ` as ${t.exists}`}`),
      ...unknown.map((u) => [`${u.ref}: the registry did not say`, ...describeFailure(u.error)].join("\n")),
    ],
    "A version tag is pushed once: publish a new version, or pass --overwrite to push over it.",
  );
}

/** Whether a ref exists: its resolved ref (`…@sha256:…`), `true` when it exists for other platforms only, or the error that left it unknown. */
async function existing(push: Push, ref: string): Promise<{ exists?: string | true; error?: unknown }> {
  const [platform] = push.image.platforms;
  try {
    const resolved = await dag
      .container(platform ? { platform: platform as Platform } : undefined)
      .withRegistryAuth(push.repository, push.registry.username, push.token)
      .from(ref)
      .imageRef();
    return { exists: resolved };
  } catch (error) {
    if (/no match for platform/i.test(messageOf(error))) return { exists: true };
    return ABSENT.test(messageOf(error)) ? {} : { error };
  }
}

/**
 * The whole test path on the run the images are pushed from. Throws PublishError, naming every failed
 * version and step, when the tests did not pass; ConfigError (a step secret not passed) as it is.
 */
async function testFirst(run: Run): Promise<void> {
  let result: TestResult;
  try {
    ({ result } = await runTests(run));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new PublishError("nothing was pushed: the tests stopped before their end", [messageOf(error)], "Fix what stopped them; `dagger call test` runs the same tests without publishing.");
  }
  if (statusOf(result) === "passed") {
    run.log(`[publish] tests passed on ${result.versions.map((v) => v.kubernetes).join(", ")}`);
    return;
  }
  throw new PublishError(`nothing was pushed: the tests failed (${failedSteps(result)})`, [renderFailure(result)], "Run the same publish again once the tests pass.");
}

/** The failed versions and steps of a run, in one line: `1.37.0: deploy, smoke; 1.36.4: the load stage`. */
function failedSteps(result: TestResult): string {
  return result.versions
    .filter((v) => !versionPassed(v))
    .map((v) => {
      const steps = v.steps.filter((s) => s.status === "failed" || s.status === "timed-out").map((s) => s.name);
      return `Kubernetes ${v.kubernetes}: ${v.failure ? `the ${v.failure.stage} stage` : `failed steps ${steps.join(", ")}`}`;
    })
    .join("; ");
}

/** A platform as the engine names it, without arm64's default variant (`linux/arm64/v8` is `linux/arm64`). */
function normalizePlatform(platform: string): string {
  return platform.replace(/^linux\/arm64\/v8$/, "linux/arm64");
}

/** One image's build for one platform: its own context only, as the tested build, for that platform. */
function platformBuild(source: Directory, image: PlannedImage, platform: string, secrets: Secret[] = []): Container {
  return source.directory(image.context).dockerBuild({
    dockerfile: image.dockerfile,
    platform: platform as Platform,
    buildArgs: Object.entries(image.buildArgs).map(([name, value]) => ({ name, value })),
    ...(image.target && { target: image.target }),
    ...(secrets.length > 0 && { secrets }),
  });
}

/**
 * Every image for every platform it is pushed for, all built at once and all awaited: for the engine's own
 * platform the tested build itself (the same engine calls, so the same image), for the others a platform
 * build of the same inputs (built, not run by the tests). Throws PublishError naming every failed build.
 */
async function buildVariants(run: Run, images: PublishTarget[]): Promise<BuiltVariants[]> {
  const secrets = await resolveBuildSecrets(run);
  const native = images.some((i) => i.platforms.length > 0) ? normalizePlatform(await dag.defaultPlatform()) : undefined;
  const builds = images.flatMap((target) => {
    const image = run.plan.images.find((i) => i.name === target.name)!;
    const tested = () => imageBuild(run.source, image, secrets.get(image.name));
    if (target.platforms.length === 0) return [{ target, platform: "the engine's platform", container: tested() }];
    const untested = target.platforms.filter((p) => p !== native);
    if (untested.length > 0) run.log(`[publish] ${target.name}: ${untested.join(", ")} built from the tested inputs, not run by the tests (the engine runs ${native})`);
    return target.platforms.map((platform) => ({ target, platform, container: platform === native ? tested() : platformBuild(run.source, image, platform, secrets.get(image.name)) }));
  });
  const timeout = run.plan.build.timeoutSeconds;
  const settled = await Promise.allSettled(
    builds.map((b) => withTimeout(b.container.sync(), timeout, () => new Error(`did not finish within ${timeout}s (build.timeout)`))),
  );
  const failed = builds.flatMap((b, i) => {
    const outcome = settled[i]!;
    return outcome.status === "rejected" ? [{ ...b, error: outcome.reason as unknown }] : [];
  });
  if (failed.length > 0) {
    throw new PublishError(
      `nothing was pushed: ${failed.length} of ${builds.length} builds failed: ${failed.map((f) => `${f.target.name} (${f.platform})`).join(", ")}`,
      failed.map((f) => [`${f.target.name} for ${f.platform}`, ...describeFailure(f.error)].join("\n")),
      "Fix the build; `dagger call build --image=<name>` builds one image on the engine's platform.",
    );
  }
  return images.map((image) => ({ image, containers: builds.filter((b) => b.target === image).map((b) => b.container) }));
}

/**
 * Pushes every ref: each image to each registry at once, its tags one after the other. An image of several
 * platforms is one manifest list (`publish(address, { platformVariants })` on an empty container, which
 * the engine leaves out of the list); an image of one platform is its container. Returns every pushed
 * ref with its digest; throws PublishError naming every push that failed and every ref that was pushed.
 */
async function pushAll(run: Run, pushes: Push[], built: BuiltVariants[], tags: PublishTag[]): Promise<string[]> {
  const outcomes = await Promise.all(
    pushes.map(async (push) => {
      const { containers } = built.find((b) => b.image === push.image)!;
      const results: { ref: string; pushed?: string; error?: unknown }[] = [];
      for (const { tag } of tags) {
        const ref = `${push.repository}:${tag}`;
        try {
          const authed = (containers.length === 1 ? containers[0]! : dag.container()).withRegistryAuth(push.repository, push.registry.username, push.token);
          const publishing = containers.length === 1 ? authed.publish(ref) : authed.publish(ref, { platformVariants: containers });
          const pushed = await withTimeout(publishing, PUSH_TIMEOUT_SECONDS, () => new Error(`did not finish within ${PUSH_TIMEOUT_SECONDS}s`));
          run.log(`[publish] ${push.image.name}: pushed ${pushed}`);
          results.push({ ref, pushed });
        } catch (error) {
          run.log(`[publish] ${push.image.name}: pushing ${ref} FAILED: ${firstLineOf(error)}`);
          results.push({ ref, error });
        }
      }
      return results;
    }),
  );
  const all = outcomes.flat();
  const failed = all.filter((o) => o.error !== undefined);
  const pushed = all.flatMap((o) => (o.pushed ? [o.pushed] : []));
  if (failed.length > 0) {
    throw new PublishError(
      `${failed.length} of ${all.length} pushes failed: ${failed.map((f) => f.ref).join(", ")}`,
      [...failed.map((f) => [f.ref, ...describeFailure(f.error)].join("\n")), ...(pushed.length > 0 ? [`pushed:\n${pushed.map((p) => `  ${p}`).join("\n")}`] : ["nothing was pushed"])],
      "Check the registry's answer above (a token without write access, a repository that does not exist); run the same publish again once fixed.",
    );
  }
  return pushed;
}
