import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type L3Device, ManualClock, type PacketHandler } from '@l3kit/core';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import { buildPacket, formatIpv4, formatIpv6, parseIpv6 } from '@l3kit/wire';
import fc from 'fast-check';
import { Defragmenter } from '../src/defrag.js';
import { fragmentIpv4, fragmentIpv6 } from '../src/fragment.js';
import { Nat64, type Nat64Options, type Nat64Snapshot } from '../src/nat64.js';

const PREFIX = '2001:db8:64::/96';
const H1 = '2001:db8::10';
const H2 = '2001:db8::20';
const R1 = '198.51.100.7';
const R2 = '198.51.100.8';
const POOL = '203.0.113.1';

function isFragment(p: Uint8Array): boolean {
  return p[0] >> 4 === 4 ? ((p[6] & 0x3f) | p[7]) !== 0 : p[6] === 44;
}

function rig(opts: Partial<Nat64Options> = {}) {
  const clock = new ManualClock(1_000_000);
  const nat = new Nat64({
    prefix: PREFIX,
    inside: '2001:db8::1/64',
    outside: `${POOL}/24`,
    clock,
    maintainIntervalMs: 0,
    ...opts,
  } as Nat64Options);
  const out4: Uint8Array[] = [];
  const out6: Uint8Array[] = [];
  nat.outside().setHandler((p) => {
    if (!isFragment(p)) assertChecksums(p, 'packet emitted on the IPv4 side');
    out4.push(p.slice());
  });
  nat.inside().setHandler((p) => {
    if (!isFragment(p)) assertChecksums(p, 'packet emitted on the IPv6 side');
    out6.push(p.slice());
  });
  const v6 = (a: string) => nat.ipv6Of(a);
  return {
    clock,
    nat,
    out4,
    out6,
    v6,
    send6: (p: Uint8Array) => nat.inside().send(p),
    send4: (p: Uint8Array) => nat.outside().send(p),
    one4(): Uint8Array {
      assert.equal(out4.length, 1, `expected one IPv4 packet, got ${out4.length}`);
      return out4.pop() as Uint8Array;
    },
    one6(): Uint8Array {
      assert.equal(out6.length, 1, `expected one IPv6 packet, got ${out6.length}`);
      return out6.pop() as Uint8Array;
    },
  };
}

const src4 = (p: Uint8Array) => formatIpv4(((p[12] << 24) | (p[13] << 16) | (p[14] << 8) | p[15]) >>> 0);
const dst4 = (p: Uint8Array) => formatIpv4(((p[16] << 24) | (p[17] << 16) | (p[18] << 8) | p[19]) >>> 0);
const src6 = (p: Uint8Array) => formatIpv6(p, 8);
const dst6 = (p: Uint8Array) => formatIpv6(p, 24);
const port = (p: Uint8Array, at: number, which: 0 | 2) => (p[at + which] << 8) | p[at + which + 1];

function udp6(src: string, sport: number, dst: string, dport: number, payload = 'hello') {
  return buildPacket({ src, dst, udp: { srcPort: sport, dstPort: dport }, payload });
}
function tcp6(src: string, sport: number, dst: string, dport: number, flags: number, payload?: string) {
  return buildPacket({
    src,
    dst,
    tcp: { srcPort: sport, dstPort: dport, flags, seq: 100, ack: flags & 0x10 ? 1 : 0 },
    payload,
  });
}
function udp4(src: string, sport: number, dport: number, payload = 'reply', dst = POOL) {
  return buildPacket({ src, dst, udp: { srcPort: sport, dstPort: dport }, payload });
}
function tcp4(src: string, sport: number, dport: number, flags: number, dst = POOL) {
  return buildPacket({
    src,
    dst,
    tcp: { srcPort: sport, dstPort: dport, flags, seq: 500, ack: flags & 0x10 ? 101 : 0 },
  });
}

describe('RFC 6146 §3.5.1: UDP', () => {
  it('translates an outbound datagram to the pool address and the reply back to the IPv6 node', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53, 'query'));
    const o = t.one4();
    assert.equal(src4(o), POOL);
    assert.equal(dst4(o), R1);
    const ext = port(o, 20, 0);
    assert.equal(ext, 40000, 'the port is preserved when free');
    assert.equal(new TextDecoder().decode(o.subarray(28)), 'query');
    t.send4(udp4(R1, 53, ext, 'answer'));
    const r = t.one6();
    assert.equal(src6(r), t.v6(R1));
    assert.equal(dst6(r), H1);
    assert.equal(port(r, 40, 0), 53);
    assert.equal(port(r, 40, 2), 40000);
    assert.equal(new TextDecoder().decode(r.subarray(48)), 'answer');
    assert.equal(t.nat.stats.packetsOut, 1);
    assert.equal(t.nat.stats.packetsIn, 1);
    const [m] = t.nat.mappings();
    assert.equal(m.state, 'ASSURED');
    assert.equal(m.insideIp, H1);
    assert.equal(m.remoteIp, R1);
    assert.equal(m.remoteIp6, t.v6(R1));
  });

  it('keeps one IPv4 transport address for one IPv6 transport address across remotes (endpoint-independent mapping)', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.send6(udp6(H1, 40000, t.v6(R2), 1234));
    const [a, b] = t.out4;
    assert.equal(src4(a), src4(b));
    assert.equal(port(a, 20, 0), port(b, 20, 0));
    assert.equal(t.nat.stats.activeMappings, 1);
    assert.equal(t.nat.stats.activeSessions, 2);
  });

  it('drops IPv4 packets from a remote the IPv6 node never contacted under address-dependent filtering (the default)', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    const ext = port(t.one4(), 20, 0);
    t.send4(udp4(R2, 53, ext));
    assert.equal(t.out6.length, 0);
    assert.equal(t.nat.stats.drops.filtered, 1);
    // Another port of a contacted address is let in (address-dependent, not port-dependent).
    t.send4(udp4(R1, 9999, ext));
    assert.equal(t.one6().length > 0, true);
  });

  it('lets any remote reach a mapping with endpoint-independent filtering', () => {
    const t = rig({ filtering: 'endpoint-independent' });
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    const ext = port(t.one4(), 20, 0);
    t.send4(udp4(R2, 7777, ext, 'x'));
    const r = t.one6();
    assert.equal(src6(r), t.v6(R2));
    assert.equal(t.nat.stats.drops.filtered, 0);
  });

  it('drops an IPv4 packet to a pool port without a BIB entry (no-mapping) and one to another address (not-for-us)', () => {
    const t = rig();
    t.send4(udp4(R1, 53, 40000));
    t.send4(udp4(R1, 53, 40000, 'x', '203.0.113.77'));
    assert.equal(t.nat.stats.drops['no-mapping'], 1);
    assert.equal(t.nat.stats.drops['not-for-us'], 1);
    assert.equal(t.out6.length, 0);
  });
});

