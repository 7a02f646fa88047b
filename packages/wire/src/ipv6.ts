/**
 * IPv6 (RFC 8200) and its extension-header chain.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +                         Source Address                        +
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +                      Destination Address                      +
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * Extension headers (RFC 8200 §4.3–4.6, RFC 4302 for AH):
 *
 * ```
 * Hop-by-Hop (0), Routing (43), Destination Options (60): length = (Hdr Ext Len + 1) × 8
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |  Hdr Ext Len  | (Routing: Type | Segments Left)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Fragment (44): always 8 bytes
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Identification                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Authentication Header (51): length = (Payload Len + 2) × 4
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |  Payload Len  |          RESERVED             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 */
import { formatIpv6, parseIpv6 } from './address.js';

const VER_TC_FL = 0;
const PAYLOAD_LEN = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC = 8;
const DST = 24;

// Extension header fields, relative to the extension header.
const EXT_NEXT = 0;
const EXT_LEN = 1;
const RT_TYPE = 2;
const RT_SEGMENTS_LEFT = 3;
const FRAG_OFFSET_FLAGS = 2;
const FRAG_ID = 4;
const FRAG_MORE = 0x0001;
const FRAG_OFFSET_MASK = 0xfff8;

const NH_HOP_BY_HOP = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_AH = 51;
const NH_DEST_OPTS = 60;

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;
/** Length of the IPv6 Fragment extension header (RFC 8200 §4.5). */
export const IPV6_FRAGMENT_HEADER_LEN = 8;
/** Largest fragment offset in bytes the 13-bit field can carry (8191 × 8). */
export const IPV6_MAX_FRAGMENT_OFFSET = 0xfff8;

/**
 * A view over an IPv6 packet starting at `off` in `buf`. Create with {@link Ipv6Packet.checked}
 * (validates once) or re-point a long-lived view with {@link Ipv6Packet.rebind} on hot paths.
 * Accessors trust the validated lengths. IPv6 has no header checksum, so setters change bytes
 * only; transport checksums that cover the addresses are the caller's business.
 *
 * Jumbograms (RFC 2675: Payload Length 0 with a Hop-by-Hop Jumbo Payload option) are not
 * supported and are rejected by {@link Ipv6Packet.checked}.
 */
export class Ipv6Packet {
  buf: Uint8Array;
  off: number;

  private constructor(buf: Uint8Array, off: number) {
    this.buf = buf;
    this.off = off;
  }

  /**
   * Validates `buf[off..end)` as an IPv6 packet: at least 40 bytes, version 6, and
   * 40 + Payload Length ≤ `end - off`. Trailing bytes beyond the payload are allowed (link
   * padding). Payload Length 0 is accepted for an empty payload (e.g. Next Header 59) but
   * rejected when the next header is Hop-by-Hop: that is a jumbogram (RFC 2675 §3), which l3kit
   * does not support. Extension headers are not looked at; see {@link Ipv6HeaderChain}.
   */
  static checked(buf: Uint8Array, off = 0, end = buf.length): Ipv6Packet | null {
    return Ipv6Packet.valid(buf, off, end) ? new Ipv6Packet(buf, off) : null;
  }

