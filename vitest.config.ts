import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The module (ci/src) and the tests must share one copy of the Dagger SDK: the one the module depends
// on, in ci/node_modules. Two copies would mean two `dag` clients and two `ExecError` classes.
const sdk = fileURLToPath(new URL("./ci/node_modules/@dagger.io/dagger/dist/src/index.js", import.meta.url));

export default defineConfig({
  resolve: { alias: [{ find: /^@dagger\.io\/dagger$/, replacement: sdk }] },
  test: {
    include: ["test/**/*.test.ts"],
    env: { OTEL_SDK_DISABLED: "true" },
    testTimeout: 20_000,
    // The module's status lines go to stderr; show them for failing tests only.
    silent: "passed-only",
  },
});
