/**
 * Shared rigs for the ALG tests:
 *
 * - a NAT on a manual clock whose every emitted packet is copied and checked with the
 *   independent checksum oracle, and scripted TCP peers (segments built with `buildPacket`,
 *   parsed here byte by byte) that keep their own sequence numbers, so a test sees exactly what
 *   seq / ack / SACK values each side receives after a length-changing rewrite;
 * - a NAT between two userspace-stack hosts (`VirtualHost`) over checked, logging links that can
 *   drop chosen packets, for end-to-end protocol runs (FTP, SIP over TCP, H.323);
 * - a small FTP server and client for those hosts.
 */
import assert from 'node:assert/strict';
import { type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import { Nat, type NatOptions } from '@l3kit/nat';
import { type TcpServer, type TcpSocket, VirtualHost } from '@l3kit/stack';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import fc from 'fast-check';

/** The NAT's inside network. */
export const NAT_INSIDE = '10.0.0.1/24';
/** The NAT's outside network; its address is the external address. */
export const NAT_OUTSIDE = '203.0.113.100/24';
/** External address (longer than the inside ones: rewrites grow the payload). */
export const EXT = '203.0.113.100';
/** Inside client / server. */
export const CLIENT = '10.0.0.5';
/** A second inside host. */
export const CLIENT2 = '10.0.0.6';
/** The outside host of {@link stackTopology}, on the NAT's outside network. */
export const OUTSIDE_HOST = '203.0.113.20';
/** Remote FTP / IRC / TFTP server. */
export const SERVER = '198.51.100.20';
/** Another remote host. */
export const OTHER = '198.51.100.99';

/** TCP flags. */
export const FIN = 0x01;
/** SYN */
export const SYN = 0x02;
/** RST */
export const RST = 0x04;
/** PSH */
export const PSH = 0x08;
/** ACK */
export const ACK = 0x10;

/** A parsed TCP/UDP packet (read byte by byte, independent of the wire views). */
export interface Seg {
  bytes: Uint8Array;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** SACK blocks (left, right). */
  sack: Array<[number, number]>;
  payload: Uint8Array;
  text: string;
}

function ip(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Parses an IPv4 TCP or UDP packet. */
export function parseSeg(b: Uint8Array): Seg {
  assert.equal(b[0] >> 4, 4, 'IPv4');
  const hl = (b[0] & 15) * 4;
  const total = (b[2] << 8) | b[3];
  assert.equal(total, b.length, 'IP total length matches the buffer');
  const proto = b[9];
  const sport = (b[hl] << 8) | b[hl + 1];
  const dport = (b[hl + 2] << 8) | b[hl + 3];
  let payloadOff = hl + 8;
  let seq = 0;
  let ack = 0;
  let flags = 0;
  const sack: Array<[number, number]> = [];
  if (proto === 6) {
    seq = u32(b, hl + 4);
    ack = u32(b, hl + 8);
    flags = b[hl + 13];
    payloadOff = hl + (b[hl + 12] >> 4) * 4;
    for (let o = hl + 20; o < payloadOff; ) {
      const kind = b[o];
      if (kind === 0) break;
      if (kind === 1) {
        o++;
        continue;
      }
      const len = b[o + 1];
      if (kind === 5) for (let k = o + 2; k + 8 <= o + len; k += 8) sack.push([u32(b, k), u32(b, k + 4)]);
      o += Math.max(len, 2);
    }
  }
  const payload = b.slice(payloadOff, total);
  return {
    bytes: b,
    src: ip(b, 12),
    dst: ip(b, 16),
    proto,
    sport,
    dport,
    seq,
    ack,
    flags,
    sack,
    payload,
    text: Buffer.from(payload).toString('latin1'),
  };
}

/** SACK option bytes (with two NOPs in front) for the given blocks. */
export function sackOption(blocks: Array<[number, number]>): Uint8Array {
  const o = new Uint8Array(4 + 8 * blocks.length);
  o[0] = 1;
  o[1] = 1;
  o[2] = 5;
  o[3] = 2 + 8 * blocks.length;
  blocks.forEach(([l, r], i) => {
    const dv = new DataView(o.buffer, 4 + 8 * i, 8);
    dv.setUint32(0, l >>> 0);
    dv.setUint32(4, r >>> 0);
  });
  return o;
}

/** Builds a TCP segment; `options` are option bytes, or SACK blocks (see {@link sackOption}). */
export function tcpSeg(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  flags: number,
  seq: number,
  ack: number,
  payload: string | Uint8Array = '',
  opts?: Uint8Array | Array<[number, number]>,
): Uint8Array {
  const options = Array.isArray(opts) ? sackOption(opts) : opts;
  const p = buildPacket({
    src,
    dst,
    ttl: 64,
    tcp: { srcPort: sport, dstPort: dport, seq: seq >>> 0, ack: ack >>> 0, flags, window: 65535, options },
    payload: typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload,
  });
  assertChecksums(p, 'test input');
  return p;
}

/** Builds a UDP datagram. */
export function udpDgram(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const p = buildPacket({ src, dst, ttl: 64, udp: { srcPort: sport, dstPort: dport }, payload });
  assertChecksums(p, 'test input');
  return p;
}

/** A NAT on a manual clock with captured, oracle-checked output. */
export class AlgRig {
  readonly clock = new ManualClock(1_000_000);
  readonly nat: Nat;
  private outBuf: Seg[] = [];
  private inBuf: Seg[] = [];

  constructor(opts: Partial<NatOptions> = {}) {
    this.nat = new Nat({
      inside: NAT_INSIDE,
      outside: NAT_OUTSIDE,
      clock: this.clock,
      maintainIntervalMs: 0,
      ...opts,
    } as NatOptions);
    this.nat.outside().setHandler((p) => this.outBuf.push(this.check(p, 'outside')));
    this.nat.inside().setHandler((p) => this.inBuf.push(this.check(p, 'inside')));
  }

  private check(p: Uint8Array, side: string): Seg {
    const copy = p.slice();
    assertChecksums(copy, `packet the NAT emitted on the ${side}`);
    return parseSeg(copy);
  }

  /** Sends a copy of `pkt` into the inside; returns what left on the outside. */
  fromInside(pkt: Uint8Array): Seg[] {
    this.outBuf = [];
    this.nat.inside().send(pkt.slice());
    return this.outBuf;
  }

  /** Sends a copy of `pkt` into the outside; returns what reached the inside. */
  fromOutside(pkt: Uint8Array): Seg[] {
    this.inBuf = [];
    this.nat.outside().send(pkt.slice());
    return this.inBuf;
  }

  /** Advances the clock and runs the NAT's maintenance. */
  advance(ms: number): void {
    this.clock.advance(ms);
    this.nat.maintain();
  }

  close(): void {
    this.nat.close();
  }
}

/**
 * A TCP connection through the rig between an inside host and a remote, driven by hand: each
 * side keeps the sequence numbers it would use, unaware of the NAT's rewrites.
 */
export class ScriptedConn {
  /** External port the NAT gave the inside endpoint. */
  ext = 0;
  /** Next sequence number of the inside host (its own space) and of the remote. */
  iSeq: number;
  rSeq: number;
  /** What each side has received in order (bytes as delivered). */
  iRcv = '';
  rRcv = '';

  constructor(
    readonly rig: AlgRig,
    readonly inside: string,
    readonly iPort: number,
    readonly remote: string,
    readonly rPort: number,
    iIsn = 1000,
    rIsn = 900_000,
  ) {
    this.iSeq = iIsn;
    this.rSeq = rIsn;
  }

  /** Three-way handshake opened by the inside host. */
  open(): this {
    const syn = this.rig.fromInside(
      tcpSeg(this.inside, this.iPort, this.remote, this.rPort, SYN, this.iSeq, 0),
    );
    assert.equal(syn.length, 1, 'SYN leaves');
    this.ext = syn[0].sport;
    this.iSeq++;
    const sa = this.rig.fromOutside(
      tcpSeg(this.remote, this.rPort, EXT, this.ext, SYN | ACK, this.rSeq, this.iSeq),
    );
    assert.equal(sa.length, 1, 'SYN-ACK arrives');
    this.rSeq++;
    assert.equal(this.rig.fromInside(this.iAck()).length, 1, 'ACK leaves');
    return this;
  }

  /** Three-way handshake opened by the remote to external port `ext` (a port forward). */
  accept(ext: number): this {
    this.ext = ext;
    const syn = this.rig.fromOutside(tcpSeg(this.remote, this.rPort, EXT, ext, SYN, this.rSeq, 0));
    assert.equal(syn.length, 1, 'SYN arrives');
    this.rSeq++;
    const sa = this.rig.fromInside(
      tcpSeg(this.inside, this.iPort, this.remote, this.rPort, SYN | ACK, this.iSeq, this.rSeq),
    );
    assert.equal(sa.length, 1, 'SYN-ACK leaves');
    this.iSeq++;
    assert.equal(this.rig.fromOutside(this.rAck(sa[0].seq + 1)).length, 1, 'ACK arrives');
    return this;
  }

  /** A pure ACK from the inside host acknowledging `ack` (default: the remote's next seq). */
  iAck(ack = this.rSeq, options?: Uint8Array): Uint8Array {
    return tcpSeg(this.inside, this.iPort, this.remote, this.rPort, ACK, this.iSeq, ack, '', options);
  }

  /** A pure ACK from the remote (in the sequence space the remote sees). */
  rAck(ack: number, options?: Uint8Array): Uint8Array {
    return tcpSeg(this.remote, this.rPort, EXT, this.ext, ACK, this.rSeq, ack, '', options);
  }

  /** The inside host sends `data` at its next seq (or `seq` for a retransmission); returns what left. */
  iSend(data: string, seq?: number, ack = this.rSeq): Seg[] {
    const s = seq ?? this.iSeq;
    const out = this.rig.fromInside(
      tcpSeg(this.inside, this.iPort, this.remote, this.rPort, PSH | ACK, s, ack, data),
    );
    if (seq === undefined) this.iSeq = (this.iSeq + data.length) >>> 0;
    for (const o of out) this.rRcv += o.text;
    return out;
  }

  /** The remote sends `data` with acknowledgement `ack` (remote's view); returns what arrived. */
  rSend(data: string, ack: number, seq?: number): Seg[] {
    const s = seq ?? this.rSeq;
    const got = this.rig.fromOutside(tcpSeg(this.remote, this.rPort, EXT, this.ext, PSH | ACK, s, ack, data));
    if (seq === undefined) this.rSeq = (this.rSeq + data.length) >>> 0;
    for (const g of got) this.iRcv += g.text;
    return got;
  }
}

/**
 * Sends arbitrary payloads (fast-check generated, `numRuns` of them) from the inside host of `c`
 * as consecutive segments and checks that each comes out exactly once (a helper that throws would
 * make the NAT drop it) and, when `untouched(payload)` holds, unchanged.
 */
export function fuzzSegments(
  c: ScriptedConn,
  arb: fc.Arbitrary<Uint8Array>,
  untouched: (payload: Uint8Array) => boolean,
  numRuns = 2000,
): void {
  fc.assert(
    fc.property(arb, (payload) => {
      if (payload.length === 0) return;
      const out = c.iSend(Buffer.from(payload).toString('latin1'));
      assert.equal(out.length, 1, 'the segment came out');
      if (untouched(payload)) assert.deepEqual(out[0].payload, Uint8Array.from(payload));
    }),
    { numRuns },
  );
}

// =============================================================================== userspace-stack topology

/**
 * Connects two devices both ways over a link that checks every packet with the checksum oracle,
 * appends it (parsed, copied) to `log`, and drops the ones `drop` selects.
 */
export function checkedLink(
  a: L3Device,
  b: L3Device,
  log: Seg[],
  drop: (s: Seg) => boolean = () => false,
): void {
  const carry = (to: L3Device) => (p: Uint8Array) => {
    assertChecksums(p, 'packet on a link');
    const s = parseSeg(p.slice());
    log.push(s);
    if (!drop(s)) to.send(p);
  };
  a.setHandler(carry(b));
  b.setHandler(carry(a));
}

/**
 * A NAT (inside `10.0.0.1/24`, outside {@link EXT}`/24`, no helper: add them to `nat`) on a
 * manual scheduler between an inside `VirtualHost` ({@link CLIENT}) and an outside one
 * ({@link OUTSIDE_HOST}) over {@link checkedLink}s; `inside` / `outside` log each link, and
 * `dropOutside` may drop packets on the outside link.
 */
export function stackTopology(dropOutside: (s: Seg) => boolean = () => false) {
  const clock = new ManualClock(1_000_000);
  const sched = new ManualScheduler(clock);
  const nat = new Nat({ inside: NAT_INSIDE, outside: NAT_OUTSIDE, clock, maintainIntervalMs: 0 });
  const inner = new VirtualHost({ addr: `${CLIENT}/24`, gateway: '10.0.0.1', scheduler: sched });
  const outer = new VirtualHost({ addr: `${OUTSIDE_HOST}/24`, gateway: EXT, scheduler: sched });
  const inside: Seg[] = [];
  const outside: Seg[] = [];
  checkedLink(inner, nat.inside(), inside);
  checkedLink(nat.outside(), outer, outside, dropOutside);
  return { clock, sched, nat, inner, outer, inside, outside };
}

// =============================================================================== FTP over the userspace stack

/** A line splitter for a socket: calls `onLine` for each CRLF-terminated line (without CRLF). */
export function onLines(sock: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      onLine(line);
    }
  });
}

