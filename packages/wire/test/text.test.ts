import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { latin1, latin1Bytes } from '../src/index.js';

describe('Latin-1 text', () => {
  it('round-trips every byte value, one byte per character', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const s = latin1(b);
        assert.equal(s.length, b.length);
        assert.deepEqual(latin1Bytes(s), b);
      }),
      { numRuns: 2_000 },
    );
    assert.equal(latin1(Uint8Array.from([0x50, 0x4f, 0x52, 0x54, 0xe9]), 1, 4), 'ORT');
  });

  it('refuses a character above U+00FF with a RangeError instead of truncating it', () => {
    assert.throws(() => latin1Bytes('PORT 1,2,3,4,5,6 \u20ac'), RangeError);
  });
});
