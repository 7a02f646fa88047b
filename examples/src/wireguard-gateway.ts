/**
 * A WireGuard gateway in one process: WireGuard peers with the same tunnel address become
 * separate tenants of one NAT, a port forward publishes a server that runs behind one peer, and
 * `wg show`-like peer info and the conntrack table show the state. The peers' datagrams cross an
 * in-memory underlay; swap `transport` for a real UDP port (`listenPort: 51820`) and the NAT's
 * outside for a `TunDevice` to run it for real (that is what `l3kit gateway` does).
 *
 * Run it: node examples/dist/wireguard-gateway.js        (exits 1 if a step fails)
 */
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { genkey, pubkey, WireGuardServer } from '@l3kit/wireguard';
import { runMain } from './example-util.js';
import { MemoryUnderlay } from './wireguard-scene.js';

/** What the example did. */
export interface WireGuardGatewayResult {
  /** Text each laptop read from the outside server (`<name> seen as 203.0.113.1:<port>`). */
  outbound: string[];
  /** What the outside client read from the server published behind bob's tunnel. */
  published: string;
  conntrack: string;
}

function readAll(sock: ReturnType<VirtualHost['tcp']['connect']>): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      text += d;
    });
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
}

/** Runs the example; `log` gets the narration. */
export async function runWireGuardGateway(
  log: (line: string) => void = () => {},
): Promise<WireGuardGatewayResult> {
  const underlay = new MemoryUnderlay();
  const nat = new Nat({ inside: '10.0.0.1/24', outside: '203.0.113.1/24', type: 'port-restricted-cone' });
  const gatewayKey = genkey();
  const gateway = new WireGuardServer({
    privateKey: gatewayKey,
    connector: nat,
    transport: underlay.transport('192.0.2.1', 51820),
  });
  underlay.attach('192.0.2.1', 51820, gateway);
  gateway.on('handshake', (peer) => log(`handshake with ${peer.publicKey.slice(0, 8)}…`));

  // Outside: a TCP service that tells each client where it came from.
  const internet = new VirtualHost({ addr: '203.0.113.80/24', gateway: '203.0.113.1' });
  connectL3(nat.outside(), internet);
  internet.tcp.listen(7000, (s) => s.end(`seen as ${s.remoteAddress}:${s.remotePort}`));

  const closers: Array<() => void> = [];
  try {
    const laptops = new Map<string, VirtualHost>();
    for (const [i, name] of ['alice', 'bob'].entries()) {
      const key = genkey();
      const host = new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1' });
      const client = new WireGuardServer({
        privateKey: key,
        transport: underlay.transport(`192.0.2.${10 + i}`, 51820),
        connector: {
          connectL3: (peer) => {
            connectL3(peer, host);
            return () => {};
          },
        },
      });
      underlay.attach(`192.0.2.${10 + i}`, 51820, client);
      client.addPeer({
        publicKey: pubkey(gatewayKey),
        allowedIps: ['0.0.0.0/0'],
        endpoint: '192.0.2.1:51820',
      });
      const peer = gateway.addPeer({ publicKey: pubkey(key), allowedIps: ['10.0.0.2/32'] });
      log(`${name}: tunnel address 10.0.0.2, NAT tenant ${nat.tenantOf(peer)}`);
      laptops.set(name, host);
      closers.push(
        () => client.close(),
        () => host.close(),
      );
    }

    const outbound: string[] = [];
    for (const [name, host] of laptops) {
      const text = await readAll(host.tcp.connect({ host: '203.0.113.80', port: 7000 }));
      outbound.push(`${name} ${text}`);
      log(`${name} -> 203.0.113.80:7000: ${text}`);
    }

    // Publish bob's web server: outside port 8080 -> bob's tenant, 10.0.0.2:80.
    const bob = laptops.get('bob') as VirtualHost;
    bob.tcp.listen(80, (s) => s.end("bob's server, reached through a port forward"));
    const bobTenant = nat.tenantOf(gateway.listPeers()[1]) as number;
    nat.addPortForward({
      proto: 6,
      outsidePort: 8080,
      insideIp: '10.0.0.2',
      insidePort: 80,
      tenant: bobTenant,
    });
    const published = await readAll(internet.tcp.connect({ host: '203.0.113.1', port: 8080 }));
    log(`203.0.113.80 -> 203.0.113.1:8080 (forward to tenant ${bobTenant}): ${published}`);

    for (const p of gateway.listPeers()) {
      const info = p.info();
      log(
        `peer ${info.publicKey.slice(0, 8)}…  endpoint ${info.endpoint?.address}:${info.endpoint?.port}  ` +
          `allowed ips ${info.allowedIps.join(',')}  rx ${info.stats.rxBytes} B  tx ${info.stats.txBytes} B`,
      );
    }
    const conntrack = nat.formatConntrack();
    for (const line of conntrack.trimEnd().split('\n')) log(`  ${line}`);
    return { outbound, published, conntrack };
  } finally {
    for (const c of closers) c();
    gateway.close();
    internet.close();
    nat.close();
  }
}

await runMain(import.meta.url, 'wireguard gateway example', () => runWireGuardGateway((l) => console.log(l)));
