/**
 * ASN.1 aligned PER (ITU-T X.691, BASIC-PER ALIGNED) for the H.323 ALG: a schema-driven decoder
 * that records the exact byte offsets of the IPv4 transport addresses it meets, and its mirror
 * encoder (used to build realistic messages in tests and tools).
 *
 * Only the constructs H.225.0 and H.245 use on the way to their TransportAddress fields are
 * supported: SEQUENCE (optional bitmap, extension additions as open types), CHOICE (root index,
 * extension alternatives as open types), SEQUENCE OF, constrained INTEGER, BOOLEAN, NULL,
 * OCTET STRING (optionally containing a PER-encoded type), known-multiplier character strings
 * and OBJECT IDENTIFIER. Extension additions and alternatives the schema does not model are
 * skipped by their length. Fragmented lengths (≥ 16384) are rejected.
 */

import { L3kitError } from '@l3kit/core';

/**
 * Why a PER decode or encode failed: malformed or truncated input to {@link perDecode}, a value
 * that does not fit its type in {@link perEncode}. Code `ERR_PER`. The helpers catch it and count
 * a parse error.
 */
export class PerError extends L3kitError {
  constructor(message: string) {
    super('ERR_PER', message);
    this.name = 'PerError';
  }
}

/** Thrown by a `stop` type: nothing after this point is of interest. */
class PerStop {}
const STOP = new PerStop();

// ------------------------------------------------------------------------------------- schema

/** A field of a SEQUENCE. Extension additions are always presence-flagged. */
export interface AsnField {
  readonly name: string;
  readonly type: AsnType;
  readonly optional?: boolean;
}

/** An alternative of a CHOICE. */
export interface AsnAlt {
  readonly name: string;
  readonly type: AsnType;
}

/** The supported ASN.1 types (aligned PER). */
export type AsnType =
  | {
      readonly t: 'seq';
      readonly ext: boolean;
      readonly fields: readonly AsnField[];
      readonly adds: readonly AsnField[];
      /** `ip` (4 octets) + `port` (0..65535) pair: record it as an IPv4 transport address. */
      readonly addr?: boolean;
    }
  | {
      readonly t: 'choice';
      readonly ext: boolean;
      readonly alts: readonly AsnAlt[];
      readonly adds: readonly AsnAlt[];
    }
  | { readonly t: 'seqof'; readonly of: AsnType; readonly lb?: number; readonly ub?: number }
  | { readonly t: 'int'; readonly lb: number; readonly ub: number }
  | { readonly t: 'bool' }
  | { readonly t: 'null' }
  | { readonly t: 'octets'; readonly lb?: number; readonly ub?: number; readonly contains?: AsnType }
  | {
      readonly t: 'str';
      /** Bits per character in aligned PER (4, 8 or 16). */
      readonly bits: number;
      readonly lb?: number;
      readonly ub?: number;
      /** Permitted alphabet; characters are then encoded as indexes when needed (X.691 30.5.4). */
      readonly alphabet?: string;
    }
  | { readonly t: 'oid' }
  /** An extension addition or alternative kept as its raw open-type contents. */
  | { readonly t: 'opaque' }
  /** A root alternative that ends decoding (nothing of interest follows); cannot be encoded. */
  | { readonly t: 'stop' };

