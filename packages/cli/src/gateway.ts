/**
 * The gateway behind `l3kit gateway`: WireGuard peers and TUN interfaces as NAT tenants, a NAT
 * (and optionally a NAT64 for the tenants' IPv6) towards an uplink, static forwards, ALG
 * helpers, a state snapshot across restarts, and the numbers the control socket and the
 * metrics endpoint serve.
 *
 * ```text
 *  wireguard peer (tenant 1) ─┐                      ┌─ IPv4 ── Nat ─────┐
 *  wireguard peer (tenant 2) ─┼─ split by IP version ┤                   ├── uplink (TUN)
 *  tunInside      (tenant 3) ─┘                      └─ IPv6 ── Nat64 ───┘
 * ```
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type Clock,
  ConfigError,
  discard,
  type L3Device,
  L3kitError,
  type PacketHandler,
  systemClock,
} from '@l3kit/core';
import {
  Nat,
  Nat64,
  type Nat64Options,
  type Nat64Snapshot,
  type NatHelper,
  type NatOptions,
  type NatSnapshot,
} from '@l3kit/nat';
import { TunDevice } from '@l3kit/tun';
import { PcpServer, PortMappingTable, UpnpIgd } from '@l3kit/upnp';
import { type Prefix, parseIpv4 } from '@l3kit/wire';
import { type Peer, type UdpTransport, WireGuardServer } from '@l3kit/wireguard';
import type { ForwardConfig, GatewayConfig, PeerConfig } from './config.js';
import { availableHelpers, createHelper } from './helpers.js';
import { Logger } from './log.js';

/** Thrown when the gateway cannot start or reload (a TUN, a command, a socket failed). */
export class GatewayError extends L3kitError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'GatewayError';
  }
}

/** Options of {@link Gateway.start}. */
export interface GatewayOptions {
  /** The validated configuration (see `validateGatewayConfig`). */
  config: GatewayConfig;
  /** Where lines go (default: a logger from `config.log`). */
  log?: Logger;
  /** Time source (default: the system clock). */
  clock?: Clock;
  /**
   * The uplink device. Default: the TUN `config.uplink.tun` (needs root). Tests and in-process
   * users pass any `L3Device` (a virtual host, a hub port).
   */
  uplink?: L3Device;
  /** A datagram transport for WireGuard instead of a UDP socket (tests, in-process peers). */
  wireguardTransport?: UdpTransport;
  /** Runs `ip` with these arguments (default: `execFileSync('ip', args)`); tests record the calls. */
  runIp?: (args: string[]) => void;
}

/** What `reload` changed. */
export interface ReloadResult {
  peersAdded: string[];
  peersRemoved: string[];
  peersUpdated: string[];
  forwardsAdded: number;
  forwardsRemoved: number;
  /** Settings that changed but need a restart (JSON paths). */
  needRestart: string[];
}

/** The state file's format. */
export interface GatewayState {
  version: 1;
  /** Clock time of the snapshot (ms). */
  savedAt: number;
  nat: NatSnapshot;
  nat64?: Nat64Snapshot;
}

/** One tenant of the gateway, for stats and metrics. */
export interface TenantInfo {
  tenant: number;
  name: string;
  kind: 'wireguard' | 'tun';
}

/** The gateway's numbers (`l3kit stats`, the metrics endpoint). */
export interface GatewayStats {
  uptimeSeconds: number;
  nat: NatCounters;
  nat64?: NatCounters;
  /** Live NAT mappings per tenant (sessions of NAT44 plus NAT64 BIB entries). */
  mappingsPerTenant: Record<string, number>;
  tenants: TenantInfo[];
  peers: Array<{
    name: string;
    publicKey: string;
    tenant: number;
    endpoint?: string;
    lastHandshakeSecondsAgo?: number;
    handshakes: number;
    rxPackets: number;
    txPackets: number;
    rxBytes: number;
    txBytes: number;
  }>;
  wireguard?: WireGuardServer['stats'];
  /** Packets each ALG helper rewrote. */
  helperRewrites: Record<string, number>;
  /** UPnP / PCP / NAT-PMP requests answered, by `<protocol> <action> <result>`. */
  portControlRequests: Record<string, number>;
  /** Port forwards by origin (`config`, `upnp`, `pcp`, `natpmp`, …). */
  forwardsByOrigin: Record<string, number>;
  uplink: { packetsIn: number; packetsOut: number; dropped: number };
  /** IPv6 packets from tenants dropped because no NAT64 is configured. */
  tenantIpv6Dropped: number;
  restoredFromSnapshot: boolean;
}

