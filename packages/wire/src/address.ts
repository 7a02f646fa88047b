/**
 * IP addresses and prefixes as bytes. IPv4 addresses also have a numeric (uint32) form, which is
 * what flow tables key on. Parsing and formatting are for configuration and printing, not for the
 * per-packet path.
 */

/** Reads the IPv4 address at `off` as an unsigned 32-bit number. */
export function readIpv4(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Writes the unsigned 32-bit IPv4 address `v` at `off`. */
export function writeIpv4(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** Dotted-quad text of a numeric IPv4 address. */
export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** Parses dotted-quad text to a numeric IPv4 address, or returns `null` when it is not one. */
export function parseIpv4(s: string): number | null {
  // One pass over the characters (no split, no regex): helpers parse addresses per rewrite.
  const n = s.length;
  if (n < 7 || n > 15) return null;
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || octet > 255) return null;
      v = v * 256 + octet;
      octet = 0;
      digits = 0;
      if (i < n && ++dots > 3) return null;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return null; // a leading zero (ambiguous: octal in inet_aton)
      if (++digits > 3) return null;
      octet = octet * 10 + (c - 48);
    } else return null;
  }
  return dots === 3 ? v >>> 0 : null;
}

/** Parses IPv6 text (with `::` and an optional dotted-quad tail) to 16 bytes, or `null`. */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.includes('%')) s = s.slice(0, s.indexOf('%'));
  const out = new Uint8Array(16);
  let tail4: number | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    tail4 = parseIpv4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  const groups = head.length + tail.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) return null;
  const words: number[] = [];
  for (const g of head) words.push(hex16(g));
  if (halves.length === 2) for (let i = groups; i < 8; i++) words.push(0);
  for (const g of tail) words.push(hex16(g));
  for (let i = 0; i < 8; i++) {
    if (words[i] < 0) return null;
    out[i * 2] = words[i] >> 8;
    out[i * 2 + 1] = words[i] & 0xff;
  }
  if (tail4 !== null) writeIpv4(out, 12, tail4);
  return out;
}

function hex16(g: string): number {
  if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return -1;
  return Number.parseInt(g, 16);
}

/** RFC 5952 text of the 16-byte IPv6 address at `off` (lower case, longest zero run as `::`). */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[off + i * 2] << 8) | b[off + i * 2 + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexw = (x: number) => x.toString(16);
  if (bestStart < 0) return w.map(hexw).join(':');
  return `${w.slice(0, bestStart).map(hexw).join(':')}::${w
    .slice(bestStart + bestLen)
    .map(hexw)
    .join(':')}`;
}

/** Parses IPv4 or IPv6 text to 4 or 16 bytes, or returns `null`. */
export function parseIp(s: string): Uint8Array | null {
  const v4 = parseIpv4(s);
  if (v4 !== null) {
    const b = new Uint8Array(4);
    writeIpv4(b, 0, v4);
    return b;
  }
  return parseIpv6(s);
}

/** Text of a 4- or 16-byte address. */
export function formatIp(b: Uint8Array): string {
  return b.length === 4 ? formatIpv4(readIpv4(b, 0)) : formatIpv6(b, 0);
}

/** Compares `len` bytes of two addresses. */
export function ipEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/**
 * An IP address with a prefix length, e.g. `192.168.1.1/24` (an interface address and its
 * network) or `2001:db8::/32`. Immutable.
 */
export class Prefix {
  /** 4 or 16 bytes, as given (host bits kept: `192.168.1.1/24` keeps `.1`). */
  readonly ip: Uint8Array;
  readonly bits: number;
  readonly version: 4 | 6;

  constructor(ip: Uint8Array, bits: number) {
    if (ip.length !== 4 && ip.length !== 16)
      throw new RangeError(`Prefix: address must be 4 or 16 bytes, got ${ip.length}`);
    const max = ip.length * 8;
    if (!Number.isInteger(bits) || bits < 0 || bits > max)
      throw new RangeError(`Prefix: bits must be 0..${max}, got ${bits}`);
    this.ip = Uint8Array.from(ip);
    this.bits = bits;
    this.version = ip.length === 4 ? 4 : 6;
  }

  /** Parses `addr/len` (or a bare address, taken as a host prefix). Throws `RangeError` on bad text. */
  static parse(text: string): Prefix {
    const r = Prefix.tryParse(text);
    if (!r) throw new RangeError(`not an IP prefix: ${JSON.stringify(text)}`);
    return r;
  }

  /** Like {@link Prefix.parse} but returns `null` on bad text. */
  static tryParse(text: string): Prefix | null {
    const slash = text.indexOf('/');
    const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
    if (!ip) return null;
    let bits = ip.length * 8;
    if (slash >= 0) {
      const t = text.slice(slash + 1);
      if (!/^\d{1,3}$/.test(t)) return null;
      bits = Number(t);
      if (bits > ip.length * 8) return null;
    }
    return new Prefix(ip, bits);
  }

  /** The IPv4 address as a uint32 (only for version 4). */
  get ipv4(): number {
    return readIpv4(this.ip, 0);
  }

  /** The network mask of an IPv4 prefix as a uint32. */
  get mask4(): number {
    return this.bits === 0 ? 0 : (0xffffffff << (32 - this.bits)) >>> 0;
  }

  /** Whether the address at `b[off..]` (of this prefix's family) lies inside the prefix. */
  containsBytes(b: Uint8Array, off = 0): boolean {
    const full = this.bits >> 3;
    for (let i = 0; i < full; i++) if (b[off + i] !== this.ip[i]) return false;
    const rem = this.bits & 7;
    if (rem === 0) return true;
    const m = (0xff << (8 - rem)) & 0xff;
    return (b[off + full] & m) === (this.ip[full] & m);
  }

  /** Whether `addr` (text or bytes) lies inside the prefix; false for the other family. */
  contains(addr: string | Uint8Array): boolean {
    const b = typeof addr === 'string' ? parseIp(addr) : addr;
    if (!b || b.length !== this.ip.length) return false;
    return this.containsBytes(b, 0);
  }

  /** The network address (host bits cleared). */
  network(): Prefix {
    const ip = Uint8Array.from(this.ip);
    for (let i = 0; i < ip.length; i++) {
      const keep = Math.max(0, Math.min(8, this.bits - i * 8));
      ip[i] &= (0xff << (8 - keep)) & 0xff;
    }
    return new Prefix(ip, this.bits);
  }

  /** The address alone, as text. */
  address(): string {
    return formatIp(this.ip);
  }

  toString(): string {
    return `${formatIp(this.ip)}/${this.bits}`;
  }

  toJSON(): string {
    return this.toString();
  }
}