/** SEQUENCE builder: `seq(ext, fields, adds)`. */
export function seq(ext: boolean, fields: AsnField[], adds: AsnField[] = []): AsnType {
  return { t: 'seq', ext, fields, adds };
}
/** The SEQUENCE { ip OCTET STRING (SIZE(4)), port INTEGER (0..65535) [, ...] } that carries an IPv4 address. */
export function addrSeq(ext: boolean, ipName: string, portName: string): AsnType {
  return {
    t: 'seq',
    ext,
    fields: [F(ipName, octets(4, 4)), F(portName, int(0, 65535))],
    adds: [],
    addr: true,
  };
}
/** CHOICE builder. */
export function choice(
  ext: boolean,
  alts: Array<[string, AsnType]>,
  adds: Array<[string, AsnType]> = [],
): AsnType {
  return {
    t: 'choice',
    ext,
    alts: alts.map(([name, type]) => ({ name, type })),
    adds: adds.map(([name, type]) => ({ name, type })),
  };
}
/** A mandatory field. */
export function F(name: string, type: AsnType): AsnField {
  return { name, type };
}
/** An OPTIONAL field (or an extension addition). */
export function O(name: string, type: AsnType): AsnField {
  return { name, type, optional: true };
}
/** SEQUENCE OF with an optional SIZE constraint. */
export function seqOf(of: AsnType, lb?: number, ub?: number): AsnType {
  return { t: 'seqof', of, lb, ub };
}
/** Constrained INTEGER (lb..ub). */
export function int(lb: number, ub: number): AsnType {
  return { t: 'int', lb, ub };
}
/** OCTET STRING with an optional SIZE constraint. */
export function octets(lb?: number, ub?: number): AsnType {
  return { t: 'octets', lb, ub };
}
/** OCTET STRING whose contents are the PER encoding of `type` (fastStart, h245Control). */
export function containing(type: AsnType): AsnType {
  return { t: 'octets', contains: type };
}
/** Known-multiplier character string. */
export function str(bits: number, lb?: number, ub?: number, alphabet?: string): AsnType {
  return { t: 'str', bits, lb, ub, alphabet };
}
/** BOOLEAN. */
export const BOOL: AsnType = { t: 'bool' };
/** NULL. */
export const NULL: AsnType = { t: 'null' };
/** OBJECT IDENTIFIER. */
export const OID: AsnType = { t: 'oid' };
/** An opaque extension (kept as raw bytes). */
export const OPAQUE: AsnType = { t: 'opaque' };
/** A root alternative that stops decoding. */
export const STOP_TYPE: AsnType = { t: 'stop' };
/** `n` mandatory BOOLEAN fields with the given names. */
export function bools(...names: string[]): AsnField[] {
  return names.map((n) => F(n, BOOL));
}

// ----------------------------------------------------------------------------------- values

/**
 * A decoded (or to-be-encoded) value: SEQUENCE → object (absent OPTIONAL fields `undefined`),
 * CHOICE → an object with one key (the alternative's name; `{ $ext: index, raw }` for an
 * unknown extension alternative), SEQUENCE OF → array, INTEGER → number, BOOLEAN → boolean,
 * NULL → null, OCTET STRING / opaque → Uint8Array (or the contained value), string → string,
 * OBJECT IDENTIFIER → number[] (arcs).
 */
export type AsnValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | AsnValue[]
  | { [key: string]: AsnValue | undefined };

/** An IPv4 transport address found while decoding. */
export interface AddressHit {
  /** Dotted path of the field (`setup.h245Address.ipAddress`). */
  readonly path: string;
  /** Byte offset of the 4 address bytes in the decoded buffer; the port follows at `ipOff + 4`. */
  readonly ipOff: number;
  readonly ip: number;
  readonly port: number;
}

/** The result of {@link perDecode}. */
export interface PerDecodeResult {
  value: AsnValue | undefined;
  /** Every IPv4 transport address met, in encoding order. */
  hits: AddressHit[];
  /** False when decoding ended at a `stop` type (the value is then partial). */
  complete: boolean;
  /** Bits consumed (the encoding is `ceil(bits / 8)` bytes). */
  bits: number;
}

// ----------------------------------------------------------------------------------- reader

