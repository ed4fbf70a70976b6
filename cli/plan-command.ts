import { parseArgs } from "node:util";
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from "../ci/src/config.js";
import { planPipeline, renderPlan } from "../ci/src/plan.js";
import { localSourceTree } from "./local-source-tree.js";

const USAGE = `usage: npm run plan -- [--source DIR] [--config FILE] [--kubernetes 1.37.0[,1.36.4]] [--images jax[,pytorch]]

Prints the stage graph of kind-pipeline for a project on this machine, without an engine and without
running anything. The same code runs as \`dagger call plan\`.
Exit status: 0 with the plan, 2 with the problems of an invalid config or arguments.`;

/** Where the command writes. */
export interface Output {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** `npm run plan`: validates the config under --source and prints the plan. Returns the exit status. */
export async function planCommand(argv: string[], out: Output): Promise<number> {
  let options;
  try {
    ({ values: options } = parseArgs({
      args: argv,
      options: {
        source: { type: "string", default: "." },
        config: { type: "string", default: DEFAULT_CONFIG_FILE },
        kubernetes: { type: "string", multiple: true },
        images: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    out.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    out.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!(await localSourceTree(options.source).exists(".", "directory"))) {
    out.stderr.write(`--source ${options.source}: directory not found\n`);
    return 2;
  }
  try {
    const config = await loadConfig(localSourceTree(options.source), options.config);
    const plan = planPipeline(config, { kubernetes: options.kubernetes, images: options.images });
    out.stdout.write(renderPlan(plan));
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    out.stderr.write(`${error.message}\n`);
    return 2;
  }
}
