/**
 * A SOCKS5 client (RFC 1928) with username/password authentication (RFC 1929): CONNECT for TCP
 * and UDP ASSOCIATE for UDP. Destinations go to the proxy as IPv4, IPv6 or domain-name
 * addresses (ATYP 1, 4, 3), so a proxy can route and filter by name.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { isIP, type Socket } from 'node:net';
import { ConfigError } from '@l3kit/core';
import { formatIp, parseIp } from '@l3kit/wire';
import { connectTcp, type Dialer, type DialOptions, type DialTarget, type UdpRelay } from './dialer.js';
import { DialError } from './errors.js';
import { HandshakeReader, withDeadline } from './handshake.js';

/*
 * RFC 1928 §3, method selection:          §4, request:
 *  +----+----------+----------+           +----+-----+-------+------+----------+----------+
 *  |VER | NMETHODS | METHODS  |           |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *  +----+----------+----------+           +----+-----+-------+------+----------+----------+
 *  | 1  |    1     | 1 to 255 |           | 1  |  1  | X'00' |  1   | Variable |    2     |
 *                                         +----+-----+-------+------+----------+----------+
 * §6, reply: VER REP RSV ATYP BND.ADDR BND.PORT.  §7, UDP: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA.
 * RFC 1929 §2: VER(1)=1 ULEN UNAME PLEN PASSWD → VER STATUS (0 = success).
 */

/** Protocol version byte. */
export const SOCKS_VERSION = 5;
/** Authentication methods (RFC 1928 §3). */
export const SocksMethod = { NoAuth: 0x00, UserPass: 0x02, NoAcceptable: 0xff } as const;
/** Commands (RFC 1928 §4). */
export const SocksCommand = { Connect: 0x01, Bind: 0x02, UdpAssociate: 0x03 } as const;
/** Address types (RFC 1928 §5). */
export const SocksAddressType = { Ipv4: 0x01, Domain: 0x03, Ipv6: 0x04 } as const;
/** Reply codes (RFC 1928 §6). */
export const SocksReply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;

/** Encodes ATYP + DST.ADDR + DST.PORT for `host` (IP text or a name of 1–255 bytes). */
export function encodeSocksAddress(host: string, port: number): Buffer {
  const ip = isIP(host) !== 0 ? parseIp(host) : null;
  if (ip) {
    const out = Buffer.alloc(1 + ip.length + 2);
    out[0] = ip.length === 4 ? SocksAddressType.Ipv4 : SocksAddressType.Ipv6;
    out.set(ip, 1);
    out.writeUInt16BE(port, 1 + ip.length);
    return out;
  }
  const name = Buffer.from(host, 'utf8');
  if (name.length === 0 || name.length > 255)
    throw new DialError(
      'unreachable',
      'ERR_BAD_ADDRESS',
      `SOCKS5: name must be 1..255 bytes: ${JSON.stringify(host)}`,
    );
  const out = Buffer.alloc(2 + name.length + 2);
  out[0] = SocksAddressType.Domain;
  out[1] = name.length;
  name.copy(out, 2);
  out.writeUInt16BE(port, 2 + name.length);
  return out;
}

/** A decoded SOCKS address. */
export interface SocksAddress {
  host: string;
  port: number;
  /** Bytes used from the input. */
  length: number;
}

/** Decodes ATYP + ADDR + PORT at `b[off..]`; `null` when incomplete or the type is unknown. */
export function decodeSocksAddress(b: Uint8Array, off: number): SocksAddress | null {
  if (off >= b.length) return null;
  const t = b[off];
  let alen: number;
  let host: string;
  if (t === SocksAddressType.Ipv4) alen = 4;
  else if (t === SocksAddressType.Ipv6) alen = 16;
  else if (t === SocksAddressType.Domain) {
    if (off + 1 >= b.length || b[off + 1] === 0) return null;
    alen = 1 + b[off + 1];
  } else return null;
  const end = off + 1 + alen + 2;
  if (end > b.length) return null;
  if (t === SocksAddressType.Domain) host = Buffer.from(b.subarray(off + 2, off + 1 + alen)).toString('utf8');
  else host = formatIp(b.subarray(off + 1, off + 1 + alen));
  const port = (b[end - 2] << 8) | b[end - 1];
  return { host, port, length: end - off };
}

/** Builds a request (`CMD` + destination). */
export function encodeSocksRequest(cmd: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, cmd, 0]), encodeSocksAddress(host, port)]);
}

