import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, ManualClock } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import {
  buildPacket,
  Icmpv4Packet,
  Icmpv6Packet,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
} from '@l3kit/wire';
import fc from 'fast-check';
import { Defragmenter, type DefragOptions } from '../src/defrag.js';
import { fragmentIpv4, fragmentIpv6 } from '../src/fragment.js';

function setup(opts: DefragOptions = {}) {
  const clock = new ManualClock(1_000);
  const d = new Defragmenter({
    clock,
    maintainIntervalMs: 0,
    icmpSource4: '192.0.2.1',
    icmpSource6: '2001:db8::1',
    ...opts,
  });
  const out: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  const sizes: number[] = [];
  d.setHandler((p) => {
    out.push(p.slice());
    sizes.push(d.lastMaxFragmentSize);
  });
  d.setReplyHandler((p) => replies.push(p.slice()));
  return { clock, d, out, replies, sizes };
}

function udp4(size: number, id = 0x1234, dst = '198.51.100.7') {
  const payload = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
  return buildPacket({
    src: '192.168.1.10',
    dst,
    identification: id,
    udp: { srcPort: 5000, dstPort: 53 },
    payload,
  });
}

function tcp6(size: number) {
  const payload = new Uint8Array(size).map((_, i) => (i * 13 + 1) & 0xff);
  return buildPacket({
    src: '2001:db8:1::10',
    dst: '2001:db8:2::20',
    tcp: { srcPort: 4000, dstPort: 80, flags: 0x18, seq: 1, ack: 1 },
    payload,
  });
}

function frags4(pkt: Uint8Array, mtu: number): Uint8Array[] {
  const r = fragmentIpv4(pkt, mtu);
  assert.ok(Array.isArray(r), `fragmentIpv4 failed: ${r}`);
  return r;
}

function frags6(pkt: Uint8Array, mtu: number, id = 77): Uint8Array[] {
  const r = fragmentIpv6(pkt, mtu, id);
  assert.ok(Array.isArray(r), `fragmentIpv6 failed: ${r}`);
  return r;
}