describe('RFC 6146 §3.5.2: TCP', () => {
  it('translates a handshake both ways and tracks the session as ESTABLISHED with TCP_EST', () => {
    const t = rig();
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x02));
    const syn = t.one4();
    assert.equal(syn[33], 0x02);
    const ext = port(syn, 20, 0);
    assert.equal(t.nat.mappings()[0].state, 'SYN_SENT');
    t.send4(tcp4(R1, 80, ext, 0x12));
    const synack = t.one6();
    assert.equal(synack[40 + 13], 0x12);
    assert.equal(port(synack, 40, 2), 40000);
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x10, 'GET /'));
    t.one4();
    const [m] = t.nat.mappings();
    assert.equal(m.state, 'ESTABLISHED');
    assert.equal(m.expiresInMs, 7_440_000);
    assert.match(
      t.nat.formatConntrack(),
      /ESTABLISHED src=2001:db8::10 dst=2001:db8:64::c633:6407 sport=40000 dport=80/,
    );
  });

  it('does not create a binding for an outbound TCP segment that is not a SYN', () => {
    const t = rig();
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x10));
    assert.equal(t.out4.length, 0);
    assert.equal(t.nat.stats.drops['no-mapping'], 1);
    assert.equal(t.nat.stats.activeMappings, 0);
  });

  it('holds an inbound SYN without a BIB entry for 6 s, then answers ICMP 3/3 with the stored SYN (§3.5.2.2 V4 SYN hold)', () => {
    const t = rig();
    t.send4(tcp4(R1, 5555, 40000, 0x02));
    assert.equal(t.nat.stats.synHeld, 1);
    assert.equal(t.out4.length + t.out6.length, 0);
    t.clock.advance(5_900);
    t.nat.maintain();
    assert.equal(t.out4.length, 0, 'still held before 6 s');
    t.clock.advance(200);
    t.nat.maintain();
    const err = t.one4();
    assert.equal(err[9], 1);
    assert.equal(err[20], 3);
    assert.equal(err[21], 3);
    // The error quotes the stored SYN.
    assert.equal(src4(err.subarray(28)), R1);
    assert.equal(port(err, 48, 0), 5555);
    assert.equal(port(err, 48, 2), 40000);
    assert.equal(src4(err), POOL);
    assert.equal(dst4(err), R1);
    assert.equal(t.nat.stats.drops['unsolicited-syn'], 1);
  });

  it('drops the held inbound SYN silently when the IPv6 SYN of the same connection goes out within 6 s', () => {
    const t = rig();
    t.send4(tcp4(R1, 5555, 40000, 0x02));
    t.clock.advance(2_000);
    t.send6(tcp6(H1, 40000, t.v6(R1), 5555, 0x02));
    const syn = t.one4();
    assert.equal(port(syn, 20, 0), 40000);
    assert.equal(t.nat.stats.synHoldMatched, 1);
    t.clock.advance(10_000);
    t.nat.maintain();
    assert.equal(t.out4.length, 0, 'no ICMP after the hold');
    assert.equal(t.nat.stats.drops['unsolicited-syn'], 0);
  });
});

describe('RFC 6146 §3.5.3: ICMP query', () => {
  it('translates an echo request with the identifier as the port and the echo reply back', () => {
    const t = rig();
    t.send6(
      buildPacket({
        src: H1,
        dst: t.v6(R1),
        icmpv6: { type: 128, code: 0, identifier: 77, sequence: 1 },
        payload: 'ping',
      }),
    );
    const req = t.one4();
    assert.equal(req[20], 8);
    const id = port(req, 24, 0);
    t.send4(
      buildPacket({
        src: R1,
        dst: POOL,
        icmp: { type: 0, code: 0, identifier: id, sequence: 1 },
        payload: 'ping',
      }),
    );
    const rep = t.one6();
    assert.equal(rep[40], 129);
    assert.equal(port(rep, 44, 0), 77);
    assert.equal(dst6(rep), H1);
    assert.equal(t.nat.mappings()[0].protoName, 'icmp');
  });
});

