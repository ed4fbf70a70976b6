/**
 * The build stage: every selected image built from only its own context, all at once, settled together.
 * Either every image builds, or one BuildFailure names every image that did not, with the failing command
 * and the tail of its log. Every later stage awaits this stage first (see `behindBuildGate` in index.ts),
 * so after a failed build nothing downstream starts.
 */
import { dag, type Container, type Directory, type Secret } from "@dagger.io/dagger";
import { describeFailure, firstLineOf, isTransient } from "./errors.js";
import type { PlannedImage } from "./plan.js";
import type { Run } from "./run.js";
import { normalizeReference, passedSecrets } from "./secrets.js";
import { sleep, withTimeout } from "./waits.js";

/** An image that built: the synced container. */
export interface BuiltImage {
  name: string;
  container: Container;
}

/** One image that did not build. */
export interface ImageFailure {
  image: PlannedImage;
  error: unknown;
  /** Attempts made: 1, plus one per retry after a transient failure. */
  attempts: number;
}

/** Every image of a build stage that did not build, with what happened; the message says it all. */
export class BuildFailure extends Error {
  override readonly name = "BuildFailure";

  constructor(
    readonly failures: ImageFailure[],
    /** The images that did build. */
    readonly built: string[],
  ) {
    super(formatBuildFailure(failures, built));
  }
}

/**
 * The build of one image, lazily: its context directory (nothing else of the source), Dockerfile, build
 * args, target and secrets. The engine applies the context's `.dockerignore` (or `<Dockerfile>.dockerignore`).
 */
export function imageBuild(source: Directory, image: PlannedImage, secrets: Secret[] = []): Container {
  return source.directory(image.context).dockerBuild({
    dockerfile: image.dockerfile,
    buildArgs: Object.entries(image.buildArgs).map(([name, value]) => ({ name, value })),
    ...(image.target && { target: image.target }),
    ...(secrets.length > 0 && { secrets }),
  });
}

/**
 * Builds every image of the plan at once and waits for all of them, each attempt within build.timeout.
 * Transient registry or network failures are retried (build.retries times per image); build errors never
 * are. Throws one BuildFailure naming every image that failed, after the last build settled.
 */
export async function buildImages(run: Run): Promise<BuiltImage[]> {
  const { plan, log } = run;
  const secrets = await resolveBuildSecrets(run);
  const outcomes = await Promise.all(
    plan.images.map(async (image) => {
      const started = Date.now();
      for (let attempt = 1; ; attempt++) {
        try {
          const container = await withTimeout(
            imageBuild(run.source, image, secrets.get(image.name)).sync(),
            plan.build.timeoutSeconds,
            () => new Error(`did not finish within ${plan.build.timeoutSeconds}s (build.timeout); the engine may still be pulling or building`),
          );
          log(`[build] ${image.name}: built in ${seconds(Date.now() - started)}${attempt > 1 ? ` (after ${retries(attempt - 1)})` : ""}`);
          return { name: image.name, container };
        } catch (error) {
          if (attempt <= plan.build.retries && isTransient(error)) {
            log(`[build] ${image.name}: transient failure, retry ${attempt} of ${plan.build.retries} in ${plan.build.retryDelaySeconds}s: ${firstLineOf(error)}`);
            await sleep(plan.build.retryDelaySeconds * 1000);
            continue;
          }
          log(`[build] ${image.name}: FAILED after ${seconds(Date.now() - started)}: ${firstLineOf(error)}`);
          return { image, error, attempts: attempt } satisfies ImageFailure;
        }
      }
    }),
  );
  const failures = outcomes.filter((o): o is ImageFailure => "error" in o);
  const built = outcomes.filter((o): o is BuiltImage => "container" in o);
  if (failures.length > 0) throw new BuildFailure(failures, built.map((b) => b.name));
  return built;
}

/**
 * The build secrets of each selected image, named by the id its Dockerfile mounts
 * (`RUN --mount=type=secret,id=<id>`). The caller passes them as Dagger secrets (`--secrets=env://PIP_TOKEN`);
 * the config says which reference each id is. Dockerfile secrets are looked up by name and only `setSecret`
 * names one, so each is re-named: its value goes from secret to secret, never into an argument list, a
 * variable, a log or an error. Throws ConfigError, before anything is built, for a secret not passed.
 */
export async function resolveBuildSecrets(run: Run): Promise<Map<string, Secret[]>> {
  // Stryker disable next-line MethodExpression,ConditionalExpression,EqualityOperator: an image without secrets gets none either way; the filter only skips empty entries
  const wanted = run.plan.images.filter((image) => Object.keys(image.secrets).length > 0);
  const references = wanted.flatMap((image) => Object.entries(image.secrets).map(([id, reference]) => ({ path: `images.${image.name}.secrets.${id}`, reference })));
  const passed = await passedSecrets(run, references, "build secrets", "build-all");
  const named = wanted.map(async (image) => {
    const secrets = Object.entries(image.secrets).map(async ([id, reference]) => dag.setSecret(id, await passed.get(normalizeReference(reference))!.plaintext()));
    return [image.name, await Promise.all(secrets)] as const;
  });
  return new Map(await Promise.all(named));
}

function formatBuildFailure(failures: ImageFailure[], built: string[]): string {
  const total = failures.length + built.length;
  const names = failures.map((f) => f.image.name).join(", ");
  return [
    `build: ${failures.length} of ${total} images failed: ${names}. Nothing after the build stage was started (no cluster, no image load, no test).`,
    ...failures.flatMap(({ image, error, attempts }) => [
      "",
      `${image.name} (${image.dockerfilePath})`,
      ...describeFailure(error),
      ...(attempts > 1 ? [`  failed again after ${retries(attempts - 1)} (the first failure looked transient)`] : []),
      `  debug: dagger call --interactive build --image=${image.name} terminal`,
    ]),
    ...(built.length > 0 ? ["", `built: ${built.join(", ")}`] : []),
  ].join("\n");
}

function retries(n: number): string {
  return n === 1 ? "1 retry" : `${n} retries`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
