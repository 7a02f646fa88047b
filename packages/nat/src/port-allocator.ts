/**
 * External port (and ICMP identifier, GRE call ID) allocation, per protocol and outside address.
 *
 * - Port preservation when the inside port is free, in range and not in quarantine.
 * - The range is kept (RFC 4787 REQ-3a): inside ports below 1024 get external ports below 1024,
 *   the others get ports of 1024 and above (for protocols with ports; not for ICMP / GRE ids).
 * - Optional parity (REQ-4).
 * - Randomised search in the spirit of RFC 6056 (algorithm 1: random start, then linear search).
 * - A freed port waits `quarantineMs` (120 s, RFC 6888 / RFC 4787 REQ-3 spirit) before reuse.
 *
 * Owner table per (protocol, outside address): `Int32Array(65536)` holding the mapping index
 * (≥ 0), {@link PORT_FREE} or {@link PORT_RESERVED}; the inbound path reads it directly
 * (an array index instead of a hash lookup).
 */

/** Owner value of a free port. */
export const PORT_FREE = -1;
/** Owner value of a port reserved through `allocOutsidePort` (not yet bound to a mapping). */
export const PORT_RESERVED = -2;

/** Index of a protocol in the allocator's tables. */
export function protoSlot(proto: number): number {
  switch (proto) {
    case 6:
      return 0;
    case 17:
      return 1;
    case 1:
      return 2;
    case 47:
      return 3;
    default:
      return -1;
  }
}

/** Protocols in {@link protoSlot} order. */
export const SLOT_PROTOS = [6, 17, 1, 47] as const;

/** A port range `[lo, hi]`, inclusive. */
export type PortRange = readonly [number, number];

/** Source of randomness in [0, 1). */
export type RandomSource = () => number;

/** Port ownership and allocation for all protocols and outside addresses of one NAT. */
export class PortAllocator {
  /** owners[slot][extIdx]: Int32Array(65536) or undefined until first use. */
  readonly owners: Array<Array<Int32Array | undefined>>;
  /** Seconds (ceil) until which a freed port stays quarantined; lazily allocated like owners. */
  private readonly quarantine: Array<Array<Uint32Array | undefined>>;
  /** Ports in use or reserved, per slot and address. */
  readonly used: Array<Int32Array>;

  constructor(
    readonly addressCount: number,
    readonly ranges: readonly PortRange[],
    private readonly quarantineMs: number,
    private readonly random: RandomSource,
    private readonly preserve: boolean,
    private readonly parity: boolean,
  ) {
    this.owners = SLOT_PROTOS.map(() => new Array(addressCount).fill(undefined));
    this.quarantine = SLOT_PROTOS.map(() => new Array(addressCount).fill(undefined));
    this.used = SLOT_PROTOS.map(() => new Int32Array(addressCount));
  }

  /** The owner table of (slot, extIdx), created on first use. */
  table(slot: number, extIdx: number): Int32Array {
    let t = this.owners[slot][extIdx];
    if (!t) {
      t = new Int32Array(65536).fill(PORT_FREE);
      this.owners[slot][extIdx] = t;
    }
    return t;
  }

  private qtable(slot: number, extIdx: number): Uint32Array {
    let t = this.quarantine[slot][extIdx];
    if (!t) {
      t = new Uint32Array(65536);
      this.quarantine[slot][extIdx] = t;
    }
    return t;
  }

  /** Owner of a port, or {@link PORT_FREE}. */
  owner(slot: number, extIdx: number, port: number): number {
    const t = this.owners[slot][extIdx];
    return t ? t[port] : PORT_FREE;
  }

  /** Whether `port` can be taken now. */
  isFree(slot: number, extIdx: number, port: number, nowMs: number): boolean {
    const t = this.owners[slot][extIdx];
    if (t && t[port] !== PORT_FREE) return false;
    const q = this.quarantine[slot][extIdx];
    return !q || q[port] * 1000 <= nowMs;
  }

