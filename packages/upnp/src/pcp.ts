/**
 * `PcpServer`: a PCP (RFC 6887) and NAT-PMP (RFC 6886) server on UDP 5351 of the NAT's inside
 * address, as a local helper of `@l3kit/nat`. Inside hosts open ports on the NAT (MAP), keep
 * outbound mappings to a peer alive (PEER), learn the external address and the server's epoch
 * (ANNOUNCE, NAT-PMP opcode 0). Mappings live in a {@link PortMappingTable} — share one with the
 * UPnP IGD to apply one policy to both — and appear in `nat.listPortForwards()` with origin
 * `'pcp'` / `'natpmp'` and their lease.
 *
 * ```ts
 * const table = new PortMappingTable();
 * nat.addHelper(new UpnpIgd({ table }));
 * nat.addHelper(new PcpServer({ table, maxLifetime: 3600 }));
 * ```
 */
import type { Scheduler, TimerHandle } from '@l3kit/core';
import { ConfigError } from '@l3kit/core';
import type { LocalEndpoint, NatLocalHelper, NatLocalHost } from '@l3kit/nat';
import { buildPacket, formatIpv4, IpProtocol, Ipv4Packet, parseIpv4, UdpDatagram } from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';
import {
  emitNatPmpAddressResponse,
  emitNatPmpMapResponse,
  NATPMP_VERSION,
  NatPmpOpcode,
  type NatPmpRequestRepr,
  NatPmpResult,
  natPmpErrorResponse,
  natPmpResultName,
  parseNatPmpRequest,
} from './natpmp.js';
import { type RateLimitOptions, RequestRateLimiter } from './pcp-rate-limit.js';
import {
  emitPcpResponse,
  isShortLifetimeError,
  type ParsedPcpRequest,
  PCP_ANNOUNCE_GROUP,
  PCP_CLIENT_PORT,
  PCP_SERVER_PORT,
  PCP_VERSION,
  PcpOpcode,
  type PcpOption,
  PcpResult,
  parsePcpRequest,
  pcpErrorResponse,
  pcpResultName,
} from './pcp-wire.js';
import {
  type MappingErrorCode,
  type MappingRequest,
  type PortMapping,
  type PortMappingPolicy,
  PortMappingTable,
} from './policy.js';

export * from './natpmp.js';
export * from './pcp-rate-limit.js';
export * from './pcp-wire.js';

/** Configuration of {@link PcpServer}. Every field has a safe default. */
export interface PcpServerConfig {
  /** The mapping table (share it with `UpnpIgd`). Default: a new table with `policy`. */
  table?: PortMappingTable;
  /** Policy of the table created when `table` is absent. */
  policy?: PortMappingPolicy;
  /** Tenants served; all when absent. */
  tenants?: readonly number[];
  /** Answer PCP (version 2). Default true; when false NAT-PMP clients only, PCP requests get NAT-PMP's UNSUPPORTED_VERSION. */
  pcp?: boolean;
  /** Answer NAT-PMP (version 0). Default true; when false version 0 gets PCP's UNSUPP_VERSION (RFC 6887 §9). */
  natPmp?: boolean;
  /**
   * Accept the THIRD_PARTY option (a mapping for another internal address). Default false: such
   * requests get NOT_AUTHORIZED. Even when true the table's secure mode must be off as well.
   */
  allowThirdParty?: boolean;
  /** Shortest lifetime granted, seconds (shorter requests are raised). Default 120. */
  minLifetime?: number;
  /** Longest lifetime granted, seconds (longer requests are lowered). Default 86 400. */
  maxLifetime?: number;
  /** Lifetime sent with short-lifetime errors (RFC 6887 §7.4), seconds. Default 30. */
  shortErrorLifetime?: number;
  /** Lifetime sent with long-lifetime errors, seconds. Default 1800. */
  longErrorLifetime?: number;
  /** PEER mappings per client before EXCESSIVE_REMOTE_PEERS. Default 64. */
  maxPeersPerClient?: number;
  /** PEER mappings tracked in all, before NO_RESOURCES. Default 4096. */
  maxPeers?: number;
  /** Per-client and global request rate limits; `false` turns limiting off. */
  rateLimit?: RateLimitOptions | false;
  /** Multicast the unsolicited ANNOUNCE (and NAT-PMP address announcement) when attached. Default true. */
  announceOnStart?: boolean;
  /**
   * Timer source for repeating announcements (RFC 6886 §3.2.1: up to 10 times, 250 ms doubling).
   * Without one each announcement is sent once.
   */
  scheduler?: Scheduler;
  /** Announcement repeats with a scheduler. Default 10 (clamped 1..10). */
  announceCount?: number;
}

/** One answered (or refused) request, for the `request` event and logs. */
export interface PcpRequestInfo {
  protocol: 'pcp' | 'natpmp';
  tenant: number;
  client: string;
  clientPort: number;
  /** PCP or NAT-PMP opcode of the request. */
  opcode: number;
  /** Result code sent (PCP or NAT-PMP numbering per `protocol`). */
  result: number;
  /** RFC name of the result. */
  resultName: string;
  /** The mapping created / renewed / deleted, when there is one. */
  mapping?: PortMapping;
  /** Lifetime sent, seconds. */
  lifetime: number;
}

