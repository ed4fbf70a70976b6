/**
 * The load stage: the built images, under their in-cluster refs, and the preloads into every node of a
 * live cluster, without a registry. The engine writes each image as an OCI archive (`asTarball`); a client
 * bound to the cluster's Docker-in-Docker daemon imports it with `kind load image-archive` (containerd's
 * `ctr images import` on every node), all images at once; then every node's containerd is asked for every
 * ref. The cluster service's definition holds no image, so its Docker state volume keeps its identity
 * whatever the code under test: a code change never pulls the node image again.
 */
import { createHash } from "node:crypto";
import { dag, type Container, type File } from "@dagger.io/dagger";
import type { BuiltImage } from "./build.js";
import { observing, type LiveCluster } from "./cluster.js";
import { describeFailure } from "./errors.js";
import { DEFAULT_REF_REPOSITORY } from "./plan.js";
import type { Run } from "./run.js";
import { normalizeRef } from "./signatures.js";
import { StageError } from "./stage-error.js";
import { withTimeout } from "./waits.js";

/** Where the archives are mounted in the loading client. */
const ARCHIVES = "/kind-pipeline/images";

/**
 * Time limit of one image's load, in seconds: `ctr import` of a multi-GB framework image into each node
 * took 60–90 s on Kubeflow's CI; 15 minutes leaves room for a slow disk and several nodes.
 */
export const LOAD_TIMEOUT_SECONDS = 900;

/** An image to load into a cluster: what it is called in the config, its in-cluster ref, its archive. */
export interface ImageToLoad {
  /** The image's name in the config, or the ref of a preload. */
  name: string;
  ref: string;
  archive: File;
}

/** A failure of the load stage: which images did not load into which cluster, or are missing from which node. */
export class LoadError extends StageError {
  override readonly name = "LoadError";

  constructor(summary: string, details: string[]) {
    super("load", summary, "Loading needs disk in the engine for every image on every node: try fewer or smaller images (--images), or fewer workers.", details);
  }
}

/**
 * The reference each selected image carries in the cluster: the configured `ref`, or
 * `kind-pipeline.local/<name>:build-<hash>`, the hash of its build inputs (the context's content digest,
 * Dockerfile, build args, target): it changes exactly when the image can, and is never `latest`.
 */
export async function inClusterRefs(run: Run): Promise<Map<string, string>> {
  const refs = run.plan.images.map(async (image) => {
    if (image.ref) return [image.name, image.ref] as const;
    const context = await run.source.directory(image.context).digest();
    const inputs = JSON.stringify([context, image.dockerfile, image.buildArgs, image.target ?? null]);
    const hash = createHash("sha256").update(inputs).digest("hex").slice(0, 12);
    return [image.name, `${DEFAULT_REF_REPOSITORY}/${image.name}:build-${hash}`] as const;
  });
  return new Map(await Promise.all(refs));
}

/**
 * The archives to load: each built image named by its in-cluster ref, expanded as the kubelet asks for it
 * (`jax:1` → `docker.io/library/jax:1`), in the annotation containerd's import names an image by
 * (`io.containerd.image.name`, read from index.json's descriptors: containerd client/import.go), which
 * Dagger writes on the manifest's descriptor (engine/engineutil/containerimage.go); and each preload
 * pulled by the engine, named by its ref without the digest (Dagger writes a new manifest, so a pod that
 * names a preload by digest would not find it).
 */
export function imagesToLoad(built: BuiltImage[], refs: Map<string, string>, preload: string[]): ImageToLoad[] {
  // containerd keeps the name as written, and the kubelet asks for the expanded one (docker.io/library/…)
  const named = (container: Container, ref: string) =>
    container.withAnnotation("io.containerd.image.name", normalizeRef(ref)).withAnnotation("org.opencontainers.image.ref.name", normalizeRef(ref)).asTarball();
  return [
    ...built.map(({ name, container }) => ({ name, ref: refs.get(name)!, archive: named(container, refs.get(name)!) })),
    ...preload.map((ref) => {
      const tagged = ref.split("@")[0]!;
      return { name: ref, ref: tagged, archive: named(dag.container().from(ref), tagged) };
    }),
  ];
}

