/**
 * One attached tenant: its packet path, TCP connections, UDP flows and DNS tables.
 *
 * TCP is terminated by an internal `VirtualHost` that listens on one port. Each tenant
 * connection (client S:s → destination D:d) is given a unique pseudo client address P:p; the
 * tenant's segments are rewritten to P:p → H:1 before they enter the stack, and the stack's
 * answers are rewritten back to D:d → S:s (incremental checksums). The pseudo endpoint
 * identifies the connection, so the original destination is known exactly (what
 * `SO_ORIGINAL_DST` gives a transparent proxy). The tenant's SYN is held until the upstream side
 * is open, so a refusal becomes a RST to the SYN and an unreachable destination an ICMP error —
 * what a real network shows — instead of an accepted connection that dies at once.
 */
import type { Socket } from 'node:net';
import { discard, type L3Device, type TimerHandle } from '@l3kit/core';
import { type TcpSocket, VirtualHost } from '@l3kit/stack';
import {
  buildIcmpv6Error,
  finishChecksum,
  formatIp,
  formatIpv4,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
  onesSum,
  parseIp,
  parseIpv4,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  TcpFlags,
  TcpSegment,
  UdpDatagram,
} from '@l3kit/wire';
import {
  Icmp6Unreach,
  IcmpUnreach,
  INTERNAL_GATEWAY,
  INTERNAL_GATEWAY6,
  INTERNAL_HOST_ADDR,
  INTERNAL_HOST_ADDR6,
  INTERNAL_LISTEN_PORT,
  INTERNAL_TIME_WAIT_MS,
  PSEUDO_BASE,
  PSEUDO6_PREFIX,
  TCP_LINGER_MS,
  UDP_PENDING_MAX,
} from './constants.js';
import type { UdpRelay } from './dialer.js';
import { DnsTable } from './dns-interceptor.js';
import type { CloseReason, ConnectionSnapshot, EgressDevice, FlowInfo, TenantStats } from './egress.js';
import { DialError } from './errors.js';
import {
  buildEchoReply,
  buildEchoReply6,
  buildRstFor,
  buildUdp4,
  buildUnreachable,
  rewriteFlow,
  rewriteFlow6,
  TCP_CHECKSUM_OFFSET,
} from './packets.js';
import type { RouteDecision } from './rules.js';

const { SYN, ACK, RST } = TcpFlags;
const HOST_IP = parseIpv4(INTERNAL_HOST_ADDR.split('/')[0]) as number;
const HOST_HI = HOST_IP >>> 16;
const HOST_LO = HOST_IP & 0xffff;
const PORTS_PER_PSEUDO = 65535;
const HOST6 = (parseIp(INTERNAL_HOST_ADDR6.split('/')[0]) as Uint8Array).slice();
const PSEUDO6 = parseIp(PSEUDO6_PREFIX) as Uint8Array;

/** 32-bit FNV-1a of 16 address bytes (a map key; flows compare the full address). */
function hash6(b: Uint8Array, off: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i++) h = Math.imul(h ^ b[off + i], 0x01000193);
  return h >>> 0;
}

function read32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

function same16(a: Uint8Array, b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[off + i]) return false;
  return true;
}

/** The flow index a pseudo endpoint stands for: block number (IPv4 offset or IPv6 low 32 bits) and port. */
function pseudoIndex(block: number, port: number): number {
  return block * PORTS_PER_PSEUDO + port - 1;
}

/**
 * Aborts a host socket with RST (`resetAndDestroy`), or plainly destroys it once its write side
 * was shut down: libuv refuses a reset after a shutdown request (`uv_tcp_close_reset` →
 * `EINVAL`), and Node 20 then leaves the handle half-closed, which hangs the process at exit.
 */
function abortSocket(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableEnded || s.connecting) s.destroy();
  else s.resetAndDestroy();
}

/** One TCP connection of a tenant. */
class TcpFlow {
  state: 'dialing' | 'open' | 'closed' = 'dialing';
  syn: Uint8Array;
  upstream: Socket | undefined;
  down: TcpSocket | undefined;
  readonly abort = new AbortController();
  lastActive: number;
  idleTimer: TimerHandle | undefined;
  bytesUp = 0;
  bytesDown = 0;
  closeReason: CloseReason | undefined;
  counted = true;
  /** The stack has seen the SYN: segments are translated (until the translation is dropped). */
  translated = false;
  readonly pHi: number;
  readonly pLo: number;
  readonly pPort: number;
  /** IPv6: the pseudo client address. */
  readonly p6: Uint8Array | undefined;
  /** Offset of the TCP header in {@link syn} (IPv6 extension headers may precede it). */
  synL4: number;

  /**
   * @param src IPv4 client address, or for IPv6 a hash of it (`src6` holds the address)
   * @param dst likewise for the destination
   */
  constructor(
    readonly index: number,
    readonly family: 4 | 6,
    readonly src: number,
    readonly srcPort: number,
    readonly dst: number,
    readonly dstPort: number,
    readonly src6: Uint8Array | undefined,
    readonly dst6: Uint8Array | undefined,
    readonly info: FlowInfo,
    syn: Uint8Array,
    synL4: number,
    now: number,
  ) {
    this.syn = syn;
    this.synL4 = synL4;
    this.lastActive = now;
    const block = Math.floor(index / PORTS_PER_PSEUDO);
    const addr = (PSEUDO_BASE + block) >>> 0;
    this.pHi = addr >>> 16;
    this.pLo = addr & 0xffff;
    this.pPort = 1 + (index % PORTS_PER_PSEUDO);
    if (family === 6) {
      const p = PSEUDO6.slice();
      p[12] = block >>> 24;
      p[13] = (block >>> 16) & 0xff;
      p[14] = (block >>> 8) & 0xff;
      p[15] = block & 0xff;
      this.p6 = p;
    }
  }
}

