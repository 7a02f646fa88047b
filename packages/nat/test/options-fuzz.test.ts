/**
 * Configuration misuse: `new Nat(options)` with wrong values either works or throws a
 * `ConfigError` with a stable `ERR_…` code; never a TypeError or RangeError. A NAT it builds
 * carries traffic without throwing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, ManualClock } from '@l3kit/core';
import fc from 'fast-check';
import { Nat, type NatOptions } from '../src/index.js';
import { EXT, H1, NAT_INSIDE, NAT_OUTSIDE, R1, udp } from './helpers.js';

const junk = fc.oneof(
  fc.constantFrom(undefined, null, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '', 'x', [], {}, true),
  fc.integer({ min: -100_000_000, max: 100_000_000 }),
  fc.string({ maxLength: 12 }),
  fc.tuple(fc.integer({ min: -5, max: 70_000 }), fc.integer({ min: -5, max: 70_000 })),
);

const behaviour = fc.oneof(
  fc.constantFrom('endpoint-independent', 'address-dependent', 'address-and-port-dependent'),
  junk,
);

function optionsArb(poolJunk: boolean) {
  return fc.record(
    {
      inside: fc.oneof(
        fc.constantFrom(NAT_INSIDE, '10.0.0.1/8', '192.168.1.1', '192.168.1.1/33', '::1/64'),
        junk,
      ),
      outside: fc.oneof(fc.constantFrom(NAT_OUTSIDE, '203.0.113.1/32', '203.0.113.1/24 ', '1.2.3'), junk),
      outsidePool: poolJunk
        ? fc.oneof(fc.constantFrom([EXT, '203.0.113.2'], [], ['nope'], [EXT, EXT]), junk)
        : fc.oneof(
            fc.constantFrom([EXT, '203.0.113.2'], [], ['nope'], [EXT, EXT], undefined),
            fc.array(junk, { maxLength: 3 }),
          ),
      mapping: behaviour,
      filtering: behaviour,
      type: fc.oneof(
        fc.constantFrom('full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric'),
        junk,
      ),
      portRange: fc.oneof(
        fc.record({ udp: junk, tcp: junk, icmp: junk, gre: junk }, { requiredKeys: [] }),
        junk,
      ),
      portPreservation: fc.oneof(fc.boolean(), junk),
      portParity: fc.oneof(fc.boolean(), junk),
      hairpinning: fc.oneof(fc.boolean(), junk),
      timeouts: fc.oneof(
        fc.record(
          {
            udp: junk,
            icmp: junk,
            tcpEstablished: junk,
            tcpTransitory: junk,
            tcpSynHold: junk,
            portReuse: junk,
          },
          { requiredKeys: [] },
        ),
        junk,
      ),
      maxMappingsPerTenant: junk,
      onTenantLimit: fc.oneof(fc.constantFrom('reject', 'evict-lru'), junk),
      maxMappings: junk,
      maintainIntervalMs: fc.constantFrom(0, 0, -1, 'x'),
    },
    { requiredKeys: ['inside', 'outside'] },
  );
}

/** Builds NATs from random options; every failure must be a ConfigError with an ERR_ code. */
function randomOptions(poolJunk: boolean): void {
  const codes = new Set<string>();
  fc.assert(
    fc.property(optionsArb(poolJunk), (raw) => {
      let nat: Nat;
      try {
        nat = new Nat({ ...(raw as object), clock: new ManualClock(0) } as unknown as NatOptions);
      } catch (e) {
        assert.ok(e instanceof ConfigError, `threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
        assert.match(e.code, /^ERR_[A-Z_]+$/);
        codes.add(e.code);
        return;
      }
      nat.outside().setHandler(() => {});
      nat.inside().setHandler(() => {});
      nat.inside().send(udp(H1, 5000, R1, 53));
      nat.outside().send(udp(R1, 53, EXT, 5000));
      nat.maintain();
      nat.close();
    }),
    { numRuns: 3000 },
  );
  assert.ok(codes.size >= 3, `several distinct codes seen: ${[...codes].join(', ')}`);
}

function isConfigError(e: unknown): boolean {
  return e instanceof ConfigError && /^ERR_[A-Z_]+$/.test(e.code);
}

describe('options', () => {
  it('bad option values are refused with a ConfigError and a stable code, never a crash', () => {
    randomOptions(false);
  });

  it('a non-array outsidePool is refused with a ConfigError', () => {
    for (const pool of [0, true, {}, 'x', Number.NaN]) {
      assert.throws(
        () => new Nat({ inside: NAT_INSIDE, outside: NAT_OUTSIDE, outsidePool: pool as never }),
        isConfigError,
        String(pool),
      );
    }
  });

  it('any bad value of any option, outsidePool included, is refused with a ConfigError', () => {
    randomOptions(true);
  });

  it('a clock without now() is refused with a ConfigError', () => {
    for (const clock of [null, 0, {}, { now: 5 }]) {
      assert.throws(
        () =>
          new Nat({ inside: NAT_INSIDE, outside: NAT_OUTSIDE, clock: clock as never, maintainIntervalMs: 0 }),
        isConfigError,
        JSON.stringify(clock),
      );
    }
  });

  it('a maintain interval too large for a timer is refused, not turned into a 1 ms busy timer', async () => {
    for (const ms of [Number.POSITIVE_INFINITY, 1e12]) {
      let nat: Nat;
      try {
        nat = new Nat({
          inside: NAT_INSIDE,
          outside: NAT_OUTSIDE,
          clock: new ManualClock(0),
          maintainIntervalMs: ms,
        });
      } catch (e) {
        assert.ok(isConfigError(e));
        continue;
      }
      let calls = 0;
      const real = nat.maintain.bind(nat);
      nat.maintain = () => {
        calls++;
        real();
      };
      await new Promise((r) => setTimeout(r, 60));
      nat.close();
      assert.equal(calls, 0, `maintain ran ${calls} times in 60 ms with maintainIntervalMs ${ms}`);
    }
  });
});
