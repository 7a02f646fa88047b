/** Tenants (nat.connectL3): overlapping inside addresses kept apart, quotas, cleanup. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXT, H1, liveMappings, R1, R2, Rig, SYN, TCP, tcp, UDP, udp } from './helpers.js';

describe('tenants', () => {
  it('two tenants with the same inside address and port get different external ports', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    assert.notEqual(rig.tenantId('a'), rig.tenantId('b'));
    assert.notEqual(rig.tenantId('a'), 0, 'tenant 0 is nat.inside()');
    const xa = rig.fromTenant('a', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const xb = rig.fromTenant('b', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const x0 = rig.fromInside(udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    assert.equal(new Set([xa, xb, x0]).size, 3);
    rig.close();
  });

  it('replies reach only their own tenant', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    const xa = rig.fromTenant('a', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const xb = rig.fromTenant('b', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const ra = rig.fromOutside(udp(R1, 53, EXT, xa, 'for-a'));
    assert.equal(ra.tenant('a').length, 1);
    assert.equal(ra.tenant('b').length + ra.in.length, 0, 'nobody else gets it');
    assert.equal(new TextDecoder().decode(ra.tenant('a')[0].payload), 'for-a');
    const rb = rig.fromOutside(udp(R1, 53, EXT, xb, 'for-b'));
    assert.equal(rb.tenant('b').length, 1);
    assert.equal(rb.tenant('a').length + rb.in.length, 0);
    rig.close();
  });

  it('TCP connections of two tenants with identical 4-tuples stay apart', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    const xa = rig.fromTenant('a', tcp(H1, 40000, R1, 443, SYN, 1)).out[0].srcPort as number;
    const xb = rig.fromTenant('b', tcp(H1, 40000, R1, 443, SYN, 1)).out[0].srcPort as number;
    assert.notEqual(xa, xb);
    const sa = rig.fromOutside(tcp(R1, 443, EXT, xb, SYN | 0x10, 9, 2));
    assert.equal(sa.tenant('b').length, 1);
    assert.equal(sa.tenant('a').length, 0);
    const recs = liveMappings(rig.nat, TCP);
    assert.deepEqual(recs.map((m) => m.tenant).sort(), [rig.tenantId('a'), rig.tenantId('b')].sort());
    rig.close();
  });

  it('cleanup removes every mapping of the tenant and frees its ports after the quarantine', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50003] }, portPreservation: false });
    rig.addTenant('a');
    rig.addTenant('b');
    const xs = [0, 1, 2, 3].map(
      (i) => rig.fromTenant('a', udp(H1, 5000 + i, R1, 53)).out[0].srcPort as number,
    );
    assert.equal(rig.fromTenant('b', udp(H1, 7000, R1, 53)).out.length, 0, 'all ports held by a');
    const removed: number[] = [];
    rig.nat.on('mapping-removed', (m) => removed.push(m.externalPort));
    rig.removeTenant('a');
    assert.equal(liveMappings(rig.nat).filter((m) => m.tenant !== rig.tenantId('b')).length, 0);
    assert.deepEqual([...new Set(removed)].sort(), [...xs].sort(), 'a removal event for every mapping');
    assert.equal(rig.fromOutside(udp(R1, 53, EXT, xs[0])).all.length, 0, 'replies to a are dropped');
    rig.advanceSec(121);
    const got = [0, 1, 2, 3].map((i) => rig.fromTenant('b', udp(H1, 7000 + i, R1, 53)).out[0]?.srcPort);
    assert.deepEqual([...got].sort(), [...xs].sort(), 'every port is free again');
    rig.close();
  });

  it('a tenant over its quota is refused (default reject) without disturbing others', () => {
    const rig = new Rig({ maxMappingsPerTenant: 2 });
    rig.addTenant('a');
    rig.addTenant('b');
    rig.fromTenant('a', udp(H1, 1, R1, 53));
    rig.fromTenant('a', udp(H1, 2, R1, 53));
    const r = rig.fromTenant('a', udp(H1, 3, R1, 53));
    assert.equal(r.out.length, 0);
    assert.deepEqual([r.tenant('a')[0]?.icmpType, r.tenant('a')[0]?.icmpCode], [3, 13]);
    assert.equal(r.tenant('b').length, 0);
    assert.equal(rig.nat.stats.drops['tenant-limit'], 1);
    assert.equal(rig.fromTenant('b', udp(H1, 1, R1, 53)).out.length, 1);
    assert.equal(rig.fromTenant('b', udp(H1, 2, R1, 53)).out.length, 1);
    assert.equal(liveMappings(rig.nat).filter((m) => m.tenant === rig.tenantId('a')).length, 2);
    rig.close();
  });

  it('evict-lru makes room by evicting the tenant’s least recently used mapping only', () => {
    const rig = new Rig({ maxMappingsPerTenant: 2, onTenantLimit: 'evict-lru' });
    rig.addTenant('a');
    rig.addTenant('b');
    const b1 = rig.fromTenant('b', udp(H1, 9, R1, 53)).out[0].srcPort as number;
    const a1 = rig.fromTenant('a', udp(H1, 1, R1, 53)).out[0].srcPort as number;
    rig.advance(1000);
    const a2 = rig.fromTenant('a', udp(H1, 2, R1, 53)).out[0].srcPort as number;
    rig.advance(1000);
    rig.fromTenant('a', udp(H1, 1, R2, 53)); // a1 is now the most recently used
    rig.advance(1000);
    const removed: number[] = [];
    rig.nat.on('mapping-removed', (m) => removed.push(m.externalPort));
    const r = rig.fromTenant('a', udp(H1, 3, R1, 53));
    assert.equal(r.out.length, 1, 'the new flow passes');
    assert.equal(rig.nat.stats.evictions, 1);
    assert.deepEqual([...new Set(removed)], [a2], 'a removal event for the evicted mapping');
    const aPorts = liveMappings(rig.nat)
      .filter((m) => m.tenant === rig.tenantId('a'))
      .map((m) => m.externalPort);
    assert.ok(aPorts.includes(a1), 'the recently used mapping survives');
    assert.ok(!aPorts.includes(a2), 'the least recently used one is evicted');
    assert.equal(
      rig.fromOutside(udp(R1, 53, EXT, b1)).tenant('b').length,
      1,
      'the other tenant is untouched',
    );
    rig.close();
  });

  it('port forwards are tenant-aware', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    rig.nat.addPortForward({
      proto: UDP,
      outsidePort: 6000,
      insideIp: H1,
      insidePort: 53,
      tenant: rig.tenantId('b'),
    });
    rig.nat.addPortForward({
      proto: TCP,
      outsidePort: 8080,
      insideIp: H1,
      insidePort: 80,
      tenant: rig.tenantId('a'),
    });
    const u = rig.fromOutside(udp(R1, 999, EXT, 6000));
    assert.equal(u.tenant('b').length, 1);
    assert.equal(u.tenant('a').length + u.in.length, 0);
    const t = rig.fromOutside(tcp(R1, 999, EXT, 8080, SYN, 1));
    assert.equal(t.tenant('a').length, 1);
    assert.equal(t.tenant('b').length + t.in.length, 0);
    // The reply from b's server leaves from the forwarded port.
    const rep = rig.fromTenant('b', udp(H1, 53, R1, 999));
    assert.deepEqual([rep.out[0].src, rep.out[0].srcPort], [EXT, 6000]);
    const fw = rig.nat.listPortForwards().find((f) => f.outsidePort === 6000);
    assert.equal(fw?.tenant, rig.tenantId('b'));
    rig.close();
  });

  it('expectations are tenant-aware', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    const e = rig.nat.addExpectation({
      proto: UDP,
      insideIp: H1,
      insidePort: 7000,
      tenant: rig.tenantId('b'),
      remoteIp: R1,
    });
    assert.equal(e.tenant, rig.tenantId('b'));
    const r = rig.fromOutside(udp(R1, 1234, e.externalIp, e.externalPort));
    assert.equal(r.tenant('b').length, 1);
    assert.equal(r.tenant('b')[0].dstPort, 7000);
    assert.equal(r.tenant('a').length + r.in.length, 0);
    rig.close();
  });

  it('cleanup removes the tenant’s forwards and expectations too', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.nat.addPortForward({
      proto: UDP,
      outsidePort: 6000,
      insideIp: H1,
      insidePort: 53,
      tenant: rig.tenantId('a'),
    });
    const e = rig.nat.addExpectation({
      proto: UDP,
      insideIp: H1,
      insidePort: 7000,
      tenant: rig.tenantId('a'),
    });
    rig.removeTenant('a');
    assert.equal(rig.nat.listPortForwards().length, 0);
    assert.equal(rig.fromOutside(udp(R1, 1, EXT, 6000)).all.length, 0);
    assert.equal(rig.fromOutside(udp(R1, 1, EXT, e.externalPort)).all.length, 0);
    rig.close();
  });

  it('sendInside delivers a packet to the given tenant untranslated', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    const pkt = udp(R2, 1, H1, 2, 'direct');
    const r = rig.step(() => rig.nat.sendInside(pkt.slice(), rig.tenantId('b')));
    assert.equal(r.tenant('b').length, 1);
    assert.deepEqual([...r.tenant('b')[0].bytes], [...pkt]);
    assert.equal(r.tenant('a').length + r.in.length, 0);
    rig.close();
  });

  it('a tenant can hairpin to another tenant with the same inside address, and sees its external endpoint', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    rig.addTenant('a');
    rig.addTenant('b');
    const xa = rig.fromTenant('a', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const xb = rig.fromTenant('b', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const r = rig.fromTenant('b', udp(H1, 5000, EXT, xa, 'b-to-a'));
    assert.equal(r.tenant('a').length, 1);
    assert.equal(r.tenant('b').length + r.in.length + r.out.length, 0);
    const p = r.tenant('a')[0];
    assert.deepEqual([p.src, p.srcPort, p.dst, p.dstPort], [EXT, xb, H1, 5000]);
    rig.close();
  });

  it('the quota error to a tenant comes from the NAT’s inside address', () => {
    const rig = new Rig({ maxMappingsPerTenant: 1 });
    rig.addTenant('a');
    rig.fromTenant('a', udp(H1, 1, R1, 53));
    const e = rig.fromTenant('a', udp(H1, 2, R1, 53)).tenant('a')[0];
    assert.deepEqual([e.src, e.dst, e.icmpType, e.icmpCode], ['192.168.1.1', H1, 3, 13]);
    assert.deepEqual([e.inner?.src, e.inner?.srcPort, e.inner?.dst, e.inner?.dstPort], [H1, 2, R1, 53]);
    rig.close();
  });

  it('the global table limit always rejects, even with evict-lru, and never evicts another tenant', () => {
    const rig = new Rig({ maxMappings: 3, maxMappingsPerTenant: 10, onTenantLimit: 'evict-lru' });
    rig.addTenant('a');
    rig.addTenant('b');
    const xb = rig.fromTenant('b', udp(H1, 1, R1, 53)).out[0].srcPort as number;
    rig.fromTenant('a', udp(H1, 1, R1, 53));
    rig.fromTenant('a', udp(H1, 2, R1, 53));
    const r = rig.fromTenant('a', udp(H1, 3, R1, 53));
    assert.equal(r.out.length, 0);
    assert.deepEqual([r.tenant('a')[0]?.icmpType, r.tenant('a')[0]?.icmpCode], [3, 13]);
    assert.equal(rig.nat.stats.drops['table-full'], 1);
    assert.equal(rig.nat.stats.evictions, 0);
    assert.equal(rig.fromOutside(udp(R1, 53, EXT, xb)).tenant('b').length, 1, 'b untouched');
    rig.close();
  });

  it('after cleanup the tenant’s forwarded and expected ports can be used by others', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50001] }, portPreservation: false });
    rig.addTenant('a');
    rig.addTenant('b');
    rig.nat.addPortForward({
      proto: UDP,
      outsidePort: 6000,
      insideIp: H1,
      insidePort: 53,
      tenant: rig.tenantId('a'),
    });
    const e = rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 69, tenant: rig.tenantId('a') });
    rig.removeTenant('a');
    const f = rig.nat.addPortForward({
      proto: UDP,
      outsidePort: 6000,
      insideIp: H1,
      insidePort: 53,
      tenant: rig.tenantId('b'),
    });
    assert.equal(f.tenant, rig.tenantId('b'));
    rig.advanceSec(121);
    const ports = [1, 2].map((i) => rig.fromTenant('b', udp(H1, i, R1, 53)).out[0]?.srcPort);
    assert.ok(
      ports.includes(e.externalPort),
      `the expectation's port ${e.externalPort} is free again (${ports.join(', ')})`,
    );
    rig.close();
  });
});
