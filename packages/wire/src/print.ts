/**
 * A one-line-per-packet pretty-printer in the spirit of `tcpdump -n`:
 *
 * ```
 * IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12
 * IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
 * IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64
 * IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, id 7, seq 1, length 64
 * IP 10.0.0.254 > 10.0.0.1: ICMP 10.0.0.2 udp port 53 unreachable, length 48 (quoting IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12)
 * IP 10.0.0.1 > 10.0.0.2: ip-proto-17 (frag 4660:548@1480)
 * IP 10.0.0.1 > 10.0.0.2: GREv1, call 7, seq 3, ack 2, length 40
 * ```
 *
 * Conventions: addresses and ports are numeric, TCP sequence numbers absolute (`tcpdump -S`),
 * lengths are transport payload lengths (ICMP, GRE and unknown protocols: the IP payload).
 * Fragments carry the classic tcpdump suffix `(frag id:size@offset+)`; IPv6 extension headers
 * appear as `HBH`, `DSTOPT`, `srcrt (type t, segleft n)`, `AH` before the transport summary.
 * Wrong checksums are flagged right after the addresses: `[bad ip checksum]`,
 * `[bad udp cksum 0x1234 -> 0x5678!]` (found -> correct; likewise tcp, icmp, icmp6, gre);
 * checksums of fragments and of packets quoted inside ICMP errors are not checked (the bytes
 * they cover are not all present). A truncated quoted header ends in `[|tcp]`-style markers.
 * Malformed input prints `[malformed: reason]`; {@link formatPacket} never throws.
 *
 * Not for the packet path: it allocates strings freely.
 */
import { formatIpv4, formatIpv6, readIpv4 } from './address.js';
import { finishChecksum, onesSum, pseudoHeaderSum4, pseudoHeaderSum6 } from './checksum.js';
import { IpProtocol } from './constants.js';
import { GrePacket, GreProtocolType } from './gre.js';
import { Icmpv4Packet, Icmpv4Type } from './icmpv4.js';
import { Icmpv6Packet, Icmpv6Type } from './icmpv6.js';
import { IPV4_MIN_HEADER_LEN, Ipv4Packet } from './ipv4.js';
import { IPV6_HEADER_LEN, Ipv6HeaderChain, Ipv6Packet } from './ipv6.js';
import { TCP_MIN_HEADER_LEN, TcpFlags, TcpOptionKind, TcpSegment } from './tcp.js';
import { UDP_HEADER_LEN, UdpDatagram } from './udp.js';

/** Options of {@link formatPacket}. */
export interface FormatPacketOptions {
  /**
   * Capture time in milliseconds since the Unix epoch; prefixes the line with `HH:MM:SS.uuuuuu`
   * (UTC, so output does not depend on the machine's time zone).
   */
  timestampMs?: number;
  /**
   * Adds the IP header details in tcpdump `-v` style: `IP (tos 0x0, ttl 64, id 1, offset 0,
   * flags [DF], proto UDP (17), length 40) …` and `IP6 (hlim 64, next-header UDP (17) payload
   * length: 20) …`.
   */
  verbose?: boolean;
}

/** Nesting limit for packets inside packets (GRE payloads, ICMP error quotes). */
const MAX_DEPTH = 4;

interface Ctx {
  verbose: boolean;
  depth: number;
}

/**
 * Formats one raw IP packet (IPv4 or IPv6, as carried by link type 101) as one line of text.
 * Never throws: malformed input yields `[malformed: reason]` (after the addresses when the IP
 * header could be read).
 */
export function formatPacket(pkt: Uint8Array, opts: FormatPacketOptions = {}): string {
  const prefix = opts.timestampMs === undefined ? '' : `${formatTimeOfDay(opts.timestampMs)} `;
  try {
    return prefix + formatIp(pkt, 0, pkt.length, { verbose: opts.verbose === true, depth: 0 }, false);
  } catch (e) {
    // A bug in the printer must not take down a capture; property tests assert this never shows.
    return `${prefix}[malformed: printer error: ${e instanceof Error ? e.message : String(e)}]`;
  }
}

/**
 * `HH:MM:SS.uuuuuu` (UTC) of a millisecond timestamp, rounded to the microsecond; `??:??:??.??????`
 * when it is not a finite number.
 */
