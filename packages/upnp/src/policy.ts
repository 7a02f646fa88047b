/**
 * The port-mapping table and policy shared by the UPnP IGD and the PCP / NAT-PMP servers.
 *
 * A {@link PortMappingTable} sits on top of the NAT's {@link NatLocalHost}: each mapping it grants
 * is a NAT port forward (origin `'upnp'`, `'pcp'` or `'natpmp'`, with a lease), and it enforces one
 * policy for every front end: secure mode (a client maps only its own address), allowed external
 * and internal port ranges, limits in total, per tenant and per client, and lease bounds. Refusals
 * are protocol-neutral {@link MappingErrorCode}s that each front end maps to its own codes (UPnP
 * error codes, PCP and NAT-PMP result codes). A tenant only ever sees and deletes its own mappings.
 *
 * Both front ends share one table when given the same instance in their configs; otherwise each
 * creates its own.
 */
import { ConfigError, type Scheduler, type TimerHandle } from '@l3kit/core';
import type { ForwardRecord, NatLocalHost } from '@l3kit/nat';
import { formatIpv4, parseIpv4 } from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';

/** Which front end made a mapping (also the NAT forward's `origin`). */
export type MappingOrigin = 'upnp' | 'pcp' | 'natpmp';

/** An inclusive port range. */
export interface PortRange {
  from: number;
  to: number;
}

/**
 * Why a request was refused. Each front end translates it (UPnP error code / PCP result code /
 * NAT-PMP result code; see docs/upnp.md for the full table):
 *
 * - `invalid`: malformed request (402 / MALFORMED_REQUEST).
 * - `not-authorized`: secure mode (another client's address or mapping) (IGD:2 606, IGD:1 718 /
 *   NOT_AUTHORIZED).
 * - `port-not-allowed`: a port outside the allowed ranges (IGD:2 606, IGD:1 718 / NOT_AUTHORIZED).
 * - `conflict`: the external port is mapped to another client by this table (718 /
 *   CANNOT_PROVIDE_EXTERNAL).
 * - `conflict-other`: the external port is held by something else in the NAT: a static forward,
 *   a dynamic mapping, a reservation (IGD:2 729, IGD:1 718 / CANNOT_PROVIDE_EXTERNAL).
 * - `no-resources`: the table is full or no external port is free (728 / NO_RESOURCES).
 * - `quota-exceeded`: the per-client or per-tenant limit is reached (728 / USER_EX_QUOTA).
 * - `not-found`: no such mapping visible to the caller (714).
 * - `only-permanent-leases`: the policy allows permanent leases only (725).
 * - `same-port-required`: the policy requires external port = internal port (724).
 * - `network-failure`: the NAT has no external address for the tenant or is closed (501 /
 *   NETWORK_FAILURE).
 * - `failed`: anything else the NAT refused (501 / NO_RESOURCES).
 */
export type MappingErrorCode =
  | 'invalid'
  | 'not-authorized'
  | 'port-not-allowed'
  | 'conflict'
  | 'conflict-other'
  | 'no-resources'
  | 'quota-exceeded'
  | 'not-found'
  | 'only-permanent-leases'
  | 'same-port-required'
  | 'network-failure'
  | 'failed';

/** A mapping as the table reports it (a copy; changing it changes nothing). */
export interface PortMapping {
  /** Unique id within the table. */
  id: number;
  tenant: number;
  /** 6 (TCP) or 17 (UDP). */
  proto: number;
  externalIp: string;
  externalPort: number;
  internalIp: string;
  internalPort: number;
  /** Address of the client that asked (in secure mode equal to `internalIp`). */
  client: string;
  origin: MappingOrigin;
  description: string;
  /**
   * UPnP NewEnabled. A disabled mapping keeps its external port in the table (no other client of
   * any front end gets it) but has no NAT forward; enabling it adds the forward again, which fails
   * (`conflict-other`, the entry is dropped) if the NAT gave the port to something else meanwhile.
   */
  enabled: boolean;
  /** Granted lease in ms; 0 = permanent. */
  leaseMs: number;
  /** Clock time of expiry (`Infinity` when permanent). */
  expiresAt: number;
  /** Clock time of creation. */
  createdAt: number;
  /** Opaque token of the front end (PCP mapping nonce as hex), kept as given. */
  nonce?: string;
}

