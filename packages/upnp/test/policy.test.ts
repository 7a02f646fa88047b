import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, ManualScheduler } from '@l3kit/core';
import { type MappingRequest, PortMappingTable } from '../src/policy.js';
import { FakeNatHost } from './fake-host.js';

function setup(policy = {}, withScheduler = false) {
  const host = new FakeNatHost();
  const scheduler = withScheduler ? new ManualScheduler(host.clock) : undefined;
  const table = new PortMappingTable({ policy, scheduler });
  table.bind(host);
  return { host, table, scheduler };
}

function req(over: Partial<MappingRequest> = {}): MappingRequest {
  return {
    tenant: 0,
    client: '192.168.1.10',
    proto: 6,
    externalPort: 8080,
    internalIp: '192.168.1.10',
    internalPort: 8080,
    leaseMs: 3_600_000,
    origin: 'upnp',
    ...over,
  };
}

describe('PortMappingTable', () => {
  it('creates a NAT forward with origin, description and lease for a granted mapping', () => {
    const { host, table } = setup();
    const r = table.add(req({ description: 'game' }));
    assert.ok(r.ok);
    assert.equal(r.mapping.externalPort, 8080);
    assert.equal(r.mapping.externalIp, '203.0.113.1');
    const f = host.listPortForwards();
    assert.equal(f.length, 1);
    assert.equal(f[0].origin, 'upnp');
    assert.equal(f[0].description, 'game');
    assert.equal(f[0].insideIp, '192.168.1.10');
    assert.equal(f[0].expiresInMs, 3_600_000);
  });

  it('refuses in secure mode a mapping to another address and allows it when secure mode is off', () => {
    const a = setup();
    const r = a.table.add(req({ internalIp: '192.168.1.11' }));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'not-authorized');
    assert.equal(a.host.listPortForwards().length, 0);
    const b = setup({ secureMode: false });
    assert.ok(b.table.add(req({ internalIp: '192.168.1.11' })).ok);
  });

  it('refreshes the own mapping of a port and refuses the port to another client', () => {
    const { host, table } = setup();
    assert.ok(table.add(req()).ok);
    host.clock.advance(1000);
    const again = table.add(req({ leaseMs: 7_200_000, description: 'again' }));
    assert.ok(again.ok && again.renewed);
    assert.equal(host.listPortForwards()[0].expiresInMs, 7_200_000);
    assert.equal(host.listPortForwards()[0].description, 'again');
    const other = table.add(req({ client: '192.168.1.20', internalIp: '192.168.1.20' }));
    assert.equal(!other.ok && other.code, 'conflict');
    assert.equal(table.size, 1);
  });

  it('reports a port held by another NAT mechanism as conflict-other and picks another one for any-port requests', () => {
    const { host, table } = setup({}, false);
    host.busy.add('6/8080');
    const exact = table.add(req());
    assert.equal(!exact.ok && exact.code, 'conflict-other');
    let n = 0;
    const t2 = new PortMappingTable({ random: () => (n++ * 0.1) % 1 });
    t2.bind(host);
    const any = t2.add(req({ portChoice: 'any' }));
    assert.ok(any.ok);
    assert.notEqual(any.mapping.externalPort, 8080);
    assert.ok(any.mapping.externalPort >= 1024);
  });

  it('keeps external and internal ports inside the allowed ranges', () => {
    const { table } = setup({
      externalPorts: [{ from: 20000, to: 20010 }],
      internalPorts: [{ from: 8000, to: 9000 }],
    });
    assert.equal((table.add(req()) as { code: string }).code, 'port-not-allowed');
    assert.equal(
      (table.add(req({ externalPort: 20005, internalPort: 7000 })) as { code: string }).code,
      'port-not-allowed',
    );
    assert.ok(table.add(req({ externalPort: 20005 })).ok);
    const any = table.add(req({ externalPort: 0, internalPort: 8081, portChoice: 'any' }));
    assert.ok(any.ok);
    assert.ok(any.mapping.externalPort >= 20000 && any.mapping.externalPort <= 20010);
  });

  it('enforces the per-client, per-tenant and total limits without evicting anything', () => {
    const { host, table } = setup({ maxPerClient: 2, maxPerTenant: 3, maxMappings: 4 });
    host.addTenant(1);
    assert.ok(table.add(req({ externalPort: 2000 })).ok);
    assert.ok(table.add(req({ externalPort: 2001 })).ok);
    assert.equal((table.add(req({ externalPort: 2002 })) as { code: string }).code, 'quota-exceeded');
    const c2 = { client: '192.168.1.20', internalIp: '192.168.1.20' };
    assert.ok(table.add(req({ ...c2, externalPort: 2003 })).ok);
    assert.equal((table.add(req({ ...c2, externalPort: 2004 })) as { code: string }).code, 'quota-exceeded');
    assert.ok(table.add(req({ ...c2, tenant: 1, externalPort: 2004 })).ok);
    assert.equal(
      (table.add(req({ ...c2, tenant: 1, externalPort: 2005 })) as { code: string }).code,
      'no-resources',
    );
    assert.equal(table.size, 4);
    assert.equal(host.listPortForwards().length, 4);
  });

  it('clamps leases to the policy bounds and grants the maximum for a permanent request unless allowed', () => {
    const { table } = setup({ minLeaseMs: 60_000, maxLeaseMs: 600_000 });
    assert.equal(
      (table.add(req({ externalPort: 3000, leaseMs: 1 })) as { mapping: { leaseMs: number } }).mapping
        .leaseMs,
      60_000,
    );
    assert.equal(
      (table.add(req({ externalPort: 3001, leaseMs: 9e9 })) as { mapping: { leaseMs: number } }).mapping
        .leaseMs,
      600_000,
    );
    assert.equal(
      (table.add(req({ externalPort: 3002, leaseMs: 0 })) as { mapping: { leaseMs: number } }).mapping
        .leaseMs,
      600_000,
    );
    const p = setup({ allowPermanent: true });
    const perm = p.table.add(req({ leaseMs: 0 }));
    assert.ok(perm.ok);
    assert.equal(perm.mapping.expiresAt, Number.POSITIVE_INFINITY);
    assert.equal(p.host.listPortForwards()[0].expiresInMs, undefined);
  });

  it('expires leases on the clock and emits removed with reason expired', () => {
    const { host, table, scheduler } = setup({}, true);
    const removed: string[] = [];
    table.on('removed', (m, why) => removed.push(`${m.externalPort}:${why}`));
    assert.ok(table.add(req({ externalPort: 4000, leaseMs: 200_000 })).ok);
    assert.ok(table.add(req({ externalPort: 4001, leaseMs: 400_000 })).ok);
    (scheduler as ManualScheduler).advance(200_000);
    assert.deepEqual(removed, ['4000:expired']);
    assert.deepEqual(
      host.listPortForwards().map((f) => f.outsidePort),
      [4001],
    );
    (scheduler as ManualScheduler).advance(200_000);
    assert.deepEqual(removed, ['4000:expired', '4001:expired']);
    assert.equal(table.size, 0);
  });

  it('expires lazily on the next call when no scheduler is given', () => {
    const { host, table } = setup();
    assert.ok(table.add(req({ leaseMs: 200_000 })).ok);
    host.clock.advance(199_999);
    assert.equal(table.size, 1);
    host.clock.advance(1);
    assert.equal(table.size, 0);
  });

  it('isolates tenants: another tenant neither sees nor deletes a mapping', () => {
    const { host, table } = setup({ secureMode: false });
    host.addTenant(1, '203.0.113.1');
    assert.ok(table.add(req()).ok);
    assert.equal(table.list(1).length, 0);
    assert.equal(table.get(1, 6, 8080), undefined);
    assert.equal((table.remove({ tenant: 1 }, 6, 8080) as { code: string }).code, 'not-found');
    assert.equal(table.removeRange({ tenant: 1 }, 6, 1, 65535, true), 0);
    assert.equal(table.list(0).length, 1);
    // The shared external address: tenant 1 cannot take the port either.
    const t1 = table.add(req({ tenant: 1 }));
    assert.equal(!t1.ok && t1.code, 'conflict');
  });

  it('lets a client delete only its own mappings in secure mode', () => {
    const { host, table } = setup();
    assert.ok(table.add(req()).ok);
    const other = table.remove({ tenant: 0, client: '192.168.1.20' }, 6, 8080);
    assert.equal(!other.ok && other.code, 'not-authorized');
    assert.ok(table.remove({ tenant: 0, client: '192.168.1.10' }, 6, 8080).ok);
    assert.equal(host.listPortForwards().length, 0);
  });

  it('deletes a range of the caller own mappings', () => {
    const { table } = setup();
    for (const p of [5000, 5001, 5002, 6000]) assert.ok(table.add(req({ externalPort: p })).ok);
    assert.ok(table.add(req({ externalPort: 5003, client: '192.168.1.20', internalIp: '192.168.1.20' })).ok);
    assert.equal(table.removeRange({ tenant: 0, client: '192.168.1.10' }, 6, 5000, 5999, true), 3);
    assert.deepEqual(
      table.list(0).map((m) => m.externalPort),
      [6000, 5003],
    );
  });

  it('never removes a forward that is not its own', () => {
    const { host, table } = setup({}, true);
    assert.ok(table.add(req({ leaseMs: 200_000 })).ok);
    host.clock.advance(200_000); // the NAT expired its forward first…
    host.listPortForwards();
    host.addPortForward({ proto: 6, outsidePort: 8080, insideIp: '192.168.1.50', insidePort: 80 }); // …someone took the port
    table.expireDue();
    assert.equal(host.listPortForwards().length, 1);
    assert.equal(host.listPortForwards()[0].origin, 'static');
  });

  it('refuses malformed requests with invalid and never throws', () => {
    const { table } = setup();
    const bad: Partial<MappingRequest>[] = [
      { proto: 1 },
      { internalPort: 0 },
      { internalPort: 70000 },
      { externalPort: -1 },
      { internalIp: 'x' },
      { client: '' },
      { leaseMs: -5 },
      { leaseMs: Number.NaN },
    ];
    for (const b of bad) {
      const r = table.add(req(b));
      assert.equal(!r.ok && r.code, 'invalid', JSON.stringify(b));
    }
    assert.equal(table.size, 0);
  });

  it('removes every mapping of a removed tenant and of a detached table', () => {
    const { host, table } = setup({ secureMode: false });
    host.addTenant(1);
    assert.ok(table.add(req({ tenant: 1 })).ok);
    assert.ok(table.add(req({ externalPort: 9000 })).ok);
    assert.equal(table.removeTenant(1), 1);
    assert.equal(table.size, 1);
    table.unbind();
    assert.equal(host.listPortForwards().length, 0);
    assert.equal(table.bound, false);
  });

  it('throws typed errors for a bad policy or a second NAT', () => {
    assert.throws(
      () => new PortMappingTable({ policy: { maxPerClient: 0 } }),
      (e: ConfigError) => e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new PortMappingTable({ policy: { externalPorts: [{ from: 10, to: 5 }] } }),
      (e: ConfigError) => e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(() => new PortMappingTable({ policy: { minLeaseMs: 10, maxLeaseMs: 5 } }), ConfigError);
    const { table } = setup();
    assert.throws(
      () => table.bind(new FakeNatHost()),
      (e: ConfigError) => e.code === 'ERR_TABLE_IN_USE',
    );
  });

  it('refuses leased requests when only permanent leases are configured and requires same ports when told', () => {
    const { table } = setup({ allowPermanent: true, permanentOnly: true, samePorts: true });
    assert.equal((table.add(req()) as { code: string }).code, 'only-permanent-leases');
    assert.equal(
      (table.add(req({ leaseMs: 0, externalPort: 8081 })) as { code: string }).code,
      'same-port-required',
    );
    assert.ok(table.add(req({ leaseMs: 0 })).ok);
  });

  it('keeps a disabled mapping without a forward and forwards once enabled', () => {
    const { host, table } = setup();
    assert.ok(table.add(req({ enabled: false })).ok);
    assert.equal(host.listPortForwards().length, 0);
    assert.equal(table.size, 1);
    assert.ok(table.add(req({ enabled: true })).ok);
    assert.equal(host.listPortForwards().length, 1);
  });
});
