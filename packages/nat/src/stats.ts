/** NAT counters. Plain numbers on a live object, incremented on the packet path. */

/** Every reason a packet can be dropped. Keys of {@link NatStats.drops}. */
export const DROP_REASONS = [
  'malformed',
  'not-ipv4',
  'bad-ip-checksum',
  'bad-checksum',
  'fragment',
  'too-big',
  'ttl-exceeded',
  'unsupported-protocol',
  'icmp-unsupported',
  'icmp-error-no-mapping',
  'no-mapping',
  'filtered',
  'unsolicited-syn',
  'drop-rule',
  'tenant-limit',
  'table-full',
  'ports-exhausted',
  'not-for-us',
  'to-nat',
  'martian',
  'no-hairpin',
  'helper',
  'closed',
] as const;

/** A drop reason. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Counters of one NAT (`nat.stats`). */
export interface NatStats {
  /** Packets translated inside → outside (including hairpinned ones). */
  readonly packetsOut: number;
  /** Packets translated outside → inside (including hairpinned ones). */
  readonly packetsIn: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** Packets hairpinned (inside → inside through the outside address). */
  hairpinned: number;
  mappingsCreated: number;
  mappingsExpired: number;
  /** Mappings removed other than by expiry (tenant cleanup, eviction, forward removal). */
  mappingsRemoved: number;
  sessionsCreated: number;
  sessionsExpired: number;
  /** ICMP errors translated (either direction). */
  icmpErrorsTranslated: number;
  /** ICMP errors the NAT generated (3/13, 3/3 after a SYN hold, 11/0). */
  icmpErrorsSent: number;
  /** ICMP errors not sent because of `icmpRateLimit`. */
  icmpRateLimited: number;
  /** Echo requests to an outside address answered by the NAT. */
  echoAnswered: number;
  /** Unsolicited inbound SYNs held (RFC 5382 REQ-4). */
  synHeld: number;
  expectationsUsed: number;
  /** Mappings evicted by `onTenantLimit: 'evict-lru'`. */
  evictions: number;
  /** Live mappings. */
  readonly activeMappings: number;
  /** Live sessions. */
  readonly activeSessions: number;
  /** Dropped packets by reason. Every key exists from the start. */
  drops: Record<DropReason, number>;
}

/** Index of packetsOut in the hot counter array. */
export const C_PKTS_OUT = 0;
/** Index of bytesOut. */
export const C_BYTES_OUT = 1;
/** Index of packetsIn. */
export const C_PKTS_IN = 2;
/** Index of bytesIn. */
export const C_BYTES_IN = 3;
/** Index of the packets translated by the NAT's fast paths (internal: benchmarks check it). */
export const C_FAST_PATH = 4;
/** Length of the hot counter array. */
export const HOT_COUNTERS = 5;

/**
 * Fresh counters; `active` reads the live counts. The per-packet counters live in `hot` (a
 * `Float64Array`: an increment there costs a store, a growing number in an object field does not
 * stay that cheap) and are read through getters.
 */
export function createStats(active: { mappings(): number; sessions(): number }, hot: Float64Array): NatStats {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return {
    get packetsOut() {
      return hot[C_PKTS_OUT];
    },
    get packetsIn() {
      return hot[C_PKTS_IN];
    },
    get bytesOut() {
      return hot[C_BYTES_OUT];
    },
    get bytesIn() {
      return hot[C_BYTES_IN];
    },
    hairpinned: 0,
    mappingsCreated: 0,
    mappingsExpired: 0,
    mappingsRemoved: 0,
    sessionsCreated: 0,
    sessionsExpired: 0,
    icmpErrorsTranslated: 0,
    icmpErrorsSent: 0,
    icmpRateLimited: 0,
    echoAnswered: 0,
    synHeld: 0,
    expectationsUsed: 0,
    evictions: 0,
    get activeMappings() {
      return active.mappings();
    },
    get activeSessions() {
      return active.sessions();
    },
    drops,
  };
}
