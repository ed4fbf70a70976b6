/**
 * Writes kind-pipeline.schema.json from the zod schema, for editors (yaml-language-server) to validate and
 * complete kind-pipeline.yaml. `npm run schema`; a test fails when the committed file is stale.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { configJsonSchema } from "../ci/src/config-schema.js";

const target = resolve(import.meta.dirname, "../kind-pipeline.schema.json");
writeFileSync(target, configJsonSchema());
console.log(`wrote ${target}`);
