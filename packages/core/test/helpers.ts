/**
 * Test helpers for @l3kit/core: a recording device and packet shorthands.
 */
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, Prefix } from '@l3kit/wire';
import { discard, type L3Device, type PacketHandler } from '../src/index.js';

/**
 * A device that records (copies of) what is sent into it, checks every such packet's checksums
 * when `verify` is on, and emits on demand with `emit`.
 */
export class Recorder implements L3Device {
  readonly received: Uint8Array[] = [];
  handler: PacketHandler = discard;
  closed = false;
  private address: Prefix | undefined;
  constructor(
    addr?: string,
    readonly name = addr ?? 'recorder',
    private readonly verify = true,
  ) {
    if (addr) this.address = Prefix.parse(addr);
  }
  setHandler(h: PacketHandler): void {
    this.handler = h;
  }
  send(pkt: Uint8Array): void {
    if (this.verify) assertChecksums(pkt, `packet delivered to ${this.name}`);
    this.received.push(pkt.slice());
  }
  addr(): Prefix | undefined {
    return this.address;
  }
  setAddr(p: Prefix): void {
    this.address = p;
  }
  close(): void {
    this.closed = true;
  }
  /** Emits `pkt` as if this device sent it (into whatever it is attached to). */
  emit(pkt: Uint8Array): void {
    this.handler(pkt);
  }
  /** Removes and returns everything received so far. */
  take(): Uint8Array[] {
    return this.received.splice(0);
  }
}

/** A UDP packet from `src` to `dst` (either family), ports 1000 → 2000 unless given. */
export function udp(
  src: string,
  dst: string,
  opts: { ttl?: number; payload?: string; sport?: number; dport?: number } = {},
): Uint8Array {
  return buildPacket({
    src,
    dst,
    ttl: opts.ttl ?? 64,
    udp: { srcPort: opts.sport ?? 1000, dstPort: opts.dport ?? 2000 },
    payload: opts.payload ?? 'hello',
  });
}

/** An echo request (ICMP or ICMPv6 by family). */
export function echo(
  src: string,
  dst: string,
  opts: { ttl?: number; id?: number; seq?: number } = {},
): Uint8Array {
  const icmp = {
    type: 8,
    code: 0,
    identifier: opts.id ?? 7,
    sequence: opts.seq ?? 1,
    data: new Uint8Array(8).fill(0xab),
  };
  return src.includes(':')
    ? buildPacket({ src, dst, ttl: opts.ttl ?? 64, icmpv6: { ...icmp, type: 128 } })
    : buildPacket({ src, dst, ttl: opts.ttl ?? 64, icmp });
}

/** Bytes as hex, for readable assertion messages. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
