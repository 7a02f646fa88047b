import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectL3, type L3Connector, type L3Device, VirtualHost } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { verifyPacket } from '@l3kit/testkit';
import { MessageType } from '../src/constants.js';
import type { WireGuardServer } from '../src/server.js';
import { MemoryNet, manual, memServer } from './helpers.js';

/** A connector that wires the peer to one virtual host (a client's inside network). */
function hostConnector(host: VirtualHost): L3Connector {
  return {
    connectL3(dev: L3Device) {
      connectL3(host, dev);
      return () => dev.setHandler(() => {});
    },
  };
}

describe('WireGuard tenants behind an l3kit NAT', () => {
  it('gives two clients with the same inside address their own replies from an outside host', async () => {
    const sched = manual();
    const clock = sched.clock;
    const net = new MemoryNet();
    const nat = new Nat({ inside: '10.0.0.1/24', outside: '203.0.113.1/24', clock, maintainIntervalMs: 0 });
    const outside = new VirtualHost({ addr: '203.0.113.2/24', clock, scheduler: sched });
    const badOut: string[] = [];
    nat.outside().setHandler((p) => {
      const r = verifyPacket(p);
      if (!r.ok) badOut.push(JSON.stringify(r));
      outside.send(p);
    });
    outside.setHandler((p) => nat.outside().send(p));
    const echo = outside.udp.bind(7);
    const seen: string[] = [];
    echo.on('message', (data, r) => {
      seen.push(`${r.address}:${r.port}`);
      echo.send(data, r.port, r.address);
    });

    const gw = memServer(net, sched, '192.0.2.1', 51820, { connector: nat });
    const clients = ['one', 'two'].map((name, i) => {
      const host = new VirtualHost({ addr: '10.0.0.2/24', clock, scheduler: sched, name });
      const c = memServer(net, sched, `198.51.100.${i + 10}`, 40000, { connector: hostConnector(host) });
      c.server.addPeer({ publicKey: gw.pub, allowedIps: ['0.0.0.0/0'], endpoint: '192.0.2.1:51820' });
      const peer = gw.server.addPeer({ publicKey: c.pub, allowedIps: ['10.0.0.2/32'] });
      const sock = host.udp.bind(5000);
      const got: string[] = [];
      sock.on('message', (data) => got.push(new TextDecoder().decode(data)));
      return { name, host, c, peer, sock, got };
    });

    // both ping at once
    const pings = clients.map((c) => c.host.ping('203.0.113.2', { timeoutMs: 2000 }));
    const results = await Promise.all(pings);
    for (const r of results) assert.equal(r.from, '203.0.113.2');

    for (const c of clients) c.sock.send(`hello from ${c.name}`, 7, '203.0.113.2');
    for (const c of clients) assert.deepEqual(c.got, [`hello from ${c.name}`]);
    // the NAT gave the two tenants distinct outside ports
    assert.equal(new Set(seen).size, 2);
    assert.deepEqual(badOut, []);
    assert.equal(gw.server.stats.unknownIndex, 0);

    // removing a peer cuts it off and frees its NAT tenant; the other keeps working
    const [one, two] = clients;
    assert.equal(gw.server.removePeer(one.c.pub), true);
    await assert.rejects(
      (async () => {
        const p = one.host.ping('203.0.113.2', { timeoutMs: 1000 });
        sched.advance(1001);
        await p;
      })(),
      { code: 'ERR_PING_TIMEOUT' },
    );
    two.sock.send('still here', 7, '203.0.113.2');
    assert.deepEqual(two.got, ['hello from two', 'still here']);
    assert.ok(net.ofType(MessageType.Transport).length > 0);
    void (gw.server as WireGuardServer);
  });
});
