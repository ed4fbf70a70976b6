// The vitest settings of a mutation run restricted to some test files (STRYKER_TESTS, comma-separated),
// for working on one file: see stryker.config.mjs. The same settings as vitest.config.ts otherwise.
import { fileURLToPath } from "node:url";

const sdk = fileURLToPath(new URL("./ci/node_modules/@dagger.io/dagger/dist/src/index.js", import.meta.url));

export default {
  resolve: { alias: [{ find: /^@dagger\.io\/dagger$/, replacement: sdk }] },
  test: {
    include: (process.env.STRYKER_TESTS ?? "test/**/*.test.ts").split(","),
    env: { OTEL_SDK_DISABLED: "true" },
    testTimeout: 20_000,
    silent: "passed-only",
  },
};
