/**
 * Test helper: polls `fn` until it gives something other than undefined (a run that ended, a row that
 * appeared), or fails after `timeoutMs` naming `what`. Integration tests wait on real processes and
 * timers this way instead of sleeping a fixed time.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
  pollMs = 20,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
