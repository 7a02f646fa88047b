/**
 * UDP (RFC 768).
 *
 * ```
 *  0      7 8     15 16    23 24    31
 * +--------+--------+--------+--------+
 * |     Source      |   Destination   |
 * |      Port       |      Port       |
 * +--------+--------+--------+--------+
 * |     Length      |    Checksum     |
 * +--------+--------+--------+--------+
 * |          data octets ...
 * +---------------- ...
 * ```
 *
 * The checksum covers a pseudo-header (passed as the running sum `pseudoSum`, from
 * `pseudoHeaderSum4` / `pseudoHeaderSum6`), the header and the data. Over IPv4 a stored checksum
 * of 0 means "none"; a computed checksum of 0 is sent as 0xFFFF (RFC 768). Over IPv6 the
 * checksum is mandatory (RFC 8200 §8.1).
 */
import {
  finishChecksum,
  onesSum,
  readChecksum,
  updateChecksum16,
  updateChecksumBytes,
  writeChecksum,
} from './checksum.js';

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/**
 * A view over a UDP datagram starting at `off` in `buf`. Create with {@link UdpDatagram.checked}
 * or re-point a long-lived view with {@link UdpDatagram.rebind}. The Length field defines the
 * datagram; bytes after it (up to `end`) are ignored.
 *
 * The `…Incremental` setters keep the checksum right (RFC 1624) and respect "0 = no checksum":
 * a stored 0 stays 0, and an updated checksum that comes out as 0 is stored as 0xFFFF.
 */
export class UdpDatagram {
  buf: Uint8Array;
  off: number;

  private constructor(buf: Uint8Array, off: number) {
    this.buf = buf;
    this.off = off;
  }

  /**
   * Validates `buf[off..end)` as a UDP datagram: at least 8 bytes, and 8 ≤ Length ≤ `end - off`.
   * A Length shorter than the available bytes is allowed and defines the payload. Does not
   * verify the checksum.
   */
  static checked(buf: Uint8Array, off = 0, end = buf.length): UdpDatagram | null {
    return UdpDatagram.valid(buf, off, end) ? new UdpDatagram(buf, off) : null;
  }

  /** An unbound view for {@link UdpDatagram.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): UdpDatagram {
    return new UdpDatagram(new Uint8Array(0), 0);
  }

  /** Re-points this view after the same checks as {@link UdpDatagram.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!UdpDatagram.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    if (end > buf.length || off < 0 || end - off < UDP_HEADER_LEN) return false;
    const len = (buf[off + LENGTH] << 8) | buf[off + LENGTH + 1];
    return len >= UDP_HEADER_LEN && len <= end - off;
  }

  get srcPort(): number {
    return (this.buf[this.off + SRC_PORT] << 8) | this.buf[this.off + SRC_PORT + 1];
  }
  get dstPort(): number {
    return (this.buf[this.off + DST_PORT] << 8) | this.buf[this.off + DST_PORT + 1];
  }
  /** The Length field: header + data. */
  get length(): number {
    return (this.buf[this.off + LENGTH] << 8) | this.buf[this.off + LENGTH + 1];
  }
  /** The stored checksum (0 means none over IPv4). */
  get checksum(): number {
    return readChecksum(this.buf, this.off + CHECKSUM);
  }
  /** Offset in `buf` of the data. */
  get payloadOffset(): number {
    return this.off + UDP_HEADER_LEN;
  }
  /** Number of data bytes per Length. */
  get payloadLength(): number {
    return this.length - UDP_HEADER_LEN;
  }
  /** Data bytes per Length (a subarray). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off + UDP_HEADER_LEN, this.off + this.length);
  }
  /** The whole datagram per Length (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.length);
  }

  setSrcPort(v: number): void {
    write16(this.buf, this.off + SRC_PORT, v);
  }
  setDstPort(v: number): void {
    write16(this.buf, this.off + DST_PORT, v);
  }
  /** Sets the Length field (the caller keeps it inside the buffer). */
  setLength(v: number): void {
    write16(this.buf, this.off + LENGTH, v);
  }
  setChecksum(v: number): void {
    writeChecksum(this.buf, this.off + CHECKSUM, v);
  }

