/**
 * Classic libpcap capture files (draft-ietf-opsawg-pcap), for raw IP link types.
 *
 * File header (24 bytes, in the writer's byte order):
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Magic Number                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Major Version        |         Minor Version         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           Reserved1                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           Reserved2                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            SnapLen                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | FCS |f|0 0 0 0 0 0 0 0 0 0 0 0|         LinkType              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Packet record (16-byte header, then Captured Packet Length bytes of data):
 * ```
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Timestamp (Seconds)                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Timestamp (Microseconds or nanoseconds)            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Captured Packet Length                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Original Packet Length                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * This module has no runtime dependency (no `node:fs`): writers hand chunks to a sink, readers
 * take the whole file as bytes, so it works in any JavaScript runtime.
 */

/** Magic number of a microsecond-resolution pcap file. */
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
/** Magic number of a nanosecond-resolution pcap file. */
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
/** Length of the pcap file header. */
export const PCAP_FILE_HEADER_LEN = 24;
/** Length of a pcap packet record header. */
export const PCAP_RECORD_HEADER_LEN = 16;
/** Default snapshot length: whole IP packets. */
export const PCAP_DEFAULT_SNAPLEN = 65535;
/**
 * Largest captured length a reader accepts regardless of the file's SnapLen (libpcap's
 * `MAXIMUM_SNAPLEN`); a larger record length means a corrupt file.
 */
export const PCAP_MAX_RECORD_LEN = 262144;

/** Link-layer header types (tcpdump.org "LINKTYPE_" values) that l3kit reads and writes. */
export const LinkType = {
  /** Raw IP; the version nibble says IPv4 or IPv6 (LINKTYPE_RAW). */
  Raw: 101,
  /** Raw IPv4 only (LINKTYPE_IPV4). */
  Ipv4: 228,
  /** Raw IPv6 only (LINKTYPE_IPV6). */
  Ipv6: 229,
} as const;
/** A known link type, or any other number. */
export type LinkType = (typeof LinkType)[keyof typeof LinkType] | (number & {});

/** Whether `linkType` carries bare IP packets (101, 228 or 229). */
export function isRawIpLinkType(linkType: number): boolean {
  return linkType === LinkType.Raw || linkType === LinkType.Ipv4 || linkType === LinkType.Ipv6;
}

/**
 * Thrown by the pcap and pcapng readers for a file they cannot read: bad magic, truncated or
 * inconsistent records, unsupported versions or link types. `code` is always `ERR_PCAP_FORMAT`;
 * `offset` is the byte offset in the input where the problem was found.
 */
export class PcapFormatError extends Error {
  /** Stable error code. */
  readonly code = 'ERR_PCAP_FORMAT' as const;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /** `message` gets the offset appended. */
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = 'PcapFormatError';
    this.offset = offset;
  }
}

/**
 * Splits a millisecond timestamp into whole seconds and a sub-second count of `1/perSecond`
 * units, rounding to the nearest unit. Throws `RangeError` when the timestamp is negative, not
 * finite or beyond `maxSeconds`.
 */
function splitTimestamp(timestampMs: number, perSecond: number, maxSeconds: number): [number, number] {
  if (!Number.isFinite(timestampMs) || timestampMs < 0)
    throw new RangeError(`capture timestamp must be a finite number ≥ 0 ms, got ${timestampMs}`);
  let sec = Math.floor(timestampMs / 1000);
  let frac = Math.round(((timestampMs - sec * 1000) * perSecond) / 1000);
  if (frac >= perSecond) {
    sec += 1;
    frac -= perSecond;
  }
  if (sec > maxSeconds) throw new RangeError(`capture timestamp ${timestampMs} ms is out of range`);
  return [sec, frac];
}

/**
 * Like {@link splitTimestamp} for an exact timestamp in nanoseconds since the Unix epoch.
 * `perSecond` is 1e6 or 1e9 (or another divisor of 1e9).
 */