/** Events of {@link PcpServer}. */
export interface PcpServerEvents {
  /** A request was answered (success or error). Not emitted for dropped packets. */
  request: (info: PcpRequestInfo) => void;
}

/** Counters of {@link PcpServer}. */
export interface PcpServerStats {
  /** Packets handed to the server. */
  received: number;
  /** PCP requests processed (answered). */
  pcpRequests: number;
  /** NAT-PMP requests processed (answered). */
  natPmpRequests: number;
  /** Responses sent (unicast). */
  responses: number;
  /** Unsolicited announcements sent (PCP ANNOUNCE and NAT-PMP address), per tenant and destination. */
  announcements: number;
  /** Error responses by result name (`'NOT_AUTHORIZED'`, `'natpmp:NOT_AUTHORIZED'`). */
  errors: Record<string, number>;
  /** Packets dropped without an answer, by reason. */
  dropped: Record<string, number>;
}

/** A PEER mapping the server keeps track of (for nonces and the per-client peer limit). */
interface PeerEntry {
  tenant: number;
  client: string;
  nonce: string;
  expiresAt: number;
}

const DEFAULT_MIN_LIFETIME = 120;
const DEFAULT_MAX_LIFETIME = 86_400;
const ANNOUNCE_FIRST_INTERVAL_MS = 250;
const MAX_ANNOUNCE_COUNT = 10;
const TWO_POW_32 = 0x1_0000_0000;

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function int(v: unknown, dflt: number, what: string, min: number, max = 0xffffffff): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max)
    throw new ConfigError('ERR_BAD_OPTION', `PcpServer: ${what} must be an integer ${min}..${max}`);
  return x;
}

/** PCP result for a refusal of the mapping table. */
function pcpResultOf(code: MappingErrorCode): number {
  switch (code) {
    case 'invalid':
      return PcpResult.MalformedRequest;
    case 'not-authorized':
    case 'port-not-allowed':
    case 'only-permanent-leases':
      return PcpResult.NotAuthorized;
    case 'conflict':
    case 'conflict-other':
    case 'same-port-required':
      return PcpResult.CannotProvideExternal;
    case 'quota-exceeded':
      return PcpResult.UserExQuota;
    case 'network-failure':
      return PcpResult.NetworkFailure;
    default:
      return PcpResult.NoResources;
  }
}

/** NAT-PMP result for a refusal of the mapping table. */
function natPmpResultOf(code: MappingErrorCode): number {
  switch (code) {
    case 'invalid':
    case 'not-authorized':
    case 'port-not-allowed':
    case 'only-permanent-leases':
      return NatPmpResult.NotAuthorized;
    case 'network-failure':
      return NatPmpResult.NetworkFailure;
    default:
      return NatPmpResult.OutOfResources;
  }
}

/** What a MAP / PEER handler decided: the response fields and the mapping involved. */
interface Outcome {
  result: number;
  lifetime: number;
  externalPort?: number;
  externalAddress?: string;
  mapping?: PortMapping;
}

/**
 * The PCP + NAT-PMP server. Add it to a NAT with `nat.addHelper(new PcpServer(config))`.
 *
 * - MAP creates, renews (same nonce) and deletes (lifetime 0) inbound mappings; the suggested
 *   external port / address is honoured when possible, otherwise another port is given unless
 *   PREFER_FAILURE asks for CANNOT_PROVIDE_EXTERNAL. A mapping of the same internal endpoint
 *   with another nonce (or made by UPnP / NAT-PMP) is NOT_AUTHORIZED.
 * - PEER creates or extends the NAT's outbound mapping with a session to the remote peer.
 * - ANNOUNCE is answered, and multicast unsolicited to 224.0.0.1:5350 on start and on
 *   {@link resetEpoch} for every tenant.
 * - NAT-PMP opcodes 0, 1, 2 share the table (origin `'natpmp'`).
 * - The PCP client address must equal the packet's source (ADDRESS_MISMATCH); requests are rate
 *   limited per client with bounded memory; malformed packets are answered with the RFC's error
 *   or dropped and counted, and never throw.
 */
export class PcpServer extends EventEmitter<PcpServerEvents> implements NatLocalHelper {
  /** Helper name in the NAT (unique among its helpers). */
  readonly name = 'pcp';
  /** A local helper: a service of the NAT itself. */
  readonly kind = 'local' as const;
  /** UDP 5351 on the NAT's inside address (PCP and NAT-PMP). */
  readonly endpoints: readonly LocalEndpoint[] = Object.freeze([
    Object.freeze({ proto: IpProtocol.Udp, port: PCP_SERVER_PORT }),
  ]);
  /** Tenants served; all when absent. */
  readonly tenants?: readonly number[];
  /** The mapping table in use. */
  readonly table: PortMappingTable;
  /** Counters. */
  readonly stats: PcpServerStats = {
    received: 0,
    pcpRequests: 0,
    natPmpRequests: 0,
    responses: 0,
    announcements: 0,
    errors: {},
    dropped: {},
  };