export function formatTimeOfDay(timestampMs: number): string {
  if (!Number.isFinite(timestampMs)) return '??:??:??.??????';
  const us = Math.round(timestampMs * 1000);
  const dayUs = ((us % 86_400_000_000) + 86_400_000_000) % 86_400_000_000;
  const sec = Math.floor(dayUs / 1_000_000);
  const frac = dayUs - sec * 1_000_000;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${p2(Math.floor(sec / 3600))}:${p2(Math.floor(sec / 60) % 60)}:${p2(sec % 60)}.${String(frac).padStart(6, '0')}`;
}

function malformed(reason: string): string {
  return `[malformed: ${reason}]`;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function hex4(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

/** Upper-case protocol names for the verbose IP header (tcpdump's spelling). */
function protoLabel(p: number): string {
  switch (p) {
    case IpProtocol.HopByHop:
      return 'Options (0)';
    case IpProtocol.Icmp:
      return 'ICMP (1)';
    case IpProtocol.Tcp:
      return 'TCP (6)';
    case IpProtocol.Udp:
      return 'UDP (17)';
    case IpProtocol.Ipv6Route:
      return 'Routing (43)';
    case IpProtocol.Ipv6Frag:
      return 'Fragment (44)';
    case IpProtocol.Gre:
      return 'GRE (47)';
    case IpProtocol.Esp:
      return 'ESP (50)';
    case IpProtocol.Ah:
      return 'AH (51)';
    case IpProtocol.Icmpv6:
      return 'ICMPv6 (58)';
    case IpProtocol.Ipv6NoNext:
      return 'NONE (59)';
    case IpProtocol.Ipv6Opts:
      return 'DSTOPT (60)';
    default:
      return `unknown (${p})`;
  }
}

/**
 * Where the transport header lives and how much of it is present. `partial` is true when the
 * bytes after `l4Off` are not the whole transport segment (a first fragment, or a packet quoted
 * in an ICMP error): lengths then come from headers and checksums are not checked.
 */
interface L4 {
  b: Uint8Array;
  ipOff: number;
  v6: boolean;
  proto: number;
  l4Off: number;
  l4End: number;
  partial: boolean;
  /** Whether to verify transport checksums: not in partial packets nor in quoted ones. */
  check: boolean;
  /** Pseudo-header sum for checksums (only meaningful when `check`). */
  pseudo: number;
}

/** What a transport formatter returns: optional ports, a checksum marker and the summary. */
interface L4Text {
  sport?: number;
  dport?: number;
  bad?: string;
  body: string;
}

function formatIp(b: Uint8Array, off: number, end: number, ctx: Ctx, quoted: boolean): string {
  if (ctx.depth > MAX_DEPTH) return '[|nested]';
  if (end - off <= 0) return malformed('empty packet');
  const ver = b[off] >> 4;
  if (ver === 4) return formatIpv4Packet(b, off, end, ctx, quoted);
  if (ver === 6) return formatIpv6Packet(b, off, end, ctx, quoted);
  return malformed(`IP version ${ver}`);
}

function formatIpv4Packet(b: Uint8Array, off: number, end: number, ctx: Ctx, quoted: boolean): string {
  const avail = end - off;
  if (avail < IPV4_MIN_HEADER_LEN) return malformed(`IPv4 header truncated: ${avail} of 20 bytes`);
  const hl = (b[off] & 0x0f) << 2;
  if (hl < IPV4_MIN_HEADER_LEN) return malformed(`IPv4 header length ${hl}`);
  if (hl > avail) return malformed(`IPv4 header length ${hl} exceeds ${avail} bytes`);
  const total = u16(b, off + 2);
  if (total < hl) return malformed(`IPv4 total length ${total} below header length ${hl}`);
  let truncated = false;
  let p = Ipv4Packet.checked(b, off, end);
  const badHeaderSum = finishChecksum(onesSum(b, off, hl)) !== 0;
  if (p === null) {
    if (!quoted) return malformed(`IPv4 total length ${total} exceeds ${avail} bytes`);
    // A quoted header whose datagram was cut by the ICMP error: view a copy whose Total Length
    // matches what is present.
    const copy = b.slice(off, end);
    copy[2] = avail >> 8;
    copy[3] = avail & 0xff;
    p = Ipv4Packet.checked(copy, 0, copy.length);
    if (p === null) return malformed('IPv4 header');
    truncated = true;
  }
  const src = formatIpv4(p.src);
  const dst = formatIpv4(p.dst);
  let head = 'IP ';
  if (ctx.verbose) {
    const flags: string[] = [];
    if (p.moreFragments) flags.push('+');
    if (p.dontFragment) flags.push('DF');
    if (p.buf[p.off + 6] & 0x80) flags.push('rsvd');
    let v = `tos 0x${p.tos.toString(16)}, ttl ${p.ttl}, id ${p.identification}, offset ${p.fragmentOffset}, flags [${
      flags.length ? flags.join(', ') : 'none'
    }], proto ${protoLabel(p.protocol)}, length ${total}`;
    if (p.headerLen > IPV4_MIN_HEADER_LEN) v += `, options (${ipv4Options(p.options())})`;
    head += `(${v}) `;
  }
  const marker = badHeaderSum ? '[bad ip checksum] ' : '';
  const frag = p.isFragment
    ? ` (frag ${p.identification}:${total - hl}@${p.fragmentOffset}${p.moreFragments ? '+' : ''})`
    : '';
  if (p.fragmentOffset !== 0) return `${head}${src} > ${dst}: ${marker}ip-proto-${p.protocol}${frag}`;
  const l4: L4 = {
    b: p.buf,
    ipOff: p.off,
    v6: false,
    proto: p.protocol,
    l4Off: p.payloadOffset,
    l4End: p.off + p.totalLength,
    partial: truncated || p.moreFragments,
    check: !quoted && !p.moreFragments,
    pseudo: 0,
  };
  if (l4.check) l4.pseudo = pseudoHeaderSum4(p.buf, p.off, p.protocol, p.payloadLength);
  return assemble(head, src, dst, marker, '', formatTransport(l4, ctx), frag);
}

function ipv4Options(o: Uint8Array): string {
  const names: string[] = [];
  let i = 0;
  while (i < o.length) {
    const k = o[i];
    if (k === 0) {
      names.push('EOL');
      break;
    }
    if (k === 1) {
      names.push('NOP');
      i++;
      continue;
    }
    const len = i + 1 < o.length ? o[i + 1] : 0;
    if (len < 2 || i + len > o.length) {
      names.push('[bad opt]');
      break;
    }
    const name: Record<number, string> = {
      7: 'RR',
      68: 'TS',
      130: 'SEC',
      131: 'LSRR',
      137: 'SSRR',
      148: 'RA',
    };
    names.push(name[k] ?? `opt-${k}`);
    i += len;
  }
  return names.join(',');
}

function formatIpv6Packet(b: Uint8Array, off: number, end: number, ctx: Ctx, quoted: boolean): string {
  const avail = end - off;
  if (avail < IPV6_HEADER_LEN) return malformed(`IPv6 header truncated: ${avail} of 40 bytes`);
  const plen = u16(b, off + 4);
  let truncated = false;
  let p = Ipv6Packet.checked(b, off, end);
  if (p === null) {
    if (plen === 0 && b[off + 6] === IpProtocol.HopByHop) return malformed('IPv6 jumbogram (not supported)');
    if (!quoted) return malformed(`IPv6 payload length ${plen} exceeds ${avail - IPV6_HEADER_LEN} bytes`);
    const copy = b.slice(off, end);
    copy[4] = (avail - IPV6_HEADER_LEN) >> 8;
    copy[5] = (avail - IPV6_HEADER_LEN) & 0xff;
    p = Ipv6Packet.checked(copy, 0, copy.length);
    if (p === null) return malformed('IPv6 header');
    truncated = true;
  }
  const src = formatIpv6(p.buf, p.srcOffset);
  const dst = formatIpv6(p.buf, p.dstOffset);
  let head = 'IP6 ';
  if (ctx.verbose) {
    let v = '';
    if (p.trafficClass !== 0) v += `class 0x${p.trafficClass.toString(16)}, `;
    if (p.flowLabel !== 0) v += `flowlabel 0x${p.flowLabel.toString(16).padStart(5, '0')}, `;
    v += `hlim ${p.hopLimit}, next-header ${protoLabel(p.nextHeader)} payload length: ${plen}`;
    head += `(${v}) `;
  }
  const chain = new Ipv6HeaderChain();
  if (!chain.parse(p)) {
    if (truncated) return `${head}${src} > ${dst}: [|ip6]`;
    return `${head}${src} > ${dst}: ${malformed('IPv6 extension header chain')}`;
  }
  // Name the extension headers the chain walk passed (it validated their lengths).
  const ext: string[] = [];
  let nh = p.nextHeader;
  let o = p.payloadOffset;
  while (o < chain.upperOffset) {
    const len =
      nh === IpProtocol.Ah
        ? (p.buf[o + 1] + 2) << 2
        : nh === IpProtocol.Ipv6Frag
          ? 8
          : (p.buf[o + 1] + 1) << 3;
    if (nh === IpProtocol.HopByHop) ext.push('HBH');
    else if (nh === IpProtocol.Ipv6Opts) ext.push('DSTOPT');
    else if (nh === IpProtocol.Ah) ext.push('AH');
    else if (nh === IpProtocol.Ipv6Route) ext.push(`srcrt (type ${p.buf[o + 2]}, segleft ${p.buf[o + 3]})`);
    nh = p.buf[o];
    o += len;
  }
  const exts = ext.length ? `${ext.join(' ')} ` : '';
  const frag =
    chain.fragmentHeaderOffset >= 0
      ? ` (frag ${chain.fragmentId}:${IPV6_HEADER_LEN + plen - (chain.upperOffset - p.off)}@${chain.fragmentOffset}${
          chain.moreFragments ? '+' : ''
        })`
      : '';
  if (!chain.upperPresent) return `${head}${src} > ${dst}: ${exts}ip-proto-${chain.upperProtocol}${frag}`;
  const l4: L4 = {
    b: p.buf,
    ipOff: p.off,
    v6: true,
    proto: chain.upperProtocol,
    l4Off: chain.upperOffset,
    l4End: chain.end,
    partial: truncated || chain.moreFragments,
    check: !quoted && !chain.moreFragments,
    pseudo: 0,
  };
  if (l4.check) l4.pseudo = pseudo6(p, chain, l4.proto, chain.upperLength);
  return assemble(head, src, dst, '', exts, formatTransport(l4, ctx), frag);
}

/**
 * IPv6 pseudo-header sum; with a Routing header that still has segments left, the destination is
 * the final one (RFC 8200 §8.1): the last address of a type 0 header, the home address of type 2,
 * Segment List[0] of a Segment Routing Header (type 4).
 */
function pseudo6(p: Ipv6Packet, chain: Ipv6HeaderChain, proto: number, len: number): number {
  const rh = chain.routingHeaderOffset;
  if (rh >= 0 && chain.segmentsLeft > 0) {
    const b = p.buf;
    const hdrLen = (b[rh + 1] + 1) << 3;
    let finalDst = -1;
    if (chain.routingType === 0 && hdrLen >= 24) finalDst = rh + 8 + ((hdrLen - 8) / 16 - 1) * 16;
    else if ((chain.routingType === 2 || chain.routingType === 4) && hdrLen >= 24) finalDst = rh + 8;
    if (finalDst >= 0)
      return onesSum(b, p.srcOffset, 16) + onesSum(b, finalDst, 16) + (len >>> 16) + (len & 0xffff) + proto;
  }
  return pseudoHeaderSum6(p.buf, p.off, proto, len);
}

function assemble(
  head: string,
  src: string,
  dst: string,
  marker: string,
  exts: string,
  t: L4Text,
  frag: string,
): string {
  const s = t.sport === undefined ? src : `${src}.${t.sport}`;
  const d = t.dport === undefined ? dst : `${dst}.${t.dport}`;
  return `${head}${s} > ${d}: ${marker}${t.bad ?? ''}${exts}${t.body}${frag}`;
}

function formatTransport(l4: L4, ctx: Ctx): L4Text {
  switch (l4.proto) {
    case IpProtocol.Tcp:
      return formatTcp(l4);
    case IpProtocol.Udp:
      return formatUdp(l4);
    case IpProtocol.Icmp:
      if (!l4.v6) return formatIcmpv4(l4, ctx);
      break;
    case IpProtocol.Icmpv6:
      if (l4.v6) return formatIcmpv6(l4, ctx);
      break;
    case IpProtocol.Gre:
      return formatGre(l4, ctx);
    case IpProtocol.Ipv6NoNext:
      if (l4.v6) return { body: `no next header, length ${l4.l4End - l4.l4Off}` };
      break;
  }
  return { body: `ip-proto-${l4.proto}, length ${l4.l4End - l4.l4Off}` };
}

/**
 * `[bad <kind> cksum 0xfound -> 0xcorrect!] ` when the Internet checksum over `b[off..off+len)`
 * plus `pseudo` does not verify, else `undefined`. `csumOff` is where the stored value lives.
 */
function checkSum(
  kind: string,
  b: Uint8Array,
  off: number,
  len: number,
  pseudo: number,
  csumOff: number,
  zeroIsFfff = false,
): string | undefined {
  const sum = onesSum(b, off, len, pseudo);
  if (finishChecksum(sum) === 0) return undefined;
  const stored = u16(b, csumOff);
  let should = finishChecksum(sum - stored);
  if (zeroIsFfff && should === 0) should = 0xffff;
  return `[bad ${kind} cksum ${hex4(stored)} -> ${hex4(should)}!] `;
}

const TCP_FLAG_CHARS: ReadonlyArray<[number, string]> = [
  [TcpFlags.FIN, 'F'],
  [TcpFlags.SYN, 'S'],
  [TcpFlags.RST, 'R'],
  [TcpFlags.PSH, 'P'],
  [TcpFlags.ACK, '.'],
  [TcpFlags.URG, 'U'],
  [TcpFlags.ECE, 'E'],
  [TcpFlags.CWR, 'W'],
];

function formatTcp(l4: L4): L4Text {
  const { b, l4Off: o, l4End: end } = l4;
  const avail = end - o;
  const seg = TcpSegment.checked(b, o, end);
  if (seg === null) {
    if (avail >= 4 && l4.partial) return { sport: u16(b, o), dport: u16(b, o + 2), body: 'tcp [|tcp]' };
    if (avail < TCP_MIN_HEADER_LEN) return { body: malformed(`TCP header truncated: ${avail} of 20 bytes`) };
    const hl = (b[o + 12] >> 4) << 2;
    const t: L4Text = { sport: u16(b, o), dport: u16(b, o + 2), body: '' };
    t.body =
      hl < TCP_MIN_HEADER_LEN
        ? malformed(`TCP data offset ${hl}`)
        : malformed(`TCP header length ${hl} exceeds ${avail} bytes`);
    if (l4.partial) t.body = 'tcp [|tcp]';
    return t;
  }
  const flags = seg.flags;
  let f = '';
  for (const [bit, c] of TCP_FLAG_CHARS) if (flags & bit) f += c;
  // In a partial segment the data length is unknown; print what the header gives.
  const len = seg.payloadLength;
  let body = `Flags [${f || 'none'}]`;
  if (len > 0 || flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)) {
    body += `, seq ${seg.seq}`;
    if (len > 0 && !l4.partial) body += `:${(seg.seq + len) >>> 0}`;
  }
  if (flags & TcpFlags.ACK) body += `, ack ${seg.ack}`;
  body += `, win ${seg.window}`;
  if (flags & TcpFlags.URG) body += `, urg ${seg.urgentPointer}`;
  if (seg.headerLen > TCP_MIN_HEADER_LEN)
    body += `, options [${tcpOptions(b, seg.optionsOffset, seg.payloadOffset)}]`;
  body += l4.partial ? ` [|tcp]` : `, length ${len}`;
  const t: L4Text = { sport: seg.srcPort, dport: seg.dstPort, body };
  if (l4.check) t.bad = checkSum('tcp', b, o, avail, l4.pseudo, o + 16);
  return t;
}

function tcpOptions(b: Uint8Array, start: number, end: number): string {
  const out: string[] = [];
  let i = start;
  while (i < end) {
    const kind = b[i];
    if (kind === TcpOptionKind.End) {
      out.push('eol');
      break;
    }
    if (kind === TcpOptionKind.Nop) {
      out.push('nop');
      i++;
      continue;
    }
    const len = i + 1 < end ? b[i + 1] : 0;
    if (len < 2 || i + len > end) {
      out.push('[bad opt]');
      break;
    }
    const v = i + 2;
    if (kind === TcpOptionKind.Mss && len === 4) out.push(`mss ${u16(b, v)}`);
    else if (kind === TcpOptionKind.WindowScale && len === 3) out.push(`wscale ${b[v]}`);
    else if (kind === TcpOptionKind.SackPermitted && len === 2) out.push('sackOK');
    else if (kind === TcpOptionKind.Timestamp && len === 10)
      out.push(`TS val ${u32(b, v)} ecr ${u32(b, v + 4)}`);
    else if (kind === TcpOptionKind.Sack && len >= 10 && (len - 2) % 8 === 0) {
      let s = `sack ${(len - 2) / 8} `;
      for (let k = v; k < i + len; k += 8) s += `{${u32(b, k)}:${u32(b, k + 4)}}`;
      out.push(s);
    } else if (
      kind === TcpOptionKind.Mss ||
      kind === TcpOptionKind.WindowScale ||
      kind === TcpOptionKind.SackPermitted ||
      kind === TcpOptionKind.Timestamp ||
      kind === TcpOptionKind.Sack
    ) {
      out.push('[bad opt]');
      break;
    } else {
      let s = `opt-${kind}:`;
      for (let k = v; k < i + len; k++) s += b[k].toString(16).padStart(2, '0');
      out.push(s);
    }
    i += len;
  }
  return out.join(',');
}

function formatUdp(l4: L4): L4Text {
  const { b, l4Off: o, l4End: end } = l4;
  const avail = end - o;
  if (avail < UDP_HEADER_LEN) {
    if (avail >= 4 && l4.partial) return { sport: u16(b, o), dport: u16(b, o + 2), body: 'UDP [|udp]' };
    return { body: malformed(`UDP header truncated: ${avail} of 8 bytes`) };
  }
  const sport = u16(b, o);
  const dport = u16(b, o + 2);
  const ulen = u16(b, o + 4);
  if (ulen < UDP_HEADER_LEN) return { sport, dport, body: malformed(`UDP length ${ulen}`) };
  if (l4.partial) return { sport, dport, body: `UDP, length ${ulen - UDP_HEADER_LEN}` };
  const d = UdpDatagram.checked(b, o, end);
  if (d === null) return { sport, dport, body: malformed(`UDP length ${ulen} exceeds ${avail} bytes`) };
  const t: L4Text = { sport, dport, body: `UDP, length ${d.payloadLength}` };
  if (!l4.check) return t;
  if (d.checksum === 0) {
    if (l4.v6) t.bad = checkSum('udp', b, o, d.length, l4.pseudo, o + 6, true) ?? '[bad udp cksum 0x0000!] ';
  } else if (!d.verifyChecksum(l4.pseudo, l4.v6)) {
    t.bad = checkSum('udp', b, o, d.length, l4.pseudo, o + 6, true);
  }
  return t;
}

const ICMP_UNREACH: readonly string[] = [
  'net %s unreachable',
  'host %s unreachable',
  '%s protocol %p unreachable',
  '%s %P unreachable',
  '%s unreachable - need to frag%m',
  '%s unreachable - source route failed',
  'net %s unreachable - unknown',
  'host %s unreachable - unknown',
  '%s unreachable - source host isolated',
  'net %s unreachable - admin prohibited',
  'host %s unreachable - admin prohibited',
  'net %s unreachable - tos prohibited',
  'host %s unreachable - tos prohibited',
  'host %s unreachable - admin prohibited filter',
  'host %s unreachable - host precedence violation',
  'host %s unreachable - precedence cutoff',
];

/** Destination address, protocol and destination port of a quoted packet, read defensively. */
interface Quoted {
  dst: string;
  proto: number;
  dport: number;
}

function peekQuoted(b: Uint8Array, o: number, end: number): Quoted | null {
  const avail = end - o;
  if (avail < 1) return null;
  const ver = b[o] >> 4;
  if (ver === 4 && avail >= IPV4_MIN_HEADER_LEN) {
    const hl = (b[o] & 0x0f) << 2;
    const proto = b[o + 9];
    const l4 = o + hl;
    const dport =
      hl >= IPV4_MIN_HEADER_LEN && l4 + 4 <= end && (u16(b, o + 6) & 0x1fff) === 0 ? u16(b, l4 + 2) : -1;
    return { dst: formatIpv4(readIpv4(b, o + 16)), proto, dport };
  }
  if (ver === 6 && avail >= IPV6_HEADER_LEN) {
    // Skip extension headers for the port, as far as they are present.
    let nh = b[o + 6];
    let p = o + IPV6_HEADER_LEN;
    for (let n = 0; n < 8 && (nh === 0 || nh === 43 || nh === 60 || nh === 44) && p + 8 <= end; n++) {
      if (nh === 44 && (u16(b, p + 2) & 0xfff8) !== 0)
        return { dst: formatIpv6(b, o + 24), proto: b[p], dport: -1 };
      const len = nh === 44 ? 8 : (b[p + 1] + 1) << 3;
      nh = b[p];
      p += len;
    }
    const dport = p + 4 <= end ? u16(b, p + 2) : -1;
    return { dst: formatIpv6(b, o + 24), proto: nh, dport };
  }
  return null;
}

function quotedSuffix(b: Uint8Array, o: number, end: number, ctx: Ctx): string {
  if (end - o <= 0) return '';
  return ` (quoting ${formatIp(b, o, end, { verbose: ctx.verbose, depth: ctx.depth + 1 }, true)})`;
}

function formatIcmpv4(l4: L4, ctx: Ctx): L4Text {
  const { b, l4Off: o, l4End: end } = l4;
  const len = end - o;
  const m = Icmpv4Packet.checked(b, o, end);
  if (m === null) {
    if (l4.partial && len >= 2) return { body: `ICMP type-#${b[o]} [|icmp]` };
    return { body: malformed(`ICMP header truncated: ${len} of 8 bytes`) };
  }
  const type = m.type;
  const code = m.code;
  let s: string;
  let quote = false;
  switch (type) {
    case Icmpv4Type.EchoReply:
    case Icmpv4Type.EchoRequest:
      s = `echo ${type === 0 ? 'reply' : 'request'}, id ${m.identifier}, seq ${m.sequence}`;
      break;
    case Icmpv4Type.DestinationUnreachable: {
      quote = true;
      const q = peekQuoted(b, m.embeddedOffset, end);
      const dst = q ? q.dst : '?';
      const tpl = code < ICMP_UNREACH.length ? ICMP_UNREACH[code] : `%s unreachable - code ${code}`;
      let port = q && q.dport >= 0 ? `protocol ${q.proto} port ${q.dport}` : 'port';
      if (q && q.dport >= 0 && (q.proto === IpProtocol.Udp || q.proto === IpProtocol.Tcp))
        port = `${q.proto === IpProtocol.Udp ? 'udp' : 'tcp'} port ${q.dport}`;
      s = tpl
        .replace('%s', dst)
        .replace('%p', q ? String(q.proto) : '?')
        .replace('%P', port)
        .replace('%m', m.nextHopMtu ? ` (mtu ${m.nextHopMtu})` : '');
      break;
    }
    case Icmpv4Type.SourceQuench:
      quote = true;
      s = 'source quench';
      break;
    case Icmpv4Type.Redirect: {
      quote = true;
      const q = peekQuoted(b, m.embeddedOffset, end);
      const what = [
        'redirect %s to net %g',
        'redirect %s to host %g',
        'redirect-tos %s to net %g',
        'redirect-tos %s to host %g',
      ];
      s = (code < 4 ? what[code] : `redirect %s to %g (code ${code})`)
        .replace('%s', q ? q.dst : '?')
        .replace('%g', formatIpv4(m.gateway));
      break;
    }
    case Icmpv4Type.RouterAdvertisement:
      s = 'router advertisement';
      break;
    case Icmpv4Type.RouterSolicitation:
      s = 'router solicitation';
      break;
    case Icmpv4Type.TimeExceeded:
      quote = true;
      s =
        code === 0
          ? 'time exceeded in-transit'
          : code === 1
            ? 'ip reassembly time exceeded'
            : `time exceeded - code ${code}`;
      break;
    case Icmpv4Type.ParameterProblem:
      quote = true;
      s = code === 0 ? `parameter problem - octet ${m.pointer}` : `parameter problem - code ${code}`;
      break;
    case Icmpv4Type.Timestamp:
    case Icmpv4Type.TimestampReply:
      s = `time stamp ${type === 13 ? 'query' : 'reply'} id ${m.identifier} seq ${m.sequence}`;
      break;
    case Icmpv4Type.AddressMaskRequest:
    case Icmpv4Type.AddressMaskReply:
      s = `address mask ${type === 17 ? 'request' : 'reply'}`;
      break;
    default:
      s = `type-#${type}`;
  }
  const t: L4Text = { body: `ICMP ${s}, length ${len}` };
  if (quote && !l4.partial) t.body += quotedSuffix(b, m.embeddedOffset, end, ctx);
  if (l4.check) t.bad = checkSum('icmp', b, o, len, 0, o + 2);
  return t;
}

