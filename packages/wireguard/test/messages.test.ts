import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { messageType, readU64le, writeU32le, writeU64le } from '../src/messages.js';

describe('WireGuard message framing', () => {
  it('recognises each type only at its exact length (or the transport minimum) with zero reserved bytes', () => {
    const mk = (t: number, n: number) => {
      const b = new Uint8Array(n);
      b[0] = t;
      return b;
    };
    assert.equal(messageType(mk(1, 148)), 1);
    assert.equal(messageType(mk(1, 147)), 0);
    assert.equal(messageType(mk(2, 92)), 2);
    assert.equal(messageType(mk(2, 93)), 0);
    assert.equal(messageType(mk(3, 64)), 3);
    assert.equal(messageType(mk(4, 32)), 4);
    assert.equal(messageType(mk(4, 31)), 0);
    assert.equal(messageType(mk(5, 64)), 0);
    const r = mk(4, 40);
    r[2] = 1;
    assert.equal(messageType(r), 0);
    assert.equal(messageType(new Uint8Array(0)), 0);
  });

  it('writes little-endian indices and 64-bit counters byte for byte', () => {
    const b = new Uint8Array(16);
    writeU32le(b, 4, 0x11223344);
    writeU64le(b, 8, 0x0102030405060);
    assert.deepEqual([...b], [0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, 0, 0]);
    assert.equal(readU64le(b, 8), 0x0102030405060);
    writeU64le(b, 8, 2 ** 53 - 1);
    assert.equal(readU64le(b, 8), 2 ** 53 - 1);
  });
});
