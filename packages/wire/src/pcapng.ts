/**
 * pcapng capture files (draft-ietf-opsawg-pcapng), for raw IP link types.
 *
 * Every block has the same frame; the body is padded to 32 bits and the total length repeats at
 * the end so a reader can walk backwards:
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------------------------------------------------------+
 * |                          Block Type                           |
 * +---------------------------------------------------------------+
 * |                      Block Total Length                       |
 * +---------------------------------------------------------------+
 * /                          Block Body                           /
 * +---------------------------------------------------------------+
 * |                      Block Total Length                       |
 * +---------------------------------------------------------------+
 * ```
 * Blocks written: Section Header (0x0A0D0D0A; byte-order magic 0x1A2B3C4D, version 1.0, section
 * length −1), Interface Description (1; link type, snaplen, `if_name`, `if_tsresol`) and Enhanced
 * Packet (6; interface id, 64-bit timestamp, lengths, data, optional `opt_comment`). Options are
 * `code:16 length:16 value` padded to 32 bits and end with `opt_endofopt`.
 *
 * Read: both byte orders (per section), several sections and interfaces, Enhanced, Simple and
 * obsolete Packet Blocks, `if_tsresol` (powers of 10 and of 2) and `if_tsoffset`; other block
 * types are skipped. No runtime dependency: writers hand chunks to a sink.
 */
import { isRawIpLinkType, LinkType, PcapFormatError } from './pcap.js';

/** pcapng block types used here. */
export const PcapngBlockType = {
  /** Section Header Block. */
  SectionHeader: 0x0a0d0d0a,
  /** Interface Description Block. */
  InterfaceDescription: 0x00000001,
  /** Packet Block (obsolete, read only). */
  Packet: 0x00000002,
  /** Simple Packet Block (read only). */
  SimplePacket: 0x00000003,
  /** Name Resolution Block (skipped). */
  NameResolution: 0x00000004,
  /** Interface Statistics Block (skipped). */
  InterfaceStatistics: 0x00000005,
  /** Enhanced Packet Block. */
  EnhancedPacket: 0x00000006,
} as const;
/** A known block type, or any other number. */
export type PcapngBlockType = (typeof PcapngBlockType)[keyof typeof PcapngBlockType] | (number & {});

/** The Section Header Block's byte-order magic. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

// Option codes (draft-ietf-opsawg-pcapng §3.5, §4.1, §4.2, §4.3).
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_HARDWARE = 2;
const SHB_OS = 3;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

// Fixed lengths: block type + total length + trailing total length, and the fixed bodies.
const BLOCK_OVERHEAD = 12;
const SHB_FIXED = 16; // byte-order magic, versions, section length
const IDB_FIXED = 8; // link type, reserved, snaplen
const EPB_FIXED = 20; // interface id, timestamp (2), captured len, original len
const PB_FIXED = 20; // interface id (16), drops (16), timestamp (2), captured len, original len
const SPB_FIXED = 4; // original len

/** Default `if_tsresol`: 10^-6 s. */
export const PCAPNG_DEFAULT_TSRESOL = 6;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Timestamp units (`perSecond` per second, 1e6 or 1e9) of a millisecond timestamp, rounded to the
 * nearest unit. Throws `RangeError` for a negative, non-finite or unrepresentable timestamp.
 */
function unitsOfMs(timestampMs: number, perSecond: number): bigint {
  if (!Number.isFinite(timestampMs) || timestampMs < 0 || timestampMs > Number.MAX_SAFE_INTEGER)
    throw new RangeError(`capture timestamp must be a finite number ≥ 0 ms, got ${timestampMs}`);
  const sec = Math.floor(timestampMs / 1000);
  const frac = Math.round(((timestampMs - sec * 1000) * perSecond) / 1000);
  return BigInt(sec) * BigInt(perSecond) + BigInt(frac);
}