/** The flows of one client UDP endpoint (S:s) through one route. */
class UdpFlow {
  relay: UdpRelay | undefined;
  opening = true;
  pending: Array<{ data: Uint8Array; host: string; port: number }> = [];
  /** Fake destination address → the real address its name resolved to (uint32s). */
  readonly resolved = new Map<number, number>();
  /** Real endpoint (addr * 65536 + port) → destination address the tenant used (uint32). */
  readonly peers = new Map<number, number>();
  lastActive: number;
  timer: TimerHandle | undefined;
  datagramsUp = 0;
  datagramsDown = 0;
  closed = false;

  constructor(
    readonly key: number,
    readonly src: number,
    readonly srcPort: number,
    readonly route: string,
    readonly info: FlowInfo,
    now: number,
  ) {
    this.lastActive = now;
  }
}

/** A tenant of an {@link EgressDevice}. @internal */
export class Tenant {
  readonly host: VirtualHost;
  readonly dns = new DnsTable();
  private readonly byClient = new Map<number, TcpFlow | TcpFlow[]>();
  /** IPv6 flows by hash(client address) * 65536 + client port. */
  private readonly byClient6 = new Map<number, TcpFlow | TcpFlow[]>();
  private readonly byIndex = new Map<number, TcpFlow>();
  private readonly udp = new Map<number, UdpFlow[]>();
  /** Per UDP client endpoint and destination (addr * 65536 + port): the route decision. */
  private readonly udpRoutes = new Map<number, Map<number, RouteDecision | 'deny'>>();
  private nextIndex = 0;
  private activeTcp = 0;
  private activeUdp = 0;
  /** This tenant's own counters. */
  readonly stats: Omit<TenantStats, 'name' | 'activeTcp' | 'activeUdp'> = {
    tcpOpened: 0,
    udpFlowsOpened: 0,
    denied: 0,
    limited: 0,
    bytesUp: 0,
    bytesDown: 0,
    datagramsUp: 0,
    datagramsDown: 0,
  };
  private ipId = 0;
  private closed = false;
  private readonly v4 = Ipv4Packet.empty();
  private readonly v6 = Ipv6Packet.empty();
  private readonly chain = new Ipv6HeaderChain();
  private readonly tcp = TcpSegment.empty();
  private readonly udpView = UdpDatagram.empty();

  constructor(
    private readonly dev: EgressDevice,
    readonly name: string,
    private readonly link: L3Device,
  ) {
    const c = dev.config;
    this.host = new VirtualHost({
      addr: INTERNAL_HOST_ADDR,
      gateway: INTERNAL_GATEWAY,
      // IPv6 needs a link MTU of at least 1280 (RFC 8200 §5); below that, IPv6 is dropped.
      addr6: c.mtu >= 1280 ? INTERNAL_HOST_ADDR6 : undefined,
      gateway6: c.mtu >= 1280 ? INTERNAL_GATEWAY6 : undefined,
      mtu: c.mtu,
      scheduler: c.scheduler,
      clock: c.clock,
      tcp: { rcvBuf: c.bufferBytes, sndBuf: c.bufferBytes, timeWaitMs: INTERNAL_TIME_WAIT_MS },
    });
    this.host.setHandler((p) => this.fromHost(p));
    this.host.tcp.listen(INTERNAL_LISTEN_PORT, (s) => this.accepted(s), {
      allowHalfOpen: true,
      backlog: 1 << 20,
    });
    link.setHandler((p) => this.fromTenant(p));
  }

  // --- tenant → device -------------------------------------------------------------------------

  /** One packet from the tenant. Never throws. */
  fromTenant(pkt: Uint8Array): void {
    const st = this.dev.stats;
    st.packetsIn++;
    if (this.closed) {
      st.drops.closed++;
      return;
    }
    if (pkt.length > 0 && pkt[0] >> 4 === 6) {
      this.ipv6In(pkt);
      return;
    }
    if (pkt.length === 0 || pkt[0] >> 4 !== 4) {
      st.drops.malformed++;
      return;
    }
    const ip = this.v4;
    if (!ip.rebind(pkt, 0, pkt.length)) {
      st.drops.malformed++;
      return;
    }
    if (!ip.verifyChecksum()) {
      st.drops.badChecksum++;
      return;
    }
    if (ip.isFragment) {
      st.drops.fragment++;
      return;
    }
    const proto = ip.protocol;
    if (proto === 6) this.tcpIn(pkt, ip);
    else if (proto === 17) this.udpIn(pkt, ip);
    else if (proto === 1) this.icmpIn(pkt, ip);
    else st.drops.unsupported++;
  }

  private findFlow(src: number, sport: number, dst: number, dport: number): TcpFlow | undefined {
    const cur = this.byClient.get(src * 65536 + sport);
    if (cur === undefined) return undefined;
    if (!Array.isArray(cur)) return cur.dst === dst && cur.dstPort === dport ? cur : undefined;
    for (const f of cur) if (f.dst === dst && f.dstPort === dport) return f;
    return undefined;
  }

  private tcpIn(pkt: Uint8Array, ip: Ipv4Packet): void {
    const hl = ip.headerLen;
    const end = ip.totalLength;
    if (!this.tcp.rebind(pkt, hl, end)) {
      this.dev.stats.drops.malformed++;
      return;
    }
    this.tcpSegment(pkt, 4, hl, end, this.findFlow(ip.src, this.tcp.srcPort, ip.dst, this.tcp.dstPort));
  }