/** A request to create (or refresh) a mapping. */
export interface MappingRequest {
  tenant: number;
  /** Address of the requesting client (the request packet's source). */
  client: string;
  /** 6 or 17. */
  proto: number;
  /** Wanted external port; 0 = any. */
  externalPort: number;
  internalIp: string;
  internalPort: number;
  /** Wanted lease in ms; 0 = permanent (granted only when the policy allows, else the maximum). */
  leaseMs: number;
  origin: MappingOrigin;
  description?: string;
  /** Default true. */
  enabled?: boolean;
  /**
   * What to do when `externalPort` cannot be had: `'exact'` (default) fails; `'any'` picks another
   * allowed free port (AddAnyPortMapping, PCP without PREFER_FAILURE, NAT-PMP).
   */
  portChoice?: 'exact' | 'any';
  nonce?: string;
}

/** Outcome of a table operation: the mapping, or a refusal with its reason. */
export type MappingResult =
  | { ok: true; mapping: PortMapping; renewed: boolean }
  | { ok: false; code: MappingErrorCode; message: string };

/** Who asks for a deletion / listing (tenant isolation and secure mode are checked against it). */
export interface MappingCaller {
  tenant: number;
  /** Requesting client address; when absent (administrator), secure mode is not applied. */
  client?: string;
}

/** The policy of a {@link PortMappingTable}. Every field has a safe default. */
export interface PortMappingPolicy {
  /** A client may map (and delete) only its own address. Default true. */
  secureMode?: boolean;
  /** External ports a client may ask for. Default 1024–65535. */
  externalPorts?: readonly PortRange[];
  /** Internal ports a client may map to. Default 1024–65535. */
  internalPorts?: readonly PortRange[];
  /** Mappings in the whole table. Default 1024. */
  maxMappings?: number;
  /** Mappings per tenant. Default `maxMappings`. */
  maxPerTenant?: number;
  /** Mappings per client (tenant + address). Default 64. */
  maxPerClient?: number;
  /** Shortest lease granted, ms (a shorter request is raised). Default 120 000. */
  minLeaseMs?: number;
  /** Longest lease granted, ms (a longer request is lowered). Default 604 800 000 (7 days, IGD:2). */
  maxLeaseMs?: number;
  /** Grant permanent mappings when asked with lease 0. Default false (the maximum lease is granted). */
  allowPermanent?: boolean;
  /** Refuse leased requests (`only-permanent-leases`): an IGD:1 that only supports permanent mappings. Default false. */
  permanentOnly?: boolean;
  /** Require external port = internal port (`same-port-required`). Default false. */
  samePorts?: boolean;
  /** Longest description kept (longer ones are cut). Default 256. */
  maxDescriptionLength?: number;
}

/** Options of {@link PortMappingTable}. */
export interface PortMappingTableOptions {
  policy?: PortMappingPolicy;
  /**
   * Timer source for lease expiry. Without one the table expires leases lazily (on each call) and
   * when {@link PortMappingTable.expireDue} is called; with one it also expires them on time.
   */
  scheduler?: Scheduler;
  /** Random source in [0, 1) for picking external ports. Default `Math.random`. */
  random?: () => number;
}

/** Why a mapping left the table. */
export type MappingRemovalReason = 'deleted' | 'expired' | 'tenant-removed' | 'detached' | 'forward-lost';

/** Events of a {@link PortMappingTable}. */
export interface PortMappingEvents {
  /** A mapping was created. */
  added: (m: PortMapping) => void;
  /** An existing mapping was refreshed (new lease / description). */
  renewed: (m: PortMapping) => void;
  /** A mapping left the table. */
  removed: (m: PortMapping, reason: MappingRemovalReason) => void;
  /** A request was refused. */
  refused: (req: MappingRequest, code: MappingErrorCode, message: string) => void;
}

