import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, pipeL3 } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, formatIpv4, Icmpv4Packet, Ipv4Packet } from '@l3kit/wire';
import { Defragmenter } from '../src/defrag.js';
import { fragmentIpv4 } from '../src/fragment.js';
import { Nat, type NatOptions } from '../src/index.js';

function rig(opts: Partial<NatOptions> = {}) {
  const clock = new ManualClock(1_000);
  const nat = new Nat({
    inside: '192.168.1.1/24',
    outside: '203.0.113.1/24',
    clock,
    maintainIntervalMs: 0,
    ...opts,
  });
  const out: Uint8Array[] = [];
  const ins: Uint8Array[] = [];
  nat.outside().setHandler((p) => out.push(p.slice()));
  nat.inside().setHandler((p) => ins.push(p.slice()));
  return { nat, clock, out, ins };
}

const payload = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);

/** Reassembles what a NAT emitted, to check the datagram as a whole. */
function reassemble(frags: Uint8Array[]): Uint8Array {
  const d = new Defragmenter({ clock: new ManualClock(0), maintainIntervalMs: 0 });
  let whole: Uint8Array | undefined;
  d.setHandler((p) => {
    whole = p.slice();
  });
  for (const f of frags) d.send(f);
  assert.ok(whole, 'the emitted fragments do not reassemble');
  return whole;
}

