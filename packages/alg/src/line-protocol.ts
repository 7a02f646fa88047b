/**
 * Shared machinery of the CRLF-line ALGs (FTP, IRC): option validation, per-direction line
 * tracking over a TCP byte stream (only whole lines that start at a known line start are handed
 * to the protocol parser), a cache that rewrites a retransmitted segment identically, decimal
 * number parsing on bytes, and the per-connection expectation limit with Linux's eviction of the
 * oldest expectation.
 *
 * Not a hot path: it only runs for connections on a helper's ports.
 */
import { ConfigError } from '@l3kit/core';
import type { HelperPacketContext, NatHelper, NatHelperHost } from '@l3kit/nat';
import { formatIpv4 } from '@l3kit/wire';

// =============================================================================== options

/** Options every helper of `@l3kit/alg` accepts. */
export interface HelperCommonOptions {
  /** Server ports the helper serves (a connection matches on its remote or inside port). */
  ports?: number[];
  /** Tenants it serves (all when absent). */
  tenants?: number[];
  /** Lifetime of the expectations it creates, ms (default: the Linux value of the protocol). */
  expectationTimeoutMs?: number;
  /** Pending expectations per control connection (default: the Linux value); the oldest is evicted. */
  maxExpectations?: number;
  /** Name the helper is installed under (default: the protocol name); unique per NAT. */
  name?: string;
}

/** Validated common options. */
export interface ResolvedCommonOptions {
  ports: readonly number[];
  tenants: readonly number[] | undefined;
  expectationTimeoutMs: number;
  maxExpectations: number;
  name: string;
}

function badOption(helper: string, what: string): never {
  throw new ConfigError('ERR_BAD_OPTION', `${helper}: ${what}`);
}

/**
 * Validates the options common to every helper (throws `ConfigError('ERR_BAD_OPTION')`) and
 * fills in the defaults of the protocol. `allowed` lists protocol-specific option names.
 */
export function resolveCommonOptions(
  helper: string,
  opts: HelperCommonOptions | undefined,
  defaults: { ports: number[]; expectationTimeoutMs: number; maxExpectations: number },
  allowed: readonly string[] = [],
): ResolvedCommonOptions {
  if (opts === undefined) opts = {};
  if (opts === null || typeof opts !== 'object') badOption(helper, 'options must be an object');
  const known = ['ports', 'tenants', 'expectationTimeoutMs', 'maxExpectations', 'name', ...allowed];
  for (const k of Object.keys(opts)) if (!known.includes(k)) badOption(helper, `unknown option ${k}`);
  const ports = opts.ports ?? defaults.ports;
  if (!Array.isArray(ports) || ports.length === 0)
    badOption(helper, 'ports must be a non-empty array of port numbers');
  for (const p of ports)
    if (!Number.isInteger(p) || p < 1 || p > 65535) badOption(helper, `bad port ${String(p)}`);
  let tenants: number[] | undefined;
  if (opts.tenants !== undefined) {
    if (!Array.isArray(opts.tenants)) badOption(helper, 'tenants must be an array of tenant ids');
    for (const t of opts.tenants)
      if (!Number.isInteger(t) || t < 0) badOption(helper, `bad tenant ${String(t)}`);
    tenants = [...opts.tenants];
  }
  const timeout = opts.expectationTimeoutMs ?? defaults.expectationTimeoutMs;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
    badOption(helper, 'expectationTimeoutMs must be a positive number of milliseconds');
  const max = opts.maxExpectations ?? defaults.maxExpectations;
  if (!Number.isInteger(max) || max < 1 || max > 1024)
    badOption(helper, 'maxExpectations must be an integer from 1 to 1024');
  const name = opts.name ?? helper;
  if (typeof name !== 'string' || name.length === 0) badOption(helper, 'name must be a non-empty string');
  return { ports: [...new Set(ports)], tenants, expectationTimeoutMs: timeout, maxExpectations: max, name };
}

// =============================================================================== bytes

/** ASCII codes used by the parsers. */
export const CR = 0x0d;
/** Line feed. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** `,` */
export const COMMA = 0x2c;
/** `.` */
export const DOT = 0x2e;

