/**
 * The pinned tools on the stand-in engine: which URL is downloaded for each architecture, with which
 * sha256, where each lands in the toolbox, and what a user reads when a download fails or does not match.
 */
import { dag } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { ClusterError } from "../ci/src/cluster-error.js";
import { DIND_IMAGE, HELM, KIND_RELEASES, KUBECTL, KUSTOMIZE } from "../ci/src/releases.js";
import { stepImage, toolbox } from "../ci/src/tools.js";
import type { Call } from "./support/calls.js";
import { engineTest as test } from "./support/harness.js";
import { answer, engineError } from "./support/replies.js";

/** What a user downloads on each architecture: the URL and its pinned sha256, exactly. */
const DOWNLOADS = {
  amd64: {
    kind: {
      url: "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64",
      sha256: "aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d",
    },
    kubectl: {
      url: "https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kubectl",
      sha256: "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8",
    },
  },
  arm64: {
    kind: {
      url: "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-arm64",
      sha256: "20022bee6cfcd5086cb7234d218e3454e6090022f2a8f55d1fa7fcf42c3867a2",
    },
    kubectl: {
      url: "https://dl.k8s.io/release/v1.37.1/bin/linux/arm64/kubectl",
      sha256: "ff749f4b78d9c4f1ec87307df9b50119ed819e2094aa9810cb9acffc3286c8c7",
    },
  },
} as const;

/** The calls of a chain with the given field, in order. */
const calls = (call: Call, field: string) => call.path.filter((c) => c.field === field);

describe("downloads pinned per architecture", () => {
  test.for([
    ["linux/amd64", "amd64"],
    ["linux/arm64", "arm64"],
    ["linux/arm64/v8", "arm64"],
  ] as const)("an engine on %s downloads the %s binaries, each checked against its sha256 and executable", async ([platform, arch], { engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer(platform));
    const id = await engine.run(async () => (await toolbox("v0.33.0")).id());
    const { kind, kubectl } = DOWNLOADS[arch];
    expect(engine.find("http(", { leaf: "sync" }).map((l) => l.call.parent!.args)).toEqual([
      { url: kind.url, checksum: `sha256:${kind.sha256}`, permissions: 0o755 },
      { url: kubectl.url, checksum: `sha256:${kubectl.sha256}`, permissions: 0o755 },
    ]);
    // The toolbox: the pinned Docker-in-Docker image with both binaries on the PATH.
    const container = engine.callOf(id);
    expect(calls(container, "from").map((c) => c.args.address)).toEqual([DIND_IMAGE]);
    expect(calls(container, "withFile").map((c) => [c.args.path, (c.args.source as Call).args.url])).toEqual([
      ["/usr/local/bin/kind", kind.url],
      ["/usr/local/bin/kubectl", kubectl.url],
    ]);
  });

  test("the pins in releases.ts are the ones above", () => {
    expect(KIND_RELEASES["v0.33.0"].binarySha256).toEqual({ amd64: DOWNLOADS.amd64.kind.sha256, arm64: DOWNLOADS.arm64.kind.sha256 });
    expect(KUBECTL).toEqual({ version: "1.37.1", sha256: { amd64: DOWNLOADS.amd64.kubectl.sha256, arm64: DOWNLOADS.arm64.kubectl.sha256 } });
  });

  test.for(["linux/s390x", "darwin/arm64", "windows/amd64", "linux/arm/v7", "freebsd/linux/amd64"])("an engine on %s is refused, and nothing is downloaded", async (platform, { engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer(platform));
    const error = await engine.run(() => toolbox("v0.33.0")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message).toBe(
      `cluster: the engine runs on ${platform}; kind and kubectl are pinned for linux/amd64 and linux/arm64 only\n\nRun the pipeline on a linux/amd64 or linux/arm64 engine.`,
    );
    engine.expectNever("http(");
  });
});

describe("a download that fails", () => {
  const kindUrl = DOWNLOADS.amd64.kind.url;
  const kubectlUrl = DOWNLOADS.amd64.kubectl.url;

  test("a checksum mismatch names the tool, its platform and the engine's message, and says nothing ran with it", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    engine.reply({ leaf: "sync", where: kubectlUrl }, engineError("Checksum Mismatch: expected sha256:65691ff7, got sha256:0a0b"));
    const error = await engine.run(() => toolbox("v0.33.0")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message).toBe(
      [
        "cluster: kubectl v1.37.1 (linux/amd64) does not match its pinned sha256: Checksum Mismatch: expected sha256:65691ff7, got sha256:0a0b",
        "",
        "The download is not the published release (a proxy or mirror may have changed it); nothing was run with it.",
      ].join("\n"),
    );
  });

  test("any other failure is a download failure, with where the engine must reach", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/arm64"));
    engine.reply({ leaf: "sync", where: "kind-linux-arm64" }, engineError("Get https://github.com/...: dial tcp: i/o timeout"));
    const error = await engine.run(() => toolbox("v0.33.0")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message).toBe(
      [
        "cluster: kind v0.33.0 (linux/arm64) could not be downloaded: Get https://github.com/...: dial tcp: i/o timeout",
        "",
        "Check the engine's network access to github.com and dl.k8s.io.",
      ].join("\n"),
    );
    expect(kindUrl).not.toBe(kubectlUrl);
  });
});