function splitTimestampNs(timestampNs: bigint, perSecond: number, maxSeconds: number): [number, number] {
  if (typeof timestampNs !== 'bigint' || timestampNs < 0n)
    throw new RangeError(`capture timestamp must be a bigint ≥ 0 ns, got ${String(timestampNs)}`);
  let sec = timestampNs / 1_000_000_000n;
  const ns = Number(timestampNs - sec * 1_000_000_000n);
  const unitNs = 1e9 / perSecond;
  let frac = Math.round(ns / unitNs);
  if (frac >= perSecond) {
    sec += 1n;
    frac -= perSecond;
  }
  if (sec > BigInt(maxSeconds)) throw new RangeError(`capture timestamp ${timestampNs} ns is out of range`);
  return [Number(sec), frac];
}

/** Exact nanoseconds of a (seconds, fraction) pair with `perSecond` fraction units. */
function timestampToNs(sec: number, frac: number, perSecond: number): bigint {
  return BigInt(sec) * 1_000_000_000n + BigInt(frac) * BigInt(1e9 / perSecond);
}

/** Options of {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** Largest number of bytes stored per packet; longer packets are cut. Default 65535. */
  snaplen?: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds. Default false. */
  nanosecond?: boolean;
  /** Link type of the file. Default {@link LinkType.Raw} (101). */
  linkType?: number;
  /** Write big-endian instead of little-endian. Readers accept both. Default false. */
  bigEndian?: boolean;
}

/**
 * Writes a classic pcap stream to a sink. The file header goes to the sink in the constructor,
 * then one chunk per {@link PcapWriter.write} (record header and data together). Each chunk is a
 * fresh buffer the sink may keep. Timestamps come from the caller: this class never reads a clock.
 *
 * ```ts
 * const chunks: Uint8Array[] = [];
 * const w = new PcapWriter((c) => chunks.push(c));
 * w.write(packet, clock.now());
 * ```
 */
export class PcapWriter {
  /** Snapshot length written in the header; packets are cut to it. */
  readonly snaplen: number;
  /** Whether timestamps are stored in nanoseconds. */
  readonly nanosecond: boolean;
  /** The file's link type. */
  readonly linkType: number;
  private readonly sink: (chunk: Uint8Array) => void;
  private readonly le: boolean;
  private count = 0;

  /** Writes the file header to `sink` at once. Throws `RangeError` for a bad snaplen or link type. */
  constructor(sink: (chunk: Uint8Array) => void, opts: PcapWriterOptions = {}) {
    const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > PCAP_MAX_RECORD_LEN)
      throw new RangeError(`pcap snaplen must be an integer in 1..${PCAP_MAX_RECORD_LEN}, got ${snaplen}`);
    const linkType = opts.linkType ?? LinkType.Raw;
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff)
      throw new RangeError(`pcap link type must be an integer in 0..65535, got ${linkType}`);
    this.sink = sink;
    this.snaplen = snaplen;
    this.nanosecond = opts.nanosecond === true;
    this.linkType = linkType;
    this.le = opts.bigEndian !== true;
    const h = new Uint8Array(PCAP_FILE_HEADER_LEN);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, this.nanosecond ? PCAP_MAGIC_NANOS : PCAP_MAGIC_MICROS, this.le);
    dv.setUint16(4, 2, this.le);
    dv.setUint16(6, 4, this.le);
    // Reserved1 / Reserved2 (formerly thiszone / sigfigs) stay zero.
    dv.setUint32(16, snaplen, this.le);
    dv.setUint32(20, linkType, this.le);
    sink(h);
  }

  /** Number of packets written so far. */
  get packetsWritten(): number {
    return this.count;
  }

  /**
   * Writes one packet with its capture time in milliseconds since the Unix epoch (fractions
   * allowed; rounded to the file's resolution). Packets longer than `snaplen` are cut, the
   * original length is kept in the record. Throws `RangeError` for a negative, non-finite or
   * post-2106 timestamp.
   */
  write(pkt: Uint8Array, timestampMs: number): void {
    const [sec, frac] = splitTimestamp(timestampMs, this.nanosecond ? 1e9 : 1e6, 0xffffffff);
    this.writeRecord(pkt, sec, frac);
  }

  /**
   * Like {@link PcapWriter.write} with an exact timestamp in nanoseconds since the Unix epoch
   * (a `number` of milliseconds cannot hold nanoseconds today: its resolution is ~240 ns).
   * Rounded to microseconds unless the file is nanosecond.
   */
  writeNs(pkt: Uint8Array, timestampNs: bigint): void {
    const [sec, frac] = splitTimestampNs(timestampNs, this.nanosecond ? 1e9 : 1e6, 0xffffffff);
    this.writeRecord(pkt, sec, frac);
  }

  private writeRecord(pkt: Uint8Array, sec: number, frac: number): void {
    const incl = Math.min(pkt.length, this.snaplen);
    const rec = new Uint8Array(PCAP_RECORD_HEADER_LEN + incl);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, sec, this.le);
    dv.setUint32(4, frac, this.le);
    dv.setUint32(8, incl, this.le);
    dv.setUint32(12, pkt.length, this.le);
    rec.set(incl === pkt.length ? pkt : pkt.subarray(0, incl), PCAP_RECORD_HEADER_LEN);
    this.count++;
    this.sink(rec);
  }
}

