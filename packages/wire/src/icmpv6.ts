/**
 * ICMP for IPv6 (RFC 4443; Neighbor Discovery types from RFC 4861, MLD from RFC 2710 / 3810).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Rest of Header                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Message body (errors: as much of the invoking packet as fits) ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
 *
 * Rest of Header by type:
 *   Echo Request / Reply (128, 129):  Identifier (16) | Sequence Number (16)
 *   Packet Too Big (2):               MTU (32)
 *   Parameter Problem (4):            Pointer (32)
 *   Destination Unreachable, Time Exceeded: unused (32)
 * ```
 *
 * The checksum covers the IPv6 pseudo-header (RFC 8200 §8.1): pass its running sum, from
 * `pseudoHeaderSum6(buf, ipOff, 58, icmpLen)` in the checksum module, as `pseudoSum`.
 */
import { formatIpv6, parseIpv6 } from './address.js';
import {
  finishChecksum,
  onesSum,
  pseudoHeaderSum6,
  readChecksum,
  updateChecksum16,
  writeChecksum,
} from './checksum.js';
import { IpProtocol } from './constants.js';
import { emitIpv6Header, IPV6_HEADER_LEN, Ipv6HeaderChain, Ipv6Packet } from './ipv6.js';

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;
const IDENT = 4;
const SEQ = 6;

/** Length of the ICMPv6 header (type, code, checksum, rest of header). */
export const ICMPV6_HEADER_LEN = 8;
/**
 * Largest ICMPv6 error packet: RFC 4443 §2.4(c) — as much of the invoking packet as fits without
 * the error exceeding the minimum IPv6 MTU (1280 bytes).
 */
export const ICMPV6_ERROR_MAX_LEN = 1280;

/** ICMPv6 message types (IANA "ICMPv6 Parameters"). Unknown types stay representable as numbers. */
export const Icmpv6Type = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  /** Multicast Listener Query (RFC 2710). */
  MldQuery: 130,
  /** Multicast Listener Report (RFC 2710). */
  MldReport: 131,
  /** Multicast Listener Done (RFC 2710). */
  MldDone: 132,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
  /** Version 2 Multicast Listener Report (RFC 3810). */
  Mldv2Report: 143,
} as const;
/** A known ICMPv6 type, or any other number. */
export type Icmpv6Type = (typeof Icmpv6Type)[keyof typeof Icmpv6Type] | (number & {});

/** Codes of Destination Unreachable (type 1), RFC 4443 §3.1. */
export const Icmpv6Unreachable = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  AddressUnreachable: 3,
  PortUnreachable: 4,
  SourcePolicyFailed: 5,
  RejectRoute: 6,
  /** Error in Source Routing Header (RFC 6550). */
  SourceRoutingHeader: 7,
} as const;
/** A known Destination Unreachable code, or any other number. */
export type Icmpv6Unreachable = (typeof Icmpv6Unreachable)[keyof typeof Icmpv6Unreachable] | (number & {});

/** Codes of Time Exceeded (type 3), RFC 4443 §3.3. */
export const Icmpv6TimeExceeded = {
  HopLimitExceeded: 0,
  FragmentReassembly: 1,
} as const;
/** A known Time Exceeded code, or any other number. */
export type Icmpv6TimeExceeded = (typeof Icmpv6TimeExceeded)[keyof typeof Icmpv6TimeExceeded] | (number & {});

/** Codes of Parameter Problem (type 4), RFC 4443 §3.4 and RFC 7112. */
export const Icmpv6ParameterProblem = {
  ErroneousHeaderField: 0,
  UnrecognizedNextHeader: 1,
  UnrecognizedOption: 2,
  /** IPv6 first fragment has an incomplete header chain (RFC 7112). */
  IncompleteHeaderChain: 3,
} as const;
/** A known Parameter Problem code, or any other number. */
export type Icmpv6ParameterProblem =
  | (typeof Icmpv6ParameterProblem)[keyof typeof Icmpv6ParameterProblem]
  | (number & {});

/** Whether `type` is an ICMPv6 error message (types 0–127, RFC 4443 §2.1). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

/**
 * A view over one ICMPv6 message: `off` is where the ICMPv6 header starts, `end` where the message
 * ends (the upper-layer end of the IPv6 packet). Create with {@link Icmpv6Packet.checked} or
 * re-point with {@link Icmpv6Packet.rebind}. Setters change bytes only (call
 * {@link Icmpv6Packet.fillChecksum}) except the `…Incremental` ones.
 */
