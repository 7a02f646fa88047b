/**
 * H.323 ALG: Q.931 / H.225.0 call signalling on TCP 1720 (TPKT, RFC 1006) and the H.245
 * control connections it announces. The helper decodes the ASN.1 aligned-PER structures that
 * carry IPv4 TransportAddresses (never a byte scan), rewrites the inside endpoint's addresses in
 * place (address and port have a fixed size in PER, so lengths never change) and opens
 * expectations for the H.245 connection and the RTP / RTCP media, like Linux
 * `nf_conntrack_h323` / `nf_nat_h323`.
 */
import { type Clock, ConfigError, systemClock } from '@l3kit/core';
import type { HelperPacketContext, NatHelper, NatHelperHost } from '@l3kit/nat';
import { formatIpv4 } from '@l3kit/wire';
import { addressBytes, checkCommon, checkMs, isPrivate, writeL4Bytes } from './h323/common.js';
import { H323UserInformation } from './h323/h225.js';
import { MultimediaSystemControlMessage } from './h323/h245.js';
import { type AddressHit, PerError, perDecode } from './h323/per.js';
import { parseQ931 } from './h323/q931.js';
import { TPKT_HEADER_LEN, tpktLength } from './h323/tpkt.js';
import { seqDiff } from './line-protocol.js';

export { H323UserInformation } from './h323/h225.js';
export { MultimediaSystemControlMessage, OpenLogicalChannel, OpenLogicalChannelAck } from './h323/h245.js';
export {
  type AddressHit,
  type AsnType,
  type AsnValue,
  type PerDecodeResult,
  PerError,
  perDecode,
  perEncode,
} from './h323/per.js';
export { buildQ931, parseQ931, type Q931Ie, type Q931Message, Q931MessageType } from './h323/q931.js';
export { RasMessage } from './h323/ras.js';
export {
  H323_DEFAULT_RRQ_TTL_MS,
  H323_RAS_PORT,
  H323RasHelper,
  type H323RasHelperOptions,
  type H323RasHelperStats,
} from './h323/ras-helper.js';
export { buildTpkt, tpktLength } from './h323/tpkt.js';

/** Q.931 call-signalling port (H.225.0). */
export const H323_Q931_PORT = 1720;
/** Expectation lifetime of Linux's H.323 helper (`nf_conntrack_h323`: 240 s). */
export const H323_EXPECTATION_TIMEOUT_MS = 240_000;
/** Expectations per master connection (Linux: `H323_RTP_CHANNEL_MAX * 4 + 2` = 18). */
export const H323_MAX_EXPECTATIONS = 18;
/** Marks an address that needed a rewrite in a TPKT that cannot be rewritten any more. */
const UNREWRITABLE = 'unrewritable';
/** Retransmission patches remembered per direction. */
const MAX_PATCHES = 64;

/** Options of {@link H323Helper}. */
export interface H323HelperOptions {
  /** Q.931 call-signalling ports (default `[1720]`). */
  ports?: number[];
  /** Tenants served (default: all). */
  tenants?: number[];
  /** Lifetime of the H.245 and RTP / RTCP expectations, ms (default 240 000, as Linux). */
  expectationTimeoutMs?: number;
  /**
   * Pending expectations per master connection; the oldest is evicted beyond it (default 18).
   * Also bounds the announced, not yet opened H.245 addresses followed per connection.
   */
  maxExpectations?: number;
  /** Follow the H.245 connections announced in h245Address (default true). */
  h245?: boolean;
  /** Clock for the lifetime of announced-but-unopened H.245 connections (default: the NAT's). */
  clock?: Clock;
}

/** Counters of {@link H323Helper}. */
export interface H323HelperStats {
  /** Complete TPKTs decoded (Q.931 and H.245). */
  messages: number;
  /** Transport addresses rewritten (each address + port counts once). */
  rewrites: number;
  /** Expectations created (H.245 TCP, RTP / RTCP UDP). */
  expectations: number;
  /** Expectations the NAT refused (ports exhausted, conflicts). */
  expectationFailures: number;
  /** Oldest expectations removed because the per-connection limit was reached. */
  evictions: number;
  /** Payloads that are not valid TPKT / Q.931 / PER (passed unmodified). */
  parseErrors: number;
  /** Messages whose decoding stopped at an unmodelled structure before its end. */
  partialDecodes: number;
  /** TPKTs split across segments (passed unmodified; expectations for remote addresses still made). */
  spanned: number;
  /** Addresses of the inside host that needed a rewrite in a TPKT that could not be rewritten. */
  unrewritable: number;
  /** Private addresses in outbound messages that are not the sender's (left alone). */
  refusals: number;
  /** Retransmitted segments re-patched like the original. */
  retransmissions: number;
  /** Segments after a gap in the stream (parsing resynchronised at the next TPKT). */
  outOfOrder: number;
  /** H.245 connections recognised. */
  h245Connections: number;
}

