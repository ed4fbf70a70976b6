// Mutation testing of the module (ci/src) with StrykerJS and its vitest runner: `npm run mutation`.
// Apart from `npm test` and CI: a full run takes a while. While working on one file, mutate only it and
// run only the tests that hold it, e.g.
//   STRYKER_TESTS=test/errors.test.ts,test/build.test.ts npx stryker run --mutate ci/src/errors.ts
// Not with --testFiles: StrykerJS 9.6.1 then activates static mutants (module-level values such as the
// transient patterns or the config schema) after their module loaded, and reports them survived
// (stryker-js#6144). STRYKER_TESTS narrows vitest's own file list instead (stryker.config.vitest.mjs).
// Reports: reports/mutation/index.html and reports/mutation/mutation.json.
// StrykerJS 9.6.1: version 10 refuses Node 20, the Node this project runs on.

// STRYKER_REPORTS names another report directory, so that two runs on different files can go side by side.
const reports = process.env.STRYKER_REPORTS ?? "reports/mutation";

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: process.env.STRYKER_TESTS ? "stryker.config.vitest.mjs" : "vitest.config.ts" },
  mutate: ["ci/src/**/*.ts"],
  // Run on shared, small machines: one test process at a time.
  concurrency: 1,
  coverageAnalysis: "perTest",
  // The stand-in engine's tests wait for real sockets and short simulated delays.
  timeoutMS: 10_000,
  ignorePatterns: ["ci/sdk", "ci/dist", "bench/out", "reports", "*.tsbuildinfo", "/kubeconfig", "/*.tar"],
  tempDirName: ".stryker-tmp",
  // Only the mutated module loses its type checks in the sandbox: by default Stryker adds @ts-nocheck to every
  // src/ and test/ file, which empties the type check examples.test.ts runs on examples/compose/src.
  disableTypeChecks: "ci/src/**/*.ts",
  cleanTempDir: true,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: `${reports}/index.html` },
  jsonReporter: { fileName: `${reports}/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false },
  thresholds: { high: 90, low: 80, break: null },
};
