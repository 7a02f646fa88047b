import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildIcmpv4Error,
  buildIcmpv6Error,
  buildPacket,
  formatPacket,
  formatTimeOfDay,
  GreProtocolType,
  TcpFlags,
} from '../src/index.js';
import { printFixtures } from './fixtures/print-fixtures.js';

/** Asserts the printer's safety net never fired and the output is one line. */
function assertSane(line: string): void {
  assert.equal(typeof line, 'string');
  assert.ok(!line.includes('printer error'), line);
  assert.ok(!line.includes('\n'), line);
  assert.ok(line.length > 0);
}

describe('formatPacket golden lines', () => {
  for (const f of printFixtures) {
    it(`prints the ${f.name} fixture: ${f.description}`, () => {
      assert.equal(formatPacket(f.packet), f.line);
      if (f.verbose !== undefined) assert.equal(formatPacket(f.packet, { verbose: true }), f.verbose);
    });
  }

  it('agrees with the independent checksum oracle about which fixtures carry bad checksums', () => {
    for (const f of printFixtures) {
      if (f.line.includes('[malformed') || f.line.includes('frag ')) continue;
      // The oracle sums the pseudo-header over the IPv6 header's destination; with segments left
      // in a Routing header RFC 8200 §8.1 wants the final destination (tshark agrees with us).
      if (f.name === 'routing6') continue;
      const flagged = f.line.includes('[bad ');
      const report = verifyPacket(f.packet);
      assert.equal(
        !report.ok,
        flagged,
        `${f.name}: oracle ${JSON.stringify(report.problems)} vs "${f.line}"`,
      );
    }
  });
});

