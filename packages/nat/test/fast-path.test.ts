/**
 * The NAT's hand-inlined fast paths (established TCP/UDP flows) must translate exactly as the
 * general path does, and decline everything else untouched. A differential test: two NATs, one
 * with the fast paths switched off, get identical packets — established-flow packets and random
 * mutations of them, both directions — and must emit identical bytes, counters and mappings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { buildPacket, formatIpv4, readIpv4 } from '@l3kit/wire';
import { Nat } from '../src/index.js';
import { lcg, runDifferential } from './differential.js';

function makeNat(fast: boolean) {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat({
    inside: '10.0.0.1/8',
    outside: '203.0.113.1/24',
    outsidePool: ['203.0.113.1', '203.0.113.9'],
    clock,
    maintainIntervalMs: 0,
    mtu: 1400,
    random: lcg(99),
  });
  if (!fast) (nat as unknown as { fastOff: number }).fastOff = 1;
  const out: string[] = [];
  // ICMP errors the NAT builds take their IP ID from one counter shared by both NATs: mask it.
  const record = (side: string) => (p: Uint8Array) => {
    const c = p.slice();
    if (c[9] === 1) c[4] = c[5] = c[10] = c[11] = 0;
    out.push(`${side}${Buffer.from(c).toString('hex')}`);
  };
  nat.outside().setHandler(record('o'));
  nat.inside().setHandler(record('i'));
  return { nat, out, clock };
}

describe('NAT44 fast paths', () => {
  it('translate established flows exactly as the general path does, and leave everything else to it', () => {
    const A = makeNat(true);
    const B = makeNat(false);
    const both = (dir: 'in' | 'out', p: Uint8Array) => {
      for (const X of [A, B]) (dir === 'in' ? X.nat.inside() : X.nat.outside()).send(p.slice());
    };
    const lastExt = () => {
      const h = Buffer.from(A.out.at(-1)!.slice(1), 'hex');
      return { ip: formatIpv4(readIpv4(h, 12)), port: (h[20] << 8) | h[21] };
    };
    const templates: Array<['in' | 'out', Uint8Array]> = [];
    for (let i = 0; i < 32; i++) {
      const src = `10.0.${i >> 4}.${1 + (i & 15)}`;
      const dst = `198.51.100.${1 + (i & 7)}`;
      const sport = 20000 + i;
      both('in', buildPacket({ src, dst, tcp: { srcPort: sport, dstPort: 443, flags: 0x02, seq: 1 } }));
      const t = lastExt();
      both(
        'out',
        buildPacket({
          src: dst,
          dst: t.ip,
          tcp: { srcPort: 443, dstPort: t.port, flags: 0x12, seq: 9, ack: 2 },
        }),
      );
      templates.push([
        'in',
        buildPacket({
          src,
          dst,
          tcp: { srcPort: sport, dstPort: 443, flags: 0x10, seq: 2, ack: 10 },
          payload: new Uint8Array(100 + i * 20),
        }),
      ]);
      templates.push([
        'out',
        buildPacket({
          src: dst,
          dst: t.ip,
          tcp: { srcPort: 443, dstPort: t.port, flags: 0x10, seq: 10, ack: 2 },
          payload: new Uint8Array(50 + i * 25),
        }),
      ]);
      const udp = buildPacket({
        src,
        dst,
        udp: { srcPort: sport, dstPort: 53, ...(i % 3 === 0 ? { checksum: 'none' as const } : {}) },
        payload: new Uint8Array(30 + i),
      });
      both('in', udp);
      const u = lastExt();
      templates.push(['in', udp]);
      templates.push([
        'out',
        buildPacket({
          src: dst,
          dst: u.ip,
          udp: { srcPort: 53, dstPort: u.port },
          payload: new Uint8Array(20 + i),
        }),
      ]);
    }
    const fastBefore = A.nat._fastPathPackets;
    const side = (X: typeof A) => ({
      send: (dir: 'in' | 'out', p: Uint8Array) => (dir === 'in' ? X.nat.inside() : X.nat.outside()).send(p),
      out: X.out,
      clock: X.clock,
    });
    runDifferential(side(A), side(B), templates, { count: 30_000, seed: 12345, headerBytes: 40 });
    assert.ok(A.nat._fastPathPackets - fastBefore > 5_000, 'the fast paths were exercised');
    assert.equal(B.nat._fastPathPackets, 0, 'the reference NAT never took them');
    const stats = (n: Nat) => JSON.stringify({ ...n.stats, drops: n.stats.drops, fast: 0 });
    assert.equal(stats(A.nat), stats(B.nat));
    assert.deepEqual(A.nat.mappings(), B.nat.mappings());
  });
});