  /** An unbound view for {@link Ipv6Packet.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): Ipv6Packet {
    return new Ipv6Packet(new Uint8Array(0), 0);
  }

  /** Re-points this view after the same checks as {@link Ipv6Packet.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!Ipv6Packet.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    if (end > buf.length || off < 0 || end - off < IPV6_HEADER_LEN) return false;
    if (buf[off + VER_TC_FL] >> 4 !== 6) return false;
    const plen = (buf[off + PAYLOAD_LEN] << 8) | buf[off + PAYLOAD_LEN + 1];
    if (plen === 0 && buf[off + NEXT_HEADER] === NH_HOP_BY_HOP) return false;
    return IPV6_HEADER_LEN + plen <= end - off;
  }

  get version(): number {
    return this.buf[this.off] >> 4;
  }
  /** The Traffic Class byte (DSCP << 2 | ECN). */
  get trafficClass(): number {
    return ((this.buf[this.off] & 0x0f) << 4) | (this.buf[this.off + 1] >> 4);
  }
  /** Differentiated Services code point (upper 6 bits of the Traffic Class). */
  get dscp(): number {
    return this.trafficClass >> 2;
  }
  /** Explicit Congestion Notification (lower 2 bits of the Traffic Class). */
  get ecn(): number {
    return this.trafficClass & 3;
  }
  /** The 20-bit flow label. */
  get flowLabel(): number {
    const o = this.off;
    return ((this.buf[o + 1] & 0x0f) << 16) | (this.buf[o + 2] << 8) | this.buf[o + 3];
  }
  /** Payload Length: bytes after the fixed 40-byte header, extension headers included. */
  get payloadLength(): number {
    return (this.buf[this.off + PAYLOAD_LEN] << 8) | this.buf[this.off + PAYLOAD_LEN + 1];
  }
  /** The Next Header field of the fixed header (the first extension header or the upper layer). */
  get nextHeader(): number {
    return this.buf[this.off + NEXT_HEADER];
  }
  get hopLimit(): number {
    return this.buf[this.off + HOP_LIMIT];
  }
  /** Offset in `buf` of the 16-byte source address. */
  get srcOffset(): number {
    return this.off + SRC;
  }
  /** Offset in `buf` of the 16-byte destination address. */
  get dstOffset(): number {
    return this.off + DST;
  }
  /** Offset in `buf` of the payload (the first byte after the fixed header). */
  get payloadOffset(): number {
    return this.off + IPV6_HEADER_LEN;
  }
  /** Header plus payload: 40 + Payload Length. */
  get totalLength(): number {
    return IPV6_HEADER_LEN + this.payloadLength;
  }
  /** Offset in `buf` one past the last byte of the packet (per Payload Length). */
  get end(): number {
    return this.off + IPV6_HEADER_LEN + this.payloadLength;
  }
  /** The source address bytes (a subarray; allocates a view object, not for hot paths). */
  srcAddr(): Uint8Array {
    return this.buf.subarray(this.off + SRC, this.off + SRC + 16);
  }
  /** The destination address bytes (a subarray; not for hot paths). */
  dstAddr(): Uint8Array {
    return this.buf.subarray(this.off + DST, this.off + DST + 16);
  }
  /** Payload bytes per Payload Length, extension headers included (a subarray). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off + IPV6_HEADER_LEN, this.end);
  }
  /** The whole packet per Payload Length (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.end);
  }

  /** Sets the Traffic Class byte; version and flow label are kept. */
  setTrafficClass(v: number): void {
    const o = this.off;
    this.buf[o] = 0x60 | ((v >> 4) & 0x0f);
    this.buf[o + 1] = ((v & 0x0f) << 4) | (this.buf[o + 1] & 0x0f);
  }
  /** Sets the 20-bit flow label; version and traffic class are kept. */
  setFlowLabel(v: number): void {
    const o = this.off;
    this.buf[o + 1] = (this.buf[o + 1] & 0xf0) | ((v >>> 16) & 0x0f);
    this.buf[o + 2] = (v >>> 8) & 0xff;
    this.buf[o + 3] = v & 0xff;
  }
  /** Sets Payload Length. The caller keeps it within the buffer. */
  setPayloadLength(v: number): void {
    this.buf[this.off + PAYLOAD_LEN] = v >>> 8;
    this.buf[this.off + PAYLOAD_LEN + 1] = v & 0xff;
  }
  setNextHeader(v: number): void {
    this.buf[this.off + NEXT_HEADER] = v;
  }
  setHopLimit(v: number): void {
    this.buf[this.off + HOP_LIMIT] = v;
  }
  /** Copies 16 bytes from `bytes[off..]` into the source address. */
  setSrc(bytes: Uint8Array, off = 0): void {
    const d = this.off + SRC;
    for (let i = 0; i < 16; i++) this.buf[d + i] = bytes[off + i];
  }
  /** Copies 16 bytes from `bytes[off..]` into the destination address. */
  setDst(bytes: Uint8Array, off = 0): void {
    const d = this.off + DST;
    for (let i = 0; i < 16; i++) this.buf[d + i] = bytes[off + i];
  }
  /** Decrements the hop limit (wrapping 0 to 255, like the IPv4 view) and returns the new value. */
  decrementHopLimit(): number {
    const h = (this.buf[this.off + HOP_LIMIT] - 1) & 0xff;
    this.buf[this.off + HOP_LIMIT] = h;
    return h;
  }
}

