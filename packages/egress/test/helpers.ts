/**
 * Test fixtures: a tenant virtual host attached to an egress device through a link that checks
 * every packet the device emits (independent checksum recompute), upstream servers on
 * 127.0.0.1, and minimal SOCKS5 (RFC 1928/1929, CONNECT + UDP ASSOCIATE) and HTTP CONNECT
 * proxies written for the tests.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { L3Device } from '@l3kit/core';
import { VirtualHost } from '@l3kit/stack';
import { assertChecksums, waitFor } from '@l3kit/testkit';
import type { Prefix } from '@l3kit/wire';
import {
  buildDnsQuery,
  DnsType,
  EgressDevice,
  type EgressDeviceOptions,
  parseDnsAnswers,
} from '../src/index.js';
import { decodeSocksAddress, decodeSocksUdp, encodeSocksAddress } from '../src/socks5.js';

/** Wraps a device so that every packet sent into it is checked first (and recorded). */
export class CheckedDevice implements L3Device {
  readonly received: Uint8Array[] = [];
  record = false;
  constructor(readonly inner: L3Device) {}
  setHandler(h: (p: Uint8Array) => void): void {
    this.inner.setHandler(h);
  }
  send(p: Uint8Array): void {
    assertChecksums(p, 'packet from the egress device');
    if (this.record) this.received.push(p.slice());
    this.inner.send(p);
  }
  addr(): Prefix | undefined {
    return this.inner.addr();
  }
  setAddr(p: Prefix): void {
    this.inner.setAddr(p);
  }
  close(): void {
    this.inner.close();
  }
}

/** An egress device with one tenant host (10.0.0.2/24, gateway 10.0.0.1). */
export function setup(opts: EgressDeviceOptions = {}, tenantName = 'alice') {
  const egress = new EgressDevice({ allowLoopback: true, ...opts });
  const client = new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1' });
  const link = new CheckedDevice(client);
  const t = {
    egress,
    client,
    link,
    detach: egress.connectL3(link, { name: tenantName }),
    close: (): void => {},
  };
  t.close = (): void => {
    t.detach();
    client.close();
    egress.close();
  };
  return t;
}

