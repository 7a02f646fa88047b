/**
 * A stateless IP/ICMP translator (SIIT, RFC 7915) with an Explicit Address Mapping table
 * (RFC 7757) and RFC 6052 prefix embedding for everything the table does not cover.
 *
 * `siit.inside()` faces the IPv6 network, `siit.outside()` the IPv4 network. An IPv4 address
 * maps to IPv6 through the longest EAM entry that covers it (suffix bits copied), else by
 * embedding under the RFC 6052 prefix; the reverse likewise. Ports are never changed. A packet
 * whose translated destination maps straight back (EAM hairpinning, RFC 7757 §4) is translated
 * again and returned to the side it came from.
 */
import { type Clock, ConfigError, discard, type L3Device, type PacketHandler, Prefix } from '@l3kit/core';
import { EventEmitter } from 'eventemitter3';
import { Rfc6052Prefix } from './rfc6052.js';
import {
  Translator,
  type TranslatorOptions,
  type TranslatorStats,
  type Xlat4to6Mapper,
  type Xlat6to4Mapper,
} from './xlat.js';

/** One Explicit Address Mapping: an IPv4 prefix and an IPv6 prefix with as many suffix bits. */
export interface EamEntry {
  /** IPv4 prefix, e.g. `'192.0.2.0/24'`. */
  ipv4: string;
  /** IPv6 prefix, e.g. `'2001:db8:aaaa::/120'`. */
  ipv6: string;
}

/** Options of a {@link Siit}. */
export interface SiitOptions extends TranslatorOptions {
  /** RFC 6052 prefix for addresses the EAM table does not cover. Optional when EAM covers all. */
  prefix?: string;
  /** Allow non-global IPv4 addresses under the Well-Known Prefix (off: RFC 6052 §3.1). */
  allowNonGlobal?: boolean;
  /** Initial EAM table. */
  eam?: EamEntry[];
  /** Unused by the stateless translator; accepted for symmetry with the other devices. */
  clock?: Clock;
}

/** Typed control events of a {@link Siit}. */
export interface SiitEvents {
  'eam-added': [EamEntry];
  'eam-removed': [EamEntry];
}

interface Eam {
  entry: EamEntry;
  v4: number;
  v4Bits: number;
  v4Mask: number;
  v6: Uint8Array;
  v6Bits: number;
}

/** One side of the translator as an L3Device. */
class SiitInterface implements L3Device {
  handler: PacketHandler = discard;
  private prefix: Prefix | undefined;
  constructor(private readonly input: (pkt: Uint8Array) => void) {}
  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }
  send(pkt: Uint8Array): void {
    this.input(pkt);
  }
  addr(): Prefix | undefined {
    return this.prefix;
  }
  setAddr(prefix: Prefix): void {
    this.prefix = prefix;
  }
  close(): void {
    this.handler = discard;
  }
}

/**
 * Stateless SIIT device.
 *
 * @example
 * ```ts
 * const siit = new Siit({ prefix: '2001:db8:64::/96', eam: [{ ipv4: '198.51.100.0/24', ipv6: '2001:db8:6::/120' }] });
 * connectL3(ipv6Host, siit.inside());
 * connectL3(siit.outside(), ipv4Router);
 * ```
 */
export class Siit extends EventEmitter<SiitEvents> {
  private readonly xlat: Translator;
  private readonly prefix6052: Rfc6052Prefix | null;
  private readonly eams: Eam[] = [];
  private readonly v6side: SiitInterface;
  private readonly v4side: SiitInterface;
  private readonly to6: Xlat4to6Mapper;
  private readonly to4: Xlat6to4Mapper;
  private closed = false;
  /** Packets that came in and were dropped before translation (not IP of the right version). */
  dropWrongVersion = 0;
  /** Packets translated back to the side they came from (EAM hairpinning). */
  hairpinned = 0;

