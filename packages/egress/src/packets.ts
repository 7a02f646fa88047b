/**
 * Packet surgery for the egress device: the address/port translation between a tenant and the
 * device's internal stack (incremental checksums, RFC 1624), and the packets the device
 * originates itself — RST, ICMP errors, echo replies, UDP datagrams. IPv4 only.
 */
import {
  buildIcmpv4Error,
  buildPacket,
  emitIpv4Header,
  emitUdp,
  formatIpv4,
  IpProtocol,
  pseudoHeaderSum4,
  readChecksum,
  TcpFlags,
  UDP_HEADER_LEN,
  updateChecksum16,
  updateChecksumBytes,
  writeChecksum,
} from '@l3kit/wire';

const IP_CK = 10;
const IP_SRC = 12;
const IP_DST = 16;
const TCP_CK = 16;
const UDP_CK = 6;

function read16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

/**
 * In place: rewrites the IPv4 addresses and the transport ports of a TCP (`l4Ck` = 16) or UDP
 * (`l4Ck` = 6) packet whose transport header starts at `l4`, updating the IP header checksum
 * and the transport checksum (pseudo-header included) incrementally. Addresses are given as
 * 16-bit halves so no uint32 above 2^31 is passed around (V8 would box it). A UDP checksum of 0
 * ("none") stays 0.
 */
export function rewriteFlow(
  b: Uint8Array,
  l4: number,
  l4Ck: number,
  srcHi: number,
  srcLo: number,
  srcPort: number,
  dstHi: number,
  dstLo: number,
  dstPort: number,
): void {
  const oSH = read16(b, IP_SRC);
  const oSL = read16(b, IP_SRC + 2);
  const oDH = read16(b, IP_DST);
  const oDL = read16(b, IP_DST + 2);
  let ip = readChecksum(b, IP_CK);
  ip = updateChecksum16(ip, oSH, srcHi);
  ip = updateChecksum16(ip, oSL, srcLo);
  ip = updateChecksum16(ip, oDH, dstHi);
  ip = updateChecksum16(ip, oDL, dstLo);
  writeChecksum(b, IP_CK, ip);
  write16(b, IP_SRC, srcHi);
  write16(b, IP_SRC + 2, srcLo);
  write16(b, IP_DST, dstHi);
  write16(b, IP_DST + 2, dstLo);
  const ckOff = l4 + l4Ck;
  const oSp = read16(b, l4);
  const oDp = read16(b, l4 + 2);
  write16(b, l4, srcPort);
  write16(b, l4 + 2, dstPort);
  let ck = readChecksum(b, ckOff);
  if (l4Ck === UDP_CK && ck === 0) return;
  ck = updateChecksum16(ck, oSH, srcHi);
  ck = updateChecksum16(ck, oSL, srcLo);
  ck = updateChecksum16(ck, oDH, dstHi);
  ck = updateChecksum16(ck, oDL, dstLo);
  ck = updateChecksum16(ck, oSp, srcPort);
  ck = updateChecksum16(ck, oDp, dstPort);
  if (l4Ck === UDP_CK && ck === 0) ck = 0xffff;
  writeChecksum(b, ckOff, ck);
}

/**
 * IPv6 version of {@link rewriteFlow}: new 16-byte addresses (`src`, `dst`) and ports for the
 * transport header at `l4`, transport checksum updated incrementally (IPv6 has no header
 * checksum).
 */
export function rewriteFlow6(
  b: Uint8Array,
  l4: number,
  l4Ck: number,
  src: Uint8Array,
  srcPort: number,
  dst: Uint8Array,
  dstPort: number,
): void {
  const ckOff = l4 + l4Ck;
  let ck = readChecksum(b, ckOff);
  ck = updateChecksumBytes(ck, b, 8, src, 0, 16);
  ck = updateChecksumBytes(ck, b, 24, dst, 0, 16);
  ck = updateChecksum16(ck, read16(b, l4), srcPort);
  ck = updateChecksum16(ck, read16(b, l4 + 2), dstPort);
  if (l4Ck === UDP_CK && ck === 0) ck = 0xffff;
  b.set(src, 8);
  b.set(dst, 24);
  write16(b, l4, srcPort);
  write16(b, l4 + 2, dstPort);
  writeChecksum(b, ckOff, ck);
}

