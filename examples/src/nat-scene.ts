/**
 * The NAT part of the demo: two tenants with the same inside address (192.168.1.10) behind one
 * NAT reach a virtual server outside; the conntrack table shows them apart.
 */
import { type Capture, type Clock, connectL3, VirtualHost } from '@l3kit/core';
import { Nat } from '@l3kit/nat';

/** What the NAT scene did. */
export interface NatSceneResult {
  /** The UDP echo each tenant got back, e.g. `tenant 1: hello from tenant 1`. */
  replies: string[];
  /** Source ports the server saw, one per tenant (different: each tenant got its own mapping). */
  serverSawPorts: number[];
  /** `nat.formatConntrack()` after the exchange. */
  conntrack: string;
}

/** Runs the scene; packets are recorded (and printed) through `cap`. */
export async function runNatScene(
  cap: Capture,
  log: (line: string) => void,
  clock: Clock,
): Promise<NatSceneResult> {
  const nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', clock, maintainIntervalMs: 0 });
  const server = new VirtualHost({ name: 'server', addr: '198.51.100.7/24', clock });
  connectL3(nat.outside(), cap.tap(server));
  const serverSawPorts: number[] = [];
  const echo = server.udp.bind(7);
  echo.on('message', (data, from) => {
    serverSawPorts.push(from.port);
    echo.send(data, from.port, from.address);
  });
  const replies: string[] = [];
  const hosts: VirtualHost[] = [];
  try {
    for (const name of ['tenant-a', 'tenant-b']) {
      const host = new VirtualHost({ name, addr: '192.168.1.10/24', clock });
      hosts.push(host);
      const { tenant } = nat.connectL3(cap.tap(host));
      const sock = host.udp.bind(40000);
      const got = new Promise<string>((resolve) =>
        sock.on('message', (d) => resolve(new TextDecoder().decode(d))),
      );
      sock.send(`hello from tenant ${tenant}`, 7, '198.51.100.7');
      const text = await got;
      replies.push(`tenant ${tenant}: ${text}`);
      log(`   ${name} (tenant ${tenant}, 192.168.1.10:40000) got its own echo back: ${JSON.stringify(text)}`);
      const p = await host.ping('198.51.100.7', { size: 8 });
      log(`   ${name} pinged the server through the NAT: reply from ${p.from}, ttl ${p.ttl}`);
    }
    const conntrack = nat.formatConntrack();
    log('   the NAT conntrack table (both tenants use 192.168.1.10:40000; each has its own outside port):');
    for (const line of conntrack.trimEnd().split('\n')) log(`     ${line}`);
    return { replies, serverSawPorts, conntrack };
  } finally {
    for (const h of hosts) h.close();
    server.close();
    nat.close();
  }
}
