import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import {
  buildPacket,
  finishChecksum,
  formatIpv4,
  formatIpv6,
  Icmpv4Packet,
  Icmpv6Packet,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
  onesSum,
  parseIpv4,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
} from '@l3kit/wire';
import fc from 'fast-check';
import { fragmentIpv4, fragmentIpv6 } from '../src/fragment.js';
import { Rfc6052Prefix } from '../src/rfc6052.js';
import {
  NO_PORT,
  Translator,
  type TranslatorOptions,
  type Xlat4to6Mapper,
  type Xlat6to4Mapper,
  type XlatMapResult,
} from '../src/xlat.js';
import { mapPointer4To6, mapPointer6To4, plateauBelow } from '../src/xlat-icmp-map.js';

// A stateless SIIT mapping: every IPv4 address is embedded under one network-specific prefix.
const prefix = Rfc6052Prefix.parse('2001:db8:64::/96');
const siit4to6: Xlat4to6Mapper = {
  remote4: (v4, out, off) => {
    prefix.embed(v4, out, off);
    return true;
  },
  local4: (v4, _proto, port, out, off) => {
    prefix.embed(v4, out, off);
    return port;
  },
};
const siit6to4: Xlat6to4Mapper = {
  local6: (b, off, _proto, port, r: XlatMapResult) => {
    if (!prefix.matches(b, off)) return false;
    r.addr = prefix.extract(b, off);
    r.port = port;
    return true;
  },
  remote6: (b, off) => (prefix.matches(b, off) ? prefix.extract(b, off) : -1),
};
// A NAT64-like mapping that rewrites the local port / ICMP id (to test port translation and checksums).
const portShift: Xlat6to4Mapper = {
  local6: (b, off, _proto, port, r) => {
    r.addr = parseIpv4('203.0.113.1')!;
    r.port = port === NO_PORT ? port : (port + 1000) & 0xffff;
    return prefix.matches(b, off) || true;
  },
  remote6: (b, off) => (prefix.matches(b, off) ? prefix.extract(b, off) : -1),
};

const v6 = (v4: string) => prefix.format(parseIpv4(v4)!);

function run(opts: TranslatorOptions = {}) {
  const x = new Translator({ icmpSource4: '192.0.2.254', icmpSource6: '2001:db8:ffff::1', ...opts });
  const out: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  const emit = (p: Uint8Array) => out.push(p.slice());
  const reply = (p: Uint8Array) => replies.push(p.slice());
  return {
    x,
    out,
    replies,
    to6: (p: Uint8Array, m: Xlat4to6Mapper = siit4to6) => x.translate4to6(p, m, emit, reply),
    to4: (p: Uint8Array, m: Xlat6to4Mapper = siit6to4) => x.translate6to4(p, m, emit, reply),
  };
}

function ip6(p: Uint8Array) {
  const v = Ipv6Packet.checked(p);
  assert.ok(v, 'not a valid IPv6 packet');
  return v;
}
function ip4(p: Uint8Array) {
  const v = Ipv4Packet.checked(p);
  assert.ok(v, 'not a valid IPv4 packet');
  return v;
}