  /**
   * What happens to a tenant segment (`this.tcp` is bound to it) once its flow was looked up;
   * the same for IPv4 and IPv6.
   */
  private tcpSegment(
    pkt: Uint8Array,
    family: 4 | 6,
    l4: number,
    end: number,
    found: TcpFlow | undefined,
  ): void {
    const st = this.dev.stats;
    const seg = this.tcp;
    const flags = seg.flags;
    const pureSyn = (flags & (SYN | ACK | RST)) === SYN;
    let f = found;
    if (f !== undefined && f.state === 'closed' && pureSyn && this.tcpChecksumOk(family, pkt, l4, end)) {
      // The client reuses the 4-tuple of a connection that just ended: a new connection (it
      // gets a new pseudo endpoint, so the old one's TIME-WAIT in the stack does not matter).
      this.removeFlow(f);
      f = undefined;
    }
    if (f !== undefined) {
      if (f.translated) {
        // Open, or closed and lingering: the closing handshake still goes through the stack.
        f.lastActive = this.dev.config.clock.now();
        this.toStack(f, pkt, l4);
      } else if (f.state === 'dialing' && pureSyn && this.tcpChecksumOk(family, pkt, l4, end)) {
        f.syn = pkt.slice(0, end); // a retransmitted SYN: keep the latest
        f.synL4 = l4;
      } else if (f.state === 'dialing' && flags & RST && this.tcpChecksumOk(family, pkt, l4, end)) {
        this.finishTcp(f, 'reset'); // the client gave up before the upstream answered
      } else st.drops.dialing++;
      return;
    }
    if (!this.tcpChecksumOk(family, pkt, l4, end)) {
      st.drops.badChecksum++;
      return;
    }
    const sport = seg.srcPort;
    const dport = seg.dstPort;
    if (sport === 0 || dport === 0) {
      st.drops.malformed++;
      return;
    }
    const aLen = family === 4 ? 4 : 16;
    const srcOff = family === 4 ? 12 : 8;
    const dstOff = srcOff + aLen;
    if (pureSyn) {
      const syn = pkt.slice(0, end);
      if (family === 4)
        this.newTcp(syn, 4, read32(pkt, srcOff), sport, read32(pkt, dstOff), dport, undefined, undefined, l4);
      else
        this.newTcp(
          syn,
          6,
          hash6(pkt, srcOff),
          sport,
          hash6(pkt, dstOff),
          dport,
          pkt.slice(srcOff, dstOff),
          pkt.slice(dstOff, dstOff + 16),
          l4,
        );
      return;
    }
    if (flags & RST) return;
    st.tcp.strayResets++;
    const srcText = formatIp(pkt.subarray(srcOff, dstOff));
    const dstText = formatIp(pkt.subarray(dstOff, dstOff + aLen));
    this.emit(buildRstFor(srcText, dstText, sport, dport, seg.seq, seg.ack, flags, seg.payloadLength));
  }

  /** Rewrites a tenant segment to the flow's pseudo endpoint → the stack's listener, and delivers it. */
  private toStack(f: TcpFlow, pkt: Uint8Array, l4: number): void {
    if (f.p6) rewriteFlow6(pkt, l4, TCP_CHECKSUM_OFFSET, f.p6, f.pPort, HOST6, INTERNAL_LISTEN_PORT);
    else
      rewriteFlow(
        pkt,
        l4,
        TCP_CHECKSUM_OFFSET,
        f.pHi,
        f.pLo,
        f.pPort,
        HOST_HI,
        HOST_LO,
        INTERNAL_LISTEN_PORT,
      );
    this.host.send(pkt);
  }

  private tcpChecksumOk(family: 4 | 6, pkt: Uint8Array, l4: number, end: number): boolean {
    const ps = family === 4 ? pseudoHeaderSum4(pkt, 0, 6, end - l4) : pseudoHeaderSum6(pkt, 0, 6, end - l4);
    return finishChecksum(onesSum(pkt, l4, end - l4, ps)) === 0;
  }

  /** Looks up the name, applies the host-local guard and the rules. */
  private decide(
    protocol: 'tcp' | 'udp',
    src: number,
    dst: number,
    port: number,
    src6?: Uint8Array,
    dst6?: Uint8Array,
  ): { info: FlowInfo; decision: RouteDecision; stale: boolean } {
    const c = this.dev.config;
    const dstText = dst6 ? formatIp(dst6) : formatIpv4(dst);
    const name = dst6 ? c.dns?.nameForText(this.dns, dstText) : c.dns?.nameFor(this.dns, dst);
    const stale = !dst6 && c.dns !== undefined && name === undefined && c.dns.isFake(dst);
    const srcText = src6 ? formatIp(src6) : formatIpv4(src);
    const q = { tenant: this.name, protocol, src: srcText, dst: dstText, port, name };
    let decision = c.localRouter?.route(q);
    if (decision?.action !== 'deny') decision = c.router.route(q);
    const info: FlowInfo = {
      tenant: this.name,
      protocol,
      src: q.src,
      srcPort: 0,
      dst: q.dst,
      dstPort: port,
      route: decision.action,
    };
    if (name !== undefined) info.name = name;
    return { info, decision, stale };
  }

  /** Whether to send the name (not the address) upstream. */
  private targetHost(info: FlowInfo, route: string, dst: number): string {
    const c = this.dev.config;
    if (info.name === undefined) return info.dst;
    if (c.dns?.isFake(dst)) return info.name;
    return route !== 'direct' && c.remoteDns ? info.name : info.dst;
  }