/** Builds the RFC 1929 username/password sub-negotiation. */
export function encodeSocksUserPass(username: string, password: string): Buffer {
  const u = Buffer.from(username, 'utf8');
  const p = Buffer.from(password, 'utf8');
  if (u.length < 1 || u.length > 255 || p.length > 255)
    throw new DialError(
      'proxy',
      'ERR_BAD_OPTION',
      'SOCKS5: username must be 1..255 bytes and password 0..255 bytes',
    );
  return Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]);
}

/** Wraps one datagram for a UDP relay (RFC 1928 §7, FRAG 0). */
export function encodeSocksUdp(host: string, port: number, data: Uint8Array): Buffer {
  const a = encodeSocksAddress(host, port);
  const out = Buffer.alloc(3 + a.length + data.length);
  a.copy(out, 3);
  out.set(data, 3 + a.length);
  return out;
}

/** Unwraps one relay datagram; `null` when malformed or fragmented (FRAG ≠ 0 is dropped, as allowed). */
export function decodeSocksUdp(b: Uint8Array): { host: string; port: number; data: Buffer } | null {
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 0) return null;
  const a = decodeSocksAddress(b, 3);
  if (!a) return null;
  const start = 3 + a.length;
  return { host: a.host, port: a.port, data: Buffer.from(b.buffer, b.byteOffset + start, b.length - start) };
}

/** Maps a reply code to a {@link DialError} (or `undefined` for success). */
export function socksReplyError(rep: number, what: string): DialError | undefined {
  const m = (failure: DialError['failure'], code: string, text: string): DialError =>
    new DialError(failure, code, `${what}: SOCKS5 reply ${rep} (${text})`);
  switch (rep) {
    case SocksReply.Succeeded:
      return undefined;
    case SocksReply.NotAllowed:
      return m('denied', 'ERR_EGRESS_DENIED', 'connection not allowed by ruleset');
    case SocksReply.NetworkUnreachable:
      return m('unreachable', 'ERR_EGRESS_UNREACHABLE', 'network unreachable');
    case SocksReply.HostUnreachable:
      return m('unreachable', 'ERR_EGRESS_UNREACHABLE', 'host unreachable');
    case SocksReply.ConnectionRefused:
      return m('refused', 'ERR_EGRESS_REFUSED', 'connection refused');
    case SocksReply.TtlExpired:
      return m('timeout', 'ERR_EGRESS_TIMEOUT', 'TTL expired');
    case SocksReply.CommandNotSupported:
    case SocksReply.AddressTypeNotSupported:
      return m(
        'proxy',
        'ERR_PROXY_PROTOCOL',
        rep === 7 ? 'command not supported' : 'address type not supported',
      );
    default:
      return m('unreachable', 'ERR_EGRESS_UNREACHABLE', 'general failure');
  }
}

/** Options of {@link Socks5Dialer}. */
export interface Socks5Options {
  /** Proxy host (address or name). */
  host: string;
  /** Proxy port (default 1080). */
  port?: number;
  /** RFC 1929 credentials; without them only method 0 (no authentication) is offered. */
  username?: string;
  password?: string;
}

/** Dials through a SOCKS5 proxy. */
export class Socks5Dialer implements Dialer {
  readonly host: string;
  readonly port: number;
  private readonly username: string | undefined;
  private readonly password: string;