describe('RFC 7915 §4.1: IPv4 header → IPv6 header', () => {
  it('copies TOS to Traffic Class, zeroes the flow label, decrements the hop limit and maps addresses', () => {
    const t = run();
    const pkt = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      ttl: 64,
      tos: 0xb8,
      tcp: { srcPort: 80, dstPort: 40000, flags: 0x12, seq: 5, ack: 9 },
      payload: 'hello',
    });
    assert.ok(t.to6(pkt));
    const o = ip6(t.out[0]);
    assert.equal(o.trafficClass, 0xb8);
    assert.equal(o.flowLabel, 0);
    assert.equal(o.hopLimit, 63);
    assert.equal(o.nextHeader, 6);
    assert.equal(o.payloadLength, 20 + 5);
    assert.equal(formatIpv6(o.buf, o.srcOffset), v6('198.51.100.9'));
    assert.equal(formatIpv6(o.buf, o.dstOffset), v6('192.0.2.33'));
    assertChecksums(t.out[0]);
  });

  it('sets Traffic Class to zero when configured', () => {
    const t = run({ trafficClass: 'zero' });
    t.to6(
      buildPacket({ src: '198.51.100.9', dst: '192.0.2.33', tos: 0xb8, udp: { srcPort: 1, dstPort: 2 } }),
    );
    assert.equal(ip6(t.out[0]).trafficClass, 0);
  });

  it('answers TTL 1 with ICMPv4 time exceeded instead of translating', () => {
    const t = run();
    assert.equal(
      t.to6(buildPacket({ src: '198.51.100.9', dst: '192.0.2.33', ttl: 1, udp: { srcPort: 1, dstPort: 2 } })),
      false,
    );
    assert.equal(t.out.length, 0);
    assert.equal(t.replies.length, 1);
    const icmp = Icmpv4Packet.checked(t.replies[0], 20)!;
    assert.equal(icmp.type, 11);
    assert.equal(icmp.code, 0);
    assertChecksums(t.replies[0]);
  });

  it('drops a packet with an unexpired source route option and answers ICMPv4 3/5', () => {
    const t = run();
    const lsrr = Uint8Array.from([0x83, 7, 4, 10, 0, 0, 1, 0]);
    t.to6(
      buildPacket({ src: '198.51.100.9', dst: '192.0.2.33', options: lsrr, udp: { srcPort: 1, dstPort: 2 } }),
    );
    assert.equal(t.out.length, 0);
    assert.equal(t.x.stats.dropSourceRoute, 1);
    const icmp = Icmpv4Packet.checked(t.replies[0], 20)!;
    assert.equal(icmp.type, 3);
    assert.equal(icmp.code, 5);
  });

  it('ignores other IPv4 options', () => {
    const t = run();
    const ra = Uint8Array.from([0x94, 4, 0, 0]);
    assert.ok(
      t.to6(
        buildPacket({
          src: '198.51.100.9',
          dst: '192.0.2.33',
          options: ra,
          udp: { srcPort: 1, dstPort: 2 },
          payload: 'x',
        }),
      ),
    );
    assert.equal(ip6(t.out[0]).payloadLength, 9);
    assertChecksums(t.out[0]);
  });

  it('adds a Fragment header only when the IPv4 packet is already fragmented, carrying its ID, offset and MF', () => {
    const t = run();
    const whole = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      identification: 0xabcd,
      udp: { srcPort: 7, dstPort: 9 },
      payload: new Uint8Array(1000).fill(7),
    });
    const frags = fragmentIpv4(whole, 500) as Uint8Array[];
    for (const f of frags) assert.ok(t.to6(f));
    const chain = new Ipv6HeaderChain();
    t.out.forEach((p, i) => {
      assert.ok(chain.parse(ip6(p)));
      assert.equal(chain.fragmentId, 0xabcd);
      assert.equal(chain.moreFragments, i < frags.length - 1);
      assert.equal(chain.fragmentOffset, ip4(frags[i]).fragmentOffset);
    });
    // No Fragment header for an unfragmented packet.
    const t2 = run();
    t2.to6(buildPacket({ src: '198.51.100.9', dst: '192.0.2.33', udp: { srcPort: 7, dstPort: 9 } }));
    assert.equal(ip6(t2.out[0]).nextHeader, 17);
  });

  it('fragments a DF=0 packet that would exceed the lowest IPv6 MTU into fragments of at most 1280 bytes', () => {
    const t = run();
    const pkt = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      identification: 77,
      udp: { srcPort: 7, dstPort: 9 },
      payload: new Uint8Array(3000).fill(1),
    });
    assert.ok(t.to6(pkt));
    assert.ok(t.out.length >= 3);
    let data = 0;
    for (const p of t.out) {
      assert.ok(p.length <= 1280);
      data += p.length - 48;
    }
    assert.equal(data, 3008);
  });

  it('answers DF=1 and too big for the IPv6 next hop with ICMPv4 3/4 carrying MTU − 20', () => {
    const t = run({ ipv6Mtu: 1400 });
    t.to6(
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.33',
        dontFragment: true,
        udp: { srcPort: 7, dstPort: 9 },
        payload: new Uint8Array(1400),
      }),
    );
    assert.equal(t.out.length, 0);
    const icmp = Icmpv4Packet.checked(t.replies[0], 20)!;
    assert.equal(icmp.type, 3);
    assert.equal(icmp.code, 4);
    assert.equal(icmp.nextHopMtu, 1380);
  });
});

describe('RFC 7915 §4.5: transport checksums IPv4 → IPv6', () => {
  it('adjusts TCP and UDP checksums for the new pseudo-header', () => {
    const t = run();
    t.to6(
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.33',
        tcp: { srcPort: 80, dstPort: 1, flags: 0x10 },
        payload: 'abc',
      }),
    );
    t.to6(
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.33',
        udp: { srcPort: 53, dstPort: 2 },
        payload: 'abcd',
      }),
    );
    for (const p of t.out) assertChecksums(p);
  });

  it('computes a UDP checksum when the IPv4 one is zero', () => {
    const t = run();
    const pkt = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      udp: { srcPort: 53, dstPort: 2, checksum: 'none' },
      payload: 'zero',
    });
    assert.equal((pkt[26] << 8) | pkt[27], 0);
    assert.ok(t.to6(pkt));
    const ck = (t.out[0][46] << 8) | t.out[0][47];
    assert.notEqual(ck, 0);
    assertChecksums(t.out[0]);
  });

  it('drops a fragmented UDP packet with a zero checksum, or any zero checksum when configured to', () => {
    const t = run();
    const whole = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      udp: { srcPort: 53, dstPort: 2, checksum: 'none' },
      payload: new Uint8Array(1000),
    });
    const frags = fragmentIpv4(whole, 500) as Uint8Array[];
    assert.equal(t.to6(frags[0]), false);
    assert.equal(t.x.stats.dropUdpZeroChecksum, 1);
    const d = run({ udpZeroChecksum: 'drop' });
    assert.equal(
      d.to6(
        buildPacket({
          src: '198.51.100.9',
          dst: '192.0.2.33',
          udp: { srcPort: 53, dstPort: 2, checksum: 'none' },
        }),
      ),
      false,
    );
  });

  it('translates the local port and keeps the checksum right (NAT64 use)', () => {
    const x = run();
    const mapper: Xlat4to6Mapper = {
      remote4: siit4to6.remote4,
      local4: (_v4, _p, port, out, off) => {
        prefix.embed(parseIpv4('10.9.9.9')!, out, off);
        return port === NO_PORT ? port : 5555;
      },
    };
    x.to6(
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.33',
        tcp: { srcPort: 80, dstPort: 40000, flags: 0x12 },
      }),
      mapper,
    );
    const p = x.out[0];
    assert.equal((p[42] << 8) | p[43], 5555);
    assertChecksums(p);
  });
});