  private newTcp(
    syn: Uint8Array,
    family: 4 | 6,
    src: number,
    sport: number,
    dst: number,
    dport: number,
    src6: Uint8Array | undefined,
    dst6: Uint8Array | undefined,
    l4: number,
  ): void {
    const c = this.dev.config;
    const st = this.dev.stats;
    if (this.activeTcp >= c.maxTcp) {
      st.tcp.limited++;
      this.stats.limited++;
      this.dev.emit('limit', {
        tenant: this.name,
        protocol: 'tcp',
        src: src6 ? formatIp(src6) : formatIpv4(src),
        limit: c.maxTcp,
      });
      this.refuse(syn, c.limitResponse, IcmpUnreach.AdminProhibited);
      return;
    }
    const { info, decision, stale } = this.decide('tcp', src, dst, dport, src6, dst6);
    info.srcPort = sport;
    if (decision.action === 'deny') {
      st.tcp.denied++;
      this.stats.denied++;
      this.dev.emit('deny', { ...info, rule: decision.rule });
      this.refuse(syn, c.deniedResponse, IcmpUnreach.AdminProhibited);
      return;
    }
    if (stale) {
      // A fake address the interceptor no longer (or never) handed out: nowhere to go.
      st.tcp.unreachable++;
      this.refuse(syn, c.unreachableResponse, IcmpUnreach.Host);
      return;
    }
    const dialer = c.dialers.get(decision.action);
    if (!dialer) return; // the router only returns known names
    const f = new TcpFlow(
      this.nextIndex++,
      family,
      src,
      sport,
      dst,
      dport,
      src6,
      dst6,
      info,
      syn,
      l4,
      c.clock.now(),
    );
    this.addFlow(f);
    this.activeTcp++;
    st.tcp.active++;
    st.tcp.opened++;
    this.stats.tcpOpened++;
    this.dev.emit('connection', info);
    // The device's own deadline covers every dialer (name resolution and custom dialers too).
    const deadline = c.scheduler.schedule(c.clock.now() + c.connectTimeoutMs, () =>
      this.dialFailed(
        f,
        new DialError(
          'timeout',
          'ERR_EGRESS_TIMEOUT',
          `no upstream connection within ${c.connectTimeoutMs} ms`,
        ),
      ),
    );
    f.abort.signal.addEventListener('abort', () => deadline.cancel(), { once: true });
    const host = this.targetHost(info, decision.action, family === 4 ? dst : -1);
    const dial = async (): Promise<Socket> => {
      // remoteDns off: names are resolved here and proxies get addresses.
      let h = host;
      if (host !== info.dst && decision.action !== 'direct' && !c.remoteDns && c.dns) {
        const addrs = await c.dns.resolve(host).catch((cause) => {
          throw new DialError('unreachable', 'ERR_EGRESS_RESOLVE', `cannot resolve ${host}`, { cause });
        });
        if (addrs.length === 0)
          throw new DialError('unreachable', 'ERR_EGRESS_RESOLVE', `no address for ${host}`);
        h = addrs[0];
      }
      return dialer.connect(
        { host: h, port: dport },
        { timeoutMs: c.connectTimeoutMs, signal: f.abort.signal },
      );
    };
    dial().then(
      (sock) => this.dialed(f, sock),
      (err) => this.dialFailed(f, err),
    );
  }

  private addFlow(f: TcpFlow): void {
    const k = f.src * 65536 + f.srcPort;
    const map = f.family === 4 ? this.byClient : this.byClient6;
    const cur = map.get(k);
    if (cur === undefined) map.set(k, f);
    else if (Array.isArray(cur)) cur.push(f);
    else map.set(k, [cur, f]);
    this.byIndex.set(f.index, f);
  }

  private removeFlow(f: TcpFlow): void {
    const k = f.src * 65536 + f.srcPort;
    const map = f.family === 4 ? this.byClient : this.byClient6;
    const cur = map.get(k);
    if (cur === f) map.delete(k);
    else if (Array.isArray(cur)) {
      const i = cur.indexOf(f);
      if (i >= 0) cur.splice(i, 1);
      if (cur.length === 1) map.set(k, cur[0]);
    }
    this.byIndex.delete(f.index);
  }

  private dialed(f: TcpFlow, sock: Socket): void {
    if (f.state !== 'dialing' || this.closed) {
      sock.destroy();
      return;
    }
    f.abort.abort(); // cancels the deadline
    if (f.info.route !== 'direct') this.dev.proxyOk(f.info.route);
    f.state = 'open';
    f.translated = true;
    f.upstream = sock;
    sock.on('error', () => {}); // handled once spliced; an early error must not crash
    f.lastActive = this.dev.config.clock.now();
    this.dev.stats.tcp.established++;
    this.dev.emit('connect', f.info);
    this.armIdle(f);
    // The tenant must finish its handshake in time, or the upstream side is let go.
    const c = this.dev.config;
    c.scheduler.schedule(c.clock.now() + c.connectTimeoutMs, () => {
      if (f.state === 'open' && !f.down) {
        this.dev.stats.tcp.timeouts++;
        this.finishTcp(f, 'error');
      }
    });
    // Now let the stack see the SYN: it answers SYN-ACK to the tenant.
    this.toStack(f, f.syn, f.synL4);
  }

  private dialFailed(f: TcpFlow, err: unknown): void {
    if (f.state !== 'dialing') return;
    const c = this.dev.config;
    const st = this.dev.stats.tcp;
    const e =
      err instanceof DialError ? err : new DialError('unreachable', 'ERR_EGRESS_UNREACHABLE', String(err));
    if (e.failure === 'proxy') {
      st.proxyFailures++;
      this.dev.proxyFailed(f.info.route, e.code, e.message);
    } else if (f.info.route !== 'direct') this.dev.proxyOk(f.info.route); // the proxy answered
    this.dev.emit('dialError', { ...f.info, failure: e.failure, code: e.code, message: e.message });
    if (!this.closed) {
      switch (e.failure) {
        case 'refused':
          st.refused++;
          this.refuse(f.syn, 'rst', 0);
          break;
        case 'denied':
          st.denied++;
          this.refuse(f.syn, c.deniedResponse, IcmpUnreach.AdminProhibited);
          break;
        case 'timeout':
          st.timeouts++;
          this.refuse(f.syn, c.unreachableResponse, IcmpUnreach.Host);
          break;
        default:
          st.unreachable++;
          this.refuse(f.syn, c.unreachableResponse, IcmpUnreach.Host);
      }
    }
    this.finishTcp(f, 'error');
  }