/** Timestamp units of an exact nanosecond timestamp, rounded half up to the nearest unit. */
function unitsOfNs(timestampNs: bigint, perSecond: number): bigint {
  if (typeof timestampNs !== 'bigint' || timestampNs < 0n)
    throw new RangeError(`capture timestamp must be a bigint ≥ 0 ns, got ${String(timestampNs)}`);
  const unitNs = BigInt(1e9 / perSecond);
  return (timestampNs + unitNs / 2n) / unitNs;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** One option to serialise: code and value bytes. */
type Opt = [code: number, value: Uint8Array];

function optionsLen(opts: readonly Opt[]): number {
  if (opts.length === 0) return 0;
  let n = 4; // opt_endofopt
  for (const [, v] of opts) n += 4 + pad4(v.length);
  return n;
}

function writeOptions(dv: DataView, out: Uint8Array, at: number, opts: readonly Opt[], le: boolean): number {
  if (opts.length === 0) return at;
  let o = at;
  for (const [code, v] of opts) {
    if (v.length > 0xffff) throw new RangeError(`pcapng option ${code} is too long (${v.length} bytes)`);
    dv.setUint16(o, code, le);
    dv.setUint16(o + 2, v.length, le);
    out.set(v, o + 4);
    o += 4 + pad4(v.length); // padding bytes stay zero
  }
  dv.setUint16(o, OPT_ENDOFOPT, le);
  dv.setUint16(o + 2, 0, le);
  return o + 4;
}

/** Options of {@link PcapngWriter}. */
export interface PcapngWriterOptions {
  /** Nanosecond timestamps (`if_tsresol` 9) instead of microseconds (6). Default false. */
  nanosecond?: boolean;
  /** Write big-endian sections instead of little-endian. Readers accept both. Default false. */
  bigEndian?: boolean;
  /** `shb_userappl`: the application that wrote the file, e.g. `"l3kit"`. Omitted by default. */
  userAppl?: string;
  /** `shb_hardware`. Omitted by default. */
  hardware?: string;
  /** `shb_os`. Omitted by default. */
  os?: string;
  /** `opt_comment` on the section. Omitted by default. */
  comment?: string;
}

/** Options of {@link PcapngWriter.addInterface}. */
export interface PcapngInterfaceOptions {
  /** Snapshot length; longer packets are cut. 0 means no limit. Default 65535. */
  snaplen?: number;
  /** `if_description`. Omitted by default. */
  description?: string;
}

/**
 * Writes a pcapng stream to a sink: one Section Header Block (in the constructor), then
 * Interface Description Blocks ({@link PcapngWriter.addInterface}) and Enhanced Packet Blocks
 * ({@link PcapngWriter.write}). Each block is one fresh chunk the sink may keep. Timestamps come
 * from the caller: this class never reads a clock.
 *
 * ```ts
 * const w = new PcapngWriter((c) => chunks.push(c), { userAppl: 'l3kit' });
 * const inside = w.addInterface('nat-inside');
 * w.write(inside, packet, clock.now(), 'first SYN');
 * ```
 */
export class PcapngWriter {
  /** Whether timestamps are written in nanoseconds. */
  readonly nanosecond: boolean;
  private readonly sink: (chunk: Uint8Array) => void;
  private readonly le: boolean;
  private readonly snaplens: number[] = [];
  private count = 0;

  /** Writes the Section Header Block to `sink` at once. */
  constructor(sink: (chunk: Uint8Array) => void, opts: PcapngWriterOptions = {}) {
    this.sink = sink;
    this.nanosecond = opts.nanosecond === true;
    this.le = opts.bigEndian !== true;
    const options: Opt[] = [];
    if (opts.comment !== undefined) options.push([OPT_COMMENT, utf8Encoder.encode(opts.comment)]);
    if (opts.hardware !== undefined) options.push([SHB_HARDWARE, utf8Encoder.encode(opts.hardware)]);
    if (opts.os !== undefined) options.push([SHB_OS, utf8Encoder.encode(opts.os)]);
    if (opts.userAppl !== undefined) options.push([SHB_USERAPPL, utf8Encoder.encode(opts.userAppl)]);
    const len = BLOCK_OVERHEAD + SHB_FIXED + optionsLen(options);
    const [b, dv] = this.block(PcapngBlockType.SectionHeader, len);
    dv.setUint32(8, PCAPNG_BYTE_ORDER_MAGIC, this.le);
    dv.setUint16(12, 1, this.le);
    dv.setUint16(14, 0, this.le);
    dv.setInt32(16, -1, this.le); // Section Length −1 (unknown): all 64 bits set
    dv.setInt32(20, -1, this.le);
    writeOptions(dv, b, 24, options, this.le);
    sink(b);
  }

  /** Number of interfaces added so far. */
  get interfaceCount(): number {
    return this.snaplens.length;
  }

  /** Number of packets written so far. */
  get packetsWritten(): number {
    return this.count;
  }

  /**
   * Adds an interface (an Interface Description Block with `if_name` when `name` is not empty
   * and `if_tsresol`) and returns its id (0, 1, …) for {@link PcapngWriter.write}.
   */
  addInterface(name: string, linkType: number = LinkType.Raw, opts: PcapngInterfaceOptions = {}): number {
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff)
      throw new RangeError(`pcapng link type must be an integer in 0..65535, got ${linkType}`);
    const snaplen = opts.snaplen ?? 65535;
    if (!Number.isInteger(snaplen) || snaplen < 0 || snaplen > 0xffffffff)
      throw new RangeError(`pcapng snaplen must be an integer in 0..2^32-1, got ${snaplen}`);
    const options: Opt[] = [];
    if (name !== '') options.push([IF_NAME, utf8Encoder.encode(name)]);
    if (opts.description !== undefined) options.push([IF_DESCRIPTION, utf8Encoder.encode(opts.description)]);
    options.push([IF_TSRESOL, Uint8Array.of(this.nanosecond ? 9 : 6)]);
    const len = BLOCK_OVERHEAD + IDB_FIXED + optionsLen(options);
    const [b, dv] = this.block(PcapngBlockType.InterfaceDescription, len);
    dv.setUint16(8, linkType, this.le);
    dv.setUint16(10, 0, this.le);
    dv.setUint32(12, snaplen, this.le);
    writeOptions(dv, b, 16, options, this.le);
    this.sink(b);
    this.snaplens.push(snaplen);
    return this.snaplens.length - 1;
  }

  /**
   * Writes one packet seen on interface `ifId` at `timestampMs` (milliseconds since the Unix
   * epoch, fractions allowed) as an Enhanced Packet Block, with an optional comment. Packets
   * longer than the interface's snaplen are cut (the original length is kept). Throws
   * `RangeError` for an unknown interface id or a negative / non-finite timestamp.
   */
  write(ifId: number, pkt: Uint8Array, timestampMs: number, comment?: string): void {
    this.checkInterface(ifId);
    this.writeUnits(ifId, pkt, unitsOfMs(timestampMs, this.nanosecond ? 1e9 : 1e6), comment);
  }

  /**
   * Like {@link PcapngWriter.write} with an exact timestamp in nanoseconds since the Unix epoch
   * (rounded to microseconds unless the writer is nanosecond).
   */
  writeNs(ifId: number, pkt: Uint8Array, timestampNs: bigint, comment?: string): void {
    this.checkInterface(ifId);
    this.writeUnits(ifId, pkt, unitsOfNs(timestampNs, this.nanosecond ? 1e9 : 1e6), comment);
  }

  private checkInterface(ifId: number): void {
    if (!Number.isInteger(ifId) || ifId < 0 || ifId >= this.snaplens.length)
      throw new RangeError(`pcapng interface ${ifId} was not added (have ${this.snaplens.length})`);
  }

  private writeUnits(ifId: number, pkt: Uint8Array, units: bigint, comment: string | undefined): void {
    if (units > 0xffffffffffffffffn) throw new RangeError('capture timestamp is out of range');
    const snaplen = this.snaplens[ifId];
    const capLen = snaplen === 0 ? pkt.length : Math.min(pkt.length, snaplen);
    const options: Opt[] = comment !== undefined ? [[OPT_COMMENT, utf8Encoder.encode(comment)]] : [];
    const len = BLOCK_OVERHEAD + EPB_FIXED + pad4(capLen) + optionsLen(options);
    const [b, dv] = this.block(PcapngBlockType.EnhancedPacket, len);
    dv.setUint32(8, ifId, this.le);
    dv.setUint32(12, Number(units >> 32n), this.le);
    dv.setUint32(16, Number(units & 0xffffffffn), this.le);
    dv.setUint32(20, capLen, this.le);
    dv.setUint32(24, pkt.length, this.le);
    b.set(capLen === pkt.length ? pkt : pkt.subarray(0, capLen), 28);
    writeOptions(dv, b, 28 + pad4(capLen), options, this.le);
    this.count++;
    this.sink(b);
  }

  private block(type: number, len: number): [Uint8Array, DataView] {
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, this.le);
    dv.setUint32(4, len, this.le);
    dv.setUint32(len - 4, len, this.le);
    return [b, dv];
  }
}

