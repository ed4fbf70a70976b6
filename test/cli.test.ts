/**
 * `npm run plan`: the plan without an engine, exit 2 and the problems for a bad config.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { planCommand } from "../cli/plan-command.js";
import { projectTree, REPO_ROOT } from "./support/projects.js";

async function runPlan(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const status = await planCommand(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { status, stdout, stderr };
}

const broken = projectTree({
  "kind-pipeline.yaml": "images:\n  jax: { context: images/jax }\ne2e:\n  - { name: smoke, needs: [torch], run: [x] }\n",
});

describe("npm run plan", () => {
  it("says so when the --source directory does not exist", async () => {
    expect(await runPlan("--source", "/nonexistent/kind-pipeline-project")).toEqual({ status: 2, stdout: "", stderr: "--source /nonexistent/kind-pipeline-project: directory not found\n" });
  });

  it("prints the embedded example's plan and exits 0", async () => {
    const result = await runPlan("--source", REPO_ROOT);
    expect(result).toMatchObject({ status: 0, stderr: "" });
    expect(result.stdout.split("\n").slice(0, 5)).toEqual([
      "1. build — 1 image in parallel; all must succeed before any later stage starts",
      "   - jax: context images/jax; dockerfile images/jax/Dockerfile; target runtime; args JAX_VERSION=0.6.2",
      "   - pytorch: skipped (optional; select it with --images)",
      "   - xgboost: skipped (optional; select it with --images)",
      "2. cluster — kind v0.33.0, one Docker-in-Docker service per Kubernetes version, as many at a time as the engine's memory and CPUs hold",
    ]);
    expect(result.stdout).toMatch(/jax-smoke: runs \["sh","test\/e2e\/run\.sh","jax"\]; image the pinned step image \(kubectl, kind, helm, kustomize, docker\); needs jax; timeout 10m/);
  });

  it("takes --kubernetes and --images, repeated or comma-separated", async () => {
    const { status, stdout } = await runPlan("--source", REPO_ROOT, "--images", "jax,pytorch", "--images", "xgboost", "--kubernetes", "1.36.4");
    expect(status).toBe(0);
    expect(stdout).toMatch(/1\. build — 3 images/);
    expect(stdout).toMatch(/- 1\.36\.4: kind-pipeline-1-36-4/);
  });

  it("exits 2 with every problem of a bad config on stderr, and nothing on stdout", async () => {
    const { status, stdout, stderr } = await runPlan("--source", broken);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.split("\n").slice(0, 3)).toEqual([
      "invalid kind-pipeline.yaml (2 problems):",
      "  images.jax.context: directory not found: images/jax (line 2)",
      '  e2e.0.needs.0: unknown image "torch" (configured images: jax) (line 4)',
    ]);
  });

  it("exits 2 for a missing config, unknown images and unknown options", async () => {
    expect(await runPlan("--source", REPO_ROOT, "--config", "nope.yaml")).toMatchObject({ status: 2, stderr: expect.stringMatching(/file not found: nope\.yaml/) });
    expect(await runPlan("--source", REPO_ROOT, "--images", "mxnet")).toMatchObject({ status: 2, stderr: expect.stringMatching(/unknown image "mxnet"/) });
    expect(await runPlan("--sources", ".")).toMatchObject({ status: 2, stderr: expect.stringMatching(/^Unknown option '--sources'.*\nusage: npm run plan/s) });
  });

  it("runs as a command: exit status 2, no stack trace", async () => {
    const tsx = join(REPO_ROOT, "node_modules/.bin/tsx");
    const run = promisify(execFile)(tsx, ["cli/plan.ts", "--source", broken], { cwd: REPO_ROOT });
    const error = (await run.catch((e: unknown) => e)) as { code: number; stdout: string; stderr: string };
    expect(error.code).toBe(2);
    expect(error.stderr).toMatch(/^invalid kind-pipeline\.yaml \(2 problems\):/);
    expect(error.stderr).not.toMatch(/\n\s+at /);
    const ok = await promisify(execFile)(tsx, ["cli/plan.ts"], { cwd: REPO_ROOT });
    expect(ok.stdout).toMatch(/^1\. build/);
  });
});
