/**
 * Per-peer timers (whitepaper §6) on an injected {@link Scheduler}. A peer has a few deadlines
 * (slots); only one scheduler timer is armed, at the earliest deadline. Moving a deadline later
 * (the common case per packet) only writes a number, so the data path does not allocate timers.
 */
import type { Scheduler, TimerHandle } from '@l3kit/core';

/** Timer slots of a peer. */
export const TimerSlot = {
  /** Retransmit the handshake initiation (REKEY_TIMEOUT + jitter). */
  Retransmit: 0,
  /** Passive keepalive: data was received and nothing sent for KEEPALIVE_TIMEOUT. */
  SendKeepalive: 1,
  /** Data was sent and nothing received for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: new handshake. */
  NewHandshake: 2,
  /** No new handshake for 3 × REJECT_AFTER_TIME: erase all keys. */
  ZeroKeys: 3,
  /** Persistent keepalive interval. */
  PersistentKeepalive: 4,
} as const;

const SLOTS = 5;

/** A set of deadlines sharing one armed scheduler timer. */
export class PeerTimers {
  private readonly at = new Float64Array(SLOTS).fill(Number.POSITIVE_INFINITY);
  private handle: TimerHandle | undefined;
  private stopped = false;
  private readonly fire = (): void => this.onFire();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly onExpire: (slot: number) => void,
  ) {}

  /** Sets `slot`'s deadline to `when` (ms on the scheduler's clock). */
  set(slot: number, when: number): void {
    if (this.stopped) return;
    this.at[slot] = when;
    if (!this.handle || when < this.handle.at) this.arm(when);
  }

  /** Sets `slot` only if it is not already pending. */
  setIfIdle(slot: number, when: number): void {
    if (this.at[slot] === Number.POSITIVE_INFINITY) this.set(slot, when);
  }

  /** Clears `slot` (the armed timer stays; it re-evaluates when it fires). */
  clear(slot: number): void {
    this.at[slot] = Number.POSITIVE_INFINITY;
  }

  /** Whether `slot` has a deadline. */
  pending(slot: number): boolean {
    return this.at[slot] !== Number.POSITIVE_INFINITY;
  }

  /** The deadline of `slot` (Infinity if none). */
  deadline(slot: number): number {
    return this.at[slot];
  }

  /** Cancels everything; later `set` calls are ignored. */
  stop(): void {
    this.stopped = true;
    this.at.fill(Number.POSITIVE_INFINITY);
    this.handle?.cancel();
    this.handle = undefined;
  }

  private arm(when: number): void {
    this.handle?.cancel();
    this.handle = this.scheduler.schedule(when, this.fire);
  }

  private onFire(): void {
    this.handle = undefined;
    if (this.stopped) return;
    const now = this.scheduler.clock.now();
    for (let s = 0; s < SLOTS; s++) {
      if (this.at[s] <= now) {
        this.at[s] = Number.POSITIVE_INFINITY;
        this.onExpire(s);
        if (this.stopped) return;
      }
    }
    let min = Number.POSITIVE_INFINITY;
    for (let s = 0; s < SLOTS; s++) if (this.at[s] < min) min = this.at[s];
    const h = this.handle as TimerHandle | undefined; // onExpire may have armed a timer
    if (min !== Number.POSITIVE_INFINITY && (!h || min < h.at)) this.arm(min);
  }
}