describe('formatPacket with packets built by buildPacket', () => {
  it('prints UDP, TCP, ICMP, ICMPv6 and GRE packets from the builder', () => {
    const udp = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      udp: { srcPort: 5000, dstPort: 53 },
      payload: 'x'.repeat(12),
    });
    assert.equal(formatPacket(udp), 'IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12');
    const synAck = buildPacket({
      src: '2001:db8::2',
      dst: '2001:db8::1',
      tcp: {
        srcPort: 80,
        dstPort: 40000,
        seq: 7,
        ack: 1001,
        flags: TcpFlags.SYN | TcpFlags.ACK,
        window: 65160,
        mss: 1440,
        sackPermitted: true,
        windowScale: 7,
      },
    });
    const line = formatPacket(synAck);
    assert.match(
      line,
      /^IP6 2001:db8::2\.80 > 2001:db8::1\.40000: Flags \[S\.\], seq 7, ack 1001, win 65160, options \[/,
    );
    assert.match(line, /mss 1440/);
    assert.match(line, /sackOK/);
    assert.match(line, /wscale 7/);
    assert.match(line, /\], length 0$/);
    const ping = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      icmpv6: { type: 129, code: 0, identifier: 9, sequence: 300, data: new Uint8Array(10) },
    });
    assert.equal(
      formatPacket(ping),
      'IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo reply, id 9, seq 300, length 18',
    );
    const gre = buildPacket({
      src: '192.168.1.10',
      dst: '198.51.100.1',
      gre: { version: 1, protocolType: GreProtocolType.Ppp, callId: 7, ack: 2 },
    });
    assert.equal(formatPacket(gre), 'IP 192.168.1.10 > 198.51.100.1: GREv1, call 7, ack 2, length 12');
    for (const p of [udp, synAck, ping, gre]) assert.ok(verifyPacket(p).ok);
  });

  it('summarizes the packet quoted in ICMP and ICMPv6 errors built by the error builders', () => {
    const probe = buildPacket({
      src: '10.0.0.1',
      dst: '10.9.9.9',
      ttl: 1,
      udp: { srcPort: 33434, dstPort: 33435 },
      payload: new Uint8Array(32),
    });
    const te = buildIcmpv4Error(probe, { src: '10.0.0.254', type: 11, code: 0 });
    assert.ok(te);
    assert.ok(verifyPacket(te).ok);
    assert.match(
      formatPacket(te),
      /^IP 10\.0\.0\.254 > 10\.0\.0\.1: ICMP time exceeded in-transit, length \d+ \(quoting IP 10\.0\.0\.1\.33434 > 10\.9\.9\.9\.33435: UDP, length 32\)$/,
    );
    const big = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::9',
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(1400),
    });
    const ptb = buildIcmpv6Error(big, { src: '2001:db8::fe', type: 2, code: 0, mtu: 1280 });
    assert.ok(ptb);
    assert.ok(verifyPacket(ptb).ok);
    assert.equal(
      formatPacket(ptb),
      'IP6 2001:db8::fe > 2001:db8::1: ICMP6, packet too big, mtu 1280, length 1240 (quoting IP6 2001:db8::1.1 > 2001:db8::9.2: UDP, length 1400)',
    );
  });

  it('keeps the original fragment size when summarizing a quoted, truncated fragment', () => {
    const first = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      identification: 77,
      moreFragments: true,
      udp: { srcPort: 5000, dstPort: 6000 },
      payload: new Uint8Array(1472),
    });
    assert.equal(formatPacket(first), 'IP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 1472 (frag 77:1480@0+)');
    const err = buildIcmpv4Error(first, { src: '10.0.0.2', type: 11, code: 1 });
    assert.ok(err);
    assert.ok(verifyPacket(err).ok);
    assert.match(
      formatPacket(err),
      /^IP 10\.0\.0\.2 > 10\.0\.0\.1: ICMP ip reassembly time exceeded, length \d+ \(quoting IP 10\.0\.0\.1\.5000 > 10\.0\.0\.2\.6000: UDP, length 1472 \(frag 77:1480@0\+\)\)$/,
    );
    const first6 = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      identification: 78,
      moreFragments: true,
      udp: { srcPort: 5000, dstPort: 6000 },
      payload: new Uint8Array(1400),
    });
    const err6 = buildIcmpv6Error(first6, { src: '2001:db8::2', type: 3, code: 1 });
    assert.ok(err6);
    assert.match(
      formatPacket(err6),
      /^IP6 2001:db8::2 > 2001:db8::1: ICMP6, ip6 reassembly time exceeded, length \d+ \(quoting IP6 2001:db8::1\.5000 > 2001:db8::2\.6000: UDP, length 1400 \(frag 78:1408@0\+\)\)$/,
    );
  });

  it('flags a wrong transport checksum with the found and the correct value', () => {
    const arb = fc.record({
      v6: fc.boolean(),
      kind: fc.constantFrom('tcp', 'udp', 'icmp'),
      payload: fc.uint8Array({ maxLength: 64 }),
      value: fc.integer({ min: 0, max: 0xffff }),
    });
    fc.assert(
      fc.property(arb, ({ v6, kind, payload, value }) => {
        const ip = v6 ? { src: '2001:db8::1', dst: '2001:db8::2' } : { src: '10.0.0.1', dst: '10.0.0.2' };
        const pkt =
          kind === 'tcp'
            ? buildPacket({ ...ip, tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.ACK }, payload })
            : kind === 'udp'
              ? buildPacket({ ...ip, udp: { srcPort: 1, dstPort: 2 }, payload })
              : v6
                ? buildPacket({ ...ip, icmpv6: { type: 128, code: 0, data: payload } })
                : buildPacket({ ...ip, icmp: { type: 8, code: 0, data: payload } });
        const l4 = v6 ? 40 : 20;
        const at = l4 + (kind === 'tcp' ? 16 : kind === 'udp' ? 6 : 2);
        const good = (pkt[at] << 8) | pkt[at + 1];
        assert.ok(!formatPacket(pkt).includes('[bad'));
        // Ones' complement has two zeros: 0x0000 and 0xffff are the same checksum (except UDP).
        const same =
          value === good || (kind !== 'udp' && (value ^ good) === 0xffff && (value === 0 || good === 0));
        if (same || (kind === 'udp' && !v6 && value === 0)) return;
        pkt[at] = value >> 8;
        pkt[at + 1] = value & 0xff;
        const name = kind === 'icmp' && v6 ? 'icmp6' : kind;
        const hex = (v: number) => `0x${v.toString(16).padStart(4, '0')}`;
        assert.ok(
          formatPacket(pkt).includes(`[bad ${name} cksum ${hex(value)} -> ${hex(good)}!] `),
          `${formatPacket(pkt)} expected ${hex(value)} -> ${hex(good)}`,
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('stops nesting GRE-in-GRE after a fixed depth', () => {
    let pkt = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 1, dstPort: 2 } });
    for (let i = 0; i < 10; i++)
      pkt = buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        gre: { version: 0, protocolType: GreProtocolType.Ipv4 },
        payload: pkt,
      });
    const line = formatPacket(pkt);
    assertSane(line);
    assert.equal(line.split('GREv0').length - 1, 5);
    assert.match(line, /\[\|nested\]$/);
  });
});

