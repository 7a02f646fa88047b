/**
 * `EgressDevice`: egress without NAT. Tenants attach with `connectL3(dev)`; the device
 * terminates their TCP connections (to any destination) with the userspace stack, recovers the
 * original destination (and its name, through the DNS interceptor), routes each connection by
 * rule — direct from the host (`net.connect`, slirp-style), through a SOCKS5 proxy or an HTTP
 * CONNECT proxy, or deny — and splices the two sides with back-pressure. UDP goes through
 * `dgram` sockets or SOCKS5 UDP associations; ICMP echo is answered by the device.
 */

import {
  type Clock,
  ConfigError,
  defaultScheduler,
  type L3Connector,
  type L3Device,
  type Scheduler,
} from '@l3kit/core';
import { EventEmitter } from 'eventemitter3';
import {
  DEFAULT_BUFFER_BYTES,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_TCP_PER_TENANT,
  DEFAULT_MAX_UDP_PER_TENANT,
  DEFAULT_TCP_IDLE_MS,
  DEFAULT_UDP_IDLE_MS,
  HOST_LOCAL_PREFIXES,
} from './constants.js';
import { type Dialer, DirectDialer, type DirectDialerOptions } from './dialer.js';
import { DnsInterceptor, type DnsInterceptorOptions, type DnsStats } from './dns-interceptor.js';
import type { DialFailure } from './errors.js';
import { HttpConnectDialer, type HttpConnectOptions } from './http-connect.js';
import { type EgressAction, type EgressRule, Router } from './rules.js';
import { Socks5Dialer, type Socks5Options } from './socks5.js';
import { Tenant } from './tenant.js';

/** A proxy in the device options. */
export type ProxyConfig = ({ type: 'socks5' } & Socks5Options) | ({ type: 'http' } & HttpConnectOptions);

/** How the tenant is told that a connection cannot be made. */
export type RefusalResponse = 'icmp' | 'rst' | 'drop';

/** Options of {@link EgressDevice}. */
export interface EgressDeviceOptions {
  /** Upstream proxies by name (names are used in rules and events). */
  proxies?: Record<string, ProxyConfig>;
  /** Proxy groups: a rule naming a group sends each client through one member, always the same one. */
  groups?: Record<string, readonly string[]>;
  /** Routing rules, first match wins. */
  rules?: readonly EgressRule[];
  /** Action when no rule matches (default `'direct'`). */
  defaultAction?: EgressAction;
  /** The DNS interceptor (UDP port 53 to any address); `undefined` / `false`: DNS is ordinary UDP. */
  dns?: DnsInterceptorOptions | false;
  /** Options of the direct dialer. */
  direct?: DirectDialerOptions;
  /** Extra dialers (custom upstreams), by their `name`. */
  dialers?: readonly Dialer[];
  /**
   * Send destination names (from the DNS interceptor) to proxies instead of addresses
   * (SOCKS5 ATYP 3, `CONNECT name:port`), so the proxy resolves them. Default true. With
   * false, names are resolved by the device (the interceptor's sources) and proxies get
   * addresses; rules still match the names.
   */
  remoteDns?: boolean;
  /** Time to open the upstream side, handshakes included (default 10 s). */
  connectTimeoutMs?: number;
  /** Idle timeout of TCP connections (default 2 h 4 min, RFC 5382). */
  tcpIdleTimeoutMs?: number;
  /** Idle timeout of UDP flows (default 300 s; at least 120 s, RFC 4787). */
  udpIdleTimeoutMs?: number;
  /** Concurrent TCP connections per tenant (default 1024). */
  maxConnectionsPerTenant?: number;
  /** Concurrent UDP flows per tenant (default 256). */
  maxUdpFlowsPerTenant?: number;
  /** Per connection and direction, bytes buffered inside the device (default 256 KiB). */
  bufferBytes?: number;
  /** Tenant link MTU (default 1500); TCP's MSS and the largest UDP reply follow from it. */
  mtu?: number;
  /** Answer to a denied connection: ICMP 3/13 (default), RST, or silence. */
  deniedResponse?: RefusalResponse;
  /** Answer when the destination is unreachable or timed out: ICMP 3/1 (default) or RST. */
  unreachableResponse?: 'icmp' | 'rst';
  /** Answer when a tenant is over its connection limit: RST (default), ICMP 3/13, or silence. */
  limitResponse?: RefusalResponse;
  /** ICMP echo requests: answered by the device (default, for destinations the rules allow) or dropped. */
  icmpEcho?: 'reply' | 'drop';
  /** Allow tenants to reach host-local destinations (127/8, 0/8, 169.254/16, multicast). Default false. */
  allowLoopback?: boolean;
  clock?: Clock;
  scheduler?: Scheduler;
}

