import { vi } from "vitest";

/**
 * A reply pattern that matches like `pattern` and, when the engine receives a leaf it matches, moves
 * vitest's fake clock on by `ms`: that call took exactly `ms` (timers scheduled within it fire as they would).
 */
export class Taking extends RegExp {
  constructor(
    pattern: RegExp,
    private readonly ms: number,
  ) {
    super(pattern.source, pattern.flags);
  }

  override test(text: string): boolean {
    const hit = super.test(text);
    if (hit) vi.advanceTimersByTime(this.ms);
    return hit;
  }
}