/** A bit reader over `buf[start, end)` with absolute bit positions. */
export class PerReader {
  /** Absolute bit position in `buf`. */
  pos: number;
  private readonly endBit: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    end: number,
  ) {
    if (start < 0 || end > buf.length || start > end) throw new PerError('bad range');
    this.pos = start * 8;
    this.endBit = end * 8;
  }
  /** Bits left. */
  get remaining(): number {
    return this.endBit - this.pos;
  }
  /** Reads `n` (≤ 32) bits, most significant first. */
  bits(n: number): number {
    if (n === 0) return 0;
    if (this.pos + n > this.endBit) throw new PerError('truncated');
    let v = 0;
    let p = this.pos;
    let left = n;
    while (left > 0) {
      const used = p & 7;
      const take = Math.min(8 - used, left);
      v = v * (1 << take) + ((this.buf[p >>> 3] >>> (8 - used - take)) & ((1 << take) - 1));
      p += take;
      left -= take;
    }
    this.pos = p;
    return v;
  }
  /** Skips to the next octet boundary. */
  align(): void {
    this.pos = (this.pos + 7) & ~7;
    if (this.pos > this.endBit) throw new PerError('truncated');
  }
  /** Byte offset (must be aligned). */
  byteOff(): number {
    return this.pos >>> 3;
  }
  /** Consumes `n` aligned octets; returns their byte offset. */
  octets(n: number): number {
    this.align();
    const off = this.pos >>> 3;
    if (this.pos + n * 8 > this.endBit) throw new PerError('truncated');
    this.pos += n * 8;
    return off;
  }
  /** Constrained whole number lb..ub (X.691 11.5.7, aligned variant). */
  constrained(lb: number, ub: number): number {
    const range = ub - lb + 1;
    if (range <= 1) return lb;
    let v: number;
    if (range <= 255) v = this.bits(bitsFor(range - 1));
    else if (range === 256) {
      this.align();
      v = this.bits(8);
    } else if (range <= 65536) {
      this.align();
      v = this.bits(16);
    } else {
      const len = this.bits(bitsFor(octetsFor(range - 1) - 1)) + 1;
      this.align();
      v = this.bits(8 * len);
    }
    const r = lb + v;
    if (r > ub) throw new PerError('integer out of range');
    return r;
  }
  /** Unconstrained length determinant (X.691 11.9.3.5–8, no fragmentation). */
  length(): number {
    this.align();
    const b = this.bits(8);
    if ((b & 0x80) === 0) return b;
    if ((b & 0xc0) === 0x80) return ((b & 0x3f) << 8) | this.bits(8);
    throw new PerError('fragmented length not supported');
  }
  /** Length with an optional SIZE constraint. */
  sizedLength(lb: number | undefined, ub: number | undefined): number {
    if (ub !== undefined && ub < 65536) {
      const l = lb ?? 0;
      return this.constrained(l, ub);
    }
    const n = this.length();
    if (lb !== undefined && n < lb) throw new PerError('size below constraint');
    return n;
  }
  /** Normally small non-negative whole number (X.691 11.6). */
  smallNumber(): number {
    if (this.bits(1) === 0) return this.bits(6);
    const len = this.length();
    if (len < 1 || len > 4) throw new PerError('bad small number');
    return this.bits(8 * len);
  }
}

// ----------------------------------------------------------------------------------- writer

/** A growable bit writer. */
export class PerWriter {
  private buf = new Uint8Array(64);
  /** Bits written. */
  pos = 0;
  private ensure(bits: number): void {
    const need = (this.pos + bits + 7) >>> 3;
    if (need <= this.buf.length) return;
    const nb = new Uint8Array(Math.max(need, this.buf.length * 2));
    nb.set(this.buf);
    this.buf = nb;
  }
  /** Writes the low `n` bits of `v`, most significant first. */
  bits(v: number, n: number): void {
    this.ensure(n);
    for (let i = n - 1; i >= 0; i--) {
      const bit = Math.floor(v / 2 ** i) % 2;
      if (bit) this.buf[this.pos >>> 3] |= 0x80 >>> (this.pos & 7);
      this.pos++;
    }
  }
  /** Pads with zero bits to the next octet boundary. */
  align(): void {
    this.ensure(8);
    this.pos = (this.pos + 7) & ~7;
  }
  /** Writes aligned octets. */
  octets(b: Uint8Array): void {
    this.align();
    this.ensure(b.length * 8);
    this.buf.set(b, this.pos >>> 3);
    this.pos += b.length * 8;
  }
  /** Mirror of {@link PerReader.constrained}. */
  constrained(v: number, lb: number, ub: number): void {
    if (!Number.isInteger(v) || v < lb || v > ub) throw new PerError(`integer ${v} outside ${lb}..${ub}`);
    const range = ub - lb + 1;
    const x = v - lb;
    if (range <= 1) return;
    if (range <= 255) this.bits(x, bitsFor(range - 1));
    else if (range === 256) {
      this.align();
      this.bits(x, 8);
    } else if (range <= 65536) {
      this.align();
      this.bits(x, 16);
    } else {
      const len = Math.max(1, octetsFor(x));
      this.bits(len - 1, bitsFor(octetsFor(range - 1) - 1));
      this.align();
      this.bits(x, 8 * len);
    }
  }
  /** Mirror of {@link PerReader.length}. */
  length(n: number): void {
    this.align();
    if (n < 128) this.bits(n, 8);
    else if (n < 16384) this.bits(0x8000 | n, 16);
    else throw new PerError('fragmented length not supported');
  }
  /** Mirror of {@link PerReader.sizedLength}. */
  sizedLength(n: number, lb: number | undefined, ub: number | undefined): void {
    if ((lb !== undefined && n < lb) || (ub !== undefined && n > ub))
      throw new PerError(`size ${n} outside its constraint`);
    if (ub !== undefined && ub < 65536) this.constrained(n, lb ?? 0, ub);
    else this.length(n);
  }
  /** Mirror of {@link PerReader.smallNumber}. */
  smallNumber(n: number): void {
    if (n < 64) {
      this.bits(0, 1);
      this.bits(n, 6);
    } else {
      this.bits(1, 1);
      const len = Math.max(1, octetsFor(n));
      this.length(len);
      this.bits(n, 8 * len);
    }
  }
  /** The bytes written (padded to an octet). */
  finish(): Uint8Array {
    return this.buf.slice(0, (this.pos + 7) >>> 3);
  }
}

