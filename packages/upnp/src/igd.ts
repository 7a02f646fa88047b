/**
 * `UpnpIgd`: a UPnP Internet Gateway Device as a local helper of the l3kit NAT — SSDP discovery
 * (M-SEARCH answers, periodic NOTIFY alive, byebye on detach), the device and service
 * descriptions and SOAP control over HTTP served by a per-tenant userspace TCP stack on the NAT's
 * inside address, and port mappings through the shared {@link PortMappingTable}.
 *
 * ```ts
 * const nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24' });
 * nat.addHelper(new UpnpIgd({ version: 1, policy: { maxPerClient: 16 } }));
 * ```
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ConfigError, defaultScheduler, type Scheduler, type TimerHandle, TokenBucket } from '@l3kit/core';
import type { LocalEndpoint, NatLocalHelper, NatLocalHost } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { buildPacket, formatIpv4, Ipv4Packet, parseIpv4, UdpDatagram } from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';
import { type ActionContext, checkArguments, runAction, serviceSpec } from './igd-actions.js';
import {
  buildDeviceDescription,
  buildScpd,
  IGD_PATHS,
  WAN_COMMON_INTERFACE_CONFIG,
  WAN_IP_CONNECTION,
} from './igd-description.js';
import {
  DEFAULT_HTTP_LIMITS,
  type HttpLimits,
  type HttpRequest,
  type HttpResponse,
  type HttpStats,
  hostIsAddress,
  serveHttpConnection,
} from './igd-http.js';
import {
  buildSoapFault,
  buildSoapResponse,
  parseSoapActionHeader,
  parseSoapRequest,
  type UpnpErrorCode,
} from './igd-soap.js';
import { type PortMappingPolicy, PortMappingTable } from './policy.js';
import {
  buildNotifyAlive,
  buildNotifyByebye,
  buildSearchResponse,
  matchSearchTarget,
  parseMSearch,
  parseSsdpMessage,
  SSDP_GROUP,
  SSDP_PORT,
  type SsdpAnnounce,
  type SsdpDeviceInfo,
  ssdpTargets,
} from './ssdp.js';

/** Configuration of {@link UpnpIgd}. Everything is optional. */
export interface UpnpIgdConfig {
  /** The mapping table to use (share one with a `PcpServer`). Default: a new one with `policy`. */
  table?: PortMappingTable;
  /** Policy of the table the IGD creates (ignored when `table` is given). */
  policy?: PortMappingPolicy;
  /** IGD version: 1 (default; many control points break on 2) or 2. */
  version?: 1 | 2;
  /** TCP port of the HTTP server on the inside address. Default 5000. */
  httpPort?: number;
  /** UUID of the root device (the WAN devices' UUIDs derive from it). Default: random. */
  uuid?: string;
  friendlyName?: string;
  manufacturer?: string;
  modelName?: string;
  modelNumber?: string;
  serialNumber?: string;
  /** Period of NOTIFY ssdp:alive, ms; 0 disables. Default 900 000 (half of max-age). */
  notifyIntervalMs?: number;
  /** CACHE-CONTROL max-age of announcements, s. Default 1800. */
  maxAgeSec?: number;
  /** Upper bound of the random delay of a multicast search answer (also bounded by MX). Default 1000 ms. */
  maxResponseDelayMs?: number;
  /** M-SEARCHes accepted per tenant: a token bucket of this burst… Default 32. */
  ssdpBurst?: number;
  /** …refilled at this rate per second. Default 8. */
  ssdpRatePerSec?: number;
  /** Pending (delayed) search answers per tenant. Default 256. */
  maxPendingResponses?: number;
  /** Concurrent HTTP connections per tenant. Default 8. */
  maxConnectionsPerTenant?: number;
  /** HTTP limits (header and body size, request deadline). */
  http?: Partial<HttpLimits>;
  /** Timers (SSDP delays, NOTIFY, HTTP deadlines, the per-tenant TCP stacks). Default: from the NAT's clock. */
  scheduler?: Scheduler;
  /** Random source in [0, 1) for answer delays. Default `Math.random`. */
  random?: () => number;
  /** Tenants served; all when absent. */
  tenants?: readonly number[];
  /** What GetCommonLinkProperties reports. */
  link?: { accessType?: 'DSL' | 'POTS' | 'Cable' | 'Ethernet'; upstreamBps?: number; downstreamBps?: number };
}