/** True for an ASCII digit. */
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Reads an unsigned decimal number of 1 to `maxDigits` digits at `off` (no sign, no spaces).
 * Returns `-1` when there is no digit or more than `maxDigits` of them; the caller reads the
 * number's length with {@link decimalLength}.
 */
export function readDecimal(b: Uint8Array, off: number, end: number, maxDigits: number): number {
  let v = 0;
  let i = off;
  while (i < end && isDigit(b[i])) {
    if (i - off >= maxDigits) return -1;
    v = v * 10 + (b[i] - 0x30);
    i++;
  }
  return i === off ? -1 : v;
}

/** Number of decimal digits at `off` (0 when none). */
export function decimalLength(b: Uint8Array, off: number, end: number): number {
  let i = off;
  while (i < end && isDigit(b[i])) i++;
  return i - off;
}

/** Case-insensitive comparison of `b[off..]` with an upper-case ASCII keyword. */
export function startsWithKeyword(b: Uint8Array, off: number, end: number, kw: string): boolean {
  if (end - off < kw.length) return false;
  for (let i = 0; i < kw.length; i++) {
    let c = b[off + i];
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== kw.charCodeAt(i)) return false;
  }
  return true;
}

/** Parses a dotted-quad IPv4 address occupying exactly `b[off..end)`; -1 when it is not one. */
export function parseDottedQuad(b: Uint8Array, off: number, end: number): number {
  let ip = 0;
  let i = off;
  for (let k = 0; k < 4; k++) {
    const n = readDecimal(b, i, end, 3);
    if (n < 0 || n > 255) return -1;
    i += decimalLength(b, i, end);
    ip = ip * 256 + n;
    if (k < 3) {
      if (i >= end || b[i] !== DOT) return -1;
      i++;
    }
  }
  return i === end ? ip : -1;
}

// =============================================================================== TCP line tracking

/** One replacement inside a segment's payload (offsets relative to the payload start). */
export interface PayloadEdit {
  off: number;
  len: number;
  data: Uint8Array;
}

/** What a line parser answers for a whole line: the edit to make (offsets within the line) or nothing. */
export interface LineEdit {
  /** Offset of the replaced bytes from the start of the line. */
  off: number;
  len: number;
  data: Uint8Array;
}

/**
 * Called for every complete line of new data that starts at a known line start: `b[off..end)`
 * is the line without its CR LF. Returns the edit to make, or `undefined`.
 */
export type LineHandler = (b: Uint8Array, off: number, end: number) => LineEdit | undefined;

/**
 * Called when a segment ends inside a line that started at a known line start (the rest comes in
 * a later segment, so this line will never be rewritten): `b[off..end)` is its beginning.
 */
export type PartialLineHandler = (b: Uint8Array, off: number, end: number) => void;

interface CachedEdit {
  /** Sequence number of the first replaced byte (sender's sequence space). */
  seq: number;
  orig: Uint8Array;
  data: Uint8Array;
}

/**
 * Rewrites remembered per direction for identical rewrites of retransmissions (as many as the
 * NAT keeps sequence-adjustment points).
 */
const CACHE_SIZE = 16;

/** `a - b` in 32-bit sequence space (RFC 9293 modular comparison). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Follows one direction of a TCP connection as a sequence of CRLF (or LF) terminated lines.
 *
 * - New data is split into lines; only lines that begin at a known line start and end within the
 *   segment are given to the parser. A line split across segments is never rewritten: its start
 *   has already gone out unchanged (`onPartial` reports such a line).
 * - Data before the highest sequence number seen is a retransmission: the edits made the first
 *   time are made again when the same original bytes are at the same sequence number, and nothing
 *   else is parsed, so a retransmitted segment comes out byte-identical to the first copy.
 * - A gap (a segment beyond the next expected byte) loses the line alignment until the next line
 *   feed.
 *
 * Sequence numbers are those of the sender, as the helper sees the segment.
 */
export class TcpLineStream {
  private nextSeq = 0;
  private started = false;
  /** The byte at `nextSeq` starts a line. */
  private aligned = true;
  /** The current line started at a known line start and was not finished in its segment. */
  private inPartial = false;
  private readonly cache: CachedEdit[] = [];
  /** Edits repeated on retransmitted data so far. */
  replayed = 0;