/** A section (Section Header Block) of a pcapng file. */
export interface PcapngSection {
  /** Whether the section is little-endian. */
  littleEndian: boolean;
  /** Major version (always 1). */
  versionMajor: number;
  /** Minor version (0; 2 in some old writers). */
  versionMinor: number;
  /** `shb_userappl`, if present. */
  userAppl?: string;
  /** `shb_hardware`, if present. */
  hardware?: string;
  /** `shb_os`, if present. */
  os?: string;
  /** The first `opt_comment`, if present. */
  comment?: string;
}

/** An interface (Interface Description Block) of a pcapng file. */
export interface PcapngInterface {
  /** Link type. */
  linkType: number;
  /** `if_name`, if present. */
  name?: string;
  /** `if_description`, if present. */
  description?: string;
  /**
   * The `if_tsresol` byte: n < 128 means units of 10^-n s (6 = microseconds, the default, 9 =
   * nanoseconds); 128 + n means units of 2^-n s.
   */
  tsresol: number;
  /** `if_tsoffset` in seconds (0 when absent), already added to packet timestamps. */
  tsoffset: number;
  /** Snapshot length (0 = no limit). */
  snaplen: number;
  /** Index of the section the interface belongs to. */
  section: number;
}

/** A packet read from a pcapng file. */
export interface PcapngPacket {
  /**
   * Index into {@link PcapngFile.interfaces}. Equals the block's Interface ID in a one-section
   * file; with several sections interfaces are numbered across the whole file.
   */
  interfaceId: number;
  /**
   * Capture time in milliseconds since the Unix epoch (fractional below 1 ms). `NaN` for Simple
   * Packet Blocks, which carry no timestamp. A double holds today's times to ~240 ns; see
   * `timestampNs`.
   */
  timestampMs: number;
  /**
   * Capture time in nanoseconds since the Unix epoch: exact for decimal resolutions down to
   * nanoseconds, rounded otherwise. Absent for Simple Packet Blocks.
   */
  timestampNs?: bigint;
  /** Captured bytes: a subarray of the input (copy it before changing the input). */
  data: Uint8Array;
  /** Length of the packet on the wire (≥ `data.length` when it was cut at snaplen). */
  originalLength: number;
  /** The first `opt_comment` of the block, if present. */
  comment?: string;
}

