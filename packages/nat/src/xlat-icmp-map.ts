/**
 * The ICMP ↔ ICMPv6 type, code and pointer mappings of RFC 7915 §4.2 and §5.2, and the RFC 1191
 * MTU plateau table. Pure functions over numbers, shared by the stateless translator and NAT64.
 */

/** Result of a type/code mapping: `type` is -1 when the message is dropped. */
export interface IcmpMapping {
  type: number;
  code: number;
  /** For Parameter Problem the pointer kind: 'map' (translate the pointer), 'fixed' (use `pointer`). */
  pointer: 'none' | 'map' | 'fixed';
  /** The fixed pointer value when `pointer` is 'fixed'. */
  fixedPointer: number;
}

const DROP: IcmpMapping = Object.freeze({
  type: -1,
  code: 0,
  pointer: 'none',
  fixedPointer: 0,
}) as IcmpMapping;

function m(
  type: number,
  code: number,
  pointer: IcmpMapping['pointer'] = 'none',
  fixedPointer = 0,
): IcmpMapping {
  return Object.freeze({ type, code, pointer, fixedPointer }) as IcmpMapping;
}

// Pre-built results so the mapping functions allocate nothing.
const V6_ECHO_REQUEST = m(128, 0);
const V6_ECHO_REPLY = m(129, 0);
const V6_NO_ROUTE = m(1, 0);
const V6_ADMIN = m(1, 1);
const V6_PORT_UNREACH = m(1, 4);
const V6_PARAM_NEXT_HEADER = m(4, 1, 'fixed', 6);
const V6_PACKET_TOO_BIG = m(2, 0);
const V6_PARAM_HEADER = m(4, 0, 'map');
const V6_TIME_EXCEEDED = [m(3, 0), m(3, 1)];

/**
 * RFC 7915 §4.2: the ICMPv6 type/code for an ICMPv4 type/code, or `type: -1` to drop
 * (timestamps, address masks, router advertisement/solicitation, source quench, redirect,
 * alternative host address, unknown types and codes, parameter problem code 1).
 */
export function mapIcmp4To6(type: number, code: number): IcmpMapping {
  switch (type) {
    case 8:
      return code === 0 ? V6_ECHO_REQUEST : DROP;
    case 0:
      return code === 0 ? V6_ECHO_REPLY : DROP;
    case 3:
      switch (code) {
        case 0: // net unreachable
        case 1: // host unreachable
        case 5: // source route failed
        case 6:
        case 7:
        case 8:
        case 11:
        case 12:
          return V6_NO_ROUTE;
        case 2: // protocol unreachable → parameter problem, unrecognised next header, pointer to Next Header
          return V6_PARAM_NEXT_HEADER;
        case 3:
          return V6_PORT_UNREACH;
        case 4:
          return V6_PACKET_TOO_BIG;
        case 9:
        case 10:
        case 13:
        case 15:
          return V6_ADMIN;
        default: // 14 host precedence violation, unknown
          return DROP;
      }
    case 11:
      return code === 0 || code === 1 ? V6_TIME_EXCEEDED[code] : DROP;
    case 12:
      return code === 0 || code === 2 ? V6_PARAM_HEADER : DROP;
    default:
      return DROP;
  }
}

const V4_ECHO_REQUEST = m(8, 0);
const V4_ECHO_REPLY = m(0, 0);
const V4_HOST_UNREACH = m(3, 1);
const V4_ADMIN_HOST = m(3, 10);
const V4_PORT_UNREACH = m(3, 3);
const V4_FRAG_NEEDED = m(3, 4);
const V4_PROTO_UNREACH = m(3, 2);
const V4_PARAM = m(12, 0, 'map');
const V4_TIME_EXCEEDED = [m(11, 0), m(11, 1)];

/**
 * RFC 7915 §5.2: the ICMPv4 type/code for an ICMPv6 type/code, or `type: -1` to drop (MLD,
 * Neighbor Discovery, other informational messages, unknown codes, parameter problem code 2).
 */
export function mapIcmp6To4(type: number, code: number): IcmpMapping {
  switch (type) {
    case 128:
      return code === 0 ? V4_ECHO_REQUEST : DROP;
    case 129:
      return code === 0 ? V4_ECHO_REPLY : DROP;
    case 1:
      switch (code) {
        case 0: // no route
        case 2: // beyond scope of source address
        case 3: // address unreachable
          return V4_HOST_UNREACH;
        case 1: // administratively prohibited
          return V4_ADMIN_HOST;
        case 4:
          return V4_PORT_UNREACH;
        default:
          return DROP;
      }
    case 2:
      return code === 0 ? V4_FRAG_NEEDED : DROP;
    case 3:
      return code === 0 || code === 1 ? V4_TIME_EXCEEDED[code] : DROP;
    case 4:
      if (code === 0) return V4_PARAM;
      if (code === 1) return V4_PROTO_UNREACH;
      return DROP;
    default:
      return DROP;
  }
}

/**
 * RFC 7915 §4.2 Figure 3: the IPv6 header pointer for an IPv4 header pointer, or -1 when the
 * IPv4 field has no IPv6 counterpart (the message is then dropped).
 */
export function mapPointer4To6(p: number): number {
  if (p === 0 || p === 1) return p; // Version/IHL → Version/Traffic Class; Type of Service → Traffic Class
  if (p === 2 || p === 3) return 4; // Total Length → Payload Length
  if (p === 8) return 7; // TTL → Hop Limit
  if (p === 9) return 6; // Protocol → Next Header
  if (p >= 12 && p <= 15) return 8; // Source Address
  if (p >= 16 && p <= 19) return 24; // Destination Address
  return -1; // Identification, Flags/Fragment Offset, Header Checksum, options
}

/**
 * RFC 7915 §5.2 Figure 6: the IPv4 header pointer for an IPv6 header pointer, or -1 when the
 * IPv6 field has no IPv4 counterpart.
 */
export function mapPointer6To4(p: number): number {
  if (p === 0) return 0; // Version/Traffic Class → Version/IHL, Type of Service
  if (p === 1) return 1; // Traffic Class/Flow Label → Type of Service
  if (p === 4 || p === 5) return 2; // Payload Length → Total Length
  if (p === 6) return 9; // Next Header → Protocol
  if (p === 7) return 8; // Hop Limit → TTL
  if (p >= 8 && p <= 23) return 12; // Source Address
  if (p >= 24 && p <= 39) return 16; // Destination Address
  return -1; // Flow Label (2, 3), beyond the fixed header
}

/** RFC 1191 Table 7-1 MTU plateaus, largest first. */
export const MTU_PLATEAUS: readonly number[] = Object.freeze([
  65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
]);

/** The greatest plateau below `totalLength` (RFC 1191 §5), or 68 when none is. */
export function plateauBelow(totalLength: number): number {
  for (const p of MTU_PLATEAUS) if (p < totalLength) return p;
  return 68;
}
