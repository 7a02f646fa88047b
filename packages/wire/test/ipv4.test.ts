import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  checksum,
  emitIpv4,
  emitIpv4Header,
  formatIpv4,
  IPV4_MIN_HEADER_LEN,
  Ipv4Packet,
  type Ipv4Repr,
  ipv4HeaderLen,
  parseIpv4Repr,
} from '../src/index.js';
import { ipv4MiddleFragment, ipv4RouterAlertIgmp, ipv4UdpWikipedia } from './fixtures/ipv4-fixtures.js';

/** Reads every accessor, so a property test notices any throw or out-of-range read. */
function touchAll(p: Ipv4Packet): number {
  let acc =
    p.version +
    p.headerLen +
    p.dscp +
    p.ecn +
    p.tos +
    p.totalLength +
    p.identification +
    p.fragmentOffset +
    p.ttl +
    p.protocol +
    p.checksum +
    p.src +
    p.dst +
    p.payloadOffset +
    p.payloadLength +
    Number(p.dontFragment) +
    Number(p.moreFragments) +
    Number(p.isFragment) +
    Number(p.verifyChecksum());
  acc += p.options().length + p.payload().length + p.bytes().length;
  return acc;
}

/** Protocol numbers the checksum oracle does not look inside (so random payloads are fine). */
const opaqueProtocol = fc.integer({ min: 0, max: 255 }).filter((p) => ![1, 6, 17, 47, 58].includes(p));

const ipv4Text = fc.integer({ min: 0, max: 0xffffffff }).map(formatIpv4);

const ipv4Repr: fc.Arbitrary<Ipv4Repr> = fc.record(
  {
    src: ipv4Text,
    dst: ipv4Text,
    protocol: opaqueProtocol,
    ttl: fc.integer({ min: 0, max: 255 }),
    tos: fc.integer({ min: 0, max: 255 }),
    identification: fc.integer({ min: 0, max: 0xffff }),
    dontFragment: fc.boolean(),
    moreFragments: fc.boolean(),
    fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((u) => u * 8),
    options: fc.uint8Array({ minLength: 1, maxLength: 40, size: 'max' }),
  },
  { requiredKeys: ['src', 'dst', 'protocol'] },
);

