/**
 * The IP/ICMP translation algorithm of RFC 7915 (SIIT): IPv4 ↔ IPv6 headers, transport checksums,
 * ICMP ↔ ICMPv6 with the embedded packet of an error translated too, fragments both ways, the DF
 * rules and fragmentation to the lowest IPv6 MTU.
 *
 * The translator is stateless. Addresses (and, for NAT64, ports and ICMP identifiers) come from a
 * mapper the caller supplies per call, so the same core serves a stateless SIIT (RFC 6052 / EAM)
 * and the stateful NAT64 (BIB lookups). Sides are named from the translator's point of view:
 * a *local* node lives on the IPv6 side, a *remote* node on the IPv4 side (the IPv4 address that
 * stands for a local node is a pool / EAM / BIB address).
 *
 * Translation writes into the translator's own scratch buffer and emits a view of it: the input
 * packet is not modified, and handlers that keep a packet copy it (the device contract). With
 * `inPlace6to4`, IPv6 → IPv4 non-ICMP packets that fit the IPv4 MTU are instead rewritten in
 * the input buffer (the IPv4 header over the end of the IPv6 header, payload untouched, transport
 * checksum adjusted incrementally) and emitted as a view of it: no payload copy.
 */
import type { PacketHandler } from '@l3kit/core';
import {
  buildIcmpv4Error,
  buildIcmpv6Error,
  finishChecksum,
  foldSum,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
  onesSum,
  pseudoHeaderSum6,
} from '@l3kit/wire';
import { mapIcmp4To6, mapIcmp6To4, mapPointer4To6, mapPointer6To4, plateauBelow } from './xlat-icmp-map.js';

/** "No port" for mappers: the packet has no port (ICMP error, non-first fragment, other protocol). */
export const NO_PORT = -1;

/** Mapping of IPv4 addresses to IPv6 for an IPv4 → IPv6 translation. */
export interface Xlat4to6Mapper {
  /**
   * The IPv6 address of an IPv4-side (remote) node — the outer source, or the destination inside
   * an ICMP error. Write 16 bytes at `out[off]`; return false to drop the packet.
   */
  remote4(v4: number, out: Uint8Array, off: number): boolean;
  /**
   * The IPv6 address of an IPv6-side (local) node that the IPv4 address `v4` stands for — the
   * outer destination, or the source inside an ICMP error. `proto` is 6, 17 or 1 (ICMP, with the
   * echo identifier as `port`), or another protocol with `port` = {@link NO_PORT}. Write 16 bytes
   * at `out[off]` and return the port to use (the same one when unchanged), or -2 to drop.
   */
  local4(v4: number, proto: number, port: number, out: Uint8Array, off: number): number;
  /**
   * Optional: {@link remote4} for the address at `b[at..at+4)`, used for the outer source of
   * non-ICMP packets when present. A mapper on a hot path implements it to keep addresses as
   * bytes: a uint32 above 2^30 passed to a call that is not inlined is a heap number, one
   * allocation per packet.
   */
  remote4At?(b: Uint8Array, at: number, out: Uint8Array, off: number): boolean;
  /**
   * Optional: {@link local4} for the address at `b[at..at+4)`, used for the outer destination of
   * non-ICMP packets when present (see {@link remote4At}).
   */
  local4At?(b: Uint8Array, at: number, proto: number, port: number, out: Uint8Array, off: number): number;
}

/** Where an {@link Xlat6to4Mapper} puts an IPv4 address and port. */
export class XlatMapResult {
  addr = 0;
  port = 0;
}

/** Mapping of IPv6 addresses to IPv4 for an IPv6 → IPv4 translation. */
export interface Xlat6to4Mapper {
  /**
   * The IPv4 address (and port) for an IPv6-side (local) node — the outer source, or the
   * destination inside an ICMPv6 error. `proto` as in {@link Xlat4to6Mapper.local4} (ICMPv6 is
   * given as 1). Set `result.addr` and `result.port`; return false to drop.
   */
  local6(b: Uint8Array, off: number, proto: number, port: number, result: XlatMapResult): boolean;
  /** The IPv4 address of an IPv4-side (remote) node at `b[off..off+16)`, or -1 to drop. */
  remote6(b: Uint8Array, off: number): number;
}

/** Options of a {@link Translator}. */
export interface TranslatorOptions {
  /** Fragment IPv4 → IPv6 packets with DF clear to at most this size (RFC 7915 §4). Default 1280. */
  lowestIpv6Mtu?: number;
  /** Next-hop MTU on the IPv6 side (for DF-set packets and Packet Too Big). Default 1500. */
  ipv6Mtu?: number;
  /** Next-hop MTU on the IPv4 side. Default 1500. */
  ipv4Mtu?: number;
  /** Copy IPv4 TOS ↔ IPv6 Traffic Class (default, RFC 7915 §4.1) or set zero. */
  trafficClass?: 'copy' | 'zero';
  /**
   * IPv4 UDP with checksum 0: compute the checksum (default; a fragmented one is dropped because
   * its checksum cannot be computed without reassembly) or drop all (RFC 7915 §4.5).
   */
  udpZeroChecksum?: 'compute' | 'drop';
  /**
   * Translate IPv6 → IPv4 TCP / UDP / other non-ICMP packets in the input buffer (the device
   * contract lets a receiver rewrite it): the IPv4 header is written over the end of the IPv6
   * header and the payload is not copied. The emitted packet is then a view of the input. Default
   * false: the input is left untouched and the output is built in a scratch buffer.
   */
  inPlace6to4?: boolean;
  /** Source of ICMPv4 errors the translator itself sends (TTL exceeded, fragmentation needed). */
  icmpSource4?: string;
  /** Source of ICMPv6 errors the translator itself sends. */
  icmpSource6?: string;
}

