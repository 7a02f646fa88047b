/**
 * GRE: version 0 (RFC 2784 with the key and sequence number extensions of RFC 2890) and the
 * enhanced GRE version 1 that PPTP uses (RFC 2637 §4.1).
 *
 * Version 0 (RFC 2784 / RFC 2890):
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |C| |K|S| Reserved0       | Ver |         Protocol Type         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Checksum (optional)      |       Reserved1 (Optional)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Key (optional)                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Sequence Number (Optional)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * Version 1, enhanced GRE (RFC 2637 §4.1):
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |    Key (HW) Payload Length    |       Key (LW) Call ID        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Sequence Number (Optional)                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               Acknowledgment Number (Optional)                |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Version 1 has C = R = s = Recur = 0, K = 1 and Protocol Type 0x880B (PPP); the Call ID is the
 * peer's call ID from the PPTP control connection, which a NAT translates like a port.
 */
import { checksum, readChecksum, updateChecksum16, writeChecksum } from './checksum.js';

const FLAGS0 = 0;
const FLAGS1 = 1;
const PROTO = 2;
const CHECKSUM = 4;

const BIT_C = 0x80;
const BIT_R = 0x40;
const BIT_K = 0x20;
const BIT_S = 0x10;
const BIT_SSR = 0x08;
const RECUR = 0x07;
const BIT_A = 0x80;
const FLAGS1_V1_RESERVED = 0x78;
const VER_MASK = 0x07;

/** Length of the GRE base header (flags, version, protocol type). */
export const GRE_MIN_HEADER_LEN = 4;

/** GRE Protocol Type values (EtherTypes) seen in practice. */
export const GreProtocolType = {
  /** IPv4 (RFC 2784). */
  Ipv4: 0x0800,
  /** IPv6 (RFC 7676). */
  Ipv6: 0x86dd,
  /** Transparent Ethernet bridging. */
  TransparentEthernet: 0x6558,
  /** PPP, as carried by enhanced GRE version 1 (RFC 2637). */
  Ppp: 0x880b,
} as const;
/** A known GRE protocol type, or any other number. */
export type GreProtocolType = (typeof GreProtocolType)[keyof typeof GreProtocolType] | (number & {});

/**
 * A view over a GRE packet: the header starts at `off`, the packet ends at `end` (the end of the
 * IP payload). Create with {@link GrePacket.checked} or re-point a view with
 * {@link GrePacket.rebind}. Every setter keeps a present checksum (version 0 with C set) right,
 * incrementally; version 1 carries no checksum.
 */
export class GrePacket {
  buf: Uint8Array;
  off: number;
  end: number;

  private constructor(buf: Uint8Array, off: number, end: number) {
    this.buf = buf;
    this.off = off;
    this.end = end;
  }

  /**
   * Validates `buf[off..end)` as GRE: version 0 or 1; version 0 without the RFC 1701 routing and
   * strict-source-route bits (RFC 2784 §2.3 says discard); version 1 with K set, C, R, s, Recur
   * and the reserved flags clear, and Protocol Type 0x880B; the header inside `end`, and for
   * version 1 the Payload Length inside `end` too. Does not verify the checksum.
   */
  static checked(buf: Uint8Array, off = 0, end = buf.length): GrePacket | null {
    return GrePacket.valid(buf, off, end) ? new GrePacket(buf, off, end) : null;
  }

