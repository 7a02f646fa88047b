/**
 * `TcpSocket`: a `stream.Duplex` over a {@link TcpConnection}, shaped like `net.Socket` so Node
 * code (the `http` module, `pipeline`) runs over l3kit without changes.
 *
 * Back-pressure: the write side holds the write callback while the send buffer is full, so
 * `write()` returns false and `'drain'` follows once the peer acknowledges data. The read side
 * advertises a receive window that shrinks while the application does not read (the stream's
 * `readableLength` counts against the receive buffer).
 */
import { Duplex } from 'node:stream';
import { formatIp } from '@l3kit/wire';
import { SocketError } from '../errors.js';
import {
  type ConnectionUser,
  type TcpConnection,
  type TcpConnectionStats,
  TcpState,
  tcpStateName,
} from './connection.js';

/** A snapshot of a connection's TCP state, like Linux `TCP_INFO`. */
export interface TcpInfo extends TcpConnectionStats {
  state: string;
  /** Send MSS. */
  mss: number;
  cwnd: number;
  ssthresh: number;
  /** Smoothed RTT (ms), -1 before the first sample. */
  srtt: number;
  /** Current retransmission timeout (ms). */
  rto: number;
  /** Peer's advertised window (bytes, scaled). */
  sndWnd: number;
  /** Bytes sent and not yet acknowledged. */
  unacked: number;
  sackEnabled: boolean;
  windowScale: { send: number; receive: number } | undefined;
}

/** Hooks the TCP layer gives a socket. */
export interface SocketOwner {
  /** Runs `fn` inside the stack (packets arriving meanwhile are queued). */
  run<T>(fn: () => T): T;
}

/** A TCP socket (`stream.Duplex`), like `net.Socket`. */
export class TcpSocket extends Duplex implements ConnectionUser {
  /** True until the connection is established (as `net.Socket#connecting`). */
  connecting: boolean;
  /** Bytes written by the application into the connection. */
  bytesWritten = 0;
  /** Bytes received from the peer. */
  bytesRead = 0;
  private conn: TcpConnection;
  private readonly owner: SocketOwner;
  private pendingWrite: { chunk: Uint8Array; cb: (err?: Error | null) => void } | undefined;
  private pendingFinal: ((err?: Error | null) => void) | undefined;
  private timeoutMs = 0;
  private eofPushed = false;

