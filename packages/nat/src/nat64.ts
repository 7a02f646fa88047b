/**
 * Stateful NAT64 (RFC 6146) on the RFC 7915 translator core.
 *
 * `nat64.inside()` faces the IPv6 network (tenant 0), `nat64.outside()` the IPv4 network;
 * `nat64.connectL3(dev)` attaches more IPv6 tenants, each with its own address space. IPv4 nodes
 * are seen from the IPv6 side under an RFC 6052 prefix (or, in `ipv4MappedMode`, as
 * `::ffff:a.b.c.d`).
 *
 * State, after RFC 6146 §3:
 * - **BIB** (Binding Information Base), one per protocol (TCP, UDP, ICMP echo): an IPv6 transport
 *   address (tenant, address, port / identifier) ↔ an IPv4 pool transport address. Mapping is
 *   endpoint-independent (§3.5.1 and RFC 4787 REQ-1): every remote sees the same IPv4 address
 *   and port. Dynamic entries live while they have sessions; static entries are port forwards.
 * - **Sessions** (one per remote IPv4 transport address of a BIB entry) carry the filtering state
 *   (endpoint-independent or address-dependent, §3.5.1.1), the TCP state machine (§3.5.2.2) and
 *   the lifetimes (UDP_MIN 2 min / UDP_DEFAULT 5 min, TCP_TRANS 4 min, TCP_EST 2 h 4 min,
 *   TCP_INCOMING_SYN 6 s, ICMP 60 s; §4).
 * - An inbound IPv4 SYN with no BIB entry (or one that filtering refuses) is held 6 s
 *   (§3.5.2.2): dropped silently when the IPv6 SYN of the same connection goes out, else
 *   answered with ICMP 3/3 (port unreachable) quoting the stored SYN.
 *
 * Hot path: struct-of-arrays typed storage, numeric hash chains, the port-owner arrays of
 * {@link PortAllocator} for the IPv4 → IPv6 lookup, long-lived mapper objects whose fields are
 * set per packet, a timer wheel with lazy refresh. No allocation per packet in steady state.
 */
import {
  type Clock,
  ClosedError,
  ConfigError,
  discard,
  type L3Connector,
  type L3Device,
  type PacketHandler,
  systemClock,
} from '@l3kit/core';
import { buildIcmpv4Error, buildIcmpv6Error, formatIpv4, formatIpv6, Prefix, parseIpv4 } from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';
import { Defragmenter, type DefragStats } from './defrag.js';
import { TimerWheel } from './expiry.js';
import { fragmentIpv6 } from './fragment.js';
import { PORT_FREE, PortAllocator, type PortRange } from './port-allocator.js';
import type { MappingRecord, TupleRecord } from './records.js';
import { isGlobalIpv4, Rfc6052Prefix } from './rfc6052.js';
import {
  TCP_ACK,
  TCP_STATE_NAMES,
  TCP_SYN,
  TcpState,
  type TcpTimers,
  tcpInitialState,
  tcpNextState,
  tcpRefreshes,
  tcpTimeout,
} from './tcp-state.js';
import {
  DF_THRESHOLD,
  NO_PORT,
  Translator,
  type TranslatorStats,
  type Xlat4to6Mapper,
  type Xlat6to4Mapper,
  type XlatMapResult,
} from './xlat.js';

// ==================================== options ====================================

/** NAT64 lifetimes in milliseconds (RFC 6146 §4). */
export interface Nat64Timeouts {
  /** UDP session lifetime (UDP_DEFAULT 5 min; below UDP_MIN 2 min → `ERR_TIMEOUT_TOO_SHORT`). */
  udp: number;
  /** ICMP query session lifetime (ICMP_DEFAULT 60 s, also the minimum). */
  icmp: number;
  /** Established TCP (TCP_EST 2 h 4 min, also the minimum). */
  tcpEstablished: number;
  /** Transitory TCP: opening, closing, after RST (TCP_TRANS 4 min, also the minimum). */
  tcpTransitory: number;
  /** TCP_INCOMING_SYN: the V4 SYN hold and the V4 INIT session lifetime (6 s, also the minimum). */
  tcpIncomingSyn: number;
  /** A pool port freed by an expired BIB entry is not reused for this long (default 120 s). */
  portReuse: number;
}

/** Default lifetimes (RFC 6146 §4). */
export const NAT64_DEFAULT_TIMEOUTS: Readonly<Nat64Timeouts> = {
  udp: 300_000,
  icmp: 60_000,
  tcpEstablished: 7_440_000,
  tcpTransitory: 240_000,
  tcpIncomingSyn: 6_000,
  portReuse: 120_000,
};

/** RFC 6146 §4 minimums; smaller values throw `ConfigError` `ERR_TIMEOUT_TOO_SHORT`. */
export const NAT64_MIN_TIMEOUTS: Readonly<Partial<Nat64Timeouts>> = {
  udp: 120_000,
  icmp: 60_000,
  tcpEstablished: 7_440_000,
  tcpTransitory: 240_000,
  tcpIncomingSyn: 6_000,
};

/** Filtering behaviour of a {@link Nat64} (RFC 6146 §3.5.1.1 allows both). */
export type Nat64Filtering = 'endpoint-independent' | 'address-dependent';

/** Options of `new Nat64(options)`. */
export interface Nat64Options {
  /** RFC 6052 prefix under which IPv4 nodes appear on the IPv6 side. Default `'64:ff9b::/96'`. */
  prefix?: string;
  /** Allow non-global IPv4 addresses under the Well-Known Prefix (RFC 6052 §3.1 forbids it). Default false. */
  allowNonGlobal?: boolean;
  /** pktkit-style `::ffff:a.b.c.d` addresses instead of `prefix` (not RFC 6146). Default false. */
  ipv4MappedMode?: boolean;
  /** The NAT64's IPv6 address and the inside network, e.g. `'2001:db8::1/64'` (source of its ICMPv6 errors). */
  inside: string | Prefix;
  /** The NAT64's first IPv4 pool address, e.g. `'203.0.113.1/24'`. */
  outside: string | Prefix;
  /** More IPv4 pool addresses. */
  outsidePool?: readonly string[];
  /** Time source. Default: the shared system clock. */
  clock?: Clock;
  /** Pool port ranges `[lo, hi]` inclusive. Defaults: tcp / udp `[1024, 65535]`, icmp `[0, 65535]`. */
  portRange?: { tcp?: PortRange; udp?: PortRange; icmp?: PortRange };
  /** Default `'address-dependent'` (the safer of the two RFC 6146 allows). */
  filtering?: Nat64Filtering;
  /** Lifetimes (ms); see {@link NAT64_DEFAULT_TIMEOUTS}. */
  timeouts?: Partial<Nat64Timeouts>;
  /** IPv6 → prefix-embedded pool address → back inside (RFC 6146 §3.8). Default true. */
  hairpinning?: boolean;
  /** Fragment IPv4 → IPv6 packets with DF clear to this size (RFC 7915 §4). Default 1280. */
  lowestIpv6Mtu?: number;
  /** Next-hop MTU on the IPv4 side. Default 1500. */
  ipv4Mtu?: number;
  /** Next-hop MTU on the IPv6 side. Default 1500. */
  ipv6Mtu?: number;
  /** Most BIB entries at once (beyond: drop + ICMPv6 1/3). Default Infinity. */
  maxMappings?: number;
  /** Most V4 SYNs held at once; more are dropped (`unsolicited-syn`). Default 1024. */
  maxHeldSyns?: number;
  /** Own unref'd `maintain()` timer period; 0 = none. Default 1000. */
  maintainIntervalMs?: number;
  /** Randomness for port selection. Default `Math.random`. */
  random?: () => number;
  /**
   * Packets sent to `outside()` may grow into the 20 bytes before their view: IPv4 → IPv6 then
   * writes the IPv6 header there and leaves the datagram where it is, instead of copying it into
   * the translator's buffer (Linux's skb headroom). Set it only when, for every packet sent to
   * `outside()`, the 20 bytes of its `ArrayBuffer` before `byteOffset` are spare: not another
   * packet, not data the sender still needs. A packet with `byteOffset < 20` is copied as usual.
   * Default false.
   */
  outsideHeadroom?: boolean;
}

/** Every reason the NAT64 drops a packet: keys of {@link Nat64Stats.drops}. */
export const NAT64_DROP_REASONS = [
  'malformed',
  'bad-checksum',
  'ttl-exceeded',
  'unsupported-protocol',
  'icmp-unsupported',
  'icmp-nested',
  'icmp-error-no-mapping',
  'no-mapping',
  'filtered',
  'unsolicited-syn',
  'table-full',
  'ports-exhausted',
  'not-for-us',
  'no-hairpin',
  'too-big',
  'source-route',
  'segments-left',
  'udp-zero-checksum',
  'fragment',
  'closed',
] as const;

/** A NAT64 drop reason. */
export type Nat64DropReason = (typeof NAT64_DROP_REASONS)[number];

/** Counters of a {@link Nat64} (`nat64.stats`). */
export interface Nat64Stats {
  /** IPv6 → IPv4 packets emitted (fragments count each). */
  readonly packetsOut: number;
  /** IPv4 → IPv6 packets emitted. */
  readonly packetsIn: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** Packets hairpinned (IPv6 → pool address → IPv6). */
  hairpinned: number;
  /** BIB entries created (dynamic and static). */
  mappingsCreated: number;
  /** Dynamic BIB entries removed when their last session expired. */
  mappingsExpired: number;
  /** BIB entries removed otherwise (static removal, tenant cleanup, rollback excluded). */
  mappingsRemoved: number;
  sessionsCreated: number;
  sessionsExpired: number;
  /** ICMP errors translated, either direction. */
  icmpErrorsTranslated: number;
  /** ICMP errors the NAT64 sent (ICMPv6 1/3, ICMP 3/3 after a SYN hold, translator errors). */
  icmpErrorsSent: number;
  /** V4 SYNs held (RFC 6146 §3.5.2.2). */
  synHeld: number;
  /** Held V4 SYNs dropped silently because the IPv6 SYN of the connection went out. */
  synHoldMatched: number;
  /** Datagrams reassembled before translation. */
  fragmentsReassembled: number;
  readonly activeMappings: number;
  readonly activeSessions: number;
  /** Drops by reason; every key exists from the start. */
  readonly drops: Record<Nat64DropReason, number>;
}

/** One NAT64 session (or a session-less static BIB entry), as `nat64.mappings()` returns it. */
export interface Nat64MappingRecord extends MappingRecord {
  /** The IPv4 remote as the IPv6 node addresses it (under the prefix). */
  remoteIp6: string;
}

/** A static BIB entry (a port forward). */
export interface Nat64StaticBinding {
  proto: 6 | 17 | 1;
  /** The IPv6 node's address. */
  ipv6: string;
  /** Its port (ICMP: echo identifier). */
  port6: number;
  /** The pool address (default: the first). */
  ipv4?: string;
  port4: number;
  /** Default 0. */
  tenant?: number;
}

/** Typed control events (never one per packet). */
export interface Nat64Events {
  /** A BIB entry was created (the record is its first session, or LISTEN for a static one). */
  'mapping-created': [Nat64MappingRecord];
  /** A session timed out. */
  'mapping-expired': [Nat64MappingRecord];
  /** A session or static entry was removed (static removal, tenant cleanup). */
  'mapping-removed': [Nat64MappingRecord];
}

/** Snapshot of one BIB entry. */
export interface Nat64SnapshotBinding {
  tenant: number;
  proto: number;
  ipv6: string;
  port6: number;
  ipv4: string;
  port4: number;
  static: boolean;
  sessions: Array<{
    remoteIp: string;
    remotePort: number;
    /** `TcpState` code, 0 for UDP / ICMP. */
    state: number;
    /** Bit 0: outbound seen, bit 1: inbound seen, bit 2: created by an inbound packet. */
    flags: number;
    expiresInMs: number;
    packetsOut: number;
    packetsIn: number;
    bytesOut: number;
    bytesIn: number;
  }>;
}

/** All NAT64 state, JSON-serialisable; times relative to the snapshot. */
export interface Nat64Snapshot {
  version: 1;
  kind: 'nat64';
  bindings: Nat64SnapshotBinding[];
}

/** The cleanup function `connectL3` returns; `tenant` is the tenant id. */
export type Nat64TenantCleanup = (() => void) & { readonly tenant: number };

// ==================================== internals ====================================

const SLOT_TCP = 0;
const SLOT_UDP = 1;
const SLOT_ICMP = 2;
const SLOT_PROTO = [6, 17, 1] as const;
const SLOT_NAME = ['tcp', 'udp', 'icmp'] as const;
const DIR_OUT = 1;

// BIB record fields (`bi`, 16 int32 per entry).
/** Slot + 1 (0 = free). */
const B_SLOT = 0;
const B_TENANT = 1;
/** The IPv6 address, 4 words (2..5). */
const B_ADDR = 2;
const B_PORT6 = 6;
const B_POOL = 7;
const B_PORT4 = 8;
const B_STATIC = 9;
const B_SESS_HEAD = 10;
const B_SESS_COUNT = 11;
const B_HASH = 12;
const B_NEXT = 13;
/** The IPv6 address's 16-bit words summed (unfolded): the fast paths' checksum adjustment. */
const B_ASUM = 14;

// Session records: 128 bytes each in one ArrayBuffer, read as 32 int32 (`si`, index `s << 5`)
// and as 16 float64 (`sd`, index `s << 4`). A session carries copies of its BIB entry's immutable
// fields (IPv6 address and port, tenant, slot, pool address and port) and sits in two hash
// chains, one keyed by what an IPv6 packet carries and one by what an IPv4 packet carries, so a
// fast-path packet finds everything in one record without touching the BIB or the port table
// (at 10,000 flows each table touched is a cache miss). Counters are read back with `>>> 0`.
const S_LIVE = 0;
const S_BIB = 1;
const S_REMOTE = 2;
const S_RPORT = 3;
const S_STATE = 4;
const S_FLAGS = 5;
const S_PREV = 6;
const S_NEXT_IN_BIB = 7;
/** Inside-key hash: the BIB entry's hash mixed with the remote address and port. */
const S_HASH = 8;
const S_NEXT = 9;
const S_PKT_OUT = 10;
const S_PKT_IN = 11;
/** Outside-key hash: (slot, pool address, pool port, remote address, remote port). */
const S_HASH4 = 12;
const S_NEXT4 = 13;
/** Copies of the BIB entry: IPv6 address (4 words, 14..17), port, tenant, slot + 1, pool index, pool port, address sum. */
const S_ADDR = 14;
const S_PORT6 = 18;
const S_TENANT = 19;
const S_SLOT = 20;
const S_POOL = 21;
const S_PORT4 = 22;
const S_ASUM = 23;
// Session doubles (`sd`, float64 index within the record; bytes 96..119).
const SD_DEADLINE = 12;
const SD_BYTES_OUT = 13;
const SD_BYTES_IN = 14;
/** Bytes per session record. */
const S_BYTES = 128;
const DIR_IN = 2;
const CREATED_IN = 4;

