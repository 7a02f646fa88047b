/**
 * IP reassembly (RFC 791 §3.2, RFC 8200 §4.5) as a standalone device and as the NAT's first
 * stage.
 *
 * Rules, after Linux and the RFCs (see REFERENCE.md "Defragmentation"):
 * - Datagrams are keyed by (src, dst, protocol, id); fragments may arrive in any order, and an
 *   exact duplicate (same offset and length) is ignored.
 * - Any overlap poisons the datagram (RFC 5722 for IPv6, Linux since CVE-2018-5391 for IPv4):
 *   it is dropped, and later fragments of it are dropped until its timer runs out.
 * - The timer runs from the first fragment (30 s); on expiry an ICMP time exceeded, code 1, goes
 *   back to the source if the offset-0 fragment was seen (RFC 792, RFC 4443 §3.3).
 * - Memory is capped with high / low thresholds (Linux ipfrag_high_thresh / low_thresh: above
 *   high, the oldest datagrams are evicted until below low); datagrams in flight and fragments per
 *   datagram are limited too.
 * - Tiny fragments are dropped: RFC 1858 (a TCP fragment at offset 8, a first fragment too short
 *   for the transport header) and RFC 7112 (an IPv6 first fragment without the whole header
 *   chain); so is a datagram that would exceed 65535 bytes.
 * - A packet that is not a fragment goes through as the same buffer, with no allocation.
 *
 * Expiry is O(expired): every datagram gets the same timeout when it is created, so creation
 * order is expiry order and a linked list from oldest to newest is all the queue needed.
 */
import {
  type Clock,
  ConfigError,
  discard,
  type L3Device,
  type PacketHandler,
  Prefix,
  systemClock,
} from '@l3kit/core';
import {
  buildIcmpv4Error,
  buildIcmpv6Error,
  formatIpv4,
  formatIpv6,
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
} from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';

/** Options of a {@link Defragmenter}. */
export interface DefragOptions {
  /** Time source. Default: the shared system clock. */
  clock?: Clock;
  /** Reassembly timeout from the first fragment, ms. Default 30 000 (Linux ipfrag_time). */
  timeoutMs?: number;
  /** Above this many bytes held, the oldest datagrams are evicted… Default 4 MiB. */
  highThresholdBytes?: number;
  /** …until this many bytes or fewer are held. Default 3 MiB. */
  lowThresholdBytes?: number;
  /** Datagrams in reassembly at once; a new one beyond this evicts the oldest. Default 1024. */
  maxDatagrams?: number;
  /** Fragments one datagram may have; more poisons it. Default 64 (Linux ipfrag_max_dist spirit). */
  maxFragmentsPerDatagram?: number;
  /** Source address for ICMPv4 time exceeded on timeout; none sent without it. */
  icmpSource4?: string;
  /** Source address for ICMPv6 time exceeded on timeout; none sent without it. */
  icmpSource6?: string;
  /**
   * Run {@link Defragmenter.maintain} on an unref'd timer every this many ms (0 = never; then
   * expiry happens on arrival of later fragments and on explicit `maintain()` calls). Default 1000.
   */
  maintainIntervalMs?: number;
}

/** Counters of a {@link Defragmenter}. Every dropped fragment or datagram is counted once by reason. */
export interface DefragStats {
  /** Packets that were not fragments and passed through unchanged. */
  passedThrough: number;
  /** Fragments accepted into a reassembly queue. */
  fragments: number;
  /** Datagrams reassembled and emitted. */
  reassembled: number;
  /** Exact duplicate fragments ignored. */
  duplicates: number;
  /** Packets that are not valid IPv4 / IPv6 (or a broken extension-header chain). */
  dropMalformed: number;
  /** Non-last fragments whose data length is not a multiple of 8, or empty. */
  dropBadLength: number;
  /** RFC 1858 / RFC 7112 tiny fragments. */
  dropTiny: number;
  /** Datagrams dropped for an overlap. */
  dropOverlap: number;
  /** Fragments of a datagram already dropped for an overlap (until its timer ends). */
  dropPoisoned: number;
  /** Datagrams that would exceed 65535 bytes, or whose fragments disagree on the end. */
  dropTooLarge: number;
  /** Datagrams with more than `maxFragmentsPerDatagram` fragments. */
  dropTooManyFragments: number;
  /** Datagrams that timed out incomplete. */
  dropTimeout: number;
  /** Datagrams evicted above the memory high threshold. */
  dropMemory: number;
  /** Datagrams evicted because `maxDatagrams` were in flight. */
  dropInFlightLimit: number;
  /** ICMP time-exceeded (fragment reassembly) messages sent. */
  icmpTimeExceeded: number;
  /** ICMPv6 Parameter Problem messages sent for a bad fragment length or offset (RFC 8200 §4.5). */
  icmpParameterProblem: number;
}

