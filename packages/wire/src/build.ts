/**
 * One convenient packet builder for tests, examples and docs: a whole IPv4 or IPv6 packet with
 * its transport header and correct IP and transport checksums from one plain object.
 *
 * Not for hot paths (it parses address text and allocates the result).
 */
import { parseIpv4, parseIpv6 } from './address.js';
import { pseudoHeaderSum4, pseudoHeaderSum6 } from './checksum.js';
import { IpProtocol } from './constants.js';
import { emitGre, type GreRepr, greHeaderLen } from './gre.js';
import { emitIcmpv4, type Icmpv4Repr, icmpv4Len } from './icmpv4.js';
import { emitIcmpv6, type Icmpv6Repr, icmpv6Len } from './icmpv6.js';
import { emitIpv4Header, type Ipv4Repr, ipv4HeaderLen } from './ipv4.js';
import { emitIpv6FragmentHeader, emitIpv6Header, IPV6_FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN } from './ipv6.js';
import { emitTcp, type TcpRepr, tcpHeaderLen } from './tcp.js';
import { emitUdp, UDP_HEADER_LEN, type UdpRepr } from './udp.js';

/** The IP-level part of a {@link PacketSpec}. */
export interface PacketSpecIp {
  /** Source address: dotted quad (IPv4) or IPv6 text; both addresses must be of one family. */
  src: string;
  /** Destination address, same family as `src`. */
  dst: string;
  /** IPv4 TTL / IPv6 hop limit (alias of `hopLimit`). Default 64. */
  ttl?: number;
  /** IPv6 hop limit / IPv4 TTL (alias of `ttl`). Default 64. */
  hopLimit?: number;
  /** IPv4 TOS byte / IPv6 Traffic Class. Default 0. */
  tos?: number;
  /**
   * IPv4 Identification. For IPv6, giving `identification`, `moreFragments` or `fragmentOffset`
   * adds a Fragment header carrying them.
   */
  identification?: number;
  /** IPv4 DF flag (IPv6 has none; an error there). */
  dontFragment?: boolean;
  /** MF / M flag. */
  moreFragments?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragmentOffset?: number;
  /** IPv6 flow label (20 bits). Default 0. */
  flowLabel?: number;
  /** IPv4 option bytes (padded to 4 with End-of-Options). IPv4 only. */
  options?: Uint8Array;
  /** Transport payload (after the transport header); a string is UTF-8 encoded. ICMP: the data. */
  payload?: Uint8Array | string;
}

/**
 * What {@link buildPacket} builds: IP fields plus exactly one transport part: `tcp`, `udp`,
 * `icmp` (ICMPv4, IPv4 only), `icmpv6` (IPv6 only), `gre`, or a raw `protocol` number whose
 * payload is copied as is.
 */
export type PacketSpec = PacketSpecIp &
  (
    | { tcp: TcpRepr }
    | { udp: UdpRepr }
    | { icmp: Icmpv4Repr }
    | { icmpv6: Icmpv6Repr }
    | { gre: GreRepr }
    | { protocol: number }
  );

const encoder = new TextEncoder();

