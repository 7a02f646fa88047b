/**
 * PPTP ALG (RFC 2637): follows the control connection on TCP 1723, gives each call of an inside
 * host its own outside Call ID, translates the Call ID fields of the control messages in both
 * directions, and sets up the NAT's enhanced-GRE (protocol 47) mapping of each call, so that
 * several inside PPTP clients — with overlapping addresses in different tenants or not, using the
 * same Call IDs — reach one server through one NAT address and their GRE reaches the right one.
 *
 * The helper reads the TCP byte stream per direction (by sequence number), so control messages
 * may share a segment or span several; every Call ID field is rewritten in the segment that
 * carries it, in place (same length, TCP checksum updated incrementally), and retransmitted
 * bytes are rewritten identically from a small log.
 */
import { ConfigError } from '@l3kit/core';
import type { CreateMappingOptions, HelperPacketContext, NatHelper, NatHelperHost } from '@l3kit/nat';
import { formatIpv4, readChecksum, updateChecksum16, writeChecksum } from '@l3kit/wire';
import { guardPacket, seqDiff } from './line-protocol.js';
import {
  PPTP_CALL_REPLY_RESULT_OFFSET,
  PPTP_HEADER_LEN,
  PPTP_MAGIC_COOKIE,
  PPTP_MESSAGE_LENGTH,
  PPTP_OWN_CALL_ID_OFFSET,
  PPTP_PEER_CALL_ID_OFFSET,
  PPTP_PORT,
  PPTP_RESULT_CONNECTED,
  PptpControlType,
  PptpMessageType,
} from './pptp-message.js';

export * from './pptp-message.js';

// ---------------------------------------------------------------- implementation constants

/** Default bound on the calls one control connection may hold (set up or being set up). */
export const PPTP_DEFAULT_MAX_CALLS = 64;
/**
 * Default bound on the calls of one control connection whose outside Call ID is reserved but
 * not yet answered. Linux allows 2 PPTP expectations per control connection (the two GRE
 * directions of the one call being set up); see `docs/alg.md` (PPTP).
 */
export const PPTP_DEFAULT_MAX_PENDING_CALLS = 2;
/** Bytes of a message kept for parsing: the header, two Call IDs and the reply result code. */
const HEAD_LEN = PPTP_CALL_REPLY_RESULT_OFFSET + 1;
/** Rewritten bytes remembered per direction to rewrite retransmissions identically. */
const LOG_LEN = 64;
const TCP_SYN = 0x02;
const GRE = 47;
const T = PptpControlType;

/** Options of {@link PptpHelper}. */
export interface PptpHelperOptions {
  /** Control connection ports (default `[1723]`). */
  ports?: number[];
  /** Tenants served (default: all). */
  tenants?: number[];
  /** Calls per control connection (default {@link PPTP_DEFAULT_MAX_CALLS}); more are refused. */
  maxCallsPerConnection?: number;
  /**
   * Calls per control connection with a reserved outside Call ID and no reply yet (default
   * {@link PPTP_DEFAULT_MAX_PENDING_CALLS}); a new one evicts the oldest, as Linux evicts the
   * oldest expectation.
   */
  maxPendingCalls?: number;
}

/** Counters of a {@link PptpHelper}. */
export interface PptpHelperStats {
  /** Complete control messages parsed. */
  messages: number;
  /** Call ID fields rewritten (first transmissions). */
  rewrites: number;
  /** Segments whose retransmitted bytes were rewritten again from the log. */
  retransmissionsRewritten: number;
  /** GRE mappings created (one per established call). */
  greMappings: number;
  /** Calls torn down (Call-Clear-Request, Call-Disconnect-Notify, failed reply, Stop, close). */
  callsCleared: number;
  /** Malformed or unknown control messages (skipped by their length) and streams given up on. */
  parseErrors: number;
  /** Call ID fields naming no call of the connection (left unchanged). */
  unknownCallIds: number;
  /** Calls not translated: call limit, no free outside Call ID, or the NAT refused the mapping. */
  refusals: number;
  /** Pending calls evicted by `maxPendingCalls`. */
  evictions: number;
  /** Segments ahead of the stream (a gap) dropped so the sender retransmits in order. */
  outOfOrderDrops: number;
  /** Call ID fields split across two segments. */
  splitFields: number;
  /** Split Call ID fields whose first byte could not be decided (left unchanged). */
  unresolvedSplitFields: number;
}

