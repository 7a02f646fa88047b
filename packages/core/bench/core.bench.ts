/**
 * Benchmarks of @l3kit/core. Run with `npm run bench -- core.` (results land in bench/results.json).
 */
import { type Benchmark, measureAllocations, timeOps } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { discard, type L3Device, L3Hub, ManualClock, type PacketHandler } from '../src/index.js';

/** A device that counts what it receives and restores TTL + checksum so packets can be reused. */
class CountingSink implements L3Device {
  count = 0;
  handler: PacketHandler = discard;
  constructor(
    private readonly ttl: Uint8Array,
    private readonly ck: Uint16Array,
  ) {}
  setHandler(h: PacketHandler): void {
    this.handler = h;
  }
  send(p: Uint8Array): void {
    this.count++;
    const i = ((p[20] << 8) | p[21]) - 40000; // the packet's number is in its UDP source port
    p[8] = this.ttl[i];
    p[10] = this.ck[i] >> 8;
    p[11] = this.ck[i] & 0xff;
  }
  addr() {
    return undefined;
  }
  setAddr(): void {}
  close(): void {}
}

function setup() {
  const hub = new L3Hub({ addr4: '10.255.255.254', clock: new ManualClock() });
  const packets: Uint8Array[] = [];
  const ttl = new Uint8Array(1024);
  const ck = new Uint16Array(1024);
  const sinks: CountingSink[] = [];
  for (let i = 0; i < 8; i++) sinks.push(new CountingSink(ttl, ck));
  // ~100 routes over several lengths: 80 /24s, 12 /16s, 6 /20s, 1 /8, default.
  const routes: string[][] = sinks.map(() => []);
  for (let i = 0; i < 80; i++) routes[i % 8].push(`10.${i}.${(i * 7) & 255}.0/24`);
  for (let i = 0; i < 12; i++) routes[i % 8].push(`172.${16 + i}.0.0/16`);
  for (let i = 0; i < 6; i++) routes[i % 8].push(`192.168.${i * 16}.0/20`);
  routes[0].push('10.0.0.0/8');
  routes[1].push('0.0.0.0/0');
  for (const [i, s] of sinks.entries()) hub.attach(s, { routes: routes[i] });
  const src = new CountingSink(ttl, ck);
  hub.attach(src, { routes: ['100.64.0.0/10'] });
  const dsts: string[] = [];
  for (let i = 0; i < 80; i++) dsts.push(`10.${i}.${(i * 7) & 255}.${1 + (i % 250)}`);
  for (let i = 0; i < 12; i++) dsts.push(`172.${16 + i}.3.4`);
  for (let i = 0; i < 6; i++) dsts.push(`192.168.${i * 16 + 3}.9`);
  dsts.push('10.250.0.1', '8.8.8.8');
  for (let i = 0; i < 1024; i++) {
    const p = buildPacket({
      src: '100.64.0.1',
      dst: dsts[i % dsts.length],
      ttl: 64,
      udp: { srcPort: 40000 + i, dstPort: 53 },
      payload: new Uint8Array(64),
    });
    packets.push(p);
    ttl[i] = p[8];
    ck[i] = (p[10] << 8) | p[11];
  }
  return { hub, packets, src, sinks, routeCount: hub.routes().length };
}

