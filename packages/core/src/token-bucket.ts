/**
 * A token bucket on an injected clock: how routers and NATs limit the ICMP errors they generate
 * (RFC 1812 §4.3.2.8).
 */
import type { Clock } from './clock.js';
import { ConfigError } from './errors.js';

/** Up to `burst` at once, refilled at `perSecond`. */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

/** The default limit for generated ICMP errors (hub and NAT). */
export const DEFAULT_ICMP_RATE_LIMIT: Readonly<RateLimit> = { burst: 100, perSecond: 1000 };

/** A token bucket; `null` as the limit means unlimited. */
export class TokenBucket {
  private readonly burst: number;
  private readonly perMs: number;
  private tokens: number;
  private at: number;

  /**
   * Throws `ConfigError` `ERR_BAD_OPTION` (naming `what`) unless `limit` is `null` or has
   * `burst >= 1` and `perSecond >= 0`.
   */
  constructor(
    limit: RateLimit | null,
    private readonly clock: Clock,
    what = 'rate limit',
  ) {
    if (limit === null) {
      this.burst = Number.POSITIVE_INFINITY;
      this.perMs = 0;
    } else {
      if (typeof limit !== 'object' || !(limit.burst >= 1) || !(limit.perSecond >= 0))
        throw new ConfigError('ERR_BAD_OPTION', `${what} needs { burst >= 1, perSecond >= 0 } or null`);
      this.burst = limit.burst;
      this.perMs = limit.perSecond / 1000;
    }
    this.tokens = this.burst;
    this.at = clock.now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    if (this.burst === Number.POSITIVE_INFINITY) return true;
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.at) * this.perMs);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