interface Patch {
  seq: number;
  bytes: Uint8Array;
}

interface DirState {
  init: boolean;
  nextSeq: number;
  /** Parsing lost: wait for a segment that starts with a TPKT header. */
  lost: boolean;
  /** Bytes of a TPKT that started in an earlier segment. */
  pend: Uint8Array | null;
  pendLen: number;
  /** Total length of the pending TPKT (0 while its header is incomplete). */
  need: number;
  patches: Patch[];
}

interface ConnState {
  kind: 'q931' | 'h245' | 'none';
  host: NatHelperHost | null;
  dirs: [DirState, DirState];
  /** Expectations made from this connection (id and `mapped` key), oldest first. */
  exps: Array<{ id: number; key: string }>;
  /** `proto:insidePort` → external port given out by this connection. */
  mapped: Map<string, number>;
  /** Keys of `mapped` handled in the message being processed (renewed once per message). */
  seen: Set<string>;
  /** Pending H.245 keys registered by this connection. */
  h245Keys: string[];
}

interface PendingH245 {
  key: string;
  port: number;
  deadline: number;
  owner: number;
}

type Role = 'srcSignal' | 'destSignal' | 'altSignal' | 'h245' | 'rtp' | 'rtcp' | 'other';

function roleOf(path: string): Role {
  if (path.includes('mediaControlChannel')) return 'rtcp';
  if (path.includes('mediaChannel')) return 'rtp';
  if (path.endsWith('h245Address.ipAddress')) return 'h245';
  if (path.endsWith('sourceCallSignalAddress.ipAddress')) return 'srcSignal';
  if (path.endsWith('destCallSignalAddress.ipAddress')) return 'destSignal';
  if (path.endsWith('alternativeAddress.ipAddress')) return 'altSignal';
  return 'other';
}

function newDir(): DirState {
  return { init: false, nextSeq: 0, lost: false, pend: null, pendLen: 0, need: 0, patches: [] };
}

/**
 * The H.323 ALG. Add it with `nat.addHelper(new H323Helper())`. It handles Q.931 / H.225.0 on
 * TCP 1720 in both directions (an inside caller, or an inside callee behind a port forward) and
 * the H.245 connections announced by `h245Address`; see `docs/alg.md` (H.323) for the exact fields.
 */
export class H323Helper implements NatHelper {
  /** Helper name (`'h323'`). */
  readonly name = 'h323';
  /** TCP. */
  readonly proto = 6;
  /** Tenants served (all when undefined). */
  readonly tenants?: readonly number[];
  /** Counters. */
  readonly stats: H323HelperStats = {
    messages: 0,
    rewrites: 0,
    expectations: 0,
    expectationFailures: 0,
    evictions: 0,
    parseErrors: 0,
    partialDecodes: 0,
    spanned: 0,
    unrewritable: 0,
    refusals: 0,
    retransmissions: 0,
    outOfOrder: 0,
    h245Connections: 0,
  };
  private readonly q931Ports: number[];
  /** Q.931 ports followed by the ports of announced H.245 connections (live array read by the NAT). */
  private readonly portList: number[];
  private readonly portRefs = new Map<number, number>();
  private readonly timeoutMs: number;
  private readonly maxExpectations: number;
  private readonly followH245: boolean;
  /** Set from the options, else taken from the NAT on the first packet. */
  private clock: Clock | undefined;
  private readonly conns = new Map<number, ConnState>();
  private readonly pendingH245 = new Map<string, PendingH245>();
  /** Pending H.245 entries in deadline order (the timeout is constant). */
  private readonly pendingQueue: PendingH245[] = [];

