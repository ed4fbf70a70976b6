/**
 * kind-pipeline: CI for Kubernetes operators and ML-on-Kubernetes projects, as one Dagger module.
 *
 * It builds the project's container images in parallel (a failed build stops everything downstream),
 * starts a Kind cluster inside a Dagger service for each Kubernetes version, loads the images without a
 * registry and runs the e2e steps, all configured by one kind-pipeline.yaml in the project.
 * Without --source it runs its own embedded example (JAX, PyTorch and XGBoost training smoke tests).
 */
import { argument, Container, Directory, func, object, Secret } from "@dagger.io/dagger";
import { buildImages, imageBuild, resolveBuildSecrets } from "./build.js";
import { ConfigError, DEFAULT_CONFIG_FILE } from "./config.js";
import { configJsonSchema } from "./config-schema.js";
import { renderPlan, type Selection } from "./plan.js";
import { prepareRun, type Run } from "./run.js";

/** The pipeline for one project: its files and its kind-pipeline.yaml. */
@object()
export class KindPipeline {
  /** The project under test. */
  source: Directory;

  /** Path of the config file, relative to the source. */
  config: string;

  /** Secrets for the builds, as the config's `images.*.secrets` name them. */
  secrets: Secret[];

  constructor(
    /**
     * The project under test: its kind-pipeline.yaml, Dockerfiles and e2e files. Defaults to this
     * module's own repository, the embedded example.
     */
    @argument({ defaultPath: "/", ignore: ["**/node_modules", ".git", "ci/sdk", "bench/out", "**/*.tsbuildinfo"] })
    source: Directory,
    /** Path of the config file, relative to the source. */
    config: string = DEFAULT_CONFIG_FILE,
    /**
     * Build secrets, each as the reference the config gives it (`--secrets=env://PIP_TOKEN`). They reach
     * the Dockerfile as `RUN --mount=type=secret,id=<id>`, never as arguments or variables.
     */
    secrets?: Secret[],
  ) {
    this.source = source;
    this.config = config;
    this.secrets = secrets ?? [];
  }

  /**
   * The stage graph of a run, as text: which images are built and from what, which Kubernetes versions
   * and node images, which e2e steps need which images, in dependency order. Runs no container.
   */
  @func()
  async plan(
    /** Kubernetes versions to run on (MAJOR.MINOR.PATCH); default: the config's first version. */
    kubernetes?: string[],
    /** Images to build and test; default: every image not marked optional. */
    images?: string[],
  ): Promise<string> {
    return renderPlan((await this.prepare({ kubernetes, images })).plan);
  }

  /**
   * One configured image, built from its own context only (lazily, so it can be chained:
   * `build --image=jax terminal`, `build --image=jax export --path=jax.tar`). Optional images too.
   */
  @func()
  async build(
    /** The image's name in the config. */
    image: string,
  ): Promise<Container> {
    if (image.includes(",")) {
      throw new ConfigError("arguments", [{ path: "image", message: `build takes one image, got "${image}"` }], `Build several with build-all --images=${image}.`);
    }
    const run = await this.prepare({ images: [image] });
    const secrets = await resolveBuildSecrets(run);
    return imageBuild(run.source, run.plan.images[0]!, secrets.get(image));
  }

  /**
   * Every selected image, built in parallel and all awaited. Throws one BuildFailure naming every image
   * that failed, with its failing command and the tail of its log; transient registry and network
   * failures are retried first (build.retries).
   */
  @func()
  async buildAll(
    /** Images to build; default: every image not marked optional. */
    images?: string[],
  ): Promise<Container[]> {
    const built = await buildImages(await this.prepare({ images }));
    return built.map((image) => image.container);
  }

  /**
   * The JSON Schema of kind-pipeline.yaml, for editors to validate and complete the file:
   * `dagger call schema > kind-pipeline.schema.json`, then start the YAML with
   * `# yaml-language-server: $schema=./kind-pipeline.schema.json`.
   */
  @func()
  schema(): string {
    return configJsonSchema();
  }

  /** Reads and validates the config and plans the selection: the context of every stage. Throws ConfigError. */
  private prepare(selection: Selection): Promise<Run> {
    return prepareRun(this.source, this.config, selection, this.secrets);
  }
}
