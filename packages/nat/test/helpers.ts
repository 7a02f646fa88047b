/**
 * Test harness for the NAT44 conformance suite: a packet builder and parser that read bytes
 * directly (independent of the wire views), a ManualClock-driven rig that captures everything
 * the NAT emits (copies, each verified with the independent checksum oracle), test tenants, and
 * a STUN-like prober that classifies mapping and filtering behaviour from the outside.
 */
import assert from 'node:assert/strict';
import { type L3Device, ManualClock, type PacketHandler, type PipeEnd, pipeL3 } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, checksum, finishChecksum, onesSum, type Prefix } from '@l3kit/wire';
import { Nat, type NatOptions } from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// Addresses used throughout the suite.

/** The NAT's inside interface address and network. */
export const NAT_INSIDE = '192.168.1.1/24';
/** The NAT's outside interface address and network. */
export const NAT_OUTSIDE = '203.0.113.1/24';
/** The NAT's external (outside) address. */
export const EXT = '203.0.113.1';
/** Inside host 1. */
export const H1 = '192.168.1.10';
/** Inside host 2. */
export const H2 = '192.168.1.11';
/** Inside host 3. */
export const H3 = '192.168.1.12';
/** Remote host 1 on the outside (off-link, reached through the outside interface). */
export const R1 = '198.51.100.1';
/** Remote host 2 on the outside. */
export const R2 = '198.51.100.2';
/** A router on the outside that sends ICMP errors. */
export const ROUTER = '198.51.100.254';

/** TCP FIN flag (RFC 9293). */
export const FIN = 0x01;
/** TCP SYN flag. */
export const SYN = 0x02;
/** TCP RST flag. */
export const RST = 0x04;
/** TCP PSH flag. */
export const PSH = 0x08;
/** TCP ACK flag. */
export const ACK = 0x10;

/** IP protocol number of TCP. */
export const TCP = 6;
/** IP protocol number of UDP. */
export const UDP = 17;
/** IP protocol number of ICMP. */
export const ICMP = 1;
/** IP protocol number of GRE. */
export const GRE = 47;

// ---------------------------------------------------------------------------------------------
// Packet builder (bytes written by hand; IPv4 header through emitIpv4, checksums recomputed).

/** A TCP header to build. `flags` is a bit set or a string of `FSRPAU` letters. */
export interface TcpSpec {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags: number | string;
  window?: number;
  /** Raw TCP option bytes (padded to 4). */
  options?: Uint8Array;
}
/** A UDP header to build. `zeroChecksum` sends checksum 0 ("none", legal for UDP/IPv4). */
export interface UdpSpec {
  srcPort: number;
  dstPort: number;
  zeroChecksum?: boolean;
}
/** An ICMP message to build: echo (identifier/sequence) or any type with a raw `rest` word. */
export interface IcmpSpec {
  type: number;
  code: number;
  identifier?: number;
  sequence?: number;
  /** The 32-bit "rest of header" word, used when identifier/sequence are not given. */
  rest?: number;
}
/** Enhanced GRE (RFC 2637, version 1) as PPTP uses it. */
export interface GreSpec {
  callId: number;
  seq?: number;
  ack?: number;
}
/** A whole packet to build. */
export interface PacketSpec {
  src: string;
  dst: string;
  ttl?: number;
  identification?: number;
  dontFragment?: boolean;
  options?: Uint8Array;
  tcp?: TcpSpec;
  udp?: UdpSpec;
  icmp?: IcmpSpec;
  gre?: GreSpec;
  /** A raw IP protocol number: the payload follows the IP header as is. */
  protocol?: number;
  payload?: Uint8Array | string;
}

function bytesOf(p: Uint8Array | string | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  return typeof p === 'string' ? new TextEncoder().encode(p) : p;
}

