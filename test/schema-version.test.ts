/**
 * The stand-in engine's schema (test/support/dagger-schema.graphqls) must describe the engine dagger.json
 * pins, and the SDK the module installs must be that engine's: this says when they drift apart.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { REPO_ROOT } from "./support/projects.js";
import { MAX_PATCH_LAG, SCHEMA_HEADER, SCHEMA_TAG, schemaDrift } from "./support/schema.js";

const json = (path: string) => JSON.parse(readFileSync(join(REPO_ROOT, path), "utf8"));
const engineVersion: string = json("dagger.json").engineVersion;

describe("the pinned engine, its schema and its SDK", () => {
  test("the schema copy names its source, tag, commit and license on its first line", () => {
    expect(SCHEMA_HEADER).toMatch(/^# dagger\/dagger docs\/docs-graphql\/schema\.graphqls at tag v\d+\.\d+\.\d+ \(commit [0-9a-f]{40}\), Apache License 2\.0 \(Apache-2\.0\)/);
  });

  test(`the schema is of dagger.json's engineVersion, or of a patch at most ${MAX_PATCH_LAG} before it`, () => {
    expect(schemaDrift(engineVersion, SCHEMA_TAG)).toBeUndefined();
  });

  test("ci/package.json installs the SDK of the pinned engine", () => {
    expect(json("ci/package.json").dependencies["@dagger.io/dagger"], "set @dagger.io/dagger in ci/package.json to dagger.json's engineVersion").toBe(engineVersion.replace(/^v/, ""));
  });

  test("a drift says what to do", () => {
    expect(schemaDrift("v0.21.8", "v0.21.8")).toBeUndefined();
    expect(schemaDrift("v0.21.9", "v0.21.8")).toBeUndefined();
    for (const [engine, schema] of [["v0.22.0", "v0.21.8"], ["v0.21.10", "v0.21.8"], ["v0.21.7", "v0.21.8"], ["v1.21.8", "v0.21.8"]]) {
      expect(schemaDrift(engine!, schema!)).toBe(
        `dagger.json pins engineVersion ${engine}, but test/support/dagger-schema.graphqls is the schema of ${schema} (required: the same MAJOR.MINOR, a patch at most 1 behind). ` +
          `Fetch the schema of the new tag (dagger/dagger docs/docs-graphql/schema.graphqls at ${engine}, or the closest published tag before it) and replace the file, with its header line naming the tag and commit.`,
      );
    }
  });
});