  private readonly pcpOn: boolean;
  private readonly natPmpOn: boolean;
  private readonly allowThirdParty: boolean;
  private readonly minLifetime: number;
  private readonly maxLifetime: number;
  private readonly shortErrorLifetime: number;
  private readonly longErrorLifetime: number;
  private readonly maxPeersPerClient: number;
  private readonly maxPeers: number;
  private readonly limiter: RequestRateLimiter | undefined;
  private readonly announceOnStart: boolean;
  private readonly scheduler: Scheduler | undefined;
  private readonly announceCount: number;
  private host: NatLocalHost | undefined;
  private insideIp = 0;
  private epochStart = 0;
  private readonly peers = new Map<string, PeerEntry>();
  private readonly announceTimers = new Set<TimerHandle>();

  /** Throws `ERR_BAD_OPTION` for a bad configuration. */
  constructor(config: PcpServerConfig = {}) {
    super();
    if (typeof config !== 'object' || config === null)
      throw new ConfigError('ERR_BAD_OPTION', 'PcpServer: config must be an object');
    if (config.table !== undefined && !(config.table instanceof PortMappingTable))
      throw new ConfigError('ERR_BAD_OPTION', 'PcpServer: table must be a PortMappingTable');
    if (config.table && config.policy)
      throw new ConfigError(
        'ERR_BAD_OPTION',
        'PcpServer: give either table or policy (the policy belongs to the table)',
      );
    this.table = config.table ?? new PortMappingTable({ policy: config.policy });
    if (config.tenants !== undefined) {
      if (!Array.isArray(config.tenants) || !config.tenants.every((t) => Number.isInteger(t) && t >= 0))
        throw new ConfigError('ERR_BAD_OPTION', 'PcpServer: tenants must be an array of tenant ids');
      this.tenants = Object.freeze([...config.tenants]);
    }
    this.pcpOn = config.pcp ?? true;
    this.natPmpOn = config.natPmp ?? true;
    if (!this.pcpOn && !this.natPmpOn)
      throw new ConfigError('ERR_BAD_OPTION', 'PcpServer: at least one of pcp and natPmp must be on');
    this.allowThirdParty = config.allowThirdParty ?? false;
    this.minLifetime = int(config.minLifetime, DEFAULT_MIN_LIFETIME, 'minLifetime', 1);
    this.maxLifetime = int(
      config.maxLifetime,
      Math.max(DEFAULT_MAX_LIFETIME, this.minLifetime),
      'maxLifetime',
      1,
    );
    if (this.minLifetime > this.maxLifetime)
      throw new ConfigError('ERR_BAD_OPTION', 'PcpServer: minLifetime must be <= maxLifetime');
    this.shortErrorLifetime = int(config.shortErrorLifetime, 30, 'shortErrorLifetime', 0);
    this.longErrorLifetime = int(config.longErrorLifetime, 1800, 'longErrorLifetime', 0);
    this.maxPeersPerClient = int(config.maxPeersPerClient, 64, 'maxPeersPerClient', 1);
    this.maxPeers = int(config.maxPeers, 4096, 'maxPeers', 1);
    this.limiter = config.rateLimit === false ? undefined : new RequestRateLimiter(config.rateLimit ?? {});
    this.announceOnStart = config.announceOnStart ?? true;
    this.scheduler = config.scheduler;
    this.announceCount = Math.min(
      MAX_ANNOUNCE_COUNT,
      int(config.announceCount, MAX_ANNOUNCE_COUNT, 'announceCount', 1),
    );
  }

  /** Seconds since the epoch began (RFC 6887 §8.5), as sent in every response. 0 before attach. */
  get epoch(): number {
    if (!this.host) return 0;
    return Math.floor(Math.max(0, this.host.clock.now() - this.epochStart) / 1000) % TWO_POW_32;
  }

  /** Number of PEER mappings tracked now. */
  get peerCount(): number {
    this.purgePeers();
    return this.peers.size;
  }

  /** {@inheritDoc NatLocalHelper.attach} */
  attach(host: NatLocalHost): void {
    if (this.host) throw new ConfigError('ERR_HELPER_IN_USE', 'PcpServer is already attached to a NAT');
    const inside = parseIpv4(host.insideAddress);
    if (inside === null)
      throw new ConfigError('ERR_BAD_OPTION', `PcpServer: bad inside address ${host.insideAddress}`);
    this.table.bind(host);
    this.host = host;
    this.insideIp = inside >>> 0;
    this.epochStart = host.clock.now();
    if (this.announceOnStart) this.announce();
  }

  /** {@inheritDoc NatLocalHelper.detach} */
  detach(): void {
    if (!this.host) return;
    this.cancelAnnouncements();
    this.peers.clear();
    this.limiter?.clear();
    this.table.unbind();
    this.host = undefined;
  }

