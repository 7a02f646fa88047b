import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError, ManualClock, ManualScheduler } from '@l3kit/core';
import fc from 'fast-check';
import {
  emitPcpRequest,
  PcpOpcode,
  type PcpOption,
  type PcpRequestInfo,
  type PcpResponseRepr,
  PcpResult,
  PcpServer,
  parseNatPmpResponse,
  parsePcpResponse,
} from '../src/pcp.js';
import { PortMappingTable } from '../src/policy.js';
import { decodeAnswer, hexBytes, nonce, PcpRig } from './pcp-fake-host.js';

const H1 = '192.168.1.10';
const H2 = '192.168.1.11';
const EXT = '203.0.113.1';

interface MapArgs {
  client?: string;
  lifetime?: number;
  seed?: number;
  protocol?: number;
  internalPort?: number;
  externalPort?: number;
  externalAddress?: string;
  options?: PcpOption[];
}

function mapData(a: MapArgs, protocol: number, internalPort: number) {
  return {
    nonce: nonce(a.seed ?? 1),
    protocol: a.protocol ?? protocol,
    internalPort: a.internalPort ?? internalPort,
    externalPort: a.externalPort ?? 0,
    externalAddress: a.externalAddress ?? '0.0.0.0',
  };
}

function mapReq(a: MapArgs = {}): Uint8Array {
  return emitPcpRequest({
    opcode: PcpOpcode.Map,
    lifetime: a.lifetime ?? 3600,
    clientAddress: a.client ?? H1,
    map: mapData(a, 6, 8080),
    options: a.options ?? [],
  });
}

function peerReq(a: MapArgs & { remote?: string; remotePort?: number } = {}): Uint8Array {
  return emitPcpRequest({
    opcode: PcpOpcode.Peer,
    lifetime: a.lifetime ?? 600,
    clientAddress: a.client ?? H1,
    peer: {
      ...mapData(a, 17, 5000),
      remotePeerAddress: a.remote ?? '198.51.100.7',
      remotePeerPort: a.remotePort ?? 3478,
    },
    options: a.options ?? [],
  });
}

function pcp(rig: PcpRig, req: Uint8Array, opts: Parameters<PcpRig['ask']>[1] = {}): PcpResponseRepr {
  const raw = rig.ask(req, { src: H1, ...opts });
  const r = parsePcpResponse(raw);
  assert.ok(r, 'a well-formed PCP response');
  return r;
}

function forwards(rig: PcpRig) {
  return rig.host.listPortForwards();
}

