/**
 * ICMPv4 pieces of the NAT (RFC 5508): building the errors the NAT itself sends and rewriting
 * the packet embedded in an ICMP error in place, with every checksum fixed incrementally
 * (embedded IP header, embedded transport checksum when the quoted bytes hold it, outer ICMP).
 */
import {
  buildIcmpv4Error,
  foldSum,
  formatIpv4,
  onesSum,
  readIpv4,
  updateChecksum16,
  updateChecksum32,
  writeIpv4,
} from '@l3kit/wire';

/** ICMP types the NAT handles. */
export const IcmpType = {
  echoReply: 0,
  destUnreachable: 3,
  sourceQuench: 4,
  redirect: 5,
  echoRequest: 8,
  timeExceeded: 11,
  parameterProblem: 12,
} as const;

/** Whether an ICMP type is an error the NAT translates (3, 11, 12). */
export function isTranslatedIcmpError(type: number): boolean {
  return type === 3 || type === 11 || type === 12;
}

let ipIdent = 1;

/**
 * Builds an ICMP error `type`/`code` from the NAT's address `src` to the sender of `orig`, with
 * `buildIcmpv4Error` of `@l3kit/wire` (quote within 576 bytes, RFC 1812 §4.3.2.3; `null` when
 * the original must not be answered). `mtu` is the next-hop MTU of a 3/4. The NAT numbers the
 * IP IDs of the errors it sends. `origTotal` is the original's Total Length (bytes beyond it are
 * not quoted).
 */
export function buildIcmpError(
  orig: Uint8Array,
  origTotal: number,
  src: number,
  type: number,
  code: number,
  mtu = 0,
): Uint8Array | null {
  const id = ipIdent;
  ipIdent = (ipIdent + 1) & 0xffff;
  return buildIcmpv4Error(orig.length > origTotal ? orig.subarray(0, origTotal) : orig, {
    src: formatIpv4(src >>> 0),
    type,
    code,
    mtu: type === 3 && code === 4 ? mtu : undefined,
    identification: id,
  });
}

/** Parsed position of the packet quoted in an ICMP error (filled by {@link parseEmbedded}). */
export interface EmbeddedInfo {
  /** Offset of the embedded IPv4 header. */
  ipOff: number;
  /** Embedded header length. */
  hl: number;
  /** Embedded protocol. */
  proto: number;
  /** Offset of the embedded transport header. */
  l4Off: number;
  /** End of the quoted bytes (end of the outer ICMP message). */
  end: number;
}

/**
 * Locates the packet quoted by the ICMP error whose ICMP header is at `icmpOff` (message ends at
 * `end`). Requires a whole embedded IPv4 header (options skipped by IHL) with a valid header
 * checksum and the first 8 bytes of its transport header (ports, or the echo identifier).
 * Returns false when malformed.
 */
export function parseEmbedded(pkt: Uint8Array, icmpOff: number, end: number, out: EmbeddedInfo): boolean {
  const ipOff = icmpOff + 8;
  if (ipOff + 20 > end) return false;
  const vihl = pkt[ipOff];
  if (vihl >> 4 !== 4) return false;
  const hl = (vihl & 0x0f) << 2;
  if (hl < 20 || ipOff + hl + 8 > end) return false;
  // The quoted header must verify, or the translated error would carry a broken checksum.
  if (foldSum(onesSum(pkt, ipOff, hl, 0)) !== 0xffff) return false;
  out.ipOff = ipOff;
  out.hl = hl;
  out.proto = pkt[ipOff + 9];
  out.l4Off = ipOff + hl;
  out.end = end;
  return true;
}

/**
 * Rewrites, in the embedded packet, the source (`which` 12) or destination (`which` 16) address to
 * `newIp` and the matching port (or the echo identifier) to `newPort`, fixing the embedded IP
 * header checksum, the embedded transport checksum when quoted, and the outer ICMP checksum at
 * `icmpOff + 2`.
 */
export function rewriteEmbedded(
  pkt: Uint8Array,
  icmpOff: number,
  e: EmbeddedInfo,
  which: 12 | 16,
  newIp: number,
  newPort: number,
): void {
  let icmpCk = (pkt[icmpOff + 2] << 8) | pkt[icmpOff + 3];
  const ipOff = e.ipOff;
  // embedded address + embedded IP checksum
  const oldIp = readIpv4(pkt, ipOff + which);
  writeIpv4(pkt, ipOff + which, newIp);
  icmpCk = updateChecksum32(icmpCk, oldIp, newIp);
  const oldIpCk = (pkt[ipOff + 10] << 8) | pkt[ipOff + 11];
  const newIpCk = updateChecksum32(oldIpCk, oldIp, newIp);
  pkt[ipOff + 10] = newIpCk >>> 8;
  pkt[ipOff + 11] = newIpCk & 0xff;
  icmpCk = updateChecksum16(icmpCk, oldIpCk, newIpCk);
  const l4 = e.l4Off;
  if (e.proto === 6 || e.proto === 17) {
    const portOff = l4 + (which === 12 ? 0 : 2);
    const oldPort = (pkt[portOff] << 8) | pkt[portOff + 1];
    pkt[portOff] = newPort >>> 8;
    pkt[portOff + 1] = newPort & 0xff;
    icmpCk = updateChecksum16(icmpCk, oldPort, newPort);
    const ckOff = e.proto === 6 ? l4 + 16 : l4 + 6;
    if (ckOff + 2 <= e.end) {
      const old = (pkt[ckOff] << 8) | pkt[ckOff + 1];
      if (!(e.proto === 17 && old === 0)) {
        let nw = updateChecksum16(updateChecksum32(old, oldIp, newIp), oldPort, newPort);
        if (e.proto === 17 && nw === 0) nw = 0xffff;
        pkt[ckOff] = nw >>> 8;
        pkt[ckOff + 1] = nw & 0xff;
        icmpCk = updateChecksum16(icmpCk, old, nw);
      }
    }
  } else if (e.proto === 1) {
    // Quoted echo request / reply: the identifier plays the port.
    const idOff = l4 + 4;
    const oldId = (pkt[idOff] << 8) | pkt[idOff + 1];
    pkt[idOff] = newPort >>> 8;
    pkt[idOff + 1] = newPort & 0xff;
    icmpCk = updateChecksum16(icmpCk, oldId, newPort);
    const old = (pkt[l4 + 2] << 8) | pkt[l4 + 3];
    const nw = updateChecksum16(old, oldId, newPort);
    pkt[l4 + 2] = nw >>> 8;
    pkt[l4 + 3] = nw & 0xff;
    icmpCk = updateChecksum16(icmpCk, old, nw);
  } else if (e.proto === 47) {
    // Quoted enhanced GRE: the call ID (no GRE checksum in version 1).
    const idOff = l4 + 6;
    if (which === 16 && idOff + 2 <= e.end) {
      const oldId = (pkt[idOff] << 8) | pkt[idOff + 1];
      pkt[idOff] = newPort >>> 8;
      pkt[idOff + 1] = newPort & 0xff;
      icmpCk = updateChecksum16(icmpCk, oldId, newPort);
    }
  }
  pkt[icmpOff + 2] = icmpCk >>> 8;
  pkt[icmpOff + 3] = icmpCk & 0xff;
}
