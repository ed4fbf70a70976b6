/**
 * Pinned third-party releases: kind, its published node images, kubectl and the Docker-in-Docker image.
 * The module's own downloads are pinned by version and sha256, its images by digest. (A node image built
 * for an unpublished version is the exception: `kind build node-image` fetches that release from dl.k8s.io
 * itself, over TLS, without a checksum this module could pin for every version.) Sources are named beside
 * each pin; update a pin only from its primary source (kind's release page, dl.k8s.io's .sha256 files,
 * Docker Hub).
 */

/** The architectures whose binaries are pinned. */
export type Arch = "amd64" | "arm64";

/** A kind release: its binaries and the node images built for it. */
export interface KindRelease {
  /** sha256 of `kind-linux-<arch>` from the release's `.sha256sum` files. */
  binarySha256: Record<Arch, string>;
  /** Kubernetes version (no `v`) → the digest of `kindest/node:v<version>` published with this release. */
  nodeImages: Record<string, string>;
  /** The Kubernetes version kind creates when none is given. */
  defaultKubernetes: string;
}

/** kind releases this module can run; the first is the default. */
export const KIND_RELEASES = {
  // https://github.com/kubernetes-sigs/kind/releases/tag/v0.33.0
  "v0.33.0": {
    binarySha256: {
      amd64: "aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d",
      arm64: "20022bee6cfcd5086cb7234d218e3454e6090022f2a8f55d1fa7fcf42c3867a2",
    },
    nodeImages: {
      "1.37.0": "sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
      "1.36.4": "sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
      "1.35.8": "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
      "1.34.11": "sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
    },
    defaultKubernetes: "1.37.0",
  },
  // https://github.com/kubernetes-sigs/kind/releases/tag/v0.32.0. Binaries: cashapp/hermit-packages kind.hcl
  // (65764ff3) and cert-manager/makefile-modules modules/tools/00_mod.mk (f5352119). Node images:
  // kubernetes-sigs/cluster-api test/infrastructure/kind/mapper.go (15f3dc16) and chainguard-dev/actions
  // setup-kind/action.yaml (bed80501); the default matches kind's pkg/apis/config/defaults/image.go at v0.32.0.
  "v0.32.0": {
    binarySha256: {
      amd64: "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54",
      arm64: "b92cd615e97585de8ddade28ed5cd7feb4248d717c233eea5b03c37298900f5d",
    },
    nodeImages: {
      "1.36.1": "sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
      "1.35.5": "sha256:ce977ae6d65918d0b58a5f8b5e940429c2ce42fa3a5619ec2bbc60b949c0ac95",
      "1.34.8": "sha256:02722c2dedddcfc00febf5d27fbeb9b7b2c14294c82109ff4a85d89ac9ba3256",
      "1.33.12": "sha256:3f5c8443c620245e4d355cfe09e96a91ead32ceaa569d3f1ca9edf0cb2fe2ff4",
    },
    defaultKubernetes: "1.36.1",
  },
  // https://github.com/kubernetes-sigs/kind/releases/tag/v0.31.0. Binaries: cashapp/hermit-packages kind.hcl
  // (a99c6af2) and cert-manager/makefile-modules modules/tools/00_mod.mk (2fee9207). Node images:
  // kubernetes-sigs/cluster-api test/infrastructure/kind/mapper.go and rogerwesterbo/createlocalk8s
  // scripts/variables.sh (b5e570d5); the default matches kind's pkg/apis/config/defaults/image.go at v0.31.0.
  "v0.31.0": {
    binarySha256: {
      amd64: "eb244cbafcc157dff60cf68693c14c9a75c4e6e6fedaf9cd71c58117cb93e3fa",
      arm64: "8e1014e87c34901cc422a1445866835d1e666f2a61301c27e722bdeab5a1f7e4",
    },
    nodeImages: {
      "1.35.0": "sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f",
      "1.34.3": "sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48",
      "1.33.7": "sha256:d26ef333bdb2cbe9862a0f7c3803ecc7b4303d8cea8e814b481b09949d353040",
      "1.32.11": "sha256:5fc52d52a7b9574015299724bd68f183702956aa4a2116ae75a63cb574b35af8",
      "1.31.14": "sha256:6f86cf509dbb42767b6e79debc3f2c32e4ee01386f0489b3b2be24b0a55aac2b",
    },
    defaultKubernetes: "1.35.0",
  },
} as const satisfies Record<string, KindRelease>;