/** Counters of a {@link Translator}: translated packets and drops by reason. */
export interface TranslatorStats {
  translated4to6: number;
  translated6to4: number;
  /** Fragments emitted because a packet exceeded the IPv6 lowest MTU or the IPv4 MTU. */
  fragmentsCreated: number;
  dropMalformed: number;
  dropBadChecksum: number;
  dropTtlExceeded: number;
  dropSourceRoute: number;
  dropSegmentsLeft: number;
  dropIcmpUntranslatable: number;
  dropIcmpFragment: number;
  dropIcmpNested: number;
  dropUdpZeroChecksum: number;
  dropUnmapped: number;
  dropTooBig: number;
  /** ICMP errors the translator sent back to a sender. */
  icmpSent: number;
}

const IPV6_HEADER = 40;
const FRAGMENT_HEADER = 8;
const IPV4_HEADER = 20;
/** RFC 7915 §5.1: above this size a translated IPv6 → IPv4 packet gets DF set. */
export const DF_THRESHOLD = 1260;
/** ICMPv6 errors must fit the IPv6 minimum MTU (RFC 4443 §2.4 c). */
const ICMPV6_ERROR_MAX = 1280;
const SCRATCH = 65535 + 2 * FRAGMENT_HEADER + IPV6_HEADER;

/**
 * The RFC 7915 translator core.
 *
 * @example
 * ```ts
 * const prefix = Rfc6052Prefix.parse('2001:db8:64::/96');
 * const xlat = new Translator({ icmpSource4: '192.0.2.1', icmpSource6: '2001:db8::1' });
 * xlat.translate6to4(pkt, siitMapper, (v4) => outside.send(v4), (err) => inside.send(err));
 * ```
 */
export class Translator {
  /** Counters by outcome and drop reason. */
  readonly stats: TranslatorStats = {
    translated4to6: 0,
    translated6to4: 0,
    fragmentsCreated: 0,
    dropMalformed: 0,
    dropBadChecksum: 0,
    dropTtlExceeded: 0,
    dropSourceRoute: 0,
    dropSegmentsLeft: 0,
    dropIcmpUntranslatable: 0,
    dropIcmpFragment: 0,
    dropIcmpNested: 0,
    dropUdpZeroChecksum: 0,
    dropUnmapped: 0,
    dropTooBig: 0,
    icmpSent: 0,
  };
  private readonly lowestIpv6Mtu: number;
  private readonly ipv6Mtu: number;
  private readonly ipv4Mtu: number;
  private readonly copyTc: boolean;
  private readonly udpZeroCompute: boolean;
  private readonly inPlace: boolean;
  private readonly icmpSource4: string | undefined;
  private readonly icmpSource6: string | undefined;
  private readonly out = new Uint8Array(SCRATCH);
  private readonly views: Uint8Array[] = [];
  private placedFor: Uint8Array | null = null;
  private placedView: Uint8Array = new Uint8Array(0);
  private readonly v4 = Ipv4Packet.empty();
  private readonly v6 = Ipv6Packet.empty();
  private readonly chain = new Ipv6HeaderChain();
  private readonly mapped = new XlatMapResult();
  /** @internal The next IPv4 Identification (shared with NAT64's fast path). */
  _nextId = 1;
  /**
   * Set by a caller that reassembled the IPv6 datagram before translating it: RFC 7915 §5.1 gives
   * a packet that arrived with a Fragment header DF = 0, so the result may be fragmented for the
   * IPv4 next hop instead of being refused with Packet Too Big.
   */
  arrivedFragmented = false;

  constructor(options: TranslatorOptions = {}) {
    this.lowestIpv6Mtu = options.lowestIpv6Mtu ?? 1280;
    this.ipv6Mtu = options.ipv6Mtu ?? 1500;
    this.ipv4Mtu = options.ipv4Mtu ?? 1500;
    if (this.lowestIpv6Mtu < 1280 || this.ipv6Mtu < 1280)
      throw new RangeError('IPv6 MTUs must be at least 1280 (RFC 8200 §5)');
    if (this.ipv4Mtu < 68) throw new RangeError('the IPv4 MTU must be at least 68 (RFC 791)');
    this.copyTc = (options.trafficClass ?? 'copy') === 'copy';
    this.udpZeroCompute = (options.udpZeroChecksum ?? 'compute') === 'compute';
    this.inPlace = options.inPlace6to4 ?? false;
    this.icmpSource4 = options.icmpSource4;
    this.icmpSource6 = options.icmpSource6;
  }

  // ================================ IPv4 → IPv6 (RFC 7915 §4) ================================

