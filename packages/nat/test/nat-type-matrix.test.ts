/**
 * The NAT-type matrix: for each `type` preset and each explicit mapping × filtering combination,
 * a STUN-like probe from the outside classifies the NAT exactly as configured.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Behaviour, H1, H2, probe, Rig } from './helpers.js';

const BEHAVIOURS: Behaviour[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];

const PRESETS = [
  ['full-cone', 'endpoint-independent', 'endpoint-independent'],
  ['restricted-cone', 'endpoint-independent', 'address-dependent'],
  ['port-restricted-cone', 'endpoint-independent', 'address-and-port-dependent'],
  ['symmetric', 'address-and-port-dependent', 'address-and-port-dependent'],
] as const;

describe('NAT-type matrix', () => {
  for (const [type, mapping, filtering] of PRESETS) {
    it(`the ${type} preset probes as ${mapping} mapping with ${filtering} filtering`, () => {
      const rig = new Rig({ type });
      const r = probe(rig, H1, 7000);
      assert.equal(r.mapping, mapping, `mapped ports ${r.mappedPorts.join(', ')}`);
      assert.equal(r.filtering, filtering, JSON.stringify(r.delivered));
      // A second inside host classifies the same way (behaviour is per NAT, not per host).
      const r2 = probe(rig, H2, 7000);
      assert.deepEqual([r2.mapping, r2.filtering], [mapping, filtering]);
      rig.close();
    });
  }

  for (const mapping of BEHAVIOURS) {
    for (const filtering of BEHAVIOURS) {
      for (const portPreservation of [true, false]) {
        it(`explicit ${mapping} mapping with ${filtering} filtering probes as configured (port preservation ${portPreservation ? 'on' : 'off'})`, () => {
          const rig = new Rig({ mapping, filtering, portPreservation });
          const r = probe(rig, H1, 7000);
          assert.equal(r.mapping, mapping, `mapped ports ${r.mappedPorts.join(', ')}`);
          assert.equal(r.filtering, filtering, JSON.stringify(r.delivered));
          rig.close();
        });
      }
    }
  }

  it('a preset that contradicts an explicit behaviour is refused with ERR_CONFLICTING_OPTIONS', () => {
    assert.throws(
      () => new Rig({ type: 'full-cone', filtering: 'address-and-port-dependent' }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_CONFLICTING_OPTIONS',
    );
    assert.throws(
      () => new Rig({ type: 'symmetric', mapping: 'endpoint-independent' }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_CONFLICTING_OPTIONS',
    );
  });

  it('an unknown type or behaviour name is refused with ERR_BAD_OPTION', () => {
    assert.throws(
      () => new Rig({ type: 'cone' as never }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new Rig({ filtering: 'port-dependent' as never }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_BAD_OPTION',
    );
  });
});
