/**
 * `VirtualHost`: a minimal IP host as an {@link L3Device}. It has an IPv4 and/or an IPv6
 * address, answers ICMP / ICMPv6 echo, pings, and offers UDP sockets. It has one interface and
 * no routing table: everything it sends goes to its handler (connect it to a hub or a pipe),
 * except packets to its own addresses, which loop back inside the host.
 *
 * Receiving (`send`): packets not addressed to the host are dropped (`notForUs`); fragments are
 * dropped (`fragments`, no reassembly); bad lengths and checksums are dropped and counted. UDP to
 * a port nobody bound answers ICMP port unreachable (3/3, ICMPv6 1/4); an unknown protocol
 * answers protocol unreachable (3/2) or ICMPv6 Parameter Problem 4/1. ICMP errors about the
 * host's own pings reject the ping; about its UDP datagrams they are emitted as `error` on the
 * sending socket. TCP comes with `@l3kit/stack`; here TCP is an unknown protocol.
 */
import {
  buildIcmpv4Error,
  buildIcmpv6Error,
  buildPacket,
  checksum,
  finishChecksum,
  formatIpv4,
  formatIpv6,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
  onesSum,
  Prefix,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  readIpv4,
} from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';
import { type Clock, systemClock } from './clock.js';
import { discard, type L3Device, type PacketHandler } from './device.js';
import { ClosedError, ConfigError, L3kitError } from './errors.js';
import type { Scheduler } from './impairment.js';

/** Counters of a {@link VirtualHost}. */
export interface VirtualHostStats {
  /** Packets delivered into the host (`send`). */
  received: number;
  /** Packets the host emitted. */
  sent: number;
  /** Packets the host sent to its own address (delivered internally, not emitted). */
  loopback: number;
  /** Dropped: lengths or header fields inconsistent with the buffer, unknown IP version. */
  malformed: number;
  /** Dropped: an IPv4 header, ICMP, ICMPv6 or UDP checksum was wrong. */
  badChecksum: number;
  /** Dropped: the destination is not one of the host's addresses. */
  notForUs: number;
  /** Dropped: a fragment (the host does not reassemble). */
  fragments: number;
  /** Dropped after sending protocol unreachable / parameter problem (and TCP, which lives in @l3kit/stack). */
  unsupportedProtocol: number;
  /** Echo requests answered. */
  echoRequests: number;
  /** Echo replies that matched a ping in flight. */
  echoReplies: number;
  /** ICMP / ICMPv6 errors received. */
  icmpErrors: number;
  /** ICMP messages ignored (unsolicited replies, neighbor discovery, unknown types). */
  icmpIgnored: number;
  /** UDP datagrams delivered to a socket. */
  udpDelivered: number;
  /** UDP datagrams to a port nobody bound (answered with port unreachable). */
  udpNoListener: number;
  /** Dropped: the host is closed. */
  closed: number;
}

/** Options of {@link VirtualHost}. */
export interface VirtualHostOptions {
  /** The host's address with its prefix length, e.g. `'10.0.0.1/24'` (IPv4 or IPv6). */
  addr: string | Prefix;
  /** An IPv6 address when `addr` is IPv4, e.g. `'2001:db8::1/64'`. */
  addr6?: string | Prefix;
  /** Time source for ping round-trip times. Default: the shared {@link SystemClock}. */
  clock?: Clock;
  /**
   * Runs ping timeouts (e.g. a `ManualScheduler` for deterministic tests). Default: a real
   * `setTimeout` that keeps the process alive while a ping is in flight.
   */
  scheduler?: Scheduler;
  /** TTL / hop limit of packets the host originates. Default 64. */
  ttl?: number;
  /** A name for logs and captures. Default: the first address. */
  name?: string;
}

