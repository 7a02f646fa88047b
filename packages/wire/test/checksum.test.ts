import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  checksum,
  emitIpv4,
  finishChecksum,
  foldSum,
  Ipv4Packet,
  onesSum,
  rewrite16,
  updateChecksum16,
  updateChecksum32,
  updateChecksumBytes,
} from '../src/index.js';

function naive(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) + (i + 1 < b.length ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('checksum', () => {
  it('passes the RFC 1624 vector: HC 0xDD2F, field 0x5555 -> 0x3285 gives 0x0000', () => {
    assert.equal(updateChecksum16(0xdd2f, 0x5555, 0x3285), 0x0000);
  });

  it('matches the RFC 1071 example sum of 00 01 f2 03 f4 f5 f6 f7', () => {
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    assert.equal(foldSum(onesSum(b, 0, b.length)), 0xddf2);
    assert.equal(checksum(b, 0, b.length), 0x220d);
  });

  it('agrees with a naive recompute for arbitrary buffers, odd lengths and offsets included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(7), (bytes, skip) => {
        const off = Math.min(skip, bytes.length);
        assert.equal(checksum(bytes, off, bytes.length - off), naive(bytes.subarray(off)));
      }),
      { numRuns: 2000 },
    );
  });

  it('incremental 16-bit and 32-bit updates equal a full recompute', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 40, maxLength: 200 }),
        fc.nat(18),
        fc.integer({ min: 0, max: 0xffffffff }),
        (bytes, w, v) => {
          const b = bytes.slice(0, bytes.length & ~1);
          const at = w * 2;
          const hc = naive(b);
          const old32 = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
          const c = b.slice();
          c[at] = v >>> 24;
          c[at + 1] = (v >>> 16) & 0xff;
          c[at + 2] = (v >>> 8) & 0xff;
          c[at + 3] = v & 0xff;
          const inc = updateChecksum32(hc, old32, v);
          // Ones'-complement has two zeros; compare by verifying the buffer sums to zero.
          const full = naive(c);
          assert.ok(
            inc === full || ((inc ^ full) === 0xffff && (inc === 0 || full === 0)),
            `${inc} vs ${full}`,
          );
          const old16 = (b[at] << 8) | b[at + 1];
          const inc16 = updateChecksum16(hc, old16, v & 0xffff);
          const d = b.slice();
          d[at] = (v >>> 8) & 0xff;
          d[at + 1] = v & 0xff;
          const full16 = naive(d);
          assert.ok(
            inc16 === full16 || (inc16 === 0 && full16 === 0xffff) || (inc16 === 0xffff && full16 === 0),
          );
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('updates over a byte run (an IPv6 address) equal a full recompute', () => {
    const b = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
    const hc = naive(b);
    const newAddr = new Uint8Array(16).map((_, i) => (i * 91 + 5) & 0xff);
    const inc = updateChecksumBytes(hc, b, 8, newAddr, 0, 16);
    b.set(newAddr, 8);
    assert.equal(inc, naive(b));
  });

  it('rewrite16 keeps an IPv4 header checksum valid', () => {
    const pkt = emitIpv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17 }, new Uint8Array(8));
    rewrite16(pkt, 4, 0xbeef, 10);
    const v = Ipv4Packet.checked(pkt)!;
    assert.equal(v.identification, 0xbeef);
    assert.ok(v.verifyChecksum());
    assert.ok(verifyPacket(pkt).checked.includes('ipv4'));
  });

  it('finishChecksum complements the folded sum', () => {
    assert.equal(finishChecksum(0x1fffe), 0x0000);
    assert.equal(finishChecksum(0), 0xffff);
  });
});
