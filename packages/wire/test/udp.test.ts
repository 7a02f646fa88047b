import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildPacket,
  emitUdp,
  IpProtocol,
  Ipv4Packet,
  Ipv6Packet,
  parseIpv6,
  parseUdpRepr,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  UDP_HEADER_LEN,
  UdpDatagram,
  type UdpRepr,
  udpLen,
} from '../src/index.js';
import { UDP_DNS_QUERY, UDP_DNS_QUERY_L4 } from './fixtures/udp-fixtures.js';

function udpOf(pkt: Uint8Array): { d: UdpDatagram; pseudo: () => number; v6: boolean } {
  if (pkt[0] >> 4 === 4) {
    const ip = Ipv4Packet.checked(pkt)!;
    const d = UdpDatagram.checked(pkt, ip.payloadOffset, ip.totalLength)!;
    return { d, pseudo: () => pseudoHeaderSum4(pkt, 0, IpProtocol.Udp, d.length), v6: false };
  }
  const ip = Ipv6Packet.checked(pkt)!;
  const d = UdpDatagram.checked(pkt, ip.payloadOffset, ip.end)!;
  return { d, pseudo: () => pseudoHeaderSum6(pkt, 0, IpProtocol.Udp, d.length), v6: true };
}

/** Payload whose UDP/IPv4 checksum from 10.0.0.1:1 to 10.0.0.2:2 computes to 0 (so 0xFFFF is sent). */
function zeroChecksumPayload(): Uint8Array {
  // Sum of everything but the payload word, then pick the word that brings the folded sum to 0xFFFF.
  const probe = buildPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    udp: { srcPort: 1, dstPort: 2 },
    payload: new Uint8Array(2),
  });
  const d = udpOf(probe).d;
  // With a zero payload word, the stored checksum c = ~S; we need S + w ≡ 0xFFFF, so w = ~S = c.
  const c = d.checksum === 0xffff ? 0 : d.checksum;
  return Uint8Array.from([c >> 8, c & 0xff]);
}

