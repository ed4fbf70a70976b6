/**
 * kind-pipeline: CI for Kubernetes operators and ML-on-Kubernetes projects, as one Dagger module.
 *
 * It builds the project's container images in parallel (a failed build stops everything downstream),
 * starts a Kind cluster inside a Dagger service for each Kubernetes version, loads the images without a
 * registry and runs the e2e steps, all configured by one kind-pipeline.yaml in the project.
 * Without --source it runs its own embedded example (JAX, PyTorch and XGBoost training smoke tests).
 */
import { argument, check, Container, Directory, File, func, object, Secret, Service, up } from "@dagger.io/dagger";
import { BuildFailure, buildImages, imageBuild, resolveBuildSecrets } from "./build.js";
import { ClusterError } from "./cluster-error.js";
import { hostKubeconfig, publishedNodeArchive, type LiveCluster } from "./cluster.js";
import { ConfigError, DEFAULT_CONFIG_FILE } from "./config.js";
import { configJsonSchema } from "./config-schema.js";
import { nodeImageFor } from "./node-images.js";
import { renderPlan, type PlannedCluster, type Selection } from "./plan.js";
import { renderSummary, statusOf } from "./report.js";
import { publishImages } from "./publish.js";
import { prepareRun, type Run } from "./run.js";
import { buildForCluster, clusterWithImages, runTests, stoppedRunReport, TestFailure } from "./test-run.js";
import { toolbox } from "./tools.js";

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
    /** Kubernetes versions to run on (MAJOR.MINOR.PATCH); default: every configured version. */
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
    const run = await this.prepare({ images: [image] });
    const [selected, ...more] = run.plan.images;
    if (!selected || more.length > 0) {
      throw new ConfigError("arguments", [{ path: "image", message: `build takes one image, got "${image}"` }], `Build several with build-all --images=${image}.`);
    }
    const secrets = await resolveBuildSecrets(run);
    return imageBuild(run.source, selected, secrets.get(selected.name));
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
   * The node image kind creates a version's nodes from: the `kindest/node` image kind publishes for it
   * (pinned by digest), or, when it publishes none and kubernetes.nodeImageFallback is build, one built
   * from the Kubernetes release binaries (`archive`, cached by the engine after the first build).
   */
  @func()
  async nodeImage(
    /** Kubernetes version (MAJOR.MINOR.PATCH); default: the config's first version. */
    kubernetes?: string,
  ): Promise<NodeImage> {
    const { run, cluster } = await this.oneCluster(kubernetes);
    const { ref, archive } = await nodeImageFor(cluster.nodeImage, () => toolbox(run.plan.kind));
    return new NodeImage(cluster.kubernetes, ref, archive === undefined, archive);
  }

  /**
   * A Kind cluster for one Kubernetes version, running in a Docker-in-Docker service, with the selected
   * images (and the config's preloads) loaded into every node under their in-cluster refs:
   * `dagger call cluster up --ports 6443:6443` keeps a live cluster with your images; `kubeconfig --local`
   * reaches it. Every selected image must build first: no cluster starts after a failed build.
   */
  @func({ cache: "never" })
  @up()
  async cluster(
    /** Kubernetes version (MAJOR.MINOR.PATCH); default: the config's first version. */
    kubernetes?: string,
    /** Images to build and load; default: every image not marked optional; an empty list: a bare cluster, nothing built. */
    images?: string[],
  ): Promise<Service> {
    return (await this.liveCluster(kubernetes, images)).service;
  }

  /**
   * The cluster's kubeconfig. By default it starts the cluster with its images loaded (as `cluster` does),
   * once every node is Ready, pointing at `https://<cluster name>:6443`, for a container that binds the
   * cluster service under that name; the cluster lives as long as the calling session (use it within the
   * same `dagger call` or composing function). With `local`, it starts nothing: it reads the kubeconfig of
   * a cluster another `dagger call cluster up --ports 6443:6443` keeps running, pointing at
   * `https://localhost:6443`.
   */
  @func({ cache: "never" })
  async kubeconfig(
    /** Kubernetes version (MAJOR.MINOR.PATCH); default: the config's first version. */
    kubernetes?: string,
    /** Read the kubeconfig of a cluster kept up by `cluster up`, for the host (server https://localhost:6443). */
    local = false,
    /** Images to build and load; default: every image not marked optional; an empty list: a bare cluster, nothing built. */
    images?: string[],
  ): Promise<File> {
    if (local) {
      const { run, cluster } = await this.oneCluster(kubernetes);
      return hostKubeconfig(cluster, await toolbox(run.plan.kind), run.plan.kind);
    }
    return (await this.liveCluster(kubernetes, images)).kubeconfig;
  }

  /**
   * The whole test path: every selected image built once (a failed build stops everything: BuildFailure),
   * then every selected Kubernetes version on its own cluster, in parallel as far as the engine's memory
   * allows (a preflight reads it), each with the images loaded, the e2e steps one at a time in `after`
   * order, diagnostics after a failure. One version failing does not stop the others. Returns the summary; throws TestFailure, whose message names every
   * failed step with its log tail and failure signatures, so `dagger call test` exits non-zero.
   */
  @func({ cache: "never" })
  @check()
  async test(
    /** Kubernetes versions to test on (MAJOR.MINOR.PATCH), each on its own cluster, in parallel; default: every configured version. */
    kubernetes?: string[],
    /** Images to build and test; default: every image not marked optional. */
    images?: string[],
    /** Start no further version once one has failed (versions already running finish). */
    failFast = false,
  ): Promise<string> {
    const { result } = await runTests(await this.prepare({ kubernetes, images }), { failFast });
    if (statusOf(result) === "failed") throw new TestFailure(result);
    return renderSummary(result);
  }

  /**
   * The same run as `test`, returning its report whatever happened (a config or preflight error aside): summary.md,
   * junit.xml, status (`passed` or `failed`), steps/<version>/<step>.log, artifacts/<version>/<step>/ and
   * diagnostics/<version>/. In CI: `dagger call test-report export --path=report`, publish the report,
   * then fail the job when `report/status` is not `passed`.
   */
  @func({ cache: "never" })
  async testReport(
    /** Kubernetes versions to test on (MAJOR.MINOR.PATCH), each on its own cluster, in parallel; default: every configured version. */
    kubernetes?: string[],
    /** Images to build and test; default: every image not marked optional. */
    images?: string[],
    /** Start no further version once one has failed (versions already running finish). */
    failFast = false,
  ): Promise<Directory> {
    const run = await this.prepare({ kubernetes, images });
    try {
      return (await runTests(run, { failFast })).report;
    } catch (error) {
      if (error instanceof BuildFailure || error instanceof ClusterError) return stoppedRunReport(run, error).report;
      throw error;
    }
  }

  /**
   * Tests the selected images and pushes them to every registry of publish.registries, under the tags of
   * publish.tags (the commit, the pull request, the version, literal tags; latest only when listed), each
   * image for its platforms as one manifest list. Nothing is pushed unless the whole test path passes in
   * this same call (PublishError names the failed steps; --skip-tests aside), and a version tag that exists is
   * not pushed over.
   * Returns every pushed ref with its digest, one per line; `dagger call -o published.txt publish …` also
   * writes them to a file.
   */
  @func({ cache: "never" })
  async publish(
    /**
     * Registry token of every registry whose config names no token of its own (`--token=env://GITHUB_TOKEN`).
     * Handed to the engine's registry auth only: never read, logged or put in an argument.
     */
    token?: Secret,
    /** Tokens of the registries whose config names one (`token: env://DOCKERHUB_TOKEN`), found by that reference: `--tokens=env://DOCKERHUB_TOKEN`. */
    tokens?: Secret[],
    /** The commit being published (`--revision=$GITHUB_SHA`): {revision} in tags is its first 7 characters; `buildArgsFrom: { arg: revision }` gets it whole. */
    revision?: string,
    /** The pull request's number: {pullRequest} in tags (`pr-{pullRequest}`); blank means none. */
    pullRequest?: string,
    /** The version or git tag (`--version=v1.2.3`): {version} in tags is it without its leading v; such tags are never pushed over without --overwrite. */
    version?: string,
    /** Literal tags for this call besides the policy's (`--tags=latest` on a release job). */
    tags?: string[],
    /** Images to test and push; default: every image not marked optional (images with publish: false are tested, not pushed). */
    images?: string[],
    /** Kubernetes versions to test on before pushing; default: every configured version. */
    kubernetes?: string[],
    /**
     * Push without running the tests in this call. Only for CI that tests this same source in an earlier job
     * this one depends on (GitHub Actions `needs: test`): that dependency is then the only guarantee.
     */
    skipTests = false,
    /** Push over version tags that already exist in a registry (checked first, and refused by default). */
    overwrite = false,
  ): Promise<string> {
    const run = await this.prepare({ kubernetes, images });
    const pushed = await publishImages(run, { token, tokens, revision, pullRequest, version, tags, skipTests, overwrite });
    return pushed.join("\n") + "\n";
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

  /** The run and the planned cluster of one Kubernetes version (the config's first by default). */
  private async oneCluster(kubernetes?: string): Promise<{ run: Run; cluster: PlannedCluster }> {
    const run = await this.prepare({ kubernetes: kubernetes ? [kubernetes] : undefined });
    return { run, cluster: run.plan.clusters[0]! };
  }

  /**
   * A version's cluster started with the selected images loaded, behind the build gate: a failed build
   * throws BuildFailure before anything of the cluster stage reaches the engine.
   */
  private async liveCluster(kubernetes: string | undefined, images: string[] | undefined): Promise<LiveCluster> {
    const run = await this.prepare({ kubernetes: kubernetes ? [kubernetes] : undefined, images });
    const loadable = await buildForCluster(run);
    return clusterWithImages(run, run.plan.clusters[0]!, await toolbox(run.plan.kind), loadable);
  }

  /** Reads and validates the config and plans the selection: the context of every stage. Throws ConfigError. */
  private prepare(selection: Selection): Promise<Run> {
    return prepareRun(this.source, this.config, selection, this.secrets);
  }
}

/** The node image of one Kubernetes version: what kind creates the cluster's nodes from. */
@object()
export class NodeImage {
  /** The Kubernetes version (MAJOR.MINOR.PATCH). */
  @func()
  kubernetes: string;

  /** The image reference: kindest/node:v<version>@sha256:… when kind publishes one, else the built image's name. */
  @func()
  ref: string;

  /** Whether kind publishes this image (pinned by digest); false when it is built from the release binaries. */
  @func()
  published: boolean;

  // Never optional: SDK 0.21.9 registers every field as non-null whatever its TypeScript type (withOptional
  // only for arguments, entrypoint/register.js), so a missing archive would be a raw GraphQL error.
  /**
   * The image as a docker archive (`docker load --input`): the built image, or the published one pulled
   * by its digest and saved as kindest/node:v<version> (only when asked for).
   */
  @func()
  archive: File;

  constructor(kubernetes: string, ref: string, published: boolean, archive?: File) {
    this.kubernetes = kubernetes;
    this.ref = ref;
    this.published = published;
    this.archive = archive ?? publishedNodeArchive(ref);
  }
}
