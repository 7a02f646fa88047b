/**
 * Time for devices. Everything in the packet path reads time from an injected {@link Clock};
 * nothing calls `Date.now()` per packet. Tests use {@link ManualClock}.
 */

/** A source of time in milliseconds. Monotonic for the life of a device. */
export interface Clock {
  now(): number;
}

/**
 * The system clock with a coarse cached time: `now()` returns a value refreshed by a timer
 * every `resolutionMs` (default 10 ms), so reading it per packet costs a property load.
 * The timer is unref'd and does not keep the process alive.
 */
export class SystemClock implements Clock {
  private cached: number;
  private readonly timer: ReturnType<typeof setInterval>;
  constructor(resolutionMs = 10) {
    this.cached = performance.timeOrigin + performance.now();
    this.timer = setInterval(() => {
      this.cached = performance.timeOrigin + performance.now();
    }, resolutionMs);
    this.timer.unref?.();
  }
  now(): number {
    return this.cached;
  }
  /** Stops the refresh timer; `now()` then keeps its last value. */
  close(): void {
    clearInterval(this.timer);
  }
}

let shared: SystemClock | undefined;
/** A process-wide {@link SystemClock}, created on first use. */
export function systemClock(): Clock {
  if (!shared) shared = new SystemClock();
  return shared;
}

/** A clock that moves only when told. For tests and simulations. */
export class ManualClock implements Clock {
  private t: number;
  constructor(startMs = 0) {
    this.t = startMs;
  }
  now(): number {
    return this.t;
  }
  /** Moves time forward by `ms` (must be ≥ 0). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    this.t += ms;
  }
  /** Sets the time (must not go backwards). */
  set(ms: number): void {
    if (ms < this.t) throw new RangeError(`ManualClock.set: time cannot go backwards (${ms} < ${this.t})`);
    this.t = ms;
  }
}
