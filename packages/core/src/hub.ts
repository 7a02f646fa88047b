/**
 * `L3Hub`: a router between attached {@link L3Device}s.
 *
 * - Longest-prefix match over IPv4 and IPv6 routes. IPv4: one `Map` per prefix length present,
 *   keyed by the masked destination as a signed int32 (a small integer to V8, so no boxing).
 *   IPv6: one `Map` per prefix length keyed by a 32-bit hash of the masked destination, with
 *   buckets compared word by word. Lengths are probed longest first. No allocation per lookup.
 * - TTL / hop-limit decrement (IPv4 checksum updated incrementally, RFC 1624); TTL expiry answers
 *   ICMP Time Exceeded, no route answers Destination Unreachable (net) / ICMPv6 1/0, both
 *   sourced from the hub's own address and subject to a token-bucket rate limit (RFC 1812
 *   §4.3.2.8, RFC 4443 §2.4(f)). No error is sent where RFC 1812 §4.3.2.7 / RFC 4443 §2.4(e)
 *   forbid one (about an ICMP error, an IPv4 non-first fragment, a multicast or non-host source;
 *   see `buildIcmpv4Error` / `buildIcmpv6Error`), nor when the hub has no address of the family.
 * - A packet whose route points back out the interface it came in on is dropped (counted
 *   `sameInterface`) unless the route was added with `hairpin: true`.
 * - The hub answers ICMP / ICMPv6 echo sent to its own addresses; UDP to them gets port
 *   unreachable, other protocols protocol unreachable (IPv6: Parameter Problem 4/1).
 * - Malformed packets are dropped and counted by reason in {@link L3Hub.stats}; `send` never
 *   throws for packet content.
 *
 * The hub is itself an {@link L3Device}: `send(pkt)` routes a packet as if it arrived on the
 * hub's own "uplink" interface, and packets routed to the hub itself (`addRoute(prefix, hub)`)
 * go to the handler set with `setHandler`. That makes hubs nest.
 */
import {
  buildIcmpv4Error,
  buildIcmpv6Error,
  checksum,
  finishChecksum,
  formatIpv4,
  formatIpv6,
  Ipv6HeaderChain,
  Ipv6Packet,
  onesSum,
  Prefix,
  pseudoHeaderSum6,
  readChecksum,
  updateChecksum16,
  writeChecksum,
  writeIpv4,
} from '@l3kit/wire';
import { type Clock, systemClock } from './clock.js';
import { discard, type L3Connector, type L3Device, type PacketHandler } from './device.js';
import { ClosedError, ConfigError } from './errors.js';
import { DEFAULT_ICMP_RATE_LIMIT, type RateLimit, TokenBucket } from './token-bucket.js';

/** Counters of an {@link L3Hub}, by outcome and drop reason. A plain object; read it any time. */
export interface HubStats {
  /** Packets that entered the hub from any interface. */
  received: number;
  /** Packets forwarded to another interface (TTL decremented). */
  forwarded: number;
  /** Packets addressed to the hub itself. */
  local: number;
  /** Dropped: too short, bad version, header or length fields inconsistent with the buffer. */
  malformed: number;
  /** Dropped: IPv4 header checksum wrong (or ICMP checksum wrong on a packet to the hub). */
  badChecksum: number;
  /** Dropped: multicast / broadcast / unspecified / loopback / link-local addresses a router does not forward. */
  martian: number;
  /** Dropped: no route to the destination (Destination Unreachable sent when allowed). */
  noRoute: number;
  /** Dropped: TTL / hop limit would reach 0 (Time Exceeded sent when allowed). */
  ttlExceeded: number;
  /** Dropped: the route points back out the ingress interface and does not allow hairpinning. */
  sameInterface: number;
  /** Dropped: the hub is closed. */
  closed: number;
  /** ICMP / ICMPv6 messages the hub generated (errors and echo replies). */
  icmpSent: number;
  /** ICMP errors not sent because of the rules (about an ICMP error, non-first fragment, no hub address). */
  icmpSuppressed: number;
  /** ICMP errors not sent because of the rate limit. */
  icmpRateLimited: number;
}