const TRANSLATOR_DROPS: ReadonlyArray<[keyof TranslatorStats, Nat64DropReason]> = [
  ['dropMalformed', 'malformed'],
  ['dropBadChecksum', 'bad-checksum'],
  ['dropTtlExceeded', 'ttl-exceeded'],
  ['dropSourceRoute', 'source-route'],
  ['dropSegmentsLeft', 'segments-left'],
  ['dropIcmpUntranslatable', 'icmp-unsupported'],
  ['dropIcmpFragment', 'malformed'],
  ['dropIcmpNested', 'icmp-nested'],
  ['dropUdpZeroChecksum', 'udp-zero-checksum'],
  ['dropUnmapped', 'no-mapping'],
  ['dropTooBig', 'too-big'],
];

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return h ^ (h >>> 15);
}

// The typed-array `byteOffset` and `buffer` getters, called directly: on Node 20 a property read
// `pkt.byteOffset` is not inlined and costs ≈ 10 ns (`buffer` ≈ 17), a call of the getter ≈ 4 (≈ 10).
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const viewByteOffset = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteOffset')?.get as () => unknown;
const viewBuffer = Object.getOwnPropertyDescriptor(typedArrayProto, 'buffer')?.get as () => unknown;

/**
 * A bijective mix of a multiply-shift sum (murmur3's finalizer): the sum of products keeps the
 * arithmetic structure of structured keys (ports and addresses counting up), which can pile them
 * into a few buckets for some key draws; mixed, they spread like random values.
 */
function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The bucket of hash `h` in a table of chain heads (a power of two long): the top bits of `h`. */
function bucketOf(h: number, heads: Int32Array): number {
  return h >>> (Math.clz32(heads.length) + 1);
}

/** `n` random 32-bit keys for {@link Nat64}'s table hashes. */
function randomKeys(n: number): Int32Array {
  return globalThis.crypto.getRandomValues(new Int32Array(n));
}

