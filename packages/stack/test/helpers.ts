/**
 * Test fixtures: two virtual hosts on a manual clock, a link that checks every packet's
 * checksums independently and can drop packets on demand, and a pump that alternates between
 * Node's event loop (socket events) and virtual time.
 */
import { createHash } from 'node:crypto';
import { type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { VirtualHost, type VirtualHostOptions } from '../src/index.js';

/** Information about one TCP segment in an IPv4/IPv6 packet (for filters). */
export interface SegInfo {
  src: number;
  dst: number;
  seq: number;
  ack: number;
  flags: number;
  dataLen: number;
  window: number;
}

/** Parses the TCP segment of a packet the stack emitted (no options besides what it sends). */
export function tcpInfo(pkt: Uint8Array): SegInfo | undefined {
  const v = pkt[0] >> 4;
  const hl = v === 4 ? (pkt[0] & 15) * 4 : 40;
  const proto = v === 4 ? pkt[9] : pkt[6];
  if (proto !== 6) return undefined;
  const total = v === 4 ? (pkt[2] << 8) | pkt[3] : 40 + ((pkt[4] << 8) | pkt[5]);
  const t = hl;
  const doff = (pkt[t + 12] >> 4) * 4;
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  return {
    src: dv.getUint16(t),
    dst: dv.getUint16(t + 2),
    seq: dv.getUint32(t + 4),
    ack: dv.getUint32(t + 8),
    flags: pkt[t + 13],
    window: dv.getUint16(t + 14),
    dataLen: total - t - doff,
  };
}

/** A two-way link that verifies every packet and can drop selected ones. */
export class TestLink {
  /** Packets carried, per direction. */
  readonly carried = { ab: 0, ba: 0 };
  /** Packets dropped by the filter. */
  dropped = 0;
  /** Return true to drop a packet (dir 'ab' is a→b). */
  filter: ((pkt: Uint8Array, dir: 'ab' | 'ba') => boolean) | undefined;
  /** Every packet seen (when `record` is true). */
  readonly log: Array<{ dir: 'ab' | 'ba'; pkt: Uint8Array }> = [];
  record = false;

  constructor(a: L3Device, b: L3Device) {
    a.setHandler((p) => this.carry(p, 'ab', b));
    b.setHandler((p) => this.carry(p, 'ba', a));
  }

  private carry(p: Uint8Array, dir: 'ab' | 'ba', to: L3Device): void {
    assertChecksums(p, `packet ${dir}`);
    this.carried[dir]++;
    if (this.record) this.log.push({ dir, pkt: p.slice() });
    if (this.filter?.(p, dir)) {
      this.dropped++;
      return;
    }
    to.send(p);
  }
}

/** Two hosts (10.0.0.1 and 10.0.0.2, plus fd00::1 / fd00::2) on one manual scheduler. */
export function pair(opts: Partial<VirtualHostOptions> = {}, link = true) {
  const sched = new ManualScheduler(new ManualClock(1_000_000));
  const a = new VirtualHost({ addr: '10.0.0.1/24', addr6: 'fd00::1/64', scheduler: sched, ...opts });
  const b = new VirtualHost({ addr: '10.0.0.2/24', addr6: 'fd00::2/64', scheduler: sched, ...opts });
  const l = link ? new TestLink(a, b) : undefined;
  return { sched, a, b, link: l as TestLink };
}

export { pump, tick } from '@l3kit/testkit';

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** SHA-256 of the concatenation of `chunks`. */
export function sha256(chunks: Uint8Array[] | Uint8Array): string {
  const h = createHash('sha256');
  for (const c of Array.isArray(chunks) ? chunks : [chunks]) h.update(c);
  return h.digest('hex');
}
