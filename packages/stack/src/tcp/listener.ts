/**
 * `TcpServer`: a listening port, like `net.Server` (`'connection'` events with {@link TcpSocket}s).
 */
import { EventEmitter } from 'node:events';
import type { TcpSocket } from './socket.js';

/** Options of `host.tcp.listen`. */
export interface ListenOptions {
  /** Most connections in SYN-RECEIVED at once; further SYNs are dropped. Default 128. */
  backlog?: number;
  /** Keep the write side open after the peer's FIN (default false, like `net`). */
  allowHalfOpen?: boolean;
}

/** Events of a {@link TcpServer}. */
export interface TcpServerEvents {
  connection: [socket: TcpSocket];
  close: [];
}

/** A listening TCP port of a virtual host. */
export class TcpServer extends EventEmitter<TcpServerEvents> {
  /** Connections currently in SYN-RECEIVED. */
  halfOpen = 0;
  /** SYNs dropped because the backlog was full. */
  overflows = 0;
  /** Connections accepted so far. */
  accepted = 0;
  readonly backlog: number;
  readonly allowHalfOpen: boolean;
  /** Whether the server still accepts connections. */
  listening = true;

  /** @internal Created by `host.tcp.listen`. */
  constructor(
    readonly port: number,
    opts: ListenOptions,
    private readonly onClose: (s: TcpServer) => void,
  ) {
    super();
    this.backlog = opts.backlog ?? 128;
    this.allowHalfOpen = opts.allowHalfOpen ?? false;
  }

  /** Like `net.Server#address()`. */
  address(): { port: number } {
    return { port: this.port };
  }

  /** Stops listening (new SYNs get RST); existing connections continue. Emits `'close'`. */
  close(cb?: () => void): this {
    if (this.listening) {
      this.listening = false;
      this.onClose(this);
      queueMicrotask(() => {
        this.emit('close');
        cb?.();
      });
    } else if (cb) queueMicrotask(cb);
    return this;
  }
}
