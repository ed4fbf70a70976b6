// Mutation testing of the module (ci/src) with StrykerJS and its vitest runner: `npm run mutation`.
// Apart from `npm test` and CI: a full run takes a while. While working on one file, mutate only it and
// run only the tests that hold it, e.g.
//   npx stryker run --mutate ci/src/errors.ts --testFiles test/errors.test.ts,test/build.test.ts
// Reports: reports/mutation/index.html and reports/mutation/mutation.json.
// StrykerJS 9.6.1: version 10 refuses Node 20, the Node this project runs on.

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.config.ts" },
  mutate: ["ci/src/**/*.ts"],
  // Run on shared, small machines: one test process at a time.
  concurrency: 1,
  coverageAnalysis: "perTest",
  // The stand-in engine's tests wait for real sockets and short simulated delays.
  timeoutMS: 10_000,
  ignorePatterns: ["ci/sdk", "ci/dist", "bench/out", "reports", "*.tsbuildinfo", "/kubeconfig", "/*.tar"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false },
  thresholds: { high: 90, low: 80, break: null },
};
