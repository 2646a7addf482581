/**
 * Poll until a condition holds (Traefik's try.Do): tests never sleep a fixed time, they wait
 * for the state they expect and fail with a message saying what never happened.
 */
export interface WaitOptions {
  /** Give up after this many ms (default 5000). */
  timeout?: number;
  /** Time between attempts in ms (default 25). */
  interval?: number;
  /** What we were waiting for; goes into the timeout error. */
  message?: string;
}

/**
 * Calls `fn` until it returns a truthy value (which is returned) without throwing. A throw
 * counts as "not yet"; the last one is reported on timeout so the failure says why.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeout = opts.timeout ?? 5000;
  const interval = opts.interval ?? 25;
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(1, deadline - Date.now()))));
  }
  const why = last instanceof Error ? last.message : JSON.stringify(last);
  throw new Error(`waitFor: ${opts.message ?? 'condition'} not met within ${timeout} ms (last: ${why})`, { cause: last });
}
