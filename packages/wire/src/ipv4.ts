/**
 * IPv4 (RFC 791).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 */
import { formatIpv4, parseIpv4, readIpv4, writeIpv4 } from './address.js';
import { checksum, readChecksum, updateChecksum16, writeChecksum } from './checksum.js';

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTO = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

/** Length of an IPv4 header without options. */
export const IPV4_MIN_HEADER_LEN = 20;
/** Largest IPv4 header (IHL 15). */
export const IPV4_MAX_HEADER_LEN = 60;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

/**
 * A view over an IPv4 packet starting at `off` in `buf`. Create with {@link Ipv4Packet.checked}
 * (validates once) or re-point a long-lived view with {@link Ipv4Packet.rebind} on hot paths.
 * Accessors trust the validated lengths. Setters change bytes only; call
 * {@link Ipv4Packet.fillChecksum} or use the `…Incremental` setters to keep the checksum right.
 */
export class Ipv4Packet {
  buf: Uint8Array;
  off: number;

  private constructor(buf: Uint8Array, off: number) {
    this.buf = buf;
    this.off = off;
  }

  /**
   * Validates `buf[off..end)` as an IPv4 packet: version 4, IHL ≥ 5, header and total length
   * inside the buffer. Trailing bytes beyond Total Length are allowed (link padding). Does not
   * verify the checksum (see {@link Ipv4Packet.verifyChecksum}).
   */
  static checked(buf: Uint8Array, off = 0, end = buf.length): Ipv4Packet | null {
    return Ipv4Packet.valid(buf, off, end) ? new Ipv4Packet(buf, off) : null;
  }

  /** An unbound view for {@link Ipv4Packet.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): Ipv4Packet {
    return new Ipv4Packet(new Uint8Array(0), 0);
  }

  /** Re-points this view after the same checks as {@link Ipv4Packet.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!Ipv4Packet.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    if (end > buf.length || off < 0 || end - off < IPV4_MIN_HEADER_LEN) return false;
    const vi = buf[off + VER_IHL];
    if (vi >> 4 !== 4) return false;
    const hl = (vi & 0x0f) << 2;
    if (hl < IPV4_MIN_HEADER_LEN) return false;
    const total = (buf[off + TOTAL_LEN] << 8) | buf[off + TOTAL_LEN + 1];
    return total >= hl && total <= end - off;
  }

  get version(): number {
    return this.buf[this.off] >> 4;
  }
  /** Header length in bytes (IHL × 4). */
  get headerLen(): number {
    return (this.buf[this.off] & 0x0f) << 2;
  }
  get dscp(): number {
    return this.buf[this.off + TOS] >> 2;
  }
  get ecn(): number {
    return this.buf[this.off + TOS] & 3;
  }
  /** The whole Type of Service / Traffic Class byte. */
  get tos(): number {
    return this.buf[this.off + TOS];
  }
  get totalLength(): number {
    return (this.buf[this.off + TOTAL_LEN] << 8) | this.buf[this.off + TOTAL_LEN + 1];
  }
  get identification(): number {
    return (this.buf[this.off + IDENT] << 8) | this.buf[this.off + IDENT + 1];
  }
  private get flagsFrag(): number {
    return (this.buf[this.off + FLAGS_FRAG] << 8) | this.buf[this.off + FLAGS_FRAG + 1];
  }
  get dontFragment(): boolean {
    return (this.flagsFrag & FLAG_DF) !== 0;
  }
  get moreFragments(): boolean {
    return (this.flagsFrag & FLAG_MF) !== 0;
  }
  /** Fragment offset in bytes (the header field × 8). */
  get fragmentOffset(): number {
    return (this.flagsFrag & FRAG_MASK) << 3;
  }
  /** True for any fragment (MF set or offset ≠ 0). */
  get isFragment(): boolean {
    return (this.flagsFrag & (FLAG_MF | FRAG_MASK)) !== 0;
  }
  get ttl(): number {
    return this.buf[this.off + TTL];
  }
  get protocol(): number {
    return this.buf[this.off + PROTO];
  }
  get checksum(): number {
    return readChecksum(this.buf, this.off + CHECKSUM);
  }
  /** Source address as a uint32. */
  get src(): number {
    return readIpv4(this.buf, this.off + SRC);
  }
  /** Destination address as a uint32. */
  get dst(): number {
    return readIpv4(this.buf, this.off + DST);
  }
  /** Offset in `buf` of the payload (after options). */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  /** Payload length per Total Length. */
  get payloadLength(): number {
    return this.totalLength - this.headerLen;
  }
  /** Options bytes (a subarray; allocates a view object, not for hot paths). */
  options(): Uint8Array {
    return this.buf.subarray(this.off + IPV4_MIN_HEADER_LEN, this.off + this.headerLen);
  }
  /** Payload bytes per Total Length (a subarray). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off + this.headerLen, this.off + this.totalLength);
  }
  /** The whole packet per Total Length (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.totalLength);
  }
  /** Whether the stored header checksum is correct. */
  verifyChecksum(): boolean {
    return checksum(this.buf, this.off, this.headerLen) === 0;
  }

