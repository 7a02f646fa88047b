/**
 * TCP (RFC 9293), with the options of RFC 7323 (window scale, timestamps) and RFC 2018 (SACK).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * |       |       |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           [Options]                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * The checksum covers a pseudo-header (addresses, protocol, TCP length), the header and the data.
 * Functions here take that pseudo-header as a running sum (`pseudoSum`, from
 * `pseudoHeaderSum4` / `pseudoHeaderSum6` in the checksum module) so they serve both families.
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
const SEQ = 4;
const ACK = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

/** Length of a TCP header without options. */
export const TCP_MIN_HEADER_LEN = 20;
/** Largest TCP header (data offset 15). */
export const TCP_MAX_HEADER_LEN = 60;

/** TCP option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  /** End of Option List (RFC 9293). */
  End: 0,
  /** No-Operation (RFC 9293). */
  Nop: 1,
  /** Maximum Segment Size (RFC 9293), length 4. */
  Mss: 2,
  /** Window Scale (RFC 7323), length 3. */
  WindowScale: 3,
  /** SACK Permitted (RFC 2018), length 2. */
  SackPermitted: 4,
  /** SACK (RFC 2018), length 2 + 8 × blocks. */
  Sack: 5,
  /** Timestamps (RFC 7323), length 10. */
  Timestamp: 8,
} as const;
/** A known TCP option kind, or any other number. */
export type TcpOptionKind = (typeof TcpOptionKind)[keyof typeof TcpOptionKind] | (number & {});

/** TCP header flag bits (byte 13 of the header). */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  /** ECN-Echo (RFC 3168). */
  ECE: 0x40,
  /** Congestion Window Reduced (RFC 3168). */
  CWR: 0x80,
} as const;
/** A combination of {@link TcpFlags} bits. */
export type TcpFlags = number;

/**
 * A view over a TCP segment: the header starts at `off` and the segment (header + data) ends at
 * `end` (TCP has no length field; the IP layer gives the end). Create with
 * {@link TcpSegment.checked} or re-point a long-lived view with {@link TcpSegment.rebind}.
 * Accessors trust the validated lengths. Plain setters change bytes only; the `…Incremental`
 * setters also update the checksum (RFC 1624), and {@link TcpSegment.fillChecksum} recomputes it.
 */
export class TcpSegment {
  buf: Uint8Array;
  off: number;
  end: number;

  private constructor(buf: Uint8Array, off: number, end: number) {
    this.buf = buf;
    this.off = off;
    this.end = end;
  }

  /**
   * Validates `buf[off..end)` as a TCP segment: at least 20 bytes, data offset ≥ 5 and the
   * header (with options) inside the segment. Does not look into the options (see
   * {@link TcpOptions.parse}) nor verify the checksum.
   */
  static checked(buf: Uint8Array, off = 0, end = buf.length): TcpSegment | null {
    return TcpSegment.valid(buf, off, end) ? new TcpSegment(buf, off, end) : null;
  }

  /** An unbound view for {@link TcpSegment.rebind}; accessors are invalid until a rebind succeeds. */
  static empty(): TcpSegment {
    return new TcpSegment(new Uint8Array(0), 0, 0);
  }

  /** Re-points this view after the same checks as {@link TcpSegment.checked}; no allocation. */
  rebind(buf: Uint8Array, off = 0, end = buf.length): boolean {
    if (!TcpSegment.valid(buf, off, end)) return false;
    this.buf = buf;
    this.off = off;
    this.end = end;
    return true;
  }

  private static valid(buf: Uint8Array, off: number, end: number): boolean {
    if (end > buf.length || off < 0 || end - off < TCP_MIN_HEADER_LEN) return false;
    const hl = (buf[off + DATA_OFF] >> 4) << 2;
    return hl >= TCP_MIN_HEADER_LEN && hl <= end - off;
  }

