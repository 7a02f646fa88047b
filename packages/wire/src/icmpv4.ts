/**
 * ICMP for IPv4 (RFC 792; Fragmentation Needed with the next-hop MTU from RFC 1191; error
 * generation rules from RFC 1122 §3.2.2 and RFC 1812 §4.3.2).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Rest of Header                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data (errors: the original IP header + leading payload)  ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
 *
 * Rest of Header by type:
 *   Echo / Echo Reply / Timestamp / Address Mask:  Identifier (16) | Sequence Number (16)
 *   Destination Unreachable, code 4 (RFC 1191):    unused (16)     | Next-Hop MTU (16)
 *   Parameter Problem:                             Pointer (8)     | unused (24)
 *   Redirect:                                      Gateway Internet Address (32)
 * ```
 */
import { formatIpv4, parseIpv4, readIpv4, writeIpv4 } from './address.js';
import { checksum, readChecksum, updateChecksum16, writeChecksum } from './checksum.js';
import { IpProtocol } from './constants.js';
import { emitIpv4Header, IPV4_MIN_HEADER_LEN, Ipv4Packet } from './ipv4.js';

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;
const IDENT = 4;
const SEQ = 6;
const POINTER = 4;
const MTU = 6;

/** Length of the ICMPv4 header (type, code, checksum, rest of header). */
export const ICMPV4_HEADER_LEN = 8;
/**
 * Largest ICMPv4 error datagram l3kit builds: RFC 1812 §4.3.2.3 (and RFC 1122 §3.2.2's 576-byte
 * minimum reassembly size) — quote as much of the original as fits in 576 bytes.
 */
export const ICMPV4_ERROR_MAX_LEN = 576;

/** ICMPv4 message types (IANA "ICMP Type Numbers"). Unknown types stay representable as numbers. */
export const Icmpv4Type = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  /** Deprecated by RFC 6633; still parsed. */
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  RouterAdvertisement: 9,
  RouterSolicitation: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
  AddressMaskRequest: 17,
  AddressMaskReply: 18,
} as const;
/** A known ICMPv4 type, or any other number. */
export type Icmpv4Type = (typeof Icmpv4Type)[keyof typeof Icmpv4Type] | (number & {});

/** Codes of Destination Unreachable (type 3), RFC 792 / RFC 1122 / RFC 1812. */
export const Icmpv4Unreachable = {
  NetUnreachable: 0,
  HostUnreachable: 1,
  ProtocolUnreachable: 2,
  PortUnreachable: 3,
  /** Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191). */
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  DestNetworkUnknown: 6,
  DestHostUnknown: 7,
  SourceHostIsolated: 8,
  NetAdminProhibited: 9,
  HostAdminProhibited: 10,
  NetUnreachableForTos: 11,
  HostUnreachableForTos: 12,
  /** Communication administratively prohibited (RFC 1812). */
  AdminProhibited: 13,
  HostPrecedenceViolation: 14,
  PrecedenceCutoff: 15,
} as const;
/** A known Destination Unreachable code, or any other number. */
export type Icmpv4Unreachable = (typeof Icmpv4Unreachable)[keyof typeof Icmpv4Unreachable] | (number & {});

/** Codes of Time Exceeded (type 11). */
export const Icmpv4TimeExceeded = {
  /** TTL exceeded in transit. */
  TtlExceeded: 0,
  /** Fragment reassembly time exceeded. */
  FragmentReassembly: 1,
} as const;
/** A known Time Exceeded code, or any other number. */
export type Icmpv4TimeExceeded = (typeof Icmpv4TimeExceeded)[keyof typeof Icmpv4TimeExceeded] | (number & {});

/** Codes of Parameter Problem (type 12). */
export const Icmpv4ParameterProblem = {
  /** The pointer indicates the error. */
  Pointer: 0,
  /** A required option is missing. */
  MissingOption: 1,
  BadLength: 2,
} as const;
/** A known Parameter Problem code, or any other number. */
export type Icmpv4ParameterProblem =
  | (typeof Icmpv4ParameterProblem)[keyof typeof Icmpv4ParameterProblem]
  | (number & {});

