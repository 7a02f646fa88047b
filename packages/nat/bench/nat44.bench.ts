/**
 * NAT44 benchmarks. Run: `npx tsc -b packages/nat && node scripts/bench.mjs nat44.`
 *
 * Translation benchmarks keep 10,000 established flows and send 1440-byte-payload packets round
 * robin. The NAT rewrites in place, so the outside handler plays the remote host: it swaps the
 * addresses and ports (checksums stay valid: a one's-complement sum does not depend on order)
 * and restores the TTL incrementally; the inside handler does the same for the inside host. One
 * outbound pass over all flows is timed, then one inbound pass over the same buffers, many
 * times; figures are medians per packet and include the handler's swap (measured alone as
 * `handlerNs` over all buffers, and as `handlerHotNs` on one buffer in cache, for reference).
 * The translation passes must all take the NAT's fast path (checked: otherwise the figures would
 * silently measure the general path). Allocations: `measureAllocations` (heap growth between
 * forced GCs and GC count over 200,000 packets). The flows and the reflecting handlers come from
 * `establishReflectedFlows` in `@l3kit/testkit`, shared with `nat44.tcp.outbound.helpers-loaded`
 * (packages/alg/bench) so that both measure the same setup.
 */
import { ManualClock } from '@l3kit/core';
import {
  type Benchmark,
  establishReflectedFlows,
  heapUsedAfterGc,
  measureAllocations,
  NAT_BENCH_FLOWS,
  reflectPacket as reflect,
  timeMs,
} from '@l3kit/testkit';
import { buildPacket, updateChecksum32 } from '@l3kit/wire';
import { Nat } from '../src/index.js';

const FLOWS = NAT_BENCH_FLOWS;

function translationSetup(proto: 'tcp' | 'udp') {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat({ inside: '10.0.0.1/8', outside: '203.0.113.1/24', clock, maintainIntervalMs: 0 });
  return { nat, ...establishReflectedFlows(nat, proto, buildPacket, '203.0.113.1', FLOWS) };
}

function passes(proto: 'tcp' | 'udp') {
  const { nat, bufs, inside, outside, counts } = translationSetup(proto);
  const n = bufs.length;
  const outNs: number[] = [];
  const inNs: number[] = [];
  const [o0, i0] = counts();
  const fast0 = nat._fastPathPackets;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  for (let r = 0; r < 60; r++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) inside.send(bufs[i]);
    let t1 = process.hrtime.bigint();
    if (r >= 10) outNs.push(Number(t1 - t0) / n);
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) outside.send(bufs[i]);
    t1 = process.hrtime.bigint();
    if (r >= 10) inNs.push(Number(t1 - t0) / n);
  }
  const cpu = process.cpuUsage(cpu0);
  const wallNs = Number(process.hrtime.bigint() - wall0);
  // CPU time per packet over all passes (both directions): on a loaded machine wall time
  // includes time the process was not running.
  const cpuNsPerPkt = Math.round(((cpu.user + cpu.system) * 1000 * 100) / (120 * n)) / 100;
  const cpuShare = Math.round(((cpu.user + cpu.system) * 1000 * 100) / wallNs) / 100;
  const [o1, i1] = counts();
  if (o1 - o0 !== 60 * n || i1 - i0 !== 60 * n)
    throw new Error(`packets lost: out ${o1 - o0}, in ${i1 - i0}, expected ${60 * n} each`);
  // Every packet of an established flow should take the NAT's fast path; a miss here means the
  // fast path and the general path disagree about something (e.g. a hash) and the figures would
  // measure the general path.
  const fast = nat._fastPathPackets - fast0;
  if (fast !== 120 * n) throw new Error(`fast path took ${fast} of ${120 * n} packets`);
  // One flow over and over (table and packet in cache): the translation cost without the
  // cache misses of 10,000 flows × 1.5 KB buffers. Median of 30 rounds, per packet.
  const hot: number[] = [];
  const b0 = bufs[0];
  for (let r = 0; r < 30; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) {
      inside.send(b0);
      outside.send(b0);
    }
    hot.push(Number(process.hrtime.bigint() - t0) / 20_000);
  }
  // The handler's own cost, for reference: over all buffers (as the passes see them, including
  // the cache misses on 10,000 packets, which inside the NAT's figures are mostly paid by the NAT
  // that touches the packet first) and on one packet in cache (its compute alone).
  const h: number[] = [];
  for (let r = 0; r < 30; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      reflect(bufs[i]);
      reflect(bufs[i]);
    }
    h.push(Number(process.hrtime.bigint() - t0) / n / 2);
  }
  const hh: number[] = [];
  for (let r = 0; r < 30; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      reflect(b0);
      reflect(b0);
    }
    hh.push(Number(process.hrtime.bigint() - t0) / n / 2);
  }
  const minOutNs = Math.round(Math.min(...outNs) * 100) / 100;
  const minInNs = Math.round(Math.min(...inNs) * 100) / 100;
  const med = (a: number[]) => {
    a.sort((x, y) => x - y);
    return Math.round(a[a.length >> 1] * 100) / 100;
  };
  return {
    nat,
    bufs,
    inside,
    outside,
    outNs: med(outNs),
    inNs: med(inNs),
    handlerNs: med(h),
    handlerHotNs: med(hh),
    hotFlowNs: med(hot),
    cpuNsPerPkt,
    cpuShare,
    minOutNs,
    minInNs,
  };
}

