/**
 * The NAT is a router hop (README: TTL decremented, time exceeded at TTL 1). Packets a router must
 * not forward never leave on the outside, and never create mappings: limited and directed
 * broadcast (RFC 1812 §5.3.5), multicast without a multicast routing function (RFC 1812 §5.3.5,
 * link-local 224.0.0.0/24 per RFC 5771), loopback and network 0 (RFC 1812 §5.3.7), and IPv4
 * link-local addresses (RFC 3927 §7).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { H1, liveMappings, packet, R1, Rig, udp } from './helpers.js';

const NOT_FORWARDED: Array<[string, string]> = [
  ['255.255.255.255', 'limited broadcast (a DHCP discover)'],
  ['192.168.1.255', 'the inside network’s directed broadcast'],
  ['224.0.0.251', 'link-local multicast (mDNS)'],
  ['239.255.255.250', 'multicast (SSDP discovery)'],
  ['127.0.0.1', 'loopback'],
  ['0.0.0.0', 'network 0'],
  ['169.254.10.20', 'IPv4 link-local'],
];

describe('router hop', () => {
  for (const [dst, what] of NOT_FORWARDED) {
    it(`a packet from inside to ${dst} (${what}) is not sent out and creates no mapping`, () => {
      const rig = new Rig();
      const r = rig.fromInside(udp(H1, 5353, dst, 5353, 'must stay local'));
      assert.deepEqual(
        r.out.map((p) => p.dst),
        [],
        `forwarded to ${dst}`,
      );
      assert.equal(liveMappings(rig.nat).length, 0, 'no mapping');
      assert.equal(rig.nat.stats.drops.martian, 1, 'counted as martian');
      rig.close();
    });
  }

  it('a packet from a link-local or loopback source is not sent out', () => {
    const rig = new Rig();
    for (const src of ['169.254.3.4', '127.0.0.1']) {
      const r = rig.fromInside(packet({ src, dst: R1, udp: { srcPort: 1, dstPort: 53 } }));
      assert.equal(r.out.length, 0, `from ${src}`);
    }
    assert.equal(rig.nat.stats.drops.martian, 2);
    rig.close();
  });

  it('an ordinary unicast destination is still forwarded (control)', () => {
    const rig = new Rig();
    assert.equal(rig.fromInside(udp(H1, 5353, R1, 5353)).out.length, 1);
    rig.close();
  });
});