/** Listens on 127.0.0.1:0; resolves with the server and its port. */
export async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** Closes a test server: destroys its open client sockets, then waits for the server to close. */
function closer(server: Server, clients: Iterable<Socket>): () => Promise<void> {
  return async () => {
    for (const c of clients) c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
}

/** An upstream that answers every connection with `greeting` + the peer address, then echoes. */
export async function echoServer(): Promise<{
  server: Server;
  port: number;
  peers: string[];
  sockets: Socket[];
  /** Stops listening and destroys every accepted socket. */
  close: () => void;
}> {
  const peers: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    peers.push(`${s.remoteAddress}:${s.remotePort}`);
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  const port = await listen(server);
  const close = (): void => {
    for (const x of sockets) x.destroy();
    server.close();
  };
  return { server, port, peers, sockets, close };
}

/** A port on 127.0.0.1 with nothing listening (connections are refused). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Reads everything from a socket until it ends. */
export function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

/** Waits for `'connect'` or rejects with the socket's error. */
export function connected(s: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
}

/** Resolves with the error a socket fails with. */
export function failure(s: NodeJS.EventEmitter): Promise<Error & { code?: string }> {
  return new Promise((resolve, reject) => {
    s.once('error', resolve);
    s.once('connect', () => reject(new Error('connected, expected an error')));
  });
}

/** sha256 hex. */
export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Options of {@link socksServer}. */
export interface SocksServerOptions {
  username?: string;
  password?: string;
  /** Reply code to send instead of connecting (e.g. 2 = not allowed). */
  forceReply?: number;
  /** Names the proxy resolves (a DNS stand-in). */
  hosts?: Record<string, string>;
}

/** A minimal SOCKS5 server: CONNECT and UDP ASSOCIATE, optional RFC 1929 authentication. */
export async function socksServer(opts: SocksServerOptions = {}) {
  const log: Array<{ cmd: number; host: string; port: number }> = [];
  const udpSockets: DgramSocket[] = [];
  const clients = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (c) => {
    clients.add(c);
    c.on('close', () => clients.delete(c));
    c.on('error', () => {});
    let buf = Buffer.alloc(0);
    let stage: 'greet' | 'auth' | 'request' | 'done' = 'greet';
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === 'greet') {
          if (buf.length < 2 || buf.length < 2 + buf[1]) return;
          const methods = [...buf.subarray(2, 2 + buf[1])];
          buf = buf.subarray(2 + buf[1]);
          const want = opts.username !== undefined ? 2 : 0;
          if (!methods.includes(want)) {
            c.end(Buffer.from([5, 0xff]));
            stage = 'done';
            return;
          }
          c.write(Buffer.from([5, want]));
          stage = want === 2 ? 'auth' : 'request';
        } else if (stage === 'auth') {
          if (buf.length < 2) return;
          const ul = buf[1];
          if (buf.length < 3 + ul) return;
          const pl = buf[2 + ul];
          if (buf.length < 3 + ul + pl) return;
          const u = buf.subarray(2, 2 + ul).toString();
          const p = buf.subarray(3 + ul, 3 + ul + pl).toString();
          buf = buf.subarray(3 + ul + pl);
          if (u !== opts.username || p !== opts.password) {
            c.end(Buffer.from([1, 1]));
            stage = 'done';
            return;
          }
          c.write(Buffer.from([1, 0]));
          stage = 'request';
        } else if (stage === 'request') {
          if (buf.length < 4) return;
          const a = decodeSocksAddress(buf, 3);
          if (!a) return;
          const cmd = buf[1];
          buf = buf.subarray(3 + a.length);
          stage = 'done';
          c.off('data', onData);
          log.push({ cmd, host: a.host, port: a.port });
          const reply = (rep: number, host = '0.0.0.0', port = 0): void => {
            c.write(Buffer.concat([Buffer.from([5, rep, 0]), encodeSocksAddress(host, port)]));
          };
          if (opts.forceReply !== undefined) {
            reply(opts.forceReply);
            c.end();
            return;
          }
          if (cmd === 1) {
            const up = connect({ host: opts.hosts?.[a.host] ?? a.host, port: a.port, allowHalfOpen: true });
            up.once('connect', () => {
              reply(0, up.localAddress ?? '0.0.0.0', up.localPort ?? 0);
              if (buf.length > 0) up.write(buf);
              up.pipe(c);
              c.pipe(up);
            });
            c.on('close', () => up.destroy());
            up.on('close', () => c.destroy());
            up.on('error', (e: Error & { code?: string }) => {
              if (up.connecting || !up.remotePort) {
                reply(e.code === 'ECONNREFUSED' ? 5 : 4);
                c.end();
              } else c.destroy();
            });
            c.on('error', () => up.destroy());
          } else if (cmd === 3) {
            const u = createSocket('udp4');
            udpSockets.push(u);
            let client: { address: string; port: number } | undefined;
            u.on('message', (msg, rinfo) => {
              if (
                rinfo.address === '127.0.0.1' &&
                (!client || rinfo.port === client.port) &&
                msg[0] === 0 &&
                msg[1] === 0
              ) {
                const d = decodeSocksUdp(msg);
                if (!d) return;
                client = { address: rinfo.address, port: rinfo.port };
                log.push({ cmd: 0x83, host: d.host, port: d.port });
                u.send(d.data, d.port, d.host);
              } else if (client) {
                u.send(
                  Buffer.concat([Buffer.from([0, 0, 0]), encodeSocksAddress(rinfo.address, rinfo.port), msg]),
                  client.port,
                  client.address,
                );
              }
            });
            u.bind(0, '127.0.0.1', () => reply(0, '127.0.0.1', u.address().port));
            c.on('close', () => u.close());
            c.resume();
          } else {
            reply(7);
            c.end();
          }
          return;
        } else return;
      }
    };
    c.on('data', onData);
  });
  return { server, port: await listen(server), log, close: closer(server, clients) };
}