/** Bits needed for 0..maxValue (maxValue < 2^32). */
function bitsFor(maxValue: number): number {
  return maxValue <= 0 ? 0 : 32 - Math.clz32(maxValue);
}
/** Octets needed for 0..maxValue (at least 1). */
function octetsFor(maxValue: number): number {
  return maxValue < 0x100 ? 1 : maxValue < 0x10000 ? 2 : maxValue < 0x1000000 ? 3 : 4;
}

// ----------------------------------------------------------------------------------- decode

const MAX_DEPTH = 64;

class Decoder {
  readonly hits: AddressHit[] = [];
  private readonly path: string[] = [];
  private depth = 0;
  /**
   * @param values build the decoded value (false: only walk the encoding and record the
   * addresses, without allocating the value tree)
   */
  constructor(
    readonly r: PerReader,
    private readonly values: boolean,
  ) {}

  value(type: AsnType): AsnValue {
    if (++this.depth > MAX_DEPTH) throw new PerError('nesting too deep');
    try {
      return this.decodeType(type);
    } finally {
      this.depth--;
    }
  }

  private decodeType(type: AsnType): AsnValue {
    const r = this.r;
    switch (type.t) {
      case 'seq':
        return this.sequence(type);
      case 'choice':
        return this.choiceValue(type);
      case 'seqof': {
        const n = r.sizedLength(type.lb, type.ub);
        const out: AsnValue[] | null = this.values ? [] : null;
        for (let i = 0; i < n; i++) {
          this.path.push(String(i));
          const v = this.value(type.of);
          this.path.pop();
          if (out) out.push(v);
        }
        return out;
      }
      case 'int':
        return r.constrained(type.lb, type.ub);
      case 'bool':
        return r.bits(1) === 1;
      case 'null':
        return null;
      case 'octets':
        return this.octetString(type);
      case 'str':
        return this.charString(type);
      case 'oid': {
        const n = r.length();
        const off = r.octets(n);
        const arcs = decodeOidArcs(r.buf, off, n); // validated either way
        return this.values ? arcs : null;
      }
      case 'opaque':
        throw new PerError('opaque type outside an open type');
      case 'stop':
        throw STOP;
    }
  }

  private sequence(type: Extract<AsnType, { t: 'seq' }>): AsnValue {
    const r = this.r;
    const extBit = type.ext ? r.bits(1) : 0;
    let nOpt = 0;
    for (const f of type.fields) if (f.optional) nOpt++;
    if (nOpt > 30) throw new PerError('too many OPTIONAL fields');
    const present = r.bits(nOpt);
    const out: { [key: string]: AsnValue | undefined } | null = this.values ? {} : null;
    let bit = nOpt - 1;
    let ipOff = -1;
    for (const f of type.fields) {
      if (f.optional && ((present >>> bit--) & 1) === 0) {
        if (out) out[f.name] = undefined;
        continue;
      }
      this.path.push(f.name);
      const v = this.value(f.type);
      this.path.pop();
      if (out) out[f.name] = v;
      if (type.addr && ipOff < 0) ipOff = r.byteOff() - 4;
    }
    if (type.addr) {
      // ip: 4 aligned octets at ipOff; port: INTEGER (0..65535), the 2 aligned octets after it.
      const b = r.buf;
      this.hits.push({
        path: this.path.join('.'),
        ipOff,
        ip: ((b[ipOff] << 24) | (b[ipOff + 1] << 16) | (b[ipOff + 2] << 8) | b[ipOff + 3]) >>> 0,
        port: (b[ipOff + 4] << 8) | b[ipOff + 5],
      });
    }
    if (extBit) this.additions(type.adds, out);
    return out;
  }