  get srcPort(): number {
    return (this.buf[this.off + SRC_PORT] << 8) | this.buf[this.off + SRC_PORT + 1];
  }
  get dstPort(): number {
    return (this.buf[this.off + DST_PORT] << 8) | this.buf[this.off + DST_PORT + 1];
  }
  /** Sequence number (uint32). */
  get seq(): number {
    return readU32(this.buf, this.off + SEQ);
  }
  /** Acknowledgment number (uint32; meaningful when ACK is set). */
  get ack(): number {
    return readU32(this.buf, this.off + ACK);
  }
  /** Header length in bytes (data offset × 4). */
  get headerLen(): number {
    return (this.buf[this.off + DATA_OFF] >> 4) << 2;
  }
  /** The flag byte ({@link TcpFlags} bits). */
  get flags(): number {
    return this.buf[this.off + FLAGS];
  }
  get window(): number {
    return (this.buf[this.off + WINDOW] << 8) | this.buf[this.off + WINDOW + 1];
  }
  get checksum(): number {
    return readChecksum(this.buf, this.off + CHECKSUM);
  }
  get urgentPointer(): number {
    return (this.buf[this.off + URGENT] << 8) | this.buf[this.off + URGENT + 1];
  }
  /** Segment length: header + data. */
  get length(): number {
    return this.end - this.off;
  }
  /** Offset in `buf` of the first option byte (equal to {@link TcpSegment.payloadOffset} when none). */
  get optionsOffset(): number {
    return this.off + TCP_MIN_HEADER_LEN;
  }
  /** Offset in `buf` of the data. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  /** Number of data bytes. */
  get payloadLength(): number {
    return this.end - this.off - this.headerLen;
  }
  /** Option bytes (a subarray; not for hot paths). */
  options(): Uint8Array {
    return this.buf.subarray(this.off + TCP_MIN_HEADER_LEN, this.off + this.headerLen);
  }
  /** Data bytes (a subarray). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off + this.headerLen, this.end);
  }
  /** The whole segment (a subarray). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.off, this.end);
  }
  /** Whether the flag bits in `mask` are all set. */
  hasFlags(mask: number): boolean {
    return (this.buf[this.off + FLAGS] & mask) === mask;
  }

  setSrcPort(v: number): void {
    write16(this.buf, this.off + SRC_PORT, v);
  }
  setDstPort(v: number): void {
    write16(this.buf, this.off + DST_PORT, v);
  }
  setSeq(v: number): void {
    write32(this.buf, this.off + SEQ, v);
  }
  setAck(v: number): void {
    write32(this.buf, this.off + ACK, v);
  }
  /** Sets the flag byte (the data offset is kept). */
  setFlags(v: number): void {
    this.buf[this.off + FLAGS] = v;
  }
  setWindow(v: number): void {
    write16(this.buf, this.off + WINDOW, v);
  }
  setChecksum(v: number): void {
    writeChecksum(this.buf, this.off + CHECKSUM, v);
  }
  setUrgentPointer(v: number): void {
    write16(this.buf, this.off + URGENT, v);
  }

