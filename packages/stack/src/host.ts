/**
 * `VirtualHost`: an IP host in an l3kit topology. It is an {@link L3Device} (attach it with
 * `connectL3(host, nat.inside())`) with an IPv4 and/or IPv6 address, ICMP echo, UDP and TCP.
 *
 * Re-entrancy: delivery between devices is synchronous, so a packet the host emits can make the
 * peer answer before the emitting call returns. The host therefore queues packets that arrive
 * while it is busy (processing a packet, running an API call or a timer) and processes them when
 * the outermost call finishes, so recursion depth stays bounded however long a transfer runs.
 * Socket events (`'connect'`, data, end, errors, `'connection'`, `'message'`) are delivered on
 * `process.nextTick` after the packet that caused them, never inside the call that caused them
 * (as with Node's own sockets).
 */
import {
  type Clock,
  ClosedError,
  ConfigError,
  defaultScheduler,
  discard,
  type L3Device,
  type PacketHandler,
  type Scheduler,
} from '@l3kit/core';
import { Ipv4Packet, Prefix, parseIp } from '@l3kit/wire';
import { IcmpLayer, type PingOptions, type PingResult } from './icmp.js';
import { copyBytes, IPV4_HEADER, IPV6_HEADER, type IpLayer, writeIpv4Header, writeIpv6Header } from './ip.js';
import type { TcpConfig } from './tcp/connection.js';
import { TcpLayer } from './tcp/tcp.js';
import { UdpLayer } from './udp.js';

/** Options of {@link VirtualHost}. */
export interface VirtualHostOptions {
  /** IPv4 interface address with prefix, e.g. `192.168.1.10/24`. */
  addr?: string | Prefix;
  /** IPv4 default gateway. Without one, only on-link IPv4 destinations are reachable. */
  gateway?: string;
  /** IPv6 interface address with prefix, e.g. `2001:db8::10/64`. */
  addr6?: string | Prefix;
  /** IPv6 default gateway. */
  gateway6?: string;
  /** Time source. Default: the system clock (or the scheduler's clock). */
  clock?: Clock;
  /**
   * Timer source for retransmission, delayed ACK, keep-alive, TIME-WAIT and ping timeouts.
   * Default: a `ManualScheduler` when `clock` is a `ManualClock` (drive it with
   * `host.scheduler.advance(ms)`), else a `TimerScheduler` (unref'd `setTimeout`s).
   */
  scheduler?: Scheduler;
  /** Interface MTU (68–65535). Default 1500. TCP's MSS follows from it. */
  mtu?: number;
  /** TCP tunables (buffer sizes, RTO bounds, timers). */
  tcp?: Partial<TcpConfig>;
}

/** Counters of a host's IP layer: packets in / out and drops by reason. */
export interface HostStats {
  packetsIn: number;
  packetsOut: number;
  /** Looped back to the host itself. */
  loopback: number;
  /** Arrived while the host was busy (an answer to its own output) and were queued (copied). */
  queued: number;
  drops: {
    /** Too short, bad version, bad lengths. */
    malformed: number;
    /** IPv4 header checksum wrong. */
    badChecksum: number;
    /** Destination is not one of this host's addresses. */
    notForHost: number;
    /** Fragments (the host does not reassemble). */
    fragment: number;
    /** A protocol the host does not speak. */
    unknownProtocol: number;
    /** The host is closed. */
    closed: number;
    /** An exception escaped a handler; rethrown asynchronously. */
    handlerError: number;
  };
}

interface Deferred {
  flushEvents(): void;
}

function toPrefix(v: string | Prefix | undefined, family: 4 | 6, what: string): Prefix | undefined {
  if (v === undefined) return undefined;
  const p = typeof v === 'string' ? Prefix.tryParse(v) : v;
  if (!p || p.version !== family)
    throw new ConfigError('ERR_BAD_PREFIX', `VirtualHost: bad ${what}: ${String(v)}`);
  return p;
}

function toAddr(v: string | undefined, family: 4 | 6, what: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  const b = parseIp(v);
  if (!b || b.length !== (family === 4 ? 4 : 16))
    throw new ConfigError('ERR_BAD_ADDRESS', `VirtualHost: bad ${what}: ${v}`);
  return b;
}

