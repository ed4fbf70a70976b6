/**
 * The real-engine tier, as a plain client: the module's classes driven by this process through the SDK,
 * what the stand-in engine cannot show. It runs only with DAGGER_E2E=1 and an engine to reach: inside a
 * Dagger session (`dagger run npm run test:engine`), or with a `dagger` on PATH, which the SDK then starts
 * a session with (`npm run test:engine`). Everywhere else it is reported as skipped. The same module run
 * through the Dagger CLI (`dagger call …`) is test/real-engine-cli.test.ts.
 */
import { randomUUID } from "node:crypto";
import { connection, dag } from "@dagger.io/dagger";
import { beforeAll, describe, expect, it } from "vitest";
import { KindPipeline } from "../ci/src/index.js";
import { toolbox } from "../ci/src/tools.js";
import { cliVersionProblem, clusterSessionEnded, engineVersion, normalizeVersion, onPath, settleAfterClusterSession } from "./support/dagger-cli.js";
import { REPO_EXCLUDES, REPO_ROOT } from "./support/projects.js";

const onRealEngine = process.env.DAGGER_E2E === "1";
const inSession = Boolean(process.env.DAGGER_SESSION_PORT);
const dagger = onPath("dagger");

describe.skipIf(!onRealEngine || (!inSession && !dagger))("on a real Dagger engine, as a plain client (needs DAGGER_E2E=1 and a session or `dagger` on PATH)", () => {
  beforeAll(async () => {
    if (inSession) return;
    const problem = await cliVersionProblem(dagger as string);
    if (problem) throw new Error(problem);
    // Without a session, the SDK would download a CLI of its own version; use the one on PATH instead.
    process.env._EXPERIMENTAL_DAGGER_CLI_BIN = dagger;
  }, 2 * 60_000);

  it("cluster for the default version: kubectl get nodes shows every node Ready", { timeout: 30 * 60_000 }, async () => {
    await settleAfterClusterSession();
    try {
      await connection(async () => {
        const engine = await dag.version();
        expect(normalizeVersion(engine), `the engine is ${engine}, but dagger.json's engineVersion is ${engineVersion()}`).toBe(normalizeVersion(engineVersion()));
        const pipeline = new KindPipeline(dag.host().directory(REPO_ROOT, { exclude: REPO_EXCLUDES }), "kind-pipeline.yaml");
        const [kubeconfig, service, tools] = await Promise.all([pipeline.kubeconfig(), pipeline.cluster(), toolbox("v0.33.0")]);
        const nodes = await tools
          .withServiceBinding("kind-pipeline-1-37-0", service)
          .withMountedFile("/kubeconfig", kubeconfig)
          .withEnvVariable("KUBECONFIG", "/kubeconfig")
          .withEnvVariable("KIND_PIPELINE_OBSERVATION", randomUUID())
          .withExec(["kubectl", "get", "nodes", "-o", 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'])
          .stdout();
        expect(nodes.trim().split("\n").sort()).toEqual(["kind-pipeline-1-37-0-control-plane=True", "kind-pipeline-1-37-0-worker=True"]);
      });
    } finally {
      clusterSessionEnded();
    }
  });
});