  /** Answers a packet the device will not carry: RST, ICMP unreachable `code`, or nothing. */
  private refuse(pkt: Uint8Array, how: 'icmp' | 'rst' | 'drop', code: number): void {
    if (how === 'drop') return;
    if (pkt[0] >> 4 === 6) {
      this.refuse6(pkt, how, code);
      return;
    }
    const ip = Ipv4Packet.checked(pkt);
    if (!ip) return;
    if (how === 'rst' && ip.protocol === 6) {
      const seg = TcpSegment.checked(pkt, ip.headerLen, ip.totalLength);
      if (!seg) return;
      this.emit(
        buildRstFor(
          formatIpv4(ip.src),
          formatIpv4(ip.dst),
          seg.srcPort,
          seg.dstPort,
          seg.seq,
          seg.ack,
          seg.flags,
          seg.payloadLength,
        ),
      );
      return;
    }
    const err = buildUnreachable(pkt, ip.dst, code);
    if (err) {
      this.dev.stats.icmp.unreachablesSent++;
      this.emit(err);
    }
  }

  /** A connection from the stack: the tenant's handshake completed; splice it to the upstream. */
  /** IPv6 {@link refuse}: the IPv4 code is mapped to its ICMPv6 type 1 counterpart (RFC 4443). */
  private refuse6(pkt: Uint8Array, how: 'icmp' | 'rst', code: number): void {
    const ip = this.v6;
    const ch = this.chain;
    if (!ip.rebind(pkt, 0, pkt.length) || !ch.parse(ip)) return;
    const src = formatIp(pkt.subarray(8, 24));
    const dst = formatIp(pkt.subarray(24, 40));
    if (how === 'rst' && ch.upperProtocol === 6 && ch.upperPresent) {
      const seg = TcpSegment.checked(pkt, ch.upperOffset, ch.end);
      if (!seg) return;
      this.emit(
        buildRstFor(src, dst, seg.srcPort, seg.dstPort, seg.seq, seg.ack, seg.flags, seg.payloadLength),
      );
      return;
    }
    const code6 =
      code === IcmpUnreach.AdminProhibited
        ? Icmp6Unreach.AdminProhibited
        : code === IcmpUnreach.Net
          ? Icmp6Unreach.NoRoute
          : Icmp6Unreach.AddressUnreachable;
    const err = buildIcmpv6Error(pkt, { src: dst, type: 1, code: code6 });
    if (err) {
      this.dev.stats.icmp.unreachablesSent++;
      this.emit(err);
    }
  }

  private accepted(down: TcpSocket): void {
    let f: TcpFlow | undefined;
    const remote = parseIp(down.remoteAddress);
    if (remote?.length === 4) {
      const a = ((remote[0] << 24) | (remote[1] << 16) | (remote[2] << 8) | remote[3]) >>> 0;
      f = this.byIndex.get(pseudoIndex((a - PSEUDO_BASE) >>> 0, down.remotePort));
    } else if (remote?.length === 16) {
      const block = ((remote[12] << 24) | (remote[13] << 16) | (remote[14] << 8) | remote[15]) >>> 0;
      f = this.byIndex.get(pseudoIndex(block, down.remotePort));
      if (f && (!f.p6 || !same16(f.p6, remote, 0))) f = undefined;
    }
    const up = f?.upstream;
    if (f?.state !== 'open' || !up) {
      down.resetAndDestroy();
      return;
    }
    f.down = down;
    down.setNoDelay(true);
    up.setNoDelay(true);
    const st = this.dev.stats.tcp;
    down.on('data', (d: Buffer) => {
      f.bytesUp += d.length;
      st.bytesUp += d.length;
      this.stats.bytesUp += d.length;
    });
    up.on('data', (d: Buffer) => {
      f.bytesDown += d.length;
      st.bytesDown += d.length;
      this.stats.bytesDown += d.length;
    });
    // pipe() is back-pressure: a full destination pauses the source, whose stack window (or
    // kernel socket buffer) then closes.
    up.pipe(down);
    down.pipe(up);
    let closedSides = 0;
    const onClose = (): void => {
      if (++closedSides === 2) this.finishTcp(f, f.closeReason ?? 'end');
    };
    up.on('error', () => {
      f.closeReason ??= 'reset';
      if (!down.destroyed) down.resetAndDestroy();
    });
    down.on('error', () => {
      f.closeReason ??= 'reset';
      abortSocket(up);
    });
    up.on('close', onClose);
    down.on('close', onClose);
  }

  private armIdle(f: TcpFlow): void {
    const c = this.dev.config;
    f.idleTimer = c.scheduler.schedule(f.lastActive + c.tcpIdleMs, () => {
      f.idleTimer = undefined;
      if (f.state !== 'open') return;
      if (c.clock.now() - f.lastActive < c.tcpIdleMs) {
        this.armIdle(f);
        return;
      }
      this.dev.stats.tcp.idleClosed++;
      f.closeReason = 'idle';
      if (f.down && !f.down.destroyed) f.down.resetAndDestroy();
      else if (!f.down) {
        // Never spliced (the tenant did not finish its handshake).
        this.finishTcp(f, 'idle');
      }
      if (f.upstream) abortSocket(f.upstream);
    });
  }