describe('RFC 7915 §4.2: ICMPv4 → ICMPv6', () => {
  const echo = (type: number) =>
    buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      icmp: { type, code: 0, identifier: 42, sequence: 7, data: new Uint8Array(32).fill(9) },
    });

  it('translates echo request 8 → 128 and echo reply 0 → 129 with the ICMPv6 checksum', () => {
    const t = run();
    t.to6(echo(8));
    t.to6(echo(0));
    assert.equal(t.out.length, 2);
    const a = Icmpv6Packet.checked(t.out[0], 40)!;
    const b = Icmpv6Packet.checked(t.out[1], 40)!;
    assert.equal(a.type, 128);
    assert.equal(b.type, 129);
    assert.equal(a.identifier, 42);
    assert.equal(a.sequence, 7);
    assert.equal(ip6(t.out[0]).nextHeader, 58);
    for (const p of t.out) assertChecksums(p);
  });

  it('drops informational messages without an ICMPv6 counterpart (timestamp, address mask, router messages)', () => {
    const t = run();
    for (const type of [13, 14, 17, 18, 9, 10, 15, 16])
      t.to6(buildPacket({ src: '198.51.100.9', dst: '192.0.2.33', icmp: { type, code: 0 } }));
    assert.equal(t.out.length, 0);
    assert.equal(t.x.stats.dropIcmpUntranslatable, 8);
  });

  // An error from an IPv4 router about a packet the IPv6 host sent (translated earlier): the quoted
  // packet goes from the local node 192.0.2.33 to the remote 198.51.100.9.
  const quoted = buildPacket({
    src: '192.0.2.33',
    dst: '198.51.100.9',
    ttl: 3,
    udp: { srcPort: 3333, dstPort: 53 },
    payload: new Uint8Array(20).fill(5),
  });
  const err = (type: number, code: number, extra: { mtu?: number; pointer?: number } = {}) => {
    const data = quoted;
    return buildPacket({
      src: '198.51.100.1',
      dst: '192.0.2.33',
      icmp: { type, code, mtu: extra.mtu, pointer: extra.pointer, data },
    });
  };

  const cases: Array<[string, number, number, number, number]> = [
    ['net unreachable → no route', 3, 0, 1, 0],
    ['host unreachable → no route', 3, 1, 1, 0],
    ['protocol unreachable → parameter problem 4/1', 3, 2, 4, 1],
    ['port unreachable → 1/4', 3, 3, 1, 4],
    ['source route failed → no route', 3, 5, 1, 0],
    ['network unknown → no route', 3, 6, 1, 0],
    ['host unknown → no route', 3, 7, 1, 0],
    ['source host isolated → no route', 3, 8, 1, 0],
    ['network prohibited → admin prohibited', 3, 9, 1, 1],
    ['host prohibited → admin prohibited', 3, 10, 1, 1],
    ['network unreachable for TOS → no route', 3, 11, 1, 0],
    ['host unreachable for TOS → no route', 3, 12, 1, 0],
    ['communication prohibited → admin prohibited', 3, 13, 1, 1],
    ['precedence cutoff → admin prohibited', 3, 15, 1, 1],
    ['TTL exceeded in transit → 3/0', 11, 0, 3, 0],
    ['reassembly time exceeded → 3/1', 11, 1, 3, 1],
  ];
  for (const [name, t4, c4, t6, c6] of cases) {
    it(`maps ${t4}/${c4} (${name}) and translates the embedded packet`, () => {
      const t = run();
      assert.ok(t.to6(err(t4, c4)));
      const p = t.out[0];
      assertChecksums(p);
      const icmp = Icmpv6Packet.checked(p, 40)!;
      assert.equal(icmp.type, t6);
      assert.equal(icmp.code, c6);
      if (t6 === 4 && c6 === 1) assert.equal(icmp.pointer, 6);
      // Embedded: an IPv6 header with the original TTL (no decrement), mapped addresses, UDP.
      const inner = p.subarray(48);
      assert.equal(inner[0] >> 4, 6);
      assert.equal(inner[7], 3);
      assert.equal(inner[6], 17);
      assert.equal(formatIpv6(inner, 8), v6('192.0.2.33'));
      assert.equal(formatIpv6(inner, 24), v6('198.51.100.9'));
      // The embedded UDP checksum was adjusted for the IPv6 pseudo-header.
      const udpLen = inner.length - 40;
      assert.equal(finishChecksum(onesSum(inner, 40, udpLen, pseudoHeaderSum6(inner, 0, 17, udpLen))), 0);
    });
  }

  it('drops source quench, redirect, host precedence violation and parameter problem code 1', () => {
    const t = run();
    for (const [ty, co] of [
      [4, 0],
      [5, 1],
      [3, 14],
      [12, 1],
    ])
      t.to6(err(ty, co));
    assert.equal(t.out.length, 0);
  });

  it('maps the parameter problem pointer with Figure 3 and drops pointers without a counterpart', () => {
    for (const [p4, p6] of [
      [0, 0],
      [1, 1],
      [2, 4],
      [3, 4],
      [8, 7],
      [9, 6],
      [12, 8],
      [15, 8],
      [16, 24],
      [19, 24],
    ]) {
      assert.equal(mapPointer4To6(p4), p6);
      const t = run();
      t.to6(err(12, 0, { pointer: p4 }));
      const icmp = Icmpv6Packet.checked(t.out[0], 40)!;
      assert.equal(icmp.type, 4);
      assert.equal(icmp.code, 0);
      assert.equal(icmp.pointer, p6);
    }
    for (const p4 of [4, 5, 6, 7, 10, 11, 20]) {
      const t = run();
      t.to6(err(12, 0, { pointer: p4 }));
      assert.equal(t.out.length, 0, `pointer ${p4}`);
    }
  });

  it('maps fragmentation needed to Packet Too Big with MTU + 20, bounded by the next hops', () => {
    const t = run({ ipv6Mtu: 9000, ipv4Mtu: 9000 });
    t.to6(err(3, 4, { mtu: 1400 }));
    assert.equal(Icmpv6Packet.checked(t.out[0], 40)!.mtu, 1420);
    const u = run({ ipv6Mtu: 1400 });
    u.to6(err(3, 4, { mtu: 1480 }));
    assert.equal(Icmpv6Packet.checked(u.out[0], 40)!.mtu, 1400);
  });

  it('uses the RFC 1191 plateau below the quoted Total Length when the MTU field is zero', () => {
    assert.equal(plateauBelow(1500), 1492);
    assert.equal(plateauBelow(4352), 2002);
    const big = buildPacket({
      src: '192.0.2.33',
      dst: '198.51.100.9',
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(4400),
    });
    const e = buildPacket({
      src: '198.51.100.1',
      dst: '192.0.2.33',
      icmp: { type: 3, code: 4, mtu: 0, data: big.slice(0, 28) },
    });
    const t = run({ ipv6Mtu: 9000, ipv4Mtu: 9000 });
    t.to6(e);
    assert.equal(Icmpv6Packet.checked(t.out[0], 40)!.mtu, 4352 + 20);
  });

  it('keeps ICMPv6 errors within 1280 bytes by truncating the embedded packet', () => {
    const big = buildPacket({
      src: '192.0.2.33',
      dst: '198.51.100.9',
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(1400),
    });
    const e = buildPacket({ src: '198.51.100.1', dst: '192.0.2.33', icmp: { type: 11, code: 0, data: big } });
    const t = run();
    assert.ok(t.to6(e));
    assert.ok(t.out[0].length <= 1280);
    assertChecksums(t.out[0]);
  });

  it('drops an ICMP error that quotes another ICMP error', () => {
    const inner = buildPacket({
      src: '192.0.2.33',
      dst: '198.51.100.9',
      icmp: { type: 3, code: 3, data: quoted },
    });
    const t = run();
    t.to6(buildPacket({ src: '198.51.100.1', dst: '192.0.2.33', icmp: { type: 11, code: 0, data: inner } }));
    assert.equal(t.out.length, 0);
    assert.equal(t.x.stats.dropIcmpNested, 1);
  });

  it('translates a quoted ICMP echo request to ICMPv6 with its checksum adjusted', () => {
    const ping = buildPacket({
      src: '192.0.2.33',
      dst: '198.51.100.9',
      icmp: { type: 8, code: 0, identifier: 9, sequence: 1, data: new Uint8Array(8).fill(3) },
    });
    const t = run();
    t.to6(buildPacket({ src: '198.51.100.1', dst: '192.0.2.33', icmp: { type: 11, code: 0, data: ping } }));
    const inner = t.out[0].subarray(48);
    assert.equal(inner[40], 128);
    const l = inner.length - 40;
    assert.equal(finishChecksum(onesSum(inner, 40, l, pseudoHeaderSum6(inner, 0, 58, l))), 0);
  });

  it('never translates a fragmented ICMP message', () => {
    const whole = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      icmp: { type: 8, code: 0, identifier: 1, data: new Uint8Array(1000) },
    });
    const t = run();
    for (const f of fragmentIpv4(whole, 500) as Uint8Array[]) t.to6(f);
    assert.equal(t.out.length, 0);
    assert.equal(t.x.stats.dropIcmpFragment, 3);
  });
});