/** Parses `"SA"` style flag strings (F S R P A U). */
export function tcpFlags(f: number | string): number {
  if (typeof f === 'number') return f;
  let v = 0;
  for (const c of f) {
    const i = 'FSRPAU'.indexOf(c);
    if (i < 0) throw new Error(`bad TCP flag letter ${c}`);
    v |= 1 << i;
  }
  return v;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
/** Reads a big-endian 16-bit value. */
export function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
/** Reads a big-endian 32-bit value. */
export function get32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/**
 * Builds an IPv4 packet with correct IP and transport checksums through `buildPacket` from
 * `@l3kit/wire`, and checks the result with the independent oracle (so a builder bug cannot
 * masquerade as a NAT bug).
 */
export function packet(spec: PacketSpec): Uint8Array {
  const ip = {
    src: spec.src,
    dst: spec.dst,
    ttl: spec.ttl ?? 64,
    identification: spec.identification ?? 0x1234,
    dontFragment: spec.dontFragment ?? false,
    options: spec.options,
    payload: bytesOf(spec.payload),
  };
  let out: Uint8Array;
  if (spec.tcp) {
    const t = spec.tcp;
    out = buildPacket({
      ...ip,
      tcp: {
        srcPort: t.srcPort,
        dstPort: t.dstPort,
        seq: t.seq ?? 1000,
        ack: t.ack ?? 0,
        flags: tcpFlags(t.flags),
        window: t.window ?? 65535,
        options: t.options,
      },
    });
  } else if (spec.udp) {
    const u = spec.udp;
    out = buildPacket({
      ...ip,
      udp: { srcPort: u.srcPort, dstPort: u.dstPort, checksum: u.zeroChecksum ? 'none' : 'compute' },
    });
  } else if (spec.icmp) {
    const m = spec.icmp;
    const icmp =
      m.identifier !== undefined || m.sequence !== undefined
        ? { type: m.type, code: m.code, identifier: m.identifier ?? 0, sequence: m.sequence ?? 0 }
        : { type: m.type, code: m.code, restOfHeader: m.rest ?? 0 };
    out = buildPacket({ ...ip, icmp });
  } else if (spec.gre) {
    const g = spec.gre;
    out = buildPacket({
      ...ip,
      gre: { version: 1, protocolType: 0x880b, callId: g.callId, sequence: g.seq, ack: g.ack },
    });
  } else if (spec.protocol !== undefined) {
    out = buildPacket({ ...ip, protocol: spec.protocol });
  } else {
    throw new Error('packet(): give tcp, udp, icmp, gre or protocol');
  }
  assertChecksums(out, 'test input');
  return out;
}

/** A UDP packet `src:sport → dst:dport`. */
export function udp(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  payload: string | Uint8Array = 'x',
): Uint8Array {
  return packet({ src, dst, udp: { srcPort: sport, dstPort: dport }, payload });
}

/** A TCP segment `src:sport → dst:dport`. */
export function tcp(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  flags: number | string,
  seq = 1000,
  ack = 0,
  payload: string | Uint8Array = '',
): Uint8Array {
  return packet({ src, dst, tcp: { srcPort: sport, dstPort: dport, flags, seq, ack }, payload });
}

/** An ICMP echo request (type 8) or reply (type 0). */
export function echo(src: string, dst: string, identifier: number, sequence = 1, reply = false): Uint8Array {
  return packet({
    src,
    dst,
    icmp: { type: reply ? 0 : 8, code: 0, identifier, sequence },
    payload: 'ping-data',
  });
}

/**
 * An ICMP error from `src` to `dst` quoting `original` (its IP header and `quoteLen` bytes of its
 * payload, default 8 as RFC 792 requires at least). `rest` is the 4-byte word after the checksum
 * (e.g. the next-hop MTU for 3/4). `extension` appends an RFC 4884 extension structure: the quote
 * is then zero-padded to 128 bytes and its length (in 32-bit words) goes in byte 5.
 */
export function icmpError(
  src: string,
  dst: string,
  type: number,
  code: number,
  original: Uint8Array,
  opts: { quoteLen?: number; rest?: number; extension?: Uint8Array; ttl?: number } = {},
): Uint8Array {
  const ihl = (original[0] & 0x0f) * 4;
  const total = get16(original, 2);
  const quoteEnd = Math.min(total, ihl + (opts.quoteLen ?? 8));
  let quote = original.slice(0, quoteEnd);
  let rest = opts.rest ?? 0;
  if (opts.extension) {
    const padded = new Uint8Array(128);
    padded.set(quote.subarray(0, 128));
    quote = new Uint8Array(128 + opts.extension.length);
    quote.set(padded, 0);
    quote.set(opts.extension, 128);
    rest = (rest & 0xff00ffff) | ((128 / 4) << 16);
  }
  return packet({ src, dst, ttl: opts.ttl, icmp: { type, code, rest }, payload: quote });
}

/** An RFC 4884 extension structure (version 2) with one object of `data` bytes, checksummed. */
export function icmpExtension(data: Uint8Array): Uint8Array {
  const objLen = 4 + data.length;
  const ext = new Uint8Array(4 + objLen);
  ext[0] = 0x20; // version 2
  put16(ext, 4, objLen);
  ext[6] = 1; // class MPLS label stack (any class will do)
  ext[7] = 1;
  ext.set(data, 8);
  put16(ext, 2, checksum(ext, 0, ext.length));
  return ext;
}

/** Recomputes the IPv4 header and transport checksums of `pkt` in place (for mutated packets). */
export function fixChecksums(pkt: Uint8Array): Uint8Array {
  if (pkt.length < 20 || pkt[0] >> 4 !== 4) return pkt;
  const ihl = (pkt[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > pkt.length) return pkt;
  pkt[10] = 0;
  pkt[11] = 0;
  put16(pkt, 10, checksum(pkt, 0, ihl));
  const total = get16(pkt, 2);
  if (total < ihl || total > pkt.length) return pkt;
  if ((get16(pkt, 6) & 0x3fff) !== 0) return pkt;
  const proto = pkt[9];
  const l4 = pkt.subarray(ihl, total);
  const s = get32(pkt, 12);
  const d = get32(pkt, 16);
  const ps = (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff) + proto + l4.length;
  if (proto === TCP && l4.length >= 20) {
    put16(l4, 16, 0);
    put16(l4, 16, finishChecksum(onesSum(l4, 0, l4.length, ps)));
  } else if (proto === UDP && l4.length >= 8) {
    put16(l4, 6, 0);
    let c = finishChecksum(onesSum(l4, 0, l4.length, ps));
    if (c === 0) c = 0xffff;
    put16(l4, 6, c);
  } else if (proto === ICMP && l4.length >= 8) {
    put16(l4, 2, 0);
    put16(l4, 2, checksum(l4, 0, l4.length));
  }
  return pkt;
}

// ---------------------------------------------------------------------------------------------
// Parser (reads bytes directly; tolerant of truncated embedded transport headers).

/** What the tests need to know about a packet. */
export interface Parsed {
  bytes: Uint8Array;
  src: string;
  dst: string;
  proto: number;
  ttl: number;
  ihl: number;
  identification: number;
  totalLength: number;
  /** TCP / UDP ports (undefined when absent or truncated). */
  srcPort?: number;
  dstPort?: number;
  /** TCP only. */
  flags?: number;
  seq?: number;
  ack?: number;
  /** ICMP only. */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  /** ICMP: the 32-bit word after the checksum. */
  icmpRest?: number;
  /** GRE (enhanced, v1): call ID. */
  callId?: number;
  /** Transport payload (TCP data, UDP data, ICMP data after the 8-byte header). */
  payload: Uint8Array;
  /** For ICMP errors: the quoted packet. */
  inner?: Parsed;
}

function formatIp(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** True for ICMPv4 error types (RFC 792 / 1812). */
export function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Parses an IPv4 packet (throws on a packet that is not IPv4: NAT output must be well formed). */
export function parse(pkt: Uint8Array, embedded = false): Parsed {
  assert.ok(pkt.length >= 20, `packet too short (${pkt.length})`);
  assert.equal(pkt[0] >> 4, 4, 'not IPv4');
  const ihl = (pkt[0] & 0x0f) * 4;
  const totalLength = get16(pkt, 2);
  const end = embedded ? pkt.length : totalLength;
  const p: Parsed = {
    bytes: pkt,
    src: formatIp(pkt, 12),
    dst: formatIp(pkt, 16),
    proto: pkt[9],
    ttl: pkt[8],
    ihl,
    identification: get16(pkt, 4),
    totalLength,
    payload: new Uint8Array(0),
  };
  const l4 = ihl;
  const avail = end - l4;
  if (p.proto === TCP || p.proto === UDP) {
    if (avail >= 4) {
      p.srcPort = get16(pkt, l4);
      p.dstPort = get16(pkt, l4 + 2);
    }
    if (p.proto === TCP && avail >= 20) {
      p.seq = get32(pkt, l4 + 4);
      p.ack = get32(pkt, l4 + 8);
      p.flags = pkt[l4 + 13];
      p.payload = pkt.subarray(l4 + (pkt[l4 + 12] >> 4) * 4, end);
    } else if (p.proto === TCP && avail >= 8) {
      p.seq = get32(pkt, l4 + 4);
    }
    if (p.proto === UDP && avail >= 8) p.payload = pkt.subarray(l4 + 8, end);
  } else if (p.proto === ICMP && avail >= 8) {
    p.icmpType = pkt[l4];
    p.icmpCode = pkt[l4 + 1];
    p.icmpRest = get32(pkt, l4 + 4);
    p.icmpId = get16(pkt, l4 + 4);
    p.icmpSeq = get16(pkt, l4 + 6);
    p.payload = pkt.subarray(l4 + 8, end);
    if (!embedded && isIcmpError(p.icmpType) && p.payload.length >= 20) {
      p.inner = parse(pkt.subarray(l4 + 8, end), true);
    }
  } else if (p.proto === GRE && avail >= 8) {
    p.callId = get16(pkt, l4 + 6);
    p.payload = pkt.subarray(l4, end);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Tenants.

/**
 * A tenant device for `nat.connectL3`: what the tenant "transmits" goes through {@link emit} into
 * the handler the NAT installed; what the NAT delivers arrives in `send` and is recorded.
 */
export class TestTenant implements L3Device {
  private handler: PacketHandler = () => {};
  private prefix: Prefix | undefined;
  /** Called for every packet the NAT delivers to this tenant (a copy). */
  onReceive: (pkt: Uint8Array) => void = () => {};
  closed = false;
  constructor(readonly name: string) {}
  setHandler(h: PacketHandler): void {
    this.handler = h;
  }
  send(pkt: Uint8Array): void {
    this.onReceive(pkt.slice());
  }
  addr(): Prefix | undefined {
    return this.prefix;
  }
  setAddr(p: Prefix): void {
    this.prefix = p;
  }
  close(): void {
    this.closed = true;
  }
  /** The tenant transmits `pkt` towards the NAT. */
  emit(pkt: Uint8Array): void {
    this.handler(pkt);
  }
}

// ---------------------------------------------------------------------------------------------
// The rig.

/** Where an emitted packet came out: the NAT's outside, its inside, or a tenant (by name). */
export type Side = string;

/** One packet the NAT emitted during a step. */
export interface Emitted {
  side: Side;
  pkt: Parsed;
}

/** What one step produced, by side. */
export interface StepResult {
  all: Emitted[];
  /** Packets emitted on the outside interface. */
  out: Parsed[];
  /** Packets emitted on the inside interface (`nat.inside()`'s handler). */
  in: Parsed[];
  /** Packets delivered to a tenant, by tenant name. */
  tenant(name: string): Parsed[];
}

/** Options for a rig: NAT options without the addresses and clock, which the rig supplies. */
export type RigOptions = Partial<NatOptions>;

/**
 * A NAT under test with a manual clock. Every packet the NAT emits is copied, checked with the
 * checksum oracle, parsed and logged with the side it came out of.
 */
export class Rig {
  readonly clock: ManualClock;
  readonly nat: Nat;
  readonly options: NatOptions;
  /** Every packet emitted so far. */
  readonly log: Emitted[] = [];
  readonly tenants = new Map<string, { host: PipeEnd; cleanup: () => void; id: number }>();
  private readonly bad: string[] = [];

  constructor(options: RigOptions = {}, start = 1_000_000, make?: (o: NatOptions) => Nat) {
    this.clock = new ManualClock(start);
    this.options = { inside: NAT_INSIDE, outside: NAT_OUTSIDE, clock: this.clock, ...options } as NatOptions;
    this.nat = make ? make(this.options) : new Nat(this.options);
    this.attach(this.nat);
  }

  /** A rig around `Nat.restore(snapshot, options)` with a fresh clock starting at `start`. */
  static restored(
    snapshot: Parameters<typeof Nat.restore>[0],
    options: RigOptions = {},
    start = 5_000_000,
  ): Rig {
    return new Rig(options, start, (o) => Nat.restore(snapshot, o));
  }

  /** Installs capture handlers on a NAT's two interfaces (used again after a restore). */
  attach(nat: Nat): void {
    nat.outside().setHandler((p) => this.capture('outside', p));
    nat.inside().setHandler((p) => this.capture('inside', p));
  }

  private capture(side: Side, raw: Uint8Array): void {
    const copy = raw.slice();
    try {
      assertChecksums(copy, `packet emitted on ${side}`);
    } catch (e) {
      this.bad.push((e as Error).message);
    }
    let parsed: Parsed;
    try {
      parsed = parse(copy);
    } catch (e) {
      this.bad.push(`${side}: unparseable packet (${(e as Error).message})`);
      return;
    }
    this.log.push({ side, pkt: parsed });
  }

  /** Runs `fn` and returns the packets emitted meanwhile; fails on any bad checksum. */
  step(fn: () => void): StepResult {
    const start = this.log.length;
    fn();
    const all = this.log.slice(start);
    if (this.bad.length > 0) {
      const msg = this.bad.join('; ');
      this.bad.length = 0;
      assert.fail(`the NAT emitted a bad packet: ${msg}`);
    }
    return {
      all,
      out: all.filter((e) => e.side === 'outside').map((e) => e.pkt),
      in: all.filter((e) => e.side === 'inside').map((e) => e.pkt),
      tenant: (name: string) => all.filter((e) => e.side === name).map((e) => e.pkt),
    };
  }

  /** Sends a copy of `pkt` into the NAT's inside interface. */
  fromInside(pkt: Uint8Array): StepResult {
    return this.step(() => this.nat.inside().send(pkt.slice()));
  }

  /** Sends a copy of `pkt` into the NAT's outside interface. */
  fromOutside(pkt: Uint8Array): StepResult {
    return this.step(() => this.nat.outside().send(pkt.slice()));
  }

  /**
   * Attaches a tenant under `name` (with tenant id `id` when given) through a `pipeL3` from
   * `@l3kit/core`: one end goes to `nat.connectL3`, the other is the tenant host's interface.
   * Returns the host end.
   */
  addTenant(name: string, id?: number): PipeEnd {
    const [natEnd, hostEnd] = pipeL3();
    hostEnd.setHandler((p) => this.capture(name, p));
    const cleanup =
      id === undefined ? this.nat.connectL3(natEnd) : this.nat.connectL3(natEnd, { tenant: id });
    this.tenants.set(name, { host: hostEnd, cleanup, id: cleanup.tenant });
    return hostEnd;
  }

  /** The NAT's tenant number of tenant `name`. */
  tenantId(name: string): number {
    const t = this.tenants.get(name);
    if (!t) throw new Error(`no tenant ${name}`);
    return t.id;
  }

  /** Sends a copy of `pkt` from tenant `name` into the NAT. */
  fromTenant(name: string, pkt: Uint8Array): StepResult {
    const t = this.tenants.get(name);
    if (!t) throw new Error(`no tenant ${name}`);
    return this.step(() => t.host.send(pkt.slice()));
  }

  /** Detaches tenant `name` (its cleanup function). */
  removeTenant(name: string): void {
    const t = this.tenants.get(name);
    if (!t) throw new Error(`no tenant ${name}`);
    t.cleanup();
    this.tenants.delete(name);
  }

  /** Advances the clock by `ms` and runs `maintain()`; returns what it emitted. */
  advance(ms: number): StepResult {
    return this.step(() => {
      this.clock.advance(ms);
      this.nat.maintain();
    });
  }

  /** Seconds helper: {@link advance} by `s` seconds. */
  advanceSec(s: number): StepResult {
    return this.advance(s * 1000);
  }

  /**
   * Sends UDP from an inside host and returns the translated packet (asserting exactly one
   * packet left on the outside).
   */
  udpOut(src: string, sport: number, dst: string, dport: number, payload = 'x'): Parsed {
    const r = this.fromInside(udp(src, sport, dst, dport, payload));
    assert.equal(
      r.out.length,
      1,
      `expected one packet on the outside for ${src}:${sport} -> ${dst}:${dport}`,
    );
    return r.out[0];
  }

  /** Sends UDP from a remote to the NAT's external address and returns what reached the inside. */
  udpIn(src: string, sport: number, extPort: number, payload = 'y'): Parsed[] {
    return this.fromOutside(udp(src, sport, EXT, extPort, payload)).in;
  }

  /** Closes the NAT (stops its timer). */
  close(): void {
    this.nat.close();
  }
}

// ---------------------------------------------------------------------------------------------
// STUN-like prober (RFC 4787 terminology; procedure in the spirit of RFC 5780 §4.3 / §4.4).

/** RFC 4787 mapping / filtering behaviour names, as the NAT's options spell them. */
export type Behaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

/** What {@link probe} needs: send UDP out from an inside endpoint, send UDP in to an external port. */
export interface Probeable {
  /** Sends from the inside endpoint and returns the packet that left on the outside edge. */
  udpOut(src: string, sport: number, dst: string, dport: number, payload?: string): Parsed;
  /** Sends from a remote to the external port and returns what reached the inside edge. */
  udpIn(src: string, sport: number, extPort: number, payload?: string): Parsed[];
}

/** What the prober concluded, with the evidence. */
export interface ProbeResult {
  mapping: Behaviour | 'inconsistent';
  filtering: Behaviour | 'inconsistent';
  /** External ports seen for R1:p1, R1:p2, R2:p1, R2:p2 from one inside endpoint. */
  mappedPorts: number[];
  /** Whether an unsolicited packet from R2:p2, R2:p1, R1:p2, R1:p1 reached the inside endpoint. */
  delivered: { r2p2: boolean; r2p1: boolean; r1p2: boolean; r1p1: boolean };
}

/**
 * Probes the NAT from the inside endpoint `host:port` (mapping) and `host:port+1` (filtering).
 *
 * Mapping: send to R1:3478, R1:3479, R2:3478, R2:3479 and compare the external ports.
 * All equal → EIM; equal per remote address but different across addresses → ADM; all four
 * different → APDM; anything else is inconsistent.
 *
 * Filtering: from a fresh inside port send only to R1:3478, then try unsolicited packets to the
 * external port from R2:3479, R2:3478, R1:3479 and finally R1:3478 (the reply, always allowed).
 * R2 gets through → EIF; only R1 (any port) → ADF; only R1:3478 → APDF.
 */
export function probe(rig: Probeable, host = H1, port = 7000): ProbeResult {
  const p1 = 3478;
  const p2 = 3479;
  const mappedPorts = [
    [R1, p1],
    [R1, p2],
    [R2, p1],
    [R2, p2],
  ].map(([ip, p]) => {
    const o = rig.udpOut(host, port, ip as string, p as number);
    assert.equal(o.src, EXT, 'translated source address is the NAT external address');
    return o.srcPort as number;
  });
  const [a, b, c, d] = mappedPorts;
  let mapping: ProbeResult['mapping'] = 'inconsistent';
  if (a === b && b === c && c === d) mapping = 'endpoint-independent';
  else if (a === b && c === d && a !== c) mapping = 'address-dependent';
  else if (new Set(mappedPorts).size === 4) mapping = 'address-and-port-dependent';

  const fport = port + 1;
  const x = rig.udpOut(host, fport, R1, p1).srcPort as number;
  const reached = (src: string, sport: number): boolean => {
    const got = rig.udpIn(src, sport, x, 'probe');
    const hit = got.filter((g) => g.dst === host && g.dstPort === fport);
    return hit.length > 0;
  };
  const delivered = {
    r2p2: reached(R2, p2),
    r2p1: reached(R2, p1),
    r1p2: reached(R1, p2),
    r1p1: reached(R1, p1),
  };
  let filtering: ProbeResult['filtering'] = 'inconsistent';
  const { r2p2, r2p1, r1p2, r1p1 } = delivered;
  if (r1p1) {
    if (r2p2 && r2p1 && r1p2) filtering = 'endpoint-independent';
    else if (!r2p2 && !r2p1 && r1p2) filtering = 'address-dependent';
    else if (!r2p2 && !r2p1 && !r1p2) filtering = 'address-and-port-dependent';
  }
  return { mapping, filtering, mappedPorts, delivered };
}

// ---------------------------------------------------------------------------------------------
// Adapters over the NAT's introspection API (field names per packages/nat/README.md).

/** The NAT's mapping records for protocol `proto` (all protocols when omitted). */
export function liveMappings(nat: Nat, proto?: number): ReturnType<Nat['mappings']> {
  const all = nat.mappings();
  return proto === undefined ? all : all.filter((m) => m.proto === proto);
}

/** A TCP connection through the NAT set up by {@link handshake}. */
export interface TcpConn {
  host: string;
  hport: number;
  remote: string;
  rport: number;
  /** External port the NAT chose. */
  ext: number;
  /** Next sequence numbers of the inside host and the remote. */
  hseq: number;
  rseq: number;
}

/** Runs SYN / SYN-ACK / ACK from `host:hport` to `remote:rport` and checks each step. */
export function handshake(rig: Rig, host: string, hport: number, remote: string, rport: number): TcpConn {
  const syn = rig.fromInside(tcp(host, hport, remote, rport, SYN, 1000));
  assert.equal(syn.out.length, 1, 'SYN leaves on the outside');
  const ext = syn.out[0].srcPort as number;
  assert.equal(syn.out[0].src, EXT);
  assert.equal(syn.out[0].flags, SYN);
  const synAck = rig.fromOutside(tcp(remote, rport, EXT, ext, SYN | ACK, 5000, 1001));
  assert.equal(synAck.in.length, 1, 'SYN-ACK reaches the inside host');
  assert.equal(synAck.in[0].dst, host);
  assert.equal(synAck.in[0].dstPort, hport);
  const ack = rig.fromInside(tcp(host, hport, remote, rport, ACK, 1001, 5001));
  assert.equal(ack.out.length, 1, 'ACK leaves on the outside');
  assert.equal(ack.out[0].srcPort, ext);
  return { host, hport, remote, rport, ext, hseq: 1001, rseq: 5001 };
}

/** Sends data (PSH|ACK) from the inside host; returns what left on the outside. */
export function tcpDataOut(rig: Rig, c: TcpConn, data = 'hello', flags = PSH | ACK): Parsed[] {
  const r = rig.fromInside(tcp(c.host, c.hport, c.remote, c.rport, flags, c.hseq, c.rseq, data));
  c.hseq += data.length + (flags & (SYN | FIN) ? 1 : 0);
  return r.out;
}

/** Sends data (PSH|ACK) from the remote; returns what reached the inside. */
export function tcpDataIn(rig: Rig, c: TcpConn, data = 'world', flags = PSH | ACK): Parsed[] {
  const r = rig.fromOutside(tcp(c.remote, c.rport, EXT, c.ext, flags, c.rseq, c.hseq, data));
  c.rseq += data.length + (flags & (SYN | FIN) ? 1 : 0);
  return r.in;
}
