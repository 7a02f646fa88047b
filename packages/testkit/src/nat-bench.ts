/**
 * The translation-benchmark setup shared by `nat44.*` (packages/nat/bench) and the ALG benchmark
 * `nat44.tcp.outbound.helpers-loaded` (packages/alg/bench), so both measure the same flows: 10,000
 * flows round robin, 1440-byte payloads, handlers that play the remote and inside hosts by
 * reflecting each packet. Structural types keep testkit free of dependencies (`Nat` and
 * `buildPacket` fit).
 */

/** Number of flows in the translation benchmarks. */
export const NAT_BENCH_FLOWS = 10_000;

/** Payload bytes of every benchmark packet. */
export const NAT_BENCH_PAYLOAD_LEN = 1440;

/** One side of a NAT as the benchmark sees it (`nat.inside()` / `nat.outside()`). */
export interface BenchNatPort {
  /** Delivers a packet into the NAT on this side. */
  send(pkt: Uint8Array): void;
  /** Where the NAT emits packets on this side. */
  setHandler(handler: (pkt: Uint8Array) => void): void;
}

/** A NAT with an inside and an outside interface (`Nat` from `@l3kit/nat`). */
export interface BenchNat {
  /** The private side (tenant 0). */
  inside(): BenchNatPort;
  /** The public side. */
  outside(): BenchNatPort;
}

/** The part of `buildPacket`'s spec the setup uses (`buildPacket` from `@l3kit/wire` fits). */
export type BenchPacketSpec = { src: string; dst: string; payload?: Uint8Array } & (
  | { tcp: { srcPort: number; dstPort: number; flags: number; seq: number; ack?: number } }
  | { udp: { srcPort: number; dstPort: number } }
);

/** Builds one IPv4 packet with correct checksums from a {@link BenchPacketSpec}. */
export type BenchPacketBuilder = (spec: BenchPacketSpec) => Uint8Array;

/** The result of {@link establishReflectedFlows}. */
export interface ReflectedFlows {
  /** One established-flow packet per flow (inside → outside as built; reflected in place). */
  bufs: Uint8Array[];
  /** `nat.inside()`: send `bufs[i]` here for the outbound pass. */
  inside: BenchNatPort;
  /** `nat.outside()`: send the reflected `bufs[i]` here for the inbound pass. */
  outside: BenchNatPort;
  /** Packets the outside and the inside handler received since the steady-state handlers were set. */
  counts(): readonly [number, number];
}

/**
 * Swaps src/dst addresses and ports and gives back the TTL the NAT took (incremental IP checksum:
 * TTL + 1 adds 0x0100 to the TTL/protocol word, RFC 1624). Checksums stay valid: a one's-complement
 * sum does not depend on the order of its words. IPv4 TCP/UDP only.
 */
export function reflectPacket(p: Uint8Array): void {
  let t = p[12];
  p[12] = p[16];
  p[16] = t;
  t = p[13];
  p[13] = p[17];
  p[17] = t;
  t = p[14];
  p[14] = p[18];
  p[18] = t;
  t = p[15];
  p[15] = p[19];
  p[19] = t;
  const hl = (p[0] & 15) << 2;
  t = p[hl];
  p[hl] = p[hl + 2];
  p[hl + 2] = t;
  t = p[hl + 1];
  p[hl + 1] = p[hl + 3];
  p[hl + 3] = t;
  p[8]++;
  let sum = (~((p[10] << 8) | p[11]) & 0xffff) + 0x0100;
  sum = (sum & 0xffff) + (sum >>> 16);
  const ck = ~sum & 0xffff;
  p[10] = ck >>> 8;
  p[11] = ck & 0xff;
}

/**
 * Creates the benchmark flows on `nat` (inside `10.0.0.1/8`, outside address `externalIp`):
 * flow `i` goes from `10.x.y.z` (16 source ports per host) to port 443 of one of 512 remote hosts
 * in 198.51.100-103.0/24. TCP flows complete the three-way handshake through the NAT; then the
 * handlers are replaced by counting, reflecting ones and every flow makes one warm round trip
 * (which creates the UDP mappings and settles TCP).
 */
export function establishReflectedFlows(
  nat: BenchNat,
  proto: 'tcp' | 'udp',
  build: BenchPacketBuilder,
  externalIp = '203.0.113.1',
  flows = NAT_BENCH_FLOWS,
): ReflectedFlows {
  const payload = new Uint8Array(NAT_BENCH_PAYLOAD_LEN).fill(0x61);
  const inside = nat.inside();
  const outside = nat.outside();
  let capture: Uint8Array | null = null;
  const keep = (p: Uint8Array) => {
    capture = p;
  };
  outside.setHandler(keep);
  inside.setHandler(keep);
  const bufs: Uint8Array[] = [];
  for (let i = 0; i < flows; i++) {
    const h = 1 + (i >> 4);
    const src = `10.${(h >> 16) & 255}.${(h >> 8) & 255}.${h & 255}`;
    const sport = 20000 + (i & 15);
    const dst = `198.51.${100 + (i & 3)}.${1 + ((i >> 2) & 127)}`;
    if (proto === 'tcp') {
      inside.send(build({ src, dst, tcp: { srcPort: sport, dstPort: 443, flags: 0x02, seq: 1 } }));
      const syn = capture as unknown as Uint8Array;
      const ep = (syn[20] << 8) | syn[21];
      outside.send(
        build({ src: dst, dst: externalIp, tcp: { srcPort: 443, dstPort: ep, flags: 0x12, seq: 9, ack: 2 } }),
      );
      bufs.push(
        build({ src, dst, tcp: { srcPort: sport, dstPort: 443, flags: 0x10, seq: 2, ack: 10 }, payload }),
      );
    } else {
      bufs.push(build({ src, dst, udp: { srcPort: sport, dstPort: 443 }, payload }));
    }
  }
  // Steady-state handlers: play the remote / inside host.
  let outCount = 0;
  let inCount = 0;
  outside.setHandler((p) => {
    outCount++;
    reflectPacket(p);
  });
  inside.setHandler((p) => {
    inCount++;
    reflectPacket(p);
  });
  for (const b of bufs) {
    inside.send(b);
    outside.send(b);
  }
  return { bufs, inside, outside, counts: () => [outCount, inCount] as const };
}