  constructor(opts: H323HelperOptions = {}) {
    const common = checkCommon(opts, 'H323Helper', [H323_Q931_PORT]);
    this.q931Ports = common.ports;
    this.portList = [...this.q931Ports];
    this.tenants = common.tenants;
    this.timeoutMs = checkMs(opts.expectationTimeoutMs, 'expectationTimeoutMs', H323_EXPECTATION_TIMEOUT_MS);
    const max = opts.maxExpectations ?? H323_MAX_EXPECTATIONS;
    if (!Number.isInteger(max) || max < 1)
      throw new ConfigError('ERR_BAD_OPTION', 'maxExpectations must be a positive integer');
    this.maxExpectations = max;
    if (opts.h245 !== undefined && typeof opts.h245 !== 'boolean')
      throw new ConfigError('ERR_BAD_OPTION', 'h245 must be a boolean');
    this.followH245 = opts.h245 ?? true;
    if (opts.clock !== undefined && (typeof opts.clock !== 'object' || typeof opts.clock.now !== 'function'))
      throw new ConfigError('ERR_BAD_OPTION', 'clock must have now()');
    this.clock = opts.clock;
  }

  /**
   * Ports the NAT matches connections on: the Q.931 ports, plus the ports of H.245 connections
   * announced and not yet opened (the NAT reads this array when a connection starts).
   */
  get ports(): readonly number[] {
    return this.portList;
  }

  /** Connections with per-connection state (for tests and introspection). */
  get trackedConnections(): number {
    return this.conns.size;
  }

