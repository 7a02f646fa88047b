/**
 * ChaCha20-Poly1305 (RFC 8439) in TypeScript over preallocated state, for the transport data
 * path: sealing and opening write into caller-provided buffers and allocate nothing. Node's
 * native AEAD (used for the handshake) allocates a cipher object and output Buffers per call;
 * see the package README for the measured trade-off.
 *
 * Nonces are WireGuard's: 32 zero bits then a 64-bit little-endian counter. Poly1305 uses ten
 * 13-bit limbs (the poly1305-donna-16 layout) with products summed in doubles, exact below 2^53.
 */

/** A 32-byte key as eight little-endian words (precompute once per session). */
export function keyWords(key: Uint8Array, out: Uint32Array = new Uint32Array(8)): Uint32Array {
  for (let i = 0; i < 8; i++) {
    const o = i * 4;
    out[i] = (key[o] | (key[o + 1] << 8) | (key[o + 2] << 16) | (key[o + 3] << 24)) >>> 0;
  }
  return out;
}

/** Reusable ChaCha20-Poly1305 state (one per thread of use; not reentrant). */
export class ChaChaPoly {
  private readonly ks = new Uint32Array(16); // one keystream block
  private readonly polyKey = new Uint8Array(32);
  private readonly r = new Float64Array(10);
  private readonly h = new Float64Array(10);
  private readonly d = new Float64Array(10);
  private readonly pad = new Uint8Array(16);
  private readonly tag = new Uint8Array(16);

  /**
   * Encrypts `src[srcOff, srcOff+len)` into `dst[dstOff, …+len)` and writes the 16-byte tag at
   * `dst[dstOff+len]`. `dst` may equal `src` at the same offset (in place). Empty AAD.
   */
  seal(
    key: Uint32Array,
    counter: number,
    src: Uint8Array,
    srcOff: number,
    len: number,
    dst: Uint8Array,
    dstOff: number,
  ): void {
    const lo = counter >>> 0;
    const hi = Math.floor(counter / 0x100000000) >>> 0;
    this.block(key, 0, lo, hi);
    this.initPoly();
    this.xor(key, lo, hi, src, srcOff, len, dst, dstOff);
    this.macInto(dst, dstOff, len);
    dst.set(this.tag, dstOff + len);
  }

  /**
   * Verifies the tag at `src[srcOff+len]` over the ciphertext `src[srcOff, …+len)` and, if it
   * matches, decrypts into `dst[dstOff…]` (may be in place). Returns false (and writes nothing)
   * when authentication fails. Empty AAD.
   */
  open(
    key: Uint32Array,
    counter: number,
    src: Uint8Array,
    srcOff: number,
    len: number,
    dst: Uint8Array,
    dstOff: number,
  ): boolean {
    const lo = counter >>> 0;
    const hi = Math.floor(counter / 0x100000000) >>> 0;
    this.block(key, 0, lo, hi);
    this.initPoly();
    this.macInto(src, srcOff, len);
    let diff = 0;
    const t = this.tag;
    const o = srcOff + len;
    for (let i = 0; i < 16; i++) diff |= t[i] ^ src[o + i];
    if (diff !== 0) return false;
    this.xor(key, lo, hi, src, srcOff, len, dst, dstOff);
    return true;
  }

  // ---------------------------------------------------------------- ChaCha20

