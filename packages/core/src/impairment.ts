/**
 * Impairment: a link that loses, delays, jitters, reorders, duplicates, corrupts and rate-limits
 * packets, reproducibly (every random decision comes from a seeded PRNG). This machine's kernel
 * has no netem; tests and demos use this instead.
 *
 * Time: delayed delivery needs timers. They come from a {@link Scheduler}: {@link ManualScheduler}
 * for deterministic tests (time moves only when the test calls `advance`), {@link TimerScheduler}
 * for real time (`setTimeout`, unref'd). The same scheduler abstraction drives `@l3kit/stack`.
 */
import type { Prefix } from '@l3kit/wire';
import { type Clock, ManualClock, systemClock } from './clock.js';
import { discard, type L3Device, type PacketHandler } from './device.js';
import { ConfigError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Scheduler

/** A scheduled callback; `cancel()` stops it from running (idempotent). */
export interface TimerHandle {
  /** The time (ms, on the scheduler's clock) the callback is due. */
  readonly at: number;
  cancel(): void;
}

/**
 * Runs callbacks at points in time of a {@link Clock}. Devices that need timers (retransmission,
 * delayed delivery) take one, so tests can drive them deterministically.
 */
export interface Scheduler {
  /** The clock the deadlines refer to. */
  readonly clock: Clock;
  /** Runs `fn` once `clock.now() >= at`. Callbacks due at the same time run in scheduling order. */
  schedule(at: number, fn: () => void): TimerHandle;
}

class ManualTimer implements TimerHandle {
  cancelled = false;
  constructor(
    readonly at: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
  cancel(): void {
    this.cancelled = true;
  }
}

/**
 * A scheduler over a {@link ManualClock}: nothing happens until the test calls {@link advance}
 * (or {@link runDue}), which moves the clock timer by timer and runs each callback at its due
 * time. Deterministic: same inputs, same order of events.
 */
export class ManualScheduler implements Scheduler {
  readonly clock: ManualClock;
  private heap: ManualTimer[] = [];
  private seq = 0;

  constructor(clock: ManualClock = new ManualClock()) {
    this.clock = clock;
  }

  schedule(at: number, fn: () => void): TimerHandle {
    const t = new ManualTimer(at, this.seq++, fn);
    this.push(t);
    return t;
  }

  /** Number of pending (not cancelled) timers. */
  get pending(): number {
    let n = 0;
    for (const t of this.heap) if (!t.cancelled) n++;
    return n;
  }

  /** Due time of the earliest pending timer, or `undefined`. */
  nextAt(): number | undefined {
    this.skipCancelled();
    return this.heap.length > 0 ? this.heap[0].at : undefined;
  }

  /** Runs every callback due at or before the current time (including ones they schedule). */
  runDue(): number {
    return this.runUntil(this.clock.now());
  }

  /**
   * Moves time forward by `ms`, running each due callback with the clock set to its due time.
   * Returns the number of callbacks run.
   */
  advance(ms: number): number {
    if (!(ms >= 0))
      throw new ConfigError('ERR_BAD_TIME', `ManualScheduler.advance: ms must be >= 0, got ${ms}`);
    const target = this.clock.now() + ms;
    const n = this.runUntil(target);
    this.clock.set(target);
    return n;
  }

  /**
   * Runs timers in order, jumping the clock to each, until none is left or `maxMs` of virtual
   * time has passed. Returns the number of callbacks run.
   */
  runAll(maxMs = 3_600_000): number {
    const limit = this.clock.now() + maxMs;
    let n = 0;
    for (;;) {
      const at = this.nextAt();
      if (at === undefined || at > limit) break;
      n += this.runUntil(Math.max(at, this.clock.now()));
    }
    return n;
  }

  private runUntil(target: number): number {
    let n = 0;
    for (;;) {
      this.skipCancelled();
      const top = this.heap[0];
      if (!top || top.at > target) break;
      this.pop();
      if (top.at > this.clock.now()) this.clock.set(top.at);
      top.cancelled = true;
      n++;
      top.fn();
    }
    return n;
  }

  private skipCancelled(): void {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
  }

  private less(a: ManualTimer, b: ManualTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: ManualTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as ManualTimer;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

class RealTimer implements TimerHandle {
  timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly at: number) {}
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A scheduler on real time: each callback is a `setTimeout` (unref'd, so pending timers never
 * keep the process alive). Deadlines refer to `clock` (default: the shared system clock).
 */
export class TimerScheduler implements Scheduler {
  readonly clock: Clock;
  constructor(clock: Clock = systemClock()) {
    this.clock = clock;
  }
  schedule(at: number, fn: () => void): TimerHandle {
    const t = new RealTimer(at);
    const delay = Math.max(0, at - this.clock.now());
    t.timer = setTimeout(() => {
      t.timer = undefined;
      fn();
    }, delay);
    t.timer.unref?.();
    return t;
  }
}

/**
 * The scheduler a device uses when given `clock` and maybe `scheduler`: the scheduler if given,
 * a {@link ManualScheduler} for a {@link ManualClock}, else a {@link TimerScheduler}.
 */
export function defaultScheduler(clock?: Clock, scheduler?: Scheduler): Scheduler {
  if (scheduler) return scheduler;
  if (clock instanceof ManualClock) return new ManualScheduler(clock);
  return new TimerScheduler(clock ?? systemClock());
}

// ---------------------------------------------------------------------------------------------
// PRNG

/**
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32. Fast, 2^128 − 1 period, and the
 * same seed always gives the same sequence. Not for cryptography.
 */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A plain copy (`slice()` on a Node `Buffer` would return a view of the sender's bytes). */
function copyOf(p: Uint8Array): Uint8Array {
  const out = new Uint8Array(p.length);
  out.set(p);
  return out;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------
// Impairment link

/** Options of {@link ImpairmentLink}. Probabilities are in [0, 1]. */
export interface ImpairmentOptions {
  /** Seed of the PRNG: the same seed and traffic give the same impairments. Required. */
  seed: number;
  /** Probability a packet is dropped. Default 0. */
  loss?: number;
  /** Fixed one-way delay in ms. Default 0 (synchronous delivery when nothing else delays). */
  delayMs?: number;
  /** Uniform extra delay in [0, jitterMs) per packet. Default 0. Jitter alone may reorder. */
  jitterMs?: number;
  /** Probability a packet is held back by `reorderDelayMs` so that later packets overtake it. Default 0. */
  reorder?: number;
  /** Extra delay of a reordered packet. Default `max(1, delayMs + jitterMs)` ms. */
  reorderDelayMs?: number;
  /** Probability a packet is delivered twice. Default 0. */
  duplicate?: number;
  /** Probability one random bit of a packet is flipped (receivers then drop it on checksum). Default 0. */
  corrupt?: number;
  /** Rate limit in bits per second (serialization delay, FIFO queue). Default unlimited. */
  rateBps?: number;
  /** Queue limit in bytes for the rate limiter; packets beyond it are tail-dropped. Default 1 MiB. */
  queueBytes?: number;
  /** Clock for delays. Default: the scheduler's clock, else the system clock. */
  clock?: Clock;
  /** Timer source for delayed delivery. Default: see {@link defaultScheduler}. */
  scheduler?: Scheduler;
}

/** Counters of one direction of an {@link ImpairmentLink}. */
export interface ImpairmentStats {
  /** Packets offered to this direction. */
  packets: number;
  /** Packets handed to the receiver (duplicates count twice). */
  delivered: number;
  /** Dropped by the random loss. */
  lost: number;
  /** Dropped because the rate limiter's queue was full. */
  queueDropped: number;
  /** Extra copies delivered. */
  duplicated: number;
  /** Packets with a flipped bit. */
  corrupted: number;
  /** Packets held back to be overtaken. */
  reordered: number;
  /** Dropped because the link was closed. */
  closed: number;
}

function newStats(): ImpairmentStats {
  return {
    packets: 0,
    delivered: 0,
    lost: 0,
    queueDropped: 0,
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
    closed: 0,
  };
}

function checkProb(name: string, v: number | undefined): number {
  const p = v ?? 0;
  if (!(p >= 0 && p <= 1))
    throw new ConfigError('ERR_BAD_PROBABILITY', `ImpairmentLink: ${name} must be in [0, 1], got ${v}`);
  return p;
}

function checkNonNeg(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!(x >= 0) || !Number.isFinite(x))
    throw new ConfigError(
      'ERR_BAD_IMPAIRMENT',
      `ImpairmentLink: ${name} must be a finite number >= 0, got ${v}`,
    );
  return x;
}

class Direction {
  readonly stats = newStats();
  /** Time the rate limiter's wire is busy until. */
  busyUntil = 0;
  queued = 0;
  out: PacketHandler = discard;
}

/**
 * A two-way impaired link. Use {@link ImpairmentLink.connect} to join two devices (like
 * `connectL3`, with impairments in both directions), or {@link ImpairmentLink.wrap} to put the
 * impairment in front of one device. Each direction has its own counters (`stats.ab`,
 * `stats.ba`); both share one PRNG, so the result depends only on the seed and the traffic.
 *
 * ```ts
 * const sched = new ManualScheduler();
 * const link = new ImpairmentLink({ seed: 1, loss: 0.05, delayMs: 5, reorder: 0.02, scheduler: sched });
 * link.connect(hostA, hostB);
 * sched.advance(100);
 * ```
 */
export class ImpairmentLink {
  /** Counters per direction: `ab` is a→b (first argument of connect / into a wrapped device). */
  readonly stats: { readonly ab: ImpairmentStats; readonly ba: ImpairmentStats };
  readonly scheduler: Scheduler;
  private readonly clock: Clock;
  private readonly rng: SeededRandom;
  private readonly loss: number;
  private readonly delayMs: number;
  private readonly jitterMs: number;
  private readonly reorder: number;
  private readonly reorderDelayMs: number;
  private readonly duplicate: number;
  private readonly corrupt: number;
  private readonly rateBps: number;
  private readonly queueBytes: number;
  private readonly ab = new Direction();
  private readonly ba = new Direction();
  private closed = false;

  constructor(opts: ImpairmentOptions) {
    if (!opts || typeof opts.seed !== 'number' || !Number.isFinite(opts.seed))
      throw new ConfigError('ERR_BAD_SEED', 'ImpairmentLink: a numeric seed is required');
    this.rng = new SeededRandom(opts.seed);
    this.loss = checkProb('loss', opts.loss);
    this.reorder = checkProb('reorder', opts.reorder);
    this.duplicate = checkProb('duplicate', opts.duplicate);
    this.corrupt = checkProb('corrupt', opts.corrupt);
    this.delayMs = checkNonNeg('delayMs', opts.delayMs, 0);
    this.jitterMs = checkNonNeg('jitterMs', opts.jitterMs, 0);
    this.reorderDelayMs = checkNonNeg(
      'reorderDelayMs',
      opts.reorderDelayMs,
      Math.max(1, this.delayMs + this.jitterMs),
    );
    this.rateBps = checkNonNeg('rateBps', opts.rateBps, 0);
    this.queueBytes = checkNonNeg('queueBytes', opts.queueBytes, 1 << 20);
    if (opts.rateBps !== undefined && this.rateBps === 0)
      throw new ConfigError('ERR_BAD_IMPAIRMENT', 'ImpairmentLink: rateBps must be > 0');
    this.scheduler = defaultScheduler(opts.clock ?? opts.scheduler?.clock, opts.scheduler);
    this.clock = opts.clock ?? this.scheduler.clock;
    this.stats = { ab: this.ab.stats, ba: this.ba.stats };
  }

  /** Joins `a` and `b`: what `a` emits goes (impaired) into `b`, and vice versa. Replaces both handlers. */
  connect(a: L3Device, b: L3Device): void {
    this.ab.out = (p) => b.send(p);
    this.ba.out = (p) => a.send(p);
    a.setHandler((p) => this.offer(this.ab, p));
    b.setHandler((p) => this.offer(this.ba, p));
  }

  /**
   * Returns a device in front of `dev`: packets sent into the wrapper reach `dev` impaired
   * (direction `ab`), and packets `dev` emits reach the wrapper's handler impaired (`ba`).
   */
  wrap(dev: L3Device): L3Device {
    this.ab.out = (p) => dev.send(p);
    dev.setHandler((p) => this.offer(this.ba, p));
    const ba = this.ba;
    const link = this;
    return {
      setHandler(h: PacketHandler): void {
        ba.out = h;
      },
      send(p: Uint8Array): void {
        link.offer(link.ab, p);
      },
      addr(): Prefix | undefined {
        return dev.addr();
      },
      setAddr(prefix: Prefix): void {
        dev.setAddr(prefix);
      },
      close(): void {
        link.close();
        dev.close();
      },
    };
  }

  /** Stops delivering: packets in flight and later are dropped (counted as `closed`). */
  close(): void {
    this.closed = true;
  }

  private offer(d: Direction, pkt: Uint8Array): void {
    const st = d.stats;
    st.packets++;
    if (this.closed) {
      st.closed++;
      return;
    }
    const rng = this.rng;
    if (this.loss > 0 && rng.next() < this.loss) {
      st.lost++;
      return;
    }
    let p = pkt;
    if (this.corrupt > 0 && rng.next() < this.corrupt && p.length > 0) {
      p = copyOf(p);
      const bit = rng.int(p.length * 8);
      p[bit >> 3] ^= 0x80 >> (bit & 7);
      st.corrupted++;
    }
    const copies = this.duplicate > 0 && rng.next() < this.duplicate ? 2 : 1;
    if (copies === 2) st.duplicated++;
    let delay = this.delayMs;
    if (this.jitterMs > 0) delay += rng.next() * this.jitterMs;
    if (this.reorder > 0 && rng.next() < this.reorder) {
      delay += this.reorderDelayMs;
      st.reordered++;
    }
    if (this.rateBps > 0) {
      if (d.queued + p.length > this.queueBytes) {
        st.queueDropped++;
        return;
      }
      const now = this.clock.now();
      const start = Math.max(now, d.busyUntil);
      d.busyUntil = start + (p.length * 8 * 1000) / this.rateBps;
      delay += d.busyUntil - now;
      d.queued += p.length;
      const len = p.length;
      const copy = p === pkt ? copyOf(p) : p;
      this.scheduler.schedule(now + delay, () => {
        d.queued -= len;
        this.deliver(d, copy, copies);
      });
      return;
    }
    if (delay <= 0) {
      this.deliver(d, p, copies);
      return;
    }
    const copy = p === pkt ? copyOf(p) : p;
    this.scheduler.schedule(this.clock.now() + delay, () => this.deliver(d, copy, copies));
  }

  private deliver(d: Direction, p: Uint8Array, copies: number): void {
    if (this.closed) {
      d.stats.closed++;
      return;
    }
    if (copies === 2) {
      // The receiver may rewrite the buffer in place: the duplicate gets its own copy.
      const dup = copyOf(p);
      d.stats.delivered++;
      d.out(p);
      d.stats.delivered++;
      d.out(dup);
      return;
    }
    d.stats.delivered++;
    d.out(p);
  }
}
