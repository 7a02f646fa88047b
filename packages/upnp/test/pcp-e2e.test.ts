/**
 * End to end through a real `Nat`: inside virtual hosts talk PCP / NAT-PMP over UDP to the NAT's
 * inside address, and outside hosts then reach the inside servers through the ports they opened.
 * Every packet the NAT emits on either side is checked with the independent checksum oracle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { assertChecksums, pump, tick } from '@l3kit/testkit';
import {
  emitNatPmpRequest,
  emitPcpRequest,
  NatPmpResult,
  type PcpResponseRepr,
  PcpResult,
  PcpServer,
  type PcpServerConfig,
  parseNatPmpResponse,
  parsePcpResponse,
} from '../src/pcp.js';
import { nonce } from './pcp-fake-host.js';

const NAT_IN = '192.168.1.1';
const EXT = '203.0.113.1';
const H1 = '192.168.1.10';
const REMOTE = '203.0.113.20';

/** Wires `a` ↔ `b`, checking every packet that leaves the NAT side `natSide`. */
function wire(host: L3Device, natSide: L3Device, emitted: { n: number }): void {
  host.setHandler((p) => natSide.send(p));
  natSide.setHandler((p) => {
    assertChecksums(p, 'packet emitted by the NAT');
    emitted.n++;
    host.send(p);
  });
}

class Topology {
  readonly clock = new ManualClock(1_000_000);
  readonly sched = new ManualScheduler(this.clock);
  readonly nat: Nat;
  readonly inside = new VirtualHost({ addr: `${H1}/24`, gateway: NAT_IN, scheduler: this.sched });
  readonly outside = new VirtualHost({ addr: `${REMOTE}/24`, gateway: EXT, scheduler: this.sched });
  readonly server: PcpServer;
  readonly emitted = { n: 0 };

  /** `outsidePool`: more outside addresses (paired pooling). */
  constructor(config: PcpServerConfig = {}, outsidePool?: string[]) {
    this.nat = new Nat({ inside: `${NAT_IN}/24`, outside: `${EXT}/24`, outsidePool, clock: this.clock });
    wire(this.inside, this.nat.inside(), this.emitted);
    wire(this.outside, this.nat.outside(), this.emitted);
    this.server = new PcpServer(config);
    this.nat.addHelper(this.server);
  }

  /**
   * Attaches `host` as a tenant of the NAT (its own namespace) through a relay that checks every
   * packet the NAT sends it; returns the tenant's cleanup.
   */
  attachTenant(host: VirtualHost, tenant: number): () => void {
    let toHost: (p: Uint8Array) => void = () => {};
    const relay: L3Device = {
      setHandler: (h) => {
        toHost = h;
      },
      send: (p) => {
        assertChecksums(p, 'packet the NAT sent a tenant');
        this.emitted.n++;
        host.send(p);
      },
      addr: () => undefined,
      setAddr: () => {},
      close: () => {},
    };
    host.setHandler((p) => toHost(p));
    return this.nat.connectL3(relay, { tenant });
  }

  /** Sends one request from `from` (UDP, ephemeral port) to the NAT's port 5351; resolves with the answer. */
  async request(req: Uint8Array, from: VirtualHost = this.inside): Promise<Uint8Array> {
    const sock = from.udp.bind(0);
    let answer: Uint8Array | undefined;
    sock.on('message', (msg, rinfo) => {
      assert.equal(rinfo.address, NAT_IN);
      assert.equal(rinfo.port, 5351);
      answer = new Uint8Array(msg);
    });
    sock.send(req, 5351, NAT_IN);
    await pump(this.sched, () => answer !== undefined, 5_000);
    sock.close();
    return answer as Uint8Array;
  }

  async pcpMap(
    internalPort: number,
    lifetime: number,
    protocol = 6,
    seed = 1,
    from: VirtualHost = this.inside,
  ): Promise<PcpResponseRepr> {
    const raw = await this.request(
      emitPcpRequest({
        opcode: 1,
        lifetime,
        clientAddress: H1,
        map: { nonce: nonce(seed), protocol, internalPort, externalPort: 0, externalAddress: '0.0.0.0' },
      }),
      from,
    );
    const r = parsePcpResponse(raw);
    assert.ok(r);
    return r;
  }

  close(): void {
    this.inside.close();
    this.outside.close();
    this.nat.close();
  }
}