/** A whole pcapng file as read by {@link readPcapng}. */
export interface PcapngFile {
  /** Sections in file order (usually one). */
  sections: PcapngSection[];
  /** Interfaces of all sections, in file order. */
  interfaces: PcapngInterface[];
  /** Packets in file order. */
  packets: PcapngPacket[];
}

/** Options of the pcapng readers. */
export interface PcapngReadOptions {
  /** Accept any link type instead of only the raw IP types 101, 228 and 229. Default false. */
  anyLinkType?: boolean;
}

/** Timestamp scale of one interface: units per second as a bigint and a number. */
interface TsScale {
  perSecond: bigint;
  perSecondNum: number;
  offsetMs: number;
  offsetNs: bigint;
}

/**
 * Walks a pcapng file block by block, yielding packets as they are reached (so a damaged file
 * yields its good packets before the {@link PcapFormatError}). `sections` and `interfaces` grow
 * as their blocks are passed.
 */
export class PcapngReader implements IterableIterator<PcapngPacket> {
  /** Sections seen so far. */
  readonly sections: PcapngSection[] = [];
  /** Interfaces seen so far (all sections). */
  readonly interfaces: PcapngInterface[] = [];
  private readonly bytes: Uint8Array;
  private readonly dv: DataView;
  private readonly anyLinkType: boolean;
  private pos = 0;
  private le = true;
  /** Index in `interfaces` of the current section's interface 0. */
  private sectionBase = 0;
  private readonly scales: TsScale[] = [];