export class Icmpv6Packet {
  buf: Uint8Array;
  off: number;
  /** Offset one past the last byte of the message. */
  end: number;

  private constructor(buf: Uint8Array, off: number, end: number) {
    this.buf = buf;
    this.off = off;
    this.end = end;
  }

  /** Validates `buf[off..end)` as an ICMPv6 message: at least the 8-byte header. No checksum check. */
  static checked(buf: Uint8Array, off = 0, end = buf.length): Icmpv6Packet | null {
    return Icmpv6Packet.valid(buf, off, end) ? new Icmpv6Packet(buf, off, end) : null;
  }

  /** An unbound view for {@link Icmpv6Packet.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): Icmpv6Packet {
    return new Icmpv6Packet(new Uint8Array(0), 0, 0);
  }

  /** Re-points this view after the same checks as {@link Icmpv6Packet.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!Icmpv6Packet.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    this.end = end;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    return end <= buf.length && off >= 0 && end - off >= ICMPV6_HEADER_LEN;
  }

  get type(): number {
    return this.buf[this.off + TYPE];
  }
  get code(): number {
    return this.buf[this.off + CODE];
  }
  get checksum(): number {
    return readChecksum(this.buf, this.off + CHECKSUM);
  }
  /** Echo identifier (bytes 4–5). */
  get identifier(): number {
    return (this.buf[this.off + IDENT] << 8) | this.buf[this.off + IDENT + 1];
  }
  /** Echo sequence number (bytes 6–7). */
  get sequence(): number {
    return (this.buf[this.off + SEQ] << 8) | this.buf[this.off + SEQ + 1];
  }
  /** The rest of header (bytes 4–7) as a uint32. */
  get restOfHeader(): number {
    const b = this.buf;
    const o = this.off + REST;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
  /** Packet Too Big MTU (bytes 4–7). */
  get mtu(): number {
    return this.restOfHeader;
  }
  /** Parameter Problem pointer (bytes 4–7): offset of the error in the invoking packet. */
  get pointer(): number {
    return this.restOfHeader;
  }
  /** Whether this is an error message (type < 128), which quotes the invoking IPv6 packet. */
  get isError(): boolean {
    return this.buf[this.off + TYPE] < 128;
  }
  /** Offset in `buf` of the message body: the invoking packet for errors. */
  get embeddedOffset(): number {
    return this.off + ICMPV6_HEADER_LEN;
  }
  /** Message length in bytes (header + body). */
  get length(): number {
    return this.end - this.off;
  }
  /** Body after the 8-byte header (a subarray). */
  data(): Uint8Array {
    return this.buf.subarray(this.off + ICMPV6_HEADER_LEN, this.end);
  }
  /** The whole message (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.end);
  }
  /**
   * Whether the checksum is correct, given the pseudo-header running sum
   * (`pseudoHeaderSum6(buf, ipOff, 58, this.length)`).
   */
  verifyChecksum(pseudoSum: number): boolean {
    return finishChecksum(onesSum(this.buf, this.off, this.end - this.off, pseudoSum)) === 0;
  }

  setType(v: number): void {
    this.buf[this.off + TYPE] = v;
  }
  setCode(v: number): void {
    this.buf[this.off + CODE] = v;
  }
  setChecksum(v: number): void {
    writeChecksum(this.buf, this.off + CHECKSUM, v);
  }
  setIdentifier(v: number): void {
    this.buf[this.off + IDENT] = v >>> 8;
    this.buf[this.off + IDENT + 1] = v & 0xff;
  }
  setSequence(v: number): void {
    this.buf[this.off + SEQ] = v >>> 8;
    this.buf[this.off + SEQ + 1] = v & 0xff;
  }
  /** Sets bytes 4–7 from a uint32. */
  setRestOfHeader(v: number): void {
    const o = this.off + REST;
    this.buf[o] = v >>> 24;
    this.buf[o + 1] = (v >>> 16) & 0xff;
    this.buf[o + 2] = (v >>> 8) & 0xff;
    this.buf[o + 3] = v & 0xff;
  }
  /** Sets the Packet Too Big MTU (bytes 4–7). */
  setMtu(v: number): void {
    this.setRestOfHeader(v);
  }
  /** Sets the Parameter Problem pointer (bytes 4–7). */
  setPointer(v: number): void {
    this.setRestOfHeader(v);
  }
  /** Sets the echo identifier and updates the checksum incrementally (RFC 1624). */
  setIdentifierIncremental(v: number): void {
    const old = this.identifier;
    this.setIdentifier(v);
    this.setChecksum(updateChecksum16(this.checksum, old, v & 0xffff));
  }
  /** Recomputes the checksum over the pseudo-header sum `pseudoSum` and the whole message. */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0);
    this.setChecksum(finishChecksum(onesSum(this.buf, this.off, this.end - this.off, pseudoSum)));
  }
}

