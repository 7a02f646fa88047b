/**
 * Waiting on real things in tests (sockets, processes, kernel state): wall-clock polling.
 * Devices never do this; they read an injected clock.
 */

/**
 * Polls `check` every `intervalMs` (a ref'd timer keeps the test alive) until it returns true;
 * rejects with "timed out waiting for `what`" after `timeoutMs`.
 */
export async function waitFor(
  check: () => boolean,
  opts: { what?: string; timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 5));
  }
}