describe('NAT44 with reassembly', () => {
  it('RFC 4787 REQ-14: accepts out-of-order fragments, translates the datagram and re-fragments it to the largest fragment size seen', () => {
    const { nat, out } = rig();
    const pkt = buildPacket({
      src: '192.168.1.10',
      dst: '198.51.100.7',
      identification: 4242,
      udp: { srcPort: 5000, dstPort: 53 },
      payload: payload(3000),
    });
    const frags = fragmentIpv4(pkt, 1200) as Uint8Array[];
    assert.equal(frags.length, 3);
    for (const f of [frags[2], frags[0], frags[1]]) nat.inside().send(f);
    assert.equal(out.length, 3);
    for (const f of out) {
      assert.ok(f.length <= 1200);
      assertChecksums(f, 'fragment');
      assert.equal(formatIpv4(Ipv4Packet.checked(f)!.src), '203.0.113.1');
    }
    const whole = reassemble(out);
    assertChecksums(whole, 'reassembled translated datagram');
    assert.deepEqual(whole.subarray(28), pkt.subarray(28));
    assert.equal(nat.defragStats().reassembled, 1);
  });

  it('reassembles inbound fragments of a reply and delivers them, re-fragmented, to the inside host', () => {
    const { nat, out, ins } = rig();
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        udp: { srcPort: 5000, dstPort: 53 },
        payload: 'q',
      }),
    );
    const ext = Ipv4Packet.checked(out[0])!;
    const extPort = (out[0][ext.headerLen] << 8) | out[0][ext.headerLen + 1];
    const reply = buildPacket({
      src: '198.51.100.7',
      dst: '203.0.113.1',
      identification: 7,
      udp: { srcPort: 53, dstPort: extPort },
      payload: payload(2500),
    });
    const frags = fragmentIpv4(reply, 1000) as Uint8Array[];
    for (const f of frags.reverse()) nat.outside().send(f);
    assert.equal(ins.length, 3);
    const whole = reassemble(ins);
    assertChecksums(whole);
    const w = Ipv4Packet.checked(whole)!;
    assert.equal(formatIpv4(w.dst), '192.168.1.10');
    assert.equal((whole[22] << 8) | whole[23], 5000);
  });

  it('keeps fragments of two tenants with the same addresses and IP ID apart', () => {
    const { nat, out } = rig();
    // Each tenant is one end of a pipe: what the test sends into `a` enters the NAT as tenant 1.
    const [a, natSideA] = pipeL3();
    const [b, natSideB] = pipeL3();
    const ca = nat.connectL3(natSideA);
    const cb = nat.connectL3(natSideB);
    const pa = buildPacket({
      src: '192.168.1.10',
      dst: '198.51.100.7',
      identification: 1,
      udp: { srcPort: 5000, dstPort: 53 },
      payload: payload(2000).fill(0xaa),
    });
    const pb = buildPacket({
      src: '192.168.1.10',
      dst: '198.51.100.7',
      identification: 1,
      udp: { srcPort: 5000, dstPort: 53 },
      payload: payload(2000).fill(0xbb),
    });
    const fa = fragmentIpv4(pa, 1000) as Uint8Array[];
    const fb = fragmentIpv4(pb, 1000) as Uint8Array[];
    // Interleave: each tenant's first fragment, then each tenant's rest.
    a.send(fa[0]);
    b.send(fb[0]);
    for (const f of fa.slice(1)) a.send(f);
    for (const f of fb.slice(1)) b.send(f);
    assert.equal(nat.defragStats().reassembled, 2);
    const wholes = [reassemble(out.slice(0, out.length / 2)), reassemble(out.slice(out.length / 2))];
    const bodies = wholes.map((w) => w[w.length - 1]).sort();
    assert.deepEqual(bodies, [0xaa, 0xbb]);
    const ports = wholes.map((w) => (w[20] << 8) | w[21]);
    assert.notEqual(ports[0], ports[1]);
    ca();
    cb();
  });

  it('RFC 4787 REQ-13: DF=1 and larger than the outside MTU gets ICMP 3/4 with the MTU, quoting the packet as the host sent it', () => {
    const { nat, out, ins } = rig({ mtu: 1400 });
    const pkt = buildPacket({
      src: '192.168.1.10',
      dst: '198.51.100.7',
      dontFragment: true,
      tcp: { srcPort: 40000, dstPort: 80, flags: 0x10, seq: 1, ack: 1 },
      payload: payload(1440),
    });
    // The flow exists (SYN first) so the error can be matched to it.
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        tcp: { srcPort: 40000, dstPort: 80, flags: 0x02 },
      }),
    );
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 80, dstPort: (out[0][20] << 8) | out[0][21], flags: 0x12, ack: 1 },
      }),
    );
    out.length = 0;
    ins.length = 0;
    nat.inside().send(pkt);
    assert.equal(out.length, 0);
    assert.equal(nat.stats.drops['too-big'], 1);
    assert.equal(ins.length, 1);
    assertChecksums(ins[0], 'ICMP 3/4');
    const ip = Ipv4Packet.checked(ins[0])!;
    assert.equal(formatIpv4(ip.dst), '192.168.1.10');
    const icmp = Icmpv4Packet.checked(ins[0], ip.headerLen)!;
    assert.equal(icmp.type, 3);
    assert.equal(icmp.code, 4);
    assert.equal(icmp.nextHopMtu, 1400);
    // The quoted header is the original one: inside source address and port.
    const q = ins[0].subarray(ip.headerLen + 8);
    assert.equal(formatIpv4(((q[12] << 24) | (q[13] << 16) | (q[14] << 8) | q[15]) >>> 0), '192.168.1.10');
    assert.equal((q[20] << 8) | q[21], 40000);
  });

  it('fragments a DF=0 packet larger than the outside MTU', () => {
    const { nat, out } = rig({ mtu: 576 });
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        udp: { srcPort: 5000, dstPort: 53 },
        payload: payload(1400),
      }),
    );
    assert.ok(out.length >= 3);
    for (const f of out) assert.ok(f.length <= 576);
    assertChecksums(reassemble(out));
  });

  it('drops fragments and counts them when reassembly is off', () => {
    const { nat, out } = rig({ defrag: false });
    const frags = fragmentIpv4(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        udp: { srcPort: 1, dstPort: 2 },
        payload: payload(2000),
      }),
      1000,
    ) as Uint8Array[];
    for (const f of frags) nat.inside().send(f);
    assert.equal(out.length, 0);
    assert.equal(nat.stats.drops.fragment, frags.length);
  });

  it('stays within the memory cap under a flood of fragments that never complete, and times them out', () => {
    const { nat, clock, ins } = rig({
      defrag: { highThresholdBytes: 128 * 1024, lowThresholdBytes: 96 * 1024 },
    });
    for (let i = 0; i < 3000; i++) {
      const f = fragmentIpv4(
        buildPacket({
          src: '192.168.1.10',
          dst: '198.51.100.7',
          identification: i,
          udp: { srcPort: 1, dstPort: 2 },
          payload: payload(1400),
        }),
        600,
      ) as Uint8Array[];
      nat.inside().send(f[0]);
    }
    const s = nat.defragStats();
    assert.ok(s.dropMemory > 0);
    clock.advance(30_000);
    nat.maintain();
    assert.ok(nat.defragStats().dropTimeout > 0);
    // Time exceeded (code 1) went back to the inside host for datagrams whose first fragment arrived.
    const te = ins.filter((p) => p[20] === 11 && p[21] === 1);
    assert.ok(te.length > 0);
    for (const p of te) assertChecksums(p);
  });
});
