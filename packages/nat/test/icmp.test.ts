/** ICMP through the NAT: echo, errors in both directions, TTL, and what errors must never do. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import {
  ACK,
  EXT,
  echo,
  get16,
  H1,
  H2,
  handshake,
  icmpError,
  liveMappings,
  packet,
  R1,
  R2,
  Rig,
  ROUTER,
  SYN,
  TCP,
  tcp,
  udp,
} from './helpers.js';

/** Independent recompute of an IPv4 header checksum (0 when correct). */
function ipHeaderSum(b: Uint8Array): number {
  const ihl = (b[0] & 15) * 4;
  let s = 0;
  for (let i = 0; i < ihl; i += 2) s += (b[i] << 8) | b[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('ICMP', () => {
  it('echo request and reply round-trip with the identifier mapped and restored', () => {
    const rig = new Rig();
    for (let seq = 1; seq <= 3; seq++) {
      const o = rig.fromInside(echo(H1, R1, 0xbeef, seq)).out[0];
      assert.equal(o.icmpSeq, seq);
      const back = rig.fromOutside(echo(R1, EXT, o.icmpId as number, seq, true)).in;
      assert.equal(back.length, 1);
      assert.deepEqual([back[0].icmpId, back[0].icmpSeq, back[0].dst], [0xbeef, seq, H1]);
      assert.equal(new TextDecoder().decode(back[0].payload), 'ping-data', 'data untouched');
    }
    assert.equal(liveMappings(rig.nat, 1).length, 1, 'one session for one identifier');
    rig.close();
  });

  it('an echo reply with an unknown identifier is dropped', () => {
    const rig = new Rig();
    rig.fromInside(echo(H1, R1, 1));
    assert.equal(rig.fromOutside(echo(R1, EXT, 54321, 1, true)).all.length, 0);
    rig.close();
  });

  it('the NAT answers echo requests sent to its outside address', () => {
    const rig = new Rig();
    const r = rig.fromOutside(echo(R1, EXT, 0x77, 3));
    assert.equal(r.out.length, 1);
    assert.deepEqual(
      [r.out[0].src, r.out[0].dst, r.out[0].icmpType, r.out[0].icmpId, r.out[0].icmpSeq],
      [EXT, R1, 0, 0x77, 3],
    );
    assert.equal(rig.nat.stats.echoAnswered, 1);
    rig.close();
  });

  it('an inbound error about a TCP connection keeps the quoted sequence number and fixes every checksum', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    const data = rig.fromInside(tcp(H1, 40000, R1, 80, ACK, c.hseq, c.rseq, 'x'.repeat(1400))).out[0];
    const r = rig.fromOutside(icmpError(ROUTER, EXT, 3, 4, data.bytes, { rest: 1280, quoteLen: 20 }));
    assert.equal(r.in.length, 1);
    const e = r.in[0];
    assert.deepEqual([e.icmpType, e.icmpCode, e.icmpRest], [3, 4, 1280], 'type, code and MTU kept');
    const inner = e.inner;
    assert.ok(inner);
    assert.deepEqual(
      [inner.src, inner.srcPort, inner.dst, inner.dstPort, inner.seq],
      [H1, 40000, R1, 80, c.hseq],
    );
    assert.equal(ipHeaderSum(e.payload), 0, 'embedded IP header checksum correct');
    assert.equal(get16(e.payload, 2), 20 + 20 + 1400, 'embedded total length untouched');
    rig.close();
  });

  it('when an error quotes a whole datagram, the embedded transport checksum is correct after translation', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53, 'a complete datagram');
    const inb = rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, o.bytes, { quoteLen: 200 })).in[0];
    assertChecksums(inb.payload, 'embedded datagram (inbound error)');
    const t = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0];
    const tin = rig.fromOutside(icmpError(ROUTER, EXT, 3, 1, t.bytes, { quoteLen: 200 })).in[0];
    assertChecksums(tin.payload, 'embedded segment (inbound error)');
    const d = rig.udpIn(R1, 53, o.srcPort as number, 'reply')[0];
    const out = rig.fromInside(icmpError(H1, R1, 3, 3, d.bytes, { quoteLen: 200 })).out[0];
    assertChecksums(out.payload, 'embedded datagram (outbound error)');
    rig.close();
  });

  it('an outbound error about an inbound TCP segment is translated', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    const seg = rig.fromOutside(tcp(R1, 80, EXT, c.ext, ACK, c.rseq, c.hseq, 'data')).in[0];
    const r = rig.fromInside(icmpError(H1, R1, 3, 3, seg.bytes));
    assert.equal(r.out.length, 1);
    const e = r.out[0];
    assert.deepEqual([e.src, e.dst], [EXT, R1]);
    assert.deepEqual([e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort], [R1, 80, EXT, c.ext]);
    assert.equal(ipHeaderSum(e.payload), 0);
    rig.close();
  });

  it('errors never refresh or delete a TCP connection', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    const seg = rig.fromInside(tcp(H1, 40000, R1, 80, ACK, c.hseq, c.rseq, 'q')).out[0];
    rig.advanceSec(5000);
    const before = liveMappings(rig.nat, TCP)[0];
    for (let i = 0; i < 5; i++) rig.fromOutside(icmpError(ROUTER, EXT, 3, 1, seg.bytes));
    const after = liveMappings(rig.nat, TCP)[0];
    assert.ok(after, 'not deleted');
    assert.equal(after.state, before.state, 'state unchanged');
    assert.equal(after.expiresInMs, before.expiresInMs, 'not refreshed');
    rig.advanceSec(7440 - 5000 + 2);
    assert.equal(liveMappings(rig.nat, TCP).length, 0, 'expires on schedule');
    rig.close();
  });

  it('an error about a flow of another inside host is not delivered to the wrong host', () => {
    const rig = new Rig();
    const a = rig.udpOut(H1, 5000, R1, 53);
    const b = rig.udpOut(H2, 5000, R1, 53);
    const ra = rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, a.bytes)).in;
    const rb = rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, b.bytes)).in;
    assert.deepEqual([ra[0].dst, rb[0].dst], [H1, H2]);
    rig.close();
  });

  it('an error about a session that never existed is dropped, even when its external port is mapped', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    const forged = udp(EXT, o.srcPort as number, R2, 53); // the NAT never sent this to R2
    assert.equal(rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, forged)).in.length, 0);
    const t = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0];
    const forgedTcp = tcp(EXT, t.srcPort as number, R2, 80, SYN);
    assert.equal(rig.fromOutside(icmpError(ROUTER, EXT, 3, 1, forgedTcp)).in.length, 0);
    assert.equal(liveMappings(rig.nat).length, 2, 'nothing deleted either');
    rig.close();
  });

  it('an error that is too short to hold the quoted ports is dropped', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    const err = icmpError(ROUTER, EXT, 3, 3, o.bytes, { quoteLen: 2 });
    assert.equal(rig.fromOutside(err).all.length, 0);
    rig.close();
  });

  it('an error about an error is not translated', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    const first = icmpError(R1, EXT, 3, 3, o.bytes);
    const nested = icmpError(ROUTER, EXT, 3, 1, first);
    assert.equal(rig.fromOutside(nested).in.length, 0);
    rig.close();
  });

  it('the NAT never answers an ICMP error with an ICMP error (TTL 1 errors are dropped silently)', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const d = rig.udpIn(R1, 53, x)[0];
    assert.equal(rig.fromInside(icmpError(H1, R1, 3, 3, d.bytes, { ttl: 1 })).all.length, 0, 'outbound');
    const o = rig.udpOut(H1, 5001, R1, 53);
    assert.equal(rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, o.bytes, { ttl: 1 })).all.length, 0, 'inbound');
    rig.close();
  });

  it('errors the NAT generates quote as much of a large packet as fits in 576 bytes (RFC 1812 §4.3.2.3)', () => {
    const rig = new Rig({ maxMappings: 1 });
    rig.udpOut(H1, 1, R1, 53);
    const e1 = rig.fromInside(udp(H2, 5000, R1, 53, 'x'.repeat(1400))).in[0];
    const e2 = rig.fromInside(
      packet({ src: H1, dst: R1, ttl: 1, udp: { srcPort: 1, dstPort: 53 }, payload: 'y'.repeat(1400) }),
    ).in[0];
    for (const e of [e1, e2]) {
      assert.equal(e.totalLength, 576, `ICMP ${e.icmpType}/${e.icmpCode}`);
      assert.equal(e.payload.length, 576 - 28);
      assert.equal(e.inner?.totalLength, 20 + 8 + 1400, 'the quoted header keeps the original length');
    }
    rig.close();
  });

  it('the NAT is a router hop: TTL is decremented and TTL 1 gets ICMP time exceeded', () => {
    const rig = new Rig();
    const o = rig.fromInside(packet({ src: H1, dst: R1, ttl: 9, udp: { srcPort: 5000, dstPort: 53 } }))
      .out[0];
    assert.equal(o.ttl, 8);
    const r = rig.fromInside(packet({ src: H1, dst: R1, ttl: 1, udp: { srcPort: 5001, dstPort: 53 } }));
    assert.equal(r.out.length, 0);
    assert.equal(r.in.length, 1);
    assert.deepEqual([r.in[0].icmpType, r.in[0].icmpCode, r.in[0].dst], [11, 0, H1]);
    assert.equal(rig.nat.stats.drops['ttl-exceeded'], 1);
    rig.close();
  });

  it('the ICMP errors the NAT generates are rate-limited by a token bucket (RFC 1812 §4.3.2.8)', () => {
    const rig = new Rig({ icmpRateLimit: { burst: 3, perSecond: 10 } });
    const ttl1 = (port: number) => packet({ src: H1, dst: R1, ttl: 1, udp: { srcPort: port, dstPort: 53 } });
    let errors = 0;
    for (let i = 0; i < 10; i++) errors += rig.fromInside(ttl1(6000 + i)).in.length;
    assert.equal(errors, 3, 'the burst');
    assert.equal(rig.nat.stats.icmpRateLimited, 7);
    assert.equal(rig.nat.stats.drops['ttl-exceeded'], 10, 'every packet is still dropped and counted');
    rig.clock.advance(200); // two tokens at 10/s
    errors = 0;
    for (let i = 0; i < 5; i++) errors += rig.fromInside(ttl1(7000 + i)).in.length;
    assert.equal(errors, 2);
    rig.close();
    const unlimited = new Rig({ icmpRateLimit: null });
    errors = 0;
    for (let i = 0; i < 500; i++) errors += unlimited.fromInside(ttl1(6000 + i)).in.length;
    assert.equal(errors, 500);
    unlimited.close();
    assert.throws(() => new Rig({ icmpRateLimit: { burst: 0, perSecond: 1 } }), /icmpRateLimit/);
  });

  it('UDP with checksum 0 keeps checksum 0 (RFC 768 "none") and TCP/UDP checksums are updated', () => {
    const rig = new Rig();
    const o = rig.fromInside(
      packet({ src: H1, dst: R1, udp: { srcPort: 5000, dstPort: 53, zeroChecksum: true }, payload: 'z' }),
    ).out[0];
    assert.equal(get16(o.bytes, o.ihl + 6), 0);
    const back = rig.fromOutside(
      packet({
        src: R1,
        dst: EXT,
        udp: { srcPort: 53, dstPort: o.srcPort as number, zeroChecksum: true },
        payload: 'a',
      }),
    ).in[0];
    assert.equal(get16(back.bytes, back.ihl + 6), 0, 'inbound too');
    const t = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0];
    assert.notEqual(get16(t.bytes, t.ihl + 16), 0);
    rig.close();
  });

  it('router discovery and redirects from inside are dropped and counted, never forwarded', () => {
    const rig = new Rig();
    for (const [type, len] of [
      [9, 8],
      [10, 0],
      [5, 28],
    ]) {
      const r = rig.fromInside(
        packet({ src: H1, dst: R1, icmp: { type, code: 0, rest: 0 }, payload: new Uint8Array(len) }),
      );
      assert.equal(r.all.length, 0, `type ${type}`);
    }
    assert.equal(rig.nat.stats.drops['icmp-unsupported'], 3);
    rig.close();
  });

  it('UDP, TCP and ICMP of inside hosts never leave with an inside source address', () => {
    const rig = new Rig();
    const outs = [
      ...rig.fromInside(udp(H1, 5000, R1, 53)).out,
      ...rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out,
      ...rig.fromInside(echo(H1, R1, 3)).out,
      ...rig.fromInside(
        icmpError(
          H1,
          R1,
          3,
          3,
          rig.fromOutside(udp(R1, 53, EXT, 5000)).in[0]?.bytes ?? udp(R1, 53, H1, 5000),
        ),
      ).out,
    ];
    assert.ok(outs.length >= 3);
    for (const p of outs) assert.equal(p.src, EXT, `proto ${p.proto} type ${p.icmpType} left with ${p.src}`);
    rig.close();
  });
});
