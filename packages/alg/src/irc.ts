/**
 * IRC DCC ALG (CTCP DCC as mIRC, irssi, HexChat and WeeChat send it; behaviour of Linux
 * `nf_conntrack_irc` + `nf_nat_irc`, plus RESUME / ACCEPT which Linux does not translate).
 *
 * On a client's connection to an IRC server (port 6667 by default), lines of PRIVMSG / NOTICE
 * carrying `\x01DCC <type> <argument> <ip> <port> …\x01` are parsed:
 *
 * - Outbound `SEND`, `CHAT`, `TSEND`, `SCHAT`, `MOVE` from the inside client whose `<ip>` (a
 *   decimal uint32, RFC-less but universal) is its inside address: the address is replaced by
 *   the NAT's external address, the port by an allocated external port, and an expectation (any
 *   remote address and port, as Linux: the DCC peer is another user, not the server) maps the
 *   inbound DCC connection to the client's endpoint. Port 0 (passive / reverse DCC: the peer
 *   listens) gets the address rewritten and no expectation. An address that is already the
 *   external one keeps its port and gets the expectation on that port; any other address is
 *   refused (passed unchanged, counted).
 * - `RESUME <file> <port> <position>` arriving for an inside sender names the external port of
 *   its offer: it is translated back to the inside port; the sender's `ACCEPT <file> <port>
 *   <position>` going out is translated to the external port again.
 *
 * Limits as Linux: 8 pending expectations per server connection, 300 s.
 */
import type { HelperPacketContext } from '@l3kit/nat';
import { latin1, latin1Bytes } from '@l3kit/wire';
import {
  decimalLength,
  type HelperCommonOptions,
  type LineConn,
  type LineEdit,
  type LineHelperStats,
  readDecimal,
  SP,
  startsWithKeyword,
  TcpLineHelper,
  TcpLineStream,
  zeroLineStats,
} from './line-protocol.js';

/** The usual IRC server port. */
export const IRC_PORT = 6667;
/** Linux `nf_conntrack_irc` `max_dcc_channels`: 8 pending expectations per connection. */
export const IRC_MAX_EXPECTATIONS = 8;
/** Lifetime of a DCC expectation (Linux `dcc_timeout`: 300 s). */
export const IRC_EXPECTATION_TIMEOUT_MS = 300_000;

const CTCP = 0x01;
const QUOTE = 0x22;

/** DCC types that carry an address and a port. */
const ADDRESS_TYPES = ['SEND', 'CHAT', 'TSEND', 'SCHAT', 'MOVE'];

/** A DCC request found in an IRC line by {@link parseIrcDcc}. */
export interface IrcDcc {
  /** DCC type in upper case (`SEND`, `CHAT`, `RESUME`, `ACCEPT`, …). */
  type: string;
  /** File name (unquoted) or `chat`. */
  argument: string;
  /** Address as a uint32; `-1` for RESUME / ACCEPT, which carry none. */
  ip: number;
  port: number;
  /** Offsets of the replaceable part: `<ip> <port>`, or `<port>` for RESUME / ACCEPT. */
  argStart: number;
  argEnd: number;
  /** Offset of the port digits. */
  portStart: number;
}

/** Offset of the IRC command word of a line (after IRCv3 `@tags` and a `:prefix`), or -1. */
function commandOffset(b: Uint8Array, off: number, end: number): number {
  let i = off;
  for (const lead of [0x40, 0x3a]) {
    if (i < end && b[i] === lead) {
      while (i < end && b[i] !== SP) i++;
      while (i < end && b[i] === SP) i++;
    }
  }
  return i < end ? i : -1;
}

/** Offset of the first `\x01DCC ` in `b[off..end)`, or -1. */
function findCtcpDcc(b: Uint8Array, off: number, end: number): number {
  for (let i = off; i + 5 <= end; i++)
    if (b[i] === CTCP && startsWithKeyword(b, i + 1, end, 'DCC ')) return i;
  return -1;
}

/**
 * Finds a CTCP `DCC` request in a PRIVMSG or NOTICE line `b[off..end)` (without CR LF) and parses
 * it. Returns `null` when there is none or it is malformed (only the first DCC of a line counts).
 */
