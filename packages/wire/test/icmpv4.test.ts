import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, internetChecksum } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildIcmpv4Error,
  emitIcmpv4,
  emitIpv4,
  formatIpv4,
  ICMPV4_ERROR_MAX_LEN,
  Icmpv4Packet,
  type Icmpv4Repr,
  Icmpv4TimeExceeded,
  Icmpv4Type,
  Icmpv4Unreachable,
  Ipv4Packet,
  type Ipv4Repr,
  icmpv4Len,
  isIcmpv4Error,
  parseIcmpv4Repr,
  readIpv4,
} from '../src/index.js';
import { icmpv4FragNeeded, icmpv4PingRequest } from './fixtures/icmpv4-fixtures.js';
import { ipv4MiddleFragment, ipv4RouterAlertIgmp } from './fixtures/ipv4-fixtures.js';

/** The ICMP message of an IPv4 packet (asserts the packet is valid). */
function icmpOf(pkt: Uint8Array): Icmpv4Packet {
  const ip = Ipv4Packet.checked(pkt);
  assert.ok(ip, 'valid IPv4');
  assert.equal(ip.protocol, 1);
  const m = Icmpv4Packet.checked(pkt, ip.payloadOffset, ip.off + ip.totalLength);
  assert.ok(m, 'valid ICMPv4');
  return m;
}

/** Wraps an ICMP message in IPv4 with emitIcmpv4 writing straight into the packet buffer. */
function icmpPacket(repr: Icmpv4Repr, ip: Partial<Ipv4Repr> = {}): Uint8Array {
  const msg = new Uint8Array(icmpv4Len(repr));
  assert.equal(emitIcmpv4(repr, msg, 0), msg.length);
  return emitIpv4({ src: '192.0.2.1', dst: '198.51.100.7', protocol: 1, ...ip }, msg);
}

function udpPacket(payloadLen: number, ip: Partial<Ipv4Repr> = {}): Uint8Array {
  const udp = new Uint8Array(8 + payloadLen);
  udp[0] = 0x9c;
  udp[1] = 0x40;
  udp[2] = 0x00;
  udp[3] = 0x35;
  udp[4] = udp.length >> 8;
  udp[5] = udp.length & 0xff;
  for (let i = 8; i < udp.length; i++) udp[i] = i & 0xff;
  return emitIpv4({ src: '10.0.0.1', dst: '192.0.2.80', protocol: 17, ...ip }, udp);
}

/**
 * Arbitrary packet-sized bytes: a shrinkable random head of up to `head` bytes followed by up to
 * `tail` patterned bytes. A long fully random array that fails a property can take minutes to
 * shrink byte by byte; this keeps a failure fast to report while still covering long packets.
 */
function packetBytes(head: number, tail: number): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.uint8Array({ maxLength: head, size: 'max' }), fc.nat(tail), fc.nat(255))
    .map(([h, n, seed]) => {
      const b = new Uint8Array(h.length + n);
      b.set(h);
      for (let i = h.length; i < b.length; i++) b[i] = (i * 31 + seed) & 0xff;
      return b;
    });
}

const errorOpts = { src: '10.0.0.254', type: 3, code: 3 };

function touchAll(m: Icmpv4Packet): number {
  return (
    m.type +
    m.code +
    m.checksum +
    m.identifier +
    m.sequence +
    m.pointer +
    m.nextHopMtu +
    m.gateway +
    m.restOfHeader +
    Number(m.isError) +
    m.embeddedOffset +
    m.length +
    m.data().length +
    m.bytes().length +
    Number(m.verifyChecksum())
  );
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const data = fc.uint8Array({ maxLength: 64, size: 'max' });
/**
 * Bodies for error messages: a random prefix (at least 28 bytes) of a valid IPv4 packet, or fewer
 * than 20 random bytes (the oracle checks a quoted header's checksum from 20 bytes of body on).
 */
const quoted: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 19, size: 'max' }),
  fc
    .tuple(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ minLength: 8, maxLength: 64, size: 'max' }),
      fc.nat(64),
    )
    .map(([s, d, payload, cut]) => {
      const p = emitIpv4({ src: formatIpv4(s), dst: formatIpv4(d), protocol: 17 }, payload);
      return p.subarray(0, Math.max(28, p.length - cut));
    }),
);

