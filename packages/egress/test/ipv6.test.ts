import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { VirtualHost } from '@l3kit/stack';
import { buildPacket } from '@l3kit/wire';
import { EgressDevice, type EgressDeviceOptions } from '../src/index.js';
import { CheckedDevice, closedPort, connected, failure, readAll, sha256, until } from './helpers.js';

/** A dual-stack tenant (10.0.0.2, fd00::2) attached to a new device. */
function setup6(opts: EgressDeviceOptions = {}) {
  const egress = new EgressDevice({ allowLoopback: true, ...opts });
  const client = new VirtualHost({
    addr: '10.0.0.2/24',
    gateway: '10.0.0.1',
    addr6: 'fd00::2/64',
    gateway6: 'fd00::1',
  });
  const link = new CheckedDevice(client);
  const detach = egress.connectL3(link, { name: 'v6' });
  return {
    egress,
    client,
    link,
    close: () => {
      detach();
      client.close();
      egress.close();
    },
  };
}

/** An echo server on [::1]. */
async function echo6(): Promise<{ server: Server; port: number; peers: string[]; close: () => void }> {
  const peers: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    peers.push(`${s.remoteAddress}`);
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '::1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    peers,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('an IPv6 tenant connection leaves directly and carries data both ways', async () => {
  const up = await echo6();
  const t = setup6();
  try {
    const s = t.client.tcp.connect({ host: '::1', port: up.port });
    await connected(s);
    const data = randomBytes(200_000);
    const got = readAll(s);
    s.end(data);
    assert.equal(sha256(await got), sha256(data));
    assert.deepEqual(up.peers, ['::1']);
    await until(() => t.egress.stats.tcp.active === 0, 3000, 'the close');
    assert.equal(t.egress.stats.tcp.bytesUp, data.length);
  } finally {
    t.close();
    up.close();
  }
});

test('IPv6: a refused connection gets RST and a denied one ICMPv6 administratively prohibited', async () => {
  const up = await echo6();
  const port = await closedPort();
  const t = setup6({ rules: [{ cidr: '::1/128', ports: up.port, action: 'deny' }] });
  try {
    // Nothing listens on [::1]:port (the closed port was taken on 127.0.0.1 and released).
    assert.equal((await failure(t.client.tcp.connect({ host: '::1', port }))).code, 'ECONNREFUSED');
    assert.equal((await failure(t.client.tcp.connect({ host: '::1', port: up.port }))).code, 'EACCES');
    assert.equal(t.egress.stats.tcp.denied, 1);
    assert.equal(t.egress.stats.icmp.unreachablesSent, 1);
    assert.equal(up.peers.length, 0);
  } finally {
    t.close();
    up.close();
  }
});

test('IPv6 host-local destinations are denied unless allowLoopback is set', async () => {
  const up = await echo6();
  const t = setup6({ allowLoopback: false });
  try {
    assert.equal((await failure(t.client.tcp.connect({ host: '::1', port: up.port }))).code, 'EACCES');
    assert.equal(up.peers.length, 0);
  } finally {
    t.close();
    up.close();
  }
});

test('IPv4 and IPv6 connections of one tenant run side by side', async () => {
  const up6 = await echo6();
  const up4 = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => up4.listen(0, '127.0.0.1', () => r()));
  const port4 = (up4.address() as { port: number }).port;
  const t = setup6();
  try {
    const a = t.client.tcp.connect({ host: '::1', port: up6.port });
    const b = t.client.tcp.connect({ host: '127.0.0.1', port: port4 });
    await Promise.all([connected(a), connected(b)]);
    const ga = readAll(a);
    const gb = readAll(b);
    a.end('six');
    b.end('four');
    assert.deepEqual([String(await ga), String(await gb)], ['six', 'four']);
  } finally {
    t.close();
    up6.close();
    up4.close();
  }
});

test('ICMPv6 echo requests are answered by the device; IPv6 UDP is dropped and counted', async () => {
  const t = setup6();
  try {
    const r = await t.client.ping('2001:db8::9', { timeoutMs: 1000 });
    assert.ok(r.rttMs >= 0);
    assert.equal(t.egress.stats.icmp.echoReplies, 1);
    const s = t.client.udp.bind(0);
    s.send('x', 53, '2001:db8::53');
    await until(() => t.egress.stats.drops.unsupported === 1, 1000, 'the drop');
    s.close();
  } finally {
    t.close();
  }
});

test('below an MTU of 1280 the device takes no IPv6', () => {
  const egress = new EgressDevice({ mtu: 1000 });
  const client = new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1' });
  let h: ((p: Uint8Array) => void) | undefined;
  const detach = egress.connectL3({
    setHandler: (fn) => {
      h = fn;
    },
    send: (p) => client.send(p),
    addr: () => client.addr(),
    setAddr: () => {},
    close: () => {},
  });
  h?.(buildPacket({ src: 'fd00::2', dst: '2001:db8::1', tcp: { srcPort: 1000, dstPort: 80, flags: 2 } }));
  assert.equal(egress.stats.drops.unsupported, 1);
  assert.equal(egress.stats.tcp.opened, 0);
  detach();
  client.close();
  egress.close();
});
