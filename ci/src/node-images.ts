/**
 * Node images: the `kindest/node` image kind publishes for a Kubernetes version (pinned by digest), or,
 * when it publishes none, one built from the Kubernetes release binaries with `kind build node-image`
 * inside Docker-in-Docker, returned as an image archive that the engine caches like any other result.
 */
import { CacheSharingMode, dag, type Container, type File } from "@dagger.io/dagger";
import type { NodeImageSource } from "./plan.js";
import { moduleScripts, SCRIPTS_PATH } from "./scripts.js";

/** The node image a cluster is created from: a reference, and the archive to load when it was built. */
export interface NodeImageChoice {
  ref: string;
  archive?: File;
}

/**
 * The node image of a planned cluster: the published reference, or a built image and its archive. The
 * toolbox is only asked for when an image must be built.
 */
export async function nodeImageFor(source: NodeImageSource, toolbox: () => Promise<Container>): Promise<NodeImageChoice> {
  if (source.kind === "published") return { ref: source.ref };
  const ref = `kind-pipeline/node:v${source.version}`;
  return { ref, archive: buildNodeImage(source.version, ref, await toolbox()) };
}

/**
 * `kind build node-image v<version>` (kind downloads the release binaries from dl.k8s.io) in a privileged
 * Docker-in-Docker exec, saved with `docker save`. Its inputs are the pinned toolbox, its two scripts and
 * the version only, so the engine builds a version once and answers later calls from its cache.
 */
function buildNodeImage(kubernetes: string, ref: string, toolbox: Container): File {
  const archive = "/out/node-image.tar";
  return toolbox
    .withMountedDirectory(SCRIPTS_PATH, moduleScripts(["build-node-image.sh", "dockerd.sh"]))
    .withMountedCache("/var/lib/docker", dag.cacheVolume("kind-pipeline-node-image-build"), { sharing: CacheSharingMode.Private })
    .withEnvVariable("DOCKER_TLS_CERTDIR", "")
    .withExec(["sh", `${SCRIPTS_PATH}/build-node-image.sh`, `v${kubernetes}`, ref, archive], { insecureRootCapabilities: true })
    .file(archive);
}
