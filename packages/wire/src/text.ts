/**
 * Latin-1 text ⇄ bytes, one byte per character: the encoding of the text protocols that carry
 * addresses (FTP, IRC, SIP headers), as read and rewritten by helpers.
 */

/** The Latin-1 text of `b[off..end)`. */
export function latin1(b: Uint8Array, off = 0, end = b.length): string {
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** The Latin-1 bytes of `s`; throws `RangeError` for a character above U+00FF. */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff)
      throw new RangeError(`latin1Bytes: character U+${c.toString(16).padStart(4, '0')} is not Latin-1`);
    out[i] = c;
  }
  return out;
}