  /** Sets the source port; updates a present checksum incrementally. */
  setSrcPortIncremental(v: number): void {
    const old = this.srcPort;
    this.setSrcPort(v);
    const ck = this.checksum;
    if (ck !== 0) this.setChecksum(nonZero(updateChecksum16(ck, old, v & 0xffff)));
  }
  /** Sets the destination port; updates a present checksum incrementally. */
  setDstPortIncremental(v: number): void {
    const old = this.dstPort;
    this.setDstPort(v);
    const ck = this.checksum;
    if (ck !== 0) this.setChecksum(nonZero(updateChecksum16(ck, old, v & 0xffff)));
  }
  /** Updates a present checksum for an IPv4 pseudo-header address change (uint32s). */
  adjustChecksumForAddress4(oldAddr: number, newAddr: number): void {
    const ck = this.checksum;
    if (ck !== 0) {
      // As two 16-bit updates: small integers only, so no uint32 is boxed on the hot path.
      const c1 = updateChecksum16(ck, oldAddr >>> 16, (newAddr >>> 16) & 0xffff);
      this.setChecksum(nonZero(updateChecksum16(c1, oldAddr & 0xffff, newAddr & 0xffff)));
    }
  }
  /**
   * Updates a present checksum for an IPv6 pseudo-header address change: the 16 bytes at
   * `oldB[oldOff..]` replaced by those at `newB[newOff..]`.
   */
  adjustChecksumForAddress6(oldB: Uint8Array, oldOff: number, newB: Uint8Array, newOff: number): void {
    const ck = this.checksum;
    if (ck !== 0) this.setChecksum(nonZero(updateChecksumBytes(ck, oldB, oldOff, newB, newOff, 16)));
  }
  /**
   * Computes the checksum in full over the datagram (per Length) from `pseudoSum`; a result of 0
   * is stored as 0xFFFF.
   */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0);
    this.setChecksum(nonZero(finishChecksum(onesSum(this.buf, this.off, this.length, pseudoSum))));
  }
  /**
   * Whether the checksum is acceptable: a stored 0 is acceptable over IPv4 ("none") and not over
   * IPv6; otherwise the sum with `pseudoSum` must verify.
   */
  verifyChecksum(pseudoSum: number, isIpv6: boolean): boolean {
    if (this.checksum === 0) return !isIpv6;
    return finishChecksum(onesSum(this.buf, this.off, this.length, pseudoSum)) === 0;
  }
}

/** A plain description of a UDP header, for building datagrams. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** `'compute'` (default) or `'none'` (stores 0; only legal over IPv4, or RFC 6935 tunnels). */
  checksum?: 'compute' | 'none';
}

/** Reads a validated datagram into a {@link UdpRepr}. */
export function parseUdpRepr(d: UdpDatagram): UdpRepr {
  return { srcPort: d.srcPort, dstPort: d.dstPort, checksum: d.checksum === 0 ? 'none' : 'compute' };
}

/** Length of the datagram {@link emitUdp} writes for a payload of `payloadLen` bytes. */
export function udpLen(payloadLen: number): number {
  return UDP_HEADER_LEN + payloadLen;
}

/**
 * Writes the header for `repr` followed by `payload` at `buf[off..]`, with the checksum computed
 * from `pseudoSum` (pseudo-header running sum for a UDP length of 8 + payload) unless
 * `repr.checksum` is `'none'`. Returns the datagram length. Throws `RangeError` for a port out of range, a
 * datagram over 65535 bytes, or `buf` is too small.
 */
export function emitUdp(
  repr: UdpRepr,
  payload: Uint8Array,
  buf: Uint8Array,
  off: number,
  pseudoSum: number,
): number {
  const len = UDP_HEADER_LEN + payload.length;
  if (len > 0xffff) throw new RangeError(`UDP datagram too long: ${len} bytes`);
  if (off < 0 || off + len > buf.length) throw new RangeError('buffer too small for the UDP datagram');
  write16(buf, off + SRC_PORT, u('srcPort', repr.srcPort));
  write16(buf, off + DST_PORT, u('dstPort', repr.dstPort));
  write16(buf, off + LENGTH, len);
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  buf.set(payload, off + UDP_HEADER_LEN);
  if (repr.checksum !== 'none')
    writeChecksum(buf, off + CHECKSUM, nonZero(finishChecksum(onesSum(buf, off, len, pseudoSum))));
  return len;
}

function u(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff)
    throw new RangeError(`UDP ${name} must be 0..65535, got ${v}`);
  return v;
}

function nonZero(ck: number): number {
  return ck === 0 ? 0xffff : ck;
}

function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