/** Per-tenant options of `connectL3`. */
export interface TenantOptions {
  /** Name used by rules (`tenant`) and events. Default `tenant-<n>`. */
  name?: string;
}

/** A connection or flow as events report it. */
export interface FlowInfo {
  tenant: string;
  protocol: 'tcp' | 'udp';
  /** Client address and port inside the tenant. */
  src: string;
  srcPort: number;
  /** Destination as the tenant addressed it (a fake IP for fake-IP names). */
  dst: string;
  dstPort: number;
  /** Destination name, when known. */
  name?: string;
  /** `'direct'`, `'deny'` or a proxy name. */
  route: string;
}

/** Why a connection ended. */
export type CloseReason = 'end' | 'reset' | 'idle' | 'error' | 'detached';

/** Events of {@link EgressDevice}. Never emitted per packet. */
export interface EgressEvents {
  /** A new connection was accepted for dialing. */
  connection: [info: FlowInfo];
  /** The upstream side is open; the tenant's handshake completes now. */
  connect: [info: FlowInfo];
  /** A rule denied a connection or a UDP destination. */
  deny: [info: FlowInfo & { rule: number }];
  /** The upstream side could not be opened; `failure` tells how the tenant was answered. */
  dialError: [info: FlowInfo & { failure: DialFailure; code: string; message: string }];
  /** A connection ended. */
  close: [info: FlowInfo & { reason: CloseReason; bytesUp: number; bytesDown: number }];
  /** A tenant hit a limit. */
  limit: [info: { tenant: string; protocol: 'tcp' | 'udp'; src: string; limit: number }];
  /** A proxy failed (could not be reached, rejected authentication, spoke garbage). */
  proxyError: [info: { proxy: string; code: string; message: string }];
  /** A proxy failed after working (or at first use); emitted once per outage. */
  proxyDown: [info: { proxy: string; code: string; message: string }];
  /** A proxy that was down worked again. */
  proxyUp: [info: { proxy: string }];
  /** A UDP flow was opened / closed. */
  udpOpen: [info: FlowInfo];
  udpClose: [
    info: FlowInfo & { reason: 'idle' | 'error' | 'detached'; datagramsUp: number; datagramsDown: number },
  ];
}

