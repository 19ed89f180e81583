// Bounded polling for tests: retries `probe` until it returns a value (not
// undefined) or the deadline passes, then fails with the last observation,
// so a failure says what was seen instead of just "timed out".

export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
}

export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  o: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const intervalMs = o.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  // Bounded by the deadline and, independently, by an attempt count.
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / intervalMs) + 1; attempt++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = 'not yet';
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${o.what ?? 'a condition'}; last: ${String(last)}`,
  );
}
