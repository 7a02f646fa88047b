/**
 * Big-endian field access and range checks shared by the PCP and NAT-PMP encoders (module
 * internal; not exported from the package).
 */

/** Writes a 16-bit big-endian value. */
export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

/** Writes a 32-bit big-endian value. */
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Reads a 16-bit big-endian value. */
export function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** Reads a 32-bit big-endian value (unsigned). */
export function get32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Throws `RangeError` (`"<protocol> <name> must be 0..max"`) unless `v` is an integer in 0..max. */
export function checkField(protocol: string, name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`${protocol} ${name} must be 0..${max}, got ${v}`);
}