/**
 * The ICMPv6 echo reply to an echo request (`pkt`, ICMPv6 header at `l4`, packet `total` bytes
 * long), as a new packet: addresses swapped, hop limit 64, type 129, checksum updated.
 */
export function buildEchoReply6(pkt: Uint8Array, l4: number, total: number): Uint8Array {
  const out = pkt.slice(0, total);
  out.set(pkt.subarray(24, 40), 8);
  out.set(pkt.subarray(8, 24), 24);
  out[7] = 64;
  const oldTypeCode = read16(out, l4);
  out[l4] = 129;
  writeChecksum(out, l4 + 2, updateChecksum16(readChecksum(out, l4 + 2), oldTypeCode, read16(out, l4)));
  return out;
}

/** The TCP checksum field offset within the TCP header. */
export const TCP_CHECKSUM_OFFSET = TCP_CK;
/** The UDP checksum field offset within the UDP header. */
export const UDP_CHECKSUM_OFFSET = UDP_CK;

/**
 * The RST a closed port sends in answer to `seg` (RFC 9293 §3.10.7.1), from the segment's
 * destination to its source (IPv4 or IPv6 text): for a segment with ACK, `<SEQ=SEG.ACK><CTL=RST>`; otherwise
 * `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
 */
export function buildRstFor(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  segLen: number,
): Uint8Array {
  const hasAck = (flags & TcpFlags.ACK) !== 0;
  const consumed = segLen + (flags & TcpFlags.SYN ? 1 : 0) + (flags & TcpFlags.FIN ? 1 : 0);
  return buildPacket({
    src: dst,
    dst: src,
    tcp: hasAck
      ? { srcPort: dstPort, dstPort: srcPort, seq: ack, flags: TcpFlags.RST, window: 0 }
      : {
          srcPort: dstPort,
          dstPort: srcPort,
          seq: 0,
          ack: (seq + consumed) >>> 0,
          flags: TcpFlags.RST | TcpFlags.ACK,
          window: 0,
        },
  });
}

/** ICMP destination unreachable (type 3, `code`) about `original`, sent from `from`. `null` when none may be sent. */
export function buildUnreachable(original: Uint8Array, from: number, code: number): Uint8Array | null {
  return buildIcmpv4Error(original, { src: formatIpv4(from), type: 3, code });
}

/**
 * The echo reply to an ICMP echo request (`pkt`, IPv4 header of `hl` bytes, total `total`
 * bytes), as a new packet: addresses swapped, TTL 64, type 0, checksums updated.
 */
export function buildEchoReply(pkt: Uint8Array, hl: number, total: number): Uint8Array {
  const out = pkt.slice(0, total);
  // Swapping the addresses leaves both checksums unchanged (a one's-complement sum is commutative).
  out.copyWithin(IP_SRC, 16, 20);
  out.set(pkt.subarray(IP_SRC, IP_SRC + 4), IP_DST);
  const oldTtlProto = read16(out, 8);
  out[8] = 64;
  writeChecksum(out, IP_CK, updateChecksum16(readChecksum(out, IP_CK), oldTtlProto, read16(out, 8)));
  const oldTypeCode = read16(out, hl);
  out[hl] = 0;
  writeChecksum(out, hl + 2, updateChecksum16(readChecksum(out, hl + 2), oldTypeCode, read16(out, hl)));
  return out;
}

/** A whole IPv4/UDP packet from `src:srcPort` to `dst:dstPort` carrying `payload` (checksum computed). */
export function buildUdp4(
  src: number,
  srcPort: number,
  dst: number,
  dstPort: number,
  payload: Uint8Array,
  id: number,
): Uint8Array {
  const l4Len = UDP_HEADER_LEN + payload.length;
  const out = new Uint8Array(20 + l4Len);
  emitIpv4Header(
    { src: formatIpv4(src), dst: formatIpv4(dst), protocol: IpProtocol.Udp, identification: id & 0xffff },
    l4Len,
    out,
    0,
  );
  emitUdp({ srcPort, dstPort }, payload, out, 20, pseudoHeaderSum4(out, 0, IpProtocol.Udp, l4Len));
  return out;
}
