/**
 * UDP (RFC 768) for virtual hosts: `host.udp.bind(port)` gives a socket shaped like
 * `dgram.Socket` (`send(data, port, address)`, `'message'` events, `close()`).
 */

import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ConfigError } from '@l3kit/core';
import { finishChecksum, formatIp, onesSum, parseIp, pseudoHeaderSum4, pseudoHeaderSum6 } from '@l3kit/wire';
import { AddressInUseError, SocketError } from './errors.js';
import { type IpLayer, ipHeaderLen } from './ip.js';

const UDP_HEADER = 8;

/** Where a datagram came from, as `dgram`'s `rinfo`. */
export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

/** Events of a {@link UdpSocket}. */
export interface UdpSocketEvents {
  message: [msg: Buffer, rinfo: RemoteInfo];
  error: [err: Error];
  close: [];
}

/** Counters of a host's UDP layer. */
export interface UdpStats {
  datagramsIn: number;
  datagramsOut: number;
  /** Dropped: checksum wrong (or zero over IPv6). */
  badChecksum: number;
  /** Dropped: length field inconsistent. */
  malformed: number;
  /** Datagrams for unbound ports (answered with ICMP port unreachable). */
  noPort: number;
}

/** A bound UDP port of a virtual host. */
export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  private closed = false;

  /** @internal Created by `host.udp.bind`. */
  constructor(
    private readonly layer: UdpLayer,
    /** The bound port. */
    readonly port: number,
  ) {
    super();
  }

  /** Like `dgram.Socket#address()`. */
  address(): { port: number } {
    return { port: this.port };
  }

  /**
   * Sends one datagram to `address:port`. Errors (unreachable network, too large for the MTU,
   * closed socket) go to `cb`, or are emitted as `'error'` when there is no callback.
   */
  send(data: Uint8Array | string, port: number, address: string, cb?: (err: Error | null) => void): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const err = this.closed
      ? new SocketError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'send')
      : this.layer.sendFrom(this.port, bytes, port, address);
    if (cb) queueMicrotask(() => cb(err));
    else if (err) queueMicrotask(() => this.emit('error', err));
  }

  /** Unbinds the port and emits `'close'`. */
  close(cb?: () => void): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unbind(this);
    queueMicrotask(() => {
      this.emit('close');
      cb?.();
    });
  }

  /** @internal */
  deliver(msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.closed) this.emit('message', msg, rinfo);
  }
}

/** `host.udp`: binds ports. */
export class UdpLayer {
  readonly stats: UdpStats = { datagramsIn: 0, datagramsOut: 0, badChecksum: 0, malformed: 0, noPort: 0 };
  private readonly sockets = new Map<number, UdpSocket>();

  /** @internal Created by the host. */
  constructor(
    private readonly ip: IpLayer,
    private readonly portUnreachable: (family: 4 | 6, pkt: Uint8Array) => void,
  ) {}

  /** Binds `port` (0 or omitted: an ephemeral port). Throws `EADDRINUSE` when taken. */
  bind(port = 0): UdpSocket {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ConfigError('ERR_BAD_PORT', `udp.bind: port must be 0..65535, got ${port}`);
    let p = port;
    if (p === 0) {
      const start = randomInt(16384);
      for (let i = 0; i < 16384; i++) {
        const c = 49152 + ((start + i) % 16384);
        if (!this.sockets.has(c)) {
          p = c;
          break;
        }
      }
      if (p === 0) throw new AddressInUseError('udp.bind(0): no ephemeral port left');
    } else if (this.sockets.has(p)) throw new AddressInUseError(`udp.bind(${p})`);
    const s = new UdpSocket(this, p);
    this.sockets.set(p, s);
    return s;
  }

  /** @internal */
  unbind(s: UdpSocket): void {
    if (this.sockets.get(s.port) === s) this.sockets.delete(s.port);
  }

  /** Closes every socket. */
  closeAll(): void {
    for (const s of [...this.sockets.values()]) s.close();
  }

  /** @internal Builds and emits a datagram; returns an error instead of throwing. */
  sendFrom(srcPort: number, data: Uint8Array, port: number, address: string): Error | null {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      return new SocketError('ERR_SOCKET_BAD_PORT', 'send', address, port);
    const dst = parseIp(address);
    if (!dst) return new SocketError('EINVAL', 'send', address, port);
    const family = dst.length === 4 ? 4 : 6;
    const src = this.ip.sourceFor(dst);
    if (!src) return new SocketError('ENETUNREACH', 'send', address, port);
    const l4Len = UDP_HEADER + data.length;
    if (ipHeaderLen(family) + l4Len > this.ip.mtu) return new SocketError('EMSGSIZE', 'send', address, port);
    this.ip.enter();
    try {
      const pkt = this.ip.allocPacket(family, 17, src, dst, l4Len);
      const o = ipHeaderLen(family);
      pkt[o] = srcPort >>> 8;
      pkt[o + 1] = srcPort & 0xff;
      pkt[o + 2] = port >>> 8;
      pkt[o + 3] = port & 0xff;
      pkt[o + 4] = l4Len >>> 8;
      pkt[o + 5] = l4Len & 0xff;
      pkt.set(data, o + UDP_HEADER);
      const ps = family === 4 ? pseudoHeaderSum4(pkt, 0, 17, l4Len) : pseudoHeaderSum6(pkt, 0, 17, l4Len);
      let ck = finishChecksum(onesSum(pkt, o, l4Len, ps));
      if (ck === 0) ck = 0xffff; // RFC 768: a computed zero is sent as all ones
      pkt[o + 6] = ck >>> 8;
      pkt[o + 7] = ck & 0xff;
      this.stats.datagramsOut++;
      this.ip.output(pkt);
    } finally {
      this.ip.leave();
    }
    return null;
  }

  /** @internal One UDP datagram from the host (IP header at 0). */
  input(family: 4 | 6, pkt: Uint8Array, srcOff: number, l4Off: number, l4Len: number): void {
    this.stats.datagramsIn++;
    if (l4Len < UDP_HEADER) {
      this.stats.malformed++;
      return;
    }
    const len = (pkt[l4Off + 4] << 8) | pkt[l4Off + 5];
    if (len < UDP_HEADER || len > l4Len) {
      this.stats.malformed++;
      return;
    }
    const ck = (pkt[l4Off + 6] << 8) | pkt[l4Off + 7];
    if (ck === 0 && family === 6) {
      this.stats.badChecksum++;
      return;
    }
    if (ck !== 0) {
      const ps = family === 4 ? pseudoHeaderSum4(pkt, 0, 17, len) : pseudoHeaderSum6(pkt, 0, 17, len);
      if (finishChecksum(onesSum(pkt, l4Off, len, ps)) !== 0) {
        this.stats.badChecksum++;
        return;
      }
    }
    const dstPort = (pkt[l4Off + 2] << 8) | pkt[l4Off + 3];
    const sock = this.sockets.get(dstPort);
    if (!sock) {
      this.stats.noPort++;
      this.portUnreachable(family, pkt);
      return;
    }
    const srcPort = (pkt[l4Off] << 8) | pkt[l4Off + 1];
    const msg = Buffer.from(pkt.subarray(l4Off + UDP_HEADER, l4Off + len));
    const rinfo: RemoteInfo = {
      address: formatIp(pkt.subarray(srcOff, srcOff + (family === 4 ? 4 : 16))),
      family: family === 4 ? 'IPv4' : 'IPv6',
      port: srcPort,
      size: msg.length,
    };
    this.ip.defer({ flushEvents: () => sock.deliver(msg, rinfo) });
  }
}