/** A kind version this module has pins for. */
export type KindVersion = keyof typeof KIND_RELEASES;

/** The kind versions this module has pins for, default first. */
export const KIND_VERSIONS = Object.keys(KIND_RELEASES) as [KindVersion, ...KindVersion[]];

/** The kind version used when the config names none. */
export const DEFAULT_KIND_VERSION: KindVersion = KIND_VERSIONS[0];

/** kubectl, from https://dl.k8s.io/release/v<version>/bin/linux/<arch>/kubectl(.sha256). */
export const KUBECTL = {
  version: "1.37.1",
  sha256: {
    amd64: "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8",
    arm64: "ff749f4b78d9c4f1ec87307df9b50119ed819e2094aa9810cb9acffc3286c8c7",
  } satisfies Record<Arch, string>,
} as const;

/**
 * helm, in the default step image: sha256 of helm-v<version>-linux-<arch>.tar.gz (get.helm.sh .sha256sum).
 * Seen in argoproj/argo-cd hack/installers/checksums (e33bd1d7), cashapp/hermit-packages helm.hcl
 * (d182db52) and cert-manager/makefile-modules modules/tools/00_mod.mk (2dc450b4).
 */
export const HELM = {
  version: "4.2.4",
  sha256: {
    amd64: "c306b46f719b0a4da32d0f78ee21bf90ce8d602f15b22ab753f0674d1670a7f3",
    arm64: "564de2191b881e9f71b5606b25345821ea1682f06ab90499d3ab22b530176da1",
  } satisfies Record<Arch, string>,
} as const;

/**
 * kustomize, in the default step image: sha256 of kustomize_v<version>_linux_<arch>.tar.gz (the release's
 * checksums.txt). Seen in argoproj/argo-cd hack/installers/checksums (66835b6e) and
 * cashapp/hermit-packages kustomize.hcl (09dd7eca).
 */
export const KUSTOMIZE = {
  version: "5.8.1",
  sha256: {
    amd64: "029a7f0f4e1932c52a0476cf02a0fd855c0bb85694b82c338fc648dcb53a819d",
    arm64: "0953ea3e476f66d6ddfcd911d750f5167b9365aa9491b2326398e289fef2c142",
  } satisfies Record<Arch, string>,
} as const;

/** Docker-in-Docker: runs the Kind nodes, and carries the docker CLI for kind's clients (Docker Hub `docker`). */
export const DIND_IMAGE =
  "docker:29.9.0-dind@sha256:0b6d18a4a222e71c88be6034926b4f6cde2fc33c2218643d03ccfddc65995470";

/** Kubernetes versions (no `v`) with a node image published for the given kind release, newest first. */
export function publishedKubernetesVersions(kind: KindVersion): string[] {
  return Object.keys(KIND_RELEASES[kind].nodeImages);
}

/**
 * The other kind releases this module pins that publish a node image for a version, newest first: what to
 * tell a user whose chosen release would have to build one.
 */
export function otherReleasesPublishing(kind: KindVersion, kubernetes: string): KindVersion[] {
  return KIND_VERSIONS.filter((other) => other !== kind && publishedKubernetesVersions(other).includes(kubernetes));
}

/** The version of the same MAJOR.MINOR a kind release publishes, if any: what to suggest instead of building a patch it lacks. */
export function sameMinorPublished(kind: KindVersion, kubernetes: string): string | undefined {
  const minor = kubernetes.split(".").slice(0, 2).join(".");
  return publishedKubernetesVersions(kind).find((v) => v.startsWith(`${minor}.`));
}

/** The pinned `kindest/node` reference for a version, or undefined when the kind release published none. */
export function publishedNodeImage(kind: KindVersion, kubernetes: string): string | undefined {
  const digest = (KIND_RELEASES[kind].nodeImages as Record<string, string>)[kubernetes];
  return digest && `kindest/node:v${kubernetes}@${digest}`;
}
