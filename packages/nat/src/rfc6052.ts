/**
 * IPv4-embedded IPv6 addresses (RFC 6052 §2.2).
 *
 * ```
 * +--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
 * |PL| 0-------------32--40--48--56--64--72--80--88--96--104---------|
 * +--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
 * |32|     prefix    |v4(32)         | u | suffix                    |
 * |40|     prefix        |v4(24)     | u |(8)| suffix                |
 * |48|     prefix            |v4(16) | u | (16)  | suffix            |
 * |56|     prefix                |(8)| u |  v4(24)   | suffix        |
 * |64|     prefix                    | u |   v4(32)      | suffix    |
 * |96|     prefix                                    |    v4(32)     |
 * +--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
 * ```
 *
 * Bits 64–71 ("u") are zero, and so is the suffix. The Well-Known Prefix 64:ff9b::/96 must not
 * represent non-global IPv4 addresses (RFC 6052 §3.1); {@link Rfc6052Prefix.allowed} applies that
 * rule unless the prefix was created with `allowNonGlobal`.
 */
import { ConfigError } from '@l3kit/core';
import { formatIpv6, Prefix, readIpv4 } from '@l3kit/wire';

/** The prefix lengths RFC 6052 allows. */
export const RFC6052_PREFIX_LENGTHS = [32, 40, 48, 56, 64, 96] as const;
/** The Well-Known Prefix (RFC 6052 §2.1). */
export const WELL_KNOWN_PREFIX = '64:ff9b::/96';

/** Where each IPv4 byte goes (byte index in the IPv6 address) for each prefix length. */
const LAYOUT: Record<number, readonly [number, number, number, number]> = {
  32: [4, 5, 6, 7],
  40: [5, 6, 7, 9],
  48: [6, 7, 9, 10],
  56: [7, 9, 10, 11],
  64: [9, 10, 11, 12],
  96: [12, 13, 14, 15],
};

/**
 * An RFC 6052 prefix, prepared for the per-packet path: embedding and extraction read and write
 * bytes in place with no allocation.
 *
 * @example
 * ```ts
 * const p = Rfc6052Prefix.parse('64:ff9b::/96');
 * p.format(0xc0000221); // '64:ff9b::c000:221' (192.0.2.33)
 * ```
 */
export class Rfc6052Prefix {
  /** The prefix as given. */
  readonly prefix: Prefix;
  /** Whether this is the Well-Known Prefix 64:ff9b::/96. */
  readonly wellKnown: boolean;
  /** Whether non-global IPv4 addresses may be embedded even under the Well-Known Prefix. */
  readonly allowNonGlobal: boolean;
  private readonly bytes: Uint8Array;
  private readonly i0: number;
  private readonly i1: number;
  private readonly i2: number;
  private readonly i3: number;
  /** Bytes of the prefix that must match (prefix length / 8). */
  private readonly plen: number;

  constructor(prefix: Prefix, options: { allowNonGlobal?: boolean } = {}) {
    if (prefix.version !== 6)
      throw new ConfigError('ERR_BAD_PREFIX', `RFC 6052 prefix must be IPv6, got ${prefix}`);
    const layout = LAYOUT[prefix.bits];
    if (!layout) {
      throw new ConfigError(
        'ERR_BAD_PREFIX',
        `RFC 6052 prefix length must be one of ${RFC6052_PREFIX_LENGTHS.join(', ')}, got /${prefix.bits} (${prefix})`,
      );
    }
    const net = prefix.network();
    if (prefix.bits === 96 && net.ip[8] !== 0) {
      throw new ConfigError('ERR_BAD_PREFIX', `RFC 6052: bits 64-71 of ${prefix} must be zero`);
    }
    this.prefix = net;
    this.bytes = net.ip;
    [this.i0, this.i1, this.i2, this.i3] = layout;
    this.plen = prefix.bits >> 3;
    this.wellKnown = prefix.bits === 96 && net.toString() === '64:ff9b::/96';
    this.allowNonGlobal = options.allowNonGlobal ?? false;
  }

  /** Parses `text` (e.g. `'64:ff9b::/96'`); throws ConfigError `ERR_BAD_PREFIX` when it is not an RFC 6052 prefix. */
  static parse(text: string, options: { allowNonGlobal?: boolean } = {}): Rfc6052Prefix {
    const p = Prefix.tryParse(text);
    if (!p) throw new ConfigError('ERR_BAD_PREFIX', `not an IPv6 prefix: ${JSON.stringify(text)}`);
    return new Rfc6052Prefix(p, options);
  }

  /** Prefix length in bits. */
  get bits(): number {
    return this.prefix.bits;
  }