describe('RFC 6146 §4: lifetimes', () => {
  it('expires a UDP session after UDP_DEFAULT (5 min) and removes the BIB entry with its last session', () => {
    const t = rig();
    const expired: string[] = [];
    t.nat.on('mapping-expired', (m) => expired.push(`${m.protoName} ${m.remoteIp}`));
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.clock.advance(299_900);
    t.nat.maintain();
    assert.equal(t.nat.stats.activeSessions, 1);
    t.clock.advance(200);
    t.nat.maintain();
    assert.equal(t.nat.stats.activeSessions, 0);
    assert.equal(t.nat.stats.activeMappings, 0);
    assert.deepEqual(expired, [`udp ${R1}`]);
    assert.equal(t.nat.stats.mappingsExpired, 1);
  });

  it('refreshes a UDP session with traffic', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.clock.advance(200_000);
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.clock.advance(200_000);
    t.nat.maintain();
    assert.equal(t.nat.stats.activeSessions, 1);
  });

  it('expires ICMP after 60 s, a half-open TCP session after TCP_TRANS (4 min), an established one after TCP_EST', () => {
    const t = rig();
    t.send6(
      buildPacket({ src: H1, dst: t.v6(R1), icmpv6: { type: 128, code: 0, identifier: 1, sequence: 1 } }),
    );
    t.send6(tcp6(H1, 40001, t.v6(R1), 80, 0x02));
    t.send6(tcp6(H1, 40002, t.v6(R1), 80, 0x02));
    const ext = port(t.out4[2], 20, 0);
    t.send4(tcp4(R1, 80, ext, 0x12));
    t.clock.advance(60_100);
    t.nat.maintain();
    assert.deepEqual(
      t.nat.mappings().map((m) => m.protoName),
      ['tcp', 'tcp'],
    );
    t.clock.advance(240_000 - 60_000);
    t.nat.maintain();
    assert.deepEqual(
      t.nat.mappings().map((m) => `${m.insidePort} ${m.state}`),
      ['40002 ESTABLISHED'],
    );
    t.clock.advance(7_440_000 - 240_000 - 1_000);
    t.nat.maintain();
    assert.equal(t.nat.stats.activeSessions, 1);
    t.clock.advance(1_200);
    t.nat.maintain();
    assert.equal(t.nat.stats.activeSessions, 0);
  });

  it('rejects lifetimes below the RFC 6146 minimums with ERR_TIMEOUT_TOO_SHORT', () => {
    for (const [k, v] of [
      ['udp', 119_999],
      ['icmp', 59_999],
      ['tcpEstablished', 7_439_999],
      ['tcpTransitory', 239_999],
      ['tcpIncomingSyn', 5_999],
    ] as const) {
      assert.throws(
        () =>
          new Nat64({
            inside: '2001:db8::1/64',
            outside: '203.0.113.1/24',
            maintainIntervalMs: 0,
            timeouts: { [k]: v },
          }),
        { code: 'ERR_TIMEOUT_TOO_SHORT' },
        k,
      );
    }
    assert.throws(() => new Nat64({ inside: '10.0.0.1/8', outside: '203.0.113.1/24' }), {
      code: 'ERR_BAD_PREFIX',
    });
    assert.throws(() => new Nat64({ inside: '2001:db8::1/64', outside: '2001:db8::2/64' }), {
      code: 'ERR_BAD_PREFIX',
    });
    assert.throws(
      () => new Nat64({ inside: '2001:db8::1/64', outside: '203.0.113.1/24', prefix: '2001:db8::/33' }),
      {
        code: 'ERR_BAD_PREFIX',
      },
    );
    assert.throws(
      () =>
        new Nat64({ inside: '2001:db8::1/64', outside: '203.0.113.1/24', filtering: 'symmetric' as never }),
      { code: 'ERR_BAD_OPTION' },
    );
    assert.throws(
      () => new Nat64({ inside: '2001:db8::1/64', outside: '203.0.113.1/24', portRange: { udp: [5, 2] } }),
      { code: 'ERR_BAD_PORT_RANGE' },
    );
  });
});

describe('RFC 6146 §3.8: hairpinning and static bindings', () => {
  it('forwards inbound connections to a static binding from any remote and answers from the server', () => {
    const t = rig();
    t.nat.addStaticBinding({ proto: 6, ipv6: H2, port6: 80, port4: 8080 });
    t.send4(tcp4(R2, 33333, 8080, 0x02));
    const syn = t.one6();
    assert.equal(dst6(syn), H2);
    assert.equal(port(syn, 40, 2), 80);
    t.send6(tcp6(H2, 80, t.v6(R2), 33333, 0x12));
    const synack = t.one4();
    assert.equal(src4(synack), POOL);
    assert.equal(port(synack, 20, 0), 8080);
    assert.equal(t.nat.mappings().find((m) => m.remoteIp === R2)?.state, 'ESTABLISHED');
    assert.throws(() => t.nat.addStaticBinding({ proto: 6, ipv6: H1, port6: 81, port4: 8080 }), {
      code: 'ERR_PORT_IN_USE',
    });
    assert.throws(() => t.nat.addStaticBinding({ proto: 6, ipv6: H2, port6: 80, port4: 8081 }), {
      code: 'ERR_FORWARD_CONFLICT',
    });
    assert.equal(t.nat.listStaticBindings().length, 1);
    assert.equal(t.nat.removeStaticBinding(6, 8080), true);
    assert.equal(t.nat.stats.activeMappings, 0);
    t.send4(tcp4(R2, 33334, 8080, 0x10));
    assert.equal(t.nat.stats.drops['no-mapping'], 1);
  });

  it('hairpins an IPv6 packet addressed to a pool address back inside, with the client seen at its own pool address', () => {
    const t = rig();
    t.nat.addStaticBinding({ proto: 17, ipv6: H2, port6: 5000, port4: 6000 });
    t.send6(udp6(H1, 40000, t.v6(POOL), 6000, 'hairpin'));
    assert.equal(t.out4.length, 0);
    const p = t.one6();
    assert.equal(dst6(p), H2);
    assert.equal(port(p, 40, 2), 5000);
    assert.equal(src6(p), t.v6(POOL));
    const clientExt = port(p, 40, 0);
    assert.equal(t.nat.stats.hairpinned, 1);
    // The server answers the client's pool transport address; it goes back to the client.
    t.send6(udp6(H2, 5000, t.v6(POOL), clientExt, 'back'));
    const back = t.one6();
    assert.equal(dst6(back), H1);
    assert.equal(port(back, 40, 2), 40000);
    assert.equal(src6(back), t.v6(POOL));
    assert.equal(port(back, 40, 0), 6000);
  });

  it('drops hairpinned traffic when hairpinning is off', () => {
    const t = rig({ hairpinning: false });
    t.nat.addStaticBinding({ proto: 17, ipv6: H2, port6: 5000, port4: 6000 });
    t.send6(udp6(H1, 40000, t.v6(POOL), 6000));
    assert.equal(t.out6.length + t.out4.length, 0);
    assert.equal(t.nat.stats.drops['no-hairpin'], 1);
  });
});

