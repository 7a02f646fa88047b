/** Mappings and their sessions: lifetimes, filtering state, and what must not create state. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ACK,
  EXT,
  echo,
  FIN,
  H1,
  H2,
  handshake,
  icmpError,
  liveMappings,
  R1,
  R2,
  Rig,
  RST,
  SYN,
  TCP,
  tcp,
  UDP,
  udp,
} from './helpers.js';

describe('mappings and sessions', () => {
  it('an EIM mapping outlives one of its sessions; the expired session no longer opens the filter', () => {
    const rig = new Rig(); // EIM + APDF
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(200);
    assert.equal(rig.udpOut(H1, 5000, R2, 53).srcPort, x);
    rig.advanceSec(150); // R1's session idle 350 s, R2's 150 s
    const recs = liveMappings(rig.nat, UDP);
    assert.deepEqual(
      recs.map((r) => r.remoteIp),
      [R2],
    );
    assert.equal(rig.udpIn(R1, 53, x).length, 0, 'R1 is filtered again');
    assert.equal(rig.udpIn(R2, 53, x).length, 1, 'R2 still passes');
    assert.equal(rig.udpOut(H1, 5000, R1, 53).srcPort, x, 'the mapping (and its port) is kept');
    rig.close();
  });

  it('a filtered inbound packet neither refreshes nor creates anything', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(100);
    const before = liveMappings(rig.nat, UDP)[0].expiresInMs;
    assert.equal(rig.udpIn(R2, 53, x).length, 0);
    assert.equal(rig.udpIn(R1, 54, x).length, 0);
    const after = liveMappings(rig.nat, UDP);
    assert.equal(after.length, 1);
    assert.equal(after[0].expiresInMs, before);
    rig.close();
  });

  it('an outbound RST, echo reply or ICMP error without a mapping creates no mapping', () => {
    const rig = new Rig();
    const before = rig.nat.stats.mappingsCreated;
    assert.equal(rig.fromInside(tcp(H1, 40000, R1, 80, RST | ACK, 1, 1)).out.length, 0, 'RST');
    assert.equal(rig.fromInside(echo(H1, R1, 5, 1, true)).out.length, 0, 'echo reply');
    assert.equal(rig.fromInside(icmpError(H1, R1, 3, 3, udp(R1, 53, H1, 5000))).out.length, 0, 'ICMP error');
    assert.equal(rig.nat.stats.mappingsCreated, before);
    assert.equal(liveMappings(rig.nat).length, 0);
    rig.close();
  });

  it('after TIME_WAIT the same ports can open a new connection', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    rig.fromInside(tcp(H1, 40000, R1, 80, FIN | ACK, c.hseq, c.rseq));
    rig.fromOutside(tcp(R1, 80, EXT, c.ext, FIN | ACK, c.rseq, c.hseq + 1));
    rig.fromInside(tcp(H1, 40000, R1, 80, ACK, c.hseq + 1, c.rseq + 1));
    assert.equal(liveMappings(rig.nat, TCP)[0].state, 'TIME_WAIT');
    rig.advanceSec(30);
    const syn = rig.fromInside(tcp(H1, 40000, R1, 80, SYN, 900000));
    assert.equal(syn.out.length, 1, 'the new SYN passes');
    assert.equal(syn.out[0].srcPort, c.ext);
    const sa = rig.fromOutside(tcp(R1, 80, EXT, c.ext, SYN | ACK, 1, 900001));
    assert.equal(sa.in.length, 1);
    rig.fromInside(tcp(H1, 40000, R1, 80, ACK, 900001, 2));
    assert.equal(liveMappings(rig.nat, TCP)[0].state, 'ESTABLISHED');
    rig.close();
  });

  it('a half-open connection restored from a snapshot keeps its transitory timer', () => {
    const rig = new Rig();
    rig.fromInside(tcp(H1, 40000, R1, 80, SYN));
    rig.advanceSec(100);
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap, {}, 77_000_000);
    assert.equal(liveMappings(r2.nat, TCP)[0].state, 'SYN_SENT');
    r2.advanceSec(139);
    assert.equal(liveMappings(r2.nat, TCP).length, 1);
    r2.advanceSec(3);
    assert.equal(liveMappings(r2.nat, TCP).length, 0);
    r2.close();
  });

  it('APDM hairpinning: the source is the sender’s mapping towards that external endpoint', () => {
    const rig = new Rig({ mapping: 'address-and-port-dependent', filtering: 'endpoint-independent' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    const x2r = rig.udpOut(H2, 6000, R1, 3478).srcPort as number;
    const r = rig.fromInside(udp(H2, 6000, EXT, x1, 'knock'));
    assert.equal(r.in.length, 1);
    const x2 = r.in[0].srcPort as number;
    assert.equal(r.in[0].src, EXT);
    assert.notEqual(x2, x2r, 'a new mapping for the new destination (APDM)');
    const rec = liveMappings(rig.nat, UDP).find((m) => m.insideIp === H2 && m.remotePort === x1);
    assert.equal(rec?.externalPort, x2, 'the record shows the same mapping');
    // H1 answers the endpoint it saw; the answer reaches H2 from one of H1's external ports.
    const back = rig.fromInside(udp(H1, 5000, EXT, x2, 'answer'));
    assert.equal(back.in.length, 1);
    assert.deepEqual([back.in[0].src, back.in[0].dst, back.in[0].dstPort], [EXT, H2, 6000]);
    rig.close();
  });

  it('under a symmetric NAT two inside hosts cannot hole-punch through hairpinning (as across two symmetric NATs)', () => {
    const rig = new Rig({ type: 'symmetric' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    assert.equal(rig.fromInside(udp(H2, 6000, EXT, x1)).in.length, 0, 'H1 never contacted H2');
    const x2 = liveMappings(rig.nat, UDP).find((m) => m.insideIp === H2 && m.remotePort === x1)
      ?.externalPort as number;
    assert.equal(
      rig.fromInside(udp(H1, 5000, EXT, x2)).in.length,
      0,
      'H1 comes from a new port, H2 filters it',
    );
    rig.close();
  });

  it('ADM with EIF: an inbound packet to another mapping does not move the active mapping of that remote', () => {
    const rig = new Rig({ mapping: 'address-dependent', filtering: 'endpoint-independent' });
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const y = rig.udpOut(H1, 5000, R2, 53).srcPort as number;
    assert.notEqual(x, y);
    assert.equal(rig.udpIn(R2, 53, x).length, 1, 'EIF lets R2 reach X');
    assert.equal(rig.udpOut(H1, 5000, R2, 53).srcPort, y, 'H1 keeps talking to R2 from Y');
    rig.close();
  });

  it('APDM with ADF: an inbound packet to another mapping does not move the active mapping of that remote port', () => {
    const rig = new Rig({ mapping: 'address-and-port-dependent', filtering: 'address-dependent' });
    const x = rig.udpOut(H1, 5000, R1, 54).srcPort as number;
    const y = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    assert.equal(rig.udpIn(R1, 54, y).length, 1, 'ADF lets R1:54 reach Y');
    assert.equal(rig.udpOut(H1, 5000, R1, 54).srcPort, x, 'H1 keeps talking to R1:54 from X');
    rig.close();
  });
});
