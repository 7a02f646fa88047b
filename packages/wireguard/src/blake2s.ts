/**
 * BLAKE2s (RFC 7693), keyed and unkeyed, any output length 1..32 bytes.
 *
 * Node's crypto has `blake2s256` (unkeyed, 32-byte output) only. WireGuard also needs keyed
 * BLAKE2s with a 16-byte output for mac1 / mac2 (the `MAC` function of the whitepaper, §5.4.4),
 * whose parameter block differs from a truncated BLAKE2s-256, so it is implemented here. The
 * implementation works on preallocated state; hashing does not allocate beyond the result buffer
 * (which the caller may supply).
 */
import { ConfigError } from '@l3kit/core';

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// RFC 7693 §2.7, message word schedule (10 rounds).
const SIGMA = new Uint8Array([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4, 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13, 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11, 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5, 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]);

/**
 * An incremental BLAKE2s hasher. Reusable: {@link Blake2s.init} restarts it with new parameters.
 *
 * ```ts
 * const h = new Blake2s(16, key); h.update(msg); const mac = h.digest();
 * ```
 */
export class Blake2s {
  private readonly h = new Uint32Array(8);
  private readonly v = new Uint32Array(16);
  private readonly m = new Uint32Array(16);
  private readonly buf = new Uint8Array(64);
  private bufLen = 0;
  private t = 0; // byte counter (fits in a double for any realistic input)
  private outLen = 32;

  /** Throws {@link ConfigError} `ERR_BAD_OPTION` for an output length outside 1..32 or a key over 32 bytes. */
  constructor(outLen = 32, key?: Uint8Array) {
    this.init(outLen, key);
  }

  /** Restarts the hasher with an output length (1..32) and an optional key (0..32 bytes). */
  init(outLen = 32, key?: Uint8Array): this {
    const keyLen = key ? key.length : 0;
    if (!Number.isInteger(outLen) || outLen < 1 || outLen > 32)
      throw new ConfigError('ERR_BAD_OPTION', `BLAKE2s output length must be 1..32, got ${outLen}`);
    if (keyLen > 32)
      throw new ConfigError('ERR_BAD_OPTION', `BLAKE2s key must be at most 32 bytes, got ${keyLen}`);
    this.outLen = outLen;
    this.h.set(IV);
    this.h[0] ^= 0x01010000 ^ (keyLen << 8) ^ outLen;
    this.t = 0;
    this.bufLen = 0;
    if (key && keyLen > 0) {
      this.buf.fill(0);
      this.buf.set(key);
      this.bufLen = 64;
    }
    return this;
  }

  /** Absorbs `data`. */
  update(data: Uint8Array): this {
    let off = 0;
    const n = data.length;
    while (off < n) {
      if (this.bufLen === 64) {
        // Only compress a full buffer when more input follows (the last block is special).
        this.t += 64;
        this.compress(false);
        this.bufLen = 0;
      }
      const take = Math.min(64 - this.bufLen, n - off);
      this.buf.set(data.subarray(off, off + take), this.bufLen);
      this.bufLen += take;
      off += take;
    }
    return this;
  }

  /** Finishes and writes the hash into `out` (new buffer of the output length if omitted). */
  digest(out: Uint8Array = new Uint8Array(this.outLen)): Uint8Array {
    this.t += this.bufLen;
    this.buf.fill(0, this.bufLen);
    this.compress(true);
    const h = this.h;
    for (let i = 0; i < this.outLen; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
    return out;
  }

  private compress(last: boolean): void {
    const v = this.v;
    const m = this.m;
    const h = this.h;
    const b = this.buf;
    for (let i = 0; i < 16; i++) {
      const o = i * 4;
      m[i] = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
    }
    for (let i = 0; i < 8; i++) {
      v[i] = h[i];
      v[i + 8] = IV[i];
    }
    v[12] ^= this.t >>> 0;
    v[13] ^= Math.floor(this.t / 0x100000000) >>> 0;
    if (last) v[14] = ~v[14];
    for (let r = 0; r < 10; r++) {
      const s = r * 16;
      g(v, m, 0, 4, 8, 12, SIGMA[s], SIGMA[s + 1]);
      g(v, m, 1, 5, 9, 13, SIGMA[s + 2], SIGMA[s + 3]);
      g(v, m, 2, 6, 10, 14, SIGMA[s + 4], SIGMA[s + 5]);
      g(v, m, 3, 7, 11, 15, SIGMA[s + 6], SIGMA[s + 7]);
      g(v, m, 0, 5, 10, 15, SIGMA[s + 8], SIGMA[s + 9]);
      g(v, m, 1, 6, 11, 12, SIGMA[s + 10], SIGMA[s + 11]);
      g(v, m, 2, 7, 8, 13, SIGMA[s + 12], SIGMA[s + 13]);
      g(v, m, 3, 4, 9, 14, SIGMA[s + 14], SIGMA[s + 15]);
    }
    for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
  }
}

function g(
  v: Uint32Array,
  m: Uint32Array,
  a: number,
  b: number,
  c: number,
  d: number,
  x: number,
  y: number,
): void {
  let va = v[a];
  let vb = v[b];
  let vc = v[c];
  let vd = v[d];
  va = (va + vb + m[x]) | 0;
  vd ^= va;
  vd = (vd >>> 16) | (vd << 16);
  vc = (vc + vd) | 0;
  vb ^= vc;
  vb = (vb >>> 12) | (vb << 20);
  va = (va + vb + m[y]) | 0;
  vd ^= va;
  vd = (vd >>> 8) | (vd << 24);
  vc = (vc + vd) | 0;
  vb ^= vc;
  vb = (vb >>> 7) | (vb << 25);
  v[a] = va;
  v[b] = vb;
  v[c] = vc;
  v[d] = vd;
}

/**
 * One-shot BLAKE2s of the concatenation of `parts`, with output length `outLen` (1..32) and an
 * optional key. Throws {@link ConfigError} `ERR_BAD_OPTION` for bad lengths.
 */
export function blake2s(
  parts: Uint8Array | readonly Uint8Array[],
  outLen = 32,
  key?: Uint8Array,
): Uint8Array {
  const h = new Blake2s(outLen, key);
  if (parts instanceof Uint8Array) h.update(parts);
  else for (const p of parts) h.update(p);
  return h.digest();
}