async function allocs(
  bufs: Uint8Array[],
  inside: { send(p: Uint8Array): void },
  outside: { send(p: Uint8Array): void },
) {
  const n = bufs.length;
  return measureAllocations((i) => {
    const b = bufs[i % n];
    inside.send(b);
    outside.send(b);
  }, 200_000);
}

function bulkNat(count: number) {
  const clock = new ManualClock(1_000_000);
  const pool: string[] = [];
  for (let i = 2; i < 34; i++) pool.push(`203.0.113.${i}`);
  const nat = new Nat({
    inside: '10.0.0.1/8',
    outside: '203.0.113.1/24',
    outsidePool: pool,
    clock,
    maintainIntervalMs: 0,
  });
  let delivered = 0;
  nat.outside().setHandler(() => {
    delivered++;
  });
  // One template UDP packet without UDP checksum; per flow the source address and port change
  // (IP checksum updated incrementally).
  const p = buildPacket({
    src: '10.0.0.2',
    dst: '198.51.100.7',
    udp: { srcPort: 1024, dstPort: 53, checksum: 'none' },
  });
  const tmpl = p.slice();
  const inside = nat.inside();
  const create = (i: number) => {
    p.set(tmpl);
    const host = 0x0a000000 + 2 + Math.floor(i / 250);
    const port = 1024 + (i % 250) * 97;
    let ck = (p[10] << 8) | p[11];
    ck = updateChecksum32(ck, 0x0a000002, host);
    p[12] = host >>> 24;
    p[13] = (host >>> 16) & 255;
    p[14] = (host >>> 8) & 255;
    p[15] = host & 255;
    p[10] = ck >>> 8;
    p[11] = ck & 0xff;
    p[20] = port >>> 8;
    p[21] = port & 0xff;
    inside.send(p);
  };
  return { nat, clock, create, delivered: () => delivered, count };
}

