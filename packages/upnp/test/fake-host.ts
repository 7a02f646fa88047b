/**
 * A fake {@link NatLocalHost} for unit tests of the local helpers: port forwards in a map (with
 * the NAT's conflict errors and lease expiry on the clock), per-tenant packet delivery, and an
 * optional wire to a device per tenant so a client {@link VirtualHost} can talk to the helper.
 */
import { ConfigError, type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import type {
  CreateMappingOptions,
  ForwardRecord,
  MappingRecord,
  NatLocalHelper,
  NatLocalHost,
  NatTrafficTotals,
  PortForwardOptions,
} from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { assertChecksums, pump } from '@l3kit/testkit';
import { formatIpv4, Ipv4Packet, parseIpv4 } from '@l3kit/wire';
import {
  parseSoapFault,
  parseXml,
  SOAP_ENVELOPE_NS,
  UpnpIgd,
  type UpnpIgdConfig,
  xmlEscape,
} from '../src/index.js';

interface FakeForward {
  rec: ForwardRecord;
  expiresAt: number;
}

/** The fake NAT side. */
export class FakeNatHost implements NatLocalHost {
  readonly clock: ManualClock;
  readonly insideAddress: string;
  readonly insidePrefixLength = 24;
  /** Packets the helper sent, per tenant (copies). */
  readonly sent = new Map<number, Uint8Array[]>();
  /** Outside ports held by "something else" (static forwards, dynamic mappings): `proto/port`. */
  readonly busy = new Set<string>();
  readonly totals: NatTrafficTotals = { packetsOut: 11, packetsIn: 22, bytesOut: 3300, bytesIn: 4400 };
  /** Forward events, in order. */
  readonly log: string[] = [];
  private readonly forwards = new Map<string, FakeForward>();
  private readonly devices = new Map<number, L3Device>();
  private readonly tenants = new Set<number>([0]);
  private helper: NatLocalHelper | undefined;
  private readonly externals = new Map<number, string>();
  /** Paired pool addresses (RFC 4787 REQ-2) by `tenant/insideIp`; others use the tenant's address. */
  readonly paired = new Map<string, string>();
  closed = false;

  constructor(opts: { clock?: ManualClock; insideAddress?: string } = {}) {
    this.clock = opts.clock ?? new ManualClock(1_000_000);
    this.insideAddress = opts.insideAddress ?? '192.168.1.1';
  }

  /** Installs a helper as the NAT would. */
  install(h: NatLocalHelper): void {
    this.helper = h;
    h.attach(this);
  }

  /** Adds a tenant with its own external address (default 203.0.113.(tenant+1)). */
  addTenant(t: number, external?: string): void {
    this.tenants.add(t);
    this.externals.set(t, external ?? `203.0.113.${t + 1}`);
  }

  removeTenant(t: number): void {
    this.tenants.delete(t);
    this.devices.delete(t);
    for (const [k, f] of this.forwards) if (f.rec.tenant === t) this.forwards.delete(k);
    this.helper?.onTenantRemoved?.(t);
  }

  /**
   * Wires `dev` as tenant `t`'s inside network: its packets to the inside address or a helper's
   * multicast group go to the helper; the helper's packets for `t` go to `dev`.
   */
  connect(t: number, dev: L3Device): void {
    if (!this.tenants.has(t)) this.addTenant(t);
    this.devices.set(t, dev);
    const inside = parseIpv4(this.insideAddress) as number;
    dev.setHandler((pkt) => {
      const p = Ipv4Packet.checked(pkt);
      if (!p || !this.helper) return;
      const dst = p.dst >>> 0;
      if (dst === inside >>> 0 || dst >>> 28 === 14) this.helper.onLocalPacket(pkt.slice(), t);
    });
  }

  externalAddress(tenant = 0, insideIp?: string): string {
    if (!this.tenants.has(tenant)) throw new ConfigError('ERR_NO_SUCH_TENANT', `no tenant ${tenant}`);
    const own = insideIp === undefined ? undefined : this.paired.get(`${tenant}/${insideIp}`);
    return own ?? this.externals.get(tenant) ?? '203.0.113.1';
  }

  tenantIds(): number[] {
    return [...this.tenants];
  }

  trafficTotals(): NatTrafficTotals {
    return { ...this.totals };
  }

  sendInside(pkt: Uint8Array, tenant = 0): void {
    assertChecksums(pkt, 'packet sent by the helper');
    const l = this.sent.get(tenant) ?? [];
    this.sent.set(tenant, l);
    l.push(pkt.slice());
    const d = this.devices.get(tenant);
    if (d) d.send(pkt.slice());
  }

  /** Takes (and clears) what was sent to `tenant`. */
  take(tenant = 0): Uint8Array[] {
    const l = this.sent.get(tenant) ?? [];
    this.sent.set(tenant, []);
    return l;
  }

  private key(proto: number, port: number, ip: string): string {
    return `${ip}/${proto}/${port}`;
  }

  private expire(): void {
    const now = this.clock.now();
    for (const [k, f] of this.forwards)
      if (f.expiresAt <= now) {
        this.forwards.delete(k);
        this.log.push(`expired ${k}`);
      }
  }

  addPortForward(o: PortForwardOptions): ForwardRecord {
    if (this.closed) throw new ConfigError('ERR_CLOSED', 'Nat is closed');
    this.expire();
    const ip = o.outsideIp ?? '203.0.113.1';
    const k = this.key(o.proto, o.outsidePort, ip);
    if (this.forwards.has(k)) throw new ConfigError('ERR_FORWARD_CONFLICT', `${k} is already forwarded`);
    if (this.busy.has(`${o.proto}/${o.outsidePort}`))
      throw new ConfigError('ERR_PORT_IN_USE', `${k} is in use`);
    if (o.tenant !== undefined && !this.tenants.has(o.tenant))
      throw new ConfigError('ERR_NO_SUCH_TENANT', `no tenant ${o.tenant}`);
    const rec: ForwardRecord = {
      proto: o.proto,
      outsideIp: ip,
      outsidePort: o.outsidePort,
      insideIp: formatIpv4(parseIpv4(o.insideIp) as number),
      insidePort: o.insidePort,
      tenant: o.tenant ?? 0,
      origin: o.origin ?? 'static',
    };
    if (o.description !== undefined) rec.description = o.description;
    const lease = o.leaseMs ?? 0;
    this.forwards.set(k, { rec, expiresAt: lease > 0 ? this.clock.now() + lease : Number.POSITIVE_INFINITY });
    this.log.push(`add ${k}`);
    return { ...rec };
  }

  removePortForward(proto: number, outsidePort: number, outsideIp = '203.0.113.1'): boolean {
    this.expire();
    const k = this.key(proto, outsidePort, outsideIp);
    const ok = this.forwards.delete(k);
    if (ok) this.log.push(`remove ${k}`);
    return ok;
  }

  updatePortForward(
    proto: number,
    outsidePort: number,
    changes: { leaseMs?: number; description?: string },
    outsideIp = '203.0.113.1',
  ): ForwardRecord | undefined {
    this.expire();
    const k = this.key(proto, outsidePort, outsideIp);
    const f = this.forwards.get(k);
    if (!f) return undefined;
    if (changes.leaseMs !== undefined)
      f.expiresAt = changes.leaseMs > 0 ? this.clock.now() + changes.leaseMs : Number.POSITIVE_INFINITY;
    if (changes.description !== undefined) f.rec.description = changes.description;
    this.log.push(`update ${k}`);
    return { ...f.rec };
  }

  listPortForwards(): ForwardRecord[] {
    this.expire();
    const now = this.clock.now();
    return [...this.forwards.values()].map((f) => {
      const r: ForwardRecord = { ...f.rec };
      if (f.expiresAt !== Number.POSITIVE_INFINITY) r.expiresInMs = f.expiresAt - now;
      return r;
    });
  }

  allocOutsidePort(): { ip: string; port: number } {
    throw new ConfigError('ERR_UNSUPPORTED', 'fake host: allocOutsidePort');
  }

  releaseOutsidePort(): boolean {
    return false;
  }

  createMapping(_o: CreateMappingOptions): MappingRecord {
    throw new ConfigError('ERR_UNSUPPORTED', 'fake host: createMapping');
  }
}

/** A fake NAT with an IGD and one client host (192.168.1.10, tenant 0) on a manual scheduler. */
export function igdRig(config: UpnpIgdConfig = {}) {
  const sched = new ManualScheduler(new ManualClock(1_000_000));
  const host = new FakeNatHost({ clock: sched.clock });
  const igd = new UpnpIgd({ scheduler: sched, random: () => 0.5, notifyIntervalMs: 0, ...config });
  host.install(igd);
  const client = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', scheduler: sched });
  host.connect(0, client);
  return { sched, host, igd, client };
}

/** A parsed HTTP response. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
  raw: string;
}

/** Parses an HTTP response (status line, headers, body). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const lines = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0) headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
  }
  return { status, headers, body: end < 0 ? '' : raw.slice(end + 4), raw };
}

/**
 * Opens a TCP connection from `from` to the IGD, writes `parts` (one write each, `gapMs` of
 * virtual time apart) and returns what came back once the IGD closed the connection.
 */
export async function rawHttp(
  rig: { sched: ManualScheduler; client: VirtualHost },
  parts: Array<string | Buffer> | string,
  opts: { from?: VirtualHost; port?: number; gapMs?: number; maxMs?: number } = {},
): Promise<RawResponse> {
  const from = opts.from ?? rig.client;
  const sock = from.tcp.connect({ host: '192.168.1.1', port: opts.port ?? 5000 });
  const got: Buffer[] = [];
  let closed = false;
  sock.on('data', (d: Buffer) => got.push(d));
  sock.on('end', () => {
    closed = true;
  });
  sock.on('close', () => {
    closed = true;
  });
  sock.on('error', () => {
    closed = true;
  });
  const list = typeof parts === 'string' ? [parts] : parts;
  for (let i = 0; i < list.length; i++) {
    if (closed) break;
    sock.write(list[i]);
    if (opts.gapMs && i < list.length - 1)
      await pump(rig.sched, () => false, opts.gapMs, 10).catch(() => undefined);
  }
  await pump(rig.sched, () => closed, opts.maxMs ?? 120_000);
  sock.destroy();
  return parseResponse(Buffer.concat(got).toString('utf8'));
}

/** Service types by control path. */
export const SERVICES = {
  ipc1: { path: '/ctl/IPConn', type: 'urn:schemas-upnp-org:service:WANIPConnection:1' },
  ipc2: { path: '/ctl/IPConn', type: 'urn:schemas-upnp-org:service:WANIPConnection:2' },
  cic: { path: '/ctl/CmnIfCfg', type: 'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1' },
} as const;

/** Builds a SOAP control request. */
export function soapRequest(
  path: string,
  serviceType: string,
  action: string,
  args: Array<[string, string | number]>,
): string {
  const inner = args.map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`).join('');
  const body =
    `<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="${SOAP_ENVELOPE_NS}" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` +
    `<s:Body><u:${action} xmlns:u="${serviceType}">${inner}</u:${action}></s:Body></s:Envelope>\r\n`;
  return (
    `POST ${path} HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nContent-Type: text/xml; charset="utf-8"\r\n` +
    `SOAPAction: "${serviceType}#${action}"\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** What a SOAP call returned: HTTP status, UPnP error code (0 when none) and output arguments. */
export interface SoapOutcome {
  status: number;
  error: number;
  out: Map<string, string>;
  body: string;
}

/** Runs one SOAP action from `from` (default: the rig's client) and reads the answer back. */
export async function soapCall(
  rig: { sched: ManualScheduler; client: VirtualHost },
  service: { path: string; type: string },
  action: string,
  args: Array<[string, string | number]> = [],
  from?: VirtualHost,
): Promise<SoapOutcome> {
  const r = await rawHttp(rig, soapRequest(service.path, service.type, action, args), { from });
  const out = new Map<string, string>();
  if (r.status === 500) {
    const f = parseSoapFault(r.body);
    if (!f) throw new Error(`HTTP 500 without a UPnP fault: ${r.body}`);
    return { status: r.status, error: f.code, out, body: r.body };
  }
  if (r.status === 200) {
    const p = parseXml(r.body);
    if (!p.ok) throw new Error(`bad response XML: ${p.error}`);
    const body = p.root.children.find((c) => c.name === 'Body');
    const resp = body?.children[0];
    if (!resp || resp.name !== `${action}Response` || resp.ns !== service.type)
      throw new Error(`unexpected response element ${resp?.name}`);
    for (const c of resp.children) out.set(c.name, c.text);
  }
  return { status: r.status, error: 0, out, body: r.body };
}

/** AddPortMapping arguments with defaults (client 192.168.1.10, TCP 8080 → 8080, 1 h). */
export function mappingArgs(over: Record<string, string | number> = {}): Array<[string, string | number]> {
  const a: Record<string, string | number> = {
    NewRemoteHost: '',
    NewExternalPort: 8080,
    NewProtocol: 'TCP',
    NewInternalPort: 8080,
    NewInternalClient: '192.168.1.10',
    NewEnabled: 1,
    NewPortMappingDescription: 'test',
    NewLeaseDuration: 3600,
    ...over,
  };
  return Object.entries(a);
}