  /** {@inheritDoc NatHelper.onPacket} */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    if (ctx.proto !== 6) return undefined;
    this.clock ??= host.clock;
    try {
      this.expirePending();
      const c = this.connFor(ctx, host);
      if (c.kind !== 'none') this.segment(c, ctx, host);
    } catch {
      this.stats.parseErrors++; // never throw into the NAT: the packet goes on unmodified
    }
    return undefined;
  }

  /** {@inheritDoc NatHelper.onClose} */
  onClose(connectionId: number): void {
    const c = this.conns.get(connectionId);
    if (!c) return;
    this.conns.delete(connectionId);
    if (c.host) for (const e of c.exps) c.host.removeExpectation(e.id);
    for (const key of c.h245Keys) {
      const p = this.pendingH245.get(key);
      if (p && p.owner === connectionId) this.dropPending(p);
    }
  }

  // ------------------------------------------------------------------------ connections

  private connFor(ctx: HelperPacketContext, host: NatHelperHost): ConnState {
    let c = this.conns.get(ctx.connectionId);
    if (c) return c;
    let kind: ConnState['kind'] = 'none';
    if (this.q931Ports.includes(ctx.remotePort) || this.q931Ports.includes(ctx.insidePort)) kind = 'q931';
    else {
      const p =
        this.pendingH245.get(this.keyListen(ctx.tenant, ctx.insideIp >>> 0, ctx.insidePort)) ??
        this.pendingH245.get(
          this.keyConnect(ctx.tenant, ctx.insideIp >>> 0, ctx.remoteIp >>> 0, ctx.remotePort),
        );
      if (p) {
        kind = 'h245';
        this.dropPending(p);
        this.stats.h245Connections++;
      }
    }
    c = {
      kind,
      host,
      dirs: [newDir(), newDir()],
      exps: [],
      mapped: new Map(),
      seen: new Set(),
      h245Keys: [],
    };
    this.conns.set(ctx.connectionId, c);
    return c;
  }

  private keyListen(tenant: number, insideIp: number, port: number): string {
    return `L${tenant}:${insideIp}:${port}`;
  }
  private keyConnect(tenant: number, insideIp: number, remoteIp: number, port: number): string {
    return `C${tenant}:${insideIp}:${remoteIp}:${port}`;
  }

  private addPending(key: string, port: number, owner: number, c: ConnState): void {
    if (!this.followH245) return;
    const old = this.pendingH245.get(key);
    if (old) this.dropPending(old); // announced again: a fresh lifetime (its queue entry is skipped)
    const p: PendingH245 = { key, port, owner, deadline: this.now() + this.timeoutMs };
    this.pendingH245.set(key, p);
    this.pendingQueue.push(p);
    if (!c.h245Keys.includes(key)) {
      // Bounded per connection (a peer could announce endless addresses): forget the oldest.
      if (c.h245Keys.length >= this.maxExpectations) {
        const oldest = this.pendingH245.get(c.h245Keys.shift() as string);
        if (oldest && oldest.owner === owner) this.dropPending(oldest);
      }
      c.h245Keys.push(key);
    }
    const refs = this.portRefs.get(port) ?? 0;
    this.portRefs.set(port, refs + 1);
    if (refs === 0 && !this.q931Ports.includes(port)) this.portList.push(port);
  }

  private dropPending(p: PendingH245): void {
    if (this.pendingH245.get(p.key) !== p) return;
    this.pendingH245.delete(p.key);
    const refs = (this.portRefs.get(p.port) ?? 1) - 1;
    if (refs > 0) this.portRefs.set(p.port, refs);
    else {
      this.portRefs.delete(p.port);
      if (!this.q931Ports.includes(p.port)) {
        const i = this.portList.indexOf(p.port);
        if (i >= 0) this.portList.splice(i, 1);
      }
    }
  }

  private now(): number {
    return (this.clock ?? systemClock()).now();
  }

  private expirePending(): void {
    const q = this.pendingQueue;
    if (q.length === 0) return;
    const now = this.now();
    let n = 0;
    while (n < q.length && (q[n].deadline <= now || this.pendingH245.get(q[n].key) !== q[n])) {
      this.dropPending(q[n]);
      n++;
    }
    if (n > 0) q.splice(0, n);
  }

  // ------------------------------------------------------------------------ TCP stream

  private segment(c: ConnState, ctx: HelperPacketContext, host: NatHelperHost): void {
    c.host = host;
    const pkt = ctx.pkt;
    const l4 = ctx.l4Off;
    const flags = pkt[l4 + 13];
    const seq = ((pkt[l4 + 4] << 24) | (pkt[l4 + 5] << 16) | (pkt[l4 + 6] << 8) | pkt[l4 + 7]) >>> 0;
    const d = c.dirs[ctx.direction === 'outbound' ? 0 : 1];
    const other = c.dirs[ctx.direction === 'outbound' ? 1 : 0];
    if ((flags & 0x10) !== 0 && other.patches.length > 0) {
      const ack = ((pkt[l4 + 8] << 24) | (pkt[l4 + 9] << 16) | (pkt[l4 + 10] << 8) | pkt[l4 + 11]) >>> 0;
      other.patches = other.patches.filter((p) => ((p.seq + p.bytes.length - ack) | 0) > 0);
    }
    const len = ctx.payloadLen;
    if ((flags & 0x02) !== 0) {
      d.init = true;
      d.nextSeq = (seq + 1) >>> 0;
      d.lost = false;
      if (len === 0) return;
    }
    if (len === 0) return;
    const dataSeq = (flags & 0x02) !== 0 ? (seq + 1) >>> 0 : seq;
    if (!d.init) {
      d.init = true;
      d.nextSeq = dataSeq;
    }
    let rel = seqDiff(dataSeq, d.nextSeq);
    if (rel > 0) {
      // A gap: resynchronise on this segment if it starts with a TPKT header.
      this.stats.outOfOrder++;
      this.lose(d);
      d.nextSeq = dataSeq;
      rel = 0;
    }
    let start = 0;
    if (rel < 0) {
      // Old bytes: apply what was written into them the first time.
      const oldLen = Math.min(len, -rel);
      if (this.repatch(d, ctx, dataSeq, oldLen)) this.stats.retransmissions++;
      start = oldLen;
      if (start >= len) return;
    }
    this.stream(c, d, ctx, host, dataSeq, start);
    d.nextSeq = (dataSeq + len) >>> 0;
  }

  private repatch(d: DirState, ctx: HelperPacketContext, dataSeq: number, oldLen: number): boolean {
    let any = false;
    for (const p of d.patches) {
      const r = seqDiff(p.seq, dataSeq);
      const from = Math.max(0, -r);
      const to = Math.min(p.bytes.length, oldLen - r);
      if (from >= to) continue;
      writeL4Bytes(ctx, ctx.payloadOff + r, p.bytes, from, to);
      any = true;
    }
    return any;
  }

  /** Parses new stream bytes `payload[start..]` into TPKTs. */
  private stream(
    c: ConnState,
    d: DirState,
    ctx: HelperPacketContext,
    host: NatHelperHost,
    dataSeq: number,
    start: number,
  ): void {
    const pkt = ctx.pkt;
    const base = ctx.payloadOff;
    const end = base + ctx.payloadLen;
    let p = base + start;
    if (d.lost) {
      if (d.pend === null && tpktLength(pkt, p, end - p) > 0) d.lost = false;
      else return;
    }
    while (p < end) {
      if (d.pend !== null) {
        // Continue a TPKT begun in an earlier segment.
        if (d.need === 0) {
          const take = Math.min(TPKT_HEADER_LEN - d.pendLen, end - p);
          d.pend.set(pkt.subarray(p, p + take), d.pendLen);
          d.pendLen += take;
          p += take;
          if (d.pendLen < TPKT_HEADER_LEN) return;
          const n = tpktLength(d.pend, 0, d.pendLen);
          if (n < 0) {
            this.desync(d);
            return;
          }
          const grown = new Uint8Array(n);
          grown.set(d.pend.subarray(0, d.pendLen));
          d.pend = grown;
          d.need = n;
        }
        const take = Math.min(d.need - d.pendLen, end - p);
        d.pend.set(pkt.subarray(p, p + take), d.pendLen);
        d.pendLen += take;
        p += take;
        if (d.pendLen < d.need) return;
        const whole = d.pend;
        d.pend = null;
        d.pendLen = 0;
        d.need = 0;
        this.message(c, ctx, host, whole, 0, whole.length, -1, dataSeq);
        continue;
      }
      const n = tpktLength(pkt, p, end - p);
      if (n < 0) {
        this.desync(d);
        return;
      }
      if (n === 0 || p + n > end) {
        // Header or body continues in the next segment: buffer it, pass this part unmodified.
        if (n > 0) this.stats.spanned++;
        d.pend = new Uint8Array(n > 0 ? n : TPKT_HEADER_LEN);
        d.pend.set(pkt.subarray(p, end));
        d.pendLen = end - p;
        d.need = n;
        return;
      }
      this.message(c, ctx, host, pkt, p, p + n, base, dataSeq);
      p += n;
    }
  }

  /** Not TPKT where a TPKT must start: stop parsing until a segment starts with one. */
  private desync(d: DirState): void {
    this.stats.parseErrors++;
    this.lose(d);
  }

  private lose(d: DirState): void {
    d.pend = null;
    d.pendLen = 0;
    d.need = 0;
    d.lost = true;
  }

  // ------------------------------------------------------------------------ messages

  /**
   * One complete TPKT in `buf[off, end)`. `payloadBase` ≥ 0 when `buf` is the packet and the
   * TPKT lies within this segment (rewritable); -1 for a TPKT reassembled from several segments.
   */
  private message(
    c: ConnState,
    ctx: HelperPacketContext,
    host: NatHelperHost,
    buf: Uint8Array,
    off: number,
    end: number,
    payloadBase: number,
    dataSeq: number,
  ): void {
    this.stats.messages++;
    let hits: AddressHit[];
    try {
      if (c.kind === 'q931') {
        const q = parseQ931(buf, off + TPKT_HEADER_LEN, end);
        if (!q) {
          this.stats.parseErrors++;
          return;
        }
        if (q.uuOff < 0) return;
        const r = perDecode(H323UserInformation, buf, q.uuOff, q.uuEnd, false);
        if (!r.complete) this.stats.partialDecodes++;
        hits = r.hits;
      } else {
        const r = perDecode(MultimediaSystemControlMessage, buf, off + TPKT_HEADER_LEN, end, false);
        if (!r.complete) this.stats.partialDecodes++;
        hits = r.hits;
      }
    } catch (e) {
      if (!(e instanceof PerError)) throw e;
      this.stats.parseErrors++;
      return;
    }
    const d = c.dirs[ctx.direction === 'outbound' ? 0 : 1];
    const canRewrite = payloadBase >= 0;
    c.seen.clear();
    for (const h of hits) {
      const to = this.translate(c, ctx, host, h, canRewrite);
      if (to === null) continue;
      if (to === UNREWRITABLE) {
        this.stats.unrewritable++;
        continue;
      }
      const bytes = addressBytes(to.ip, to.port);
      writeL4Bytes(ctx, h.ipOff, bytes);
      this.stats.rewrites++;
      d.patches.push({ seq: (dataSeq + (h.ipOff - payloadBase)) >>> 0, bytes });
      if (d.patches.length > MAX_PATCHES) d.patches.shift();
    }
  }

  /** What an address becomes (null: left alone), creating expectations as needed. */
  private translate(
    c: ConnState,
    ctx: HelperPacketContext,
    host: NatHelperHost,
    h: AddressHit,
    canRewrite: boolean,
  ): { ip: number; port: number } | typeof UNREWRITABLE | null {
    const role = roleOf(h.path);
    if (role === 'other') return null;
    const insideIp = ctx.insideIp >>> 0;
    const externalIp = ctx.externalIp >>> 0;
    const signal = role === 'srcSignal' || role === 'destSignal' || role === 'altSignal';
    if (ctx.direction === 'outbound') {
      if (h.ip !== insideIp) {
        if (isPrivate(h.ip) && role !== 'destSignal') this.stats.refusals++;
        return null;
      }
      if (!canRewrite) return UNREWRITABLE; // no expectation for an address the peer will see unchanged
      // Like Linux: the caller's sourceCallSignalAddress becomes this connection's external
      // endpoint; another signalling address only when it is exactly the connection's inside end.
      if (role === 'srcSignal' || (signal && h.port === ctx.insidePort))
        return { ip: externalIp, port: ctx.externalPort };
      if (signal) return null;
      const ext = this.expect(c, ctx, host, role === 'h245' ? 6 : 17, h.port, role);
      if (ext < 0) return null;
      if (role === 'h245')
        this.addPending(this.keyListen(ctx.tenant, insideIp, h.port), h.port, ctx.connectionId, c);
      return { ip: externalIp, port: ext };
    }
    // Inbound: the remote's own addresses need no rewrite; our external address maps back.
    if (h.ip === externalIp) {
      if (!canRewrite) return UNREWRITABLE;
      // A Setup through a port forward names the NAT as destCallSignalAddress (Linux: the real callee).
      if (role === 'destSignal' || (signal && h.port === ctx.externalPort))
        return { ip: insideIp, port: ctx.insidePort };
      if (signal) return null;
      const proto = role === 'h245' ? 6 : 17;
      for (const [k, ext] of c.mapped)
        if (ext === h.port && k.startsWith(`${proto}:`))
          return { ip: insideIp, port: Number(k.slice(k.indexOf(':') + 1)) };
      return null;
    }
    if (role === 'h245')
      this.addPending(this.keyConnect(ctx.tenant, insideIp, h.ip, h.port), h.port, ctx.connectionId, c);
    return null;
  }

  private evict(c: ConnState, host: NatHelperHost): void {
    const oldest = c.exps.shift() as { id: number; key: string };
    host.removeExpectation(oldest.id);
    c.mapped.delete(oldest.key); // its external port is no longer held for that inside port
    this.stats.evictions++;
  }

  /** Expectation for `insideIp:port` from this connection's remote; returns the external port or -1. */
  private expect(
    c: ConnState,
    ctx: HelperPacketContext,
    host: NatHelperHost,
    proto: number,
    port: number,
    role: Role,
  ): number {
    const key = `${proto}:${port}`;
    const known = c.mapped.get(key);
    if (known !== undefined && c.seen.has(key)) return known;
    c.seen.add(key);
    const prev = known === undefined ? -1 : c.exps.findIndex((e) => e.key === key);
    if (prev < 0 && c.exps.length >= this.maxExpectations) this.evict(c, host);
    const base = {
      proto,
      insideIp: formatIpv4(ctx.insideIp >>> 0),
      insidePort: port,
      tenant: ctx.tenant,
      remoteIp: formatIpv4(ctx.remoteIp >>> 0),
      timeoutMs: this.timeoutMs,
      helper: this.name,
    };
    // RTP / RTCP: keep the pair adjacent on the outside when the other half is already mapped.
    let want = -1;
    if (known !== undefined) {
      // Announced again (Setup then Facility, a reopened channel): renew on the same external
      // port while it is still held for this inside port, then drop the older expectation.
      try {
        const rec = host.addExpectation({ ...base, externalPort: known });
        if (prev >= 0) host.removeExpectation(c.exps.splice(prev, 1)[0].id);
        c.exps.push({ id: rec.id, key });
        this.stats.expectations++;
        return known;
      } catch {
        if (prev >= 0) host.removeExpectation(c.exps.splice(prev, 1)[0].id);
        c.mapped.delete(key);
        if (c.exps.length >= this.maxExpectations) this.evict(c, host);
      }
    } else if (role === 'rtcp') {
      const rtp = c.mapped.get(`17:${port - 1}`);
      if (rtp !== undefined && rtp < 65535) want = rtp + 1;
    } else if (role === 'rtp') {
      const rtcp = c.mapped.get(`17:${port + 1}`);
      if (rtcp !== undefined && rtcp > 1) want = rtcp - 1;
    }
    let rec: ReturnType<NatHelperHost['addExpectation']> | null = null;
    if (want > 0) {
      try {
        rec = host.addExpectation({ ...base, externalPort: want });
      } catch {
        rec = null;
      }
    }
    if (!rec) {
      try {
        rec = host.addExpectation(base);
      } catch {
        this.stats.expectationFailures++;
        return -1;
      }
    }
    c.exps.push({ id: rec.id, key });
    c.mapped.set(key, rec.externalPort);
    this.stats.expectations++;
    return rec.externalPort;
  }
}
