/**
 * The NAT64's fast paths (established TCP / live UDP flows, translated inline) must produce
 * exactly what the general path (BIB and session lookup, then the RFC 7915 translator) produces,
 * and leave everything else to it. A differential test: two NAT64s, one with the fast paths
 * off, get identical packets — established-flow packets in both directions and random
 * mutations of them — and must emit identical bytes, counters and mappings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { NAT64_DEFAULT_TIMEOUTS, Nat64 } from '../src/index.js';
import { lcg, runDifferential } from './differential.js';

function makeNat64(fast: boolean, prefix: string, outsideHeadroom = false) {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat64({
    prefix,
    inside: '2001:db8::1/64',
    outside: '203.0.113.1/24',
    outsidePool: ['203.0.113.1', '203.0.113.2'],
    clock,
    maintainIntervalMs: 0,
    ipv4Mtu: 1400,
    random: lcg(99),
    outsideHeadroom,
  });
  if (!fast) (nat as unknown as { fastOff: number }).fastOff = 1;
  const out: string[] = [];
  let verified = 0;
  const record = (side: string) => (p: Uint8Array) => {
    const c = p.slice();
    if (side === 'o' || side === 'i') {
      try {
        assertChecksums(c, `NAT64 ${side}`);
        verified++;
      } catch (e) {
        out.push(`bad checksum ${(e as Error).message}`);
      }
    }
    out.push(`${side}${Buffer.from(c).toString('hex')}`);
  };
  nat.outside().setHandler(record('o'));
  nat.inside().setHandler(record('i'));
  return { nat, out, clock, verified: () => verified };
}

/**
 * A copy of `p` at offset `head` of a larger buffer whose other bytes are a known pattern, and a
 * check that nothing outside [byteOffset - 20, byteOffset + length) was written.
 */
function withHeadroom(p: Uint8Array, head: number): { view: Uint8Array; intact(): boolean } {
  const whole = new Uint8Array(head + p.length + 16).fill(0xa5);
  whole.set(p, head);
  const view = whole.subarray(head, head + p.length);
  return {
    view,
    intact: () => {
      const lo = head >= 20 ? head - 20 : head;
      for (let i = 0; i < whole.length; i++)
        if ((i < lo || i >= head + p.length) && whole[i] !== 0xa5) return false;
      return true;
    },
  };
}

for (const [prefix, headroom] of [
  ['64:ff9b::/96', false],
  ['2001:db8:64::/96', false],
  ['2001:db8:6400::/40', false],
  ['64:ff9b::/96', true],
  ['2001:db8:6400::/40', true],
] as const) {
  describe(`NAT64 fast paths (prefix ${prefix}${headroom ? ', outsideHeadroom' : ''})`, () => {
    it('translate established flows exactly as the general path does, and leave everything else to it', () => {
      const A = makeNat64(true, prefix, headroom);
      const B = makeNat64(false, prefix);
      const both = (dir: '6' | '4', p: Uint8Array) => {
        for (const X of [A, B]) (dir === '6' ? X.nat.inside() : X.nat.outside()).send(p.slice());
      };
      const lastOut = () => Buffer.from(A.out.at(-1)!.slice(1), 'hex');
      const templates: Array<['6' | '4', Uint8Array]> = [];
      for (let i = 0; i < 24; i++) {
        const src = `2001:db8::${(i >> 2) + 10}`;
        const r4 = `93.184.216.${1 + (i & 7)}`; // global: the well-known prefix refuses others
        const dst = A.nat.ipv6Of(r4);
        const sport = 20000 + i;
        both(
          '6',
          buildPacket({ src, dst, tos: i * 4, tcp: { srcPort: sport, dstPort: 443, flags: 0x02, seq: 1 } }),
        );
        const syn = lastOut();
        const ext4 = `${syn[12]}.${syn[13]}.${syn[14]}.${syn[15]}`;
        const ext = (syn[20] << 8) | syn[21];
        both(
          '4',
          buildPacket({
            src: r4,
            dst: ext4,
            tcp: { srcPort: 443, dstPort: ext, flags: 0x12, seq: 9, ack: 2 },
          }),
        );
        templates.push([
          '6',
          buildPacket({
            src,
            dst,
            tcp: { srcPort: sport, dstPort: 443, flags: 0x18, seq: 2, ack: 10 },
            payload: new Uint8Array(i * 60).fill(i),
          }),
        ]);
        templates.push([
          '4',
          buildPacket({
            src: r4,
            dst: ext4,
            dontFragment: i % 2 === 0,
            tos: i * 8,
            tcp: { srcPort: 443, dstPort: ext, flags: 0x10, seq: 10, ack: 2 },
            payload: new Uint8Array(i * 55).fill(255 - i),
          }),
        ]);
        const udp6 = buildPacket({
          src,
          dst,
          udp: { srcPort: sport, dstPort: 53 },
          payload: new Uint8Array(10 + i * 40),
        });
        both('6', udp6);
        const u = lastOut();
        templates.push(['6', udp6]);
        templates.push([
          '4',
          buildPacket({
            src: r4,
            dst: `${u[12]}.${u[13]}.${u[14]}.${u[15]}`,
            udp: {
              srcPort: 53,
              dstPort: (u[20] << 8) | u[21],
              ...(i % 5 === 0 ? { checksum: 'none' as const } : {}),
            },
            payload: new Uint8Array(20 + i * 50),
          }),
        ]);
      }
      const fastBefore = A.nat._fastPathPackets;
      let grown = 0;
      const side = (X: typeof A) => ({
        send: (dir: '6' | '4', p: Uint8Array) => {
          if (dir === '6') return X.nat.inside().send(p);
          if (!headroom || X !== A) return X.nat.outside().send(p);
          // Headroom of 0..39 bytes: from 20 on the translation may grow into it, never further.
          const h = withHeadroom(p, (p[0] + p.length) % 40);
          const before = X.nat._fastPathPackets;
          X.nat.outside().send(h.view);
          if (X.nat._fastPathPackets > before && h.view.byteOffset >= 20) grown++;
          assert.ok(h.intact(), 'bytes outside the packet and its 20 bytes of headroom were written');
        },
        out: X.out,
        clock: X.clock,
      });
      runDifferential(side(A), side(B), templates, { count: 20_000, seed: 4242, headerBytes: 60 });
      if (headroom) assert.ok(grown > 1_000, `IPv4 → IPv6 grew into the headroom (${grown} times)`);
      assert.ok(A.nat._fastPathPackets - fastBefore > 5_000, 'the fast paths were exercised');
      assert.equal(B.nat._fastPathPackets, 0, 'the reference never took them');
      assert.ok(A.verified() > 5_000);
      assert.equal(JSON.stringify(A.nat.stats), JSON.stringify(B.nat.stats));
      assert.deepEqual(A.nat.mappings(), B.nat.mappings());
      A.nat.close();
      B.nat.close();
    });
  });
}