  private block(k: Uint32Array, ctr: number, n1: number, n2: number): void {
    let x0 = 0x61707865;
    let x1 = 0x3320646e;
    let x2 = 0x79622d32;
    let x3 = 0x6b206574;
    let x4 = k[0];
    let x5 = k[1];
    let x6 = k[2];
    let x7 = k[3];
    let x8 = k[4];
    let x9 = k[5];
    let x10 = k[6];
    let x11 = k[7];
    let x12 = ctr;
    let x13 = 0;
    let x14 = n1;
    let x15 = n2;
    for (let i = 0; i < 10; i++) {
      // column rounds
      x0 = (x0 + x4) | 0;
      x12 ^= x0;
      x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0;
      x4 ^= x8;
      x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0;
      x12 ^= x0;
      x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0;
      x4 ^= x8;
      x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0;
      x13 ^= x1;
      x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0;
      x5 ^= x9;
      x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0;
      x13 ^= x1;
      x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0;
      x5 ^= x9;
      x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0;
      x14 ^= x2;
      x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0;
      x6 ^= x10;
      x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0;
      x14 ^= x2;
      x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0;
      x6 ^= x10;
      x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0;
      x15 ^= x3;
      x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0;
      x7 ^= x11;
      x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0;
      x15 ^= x3;
      x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0;
      x7 ^= x11;
      x7 = (x7 << 7) | (x7 >>> 25);
      // diagonal rounds
      x0 = (x0 + x5) | 0;
      x15 ^= x0;
      x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0;
      x5 ^= x10;
      x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0;
      x15 ^= x0;
      x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0;
      x5 ^= x10;
      x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0;
      x12 ^= x1;
      x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0;
      x6 ^= x11;
      x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0;
      x12 ^= x1;
      x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0;
      x6 ^= x11;
      x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0;
      x13 ^= x2;
      x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0;
      x7 ^= x8;
      x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0;
      x13 ^= x2;
      x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0;
      x7 ^= x8;
      x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0;
      x14 ^= x3;
      x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0;
      x4 ^= x9;
      x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0;
      x14 ^= x3;
      x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0;
      x4 ^= x9;
      x4 = (x4 << 7) | (x4 >>> 25);
    }
    const s = this.ks;
    s[0] = x0 + 0x61707865;
    s[1] = x1 + 0x3320646e;
    s[2] = x2 + 0x79622d32;
    s[3] = x3 + 0x6b206574;
    s[4] = x4 + k[0];
    s[5] = x5 + k[1];
    s[6] = x6 + k[2];
    s[7] = x7 + k[3];
    s[8] = x8 + k[4];
    s[9] = x9 + k[5];
    s[10] = x10 + k[6];
    s[11] = x11 + k[7];
    s[12] = x12 + ctr;
    s[13] = x13;
    s[14] = x14 + n1;
    s[15] = x15 + n2;
  }

  private xor(
    k: Uint32Array,
    lo: number,
    hi: number,
    src: Uint8Array,
    so: number,
    len: number,
    dst: Uint8Array,
    doff: number,
  ): void {
    const s = this.ks;
    let ctr = 1;
    for (let p = 0; p < len; p += 64) {
      this.block(k, ctr++, lo, hi);
      const n = Math.min(len - p, 64);
      const a = so + p;
      const b = doff + p;
      let i = 0;
      for (; i + 4 <= n; i += 4) {
        const w = s[i >> 2];
        dst[b + i] = src[a + i] ^ w;
        dst[b + i + 1] = src[a + i + 1] ^ (w >>> 8);
        dst[b + i + 2] = src[a + i + 2] ^ (w >>> 16);
        dst[b + i + 3] = src[a + i + 3] ^ (w >>> 24);
      }
      for (; i < n; i++) dst[b + i] = src[a + i] ^ (s[i >> 2] >>> ((i & 3) * 8));
    }
  }

  // ---------------------------------------------------------------- Poly1305

  private initPoly(): void {
    const s = this.ks;
    const pk = this.polyKey;
    for (let i = 0; i < 8; i++) {
      const w = s[i];
      pk[i * 4] = w;
      pk[i * 4 + 1] = w >>> 8;
      pk[i * 4 + 2] = w >>> 16;
      pk[i * 4 + 3] = w >>> 24;
    }
    const r = this.r;
    const t0 = pk[0] | (pk[1] << 8);
    const t1 = pk[2] | (pk[3] << 8);
    const t2 = pk[4] | (pk[5] << 8);
    const t3 = pk[6] | (pk[7] << 8);
    const t4 = pk[8] | (pk[9] << 8);
    const t5 = pk[10] | (pk[11] << 8);
    const t6 = pk[12] | (pk[13] << 8);
    const t7 = pk[14] | (pk[15] << 8);
    r[0] = t0 & 0x1fff;
    r[1] = ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
    r[2] = ((t1 >>> 10) | (t2 << 6)) & 0x1f03;
    r[3] = ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
    r[4] = ((t3 >>> 4) | (t4 << 12)) & 0x00ff;
    r[5] = (t4 >>> 1) & 0x1ffe;
    r[6] = ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
    r[7] = ((t5 >>> 11) | (t6 << 5)) & 0x1f81;
    r[8] = ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
    r[9] = (t7 >>> 5) & 0x007f;
    this.h.fill(0);
  }

