import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildIcmpv6Error,
  emitIcmpv6,
  emitIpv6,
  emitIpv6FragmentHeader,
  emitIpv6Header,
  formatIpv6,
  ICMPV6_ERROR_MAX_LEN,
  Icmpv6Packet,
  Icmpv6ParameterProblem,
  type Icmpv6Repr,
  Icmpv6TimeExceeded,
  Icmpv6Type,
  Icmpv6Unreachable,
  IPV6_HEADER_LEN,
  Ipv6HeaderChain,
  Ipv6Packet,
  type Ipv6Repr,
  icmpv6Len,
  isIcmpv6Error,
  parseIcmpv6Repr,
  pseudoHeaderSum6,
} from '../src/index.js';
import { icmpv6PingRequest, icmpv6PortUnreachable } from './fixtures/icmpv6-fixtures.js';
import { ipv6HopByHopFragmentUdp } from './fixtures/ipv6-fixtures.js';

const chain = new Ipv6HeaderChain();

/** The ICMPv6 message of an IPv6 packet, found through the header chain (asserts validity). */
function icmpOf(pkt: Uint8Array): { ip: Ipv6Packet; m: Icmpv6Packet; pseudo: number } {
  const ip = Ipv6Packet.checked(pkt);
  assert.ok(ip, 'valid IPv6');
  assert.ok(chain.parse(ip), 'walkable chain');
  assert.equal(chain.upperProtocol, 58);
  const m = Icmpv6Packet.checked(pkt, chain.upperOffset, chain.end);
  assert.ok(m, 'valid ICMPv6');
  return { ip, m, pseudo: pseudoHeaderSum6(pkt, ip.off, 58, m.length) };
}

/** An IPv6 packet carrying `repr`, built with emitIpv6Header + emitIcmpv6 into one buffer. */
function icmpPacket(repr: Icmpv6Repr, ip: Partial<Ipv6Repr> = {}): Uint8Array {
  const len = icmpv6Len(repr);
  const out = new Uint8Array(IPV6_HEADER_LEN + len);
  emitIpv6Header({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 58, ...ip }, len, out, 0);
  assert.equal(emitIcmpv6(repr, out, IPV6_HEADER_LEN, pseudoHeaderSum6(out, 0, 58, len)), len);
  return out;
}