  /** {@inheritDoc NatLocalHelper.onTenantRemoved} */
  onTenantRemoved(tenant: number): void {
    this.table.removeTenant(tenant);
    for (const [k, p] of this.peers) if (p.tenant === tenant) this.peers.delete(k);
    this.limiter?.forget((key) => Math.floor(key / TWO_POW_32) === tenant);
  }

  /**
   * Starts a new epoch (as after a restart that lost state: clients re-create their mappings) and
   * multicasts the unsolicited announcement to every served tenant.
   */
  resetEpoch(): void {
    if (!this.host) return;
    this.epochStart = this.host.clock.now();
    this.announce();
  }

  /**
   * Multicasts an unsolicited PCP ANNOUNCE response (and, with NAT-PMP on, the NAT-PMP external
   * address response) from the inside address:5351 to 224.0.0.1:5350 for every served tenant (the
   * NAT-PMP address by unicast to each NAT-PMP client instead when an outside pool pairs them with
   * different addresses) — repeated `announceCount` times (250 ms doubling) when a scheduler was given; a new call
   * replaces the repeats still pending. Does nothing before attach.
   */
  announce(): void {
    if (!this.host) return;
    this.cancelAnnouncements();
    this.sendAnnouncements();
    const s = this.scheduler;
    if (!s) return;
    let delay = ANNOUNCE_FIRST_INTERVAL_MS;
    let at = s.clock.now();
    for (let i = 1; i < this.announceCount; i++) {
      at += delay;
      delay *= 2;
      const h: TimerHandle = s.schedule(at, () => {
        this.announceTimers.delete(h);
        this.sendAnnouncements();
      });
      this.announceTimers.add(h);
    }
  }

  private cancelAnnouncements(): void {
    for (const t of this.announceTimers) t.cancel();
    this.announceTimers.clear();
  }

  private sendAnnouncements(): void {
    const host = this.host;
    if (!host) return;
    for (const tenant of host.tenantIds()) {
      if (!this.serves(tenant)) continue;
      if (this.pcpOn) {
        const msg = emitPcpResponse({
          opcode: PcpOpcode.Announce,
          result: PcpResult.Success,
          lifetime: 0,
          epoch: this.epoch,
        });
        this.sendTo(tenant, PCP_ANNOUNCE_GROUP, PCP_CLIENT_PORT, msg, 1);
        this.stats.announcements++;
      }
      if (this.natPmpOn) this.announceNatPmpAddress(host, tenant);
    }
  }

  /**
   * The NAT-PMP external-address announcement (RFC 6886 §3.2.1) to `tenant`: multicast with the
   * tenant's address. With an outside pool each inside host has its own paired address (RFC 4787
   * REQ-2); when a NAT-PMP client's differs, each NAT-PMP client (an inside host holding a
   * NAT-PMP mapping) gets its own address by unicast instead, and nothing is multicast.
   */
  private announceNatPmpAddress(host: NatLocalHost, tenant: number): void {
    let ext: string;
    const own = new Map<string, string>();
    try {
      ext = host.externalAddress(tenant);
      for (const m of this.table.list(tenant))
        if (m.origin === 'natpmp' && !own.has(m.internalIp))
          own.set(m.internalIp, host.externalAddress(tenant, m.internalIp));
    } catch {
      return;
    }
    const paired = [...own.values()].some((a) => a !== ext);
    const targets: Array<[string, string]> = paired ? [...own] : [[PCP_ANNOUNCE_GROUP, ext]];
    for (const [dst, addr] of targets) {
      const ttl = dst === PCP_ANNOUNCE_GROUP ? 1 : 64;
      this.sendTo(tenant, dst, PCP_CLIENT_PORT, emitNatPmpAddressResponse(0, this.epoch, addr), ttl);
      this.stats.announcements++;
    }
  }

  private serves(tenant: number): boolean {
    return this.tenants === undefined || this.tenants.includes(tenant);
  }

  private drop(reason: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
  }

  /** {@inheritDoc NatLocalHelper.onLocalPacket} */
  onLocalPacket(pkt: Uint8Array, tenant: number): void {
    try {
      const dropped = this.handle(pkt, tenant);
      if (dropped !== null) this.drop(dropped);
    } catch {
      // Never throw into the NAT: an unexpected failure counts as a drop.
      this.drop('internal-error');
    }
  }