/** The counters of a NAT44 or NAT64 as `stats()` reports them. */
export interface NatCounters {
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
  activeMappings: number;
  activeSessions: number;
  mappingsCreated: number;
  mappingsExpired: number;
  /** Dropped packets by reason (every reason of the NAT, zeros included). */
  drops: Record<string, number>;
}

function natCounters(s: Nat['stats'] | Nat64['stats']): NatCounters {
  return {
    packetsOut: s.packetsOut,
    packetsIn: s.packetsIn,
    bytesOut: s.bytesOut,
    bytesIn: s.bytesIn,
    activeMappings: s.activeMappings,
    activeSessions: s.activeSessions,
    mappingsCreated: s.mappingsCreated,
    mappingsExpired: s.mappingsExpired,
    drops: { ...s.drops },
  };
}

const SECOND = 1000;

/** Splits a tenant device into an IPv4 and an IPv6 half (each an `L3Device` for a connector). */
class FamilyHalf implements L3Device {
  handler: PacketHandler = discard;
  constructor(private readonly dev: L3Device) {}
  setHandler(h: PacketHandler): void {
    this.handler = h;
  }
  send(pkt: Uint8Array): void {
    this.dev.send(pkt);
  }
  addr(): Prefix | undefined {
    return this.dev.addr();
  }
  setAddr(p: Prefix): void {
    this.dev.setAddr(p);
  }
  close(): void {}
}

/** A running gateway. Create with {@link Gateway.start}; stop with {@link Gateway.stop}. */
export class Gateway {
  /** The NAT44. */
  readonly nat: Nat;
  /** The NAT64, when configured. */
  readonly nat64: Nat64 | undefined;
  /** The WireGuard interface, when configured. */
  readonly wireguard: WireGuardServer | undefined;
  /** Whether the NAT state came from the state file. */
  readonly restoredFromSnapshot: boolean;
  /** The logger. */
  readonly log: Logger;

  private config: GatewayConfig;
  private readonly clock: Clock;
  private readonly startedAt: number;
  private readonly uplink: L3Device;
  private readonly ownedTuns: TunDevice[] = [];
  private readonly tenants = new Map<number, TenantInfo & { cleanup: () => void }>();
  private readonly peerTenants = new Map<string, PeerConfig>();
  private readonly helperRewrites: Record<string, number> = {};
  private readonly helperRemovers: Array<() => void> = [];
  private readonly portControl: Record<string, number> = {};
  private readonly uplinkStats = { packetsIn: 0, packetsOut: 0, dropped: 0 };
  private tenantIpv6Dropped = 0;
  private readonly nat64Pool: number;
  private stopped = false;