describe('RFC 7915 §5.1: IPv6 header → IPv4 header', () => {
  const pkt6 = (extra: Partial<{ hopLimit: number; tos: number; size: number }> = {}) =>
    buildPacket({
      src: v6('192.0.2.33'),
      dst: v6('198.51.100.9'),
      hopLimit: extra.hopLimit ?? 64,
      tos: extra.tos ?? 0,
      udp: { srcPort: 4000, dstPort: 53 },
      payload: new Uint8Array(extra.size ?? 10).fill(2),
    });

  it('builds the IPv4 header: TOS from Traffic Class, TTL = hop limit − 1, protocol, addresses, a valid checksum', () => {
    const t = run();
    assert.ok(t.to4(pkt6({ tos: 0x28, hopLimit: 10 })));
    const o = ip4(t.out[0]);
    assert.equal(o.tos, 0x28);
    assert.equal(o.ttl, 9);
    assert.equal(o.protocol, 17);
    assert.equal(formatIpv4(o.src), '192.0.2.33');
    assert.equal(formatIpv4(o.dst), '198.51.100.9');
    assert.equal(o.headerLen, 20);
    assertChecksums(t.out[0]);
  });

  it('sets DF only when the translated packet exceeds 1260 bytes, and gives each packet a new ID', () => {
    const t = run();
    t.to4(pkt6({ size: 1000 }));
    t.to4(pkt6({ size: 1300 }));
    const a = ip4(t.out[0]);
    const b = ip4(t.out[1]);
    assert.equal(a.dontFragment, false);
    assert.equal(b.dontFragment, true);
    assert.notEqual(a.identification, b.identification);
  });

  it('maps the Fragment header to IPv4 fragment fields with the low 16 bits of the ID, DF clear', () => {
    const t = run();
    const frag = buildPacket({
      src: v6('192.0.2.33'),
      dst: v6('198.51.100.9'),
      identification: 0x1234abcd,
      moreFragments: true,
      fragmentOffset: 0,
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(16),
    });
    assert.ok(t.to4(frag));
    const o = ip4(t.out[0]);
    assert.equal(o.identification, 0xabcd);
    assert.equal(o.moreFragments, true);
    assert.equal(o.dontFragment, false);
    assert.equal(o.fragmentOffset, 0);
  });

  it('skips extension headers (Hop-by-Hop, Destination Options) and translates the upper layer', () => {
    const inner = pkt6();
    const pkt = new Uint8Array(inner.length + 16);
    pkt.set(inner.subarray(0, 40), 0);
    pkt[6] = 0;
    pkt.set([60, 0, 1, 4, 0, 0, 0, 0], 40); // Hop-by-Hop → Destination Options
    pkt.set([17, 0, 1, 4, 0, 0, 0, 0], 48); // Destination Options → UDP
    pkt.set(inner.subarray(40), 56);
    pkt[5] += 16;
    const t = run();
    assert.ok(t.to4(pkt));
    assert.equal(ip4(t.out[0]).protocol, 17);
    assert.equal(ip4(t.out[0]).totalLength, 20 + inner.length - 40);
    assertChecksums(t.out[0]);
  });

  it('does not translate a packet with Segments Left ≠ 0 and answers ICMPv6 4/0 pointing at Segments Left', () => {
    const inner = pkt6();
    const pkt = new Uint8Array(inner.length + 24);
    pkt.set(inner.subarray(0, 40), 0);
    pkt[6] = 43;
    pkt.set([17, 2, 0, 1, 0, 0, 0, 0], 40); // Routing type 0, Segments Left 1, one address
    pkt.set(inner.subarray(40), 64);
    pkt[5] += 24;
    const t = run();
    assert.equal(t.to4(pkt), false);
    assert.equal(t.x.stats.dropSegmentsLeft, 1);
    const icmp = Icmpv6Packet.checked(t.replies[0], 40)!;
    assert.equal(icmp.type, 4);
    assert.equal(icmp.code, 0);
    assert.equal(icmp.pointer, 43);
  });

  it('answers hop limit 1 with ICMPv6 time exceeded', () => {
    const t = run();
    t.to4(pkt6({ hopLimit: 1 }));
    assert.equal(t.out.length, 0);
    assert.equal(Icmpv6Packet.checked(t.replies[0], 40)!.type, 3);
  });

  it('answers a DF packet larger than the IPv4 MTU with Packet Too Big carrying the IPv4 MTU + 20', () => {
    const t = run({ ipv4Mtu: 1300 });
    t.to4(pkt6({ size: 1400 }));
    const icmp = Icmpv6Packet.checked(t.replies[0], 40)!;
    assert.equal(icmp.type, 2);
    assert.equal(icmp.mtu, 1320);
  });

  it('fragments for a small IPv4 MTU when DF is clear', () => {
    const t = run({ ipv4Mtu: 576 });
    t.to4(pkt6({ size: 1000 }));
    assert.ok(t.out.length >= 2);
    for (const p of t.out) {
      assert.ok(p.length <= 576);
      assertChecksums(p);
    }
  });

  it('drops an IPv6 UDP packet with a zero checksum', () => {
    const p = pkt6();
    p[46] = 0;
    p[47] = 0;
    const t = run();
    assert.equal(t.to4(p), false);
    assert.equal(t.x.stats.dropUdpZeroChecksum, 1);
  });

  it('translates the local port and keeps the checksum right', () => {
    const t = run();
    t.to4(
      buildPacket({
        src: v6('192.0.2.33'),
        dst: v6('198.51.100.9'),
        tcp: { srcPort: 1000, dstPort: 80, flags: 2 },
      }),
      portShift,
    );
    const o = t.out[0];
    assert.equal((o[20] << 8) | o[21], 2000);
    assert.equal(formatIpv4(ip4(o).src), '203.0.113.1');
    assertChecksums(o);
  });
});

