import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import {
  buildPacket,
  formatIpv4,
  formatIpv6,
  Icmpv4Packet,
  Icmpv6Packet,
  Ipv4Packet,
  Ipv6Packet,
} from '@l3kit/wire';
import { Siit, type SiitOptions } from '../src/siit.js';

function setup(opts: Partial<SiitOptions> = {}) {
  const siit = new Siit({ prefix: '2001:db8:64::/96', ...opts });
  const v6out: Uint8Array[] = [];
  const v4out: Uint8Array[] = [];
  siit.inside().setHandler((p) => v6out.push(p.slice()));
  siit.outside().setHandler((p) => v4out.push(p.slice()));
  return { siit, v6out, v4out };
}

describe('Siit (stateless, RFC 7915 + RFC 7757)', () => {
  it('translates an IPv6 ping to an embedded IPv4 address and the IPv4 reply back', () => {
    const { siit, v6out, v4out } = setup({ eam: [{ ipv4: '192.0.2.5/32', ipv6: '2001:db8:aaaa::5/128' }] });
    siit.inside().send(
      buildPacket({
        src: '2001:db8:aaaa::5',
        dst: '2001:db8:64::c633:6409',
        icmpv6: { type: 128, code: 0, identifier: 7, sequence: 1, data: new Uint8Array(16) },
      }),
    );
    assert.equal(v4out.length, 1);
    const req = Ipv4Packet.checked(v4out[0])!;
    assert.equal(formatIpv4(req.src), '192.0.2.5');
    assert.equal(formatIpv4(req.dst), '198.51.100.9');
    assert.equal(Icmpv4Packet.checked(v4out[0], 20)!.type, 8);
    assertChecksums(v4out[0]);
    siit.outside().send(
      buildPacket({
        src: '198.51.100.9',
        dst: '192.0.2.5',
        icmp: { type: 0, code: 0, identifier: 7, sequence: 1, data: new Uint8Array(16) },
      }),
    );
    assert.equal(v6out.length, 1);
    const rep = Ipv6Packet.checked(v6out[0])!;
    assert.equal(formatIpv6(rep.buf, rep.srcOffset), '2001:db8:64::c633:6409');
    assert.equal(formatIpv6(rep.buf, rep.dstOffset), '2001:db8:aaaa::5');
    assert.equal(Icmpv6Packet.checked(v6out[0], 40)!.type, 129);
    assertChecksums(v6out[0]);
  });

  it('maps through EAM entries keeping the suffix bits, longest prefix first', () => {
    const { siit, v4out } = setup({
      eam: [
        { ipv4: '192.0.2.0/24', ipv6: '2001:db8:aaaa::/120' },
        { ipv4: '192.0.2.128/25', ipv6: '2001:db8:bbbb::/121' },
      ],
    });
    siit.inside().send(
      buildPacket({
        src: '2001:db8:aaaa::17',
        dst: '2001:db8:64::808:808',
        udp: { srcPort: 1, dstPort: 53 },
      }),
    );
    siit.inside().send(
      buildPacket({
        src: '2001:db8:bbbb::7f',
        dst: '2001:db8:64::808:808',
        udp: { srcPort: 1, dstPort: 53 },
      }),
    );
    assert.equal(formatIpv4(Ipv4Packet.checked(v4out[0])!.src), '192.0.2.23');
    assert.equal(formatIpv4(Ipv4Packet.checked(v4out[1])!.src), '192.0.2.255');
    assert.equal(siit.listEams()[0].ipv4, '192.0.2.128/25');
    for (const p of v4out) assertChecksums(p);
  });

  it('drops what neither the EAM table nor the prefix covers, and counts it', () => {
    const { siit, v4out } = setup();
    siit.inside().send(
      buildPacket({
        src: '2001:db8:ffff::1',
        dst: '2001:db8:64::808:808',
        udp: { srcPort: 1, dstPort: 53 },
      }),
    );
    assert.equal(v4out.length, 0);
    assert.equal(siit.stats.dropUnmapped, 1);
  });

  it('does not embed non-global IPv4 addresses under the Well-Known Prefix (RFC 6052 §3.1)', () => {
    const { siit, v6out } = setup({ prefix: '64:ff9b::/96' });
    siit.outside().send(buildPacket({ src: '10.0.0.1', dst: '8.8.8.8', udp: { srcPort: 1, dstPort: 53 } }));
    assert.equal(v6out.length, 0);
    siit.outside().send(buildPacket({ src: '9.9.9.9', dst: '8.8.8.8', udp: { srcPort: 1, dstPort: 53 } }));
    assert.equal(v6out.length, 1);
  });

  it('hairpins an IPv6 packet whose IPv4 destination is itself EAM-mapped (RFC 7757 §4)', () => {
    const { siit, v6out, v4out } = setup({ eam: [{ ipv4: '192.0.2.0/24', ipv6: '2001:db8:aaaa::/120' }] });
    // Host ::5 reaches its neighbour by its IPv4 address embedded in the prefix.
    siit.inside().send(
      buildPacket({
        src: '2001:db8:aaaa::5',
        dst: '2001:db8:64::c000:206',
        ttl: 64,
        tcp: { srcPort: 1000, dstPort: 80, flags: 2 },
      }),
    );
    assert.equal(v4out.length, 0);
    assert.equal(v6out.length, 1);
    const p = Ipv6Packet.checked(v6out[0])!;
    assert.equal(formatIpv6(p.buf, p.srcOffset), '2001:db8:aaaa::5');
    assert.equal(formatIpv6(p.buf, p.dstOffset), '2001:db8:aaaa::6');
    assert.equal(p.hopLimit, 62);
    assertChecksums(v6out[0]);
    assert.equal(siit.hairpinned, 1);
  });

  it('rejects EAM pairs with different suffix lengths and duplicates, with typed errors', () => {
    const { siit } = setup();
    assert.throws(
      () => siit.addEam({ ipv4: '192.0.2.0/24', ipv6: '2001:db8::/64' }),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_EAM',
    );
    siit.addEam({ ipv4: '192.0.2.0/24', ipv6: '2001:db8::/120' });
    assert.throws(
      () => siit.addEam({ ipv4: '192.0.2.0/24', ipv6: '2001:db8:1::/120' }),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_EAM_OVERLAP',
    );
    assert.throws(() => siit.addEam({ ipv4: 'x', ipv6: '2001:db8:1::/120' }), ConfigError);
    assert.equal(siit.removeEam('192.0.2.0/24'), true);
    assert.equal(siit.removeEam('192.0.2.0/24'), false);
    assert.throws(
      () => new Siit({}),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_SIIT_NO_MAPPING',
    );
  });

  it('drops packets of the wrong IP version on each side', () => {
    const { siit } = setup();
    siit.inside().send(buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 1, dstPort: 2 } }));
    siit
      .outside()
      .send(buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', udp: { srcPort: 1, dstPort: 2 } }));
    siit.inside().send(new Uint8Array(0));
    assert.equal(siit.dropWrongVersion, 3);
  });
});
