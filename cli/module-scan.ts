/**
 * What `dagger functions` will show: runs the SDK's own introspector over ci/src, the scan the TypeScript
 * runtime does when it loads the module, and summarizes the main object's constructor and functions.
 * The README's function table is generated from this summary (`npm run docs`), and a test checks both.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "..");
const SDK = join(REPO, "ci/node_modules/@dagger.io/dagger/dist/src");

/** One argument as the engine registers it. */
export interface ScannedArgument {
  name: string;
  description: string;
  type: string;
  optional: boolean;
  defaultValue?: unknown;
  defaultPath?: string;
  ignore?: string[];
}

/** One function as the engine registers it. */
export interface ScannedFunction {
  name: string;
  description: string;
  returns: string;
  /** `never`, `session` or a duration; undefined for the engine's default (cached). */
  cache?: string;
  up: boolean;
  check: boolean;
  arguments: ScannedArgument[];
}

/** An object type the module's functions return, with the fields it exposes. */
export interface ScannedType {
  name: string;
  description: string;
  fields: { name: string; description: string; type: string }[];
}

/** The module's main object, and the other object types it registers. */
export interface ScannedModule {
  moduleDescription: string;
  objectName: string;
  objectDescription: string;
  constructorArguments: ScannedArgument[];
  functions: ScannedFunction[];
  types: ScannedType[];
}

interface TypeDef {
  kind: string;
  name?: string;
  typeDef?: TypeDef;
}

/** Scans ci/src (or another module source directory) as the Dagger TypeScript runtime does. */
export async function scanModule(sourceDir = join(REPO, "ci/src"), moduleName = "kind-pipeline"): Promise<ScannedModule> {
  // The runtime scans the generated client.gen.ts along with the module; the published package ships its
  // declarations, which the introspector reads the same way once they carry that file name.
  const generated = mkdtempSync(join(tmpdir(), "kind-pipeline-scan-"));
  const client = join(generated, "client.gen.ts");
  copyFileSync(join(SDK, "api/client.gen.d.ts"), client);
  try {
    const { scan } = (await import(join(SDK, "module/introspector/index.js"))) as {
      scan(files: string[], name: string, load: boolean): Promise<ScanResult>;
    };
    const files = readdirSync(sourceDir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => join(sourceDir, f));
    const result = await scan([...files, client], moduleName, false);
    const [[objectName, object], ...others] = Object.entries(result.objects) as [[string, ScanObject], ...[string, ScanObject][]];
    return {
      moduleDescription: result.description ?? "",
      objectName,
      objectDescription: object.description ?? "",
      constructorArguments: Object.values(object._constructor?.arguments ?? {}).map(summarizeArgument),
      functions: Object.values(object.methods).map((fn) => ({
        name: fn.alias ?? fn.name,
        description: fn.description ?? "",
        returns: typeName(fn.returnType),
        ...(fn.cache && { cache: fn.cache }),
        up: fn.isUp,
        check: fn.isCheck,
        arguments: Object.values(fn.arguments).map(summarizeArgument),
      })),
      types: others.map(([name, other]) => ({
        name,
        description: other.description ?? "",
        fields: Object.values(other.properties)
          .filter((p) => p.isExposed)
          .map((p) => ({ name: p.alias ?? p.name, description: p.description ?? "", type: typeName(p.type) })),
      })),
    };
  } finally {
    rmSync(generated, { recursive: true, force: true });
  }
}

interface ScanArgument {
  name: string;
  description?: string;
  type: TypeDef;
  isOptional: boolean;
  defaultValue?: unknown;
  defaultPath?: string;
  ignore?: string[];
}

interface ScanObject {
  description?: string;
  _constructor?: { arguments: Record<string, ScanArgument> };
  methods: Record<
    string,
    { name: string; alias?: string; description?: string; cache?: string; isUp: boolean; isCheck: boolean; returnType: TypeDef; arguments: Record<string, ScanArgument> }
  >;
  properties: Record<string, { name: string; alias?: string; description?: string; isExposed: boolean; type: TypeDef }>;
}

interface ScanResult {
  description?: string;
  objects: Record<string, ScanObject>;
}

function summarizeArgument(arg: ScanArgument): ScannedArgument {
  return {
    name: arg.name,
    description: arg.description ?? "",
    type: typeName(arg.type),
    optional: arg.isOptional,
    ...(arg.defaultValue !== undefined && { defaultValue: arg.defaultValue }),
    ...(arg.defaultPath !== undefined && { defaultPath: arg.defaultPath }),
    ...(arg.ignore !== undefined && { ignore: arg.ignore }),
  };
}

function typeName(type: TypeDef): string {
  switch (type.kind) {
    case "LIST_KIND":
      return `${typeName(type.typeDef!)}[]`;
    case "OBJECT_KIND":
    case "ENUM_KIND":
    case "INTERFACE_KIND":
      return type.name!;
    case "VOID_KIND":
      return "void";
    default:
      return type.kind.replace(/_KIND$/, "").toLowerCase();
  }
}

/** The README's function table: the module's arguments, then one row per function, generated from the scan. */
export function functionTable(module: ScannedModule): string {
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const argument = (a: ScannedArgument) => {
    const fallback = a.defaultPath
      ? ` = ${a.defaultPath} (the module's repository)`
      : a.defaultValue !== undefined
        ? ` = ${typeof a.defaultValue === "string" ? a.defaultValue : JSON.stringify(a.defaultValue)}`
        : "";
    return `\`${a.name}${a.optional ? "?" : ""}: ${a.type}${fallback}\``;
  };
  const lines = [
    row(["function", "arguments", "returns", "cached", "what it does"]),
    row(["---", "---", "---", "---", "---"]),
    row(["(module)", module.constructorArguments.map(argument).join("<br>"), `\`${module.objectName}\``, "—", module.objectDescription]),
    ...module.functions.map((fn) =>
      row([
        `\`${kebab(fn.name)}\``,
        fn.arguments.map(argument).join("<br>") || "—",
        `\`${fn.returns}\``,
        fn.cache ?? "yes",
        fn.description.replace(/\s*\n\s*/g, " "),
      ]),
    ),
    ...module.types.flatMap((type) => [
      "",
      `\`${type.name}\`: ${type.description}`,
      "",
      row(["field", "type", "what it is"]),
      row(["---", "---", "---"]),
      ...type.fields.map((f) => row([`\`${kebab(f.name)}\``, `\`${f.type}\``, f.description.replace(/\s*\n\s*/g, " ")])),
    ]),
  ];
  return lines.join("\n") + "\n";
}

/** Dagger's CLI name of a function: `buildAll` → `build-all`. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
