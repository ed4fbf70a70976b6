/**
 * The registered module: what `dagger functions` will show (through the SDK's own introspector), that
 * the README's table is that, and that the module's functions run on the stand-in engine.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { dag } from "@dagger.io/dagger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KindPipeline } from "../ci/src/index.js";
import { functionTable, scanModule, type ScannedModule } from "../cli/module-scan.js";
import { readSection } from "../cli/readme.js";
import { engineTest } from "./support/harness.js";
import { projectTree, REPO_EXCLUDES, REPO_ROOT } from "./support/projects.js";
import { planCommand } from "../cli/plan-command.js";

/** Functions and arguments without a description: `dagger functions` and `--help` would show them bare. */
function undocumented(module: ScannedModule): string[] {
  return [
    ...(module.objectDescription ? [] : [module.objectName]),
    ...module.constructorArguments.filter((a) => !a.description).map((a) => `constructor.${a.name}`),
    ...module.functions.flatMap((fn) => [
      ...(fn.description ? [] : [fn.name]),
      ...fn.arguments.filter((a) => !a.description).map((a) => `${fn.name}.${a.name}`),
    ]),
    ...module.types.flatMap((type) => [
      ...(type.description ? [] : [type.name]),
      ...type.fields.filter((f) => !f.description).map((f) => `${type.name}.${f.name}`),
    ]),
  ];
}

/**
 * Exposed fields (`@func()` or `@field()` properties of a class) whose TypeScript type may be empty: an
 * optional property, or a type with undefined or null in it. The SDK registers every field as non-null
 * whatever its TypeScript type (entrypoint/register.js gives `withOptional` to arguments only), so such a
 * field, once empty, would fail `dagger call` with a raw GraphQL error instead of answering null.
 */
function emptyableFields(sourceDir: string): string[] {
  const found: string[] = [];
  for (const file of readdirSync(sourceDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))) {
    const source = ts.createSourceFile(file, readFileSync(join(sourceDir, file), "utf8"), ts.ScriptTarget.ES2022, true);
    for (const node of source.statements) {
      if (!ts.isClassDeclaration(node)) continue;
      for (const member of node.members) {
        if (!ts.isPropertyDeclaration(member)) continue;
        const exposed = (ts.getDecorators(member) ?? []).some((d) => ts.isCallExpression(d.expression) && ["func", "field"].includes(d.expression.expression.getText(source)));
        const emptyable = member.questionToken !== undefined || /\b(undefined|null)\b/.test(member.type?.getText(source) ?? "");
        if (exposed && emptyable) found.push(`${node.name?.text}.${member.name.getText(source)}`);
      }
    }
  }
  return found;
}