  /** Sets the source port and updates the checksum incrementally (RFC 1624). */
  setSrcPortIncremental(v: number): void {
    this.inc16(SRC_PORT, v);
  }
  /** Sets the destination port and updates the checksum incrementally. */
  setDstPortIncremental(v: number): void {
    this.inc16(DST_PORT, v);
  }
  /** Sets the sequence number and updates the checksum incrementally. */
  setSeqIncremental(v: number): void {
    this.inc32(SEQ, v);
  }
  /** Sets the acknowledgment number and updates the checksum incrementally. */
  setAckIncremental(v: number): void {
    this.inc32(ACK, v);
  }
  /** Sets the flag byte and updates the checksum incrementally. */
  setFlagsIncremental(v: number): void {
    const o = this.off + DATA_OFF;
    const old = (this.buf[o] << 8) | this.buf[o + 1];
    this.buf[o + 1] = v;
    this.setChecksum(updateChecksum16(this.checksum, old, (this.buf[o] << 8) | (v & 0xff)));
  }
  /** Sets the window and updates the checksum incrementally. */
  setWindowIncremental(v: number): void {
    this.inc16(WINDOW, v);
  }
  /**
   * Writes the uint16 `v` at absolute offset `at` inside this segment (e.g. the MSS value at
   * {@link TcpOptions.mssOffset}, for MSS clamping) and updates the checksum incrementally.
   * Works for any alignment relative to the segment start.
   */
  setUint16Incremental(at: number, v: number): void {
    const b = this.buf;
    if (((at - this.off) & 1) === 0) {
      const old = (b[at] << 8) | b[at + 1];
      write16(b, at, v);
      this.setChecksum(updateChecksum16(this.checksum, old, v & 0xffff));
      return;
    }
    // Odd alignment: the two bytes straddle two 16-bit words (the second padded when at + 2 = end).
    const tail = at + 2 < this.end ? b[at + 2] : 0;
    const o0 = (b[at - 1] << 8) | b[at];
    const o1 = (b[at + 1] << 8) | tail;
    write16(b, at, v);
    const hc = updateChecksum16(this.checksum, o0, (b[at - 1] << 8) | b[at]);
    this.setChecksum(updateChecksum16(hc, o1, (b[at + 1] << 8) | tail));
  }
  /**
   * Writes the uint32 `v` at absolute offset `at` inside this segment's header or data (e.g. a
   * SACK edge at {@link TcpOptions.sackBlocksOffset}) and updates the checksum incrementally.
   * Works for any alignment relative to the segment start.
   */
  setUint32Incremental(at: number, v: number): void {
    const b = this.buf;
    const rel = at - this.off;
    if ((rel & 1) === 0) {
      const oldHi = (b[at] << 8) | b[at + 1];
      const oldLo = (b[at + 2] << 8) | b[at + 3];
      write32(b, at, v);
      this.setChecksum(update32(this.checksum, oldHi, oldLo, v));
      return;
    }
    // Odd alignment: the four bytes straddle three 16-bit words of the checksummed stream.
    // The word after them exists only when `at + 4 < end` (else it is zero padding).
    const w0 = at - 1;
    const w2 = at + 3;
    const tail = w2 + 1 < this.end ? b[w2 + 1] : 0;
    const o0 = (b[w0] << 8) | b[at];
    const o1 = (b[at + 1] << 8) | b[at + 2];
    const o2 = (b[w2] << 8) | tail;
    write32(b, at, v);
    const hc = updateChecksum16(
      updateChecksum16(
        updateChecksum16(this.checksum, o0, (b[w0] << 8) | b[at]),
        o1,
        (b[at + 1] << 8) | b[at + 2],
      ),
      o2,
      (b[w2] << 8) | tail,
    );
    this.setChecksum(hc);
  }
  /**
   * Updates the checksum for an IPv4 pseudo-header address change from `oldAddr` to `newAddr`
   * (uint32s), e.g. after a NAT rewrote the IP source. The TCP bytes themselves do not change.
   */
  adjustChecksumForAddress4(oldAddr: number, newAddr: number): void {
    this.setChecksum(update32(this.checksum, oldAddr >>> 16, oldAddr & 0xffff, newAddr));
  }
  /**
   * Updates the checksum for an IPv6 pseudo-header address change: the 16 bytes at
   * `oldB[oldOff..]` replaced by those at `newB[newOff..]`.
   */
  adjustChecksumForAddress6(oldB: Uint8Array, oldOff: number, newB: Uint8Array, newOff: number): void {
    this.setChecksum(updateChecksumBytes(this.checksum, oldB, oldOff, newB, newOff, 16));
  }
  /** Recomputes the checksum in full over the segment, starting from `pseudoSum`. */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0);
    this.setChecksum(finishChecksum(onesSum(this.buf, this.off, this.end - this.off, pseudoSum)));
  }
  /** Whether the stored checksum is correct for the pseudo-header running sum `pseudoSum`. */
  verifyChecksum(pseudoSum: number): boolean {
    return finishChecksum(onesSum(this.buf, this.off, this.end - this.off, pseudoSum)) === 0;
  }

  private inc16(field: number, v: number): void {
    const o = this.off + field;
    const old = (this.buf[o] << 8) | this.buf[o + 1];
    write16(this.buf, o, v);
    this.setChecksum(updateChecksum16(this.checksum, old, v & 0xffff));
  }
  private inc32(field: number, v: number): void {
    const b = this.buf;
    const o = this.off + field;
    const oldHi = (b[o] << 8) | b[o + 1];
    const oldLo = (b[o + 2] << 8) | b[o + 3];
    write32(b, o, v);
    this.setChecksum(update32(this.checksum, oldHi, oldLo, v));
  }
}