/** One call of a control connection. -1 = not known (yet). */
interface Call {
  /** Call ID the inside host uses. */
  insideId: number;
  /** Call ID the remote peer sees for the inside host (reserved / mapped outside port). */
  outsideId: number;
  /** Call ID of the remote peer (unchanged by the NAT). */
  remoteId: number;
  /** The GRE mapping exists (its record id is `mappingId`). */
  mappingId: number;
  /** Answered successfully (mapping created or attempted). */
  answered: boolean;
}

/** The byte stream of one direction of a control connection. */
class StreamState {
  synced = false;
  /** Sequence number of the next new byte. */
  next = 0;
  /** Gave up on this direction (bad magic cookie): everything passes unchanged. */
  dead = false;
  /** Bytes of the current message seen so far, its length (0 until known) and type. */
  pos = 0;
  len = 0;
  type = 0;
  /** The current message is not understood: its bytes are skipped. */
  skip = false;
  readonly head = new Uint8Array(HEAD_LEN);
  /** Outside Call ID reserved for the current message's own Call ID field, or -1. */
  alloc = -1;
  /** The first byte of the field being read ended the previous segment. */
  split = false;
  /**
   * For a split field: the high byte written into the previous segment; -1 when left unchanged,
   * -2 when left unchanged because the possible calls disagreed (already counted).
   */
  splitHigh = -1;
  readonly logSeq = new Uint32Array(LOG_LEN);
  readonly logVal = new Uint8Array(LOG_LEN);
  logCount = 0;
  logAt = 0;

  resetMessage(): void {
    this.pos = 0;
    this.len = 0;
    this.type = 0;
    this.skip = false;
    this.split = false;
    this.splitHigh = -1;
  }

  remember(seq: number, val: number): void {
    this.logSeq[this.logAt] = seq;
    this.logVal[this.logAt] = val;
    this.logAt = (this.logAt + 1) % LOG_LEN;
    if (this.logCount < LOG_LEN) this.logCount++;
  }
}

/** State of one control connection. */
interface ControlConnection {
  tenant: number;
  insideIp: number;
  externalIp: number;
  remoteIp: number;
  /** From the inside host. */
  out: StreamState;
  /** From the remote peer. */
  in: StreamState;
  calls: Call[];
  /** The NAT serving it (for teardown from `onClose`). */
  host: NatHelperHost;
}

function checkIntList(v: unknown, what: string, min: number, max: number): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((p) => Number.isInteger(p) && p >= min && p <= max))
    throw new ConfigError(
      'ERR_BAD_OPTION',
      `PptpHelper: ${what} must be a non-empty array of integers ${min}..${max}`,
    );
  return [...v];
}

function checkCount(v: unknown, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535)
    throw new ConfigError('ERR_BAD_OPTION', `PptpHelper: ${what} must be an integer 1..65535`);
  return v as number;
}

/**
 * The PPTP ALG for `@l3kit/nat`: `nat.addHelper(new PptpHelper())`.
 *
 * Translated fields (RFC 2637 §2): from the inside host, its own Call ID in Outgoing-Call-Request
 * / -Reply, Incoming-Call-Request / -Reply, Call-Clear-Request and Call-Disconnect-Notify (a new
 * outside Call ID is reserved for each new call); from the remote peer, the Peer's Call ID in
 * Outgoing-Call-Reply, Incoming-Call-Reply, Incoming-Call-Connected, WAN-Error-Notify and
 * Set-Link-Info (and, like Linux, a Call-Disconnect-Notify Call ID that names the inside host's
 * call). A successful Outgoing- / Incoming-Call-Reply creates the NAT's GRE mapping (inside Call
 * ID ↔ outside Call ID, peer Call ID); Call-Clear-Request, Call-Disconnect-Notify,
 * Stop-Control-Connection-Reply and the end of the control connection remove it.
 */
export class PptpHelper implements NatHelper {
  readonly name = 'pptp';
  readonly proto = 6;
  readonly ports: readonly number[];
  readonly tenants?: readonly number[];
  /** Counters (see {@link PptpHelperStats}). */
  readonly stats: PptpHelperStats = {
    messages: 0,
    rewrites: 0,
    retransmissionsRewritten: 0,
    greMappings: 0,
    callsCleared: 0,
    parseErrors: 0,
    unknownCallIds: 0,
    refusals: 0,
    evictions: 0,
    outOfOrderDrops: 0,
    splitFields: 0,
    unresolvedSplitFields: 0,
  };
  private readonly maxCalls: number;
  private readonly maxPending: number;
  private readonly conns = new Map<number, ControlConnection>();