/** The defaults of {@link PortMappingPolicy}. */
export const DEFAULT_MAPPING_POLICY: Readonly<Required<PortMappingPolicy>> = Object.freeze({
  secureMode: true,
  externalPorts: Object.freeze([Object.freeze({ from: 1024, to: 65535 })]),
  internalPorts: Object.freeze([Object.freeze({ from: 1024, to: 65535 })]),
  maxMappings: 1024,
  maxPerTenant: 1024,
  maxPerClient: 64,
  minLeaseMs: 120_000,
  maxLeaseMs: 604_800_000,
  allowPermanent: false,
  permanentOnly: false,
  samePorts: false,
  maxDescriptionLength: 256,
});

/** How many candidate ports an any-port request tries before giving up. */
const ANY_PORT_ATTEMPTS = 128;

interface Entry {
  m: PortMapping;
  /** Table key (external address, protocol, port). */
  key: string;
  /**
   * Second key (tenant, protocol, port): requests do not name the external address. With an
   * address pool, one tenant may have the port on several addresses (one per paired client).
   */
  tkey: string;
}

function keyOf(externalIp: string, proto: number, port: number): string {
  return `${externalIp}/${proto}/${port}`;
}

function tenantKey(tenant: number, proto: number, port: number): string {
  return `${tenant}/${proto}/${port}`;
}

function clientKey(tenant: number, client: string): string {
  return `${tenant}/${client}`;
}

function checkRanges(r: unknown, what: string): readonly PortRange[] {
  if (!Array.isArray(r) || r.length === 0)
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be a non-empty array of {from, to}`);
  for (const x of r) {
    const ok =
      x &&
      Number.isInteger(x.from) &&
      Number.isInteger(x.to) &&
      x.from >= 1 &&
      x.to <= 65535 &&
      x.from <= x.to;
    if (!ok) throw new ConfigError('ERR_BAD_OPTION', `${what}: bad range ${JSON.stringify(x)}`);
  }
  return r.map((x: PortRange) => ({ from: x.from, to: x.to }));
}

function checkCount(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be an integer >= ${min}`);
  return v;
}

function inRanges(ranges: readonly PortRange[], p: number): boolean {
  for (const r of ranges) if (p >= r.from && p <= r.to) return true;
  return false;
}

/** Validates a policy and fills in the defaults. Throws `ERR_BAD_OPTION`. */
export function resolveMappingPolicy(p: PortMappingPolicy = {}): Required<PortMappingPolicy> {
  if (typeof p !== 'object' || p === null)
    throw new ConfigError('ERR_BAD_OPTION', 'policy must be an object');
  const d = DEFAULT_MAPPING_POLICY;
  const maxMappings = checkCount(p.maxMappings ?? d.maxMappings, 'maxMappings', 1);
  const r: Required<PortMappingPolicy> = {
    secureMode: p.secureMode ?? d.secureMode,
    externalPorts: checkRanges(p.externalPorts ?? d.externalPorts, 'externalPorts'),
    internalPorts: checkRanges(p.internalPorts ?? d.internalPorts, 'internalPorts'),
    maxMappings,
    maxPerTenant: checkCount(p.maxPerTenant ?? maxMappings, 'maxPerTenant', 1),
    maxPerClient: checkCount(p.maxPerClient ?? d.maxPerClient, 'maxPerClient', 1),
    minLeaseMs: checkCount(p.minLeaseMs ?? d.minLeaseMs, 'minLeaseMs', 0),
    maxLeaseMs: checkCount(p.maxLeaseMs ?? d.maxLeaseMs, 'maxLeaseMs', 1),
    allowPermanent: p.allowPermanent ?? d.allowPermanent,
    permanentOnly: p.permanentOnly ?? d.permanentOnly,
    samePorts: p.samePorts ?? d.samePorts,
    maxDescriptionLength: checkCount(
      p.maxDescriptionLength ?? d.maxDescriptionLength,
      'maxDescriptionLength',
      0,
    ),
  };
  if (r.minLeaseMs > r.maxLeaseMs)
    throw new ConfigError('ERR_BAD_OPTION', 'minLeaseMs must be <= maxLeaseMs');
  if (r.permanentOnly && !r.allowPermanent)
    throw new ConfigError('ERR_BAD_OPTION', 'permanentOnly needs allowPermanent');
  return r;
}

function refuse(code: MappingErrorCode, message: string): MappingResult {
  return { ok: false, code, message };
}

/** Normalises a dotted-quad address; `null` when it is not one. */
function normIp(s: unknown): string | null {
  if (typeof s !== 'string') return null;
  const v = parseIpv4(s.trim());
  return v === null ? null : formatIpv4(v);
}

