/** Shared test fixtures: an in-process gateway with a WireGuard client and a server outside. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectL3, pipeL3 } from '@l3kit/core';
import { type UdpSocket, VirtualHost } from '@l3kit/stack';
import { assertChecksums, waitFor as pollUntil } from '@l3kit/testkit';
import { genkey, pubkey, type UdpTransport, WireGuardServer } from '@l3kit/wireguard';
import type { GatewayConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { Logger } from '../src/log.js';

/** Datagrams between in-process WireGuard interfaces, delivered on a later event-loop turn. */
export class Fabric {
  readonly ends = new Map<string, WireGuardServer>();
  transport(address: string, port: number): UdpTransport {
    return {
      send: (msg, toPort, toAddress) => {
        const copy = Uint8Array.from(msg);
        setImmediate(() => this.ends.get(`${toAddress}:${toPort}`)?.receive(copy, address, port));
      },
      close: () => {},
    };
  }
}

/** A fresh temporary directory. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'l3kit-cli-'));
}

/** A valid minimal config with one peer (tenant 1, no endpoint: it is learnt from its handshake). */
export function baseConfig(
  peerPub: string,
  serverKey: string,
  extra: Partial<GatewayConfig> = {},
): GatewayConfig {
  return {
    nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' },
    wireguard: {
      privateKey: serverKey,
      listenPort: 51820,
      peers: [{ name: 'alice', publicKey: peerPub, allowedIps: ['10.0.0.2/32', 'fd00::2/128'], tenant: 1 }],
    },
    ...extra,
  };
}

/** A gateway in process: WireGuard client host 10.0.0.2, uplink to a server 203.0.113.80. */
export interface Rig {
  gw: Gateway;
  client: VirtualHost;
  server: VirtualHost;
  /** Every packet the gateway sent up the uplink (copies). */
  uplinkOut: Uint8Array[];
  logLines: string[];
  config: GatewayConfig;
  clientWg: WireGuardServer;
  fabric: Fabric;
  /** Delivers a packet to the gateway as if it arrived on the uplink. */
  injectFromUplink(pkt: Uint8Array): void;
  close(): void;
}

/** Starts a {@link Rig}. `configure` may change the config before the start. */
export async function startRig(
  configure: (c: GatewayConfig) => GatewayConfig = (c) => c,
  keys?: {
    server: string;
    client: string;
  },
): Promise<Rig> {
  const serverKey = keys?.server ?? genkey();
  const clientKey = keys?.client ?? genkey();
  const config = configure(baseConfig(pubkey(clientKey), serverKey));
  const fabric = new Fabric();
  const [up, down] = pipeL3();
  const server = new VirtualHost({ addr: '203.0.113.80/24', addr6: undefined });
  const uplinkOut: Uint8Array[] = [];
  const tapDown = {
    setHandler: (h: (p: Uint8Array) => void) =>
      down.setHandler((p) => {
        uplinkOut.push(Uint8Array.from(p));
        assertChecksums(p, 'packet the gateway sent up the uplink');
        h(p);
      }),
    send: (p: Uint8Array) => down.send(p),
    addr: () => down.addr(),
    setAddr: (x: Parameters<typeof down.setAddr>[0]) => down.setAddr(x),
    close: () => down.close(),
  };
  connectL3(tapDown, server);
  const logLines: string[] = [];
  const gw = await Gateway.start({
    config,
    uplink: up,
    wireguardTransport: fabric.transport('192.0.2.1', 51820),
    log: new Logger({ level: 'debug', write: (l) => logLines.push(l) }),
  });
  if (gw.wireguard) fabric.ends.set('192.0.2.1:51820', gw.wireguard);
  const client = new VirtualHost({
    addr: '10.0.0.2/24',
    gateway: '10.0.0.1',
    addr6: 'fd00::2/64',
    gateway6: 'fd00::1',
  });
  const clientWg = new WireGuardServer({
    privateKey: clientKey,
    transport: fabric.transport('192.0.2.10', 51820),
    connector: {
      connectL3: (peer) => {
        // Everything the gateway delivers through the tunnel is checked independently too.
        peer.setHandler((p) => {
          assertChecksums(p, 'packet the gateway sent into the tunnel');
          client.send(p);
        });
        client.setHandler((p) => peer.send(p));
        return () => {};
      },
    },
  });
  fabric.ends.set('192.0.2.10:51820', clientWg);
  clientWg.addPeer({
    publicKey: gw.wireguard?.publicKey ?? pubkey(serverKey),
    allowedIps: ['0.0.0.0/0', '::/0'],
    endpoint: '192.0.2.1:51820',
  });
  return {
    gw,
    client,
    server,
    uplinkOut,
    logLines,
    config,
    clientWg,
    fabric,
    injectFromUplink: (p) => down.send(p),
    close() {
      clientWg.close();
      client.close();
      server.close();
      gw.stop({ snapshot: false });
    },
  };
}

/** Resolves with the first UDP datagram `sock` receives (as text and sender port). */
export function nextMessage(sock: UdpSocket): Promise<{ text: string; port: number; address: string }> {
  return new Promise((resolve) =>
    sock.once('message', (d, from) =>
      resolve({ text: new TextDecoder().decode(d), port: from.port, address: from.address }),
    ),
  );
}

/** Resolves with the bytes of the first datagram `sock` receives. */
export function nextRaw(sock: UdpSocket): Promise<Uint8Array> {
  return new Promise((resolve) => sock.once('message', (d) => resolve(new Uint8Array(d))));
}

/** Gives the first peer of `c` the client's endpoint, so the gateway can initiate handshakes. */
export function withClientEndpoint(c: GatewayConfig): GatewayConfig {
  const wg = c.wireguard as NonNullable<GatewayConfig['wireguard']>;
  return {
    ...c,
    wireguard: { ...wg, peers: [{ ...wg.peers[0], endpoint: '192.0.2.10:51820' }, ...wg.peers.slice(1)] },
  };
}

/** Polls `check` every 5 ms (a ref'd timer keeps the test alive) until true; throws after 5 s. */
export function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  return pollUntil(check, { timeoutMs });
}