describe('PcpServer: announcements and epoch', () => {
  it('multicasts an unsolicited ANNOUNCE and a NAT-PMP address announcement to 224.0.0.1:5350 on attach', () => {
    const rig = new PcpRig();
    assert.equal(rig.startAnnouncements.length, 2);
    const [a, b] = rig.startAnnouncements;
    for (const x of [a, b]) {
      assert.equal(x.dst, '224.0.0.1');
      assert.equal(x.dstPort, 5350);
      assert.equal(x.ttl, 1);
    }
    assert.deepEqual(parsePcpResponse(a.payload), {
      version: 2,
      opcode: 0,
      result: 0,
      lifetime: 0,
      epoch: 0,
      options: [],
    });
    assert.deepEqual(parseNatPmpResponse(b.payload), {
      opcode: 0,
      result: 0,
      epoch: 0,
      externalAddress: EXT,
    });
  });

  it('announces to every tenant served, and only PCP when NAT-PMP is off', () => {
    const rig = new PcpRig({ natPmp: false, tenants: [0, 2] }, { tenants: [1, 2] });
    assert.equal(rig.startAnnouncements.length, 1);
    rig.server.resetEpoch();
    assert.equal(rig.host.take(0).length, 1);
    assert.equal(rig.host.take(1).length, 0, 'tenant 1 is not served');
    assert.equal(rig.host.take(2).length, 1);
  });

  it('announces the NAT-PMP address by unicast to each NAT-PMP client when an outside pool pairs them with different addresses', () => {
    const rig = new PcpRig();
    rig.host.paired.set('0/192.168.1.11', '203.0.113.9');
    const map = (src: string) =>
      parseNatPmpResponse(rig.ask(hexBytes('00 02 00 00 1f 90 00 00 00 00 0e 10'), { src }));
    assert.equal(map('192.168.1.10')?.result, 0);
    // One pool address for every NAT-PMP client so far: the multicast is right for all of them.
    rig.server.resetEpoch();
    assert.deepEqual(
      rig.host.take(0).map((p) => decodeAnswer(p).dst),
      ['224.0.0.1', '224.0.0.1'],
    );
    assert.equal(map('192.168.1.11')?.result, 0);
    rig.server.resetEpoch();
    const sent = rig.host.take(0).map((p) => decodeAnswer(p));
    assert.equal(sent.length, 3, 'the PCP ANNOUNCE multicast, then one NAT-PMP address per client');
    assert.equal(sent[0].dst, '224.0.0.1');
    const own = sent
      .slice(1)
      .map((a) => [a.dst, a.dstPort, a.ttl, parseNatPmpResponse(a.payload)?.externalAddress]);
    assert.deepEqual(own, [
      ['192.168.1.10', 5350, 64, EXT],
      ['192.168.1.11', 5350, 64, '203.0.113.9'],
    ]);
  });

  it('answers ANNOUNCE with SUCCESS, lifetime 0 and the seconds since the epoch began', () => {
    const rig = new PcpRig();
    rig.clock.advance(5_700);
    const r = pcp(rig, emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: H1 }));
    assert.equal(r.opcode, 0);
    assert.equal(r.result, PcpResult.Success);
    assert.equal(r.lifetime, 0);
    assert.equal(r.epoch, 5);
  });

  it('starts a new epoch on resetEpoch and announces it', () => {
    const rig = new PcpRig();
    rig.clock.advance(100_000);
    assert.equal(rig.server.epoch, 100);
    rig.server.resetEpoch();
    assert.equal(rig.server.epoch, 0);
    const sent = rig.host.take(0);
    assert.equal(sent.length, 2);
    rig.clock.advance(2_000);
    assert.equal(pcp(rig, emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: H1 })).epoch, 2);
  });

  it('repeats the announcement ten times, 250 ms doubling, with a scheduler, and stops on detach', () => {
    const clock = new ManualClock(0);
    const sched = new ManualScheduler(clock);
    const rig = new PcpRig({ scheduler: sched, natPmp: false }, { clock });
    const times: number[] = [0];
    for (let i = 0; i < 9; i++) {
      const at = sched.nextAt();
      assert.ok(at !== undefined);
      sched.advance(at - clock.now());
      assert.equal(rig.host.take(0).length, 1);
      times.push(clock.now());
    }
    assert.deepEqual(times, [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750, 127750]);
    assert.equal(sched.nextAt(), undefined);
    rig.server.resetEpoch();
    sched.advance(300);
    assert.equal(rig.host.take(0).length, 2, 'the immediate one and the 250 ms repeat');
    rig.server.resetEpoch();
    assert.equal(sched.pending, 9, 'a reset replaces the pending repeats');
    rig.server.detach();
    sched.advance(1_000_000);
    assert.equal(rig.host.take(0).length, 1, 'only the immediate one; detach cancelled the repeats');
  });
});

