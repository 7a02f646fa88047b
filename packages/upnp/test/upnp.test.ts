import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { assertChecksums, pump } from '@l3kit/testkit';
import { parseSsdpMessage, UpnpIgd, type UpnpIgdConfig } from '../src/index.js';
import { mappingArgs, rawHttp, SERVICES, soapCall } from './fake-host.js';

/** Wraps a device so every packet it receives is checked with the independent checksum oracle. */
function checked(dev: VirtualHost): L3Device {
  return {
    setHandler: (h) => dev.setHandler(h),
    send: (p) => {
      assertChecksums(p, 'packet delivered by the NAT');
      dev.send(p);
    },
    addr: () => dev.addr(),
    setAddr: (p) => dev.setAddr(p),
    close: () => dev.close(),
  };
}

function world(config: UpnpIgdConfig = {}, outsidePool?: string[]) {
  const sched = new ManualScheduler(new ManualClock(1_000_000));
  const nat = new Nat({
    inside: '192.168.1.1/24',
    outside: '203.0.113.1/24',
    outsidePool,
    clock: sched.clock,
    maintainIntervalMs: 0,
  });
  const igd = new UpnpIgd({ scheduler: sched, random: () => 0.25, notifyIntervalMs: 0, ...config });
  const removeIgd = nat.addHelper(igd);
  const client = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', scheduler: sched });
  const outside = new VirtualHost({ addr: '203.0.113.50/24', gateway: '203.0.113.1', scheduler: sched });
  const cleanup = nat.connectL3(checked(client));
  const o = nat.outside();
  o.setHandler((p) => {
    assertChecksums(p, 'packet sent outside by the NAT');
    outside.send(p);
  });
  outside.setHandler((p) => o.send(p));
  return { sched, nat, igd, client, outside, tenant: cleanup.tenant, cleanup, removeIgd };
}

/** A tiny LAN: one device towards the NAT that delivers to the hosts by destination address. */
function lan(hosts: VirtualHost[]): L3Device {
  let up: (p: Uint8Array) => void = () => {};
  for (const h of hosts) h.setHandler((p) => up(p));
  return {
    setHandler: (h) => {
      up = h;
    },
    send: (p) => {
      assertChecksums(p, 'packet delivered by the NAT');
      const dst = `${p[16]}.${p[17]}.${p[18]}.${p[19]}`;
      for (const h of hosts)
        if (p[16] >= 224 || h.addr()?.toString().startsWith(`${dst}/`)) h.send(p.slice());
    },
    addr: () => undefined,
    setAddr: () => {},
    close: () => {},
  };
}

const SEARCH =
  'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n' +
  'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n';

/** A UDP socket of `host` and the texts it receives. */
function udpInbox(host: VirtualHost, port = 0) {
  const sock = host.udp.bind(port);
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  return { sock, got };
}

async function discover(w: ReturnType<typeof world>, from = w.client): Promise<string> {
  const { sock, got } = udpInbox(from);
  sock.send(Buffer.from(SEARCH), 1900, '239.255.255.250');
  await pump(w.sched, () => got.length > 0, 5000);
  sock.close();
  const msg = parseSsdpMessage(new TextEncoder().encode(got[0]));
  return msg?.headers.get('location') ?? '';
}

async function tcpGreeting(w: ReturnType<typeof world>, port: number): Promise<string> {
  const s = w.outside.tcp.connect({ host: '203.0.113.1', port });
  let text = '';
  let done = false;
  s.on('data', (d: Buffer) => {
    text += d.toString();
  });
  s.on('end', () => {
    done = true;
  });
  s.on('error', (e: Error & { code?: string }) => {
    text = `error ${e.code}`;
    done = true;
  });
  await pump(w.sched, () => done, 200_000, 50);
  s.destroy();
  return text;
}