const ICMP6_UNREACH: readonly string[] = [
  'unreachable route',
  'unreachable prohibited',
  'beyond scope',
  'unreachable address',
  'unreachable port',
  'source address failed policy',
  'reject route',
  'source routing header error',
];

const ICMP6_PARAM: readonly string[] = [
  'erroneous header field',
  'unrecognized next header',
  'unrecognized option',
  'incomplete header chain',
];

function formatIcmpv6(l4: L4, ctx: Ctx): L4Text {
  const { b, l4Off: o, l4End: end } = l4;
  const len = end - o;
  const m = Icmpv6Packet.checked(b, o, end);
  if (m === null) {
    if (l4.partial && len >= 2) return { body: `ICMP6, type ${b[o]} [|icmp6]` };
    return { body: malformed(`ICMPv6 header truncated: ${len} of 8 bytes`) };
  }
  const type = m.type;
  const code = m.code;
  const eo = m.embeddedOffset;
  const addrAt = (at: number) => (at + 16 <= end ? formatIpv6(b, at) : '?');
  let s: string;
  switch (type) {
    case Icmpv6Type.DestinationUnreachable: {
      const q = peekQuoted(b, eo, end);
      const dst = q ? q.dst : '?';
      s = `destination unreachable, ${code < ICMP6_UNREACH.length ? ICMP6_UNREACH[code] : `code ${code}`}`;
      if (code === 4) {
        if (q && q.dport >= 0)
          s += `, ${dst} ${q.proto === IpProtocol.Tcp ? 'tcp' : q.proto === IpProtocol.Udp ? 'udp' : `protocol ${q.proto}`} port ${q.dport}`;
        else s += `, ${dst}`;
      } else s += ` ${dst}`;
      break;
    }
    case Icmpv6Type.PacketTooBig:
      s = `packet too big, mtu ${m.mtu}`;
      break;
    case Icmpv6Type.TimeExceeded: {
      const q = peekQuoted(b, eo, end);
      s =
        code === 0
          ? `time exceeded in-transit for ${q ? q.dst : '?'}`
          : code === 1
            ? 'ip6 reassembly time exceeded'
            : `time exceeded, code ${code}`;
      break;
    }
    case Icmpv6Type.ParameterProblem:
      s = `parameter problem, ${code < ICMP6_PARAM.length ? ICMP6_PARAM[code] : `code ${code}`} - octet ${m.pointer}`;
      break;
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      s = `echo ${type === 128 ? 'request' : 'reply'}, id ${m.identifier}, seq ${m.sequence}`;
      break;
    case Icmpv6Type.MldQuery:
      s = 'multicast listener query';
      break;
    case Icmpv6Type.MldReport:
      s = 'multicast listener report';
      break;
    case Icmpv6Type.MldDone:
      s = 'multicast listener done';
      break;
    case Icmpv6Type.Mldv2Report:
      s = 'multicast listener report v2';
      break;
    case Icmpv6Type.RouterSolicitation:
      s = 'router solicitation';
      break;
    case Icmpv6Type.RouterAdvertisement:
      s = 'router advertisement';
      break;
    case Icmpv6Type.NeighborSolicitation:
      s = `neighbor solicitation, who has ${addrAt(o + 8)}`;
      break;
    case Icmpv6Type.NeighborAdvertisement:
      s = `neighbor advertisement, tgt is ${addrAt(o + 8)}`;
      break;
    case Icmpv6Type.Redirect:
      s = `redirect, ${addrAt(o + 24)} to ${addrAt(o + 8)}`;
      break;
    default:
      s = `unknown icmp6 type (${type})`;
  }
  const t: L4Text = { body: `ICMP6, ${s}, length ${len}` };
  if (m.isError && !l4.partial) t.body += quotedSuffix(b, eo, end, ctx);
  if (l4.check) t.bad = checkSum('icmp6', b, o, len, l4.pseudo, o + 2);
  return t;
}