  /** Handles one packet; returns why it was dropped, or `null` when it was answered. */
  private handle(pkt: Uint8Array, tenant: number): string | null {
    this.stats.received++;
    const host = this.host;
    if (!host) return 'detached';
    if (!this.serves(tenant)) return 'tenant';
    const ip = Ipv4Packet.checked(pkt);
    if (!ip || ip.protocol !== IpProtocol.Udp || ip.isFragment) return 'not-udp';
    const udp = UdpDatagram.checked(pkt, ip.headerLen, ip.totalLength);
    if (!udp) return 'bad-udp';
    if (udp.dstPort !== PCP_SERVER_PORT || ip.dst >>> 0 !== this.insideIp) return 'not-for-us';
    const src = ip.src >>> 0;
    const clientPort = udp.srcPort;
    if (src === 0 || src >>> 28 >= 14 || clientPort === 0) return 'bad-source';
    if (this.limiter && !this.limiter.allow(tenant * TWO_POW_32 + src, host.clock.now()))
      return 'rate-limited';
    const msg = udp.payload();
    if (msg.length < 2) return 'short';
    const client = formatIpv4(src);
    if (msg[0] === NATPMP_VERSION) {
      if (this.natPmpOn) return this.natPmp(msg, tenant, client, clientPort);
      // A PCP-only server answers NAT-PMP with PCP's UNSUPP_VERSION (RFC 6887 §9); its result
      // code lands in the bytes NAT-PMP reads as "unsupported version".
      if (msg[1] & 0x80) return 'response';
      return this.pcpError(msg, PcpResult.UnsuppVersion, tenant, client, clientPort);
    }
    if (!this.pcpOn) {
      // A NAT-PMP-only server: any other version gets NAT-PMP's UNSUPPORTED_VERSION (RFC 6886 §3.5).
      if (msg[1] & 0x80) return 'response';
      return this.answer(
        'natpmp',
        tenant,
        client,
        clientPort,
        msg[1],
        natPmpErrorResponse(msg, NatPmpResult.UnsupportedVersion, this.epoch),
        NatPmpResult.UnsupportedVersion,
        0,
      );
    }
    return this.pcp(msg, tenant, client, clientPort);
  }

  // -------------------------------------------------------------------------------------------
  // PCP

  private errorLifetime(result: number): number {
    return isShortLifetimeError(result) ? this.shortErrorLifetime : this.longErrorLifetime;
  }

  private pcpError(
    msg: Uint8Array,
    result: number,
    tenant: number,
    client: string,
    clientPort: number,
    lifetime?: number,
  ): null {
    const life = lifetime ?? this.errorLifetime(result);
    const out = pcpErrorResponse(msg, result, life, this.epoch, PCP_VERSION);
    return this.answer(
      'pcp',
      tenant,
      client,
      clientPort,
      msg.length > 1 ? msg[1] & 0x7f : 0,
      out,
      result,
      life,
    );
  }

  /** Sends a response to the client, counts it and reports it; returns `null` (answered, not dropped). */
  private answer(
    protocol: 'pcp' | 'natpmp',
    tenant: number,
    client: string,
    clientPort: number,
    opcode: number,
    out: Uint8Array,
    result: number,
    lifetime: number,
    mapping?: PortMapping,
  ): null {
    const pcp = protocol === 'pcp';
    if (pcp) this.stats.pcpRequests++;
    else this.stats.natPmpRequests++;
    const resultName = pcp ? pcpResultName(result) : natPmpResultName(result);
    if (result !== 0) {
      const k = pcp ? resultName : `natpmp:${resultName}`;
      this.stats.errors[k] = (this.stats.errors[k] ?? 0) + 1;
    }
    this.sendTo(tenant, client, clientPort, out, 64);
    this.stats.responses++;
    if (this.listenerCount('request') > 0) {
      const info: PcpRequestInfo = {
        protocol,
        tenant,
        client,
        clientPort,
        opcode: opcode & 0x7f,
        result,
        resultName,
        lifetime,
      };
      if (mapping) info.mapping = mapping;
      this.emit('request', info);
    }
    return null;
  }

  private pcp(msg: Uint8Array, tenant: number, client: string, clientPort: number): string | null {
    const parsed = parsePcpRequest(msg);
    if (!parsed.ok) {
      if (parsed.result === 'drop') return parsed.reason;
      return this.pcpError(msg, parsed.result, tenant, client, clientPort);
    }
    const req = parsed.request;
    // RFC 6887 §8.3: the client address field must be the packet's source.
    if (req.clientIpv4 === null || formatIpv4(req.clientIpv4) !== client)
      return this.pcpError(msg, PcpResult.AddressMismatch, tenant, client, clientPort);
    if (req.opcode === PcpOpcode.Announce) {
      const out = emitPcpResponse({
        opcode: PcpOpcode.Announce,
        result: PcpResult.Success,
        lifetime: 0,
        epoch: this.epoch,
      });
      return this.answer('pcp', tenant, client, clientPort, req.opcode, out, PcpResult.Success, 0);
    }
    const o = req.opcode === PcpOpcode.Map ? this.map(req, tenant, client) : this.peer(req, tenant, client);
    if (o.result !== PcpResult.Success)
      return this.pcpError(msg, o.result, tenant, client, clientPort, o.lifetime);
    const data = (req.map ?? req.peer) as NonNullable<ParsedPcpRequest['map']>;
    const assigned = {
      ...data,
      externalPort: o.externalPort ?? 0,
      externalAddress: o.externalAddress ?? '0.0.0.0',
    };
    const out = emitPcpResponse({
      opcode: req.opcode,
      result: PcpResult.Success,
      lifetime: o.lifetime,
      epoch: this.epoch,
      ...(req.peer ? { peer: { ...req.peer, ...assigned } } : { map: assigned }),
      options: echoedOptions(req.options),
    });
    return this.answer(
      'pcp',
      tenant,
      client,
      clientPort,
      req.opcode,
      out,
      PcpResult.Success,
      o.lifetime,
      o.mapping,
    );
  }