describe('RFC 7915 §5.2: ICMPv6 → ICMPv4', () => {
  it('translates echo 128 → 8 and 129 → 0 with a plain ICMP checksum', () => {
    const t = run();
    for (const type of [128, 129])
      t.to4(
        buildPacket({
          src: v6('192.0.2.33'),
          dst: v6('198.51.100.9'),
          icmpv6: { type, code: 0, identifier: 5, sequence: 6, data: new Uint8Array(20).fill(4) },
        }),
      );
    assert.equal(Icmpv4Packet.checked(t.out[0], 20)!.type, 8);
    assert.equal(Icmpv4Packet.checked(t.out[1], 20)!.type, 0);
    for (const p of t.out) assertChecksums(p);
  });

  it('drops MLD, Neighbor Discovery and unknown informational messages', () => {
    const t = run();
    for (const type of [130, 131, 132, 133, 134, 135, 136, 137, 143, 200])
      t.to4(buildPacket({ src: v6('192.0.2.33'), dst: v6('198.51.100.9'), icmpv6: { type, code: 0 } }));
    assert.equal(t.out.length, 0);
  });

  // Error from an IPv6 router 2001:db8:64::c633:6401 (= 198.51.100.1 mapped) about a packet that
  // went from the remote 198.51.100.9 to the local 192.0.2.33.
  const quoted6 = buildPacket({
    src: v6('198.51.100.9'),
    dst: v6('192.0.2.33'),
    hopLimit: 5,
    udp: { srcPort: 53, dstPort: 3333 },
    payload: new Uint8Array(12).fill(1),
  });
  const err6 = (type: number, code: number, extra: { mtu?: number; pointer?: number } = {}) =>
    buildPacket({
      src: v6('192.0.2.1'),
      dst: v6('198.51.100.9'),
      icmpv6: { type, code, mtu: extra.mtu, pointer: extra.pointer, data: quoted6 },
    });

  const cases: Array<[string, number, number, number, number]> = [
    ['no route → host unreachable', 1, 0, 3, 1],
    ['admin prohibited → 3/10', 1, 1, 3, 10],
    ['beyond scope → host unreachable', 1, 2, 3, 1],
    ['address unreachable → host unreachable', 1, 3, 3, 1],
    ['port unreachable → 3/3', 1, 4, 3, 3],
    ['hop limit exceeded → 11/0', 3, 0, 11, 0],
    ['reassembly time exceeded → 11/1', 3, 1, 11, 1],
    ['unrecognized next header → protocol unreachable 3/2', 4, 1, 3, 2],
  ];
  for (const [name, t6, c6, t4, c4] of cases) {
    it(`maps ${t6}/${c6} (${name}) and translates the embedded packet without TTL decrement`, () => {
      const t = run();
      assert.ok(t.to4(err6(t6, c6)));
      const p = t.out[0];
      assertChecksums(p);
      const icmp = Icmpv4Packet.checked(p, 20)!;
      assert.equal(icmp.type, t4);
      assert.equal(icmp.code, c4);
      const inner = p.subarray(28);
      assert.equal(inner[0], 0x45);
      assert.equal(inner[8], 5);
      assert.equal(inner[9], 17);
      assert.equal(
        formatIpv4(((inner[12] << 24) | (inner[13] << 16) | (inner[14] << 8) | inner[15]) >>> 0),
        '198.51.100.9',
      );
      assert.equal(
        formatIpv4(((inner[16] << 24) | (inner[17] << 16) | (inner[18] << 8) | inner[19]) >>> 0),
        '192.0.2.33',
      );
      assertChecksums(inner.slice(), 'embedded IPv4 packet');
    });
  }

  it('maps Packet Too Big to fragmentation needed with MTU − 20', () => {
    const t = run({ ipv4Mtu: 9000, ipv6Mtu: 9000 });
    t.to4(err6(2, 0, { mtu: 1400 }));
    const icmp = Icmpv4Packet.checked(t.out[0], 20)!;
    assert.equal(icmp.type, 3);
    assert.equal(icmp.code, 4);
    assert.equal(icmp.nextHopMtu, 1380);
  });

  it('maps the parameter problem pointer with Figure 6 and drops untranslatable pointers', () => {
    for (const [p6, p4] of [
      [0, 0],
      [1, 1],
      [4, 2],
      [5, 2],
      [6, 9],
      [7, 8],
      [8, 12],
      [23, 12],
      [24, 16],
      [39, 16],
    ]) {
      assert.equal(mapPointer6To4(p6), p4);
      const t = run();
      t.to4(err6(4, 0, { pointer: p6 }));
      const icmp = Icmpv4Packet.checked(t.out[0], 20)!;
      assert.equal(icmp.type, 12);
      assert.equal(icmp.pointer, p4);
    }
    for (const p6 of [2, 3, 40, 100]) {
      const t = run();
      t.to4(err6(4, 0, { pointer: p6 }));
      assert.equal(t.out.length, 0, `pointer ${p6}`);
    }
  });

  it('drops parameter problem code 2 and an ICMPv6 message with a bad checksum', () => {
    const t = run();
    t.to4(err6(4, 2));
    const bad = err6(1, 4);
    bad[42] ^= 0xff;
    t.to4(bad);
    assert.equal(t.out.length, 0);
    assert.equal(t.x.stats.dropBadChecksum, 1);
  });
});

