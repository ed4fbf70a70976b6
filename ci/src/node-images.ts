/**
 * Node images: the `kindest/node` image kind publishes for a Kubernetes version (pinned by digest), or,
 * when it publishes none, one built from the Kubernetes release binaries with `kind build node-image`
 * inside Docker-in-Docker, returned as an image archive that the engine caches like any other result.
 */
import { CacheSharingMode, dag, type Directory, type File } from "@dagger.io/dagger";
import type { NodeImageSource } from "./plan.js";
import type { Toolbox } from "./tools.js";

/** The node image a cluster is created from: a reference, and the archive to load when it was built. */
export interface NodeImageChoice {
  ref: string;
  archive?: File;
}

/** The module's shell scripts (ci/scripts), as the engine loaded them with the module's source. */
export function moduleScripts(): Directory {
  return dag.currentModule().source().directory("scripts");
}

/** The node image of a planned cluster: the published reference, or a built image and its archive. */
export function nodeImageFor(source: NodeImageSource, toolbox: Toolbox): NodeImageChoice {
  if (source.kind === "published") return { ref: source.ref };
  const ref = builtNodeImageRef(source.version);
  return { ref, archive: buildNodeImage(source.version, ref, toolbox) };
}

/** The name a built node image gets: never `kindest/node`, so it cannot pass for a published one. */
export function builtNodeImageRef(kubernetes: string): string {
  return `kind-pipeline/node:v${kubernetes}`;
}

/**
 * `kind build node-image v<version>` (release binaries from dl.k8s.io) in a privileged Docker-in-Docker
 * exec, saved with `docker save`. Its inputs are the pinned toolbox, the script and the version only, so
 * the engine builds a version once and answers later calls from its cache.
 */
export function buildNodeImage(kubernetes: string, ref: string, toolbox: Toolbox): File {
  const archive = "/out/node-image.tar";
  return toolbox.container
    .withMountedFile("/kind-pipeline/build-node-image.sh", moduleScripts().file("build-node-image.sh"))
    .withMountedCache("/var/lib/docker", dag.cacheVolume("kind-pipeline-node-image-build"), { sharing: CacheSharingMode.Private })
    .withEnvVariable("DOCKER_TLS_CERTDIR", "")
    .withExec(["sh", "/kind-pipeline/build-node-image.sh", `v${kubernetes}`, ref, archive], { insecureRootCapabilities: true })
    .file(archive);
}
