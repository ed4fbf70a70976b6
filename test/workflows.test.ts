/**
 * .github/workflows/ci.yml, read as GitHub reads it: every action pinned by commit, the Dagger CLI it
 * installs equal to dagger.json's engineVersion, and the real-engine tier wired as `npm run test:engine`.
 * What only GitHub can check (the runner, the actions' behaviour, the engine) is the workflow's own run.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { engineVersion, normalizeVersion } from "./support/dagger-cli.js";
import { REPO_ROOT } from "./support/projects.js";

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  "runs-on"?: string;
  "timeout-minutes"?: number;
  permissions?: Record<string, string>;
  uses?: string;
  steps?: Step[];
}
interface Workflow {
  on?: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs?: Record<string, Job>;
}

const path = join(REPO_ROOT, ".github/workflows/ci.yml");
const text = readFileSync(path, "utf8");
const document = parseDocument(text);
const workflow = document.toJS() as Workflow;
const jobs = workflow.jobs ?? {};
const allUses = Object.entries(jobs).flatMap(([job, j]) => [
  ...(j.uses ? [{ job, uses: j.uses }] : []),
  ...(j.steps ?? []).filter((s) => s.uses).map((s) => ({ job, uses: s.uses as string })),
]);

describe(".github/workflows/ci.yml", () => {
  it("is valid YAML with jobs unit, engine and publish, on push, pull_request and a nightly schedule", () => {
    expect(document.errors).toEqual([]);
    expect(Object.keys(jobs)).toEqual(["unit", "engine", "publish"]);
    expect(Object.keys(workflow.on ?? {}).sort()).toEqual(["pull_request", "push", "schedule"]);
    expect(workflow.on?.schedule).toEqual([{ cron: expect.stringMatching(/^\d+ \d+ \* \* \*$/) }]);
  });

  it("pins every action by a 40-hex commit SHA, with the tag it came from in a comment", () => {
    expect(allUses.length).toBeGreaterThanOrEqual(5);
    for (const { job, uses } of allUses) {
      expect(uses, `${job}: ${uses}`).toMatch(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(\/[^@\s]+)?@[0-9a-f]{40}$/);
    }
    const usesLines = text.split("\n").filter((line) => /^\s*(-\s+)?uses:/.test(line));
    expect(usesLines).toHaveLength(allUses.length);
    for (const line of usesLines) expect(line, line).toMatch(/@[0-9a-f]{40} # v\d+(\.\d+){0,2}\s*$/);
  });

  it("installs the Dagger CLI of dagger.json's engineVersion with the official action, in every job that calls dagger", () => {
    for (const job of ["engine", "publish"]) {
      const daggerSteps = (jobs[job]?.steps ?? []).filter((s) => s.uses?.startsWith("dagger/dagger-for-github@"));
      expect(daggerSteps, job).toHaveLength(1);
      const version = String(daggerSteps[0]?.with?.version ?? "");
      expect(normalizeVersion(version), `${job} installs Dagger ${version}, dagger.json says ${engineVersion()}`).toBe(normalizeVersion(engineVersion()));
      // installs only: the action runs no dagger command of its own
      expect(Object.keys(daggerSteps[0]?.with ?? {})).toEqual(["version"]);
    }
  });

  it("publish: only on pushes to the default branch and v-tags, after the engine job tested the images, the token as a Dagger secret", () => {
    const publish = jobs.publish as Job & { if?: string; env?: Record<string, string> };
    expect(publish.needs).toBe("engine");
    expect(publish.if).toMatch(/github\.event_name == 'push'/);
    expect(publish.if).toMatch(/default_branch/);
    expect(publish.if).toMatch(/refs\/tags\/v/);
    expect(publish.permissions).toEqual({ contents: "read", "packages": "write" });
    const run = (publish.steps ?? []).map((s) => s.run ?? "").join("\n");
    expect(run).toMatch(/dagger call -m \. -o published\.txt publish --skip-tests --token=env:\/\/GITHUB_TOKEN/);
    expect(run).not.toMatch(/\$\{\{\s*secrets\./);
  });

  it("bounds every job, and grants no permission beyond reading contents, writing checks and (publish only) packages", () => {
    expect(workflow.permissions).toEqual({ contents: "read" });
    for (const [name, job] of Object.entries(jobs)) {
      expect(job["timeout-minutes"], `${name}: timeout-minutes`).toBeGreaterThan(0);
      expect(job["runs-on"], name).toBe("ubuntu-latest");
      for (const [scope, level] of Object.entries(job.permissions ?? {})) {
        expect(`${scope}: ${level}`, name).toMatch(name === "publish" ? /^contents: read$|^packages: write$/ : /^contents: read$|^checks: write$/);
      }
    }
  });

  it("unit: Node 20.20, npm ci && npm test", () => {
    const steps = jobs.unit?.steps ?? [];
    expect(steps.find((s) => s.uses?.startsWith("actions/setup-node@"))?.with?.["node-version"]).toBe("20.20");
    expect(steps.map((s) => s.run).filter(Boolean)).toEqual(["npm ci && npm test"]);
  });

  it("engine: after unit, the real-engine tier, then the report exported, uploaded and shown whatever happened", () => {
    const engine = jobs.engine as Job;
    expect(engine.needs).toBe("unit");
    const steps = engine.steps ?? [];
    expect(steps.find((s) => s.uses?.startsWith("actions/setup-node@"))?.with?.["node-version"]).toBe("20.20");
    const tier = steps.findIndex((s) => s.run === "npm run test:engine");
    const report = steps.findIndex((s) => /dagger --progress=plain call -m \. test-report export --path report/.test(s.run ?? ""));
    const upload = steps.findIndex((s) => s.uses?.startsWith("actions/upload-artifact@"));
    const junit = steps.findIndex((s) => s.uses?.startsWith("mikepenz/action-junit-report@"));
    expect([tier, report, upload, junit].every((i) => i >= 0), JSON.stringify({ tier, report, upload, junit })).toBe(true);
    expect(tier < report && report < upload && report < junit).toBe(true);
    expect(steps[tier]?.env?.DAGGER_E2E_REPORT_DIR).toBe("${{ github.workspace }}/report");
    for (const i of [report, upload, junit]) expect(steps[i]?.if, steps[i]?.name ?? steps[i]?.uses).toMatch(/^always\(\)/);
    expect(String(steps[upload]?.with?.path)).toMatch(/^report\/$/m);
    expect(steps[junit]?.with?.report_paths).toBe("report/junit.xml");
  });

  it("npm run test:engine runs both real-engine files, one after the other, with DAGGER_E2E=1", () => {
    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    const words = (scripts["test:engine"] ?? "").split(/\s+/);
    expect(words.slice(0, 3)).toEqual(["DAGGER_E2E=1", "vitest", "run"]);
    expect(words).toContain("--no-file-parallelism");
    expect(words.filter((w) => w.endsWith(".test.ts")).sort()).toEqual(["test/real-engine-cli.test.ts", "test/real-engine.test.ts"]);
  });
});