  private constructor(opts: GatewayOptions, uplink: L3Device, state: GatewayState | undefined) {
    const cfg = opts.config;
    this.config = cfg;
    this.clock = opts.clock ?? systemClock();
    this.startedAt = this.clock.now();
    this.log = opts.log ?? new Logger({ level: cfg.log?.level, format: cfg.log?.format, clock: this.clock });
    this.uplink = uplink;

    const natOpts = natOptions(cfg, this.clock);
    let restored = false;
    let nat: Nat | undefined;
    if (state) {
      try {
        nat = Nat.restore(state.nat, natOpts);
        restored = true;
      } catch (e) {
        this.log.warn('state file not restored, starting with an empty NAT', { error: (e as Error).message });
      }
    }
    this.nat = nat ?? new Nat(natOpts);
    this.nat64 = undefined;
    this.nat64Pool = -1;
    if (cfg.nat64) {
      const o: Nat64Options = {
        prefix: cfg.nat64.prefix,
        inside: cfg.nat64.inside ?? '2001:db8:1::1/64',
        outside: cfg.nat64.outside,
        allowNonGlobal: cfg.nat64.allowNonGlobal,
        clock: this.clock,
        // Packets from the uplink go to the NAT64 as the TUN handed them: with its receive
        // headroom, IPv4 → IPv6 writes the IPv6 header in front instead of copying each datagram.
        outsideHeadroom: uplink instanceof TunDevice && uplink.rxHeadroom >= 20,
      };
      let n64: Nat64 | undefined;
      if (state?.nat64 && restored) {
        try {
          n64 = Nat64.restore(state.nat64, o);
        } catch (e) {
          this.log.warn('NAT64 state not restored', { error: (e as Error).message });
        }
      }
      this.nat64 = n64 ?? new Nat64(o);
      this.nat64Pool = parseIpv4(cfg.nat64.outside.split('/')[0]) ?? -1;
    }
    this.restoredFromSnapshot = restored;

    // Uplink: NAT and NAT64 emit towards it; what arrives is dispatched by destination address.
    const toUplink: PacketHandler = (p) => {
      this.uplinkStats.packetsOut++;
      this.uplink.send(p);
    };
    this.nat.outside().setHandler(toUplink);
    this.nat64?.outside().setHandler(toUplink);
    const natOut = this.nat.outside();
    const nat64Out = this.nat64?.outside();
    const pool = this.nat64Pool;
    uplink.setHandler((p) => {
      this.uplinkStats.packetsIn++;
      if (p.length < 20 || p[0] >> 4 !== 4) {
        this.uplinkStats.dropped++;
        return;
      }
      if (nat64Out && ((p[16] << 24) | (p[17] << 16) | (p[18] << 8) | p[19]) >>> 0 === pool) nat64Out.send(p);
      else natOut.send(p);
    });

    for (const name of cfg.nat.helpers ?? []) this.enableHelper(name);
    if (cfg.upnp && cfg.upnp.enabled !== false) this.enablePortControl(cfg.upnp);

    if (cfg.wireguard) {
      const wg = cfg.wireguard;
      const privateKey = wg.privateKey ?? readKeyFile(wg.privateKeyFile as string);
      this.wireguard = new WireGuardServer({
        privateKey,
        listenPort: wg.listenPort,
        listenAddress: wg.listenAddress,
        cipher: wg.cipher,
        clock: this.clock,
        transport: opts.wireguardTransport,
        connector: {
          connectL3: (dev) => {
            const pc = this.peerTenants.get((dev as Peer).publicKey);
            if (!pc) throw new ConfigError('ERR_BAD_OPTION', 'peer without a tenant');
            return this.attachTenant(dev, pc.tenant, peerName(pc), 'wireguard');
          },
        },
      });
      this.wireguard.on('handshake', (peer) => {
        const pc = this.peerTenants.get(peer.publicKey);
        this.log.info('handshake', {
          peer: pc ? peerName(pc) : peer.publicKey,
          endpoint: endpointText(peer),
        });
      });
      this.wireguard.on('error', (e) => this.log.error('wireguard socket error', { error: e.message }));
      for (const p of wg.peers) this.addPeer(p);
    } else {
      this.wireguard = undefined;
    }
  }