/** helm and kustomize in the default step image: the release archives, and their pinned sha256. */
const ARCHIVES = {
  amd64: {
    helm: { url: "https://get.helm.sh/helm-v4.2.4-linux-amd64.tar.gz", sha256: "c306b46f719b0a4da32d0f78ee21bf90ce8d602f15b22ab753f0674d1670a7f3", member: "linux-amd64/helm" },
    kustomize: {
      url: "https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv5.8.1/kustomize_v5.8.1_linux_amd64.tar.gz",
      sha256: "029a7f0f4e1932c52a0476cf02a0fd855c0bb85694b82c338fc648dcb53a819d",
      member: "kustomize",
    },
  },
  arm64: {
    helm: { url: "https://get.helm.sh/helm-v4.2.4-linux-arm64.tar.gz", sha256: "564de2191b881e9f71b5606b25345821ea1682f06ab90499d3ab22b530176da1", member: "linux-arm64/helm" },
    kustomize: {
      url: "https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv5.8.1/kustomize_v5.8.1_linux_arm64.tar.gz",
      sha256: "0953ea3e476f66d6ddfcd911d750f5167b9365aa9491b2326398e289fef2c142",
      member: "kustomize",
    },
  },
} as const;

describe("the default step image: helm and kustomize beside the toolbox", () => {
  test.for(["amd64", "arm64"] as const)("on linux/%s: each release archive checked against its sha256, unpacked, its binary executable on the PATH", async (arch, { engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer(`linux/${arch}`));
    const id = await engine.run(async () => (await stepImage(dag.container().from("toolbox:test"))).id());
    const { helm, kustomize } = ARCHIVES[arch];
    expect(engine.find("http(", { leaf: "sync" }).map((l) => l.call.parent!.args)).toEqual([
      { url: helm.url, checksum: `sha256:${helm.sha256}` },
      { url: kustomize.url, checksum: `sha256:${kustomize.sha256}` },
    ]);
    const image = engine.callOf(id);
    expect(calls(image, "from").map((c) => c.args.address)).toEqual(["toolbox:test"]);
    const added = calls(image, "withFile").map((c) => {
      const source = c.args.source as Call;
      const unpack = source.nearest("withExec")!;
      const mounted = source.nearest("withMountedFile")!;
      return {
        path: c.args.path,
        permissions: c.args.permissions,
        member: source.args.path,
        unpack: unpack.args.args,
        archive: [mounted.args.path, (mounted.args.source as Call).args.url],
        from: calls(source, "from").map((f) => f.args.address),
      };
    });
    expect(added).toEqual(
      (["helm", "kustomize"] as const).map((name) => ({
        path: `/usr/local/bin/${name}`,
        permissions: 0o755,
        member: `/kind-pipeline/downloads/${ARCHIVES[arch][name].member}`,
        unpack: ["tar", "-xzf", `/kind-pipeline/downloads/${name}.tar.gz`, "-C", "/kind-pipeline/downloads"],
        archive: [`/kind-pipeline/downloads/${name}.tar.gz`, ARCHIVES[arch][name].url],
        from: ["toolbox:test"],
      })),
    );
  });

  test("the pins in releases.ts are the ones above", () => {
    expect(HELM).toEqual({ version: "4.2.4", sha256: { amd64: ARCHIVES.amd64.helm.sha256, arm64: ARCHIVES.arm64.helm.sha256 } });
    expect(KUSTOMIZE).toEqual({ version: "5.8.1", sha256: { amd64: ARCHIVES.amd64.kustomize.sha256, arm64: ARCHIVES.arm64.kustomize.sha256 } });
  });

  test("a mismatching archive is refused with the tool's name and version", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/amd64"));
    engine.reply({ leaf: "sync", where: "get.helm.sh" }, engineError("checksum mismatch: expected sha256:c306b46f, got sha256:ffff"));
    const error = await engine.run(() => stepImage(dag.container().from("toolbox:test"))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as Error).message.split("\n")[0]).toBe("cluster: helm v4.2.4 (linux/amd64) does not match its pinned sha256: checksum mismatch: expected sha256:c306b46f, got sha256:ffff");
  });

  test("a kustomize archive that cannot be downloaded is named with its version", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/arm64"));
    engine.reply({ leaf: "sync", where: "kustomize_v5.8.1_linux_arm64" }, engineError("GET: 404 Not Found"));
    const error = await engine.run(() => stepImage(dag.container().from("toolbox:test"))).catch((e: unknown) => e);
    expect((error as Error).message.split("\n")[0]).toBe("cluster: kustomize v5.8.1 (linux/arm64) could not be downloaded: GET: 404 Not Found");
  });

  test("an engine on another platform is refused before any download", async ({ engine }) => {
    engine.reply({ leaf: "defaultPlatform" }, answer("linux/riscv64"));
    const error = await engine.run(() => stepImage(dag.container().from("toolbox:test"))).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^cluster: the engine runs on linux\/riscv64; /);
    engine.expectNever("http(");
  });
});
