/**
 * The IP layer as the transport protocols see it: building outbound packets (IPv4 / IPv6 header
 * written straight into a fresh buffer) and handing them to the host.
 */
import type { Clock, Scheduler } from '@l3kit/core';
import { checksum, writeChecksum } from '@l3kit/wire';

/** IPv4 header length the stack emits (no options). */
export const IPV4_HEADER = 20;
/** IPv6 header length the stack emits (no extension headers). */
export const IPV6_HEADER = 40;

/** What TCP, UDP and ICMP need from their host. */
export interface IpLayer {
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  /** The interface MTU. */
  readonly mtu: number;
  /**
   * A new packet of `l4Len` transport bytes with its IP header written (checksum included).
   * The transport header starts at the returned packet's `ipHeaderLen(family)`. With
   * `uninitialized`, the transport bytes are not zeroed: the caller writes every one of them.
   */
  allocPacket(
    family: 4 | 6,
    proto: number,
    src: Uint8Array,
    dst: Uint8Array,
    l4Len: number,
    uninitialized?: boolean,
  ): Uint8Array;
  /** Emits a finished packet (or loops it back when it is addressed to this host). */
  output(pkt: Uint8Array): void;
  /** Enters the stack (API calls and timers): packets arriving meanwhile are queued. */
  enter(): void;
  /** Leaves the stack; the outermost leave drains queued packets and socket events. */
  leave(): void;
  /**
   * Runs `fn` once the host is no longer busy (at once if it is idle). `fn` may emit: answers
   * the peer sends back synchronously are then processed directly.
   */
  whenIdle(fn: () => void): void;
  /** Asks for `flush()` to be called once the current packet processing is done. */
  defer(target: { flushEvents(): void }): void;
  /** The local address to use towards `dst`, or `null` when `dst` is unreachable. */
  sourceFor(dst: Uint8Array): Uint8Array | null;
}

/**
 * A plain `Uint8Array` copy of `b[start..end)`. (`slice()` on a Node `Buffer` — which devices
 * may pass in — returns a view, not a copy.)
 */
export function copyBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(b.subarray(start, end));
  return out;
}

/** Header length of a packet the stack emits for `family`. */
export function ipHeaderLen(family: 4 | 6): number {
  return family === 4 ? IPV4_HEADER : IPV6_HEADER;
}

/** Writes a 20-byte IPv4 header (DF set, TTL 64) with its checksum at `buf[0..]`. */
export function writeIpv4Header(
  buf: Uint8Array,
  proto: number,
  src: Uint8Array,
  dst: Uint8Array,
  l4Len: number,
  id: number,
  df: boolean,
): void {
  const total = IPV4_HEADER + l4Len;
  buf[0] = 0x45;
  buf[1] = 0;
  buf[2] = total >>> 8;
  buf[3] = total & 0xff;
  buf[4] = (id >>> 8) & 0xff;
  buf[5] = id & 0xff;
  buf[6] = df ? 0x40 : 0;
  buf[7] = 0;
  buf[8] = 64;
  buf[9] = proto;
  buf[10] = 0;
  buf[11] = 0;
  buf.set(src, 12);
  buf.set(dst, 16);
  writeChecksum(buf, 10, checksum(buf, 0, IPV4_HEADER));
}

/** Writes a 40-byte IPv6 header (hop limit 64, flow label 0) at `buf[0..]`. */
export function writeIpv6Header(
  buf: Uint8Array,
  proto: number,
  src: Uint8Array,
  dst: Uint8Array,
  l4Len: number,
): void {
  buf[0] = 0x60;
  buf[1] = 0;
  buf[2] = 0;
  buf[3] = 0;
  buf[4] = l4Len >>> 8;
  buf[5] = l4Len & 0xff;
  buf[6] = proto;
  buf[7] = 64;
  buf.set(src, 8);
  buf.set(dst, 24);
}
