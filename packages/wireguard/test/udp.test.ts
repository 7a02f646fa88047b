import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectL3, type L3Device, VirtualHost } from '@l3kit/core';
import { genkey, pubkey } from '../src/keys.js';
import { WireGuardServer } from '../src/server.js';

describe('WireGuardServer over real UDP sockets', () => {
  it('tunnels between two l3kit instances over loopback (client with an endpoint, server without)', async () => {
    const kServer = genkey();
    const kClient = genkey();
    const serverHost = new VirtualHost({ addr: '10.1.0.1/24' });
    const clientHost = new VirtualHost({ addr: '10.1.0.2/24' });
    const attach = (h: VirtualHost) => ({
      connectL3(dev: L3Device) {
        connectL3(h, dev);
        return () => {};
      },
    });
    const server = new WireGuardServer({
      privateKey: kServer,
      listenPort: 0,
      listenAddress: '127.0.0.1',
      connector: attach(serverHost),
    });
    const client = new WireGuardServer({
      privateKey: kClient,
      listenPort: 0,
      listenAddress: '127.0.0.1',
      connector: attach(clientHost),
    });
    try {
      await Promise.all([server.ready, client.ready]);
      assert.ok(server.port > 0);
      const handshakes: boolean[] = [];
      server.on('handshake', (_p, init) => handshakes.push(init));
      server.addPeer({ publicKey: pubkey(kClient), allowedIps: ['10.1.0.2/32'] });
      client.addPeer({
        publicKey: pubkey(kServer),
        allowedIps: ['10.1.0.0/24'],
        endpoint: `127.0.0.1:${server.port}`,
      });
      const r = await clientHost.ping('10.1.0.1', { timeoutMs: 3000 });
      assert.equal(r.from, '10.1.0.1');
      const r2 = await serverHost.ping('10.1.0.2', { timeoutMs: 3000 });
      assert.equal(r2.from, '10.1.0.2');
      assert.deepEqual(handshakes, [false]);
      const sp = server.peer(pubkey(kClient));
      assert.equal(sp?.endpoint?.port, client.port, 'server learned the client endpoint by roaming');
      assert.ok((sp?.info().stats.rxPackets ?? 0) >= 2);
    } finally {
      server.close();
      client.close();
    }
  });
});