/** One packet record read from a pcap file. */
export interface PcapPacket {
  /**
   * Capture time in milliseconds since the Unix epoch (fractional below 1 ms; a double holds
   * today's times to ~240 ns, see `timestampNs` for the exact value).
   */
  timestampMs: number;
  /** Capture time in nanoseconds since the Unix epoch, exact. */
  timestampNs: bigint;
  /** Captured bytes: a subarray of the input (copy it before changing the input). */
  data: Uint8Array;
  /** Length of the packet on the wire (≥ `data.length` when the capture was cut at snaplen). */
  originalLength: number;
}

/** The file header of a pcap file. */
export interface PcapFileHeader {
  /** Link type (lower 16 bits of the LinkType field). */
  linkType: number;
  /** Whether timestamps are in nanoseconds (magic 0xa1b23c4d). */
  nanosecond: boolean;
  /** The file's snapshot length. */
  snaplen: number;
  /** Whether the file is little-endian. */
  littleEndian: boolean;
  /** Major version (always 2). */
  versionMajor: number;
  /** Minor version (4 in files written since 1998). */
  versionMinor: number;
}

/** A whole pcap file as read by {@link readPcap}. */
export interface PcapFile extends PcapFileHeader {
  /** The packet records, in file order. */
  packets: PcapPacket[];
}

/** Options of the pcap readers. */
export interface PcapReadOptions {
  /**
   * Accept any link type instead of only the raw IP types 101, 228 and 229 (the packets are then
   * link-layer frames the caller must decode). Default false.
   */
  anyLinkType?: boolean;
}

/**
 * Parses and validates a pcap file header. Throws {@link PcapFormatError} for bad magic, a short
 * header, an unsupported major version or (unless `anyLinkType`) a non-IP link type.
 */
export function readPcapHeader(bytes: Uint8Array, opts: PcapReadOptions = {}): PcapFileHeader {
  if (bytes.length < PCAP_FILE_HEADER_LEN)
    throw new PcapFormatError(
      `truncated pcap file header: ${bytes.length} of ${PCAP_FILE_HEADER_LEN} bytes`,
      0,
    );
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBe = dv.getUint32(0, false);
  const magicLe = dv.getUint32(0, true);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (magicLe === PCAP_MAGIC_MICROS || magicLe === PCAP_MAGIC_NANOS) {
    littleEndian = true;
    nanosecond = magicLe === PCAP_MAGIC_NANOS;
  } else if (magicBe === PCAP_MAGIC_MICROS || magicBe === PCAP_MAGIC_NANOS) {
    littleEndian = false;
    nanosecond = magicBe === PCAP_MAGIC_NANOS;
  } else {
    const hint = magicBe === 0x0a0d0d0a ? ' (this is a pcapng file; use readPcapng)' : '';
    throw new PcapFormatError(`bad pcap magic 0x${magicBe.toString(16).padStart(8, '0')}${hint}`, 0);
  }
  const versionMajor = dv.getUint16(4, littleEndian);
  const versionMinor = dv.getUint16(6, littleEndian);
  if (versionMajor !== 2)
    throw new PcapFormatError(`unsupported pcap version ${versionMajor}.${versionMinor}`, 4);
  const snaplen = dv.getUint32(16, littleEndian);
  const linkType = dv.getUint32(20, littleEndian) & 0xffff;
  if (opts.anyLinkType !== true && !isRawIpLinkType(linkType))
    throw new PcapFormatError(`unsupported pcap link type ${linkType} (expected 101, 228 or 229)`, 20);
  return { linkType, nanosecond, snaplen, littleEndian, versionMajor, versionMinor };
}