describe('RFC 6146 §3.5.1.1: no BIB entry can be made', () => {
  it('answers ICMPv6 1/3 (address unreachable) when the pool ports are exhausted', () => {
    const t = rig({ portRange: { udp: [2000, 2001] }, timeouts: { portReuse: 0 } });
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.send6(udp6(H1, 40001, t.v6(R1), 53));
    assert.equal(t.out4.length, 2);
    t.send6(udp6(H1, 40002, t.v6(R1), 53, 'third'));
    assert.equal(t.out4.length, 2);
    const err = t.one6();
    assert.equal(err[6], 58);
    assert.equal(err[40], 1);
    assert.equal(err[41], 3);
    assert.equal(src6(err), '2001:db8::1');
    assert.equal(dst6(err), H1);
    assert.equal(t.nat.stats.drops['ports-exhausted'], 1);
    assert.equal(t.nat.stats.icmpErrorsSent, 1);
  });

  it('answers ICMPv6 1/3 when maxMappings is reached', () => {
    const t = rig({ maxMappings: 1 });
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.send6(udp6(H2, 40000, t.v6(R1), 53));
    assert.equal(t.out4.length, 1);
    assert.equal(t.one6()[40], 1);
    assert.equal(t.nat.stats.drops['table-full'], 1);
  });
});

describe('RFC 6146 §3.5.3 / RFC 7915: ICMP errors', () => {
  it('translates an ICMPv4 port unreachable about an outbound datagram into ICMPv6 1/4 quoting the original IPv6 packet', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53, 'q'));
    const o = t.one4();
    t.send4(buildPacket({ src: '198.51.100.1', dst: POOL, icmp: { type: 3, code: 3, data: o } }));
    const e = t.one6();
    assert.equal(e[40], 1);
    assert.equal(e[41], 4);
    assert.equal(dst6(e), H1);
    assert.equal(src6(e), t.v6('198.51.100.1'));
    // The quoted packet is the IPv6 node's own datagram again.
    const inner = e.subarray(48);
    assert.equal(formatIpv6(inner, 8), H1);
    assert.equal(formatIpv6(inner, 24), t.v6(R1));
    assert.equal(port(inner, 40, 0), 40000);
    assert.equal(t.nat.stats.icmpErrorsTranslated, 1);
    // Errors never refresh or create state.
    assert.equal(t.nat.stats.activeSessions, 1);
  });

  it('translates an ICMPv6 error from the IPv6 node about an inbound datagram into ICMPv4 with the pool address quoted', () => {
    const t = rig({ filtering: 'endpoint-independent' });
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    const ext = port(t.one4(), 20, 0);
    t.send4(udp4(R2, 999, ext, 'unwanted'));
    const inbound = t.one6();
    t.send6(buildPacket({ src: H1, dst: t.v6(R2), icmpv6: { type: 1, code: 4, data: inbound } }));
    const e = t.one4();
    assert.equal(e[20], 3);
    assert.equal(e[21], 3);
    assert.equal(src4(e), POOL);
    assert.equal(dst4(e), R2);
    const inner = e.subarray(28);
    assert.equal(src4(inner), R2);
    assert.equal(dst4(inner), POOL);
    assert.equal(port(inner, 20, 2), ext);
  });

  it('drops an ICMPv4 error that quotes no BIB entry', () => {
    const t = rig();
    const fake = buildPacket({ src: POOL, dst: R1, udp: { srcPort: 4444, dstPort: 53 } });
    t.send4(buildPacket({ src: R1, dst: POOL, icmp: { type: 3, code: 3, data: fake } }));
    assert.equal(t.out6.length, 0);
    assert.equal(t.nat.stats.drops['icmp-error-no-mapping'], 1);
  });
});

class FakeHost implements L3Device {
  received: Uint8Array[] = [];
  private out: PacketHandler = () => {};
  setHandler(h: PacketHandler) {
    this.out = h;
  }
  send(p: Uint8Array) {
    assertChecksums(p, 'packet to a tenant');
    this.received.push(p.slice());
  }
  transmit(p: Uint8Array) {
    this.out(p);
  }
  addr() {
    return undefined;
  }
  setAddr() {}
  close() {}
}

