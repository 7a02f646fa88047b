/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443) for virtual hosts: answers echo requests, sends echo
 * requests for `host.ping()`, sends port-unreachable errors for closed UDP ports, and counts
 * received errors.
 */
import { randomInt } from 'node:crypto';
import type { TimerHandle } from '@l3kit/core';
import { ConfigError } from '@l3kit/core';
import { finishChecksum, onesSum, parseIp, pseudoHeaderSum6 } from '@l3kit/wire';
import { SocketError } from './errors.js';
import { copyBytes, type IpLayer, ipHeaderLen } from './ip.js';

const ICMP4 = 1;
const ICMP6 = 58;

/** Result of a successful ping. */
export interface PingResult {
  /** Round-trip time in ms, on the host's clock. */
  rttMs: number;
  /** Echo payload bytes. */
  bytes: number;
  /** Sequence number used. */
  seq: number;
}

/** Options of `host.ping`. */
export interface PingOptions {
  /** Reject with ETIMEDOUT after this many ms. Default 1000. */
  timeoutMs?: number;
  /** Payload size in bytes. Default 56. */
  size?: number;
}

/** Counters of a host's ICMP layer. */
export interface IcmpStats {
  echoRequestsIn: number;
  echoRepliesOut: number;
  echoRequestsOut: number;
  echoRepliesIn: number;
  /** Destination unreachable / time exceeded / packet too big / parameter problem received. */
  errorsIn: number;
  /** Errors sent (port unreachable). */
  errorsOut: number;
  badChecksum: number;
  malformed: number;
}

interface PendingPing {
  resolve: (r: PingResult) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
  sentAt: number;
  bytes: number;
}

/** The ICMP / ICMPv6 layer of a host. */
export class IcmpLayer {
  readonly stats: IcmpStats = {
    echoRequestsIn: 0,
    echoRepliesOut: 0,
    echoRequestsOut: 0,
    echoRepliesIn: 0,
    errorsIn: 0,
    errorsOut: 0,
    badChecksum: 0,
    malformed: 0,
  };
  private readonly ident = randomInt(65536);
  private seq = 0;
  private readonly pending = new Map<number, PendingPing>();

  /** @internal Created by the host. */
  constructor(
    private readonly ip: IpLayer,
    /**
     * Called for a destination-unreachable error quoting one of our TCP segments: `unreachable`
     * is `'port'` (the peer refused: ICMP 3/3, ICMPv6 1/4), `'host'` or `'prohibited'`.
     */
    private readonly onTcpUnreachable?: (
      family: 4 | 6,
      quoted: Uint8Array,
      quotedOff: number,
      unreachable: 'port' | 'host' | 'prohibited',
    ) => void,
  ) {}

  private sum(family: 4 | 6, pkt: Uint8Array, l4Off: number, l4Len: number): number {
    const ps = family === 4 ? 0 : pseudoHeaderSum6(pkt, 0, ICMP6, l4Len);
    return finishChecksum(onesSum(pkt, l4Off, l4Len, ps));
  }

  /** @internal One ICMP / ICMPv6 message from the host. */
  input(family: 4 | 6, pkt: Uint8Array, srcOff: number, dstOff: number, l4Off: number, l4Len: number): void {
    if (l4Len < 8) {
      this.stats.malformed++;
      return;
    }
    if (this.sum(family, pkt, l4Off, l4Len) !== 0) {
      this.stats.badChecksum++;
      return;
    }
    const type = pkt[l4Off];
    const echoReq = family === 4 ? 8 : 128;
    const echoRep = family === 4 ? 0 : 129;
    if (type === echoReq) {
      this.stats.echoRequestsIn++;
      const alen = family === 4 ? 4 : 16;
      const src = copyBytes(pkt, dstOff, dstOff + alen);
      const dst = copyBytes(pkt, srcOff, srcOff + alen);
      const out = this.ip.allocPacket(family, family === 4 ? ICMP4 : ICMP6, src, dst, l4Len);
      const o = ipHeaderLen(family);
      out.set(pkt.subarray(l4Off, l4Off + l4Len), o);
      out[o] = echoRep;
      out[o + 1] = 0;
      out[o + 2] = 0;
      out[o + 3] = 0;
      const ck = this.sum(family, out, o, l4Len);
      out[o + 2] = ck >>> 8;
      out[o + 3] = ck & 0xff;
      this.stats.echoRepliesOut++;
      this.ip.output(out);
      return;
    }
    if (type === echoRep) {
      const id = (pkt[l4Off + 4] << 8) | pkt[l4Off + 5];
      const seq = (pkt[l4Off + 6] << 8) | pkt[l4Off + 7];
      const p = this.pending.get(seq);
      if (id !== this.ident || !p) return;
      this.stats.echoRepliesIn++;
      this.pending.delete(seq);
      p.timer.cancel();
      const r: PingResult = { rttMs: this.ip.clock.now() - p.sentAt, bytes: l4Len - 8, seq };
      this.ip.defer({ flushEvents: () => p.resolve(r) });
      return;
    }
    if (family === 4 ? type === 3 || type === 11 || type === 12 : type >= 1 && type <= 4) {
      this.stats.errorsIn++;
      const code = pkt[l4Off + 1];
      const unreach = family === 4 ? type === 3 : type === 1;
      if (!unreach || !this.onTcpUnreachable) return;
      const q = l4Off + 8;
      const qEnd = l4Off + l4Len;
      // The quoted header must be ours and TCP, with at least the ports after it.
      let qProto: number;
      let qL4: number;
      if (family === 4) {
        if (q + 20 > qEnd || pkt[q] >> 4 !== 4) return;
        qProto = pkt[q + 9];
        qL4 = q + ((pkt[q] & 15) << 2);
      } else {
        if (q + 40 > qEnd || pkt[q] >> 4 !== 6) return;
        qProto = pkt[q + 6];
        qL4 = q + 40;
      }
      if (qProto !== 6 || qL4 + 4 > qEnd) return;
      let kind: 'port' | 'host' | 'prohibited' = 'host';
      if (family === 4) {
        if (code === 3) kind = 'port';
        else if (code === 9 || code === 10 || code === 13) kind = 'prohibited';
      } else if (code === 4) kind = 'port';
      else if (code === 1) kind = 'prohibited';
      this.onTcpUnreachable(family, pkt, q, kind);
    }
  }