  /** Throws `ConfigError('ERR_BAD_OPTION')` for invalid options. */
  constructor(options: PptpHelperOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new ConfigError('ERR_BAD_OPTION', 'PptpHelper: options must be an object');
    this.ports = options.ports === undefined ? [PPTP_PORT] : checkIntList(options.ports, 'ports', 1, 65535);
    if (options.tenants !== undefined) this.tenants = checkIntList(options.tenants, 'tenants', 0, 0xffffffff);
    this.maxCalls = checkCount(
      options.maxCallsPerConnection,
      'maxCallsPerConnection',
      PPTP_DEFAULT_MAX_CALLS,
    );
    this.maxPending = checkCount(options.maxPendingCalls, 'maxPendingCalls', PPTP_DEFAULT_MAX_PENDING_CALLS);
  }

  /** Control connections currently followed. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /**
   * The calls of control connection `connectionId` (for introspection and tests): inside,
   * outside and remote Call IDs (-1 = not known yet) and whether the GRE mapping exists.
   */
  calls(
    connectionId: number,
  ): Array<{ insideId: number; outsideId: number; remoteId: number; mapped: boolean }> {
    const c = this.conns.get(connectionId);
    if (!c) return [];
    return c.calls.map((k) => ({
      insideId: k.insideId,
      outsideId: k.outsideId,
      remoteId: k.remoteId,
      mapped: k.mappingId >= 0,
    }));
  }