/** Counters of the device (all tenants). */
export interface EgressStats {
  packetsIn: number;
  packetsOut: number;
  tcp: {
    /** Connections dialed. */
    opened: number;
    /** Upstream side open and spliced. */
    established: number;
    /** Currently open or dialing. */
    active: number;
    /** Answered with RST because upstream refused. */
    refused: number;
    /** Unreachable / timed out upstream. */
    unreachable: number;
    timeouts: number;
    /** Denied by a rule or by the proxy's rules. */
    denied: number;
    /** Failures of a proxy itself. */
    proxyFailures: number;
    /** Over the per-tenant limit. */
    limited: number;
    /** Closed by the idle timeout. */
    idleClosed: number;
    /** RSTs sent for segments of no connection. */
    strayResets: number;
    /** Bytes tenant → upstream and upstream → tenant. */
    bytesUp: number;
    bytesDown: number;
  };
  udp: {
    datagramsUp: number;
    datagramsDown: number;
    flowsOpened: number;
    active: number;
    denied: number;
    limited: number;
    /** Replies larger than the tenant MTU (dropped; the device does not fragment). */
    tooBig: number;
    /** Replies from endpoints the flow never sent to (dropped). */
    filtered: number;
    /** Datagrams dropped while the relay was opening (queue full) or because it failed. */
    relayDrops: number;
  };
  icmp: { echoReplies: number; unreachablesSent: number };
  /** Per proxy: connections through it, failures, and whether it is considered down. */
  proxies: Record<string, { connects: number; failures: number; down: boolean }>;
  drops: {
    /** Not a valid IPv4 packet / transport header. */
    malformed: number;
    badChecksum: number;
    /** Fragments (the device does not reassemble). */
    fragment: number;
    /** IPv6 and protocols other than TCP, UDP, ICMP echo. */
    unsupported: number;
    /** Segments for a connection whose upstream is still being dialed (SYN retransmissions are kept). */
    dialing: number;
    /** Packets from the internal stack without a translation (late segments). */
    noFlow: number;
    /** The device or the tenant is closed. */
    closed: number;
  };
}

/** Counters of one tenant (see {@link EgressDevice.tenantStats}). */
export interface TenantStats {
  name: string;
  /** TCP connections open or being dialed now (what `maxConnectionsPerTenant` limits). */
  activeTcp: number;
  /** UDP flows now (what `maxUdpFlowsPerTenant` limits). */
  activeUdp: number;
  /** TCP connections dialed so far. */
  tcpOpened: number;
  udpFlowsOpened: number;
  /** Connections and datagrams denied by a rule. */
  denied: number;
  /** Connections and flows refused by a limit. */
  limited: number;
  /** TCP payload bytes tenant → upstream and back. */
  bytesUp: number;
  bytesDown: number;
  datagramsUp: number;
  datagramsDown: number;
}

/** A snapshot of one TCP connection (see {@link EgressDevice.connections}). */
export interface ConnectionSnapshot extends FlowInfo {
  state: 'dialing' | 'open' | 'closed';
  bytesUp: number;
  bytesDown: number;
  /** Bytes held by the device for this connection, tenant → upstream (stack receive side + upstream socket queue). */
  bufferedUp: number;
  /** Bytes held by the device, upstream → tenant (stack send buffer + stream queue). */
  bufferedDown: number;
}

/** Resolved options, shared with the tenants. */
export interface EgressConfig {
  readonly router: Router;
  readonly dialers: ReadonlyMap<string, Dialer>;
  readonly dns: DnsInterceptor | undefined;
  readonly localRouter: Router | undefined;
  readonly remoteDns: boolean;
  readonly connectTimeoutMs: number;
  readonly tcpIdleMs: number;
  readonly udpIdleMs: number;
  readonly maxTcp: number;
  readonly maxUdp: number;
  readonly bufferBytes: number;
  readonly mtu: number;
  readonly deniedResponse: RefusalResponse;
  readonly unreachableResponse: 'icmp' | 'rst';
  readonly limitResponse: RefusalResponse;
  readonly icmpEcho: 'reply' | 'drop';
  readonly clock: Clock;
  readonly scheduler: Scheduler;
}

function posInt(v: number | undefined, def: number, what: string, min = 1): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < min)
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be an integer >= ${min}, got ${v}`);
  return v;
}

function oneOf<T extends string>(v: T | undefined, def: T, allowed: readonly T[], what: string): T {
  if (v === undefined) return def;
  if (!allowed.includes(v))
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be one of ${allowed.join(', ')}`);
  return v;
}

