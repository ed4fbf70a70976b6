/**
 * Every wait has a bound: a time limit on an engine call, and polling with a number of attempts.
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Settles like `promise`, or rejects with `onTimeout()` once `seconds` have passed. The engine call
 * itself is not cancelled (the SDK cannot); the pipeline stops waiting for it and reports why.
 */
export async function withTimeout<T>(promise: Promise<T>, seconds: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), seconds * 1000);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `attempt` up to `attempts` times, `intervalMs` apart, until it returns a value. Returns that
 * value, or undefined when every attempt came back empty.
 */
export async function poll<T>(attempts: number, intervalMs: number, attempt: (n: number) => Promise<T | undefined>): Promise<T | undefined> {
  for (let n = 1; n <= attempts; n++) {
    const result = await attempt(n);
    if (result !== undefined) return result;
    if (n < attempts) await sleep(intervalMs);
  }
  return undefined;
}
