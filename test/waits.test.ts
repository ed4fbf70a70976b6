/**
 * Every wait's unit and bound, on a fake clock: `withTimeout` counts seconds, `sleep` and `poll` count
 * milliseconds, and polling sleeps between attempts only.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { poll, sleep, withTimeout } from "../ci/src/waits.js";

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Tracks whether a promise has settled, and how. */
function watch<T>(promise: Promise<T>): { settled: () => boolean; outcome: Promise<{ value?: T; error?: unknown }> } {
  let done = false;
  const outcome = promise.then(
    (value) => ((done = true), { value }),
    (error: unknown) => ((done = true), { error }),
  );
  return { settled: () => done, outcome };
}

const never = () => new Promise<never>(() => {});

describe("sleep", () => {
  test("resolves after the given milliseconds, not before", async () => {
    const slept = watch(sleep(1500));
    await vi.advanceTimersByTimeAsync(1499);
    expect(slept.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(slept.settled()).toBe(true);
  });
});

describe("withTimeout: the limit is in seconds", () => {
  test("a 1 s limit rejects after 1 s, not after 0.1 s or 1 ms", async () => {
    const expired = new Error("took too long");
    const onTimeout = vi.fn(() => expired);
    const waited = watch(withTimeout(never(), 1, onTimeout));
    await vi.advanceTimersByTimeAsync(999);
    expect(waited.settled()).toBe(false);
    expect(onTimeout).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(waited.settled()).toBe(true);
    expect(await waited.outcome).toEqual({ error: expired });
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  test("a 30 minute limit (the build default, 1800 s) waits 30 minutes", async () => {
    const waited = watch(withTimeout(never(), 1800, () => new Error("did not finish within 1800s")));
    await vi.advanceTimersByTimeAsync(1800 * 1000 - 1);
    expect(waited.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await waited.outcome).error).toEqual(new Error("did not finish within 1800s"));
  });

  test("settles with the promise when it is first, and leaves no timer behind", async () => {
    const onTimeout = vi.fn(() => new Error("late"));
    const waited = watch(withTimeout(sleep(500).then(() => "built"), 1, onTimeout));
    await vi.advanceTimersByTimeAsync(500);
    expect(await waited.outcome).toEqual({ value: "built" });
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(onTimeout).not.toHaveBeenCalled();
  });

  test("a rejection of the promise passes through, and leaves no timer behind", async () => {
    const failure = new Error("exit code 1");
    const waited = watch(withTimeout(Promise.reject(failure), 60, () => new Error("late")));
    expect(await waited.outcome).toEqual({ error: failure });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("poll: attempts, the interval in milliseconds, no sleep after the last", () => {
  test("every attempt empty: `attempts` calls, `intervalMs` apart, undefined right after the last", async () => {
    const calls: [number, number][] = [];
    const attempt = vi.fn(async (n: number) => {
      calls.push([n, Date.now()]);
      return undefined;
    });
    const start = Date.now();
    const polled = watch(poll(3, 1000, attempt));
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls.map(([n]) => n)).toEqual([1, 2]);
    expect(polled.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([
      [1, start],
      [2, start + 1000],
      [3, start + 2000],
    ]);
    // The last attempt is not followed by a sleep: the result is there at once.
    expect(polled.settled()).toBe(true);
    expect(await polled.outcome).toEqual({ value: undefined });
    expect(vi.getTimerCount()).toBe(0);
  });

  test("stops at the first attempt that returns a value, and returns it", async () => {
    const attempt = vi.fn(async (n: number) => (n === 2 ? `ready at ${n}` : undefined));
    const polled = watch(poll(5, 250, attempt));
    await vi.advanceTimersByTimeAsync(250);
    expect(await polled.outcome).toEqual({ value: "ready at 2" });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(attempt).toHaveBeenCalledTimes(2);
  });

  test("a first attempt with a value returns without sleeping", async () => {
    const polled = watch(poll(3, 60_000, async () => "ready"));
    await vi.advanceTimersByTimeAsync(0);
    expect(polled.settled()).toBe(true);
    expect(await polled.outcome).toEqual({ value: "ready" });
  });

  test("any value but undefined counts, falsy ones included", async () => {
    for (const value of [0, "", false, null]) {
      const attempt = vi.fn(async () => value);
      const polled = watch(poll(3, 10, attempt));
      await vi.advanceTimersByTimeAsync(0);
      expect(await polled.outcome).toEqual({ value });
      expect(attempt).toHaveBeenCalledTimes(1);
    }
  });

  test("one attempt: called once, no sleep at all", async () => {
    const attempt = vi.fn(async () => undefined);
    const polled = watch(poll(1, 60_000, attempt));
    await vi.advanceTimersByTimeAsync(0);
    expect(polled.settled()).toBe(true);
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  test("no attempts: nothing is called", async () => {
    const attempt = vi.fn(async () => "x");
    expect(await poll(0, 10, attempt)).toBeUndefined();
    expect(attempt).not.toHaveBeenCalled();
  });
});
