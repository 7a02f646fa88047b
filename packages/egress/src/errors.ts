/**
 * Errors of the egress package. API misuse throws {@link ConfigError} (from `@l3kit/core`) with a
 * stable `code`; failures to reach a destination are {@link DialError}s, classified by
 * {@link DialFailure} so the device can show them to the tenant the way a real network would.
 */
import { L3kitError } from '@l3kit/core';

/**
 * Why an upstream connection could not be opened:
 * - `refused`: the destination (or the proxy on its behalf) refused the connection → RST;
 * - `unreachable`: no route / host unreachable / the proxy could not reach it → ICMP 3/1;
 * - `timeout`: nothing answered in time → ICMP 3/1;
 * - `denied`: a rule or the proxy's own rule set forbids it → ICMP 3/13;
 * - `proxy`: the proxy itself failed (down, authentication rejected, protocol error) → ICMP 3/1.
 */
export type DialFailure = 'refused' | 'unreachable' | 'timeout' | 'denied' | 'proxy';

/** An upstream connection (direct, SOCKS5 or HTTP CONNECT) failed. `code` is stable. */
export class DialError extends L3kitError {
  /** The classification the device maps to RST / ICMP. */
  readonly failure: DialFailure;
  constructor(failure: DialFailure, code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DialError';
    this.failure = failure;
  }
}

/** Classifies a Node socket error (`ECONNREFUSED`, `EHOSTUNREACH`, …) as a {@link DialError}. */
export function dialErrorFromSocket(err: unknown, what: string): DialError {
  if (err instanceof DialError) return err;
  const code = (err as { code?: unknown })?.code;
  const c = typeof code === 'string' ? code : 'EUNKNOWN';
  const msg = `${what}: ${(err as Error)?.message ?? String(err)}`;
  switch (c) {
    case 'ECONNREFUSED':
      return new DialError('refused', 'ERR_EGRESS_REFUSED', msg, { cause: err });
    case 'ETIMEDOUT':
      return new DialError('timeout', 'ERR_EGRESS_TIMEOUT', msg, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new DialError('denied', 'ERR_EGRESS_DENIED', msg, { cause: err });
    default:
      return new DialError('unreachable', 'ERR_EGRESS_UNREACHABLE', msg, { cause: err });
  }
}