  /** {@inheritDoc NatHelper.onPacket} */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    return guardPacket(this.stats, this.segment, this, ctx, host);
  }

  private segment(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    if (ctx.proto !== 6) return undefined;
    const pkt = ctx.pkt;
    const l4 = ctx.l4Off;
    let conn = this.conns.get(ctx.connectionId);
    if (!conn) {
      conn = {
        tenant: ctx.tenant,
        insideIp: ctx.insideIp,
        externalIp: ctx.externalIp,
        remoteIp: ctx.remoteIp,
        out: new StreamState(),
        in: new StreamState(),
        calls: [],
        host,
      };
      this.conns.set(ctx.connectionId, conn);
    }
    conn.host = host;
    const fromInside = ctx.direction === 'outbound';
    const st = fromInside ? conn.out : conn.in;
    let seq = ((pkt[l4 + 4] << 24) | (pkt[l4 + 5] << 16) | (pkt[l4 + 6] << 8) | pkt[l4 + 7]) >>> 0;
    if ((pkt[l4 + 13] & TCP_SYN) !== 0) {
      seq = (seq + 1) >>> 0;
      st.synced = true;
      st.next = seq;
      st.resetMessage();
    }
    const n = ctx.payloadLen;
    if (n === 0 || st.dead) return undefined;
    if (!st.synced) {
      // Joined mid-connection (helper added later): assume the segment starts a message.
      st.synced = true;
      st.next = seq;
    }
    const d = seqDiff(seq, st.next);
    if (d > 0) {
      this.stats.outOfOrderDrops++;
      return null;
    }
    let start = 0;
    if (d < 0) {
      start = Math.min(-d, n);
      if (this.replay(st, ctx, seq, start)) this.stats.retransmissionsRewritten++;
      if (start === n) return undefined;
    }
    this.scan(conn, st, fromInside, ctx, seq, start);
    st.next = (seq + n) >>> 0;
    return undefined;
  }

  /** {@inheritDoc NatHelper.onClose} */
  onClose(connectionId: number): void {
    const conn = this.conns.get(connectionId);
    if (!conn) return;
    this.conns.delete(connectionId);
    this.teardownAll(conn);
    this.releaseAlloc(conn, conn.out);
  }

  // ------------------------------------------------------------------ byte stream

  /** Re-applies logged rewrites to the first `count` (retransmitted) payload bytes. */
  private replay(st: StreamState, ctx: HelperPacketContext, seq: number, count: number): boolean {
    let hit = false;
    for (let k = 0; k < st.logCount; k++) {
      const off = (st.logSeq[k] - seq) >>> 0;
      if (off >= count) continue;
      patchByte(ctx, ctx.payloadOff + off, st.logVal[k]);
      hit = true;
    }
    return hit;
  }

  private scan(
    conn: ControlConnection,
    st: StreamState,
    fromInside: boolean,
    ctx: HelperPacketContext,
    seq: number,
    start: number,
  ): void {
    const pkt = ctx.pkt;
    const base = ctx.payloadOff;
    const end = base + ctx.payloadLen;
    for (let i = base + start; i < end && !st.dead; i++) {
      const p = st.pos;
      if (p < HEAD_LEN) st.head[p] = pkt[i];
      st.pos = p + 1;
      const q = p + 1; // bytes of the message consumed, this one included
      if (q === 8) {
        st.len = (st.head[0] << 8) | st.head[1];
        const magic = ((st.head[4] << 24) | (st.head[5] << 16) | (st.head[6] << 8) | st.head[7]) >>> 0;
        if (magic !== PPTP_MAGIC_COOKIE || st.len < PPTP_HEADER_LEN) {
          st.dead = true; // out of step with the message stream: stop touching it
          this.stats.parseErrors++;
          this.releaseAlloc(conn, st);
          return;
        }
        if (((st.head[2] << 8) | st.head[3]) !== PptpMessageType.control) st.skip = true;
      } else if (q === 10 && !st.skip) {
        st.type = (st.head[8] << 8) | st.head[9];
        const need = PPTP_MESSAGE_LENGTH[st.type] ?? 0;
        if (need === 0 || st.len < need) {
          st.skip = true;
          this.stats.parseErrors++;
        }
      } else if (q > 12 && q <= 16 && !st.skip) {
        const own = PPTP_OWN_CALL_ID_OFFSET[st.type];
        const peer = PPTP_PEER_CALL_ID_OFFSET[st.type];
        const field = q - 1 === own || q - 2 === own ? own : q - 1 === peer || q - 2 === peer ? peer : -1;
        if (field >= 0) this.fieldByte(conn, st, fromInside, field === own, ctx, seq, i, q - field === 1);
      }
      if (st.len !== 0 && st.pos === st.len) {
        if (!st.skip) this.complete(conn, st, fromInside);
        st.resetMessage();
      } else if (st.pos >= HEAD_LEN && st.len > st.pos + 1) {
        // Nothing more to read in this message: jump to its last byte (which completes it).
        const jump = Math.min(st.len - st.pos - 1, end - i - 1);
        st.pos += jump;
        i += jump;
      }
    }
  }

  /**
   * One byte of a Call ID field at message offset `field` (`first`: its high byte). The field is
   * written once both bytes are known; a high byte that ends a segment is decided on its own
   * (an allocated Call ID, or the value every possible low byte agrees on).
   */
  private fieldByte(
    conn: ControlConnection,
    st: StreamState,
    fromInside: boolean,
    own: boolean,
    ctx: HelperPacketContext,
    seq: number,
    i: number,
    first: boolean,
  ): void {
    const creates = fromInside && own && createsCall(st.type);
    const end = ctx.payloadOff + ctx.payloadLen;
    if (first) {
      if (creates && st.alloc < 0) st.alloc = this.allocate(conn);
      if (i !== end - 1) return; // the low byte follows in this segment
      st.split = true;
      this.stats.splitFields++;
      const hi = ctx.pkt[i];
      let newHi = -1;
      if (creates) newHi = st.alloc < 0 ? -1 : st.alloc >>> 8;
      else {
        // Every known call this field could name must agree on the new high byte.
        for (let lo = 0; lo < 256; lo++) {
          const r = this.translate(conn, fromInside, own, st.type, (hi << 8) | lo);
          if (r < 0) continue;
          if (newHi === -1) newHi = r >>> 8;
          else if (newHi !== r >>> 8) {
            newHi = -2;
            this.stats.unresolvedSplitFields++;
            break;
          }
        }
      }
      st.splitHigh = newHi;
      if (newHi >= 0 && newHi !== hi) this.write(st, ctx, seq, i, newHi);
      return;
    }
    const fieldAt = st.pos - 2;
    const old = (st.head[fieldAt] << 8) | st.head[fieldAt + 1];
    let v: number;
    if (creates) v = st.alloc;
    else {
      v = this.translate(conn, fromInside, own, st.type, old);
      if (v < 0) this.stats.unknownCallIds++;
    }
    const split = st.split;
    st.split = false;
    const written = split && st.splitHigh >= 0 ? st.splitHigh : old >>> 8;
    if (v < 0 || v === old) {
      // A high byte already written for a field that turns out to name no call stays wrong.
      if (split && written !== old >>> 8) this.stats.unresolvedSplitFields++;
      return;
    }
    if (split) {
      if (written !== v >>> 8) {
        if (st.splitHigh !== -2) this.stats.unresolvedSplitFields++;
        return;
      }
    } else this.write(st, ctx, seq, i - 1, v >>> 8);
    this.write(st, ctx, seq, i, v & 0xff);
    this.stats.rewrites++;
  }

  private write(st: StreamState, ctx: HelperPacketContext, seq: number, i: number, val: number): void {
    patchByte(ctx, i, val);
    st.remember((seq + (i - ctx.payloadOff)) >>> 0, val);
  }

  /**
   * The value a Call ID field must carry after the NAT, -1 when it names no known call. Pure
   * (no state changes), so a split field can ask it for every possible low byte.
   */
  private translate(
    conn: ControlConnection,
    fromInside: boolean,
    own: boolean,
    type: number,
    v: number,
  ): number {
    const calls = conn.calls;
    if (fromInside) {
      if (!own) return v; // the remote peer's Call ID
      for (const c of calls) if (c.insideId === v && c.outsideId >= 0) return c.outsideId;
      return -1;
    }
    if (!own) {
      for (const c of calls) if (c.outsideId === v && c.insideId >= 0) return c.insideId;
      return -1;
    }
    if (type !== T.callDisconnectNotify) return v; // the remote peer's own Call ID
    // Call-Disconnect-Notify carries the PAC's Call ID (RFC 2637 §2.13); some PACs put the PNS's
    // there, which Linux translates as a Peer's Call ID: do the same when it names no PAC call.
    for (const c of calls) if (c.remoteId === v) return v;
    for (const c of calls) if (c.outsideId === v && c.insideId >= 0) return c.insideId;
    return -1;
  }

  // ------------------------------------------------------------------ calls

  /** Reserves an outside Call ID for a new call of the inside host, -1 when refused. */
  private allocate(conn: ControlConnection): number {
    const calls = conn.calls;
    if (calls.length >= this.maxCalls) {
      this.stats.refusals++;
      return -1;
    }
    let pending = 0;
    for (const c of calls) if (!c.answered && c.outsideId >= 0) pending++;
    for (let k = 0; pending >= this.maxPending && k < calls.length; k++) {
      const c = calls[k];
      if (c.answered || c.outsideId < 0) continue;
      this.stats.evictions++;
      this.teardown(conn, c);
      pending--;
      k--;
    }
    try {
      return conn.host.allocOutsidePort(GRE, formatIpv4(conn.externalIp)).port;
    } catch {
      this.stats.refusals++;
      return -1;
    }
  }

  /** Gives back the reservation of a message that did not complete into a call. */
  private releaseAlloc(conn: ControlConnection, st: StreamState): void {
    if (st.alloc < 0) return;
    releasePort(conn, st.alloc);
    st.alloc = -1;
  }

  /** A whole control message passed: update the calls. */
  private complete(conn: ControlConnection, st: StreamState, fromInside: boolean): void {
    this.stats.messages++;
    const h = st.head;
    const own = (h[12] << 8) | h[13];
    const peer = (h[14] << 8) | h[15];
    const alloc = st.alloc;
    st.alloc = -1;
    switch (st.type) {
      case T.outgoingCallRequest:
      case T.incomingCallRequest: {
        if (fromInside) {
          if (alloc < 0) break;
          // A new call reusing a Call ID replaces the old one.
          const old = conn.calls.find((c) => c.insideId === own);
          if (old) this.teardown(conn, old);
          conn.calls.push({ insideId: own, outsideId: alloc, remoteId: -1, mappingId: -1, answered: false });
        } else if (conn.calls.length < this.maxCalls) {
          const old = conn.calls.find((c) => c.remoteId === own);
          if (old) this.teardown(conn, old);
          conn.calls.push({ insideId: -1, outsideId: -1, remoteId: own, mappingId: -1, answered: false });
        } else this.stats.refusals++;
        break;
      }
      case T.outgoingCallReply:
      case T.incomingCallReply: {
        const ok = h[PPTP_CALL_REPLY_RESULT_OFFSET] === PPTP_RESULT_CONNECTED;
        let call: Call | undefined;
        if (fromInside) {
          if (alloc < 0) break;
          call = conn.calls.find((c) => c.remoteId === peer && c.insideId < 0);
          if (!call) {
            call = { insideId: -1, outsideId: -1, remoteId: peer, mappingId: -1, answered: false };
            conn.calls.push(call);
          }
          call.insideId = own;
          call.outsideId = alloc;
        } else {
          call = conn.calls.find((c) => c.outsideId === peer && !c.answered);
          if (!call) break; // counted as an unknown Call ID when its field was read
          call.remoteId = own;
        }
        if (ok) this.establish(conn, call);
        else this.teardown(conn, call);
        break;
      }
      case T.callClearRequest: {
        const call = conn.calls.find((c) => (fromInside ? c.insideId === own : c.remoteId === own));
        if (call) this.unmap(conn, call);
        break;
      }
      case T.callDisconnectNotify: {
        const call = fromInside
          ? conn.calls.find((c) => c.insideId === own)
          : (conn.calls.find((c) => c.remoteId === own) ?? conn.calls.find((c) => c.outsideId === own));
        if (call) this.teardown(conn, call);
        break;
      }
      case T.stopControlConnectionReply:
        this.teardownAll(conn);
        break;
    }
    if (alloc >= 0 && !conn.calls.some((c) => c.outsideId === alloc)) releasePort(conn, alloc);
  }

  /** Creates the GRE mapping of an answered call. */
  private establish(conn: ControlConnection, call: Call): void {
    call.answered = true;
    if (call.insideId < 0 || call.outsideId < 0 || call.remoteId < 0) return;
    const opts: CreateMappingOptions = {
      proto: GRE,
      tenant: conn.tenant,
      insideIp: formatIpv4(conn.insideIp),
      insidePort: call.insideId,
      externalIp: formatIpv4(conn.externalIp),
      externalPort: call.outsideId,
      remoteIp: formatIpv4(conn.remoteIp),
      remotePort: call.remoteId,
    };
    try {
      call.mappingId = conn.host.createMapping(opts).id;
      this.stats.greMappings++;
    } catch {
      // e.g. the inside host already has a GRE mapping to this peer Call ID
      this.stats.refusals++;
      releasePort(conn, call.outsideId);
    }
  }

  /** Removes the GRE mapping of a call (or its reservation), keeping the call's Call IDs. */
  private unmap(conn: ControlConnection, call: Call): void {
    if (call.mappingId >= 0) {
      conn.host.deleteMapping(call.mappingId); // false when it expired meanwhile or the NAT closed
      call.mappingId = -1;
    } else if (call.outsideId >= 0 && !call.answered) {
      releasePort(conn, call.outsideId);
    }
    call.answered = true; // no longer pending
  }

  /** Ends a call: mapping or reservation released, record dropped. */
  private teardown(conn: ControlConnection, call: Call): void {
    this.unmap(conn, call);
    const k = conn.calls.indexOf(call);
    if (k >= 0) conn.calls.splice(k, 1);
    this.stats.callsCleared++;
  }

  private teardownAll(conn: ControlConnection): void {
    while (conn.calls.length > 0) this.teardown(conn, conn.calls[conn.calls.length - 1]);
  }
}

