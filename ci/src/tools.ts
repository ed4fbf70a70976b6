/**
 * The pinned tools: kind and kubectl for the cluster stage, helm and kustomize besides them in the default
 * step image, each downloaded by version and verified by sha256 by the engine, in the pinned
 * Docker-in-Docker image (which brings dockerd and the docker CLI).
 */
import { dag, type Container, type File } from "@dagger.io/dagger";
import { ClusterError } from "./cluster-error.js";
import { messageOf } from "./errors.js";
import { DIND_IMAGE, HELM, KIND_RELEASES, KUBECTL, KUSTOMIZE, type Arch, type KindVersion } from "./releases.js";

/**
 * The pinned Docker-in-Docker image with kind and kubectl for the engine's platform. The engine checks
 * both downloads against their pinned sha256 before anything uses them: a mismatch is a ClusterError,
 * never a silent download.
 */
export async function toolbox(kind: KindVersion): Promise<Container> {
  const arch = engineArch(await dag.defaultPlatform());
  const downloads = [
    { tool: `kind ${kind}`, path: "/usr/local/bin/kind", url: `https://github.com/kubernetes-sigs/kind/releases/download/${kind}/kind-linux-${arch}`, sha256: KIND_RELEASES[kind].binarySha256[arch] },
    { tool: `kubectl v${KUBECTL.version}`, path: "/usr/local/bin/kubectl", url: `https://dl.k8s.io/release/v${KUBECTL.version}/bin/linux/${arch}/kubectl`, sha256: KUBECTL.sha256[arch] },
  ].map((d) => ({ ...d, file: dag.http(d.url, { checksum: `sha256:${d.sha256}`, permissions: 0o755 }) }));
  await Promise.all(downloads.map(({ tool, file }) => verified(tool, arch, file)));
  return downloads.reduce((container, { path, file }) => container.withFile(path, file), dag.container().from(DIND_IMAGE));
}

/**
 * The default step image: the toolbox (docker, kind, kubectl) with helm and kustomize, each unpacked from
 * its release archive once the engine has checked the archive's pinned sha256.
 */
export async function stepImage(toolbox: Container): Promise<Container> {
  const arch = engineArch(await dag.defaultPlatform());
  const archives = [
    { tool: `helm v${HELM.version}`, name: "helm", member: `linux-${arch}/helm`, url: `https://get.helm.sh/helm-v${HELM.version}-linux-${arch}.tar.gz`, sha256: HELM.sha256[arch] },
    {
      tool: `kustomize v${KUSTOMIZE.version}`,
      name: "kustomize",
      member: "kustomize",
      url: `https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv${KUSTOMIZE.version}/kustomize_v${KUSTOMIZE.version}_linux_${arch}.tar.gz`,
      sha256: KUSTOMIZE.sha256[arch],
    },
  ].map((a) => ({ ...a, file: dag.http(a.url, { checksum: `sha256:${a.sha256}` }) }));
  await Promise.all(archives.map(({ tool, file }) => verified(tool, arch, file)));
  return archives.reduce((image, { name, member, file }) => {
    const archive = `/kind-pipeline/downloads/${name}.tar.gz`;
    const unpacked = toolbox.withMountedFile(archive, file).withExec(["tar", "-xzf", archive, "-C", "/kind-pipeline/downloads"]);
    return image.withFile(`/usr/local/bin/${name}`, unpacked.file(`/kind-pipeline/downloads/${member}`), { permissions: 0o755 });
  }, toolbox);
}

async function verified(tool: string, arch: Arch, file: File): Promise<void> {
  try {
    await file.sync();
  } catch (error) {
    const message = messageOf(error);
    if (/checksum mismatch/i.test(message)) {
      throw new ClusterError(
        `${tool} (linux/${arch}) does not match its pinned sha256: ${message}`,
        "The download is not the published release (a proxy or mirror may have changed it); nothing was run with it.",
      );
    }
    throw new ClusterError(`${tool} (linux/${arch}) could not be downloaded: ${message}`, "Check the engine's network access to github.com and dl.k8s.io.");
  }
}

function engineArch(platform: string): Arch {
  const arch = /^linux\/(amd64|arm64)/.exec(platform)?.[1];
  if (arch === "amd64" || arch === "arm64") return arch;
  throw new ClusterError(`the engine runs on ${platform}; kind and kubectl are pinned for linux/amd64 and linux/arm64 only`, "Run the pipeline on a linux/amd64 or linux/arm64 engine.");
}