/** One control request, as reported by the `request` event. */
export interface UpnpRequestEvent {
  tenant: number;
  client: string;
  service: 'WANIPConnection' | 'WANCommonInterfaceConfig';
  action: string;
  /** 0 when it succeeded, else the UPnP error code returned. */
  errorCode: number;
  message?: string;
}

/** Events of {@link UpnpIgd}. */
export interface UpnpIgdEvents {
  /** A SOAP action was handled (one event per HTTP request, never per packet). */
  request: (e: UpnpRequestEvent) => void;
}

/** Counters of {@link UpnpIgd}. */
export interface UpnpIgdStats {
  ssdp: {
    /** M-SEARCHes answered (at least one target matched). */
    searches: number;
    /** Answers sent. */
    responses: number;
    /** NOTIFY messages sent (alive and byebye). */
    notifies: number;
    /** Datagrams ignored, by reason. */
    ignored: Record<string, number>;
  };
  http: HttpStats;
  soap: { actions: number; faults: Record<number, number> };
  /** Packets not handled, by reason. */
  drops: Record<string, number>;
}

interface TenantState {
  vh: VirtualHost;
  connections: number;
  /** SSDP requests answered per second (flood bound). */
  ssdpBucket: TokenBucket;
  pending: Set<TimerHandle>;
}

const SERVER = 'l3kit/0.1 UPnP/1.1 l3kit-igd/0.1';

