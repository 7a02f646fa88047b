/** Hairpinning: inside hosts reaching each other through the external address (UDP, TCP, ICMP). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACK, EXT, echo, H1, H2, icmpError, R1, Rig, SYN, TCP, tcp, udp } from './helpers.js';

describe('hairpinning', () => {
  it('UDP hole punching through the NAT works between two inside hosts under APDF', () => {
    const rig = new Rig(); // EIM + APDF
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    const x2 = rig.udpOut(H2, 6000, R1, 3478).srcPort as number;
    // H1 punches towards H2's external endpoint: H2's filter has not been opened, so it is dropped,
    // but H1's own filter now admits H2's external endpoint.
    const first = rig.fromInside(udp(H1, 5000, EXT, x2, 'punch'));
    assert.equal(first.in.length, 0, 'filtered by H2s mapping');
    assert.equal(first.out.length, 0, 'never leaves on the outside');
    const second = rig.fromInside(udp(H2, 6000, EXT, x1, 'hello'));
    assert.equal(second.in.length, 1);
    const p = second.in[0];
    assert.deepEqual([p.src, p.srcPort, p.dst, p.dstPort], [EXT, x2, H1, 5000]);
    assert.equal(p.ttl, 63, 'one router hop: TTL decremented once');
    const third = rig.fromInside(udp(H1, 5000, EXT, x2, 'hi'));
    assert.equal(third.in.length, 1, 'now both directions pass');
    assert.deepEqual([third.in[0].src, third.in[0].srcPort, third.in[0].dst], [EXT, x1, H2]);
    assert.ok(rig.nat.stats.hairpinned >= 2);
    rig.close();
  });

  it('a hairpinned UDP flow from a host without a mapping creates one and uses it as source', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    const r = rig.fromInside(udp(H2, 6000, EXT, x1, 'first'));
    assert.equal(r.in.length, 1);
    const src = r.in[0].srcPort as number;
    // The port H1 saw is H2's external port: a packet from H2 to R1 uses it too.
    assert.equal(rig.udpOut(H2, 6000, R1, 9).srcPort, src);
    rig.close();
  });

  it('TCP hairpinning through a port forward shows the client external endpoint', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: TCP, outsidePort: 2222, insideIp: H1, insidePort: 22 });
    const syn = rig.fromInside(tcp(H2, 50000, EXT, 2222, SYN, 1));
    assert.equal(syn.in.length, 1);
    const x2 = syn.in[0].srcPort as number;
    assert.deepEqual([syn.in[0].src, syn.in[0].dst, syn.in[0].dstPort], [EXT, H1, 22]);
    const sa = rig.fromInside(tcp(H1, 22, EXT, x2, SYN | ACK, 100, 2));
    assert.deepEqual(
      [sa.in[0].src, sa.in[0].srcPort, sa.in[0].dst, sa.in[0].dstPort],
      [EXT, 2222, H2, 50000],
    );
    const ack = rig.fromInside(tcp(H2, 50000, EXT, 2222, ACK, 2, 101, 'ssh'));
    assert.equal(ack.in.length, 1);
    assert.equal(ack.in[0].dst, H1);
    rig.close();
  });

  it('ICMP echo to the external address from inside is answered with the original identifier', () => {
    const rig = new Rig();
    const r = rig.fromInside(echo(H1, EXT, 0x1111, 4));
    assert.equal(r.in.length, 1);
    assert.deepEqual(
      [r.in[0].src, r.in[0].dst, r.in[0].icmpType, r.in[0].icmpId, r.in[0].icmpSeq],
      [EXT, H1, 0, 0x1111, 4],
    );
    rig.close();
  });

  it('ICMP errors about a hairpinned TCP flow go back to the other inside host', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: TCP, outsidePort: 2222, insideIp: H1, insidePort: 22 });
    const syn = rig.fromInside(tcp(H2, 50000, EXT, 2222, SYN, 1)).in[0];
    const r = rig.fromInside(icmpError(H1, EXT, 3, 3, syn.bytes));
    assert.equal(r.in.length, 1);
    const e = r.in[0];
    assert.deepEqual([e.src, e.dst, e.icmpType, e.icmpCode], [EXT, H2, 3, 3]);
    assert.deepEqual(
      [e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort],
      [H2, 50000, EXT, 2222],
    );
    rig.close();
  });

  it('with hairpinning off, packets to the external address from inside are dropped and counted', () => {
    const rig = new Rig({ hairpinning: false, filtering: 'endpoint-independent' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    const r = rig.fromInside(udp(H2, 6000, EXT, x1));
    assert.equal(r.all.length, 0);
    assert.equal(rig.nat.stats.drops['no-hairpin'], 1);
    rig.close();
  });

  it('a hairpinned packet to an external port nobody holds is dropped', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    const r = rig.fromInside(udp(H2, 6000, EXT, 61000));
    assert.equal(r.all.length, 0);
    rig.close();
  });

  it('hairpinning works across the addresses of an outside pool', () => {
    const pool = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
    const rig = new Rig({ outsidePool: pool, filtering: 'endpoint-independent' });
    const hosts = Array.from({ length: 8 }, (_, i) => `192.168.1.${20 + i}`);
    const maps = hosts.map((h) => rig.udpOut(h, 5000, R1, 53));
    const j = maps.findIndex((m) => m.src !== maps[0].src);
    assert.ok(j > 0, 'two hosts on different pool addresses');
    const r = rig.fromInside(udp(hosts[j], 5000, maps[0].src, maps[0].srcPort as number, 'across'));
    assert.equal(r.in.length, 1);
    assert.deepEqual(
      [r.in[0].src, r.in[0].srcPort, r.in[0].dst, r.in[0].dstPort],
      [maps[j].src, maps[j].srcPort, hosts[0], 5000],
      'source is the sender’s own paired address and port',
    );
    rig.close();
  });
});
