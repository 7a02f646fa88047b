/**
 * The TCP layer of a virtual host: demultiplexing (numeric port keys), listeners, ephemeral
 * ports (RFC 6056: random start in 49152–65535), initial sequence numbers (RFC 6528: a keyed
 * hash of the 4-tuple plus a 4 µs clock), checksum verification, and RST for segments that match
 * no connection (RFC 9293 §3.10.7.1).
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { ConfigError } from '@l3kit/core';
import { finishChecksum, formatIp, onesSum, parseIp, pseudoHeaderSum4, pseudoHeaderSum6 } from '@l3kit/wire';
import { AddressInUseError, SocketError } from '../errors.js';
import { copyBytes, type IpLayer, ipHeaderLen } from '../ip.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig, TcpConnection, type TcpOwner, TcpState } from './connection.js';
import { type ListenOptions, TcpServer } from './listener.js';
import { parseTcp, RxSegment, TCP_CHECKSUM_OFF, TCP_HEADER_LEN, TcpFlag, writeTcpHeader } from './segment.js';
import { seqAdd } from './seq.js';
import { TcpSocket } from './socket.js';

const { FIN, SYN, RST, ACK } = TcpFlag;

/** First ephemeral port (RFC 6335 dynamic range). */
export const EPHEMERAL_FIRST = 49152;
/** Last ephemeral port (RFC 6335 dynamic range). */
export const EPHEMERAL_LAST = 65535;

/** Options of `host.tcp.connect`. */
export interface ConnectOptions {
  /** Remote IP address (text). DNS names are not resolved. */
  host: string;
  port: number;
  /** Local port; default an ephemeral one. */
  localPort?: number;
  /** Keep the write side open after the peer's FIN (default false, like `net`). */
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Idle timeout as `socket.setTimeout`. */
  timeout?: number;
}

/** Counters of a host's TCP layer. */
export interface TcpStats {
  segmentsIn: number;
  segmentsOut: number;
  /** Dropped: checksum wrong. */
  badChecksum: number;
  /** Dropped: header malformed. */
  malformed: number;
  /** Segments for no connection or listener (answered with RST unless RST). */
  noSocket: number;
  /** RSTs sent for segments without a connection. */
  resetsSent: number;
  /** SYNs dropped because a listener's backlog was full. */
  listenOverflows: number;
  activeOpens: number;
  passiveOpens: number;
}

/** `host.tcp`: listen and connect. */
export class TcpLayer implements TcpOwner {
  readonly config: TcpConfig;
  readonly stats: TcpStats = {
    segmentsIn: 0,
    segmentsOut: 0,
    badChecksum: 0,
    malformed: 0,
    noSocket: 0,
    resetsSent: 0,
    listenOverflows: 0,
    activeOpens: 0,
    passiveOpens: 0,
  };
  private readonly conns = new Map<number, TcpConnection | TcpConnection[]>();
  private readonly listeners = new Map<number, TcpServer>();
  private readonly seg = new RxSegment();
  private readonly secret = randomBytes(32);
  private count = 0;