  /** An unbound view for {@link GrePacket.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): GrePacket {
    return new GrePacket(new Uint8Array(0), 0, 0);
  }

  /** Re-points this view after the same checks as {@link GrePacket.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!GrePacket.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    this.end = end;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    if (end > buf.length || off < 0 || end - off < GRE_MIN_HEADER_LEN) return false;
    const f0 = buf[off + FLAGS0];
    const f1 = buf[off + FLAGS1];
    const ver = f1 & VER_MASK;
    const hl = headerLenOf(f0, f1);
    if (ver === 0) {
      if (f0 & (BIT_R | BIT_SSR | 0x04)) return false;
      return hl <= end - off;
    }
    if (ver !== 1) return false;
    if ((f0 & (BIT_C | BIT_R | BIT_SSR | RECUR)) !== 0 || (f0 & BIT_K) === 0) return false;
    if ((f1 & FLAGS1_V1_RESERVED) !== 0) return false;
    if (((buf[off + PROTO] << 8) | buf[off + PROTO + 1]) !== GreProtocolType.Ppp) return false;
    if (hl > end - off) return false;
    const plen = (buf[off + 4] << 8) | buf[off + 5];
    return plen <= end - off - hl;
  }

  get checksumPresent(): boolean {
    return (this.buf[this.off + FLAGS0] & BIT_C) !== 0;
  }
  /** R bit; always false in a validated view (routing is not supported). */
  get routingPresent(): boolean {
    return (this.buf[this.off + FLAGS0] & BIT_R) !== 0;
  }
  get keyPresent(): boolean {
    return (this.buf[this.off + FLAGS0] & BIT_K) !== 0;
  }
  get sequencePresent(): boolean {
    return (this.buf[this.off + FLAGS0] & BIT_S) !== 0;
  }
  /** A bit: acknowledgment number present (version 1 only; false for version 0). */
  get ackPresent(): boolean {
    return this.version === 1 && (this.buf[this.off + FLAGS1] & BIT_A) !== 0;
  }
  /** 0 (RFC 2784) or 1 (enhanced GRE). */
  get version(): number {
    return this.buf[this.off + FLAGS1] & VER_MASK;
  }
  get protocolType(): number {
    return (this.buf[this.off + PROTO] << 8) | this.buf[this.off + PROTO + 1];
  }
  /** The checksum field, or 0 when C is clear. */
  get checksum(): number {
    return this.checksumPresent ? readChecksum(this.buf, this.off + CHECKSUM) : 0;
  }
  /** Offset in `buf` of the key field, or -1 when K is clear. */
  get keyOffset(): number {
    return this.keyPresent ? this.off + (this.checksumPresent ? 8 : 4) : -1;
  }
  /** The 32-bit key (uint32), or 0 when K is clear. In version 1 this is payload length + call ID. */
  get key(): number {
    const o = this.keyOffset;
    return o < 0 ? 0 : readU32(this.buf, o);
  }
  /** Version 1: the Payload Length half of the key (bytes after the GRE header). */
  get payloadLength(): number {
    if (this.version !== 1) return this.end - this.payloadOffset;
    return (this.buf[this.off + 4] << 8) | this.buf[this.off + 5];
  }
  /** Version 1: the Call ID half of the key; for version 0 the low 16 bits of the key (0 without K). */
  get callId(): number {
    const o = this.keyOffset;
    return o < 0 ? 0 : (this.buf[o + 2] << 8) | this.buf[o + 3];
  }
  /** Offset in `buf` of the sequence number, or -1 when S is clear. */
  get sequenceOffset(): number {
    if (!this.sequencePresent) return -1;
    return this.off + 4 + (this.checksumPresent ? 4 : 0) + (this.keyPresent ? 4 : 0);
  }
  /** Sequence number (uint32), or 0 when S is clear. */
  get sequence(): number {
    const o = this.sequenceOffset;
    return o < 0 ? 0 : readU32(this.buf, o);
  }
  /** Offset in `buf` of the acknowledgment number, or -1 when absent. */
  get acknowledgmentOffset(): number {
    if (!this.ackPresent) return -1;
    return this.off + this.headerLen - 4;
  }
  /** Acknowledgment number (version 1, uint32), or 0 when absent. */
  get acknowledgment(): number {
    const o = this.acknowledgmentOffset;
    return o < 0 ? 0 : readU32(this.buf, o);
  }
  /** Header length in bytes including the optional fields. */
  get headerLen(): number {
    return headerLenOf(this.buf[this.off + FLAGS0], this.buf[this.off + FLAGS1]);
  }
  /** Offset in `buf` of the payload. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  /** Payload bytes (version 1: Payload Length bytes; version 0: up to `end`). A subarray. */
  payload(): Uint8Array {
    const p = this.payloadOffset;
    return this.buf.subarray(p, p + this.payloadLength);
  }
  /** The whole GRE packet up to `end` (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.end);
  }

  /** Sets the protocol type (checksum kept right). */
  setProtocolType(v: number): void {
    this.set16(this.off + PROTO, v);
  }
  /** Sets the 32-bit key (checksum kept right). No effect when K is clear. */
  setKey(v: number): void {
    const o = this.keyOffset;
    if (o < 0) return;
    this.set16(o, v >>> 16);
    this.set16(o + 2, v & 0xffff);
  }
  /** Sets the call ID (low 16 bits of the key; checksum kept right). No effect when K is clear. */
  setCallId(v: number): void {
    const o = this.keyOffset;
    if (o >= 0) this.set16(o + 2, v);
  }
  /** Version 1: sets the payload length (high 16 bits of the key). No effect when K is clear. */
  setPayloadLength(v: number): void {
    const o = this.keyOffset;
    if (o >= 0) this.set16(o, v);
  }
  /** Sets the sequence number (checksum kept right). No effect when S is clear. */
  setSequence(v: number): void {
    const o = this.sequenceOffset;
    if (o < 0) return;
    this.set16(o, v >>> 16);
    this.set16(o + 2, v & 0xffff);
  }
  /** Sets the acknowledgment number (version 1). No effect when absent. */
  setAcknowledgment(v: number): void {
    const o = this.acknowledgmentOffset;
    if (o >= 0) write32(this.buf, o, v);
  }
  /** Stores `v` as the checksum field. No effect when C is clear. */
  setChecksum(v: number): void {
    if (this.checksumPresent) writeChecksum(this.buf, this.off + CHECKSUM, v);
  }
  /** Recomputes the checksum in full over the header and payload up to `end` (when C is set). */
  fillChecksum(): void {
    if (!this.checksumPresent) return;
    writeChecksum(this.buf, this.off + CHECKSUM, 0);
    writeChecksum(this.buf, this.off + CHECKSUM, checksum(this.buf, this.off, this.end - this.off));
  }
  /** Whether the checksum is correct; true when C is clear (nothing to check). */
  verifyChecksum(): boolean {
    return !this.checksumPresent || checksum(this.buf, this.off, this.end - this.off) === 0;
  }