describe('NAT64 fast paths under session churn', () => {
  // The fast paths find a session through two hash chains of their own (by the IPv6 and by the
  // IPv4 packet's fields) with copies of the BIB entry in the record. Growth of the record
  // buffer, rehashing of both chains, expiry, removal and reuse of freed records must keep them
  // exactly in step with the general path's BIB + session lookup.
  it('agree with the general path through growth, rehash, expiry, removal and record reuse', () => {
    const A = makeNat64(true, '64:ff9b::/96');
    const B = makeNat64(false, '64:ff9b::/96');
    const both = (dir: '6' | '4', p: Uint8Array) => {
      for (const X of [A, B]) (dir === '6' ? X.nat.inside() : X.nat.outside()).send(p.slice());
    };
    const lastOut = () => Buffer.from(A.out.at(-1)!.slice(1), 'hex');
    interface Flow {
      tcp: boolean;
      p6: Uint8Array;
      p4: Uint8Array;
    }
    const open = (i: number, gen: number): Flow => {
      const tcp = i % 3 === 0;
      const src = `2001:db8::${(gen << 12) + (i >> 3) + 1}`;
      const r4 = `93.184.${216 + (i & 3)}.${1 + ((i >> 2) & 127)}`;
      const dst = A.nat.ipv6Of(r4);
      const sport = 1024 + (i & 7) * 7 + gen;
      if (tcp) {
        both('6', buildPacket({ src, dst, tcp: { srcPort: sport, dstPort: 80, flags: 0x02, seq: 1 } }));
        const syn = lastOut();
        const ext = (syn[20] << 8) | syn[21];
        const ext4 = `${syn[12]}.${syn[13]}.${syn[14]}.${syn[15]}`;
        both(
          '4',
          buildPacket({
            src: r4,
            dst: ext4,
            tcp: { srcPort: 80, dstPort: ext, flags: 0x12, seq: 9, ack: 2 },
          }),
        );
        return {
          tcp,
          p6: buildPacket({ src, dst, tcp: { srcPort: sport, dstPort: 80, flags: 0x10, seq: 2, ack: 10 } }),
          p4: buildPacket({
            src: r4,
            dst: ext4,
            tcp: { srcPort: 80, dstPort: ext, flags: 0x10, seq: 10, ack: 2 },
            payload: new Uint8Array(i & 63),
          }),
        };
      }
      const p6 = buildPacket({
        src,
        dst,
        udp: { srcPort: sport, dstPort: 53 },
        payload: new Uint8Array(i & 31),
      });
      both('6', p6);
      const u = lastOut();
      return {
        tcp,
        p6,
        p4: buildPacket({
          src: r4,
          dst: `${u[12]}.${u[13]}.${u[14]}.${u[15]}`,
          udp: { srcPort: 53, dstPort: (u[20] << 8) | u[21] },
          payload: new Uint8Array(i & 15),
        }),
      };
    };
    const exchange = (flows: Flow[]) => {
      for (const f of flows) {
        both('6', f.p6);
        both('4', f.p4);
      }
    };
    // 3,000 sessions: the record buffer grows past its first 1,024 and both chains are rehashed.
    const first = Array.from({ length: 3000 }, (_, i) => open(i, 0));
    exchange(first);
    const fast0 = A.nat._fastPathPackets;
    exchange(first);
    assert.equal(A.nat._fastPathPackets - fast0, 6000, 'every packet of a live flow took the fast path');
    // UDP sessions expire (TCP established ones live on); their records are freed.
    for (const X of [A, B]) {
      X.clock.advance(NAT64_DEFAULT_TIMEOUTS.udp + 1000);
      X.nat.maintain();
    }
    exchange(first.filter((f) => f.tcp)); // refreshed, so the next expiry leaves them
    const fast1 = A.nat._fastPathPackets;
    // IPv4 packets of the expired UDP flows: no session any more, so no stale chain entry may
    // translate them (the general path drops them, in both).
    for (const f of first) if (!f.tcp) both('4', f.p4);
    assert.equal(A.nat._fastPathPackets - fast1, 0);
    exchange(first.filter((f) => !f.tcp)); // new sessions on the general path
    const second = Array.from({ length: 1500 }, (_, i) => open(i, 1)); // reuses freed records
    exchange(second);
    exchange(first);
    assert.equal(JSON.stringify(A.nat.stats), JSON.stringify(B.nat.stats));
    assert.deepEqual(A.nat.mappings(), B.nat.mappings());
    assert.deepEqual(A.out, B.out);
    assert.ok(A.verified() > 20_000);
    A.nat.close();
    B.nat.close();
  });
});