  /** The internal address a MAP / PEER request is for (THIRD_PARTY or the client), or an error outcome. */
  private internalOf(req: ParsedPcpRequest, client: string): string | Outcome {
    if (req.thirdParty === undefined) return client;
    if (!this.allowThirdParty) return this.fail(PcpResult.NotAuthorized);
    const v4 = parseIpv4(req.thirdParty);
    if (v4 === null || v4 === 0) return this.fail(PcpResult.MalformedOption);
    return formatIpv4(v4);
  }

  private fail(result: number, lifetime?: number): Outcome {
    return { result, lifetime: lifetime ?? this.errorLifetime(result) };
  }

  private clampLifetime(s: number): number {
    return Math.min(this.maxLifetime, Math.max(this.minLifetime, s));
  }

  private remaining(m: PortMapping): number {
    if (m.expiresAt === Number.POSITIVE_INFINITY) return this.maxLifetime;
    const now = (this.host as NatLocalHost).clock.now();
    return Math.max(0, Math.ceil((m.expiresAt - now) / 1000));
  }

  private externalOf(tenant: number, insideIp?: string): string | undefined {
    try {
      return (this.host as NatLocalHost).externalAddress(tenant, insideIp);
    } catch {
      return undefined;
    }
  }

  private map(req: ParsedPcpRequest, tenant: number, client: string): Outcome {
    const m = req.map as NonNullable<ParsedPcpRequest['map']>;
    const internal = this.internalOf(req, client);
    if (typeof internal !== 'string') return internal;
    const nonce = hex(m.nonce);
    // Protocol 0 = all protocols: only meaningful for deleting everything (RFC 6887 §11.1).
    if (m.protocol === 0 && m.internalPort !== 0) return this.fail(PcpResult.MalformedRequest);
    if (m.protocol !== 0 && m.protocol !== IpProtocol.Tcp && m.protocol !== IpProtocol.Udp)
      return this.fail(PcpResult.UnsuppProtocol);
    if (req.filters.some((f) => f.prefixLength !== 0)) return this.fail(PcpResult.UnsuppOption);
    if (req.lifetime === 0)
      return this.mapDelete(m.protocol, m.internalPort, internal, nonce, tenant, client);
    if (m.protocol === 0) return this.fail(PcpResult.UnsuppProtocol);
    if (m.internalPort === 0) return this.fail(PcpResult.MalformedRequest);

    const ext = this.externalOf(tenant, internal);
    if (ext === undefined) return this.fail(PcpResult.NetworkFailure);
    // Suggested external address: a hint unless PREFER_FAILURE (RFC 6887 §11.3).
    const wantsAddr = m.externalAddress !== '0.0.0.0' && m.externalAddress !== '::';
    if (wantsAddr && m.externalAddress !== ext && req.preferFailure)
      return this.fail(PcpResult.CannotProvideExternal);

    const base = {
      tenant,
      client,
      proto: m.protocol,
      internalIp: internal,
      internalPort: m.internalPort,
      origin: 'pcp' as const,
      nonce,
    };
    const existing = this.table.findByInternal(tenant, m.protocol, internal, m.internalPort);
    if (existing) {
      if (existing.origin !== 'pcp' || existing.nonce !== nonce)
        return this.fail(PcpResult.NotAuthorized, this.remaining(existing));
      if (req.preferFailure && m.externalPort !== 0 && m.externalPort !== existing.externalPort)
        return this.fail(PcpResult.CannotProvideExternal);
      return this.mapAdd({ ...base, externalPort: existing.externalPort, portChoice: 'exact' }, req.lifetime);
    }
    const exact = req.preferFailure && m.externalPort !== 0;
    if (
      exact &&
      !this.table.policy.externalPorts.some((r) => m.externalPort >= r.from && m.externalPort <= r.to)
    )
      return this.fail(PcpResult.CannotProvideExternal);
    return this.mapAdd(
      { ...base, externalPort: m.externalPort, portChoice: exact ? 'exact' : 'any' },
      req.lifetime,
    );
  }

  /**
   * Adds or renews a mapping through the table with the lifetime clamped to this server's bounds,
   * and turns a refusal into the front end's result code.
   */
  private mapAdd(req: Omit<MappingRequest, 'leaseMs' | 'description'>, lifetime: number): Outcome {
    const origin = req.origin;
    const r = this.table.add({
      ...req,
      leaseMs: this.clampLifetime(lifetime) * 1000,
      description: `${origin === 'pcp' ? 'PCP' : 'NAT-PMP'} ${req.client}`,
    });
    if (!r.ok) {
      const result = origin === 'pcp' ? pcpResultOf(r.code) : natPmpResultOf(r.code);
      return { result, lifetime: origin === 'pcp' ? this.errorLifetime(result) : 0 };
    }
    const mp = r.mapping;
    const granted = mp.leaseMs === 0 ? this.maxLifetime : Math.max(1, Math.floor(mp.leaseMs / 1000));
    return {
      result: 0,
      lifetime: granted,
      externalPort: mp.externalPort,
      externalAddress: mp.externalIp,
      mapping: mp,
    };
  }