const icmpv4Repr: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
  fc.record({
    type: fc.constantFrom(0, 8, 13, 14, 17, 18),
    code: fc.constant(0),
    identifier: u16,
    sequence: u16,
    data,
  }),
  fc.record({ type: fc.constant(3), code: fc.constant(4), mtu: u16, data: quoted }),
  fc.record({
    type: fc.constant(12),
    code: fc.integer({ min: 0, max: 2 }),
    pointer: fc.nat(255),
    data: quoted,
  }),
  fc.integer({ min: 0, max: 255 }).chain((type) =>
    fc.record(
      {
        type: fc.constant(type),
        code: fc.integer({ min: 0, max: 255 }),
        restOfHeader: fc.integer({ min: 0, max: 0xffffffff }),
        data: isIcmpv4Error(type) ? quoted : data,
      },
      { requiredKeys: ['type', 'code'] },
    ),
  ),
);

describe('icmpv4', () => {
  it('parses an echo request as ping sends it, field by field', () => {
    assertChecksums(icmpv4PingRequest, 'fixture');
    const m = icmpOf(icmpv4PingRequest);
    assert.equal(m.off, 20);
    assert.equal(m.end, 84);
    assert.equal(m.type, Icmpv4Type.EchoRequest);
    assert.equal(m.code, 0);
    assert.equal(m.checksum, 0x86c6);
    assert.equal(m.identifier, 0x1c2d);
    assert.equal(m.sequence, 1);
    assert.equal(m.isError, false);
    assert.equal(m.length, 64);
    assert.equal(m.data().length, 56);
    assert.equal(m.data()[16], 0x10);
    assert.equal(m.data()[55], 0x37);
    assert.ok(m.verifyChecksum());
    const repr = parseIcmpv4Repr(m);
    assert.equal(repr.identifier, 0x1c2d);
    assert.equal(repr.sequence, 1);
    assert.deepEqual(
      icmpPacket(repr, { src: '10.0.0.1', dst: '10.0.0.2', identification: 0x4a2b, dontFragment: true }),
      icmpv4PingRequest,
    );
  });

  it('answers the echo request with a reply whose checksum differs by exactly the type change', () => {
    const req = parseIcmpv4Repr(icmpOf(icmpv4PingRequest));
    const reply = icmpPacket({ ...req, type: Icmpv4Type.EchoReply }, { src: '10.0.0.2', dst: '10.0.0.1' });
    assertChecksums(reply, 'echo reply');
    const m = icmpOf(reply);
    // Type 8 -> 0 lowers the first word by 0x0800, so the complemented checksum rises by 0x0800.
    assert.equal(m.checksum, 0x86c6 + 0x0800);
    assert.equal(m.identifier, 0x1c2d);
    assert.deepEqual(m.data(), icmpOf(icmpv4PingRequest).data());
  });

  it('parses a Fragmentation Needed error with its next-hop MTU and quoted header', () => {
    assertChecksums(icmpv4FragNeeded, 'fixture');
    const m = icmpOf(icmpv4FragNeeded);
    assert.equal(m.type, Icmpv4Type.DestinationUnreachable);
    assert.equal(m.code, Icmpv4Unreachable.FragmentationNeeded);
    assert.equal(m.nextHopMtu, 1400);
    assert.equal(m.restOfHeader, 1400);
    assert.equal(m.isError, true);
    assert.equal(m.embeddedOffset, 28);
    const e = m.embeddedOffset;
    const b = m.buf;
    assert.equal(b[e] >> 4, 4);
    assert.equal(b[e + 9], 6);
    assert.equal(formatIpv4(readIpv4(b, e + 12)), '10.0.0.1');
    assert.equal(formatIpv4(readIpv4(b, e + 16)), '192.0.2.80');
    assert.equal((b[e + 22] << 8) | b[e + 23], 80);
    const repr = parseIcmpv4Repr(m);
    assert.equal(repr.mtu, 1400);
    assert.equal(repr.data?.length, 28);
    assert.deepEqual(icmpPacket(repr, { src: '10.0.0.254', dst: '10.0.0.1', tos: 0xc0 }), icmpv4FragNeeded);
  });

  it('reads the Parameter Problem pointer from byte 4 and the Redirect gateway from bytes 4-7', () => {
    const pp = icmpOf(icmpPacket({ type: 12, code: 0, pointer: 9, restOfHeader: 0x00abcdef }));
    assert.equal(pp.pointer, 9);
    assert.equal(pp.restOfHeader, 0x09abcdef);
    assert.equal(pp.isError, true);
    const rd = icmpOf(icmpPacket({ type: 5, code: 1, restOfHeader: 0xc0000201 }));
    assert.equal(formatIpv4(rd.gateway), '192.0.2.1');
    assert.equal(rd.isError, true);
    for (const t of [0, 8, 9, 10, 13, 14, 17, 18]) assert.equal(isIcmpv4Error(t), false, `type ${t}`);
    for (const t of [3, 4, 5, 11, 12]) assert.equal(isIcmpv4Error(t), true, `type ${t}`);
  });

  it('lays identifier, sequence, MTU and pointer over restOfHeader when both are given', () => {
    const rest = 0x11112222;
    assert.equal(
      icmpOf(icmpPacket({ type: 8, code: 0, identifier: 0xabcd, restOfHeader: rest })).restOfHeader,
      0xabcd2222,
    );
    assert.equal(
      icmpOf(icmpPacket({ type: 0, code: 0, sequence: 5, restOfHeader: rest })).restOfHeader,
      0x11110005,
    );
    assert.equal(
      icmpOf(icmpPacket({ type: 3, code: 4, mtu: 1280, restOfHeader: rest })).restOfHeader,
      0x11110500,
    );
    assert.equal(
      icmpOf(icmpPacket({ type: 12, code: 0, pointer: 6, restOfHeader: rest })).restOfHeader,
      0x06112222,
    );
  });

  it('rejects messages shorter than 8 bytes and ranges outside the buffer', () => {
    const msg = icmpv4PingRequest.subarray(20);
    for (let n = 0; n < 8; n++) assert.equal(Icmpv4Packet.checked(msg.subarray(0, n)), null, `length ${n}`);
    assert.ok(Icmpv4Packet.checked(msg.subarray(0, 8)));
    assert.equal(Icmpv4Packet.checked(icmpv4PingRequest, 20, 85), null);
    assert.equal(Icmpv4Packet.checked(icmpv4PingRequest, 80, 84), null);
    assert.equal(Icmpv4Packet.checked(icmpv4PingRequest, -1, 10), null);
  });

  it('rebinds a long-lived view and leaves it untouched when the new range is invalid', () => {
    const v = Icmpv4Packet.empty();
    assert.equal(v.rebind(icmpv4PingRequest, 20, 84), true);
    assert.equal(v.identifier, 0x1c2d);
    assert.equal(v.rebind(icmpv4FragNeeded, 20), true);
    assert.equal(v.nextHopMtu, 1400);
    assert.equal(v.rebind(icmpv4PingRequest, 80), false);
    assert.equal(v.buf, icmpv4FragNeeded);
    assert.equal(v.end, icmpv4FragNeeded.length);
  });

  it('updates the checksum incrementally on identifier changes exactly like a full recompute', () => {
    fc.assert(
      fc.property(u16, u16, data, u16, (id, seq, d, newId) => {
        const pkt = icmpPacket({ type: 8, code: 0, identifier: id, sequence: seq, data: d });
        const m = icmpOf(pkt);
        m.setIdentifierIncremental(newId);
        assert.equal(m.identifier, newId);
        assert.ok(m.verifyChecksum());
        assertChecksums(pkt, 'after identifier rewrite');
      }),
      { numRuns: 5000 },
    );
  });

  it('plain setters change their bytes and fillChecksum repairs the message', () => {
    const pkt = icmpv4PingRequest.slice();
    const m = icmpOf(pkt);
    m.setType(0);
    m.setCode(1);
    m.setIdentifier(0xbeef);
    m.setSequence(0x0102);
    assert.equal(m.verifyChecksum(), false);
    m.fillChecksum();
    assert.ok(m.verifyChecksum());
    assert.deepEqual([...pkt.subarray(20, 28)], [0, 1, m.checksum >> 8, m.checksum & 0xff, 0xbe, 0xef, 1, 2]);
    m.setPointer(7);
    m.setNextHopMtu(576);
    assert.equal(m.restOfHeader, 0x07ef0240);
    m.setRestOfHeader(0x01020304);
    assert.equal(m.identifier, 0x0102);
    assert.equal(m.sequence, 0x0304);
  });

  it('never throws from checked(), rebind() or any accessor on arbitrary bytes', () => {
    const v = Icmpv4Packet.empty();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80, size: 'max' }), fc.nat(12), fc.nat(12), (bytes, a, b) => {
        const off = Math.min(a, bytes.length);
        const end = Math.max(0, bytes.length - b);
        const m = Icmpv4Packet.checked(bytes, off, end);
        if (m) {
          touchAll(m);
          assert.ok(m.length >= 8);
          parseIcmpv4Repr(m);
        }
        assert.equal(v.rebind(bytes, off, end), m !== null);
      }),
      { numRuns: 10_000 },
    );
  });

  it('round-trips arbitrary valid Reprs through emit and parse with correct checksums', () => {
    fc.assert(
      fc.property(icmpv4Repr, (repr) => {
        const pkt = icmpPacket(repr);
        assertChecksums(pkt, 'emitted ICMPv4');
        const m = icmpOf(pkt);
        assert.ok(m.verifyChecksum());
        const back = parseIcmpv4Repr(m);
        assert.equal(back.type, repr.type);
        assert.equal(back.code, repr.code);
        if (repr.identifier !== undefined) assert.equal(back.identifier, repr.identifier);
        if (repr.sequence !== undefined) assert.equal(back.sequence, repr.sequence);
        if (repr.mtu !== undefined) assert.equal(back.mtu, repr.mtu);
        if (repr.pointer !== undefined) assert.equal(back.pointer, repr.pointer);
        if (repr.restOfHeader !== undefined) assert.equal(back.restOfHeader, repr.restOfHeader);
        assert.deepEqual(back.data, repr.data ?? new Uint8Array(0));
        assert.deepEqual(icmpPacket(back), pkt);
      }),
      { numRuns: 10_000 },
    );
  });

  it('throws RangeError for out-of-range fields and a buffer that is too small', () => {
    assert.throws(() => emitIcmpv4({ type: 8, code: 0 }, new Uint8Array(7)), RangeError);
    assert.throws(
      () => emitIcmpv4({ type: 8, code: 0, data: new Uint8Array(4) }, new Uint8Array(12), 1),
      RangeError,
    );
    assert.throws(() => emitIcmpv4({ type: 256, code: 0 }, new Uint8Array(8)), RangeError);
    assert.throws(() => emitIcmpv4({ type: 8, code: 0, identifier: 65536 }, new Uint8Array(8)), RangeError);
    assert.throws(() => emitIcmpv4({ type: 12, code: 0, pointer: 256 }, new Uint8Array(8)), RangeError);
    assert.throws(() => emitIcmpv4({ type: 3, code: 4, mtu: -1 }, new Uint8Array(8)), RangeError);
  });

  describe('buildIcmpv4Error', () => {
    it('quotes as much of a large packet as keeps the error at 576 bytes', () => {
      const original = udpPacket(1472, { dontFragment: true, identification: 0x77, ttl: 9 });
      assert.equal(original.length, 1500);
      const err = buildIcmpv4Error(original, {
        src: '10.0.0.254',
        type: Icmpv4Type.DestinationUnreachable,
        code: Icmpv4Unreachable.FragmentationNeeded,
        mtu: 1400,
      });
      assert.ok(err);
      assert.equal(err.length, ICMPV4_ERROR_MAX_LEN);
      assertChecksums(err, 'ICMPv4 3/4');
      const ip = Ipv4Packet.checked(err)!;
      assert.equal(formatIpv4(ip.src), '10.0.0.254');
      assert.equal(formatIpv4(ip.dst), '10.0.0.1');
      assert.equal(ip.protocol, 1);
      assert.equal(ip.ttl, 64);
      assert.equal(ip.tos, 0xc0);
      assert.equal(ip.headerLen, 20);
      const m = icmpOf(err);
      assert.equal(m.type, 3);
      assert.equal(m.code, 4);
      assert.equal(m.nextHopMtu, 1400);
      assert.ok(m.verifyChecksum());
      assert.deepEqual(m.data(), original.subarray(0, 576 - 28));
    });

    it('quotes a small packet whole, IP options included, and keeps its TOS bits under precedence 6', () => {
      const original = emitIpv4(
        {
          src: '10.0.0.1',
          dst: '192.0.2.80',
          protocol: 253,
          tos: 0x1c,
          options: Uint8Array.of(0x94, 4, 0, 0),
        },
        new Uint8Array(12).fill(0x42),
      );
      const err = buildIcmpv4Error(original, { ...errorOpts, ttl: 3, identification: 0x1234 })!;
      assert.ok(err);
      assert.equal(err.length, 20 + 8 + original.length);
      assertChecksums(err, 'ICMPv4 3/3');
      const ip = Ipv4Packet.checked(err)!;
      assert.equal(ip.ttl, 3);
      assert.equal(ip.identification, 0x1234);
      assert.equal(ip.tos, 0xc0 | 0x1c);
      assert.deepEqual(icmpOf(err).data(), original);
    });

    it('ignores link padding after Total Length and quotes only the datagram', () => {
      const original = udpPacket(10);
      const padded = new Uint8Array(original.length + 20);
      padded.set(original);
      const err = buildIcmpv4Error(padded, errorOpts)!;
      assert.deepEqual(icmpOf(err).data(), original);
    });

    it('writes the pointer of Parameter Problem, the gateway of Redirect and answers Time Exceeded', () => {
      const original = udpPacket(4);
      const pp = buildIcmpv4Error(original, { src: '10.0.0.254', type: 12, code: 0, pointer: 20 })!;
      assertChecksums(pp);
      assert.equal(icmpOf(pp).pointer, 20);
      assert.equal(icmpOf(pp).restOfHeader, 20 << 24);
      const rd = buildIcmpv4Error(original, { src: '10.0.0.254', type: 5, code: 1, gateway: '10.0.0.253' })!;
      assertChecksums(rd);
      assert.equal(formatIpv4(icmpOf(rd).gateway), '10.0.0.253');
      const te = buildIcmpv4Error(original, {
        src: '10.0.0.254',
        type: Icmpv4Type.TimeExceeded,
        code: Icmpv4TimeExceeded.TtlExceeded,
      })!;
      assertChecksums(te);
      assert.equal(icmpOf(te).restOfHeader, 0);
    });

    it('answers an echo request and a first fragment but never an ICMP error or a non-first fragment', () => {
      assert.ok(buildIcmpv4Error(icmpv4PingRequest, errorOpts));
      assert.equal(buildIcmpv4Error(icmpv4FragNeeded, errorOpts), null);
      for (const type of [3, 4, 5, 11, 12]) {
        const e = icmpPacket({ type, code: 0, data: new Uint8Array(28) }, { src: '10.0.0.1' });
        assert.equal(buildIcmpv4Error(e, errorOpts), null, `ICMP type ${type}`);
      }
      const first = udpPacket(16, { moreFragments: true });
      assert.ok(buildIcmpv4Error(first, errorOpts));
      assert.equal(buildIcmpv4Error(ipv4MiddleFragment, errorOpts), null);
      const last = udpPacket(16, { fragmentOffset: 8 });
      assert.equal(buildIcmpv4Error(last, errorOpts), null);
    });

    it('never answers sources that are not a single host or broadcast and multicast destinations', () => {
      for (const src of [
        '0.0.0.0',
        '127.0.0.1',
        '224.0.0.1',
        '239.255.255.250',
        '240.0.0.1',
        '255.255.255.255',
      ])
        assert.equal(buildIcmpv4Error(udpPacket(8, { src }), errorOpts), null, `source ${src}`);
      for (const dst of ['255.255.255.255', '224.0.0.251', '239.1.2.3'])
        assert.equal(buildIcmpv4Error(udpPacket(8, { dst }), errorOpts), null, `destination ${dst}`);
      assert.equal(buildIcmpv4Error(ipv4RouterAlertIgmp, errorOpts), null, 'IGMP to 224.0.0.22');
      assert.ok(buildIcmpv4Error(udpPacket(8, { src: '100.64.0.1', dst: '10.255.255.255' }), errorOpts));
    });

    it('returns null for an invalid original and throws for a non-error type or a bad source', () => {
      assert.equal(buildIcmpv4Error(new Uint8Array(0), errorOpts), null);
      assert.equal(buildIcmpv4Error(icmpv4PingRequest.subarray(0, 40), errorOpts), null);
      const v6 = udpPacket(8);
      v6[0] = 0x65;
      assert.equal(buildIcmpv4Error(v6, errorOpts), null);
      assert.throws(() => buildIcmpv4Error(udpPacket(8), { ...errorOpts, type: 8 }), RangeError);
      assert.throws(() => buildIcmpv4Error(udpPacket(8), { ...errorOpts, src: 'nope' }), RangeError);
      assert.throws(() => buildIcmpv4Error(udpPacket(8), { ...errorOpts, code: 4, mtu: 70000 }), RangeError);
    });

    it('never throws on arbitrary originals and every error it builds is within 576 bytes and valid', () => {
      let answered = 0;
      fc.assert(
        fc.property(
          packetBytes(80, 700),
          fc.boolean(),
          fc.constantFrom(3, 4, 5, 11, 12),
          (bytes, fix, type) => {
            if (fix && bytes.length >= 20) {
              // A plausible header (version 4, IHL 5, total length = buffer, offset 0) with a checksum from
              // the independent oracle, so that the rest of the rules get exercised.
              bytes[0] = 0x45;
              bytes[2] = bytes.length >> 8;
              bytes[3] = bytes.length & 0xff;
              bytes[6] &= 0xe0; // flags stay random, fragment offset 0
              bytes[7] = 0;
              bytes[10] = 0;
              bytes[11] = 0;
              const c = internetChecksum([[bytes, 0, 20]]);
              bytes[10] = c >> 8;
              bytes[11] = c & 0xff;
            }
            const err = buildIcmpv4Error(bytes, { src: '10.0.0.254', type, code: 0 });
            if (err === null) return;
            answered++;
            assert.ok(err.length <= ICMPV4_ERROR_MAX_LEN);
            assertChecksums(err, 'built error');
            const orig = Ipv4Packet.checked(bytes)!;
            assert.ok(orig, 'only valid originals are answered');
            assert.equal(orig.fragmentOffset, 0);
            const m = icmpOf(err);
            assert.equal(m.type, type);
            assert.deepEqual(m.data(), bytes.subarray(0, m.data().length));
            assert.ok(m.data().length === orig.totalLength || err.length === ICMPV4_ERROR_MAX_LEN);
          },
        ),
        { numRuns: 10_000 },
      );
      assert.ok(answered > 500, `only ${answered} of 10000 originals were answered`);
    });

    it('refuses an original whose IPv4 header checksum is wrong', () => {
      const original = udpPacket(8);
      assert.ok(buildIcmpv4Error(original, errorOpts));
      original[11] ^= 1;
      assert.equal(buildIcmpv4Error(original, errorOpts), null);
    });
  });
});