  /**
   * Whether `v4` may be represented under this prefix: always for a network-specific prefix;
   * under the Well-Known Prefix only global addresses (RFC 6052 §3.1) unless `allowNonGlobal`.
   */
  allowed(v4: number): boolean {
    return !this.wellKnown || this.allowNonGlobal || isGlobalIpv4(v4);
  }

  /** Writes the IPv6 address that embeds `v4` at `out[off..off+16)`. */
  embed(v4: number, out: Uint8Array, off: number): void {
    const b = this.bytes;
    for (let i = 0; i < 16; i++) out[off + i] = i < this.plen ? b[i] : 0;
    out[off + this.i0] = v4 >>> 24;
    out[off + this.i1] = (v4 >>> 16) & 0xff;
    out[off + this.i2] = (v4 >>> 8) & 0xff;
    out[off + this.i3] = v4 & 0xff;
  }

  /** Whether the IPv6 address at `b[off..]` lies under this prefix. */
  matches(b: Uint8Array, off: number): boolean {
    const p = this.bytes;
    for (let i = 0; i < this.plen; i++) if (b[off + i] !== p[i]) return false;
    return true;
  }

  /** The IPv4 address embedded in the IPv6 address at `b[off..]` (call {@link matches} first). */
  extract(b: Uint8Array, off: number): number {
    return (
      ((b[off + this.i0] << 24) | (b[off + this.i1] << 16) | (b[off + this.i2] << 8) | b[off + this.i3]) >>> 0
    );
  }

  /** Text of the IPv6 address that embeds `v4` (configuration and printing). */
  format(v4: number): string {
    const out = new Uint8Array(16);
    this.embed(v4, out, 0);
    return formatIpv6(out, 0);
  }

  /** The embedded IPv4 address of IPv6 text, or `null` when it is not under this prefix. */
  parseEmbedded(text: string): number | null {
    const p = Prefix.tryParse(text);
    if (p?.version !== 6 || !this.matches(p.ip, 0)) return null;
    return this.extract(p.ip, 0);
  }

  toString(): string {
    return this.prefix.toString();
  }
}

/** Special-purpose IPv4 blocks that are not globally reachable (RFC 6890 registry; RFC 5735 §3). */
const NON_GLOBAL_V4: ReadonlyArray<readonly [number, number]> = [
  [0x00000000, 8], // 0.0.0.0/8 "this network"
  [0x0a000000, 8], // 10.0.0.0/8 private
  [0x64400000, 10], // 100.64.0.0/10 shared address space
  [0x7f000000, 8], // 127.0.0.0/8 loopback
  [0xa9fe0000, 16], // 169.254.0.0/16 link local
  [0xac100000, 12], // 172.16.0.0/12 private
  [0xc0000000, 24], // 192.0.0.0/24 IETF protocol assignments
  [0xc0000200, 24], // 192.0.2.0/24 TEST-NET-1
  [0xc0a80000, 16], // 192.168.0.0/16 private
  [0xc6120000, 15], // 198.18.0.0/15 benchmarking
  [0xc6336400, 24], // 198.51.100.0/24 TEST-NET-2
  [0xcb007100, 24], // 203.0.113.0/24 TEST-NET-3
  [0xe0000000, 4], // 224.0.0.0/4 multicast
  [0xf0000000, 4], // 240.0.0.0/4 reserved, and 255.255.255.255
];

/** Whether a numeric IPv4 address is globally reachable (not in a special-purpose non-global block). */
export function isGlobalIpv4(v4: number): boolean {
  // int32 compares: no heap numbers on the packet path
  const x = v4 | 0;
  for (let i = 0; i < NON_GLOBAL_NET.length; i++)
    if ((x & NON_GLOBAL_MASK[i]) === NON_GLOBAL_NET[i]) return false;
  return true;
}

const NON_GLOBAL_MASK = Int32Array.from(NON_GLOBAL_V4, ([, bits]) =>
  bits === 0 ? 0 : 0xffffffff << (32 - bits),
);
const NON_GLOBAL_NET = Int32Array.from(
  NON_GLOBAL_V4,
  ([net, bits]) => net & (bits === 0 ? 0 : 0xffffffff << (32 - bits)),
);

/** Convenience: embed an IPv4 address (text or number) under an RFC 6052 prefix (text), as text. */
export function embedIpv4Text(prefix: string, v4: string | number): string {
  const p = Rfc6052Prefix.parse(prefix, { allowNonGlobal: true });
  if (typeof v4 === 'number') return p.format(v4);
  const b = Prefix.tryParse(v4);
  if (b?.version !== 4)
    throw new ConfigError('ERR_BAD_ADDRESS', `not an IPv4 address: ${JSON.stringify(v4)}`);
  return p.format(readIpv4(b.ip, 0));
}