/** Gives an outside Call ID reservation back to the NAT (a no-op when it is no longer reserved). */
function releasePort(conn: ControlConnection, port: number): void {
  try {
    conn.host.releaseOutsidePort(GRE, port, formatIpv4(conn.externalIp));
  } catch {
    // the NAT closed meanwhile
  }
}

/** Messages whose own Call ID field introduces a new call of their sender. */
function createsCall(type: number): boolean {
  return (
    type === T.outgoingCallRequest ||
    type === T.outgoingCallReply ||
    type === T.incomingCallRequest ||
    type === T.incomingCallReply
  );
}

/**
 * Sets payload byte `i` of the packet to `val` and updates the TCP checksum (RFC 1624) for the
 * 16-bit word holding it (words are aligned to the TCP header; a last odd byte pairs with 0).
 */
function patchByte(ctx: HelperPacketContext, i: number, val: number): void {
  const pkt = ctx.pkt;
  if (pkt[i] === val) return;
  const w = i - ((i - ctx.l4Off) & 1);
  const end = ctx.payloadOff + ctx.payloadLen;
  const oldWord = (pkt[w] << 8) | (w + 1 < end ? pkt[w + 1] : 0);
  pkt[i] = val;
  const newWord = (pkt[w] << 8) | (w + 1 < end ? pkt[w + 1] : 0);
  const ck = ctx.l4Off + 16;
  writeChecksum(pkt, ck, updateChecksum16(readChecksum(pkt, ck), oldWord, newWord));
}