/** Options of {@link VirtualHost.ping}. */
export interface PingOptions {
  /** Echo identifier (0..65535). Default: a per-host counter. */
  id?: number;
  /** Echo sequence number (0..65535). Default: a per-host counter. */
  seq?: number;
  /** Echo data bytes. Default 56 (like ping(8)). */
  size?: number;
  /** Milliseconds to wait for the reply. Default 1000. */
  timeoutMs?: number;
  /** TTL / hop limit of the request. Default: the host's. */
  ttl?: number;
}

/** Result of a successful {@link VirtualHost.ping}. */
export interface PingResult {
  /** Round-trip time by the host's clock, in milliseconds. */
  rttMs: number;
  /** The address that answered. */
  from: string;
  /** TTL / hop limit of the reply as received. */
  ttl: number;
  /** Echo data bytes in the reply. */
  bytes: number;
  id: number;
  seq: number;
}

/** A ping got no reply in time. `code` is `ERR_PING_TIMEOUT`. */
export class PingTimeoutError extends L3kitError {
  constructor(
    readonly target: string,
    readonly timeoutMs: number,
  ) {
    super('ERR_PING_TIMEOUT', `no echo reply from ${target} within ${timeoutMs} ms`);
    this.name = 'PingTimeoutError';
  }
}

/**
 * An ICMP / ICMPv6 error arrived about something the host sent (a ping, a UDP datagram).
 * `code`: `ERR_UNREACHABLE` (ICMP 3, ICMPv6 1), `ERR_TIME_EXCEEDED` (ICMP 11, ICMPv6 3) or
 * `ERR_ICMP` (any other error type).
 */
export class IcmpError extends L3kitError {
  constructor(
    /** Who sent the error (a router or the destination). */
    readonly from: string,
    /** ICMP or ICMPv6 type. */
    readonly icmpType: number,
    /** ICMP or ICMPv6 code. */
    readonly icmpCode: number,
    readonly family: 'IPv4' | 'IPv6',
  ) {
    const time = family === 'IPv4' ? icmpType === 11 : icmpType === 3;
    const unreach = family === 'IPv4' ? icmpType === 3 : icmpType === 1;
    const code = time ? 'ERR_TIME_EXCEEDED' : unreach ? 'ERR_UNREACHABLE' : 'ERR_ICMP';
    const what = time ? 'time exceeded' : unreach ? 'destination unreachable' : 'ICMP error';
    super(code, `${what} (${family === 'IPv4' ? 'ICMP' : 'ICMPv6'} ${icmpType}/${icmpCode}) from ${from}`);
    this.name = 'IcmpError';
  }
}

/** Sender of a received datagram (shaped like node:dgram's). */
export interface RemoteInfo {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  /** Data bytes. */
  size: number;
}

/** Events of a {@link UdpSocket}. */
export interface UdpSocketEvents {
  /** A datagram arrived; `data` is the socket's own copy. */
  message: [data: Uint8Array, rinfo: RemoteInfo];
  /** An ICMP error arrived about a datagram this socket sent. */
  error: [err: IcmpError];
  close: [];
}

/** Largest UDP payload over IPv4 (65535 − 20 − 8) and over IPv6 (65535 − 8). */
const MAX_UDP4 = 65507;
const MAX_UDP6 = 65527;
const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;
const encoder = new TextEncoder();

