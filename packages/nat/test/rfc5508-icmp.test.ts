/** RFC 5508 (NAT behavioural requirements for ICMP), one test per requirement. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EXT,
  echo,
  H1,
  H2,
  ICMP,
  icmpError,
  icmpExtension,
  liveMappings,
  packet,
  R1,
  R2,
  Rig,
  ROUTER,
  SYN,
  TCP,
  tcp,
  UDP,
  udp,
} from './helpers.js';

/** Recomputes the ICMP checksum of an ICMP packet with a 20-byte IP header. */
function fixIcmpChecksum(p: Uint8Array): void {
  p[22] = 0;
  p[23] = 0;
  let s = 0;
  for (let i = 20; i < p.length; i += 2) s += (p[i] << 8) | (i + 1 < p.length ? p[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  p[22] = c >> 8;
  p[23] = c & 0xff;
}

describe('RFC 5508 (ICMP)', () => {
  it('RFC 5508 REQ-1: echo from inside is permitted and the identifier is mapped like a port (REQ-1a: host-independent)', () => {
    const rig = new Rig();
    const o1 = rig.fromInside(echo(H1, R1, 0x1234, 1)).out;
    assert.equal(o1.length, 1);
    assert.deepEqual([o1[0].src, o1[0].dst, o1[0].icmpType, o1[0].icmpSeq], [EXT, R1, 8, 1]);
    const id = o1[0].icmpId as number;
    // The same (host, identifier) towards another remote keeps its external identifier.
    const o2 = rig.fromInside(echo(H1, R2, 0x1234, 2)).out;
    assert.equal(o2[0].icmpId, id, 'external identifier independent of the remote');
    // Another host with the same identifier gets a different external identifier.
    const o3 = rig.fromInside(echo(H2, R1, 0x1234, 1)).out;
    assert.notEqual(o3[0].icmpId, id, 'no identifier overloading');
    // Replies come back to the right host with the original identifier.
    const back1 = rig.fromOutside(echo(R1, EXT, id, 1, true)).in;
    assert.equal(back1.length, 1);
    assert.deepEqual(
      [back1[0].src, back1[0].dst, back1[0].icmpType, back1[0].icmpId, back1[0].icmpSeq],
      [R1, H1, 0, 0x1234, 1],
    );
    const back3 = rig.fromOutside(echo(R1, EXT, o3[0].icmpId as number, 1, true)).in;
    assert.deepEqual([back3[0].dst, back3[0].icmpId], [H2, 0x1234]);
    rig.close();
  });

  it('RFC 5508 REQ-1: timestamp queries from inside are permitted and mapped like echo', () => {
    const rig = new Rig();
    const req = packet({
      src: H1,
      dst: R1,
      icmp: { type: 13, code: 0, identifier: 0x0777, sequence: 3 },
      payload: new Uint8Array(12),
    });
    const o = rig.fromInside(req).out;
    assert.equal(o.length, 1, 'the timestamp request is translated');
    assert.deepEqual([o[0].src, o[0].icmpType, o[0].icmpSeq], [EXT, 13, 3]);
    const rep = packet({
      src: R1,
      dst: EXT,
      icmp: { type: 14, code: 0, identifier: o[0].icmpId, sequence: 3 },
      payload: new Uint8Array(12),
    });
    const back = rig.fromOutside(rep).in;
    assert.equal(back.length, 1);
    assert.deepEqual([back[0].dst, back[0].icmpType, back[0].icmpId], [H1, 14, 0x0777]);
    rig.close();
  });

  it('RFC 5508 REQ-2: an ICMP query session lasts at least 60 s (and is configurable, REQ-2a)', () => {
    const rig = new Rig();
    const id = rig.fromInside(echo(H1, R1, 77)).out[0].icmpId as number;
    rig.advanceSec(59);
    assert.equal(liveMappings(rig.nat, ICMP).length, 1, 'alive after 59 s');
    rig.advanceSec(3);
    assert.equal(liveMappings(rig.nat, ICMP).length, 0, 'default 60 s');
    assert.equal(rig.fromOutside(echo(R1, EXT, id, 1, true)).in.length, 0, 'late reply dropped');
    rig.close();
    assert.throws(
      () => new Rig({ timeouts: { icmp: 59_999 } }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT_TOO_SHORT',
    );
    const longer = new Rig({ timeouts: { icmp: 180_000 } });
    longer.fromInside(echo(H1, R1, 77));
    longer.advanceSec(170);
    assert.equal(liveMappings(longer.nat, ICMP).length, 1, 'configured 180 s honoured');
    longer.close();
  });

  it('RFC 5508 REQ-3: an ICMP error with a bad ICMP checksum is dropped silently', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    const bad = icmpError(ROUTER, EXT, 3, 3, o.bytes);
    bad[22] ^= 0x55; // the ICMP checksum
    assert.equal(rig.fromOutside(bad).all.length, 0, 'dropped');
    assert.equal(
      rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, o.bytes)).in.length,
      1,
      'the intact error passes',
    );
    rig.close();
  });

  it('RFC 5508 REQ-3a: an ICMP error whose embedded IP header checksum is wrong is dropped silently', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    const bad = icmpError(ROUTER, EXT, 3, 3, o.bytes);
    bad[28 + 10] ^= 0x0f; // embedded IP header checksum
    fixIcmpChecksum(bad);
    assert.equal(rig.fromOutside(bad).all.length, 0, 'dropped');
    assert.equal(
      rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, o.bytes)).in.length,
      1,
      'the intact error passes',
    );
    rig.close();
  });

  it('RFC 5508 REQ-3: IP options in the embedded header are skipped to find the ports', () => {
    const rig = new Rig();
    // An outbound UDP packet with a 4-byte option (NOP NOP NOP EOL) in its IP header.
    const opt = Uint8Array.from([1, 1, 1, 0]);
    const sent = rig.fromInside(
      packet({ src: H1, dst: R1, options: opt, udp: { srcPort: 5000, dstPort: 53 }, payload: 'q' }),
    ).out;
    assert.equal(sent.length, 1);
    const o = sent[0];
    assert.equal(o.ihl, 24);
    const r = rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, o.bytes));
    assert.equal(r.in.length, 1);
    const inner = r.in[0].inner;
    assert.ok(inner);
    assert.equal(inner.ihl, 24, 'options kept in the quote');
    assert.deepEqual([inner.src, inner.srcPort, inner.dst, inner.dstPort], [H1, 5000, R1, 53]);
    rig.close();
  });

  it('RFC 5508 REQ-3: an error with RFC 4884 extensions is translated and the extension kept', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 33434, 'traceroute-probe');
    const ext = icmpExtension(Uint8Array.from([0, 1, 0x41, 0xff]));
    const err = icmpError(ROUTER, EXT, 11, 0, o.bytes, { quoteLen: 100, extension: ext });
    const r = rig.fromOutside(err);
    assert.equal(r.in.length, 1);
    const e = r.in[0];
    assert.deepEqual([e.icmpType, e.icmpCode, e.dst], [11, 0, H1]);
    assert.equal(((e.icmpRest as number) >>> 16) & 0xff, 32, 'RFC 4884 length attribute unchanged');
    assert.deepEqual([e.inner?.src, e.inner?.srcPort], [H1, 5000]);
    assert.deepEqual([...e.payload.subarray(128)], [...ext], 'extension structure intact');
    rig.close();
  });

  it('RFC 5508 REQ-4: inbound errors are translated back (embedded header, ports, outer destination, type/code kept)', () => {
    const rig = new Rig();
    for (const [make, proto] of [
      [() => udp(H1, 5000, R1, 53), UDP],
      [() => tcp(H1, 40000, R1, 80, SYN), TCP],
      [() => echo(H1, R1, 0x4242), ICMP],
    ] as const) {
      const o = rig.fromInside(make()).out[0];
      const r = rig.fromOutside(icmpError(ROUTER, EXT, 3, 1, o.bytes, { quoteLen: 28 }));
      assert.equal(r.in.length, 1, `error about proto ${proto} delivered`);
      const e = r.in[0];
      assert.deepEqual([e.src, e.dst, e.icmpType, e.icmpCode], [ROUTER, H1, 3, 1]);
      const inner = e.inner;
      assert.ok(inner);
      assert.equal(inner.proto, proto);
      assert.equal(inner.src, H1);
      assert.equal(inner.dst, R1);
      if (proto === ICMP) assert.equal(inner.icmpId, 0x4242);
      else
        assert.deepEqual(
          [inner.srcPort, inner.dstPort],
          [proto === UDP ? 5000 : 40000, proto === UDP ? 53 : 80],
        );
    }
    // Without a mapping the error is dropped silently.
    const stray = udp(EXT, 31999, R1, 53);
    assert.equal(rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, stray)).all.length, 0, 'no mapping: dropped');
    assert.ok(rig.nat.stats.drops['icmp-error-no-mapping'] >= 1);
    rig.close();
  });

  it('RFC 5508 REQ-5: outbound errors are translated (embedded destination, outer source, type/code kept)', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const delivered = rig.udpIn(R1, 53, x);
    assert.equal(delivered.length, 1);
    // H1 rejects the datagram it received: ICMP 3/3 quoting it as H1 saw it.
    const r = rig.fromInside(icmpError(H1, R1, 3, 3, delivered[0].bytes));
    assert.equal(r.out.length, 1);
    const e = r.out[0];
    assert.deepEqual([e.src, e.dst, e.icmpType, e.icmpCode], [EXT, R1, 3, 3]);
    assert.deepEqual(
      [e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort],
      [R1, 53, EXT, x],
      'the quote shows the datagram as R1 sent it',
    );
    rig.close();
  });

  it('RFC 5508 REQ-6: an ICMP error neither refreshes nor deletes the session it is about', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    rig.advanceSec(200);
    const before = liveMappings(rig.nat, UDP)[0].expiresInMs;
    rig.fromOutside(icmpError(ROUTER, EXT, 3, 3, o.bytes));
    const afterIn = liveMappings(rig.nat, UDP);
    assert.equal(afterIn.length, 1, 'not deleted');
    assert.equal(afterIn[0].expiresInMs, before, 'inbound error did not refresh');
    // An outbound error about this session does not refresh it either.
    const fake = udp(R1, 53, H1, 5000);
    rig.fromInside(icmpError(H1, R1, 3, 3, fake));
    assert.equal(liveMappings(rig.nat, UDP)[0].expiresInMs, before, 'outbound error did not refresh');
    rig.advanceSec(101);
    assert.equal(liveMappings(rig.nat, UDP).length, 0, 'expires on the original schedule');
    rig.close();
  });

  it('RFC 5508 REQ-7: an inside host pinging the external address gets the answer back through the NAT', () => {
    const rig = new Rig();
    const r = rig.fromInside(echo(H2, EXT, 0x5151, 9));
    assert.equal(r.out.length, 0, 'hairpinned, not sent outside');
    assert.equal(r.in.length, 1, 'an echo reply comes back');
    const p = r.in[0];
    assert.deepEqual([p.src, p.dst, p.icmpType, p.icmpId, p.icmpSeq], [EXT, H2, 0, 0x5151, 9]);
    rig.close();
  });

  it('RFC 5508 REQ-8: hairpinned ICMP errors are translated (outer header and embedded headers)', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    const x2 = rig.udpOut(H2, 6000, R1, 3478).srcPort as number;
    const hp = rig.fromInside(udp(H2, 6000, EXT, x1, 'to-h1')).in;
    assert.equal(hp.length, 1);
    // H1 answers the hairpinned datagram with port unreachable, quoting it as it saw it.
    const r = rig.fromInside(icmpError(H1, EXT, 3, 3, hp[0].bytes));
    assert.equal(r.out.length, 0, 'the hairpinned error does not leave');
    assert.equal(r.in.length, 1, 'H2 receives the error');
    const e = r.in[0];
    assert.deepEqual([e.src, e.dst, e.icmpType, e.icmpCode], [EXT, H2, 3, 3]);
    assert.deepEqual(
      [e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort],
      [H2, 6000, EXT, x1],
      'the quote shows the datagram as H2 sent it',
    );
    void x2;
    rig.close();
  });

  it('RFC 5508 REQ-9: when no session can be created the sender gets ICMP 3/13 and the packet is dropped', () => {
    const rig = new Rig({ portRange: { udp: [40000, 40000] }, portPreservation: false });
    rig.udpOut(H1, 5000, R1, 53);
    const r = rig.fromInside(udp(H2, 5000, R1, 53, 'no-room'));
    assert.equal(r.out.length, 0, 'dropped');
    assert.equal(r.in.length, 1, 'an error goes back');
    const e = r.in[0];
    assert.deepEqual([e.dst, e.icmpType, e.icmpCode], [H2, 3, 13]);
    assert.deepEqual([e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort], [H2, 5000, R1, 53]);
    assert.ok(rig.nat.stats.drops['ports-exhausted'] >= 1);
    rig.close();
  });
});