  private set16(o: number, v: number): void {
    const old = (this.buf[o] << 8) | this.buf[o + 1];
    this.buf[o] = (v >>> 8) & 0xff;
    this.buf[o + 1] = v & 0xff;
    if (this.checksumPresent)
      writeChecksum(
        this.buf,
        this.off + CHECKSUM,
        updateChecksum16(readChecksum(this.buf, this.off + CHECKSUM), old, v & 0xffff),
      );
  }
}

function headerLenOf(f0: number, f1: number): number {
  let hl = GRE_MIN_HEADER_LEN;
  if (f0 & BIT_C) hl += 4;
  if (f0 & BIT_K) hl += 4;
  if (f0 & BIT_S) hl += 4;
  if ((f1 & VER_MASK) === 1 && f1 & BIT_A) hl += 4;
  return hl;
}

/** A plain description of a GRE header, for building packets. */
export interface GreRepr {
  /** 0: RFC 2784/2890; 1: enhanced GRE (PPTP). */
  version: 0 | 1;
  /** EtherType of the payload ({@link GreProtocolType}); must be 0x880B for version 1. */
  protocolType: number;
  /** Version 0: include a checksum (default false). Not allowed in version 1. */
  checksum?: boolean;
  /** Version 0: 32-bit key (RFC 2890). */
  key?: number;
  /** Version 1: the peer's call ID (required). */
  callId?: number;
  /** Sequence number (S bit). */
  sequence?: number;
  /** Version 1: acknowledgment number (A bit). */
  ack?: number;
}

/** Header length {@link emitGre} writes for `repr`. */
export function greHeaderLen(repr: GreRepr): number {
  let hl = GRE_MIN_HEADER_LEN;
  if (repr.version === 0) {
    if (repr.checksum) hl += 4;
    if (repr.key !== undefined) hl += 4;
  } else {
    hl += 4;
    if (repr.ack !== undefined) hl += 4;
  }
  if (repr.sequence !== undefined) hl += 4;
  return hl;
}