  private additions(adds: readonly AsnField[], out: { [key: string]: AsnValue | undefined } | null): void {
    const r = this.r;
    const n = r.smallNumber() + 1;
    const flagsAt = r.pos;
    r.pos += n;
    if (r.remaining < 0) throw new PerError('truncated');
    for (let i = 0; i < n; i++) {
      const p = flagsAt + i;
      if (((r.buf[p >>> 3] >>> (7 - (p & 7))) & 1) === 0) continue;
      const f = adds[i];
      const v = this.openType(f?.type ?? OPAQUE, f?.name ?? `$add${i}`);
      if (f && out) out[f.name] = v;
    }
  }

  private choiceValue(type: Extract<AsnType, { t: 'choice' }>): AsnValue {
    const r = this.r;
    if (type.ext && r.bits(1) === 1) {
      const idx = r.smallNumber();
      const alt = type.adds[idx];
      if (!alt) {
        const raw = this.openType(OPAQUE, `$ext${idx}`);
        return this.values ? { $ext: idx, raw } : null;
      }
      const v = this.openType(alt.type, alt.name);
      return this.values ? { [alt.name]: v } : null;
    }
    const idx = r.constrained(0, type.alts.length - 1);
    const alt = type.alts[idx];
    this.path.push(alt.name);
    const v = this.value(alt.type);
    this.path.pop();
    return this.values ? { [alt.name]: v } : null;
  }

  /** An open type: length + octets holding a complete encoding of `type`. */
  private openType(type: AsnType, name: string): AsnValue {
    const r = this.r;
    const n = r.length();
    const off = r.octets(n);
    if (type.t === 'opaque') return this.values ? r.buf.subarray(off, off + n) : null;
    this.path.push(name);
    try {
      return this.nested(type, off, n);
    } finally {
      this.path.pop();
    }
  }

  /** Decodes `type` from `buf[off, off+n)` with a sub-reader, sharing hits and path. */
  private nested(type: AsnType, off: number, n: number): AsnValue {
    const outer = this.r;
    const sub = new Decoder(new PerReader(outer.buf, off, off + n), this.values);
    sub.path.push(...this.path);
    sub.depth = this.depth;
    try {
      return sub.value(type);
    } finally {
      this.hits.push(...sub.hits);
    }
  }

  private octetString(type: Extract<AsnType, { t: 'octets' }>): AsnValue {
    const r = this.r;
    const { lb, ub } = type;
    if (lb !== undefined && lb === ub) {
      if (lb === 0) return this.values ? new Uint8Array(0) : null;
      if (lb <= 2) {
        const v = new Uint8Array(lb);
        for (let i = 0; i < lb; i++) v[i] = r.bits(8);
        return this.values ? v : null;
      }
      const off = r.octets(lb);
      return this.values ? r.buf.subarray(off, off + lb) : null;
    }
    const n = r.sizedLength(lb, ub);
    const off = r.octets(n);
    if (type.contains) return this.nested(type.contains, off, n);
    return this.values ? r.buf.subarray(off, off + n) : null;
  }

  private charString(type: Extract<AsnType, { t: 'str' }>): AsnValue {
    const r = this.r;
    const n = type.lb !== undefined && type.lb === type.ub ? type.lb : r.sizedLength(type.lb, type.ub);
    if (type.ub === undefined || type.ub * type.bits > 16) r.align();
    const alpha = canonicalAlphabet(type);
    if (!this.values) {
      // Characters outside the alphabet are still an error: check them without building the string.
      for (let i = 0; i < n; i++)
        if (alpha && r.bits(type.bits) >= alpha.length)
          throw new PerError('character outside the permitted alphabet');
      if (!alpha) {
        if (r.remaining < n * type.bits) throw new PerError('truncated');
        r.pos += n * type.bits;
      }
      return null;
    }
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = r.bits(type.bits);
      if (alpha) {
        if (c >= alpha.length) throw new PerError('character outside the permitted alphabet');
        s += alpha[c];
      } else s += String.fromCharCode(c);
    }
    return s;
  }
}