describe('Nat64 tenants', () => {
  it('keeps tenants with the same IPv6 address apart and cleans up a detached tenant', () => {
    const t = rig();
    const a = new FakeHost();
    const b = new FakeHost();
    const detachA = t.nat.connectL3(a);
    const detachB = t.nat.connectL3(b);
    assert.deepEqual([detachA.tenant, detachB.tenant], [1, 2]);
    a.transmit(udp6(H1, 40000, t.v6(R1), 53, 'from a'));
    b.transmit(udp6(H1, 40000, t.v6(R1), 53, 'from b'));
    const [oa, ob] = t.out4.splice(0);
    const pa = port(oa, 20, 0);
    const pb = port(ob, 20, 0);
    assert.notEqual(pa, pb);
    t.send4(udp4(R1, 53, pb, 'to b'));
    t.send4(udp4(R1, 53, pa, 'to a'));
    assert.equal(new TextDecoder().decode(a.received[0].subarray(48)), 'to a');
    assert.equal(new TextDecoder().decode(b.received[0].subarray(48)), 'to b');
    assert.deepEqual(
      t.nat
        .mappings()
        .map((m) => m.tenant)
        .sort(),
      [1, 2],
    );
    assert.equal(t.nat.tenantOf(b), 2);
    detachA();
    assert.deepEqual(
      t.nat.mappings().map((m) => m.tenant),
      [2],
    );
    t.send4(udp4(R1, 53, pa));
    assert.equal(a.received.length, 1);
    assert.equal(t.nat.stats.drops['no-mapping'], 1);
  });
});

describe('Nat64 snapshot', () => {
  it('restores a connection mid-stream: the restarted NAT64 keeps the binding, the state and the remaining lifetime', () => {
    const t = rig();
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x02));
    const ext = port(t.one4(), 20, 0);
    t.send4(tcp4(R1, 80, ext, 0x12));
    t.one6();
    t.clock.advance(1_000);
    const snap = JSON.parse(JSON.stringify(t.nat.snapshot())) as Nat64Snapshot;
    t.nat.close();
    const again = Nat64.restore(snap, {
      prefix: PREFIX,
      inside: '2001:db8::1/64',
      outside: `${POOL}/24`,
      clock: t.clock,
      maintainIntervalMs: 0,
    });
    const got: Uint8Array[] = [];
    again.inside().setHandler((p) => {
      assertChecksums(p);
      got.push(p.slice());
    });
    const [m] = again.mappings();
    assert.equal(m.state, 'ESTABLISHED');
    assert.equal(m.externalPort, ext);
    assert.equal(m.expiresInMs, 7_440_000 - 1_000);
    again.outside().send(tcp4(R1, 80, ext, 0x18));
    assert.equal(got.length, 1);
    assert.equal(dst6(got[0]), H1);
    assert.throws(
      () => Nat64.restore({ version: 2 } as never, { inside: '2001:db8::1/64', outside: '203.0.113.1/24' }),
      {
        code: 'ERR_BAD_SNAPSHOT',
      },
    );
    again.close();
  });

  it('refuses a snapshot that gives a binding or a session twice (ERR_BAD_SNAPSHOT)', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53, 'q'));
    t.one4();
    const snap = JSON.parse(JSON.stringify(t.nat.snapshot())) as Nat64Snapshot;
    t.nat.close();
    const opts = { prefix: PREFIX, inside: '2001:db8::1/64', outside: `${POOL}/24`, maintainIntervalMs: 0 };
    const [b] = snap.bindings;
    const twiceBinding = { ...snap, bindings: [b, { ...b, port4: b.port4 + 1 }] };
    assert.throws(() => Nat64.restore(twiceBinding, opts), {
      code: 'ERR_BAD_SNAPSHOT',
      message: /given twice/,
    });
    const twiceSession = { ...snap, bindings: [{ ...b, sessions: [b.sessions[0], b.sessions[0]] }] };
    assert.throws(() => Nat64.restore(twiceSession, opts), {
      code: 'ERR_BAD_SNAPSHOT',
      message: /given twice/,
    });
    // The same binding for another tenant is not a duplicate.
    const other = Nat64.restore({ ...snap, bindings: [b, { ...b, tenant: 1, port4: b.port4 + 1 }] }, opts);
    assert.equal(other.mappings().length, 2);
    other.close();
  });
});

describe('Nat64 fragments', () => {
  it('reassembles IPv6 fragments, translates the datagram and re-fragments it for the IPv4 MTU', () => {
    const t = rig({ ipv4Mtu: 1500 });
    const big = udp6(H1, 40000, t.v6(R1), 53, 'x'.repeat(3000));
    const frags = fragmentIpv6(big, 1280, 7);
    assert.ok(Array.isArray(frags) && frags.length === 3);
    for (const f of frags.reverse()) t.send6(f);
    assert.equal(t.out6.length, 0, 'no Packet Too Big for a datagram the sender fragmented');
    assert.ok(t.out4.length >= 2);
    assert.equal(t.nat.stats.fragmentsReassembled, 1);
    // Reassemble the IPv4 fragments and check the whole datagram.
    const d = new Defragmenter({ maintainIntervalMs: 0 });
    let whole: Uint8Array | null = null;
    d.setHandler((p) => {
      whole = p.slice();
    });
    for (const f of t.out4) {
      assert.ok(f.length <= 1500);
      assert.equal(f[6] & 0x40, 0, 'DF clear');
      d.send(f);
    }
    assert.ok(whole);
    assertChecksums(whole as Uint8Array, 'reassembled IPv4 datagram');
    assert.equal((whole as Uint8Array).length, 20 + 8 + 3000);
  });

  it('reassembles IPv4 fragments and translates the reply to IPv6 fragments of the lowest IPv6 MTU', () => {
    const t = rig();
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    const ext = port(t.one4(), 20, 0);
    const big = udp4(R1, 53, ext, 'y'.repeat(2000));
    const frags = fragmentIpv4(big, 576);
    assert.ok(Array.isArray(frags) && frags.length > 2);
    for (const f of frags) t.send4(f);
    assert.ok(t.out6.length >= 2);
    const d = new Defragmenter({ maintainIntervalMs: 0 });
    let whole: Uint8Array | null = null;
    d.setHandler((p) => {
      whole = p.slice();
    });
    for (const f of t.out6) {
      assert.ok(f.length <= 1280);
      d.send(f);
    }
    assert.ok(whole);
    assertChecksums(whole as Uint8Array, 'reassembled IPv6 datagram');
    assert.equal(dst6(whole as Uint8Array), H1);
  });
});

