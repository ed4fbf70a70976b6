/**
 * The real-engine tier: what the stand-in engine cannot show. It runs only with DAGGER_E2E=1 inside a
 * Dagger session (`dagger run npm run test:engine`) and is reported as skipped everywhere else.
 */
import { randomUUID } from "node:crypto";
import { connection, dag } from "@dagger.io/dagger";
import { describe, expect, it } from "vitest";
import { KindPipeline } from "../ci/src/index.js";
import { toolbox } from "../ci/src/tools.js";
import { REPO_EXCLUDES, REPO_ROOT } from "./support/projects.js";

const onRealEngine = process.env.DAGGER_E2E === "1";

describe.skipIf(!onRealEngine)("on a real Dagger engine (DAGGER_E2E=1)", () => {
  it("cluster for the default version: kubectl get nodes shows every node Ready", { timeout: 30 * 60_000 }, async () => {
    await connection(async () => {
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
  });
});