function isPort(p: unknown, min: number): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= min && p <= 65535;
}

/**
 * The shared mapping table. Bind it to the NAT with {@link bind} (the front ends do that in their
 * `attach`); every mapping is a NAT port forward with the table's lease, and every front end's
 * request goes through the same {@link PortMappingPolicy}.
 *
 * ```ts
 * const table = new PortMappingTable({ policy: { maxPerClient: 16 } });
 * nat.addHelper(new UpnpIgd({ table }));
 * nat.addHelper(new PcpServer({ table }));
 * table.on('added', (m) => console.log('mapped', m.externalPort, '->', m.internalIp, m.internalPort));
 * ```
 */
export class PortMappingTable extends EventEmitter<PortMappingEvents> {
  /** The resolved policy. */
  readonly policy: Readonly<Required<PortMappingPolicy>>;
  private host: NatLocalHost | undefined;
  private binds = 0;
  private scheduler: Scheduler | undefined;
  private readonly random: () => number;
  private readonly entries = new Map<string, Entry>();
  private readonly byTenant = new Map<string, Entry[]>();
  private readonly perClient = new Map<string, number>();
  private readonly perTenant = new Map<number, number>();
  private nextId = 1;
  private nextExpiry = Number.POSITIVE_INFINITY;
  private timer: TimerHandle | undefined;