/**
 * A reusable, allocation-free parse of a segment's options. Create one per long-lived context
 * and call {@link TcpOptions.parse} per segment; the fields then describe that segment.
 * Offsets are absolute offsets into the segment's buffer, so a NAT can rewrite values in place
 * (use {@link TcpSegment.setUint32Incremental} to keep the checksum right).
 */
export class TcpOptions {
  /** Maximum segment size, or -1 when absent. */
  mss = -1;
  /** Offset of the MSS value (2 bytes; rewrite with {@link TcpSegment.setUint16Incremental}), or -1. */
  mssOffset = -1;
  /** Window scale shift count, or -1 when absent. */
  windowScale = -1;
  /** Whether SACK-permitted is present. */
  sackPermitted = false;
  /** Whether the timestamps option is present. */
  timestamp = false;
  /** TSval (uint32) when {@link TcpOptions.timestamp}. */
  tsVal = 0;
  /** TSecr (uint32) when {@link TcpOptions.timestamp}. */
  tsEcr = 0;
  /** Offset of TSval (TSecr follows at +4), or -1. */
  timestampOffset = -1;
  /** Number of SACK blocks (0..4). */
  sackBlockCount = 0;
  /** SACK blocks as left/right edge pairs: `[l0, r0, l1, r1, …]`; valid up to `2 × sackBlockCount`. */
  readonly sackBlocks = new Uint32Array(8);
  /** Offset of the first SACK block's left edge (blocks are 8 bytes each), or -1. */
  sackBlocksOffset = -1;
  /** Whether an option of a kind not listed above was seen. */
  unknown = false;

  /**
   * Parses the options of `seg`. Returns false for malformed options (a length below 2, an
   * option running past the header, or a known option with the wrong length); the fields then
   * hold what was read before the problem. End-of-list stops the parse.
   */
  parse(seg: TcpSegment): boolean {
    return this.parseRange(seg.buf, seg.off + TCP_MIN_HEADER_LEN, seg.off + seg.headerLen);
  }

  /**
   * Parses option bytes `buf[start..end)` (see {@link TcpOptions.parse}). Returns false for a
   * range outside `buf`.
   */
  parseRange(buf: Uint8Array, start: number, end: number): boolean {
    this.reset();
    if (start < 0 || end > buf.length) return false;
    let i = start;
    while (i < end) {
      const kind = buf[i];
      if (kind === TcpOptionKind.End) return true;
      if (kind === TcpOptionKind.Nop) {
        i++;
        continue;
      }
      if (i + 1 >= end) return false;
      const len = buf[i + 1];
      if (len < 2 || i + len > end) return false;
      switch (kind) {
        case TcpOptionKind.Mss:
          if (len !== 4) return false;
          this.mss = (buf[i + 2] << 8) | buf[i + 3];
          this.mssOffset = i + 2;
          break;
        case TcpOptionKind.WindowScale:
          if (len !== 3) return false;
          this.windowScale = buf[i + 2];
          break;
        case TcpOptionKind.SackPermitted:
          if (len !== 2) return false;
          this.sackPermitted = true;
          break;
        case TcpOptionKind.Sack: {
          const n = (len - 2) >> 3;
          if (n < 1 || n > 4 || (len - 2) & 7) return false;
          this.sackBlockCount = n;
          this.sackBlocksOffset = i + 2;
          for (let k = 0; k < 2 * n; k++) this.sackBlocks[k] = readU32(buf, i + 2 + 4 * k);
          break;
        }
        case TcpOptionKind.Timestamp:
          if (len !== 10) return false;
          this.timestamp = true;
          this.tsVal = readU32(buf, i + 2);
          this.tsEcr = readU32(buf, i + 6);
          this.timestampOffset = i + 2;
          break;
        default:
          this.unknown = true;
      }
      i += len;
    }
    return true;
  }