describe("registration (the scan the TypeScript runtime does)", () => {
  let module: ScannedModule;
  beforeAll(async () => {
    module = await scanModule();
  });

  it("registers KindPipeline with source defaulting to the repository, minus what never belongs in a build", () => {
    expect(module.objectName).toBe("KindPipeline");
    expect(module.moduleDescription).toMatch(/^kind-pipeline: CI for Kubernetes operators/);
    expect(module.constructorArguments).toEqual([
      expect.objectContaining({ name: "source", type: "Directory", defaultPath: "/", ignore: ["**/node_modules", ".git", "ci/sdk", "bench/out", "**/*.tsbuildinfo"] }),
      expect.objectContaining({ name: "config", type: "string", defaultValue: "kind-pipeline.yaml" }),
      expect.objectContaining({ name: "secrets", type: "Secret[]", optional: true }),
    ]);
  });

  it("registers each function with its arguments, types and cache policy", () => {
    const shape = module.functions.map(({ name, returns, cache, arguments: args }) => ({
      name,
      returns,
      cache,
      args: args.map((a) => `${a.name}${a.optional ? "?" : ""}: ${a.type}`),
    }));
    expect(shape).toEqual([
      { name: "plan", returns: "string", cache: undefined, args: ["kubernetes?: string[]", "images?: string[]"] },
      { name: "build", returns: "Container", cache: undefined, args: ["image: string"] },
      { name: "buildAll", returns: "Container[]", cache: undefined, args: ["images?: string[]"] },
      { name: "nodeImage", returns: "NodeImage", cache: undefined, args: ["kubernetes?: string"] },
      { name: "cluster", returns: "Service", cache: "never", args: ["kubernetes?: string", "images?: string[]"] },
      { name: "kubeconfig", returns: "File", cache: "never", args: ["kubernetes?: string", "local: boolean", "images?: string[]"] },
      { name: "test", returns: "string", cache: "never", args: ["kubernetes?: string[]", "images?: string[]", "failFast: boolean"] },
      { name: "testReport", returns: "Directory", cache: "never", args: ["kubernetes?: string[]", "images?: string[]", "failFast: boolean"] },
      {
        name: "publish",
        returns: "string",
        cache: "never",
        args: [
          "token?: Secret",
          "tokens?: Secret[]",
          "revision?: string",
          "pullRequest?: string",
          "version?: string",
          "tags?: string[]",
          "images?: string[]",
          "kubernetes?: string[]",
          "skipTests: boolean",
          "overwrite: boolean",
        ],
      },
      { name: "schema", returns: "string", cache: undefined, args: [] },
    ]);
    expect(module.functions.filter((fn) => fn.up).map((fn) => fn.name)).toEqual(["cluster"]);
    const defaults = module.functions.flatMap((fn) => fn.arguments.filter((a) => a.defaultValue !== undefined).map((a) => `${fn.name}.${a.name}=${String(a.defaultValue)}`));
    expect(defaults).toEqual(["kubeconfig.local=false", "test.failFast=false", "testReport.failFast=false", "publish.skipTests=false", "publish.overwrite=false"]);
    expect(module.types).toEqual([
      {
        name: "NodeImage",
        description: expect.any(String),
        fields: [
          { name: "kubernetes", description: expect.any(String), type: "string" },
          { name: "ref", description: expect.any(String), type: "string" },
          { name: "published", description: expect.any(String), type: "boolean" },
          { name: "archive", description: expect.any(String), type: "File" },
        ],
      },
    ]);
  });

  it("registers every field non-null, so no exposed field may be empty (NodeImage.archive included)", () => {
    expect(module.types.find((t) => t.name === "NodeImage")?.fields.find((f) => f.name === "archive")).toMatchObject({ type: "File" });
    expect(emptyableFields(join(REPO_ROOT, "ci/src"))).toEqual([]);
    const sample = mkdtempSync(join(tmpdir(), "kind-pipeline-fields-"));
    try {
      writeFileSync(join(sample, "node.ts"), "@object()\nexport class NodeImage {\n  @func()\n  ref: string;\n  @func()\n  archive?: File;\n  @func()\n  digest: string | undefined;\n  note?: string;\n}\n");
      expect(emptyableFields(sample)).toEqual(["NodeImage.archive", "NodeImage.digest"]);
    } finally {
      rmSync(sample, { recursive: true, force: true });
    }
  });

  it("describes the module, every function and every argument", () => {
    expect(undocumented(module)).toEqual([]);
  });

  it("is what the README's function table shows (run `npm run docs` when this fails)", () => {
    expect(readSection(readFileSync(join(REPO_ROOT, "README.md"), "utf8"), "functions")).toBe(functionTable(module));
  });

  describe("when a function loses its description", () => {
    // A copy of the module inside ci/node_modules, so that its imports resolve as the module's do.
    let copy: string;
    beforeAll(() => {
      copy = mkdtempSync(join(REPO_ROOT, "ci/node_modules/.kind-pipeline-scan-"));
      cpSync(join(REPO_ROOT, "ci/src"), copy, { recursive: true });
      const index = join(copy, "index.ts");
      const source = readFileSync(index, "utf8");
      const withoutDoc = source.replace(/\/\*\*\n\s+\* The JSON Schema of kind-pipeline\.yaml[\s\S]*?\*\/\n(\s+@func\(\)\n\s+schema\(\))/, "$1");
      expect(withoutDoc).not.toBe(source);
      writeFileSync(index, withoutDoc);
    });
    afterAll(() => rmSync(copy, { recursive: true, force: true }));

    it("the check names it", async () => {
      expect(undocumented(await scanModule(copy))).toEqual(["schema"]);
    });
  });
});

describe("plan on the stand-in engine", () => {
  const repo = () => dag.host().directory(REPO_ROOT, { exclude: REPO_EXCLUDES });

  engineTest("prints the same plan as the local command, reading the source through the engine", async ({ engine }) => {
    const text = await engine.run(() => new KindPipeline(repo(), "kind-pipeline.yaml").plan());
    let local = "";
    await planCommand(["--source", REPO_ROOT], { stdout: { write: (t: string) => (local += t) }, stderr: process.stderr });
    expect(text).toBe(local);
    expect(engine.find("kind-pipeline.yaml", { leaf: "contents" })).toHaveLength(1);
    expect(engine.find(/exists\(path:"images\/jax",expectedType:DIRECTORY_TYPE\)$/)).toHaveLength(1);
    expect(engine.find(/exists\(path:"images\/jax\/Dockerfile",expectedType:REGULAR_TYPE\)$/)).toHaveLength(1);
    engine.expectNever("container");
  });

  engineTest("fails with every problem of a bad config and runs nothing", async ({ engine }) => {
    const root = projectTree({
      "ci/pipeline.yaml": "images:\n  jax: { context: images/jax }\nkubernetes: { versions: [1.37] }\n",
    });
    const error = await engine.run(() => new KindPipeline(dag.host().directory(root), "ci/pipeline.yaml").plan(["1.36.4"])).catch((e: unknown) => e);
    expect((error as Error).message.split("\n").slice(0, 3)).toEqual([
      "invalid ci/pipeline.yaml (2 problems):",
      "  images.jax.context: directory not found: images/jax (line 2)",
      '  kubernetes.versions.0: must be a string, not number 1.37 as YAML read it: quote it and give all three parts, e.g. "1.37.0" (line 3)',
    ]);
    engine.expectNever("container");
  });

  engineTest("returns the JSON Schema the repository commits", async ({ engine }) => {
    const schema = await engine.run(async () => new KindPipeline(repo(), "kind-pipeline.yaml").schema());
    expect(schema).toBe(readFileSync(join(REPO_ROOT, "kind-pipeline.schema.json"), "utf8"));
    expect(engine.leaves).toEqual([]);
  });
});
