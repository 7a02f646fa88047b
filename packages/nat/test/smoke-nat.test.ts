import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type L3Device, ManualClock, type PacketHandler, type Prefix } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, formatIpv4, readIpv4 } from '@l3kit/wire';
import { Nat, type NatOptions } from '../src/index.js';

const SYN = 0x02;
const ACK = 0x10;
const RST = 0x04;

function setup(extra: Partial<NatOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat({
    inside: '192.168.1.1/24',
    outside: '203.0.113.1/24',
    clock,
    maintainIntervalMs: 0,
    ...extra,
  });
  const out: Uint8Array[] = [];
  const inn: Uint8Array[] = [];
  nat.outside().setHandler((p) => out.push(p.slice()));
  nat.inside().setHandler((p) => inn.push(p.slice()));
  return { clock, nat, out, inn };
}

function srcOf(p: Uint8Array) {
  return `${formatIpv4(readIpv4(p, 12))}:${(p[20] << 8) | p[21]}`;
}
function dstOf(p: Uint8Array) {
  return `${formatIpv4(readIpv4(p, 16))}:${(p[22] << 8) | p[23]}`;
}

class Host implements L3Device {
  h: PacketHandler = () => {};
  got: Uint8Array[] = [];
  setHandler(h: PacketHandler) {
    this.h = h;
  }
  send(p: Uint8Array) {
    this.got.push(p.slice());
  }
  addr(): Prefix | undefined {
    return undefined;
  }
  setAddr() {}
  close() {}
}

