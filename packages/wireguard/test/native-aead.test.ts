import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChaChaPoly, keyWords } from '../src/chacha20poly1305.js';
import { writeU64le } from '../src/messages.js';
import {
  type AeadAddon,
  NativeAeadKey,
  nativeAeadPath,
  nativeAeadUnavailableReason,
} from '../src/native-aead.js';

const skip = nativeAeadUnavailableReason() ?? false;
const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** The WireGuard transport nonce: 4 zero bytes, then the counter as 64-bit little-endian. */
function wgNonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  writeU64le(n, 4, counter);
  return n;
}

/** node:crypto's ChaCha20-Poly1305 (OpenSSL through Node's own binding): ciphertext ‖ tag. */
function nodeSeal(key: Uint8Array, counter: number, pt: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, wgNonce(counter), { authTagLength: 16 });
  const ct = c.update(pt);
  c.final();
  return new Uint8Array(Buffer.concat([ct, c.getAuthTag()]));
}

/** Seals `pt` with the addon in a buffer with `off` bytes of (random) header before it. */
function addonSeal(k: NativeAeadKey, counter: number, pt: Uint8Array, off = 0): Uint8Array {
  const buf = new Uint8Array(off + pt.length + 16);
  buf.set(randomBytes(off));
  buf.set(pt, off);
  k.seal(counter, buf, off, pt.length);
  return buf;
}

const arbCounter = fc.oneof(
  fc.nat(),
  fc.constantFrom(0, 1, 0xffffffff, 0x100000000, 0x1_0000_0001, 2 ** 53 - 1),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);

