/**
 * Regenerates the README's function table from the module scan (what `dagger functions` will show).
 * `npm run docs`; a test fails when the README's table differs from the scan.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { functionTable, scanModule } from "./module-scan.js";
import { replaceSection } from "./readme.js";

const readme = resolve(import.meta.dirname, "../README.md");
writeFileSync(readme, replaceSection(readFileSync(readme, "utf8"), "functions", functionTable(await scanModule())));
console.log(`updated the function table in ${readme}`);