describe('Defragmenter', () => {
  it('passes a non-fragment through as the same buffer', () => {
    const { d } = setup();
    const pkt = udp4(100);
    let got: Uint8Array | undefined;
    d.setHandler((p) => {
      got = p;
    });
    d.send(pkt);
    assert.equal(got, pkt);
    const v6 = tcp6(50);
    d.send(v6);
    assert.equal(got, v6);
    assert.equal(d.stats.passedThrough, 2);
    assert.equal(d.inFlight, 0);
  });

  it('reassembles IPv4 fragments that arrive out of order into the original datagram', () => {
    const { d, out, sizes } = setup();
    const pkt = udp4(3000);
    const fs = frags4(pkt, 1500);
    assert.equal(fs.length, 3);
    for (const f of fs) assertChecksums(f, 'fragment');
    for (const f of [fs[2], fs[0], fs[1]]) d.send(f);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], pkt);
    assertChecksums(out[0]);
    assert.equal(sizes[0], 1500);
    assert.equal(d.stats.reassembled, 1);
    assert.equal(d.inFlight, 0);
    assert.equal(d.memoryBytes, 0);
  });

  it('ignores exact duplicate fragments', () => {
    const { d, out } = setup();
    const fs = frags4(udp4(2000), 1000);
    d.send(fs[0]);
    d.send(fs[0]);
    d.send(fs[1]);
    d.send(fs[1]);
    d.send(fs[2]);
    assert.equal(out.length, 1);
    assert.ok(d.stats.duplicates >= 1);
  });

  it('drops the whole datagram on any overlap and keeps dropping its later fragments', () => {
    const { d, out } = setup();
    const pkt = udp4(2000);
    const fs = frags4(pkt, 1020); // data per fragment: 1000 bytes
    // A forged fragment overlapping the first one (offset 992, not a duplicate).
    const forged = frags4(udp4(2000), 1020)[1].slice();
    const v = Ipv4Packet.checked(forged)!;
    v.setFragment(false, true, 992);
    v.fillChecksum();
    d.send(fs[0]);
    d.send(forged);
    d.send(fs[1]);
    d.send(fs[2]);
    assert.equal(out.length, 0);
    assert.equal(d.stats.dropOverlap, 1);
    assert.ok(d.stats.dropPoisoned >= 1);
  });

  it('times out 30 s after the first fragment and sends ICMP time exceeded code 1 when the first fragment was seen', () => {
    const { d, clock, out, replies } = setup();
    const events: unknown[] = [];
    d.events.on('fragment-timeout', (e) => events.push(e));
    const fs = frags4(udp4(2000), 1000);
    d.send(fs[0]);
    clock.advance(29_999);
    assert.equal(d.maintain(), 0);
    d.send(fs[1]); // later fragments do not extend the timer
    clock.advance(1);
    assert.equal(d.maintain(), 1);
    assert.equal(out.length, 0);
    assert.equal(replies.length, 1);
    assertChecksums(replies[0], 'time exceeded');
    const ip = Ipv4Packet.checked(replies[0])!;
    const icmp = Icmpv4Packet.checked(replies[0], ip.headerLen)!;
    assert.equal(icmp.type, 11);
    assert.equal(icmp.code, 1);
    assert.equal(d.stats.dropTimeout, 1);
    assert.equal(events.length, 1);
  });

  it('sends no ICMP on timeout when the first fragment never arrived', () => {
    const { d, clock, replies } = setup();
    const fs = frags4(udp4(2000), 1000);
    d.send(fs[1]);
    clock.advance(30_000);
    d.maintain();
    assert.equal(replies.length, 0);
    assert.equal(d.stats.dropTimeout, 1);
  });

  it('drops RFC 1858 tiny fragments: TCP at offset 8 and a first fragment shorter than the TCP header', () => {
    const { d } = setup();
    const tcp = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      identification: 9,
      tcp: { srcPort: 1, dstPort: 2, flags: 2 },
      payload: new Uint8Array(100),
    });
    const first = frags4(tcp, 28)[0]; // 8 bytes of TCP header only
    d.send(first);
    const atEight = frags4(tcp, 36)[1].slice();
    const v = Ipv4Packet.checked(atEight)!;
    v.setFragment(false, true, 8);
    v.fillChecksum();
    d.send(atEight);
    assert.equal(d.stats.dropTiny, 2);
    assert.equal(d.inFlight, 0);
  });

  it('drops a datagram that would exceed 65535 bytes', () => {
    const { d } = setup();
    const f = frags4(udp4(2000), 1000)[1].slice();
    const v = Ipv4Packet.checked(f)!;
    v.setFragment(false, true, 65528);
    v.fillChecksum();
    d.send(f);
    assert.equal(d.stats.dropTooLarge, 1);
  });

  it('drops non-last fragments whose length is not a multiple of 8', () => {
    const { d } = setup();
    const whole = frags4(udp4(2000), 1000)[0];
    const f = whole.slice(0, whole.length - 3);
    f[2] = f.length >> 8;
    f[3] = f.length & 0xff;
    Ipv4Packet.checked(f)!.fillChecksum();
    d.send(f);
    assert.equal(d.stats.dropBadLength, 1);
  });

  it('keeps memory under the high threshold during a flood of hostile fragments', () => {
    const { d } = setup({
      highThresholdBytes: 256 * 1024,
      lowThresholdBytes: 192 * 1024,
      maxDatagrams: 100_000,
    });
    let peak = 0;
    for (let i = 0; i < 5000; i++) {
      const fs = frags4(udp4(1400, i & 0xffff, `198.51.100.${i % 250}`), 600);
      d.send(fs[1]); // never the whole datagram
      peak = Math.max(peak, d.memoryBytes);
    }
    assert.ok(peak <= 256 * 1024, `peak ${peak}`);
    assert.ok(d.stats.dropMemory > 0);
  });

  it('limits datagrams in flight by evicting the oldest', () => {
    const { d } = setup({ maxDatagrams: 4 });
    for (let i = 0; i < 10; i++) d.send(frags4(udp4(1400, i), 600)[0]);
    assert.equal(d.inFlight, 4);
    assert.equal(d.stats.dropInFlightLimit, 6);
  });

  it('limits fragments per datagram', () => {
    const { d } = setup({ maxFragmentsPerDatagram: 4 });
    for (const f of frags4(udp4(2000), 100)) d.send(f);
    assert.equal(d.stats.dropTooManyFragments, 1);
    assert.equal(d.stats.reassembled, 0);
  });

  it('reassembles IPv6 fragments out of order, removing the Fragment header', () => {
    const { d, out } = setup();
    const pkt = tcp6(3000);
    const fs = frags6(pkt, 1280);
    assert.ok(fs.length >= 3);
    for (const f of fs.slice().reverse()) d.send(f);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], pkt);
    assertChecksums(out[0]);
  });

  it('keeps a Hop-by-Hop header in the unfragmentable part and relinks the chain', () => {
    const { d, out } = setup();
    const inner = tcp6(2000);
    // Insert a Hop-by-Hop header (PadN) after the fixed header.
    const hbh = Uint8Array.from([inner[6], 0, 1, 4, 0, 0, 0, 0]);
    const pkt = new Uint8Array(inner.length + 8);
    pkt.set(inner.subarray(0, 40), 0);
    pkt.set(hbh, 40);
    pkt.set(inner.subarray(40), 48);
    pkt[6] = 0;
    const pl = pkt.length - 40;
    pkt[4] = pl >> 8;
    pkt[5] = pl & 0xff;
    const fs = frags6(pkt, 1280);
    const chain = new Ipv6HeaderChain();
    assert.ok(chain.parse(Ipv6Packet.checked(fs[0])!));
    assert.equal(chain.fragmentHeaderOffset, 48);
    d.send(fs[1]);
    d.send(fs[0]);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], pkt);
  });

  it('drops an IPv6 first fragment without the upper-layer header (RFC 7112)', () => {
    const { d } = setup();
    const pkt = tcp6(100);
    // Make the first fragment hold only 8 bytes of the TCP header.
    const frag = new Uint8Array(40 + 8 + 8);
    frag.set(pkt.subarray(0, 40), 0);
    frag[6] = 44;
    frag[40] = 6;
    frag[43] = 1; // offset 0, M = 1
    frag[47] = 5; // id
    frag.set(pkt.subarray(40, 48), 48);
    frag[4] = 0;
    frag[5] = 16;
    d.send(frag);
    assert.equal(d.stats.dropTiny, 1);
  });

  it('answers an IPv6 timeout with ICMPv6 time exceeded code 1', () => {
    const { d, clock, replies } = setup();
    const fs = frags6(tcp6(3000), 1280);
    d.send(fs[0]);
    clock.advance(30_000);
    d.maintain();
    assert.equal(replies.length, 1);
    assertChecksums(replies[0]);
    const icmp = Icmpv6Packet.checked(replies[0], 40)!;
    assert.equal(icmp.type, 3);
    assert.equal(icmp.code, 1);
  });

  it('rejects bad options with a typed error', () => {
    assert.throws(
      () => new Defragmenter({ timeoutMs: 0 }),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_DEFRAG_OPTION',
    );
    assert.throws(() => new Defragmenter({ highThresholdBytes: 10, lowThresholdBytes: 20 }), ConfigError);
    assert.throws(() => new Defragmenter({ icmpSource4: '2001:db8::1' }), ConfigError);
  });

  it('never throws on arbitrary bytes or mutated fragments, and emits only valid datagrams', () => {
    const { d, out } = setup({ maxDatagrams: 64 });
    const base = [...frags4(udp4(1200), 500), ...frags6(tcp6(1500), 1280)];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(fc.nat(base.length - 1), fc.nat(1500), fc.nat(255)).map(([i, at, v]) => {
            const p = base[i].slice();
            p[at % p.length] = v;
            return p;
          }),
          fc
            .tuple(fc.nat(base.length - 1), fc.nat(1500))
            .map(([i, cut]) => base[i].slice(0, cut % base[i].length)),
        ),
        (bytes) => {
          d.send(bytes);
        },
      ),
      { numRuns: 10_000 },
    );
    for (const p of out) assert.ok(p[0] >> 4 === 4 || p[0] >> 4 === 6);
  });
});