/**
 * The result of walking an IPv6 extension-header chain, reusable across packets (no allocation
 * per packet). Call {@link Ipv6HeaderChain.parse}; fields are meaningful only after it returned
 * `true`.
 *
 * The walk follows Hop-by-Hop (0, first only), Routing (43), Fragment (44, at most once),
 * Destination Options (60) and Authentication Header (51), and stops at any other next header:
 * the upper layer (TCP, UDP, ICMPv6, …), No Next Header (59), ESP (50) or an unknown number.
 *
 * In a non-first fragment (offset ≠ 0) the bytes after the Fragment header are fragment data, not
 * headers: the walk stops there, {@link Ipv6HeaderChain.upperPresent} is `false`, and
 * {@link Ipv6HeaderChain.upperProtocol} is the Fragment header's Next Header (the first header of
 * the fragmentable part, RFC 8200 §4.5).
 */
export class Ipv6HeaderChain {
  /** The next-header value where the walk stopped (the upper-layer protocol, 59, 50, …). */
  upperProtocol = 0;
  /** Absolute offset in the packet's buffer where the upper-layer header (or fragment data) begins. */
  upperOffset = 0;
  /** Absolute offset of the Next Header byte that holds {@link Ipv6HeaderChain.upperProtocol}. */
  nextHeaderFieldOffset = 0;
  /** Absolute offset one past the packet's last byte (per Payload Length). */
  end = 0;
  /** False in a non-first fragment, where no upper-layer header is present at `upperOffset`. */
  upperPresent = true;
  /** Absolute offset of the Fragment header, or -1 when there is none. */
  fragmentHeaderOffset = -1;
  /** Fragment offset in bytes (0 without a Fragment header). */
  fragmentOffset = 0;
  /** Fragment identification (0 without a Fragment header). */
  fragmentId = 0;
  /** The M flag of the Fragment header. */
  moreFragments = false;
  /**
   * True when the packet is a real fragment (offset ≠ 0 or M set). An atomic fragment (a Fragment
   * header with offset 0 and M clear, RFC 6946) has a Fragment header but is not a fragment.
   */
  isFragment = false;
  /** Absolute offset of the first Routing header, or -1 when there is none. */
  routingHeaderOffset = -1;
  /** Routing Type of the first Routing header (0 without one). */
  routingType = 0;
  /** Segments Left of the first Routing header (0 without one). */
  segmentsLeft = 0;

  /** Upper-layer (or fragment data) length: `end - upperOffset`. */
  get upperLength(): number {
    return this.end - this.upperOffset;
  }