// RFC 8439 §2.8.2: AEAD_CHACHA20_POLY1305 example.
const RFC_KEY = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const RFC_NONCE = hex('07000000 4041424344454647');
const RFC_AAD = hex('50515253c0c1c2c3c4c5c6c7');
const RFC_PT = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const RFC_CT = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b 6116`);
const RFC_TAG = hex('1ae10b594f09e26a7e902ecbd0600691');

describe('native ChaCha20-Poly1305 addon', { skip }, () => {
  it('seals and opens the RFC 8439 §2.8.2 AEAD test vector (raw nonce and AAD entry point)', () => {
    const k = NativeAeadKey.create(RFC_KEY);
    const buf = new Uint8Array(RFC_PT.length + 16);
    buf.set(RFC_PT);
    k.sealWithNonce(RFC_NONCE, RFC_AAD, buf, 0, RFC_PT.length);
    assert.deepEqual(buf.subarray(0, RFC_PT.length), RFC_CT);
    assert.deepEqual(buf.subarray(RFC_PT.length), RFC_TAG);
    assert.equal(k.openWithNonce(RFC_NONCE, RFC_AAD, buf, 0, RFC_PT.length), true);
    assert.deepEqual(buf.subarray(0, RFC_PT.length), RFC_PT);
    // the additional data is authenticated
    buf.set(RFC_CT);
    const badAad = RFC_AAD.slice();
    badAad[11] ^= 0x80;
    assert.equal(k.openWithNonce(RFC_NONCE, badAad, buf, 0, RFC_PT.length), false);
    assert.equal(k.openWithNonce(RFC_NONCE, null, buf, 0, RFC_PT.length), false);
    assert.deepEqual(buf.subarray(0, RFC_PT.length), RFC_CT, 'a failed open leaves the bytes as they were');
    k.release();
  });

  it('uses the WireGuard nonce: seal(counter) equals the raw entry point with 0^32 ‖ counter (LE) and no AAD', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        arbCounter,
        fc.uint8Array({ maxLength: 300 }),
        (key, counter, pt) => {
          const k = NativeAeadKey.create(key);
          const viaRaw = new Uint8Array(pt.length + 16);
          viaRaw.set(pt);
          k.sealWithNonce(wgNonce(counter), null, viaRaw, 0, pt.length);
          assert.deepEqual(addonSeal(k, counter, pt), viaRaw);
          k.release();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('seals exactly like node:crypto and the TypeScript AEAD, and opens what it sealed, for random keys, counters and lengths 0..1500', () => {
    const js = new ChaChaPoly();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        arbCounter,
        fc.uint8Array({ maxLength: 1500 }),
        fc.nat(40),
        (key, counter, pt, off) => {
          const k = NativeAeadKey.create(key);
          const sealed = addonSeal(k, counter, pt, off);
          const body = sealed.subarray(off);
          assert.deepEqual(body, nodeSeal(key, counter, pt));
          const viaJs = new Uint8Array(pt.length + 16);
          js.seal(keyWords(key), counter, pt, 0, pt.length, viaJs, 0);
          assert.deepEqual(body, viaJs);
          const header = sealed.slice(0, off);
          assert.equal(k.open(counter, sealed, off, pt.length), true);
          assert.deepEqual(sealed.subarray(off, off + pt.length), pt);
          assert.deepEqual(sealed.subarray(0, off), header, 'bytes before the data are untouched');
          k.release();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('returns false for any single tampered byte, a wrong counter or a wrong key, and leaves the buffer unchanged', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        arbCounter,
        fc.uint8Array({ maxLength: 1500 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (key, counter, pt, where, flip) => {
          const k = NativeAeadKey.create(key);
          const sealed = addonSeal(k, counter, pt);
          const bad = sealed.slice();
          bad[where % bad.length] ^= flip;
          const copy = bad.slice();
          assert.equal(k.open(counter, bad, 0, pt.length), false);
          assert.deepEqual(bad, copy);
          const other = counter === 0 ? 1 : counter - 1;
          assert.equal(k.open(other, sealed.slice(), 0, pt.length), false);
          const wrongKey = NativeAeadKey.create(key.map((b, i) => (i === 0 ? b ^ 1 : b)));
          assert.equal(wrongKey.open(counter, sealed.slice(), 0, pt.length), false);
          // the handle still works after failures (its OpenSSL state is reset per call)
          assert.equal(k.open(counter, sealed, 0, pt.length), true);
          assert.deepEqual(sealed.subarray(0, pt.length), pt);
          k.release();
          wrongKey.release();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('opens into a separate destination, reading the source only, and zeroes the destination on failure', () => {
    const key = new Uint8Array(randomBytes(32));
    const k = NativeAeadKey.create(key);
    const pt = new Uint8Array(randomBytes(1420));
    const sealed = addonSeal(k, 9, pt, 16);
    const src = sealed.slice();
    const dst = new Uint8Array(1500).fill(0xaa);
    assert.equal(k.open(9, src, 16, pt.length, dst, 40), true);
    assert.deepEqual(src, sealed, 'the source is not written');
    assert.deepEqual(dst.subarray(40, 40 + pt.length), pt);
    assert.ok(
      dst.subarray(0, 40).every((b) => b === 0xaa) && dst.subarray(40 + pt.length).every((b) => b === 0xaa),
    );
    src[100] ^= 4;
    assert.equal(k.open(9, src, 16, pt.length, dst, 40), false);
    assert.ok(
      dst.subarray(40, 40 + pt.length).every((b) => b === 0),
      'no unauthenticated plaintext',
    );
    assert.ok(dst.subarray(40 + pt.length).every((b) => b === 0xaa));
    // in place through the same offset is allowed; a partial overlap is not
    assert.equal(k.open(9, sealed, 16, pt.length, sealed, 16), true);
    assert.throws(() => k.open(9, sealed, 16, pt.length, sealed, 17), { code: 'ERR_OUT_OF_RANGE' });
    k.release();
  });

  it('interleaves seal and open on one key with many counters and keeps each result exact', () => {
    const key = new Uint8Array(randomBytes(32));
    const k = NativeAeadKey.create(key);
    for (let counter = 0; counter < 2000; counter++) {
      const pt = new Uint8Array(randomBytes(counter % 97));
      const sealed = addonSeal(k, counter, pt);
      assert.deepEqual(sealed, nodeSeal(key, counter, pt));
      if (counter % 3 === 0) sealed[0] ^= 1; // a ciphertext byte, or the tag when empty
      const tampered = counter % 3 === 0;
      assert.equal(k.open(counter, sealed, 0, pt.length), !tampered);
      if (!tampered) assert.deepEqual(sealed.subarray(0, pt.length), pt);
    }
    k.release();
  });

  it('throws typed errors for misuse: bad key, short buffer, bad counter, wrong types, released key', () => {
    assert.throws(() => NativeAeadKey.create(new Uint8Array(31)), { code: 'ERR_BAD_KEY' });
    const k = NativeAeadKey.create(new Uint8Array(32));
    const buf = new Uint8Array(100);
    assert.throws(() => k.seal(0, buf, 0, 85), { name: 'ConfigError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.seal(0, buf, 90, 0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.open(0, buf, -1, 10), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.seal(0, buf, 0.5, 10), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.seal(-1, buf, 0, 10), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.seal(2 ** 53, buf, 0, 10), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.seal(1.5, buf, 0, 10), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.seal(0, new Uint16Array(100) as unknown as Uint8Array, 0, 10), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    assert.throws(() => k.seal(0, [1, 2, 3] as unknown as Uint8Array, 0, 0), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    assert.throws(() => k.sealWithNonce(new Uint8Array(8), null, buf, 0, 10), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => k.sealWithNonce(new Uint8Array(12), 'aad' as unknown as Uint8Array, buf, 0, 10), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    k.seal(0, buf, 0, 84); // exactly fits
    assert.throws(() => NativeAeadKey.create(new Uint8Array(32), 'sign' as 'seal'), {
      code: 'ERR_BAD_OPTION',
    });
    k.release();
    k.release(); // idempotent
    assert.equal(k.released, true);
    assert.throws(() => k.seal(0, buf, 0, 10), { name: 'ClosedError', code: 'ERR_CLOSED' });
    assert.throws(() => k.open(0, buf, 0, 10), { code: 'ERR_CLOSED' });
  });

  it('keeps one OpenSSL context per direction and refuses the other direction', () => {
    const key = new Uint8Array(randomBytes(32));
    const sealer = NativeAeadKey.create(key, 'seal');
    const opener = NativeAeadKey.create(key, 'open');
    const pt = new Uint8Array(randomBytes(200));
    const sealed = addonSeal(sealer, 77, pt);
    assert.deepEqual(sealed, nodeSeal(key, 77, pt));
    assert.equal(opener.open(77, sealed, 0, pt.length), true);
    assert.deepEqual(sealed.subarray(0, pt.length), pt);
    assert.throws(() => opener.seal(1, sealed, 0, 10), { name: 'ConfigError', code: 'ERR_AEAD_DIRECTION' });
    assert.throws(() => sealer.open(1, sealed, 0, 10), { code: 'ERR_AEAD_DIRECTION' });
    assert.throws(() => sealer.openWithNonce(new Uint8Array(12), null, sealed, 0, 10), {
      code: 'ERR_AEAD_DIRECTION',
    });
    sealer.release();
    opener.release();
  });

  it('refuses foreign handles and released handles in the raw addon with TypeErrors', () => {
    const addon = createRequire(import.meta.url)(nativeAeadPath()) as AeadAddon;
    const buf = new Uint8Array(32);
    assert.throws(() => addon.seal({}, 0, 0, buf, 0, 0), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => addon.open(null as unknown as object, 0, 0, buf, 0, 0), { name: 'TypeError' });
    for (const bad of [5, 'key', undefined, new Uint8Array(8)])
      assert.throws(() => addon.seal(bad as unknown as object, 0, 0, buf, 0, 0), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
    assert.throws(
      () => addon.seal(addon.newKey(new Uint8Array(32)), '1' as unknown as number, 0, buf, 0, 0),
      {
        code: 'ERR_INVALID_ARG_TYPE',
      },
    );
    assert.throws(() => (addon.seal as (...a: unknown[]) => void)(), { name: 'TypeError' });
    assert.throws(() => addon.newKey(new Uint8Array(32), 4), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
    });
    assert.throws(() => addon.newKey(new Uint8Array(32), 0), { code: 'ERR_OUT_OF_RANGE' });
    const h = addon.newKey(new Uint8Array(32));
    assert.throws(() => addon.seal(h, 2 ** 32, 0, buf, 0, 0), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
    });
    assert.throws(() => addon.seal(h, 0, 0, buf, 0, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    addon.seal(h, 0, 0, buf, 0, 16);
    addon.release(h);
    assert.throws(() => addon.seal(h, 0, 0, buf, 0, 0), { name: 'TypeError', code: 'ERR_AEAD_RELEASED' });
  });
});
