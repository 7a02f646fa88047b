/** RFC 6888 (common requirements for carrier-grade NATs); a tenant is a subscriber. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXT, H1, H2, liveMappings, probe, R1, R2, Rig, UDP, udp } from './helpers.js';

describe('RFC 6888 (CGN)', () => {
  it('RFC 6888 REQ-2: address pooling is paired by default', () => {
    const pool = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'];
    const rig = new Rig({ outsidePool: pool });
    rig.addTenant('a');
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++)
      seen.add(rig.fromTenant('a', udp(H1, 10000 + i, i % 2 ? R1 : R2, 53)).out[0].src);
    assert.equal(seen.size, 1, `subscriber used ${[...seen].join(', ')}`);
    rig.close();
  });

  it('RFC 6888 REQ-3: a non-contiguous external pool works (every address carries traffic both ways)', () => {
    const pool = ['203.0.113.1', '198.18.7.9', '192.0.2.200'];
    const rig = new Rig({ outsidePool: pool });
    const used = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const host = `192.168.1.${20 + i}`;
      const o = rig.udpOut(host, 5000, R1, 53);
      assert.ok(pool.includes(o.src));
      used.add(o.src);
      const back = rig.fromOutside(udp(R1, 53, o.src, o.srcPort as number));
      assert.equal(back.in.length, 1, `reply via ${o.src}`);
      assert.equal(back.in[0].dst, host);
    }
    assert.ok(used.size >= 2, `hosts spread over the pool (${[...used].join(', ')})`);
    rig.close();
  });

  it('RFC 6888 REQ-4: the number of external ports per subscriber is limited and configurable', () => {
    const rig = new Rig({ maxMappingsPerTenant: 3 });
    rig.addTenant('a');
    rig.addTenant('b');
    const ports = [0, 1, 2].map(
      (i) => rig.fromTenant('a', udp(H1, 5000 + i, R1, 53)).out[0].srcPort as number,
    );
    const r = rig.fromTenant('a', udp(H1, 5003, R1, 53));
    assert.equal(r.out.length, 0, 'the fourth mapping is refused');
    assert.equal(r.tenant('a').length, 1, 'with an ICMP error to the subscriber');
    assert.deepEqual([r.tenant('a')[0].icmpType, r.tenant('a')[0].icmpCode], [3, 13]);
    assert.ok(rig.nat.stats.drops['tenant-limit'] >= 1);
    // Another subscriber is not affected; more sessions on an existing mapping are not new ports.
    assert.equal(rig.fromTenant('b', udp(H1, 5003, R1, 53)).out.length, 1);
    assert.equal(rig.fromTenant('a', udp(H1, 5000, R2, 53)).out[0].srcPort, ports[0]);
    rig.close();
  });

  it('RFC 6888 REQ-7: endpoint-independent filtering can be configured', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    assert.equal(probe(rig).filtering, 'endpoint-independent');
    rig.close();
  });

  it('RFC 6888 REQ-8: a freed external port is not reused for 120 s', () => {
    const rig = new Rig({ portRange: { udp: [40000, 40000] }, timeouts: { udp: 120_000 } });
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    assert.equal(x, 40000);
    rig.advanceSec(121);
    assert.equal(liveMappings(rig.nat, UDP).length, 0, 'expired');
    const early = rig.fromInside(udp(H2, 6000, R1, 53));
    assert.equal(early.out.length, 0, 'the only port is in quarantine');
    rig.advanceSec(118);
    assert.equal(rig.fromInside(udp(H2, 6000, R1, 53)).out.length, 0, 'still in quarantine after 119 s');
    rig.advanceSec(7);
    const late = rig.fromInside(udp(H2, 6000, R1, 53));
    assert.equal(late.out.length, 1, 'reusable after 120 s');
    assert.equal(late.out[0].srcPort, 40000);
    rig.close();
  });

  it('RFC 6888 REQ-11: when a mapping cannot be created the packet is dropped with ICMP 3/13 and no existing mapping is evicted', () => {
    const rig = new Rig({ maxMappings: 4 });
    const xs = [0, 1, 2, 3].map((i) => rig.udpOut(H1, 5000 + i, R1, 53).srcPort as number);
    const r = rig.fromInside(udp(H2, 6000, R1, 53));
    assert.equal(r.out.length, 0, 'REQ-11a: dropped');
    assert.equal(r.in.length, 1, 'REQ-11b: an ICMP error goes back');
    assert.deepEqual([r.in[0].icmpType, r.in[0].icmpCode, r.in[0].dst], [3, 13, H2]);
    assert.ok(rig.nat.stats.drops['table-full'] >= 1, 'counted');
    assert.equal(liveMappings(rig.nat, UDP).length, 4, 'REQ-11d: nothing evicted');
    xs.forEach((x, i) => {
      const back = rig.udpIn(R1, 53, x);
      assert.equal(back.length, 1);
      assert.equal(back[0].dstPort, 5000 + i);
    });
    assert.equal(rig.fromInside(udp(H1, 5000, R1, 53)).out[0].src, EXT, 'existing flows continue');
    rig.close();
  });
});