describe('PcpServer: MAP', () => {
  it('creates a mapping: SUCCESS, the external address and port, the lifetime, the nonce echoed, and a NAT forward with origin pcp', () => {
    const rig = new PcpRig();
    const r = pcp(rig, mapReq());
    assert.equal(r.result, PcpResult.Success);
    assert.equal(r.opcode, 1);
    assert.equal(r.lifetime, 3600);
    assert.deepEqual(r.map?.nonce, nonce(1));
    assert.equal(r.map?.protocol, 6);
    assert.equal(r.map?.internalPort, 8080);
    assert.equal(r.map?.externalAddress, EXT);
    assert.equal(r.map?.externalPort, 8080, 'the internal port is tried first');
    const f = forwards(rig);
    assert.equal(f.length, 1);
    assert.equal(f[0].origin, 'pcp');
    assert.equal(f[0].insideIp, H1);
    assert.equal(f[0].insidePort, 8080);
    assert.equal(f[0].outsidePort, 8080);
    assert.equal(f[0].expiresInMs, 3_600_000);
    assert.equal(rig.server.table.list(0)[0].nonce, '1f262d343b424950575e656c');
  });

  it('honours a free suggested external port', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, mapReq({ externalPort: 40000 })).map?.externalPort, 40000);
  });

  it('gives another port when the suggested one is taken, or CANNOT_PROVIDE_EXTERNAL with PREFER_FAILURE', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, mapReq({ client: H2, externalPort: 40000 }), { src: H2 }).map?.externalPort, 40000);
    const other = pcp(rig, mapReq({ externalPort: 40000 }));
    assert.equal(other.result, PcpResult.Success);
    assert.notEqual(other.map?.externalPort, 40000);
    const pf = pcp(rig, mapReq({ internalPort: 9000, externalPort: 40000, options: [{ code: 2 }] }));
    assert.equal(pf.result, PcpResult.CannotProvideExternal);
    assert.equal(pf.lifetime, 30, 'a short lifetime error');
    assert.equal(pf.map?.externalPort, 40000, 'an error response echoes the request');
    assert.equal(forwards(rig).length, 2);
  });

  it('treats a suggested external address as a hint unless PREFER_FAILURE', () => {
    const rig = new PcpRig();
    const hint = pcp(rig, mapReq({ externalAddress: '198.51.100.99' }));
    assert.equal(hint.result, PcpResult.Success);
    assert.equal(hint.map?.externalAddress, EXT);
    const strict = pcp(
      rig,
      mapReq({ internalPort: 9000, externalAddress: '198.51.100.99', options: [{ code: 2 }] }),
    );
    assert.equal(strict.result, PcpResult.CannotProvideExternal);
    const same = pcp(
      rig,
      mapReq({ internalPort: 9001, externalAddress: EXT, externalPort: 9001, options: [{ code: 2 }] }),
    );
    assert.equal(same.result, PcpResult.Success);
    assert.deepEqual(same.options, [{ code: 2 }], 'the processed PREFER_FAILURE is echoed');
  });

  it('refuses PREFER_FAILURE with a suggested port outside the allowed range with CANNOT_PROVIDE_EXTERNAL', () => {
    const rig = new PcpRig();
    const r = pcp(rig, mapReq({ externalPort: 80, options: [{ code: 2 }] }));
    assert.equal(r.result, PcpResult.CannotProvideExternal);
    const any = pcp(rig, mapReq({ externalPort: 80 }));
    assert.equal(any.result, PcpResult.Success);
    assert.ok((any.map?.externalPort ?? 0) >= 1024);
  });

  it('renews with the same nonce: same external port, fresh lease', () => {
    const rig = new PcpRig();
    const first = pcp(rig, mapReq({ externalPort: 40000 }));
    rig.clock.advance(3_000_000);
    const again = pcp(rig, mapReq({ externalPort: 41000, lifetime: 7200 }));
    assert.equal(again.result, PcpResult.Success);
    assert.equal(
      again.map?.externalPort,
      first.map?.externalPort,
      'the existing mapping wins over a new suggestion',
    );
    assert.equal(again.lifetime, 7200);
    assert.equal(forwards(rig).length, 1);
    assert.equal(forwards(rig)[0].expiresInMs, 7_200_000);
  });

  it('refuses a renewal or delete with another nonce with NOT_AUTHORIZED and the remaining lifetime, and keeps the mapping', () => {
    const rig = new PcpRig();
    pcp(rig, mapReq());
    rig.clock.advance(600_000);
    const renew = pcp(rig, mapReq({ seed: 2 }));
    assert.equal(renew.result, PcpResult.NotAuthorized);
    assert.equal(renew.lifetime, 3000);
    const del = pcp(rig, mapReq({ seed: 2, lifetime: 0 }));
    assert.equal(del.result, PcpResult.NotAuthorized);
    assert.equal(forwards(rig).length, 1);
  });

  it('refuses to take over a mapping of the same internal endpoint made by UPnP', () => {
    const table = new PortMappingTable();
    const rig = new PcpRig({ table });
    const up = table.add({
      tenant: 0,
      client: H1,
      proto: 6,
      externalPort: 8080,
      internalIp: H1,
      internalPort: 8080,
      leaseMs: 3_600_000,
      origin: 'upnp',
    });
    assert.ok(up.ok);
    assert.equal(pcp(rig, mapReq()).result, PcpResult.NotAuthorized);
    assert.equal(pcp(rig, mapReq({ lifetime: 0 })).result, PcpResult.NotAuthorized);
    assert.equal(forwards(rig)[0].origin, 'upnp');
  });

  it('deletes with lifetime 0: SUCCESS, lifetime 0, the forward gone; deleting nothing is a success too', () => {
    const rig = new PcpRig();
    pcp(rig, mapReq());
    const del = pcp(rig, mapReq({ lifetime: 0 }));
    assert.equal(del.result, PcpResult.Success);
    assert.equal(del.lifetime, 0);
    assert.equal(del.map?.externalPort, 8080);
    assert.equal(forwards(rig).length, 0);
    const none = pcp(rig, mapReq({ lifetime: 0 }));
    assert.equal(none.result, PcpResult.Success);
    assert.equal(none.lifetime, 0);
  });

  it('deletes all mappings of the client with the nonce for protocol 0, port 0 and lifetime 0', () => {
    const rig = new PcpRig();
    pcp(rig, mapReq({ internalPort: 8080 }));
    pcp(rig, mapReq({ internalPort: 8081, protocol: 17 }));
    pcp(rig, mapReq({ internalPort: 8082, seed: 9 }));
    const del = pcp(rig, mapReq({ protocol: 0, internalPort: 0, lifetime: 0 }));
    assert.equal(del.result, PcpResult.Success);
    assert.deepEqual(
      forwards(rig).map((f) => f.insidePort),
      [8082],
      'the mapping with another nonce stays',
    );
  });

  it('clamps the lifetime to the configured minimum and maximum', () => {
    const rig = new PcpRig({ minLifetime: 300, maxLifetime: 3600 });
    assert.equal(pcp(rig, mapReq({ lifetime: 5 })).lifetime, 300);
    assert.equal(pcp(rig, mapReq({ internalPort: 9000, lifetime: 999_999 })).lifetime, 3600);
    assert.equal(forwards(rig).find((f) => f.insidePort === 9000)?.expiresInMs, 3_600_000);
  });

  it('lets a lease run out on the clock: the forward and the mapping go, a later MAP starts afresh', () => {
    const rig = new PcpRig();
    const removed: string[] = [];
    rig.server.table.on('removed', (_m, why) => removed.push(why));
    pcp(rig, mapReq({ lifetime: 200 }));
    rig.clock.advance(199_000);
    assert.equal(forwards(rig).length, 1);
    rig.clock.advance(1_000);
    assert.equal(forwards(rig).length, 0, 'the NAT expired the forward');
    assert.equal(rig.server.table.size, 0);
    assert.deepEqual(removed, ['expired']);
    const again = pcp(rig, mapReq({ seed: 5, lifetime: 200 }));
    assert.equal(again.result, PcpResult.Success, 'an expired mapping no longer guards its nonce');
  });

  it('refuses THIRD_PARTY with NOT_AUTHORIZED unless allowed, and then only with secure mode off', () => {
    const third: PcpOption[] = [{ code: 1, address: H2 }];
    const off = new PcpRig();
    assert.equal(pcp(off, mapReq({ options: third })).result, PcpResult.NotAuthorized);
    const secure = new PcpRig({ allowThirdParty: true });
    assert.equal(pcp(secure, mapReq({ options: third })).result, PcpResult.NotAuthorized);
    const open = new PcpRig({ allowThirdParty: true, policy: { secureMode: false } });
    const r = pcp(open, mapReq({ options: third }));
    assert.equal(r.result, PcpResult.Success);
    assert.deepEqual(r.options, third, 'THIRD_PARTY is echoed');
    assert.equal(forwards(open)[0].insideIp, H2);
    assert.equal(
      pcp(open, mapReq({ options: [{ code: 1, address: '::' }], internalPort: 9 })).result,
      PcpResult.MalformedOption,
    );
  });

  it('lets a client map only its own address in secure mode', () => {
    const rig = new PcpRig();
    // The client field must match the source, so the only way to name another host is THIRD_PARTY.
    const r = pcp(rig, mapReq({ client: H2 }));
    assert.equal(r.result, PcpResult.AddressMismatch);
    assert.equal(forwards(rig).length, 0);
  });

  it('answers ADDRESS_MISMATCH when the client address field is not the packet source', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, mapReq({ client: '10.9.9.9' })).result, PcpResult.AddressMismatch);
    assert.equal(pcp(rig, mapReq({ client: '2001:db8::1' })).result, PcpResult.AddressMismatch);
    const a = pcp(rig, emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: '10.9.9.9' }));
    assert.equal(a.result, PcpResult.AddressMismatch);
    assert.equal(a.lifetime, 1800, 'a long lifetime error');
  });

  it('answers UNSUPP_PROTOCOL for a protocol the NAT does not forward', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, mapReq({ protocol: 132 })).result, PcpResult.UnsuppProtocol);
    assert.equal(pcp(rig, mapReq({ protocol: 0, internalPort: 0 })).result, PcpResult.UnsuppProtocol);
  });

  it('answers MALFORMED_REQUEST for protocol 0 with a port and for port 0 with a lifetime', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, mapReq({ protocol: 0, internalPort: 80 })).result, PcpResult.MalformedRequest);
    assert.equal(pcp(rig, mapReq({ internalPort: 0 })).result, PcpResult.MalformedRequest);
    const cut = rig.ask(mapReq().subarray(0, 40), { src: H1 });
    assert.equal(cut.length, 40, 'the truncated request comes back as it was');
    assert.equal(cut[3], PcpResult.MalformedRequest);
  });

  it('answers UNSUPP_VERSION with version 2, UNSUPP_OPCODE with the request copied back', () => {
    const rig = new PcpRig();
    const v1 = mapReq();
    v1[0] = 1;
    const r1 = pcp(rig, v1);
    assert.equal(r1.version, 2);
    assert.equal(r1.result, PcpResult.UnsuppVersion);
    assert.equal(r1.lifetime, 1800);
    const op = mapReq();
    op[1] = 3;
    const raw = rig.ask(op, { src: H1 });
    assert.equal(raw[3], PcpResult.UnsuppOpcode);
    assert.equal(raw[1], 0x83);
    assert.deepEqual(raw.subarray(24), op.subarray(24));
  });

  it('answers UNSUPP_OPTION for an unknown mandatory option and for a FILTER it cannot enforce', () => {
    const rig = new PcpRig();
    assert.equal(
      pcp(rig, mapReq({ options: [{ code: 77, data: new Uint8Array(4) }] })).result,
      PcpResult.UnsuppOption,
    );
    const filter: PcpOption = {
      code: 3,
      prefixLength: 128,
      remotePeerPort: 0,
      remotePeerAddress: '198.51.100.1',
    };
    assert.equal(pcp(rig, mapReq({ options: [filter] })).result, PcpResult.UnsuppOption);
    const clear: PcpOption = { code: 3, prefixLength: 0, remotePeerPort: 0, remotePeerAddress: '::' };
    const ok = pcp(rig, mapReq({ options: [clear, { code: 200, data: new Uint8Array(2) }] }));
    assert.equal(ok.result, PcpResult.Success);
    assert.deepEqual(ok.options, [clear], 'the FILTER is echoed, the unknown optional option is not');
  });

  it('answers MALFORMED_OPTION for a broken option', () => {
    const rig = new PcpRig();
    const bad = new Uint8Array([...mapReq(), ...hexBytes('01 00 00 08 00 00 00 00 00 00 00 00')]);
    assert.equal(pcp(rig, bad).result, PcpResult.MalformedOption);
  });

  it('answers NETWORK_FAILURE when the tenant has no external address', () => {
    const rig = new PcpRig();
    const r = pcp(rig, mapReq(), { tenant: 9 });
    assert.equal(r.result, PcpResult.NetworkFailure);
    assert.equal(r.lifetime, 30);
  });

  it('answers NO_RESOURCES when the table is full and USER_EX_QUOTA when the client is at its limit', () => {
    const full = new PcpRig({ policy: { maxMappings: 1 } });
    assert.equal(pcp(full, mapReq()).result, PcpResult.Success);
    assert.equal(pcp(full, mapReq({ client: H2 }), { src: H2 }).result, PcpResult.NoResources);
    const quota = new PcpRig({ policy: { maxPerClient: 2 } });
    assert.equal(pcp(quota, mapReq({ internalPort: 8080 })).result, PcpResult.Success);
    assert.equal(pcp(quota, mapReq({ internalPort: 8081 })).result, PcpResult.Success);
    const r = pcp(quota, mapReq({ internalPort: 8082 }));
    assert.equal(r.result, PcpResult.UserExQuota);
    assert.equal(r.lifetime, 30);
    assert.equal(
      pcp(quota, mapReq({ client: H2 }), { src: H2 }).result,
      PcpResult.Success,
      'other clients are unaffected',
    );
  });

  it('answers NOT_AUTHORIZED for an internal port outside the allowed range', () => {
    const rig = new PcpRig({ policy: { internalPorts: [{ from: 5000, to: 6000 }] } });
    assert.equal(pcp(rig, mapReq({ internalPort: 8080 })).result, PcpResult.NotAuthorized);
    assert.equal(pcp(rig, mapReq({ internalPort: 5500 })).result, PcpResult.Success);
  });
});

