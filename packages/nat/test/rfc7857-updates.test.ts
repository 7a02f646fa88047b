/** RFC 7857 (updates to NAT behavioural requirements), by section. */
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
  ICMP,
  icmpError,
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
  UDP,
  udp,
} from './helpers.js';

describe('RFC 7857 (updates)', () => {
  it('RFC 7857 §2: TCP sessions follow a state machine with separate open and closing timers', () => {
    const rig = new Rig({ timeouts: { tcpTransitory: 300_000, tcpTimeWait: 240_000 } });
    rig.fromInside(tcp(H1, 40000, R1, 80, SYN));
    const c = handshake(rig, H2, 40001, R1, 80);
    const state = (host: string) => liveMappings(rig.nat, TCP).find((m) => m.insideIp === host)?.state;
    assert.equal(state(H1), 'SYN_SENT');
    assert.equal(state(H2), 'ESTABLISHED');
    // Close H2's connection: FIN from each side, then the last ACK.
    rig.fromInside(tcp(H2, 40001, R1, 80, FIN | ACK, c.hseq, c.rseq));
    rig.fromOutside(tcp(R1, 80, EXT, c.ext, FIN | ACK, c.rseq, c.hseq + 1));
    rig.fromInside(tcp(H2, 40001, R1, 80, ACK, c.hseq + 1, c.rseq + 1));
    assert.equal(state(H2), 'TIME_WAIT');
    rig.advanceSec(239);
    assert.equal(state(H2), 'TIME_WAIT', 'closing timer not yet run out');
    rig.advanceSec(3);
    assert.equal(state(H2), undefined, 'closed connection gone after the 240 s closing timer');
    assert.equal(state(H1), 'SYN_SENT', 'the configured 300 s open timer still runs');
    rig.advanceSec(60);
    assert.equal(state(H1), undefined);
    rig.close();
  });

  it('RFC 7857 §2.2: after a RST the session is kept for 4 minutes', () => {
    for (const fromInside of [true, false]) {
      const rig = new Rig();
      const c = handshake(rig, H1, 40000, R1, 80);
      if (fromInside) rig.fromInside(tcp(H1, 40000, R1, 80, RST, c.hseq));
      else rig.fromOutside(tcp(R1, 80, EXT, c.ext, RST, c.rseq));
      const m = liveMappings(rig.nat, TCP);
      assert.equal(m.length, 1, 'still there right after the RST');
      assert.ok(m[0].expiresInMs <= 240_000, `timer is the 4 min one (${m[0].expiresInMs} ms)`);
      rig.advanceSec(239);
      assert.equal(liveMappings(rig.nat, TCP).length, 1, 'kept for 4 minutes');
      rig.advanceSec(3);
      assert.equal(liveMappings(rig.nat, TCP).length, 0, 'removed after 4 minutes');
      rig.close();
    }
  });

  it('RFC 7857 §2.2: traffic after a RST keeps the session (it is removed only if nothing is received for 4 minutes)', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    rig.fromOutside(tcp(R1, 80, EXT, c.ext, RST, c.rseq)); // spurious (or forged) RST
    for (let i = 0; i < 5; i++) {
      rig.advanceSec(100);
      assert.equal(tcpDataOut(rig, c).length, 1, `outbound data ${100 * (i + 1)} s after the RST`);
      assert.equal(tcpDataIn(rig, c).length, 1, `inbound data ${100 * (i + 1)} s after the RST`);
    }
    rig.close();
  });

  it('RFC 7857 §4: paired address pooling holds across TCP, UDP and ICMP', () => {
    const pool = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
    const rig = new Rig({ outsidePool: pool });
    for (const host of [H1, H2]) {
      const addrs = new Set<string>();
      addrs.add(rig.fromInside(udp(host, 5000, R1, 53)).out[0].src);
      addrs.add(rig.fromInside(tcp(host, 40000, R2, 80, SYN)).out[0].src);
      addrs.add(rig.fromInside(echo(host, R1, 99)).out[0].src);
      addrs.add(rig.fromInside(udp(host, 5001, R2, 123)).out[0].src);
      assert.equal(addrs.size, 1, `${host} used ${[...addrs].join(', ')}`);
    }
    rig.close();
  });

  it('RFC 7857 §5: endpoint-independent mapping holds for TCP, UDP and ICMP alike', () => {
    const rig = new Rig();
    const udpPorts = new Set([R1, R2].map((r) => rig.fromInside(udp(H1, 5000, r, 53)).out[0].srcPort));
    const tcpPorts = new Set([R1, R2].map((r) => rig.fromInside(tcp(H1, 40000, r, 80, SYN)).out[0].srcPort));
    const ids = new Set([R1, R2].map((r) => rig.fromInside(echo(H1, r, 7)).out[0].icmpId));
    assert.deepEqual([udpPorts.size, tcpPorts.size, ids.size], [1, 1, 1]);
    rig.close();
  });

  it('RFC 7857 §6: endpoint-independent filtering holds for TCP and UDP alike', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    const u = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const t = rig.fromInside(tcp(H1, 40000, R1, 80, SYN)).out[0].srcPort as number;
    assert.equal(rig.udpIn(R2, 9999, u).length, 1, 'UDP from a new remote passes');
    assert.equal(rig.fromOutside(tcp(R2, 9999, EXT, t, SYN, 1)).in.length, 1, 'TCP from a new remote passes');
    rig.close();
  });

  it('RFC 7857 §7.1: an outbound ICMP error answering an inbound packet does not refresh the mapping', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(100);
    const delivered = rig.udpIn(R1, 53, x);
    assert.equal(delivered.length, 1);
    rig.advanceSec(100);
    const before = liveMappings(rig.nat, UDP)[0].expiresInMs;
    const r = rig.fromInside(icmpError(H1, R1, 3, 3, delivered[0].bytes));
    assert.equal(r.out.length, 1, 'the error is translated and sent');
    assert.equal(liveMappings(rig.nat, UDP)[0].expiresInMs, before, 'no refresh');
    rig.close();
  });

  it('RFC 7857 §8: port parity preservation can be switched off and on', () => {
    // Off (the default): the option exists and the NAT runs; parity kept when configured is in RFC 4787 REQ-4.
    const off = new Rig({ portParity: false, portPreservation: false });
    const odd = Array.from({ length: 64 }, (_, i) => off.udpOut(H1, 41001 + 2 * i, R1, 53).srcPort as number);
    assert.ok(
      odd.some((p) => p % 2 === 0),
      'without parity preservation, random allocation yields some even ports for odd inside ports',
    );
    off.close();
    const on = new Rig({ portParity: true, portPreservation: false });
    const odd2 = Array.from({ length: 64 }, (_, i) => on.udpOut(H1, 41001 + 2 * i, R1, 53).srcPort as number);
    assert.ok(
      odd2.every((p) => p % 2 === 1),
      'with parity preservation every odd inside port gets an odd port',
    );
    on.close();
  });

  it('RFC 7857 §9: external ports are randomised (RFC 6056), not sequential or repeatable', () => {
    const take = () => {
      const rig = new Rig({ portPreservation: false });
      const ports = Array.from(
        { length: 200 },
        (_, i) => rig.udpOut(H1, 20000 + i, R1, 53).srcPort as number,
      );
      rig.close();
      return ports;
    };
    const a = take();
    assert.equal(new Set(a).size, 200, 'distinct');
    let steps = 0;
    for (let i = 1; i < a.length; i++) if (a[i] - a[i - 1] === 1 || a[i] - a[i - 1] === 2) steps++;
    assert.ok(steps < 20, `${steps} of 199 allocations were the previous port + 1 or + 2`);
    assert.ok(Math.max(...a) - Math.min(...a) > 30000, 'spread over the range');
    const b = take();
    assert.notDeepEqual(a.slice(0, 20), b.slice(0, 20), 'a fresh NAT does not repeat the sequence');
    // With preservation, a port collision is resolved by a random (not the next) port.
    const rig = new Rig();
    const taken = rig.udpOut(H1, 30000, R1, 53).srcPort as number;
    assert.equal(taken, 30000, 'preserved when free');
    const others = [H2, '192.168.1.20', '192.168.1.21', '192.168.1.22'].map(
      (h) => rig.udpOut(h, 30000, R1, 53).srcPort as number,
    );
    assert.ok(
      others.filter((p) => Math.abs(p - 30000) <= 4).length < 2,
      `collisions resolved near 30000: ${others.join(', ')}`,
    );
    rig.close();
  });

  it('RFC 7857 §11: an ICMP query mapping goes away with its last session', () => {
    const rig = new Rig();
    const id = rig.fromInside(echo(H1, R1, 5)).out[0].icmpId as number;
    assert.equal(liveMappings(rig.nat, ICMP).length, 1);
    rig.advanceSec(61);
    assert.equal(liveMappings(rig.nat, ICMP).length, 0);
    assert.equal(rig.fromOutside(echo(R1, EXT, id, 1, true)).in.length, 0);
    rig.close();
  });

  it('RFC 7857 §12: ICMP is hairpinned (errors about hairpinned flows reach the other inside host)', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    rig.udpOut(H2, 6000, R1, 3478);
    const hp = rig.fromInside(udp(H2, 6000, EXT, x1)).in[0];
    const r = rig.fromInside(icmpError(H1, EXT, 3, 3, hp.bytes));
    assert.equal(r.in.length, 1);
    assert.equal(r.in[0].dst, H2);
    assert.deepEqual([r.in[0].inner?.src, r.in[0].inner?.srcPort], [H2, 6000]);
    rig.close();
  });
});
