/**
 * TCP header encode (RFC 9293 §3.1), and decode through the views of `@l3kit/wire`, with the
 * options the stack uses: MSS (RFC 9293),
 * Window Scale (RFC 7323), SACK-Permitted and SACK (RFC 2018).
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
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 */

import { TcpOptions, TcpSegment } from '@l3kit/wire';

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK_NUM = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
/** Offset of the checksum within the TCP header. */
export const TCP_CHECKSUM_OFF = 16;
const URGENT = 18;

/** Length of a TCP header without options. */
export const TCP_HEADER_LEN = 20;

/** TCP flag bits. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
} as const;

const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;

/**
 * A parsed inbound segment. The stack reuses one instance per host (no allocation per packet
 * beyond the SACK block array, which is reused too).
 */
export class RxSegment {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** Raw 16-bit window field (unscaled). */
  window = 0;
  buf: Uint8Array = new Uint8Array(0);
  /** Offset of the payload in `buf`. */
  dataOff = 0;
  dataLen = 0;
  /** MSS option, or -1. */
  mss = -1;
  /** Window-scale shift option, or -1. */
  wscale = -1;
  sackPermitted = false;
  /** SACK blocks as [left, right) pairs. */
  readonly sack: number[] = [];
}

/** Wire views reused for every received segment (no allocation per packet). */
const rxView = TcpSegment.empty();
const rxOptions = new TcpOptions();

/**
 * Parses the TCP header at `buf[off..off+len)` into `seg` with the views of `@l3kit/wire`.
 * Returns false when the header is malformed (data offset out of range, bad option lengths).
 * Does not check the checksum.
 */
export function parseTcp(buf: Uint8Array, off: number, len: number, seg: RxSegment): boolean {
  if (!rxView.rebind(buf, off, off + len) || !rxOptions.parse(rxView)) return false;
  seg.srcPort = rxView.srcPort;
  seg.dstPort = rxView.dstPort;
  seg.seq = rxView.seq;
  seg.ack = rxView.ack;
  seg.flags = rxView.flags & 0x3f;
  seg.window = rxView.window;
  seg.buf = buf;
  seg.dataOff = off + rxView.headerLen;
  seg.dataLen = len - rxView.headerLen;
  seg.mss = rxOptions.mss;
  seg.wscale = rxOptions.windowScale < 0 ? -1 : Math.min(rxOptions.windowScale, 14);
  seg.sackPermitted = rxOptions.sackPermitted;
  seg.sack.length = 0;
  for (let k = 0; k < 2 * rxOptions.sackBlockCount; k++) seg.sack.push(rxOptions.sackBlocks[k]);
  return true;
}

/** Options to put on an outbound segment. */
export interface TxOptions {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left, right) pairs (at most 4 blocks). */
  sack?: number[];
}

/** Bytes the options take (padded to a multiple of 4). */
export function tcpOptionsLen(o: TxOptions | undefined): number {
  if (!o) return 0;
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.wscale !== undefined) n += 4; // NOP + 3
  if (o.sackPermitted) n += 4; // NOP NOP + 2
  if (o.sack && o.sack.length > 0) n += 4 + 4 * o.sack.length; // NOP NOP kind len + 8 per block
  return n;
}

/**
 * Writes a TCP header (checksum zero; the caller fills it after the payload is in place) with
 * options at `buf[off..]`. Returns the header length.
 */
export function writeTcpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  o: TxOptions | undefined,
): number {
  const hl = TCP_HEADER_LEN + tcpOptionsLen(o);
  buf[off + SRC_PORT] = srcPort >>> 8;
  buf[off + SRC_PORT + 1] = srcPort & 0xff;
  buf[off + DST_PORT] = dstPort >>> 8;
  buf[off + DST_PORT + 1] = dstPort & 0xff;
  write32(buf, off + SEQ, seq);
  write32(buf, off + ACK_NUM, ack);
  buf[off + DATA_OFF] = (hl >> 2) << 4;
  buf[off + FLAGS] = flags;
  buf[off + WINDOW] = window >>> 8;
  buf[off + WINDOW + 1] = window & 0xff;
  buf[off + TCP_CHECKSUM_OFF] = 0;
  buf[off + TCP_CHECKSUM_OFF + 1] = 0;
  buf[off + URGENT] = 0;
  buf[off + URGENT + 1] = 0;
  if (o) {
    let i = off + TCP_HEADER_LEN;
    if (o.mss !== undefined) {
      buf[i++] = OPT_MSS;
      buf[i++] = 4;
      buf[i++] = o.mss >>> 8;
      buf[i++] = o.mss & 0xff;
    }
    if (o.wscale !== undefined) {
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_WSCALE;
      buf[i++] = 3;
      buf[i++] = o.wscale;
    }
    if (o.sackPermitted) {
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_SACK_PERMITTED;
      buf[i++] = 2;
    }
    if (o.sack && o.sack.length > 0) {
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_SACK;
      buf[i++] = 2 + 4 * o.sack.length;
      for (const v of o.sack) {
        write32(buf, i, v);
        i += 4;
      }
    }
  }
  return hl;
}

function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