  /**
   * Translates one IPv4 packet. The result (one packet, or several fragments) goes to `emit`; an
   * ICMPv4 error for the sender (TTL exceeded, fragmentation needed, source route failed) goes to
   * `reply`. Returns true when something was emitted. Never throws for a bad packet.
   */
  translate4to6(pkt: Uint8Array, mapper: Xlat4to6Mapper, emit: PacketHandler, reply: PacketHandler): boolean {
    const ip = this.v4;
    if (!ip.rebind(pkt)) return this.drop('dropMalformed');
    if (!ip.verifyChecksum()) return this.drop('dropBadChecksum');
    const hl = ip.headerLen;
    const total = ip.totalLength;
    const proto = ip.protocol;
    if (ip.ttl <= 1) {
      this.reply4(pkt, 11, 0, 0, reply);
      return this.drop('dropTtlExceeded');
    }
    if (hl > IPV4_HEADER && hasSourceRoute(pkt, hl)) {
      this.reply4(pkt, 3, 5, 0, reply);
      return this.drop('dropSourceRoute');
    }
    // ICMPv6 inside IPv4 would reach the IPv6 side unvalidated as real ICMPv6: never translate it.
    if (proto === 58) return this.drop('dropIcmpUntranslatable');
    const isFrag = ip.isFragment;
    const fragOff = ip.fragmentOffset;
    const firstPart = fragOff === 0;
    const out = this.out;
    const start = IPV6_HEADER + (isFrag ? FRAGMENT_HEADER : 0);
    let len: number;
    const outProto = proto === 1 ? 58 : proto;
    if (proto === 1) {
      if (isFrag) return this.drop('dropIcmpFragment'); // its checksum needs the whole message
      len = this.icmp4to6(pkt, hl, total, ip.src, ip.dst, mapper, start);
      if (len < 0) return false;
    } else {
      len = total - hl;
      // Copy the whole input so that its data lands at `start` (the IPv4 header falls in the
      // IPv6 header area, overwritten below): `set` of a whole array needs no subarray view.
      if (start >= hl && start - hl + pkt.length <= out.length) out.set(pkt, start - hl);
      else out.set(pkt.subarray(hl, total), start);
      // Addresses (and the local port) first, then fix the transport checksum for them.
      // Addresses go to the mapper as bytes when it can take them (no heap numbers, see remote4At).
      const mapped =
        mapper.remote4At !== undefined ? mapper.remote4At(pkt, 12, out, 8) : mapper.remote4(ip.src, out, 8);
      if (!mapped) return this.drop('dropUnmapped');
      const hasPorts = firstPart && ((proto === 6 && len >= 20) || (proto === 17 && len >= 8));
      const oldPort = hasPorts ? (pkt[hl + 2] << 8) | pkt[hl + 3] : NO_PORT;
      const port =
        mapper.local4At !== undefined
          ? mapper.local4At(pkt, 16, proto, oldPort, out, 24)
          : mapper.local4(ip.dst, proto, oldPort, out, 24);
      if (port === -2) return this.drop('dropUnmapped');
      if (hasPorts) {
        const ckOff = start + (proto === 6 ? 16 : 6);
        const oldCk = (out[ckOff] << 8) | out[ckOff + 1];
        if (proto === 17 && oldCk === 0) {
          if (isFrag || !this.udpZeroCompute) return this.drop('dropUdpZeroChecksum');
          out[start + 2] = port >> 8;
          out[start + 3] = port & 0xff;
          out[ckOff] = 0;
          out[ckOff + 1] = 0;
          const ck = finishChecksum(onesSum(out, start, len, pseudoHeaderSum6Raw(out, 17, len)));
          writeU16(out, ckOff, ck === 0 ? 0xffff : ck);
        } else {
          out[start + 2] = port >> 8;
          out[start + 3] = port & 0xff;
          // Remove the IPv4 addresses and old port, add the IPv6 addresses and new port.
          const removed = onesSum(pkt, 12, 8, oldPort);
          const added = onesSum(out, 8, 32, port);
          let ck = adjust(oldCk, removed, added);
          if (proto === 17 && ck === 0) ck = 0xffff;
          writeU16(out, ckOff, ck);
        }
      } else if (firstPart && (proto === 6 || proto === 17)) {
        return this.drop('dropMalformed'); // first fragment or packet too short for its header
      }
    }
    // The fixed header (RFC 7915 §4.1).
    const tc = this.copyTc ? ip.tos : 0;
    out[0] = 0x60 | (tc >> 4);
    out[1] = (tc & 0x0f) << 4;
    out[2] = 0;
    out[3] = 0;
    out[6] = isFrag ? 44 : outProto;
    out[7] = ip.ttl - 1;
    const payloadEnd = start + len;
    if (isFrag) {
      writeFragmentHeader(out, IPV6_HEADER, outProto, fragOff, ip.moreFragments, ip.identification);
    }
    const outLen = payloadEnd;
    if (outLen > this.ipv6Mtu && ip.dontFragment) {
      // DF set and too big for the IPv6 next hop: fragmentation needed, MTU − 20 (RFC 7915 §4).
      this.reply4(pkt, 3, 4, this.ipv6Mtu - 20, reply);
      return this.drop('dropTooBig');
    }
    if (outLen > this.lowestIpv6Mtu && !ip.dontFragment) {
      this.fragment6(
        start,
        payloadEnd,
        outProto,
        fragOff,
        isFrag ? ip.moreFragments : false,
        ip.identification,
        this.lowestIpv6Mtu,
        emit,
      );
      this.stats.translated4to6++;
      return true;
    }
    writeU16(out, 4, outLen - IPV6_HEADER);
    this.stats.translated4to6++;
    emit(this.view(outLen));
    return true;
  }