  /** A connection is over: count it, report it, keep its translation for late segments. */
  private finishTcp(f: TcpFlow, reason: CloseReason): void {
    if (f.state === 'closed') return;
    const wasOpen = f.state === 'open';
    f.state = 'closed';
    f.abort.abort();
    f.idleTimer?.cancel();
    f.idleTimer = undefined;
    if (f.counted) {
      f.counted = false;
      this.activeTcp--;
      this.dev.stats.tcp.active--;
    }
    if (f.upstream && !f.upstream.destroyed) f.upstream.destroy();
    if (wasOpen) this.dev.emit('close', { ...f.info, reason, bytesUp: f.bytesUp, bytesDown: f.bytesDown });
    if (!wasOpen || this.closed) {
      this.removeFlow(f);
      return;
    }
    // Segments of the closing handshake may still cross; drop the translation a little later.
    const c = this.dev.config;
    c.scheduler.schedule(c.clock.now() + TCP_LINGER_MS, () => {
      if (this.byIndex.get(f.index) === f) this.removeFlow(f);
    });
  }

  // --- stack → tenant ----------------------------------------------------------------------------

  private fromHost(pkt: Uint8Array): void {
    const st = this.dev.stats;
    if (!this.closed && pkt[0] >> 4 === 6 && pkt[6] === 6) {
      // The stack writes no extension headers: TCP at 40, pseudo block in the last 4 bytes.
      const block = ((pkt[36] << 24) | (pkt[37] << 16) | (pkt[38] << 8) | pkt[39]) >>> 0;
      const f6 = this.byIndex.get(pseudoIndex(block, (pkt[42] << 8) | pkt[43]));
      if (f6?.src6 === undefined || f6.dst6 === undefined) {
        st.drops.noFlow++;
        return;
      }
      f6.lastActive = this.dev.config.clock.now();
      rewriteFlow6(pkt, 40, TCP_CHECKSUM_OFFSET, f6.dst6, f6.dstPort, f6.src6, f6.srcPort);
      this.emit(pkt);
      return;
    }
    if (this.closed || pkt[0] >> 4 !== 4 || pkt[9] !== 6) {
      st.drops.noFlow++;
      return;
    }
    const hl = (pkt[0] & 15) << 2;
    const a = ((pkt[16] << 24) | (pkt[17] << 16) | (pkt[18] << 8) | pkt[19]) >>> 0;
    const port = (pkt[hl + 2] << 8) | pkt[hl + 3];
    const f = this.byIndex.get(pseudoIndex((a - PSEUDO_BASE) >>> 0, port));
    if (f === undefined || f.family !== 4) {
      st.drops.noFlow++;
      return;
    }
    f.lastActive = this.dev.config.clock.now();
    rewriteFlow(
      pkt,
      hl,
      TCP_CHECKSUM_OFFSET,
      f.dst >>> 16,
      f.dst & 0xffff,
      f.dstPort,
      f.src >>> 16,
      f.src & 0xffff,
      f.srcPort,
    );
    this.emit(pkt);
  }

  private emit(pkt: Uint8Array): void {
    this.dev.stats.packetsOut++;
    this.link.send(pkt);
  }

  // --- IPv6 --------------------------------------------------------------------------------------

  /** One IPv6 packet from the tenant: TCP and ICMPv6 echo; the rest is dropped and counted. */
  private ipv6In(pkt: Uint8Array): void {
    const st = this.dev.stats;
    const ip = this.v6;
    const ch = this.chain;
    if (!ip.rebind(pkt, 0, pkt.length) || !ch.parse(ip)) {
      st.drops.malformed++;
      return;
    }
    if (ch.isFragment) {
      st.drops.fragment++;
      return;
    }
    if (!this.host.addr6()) {
      st.drops.unsupported++; // MTU below 1280: no IPv6
      return;
    }
    const l4 = ch.upperOffset;
    const end = ch.end;
    if (ch.upperProtocol === 6) this.tcp6In(pkt, l4, end);
    else if (ch.upperProtocol === 58 && end - l4 >= 8 && pkt[l4] === 128 && pkt[l4 + 1] === 0)
      this.echo6In(pkt, l4, end);
    else st.drops.unsupported++;
  }

  private findFlow6(pkt: Uint8Array, sport: number, dport: number): TcpFlow | undefined {
    const cur = this.byClient6.get(hash6(pkt, 8) * 65536 + sport);
    if (cur === undefined) return undefined;
    const list = Array.isArray(cur) ? cur : [cur];
    for (const f of list)
      if (
        f.dstPort === dport &&
        f.src6 !== undefined &&
        f.dst6 !== undefined &&
        same16(f.src6, pkt, 8) &&
        same16(f.dst6, pkt, 24)
      )
        return f;
    return undefined;
  }

  private tcp6In(pkt: Uint8Array, l4: number, end: number): void {
    if (!this.tcp.rebind(pkt, l4, end)) {
      this.dev.stats.drops.malformed++;
      return;
    }
    this.tcpSegment(pkt, 6, l4, end, this.findFlow6(pkt, this.tcp.srcPort, this.tcp.dstPort));
  }

  private echo6In(pkt: Uint8Array, l4: number, end: number): void {
    const st = this.dev.stats;
    if (finishChecksum(onesSum(pkt, l4, end - l4, pseudoHeaderSum6(pkt, 0, 58, end - l4))) !== 0) {
      st.drops.badChecksum++;
      return;
    }
    this.answerEcho(
      pkt,
      end,
      () => this.decide('tcp', 0, 0, 0, pkt.subarray(8, 24), pkt.subarray(24, 40)).decision,
      () => buildEchoReply6(pkt, l4, end),
    );
  }

  // --- UDP ---------------------------------------------------------------------------------------

