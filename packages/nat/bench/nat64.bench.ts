/**
 * NAT64 benchmarks. Run: `npx tsc -b packages/nat && node scripts/bench.mjs nat64.`
 *
 * 10,000 established TCP flows (IPv6 node → IPv4 server through the prefix), 1440-byte payloads,
 * sent round robin. One prepared buffer per flow and direction is sent again and again: the IPv6
 * segment of the flow for `nat64.tcp.6to4`, the server's IPv4 segment to the flow's pool port
 * for `nat64.tcp.4to6`. IPv6 → IPv4 translates in place (the device contract allows it), so the
 * first 60 bytes of the IPv6 buffer are restored from a pristine copy after each send, as the
 * next receive would overwrite them (each buffer keeps a pristine copy in the 64 bytes before
 * the packet, next to the bytes it restores); that restore is inside the timed loop (its own
 * cost is reported as `restoreNs`). IPv4 → IPv6 builds into the translator's scratch buffer and leaves
 * the input alone. Handlers only count. One 6→4 pass over all flows is timed, then one
 * 4→6 pass, 60 times (the first 10 are warm-up); figures are medians per packet. Allocations:
 * `measureAllocations` over 200,000 ops (one op = one packet each way).
 */
import { ManualClock } from '@l3kit/core';
import { type Benchmark, measureAllocations } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { Nat64 } from '../src/index.js';

const FLOWS = 10_000;
const PAYLOAD = new Uint8Array(1440).fill(0x61);
/** IPv6 header + TCP header: every byte the in-place IPv6 → IPv4 translation rewrites. */
const RESTORE = 60;
/** Each IPv6 buffer keeps a pristine copy of those bytes in the 64 bytes before the packet. */
const HEAD = 64;

function setup() {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat64({
    prefix: '2001:db8:64::/96',
    inside: '2001:db8::1/64',
    outside: '203.0.113.1/24',
    clock,
    maintainIntervalMs: 0,
  });
  let last: Uint8Array | null = null;
  nat.outside().setHandler((p) => {
    last = p.slice();
  });
  nat.inside().setHandler(() => {});
  const b6: Uint8Array[] = [];
  const w6: Uint8Array[] = [];
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
    const whole = new Uint8Array(HEAD + p6.length);
    whole.set(p6.subarray(0, RESTORE), 0);
    whole.set(p6, HEAD);
    w6.push(whole);
    b6.push(whole.subarray(HEAD));
    b4.push(
      buildPacket({
        src: r4,
        dst: '203.0.113.1',
        dontFragment: true, // path MTU discovery, as TCP does: 1500 bytes fit the IPv6 next hop whole
        tcp: { srcPort: 443, dstPort: ext, flags: 0x10, seq: 10, ack: 2 },
        payload: PAYLOAD,
      }),
    );
  }
  let outCount = 0;
  let inCount = 0;
  nat.outside().setHandler(() => {
    outCount++;
  });
  nat.inside().setHandler(() => {
    inCount++;
  });
  const inside = nat.inside();
  const outside = nat.outside();
  for (let i = 0; i < FLOWS; i++) {
    inside.send(b6[i]);
    w6[i].copyWithin(HEAD, 0, RESTORE);
    outside.send(b4[i]);
  }
  if (nat.mappings().some((m) => m.state !== 'ESTABLISHED')) throw new Error('flows not established');
  return { nat, b6, b4, w6, inside, outside, counts: () => [outCount, inCount] as const };
}