  /**
   * Starts a gateway: opens the TUNs (unless `uplink` is given), configures their kernel side
   * with `ip`, restores the state file if there is one, binds WireGuard. Throws
   * {@link GatewayError} / `ConfigError` when something cannot be set up (and undoes the rest).
   */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const cfg = opts.config;
    const runIp = opts.runIp ?? defaultRunIp;
    const opened: TunDevice[] = [];
    let gw: Gateway | undefined;
    try {
      let uplink = opts.uplink;
      if (!uplink) {
        if (!cfg.uplink)
          throw new ConfigError('ERR_BAD_CONFIG', '$.uplink: required unless an uplink device is given');
        const tun = openTun(cfg.uplink.tun, cfg.uplink.mtu, opened);
        runIp(['addr', 'replace', cfg.uplink.address, 'dev', tun.name]);
        for (const r of cfg.uplink.routes ?? []) runIp(['route', 'replace', r, 'dev', tun.name]);
        uplink = tun;
      }
      const state = cfg.state ? readState(cfg.state.file) : undefined;
      gw = new Gateway(opts, uplink, state);
      // A restored state is used once: if this run ends without a graceful stop, the next start
      // must not bring back mappings that are long gone.
      if (state && cfg.state) renameSync(cfg.state.file, `${cfg.state.file}.restored`);
      gw.ownedTuns.push(...opened);
      for (const t of cfg.tunInside ?? []) {
        const tun = openTun(t.name, t.mtu, gw.ownedTuns);
        runIp(['addr', 'replace', t.address, 'dev', tun.name]);
        gw.attachTenant(tun, t.tenant, t.name, 'tun');
      }
      // Forwards name tenants: apply them once every peer and TUN tenant is attached.
      gw.applyForwards(cfg.nat.forwards ?? []);
      if (gw.wireguard) await gw.wireguard.ready;
      gw.log.info('gateway started', {
        nat: `${cfg.nat.inside} -> ${cfg.nat.outside}`,
        nat64: cfg.nat64 ? `${cfg.nat64.prefix} -> ${cfg.nat64.outside}` : undefined,
        wireguard: gw.wireguard ? `${gw.wireguard.publicKey} port ${gw.wireguard.port}` : undefined,
        tenants: gw.tenants.size,
        restored: gw.restoredFromSnapshot,
        mappings: gw.nat.stats.activeMappings,
      });
      return gw;
    } catch (e) {
      if (gw) gw.close();
      else for (const t of opened) t.close();
      throw e;
    }
  }

  /** The running configuration. */
  get currentConfig(): GatewayConfig {
    return this.config;
  }

  /**
   * Attaches `dev` as tenant `tenant`: its IPv4 goes through the NAT, its IPv6 through the NAT64
   * (dropped without one). Returns the cleanup that detaches it and frees its state.
   */
  attachTenant(dev: L3Device, tenant: number, name: string, kind: TenantInfo['kind']): () => void {
    if (this.tenants.has(tenant))
      throw new ConfigError('ERR_TENANT_IN_USE', `tenant ${tenant} is already attached`);
    const v4 = new FamilyHalf(dev);
    const v6 = new FamilyHalf(dev);
    const c4 = this.nat.connectL3(v4, { tenant });
    let c6: (() => void) | undefined;
    try {
      c6 = this.nat64?.connectL3(v6, { tenant });
    } catch (e) {
      c4();
      throw e;
    }
    dev.setHandler((p) => {
      if (p.length > 0 && p[0] >> 4 === 6) {
        if (this.nat64) v6.handler(p);
        else this.tenantIpv6Dropped++;
      } else v4.handler(p);
    });
    const cleanup = () => {
      if (this.tenants.get(tenant)?.cleanup !== cleanup) return;
      this.tenants.delete(tenant);
      dev.setHandler(discard);
      c4();
      c6?.();
    };
    this.tenants.set(tenant, { tenant, name, kind, cleanup });
    return cleanup;
  }

  /** Enables an ALG helper by name; its rewrites are counted. Throws `ERR_UNKNOWN_HELPER`. */
  enableHelper(name: string): void {
    const inner = createHelper(name);
    if (!inner)
      throw new ConfigError(
        'ERR_UNKNOWN_HELPER',
        `unknown helper ${JSON.stringify(name)} (available: ${availableHelpers().join(', ') || 'none'})`,
      );
    this.helperRewrites[name] = 0;
    const counted: NatHelper = {
      name: inner.name,
      proto: inner.proto,
      ports: inner.ports,
      tenants: inner.tenants,
      onPacket: (ctx, host) => {
        const r = inner.onPacket(ctx, host);
        if (r) this.helperRewrites[name]++;
        return r;
      },
      onClose: inner.onClose ? (id) => inner.onClose?.(id) : undefined,
    };
    this.helperRemovers.push(this.nat.addHelper(counted));
  }

  private enablePortControl(u: NonNullable<GatewayConfig['upnp']>): void {
    const table = new PortMappingTable({
      policy: {
        secureMode: u.secureMode ?? true,
        ...(u.maxLeaseSeconds !== undefined ? { maxLeaseMs: u.maxLeaseSeconds * SECOND } : {}),
        ...(u.maxPerClient !== undefined ? { maxPerClient: u.maxPerClient } : {}),
      },
    });
    const count = (key: string) => {
      this.portControl[key] = (this.portControl[key] ?? 0) + 1;
    };
    if (u.igd !== false) {
      const igd = new UpnpIgd({ table });
      igd.on('request', (e) => {
        count(`upnp ${e.action} ${e.errorCode === 0 ? 'ok' : e.errorCode}`);
        this.log.info('upnp request', {
          tenant: e.tenant,
          client: e.client,
          action: e.action,
          error: e.errorCode || undefined,
        });
      });
      this.helperRemovers.push(this.nat.addHelper(igd));
    }
    if (u.pcp !== false) {
      const pcp = new PcpServer({ table });
      pcp.on('request', (e) => {
        count(`${e.protocol} ${e.opcode} ${e.resultName}`);
        this.log.info(`${e.protocol} request`, {
          tenant: e.tenant,
          client: e.client,
          opcode: e.opcode,
          result: e.resultName,
        });
      });
      this.helperRemovers.push(this.nat.addHelper(pcp));
    }
  }

  private addPeer(p: PeerConfig): void {
    const wg = this.wireguard as WireGuardServer;
    this.peerTenants.set(p.publicKey, p);
    try {
      wg.addPeer({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        allowedIps: p.allowedIps,
        endpoint: p.endpoint,
        persistentKeepalive: p.persistentKeepalive,
      });
    } catch (e) {
      this.peerTenants.delete(p.publicKey);
      throw e;
    }
  }

  private applyForwards(wanted: ForwardConfig[]): { added: number; removed: number } {
    const key = (proto: number, port: number) => `${proto}/${port}`;
    const want = new Map(wanted.map((f) => [key(f.proto === 'tcp' ? 6 : 17, f.outsidePort), f]));
    let removed = 0;
    let added = 0;
    const have = new Set<string>();
    for (const f of this.nat.listPortForwards()) {
      if (f.origin !== 'config') continue;
      const w = want.get(key(f.proto, f.outsidePort));
      const tenant = w?.tenant ?? this.defaultTenant();
      if (w && w.insideIp === f.insideIp && w.insidePort === f.insidePort && tenant === f.tenant) {
        have.add(key(f.proto, f.outsidePort));
        continue;
      }
      this.nat.removePortForward(f.proto, f.outsidePort, f.outsideIp);
      removed++;
    }
    for (const [k, f] of want) {
      if (have.has(k)) continue;
      this.nat.addPortForward({
        proto: f.proto === 'tcp' ? 6 : 17,
        outsidePort: f.outsidePort,
        insideIp: f.insideIp,
        insidePort: f.insidePort,
        tenant: f.tenant ?? this.defaultTenant(),
        origin: 'config',
        description: f.description,
      });
      added++;
    }
    return { added, removed };
  }

  private defaultTenant(): number {
    return this.config.wireguard?.peers[0]?.tenant ?? this.config.tunInside?.[0]?.tenant ?? 1;
  }

  /**
   * Applies a new configuration: adds, removes and updates WireGuard peers (an updated peer is
   * re-attached: its mappings go), replaces the static forwards, changes the log level. Other
   * changes are reported in `needRestart`. Validate `next` first (`validateGatewayConfig`).
   */
  reload(next: GatewayConfig): ReloadResult {
    const r: ReloadResult = {
      peersAdded: [],
      peersRemoved: [],
      peersUpdated: [],
      forwardsAdded: 0,
      forwardsRemoved: 0,
      needRestart: [],
    };
    const prev = this.config;
    for (const k of ['nat', 'nat64', 'tunInside', 'uplink', 'control', 'metrics', 'state', 'upnp'] as const) {
      const a = k === 'nat' ? { ...prev.nat, forwards: undefined } : prev[k];
      const b = k === 'nat' ? { ...next.nat, forwards: undefined } : next[k];
      if (JSON.stringify(a) !== JSON.stringify(b)) r.needRestart.push(`$.${k}`);
    }
    const wgPrev = prev.wireguard;
    const wgNext = next.wireguard;
    if (
      (wgPrev === undefined) !== (wgNext === undefined) ||
      (wgPrev &&
        wgNext &&
        (wgPrev.privateKey !== wgNext.privateKey ||
          wgPrev.privateKeyFile !== wgNext.privateKeyFile ||
          wgPrev.listenPort !== wgNext.listenPort ||
          wgPrev.listenAddress !== wgNext.listenAddress))
    )
      r.needRestart.push('$.wireguard');
    if (this.wireguard && wgNext) {
      const nextPeers = new Map(wgNext.peers.map((p) => [p.publicKey, p]));
      for (const [pub, old] of [...this.peerTenants]) {
        const n = nextPeers.get(pub);
        if (n && JSON.stringify(n) === JSON.stringify(old)) continue;
        this.wireguard.removePeer(pub);
        this.peerTenants.delete(pub);
        if (n) r.peersUpdated.push(peerName(n));
        else r.peersRemoved.push(peerName(old));
      }
      for (const [pub, p] of nextPeers) {
        if (this.peerTenants.has(pub)) continue;
        this.addPeer(p);
        if (!r.peersUpdated.includes(peerName(p))) r.peersAdded.push(peerName(p));
      }
    }
    this.config = { ...prev, wireguard: wgNext && this.wireguard ? wgNext : prev.wireguard, log: next.log };
    this.config.nat = { ...prev.nat, forwards: next.nat.forwards };
    const f = this.applyForwards(next.nat.forwards ?? []);
    r.forwardsAdded = f.added;
    r.forwardsRemoved = f.removed;
    if (next.log?.level) this.log.setLevel(next.log.level);
    return r;
  }

  /** The NAT state as the state file stores it. */
  snapshotState(): GatewayState {
    return {
      version: 1,
      savedAt: this.clock.now(),
      nat: this.nat.snapshot(),
      ...(this.nat64 ? { nat64: this.nat64.snapshot() } : {}),
    };
  }

  /** The connection tables in `conntrack -L` format (NAT44, then NAT64). */
  conntrack(): string {
    return this.nat.formatConntrack() + (this.nat64 ? this.nat64.formatConntrack() : '');
  }

  /** The gateway's counters. */
  stats(): GatewayStats {
    const perTenant: Record<string, number> = {};
    for (const t of this.tenants.keys()) perTenant[t] = 0;
    for (const m of this.nat.mappings()) perTenant[m.tenant] = (perTenant[m.tenant] ?? 0) + 1;
    if (this.nat64)
      for (const m of this.nat64.mappings()) perTenant[m.tenant] = (perTenant[m.tenant] ?? 0) + 1;
    const now = this.clock.now();
    const forwardsByOrigin: Record<string, number> = {};
    for (const f of this.nat.listPortForwards())
      forwardsByOrigin[f.origin] = (forwardsByOrigin[f.origin] ?? 0) + 1;
    const peers: GatewayStats['peers'] = [];
    for (const peer of this.wireguard?.listPeers() ?? []) {
      const pc = this.peerTenants.get(peer.publicKey);
      const info = peer.info();
      peers.push({
        name: pc ? peerName(pc) : peer.publicKey,
        publicKey: peer.publicKey,
        tenant: pc?.tenant ?? 0,
        endpoint: info.endpoint ? endpointText(peer) : undefined,
        lastHandshakeSecondsAgo:
          info.lastHandshake === undefined ? undefined : Math.max(0, (now - info.lastHandshake) / SECOND),
        handshakes: info.stats.handshakesCompleted,
        rxPackets: info.stats.rxPackets,
        txPackets: info.stats.txPackets,
        rxBytes: info.stats.rxBytes,
        txBytes: info.stats.txBytes,
      });
    }
    return {
      uptimeSeconds: (now - this.startedAt) / SECOND,
      nat: natCounters(this.nat.stats),
      ...(this.nat64 ? { nat64: natCounters(this.nat64.stats) } : {}),
      mappingsPerTenant: perTenant,
      tenants: [...this.tenants.values()].map(({ tenant, name, kind }) => ({ tenant, name, kind })),
      peers,
      ...(this.wireguard ? { wireguard: { ...this.wireguard.stats } } : {}),
      helperRewrites: { ...this.helperRewrites },
      portControlRequests: { ...this.portControl },
      forwardsByOrigin,
      uplink: { ...this.uplinkStats },
      tenantIpv6Dropped: this.tenantIpv6Dropped,
      restoredFromSnapshot: this.restoredFromSnapshot,
    };
  }

  /**
   * Stops the gateway: stops taking packets, writes the state file (when configured and
   * `snapshot` is not false; atomically, mode 0600), then closes WireGuard, the NATs and the TUNs.
   */
  stop(opts: { snapshot?: boolean } = {}): GatewayState | undefined {
    if (this.stopped) return undefined;
    this.uplink.setHandler(discard);
    let state: GatewayState | undefined;
    if (opts.snapshot !== false) {
      state = this.snapshotState();
      const file = this.config.state?.file;
      if (file) {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        const tmp = `${file}.tmp-${process.pid}`;
        writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
        renameSync(tmp, file);
        this.log.info('state saved', { file, mappings: state.nat.mappings.length });
      }
    }
    this.close();
    return state;
  }

  private close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wireguard?.close();
    for (const t of [...this.tenants.values()]) t.cleanup();
    for (const r of this.helperRemovers) r();
    this.nat.close();
    this.nat64?.close();
    for (const t of this.ownedTuns) t.close();
  }
}

