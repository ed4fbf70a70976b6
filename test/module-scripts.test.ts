/**
 * The module's scripts as containers get them: only those named, by name, in one order whatever the order
 * asked, so that the same scripts make the same definition (and the same cache entry on the engine).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { scriptContents, SCRIPTS_PATH } from "../ci/src/scripts.js";

const script = (name: string) => readFileSync(new URL(`../ci/scripts/${name}`, import.meta.url), "utf8");

describe("scriptContents", () => {
  it("holds exactly the named scripts, each with its file's contents, sorted by name", () => {
    const contents = scriptContents(["save-node-image.sh", "dockerd.sh"]);
    expect(Object.keys(contents)).toEqual(["dockerd.sh", "save-node-image.sh"]);
    expect(contents).toEqual({ "dockerd.sh": script("dockerd.sh"), "save-node-image.sh": script("save-node-image.sh") });
  });

  it("does not change the order of the list it is given", () => {
    const names = ["save-node-image.sh", "dockerd.sh"];
    scriptContents(names);
    expect(names).toEqual(["save-node-image.sh", "dockerd.sh"]);
  });

  it("fails for a script that does not exist, rather than mounting less than was asked", () => {
    expect(() => scriptContents(["no-such-script.sh"])).toThrow(/ENOENT/);
  });

  it("are mounted at /kind-pipeline/scripts", () => {
    expect(SCRIPTS_PATH).toBe("/kind-pipeline/scripts");
  });
});