describe('fragmentIpv4 / fragmentIpv6', () => {
  it('refuses to fragment an IPv4 packet with DF set', () => {
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      dontFragment: true,
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(2000),
    });
    assert.equal(fragmentIpv4(pkt, 1500), 'dont-fragment');
  });

  it('returns the packet itself when it fits', () => {
    const pkt = udp4(100);
    const r = fragmentIpv4(pkt, 1500);
    assert.ok(Array.isArray(r) && r[0] === pkt);
  });

  it('keeps only copied options in later IPv4 fragments, with valid checksums', () => {
    // Option 0x94 (Router Alert, copied) and 0x07 (Record Route, not copied).
    const options = Uint8Array.from([0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 0]);
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      options,
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(1000),
    });
    const fs = frags4(pkt, 500);
    assert.equal(Ipv4Packet.checked(fs[0])!.headerLen, 32);
    assert.equal(Ipv4Packet.checked(fs[1])!.headerLen, 24);
    for (const f of fs) {
      assertChecksums(f);
      assert.ok(f.length <= 500);
    }
  });

  it('produces IPv6 fragments no larger than the MTU, multiples of 8 except the last', () => {
    const fs = frags6(tcp6(4000), 1280, 0xdeadbeef);
    const chain = new Ipv6HeaderChain();
    fs.forEach((f, i) => {
      assert.ok(f.length <= 1280);
      assert.ok(chain.parse(Ipv6Packet.checked(f)!));
      assert.equal(chain.fragmentId, 0xdeadbeef);
      assert.equal(chain.moreFragments, i < fs.length - 1);
      if (i < fs.length - 1) assert.equal((f.length - 48) % 8, 0);
    });
  });
});
