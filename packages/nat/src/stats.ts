/** NAT counters. Plain numbers on a live object, incremented on the packet path. */

/** Every reason a packet can be dropped. Keys of {@link NatStats.drops}. */
export const DROP_REASONS = [
  'malformed',
  'bad-ip-checksum',
  'bad-checksum',
  'fragment',
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
  'no-hairpin',
  'helper',
  'closed',
] as const;

/** A drop reason. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Counters of one NAT (`nat.stats`). */
export interface NatStats {
  /** Packets translated inside → outside (including hairpinned ones). */
  packetsOut: number;
  /** Packets translated outside → inside (including hairpinned ones). */
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
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

/** Fresh counters; `active` reads the live counts. */
export function createStats(active: { mappings(): number; sessions(): number }): NatStats {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return {
    packetsOut: 0,
    packetsIn: 0,
    bytesOut: 0,
    bytesIn: 0,
    hairpinned: 0,
    mappingsCreated: 0,
    mappingsExpired: 0,
    mappingsRemoved: 0,
    sessionsCreated: 0,
    sessionsExpired: 0,
    icmpErrorsTranslated: 0,
    icmpErrorsSent: 0,
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