function emptyStats(): EgressStats {
  return {
    packetsIn: 0,
    packetsOut: 0,
    tcp: {
      opened: 0,
      established: 0,
      active: 0,
      refused: 0,
      unreachable: 0,
      timeouts: 0,
      denied: 0,
      proxyFailures: 0,
      limited: 0,
      idleClosed: 0,
      strayResets: 0,
      bytesUp: 0,
      bytesDown: 0,
    },
    udp: {
      datagramsUp: 0,
      datagramsDown: 0,
      flowsOpened: 0,
      active: 0,
      denied: 0,
      limited: 0,
      tooBig: 0,
      filtered: 0,
      relayDrops: 0,
    },
    icmp: { echoReplies: 0, unreachablesSent: 0 },
    proxies: {},
    drops: { malformed: 0, badChecksum: 0, fragment: 0, unsupported: 0, dialing: 0, noFlow: 0, closed: 0 },
  };
}

/**
 * The egress device. See the package README for the model; in short:
 *
 * ```ts
 * const egress = new EgressDevice({
 *   proxies: { corp: { type: 'socks5', host: '10.1.0.1', port: 1080 } },
 *   rules: [{ domain: 'blocked.example', action: 'deny' }, { cidr: '10.0.0.0/8', action: 'corp' }],
 *   dns: { fakeIp: true },
 * });
 * const detach = egress.connectL3(tenantHost, { name: 'alice' });
 * ```
 */
export class EgressDevice extends EventEmitter<EgressEvents> implements L3Connector {
  /** Counters (all tenants). */
  readonly stats: EgressStats = emptyStats();
  /** @internal */
  readonly config: EgressConfig;
  private readonly tenants = new Set<Tenant>();
  private readonly proxyDown = new Set<string>();
  private tenantSeq = 0;
  private closed = false;

