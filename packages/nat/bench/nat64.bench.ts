/**
 * NAT64 benchmarks. Run: `npx tsc -b packages/nat && node scripts/bench.mjs nat64.`
 *
 * 10,000 established TCP flows (IPv6 node → IPv4 server through the prefix), 1440-byte payloads,
 * sent round robin. Packets sit in receive slots the way a TUN device's batch buffer holds them:
 * one ArrayBuffer per direction, one 1600-byte slot per flow, the packet at offset 64 of its slot
 * (64 bytes of headroom) and a pristine copy of its headers in the first 64 bytes. Both directions
 * translate in place (the device contract lets a receiver rewrite the buffer; IPv4 → IPv6 grows
 * into the headroom because the NAT64 is built with `outsideHeadroom: true`), so after each send
 * the headers are restored from the pristine copy (15 words for IPv6 + TCP, 10 for IPv4 + TCP),
 * as the next receive would overwrite them. That restore is inside the timed loop; its own cost,
 * over all slots, is reported as `restoreNs`. Handlers only count.
 *
 * One 6→4 pass over all flows is timed, then one 4→6 pass, 60 times (the first 10 are warm-up);
 * figures are medians per packet. `noHeadroomNs` is the 4→6 figure of a second NAT64 without
 * `outsideHeadroom` (the datagram copied into the translator's buffer: what a sender without
 * headroom gets). `hotFlowNs`: one flow over and over, both directions, everything in cache (the
 * 6→4 output view is then reused, as the same input view comes back).
 * Allocations: `measureAllocations` over 200,000 ops (one op = one packet each way).
 */
import { ManualClock } from '@l3kit/core';
import { type Benchmark, measureAllocations } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { Nat64 } from '../src/index.js';

const FLOWS = 10_000;
const PAYLOAD = new Uint8Array(1440).fill(0x61);
/** Bytes per receive slot (a multiple of 64). */
const SLOT = 1600;
/** Where the packet starts in its slot; the pristine headers are at 0..64. */
const HEAD = 64;

interface Setup {
  nat: Nat64;
  b6: Uint8Array[];
  b4: Uint8Array[];
  w6: Int32Array;
  w4: Int32Array;
  inside: ReturnType<Nat64['inside']>;
  outside: ReturnType<Nat64['outside']>;
  counts(): readonly [number, number];
}

function setup(outsideHeadroom: boolean): Setup {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat64({
    prefix: '2001:db8:64::/96',
    inside: '2001:db8::1/64',
    outside: '203.0.113.1/24',
    clock,
    maintainIntervalMs: 0,
    outsideHeadroom,
  });
  let last: Uint8Array | null = null;
  nat.outside().setHandler((p) => {
    last = p.slice();
  });
  nat.inside().setHandler(() => {});
  const ring6 = new Uint8Array(SLOT * FLOWS);
  const ring4 = new Uint8Array(SLOT * FLOWS);
  const b6: Uint8Array[] = [];
  const b4: Uint8Array[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const src = `2001:db8::${((i >> 4) + 1).toString(16)}`;
    const sport = 20000 + (i & 15);
    const r4 = `198.51.${100 + (i & 3)}.${1 + ((i >> 2) & 127)}`;
    const dst = nat.ipv6Of(r4);
    nat.inside().send(buildPacket({ src, dst, tcp: { srcPort: sport, dstPort: 443, flags: 0x02, seq: 1 } }));
    const syn = last as unknown as Uint8Array;
    const ext = (syn[20] << 8) | syn[21];
    nat.outside().send(
      buildPacket({
        src: r4,
        dst: '203.0.113.1',
        tcp: { srcPort: 443, dstPort: ext, flags: 0x12, seq: 9, ack: 2 },
      }),
    );
    const p6 = buildPacket({
      src,
      dst,
      tcp: { srcPort: sport, dstPort: 443, flags: 0x10, seq: 2, ack: 10 },
      payload: PAYLOAD,
    });
    const p4 = buildPacket({
      src: r4,
      dst: '203.0.113.1',
      dontFragment: true, // path MTU discovery, as TCP does: 1500 bytes fit the IPv6 next hop whole
      tcp: { srcPort: 443, dstPort: ext, flags: 0x10, seq: 10, ack: 2 },
      payload: PAYLOAD,
    });
    const at = i * SLOT;
    ring6.set(p6.subarray(0, HEAD), at);
    ring6.set(p6, at + HEAD);
    b6.push(ring6.subarray(at + HEAD, at + HEAD + p6.length));
    ring4.set(p4.subarray(0, HEAD), at);
    ring4.set(p4, at + HEAD);
    b4.push(ring4.subarray(at + HEAD, at + HEAD + p4.length));
  }
  let outCount = 0;
  let inCount = 0;
  nat.outside().setHandler(() => {
    outCount++;
  });
  nat.inside().setHandler(() => {
    inCount++;
  });
  const s: Setup = {
    nat,
    b6,
    b4,
    w6: new Int32Array(ring6.buffer),
    w4: new Int32Array(ring4.buffer),
    inside: nat.inside(),
    outside: nat.outside(),
    counts: () => [outCount, inCount] as const,
  };
  for (let i = 0; i < FLOWS; i++) {
    send6(s, i);
    send4(s, i);
  }
  if (nat.mappings().some((m) => m.state !== 'ESTABLISHED')) throw new Error('flows not established');
  return s;
}