describe('Translator robustness', () => {
  it('never carries ICMPv4 inside IPv6 or ICMPv6 inside IPv4 across, since neither would be validated', () => {
    const t = run();
    const icmp6in4 = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      protocol: 58,
      payload: new Uint8Array(8),
    });
    const icmp4in6 = buildPacket({
      src: v6('192.0.2.33'),
      dst: v6('198.51.100.9'),
      protocol: 1,
      payload: new Uint8Array(8),
    });
    assert.equal(t.to6(icmp6in4), false);
    assert.equal(t.to4(icmp4in6), false);
    assert.equal(t.x.stats.dropIcmpUntranslatable, 2);
  });

  it('never throws on arbitrary or mutated packets in either direction, and everything it emits has valid checksums', () => {
    const t = run({ ipv4Mtu: 1000 });
    const seeds = [
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.33',
        tcp: { srcPort: 80, dstPort: 1, flags: 0x10 },
        payload: 'abc',
      }),
      buildPacket({
        src: '198.51.100.1',
        dst: '192.0.2.33',
        icmp: {
          type: 3,
          code: 4,
          mtu: 0,
          data: buildPacket({ src: '192.0.2.33', dst: '198.51.100.9', udp: { srcPort: 1, dstPort: 2 } }),
        },
      }),
      buildPacket({
        src: v6('192.0.2.33'),
        dst: v6('198.51.100.9'),
        udp: { srcPort: 4000, dstPort: 53 },
        payload: new Uint8Array(1200),
      }),
      buildPacket({
        src: v6('192.0.2.1'),
        dst: v6('198.51.100.9'),
        icmpv6: {
          type: 1,
          code: 4,
          data: buildPacket({
            src: v6('198.51.100.9'),
            dst: v6('192.0.2.33'),
            tcp: { srcPort: 1, dstPort: 2, flags: 2 },
          }),
        },
      }),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }),
          fc.tuple(fc.nat(seeds.length - 1), fc.nat(1400), fc.nat(255)).map(([i, at, v]) => {
            const p = seeds[i].slice();
            p[at % p.length] = v;
            return p;
          }),
          fc
            .tuple(fc.nat(seeds.length - 1), fc.nat(1400))
            .map(([i, cut]) => seeds[i].slice(0, cut % seeds[i].length)),
        ),
        (bytes) => {
          t.out.length = 0;
          t.to6(bytes);
          t.to4(bytes);
          // A transport checksum that was wrong on arrival stays wrong (incremental update keeps
          // the error for the receiver to see); everything else must be right.
          if (!verifyPacket(bytes).ok) return;
          for (const p of t.out) {
            if (p[0] >> 4 === 4 && ((p[6] & 0x3f) | p[7]) !== 0) continue; // fragments: checked elsewhere
            assertChecksums(p, 'translated packet');
          }
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('round-trips a TCP segment 6 → 4 → 6 byte for byte apart from the hop limit', () => {
    const t = run();
    const orig = buildPacket({
      src: v6('192.0.2.33'),
      dst: v6('198.51.100.9'),
      tcp: { srcPort: 1234, dstPort: 80, flags: 0x18, seq: 99, ack: 7 },
      payload: 'round trip',
    });
    t.to4(orig);
    const back = t.out[0].slice();
    // Swap direction: the IPv4 packet comes back as if from the IPv4 side addressed to the local node.
    const t2 = run();
    const swapped = back.slice();
    swapped.copyWithin(12, 16, 20);
    swapped.set(back.subarray(12, 16), 16);
    Ipv4Packet.checked(swapped)!.fillChecksum();
    void pseudoHeaderSum4;
    t2.to6(back);
    const r = t2.out[0];
    assert.equal(r.length, orig.length);
    assert.deepEqual(r.subarray(40), orig.subarray(40));
    assert.equal(r[7], orig[7] - 2);
  });
});