  /** Absorbs the 16-byte blocks at `m[o, o+n)` (n a multiple of 16, each with the 2^128 bit). */
  private polyBlocks(m: Uint8Array, o: number, n: number): void {
    const R = this.r;
    const r0 = R[0];
    const r1 = R[1];
    const r2 = R[2];
    const r3 = R[3];
    const r4 = R[4];
    const r5 = R[5];
    const r6 = R[6];
    const r7 = R[7];
    const r8 = R[8];
    const r9 = R[9];
    const s1 = 5 * r1;
    const s2 = 5 * r2;
    const s3 = 5 * r3;
    const s4 = 5 * r4;
    const s5 = 5 * r5;
    const s6 = 5 * r6;
    const s7 = 5 * r7;
    const s8 = 5 * r8;
    const s9 = 5 * r9;
    const H = this.h;
    let h0 = H[0];
    let h1 = H[1];
    let h2 = H[2];
    let h3 = H[3];
    let h4 = H[4];
    let h5 = H[5];
    let h6 = H[6];
    let h7 = H[7];
    let h8 = H[8];
    let h9 = H[9];
    for (let p = o, end = o + n; p < end; p += 16) {
      const t0 = m[p] | (m[p + 1] << 8);
      const t1 = m[p + 2] | (m[p + 3] << 8);
      const t2 = m[p + 4] | (m[p + 5] << 8);
      const t3 = m[p + 6] | (m[p + 7] << 8);
      const t4 = m[p + 8] | (m[p + 9] << 8);
      const t5 = m[p + 10] | (m[p + 11] << 8);
      const t6 = m[p + 12] | (m[p + 13] << 8);
      const t7 = m[p + 14] | (m[p + 15] << 8);
      h0 += t0 & 0x1fff;
      h1 += ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
      h2 += ((t1 >>> 10) | (t2 << 6)) & 0x1fff;
      h3 += ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
      h4 += ((t3 >>> 4) | (t4 << 12)) & 0x1fff;
      h5 += (t4 >>> 1) & 0x1fff;
      h6 += ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
      h7 += ((t5 >>> 11) | (t6 << 5)) & 0x1fff;
      h8 += ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
      h9 += (t7 >>> 5) | 0x800;
      // independent sums (each < 2^33, exact in doubles), then one carry pass
      const d0 =
        h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6 + h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1;
      const d1 =
        h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7 + h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2;
      const d2 =
        h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8 + h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3;
      const d3 =
        h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9 + h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4;
      const d4 =
        h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5;
      const d5 =
        h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6;
      const d6 =
        h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2 + h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7;
      const d7 =
        h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3 + h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8;
      const d8 =
        h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4 + h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9;
      const d9 =
        h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5 + h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
      let c = (d0 / 8192) | 0;
      h0 = d0 - c * 8192;
      const v1 = d1 + c;
      c = (v1 / 8192) | 0;
      h1 = v1 - c * 8192;
      const v2 = d2 + c;
      c = (v2 / 8192) | 0;
      h2 = v2 - c * 8192;
      const v3 = d3 + c;
      c = (v3 / 8192) | 0;
      h3 = v3 - c * 8192;
      const v4 = d4 + c;
      c = (v4 / 8192) | 0;
      h4 = v4 - c * 8192;
      const v5 = d5 + c;
      c = (v5 / 8192) | 0;
      h5 = v5 - c * 8192;
      const v6 = d6 + c;
      c = (v6 / 8192) | 0;
      h6 = v6 - c * 8192;
      const v7 = d7 + c;
      c = (v7 / 8192) | 0;
      h7 = v7 - c * 8192;
      const v8 = d8 + c;
      c = (v8 / 8192) | 0;
      h8 = v8 - c * 8192;
      const v9 = d9 + c;
      c = (v9 / 8192) | 0;
      h9 = v9 - c * 8192;
      const v0 = h0 + c * 5;
      c = (v0 / 8192) | 0;
      h0 = v0 - c * 8192;
      h1 += c;
    }
    H[0] = h0;
    H[1] = h1;
    H[2] = h2;
    H[3] = h3;
    H[4] = h4;
    H[5] = h5;
    H[6] = h6;
    H[7] = h7;
    H[8] = h8;
    H[9] = h9;
  }

