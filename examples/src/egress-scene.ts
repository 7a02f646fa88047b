/**
 * The egress part of the demo: a tenant without NAT. Its connections are terminated by an
 * `EgressDevice` and leave from this process — directly (`net.connect`, slirp-style) or through a
 * SOCKS5 proxy, chosen by domain name; a third name is denied. Names come from the device's DNS
 * interceptor (fake-IP), so the three names can share one real address and still be told apart.
 */
import http from 'node:http';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Capture, Clock } from '@l3kit/core';
import { buildDnsQuery, DnsType, EgressDevice, encodeSocksAddress, parseDnsAnswers } from '@l3kit/egress';
import { VirtualHost } from '@l3kit/stack';

/** What the egress scene did. */
export interface EgressSceneResult {
  /** Fake addresses the interceptor handed out, by name. */
  addresses: Record<string, string>;
  /** Body fetched from the loopback web server directly (it names the peer it saw). */
  direct: string;
  /** Body fetched through the SOCKS5 proxy. */
  viaSocks: string;
  /** Destinations the SOCKS5 server was asked for (names, not addresses). */
  socksRequests: string[];
  /** The error code the denied fetch failed with (`EACCES`: ICMP administratively prohibited). */
  blocked: string;
}

/** Names the scene uses; all three point at the loopback web server. */
const HOSTS = {
  'web.example': '127.0.0.1',
  'via-socks.example': '127.0.0.1',
  'blocked.example': '127.0.0.1',
};

/** A minimal SOCKS5 server (CONNECT, no authentication) that resolves names from {@link HOSTS}. */
function miniSocks(requests: string[]): Server {
  return createServer((c) => {
    c.on('error', () => {});
    c.once('data', (greeting: Buffer) => {
      if (greeting[0] !== 5) return c.destroy();
      c.write(Buffer.from([5, 0]));
      c.once('data', (req: Buffer) => {
        const t = req[3];
        const alen = t === 1 ? 4 : t === 3 ? 1 + req[4] : 16;
        const host = t === 3 ? req.subarray(5, 5 + req[4]).toString() : req.subarray(4, 8).join('.');
        const port = req.readUInt16BE(4 + alen);
        requests.push(`${host}:${port}`);
        const up: Socket = netConnect({ host: HOSTS[host as keyof typeof HOSTS] ?? host, port });
        up.on('error', () => {
          c.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
        });
        up.once('connect', () => {
          c.write(
            Buffer.concat([
              Buffer.from([5, 0, 0]),
              encodeSocksAddress(up.localAddress ?? '0.0.0.0', up.localPort ?? 0),
            ]),
          );
          up.pipe(c).pipe(up);
        });
      });
    });
  });
}

function listenLocal(s: Server): Promise<number> {
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)),
  );
}

/** Runs the scene; the tenant's packets are recorded through `cap`. */
export async function runEgressScene(
  cap: Capture,
  log: (line: string) => void,
  clock: Clock,
): Promise<EgressSceneResult> {
  const web = http.createServer((req, res) =>
    res.end(`hello ${req.socket.remoteAddress} (${req.headers.host})`),
  );
  const socksRequests: string[] = [];
  const socks = miniSocks(socksRequests);
  const webPort = await listenLocal(web);
  const socksPort = await listenLocal(socks);
  const egress = new EgressDevice({
    clock,
    allowLoopback: true, // the demo's "internet" is this machine's loopback
    dns: { fakeIp: '198.18.0.0/15', hosts: HOSTS },
    proxies: { socks: { type: 'socks5', host: '127.0.0.1', port: socksPort } },
    rules: [
      { domain: 'blocked.example', action: 'deny' },
      { domain: 'via-socks.example', action: 'socks' },
    ],
    defaultAction: 'direct',
  });
  const tenant = new VirtualHost({ addr: '10.9.0.2/24', gateway: '10.9.0.1', clock });
  const detach = egress.connectL3(cap.tap(tenant, 'egress-tenant'), { name: 'tenant' });
  egress.on('connection', (i) => log(`   egress: ${i.name ?? i.dst}:${i.dstPort} (${i.dst}) → ${i.route}`));
  egress.on('deny', (i) => log(`   egress: ${i.name ?? i.dst}:${i.dstPort} denied by rule ${i.rule}`));
  try {
    const addresses: Record<string, string> = {};
    for (const name of Object.keys(HOSTS)) {
      const sock = tenant.udp.bind(0);
      const answer = new Promise<Buffer>((resolve) => sock.once('message', (m) => resolve(m)));
      sock.send(buildDnsQuery(1, name, DnsType.A), 53, '10.9.0.1');
      const parsed = parseDnsAnswers(await answer);
      sock.close();
      const addr = parsed?.answers[0]?.address;
      if (!addr) throw new Error(`no DNS answer for ${name}`);
      addresses[name] = addr;
      log(`   tenant resolved ${name} → ${addr} (fake IP from the interceptor)`);
    }
    const fetch = (name: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = http.get(
          {
            host: name,
            port: webPort,
            path: '/',
            createConnection: () => tenant.tcp.connect({ host: addresses[name], port: webPort }) as never,
          },
          (res) => {
            let body = '';
            res.on('data', (d) => {
              body += d;
            });
            res.on('end', () => resolve(body));
          },
        );
        req.on('error', reject);
      });
    const direct = await fetch('web.example');
    log(`   web.example (direct):      ${direct}`);
    const viaSocks = await fetch('via-socks.example');
    log(`   via-socks.example (SOCKS5): ${viaSocks}; the proxy was asked for ${socksRequests.join(', ')}`);
    let blocked = 'none';
    try {
      await fetch('blocked.example');
    } catch (e) {
      blocked = (e as { code?: string }).code ?? String(e);
    }
    log(`   blocked.example:           refused with ${blocked} (ICMP administratively prohibited)`);
    const s = egress.stats;
    log(`   egress: ${s.tcp.opened} connections, ${s.tcp.denied} denied, ${s.tcp.bytesDown} bytes down`);
    return { addresses, direct, viaSocks, socksRequests, blocked };
  } finally {
    detach();
    tenant.close();
    egress.close();
    web.close();
    socks.close();
  }
}