  /** @internal Created by the host. */
  constructor(
    readonly ip: IpLayer,
    config: Partial<TcpConfig>,
    private readonly localFor: (family: 4 | 6) => Uint8Array | undefined,
  ) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...config };
  }

  /** Number of connections in the table (any state, including TIME-WAIT). */
  get connectionCount(): number {
    return this.count;
  }

  /** Connections in the table, for inspection. */
  connections(): TcpConnection[] {
    const out: TcpConnection[] = [];
    for (const v of this.conns.values()) {
      if (Array.isArray(v)) out.push(...v);
      else out.push(v);
    }
    return out;
  }

  private run<T>(fn: () => T): T {
    this.ip.enter();
    try {
      return fn();
    } finally {
      this.ip.leave();
    }
  }

  /**
   * Listens on `port` (1–65535) for IPv4 and IPv6. `onConnection` is added as a `'connection'`
   * listener. Throws `EADDRINUSE` ({@link AddressInUseError}) when the port already listens.
   */
  listen(port: number, onConnection?: (socket: TcpSocket) => void, opts: ListenOptions = {}): TcpServer {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new ConfigError('ERR_BAD_PORT', `tcp.listen: port must be 1..65535, got ${port}`);
    if (this.listeners.has(port)) throw new AddressInUseError(`tcp.listen(${port})`);
    const server = new TcpServer(port, opts, (s) => {
      if (this.listeners.get(s.port) === s) this.listeners.delete(s.port);
    });
    if (onConnection) server.on('connection', onConnection);
    this.listeners.set(port, server);
    return server;
  }

  /**
   * Opens a connection, like `net.connect`. Returns the socket at once; `'connect'` follows,
   * or `'error'` with `ECONNREFUSED` / `ETIMEDOUT` / `ENETUNREACH`.
   */
  connect(opts: ConnectOptions, connectListener?: () => void): TcpSocket {
    if (!opts || typeof opts.host !== 'string')
      throw new ConfigError('ERR_BAD_ADDRESS', 'tcp.connect: host is required');
    const raddr = parseIp(opts.host);
    if (!raddr)
      throw new ConfigError(
        'ERR_BAD_ADDRESS',
        `tcp.connect: not an IP address: ${JSON.stringify(opts.host)}`,
      );
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535)
      throw new ConfigError('ERR_BAD_PORT', `tcp.connect: port must be 1..65535, got ${opts.port}`);
    const family = raddr.length === 4 ? 4 : 6;
    const laddr = this.ip.sourceFor(raddr);
    return this.run(() => {
      let lport = opts.localPort ?? 0;
      if (lport !== 0) {
        if (!Number.isInteger(lport) || lport < 1 || lport > 65535)
          throw new ConfigError('ERR_BAD_PORT', `tcp.connect: localPort must be 1..65535, got ${lport}`);
        const existing = this.find(family, lport, opts.port, raddr, 0);
        if (existing) {
          if (existing.state !== TcpState.TIME_WAIT)
            throw new AddressInUseError(`tcp.connect(localPort ${lport})`);
          existing.toClosed();
        }
      } else if (laddr) {
        lport = this.ephemeral(family, raddr, opts.port);
      }
      const conn = new TcpConnection(
        this,
        family,
        laddr ?? new Uint8Array(raddr.length),
        lport,
        raddr.slice(),
        opts.port,
        this.isn(laddr ?? raddr, lport, raddr, opts.port),
      );
      const sock = new TcpSocket(
        conn,
        { run: (fn) => this.run(fn) },
        { allowHalfOpen: opts.allowHalfOpen, connecting: true },
      );
      if (connectListener) sock.once('connect', connectListener);
      if (!laddr) {
        const err = new SocketError('ENETUNREACH', 'connect', opts.host, opts.port);
        process.nextTick(() => sock.destroy(err));
        return sock;
      }
      if (opts.noDelay) conn.noDelay = true;
      if (opts.keepAlive) {
        conn.keepAlive = true;
        if (opts.keepAliveInitialDelay) conn.keepAliveIdleMs = opts.keepAliveInitialDelay;
      }
      if (opts.timeout) sock.setTimeout(opts.timeout);
      this.add(conn);
      this.stats.activeOpens++;
      conn.openActive();
      return sock;
    });
  }

  /** RFC 6056 algorithm 1-like: random start, then the next free port for this remote endpoint. */
  private ephemeral(family: 4 | 6, raddr: Uint8Array, rport: number): number {
    const n = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    const start = randomInt(n);
    for (let i = 0; i < n; i++) {
      const p = EPHEMERAL_FIRST + ((start + i) % n);
      if (this.listeners.has(p)) continue;
      const c = this.find(family, p, rport, raddr, 0);
      if (!c) return p;
      if (c.state === TcpState.TIME_WAIT) {
        // Reuse a TIME-WAIT pair for a new outgoing connection (as Linux tcp_tw_reuse).
        c.toClosed();
        return p;
      }
    }
    throw new SocketError('EADDRNOTAVAIL', 'connect', formatIp(raddr), rport);
  }

  /** RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs clock. */
  private isn(laddr: Uint8Array, lport: number, raddr: Uint8Array, rport: number): number {
    const h = createHmac('sha256', this.secret);
    h.update(laddr);
    h.update(raddr);
    h.update(Uint8Array.of(lport >>> 8, lport & 0xff, rport >>> 8, rport & 0xff));
    const d = h.digest();
    const f = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
    const m = Math.floor(this.ip.clock.now() * 250) >>> 0;
    return (f + m) >>> 0;
  }

  private add(c: TcpConnection): void {
    const cur = this.conns.get(c.portKey);
    if (!cur) this.conns.set(c.portKey, c);
    else if (Array.isArray(cur)) cur.push(c);
    else this.conns.set(c.portKey, [cur, c]);
    this.count++;
  }

  /** @internal TcpOwner */
  remove(c: TcpConnection): void {
    const cur = this.conns.get(c.portKey);
    if (!cur) return;
    if (cur === c) {
      this.conns.delete(c.portKey);
      this.count--;
    } else if (Array.isArray(cur)) {
      const i = cur.indexOf(c);
      if (i >= 0) {
        cur.splice(i, 1);
        this.count--;
        if (cur.length === 1) this.conns.set(c.portKey, cur[0]);
      }
    }
  }

  /** @internal TcpOwner */
  accepted(c: TcpConnection): void {
    const l = c.listener;
    if (!l) return;
    l.halfOpen--;
    const server = l as unknown as TcpServer;
    server.accepted++;
    const sock = new TcpSocket(
      c,
      { run: (fn) => this.run(fn) },
      { allowHalfOpen: server.allowHalfOpen, connecting: false },
    );
    this.ip.defer({ flushEvents: () => server.emit('connection', sock) });
  }

  /** @internal TcpOwner */
  countSegmentOut(): void {
    this.stats.segmentsOut++;
  }

  private find(
    family: 4 | 6,
    lport: number,
    rport: number,
    raddr: Uint8Array,
    raddrOff: number,
  ): TcpConnection | undefined {
    const cur = this.conns.get(lport * 65536 + rport);
    if (!cur) return undefined;
    if (Array.isArray(cur)) {
      for (const c of cur) if (c.family === family && sameAddr(c.remoteAddr, raddr, raddrOff)) return c;
      return undefined;
    }
    return cur.family === family && sameAddr(cur.remoteAddr, raddr, raddrOff) ? cur : undefined;
  }

  /**
   * @internal One TCP segment from the host: `pkt[l4Off..l4Off+l4Len)`, IP header at 0, source
   * address at `srcOff`. Verifies the checksum, demultiplexes, answers strays with RST.
   */
  input(family: 4 | 6, pkt: Uint8Array, srcOff: number, l4Off: number, l4Len: number): void {
    this.stats.segmentsIn++;
    const ps = family === 4 ? pseudoHeaderSum4(pkt, 0, 6, l4Len) : pseudoHeaderSum6(pkt, 0, 6, l4Len);
    if (finishChecksum(onesSum(pkt, l4Off, l4Len, ps)) !== 0) {
      this.stats.badChecksum++;
      return;
    }
    const seg = this.seg;
    if (!parseTcp(pkt, l4Off, l4Len, seg)) {
      this.stats.malformed++;
      return;
    }
    if (seg.srcPort === 0 || seg.dstPort === 0) {
      this.stats.malformed++;
      return;
    }
    const c = this.find(family, seg.dstPort, seg.srcPort, pkt, srcOff);
    if (c && !c.input(seg)) return;
    const server = this.listeners.get(seg.dstPort);
    const flags = seg.flags;
    if (server?.listening && !(flags & RST)) {
      if (flags & ACK) {
        this.reset(family, pkt, srcOff, seg);
        return;
      }
      if (flags & SYN) {
        if (server.halfOpen >= server.backlog) {
          server.overflows++;
          this.stats.listenOverflows++;
          return;
        }
        const laddr = this.localFor(family);
        if (!laddr) return;
        const raddr = copyBytes(pkt, srcOff, srcOff + (family === 4 ? 4 : 16));
        const conn = new TcpConnection(
          this,
          family,
          laddr,
          seg.dstPort,
          raddr,
          seg.srcPort,
          this.isn(laddr, seg.dstPort, raddr, seg.srcPort),
        );
        conn.listener = server;
        server.halfOpen++;
        this.add(conn);
        this.stats.passiveOpens++;
        conn.openPassive(seg);
      }
      return;
    }
    this.stats.noSocket++;
    if (!(flags & RST)) this.reset(family, pkt, srcOff, seg);
  }

  /** RFC 9293 §3.10.7.1: RST for a segment that belongs to no connection. */
  private reset(family: 4 | 6, pkt: Uint8Array, srcOff: number, seg: RxSegment): void {
    const laddr = this.localFor(family);
    if (!laddr) return;
    const raddr = copyBytes(pkt, srcOff, srcOff + (family === 4 ? 4 : 16));
    let seq = 0;
    let ack = 0;
    let flags = RST;
    if (seg.flags & ACK) seq = seg.ack;
    else {
      ack = seqAdd(seg.seq, seg.dataLen + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0));
      flags |= ACK;
    }
    const out = this.ip.allocPacket(family, 6, laddr, raddr, TCP_HEADER_LEN);
    const t = ipHeaderLen(family);
    writeTcpHeader(out, t, seg.dstPort, seg.srcPort, seq, ack, flags, 0, undefined);
    const ps =
      family === 4
        ? pseudoHeaderSum4(out, 0, 6, TCP_HEADER_LEN)
        : pseudoHeaderSum6(out, 0, 6, TCP_HEADER_LEN);
    const ck = finishChecksum(onesSum(out, t, TCP_HEADER_LEN, ps));
    out[t + TCP_CHECKSUM_OFF] = ck >>> 8;
    out[t + TCP_CHECKSUM_OFF + 1] = ck & 0xff;
    this.stats.resetsSent++;
    this.stats.segmentsOut++;
    this.ip.output(out);
  }

  /**
   * @internal An ICMP destination-unreachable error quoting one of our segments (IP header at
   * `quoted[off..]`). As Linux does, a connection still opening (SYN-SENT) fails at once:
   * `ECONNREFUSED` for port unreachable, `EHOSTUNREACH` / `EACCES` otherwise. Errors about
   * established connections are soft (RFC 1122 §4.2.3.9) and ignored.
   */
  unreachable(family: 4 | 6, quoted: Uint8Array, off: number, kind: 'port' | 'host' | 'prohibited'): void {
    const hl = family === 4 ? (quoted[off] & 15) << 2 : 40;
    const srcOff = off + (family === 4 ? 12 : 8);
    const dstOff = off + (family === 4 ? 16 : 24);
    const l4 = off + hl;
    const lport = (quoted[l4] << 8) | quoted[l4 + 1];
    const rport = (quoted[l4 + 2] << 8) | quoted[l4 + 3];
    const local = this.localFor(family);
    if (!local) return;
    for (let i = 0; i < local.length; i++) if (local[i] !== quoted[srcOff + i]) return;
    const c = this.find(family, lport, rport, quoted, dstOff);
    if (!c || c.state !== TcpState.SYN_SENT) return;
    c.failWith(
      kind === 'port' ? 'ECONNREFUSED' : kind === 'prohibited' ? 'EACCES' : 'EHOSTUNREACH',
      'connect',
    );
  }

  /** Aborts every connection (RST) and stops every listener. */
  closeAll(): void {
    this.run(() => {
      for (const c of this.connections()) {
        if (c.state !== TcpState.TIME_WAIT) c.abort();
        else c.toClosed();
      }
      for (const s of [...this.listeners.values()]) s.close();
    });
  }
}

function sameAddr(a: Uint8Array, b: Uint8Array, off: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[off + i]) return false;
  return true;
}
