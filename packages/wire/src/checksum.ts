/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Names say what they return:
 * - `…Sum` functions return an *unfolded, uncomplemented* running sum (a plain number that may
 *   exceed 16 bits); pass it on as `acc` to keep summing.
 * - {@link foldSum} folds a running sum to 16 bits, still uncomplemented.
 * - {@link finishChecksum} folds and complements: the value to write into a header.
 * - `update…` functions take a checksum as found in a header (complemented) and return the new
 *   header value, per RFC 1624 equation 3: `HC' = ~(~HC + ~m + m')`.
 */

/**
 * Adds the bytes `b[off .. off+len)` as big-endian 16-bit words to `acc` (an odd last byte is
 * padded with zero). Returns the unfolded sum. Unrolled: this is the full-recompute fast path.
 */
export function onesSum(b: Uint8Array, off: number, len: number, acc = 0): number {
  let s = acc;
  let i = off;
  const end = off + len;
  const end16 = end - 15;
  // 16 bytes per iteration; a double holds the sum exactly (< 2^53) for any IP packet.
  while (i < end16) {
    s +=
      ((b[i] << 8) | b[i + 1]) +
      ((b[i + 2] << 8) | b[i + 3]) +
      ((b[i + 4] << 8) | b[i + 5]) +
      ((b[i + 6] << 8) | b[i + 7]) +
      ((b[i + 8] << 8) | b[i + 9]) +
      ((b[i + 10] << 8) | b[i + 11]) +
      ((b[i + 12] << 8) | b[i + 13]) +
      ((b[i + 14] << 8) | b[i + 15]);
    i += 16;
  }
  const end2 = end - 1;
  while (i < end2) {
    s += (b[i] << 8) | b[i + 1];
    i += 2;
  }
  if (i < end) s += b[i] << 8;
  return s;
}

/** Folds a running sum to 16 bits (end-around carry). Not complemented. */
export function foldSum(acc: number): number {
  let s = acc;
  // Bit operations for sums below 2^32 (every incremental update); division only beyond that.
  while (s > 0xffff)
    s = s < 0x100000000 ? (s & 0xffff) + (s >>> 16) : (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** Folds and complements a running sum: the checksum value to store in a header. */
export function finishChecksum(acc: number): number {
  return ~foldSum(acc) & 0xffff;
}

/** The complemented checksum of `b[off .. off+len)`, ready to store. */
export function checksum(b: Uint8Array, off: number, len: number): number {
  return finishChecksum(onesSum(b, off, len, 0));
}

/**
 * Running sum of the IPv4 pseudo-header (RFC 793 / 768): source and destination read from the
 * IPv4 header at `ipOff`, protocol `proto`, and transport length `l4Len`.
 */
export function pseudoHeaderSum4(b: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return onesSum(b, ipOff + 12, 8, 0) + proto + l4Len;
}

/**
 * Running sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses from the IPv6 header at
 * `ipOff`, upper-layer length `l4Len` and next header `proto`.
 */
export function pseudoHeaderSum6(b: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return onesSum(b, ipOff + 8, 32, 0) + (l4Len >>> 16) + (l4Len & 0xffff) + proto;
}

/**
 * RFC 1624 eqn. 3 for one 16-bit field: header checksum `hc` after a field changes from `oldWord`
 * to `newWord`. Returns the new header checksum (complemented form).
 */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  const s = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(s) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address, a TCP sequence number) from `oldVal` to `newVal`. */
export function updateChecksum32(hc: number, oldVal: number, newVal: number): number {
  const s =
    (~hc & 0xffff) +
    (~(oldVal >>> 16) & 0xffff) +
    (~oldVal & 0xffff) +
    ((newVal >>> 16) & 0xffff) +
    (newVal & 0xffff);
  return ~foldSum(s) & 0xffff;
}

/**
 * RFC 1624 for a run of bytes (an IPv6 address): `oldB[oldOff..+len)` replaced by
 * `newB[newOff..+len)`; `len` must be even.
 */
export function updateChecksumBytes(
  hc: number,
  oldB: Uint8Array,
  oldOff: number,
  newB: Uint8Array,
  newOff: number,
  len: number,
): number {
  let s = ~hc & 0xffff;
  for (let i = 0; i < len; i += 2) {
    s +=
      (~((oldB[oldOff + i] << 8) | oldB[oldOff + i + 1]) & 0xffff) +
      ((newB[newOff + i] << 8) | newB[newOff + i + 1]);
  }
  return ~foldSum(s) & 0xffff;
}

/** Reads the 16-bit checksum stored at `b[off]`. */
export function readChecksum(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Writes a 16-bit checksum at `b[off]`. */
export function writeChecksum(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v & 0xff;
}

/**
 * In place: the 16-bit field at `fieldOff` becomes `newWord` and the checksum at `ckOff` is
 * updated incrementally. Returns the old field value.
 */
export function rewrite16(b: Uint8Array, fieldOff: number, newWord: number, ckOff: number): number {
  const old = (b[fieldOff] << 8) | b[fieldOff + 1];
  b[fieldOff] = newWord >>> 8;
  b[fieldOff + 1] = newWord & 0xff;
  writeChecksum(b, ckOff, updateChecksum16(readChecksum(b, ckOff), old, newWord));
  return old;
}