function rd32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** The two 16-bit halves of a 32-bit word, summed (for one's-complement sums). */
function sum16(w: number): number {
  return (w >>> 16) + (w & 0xffff);
}

interface HeldSyn {
  key: string;
  pkt: Uint8Array;
  pool: number;
  deadline: number;
  done: boolean;
}

interface Tenant {
  dev: L3Device | undefined;
  deliver: PacketHandler;
  defrag: Defragmenter | undefined;
}

/** IPv6 → IPv4 mapper: the outer source was resolved before translation; ICMP error quotes are looked up. */
class Mapper6to4 implements Xlat6to4Mapper {
  pkt: Uint8Array = new Uint8Array(0);
  tenant = 0;
  addr = 0;
  port = 0;
  /** The outer destination's IPv4 address (int32). */
  remote = 0;
  constructor(private readonly nat: Nat64) {}
  local6(b: Uint8Array, off: number, proto: number, port: number, r: XlatMapResult): boolean {
    if (b === this.pkt && off === 8) {
      r.addr = this.addr;
      r.port = port === NO_PORT ? port : this.port;
      return true;
    }
    return this.nat._inner6(this.tenant, b, off, proto, port, r);
  }
  remote6(b: Uint8Array, off: number): number {
    // The outer destination was resolved (and checked) before translation.
    if (b === this.pkt && off === 24) return this.remote >>> 0;
    return this.nat._remote6(b, off);
  }
}

/** IPv4 → IPv6 mapper: the outer destination's BIB entry was resolved before translation. */
class Mapper4to6 implements Xlat4to6Mapper {
  bib = 0;
  constructor(private readonly nat: Nat64) {}
  remote4(v4: number, out: Uint8Array, off: number): boolean {
    return this.nat._embed(v4, out, off);
  }
  remote4At(b: Uint8Array, at: number, out: Uint8Array, off: number): boolean {
    return this.nat._embedAt(b, at, out, off);
  }
  local4At(b: Uint8Array, at: number, proto: number, port: number, out: Uint8Array, off: number): number {
    if (off === 24) {
      this.nat._writeAddr6(this.bib, out, off);
      return port === NO_PORT ? port : this.nat._port6(this.bib);
    }
    return this.nat._inner4(rd32(b, at) >>> 0, proto, port, out, off);
  }
  local4(v4: number, proto: number, port: number, out: Uint8Array, off: number): number {
    if (off === 24) {
      this.nat._writeAddr6(this.bib, out, off);
      return port === NO_PORT ? port : this.nat._port6(this.bib);
    }
    return this.nat._inner4(v4, proto, port, out, off);
  }
}

/** One of the NAT64's two interfaces. */
class Nat64Interface implements L3Device {
  handler: PacketHandler = discard;
  constructor(
    private readonly nat: Nat64,
    private readonly side: 'inside' | 'outside',
    private prefix: Prefix,
  ) {}
  setHandler(handler: PacketHandler): void {
    this.handler = handler;
    this.nat._setHandler(this.side, handler);
  }
  send(pkt: Uint8Array): void {
    if (this.side === 'inside') this.nat._fromInside(0, pkt);
    else this.nat._fromOutside(pkt);
  }
  addr(): Prefix | undefined {
    return this.prefix;
  }
  setAddr(prefix: Prefix): void {
    if (prefix.toString() !== this.prefix.toString())
      throw new ConfigError('ERR_UNSUPPORTED', 'Nat64: addresses are fixed at construction');
    this.prefix = prefix;
  }
  close(): void {
    this.nat.close();
  }
}

interface Resolved {
  prefix: Rfc6052Prefix;
  inside: Prefix;
  pool: number[];
  poolText: string[];
  ranges: PortRange[];
  filtering: Nat64Filtering;
  timeouts: Nat64Timeouts;
  hairpinning: boolean;
  lowestIpv6Mtu: number;
  ipv4Mtu: number;
  ipv6Mtu: number;
  maxMappings: number;
  maxHeldSyns: number;
  maintainIntervalMs: number;
  random: () => number;
  clock: Clock;
  outsideHeadroom: boolean;
}

function resolveOptions(o: Nat64Options): Resolved {
  if (!o || typeof o !== 'object') throw new ConfigError('ERR_BAD_OPTION', 'Nat64: options object required');
  const inside = typeof o.inside === 'string' ? Prefix.tryParse(o.inside) : o.inside;
  if (!(inside instanceof Prefix) || inside.version !== 6)
    throw new ConfigError('ERR_BAD_PREFIX', `inside: not an IPv6 prefix: ${String(o.inside)}`);
  const outside = typeof o.outside === 'string' ? Prefix.tryParse(o.outside) : o.outside;
  if (!(outside instanceof Prefix) || outside.version !== 4)
    throw new ConfigError('ERR_BAD_PREFIX', `outside: not an IPv4 prefix: ${String(o.outside)}`);
  const pool = [outside.ipv4 >>> 0];
  if (o.outsidePool !== undefined && !Array.isArray(o.outsidePool))
    throw new ConfigError('ERR_BAD_OPTION', 'outsidePool must be an array of IPv4 addresses');
  for (const a of o.outsidePool ?? []) {
    const v = typeof a === 'string' ? parseIpv4(a) : null;
    if (v === null) throw new ConfigError('ERR_BAD_PREFIX', `outsidePool: not an IPv4 address: ${String(a)}`);
    if (!pool.includes(v >>> 0)) pool.push(v >>> 0);
  }
  if (pool.length > 65535) throw new ConfigError('ERR_BAD_OPTION', 'outsidePool: too many addresses');
  if (o.ipv4MappedMode !== undefined && typeof o.ipv4MappedMode !== 'boolean')
    throw new ConfigError('ERR_BAD_OPTION', 'ipv4MappedMode must be a boolean');
  if (o.ipv4MappedMode && o.prefix !== undefined)
    throw new ConfigError('ERR_CONFLICTING_OPTIONS', 'ipv4MappedMode replaces prefix: give one of them');
  if (o.prefix !== undefined && typeof o.prefix !== 'string')
    throw new ConfigError('ERR_BAD_PREFIX', 'prefix must be a string like 64:ff9b::/96');
  const prefix = o.ipv4MappedMode
    ? Rfc6052Prefix.parse('::ffff:0:0/96')
    : Rfc6052Prefix.parse(o.prefix ?? '64:ff9b::/96', { allowNonGlobal: o.allowNonGlobal === true });
  const filtering = o.filtering ?? 'address-dependent';
  if (filtering !== 'endpoint-independent' && filtering !== 'address-dependent')
    throw new ConfigError('ERR_BAD_OPTION', `filtering: unknown behaviour ${String(o.filtering)}`);
  const timeouts: Nat64Timeouts = { ...NAT64_DEFAULT_TIMEOUTS };
  if (o.timeouts !== undefined && (o.timeouts === null || typeof o.timeouts !== 'object'))
    throw new ConfigError('ERR_BAD_OPTION', 'timeouts must be an object of milliseconds');
  for (const [k, v] of Object.entries(o.timeouts ?? {})) {
    if (!(k in NAT64_DEFAULT_TIMEOUTS))
      throw new ConfigError('ERR_BAD_OPTION', `timeouts.${k}: unknown timeout`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new ConfigError('ERR_BAD_OPTION', `timeouts.${k} must be a number of milliseconds >= 0`);
    const min = NAT64_MIN_TIMEOUTS[k as keyof Nat64Timeouts];
    if (min !== undefined && v < min)
      throw new ConfigError(
        'ERR_TIMEOUT_TOO_SHORT',
        `timeouts.${k} = ${v} ms is below the RFC 6146 minimum of ${min} ms`,
      );
    timeouts[k as keyof Nat64Timeouts] = v;
  }
  const ranges: PortRange[] = [
    [1024, 65535],
    [1024, 65535],
    [0, 65535],
    [1, 65535],
  ];
  if (o.portRange !== undefined) {
    if (o.portRange === null || typeof o.portRange !== 'object')
      throw new ConfigError('ERR_BAD_PORT_RANGE', 'portRange must be an object { tcp?, udp?, icmp? }');
    for (const [k, r] of Object.entries(o.portRange)) {
      const slot = SLOT_NAME.indexOf(k as 'tcp');
      if (slot < 0) throw new ConfigError('ERR_BAD_PORT_RANGE', `portRange.${k}: unknown protocol`);
      const lo0 = slot === SLOT_ICMP ? 0 : 1;
      if (
        !Array.isArray(r) ||
        r.length !== 2 ||
        !Number.isInteger(r[0]) ||
        !Number.isInteger(r[1]) ||
        r[0] < lo0 ||
        r[1] > 65535 ||
        r[0] > r[1]
      )
        throw new ConfigError(
          'ERR_BAD_PORT_RANGE',
          `portRange.${k} must be [lo, hi] with ${lo0} <= lo <= hi <= 65535`,
        );
      ranges[slot] = [r[0], r[1]];
    }
  }
  const mtu = (name: string, v: number | undefined, def: number, min: number): number => {
    if (v === undefined) return def;
    if (!Number.isInteger(v) || v < min || v > 65535)
      throw new ConfigError('ERR_BAD_OPTION', `${name} must be an integer ${min}..65535`);
    return v;
  };
  const maxMappings = o.maxMappings ?? Number.POSITIVE_INFINITY;
  if (typeof maxMappings !== 'number' || !(maxMappings >= 0))
    throw new ConfigError('ERR_BAD_OPTION', 'maxMappings must be a number >= 0');
  const maxHeldSyns = o.maxHeldSyns ?? 1024;
  if (!Number.isInteger(maxHeldSyns) || maxHeldSyns < 0)
    throw new ConfigError('ERR_BAD_OPTION', 'maxHeldSyns must be an integer >= 0');
  const maintainIntervalMs = o.maintainIntervalMs ?? 1000;
  if (!Number.isInteger(maintainIntervalMs) || maintainIntervalMs < 0 || maintainIntervalMs > 0x7fffffff)
    throw new ConfigError('ERR_BAD_OPTION', 'maintainIntervalMs must be 0..2147483647');
  if (o.hairpinning !== undefined && typeof o.hairpinning !== 'boolean')
    throw new ConfigError('ERR_BAD_OPTION', 'hairpinning must be a boolean');
  if (o.outsideHeadroom !== undefined && typeof o.outsideHeadroom !== 'boolean')
    throw new ConfigError('ERR_BAD_OPTION', 'outsideHeadroom must be a boolean');
  if (o.clock !== undefined && typeof o.clock?.now !== 'function')
    throw new ConfigError('ERR_BAD_OPTION', 'clock must have a now() method');
  if (o.random !== undefined && typeof o.random !== 'function')
    throw new ConfigError('ERR_BAD_OPTION', 'random must be a function returning [0, 1)');
  return {
    prefix,
    inside,
    pool,
    poolText: pool.map((v) => formatIpv4(v)),
    ranges,
    filtering,
    timeouts,
    hairpinning: o.hairpinning ?? true,
    lowestIpv6Mtu: mtu('lowestIpv6Mtu', o.lowestIpv6Mtu, 1280, 1280),
    ipv4Mtu: mtu('ipv4Mtu', o.ipv4Mtu, 1500, 68),
    ipv6Mtu: mtu('ipv6Mtu', o.ipv6Mtu, 1500, 1280),
    maxMappings,
    maxHeldSyns,
    maintainIntervalMs,
    random: o.random ?? Math.random,
    clock: o.clock ?? systemClock(),
    outsideHeadroom: o.outsideHeadroom === true,
  };
}

// ==================================== the device ====================================

/**
 * A stateful NAT64 (RFC 6146).
 *
 * @example
 * ```ts
 * const nat64 = new Nat64({ prefix: '2001:db8:64::/96', inside: '2001:db8::1/64', outside: '203.0.113.1/24', clock });
 * connectL3(ipv6Host, nat64.inside());
 * connectL3(nat64.outside(), ipv4Router);
 * // the IPv6 host reaches 198.51.100.7 as 2001:db8:64::c633:6407
 * ```
 */
export class Nat64 extends EventEmitter<Nat64Events> implements L3Connector {
  /** Counters and drops by reason (a live object). */
  readonly stats: Nat64Stats;
  /** The translator's own counters (per RFC 7915 rule). */
  readonly translatorStats: Readonly<TranslatorStats>;

  private readonly o: Resolved;
  private readonly clock: Clock;
  private readonly xlat: Translator;
  private readonly insideIf: Nat64Interface;
  private readonly outsideIf: Nat64Interface;
  private readonly tenants: Array<Tenant | undefined> = [];
  private nextTenant = 1;
  private outHandler: PacketHandler = discard;
  private readonly ctr = new Float64Array(4);
  /** IPv4 → IPv6 fast path: the output buffer and the last view of it (reused while the length repeats). */
  private readonly fastBuf = new Uint8Array(65536 + 40);
  private fastView: Uint8Array = new Uint8Array(0);
  /** IPv6 → IPv4 fast path: the last in-place view and the buffer it is a view of. */
  private placedView: Uint8Array = new Uint8Array(0);
  private placedFor: Uint8Array | null = null;
  /** 1 switches the fast paths off (the differential test's reference). */
  private fastOff = 0;
  /** @internal Packets the fast paths translated (tests and benchmarks check they ran). */
  _fastPathPackets = 0;
  private readonly drops: Record<Nat64DropReason, number>;
  private readonly shadow: Record<string, number> = {};
  private closed = false;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  private readonly ports: PortAllocator;
  private readonly pool: Int32Array;
  private readonly poolBase: number;
  private readonly poolContiguous: boolean;
  private readonly m6: Mapper6to4;
  private readonly m4: Mapper4to6;
  /** The prefix with a zero IPv4 address (RFC 6052 §2.2): a template for embedding from bytes. */
  private readonly embedTemplate = new Uint8Array(16);
  /** The prefix match as words: `(word k of an address & pfxMask[k]) === pfxWant[k]` for k < 3. */
  private readonly pfxWant = new Int32Array(3);
  private readonly pfxMask = new Int32Array(3);
  /** The template's 16-bit words summed, and per embedded IPv4 byte its shift in its 16-bit word. */
  private embedSum = 0;
  /** A /96 prefix: the IPv4 address is the last word. */
  private readonly pfx96: boolean;
  private readonly v4Shift = new Int32Array(4);
  /** Where the four IPv4 address bytes sit in an IPv6 address under the prefix (RFC 6052 §2.2). */
  private readonly v4At = new Int32Array(4);
  /** The Well-Known Prefix without `allowNonGlobal`: only global IPv4 addresses (RFC 6052 §3.1). */
  private readonly onlyGlobal: boolean;
  private readonly wheel: TimerWheel;
  private defrag4: Defragmenter | undefined;
  private innerMiss = false;
  /** TCP lifetimes in the shape `tcpTimeout` takes: RFC 6146 has TCP_TRANS for every transitory state. */
  private readonly tcpTimers: TcpTimers;
  private nextFragId = 1;

  // ---- BIB: one 64-byte record per entry in `bi` (fields B_*), so that a lookup touches one
  // record instead of a cache line per field ----
  private bCap = 0;
  private bCount = 0;
  private bFree: number[] = [];
  private bNextFresh = 0;
  private bi = new Int32Array(0);
  private bHeads = new Int32Array(1024).fill(-1);

  // ---- sessions ----
  private sCap = 0;
  private sCount = 0;
  private sFree: number[] = [];
  private sNextFresh = 0;
  /** Session records ({@link S_BYTES} each): int32 fields S_* and doubles SD_* over one buffer. */
  private si = new Int32Array(0);
  private sd = new Float64Array(0);
  /** Chain heads by inside key (S_HASH) and by outside key (S_HASH4); always the same size. */
  private sHeads = new Int32Array(1024).fill(-1);
  private sHeads4 = new Int32Array(1024).fill(-1);
  /** Keys of the BIB and session hashes, random per instance. */
  private readonly hk = randomKeys(34);

  // ---- per-packet context (long-lived) ----
  private curSess = -1;
  private curTenant = 0;
  private hairpinQueue: Uint8Array[] | null = null;
  private readonly held: HeldSyn[] = [];
  private heldHead = 0;
  private readonly heldByKey = new Map<string, HeldSyn>();

  private readonly emit4: PacketHandler;
  private readonly emit6: PacketHandler;
  private readonly reply4: PacketHandler;
  private readonly reply6: PacketHandler;
  private readonly onDue: (id: number, now: number) => number;

  constructor(options: Nat64Options) {
    super();
    this.o = resolveOptions(options);
    const pfx = this.o.prefix;
    pfx.embed(0, this.embedTemplate, 0);
    const probe = new Uint8Array(16);
    for (let k = 0; k < 4; k++) {
      pfx.embed(0xff << (24 - 8 * k), probe, 0);
      this.v4At[k] = probe.findIndex((x, i) => x !== this.embedTemplate[i]);
      this.v4Shift[k] = (this.v4At[k] & 1) === 0 ? 8 : 0;
    }
    const plen = pfx.bits >> 3; // RFC 6052 prefixes are whole bytes, at most 12
    this.pfx96 = plen === 12;
    for (let k = 0; k < 4; k++) this.embedSum += sum16(rd32(this.embedTemplate, 4 * k));
    for (let k = 0; k < 3; k++) {
      const bytes = Math.max(0, Math.min(4, plen - 4 * k));
      this.pfxMask[k] = bytes === 0 ? 0 : (0xffffffff << (32 - 8 * bytes)) | 0;
      this.pfxWant[k] = rd32(this.embedTemplate, 4 * k) & this.pfxMask[k];
    }
    this.onlyGlobal = pfx.wellKnown && !pfx.allowNonGlobal;
    const o = this.o;
    this.clock = o.clock;
    this.tcpTimers = {
      tcpEstablished: o.timeouts.tcpEstablished,
      tcpTransitory: o.timeouts.tcpTransitory,
      tcpTimeWait: o.timeouts.tcpTransitory,
      tcpRst: o.timeouts.tcpTransitory,
    };
    this.xlat = new Translator({
      lowestIpv6Mtu: o.lowestIpv6Mtu,
      ipv4Mtu: o.ipv4Mtu,
      ipv6Mtu: o.ipv6Mtu,
      icmpSource4: o.poolText[0],
      icmpSource6: o.inside.address(),
      // The device contract lets a receiver rewrite the buffer: IPv6 → IPv4 without a payload copy.
      inPlace6to4: true,
    });
    this.translatorStats = this.xlat.stats;
    for (const [k] of TRANSLATOR_DROPS) this.shadow[k] = 0;
    this.shadow.icmpSent = 0;
    this.drops = Object.fromEntries(NAT64_DROP_REASONS.map((r) => [r, 0])) as Record<Nat64DropReason, number>;
    const ctr = this.ctr;
    const self = this;
    this.stats = {
      get packetsOut() {
        return ctr[0];
      },
      get packetsIn() {
        return ctr[1];
      },
      get bytesOut() {
        return ctr[2];
      },
      get bytesIn() {
        return ctr[3];
      },
      hairpinned: 0,
      mappingsCreated: 0,
      mappingsExpired: 0,
      mappingsRemoved: 0,
      sessionsCreated: 0,
      sessionsExpired: 0,
      icmpErrorsTranslated: 0,
      icmpErrorsSent: 0,
      synHeld: 0,
      synHoldMatched: 0,
      fragmentsReassembled: 0,
      get activeMappings() {
        return self.bCount;
      },
      get activeSessions() {
        return self.sCount;
      },
      drops: this.drops,
    };
    this.pool = Int32Array.from(o.pool, (v) => v | 0);
    this.poolBase = this.pool[0];
    this.poolContiguous = o.pool.every((v, i) => v === o.pool[0] + i);
    this.ports = new PortAllocator(o.pool.length, o.ranges, o.timeouts.portReuse, o.random, true, false);
    this.m6 = new Mapper6to4(this);
    this.m4 = new Mapper4to6(this);
    this.wheel = new TimerWheel(100, 16, this.clock.now(), 1024);
    this.insideIf = new Nat64Interface(this, 'inside', o.inside);
    this.outsideIf = new Nat64Interface(
      this,
      'outside',
      Prefix.parse(typeof options.outside === 'string' ? options.outside : options.outside.toString()),
    );
    this.tenants[0] = { dev: this.insideIf, deliver: discard, defrag: undefined };
    this.emit4 = (p) => {
      const s = this.curSess;
      ctr[0]++;
      ctr[2] += p.length;
      if (s >= 0) {
        this.si[(s << 5) + S_PKT_OUT]++;
        this.sd[(s << 4) + SD_BYTES_OUT] += p.length;
      }
      if (this.hairpinQueue !== null) this.hairpinQueue.push(p.slice());
      else this.outHandler(p);
    };
    this.emit6 = (p) => {
      const s = this.curSess;
      ctr[1]++;
      ctr[3] += p.length;
      if (s >= 0) {
        this.si[(s << 5) + S_PKT_IN]++;
        this.sd[(s << 4) + SD_BYTES_IN] += p.length;
      }
      this.tenants[this.curTenant]?.deliver(p);
    };
    this.reply4 = (p) => this.outHandler(p);
    this.reply6 = (p) => this.tenants[this.curTenant]?.deliver(p);
    this.onDue = (id, now) => {
      if (this.si[(id << 5) + S_LIVE] === 0) return -1;
      const d = this.sd[(id << 4) + SD_DEADLINE];
      if (d > now) return d;
      this.stats.sessionsExpired++;
      this.removeSession(id, 'expired');
      return -1;
    };
    if (o.maintainIntervalMs > 0) {
      this.timer = setInterval(() => this.maintain(), o.maintainIntervalMs);
      this.timer.unref?.();
    }
  }

  /** Restores a NAT64 from {@link Nat64.snapshot} output (re-attach tenants with `connectL3(dev, { tenant })`). */
  static restore(snapshot: Nat64Snapshot, options: Nat64Options): Nat64 {
    const bad = (what: string): never => {
      throw new ConfigError('ERR_BAD_SNAPSHOT', `bad snapshot: ${what}`);
    };
    if (!snapshot || typeof snapshot !== 'object' || snapshot.version !== 1 || snapshot.kind !== 'nat64')
      bad('not a version 1 NAT64 snapshot');
    if (!Array.isArray(snapshot.bindings)) bad('bindings must be an array');
    const nat = new Nat64(options);
    const now = nat.clock.now();
    const int = (v: unknown, lo: number, hi: number, what: string): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
        bad(`${what} must be an integer ${lo}..${hi}`);
      return v as number;
    };
    try {
      for (const b of snapshot.bindings) {
        if (!b || typeof b !== 'object') bad('binding must be an object');
        const slot = SLOT_PROTO.indexOf(b.proto as 6);
        if (slot < 0) bad(`proto ${String(b.proto)}`);
        const tenant = int(b.tenant, 0, 0x7fffffff, 'tenant');
        const a6 = typeof b.ipv6 === 'string' ? Prefix.tryParse(b.ipv6) : null;
        if (a6?.version !== 6) bad(`ipv6 ${String(b.ipv6)}`);
        const v4 = typeof b.ipv4 === 'string' ? parseIpv4(b.ipv4) : null;
        const poolIdx = v4 === null ? -1 : nat.poolIndex(v4 | 0);
        if (poolIdx < 0) bad(`ipv4 ${String(b.ipv4)} is not a pool address`);
        const port6 = int(b.port6, 0, 65535, 'port6');
        const port4 = int(b.port4, 0, 65535, 'port4');
        if (nat.ports.owner(slot, poolIdx, port4) !== PORT_FREE) bad(`port ${port4} used twice`);
        // One binding per (tenant, protocol, IPv6 address, port): a second would make the lookups ambiguous.
        if (nat.find6(tenant, slot, (a6 as Prefix).ip, 0, port6) >= 0)
          bad(`binding ${b.ipv6} port ${port6} (tenant ${tenant}, proto ${b.proto}) given twice`);
        if (!nat.tenants[tenant])
          nat.tenants[tenant] = { dev: undefined, deliver: discard, defrag: undefined };
        const bib = nat.newBib(tenant, slot, (a6 as Prefix).ip, 0, port6, poolIdx, port4, b.static === true);
        if (!Array.isArray(b.sessions)) bad('sessions must be an array');
        for (const s of b.sessions) {
          const r4 = typeof s?.remoteIp === 'string' ? parseIpv4(s.remoteIp) : null;
          if (r4 === null) bad(`remoteIp ${String(s?.remoteIp)}`);
          const st = int(s.state, 0, 7, 'state');
          const rport = int(s.remotePort, 0, 65535, 'remotePort');
          if (nat.findSession(bib, (r4 as number) | 0, rport) >= 0)
            bad(`session with ${s.remoteIp} port ${rport} given twice for ${b.ipv6} port ${port6}`);
          const id = nat.newSession(
            bib,
            (r4 as number) | 0,
            rport,
            slot === SLOT_TCP ? Math.max(1, st) : 0,
            int(s.flags, 0, 7, 'flags'),
            now + Math.max(0, Number(s.expiresInMs) || 0),
          );
          nat.si[(id << 5) + S_PKT_OUT] = int(s.packetsOut, 0, 0xffffffff, 'packetsOut');
          nat.si[(id << 5) + S_PKT_IN] = int(s.packetsIn, 0, 0xffffffff, 'packetsIn');
          nat.sd[(id << 4) + SD_BYTES_OUT] = int(s.bytesOut, 0, Number.MAX_SAFE_INTEGER, 'bytesOut');
          nat.sd[(id << 4) + SD_BYTES_IN] = int(s.bytesIn, 0, Number.MAX_SAFE_INTEGER, 'bytesIn');
        }
      }
    } catch (e) {
      nat.close();
      throw e;
    }
    nat.stats.mappingsCreated = 0;
    nat.stats.sessionsCreated = 0;
    return nat;
  }

  /** The IPv6-facing interface (tenant 0). */
  inside(): L3Device {
    return this.insideIf;
  }
  /** The IPv4-facing interface. */
  outside(): L3Device {
    return this.outsideIf;
  }

  /**
   * Attaches an IPv6 tenant: its own address space (the same IPv6 addresses as other tenants
   * allowed). Returns a cleanup function (with `.tenant`) that detaches it and removes its state.
   */
  connectL3(dev: L3Device, opts: { tenant?: number } = {}): Nat64TenantCleanup {
    if (this.closed) throw new ClosedError('Nat64');
    if (!dev || typeof dev.setHandler !== 'function' || typeof dev.send !== 'function')
      throw new ConfigError('ERR_BAD_OPTION', 'connectL3: an L3Device (setHandler, send) is required');
    let id = opts?.tenant;
    if (id === undefined) {
      while (this.tenants[this.nextTenant]?.dev) this.nextTenant++;
      id = this.nextTenant++;
    } else {
      if (!Number.isInteger(id) || id < 1 || id > 0x7fffffff)
        throw new ConfigError('ERR_BAD_OPTION', 'tenant id must be an integer >= 1');
      if (this.tenants[id]?.dev)
        throw new ConfigError('ERR_TENANT_IN_USE', `tenant ${id} is already attached`);
    }
    const tid = id;
    const t: Tenant = this.tenants[tid] ?? { dev: undefined, deliver: discard, defrag: undefined };
    t.dev = dev;
    t.deliver = (p) => dev.send(p);
    this.tenants[tid] = t;
    dev.setHandler((p) => this._fromInside(tid, p));
    let done = false;
    const cleanup = (() => {
      if (done) return;
      done = true;
      dev.setHandler(discard);
      this.removeTenantState(tid);
      t.defrag?.close();
      this.tenants[tid] = undefined;
    }) as Nat64TenantCleanup;
    Object.defineProperty(cleanup, 'tenant', { value: tid, enumerable: true });
    return cleanup;
  }

  /** The tenant id of an attached device, or `undefined`. */
  tenantOf(dev: L3Device): number | undefined {
    for (let i = 0; i < this.tenants.length; i++) if (this.tenants[i]?.dev === dev) return i;
    return undefined;
  }

  /** The IPv6 address (text) under which the IPv6 side reaches an IPv4 address. */
  ipv6Of(ipv4: string): string {
    const v = parseIpv4(ipv4);
    if (v === null) throw new ConfigError('ERR_BAD_ADDRESS', `not an IPv4 address: ${JSON.stringify(ipv4)}`);
    return this.o.prefix.format(v >>> 0);
  }

  /**
   * Adds a static BIB entry (a port forward): IPv4 `ipv4:port4` ↔ IPv6 `[ipv6]:port6` of
   * `tenant`. Any IPv4 remote may open sessions to it. Throws `ERR_BAD_OPTION` for bad values,
   * `ERR_PORT_IN_USE` when the pool port is taken, `ERR_FORWARD_CONFLICT` when the IPv6 transport
   * address already has a BIB entry.
   */
  addStaticBinding(b: Nat64StaticBinding): Nat64StaticBinding {
    if (this.closed) throw new ClosedError('Nat64');
    const slot = SLOT_PROTO.indexOf(b?.proto as 6);
    if (slot < 0) throw new ConfigError('ERR_BAD_OPTION', 'proto must be 6, 17 or 1');
    const a6 = typeof b.ipv6 === 'string' ? Prefix.tryParse(b.ipv6) : null;
    if (a6?.version !== 6 || a6.bits !== 128)
      throw new ConfigError('ERR_BAD_OPTION', `ipv6: not an IPv6 address: ${String(b.ipv6)}`);
    for (const [k, v] of [
      ['port6', b.port6],
      ['port4', b.port4],
    ] as const)
      if (!Number.isInteger(v) || v < 0 || v > 65535)
        throw new ConfigError('ERR_BAD_OPTION', `${k} must be an integer 0..65535`);
    const tenant = b.tenant ?? 0;
    if (!Number.isInteger(tenant) || tenant < 0 || !this.tenants[tenant])
      throw new ConfigError('ERR_NO_SUCH_TENANT', `no tenant ${String(b.tenant)}`);
    const v4 = b.ipv4 === undefined ? this.pool[0] : parseIpv4(b.ipv4);
    const poolIdx = v4 === null ? -1 : this.poolIndex(v4 | 0);
    if (poolIdx < 0) throw new ConfigError('ERR_BAD_OPTION', `ipv4: not a pool address: ${String(b.ipv4)}`);
    if (this.ports.owner(slot, poolIdx, b.port4) !== PORT_FREE)
      throw new ConfigError(
        'ERR_PORT_IN_USE',
        `${this.o.poolText[poolIdx]}:${b.port4}/${SLOT_NAME[slot]} is in use`,
      );
    if (this.find6(tenant, slot, a6.ip, 0, b.port6) >= 0)
      throw new ConfigError(
        'ERR_FORWARD_CONFLICT',
        `[${b.ipv6}]:${b.port6}/${SLOT_NAME[slot]} already has a binding`,
      );
    const bib = this.newBib(tenant, slot, a6.ip, 0, b.port6, poolIdx, b.port4, true);
    if (this.listenerCount('mapping-created') > 0) this.emit('mapping-created', this.listenRecord(bib));
    return this.staticRecord(bib);
  }

  /** Removes a static BIB entry (and its sessions) by protocol and pool port; returns whether one existed. */
  removeStaticBinding(proto: number, port4: number, ipv4?: string): boolean {
    const slot = SLOT_PROTO.indexOf(proto as 6);
    const v4 = ipv4 === undefined ? this.pool[0] : parseIpv4(ipv4);
    const poolIdx = v4 === null ? -1 : this.poolIndex(v4 | 0);
    if (slot < 0 || poolIdx < 0 || !Number.isInteger(port4) || port4 < 0 || port4 > 65535) return false;
    const bib = this.ports.owner(slot, poolIdx, port4);
    if (bib < 0 || this.bi[(bib << 4) + B_STATIC] === 0) return false;
    this.removeBib(bib, 'removed');
    return true;
  }

  /** The static BIB entries. */
  listStaticBindings(): Nat64StaticBinding[] {
    const out: Nat64StaticBinding[] = [];
    for (let b = 0; b < this.bNextFresh; b++)
      if (this.bi[(b << 4) + B_SLOT] !== 0 && this.bi[(b << 4) + B_STATIC]) out.push(this.staticRecord(b));
    return out;
  }

  /** One record per session, plus a LISTEN record for each static entry without sessions. */
  mappings(): Nat64MappingRecord[] {
    const out: Nat64MappingRecord[] = [];
    for (let b = 0; b < this.bNextFresh; b++) {
      if (this.bi[(b << 4) + B_SLOT] === 0) continue;
      if (this.bi[(b << 4) + B_SESS_HEAD] < 0) out.push(this.listenRecord(b));
      for (let s = this.bi[(b << 4) + B_SESS_HEAD]; s >= 0; s = this.si[(s << 5) + S_NEXT_IN_BIB])
        out.push(this.sessionRecord(s));
    }
    return out;
  }

  /** `conntrack -L` style text, one line per record (IPv6 original tuple, IPv4 reply tuple; zone = tenant). */
  formatConntrack(): string {
    const recs = this.mappings();
    const tuple = (r: Nat64MappingRecord, t: TupleRecord, reply: boolean) =>
      r.proto === 1
        ? `src=${t.src} dst=${t.dst} type=${reply ? 0 : 128} code=0 id=${reply ? t.dstPort : t.srcPort}`
        : `src=${t.src} dst=${t.dst} sport=${t.srcPort} dport=${t.dstPort}`;
    const lines = recs.map((r) => {
      const secs =
        r.expiresInMs === Number.POSITIVE_INFINITY
          ? 'static'
          : String(Math.max(0, Math.ceil(r.expiresInMs / 1000)));
      const state = r.proto === 6 || r.state === 'LISTEN' ? `${r.state} ` : '';
      const mark = r.state === 'LISTEN' ? '[STATIC] ' : r.packetsIn > 0 ? '[ASSURED] ' : '[UNREPLIED] ';
      return (
        `ipv6     10 ${r.protoName.padEnd(8)} ${String(r.proto).padEnd(2)} ${secs} ${state}${tuple(r, r.original, false)} ` +
        `packets=${r.packetsOut} bytes=${r.bytesOut} ${tuple(r, r.reply, true)} packets=${r.packetsIn} bytes=${r.bytesIn} ` +
        `${mark}mark=0 zone=${r.tenant} use=1`
      );
    });
    return `${lines.join('\n')}${lines.length ? '\n' : ''}conntrack v1.4 (l3kit nat64): ${lines.length} flow entries have been shown.\n`;
  }

  /** All state as JSON-serialisable data (times relative to now). */
  snapshot(): Nat64Snapshot {
    const now = this.clock.now();
    const bindings: Nat64SnapshotBinding[] = [];
    for (let b = 0; b < this.bNextFresh; b++) {
      if (this.bi[(b << 4) + B_SLOT] === 0) continue;
      const sessions: Nat64SnapshotBinding['sessions'] = [];
      for (let s = this.bi[(b << 4) + B_SESS_HEAD]; s >= 0; s = this.si[(s << 5) + S_NEXT_IN_BIB])
        sessions.push({
          remoteIp: formatIpv4(this.si[(s << 5) + S_REMOTE] >>> 0),
          remotePort: this.si[(s << 5) + S_RPORT],
          state: this.si[(s << 5) + S_STATE],
          flags: this.si[(s << 5) + S_FLAGS],
          expiresInMs: Math.max(0, this.sd[(s << 4) + SD_DEADLINE] - now),
          packetsOut: this.si[(s << 5) + S_PKT_OUT] >>> 0,
          packetsIn: this.si[(s << 5) + S_PKT_IN] >>> 0,
          bytesOut: this.sd[(s << 4) + SD_BYTES_OUT],
          bytesIn: this.sd[(s << 4) + SD_BYTES_IN],
        });
      bindings.push({
        tenant: this.bi[(b << 4) + B_TENANT],
        proto: SLOT_PROTO[this.bi[(b << 4) + B_SLOT] - 1],
        ipv6: this.addr6Text(b),
        port6: this.bi[(b << 4) + B_PORT6],
        ipv4: this.o.poolText[this.bi[(b << 4) + B_POOL]],
        port4: this.bi[(b << 4) + B_PORT4],
        static: this.bi[(b << 4) + B_STATIC] === 1,
        sessions,
      });
    }
    return { version: 1, kind: 'nat64', bindings };
  }

  /** Expires sessions (and emptied dynamic BIB entries) and held SYNs due at `clock.now()`. O(due). */
  maintain(): number {
    if (this.closed) return 0;
    const now = this.clock.now();
    const n = this.wheel.advance(now, this.onDue);
    while (this.heldHead < this.held.length && this.held[this.heldHead].deadline <= now) {
      const h = this.held[this.heldHead++];
      if (h.done) continue;
      h.done = true;
      this.heldByKey.delete(h.key);
      this.drops['unsolicited-syn']++;
      // RFC 6146 §3.5.2.2 (V4 INIT): "If the lifetime expires, an ICMP Port Unreachable error (Type 3,
      // Code 3) containing the IPv4 SYN packet stored is sent back to the source of the v4 SYN".
      const err = buildIcmpv4Error(h.pkt, { src: this.o.poolText[h.pool], type: 3, code: 3 });
      if (err) {
        this.stats.icmpErrorsSent++;
        this.outHandler(err);
      }
    }
    if (this.heldHead > 256 && this.heldHead * 2 > this.held.length) {
      this.held.splice(0, this.heldHead);
      this.heldHead = 0;
    }
    this.defrag4?.maintain();
    for (const t of this.tenants) t?.defrag?.maintain();
    return n;
  }

  /** Statistics of the defragmenter in front of the IPv4 side (`'outside'`) or of a tenant's IPv6 side. */
  defragStats(side: 'outside' | number): Readonly<DefragStats> | undefined {
    return side === 'outside' ? this.defrag4?.stats : this.tenants[side]?.defrag?.stats;
  }

  /** Stops the timer; later packets are dropped (`closed`), API calls throw `ClosedError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.defrag4?.close();
    for (const t of this.tenants) t?.defrag?.close();
  }

  // ================================ packet path ================================

  /** @internal */
  _setHandler(side: 'inside' | 'outside', h: PacketHandler): void {
    if (side === 'inside') (this.tenants[0] as Tenant).deliver = h;
    else this.outHandler = h;
  }

  /** @internal IPv6 packet from tenant `tenant`. */
  _fromInside(tenant: number, pkt: Uint8Array): void {
    if (this.closed) {
      this.drops.closed++;
      return;
    }
    if (pkt.length < 40 || pkt[0] >> 4 !== 6) {
      this.drops.malformed++;
      return;
    }
    const nh = pkt[6];
    if (nh === 0 || nh === 43 || nh === 44 || nh === 60 || nh === 51) {
      this.tenantDefrag(tenant).send(pkt);
      return;
    }
    if (this.fastOff !== 0 || !this.fast6to4(tenant, pkt)) this.out6(tenant, pkt);
  }

  /** @internal IPv4 packet from the outside. */
  _fromOutside(pkt: Uint8Array): void {
    if (this.closed) {
      this.drops.closed++;
      return;
    }
    if (pkt.length < 20 || pkt[0] >> 4 !== 4) {
      this.drops.malformed++;
      return;
    }
    if (((pkt[6] & 0x3f) | pkt[7]) !== 0) {
      this.outsideDefrag().send(pkt);
      return;
    }
    if (this.fastOff !== 0 || !this.fast4to6(pkt)) this.in4(pkt);
  }

  // Fast paths: an established TCP flow's data / ACK segment, or a UDP datagram of a live
  // session, with nothing unusual (no extension headers or IP options, no SYN / FIN / RST, not
  // hairpinned, fits the next hop whole). They do what the general path (BIB + session lookup,
  // then the RFC 7915 translator) does for such a packet, inline and in one pass; anything else
  // returns false before touching the packet and takes the general path. The differential test
  // (nat64-fast-path.test.ts) checks that both produce the same bytes.

  // Both fast paths are written out byte by byte on purpose: they are larger than V8's inlining
  // budget, so a helper such as rd32 would stay a real call (several ns each, a dozen per packet).
  // Only the table lookups and the refresh are calls.

  /** IPv6 → IPv4, translated in place: the IPv4 header goes over the last 20 bytes of the IPv6 one. */
  private fast6to4(tenant: number, pkt: Uint8Array): boolean {
    const nh = pkt[6];
    if (nh !== 6 && nh !== 17) return false;
    const len = (pkt[4] << 8) | pkt[5];
    const total = 20 + len;
    if (40 + len > pkt.length || pkt[7] <= 1 || len < (nh === 6 ? 20 : 8) || total > this.o.ipv4Mtu)
      return false;
    // The destination lies under the prefix (compared as words, not byte by byte).
    const d0 = (pkt[24] << 24) | (pkt[25] << 16) | (pkt[26] << 8) | pkt[27];
    const d1 = (pkt[28] << 24) | (pkt[29] << 16) | (pkt[30] << 8) | pkt[31];
    const d2 = (pkt[32] << 24) | (pkt[33] << 16) | (pkt[34] << 8) | pkt[35];
    const d3 = (pkt[36] << 24) | (pkt[37] << 16) | (pkt[38] << 8) | pkt[39];
    const want = this.pfxWant;
    const mask = this.pfxMask;
    if ((d0 & mask[0]) !== want[0] || (d1 & mask[1]) !== want[1] || (d2 & mask[2]) !== want[2]) return false;
    const e = this.v4At;
    const r4 = this.pfx96
      ? d3
      : (pkt[24 + e[0]] << 24) | (pkt[24 + e[1]] << 16) | (pkt[24 + e[2]] << 8) | pkt[24 + e[3]];
    if (this.onlyGlobal && !isGlobalIpv4(r4)) return false;
    if (this.poolContiguous ? (r4 - this.poolBase) >>> 0 < this.pool.length : this.poolIndex(r4) >= 0)
      return false; // hairpin
    const sport = (pkt[40] << 8) | pkt[41];
    const dport = (pkt[42] << 8) | pkt[43];
    const flags = nh === 6 ? pkt[53] : 0;
    if ((flags & 0x07) !== 0) return false; // FIN / SYN / RST change the state: general path
    const s = this.findSession6(
      tenant,
      nh === 6 ? SLOT_TCP : SLOT_UDP,
      (pkt[8] << 24) | (pkt[9] << 16) | (pkt[10] << 8) | pkt[11],
      (pkt[12] << 24) | (pkt[13] << 16) | (pkt[14] << 8) | pkt[15],
      (pkt[16] << 24) | (pkt[17] << 16) | (pkt[18] << 8) | pkt[19],
      (pkt[20] << 24) | (pkt[21] << 16) | (pkt[22] << 8) | pkt[23],
      sport,
      r4,
      dport,
    );
    if (s < 0) return false;
    const si = this.si;
    const x = s << 5;
    if (nh === 6 && si[x + S_STATE] !== TcpState.established) return false;
    const ckOff = nh === 6 ? 56 : 46;
    const oldCk = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (nh === 17 && oldCk === 0) return false; // illegal in IPv6: the general path drops and counts it
    const src4 = this.pool[si[x + S_POOL]];
    const port = si[x + S_PORT4];
    const srcSum = (src4 >>> 16) + (src4 & 0xffff) + (r4 >>> 16) + (r4 & 0xffff);
    // Transport checksum (RFC 1624): remove the IPv6 addresses (the source's sum is kept in the
    // session, which matched it word for word) and the old port, add the IPv4 ones and the new port.
    let rm =
      sport +
      si[x + S_ASUM] +
      (d0 >>> 16) +
      (d0 & 0xffff) +
      (d1 >>> 16) +
      (d1 & 0xffff) +
      (d2 >>> 16) +
      (d2 & 0xffff) +
      (d3 >>> 16) +
      (d3 & 0xffff);
    rm = (rm & 0xffff) + (rm >>> 16);
    rm = (rm & 0xffff) + (rm >>> 16);
    let ck = (~oldCk & 0xffff) + (~rm & 0xffff) + srcSum + port;
    ck = (ck & 0xffff) + (ck >>> 16);
    ck = (ck & 0xffff) + (ck >>> 16);
    ck = ~ck & 0xffff;
    if (nh === 17 && ck === 0) ck = 0xffff;
    pkt[40] = port >>> 8;
    pkt[41] = port & 0xff;
    pkt[ckOff] = ck >>> 8;
    pkt[ckOff + 1] = ck & 0xff;
    // The IPv4 header (RFC 7915 §5.1) at 20..40: everything it needs from the IPv6 header was read.
    const tc = ((pkt[0] & 0x0f) << 4) | (pkt[1] >> 4);
    const ttl = pkt[7] - 1;
    const xl = this.xlat;
    const id = xl._nextId;
    xl._nextId = (id + 1) & 0xffff || 1;
    const fw = total > DF_THRESHOLD ? 0x4000 : 0;
    let hs = 0x4500 + tc + total + id + fw + ((ttl << 8) | nh) + srcSum;
    hs = (hs & 0xffff) + (hs >>> 16);
    hs = (hs & 0xffff) + (hs >>> 16);
    const hck = ~hs & 0xffff;
    pkt[20] = 0x45;
    pkt[21] = tc;
    pkt[22] = total >>> 8;
    pkt[23] = total & 0xff;
    pkt[24] = id >>> 8;
    pkt[25] = id & 0xff;
    pkt[26] = fw >>> 8;
    pkt[27] = 0;
    pkt[28] = ttl;
    pkt[29] = nh;
    pkt[30] = hck >>> 8;
    pkt[31] = hck & 0xff;
    pkt[32] = src4 >>> 24;
    pkt[33] = (src4 >>> 16) & 0xff;
    pkt[34] = (src4 >>> 8) & 0xff;
    pkt[35] = src4 & 0xff;
    pkt[36] = r4 >>> 24;
    pkt[37] = (r4 >>> 16) & 0xff;
    pkt[38] = (r4 >>> 8) & 0xff;
    pkt[39] = r4 & 0xff;
    this.ctr[0]++;
    this.ctr[2] += total;
    si[x + S_PKT_OUT]++;
    this.sd[(s << 4) + SD_BYTES_OUT] += total;
    this.refresh(s, nh, DIR_OUT);
    this._fastPathPackets++;
    let v = this.placedView;
    if (this.placedFor !== pkt || v.length !== total) {
      v = pkt.subarray(20, 20 + total);
      this.placedFor = pkt;
      this.placedView = v;
    }
    this.outHandler(v);
    return true;
  }

  /**
   * {@link touch} for a fast-path packet (an established TCP flow's segment without SYN / FIN /
   * RST, whose state does not change, or a UDP datagram): marks the direction, pushes the deadline.
   */
  private refresh(s: number, proto: number, dir: number): void {
    const sx = s << 5;
    const f = this.si[sx + S_FLAGS] | dir;
    this.si[sx + S_FLAGS] = f;
    const t = this.o.timeouts;
    const life = proto === 6 ? ((f & 3) === 3 ? t.tcpEstablished : t.tcpTransitory) : t.udp;
    const d = this.clock.now() + life;
    const prev = this.sd[(s << 4) + SD_DEADLINE];
    this.sd[(s << 4) + SD_DEADLINE] = d;
    if (d < prev) this.wheel.pullIn(s, d);
  }

  /**
   * IPv4 → IPv6: in place into the 20 bytes of headroom before the packet when
   * {@link Nat64Options.outsideHeadroom} allows it, else into the fast-path buffer (one copy).
   */
  private fast4to6(pkt: Uint8Array): boolean {
    if (pkt[0] !== 0x45) return false;
    const proto = pkt[9];
    if (proto !== 6 && proto !== 17) return false;
    const total = (pkt[2] << 8) | pkt[3];
    const len = total - 20;
    const outLen = 40 + len;
    const df = (pkt[6] & 0x40) !== 0;
    if (
      total > pkt.length ||
      len < (proto === 6 ? 20 : 8) ||
      pkt[8] <= 1 ||
      outLen > this.o.ipv6Mtu ||
      (!df && outLen > this.o.lowestIpv6Mtu)
    )
      return false;
    const at = this.o.outsideHeadroom ? (viewByteOffset.call(pkt) as number) - 20 : -1;
    const grow = at >= 0;
    if (!grow && 20 + pkt.length > this.fastBuf.length) return false;
    const src = (pkt[12] << 24) | (pkt[13] << 16) | (pkt[14] << 8) | pkt[15];
    const dst = (pkt[16] << 24) | (pkt[17] << 16) | (pkt[18] << 8) | pkt[19];
    let hs =
      ((pkt[0] << 8) | pkt[1]) +
      total +
      ((pkt[4] << 8) | pkt[5]) +
      ((pkt[6] << 8) | pkt[7]) +
      ((pkt[8] << 8) | pkt[9]) +
      ((pkt[10] << 8) | pkt[11]) +
      (src >>> 16) +
      (src & 0xffff) +
      (dst >>> 16) +
      (dst & 0xffff);
    hs = (hs & 0xffff) + (hs >>> 16);
    hs = (hs & 0xffff) + (hs >>> 16);
    if (hs !== 0xffff) return false; // a bad header checksum: the general path drops and counts it
    const poolIdx = this.poolContiguous
      ? (dst - this.poolBase) >>> 0 < this.pool.length
        ? dst - this.poolBase
        : -1
      : this.poolIndex(dst);
    if (poolIdx < 0) return false;
    if (this.onlyGlobal && !isGlobalIpv4(src)) return false;
    const sport = (pkt[20] << 8) | pkt[21];
    const dport = (pkt[22] << 8) | pkt[23];
    const flags = proto === 6 ? pkt[33] : 0;
    if ((flags & 0x07) !== 0) return false;
    const s = this.findSession4(proto === 6 ? SLOT_TCP : SLOT_UDP, poolIdx, dport, src, sport);
    if (s < 0) return false;
    const si = this.si;
    const x = s << 5;
    if (proto === 6 && si[x + S_STATE] !== TcpState.established) return false;
    const ckRel = proto === 6 ? 16 : 6;
    const oldCk = (pkt[20 + ckRel] << 8) | pkt[21 + ckRel];
    if (proto === 17 && oldCk === 0) return false; // needs a full checksum: general path
    const tos = pkt[1];
    const hop = pkt[8] - 1;
    let out: Uint8Array;
    if (grow) {
      // In place: the IPv6 header takes the 20 bytes of headroom and the IPv4 header's place.
      out = new Uint8Array(viewBuffer.call(pkt) as ArrayBuffer, at, outLen);
    } else {
      // The whole input lands at 20 so that its data starts at 40 (no subarray view needed); the
      // IPv4 header bytes at 20..40 are overwritten by the destination address below.
      out = this.fastBuf;
      out.set(pkt, 20);
    }
    out[0] = 0x60 | (tos >> 4);
    out[1] = (tos & 0x0f) << 4;
    out[2] = 0;
    out[3] = 0;
    out[4] = len >>> 8;
    out[5] = len & 0xff;
    out[6] = proto;
    out[7] = hop;
    // The source: the prefix template with the IPv4 source's bytes in their RFC 6052 places.
    const t = this.embedTemplate;
    for (let k = 0; k < 16; k++) out[8 + k] = t[k];
    const e = this.v4At;
    const s0 = src >>> 24;
    const s1 = (src >>> 16) & 0xff;
    const s2 = (src >>> 8) & 0xff;
    const s3 = src & 0xff;
    out[8 + e[0]] = s0;
    out[8 + e[1]] = s1;
    out[8 + e[2]] = s2;
    out[8 + e[3]] = s3;
    // The destination: the session's copy of its BIB entry's IPv6 address.
    const a = x + S_ADDR;
    for (let k = 0; k < 4; k++) {
      const w = si[a + k];
      out[24 + 4 * k] = w >>> 24;
      out[25 + 4 * k] = (w >>> 16) & 0xff;
      out[26 + 4 * k] = (w >>> 8) & 0xff;
      out[27 + 4 * k] = w & 0xff;
    }
    const port = si[x + S_PORT6];
    out[42] = port >>> 8;
    out[43] = port & 0xff;
    // Transport checksum (RFC 1624): the IPv4 addresses and pool port out, the IPv6 ones and port in.
    const sh = this.v4Shift;
    let rm = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + dport;
    rm = (rm & 0xffff) + (rm >>> 16);
    rm = (rm & 0xffff) + (rm >>> 16);
    let ck =
      (~oldCk & 0xffff) +
      (~rm & 0xffff) +
      port +
      this.embedSum +
      (s0 << sh[0]) +
      (s1 << sh[1]) +
      (s2 << sh[2]) +
      (s3 << sh[3]) +
      si[x + S_ASUM];
    ck = (ck & 0xffff) + (ck >>> 16);
    ck = (ck & 0xffff) + (ck >>> 16);
    ck = ~ck & 0xffff;
    if (proto === 17 && ck === 0) ck = 0xffff;
    out[40 + ckRel] = ck >>> 8;
    out[41 + ckRel] = ck & 0xff;
    this.ctr[1]++;
    this.ctr[3] += outLen;
    si[x + S_PKT_IN]++;
    this.sd[(s << 4) + SD_BYTES_IN] += outLen;
    this.refresh(s, proto, DIR_IN);
    this._fastPathPackets++;
    let v = out;
    if (!grow) {
      v = this.fastView;
      if (v.length !== outLen) {
        v = out.subarray(0, outLen);
        this.fastView = v;
      }
    }
    this.tenants[si[x + S_TENANT]]?.deliver(v);
    return true;
  }

  private tenantDefrag(tenant: number): Defragmenter {
    const t = this.tenants[tenant] as Tenant;
    if (t.defrag) return t.defrag;
    const d = new Defragmenter({
      clock: this.clock,
      maintainIntervalMs: 0,
      icmpSource6: this.o.inside.address(),
    });
    d.setHandler((p) => {
      const max = d.lastMaxFragmentSize;
      if (max > 0) this.stats.fragmentsReassembled++;
      this.out6(tenant, p, max);
    });
    d.setReplyHandler((p) => this.tenants[tenant]?.deliver(p));
    t.defrag = d;
    return d;
  }

  private outsideDefrag(): Defragmenter {
    if (this.defrag4) return this.defrag4;
    const d = new Defragmenter({ clock: this.clock, maintainIntervalMs: 0, icmpSource4: this.o.poolText[0] });
    d.setHandler((p) => {
      if (d.lastMaxFragmentSize > 0) this.stats.fragmentsReassembled++;
      this.in4(p);
    });
    d.setReplyHandler((p) => this.outHandler(p));
    this.defrag4 = d;
    return d;
  }

  /**
   * IPv6 → IPv4 for a whole (non-fragment) packet. `fragMax` > 0: the packet was reassembled
   * from fragments of at most that size; when its translation exceeds the IPv4 MTU it is split
   * again (fragments of the largest size seen) and each piece translated, so the IPv4 side gets
   * fragments with DF clear (RFC 7915 §5.1) instead of the sender getting Packet Too Big for a
   * datagram it had already fragmented.
   */
  private out6(tenant: number, pkt: Uint8Array, fragMax = 0): void {
    const end = 40 + ((pkt[4] << 8) | pkt[5]);
    if (end > pkt.length) {
      this.drops.malformed++;
      return;
    }
    let nh = pkt[6];
    let p = 40;
    while (nh === 0 || nh === 43 || nh === 60) {
      if (p + 8 > end) {
        this.drops.malformed++;
        return;
      }
      nh = pkt[p];
      p += (pkt[p + 1] + 1) << 3;
    }
    if (p > end || nh === 44) {
      this.drops[nh === 44 ? 'fragment' : 'malformed']++;
      return;
    }
    // The destination's IPv4 address, read from the bytes as an int32 (as in the tables): a uint32
    // returned from a call that is not inlined would be a heap number, one allocation per packet.
    const pfx = this.o.prefix;
    if (!pfx.matches(pkt, 24)) {
      this.drops['not-for-us']++;
      return;
    }
    const e = this.v4At;
    const r4 = (pkt[24 + e[0]] << 24) | (pkt[24 + e[1]] << 16) | (pkt[24 + e[2]] << 8) | pkt[24 + e[3]];
    if (this.onlyGlobal && !pfx.allowed(r4 >>> 0)) {
      this.drops['not-for-us']++;
      return;
    }
    let slot: number;
    let sport: number;
    let dport = 0;
    let flags = 0;
    if (nh === 6) {
      if (p + 20 > end) {
        this.drops.malformed++;
        return;
      }
      slot = SLOT_TCP;
      sport = (pkt[p] << 8) | pkt[p + 1];
      dport = (pkt[p + 2] << 8) | pkt[p + 3];
      flags = pkt[p + 13];
    } else if (nh === 17) {
      if (p + 8 > end) {
        this.drops.malformed++;
        return;
      }
      slot = SLOT_UDP;
      sport = (pkt[p] << 8) | pkt[p + 1];
      dport = (pkt[p + 2] << 8) | pkt[p + 3];
    } else if (nh === 58) {
      if (p + 8 > end) {
        this.drops.malformed++;
        return;
      }
      const type = pkt[p];
      if (type < 128) {
        this.icmpError6(tenant, pkt, r4);
        return;
      }
      if (type !== 128 && type !== 129) {
        this.drops['icmp-unsupported']++;
        return;
      }
      slot = SLOT_ICMP;
      sport = (pkt[p + 4] << 8) | pkt[p + 5];
      flags = type; // 128 may create a binding, 129 may not
    } else {
      this.drops['unsupported-protocol']++;
      return;
    }
    const hairpin = this.poolIndex(r4) >= 0;
    if (hairpin && !this.o.hairpinning) {
      this.drops['no-hairpin']++;
      return;
    }
    const now = this.clock.now();
    let b = this.find6(tenant, slot, pkt, 8, sport);
    let createdB = false;
    if (b < 0) {
      // RFC 6146 §3.5.1.1 / §3.5.2.2 / §3.5.3: only a UDP packet, a TCP SYN or an echo request makes a binding.
      if ((slot === SLOT_TCP && (flags & TCP_SYN) === 0) || (slot === SLOT_ICMP && flags !== 128)) {
        this.drops['no-mapping']++;
        return;
      }
      if (this.bCount >= this.o.maxMappings) {
        this.drops['table-full']++;
        this.addressUnreachable(tenant, pkt);
        return;
      }
      b = this.allocBib(tenant, slot, pkt, 8, sport, now);
      if (b < 0) {
        this.drops['ports-exhausted']++;
        this.addressUnreachable(tenant, pkt);
        return;
      }
      createdB = true;
    }
    const rport = slot === SLOT_ICMP ? 0 : dport;
    let s = this.findSession(b, r4, rport);
    let createdS = false;
    if (s < 0) {
      let st = 0;
      if (slot === SLOT_TCP) {
        st = tcpInitialState(flags, true);
        if (st < 0 || (flags & TCP_SYN) === 0) {
          // A TCP segment other than SYN opens no session (RFC 6146 §3.5.2.2, CLOSED state).
          if (createdB) this.removeBib(b, 'rollback');
          this.drops['no-mapping']++;
          return;
        }
      } else if (slot === SLOT_ICMP && flags !== 128) {
        this.drops['no-mapping']++;
        return;
      }
      s = this.newSession(b, r4, rport, st, 0, now + 1);
      createdS = true;
    }
    const m = this.m6;
    m.pkt = pkt;
    m.tenant = tenant;
    m.addr = this.pool[this.bi[(b << 4) + B_POOL]];
    m.port = this.bi[(b << 4) + B_PORT4];
    m.remote = r4;
    this.curSess = s;
    this.curTenant = tenant;
    this.innerMiss = false;
    if (hairpin) this.hairpinQueue = [];
    let ok: boolean;
    if (fragMax > 0 && end - 20 > this.o.ipv4Mtu && nh !== 58) {
      const pieces = fragmentIpv6(
        pkt.subarray(0, end),
        Math.max(1280, Math.min(fragMax, this.o.ipv4Mtu + 28)),
        this.nextFragId++,
      );
      ok = typeof pieces !== 'string';
      if (typeof pieces !== 'string')
        for (const piece of pieces) {
          // A handler may have re-entered the NAT64 between pieces: set the whole context again.
          m.pkt = piece;
          m.tenant = tenant;
          m.addr = this.pool[this.bi[(b << 4) + B_POOL]];
          m.port = this.bi[(b << 4) + B_PORT4];
          m.remote = r4;
          this.curSess = s;
          this.curTenant = tenant;
          ok = this.xlat.translate6to4(piece, m, this.emit4, this.reply6) && ok;
        }
    } else {
      // Reassembled (ICMPv6 included, which is never split again): DF stays clear (RFC 7915 §5.1).
      this.xlat.arrivedFragmented = fragMax > 0;
      try {
        ok = this.xlat.translate6to4(pkt, m, this.emit4, this.reply6);
      } finally {
        this.xlat.arrivedFragmented = false;
      }
    }
    const queue = this.hairpinQueue;
    this.hairpinQueue = null;
    if (!ok) {
      if (createdS) this.removeSession(s, 'rollback');
      else if (createdB) this.removeBib(b, 'rollback');
      this.accountTranslatorDrop();
      return;
    }
    this.touch(s, flags, true, createdS, now);
    if (createdS) {
      this.stats.sessionsCreated++;
      if (slot === SLOT_TCP && this.heldByKey.size > 0) this.matchHeldSyn(b, r4, rport);
    }
    if (createdB) {
      this.stats.mappingsCreated++;
      if (this.listenerCount('mapping-created') > 0) this.emit('mapping-created', this.sessionRecord(s));
    }
    if (queue !== null) {
      for (const q of queue) {
        this.stats.hairpinned++;
        this._fromOutside(q);
      }
    }
  }

  /** An ICMPv6 error from the IPv6 side: translated with the quoted packet mapped back; no state change. */
  private icmpError6(tenant: number, pkt: Uint8Array, r4: number): void {
    if (this.poolIndex(r4) >= 0) {
      // An error about a hairpinned packet: not translated to IPv4 (it would come straight back).
      this.drops['icmp-unsupported']++;
      return;
    }
    this.m6.pkt = pkt;
    this.m6.tenant = tenant;
    this.m6.addr = this.pool[0];
    this.m6.port = 0;
    this.m6.remote = r4;
    this.curSess = -1;
    this.curTenant = tenant;
    this.innerMiss = false;
    if (this.xlat.translate6to4(pkt, this.m6, this.emit4, this.reply6)) this.stats.icmpErrorsTranslated++;
    else this.accountTranslatorDrop();
  }

  /** IPv4 → IPv6 for a whole (non-fragment) packet. */
  private in4(pkt: Uint8Array): void {
    const hl = (pkt[0] & 15) << 2;
    const total = (pkt[2] << 8) | pkt[3];
    if (hl < 20 || total < hl || total > pkt.length) {
      this.drops.malformed++;
      return;
    }
    const poolIdx = this.poolIndex(rd32(pkt, 16));
    if (poolIdx < 0) {
      this.drops['not-for-us']++;
      return;
    }
    const src = rd32(pkt, 12);
    const proto = pkt[9];
    let slot: number;
    let sport = 0;
    let dport: number;
    let flags = 0;
    if (proto === 6) {
      if (hl + 20 > total) {
        this.drops.malformed++;
        return;
      }
      slot = SLOT_TCP;
      sport = (pkt[hl] << 8) | pkt[hl + 1];
      dport = (pkt[hl + 2] << 8) | pkt[hl + 3];
      flags = pkt[hl + 13];
    } else if (proto === 17) {
      if (hl + 8 > total) {
        this.drops.malformed++;
        return;
      }
      slot = SLOT_UDP;
      sport = (pkt[hl] << 8) | pkt[hl + 1];
      dport = (pkt[hl + 2] << 8) | pkt[hl + 3];
    } else if (proto === 1) {
      if (hl + 8 > total) {
        this.drops.malformed++;
        return;
      }
      const type = pkt[hl];
      if (type === 3 || type === 11 || type === 12) {
        this.icmpError4(pkt, hl, total);
        return;
      }
      if (type !== 0 && type !== 8) {
        this.drops['icmp-unsupported']++;
        return;
      }
      slot = SLOT_ICMP;
      dport = (pkt[hl + 4] << 8) | pkt[hl + 5];
    } else {
      this.drops['unsupported-protocol']++;
      return;
    }
    const b = this.ports.owner(slot, poolIdx, dport);
    const syn = slot === SLOT_TCP && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (b < 0) {
      if (syn) this.holdSyn(pkt, poolIdx, dport, src, sport);
      else this.drops['no-mapping']++;
      return;
    }
    const now = this.clock.now();
    let s = this.findSession(b, src, sport);
    let createdS = false;
    if (s < 0) {
      const allowed =
        this.bi[(b << 4) + B_STATIC] === 1 ||
        this.o.filtering === 'endpoint-independent' ||
        this.hasSessionWith(b, src);
      if (!allowed) {
        if (syn) this.holdSyn(pkt, poolIdx, dport, src, sport);
        else this.drops.filtered++;
        return;
      }
      let st = 0;
      if (slot === SLOT_TCP) {
        st = tcpInitialState(flags, false);
        if (st < 0) {
          this.drops['no-mapping']++;
          return;
        }
      }
      s = this.newSession(b, src, sport, st, CREATED_IN, now + 1);
      createdS = true;
    }
    this.m4.bib = b;
    this.curSess = s;
    this.curTenant = this.bi[(b << 4) + B_TENANT];
    this.innerMiss = false;
    if (!this.xlat.translate4to6(pkt, this.m4, this.emit6, this.reply4)) {
      if (createdS) this.removeSession(s, 'rollback');
      this.accountTranslatorDrop();
      return;
    }
    this.touch(s, flags, false, createdS, now);
    if (createdS) this.stats.sessionsCreated++;
  }

  /** An ICMPv4 error to a pool address: translated when the quoted packet belongs to a BIB entry. */
  private icmpError4(pkt: Uint8Array, hl: number, total: number): void {
    const at = hl + 8;
    if (at + 20 > total || pkt[at] >> 4 !== 4) {
      this.drops.malformed++;
      return;
    }
    const ihl = (pkt[at] & 15) << 2;
    const proto = pkt[at + 9];
    const l4 = at + ihl;
    const firstFrag = (((pkt[at + 6] & 0x1f) << 8) | pkt[at + 7]) === 0;
    let port = -1;
    let slot = -1;
    if (firstFrag && (proto === 6 || proto === 17) && l4 + 2 <= total) {
      slot = proto === 6 ? SLOT_TCP : SLOT_UDP;
      port = (pkt[l4] << 8) | pkt[l4 + 1];
    } else if (firstFrag && proto === 1 && l4 + 6 <= total && (pkt[l4] === 8 || pkt[l4] === 0)) {
      slot = SLOT_ICMP;
      port = (pkt[l4 + 4] << 8) | pkt[l4 + 5];
    }
    const poolIdx = this.poolIndex(rd32(pkt, at + 12));
    const b = slot < 0 || poolIdx < 0 ? -1 : this.ports.owner(slot, poolIdx, port);
    if (b < 0) {
      // RFC 6146 §3.5.3: an ICMPv4 error without a matching BIB entry is dropped.
      this.drops['icmp-error-no-mapping']++;
      return;
    }
    this.m4.bib = b;
    this.curSess = -1;
    this.curTenant = this.bi[(b << 4) + B_TENANT];
    this.innerMiss = false;
    if (this.xlat.translate4to6(pkt, this.m4, this.emit6, this.reply4)) this.stats.icmpErrorsTranslated++;
    else this.accountTranslatorDrop();
  }

  /** Attributes a translator drop (its counter that moved) to a NAT64 drop reason. */
  private accountTranslatorDrop(): void {
    const t = this.xlat.stats;
    const sh = this.shadow;
    for (const [k, reason] of TRANSLATOR_DROPS) {
      const d = t[k] - sh[k];
      if (d !== 0) {
        sh[k] = t[k];
        this.drops[k === 'dropUnmapped' && this.innerMiss ? 'icmp-error-no-mapping' : reason] += d;
      }
    }
    if (t.icmpSent !== sh.icmpSent) {
      this.stats.icmpErrorsSent += t.icmpSent - sh.icmpSent;
      sh.icmpSent = t.icmpSent;
    }
  }

  /** ICMPv6 1/3 (address unreachable) to the sender: no BIB entry could be made (RFC 6146 §3.5.1.1). */
  private addressUnreachable(tenant: number, pkt: Uint8Array): void {
    const err = buildIcmpv6Error(pkt, { src: this.o.inside.address(), type: 1, code: 3 });
    if (err) {
      this.stats.icmpErrorsSent++;
      this.tenants[tenant]?.deliver(err);
    }
  }

  /** RFC 6146 §3.5.2.2: an inbound SYN without a usable binding waits TCP_INCOMING_SYN for the IPv6 SYN. */
  private holdSyn(pkt: Uint8Array, pool: number, port4: number, src: number, sport: number): void {
    const key = `${pool}:${port4}:${src}:${sport}`;
    if (this.heldByKey.has(key)) {
      this.drops['unsolicited-syn']++; // a retransmission: one held copy is enough
      return;
    }
    if (this.heldByKey.size >= this.o.maxHeldSyns) {
      this.drops['unsolicited-syn']++;
      return;
    }
    const h: HeldSyn = {
      key,
      pkt: pkt.slice(0, (pkt[2] << 8) | pkt[3]),
      pool,
      deadline: this.clock.now() + this.o.timeouts.tcpIncomingSyn,
      done: false,
    };
    this.held.push(h);
    this.heldByKey.set(key, h);
    this.stats.synHeld++;
  }

  private matchHeldSyn(b: number, r4: number, rport: number): void {
    const key = `${this.bi[(b << 4) + B_POOL]}:${this.bi[(b << 4) + B_PORT4]}:${r4}:${rport}`;
    const h = this.heldByKey.get(key);
    if (!h) return;
    h.done = true;
    this.heldByKey.delete(key);
    this.stats.synHoldMatched++;
  }

  /** Applies a translated packet to its session: TCP state and lifetime (RFC 6146 §3.5.2.2, §4). */
  private touch(s: number, flags: number, outbound: boolean, created: boolean, now: number): void {
    const b = this.si[(s << 5) + S_BIB];
    const slot = this.bi[(b << 4) + B_SLOT] - 1;
    this.si[(s << 5) + S_FLAGS] |= outbound ? DIR_OUT : DIR_IN;
    const t = this.o.timeouts;
    let life: number;
    if (slot === SLOT_TCP) {
      const old = this.si[(s << 5) + S_STATE];
      const st = created ? old : tcpNextState(old, flags, outbound);
      this.si[(s << 5) + S_STATE] = st;
      if (!created && !tcpRefreshes(old) && st === old) return; // TIME_WAIT / RST: no refresh
      if (st === TcpState.synRecv)
        life = t.tcpIncomingSyn; // V4 INIT
      else life = tcpTimeout(this.tcpTimers, st, (this.si[(s << 5) + S_FLAGS] & 3) === 3);
    } else {
      life = slot === SLOT_UDP ? t.udp : t.icmp;
    }
    const d = now + life;
    const prev = this.sd[(s << 4) + SD_DEADLINE];
    this.sd[(s << 4) + SD_DEADLINE] = d;
    if (d < prev) this.wheel.pullIn(s, d);
  }

  // ================================ mappers (internal) ================================

  /** @internal The IPv4 address (unsigned) of an IPv6 address under the prefix, or -1. */
  _remote6(b: Uint8Array, off: number): number {
    const p = this.o.prefix;
    if (!p.matches(b, off)) return -1;
    const v4 = p.extract(b, off);
    return p.allowed(v4) ? v4 : -1;
  }

  /** @internal */
  _embed(v4: number, out: Uint8Array, off: number): boolean {
    const p = this.o.prefix;
    if (!p.allowed(v4 >>> 0)) return false;
    p.embed(v4 >>> 0, out, off);
    return true;
  }

  /** @internal {@link _embed} for the IPv4 address at `b[at..at+4)`, kept as bytes. */
  _embedAt(b: Uint8Array, at: number, out: Uint8Array, off: number): boolean {
    if (this.onlyGlobal && !this.o.prefix.allowed(rd32(b, at) >>> 0)) return false;
    const t = this.embedTemplate;
    for (let k = 0; k < 16; k++) out[off + k] = t[k];
    const e = this.v4At;
    out[off + e[0]] = b[at];
    out[off + e[1]] = b[at + 1];
    out[off + e[2]] = b[at + 2];
    out[off + e[3]] = b[at + 3];
    return true;
  }

  /** @internal */
  _writeAddr6(b: number, out: Uint8Array, off: number): void {
    const a = this.bi;
    const i = (b << 4) + B_ADDR;
    for (let k = 0; k < 4; k++) {
      const w = a[i + k];
      out[off + 4 * k] = w >>> 24;
      out[off + 4 * k + 1] = (w >>> 16) & 0xff;
      out[off + 4 * k + 2] = (w >>> 8) & 0xff;
      out[off + 4 * k + 3] = w & 0xff;
    }
  }

  /** @internal */
  _port6(b: number): number {
    return this.bi[(b << 4) + B_PORT6];
  }

  /** @internal The quoted packet of an ICMPv6 error: its destination is a local node with a BIB entry. */
  _inner6(
    tenant: number,
    b: Uint8Array,
    off: number,
    proto: number,
    port: number,
    r: XlatMapResult,
  ): boolean {
    const slot = proto === 6 ? SLOT_TCP : proto === 17 ? SLOT_UDP : proto === 1 ? SLOT_ICMP : -1;
    const bib = slot < 0 || port === NO_PORT ? -1 : this.find6(tenant, slot, b, off, port);
    if (bib < 0) {
      this.innerMiss = true;
      return false;
    }
    r.addr = this.pool[this.bi[(bib << 4) + B_POOL]];
    r.port = this.bi[(bib << 4) + B_PORT4];
    return true;
  }

  /** @internal The quoted packet of an ICMPv4 error: its source is a pool transport address. */
  _inner4(v4: number, proto: number, port: number, out: Uint8Array, off: number): number {
    const slot = proto === 6 ? SLOT_TCP : proto === 17 ? SLOT_UDP : proto === 1 ? SLOT_ICMP : -1;
    const pool = this.poolIndex(v4 | 0);
    const bib = slot < 0 || pool < 0 || port === NO_PORT ? -1 : this.ports.owner(slot, pool, port);
    if (bib < 0) {
      this.innerMiss = true;
      return -2;
    }
    this._writeAddr6(bib, out, off);
    return this.bi[(bib << 4) + B_PORT6];
  }

  // ================================ tables ================================

  private poolIndex(v4: number): number {
    const pool = this.pool;
    if (this.poolContiguous) {
      const i = (v4 - this.poolBase) >>> 0;
      return i < pool.length ? i : -1;
    }
    for (let i = 0; i < pool.length; i++) if (pool[i] === v4) return i;
    return -1;
  }

  private bibHash(tenant: number, slot: number, b: Uint8Array, off: number, port: number): number {
    return this.bibHashW(
      tenant,
      slot,
      rd32(b, off),
      rd32(b, off + 4),
      rd32(b, off + 8),
      rd32(b, off + 12),
      port,
    );
  }

  private find6(tenant: number, slot: number, b: Uint8Array, off: number, port: number): number {
    return this.find6w(
      tenant,
      slot,
      rd32(b, off),
      rd32(b, off + 4),
      rd32(b, off + 8),
      rd32(b, off + 12),
      port,
    );
  }

  /** The BIB entry of (tenant, protocol slot, IPv6 address as 4 words, port), or -1. */
  private find6w(
    tenant: number,
    slot: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
  ): number {
    const h = this.bibHashW(tenant, slot, a0, a1, a2, a3, port);
    const bi = this.bi;
    const s1 = slot + 1;
    for (let i = this.bHeads[bucketOf(h, this.bHeads)]; i >= 0; i = bi[(i << 4) + B_NEXT]) {
      const x = i << 4;
      if (
        bi[x + B_HASH] === h &&
        bi[x + B_ADDR + 3] === a3 &&
        bi[x + B_PORT6] === port &&
        bi[x + B_ADDR + 2] === a2 &&
        bi[x + B_ADDR + 1] === a1 &&
        bi[x + B_ADDR] === a0 &&
        bi[x + B_SLOT] === s1 &&
        bi[x + B_TENANT] === tenant
      )
        return i;
    }
    return -1;
  }

  /** A new dynamic BIB entry: a pool port (the same pool address for the same IPv6 address when it has room). */
  private allocBib(
    tenant: number,
    slot: number,
    b: Uint8Array,
    off: number,
    port6: number,
    now: number,
  ): number {
    const n = this.pool.length;
    let first = 0;
    if (n > 1) {
      let h = mix(tenant, rd32(b, off));
      h = mix(h, rd32(b, off + 4));
      h = mix(h, rd32(b, off + 8));
      h = mix(h, rd32(b, off + 12));
      first = (h >>> 0) % n;
    }
    const id = this.bFree.length > 0 ? (this.bFree[this.bFree.length - 1] as number) : this.bNextFresh;
    for (let k = 0; k < n; k++) {
      const pool = (first + k) % n;
      this.ensureBib(id + 1);
      const p4 = this.ports.allocate(slot, pool, port6, id, now);
      if (p4 >= 0) {
        const got = this.newBib(tenant, slot, b, off, port6, pool, p4, false, true);
        return got;
      }
    }
    return -1;
  }

  private ensureBib(n: number): void {
    if (n <= this.bCap) return;
    const c = Math.max(1024, this.bCap * 2, n);
    const bi = new Int32Array(c << 4);
    bi.set(this.bi);
    for (let i = this.bCap; i < c; i++) {
      bi[(i << 4) + B_SESS_HEAD] = -1;
      bi[(i << 4) + B_NEXT] = -1;
    }
    this.bi = bi;
    this.bCap = c;
  }

  /** Creates a BIB entry with a pool port already chosen (`taken`: the allocator already marked it). */
  private newBib(
    tenant: number,
    slot: number,
    b: Uint8Array,
    off: number,
    port6: number,
    pool: number,
    port4: number,
    isStatic: boolean,
    taken = false,
  ): number {
    const id = this.bFree.length > 0 ? (this.bFree.pop() as number) : this.bNextFresh++;
    this.ensureBib(id + 1);
    if (!taken) this.ports.take(slot, pool, port4, id);
    else this.ports.setOwner(slot, pool, port4, id);
    this.bi[(id << 4) + B_SLOT] = slot + 1;
    this.bi[(id << 4) + B_TENANT] = tenant;
    const a = (id << 4) + B_ADDR;
    let asum = 0;
    for (let k = 0; k < 4; k++) {
      const w = rd32(b, off + 4 * k);
      this.bi[a + k] = w;
      asum += sum16(w);
    }
    this.bi[(id << 4) + B_ASUM] = asum;
    this.bi[(id << 4) + B_PORT6] = port6;
    this.bi[(id << 4) + B_POOL] = pool;
    this.bi[(id << 4) + B_PORT4] = port4;
    this.bi[(id << 4) + B_STATIC] = isStatic ? 1 : 0;
    this.bi[(id << 4) + B_SESS_HEAD] = -1;
    this.bi[(id << 4) + B_SESS_COUNT] = 0;
    const h = this.bibHash(tenant, slot, b, off, port6);
    this.bi[(id << 4) + B_HASH] = h;
    this.bCount++;
    if (this.bCount > this.bHeads.length) this.rehashBib(this.bHeads.length * 2);
    else {
      const bucket = bucketOf(h, this.bHeads);
      this.bi[(id << 4) + B_NEXT] = this.bHeads[bucket];
      this.bHeads[bucket] = id;
    }
    if (isStatic) this.stats.mappingsCreated++;
    return id;
  }

  private rehashBib(size: number): void {
    const heads = new Int32Array(size).fill(-1);
    for (let i = 0; i < this.bNextFresh; i++) {
      if (this.bi[(i << 4) + B_SLOT] === 0) continue;
      const bucket = bucketOf(this.bi[(i << 4) + B_HASH], heads);
      this.bi[(i << 4) + B_NEXT] = heads[bucket];
      heads[bucket] = i;
    }
    this.bHeads = heads;
  }

  private removeBib(b: number, why: 'expired' | 'removed' | 'rollback'): void {
    while (this.bi[(b << 4) + B_SESS_HEAD] >= 0)
      this.removeSession(this.bi[(b << 4) + B_SESS_HEAD], why === 'rollback' ? 'rollback' : 'removed', true);
    if (why === 'removed' && this.bi[(b << 4) + B_STATIC] && this.listenerCount('mapping-removed') > 0)
      this.emit('mapping-removed', this.listenRecord(b));
    const bucket = bucketOf(this.bi[(b << 4) + B_HASH], this.bHeads);
    let prev = -1;
    for (let i = this.bHeads[bucket]; i >= 0; prev = i, i = this.bi[(i << 4) + B_NEXT]) {
      if (i !== b) continue;
      if (prev < 0) this.bHeads[bucket] = this.bi[(i << 4) + B_NEXT];
      else this.bi[(prev << 4) + B_NEXT] = this.bi[(i << 4) + B_NEXT];
      break;
    }
    const slot = this.bi[(b << 4) + B_SLOT] - 1;
    this.ports.release(
      slot,
      this.bi[(b << 4) + B_POOL],
      this.bi[(b << 4) + B_PORT4],
      this.clock.now(),
      why !== 'rollback' && !this.bi[(b << 4) + B_STATIC],
    );
    this.bi[(b << 4) + B_SLOT] = 0;
    this.bCount--;
    this.bFree.push(b);
    if (why === 'expired') this.stats.mappingsExpired++;
    else if (why === 'removed') this.stats.mappingsRemoved++;
  }

  // Table hashes, keyed per instance against hash flooding. The key is cut into 16-bit pieces
  // x_i and summed as h = Σ a_i·x_i + b mod 2^32 with random 32-bit a_i and b (vector
  // multiply-shift; Thorup, "High Speed Hashing for Integers and Strings", §3.3): for two different
  // keys, h(x) − h(y) is uniform over the multiples of 2^v, where 2^v (v < 16) divides their
  // smallest differing piece, so they share h with chance ≤ 2^-17 whatever they are, and nobody can
  // choose keys that collide without knowing a_i. `finalMix` then scrambles the sum bijectively:
  // keys that count up (ports, addresses) keep an arithmetic pattern in h that, for some key draws,
  // piles them into a few buckets of its top bits. A session hash costs ≈ 7 ns on Node 20 (15
  // independent multiplies, then the mix); the fixed 7-round hash it replaced cost ≈ 12.

  /** Σ a_i·x_i over the 8 16-bit pieces of an IPv6 address (4 words), with keys `hk[at..at + 7]`. */
  private addrTerms(a0: number, a1: number, a2: number, a3: number, at: number): number {
    const k = this.hk;
    return (
      (Math.imul(a0 >>> 16, k[at]) +
        Math.imul(a0 & 0xffff, k[at + 1]) +
        Math.imul(a1 >>> 16, k[at + 2]) +
        Math.imul(a1 & 0xffff, k[at + 3]) +
        Math.imul(a2 >>> 16, k[at + 4]) +
        Math.imul(a2 & 0xffff, k[at + 5]) +
        Math.imul(a3 >>> 16, k[at + 6]) +
        Math.imul(a3 & 0xffff, k[at + 7])) |
      0
    );
  }

  /** BIB key hash: (tenant, slot, IPv6 address as 4 words, port). */
  private bibHashW(
    tenant: number,
    slot: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
  ): number {
    const k = this.hk;
    return finalMix(
      (this.addrTerms(a0, a1, a2, a3, 22) +
        Math.imul(port, k[30]) +
        Math.imul(tenant & 0xffff, k[31]) +
        Math.imul(((tenant >>> 16) << 2) | slot, k[32]) +
        k[33]) |
        0,
    );
  }

  /** Inside-key session hash: (tenant, slot, IPv6 address as 4 words, port, remote address, remote port). */
  private sessHash6(
    tenant: number,
    slot: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
    r4: number,
    rport: number,
  ): number {
    const k = this.hk;
    return finalMix(
      (this.addrTerms(a0, a1, a2, a3, 0) +
        Math.imul(r4 >>> 16, k[8]) +
        Math.imul(r4 & 0xffff, k[9]) +
        Math.imul(port, k[10]) +
        Math.imul(rport, k[11]) +
        Math.imul(tenant & 0xffff, k[12]) +
        Math.imul(((tenant >>> 16) << 2) | slot, k[13]) +
        k[14]) |
        0,
    );
  }

  /** Outside-key session hash: (slot, pool index, pool port, remote address, remote port). */
  private sessHash4(slot: number, pool: number, port4: number, r4: number, rport: number): number {
    const k = this.hk;
    return finalMix(
      (Math.imul(r4 >>> 16, k[15]) +
        Math.imul(r4 & 0xffff, k[16]) +
        Math.imul(port4, k[17]) +
        Math.imul(rport, k[18]) +
        Math.imul(pool & 0xffff, k[19]) +
        Math.imul(((pool >>> 16) << 2) | slot, k[20]) +
        k[21]) |
        0,
    );
  }

  /** {@link sessHash6} of BIB entry `b` with (r4, rport). */
  private sessHashOf(b: number, r4: number, rport: number): number {
    const bi = this.bi;
    const x = b << 4;
    return this.sessHash6(
      bi[x + B_TENANT],
      bi[x + B_SLOT] - 1,
      bi[x + B_ADDR],
      bi[x + B_ADDR + 1],
      bi[x + B_ADDR + 2],
      bi[x + B_ADDR + 3],
      bi[x + B_PORT6],
      r4,
      rport,
    );
  }

  /** The session of BIB entry `b` with (r4, rport), or -1. */
  private findSession(b: number, r4: number, rport: number): number {
    const h = this.sessHashOf(b, r4, rport);
    const si = this.si;
    for (let i = this.sHeads[bucketOf(h, this.sHeads)]; i >= 0; i = si[(i << 5) + S_NEXT])
      if (
        si[(i << 5) + S_HASH] === h &&
        si[(i << 5) + S_BIB] === b &&
        si[(i << 5) + S_REMOTE] === r4 &&
        si[(i << 5) + S_RPORT] === rport
      )
        return i;
    return -1;
  }

  /**
   * The session an IPv6 packet belongs to, found by the packet's own fields (tenant, slot, source
   * address as 4 words and port, IPv4 destination and port) in one record, or -1.
   */
  private findSession6(
    tenant: number,
    slot: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
    r4: number,
    rport: number,
  ): number {
    const h = this.sessHash6(tenant, slot, a0, a1, a2, a3, port, r4, rport);
    const si = this.si;
    const s1 = slot + 1;
    for (let i = this.sHeads[bucketOf(h, this.sHeads)]; i >= 0; i = si[(i << 5) + S_NEXT]) {
      const x = i << 5;
      if (
        si[x + S_HASH] === h &&
        si[x + S_REMOTE] === r4 &&
        si[x + S_RPORT] === rport &&
        si[x + S_PORT6] === port &&
        si[x + S_ADDR + 3] === a3 &&
        si[x + S_ADDR + 2] === a2 &&
        si[x + S_ADDR + 1] === a1 &&
        si[x + S_ADDR] === a0 &&
        si[x + S_SLOT] === s1 &&
        si[x + S_TENANT] === tenant
      )
        return i;
    }
    return -1;
  }

  /** The session an IPv4 packet belongs to, by (slot, pool index, pool port, remote address and port), or -1. */
  private findSession4(slot: number, pool: number, port4: number, r4: number, rport: number): number {
    const h = this.sessHash4(slot, pool, port4, r4, rport);
    const si = this.si;
    const s1 = slot + 1;
    for (let i = this.sHeads4[bucketOf(h, this.sHeads4)]; i >= 0; i = si[(i << 5) + S_NEXT4]) {
      const x = i << 5;
      if (
        si[x + S_HASH4] === h &&
        si[x + S_REMOTE] === r4 &&
        si[x + S_RPORT] === rport &&
        si[x + S_PORT4] === port4 &&
        si[x + S_POOL] === pool &&
        si[x + S_SLOT] === s1
      )
        return i;
    }
    return -1;
  }

  /** Address-dependent filtering: does the entry have a session with this remote address? */
  private hasSessionWith(b: number, r4: number): boolean {
    for (let s = this.bi[(b << 4) + B_SESS_HEAD]; s >= 0; s = this.si[(s << 5) + S_NEXT_IN_BIB])
      if (this.si[(s << 5) + S_REMOTE] === r4) return true;
    return false;
  }

  private ensureSessions(n: number): void {
    if (n <= this.sCap) return;
    const c = Math.max(1024, this.sCap * 2, n);
    const buf = new ArrayBuffer(c * S_BYTES);
    new Uint8Array(buf).set(new Uint8Array(this.si.buffer));
    const si = new Int32Array(buf);
    for (let i = this.sCap; i < c; i++) {
      si[(i << 5) + S_PREV] = -1;
      si[(i << 5) + S_NEXT_IN_BIB] = -1;
      si[(i << 5) + S_NEXT] = -1;
      si[(i << 5) + S_NEXT4] = -1;
    }
    this.si = si;
    this.sd = new Float64Array(buf);
    this.sCap = c;
    this.wheel.ensureCapacity(c);
  }

  private newSession(
    b: number,
    r4: number,
    rport: number,
    state: number,
    flags: number,
    deadline: number,
  ): number {
    const id = this.sFree.length > 0 ? (this.sFree.pop() as number) : this.sNextFresh++;
    this.ensureSessions(id + 1);
    const si = this.si;
    const bi = this.bi;
    const x = id << 5;
    const bx = b << 4;
    si[x + S_LIVE] = 1;
    si[x + S_BIB] = b;
    si[x + S_REMOTE] = r4;
    si[x + S_RPORT] = rport;
    si[x + S_STATE] = state;
    si[x + S_FLAGS] = flags;
    si[x + S_PKT_OUT] = 0;
    si[x + S_PKT_IN] = 0;
    for (let k = 0; k < 4; k++) si[x + S_ADDR + k] = bi[bx + B_ADDR + k];
    si[x + S_PORT6] = bi[bx + B_PORT6];
    si[x + S_TENANT] = bi[bx + B_TENANT];
    si[x + S_SLOT] = bi[bx + B_SLOT];
    si[x + S_POOL] = bi[bx + B_POOL];
    si[x + S_PORT4] = bi[bx + B_PORT4];
    si[x + S_ASUM] = bi[bx + B_ASUM];
    this.sd[(id << 4) + SD_DEADLINE] = deadline;
    this.sd[(id << 4) + SD_BYTES_OUT] = 0;
    this.sd[(id << 4) + SD_BYTES_IN] = 0;
    // Link into the entry's list.
    const head = bi[bx + B_SESS_HEAD];
    si[x + S_PREV] = -1;
    si[x + S_NEXT_IN_BIB] = head;
    if (head >= 0) si[(head << 5) + S_PREV] = id;
    bi[bx + B_SESS_HEAD] = id;
    bi[bx + B_SESS_COUNT]++;
    si[x + S_HASH] = this.sessHashOf(b, r4, rport);
    si[x + S_HASH4] = this.sessHash4(bi[bx + B_SLOT] - 1, bi[bx + B_POOL], bi[bx + B_PORT4], r4, rport);
    this.sCount++;
    if (this.sCount > this.sHeads.length) this.rehashSessions(this.sHeads.length * 2);
    else this.linkSession(id);
    this.wheel.schedule(id, deadline);
    return id;
  }

  /** Puts session `s` at the head of its bucket in both chains. */
  private linkSession(s: number): void {
    const x = s << 5;
    const si = this.si;
    const b1 = bucketOf(si[x + S_HASH], this.sHeads);
    si[x + S_NEXT] = this.sHeads[b1];
    this.sHeads[b1] = s;
    const b4 = bucketOf(si[x + S_HASH4], this.sHeads4);
    si[x + S_NEXT4] = this.sHeads4[b4];
    this.sHeads4[b4] = s;
  }

  private rehashSessions(size: number): void {
    this.sHeads = new Int32Array(size).fill(-1);
    this.sHeads4 = new Int32Array(size).fill(-1);
    for (let i = 0; i < this.sNextFresh; i++) if (this.si[(i << 5) + S_LIVE] !== 0) this.linkSession(i);
  }

  /** Takes session `s` out of the chain through field `next` whose heads are `heads`. */
  private unlinkSession(s: number, heads: Int32Array, hash: number, next: number): void {
    const si = this.si;
    const bucket = bucketOf(hash, heads);
    let prev = -1;
    for (let i = heads[bucket]; i >= 0; prev = i, i = si[(i << 5) + next]) {
      if (i !== s) continue;
      if (prev < 0) heads[bucket] = si[(i << 5) + next];
      else si[(prev << 5) + next] = si[(i << 5) + next];
      return;
    }
  }

  /** Removes a session; the entry goes too when it was its last session and it is dynamic (RFC 6146 §3.5.1.1). */
  private removeSession(s: number, why: 'expired' | 'removed' | 'rollback', keepBib = false): void {
    if (why !== 'rollback') {
      const ev = why === 'expired' ? 'mapping-expired' : 'mapping-removed';
      if (this.listenerCount(ev) > 0) this.emit(ev, this.sessionRecord(s));
    }
    const b = this.si[(s << 5) + S_BIB];
    this.unlinkSession(s, this.sHeads, this.si[(s << 5) + S_HASH], S_NEXT);
    this.unlinkSession(s, this.sHeads4, this.si[(s << 5) + S_HASH4], S_NEXT4);
    const p = this.si[(s << 5) + S_PREV];
    const n = this.si[(s << 5) + S_NEXT_IN_BIB];
    if (p >= 0) this.si[(p << 5) + S_NEXT_IN_BIB] = n;
    else this.bi[(b << 4) + B_SESS_HEAD] = n;
    if (n >= 0) this.si[(n << 5) + S_PREV] = p;
    this.bi[(b << 4) + B_SESS_COUNT]--;
    this.wheel.cancel(s);
    this.si[(s << 5) + S_LIVE] = 0;
    this.sCount--;
    this.sFree.push(s);
    if (!keepBib && this.bi[(b << 4) + B_SESS_HEAD] < 0 && this.bi[(b << 4) + B_STATIC] === 0)
      this.removeBib(b, why);
  }

  private removeTenantState(tenant: number): void {
    for (let b = 0; b < this.bNextFresh; b++)
      if (this.bi[(b << 4) + B_SLOT] !== 0 && this.bi[(b << 4) + B_TENANT] === tenant)
        this.removeBib(b, 'removed');
  }

  // ================================ records ================================

  private addr6Text(b: number): string {
    const tmp = new Uint8Array(16);
    this._writeAddr6(b, tmp, 0);
    return formatIpv6(tmp, 0);
  }

  private staticRecord(b: number): Nat64StaticBinding {
    return {
      proto: SLOT_PROTO[this.bi[(b << 4) + B_SLOT] - 1],
      ipv6: this.addr6Text(b),
      port6: this.bi[(b << 4) + B_PORT6],
      ipv4: this.o.poolText[this.bi[(b << 4) + B_POOL]],
      port4: this.bi[(b << 4) + B_PORT4],
      tenant: this.bi[(b << 4) + B_TENANT],
    };
  }

  private baseRecord(
    b: number,
  ): Omit<Nat64MappingRecord, 'original' | 'reply' | 'remoteIp' | 'remoteIp6' | 'remotePort'> {
    const slot = this.bi[(b << 4) + B_SLOT] - 1;
    return {
      id: b,
      tenant: this.bi[(b << 4) + B_TENANT],
      proto: SLOT_PROTO[slot],
      protoName: SLOT_NAME[slot],
      kind: this.bi[(b << 4) + B_STATIC] ? 'static' : 'dynamic',
      insideIp: this.addr6Text(b),
      insidePort: this.bi[(b << 4) + B_PORT6],
      externalIp: this.o.poolText[this.bi[(b << 4) + B_POOL]],
      externalPort: this.bi[(b << 4) + B_PORT4],
      state: 'LISTEN',
      expiresInMs: Number.POSITIVE_INFINITY,
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
    };
  }

  private listenRecord(b: number): Nat64MappingRecord {
    const base = this.baseRecord(b);
    return {
      ...base,
      remoteIp: '0.0.0.0',
      remotePort: 0,
      remoteIp6: '::',
      original: { src: base.insideIp, srcPort: base.insidePort, dst: '::', dstPort: 0 },
      reply: { src: '0.0.0.0', srcPort: 0, dst: base.externalIp, dstPort: base.externalPort },
    };
  }

  private sessionRecord(s: number): Nat64MappingRecord {
    const b = this.si[(s << 5) + S_BIB];
    const base = this.baseRecord(b);
    const slot = this.bi[(b << 4) + B_SLOT] - 1;
    const r4 = this.si[(s << 5) + S_REMOTE] >>> 0;
    const remoteIp = formatIpv4(r4);
    const remoteIp6 = this.o.prefix.format(r4);
    const rport = this.si[(s << 5) + S_RPORT];
    const st = this.si[(s << 5) + S_STATE];
    return {
      ...base,
      id: 0x40000000 + s,
      remoteIp,
      remotePort: rport,
      remoteIp6,
      original: {
        src: base.insideIp,
        srcPort: base.insidePort,
        dst: remoteIp6,
        dstPort: slot === SLOT_ICMP ? base.insidePort : rport,
      },
      reply: {
        src: remoteIp,
        srcPort: slot === SLOT_ICMP ? base.externalPort : rport,
        dst: base.externalIp,
        dstPort: base.externalPort,
      },
      state:
        slot === SLOT_TCP
          ? TCP_STATE_NAMES[st]
          : (this.si[(s << 5) + S_FLAGS] & 3) === 3
            ? 'ASSURED'
            : 'UNREPLIED',
      expiresInMs: Math.max(0, this.sd[(s << 4) + SD_DEADLINE] - this.clock.now()),
      packetsOut: this.si[(s << 5) + S_PKT_OUT] >>> 0,
      bytesOut: this.sd[(s << 4) + SD_BYTES_OUT],
      packetsIn: this.si[(s << 5) + S_PKT_IN] >>> 0,
      bytesIn: this.sd[(s << 4) + SD_BYTES_IN],
    };
  }
}
