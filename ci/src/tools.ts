/**
 * The pinned tools of the cluster stage: kind and kubectl, downloaded by version and verified by sha256
 * by the engine, in the pinned Docker-in-Docker image (which brings dockerd and the docker CLI).
 */
import { dag, type Container, type File } from "@dagger.io/dagger";
import { ClusterError } from "./cluster-error.js";
import { DIND_IMAGE, KIND_RELEASES, KUBECTL, type Arch, type KindVersion } from "./releases.js";

/** Where the tools are in the toolbox. */
export const KIND = "/usr/local/bin/kind";
export const KUBECTL_PATH = "/usr/local/bin/kubectl";

/** The pinned Docker-in-Docker image with kind and kubectl, for the engine's architecture. */
export interface Toolbox {
  arch: Arch;
  container: Container;
}

/**
 * The toolbox for the engine's platform. Downloads kind and kubectl and has the engine check them against
 * their pinned sha256 before anything uses them: a mismatch is a ClusterError, never a silent download.
 */
export async function toolbox(kind: KindVersion): Promise<Toolbox> {
  const arch = engineArch(await dag.defaultPlatform());
  const downloads = [
    { tool: `kind ${kind}`, file: pinnedDownload(`https://github.com/kubernetes-sigs/kind/releases/download/${kind}/kind-linux-${arch}`, KIND_RELEASES[kind].binarySha256[arch]) },
    { tool: `kubectl v${KUBECTL.version}`, file: pinnedDownload(`https://dl.k8s.io/release/v${KUBECTL.version}/bin/linux/${arch}/kubectl`, KUBECTL.sha256[arch]) },
  ];
  await Promise.all(
    downloads.map(async ({ tool, file }) => {
      try {
        await file.sync();
      } catch (error) {
        throw downloadError(tool, arch, error);
      }
    }),
  );
  const [kindFile, kubectlFile] = downloads.map((d) => d.file) as [File, File];
  return {
    arch,
    container: dag.container().from(DIND_IMAGE).withFile(KIND, kindFile).withFile(KUBECTL_PATH, kubectlFile),
  };
}

function pinnedDownload(url: string, sha256: string): File {
  return dag.http(url, { checksum: `sha256:${sha256}`, permissions: 0o755 });
}

function engineArch(platform: string): Arch {
  const arch = /^linux\/(amd64|arm64)/.exec(platform)?.[1];
  if (arch === "amd64" || arch === "arm64") return arch;
  throw new ClusterError(`the engine runs on ${platform}; kind and kubectl are pinned for linux/amd64 and linux/arm64 only`, "Run the pipeline on a linux/amd64 or linux/arm64 engine.");
}

function downloadError(tool: string, arch: Arch, error: unknown): ClusterError {
  const message = error instanceof Error ? error.message : String(error);
  if (/checksum mismatch/i.test(message)) {
    return new ClusterError(
      `${tool} (linux/${arch}) does not match its pinned sha256: ${message}`,
      "The download is not the published release (a proxy or mirror may have changed it); nothing was run with it.",
    );
  }
  return new ClusterError(`${tool} (linux/${arch}) could not be downloaded: ${message}`, "Check the engine's network access to github.com and dl.k8s.io.");
}