describe('Nat64 addressing modes', () => {
  it('uses ::ffff:a.b.c.d addresses in ipv4MappedMode', () => {
    const t = rig({ prefix: undefined, ipv4MappedMode: true });
    t.send6(udp6(H1, 40000, '::ffff:198.51.100.7', 53));
    const o = t.one4();
    assert.equal(dst4(o), R1);
    t.send4(udp4(R1, 53, port(o, 20, 0)));
    assert.equal(src6(t.one6()), '::ffff:c633:6407');
  });

  it('refuses non-global IPv4 addresses under the Well-Known Prefix (RFC 6052 §3.1)', () => {
    const t = rig({ prefix: '64:ff9b::/96' });
    t.send6(udp6(H1, 40000, '64:ff9b::c633:6407', 53)); // 198.51.100.7: documentation, not global
    assert.equal(t.out4.length, 0);
    assert.equal(t.nat.stats.drops['not-for-us'], 1);
    t.send6(udp6(H1, 40000, '64:ff9b::808:808', 53)); // 8.8.8.8
    assert.equal(dst4(t.one4()), '8.8.8.8');
  });
});

describe('Nat64 robustness', () => {
  it('never throws on arbitrary or mutated packets on either interface, and every packet it emits has valid checksums', () => {
    const t = rig({ filtering: 'endpoint-independent', ipv4Mtu: 1000 });
    t.nat.addStaticBinding({ proto: 6, ipv6: H2, port6: 80, port4: 8080 });
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.send6(tcp6(H1, 40001, t.v6(R1), 80, 0x02));
    t.send6(
      buildPacket({ src: H1, dst: t.v6(R1), icmpv6: { type: 128, code: 0, identifier: 9, sequence: 1 } }),
    );
    const seeds = [
      udp6(H1, 40000, t.v6(R1), 53, 'z'.repeat(100)),
      tcp6(H1, 40001, t.v6(R1), 80, 0x10, 'data'),
      udp6(H1, 40000, t.v6(POOL), 8080),
      buildPacket({ src: H1, dst: t.v6(R1), icmpv6: { type: 128, code: 0, identifier: 9, sequence: 2 } }),
      buildPacket({
        src: H1,
        dst: t.v6(R1),
        icmpv6: { type: 1, code: 4, data: udp6(t.v6(R1), 53, H1, 40000) },
      }),
      udp4(R1, 53, 40000, 'w'.repeat(1200)),
      tcp4(R2, 1, 8080, 0x02),
      tcp4(R1, 80, 40001, 0x12),
      buildPacket({ src: R1, dst: POOL, icmp: { type: 0, code: 0, identifier: 9, sequence: 2 } }),
      buildPacket({ src: R1, dst: POOL, icmp: { type: 3, code: 4, mtu: 0, data: t.out4[0] } }),
    ];
    t.out4.length = 0;
    t.out6.length = 0;
    let translated = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          // Arbitrary bytes, to either side.
          fc.tuple(fc.uint8Array({ maxLength: 120 }), fc.boolean()),
          // A seed with one byte changed (anywhere: header or payload), to its own side.
          fc
            .tuple(fc.nat(seeds.length - 1), fc.integer({ min: 0, max: 1400 }), fc.nat(255))
            .map(([i, at, v]): [Uint8Array, boolean] => {
              const p = seeds[i].slice();
              p[at % p.length] = v;
              return [p, p[0] >> 4 === 6 || seeds[i][0] >> 4 === 6];
            }),
          // A truncated seed, to its own side.
          fc
            .tuple(fc.nat(seeds.length - 1), fc.integer({ min: 0, max: 1400 }))
            .map(([i, cut]): [Uint8Array, boolean] => [
              seeds[i].slice(0, cut % seeds[i].length),
              seeds[i][0] >> 4 === 6,
            ]),
        ),
        ([bytes, inside]) => {
          const ok = verifyPacket(bytes).ok;
          const emitted: Uint8Array[] = [];
          t.nat.inside().setHandler((p) => emitted.push(p.slice()));
          t.nat.outside().setHandler((p) => emitted.push(p.slice()));
          if (inside) t.send6(bytes);
          else t.send4(bytes);
          t.clock.advance(10); // 50 s over the run: the seed sessions stay alive
          t.nat.maintain();
          translated += emitted.length;
          if (!ok) return;
          for (const p of emitted) if (!isFragment(p)) assertChecksums(p, 'emitted packet');
        },
      ),
      { numRuns: 5_000 },
    );
    assert.ok(
      translated > 300,
      `the corpus must exercise translation, not only drops (${translated} emitted)`,
    );
  });
});