/** NAT44 benchmarks. */
export const benchmarks: Benchmark[] = [
  {
    name: 'nat44.tcp.outbound',
    unit: 'ns/pkt',
    description:
      'TCP inside().send → outside handler, 10,000 established flows round robin, 1440-byte payload (median of 50 passes; includes the handler reflecting the packet)',
    async run() {
      const r = passes('tcp');
      const a = await allocs(r.bufs, r.inside, r.outside);
      return {
        value: r.outNs,
        inboundNs: r.inNs,
        handlerNs: r.handlerNs,
        handlerHotNs: r.handlerHotNs,
        hotFlowNs: r.hotFlowNs,
        cpuNsPerPkt: r.cpuNsPerPkt,
        cpuShare: r.cpuShare,
        minOutNs: r.minOutNs,
        minInNs: r.minInNs,
        flows: FLOWS,
        bytesPerOp: a.bytesPerOp,
        gcCount: a.gcCount,
        allocOps: a.ops,
        allocNote: 'bytesPerOp/gcCount over one outbound + one inbound packet per op',
      };
    },
  },
  {
    name: 'nat44.tcp.inbound',
    unit: 'ns/pkt',
    description:
      'TCP outside().send → inside handler, 10,000 established flows round robin, 1440-byte payload (median of 50 passes; includes the handler reflecting the packet)',
    async run() {
      const r = passes('tcp');
      const a = await allocs(r.bufs, r.inside, r.outside);
      return {
        value: r.inNs,
        outboundNs: r.outNs,
        handlerNs: r.handlerNs,
        handlerHotNs: r.handlerHotNs,
        hotFlowNs: r.hotFlowNs,
        cpuNsPerPkt: r.cpuNsPerPkt,
        cpuShare: r.cpuShare,
        minOutNs: r.minOutNs,
        minInNs: r.minInNs,
        flows: FLOWS,
        bytesPerOp: a.bytesPerOp,
        gcCount: a.gcCount,
        allocOps: a.ops,
      };
    },
  },
  {
    name: 'nat44.udp.outbound',
    unit: 'ns/pkt',
    description: 'UDP inside().send → outside handler, 10,000 flows round robin, 1440-byte payload',
    async run() {
      const r = passes('udp');
      const a = await allocs(r.bufs, r.inside, r.outside);
      return {
        value: r.outNs,
        inboundNs: r.inNs,
        handlerNs: r.handlerNs,
        handlerHotNs: r.handlerHotNs,
        hotFlowNs: r.hotFlowNs,
        cpuNsPerPkt: r.cpuNsPerPkt,
        cpuShare: r.cpuShare,
        minOutNs: r.minOutNs,
        minInNs: r.minInNs,
        flows: FLOWS,
        bytesPerOp: a.bytesPerOp,
        gcCount: a.gcCount,
        allocOps: a.ops,
      };
    },
  },
  {
    name: 'nat44.mapping.create',
    unit: 'ns/mapping',
    description:
      'New UDP flows (mapping + session, port allocation, 33 outside addresses) until 1,000,000 exist; includes rewriting the template packet',
    run() {
      const b = bulkNat(1_000_000);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < b.count; i++) b.create(i);
      const ns = Number(process.hrtime.bigint() - t0) / b.count;
      if (b.nat.stats.activeMappings !== b.count)
        throw new Error(`only ${b.nat.stats.activeMappings} mappings created`);
      return { value: Math.round(ns * 100) / 100, mappings: b.count, delivered: b.delivered() };
    },
  },
  {
    name: 'nat44.memory.per-mapping',
    unit: 'bytes/mapping',
    description:
      'Heap + ArrayBuffer bytes per live mapping (with its session, port tables, timer wheel) at 1,000,000 mappings, after GC',
    run() {
      const mem = () => {
        heapUsedAfterGc();
        const u = process.memoryUsage();
        return { heap: u.heapUsed, ab: u.arrayBuffers };
      };
      const m0 = mem();
      const b = bulkNat(1_000_000);
      for (let i = 0; i < b.count; i++) b.create(i);
      const m1 = mem();
      if (b.nat.stats.activeMappings !== b.count) throw new Error('mappings missing');
      const per = (m1.heap - m0.heap + (m1.ab - m0.ab)) / b.count;
      return {
        value: Math.round(per * 10) / 10,
        heapBytesPerMapping: Math.round(((m1.heap - m0.heap) / b.count) * 10) / 10,
        arrayBufferBytesPerMapping: Math.round(((m1.ab - m0.ab) / b.count) * 10) / 10,
        mappings: b.count,
      };
    },
  },
  {
    name: 'nat44.maintain.1m',
    unit: 'ms',
    description: 'One maintain() one second later with 1,000,000 live mappings, none due (median of 7)',
    run() {
      const b = bulkNat(1_000_000);
      for (let i = 0; i < b.count; i++) b.create(i);
      const ms = timeMs(() => {
        b.clock.advance(1_000);
        b.nat.maintain();
      }, 7);
      if (b.nat.stats.activeMappings !== b.count) throw new Error('a mapping expired');
      return { value: ms, mappings: b.count };
    },
  },
];