/** A {@link DefragStats} with every counter at zero. */
export function emptyDefragStats(): DefragStats {
  return {
    passedThrough: 0,
    fragments: 0,
    reassembled: 0,
    duplicates: 0,
    dropMalformed: 0,
    dropBadLength: 0,
    dropTiny: 0,
    dropOverlap: 0,
    dropPoisoned: 0,
    dropTooLarge: 0,
    dropTooManyFragments: 0,
    dropTimeout: 0,
    dropMemory: 0,
    dropInFlightLimit: 0,
    icmpTimeExceeded: 0,
    icmpParameterProblem: 0,
  };
}

/** Emitted (as `'fragment-timeout'`) when an incomplete datagram times out. */
export interface FragmentTimeoutEvent {
  version: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  id: number;
  /** Bytes of fragment data received. */
  receivedBytes: number;
  /** Whether an ICMP time exceeded was sent. */
  icmpSent: boolean;
}

/** Typed control events of a {@link Defragmenter}. Never per packet. */
export interface DefragEvents {
  'fragment-timeout': [FragmentTimeoutEvent];
}

/** Fixed per-datagram and per-fragment bookkeeping charged against the memory cap. */
const DATAGRAM_OVERHEAD = 256;
const FRAGMENT_OVERHEAD = 64;
const MAX_DATAGRAM = 65535;
/** Room kept before the data for the head (IPv4 header ≤ 60; IPv6 fixed header + extension headers). */
const RESERVE = 256;

/** One datagram in reassembly. */
class Datagram {
  hash: number;
  version: 4 | 6;
  /** IPv4: src/dst as numbers; IPv6: the 32 address bytes in `addrs`. */
  src4 = 0;
  dst4 = 0;
  addrs: Uint8Array | null = null;
  protocol: number;
  id: number;
  expiresAt: number;
  /** Received ranges of fragmentable data, sorted: `starts[i] .. ends[i]`. */
  starts: number[] = [];
  ends: number[] = [];
  received = 0;
  /** Length of the fragmentable data once the last fragment was seen, else -1. */
  total = -1;
  /**
   * Storage: data byte `k` lives at `buf[RESERVE + k]`, and the first fragment's head (IPv4
   * header, or IPv6 unfragmentable part without the Fragment header) right before it, so the
   * finished datagram is a view of `buf` with no further copy.
   */
  buf: Uint8Array | null = null;
  /** Length of the stored head (0 until the offset-0 fragment arrived). */
  headLen = 0;
  /** IPv6: the Fragment header's Next Header (first header of the fragmentable part). */
  fragNext = 0;
  maxFragmentSize = 0;
  poisoned = false;
  memory = DATAGRAM_OVERHEAD;
  // Hash chain and age list.
  chainNext: Datagram | null = null;
  older: Datagram | null = null;
  newer: Datagram | null = null;

  constructor(hash: number, version: 4 | 6, protocol: number, id: number, expiresAt: number) {
    this.hash = hash;
    this.version = version;
    this.protocol = protocol;
    this.id = id;
    this.expiresAt = expiresAt;
  }
}

/**
 * Reassembles IPv4 and IPv6 fragments. As an {@link L3Device}: `send(pkt)` takes packets in,
 * the handler receives whole datagrams (non-fragments unchanged, as the same buffer), and ICMP
 * time-exceeded errors for the senders of timed-out datagrams go to the reply handler
 * ({@link Defragmenter.setReplyHandler}).
 *
 * @example
 * ```ts
 * const defrag = new Defragmenter({ icmpSource4: '192.0.2.1' });
 * defrag.setHandler((pkt) => router.send(pkt));
 * defrag.setReplyHandler((err) => uplink.send(err));
 * uplink.setHandler((pkt) => defrag.send(pkt));
 * ```
 */