describe('Nat64 state details', () => {
  it('emits mapping-created once per BIB entry and mapping-removed when a static entry goes', () => {
    const t = rig();
    const created: string[] = [];
    const removed: string[] = [];
    t.nat.on('mapping-created', (m) =>
      created.push(`${m.kind} ${m.protoName} [${m.insideIp}]:${m.insidePort} ${m.state}`),
    );
    t.nat.on('mapping-removed', (m) => removed.push(`${m.kind} ${m.externalPort}`));
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.send6(udp6(H1, 40000, t.v6(R2), 53));
    t.nat.addStaticBinding({ proto: 17, ipv6: H2, port6: 5000, port4: 6000 });
    t.nat.removeStaticBinding(17, 6000);
    assert.deepEqual(created, [`dynamic udp [${H1}]:40000 UNREPLIED`, `static udp [${H2}]:5000 LISTEN`]);
    assert.deepEqual(removed, ['static 6000']);
  });

  it('answers a hop limit of 1 with ICMPv6 time exceeded and keeps no state for the dropped packet', () => {
    const t = rig();
    t.send6(buildPacket({ src: H1, dst: t.v6(R1), hopLimit: 1, udp: { srcPort: 40000, dstPort: 53 } }));
    assert.equal(t.out4.length, 0);
    const e = t.one6();
    assert.equal(e[40], 3);
    assert.equal(e[41], 0);
    assert.equal(t.nat.stats.drops['ttl-exceeded'], 1);
    assert.equal(t.nat.stats.icmpErrorsSent, 1);
    assert.equal(t.nat.stats.activeMappings, 0, 'the binding made for the packet was rolled back');
    assert.equal(t.nat.stats.mappingsCreated, 0);
  });

  it('gives every port of one IPv6 address the same pool address (paired pooling)', () => {
    const t = rig({ outsidePool: ['203.0.113.2', '203.0.113.3', '203.0.113.4'] });
    for (let i = 0; i < 8; i++) t.send6(udp6(H1, 41000 + i, t.v6(R1), 53));
    assert.equal(new Set(t.out4.map(src4)).size, 1);
    const others = [
      '2001:db8::a1',
      '2001:db8::a2',
      '2001:db8::a3',
      '2001:db8::a4',
      '2001:db8::a5',
      '2001:db8::a6',
    ];
    t.out4.length = 0;
    for (const h of others) t.send6(udp6(h, 41000, t.v6(R1), 53));
    assert.ok(new Set(t.out4.map(src4)).size > 1, 'different IPv6 addresses spread over the pool');
  });

  it('moves a TCP session to TIME_WAIT on both FINs and to CLOSE on RST, with TCP_TRANS and no refresh', () => {
    const t = rig();
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x02));
    const ext = port(t.one4(), 20, 0);
    t.send4(tcp4(R1, 80, ext, 0x12));
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x11));
    t.send4(tcp4(R1, 80, ext, 0x11));
    let [m] = t.nat.mappings();
    assert.equal(m.state, 'TIME_WAIT');
    assert.equal(m.expiresInMs, 240_000);
    t.clock.advance(100_000);
    t.send6(tcp6(H1, 40000, t.v6(R1), 80, 0x10));
    [m] = t.nat.mappings();
    assert.equal(m.expiresInMs, 140_000, 'TIME_WAIT is not refreshed');
    t.send6(tcp6(H1, 40001, t.v6(R1), 80, 0x02));
    t.send6(tcp6(H1, 40001, t.v6(R1), 80, 0x04));
    assert.equal(t.nat.mappings().find((r) => r.insidePort === 40001)?.state, 'CLOSE');
    t.clock.advance(140_100);
    t.nat.maintain();
    assert.deepEqual(
      t.nat.mappings().map((r) => r.insidePort),
      [40001],
    );
  });

  it('drops packets after close() and refuses new tenants with ERR_CLOSED', () => {
    const t = rig();
    t.nat.close();
    t.send6(udp6(H1, 40000, t.v6(R1), 53));
    t.send4(udp4(R1, 53, 40000));
    assert.equal(t.nat.stats.drops.closed, 2);
    assert.throws(() => t.nat.connectL3(new FakeHost()), { code: 'ERR_CLOSED' });
  });

  it('keeps static bindings across snapshot and restore', () => {
    const t = rig();
    t.nat.addStaticBinding({ proto: 6, ipv6: H2, port6: 80, port4: 8080 });
    const snap = JSON.parse(JSON.stringify(t.nat.snapshot())) as Nat64Snapshot;
    const again = Nat64.restore(snap, {
      prefix: PREFIX,
      inside: '2001:db8::1/64',
      outside: `${POOL}/24`,
      clock: t.clock,
      maintainIntervalMs: 0,
    });
    assert.deepEqual(again.listStaticBindings(), t.nat.listStaticBindings());
    const got: Uint8Array[] = [];
    again.inside().setHandler((p) => got.push(p.slice()));
    again.outside().send(tcp4(R2, 1234, 8080, 0x02));
    assert.equal(got.length, 1);
    assert.equal(dst6(got[0]), H2);
    again.close();
  });
});

describe('Nat64 fast path: IPv6 → IPv4 in the input buffer', () => {
  it('emits a translated TCP segment as a view of the buffer it was given, with the Well-Known Prefix too', () => {
    // Under the Well-Known Prefix only global IPv4 addresses may be embedded (RFC 6052 §3.1).
    for (const [prefix, remote] of [
      [PREFIX, R1],
      ['64:ff9b::/96', '93.184.216.34'],
    ]) {
      const clock = new ManualClock(1_000_000);
      const nat = new Nat64({
        prefix,
        inside: '2001:db8::1/64',
        outside: `${POOL}/24`,
        clock,
        maintainIntervalMs: 0,
      });
      const seen: Uint8Array[] = [];
      nat.outside().setHandler((p) => {
        assertChecksums(p, 'packet emitted on the IPv4 side');
        seen.push(p);
      });
      const syn = buildPacket({
        src: H1,
        dst: nat.ipv6Of(remote),
        tcp: { srcPort: 40000, dstPort: 80, flags: 0x02, seq: 1 },
        payload: 'hello',
      });
      nat.inside().send(syn);
      assert.equal(seen.length, 1);
      const v4 = seen[0];
      assert.equal(v4.buffer, syn.buffer, 'no copy: the IPv4 packet is written over the IPv6 header');
      assert.equal(v4.length, syn.length - 20);
      assert.equal(formatIpv4(((v4[12] << 24) | (v4[13] << 16) | (v4[14] << 8) | v4[15]) >>> 0), POOL);
      assert.equal(formatIpv4(((v4[16] << 24) | (v4[17] << 16) | (v4[18] << 8) | v4[19]) >>> 0), remote);
      assert.equal(new TextDecoder().decode(v4.subarray(40)), 'hello');
      nat.close();
    }
  });

  it('refuses a destination under the Well-Known Prefix that embeds a non-global IPv4 address (RFC 6052 §3.1)', () => {
    const clock = new ManualClock(1_000_000);
    const nat = new Nat64({
      prefix: '64:ff9b::/96',
      inside: '2001:db8::1/64',
      outside: `${POOL}/24`,
      clock,
      maintainIntervalMs: 0,
    });
    let n = 0;
    nat.outside().setHandler(() => n++);
    nat.inside().send(
      buildPacket({
        src: H1,
        dst: '64:ff9b::a00:1',
        tcp: { srcPort: 40000, dstPort: 80, flags: 0x02, seq: 1 },
      }),
    );
    assert.equal(n, 0);
    assert.equal(nat.stats.drops['not-for-us'], 1);
    nat.close();
  });
});