  /** Checks that the input starts with a Section Header Block; throws {@link PcapFormatError}. */
  constructor(bytes: Uint8Array, opts: PcapngReadOptions = {}) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.anyLinkType = opts.anyLinkType === true;
    if (bytes.length < 4 || this.dv.getUint32(0, false) !== PcapngBlockType.SectionHeader) {
      const hint =
        bytes.length >= 4 &&
        [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(this.dv.getUint32(0, false))
          ? ' (this is a classic pcap file; use readPcap)'
          : '';
      throw new PcapFormatError(`not a pcapng file: no Section Header Block${hint}`, 0);
    }
  }

  /** Byte offset of the next block. */
  get offset(): number {
    return this.pos;
  }

  /** The next packet, or `null` at the end of the file. Throws {@link PcapFormatError}. */
  readPacket(): PcapngPacket | null {
    const b = this.bytes;
    while (this.pos < b.length) {
      const at = this.pos;
      if (b.length - at < BLOCK_OVERHEAD)
        throw new PcapFormatError(`truncated pcapng block: ${b.length - at} bytes left`, at);
      const rawType = this.dv.getUint32(at, false);
      if (rawType === PcapngBlockType.SectionHeader) this.readByteOrder(at);
      const type = this.dv.getUint32(at, this.le);
      const len = this.dv.getUint32(at + 4, this.le);
      if (len < BLOCK_OVERHEAD || len % 4 !== 0)
        throw new PcapFormatError(`bad pcapng block total length ${len}`, at + 4);
      if (len > b.length - at)
        throw new PcapFormatError(`truncated pcapng block: length ${len}, ${b.length - at} bytes left`, at);
      if (this.dv.getUint32(at + len - 4, this.le) !== len)
        throw new PcapFormatError('pcapng block total lengths differ', at + len - 4);
      this.pos = at + len;
      const body = at + 8;
      const bodyEnd = at + len - 4;
      switch (type) {
        case PcapngBlockType.SectionHeader:
          this.readSectionHeader(body, bodyEnd);
          break;
        case PcapngBlockType.InterfaceDescription:
          this.readInterface(body, bodyEnd);
          break;
        case PcapngBlockType.EnhancedPacket:
          return this.readEnhancedPacket(body, bodyEnd, false);
        case PcapngBlockType.Packet:
          return this.readEnhancedPacket(body, bodyEnd, true);
        case PcapngBlockType.SimplePacket:
          return this.readSimplePacket(body, bodyEnd);
        default:
          break; // other block types (NRB, ISB, DSB, custom, …) are skipped
      }
    }
    return null;
  }

  /** Iterator protocol over {@link PcapngReader.readPacket}. */
  next(): IteratorResult<PcapngPacket> {
    const p = this.readPacket();
    return p === null ? { done: true, value: undefined } : { done: false, value: p };
  }

  /** The reader is its own iterator (single pass). */
  [Symbol.iterator](): IterableIterator<PcapngPacket> {
    return this;
  }