const alphabets = new WeakMap<object, string | null>();

function canonicalAlphabet(type: Extract<AsnType, { t: 'str' }>): string | null {
  if (!type.alphabet) return null;
  const cached = alphabets.get(type);
  if (cached !== undefined) return cached;
  const v = sortedAlphabet(type.alphabet, type.bits);
  alphabets.set(type, v);
  return v;
}

function sortedAlphabet(alphabet: string, bits: number): string | null {
  const sorted = [...alphabet].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
  const maxCode = sorted[sorted.length - 1].charCodeAt(0);
  return maxCode <= 2 ** bits - 1 ? null : sorted.join('');
}

function decodeOidArcs(b: Uint8Array, off: number, n: number): number[] {
  const arcs: number[] = [];
  let v = 0;
  let first = true;
  for (let i = 0; i < n; i++) {
    v = v * 128 + (b[off + i] & 0x7f);
    if (v > 0xffffffff) throw new PerError('OID arc too large');
    if ((b[off + i] & 0x80) !== 0) continue;
    if (first) {
      const a = v < 80 ? Math.floor(v / 40) : 2;
      arcs.push(a, v - a * 40);
      first = false;
    } else arcs.push(v);
    v = 0;
  }
  if (n > 0 && (b[off + n - 1] & 0x80) !== 0) throw new PerError('truncated OID');
  return arcs;
}

/**
 * Decodes `type` from `buf[start, end)`. Throws {@link PerError} on malformed input; a `stop`
 * type ends decoding early (`complete: false`) with the hits found so far. With
 * `values = false` only the addresses are collected (`value` is then `null`): the fast path the
 * helpers use.
 */
export function perDecode(
  type: AsnType,
  buf: Uint8Array,
  start = 0,
  end = buf.length,
  values = true,
): PerDecodeResult {
  const d = new Decoder(new PerReader(buf, start, end), values);
  try {
    const value = d.value(type);
    return { value, hits: d.hits, complete: true, bits: d.r.pos - start * 8 };
  } catch (e) {
    if (e === STOP) return { value: undefined, hits: d.hits, complete: false, bits: d.r.pos - start * 8 };
    if (e instanceof PerError) throw e;
    throw new PerError(e instanceof Error ? e.message : String(e));
  }
}

// ----------------------------------------------------------------------------------- encode