  /**
   * MAP with lifetime 0 (RFC 6887 §15): deletes the mapping of the internal endpoint when its nonce
   * matches; protocol 0 or internal port 0 deletes every PCP mapping of the internal address (of
   * the protocol) with that nonce. Deleting nothing is a success.
   */
  private mapDelete(
    proto: number,
    internalPort: number,
    internal: string,
    nonce: string,
    tenant: number,
    client: string,
  ): Outcome {
    const caller = { tenant, client };
    if (proto !== 0 && internalPort !== 0) {
      const ex = this.table.findByInternal(tenant, proto, internal, internalPort);
      if (!ex)
        return {
          result: 0,
          lifetime: 0,
          externalPort: 0,
          externalAddress: this.externalOf(tenant, internal) ?? '0.0.0.0',
        };
      if (ex.origin !== 'pcp' || ex.nonce !== nonce)
        return this.fail(PcpResult.NotAuthorized, this.remaining(ex));
      const r = this.table.remove(caller, ex.proto, ex.externalPort);
      if (!r.ok) return this.fail(pcpResultOf(r.code));
      return {
        result: 0,
        lifetime: 0,
        externalPort: ex.externalPort,
        externalAddress: ex.externalIp,
        mapping: r.mapping,
      };
    }
    for (const m of this.table.list(tenant)) {
      if (m.origin !== 'pcp' || m.internalIp !== internal || m.nonce !== nonce) continue;
      if (proto !== 0 && m.proto !== proto) continue;
      this.table.remove(caller, m.proto, m.externalPort);
    }
    return {
      result: 0,
      lifetime: 0,
      externalPort: 0,
      externalAddress: this.externalOf(tenant, internal) ?? '0.0.0.0',
    };
  }

  private purgePeers(): void {
    const host = this.host;
    if (!host) return;
    const now = host.clock.now();
    for (const [k, p] of this.peers) if (p.expiresAt <= now) this.peers.delete(k);
  }

  private peer(req: ParsedPcpRequest, tenant: number, client: string): Outcome {
    const host = this.host as NatLocalHost;
    const p = req.peer as NonNullable<ParsedPcpRequest['peer']>;
    const internal = this.internalOf(req, client);
    if (typeof internal !== 'string') return internal;
    if (p.protocol === 0 || p.internalPort === 0) return this.fail(PcpResult.MalformedRequest);
    if (p.protocol !== IpProtocol.Tcp && p.protocol !== IpProtocol.Udp)
      return this.fail(PcpResult.UnsuppProtocol);
    const remote = parseIpv4(p.remotePeerAddress);
    if (remote === null || remote === 0 || p.remotePeerPort === 0)
      return this.fail(PcpResult.MalformedRequest);
    if (this.table.policy.secureMode && internal !== client) return this.fail(PcpResult.NotAuthorized);
    const nonce = hex(p.nonce);
    const key = `${tenant}/${p.protocol}/${internal}:${p.internalPort}/${p.remotePeerAddress}:${p.remotePeerPort}`;
    const now = host.clock.now();
    const cur = this.peers.get(key);
    if (cur && cur.expiresAt > now && cur.nonce !== nonce)
      return this.fail(PcpResult.NotAuthorized, Math.ceil((cur.expiresAt - now) / 1000));
    if (req.lifetime === 0) {
      // The client no longer needs it: forget it; the NAT's mapping idles out on its own timer.
      this.peers.delete(key);
      return { result: 0, lifetime: 0, externalPort: p.externalPort, externalAddress: p.externalAddress };
    }
    if (!cur || cur.expiresAt <= now) {
      this.purgePeers();
      let mine = 0;
      for (const e of this.peers.values()) if (e.tenant === tenant && e.client === client) mine++;
      if (mine >= this.maxPeersPerClient) return this.fail(PcpResult.ExcessiveRemotePeers);
      if (this.peers.size >= this.maxPeers) return this.fail(PcpResult.NoResources);
    }
    const lifetime = this.clampLifetime(req.lifetime);
    const base = {
      proto: p.protocol,
      insideIp: internal,
      insidePort: p.internalPort,
      tenant,
      remoteIp: formatIpv4(remote),
      remotePort: p.remotePeerPort,
      timeoutMs: lifetime * 1000,
    };
    if (this.externalOf(tenant, internal) === undefined) return this.fail(PcpResult.NetworkFailure);
    let rec: { externalIp: string; externalPort: number };
    try {
      try {
        rec = host.createMapping(p.externalPort !== 0 ? { ...base, externalPort: p.externalPort } : base);
      } catch (e) {
        // The suggested port is a hint: an existing mapping (or a busy port) wins.
        if (p.externalPort === 0 || (e as { code?: unknown }).code !== 'ERR_PORT_IN_USE') throw e;
        rec = host.createMapping(base);
      }
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ERR_CLOSED' || code === 'ERR_NO_SUCH_TENANT') return this.fail(PcpResult.NetworkFailure);
      return this.fail(PcpResult.NoResources);
    }
    this.peers.delete(key);
    this.peers.set(key, { tenant, client, nonce, expiresAt: now + lifetime * 1000 });
    return { result: 0, lifetime, externalPort: rec.externalPort, externalAddress: rec.externalIp };
  }