/** IPv6 counterpart: 100 routes over /32 /48 /56 /64 and a default; the sink restores the hop limit. */
function setup6() {
  const hub = new L3Hub({ addr6: '2001:db8:ffff::fe', clock: new ManualClock() });
  const sinks: L3Device[] = [];
  let count = 0;
  for (let i = 0; i < 8; i++)
    sinks.push({
      setHandler() {},
      send(p: Uint8Array) {
        count++;
        p[7] = 64;
      },
      addr: () => undefined,
      setAddr() {},
      close() {},
    });
  const routes: string[][] = sinks.map(() => []);
  const dsts: string[] = [];
  for (let i = 0; i < 70; i++) {
    routes[i % 8].push(`2001:db8:${i.toString(16)}:${(i * 3).toString(16)}::/64`);
    dsts.push(`2001:db8:${i.toString(16)}:${(i * 3).toString(16)}::${(i + 1).toString(16)}`);
  }
  for (let i = 0; i < 20; i++) {
    routes[i % 8].push(`2001:db8:${(0x100 + i).toString(16)}::/48`);
    dsts.push(`2001:db8:${(0x100 + i).toString(16)}:7::1`);
  }
  for (let i = 0; i < 8; i++) {
    routes[i % 8].push(`2001:db8:${(0x200 + i).toString(16)}:${(i << 8).toString(16)}::/56`);
    dsts.push(`2001:db8:${(0x200 + i).toString(16)}:${((i << 8) + 5).toString(16)}::1`);
  }
  routes[0].push('2001:db8::/32');
  routes[1].push('::/0');
  dsts.push('2001:db8:ffff:1::1', '2600::1');
  for (const [i, s] of sinks.entries()) hub.attach(s, { routes: routes[i] });
  const src: L3Device & { h: PacketHandler } = {
    h: discard,
    setHandler(h) {
      this.h = h;
    },
    send() {},
    addr: () => undefined,
    setAddr() {},
    close() {},
  };
  hub.attach(src, { routes: ['fd00::/8'] });
  const packets: Uint8Array[] = [];
  for (let i = 0; i < 1024; i++)
    packets.push(
      buildPacket({
        src: 'fd00::1',
        dst: dsts[i % dsts.length],
        udp: { srcPort: 40000 + i, dstPort: 53 },
        payload: new Uint8Array(64),
      }),
    );
  return { hub, packets, src, routeCount: hub.routes().length, delivered: () => count };
}

export const benchmarks: Benchmark[] = [
  {
    name: 'core.hub.route6',
    unit: 'ns',
    description:
      'ns per IPv6 UDP packet (112-byte) routed through an L3Hub with 100 IPv6 routes over 6 prefix lengths (per-length hashed LPM behind a Bloom filter + hop-limit decrement)',
    async run() {
      const { hub, packets, src, routeCount, delivered } = setup6();
      const mask = packets.length - 1;
      const send = (i: number) => src.h(packets[i & mask]);
      const t = timeOps(send, { opsPerRound: 200_000, rounds: 15 });
      const alloc = await measureAllocations(send, 500_000);
      if (hub.stats.forwarded !== delivered() || delivered() === 0)
        throw new Error(`benchmark sanity: forwarded ${hub.stats.forwarded}, delivered ${delivered()}`);
      return {
        value: t.nsPerOp,
        opsPerSec: t.opsPerSec,
        routes: routeCount,
        allocBytesPerOp: alloc.bytesPerOp,
        gcDuringAllocRun: alloc.gcCount,
      };
    },
  },
  {
    name: 'core.hub.route',
    unit: 'ns',
    description:
      'ns per IPv4 UDP packet (92-byte) routed through an L3Hub with 100 routes over 6 prefix lengths into counting sinks (LPM + TTL decrement with incremental checksum)',
    async run() {
      const { hub, packets, src, sinks, routeCount } = setup();
      const mask = packets.length - 1;
      const send = (i: number) => src.handler(packets[i & mask]);
      const t = timeOps(send, { opsPerRound: 200_000, rounds: 15 });
      const alloc = await measureAllocations(send, 500_000);
      const delivered = sinks.reduce((n, s) => n + s.count, 0);
      if (hub.stats.forwarded !== delivered || delivered === 0)
        throw new Error(`benchmark sanity: forwarded ${hub.stats.forwarded}, delivered ${delivered}`);
      return {
        value: t.nsPerOp,
        opsPerSec: t.opsPerSec,
        routes: routeCount,
        allocBytesPerOp: alloc.bytesPerOp,
        gcDuringAllocRun: alloc.gcCount,
      };
    },
  },
];