function formatGre(l4: L4, ctx: Ctx): L4Text {
  const { b, l4Off: o, l4End: end } = l4;
  const len = end - o;
  const g = GrePacket.checked(b, o, end);
  if (g === null) {
    if (len < 4)
      return { body: l4.partial ? 'GRE [|gre]' : malformed(`GRE header truncated: ${len} of 4 bytes`) };
    const ver = b[o + 1] & 7;
    if (l4.partial) return { body: `GREv${ver} [|gre]` };
    if (ver > 1) return { body: malformed(`GRE version ${ver}`) };
    return { body: malformed(`GREv${ver} header`) };
  }
  let s = `GREv${g.version}`;
  if (g.version === 1) {
    s += `, call ${g.callId}`;
    if (g.sequencePresent) s += `, seq ${g.sequence}`;
    if (g.ackPresent) s += `, ack ${g.acknowledgment}`;
    s += `, length ${len}`;
  } else {
    if (g.keyPresent) s += `, key=0x${g.key.toString(16)}`;
    if (g.sequencePresent) s += `, seq ${g.sequence}`;
    s += `, length ${len}`;
    const proto = g.protocolType;
    if (proto === GreProtocolType.Ipv4 || proto === GreProtocolType.Ipv6)
      s += `: ${formatIp(b, g.payloadOffset, end, { verbose: ctx.verbose, depth: ctx.depth + 1 }, !l4.check)}`;
    else s += `, proto 0x${proto.toString(16).padStart(4, '0')}`;
  }
  const t: L4Text = { body: s };
  if (l4.check && g.checksumPresent) t.bad = checkSum('gre', b, o, len, 0, o + 4);
  return t;
}