/**
 * Builds one IP packet from `spec`: the IP version follows the address text, the transport
 * checksum uses the pseudo-header of the emitted IP header, and the IPv4 header checksum is
 * filled. With fragment fields the transport header is written at the start of this packet's
 * payload and checksummed over the bytes present (build the whole datagram and split it when
 * the checksum must cover all fragments). Throws `RangeError` for bad addresses, mixed families,
 * a transport that does not fit the family, or out-of-range fields.
 */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const payload =
    spec.payload === undefined
      ? new Uint8Array(0)
      : typeof spec.payload === 'string'
        ? encoder.encode(spec.payload)
        : spec.payload;
  const src4 = parseIpv4(spec.src);
  const dst4 = parseIpv4(spec.dst);
  const v4 = src4 !== null && dst4 !== null;
  if (!v4 && (src4 !== null || dst4 !== null))
    throw new RangeError(`buildPacket: mixed address families ${spec.src} -> ${spec.dst}`);
  if (!v4 && (parseIpv6(spec.src) === null || parseIpv6(spec.dst) === null))
    throw new RangeError(`buildPacket: bad address in ${spec.src} -> ${spec.dst}`);
  if (spec.ttl !== undefined && spec.hopLimit !== undefined && spec.ttl !== spec.hopLimit)
    throw new RangeError('buildPacket: ttl and hopLimit disagree');
  const hop = spec.ttl ?? spec.hopLimit ?? 64;

  let proto: number;
  let l4Len: number;
  let icmpData: Uint8Array | undefined;
  if ('tcp' in spec) {
    proto = IpProtocol.Tcp;
    l4Len = tcpHeaderLen(spec.tcp) + payload.length;
  } else if ('udp' in spec) {
    proto = IpProtocol.Udp;
    l4Len = UDP_HEADER_LEN + payload.length;
  } else if ('icmp' in spec) {
    if (!v4) throw new RangeError('buildPacket: icmp (ICMPv4) needs IPv4 addresses; use icmpv6');
    proto = IpProtocol.Icmp;
    icmpData = icmpDataOf(spec.icmp.data, spec.payload, payload);
    l4Len = icmpv4Len({ ...spec.icmp, data: icmpData });
  } else if ('icmpv6' in spec) {
    if (v4) throw new RangeError('buildPacket: icmpv6 needs IPv6 addresses; use icmp');
    proto = IpProtocol.Icmpv6;
    icmpData = icmpDataOf(spec.icmpv6.data, spec.payload, payload);
    l4Len = icmpv6Len({ ...spec.icmpv6, data: icmpData });
  } else if ('gre' in spec) {
    proto = IpProtocol.Gre;
    l4Len = greHeaderLen(spec.gre) + payload.length;
  } else {
    proto = spec.protocol;
    if (!Number.isInteger(proto) || proto < 0 || proto > 0xff)
      throw new RangeError(`buildPacket: protocol must be 0..255, got ${proto}`);
    l4Len = payload.length;
  }

  let out: Uint8Array;
  let l4Off: number;
  let pseudo: number;
  if (v4) {
    if (spec.flowLabel !== undefined) throw new RangeError('buildPacket: flowLabel is IPv6 only');
    const ip: Ipv4Repr = {
      src: spec.src,
      dst: spec.dst,
      protocol: proto,
      ttl: hop,
      tos: spec.tos ?? 0,
      identification: spec.identification ?? 0,
      dontFragment: spec.dontFragment ?? false,
      moreFragments: spec.moreFragments ?? false,
      fragmentOffset: spec.fragmentOffset ?? 0,
    };
    if (spec.options) ip.options = spec.options;
    l4Off = ipv4HeaderLen(ip);
    out = new Uint8Array(l4Off + l4Len);
    emitIpv4Header(ip, l4Len, out, 0);
    pseudo = pseudoHeaderSum4(out, 0, proto, l4Len);
  } else {
    if (spec.options) throw new RangeError('buildPacket: options are IPv4 only');
    if (spec.dontFragment) throw new RangeError('buildPacket: IPv6 has no DF flag');
    const frag =
      spec.identification !== undefined ||
      spec.moreFragments !== undefined ||
      spec.fragmentOffset !== undefined;
    const extLen = frag ? IPV6_FRAGMENT_HEADER_LEN : 0;
    l4Off = IPV6_HEADER_LEN + extLen;
    out = new Uint8Array(l4Off + l4Len);
    emitIpv6Header(
      {
        src: spec.src,
        dst: spec.dst,
        nextHeader: frag ? IpProtocol.Ipv6Frag : proto,
        hopLimit: hop,
        trafficClass: spec.tos ?? 0,
        flowLabel: spec.flowLabel ?? 0,
      },
      extLen + l4Len,
      out,
      0,
    );
    if (frag)
      emitIpv6FragmentHeader(
        out,
        IPV6_HEADER_LEN,
        proto,
        spec.fragmentOffset ?? 0,
        spec.moreFragments ?? false,
        spec.identification ?? 0,
      );
    pseudo = pseudoHeaderSum6(out, 0, proto, l4Len);
  }

  if ('tcp' in spec) emitTcp(spec.tcp, payload, out, l4Off, pseudo);
  else if ('udp' in spec) emitUdp(spec.udp, payload, out, l4Off, pseudo);
  else if ('icmp' in spec) emitIcmpv4({ ...spec.icmp, data: icmpData }, out, l4Off);
  else if ('icmpv6' in spec) emitIcmpv6({ ...spec.icmpv6, data: icmpData }, out, l4Off, pseudo);
  else if ('gre' in spec) emitGre(spec.gre, payload, out, l4Off);
  else out.set(payload, l4Off);
  return out;
}

function icmpDataOf(
  data: Uint8Array | undefined,
  given: Uint8Array | string | undefined,
  payload: Uint8Array,
): Uint8Array | undefined {
  if (data !== undefined && given !== undefined)
    throw new RangeError('buildPacket: give ICMP data either as icmp.data or as payload, not both');
  return data ?? (given !== undefined ? payload : undefined);
}
