/**
 * The `virtio_net_hdr` that prefixes every packet on a TUN opened with `IFF_VNET_HDR`
 * (include/uapi/linux/virtio_net.h). Ten bytes, little-endian:
 *
 * ```
 *  0      1         2-3       4-5       6-7          8-9
 * +------+---------+---------+---------+------------+-------------+
 * |flags |gso_type | hdr_len |gso_size | csum_start | csum_offset |
 * +------+---------+---------+---------+------------+-------------+
 * ```
 *
 * With offloads on (TUNSETOFFLOAD), the kernel hands over TCP super-packets (up to 64 KiB, one
 * header, `gso_type` TCPV4/TCPV6) whose transport checksum is partial (`NEEDS_CSUM`: the field
 * holds the pseudo-header sum); writing a super-packet with a GSO header lets the kernel
 * segment it. l3kit devices see only whole packets with complete checksums, so the reader
 * completes partial checksums and the writer turns an over-MTU TCP packet into a GSO write.
 */
import { finishChecksum, foldSum, onesSum, pseudoHeaderSum4, pseudoHeaderSum6 } from '@l3kit/wire';

/** Size of `struct virtio_net_hdr` (without `num_buffers`). */
export const VNET_HDR_LEN = 10;

const OFF_FLAGS = 0;
const OFF_GSO_TYPE = 1;
const OFF_HDR_LEN = 2;
const OFF_GSO_SIZE = 4;
const OFF_CSUM_START = 6;
const OFF_CSUM_OFFSET = 8;

/** `flags`: the transport checksum must be completed from `csum_start` on. */
export const VNET_F_NEEDS_CSUM = 1;
/** `gso_type` values. */
export const VnetGso = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, ECN: 0x80 } as const;

const TCP_CHECKSUM_OFFSET = 16;
const UDP_CHECKSUM_OFFSET = 6;
const PROTO_TCP = 6;
const TCP_FLAG_CWR = 0x80;

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function setLe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

/**
 * Completes the partial checksum of the packet `b[pkt .. pkt+len)` described by the vnet header
 * at `b[hdr ..]`, if it asks for it (`NEEDS_CSUM`). Returns false when the header's checksum
 * location lies outside the packet (the packet must then be dropped).
 */
export function completeVnetChecksum(b: Uint8Array, hdr: number, pkt: number, len: number): boolean {
  if ((b[hdr + OFF_FLAGS] & VNET_F_NEEDS_CSUM) === 0) return true;
  const start = le16(b, hdr + OFF_CSUM_START);
  const field = start + le16(b, hdr + OFF_CSUM_OFFSET);
  if (field + 2 > len || start >= len) return false;
  let ck = finishChecksum(onesSum(b, pkt + start, len - start, 0));
  // A UDP checksum that computes to 0 is sent as 0xFFFF (0 means "no checksum").
  if (ck === 0 && field - start === UDP_CHECKSUM_OFFSET) ck = 0xffff;
  b[pkt + field] = ck >>> 8;
  b[pkt + field + 1] = ck & 0xff;
  return true;
}

/** The `gso_type` of the vnet header at `b[hdr]` (without the ECN bit). */
export function vnetGsoType(b: Uint8Array, hdr: number): number {
  return b[hdr + OFF_GSO_TYPE] & 0x7f;
}

/**
 * Fills `hdr` (10 bytes) for writing `pkt` to a vnet TUN whose MTU is `mtu`. A TCP packet longer
 * than the MTU (IPv4 without fragmentation, or IPv6 with TCP right after the fixed header)
 * becomes a GSO write: `hdr` gets TCPV4/TCPV6 with `gso_size = mtu - headers`, and the TCP
 * checksum field of `pkt` is replaced, in place, by the pseudo-header sum the kernel expects
 * (`NEEDS_CSUM`). Returns true for a GSO write, false when `hdr` was zeroed (a plain packet).
 */
export function fillVnetHeader(hdr: Uint8Array, pkt: Uint8Array, mtu: number): boolean {
  hdr.fill(0);
  const len = pkt.length;
  if (len <= mtu || len < 20) return false;
  const version = pkt[0] >>> 4;
  let ipLen: number;
  let gsoType: number;
  let pseudo: number;
  if (version === 4) {
    ipLen = (pkt[0] & 0x0f) * 4;
    if (pkt[9] !== PROTO_TCP || ipLen < 20) return false;
    // MF set or a fragment offset: not a whole segment.
    if ((pkt[6] & 0x3f) !== 0 || pkt[7] !== 0) return false;
    if (((pkt[2] << 8) | pkt[3]) !== len) return false;
    gsoType = VnetGso.TCPV4;
    pseudo = pseudoHeaderSum4(pkt, 0, PROTO_TCP, len - ipLen);
  } else if (version === 6) {
    ipLen = 40;
    if (len < 40 || pkt[6] !== PROTO_TCP) return false;
    if (((pkt[4] << 8) | pkt[5]) !== len - 40) return false;
    gsoType = VnetGso.TCPV6;
    pseudo = pseudoHeaderSum6(pkt, 0, PROTO_TCP, len - ipLen);
  } else {
    return false;
  }
  if (len < ipLen + 20) return false;
  const tcpLen = (pkt[ipLen + 12] >>> 4) * 4;
  if (tcpLen < 20 || ipLen + tcpLen >= len) return false;
  const mss = mtu - ipLen - tcpLen;
  if (mss <= 0) return false;
  if (pkt[ipLen + 13] & TCP_FLAG_CWR) gsoType |= VnetGso.ECN;
  hdr[OFF_FLAGS] = VNET_F_NEEDS_CSUM;
  hdr[OFF_GSO_TYPE] = gsoType;
  setLe16(hdr, OFF_HDR_LEN, ipLen + tcpLen);
  setLe16(hdr, OFF_GSO_SIZE, mss);
  setLe16(hdr, OFF_CSUM_START, ipLen);
  setLe16(hdr, OFF_CSUM_OFFSET, TCP_CHECKSUM_OFFSET);
  const ps = foldSum(pseudo);
  pkt[ipLen + TCP_CHECKSUM_OFFSET] = ps >>> 8;
  pkt[ipLen + TCP_CHECKSUM_OFFSET + 1] = ps & 0xff;
  return true;
}
