/**
 * The load stage on its own, on the stand-in engine, given a live cluster: the status line of each image,
 * the LoadError a user reads when images do not load or a node does not hold them, and the refs an image
 * carries in the cluster. The test stage's tests cover where the load sits in a run.
 */
import { dag } from "@dagger.io/dagger";
import { describe, expect } from "vitest";
import { imagesToLoad, inClusterRefs, LoadError, loadImages, type ImageToLoad } from "../ci/src/load.js";
import type { Run } from "../ci/src/run.js";
import type { Call } from "./support/calls.js";
import type { StandInEngine } from "./support/engine.js";
import { CLUSTER, GET_NODES, givenLiveCluster, LOAD, VERIFY } from "./support/cluster-replies.js";
import { threeImages, runAt } from "./support/fixtures.js";
import { engineTest as test } from "./support/harness.js";
import { answer, execFailure, hang } from "./support/replies.js";

/** A run whose status lines go to `lines`: loadImages uses nothing else of it. */
const runLogging = (lines: string[]) => ({ log: (line: string) => lines.push(line) }) as unknown as Run;

/** Images to load, each a plain archive, under the refs given. */
const images = (refs: Record<string, string>): ImageToLoad[] =>
  Object.entries(refs).map(([name, ref]) => ({ name, ref, archive: dag.container().from("alpine:3.22").asTarball() }));

const WORKER = `${CLUSTER}-worker`;

/** kind lists `nodes` (as printed, untrimmed) and every node's containerd holds `held` (as printed). */
function nodesHolding(engine: StandInEngine, nodes: string, held: string): StandInEngine {
  return engine.reply({ leaf: "stdout", where: GET_NODES }, answer(nodes)).reply({ leaf: "stdout", where: VERIFY }, answer(held));
}

/** What loadImages threw. */
async function loadError(run: () => Promise<void>): Promise<LoadError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LoadError);
  return error as LoadError;
}

describe("loadImages", () => {
  test("logs each image as it lands, with the seconds since the load began; then reads each node's containerd, names trimmed", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: LOAD }, answer(), { delayMs: 1200 });
    nodesHolding(engine, `  ${CLUSTER}-control-plane \n\n${WORKER}\n`, " docker.io/library/jax:e2e \ndocker.io/library/pytorch:e2e\n");
    const lines: string[] = [];
    await engine.run(() => loadImages(runLogging(lines), givenLiveCluster(), images({ jax: "jax:e2e", pytorch: "docker.io/library/pytorch:e2e" })));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[load\] 1\.37\.0: (jax as jax:e2e|pytorch as docker\.io\/library\/pytorch:e2e) \((1|2)s\)$/);
    const verified = engine.find(VERIFY, { leaf: "stdout" }).map((l) => l.call.nearest("withExec")!.args.args as string[]);
    expect(verified.map((args) => args[2]).sort()).toEqual([`${CLUSTER}-control-plane`, WORKER]);
    expect(verified[0]).toEqual(["docker", "exec", verified[0]![2], "ctr", "--namespace=k8s.io", "images", "list", "--quiet"]);
  });

  test("images that do not load: one LoadError counting and naming them, each with its command and output, and what to try", async ({ engine }) => {
    engine
      .reply({ leaf: "sync", where: LOAD }, answer())
      .reply({ leaf: "sync", where: `${LOAD},"/kind-pipeline/images/1.tar"` }, execFailure({ exitCode: 1, stderr: "ctr: failed to ingest: no space left on device\n" }))
      .reply({ leaf: "sync", where: `${LOAD},"/kind-pipeline/images/2.tar"` }, execFailure({ exitCode: 1, stderr: "ctr: content digest mismatch\n" }));
    const error = await loadError(() =>
      engine.run(() => loadImages(runLogging([]), givenLiveCluster(), images({ jax: "jax:e2e", pytorch: "pytorch:e2e", xgboost: "xgboost:e2e" }))),
    );
    expect(error.name).toBe("LoadError");
    const lines = error.message.split("\n");
    expect(lines[0]).toBe("load: 2 of 3 images did not load into kind-pipeline-1-37-0 (Kubernetes 1.37.0): pytorch, xgboost");
    const pytorch = lines.indexOf("pytorch as pytorch:e2e");
    expect(pytorch).toBeGreaterThan(0);
    expect(lines.slice(pytorch + 1, pytorch + 4)).toEqual([
      `  command: kind load image-archive /kind-pipeline/images/1.tar --name ${CLUSTER} (exit code 1)`,
      "  last 1 lines of stderr:",
      "    | ctr: failed to ingest: no space left on device",
    ]);
    expect(lines).toContain("xgboost as xgboost:e2e");
    expect(error.message).toContain("Loading needs disk in the engine for every image on every node: try fewer or smaller images (--images), or fewer workers.");
    engine.expectNever(GET_NODES);
  });

  test("a load that never finishes fails at its limit, in seconds", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: LOAD }, hang());
    const started = Date.now();
    const error = await loadError(() => engine.run(() => loadImages(runLogging([]), givenLiveCluster(), images({ jax: "jax:e2e" }), 0.3)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(error.message).toContain("jax as jax:e2e\n  error: did not finish within 0.3s");
  });

  test("kind listing no node is a LoadError, not a pass", async ({ engine }) => {
    engine.reply({ leaf: "sync", where: LOAD }, answer());
    nodesHolding(engine, "\n", "");
    const error = await loadError(() => engine.run(() => loadImages(runLogging([]), givenLiveCluster(), images({ jax: "jax:e2e" }))));
    expect(error.message.split("\n").slice(0, 3)).toEqual([
      "load: kind loaded the images, but kind-pipeline-1-37-0 (Kubernetes 1.37.0) does not hold them all",
      "",
      `kind lists no node of ${CLUSTER}`,
    ]);
  });

  test("a node whose containerd cannot be read: the check fails with the command's output", async ({ engine }) => {
    engine
      .reply({ leaf: "sync", where: LOAD }, answer())
      .reply({ leaf: "stdout", where: GET_NODES }, execFailure({ exitCode: 1, stderr: "ERROR: no nodes found for cluster\n" }));
    const error = await loadError(() => engine.run(() => loadImages(runLogging([]), givenLiveCluster(), images({ jax: "jax:e2e" }))));
    expect(error.message.split("\n")[0]).toBe("load: checking the images in kind-pipeline-1-37-0 (Kubernetes 1.37.0) failed");
    expect(error.message.split("\n")).toEqual(expect.arrayContaining([`  command: kind get nodes --name ${CLUSTER} (exit code 1)`, "    | ERROR: no nodes found for cluster"]));
  });
});