export class Defragmenter implements L3Device {
  /** Counters by outcome and drop reason. */
  readonly stats: DefragStats = emptyDefragStats();
  /** Typed control events (`'fragment-timeout'`). */
  readonly events = new EventEmitter<DefragEvents>();
  /**
   * The largest fragment (whole IP packet length) of the datagram most recently emitted, or 0
   * when the last packet emitted was not reassembled. Read it inside the handler: a NAT
   * re-fragments to this size after translation (Linux `frag_max_size`).
   */
  lastMaxFragmentSize = 0;

  private handler: PacketHandler = discard;
  private replyHandler: PacketHandler = discard;
  private prefix: Prefix | undefined;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly high: number;
  private readonly low: number;
  private readonly maxDatagrams: number;
  private readonly maxFragments: number;
  private readonly icmpSource4: string | undefined;
  private readonly icmpSource6: string | undefined;
  private readonly table = new Map<number, Datagram>();
  private oldest: Datagram | null = null;
  private newest: Datagram | null = null;
  private count = 0;
  private bytes = 0;
  private closed = false;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  private readonly v4 = Ipv4Packet.empty();
  private readonly v6 = Ipv6Packet.empty();
  private readonly chain = new Ipv6HeaderChain();
  private readonly pool = new BufferPool();

