import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, formatIpv4, readIpv4 } from '@l3kit/wire';
import { Nat, type NatOptions } from '../src/index.js';

const SYN = 0x02;
const ACK = 0x10;

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
  nat.outside().setHandler((p) => {
    assertChecksums(p, 'outside packet');
    out.push(p.slice());
  });
  nat.inside().setHandler((p) => {
    assertChecksums(p, 'inside packet');
    inn.push(p.slice());
  });
  return { clock, nat, out, inn };
}
const sport = (p: Uint8Array) => (p[20] << 8) | p[21];
const dport = (p: Uint8Array) => (p[22] << 8) | p[23];
const src = (p: Uint8Array) => formatIpv4(readIpv4(p, 12));
const dst = (p: Uint8Array) => formatIpv4(readIpv4(p, 16));

describe('NAT44 smoke: features', () => {
  it('keeps one external port for every remote under EIM and a new one per remote under APDM', () => {
    for (const [mapping, same] of [
      ['endpoint-independent', true],
      ['address-and-port-dependent', false],
    ] as const) {
      const { nat, out } = setup({ mapping });
      nat
        .inside()
        .send(
          buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000, dstPort: 3478 } }),
        );
      nat
        .inside()
        .send(
          buildPacket({ src: '192.168.1.10', dst: '198.51.100.8', udp: { srcPort: 5000, dstPort: 3479 } }),
        );
      assert.equal(sport(out[0]) === sport(out[1]), same, mapping);
    }
  });

  it('keeps ports below 1024 below 1024 and keeps parity when asked', () => {
    const { nat, out } = setup({ portParity: true, portPreservation: false });
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 123, dstPort: 123 } }));
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5001, dstPort: 123 } }));
    assert.ok(sport(out[0]) < 1024 && sport(out[0]) % 2 === 1);
    assert.ok(sport(out[1]) >= 1024 && sport(out[1]) % 2 === 1);
  });

  it('forwards a port to an inside server and hairpins an inside client to it (TCP)', () => {
    const { nat, out, inn } = setup();
    nat.addPortForward({ proto: 6, outsidePort: 8080, insideIp: '192.168.1.20', insidePort: 80 });
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 1111, dstPort: 8080, flags: SYN },
      }),
    );
    assert.equal(dst(inn[0]), '192.168.1.20');
    assert.equal(dport(inn[0]), 80);
    nat.inside().send(
      buildPacket({
        src: '192.168.1.20',
        dst: '198.51.100.7',
        tcp: { srcPort: 80, dstPort: 1111, flags: SYN | ACK },
      }),
    );
    assert.equal(sport(out[0]), 8080);
    // hairpin from 192.168.1.10 to the forward
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '203.0.113.1',
        tcp: { srcPort: 4444, dstPort: 8080, flags: SYN },
      }),
    );
    assert.equal(inn.length, 2);
    assert.equal(src(inn[1]), '203.0.113.1');
    assert.equal(sport(inn[1]), 4444);
    nat.inside().send(
      buildPacket({
        src: '192.168.1.20',
        dst: '203.0.113.1',
        tcp: { srcPort: 80, dstPort: 4444, flags: SYN | ACK },
      }),
    );
    assert.equal(inn.length, 3);
    assert.equal(dst(inn[2]), '192.168.1.10');
    assert.equal(sport(inn[2]), 8080);
    assert.throws(
      () => nat.addPortForward({ proto: 6, outsidePort: 8080, insideIp: '192.168.1.21', insidePort: 80 }),
      { code: 'ERR_FORWARD_CONFLICT' },
    );
    assert.equal(nat.listPortForwards().length, 1);
    assert.equal(nat.removePortForward(6, 8080), true);
    assert.equal(nat.listPortForwards().length, 0);
  });

  it('rejects a flow beyond the tenant quota with ICMP 3/13 and evicts LRU when configured', () => {
    const { nat, out, inn } = setup({ maxMappingsPerTenant: 2 });
    for (let i = 0; i < 3; i++)
      nat
        .inside()
        .send(
          buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000 + i, dstPort: 53 } }),
        );
    assert.equal(out.length, 2);
    assert.equal(inn.length, 1);
    assert.equal(inn[0][20], 3);
    assert.equal(inn[0][21], 13);
    assert.equal(nat.stats.drops['tenant-limit'], 1);
    const b = setup({ maxMappingsPerTenant: 2, onTenantLimit: 'evict-lru' });
    for (let i = 0; i < 3; i++) {
      b.nat
        .inside()
        .send(
          buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000 + i, dstPort: 53 } }),
        );
      b.clock.advance(1000);
    }
    assert.equal(b.out.length, 3);
    assert.deepEqual(
      b.nat.mappings().map((r) => r.insidePort),
      [5001, 5002],
    );
  });

  it('lets an expected connection in once and maps it to the inside endpoint', () => {
    const { nat, inn } = setup();
    const used: number[] = [];
    nat.on('expectation-used', (e) => used.push(e.id));
    const port = nat.allocOutsidePort(6);
    const e = nat.addExpectation({
      proto: 6,
      insideIp: '192.168.1.10',
      insidePort: 2121,
      remoteIp: '198.51.100.7',
      externalPort: port.port,
    });
    nat.outside().send(
      buildPacket({
        src: '198.51.100.9',
        dst: '203.0.113.1',
        tcp: { srcPort: 20, dstPort: port.port, flags: SYN },
      }),
    );
    assert.equal(inn.length, 0);
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 20, dstPort: port.port, flags: SYN },
      }),
    );
    assert.equal(inn.length, 1);
    assert.equal(dport(inn[0]), 2121);
    assert.deepEqual(used, [e.id]);
    assert.equal(nat.listExpectations().length, 0);
  });

  it('shows a helper the packets of its connections in both directions', () => {
    const { nat, out } = setup();
    const seen: string[] = [];
    nat.addHelper({
      name: 'probe',
      proto: 6,
      ports: [21],
      onPacket(ctx) {
        seen.push(`${ctx.direction}:${ctx.payloadLen}:${formatIpv4(ctx.externalIp)}`);
        return undefined;
      },
    });
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        tcp: { srcPort: 40000, dstPort: 21, flags: SYN },
      }),
    );
    const ep = sport(out[0]);
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 21, dstPort: ep, flags: SYN | ACK },
        payload: '220 hi\r\n',
      }),
    );
    assert.deepEqual(seen, ['outbound:0:203.0.113.1', 'inbound:8:203.0.113.1']);
  });

  it('translates PPTP GRE call IDs through a helper-created mapping', () => {
    const { nat, out, inn } = setup();
    const rec = nat.createMapping({
      proto: 47,
      insideIp: '192.168.1.10',
      insidePort: 0x1111,
      remoteIp: '198.51.100.7',
      remotePort: 0x2222,
    });
    const gre = (s: string, d: string, callId: number) =>
      buildPacket({
        src: s,
        dst: d,
        gre: { protocolType: 0x880b, version: 1, callId },
        payload: new Uint8Array(4),
      });
    nat.inside().send(gre('192.168.1.10', '198.51.100.7', 0x2222));
    assert.equal(out.length, 1);
    assert.equal(src(out[0]), '203.0.113.1');
    nat.outside().send(gre('198.51.100.7', '203.0.113.1', rec.externalPort));
    assert.equal(inn.length, 1);
    assert.equal((inn[0][26] << 8) | inn[0][27], 0x1111);
  });

  it('translates ICMP errors quoting PPTP GRE in both directions', () => {
    const { nat, out, inn } = setup();
    const rec = nat.createMapping({
      proto: 47,
      insideIp: '192.168.1.10',
      insidePort: 0x1111,
      remoteIp: '198.51.100.7',
      remotePort: 0x2222,
    });
    const gre = (s: string, d: string, callId: number) =>
      buildPacket({
        src: s,
        dst: d,
        gre: { protocolType: 0x880b, version: 1, callId },
        payload: new Uint8Array(16),
      });
    nat.inside().send(gre('192.168.1.10', '198.51.100.7', 0x2222));
    const sent = out[0];
    nat.outside().send(
      buildPacket({
        src: '198.51.100.1',
        dst: '203.0.113.1',
        icmp: { type: 3, code: 4, mtu: 1400, data: sent.slice(0, 48) },
      }),
    );
    assert.equal(inn.length, 1, 'inbound error about GRE delivered');
    assert.equal(dst(inn[0]), '192.168.1.10');
    assert.equal(formatIpv4(readIpv4(inn[0], 28 + 12)), '192.168.1.10');
    nat.outside().send(gre('198.51.100.7', '203.0.113.1', rec.externalPort));
    const delivered = inn[1];
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        icmp: { type: 3, code: 2, data: delivered.slice(0, 48) },
      }),
    );
    const err = out[1];
    assert.equal(src(err), '203.0.113.1');
    assert.equal(
      (err[48 + 6] << 8) | err[48 + 7],
      rec.externalPort,
      'quoted call ID back to the external one',
    );
  });

  it('drops by rule and redirects (DNAT) by rule, replies coming from the original address', () => {
    const { nat, out, inn } = setup();
    nat.addDropRule({ proto: 17, dstPort: 9 });
    nat.addRedirectRule({
      proto: 17,
      dst: '198.51.100.53',
      dstPort: 53,
      toIp: '198.51.100.99',
      toPort: 5353,
    });
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000, dstPort: 9 } }));
    assert.equal(out.length, 0);
    assert.equal(nat.stats.drops['drop-rule'], 1);
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.53',
        udp: { srcPort: 5000, dstPort: 53 },
        payload: 'q',
      }),
    );
    assert.equal(dst(out[0]), '198.51.100.99');
    assert.equal(dport(out[0]), 5353);
    nat.outside().send(
      buildPacket({
        src: '198.51.100.99',
        dst: '203.0.113.1',
        udp: { srcPort: 5353, dstPort: sport(out[0]) },
        payload: 'a',
      }),
    );
    assert.equal(src(inn[0]), '198.51.100.53');
    assert.equal(sport(inn[0]), 53);
  });

  it('translates an ICMP error sent from inside about an inbound packet', () => {
    const { nat, out, inn } = setup({ filtering: 'endpoint-independent' });
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 5000, dstPort: 53 } }));
    const ep = sport(out[0]);
    nat.outside().send(
      buildPacket({
        src: '198.51.100.8',
        dst: '203.0.113.1',
        udp: { srcPort: 99, dstPort: ep },
        payload: 'zz',
      }),
    );
    const delivered = inn[0];
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.8',
        icmp: { type: 3, code: 3, data: delivered },
      }),
    );
    const err = out[1];
    assert.equal(src(err), '203.0.113.1');
    assert.equal(formatIpv4(readIpv4(err, 28 + 16)), '203.0.113.1');
    assert.equal((err[48 + 2] << 8) | err[48 + 3], ep);
  });

  it('completes a simultaneous open after a held inbound SYN', () => {
    const { nat, out, inn, clock } = setup();
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 6000, dstPort: 7000, flags: SYN },
      }),
    );
    nat.inside().send(
      buildPacket({
        src: '192.168.1.10',
        dst: '198.51.100.7',
        tcp: { srcPort: 7000, dstPort: 6000, flags: SYN },
      }),
    );
    assert.equal(sport(out[0]), 7000);
    nat.outside().send(
      buildPacket({
        src: '198.51.100.7',
        dst: '203.0.113.1',
        tcp: { srcPort: 6000, dstPort: 7000, flags: SYN },
      }),
    );
    assert.equal(inn.length, 1);
    assert.equal(nat.mappings()[0].state, 'ESTABLISHED');
    clock.advance(7000);
    nat.maintain();
    assert.equal(out.length, 1, 'no ICMP 3/3 for the held SYN');
  });

  it('frees every port of a tenant on cleanup (quarantined 120 s)', () => {
    const { nat, clock } = setup({ portPreservation: true });
    const dev = { setHandler() {}, send() {}, addr: () => undefined, setAddr() {}, close() {} };
    let h: ((p: Uint8Array) => void) | undefined;
    dev.setHandler = ((fn: (p: Uint8Array) => void) => {
      h = fn;
    }) as never;
    const cleanup = nat.connectL3(dev);
    h?.(buildPacket({ src: '10.9.9.9', dst: '198.51.100.7', udp: { srcPort: 6000, dstPort: 53 } }));
    assert.equal(nat.stats.activeMappings, 1);
    cleanup();
    assert.equal(nat.stats.activeMappings, 0);
    const out: Uint8Array[] = [];
    nat.outside().setHandler((p) => out.push(p.slice()));
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.10', dst: '198.51.100.7', udp: { srcPort: 6000, dstPort: 53 } }));
    assert.notEqual(sport(out[0]), 6000, 'port 6000 is quarantined');
    clock.advance(121_000);
    nat.maintain();
    nat
      .inside()
      .send(buildPacket({ src: '192.168.1.11', dst: '198.51.100.7', udp: { srcPort: 6000, dstPort: 53 } }));
    assert.equal(sport(out[1]), 6000);
  });

  it('rejects bad options with typed errors', () => {
    assert.throws(() => new Nat({ inside: 'x', outside: '203.0.113.1/24' }), { code: 'ERR_BAD_PREFIX' });
    assert.throws(
      () => new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', timeouts: { udp: 60_000 } }),
      {
        code: 'ERR_TIMEOUT_TOO_SHORT',
      },
    );
    assert.throws(
      () =>
        new Nat({
          inside: '192.168.1.1/24',
          outside: '203.0.113.1/24',
          type: 'symmetric',
          mapping: 'endpoint-independent',
        }),
      {
        code: 'ERR_CONFLICTING_OPTIONS',
      },
    );
  });
});