describe("imagesToLoad", () => {
  test("names each archive as containerd's import does and as OCI tools do: both annotations carry the expanded ref", async ({ engine }) => {
    const id = await engine.run(() => {
      const [jax] = imagesToLoad([{ name: "jax", container: dag.container().from("alpine:3.22") }], new Map([["jax", "jax:e2e"]]), []);
      return jax!.archive.id();
    });
    const annotations = engine.callOf(id).path.filter((c: Call) => c.field === "withAnnotation").map((c) => [c.args.name, c.args.value]);
    expect(annotations).toEqual([
      ["io.containerd.image.name", "docker.io/library/jax:e2e"],
      ["org.opencontainers.image.ref.name", "docker.io/library/jax:e2e"],
    ]);
  });
});

describe("inClusterRefs", () => {
  test("an image without a ref gets one from its build inputs: the same inputs give the same hash, a changed build arg or target another", async ({ engine }) => {
    const twins = [
      '  same: { context: images/jax, buildArgs: { JAX_VERSION: "0.6.2" }, target: runtime }',
      '  newer: { context: images/jax, buildArgs: { JAX_VERSION: "0.6.3" }, target: runtime }',
      '  untargeted: { context: images/jax, buildArgs: { JAX_VERSION: "0.6.2" } }',
    ].join("\n");
    const root = threeImages({ images: twins });
    const refs = await engine.run(async () => inClusterRefs(await runAt(root, { images: ["jax", "same", "newer", "untargeted"] })));
    const hash = (name: string) => /^kind-pipeline\.local\/([a-z]+):build-([0-9a-f]{12})$/.exec(refs.get(name) ?? "")?.slice(1);
    expect(hash("jax")?.[0]).toBe("jax");
    expect(hash("same")).toEqual(["same", hash("jax")?.[1]]);
    expect(hash("newer")?.[1]).not.toBe(hash("jax")?.[1]);
    expect(hash("untargeted")?.[1]).not.toBe(hash("jax")?.[1]);
  });
});
