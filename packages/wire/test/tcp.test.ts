import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, internetChecksum, verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildPacket,
  emitTcp,
  IpProtocol,
  Ipv4Packet,
  Ipv6Packet,
  parseIpv4,
  parseIpv6,
  parseTcpRepr,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  TcpFlags,
  TcpOptionKind,
  TcpOptions,
  type TcpRepr,
  TcpSegment,
  tcpHeaderLen,
  tcpOptionOffset,
  tcpOptionsBytes,
} from '../src/index.js';
import { TCP_SYN_LINUX, TCP_SYN_LINUX_L4 } from './fixtures/tcp-fixtures.js';

/** The TCP view and its pseudo-header sum for a whole IPv4 or IPv6 packet built by buildPacket. */
function tcpOf(pkt: Uint8Array): { seg: TcpSegment; pseudo: () => number } {
  if (pkt[0] >> 4 === 4) {
    const ip = Ipv4Packet.checked(pkt)!;
    const seg = TcpSegment.checked(pkt, ip.payloadOffset, ip.off + ip.totalLength)!;
    return { seg, pseudo: () => pseudoHeaderSum4(pkt, 0, IpProtocol.Tcp, seg.length) };
  }
  const ip = Ipv6Packet.checked(pkt)!;
  const seg = TcpSegment.checked(pkt, ip.payloadOffset, ip.end)!;
  return { seg, pseudo: () => pseudoHeaderSum6(pkt, 0, IpProtocol.Tcp, seg.length) };
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const arbTcpRepr: fc.Arbitrary<TcpRepr> = fc
  .record(
    {
      srcPort: u16,
      dstPort: u16,
      seq: u32,
      ack: u32,
      flags: fc.integer({ min: 0, max: 0xff }),
      window: u16,
      urgentPointer: u16,
      mss: u16,
      windowScale: fc.integer({ min: 0, max: 14 }),
      sackPermitted: fc.constant(true),
      sackBlocks: fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 3 }),
      timestamp: fc.tuple(u32, u32),
    },
    {
      requiredKeys: ['srcPort', 'dstPort', 'seq', 'ack', 'flags', 'window', 'urgentPointer'],
      noNullPrototype: true,
    },
  )
  .filter((r) => {
    try {
      return tcpHeaderLen(r) <= 60;
    } catch {
      return false;
    }
  });