/** Options of {@link L3Hub}. */
export interface L3HubOptions {
  /** The hub's IPv4 address (source of its ICMP errors), e.g. `'10.0.0.254'` or `'10.0.0.254/24'`. */
  addr4?: string;
  /** The hub's IPv6 address (source of its ICMPv6 errors). */
  addr6?: string;
  /** Time source for the ICMP rate limit. Default: the shared {@link SystemClock}. */
  clock?: Clock;
  /**
   * Token bucket for generated ICMP errors: up to `burst` at once, refilled at `perSecond`.
   * `null` disables the limit. Default `{ burst: 100, perSecond: 1000 }`.
   */
  icmpRateLimit?: RateLimit | null;
}

/** Options of {@link L3Hub.attach}. */
export interface AttachOptions {
  /**
   * Prefixes routed to the device (`'10.1.0.0/16'`, `'2001:db8:1::/48'`, `'0.0.0.0/0'`). Default:
   * the networks of the device's addresses ({@link addressesOf}).
   */
  routes?: string[];
  /** Whether these routes may send a packet back out the interface it came in on. Default false. */
  hairpin?: boolean;
}

/** Options of {@link L3Hub.addRoute}. */
export interface RouteOptions {
  /** Whether the route may send a packet back out the interface it came in on. Default false. */
  hairpin?: boolean;
}

/** One route, as listed by {@link L3Hub.routes}. */
export interface RouteInfo {
  /** The network, e.g. `'10.1.0.0/16'`. */
  prefix: string;
  /** Where it goes (the hub itself for its uplink). */
  device: L3Device;
  hairpin: boolean;
}

/**
 * A device with more than one address (e.g. a dual-stack host). {@link L3Hub.attach} and
 * {@link L3Hub.connectL3} route every address it lists instead of just `addr()`.
 */
export interface MultiAddressDevice extends L3Device {
  /** All addresses of the device, with their prefix lengths. */
  addresses(): Prefix[];
}

/** The addresses of `dev`: `addresses()` when the device has it, else `addr()` (if any). */
export function addressesOf(dev: L3Device): Prefix[] {
  const m = (dev as Partial<MultiAddressDevice>).addresses;
  if (typeof m === 'function') return m.call(dev);
  const a = dev.addr();
  return a ? [a] : [];
}

/** Default ICMP error rate limit of a hub. */
export const HUB_DEFAULT_ICMP_RATE_LIMIT = DEFAULT_ICMP_RATE_LIMIT;

/** IPv4 masks by prefix length, as signed int32. */
const MASK4 = new Int32Array(33);
for (let l = 1; l <= 32; l++) MASK4[l] = l === 32 ? -1 : ~(0xffffffff >>> l);
/** IPv6 masks by prefix length: 4 signed int32 words per length. */
const MASK6 = new Int32Array(129 * 4);
for (let l = 0; l <= 128; l++)
  for (let w = 0; w < 4; w++) {
    const bits = Math.max(0, Math.min(32, l - w * 32));
    MASK6[l * 4 + w] = bits === 0 ? 0 : bits === 32 ? -1 : ~(0xffffffff >>> bits);
  }

function rd32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

function hash6(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x3c6ef372, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ w1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w3, 0x27d4eb2f);
  return (h ^ (h >>> 15)) | 0;
}

const BLOOM6_BITS = 1 << 17;
const BLOOM6_WORDS = BLOOM6_BITS >>> 5;

/** Bit of the IPv6 route Bloom filter for a route hash at prefix length `len`. */
function bloomBit(h: number, len: number): number {
  return (h ^ Math.imul(len + 1, 0x01000193)) & (BLOOM6_BITS - 1);
}

class Port {
  /** The handler set on the attached device (created once, not per packet). */
  receive: PacketHandler = discard;
  readonly routeKeys = new Set<string>();
  constructor(
    readonly dev: L3Device,
    readonly deliver: PacketHandler,
  ) {}
}