describe('UpnpIgd on a real Nat', () => {
  it('is discovered by SSDP, maps a TCP port by SOAP, and an outside host reaches the inside server through it', async () => {
    const w = world();
    const location = await discover(w);
    assert.equal(location, 'http://192.168.1.1:5000/rootDesc.xml');
    const desc = await rawHttp(w, 'GET /rootDesc.xml HTTP/1.1\r\nHost: 192.168.1.1:5000\r\n\r\n');
    assert.equal(desc.status, 200);
    assert.match(desc.body, /WANIPConnection:1/);
    const ext = await soapCall(w, SERVICES.ipc1, 'GetExternalIPAddress');
    assert.equal(ext.out.get('NewExternalIPAddress'), '203.0.113.1');

    w.client.tcp.listen(8080, (sock) => sock.end('hello from inside\n'));
    const add = await soapCall(
      w,
      SERVICES.ipc1,
      'AddPortMapping',
      mappingArgs({ NewExternalPort: 18080, NewPortMappingDescription: 'web' }),
    );
    assert.equal(add.status, 200);
    const fwd = w.nat.listPortForwards();
    assert.equal(fwd.length, 1);
    assert.equal(fwd[0].origin, 'upnp');
    assert.equal(fwd[0].outsidePort, 18080);
    assert.equal(fwd[0].description, 'web');
    assert.equal(fwd[0].tenant, w.tenant);
    assert.ok((fwd[0].expiresInMs ?? 0) > 3_500_000);

    assert.equal(await tcpGreeting(w, 18080), 'hello from inside\n');

    const del = await soapCall(w, SERVICES.ipc1, 'DeletePortMapping', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', 18080],
      ['NewProtocol', 'TCP'],
    ]);
    assert.equal(del.status, 200);
    assert.equal(w.nat.listPortForwards().length, 0);
    assert.notEqual(await tcpGreeting(w, 18080), 'hello from inside\n');
    w.nat.close();
  });

  it('maps a UDP port and outside datagrams reach the inside socket until the lease expires', async () => {
    const w = world();
    const { got } = udpInbox(w.client, 5555);
    const add = await soapCall(
      w,
      SERVICES.ipc1,
      'AddPortMapping',
      mappingArgs({
        NewProtocol: 'UDP',
        NewExternalPort: 15555,
        NewInternalPort: 5555,
        NewLeaseDuration: 120,
      }),
    );
    assert.equal(add.status, 200);
    const out = w.outside.udp.bind(0);
    out.send(Buffer.from('ping 1'), 15555, '203.0.113.1');
    await pump(w.sched, () => got.length === 1, 2000);
    assert.deepEqual(got, ['ping 1']);
    w.sched.advance(121_000);
    w.nat.maintain();
    assert.equal(w.nat.listPortForwards().length, 0);
    assert.equal(w.igd.table.size, 0);
    out.send(Buffer.from('ping 2'), 15555, '203.0.113.1');
    await pump(w.sched, () => false, 1000).catch(() => undefined);
    assert.deepEqual(got, ['ping 1']);
    w.nat.close();
  });

  it('is unreachable from the outside interface: no SSDP answer, no HTTP', async () => {
    const w = world();
    const { sock, got } = udpInbox(w.outside);
    sock.send(Buffer.from(SEARCH), 1900, '203.0.113.1');
    await pump(w.sched, () => false, 3000).catch(() => undefined);
    assert.equal(got.length, 0);
    const s = w.outside.tcp.connect({ host: '203.0.113.1', port: 5000 });
    let connected = false;
    let failed = false;
    s.on('connect', () => {
      connected = true;
    });
    s.on('error', () => {
      failed = true;
    });
    await pump(w.sched, () => failed || connected, 200_000, 100);
    assert.equal(connected, false);
    assert.equal(w.igd.stats.http.requests, 0);
    w.nat.close();
  });

  it('serves two tenants with the same inside address separately', async () => {
    const w = world();
    const other = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', scheduler: w.sched });
    const c2 = w.nat.connectL3(checked(other));
    assert.ok((await discover(w, other)).endsWith('/rootDesc.xml'));
    assert.equal((await soapCall(w, SERVICES.ipc1, 'AddPortMapping', mappingArgs())).status, 200);
    const t2 = { sched: w.sched, client: other };
    assert.equal(
      (await soapCall(t2, SERVICES.ipc1, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 0]])).error,
      713,
    );
    assert.equal(
      (
        await soapCall(t2, SERVICES.ipc1, 'DeletePortMapping', [
          ['NewRemoteHost', ''],
          ['NewExternalPort', 8080],
          ['NewProtocol', 'TCP'],
        ])
      ).error,
      714,
    );
    // Its own request for the same external port collides with tenant 1's (one outside address).
    assert.equal((await soapCall(t2, SERVICES.ipc1, 'AddPortMapping', mappingArgs())).error, 718);
    assert.equal(
      (await soapCall(t2, SERVICES.ipc1, 'AddPortMapping', mappingArgs({ NewExternalPort: 8081 }))).status,
      200,
    );
    assert.deepEqual(
      w.nat
        .listPortForwards()
        .map((f) => `${f.tenant}:${f.outsidePort}`)
        .sort(),
      [`${c2.tenant}:8081`, `${w.tenant}:8080`].sort(),
    );
    c2();
    assert.deepEqual(
      w.nat.listPortForwards().map((f) => f.outsidePort),
      [8080],
    );
    assert.equal(w.igd.table.size, 1);
    w.nat.close();
  });

  it('reports and maps each client on its paired pool address, and a refresh keeps live connections', async () => {
    const w = world({}, ['203.0.113.2', '203.0.113.3']);
    w.cleanup();
    const a = w.client;
    const b = new VirtualHost({ addr: '192.168.1.11/24', gateway: '192.168.1.1', scheduler: w.sched });
    w.nat.connectL3(lan([a, b]));
    const seen = new Map<string, string>();
    const echo = w.outside.udp.bind(7);
    echo.on('message', (m, from) => seen.set(m.toString(), from.address));
    for (const [name, h] of [
      ['a', a],
      ['b', b],
    ] as const) {
      h.udp.bind(0).send(Buffer.from(name), 7, '203.0.113.50');
    }
    await pump(w.sched, () => seen.size === 2, 2000);
    for (const [name, h, ip] of [
      ['a', a, '192.168.1.10'],
      ['b', b, '192.168.1.11'],
    ] as const) {
      const rig = { sched: w.sched, client: h };
      const ext = (await soapCall(rig, SERVICES.ipc1, 'GetExternalIPAddress')).out.get(
        'NewExternalIPAddress',
      );
      assert.equal(ext, seen.get(name), `${name}: GetExternalIPAddress is the address its own traffic uses`);
      const add = await soapCall(
        rig,
        SERVICES.ipc1,
        'AddPortMapping',
        mappingArgs({ NewInternalClient: ip, NewExternalPort: 9000 }),
      );
      assert.equal(add.status, 200, `${name} maps port 9000 on its own address`);
      h.tcp.listen(8080, (sock) => {
        sock.on('data', (d: Buffer) => sock.write(d));
      });
    }
    const byIp = new Map(w.nat.listPortForwards().map((f) => [f.insideIp, f.outsideIp]));
    assert.equal(byIp.get('192.168.1.10'), seen.get('a'));
    assert.equal(byIp.get('192.168.1.11'), seen.get('b'));
    // A live connection through a's mapping survives the refresh of the mapping.
    const c = w.outside.tcp.connect({ host: seen.get('a') as string, port: 9000 });
    const got: string[] = [];
    c.on('data', (d: Buffer) => got.push(d.toString()));
    c.write('one');
    await pump(w.sched, () => got.join('') === 'one', 5000);
    const rigA = { sched: w.sched, client: a };
    const again = await soapCall(
      rigA,
      SERVICES.ipc1,
      'AddPortMapping',
      mappingArgs({ NewExternalPort: 9000, NewLeaseDuration: 7200 }),
    );
    assert.equal(again.status, 200);
    assert.ok(
      (w.nat.listPortForwards().find((f) => f.insideIp === '192.168.1.10')?.expiresInMs ?? 0) > 7_000_000,
    );
    c.write('two');
    await pump(w.sched, () => got.join('') === 'onetwo', 5000);
    c.destroy();
    w.nat.close();
  });

  it('removes its forwards when removed from the NAT', async () => {
    const w = world();
    assert.equal((await soapCall(w, SERVICES.ipc1, 'AddPortMapping', mappingArgs())).status, 200);
    w.removeIgd();
    assert.equal(w.igd.table.bound, false);
    assert.equal(w.nat.listPortForwards().length, 0);
    w.nat.close();
  });
});
