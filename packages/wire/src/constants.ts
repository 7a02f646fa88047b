/**
 * Protocol numbers and wire constants, RFC-cited. Numbers are `as const` objects (no TS `enum`),
 * so values the table does not name stay representable as plain numbers.
 */

/** IP protocol / IPv6 next-header numbers (IANA "Assigned Internet Protocol Numbers"). */
export const IpProtocol = {
  /** IPv6 Hop-by-Hop Options (RFC 8200). */
  HopByHop: 0,
  /** ICMP for IPv4 (RFC 792). */
  Icmp: 1,
  /** TCP (RFC 9293). */
  Tcp: 6,
  /** UDP (RFC 768). */
  Udp: 17,
  /** IPv6 Routing header (RFC 8200). */
  Ipv6Route: 43,
  /** IPv6 Fragment header (RFC 8200). */
  Ipv6Frag: 44,
  /** Generic Routing Encapsulation (RFC 2784, RFC 2637 enhanced GRE). */
  Gre: 47,
  /** IPv6 Encapsulating Security Payload (RFC 4303). */
  Esp: 50,
  /** IPv6 Authentication Header (RFC 4302). */
  Ah: 51,
  /** ICMP for IPv6 (RFC 4443). */
  Icmpv6: 58,
  /** IPv6 No Next Header (RFC 8200). */
  Ipv6NoNext: 59,
  /** IPv6 Destination Options (RFC 8200). */
  Ipv6Opts: 60,
} as const;
/** A known IP protocol number, or any other number. */
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol] | (number & {});

/** Short lower-case names for printing (tcpdump style). */
export function ipProtocolName(p: number): string {
  switch (p) {
    case 0:
      return 'hopopts';
    case 1:
      return 'icmp';
    case 6:
      return 'tcp';
    case 17:
      return 'udp';
    case 43:
      return 'routing';
    case 44:
      return 'frag';
    case 47:
      return 'gre';
    case 50:
      return 'esp';
    case 51:
      return 'ah';
    case 58:
      return 'icmp6';
    case 59:
      return 'none';
    case 60:
      return 'dstopts';
    default:
      return `proto-${p}`;
  }
}

/** Largest IP datagram (IPv4 Total Length / IPv6 payload without jumbograms). */
export const MAX_IP_PACKET = 65535;
/** Minimum IPv6 link MTU (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;
/** Minimum IPv4 MTU every host must accept (RFC 791). */
export const IPV4_MIN_MTU = 68;