class Route {
  constructor(
    readonly key: string,
    readonly prefix: Prefix,
    readonly port: Port,
    public hairpin: boolean,
    /** IPv4: the masked network as int32; IPv6: unused. */
    readonly net4: number,
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
  ) {}
}

/**
 * A router device. Attach devices, give it routes, and it forwards between them.
 *
 * ```ts
 * const hub = new L3Hub({ addr4: '10.0.0.254', addr6: '2001:db8::fe' });
 * hub.connectL3(hostA);                  // routes hostA's network(s) to hostA
 * hub.attach(nat.outside(), { routes: ['0.0.0.0/0'] });
 * ```
 */
export class L3Hub implements L3Device, L3Connector {
  /** Counters by outcome and drop reason. */
  readonly stats: HubStats = {
    received: 0,
    forwarded: 0,
    local: 0,
    malformed: 0,
    badChecksum: 0,
    martian: 0,
    noRoute: 0,
    ttlExceeded: 0,
    sameInterface: 0,
    closed: 0,
    icmpSent: 0,
    icmpSuppressed: 0,
    icmpRateLimited: 0,
  };

  private readonly clock: Clock;
  private readonly ports = new Map<L3Device, Port>();
  private readonly uplink: Port;
  private uplinkHandler: PacketHandler = discard;
  private closed = false;

  private own4: Prefix | undefined;
  private own4n = 0;
  private own4Text = '';
  private own6: Prefix | undefined;
  private own6Text = '';
  private own6w = new Int32Array(4);

  private readonly routesByKey = new Map<string, Route>();
  /** IPv4 prefix lengths present, longest first. */
  private lens4: number[] = [];
  private readonly table4: (Map<number, Route> | undefined)[] = new Array(33).fill(undefined);
  /** IPv6 prefix lengths present, longest first. */
  private lens6: number[] = [];
  private readonly table6: (Map<number, Route[]> | undefined)[] = new Array(129).fill(undefined);
  /**
   * A one-hash Bloom filter over (prefix length, masked address) of every IPv6 route: a probe
   * whose bit is clear skips the `Map` lookup. Most probes of a longest-first search miss.
   */
  private readonly bloom6 = new Int32Array(BLOOM6_WORDS);
  private bloomDirty = false;

  private readonly icmpBucket: TokenBucket;

  private readonly v6 = Ipv6Packet.empty();
  private readonly chain = new Ipv6HeaderChain();

  constructor(opts: L3HubOptions = {}) {
    this.clock = opts.clock ?? systemClock();
    if (opts.addr4 !== undefined) this.setAddr(parseOwn(opts.addr4, 4, 'addr4'));
    if (opts.addr6 !== undefined) this.setAddr(parseOwn(opts.addr6, 6, 'addr6'));
    this.icmpBucket = new TokenBucket(
      opts.icmpRateLimit === undefined ? DEFAULT_ICMP_RATE_LIMIT : opts.icmpRateLimit,
      this.clock,
      'icmpRateLimit',
    );
    this.uplink = this.newPort(this, (p) => this.uplinkHandler(p));
  }

  // ---------------------------------------------------------------- L3Device (the uplink)

  /** Sets where packets routed to the hub itself (its uplink) go. */
  setHandler(handler: PacketHandler): void {
    this.uplinkHandler = handler;
  }

  /** Routes `pkt` as if it arrived on the hub's uplink. Never throws for packet content. */
  send(pkt: Uint8Array): void {
    this.ingress(this.uplink, pkt);
  }

  /** The hub's IPv4 address if it has one, else its IPv6 address. */
  addr(): Prefix | undefined {
    return this.own4 ?? this.own6;
  }

  /** The hub's addresses (IPv4 and/or IPv6). */
  addresses(): Prefix[] {
    const r: Prefix[] = [];
    if (this.own4) r.push(this.own4);
    if (this.own6) r.push(this.own6);
    return r;
  }

  /** Sets the hub's IPv4 or IPv6 address (by the prefix's family). */
  setAddr(prefix: Prefix): void {
    if (prefix.version === 4) {
      this.own4 = prefix;
      this.own4n = rd32(prefix.ip, 0);
      this.own4Text = prefix.address();
    } else {
      this.own6 = prefix;
      for (let i = 0; i < 4; i++) this.own6w[i] = rd32(prefix.ip, i * 4);
      this.own6Text = prefix.address();
    }
  }

