/**
 * The node image a cluster is created from, on the stand-in engine: a published one as its pinned
 * reference with nothing to build, or one built in a Docker-in-Docker exec whose definition (scripts, cache
 * volume and its sharing, environment, arguments) is exactly what the engine caches it by.
 */
import { readFileSync } from "node:fs";
import { dag } from "@dagger.io/dagger";
import { describe, expect, vi } from "vitest";
import { nodeImageFor } from "../ci/src/node-images.js";
import { SCRIPTS_PATH } from "../ci/src/scripts.js";
import type { Call } from "./support/calls.js";
import { engineTest as test } from "./support/harness.js";

const PUBLISHED = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";

const script = (name: string) => readFileSync(new URL(`../ci/scripts/${name}`, import.meta.url), "utf8");

/** A chain's calls, each as field and arguments (objects passed by ID as their own chains' calls). */
function shape(call: Call): unknown[] {
  return call.path.map((c) => ({ [c.field]: Object.fromEntries(Object.entries(c.args).map(([k, v]) => [k, isCall(v) ? shape(v) : v])) }));
}
const isCall = (value: unknown): value is Call => typeof value === "object" && value !== null && "path" in value && "field" in value;

describe("a published node image", () => {
  test("is its pinned reference, with no archive; the toolbox is never asked for", async ({ engine }) => {
    const toolbox = vi.fn(async () => dag.container());
    const choice = await engine.run(() => nodeImageFor({ kind: "published", ref: PUBLISHED }, toolbox));
    expect(choice).toStrictEqual({ ref: PUBLISHED });
    expect(toolbox).not.toHaveBeenCalled();
    expect(engine.leaves).toEqual([]);
  });
});

describe("a node image built for an unpublished version", () => {
  test("is named for its version and built by build-node-image.sh in a privileged exec, saved as an archive", async ({ engine }) => {
    const toolbox = vi.fn(async () => dag.container().from("toolbox:test"));
    const { ref, archive } = await engine.run(async () => {
      const choice = await nodeImageFor({ kind: "build", version: "1.38.0" }, toolbox);
      return { ref: choice.ref, archive: choice.archive && engine.callOf(await choice.archive.id()) };
    });
    expect(ref).toBe("kind-pipeline/node:v1.38.0");
    expect(toolbox).toHaveBeenCalledTimes(1);
    const scripts = (names: string[]) =>
      [{ directory: {} }, ...names.map((name) => ({ withNewFile: { path: name, contents: script(name), permissions: 0o755 } }))];
    expect(shape(archive!)).toEqual([
      { container: {} },
      { from: { address: "toolbox:test" } },
      { withMountedDirectory: { path: SCRIPTS_PATH, source: scripts(["build-node-image.sh", "dockerd.sh"]) } },
      { withMountedCache: { path: "/var/lib/docker", cache: [{ cacheVolume: { key: "kind-pipeline-node-image-build" } }], sharing: expect.objectContaining({ name: "PRIVATE" }) } },
      { withEnvVariable: { name: "DOCKER_TLS_CERTDIR", value: "" } },
      {
        withExec: {
          args: ["sh", "/kind-pipeline/scripts/build-node-image.sh", "v1.38.0", "kind-pipeline/node:v1.38.0", "/out/node-image.tar"],
          insecureRootCapabilities: true,
        },
      },
      { file: { path: "/out/node-image.tar" } },
    ]);
    expect(SCRIPTS_PATH).toBe("/kind-pipeline/scripts");
  });

  test("the same version gives the same definition, so the engine builds it once; another version another one", async ({ engine }) => {
    const toolbox = async () => dag.container().from("toolbox:test");
    const ids = await engine.run(async () => {
      const ids: string[] = [];
      for (const version of ["1.38.0", "1.38.0", "1.39.1"]) ids.push(await (await nodeImageFor({ kind: "build", version }, toolbox)).archive!.id());
      return ids;
    });
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(engine.callOf(ids[2]!).nearest("withExec")!.args.args).toEqual(["sh", "/kind-pipeline/scripts/build-node-image.sh", "v1.39.1", "kind-pipeline/node:v1.39.1", "/out/node-image.tar"]);
  });
});
