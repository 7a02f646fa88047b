import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { L3kitError } from '@l3kit/core';
import fc from 'fast-check';
import { Blake2s, blake2s } from '../src/blake2s.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 7693 Appendix E: deterministic input sequence of the self-test.
function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = t >>> 24;
  }
  return out;
}

describe('BLAKE2s (RFC 7693)', () => {
  it('hashes "abc" to the RFC 7693 Appendix B digest', () => {
    assert.equal(
      hex(blake2s(new TextEncoder().encode('abc'))),
      '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
    );
  });

  it('passes the RFC 7693 Appendix E self-test over keyed and unkeyed hashes of every size', () => {
    const ctx = new Blake2s(32);
    for (const outLen of [16, 20, 28, 32]) {
      for (const inLen of [0, 3, 64, 65, 255, 1024]) {
        const input = selftestSeq(inLen, inLen);
        ctx.update(blake2s(input, outLen));
        ctx.update(blake2s(input, outLen, selftestSeq(outLen, outLen)));
      }
    }
    assert.equal(hex(ctx.digest()), '6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
  });

  it('matches the official keyed known-answer vectors (key 00..1f)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    assert.equal(
      hex(blake2s(new Uint8Array(0), 32, key)),
      '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49',
    );
    assert.equal(
      hex(blake2s(Uint8Array.of(0), 32, key)),
      '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1',
    );
  });

  it('agrees with Node native blake2s256 on arbitrary unkeyed input split arbitrarily', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(600), (data, cut) => {
        const c = Math.min(cut, data.length);
        const h = new Blake2s(32).update(data.subarray(0, c)).update(data.subarray(c)).digest();
        assert.equal(hex(h), createHash('blake2s256').update(data).digest('hex'));
      }),
    );
  });

  it('gives the same result when a reused hasher is re-initialised', () => {
    const h = new Blake2s(16, unhex('01'.repeat(32)));
    const a = hex(h.update(Uint8Array.of(1, 2, 3)).digest());
    h.init(16, unhex('01'.repeat(32)));
    assert.equal(hex(h.update(Uint8Array.of(1, 2, 3)).digest()), a);
    assert.equal(a.length, 32);
  });

  it('rejects bad output and key lengths with a typed error', () => {
    assert.throws(
      () => new Blake2s(0),
      (e: unknown) => e instanceof L3kitError && e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new Blake2s(33),
      (e: unknown) => e instanceof L3kitError && e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new Blake2s(16, new Uint8Array(33)),
      (e: unknown) => e instanceof L3kitError,
    );
  });
});