/**
 * A plain description of an ICMPv6 message. Bytes 4–7 are `restOfHeader` (default 0) with the
 * type-specific fields laid over it when given: `identifier` / `sequence` (bytes 4–5 / 6–7),
 * `mtu` or `pointer` (all of bytes 4–7).
 */
export interface Icmpv6Repr {
  type: number;
  code: number;
  /** Echo: bytes 4–5. */
  identifier?: number;
  /** Echo: bytes 6–7. */
  sequence?: number;
  /** Bytes 4–7 as a uint32. */
  restOfHeader?: number;
  /** Packet Too Big: bytes 4–7. */
  mtu?: number;
  /** Parameter Problem: bytes 4–7. */
  pointer?: number;
  /** Everything after the 8-byte header (echo data, ND body, or the quoted packet of an error). */
  data?: Uint8Array;
}

/**
 * Reads a message into a {@link Icmpv6Repr}: `restOfHeader` always, plus `identifier` and
 * `sequence` for echo, `mtu` for Packet Too Big, `pointer` for Parameter Problem, and `data`
 * (a copy). The checksum is not verified here.
 */
export function parseIcmpv6Repr(p: Icmpv6Packet): Icmpv6Repr {
  const t = p.type;
  const repr: Icmpv6Repr = { type: t, code: p.code, restOfHeader: p.restOfHeader, data: p.data().slice() };
  if (t === Icmpv6Type.EchoRequest || t === Icmpv6Type.EchoReply) {
    repr.identifier = p.identifier;
    repr.sequence = p.sequence;
  } else if (t === Icmpv6Type.PacketTooBig) {
    repr.mtu = p.mtu;
  } else if (t === Icmpv6Type.ParameterProblem) {
    repr.pointer = p.pointer;
  }
  return repr;
}

/** Message length a {@link Icmpv6Repr} emits: 8 + data length. */
export function icmpv6Len(repr: Icmpv6Repr): number {
  return ICMPV6_HEADER_LEN + (repr.data ? repr.data.length : 0);
}

function u(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`ICMPv6 ${name} must be 0..${max}, got ${v}`);
  return v;
}

/**
 * Writes the message for `repr` at `buf[off..]` and returns its length. The checksum is computed
 * over `pseudoSum` — the running sum of the IPv6 pseudo-header for this message, i.e.
 * `pseudoHeaderSum6(ipBuf, ipOff, 58, icmpv6Len(repr))` — and the message. Throws `RangeError`
 * for out-of-range fields or a buffer that is too small.
 */
export function emitIcmpv6(repr: Icmpv6Repr, buf: Uint8Array, off: number, pseudoSum: number): number {
  const len = icmpv6Len(repr);
  if (off < 0 || off + len > buf.length) throw new RangeError('buffer too small for the ICMPv6 message');
  let rest = u('rest of header', repr.restOfHeader ?? 0, 0xffffffff);
  if (repr.identifier !== undefined)
    rest = ((u('identifier', repr.identifier, 0xffff) << 16) | (rest & 0xffff)) >>> 0;
  if (repr.sequence !== undefined) rest = ((rest & 0xffff0000) | u('sequence', repr.sequence, 0xffff)) >>> 0;
  if (repr.mtu !== undefined) rest = u('mtu', repr.mtu, 0xffffffff);
  if (repr.pointer !== undefined) rest = u('pointer', repr.pointer, 0xffffffff);
  buf[off + TYPE] = u('type', repr.type, 0xff);
  buf[off + CODE] = u('code', repr.code, 0xff);
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  buf[off + REST] = rest >>> 24;
  buf[off + REST + 1] = (rest >>> 16) & 0xff;
  buf[off + REST + 2] = (rest >>> 8) & 0xff;
  buf[off + REST + 3] = rest & 0xff;
  if (repr.data) buf.set(repr.data, off + ICMPV6_HEADER_LEN);
  writeChecksum(buf, off + CHECKSUM, finishChecksum(onesSum(buf, off, len, pseudoSum)));
  return len;
}

