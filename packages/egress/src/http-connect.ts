/**
 * An HTTP CONNECT client (RFC 9110 §9.3.6) with Basic authentication (RFC 7617): the tunnel to
 * `host:port` is the proxy connection itself once the proxy answers 2xx.
 */
import type { Socket } from 'node:net';
import { ConfigError } from '@l3kit/core';
import { connectTcp, type Dialer, type DialOptions, type DialTarget } from './dialer.js';
import { DialError } from './errors.js';
import { HandshakeReader, withDeadline } from './handshake.js';

/** Longest response header accepted from the proxy. */
export const HTTP_CONNECT_MAX_HEADER = 16 * 1024;

/** Options of {@link HttpConnectDialer}. */
export interface HttpConnectOptions {
  /** Proxy host (address or name). */
  host: string;
  /** Proxy port (default 3128). */
  port?: number;
  /** Basic credentials. */
  username?: string;
  password?: string;
  /** Extra request headers (e.g. `{ 'User-Agent': 'l3kit' }`). */
  headers?: Record<string, string>;
}

/** `host:port` as a request target (IPv6 in brackets). */
export function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Builds the CONNECT request. */
export function encodeConnectRequest(
  target: DialTarget,
  opts: Pick<HttpConnectOptions, 'username' | 'password' | 'headers'>,
): string {
  const a = authority(target.host, target.port);
  let req = `CONNECT ${a} HTTP/1.1\r\nHost: ${a}\r\n`;
  if (opts.username !== undefined) {
    const cred = Buffer.from(`${opts.username}:${opts.password ?? ''}`, 'utf8').toString('base64');
    req += `Proxy-Authorization: Basic ${cred}\r\n`;
  }
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (/[\r\n:]/.test(k) || /[\r\n]/.test(v))
      throw new DialError('proxy', 'ERR_BAD_OPTION', `HTTP CONNECT: bad header ${JSON.stringify(k)}`);
    req += `${k}: ${v}\r\n`;
  }
  return `${req}\r\n`;
}

/** Parses the status line of the proxy's answer; returns the status code. */
export function parseConnectStatus(head: Buffer, what: string): number {
  const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(line);
  if (!m)
    throw new DialError(
      'proxy',
      'ERR_PROXY_PROTOCOL',
      `${what}: not an HTTP response: ${JSON.stringify(line.slice(0, 80))}`,
    );
  return Number(m[1]);
}

/**
 * Maps a non-2xx CONNECT status to a {@link DialError}: 403 → denied, 407 → proxy
 * (authentication), 502 / 503 → unreachable (the proxy could not connect; proxies do not tell
 * refusal from other failures), 504 → timeout, anything else → proxy.
 */
export function connectStatusError(status: number, what: string): DialError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const m = (f: DialError['failure'], code: string): DialError =>
    new DialError(f, code, `${what}: proxy answered ${status}`);
  if (status === 403) return m('denied', 'ERR_EGRESS_DENIED');
  if (status === 407) return m('proxy', 'ERR_PROXY_AUTH');
  if (status === 502 || status === 503 || status === 500) return m('unreachable', 'ERR_EGRESS_UNREACHABLE');
  if (status === 504) return m('timeout', 'ERR_EGRESS_TIMEOUT');
  return m('proxy', 'ERR_PROXY_PROTOCOL');
}

/** Dials through an HTTP proxy with CONNECT. */
export class HttpConnectDialer implements Dialer {
  readonly host: string;
  readonly port: number;

  /** @param name the proxy's name in rules and events */
  constructor(
    readonly name: string,
    private readonly opts: HttpConnectOptions,
  ) {
    this.host = opts.host;
    this.port = opts.port ?? 3128;
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535)
      throw new ConfigError('ERR_BAD_PORT', `proxy ${name}: port must be 1..65535, got ${this.port}`);
    try {
      encodeConnectRequest({ host: 'x', port: 1 }, opts); // validates the headers
    } catch (e) {
      throw new ConfigError('ERR_BAD_OPTION', `proxy ${name}: ${(e as Error).message}`);
    }
  }

  async connect(target: DialTarget, opts: DialOptions): Promise<Socket> {
    const what = `HTTP proxy ${this.name} CONNECT ${authority(target.host, target.port)}`;
    const sock = await connectTcp(this.host, this.port, opts, this.name);
    const reader = new HandshakeReader(sock, what);
    await withDeadline(sock, opts.timeoutMs, what, opts.signal, async () => {
      sock.write(encodeConnectRequest(target, this.opts));
      const head = await reader.readHeaderBlock(HTTP_CONNECT_MAX_HEADER);
      const err = connectStatusError(parseConnectStatus(head, what), what);
      if (err) throw err;
    });
    reader.detach();
    return sock;
  }
}