  /** Translates the ICMPv4 message at `pkt[hl..total)` into `out[start..]`. Returns its length, or -1 (counted). */
  private icmp4to6(
    pkt: Uint8Array,
    hl: number,
    total: number,
    src: number,
    dst: number,
    mapper: Xlat4to6Mapper,
    start: number,
  ): number {
    const out = this.out;
    const len = total - hl;
    if (len < 8) return this.dropN('dropMalformed');
    // Verify first: the ICMPv6 checksum is computed afresh, which would launder a corrupt message.
    if (finishChecksum(onesSum(pkt, hl, len, 0)) !== 0) return this.dropN('dropBadChecksum');
    const type = pkt[hl];
    const code = pkt[hl + 1];
    const map = mapIcmp4To6(type, code);
    if (map.type < 0) return this.dropN('dropIcmpUntranslatable');
    if (!mapper.remote4(src, out, 8)) return this.dropN('dropUnmapped');
    out[start] = map.type;
    out[start + 1] = map.code;
    let msgLen: number;
    if (type === 8 || type === 0) {
      const id = (pkt[hl + 4] << 8) | pkt[hl + 5];
      const newId = mapper.local4(dst, 1, id, out, 24);
      if (newId === -2) return this.dropN('dropUnmapped');
      out.set(pkt.subarray(hl + 4, total), start + 4);
      writeU16(out, start + 4, newId);
      msgLen = len;
    } else {
      if (mapper.local4(dst, 1, NO_PORT, out, 24) === -2) return this.dropN('dropUnmapped');
      // Rest of header: pointer, MTU or zero.
      out[start + 4] = 0;
      out[start + 5] = 0;
      out[start + 6] = 0;
      out[start + 7] = 0;
      if (map.pointer === 'map') {
        const p = mapPointer4To6(pkt[hl + 4]);
        if (p < 0) return this.dropN('dropIcmpUntranslatable');
        out[start + 7] = p;
      } else if (map.pointer === 'fixed') {
        out[start + 7] = map.fixedPointer;
      }
      const innerLen = this.inner4to6(pkt, hl + 8, total, mapper, start + 8, ICMPV6_ERROR_MAX - start - 8);
      if (innerLen < 0) return -1;
      if (map.type === 2) {
        // Packet Too Big: MTU + 20, bounded by both next hops; plateau when the router sent 0.
        // Packet Too Big: the IPv4 MTU + 20, bounded by both next hops (RFC 7915 §4.2); when the
        // router sent 0 (pre-RFC 1191), the plateau below the quoted Total Length. Never below
        // 1280: IPv6 hosts ignore smaller values (RFC 8201 §4), and atomic fragments are gone.
        let mtu4 = (pkt[hl + 6] << 8) | pkt[hl + 7];
        if (mtu4 === 0) mtu4 = plateauBelow((pkt[hl + 8 + 2] << 8) | pkt[hl + 8 + 3]);
        const mtu = Math.max(1280, Math.min(mtu4 + 20, this.ipv6Mtu, this.ipv4Mtu + 20));
        out[start + 4] = mtu >>> 24;
        out[start + 5] = (mtu >>> 16) & 0xff;
        out[start + 6] = (mtu >>> 8) & 0xff;
        out[start + 7] = mtu & 0xff;
      }
      msgLen = 8 + innerLen;
    }
    // The ICMPv6 checksum covers a pseudo-header, so it is computed in full.
    out[start + 2] = 0;
    out[start + 3] = 0;
    writeU16(
      out,
      start + 2,
      finishChecksum(onesSum(out, start, msgLen, pseudoHeaderSum6Raw(out, 58, msgLen))),
    );
    return msgLen;
  }

  /**
   * Translates the IPv4 packet quoted in an ICMPv4 error (`pkt[at..end)`, possibly truncated)
   * into an IPv6 header + transport bytes at `out[o..]`, at most `room` bytes. No TTL decrement.
   */
  private inner4to6(
    pkt: Uint8Array,
    at: number,
    end: number,
    mapper: Xlat4to6Mapper,
    o: number,
    room: number,
  ): number {
    const out = this.out;
    if (end - at < IPV4_HEADER || pkt[at] >> 4 !== 4) return this.dropN('dropMalformed');
    const ihl = (pkt[at] & 0x0f) << 2;
    if (ihl < IPV4_HEADER || at + ihl > end) return this.dropN('dropMalformed');
    const proto = pkt[at + 9];
    const innerTotal = (pkt[at + 2] << 8) | pkt[at + 3];
    const fragWord = (pkt[at + 6] << 8) | pkt[at + 7];
    const isFrag = (fragWord & 0x3fff) !== 0;
    const fragOff = (fragWord & 0x1fff) << 3;
    const l4 = at + ihl;
    let l4Len = Math.min(end - l4, Math.max(0, innerTotal - ihl));
    const hdr = IPV6_HEADER + (isFrag ? FRAGMENT_HEADER : 0);
    if (hdr + l4Len > room) l4Len = Math.max(0, room - hdr);
    if (proto === 1 && fragOff === 0 && l4Len >= 1 && isIcmp4Error(pkt[l4]))
      return this.dropN('dropIcmpNested');
    const innerSrc = ((pkt[at + 12] << 24) | (pkt[at + 13] << 16) | (pkt[at + 14] << 8) | pkt[at + 15]) >>> 0;
    const innerDst = ((pkt[at + 16] << 24) | (pkt[at + 17] << 16) | (pkt[at + 18] << 8) | pkt[at + 19]) >>> 0;
    const tos = this.copyTc ? pkt[at + 1] : 0;
    out[o] = 0x60 | (tos >> 4);
    out[o + 1] = (tos & 0x0f) << 4;
    out[o + 2] = 0;
    out[o + 3] = 0;
    writeU16(out, o + 4, Math.max(0, innerTotal - ihl) + (isFrag ? FRAGMENT_HEADER : 0));
    const outProto = proto === 1 ? 58 : proto;
    out[o + 6] = isFrag ? 44 : outProto;
    out[o + 7] = pkt[at + 8]; // hop limit = TTL, no decrement for the embedded packet
    if (isFrag)
      writeFragmentHeader(
        out,
        o + IPV6_HEADER,
        outProto,
        fragOff,
        (fragWord & 0x2000) !== 0,
        (pkt[at + 4] << 8) | pkt[at + 5],
      );
    const t = o + hdr;
    out.set(pkt.subarray(l4, l4 + l4Len), t);
    // The quoted packet went from a local node (source) to a remote one (destination).
    const first = fragOff === 0;
    let oldPort = NO_PORT;
    let mapProto = proto;
    if (first && (proto === 6 || proto === 17) && l4Len >= 4) oldPort = (pkt[l4] << 8) | pkt[l4 + 1];
    else if (first && proto === 1 && l4Len >= 6 && (pkt[l4] === 8 || pkt[l4] === 0))
      oldPort = (pkt[l4 + 4] << 8) | pkt[l4 + 5];
    else mapProto = proto === 1 ? 1 : proto;
    const port = mapper.local4(innerSrc, mapProto, oldPort, out, o + 8);
    if (port === -2) return this.dropN('dropUnmapped');
    if (!mapper.remote4(innerDst, out, o + 24)) return this.dropN('dropUnmapped');
    if (oldPort !== NO_PORT) {
      if (proto === 1) writeU16(out, t + 4, port);
      else writeU16(out, t, port);
    }
    // Embedded transport checksum, when quoted: adjust for the address (and port) change.
    const ckRel = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 ? 2 : -1;
    if (first && ckRel >= 0 && l4Len >= ckRel + 2) {
      const oldCk = (out[t + ckRel] << 8) | out[t + ckRel + 1];
      if (proto === 1) {
        // ICMP echo → ICMPv6 echo: new type and a pseudo-header that ICMPv4 did not have.
        const oldType = pkt[l4];
        const newType = oldType === 8 ? 128 : oldType === 0 ? 129 : oldType;
        out[t] = newType;
        const ulen = Math.max(0, innerTotal - ihl);
        const removed = (oldType << 8) + (oldPort === NO_PORT ? 0 : oldPort);
        const added = (newType << 8) + (oldPort === NO_PORT ? 0 : port) + pseudoHeaderSum6(out, o, 58, ulen);
        writeU16(out, t + ckRel, adjust(oldCk, removed, added));
      } else if (!(proto === 17 && oldCk === 0)) {
        const removed = onesSum(pkt, at + 12, 8, oldPort === NO_PORT ? 0 : oldPort);
        const added = onesSum(out, o + 8, 32, oldPort === NO_PORT ? 0 : port);
        writeU16(out, t + ckRel, adjust(oldCk, removed, added));
      }
    }
    return hdr + l4Len;
  }

