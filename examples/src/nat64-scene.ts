/**
 * The NAT64 part of the demo: an IPv6-only host pings an IPv4-only server through a stateful
 * NAT64 (RFC 6146). The server's address is embedded under a network-specific RFC 6052 prefix
 * (2001:db8:64::/96): the Well-Known Prefix 64:ff9b::/96 must not carry non-global IPv4
 * addresses such as the documentation range used here (RFC 6052 §3.1).
 */
import { type Capture, type Clock, connectL3, VirtualHost } from '@l3kit/core';
import { Nat64 } from '@l3kit/nat';

/** What the NAT64 scene did. */
export interface Nat64SceneResult {
  /** The address the echo reply came from, as the IPv6 host saw it (the server under the prefix). */
  replyFrom: string;
}

/** Runs the scene; packets are recorded (and printed) through `cap`. */
export async function runNat64Scene(
  cap: Capture,
  log: (line: string) => void,
  clock: Clock,
): Promise<Nat64SceneResult> {
  const nat64 = new Nat64({
    prefix: '2001:db8:64::/96',
    inside: '2001:db8:1::1/64',
    outside: '203.0.113.1/24',
    clock,
    maintainIntervalMs: 0,
  });
  const client = new VirtualHost({ name: 'v6-only-client', addr: '2001:db8:1::10/64', clock });
  const server = new VirtualHost({ name: 'v4-only-server', addr: '198.51.100.7/24', clock });
  try {
    connectL3(cap.tap(client), nat64.inside());
    connectL3(nat64.outside(), cap.tap(server));
    const target = nat64.ipv6Of('198.51.100.7');
    log(`   v6-only-client (2001:db8:1::10) pings v4-only-server (198.51.100.7) as ${target}`);
    const p = await client.ping(target, { size: 8 });
    log(
      `   echo reply from ${p.from}, hop limit ${p.ttl}: the server saw the NAT64's pool address 203.0.113.1`,
    );
    log('   the NAT64 session table:');
    for (const line of nat64.formatConntrack().trimEnd().split('\n')) log(`     ${line}`);
    return { replyFrom: p.from };
  } finally {
    client.close();
    server.close();
    nat64.close();
  }
}