function deriveUuid(root: string, what: string): string {
  const h = createHash('sha1').update(`${root}/${what}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function positiveInt(v: unknown, what: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new ConfigError('ERR_BAD_OPTION', `UpnpIgd: ${what} must be an integer >= ${min}`);
  return v;
}

/**
 * The UPnP IGD local helper (name `'upnp'`). Add it with `nat.addHelper(new UpnpIgd(config))`;
 * its mappings are NAT port forwards with origin `'upnp'` and a lease.
 */
export class UpnpIgd extends EventEmitter<UpnpIgdEvents> implements NatLocalHelper {
  /** Helper name in the NAT. */
  readonly name = 'upnp';
  /** A local helper (served on the NAT's inside address). */
  readonly kind = 'local' as const;
  /** UDP 1900 on 239.255.255.250 and on the inside address, TCP `httpPort` on the inside address. */
  readonly endpoints: readonly LocalEndpoint[];
  /** Tenants served (all when absent). */
  readonly tenants?: readonly number[];
  /** The mapping table (shared when given in the config). */
  readonly table: PortMappingTable;
  /** IGD version served. */
  readonly version: 1 | 2;
  /** TCP port of the HTTP server. */
  readonly httpPort: number;
  /** Counters (see {@link UpnpIgdStats}). */
  readonly stats: UpnpIgdStats = {
    ssdp: { searches: 0, responses: 0, notifies: 0, ignored: {} },
    http: { requests: 0, refused: {} },
    soap: { actions: 0, faults: {} },
    drops: {},
  };
  private readonly cfg: UpnpIgdConfig;
  private readonly device: SsdpDeviceInfo;
  private readonly httpLimits: HttpLimits;
  private readonly random: () => number;
  private host: NatLocalHost | undefined;
  private scheduler: Scheduler | undefined;
  private readonly perTenant = new Map<number, TenantState>();
  private notifyTimer: TimerHandle | undefined;
  private attachedAt = 0;
  /** BOOTID.UPNP.ORG of this run (set on attach). */
  private bootId = 1;
  /** The inside network (numeric address and mask): SSDP is answered to hosts on it only. */
  private lanNet = 0;
  private lanMask = 0;

  constructor(config: UpnpIgdConfig = {}) {
    super();
    if (typeof config !== 'object' || config === null)
      throw new ConfigError('ERR_BAD_OPTION', 'UpnpIgd: config must be an object');
    const version = config.version ?? 1;
    if (version !== 1 && version !== 2)
      throw new ConfigError('ERR_BAD_OPTION', 'UpnpIgd: version must be 1 or 2');
    this.version = version;
    this.httpPort = positiveInt(config.httpPort ?? 5000, 'httpPort');
    if (this.httpPort > 65535) throw new ConfigError('ERR_BAD_OPTION', 'UpnpIgd: httpPort must be <= 65535');
    positiveInt(config.notifyIntervalMs ?? 900_000, 'notifyIntervalMs', 0);
    positiveInt(config.maxAgeSec ?? 1800, 'maxAgeSec');
    positiveInt(config.maxResponseDelayMs ?? 1000, 'maxResponseDelayMs', 0);
    positiveInt(config.ssdpBurst ?? 32, 'ssdpBurst');
    positiveInt(config.ssdpRatePerSec ?? 8, 'ssdpRatePerSec');
    positiveInt(config.maxPendingResponses ?? 256, 'maxPendingResponses');
    positiveInt(config.maxConnectionsPerTenant ?? 8, 'maxConnectionsPerTenant');
    const http = { ...DEFAULT_HTTP_LIMITS, ...config.http };
    positiveInt(http.maxHeaderBytes, 'http.maxHeaderBytes', 256);
    positiveInt(http.maxBodyBytes, 'http.maxBodyBytes', 256);
    positiveInt(http.requestTimeoutMs, 'http.requestTimeoutMs');
    this.httpLimits = http;
    const uuid = config.uuid ?? randomUUID();
    if (!/^[0-9a-fA-F-]{8,64}$/.test(uuid))
      throw new ConfigError('ERR_BAD_OPTION', 'UpnpIgd: uuid must be a UUID');
    this.device = {
      uuidRoot: uuid,
      uuidWan: deriveUuid(uuid, 'wan'),
      uuidConn: deriveUuid(uuid, 'conn'),
      version,
    };
    this.cfg = config;
    this.random = config.random ?? Math.random;
    this.table = config.table ?? new PortMappingTable({ policy: config.policy, scheduler: config.scheduler });
    if (config.tenants) this.tenants = [...config.tenants];
    this.endpoints = [
      { proto: 17, port: SSDP_PORT, group: SSDP_GROUP },
      { proto: 17, port: SSDP_PORT },
      { proto: 6, port: this.httpPort },
    ];
  }

  /** UUIDs of the root device, WANDevice and WANConnectionDevice. */
  get uuids(): { root: string; wan: string; conn: string } {
    return { root: this.device.uuidRoot, wan: this.device.uuidWan, conn: this.device.uuidConn };
  }

  /** Open HTTP connections of `tenant` (all tenants when absent). */
  openConnections(tenant?: number): number {
    let n = 0;
    for (const [t, st] of this.perTenant) if (tenant === undefined || t === tenant) n += st.connections;
    return n;
  }

  /** The description URL control points fetch (`http://<inside address>:<port>/rootDesc.xml`). */
  get location(): string {
    return `${this.urlBase()}${IGD_PATHS.description}`;
  }

  private urlBase(): string {
    return `http://${this.host?.insideAddress ?? '0.0.0.0'}:${this.httpPort}`;
  }

  /**
   * Called by `nat.addHelper`: binds the mapping table, starts the NOTIFY timer. Throws
   * `ERR_HELPER_ATTACHED` when already attached to a NAT.
   */
  attach(host: NatLocalHost): void {
    if (this.host) throw new ConfigError('ERR_HELPER_ATTACHED', 'UpnpIgd is already attached to a NAT');
    this.scheduler = defaultScheduler(host.clock, this.cfg.scheduler);
    this.table.bind(host, this.scheduler);
    this.host = host;
    this.attachedAt = host.clock.now();
    // UDA 1.1 §1.2.2: BOOTID.UPNP.ORG grows with every (re)start; the attach time in seconds
    // does (as miniupnpd's time(NULL)), and fits the 31-bit field until 2038.
    this.bootId = Math.max(1, Math.floor(this.attachedAt / 1000) & 0x7fffffff);
    const bits = host.insidePrefixLength;
    this.lanMask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    this.lanNet = ((parseIpv4(host.insideAddress) ?? 0) & this.lanMask) >>> 0;
    const every = this.cfg.notifyIntervalMs ?? 900_000;
    if (every > 0) this.scheduleNotify(host.clock.now(), every);
  }

  /**
   * Called when removed from the NAT or when the NAT closes: sends ssdp:byebye to every tenant,
   * closes the per-tenant stacks and unbinds the table (the last front end to unbind removes the
   * mappings and their forwards).
   */
  detach(): void {
    const host = this.host;
    if (!host) return;
    this.notifyTimer?.cancel();
    this.notifyTimer = undefined;
    for (const t of this.servedTenants()) {
      try {
        this.sendNotify(t, false);
      } catch {
        // a closing NAT may refuse packets: the cleanup below must still run
      }
    }
    for (const t of [...this.perTenant.keys()]) this.closeTenant(t);
    this.table.unbind();
    this.host = undefined;
  }

  /** A tenant left the NAT: closes its stack and connections and drops its mappings. */
  onTenantRemoved(tenant: number): void {
    this.closeTenant(tenant);
    this.table.removeTenant(tenant);
  }

  private closeTenant(tenant: number): void {
    const st = this.perTenant.get(tenant);
    if (!st) return;
    this.perTenant.delete(tenant);
    for (const p of st.pending) p.cancel();
    st.vh.close();
  }

  private served(tenant: number): boolean {
    return !this.tenants || this.tenants.includes(tenant);
  }

  private servedTenants(): number[] {
    const host = this.host;
    if (!host) return [];
    try {
      return host.tenantIds().filter((t) => this.served(t));
    } catch {
      return [];
    }
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  private ignore(reason: string): void {
    this.stats.ssdp.ignored[reason] = (this.stats.ssdp.ignored[reason] ?? 0) + 1;
  }

  /**
   * A packet from `tenant` for the IGD (SSDP on UDP 1900, HTTP on `httpPort`). Never throws:
   * malformed or unexpected packets are counted in `stats.drops` / `stats.ssdp.ignored`.
   */
  onLocalPacket(pkt: Uint8Array, tenant: number): void {
    try {
      this.handlePacket(pkt, tenant);
    } catch {
      this.drop('error');
    }
  }

  private handlePacket(pkt: Uint8Array, tenant: number): void {
    const host = this.host;
    if (!host) {
      this.drop('detached');
      return;
    }
    if (!this.served(tenant)) {
      this.drop('tenant');
      return;
    }
    const ip = Ipv4Packet.checked(pkt);
    if (!ip || ip.isFragment) {
      this.drop('malformed');
      return;
    }
    if (ip.protocol === 17) {
      const u = UdpDatagram.checked(pkt, ip.payloadOffset, ip.payloadOffset + ip.payloadLength);
      if (!u || u.dstPort !== SSDP_PORT) {
        this.drop('port');
        return;
      }
      if ((ip.src & this.lanMask) >>> 0 !== this.lanNet || ip.src >>> 0 === this.lanNet) {
        // As miniupnpd: SSDP from outside the inside network is not answered (no reflection).
        this.ignore('not-lan');
        return;
      }
      const payload = pkt.subarray(ip.payloadOffset + 8, ip.payloadOffset + u.length);
      this.onSsdp(tenant, formatIpv4(ip.src), u.srcPort, ip.dst >>> 28 === 14, payload);
      return;
    }
    if (ip.protocol === 6) {
      const st = this.tenantState(tenant);
      st.vh.send(pkt.slice());
      return;
    }
    this.drop('protocol');
  }

  private tenantState(tenant: number): TenantState {
    let st = this.perTenant.get(tenant);
    if (st) return st;
    const host = this.host as NatLocalHost;
    const vh = new VirtualHost({
      addr: `${host.insideAddress}/${host.insidePrefixLength}`,
      scheduler: this.scheduler,
    });
    vh.setHandler((p) => host.sendInside(p, tenant));
    st = {
      vh,
      connections: 0,
      ssdpBucket: new TokenBucket(
        { burst: this.cfg.ssdpBurst ?? 32, perSecond: this.cfg.ssdpRatePerSec ?? 8 },
        host.clock,
        'SSDP rate',
      ),
      pending: new Set(),
    };
    this.perTenant.set(tenant, st);
    const state = st;
    vh.tcp.listen(this.httpPort, (sock) => this.onConnection(tenant, state, sock as unknown as Duplex));
    return st;
  }

  // ------------------------------------------------------------------------------------ SSDP

  private announce(): SsdpAnnounce {
    return {
      location: this.location,
      server: SERVER,
      maxAgeSec: this.cfg.maxAgeSec ?? 1800,
      bootId: this.bootId,
      configId: 1,
    };
  }

  private udp(tenant: number, dst: string, dstPort: number, payload: Uint8Array, ttl: number): void {
    const host = this.host as NatLocalHost;
    const pkt = buildPacket({
      src: host.insideAddress,
      dst,
      ttl,
      udp: { srcPort: SSDP_PORT, dstPort },
      payload,
    });
    host.sendInside(pkt, tenant);
  }

  private onSsdp(
    tenant: number,
    src: string,
    srcPort: number,
    multicast: boolean,
    payload: Uint8Array,
  ): void {
    const msg = parseSsdpMessage(payload);
    if (!msg) {
      this.ignore('malformed');
      return;
    }
    if (msg.startLine.startsWith('NOTIFY ')) {
      this.ignore('notify');
      return;
    }
    const q = parseMSearch(msg, multicast);
    if (!q.ok) {
      this.ignore(q.reason);
      return;
    }
    const targets = matchSearchTarget(q.st, this.device);
    if (targets.length === 0) {
      this.ignore('no-match');
      return;
    }
    const st = this.tenantState(tenant);
    if (!st.ssdpBucket.take()) {
      this.ignore('rate-limited');
      return;
    }
    const max = this.cfg.maxPendingResponses ?? 256;
    if (st.pending.size + targets.length > max) {
      this.ignore('too-many-pending');
      return;
    }
    this.stats.ssdp.searches++;
    const a = this.announce();
    const send = (): void => {
      for (const t of targets) {
        this.udp(tenant, src, srcPort, buildSearchResponse(t, a), 64);
        this.stats.ssdp.responses++;
      }
    };
    if (q.mx === 0) {
      send();
      return;
    }
    // UDA 1.1 §1.3.3: answer after a random delay in [0, MX) s; bounded by maxResponseDelayMs.
    const s = this.scheduler as Scheduler;
    const delay = Math.floor(this.random() * Math.min(q.mx * 1000, this.cfg.maxResponseDelayMs ?? 1000));
    const h = s.schedule(s.clock.now() + delay, () => {
      st.pending.delete(h);
      if (this.perTenant.get(tenant) === st) send();
    });
    st.pending.add(h);
  }

  private scheduleNotify(at: number, every: number): void {
    const s = this.scheduler as Scheduler;
    this.notifyTimer = s.schedule(at, () => {
      this.table.expireDue();
      for (const t of this.servedTenants()) this.sendNotify(t, true);
      this.scheduleNotify(s.clock.now() + every, every);
    });
  }

  private sendNotify(tenant: number, alive: boolean): void {
    const a = this.announce();
    for (const t of ssdpTargets(this.device)) {
      // UDA 1.1 §1.1.2: multicast with TTL 2.
      this.udp(tenant, SSDP_GROUP, SSDP_PORT, alive ? buildNotifyAlive(t, a) : buildNotifyByebye(t, a), 2);
      this.stats.ssdp.notifies++;
    }
  }

  /** Sends NOTIFY ssdp:alive for every target to every served tenant now (also done periodically). */
  notifyAll(): void {
    if (!this.host) return;
    for (const t of this.servedTenants()) this.sendNotify(t, true);
  }

  // ------------------------------------------------------------------------------------ HTTP

  private onConnection(tenant: number, st: TenantState, sock: Duplex): void {
    const max = this.cfg.maxConnectionsPerTenant ?? 8;
    if (st.connections >= max) {
      this.stats.http.refused[503] = (this.stats.http.refused[503] ?? 0) + 1;
      // Refused with a reset: nothing is kept for it.
      const s = sock as Duplex & { resetAndDestroy?: () => void };
      if (s.resetAndDestroy) s.resetAndDestroy();
      else sock.destroy();
      return;
    }
    st.connections++;
    serveHttpConnection(sock, {
      limits: this.httpLimits,
      scheduler: this.scheduler as Scheduler,
      server: SERVER,
      stats: this.stats.http,
      handler: (req) => this.onHttp(tenant, req),
      onClose: () => {
        st.connections--;
      },
    });
  }

  private onHttp(tenant: number, req: HttpRequest): HttpResponse {
    if (!hostIsAddress(req.headers.get('host')))
      return { status: 403, body: 'the Host header must be an address\n' };
    const path = req.target.split('?')[0];
    const P = IGD_PATHS;
    const xml = (body: string): HttpResponse => ({
      status: 200,
      headers: [['Content-Type', 'text/xml; charset="utf-8"']],
      body,
    });
    const only = (method: string): HttpResponse | undefined =>
      req.method === method
        ? undefined
        : { status: 405, headers: [['Allow', method]], body: `${req.method} is not allowed here\n` };
    switch (path) {
      case P.description:
        return (
          only('GET') ??
          xml(
            buildDeviceDescription({
              ...this.device,
              friendlyName: this.cfg.friendlyName ?? 'l3kit Internet Gateway',
              manufacturer: this.cfg.manufacturer ?? 'l3kit',
              modelName: this.cfg.modelName ?? 'l3kit NAT',
              modelNumber: this.cfg.modelNumber ?? '0.1',
              serialNumber: this.cfg.serialNumber ?? '1',
              urlBase: this.urlBase(),
            }),
          )
        );
      case P.cicScpd:
        return only('GET') ?? xml(buildScpd(WAN_COMMON_INTERFACE_CONFIG, 1));
      case P.ipcScpd:
        return only('GET') ?? xml(buildScpd(WAN_IP_CONNECTION, this.version));
      case P.cicControl:
        return only('POST') ?? this.onSoap(tenant, 'cic', req);
      case P.ipcControl:
        return only('POST') ?? this.onSoap(tenant, 'ipc', req);
      case P.cicEvents:
      case P.ipcEvents:
        return { status: 501, body: 'eventing is not supported\n' };
    }
    return { status: 404, body: 'not found\n' };
  }

  private onSoap(tenant: number, kind: 'cic' | 'ipc', req: HttpRequest): HttpResponse {
    const ct = req.headers.get('content-type');
    if (ct !== undefined && !/xml/i.test(ct)) return { status: 415, body: 'text/xml expected\n' };
    const hdr = parseSoapActionHeader(req.headers.get('soapaction'));
    if (!hdr) return { status: 400, body: 'a valid SOAPACTION header is required\n' };
    const { spec, type } = serviceSpec(kind, this.version);
    const service = kind === 'cic' ? 'WANCommonInterfaceConfig' : 'WANIPConnection';
    const client = req.remoteAddress;
    const fault = (code: UpnpErrorCode, message?: string): HttpResponse => {
      this.stats.soap.faults[code] = (this.stats.soap.faults[code] ?? 0) + 1;
      this.emit('request', { tenant, client, service, action: hdr.action, errorCode: code, message });
      return {
        status: 500,
        headers: [['Content-Type', 'text/xml; charset="utf-8"']],
        body: buildSoapFault(code),
      };
    };
    // A control point may use an older version of the service type than the device offers.
    const m = /^(urn:schemas-upnp-org:service:[A-Za-z]+):(\d)$/.exec(hdr.serviceType);
    const tm = /^(.*):(\d)$/.exec(type) as RegExpExecArray;
    if (!m || m[1] !== tm[1] || Number(m[2]) < 1 || Number(m[2]) > Number(tm[2]))
      return fault(401, `service ${hdr.serviceType} is not served at this URL`);
    const body = req.body.toString('utf8');
    const p = parseSoapRequest(body, { maxLength: this.httpLimits.maxBodyBytes });
    if (!p.ok) return { status: 400, body: `malformed SOAP request: ${p.error}\n` };
    if (p.req.action !== hdr.action || p.req.serviceType !== hdr.serviceType)
      return fault(401, 'the body does not match SOAPACTION');
    const bad = checkArguments(spec, hdr.action, p.req.args);
    if (bad && !bad.ok) return fault(bad.code, bad.message);
    const host = this.host as NatLocalHost;
    const ctx: ActionContext = {
      host,
      table: this.table,
      version: kind === 'ipc' ? (Number(m[2]) as 1 | 2) : this.version,
      tenant,
      client,
      uptimeSec: Math.floor((host.clock.now() - this.attachedAt) / 1000),
      link: {
        accessType: this.cfg.link?.accessType ?? 'Ethernet',
        upstreamBps: this.cfg.link?.upstreamBps ?? 1_000_000_000,
        downstreamBps: this.cfg.link?.downstreamBps ?? 1_000_000_000,
      },
    };
    const r = runAction(kind, hdr.action, p.req.args, ctx);
    if (!r.ok) return fault(r.code, r.message);
    this.stats.soap.actions++;
    this.emit('request', { tenant, client, service, action: hdr.action, errorCode: 0 });
    return {
      status: 200,
      headers: [
        ['Content-Type', 'text/xml; charset="utf-8"'],
        ['Ext', ''],
      ],
      body: buildSoapResponse(hdr.serviceType, hdr.action, r.out),
    };
  }
}

export {
  type ActionContext,
  type ActionResult,
  checkArguments,
  runAction,
  upnpCodeFor,
} from './igd-actions.js';
export * from './igd-description.js';
export * from './igd-http.js';
export * from './igd-soap.js';
export * from './igd-xml.js';