  private readByteOrder(at: number): void {
    if (this.bytes.length - at < BLOCK_OVERHEAD + SHB_FIXED)
      throw new PcapFormatError('truncated pcapng Section Header Block', at);
    const bom = this.dv.getUint32(at + 8, false);
    if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.le = false;
    else if (bom === 0x4d3c2b1a) this.le = true;
    else
      throw new PcapFormatError(`bad pcapng byte-order magic 0x${bom.toString(16).padStart(8, '0')}`, at + 8);
  }

  private readSectionHeader(body: number, end: number): void {
    if (end - body < SHB_FIXED) throw new PcapFormatError('pcapng Section Header Block too short', body);
    const versionMajor = this.dv.getUint16(body + 4, this.le);
    const versionMinor = this.dv.getUint16(body + 6, this.le);
    if (versionMajor !== 1)
      throw new PcapFormatError(`unsupported pcapng version ${versionMajor}.${versionMinor}`, body + 4);
    const section: PcapngSection = { littleEndian: this.le, versionMajor, versionMinor };
    this.forOptions(body + SHB_FIXED, end, (code, o, n) => {
      if (code === OPT_COMMENT) section.comment ??= this.text(o, n);
      else if (code === SHB_HARDWARE) section.hardware ??= this.text(o, n);
      else if (code === SHB_OS) section.os ??= this.text(o, n);
      else if (code === SHB_USERAPPL) section.userAppl ??= this.text(o, n);
    });
    this.sections.push(section);
    this.sectionBase = this.interfaces.length;
  }

  private readInterface(body: number, end: number): void {
    if (end - body < IDB_FIXED)
      throw new PcapFormatError('pcapng Interface Description Block too short', body);
    const linkType = this.dv.getUint16(body, this.le);
    if (!this.anyLinkType && !isRawIpLinkType(linkType))
      throw new PcapFormatError(`unsupported pcapng link type ${linkType} (expected 101, 228 or 229)`, body);
    const itf: PcapngInterface = {
      linkType,
      tsresol: PCAPNG_DEFAULT_TSRESOL,
      tsoffset: 0,
      snaplen: this.dv.getUint32(body + 4, this.le),
      section: this.sections.length - 1,
    };
    this.forOptions(body + IDB_FIXED, end, (code, o, n) => {
      if (code === IF_NAME) itf.name ??= this.text(o, n);
      else if (code === IF_DESCRIPTION) itf.description ??= this.text(o, n);
      else if (code === IF_TSRESOL) {
        if (n !== 1) throw new PcapFormatError(`if_tsresol has length ${n}, expected 1`, o);
        itf.tsresol = this.bytes[o];
      } else if (code === IF_TSOFFSET) {
        if (n !== 8) throw new PcapFormatError(`if_tsoffset has length ${n}, expected 8`, o);
        itf.tsoffset = Number(this.dv.getBigInt64(o, this.le));
      }
    });
    const r = itf.tsresol;
    const perSecond = r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
    this.scales.push({
      perSecond,
      perSecondNum: Number(perSecond),
      offsetMs: itf.tsoffset * 1000,
      offsetNs: BigInt(itf.tsoffset) * 1_000_000_000n,
    });
    this.interfaces.push(itf);
  }