/** What a {@link MiniFtpServer} saw. */
export interface MiniFtpServerLog {
  /** Commands received, as received. */
  commands: string[];
  /** Addresses the control connections came from. */
  peers: string[];
}

/**
 * A small FTP server on a virtual host (port 21): USER, PASS, TYPE, PORT / EPRT (checked like
 * vsftpd: the address must be the control connection's peer, else `500 Illegal PORT command.`),
 * PASV / EPSV (listening on `pasvPort`, announcing the host's own address), RETR (active: data
 * connection from port 20), NOOP, QUIT.
 */
export function startMiniFtpServer(
  host: VirtualHost,
  files: Record<string, Uint8Array>,
  pasvPort = 10005,
): MiniFtpServerLog {
  const log: MiniFtpServerLog = { commands: [], peers: [] };
  host.tcp.listen(21, (ctl) => {
    const say = (s: string) => ctl.write(`${s}\r\n`);
    log.peers.push(ctl.remoteAddress ?? '');
    let data: { ip: string; port: number } | undefined;
    let pasv: TcpServer | undefined;
    let pending: TcpSocket | undefined;
    let waiting: ((s: TcpSocket) => void) | undefined;
    ctl.on('close', () => pasv?.close());
    say('220 (l3kit mini FTP)');
    onLines(ctl, (line) => {
      log.commands.push(line);
      const [verb, ...rest] = line.split(' ');
      const arg = rest.join(' ');
      switch (verb.toUpperCase()) {
        case 'USER':
          return say('331 Please specify the password.');
        case 'PASS':
          return say('230 Login successful.');
        case 'TYPE':
          return say('200 Switching to Binary mode.');
        case 'NOOP':
          return say('200 NOOP ok.');
        case 'PORT':
        case 'EPRT': {
          let ip = '';
          let port = 0;
          if (verb.toUpperCase() === 'PORT') {
            const n = arg.split(',').map(Number);
            ip = n.slice(0, 4).join('.');
            port = n[4] * 256 + n[5];
          } else {
            const f = arg.split(arg[0]);
            ip = f[2];
            port = Number(f[3]);
          }
          if (ip !== ctl.remoteAddress || !(port > 0)) return say('500 Illegal PORT command.');
          data = { ip, port };
          return say('200 PORT command successful. Consider using PASV.');
        }
        case 'PASV':
        case 'EPSV': {
          // Passive: listen on the data port and announce our own (inside) address or the port.
          pasv?.close();
          pending = undefined;
          pasv = host.tcp.listen(pasvPort, (sock) => {
            pending = sock;
            waiting?.(sock);
          });
          const me = host.addr()?.ip.join('.') ?? '';
          if (verb.toUpperCase() === 'EPSV')
            return say(`229 Entering Extended Passive Mode (|||${pasvPort}|)`);
          return say(
            `227 Entering Passive Mode (${me.replaceAll('.', ',')},${pasvPort >> 8},${pasvPort & 255}).`,
          );
        }
        case 'RETR': {
          const body = files[arg];
          if (!body) return say('550 Failed to open file.');
          if (!data && !pasv) return say('425 Use PORT or PASV first.');
          say(`150 Opening BINARY mode data connection for ${arg} (${body.length} bytes).`);
          const send = (d: TcpSocket) => {
            d.resume(); // read the (empty) peer side so that 'close' follows its FIN
            d.on('error', () => say('425 Failed to establish connection.'));
            d.on('close', (hadError: boolean) => {
              if (!hadError) say('226 Transfer complete.');
            });
            d.end(Buffer.from(body));
          };
          if (data) {
            const d = host.tcp.connect({ host: data.ip, port: data.port, localPort: 20 });
            data = undefined;
            d.on('connect', () => send(d));
          } else if (pending) send(pending);
          else waiting = send;
          return;
        }
        case 'QUIT':
          say('221 Goodbye.');
          return ctl.end();
        default:
          return say('502 Command not implemented.');
      }
    });
  });
  return log;
}