  constructor(opts: PortMappingTableOptions = {}) {
    super();
    this.policy = Object.freeze(resolveMappingPolicy(opts.policy));
    this.scheduler = opts.scheduler;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Attaches the table to a NAT (called by each front end's `attach`). Several front ends on the
   * same NAT share it; binding to a second, different NAT throws `ERR_TABLE_IN_USE`. A table
   * created without a scheduler adopts `scheduler` (the front end's) for timely lease expiry.
   */
  bind(host: NatLocalHost, scheduler?: Scheduler): void {
    if (this.host && this.host !== host)
      throw new ConfigError('ERR_TABLE_IN_USE', 'this PortMappingTable is bound to another NAT');
    this.host = host;
    if (!this.scheduler && scheduler) this.scheduler = scheduler;
    this.binds++;
  }

  /** Undoes one {@link bind}; the last one removes every mapping (and its NAT forward). */
  unbind(): void {
    if (this.binds === 0) return;
    if (--this.binds > 0) return;
    for (const e of [...this.entries.values()]) this.drop(e, 'detached');
    this.timer?.cancel();
    this.timer = undefined;
    this.host = undefined;
  }

  /** Whether the table is bound to a NAT. */
  get bound(): boolean {
    return this.host !== undefined;
  }

  /** Number of live mappings (all tenants). */
  get size(): number {
    this.expireDue();
    return this.entries.size;
  }

  /**
   * Creates a mapping, or refreshes the caller's own mapping of the same external port (same
   * tenant, internal address and port: new lease, description, enabled flag). Never throws for a
   * bad request: the result says why it was refused.
   */
  add(req: MappingRequest): MappingResult {
    const r = this.tryAdd(req);
    if (!r.ok) this.emit('refused', req, r.code, r.message);
    return r;
  }

  private tryAdd(req: MappingRequest): MappingResult {
    const host = this.host;
    if (!host) return refuse('network-failure', 'the mapping table is not attached to a NAT');
    this.expireDue();
    const P = this.policy;
    if (!req || typeof req !== 'object') return refuse('invalid', 'request object required');
    if (req.proto !== 6 && req.proto !== 17) return refuse('invalid', 'protocol must be TCP or UDP');
    const client = normIp(req.client);
    const internalIp = normIp(req.internalIp);
    if (client === null) return refuse('invalid', 'bad client address');
    if (internalIp === null || internalIp === '0.0.0.0') return refuse('invalid', 'bad internal address');
    if (!isPort(req.internalPort, 1)) return refuse('invalid', 'bad internal port');
    if (!isPort(req.externalPort, 0)) return refuse('invalid', 'bad external port');
    if (typeof req.leaseMs !== 'number' || !(req.leaseMs >= 0) || !Number.isFinite(req.leaseMs))
      return refuse('invalid', 'bad lease');
    if (!Number.isInteger(req.tenant)) return refuse('invalid', 'bad tenant');
    if (P.secureMode && internalIp !== client)
      return refuse(
        'not-authorized',
        `secure mode: ${client} may map only its own address, not ${internalIp}`,
      );
    if (!inRanges(P.internalPorts, req.internalPort))
      return refuse('port-not-allowed', `internal port ${req.internalPort} is not allowed`);
    if (P.permanentOnly && req.leaseMs !== 0) return refuse('only-permanent-leases', 'only permanent leases');
    const anyPort = req.portChoice === 'any';
    if (P.samePorts && req.externalPort !== req.internalPort && !anyPort)
      return refuse('same-port-required', 'external and internal port must be equal');
    let externalIp: string;
    try {
      // The internal host's paired pool address (RFC 4787 REQ-2).
      externalIp = host.externalAddress(req.tenant, internalIp);
    } catch (e) {
      return refuse(
        'network-failure',
        `no external address for tenant ${req.tenant}: ${(e as Error).message}`,
      );
    }
    const leaseMs = this.grantLease(req.leaseMs);
    const description = String(req.description ?? '').slice(0, P.maxDescriptionLength);
    const enabled = req.enabled ?? true;

    // The caller's own mapping of the wanted port: refresh it.
    if (req.externalPort !== 0) {
      const cur = this.entries.get(keyOf(externalIp, req.proto, req.externalPort));
      if (cur) {
        const m = cur.m;
        if (m.tenant === req.tenant && m.internalIp === internalIp && m.internalPort === req.internalPort)
          return this.refresh(cur, req, leaseMs, description, enabled);
        if (!anyPort) {
          if (m.tenant === req.tenant && P.secureMode && m.client !== client)
            return refuse('conflict', `external port ${req.externalPort} is mapped by another client`);
          return refuse('conflict', `external port ${req.externalPort} is already mapped`);
        }
      }
    }
    // Limits (a refresh above never counts against them).
    if (this.entries.size >= P.maxMappings) return refuse('no-resources', 'the mapping table is full');
    if ((this.perTenant.get(req.tenant) ?? 0) >= P.maxPerTenant)
      return refuse('quota-exceeded', `tenant ${req.tenant} has ${P.maxPerTenant} mappings`);
    if ((this.perClient.get(clientKey(req.tenant, client)) ?? 0) >= P.maxPerClient)
      return refuse('quota-exceeded', `client ${client} has ${P.maxPerClient} mappings`);

    const base: Omit<PortMapping, 'externalPort' | 'id'> = {
      tenant: req.tenant,
      proto: req.proto,
      externalIp,
      internalIp,
      internalPort: req.internalPort,
      client,
      origin: req.origin,
      description,
      enabled,
      leaseMs,
      expiresAt: leaseMs === 0 ? Number.POSITIVE_INFINITY : host.clock.now() + leaseMs,
      createdAt: host.clock.now(),
    };
    if (req.nonce !== undefined) base.nonce = String(req.nonce);

    if (req.externalPort !== 0 && !anyPort) {
      if (!inRanges(P.externalPorts, req.externalPort))
        return refuse('port-not-allowed', `external port ${req.externalPort} is not allowed`);
      return this.install(base, req.externalPort);
    }
    // Any port: the wanted one (or the internal port), then random candidates in the ranges.
    const first = P.samePorts ? req.internalPort : req.externalPort || req.internalPort;
    let last: MappingResult = refuse('no-resources', 'no free external port');
    const tried = new Set<number>();
    for (let i = 0; i < ANY_PORT_ATTEMPTS; i++) {
      const port = i === 0 ? first : this.randomPort();
      if (P.samePorts && i > 0) break;
      if (tried.has(port)) continue;
      tried.add(port);
      if (!inRanges(P.externalPorts, port)) {
        last = refuse('port-not-allowed', `external port ${port} is not allowed`);
        continue;
      }
      if (this.entries.has(keyOf(externalIp, req.proto, port))) {
        last = refuse('conflict', `external port ${port} is already mapped`);
        continue;
      }
      const r = this.install(base, port);
      if (r.ok) return r;
      last = r;
      if (r.code !== 'conflict-other') return r;
    }
    return last.ok
      ? last
      : refuse(last.code === 'port-not-allowed' ? 'no-resources' : last.code, last.message);
  }

  private randomPort(): number {
    const rs = this.policy.externalPorts;
    let total = 0;
    for (const r of rs) total += r.to - r.from + 1;
    let k = Math.floor(this.random() * total) % total;
    for (const r of rs) {
      const n = r.to - r.from + 1;
      if (k < n) return r.from + k;
      k -= n;
    }
    return rs[0].from;
  }

  private grantLease(ms: number): number {
    const P = this.policy;
    if (ms === 0) return P.allowPermanent ? 0 : P.maxLeaseMs;
    return Math.min(P.maxLeaseMs, Math.max(P.minLeaseMs, Math.ceil(ms)));
  }

  private refresh(
    e: Entry,
    req: MappingRequest,
    leaseMs: number,
    description: string,
    enabled: boolean,
  ): MappingResult {
    const host = this.host as NatLocalHost;
    const m = e.m;
    const wasEnabled = m.enabled;
    m.leaseMs = leaseMs;
    m.expiresAt = leaseMs === 0 ? Number.POSITIVE_INFINITY : host.clock.now() + leaseMs;
    m.description = description;
    if (req.nonce !== undefined) m.nonce = String(req.nonce);
    let err: MappingResult | undefined;
    if (wasEnabled && enabled) {
      // Same forward, new lease: its connections stay.
      let rec: ForwardRecord | undefined;
      try {
        rec = host.updatePortForward(m.proto, m.externalPort, { leaseMs, description }, m.externalIp);
      } catch {
        rec = undefined;
      }
      if (!rec || rec.origin !== m.origin || rec.insideIp !== m.internalIp) err = this.addForward(m);
    } else if (wasEnabled) {
      this.removeForward(m);
      m.enabled = false;
    } else if (enabled) {
      m.enabled = true;
      err = this.addForward(m);
    }
    if (err) {
      this.drop(e, 'forward-lost');
      return err;
    }
    this.armTimer();
    this.emit('renewed', { ...m });
    return { ok: true, mapping: { ...m }, renewed: true };
  }

  private install(base: Omit<PortMapping, 'externalPort' | 'id'>, port: number): MappingResult {
    const m: PortMapping = { ...base, id: this.nextId++, externalPort: port };
    if (m.enabled) {
      const err = this.addForward(m);
      if (err) return err;
    } else {
      // A disabled mapping still reserves its port in the NAT.
      const err = this.reserve(m);
      if (err) return err;
    }
    const e: Entry = { m, key: keyOf(m.externalIp, m.proto, port), tkey: tenantKey(m.tenant, m.proto, port) };
    this.entries.set(e.key, e);
    const same = this.byTenant.get(e.tkey);
    if (same) same.push(e);
    else this.byTenant.set(e.tkey, [e]);
    const ck = clientKey(m.tenant, m.client);
    this.perClient.set(ck, (this.perClient.get(ck) ?? 0) + 1);
    this.perTenant.set(m.tenant, (this.perTenant.get(m.tenant) ?? 0) + 1);
    this.armTimer();
    this.emit('added', { ...m });
    return { ok: true, mapping: { ...m }, renewed: false };
  }

  private reserve(m: PortMapping): MappingResult | undefined {
    // A disabled mapping: check the port is free by adding and removing a forward, then keep a
    // forward-less entry. (The NAT has no "reserve this exact port" call.)
    const err = this.addForward(m);
    if (err) return err;
    this.removeForward(m, true);
    return undefined;
  }

  private addForward(m: PortMapping): MappingResult | undefined {
    const host = this.host as NatLocalHost;
    try {
      host.addPortForward({
        proto: m.proto,
        outsidePort: m.externalPort,
        outsideIp: m.externalIp,
        insideIp: m.internalIp,
        insidePort: m.internalPort,
        tenant: m.tenant,
        origin: m.origin,
        description: m.description,
        ...(m.leaseMs > 0 ? { leaseMs: Math.max(1, m.expiresAt - host.clock.now()) } : {}),
      });
      return undefined;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const msg = (e as Error).message;
      if (code === 'ERR_FORWARD_CONFLICT' || code === 'ERR_PORT_IN_USE')
        return refuse('conflict-other', `external port ${m.externalPort} is in use in the NAT: ${msg}`);
      if (code === 'ERR_PORTS_EXHAUSTED') return refuse('no-resources', msg);
      if (code === 'ERR_CLOSED' || code === 'ERR_NO_SUCH_TENANT') return refuse('network-failure', msg);
      return refuse('failed', msg);
    }
  }

  /** Removes the NAT forward of `m` if it is still ours (never someone else's forward of the port). */
  private removeForward(m: PortMapping, evenIfDisabled = false): void {
    const host = this.host;
    if (!host || (!m.enabled && !evenIfDisabled)) return;
    let f: ForwardRecord | undefined;
    try {
      f = host
        .listPortForwards()
        .find(
          (x) =>
            x.proto === m.proto &&
            x.outsidePort === m.externalPort &&
            x.outsideIp === m.externalIp &&
            x.origin === m.origin &&
            x.tenant === m.tenant &&
            x.insideIp === m.internalIp &&
            x.insidePort === m.internalPort,
        );
      if (f) host.removePortForward(m.proto, m.externalPort, m.externalIp);
    } catch {
      // The NAT is closed: its forwards are gone with it.
    }
  }

  private drop(e: Entry, reason: MappingRemovalReason): void {
    if (this.entries.get(e.key) !== e) return;
    this.entries.delete(e.key);
    const same = this.byTenant.get(e.tkey) ?? [];
    const rest = same.filter((x) => x !== e);
    if (rest.length > 0) this.byTenant.set(e.tkey, rest);
    else this.byTenant.delete(e.tkey);
    const m = e.m;
    const ck = clientKey(m.tenant, m.client);
    const c = (this.perClient.get(ck) ?? 1) - 1;
    if (c > 0) this.perClient.set(ck, c);
    else this.perClient.delete(ck);
    const t = (this.perTenant.get(m.tenant) ?? 1) - 1;
    if (t > 0) this.perTenant.set(m.tenant, t);
    else this.perTenant.delete(m.tenant);
    // An expired lease: the NAT may not have run its own expiry yet.
    if (reason !== 'forward-lost') this.removeForward(m);
    this.emit('removed', { ...m }, reason);
  }

  /**
   * Deletes the mapping of `externalPort`. A mapping of another tenant is `not-found`; in secure
   * mode a client may delete only mappings of its own address (`not-authorized`).
   */
  remove(caller: MappingCaller, proto: number, externalPort: number): MappingResult {
    this.expireDue();
    const e = this.findEntry(caller.tenant, proto, externalPort, caller.client);
    if (!e) return refuse('not-found', `no ${proto === 6 ? 'TCP' : 'UDP'} mapping of port ${externalPort}`);
    const denied = this.checkOwner(caller, e.m);
    if (denied) return denied;
    this.drop(e, 'deleted');
    return { ok: true, mapping: { ...e.m }, renewed: false };
  }

  /**
   * Deletes the caller's mappings of `proto` with external ports in `from..to`. With `manage`
   * false (UPnP NewManage=0) or in secure mode, only the client's own mappings go. Returns how
   * many were deleted.
   */
  removeRange(caller: MappingCaller, proto: number, from: number, to: number, manage = false): number {
    this.expireDue();
    let n = 0;
    for (const e of [...this.entries.values()]) {
      const m = e.m;
      if (m.tenant !== caller.tenant || m.proto !== proto || m.externalPort < from || m.externalPort > to)
        continue;
      if (caller.client !== undefined && (!manage || this.policy.secureMode) && !this.owns(caller.client, m))
        continue;
      this.drop(e, 'deleted');
      n++;
    }
    return n;
  }

  private owns(client: string, m: PortMapping): boolean {
    const c = normIp(client);
    return c !== null && (m.internalIp === c || m.client === c);
  }

  private checkOwner(caller: MappingCaller, m: PortMapping): MappingResult | undefined {
    if (caller.client === undefined || !this.policy.secureMode) return undefined;
    if (this.owns(caller.client, m)) return undefined;
    return refuse(
      'not-authorized',
      `secure mode: ${caller.client} may not delete the mapping of ${m.internalIp}`,
    );
  }

  /**
   * The tenant's mapping of `externalPort`. With several (an address pool), the one on `client`'s
   * own external address, else one of `client`'s, else the first.
   */
  private findEntry(tenant: number, proto: number, externalPort: number, client?: string): Entry | undefined {
    const list = this.byTenant.get(tenantKey(tenant, proto, externalPort));
    if (!list || list.length === 0) return undefined;
    if (list.length === 1 || client === undefined) return list[0];
    const host = this.host;
    const c = normIp(client);
    if (host && c !== null) {
      let ext: string | undefined;
      try {
        ext = host.externalAddress(tenant, c);
      } catch {
        ext = undefined;
      }
      const onOwn = list.find((e) => e.m.externalIp === ext);
      if (onOwn) return onOwn;
      const own = list.find((e) => this.owns(c, e.m));
      if (own) return own;
    }
    return list[0];
  }

  /**
   * The tenant's mapping of `externalPort`, or `undefined`. With an address pool the tenant may
   * have the port on several addresses: `client` picks the one on its own address.
   */
  get(tenant: number, proto: number, externalPort: number, client?: string): PortMapping | undefined {
    this.expireDue();
    const e = this.findEntry(tenant, proto, externalPort, client);
    return e ? { ...e.m } : undefined;
  }

  /** The tenant's mapping of an internal endpoint made by `origin` (any origin when absent). */
  findByInternal(
    tenant: number,
    proto: number,
    internalIp: string,
    internalPort: number,
    origin?: MappingOrigin,
  ): PortMapping | undefined {
    this.expireDue();
    const ip = normIp(internalIp);
    for (const e of this.entries.values()) {
      const m = e.m;
      if (
        m.tenant === tenant &&
        m.proto === proto &&
        m.internalIp === ip &&
        m.internalPort === internalPort &&
        (origin === undefined || m.origin === origin)
      )
        return { ...m };
    }
    return undefined;
  }

  /**
   * The tenant's mappings in creation order (the order UPnP's GetGenericPortMappingEntry indexes),
   * optionally of one protocol and an external port range.
   */
  list(tenant: number, filter: { proto?: number; from?: number; to?: number } = {}): PortMapping[] {
    this.expireDue();
    const out: PortMapping[] = [];
    const from = filter.from ?? 0;
    const to = filter.to ?? 65535;
    for (const e of this.entries.values()) {
      const m = e.m;
      if (m.tenant !== tenant) continue;
      if (filter.proto !== undefined && m.proto !== filter.proto) continue;
      if (m.externalPort < from || m.externalPort > to) continue;
      out.push({ ...m });
    }
    return out;
  }

  /** Every mapping of every tenant (for administration). */
  listAll(): PortMapping[] {
    this.expireDue();
    return [...this.entries.values()].map((e) => ({ ...e.m }));
  }

  /** Removes every mapping of `tenant` (its NAT forwards too). */
  removeTenant(tenant: number): number {
    let n = 0;
    for (const e of [...this.entries.values()])
      if (e.m.tenant === tenant) {
        this.drop(e, 'tenant-removed');
        n++;
      }
    return n;
  }

  /** Removes the mappings whose lease has run out; returns how many. Called on every operation too. */
  expireDue(): number {
    const host = this.host;
    if (!host) return 0;
    const now = host.clock.now();
    if (now < this.nextExpiry) return 0;
    let n = 0;
    let next = Number.POSITIVE_INFINITY;
    for (const e of [...this.entries.values()]) {
      if (e.m.expiresAt <= now) {
        this.drop(e, 'expired');
        n++;
      } else if (e.m.expiresAt < next) next = e.m.expiresAt;
    }
    this.nextExpiry = next;
    this.armTimer();
    return n;
  }

  private armTimer(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.entries.values()) if (e.m.expiresAt < next) next = e.m.expiresAt;
    this.nextExpiry = next;
    const s = this.scheduler;
    if (!s) return;
    if (this.timer && this.timer.at === next) return;
    this.timer?.cancel();
    this.timer = undefined;
    if (next !== Number.POSITIVE_INFINITY && this.host) this.timer = s.schedule(next, () => this.onTimer());
  }

  private onTimer(): void {
    this.timer = undefined;
    this.expireDue();
    this.armTimer();
  }
}