  /**
   * Walks the chain of `pkt`. Returns `false` (fields then undefined) when an extension header
   * runs past the end of the packet, Hop-by-Hop is not the first header, or a second Fragment
   * header appears (RFC 8200 §4.1 allows one; nested fragments are an evasion technique).
   * Never throws for a validated packet.
   */
  parse(pkt: Ipv6Packet): boolean {
    const b = pkt.buf;
    const end = pkt.end;
    let nh = b[pkt.off + NEXT_HEADER];
    let nhField = pkt.off + NEXT_HEADER;
    let o = pkt.off + IPV6_HEADER_LEN;
    this.end = end;
    this.upperPresent = true;
    this.fragmentHeaderOffset = -1;
    this.fragmentOffset = 0;
    this.fragmentId = 0;
    this.moreFragments = false;
    this.isFragment = false;
    this.routingHeaderOffset = -1;
    this.routingType = 0;
    this.segmentsLeft = 0;
    let first = true;
    for (;;) {
      let len: number;
      if (nh === NH_HOP_BY_HOP) {
        if (!first) return false;
        if (o + 2 > end) return false;
        len = (b[o + EXT_LEN] + 1) << 3;
      } else if (nh === NH_ROUTING) {
        if (o + 4 > end) return false;
        len = (b[o + EXT_LEN] + 1) << 3;
        if (this.routingHeaderOffset < 0) {
          this.routingHeaderOffset = o;
          this.routingType = b[o + RT_TYPE];
          this.segmentsLeft = b[o + RT_SEGMENTS_LEFT];
        }
      } else if (nh === NH_DEST_OPTS) {
        if (o + 2 > end) return false;
        len = (b[o + EXT_LEN] + 1) << 3;
      } else if (nh === NH_AH) {
        if (o + 2 > end) return false;
        len = (b[o + EXT_LEN] + 2) << 2;
      } else if (nh === NH_FRAGMENT) {
        if (this.fragmentHeaderOffset >= 0) return false;
        len = IPV6_FRAGMENT_HEADER_LEN;
        if (o + len > end) return false;
        const w = (b[o + FRAG_OFFSET_FLAGS] << 8) | b[o + FRAG_OFFSET_FLAGS + 1];
        this.fragmentHeaderOffset = o;
        this.fragmentOffset = w & FRAG_OFFSET_MASK;
        this.moreFragments = (w & FRAG_MORE) !== 0;
        this.isFragment = this.fragmentOffset !== 0 || this.moreFragments;
        this.fragmentId =
          ((b[o + FRAG_ID] << 24) |
            (b[o + FRAG_ID + 1] << 16) |
            (b[o + FRAG_ID + 2] << 8) |
            b[o + FRAG_ID + 3]) >>>
          0;
        if (this.fragmentOffset !== 0) {
          this.upperProtocol = b[o + EXT_NEXT];
          this.nextHeaderFieldOffset = o + EXT_NEXT;
          this.upperOffset = o + len;
          this.upperPresent = false;
          return true;
        }
      } else {
        this.upperProtocol = nh;
        this.nextHeaderFieldOffset = nhField;
        this.upperOffset = o;
        return true;
      }
      if (o + len > end) return false;
      nhField = o + EXT_NEXT;
      nh = b[nhField];
      o += len;
      first = false;
    }
  }
}

/**
 * Writes an 8-byte Fragment header at `buf[off..]`: `nextHeader` names the first header of the
 * fragmentable part, `offsetBytes` is the fragment offset in bytes (a multiple of 8, at most
 * 65528), `more` the M flag, `id` the 32-bit identification. Returns 8. Throws `RangeError` for a
 * bad offset or a buffer that is too small.
 */
export function emitIpv6FragmentHeader(
  buf: Uint8Array,
  off: number,
  nextHeader: number,
  offsetBytes: number,
  more: boolean,
  id: number,
): number {
  if (
    !Number.isInteger(offsetBytes) ||
    offsetBytes < 0 ||
    offsetBytes > IPV6_MAX_FRAGMENT_OFFSET ||
    offsetBytes & 7
  )
    throw new RangeError(`IPv6 fragment offset must be a multiple of 8 in 0..65528, got ${offsetBytes}`);
  if (off < 0 || off + IPV6_FRAGMENT_HEADER_LEN > buf.length)
    throw new RangeError('buffer too small for the IPv6 fragment header');
  const w = offsetBytes | (more ? FRAG_MORE : 0);
  buf[off + EXT_NEXT] = nextHeader;
  buf[off + 1] = 0;
  buf[off + FRAG_OFFSET_FLAGS] = w >>> 8;
  buf[off + FRAG_OFFSET_FLAGS + 1] = w & 0xff;
  buf[off + FRAG_ID] = id >>> 24;
  buf[off + FRAG_ID + 1] = (id >>> 16) & 0xff;
  buf[off + FRAG_ID + 2] = (id >>> 8) & 0xff;
  buf[off + FRAG_ID + 3] = id & 0xff;
  return IPV6_FRAGMENT_HEADER_LEN;
}

