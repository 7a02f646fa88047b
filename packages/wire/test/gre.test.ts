import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, internetChecksum, verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildPacket,
  emitGre,
  GrePacket,
  GreProtocolType,
  type GreRepr,
  greHeaderLen,
  IpProtocol,
  Ipv4Packet,
  parseGreRepr,
} from '../src/index.js';
import { GRE_PPTP_DATA, GRE_PPTP_DATA_L4, GRE_V0_CHECKSUM_KEY } from './fixtures/gre-fixtures.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

const arbV0: fc.Arbitrary<GreRepr> = fc.record(
  {
    version: fc.constant(0 as const),
    protocolType: u16,
    checksum: fc.constant(true),
    key: u32,
    sequence: u32,
  },
  { requiredKeys: ['version', 'protocolType'], noNullPrototype: true },
);
const arbV1: fc.Arbitrary<GreRepr> = fc.record(
  {
    version: fc.constant(1 as const),
    protocolType: fc.constant(GreProtocolType.Ppp),
    callId: u16,
    sequence: u32,
    ack: u32,
  },
  { requiredKeys: ['version', 'protocolType', 'callId'], noNullPrototype: true },
);

function greOf(pkt: Uint8Array): GrePacket {
  const ip = Ipv4Packet.checked(pkt)!;
  assert.equal(ip.protocol, IpProtocol.Gre);
  return GrePacket.checked(pkt, ip.payloadOffset, ip.totalLength)!;
}