describe('PcpServer: PEER', () => {
  it('creates an outbound mapping with a session to the remote peer and answers with its external endpoint', () => {
    const rig = new PcpRig();
    const r = pcp(rig, peerReq());
    assert.equal(r.result, PcpResult.Success);
    assert.equal(r.lifetime, 600);
    assert.equal(r.peer?.externalAddress, EXT);
    assert.equal(r.peer?.externalPort, 20000);
    assert.equal(r.peer?.remotePeerAddress, '198.51.100.7');
    assert.equal(r.peer?.remotePeerPort, 3478);
    assert.deepEqual(rig.host.mappingCalls, [
      {
        proto: 17,
        insideIp: H1,
        insidePort: 5000,
        tenant: 0,
        remoteIp: '198.51.100.7',
        remotePort: 3478,
        timeoutMs: 600_000,
      },
    ]);
  });

  it('extends the same mapping on renewal and keeps the existing external port over a new suggestion', () => {
    const rig = new PcpRig();
    const a = pcp(rig, peerReq());
    const b = pcp(rig, peerReq({ externalPort: 30000, lifetime: 1200 }));
    assert.equal(b.result, PcpResult.Success);
    assert.equal(b.peer?.externalPort, a.peer?.externalPort);
    assert.equal(b.lifetime, 1200);
    assert.equal(rig.server.peerCount, 1);
  });

  it('honours a suggested external port for a new mapping', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, peerReq({ externalPort: 30000 })).peer?.externalPort, 30000);
  });

  it('refuses another nonce for a live PEER mapping with NOT_AUTHORIZED, and forgets it on lifetime 0', () => {
    const rig = new PcpRig();
    pcp(rig, peerReq());
    assert.equal(pcp(rig, peerReq({ seed: 3 })).result, PcpResult.NotAuthorized);
    const del = pcp(rig, peerReq({ lifetime: 0 }));
    assert.equal(del.result, PcpResult.Success);
    assert.equal(del.lifetime, 0);
    assert.equal(rig.server.peerCount, 0);
    assert.equal(pcp(rig, peerReq({ seed: 3 })).result, PcpResult.Success);
  });

  it('answers EXCESSIVE_REMOTE_PEERS past the per-client peer limit, and NO_RESOURCES past the total', () => {
    const rig = new PcpRig({ maxPeersPerClient: 3, maxPeers: 4 });
    for (let i = 0; i < 3; i++)
      assert.equal(pcp(rig, peerReq({ remotePort: 1000 + i })).result, PcpResult.Success);
    const r = pcp(rig, peerReq({ remotePort: 2000 }));
    assert.equal(r.result, PcpResult.ExcessiveRemotePeers);
    assert.equal(r.lifetime, 1800);
    assert.equal(pcp(rig, peerReq({ client: H2, remotePort: 1 }), { src: H2 }).result, PcpResult.Success);
    assert.equal(pcp(rig, peerReq({ client: H2, remotePort: 2 }), { src: H2 }).result, PcpResult.NoResources);
    rig.clock.advance(600_000);
    assert.equal(
      pcp(rig, peerReq({ remotePort: 2000 })).result,
      PcpResult.Success,
      'expired peers free their slots',
    );
  });

  it('answers MALFORMED_REQUEST without a remote peer port or address, and UNSUPP_PROTOCOL for other protocols', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, peerReq({ remotePort: 0 })).result, PcpResult.MalformedRequest);
    assert.equal(pcp(rig, peerReq({ remote: '0.0.0.0' })).result, PcpResult.MalformedRequest);
    assert.equal(pcp(rig, peerReq({ protocol: 0, internalPort: 0 })).result, PcpResult.MalformedRequest);
    assert.equal(pcp(rig, peerReq({ protocol: 132 })).result, PcpResult.UnsuppProtocol);
    assert.equal(rig.host.mappingCalls.length, 0);
  });

  it('refuses THIRD_PARTY in PEER with NOT_AUTHORIZED by default', () => {
    const rig = new PcpRig();
    assert.equal(pcp(rig, peerReq({ options: [{ code: 1, address: H2 }] })).result, PcpResult.NotAuthorized);
  });
});