/** A UDP socket of a {@link VirtualHost}, bound to one port on all of its addresses. */
export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  private open = true;
  /** @param port the bound port. Create sockets with `host.udp.bind()`. */
  constructor(
    private readonly host: VirtualHost,
    readonly port: number,
    private readonly unbind: (s: UdpSocket) => void,
  ) {
    super();
  }

  /** Whether the socket is still open. */
  get isOpen(): boolean {
    return this.open;
  }

  /** The bound address and port. */
  address(): { port: number; address: string } {
    return { port: this.port, address: this.host.addr()?.address() ?? '' };
  }

  /**
   * Sends `data` (bytes, or a string as UTF-8) to `address`:`port` from this socket's port,
   * over IPv4 or IPv6 by the address. Throws {@link ClosedError} after `close()`, and
   * {@link ConfigError} for a bad port (`ERR_BAD_PORT`), a bad address or one of a family the
   * host has no address for (`ERR_BAD_ADDRESS`), or data too big for one datagram
   * (`ERR_MESSAGE_TOO_BIG`).
   */
  send(data: Uint8Array | string, port: number, address: string): void {
    if (!this.open) throw new ClosedError('UDP socket');
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new ConfigError('ERR_BAD_PORT', `UDP port must be 1..65535, got ${port}`);
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    const src = this.host.sourceFor(address);
    const max = src.includes(':') ? MAX_UDP6 : MAX_UDP4;
    if (bytes.length > max)
      throw new ConfigError('ERR_MESSAGE_TOO_BIG', `UDP payload of ${bytes.length} bytes exceeds ${max}`);
    this.host.emitPacket(
      buildPacket({
        src,
        dst: address,
        ttl: this.host.ttl,
        udp: { srcPort: this.port, dstPort: port },
        payload: bytes,
      }),
    );
  }

  /** Unbinds the port. Idempotent. Emits `close`. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.unbind(this);
    this.emit('close');
  }

  /** @internal Delivers a datagram (the host copies `data` first). */
  deliver(data: Uint8Array, rinfo: RemoteInfo): void {
    this.emit('message', data, rinfo);
  }
}

/** The UDP side of a {@link VirtualHost}. */
export interface VirtualHostUdp {
  /**
   * Binds `port` (default: a free ephemeral port, 49152–65535) on all of the host's addresses.
   * Throws {@link ConfigError} `ERR_PORT_IN_USE`, `ERR_BAD_PORT` or `ERR_NO_PORTS`, or
   * {@link ClosedError}.
   */
  bind(port?: number): UdpSocket;
}

interface PendingPing {
  family: 4 | 6;
  /** The pinged address in canonical text. */
  target: string;
  id: number;
  seq: number;
  sentAt: number;
  timer: { cancel(): void };
  resolve: (r: PingResult) => void;
  reject: (e: Error) => void;
}

/**
 * A minimal host: ICMP / ICMPv6 echo, ping and UDP sockets.
 *
 * ```ts
 * const a = new VirtualHost({ addr: '10.0.1.1/24', addr6: '2001:db8:1::1/64' });
 * const b = new VirtualHost({ addr: '10.0.2.1/24' });
 * hub.connectL3(a);
 * hub.connectL3(b);
 * const { rttMs } = await a.ping('10.0.2.1');
 * const sock = b.udp.bind(7);
 * sock.on('message', (data, r) => sock.send(data, r.port, r.address)); // echo
 * ```
 */
export class VirtualHost implements L3Device {
  /** Counters by outcome and drop reason. */
  readonly stats: VirtualHostStats = {
    received: 0,
    sent: 0,
    loopback: 0,
    malformed: 0,
    badChecksum: 0,
    notForUs: 0,
    fragments: 0,
    unsupportedProtocol: 0,
    echoRequests: 0,
    echoReplies: 0,
    icmpErrors: 0,
    icmpIgnored: 0,
    udpDelivered: 0,
    udpNoListener: 0,
    closed: 0,
  };
  /** UDP sockets. */
  readonly udp: VirtualHostUdp;
  /** TTL / hop limit of originated packets. */
  readonly ttl: number;
  /** Name for logs and captures. */
  readonly name: string;

  private readonly clock: Clock;
  private readonly scheduler: Scheduler | undefined;
  private handler: PacketHandler = discard;
  private closed = false;
  private a4: Prefix | undefined;
  private a4n = 0;
  private a6: Prefix | undefined;
  private readonly sockets = new Map<number, UdpSocket>();
  private nextEphemeral = EPHEMERAL_LOW;
  private readonly pings = new Map<string, PendingPing>();
  private nextPingId = 1;
  private nextPingSeq = 1;
  private readonly v4 = Ipv4Packet.empty();
  private readonly v6 = Ipv6Packet.empty();
  private readonly chain = new Ipv6HeaderChain();

