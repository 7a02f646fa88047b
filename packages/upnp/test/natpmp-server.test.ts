import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  emitNatPmpRequest,
  emitPcpRequest,
  type NatPmpResponseRepr,
  NatPmpResult,
  PcpResult,
  parseNatPmpResponse,
  parsePcpResponse,
} from '../src/pcp.js';
import { hexBytes, nonce, PcpRig } from './pcp-fake-host.js';

const H1 = '192.168.1.10';
const H2 = '192.168.1.11';

function ask(rig: PcpRig, req: Uint8Array, opts: Parameters<PcpRig['ask']>[1] = {}): NatPmpResponseRepr {
  const r = parseNatPmpResponse(rig.ask(req, { src: H1, ...opts }));
  assert.ok(r, 'a well-formed NAT-PMP response');
  return r;
}

function map(internalPort: number, lifetime = 7200, externalPort = 0, tcp = true): Uint8Array {
  return emitNatPmpRequest({ opcode: tcp ? 2 : 1, internalPort, externalPort, lifetime });
}

describe('PcpServer: NAT-PMP', () => {
  it('answers the external address request with the tenant’s address and the epoch', () => {
    const rig = new PcpRig({}, { tenants: [3] });
    rig.clock.advance(12_345);
    assert.deepEqual(ask(rig, hexBytes('00 00')), {
      opcode: 0,
      result: 0,
      epoch: 12,
      externalAddress: '203.0.113.1',
    });
    assert.equal(ask(rig, hexBytes('00 00'), { tenant: 3 }).externalAddress, '203.0.113.4');
  });

  it('answers NETWORK_FAILURE (3) when the tenant has no external address', () => {
    const rig = new PcpRig();
    assert.deepEqual(ask(rig, hexBytes('00 00'), { tenant: 9 }), {
      opcode: 0,
      result: NatPmpResult.NetworkFailure,
      epoch: 0,
      externalAddress: '0.0.0.0',
    });
    assert.equal(ask(rig, map(8080), { tenant: 9 }).result, NatPmpResult.NetworkFailure);
  });

  it('maps a TCP port: the internal port first, the granted lifetime, and a NAT forward with origin natpmp', () => {
    const rig = new PcpRig();
    const r = ask(rig, map(8080));
    assert.deepEqual(r, {
      opcode: 2,
      result: 0,
      epoch: 0,
      internalPort: 8080,
      externalPort: 8080,
      lifetime: 7200,
    });
    const f = rig.host.listPortForwards();
    assert.equal(f.length, 1);
    assert.equal(f[0].origin, 'natpmp');
    assert.equal(f[0].proto, 6);
    assert.equal(f[0].insideIp, H1);
    assert.equal(f[0].expiresInMs, 7_200_000);
  });

  it('maps a UDP port at a free suggested external port, and another one when it is taken', () => {
    const rig = new PcpRig();
    assert.equal(ask(rig, map(5000, 3600, 40000, false)).externalPort, 40000);
    const other = ask(rig, map(5000, 3600, 40000, false), { src: H2 });
    assert.equal(other.result, 0);
    assert.notEqual(other.externalPort, 40000);
    assert.equal(rig.host.listPortForwards().filter((f) => f.proto === 17).length, 2);
  });

  it('renews a mapping with the same external port and a fresh lifetime', () => {
    const rig = new PcpRig();
    const a = ask(rig, map(8080, 3600, 41000));
    rig.clock.advance(1_000_000);
    const b = ask(rig, map(8080, 7200, 42000));
    assert.equal(b.result, 0);
    assert.equal(b.externalPort, a.externalPort);
    assert.equal(b.lifetime, 7200);
    assert.equal(rig.host.listPortForwards().length, 1);
  });

  it('clamps lifetimes and expires the mapping on the clock', () => {
    const rig = new PcpRig({ minLifetime: 200, maxLifetime: 1000 });
    assert.equal(ask(rig, map(8080, 1)).lifetime, 200);
    assert.equal(ask(rig, map(8081, 1e9)).lifetime, 1000);
    rig.clock.advance(200_000);
    assert.deepEqual(
      rig.host.listPortForwards().map((f) => f.insidePort),
      [8081],
    );
    assert.equal(rig.server.table.size, 1);
  });

  it('deletes with lifetime 0: external port and lifetime 0 in the answer, the forward gone', () => {
    const rig = new PcpRig();
    ask(rig, map(8080));
    const r = ask(rig, map(8080, 0));
    assert.deepEqual(r, { opcode: 2, result: 0, epoch: 0, internalPort: 8080, externalPort: 0, lifetime: 0 });
    assert.equal(rig.host.listPortForwards().length, 0);
    assert.equal(ask(rig, map(8080, 0)).result, 0, 'deleting nothing succeeds');
  });

  it('deletes all of the client’s mappings of the protocol with internal port 0', () => {
    const rig = new PcpRig();
    ask(rig, map(8080));
    ask(rig, map(8081));
    ask(rig, map(8082, 7200, 0, false));
    ask(rig, map(8083), { src: H2 });
    assert.equal(ask(rig, map(0, 0)).result, 0);
    assert.deepEqual(
      rig.host
        .listPortForwards()
        .map((f) => `${f.proto}/${f.insidePort}`)
        .sort(),
      ['17/8082', '6/8083'],
    );
  });

  it('refuses to renew or delete a mapping made by PCP with NOT_AUTHORIZED (2)', () => {
    const rig = new PcpRig();
    const pcp = emitPcpRequest({
      opcode: 1,
      lifetime: 3600,
      clientAddress: H1,
      map: { nonce: nonce(1), protocol: 6, internalPort: 8080, externalPort: 0, externalAddress: '0.0.0.0' },
    });
    assert.equal(parsePcpResponse(rig.ask(pcp, { src: H1 }))?.result, PcpResult.Success);
    assert.equal(ask(rig, map(8080)).result, NatPmpResult.NotAuthorized);
    assert.equal(ask(rig, map(8080, 0)).result, NatPmpResult.NotAuthorized);
    assert.equal(rig.host.listPortForwards()[0].origin, 'pcp');
  });

  it('refuses an internal port outside the allowed range, and internal port 0 with a lifetime, with NOT_AUTHORIZED (2)', () => {
    const rig = new PcpRig();
    assert.equal(ask(rig, map(80)).result, NatPmpResult.NotAuthorized);
    assert.equal(ask(rig, map(0)).result, NatPmpResult.NotAuthorized);
    assert.equal(rig.host.listPortForwards().length, 0);
  });

  it('answers OUT_OF_RESOURCES (4) at the client quota and when the table is full', () => {
    const rig = new PcpRig({ policy: { maxPerClient: 1, maxMappings: 2 } });
    assert.equal(ask(rig, map(8080)).result, 0);
    assert.equal(ask(rig, map(8081)).result, NatPmpResult.OutOfResources);
    assert.equal(ask(rig, map(8081), { src: H2 }).result, 0);
    assert.equal(ask(rig, map(8082), { src: '192.168.1.12' }).result, NatPmpResult.OutOfResources);
  });

  it('answers an unsupported opcode with result 5 and the request returned', () => {
    const rig = new PcpRig();
    const raw = rig.ask(hexBytes('00 09 00 00 01 02 03 04'), { src: H1 });
    assert.deepEqual(raw, hexBytes('00 89 00 05 01 02 03 04'));
  });

  it('drops a truncated map request and a response without answering', () => {
    const rig = new PcpRig();
    assert.equal(rig.send(hexBytes('00 02 00 00 1f 90'), { src: H1 }).length, 0);
    assert.equal(rig.send(hexBytes('00 82 00 00'), { src: H1 }).length, 0);
    assert.equal(rig.host.listPortForwards().length, 0);
  });

  it('keeps tenants apart: each tenant gets its own external address and sees only its mappings', () => {
    const rig = new PcpRig({}, { tenants: [1] });
    assert.equal(ask(rig, map(8080)).result, 0);
    assert.equal(ask(rig, map(8080), { tenant: 1 }).result, 0);
    assert.equal(ask(rig, map(0, 0), { tenant: 1 }).result, 0);
    assert.equal(rig.server.table.list(0).length, 1, 'tenant 1 deleting everything leaves tenant 0 alone');
    assert.equal(rig.server.table.list(1).length, 0);
  });

  it('counts NAT-PMP requests and errors apart from PCP ones', () => {
    const rig = new PcpRig();
    ask(rig, hexBytes('00 00'));
    ask(rig, map(80));
    assert.equal(rig.server.stats.natPmpRequests, 2);
    assert.equal(rig.server.stats.pcpRequests, 0);
    assert.deepEqual(rig.server.stats.errors, { 'natpmp:NOT_AUTHORIZED': 1 });
  });
});
