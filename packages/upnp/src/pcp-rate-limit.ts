/**
 * Request rate limiting for the PCP / NAT-PMP server: a token bucket per client plus one for the
 * whole server, with a bounded number of tracked clients (least recently seen evicted first), so a
 * flood from one host — or from many spoofed addresses — costs bounded memory and cannot starve
 * the others for long.
 */
import { ConfigError } from '@l3kit/core';

/** Options of {@link RequestRateLimiter}. */
export interface RateLimitOptions {
  /** Sustained requests per second per client. Default 10. */
  perSecond?: number;
  /** Requests a client may send in a burst. Default 20. */
  burst?: number;
  /** Sustained requests per second for the whole server (all clients). Default 1000. */
  globalPerSecond?: number;
  /** Burst of the whole server. Default 2 × `globalPerSecond`. */
  globalBurst?: number;
  /** Clients tracked at once; the least recently seen is forgotten beyond it. Default 4096. */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

function positive(v: number | undefined, dflt: number, what: string, integer = false): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x) || (integer && !Number.isInteger(x)))
    throw new ConfigError(
      'ERR_BAD_OPTION',
      `rateLimit.${what} must be a positive ${integer ? 'integer' : 'number'}`,
    );
  return x;
}

/**
 * Token buckets keyed by a number (the server uses `tenant * 2^32 + client IPv4`). `allow(key, now)`
 * takes one token from the client's bucket and one from the global bucket, or refuses.
 */
export class RequestRateLimiter {
  /** Sustained requests per second per client. */
  readonly perSecond: number;
  /** Burst per client. */
  readonly burst: number;
  /** Sustained requests per second of the whole server. */
  readonly globalPerSecond: number;
  /** Burst of the whole server. */
  readonly globalBurst: number;
  /** Clients tracked at most. */
  readonly maxClients: number;
  private readonly buckets = new Map<number, Bucket>();
  private readonly global: Bucket;

  /** Throws `ERR_BAD_OPTION` for a non-positive or non-finite option. */
  constructor(opts: RateLimitOptions = {}) {
    this.perSecond = positive(opts.perSecond, 10, 'perSecond');
    this.burst = positive(opts.burst, 20, 'burst');
    this.globalPerSecond = positive(opts.globalPerSecond, 1000, 'globalPerSecond');
    this.globalBurst = positive(opts.globalBurst, 2 * this.globalPerSecond, 'globalBurst');
    this.maxClients = positive(opts.maxClients, 4096, 'maxClients', true);
    this.global = { tokens: this.globalBurst, at: Number.NaN };
  }

  /** Number of clients tracked now (≤ `maxClients`). */
  get size(): number {
    return this.buckets.size;
  }

  /** Whether one more request of `key` at time `now` (ms) is allowed; consumes a token if so. */
  allow(key: number, now: number): boolean {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert below: Map order is recency order
    } else {
      if (this.buckets.size >= this.maxClients) {
        const oldest = this.buckets.keys().next().value as number;
        this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, b);
    refill(b, now, this.perSecond, this.burst);
    refill(this.global, now, this.globalPerSecond, this.globalBurst);
    if (b.tokens < 1 || this.global.tokens < 1) return false;
    b.tokens -= 1;
    this.global.tokens -= 1;
    return true;
  }

  /** Forgets the clients whose key satisfies `pred` (e.g. a removed tenant). */
  forget(pred: (key: number) => boolean): void {
    for (const k of [...this.buckets.keys()]) if (pred(k)) this.buckets.delete(k);
  }

  /** Forgets every client. */
  clear(): void {
    this.buckets.clear();
  }
}

function refill(b: Bucket, now: number, rate: number, cap: number): void {
  if (Number.isNaN(b.at)) b.at = now;
  const dt = now - b.at;
  if (dt > 0) b.tokens = Math.min(cap, b.tokens + (dt * rate) / 1000);
  b.at = Math.max(b.at, now);
}
