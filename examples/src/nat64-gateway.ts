/**
 * A NAT64 gateway (RFC 6146 with RFC 7915 translation): an IPv6-only network reaches an
 * IPv4-only server. The IPv6 host addresses the server under a network-specific RFC 6052 prefix
 * (2001:db8:64::/96: the well-known 64:ff9b::/96 must not carry non-global IPv4 addresses such
 * as the documentation range used here), pings it, and fetches a page over TCP with Node's
 * `http` on l3kit's userspace stack. The server sees only the NAT64's IPv4 pool address.
 *
 * Run it: node examples/dist/nat64-gateway.js        (exits 1 if a step fails)
 */
import http from 'node:http';
import { connectL3 } from '@l3kit/core';
import { Nat64 } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { httpRequest, runMain } from './example-util.js';

/** What the example did. */
export interface Nat64GatewayResult {
  /** The IPv6 address of the IPv4 server under the prefix. */
  target: string;
  /** The page the IPv6 host fetched. */
  page: string;
  sessionTable: string;
}

/** Runs the example; `log` gets the narration. */
export async function runNat64Gateway(log: (line: string) => void = () => {}): Promise<Nat64GatewayResult> {
  const nat64 = new Nat64({
    prefix: '2001:db8:64::/96',
    inside: '2001:db8:1::1/64',
    outside: '203.0.113.1/24',
  });
  const v6host = new VirtualHost({ addr6: '2001:db8:1::10/64', gateway6: '2001:db8:1::1' });
  const v4server = new VirtualHost({ addr: '198.51.100.7/24', gateway: '198.51.100.1' });
  connectL3(v6host, nat64.inside());
  connectL3(nat64.outside(), v4server);
  const site = http.createServer((req, res) =>
    res.end(`IPv4-only server; you are ${req.socket.remoteAddress}\n`),
  );
  v4server.tcp.listen(80, (s) => site.emit('connection', s));
  try {
    const target = nat64.ipv6Of('198.51.100.7');
    log(`198.51.100.7 is ${target} for the IPv6-only network`);
    const ping = await v6host.ping(target);
    log(`ping6 ${target}: ${ping.bytes} bytes, rtt ${ping.rttMs.toFixed(2)} ms`);
    const page = (await httpRequest(v6host, new URL(`http://[${target}]/`))).body;
    log(`GET http://[${target}]/ -> ${page.trim()}`);
    const sessionTable = nat64.formatConntrack();
    for (const line of sessionTable.trimEnd().split('\n')) log(`  ${line}`);
    return { target, page, sessionTable };
  } finally {
    v6host.close();
    v4server.close();
    nat64.close();
  }
}

await runMain(import.meta.url, 'nat64 gateway example', () => runNat64Gateway((l) => console.log(l)));
