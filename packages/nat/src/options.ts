/** NAT options, presets and their validation (typed {@link ConfigError}s with stable codes). */

import { type Clock, ConfigError, DEFAULT_ICMP_RATE_LIMIT, type RateLimit, systemClock } from '@l3kit/core';
import { Prefix, parseIpv4 } from '@l3kit/wire';
import type { DefragOptions } from './defrag.js';
import type { PortRange } from './port-allocator.js';

/** RFC 4787 mapping / filtering behaviour. */
export type EndpointBehavior = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

/** Classic NAT type names, each a mapping + filtering pair. */
export type NatType = 'full-cone' | 'restricted-cone' | 'port-restricted-cone' | 'symmetric';

/** The mapping / filtering pair of each {@link NatType}. */
export const NAT_TYPE_PRESETS: Record<NatType, { mapping: EndpointBehavior; filtering: EndpointBehavior }> = {
  'full-cone': { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  'restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  'port-restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: { mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
};

/** Timeouts in milliseconds. */
export interface NatTimeouts {
  /** UDP idle (RFC 4787 REQ-5: ≥ 120 s; default 300 s). */
  udp: number;
  /** ICMP query idle (RFC 5508: ≥ 60 s). */
  icmp: number;
  /** GRE (PPTP data) idle. */
  gre: number;
  /** Established TCP idle (RFC 5382 REQ-5: ≥ 7440 s). */
  tcpEstablished: number;
  /** Transitory TCP (opening, unreplied) idle (≥ 240 s). */
  tcpTransitory: number;
  /** After both FINs. */
  tcpTimeWait: number;
  /** After a RST (RFC 7857: 4 min). */
  tcpRst: number;
  /** Unsolicited inbound SYN hold (RFC 5382 REQ-4: ≥ 6 s). */
  tcpSynHold: number;
  /** A freed port is not reused for this long. */
  portReuse: number;
  /** Default expectation lifetime. */
  expectation: number;
}

/** Default timeouts. */
export const DEFAULT_TIMEOUTS: NatTimeouts = {
  udp: 300_000,
  icmp: 60_000,
  gre: 300_000,
  tcpEstablished: 7_440_000,
  tcpTransitory: 240_000,
  tcpTimeWait: 240_000,
  tcpRst: 240_000,
  tcpSynHold: 6_000,
  portReuse: 120_000,
  expectation: 300_000,
};

/** RFC minimums enforced on timeouts. */
export const MIN_TIMEOUTS: Partial<NatTimeouts> = {
  udp: 120_000,
  icmp: 60_000,
  tcpEstablished: 7_440_000,
  tcpTransitory: 240_000,
  tcpSynHold: 6_000,
};

/** Options of `new Nat(options)`. */
export interface NatOptions {
  /** The NAT's inside address and network, e.g. `'192.168.1.1/24'`. */
  inside: string | Prefix;
  /** The NAT's outside address (and network), e.g. `'203.0.113.1/24'`. */
  outside: string | Prefix;
  /** More outside addresses for the pool (paired pooling: an inside host always uses the same one). */
  outsidePool?: readonly string[];
  /** Time source (ms). Default: the shared system clock. */
  clock?: Clock;
  mapping?: EndpointBehavior;
  filtering?: EndpointBehavior;
  /** Preset of mapping + filtering; must agree with explicit `mapping` / `filtering`. */
  type?: NatType;
  /** External port ranges `[lo, hi]` per protocol (ICMP identifiers, GRE call IDs too). */
  portRange?: { tcp?: PortRange; udp?: PortRange; icmp?: PortRange; gre?: PortRange };
  /** Keep the inside port when possible (default true). */
  portPreservation?: boolean;
  /** Keep port parity (default false). */
  portParity?: boolean;
  /** Hairpinning (default true). */
  hairpinning?: boolean;
  timeouts?: Partial<NatTimeouts>;
  /** Mappings per tenant (default unlimited). */
  maxMappingsPerTenant?: number;
  /** What a full tenant does with a new flow: `'reject'` (ICMP 3/13) or `'evict-lru'`. */
  onTenantLimit?: 'reject' | 'evict-lru';
  /** Mappings in total (default unlimited); a new flow beyond it is rejected. */
  maxMappings?: number;
  /** Verify transport checksums of every packet (drops `bad-checksum`); default false. */
  verifyChecksums?: boolean;
  /** Period of the internal `maintain()` timer (ms, default 1000; 0 = no timer). */
  maintainIntervalMs?: number;
  /** Random source for port selection (default `Math.random`); tests may make it deterministic. */
  random?: () => number;
  /** Pending unsolicited SYNs kept at most (default 1024). */
  maxHeldSyns?: number;
  /**
   * Reassembly of fragments before translation (RFC 4787 REQ-14): on by default with the
   * {@link DefragOptions} defaults; `false` drops fragments (counted `fragment`). Reassembled
   * datagrams are re-fragmented after translation to the largest fragment size seen.
   */
  defrag?: false | NatDefragOptions;
  /**
   * MTU of the outside link (default 0: unlimited). A larger translated packet is fragmented, or,
   * with DF set, dropped with ICMP 3/4 carrying this MTU back to the sender (RFC 4787 REQ-13).
   */
  mtu?: number;
  /**
   * Token bucket for the ICMP errors the NAT generates (TTL exceeded, 3/13, 3/3 after a held SYN,
   * 3/4): up to `burst` at once, refilled at `perSecond` (RFC 1812 §4.3.2.8). `null` disables the
   * limit. Default `{ burst: 100, perSecond: 1000 }`, as `L3Hub`. Suppressed errors count in
   * `stats.icmpRateLimited`.
   */
  icmpRateLimit?: RateLimit | null;
}

/** Defragmenter settings of a NAT (clock, ICMP sources and timer come from the NAT). */
export type NatDefragOptions = Omit<
  DefragOptions,
  'clock' | 'icmpSource4' | 'icmpSource6' | 'maintainIntervalMs'
>;

/** Options after defaults and validation. */
export interface ResolvedOptions {
  inside: Prefix;
  outside: Prefix;
  /** Outside addresses, index 0 is `outside`. */
  pool: number[];
  clock: Clock;
  mapping: EndpointBehavior;
  filtering: EndpointBehavior;
  ranges: PortRange[];
  portPreservation: boolean;
  portParity: boolean;
  hairpinning: boolean;
  timeouts: NatTimeouts;
  maxMappingsPerTenant: number;
  onTenantLimit: 'reject' | 'evict-lru';
  maxMappings: number;
  verifyChecksums: boolean;
  maintainIntervalMs: number;
  random: () => number;
  maxHeldSyns: number;
  defrag: NatDefragOptions | null;
  mtu: number;
  /** ICMP error token bucket (`null`: unlimited). */
  icmpRateLimit: RateLimit | null;
}

const BEHAVIORS: readonly string[] = [
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
];

function prefix4(v: unknown, what: string): Prefix {
  const p = v instanceof Prefix ? v : typeof v === 'string' ? Prefix.tryParse(v) : null;
  if (p?.version !== 4) throw new ConfigError('ERR_BAD_PREFIX', `${what}: not an IPv4 prefix: ${String(v)}`);
  return p;
}

function range(v: PortRange | undefined, def: PortRange, what: string): PortRange {
  if (v === undefined) return def;
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    !Number.isInteger(v[0]) ||
    !Number.isInteger(v[1]) ||
    v[0] < 0 ||
    v[1] > 65535 ||
    v[0] > v[1]
  )
    throw new ConfigError(
      'ERR_BAD_PORT_RANGE',
      `portRange.${what} must be [lo, hi] with 0 <= lo <= hi <= 65535`,
    );
  if (what !== 'icmp' && v[0] === 0 && v[1] === 0)
    throw new ConfigError('ERR_BAD_PORT_RANGE', `portRange.${what} is empty`);
  return [what === 'icmp' ? v[0] : Math.max(1, v[0]), v[1]];
}

function limit(v: number | undefined, what: string): number {
  if (v === undefined) return Number.POSITIVE_INFINITY;
  if (typeof v !== 'number' || !(v >= 1) || (!Number.isInteger(v) && v !== Number.POSITIVE_INFINITY))
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be a positive integer`);
  return v;
}

/** Applies defaults and validates; throws {@link ConfigError}. */
export function resolveOptions(o: NatOptions): ResolvedOptions {
  if (!o || typeof o !== 'object') throw new ConfigError('ERR_BAD_OPTION', 'Nat: options object required');
  const inside = prefix4(o.inside, 'inside');
  const outside = prefix4(o.outside, 'outside');
  const pool = [outside.ipv4];
  if (o.outsidePool !== undefined && !Array.isArray(o.outsidePool))
    throw new ConfigError('ERR_BAD_OPTION', 'outsidePool must be an array of IPv4 addresses');
  for (const a of o.outsidePool ?? []) {
    const ip = typeof a === 'string' ? parseIpv4(a.includes('/') ? a.slice(0, a.indexOf('/')) : a) : null;
    if (ip === null)
      throw new ConfigError('ERR_BAD_PREFIX', `outsidePool: not an IPv4 address: ${String(a)}`);
    if (!pool.includes(ip)) pool.push(ip);
  }
  if (pool.length > 65535) throw new ConfigError('ERR_BAD_OPTION', 'outsidePool: too many addresses');
  let mapping: EndpointBehavior = 'endpoint-independent';
  let filtering: EndpointBehavior = 'address-and-port-dependent';
  if (o.type !== undefined) {
    const preset = Object.hasOwn(NAT_TYPE_PRESETS, o.type) ? NAT_TYPE_PRESETS[o.type] : undefined;
    if (!preset) throw new ConfigError('ERR_BAD_OPTION', `type: unknown NAT type ${String(o.type)}`);
    if ((o.mapping && o.mapping !== preset.mapping) || (o.filtering && o.filtering !== preset.filtering))
      throw new ConfigError(
        'ERR_CONFLICTING_OPTIONS',
        `type ${o.type} conflicts with the explicit mapping/filtering`,
      );
    mapping = preset.mapping;
    filtering = preset.filtering;
  }
  if (o.mapping !== undefined) {
    if (!BEHAVIORS.includes(o.mapping))
      throw new ConfigError('ERR_BAD_OPTION', `mapping: unknown behaviour ${String(o.mapping)}`);
    mapping = o.mapping;
  }
  if (o.filtering !== undefined) {
    if (!BEHAVIORS.includes(o.filtering))
      throw new ConfigError('ERR_BAD_OPTION', `filtering: unknown behaviour ${String(o.filtering)}`);
    filtering = o.filtering;
  }
  const timeouts: NatTimeouts = { ...DEFAULT_TIMEOUTS };
  if (
    o.timeouts !== undefined &&
    (o.timeouts === null || typeof o.timeouts !== 'object' || Array.isArray(o.timeouts))
  )
    throw new ConfigError('ERR_BAD_OPTION', 'timeouts must be an object of milliseconds');
  for (const [k, v] of Object.entries(o.timeouts ?? {})) {
    if (!(k in DEFAULT_TIMEOUTS)) throw new ConfigError('ERR_BAD_OPTION', `timeouts.${k}: unknown timeout`);
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v))
      throw new ConfigError('ERR_BAD_OPTION', `timeouts.${k} must be a number of milliseconds >= 0`);
    const min = MIN_TIMEOUTS[k as keyof NatTimeouts];
    if (min !== undefined && v < min)
      throw new ConfigError(
        'ERR_TIMEOUT_TOO_SHORT',
        `timeouts.${k} = ${v} ms is below the RFC minimum of ${min} ms`,
      );
    timeouts[k as keyof NatTimeouts] = v;
  }
  if (
    o.portRange !== undefined &&
    (o.portRange === null || typeof o.portRange !== 'object' || Array.isArray(o.portRange))
  )
    throw new ConfigError('ERR_BAD_PORT_RANGE', 'portRange must be an object { tcp?, udp?, icmp?, gre? }');
  const pr = o.portRange ?? {};
  for (const k of Object.keys(pr))
    if (k !== 'tcp' && k !== 'udp' && k !== 'icmp' && k !== 'gre')
      throw new ConfigError('ERR_BAD_PORT_RANGE', `portRange.${k}: unknown protocol`);
  const ranges: PortRange[] = [
    range(pr.tcp, [1, 65535], 'tcp'),
    range(pr.udp, [1, 65535], 'udp'),
    range(pr.icmp, [0, 65535], 'icmp'),
    range(pr.gre, [1, 65535], 'gre'),
  ];
  const onTenantLimit = o.onTenantLimit ?? 'reject';
  if (onTenantLimit !== 'reject' && onTenantLimit !== 'evict-lru')
    throw new ConfigError('ERR_BAD_OPTION', `onTenantLimit must be 'reject' or 'evict-lru'`);
  const maintainIntervalMs = o.maintainIntervalMs ?? 1000;
  if (typeof maintainIntervalMs !== 'number' || !(maintainIntervalMs >= 0) || maintainIntervalMs > 0x7fffffff)
    throw new ConfigError('ERR_BAD_OPTION', 'maintainIntervalMs must be 0..2147483647');
  if (o.clock !== undefined && (o.clock === null || typeof (o.clock as Clock).now !== 'function'))
    throw new ConfigError('ERR_BAD_OPTION', 'clock must have a now() method');
  if (o.random !== undefined && typeof o.random !== 'function')
    throw new ConfigError('ERR_BAD_OPTION', 'random must be a function returning [0, 1)');
  for (const k of ['portPreservation', 'portParity', 'hairpinning', 'verifyChecksums'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'boolean')
      throw new ConfigError('ERR_BAD_OPTION', `${k} must be a boolean`);
  const maxHeldSyns = o.maxHeldSyns ?? 1024;
  if (!Number.isInteger(maxHeldSyns) || maxHeldSyns < 0)
    throw new ConfigError('ERR_BAD_OPTION', 'maxHeldSyns must be an integer >= 0');
  return {
    inside,
    outside,
    pool,
    clock: o.clock ?? systemClock(),
    mapping,
    filtering,
    ranges,
    portPreservation: o.portPreservation ?? true,
    portParity: o.portParity ?? false,
    hairpinning: o.hairpinning ?? true,
    timeouts,
    maxMappingsPerTenant: limit(o.maxMappingsPerTenant, 'maxMappingsPerTenant'),
    onTenantLimit,
    maxMappings: limit(o.maxMappings, 'maxMappings'),
    verifyChecksums: o.verifyChecksums ?? false,
    maintainIntervalMs,
    random: o.random ?? Math.random,
    maxHeldSyns,
    defrag: o.defrag === false ? null : { ...(o.defrag ?? {}) },
    mtu: mtuOption(o.mtu),
    icmpRateLimit: o.icmpRateLimit === undefined ? DEFAULT_ICMP_RATE_LIMIT : o.icmpRateLimit,
  };
}

function mtuOption(v: unknown): number {
  if (v === undefined || v === 0) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 68 || v > 65535)
    throw new ConfigError(
      'ERR_BAD_OPTION',
      `mtu must be an integer 68..65535 (RFC 791 minimum 68), got ${String(v)}`,
    );
  return v;
}