/**
 * The pristine headers back over the translated ones (the next receive into the slot): 15 words
 * for IPv6 + TCP, written out (a loop costs twice as much and would be billed to the NAT64).
 */
function restore6(w: Int32Array, i: number): void {
  const b = i * (SLOT >> 2);
  const d = b + (HEAD >> 2);
  w[d] = w[b];
  w[d + 1] = w[b + 1];
  w[d + 2] = w[b + 2];
  w[d + 3] = w[b + 3];
  w[d + 4] = w[b + 4];
  w[d + 5] = w[b + 5];
  w[d + 6] = w[b + 6];
  w[d + 7] = w[b + 7];
  w[d + 8] = w[b + 8];
  w[d + 9] = w[b + 9];
  w[d + 10] = w[b + 10];
  w[d + 11] = w[b + 11];
  w[d + 12] = w[b + 12];
  w[d + 13] = w[b + 13];
  w[d + 14] = w[b + 14];
}

/** 10 words for IPv4 + TCP. */
function restore4(w: Int32Array, i: number): void {
  const b = i * (SLOT >> 2);
  const d = b + (HEAD >> 2);
  w[d] = w[b];
  w[d + 1] = w[b + 1];
  w[d + 2] = w[b + 2];
  w[d + 3] = w[b + 3];
  w[d + 4] = w[b + 4];
  w[d + 5] = w[b + 5];
  w[d + 6] = w[b + 6];
  w[d + 7] = w[b + 7];
  w[d + 8] = w[b + 8];
  w[d + 9] = w[b + 9];
}

function send6(s: Setup, i: number): void {
  s.inside.send(s.b6[i]);
  restore6(s.w6, i);
}

function send4(s: Setup, i: number): void {
  s.outside.send(s.b4[i]);
  restore4(s.w4, i);
}

const med = (a: number[]) => {
  a.sort((x, y) => x - y);
  return Math.round(a[a.length >> 1] * 100) / 100;
};

