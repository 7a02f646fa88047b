import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  emitIpv6,
  emitIpv6FragmentHeader,
  emitIpv6Header,
  formatIpv6,
  Icmpv6Packet,
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  Ipv6HeaderChain,
  Ipv6Packet,
  type Ipv6Repr,
  parseIpv6,
  parseIpv6Repr,
  pseudoHeaderSum6,
} from '../src/index.js';
import {
  ipv6AhEcho,
  ipv6DestOptsRoutingNoNext,
  ipv6HopByHopFragmentUdp,
  ipv6LastFragment,
} from './fixtures/ipv6-fixtures.js';

const fixtures = { ipv6AhEcho, ipv6DestOptsRoutingNoNext, ipv6HopByHopFragmentUdp, ipv6LastFragment };

function touchAll(p: Ipv6Packet): number {
  return (
    p.version +
    p.trafficClass +
    p.dscp +
    p.ecn +
    p.flowLabel +
    p.payloadLength +
    p.nextHeader +
    p.hopLimit +
    p.srcOffset +
    p.dstOffset +
    p.payloadOffset +
    p.totalLength +
    p.end +
    p.srcAddr().length +
    p.dstAddr().length +
    p.payload().length +
    p.bytes().length
  );
}

/** A fixed header + `payload`, built without the code under test. */
function rawPacket(nextHeader: number, payload: number[] | Uint8Array): Uint8Array {
  const b = new Uint8Array(40 + payload.length);
  b[0] = 0x60;
  b[4] = payload.length >> 8;
  b[5] = payload.length & 0xff;
  b[6] = nextHeader;
  b[7] = 64;
  b.set(parseIpv6('2001:db8::1')!, 8);
  b.set(parseIpv6('2001:db8::2')!, 24);
  b.set(payload, 40);
  return b;
}

/** Next-header numbers the checksum oracle neither walks nor checksums. */
const opaqueNextHeader = fc
  .integer({ min: 0, max: 255 })
  .filter((n) => ![0, 6, 17, 43, 44, 47, 58, 60].includes(n));

const ipv6Text = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b));

const ipv6Repr: fc.Arbitrary<Ipv6Repr> = fc.record(
  {
    src: ipv6Text,
    dst: ipv6Text,
    nextHeader: opaqueNextHeader,
    hopLimit: fc.integer({ min: 0, max: 255 }),
    trafficClass: fc.integer({ min: 0, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  },
  { requiredKeys: ['src', 'dst', 'nextHeader'] },
);

/** One extension header of a model chain. */
interface ExtModel {
  kind: 0 | 43 | 44 | 51 | 60;
  /** Hdr Ext Len (or AH Payload Len) byte. */
  lenField: number;
  routingType: number;
  segmentsLeft: number;
  fragOffset: number;
  more: boolean;
  id: number;
}

function extLen(e: ExtModel): number {
  if (e.kind === 44) return 8;
  if (e.kind === 51) return (e.lenField + 2) * 4;
  return (e.lenField + 1) * 8;
}

const extModel: fc.Arbitrary<ExtModel> = fc.record({
  kind: fc.constantFrom(43 as const, 44 as const, 51 as const, 60 as const),
  lenField: fc.integer({ min: 0, max: 4 }),
  routingType: fc.integer({ min: 0, max: 255 }),
  segmentsLeft: fc.integer({ min: 0, max: 255 }),
  fragOffset: fc.integer({ min: 0, max: 0x1fff }).map((u) => u * 8),
  more: fc.boolean(),
  id: fc.integer({ min: 0, max: 0xffffffff }),
});

/** Builds a packet from a model chain with plain byte writes (independent of the code under test). */
function buildChain(exts: ExtModel[], upper: number, upperLen: number): Uint8Array {
  const parts: number[] = [];
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i];
    const next = i + 1 < exts.length ? exts[i + 1].kind : upper;
    const h = new Array<number>(extLen(e)).fill(0);
    h[0] = next;
    if (e.kind === 44) {
      const w = e.fragOffset | (e.more ? 1 : 0);
      h[2] = w >> 8;
      h[3] = w & 0xff;
      h[4] = e.id >>> 24;
      h[5] = (e.id >>> 16) & 0xff;
      h[6] = (e.id >>> 8) & 0xff;
      h[7] = e.id & 0xff;
    } else {
      h[1] = e.lenField;
      if (e.kind === 43) {
        h[2] = e.routingType;
        h[3] = e.segmentsLeft;
      }
    }
    parts.push(...h);
  }
  for (let i = 0; i < upperLen; i++) parts.push(0x5a);
  return rawPacket(exts.length ? exts[0].kind : upper, parts);
}