/** A plain description of a fixed IPv6 header, for building packets (tests, ICMPv6 errors, NAT64). */
export interface Ipv6Repr {
  /** Source address, IPv6 text. */
  src: string;
  /** Destination address, IPv6 text. */
  dst: string;
  /** Next Header of the fixed header (first extension header or upper-layer protocol). */
  nextHeader: number;
  /** Default 64. */
  hopLimit?: number;
  /** Traffic Class byte. Default 0. */
  trafficClass?: number;
  /** 20-bit flow label. Default 0. */
  flowLabel?: number;
}

/** Reads the fixed header of a validated packet into a {@link Ipv6Repr} (addresses in RFC 5952 text). */
export function parseIpv6Repr(p: Ipv6Packet): Ipv6Repr {
  return {
    src: formatIpv6(p.buf, p.srcOffset),
    dst: formatIpv6(p.buf, p.dstOffset),
    nextHeader: p.nextHeader,
    hopLimit: p.hopLimit,
    trafficClass: p.trafficClass,
    flowLabel: p.flowLabel,
  };
}

function byteField(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`IPv6 ${name} must be 0..${max}, got ${v}`);
  return v;
}

/**
 * Writes the fixed 40-byte header for `repr` at `buf[off..]` with Payload Length `payloadLen`.
 * Returns 40. Throws `RangeError` for bad addresses, out-of-range fields, a payload longer than
 * 65535 bytes, or a buffer that is too small.
 */
export function emitIpv6Header(repr: Ipv6Repr, payloadLen: number, buf: Uint8Array, off = 0): number {
  byteField('payload length', payloadLen, 0xffff);
  const tc = byteField('traffic class', repr.trafficClass ?? 0, 0xff);
  const fl = byteField('flow label', repr.flowLabel ?? 0, 0xfffff);
  const hl = byteField('hop limit', repr.hopLimit ?? 64, 0xff);
  const nh = byteField('next header', repr.nextHeader, 0xff);
  if (off < 0 || off + IPV6_HEADER_LEN > buf.length)
    throw new RangeError('buffer too small for the IPv6 header');
  const src = parseIpv6(repr.src);
  const dst = parseIpv6(repr.dst);
  if (src === null || dst === null) throw new RangeError(`bad IPv6 address in ${repr.src} -> ${repr.dst}`);
  buf[off] = 0x60 | (tc >> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  buf[off + 2] = (fl >>> 8) & 0xff;
  buf[off + 3] = fl & 0xff;
  buf[off + PAYLOAD_LEN] = payloadLen >>> 8;
  buf[off + PAYLOAD_LEN + 1] = payloadLen & 0xff;
  buf[off + NEXT_HEADER] = nh;
  buf[off + HOP_LIMIT] = hl;
  buf.set(src, off + SRC);
  buf.set(dst, off + DST);
  return IPV6_HEADER_LEN;
}

/** A new buffer holding the fixed IPv6 header for `repr` followed by `payload` (copied as is). */
export function emitIpv6(repr: Ipv6Repr, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(IPV6_HEADER_LEN + payload.length);
  emitIpv6Header(repr, payload.length, out, 0);
  out.set(payload, IPV6_HEADER_LEN);
  return out;
}
