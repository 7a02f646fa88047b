import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChaChaPoly, keyWords } from '../src/chacha20poly1305.js';
import { writeU64le } from '../src/messages.js';

function nativeSeal(key: Uint8Array, counter: number, pt: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(12);
  writeU64le(nonce, 4, counter);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const ct = c.update(pt);
  c.final();
  return new Uint8Array(Buffer.concat([ct, c.getAuthTag()]));
}

describe('ChaCha20-Poly1305 in TypeScript', () => {
  it('matches Node native ChaCha20-Poly1305 for arbitrary keys, counters and lengths', () => {
    const aead = new ChaChaPoly();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.oneof(fc.nat(), fc.constantFrom(0, 1, 0xffffffff, 0x100000000, 2 ** 53 - 1)),
        fc.uint8Array({ maxLength: 1500 }),
        (key, counter, pt) => {
          const out = new Uint8Array(pt.length + 16);
          aead.seal(keyWords(key), counter, pt, 0, pt.length, out, 0);
          assert.deepEqual(out, nativeSeal(key, counter, pt));
          const back = new Uint8Array(pt.length);
          assert.equal(aead.open(keyWords(key), counter, out, 0, pt.length, back, 0), true);
          assert.deepEqual(back, pt);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('computes tags correctly for accumulator values near the modulus (all-0xff blocks)', () => {
    const aead = new ChaChaPoly();
    for (let i = 0; i < 50; i++) {
      const key = new Uint8Array(randomBytes(32));
      const pt = new Uint8Array(16 * (1 + (i % 7))).fill(0xff);
      const out = new Uint8Array(pt.length + 16);
      aead.seal(keyWords(key), i, pt, 0, pt.length, out, 0);
      assert.deepEqual(out, nativeSeal(key, i, pt));
    }
  });

  it('encrypts in place at an offset and refuses a tampered message without writing', () => {
    const aead = new ChaChaPoly();
    const key = keyWords(new Uint8Array(randomBytes(32)));
    const buf = new Uint8Array(16 + 100 + 16);
    buf.set(randomBytes(100), 16);
    const pt = buf.slice(16, 116);
    aead.seal(key, 7, buf, 16, 100, buf, 16);
    const sealed = buf.slice();
    assert.equal(aead.open(key, 7, buf, 16, 100, buf, 16), true);
    assert.deepEqual(buf.subarray(16, 116), pt);
    sealed[50] ^= 1;
    const copy = sealed.slice();
    assert.equal(aead.open(key, 7, sealed, 16, 100, sealed, 16), false);
    assert.deepEqual(sealed, copy);
    assert.equal(aead.open(key, 8, buf, 16, 100, new Uint8Array(100), 0), false);
  });
});
