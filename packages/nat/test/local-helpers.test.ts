/**
 * Local helpers (services of the NAT itself for its inside hosts: UPnP IGD, SSDP, PCP) and port
 * forwards with a lease.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError } from '@l3kit/core';
import type { ForwardRecord, NatLocalHelper, NatLocalHost } from '../src/index.js';
import { ACK, EXT, fixChecksums, H1, NAT_INSIDE, PSH, R1, Rig, TCP, tcp, UDP, udp } from './helpers.js';

const NAT_IP = NAT_INSIDE.split('/')[0];

class Recorder implements NatLocalHelper {
  readonly kind = 'local';
  readonly got: Array<{ tenant: number; dst: string; port: number }> = [];
  readonly removedTenants: number[] = [];
  host?: NatLocalHost;
  detached = 0;
  constructor(
    readonly name: string,
    readonly endpoints: NatLocalHelper['endpoints'],
    readonly tenants?: number[],
  ) {}
  attach(host: NatLocalHost): void {
    this.host = host;
  }
  detach(): void {
    this.detached++;
  }
  onLocalPacket(pkt: Uint8Array, tenant: number): void {
    const hl = (pkt[0] & 15) << 2;
    this.got.push({ tenant, dst: pkt.subarray(16, 20).join('.'), port: (pkt[hl + 2] << 8) | pkt[hl + 3] });
  }
  onTenantRemoved(tenant: number): void {
    this.removedTenants.push(tenant);
  }
}

const code = (c: string) => (e: unknown) => e instanceof L3kitError && e.code === c;

describe('local helpers', () => {
  it('get inside packets to the NAT’s address and their multicast group, per tenant, and can answer', () => {
    const rig = new Rig();
    const h = new Recorder('upnp', [
      { proto: UDP, port: 1900, group: '239.255.255.250' },
      { proto: TCP, port: 5000 },
    ]);
    rig.nat.addHelper(h);
    assert.equal(h.host?.insideAddress, NAT_IP);
    assert.equal(h.host?.insidePrefixLength, 24);
    assert.equal(h.host?.externalAddress(0, H1), EXT);
    rig.addTenant('t1', 7);
    rig.fromInside(udp(H1, 40000, '239.255.255.250', 1900, 'M-SEARCH * HTTP/1.1\r\n\r\n'));
    rig.fromTenant('t1', tcp(H1, 40001, NAT_IP, 5000, 'S'));
    assert.deepEqual(h.got, [
      { tenant: 0, dst: '239.255.255.250', port: 1900 },
      { tenant: 7, dst: NAT_IP, port: 5000 },
    ]);
    // The helper answers through sendInside: the reply reaches only that tenant.
    const r = rig.step(() => h.host?.sendInside(udp(NAT_IP, 1900, H1, 40000, 'HTTP/1.1 200 OK'), 7));
    assert.equal(r.tenant('t1').length, 1);
    assert.equal(r.in.length, 0);
    assert.deepEqual(h.host?.tenantIds(), [0, 7]);
    rig.removeTenant('t1');
    assert.deepEqual(h.removedTenants, [7]);
    rig.close();
    assert.equal(h.detached, 1, 'close() detaches local helpers');
  });

  it('are never reachable from the outside, and other ports of the NAT stay closed', () => {
    const rig = new Rig();
    const h = new Recorder('upnp', [{ proto: TCP, port: 5000 }]);
    rig.nat.addHelper(h);
    rig.fromOutside(tcp(R1, 4000, EXT, 5000, 'S'));
    rig.fromOutside(udp(R1, 4000, '239.255.255.250', 1900, 'M-SEARCH'));
    rig.fromInside(tcp(H1, 40001, NAT_IP, 5001, 'S'));
    assert.equal(h.got.length, 0);
    assert.equal(rig.nat.stats.drops['to-nat'], 1);
    rig.close();
  });

  it('drop packets with a bad checksum before the helper sees them, and respect `tenants`', () => {
    const rig = new Rig();
    const h = new Recorder('pcp', [{ proto: UDP, port: 5351 }], [3]);
    rig.nat.addHelper(h);
    const bad = udp(H1, 40000, NAT_IP, 5351, 'x');
    bad[bad.length - 1] ^= 0xff;
    rig.addTenant('t3', 3);
    rig.fromTenant('t3', bad);
    rig.fromInside(udp(H1, 40000, NAT_IP, 5351, 'x'));
    assert.equal(h.got.length, 0);
    assert.equal(rig.nat.stats.drops['bad-checksum'], 1);
    rig.fromTenant('t3', fixChecksums(bad));
    assert.equal(h.got.length, 1);
    rig.close();
  });

  it('are validated: bad endpoints, a taken endpoint or name throw typed errors; removal detaches', () => {
    const rig = new Rig();
    const bad = (eps: unknown) =>
      new Recorder('x', eps as NatLocalHelper['endpoints']) as unknown as NatLocalHelper;
    assert.throws(() => rig.nat.addHelper(bad([])), code('ERR_BAD_OPTION'));
    assert.throws(() => rig.nat.addHelper(bad([{ proto: 1, port: 5 }])), code('ERR_BAD_OPTION'));
    assert.throws(
      () => rig.nat.addHelper(bad([{ proto: UDP, port: 1900, group: '10.0.0.1' }])),
      code('ERR_BAD_OPTION'),
    );
    const a = new Recorder('a', [{ proto: UDP, port: 5351 }]);
    const remove = rig.nat.addHelper(a);
    assert.throws(
      () => rig.nat.addHelper(new Recorder('b', [{ proto: UDP, port: 5351 }])),
      code('ERR_HELPER_EXISTS'),
    );
    assert.throws(
      () => rig.nat.addHelper(new Recorder('a', [{ proto: UDP, port: 5352 }])),
      code('ERR_HELPER_EXISTS'),
    );
    remove();
    assert.equal(a.detached, 1);
    rig.fromInside(udp(H1, 40000, NAT_IP, 5351, 'x'));
    assert.equal(a.got.length, 0);
    rig.close();
  });
});

describe('port forwards with a lease', () => {
  it('carry their origin and time left, expire on time with an event, and renew without losing connections', () => {
    const rig = new Rig();
    const expired: ForwardRecord[] = [];
    rig.nat.on('forward-expired', (f) => expired.push(f));
    const rec = rig.nat.addPortForward({
      proto: TCP,
      outsidePort: 8080,
      insideIp: H1,
      insidePort: 80,
      origin: 'upnp',
      description: 'web',
      leaseMs: 60_000,
    });
    assert.equal(rec.origin, 'upnp');
    rig.advance(10_000);
    const listed = rig.nat.listPortForwards()[0];
    assert.equal(listed.expiresInMs, 50_000);
    assert.equal(listed.description, 'web');
    // A connection through the forward, then a renewal: the connection survives.
    const syn = rig.fromOutside(tcp(R1, 4000, EXT, 8080, 'S', 7000));
    assert.equal(syn.in.length, 1);
    rig.fromInside(tcp(H1, 80, R1, 4000, 'SA', 9000, 7001));
    const renewed = rig.nat.updatePortForward(TCP, 8080, { leaseMs: 120_000, description: 'web2' });
    assert.equal(renewed?.expiresInMs, 120_000);
    rig.advance(100_000);
    assert.equal(expired.length, 0, 'the old deadline passed but the lease was renewed');
    const data = rig.fromOutside(tcp(R1, 4000, EXT, 8080, PSH | ACK, 7001, 9001, 'GET /'));
    assert.equal(data.in.length, 1);
    rig.advance(21_000);
    assert.equal(expired.length, 1);
    assert.equal(expired[0].outsidePort, 8080);
    assert.equal(rig.nat.listPortForwards().length, 0);
    assert.equal(rig.fromOutside(tcp(R1, 4001, EXT, 8080, 'S')).in.length, 0, 'the port is closed');
    assert.equal(rig.nat.updatePortForward(TCP, 8080, { leaseMs: 1 }), undefined);
    rig.close();
  });

  it('keep their lease across a snapshot; permanent ones have no expiry; bad leases are refused', () => {
    const rig = new Rig();
    rig.nat.addPortForward({
      proto: UDP,
      outsidePort: 5000,
      insideIp: H1,
      insidePort: 5000,
      leaseMs: 30_000,
      origin: 'pcp',
    });
    rig.nat.addPortForward({ proto: TCP, outsidePort: 22, insideIp: H1, insidePort: 22 });
    assert.equal(rig.nat.listPortForwards().find((f) => f.outsidePort === 22)?.expiresInMs, undefined);
    assert.equal(rig.nat.listPortForwards().find((f) => f.outsidePort === 22)?.origin, 'static');
    assert.throws(
      () =>
        rig.nat.addPortForward({ proto: TCP, outsidePort: 23, insideIp: H1, insidePort: 23, leaseMs: -1 }),
      code('ERR_BAD_OPTION'),
    );
    rig.advance(10_000);
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap);
    const f = r2.nat.listPortForwards().find((x) => x.outsidePort === 5000);
    assert.equal(f?.expiresInMs, 20_000);
    assert.equal(f?.origin, 'pcp');
    r2.advance(20_001);
    assert.deepEqual(
      r2.nat.listPortForwards().map((x) => x.outsidePort),
      [22],
    );
    r2.close();
  });
});
