import { planCommand } from "./plan-command.js";

process.exitCode = await planCommand(process.argv.slice(2), process);