  private reset(): void {
    this.mss = -1;
    this.mssOffset = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.timestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.timestampOffset = -1;
    this.sackBlockCount = 0;
    this.sackBlocksOffset = -1;
    this.unknown = false;
  }
}

/**
 * Absolute offset in `seg.buf` of the first option of `kind` (its kind byte), or -1 when absent
 * or when the options are malformed before it. No allocation.
 */
export function tcpOptionOffset(seg: TcpSegment, kind: number): number {
  const b = seg.buf;
  const end = seg.off + seg.headerLen;
  let i = seg.off + TCP_MIN_HEADER_LEN;
  while (i < end) {
    const k = b[i];
    if (k === TcpOptionKind.End) return -1;
    if (k === kind) return i;
    if (k === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const len = b[i + 1];
    if (len < 2 || i + len > end) return -1;
    i += len;
  }
  return -1;
}

/** A plain description of a TCP header, for building segments (tests, RSTs, NAT64 rebuilds). */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  /** Default 0. */
  seq?: number;
  /** Default 0. */
  ack?: number;
  /** {@link TcpFlags} bits. */
  flags: number;
  /** Default 65535. */
  window?: number;
  /** Default 0. */
  urgentPointer?: number;
  /** MSS option value. */
  mss?: number;
  /** Window scale shift count. */
  windowScale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as `[left, right]` pairs (1..4; fewer fit together with timestamps). */
  sackBlocks?: Array<[number, number]>;
  /** Timestamps option as `[tsVal, tsEcr]`. */
  timestamp?: [number, number];
  /**
   * Raw option bytes, padded to a multiple of 4 with End-of-List. When given, the option fields
   * above are ignored by {@link emitTcp}.
   */
  options?: Uint8Array;
}

/**
 * The option bytes {@link emitTcp} writes for `repr`, in the order Linux uses
 * (MSS, SACK-permitted + timestamps, window scale, SACK blocks), NOP-padded to 4-byte
 * boundaries. Raw `repr.options` are returned padded with End-of-List.
 */
export function tcpOptionsBytes(repr: TcpRepr): Uint8Array {
  if (repr.options) {
    const out = new Uint8Array((repr.options.length + 3) & ~3);
    out.set(repr.options);
    return out;
  }
  const o: number[] = [];
  if (repr.mss !== undefined) {
    const mss = u('mss', repr.mss, 0xffff);
    o.push(TcpOptionKind.Mss, 4, mss >>> 8, mss & 0xff);
  }
  if (repr.timestamp) {
    if (repr.sackPermitted) o.push(TcpOptionKind.SackPermitted, 2);
    else o.push(TcpOptionKind.Nop, TcpOptionKind.Nop);
    o.push(TcpOptionKind.Timestamp, 10);
    push32(o, u('tsVal', repr.timestamp[0], 0xffffffff));
    push32(o, u('tsEcr', repr.timestamp[1], 0xffffffff));
  } else if (repr.sackPermitted) {
    o.push(TcpOptionKind.Nop, TcpOptionKind.Nop, TcpOptionKind.SackPermitted, 2);
  }
  if (repr.windowScale !== undefined)
    o.push(TcpOptionKind.Nop, TcpOptionKind.WindowScale, 3, u('windowScale', repr.windowScale, 0xff));
  if (repr.sackBlocks && repr.sackBlocks.length > 0) {
    if (repr.sackBlocks.length > 4)
      throw new RangeError(`TCP: at most 4 SACK blocks, got ${repr.sackBlocks.length}`);
    o.push(TcpOptionKind.Nop, TcpOptionKind.Nop, TcpOptionKind.Sack, 2 + 8 * repr.sackBlocks.length);
    for (const [l, r] of repr.sackBlocks) {
      push32(o, u('SACK left edge', l, 0xffffffff));
      push32(o, u('SACK right edge', r, 0xffffffff));
    }
  }
  return Uint8Array.from(o);
}

/** Header length (with options) that {@link emitTcp} writes for `repr`. */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_MIN_HEADER_LEN + tcpOptionsBytes(repr).length;
}