  // ================================ IPv6 → IPv4 (RFC 7915 §5) ================================

  /**
   * Translates one IPv6 packet. The result goes to `emit`; an ICMPv6 error for the sender (hop
   * limit exceeded, Segments Left ≠ 0, packet too big) goes to `reply`. Returns true when
   * something was emitted. Never throws for a bad packet.
   */
  translate6to4(pkt: Uint8Array, mapper: Xlat6to4Mapper, emit: PacketHandler, reply: PacketHandler): boolean {
    const ip = this.v6;
    const chain = this.chain;
    if (!ip.rebind(pkt) || !chain.parse(ip)) return this.drop('dropMalformed');
    if (ip.hopLimit <= 1) {
      this.reply6(pkt, 3, 0, 0, reply);
      return this.drop('dropTtlExceeded');
    }
    if (chain.routingHeaderOffset >= 0 && chain.segmentsLeft !== 0) {
      // RFC 7915 §5.1: do not translate; parameter problem pointing at Segments Left.
      this.reply6(pkt, 4, 0, chain.routingHeaderOffset + 3, reply);
      return this.drop('dropSegmentsLeft');
    }
    const proto6 = chain.upperProtocol;
    // ICMPv4 inside IPv6 would become real ICMP on the IPv4 side: never translate it.
    if (proto6 === 1) return this.drop('dropIcmpUntranslatable');
    const proto = proto6 === 58 ? 1 : proto6;
    const hasFrag = chain.fragmentHeaderOffset >= 0;
    const fragOff = chain.fragmentOffset;
    const first = fragOff === 0;
    const dataStart = chain.upperOffset;
    const end = IPV6_HEADER + ip.payloadLength;
    const out = this.out;
    const o4 = IPV4_HEADER;
    let len: number;
    const res = this.mapped;
    if (proto6 === 58) {
      if (chain.isFragment) return this.drop('dropIcmpFragment');
      len = this.icmp6to4(pkt, dataStart, end, mapper, o4);
      if (len < 0) return false;
    } else {
      len = end - dataStart;
      const hasPorts = first && ((proto === 6 && len >= 20) || (proto === 17 && len >= 8));
      if (first && (proto === 6 || proto === 17) && !hasPorts) return this.drop('dropMalformed');
      const oldPort = hasPorts ? (pkt[dataStart] << 8) | pkt[dataStart + 1] : NO_PORT;
      if (!mapper.local6(pkt, 8, proto, oldPort, res)) return this.drop('dropUnmapped');
      const dst4 = mapper.remote6(pkt, 24);
      if (dst4 < 0) return this.drop('dropUnmapped');
      const src4 = res.addr;
      const port = res.port;
      // Transport checksum: remove the IPv6 addresses and old port, add the IPv4 ones and new port.
      let ckOff = -1;
      let ck = 0;
      if (hasPorts) {
        ckOff = proto === 6 ? 16 : 6;
        const oldCk = (pkt[dataStart + ckOff] << 8) | pkt[dataStart + ckOff + 1];
        if (proto === 17 && oldCk === 0) return this.drop('dropUdpZeroChecksum'); // illegal in IPv6
        const removed = onesSum(pkt, 8, 32, oldPort);
        const added = (src4 >>> 16) + (src4 & 0xffff) + (dst4 >>> 16) + (dst4 & 0xffff) + port;
        ck = adjust(oldCk, removed, added);
        if (proto === 17 && ck === 0) ck = 0xffff;
      }
      const total = IPV4_HEADER + len;
      if (this.inPlace && total <= this.ipv4Mtu) {
        // In place (the device contract lets a receiver rewrite the buffer): the IPv4 header is
        // 20 bytes shorter than the IPv6 header, so it goes over the last 20 bytes before the
        // data, and the data does not move. Everything read from the IPv6 header and extension
        // headers was read above; the chain's fields are parsed copies.
        if (hasPorts) {
          writeU16(pkt, dataStart, port);
          writeU16(pkt, dataStart + ckOff, ck);
        }
        const h = dataStart - IPV4_HEADER;
        this.writeIpv4Header(pkt, h, total, proto, hasFrag);
        writeU32(pkt, h + 12, src4);
        writeU32(pkt, h + 16, dst4);
        finishHeader4(pkt, h);
        this.stats.translated6to4++;
        emit(this.inPlaceView(pkt, h, total));
        return true;
      }
      // In the scratch buffer (and then fragmented or refused when too big for the IPv4 next hop).
      out.set(pkt.subarray(dataStart, end), o4);
      if (hasPorts) {
        writeU16(out, o4, port);
        writeU16(out, o4 + ckOff, ck);
      }
      writeU32(out, 12, src4);
      writeU32(out, 16, dst4);
    }
    const total = IPV4_HEADER + len;
    const df = this.writeIpv4Header(out, 0, total, proto, hasFrag);
    finishHeader4(out, 0);
    if (total > this.ipv4Mtu) {
      if (df) {
        this.reply6(pkt, 2, 0, Math.max(1280, this.ipv4Mtu + 20), reply);
        return this.drop('dropTooBig');
      }
      this.fragment4(total, emit);
      this.stats.translated6to4++;
      return true;
    }
    this.stats.translated6to4++;
    emit(this.view(total));
    return true;
  }