  /** Notes a SYN with sequence number `seq` (the data starts at seq + 1, at a line start). */
  syn(seq: number): void {
    this.nextSeq = (seq + 1) >>> 0;
    this.started = true;
    this.aligned = true;
    this.inPartial = false;
    this.cache.length = 0;
  }

  /**
   * Processes the payload `b[off..off+len)` with sequence number `seq`; returns the edits to make
   * (payload-relative offsets, in increasing order) or `null` when there are none.
   */
  process(
    b: Uint8Array,
    off: number,
    len: number,
    seq: number,
    onLine: LineHandler,
    onPartial?: PartialLineHandler,
  ): PayloadEdit[] | null {
    if (len <= 0) return null;
    if (!this.started) {
      // Joined mid-connection or no SYN seen: take the first data as the stream start.
      this.started = true;
      this.nextSeq = seq >>> 0;
    }
    let edits: PayloadEdit[] | null = null;
    const ahead = seqDiff(seq, this.nextSeq);
    let newFrom = 0; // payload offset where new data starts
    if (ahead < 0) {
      // Retransmitted data in [seq, nextSeq): repeat the cached edits that fit in it.
      const oldLen = Math.min(len, -ahead);
      edits = this.replay(b, off, len, seq, oldLen);
      if (oldLen === len) return edits;
      newFrom = oldLen;
    } else if (ahead > 0) {
      // A gap: what follows is not known to start a line.
      this.aligned = false;
      this.inPartial = false;
    }
    const end = off + len;
    let pos = off + newFrom;
    this.nextSeq = (seq + len) >>> 0;
    if (!this.aligned || this.inPartial) {
      const nl = b.indexOf(LF, pos);
      if (nl < 0 || nl >= end) return edits;
      pos = nl + 1;
      this.aligned = true;
      this.inPartial = false;
    }
    while (pos < end) {
      let nl = b.indexOf(LF, pos);
      if (nl >= end) nl = -1;
      if (nl < 0) {
        this.inPartial = true;
        onPartial?.(b, pos, end);
        break;
      }
      const lineEnd = nl > pos && b[nl - 1] === CR ? nl - 1 : nl;
      const e = onLine(b, pos, lineEnd);
      if (e) {
        const edit: PayloadEdit = { off: pos - off + e.off, len: e.len, data: e.data };
        if (edits) edits.push(edit);
        else edits = [edit];
        this.remember((seq + edit.off) >>> 0, b.slice(pos + e.off, pos + e.off + e.len), e.data);
      }
      pos = nl + 1;
    }
    return edits;
  }

  private remember(seq: number, orig: Uint8Array, data: Uint8Array): void {
    const c = this.cache;
    for (let i = 0; i < c.length; i++) if (c[i].seq === seq) c.splice(i, 1);
    if (c.length >= CACHE_SIZE) c.shift();
    c.push({ seq, orig, data });
  }

  private replay(b: Uint8Array, off: number, len: number, seq: number, oldLen: number): PayloadEdit[] | null {
    let edits: PayloadEdit[] | null = null;
    for (const c of this.cache) {
      const rel = seqDiff(c.seq, seq);
      if (rel < 0 || rel + c.orig.length > Math.min(len, oldLen)) continue;
      let same = true;
      for (let i = 0; i < c.orig.length; i++)
        if (b[off + rel + i] !== c.orig[i]) {
          same = false;
          break;
        }
      if (!same) continue;
      const edit = { off: rel, len: c.orig.length, data: c.data };
      if (edits) edits.push(edit);
      else edits = [edit];
    }
    if (edits) {
      edits.sort((x, y) => x.off - y.off);
      this.replayed += edits.length;
    }
    return edits;
  }
}

/** Flags of the TCP header of the helper's packet. */
export function tcpFlagsOf(ctx: HelperPacketContext): number {
  return ctx.pkt[ctx.l4Off + 13];
}