  constructor(options: DefragOptions = {}) {
    this.clock = options.clock ?? systemClock();
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 30_000);
    this.high = positive('highThresholdBytes', options.highThresholdBytes ?? 4 * 1024 * 1024);
    this.low = positive('lowThresholdBytes', options.lowThresholdBytes ?? 3 * 1024 * 1024);
    if (this.low > this.high)
      throw new ConfigError(
        'ERR_DEFRAG_OPTION',
        `Defragmenter: lowThresholdBytes (${this.low}) must not exceed highThresholdBytes (${this.high})`,
      );
    this.maxDatagrams = positive('maxDatagrams', options.maxDatagrams ?? 1024);
    this.maxFragments = positive('maxFragmentsPerDatagram', options.maxFragmentsPerDatagram ?? 64);
    this.icmpSource4 = checkSource(options.icmpSource4, 4);
    this.icmpSource6 = checkSource(options.icmpSource6, 6);
    const every = options.maintainIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.maintain(), every);
      this.timer.unref?.();
    }
  }

  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }
  /** Where ICMP errors for the senders of fragments go (the direction packets came from). */
  setReplyHandler(handler: PacketHandler): void {
    this.replyHandler = handler;
  }
  addr(): Prefix | undefined {
    return this.prefix;
  }
  setAddr(prefix: Prefix): void {
    this.prefix = prefix;
  }

  /** Datagrams currently in reassembly (including poisoned ones waiting out their timer). */
  get inFlight(): number {
    return this.count;
  }
  /** Bytes currently charged against the memory cap. */
  get memoryBytes(): number {
    return this.bytes;
  }

  send(pkt: Uint8Array): void {
    if (this.closed) return;
    this.lastMaxFragmentSize = 0;
    const version = pkt.length > 0 ? pkt[0] >> 4 : 0;
    if (version === 4) {
      // Fast path: flags/offset word without MF and offset → not a fragment.
      if (pkt.length >= 20 && (pkt[6] & 0x3f) === 0 && pkt[7] === 0) {
        this.stats.passedThrough++;
        this.handler(pkt);
        return;
      }
      this.fragment4(pkt);
    } else if (version === 6) {
      // Fast path: a next header that cannot lead to a Fragment header.
      const nh = pkt.length >= 40 ? pkt[6] : 0;
      if (pkt.length >= 40 && nh !== 0 && nh !== 43 && nh !== 44 && nh !== 60 && nh !== 51) {
        this.stats.passedThrough++;
        this.handler(pkt);
        return;
      }
      this.fragment6(pkt);
    } else {
      this.stats.dropMalformed++;
    }
  }

  /**
   * Expires datagrams whose timer ran out at `clock.now()`; sends ICMP time exceeded where the
   * first fragment was seen. O(expired). Returns how many datagrams expired.
   */
  maintain(): number {
    const now = this.clock.now();
    let n = 0;
    while (this.oldest !== null && this.oldest.expiresAt <= now) {
      const d = this.oldest;
      this.remove(d);
      n++;
      if (d.poisoned) continue; // already counted as an overlap drop
      this.stats.dropTimeout++;
      const icmpSent = this.timeExceeded(d);
      this.release(d);
      if (this.events.listenerCount('fragment-timeout') > 0) {
        this.events.emit('fragment-timeout', {
          version: d.version,
          src: d.version === 4 ? formatIpv4(d.src4) : formatIpv6(d.addrs!, 0),
          dst: d.version === 4 ? formatIpv4(d.dst4) : formatIpv6(d.addrs!, 16),
          protocol: d.protocol,
          id: d.id,
          receivedBytes: d.received,
          icmpSent,
        });
      }
    }
    return n;
  }

  /** Drops all state and stops the timer. Packets sent afterwards are ignored. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.table.clear();
    this.oldest = this.newest = null;
    this.count = 0;
    this.bytes = 0;
  }

  // ---- IPv4 ---------------------------------------------------------------------------------

  private fragment4(pkt: Uint8Array): void {
    const ip = this.v4;
    if (!ip.rebind(pkt)) {
      this.stats.dropMalformed++;
      return;
    }
    const hl = ip.headerLen;
    const start = ip.fragmentOffset;
    const len = ip.totalLength - hl;
    const more = ip.moreFragments;
    const proto = ip.protocol;
    if (more && (len === 0 || (len & 7) !== 0)) {
      this.stats.dropBadLength++;
      return;
    }
    // RFC 1858 §3: a TCP fragment at offset 8 bytes can overwrite the flags; and a first
    // fragment must hold the whole fixed transport header (RFC 3128 spirit for ports).
    if ((proto === 6 && start === 8) || (start === 0 && more && len < minTransportHeader(proto))) {
      this.stats.dropTiny++;
      return;
    }
    if (hl + start + len > MAX_DATAGRAM) {
      this.stats.dropTooLarge++;
      return;
    }
    this.maintain();
    const src = ip.src;
    const dst = ip.dst;
    const id = ip.identification;
    const hash =
      (Math.imul(src, 0x9e3779b1) ^ Math.imul(dst, 0x85ebca6b) ^ (id << 8) ^ proto ^ 0x4000_0000) >>> 0;
    let d = this.table.get(hash) ?? null;
    while (
      d !== null &&
      !(d.version === 4 && d.src4 === src && d.dst4 === dst && d.protocol === proto && d.id === id)
    ) {
      d = d.chainNext;
    }
    if (d === null) {
      d = this.create(hash, 4, proto, id);
      d.src4 = src;
      d.dst4 = dst;
    }
    if (d.poisoned) {
      this.stats.dropPoisoned++;
      return;
    }
    this.add(d, start, more, pkt, hl, hl, len, ip.totalLength);
  }

  // ---- IPv6 ---------------------------------------------------------------------------------

  private fragment6(pkt: Uint8Array): void {
    const ip = this.v6;
    const chain = this.chain;
    if (!ip.rebind(pkt) || !chain.parse(ip)) {
      this.stats.dropMalformed++;
      return;
    }
    if (!chain.isFragment) {
      // No Fragment header, or an atomic fragment (RFC 6946): process as a whole packet.
      this.stats.passedThrough++;
      this.handler(pkt);
      return;
    }
    const fh = chain.fragmentHeaderOffset;
    const dataStart = fh + IPV6_FRAGMENT_HEADER_LEN;
    const end = IPV6_HEADER_LEN + ip.payloadLength;
    const start = chain.fragmentOffset;
    const len = end - dataStart;
    const more = chain.moreFragments;
    if (more && (len === 0 || (len & 7) !== 0)) {
      this.stats.dropBadLength++;
      this.parameterProblem6(pkt, 4); // RFC 8200 §4.5: points at the Payload Length field
      return;
    }
    // RFC 7112: the first fragment carries the whole header chain through the upper-layer header.
    if (
      start === 0 &&
      (!chain.upperPresent || chain.upperOffset + minTransportHeader(chain.upperProtocol) > end)
    ) {
      this.stats.dropTiny++;
      return;
    }
    if (fh > RESERVE) {
      this.stats.dropTooLarge++; // an unfragmentable part this long is an evasion attempt, not traffic
      return;
    }
    // Unfragmentable part (everything before the Fragment header, minus the fixed header) +
    // fragmentable data must fit the 16-bit Payload Length (no jumbograms).
    if (fh - IPV6_HEADER_LEN + start + len > MAX_DATAGRAM) {
      this.stats.dropTooLarge++;
      this.parameterProblem6(pkt, fh + 2); // RFC 8200 §4.5: points at the Fragment Offset field
      return;
    }
    this.maintain();
    const id = chain.fragmentId;
    const proto = pkt[fh]; // Next Header of the Fragment header: first header of the fragmentable part
    let h = Math.imul(id, 0x9e3779b1) ^ proto;
    for (let i = 8; i < 40; i += 4)
      h = Math.imul(h ^ ((pkt[i] << 24) | (pkt[i + 1] << 16) | (pkt[i + 2] << 8) | pkt[i + 3]), 0x85ebca6b);
    const hash = h >>> 0;
    let d = this.table.get(hash) ?? null;
    while (
      d !== null &&
      !(d.version === 6 && d.id === id && d.protocol === proto && sameAddrs(d.addrs!, pkt))
    ) {
      d = d.chainNext;
    }
    if (d === null) {
      d = this.create(hash, 6, proto, id);
      d.addrs = pkt.slice(8, 40);
    }
    if (d.poisoned) {
      this.stats.dropPoisoned++;
      return;
    }
    if (start === 0) d.fragNext = pkt[fh];
    this.add(d, start, more, pkt, fh, dataStart, len, end);
  }

  // ---- shared -------------------------------------------------------------------------------

  private create(hash: number, version: 4 | 6, proto: number, id: number): Datagram {
    if (this.count >= this.maxDatagrams && this.oldest !== null) {
      this.stats.dropInFlightLimit++;
      const victim = this.oldest;
      this.remove(victim);
      this.release(victim);
    }
    const d = new Datagram(hash, version, proto, id, this.clock.now() + this.timeoutMs);
    d.chainNext = this.table.get(hash) ?? null;
    this.table.set(hash, d);
    d.older = this.newest;
    if (this.newest) this.newest.newer = d;
    else this.oldest = d;
    this.newest = d;
    this.count++;
    this.bytes += d.memory;
    return d;
  }

  private remove(d: Datagram): void {
    // Unlink from the hash chain.
    let p = this.table.get(d.hash) ?? null;
    if (p === d) {
      if (d.chainNext) this.table.set(d.hash, d.chainNext);
      else this.table.delete(d.hash);
    } else {
      while (p !== null && p.chainNext !== d) p = p.chainNext;
      if (p) p.chainNext = d.chainNext;
    }
    // Unlink from the age list.
    if (d.older) d.older.newer = d.newer;
    else this.oldest = d.newer;
    if (d.newer) d.newer.older = d.older;
    else this.newest = d.older;
    d.older = d.newer = d.chainNext = null;
    this.count--;
    this.bytes -= d.memory;
    d.memory = DATAGRAM_OVERHEAD;
  }

  /** Marks a datagram dropped: its data is freed; it stays (cheaply) to drop later fragments. */
  private poison(d: Datagram): void {
    d.poisoned = true;
    this.bytes -= d.memory - DATAGRAM_OVERHEAD;
    d.memory = DATAGRAM_OVERHEAD;
    d.starts = [];
    d.ends = [];
    this.release(d);
    d.headLen = 0;
  }

  /**
   * Stores fragment data `pkt[dataAt .. dataAt+len)` at offset `start`; for the offset-0 fragment
   * also the head `pkt[0 .. headLen)`. Completes the datagram when all data is there.
   */
  private add(
    d: Datagram,
    start: number,
    more: boolean,
    pkt: Uint8Array,
    headLen: number,
    dataAt: number,
    len: number,
    packetLen: number,
  ): void {
    const end = start + len;
    const starts = d.starts;
    const ends = d.ends;
    const n = starts.length;
    // The last fragment fixes the total; every fragment must agree with it.
    if (!more) {
      if ((d.total >= 0 && d.total !== end) || (n > 0 && end < ends[n - 1])) {
        this.stats.dropTooLarge++;
        this.poison(d);
        return;
      }
    } else if (d.total >= 0 && end > d.total) {
      this.stats.dropTooLarge++;
      this.poison(d);
      return;
    }
    // Insertion point (ranges sorted by start); check both neighbours for overlap.
    let i = n;
    while (i > 0 && starts[i - 1] > start) i--;
    if (i > 0 && starts[i - 1] === start && ends[i - 1] === end) {
      this.stats.duplicates++;
      return;
    }
    if ((i > 0 && ends[i - 1] > start) || (i < n && starts[i] < end)) {
      this.stats.dropOverlap++;
      this.poison(d);
      return;
    }
    if (n >= this.maxFragments) {
      this.stats.dropTooManyFragments++;
      this.poison(d);
      return;
    }
    if (!more) d.total = end;
    this.reserve(d, end, more);
    const buf = d.buf!;
    buf.set(pkt.subarray(dataAt, dataAt + len), RESERVE + start);
    if (start === 0) {
      buf.set(pkt.subarray(0, headLen), RESERVE - headLen);
      d.headLen = headLen;
    }
    starts.splice(i, 0, start);
    ends.splice(i, 0, end);
    this.stats.fragments++;
    d.received += len;
    d.memory += FRAGMENT_OVERHEAD;
    this.bytes += FRAGMENT_OVERHEAD;
    if (packetLen > d.maxFragmentSize) d.maxFragmentSize = packetLen;
    if (d.total >= 0 && d.received === d.total && d.headLen > 0) {
      this.complete(d);
      return;
    }
    if (this.bytes > this.high) this.evictToLow();
  }

  /**
   * Makes `d.buf` hold data up to `end`. Buffers come from a pool of power-of-two sizes, since
   * allocating an ArrayBuffer per datagram costs more than the whole reassembly.
   */
  private reserve(d: Datagram, end: number, more: boolean): void {
    const need = RESERVE + (d.total >= 0 ? d.total : end);
    const old = d.buf;
    if (old !== null && old.length >= need) return;
    // Without the total, guess twice the end seen so far: most datagrams are 2–3 fragments.
    const want = d.total >= 0 || !more ? need : RESERVE + end * 2;
    const buf = this.pool.take(Math.max(need, Math.min(want, RESERVE + MAX_DATAGRAM)));
    let delta = buf.length;
    if (old !== null) {
      buf.set(old);
      delta -= old.length;
      this.pool.give(old);
    }
    d.buf = buf;
    d.memory += delta;
    this.bytes += delta;
  }

  /** Above the high threshold, evicts the oldest datagrams (Linux behaviour) until at or below low. */
  private evictToLow(): void {
    while (this.bytes > this.low && this.oldest !== null) {
      this.stats.dropMemory++;
      const victim = this.oldest;
      this.remove(victim);
      this.release(victim);
    }
  }

  private complete(d: Datagram): void {
    this.remove(d);
    const buf = d.buf!;
    const hl = d.headLen;
    const out = buf.subarray(RESERVE - hl, RESERVE + d.total);
    if (d.version === 4) {
      // The first fragment's header, with the new length, MF and offset cleared, DF kept.
      const len = hl + d.total;
      out[2] = len >> 8;
      out[3] = len & 0xff;
      out[6] &= 0x40;
      out[7] = 0;
      if (this.v4.rebind(out)) this.v4.fillChecksum();
    } else {
      // The head is the unfragmentable part: point the Next Header that named the Fragment
      // header at the fragmentable part's first header, and fix Payload Length.
      out[nextHeaderFieldBefore(out, hl)] = d.fragNext;
      const payloadLen = out.length - IPV6_HEADER_LEN;
      out[4] = payloadLen >> 8;
      out[5] = payloadLen & 0xff;
    }
    this.stats.reassembled++;
    this.lastMaxFragmentSize = d.maxFragmentSize;
    this.handler(out);
    // The handler has returned; per the device contract it copied anything it keeps.
    this.release(d);
  }

  /** Returns a datagram's buffer to the pool. */
  private release(d: Datagram): void {
    if (d.buf !== null) {
      this.pool.give(d.buf);
      d.buf = null;
    }
  }

  /** The offset-0 fragment as it arrived (for the ICMP error on timeout), or null if it never did. */
  private firstFragment(d: Datagram): Uint8Array | null {
    if (d.headLen === 0 || d.buf === null || d.starts.length === 0 || d.starts[0] !== 0) return null;
    const buf = d.buf;
    const hl = d.headLen;
    const firstEnd = d.ends[0];
    if (d.version === 4) return buf.slice(RESERVE - hl, RESERVE + firstEnd);
    // Rebuild the Fragment header that storage left out.
    const f = new Uint8Array(hl + IPV6_FRAGMENT_HEADER_LEN + firstEnd);
    f.set(buf.subarray(RESERVE - hl, RESERVE), 0);
    f[hl] = d.fragNext;
    f[hl + 3] = 1; // offset 0, M = 1
    f[hl + 4] = d.id >>> 24;
    f[hl + 5] = (d.id >>> 16) & 0xff;
    f[hl + 6] = (d.id >>> 8) & 0xff;
    f[hl + 7] = d.id & 0xff;
    f.set(buf.subarray(RESERVE, RESERVE + firstEnd), hl + IPV6_FRAGMENT_HEADER_LEN);
    const pl = f.length - IPV6_HEADER_LEN;
    f[4] = pl >> 8;
    f[5] = pl & 0xff;
    return f;
  }

  /** ICMPv6 Parameter Problem code 0 about `pkt`, pointing at byte `pointer` (when a source is set). */
  private parameterProblem6(pkt: Uint8Array, pointer: number): void {
    const src = this.icmpSource6;
    if (src === undefined) return;
    const err = buildIcmpv6Error(pkt, { src, type: 4, code: 0, pointer });
    if (err === null) return; // e.g. about a multicast destination or an ICMPv6 error
    this.stats.icmpParameterProblem++;
    this.replyHandler(err);
  }

  private timeExceeded(d: Datagram): boolean {
    const src = d.version === 4 ? this.icmpSource4 : this.icmpSource6;
    if (src === undefined) return false;
    const first = this.firstFragment(d);
    if (first === null) return false;
    const err =
      d.version === 4
        ? buildIcmpv4Error(first, { src, type: 11, code: 1 })
        : buildIcmpv6Error(first, { src, type: 3, code: 1 });
    if (err === null) return false;
    this.stats.icmpTimeExceeded++;
    this.replyHandler(err);
    return true;
  }
}