/**
 * A virtual IP host with a userspace TCP/UDP/ICMP stack.
 *
 * ```ts
 * const a = new VirtualHost({ addr: '10.0.0.1/24' });
 * const b = new VirtualHost({ addr: '10.0.0.2/24' });
 * connectL3(a, b);
 * b.tcp.listen(80, (s) => s.end('hello'));
 * a.tcp.connect({ host: '10.0.0.2', port: 80 }).on('data', (d) => console.log(String(d)));
 * ```
 */
export class VirtualHost implements L3Device, IpLayer {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly mtu: number;
  /** TCP: `listen(port, onConnection)`, `connect({ host, port })`. */
  readonly tcp: TcpLayer;
  /** UDP: `bind(port)`. */
  readonly udp: UdpLayer;
  /** ICMP counters (echo and errors). */
  readonly icmp: IcmpLayer;
  readonly stats: HostStats = {
    packetsIn: 0,
    packetsOut: 0,
    loopback: 0,
    queued: 0,
    drops: {
      malformed: 0,
      badChecksum: 0,
      notForHost: 0,
      fragment: 0,
      unknownProtocol: 0,
      closed: 0,
      handlerError: 0,
    },
  };

  private handler: PacketHandler = discard;
  private prefix4: Prefix | undefined;
  private addr4: Uint8Array | undefined;
  private prefix6: Prefix | undefined;
  private addr6b: Uint8Array | undefined;
  private readonly gw4: Uint8Array | undefined;
  private readonly gw6: Uint8Array | undefined;
  private closed = false;
  private depth = 0;
  private inQueue: Uint8Array[] = [];
  private inHead = 0;
  private deferred: Deferred[] = [];
  private deferredHead = 0;
  private flushScheduled = false;
  private idleWork: Array<() => void> = [];
  private runningIdle = false;
  private ipId = 0;
  private readonly v4 = Ipv4Packet.empty();

  constructor(opts: VirtualHostOptions = {}) {
    this.prefix4 = toPrefix(opts.addr, 4, 'addr');
    this.prefix6 = toPrefix(opts.addr6, 6, 'addr6');
    if (!this.prefix4 && !this.prefix6)
      throw new ConfigError('ERR_NO_ADDRESS', 'VirtualHost: addr or addr6 is required');
    this.addr4 = this.prefix4 ? Uint8Array.from(this.prefix4.ip) : undefined;
    this.addr6b = this.prefix6 ? Uint8Array.from(this.prefix6.ip) : undefined;
    this.gw4 = toAddr(opts.gateway, 4, 'gateway');
    this.gw6 = toAddr(opts.gateway6, 6, 'gateway6');
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
      throw new ConfigError('ERR_BAD_MTU', `VirtualHost: mtu must be 68..65535, got ${opts.mtu}`);
    if (this.prefix6 && mtu < 1280)
      throw new ConfigError('ERR_BAD_MTU', 'VirtualHost: IPv6 needs an MTU of at least 1280');
    this.mtu = mtu;
    this.scheduler = defaultScheduler(opts.clock ?? opts.scheduler?.clock, opts.scheduler);
    this.clock = opts.clock ?? this.scheduler.clock;
    this.tcp = new TcpLayer(this, opts.tcp ?? {}, (f) => (f === 4 ? this.addr4 : this.addr6b));
    this.icmp = new IcmpLayer(this, (f, q, off, kind) => this.tcp.unreachable(f, q, off, kind));
    this.udp = new UdpLayer(this, (f, p) => this.icmp.portUnreachable(f, p));
  }