/** Options of {@link buildIcmpv6Error}. */
export interface Icmpv6ErrorOptions {
  /** Source of the error (this router's or host's unicast address), IPv6 text. */
  src: string;
  /** An error type: 1, 2, 3 or 4 (any type below 128). */
  type: number;
  code: number;
  /** MTU for Packet Too Big (type 2); required there. */
  mtu?: number;
  /** Pointer for Parameter Problem (type 4). Default 0. */
  pointer?: number;
  /** Hop limit of the error packet. Default 64. */
  hopLimit?: number;
}

const chain = new Ipv6HeaderChain();

/**
 * Builds a whole IPv6 packet carrying an ICMPv6 error about `original` (an IPv6 packet as
 * received): IPv6 header from `opts.src` to the original's source, the ICMPv6 header and as much
 * of the original packet as fits without the error exceeding 1280 bytes (RFC 4443 §2.4(c)).
 *
 * Returns `null` when RFC 4443 §2.4(e) forbids an error: `original` is not a valid IPv6 packet;
 * it carries an ICMPv6 error message or a Redirect (seen through the extension-header chain); its
 * source is the unspecified address or multicast (e.6); or its destination is multicast (e.3) —
 * except that Packet Too Big and Parameter Problem code 2 may answer a multicast destination.
 * A packet whose header chain cannot be walked may still be answered (that is what Parameter
 * Problem is for), as may a non-first fragment, whose upper layer is not visible (RFC 8200 §4.5).
 * Never throws for any `original`; throws `RangeError` for bad `opts` (a non-error type, a bad
 * address, Packet Too Big without `mtu`).
 */
export function buildIcmpv6Error(original: Uint8Array, opts: Icmpv6ErrorOptions): Uint8Array | null {
  if (!Number.isInteger(opts.type) || opts.type < 0 || !isIcmpv6Error(opts.type))
    throw new RangeError(`not an ICMPv6 error type: ${opts.type}`);
  if (opts.type === Icmpv6Type.PacketTooBig && opts.mtu === undefined)
    throw new RangeError('ICMPv6 Packet Too Big needs an mtu');
  if (parseIpv6(opts.src) === null) throw new RangeError(`bad IPv6 address: ${opts.src}`);
  const ip = Ipv6Packet.checked(original);
  if (ip === null) return null;
  const b = ip.buf;
  const so = ip.srcOffset;
  if (b[so] === 0xff) return null;
  let unspecified = true;
  for (let i = 0; i < 16; i++) if (b[so + i] !== 0) unspecified = false;
  if (unspecified) return null;
  const multicastAllowed =
    opts.type === Icmpv6Type.PacketTooBig ||
    (opts.type === Icmpv6Type.ParameterProblem && opts.code === Icmpv6ParameterProblem.UnrecognizedOption);
  if (b[ip.dstOffset] === 0xff && !multicastAllowed) return null;
  if (chain.parse(ip) && chain.upperPresent && chain.upperProtocol === IpProtocol.Icmpv6) {
    if (chain.upperOffset >= chain.end) return null; // no type byte: cannot rule out an error
    const t = b[chain.upperOffset];
    if (isIcmpv6Error(t) || t === Icmpv6Type.Redirect) return null;
  }

  const quoteLen = Math.min(ip.totalLength, ICMPV6_ERROR_MAX_LEN - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN);
  const icmpLen = ICMPV6_HEADER_LEN + quoteLen;
  const out = new Uint8Array(IPV6_HEADER_LEN + icmpLen);
  emitIpv6Header(
    {
      src: opts.src,
      dst: formatIpv6(b, so),
      nextHeader: IpProtocol.Icmpv6,
      hopLimit: opts.hopLimit ?? 64,
    },
    icmpLen,
    out,
    0,
  );
  let rest = 0;
  if (opts.type === Icmpv6Type.PacketTooBig) rest = u('mtu', opts.mtu ?? 0, 0xffffffff);
  else if (opts.type === Icmpv6Type.ParameterProblem) rest = u('pointer', opts.pointer ?? 0, 0xffffffff);
  const o = IPV6_HEADER_LEN;
  out[o + TYPE] = opts.type;
  out[o + CODE] = u('code', opts.code, 0xff);
  out[o + REST] = rest >>> 24;
  out[o + REST + 1] = (rest >>> 16) & 0xff;
  out[o + REST + 2] = (rest >>> 8) & 0xff;
  out[o + REST + 3] = rest & 0xff;
  out.set(b.subarray(ip.off, ip.off + quoteLen), o + ICMPV6_HEADER_LEN);
  const ps = pseudoHeaderSum6(out, 0, IpProtocol.Icmpv6, icmpLen);
  writeChecksum(out, o + CHECKSUM, finishChecksum(onesSum(out, o, icmpLen, ps)));
  return out;
}