  /** Throws {@link ConfigError} `ERR_BAD_ADDRESS` for bad or conflicting addresses, `ERR_BAD_OPTION` for a bad TTL. */
  constructor(opts: VirtualHostOptions) {
    const a = toPrefix(opts.addr, 'addr');
    this.setAddr(a);
    if (opts.addr6 !== undefined) {
      const a6 = toPrefix(opts.addr6, 'addr6');
      if (a6.version !== 6 || a.version !== 4)
        throw new ConfigError(
          'ERR_BAD_ADDRESS',
          'addr6 must be IPv6 and is only for a host whose addr is IPv4',
        );
      this.setAddr(a6);
    }
    const ttl = opts.ttl ?? 64;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)
      throw new ConfigError('ERR_BAD_OPTION', `ttl must be 1..255, got ${ttl}`);
    this.ttl = ttl;
    this.clock = opts.clock ?? systemClock();
    this.scheduler = opts.scheduler;
    this.name = opts.name ?? a.address();
    this.udp = { bind: (port?: number) => this.bind(port) };
  }

  // ---------------------------------------------------------------- L3Device

  /** Where the host emits packets (replies, pings, UDP datagrams, ICMP errors). */
  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }

  /** The IPv4 address if the host has one, else the IPv6 address. */
  addr(): Prefix | undefined {
    return this.a4 ?? this.a6;
  }

  /** The IPv6 address, if any. */
  addr6(): Prefix | undefined {
    return this.a6;
  }

  /** All addresses (IPv4 first). A hub routes each of them on `connectL3`. */
  addresses(): Prefix[] {
    const r: Prefix[] = [];
    if (this.a4) r.push(this.a4);
    if (this.a6) r.push(this.a6);
    return r;
  }

  /** Sets the IPv4 or the IPv6 address (by the prefix's family). */
  setAddr(prefix: Prefix): void {
    if (prefix.version === 4) {
      this.a4 = prefix;
      this.a4n = readIpv4(prefix.ip, 0);
    } else {
      this.a6 = prefix;
    }
  }

  /** Closes the host: sockets close, pings in flight reject with {@link ClosedError}, packets are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.sockets.values()]) s.close();
    for (const p of [...this.pings.values()]) {
      p.timer.cancel();
      p.reject(new ClosedError('VirtualHost'));
    }
    this.pings.clear();
    this.handler = discard;
  }

  /** A packet arrives at the host. Never throws for packet content. */
  send(pkt: Uint8Array): void {
    const s = this.stats;
    s.received++;
    if (this.closed) {
      s.closed++;
      return;
    }
    if (pkt.length === 0) {
      s.malformed++;
      return;
    }
    const v = pkt[0] >> 4;
    if (v === 4) this.receive4(pkt);
    else if (v === 6) this.receive6(pkt);
    else s.malformed++;
  }

  // ---------------------------------------------------------------- ping

  /**
   * Sends an echo request to `dst` (IPv4 or IPv6 text) and resolves with the round-trip time when
   * the matching reply arrives. Rejects with {@link PingTimeoutError} after `timeoutMs`, with
   * {@link IcmpError} when an ICMP error about the request comes back (e.g. time exceeded), and
   * with {@link ClosedError} when the host closes. Throws (synchronously) {@link ConfigError} for
   * a bad address or option, `ERR_PING_IN_FLIGHT` for a duplicate id/seq, and
   * {@link ClosedError} on a closed host.
   */
  ping(dst: string, opts: PingOptions = {}): Promise<PingResult> {
    if (this.closed) throw new ClosedError('VirtualHost');
    const src = this.sourceFor(dst);
    const family: 4 | 6 = src.includes(':') ? 6 : 4;
    const target = canonical(dst);
    const id = opts.id ?? this.nextPingId;
    const seq = opts.seq ?? this.nextPingSeq;
    const size = opts.size ?? 56;
    const timeoutMs = opts.timeoutMs ?? 1000;
    const ttl = opts.ttl ?? this.ttl;
    checkInt('id', id, 0, 0xffff);
    checkInt('seq', seq, 0, 0xffff);
    checkInt('size', size, 0, family === 4 ? 65507 : 65527);
    checkInt('ttl', ttl, 1, 255);
    if (!(timeoutMs >= 0))
      throw new ConfigError('ERR_BAD_OPTION', `timeoutMs must be >= 0, got ${timeoutMs}`);
    if (opts.id === undefined) this.nextPingId = (this.nextPingId + 1) & 0xffff || 1;
    if (opts.seq === undefined) this.nextPingSeq = (this.nextPingSeq + 1) & 0xffff;
    const key = pingKey(family, id, seq);
    if (this.pings.has(key))
      throw new ConfigError('ERR_PING_IN_FLIGHT', `a ping with id ${id} seq ${seq} is already in flight`);
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i + 0x10) & 0xff;
    const pkt =
      family === 4
        ? buildPacket({ src, dst, ttl, icmp: { type: 8, code: 0, identifier: id, sequence: seq, data } })
        : buildPacket({ src, dst, ttl, icmpv6: { type: 128, code: 0, identifier: id, sequence: seq, data } });
    return new Promise<PingResult>((resolve, reject) => {
      const timer = this.startTimer(timeoutMs, () => {
        this.pings.delete(key);
        reject(new PingTimeoutError(target, timeoutMs));
      });
      this.pings.set(key, { family, target, id, seq, sentAt: this.clock.now(), timer, resolve, reject });
      // Delivery is synchronous: the reply may arrive (and settle the promise) inside this call.
      try {
        this.emitPacket(pkt);
      } catch (e) {
        // A handler downstream threw: nothing is in flight any more.
        timer.cancel();
        this.pings.delete(key);
        throw e;
      }
    });
  }

  private startTimer(ms: number, fn: () => void): { cancel(): void } {
    if (this.scheduler) return this.scheduler.schedule(this.scheduler.clock.now() + ms, fn);
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  }

  // ---------------------------------------------------------------- internals used by sockets

  /** @internal The source address text for a destination, or throws `ERR_BAD_ADDRESS`. */
  sourceFor(dst: string): string {
    const p = Prefix.tryParse(dst);
    if (!p || dst.includes('/'))
      throw new ConfigError('ERR_BAD_ADDRESS', `not an IP address: ${JSON.stringify(dst)}`);
    const own = p.version === 4 ? this.a4 : this.a6;
    if (!own) throw new ConfigError('ERR_BAD_ADDRESS', `host ${this.name} has no IPv${p.version} address`);
    return own.address();
  }

  /**
   * @internal Emits a packet the host originated; a packet to one of the host's own addresses
   * is looped back into the host instead (like a kernel's loopback route).
   */
  emitPacket(pkt: Uint8Array): void {
    if (this.closed) return;
    const v = pkt[0] >> 4;
    if (
      (v === 4 && this.a4 !== undefined && readIpv4(pkt, 16) === this.a4n) ||
      (v === 6 && this.a6 !== undefined && sameBytes(this.a6.ip, pkt, 24))
    ) {
      this.stats.loopback++;
      this.send(pkt);
      return;
    }
    this.stats.sent++;
    this.handler(pkt);
  }

  private bind(port?: number): UdpSocket {
    if (this.closed) throw new ClosedError('VirtualHost');
    let p: number;
    if (port === undefined || port === 0) {
      p = -1;
      for (let i = 0; i <= EPHEMERAL_HIGH - EPHEMERAL_LOW; i++) {
        const c = this.nextEphemeral;
        this.nextEphemeral = c === EPHEMERAL_HIGH ? EPHEMERAL_LOW : c + 1;
        if (!this.sockets.has(c)) {
          p = c;
          break;
        }
      }
      if (p < 0) throw new ConfigError('ERR_NO_PORTS', 'no free ephemeral UDP port');
    } else {
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new ConfigError('ERR_BAD_PORT', `UDP port must be 1..65535, got ${port}`);
      if (this.sockets.has(port))
        throw new ConfigError('ERR_PORT_IN_USE', `UDP port ${port} is already bound`);
      p = port;
    }
    const sock = new UdpSocket(this, p, (s) => {
      if (this.sockets.get(s.port) === s) this.sockets.delete(s.port);
    });
    this.sockets.set(p, sock);
    return sock;
  }

  // ---------------------------------------------------------------- IPv4 receive

  private receive4(pkt: Uint8Array): void {
    const s = this.stats;
    const ip = this.v4;
    if (!ip.rebind(pkt)) {
      s.malformed++;
      return;
    }
    if (!ip.verifyChecksum()) {
      s.badChecksum++;
      return;
    }
    if (this.a4 === undefined || ip.dst !== this.a4n) {
      s.notForUs++;
      return;
    }
    if (ip.isFragment) {
      s.fragments++;
      return;
    }
    const off = ip.payloadOffset;
    const end = ip.off + ip.totalLength;
    const len = end - off;
    const proto = ip.protocol;
    if (proto === 1) {
      if (len < 8) {
        s.malformed++;
        return;
      }
      if (checksum(pkt, off, len) !== 0) {
        s.badChecksum++;
        return;
      }
      this.icmp4(pkt, ip.src, ip.ttl, off, end);
    } else if (proto === 17) {
      if (len < 8) {
        s.malformed++;
        return;
      }
      const ulen = (pkt[off + 4] << 8) | pkt[off + 5];
      if (ulen < 8 || ulen > len) {
        s.malformed++;
        return;
      }
      const ck = (pkt[off + 6] << 8) | pkt[off + 7];
      if (
        ck !== 0 &&
        finishChecksum(onesSum(pkt, off, ulen, pseudoHeaderSum4(pkt, ip.off, 17, ulen))) !== 0
      ) {
        s.badChecksum++;
        return;
      }
      this.udpIn(pkt, off, ulen, formatIpv4(ip.src), 'IPv4', end);
    } else {
      s.unsupportedProtocol++;
      this.error4(pkt.subarray(ip.off, end), 3, 2);
    }
  }

  private icmp4(pkt: Uint8Array, src: number, ttl: number, off: number, end: number): void {
    const s = this.stats;
    const type = pkt[off];
    const code = pkt[off + 1];
    if (type === 8 && code === 0) {
      s.echoRequests++;
      this.emitPacket(
        buildPacket({
          src: this.a4!.address(),
          dst: formatIpv4(src),
          ttl: this.ttl,
          icmp: {
            type: 0,
            code: 0,
            identifier: (pkt[off + 4] << 8) | pkt[off + 5],
            sequence: (pkt[off + 6] << 8) | pkt[off + 7],
            data: pkt.slice(off + 8, end),
          },
        }),
      );
    } else if (type === 0 && code === 0) {
      const id = (pkt[off + 4] << 8) | pkt[off + 5];
      const seq = (pkt[off + 6] << 8) | pkt[off + 7];
      this.echoReply(4, formatIpv4(src), id, seq, ttl, end - off - 8);
    } else if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) {
      s.icmpErrors++;
      // The quoted packet: an IPv4 header plus at least 8 bytes of its payload.
      const q = off + 8;
      if (end - q < 20 || pkt[q] >> 4 !== 4) return;
      const qhl = (pkt[q] & 0x0f) << 2;
      if (qhl < 20 || end - q < qhl + 8) return;
      if (readIpv4(pkt, q + 12) !== this.a4n) return; // not about something we sent
      const err = new IcmpError(formatIpv4(src), type, code, 'IPv4');
      const qp = q + qhl;
      const qproto = pkt[q + 9];
      if (qproto === 1 && pkt[qp] === 8) {
        this.echoFailed(
          4,
          formatIpv4(readIpv4(pkt, q + 16)),
          (pkt[qp + 4] << 8) | pkt[qp + 5],
          (pkt[qp + 6] << 8) | pkt[qp + 7],
          err,
        );
      } else if (qproto === 17) {
        this.sockets.get((pkt[qp] << 8) | pkt[qp + 1])?.emit('error', err);
      }
    } else {
      s.icmpIgnored++;
    }
  }

  private error4(original: Uint8Array, type: number, code: number): void {
    const out = buildIcmpv4Error(original, { src: this.a4!.address(), type, code, ttl: this.ttl });
    if (out) this.emitPacket(out);
  }

  // ---------------------------------------------------------------- IPv6 receive

  private receive6(pkt: Uint8Array): void {
    const s = this.stats;
    const ip = this.v6;
    if (!ip.rebind(pkt)) {
      s.malformed++;
      return;
    }
    const own = this.a6;
    if (own === undefined || !sameBytes(own.ip, pkt, ip.dstOffset)) {
      s.notForUs++;
      return;
    }
    const c = this.chain;
    if (!c.parse(ip)) {
      s.malformed++;
      return;
    }
    if (c.isFragment || !c.upperPresent) {
      s.fragments++;
      return;
    }
    const off = c.upperOffset;
    const end = c.end;
    const len = end - off;
    const proto = c.upperProtocol;
    const srcText = formatIpv6(pkt, ip.srcOffset);
    if (proto === 58) {
      if (len < 8) {
        s.malformed++;
        return;
      }
      if (finishChecksum(onesSum(pkt, off, len, pseudoHeaderSum6(pkt, ip.off, 58, len))) !== 0) {
        s.badChecksum++;
        return;
      }
      this.icmp6(pkt, srcText, ip.hopLimit, off, end);
    } else if (proto === 17) {
      if (len < 8) {
        s.malformed++;
        return;
      }
      const ulen = (pkt[off + 4] << 8) | pkt[off + 5];
      if (ulen < 8 || ulen > len) {
        s.malformed++;
        return;
      }
      // Over IPv6 the UDP checksum is mandatory (RFC 8200 §8.1): 0 is invalid.
      const ck = (pkt[off + 6] << 8) | pkt[off + 7];
      if (
        ck === 0 ||
        finishChecksum(onesSum(pkt, off, ulen, pseudoHeaderSum6(pkt, ip.off, 17, ulen))) !== 0
      ) {
        s.badChecksum++;
        return;
      }
      this.udpIn(pkt, off, ulen, srcText, 'IPv6', end);
    } else if (proto === 59) {
      // No Next Header: nothing to deliver.
      s.icmpIgnored++;
    } else {
      s.unsupportedProtocol++;
      this.error6(pkt.subarray(ip.off, end), 4, 1, c.nextHeaderFieldOffset - ip.off);
    }
  }

  private icmp6(pkt: Uint8Array, src: string, hop: number, off: number, end: number): void {
    const s = this.stats;
    const type = pkt[off];
    const code = pkt[off + 1];
    if (type === 128 && code === 0) {
      s.echoRequests++;
      this.emitPacket(
        buildPacket({
          src: this.a6!.address(),
          dst: src,
          ttl: this.ttl,
          icmpv6: {
            type: 129,
            code: 0,
            identifier: (pkt[off + 4] << 8) | pkt[off + 5],
            sequence: (pkt[off + 6] << 8) | pkt[off + 7],
            data: pkt.slice(off + 8, end),
          },
        }),
      );
    } else if (type === 129 && code === 0) {
      this.echoReply(
        6,
        src,
        (pkt[off + 4] << 8) | pkt[off + 5],
        (pkt[off + 6] << 8) | pkt[off + 7],
        hop,
        end - off - 8,
      );
    } else if (type < 128) {
      s.icmpErrors++;
      const q = off + 8;
      if (end - q < 48 || pkt[q] >> 4 !== 6) return;
      if (!sameBytes(this.a6!.ip, pkt, q + 8)) return; // not about something we sent
      const err = new IcmpError(src, type, code, 'IPv6');
      const qnh = pkt[q + 6]; // quoted packets with extension headers are not followed
      const qp = q + 40;
      if (qnh === 58 && pkt[qp] === 128) {
        this.echoFailed(
          6,
          formatIpv6(pkt, q + 24),
          (pkt[qp + 4] << 8) | pkt[qp + 5],
          (pkt[qp + 6] << 8) | pkt[qp + 7],
          err,
        );
      } else if (qnh === 17) {
        this.sockets.get((pkt[qp] << 8) | pkt[qp + 1])?.emit('error', err);
      }
    } else {
      // Neighbor discovery, MLD, unknown informational messages: nothing to do at layer 3.
      s.icmpIgnored++;
    }
  }

  private error6(original: Uint8Array, type: number, code: number, pointer = 0): void {
    const out = buildIcmpv6Error(original, {
      src: this.a6!.address(),
      type,
      code,
      pointer,
      hopLimit: this.ttl,
    });
    if (out) this.emitPacket(out);
  }

  // ---------------------------------------------------------------- shared

  private udpIn(
    pkt: Uint8Array,
    off: number,
    ulen: number,
    src: string,
    family: 'IPv4' | 'IPv6',
    end: number,
  ): void {
    const s = this.stats;
    const dstPort = (pkt[off + 2] << 8) | pkt[off + 3];
    const sock = this.sockets.get(dstPort);
    if (!sock) {
      s.udpNoListener++;
      const start = family === 'IPv4' ? this.v4.off : this.v6.off;
      if (family === 'IPv4') this.error4(pkt.subarray(start, end), 3, 3);
      else this.error6(pkt.subarray(start, end), 1, 4);
      return;
    }
    s.udpDelivered++;
    const data = pkt.slice(off + 8, off + ulen);
    sock.deliver(data, { address: src, port: (pkt[off] << 8) | pkt[off + 1], family, size: data.length });
  }

  private echoReply(family: 4 | 6, from: string, id: number, seq: number, ttl: number, bytes: number): void {
    const key = pingKey(family, id, seq);
    const p = this.pings.get(key);
    if (!p || p.target !== from) {
      this.stats.icmpIgnored++;
      return;
    }
    this.stats.echoReplies++;
    this.pings.delete(key);
    p.timer.cancel();
    p.resolve({ rttMs: this.clock.now() - p.sentAt, from, ttl, bytes, id, seq });
  }

  private echoFailed(family: 4 | 6, target: string, id: number, seq: number, err: IcmpError): void {
    const key = pingKey(family, id, seq);
    const p = this.pings.get(key);
    if (!p || p.target !== target) return;
    this.pings.delete(key);
    p.timer.cancel();
    p.reject(err);
  }

  toString(): string {
    return `VirtualHost(${this.addresses().join(', ')})`;
  }
}

function sameBytes(addr: Uint8Array, b: Uint8Array, off: number): boolean {
  for (let i = 0; i < addr.length; i++) if (b[off + i] !== addr[i]) return false;
  return true;
}

function pingKey(family: 4 | 6, id: number, seq: number): string {
  return `${family}:${id}:${seq}`;
}

function canonical(addr: string): string {
  const p = Prefix.parse(addr);
  return p.address();
}

function toPrefix(v: string | Prefix, what: string): Prefix {
  if (typeof v !== 'string') return v;
  const p = Prefix.tryParse(v);
  if (!p) throw new ConfigError('ERR_BAD_ADDRESS', `${what}: not an address/prefix: ${JSON.stringify(v)}`);
  return p;
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new ConfigError('ERR_BAD_OPTION', `${name} must be an integer in ${min}..${max}, got ${v}`);
}