  setTos(v: number): void {
    this.buf[this.off + TOS] = v;
  }
  setTotalLength(v: number): void {
    this.buf[this.off + TOTAL_LEN] = v >>> 8;
    this.buf[this.off + TOTAL_LEN + 1] = v & 0xff;
  }
  setIdentification(v: number): void {
    this.buf[this.off + IDENT] = v >>> 8;
    this.buf[this.off + IDENT + 1] = v & 0xff;
  }
  /** Sets DF, MF and the fragment offset (in bytes, a multiple of 8). */
  setFragment(df: boolean, mf: boolean, offsetBytes: number): void {
    const v = (df ? FLAG_DF : 0) | (mf ? FLAG_MF : 0) | ((offsetBytes >>> 3) & FRAG_MASK);
    this.buf[this.off + FLAGS_FRAG] = v >>> 8;
    this.buf[this.off + FLAGS_FRAG + 1] = v & 0xff;
  }
  setTtl(v: number): void {
    this.buf[this.off + TTL] = v;
  }
  setProtocol(v: number): void {
    this.buf[this.off + PROTO] = v;
  }
  setChecksum(v: number): void {
    writeChecksum(this.buf, this.off + CHECKSUM, v);
  }
  setSrc(v: number): void {
    writeIpv4(this.buf, this.off + SRC, v);
  }
  setDst(v: number): void {
    writeIpv4(this.buf, this.off + DST, v);
  }
  /** Recomputes the header checksum in full. */
  fillChecksum(): void {
    this.setChecksum(0);
    this.setChecksum(checksum(this.buf, this.off, this.headerLen));
  }
  /** Sets the source address and updates the header checksum incrementally (RFC 1624). */
  setSrcIncremental(v: number): void {
    this.rewriteAddressAt(this.off + SRC, v);
  }
  /** Sets the destination address and updates the header checksum incrementally. */
  setDstIncremental(v: number): void {
    this.rewriteAddressAt(this.off + DST, v);
  }
  /**
   * Works on 16-bit halves: a uint32 above 2^31 passed between functions V8 does not inline is
   * boxed as a heap number, which would allocate per packet.
   */
  private rewriteAddressAt(at: number, v: number): void {
    const b = this.buf;
    const oldHi = (b[at] << 8) | b[at + 1];
    const oldLo = (b[at + 2] << 8) | b[at + 3];
    const hi = (v >>> 16) & 0xffff;
    const lo = v & 0xffff;
    b[at] = hi >>> 8;
    b[at + 1] = hi & 0xff;
    b[at + 2] = lo >>> 8;
    b[at + 3] = lo & 0xff;
    const ck = this.off + CHECKSUM;
    writeChecksum(b, ck, updateChecksum16(updateChecksum16(readChecksum(b, ck), oldHi, hi), oldLo, lo));
  }
  /** Decrements TTL and updates the checksum incrementally. Returns the new TTL. */
  decrementTtl(): number {
    const o = this.off;
    const oldWord = (this.buf[o + TTL] << 8) | this.buf[o + PROTO];
    const ttl = (this.buf[o + TTL] - 1) & 0xff;
    this.buf[o + TTL] = ttl;
    this.setChecksum(updateChecksum16(this.checksum, oldWord, (ttl << 8) | this.buf[o + PROTO]));
    return ttl;
  }
}

