/**
 * Per-source rate limiting of handshake messages under load (as wireguard-go's `ratelimiter`):
 * once a handshake message proved its source address (a valid mac2 / cookie), that address may
 * still send at most {@link HANDSHAKE_RATE_PER_SECOND} per second after a burst of
 * {@link HANDSHAKE_RATE_BURST}, so one client cannot keep the server busy with Curve25519 work.
 * IPv6 sources are grouped by /64 (a host controls a whole /64). The table is bounded: entries
 * idle for a second are swept, and when it is full new sources are refused until the sweep.
 */
import type { Clock } from '@l3kit/core';

/** Handshake messages per second allowed per source under load. */
export const HANDSHAKE_RATE_PER_SECOND = 20;
/** Messages a source may send at once before the rate applies. */
export const HANDSHAKE_RATE_BURST = 5;
/** Sources tracked at most. */
export const RATE_LIMITER_MAX_ENTRIES = 65536;

const TOKEN_MS = 1000 / HANDSHAKE_RATE_PER_SECOND;
const MAX_TOKENS_MS = TOKEN_MS * HANDSHAKE_RATE_BURST;
const IDLE_MS = 1000;

/** The rate-limit key of a source address: the IPv4 address, or the /64 of an IPv6 address. */
export function rateLimitKey(address: string): string {
  if (!address.includes(':')) return address;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4mapped) return v4mapped[1];
  // Expand '::' and keep the first four groups.
  const [head, tail] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups =
    tail === undefined ? h : [...h, ...new Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** A token bucket per source. */
export class HandshakeRateLimiter {
  /** Tokens in ms of credit, and when they were last topped up. */
  private readonly table = new Map<string, { tokens: number; last: number }>();
  private lastSweep: number;

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries = RATE_LIMITER_MAX_ENTRIES,
  ) {
    this.lastSweep = clock.now();
  }

  /** Whether a handshake message from `address` may be processed now (and charges it). */
  allow(address: string): boolean {
    const now = this.clock.now();
    if (now - this.lastSweep >= IDLE_MS) this.sweep(now);
    const key = rateLimitKey(address);
    let e = this.table.get(key);
    if (!e) {
      if (this.table.size >= this.maxEntries) return false;
      e = { tokens: MAX_TOKENS_MS, last: now };
      this.table.set(key, e);
    } else {
      e.tokens = Math.min(MAX_TOKENS_MS, e.tokens + (now - e.last));
      e.last = now;
    }
    if (e.tokens < TOKEN_MS) return false;
    e.tokens -= TOKEN_MS;
    return true;
  }

  /** Sources tracked now. */
  get size(): number {
    return this.table.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, e] of this.table) if (now - e.last > IDLE_MS) this.table.delete(k);
  }
}
