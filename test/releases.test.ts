/**
 * The pinned kind releases, as users get them: which node images each release publishes (by digest), its
 * default version, and the advice drawn from them when a version is not published. The digests of the
 * binaries are pinned against their download URLs in tools.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_KIND_VERSION,
  DIND_IMAGE,
  KIND_RELEASES,
  KIND_VERSIONS,
  otherReleasesPublishing,
  publishedKubernetesVersions,
  publishedNodeImage,
  sameMinorPublished,
} from "../ci/src/releases.js";

const SHA256 = /^[0-9a-f]{64}$/;

describe("the pinned kind releases", () => {
  it("are v0.33.0 (the default), v0.32.0 and v0.31.0, newest first", () => {
    expect(KIND_VERSIONS).toEqual(["v0.33.0", "v0.32.0", "v0.31.0"]);
    expect(DEFAULT_KIND_VERSION).toBe("v0.33.0");
  });

  it("each publishes these Kubernetes versions, newest first, and creates its newest by default", () => {
    expect(publishedKubernetesVersions("v0.33.0")).toEqual(["1.37.0", "1.36.4", "1.35.8", "1.34.11"]);
    expect(publishedKubernetesVersions("v0.32.0")).toEqual(["1.36.1", "1.35.5", "1.34.8", "1.33.12"]);
    expect(publishedKubernetesVersions("v0.31.0")).toEqual(["1.35.0", "1.34.3", "1.33.7", "1.32.11", "1.31.14"]);
    for (const kind of KIND_VERSIONS) expect(KIND_RELEASES[kind].defaultKubernetes).toBe(publishedKubernetesVersions(kind)[0]);
  });

  it("every binary and node image is pinned by a full sha256 digest", () => {
    for (const kind of KIND_VERSIONS) {
      const release = KIND_RELEASES[kind];
      expect(Object.keys(release.binarySha256), kind).toEqual(["amd64", "arm64"]);
      for (const sha of Object.values(release.binarySha256)) expect(sha, kind).toMatch(SHA256);
      for (const [version, digest] of Object.entries(release.nodeImages)) expect(digest, `${kind} ${version}`).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    const digests = KIND_VERSIONS.flatMap((kind) => Object.values(KIND_RELEASES[kind].nodeImages));
    expect(new Set(digests).size).toBe(digests.length);
    expect(DIND_IMAGE).toMatch(/^docker:[0-9.]+-dind@sha256:[0-9a-f]{64}$/);
  });
});

describe("publishedNodeImage", () => {
  it("is kindest/node at the version's tag and pinned digest, for every published version of every release", () => {
    for (const kind of KIND_VERSIONS) {
      for (const [version, digest] of Object.entries(KIND_RELEASES[kind].nodeImages)) {
        expect(publishedNodeImage(kind, version)).toBe(`kindest/node:v${version}@${digest}`);
      }
    }
    expect(publishedNodeImage("v0.33.0", "1.37.0")).toBe("kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5");
  });

  it("is undefined for a version the release did not publish, even one another release did", () => {
    expect(publishedNodeImage("v0.33.0", "1.36.1")).toBeUndefined();
    expect(publishedNodeImage("v0.31.0", "1.38.0")).toBeUndefined();
  });
});

describe("otherReleasesPublishing", () => {
  it("names the other releases that publish the version, newest first, never the release asked about", () => {
    expect(otherReleasesPublishing("v0.33.0", "1.36.1")).toEqual(["v0.32.0"]);
    expect(otherReleasesPublishing("v0.31.0", "1.35.5")).toEqual(["v0.32.0"]);
    expect(otherReleasesPublishing("v0.32.0", "1.35.0")).toEqual(["v0.31.0"]);
    expect(otherReleasesPublishing("v0.33.0", "1.37.0")).toEqual([]);
    expect(otherReleasesPublishing("v0.33.0", "1.38.0")).toEqual([]);
  });
});

describe("sameMinorPublished", () => {
  it("is the release's published patch of the same MAJOR.MINOR", () => {
    expect(sameMinorPublished("v0.33.0", "1.36.1")).toBe("1.36.4");
    expect(sameMinorPublished("v0.31.0", "1.34.0")).toBe("1.34.3");
  });

  it("matches whole minor numbers: 1.3 is not 1.36, and a minor the release lacks gives none", () => {
    expect(sameMinorPublished("v0.33.0", "1.3.0")).toBeUndefined();
    expect(sameMinorPublished("v0.33.0", "1.33.5")).toBeUndefined();
    expect(sameMinorPublished("v0.33.0", "2.36.4")).toBeUndefined();
  });
});
