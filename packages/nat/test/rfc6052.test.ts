import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@l3kit/core';
import { Prefix, parseIpv4 } from '@l3kit/wire';
import fc from 'fast-check';
import { Address4, Address6 } from 'ip-address';
import { embedIpv4Text, isGlobalIpv4, Rfc6052Prefix } from '../src/rfc6052.js';

describe('RFC 6052 addressing', () => {
  it('RFC 6052 §2.4: embeds 192.0.2.33 as the table of examples gives for every prefix length', () => {
    const cases: Array<[string, string]> = [
      ['2001:db8::/32', '2001:db8:c000:221::'],
      ['2001:db8:100::/40', '2001:db8:1c0:2:21::'],
      ['2001:db8:122::/48', '2001:db8:122:c000:2:2100::'],
      ['2001:db8:122:300::/56', '2001:db8:122:3c0:0:221::'],
      ['2001:db8:122:344::/64', '2001:db8:122:344:c0:2:2100:0'],
      ['2001:db8:122:344::/96', '2001:db8:122:344::c000:221'],
      ['64:ff9b::/96', '64:ff9b::c000:221'],
    ];
    for (const [prefix, expected] of cases) {
      assert.equal(embedIpv4Text(prefix, '192.0.2.33'), expected, prefix);
      const p = Rfc6052Prefix.parse(prefix, { allowNonGlobal: true });
      assert.equal(p.parseEmbedded(expected), parseIpv4('192.0.2.33'));
    }
  });

  it('agrees with ip-address (Address6.fromAddress4Nat64 / toAddress4Nat64) for every prefix length', () => {
    const prefixes = [
      '2001:db8::/32',
      '2001:db8:100::/40',
      '2001:db8:122::/48',
      '2001:db8:122:300::/56',
      '2001:db8:122:344::/64',
      '2001:db8:122:344::/96',
      '64:ff9b::/96',
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...prefixes), (v4, prefix) => {
        const text = `${v4 >>> 24}.${(v4 >>> 16) & 0xff}.${(v4 >>> 8) & 0xff}.${v4 & 0xff}`;
        const p = Rfc6052Prefix.parse(prefix, { allowNonGlobal: true });
        const oracle = Address6.fromAddress4Nat64(text, prefix);
        assert.equal(new Address6(p.format(v4)).correctForm(), oracle.correctForm());
        assert.equal(oracle.toAddress4Nat64(prefix)?.correctForm(), new Address4(text).correctForm());
        assert.equal(p.parseEmbedded(oracle.correctForm()), v4);
      }),
      { numRuns: 10_000 },
    );
  });

  it('round-trips arbitrary IPv4 addresses under every prefix length and keeps bits 64-71 zero', () => {
    const prefixes = [
      '2001:db8::/32',
      '2001:db8:100::/40',
      '2001:db8:122::/48',
      '2001:db8:122:300::/56',
      '2001:db8:122:344::/64',
      '2001:db8:122:344::/96',
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...prefixes), (v4, text) => {
        const p = Rfc6052Prefix.parse(text);
        const out = new Uint8Array(20);
        p.embed(v4, out, 2);
        assert.ok(p.matches(out, 2));
        assert.equal(p.extract(out, 2), v4);
        if (p.bits < 96) assert.equal(out[2 + 8], 0);
        assert.ok(Prefix.parse(text).containsBytes(out, 2));
      }),
      { numRuns: 10_000 },
    );
  });

  it('RFC 6052 §3.1: the Well-Known Prefix is not used with non-global IPv4 addresses', () => {
    const wkp = Rfc6052Prefix.parse('64:ff9b::/96');
    assert.ok(wkp.wellKnown);
    assert.equal(wkp.allowed(parseIpv4('10.1.2.3')!), false);
    assert.equal(wkp.allowed(parseIpv4('192.168.0.1')!), false);
    assert.equal(wkp.allowed(parseIpv4('8.8.8.8')!), true);
    const nsp = Rfc6052Prefix.parse('2001:db8:64::/96');
    assert.equal(nsp.allowed(parseIpv4('10.1.2.3')!), true);
    assert.equal(
      Rfc6052Prefix.parse('64:ff9b::/96', { allowNonGlobal: true }).allowed(parseIpv4('10.1.2.3')!),
      true,
    );
    assert.equal(isGlobalIpv4(parseIpv4('100.64.0.1')!), false);
    assert.equal(isGlobalIpv4(parseIpv4('1.1.1.1')!), true);
  });

  it('rejects prefix lengths RFC 6052 does not define and non-zero bits 64-71', () => {
    assert.throws(
      () => Rfc6052Prefix.parse('2001:db8::/33'),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_PREFIX',
    );
    assert.throws(() => Rfc6052Prefix.parse('10.0.0.0/8'), ConfigError);
    assert.throws(() => Rfc6052Prefix.parse('2001:db8:0:0:ff00::/96'), ConfigError);
    assert.throws(() => Rfc6052Prefix.parse('nonsense'), ConfigError);
  });
});