  /** Translates the ICMPv6 message at `pkt[at..end)` into `out[o..]` and fills the IPv4 addresses. */
  private icmp6to4(pkt: Uint8Array, at: number, end: number, mapper: Xlat6to4Mapper, o: number): number {
    const out = this.out;
    const len = end - at;
    if (len < 8) return this.dropN('dropMalformed');
    // Verify the ICMPv6 checksum first: it is recomputed, so a corrupt message would be laundered.
    if (finishChecksum(onesSum(pkt, at, len, pseudoHeaderSum6(pkt, 0, 58, len))) !== 0)
      return this.dropN('dropBadChecksum');
    const type = pkt[at];
    const map = mapIcmp6To4(type, pkt[at + 1]);
    if (map.type < 0) return this.dropN('dropIcmpUntranslatable');
    const res = this.mapped;
    out[o] = map.type;
    out[o + 1] = map.code;
    let msgLen: number;
    const dst4 = mapper.remote6(pkt, 24);
    if (dst4 < 0) return this.dropN('dropUnmapped');
    if (type === 128 || type === 129) {
      const id = (pkt[at + 4] << 8) | pkt[at + 5];
      if (!mapper.local6(pkt, 8, 1, id, res)) return this.dropN('dropUnmapped');
      out.set(pkt.subarray(at + 4, end), o + 4);
      writeU16(out, o + 4, res.port);
      msgLen = len;
    } else {
      if (!mapper.local6(pkt, 8, 1, NO_PORT, res)) return this.dropN('dropUnmapped');
      out[o + 4] = 0;
      out[o + 5] = 0;
      out[o + 6] = 0;
      out[o + 7] = 0;
      if (map.pointer === 'map') {
        const p6 = ((pkt[at + 4] << 24) | (pkt[at + 5] << 16) | (pkt[at + 6] << 8) | pkt[at + 7]) >>> 0;
        const p = p6 > 39 ? -1 : mapPointer6To4(p6);
        if (p < 0) return this.dropN('dropIcmpUntranslatable');
        out[o + 4] = p;
      }
      if (map.type === 3 && map.code === 4) {
        const mtu6 = ((pkt[at + 4] << 24) | (pkt[at + 5] << 16) | (pkt[at + 6] << 8) | pkt[at + 7]) >>> 0;
        const mtu = Math.min(Math.max(0, mtu6 - 20), this.ipv4Mtu, this.ipv6Mtu - 20, 0xffff);
        writeU16(out, o + 6, mtu);
      }
      const innerLen = this.inner6to4(pkt, at + 8, end, mapper, o + 8);
      if (innerLen < 0) return -1;
      msgLen = 8 + innerLen;
    }
    writeU32(out, 12, res.addr);
    writeU32(out, 16, dst4);
    out[o + 2] = 0;
    out[o + 3] = 0;
    writeU16(out, o + 2, finishChecksum(onesSum(out, o, msgLen, 0)));
    return msgLen;
  }