/** A plain description of an IPv4 header, for building packets (tests, ICMP errors, NAT64). */
export interface Ipv4Repr {
  /** Source address, dotted quad. */
  src: string;
  /** Destination address, dotted quad. */
  dst: string;
  protocol: number;
  /** Default 64. */
  ttl?: number;
  /** TOS byte (DSCP << 2 | ECN). Default 0. */
  tos?: number;
  /** Default 0. */
  identification?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Fragment offset in bytes, a multiple of 8. Default 0. */
  fragmentOffset?: number;
  /** Raw option bytes; padded to a multiple of 4 with End-of-Options. */
  options?: Uint8Array;
}

/** Header length a {@link Ipv4Repr} emits. */
export function ipv4HeaderLen(repr: Ipv4Repr): number {
  const optLen = repr.options ? (repr.options.length + 3) & ~3 : 0;
  return IPV4_MIN_HEADER_LEN + optLen;
}

/** Reads a validated packet into a {@link Ipv4Repr}. */
export function parseIpv4Repr(p: Ipv4Packet): Ipv4Repr {
  const repr: Ipv4Repr = {
    src: formatIpv4(p.src),
    dst: formatIpv4(p.dst),
    protocol: p.protocol,
    ttl: p.ttl,
    tos: p.tos,
    identification: p.identification,
    dontFragment: p.dontFragment,
    moreFragments: p.moreFragments,
    fragmentOffset: p.fragmentOffset,
  };
  if (p.headerLen > IPV4_MIN_HEADER_LEN) repr.options = p.options().slice();
  return repr;
}

/**
 * Writes the header for `repr` at `buf[off..]` with Total Length = header + `payloadLen` and a
 * correct header checksum. Returns the header length. Throws `RangeError` for bad addresses or
 * a buffer that is too small.
 */
export function emitIpv4Header(repr: Ipv4Repr, payloadLen: number, buf: Uint8Array, off = 0): number {
  const hl = ipv4HeaderLen(repr);
  if (hl > IPV4_MAX_HEADER_LEN) throw new RangeError(`IPv4 options too long: header would be ${hl} bytes`);
  if (hl + payloadLen > 0xffff) throw new RangeError(`IPv4 packet too long: ${hl + payloadLen} bytes`);
  if (off + hl > buf.length) throw new RangeError('buffer too small for the IPv4 header');
  const src = parseIpv4(repr.src);
  const dst = parseIpv4(repr.dst);
  if (src === null || dst === null) throw new RangeError(`bad IPv4 address in ${repr.src} -> ${repr.dst}`);
  buf.fill(0, off, off + hl);
  buf[off + VER_IHL] = 0x40 | (hl >> 2);
  buf[off + TOS] = repr.tos ?? 0;
  const total = hl + payloadLen;
  buf[off + TOTAL_LEN] = total >> 8;
  buf[off + TOTAL_LEN + 1] = total & 0xff;
  const id = repr.identification ?? 0;
  buf[off + IDENT] = id >> 8;
  buf[off + IDENT + 1] = id & 0xff;
  const ff =
    (repr.dontFragment ? FLAG_DF : 0) |
    (repr.moreFragments ? FLAG_MF : 0) |
    (((repr.fragmentOffset ?? 0) >>> 3) & FRAG_MASK);
  buf[off + FLAGS_FRAG] = ff >> 8;
  buf[off + FLAGS_FRAG + 1] = ff & 0xff;
  buf[off + TTL] = repr.ttl ?? 64;
  buf[off + PROTO] = repr.protocol;
  writeIpv4(buf, off + SRC, src);
  writeIpv4(buf, off + DST, dst);
  if (repr.options) buf.set(repr.options, off + IPV4_MIN_HEADER_LEN);
  writeChecksum(buf, off + CHECKSUM, checksum(buf, off, hl));
  return hl;
}

/** A new buffer holding the IPv4 header for `repr` followed by `payload` (payload copied as is). */
export function emitIpv4(repr: Ipv4Repr, payload: Uint8Array): Uint8Array {
  const hl = ipv4HeaderLen(repr);
  const out = new Uint8Array(hl + payload.length);
  emitIpv4Header(repr, payload.length, out, 0);
  out.set(payload, hl);
  return out;
}