describe('NAT44 smoke', () => {
  it('translates an outbound TCP SYN and its SYN/ACK reply with correct checksums', () => {
    const { nat, out, inn } = setup();
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        tcp: { srcPort: 40000, dstPort: 80, flags: SYN },
        payload: 'x',
      }),
    );
    assert.equal(out.length, 1);
    assertChecksums(out[0]);
    assert.equal(srcOf(out[0]), '203.0.113.1:40000');
    assert.equal(out[0][8], 63);
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 80, dstPort: 40000, flags: SYN | ACK },
      }),
    );
    assert.equal(inn.length, 1);
    assertChecksums(inn[0]);
    assert.equal(dstOf(inn[0]), '192.168.1.10:40000');
    const [rec] = nat.mappings();
    assert.equal(rec.state, 'ESTABLISHED');
    assert.equal(rec.packetsOut, 1);
    assert.equal(rec.packetsIn, 1);
    assert.match(nat.formatConntrack(), /ESTABLISHED src=192\.168\.1\.10/);
  });

  it('filters an inbound packet from another port under APDF and lets it in under EIF', () => {
    for (const [filtering, expect] of [
      ['address-and-port-dependent', 0],
      ['endpoint-independent', 1],
    ] as const) {
      const { nat, out, inn } = setup({ filtering });
      nat
        .inside()
        .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000, dstPort: 53 } }));
      const ep = (out[0][20] << 8) | out[0][21];
      nat
        .outside()
        .send(buildPacket({ src: '198.51.100.7', dst: '203.0.113.1', udp: { srcPort: 54, dstPort: ep } }));
      assert.equal(inn.length, expect, filtering);
      if (expect) assertChecksums(inn[0]);
      else assert.equal(nat.stats.drops.filtered, 1);
    }
  });

  it('gives two tenants with the same inside endpoint different external ports and keeps replies apart', () => {
    const { nat, out } = setup();
    const a = new Host();
    const b = new Host();
    const ca = nat.connectL3(a);
    nat.connectL3(b);
    a.h(buildPacket({ src: '10.0.0.2', dst: '198.51.100.7', udp: { srcPort: 7000, dstPort: 9 } }));
    b.h(buildPacket({ src: '10.0.0.2', dst: '198.51.100.7', udp: { srcPort: 7000, dstPort: 9 } }));
    const pa = (out[0][20] << 8) | out[0][21];
    const pb = (out[1][20] << 8) | out[1][21];
    assert.notEqual(pa, pb);
    nat
      .outside()
      .send(buildPacket({ src: '198.51.100.7', dst: '203.0.113.1', udp: { srcPort: 9, dstPort: pb } }));
    assert.equal(a.got.length, 0);
    assert.equal(b.got.length, 1);
    assertChecksums(b.got[0]);
    ca();
    assert.equal(nat.mappings().length, 1);
  });

  it('hairpins UDP with the external address and port as source', () => {
    const { nat, out, inn } = setup({ filtering: 'endpoint-independent' });
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.20', dst: '198.51.100.7', udp: { srcPort: 6000, dstPort: 9 } }));
    const pb = (out[0][20] << 8) | out[0][21];
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '203.0.113.1', udp: { srcPort: 5000, dstPort: pb } }));
    assert.equal(inn.length, 1);
    assertChecksums(inn[0]);
    assert.equal(srcOf(inn[0]), '203.0.113.1:5000');
    assert.equal(dstOf(inn[0]), '192.168.1.20:6000');
  });

  it('translates ICMP echo and an inbound ICMP error about a UDP flow without refreshing it', () => {
    const { nat, out, inn, clock } = setup();
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        icmp: { type: 8, code: 0, identifier: 77, sequence: 1 },
        payload: 'ping',
      }),
    );
    assertChecksums(out[0]);
    const eid = (out[0][24] << 8) | out[0][25];
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        icmp: { type: 0, code: 0, identifier: eid, sequence: 1 },
        payload: 'ping',
      }),
    );
    assertChecksums(inn[0]);
    assert.equal((inn[0][24] << 8) | inn[0][25], 77);
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        udp: { srcPort: 5000, dstPort: 53 },
        payload: 'q',
      }),
    );
    const sent = out[1];
    const before = nat.mappings().find((r) => r.proto === 17)!.expiresInMs;
    clock.advance(10_000);
    const err = buildPacket({
      src: '198.51.100.1',
      dst: '203.0.113.1',
      icmp: { type: 3, code: 3, data: sent.slice(0, 28) },
    });
    nat.outside().send(err);
    assert.equal(inn.length, 2);
    assertChecksums(inn[1]);
    assert.equal(formatIpv4(readIpv4(inn[1], 16)), '192.168.1.10');
    assert.equal(formatIpv4(readIpv4(inn[1], 28 + 12)), '192.168.1.10');
    assert.equal((inn[1][48] << 8) | inn[1][49], 5000);
    assert.equal(nat.mappings().find((r) => r.proto === 17)!.expiresInMs, before - 10_000);
  });

  it('expires a UDP mapping after 300 s and quarantines the port', () => {
    const { nat, clock } = setup();
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000, dstPort: 53 } }));
    clock.advance(299_000);
    nat.maintain();
    assert.equal(nat.mappings().length, 1);
    clock.advance(1_001);
    nat.maintain();
    assert.equal(nat.mappings().length, 0);
    assert.equal(nat.stats.mappingsExpired, 1);
  });

  it('holds an unsolicited SYN for 6 s then answers ICMP 3/3', () => {
    const { nat, out, clock } = setup();
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 1234, dstPort: 4000, flags: SYN },
      }),
    );
    assert.equal(out.length, 0);
    clock.advance(5_900);
    nat.maintain();
    assert.equal(out.length, 0);
    clock.advance(200);
    nat.maintain();
    assert.equal(out.length, 1);
    assertChecksums(out[0]);
    assert.equal(out[0][20], 3);
    assert.equal(out[0][21], 3);
  });

  it('keeps a session 4 minutes after RST', () => {
    const { nat, clock } = setup();
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        tcp: { srcPort: 40000, dstPort: 80, flags: SYN },
      }),
    );
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 80, dstPort: 40000, flags: RST },
      }),
    );
    assert.equal(nat.mappings()[0].state, 'CLOSE');
    clock.advance(239_000);
    nat.maintain();
    assert.equal(nat.mappings().length, 1);
    clock.advance(2_000);
    nat.maintain();
    assert.equal(nat.mappings().length, 0);
  });

  it('restores a snapshot mid-connection', () => {
    const { nat, out } = setup();
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        tcp: { srcPort: 40000, dstPort: 80, flags: SYN },
      }),
    );
    const ep = (out[0][20] << 8) | out[0][21];
    const snap = JSON.parse(JSON.stringify(nat.snapshot()));
    const clock = new ManualClock(5);
    const n2 = Nat.restore(snap, {
      inside: '192.168.1.1/24',
      outside: '203.0.113.1/24',
      clock,
      maintainIntervalMs: 0,
    });
    const inn: Uint8Array[] = [];
    n2.inside().setHandler((p) => inn.push(p.slice()));
    n2.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 80, dstPort: ep, flags: SYN | ACK },
      }),
    );
    assert.equal(inn.length, 1);
    assert.equal(dstOf(inn[0]), '192.168.1.10:40000');
  });
});