describe('ipv4', () => {
  it('parses the Wikipedia checksum example field by field', () => {
    const p = Ipv4Packet.checked(ipv4UdpWikipedia);
    assert.ok(p);
    assert.equal(p.version, 4);
    assert.equal(p.headerLen, 20);
    assert.equal(p.tos, 0);
    assert.equal(p.totalLength, 115);
    assert.equal(p.identification, 0);
    assert.equal(p.dontFragment, true);
    assert.equal(p.moreFragments, false);
    assert.equal(p.fragmentOffset, 0);
    assert.equal(p.isFragment, false);
    assert.equal(p.ttl, 64);
    assert.equal(p.protocol, 17);
    assert.equal(p.checksum, 0xb861);
    assert.equal(formatIpv4(p.src), '192.168.0.1');
    assert.equal(formatIpv4(p.dst), '192.168.0.199');
    assert.equal(p.payloadOffset, 20);
    assert.equal(p.payloadLength, 95);
    assert.equal(p.payload().length, 95);
    assert.equal(p.options().length, 0);
    assert.ok(p.verifyChecksum());
    assertChecksums(ipv4UdpWikipedia, 'fixture');
  });

  it('computes the same header checksum as the worked example when emitting it', () => {
    const p = Ipv4Packet.checked(ipv4UdpWikipedia)!;
    const out = emitIpv4(parseIpv4Repr(p), p.payload());
    assert.deepEqual(out, ipv4UdpWikipedia);
  });

  it('parses options, DSCP and the payload offset of a packet with a Router Alert option', () => {
    const p = Ipv4Packet.checked(ipv4RouterAlertIgmp);
    assert.ok(p);
    assert.equal(p.headerLen, 24);
    assert.deepEqual([...p.options()], [0x94, 0x04, 0x00, 0x00]);
    assert.equal(p.dscp, 48);
    assert.equal(p.ecn, 0);
    assert.equal(p.ttl, 1);
    assert.equal(p.protocol, 2);
    assert.equal(formatIpv4(p.dst), '224.0.0.22');
    assert.equal(p.payloadOffset, 24);
    assert.equal(p.payloadLength, 16);
    assert.equal(p.payload()[0], 0x22);
    assert.ok(p.verifyChecksum());
    const repr = parseIpv4Repr(p);
    assert.deepEqual(repr.options, Uint8Array.of(0x94, 4, 0, 0));
    assert.deepEqual(emitIpv4(repr, p.payload()), ipv4RouterAlertIgmp);
  });

  it('reports the fragment offset in bytes and MF of a middle fragment', () => {
    const p = Ipv4Packet.checked(ipv4MiddleFragment);
    assert.ok(p);
    assert.equal(p.identification, 0xabcd);
    assert.equal(p.moreFragments, true);
    assert.equal(p.dontFragment, false);
    assert.equal(p.fragmentOffset, 1480);
    assert.equal(p.isFragment, true);
    assert.deepEqual(emitIpv4(parseIpv4Repr(p), p.payload()), ipv4MiddleFragment);
  });

  it('writes the fragment offset field as bytes / 8 and counts a last fragment as a fragment', () => {
    const b = ipv4MiddleFragment.slice();
    const p = Ipv4Packet.checked(b)!;
    p.setFragment(false, false, 65528);
    assert.equal(b[6], 0x1f);
    assert.equal(b[7], 0xff);
    assert.equal(p.fragmentOffset, 65528);
    assert.equal(p.moreFragments, false);
    assert.equal(p.isFragment, true);
    p.setFragment(true, false, 0);
    assert.equal(b[6], 0x40);
    assert.equal(b[7], 0x00);
    assert.equal(p.isFragment, false);
    assert.equal(p.dontFragment, true);
  });

  it('rejects truncated headers, IHL below 5, other versions and total lengths past the buffer', () => {
    const good = ipv4UdpWikipedia;
    for (let n = 0; n < 20; n++) assert.equal(Ipv4Packet.checked(good.subarray(0, n)), null, `length ${n}`);
    for (let ihl = 0; ihl < 5; ihl++) {
      const b = good.slice();
      b[0] = 0x40 | ihl;
      assert.equal(Ipv4Packet.checked(b), null, `IHL ${ihl}`);
    }
    for (const v of [0, 1, 5, 6, 15]) {
      const b = good.slice();
      b[0] = (v << 4) | 5;
      assert.equal(Ipv4Packet.checked(b), null, `version ${v}`);
    }
    // Total length one past the buffer.
    assert.equal(Ipv4Packet.checked(good.subarray(0, good.length - 1)), null);
    // Total length smaller than the header.
    const shortTotal = good.slice();
    shortTotal[2] = 0;
    shortTotal[3] = 19;
    assert.equal(Ipv4Packet.checked(shortTotal), null);
    // IHL 15 (60 bytes) larger than total length 40.
    const bigIhl = ipv4RouterAlertIgmp.slice();
    bigIhl[0] = 0x4f;
    assert.equal(Ipv4Packet.checked(bigIhl), null);
    // `end` limits the packet even when the buffer is longer.
    assert.equal(Ipv4Packet.checked(good, 0, 114), null);
    // `end` beyond the buffer and a negative offset are rejected, not trusted.
    assert.equal(Ipv4Packet.checked(good, 0, good.length + 1), null);
    assert.equal(Ipv4Packet.checked(good, -1), null);
  });

  it('accepts link padding after Total Length and a packet at an offset inside a larger buffer', () => {
    const big = new Uint8Array(7 + ipv4RouterAlertIgmp.length + 13).fill(0xee);
    big.set(ipv4RouterAlertIgmp, 7);
    const p = Ipv4Packet.checked(big, 7);
    assert.ok(p);
    assert.equal(p.off, 7);
    assert.equal(p.payloadOffset, 7 + 24);
    assert.deepEqual(p.bytes(), ipv4RouterAlertIgmp);
    assert.ok(p.verifyChecksum());
  });

  it('rebinds a long-lived view and leaves it untouched when the new buffer is invalid', () => {
    const v = Ipv4Packet.empty();
    assert.equal(v.rebind(ipv4UdpWikipedia), true);
    assert.equal(v.totalLength, 115);
    assert.equal(v.rebind(ipv4RouterAlertIgmp), true);
    assert.equal(v.headerLen, 24);
    assert.equal(v.rebind(ipv4UdpWikipedia.subarray(0, 10)), false);
    assert.equal(v.buf, ipv4RouterAlertIgmp);
    assert.equal(v.headerLen, 24);
  });

  it('keeps the checksum equal to a full recompute through incremental address changes', () => {
    fc.assert(
      fc.property(
        ipv4Repr,
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (repr, src, dst) => {
          const b = emitIpv4(repr, new Uint8Array(0));
          const p = Ipv4Packet.checked(b)!;
          p.setSrcIncremental(src);
          p.setDstIncremental(dst);
          assert.equal(p.src, src);
          assert.equal(p.dst, dst);
          const incremental = p.checksum;
          p.fillChecksum();
          assert.equal(incremental, p.checksum);
          assert.ok(p.verifyChecksum());
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decrements TTL with an incremental checksum update that matches a full recompute', () => {
    fc.assert(
      fc.property(ipv4Repr, (repr) => {
        const b = emitIpv4(repr, new Uint8Array(0));
        const p = Ipv4Packet.checked(b)!;
        const before = p.ttl;
        assert.equal(p.decrementTtl(), (before - 1) & 0xff);
        assert.equal(p.ttl, (before - 1) & 0xff);
        const incremental = p.checksum;
        p.fillChecksum();
        assert.equal(incremental, p.checksum);
        assertChecksums(b, 'after decrementTtl');
      }),
      { numRuns: 2000 },
    );
    const b = ipv4UdpWikipedia.slice();
    const p = Ipv4Packet.checked(b)!;
    assert.equal(p.decrementTtl(), 63);
    assert.equal(b[8], 63);
    assertChecksums(b);
  });

  it('plain setters change only their bytes and fillChecksum repairs the header', () => {
    const b = ipv4UdpWikipedia.slice();
    const p = Ipv4Packet.checked(b)!;
    p.setTos(0xb8);
    p.setIdentification(0x1234);
    p.setTtl(5);
    p.setProtocol(253);
    p.setSrc(0x0a000001);
    p.setDst(0x0a000002);
    p.setTotalLength(100);
    assert.equal(p.verifyChecksum(), false);
    p.fillChecksum();
    assert.ok(p.verifyChecksum());
    assert.equal(p.dscp, 46);
    assert.equal(p.identification, 0x1234);
    assert.equal(p.ttl, 5);
    assert.equal(p.protocol, 253);
    assert.equal(formatIpv4(p.src), '10.0.0.1');
    assert.equal(formatIpv4(p.dst), '10.0.0.2');
    assert.equal(p.totalLength, 100);
    assert.deepEqual(b.subarray(20), ipv4UdpWikipedia.subarray(20));
    assert.equal(checksum(b, 0, 20), 0);
  });

  it('never throws from checked() or rebind() on arbitrary bytes', () => {
    const view = Ipv4Packet.empty();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 120, size: 'max' }),
        fc.boolean(),
        fc.nat(8),
        (bytes, forceV4, skip) => {
          if (forceV4 && bytes.length > 0) bytes[0] = 0x40 | (bytes[0] & 0x0f);
          if (forceV4 && bytes.length > 3) {
            bytes[2] = 0;
            bytes[3] = Math.min(bytes[3], bytes.length);
          }
          const off = Math.min(skip, bytes.length);
          const p = Ipv4Packet.checked(bytes, off);
          if (p) {
            touchAll(p);
            assert.ok(p.payloadOffset <= off + p.totalLength);
            assert.ok(off + p.totalLength <= bytes.length);
          }
          assert.equal(view.rebind(bytes, off), p !== null);
          if (p) touchAll(view);
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('round-trips arbitrary valid Reprs through emit and parse with correct checksums', () => {
    fc.assert(
      fc.property(ipv4Repr, fc.uint8Array({ maxLength: 100, size: 'max' }), (repr, payload) => {
        const out = emitIpv4(repr, payload);
        assert.equal(out.length, ipv4HeaderLen(repr) + payload.length);
        assertChecksums(out, 'emitted IPv4');
        const p = Ipv4Packet.checked(out);
        assert.ok(p);
        const back = parseIpv4Repr(p);
        assert.equal(back.src, repr.src);
        assert.equal(back.dst, repr.dst);
        assert.equal(back.protocol, repr.protocol);
        assert.equal(back.ttl, repr.ttl ?? 64);
        assert.equal(back.tos, repr.tos ?? 0);
        assert.equal(back.identification, repr.identification ?? 0);
        assert.equal(back.dontFragment, repr.dontFragment ?? false);
        assert.equal(back.moreFragments, repr.moreFragments ?? false);
        assert.equal(back.fragmentOffset, repr.fragmentOffset ?? 0);
        if (repr.options) {
          const padded = new Uint8Array((repr.options.length + 3) & ~3);
          padded.set(repr.options);
          assert.deepEqual(back.options, padded);
        } else {
          assert.equal(back.options, undefined);
        }
        assert.deepEqual(p.payload(), payload);
        assert.deepEqual(emitIpv4(back, p.payload()), out);
      }),
      { numRuns: 10_000 },
    );
  });

  it('emits the header at an offset and throws RangeError on misuse', () => {
    const buf = new Uint8Array(30).fill(0xaa);
    const repr: Ipv4Repr = { src: '10.0.0.1', dst: '10.0.0.2', protocol: 253 };
    assert.equal(emitIpv4Header(repr, 0, buf, 10), IPV4_MIN_HEADER_LEN);
    assert.deepEqual(buf.subarray(0, 10), new Uint8Array(10).fill(0xaa));
    assert.ok(Ipv4Packet.checked(buf, 10)?.verifyChecksum());
    assert.equal(verifyPacket(buf.subarray(10)).ok, true);
    assert.throws(() => emitIpv4Header(repr, 0, buf, 11), RangeError);
    assert.throws(() => emitIpv4({ ...repr, src: '10.0.0.256' }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv4({ ...repr, options: new Uint8Array(41) }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv4Header(repr, 65516, new Uint8Array(20)), RangeError);
  });
});