  /** @internal Created by the TCP layer (`host.tcp.connect` / listeners). */
  constructor(
    conn: TcpConnection,
    owner: SocketOwner,
    opts: { allowHalfOpen?: boolean; connecting: boolean },
  ) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: 65536,
      writableHighWaterMark: 65536,
      decodeStrings: true,
    });
    this.conn = conn;
    this.owner = owner;
    this.connecting = opts.connecting;
    conn.unread = () => this.readableLength;
    conn.attach(this);
  }

  /** Remote IP address as text. */
  get remoteAddress(): string {
    return this.conn.remoteText;
  }
  /** Remote port. */
  get remotePort(): number {
    return this.conn.remotePort;
  }
  /** `'IPv4'` or `'IPv6'`. */
  get remoteFamily(): string {
    return this.conn.family === 4 ? 'IPv4' : 'IPv6';
  }
  /** Local IP address as text. */
  get localAddress(): string {
    return formatIp(this.conn.localAddr);
  }
  /** Local port. */
  get localPort(): number {
    return this.conn.localPort;
  }
  /** `'opening'`, `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as `net.Socket`. */
  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }
  /** Bytes waiting in the send buffer (unacknowledged or unsent). */
  get bufferSize(): number {
    return this.conn.bufferedOut + this.writableLength;
  }
  /** The TCP state name (e.g. `ESTABLISHED`). */
  get tcpState(): string {
    return tcpStateName(this.conn.state);
  }

  /** Like `net.Socket#address()`. */
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort };
  }

  /** Counters and congestion state of the connection. */
  tcpInfo(): TcpInfo {
    const c = this.conn;
    return {
      ...c.stats,
      state: tcpStateName(c.state),
      mss: c.mss,
      cwnd: c.cwnd,
      ssthresh: c.ssthresh,
      srtt: c.srtt,
      rto: c.rto,
      sndWnd: c.sndWnd,
      unacked: c.unacked,
      sackEnabled: c.sackEnabled,
      windowScale: c.windowScale,
    };
  }

  /** Disables Nagle's algorithm (default: enabled, as Node before v22 and RFC 896). Never throws. */
  setNoDelay(noDelay = true): this {
    this.conn.noDelay = noDelay;
    if (noDelay) this.owner.run(() => this.conn.output());
    return this;
  }

  /** Enables keep-alive probes after `initialDelay` ms idle (0: the host default). Never throws. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.owner.run(() => {
      this.conn.keepAlive = enable;
      if (initialDelay > 0) this.conn.keepAliveIdleMs = initialDelay;
      this.conn.arm();
    });
    return this;
  }

  /** Emits `'timeout'` after `ms` of inactivity (0 disables), like `net.Socket#setTimeout`. */
  setTimeout(ms: number, cb?: () => void): this {
    this.timeoutMs = ms;
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    this.owner.run(() => {
      this.conn.idleTimeoutMs = ms;
      this.conn.onIdle = ms > 0 ? () => this.emit('timeout') : undefined;
      this.conn.arm();
    });
    return this;
  }

  /** Node API compatibility: no-op (the virtual host keeps nothing alive). */
  ref(): this {
    return this;
  }
  /** Node API compatibility: no-op. */
  unref(): this {
    return this;
  }

  /** Sends RST and destroys the socket (as `net.Socket#resetAndDestroy`). */
  resetAndDestroy(): this {
    this.owner.run(() => this.conn.abort());
    this.conn.orphan();
    this.destroy();
    return this;
  }

  // --- ConnectionUser -------------------------------------------------------------------------

  /** @internal */
  onConnect(): void {
    if (!this.connecting) return; // passive sockets are born connected, as with net.Server
    this.connecting = false;
    this.emit('connect');
    this.emit('ready');
  }
  /** @internal */
  onData(chunk: Uint8Array): void {
    this.bytesRead += chunk.length;
    this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }
  /** @internal */
  onEnd(): void {
    if (this.eofPushed) return;
    this.eofPushed = true;
    this.push(null);
  }
  /** @internal */
  onError(err: Error): void {
    this.connecting = false;
    this.conn.orphan();
    this.destroy(err);
  }
  /** @internal */
  onWritable(): void {
    const p = this.pendingWrite;
    if (p && this.conn.sendSpace() > 0) {
      this.pendingWrite = undefined;
      this.owner.run(() => this.conn.write(p.chunk));
      p.cb();
    }
    const f = this.pendingFinal;
    if (f && !this.pendingWrite) {
      this.pendingFinal = undefined;
      this.owner.run(() => this.conn.shutdown());
      f();
    }
  }
  /** @internal */
  onClose(): void {
    // Reached TIME-WAIT or CLOSED gracefully. The stream closes once both sides have ended.
    if (this.conn.closed) this.onEnd(); // closed without a FIN (host closed): end the readable
  }

  // --- Duplex implementation -----------------------------------------------------------------

  override _read(): void {
    this.owner.run(() => this.conn.onRead());
  }

  /** Reads as `Readable#read`; consuming buffered data may reopen the advertised window. */
  // biome-ignore lint/suspicious/noExplicitAny: matches Readable#read's own signature
  override read(size?: number): any {
    const r = super.read(size);
    if (r !== null && !this.conn.closed) this.owner.run(() => this.conn.onRead());
    return r;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const c = this.conn;
    if (c.closed || c.writeShut) {
      cb(new SocketError('EPIPE', 'write', c.remoteText, c.remotePort));
      return;
    }
    // The connection copies it: once the callback runs the caller may reuse its buffer (as with
    // net.Socket).
    const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    this.bytesWritten += data.length;
    if (c.sendSpace() >= data.length || c.bufferedOut === 0) {
      this.owner.run(() => c.write(data));
      cb();
    } else {
      this.pendingWrite = { chunk: data, cb };
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.pendingWrite) {
      this.pendingFinal = cb;
      return;
    }
    this.owner.run(() => this.conn.shutdown());
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const c = this.conn;
    const pw = this.pendingWrite;
    this.pendingWrite = undefined;
    if (!c.closed && !c.orphaned) {
      this.owner.run(() => {
        // Like close(2): unread data or an error → RST; otherwise a graceful FIN after the
        // queued data, finished by the orphaned connection.
        if (err || this.readableLength > 0 || c.hasUndelivered || c.state === TcpState.SYN_SENT) c.abort();
        else c.shutdown();
        c.orphan();
      });
    }
    c.orphan();
    pw?.cb(err ?? new SocketError('EPIPE', 'write', c.remoteText, c.remotePort));
    cb(err);
  }

  /** Idle timeout in ms (0 = off), as set by {@link setTimeout}. */
  get timeout(): number {
    return this.timeoutMs;
  }
}