/**
 * Loads every image into every node of the cluster, all at once, then checks each node's containerd
 * holds every ref. Throws one LoadError naming every image that did not load, or every image missing
 * from a node, with the command and the end of its output.
 */
export async function loadImages(run: Run, live: LiveCluster, images: ImageToLoad[], limitSeconds = LOAD_TIMEOUT_SECONDS): Promise<void> {
  const { cluster } = live;
  if (images.length === 0) return; // a bare cluster: nothing selected, nothing preloaded
  const started = Date.now();
  const loads = await Promise.allSettled(
    images.map(async (image, i) => {
      const path = `${ARCHIVES}/${i}.tar`;
      const load = observing(live.client.withMountedFile(path, image.archive)).withExec(["kind", "load", "image-archive", path, "--name", cluster.name]);
      await withTimeout(load.sync(), limitSeconds, () => new Error(`did not finish within ${limitSeconds}s`));
      run.log(`[load] ${cluster.kubernetes}: ${image.name} as ${image.ref} (${Math.round((Date.now() - started) / 1000)}s)`);
    }),
  );
  const failed = loads.flatMap((outcome, i) => (outcome.status === "rejected" ? [{ image: images[i]!, error: outcome.reason as unknown }] : []));
  if (failed.length > 0) {
    throw new LoadError(
      `${failed.length} of ${images.length} images did not load into ${cluster.name} (Kubernetes ${cluster.kubernetes}): ${failed.map((f) => f.image.name).join(", ")}`,
      failed.map(({ image, error }) => [`${image.name} as ${image.ref}`, ...describeFailure(error)].join("\n")),
    );
  }
  await verifyLoaded(live, images);
}

/** Every ref in every node's containerd (namespace k8s.io, where the kubelet looks); throws LoadError naming what is missing where. */
async function verifyLoaded(live: LiveCluster, images: ImageToLoad[]): Promise<void> {
  const { cluster } = live;
  const nodes = (await observed(live, ["kind", "get", "nodes", "--name", cluster.name])).split("\n").map((n) => n.trim()).filter(Boolean);
  const missing = await Promise.all(
    nodes.map(async (node) => {
      const listed = await observed(live, ["docker", "exec", node, "ctr", "--namespace=k8s.io", "images", "list", "--quiet"]);
      // the names as containerd holds them: what the kubelet looks up, so compared without normalizing
      // Stryker disable next-line MethodExpression: an empty name in the set matches no ref; dropped for the reader
      const held = new Set(listed.split("\n").map((ref) => ref.trim()).filter(Boolean));
      return images.filter((image) => !held.has(normalizeRef(image.ref))).map((image) => `${image.name} as ${normalizeRef(image.ref)} is missing from node ${node}`);
    }),
  );
  const problems = missing.flat();
  if (nodes.length === 0) problems.push(`kind lists no node of ${cluster.name}`);
  if (problems.length > 0) {
    throw new LoadError(`kind loaded the images, but ${cluster.name} (Kubernetes ${cluster.kubernetes}) does not hold them all`, [problems.join("\n")]);
  }
}

/** The output of a command on the cluster's client, run now (never from the cache); throws LoadError when it fails. */
async function observed(live: LiveCluster, args: string[]): Promise<string> {
  try {
    return await withTimeout(observing(live.client).withExec(args).stdout(), 60, () => new Error(`${args.join(" ")} did not answer within 60s`));
  } catch (error) {
    throw new LoadError(`checking the images in ${live.cluster.name} (Kubernetes ${live.cluster.kubernetes}) failed`, [describeFailure(error).join("\n")]);
  }
}
