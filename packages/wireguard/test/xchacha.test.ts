import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aeadOpen, aeadSeal, hchacha20, xaeadOpen, xaeadSeal } from '../src/xchacha.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/[\s:]+/g, ''), 'hex'));
const seq = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => from + i);

describe('HChaCha20 and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03)', () => {
  it('derives the §2.2.1 HChaCha20 test-vector subkey', () => {
    const key = seq(0, 32);
    const nonce = unhex('000000090000004a0000000031415927');
    assert.equal(
      hex(hchacha20(key, nonce)),
      '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc',
    );
  });

  it('seals the §A.3.1 XChaCha20-Poly1305 test vector', () => {
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const aad = unhex('50515253c0c1c2c3c4c5c6c7');
    const key = seq(0x80, 32);
    const nonce = seq(0x40, 24);
    const sealed = xaeadSeal(key, nonce, pt, aad);
    assert.equal(
      hex(sealed.subarray(0, pt.length)),
      'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e',
    );
    assert.equal(hex(sealed.subarray(pt.length)), 'c0875924c1c7987947deafd8780acf49');
    assert.deepEqual(new Uint8Array(xaeadOpen(key, nonce, sealed, aad) as Uint8Array), pt);
  });

  it('rejects a tampered ciphertext, tag or associated data', () => {
    const key = seq(1, 32);
    const nonce = seq(2, 24);
    const sealed = xaeadSeal(key, nonce, seq(3, 16), seq(4, 16));
    for (const i of [0, 15, 16, 31]) {
      const bad = Uint8Array.from(sealed);
      bad[i] ^= 1;
      assert.equal(xaeadOpen(key, nonce, bad, seq(4, 16)), null);
    }
    assert.equal(xaeadOpen(key, nonce, sealed, seq(5, 16)), null);
    assert.equal(xaeadOpen(key, nonce, sealed.subarray(0, 10), seq(4, 16)), null);
  });

  it('round-trips ChaCha20-Poly1305 and fails on a wrong nonce', () => {
    const key = seq(9, 32);
    const n = new Uint8Array(12);
    const s = aeadSeal(key, n, seq(0, 100), new Uint8Array(0));
    assert.equal(s.length, 116);
    assert.deepEqual(new Uint8Array(aeadOpen(key, n, s, new Uint8Array(0)) as Uint8Array), seq(0, 100));
    assert.equal(
      aeadOpen(key, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s, new Uint8Array(0)),
      null,
    );
  });
});