function udpPacket(payloadLen: number, ip: Partial<Ipv6Repr> = {}): Uint8Array {
  const udp = new Uint8Array(8 + payloadLen);
  for (let i = 8; i < udp.length; i++) udp[i] = i & 0xff;
  udp[0] = 0x9c;
  udp[1] = 0x40;
  udp[3] = 53;
  udp[4] = udp.length >> 8;
  udp[5] = udp.length & 0xff;
  return emitIpv6({ src: '2001:db8::1', dst: '2001:db8:5::5', nextHeader: 17, ...ip }, udp);
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

const errorOpts = { src: '2001:db8:ffff::1', type: 1, code: 4 };

function touchAll(m: Icmpv6Packet): number {
  return (
    m.type +
    m.code +
    m.checksum +
    m.identifier +
    m.sequence +
    m.restOfHeader +
    m.mtu +
    m.pointer +
    Number(m.isError) +
    m.embeddedOffset +
    m.length +
    m.data().length +
    m.bytes().length +
    Number(m.verifyChecksum(0))
  );
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const body = fc.uint8Array({ maxLength: 96, size: 'max' });
const icmpv6Repr: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
  fc.record({
    type: fc.constantFrom(128, 129),
    code: fc.constant(0),
    identifier: u16,
    sequence: u16,
    data: body,
  }),
  fc.record({ type: fc.constant(2), code: fc.constant(0), mtu: u32, data: body }),
  fc.record({ type: fc.constant(4), code: fc.integer({ min: 0, max: 3 }), pointer: u32, data: body }),
  fc.record(
    {
      type: fc.integer({ min: 0, max: 255 }),
      code: fc.integer({ min: 0, max: 255 }),
      restOfHeader: u32,
      data: body,
    },
    { requiredKeys: ['type', 'code'] },
  ),
);

describe('icmpv6', () => {
  it('parses an echo request as ping -6 sends it, field by field', () => {
    assertChecksums(icmpv6PingRequest, 'fixture');
    const { ip, m, pseudo } = icmpOf(icmpv6PingRequest);
    assert.equal(ip.flowLabel, 0x5a3c1);
    assert.equal(m.off, 40);
    assert.equal(m.end, 104);
    assert.equal(m.type, Icmpv6Type.EchoRequest);
    assert.equal(m.code, 0);
    assert.equal(m.checksum, 0x8fd9);
    assert.equal(m.identifier, 0x3f2a);
    assert.equal(m.sequence, 1);
    assert.equal(m.isError, false);
    assert.equal(m.length, 64);
    assert.equal(m.data()[16], 0x10);
    assert.ok(m.verifyChecksum(pseudo));
    // The pseudo-header matters: the same message towards another destination does not verify.
    const other = icmpv6PingRequest.slice();
    other[39] = 3;
    assert.equal(m.verifyChecksum(pseudoHeaderSum6(other, 0, 58, m.length)), false);
    const repr = parseIcmpv6Repr(m);
    assert.equal(repr.identifier, 0x3f2a);
    assert.equal(repr.sequence, 1);
    assert.deepEqual(icmpPacket(repr, { flowLabel: 0x5a3c1 }), icmpv6PingRequest);
  });

  it('answers the echo request with a reply whose checksum differs by exactly the type change', () => {
    const req = parseIcmpv6Repr(icmpOf(icmpv6PingRequest).m);
    const reply = icmpPacket(
      { ...req, type: Icmpv6Type.EchoReply },
      { src: '2001:db8::2', dst: '2001:db8::1' },
    );
    assertChecksums(reply, 'echo reply');
    // Swapping the addresses keeps the pseudo-header sum; type 128 -> 129 raises the first word by
    // 0x0100, so the complemented checksum falls by 0x0100.
    assert.equal(icmpOf(reply).m.checksum, 0x8fd9 - 0x0100);
  });

  it('parses a Port Unreachable error and the whole invoking packet it quotes', () => {
    assertChecksums(icmpv6PortUnreachable, 'fixture');
    const { m, pseudo } = icmpOf(icmpv6PortUnreachable);
    assert.equal(m.type, Icmpv6Type.DestinationUnreachable);
    assert.equal(m.code, Icmpv6Unreachable.PortUnreachable);
    assert.equal(m.isError, true);
    assert.ok(m.verifyChecksum(pseudo));
    assert.equal(m.embeddedOffset, 48);
    const inner = Ipv6Packet.checked(m.buf, m.embeddedOffset, m.end);
    assert.ok(inner);
    assert.equal(formatIpv6(inner.srcAddr()), '2001:db8::1');
    assert.equal(formatIpv6(inner.dstAddr()), '2001:db8:5::5');
    assert.equal(inner.nextHeader, 17);
    assert.equal(inner.hopLimit, 1);
    const udp = inner.payloadOffset;
    assert.equal((m.buf[udp + 2] << 8) | m.buf[udp + 3], 33434);
    assert.deepEqual(
      icmpPacket(parseIcmpv6Repr(m), { src: '2001:db8:5::5', dst: '2001:db8::1' }),
      icmpv6PortUnreachable,
    );
  });

  it('reads the Packet Too Big MTU and the Parameter Problem pointer as 32-bit fields', () => {
    const ptb = icmpOf(icmpPacket({ type: 2, code: 0, mtu: 0x00010203 })).m;
    assert.equal(ptb.mtu, 0x00010203);
    assert.equal(parseIcmpv6Repr(ptb).mtu, 0x00010203);
    const pp = icmpOf(icmpPacket({ type: 4, code: 1, pointer: 0xfedcba98 })).m;
    assert.equal(pp.pointer, 0xfedcba98);
    assert.equal(parseIcmpv6Repr(pp).pointer, 0xfedcba98);
    for (const t of [1, 2, 3, 4, 0, 127]) assert.equal(isIcmpv6Error(t), true, `type ${t}`);
    for (const t of [128, 129, 133, 135, 137, 143, 255]) assert.equal(isIcmpv6Error(t), false, `type ${t}`);
  });

  it('lays identifier, sequence, MTU and pointer over restOfHeader when both are given', () => {
    const rest = 0x11112222;
    assert.equal(
      icmpOf(icmpPacket({ type: 128, code: 0, identifier: 0xabcd, restOfHeader: rest })).m.restOfHeader,
      0xabcd2222,
    );
    assert.equal(
      icmpOf(icmpPacket({ type: 129, code: 0, sequence: 5, restOfHeader: rest })).m.restOfHeader,
      0x11110005,
    );
    assert.equal(
      icmpOf(icmpPacket({ type: 2, code: 0, mtu: 1280, restOfHeader: rest })).m.restOfHeader,
      1280,
    );
    assert.equal(icmpOf(icmpPacket({ type: 4, code: 0, pointer: 6, restOfHeader: rest })).m.restOfHeader, 6);
  });

  it('rejects messages shorter than 8 bytes and ranges outside the buffer', () => {
    const msg = icmpv6PingRequest.subarray(40);
    for (let n = 0; n < 8; n++) assert.equal(Icmpv6Packet.checked(msg.subarray(0, n)), null, `length ${n}`);
    assert.ok(Icmpv6Packet.checked(msg.subarray(0, 8)));
    assert.equal(Icmpv6Packet.checked(icmpv6PingRequest, 40, 105), null);
    assert.equal(Icmpv6Packet.checked(icmpv6PingRequest, 100), null);
    assert.equal(Icmpv6Packet.checked(icmpv6PingRequest, -2, 10), null);
  });

  it('rebinds a long-lived view and leaves it untouched when the new range is invalid', () => {
    const v = Icmpv6Packet.empty();
    assert.equal(v.rebind(icmpv6PingRequest, 40), true);
    assert.equal(v.identifier, 0x3f2a);
    assert.equal(v.rebind(icmpv6PortUnreachable, 40), true);
    assert.equal(v.code, 4);
    assert.equal(v.rebind(icmpv6PingRequest, 99), false);
    assert.equal(v.buf, icmpv6PortUnreachable);
  });

  it('updates the checksum incrementally on identifier changes exactly like a full recompute', () => {
    fc.assert(
      fc.property(u16, u16, body, u16, (id, seq, d, newId) => {
        const pkt = icmpPacket({ type: 128, code: 0, identifier: id, sequence: seq, data: d });
        const { m, pseudo } = icmpOf(pkt);
        m.setIdentifierIncremental(newId);
        assert.equal(m.identifier, newId);
        assert.ok(m.verifyChecksum(pseudo));
        assertChecksums(pkt, 'after identifier rewrite');
      }),
      { numRuns: 5000 },
    );
  });

  it('plain setters change their bytes and fillChecksum repairs the message', () => {
    const pkt = icmpv6PingRequest.slice();
    const { m, pseudo } = icmpOf(pkt);
    m.setType(129);
    m.setCode(0);
    m.setIdentifier(0xbeef);
    m.setSequence(7);
    assert.equal(m.verifyChecksum(pseudo), false);
    m.fillChecksum(pseudo);
    assert.ok(m.verifyChecksum(pseudo));
    assertChecksums(pkt);
    assert.deepEqual([...pkt.subarray(44, 48)], [0xbe, 0xef, 0, 7]);
    m.setMtu(1280);
    assert.equal(m.restOfHeader, 1280);
    m.setPointer(0x01020304);
    assert.equal(m.identifier, 0x0102);
    m.setRestOfHeader(0xffffffff);
    assert.equal(m.sequence, 0xffff);
  });

  it('never throws from checked(), rebind() or any accessor on arbitrary bytes', () => {
    const v = Icmpv6Packet.empty();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80, size: 'max' }), fc.nat(12), fc.nat(12), (bytes, a, b) => {
        const off = Math.min(a, bytes.length);
        const end = Math.max(0, bytes.length - b);
        const m = Icmpv6Packet.checked(bytes, off, end);
        if (m) {
          touchAll(m);
          assert.ok(m.length >= 8);
          parseIcmpv6Repr(m);
        }
        assert.equal(v.rebind(bytes, off, end), m !== null);
      }),
      { numRuns: 10_000 },
    );
  });

  it('round-trips arbitrary valid Reprs through emit and parse with correct checksums', () => {
    fc.assert(
      fc.property(icmpv6Repr, (repr) => {
        const pkt = icmpPacket(repr);
        assertChecksums(pkt, 'emitted ICMPv6');
        const { m, pseudo } = icmpOf(pkt);
        assert.ok(m.verifyChecksum(pseudo));
        const back = parseIcmpv6Repr(m);
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
    assert.throws(() => emitIcmpv6({ type: 128, code: 0 }, new Uint8Array(7), 0, 0), RangeError);
    assert.throws(() => emitIcmpv6({ type: 128, code: 0 }, new Uint8Array(8), 1, 0), RangeError);
    assert.throws(() => emitIcmpv6({ type: 128, code: 256 }, new Uint8Array(8), 0, 0), RangeError);
    assert.throws(() => emitIcmpv6({ type: 2, code: 0, mtu: 2 ** 32 }, new Uint8Array(8), 0, 0), RangeError);
    assert.throws(
      () => emitIcmpv6({ type: 128, code: 0, sequence: 1.5 }, new Uint8Array(8), 0, 0),
      RangeError,
    );
  });

  describe('buildIcmpv6Error', () => {
    it('quotes as much of a large packet as fits in 1280 bytes', () => {
      const original = udpPacket(1452, { hopLimit: 9 });
      assert.equal(original.length, 1500);
      const err = buildIcmpv6Error(original, {
        src: '2001:db8:ffff::1',
        type: Icmpv6Type.PacketTooBig,
        code: 0,
        mtu: 1280,
      });
      assert.ok(err);
      assert.equal(err.length, ICMPV6_ERROR_MAX_LEN);
      assertChecksums(err, 'Packet Too Big');
      const { ip, m, pseudo } = icmpOf(err);
      assert.equal(formatIpv6(ip.srcAddr()), '2001:db8:ffff::1');
      assert.equal(formatIpv6(ip.dstAddr()), '2001:db8::1');
      assert.equal(ip.hopLimit, 64);
      assert.equal(ip.payloadLength, 1240);
      assert.equal(m.type, 2);
      assert.equal(m.mtu, 1280);
      assert.ok(m.verifyChecksum(pseudo));
      assert.deepEqual(m.data(), original.subarray(0, 1280 - 48));
    });

    it('quotes a small packet whole and writes the Parameter Problem pointer', () => {
      const original = udpPacket(20);
      const pp = buildIcmpv6Error(original, {
        src: '2001:db8:ffff::1',
        type: Icmpv6Type.ParameterProblem,
        code: Icmpv6ParameterProblem.ErroneousHeaderField,
        pointer: 40,
        hopLimit: 255,
      })!;
      assert.ok(pp);
      assertChecksums(pp);
      assert.equal(pp.length, 48 + original.length);
      const { ip, m } = icmpOf(pp);
      assert.equal(ip.hopLimit, 255);
      assert.equal(m.pointer, 40);
      assert.deepEqual(m.data(), original);
      const te = buildIcmpv6Error(original, {
        ...errorOpts,
        type: 3,
        code: Icmpv6TimeExceeded.HopLimitExceeded,
      })!;
      assertChecksums(te);
      assert.equal(icmpOf(te).m.restOfHeader, 0);
    });

    it('ignores link padding after the payload and quotes only the packet', () => {
      const original = udpPacket(4);
      const padded = new Uint8Array(original.length + 11);
      padded.set(original);
      assert.deepEqual(icmpOf(buildIcmpv6Error(padded, errorOpts)!).m.data(), original);
    });

    it('never answers an ICMPv6 error or a Redirect, also behind extension headers', () => {
      assert.equal(buildIcmpv6Error(icmpv6PortUnreachable, errorOpts), null);
      for (const type of [1, 2, 3, 4, 100, 137]) {
        const e = icmpPacket({ type, code: 0, data: new Uint8Array(8) });
        assert.equal(buildIcmpv6Error(e, errorOpts), null, `ICMPv6 type ${type}`);
      }
      // Destination Options (8 bytes, PadN) in front of a Time Exceeded message.
      const inner = icmpPacket({ type: 3, code: 0, data: new Uint8Array(4) });
      const msg = inner.subarray(40);
      const withOpts = emitIpv6(
        { src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 60 },
        Uint8Array.from([58, 0, 1, 4, 0, 0, 0, 0, ...msg]),
      );
      assert.equal(buildIcmpv6Error(withOpts, errorOpts), null);
      // An ICMPv6 header cut to nothing by Payload Length: not provably informational, not answered.
      assert.equal(
        buildIcmpv6Error(
          emitIpv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 58 }, new Uint8Array(0)),
          errorOpts,
        ),
        null,
      );
    });

    it('answers informational messages, first fragments, non-first fragments and malformed chains', () => {
      assert.ok(buildIcmpv6Error(icmpv6PingRequest, errorOpts));
      for (const type of [128, 129, 133, 135, 136, 143]) {
        const e = icmpPacket({ type, code: 0, data: new Uint8Array(20) });
        assert.ok(buildIcmpv6Error(e, errorOpts), `ICMPv6 type ${type}`);
      }
      assert.ok(buildIcmpv6Error(ipv6HopByHopFragmentUdp, errorOpts), 'first fragment of UDP');
      // A non-first fragment hides its upper layer, even if that was an ICMPv6 error (RFC 8200 §4.5).
      const frag = new Uint8Array(16);
      emitIpv6FragmentHeader(frag, 0, 58, 1232, false, 7);
      frag.set([1, 0, 0, 0, 0, 0, 0, 0], 8);
      assert.ok(
        buildIcmpv6Error(
          emitIpv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 44 }, frag),
          errorOpts,
        ),
      );
      // The first fragment of an ICMPv6 error is visible and refused.
      const first = new Uint8Array(16);
      emitIpv6FragmentHeader(first, 0, 58, 0, true, 7);
      first.set([1, 0, 0, 0, 0, 0, 0, 0], 8);
      assert.equal(
        buildIcmpv6Error(
          emitIpv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 44 }, first),
          errorOpts,
        ),
        null,
      );
      // A Routing header that runs past the end: the chain cannot be walked, Parameter Problem may be sent.
      const broken = emitIpv6(
        { src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 43 },
        Uint8Array.of(58, 9, 0, 0, 0, 0, 0, 0),
      );
      assert.ok(buildIcmpv6Error(broken, { src: '2001:db8:ffff::1', type: 4, code: 0, pointer: 41 }));
    });

    it('never answers the unspecified or a multicast source', () => {
      for (const src of ['::', 'ff02::1', 'ff05::1:3', 'ff0e::101'])
        for (const type of [1, 2, 3, 4])
          assert.equal(
            buildIcmpv6Error(udpPacket(8, { src }), { ...errorOpts, type, mtu: 1280 }),
            null,
            `${src} ${type}`,
          );
      assert.ok(buildIcmpv6Error(udpPacket(8, { src: '::1' }), errorOpts));
      assert.ok(buildIcmpv6Error(udpPacket(8, { src: 'fe80::1' }), errorOpts));
    });

    it('answers a multicast destination only with Packet Too Big or Parameter Problem code 2', () => {
      const toGroup = udpPacket(8, { dst: 'ff0e::1234' });
      assert.equal(buildIcmpv6Error(toGroup, errorOpts), null);
      assert.equal(buildIcmpv6Error(toGroup, { ...errorOpts, type: 3, code: 0 }), null);
      assert.equal(buildIcmpv6Error(toGroup, { ...errorOpts, type: 4, code: 0 }), null);
      assert.equal(buildIcmpv6Error(toGroup, { ...errorOpts, type: 4, code: 1 }), null);
      const ptb = buildIcmpv6Error(toGroup, { ...errorOpts, type: 2, code: 0, mtu: 1400 });
      assert.ok(ptb);
      assertChecksums(ptb);
      const pp2 = buildIcmpv6Error(toGroup, { ...errorOpts, type: 4, code: 2, pointer: 42 });
      assert.ok(pp2);
      assertChecksums(pp2);
      assert.equal(formatIpv6(Ipv6Packet.checked(pp2)!.dstAddr()), '2001:db8::1');
    });

    it('returns null for an invalid original and throws for a non-error type or missing MTU', () => {
      assert.equal(buildIcmpv6Error(new Uint8Array(0), errorOpts), null);
      assert.equal(buildIcmpv6Error(icmpv6PingRequest.subarray(0, 60), errorOpts), null);
      const v4 = udpPacket(8);
      v4[0] = 0x45;
      assert.equal(buildIcmpv6Error(v4, errorOpts), null);
      assert.throws(() => buildIcmpv6Error(udpPacket(8), { ...errorOpts, type: 128 }), RangeError);
      assert.throws(() => buildIcmpv6Error(udpPacket(8), { ...errorOpts, type: 2 }), RangeError);
      assert.throws(() => buildIcmpv6Error(udpPacket(8), { ...errorOpts, src: '10.0.0.1' }), RangeError);
      assert.throws(() => buildIcmpv6Error(udpPacket(8), { ...errorOpts, code: 300 }), RangeError);
    });

    it('never throws on arbitrary originals and every error it builds fits in 1280 bytes and is valid', () => {
      let answered = 0;
      fc.assert(
        fc.property(
          packetBytes(120, 1500),
          fc.boolean(),
          fc.constantFrom(1, 2, 3, 4),
          fc.constantFrom(0, 17, 43, 44, 58, 60),
          (bytes, fix, type, nh) => {
            if (fix && bytes.length >= 40) {
              bytes[0] = 0x60;
              bytes[4] = (bytes.length - 40) >> 8;
              bytes[5] = (bytes.length - 40) & 0xff;
              bytes[6] = nh;
            }
            const err = buildIcmpv6Error(bytes, { src: '2001:db8:ffff::1', type, code: 0, mtu: 1280 });
            if (err === null) return;
            answered++;
            assert.ok(err.length <= ICMPV6_ERROR_MAX_LEN);
            assertChecksums(err, 'built error');
            const orig = Ipv6Packet.checked(bytes)!;
            assert.ok(orig, 'only valid originals are answered');
            const { m } = icmpOf(err);
            assert.equal(m.type, type);
            assert.deepEqual(m.data(), bytes.subarray(0, m.data().length));
            assert.ok(m.data().length === orig.totalLength || err.length === ICMPV6_ERROR_MAX_LEN);
          },
        ),
        { numRuns: 10_000 },
      );
      assert.ok(answered > 1000, `only ${answered} of 10000 originals were answered`);
    });
  });
});