describe('tcp', () => {
  it('parses a Linux SYN with MSS, SACK-permitted, timestamps and window scale', () => {
    const pkt = TCP_SYN_LINUX;
    assertChecksums(pkt, 'fixture');
    const seg = TcpSegment.checked(pkt, TCP_SYN_LINUX_L4)!;
    assert.ok(seg);
    assert.equal(seg.srcPort, 51514);
    assert.equal(seg.dstPort, 443);
    assert.equal(seg.seq, 0x7a3b1c2d);
    assert.equal(seg.ack, 0);
    assert.equal(seg.headerLen, 40);
    assert.equal(seg.flags, TcpFlags.SYN);
    assert.ok(seg.hasFlags(TcpFlags.SYN));
    assert.ok(!seg.hasFlags(TcpFlags.SYN | TcpFlags.ACK));
    assert.equal(seg.window, 64240);
    assert.equal(seg.checksum, 0xb7ab);
    assert.equal(seg.urgentPointer, 0);
    assert.equal(seg.payloadOffset, 60);
    assert.equal(seg.payloadLength, 0);
    assert.equal(seg.payload().length, 0);
    assert.equal(seg.options().length, 20);
    assert.ok(seg.verifyChecksum(pseudoHeaderSum4(pkt, 0, 6, seg.length)));

    const o = new TcpOptions();
    assert.ok(o.parse(seg));
    assert.equal(o.mss, 1460);
    assert.equal(o.mssOffset, 42);
    assert.equal(o.windowScale, 7);
    assert.ok(o.sackPermitted);
    assert.ok(o.timestamp);
    assert.equal(o.tsVal, 0x002b3c4d);
    assert.equal(o.tsEcr, 0);
    assert.equal(o.timestampOffset, 48);
    assert.equal(o.sackBlockCount, 0);
    assert.equal(o.sackBlocksOffset, -1);
    assert.ok(!o.unknown);
    assert.equal(tcpOptionOffset(seg, TcpOptionKind.Timestamp), 46);
    assert.equal(tcpOptionOffset(seg, TcpOptionKind.WindowScale), 57);
    assert.equal(tcpOptionOffset(seg, TcpOptionKind.Sack), -1);
  });

  it('emits the Linux SYN byte for byte from its Repr', () => {
    const built = buildPacket({
      src: '192.168.1.10',
      dst: '93.184.216.34',
      identification: 0x1c46,
      dontFragment: true,
      tcp: {
        srcPort: 51514,
        dstPort: 443,
        seq: 0x7a3b1c2d,
        flags: TcpFlags.SYN,
        window: 64240,
        mss: 1460,
        sackPermitted: true,
        timestamp: [0x002b3c4d, 0],
        windowScale: 7,
      },
    });
    assert.deepEqual(built, TCP_SYN_LINUX);
  });

  it('parses the SYN into a Repr without raw options, and that Repr re-emits the same segment', () => {
    const seg = TcpSegment.checked(TCP_SYN_LINUX, TCP_SYN_LINUX_L4)!;
    const repr = parseTcpRepr(seg);
    assert.deepEqual(repr, {
      srcPort: 51514,
      dstPort: 443,
      seq: 0x7a3b1c2d,
      ack: 0,
      flags: TcpFlags.SYN,
      window: 64240,
      urgentPointer: 0,
      mss: 1460,
      windowScale: 7,
      sackPermitted: true,
      timestamp: [0x002b3c4d, 0],
    });
    const out = new Uint8Array(40);
    const n = emitTcp(repr, new Uint8Array(0), out, 0, pseudoHeaderSum4(TCP_SYN_LINUX, 0, 6, 40));
    assert.equal(n, 40);
    assert.deepEqual(out, TCP_SYN_LINUX.subarray(20));
  });

  it('round-trips arbitrary Reprs and payloads through emit and parse over IPv4 and IPv6', () => {
    fc.assert(
      fc.property(arbTcpRepr, fc.uint8Array({ maxLength: 64 }), fc.boolean(), (repr, payload, v6) => {
        const pkt = buildPacket({
          src: v6 ? '2001:db8::1' : '10.1.2.3',
          dst: v6 ? '2001:db8:ffff::2' : '198.51.100.7',
          tcp: repr,
          payload,
        });
        assertChecksums(pkt);
        assert.ok(verifyPacket(pkt).checked.includes('tcp'));
        const { seg, pseudo } = tcpOf(pkt);
        assert.ok(seg.verifyChecksum(pseudo()));
        const back = parseTcpRepr(seg);
        assert.equal(back.options, undefined);
        assert.deepEqual(back, repr);
        assert.deepEqual(seg.payload(), payload);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps raw options when the decoded fields would not reproduce them, so re-emitting is exact', () => {
    // Window scale first, then MSS, then an unknown kind 30 (MPTCP) with 2 data bytes: 12 bytes.
    const raw = Uint8Array.from([3, 3, 2, 2, 4, 0x05, 0xa0, 30, 4, 0xaa, 0xbb, 0]);
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      tcp: { srcPort: 1, dstPort: 2, flags: 0x12, options: raw },
    });
    assertChecksums(pkt);
    const { seg } = tcpOf(pkt);
    const o = new TcpOptions();
    assert.ok(o.parse(seg));
    assert.equal(o.windowScale, 2);
    assert.equal(o.mss, 1440);
    assert.ok(o.unknown);
    const repr = parseTcpRepr(seg);
    assert.deepEqual(repr.options, raw);
    assert.equal(repr.mss, 1440);
    const again = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', tcp: repr });
    assert.deepEqual(again, pkt);
  });

  it('pads raw options with End-of-List to a multiple of 4', () => {
    assert.deepEqual(
      tcpOptionsBytes({ srcPort: 0, dstPort: 0, flags: 0, options: Uint8Array.from([1, 3, 3, 9, 1]) }),
      Uint8Array.from([1, 3, 3, 9, 1, 0, 0, 0]),
    );
    assert.equal(tcpHeaderLen({ srcPort: 0, dstPort: 0, flags: 0 }), 20);
    assert.equal(tcpHeaderLen({ srcPort: 0, dstPort: 0, flags: 0, sackPermitted: true }), 24);
    assert.equal(tcpHeaderLen({ srcPort: 0, dstPort: 0, flags: 0, timestamp: [1, 2] }), 32);
  });

  it('rejects impossible lengths in checked() and rebind()', () => {
    const seg = TCP_SYN_LINUX.slice(20); // 40 bytes, data offset 10
    assert.ok(TcpSegment.checked(seg));
    assert.equal(TcpSegment.checked(seg, 0, 39), null, 'header runs past the end');
    assert.equal(TcpSegment.checked(seg.subarray(0, 19)), null, 'shorter than 20 bytes');
    assert.equal(TcpSegment.checked(seg, 0, 41), null, 'end beyond the buffer');
    assert.equal(TcpSegment.checked(seg, -1), null, 'negative offset');
    assert.equal(TcpSegment.checked(seg, 21), null, 'too few bytes after the offset');
    for (const dataOff of [0, 1, 4]) {
      const bad = seg.slice();
      bad[12] = dataOff << 4;
      assert.equal(TcpSegment.checked(bad), null, `data offset ${dataOff}`);
    }
    const big = seg.slice();
    big[12] = 0xf0; // 60-byte header in a 40-byte segment
    assert.equal(TcpSegment.checked(big), null);
    const v = TcpSegment.empty();
    assert.ok(!v.rebind(big));
    assert.ok(v.rebind(seg));
    assert.equal(v.srcPort, 51514);
    assert.ok(!v.rebind(seg, 0, 10));
    assert.equal(v.srcPort, 51514, 'a failed rebind leaves the view as it was');
  });

  it('reports malformed options without throwing', () => {
    const cases: Array<[string, number[]]> = [
      ['length 0', [2, 0, 0, 0]],
      ['length 1', [8, 1, 0, 0]],
      ['kind without length byte at the end', [1, 1, 1, 2]],
      ['option running past the header', [1, 1, 8, 10]],
      ['MSS with length 3', [2, 3, 5, 0]],
      ['window scale with length 4', [3, 4, 7, 0]],
      ['SACK-permitted with length 3', [4, 3, 0, 0]],
      ['timestamp with length 6', [8, 6, 1, 2, 3, 4, 0, 0]],
      ['SACK with no block', [5, 2, 0, 0]],
      ['SACK with a partial block', [5, 6, 0, 0, 0, 0, 0, 0]],
    ];
    const o = new TcpOptions();
    for (const [name, opts] of cases) {
      const pkt = buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        tcp: { srcPort: 1, dstPort: 2, flags: 0, options: Uint8Array.from(opts) },
      });
      const { seg } = tcpOf(pkt);
      assert.equal(o.parse(seg), false, name);
      const repr = parseTcpRepr(seg);
      assert.deepEqual(repr.options, Uint8Array.from(opts), `${name}: raw options kept`);
    }
  });

  it('refuses an option range outside the buffer', () => {
    const o = new TcpOptions();
    const b = Uint8Array.from([2, 4, 5, 0xb4]);
    assert.ok(o.parseRange(b, 0, 4));
    assert.equal(o.mss, 1460);
    assert.equal(o.parseRange(b, 0, 5), false);
    assert.equal(o.mss, -1, 'fields are reset');
    assert.equal(o.parseRange(b, -1, 4), false);
  });

  it('stops at End-of-List and ignores what follows', () => {
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      tcp: { srcPort: 1, dstPort: 2, flags: 0, options: Uint8Array.from([2, 4, 1, 0, 0, 99, 0xff, 0xff]) },
    });
    const o = new TcpOptions();
    assert.ok(o.parse(tcpOf(pkt).seg));
    assert.equal(o.mss, 256);
    assert.ok(!o.unknown);
  });

  it('parses SACK blocks, and rewriting them in place keeps the checksum right at any alignment', () => {
    const blocks: Array<[number, number]> = [
      [0x10000000, 0x10000100],
      [0xfffffff0, 0x00000010],
      [7, 9],
    ];
    // Aligned (NOP NOP SACK) as tcpOptionsBytes lays it out, and odd (one NOP, then SACK) via raw options.
    const aligned = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.ACK, sackBlocks: blocks },
      payload: 'xyz',
    });
    const sackRaw = tcpOptionsBytes({ srcPort: 0, dstPort: 0, flags: 0, sackBlocks: blocks }).subarray(1); // drop one NOP
    const odd = buildPacket({
      src: '2001:db8::a',
      dst: '2001:db8::b',
      tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.ACK, options: sackRaw },
      payload: 'xyz',
    });
    for (const [pkt, expectOdd] of [
      [aligned, false],
      [odd, true],
    ] as const) {
      assertChecksums(pkt);
      const { seg, pseudo } = tcpOf(pkt);
      const o = new TcpOptions();
      assert.ok(o.parse(seg));
      assert.equal(o.sackBlockCount, 3);
      assert.deepEqual(Array.from(o.sackBlocks.subarray(0, 6)), blocks.flat());
      assert.equal(((o.sackBlocksOffset - seg.off) & 1) === 1, expectOdd);
      assert.equal(tcpOptionOffset(seg, TcpOptionKind.Sack), o.sackBlocksOffset - 2);
      // A NAT undoing a +100 sequence shift on the reverse path subtracts 100 from every edge.
      for (let k = 0; k < 6; k++)
        seg.setUint32Incremental(o.sackBlocksOffset + 4 * k, (o.sackBlocks[k] - 100) >>> 0);
      assert.ok(seg.verifyChecksum(pseudo()));
      assertChecksums(pkt, 'after SACK rewrite');
      assert.ok(o.parse(seg));
      assert.deepEqual(
        Array.from(o.sackBlocks.subarray(0, 6)),
        blocks.flat().map((x) => (x - 100) >>> 0),
      );
    }
  });

  it('clamps an MSS at an odd or even offset with setUint16Incremental, keeping the checksum right', () => {
    for (const raw of [
      [2, 4, 0x05, 0xb4], // aligned
      [1, 2, 4, 0x05, 0xb4, 0, 0, 0], // after one NOP: odd offset
    ]) {
      for (const v6 of [false, true]) {
        const pkt = buildPacket({
          src: v6 ? '2001:db8::1' : '10.0.0.1',
          dst: v6 ? '2001:db8::2' : '10.0.0.2',
          tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.SYN, options: Uint8Array.from(raw) },
          payload: 'abc',
        });
        const { seg, pseudo } = tcpOf(pkt);
        const o = new TcpOptions();
        assert.ok(o.parse(seg));
        assert.equal(o.mss, 1460);
        seg.setUint16Incremental(o.mssOffset, 1360);
        assert.ok(o.parse(seg));
        assert.equal(o.mss, 1360);
        const inc = seg.checksum;
        seg.fillChecksum(pseudo());
        assert.equal(inc, seg.checksum);
        assertChecksums(pkt);
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 9 }), u16, fc.nat(8), (data, v, pos) => {
        const pkt = buildPacket({
          src: '10.0.0.1',
          dst: '10.0.0.2',
          tcp: { srcPort: 9, dstPort: 9, flags: 0 },
          payload: data,
        });
        const { seg, pseudo } = tcpOf(pkt);
        const at = seg.payloadOffset + (pos % (data.length - 1));
        seg.setUint16Incremental(at, v);
        assert.equal((pkt[at] << 8) | pkt[at + 1], v);
        assert.ok(seg.verifyChecksum(pseudo()));
      }),
      { numRuns: 2000 },
    );
  });

  it('setUint32Incremental is right for the last four bytes of segments of odd and even length', () => {
    // Data of 5..9 bytes puts the field at segment offsets 21..25: odd and even alignment, and for
    // odd lengths the final word is padded with a zero byte.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 9 }), u32, fc.boolean(), (data, v, v6) => {
        const pkt = buildPacket({
          src: v6 ? '::1' : '127.0.0.1',
          dst: v6 ? '::2' : '127.0.0.2',
          tcp: { srcPort: 9, dstPort: 9, flags: 0 },
          payload: data,
        });
        const { seg, pseudo } = tcpOf(pkt);
        const at = seg.end - 4;
        seg.setUint32Incremental(at, v);
        assert.equal(((pkt[at] << 24) | (pkt[at + 1] << 16) | (pkt[at + 2] << 8) | pkt[at + 3]) >>> 0, v);
        assert.ok(seg.verifyChecksum(pseudo()));
        assertChecksums(pkt);
      }),
      { numRuns: 2000 },
    );
  });

  it('incremental setters give exactly the checksum of a full recompute', () => {
    fc.assert(
      fc.property(
        arbTcpRepr,
        fc.uint8Array({ maxLength: 40 }),
        fc.record({
          sp: u16,
          dp: u16,
          seq: u32,
          ack: u32,
          flags: fc.integer({ min: 0, max: 255 }),
          win: u16,
        }),
        (repr, payload, n) => {
          const pkt = buildPacket({ src: '192.0.2.1', dst: '192.0.2.2', tcp: repr, payload });
          const { seg, pseudo } = tcpOf(pkt);
          seg.setSrcPortIncremental(n.sp);
          seg.setDstPortIncremental(n.dp);
          seg.setSeqIncremental(n.seq);
          seg.setAckIncremental(n.ack);
          seg.setFlagsIncremental(n.flags);
          seg.setWindowIncremental(n.win);
          const inc = seg.checksum;
          seg.fillChecksum(pseudo());
          assert.equal(inc, seg.checksum);
          assert.equal(seg.srcPort, n.sp);
          assert.equal(seg.dstPort, n.dp);
          assert.equal(seg.seq, n.seq);
          assert.equal(seg.ack, n.ack);
          assert.equal(seg.flags, n.flags);
          assert.equal(seg.headerLen, tcpHeaderLen(repr), 'flags setter keeps the data offset');
          assert.equal(seg.window, n.win);
          assertChecksums(pkt);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('adjusts the checksum for an IPv4 address rewrite like a NAT does', () => {
    fc.assert(
      fc.property(u32, u32, u16, fc.uint8Array({ maxLength: 30 }), (a, b, port, payload) => {
        const pkt = buildPacket({
          src: '10.0.0.5',
          dst: '198.51.100.1',
          tcp: { srcPort: 40000, dstPort: 80, flags: TcpFlags.ACK },
          payload,
        });
        const ip = Ipv4Packet.checked(pkt)!;
        const seg = TcpSegment.checked(pkt, ip.payloadOffset, ip.totalLength)!;
        const oldSrc = ip.src;
        const oldDst = ip.dst;
        ip.setSrcIncremental(a);
        ip.setDstIncremental(b);
        seg.adjustChecksumForAddress4(oldSrc, a);
        seg.adjustChecksumForAddress4(oldDst, b);
        seg.setSrcPortIncremental(port);
        const inc = seg.checksum;
        assertChecksums(pkt);
        seg.fillChecksum(pseudoHeaderSum4(pkt, 0, 6, seg.length));
        assert.equal(seg.checksum, inc);
      }),
      { numRuns: 2000 },
    );
  });

  it('adjusts the checksum for an IPv6 address rewrite', () => {
    const pkt = buildPacket({
      src: 'fd00::5',
      dst: '2001:db8::80',
      tcp: { srcPort: 40000, dstPort: 80, flags: TcpFlags.ACK, seq: 1 },
      payload: 'GET /',
    });
    const ip = Ipv6Packet.checked(pkt)!;
    const seg = TcpSegment.checked(pkt, ip.payloadOffset, ip.end)!;
    const oldSrc = ip.srcAddr().slice();
    const newSrc = parseIpv6('2001:db8:1:2:3:4:5:6')!;
    ip.setSrc(newSrc);
    seg.adjustChecksumForAddress6(oldSrc, 0, newSrc, 0);
    assertChecksums(pkt);
    assert.ok(seg.verifyChecksum(pseudoHeaderSum6(pkt, 0, 6, seg.length)));
  });

  it('detects a corrupted segment with verifyChecksum', () => {
    const pkt = TCP_SYN_LINUX.slice();
    const seg = TcpSegment.checked(pkt, 20)!;
    const pseudo = pseudoHeaderSum4(pkt, 0, 6, 40);
    assert.ok(seg.verifyChecksum(pseudo));
    pkt[50] ^= 0x01;
    assert.ok(!seg.verifyChecksum(pseudo));
    assert.ok(!verifyPacket(pkt).ok);
    seg.fillChecksum(pseudo);
    assert.ok(verifyPacket(pkt).ok);
  });

  it('computes the checksum the independent oracle computes', () => {
    const pkt = buildPacket({
      src: '10.9.8.7',
      dst: '10.1.1.1',
      tcp: { srcPort: 5, dstPort: 6, flags: 0x18 },
      payload: 'odd!!',
    });
    const seg = tcpOf(pkt).seg;
    const copy = pkt.slice(20);
    copy[16] = 0;
    copy[17] = 0;
    const pseudo = Uint8Array.from([10, 9, 8, 7, 10, 1, 1, 1, 0, 6, 0, copy.length]);
    assert.equal(
      seg.checksum,
      internetChecksum([
        [pseudo, 0, 12],
        [copy, 0, copy.length],
      ]),
    );
  });

  it('throws RangeError for Reprs that cannot be emitted', () => {
    const buf = new Uint8Array(100);
    const ok: TcpRepr = { srcPort: 1, dstPort: 2, flags: 0 };
    assert.throws(() => emitTcp({ ...ok, srcPort: 65536 }, new Uint8Array(0), buf, 0, 0), RangeError);
    assert.throws(() => emitTcp({ ...ok, seq: -1 }, new Uint8Array(0), buf, 0, 0), RangeError);
    assert.throws(() => emitTcp({ ...ok, flags: 256 }, new Uint8Array(0), buf, 0, 0), RangeError);
    assert.throws(() => emitTcp({ ...ok, mss: 1.5 }, new Uint8Array(0), buf, 0, 0), RangeError);
    assert.throws(() => emitTcp(ok, new Uint8Array(81), buf, 0, 0), RangeError, 'buffer too small');
    const five: Array<[number, number]> = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
      [9, 10],
    ];
    assert.throws(() => emitTcp({ ...ok, sackBlocks: five }, new Uint8Array(0), buf, 0, 0), RangeError);
    // 4 blocks (36 bytes) plus timestamps (12) exceed 40 bytes of options.
    assert.throws(
      () => emitTcp({ ...ok, sackBlocks: five.slice(0, 4), timestamp: [1, 2] }, new Uint8Array(0), buf, 0, 0),
      RangeError,
    );
    assert.throws(
      () => emitTcp({ ...ok, options: new Uint8Array(41) }, new Uint8Array(0), buf, 0, 0),
      RangeError,
    );
  });

  it('reads addresses consistently with the IPv4 view used to build the pseudo-header', () => {
    const pkt = buildPacket({
      src: '203.0.113.9',
      dst: '10.0.0.1',
      tcp: { srcPort: 443, dstPort: 5555, flags: TcpFlags.RST | TcpFlags.ACK },
    });
    const ip = Ipv4Packet.checked(pkt)!;
    assert.equal(ip.src, parseIpv4('203.0.113.9'));
    assert.equal(ip.protocol, IpProtocol.Tcp);
    assert.equal(tcpOf(pkt).seg.flags, 0x14);
  });
});
