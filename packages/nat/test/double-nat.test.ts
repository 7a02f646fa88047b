/**
 * Hierarchical NAT: home NATs attached as tenants of a carrier-grade NAT (`cgn.connectL3(
 * home.outside())`), with the same outside address. The behaviours compose as RFC 4787 predicts,
 * the two homes stay apart, and every packet at either edge has correct checksums.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { Nat, type NatOptions } from '../src/index.js';
import { EXT, H1, NAT_OUTSIDE, type Parsed, type Probeable, parse, probe, R1, udp } from './helpers.js';

type Preset = NonNullable<NatOptions['type']>;

/** A CGN with one or more home NATs behind it; the outside edge is the CGN's outside. */
class DoubleNat implements Probeable {
  readonly clock = new ManualClock(1_000_000);
  readonly cgn: Nat;
  readonly homes: Nat[] = [];
  /** What reached the outside edge, and each home's inside, during the current step. */
  out: Parsed[] = [];
  inside: Parsed[][] = [];

  constructor(cgnType: Preset, homeTypes: Preset[]) {
    this.cgn = new Nat({
      inside: '100.64.0.1/10',
      outside: NAT_OUTSIDE,
      type: cgnType,
      clock: this.clock,
      maintainIntervalMs: 0,
    });
    this.cgn.outside().setHandler((p) => this.capture(p, -1));
    this.cgn.inside().setHandler(() => assert.fail('nothing is attached as the CGN’s plain inside'));
    homeTypes.forEach((t, i) => {
      const home = new Nat({
        inside: '192.168.1.1/24',
        outside: '100.64.0.2/10',
        type: t,
        clock: this.clock,
        maintainIntervalMs: 0,
      });
      home.inside().setHandler((p) => this.capture(p, i));
      this.cgn.connectL3(home.outside());
      this.homes.push(home);
      this.inside.push([]);
    });
  }

  private capture(p: Uint8Array, home: number): void {
    const copy = p.slice();
    assertChecksums(copy, home < 0 ? 'outside edge' : `home ${home} inside`);
    (home < 0 ? this.out : this.inside[home]).push(parse(copy));
  }

  private reset(): void {
    this.out = [];
    this.inside = this.inside.map(() => []);
  }

  /** Sends from home `i`'s inside. */
  fromHome(i: number, pkt: Uint8Array): Parsed[] {
    this.reset();
    this.homes[i].inside().send(pkt);
    return this.out;
  }

  /** Sends into the CGN's outside; returns what each home's inside received. */
  fromOutside(pkt: Uint8Array): Parsed[][] {
    this.reset();
    this.cgn.outside().send(pkt);
    return this.inside;
  }

  udpOut(src: string, sport: number, dst: string, dport: number, payload = 'x'): Parsed {
    const out = this.fromHome(0, udp(src, sport, dst, dport, payload));
    assert.equal(out.length, 1, 'one packet at the outside edge');
    return out[0];
  }

  udpIn(src: string, sport: number, extPort: number, payload = 'y'): Parsed[] {
    return this.fromOutside(udp(src, sport, EXT, extPort, payload))[0];
  }

  close(): void {
    for (const h of this.homes) h.close();
    this.cgn.close();
  }
}

const COMPOSED: Array<[Preset, Preset, string, string]> = [
  ['full-cone', 'full-cone', 'endpoint-independent', 'endpoint-independent'],
  ['full-cone', 'restricted-cone', 'endpoint-independent', 'address-dependent'],
  ['port-restricted-cone', 'full-cone', 'endpoint-independent', 'address-and-port-dependent'],
  ['restricted-cone', 'restricted-cone', 'endpoint-independent', 'address-dependent'],
  ['full-cone', 'symmetric', 'address-and-port-dependent', 'address-and-port-dependent'],
  ['symmetric', 'full-cone', 'address-and-port-dependent', 'address-and-port-dependent'],
];

describe('NAT behind NAT', () => {
  for (const [cgnType, homeType, mapping, filtering] of COMPOSED) {
    it(`a ${homeType} home NAT behind a ${cgnType} CGN probes as ${mapping} mapping with ${filtering} filtering`, () => {
      const d = new DoubleNat(cgnType, [homeType]);
      const r = probe(d, H1, 7000);
      assert.equal(r.mapping, mapping, `mapped ports ${r.mappedPorts.join(', ')}`);
      assert.equal(r.filtering, filtering, JSON.stringify(r.delivered));
      d.close();
    });
  }

  it('two home NATs with the same outside address are kept apart by the CGN', () => {
    const d = new DoubleNat('port-restricted-cone', ['port-restricted-cone', 'port-restricted-cone']);
    const xa = d.fromHome(0, udp(H1, 5000, R1, 53, 'from-home-0'))[0].srcPort as number;
    const xb = d.fromHome(1, udp(H1, 5000, R1, 53, 'from-home-1'))[0].srcPort as number;
    assert.notEqual(xa, xb);
    const ra = d.fromOutside(udp(R1, 53, EXT, xa, 'to-home-0'));
    assert.deepEqual(
      ra.map((l) => l.map((p) => new TextDecoder().decode(p.payload))),
      [['to-home-0'], []],
    );
    const rb = d.fromOutside(udp(R1, 53, EXT, xb, 'to-home-1'));
    assert.deepEqual(
      rb.map((l) => l.map((p) => [p.dst, p.dstPort, new TextDecoder().decode(p.payload)])),
      [[], [[H1, 5000, 'to-home-1']]],
    );
    d.close();
  });

  it('hosts behind two different home NATs reach each other through the CGN’s hairpinning', () => {
    const d = new DoubleNat('full-cone', ['full-cone', 'full-cone']);
    const xa = d.fromHome(0, udp(H1, 5000, R1, 3478))[0].srcPort as number;
    const xb = d.fromHome(1, udp(H1, 6000, R1, 3478))[0].srcPort as number;
    const out = d.fromHome(0, udp(H1, 5000, EXT, xb, 'across'));
    assert.equal(out.length, 0, 'never leaves the CGN');
    assert.deepEqual(
      d.inside.map((l) =>
        l.map((p) => [p.src, p.srcPort, p.dst, p.dstPort, new TextDecoder().decode(p.payload)]),
      ),
      [[], [[EXT, xa, H1, 6000, 'across']]],
    );
    d.close();
  });
});
