/**
 * ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03).
 *
 * The AEAD itself is Node's native `chacha20-poly1305` (OpenSSL). XChaCha20 is not in Node:
 * it is HChaCha20 (implemented here, §2.2 of the draft) deriving a subkey from the key and the
 * first 16 bytes of the 24-byte nonce, then the native AEAD with the nonce `0^4 || nonce[16..24]`.
 * WireGuard uses XChaCha20-Poly1305 only for cookie replies.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ConfigError } from '@l3kit/core';

const SIGMA0 = 0x61707865;
const SIGMA1 = 0x3320646e;
const SIGMA2 = 0x79622d32;
const SIGMA3 = 0x6b206574;

const st = new Uint32Array(16);

function rd32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function qr(x: Uint32Array, a: number, b: number, c: number, d: number): void {
  x[a] = (x[a] + x[b]) | 0;
  let t = x[d] ^ x[a];
  x[d] = (t << 16) | (t >>> 16);
  x[c] = (x[c] + x[d]) | 0;
  t = x[b] ^ x[c];
  x[b] = (t << 12) | (t >>> 20);
  x[a] = (x[a] + x[b]) | 0;
  t = x[d] ^ x[a];
  x[d] = (t << 8) | (t >>> 24);
  x[c] = (x[c] + x[d]) | 0;
  t = x[b] ^ x[c];
  x[b] = (t << 7) | (t >>> 25);
}

/**
 * HChaCha20 (draft-irtf-cfrg-xchacha §2.2): a 32-byte subkey from a 32-byte key and a 16-byte
 * nonce. Writes into `out` (new 32-byte buffer if omitted). Throws {@link ConfigError}
 * `ERR_BAD_KEY` for wrong lengths.
 */
export function hchacha20(
  key: Uint8Array,
  nonce16: Uint8Array,
  out: Uint8Array = new Uint8Array(32),
): Uint8Array {
  if (key.length !== 32 || nonce16.length !== 16)
    throw new ConfigError('ERR_BAD_KEY', 'hchacha20 needs a 32-byte key and a 16-byte nonce');
  const x = st;
  x[0] = SIGMA0;
  x[1] = SIGMA1;
  x[2] = SIGMA2;
  x[3] = SIGMA3;
  for (let i = 0; i < 8; i++) x[4 + i] = rd32(key, i * 4);
  for (let i = 0; i < 4; i++) x[12 + i] = rd32(nonce16, i * 4);
  for (let i = 0; i < 10; i++) {
    qr(x, 0, 4, 8, 12);
    qr(x, 1, 5, 9, 13);
    qr(x, 2, 6, 10, 14);
    qr(x, 3, 7, 11, 15);
    qr(x, 0, 5, 10, 15);
    qr(x, 1, 6, 11, 12);
    qr(x, 2, 7, 8, 13);
    qr(x, 3, 4, 9, 14);
  }
  for (let i = 0; i < 8; i++) {
    const w = i < 4 ? x[i] : x[8 + i];
    out[i * 4] = w;
    out[i * 4 + 1] = w >>> 8;
    out[i * 4 + 2] = w >>> 16;
    out[i * 4 + 3] = w >>> 24;
  }
  return out;
}

/** ChaCha20-Poly1305 seal: returns `ciphertext || tag` (16-byte tag). */
export function aeadSeal(
  key: Uint8Array,
  nonce12: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce12, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const ct = c.update(plaintext);
  c.final();
  const out = new Uint8Array(ct.length + 16);
  out.set(ct, 0);
  out.set(c.getAuthTag(), ct.length);
  return out;
}

/** ChaCha20-Poly1305 open of `ciphertext || tag`: the plaintext, or `null` if authentication fails. */
export function aeadOpen(
  key: Uint8Array,
  nonce12: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  if (sealed.length < 16) return null;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce12, { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    d.setAAD(aad, { plaintextLength: sealed.length - 16 });
    const pt = d.update(sealed.subarray(0, sealed.length - 16));
    d.final();
    return pt;
  } catch {
    return null;
  }
}

const xnonce = new Uint8Array(12);
const subkey = new Uint8Array(32);

/** XChaCha20-Poly1305 seal with a 24-byte nonce: returns `ciphertext || tag`. */
export function xaeadSeal(
  key: Uint8Array,
  nonce24: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  if (nonce24.length !== 24) throw new ConfigError('ERR_BAD_KEY', 'XChaCha20-Poly1305 needs a 24-byte nonce');
  hchacha20(key, nonce24.subarray(0, 16), subkey);
  xnonce.fill(0, 0, 4);
  xnonce.set(nonce24.subarray(16, 24), 4);
  return aeadSeal(subkey, xnonce, plaintext, aad);
}

/** XChaCha20-Poly1305 open: the plaintext, or `null` if authentication fails. */
export function xaeadOpen(
  key: Uint8Array,
  nonce24: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  if (nonce24.length !== 24 || key.length !== 32) return null;
  hchacha20(key, nonce24.subarray(0, 16), subkey);
  xnonce.fill(0, 0, 4);
  xnonce.set(nonce24.subarray(16, 24), 4);
  return aeadOpen(subkey, xnonce, sealed, aad);
}