describe('Nat64 outsideHeadroom: IPv4 → IPv6 in the input buffer', () => {
  function established(outsideHeadroom: boolean) {
    const clock = new ManualClock(1_000_000);
    const nat = new Nat64({
      prefix: PREFIX,
      inside: '2001:db8::1/64',
      outside: `${POOL}/24`,
      clock,
      maintainIntervalMs: 0,
      outsideHeadroom,
    });
    const seen: Uint8Array[] = [];
    nat.inside().setHandler((p) => {
      assertChecksums(p, 'packet emitted on the IPv6 side');
      seen.push(p);
    });
    let syn4: Uint8Array | undefined;
    nat.outside().setHandler((p) => {
      syn4 = p.slice();
    });
    nat.inside().send(
      buildPacket({
        src: H1,
        dst: nat.ipv6Of(R1),
        tcp: { srcPort: 40000, dstPort: 80, flags: 0x02, seq: 1 },
      }),
    );
    const port = ((syn4 as Uint8Array)[20] << 8) | (syn4 as Uint8Array)[21];
    nat
      .outside()
      .send(
        buildPacket({ src: R1, dst: POOL, tcp: { srcPort: 80, dstPort: port, flags: 0x12, seq: 9, ack: 2 } }),
      );
    seen.length = 0;
    const data = buildPacket({
      src: R1,
      dst: POOL,
      dontFragment: true,
      tcp: { srcPort: 80, dstPort: port, flags: 0x18, seq: 10, ack: 2 },
      payload: 'from the IPv4 side',
    });
    return { nat, seen, data };
  }

  it('writes the IPv6 header into the 20 bytes before the packet and emits a view of the same buffer', () => {
    const { nat, seen, data } = established(true);
    const whole = new Uint8Array(64 + data.length).fill(0xee);
    whole.set(data, 64);
    nat.outside().send(whole.subarray(64));
    assert.equal(seen.length, 1);
    const v6 = seen[0];
    assert.equal(v6.buffer, whole.buffer, 'no copy');
    assert.equal(v6.byteOffset, 44);
    assert.equal(v6.length, data.length + 20);
    assert.equal(formatIpv6(v6, 24), H1);
    assert.equal(new TextDecoder().decode(v6.subarray(60)), 'from the IPv4 side');
    assert.ok(
      whole.subarray(0, 44).every((b) => b === 0xee),
      'nothing before the 20 bytes of headroom is touched',
    );
    nat.close();
  });

  it('copies a packet with less than 20 bytes before it, and copies always without the option', () => {
    for (const [option, head] of [
      [true, 19],
      [false, 64],
    ] as const) {
      const { nat, seen, data } = established(option);
      const whole = new Uint8Array(head + data.length).fill(0xee);
      whole.set(data, head);
      nat.outside().send(whole.subarray(head));
      assert.equal(seen.length, 1);
      assert.notEqual(seen[0].buffer, whole.buffer, `copied (option ${option}, ${head} bytes before)`);
      assert.ok(whole.subarray(0, head).every((b) => b === 0xee));
      assert.equal(new TextDecoder().decode(seen[0].subarray(60)), 'from the IPv4 side');
      nat.close();
    }
  });

  it('refuses a non-boolean outsideHeadroom', () => {
    assert.throws(
      () =>
        new Nat64({
          inside: '2001:db8::1/64',
          outside: '203.0.113.1/24',
          outsideHeadroom: 1 as unknown as boolean,
        }),
      { code: 'ERR_BAD_OPTION', message: /outsideHeadroom must be a boolean/ },
    );
  });
});

describe('Nat64 addresses from bytes for every RFC 6052 prefix length', () => {
  it('extracts the IPv4 destination and embeds the IPv4 source at the right bytes for /32 to /96', () => {
    for (const prefix of [
      '2001:db9::/32',
      '2001:db9:100::/40',
      '2001:db9:122::/48',
      '2001:db9:122:300::/56',
      '2001:db9:122:344::/64',
      '2001:db9:122:344::/96',
    ]) {
      const r = rig({ prefix });
      r.send6(buildPacket({ src: H1, dst: r.v6(R1), udp: { srcPort: 5000, dstPort: 53 }, payload: 'q' }));
      const q = r.one4();
      assert.equal(formatIpv4(((q[16] << 24) | (q[17] << 16) | (q[18] << 8) | q[19]) >>> 0), R1, prefix);
      const port = (q[20] << 8) | q[21];
      r.send4(buildPacket({ src: R1, dst: POOL, udp: { srcPort: 53, dstPort: port }, payload: 'a' }));
      const a = r.one6();
      assert.equal(formatIpv6(a, 8), formatIpv6(parseIpv6(r.v6(R1)) as Uint8Array, 0), prefix);
      assert.equal(formatIpv6(a, 24), H1);
      r.nat.close();
    }
  });
});