  /** Enhanced Packet Block, or the obsolete Packet Block (16-bit interface id and drop count). */
  private readEnhancedPacket(body: number, end: number, obsolete: boolean): PcapngPacket {
    const name = obsolete ? 'Packet Block' : 'Enhanced Packet Block';
    if (end - body < (obsolete ? PB_FIXED : EPB_FIXED))
      throw new PcapFormatError(`pcapng ${name} too short`, body);
    const ifId = obsolete ? this.dv.getUint16(body, this.le) : this.dv.getUint32(body, this.le);
    const global = this.interfaceIndex(ifId, body);
    const hi = this.dv.getUint32(body + 4, this.le);
    const lo = this.dv.getUint32(body + 8, this.le);
    const capLen = this.dv.getUint32(body + 12, this.le);
    const origLen = this.dv.getUint32(body + 16, this.le);
    const data = body + EPB_FIXED;
    if (capLen > end - data)
      throw new PcapFormatError(`pcapng ${name} captured length ${capLen} exceeds the block`, body + 12);
    const scale = this.scales[global];
    const units = (BigInt(hi) << 32n) | BigInt(lo);
    const pkt: PcapngPacket = {
      interfaceId: global,
      timestampMs: this.toMs(scale, units),
      timestampNs: this.toNs(scale, units),
      data: this.bytes.subarray(data, data + capLen),
      originalLength: origLen,
    };
    this.forOptions(data + pad4(capLen), end, (code, o, n) => {
      if (code === OPT_COMMENT) pkt.comment ??= this.text(o, n);
    });
    return pkt;
  }

  private readSimplePacket(body: number, end: number): PcapngPacket {
    if (end - body < SPB_FIXED) throw new PcapFormatError('pcapng Simple Packet Block too short', body);
    const global = this.interfaceIndex(0, body);
    const origLen = this.dv.getUint32(body, this.le);
    const snaplen = this.interfaces[global].snaplen;
    let capLen = Math.min(origLen, end - body - SPB_FIXED);
    if (snaplen !== 0) capLen = Math.min(capLen, snaplen);
    return {
      interfaceId: global,
      timestampMs: Number.NaN,
      data: this.bytes.subarray(body + SPB_FIXED, body + SPB_FIXED + capLen),
      originalLength: origLen,
    };
  }

  private interfaceIndex(ifId: number, at: number): number {
    const global = this.sectionBase + ifId;
    if (global >= this.interfaces.length)
      throw new PcapFormatError(`pcapng packet names interface ${ifId}, which was not described`, at);
    return global;
  }

  private toNs(scale: TsScale, units: bigint): bigint {
    const sec = units / scale.perSecond;
    const rem = units - sec * scale.perSecond;
    // Round half up to the nearest nanosecond.
    const ns = (rem * 2_000_000_000n + scale.perSecond) / (2n * scale.perSecond);
    return sec * 1_000_000_000n + ns + scale.offsetNs;
  }

  private toMs(scale: TsScale, units: bigint): number {
    const sec = units / scale.perSecond;
    const rem = units - sec * scale.perSecond;
    return Number(sec) * 1000 + (Number(rem) * 1000) / scale.perSecondNum + scale.offsetMs;
  }

  /** Calls `fn(code, valueOffset, valueLength)` for each option in `[at, end)`. */
  private forOptions(at: number, end: number, fn: (code: number, o: number, n: number) => void): void {
    let o = at;
    while (end - o >= 4) {
      const code = this.dv.getUint16(o, this.le);
      const n = this.dv.getUint16(o + 2, this.le);
      if (code === OPT_ENDOFOPT) return;
      if (pad4(n) > end - o - 4) throw new PcapFormatError(`pcapng option ${code} overruns its block`, o);
      fn(code, o + 4, n);
      o += 4 + pad4(n);
    }
  }

  private text(o: number, n: number): string {
    return utf8Decoder.decode(this.bytes.subarray(o, o + n));
  }
}

/**
 * Reads a whole pcapng file. Packet `data` are subarrays of `bytes`. Throws
 * {@link PcapFormatError} (code `ERR_PCAP_FORMAT`) for a missing Section Header Block, bad
 * byte-order magic, an unsupported version or link type, inconsistent or truncated blocks,
 * overrunning options or packets that name an undescribed interface; never another error.
 */
export function readPcapng(bytes: Uint8Array, opts: PcapngReadOptions = {}): PcapngFile {
  const r = new PcapngReader(bytes, opts);
  const packets: PcapngPacket[] = [];
  for (let p = r.readPacket(); p !== null; p = r.readPacket()) packets.push(p);
  return { sections: r.sections, interfaces: r.interfaces, packets };
}
