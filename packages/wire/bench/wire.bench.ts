/**
 * Wire-layer benchmarks: the full checksum over a 1500-byte packet, parsing an IPv4/TCP packet
 * with long-lived views, and a NAT-style incremental rewrite of a TCP packet.
 */
import { type Benchmark, measureAllocations, timeOps, verifyPacket } from '@l3kit/testkit';
import {
  buildPacket,
  finishChecksum,
  Ipv4Packet,
  onesSum,
  parseIpv4,
  TcpFlags,
  TcpSegment,
} from '../src/index.js';

let sink = 0;

/** Keeps the measured work observable (so it cannot be optimised away) without reporting it. */
function use(x: number): void {
  if (x === -1) throw new Error('unreachable');
}

function random1500(): Uint8Array {
  const b = new Uint8Array(1500);
  let x = 0x12345678;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function tcpPacket(): Uint8Array {
  return buildPacket({
    src: '10.0.0.2',
    dst: '93.184.216.34',
    tcp: {
      srcPort: 40000,
      dstPort: 443,
      seq: 1,
      ack: 1,
      flags: TcpFlags.ACK | TcpFlags.PSH,
      timestamp: [1, 2],
    },
    payload: new Uint8Array(1448),
  });
}

function assertValid(pkt: Uint8Array, what: string): void {
  const r = verifyPacket(pkt);
  if (!r.ok) throw new Error(`${what}: benchmark left a bad packet: ${JSON.stringify(r.problems)}`);
}

/** The wire benchmarks (run by scripts/bench.mjs). */
export const benchmarks: Benchmark[] = [
  {
    name: 'wire.checksum.1500',
    unit: 'ns',
    description: 'Full Internet checksum of a 1500-byte buffer (onesSum + finishChecksum), ns per buffer',
    run() {
      const buf = random1500();
      const t = timeOps(
        () => {
          sink ^= finishChecksum(onesSum(buf, 0, 1500, 0));
        },
        { opsPerRound: 20_000, rounds: 21 },
      );
      use(sink);
      return { value: t.nsPerOp, gbitPerSec: Math.round(((1500 * 8) / t.nsPerOp) * 100) / 100 };
    },
  },
  {
    name: 'wire.ipv4.parse',
    unit: 'ns',
    description:
      'Ipv4Packet.rebind + TcpSegment.rebind on a 1500-byte IPv4/TCP packet, reading src, dst, protocol and both ports',
    async run() {
      const pkt = tcpPacket();
      const ip = Ipv4Packet.empty();
      const tcp = TcpSegment.empty();
      const op = () => {
        if (!ip.rebind(pkt)) throw new Error('ipv4 rebind failed');
        if (ip.protocol !== 6 || !tcp.rebind(pkt, ip.payloadOffset, ip.off + ip.totalLength))
          throw new Error('tcp');
        sink ^= ip.src ^ ip.dst ^ tcp.srcPort ^ tcp.dstPort;
      };
      const t = timeOps(op, { opsPerRound: 200_000 });
      const alloc = await measureAllocations(op, 1_000_000);
      use(sink);
      return { value: t.nsPerOp, allocBytesPerOp: alloc.bytesPerOp, gcCount: alloc.gcCount };
    },
  },
  {
    name: 'wire.tcp.rewrite',
    unit: 'ns',
    description:
      'NAT-style rewrite of an IPv4/TCP packet: source address (IPv4 + TCP pseudo-header checksum) and source port, all incremental (RFC 1624), including rebinding both views',
    async run() {
      const pkt = tcpPacket();
      const ip = Ipv4Packet.empty();
      const tcp = TcpSegment.empty();
      const addrs = [parseIpv4('203.0.113.1')!, parseIpv4('10.0.0.2')!];
      const ports = [61000, 40000];
      const op = (i: number) => {
        ip.rebind(pkt);
        tcp.rebind(pkt, ip.payloadOffset, ip.off + ip.totalLength);
        const k = i & 1;
        const oldSrc = ip.src;
        ip.setSrcIncremental(addrs[k]);
        tcp.adjustChecksumForAddress4(oldSrc, addrs[k]);
        tcp.setSrcPortIncremental(ports[k]);
      };
      const t = timeOps(op, { opsPerRound: 200_000 });
      assertValid(pkt, 'wire.tcp.rewrite');
      const alloc = await measureAllocations(op, 1_000_000);
      assertValid(pkt, 'wire.tcp.rewrite');
      return { value: t.nsPerOp, allocBytesPerOp: alloc.bytesPerOp, gcCount: alloc.gcCount };
    },
  },
];
