/**
 * The vitest fixture over the stand-in engine: each test gets its own engine, and fails if any leaf the
 * SDK asked for went unscripted.
 */
import { test as base } from "vitest";
import { StandInEngine } from "./engine.js";

/** `test` with an `engine` fixture: started before the test, stopped after, and no leaf left unscripted. */
export const engineTest = base.extend<{ engine: StandInEngine }>({
  // vitest reads a fixture's dependencies from its first parameter's pattern: this one has none
  engine: async ({}, use) => {
    const engine = await StandInEngine.start();
    try {
      await use(engine);
    } finally {
      await engine.stop();
    }
    assertAllScripted(engine);
  },
});

/** Throws, naming them, when the SDK asked for leaves no script answered: the test did not say what it expects. */
export function assertAllScripted(engine: StandInEngine): void {
  const unscripted = engine.unscripted;
  if (unscripted.length > 0) {
    throw new Error(`the SDK asked for leaves no script answers:\n${unscripted.map((l) => `  ${l.call.display}`).join("\n")}`);
  }
}