describe('PcpServer: version negotiation (RFC 6887 §9)', () => {
  it('answers NAT-PMP with PCP UNSUPP_VERSION when NAT-PMP is off; the code sits where NAT-PMP reads its result', () => {
    const rig = new PcpRig({ natPmp: false });
    const raw = rig.ask(hexBytes('00 00'), { src: H1 });
    assert.equal(raw.length, 24);
    assert.equal(raw[0], 2);
    assert.equal(raw[1], 0x80);
    assert.equal((raw[2] << 8) | raw[3], 1, 'NAT-PMP reads result code 1: unsupported version');
  });

  it('answers PCP with NAT-PMP UNSUPPORTED_VERSION when PCP is off', () => {
    const rig = new PcpRig({ pcp: false });
    const raw = rig.ask(mapReq(), { src: H1 });
    assert.deepEqual(parseNatPmpResponse(raw), { opcode: 1, result: 1, epoch: 0 });
    assert.equal(raw.length, 8);
  });
});

describe('PcpServer: tenants, lifecycle, events', () => {
  it('keeps tenants apart: the same inside address maps in each tenant on its own external address', () => {
    const rig = new PcpRig({}, { tenants: [1] });
    const a = pcp(rig, mapReq());
    const b = pcp(rig, mapReq({ seed: 7 }), { tenant: 1 });
    assert.equal(a.map?.externalAddress, '203.0.113.1');
    assert.equal(b.map?.externalAddress, '203.0.113.2');
    // Tenant 1 cannot delete tenant 0's mapping (it does not see it).
    assert.equal(pcp(rig, mapReq({ seed: 1, lifetime: 0 }), { tenant: 1 }).result, PcpResult.NotAuthorized);
    assert.equal(rig.server.table.list(0).length, 1);
    rig.host.removeTenant(1);
    assert.equal(rig.server.table.list(1).length, 0);
    assert.equal(rig.server.table.list(0).length, 1);
  });

  it('ignores tenants it does not serve', () => {
    const rig = new PcpRig({ tenants: [1] }, { tenants: [1] });
    assert.equal(rig.send(mapReq(), { src: H1, tenant: 0 }).length, 0);
    assert.equal(rig.server.stats.dropped.tenant, 1);
    assert.equal(pcp(rig, mapReq(), { tenant: 1 }).result, PcpResult.Success);
  });

  it('removes its mappings and NAT forwards on detach and refuses a second attach', () => {
    const rig = new PcpRig();
    pcp(rig, mapReq());
    assert.throws(
      () => rig.server.attach(rig.host),
      (e) => e instanceof L3kitError && e.code === 'ERR_HELPER_IN_USE',
    );
    rig.server.detach();
    assert.equal(forwards(rig).length, 0);
    assert.equal(rig.send(mapReq(), { src: H1 }).length, 0, 'a detached server answers nothing');
  });

  it('emits a request event per answered request with the result and the mapping', () => {
    const rig = new PcpRig();
    const got: PcpRequestInfo[] = [];
    rig.server.on('request', (i) => got.push(i));
    pcp(rig, mapReq());
    pcp(rig, mapReq({ seed: 2 }));
    assert.equal(got.length, 2);
    assert.equal(got[0].protocol, 'pcp');
    assert.equal(got[0].resultName, 'SUCCESS');
    assert.equal(got[0].mapping?.externalPort, 8080);
    assert.equal(got[0].clientPort, 40000);
    assert.equal(got[1].resultName, 'NOT_AUTHORIZED');
    assert.equal(rig.server.stats.errors.NOT_AUTHORIZED, 1);
  });

  it('rejects bad configurations with ERR_BAD_OPTION', () => {
    const bad = (c: unknown) => () => new PcpServer(c as never);
    const isBad = (e: unknown) => e instanceof L3kitError && e.code === 'ERR_BAD_OPTION';
    assert.throws(bad({ minLifetime: 0 }), isBad);
    assert.throws(bad({ minLifetime: 500, maxLifetime: 100 }), isBad);
    assert.throws(bad({ pcp: false, natPmp: false }), isBad);
    assert.throws(bad({ table: {} }), isBad);
    assert.throws(bad({ table: new PortMappingTable(), policy: {} }), isBad);
    assert.throws(bad({ tenants: [-1] }), isBad);
    assert.throws(bad({ rateLimit: { perSecond: 0 } }), isBad);
    assert.throws(bad({ maxPeers: 1.5 }), isBad);
  });
});

