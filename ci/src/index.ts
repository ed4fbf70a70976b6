/**
 * kind-pipeline: CI for Kubernetes operators and ML-on-Kubernetes projects, as one Dagger module.
 *
 * It builds the project's container images in parallel (a failed build stops everything downstream),
 * starts a Kind cluster inside a Dagger service for each Kubernetes version, loads the images without a
 * registry and runs the e2e steps, all configured by one kind-pipeline.yaml in the project.
 * Without --source it runs its own embedded example (JAX, PyTorch and XGBoost training smoke tests).
 */
import { argument, Directory, func, object } from "@dagger.io/dagger";
import { DEFAULT_CONFIG_FILE, loadConfig } from "./config.js";
import { configJsonSchema } from "./config-schema.js";
import { planPipeline, renderPlan, type Plan, type Selection } from "./plan.js";
import { directoryTree } from "./source-tree.js";

/** The pipeline for one project: its files and its kind-pipeline.yaml. */
@object()
export class KindPipeline {
  /** The project under test. */
  source: Directory;

  /** Path of the config file, relative to the source. */
  config: string;

  constructor(
    /**
     * The project under test: its kind-pipeline.yaml, Dockerfiles and e2e files. Defaults to this
     * module's own repository, the embedded example.
     */
    @argument({ defaultPath: "/", ignore: ["**/node_modules", ".git", "ci/sdk", "bench/out", "**/*.tsbuildinfo"] })
    source: Directory,
    /** Path of the config file, relative to the source. */
    config: string = DEFAULT_CONFIG_FILE,
  ) {
    this.source = source;
    this.config = config;
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
    return renderPlan(await this.load({ kubernetes, images }));
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

  /** Reads and validates the config, then plans the selection. Throws ConfigError. */
  private async load(selection: Selection): Promise<Plan> {
    const config = await loadConfig(directoryTree(this.source), this.config);
    return planPipeline(config, selection);
  }
}