  constructor(options: SiitOptions) {
    super();
    this.xlat = new Translator(options);
    this.prefix6052 = options.prefix
      ? Rfc6052Prefix.parse(options.prefix, { allowNonGlobal: options.allowNonGlobal })
      : null;
    for (const e of options.eam ?? []) this.addEam(e);
    if (!this.prefix6052 && this.eams.length === 0) {
      throw new ConfigError('ERR_SIIT_NO_MAPPING', 'Siit needs an RFC 6052 prefix, an EAM table, or both');
    }
    this.to6 = {
      remote4: (v4, out, off) => this.map4(v4, out, off),
      local4: (v4, _proto, port, out, off) => (this.map4(v4, out, off) ? port : -2),
    };
    this.to4 = {
      local6: (b, off, _proto, port, r) => {
        const v4 = this.map6(b, off);
        if (v4 < 0) return false;
        r.addr = v4;
        r.port = port;
        return true;
      },
      remote6: (b, off) => this.map6(b, off),
    };
    const emit6 = (p: Uint8Array) => this.v6side.handler(p);
    const emit4 = (p: Uint8Array) => this.v4side.handler(p);
    this.v6side = new SiitInterface((pkt) => {
      if (this.closed) return;
      if (pkt.length === 0 || pkt[0] >> 4 !== 6) {
        this.dropWrongVersion++;
        return;
      }
      this.xlat.translate6to4(pkt, this.to4, (v4) => this.fromInside(v4, emit4, emit6), emit6);
    });
    this.v4side = new SiitInterface((pkt) => {
      if (this.closed) return;
      if (pkt.length === 0 || pkt[0] >> 4 !== 4) {
        this.dropWrongVersion++;
        return;
      }
      this.xlat.translate4to6(pkt, this.to6, emit6, emit4);
    });
  }

  /** The IPv6-facing interface. */
  inside(): L3Device {
    return this.v6side;
  }
  /** The IPv4-facing interface. */
  outside(): L3Device {
    return this.v4side;
  }
  /** Translation counters and drops by reason. */
  get stats(): Readonly<TranslatorStats> {
    return this.xlat.stats;
  }

  /**
   * Adds an EAM entry (RFC 7757 §3.2): both prefixes must have the same number of suffix bits.
   * Throws ConfigError `ERR_BAD_EAM` for a bad or mismatched pair, `ERR_EAM_OVERLAP` when either
   * prefix is already in the table.
   */
  addEam(entry: EamEntry): void {
    const p4 = Prefix.tryParse(entry.ipv4);
    const p6 = Prefix.tryParse(entry.ipv6);
    if (p4?.version !== 4)
      throw new ConfigError('ERR_BAD_EAM', `EAM: not an IPv4 prefix: ${JSON.stringify(entry.ipv4)}`);
    if (p6?.version !== 6)
      throw new ConfigError('ERR_BAD_EAM', `EAM: not an IPv6 prefix: ${JSON.stringify(entry.ipv6)}`);
    if (32 - p4.bits !== 128 - p6.bits) {
      throw new ConfigError(
        'ERR_BAD_EAM',
        `EAM: ${entry.ipv4} has ${32 - p4.bits} suffix bits but ${entry.ipv6} has ${128 - p6.bits}; they must match (RFC 7757 §3.2)`,
      );
    }
    const n4 = p4.network();
    const n6 = p6.network();
    for (const e of this.eams) {
      if (e.v4Bits === n4.bits && e.v4 === n4.ipv4)
        throw new ConfigError('ERR_EAM_OVERLAP', `EAM: ${entry.ipv4} is already mapped`);
      if (e.v6Bits === n6.bits && Prefix.parse(e.entry.ipv6).network().toString() === n6.toString()) {
        throw new ConfigError('ERR_EAM_OVERLAP', `EAM: ${entry.ipv6} is already mapped`);
      }
    }
    const eam: Eam = {
      entry: { ...entry },
      v4: n4.ipv4,
      v4Bits: n4.bits,
      v4Mask: n4.mask4,
      v6: n6.ip,
      v6Bits: n6.bits,
    };
    // Longest prefix first, so the first match is the longest (RFC 7757 §3.2).
    let i = 0;
    while (i < this.eams.length && this.eams[i].v4Bits >= eam.v4Bits) i++;
    this.eams.splice(i, 0, eam);
    this.emit('eam-added', eam.entry);
  }