describe('gre', () => {
  it('parses a PPTP enhanced GRE data packet with sequence and acknowledgment', () => {
    assertChecksums(GRE_PPTP_DATA, 'fixture');
    const g = GrePacket.checked(GRE_PPTP_DATA, GRE_PPTP_DATA_L4)!;
    assert.ok(g);
    assert.equal(g.version, 1);
    assert.ok(!g.checksumPresent);
    assert.ok(!g.routingPresent);
    assert.ok(g.keyPresent);
    assert.ok(g.sequencePresent);
    assert.ok(g.ackPresent);
    assert.equal(g.protocolType, GreProtocolType.Ppp);
    assert.equal(g.payloadLength, 12);
    assert.equal(g.callId, 0x8a3c);
    assert.equal(g.key, 0x000c8a3c);
    assert.equal(g.sequence, 5);
    assert.equal(g.acknowledgment, 4);
    assert.equal(g.headerLen, 16);
    assert.equal(g.payloadOffset, 36);
    assert.deepEqual(Array.from(g.payload().subarray(0, 4)), [0xff, 0x03, 0xc0, 0x21]);
    assert.equal(g.checksum, 0);
    assert.ok(g.verifyChecksum(), 'nothing to verify without C');
    assert.deepEqual(parseGreRepr(g), {
      version: 1,
      protocolType: 0x880b,
      callId: 0x8a3c,
      sequence: 5,
      ack: 4,
    });
  });

  it('emits the PPTP packet byte for byte', () => {
    const pkt = buildPacket({
      src: '10.0.0.2',
      dst: '203.0.113.5',
      identification: 0x0d80,
      gre: { version: 1, protocolType: GreProtocolType.Ppp, callId: 0x8a3c, sequence: 5, ack: 4 },
      payload: GRE_PPTP_DATA.subarray(36),
    });
    assert.deepEqual(pkt, GRE_PPTP_DATA);
  });

  it('parses and re-emits a version 0 packet with checksum and key', () => {
    const g = GrePacket.checked(GRE_V0_CHECKSUM_KEY)!;
    assert.equal(g.version, 0);
    assert.ok(g.checksumPresent && g.keyPresent && !g.sequencePresent && !g.ackPresent);
    assert.equal(g.protocolType, GreProtocolType.Ipv4);
    assert.equal(g.checksum, 0xba37);
    assert.equal(g.key, 42);
    assert.equal(g.keyOffset, 8);
    assert.equal(g.sequenceOffset, -1);
    assert.equal(g.headerLen, 12);
    assert.equal(g.payloadLength, 4);
    assert.ok(g.verifyChecksum());
    const repr = parseGreRepr(g);
    assert.deepEqual(repr, { version: 0, protocolType: 0x0800, checksum: true, key: 42 });
    const out = new Uint8Array(16);
    assert.equal(emitGre(repr, g.payload(), out, 0), 16);
    assert.deepEqual(out, GRE_V0_CHECKSUM_KEY);
  });

  it('round-trips version 0 and version 1 Reprs through IPv4 and IPv6', () => {
    fc.assert(
      fc.property(
        fc.oneof(arbV0, arbV1),
        fc.uint8Array({ maxLength: 50 }),
        fc.boolean(),
        (repr, payload, v6) => {
          const pkt = buildPacket({
            src: v6 ? '2001:db8::1' : '10.0.0.1',
            dst: v6 ? '2001:db8::2' : '10.0.0.2',
            gre: repr,
            payload,
          });
          assertChecksums(pkt);
          if (repr.checksum) assert.ok(verifyPacket(pkt).checked.includes('gre'));
          const off = v6 ? 40 : 20;
          const g = GrePacket.checked(pkt, off)!;
          assert.ok(g);
          assert.equal(g.headerLen, greHeaderLen(repr));
          assert.deepEqual(parseGreRepr(g), repr);
          assert.deepEqual(g.payload(), payload);
          if (repr.version === 1) assert.equal(g.payloadLength, payload.length);
          assert.ok(g.verifyChecksum());
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rewrites the call ID in place, as a PPTP NAT does', () => {
    const pkt = GRE_PPTP_DATA.slice();
    const g = greOf(pkt);
    g.setCallId(0x1234);
    assert.equal(g.callId, 0x1234);
    assert.equal(g.payloadLength, 12, 'payload length untouched');
    assert.deepEqual(Array.from(pkt.subarray(24, 28)), [0x00, 0x0c, 0x12, 0x34]);
    assertChecksums(pkt);
    g.setSequence(6);
    g.setAcknowledgment(0xfffffffe);
    assert.equal(g.sequence, 6);
    assert.equal(g.acknowledgment, 0xfffffffe);
  });

  it('keeps a version 0 checksum right through every setter', () => {
    fc.assert(
      fc.property(
        arbV0,
        fc.uint8Array({ maxLength: 30 }),
        u32,
        u16,
        u32,
        u16,
        (repr, payload, key, callId, seq, proto) => {
          const r: GreRepr = { ...repr, checksum: true };
          const buf = new Uint8Array(greHeaderLen(r) + payload.length);
          emitGre(r, payload, buf, 0);
          const g = GrePacket.checked(buf)!;
          g.setKey(key);
          g.setCallId(callId);
          g.setSequence(seq);
          g.setProtocolType(proto);
          assert.ok(g.verifyChecksum());
          const inc = g.checksum;
          g.fillChecksum();
          assert.equal(inc, g.checksum, 'incremental equals full recompute');
          const copy = buf.slice();
          copy[4] = 0;
          copy[5] = 0;
          assert.equal(g.checksum, internetChecksum([[copy, 0, copy.length]]));
          if (repr.key !== undefined) assert.equal(g.key, ((key & 0xffff0000) | callId) >>> 0);
          if (repr.sequence !== undefined) assert.equal(g.sequence, seq);
          assert.equal(g.protocolType, proto);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('ignores setters for fields that are absent', () => {
    const buf = new Uint8Array(8);
    emitGre({ version: 0, protocolType: 0x86dd }, Uint8Array.from([1, 2, 3, 4]), buf, 0);
    const before = buf.slice();
    const g = GrePacket.checked(buf)!;
    g.setKey(5);
    g.setCallId(5);
    g.setSequence(5);
    g.setAcknowledgment(5);
    g.setChecksum(5);
    g.fillChecksum();
    assert.deepEqual(buf, before);
    assert.equal(g.key, 0);
    assert.equal(g.sequence, 0);
    assert.equal(g.acknowledgment, 0);
  });

  it('rejects impossible headers and lengths', () => {
    const v1 = GRE_PPTP_DATA.slice(20);
    assert.ok(GrePacket.checked(v1));
    const mutate = (i: number, v: number) => {
      const b = v1.slice();
      b[i] = v;
      return b;
    };
    assert.equal(GrePacket.checked(mutate(1, 0x82)), null, 'version 2');
    assert.equal(GrePacket.checked(mutate(1, 0x87)), null, 'version 7');
    assert.equal(GrePacket.checked(mutate(0, 0x10)), null, 'v1 without K');
    assert.equal(GrePacket.checked(mutate(0, 0xb0)), null, 'v1 with C');
    assert.equal(GrePacket.checked(mutate(0, 0x70)), null, 'v1 with R');
    assert.equal(GrePacket.checked(mutate(0, 0x31)), null, 'v1 with recursion control');
    assert.equal(GrePacket.checked(mutate(1, 0x89)), null, 'v1 with reserved flags');
    assert.equal(GrePacket.checked(mutate(3, 0x00)), null, 'v1 with protocol other than PPP');
    assert.equal(GrePacket.checked(mutate(5, 13)), null, 'v1 payload length beyond the packet');
    assert.ok(GrePacket.checked(mutate(5, 11)), 'v1 payload length shorter than the packet is fine');
    assert.equal(GrePacket.checked(v1, 0, 15), null, 'header beyond end');
    assert.equal(GrePacket.checked(v1.subarray(0, 3)), null, 'shorter than 4 bytes');
    assert.equal(GrePacket.checked(v1, 0, 29), null, 'end beyond the buffer');
    const v0 = GRE_V0_CHECKSUM_KEY;
    assert.ok(GrePacket.checked(v0));
    assert.equal(GrePacket.checked(v0, 0, 11), null, 'v0 header beyond end');
    for (const bit of [0x40, 0x08, 0x04]) {
      const b = v0.slice();
      b[0] |= bit;
      assert.equal(GrePacket.checked(b), null, `v0 with reserved bit 0x${bit.toString(16)} (RFC 2784 §2.3)`);
    }
    const v = GrePacket.empty();
    assert.ok(!v.rebind(mutate(1, 0x82)));
    assert.ok(v.rebind(v1));
    assert.equal(v.callId, 0x8a3c);
  });

  it('detects a corrupted version 0 checksum', () => {
    const b = GRE_V0_CHECKSUM_KEY.slice();
    b[15] ^= 0x80;
    const g = GrePacket.checked(b)!;
    assert.ok(!g.verifyChecksum());
    g.fillChecksum();
    assert.ok(g.verifyChecksum());
  });

  it('throws RangeError for Reprs that cannot be emitted', () => {
    const buf = new Uint8Array(64);
    const p = new Uint8Array(4);
    assert.throws(
      () => emitGre({ version: 1, protocolType: 0x880b }, p, buf, 0),
      RangeError,
      'v1 without callId',
    );
    assert.throws(() => emitGre({ version: 1, protocolType: 0x0800, callId: 1 }, p, buf, 0), RangeError);
    assert.throws(
      () => emitGre({ version: 1, protocolType: 0x880b, callId: 1, checksum: true }, p, buf, 0),
      RangeError,
    );
    assert.throws(
      () => emitGre({ version: 1, protocolType: 0x880b, callId: 1, key: 7 }, p, buf, 0),
      RangeError,
    );
    assert.throws(() => emitGre({ version: 0, protocolType: 0x0800, callId: 1 }, p, buf, 0), RangeError);
    assert.throws(() => emitGre({ version: 0, protocolType: 0x0800, ack: 1 }, p, buf, 0), RangeError);
    assert.throws(() => emitGre({ version: 2 as 0, protocolType: 0x0800 }, p, buf, 0), RangeError);
    assert.throws(() => emitGre({ version: 0, protocolType: 0x10000 }, p, buf, 0), RangeError);
    assert.throws(
      () => emitGre({ version: 1, protocolType: 0x880b, callId: 0x10000 }, p, buf, 0),
      RangeError,
    );
    assert.throws(
      () => emitGre({ version: 0, protocolType: 0x0800, key: 1 }, new Uint8Array(61), buf, 0),
      RangeError,
    );
  });
});