/** Sequence number of the TCP header of the helper's packet. */
export function tcpSeqOf(ctx: HelperPacketContext): number {
  const b = ctx.pkt;
  const o = ctx.l4Off + 4;
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/**
 * Applies payload edits (increasing offsets) through `host.mangle`, last first so that earlier
 * offsets stay valid. Returns the resulting packet.
 */
export function applyEdits(ctx: HelperPacketContext, host: NatHelperHost, edits: PayloadEdit[]): Uint8Array {
  let pkt = ctx.pkt;
  for (let i = edits.length - 1; i >= 0; i--) {
    const e = edits[i];
    pkt = host.mangle(ctx, e.off, e.len, e.data);
  }
  return pkt;
}

// =============================================================================== expectation limit

interface ConnExpectations {
  host: NatHelperHost;
  ids: number[];
}

/** What {@link addHelperExpectation} needs besides the packet's context. */
export interface HelperExpectationSpec {
  proto: number;
  /** Inside port the expected connection goes to (on the context's inside address and tenant). */
  insidePort: number;
  /** External port to use (absent: the NAT allocates one). */
  externalPort?: number;
  /** Only the control connection's remote address may open it (else any address). */
  fromRemote: boolean;
  timeoutMs: number;
  helper: string;
}

/**
 * Adds an expectation for the connection of `ctx` (same tenant and external address as the
 * master, as Linux's expectations follow their master), after evicting the oldest one over the
 * limit. Returns the external port, or -1 when the NAT refused (ports exhausted, port in use).
 */
export function addHelperExpectation(
  ctx: HelperPacketContext,
  host: NatHelperHost,
  limiter: ExpectationLimiter,
  spec: HelperExpectationSpec,
): { externalPort: number; evicted: number } {
  let evicted = 0;
  try {
    evicted = limiter.makeRoom(ctx.connectionId, host);
    const rec = host.addExpectation({
      proto: spec.proto,
      insideIp: formatIpv4(ctx.insideIp),
      insidePort: spec.insidePort,
      tenant: ctx.tenant,
      remoteIp: spec.fromRemote ? formatIpv4(ctx.remoteIp) : undefined,
      externalIp: formatIpv4(ctx.externalIp),
      externalPort: spec.externalPort,
      timeoutMs: spec.timeoutMs,
      helper: spec.helper,
    });
    limiter.add(ctx.connectionId, rec.id, host);
    return { externalPort: rec.externalPort, evicted };
  } catch {
    return { externalPort: -1, evicted };
  }
}

/**
 * Keeps, per control connection, the ids of the expectations a helper created: evicts the oldest
 * when a new one would exceed the limit (Linux `nf_ct_expect_related` with the helper's
 * `max_expected`) and removes the pending ones when the control connection ends (Linux
 * `nf_ct_remove_expectations`).
 */
export class ExpectationLimiter {
  private readonly byConn = new Map<number, ConnExpectations>();
  /** `max`: pending expectations per connection. */
  constructor(readonly max: number) {}

  /** Makes room for one more expectation of `conn`; returns how many pending ones were evicted. */
  makeRoom(conn: number, host: NatHelperHost): number {
    const c = this.byConn.get(conn);
    if (!c) return 0;
    let evicted = 0;
    while (c.ids.length >= this.max) {
      const id = c.ids.shift() as number;
      if (host.removeExpectation(id)) evicted++;
    }
    return evicted;
  }

  /** Records a new expectation of `conn`. */
  add(conn: number, id: number, host: NatHelperHost): void {
    const c = this.byConn.get(conn);
    if (c) {
      c.ids.push(id);
      c.host = host;
    } else this.byConn.set(conn, { host, ids: [id] });
  }

  /** `conn` ended: removes its pending expectations and forgets it. */
  close(conn: number): void {
    const c = this.byConn.get(conn);
    if (!c) return;
    this.byConn.delete(conn);
    for (const id of c.ids) c.host.removeExpectation(id);
  }

  /** Number of connections tracked (for tests and leak checks). */
  get size(): number {
    return this.byConn.size;
  }
}

// =============================================================================== helper base classes

/** Counters every helper of this package keeps. */
export interface HelperBaseStats {
  /** Expectations created. */
  expectations: number;
  /** Pending expectations evicted by newer ones of the same connection (limit). */
  evictions: number;
  /** Messages that could not be parsed (passed unchanged). */
  parseErrors: number;
  /** Expectations or rewrites the NAT refused (ports exhausted, port in use, mangle failed). */
  failures: number;
}

/**
 * What the helpers share: validated options (`ports`, `tenants`, expectation timeout and limit,
 * `name`), the per-connection expectation limit and `onClose`.
 */
export abstract class HelperBase<S extends HelperBaseStats> implements NatHelper {
  /** {@inheritDoc NatHelper.name} */
  readonly name: string;
  /** {@inheritDoc NatHelper.proto} */
  abstract readonly proto: number;
  /** {@inheritDoc NatHelper.ports} */
  readonly ports: readonly number[];
  /** {@inheritDoc NatHelper.tenants} */
  readonly tenants?: readonly number[];
  /** Counters. */
  readonly stats: S;
  protected readonly timeoutMs: number;
  protected readonly limiter: ExpectationLimiter;

  /** Throws `ConfigError('ERR_BAD_OPTION')` for bad options. */
  constructor(
    protocol: string,
    opts: HelperCommonOptions | undefined,
    defaults: { ports: number[]; expectationTimeoutMs: number; maxExpectations: number },
    stats: S,
  ) {
    const o = resolveCommonOptions(protocol, opts, defaults);
    this.name = o.name;
    this.ports = o.ports;
    if (o.tenants) this.tenants = o.tenants;
    this.timeoutMs = o.expectationTimeoutMs;
    this.limiter = new ExpectationLimiter(o.maxExpectations);
    this.stats = stats;
  }

  /** {@inheritDoc NatHelper.onPacket} */
  abstract onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined;

  /** {@inheritDoc NatHelper.onClose} */
  onClose(connectionId: number): void {
    this.limiter.close(connectionId);
  }

  /**
   * Expects a connection to inside port `insidePort` of the packet's inside host (on
   * `externalPort`, or one the NAT allocates); returns the external port or -1 (counted by the
   * caller).
   */
  protected expectFor(
    ctx: HelperPacketContext,
    host: NatHelperHost,
    insidePort: number,
    externalPort: number | undefined,
    fromRemote: boolean,
  ): number {
    const r = addHelperExpectation(ctx, host, this.limiter, {
      proto: this.proto,
      insidePort,
      externalPort,
      fromRemote,
      timeoutMs: this.timeoutMs,
      helper: this.name,
    });
    this.stats.evictions += r.evicted;
    if (r.externalPort >= 0) this.stats.expectations++;
    return r.externalPort;
  }
}

/** A helper's work on one packet, with `onPacket`'s signature. */
export type PacketStep = (ctx: HelperPacketContext, host: NatHelperHost) => Uint8Array | null | undefined;

/**
 * Runs `step` (a method of `self`) for one packet so that nothing throws into the NAT: an
 * unexpected failure counts as a parse error in `stats` and the packet goes on unmodified.
 */
export function guardPacket(
  stats: { parseErrors: number },
  step: PacketStep,
  self: object,
  ctx: HelperPacketContext,
  host: NatHelperHost,
): Uint8Array | null | undefined {
  try {
    return step.call(self, ctx, host);
  } catch {
    stats.parseErrors++;
    return undefined;
  }
}

/** Counters of the CRLF-line helpers (FTP, IRC). */
export interface LineHelperStats extends HelperBaseStats {
  /** Lines rewritten (first transmissions). */
  rewrites: number;
  /** Rewrites repeated identically on retransmitted segments. */
  retransmissions: number;
  /** Addresses that were not the sender's: passed unchanged, no expectation. */
  refusals: number;
  /** Interesting lines split across segments (never rewritten). */
  splitLines: number;
}

/** Fresh (zero) counters of a line helper. */
export function zeroLineStats(): LineHelperStats {
  return {
    rewrites: 0,
    retransmissions: 0,
    expectations: 0,
    evictions: 0,
    parseErrors: 0,
    refusals: 0,
    splitLines: 0,
    failures: 0,
  };
}

/** Per-connection state of a line helper: one {@link TcpLineStream} per direction it parses. */
export interface LineConn {
  out: TcpLineStream;
  in?: TcpLineStream;
}

const TCP_SYN = 0x02;
const TCP_RST = 0x04;

/**
 * A TCP helper for a CRLF-line protocol: follows the streams of each connection it serves with
 * {@link TcpLineStream}s and rewrites what {@link TcpLineHelper.onLine} returns through
 * `host.mangle`. The packet being processed is available to subclasses as `ctx` / `host` /
 * `conn` during `onLine` / `onPartial`.
 */
export abstract class TcpLineHelper<C extends LineConn, S extends LineHelperStats> extends HelperBase<S> {
  /** TCP. */
  readonly proto = 6;
  /** Per-connection state by connection id (freed in `onClose`). */
  protected readonly conns = new Map<number, C>();
  /** The packet, host and connection being processed (valid during `onLine` / `onPartial`). */
  protected ctx!: HelperPacketContext;
  protected host!: NatHelperHost;
  protected conn!: C;
  private readonly lineHandler: LineHandler = (b, off, end) => this.onLine(b, off, end);
  private readonly partialHandler: PartialLineHandler = (b, off, end) => this.onPartial(b, off, end);

  /** Number of connections with state (for leak checks). */
  get connections(): number {
    return this.conns.size;
  }

  /** New state for a connection, or `undefined` when this connection is not served. */
  protected abstract newConn(ctx: HelperPacketContext): C | undefined;
  /** A complete line of new data at a line start; returns the edit to make. */
  protected abstract onLine(b: Uint8Array, off: number, end: number): LineEdit | undefined;
  /** A line that did not end in its segment (it will pass unchanged). */
  protected abstract onPartial(b: Uint8Array, off: number, end: number): void;

  /** {@inheritDoc NatHelper.onPacket} */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    return guardPacket(this.stats, this.segment, this, ctx, host);
  }

  private segment(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    if (ctx.proto !== 6) return undefined;
    let conn = this.conns.get(ctx.connectionId);
    if (!conn) {
      conn = this.newConn(ctx);
      if (!conn) return undefined;
      this.conns.set(ctx.connectionId, conn);
    }
    const stream = ctx.direction === 'outbound' ? conn.out : conn.in;
    if (!stream) return undefined;
    const flags = tcpFlagsOf(ctx);
    const seq = tcpSeqOf(ctx);
    if ((flags & TCP_RST) !== 0) return undefined;
    if ((flags & TCP_SYN) !== 0) {
      stream.syn(seq);
      return undefined;
    }
    if (ctx.payloadLen <= 0) return undefined;
    this.ctx = ctx;
    this.host = host;
    this.conn = conn;
    const before = stream.replayed;
    const edits = stream.process(
      ctx.pkt,
      ctx.payloadOff,
      ctx.payloadLen,
      seq,
      this.lineHandler,
      this.partialHandler,
    );
    this.stats.retransmissions += stream.replayed - before;
    if (!edits) return undefined;
    try {
      return applyEdits(ctx, host, edits);
    } catch {
      this.stats.failures++;
      return undefined;
    }
  }

  /** {@inheritDoc NatHelper.onClose} */
  override onClose(connectionId: number): void {
    this.conns.delete(connectionId);
    super.onClose(connectionId);
  }

  /** {@link HelperBase.expectFor} for the packet being processed. */
  protected expect(insidePort: number, externalPort: number | undefined, fromRemote: boolean): number {
    return this.expectFor(this.ctx, this.host, insidePort, externalPort, fromRemote);
  }

  /**
   * An endpoint `ip:port` the inside host announces in the packet being processed (FTP `PORT` /
   * `EPRT` / `227`, IRC DCC offers), as Linux's FTP and IRC helpers treat it:
   *
   * - the sender's inside address: an expectation on a port the NAT allocates (none for port 0,
   *   a passive offer); returns the external port to write with the external address;
   * - the sender's external address: an expectation on that same port, nothing to rewrite;
   * - any other address (FTP bounce, RFC 2577): refused, counted, no expectation.
   *
   * Returns -1 when nothing is to be rewritten (a failed expectation is counted).
   */
  protected expectAnnounced(ip: number, port: number, fromRemote: boolean): number {
    const ctx = this.ctx;
    if (ip === ctx.insideIp >>> 0) {
      const ext = port === 0 ? 0 : this.expect(port, undefined, fromRemote);
      if (ext < 0) this.stats.failures++;
      return ext;
    }
    if (ip === ctx.externalIp >>> 0) {
      if (port !== 0 && this.expect(port, port, fromRemote) < 0) this.stats.failures++;
      return -1;
    }
    this.stats.refusals++;
    return -1;
  }
}