  constructor(opts: EgressDeviceOptions = {}) {
    super();
    const scheduler = defaultScheduler(opts.clock ?? opts.scheduler?.clock, opts.scheduler);
    const clock = opts.clock ?? scheduler.clock;
    const dns = opts.dns ? new DnsInterceptor(opts.dns, clock) : undefined;
    const dialers = new Map<string, Dialer>();
    // Direct dials of names (fake-IP destinations) resolve through the interceptor's sources.
    const resolve = opts.direct?.resolve ?? (dns ? (name: string) => dns.resolve(name) : undefined);
    dialers.set('direct', new DirectDialer({ ...opts.direct, resolve }));
    for (const [name, p] of Object.entries(opts.proxies ?? {})) {
      if (name === 'direct' || name === 'deny')
        throw new ConfigError('ERR_BAD_OPTION', `proxy name ${JSON.stringify(name)} is reserved`);
      if (!p || typeof p !== 'object' || typeof p.host !== 'string')
        throw new ConfigError('ERR_BAD_OPTION', `proxies.${name}: { type, host, port } required`);
      if (p.type === 'socks5') dialers.set(name, new Socks5Dialer(name, p));
      else if (p.type === 'http') dialers.set(name, new HttpConnectDialer(name, p));
      else throw new ConfigError('ERR_BAD_OPTION', `proxies.${name}: type must be 'socks5' or 'http'`);
    }
    for (const d of opts.dialers ?? []) {
      if (dialers.has(d.name))
        throw new ConfigError('ERR_BAD_OPTION', `dialer name ${JSON.stringify(d.name)} is used twice`);
      dialers.set(d.name, d);
    }
    for (const name of dialers.keys())
      if (name !== 'direct') this.stats.proxies[name] = { connects: 0, failures: 0, down: false };
    const router = new Router(
      opts.rules ?? [],
      opts.defaultAction ?? 'direct',
      [...dialers.keys()],
      opts.groups ?? {},
    );
    const udpIdleMs = posInt(opts.udpIdleTimeoutMs, DEFAULT_UDP_IDLE_MS, 'udpIdleTimeoutMs');
    const mtu = posInt(opts.mtu, 1500, 'mtu', 576);
    if (mtu > 65535) throw new ConfigError('ERR_BAD_MTU', `mtu must be 576..65535, got ${mtu}`);
    this.config = {
      router,
      dialers,
      dns,
      localRouter: opts.allowLoopback
        ? undefined
        : new Router([{ cidr: [...HOST_LOCAL_PREFIXES], action: 'deny' }], 'direct'),
      remoteDns: opts.remoteDns ?? true,
      connectTimeoutMs: posInt(opts.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs'),
      tcpIdleMs: posInt(opts.tcpIdleTimeoutMs, DEFAULT_TCP_IDLE_MS, 'tcpIdleTimeoutMs'),
      udpIdleMs,
      maxTcp: posInt(opts.maxConnectionsPerTenant, DEFAULT_MAX_TCP_PER_TENANT, 'maxConnectionsPerTenant'),
      maxUdp: posInt(opts.maxUdpFlowsPerTenant, DEFAULT_MAX_UDP_PER_TENANT, 'maxUdpFlowsPerTenant'),
      bufferBytes: posInt(opts.bufferBytes, DEFAULT_BUFFER_BYTES, 'bufferBytes', 4096),
      mtu,
      deniedResponse: oneOf(opts.deniedResponse, 'icmp', ['icmp', 'rst', 'drop'], 'deniedResponse'),
      unreachableResponse: oneOf(opts.unreachableResponse, 'icmp', ['icmp', 'rst'], 'unreachableResponse'),
      limitResponse: oneOf(opts.limitResponse, 'rst', ['icmp', 'rst', 'drop'], 'limitResponse'),
      icmpEcho: oneOf(opts.icmpEcho, 'reply', ['reply', 'drop'], 'icmpEcho'),
      clock,
      scheduler,
    };
  }

  /** The DNS interceptor's counters, when enabled. */
  get dnsStats(): DnsStats | undefined {
    return this.config.dns?.stats;
  }

  /**
   * Attaches a tenant: what `dev` emits enters the device, and the device's answers are sent
   * into `dev`. Each tenant has its own connections, DNS tables and limits (overlapping
   * addresses are fine). Returns the cleanup: it detaches the tenant, aborts its connections
   * (upstream sockets are reset) and frees its state.
   */
  connectL3(dev: L3Device, opts: TenantOptions = {}): () => void {
    if (this.closed) throw new ConfigError('ERR_CLOSED', 'EgressDevice is closed');
    const name = opts.name ?? `tenant-${++this.tenantSeq}`;
    for (const t of this.tenants)
      if (t.name === name)
        throw new ConfigError('ERR_DUPLICATE_TENANT', `a tenant named ${JSON.stringify(name)} is attached`);
    const t = new Tenant(this, name, dev);
    this.tenants.add(t);
    return () => {
      if (!this.tenants.delete(t)) return;
      t.close();
    };
  }

  /** Names of the attached tenants. */
  tenantNames(): string[] {
    return [...this.tenants].map((t) => t.name);
  }

  /** Counters of every attached tenant. */
  tenantStats(): TenantStats[] {
    return [...this.tenants].map((t) => t.statsSnapshot());
  }

  /** Snapshots of every TCP connection (dialing, open, or lingering after close). */
  connections(): ConnectionSnapshot[] {
    const out: ConnectionSnapshot[] = [];
    for (const t of this.tenants) t.snapshot(out);
    return out;
  }

  /** Detaches every tenant (their connections are reset) and drops later packets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of [...this.tenants]) t.close();
    this.tenants.clear();
  }

  /** @internal A dial through a proxy succeeded. */
  proxyOk(name: string): void {
    const s = this.stats.proxies[name];
    if (!s) return;
    s.connects++;
    if (this.proxyDown.delete(name)) {
      s.down = false;
      this.emit('proxyUp', { proxy: name });
    }
  }

  /** @internal A proxy failed. */
  proxyFailed(name: string, code: string, message: string): void {
    const s = this.stats.proxies[name];
    if (!s) return;
    s.failures++;
    this.emit('proxyError', { proxy: name, code, message });
    if (!this.proxyDown.has(name)) {
      this.proxyDown.add(name);
      s.down = true;
      this.emit('proxyDown', { proxy: name, code, message });
    }
  }
}