/**
 * Iterates over the packet records of a pcap file without collecting them. The header is read
 * (and validated) when the iterator is created; each record is validated as it is reached, so
 * a damaged file yields its good records before the {@link PcapFormatError}.
 */
export class PcapReader implements IterableIterator<PcapPacket> {
  /** The file header. */
  readonly header: PcapFileHeader;
  private readonly bytes: Uint8Array;
  private readonly dv: DataView;
  private pos = PCAP_FILE_HEADER_LEN;

  /** Reads and validates the file header; throws {@link PcapFormatError}. */
  constructor(bytes: Uint8Array, opts: PcapReadOptions = {}) {
    this.header = readPcapHeader(bytes, opts);
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Byte offset of the next record. */
  get offset(): number {
    return this.pos;
  }

  /** The next record, or `null` at the end of the file. Throws {@link PcapFormatError}. */
  readPacket(): PcapPacket | null {
    const b = this.bytes;
    const at = this.pos;
    if (at === b.length) return null;
    if (b.length - at < PCAP_RECORD_HEADER_LEN)
      throw new PcapFormatError(
        `truncated pcap record header: ${b.length - at} of ${PCAP_RECORD_HEADER_LEN} bytes`,
        at,
      );
    const le = this.header.littleEndian;
    const sec = this.dv.getUint32(at, le);
    const frac = this.dv.getUint32(at + 4, le);
    const incl = this.dv.getUint32(at + 8, le);
    const orig = this.dv.getUint32(at + 12, le);
    if (incl > Math.max(this.header.snaplen, PCAP_MAX_RECORD_LEN))
      throw new PcapFormatError(`pcap record length ${incl} is larger than any snaplen`, at + 8);
    const start = at + PCAP_RECORD_HEADER_LEN;
    if (b.length - start < incl)
      throw new PcapFormatError(`truncated pcap record: ${b.length - start} of ${incl} bytes`, start);
    this.pos = start + incl;
    return {
      timestampMs: sec * 1000 + (this.header.nanosecond ? frac / 1e6 : frac / 1e3),
      timestampNs: timestampToNs(sec, frac, this.header.nanosecond ? 1e9 : 1e6),
      data: b.subarray(start, start + incl),
      originalLength: orig,
    };
  }

  /** Iterator protocol over {@link PcapReader.readPacket}. */
  next(): IteratorResult<PcapPacket> {
    const p = this.readPacket();
    return p === null ? { done: true, value: undefined } : { done: false, value: p };
  }

  /** The reader is its own iterator (single pass). */
  [Symbol.iterator](): IterableIterator<PcapPacket> {
    return this;
  }
}

/**
 * Reads a whole pcap file (either byte order, micro- or nanosecond magic). Packet `data` are
 * subarrays of `bytes`. Throws {@link PcapFormatError} (code `ERR_PCAP_FORMAT`) for bad magic,
 * unsupported versions or link types, and truncated or oversized records; never another error.
 */
export function readPcap(bytes: Uint8Array, opts: PcapReadOptions = {}): PcapFile {
  const r = new PcapReader(bytes, opts);
  const packets: PcapPacket[] = [];
  for (let p = r.readPacket(); p !== null; p = r.readPacket()) packets.push(p);
  return { ...r.header, packets };
}

/**
 * Concatenates chunks (e.g. what a {@link PcapWriter} or `PcapngWriter` sink collected) into one
 * buffer.
 */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