/** Power-of-two buffers kept for reuse, a few per size; sizes from 4 KiB to 128 KiB. */
class BufferPool {
  private readonly free: Uint8Array[][] = [[], [], [], [], [], []];
  private static readonly MIN_SHIFT = 12;
  private static readonly KEEP = 32;

  take(min: number): Uint8Array {
    let shift = BufferPool.MIN_SHIFT;
    while (1 << shift < min) shift++;
    const list = this.free[shift - BufferPool.MIN_SHIFT];
    return list !== undefined && list.length > 0 ? list.pop()! : new Uint8Array(1 << shift);
  }

  give(buf: Uint8Array): void {
    const shift = 31 - Math.clz32(buf.length);
    const list = this.free[shift - BufferPool.MIN_SHIFT];
    if (list !== undefined && list.length < BufferPool.KEEP && buf.length === 1 << shift) list.push(buf);
  }
}

/** Smallest first fragment that still holds the transport header needed for filtering. */
function minTransportHeader(proto: number): number {
  if (proto === 6) return 20;
  if (proto === 17 || proto === 1 || proto === 58) return 8;
  if (proto === 47) return 4;
  return 0;
}

function sameAddrs(addrs: Uint8Array, pkt: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (addrs[i] !== pkt[8 + i]) return false;
  return true;
}

/**
 * Offset of the Next Header field that names the header at `target` in an IPv6 packet whose
 * headers before `target` are intact (the fixed header and unfragmentable extension headers).
 */
function nextHeaderFieldBefore(b: Uint8Array, target: number): number {
  let field = 6;
  let o = IPV6_HEADER_LEN;
  let nh = b[6];
  while (o < target) {
    field = o;
    const len = nh === 51 ? (b[o + 1] + 2) << 2 : (b[o + 1] + 1) << 3;
    nh = b[o];
    o += len;
  }
  return field;
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0))
    throw new ConfigError('ERR_DEFRAG_OPTION', `Defragmenter: ${name} must be a positive number, got ${v}`);
  return v;
}

function checkSource(s: string | undefined, version: 4 | 6): string | undefined {
  if (s === undefined) return undefined;
  const p = Prefix.tryParse(s);
  if (p === null || p.version !== version || p.bits !== (version === 4 ? 32 : 128)) {
    throw new ConfigError(
      'ERR_DEFRAG_OPTION',
      `Defragmenter: icmpSource${version} must be an IPv${version} address, got ${JSON.stringify(s)}`,
    );
  }
  return s;
}
