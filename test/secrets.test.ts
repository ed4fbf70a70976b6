/**
 * How the config's secret references meet the secrets a caller passes: `env:X` and `env://X` are one
 * reference, whatever follows the scheme is left as written, and a missing secret stops the run with the
 * flags that pass every secret the config names.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../ci/src/config.js";
import type { Run } from "../ci/src/run.js";
import { normalizeReference, passedSecrets } from "../ci/src/secrets.js";

describe("secret references", () => {
  it("env:X is env://X; a reference with its // is left as it is, colons after the scheme included", () => {
    expect(normalizeReference("env:PIP_TOKEN")).toBe("env://PIP_TOKEN");
    expect(normalizeReference("env://PIP_TOKEN")).toBe("env://PIP_TOKEN");
    expect(normalizeReference("cmd://cat /run/secrets/token:v2")).toBe("cmd://cat /run/secrets/token:v2");
    expect(normalizeReference("file:/run/secrets/a:b")).toBe("file:///run/secrets/a:b");
  });

  it("secrets not passed: a ConfigError naming each, and one command with a --secrets flag per reference", async () => {
    const run = { secrets: [] } as unknown as Run;
    const wanted = [
      { path: "e2e.0.secrets.HF_TOKEN", reference: "env:HF_TOKEN" },
      { path: "e2e.1.secrets.HF_TOKEN", reference: "env://HF_TOKEN" },
      { path: "e2e.1.secrets.API", reference: "file:///run/api" },
    ];
    const error = await passedSecrets(run, wanted, "step secrets", "test").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message.split("\n")).toEqual([
      "invalid arguments (3 problems):",
      "  e2e.0.secrets.HF_TOKEN: env:HF_TOKEN was not passed to the pipeline",
      "  e2e.1.secrets.HF_TOKEN: env://HF_TOKEN was not passed to the pipeline",
      "  e2e.1.secrets.API: file:///run/api was not passed to the pipeline",
      "Pass the step secrets as Dagger secrets: dagger call --secrets=env://HF_TOKEN --secrets=file:///run/api test",
    ]);
  });

  it("nothing wanted: nothing is read, not even the passed secrets", async () => {
    const run = { get secrets(): never { throw new Error("read") } } as unknown as Run;
    expect(await passedSecrets(run, [], "step secrets", "test")).toEqual(new Map());
  });
});