  /**
   * Picks a free port for an inside port `insidePort` (or identifier; -1 for none) and marks it
   * owned by `owner`. Returns the port or -1 when the range is exhausted.
   */
  allocate(slot: number, extIdx: number, insidePort: number, owner: number, nowMs: number): number {
    const [rlo, rhi] = this.ranges[slot];
    let lo = rlo;
    let hi = rhi;
    const any = insidePort < 0; // no inside port: helper reservations
    if (any) {
      if (hi >= 1024 && slot <= 1) lo = Math.max(lo, 1024);
    } else if (slot <= 1) {
      // Keep the range (REQ-3a) when the configured range has room on that side.
      if (insidePort < 1024) {
        if (lo <= 1023) hi = Math.min(hi, 1023);
      } else if (hi >= 1024) {
        lo = Math.max(lo, 1024);
      }
    }
    const t = this.table(slot, extIdx);
    const q = this.quarantine[slot][extIdx];
    const nowS = nowMs / 1000;
    if (!any && this.preserve && insidePort >= lo && insidePort <= hi) {
      if (t[insidePort] === PORT_FREE && (!q || q[insidePort] <= nowS)) {
        this.take(slot, extIdx, insidePort, owner);
        return insidePort;
      }
    }
    const wantParity = !any && this.parity && slot <= 1;
    let step = 1;
    let first = lo;
    if (wantParity) {
      step = 2;
      first = lo + ((insidePort ^ lo) & 1);
      if (first > hi) return -1;
    }
    const count = Math.floor((hi - first) / step) + 1;
    if (count <= 0) return -1;
    let i = Math.floor(this.random() * count);
    for (let n = 0; n < count; n++) {
      const p = first + i * step;
      if (t[p] === PORT_FREE && (!q || q[p] <= nowS)) {
        this.take(slot, extIdx, p, owner);
        return p;
      }
      i++;
      if (i === count) i = 0;
    }
    return -1;
  }

  /** Marks a specific port as owned (forwards, restore, expectations). The caller checked it is free. */
  take(slot: number, extIdx: number, port: number, owner: number): void {
    const t = this.table(slot, extIdx);
    if (t[port] === PORT_FREE) this.used[slot][extIdx]++;
    t[port] = owner;
  }

  /** Changes the owner of an owned port (a reservation becoming a mapping). */
  setOwner(slot: number, extIdx: number, port: number, owner: number): void {
    this.table(slot, extIdx)[port] = owner;
  }

  /** Frees a port; it is quarantined for `quarantineMs` unless `quarantine` is false. */
  release(slot: number, extIdx: number, port: number, nowMs: number, quarantine = true): void {
    const t = this.owners[slot][extIdx];
    if (!t || t[port] === PORT_FREE) return;
    t[port] = PORT_FREE;
    this.used[slot][extIdx]--;
    if (quarantine && this.quarantineMs > 0)
      this.qtable(slot, extIdx)[port] = Math.ceil((nowMs + this.quarantineMs) / 1000);
  }

  /** Quarantine end (ms) of a port, 0 when none. */
  quarantinedUntil(slot: number, extIdx: number, port: number): number {
    const q = this.quarantine[slot][extIdx];
    return q ? q[port] * 1000 : 0;
  }

  /** Sets a quarantine end (restore). */
  setQuarantine(slot: number, extIdx: number, port: number, untilMs: number): void {
    this.qtable(slot, extIdx)[port] = Math.ceil(untilMs / 1000);
  }

  /** Every quarantined port with an end after `nowMs` (for snapshots). */
  *quarantined(nowMs: number): Generator<[number, number, number, number]> {
    const nowS = nowMs / 1000;
    for (let s = 0; s < this.quarantine.length; s++)
      for (let a = 0; a < this.addressCount; a++) {
        const q = this.quarantine[s][a];
        if (!q) continue;
        for (let p = 0; p < 65536; p++) if (q[p] > nowS) yield [s, a, p, q[p] * 1000];
      }
  }
}
