/** TCP state tracking through the NAT, driven by a manual clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ACK,
  EXT,
  FIN,
  H1,
  handshake,
  liveMappings,
  R1,
  R2,
  Rig,
  RST,
  SYN,
  TCP,
  tcp,
  tcpDataIn,
  tcpDataOut,
} from './helpers.js';

function only(rig: Rig) {
  const m = liveMappings(rig.nat, TCP);
  assert.equal(m.length, 1, `one TCP record, got ${m.length}`);
  return m[0];
}

describe('TCP state tracking', () => {
  it('a three-way handshake goes SYN_SENT to ESTABLISHED and switches to the established timer', () => {
    const rig = new Rig();
    rig.fromInside(tcp(H1, 40000, R1, 80, SYN, 1000));
    assert.equal(only(rig).state, 'SYN_SENT');
    assert.ok(only(rig).expiresInMs <= 240_000, 'transitory timer while half open');
    rig.fromOutside(tcp(R1, 80, EXT, only(rig).externalPort, SYN | ACK, 5000, 1001));
    rig.fromInside(tcp(H1, 40000, R1, 80, ACK, 1001, 5001));
    assert.equal(only(rig).state, 'ESTABLISHED');
    assert.ok(only(rig).expiresInMs > 7_000_000, `established timer, got ${only(rig).expiresInMs} ms`);
    rig.close();
  });

  it('established connections live 7440 s idle, half-open ones 240 s', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 443);
    rig.advanceSec(7439);
    assert.equal(tcpDataIn(rig, c).length, 1, 'alive after 7439 s idle');
    rig.advanceSec(7000);
    assert.equal(tcpDataOut(rig, c).length, 1, 'traffic refreshed the timer');
    rig.advanceSec(7442);
    assert.equal(liveMappings(rig.nat, TCP).length, 0, 'gone 7442 s after the last packet');
    assert.equal(tcpDataIn(rig, c).length, 0, 'late data is not delivered');

    const half = new Rig();
    const ext = half.fromInside(tcp(H1, 40001, R2, 80, SYN)).out[0].srcPort as number;
    half.advanceSec(239);
    assert.equal(liveMappings(half.nat, TCP).length, 1, 'half open alive after 239 s');
    half.advanceSec(3);
    assert.equal(liveMappings(half.nat, TCP).length, 0, 'half open gone after 240 s');
    assert.equal(half.fromOutside(tcp(R2, 80, EXT, ext, SYN | ACK, 1, 1001)).in.length, 0);
    half.close();
    rig.close();
  });

  it('a RST moves the connection to the 4-minute timer and it then expires', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    rig.advanceSec(1000);
    const rst = rig.fromOutside(tcp(R1, 80, EXT, c.ext, RST | ACK, c.rseq, c.hseq));
    assert.equal(rst.in.length, 1, 'the RST itself is delivered');
    assert.equal(only(rig).state, 'CLOSE');
    assert.ok(only(rig).expiresInMs <= 240_000);
    rig.advanceSec(242);
    assert.equal(liveMappings(rig.nat, TCP).length, 0);
    rig.close();
  });

  it('a RST answering a SYN (connection refused) closes the half-open connection on the 4-minute timer', () => {
    const rig = new Rig();
    const ext = rig.fromInside(tcp(H1, 40000, R1, 81, SYN, 1000)).out[0].srcPort as number;
    assert.equal(rig.fromOutside(tcp(R1, 81, EXT, ext, RST | ACK, 0, 1001)).in.length, 1);
    assert.equal(only(rig).state, 'CLOSE');
    rig.advanceSec(239);
    assert.equal(liveMappings(rig.nat, TCP).length, 1);
    rig.advanceSec(3);
    assert.equal(liveMappings(rig.nat, TCP).length, 0);
    rig.close();
  });

  it('FIN in both directions leads to TIME_WAIT, which expires on its own timer', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    tcpDataOut(rig, c, 'GET / HTTP/1.0\r\n\r\n');
    tcpDataIn(rig, c, 'HTTP/1.0 200 OK\r\n\r\n');
    assert.equal(tcpDataOut(rig, c, '', FIN | ACK).length, 1);
    assert.ok(['FIN_WAIT', 'CLOSE_WAIT'].includes(only(rig).state), `after one FIN: ${only(rig).state}`);
    assert.equal(tcpDataIn(rig, c, '', FIN | ACK).length, 1);
    rig.fromInside(tcp(H1, 40000, R1, 80, ACK, c.hseq, c.rseq));
    assert.equal(only(rig).state, 'TIME_WAIT');
    assert.ok(only(rig).expiresInMs <= 240_000, 'TIME_WAIT timer');
    rig.advanceSec(239);
    assert.equal(liveMappings(rig.nat, TCP).length, 1);
    rig.advanceSec(3);
    assert.equal(liveMappings(rig.nat, TCP).length, 0);
    rig.close();
  });

  it('a FIN from the remote first also closes through TIME_WAIT', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    tcpDataIn(rig, c, '', FIN | ACK);
    assert.ok(
      ['FIN_WAIT', 'CLOSE_WAIT'].includes(only(rig).state),
      `after the remote FIN: ${only(rig).state}`,
    );
    tcpDataOut(rig, c, '', FIN | ACK);
    rig.fromOutside(tcp(R1, 80, EXT, c.ext, ACK, c.rseq, c.hseq));
    assert.equal(only(rig).state, 'TIME_WAIT');
    rig.close();
  });

  it('simultaneous open (SYNs crossing) reaches ESTABLISHED', () => {
    const rig = new Rig();
    const ext = rig.fromInside(tcp(H1, 40000, R1, 5000, SYN, 100)).out[0].srcPort as number;
    assert.equal(rig.fromOutside(tcp(R1, 5000, EXT, ext, SYN, 900)).in.length, 1);
    rig.fromInside(tcp(H1, 40000, R1, 5000, SYN | ACK, 100, 901));
    rig.fromOutside(tcp(R1, 5000, EXT, ext, SYN | ACK, 900, 101));
    assert.equal(only(rig).state, 'ESTABLISHED');
    rig.close();
  });

  it('an unsolicited inbound SYN is held 6 s, then answered with ICMP 3/3 and counted', () => {
    const rig = new Rig();
    assert.equal(rig.fromOutside(tcp(R1, 1234, EXT, 23456, SYN, 42)).all.length, 0);
    assert.equal(rig.nat.stats.synHeld, 1);
    assert.equal(rig.advance(5999).all.length, 0, 'silent before 6 s');
    const r = rig.advance(2000);
    assert.equal(r.out.length, 1);
    assert.deepEqual([r.out[0].icmpType, r.out[0].icmpCode, r.out[0].dst], [3, 3, R1]);
    assert.equal(rig.nat.stats.icmpErrorsSent, 1);
    assert.equal(rig.nat.stats.drops['unsolicited-syn'], 1);
    rig.close();
  });

  it('a held SYN is dropped silently when the inside host sends the matching SYN', () => {
    const rig = new Rig({ filtering: 'address-and-port-dependent' });
    const ext = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    assert.equal(rig.fromOutside(tcp(R2, 7777, EXT, ext, SYN, 42)).all.length, 0);
    rig.advance(2000);
    assert.equal(rig.fromInside(tcp(H1, 40000, R2, 7777, SYN, 99)).out.length, 1);
    assert.equal(rig.advanceSec(30).all.length, 0, 'no ICMP later');
    assert.equal(rig.nat.stats.icmpErrorsSent, 0);
    rig.close();
  });

  it('only the matching outbound SYN cancels a held SYN', () => {
    const rig = new Rig();
    const ext = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    rig.fromOutside(tcp(R2, 6000, EXT, ext, SYN, 7));
    rig.advance(1000);
    rig.fromInside(tcp(H1, 40000, R2, 6001, SYN)); // another port of that remote
    rig.fromInside(tcp(H1, 40001, R2, 6000, SYN)); // another inside endpoint
    const r = rig.advanceSec(10);
    assert.deepEqual(
      r.out.map((p) => [p.icmpType, p.icmpCode, p.dst, p.inner?.srcPort]),
      [[3, 3, R2, 6000]],
    );
    rig.close();
  });

  it('a SYN hold shorter than 6 s is refused with ERR_TIMEOUT_TOO_SHORT', () => {
    assert.throws(
      () => new Rig({ timeouts: { tcpSynHold: 5_000 } }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT_TOO_SHORT',
    );
    assert.throws(
      () => new Rig({ timeouts: { tcpEstablished: 3_600_000 } }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT_TOO_SHORT',
    );
    assert.throws(
      () => new Rig({ timeouts: { tcpTransitory: 60_000 } }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT_TOO_SHORT',
    );
  });

  it('an unsolicited inbound non-SYN segment is dropped at once without any reply', () => {
    const rig = new Rig();
    const before = rig.nat.stats.synHeld;
    assert.equal(rig.fromOutside(tcp(R1, 80, EXT, 33333, ACK, 1, 1)).all.length, 0);
    assert.equal(rig.advanceSec(10).all.length, 0);
    assert.equal(rig.nat.stats.synHeld, before, 'not held');
    rig.close();
  });
});