function natOptions(cfg: GatewayConfig, clock: Clock): NatOptions {
  const n = cfg.nat;
  const t = n.timeouts ?? {};
  const timeouts: NonNullable<NatOptions['timeouts']> = {};
  for (const k of ['udp', 'icmp', 'gre', 'tcpEstablished', 'tcpTransitory'] as const)
    if (t[k] !== undefined) timeouts[k] = (t[k] as number) * SECOND;
  return {
    inside: n.inside,
    outside: n.outside,
    outsidePool: n.outsidePool,
    type: n.type,
    mapping: n.mapping,
    filtering: n.filtering,
    hairpinning: n.hairpinning,
    maxMappingsPerTenant: n.maxMappingsPerTenant,
    maxMappings: n.maxMappings,
    mtu: n.mtu,
    timeouts,
    clock,
  };
}

function readState(file: string): GatewayState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as GatewayState;
    if (s?.version !== 1 || typeof s.nat !== 'object') throw new Error('not an l3kit gateway state file');
    return s;
  } catch (e) {
    throw new GatewayError('ERR_BAD_STATE', `${file}: ${(e as Error).message} (remove it to start empty)`, {
      cause: e,
    });
  }
}

/** Reads a WireGuard private key file (`$.wireguard.privateKeyFile`); throws `ERR_BAD_CONFIG`. */
export function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(
      'ERR_BAD_CONFIG',
      `$.wireguard.privateKeyFile: cannot read ${file}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

function openTun(name: string, mtu: number | undefined, opened: TunDevice[]): TunDevice {
  const tun = TunDevice.open({ name, mtu, up: true, txQueueLen: 4096 });
  opened.push(tun);
  return tun;
}

function defaultRunIp(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new GatewayError(
      'ERR_IP_COMMAND',
      `ip ${args.join(' ')}: ${err.stderr?.toString().trim() || err.message}`,
      {
        cause: e,
      },
    );
  }
}

function peerName(p: PeerConfig): string {
  return p.name ?? p.publicKey.slice(0, 8);
}

function endpointText(peer: Peer): string | undefined {
  const ep = peer.info().endpoint;
  if (!ep) return undefined;
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}