export function parseIrcDcc(b: Uint8Array, off = 0, end = b.length): IrcDcc | null {
  const c = commandOffset(b, off, end);
  if (c < 0 || !(startsWithKeyword(b, c, end, 'PRIVMSG ') || startsWithKeyword(b, c, end, 'NOTICE ')))
    return null;
  const found = findCtcpDcc(b, c, end);
  if (found < 0) return null;
  const s = found + 5;
  let e = s;
  while (e < end && b[e] !== CTCP) e++; // the closing \x01 (lenient when missing)
  // <type>
  let i = s;
  while (i < e && b[i] !== SP) i++;
  const type = latin1(b, s, i).toUpperCase();
  if (type.length === 0 || i >= e) return null;
  i++;
  // <argument>: a quoted file name may contain spaces
  let argument: string;
  if (b[i] === QUOTE) {
    const q = b.indexOf(QUOTE, i + 1);
    if (q < 0 || q >= e) return null;
    argument = latin1(b, i + 1, q);
    i = q + 1;
  } else {
    const a0 = i;
    while (i < e && b[i] !== SP) i++;
    argument = latin1(b, a0, i);
  }
  if (argument.length === 0 || i >= e || b[i] !== SP) return null;
  i++;
  const isResume = type === 'RESUME' || type === 'ACCEPT';
  if (!isResume && !ADDRESS_TYPES.includes(type)) return null;
  let ip = -1;
  const argStart = i;
  if (!isResume) {
    const n = decimalLength(b, i, e);
    if (n === 0 || n > 10) return null;
    ip = readDecimal(b, i, e, 10);
    if (ip > 0xffffffff) return null;
    i += n;
    if (i >= e || b[i] !== SP) return null;
    i++;
  }
  const portStart = i;
  const pn = decimalLength(b, i, e);
  const port = readDecimal(b, i, e, 5);
  if (port < 0 || port > 65535) return null;
  i += pn;
  if (i < e && b[i] !== SP) return null;
  return { type, argument, ip, port, argStart, argEnd: i, portStart };
}

/** Options of {@link IrcHelper}. */
export type IrcHelperOptions = HelperCommonOptions;

/** Counters of an {@link IrcHelper}. */
export interface IrcHelperStats extends LineHelperStats {
  /** RESUME / ACCEPT ports translated. */
  resumes: number;
}

interface IrcConn extends LineConn {
  in: TcpLineStream;
  /** Offers of the inside client: external port → inside port (for RESUME / ACCEPT). */
  offers: Map<number, number>;
}

/** The IRC DCC ALG. `nat.addHelper(new IrcHelper())`, or `new IrcHelper({ ports: [6667, 6697] })`. */
export class IrcHelper extends TcpLineHelper<IrcConn, IrcHelperStats> {
  private readonly maxOffers: number;

  /** Throws `ConfigError('ERR_BAD_OPTION')` for bad options. */
  constructor(opts?: IrcHelperOptions) {
    super(
      'irc',
      opts,
      {
        ports: [IRC_PORT],
        expectationTimeoutMs: IRC_EXPECTATION_TIMEOUT_MS,
        maxExpectations: IRC_MAX_EXPECTATIONS,
      },
      { ...zeroLineStats(), resumes: 0 },
    );
    this.maxOffers = this.limiter.max * 4;
  }

  protected newConn(ctx: HelperPacketContext): IrcConn | undefined {
    // Only the inside client's connections to a server port are served, both directions.
    if (!this.ports.includes(ctx.remotePort)) return undefined;
    return { out: new TcpLineStream(), in: new TcpLineStream(), offers: new Map() };
  }

  protected onPartial(b: Uint8Array, off: number, end: number): void {
    // The line's end (and maybe the DCC itself) comes later: a DCC in it will not be rewritten.
    if (b.subarray(off, end).includes(CTCP)) this.stats.splitLines++;
  }

  protected onLine(b: Uint8Array, off: number, end: number): LineEdit | undefined {
    const d = parseIrcDcc(b, off, end);
    if (!d) {
      // A DCC the parser could not read (malformed) is counted; other lines are not ours.
      if (findCtcpDcc(b, off, end) >= 0) this.stats.parseErrors++;
      return undefined;
    }
    const outbound = this.ctx.direction === 'outbound';
    if (d.type === 'RESUME' || d.type === 'ACCEPT') return this.resume(d, off, outbound);
    if (!outbound) return undefined; // an offer from a remote user: nothing to translate
    return this.offer(d, off);
  }

  private resume(d: IrcDcc, lineOff: number, outbound: boolean): LineEdit | undefined {
    // RESUME travels receiver → sender, ACCEPT sender → receiver: only the inside sender's ports move.
    let to = -1;
    if (!outbound && d.type === 'RESUME') to = this.conn.offers.get(d.port) ?? -1;
    if (outbound && d.type === 'ACCEPT')
      for (const [ext, ins] of this.conn.offers) if (ins === d.port) to = ext;
    if (to < 0 || to === d.port) return undefined;
    this.stats.resumes++;
    return { off: d.portStart - lineOff, len: d.argEnd - d.portStart, data: latin1Bytes(`${to}`) };
  }

  private offer(d: IrcDcc, lineOff: number): LineEdit | undefined {
    const extPort = this.expectAnnounced(d.ip, d.port, false);
    if (extPort < 0) return undefined;
    if (extPort !== 0) {
      const offers = this.conn.offers;
      offers.set(extPort, d.port);
      if (offers.size > this.maxOffers) offers.delete(offers.keys().next().value as number);
    }
    this.stats.rewrites++;
    return {
      off: d.argStart - lineOff,
      len: d.argEnd - d.argStart,
      data: latin1Bytes(`${this.ctx.externalIp >>> 0} ${extPort}`),
    };
  }
}