/** Connects from the outside to `port` on the external address; resolves with the echoed text or an error string. */
async function tcpFromOutside(
  t: Topology,
  port: number,
  text: string,
  maxMs = 20_000,
  host = EXT,
): Promise<string> {
  const sock = t.outside.tcp.connect({ host, port });
  let got = '';
  let err = '';
  let ended = false;
  sock.on('data', (d: Buffer) => {
    got += d.toString();
    if (got.length >= text.length) sock.end();
  });
  sock.on('error', (e: Error & { code?: string }) => {
    err = e.code ?? e.message;
  });
  sock.on('close', () => {
    ended = true;
  });
  sock.write(text);
  try {
    await pump(t.sched, () => ended || err !== '' || got.length >= text.length, maxMs);
  } catch {
    sock.destroy();
    return 'timeout';
  }
  return err || got;
}

describe('PCP and NAT-PMP through a real Nat', () => {
  it('opens a TCP port with PCP MAP: an outside host reaches the inside server; deleting the mapping closes it', async () => {
    const t = new Topology();
    t.inside.tcp.listen(8080, (s) => s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`)));
    const r = await t.pcpMap(8080, 600);
    assert.equal(r.result, PcpResult.Success);
    assert.equal(r.map?.externalAddress, EXT);
    const port = r.map?.externalPort as number;
    const fwd = t.nat.listPortForwards();
    assert.equal(fwd.length, 1);
    assert.equal(fwd[0].origin, 'pcp');
    assert.equal(fwd[0].outsidePort, port);
    assert.ok((fwd[0].expiresInMs ?? 0) > 590_000);

    assert.equal(await tcpFromOutside(t, port, 'hello'), 'echo:hello');

    const del = await t.pcpMap(8080, 0);
    assert.equal(del.result, PcpResult.Success);
    assert.equal(del.lifetime, 0);
    assert.equal(t.nat.listPortForwards().length, 0);
    const after = await tcpFromOutside(t, port, 'again', 10_000);
    assert.equal(after, 'timeout', 'the NAT no longer lets a connection in');
    assert.ok(t.emitted.n > 0);
    t.close();
  });

  it('opens a UDP port with NAT-PMP, answers the external address, and the lease runs out on the NAT clock', async () => {
    const t = new Topology({ minLifetime: 60, policy: { minLeaseMs: 60_000 } });
    const addr = parseNatPmpResponse(await t.request(emitNatPmpRequest({ opcode: 0 })));
    assert.equal(addr?.externalAddress, EXT);
    const got: string[] = [];
    const inner = t.inside.udp.bind(5000);
    inner.on('message', (m, rinfo) => got.push(`${rinfo.address}:${m.toString()}`));
    const r = parseNatPmpResponse(
      await t.request(emitNatPmpRequest({ opcode: 1, internalPort: 5000, externalPort: 0, lifetime: 60 })),
    );
    assert.equal(r?.result, NatPmpResult.Success);
    assert.equal(r?.lifetime, 60);
    const port = r?.externalPort as number;
    assert.equal(t.nat.listPortForwards()[0].origin, 'natpmp');

    const out = t.outside.udp.bind(7000);
    out.send('ping', port, EXT);
    await pump(t.sched, () => got.length === 1, 2_000);
    assert.deepEqual(got, [`${REMOTE}:ping`]);

    t.sched.advance(59_000);
    t.nat.maintain();
    assert.equal(t.nat.listPortForwards().length, 1, 'not yet');
    t.sched.advance(2_000);
    t.nat.maintain(); // what the NAT's own maintenance timer does
    await tick();
    assert.equal(t.nat.listPortForwards().length, 0, 'the NAT expired the leased forward');
    assert.equal(t.server.table.size, 0);
    out.send('late', port, EXT);
    await pump(t.sched, () => true);
    t.sched.advance(1_000);
    await tick();
    assert.deepEqual(got, [`${REMOTE}:ping`], 'nothing reaches the inside after expiry');
    t.close();
  });

  it('answers and maps on the inside host’s paired address when the NAT has an outside pool', async () => {
    const t = new Topology({}, ['203.0.113.2', '203.0.113.3']);
    const paired = t.nat.externalAddress(0, H1);
    assert.notEqual(paired, EXT, 'H1 is paired with another address than the first of the pool');
    const addr = parseNatPmpResponse(await t.request(emitNatPmpRequest({ opcode: 0 })));
    assert.equal(addr?.externalAddress, paired);
    const r = await t.pcpMap(8080, 600);
    assert.equal(r.result, PcpResult.Success);
    assert.equal(r.map?.externalAddress, paired);
    assert.equal(t.nat.listPortForwards()[0].outsideIp, paired);
    t.inside.tcp.listen(8080, (s) => s.on('data', (d: Buffer) => s.write(`pool:${d.toString()}`)));
    const port = r.map?.externalPort as number;
    assert.equal(await tcpFromOutside(t, port, 'hi', 20_000, paired), 'pool:hi');
    t.close();
  });

  it('opens a TCP port with NAT-PMP that an outside host connects through', async () => {
    const t = new Topology();
    t.inside.tcp.listen(2222, (s) => s.on('data', (d: Buffer) => s.write(`ssh:${d.toString()}`)));
    const r = parseNatPmpResponse(
      await t.request(
        emitNatPmpRequest({ opcode: 2, internalPort: 2222, externalPort: 40022, lifetime: 3600 }),
      ),
    );
    assert.equal(r?.result, NatPmpResult.Success);
    assert.equal(r?.externalPort, 40022, 'the suggested port was free');
    assert.equal(await tcpFromOutside(t, 40022, 'hi'), 'ssh:hi');
    t.close();
  });

  it('keeps tenants with the same inside address apart: each reaches its own server, and a removed tenant’s forward goes', async () => {
    const t = new Topology();
    const a = new VirtualHost({ addr: `${H1}/24`, gateway: NAT_IN, scheduler: t.sched });
    const b = new VirtualHost({ addr: `${H1}/24`, gateway: NAT_IN, scheduler: t.sched });
    const dropA = t.attachTenant(a, 5);
    t.attachTenant(b, 6);
    a.tcp.listen(8080, (s) => s.on('data', () => s.write('tenant-a')));
    b.tcp.listen(8080, (s) => s.on('data', () => s.write('tenant-b')));
    const ra = await t.pcpMap(8080, 600, 6, 1, a);
    const rb = await t.pcpMap(8080, 600, 6, 1, b);
    assert.equal(ra.result, PcpResult.Success);
    assert.equal(rb.result, PcpResult.Success);
    const pa = ra.map?.externalPort as number;
    const pb = rb.map?.externalPort as number;
    assert.notEqual(pa, pb, 'one external address, so two ports');
    assert.deepEqual(
      t.nat
        .listPortForwards()
        .map((f) => `${f.tenant}:${f.outsidePort}`)
        .sort(),
      [`5:${pa}`, `6:${pb}`].sort(),
    );
    assert.equal(await tcpFromOutside(t, pa, 'x'.repeat(8)), 'tenant-a');
    assert.equal(await tcpFromOutside(t, pb, 'x'.repeat(8)), 'tenant-b');
    // Tenant 6 deleting "its" 8080 with the same nonce touches only its own mapping.
    assert.equal((await t.pcpMap(8080, 0, 6, 1, b)).result, PcpResult.Success);
    assert.deepEqual(
      t.nat.listPortForwards().map((f) => f.tenant),
      [5],
    );
    dropA();
    assert.equal(t.nat.listPortForwards().length, 0);
    assert.equal(t.server.table.size, 0);
    a.close();
    b.close();
    t.close();
  });

  it('creates an outbound mapping with PEER: the inside host’s packets to the peer leave from the announced external port', async () => {
    const t = new Topology();
    const raw = await t.request(
      emitPcpRequest({
        opcode: 2,
        lifetime: 300,
        clientAddress: H1,
        peer: {
          nonce: nonce(4),
          protocol: 17,
          internalPort: 6000,
          externalPort: 0,
          externalAddress: '0.0.0.0',
          remotePeerPort: 3478,
          remotePeerAddress: REMOTE,
        },
      }),
    );
    const r = parsePcpResponse(raw);
    assert.equal(r?.result, PcpResult.Success);
    const port = r?.peer?.externalPort as number;
    const seen: number[] = [];
    const peer = t.outside.udp.bind(3478);
    peer.on('message', (_m, rinfo) => seen.push(rinfo.port));
    const me = t.inside.udp.bind(6000);
    const heard: string[] = [];
    me.on('message', (m) => heard.push(m.toString()));
    me.send('hi', 3478, REMOTE);
    await pump(t.sched, () => seen.length === 1, 2_000);
    assert.deepEqual(seen, [port]);
    peer.send('back', port, EXT);
    await pump(t.sched, () => heard.length === 1, 2_000);
    assert.deepEqual(heard, ['back']);
    t.close();
  });

  it('never answers PCP from the outside interface', async () => {
    const t = new Topology();
    const sock = t.outside.udp.bind(0);
    let answers = 0;
    sock.on('message', () => answers++);
    sock.send(emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: REMOTE }), 5351, EXT);
    sock.send(emitNatPmpRequest({ opcode: 0 }), 5351, EXT);
    t.sched.advance(1_000);
    await tick();
    t.sched.advance(1_000);
    await tick();
    assert.equal(answers, 0);
    assert.equal(t.server.stats.received, 0);
    t.close();
  });

  it('removes its forwards from the NAT when the helper is removed or the NAT closes', async () => {
    const t = new Topology();
    assert.equal((await t.pcpMap(8080, 600)).result, PcpResult.Success);
    assert.equal(t.nat.listPortForwards().length, 1);
    t.nat.close();
    assert.equal(t.server.table.size, 0);
    t.inside.close();
    t.outside.close();
  });
});