  // -------------------------------------------------------------------------------------------
  // NAT-PMP

  private natPmp(msg: Uint8Array, tenant: number, client: string, clientPort: number): string | null {
    const parsed = parseNatPmpRequest(msg);
    if (!parsed.ok) {
      if (parsed.result === 'drop') return parsed.reason;
      const out = natPmpErrorResponse(msg, parsed.result, this.epoch);
      return this.answer('natpmp', tenant, client, clientPort, msg[1], out, parsed.result, 0);
    }
    const req = parsed.request;
    if (req.opcode === NatPmpOpcode.ExternalAddress) {
      const ext = this.externalOf(tenant, client);
      const result = ext === undefined ? NatPmpResult.NetworkFailure : NatPmpResult.Success;
      const out = emitNatPmpAddressResponse(result, this.epoch, ext ?? '0.0.0.0');
      return this.answer('natpmp', tenant, client, clientPort, req.opcode, out, result, 0);
    }
    const o = this.natPmpMap(req, tenant, client);
    const out = emitNatPmpMapResponse(
      req.opcode,
      o.result,
      this.epoch,
      req.internalPort,
      o.externalPort ?? 0,
      o.result === 0 ? o.lifetime : 0,
    );
    return this.answer(
      'natpmp',
      tenant,
      client,
      clientPort,
      req.opcode,
      out,
      o.result,
      o.result === 0 ? o.lifetime : 0,
      o.mapping,
    );
  }

  /** NAT-PMP map / renew / delete (RFC 6886 §3.3, §3.4). */
  private natPmpMap(
    req: Extract<NatPmpRequestRepr, { opcode: 1 | 2 }>,
    tenant: number,
    client: string,
  ): Outcome {
    const proto = req.opcode === NatPmpOpcode.MapTcp ? IpProtocol.Tcp : IpProtocol.Udp;
    const refused: Outcome = { result: NatPmpResult.NotAuthorized, lifetime: 0 };
    if (this.externalOf(tenant, client) === undefined)
      return { result: NatPmpResult.NetworkFailure, lifetime: 0 };
    if (req.lifetime === 0) {
      const caller = { tenant, client };
      if (req.internalPort === 0) {
        // Delete all of this client's NAT-PMP mappings of the protocol.
        for (const m of this.table.list(tenant, { proto }))
          if (m.origin === 'natpmp' && m.internalIp === client)
            this.table.remove(caller, m.proto, m.externalPort);
        return { result: 0, lifetime: 0, externalPort: 0 };
      }
      const ex = this.table.findByInternal(tenant, proto, client, req.internalPort);
      if (!ex) return { result: 0, lifetime: 0, externalPort: 0 };
      if (ex.origin !== 'natpmp') return refused;
      const r = this.table.remove(caller, proto, ex.externalPort);
      if (!r.ok) return { result: natPmpResultOf(r.code), lifetime: 0 };
      return { result: 0, lifetime: 0, externalPort: 0, mapping: r.mapping };
    }
    if (req.internalPort === 0) return refused;
    const ex = this.table.findByInternal(tenant, proto, client, req.internalPort);
    if (ex && ex.origin !== 'natpmp') return refused;
    const want = ex ? ex.externalPort : req.externalPort;
    return this.mapAdd(
      {
        tenant,
        client,
        proto,
        internalIp: client,
        internalPort: req.internalPort,
        externalPort: want,
        portChoice: ex ? 'exact' : 'any',
        origin: 'natpmp',
      },
      req.lifetime,
    );
  }

  // -------------------------------------------------------------------------------------------

  private sendTo(tenant: number, dst: string, dstPort: number, payload: Uint8Array, ttl: number): void {
    const host = this.host;
    if (!host) return;
    const pkt = buildPacket({
      src: formatIpv4(this.insideIp),
      dst,
      ttl,
      udp: { srcPort: PCP_SERVER_PORT, dstPort },
      payload,
    });
    host.sendInside(pkt, tenant);
  }
}

/** Options a success response carries back (RFC 6887 §13: the processed THIRD_PARTY, PREFER_FAILURE, FILTER). */
function echoedOptions(options: readonly PcpOption[]): PcpOption[] {
  return options.filter((o) => o.code === 1 || o.code === 2 || o.code === 3);
}