  /** Translates the IPv6 packet quoted in an ICMPv6 error (possibly truncated) into IPv4 at `out[o..]`. */
  private inner6to4(pkt: Uint8Array, at: number, end: number, mapper: Xlat6to4Mapper, o: number): number {
    const out = this.out;
    if (end - at < IPV6_HEADER || pkt[at] >> 4 !== 6) return this.dropN('dropMalformed');
    // Walk the quoted extension headers within the quoted bytes.
    let nh = pkt[at + 6];
    let p = at + IPV6_HEADER;
    let isFrag = false;
    let fragOff = 0;
    let more = false;
    let fragId = 0;
    while (nh === 0 || nh === 43 || nh === 44 || nh === 60) {
      if (p + 8 > end) return this.dropN('dropMalformed');
      if (nh === 44) {
        isFrag = true;
        const w = (pkt[p + 2] << 8) | pkt[p + 3];
        fragOff = w & 0xfff8;
        more = (w & 1) !== 0;
        fragId = (pkt[p + 6] << 8) | pkt[p + 7];
        nh = pkt[p];
        p += 8;
        if (fragOff !== 0) break;
      } else {
        nh = pkt[p];
        p += (pkt[p + 1] + 1) << 3;
      }
    }
    if (p > end) return this.dropN('dropMalformed');
    const proto = nh === 58 ? 1 : nh;
    const first = fragOff === 0;
    if (nh === 58 && first && p < end && pkt[p] < 128) return this.dropN('dropIcmpNested');
    const l4Len = end - p;
    const innerPayload = ((pkt[at + 4] << 8) | pkt[at + 5]) - (p - at - IPV6_HEADER);
    const res = this.mapped;
    const t = o + IPV4_HEADER;
    out.set(pkt.subarray(p, end), t);
    // The quoted packet went from a remote node (source) to a local one (destination).
    const src4 = mapper.remote6(pkt, at + 8);
    if (src4 < 0) return this.dropN('dropUnmapped');
    let oldPort = NO_PORT;
    if (first && (proto === 6 || proto === 17) && l4Len >= 4) oldPort = (pkt[p + 2] << 8) | pkt[p + 3];
    else if (first && proto === 1 && l4Len >= 6 && (pkt[p] === 128 || pkt[p] === 129))
      oldPort = (pkt[p + 4] << 8) | pkt[p + 5];
    if (!mapper.local6(pkt, at + 24, proto, oldPort, res)) return this.dropN('dropUnmapped');
    const dst4 = res.addr;
    if (oldPort !== NO_PORT) {
      if (proto === 1) writeU16(out, t + 4, res.port);
      else writeU16(out, t + 2, res.port);
    }
    const tc = this.copyTc ? ((pkt[at] & 0x0f) << 4) | (pkt[at + 1] >> 4) : 0;
    out[o] = 0x45;
    out[o + 1] = tc;
    writeU16(out, o + 2, IPV4_HEADER + Math.max(0, innerPayload));
    writeU16(out, o + 4, isFrag ? fragId : 0);
    writeU16(out, o + 6, isFrag ? (more ? 0x2000 : 0) | (fragOff >> 3) : 0);
    out[o + 8] = pkt[at + 7];
    out[o + 9] = proto;
    writeU32(out, o + 12, src4);
    writeU32(out, o + 16, dst4);
    out[o + 10] = 0;
    out[o + 11] = 0;
    writeU16(out, o + 10, finishChecksum(onesSum(out, o, IPV4_HEADER, 0)));
    const ckRel = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 ? 2 : -1;
    if (first && ckRel >= 0 && l4Len >= ckRel + 2) {
      const oldCk = (out[t + ckRel] << 8) | out[t + ckRel + 1];
      const newPort = oldPort === NO_PORT ? 0 : res.port;
      const oldP = oldPort === NO_PORT ? 0 : oldPort;
      if (proto === 1) {
        const oldType = pkt[p];
        const newType = oldType === 128 ? 8 : oldType === 129 ? 0 : oldType;
        out[t] = newType;
        const removed = (oldType << 8) + oldP + pseudoHeaderSum6(pkt, at, 58, Math.max(0, innerPayload));
        writeU16(out, t + ckRel, adjust(oldCk, removed, (newType << 8) + newPort));
      } else if (!(proto === 17 && oldCk === 0)) {
        const removed = onesSum(pkt, at + 8, 32, oldP);
        const added = onesSum(out, o + 12, 8, newPort);
        writeU16(out, t + ckRel, adjust(oldCk, removed, added));
      }
    }
    return IPV4_HEADER + l4Len;
  }

  // ================================ helpers ================================

  /**
   * Writes the IPv4 header of a translated packet at `b[h..h+20)` (RFC 7915 §5.1) from the IPv6
   * header bound to `this.v6` and the parsed chain: TOS, length, ID / fragment fields (the
   * Fragment Header's, or a new ID with DF set above 1260 bytes), TTL − 1 and protocol. The
   * caller writes the addresses, then the checksum ({@link finishHeader4}). Returns whether DF is set.
   */
  private writeIpv4Header(b: Uint8Array, h: number, total: number, proto: number, hasFrag: boolean): boolean {
    const ip = this.v6;
    const chain = this.chain;
    const ttl = ip.hopLimit - 1;
    const tc = this.copyTc ? ip.trafficClass : 0;
    let df = false;
    let id: number;
    let fw: number;
    if (hasFrag) {
      id = chain.fragmentId & 0xffff;
      fw = (chain.moreFragments ? 0x2000 : 0) | (chain.fragmentOffset >> 3);
    } else {
      id = this.newId();
      df = !this.arrivedFragmented && total > DF_THRESHOLD;
      fw = df ? 0x4000 : 0;
    }
    b[h] = 0x45;
    b[h + 1] = tc;
    writeU16(b, h + 2, total);
    writeU16(b, h + 4, id);
    writeU16(b, h + 6, fw);
    b[h + 8] = ttl;
    b[h + 9] = proto;
    return df;
  }

  /**
   * The view `pkt[h..h+len)` of a packet translated in place. The last one is kept: a receiver
   * that reads every packet into the same array (a TUN read loop) costs no allocation. A cache
   * per input array (a WeakMap) was measured slower than the allocation with 10,000 arrays.
   */
  private inPlaceView(pkt: Uint8Array, h: number, len: number): Uint8Array {
    let v = this.placedView;
    if (this.placedFor !== pkt || v.length !== len || v.byteOffset !== pkt.byteOffset + h) {
      v = pkt.subarray(h, h + len);
      this.placedFor = pkt;
      this.placedView = v;
    }
    return v;
  }