/** A minimal HTTP CONNECT proxy with optional Basic authentication. */
export async function connectProxy(
  opts: { username?: string; password?: string; forbid?: string; hosts?: Record<string, string> } = {},
) {
  const log: string[] = [];
  const clients = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (c) => {
    clients.add(c);
    c.on('close', () => clients.delete(c));
    c.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      c.off('data', onData);
      const head = buf.subarray(0, i).toString('latin1').split('\r\n');
      const rest = buf.subarray(i + 4);
      const m = /^CONNECT (\S+):(\d+) HTTP\/1\.1$/.exec(head[0]);
      if (!m) {
        c.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      log.push(`${m[1]}:${m[2]}`);
      if (opts.username !== undefined) {
        const want = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
        if (!head.some((h) => h.toLowerCase() === `proxy-authorization: ${want.toLowerCase()}`)) {
          c.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\n\r\n');
          return;
        }
      }
      if (opts.forbid && m[1] === opts.forbid) {
        c.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      const up = connect({ host: opts.hosts?.[m[1]] ?? m[1], port: Number(m[2]), allowHalfOpen: true });
      up.once('connect', () => {
        c.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (rest.length > 0) up.write(rest);
        up.pipe(c);
        c.pipe(up);
      });
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
      up.on('error', () => {
        if (!up.remotePort) c.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        else c.destroy();
      });
      c.on('error', () => up.destroy());
    };
    c.on('data', onData);
  });
  return { server, port: await listen(server), log, close: closer(server, clients) };
}

/** A UDP echo server on 127.0.0.1 that records sources. */
export async function udpEcho(): Promise<{ sock: DgramSocket; port: number; sources: string[] }> {
  const sock = createSocket('udp4');
  const sources: string[] = [];
  sock.on('message', (m, r) => {
    sources.push(`${r.address}:${r.port}`);
    sock.send(m, r.port, r.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { sock, port: sock.address().port, sources };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` until true (or fails after `ms`). */
export function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  return waitFor(cond, { what, timeoutMs: ms });
}

/** The handler the device installed on the tenant link (what the tenant's packets enter). */
export function captureTenantHandler(t: ReturnType<typeof setup>): (p: Uint8Array) => void {
  let h: ((p: Uint8Array) => void) | undefined;
  const inner = t.client.setHandler.bind(t.client);
  // Re-attach through a probe to read the handler the device sets.
  const probe: L3Device = {
    setHandler: (fn) => {
      h = fn;
      inner(fn);
    },
    send: (p) => t.link.send(p),
    addr: () => t.client.addr(),
    setAddr: () => {},
    close: () => {},
  };
  t.detach();
  t.detach = t.egress.connectL3(probe, { name: 'probe' });
  return (p) => (h as (p: Uint8Array) => void)(p);
}

/** Delivers one packet into the device as if the tenant had emitted it. */
export function emitFromTenant(t: ReturnType<typeof setup>, pkt: Uint8Array): void {
  captureTenantHandler(t)(pkt);
}

/** Asks the device's DNS interceptor for `name` from the tenant host; resolves the first A record. */
export async function resolveVia(
  t: ReturnType<typeof setup>,
  name: string,
  server = '192.0.2.53',
): Promise<string> {
  const sock = t.client.udp.bind(0);
  try {
    const id = 0x1234;
    const got = new Promise<Buffer>((resolve) => sock.once('message', (m) => resolve(m)));
    sock.send(buildDnsQuery(id, name, DnsType.A), 53, server);
    const resp = await got;
    const p = parseDnsAnswers(resp);
    if (!p || p.answers.length === 0) throw new Error(`no answer for ${name}`);
    return p.answers[0].address;
  } finally {
    sock.close();
  }
}