  /** Removes the EAM entry with this IPv4 prefix; returns whether one was removed. */
  removeEam(ipv4: string): boolean {
    const p = Prefix.tryParse(ipv4);
    if (p?.version !== 4)
      throw new ConfigError('ERR_BAD_EAM', `EAM: not an IPv4 prefix: ${JSON.stringify(ipv4)}`);
    const n = p.network();
    const i = this.eams.findIndex((e) => e.v4 === n.ipv4 && e.v4Bits === n.bits);
    if (i < 0) return false;
    const [e] = this.eams.splice(i, 1);
    this.emit('eam-removed', e.entry);
    return true;
  }

  /** The EAM table, longest IPv4 prefix first. */
  listEams(): EamEntry[] {
    return this.eams.map((e) => ({ ...e.entry }));
  }

  /** Stops translating; later packets are ignored. */
  close(): void {
    this.closed = true;
    this.v6side.close();
    this.v4side.close();
  }

  /** IPv4 → IPv6 address: EAM first, then the RFC 6052 prefix. */
  private map4(v4: number, out: Uint8Array, off: number): boolean {
    for (const e of this.eams) {
      if ((v4 & e.v4Mask) >>> 0 === e.v4) {
        // Copy the prefix, then the v4 suffix bits into the low bits of the IPv6 address.
        const suffixBits = 32 - e.v4Bits;
        out.set(e.v6, off);
        for (let bit = 0; bit < suffixBits; bit++) {
          if ((v4 >>> bit) & 1) out[off + 15 - (bit >> 3)] |= 1 << (bit & 7);
        }
        return true;
      }
    }
    const p = this.prefix6052;
    if (p === null || !p.allowed(v4)) return false;
    p.embed(v4, out, off);
    return true;
  }

  /** IPv6 → IPv4 address: EAM first, then the RFC 6052 prefix; -1 when neither covers it. */
  private map6(b: Uint8Array, off: number): number {
    for (const e of this.eams) {
      if (matchBits(b, off, e.v6, e.v6Bits)) {
        const suffixBits = 32 - e.v4Bits;
        let suffix = 0;
        for (let bit = 0; bit < suffixBits; bit++)
          if ((b[off + 15 - (bit >> 3)] >> (bit & 7)) & 1) suffix |= 1 << bit;
        return (e.v4 | suffix) >>> 0;
      }
    }
    const p = this.prefix6052;
    if (p === null || !p.matches(b, off)) return -1;
    const v4 = p.extract(b, off);
    return p.allowed(v4) ? v4 : -1;
  }

  /** After 6 → 4: a destination that an EAM entry maps back to IPv6 is hairpinned (RFC 7757 §4). */
  private fromInside(v4pkt: Uint8Array, emit4: PacketHandler, emit6: PacketHandler): void {
    const dst = ((v4pkt[16] << 24) | (v4pkt[17] << 16) | (v4pkt[18] << 8) | v4pkt[19]) >>> 0;
    for (const e of this.eams) {
      if ((dst & e.v4Mask) >>> 0 === e.v4) {
        this.hairpinned++;
        // The second pass needs its own copy: the first pass's output lives in the scratch buffer.
        this.xlat.translate4to6(v4pkt.slice(), this.to6, emit6, emit6);
        return;
      }
    }
    emit4(v4pkt);
  }
}

function matchBits(b: Uint8Array, off: number, prefix: Uint8Array, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (b[off + i] !== prefix[i]) return false;
  const rem = bits & 7;
  if (rem === 0) return true;
  const m = (0xff << (8 - rem)) & 0xff;
  return (b[off + full] & m) === (prefix[full] & m);
}