  /** Poly1305 over `ct || pad16 || le64(0) || le64(len)` (empty AAD), into `this.tag`. */
  private macInto(ct: Uint8Array, off: number, len: number): void {
    const full = len & ~15;
    this.polyBlocks(ct, off, full);
    const pad = this.pad;
    if (full < len) {
      pad.fill(0);
      for (let i = 0; i < len - full; i++) pad[i] = ct[off + full + i];
      this.polyBlocks(pad, 0, 16);
    }
    pad.fill(0);
    // lengths: aad = 0, ciphertext = len (as 64-bit little-endian)
    pad[8] = len;
    pad[9] = len >>> 8;
    pad[10] = len >>> 16;
    pad[11] = len >>> 24;
    this.polyBlocks(pad, 0, 16);
    this.finish();
  }

  private finish(): void {
    const h = this.h;
    // full carry
    let c = 0;
    for (let i = 0; i < 10; i++) {
      const v = h[i] + c;
      c = Math.floor(v / 8192);
      h[i] = v - c * 8192;
    }
    let v = h[0] + c * 5;
    c = Math.floor(v / 8192);
    h[0] = v - c * 8192;
    for (let i = 1; i < 10 && c !== 0; i++) {
      v = h[i] + c;
      c = Math.floor(v / 8192);
      h[i] = v - c * 8192;
    }
    // g = h + 5 - 2^130; use g when h >= p
    const g = this.d;
    c = 5;
    for (let i = 0; i < 10; i++) {
      const w = h[i] + c;
      c = w >>> 13;
      g[i] = w & 0x1fff;
    }
    const mask = -c; // c is 1 when h + 5 >= 2^130
    const h0 = ((h[0] & ~mask) | (g[0] & mask)) >>> 0;
    const h1 = ((h[1] & ~mask) | (g[1] & mask)) >>> 0;
    const h2 = ((h[2] & ~mask) | (g[2] & mask)) >>> 0;
    const h3 = ((h[3] & ~mask) | (g[3] & mask)) >>> 0;
    const h4 = ((h[4] & ~mask) | (g[4] & mask)) >>> 0;
    const h5 = ((h[5] & ~mask) | (g[5] & mask)) >>> 0;
    const h6 = ((h[6] & ~mask) | (g[6] & mask)) >>> 0;
    const h7 = ((h[7] & ~mask) | (g[7] & mask)) >>> 0;
    const h8 = ((h[8] & ~mask) | (g[8] & mask)) >>> 0;
    const h9 = ((h[9] & ~mask) | (g[9] & mask)) >>> 0;
    const pk = this.polyKey;
    const t = this.tag;
    let f = 0;
    const w0 = (h0 | (h1 << 13)) & 0xffff;
    const w1 = ((h1 >>> 3) | (h2 << 10)) & 0xffff;
    const w2 = ((h2 >>> 6) | (h3 << 7)) & 0xffff;
    const w3 = ((h3 >>> 9) | (h4 << 4)) & 0xffff;
    const w4 = ((h4 >>> 12) | (h5 << 1) | (h6 << 14)) & 0xffff;
    const w5 = ((h6 >>> 2) | (h7 << 11)) & 0xffff;
    const w6 = ((h7 >>> 5) | (h8 << 8)) & 0xffff;
    const w7 = ((h8 >>> 8) | (h9 << 5)) & 0xffff;
    f = w0 + (pk[16] | (pk[17] << 8));
    t[0] = f;
    t[1] = f >>> 8;
    f = w1 + (pk[18] | (pk[19] << 8)) + (f >>> 16);
    t[2] = f;
    t[3] = f >>> 8;
    f = w2 + (pk[20] | (pk[21] << 8)) + (f >>> 16);
    t[4] = f;
    t[5] = f >>> 8;
    f = w3 + (pk[22] | (pk[23] << 8)) + (f >>> 16);
    t[6] = f;
    t[7] = f >>> 8;
    f = w4 + (pk[24] | (pk[25] << 8)) + (f >>> 16);
    t[8] = f;
    t[9] = f >>> 8;
    f = w5 + (pk[26] | (pk[27] << 8)) + (f >>> 16);
    t[10] = f;
    t[11] = f >>> 8;
    f = w6 + (pk[28] | (pk[29] << 8)) + (f >>> 16);
    t[12] = f;
    t[13] = f >>> 8;
    f = w7 + (pk[30] | (pk[31] << 8)) + (f >>> 16);
    t[14] = f;
    t[15] = f >>> 8;
  }
}
