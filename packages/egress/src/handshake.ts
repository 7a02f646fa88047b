/**
 * Reading a proxy handshake from a `net.Socket`: exact byte counts (SOCKS5) or a header block up
 * to the blank line (HTTP CONNECT), with a limit, a timeout and clean hand-over of the socket
 * (bytes read past the handshake are put back with `unshift`).
 */
import type { Socket } from 'node:net';
import { DialError } from './errors.js';

/** Collects a socket's bytes during a handshake. */
export class HandshakeReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter:
    | { test: () => number; resolve: (b: Buffer) => void; reject: (e: Error) => void }
    | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly sock: Socket,
    private readonly what: string,
  ) {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('error', this.onError);
    sock.on('close', this.onEnd);
  }

  private readonly onData = (d: Buffer): void => {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.check();
  };
  private readonly onEnd = (): void => {
    this.fail(
      new DialError(
        'proxy',
        'ERR_PROXY_PROTOCOL',
        `${this.what}: the proxy closed the connection during the handshake`,
      ),
    );
  };
  private readonly onError = (e: Error): void => {
    this.fail(e);
  };

  /** Fails the pending and later reads with `e`. */
  fail(e: Error): void {
    if (!this.failure) this.failure = e;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.reject(e);
    }
  }

  private check(): void {
    const w = this.waiter;
    if (!w) return;
    let n: number;
    try {
      n = w.test();
    } catch (e) {
      this.waiter = undefined;
      w.reject(e as Error);
      return;
    }
    if (n < 0) return;
    this.waiter = undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    w.resolve(out);
  }

  private wait(test: () => number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiter = { test, resolve, reject };
      this.check();
    });
  }

  /** Resolves with exactly `n` bytes. */
  read(n: number): Promise<Buffer> {
    return this.wait(() => (this.buf.length >= n ? n : -1));
  }

  /** Resolves with the bytes up to and including the first `\r\n\r\n`; fails past `limit` bytes. */
  readHeaderBlock(limit: number): Promise<Buffer> {
    return this.wait(() => {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i >= 0) return i + 4;
      if (this.buf.length > limit)
        throw new DialError(
          'proxy',
          'ERR_PROXY_PROTOCOL',
          `${this.what}: response header over ${limit} bytes`,
        );
      return -1;
    });
  }

  /** Stops collecting; bytes read past the handshake go back into the socket. */
  detach(): void {
    const s = this.sock;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onEnd);
    s.pause();
    if (this.buf.length > 0) s.unshift(this.buf);
    this.buf = Buffer.alloc(0);
  }
}

/**
 * Runs `steps` (the handshake) on `sock` with a deadline; on failure or timeout the socket is
 * destroyed and the error (a {@link DialError}) rejects.
 */
export async function withDeadline<T>(
  sock: Socket,
  timeoutMs: number,
  what: string,
  signal: AbortSignal | undefined,
  steps: () => Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new DialError('timeout', 'ERR_EGRESS_TIMEOUT', `${what}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    if (signal) {
      onAbort = () => reject(new DialError('unreachable', 'ERR_EGRESS_ABORTED', `${what}: aborted`));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([steps(), guard]);
  } catch (e) {
    sock.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
