/**
 * Upstream dialers. A {@link Dialer} opens the upstream side of a tenant's connection — a TCP
 * stream to `host:port` and, optionally, a UDP relay — from the host process (`direct`), through
 * a SOCKS5 proxy or through an HTTP CONNECT proxy. Every dialer returns a plain `net.Socket`
 * whose handshake is complete, so the device treats all of them alike.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { DialError, dialErrorFromSocket } from './errors.js';

/** Where to connect: an IP address (text) or a DNS name, and a port. */
export interface DialTarget {
  host: string;
  port: number;
}

/** Per-dial options. */
export interface DialOptions {
  /** Give up after this many milliseconds (the whole dial, handshakes included). */
  timeoutMs: number;
  /** Aborts the dial. */
  signal?: AbortSignal;
}

/** A datagram path to anywhere (direct `dgram` socket or a SOCKS5 UDP association). */
export interface UdpRelay {
  /** Sends one datagram to `host:port` (an IP address; SOCKS5 relays also take names). */
  send(data: Uint8Array, host: string, port: number): void;
  /** Called for every datagram that comes back, with its source. */
  onMessage: ((data: Buffer, address: string, port: number) => void) | undefined;
  /** Called once when the relay dies on its own (control connection lost, socket error). */
  onClose: ((err?: Error) => void) | undefined;
  /** Releases the relay's sockets. */
  close(): void;
}

/** Opens upstream connections. */
export interface Dialer {
  /** `'direct'` or the proxy's name. */
  readonly name: string;
  /** Opens a TCP stream to `target`; rejects with a {@link DialError}. */
  connect(target: DialTarget, opts: DialOptions): Promise<Socket>;
  /** Opens a UDP relay; rejects with a {@link DialError}. Absent: the dialer carries no UDP. */
  openUdp?(family: 4 | 6, opts: DialOptions): Promise<UdpRelay>;
}

/** Resolves a DNS name to addresses (text). */
export type Resolver = (name: string) => Promise<string[]>;

/** The system resolver (`dns.lookup`, every address). */
export const systemResolver: Resolver = async (name) =>
  (await lookup(name, { all: true })).map((a) => a.address);

/**
 * `net.connect` with a deadline and an abort signal, resolving once connected. Errors are
 * classified with {@link dialErrorFromSocket}; when `asProxy` is set every failure is a `proxy`
 * failure (the proxy, not the destination, could not be reached).
 */
export function connectTcp(
  host: string,
  port: number,
  opts: DialOptions,
  asProxy: string | undefined,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const what = asProxy ? `proxy ${asProxy} (${host}:${port})` : `${host}:${port}`;
    const sock = netConnect({ host, port, allowHalfOpen: true });
    let done = false;
    const finish = (err: DialError | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.off('error', onError);
      if (err) {
        sock.destroy();
        reject(err);
      } else resolve(sock);
    };
    const classify = (e: DialError): DialError =>
      asProxy ? new DialError('proxy', 'ERR_PROXY_UNAVAILABLE', e.message, { cause: e }) : e;
    const onError = (e: Error): void => finish(classify(dialErrorFromSocket(e, what)));
    const onAbort = (): void =>
      finish(new DialError('unreachable', 'ERR_EGRESS_ABORTED', `${what}: aborted`));
    const timer = setTimeout(
      () =>
        finish(
          classify(
            new DialError('timeout', 'ERR_EGRESS_TIMEOUT', `${what}: no answer within ${opts.timeoutMs} ms`),
          ),
        ),
      opts.timeoutMs,
    );
    sock.on('error', onError);
    sock.once('connect', () => finish(undefined));
    if (opts.signal) {
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/** Options of {@link DirectDialer}. */
export interface DirectDialerOptions {
  /** Resolves names (fake-IP destinations). Default: the system resolver. */
  resolve?: Resolver;
  /** Local address to bind UDP sockets to (default: any). */
  udpBindAddress?: string;
}

/**
 * Slirp-style egress: connections become ordinary sockets of the host process (`net.connect`,
 * `dgram`). Needs no privileges; the destination sees the host's address.
 */
export class DirectDialer implements Dialer {
  readonly name = 'direct';
  private readonly resolve: Resolver;
  private readonly udpBind: string | undefined;

  constructor(opts: DirectDialerOptions = {}) {
    this.resolve = opts.resolve ?? systemResolver;
    this.udpBind = opts.udpBindAddress;
  }

  async connect(target: DialTarget, opts: DialOptions): Promise<Socket> {
    let host = target.host;
    if (isIP(host) === 0) {
      let addrs: string[];
      try {
        addrs = await this.resolve(host);
      } catch (cause) {
        throw new DialError('unreachable', 'ERR_EGRESS_RESOLVE', `cannot resolve ${host}`, { cause });
      }
      if (addrs.length === 0)
        throw new DialError('unreachable', 'ERR_EGRESS_RESOLVE', `no address for ${host}`);
      host = addrs[0];
    }
    return connectTcp(host, target.port, opts, undefined);
  }

  openUdp(family: 4 | 6): Promise<UdpRelay> {
    return new Promise((resolve, reject) => {
      const sock = createSocket(family === 4 ? 'udp4' : 'udp6');
      const onError = (e: Error): void => reject(dialErrorFromSocket(e, 'udp bind'));
      sock.once('error', onError);
      sock.bind({ port: 0, address: this.udpBind }, () => {
        sock.off('error', onError);
        resolve(new DirectUdpRelay(sock, this.resolve));
      });
    });
  }
}

class DirectUdpRelay implements UdpRelay {
  onMessage: ((data: Buffer, address: string, port: number) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  private closed = false;

  constructor(
    private readonly sock: DgramSocket,
    private readonly resolve: Resolver,
  ) {
    sock.on('message', (msg, rinfo) => this.onMessage?.(msg, rinfo.address, rinfo.port));
    // ICMP errors for earlier datagrams surface as socket errors (ECONNREFUSED etc.); a UDP
    // socket stays usable after them, so they are not fatal.
    sock.on('error', () => {});
  }

  send(data: Uint8Array, host: string, port: number): void {
    if (this.closed) return;
    if (isIP(host) !== 0) {
      this.sock.send(data, port, host);
      return;
    }
    const copy = Buffer.from(data);
    this.resolve(host).then(
      (a) => {
        if (!this.closed && a.length > 0) this.sock.send(copy, port, a[0]);
      },
      () => {},
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}
