/**
 * TPKT (RFC 1006 §6): the 4-byte framing H.323 uses for Q.931 on TCP 1720 and for H.245 on its
 * own TCP connection.
 *
 * ```
 *  0        8        16               31
 * +--------+--------+-----------------+
 * |  vrsn  |reserved|  packet length  |   vrsn = 3, length includes this header
 * +--------+--------+-----------------+
 * ```
 */

/** TPKT version (RFC 1006). */
export const TPKT_VERSION = 3;
/** TPKT header length. */
export const TPKT_HEADER_LEN = 4;

/**
 * Length of the TPKT that starts at `b[off]` (header included) when its first `avail` bytes look
 * like a TPKT header; -1 when they do not; 0 when fewer than 4 bytes are available.
 */
export function tpktLength(b: Uint8Array, off: number, avail: number): number {
  if (avail < 1) return 0;
  if (b[off] !== TPKT_VERSION) return -1;
  if (avail < 2) return 0;
  if (b[off + 1] !== 0) return -1;
  if (avail < TPKT_HEADER_LEN) return 0;
  const len = (b[off + 2] << 8) | b[off + 3];
  return len <= TPKT_HEADER_LEN ? -1 : len;
}

/** Wraps `payload` in a TPKT header. Throws a RangeError when it does not fit (65531 bytes). */
export function buildTpkt(payload: Uint8Array): Uint8Array {
  const len = payload.length + TPKT_HEADER_LEN;
  if (len > 0xffff) throw new RangeError('TPKT payload too long');
  const out = new Uint8Array(len);
  out[0] = TPKT_VERSION;
  out[2] = len >>> 8;
  out[3] = len & 0xff;
  out.set(payload, TPKT_HEADER_LEN);
  return out;
}