  /** Emits the IPv6 packet in `out` (fixed header at 0, data at `dataStart..dataEnd`) as fragments of ≤ `mtu`. */
  private fragment6(
    dataStart: number,
    dataEnd: number,
    nextHeader: number,
    baseOffset: number,
    lastMore: boolean,
    id: number,
    mtu: number,
    emit: PacketHandler,
  ): void {
    const out = this.out;
    const room = (mtu - IPV6_HEADER - FRAGMENT_HEADER) & ~7;
    const header = out.slice(0, IPV6_HEADER);
    header[6] = 44;
    // Build every fragment before emitting any: a handler may re-enter this translator and
    // overwrite the scratch buffer.
    const frags: Uint8Array[] = [];
    for (let pos = dataStart; pos < dataEnd; pos += room) {
      const n = Math.min(room, dataEnd - pos);
      const last = pos + n >= dataEnd;
      const frag = new Uint8Array(IPV6_HEADER + FRAGMENT_HEADER + n);
      frag.set(header, 0);
      writeU16(frag, 4, FRAGMENT_HEADER + n);
      writeFragmentHeader(
        frag,
        IPV6_HEADER,
        nextHeader,
        baseOffset + (pos - dataStart),
        last ? lastMore : true,
        id,
      );
      frag.set(out.subarray(pos, pos + n), IPV6_HEADER + FRAGMENT_HEADER);
      frags.push(frag);
    }
    this.stats.fragmentsCreated += frags.length;
    for (const f of frags) emit(f);
  }

  /** Emits the IPv4 packet in `out[0..total)` as fragments of ≤ the IPv4 MTU. */
  private fragment4(total: number, emit: PacketHandler): void {
    const out = this.out;
    const fw = (out[6] << 8) | out[7];
    const base = (fw & 0x1fff) << 3;
    const lastMore = (fw & 0x2000) !== 0;
    const room = (this.ipv4Mtu - IPV4_HEADER) & ~7;
    const frags: Uint8Array[] = []; // all built before any is emitted (re-entrancy)
    for (let pos = IPV4_HEADER; pos < total; pos += room) {
      const n = Math.min(room, total - pos);
      const last = pos + n >= total;
      const frag = new Uint8Array(IPV4_HEADER + n);
      frag.set(out.subarray(0, IPV4_HEADER), 0);
      writeU16(frag, 2, IPV4_HEADER + n);
      writeU16(frag, 6, (last && !lastMore ? 0 : 0x2000) | ((base + pos - IPV4_HEADER) >> 3));
      frag[10] = 0;
      frag[11] = 0;
      writeU16(frag, 10, finishChecksum(onesSum(frag, 0, IPV4_HEADER, 0)));
      frag.set(out.subarray(pos, pos + n), IPV4_HEADER);
      frags.push(frag);
    }
    this.stats.fragmentsCreated += frags.length;
    for (const f of frags) emit(f);
  }

  /** A view of the first `len` bytes of the scratch buffer, cached per length (no allocation in steady state). */
  private view(len: number): Uint8Array {
    let v = this.views[len];
    if (v === undefined) {
      v = this.out.subarray(0, len);
      this.views[len] = v;
    }
    return v;
  }

  private newId(): number {
    const id = this._nextId;
    this._nextId = (id + 1) & 0xffff || 1;
    return id;
  }

  private reply4(pkt: Uint8Array, type: number, code: number, mtu: number, reply: PacketHandler): void {
    if (this.icmpSource4 === undefined) return;
    const err = buildIcmpv4Error(pkt, { src: this.icmpSource4, type, code, mtu });
    if (err) {
      this.stats.icmpSent++;
      reply(err);
    }
  }

  private reply6(pkt: Uint8Array, type: number, code: number, value: number, reply: PacketHandler): void {
    if (this.icmpSource6 === undefined) return;
    const err = buildIcmpv6Error(pkt, {
      src: this.icmpSource6,
      type,
      code,
      mtu: type === 2 ? value : undefined,
      pointer: type === 4 ? value : undefined,
    });
    if (err) {
      this.stats.icmpSent++;
      reply(err);
    }
  }

  private drop(reason: keyof TranslatorStats): false {
    this.stats[reason]++;
    return false;
  }

  private dropN(reason: keyof TranslatorStats): -1 {
    this.stats[reason]++;
    return -1;
  }
}

/** RFC 1624-style adjustment: remove the (unfolded) sum `removed`, add `added`, from checksum `ck`. */
export function adjust(ck: number, removed: number, added: number): number {
  const s = (~ck & 0xffff) + (~foldSum(removed) & 0xffff) + foldSum(added);
  return ~foldSum(s) & 0xffff;
}

/** Pseudo-header sum for the IPv6 header at `out[0..40)` with upper-layer length `len`. */
function pseudoHeaderSum6Raw(out: Uint8Array, proto: number, len: number): number {
  return pseudoHeaderSum6(out, 0, proto, len);
}

/** Computes and stores the checksum of the IPv4 header at `b[h..h+20)`. */
function finishHeader4(b: Uint8Array, h: number): void {
  b[h + 10] = 0;
  b[h + 11] = 0;
  writeU16(b, h + 10, finishChecksum(onesSum(b, h, IPV4_HEADER, 0)));
}

function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function writeFragmentHeader(
  b: Uint8Array,
  o: number,
  nh: number,
  offset: number,
  more: boolean,
  id: number,
): void {
  b[o] = nh;
  b[o + 1] = 0;
  writeU16(b, o + 2, (offset & 0xfff8) | (more ? 1 : 0));
  writeU32(b, o + 4, id >>> 0);
}

function isIcmp4Error(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Whether the IPv4 options hold a Loose or Strict Source Route with addresses left (RFC 7915 §4.1). */
function hasSourceRoute(pkt: Uint8Array, hl: number): boolean {
  let i = IPV4_HEADER;
  while (i < hl) {
    const t = pkt[i];
    if (t === 0) return false;
    if (t === 1) {
      i++;
      continue;
    }
    const len = i + 1 < hl ? pkt[i + 1] : 0;
    if (len < 2 || i + len > hl) return false;
    if ((t === 0x83 || t === 0x89) && len >= 3 && pkt[i + 2] <= len) return true; // pointer not past the end
    i += len;
  }
  return false;
}