describe('PcpServer: abuse', () => {
  it('answers a flood from one client only up to its burst, keeps serving others, and recovers with time', () => {
    const rig = new PcpRig({ rateLimit: { perSecond: 5, burst: 10 } });
    const announce = emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: H1 });
    let answered = 0;
    for (let i = 0; i < 1000; i++) answered += rig.send(announce, { src: H1 }).length;
    assert.equal(answered, 10);
    assert.equal(rig.server.stats.dropped['rate-limited'], 990);
    const other = emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: H2 });
    assert.equal(rig.send(other, { src: H2 }).length, 1, 'another client is still served');
    rig.clock.advance(1_000);
    let later = 0;
    for (let i = 0; i < 10; i++) later += rig.send(announce, { src: H1 }).length;
    assert.equal(later, 5, 'five tokens came back in one second');
  });

  it('keeps its memory bounded under a flood from many spoofed sources', () => {
    const rig = new PcpRig({ rateLimit: { maxClients: 64, globalPerSecond: 100_000 } });
    let answered = 0;
    for (let i = 0; i < 5000; i++) {
      const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      answered += rig.send(mapReq({ client: src, internalPort: 2000 + (i % 100) }), { src }).length;
    }
    assert.equal(answered, 5000, 'each new source gets its own bucket');
    const limiter = (rig.server as unknown as { limiter: { size: number } }).limiter;
    assert.ok(limiter.size <= 64);
    assert.ok(rig.server.table.size <= rig.server.table.policy.maxMappings);
  });

  it('caps the whole server with the global rate limit', () => {
    const rig = new PcpRig({
      rateLimit: { perSecond: 100, burst: 100, globalPerSecond: 20, globalBurst: 20 },
    });
    let answered = 0;
    for (let i = 0; i < 200; i++) {
      const src = `192.168.1.${(i % 200) + 20}`;
      answered += rig.send(emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: src }), { src }).length;
    }
    assert.equal(answered, 20);
  });

  it('drops packets that are not for it and counts why', () => {
    const rig = new PcpRig();
    assert.equal(rig.send(mapReq(), { src: H1, dstPort: 5350 }).length, 0);
    assert.equal(rig.send(mapReq(), { src: H1, dst: '192.168.1.2' }).length, 0);
    assert.equal(rig.send(Uint8Array.of(2), { src: H1 }).length, 0);
    const resp = mapReq();
    resp[1] |= 0x80;
    assert.equal(rig.send(resp, { src: H1 }).length, 0);
    rig.server.onLocalPacket(Uint8Array.of(0x45, 0, 0), 0);
    assert.deepEqual(rig.server.stats.dropped, { 'not-for-us': 2, short: 1, response: 1, 'not-udp': 1 });
  });

  it('never throws and keeps working after arbitrary payloads and arbitrary packets', () => {
    const rig = new PcpRig({ rateLimit: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), fc.boolean(), (b, raw) => {
        if (raw) rig.server.onLocalPacket(b, 0);
        else {
          if (b.length > 0) b[0] = [0, 1, 2, 3][b[0] & 3];
          rig.send(b, { src: H1 });
        }
      }),
      { numRuns: 10_000 },
    );
    rig.host.take(0);
    assert.equal(pcp(rig, mapReq({ seed: 200, internalPort: 60000 })).result, PcpResult.Success);
  });
});