describe('formatPacket timestamps', () => {
  it('prefixes HH:MM:SS.uuuuuu in UTC when given a timestamp', () => {
    const p = printFixtures[0].packet;
    assert.equal(
      formatPacket(p, { timestampMs: 1_700_000_000_123.456 }),
      `22:13:20.123456 ${printFixtures[0].line}`,
    );
    assert.equal(formatTimeOfDay(0), '00:00:00.000000');
    assert.equal(formatTimeOfDay(86_399_999.9996), '00:00:00.000000');
    assert.equal(formatTimeOfDay(86_399_999.999), '23:59:59.999999');
    assert.equal(formatTimeOfDay(-1), '23:59:59.999000');
    assert.equal(formatTimeOfDay(Number.NaN), '??:??:??.??????');
  });
});

describe('formatPacket on arbitrary input', () => {
  it('never throws and prints one line for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, verbose) => {
        assertSane(formatPacket(bytes, { verbose }));
      }),
      { numRuns: 10_000 },
    );
  });

  it('never throws for arbitrary bytes behind plausible IPv4 and IPv6 headers', () => {
    const arb = fc.record({
      v6: fc.boolean(),
      proto: fc.constantFrom(0, 1, 6, 17, 43, 44, 47, 50, 51, 58, 59, 60, 132),
      flags: fc.integer({ min: 0, max: 0xffff }),
      body: fc.uint8Array({ maxLength: 160 }),
      cut: fc.nat(200),
      verbose: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ v6, proto, flags, body, cut, verbose }) => {
        let pkt: Uint8Array;
        if (v6) {
          pkt = new Uint8Array(40 + body.length);
          pkt[0] = 0x60;
          pkt[4] = body.length >> 8;
          pkt[5] = body.length & 0xff;
          pkt[6] = proto;
          pkt[7] = 64;
          pkt.set(body, 40);
        } else {
          pkt = new Uint8Array(20 + body.length);
          pkt[0] = 0x45;
          pkt[2] = (20 + body.length) >> 8;
          pkt[3] = (20 + body.length) & 0xff;
          pkt[6] = flags >> 8;
          pkt[7] = flags & 0xff;
          pkt[8] = 64;
          pkt[9] = proto;
          pkt.set(body, 20);
        }
        assertSane(formatPacket(pkt, { verbose }));
        assertSane(formatPacket(pkt.subarray(0, Math.min(cut, pkt.length)), { verbose }));
      }),
      { numRuns: 10_000 },
    );
  });

  it('never throws for golden packets with one byte changed or cut short', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...printFixtures),
        fc.nat(2000),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(2000),
        (f, at, v, cut) => {
          const p = f.packet.slice();
          p[at % p.length] = v;
          assertSane(formatPacket(p, { verbose: true }));
          assertSane(formatPacket(p.subarray(0, cut % (p.length + 1))));
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('prints a reason for empty and non-IP input', () => {
    assert.equal(formatPacket(new Uint8Array(0)), '[malformed: empty packet]');
    assert.equal(formatPacket(Uint8Array.of(0x00, 1, 2)), '[malformed: IP version 0]');
  });
});
