import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildPacket,
  formatIpv4,
  formatIpv6,
  GrePacket,
  Icmpv4Packet,
  Icmpv6Packet,
  IpProtocol,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
  type PacketSpec,
  TcpFlags,
  TcpSegment,
  UdpDatagram,
} from '../src/index.js';

describe('buildPacket', () => {
  it('builds IPv4 with every transport and correct checksums', () => {
    const base = { src: '192.0.2.1', dst: '198.51.100.2' };
    const cases: Array<[PacketSpec, number, string]> = [
      [
        { ...base, tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.SYN, mss: 1400 }, payload: 'x' },
        IpProtocol.Tcp,
        'tcp',
      ],
      [{ ...base, udp: { srcPort: 1, dstPort: 2 }, payload: 'hello' }, IpProtocol.Udp, 'udp'],
      [
        { ...base, icmp: { type: 8, code: 0, identifier: 7, sequence: 1 }, payload: 'ping' },
        IpProtocol.Icmp,
        'icmp',
      ],
      [
        { ...base, gre: { version: 0, protocolType: 0x0800, checksum: true }, payload: 'abc' },
        IpProtocol.Gre,
        'gre',
      ],
      [{ ...base, protocol: 132, payload: Uint8Array.from([1, 2, 3]) }, 132, 'ipv4'],
    ];
    for (const [spec, proto, layer] of cases) {
      const pkt = buildPacket(spec);
      const r = verifyPacket(pkt);
      assert.ok(r.ok, JSON.stringify(r.problems));
      assert.ok(r.checked.includes('ipv4'));
      assert.ok(r.checked.includes(layer), `${layer} checked: ${r.checked}`);
      const ip = Ipv4Packet.checked(pkt)!;
      assert.equal(ip.protocol, proto);
      assert.equal(ip.totalLength, pkt.length);
      assert.equal(formatIpv4(ip.src), base.src);
      assert.equal(formatIpv4(ip.dst), base.dst);
    }
    const icmp = buildPacket(cases[2][0]);
    const m = Icmpv4Packet.checked(icmp, 20)!;
    assert.equal(m.identifier, 7);
    assert.equal(new TextDecoder().decode(m.data()), 'ping');
  });

  it('builds IPv6 with every transport and correct checksums', () => {
    const base = { src: '2001:db8::1', dst: '2001:db8:0:1::2' };
    const cases: Array<[PacketSpec, number, string]> = [
      [
        { ...base, tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.ACK }, payload: 'data' },
        IpProtocol.Tcp,
        'tcp',
      ],
      [{ ...base, udp: { srcPort: 1, dstPort: 2 } }, IpProtocol.Udp, 'udp'],
      [
        { ...base, icmpv6: { type: 128, code: 0, identifier: 1, sequence: 2 }, payload: 'ping6' },
        IpProtocol.Icmpv6,
        'icmpv6',
      ],
      [{ ...base, gre: { version: 0, protocolType: 0x86dd, checksum: true, key: 9 } }, IpProtocol.Gre, 'gre'],
    ];
    for (const [spec, proto, layer] of cases) {
      const pkt = buildPacket(spec);
      const r = verifyPacket(pkt);
      assert.ok(r.ok, JSON.stringify(r.problems));
      assert.ok(r.checked.includes(layer), `${layer} checked: ${r.checked}`);
      const ip = Ipv6Packet.checked(pkt)!;
      assert.equal(ip.nextHeader, proto);
      assert.equal(ip.totalLength, pkt.length);
      assert.equal(formatIpv6(pkt, ip.srcOffset), base.src);
      assert.equal(formatIpv6(pkt, ip.dstOffset), base.dst);
    }
    const m = Icmpv6Packet.checked(buildPacket(cases[2][0]), 40)!;
    assert.equal(m.sequence, 2);
  });

  it('sets the IPv4 header fields', () => {
    const options = Uint8Array.from([0x94, 0x04, 0x00, 0x00]); // Router Alert
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      ttl: 3,
      tos: 0xb8,
      identification: 0xabcd,
      moreFragments: true,
      fragmentOffset: 1480,
      options,
      udp: { srcPort: 1, dstPort: 2 },
    });
    const ip = Ipv4Packet.checked(pkt)!;
    assert.equal(ip.ttl, 3);
    assert.equal(ip.tos, 0xb8);
    assert.equal(ip.identification, 0xabcd);
    assert.ok(ip.moreFragments && !ip.dontFragment);
    assert.equal(ip.fragmentOffset, 1480);
    assert.equal(ip.headerLen, 24);
    assert.deepEqual(ip.options(), options);
    assert.ok(ip.verifyChecksum());
    const df = Ipv4Packet.checked(
      buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', hopLimit: 9, dontFragment: true, protocol: 253 }),
    )!;
    assert.ok(df.dontFragment);
    assert.equal(df.ttl, 9, 'hopLimit is an alias of ttl');
    assert.equal(df.payloadLength, 0);
  });

  it('sets the IPv6 header fields and adds a Fragment header for fragment fields', () => {
    const pkt = buildPacket({
      src: 'fe80::1',
      dst: 'ff02::1',
      hopLimit: 1,
      tos: 0x2e,
      flowLabel: 0xabcde,
      udp: { srcPort: 546, dstPort: 547 },
    });
    const ip = Ipv6Packet.checked(pkt)!;
    assert.equal(ip.hopLimit, 1);
    assert.equal(ip.trafficClass, 0x2e);
    assert.equal(ip.flowLabel, 0xabcde);
    assert.equal(ip.nextHeader, IpProtocol.Udp);
    assertChecksums(pkt);

    const frag = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      identification: 0xdeadbeef,
      moreFragments: true,
      udp: { srcPort: 1, dstPort: 2 },
      payload: 'first',
    });
    const fip = Ipv6Packet.checked(frag)!;
    assert.equal(fip.nextHeader, IpProtocol.Ipv6Frag);
    const chain = new Ipv6HeaderChain();
    assert.ok(chain.parse(fip));
    assert.equal(chain.fragmentId, 0xdeadbeef);
    assert.ok(chain.moreFragments);
    assert.equal(chain.fragmentOffset, 0);
    assert.equal(chain.upperProtocol, IpProtocol.Udp);
    assert.equal(chain.upperOffset, 48);
    const d = UdpDatagram.checked(frag, chain.upperOffset, chain.end)!;
    assert.equal(d.length, 13);
  });

  it('encodes string payloads as UTF-8', () => {
    const pkt = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      udp: { srcPort: 1, dstPort: 2 },
      payload: 'héllo ✓',
    });
    const d = UdpDatagram.checked(pkt, 20)!;
    assert.equal(new TextDecoder().decode(d.payload()), 'héllo ✓');
    assert.equal(d.payloadLength, 10);
  });

  it('builds views that agree with the spec for arbitrary ports, payloads and families', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom('tcp', 'udp', 'gre'),
        fc.boolean(),
        (sp, dp, payload, kind, v6) => {
          const base = {
            src: v6 ? '::ffff:0:1' : '0.0.0.0',
            dst: v6 ? 'ff0e::1' : '255.255.255.255',
            payload,
          };
          const spec: PacketSpec =
            kind === 'tcp'
              ? { ...base, tcp: { srcPort: sp, dstPort: dp, flags: TcpFlags.PSH | TcpFlags.ACK } }
              : kind === 'udp'
                ? { ...base, udp: { srcPort: sp, dstPort: dp } }
                : { ...base, gre: { version: 1, protocolType: 0x880b, callId: sp, sequence: dp } };
          const pkt = buildPacket(spec);
          assertChecksums(pkt);
          const l4 = v6 ? 40 : 20;
          if (kind === 'tcp') {
            const t = TcpSegment.checked(pkt, l4)!;
            assert.deepEqual([t.srcPort, t.dstPort], [sp, dp]);
            assert.deepEqual(t.payload(), payload);
          } else if (kind === 'udp') {
            const u = UdpDatagram.checked(pkt, l4)!;
            assert.deepEqual([u.srcPort, u.dstPort], [sp, dp]);
            assert.deepEqual(u.payload(), payload);
          } else {
            const g = GrePacket.checked(pkt, l4)!;
            assert.deepEqual([g.callId, g.sequence], [sp, dp]);
            assert.deepEqual(g.payload(), payload);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('throws RangeError for specs that make no sense', () => {
    const udp = { udp: { srcPort: 1, dstPort: 2 } };
    const bad: Array<[string, PacketSpec]> = [
      ['mixed families', { src: '10.0.0.1', dst: '::1', ...udp }],
      ['bad IPv4 text', { src: '10.0.0.256', dst: '10.0.0.1', ...udp }],
      ['bad IPv6 text', { src: '2001:db8::g', dst: '::1', ...udp }],
      ['ICMPv4 over IPv6', { src: '::1', dst: '::2', icmp: { type: 8, code: 0 } }],
      ['ICMPv6 over IPv4', { src: '10.0.0.1', dst: '10.0.0.2', icmpv6: { type: 128, code: 0 } }],
      ['ttl and hopLimit disagree', { src: '10.0.0.1', dst: '10.0.0.2', ttl: 1, hopLimit: 2, ...udp }],
      ['IPv4 options on IPv6', { src: '::1', dst: '::2', options: new Uint8Array(4), ...udp }],
      ['DF on IPv6', { src: '::1', dst: '::2', dontFragment: true, ...udp }],
      ['flow label on IPv4', { src: '10.0.0.1', dst: '10.0.0.2', flowLabel: 1, ...udp }],
      [
        'ICMP data twice',
        {
          src: '10.0.0.1',
          dst: '10.0.0.2',
          icmp: { type: 8, code: 0, data: new Uint8Array(1) },
          payload: 'x',
        },
      ],
      ['protocol out of range', { src: '10.0.0.1', dst: '10.0.0.2', protocol: 256 }],
      ['IPv4 too long', { src: '10.0.0.1', dst: '10.0.0.2', protocol: 253, payload: new Uint8Array(65516) }],
      ['IPv6 fragment offset not a multiple of 8', { src: '::1', dst: '::2', fragmentOffset: 9, ...udp }],
      ['port out of range', { src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 65536, dstPort: 1 } }],
    ];
    for (const [name, spec] of bad) assert.throws(() => buildPacket(spec), RangeError, name);
  });
});