/** Reads a validated packet into a {@link GreRepr}. */
export function parseGreRepr(p: GrePacket): GreRepr {
  if (p.version === 1) {
    const r: GreRepr = { version: 1, protocolType: p.protocolType, callId: p.callId };
    if (p.sequencePresent) r.sequence = p.sequence;
    if (p.ackPresent) r.ack = p.acknowledgment;
    return r;
  }
  const r: GreRepr = { version: 0, protocolType: p.protocolType };
  if (p.checksumPresent) r.checksum = true;
  if (p.keyPresent) r.key = p.key;
  if (p.sequencePresent) r.sequence = p.sequence;
  return r;
}

/**
 * Writes the header for `repr` followed by `payload` at `buf[off..]` (version 1: Payload Length =
 * `payload.length`; version 0 with `checksum`: the checksum over header and payload). Returns the
 * packet length. Throws `RangeError` for a version-1 repr without `callId`, with `checksum` or
 * `key`, with a protocol type other than 0x880B, a payload over 65535 bytes, a version-0 repr
 * with `callId` or `ack`, out-of-range fields, or a buffer that is too small.
 */
export function emitGre(repr: GreRepr, payload: Uint8Array, buf: Uint8Array, off: number): number {
  const v1 = repr.version === 1;
  if (repr.version !== 0 && !v1) throw new RangeError(`GRE: version must be 0 or 1, got ${repr.version}`);
  if (v1) {
    if (repr.callId === undefined) throw new RangeError('GRE v1: callId is required');
    if (repr.checksum || repr.key !== undefined) throw new RangeError('GRE v1: no checksum or raw key');
    if (repr.protocolType !== GreProtocolType.Ppp)
      throw new RangeError('GRE v1: protocol type must be 0x880B');
    if (payload.length > 0xffff) throw new RangeError('GRE v1: payload longer than 65535 bytes');
  } else if (repr.callId !== undefined || repr.ack !== undefined) {
    throw new RangeError('GRE v0: callId and ack exist only in version 1');
  }
  u('protocolType', repr.protocolType, 0xffff);
  if (repr.key !== undefined) u('key', repr.key, 0xffffffff);
  if (repr.callId !== undefined) u('callId', repr.callId, 0xffff);
  if (repr.sequence !== undefined) u('sequence', repr.sequence, 0xffffffff);
  if (repr.ack !== undefined) u('ack', repr.ack, 0xffffffff);
  const hl = greHeaderLen(repr);
  const len = hl + payload.length;
  if (off < 0 || off + len > buf.length) throw new RangeError('buffer too small for the GRE packet');
  let f0 = 0;
  let f1 = repr.version;
  if (!v1 && repr.checksum) f0 |= BIT_C;
  if (v1 || repr.key !== undefined) f0 |= BIT_K;
  if (repr.sequence !== undefined) f0 |= BIT_S;
  if (v1 && repr.ack !== undefined) f1 |= BIT_A;
  buf[off + FLAGS0] = f0;
  buf[off + FLAGS1] = f1;
  buf[off + PROTO] = (repr.protocolType >>> 8) & 0xff;
  buf[off + PROTO + 1] = repr.protocolType & 0xff;
  let o = off + 4;
  if (f0 & BIT_C) {
    buf.fill(0, o, o + 4);
    o += 4;
  }
  if (v1) {
    buf[o] = payload.length >>> 8;
    buf[o + 1] = payload.length & 0xff;
    buf[o + 2] = ((repr.callId as number) >>> 8) & 0xff;
    buf[o + 3] = (repr.callId as number) & 0xff;
    o += 4;
  } else if (repr.key !== undefined) {
    write32(buf, o, repr.key);
    o += 4;
  }
  if (repr.sequence !== undefined) {
    write32(buf, o, repr.sequence);
    o += 4;
  }
  if (v1 && repr.ack !== undefined) {
    write32(buf, o, repr.ack);
    o += 4;
  }
  buf.set(payload, o);
  if (f0 & BIT_C) writeChecksum(buf, off + CHECKSUM, checksum(buf, off, len));
  return len;
}

function u(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`GRE ${name} must be 0..${max}, got ${v}`);
  return v;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
