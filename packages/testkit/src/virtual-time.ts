/**
 * Driving tests that mix Node's event loop (socket events, promises) with virtual time: the
 * userspace stack's sockets emit on the event loop, their timers run on a manual scheduler.
 * Structural types keep testkit free of dependencies (core's `ManualScheduler` fits).
 */

/** A scheduler whose time moves only when told (`ManualScheduler` from `@l3kit/core`). */
export interface VirtualTimeScheduler {
  readonly clock: { now(): number };
  /** Moves virtual time forward by `ms`, running the timers that fall due. */
  advance(ms: number): unknown;
}

/** Lets Node run pending callbacks (nextTick, microtasks, immediates). */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Alternates event-loop turns and `stepMs` of virtual time until `done()` holds; throws once
 * `maxMs` of virtual time passed without it. Returns the virtual time used.
 */
export async function pump(
  sched: VirtualTimeScheduler,
  done: () => boolean,
  maxMs = 600_000,
  stepMs = 10,
): Promise<number> {
  const start = sched.clock.now();
  await tick();
  while (!done()) {
    if (sched.clock.now() - start > maxMs)
      throw new Error(`pump: condition not met after ${maxMs} ms virtual time`);
    sched.advance(stepMs);
    await tick();
  }
  return sched.clock.now() - start;
}