describe('In-place IPv6 → IPv4 translation (inPlace6to4) and byte-based mappers', () => {
  /** Translates `pkt` with a fresh translator; returns the emitted packet as given (not copied). */
  function once(pkt: Uint8Array, opts: TranslatorOptions, m: Xlat6to4Mapper = portShift) {
    const x = new Translator({ icmpSource6: '2001:db8:ffff::1', ...opts });
    const emitted: Uint8Array[] = [];
    const ok = x.translate6to4(
      pkt,
      m,
      (p) => emitted.push(p),
      () => {},
    );
    return { ok, emitted, x };
  }
  const tcp6 = () =>
    buildPacket({
      src: '2001:db8::7',
      dst: v6('198.51.100.9'),
      hopLimit: 33,
      tcp: { srcPort: 40000, dstPort: 443, flags: 0x18, seq: 5, ack: 9 },
      payload: new Uint8Array(1000).fill(0x5a),
    });
  const udp6 = () =>
    buildPacket({
      src: '2001:db8::7',
      dst: v6('198.51.100.9'),
      udp: { srcPort: 5353, dstPort: 53 },
      payload: 'in place',
    });

  it('rewrites a TCP or UDP packet in its own buffer, byte for byte as the scratch-buffer translation', () => {
    for (const make of [tcp6, udp6]) {
      const expected = once(make(), {}).emitted[0].slice();
      const input = make();
      const r = once(input, { inPlace6to4: true });
      assert.equal(r.ok, true);
      assert.equal(r.emitted.length, 1);
      const out = r.emitted[0];
      assert.equal(out.buffer, input.buffer, 'a view of the input buffer');
      assert.equal(out.byteOffset, input.byteOffset + 20, 'the IPv4 header ends where the IPv6 header ended');
      assert.deepEqual(out, expected);
      assertChecksums(out, 'in-place IPv4 packet');
      assert.equal(ip4(out).src, parseIpv4('203.0.113.1'));
      assert.equal(ip4(out).dst, parseIpv4('198.51.100.9'));
    }
  });

  it('translates fragments in place with the Fragment header ID, offset and MF (RFC 7915 §5.1.1)', () => {
    const whole = buildPacket({
      src: '2001:db8::7',
      dst: v6('198.51.100.9'),
      udp: { srcPort: 5353, dstPort: 53 },
      payload: new Uint8Array(2000).fill(7),
    });
    const pieces = fragmentIpv6(whole, 1280, 0x1234abcd) as Uint8Array[];
    assert.ok(Array.isArray(pieces) && pieces.length === 2);
    for (const piece of pieces) {
      const expected = once(piece.slice(), {}).emitted[0].slice();
      const r = once(piece, { inPlace6to4: true });
      assert.equal(r.emitted.length, 1);
      assert.equal(r.emitted[0].buffer, piece.buffer);
      assert.equal(
        r.emitted[0].byteOffset,
        piece.byteOffset + 48 - 20,
        'over the end of the Fragment header',
      );
      assert.deepEqual(r.emitted[0], expected);
      assert.equal(ip4(r.emitted[0]).identification, 0xabcd);
      assertChecksums(r.emitted[0], 'in-place IPv4 fragment');
    }
  });

  it('leaves the input alone when the packet must be fragmented for the IPv4 MTU, or is ICMPv6', () => {
    // A whole packet above 1260 bytes would get DF (and Packet Too Big): use a fragment (DF clear).
    const frag = (
      fragmentIpv6(
        buildPacket({
          src: '2001:db8::7',
          dst: v6('198.51.100.9'),
          udp: { srcPort: 1, dstPort: 2 },
          payload: new Uint8Array(3000),
        }),
        1500,
        9,
      ) as Uint8Array[]
    )[0];
    const fragCopy = frag.slice();
    const r = once(frag, { inPlace6to4: true, ipv4Mtu: 576 });
    assert.ok(r.emitted.length > 1, 'fragmented');
    assert.deepEqual(frag, fragCopy, 'input untouched');
    for (const f of r.emitted) assertChecksums(f, 'IPv4 fragment');
    const echo = buildPacket({
      src: '2001:db8::7',
      dst: v6('198.51.100.9'),
      icmpv6: { type: 128, code: 0, identifier: 7, sequence: 1, data: new Uint8Array(8).fill(1) },
    });
    const echoCopy = echo.slice();
    const e = once(echo, { inPlace6to4: true });
    assert.equal(e.emitted.length, 1);
    assert.deepEqual(echo, echoCopy, 'ICMPv6 is built in the scratch buffer');
    assertChecksums(e.emitted[0], 'ICMP echo');
  });

  it('never emits a bad checksum in place for arbitrary ports, addresses and payloads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        (port, v4, payload, udp) => {
          const pkt = buildPacket({
            src: '2001:db8::9',
            dst: prefix.format(v4),
            ...(udp
              ? { udp: { srcPort: port, dstPort: 80 } }
              : { tcp: { srcPort: port, dstPort: 80, flags: 0x10, seq: 1, ack: 1 } }),
            payload,
          });
          const r = once(pkt, { inPlace6to4: true });
          assert.equal(r.emitted.length, 1);
          assertChecksums(r.emitted[0], 'in-place packet');
          assert.equal(ip4(r.emitted[0]).dst, v4);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives the same IPv6 packet whether the mapper takes addresses as numbers or as bytes', () => {
    const calls: string[] = [];
    const bytes: Xlat4to6Mapper = {
      remote4: () => assert.fail('remote4At should be used'),
      local4: () => assert.fail('local4At should be used'),
      remote4At: (b, at, out, off) => {
        calls.push(
          `remote ${formatIpv4(((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0)}`,
        );
        prefix.embed(((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0, out, off);
        return true;
      },
      local4At: (b, at, _proto, port, out, off) => {
        calls.push(
          `local ${formatIpv4(((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0)}`,
        );
        prefix.embed(((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0, out, off);
        return port;
      },
    };
    const p4 = () =>
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.33',
        options: new Uint8Array([1, 1, 1, 0]), // 24-byte header: the data moves by a different amount
        tcp: { srcPort: 443, dstPort: 40000, flags: 0x10, seq: 1, ack: 1 },
        payload: 'bytes',
      });
    const a = run();
    a.to6(p4());
    const b = run();
    b.to6(p4(), bytes);
    assert.deepEqual(calls, ['remote 198.51.100.9', 'local 192.0.2.33']);
    assert.equal(b.out.length, 1);
    assert.deepEqual(b.out[0], a.out[0]);
    assertChecksums(b.out[0], 'IPv6 packet');
  });

  it('ignores bytes after the IPv4 Total Length when copying the data', () => {
    const p = buildPacket({
      src: '198.51.100.9',
      dst: '192.0.2.33',
      udp: { srcPort: 53, dstPort: 5353 },
      payload: 'trailer follows',
    });
    const padded = new Uint8Array(p.length + 30).fill(0xee);
    padded.set(p);
    const t = run();
    t.to6(padded);
    assert.equal(t.out.length, 1);
    assert.equal(t.out[0].length, 40 + p.length - 20);
    assertChecksums(t.out[0], 'IPv6 packet');
  });
});