  private udpIn(pkt: Uint8Array, ip: Ipv4Packet): void {
    const st = this.dev.stats;
    const c = this.dev.config;
    const hl = ip.headerLen;
    const end = ip.totalLength;
    const d = this.udpView;
    if (!d.rebind(pkt, hl, end)) {
      st.drops.malformed++;
      return;
    }
    if (d.checksum !== 0 && !d.verifyChecksum(pseudoHeaderSum4(pkt, 0, 17, d.length), false)) {
      st.drops.badChecksum++;
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    const sport = d.srcPort;
    const dport = d.dstPort;
    if (sport === 0 || dport === 0) {
      st.drops.malformed++;
      return;
    }
    const payload = pkt.slice(hl + 8, hl + d.length);
    if (dport === 53 && c.dns) {
      c.dns.answer(this.dns, payload).then(
        (resp) => {
          if (resp && !this.closed) this.sendUdpToTenant(dst, 53, src, sport, resp);
        },
        () => {},
      );
      return;
    }
    const ck = src * 65536 + sport;
    let routes = this.udpRoutes.get(ck);
    const rk = dst * 65536 + dport;
    let r = routes?.get(rk);
    if (r === undefined) {
      const { info, decision, stale } = this.decide('udp', src, dst, dport);
      info.srcPort = sport;
      if (decision.action === 'deny') {
        st.udp.denied++;
        this.stats.denied++;
        this.dev.emit('deny', { ...info, rule: decision.rule });
      }
      r = decision.action === 'deny' || stale ? 'deny' : decision;
      // Cache the decision (bounded: at most twice the flow limit of client endpoints, 1024
      // destinations each); past the bound, decisions are recomputed per datagram.
      if (!routes && this.udpRoutes.size < 2 * c.maxUdp) {
        routes = new Map();
        this.udpRoutes.set(ck, routes);
      }
      if (routes && routes.size < 1024) routes.set(rk, r);
    }
    if (r === 'deny') {
      this.refuse(
        pkt.slice(0, end),
        c.deniedResponse === 'rst' ? 'icmp' : c.deniedResponse,
        IcmpUnreach.AdminProhibited,
      );
      return;
    }
    let flow = this.udp.get(ck)?.find((x) => x.route === (r as RouteDecision).action);
    if (!flow) {
      if (this.activeUdp >= c.maxUdp) {
        st.udp.limited++;
        this.stats.limited++;
        this.dev.emit('limit', { tenant: this.name, protocol: 'udp', src: formatIpv4(src), limit: c.maxUdp });
        this.refuse(
          pkt.slice(0, end),
          c.limitResponse === 'rst' ? 'icmp' : c.limitResponse,
          IcmpUnreach.AdminProhibited,
        );
        return;
      }
      flow = this.openUdp(ck, src, sport, dst, dport, r, pkt.slice(0, end));
      if (!flow) return;
    }
    flow.lastActive = c.clock.now();
    flow.datagramsUp++;
    st.udp.datagramsUp++;
    this.stats.datagramsUp++;
    const name = c.dns?.nameFor(this.dns, dst);
    this.udpSend(flow, dst, dport, name, payload);
  }

  private openUdp(
    ck: number,
    src: number,
    sport: number,
    dst: number,
    dport: number,
    r: RouteDecision,
    first: Uint8Array,
  ): UdpFlow | undefined {
    const c = this.dev.config;
    const st = this.dev.stats;
    const dialer = c.dialers.get(r.action);
    if (!dialer?.openUdp) {
      // This route carries no UDP (HTTP CONNECT): the destination is unreachable that way.
      st.udp.relayDrops++;
      this.refuse(first, 'icmp', IcmpUnreach.Host);
      return undefined;
    }
    const info: FlowInfo = {
      tenant: this.name,
      protocol: 'udp',
      src: formatIpv4(src),
      srcPort: sport,
      dst: formatIpv4(dst),
      dstPort: dport,
      route: r.action,
    };
    const flow = new UdpFlow(ck, src, sport, r.action, info, c.clock.now());
    const list = this.udp.get(ck);
    if (list) list.push(flow);
    else this.udp.set(ck, [flow]);
    this.activeUdp++;
    st.udp.active++;
    st.udp.flowsOpened++;
    this.stats.udpFlowsOpened++;
    this.dev.emit('udpOpen', info);
    this.armUdpIdle(flow);
    dialer.openUdp(4, { timeoutMs: c.connectTimeoutMs }).then(
      (relay) => {
        if (flow.closed) {
          relay.close();
          return;
        }
        if (r.action !== 'direct') this.dev.proxyOk(r.action);
        flow.relay = relay;
        flow.opening = false;
        relay.onMessage = (data, address, port) => this.udpReply(flow, data, address, port);
        relay.onClose = () => this.closeUdp(flow, 'error');
        for (const p of flow.pending) relay.send(p.data, p.host, p.port);
        flow.pending = [];
      },
      (err) => {
        const e =
          err instanceof DialError
            ? err
            : new DialError('unreachable', 'ERR_EGRESS_UNREACHABLE', String(err));
        if (e.failure === 'proxy') {
          st.tcp.proxyFailures++;
          this.dev.proxyFailed(r.action, e.code, e.message);
        }
        st.udp.relayDrops += flow.pending.length;
        flow.pending = [];
        if (!this.closed)
          this.refuse(first, 'icmp', e.failure === 'denied' ? IcmpUnreach.AdminProhibited : IcmpUnreach.Host);
        this.closeUdp(flow, 'error');
      },
    );
    return flow;
  }

  private udpSend(
    flow: UdpFlow,
    dst: number,
    dport: number,
    name: string | undefined,
    payload: Uint8Array,
  ): void {
    const c = this.dev.config;
    const fake = c.dns?.isFake(dst) ?? false;
    if (fake && name !== undefined && c.dns) {
      const known = flow.resolved.get(dst);
      if (known !== undefined) {
        this.udpOut(flow, known, dport, dst, payload);
        return;
      }
      // Resolve the name (once per flow) so replies, which come from the real address, can be
      // shown as coming from the fake one.
      c.dns.resolve(name).then(
        (addrs) => {
          const real = addrs.map((a) => parseIpv4(a)).find((a) => a !== null);
          if (real === undefined || real === null) {
            this.dev.stats.udp.relayDrops++;
            return;
          }
          if (flow.resolved.size < 256) flow.resolved.set(dst, real);
          this.udpOut(flow, real, dport, dst, payload);
        },
        () => {
          this.dev.stats.udp.relayDrops++;
        },
      );
      return;
    }
    this.udpOut(flow, dst, dport, dst, payload);
  }

  private udpOut(flow: UdpFlow, real: number, port: number, shown: number, payload: Uint8Array): void {
    if (flow.closed) return;
    const pk = real * 65536 + port;
    if (!flow.peers.has(pk) && flow.peers.size < 4096) flow.peers.set(pk, shown);
    const host = formatIpv4(real);
    if (flow.relay) flow.relay.send(payload, host, port);
    else if (flow.pending.length < UDP_PENDING_MAX) flow.pending.push({ data: payload, host, port });
    else this.dev.stats.udp.relayDrops++;
  }

  private udpReply(flow: UdpFlow, data: Buffer, address: string, port: number): void {
    const st = this.dev.stats.udp;
    const a = parseIpv4(address.startsWith('::ffff:') ? address.slice(7) : address);
    const shown = a === null ? undefined : flow.peers.get(a * 65536 + port);
    if (shown === undefined) {
      st.filtered++;
      return;
    }
    if (20 + 8 + data.length > this.dev.config.mtu) {
      st.tooBig++;
      return;
    }
    flow.lastActive = this.dev.config.clock.now();
    flow.datagramsDown++;
    st.datagramsDown++;
    this.stats.datagramsDown++;
    this.sendUdpToTenant(shown, port, flow.src, flow.srcPort, data);
  }

  private sendUdpToTenant(src: number, sport: number, dst: number, dport: number, payload: Uint8Array): void {
    if (this.closed) return;
    if (20 + 8 + payload.length > this.dev.config.mtu) {
      this.dev.stats.udp.tooBig++;
      return;
    }
    this.ipId = (this.ipId + 1) & 0xffff;
    this.emit(buildUdp4(src, sport, dst, dport, payload, this.ipId));
  }

  private armUdpIdle(flow: UdpFlow): void {
    const c = this.dev.config;
    flow.timer = c.scheduler.schedule(flow.lastActive + c.udpIdleMs, () => {
      flow.timer = undefined;
      if (flow.closed) return;
      if (c.clock.now() - flow.lastActive < c.udpIdleMs) this.armUdpIdle(flow);
      else this.closeUdp(flow, 'idle');
    });
  }

  private closeUdp(flow: UdpFlow, reason: 'idle' | 'error' | 'detached'): void {
    if (flow.closed) return;
    flow.closed = true;
    flow.timer?.cancel();
    flow.relay?.close();
    const list = this.udp.get(flow.key);
    if (list) {
      const i = list.indexOf(flow);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) {
        this.udp.delete(flow.key);
        this.udpRoutes.delete(flow.key);
      }
    }
    this.activeUdp--;
    this.dev.stats.udp.active--;
    this.dev.emit('udpClose', {
      ...flow.info,
      reason,
      datagramsUp: flow.datagramsUp,
      datagramsDown: flow.datagramsDown,
    });
  }

