/**
 * The time limits users get by default in the load, e2e and diagnostics stages, in their units (seconds).
 * The stage tests pass short limits; these pin what a real run waits.
 */
import { describe, expect, it } from "vitest";
import { DIAGNOSTICS_SECONDS } from "../ci/src/diagnostics.js";
import { LOAD_TIMEOUT_SECONDS } from "../ci/src/load.js";
import { CLUSTER_CPUS } from "../ci/src/preflight.js";
import { STEP_GRACE_SECONDS } from "../ci/src/steps.js";

describe("stage defaults", () => {
  it("a load may take 15 minutes per image (ctr import of a multi-GB image into every node)", () => {
    expect(LOAD_TIMEOUT_SECONDS).toBe(15 * 60);
  });

  it("a step gets one minute past its own timeout before the pipeline stops waiting for the engine", () => {
    expect(STEP_GRACE_SECONDS).toBe(60);
  });

  it("collecting diagnostics may take 10 minutes (kind export logs included)", () => {
    expect(DIAGNOSTICS_SECONDS).toBe(10 * 60);
  });

  it("a cluster counts for 2 CPUs in the preflight", () => {
    expect(CLUSTER_CPUS).toBe(2);
  });
});