  /** Sends an echo request to `address`; resolves with the round-trip time. */
  ping(address: string, opts: PingOptions = {}): Promise<PingResult> {
    const dst = parseIp(address);
    if (!dst) throw new ConfigError('ERR_BAD_ADDRESS', `ping: not an IP address: ${JSON.stringify(address)}`);
    const size = opts.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65000)
      throw new ConfigError('ERR_BAD_SIZE', `ping: size must be 0..65000, got ${size}`);
    const timeoutMs = opts.timeoutMs ?? 1000;
    const family = dst.length === 4 ? 4 : 6;
    const src = this.ip.sourceFor(dst);
    if (!src) return Promise.reject(new SocketError('ENETUNREACH', 'ping', address));
    const seq = this.seq;
    this.seq = (this.seq + 1) & 0xffff;
    return new Promise<PingResult>((resolve, reject) => {
      this.ip.enter();
      try {
        const now = this.ip.clock.now();
        const timer = this.ip.scheduler.schedule(now + timeoutMs, () => {
          if (this.pending.get(seq)?.timer === timer) {
            this.pending.delete(seq);
            reject(new SocketError('ETIMEDOUT', 'ping', address));
          }
        });
        this.pending.set(seq, { resolve, reject, timer, sentAt: now, bytes: size });
        const l4Len = 8 + size;
        const out = this.ip.allocPacket(family, family === 4 ? ICMP4 : ICMP6, src, dst, l4Len);
        const o = ipHeaderLen(family);
        out[o] = family === 4 ? 8 : 128;
        out[o + 4] = this.ident >>> 8;
        out[o + 5] = this.ident & 0xff;
        out[o + 6] = seq >>> 8;
        out[o + 7] = seq & 0xff;
        for (let i = 0; i < size; i++) out[o + 8 + i] = i & 0xff;
        const ck = this.sum(family, out, o, l4Len);
        out[o + 2] = ck >>> 8;
        out[o + 3] = ck & 0xff;
        this.stats.echoRequestsOut++;
        this.ip.output(out);
      } finally {
        this.ip.leave();
      }
    });
  }

  /**
   * Sends Destination Unreachable / Port Unreachable (ICMP 3/3, ICMPv6 1/4) about `orig`
   * (RFC 1122 §4.1.3.1), quoting as much of it as fits in 576 (IPv4) / 1280 (IPv6) bytes.
   */
  portUnreachable(family: 4 | 6, orig: Uint8Array): void {
    const alen = family === 4 ? 4 : 16;
    const srcOff = family === 4 ? 12 : 8;
    const dstOff = family === 4 ? 16 : 24;
    const src = copyBytes(orig, dstOff, dstOff + alen);
    const dst = copyBytes(orig, srcOff, srcOff + alen);
    const hl = ipHeaderLen(family);
    const origLen = family === 4 ? (orig[2] << 8) | orig[3] : 40 + ((orig[4] << 8) | orig[5]);
    const quote = Math.min(origLen, orig.length, (family === 4 ? 576 : 1280) - hl - 8);
    const l4Len = 8 + quote;
    const out = this.ip.allocPacket(family, family === 4 ? ICMP4 : ICMP6, src, dst, l4Len);
    out[hl] = family === 4 ? 3 : 1;
    out[hl + 1] = family === 4 ? 3 : 4;
    out.set(orig.subarray(0, quote), hl + 8);
    const ck = this.sum(family, out, hl, l4Len);
    out[hl + 2] = ck >>> 8;
    out[hl + 3] = ck & 0xff;
    this.stats.errorsOut++;
    this.ip.output(out);
  }

  /** Rejects every outstanding ping (host closed). */
  closeAll(): void {
    for (const [seq, p] of this.pending) {
      p.timer.cancel();
      p.reject(new SocketError('ECONNABORTED', 'ping'));
      this.pending.delete(seq);
    }
  }
}
