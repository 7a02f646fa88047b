/** External port allocation: preservation, range, parity, quarantine and exhaustion. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXT, echo, H1, H2, H3, liveMappings, R1, R2, Rig, SYN, tcp, UDP, udp } from './helpers.js';

describe('ports', () => {
  it('the inside port is preserved when it is free', () => {
    const rig = new Rig();
    assert.equal(rig.udpOut(H1, 40000, R1, 53).srcPort, 40000);
    assert.equal(rig.fromInside(tcp(H1, 40001, R1, 80, SYN)).out[0].srcPort, 40001);
    const second = rig.udpOut(H2, 40000, R1, 53).srcPort as number;
    assert.notEqual(second, 40000, 'taken: another port');
    assert.ok(second >= 1024);
    rig.close();
  });

  it('without port preservation a port below 1024 still maps below 1024 (RFC 4787 REQ-3a)', () => {
    const rig = new Rig({ portPreservation: false });
    for (const [i, p] of [123, 500, 1023, 53, 1].entries()) {
      const x = rig.udpOut(i % 2 ? H1 : H2, p, R1, 123).srcPort as number;
      assert.ok(x >= 1 && x < 1024, `${p} -> ${x}`);
    }
    rig.close();
  });

  it('portPreservation: false picks ports from the configured range', () => {
    const rig = new Rig({ portPreservation: false, portRange: { udp: [50000, 50099] } });
    const ports = Array.from({ length: 40 }, (_, i) => rig.udpOut(H1, 40000 + i, R1, 53).srcPort as number);
    for (const p of ports) assert.ok(p >= 50000 && p <= 50099, `port ${p} outside 50000-50099`);
    assert.equal(new Set(ports).size, 40);
    rig.close();
  });

  it('a port outside the configured range is not preserved', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50099] } });
    const p = rig.udpOut(H1, 40000, R1, 53).srcPort as number;
    assert.ok(p >= 50000 && p <= 50099, `got ${p}`);
    rig.close();
  });

  it('parity is kept for every allocation when portParity is on', () => {
    const rig = new Rig({ portParity: true, portRange: { udp: [50000, 50199] } });
    for (let i = 0; i < 60; i++) {
      const inside = 30000 + i;
      const p = rig.udpOut(i % 3 === 0 ? H1 : i % 3 === 1 ? H2 : H3, inside, R1, 53).srcPort as number;
      assert.equal(p % 2, inside % 2, `inside ${inside} -> ${p}`);
    }
    rig.close();
  });

  it('a freed port stays in quarantine for 120 s before it is reused', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50001] }, portPreservation: false });
    const a = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(301);
    assert.equal(liveMappings(rig.nat, UDP).length, 0);
    // Two new flows: only the port that was never used is available.
    const b = rig.udpOut(H2, 5000, R1, 53).srcPort as number;
    assert.notEqual(b, a);
    assert.equal(rig.fromInside(udp(H3, 5000, R1, 53)).out.length, 0, 'the freed port is quarantined');
    rig.advanceSec(121);
    assert.equal(rig.udpOut(H3, 5000, R1, 53).srcPort, a, 'reusable after 120 s');
    rig.close();
  });

  it('exhaustion drops new flows with ICMP 3/13, counts them, and leaves existing flows working', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50003] }, portPreservation: false });
    const xs = [5000, 5001, 5002, 5003].map((p) => rig.udpOut(H1, p, R1, 53).srcPort as number);
    assert.equal(new Set(xs).size, 4);
    for (let i = 0; i < 3; i++) {
      const r = rig.fromInside(udp(H2, 6000 + i, R1, 53));
      assert.equal(r.out.length, 0);
      assert.equal(r.in.length, 1);
      assert.deepEqual([r.in[0].icmpType, r.in[0].icmpCode, r.in[0].dst], [3, 13, H2]);
    }
    assert.equal(rig.nat.stats.drops['ports-exhausted'], 3);
    xs.forEach((x, i) => {
      assert.equal(
        rig.udpOut(H1, 5000 + i, R2, 53).srcPort,
        x,
        'new session on an existing mapping still works',
      );
      assert.equal(rig.udpIn(R1, 53, x).length, 1);
    });
    // Other protocols have their own port space.
    assert.equal(rig.fromInside(tcp(H2, 6000, R1, 80, SYN)).out.length, 1);
    assert.equal(rig.fromInside(echo(H2, R1, 9)).out[0].src, EXT);
    rig.close();
  });

  it('port 0 is never handed out, even when the range starts at 0', () => {
    const rig = new Rig({ portRange: { udp: [0, 1] }, portPreservation: false });
    assert.equal(rig.udpOut(H1, 5000, R1, 53).srcPort, 1);
    const r = rig.fromInside(udp(H2, 5000, R1, 53));
    assert.equal(r.out.length, 0, 'port 0 is not an option');
    rig.close();
  });

  it('a bad port range is refused with ERR_BAD_PORT_RANGE', () => {
    for (const range of [
      [2000, 1000],
      [-1, 100],
      [1, 70000],
      [1.5, 100],
    ] as [number, number][]) {
      assert.throws(
        () => new Rig({ portRange: { udp: range } }),
        (e: unknown) => (e as { code?: string }).code === 'ERR_BAD_PORT_RANGE',
        `range ${range.join('-')}`,
      );
    }
  });
});