/**
 * Reads a validated segment into a {@link TcpRepr}. Known options become fields; when those
 * fields would not re-emit the exact option bytes (other order or padding, unknown kinds,
 * malformed options), the raw bytes are kept in `options` too, so emitting the result
 * reproduces the segment byte for byte.
 */
export function parseTcpRepr(seg: TcpSegment): TcpRepr {
  const repr: TcpRepr = {
    srcPort: seg.srcPort,
    dstPort: seg.dstPort,
    seq: seg.seq,
    ack: seg.ack,
    flags: seg.flags,
    window: seg.window,
    urgentPointer: seg.urgentPointer,
  };
  if (seg.headerLen === TCP_MIN_HEADER_LEN) return repr;
  const opts = new TcpOptions();
  const ok = opts.parse(seg);
  if (ok) {
    if (opts.mss >= 0) repr.mss = opts.mss;
    if (opts.windowScale >= 0) repr.windowScale = opts.windowScale;
    if (opts.sackPermitted) repr.sackPermitted = true;
    if (opts.sackBlockCount > 0) {
      repr.sackBlocks = [];
      for (let k = 0; k < opts.sackBlockCount; k++)
        repr.sackBlocks.push([opts.sackBlocks[2 * k], opts.sackBlocks[2 * k + 1]]);
    }
    if (opts.timestamp) repr.timestamp = [opts.tsVal, opts.tsEcr];
  }
  const raw = seg.options();
  let same = ok;
  if (same) {
    try {
      const mine = tcpOptionsBytes(repr);
      same = mine.length === raw.length && mine.every((x, i) => x === raw[i]);
    } catch {
      same = false;
    }
  }
  if (!same) repr.options = raw.slice();
  return repr;
}

/**
 * Writes the header for `repr` followed by `payload` at `buf[off..]`, with the checksum computed
 * from `pseudoSum` (the pseudo-header running sum for a TCP length of header + payload).
 * Returns the segment length. Throws `RangeError` for out-of-range fields, options over 40
 * bytes, or a `buf` that is too small.
 */
export function emitTcp(
  repr: TcpRepr,
  payload: Uint8Array,
  buf: Uint8Array,
  off: number,
  pseudoSum: number,
): number {
  const opts = tcpOptionsBytes(repr);
  const hl = TCP_MIN_HEADER_LEN + opts.length;
  if (hl > TCP_MAX_HEADER_LEN) throw new RangeError(`TCP options too long: header would be ${hl} bytes`);
  const len = hl + payload.length;
  if (off < 0 || off + len > buf.length) throw new RangeError('buffer too small for the TCP segment');
  write16(buf, off + SRC_PORT, u('srcPort', repr.srcPort, 0xffff));
  write16(buf, off + DST_PORT, u('dstPort', repr.dstPort, 0xffff));
  write32(buf, off + SEQ, u('seq', repr.seq ?? 0, 0xffffffff));
  write32(buf, off + ACK, u('ack', repr.ack ?? 0, 0xffffffff));
  buf[off + DATA_OFF] = (hl >> 2) << 4;
  buf[off + FLAGS] = u('flags', repr.flags, 0xff);
  write16(buf, off + WINDOW, u('window', repr.window ?? 0xffff, 0xffff));
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  write16(buf, off + URGENT, u('urgentPointer', repr.urgentPointer ?? 0, 0xffff));
  buf.set(opts, off + TCP_MIN_HEADER_LEN);
  buf.set(payload, off + hl);
  writeChecksum(buf, off + CHECKSUM, finishChecksum(onesSum(buf, off, len, pseudoSum)));
  return len;
}

/**
 * RFC 1624 for a 32-bit field whose old value is given as 16-bit halves. Works on small integers
 * only: a uint32 above 2^31 passed between functions is boxed as a heap number, an allocation per
 * packet that the hot path must not make.
 */
function update32(hc: number, oldHi: number, oldLo: number, v: number): number {
  return updateChecksum16(updateChecksum16(hc, oldHi, (v >>> 16) & 0xffff), oldLo, v & 0xffff);
}

function u(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`TCP ${name} must be 0..${max}, got ${v}`);
  return v;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function push32(o: number[], v: number): void {
  o.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