function isObj(v: AsnValue | undefined): v is { [key: string]: AsnValue | undefined } {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

function encodeValue(w: PerWriter, type: AsnType, v: AsnValue | undefined): void {
  switch (type.t) {
    case 'seq': {
      if (!isObj(v)) throw new PerError('SEQUENCE value must be an object');
      let last = -1;
      type.adds.forEach((f, i) => {
        if (v[f.name] !== undefined) last = i;
      });
      if (type.ext) w.bits(last >= 0 ? 1 : 0, 1);
      else if (last >= 0) throw new PerError('extension addition in a non-extensible SEQUENCE');
      for (const f of type.fields) if (f.optional) w.bits(v[f.name] !== undefined ? 1 : 0, 1);
      for (const f of type.fields) {
        if (f.optional && v[f.name] === undefined) continue;
        encodeValue(w, f.type, v[f.name]);
      }
      if (last >= 0) {
        w.smallNumber(last);
        for (let i = 0; i <= last; i++) w.bits(v[type.adds[i].name] !== undefined ? 1 : 0, 1);
        for (let i = 0; i <= last; i++) {
          const f = type.adds[i];
          if (v[f.name] !== undefined) encodeOpen(w, f.type, v[f.name]);
        }
      }
      return;
    }
    case 'choice': {
      if (!isObj(v)) throw new PerError('CHOICE value must be an object');
      if (typeof v.$ext === 'number') {
        if (!type.ext) throw new PerError('extension alternative in a non-extensible CHOICE');
        w.bits(1, 1);
        w.smallNumber(v.$ext);
        encodeOpen(w, OPAQUE, v.raw);
        return;
      }
      const keys = Object.keys(v);
      if (keys.length !== 1) throw new PerError('CHOICE value must have exactly one key');
      const k = keys[0];
      const ri = type.alts.findIndex((a) => a.name === k);
      if (ri >= 0) {
        if (type.ext) w.bits(0, 1);
        w.constrained(ri, 0, type.alts.length - 1);
        encodeValue(w, type.alts[ri].type, v[k]);
        return;
      }
      const ei = type.adds.findIndex((a) => a.name === k);
      if (ei < 0 || !type.ext) throw new PerError(`unknown alternative ${k}`);
      w.bits(1, 1);
      w.smallNumber(ei);
      encodeOpen(w, type.adds[ei].type, v[k]);
      return;
    }
    case 'seqof': {
      if (!Array.isArray(v)) throw new PerError('SEQUENCE OF value must be an array');
      w.sizedLength(v.length, type.lb, type.ub);
      for (const e of v) encodeValue(w, type.of, e);
      return;
    }
    case 'int':
      if (typeof v !== 'number') throw new PerError('INTEGER value must be a number');
      w.constrained(v, type.lb, type.ub);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw new PerError('BOOLEAN value must be a boolean');
      w.bits(v ? 1 : 0, 1);
      return;
    case 'null':
      return;
    case 'octets': {
      let bytes: Uint8Array;
      if (v instanceof Uint8Array) bytes = v;
      else if (type.contains) bytes = perEncode(type.contains, v);
      else throw new PerError('OCTET STRING value must be a Uint8Array');
      const { lb, ub } = type;
      if (lb !== undefined && lb === ub) {
        if (bytes.length !== lb) throw new PerError(`OCTET STRING must have ${lb} octets`);
        if (lb <= 2) for (const b of bytes) w.bits(b, 8);
        else w.octets(bytes);
        return;
      }
      w.sizedLength(bytes.length, lb, ub);
      w.octets(bytes);
      return;
    }
    case 'str': {
      if (typeof v !== 'string') throw new PerError('string value must be a string');
      const fixed = type.lb !== undefined && type.lb === type.ub;
      if (fixed && v.length !== type.lb) throw new PerError('string of the wrong length');
      if (!fixed) w.sizedLength(v.length, type.lb, type.ub);
      if (type.ub === undefined || type.ub * type.bits > 16) w.align();
      const alpha = canonicalAlphabet(type);
      for (const ch of v) {
        if (type.alphabet && !type.alphabet.includes(ch))
          throw new PerError('character outside the alphabet');
        const c = alpha ? alpha.indexOf(ch) : ch.charCodeAt(0);
        if (c >= 2 ** type.bits) throw new PerError('character too wide');
        w.bits(c, type.bits);
      }
      return;
    }
    case 'oid': {
      if (!Array.isArray(v) || v.length < 2 || !v.every((x) => typeof x === 'number'))
        throw new PerError('OBJECT IDENTIFIER value must be an array of at least two numbers');
      const arcs = v as number[];
      const out: number[] = [];
      const push = (x: number): void => {
        const tmp = [x & 0x7f];
        for (let y = Math.floor(x / 128); y > 0; y = Math.floor(y / 128)) tmp.unshift((y & 0x7f) | 0x80);
        out.push(...tmp);
      };
      push(arcs[0] * 40 + arcs[1]);
      for (let i = 2; i < arcs.length; i++) push(arcs[i]);
      w.length(out.length);
      w.octets(Uint8Array.from(out));
      return;
    }
    case 'opaque':
      if (!(v instanceof Uint8Array)) throw new PerError('opaque value must be a Uint8Array');
      w.octets(v);
      return;
    case 'stop':
      throw new PerError('this alternative is not modelled and cannot be encoded');
  }
}

function encodeOpen(w: PerWriter, type: AsnType, v: AsnValue | undefined): void {
  let bytes: Uint8Array;
  if (type.t === 'opaque') {
    if (!(v instanceof Uint8Array)) throw new PerError('opaque value must be a Uint8Array');
    bytes = v;
  } else bytes = perEncode(type, v);
  w.length(bytes.length);
  w.octets(bytes);
}

/**
 * Encodes `value` as `type` in aligned PER. A complete encoding is at least one octet (X.691
 * 11.1: an empty encoding is sent as a single zero octet). Throws {@link PerError} for a value
 * that does not fit the type.
 */
export function perEncode(type: AsnType, value: AsnValue | undefined): Uint8Array {
  const w = new PerWriter();
  encodeValue(w, type, value);
  const out = w.finish();
  return out.length === 0 ? new Uint8Array(1) : out;
}
