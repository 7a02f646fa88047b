/** Prometheus text exposition (format 0.0.4) of the gateway's counters, and its HTTP endpoint. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '@l3kit/core';
import type { GatewayStats, NatCounters } from './gateway.js';

type Labels = Record<string, string | number>;

class Exposition {
  private readonly lines: string[] = [];
  metric(name: string, type: 'counter' | 'gauge', help: string, samples: Array<[Labels, number]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels)
        .map(
          ([k, x]) => `${k}="${String(x).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`,
        )
        .join(',');
      this.lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : 0}`);
    }
  }
  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** Renders the gateway's stats as Prometheus text. */
export function renderMetrics(s: GatewayStats): string {
  const x = new Exposition();
  const nats: Array<[string, NatCounters]> = [['nat44', s.nat]];
  if (s.nat64) nats.push(['nat64', s.nat64]);
  x.metric('l3kit_uptime_seconds', 'gauge', 'Seconds since the gateway started.', [[{}, s.uptimeSeconds]]);
  for (const [unit, out, inn] of [
    ['packets', 'packetsOut', 'packetsIn'],
    ['bytes', 'bytesOut', 'bytesIn'],
  ] as const)
    x.metric(
      `l3kit_nat_${unit}_total`,
      'counter',
      `${unit[0].toUpperCase()}${unit.slice(1)} translated, by NAT and direction.`,
      nats.flatMap(([nat, n]) => [
        [{ nat, direction: 'out' }, n[out]] as [Labels, number],
        [{ nat, direction: 'in' }, n[inn]] as [Labels, number],
      ]),
    );
  x.metric(
    'l3kit_nat_drops_total',
    'counter',
    'Packets dropped, by NAT and reason.',
    nats.flatMap(([nat, n]) =>
      Object.entries(n.drops).map(([reason, v]) => [{ nat, reason }, v] as [Labels, number]),
    ),
  );
  x.metric(
    'l3kit_nat_mappings_created_total',
    'counter',
    'Mappings created, by NAT.',
    nats.map(([nat, n]) => [{ nat }, n.mappingsCreated]),
  );
  x.metric(
    'l3kit_nat_sessions',
    'gauge',
    'Live sessions, by NAT.',
    nats.map(([nat, n]) => [{ nat }, n.activeSessions]),
  );
  const names = new Map(s.tenants.map((t) => [String(t.tenant), t.name]));
  x.metric(
    'l3kit_nat_mappings',
    'gauge',
    'Live mappings per tenant (NAT44 connections and NAT64 bindings).',
    Object.entries(s.mappingsPerTenant).map(([tenant, v]) => [{ tenant, name: names.get(tenant) ?? '' }, v]),
  );
  x.metric(
    'l3kit_alg_rewrites_total',
    'counter',
    'Packets rewritten by each ALG helper.',
    Object.entries(s.helperRewrites).map(([helper, v]) => [{ helper }, v]),
  );
  x.metric(
    'l3kit_port_control_requests_total',
    'counter',
    'UPnP IGD, PCP and NAT-PMP requests answered, by protocol, action and result.',
    Object.entries(s.portControlRequests).map(([k, v]) => {
      const [protocol, action, result] = k.split(' ');
      return [{ protocol, action, result }, v];
    }),
  );
  x.metric(
    'l3kit_nat_forwards',
    'gauge',
    'Port forwards, by origin (config, upnp, pcp, natpmp).',
    Object.entries(s.forwardsByOrigin).map(([origin, v]) => [{ origin }, v]),
  );
  x.metric(
    'l3kit_wireguard_handshakes_total',
    'counter',
    'Completed WireGuard handshakes, by peer.',
    s.peers.map((p) => [{ peer: p.name, tenant: p.tenant }, p.handshakes]),
  );
  x.metric(
    'l3kit_wireguard_last_handshake_seconds',
    'gauge',
    'Seconds since the last handshake of each peer (absent before the first).',
    s.peers
      .filter((p) => p.lastHandshakeSecondsAgo !== undefined)
      .map((p) => [{ peer: p.name }, p.lastHandshakeSecondsAgo as number]),
  );
  x.metric(
    'l3kit_wireguard_bytes_total',
    'counter',
    'Bytes through each WireGuard peer (decrypted in / encrypted out).',
    s.peers.flatMap((p) => [
      [{ peer: p.name, direction: 'rx' }, p.rxBytes] as [Labels, number],
      [{ peer: p.name, direction: 'tx' }, p.txBytes] as [Labels, number],
    ]),
  );
  if (s.wireguard)
    x.metric(
      'l3kit_wireguard_drops_total',
      'counter',
      'WireGuard datagrams dropped, by reason.',
      Object.entries(s.wireguard)
        .filter(([k]) => k !== 'received' && k !== 'cookieRepliesSent')
        .map(([reason, v]) => [{ reason }, v]),
    );
  x.metric('l3kit_uplink_packets_total', 'counter', 'Packets on the uplink, by direction.', [
    [{ direction: 'in' }, s.uplink.packetsIn],
    [{ direction: 'out' }, s.uplink.packetsOut],
  ]);
  x.metric('l3kit_tenant_drops_total', 'counter', 'Packets from tenants dropped by the gateway, by reason.', [
    [{ reason: 'ipv6-without-nat64' }, s.tenantIpv6Dropped],
  ]);
  x.metric('l3kit_uplink_drops_total', 'counter', 'Packets from the uplink that were not IPv4.', [
    [{}, s.uplink.dropped],
  ]);
  return x.text();
}

/** Serves `GET /metrics` with `render()` on `port` (0: ephemeral) of `host`. */
export async function serveMetrics(
  render: () => string,
  port: number,
  host = '127.0.0.1',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(render());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          'ERR_METRICS_LISTEN',
          `metrics: cannot listen on ${host}:${port}: ${e.code ?? e.message}`,
          {
            cause: e,
          },
        ),
      ),
    );
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