describe('udp', () => {
  it('parses a DNS query fixture', () => {
    assertChecksums(UDP_DNS_QUERY, 'fixture');
    const d = UdpDatagram.checked(UDP_DNS_QUERY, UDP_DNS_QUERY_L4)!;
    assert.equal(d.srcPort, 53000);
    assert.equal(d.dstPort, 53);
    assert.equal(d.length, 37);
    assert.equal(d.checksum, 0x2cbc);
    assert.equal(d.payloadOffset, 28);
    assert.equal(d.payloadLength, 29);
    assert.equal(new TextDecoder().decode(d.payload().subarray(13, 20)), 'example');
    assert.ok(d.verifyChecksum(pseudoHeaderSum4(UDP_DNS_QUERY, 0, 17, 37), false));
    assert.deepEqual(parseUdpRepr(d), { srcPort: 53000, dstPort: 53, checksum: 'compute' });
  });

  it('emits the DNS query byte for byte', () => {
    const dns = UDP_DNS_QUERY.subarray(28);
    const pkt = buildPacket({
      src: '10.0.0.2',
      dst: '8.8.8.8',
      identification: 0x4d2e,
      dontFragment: true,
      udp: { srcPort: 53000, dstPort: 53 },
      payload: dns,
    });
    assert.deepEqual(pkt, UDP_DNS_QUERY);
  });

  it('round-trips Reprs and payloads over IPv4 and IPv6', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 100 }),
        fc.boolean(),
        (sp, dp, payload, v6) => {
          const repr: UdpRepr = { srcPort: sp, dstPort: dp, checksum: 'compute' };
          const pkt = buildPacket({
            src: v6 ? 'fe80::1' : '172.16.0.1',
            dst: v6 ? 'ff02::fb' : '224.0.0.251',
            udp: repr,
            payload,
          });
          assertChecksums(pkt);
          assert.ok(verifyPacket(pkt).checked.includes('udp'));
          const { d, pseudo } = udpOf(pkt);
          assert.deepEqual(parseUdpRepr(d), repr);
          assert.deepEqual(d.payload(), payload);
          assert.equal(d.length, udpLen(payload.length));
          assert.ok(d.verifyChecksum(pseudo(), v6));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('sends a computed checksum of 0 as 0xFFFF, and that verifies', () => {
    const payload = zeroChecksumPayload();
    const pkt = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 1, dstPort: 2 }, payload });
    const { d, pseudo } = udpOf(pkt);
    assert.equal(d.checksum, 0xffff);
    assert.ok(d.verifyChecksum(pseudo(), false));
    assertChecksums(pkt);
    d.fillChecksum(pseudo());
    assert.equal(d.checksum, 0xffff);
  });

  it('emits checksum 0 for "none" and keeps it 0 through incremental updates', () => {
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      udp: { srcPort: 1000, dstPort: 2000, checksum: 'none' },
      payload: 'hi',
    });
    const ip = Ipv4Packet.checked(pkt)!;
    const { d, pseudo } = udpOf(pkt);
    assert.equal(d.checksum, 0);
    assert.equal(parseUdpRepr(d).checksum, 'none');
    assert.ok(d.verifyChecksum(pseudo(), false), 'no checksum is fine over IPv4');
    assert.ok(!d.verifyChecksum(pseudo(), true), 'and not over IPv6');
    const oldSrc = ip.src;
    ip.setSrcIncremental(0xc6336401);
    d.adjustChecksumForAddress4(oldSrc, 0xc6336401);
    d.setSrcPortIncremental(61000);
    d.setDstPortIncremental(53);
    assert.equal(d.checksum, 0);
    assert.ok(verifyPacket(pkt).checked.includes('udp(none)'));
    assertChecksums(pkt);
  });

  it('incremental setters equal a full recompute and never store 0', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 60 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (payload, sp, dp, addr) => {
          const pkt = buildPacket({
            src: '100.64.0.1',
            dst: '100.64.0.2',
            udp: { srcPort: 7, dstPort: 9 },
            payload,
          });
          const ip = Ipv4Packet.checked(pkt)!;
          const { d, pseudo } = udpOf(pkt);
          const old = ip.src;
          ip.setSrcIncremental(addr);
          d.adjustChecksumForAddress4(old, addr);
          d.setSrcPortIncremental(sp);
          d.setDstPortIncremental(dp);
          const inc = d.checksum;
          assert.notEqual(inc, 0);
          d.fillChecksum(pseudo());
          assert.equal(inc, d.checksum);
          assertChecksums(pkt);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('turns an incremental result of 0 into 0xFFFF', () => {
    // Find a source port for which the full checksum is 0xFFFF (computed 0), then reach it incrementally.
    const payload = zeroChecksumPayload();
    const target = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      udp: { srcPort: 1, dstPort: 2 },
      payload,
    });
    assert.equal(udpOf(target).d.checksum, 0xffff);
    const pkt = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 5, dstPort: 2 }, payload });
    const { d } = udpOf(pkt);
    assert.notEqual(d.checksum, 0xffff);
    d.setSrcPortIncremental(1);
    assert.equal(d.checksum, 0xffff);
    assert.deepEqual(pkt, target);
  });

  it('adjusts the checksum for an IPv6 address rewrite', () => {
    const pkt = buildPacket({
      src: 'fd00::1',
      dst: '2001:db8::53',
      udp: { srcPort: 5353, dstPort: 53 },
      payload: 'query',
    });
    const ip = Ipv6Packet.checked(pkt)!;
    const { d, pseudo } = udpOf(pkt);
    const old = ip.srcAddr().slice();
    const neu = parseIpv6('2001:db8:aaaa::1')!;
    ip.setSrc(neu);
    d.adjustChecksumForAddress6(old, 0, neu, 0);
    assert.ok(d.verifyChecksum(pseudo(), true));
    assertChecksums(pkt);
  });

  it('rejects impossible lengths and allows a Length shorter than the buffer', () => {
    const dg = UDP_DNS_QUERY.slice(20); // 37 bytes, Length 37
    assert.ok(UdpDatagram.checked(dg));
    assert.equal(UdpDatagram.checked(dg, 0, 36), null, 'Length beyond end');
    assert.equal(UdpDatagram.checked(dg.subarray(0, 7)), null, 'shorter than the header');
    assert.equal(UdpDatagram.checked(dg, 0, 38), null, 'end beyond the buffer');
    assert.equal(UdpDatagram.checked(dg, -1), null);
    for (const len of [0, 1, 7]) {
      const bad = dg.slice();
      bad[4] = 0;
      bad[5] = len;
      assert.equal(UdpDatagram.checked(bad), null, `Length ${len}`);
    }
    const short = dg.slice();
    short[5] = 8 + 3; // Length 11 in a 37-byte buffer: trailing bytes ignored
    const d = UdpDatagram.checked(short)!;
    assert.equal(d.payloadLength, 3);
    assert.equal(d.payload().length, 3);
    assert.equal(d.bytes().length, 11);
    const v = UdpDatagram.empty();
    assert.ok(!v.rebind(dg, 0, 20));
    assert.ok(v.rebind(dg));
    assert.equal(v.dstPort, 53);
    assert.equal(UDP_HEADER_LEN, 8);
  });

  it('throws RangeError for what cannot be emitted', () => {
    const buf = new Uint8Array(20);
    assert.throws(() => emitUdp({ srcPort: -1, dstPort: 1 }, new Uint8Array(0), buf, 0, 0), RangeError);
    assert.throws(() => emitUdp({ srcPort: 1, dstPort: 70000 }, new Uint8Array(0), buf, 0, 0), RangeError);
    assert.throws(() => emitUdp({ srcPort: 1, dstPort: 1 }, new Uint8Array(13), buf, 0, 0), RangeError);
    assert.throws(
      () => emitUdp({ srcPort: 1, dstPort: 1 }, new Uint8Array(65528), new Uint8Array(70000), 0, 0),
      RangeError,
    );
    assert.equal(emitUdp({ srcPort: 1, dstPort: 1 }, new Uint8Array(12), buf, 0, 0), 20);
  });
});