function passes() {
  const r = setup();
  const { b6, b4, w6, inside, outside, counts } = r;
  const n = b6.length;
  const outNs: number[] = [];
  const inNs: number[] = [];
  const [o0, i0] = counts();
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  for (let round = 0; round < 60; round++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      inside.send(b6[i]);
      w6[i].copyWithin(HEAD, 0, RESTORE);
    }
    let t1 = process.hrtime.bigint();
    if (round >= 10) outNs.push(Number(t1 - t0) / n);
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) outside.send(b4[i]);
    t1 = process.hrtime.bigint();
    if (round >= 10) inNs.push(Number(t1 - t0) / n);
  }
  // The restore alone (a 60-byte copy within the buffer per packet), for reference.
  const restore: number[] = [];
  for (let round = 0; round < 20; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) w6[i].copyWithin(HEAD, 0, RESTORE);
    restore.push(Number(process.hrtime.bigint() - t0) / n);
  }
  const cpu = process.cpuUsage(cpu0);
  const wallNs = Number(process.hrtime.bigint() - wall0);
  const [o1, i1] = counts();
  if (o1 - o0 !== 60 * n || i1 - i0 !== 60 * n)
    throw new Error(`packets lost: 6→4 ${o1 - o0}, 4→6 ${i1 - i0}, expected ${60 * n} each`);
  const hot: number[] = [];
  for (let round = 0; round < 30; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) {
      inside.send(b6[0]);
      w6[0].copyWithin(HEAD, 0, RESTORE);
      outside.send(b4[0]);
    }
    hot.push(Number(process.hrtime.bigint() - t0) / 20_000);
  }
  const med = (a: number[]) => {
    a.sort((x, y) => x - y);
    return Math.round(a[a.length >> 1] * 100) / 100;
  };
  return {
    ...r,
    outNs: med(outNs),
    inNs: med(inNs),
    minOutNs: Math.round(Math.min(...outNs) * 100) / 100,
    minInNs: Math.round(Math.min(...inNs) * 100) / 100,
    hotFlowNs: med(hot),
    restoreNs: med(restore),
    cpuShare: Math.round(((cpu.user + cpu.system) * 1000 * 100) / wallNs) / 100,
  };
}

async function allocs(r: ReturnType<typeof passes>) {
  const n = r.b6.length;
  return measureAllocations((i) => {
    r.inside.send(r.b6[i % n]);
    r.w6[i % n].copyWithin(HEAD, 0, RESTORE);
    r.outside.send(r.b4[i % n]);
  }, 200_000);
}

/** NAT64 benchmarks. */
export const benchmarks: Benchmark[] = [
  {
    name: 'nat64.tcp.6to4',
    unit: 'ns/pkt',
    description:
      'TCP IPv6 → IPv4: inside().send → outside handler, 10,000 established flows round robin, 1440-byte payload (median of 50 passes)',
    async run() {
      const r = passes();
      const a = await allocs(r);
      r.nat.close();
      return {
        value: r.outNs,
        otherDirectionNs: r.inNs,
        minNs: r.minOutNs,
        hotFlowNs: r.hotFlowNs,
        restoreNs: r.restoreNs,
        cpuShare: r.cpuShare,
        flows: FLOWS,
        bytesPerOp: a.bytesPerOp,
        gcCount: a.gcCount,
        allocOps: a.ops,
        allocNote: 'bytesPerOp/gcCount over one 6→4 + one 4→6 packet per op',
      };
    },
  },
  {
    name: 'nat64.tcp.4to6',
    unit: 'ns/pkt',
    description:
      'TCP IPv4 → IPv6: outside().send → inside handler, 10,000 established flows round robin, 1440-byte payload (median of 50 passes)',
    async run() {
      const r = passes();
      const a = await allocs(r);
      r.nat.close();
      return {
        value: r.inNs,
        otherDirectionNs: r.outNs,
        minNs: r.minInNs,
        hotFlowNs: r.hotFlowNs,
        restoreNs: r.restoreNs,
        cpuShare: r.cpuShare,
        flows: FLOWS,
        bytesPerOp: a.bytesPerOp,
        gcCount: a.gcCount,
        allocOps: a.ops,
        allocNote: 'bytesPerOp/gcCount over one 6→4 + one 4→6 packet per op',
      };
    },
  },
];