  // --- L3Device ------------------------------------------------------------------------------

  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }

  /** The IPv4 prefix if configured, else the IPv6 one. */
  addr(): Prefix | undefined {
    return this.prefix4 ?? this.prefix6;
  }

  /** The IPv6 prefix, if configured. */
  addr6(): Prefix | undefined {
    return this.prefix6;
  }

  /** Sets the IPv4 or IPv6 address (by the prefix's family). Existing connections keep theirs. */
  setAddr(prefix: Prefix): void {
    if (prefix.version === 4) {
      this.prefix4 = prefix;
      this.addr4 = Uint8Array.from(prefix.ip);
    } else {
      this.prefix6 = prefix;
      this.addr6b = Uint8Array.from(prefix.ip);
    }
  }

  /** Delivers one IP packet to the host. Never throws; bad packets are dropped and counted. */
  send(pkt: Uint8Array): void {
    if (this.closed) {
      this.stats.drops.closed++;
      return;
    }
    if (this.depth > 0) {
      // Busy (an answer to something we are emitting): process after the current work.
      this.stats.queued++;
      this.inQueue.push(copyBytes(pkt));
      return;
    }
    this.depth++;
    try {
      this.receive(pkt);
      this.drain();
    } finally {
      this.depth--;
    }
    if (this.idleWork.length > 0) this.runIdleWork();
  }

  /** Aborts all connections (RST), closes sockets and listeners; later packets are dropped. */
  close(): void {
    if (this.closed) return;
    this.tcp.closeAll();
    this.udp.closeAll();
    this.icmp.closeAll();
    this.closed = true;
    this.inQueue = [];
    this.inHead = 0;
  }

  /** Sends an ICMP / ICMPv6 echo request; resolves with the round-trip time. */
  ping(address: string, opts?: PingOptions): Promise<PingResult> {
    if (this.closed) return Promise.reject(new ClosedError('VirtualHost'));
    return this.icmp.ping(address, opts);
  }

  // --- IpLayer -------------------------------------------------------------------------------

  /** @internal */
  enter(): void {
    this.depth++;
  }

  /** @internal */
  leave(): void {
    if (this.depth === 1) {
      try {
        this.drain();
      } finally {
        this.depth--;
      }
      if (this.idleWork.length > 0) this.runIdleWork();
      return;
    }
    this.depth--;
  }

  /** @internal */
  whenIdle(fn: () => void): void {
    this.idleWork.push(fn);
    if (this.depth === 0) this.runIdleWork();
  }

  /**
   * Runs work that must happen outside the stack (depth 0), so that what the peer answers
   * synchronously is processed at once instead of being queued (and copied).
   */
  private runIdleWork(): void {
    if (this.runningIdle) return;
    this.runningIdle = true;
    try {
      for (let i = 0; i < this.idleWork.length; i++) this.idleWork[i]();
    } finally {
      this.idleWork = [];
      this.runningIdle = false;
    }
  }

  /** @internal */
  defer(target: Deferred): void {
    this.deferred.push(target);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushDeferred);
    }
  }

  /** @internal */
  allocPacket(
    family: 4 | 6,
    proto: number,
    src: Uint8Array,
    dst: Uint8Array,
    l4Len: number,
    uninitialized = false,
  ): Uint8Array {
    if (family === 4) {
      const pkt = newPacket(IPV4_HEADER + l4Len, uninitialized);
      this.ipId = (this.ipId + 1) & 0xffff;
      writeIpv4Header(pkt, proto, src, dst, l4Len, this.ipId, true);
      return pkt;
    }
    const pkt = newPacket(IPV6_HEADER + l4Len, uninitialized);
    writeIpv6Header(pkt, proto, src, dst, l4Len);
    return pkt;
  }

  /** @internal */
  output(pkt: Uint8Array): void {
    if (this.closed) return;
    this.stats.packetsOut++;
    const v = pkt[0] >> 4;
    const own = v === 4 ? this.addr4 : this.addr6b;
    if (own && sameBytes(own, pkt, v === 4 ? 16 : 24)) {
      this.stats.loopback++;
      if (this.depth === 0) this.send(pkt);
      else this.inQueue.push(pkt);
      return;
    }
    try {
      this.handler(pkt);
    } catch (e) {
      this.stats.drops.handlerError++;
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /** @internal */
  sourceFor(dst: Uint8Array): Uint8Array | null {
    if (dst.length === 4) {
      if (!this.addr4 || !this.prefix4) return null;
      if (this.gw4 || this.prefix4.containsBytes(dst) || sameBytes(this.addr4, dst, 0)) return this.addr4;
      return null;
    }
    if (!this.addr6b || !this.prefix6) return null;
    if (this.gw6 || this.prefix6.containsBytes(dst) || sameBytes(this.addr6b, dst, 0)) return this.addr6b;
    return null;
  }

  // --- internals -----------------------------------------------------------------------------

  /** Processes queued packets until none is left. */
  private drain(): void {
    while (this.inHead < this.inQueue.length) {
      const p = this.inQueue[this.inHead];
      this.inQueue[this.inHead++] = EMPTY;
      if (this.inHead === this.inQueue.length) {
        this.inQueue = [];
        this.inHead = 0;
      }
      this.receive(p);
    }
  }

  /**
   * Delivers deferred socket events (on `process.nextTick`, so that, as with Node's sockets, no
   * event fires inside the call that caused it).
   */
  private flushDeferred = (): void => {
    this.flushScheduled = false;
    this.enter();
    try {
      while (this.deferredHead < this.deferred.length) {
        const d = this.deferred[this.deferredHead++];
        if (this.deferredHead === this.deferred.length) {
          this.deferred = [];
          this.deferredHead = 0;
        }
        try {
          d.flushEvents();
        } catch (e) {
          // User code threw from an event handler: surface it like Node would (uncaught).
          this.stats.drops.handlerError++;
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    } finally {
      this.leave();
    }
  };

  private receive(pkt: Uint8Array): void {
    if (this.closed) {
      this.stats.drops.closed++;
      return;
    }
    this.stats.packetsIn++;
    const d = this.stats.drops;
    if (pkt.length < 1) {
      d.malformed++;
      return;
    }
    const v = pkt[0] >> 4;
    if (v === 4) {
      const view = this.v4;
      if (!view.rebind(pkt, 0, pkt.length)) {
        d.malformed++;
        return;
      }
      if (!view.verifyChecksum()) {
        d.badChecksum++;
        return;
      }
      if (!this.addr4 || !sameBytes(this.addr4, pkt, 16)) {
        d.notForHost++;
        return;
      }
      if (view.isFragment) {
        d.fragment++;
        return;
      }
      const hl = view.headerLen;
      const l4Len = view.totalLength - hl;
      this.dispatch(4, view.protocol, pkt, 12, 16, hl, l4Len);
      return;
    }
    if (v === 6) {
      if (pkt.length < IPV6_HEADER) {
        d.malformed++;
        return;
      }
      const end = IPV6_HEADER + ((pkt[4] << 8) | pkt[5]);
      if (end > pkt.length) {
        d.malformed++;
        return;
      }
      if (!this.addr6b || !sameBytes(this.addr6b, pkt, 24)) {
        d.notForHost++;
        return;
      }
      let next = pkt[6];
      let off = IPV6_HEADER;
      // Skip hop-by-hop (0), routing (43, segments left 0 only) and destination options (60).
      while (next === 0 || next === 43 || next === 60 || next === 44) {
        if (off + 8 > end) {
          d.malformed++;
          return;
        }
        if (next === 44) {
          d.fragment++;
          return;
        }
        if (next === 43 && pkt[off + 3] !== 0) {
          d.unknownProtocol++;
          return;
        }
        const nh = pkt[off];
        off += (pkt[off + 1] + 1) * 8;
        next = nh;
      }
      if (off > end) {
        d.malformed++;
        return;
      }
      this.dispatch(6, next, pkt, 8, 24, off, end - off);
      return;
    }
    d.malformed++;
  }

  private dispatch(
    family: 4 | 6,
    proto: number,
    pkt: Uint8Array,
    srcOff: number,
    dstOff: number,
    l4Off: number,
    l4Len: number,
  ): void {
    if (proto === 6) {
      this.tcp.input(family, pkt, srcOff, l4Off, l4Len);
      return;
    }
    if (proto === 17) {
      this.udp.input(family, pkt, srcOff, l4Off, l4Len);
      return;
    }
    if ((family === 4 && proto === 1) || (family === 6 && proto === 58)) {
      this.icmp.input(family, pkt, srcOff, dstOff, l4Off, l4Len);
      return;
    }
    this.stats.drops.unknownProtocol++;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A packet buffer of `n` bytes: a plain `Uint8Array` over its own `ArrayBuffer` (offset 0, exact
 * length). Large buffers the caller fills completely skip the zero fill.
 */
function newPacket(n: number, uninitialized: boolean): Uint8Array {
  if (uninitialized && n >= 2048) return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
  return new Uint8Array(n);
}

function sameBytes(a: Uint8Array, b: Uint8Array, off: number): boolean {
  if (off + a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[off + i]) return false;
  return true;
}
