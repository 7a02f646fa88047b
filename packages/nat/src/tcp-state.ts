/**
 * TCP session states (RFC 6146 §3.5.2 style, with RFC 7857's RST handling) and their timers.
 *
 * Separate timers: transitory (SYN sent / received, not yet replied, both FINs: RFC 5382 REQ-5
 * ≥ 240 s), established (≥ 7440 s), after RST (4 min, RFC 7857 §2.2). Simultaneous open
 * (RFC 5382 REQ-2) is the SYN_SENT + inbound SYN (or SYN_RECV + outbound SYN) transition.
 */

/** TCP session states (stored in a `Uint8Array`). Non-TCP sessions use {@link TcpState.none}. */
export const TcpState = {
  none: 0,
  synSent: 1,
  synRecv: 2,
  established: 3,
  finOut: 4,
  finIn: 5,
  timeWait: 6,
  rst: 7,
} as const;

/** State names as `mappings()` reports them (conntrack spelling). */
export const TCP_STATE_NAMES = [
  'NONE',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT',
  'CLOSE_WAIT',
  'TIME_WAIT',
  'CLOSE',
] as const;

/** TCP flag bits. */
export const TCP_FIN = 0x01;
/** SYN flag. */
export const TCP_SYN = 0x02;
/** RST flag. */
export const TCP_RST = 0x04;
/** ACK flag. */
export const TCP_ACK = 0x10;

/**
 * The state after a segment with `flags` in direction `outbound` in state `st`.
 * `st` must not be `none` (a new session starts from {@link tcpInitialState}).
 */
export function tcpNextState(st: number, flags: number, outbound: boolean): number {
  if (flags & TCP_RST) return TcpState.rst;
  const syn = (flags & TCP_SYN) !== 0;
  const fin = (flags & TCP_FIN) !== 0;
  switch (st) {
    case TcpState.synSent:
      if (!outbound && syn) return TcpState.established; // SYN/ACK, or simultaneous open
      return st;
    case TcpState.synRecv:
      if (outbound && syn) return TcpState.established;
      return st;
    case TcpState.established:
      if (fin) return outbound ? TcpState.finOut : TcpState.finIn;
      return st;
    case TcpState.finOut:
      if (fin && !outbound) return TcpState.timeWait;
      return st;
    case TcpState.finIn:
      if (fin && outbound) return TcpState.timeWait;
      return st;
    case TcpState.timeWait:
      // A new connection reusing the 4-tuple.
      if (syn && !(flags & TCP_ACK)) return outbound ? TcpState.synSent : TcpState.synRecv;
      return st;
    case TcpState.rst:
      // RFC 6146 TRANS: any other packet brings the session back.
      return syn && !(flags & TCP_ACK)
        ? outbound
          ? TcpState.synSent
          : TcpState.synRecv
        : TcpState.established;
    default:
      return st;
  }
}

/** The state of a new session created by a segment with `flags`, or -1 when such a segment creates none. */
export function tcpInitialState(flags: number, outbound: boolean): number {
  if (flags & TCP_RST) return -1;
  if (flags & TCP_SYN) {
    if (flags & TCP_ACK) return outbound ? TcpState.established : -1;
    return outbound ? TcpState.synSent : TcpState.synRecv;
  }
  // Mid-stream pick-up of an outbound connection (e.g. after a restart without snapshot):
  // tracked as established but kept on the transitory timer until the remote answers.
  return outbound ? TcpState.established : -1;
}

/** Timers used by {@link tcpTimeout}, in ms. */
export interface TcpTimers {
  tcpEstablished: number;
  tcpTransitory: number;
  tcpTimeWait: number;
  tcpRst: number;
}

/** The idle timeout of state `st`; `replied` tells whether both directions have been seen. */
export function tcpTimeout(t: TcpTimers, st: number, replied: boolean): number {
  switch (st) {
    case TcpState.established:
    case TcpState.finOut:
    case TcpState.finIn:
      return replied ? t.tcpEstablished : t.tcpTransitory;
    case TcpState.timeWait:
      return t.tcpTimeWait;
    case TcpState.rst:
      return t.tcpRst;
    default:
      return t.tcpTransitory;
  }
}

/**
 * Whether packets in state `st` extend the deadline. TIME_WAIT does not; after a RST the next
 * non-RST packet moves the session back to ESTABLISHED (RFC 6146 TRANS, RFC 7857 §2.2), and a
 * further RST does not extend the 4 minutes.
 */
export function tcpRefreshes(st: number): boolean {
  return st !== TcpState.timeWait && st !== TcpState.rst;
}