/** Whether `type` is an ICMPv4 error message (Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem). */
export function isIcmpv4Error(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Whether `type` carries Identifier and Sequence Number in the rest of header (queries and replies). */
export function isIcmpv4Query(type: number): boolean {
  return (
    type === 0 ||
    type === 8 ||
    type === 13 ||
    type === 14 ||
    type === 15 ||
    type === 16 ||
    type === 17 ||
    type === 18
  );
}

/**
 * A view over one ICMPv4 message: `off` is where the ICMP header starts, `end` where the message
 * ends (the IPv4 payload end). Create with {@link Icmpv4Packet.checked} or re-point with
 * {@link Icmpv4Packet.rebind}. Accessors trust the validated length; setters change bytes only
 * (call {@link Icmpv4Packet.fillChecksum}) except the `…Incremental` ones.
 */
export class Icmpv4Packet {
  buf: Uint8Array;
  off: number;
  /** Offset one past the last byte of the message. */
  end: number;

  private constructor(buf: Uint8Array, off: number, end: number) {
    this.buf = buf;
    this.off = off;
    this.end = end;
  }

  /** Validates `buf[off..end)` as an ICMPv4 message: at least the 8-byte header. No checksum check. */
  static checked(buf: Uint8Array, off = 0, end = buf.length): Icmpv4Packet | null {
    return Icmpv4Packet.valid(buf, off, end) ? new Icmpv4Packet(buf, off, end) : null;
  }

  /** An unbound view for {@link Icmpv4Packet.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): Icmpv4Packet {
    return new Icmpv4Packet(new Uint8Array(0), 0, 0);
  }

  /** Re-points this view after the same checks as {@link Icmpv4Packet.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!Icmpv4Packet.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    this.end = end;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    return end <= buf.length && off >= 0 && end - off >= ICMPV4_HEADER_LEN;
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
  /** Echo / timestamp / mask identifier (bytes 4–5). */
  get identifier(): number {
    return (this.buf[this.off + IDENT] << 8) | this.buf[this.off + IDENT + 1];
  }
  /** Echo / timestamp / mask sequence number (bytes 6–7). */
  get sequence(): number {
    return (this.buf[this.off + SEQ] << 8) | this.buf[this.off + SEQ + 1];
  }
  /** Parameter Problem pointer (byte 4): offset of the bad octet in the quoted header. */
  get pointer(): number {
    return this.buf[this.off + POINTER];
  }
  /** Next-hop MTU of Destination Unreachable code 4 (bytes 6–7, RFC 1191); 0 from pre-1191 routers. */
  get nextHopMtu(): number {
    return (this.buf[this.off + MTU] << 8) | this.buf[this.off + MTU + 1];
  }
  /** Redirect gateway address as a uint32 (bytes 4–7). */
  get gateway(): number {
    return readIpv4(this.buf, this.off + REST);
  }
  /** The rest of header (bytes 4–7) as a uint32. */
  get restOfHeader(): number {
    return readIpv4(this.buf, this.off + REST);
  }
  /** Whether this is an error message (types 3, 4, 5, 11, 12), which quotes an IPv4 packet. */
  get isError(): boolean {
    return isIcmpv4Error(this.buf[this.off + TYPE]);
  }
  /** Offset in `buf` of the message data: the quoted IPv4 header for errors. */
  get embeddedOffset(): number {
    return this.off + ICMPV4_HEADER_LEN;
  }
  /** Message length in bytes (header + data). */
  get length(): number {
    return this.end - this.off;
  }
  /** Data after the 8-byte header (a subarray). */
  data(): Uint8Array {
    return this.buf.subarray(this.off + ICMPV4_HEADER_LEN, this.end);
  }
  /** The whole message (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.end);
  }
  /** Whether the checksum over the whole message is correct. */
  verifyChecksum(): boolean {
    return checksum(this.buf, this.off, this.end - this.off) === 0;
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
  /** Sets the Parameter Problem pointer (byte 4). */
  setPointer(v: number): void {
    this.buf[this.off + POINTER] = v;
  }
  /** Sets the next-hop MTU (bytes 6–7). */
  setNextHopMtu(v: number): void {
    this.buf[this.off + MTU] = v >>> 8;
    this.buf[this.off + MTU + 1] = v & 0xff;
  }
  /** Sets bytes 4–7 from a uint32. */
  setRestOfHeader(v: number): void {
    writeIpv4(this.buf, this.off + REST, v);
  }
  /** Sets the identifier and updates the checksum incrementally (RFC 1624): the NAT echo-id path. */
  setIdentifierIncremental(v: number): void {
    const old = this.identifier;
    this.setIdentifier(v);
    this.setChecksum(updateChecksum16(this.checksum, old, v & 0xffff));
  }
  /** Recomputes the checksum over the whole message. */
  fillChecksum(): void {
    this.setChecksum(0);
    this.setChecksum(checksum(this.buf, this.off, this.end - this.off));
  }
}

/**
 * A plain description of an ICMPv4 message. Bytes 4–7 are `restOfHeader` (default 0) with the
 * type-specific fields laid over it when given: `identifier` / `sequence` for queries and
 * replies, `mtu` for type 3, `pointer` for type 12.
 */
export interface Icmpv4Repr {
  type: number;
  code: number;
  /** Queries and replies (echo, timestamp, address mask): bytes 4–5. */
  identifier?: number;
  /** Queries and replies: bytes 6–7. */
  sequence?: number;
  /** Bytes 4–7 as a uint32 (the base the type-specific fields are laid over). */
  restOfHeader?: number;
  /** Destination Unreachable: next-hop MTU in bytes 6–7. */
  mtu?: number;
  /** Parameter Problem: pointer in byte 4. */
  pointer?: number;
  /** Everything after the 8-byte header (echo data, or the quoted packet of an error). */
  data?: Uint8Array;
}

/**
 * Reads a message into a {@link Icmpv4Repr}: `restOfHeader` always, plus the type-specific field
 * that applies (`identifier` and `sequence` for queries/replies, `mtu` for type 3 code 4,
 * `pointer` for type 12), and `data` (a copy).
 */
export function parseIcmpv4Repr(p: Icmpv4Packet): Icmpv4Repr {
  const t = p.type;
  const repr: Icmpv4Repr = { type: t, code: p.code, restOfHeader: p.restOfHeader, data: p.data().slice() };
  if (isIcmpv4Query(t)) {
    repr.identifier = p.identifier;
    repr.sequence = p.sequence;
  } else if (t === Icmpv4Type.DestinationUnreachable && p.code === Icmpv4Unreachable.FragmentationNeeded) {
    repr.mtu = p.nextHopMtu;
  } else if (t === Icmpv4Type.ParameterProblem) {
    repr.pointer = p.pointer;
  }
  return repr;
}

/** Message length a {@link Icmpv4Repr} emits: 8 + data length. */
export function icmpv4Len(repr: Icmpv4Repr): number {
  return ICMPV4_HEADER_LEN + (repr.data ? repr.data.length : 0);
}

function u(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`ICMPv4 ${name} must be 0..${max}, got ${v}`);
  return v;
}

/**
 * Writes the message for `repr` at `buf[off..]` with a correct checksum and returns its length.
 * Throws `RangeError` for out-of-range fields or a buffer that is too small.
 */
export function emitIcmpv4(repr: Icmpv4Repr, buf: Uint8Array, off = 0): number {
  const len = icmpv4Len(repr);
  if (off < 0 || off + len > buf.length) throw new RangeError('buffer too small for the ICMPv4 message');
  let rest = u('rest of header', repr.restOfHeader ?? 0, 0xffffffff);
  if (repr.identifier !== undefined)
    rest = ((u('identifier', repr.identifier, 0xffff) << 16) | (rest & 0xffff)) >>> 0;
  if (repr.sequence !== undefined) rest = ((rest & 0xffff0000) | u('sequence', repr.sequence, 0xffff)) >>> 0;
  if (repr.mtu !== undefined) rest = ((rest & 0xffff0000) | u('mtu', repr.mtu, 0xffff)) >>> 0;
  if (repr.pointer !== undefined) rest = ((u('pointer', repr.pointer, 0xff) << 24) | (rest & 0xffffff)) >>> 0;
  buf[off + TYPE] = u('type', repr.type, 0xff);
  buf[off + CODE] = u('code', repr.code, 0xff);
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  writeIpv4(buf, off + REST, rest);
  if (repr.data) buf.set(repr.data, off + ICMPV4_HEADER_LEN);
  writeChecksum(buf, off + CHECKSUM, checksum(buf, off, len));
  return len;
}

/** Options of {@link buildIcmpv4Error}. */
export interface Icmpv4ErrorOptions {
  /** Source of the error (this router's or host's address), dotted quad. */
  src: string;
  /** An error type: 3, 4, 5, 11 or 12. */
  type: number;
  code: number;
  /** Next-hop MTU for type 3 code 4 (RFC 1191). Default 0. */
  mtu?: number;
  /** Pointer for type 12. Default 0. */
  pointer?: number;
  /** Gateway address for type 5 (Redirect), dotted quad. Default 0.0.0.0. */
  gateway?: string;
  /** TTL of the error datagram. Default 64. */
  ttl?: number;
  /** Identification of the error datagram. Default 0. */
  identification?: number;
}

/** Whether a source address does not name a single host (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7). */
function notAHost(a: number): boolean {
  const top = a >>> 24;
  return a === 0 || top === 127 || top >= 224; // zero, loopback, multicast (224/4), class E + broadcast
}

/**
 * Builds a whole IPv4 packet carrying an ICMPv4 error about `original` (an IPv4 packet as
 * received): IPv4 header from `opts.src` to the original's source, the ICMP header, and the
 * original IP header (options included) plus as much of its payload as keeps the error within
 * 576 bytes (RFC 1812 §4.3.2.3). TOS is the original's TOS bits with precedence 6 (RFC 1812
 * §4.3.2.5, as Linux does).
 *
 * Returns `null` when no error may be sent (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7): `original` is
 * not a valid IPv4 packet or its header checksum is wrong (RFC 1812 §5.2.2: such packets are
 * discarded silently); it is an ICMP error itself; it is a non-first fragment; its source is
 * not a single host (0.0.0.0, 127/8, multicast 224/4, class E or 255.255.255.255); or its
 * destination is 255.255.255.255 or multicast. Never throws for any `original`; throws
 * `RangeError` for bad `opts` (a non-error type, a bad address).
 */
export function buildIcmpv4Error(original: Uint8Array, opts: Icmpv4ErrorOptions): Uint8Array | null {
  if (!isIcmpv4Error(opts.type)) throw new RangeError(`not an ICMPv4 error type: ${opts.type}`);
  const src = parseIpv4(opts.src);
  if (src === null) throw new RangeError(`bad IPv4 address: ${opts.src}`);
  let gateway = 0;
  if (opts.gateway !== undefined) {
    const g = parseIpv4(opts.gateway);
    if (g === null) throw new RangeError(`bad IPv4 address: ${opts.gateway}`);
    gateway = g;
  }
  const ip = Ipv4Packet.checked(original);
  if (ip === null || !ip.verifyChecksum()) return null;
  if (ip.fragmentOffset !== 0) return null;
  if (notAHost(ip.src)) return null;
  const dst = ip.dst;
  if (dst >>> 28 === 0xe || dst === 0xffffffff) return null;
  if (ip.protocol === IpProtocol.Icmp && ip.payloadLength >= 1 && isIcmpv4Error(original[ip.payloadOffset]))
    return null;

  const outerHl = IPV4_MIN_HEADER_LEN;
  const quoteLen = Math.min(ip.totalLength, ICMPV4_ERROR_MAX_LEN - outerHl - ICMPV4_HEADER_LEN);
  const icmpLen = ICMPV4_HEADER_LEN + quoteLen;
  const out = new Uint8Array(outerHl + icmpLen);
  emitIpv4Header(
    {
      src: opts.src,
      dst: formatIpv4(ip.src),
      protocol: IpProtocol.Icmp,
      ttl: opts.ttl ?? 64,
      tos: 0xc0 | (ip.tos & 0x1e),
      identification: opts.identification ?? 0,
    },
    icmpLen,
    out,
    0,
  );
  let rest = 0;
  if (opts.type === Icmpv4Type.DestinationUnreachable) rest = u('mtu', opts.mtu ?? 0, 0xffff);
  else if (opts.type === Icmpv4Type.ParameterProblem)
    rest = (u('pointer', opts.pointer ?? 0, 0xff) << 24) >>> 0;
  else if (opts.type === Icmpv4Type.Redirect) rest = gateway;
  const o = outerHl;
  out[o + TYPE] = u('type', opts.type, 0xff);
  out[o + CODE] = u('code', opts.code, 0xff);
  writeIpv4(out, o + REST, rest);
  out.set(original.subarray(ip.off, ip.off + quoteLen), o + ICMPV4_HEADER_LEN);
  writeChecksum(out, o + CHECKSUM, checksum(out, o, icmpLen));
  return out;
}