/** State of a {@link MiniFtpClient} run. */
export interface MiniFtpResult {
  /** Final reply lines, one per command (and the greeting first). */
  replies: string[];
  /** The file, once the data connection closed. */
  data?: Buffer;
  done: boolean;
}

/**
 * An active-mode FTP client on a virtual host: logs in, announces `dataPort` with PORT (or EPRT),
 * RETRs `file`, QUITs. `result.done` turns true after the last reply or a failure reply.
 */
export function runMiniFtpClient(
  host: VirtualHost,
  server: string,
  file: string,
  dataPort: number,
  opts: { eprt?: boolean; passive?: 'PASV' | 'EPSV'; extra?: string[] } = {},
): MiniFtpResult {
  const res: MiniFtpResult = { replies: [], done: false };
  const me = host.addr()?.ip.join('.') ?? '';
  const portCmd =
    opts.passive ??
    (opts.eprt
      ? `EPRT |1|${me}|${dataPort}|`
      : `PORT ${me.replaceAll('.', ',')},${dataPort >> 8},${dataPort & 255}`);
  const cmds = [
    'USER anonymous',
    'PASS guest@',
    'TYPE I',
    ...(opts.extra ?? []),
    portCmd,
    `RETR ${file}`,
    'QUIT',
  ];
  const chunks: Buffer[] = [];
  const collect = (d: TcpSocket) => {
    d.on('data', (c: Buffer) => chunks.push(c));
    d.on('end', () => {
      res.data = Buffer.concat(chunks);
    });
  };
  const listener = host.tcp.listen(dataPort, collect);
  const ctl = host.tcp.connect({ host: server, port: 21 });
  let next = 0;
  onLines(ctl, (line) => {
    if (!/^\d{3} /.test(line)) return;
    if (line.startsWith('1')) return; // preliminary: wait for the completion reply
    res.replies.push(line);
    // Passive: connect to the endpoint the server announced (as the client reads it).
    const m227 = /^227 .*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(line);
    const m229 = /^229 .*\(\|\|\|(\d+)\|\)/.exec(line);
    if (m227)
      collect(host.tcp.connect({ host: m227.slice(1, 5).join('.'), port: +m227[5] * 256 + +m227[6] }));
    if (m229) collect(host.tcp.connect({ host: server, port: +m229[1] }));
    if (/^[45]/.test(line) || next >= cmds.length) {
      res.done = true;
      listener.close();
      ctl.end();
      return;
    }
    ctl.write(`${cmds[next++]}\r\n`);
  });
  ctl.on('error', () => {
    res.done = true;
  });
  return res;
}