describe('ipv6', () => {
  it('parses the fixed header of a Hop-by-Hop + Fragment + UDP packet field by field', () => {
    const p = Ipv6Packet.checked(ipv6HopByHopFragmentUdp);
    assert.ok(p);
    assert.equal(p.version, 6);
    assert.equal(p.trafficClass, 0);
    assert.equal(p.flowLabel, 0);
    assert.equal(p.payloadLength, 32);
    assert.equal(p.nextHeader, 0);
    assert.equal(p.hopLimit, 64);
    assert.equal(p.srcOffset, 8);
    assert.equal(p.dstOffset, 24);
    assert.equal(formatIpv6(p.srcAddr()), '2001:db8::1');
    assert.equal(formatIpv6(p.dstAddr()), '2001:db8::2');
    assert.equal(p.payloadOffset, 40);
    assert.equal(p.totalLength, 72);
    assert.equal(p.end, 72);
    assert.equal(p.payload().length, 32);
  });

  it('walks Hop-by-Hop and a first-fragment Fragment header to the UDP header', () => {
    const p = Ipv6Packet.checked(ipv6HopByHopFragmentUdp)!;
    const c = new Ipv6HeaderChain();
    assert.equal(c.parse(p), true);
    assert.equal(c.upperProtocol, 17);
    assert.equal(c.upperOffset, 56);
    assert.equal(c.upperPresent, true);
    assert.equal(c.upperLength, 16);
    assert.equal(c.nextHeaderFieldOffset, 48);
    assert.equal(c.fragmentHeaderOffset, 48);
    assert.equal(c.fragmentOffset, 0);
    assert.equal(c.moreFragments, true);
    assert.equal(c.isFragment, true);
    assert.equal(c.fragmentId, 0x12345678);
    assert.equal(c.routingHeaderOffset, -1);
    assert.equal(c.segmentsLeft, 0);
    const b = p.buf;
    assert.equal((b[c.upperOffset] << 8) | b[c.upperOffset + 1], 50000);
  });

  it('says that a non-first fragment has no upper-layer header', () => {
    const p = Ipv6Packet.checked(ipv6LastFragment)!;
    const c = new Ipv6HeaderChain();
    assert.equal(c.parse(p), true);
    assert.equal(c.upperPresent, false);
    assert.equal(c.upperProtocol, 17);
    assert.equal(c.upperOffset, 48);
    assert.equal(c.upperLength, 8);
    assert.equal(c.fragmentHeaderOffset, 40);
    assert.equal(c.fragmentOffset, 1488);
    assert.equal(c.moreFragments, false);
    assert.equal(c.isFragment, true);
    assert.equal(c.fragmentId, 0x12345678);
  });

  it('reports the Routing header type and Segments Left and stops at No Next Header', () => {
    const p = Ipv6Packet.checked(ipv6DestOptsRoutingNoNext)!;
    const c = new Ipv6HeaderChain();
    assert.equal(c.parse(p), true);
    assert.equal(c.routingHeaderOffset, 48);
    assert.equal(c.routingType, 2);
    assert.equal(c.segmentsLeft, 1);
    assert.equal(c.upperProtocol, 59);
    assert.equal(c.upperOffset, 72);
    assert.equal(c.upperLength, 0);
    assert.equal(c.nextHeaderFieldOffset, 48);
    assert.equal(c.fragmentHeaderOffset, -1);
    assert.equal(c.isFragment, false);
    assert.equal(c.upperPresent, true);
  });

  it('skips an Authentication Header by (Payload Len + 2) × 4 bytes to a valid ICMPv6 message', () => {
    const p = Ipv6Packet.checked(ipv6AhEcho)!;
    const c = new Ipv6HeaderChain();
    assert.equal(c.parse(p), true);
    assert.equal(c.upperProtocol, 58);
    assert.equal(c.upperOffset, 64);
    const icmp = Icmpv6Packet.checked(p.buf, c.upperOffset, c.end)!;
    assert.equal(icmp.type, 128);
    assert.equal(icmp.identifier, 0x0102);
    assert.equal(icmp.sequence, 3);
    assert.ok(icmp.verifyChecksum(pseudoHeaderSum6(p.buf, p.off, 58, c.upperLength)));
  });

  it('stops at ESP and at unknown next headers without looking inside', () => {
    const c = new Ipv6HeaderChain();
    for (const nh of [50, 59, 6, 17, 58, 253, 135]) {
      const p = Ipv6Packet.checked(rawPacket(nh, [1, 2, 3, 4]))!;
      assert.equal(c.parse(p), true);
      assert.equal(c.upperProtocol, nh);
      assert.equal(c.upperOffset, 40);
      assert.equal(c.nextHeaderFieldOffset, 6);
    }
  });

  it('treats an atomic fragment (offset 0, M clear) as not fragmented', () => {
    const p = Ipv6Packet.checked(rawPacket(44, [17, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8]))!;
    const c = new Ipv6HeaderChain();
    assert.equal(c.parse(p), true);
    assert.equal(c.fragmentHeaderOffset, 40);
    assert.equal(c.fragmentId, 9);
    assert.equal(c.isFragment, false);
    assert.equal(c.upperPresent, true);
    assert.equal(c.upperProtocol, 17);
    assert.equal(c.upperOffset, 48);
  });

  it('fails the walk when a header runs past the end, Hop-by-Hop is not first, or Fragment repeats', () => {
    const c = new Ipv6HeaderChain();
    // HBH claims 48 bytes in a 32-byte payload.
    const longHbh = ipv6HopByHopFragmentUdp.slice();
    longHbh[41] = 5;
    assert.equal(c.parse(Ipv6Packet.checked(longHbh)!), false);
    // Fragment header with only 4 bytes of payload.
    assert.equal(c.parse(Ipv6Packet.checked(rawPacket(44, [17, 0, 0, 0]))!), false);
    // Routing header with no bytes at all.
    assert.equal(c.parse(Ipv6Packet.checked(rawPacket(43, []))!), false);
    // AH claiming (1 + 2) × 4 = 12 bytes in 8.
    assert.equal(c.parse(Ipv6Packet.checked(rawPacket(51, [59, 1, 0, 0, 0, 0, 0, 0]))!), false);
    // Destination Options then Hop-by-Hop.
    assert.equal(
      c.parse(Ipv6Packet.checked(rawPacket(60, [0, 0, 1, 4, 0, 0, 0, 0, 59, 0, 1, 4, 0, 0, 0, 0]))!),
      false,
    );
    // Two Fragment headers.
    assert.equal(
      c.parse(Ipv6Packet.checked(rawPacket(44, [44, 0, 0, 1, 0, 0, 0, 1, 17, 0, 0, 1, 0, 0, 0, 1]))!),
      false,
    );
    // Exactly filling the payload is fine.
    assert.equal(c.parse(Ipv6Packet.checked(rawPacket(60, [59, 0, 1, 4, 0, 0, 0, 0]))!), true);
    assert.equal(c.upperOffset, 48);
  });

  it('walks arbitrary well-formed chains to the offsets a simple model predicts', () => {
    const c = new Ipv6HeaderChain();
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(extModel, { maxLength: 6, size: 'max' }),
        fc.integer({ min: 0, max: 255 }).filter((n) => ![0, 43, 44, 51, 60].includes(n)),
        fc.nat(40),
        (hbh, rest, upper, upperLen) => {
          // At most one Fragment header; Hop-by-Hop only first.
          const seenFrag = rest.findIndex((e) => e.kind === 44);
          const exts = rest.filter((e, i) => e.kind !== 44 || i === seenFrag);
          if (hbh) exts.unshift({ ...rest[0], kind: 0, lenField: 1 } as ExtModel);
          const b = buildChain(exts, upper, upperLen);
          const p = Ipv6Packet.checked(b)!;
          assert.equal(c.parse(p), true);
          let off = 40;
          let firstRouting = -1;
          let stopped = false;
          let protocol = upper;
          for (let i = 0; i < exts.length; i++) {
            const e = exts[i];
            if (e.kind === 43 && firstRouting < 0) firstRouting = i;
            if (e.kind === 44 && e.fragOffset !== 0) {
              off += 8;
              protocol = i + 1 < exts.length ? exts[i + 1].kind : upper;
              stopped = true;
              break;
            }
            off += extLen(e);
          }
          assert.equal(c.upperOffset, off);
          assert.equal(c.upperProtocol, protocol);
          assert.equal(c.upperPresent, !stopped);
          assert.equal(b[c.nextHeaderFieldOffset], protocol);
          const frag = exts.find((e) => e.kind === 44);
          assert.equal(c.fragmentHeaderOffset >= 0, frag !== undefined);
          if (frag) {
            assert.equal(c.fragmentOffset, frag.fragOffset);
            assert.equal(c.moreFragments, frag.more);
            assert.equal(c.fragmentId, frag.id);
            assert.equal(c.isFragment, frag.fragOffset !== 0 || frag.more);
          }
          const routeVisible = firstRouting >= 0 && (!stopped || exts.indexOf(frag!) > firstRouting);
          if (routeVisible) {
            assert.equal(c.routingType, exts[firstRouting].routingType);
            assert.equal(c.segmentsLeft, exts[firstRouting].segmentsLeft);
          } else {
            assert.equal(c.routingHeaderOffset, -1);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('rejects truncated headers, other versions, payload lengths past the buffer and jumbograms', () => {
    const good = ipv6HopByHopFragmentUdp;
    for (let n = 0; n < 40; n++) assert.equal(Ipv6Packet.checked(good.subarray(0, n)), null, `length ${n}`);
    for (const v of [0, 4, 5, 7, 15]) {
      const b = good.slice();
      b[0] = v << 4;
      assert.equal(Ipv6Packet.checked(b), null, `version ${v}`);
    }
    assert.equal(Ipv6Packet.checked(good.subarray(0, good.length - 1)), null);
    assert.equal(Ipv6Packet.checked(good, 0, good.length - 1), null);
    assert.equal(Ipv6Packet.checked(good, 0, good.length + 1), null);
    assert.equal(Ipv6Packet.checked(good, -1), null);
    const jumbo = good.slice();
    jumbo[4] = 0;
    jumbo[5] = 0;
    assert.equal(Ipv6Packet.checked(jumbo), null, 'payload length 0 with Hop-by-Hop is a jumbogram');
    const empty = rawPacket(59, []);
    const e = Ipv6Packet.checked(empty);
    assert.ok(e, 'an empty payload with No Next Header is valid');
    assert.equal(e.payload().length, 0);
  });

  it('accepts link padding and a packet at an offset inside a larger buffer', () => {
    const big = new Uint8Array(5 + ipv6LastFragment.length + 9).fill(0xee);
    big.set(ipv6LastFragment, 5);
    const p = Ipv6Packet.checked(big, 5)!;
    assert.ok(p);
    assert.equal(p.srcOffset, 13);
    assert.equal(p.payloadOffset, 45);
    assert.deepEqual(p.bytes(), ipv6LastFragment);
    const c = new Ipv6HeaderChain();
    assert.equal(c.parse(p), true);
    assert.equal(c.fragmentHeaderOffset, 45);
    assert.equal(c.end, 5 + 56);
  });

  it('rebinds a long-lived view and leaves it untouched when the new buffer is invalid', () => {
    const v = Ipv6Packet.empty();
    assert.equal(v.rebind(ipv6AhEcho), true);
    assert.equal(v.nextHeader, 51);
    assert.equal(v.rebind(ipv6LastFragment), true);
    assert.equal(v.nextHeader, 44);
    assert.equal(v.rebind(ipv6AhEcho.subarray(0, 39)), false);
    assert.equal(v.buf, ipv6LastFragment);
  });

  it('setters change only their own bits', () => {
    const b = rawPacket(59, []);
    const p = Ipv6Packet.checked(b)!;
    p.setFlowLabel(0xabcde);
    p.setTrafficClass(0xb9);
    assert.equal(p.version, 6);
    assert.equal(p.trafficClass, 0xb9);
    assert.equal(p.dscp, 46);
    assert.equal(p.ecn, 1);
    assert.equal(p.flowLabel, 0xabcde);
    p.setFlowLabel(0x12345);
    assert.equal(p.trafficClass, 0xb9);
    assert.equal(p.flowLabel, 0x12345);
    assert.deepEqual([...b.subarray(0, 4)], [0x6b, 0x91, 0x23, 0x45]);
    p.setNextHeader(17);
    p.setHopLimit(2);
    p.setPayloadLength(0);
    assert.equal(p.nextHeader, 17);
    assert.equal(p.decrementHopLimit(), 1);
    assert.equal(p.decrementHopLimit(), 0);
    assert.equal(p.hopLimit, 0);
    const a = parseIpv6('fe80::1:2:3:4')!;
    const src = new Uint8Array(20);
    src.set(a, 4);
    p.setSrc(src, 4);
    p.setDst(parseIpv6('ff02::1')!);
    assert.equal(formatIpv6(p.srcAddr()), 'fe80::1:2:3:4');
    assert.equal(formatIpv6(b, p.dstOffset), 'ff02::1');
  });

  it('writes Fragment headers byte-identical to the fixtures and refuses bad offsets', () => {
    const b = new Uint8Array(10);
    assert.equal(emitIpv6FragmentHeader(b, 1, 17, 0, true, 0x12345678), IPV6_FRAGMENT_HEADER_LEN);
    assert.deepEqual(b.subarray(1, 9), ipv6HopByHopFragmentUdp.subarray(48, 56));
    emitIpv6FragmentHeader(b, 0, 17, 1488, false, 0x12345678);
    assert.deepEqual(b.subarray(0, 8), ipv6LastFragment.subarray(40, 48));
    emitIpv6FragmentHeader(b, 0, 6, 65528, true, 0xffffffff);
    assert.deepEqual([...b.subarray(0, 8)], [6, 0, 0xff, 0xf9, 0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => emitIpv6FragmentHeader(b, 0, 17, 12, false, 0), RangeError);
    assert.throws(() => emitIpv6FragmentHeader(b, 0, 17, 65536, false, 0), RangeError);
    assert.throws(() => emitIpv6FragmentHeader(b, 0, 17, -8, false, 0), RangeError);
    assert.throws(() => emitIpv6FragmentHeader(b, 3, 17, 0, false, 0), RangeError);
  });

  it('re-emits every fixture byte for byte from its Repr', () => {
    for (const [name, bytes] of Object.entries(fixtures)) {
      const p = Ipv6Packet.checked(bytes)!;
      assert.deepEqual(emitIpv6(parseIpv6Repr(p), p.payload()), bytes, name);
    }
  });

  it('emits the header at an offset and throws RangeError on misuse', () => {
    const repr: Ipv6Repr = { src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 59 };
    const buf = new Uint8Array(45).fill(0xaa);
    assert.equal(emitIpv6Header(repr, 0, buf, 5), IPV6_HEADER_LEN);
    assert.deepEqual(buf.subarray(0, 5), new Uint8Array(5).fill(0xaa));
    const p = Ipv6Packet.checked(buf, 5)!;
    assert.equal(p.hopLimit, 64);
    assert.equal(p.flowLabel, 0);
    assert.throws(() => emitIpv6Header(repr, 0, buf, 6), RangeError);
    assert.throws(() => emitIpv6Header(repr, 65536, new Uint8Array(40)), RangeError);
    assert.throws(() => emitIpv6({ ...repr, src: '2001:db8::g' }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv6({ ...repr, flowLabel: 0x100000 }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv6({ ...repr, trafficClass: 256 }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitIpv6({ ...repr, hopLimit: -1 }, new Uint8Array(0)), RangeError);
  });

  it('never throws from checked(), rebind() or the chain walk on arbitrary bytes', () => {
    const view = Ipv6Packet.empty();
    const c = new Ipv6HeaderChain();
    let walked = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 160, size: 'max' }),
        fc.boolean(),
        fc.nat(8),
        fc.array(fc.constantFrom(0, 43, 44, 51, 60, 59, 17), { maxLength: 16, size: 'max' }),
        (bytes, forceV6, skip, nhs) => {
          const off = Math.min(skip, bytes.length);
          if (forceV6 && bytes.length >= off + 40) {
            // Make the fixed header valid and sprinkle extension-header numbers over the payload so
            // the walk gets exercised rather than rejected up front.
            bytes[off] = 0x60 | (bytes[off] & 0x0f);
            const plen = bytes.length - off - 40 - (bytes[off + 4] & 3);
            bytes[off + 4] = Math.max(plen, 0) >> 8;
            bytes[off + 5] = Math.max(plen, 0) & 0xff;
            bytes[off + 6] = nhs[0] ?? 0;
            for (let i = 1; i < nhs.length; i++) {
              const at = off + 40 + ((bytes[off + 8 + i] ?? 0) % Math.max(plen, 1));
              if (at < bytes.length) bytes[at] = nhs[i];
            }
          }
          const p = Ipv6Packet.checked(bytes, off);
          if (p) {
            touchAll(p);
            assert.ok(p.end <= bytes.length);
            if (!c.parse(p)) refused++;
            else {
              walked++;
              assert.ok(c.upperOffset >= p.payloadOffset);
              assert.ok(c.upperOffset <= c.end, 'the upper layer starts inside the packet');
              assert.ok(c.nextHeaderFieldOffset < c.upperOffset);
            }
          }
          assert.equal(view.rebind(bytes, off), p !== null);
        },
      ),
      { numRuns: 10_000 },
    );
    // The generator must reach both outcomes of the walk, or the property says little.
    assert.ok(walked > 1000 && refused > 1000, `walked ${walked}, refused ${refused}`);
  });

  it('round-trips arbitrary valid Reprs through emit and parse', () => {
    fc.assert(
      fc.property(ipv6Repr, fc.uint8Array({ maxLength: 80, size: 'max' }), (repr, payload) => {
        const out = emitIpv6(repr, payload);
        assertChecksums(out, 'emitted IPv6');
        const p = Ipv6Packet.checked(out);
        assert.ok(p);
        const back = parseIpv6Repr(p);
        assert.equal(back.src, formatIpv6(parseIpv6(repr.src)!));
        assert.equal(back.dst, formatIpv6(parseIpv6(repr.dst)!));
        assert.equal(back.nextHeader, repr.nextHeader);
        assert.equal(back.hopLimit, repr.hopLimit ?? 64);
        assert.equal(back.trafficClass, repr.trafficClass ?? 0);
        assert.equal(back.flowLabel, repr.flowLabel ?? 0);
        assert.deepEqual(p.payload(), payload);
        assert.deepEqual(emitIpv6(back, p.payload()), out);
      }),
      { numRuns: 10_000 },
    );
  });
});