  /** Detaches every device and drops all routes; packets sent afterwards are dropped and counted. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const port of [...this.ports.values()]) this.detachPort(port);
    for (const r of [...this.routesByKey.values()]) this.deleteRoute(r);
    this.uplinkHandler = discard;
  }

  // ---------------------------------------------------------------- attaching and routes

  /**
   * Attaches `dev` (sets its handler to the hub) and routes `opts.routes` to it (default: the
   * networks of its addresses). Returns a function that detaches it and removes its routes.
   * Throws {@link ConfigError} (`ERR_ALREADY_ATTACHED`, `ERR_SELF_ATTACH`, `ERR_BAD_PREFIX`,
   * `ERR_ROUTE_EXISTS`) or {@link ClosedError}.
   */
  attach(dev: L3Device, opts: AttachOptions = {}): () => void {
    if (this.closed) throw new ClosedError('L3Hub');
    if (dev === this) throw new ConfigError('ERR_SELF_ATTACH', 'a hub cannot be attached to itself');
    if (this.ports.has(dev)) throw new ConfigError('ERR_ALREADY_ATTACHED', 'device is already attached');
    const prefixes = opts.routes ? opts.routes.map(parseRoute) : addressesOf(dev).map((p) => p.network());
    const hairpin = opts.hairpin ?? false;
    // Check every route before changing anything, so a failing attach leaves no trace.
    const seen = new Set<string>();
    for (const p of prefixes) {
      const key = p.toString();
      const r = this.routesByKey.get(key);
      if (r || seen.has(key))
        throw new ConfigError(
          'ERR_ROUTE_EXISTS',
          `route ${key} already exists; attach with explicit routes (e.g. a host route /${p.ip.length * 8})`,
        );
      seen.add(key);
    }
    const port = this.newPort(dev, (p) => dev.send(p));
    this.ports.set(dev, port);
    for (const p of prefixes) this.insertRoute(p, port, hairpin);
    dev.setHandler(port.receive);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (this.ports.get(dev) === port) this.detachPort(port);
    };
  }

  /** {@link L3Connector}: attaches `dev` with routes to its own networks. Same as `attach(dev)`. */
  connectL3(dev: L3Device): () => void {
    return this.attach(dev);
  }

  /** Detaches `dev` (if attached): removes its routes and resets its handler. Returns whether it was. */
  detach(dev: L3Device): boolean {
    const port = this.ports.get(dev);
    if (!port) return false;
    this.detachPort(port);
    return true;
  }

  /**
   * Routes `prefix` (`'10.1.0.0/16'`, `'::/0'`, host bits ignored) to `dev`, which must be
   * attached, or be the hub itself (its uplink). Re-adding an existing route to the same device
   * updates its options. Throws {@link ConfigError}: `ERR_BAD_PREFIX`, `ERR_NOT_ATTACHED`,
   * `ERR_ROUTE_EXISTS` (the prefix goes to another device; remove it first).
   */
  addRoute(prefix: string | Prefix, dev: L3Device, opts: RouteOptions = {}): void {
    if (this.closed) throw new ClosedError('L3Hub');
    const p = typeof prefix === 'string' ? parseRoute(prefix) : prefix.network();
    const port = dev === this ? this.uplink : this.ports.get(dev);
    if (!port) throw new ConfigError('ERR_NOT_ATTACHED', 'addRoute: the device is not attached to this hub');
    const existing = this.routesByKey.get(p.toString());
    if (existing) {
      if (existing.port !== port)
        throw new ConfigError('ERR_ROUTE_EXISTS', `route ${p} already goes to another device`);
      existing.hairpin = opts.hairpin ?? false;
      return;
    }
    this.insertRoute(p, port, opts.hairpin ?? false);
  }

  /** Removes the route for exactly `prefix`. Returns whether there was one. */
  removeRoute(prefix: string | Prefix): boolean {
    const p = typeof prefix === 'string' ? parseRoute(prefix) : prefix.network();
    const r = this.routesByKey.get(p.toString());
    if (!r) return false;
    this.deleteRoute(r);
    return true;
  }

  /** Every route, longest prefixes first within each family (IPv4 first). */
  routes(): RouteInfo[] {
    return [...this.routesByKey.values()]
      .sort((a, b) => a.prefix.version - b.prefix.version || b.prefix.bits - a.prefix.bits)
      .map((r) => ({ prefix: r.key, device: r.port.dev, hairpin: r.hairpin }));
  }

  /**
   * The device the hub would forward a packet for `address` to (longest-prefix match), or
   * `undefined`. For inspection and tests; the packet path uses the same tables.
   */
  lookup(address: string): L3Device | undefined {
    const p = address.includes('/') ? null : Prefix.tryParse(address);
    if (!p) throw new ConfigError('ERR_BAD_ADDRESS', `not an IP address: ${JSON.stringify(address)}`);
    const r = p.version === 4 ? this.lookup4(rd32(p.ip, 0)) : this.lookup6(p.ip, 0);
    return r?.port.dev;
  }

  private newPort(dev: L3Device, deliver: PacketHandler): Port {
    const port = new Port(dev, deliver);
    port.receive = (pkt) => this.ingress(port, pkt);
    return port;
  }

  private insertRoute(p: Prefix, port: Port, hairpin: boolean): void {
    const key = p.toString();
    if (p.version === 4) {
      const net = rd32(p.ip, 0) & MASK4[p.bits];
      const r = new Route(key, p, port, hairpin, net, 0, 0, 0, 0);
      let m = this.table4[p.bits];
      if (!m) {
        m = new Map();
        this.table4[p.bits] = m;
        this.lens4 = [...this.lens4, p.bits].sort((a, b) => b - a);
      }
      m.set(net, r);
      this.routesByKey.set(key, r);
    } else {
      const l = p.bits * 4;
      const w0 = rd32(p.ip, 0) & MASK6[l];
      const w1 = rd32(p.ip, 4) & MASK6[l + 1];
      const w2 = rd32(p.ip, 8) & MASK6[l + 2];
      const w3 = rd32(p.ip, 12) & MASK6[l + 3];
      const r = new Route(key, p, port, hairpin, 0, w0, w1, w2, w3);
      let m = this.table6[p.bits];
      if (!m) {
        m = new Map();
        this.table6[p.bits] = m;
        this.lens6 = [...this.lens6, p.bits].sort((a, b) => b - a);
      }
      const h = hash6(w0, w1, w2, w3);
      const bucket = m.get(h);
      if (bucket) bucket.push(r);
      else m.set(h, [r]);
      const bit = bloomBit(h, p.bits);
      this.bloom6[bit >>> 5] |= 1 << (bit & 31);
      this.routesByKey.set(key, r);
    }
    port.routeKeys.add(key);
  }

  private deleteRoute(r: Route): void {
    this.routesByKey.delete(r.key);
    r.port.routeKeys.delete(r.key);
    const bits = r.prefix.bits;
    if (r.prefix.version === 4) {
      const m = this.table4[bits]!;
      m.delete(r.net4);
      if (m.size === 0) {
        this.table4[bits] = undefined;
        this.lens4 = this.lens4.filter((x) => x !== bits);
      }
    } else {
      const m = this.table6[bits]!;
      const h = hash6(r.w0, r.w1, r.w2, r.w3);
      const bucket = m.get(h)!.filter((x) => x !== r);
      if (bucket.length) m.set(h, bucket);
      else m.delete(h);
      if (m.size === 0) {
        this.table6[bits] = undefined;
        this.lens6 = this.lens6.filter((x) => x !== bits);
      }
      this.bloomDirty = true; // rebuilt on the next lookup, so removing many routes stays linear
    }
  }

  private rebuildBloom(): void {
    this.bloom6.fill(0);
    for (const x of this.routesByKey.values()) {
      if (x.prefix.version !== 6) continue;
      const bit = bloomBit(hash6(x.w0, x.w1, x.w2, x.w3), x.prefix.bits);
      this.bloom6[bit >>> 5] |= 1 << (bit & 31);
    }
    this.bloomDirty = false;
  }

  private detachPort(port: Port): void {
    for (const key of [...port.routeKeys]) this.deleteRoute(this.routesByKey.get(key)!);
    this.ports.delete(port.dev);
    port.dev.setHandler(discard);
  }

  private lookup4(dst: number): Route | undefined {
    const lens = this.lens4;
    for (let i = 0; i < lens.length; i++) {
      const l = lens[i];
      const r = this.table4[l]!.get(dst & MASK4[l]);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  private lookup6(b: Uint8Array, o: number): Route | undefined {
    const d0 = rd32(b, o);
    const d1 = rd32(b, o + 4);
    const d2 = rd32(b, o + 8);
    const d3 = rd32(b, o + 12);
    if (this.bloomDirty) this.rebuildBloom();
    const lens = this.lens6;
    const bloom = this.bloom6;
    for (let i = 0; i < lens.length; i++) {
      const l = lens[i];
      const k = l * 4;
      const w0 = d0 & MASK6[k];
      const w1 = d1 & MASK6[k + 1];
      const w2 = d2 & MASK6[k + 2];
      const w3 = d3 & MASK6[k + 3];
      const h = hash6(w0, w1, w2, w3);
      const bit = bloomBit(h, l);
      if ((bloom[bit >>> 5] & (1 << (bit & 31))) === 0) continue;
      const bucket = this.table6[l]!.get(h);
      if (bucket === undefined) continue;
      for (let j = 0; j < bucket.length; j++) {
        const r = bucket[j];
        if (r.w0 === w0 && r.w1 === w1 && r.w2 === w2 && r.w3 === w3) return r;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- the packet path

  /** A packet emitted by the device on `port`. */
  private ingress(port: Port, pkt: Uint8Array): void {
    const s = this.stats;
    s.received++;
    if (this.closed) {
      s.closed++;
      return;
    }
    if (pkt.length === 0) {
      s.malformed++;
      return;
    }
    const v = pkt[0] >> 4;
    if (v === 4) this.route4(port, pkt);
    else if (v === 6) this.route6(port, pkt);
    else s.malformed++;
  }

  private route4(port: Port, pkt: Uint8Array): void {
    const s = this.stats;
    const n = pkt.length;
    if (n < 20) {
      s.malformed++;
      return;
    }
    const ihl = (pkt[0] & 0x0f) << 2;
    const total = (pkt[2] << 8) | pkt[3];
    if (ihl < 20 || total < ihl || total > n) {
      s.malformed++;
      return;
    }
    if (checksum(pkt, 0, ihl) !== 0) {
      s.badChecksum++;
      return;
    }
    if (total < n) pkt = pkt.subarray(0, total); // strip link padding (rare)
    const src = rd32(pkt, 12);
    const dst = rd32(pkt, 16);
    if (isMartian4(src) || dst === -1 || dst >>> 28 === 0xe || dst === 0) {
      s.martian++;
      return;
    }
    if (this.own4 !== undefined && dst === this.own4n) {
      this.local4(port, pkt, ihl, total);
      return;
    }
    const r = this.lookup4(dst);
    if (r === undefined) {
      s.noRoute++;
      this.error4(port, pkt, 3, 0);
      return;
    }
    const out = r.port;
    if (out === port && !r.hairpin) {
      s.sameInterface++;
      return;
    }
    const ttl = pkt[8];
    if (ttl <= 1) {
      s.ttlExceeded++;
      this.error4(port, pkt, 11, 0);
      return;
    }
    const oldWord = (ttl << 8) | pkt[9];
    pkt[8] = ttl - 1;
    writeChecksum(pkt, 10, updateChecksum16(readChecksum(pkt, 10), oldWord, oldWord - 0x100));
    s.forwarded++;
    out.deliver(pkt);
  }

  private route6(port: Port, pkt: Uint8Array): void {
    const s = this.stats;
    if (!this.v6.rebind(pkt)) {
      s.malformed++;
      return;
    }
    const end = this.v6.end;
    if (end < pkt.length) pkt = pkt.subarray(0, end);
    if (isMartian6(pkt, 8) || isMartian6(pkt, 24) || isUnspecified6(pkt, 8) || isUnspecified6(pkt, 24)) {
      s.martian++;
      return;
    }
    const o = this.own6w;
    if (
      this.own6 !== undefined &&
      rd32(pkt, 24) === o[0] &&
      rd32(pkt, 28) === o[1] &&
      rd32(pkt, 32) === o[2] &&
      rd32(pkt, 36) === o[3]
    ) {
      this.local6(port, pkt);
      return;
    }
    const r = this.lookup6(pkt, 24);
    if (r === undefined) {
      s.noRoute++;
      this.error6(port, pkt, 1, 0);
      return;
    }
    const out = r.port;
    if (out === port && !r.hairpin) {
      s.sameInterface++;
      return;
    }
    const hl = pkt[7];
    if (hl <= 1) {
      s.ttlExceeded++;
      this.error6(port, pkt, 3, 0);
      return;
    }
    pkt[7] = hl - 1;
    s.forwarded++;
    out.deliver(pkt);
  }

  // ---------------------------------------------------------------- packets for the hub itself

  private local4(port: Port, pkt: Uint8Array, ihl: number, total: number): void {
    const s = this.stats;
    s.local++;
    const frag = ((pkt[6] << 8) | pkt[7]) & 0x3fff;
    if (frag !== 0) return; // no reassembly in the hub
    const proto = pkt[9];
    if (proto === 1) {
      if (total - ihl < 8) {
        s.malformed++;
        return;
      }
      if (checksum(pkt, ihl, total - ihl) !== 0) {
        s.badChecksum++;
        return;
      }
      if (pkt[ihl] !== 8 || pkt[ihl + 1] !== 0) return; // only echo requests are answered
      const reply = new Uint8Array(20 + total - ihl);
      reply.set(pkt.subarray(ihl, total), 20);
      reply[0] = 0x45;
      reply[2] = reply.length >> 8;
      reply[3] = reply.length & 0xff;
      reply[8] = 64;
      reply[9] = 1;
      writeIpv4(reply, 12, this.own4n);
      reply.set(pkt.subarray(12, 16), 16);
      writeChecksum(reply, 10, checksum(reply, 0, 20));
      reply[20] = 0; // echo reply
      writeChecksum(reply, 22, 0);
      writeChecksum(reply, 22, checksum(reply, 20, reply.length - 20));
      this.emitLocal(port, reply, rd32(pkt, 12), null);
    } else if (proto === 17) {
      this.error4(port, pkt, 3, 3);
    } else {
      this.error4(port, pkt, 3, 2);
    }
  }

  private local6(port: Port, pkt: Uint8Array): void {
    const s = this.stats;
    s.local++;
    const c = this.chain;
    if (!c.parse(this.v6)) {
      s.malformed++;
      return;
    }
    if (!c.upperPresent || c.isFragment) return; // no reassembly in the hub
    const proto = c.upperProtocol;
    if (proto === 58) {
      const off = c.upperOffset;
      const len = c.upperLength;
      if (len < 8) {
        s.malformed++;
        return;
      }
      if (checksumWithPseudo6(pkt, off, len) !== 0) {
        s.badChecksum++;
        return;
      }
      if (pkt[off] !== 128 || pkt[off + 1] !== 0) return;
      const reply = new Uint8Array(40 + len);
      reply[0] = 0x60;
      reply[4] = len >> 8;
      reply[5] = len & 0xff;
      reply[6] = 58;
      reply[7] = 64;
      reply.set(this.own6!.ip, 8);
      reply.set(pkt.subarray(8, 24), 24);
      reply.set(pkt.subarray(off, off + len), 40);
      reply[40] = 129;
      writeChecksum(reply, 42, 0);
      writeChecksum(reply, 42, checksumWithPseudo6(reply, 40, len));
      this.emitLocal(port, reply, 0, reply.subarray(24, 40));
    } else if (proto === 17) {
      this.error6(port, pkt, 1, 4);
    } else {
      // Unrecognized next header: Parameter Problem code 1, pointer to the field (RFC 8200 §4).
      this.error6(port, pkt, 4, 1, c.nextHeaderFieldOffset);
    }
  }

  // ---------------------------------------------------------------- ICMP errors

  /** Sends an ICMPv4 error about `pkt` (which arrived on `port`) when the rules allow. */
  private error4(port: Port, pkt: Uint8Array, type: number, code: number): void {
    const s = this.stats;
    const out = this.own4Text === '' ? null : buildIcmpv4Error(pkt, { src: this.own4Text, type, code });
    if (out === null) {
      s.icmpSuppressed++;
      return;
    }
    if (!this.icmpBucket.take()) {
      s.icmpRateLimited++;
      return;
    }
    this.emitLocal(port, out, rd32(pkt, 12), null);
  }

  /** Sends an ICMPv6 error about `pkt` (which arrived on `port`) when the rules allow. */
  private error6(port: Port, pkt: Uint8Array, type: number, code: number, pointer = 0): void {
    const s = this.stats;
    const out =
      this.own6Text === '' ? null : buildIcmpv6Error(pkt, { src: this.own6Text, type, code, pointer });
    if (out === null) {
      s.icmpSuppressed++;
      return;
    }
    if (!this.icmpBucket.take()) {
      s.icmpRateLimited++;
      return;
    }
    this.emitLocal(port, out, 0, out.subarray(24, 40));
  }

  /**
   * Sends a packet the hub generated towards `dst4` (IPv4) or `dst6` (IPv6): by route when
   * there is one, else back out the interface the triggering packet came in on.
   */
  private emitLocal(port: Port, out: Uint8Array, dst4: number, dst6: Uint8Array | null): void {
    const r = dst6 === null ? this.lookup4(dst4) : this.lookup6(dst6, 0);
    this.stats.icmpSent++;
    (r ? r.port : port).deliver(out);
  }

  /** Text of the hub's addresses, for logs. */
  toString(): string {
    const parts = [];
    if (this.own4) parts.push(formatIpv4(this.own4n));
    if (this.own6) parts.push(formatIpv6(this.own6.ip, 0));
    return `L3Hub(${parts.join(', ')})`;
  }
}

function parseOwn(text: string, version: 4 | 6, what: string): Prefix {
  const p = Prefix.tryParse(text);
  if (!p || p.version !== version)
    throw new ConfigError(
      'ERR_BAD_ADDRESS',
      `${what} must be an IPv${version} address, got ${JSON.stringify(text)}`,
    );
  return p;
}

function parseRoute(text: string): Prefix {
  const p = Prefix.tryParse(text);
  if (!p || !text.includes('/'))
    throw new ConfigError('ERR_BAD_PREFIX', `not a prefix (address/length): ${JSON.stringify(text)}`);
  return p.network();
}

/** Sources a router must not forward: 0/8, 127/8, multicast, class E, limited broadcast. */
function isMartian4(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 224;
}

/** Multicast (ff00::/8), loopback (::1) and link-local (fe80::/10) IPv6 addresses are not routed. */
function isMartian6(b: Uint8Array, o: number): boolean {
  if (b[o] === 0xff) return true;
  if (b[o] === 0xfe && (b[o + 1] & 0xc0) === 0x80) return true;
  for (let i = 0; i < 15; i++) if (b[o + i] !== 0) return false;
  return b[o + 15] === 1;
}

/** `::`: never forwarded as a source (RFC 4291 §2.5.2), never a destination. */
function isUnspecified6(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (b[o + i] !== 0) return false;
  return true;
}

/** Complemented checksum of the ICMPv6 message at `off` (IPv6 header at 0) with its pseudo-header. */
function checksumWithPseudo6(b: Uint8Array, off: number, len: number): number {
  return finishChecksum(onesSum(b, off, len, pseudoHeaderSum6(b, 0, 58, len)));
}
