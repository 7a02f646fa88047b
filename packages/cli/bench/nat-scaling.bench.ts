/**
 * How the NAT's per-packet cost grows with its table: `nat44.udp.scaling` fills a NAT with N UDP
 * mappings (1,000 … 1,000,000, each with its session) and times round trips over up to 65,536 of
 * them, spread evenly over the table, so lookups touch memory all over it. Each packet goes
 * inside → outside (the handler plays the remote host: it swaps addresses and ports, which keeps
 * the checksums valid, and restores the TTL incrementally), then outside → inside, which restores
 * the buffer. Figures are ns per translated packet (median of 20 passes, both directions,
 * including the handler's swap; `minNsPerPkt` is the fastest pass, less coloured by other load
 * on a shared machine). The value is the figure at the largest table; `points` has the
 * curve (docs/img/nat-scaling.svg is drawn from it by scripts/plots.mjs).
 *
 * Run: npx tsc -b packages/cli && node scripts/bench.mjs nat44.udp.scaling
 */
import { ManualClock } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import type { Benchmark } from '@l3kit/testkit';
import { buildPacket, updateChecksum16 } from '@l3kit/wire';

const SIZES = [1_000, 10_000, 100_000, 300_000, 1_000_000];
const TIMED_MAX = 65_536;
const PAYLOAD = new Uint8Array(64).fill(0x61);

function swap(p: Uint8Array, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const t = p[a + i];
    p[a + i] = p[b + i];
    p[b + i] = t;
  }
}

/** Plays the other host: swaps addresses and ports (checksums stay valid), gives back the TTL. */
function reflect(p: Uint8Array): void {
  const hl = (p[0] & 15) << 2;
  swap(p, 12, 16, 4);
  swap(p, hl, hl + 2, 2);
  const word = (p[8] << 8) | p[9];
  p[8]++;
  const ck = updateChecksum16((p[10] << 8) | p[11], word, word + 0x100);
  p[10] = ck >>> 8;
  p[11] = ck & 0xff;
}

function flow(i: number): { src: string; sport: number; dst: string } {
  const host = 1 + (i >> 6);
  return {
    src: `10.${(host >> 16) & 255}.${(host >> 8) & 255}.${host & 255}`,
    sport: 20000 + (i & 63),
    dst: `198.51.${100 + (i & 3)}.${1 + ((i >> 2) & 127)}`,
  };
}

/** Measures one table size. */
export function measureTableSize(mappings: number): {
  mappings: number;
  nsPerPkt: number;
  minNsPerPkt: number;
  timedFlows: number;
} {
  const pool = Array.from(
    { length: Math.ceil(mappings / 30_000) },
    (_, i) => `203.0.${113 + (i >> 8)}.${1 + (i & 255)}`,
  );
  const nat = new Nat({
    inside: '10.0.0.1/8',
    outside: `${pool[0]}/16`,
    outsidePool: pool.slice(1),
    clock: new ManualClock(1_000_000),
    maintainIntervalMs: 0,
  });
  try {
    let out = 0;
    nat.outside().setHandler(() => {
      out++;
    });
    const stride = Math.max(1, Math.floor(mappings / TIMED_MAX));
    const bufs: Uint8Array[] = [];
    for (let i = 0; i < mappings; i++) {
      const f = flow(i);
      const p = buildPacket({
        src: f.src,
        dst: f.dst,
        udp: { srcPort: f.sport, dstPort: 443 },
        payload: PAYLOAD,
      });
      nat.inside().send(p);
      if (i % stride === 0 && bufs.length < TIMED_MAX)
        bufs.push(
          buildPacket({ src: f.src, dst: f.dst, udp: { srcPort: f.sport, dstPort: 443 }, payload: PAYLOAD }),
        );
    }
    if (out !== mappings || nat.stats.activeMappings !== mappings)
      throw new Error(`expected ${mappings} mappings, have ${nat.stats.activeMappings} (${out} packets out)`);
    const inside = nat.inside();
    const outside = nat.outside();
    outside.setHandler(reflect);
    inside.setHandler(reflect);
    const samples: number[] = [];
    const n = bufs.length;
    for (let r = 0; r < 25; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        inside.send(bufs[i]);
        outside.send(bufs[i]);
      }
      if (r >= 5) samples.push(Number(process.hrtime.bigint() - t0) / (2 * n));
    }
    const before = nat.stats.packetsIn;
    inside.send(bufs[0]);
    outside.send(bufs[0]);
    if (nat.stats.packetsIn !== before + 1) throw new Error('a timed packet did not come back in');
    samples.sort((a, b) => a - b);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      mappings,
      nsPerPkt: r2(samples[samples.length >> 1]),
      minNsPerPkt: r2(samples[0]),
      timedFlows: n,
    };
  } finally {
    nat.close();
  }
}

/** The scaling benchmark. */
export const benchmarks: Benchmark[] = [
  {
    name: 'nat44.udp.scaling',
    unit: 'ns/pkt',
    description:
      'UDP round trips (inside -> outside -> inside, 64-byte payload, reflecting handlers) over up to 65,536 flows spread across a table of N mappings, N = 1,000 ... 1,000,000; value at the largest N, the curve in points',
    run() {
      const points = SIZES.map((n) => measureTableSize(n));
      return { value: points[points.length - 1].nsPerPkt, points };
    },
  },
];