function passes(s: Setup) {
  const n = FLOWS;
  const outNs: number[] = [];
  const inNs: number[] = [];
  const [o0, i0] = s.counts();
  const fast0 = s.nat._fastPathPackets;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  for (let round = 0; round < 60; round++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) send6(s, i);
    let t1 = process.hrtime.bigint();
    if (round >= 10) outNs.push(Number(t1 - t0) / n);
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) send4(s, i);
    t1 = process.hrtime.bigint();
    if (round >= 10) inNs.push(Number(t1 - t0) / n);
  }
  const cpu = process.cpuUsage(cpu0);
  const wallNs = Number(process.hrtime.bigint() - wall0);
  const [o1, i1] = s.counts();
  if (o1 - o0 !== 60 * n || i1 - i0 !== 60 * n)
    throw new Error(`packets lost: 6→4 ${o1 - o0}, 4→6 ${i1 - i0}, expected ${60 * n} each`);
  // Every packet must take the fast path, or the figures would measure the general one.
  const fast = s.nat._fastPathPackets - fast0;
  if (fast !== 120 * n) throw new Error(`fast path took ${fast} of ${120 * n} packets`);
  // The restore alone, over all slots of both rings, for reference.
  const restoreNs: number[] = [];
  for (let round = 0; round < 20; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) restore6(s.w6, i);
    for (let i = 0; i < n; i++) restore4(s.w4, i);
    restoreNs.push(Number(process.hrtime.bigint() - t0) / (2 * n));
  }
  const hot: number[] = [];
  for (let round = 0; round < 30; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) {
      send6(s, 0);
      send4(s, 0);
    }
    hot.push(Number(process.hrtime.bigint() - t0) / 20_000);
  }
  return {
    outNs: med(outNs),
    inNs: med(inNs),
    minOutNs: Math.round(Math.min(...outNs) * 100) / 100,
    minInNs: Math.round(Math.min(...inNs) * 100) / 100,
    hotFlowNs: med(hot),
    restoreNs: med(restoreNs),
    cpuShare: Math.round(((cpu.user + cpu.system) * 1000 * 100) / wallNs) / 100,
  };
}

/** 4→6 without headroom: the same passes on a NAT64 that copies each datagram. */
function noHeadroom(): number {
  const s = setup(false);
  const inNs: number[] = [];
  for (let round = 0; round < 40; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < FLOWS; i++) s.outside.send(s.b4[i]); // the input is left alone: no restore
    if (round >= 10) inNs.push(Number(process.hrtime.bigint() - t0) / FLOWS);
  }
  if (s.counts()[1] !== 40 * FLOWS + FLOWS) throw new Error('noHeadroom: packets lost');
  s.nat.close();
  return med(inNs);
}

async function run(direction: '6to4' | '4to6') {
  const s = setup(true);
  const r = passes(s);
  const a = await measureAllocations((i) => {
    send6(s, i % FLOWS);
    send4(s, i % FLOWS);
  }, 200_000);
  s.nat.close();
  const common = {
    minNs: direction === '6to4' ? r.minOutNs : r.minInNs,
    hotFlowNs: r.hotFlowNs,
    restoreNs: r.restoreNs,
    cpuShare: r.cpuShare,
    flows: FLOWS,
    bytesPerOp: a.bytesPerOp,
    gcCount: a.gcCount,
    allocOps: a.ops,
    allocNote: 'bytesPerOp/gcCount over one 6→4 + one 4→6 packet per op',
  };
  if (direction === '6to4') return { value: r.outNs, otherDirectionNs: r.inNs, ...common };
  return { value: r.inNs, otherDirectionNs: r.outNs, noHeadroomNs: noHeadroom(), ...common };
}

/** NAT64 benchmarks. */
export const benchmarks: Benchmark[] = [
  {
    name: 'nat64.tcp.6to4',
    unit: 'ns/pkt',
    description:
      'TCP IPv6 → IPv4: inside().send → outside handler, 10,000 established flows round robin, 1440-byte payload, in place (median of 50 passes)',
    run: () => run('6to4'),
  },
  {
    name: 'nat64.tcp.4to6',
    unit: 'ns/pkt',
    description:
      'TCP IPv4 → IPv6: outside().send → inside handler, 10,000 established flows round robin, 1440-byte payload, in place into 20 bytes of headroom (median of 50 passes)',
    run: () => run('4to6'),
  },
];