  /** @param name the proxy's name in rules and events */
  constructor(
    readonly name: string,
    opts: Socks5Options,
  ) {
    this.host = opts.host;
    this.port = opts.port ?? 1080;
    this.username = opts.username;
    this.password = opts.password ?? '';
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535)
      throw new ConfigError('ERR_BAD_PORT', `proxy ${name}: port must be 1..65535, got ${this.port}`);
    if (this.username !== undefined) {
      try {
        encodeSocksUserPass(this.username, this.password);
      } catch (e) {
        throw new ConfigError('ERR_BAD_OPTION', `proxy ${name}: ${(e as Error).message}`);
      }
    }
  }

  /** Opens a connection to the proxy and runs method selection and authentication. */
  private async open(opts: DialOptions, what: string): Promise<{ sock: Socket; reader: HandshakeReader }> {
    const sock = await connectTcp(this.host, this.port, opts, this.name);
    const reader = new HandshakeReader(sock, what);
    await withDeadline(sock, opts.timeoutMs, what, opts.signal, async () => {
      const methods =
        this.username !== undefined ? [SocksMethod.NoAuth, SocksMethod.UserPass] : [SocksMethod.NoAuth];
      sock.write(Buffer.from([SOCKS_VERSION, methods.length, ...methods]));
      const sel = await reader.read(2);
      if (sel[0] !== SOCKS_VERSION)
        throw new DialError('proxy', 'ERR_PROXY_PROTOCOL', `${what}: not a SOCKS5 server`);
      if (sel[1] === SocksMethod.UserPass && this.username !== undefined) {
        sock.write(encodeSocksUserPass(this.username, this.password));
        const st = await reader.read(2);
        if (st[1] !== 0)
          throw new DialError('proxy', 'ERR_PROXY_AUTH', `${what}: username/password rejected`);
      } else if (sel[1] !== SocksMethod.NoAuth) {
        throw new DialError(
          'proxy',
          'ERR_PROXY_AUTH',
          `${what}: ${sel[1] === SocksMethod.NoAcceptable ? 'no acceptable authentication method' : `unexpected method ${sel[1]}`}`,
        );
      }
    });
    return { sock, reader };
  }

  /** Sends a request and reads the reply; returns the bound address. */
  private async request(
    sock: Socket,
    reader: HandshakeReader,
    cmd: number,
    host: string,
    port: number,
    opts: DialOptions,
    what: string,
  ): Promise<SocksAddress> {
    return withDeadline(sock, opts.timeoutMs, what, opts.signal, async () => {
      sock.write(encodeSocksRequest(cmd, host, port));
      const head = await reader.read(4);
      if (head[0] !== SOCKS_VERSION)
        throw new DialError('proxy', 'ERR_PROXY_PROTOCOL', `${what}: bad reply version`);
      const t = head[3];
      let rest: Buffer;
      if (t === SocksAddressType.Ipv4) rest = await reader.read(6);
      else if (t === SocksAddressType.Ipv6) rest = await reader.read(18);
      else if (t === SocksAddressType.Domain) {
        const l = await reader.read(1);
        rest = Buffer.concat([l, await reader.read(l[0] + 2)]);
      } else throw new DialError('proxy', 'ERR_PROXY_PROTOCOL', `${what}: bad address type ${t} in reply`);
      const err = socksReplyError(head[1], what);
      if (err) throw err;
      const bound = decodeSocksAddress(Buffer.concat([Buffer.from([t]), rest]), 0);
      if (!bound) throw new DialError('proxy', 'ERR_PROXY_PROTOCOL', `${what}: bad bound address`);
      return bound;
    });
  }

  async connect(target: DialTarget, opts: DialOptions): Promise<Socket> {
    const what = `SOCKS5 ${this.name} CONNECT ${target.host}:${target.port}`;
    const { sock, reader } = await this.open(opts, what);
    await this.request(sock, reader, SocksCommand.Connect, target.host, target.port, opts, what);
    reader.detach();
    return sock;
  }

  async openUdp(family: 4 | 6, opts: DialOptions): Promise<UdpRelay> {
    const what = `SOCKS5 ${this.name} UDP ASSOCIATE`;
    const { sock, reader } = await this.open(opts, what);
    // The client's own address is unknown before it sends; RFC 1928 §7 allows zeros.
    const bound = await this.request(
      sock,
      reader,
      SocksCommand.UdpAssociate,
      family === 4 ? '0.0.0.0' : '::',
      0,
      opts,
      what,
    );
    reader.detach();
    let relayHost = bound.host;
    if (relayHost === '0.0.0.0' || relayHost === '::') relayHost = sock.remoteAddress ?? this.host;
    const udp = createSocket(isIP(relayHost) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((e) => {
      sock.destroy();
      throw new DialError('proxy', 'ERR_PROXY_UNAVAILABLE', `${what}: cannot bind a UDP socket`, {
        cause: e,
      });
    });
    return new Socks5UdpRelay(sock, udp, relayHost, bound.port);
  }
}

/** A UDP ASSOCIATE: the control connection lives as long as the association. */
class Socks5UdpRelay implements UdpRelay {
  onMessage: ((data: Buffer, address: string, port: number) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  private closed = false;

  constructor(
    private readonly control: Socket,
    private readonly udp: DgramSocket,
    private readonly relayHost: string,
    private readonly relayPort: number,
  ) {
    udp.on('message', (msg, rinfo) => {
      // Only the relay may send (RFC 1928 §7: drop datagrams from other sources).
      if (rinfo.port !== relayPort) return;
      const d = decodeSocksUdp(msg);
      if (d) this.onMessage?.(d.data, d.host, d.port);
    });
    udp.on('error', () => {});
    control.resume();
    control.on('data', () => {}); // nothing is expected on the control connection
    const lost = (err?: Error): void => {
      if (this.closed) return;
      this.close();
      this.onClose?.(err);
    };
    control.on('error', lost);
    control.on('close', () => lost());
  }

  send(data: Uint8Array, host: string, port: number): void {
    if (this.closed) return;
    this.udp.send(encodeSocksUdp(host, port, data), this.relayPort, this.relayHost);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.udp.close();
    this.control.destroy();
  }
}
