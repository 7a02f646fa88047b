/**
 * RFC 5382 (NAT behavioural requirements for TCP), one test per requirement.
 * REQ-6 (TCP ALGs off by default except FTP) belongs to the ALG issue; see docs/conformance.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ACK,
  EXT,
  H1,
  H2,
  H3,
  handshake,
  icmpError,
  liveMappings,
  R1,
  R2,
  Rig,
  ROUTER,
  SYN,
  TCP,
  tcp,
  tcpDataIn,
  tcpDataOut,
} from './helpers.js';

describe('RFC 5382 (TCP)', () => {
  it('RFC 5382 REQ-1: a TCP mapping is endpoint-independent', () => {
    const rig = new Rig();
    const ports = [
      [R1, 80],
      [R1, 443],
      [R2, 80],
      [R2, 8443],
    ].map(([ip, p]) => {
      const r = rig.fromInside(tcp(H1, 40000, ip as string, p as number, SYN));
      assert.equal(r.out.length, 1);
      return r.out[0].srcPort as number;
    });
    assert.equal(new Set(ports).size, 1, `one external port for every remote, got ${ports.join(', ')}`);
    rig.close();
  });

  it('RFC 5382 REQ-2: TCP simultaneous open works', () => {
    const rig = new Rig();
    // Both ends send a SYN; the remote's SYN crosses ours and arrives at the NAT after ours left.
    const syn = rig.fromInside(tcp(H1, 40000, R1, 5000, SYN, 100));
    const ext = syn.out[0].srcPort as number;
    const remoteSyn = rig.fromOutside(tcp(R1, 5000, EXT, ext, SYN, 900));
    assert.equal(remoteSyn.in.length, 1, 'the crossing SYN reaches the inside host');
    assert.equal(remoteSyn.in[0].flags, SYN);
    assert.equal(remoteSyn.in[0].dst, H1);
    assert.equal(remoteSyn.in[0].dstPort, 40000);
    assert.equal(remoteSyn.out.length, 0, 'no ICMP or RST is sent back');
    // Each side answers with SYN-ACK.
    const hSynAck = rig.fromInside(tcp(H1, 40000, R1, 5000, SYN | ACK, 100, 901));
    assert.equal(hSynAck.out.length, 1);
    assert.equal(hSynAck.out[0].srcPort, ext);
    const rSynAck = rig.fromOutside(tcp(R1, 5000, EXT, ext, SYN | ACK, 900, 101));
    assert.equal(rSynAck.in.length, 1);
    // Data both ways; the connection is established, so the long timer applies.
    const c = { host: H1, hport: 40000, remote: R1, rport: 5000, ext, hseq: 101, rseq: 901 };
    assert.equal(tcpDataOut(rig, c).length, 1);
    assert.equal(tcpDataIn(rig, c).length, 1);
    rig.advanceSec(3600);
    assert.equal(tcpDataIn(rig, c).length, 1, 'still alive an hour later (established, not transitory)');
    rig.close();
  });

  it('RFC 5382 REQ-3: TCP filtering is configurable (EIF lets a new remote in, APDF does not)', () => {
    const eif = new Rig({ filtering: 'endpoint-independent' });
    const a = eif.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    const inE = eif.fromOutside(tcp(R2, 9999, EXT, a, SYN, 7000));
    assert.equal(inE.in.length, 1, 'EIF: a SYN from another remote reaches the host');
    assert.equal(inE.in[0].dst, H1);
    eif.close();
    const apdf = new Rig({ filtering: 'address-and-port-dependent' });
    const b = apdf.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    const inA = apdf.fromOutside(tcp(R2, 9999, EXT, b, SYN, 7000));
    assert.equal(inA.in.length, 0, 'APDF: a SYN from another remote is not delivered');
    const inA2 = apdf.fromOutside(tcp(R1, 81, EXT, b, SYN, 7000));
    assert.equal(inA2.in.length, 0, 'APDF: a SYN from another port of the same remote is not delivered');
    apdf.close();
    const adf = new Rig({ filtering: 'address-dependent' });
    const c = adf.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    assert.equal(
      adf.fromOutside(tcp(R1, 81, EXT, c, SYN, 7000)).in.length,
      1,
      'ADF: same remote, other port',
    );
    assert.equal(adf.fromOutside(tcp(R2, 80, EXT, c, SYN, 7000)).in.length, 0, 'ADF: other remote');
    adf.close();
  });

  it('RFC 5382 REQ-4: an unsolicited inbound SYN gets no reply for 6 s, then ICMP port unreachable', () => {
    const rig = new Rig();
    const syn = tcp(R1, 5555, EXT, 44444, SYN, 123456);
    const r = rig.fromOutside(syn);
    assert.equal(r.all.length, 0, 'no immediate reply, nothing delivered');
    assert.equal(rig.advance(5900).all.length, 0, 'nothing within 6 s');
    const late = rig.advance(1100 + 1000);
    assert.equal(late.in.length, 0);
    assert.equal(late.out.length, 1, 'one ICMP error after 6 s');
    const e = late.out[0];
    assert.equal(e.dst, R1);
    assert.equal(e.src, EXT);
    assert.deepEqual([e.icmpType, e.icmpCode], [3, 3]);
    assert.ok(e.inner, 'the error quotes the SYN');
    assert.deepEqual(
      [e.inner?.src, e.inner?.dst, e.inner?.srcPort, e.inner?.dstPort, e.inner?.seq],
      [R1, EXT, 5555, 44444, 123456],
    );
    assert.equal(rig.advanceSec(60).all.length, 0, 'only one error');
    rig.close();
  });

  it('RFC 5382 REQ-4: a held inbound SYN is dropped silently when the outbound SYN arrives within 6 s', () => {
    const rig = new Rig();
    // H1 has a mapping (to R1); R2 tries to connect to it before H1's SYN to R2 goes out.
    const ext = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    const held = rig.fromOutside(tcp(R2, 6000, EXT, ext, SYN, 777));
    assert.equal(held.all.length, 0, 'held, no reply');
    rig.advance(3000);
    const out = rig.fromInside(tcp(H1, 40000, R2, 6000, SYN, 5000));
    assert.equal(out.out.length, 1);
    assert.equal(out.out[0].srcPort, ext, 'EIM: the same external port');
    const later = rig.advanceSec(10);
    assert.equal(later.all.length, 0, 'the held SYN is dropped silently: no ICMP, no delivery');
    // The remote's retransmitted SYN now passes (the connection opens simultaneously).
    const retx = rig.fromOutside(tcp(R2, 6000, EXT, ext, SYN, 777));
    assert.equal(retx.in.length, 1);
    assert.equal(retx.in[0].dst, H1);
    rig.close();
  });

  it('RFC 5382 REQ-5: established idle timeout is at least 2 h 4 min, transitory at least 4 min', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 443);
    rig.fromInside(tcp(H2, 40001, R2, 443, SYN)); // transitory: SYN only
    rig.advanceSec(239);
    assert.equal(liveMappings(rig.nat, TCP).length, 2, 'both alive after 239 s');
    rig.advanceSec(3);
    assert.equal(liveMappings(rig.nat, TCP).length, 1, 'the half-open one is gone after 240 s');
    rig.advanceSec(7440 - 242 - 2);
    assert.equal(liveMappings(rig.nat, TCP).length, 1, 'established alive after 7438 s idle');
    assert.equal(tcpDataIn(rig, c).length, 1);
    rig.advanceSec(7443);
    assert.equal(liveMappings(rig.nat, TCP).length, 0, 'established gone after 7440 s idle');
    assert.equal(tcpDataIn(rig, c).length, 0);
    rig.close();
  });

  it('RFC 5382 REQ-7: no TCP port overloading', () => {
    const rig = new Rig();
    const ports = [H1, H2, H3].map(
      (h) => rig.fromInside(tcp(h, 40000, R1, 80, SYN)).out[0].srcPort as number,
    );
    assert.equal(new Set(ports).size, 3, `external ports ${ports.join(', ')}`);
    [H1, H2, H3].forEach((h, i) => {
      const back = rig.fromOutside(tcp(R1, 80, EXT, ports[i], SYN | ACK, 1, 1001)).in;
      assert.equal(back.length, 1);
      assert.equal(back[0].dst, h);
    });
    rig.close();
  });

  it('RFC 5382 REQ-8: TCP hairpinning with the external address and port as source', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: TCP, outsidePort: 8080, insideIp: H1, insidePort: 80 });
    // H2 learns its own external port through a connection to R1.
    const x2 = handshake(rig, H2, 50000, R1, 80).ext;
    const syn = rig.fromInside(tcp(H2, 50000, EXT, 8080, SYN, 3000));
    assert.equal(syn.out.length, 0, 'hairpinned, not sent outside');
    assert.equal(syn.in.length, 1);
    const p = syn.in[0];
    assert.deepEqual([p.src, p.srcPort, p.dst, p.dstPort, p.flags], [EXT, x2, H1, 80, SYN]);
    const synAck = rig.fromInside(tcp(H1, 80, EXT, x2, SYN | ACK, 9000, 3001));
    assert.equal(synAck.in.length, 1);
    const q = synAck.in[0];
    assert.deepEqual([q.src, q.srcPort, q.dst, q.dstPort, q.flags], [EXT, 8080, H2, 50000, SYN | ACK]);
    rig.close();
  });

  it('RFC 5382 REQ-9: ICMP destination unreachable about a TCP connection is translated', () => {
    const rig = new Rig();
    const syn = rig.fromInside(tcp(H1, 40000, R1, 80, SYN, 1000)).out[0];
    const r = rig.fromOutside(icmpError(ROUTER, EXT, 3, 1, syn.bytes));
    assert.equal(r.in.length, 1);
    const e = r.in[0];
    assert.deepEqual([e.src, e.dst, e.icmpType, e.icmpCode], [ROUTER, H1, 3, 1]);
    assert.deepEqual([e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort], [H1, 40000, R1, 80]);
    rig.close();
  });

  it('RFC 5382 REQ-10: receiving ICMP never ends a TCP mapping or connection', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    const data = rig.fromInside(tcp(H1, 40000, R1, 80, ACK, c.hseq, c.rseq, 'abc')).out[0];
    for (const [type, code] of [
      [3, 3],
      [3, 1],
      [3, 4],
      [11, 0],
      [12, 0],
    ]) {
      rig.fromOutside(
        icmpError(ROUTER, EXT, type, code, data.bytes, { rest: type === 3 && code === 4 ? 576 : 0 }),
      );
      rig.fromOutside(icmpError(R1, EXT, type, code, data.bytes));
    }
    const m = liveMappings(rig.nat, TCP);
    assert.equal(m.length, 1, 'mapping kept');
    assert.equal(tcpDataIn(rig, c).length, 1, 'connection still works inbound');
    assert.equal(tcpDataOut(rig, c)[0].srcPort, c.ext, 'and outbound on the same port');
    // ... and with the established timer (not reset to the transitory one by the errors).
    rig.advanceSec(3000);
    assert.equal(tcpDataIn(rig, c).length, 1);
    rig.close();
  });
});