  // --- ICMP --------------------------------------------------------------------------------------

  private icmpIn(pkt: Uint8Array, ip: Ipv4Packet): void {
    const st = this.dev.stats;
    const hl = ip.headerLen;
    const end = ip.totalLength;
    if (end - hl < 8 || pkt[hl] !== 8 || pkt[hl + 1] !== 0) {
      st.drops.unsupported++;
      return;
    }
    if (finishChecksum(onesSum(pkt, hl, end - hl)) !== 0) {
      st.drops.badChecksum++;
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    this.answerEcho(
      pkt,
      end,
      () => this.decide('tcp', src, dst, 0).decision,
      () => buildEchoReply(pkt, hl, end),
    );
  }

  /**
   * Answers a verified echo request with `reply()`, unless echo is off (dropped) or the rules
   * deny the destination (ICMP administratively prohibited).
   */
  private answerEcho(
    pkt: Uint8Array,
    end: number,
    decide: () => RouteDecision,
    reply: () => Uint8Array,
  ): void {
    const c = this.dev.config;
    const st = this.dev.stats;
    if (c.icmpEcho === 'drop') {
      st.drops.unsupported++;
      return;
    }
    if (decide().action === 'deny') {
      this.refuse(
        pkt.slice(0, end),
        c.deniedResponse === 'rst' ? 'icmp' : c.deniedResponse,
        IcmpUnreach.AdminProhibited,
      );
      return;
    }
    st.icmp.echoReplies++;
    this.emit(reply());
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  /** This tenant's counters. */
  statsSnapshot(): TenantStats {
    return { name: this.name, activeTcp: this.activeTcp, activeUdp: this.activeUdp, ...this.stats };
  }

  /** Adds snapshots of this tenant's TCP connections to `out`. */
  snapshot(out: ConnectionSnapshot[]): void {
    for (const f of this.byIndex.values()) {
      const down = f.down;
      const up = f.upstream;
      out.push({
        ...f.info,
        state: f.state,
        bytesUp: f.bytesUp,
        bytesDown: f.bytesDown,
        bufferedUp: (down ? down.readableLength : 0) + (up ? up.writableLength : 0),
        bufferedDown: (down ? down.bufferSize : 0) + (up ? up.readableLength : 0),
      });
    }
  }

  /** Detaches: resets every upstream socket, closes the internal stack. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.setHandler(discard);
    for (const f of [...this.byIndex.values()]) {
      if (f.state !== 'closed') {
        f.closeReason = 'detached';
        if (f.upstream) abortSocket(f.upstream);
        this.finishTcp(f, 'detached');
      }
      this.removeFlow(f);
    }
    for (const list of [...this.udp.values()]) for (const fl of [...list]) this.closeUdp(fl, 'detached');
    this.host.close();
  }
}