describe('NAT64 table hashes', () => {
  // Keys an inside host chooses (its source port, the IPv4 destination) must not line up in one
  // chain. A hash that is a plain sum of word products sends keys differing only in their high
  // bits to few values whatever its keys; vector multiply-shift over 16-bit pieces does not.
  type Hashes = {
    sessHash6(
      t: number,
      s: number,
      a0: number,
      a1: number,
      a2: number,
      a3: number,
      p: number,
      r4: number,
      rp: number,
    ): number;
    sessHash4(s: number, pool: number, port4: number, r4: number, rp: number): number;
    bibHashW(t: number, s: number, a0: number, a1: number, a2: number, a3: number, p: number): number;
  };
  const buckets = (hashes: number[], bits: number) => {
    const load = new Map<number, number>();
    for (const h of hashes) load.set(h >>> (32 - bits), (load.get(h >>> (32 - bits)) ?? 0) + 1);
    return { used: load.size, max: Math.max(...load.values()) };
  };

  it('spread keys that differ only in the high byte of the port and of the IPv4 address', () => {
    const nat = new Nat64({ prefix: '64:ff9b::/96', inside: '2001:db8::1/64', outside: '203.0.113.1/24' });
    const h = nat as unknown as Hashes;
    const in6: number[] = [];
    const out4: number[] = [];
    for (let hi = 0; hi < 256; hi++)
      for (let r = 0; r < 256; r++) {
        const port = (hi << 8) | 0x35;
        const r4 = (r << 24) | 0x336401;
        in6.push(h.sessHash6(1, 1, 0x20010db8, 0, 0, 5, port, r4, 443));
        out4.push(h.sessHash4(1, 0, port, r4, 443));
      }
    // 65,536 keys into 4,096 buckets: 16 per bucket on average. Over 1,500 key draws the worst
    // draw left 3,730 buckets used and a chain of 63; a hash these keys defeat uses ≤ 256 buckets.
    for (const [name, hs] of [
      ['inside', in6],
      ['outside', out4],
    ] as const) {
      const b = buckets(hs, 12);
      assert.ok(b.used > 3000, `${name}: ${b.used} of 4096 buckets used`);
      assert.ok(b.max < 128, `${name}: a chain of ${b.max}`);
    }
    // Bit 31 flipped in two words: a sum of products would not see it at all.
    assert.notEqual(
      h.sessHash6(1, 1, 0x20010db8, 0, 0, 5, 53, 0x0a000001, 443),
      h.sessHash6(1, 1, 0x20010db8, 0, 0, 5 ^ 0x80000000, 53, 0x0a000001 ^ 0x80000000, 443),
    );
    const bib: number[] = [];
    for (let hi = 0; hi < 256; hi++)
      for (let a = 0; a < 256; a++) bib.push(h.bibHashW(1, 1, 0x20010db8, 0, a << 24, 5, (hi << 8) | 1));
    const b = buckets(bib, 12);
    assert.ok(b.used > 3000 && b.max < 128, `BIB: ${b.used} buckets, a chain of ${b.max}`);
    nat.close();
  });

  it('draw their keys per instance', () => {
    const mk = () =>
      new Nat64({ prefix: '64:ff9b::/96', inside: '2001:db8::1/64', outside: '203.0.113.1/24' });
    const [a, b] = [mk(), mk()];
    const ha = (a as unknown as Hashes).sessHash4(0, 0, 1024, 0x0a000001, 80);
    const hb = (b as unknown as Hashes).sessHash4(0, 0, 1024, 0x0a000001, 80);
    assert.notEqual(ha, hb, 'two instances hash the same key alike (chance 2^-32)');
    a.close();
    b.close();
  });
});
