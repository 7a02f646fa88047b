/**
 * API misuse throws an `L3kitError` with a stable `ERR_…` code (contributing.md), for every
 * argument of every configuration method, and leaves the NAT working.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError } from '@l3kit/core';
import { buildPacket } from '@l3kit/wire';
import { EXT, H1, H2, R1, Rig, udp } from './helpers.js';

const JUNK: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '',
  'x',
  [],
  {},
  true,
  70000,
  '10.0.0.0/8',
  99,
];

const GOOD: Record<string, Record<string, unknown>> = {
  addPortForward: { proto: 17, outsidePort: 5353, insideIp: H1, insidePort: 53 },
  addDropRule: { proto: 6, dstPort: 25 },
  addRedirectRule: { proto: 17, dst: `${R1}/32`, dstPort: 53, toIp: '192.0.2.53', toPort: 53 },
  addExpectation: { proto: 17, insideIp: H1, insidePort: 69 },
  createMapping: { proto: 17, insideIp: H1, insidePort: 5060 },
};

const FIELDS: Record<string, string[]> = {
  addPortForward: ['proto', 'outsidePort', 'insideIp', 'insidePort', 'tenant', 'outsideIp'],
  addDropRule: ['proto', 'dstPort', 'dst', 'src', 'tenant', 'direction'],
  addRedirectRule: ['proto', 'dst', 'dstPort', 'toIp', 'toPort', 'tenant'],
  addExpectation: [
    'proto',
    'insideIp',
    'insidePort',
    'tenant',
    'remoteIp',
    'remotePort',
    'externalPort',
    'externalIp',
    'timeoutMs',
  ],
  createMapping: [
    'proto',
    'insideIp',
    'insidePort',
    'tenant',
    'externalPort',
    'externalIp',
    'remoteIp',
    'remotePort',
    'timeoutMs',
  ],
};

/** Calls `fn`; a throw must be an L3kitError with an ERR_ code. Returns a problem text or ''. */
function check(what: string, fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof L3kitError) || !/^ERR_[A-Z_]+$/.test(e.code))
      return `${what}: ${(e as Error)?.name} ${(e as Error)?.message}`;
  }
  return '';
}

function misuse(skip: (method: string, field: string) => boolean): string[] {
  const rig = new Rig({ maintainIntervalMs: 0 });
  const problems: string[] = [];
  const nat = rig.nat as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const [method, fields] of Object.entries(FIELDS)) {
    for (const field of fields) {
      if (skip(method, field)) continue;
      for (const v of JUNK) {
        const p = check(`${method}({ ${field}: ${JSON.stringify(v)} })`, () =>
          nat[method]({ ...GOOD[method], [field]: v }),
        );
        if (p) problems.push(p);
      }
    }
  }
  for (const method of [
    'removePortForward',
    'removeRule',
    'removeExpectation',
    'allocOutsidePort',
    'releaseOutsidePort',
  ]) {
    if (skip(method, '')) continue;
    for (const v of JUNK) {
      const p = check(`${method}(${JSON.stringify(v)})`, () => nat[method](v, v, v));
      if (p) problems.push(p);
    }
  }
  // Still working (towards a destination none of the accepted rules above touches).
  const o = rig.udpOut(H2, 40000, '8.8.4.4', 4444);
  assert.equal(o.src, EXT);
  assert.equal(rig.fromOutside(udp('8.8.4.4', 4444, EXT, o.srcPort as number)).in.length, 1);
  rig.close();
  return problems;
}

const outsideIpArg = (method: string, field: string) =>
  field === 'outsideIp' ||
  field === 'externalIp' ||
  method === 'removePortForward' ||
  method === 'allocOutsidePort' ||
  method === 'releaseOutsidePort';

describe('API misuse', () => {
  it('junk arguments to configuration methods throw typed errors with stable codes', () => {
    const problems = misuse(outsideIpArg);
    assert.deepEqual(problems, []);
  });

  it('junk outside-address arguments (outsideIp, externalIp, the optional ip of remove/alloc/release) throw typed errors', () => {
    const problems = misuse((m, f) => !outsideIpArg(m, f));
    assert.deepEqual(problems, []);
  });

  it('connectL3 with something that is not a device throws a typed error', () => {
    const rig = new Rig({ maintainIntervalMs: 0 });
    const nat = rig.nat as unknown as { connectL3(d: unknown): unknown };
    const problems = [undefined, null, 0, {}]
      .map((d) => check(`connectL3(${JSON.stringify(d)})`, () => nat.connectL3(d)))
      .filter(Boolean);
    rig.close();
    assert.deepEqual(problems, []);
  });
});

describe('packets of the wrong IP version', () => {
  it('an IPv6 packet into the NAT44 is dropped as not-ipv4, not as malformed', () => {
    const rig = new Rig();
    const p6 = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      udp: { srcPort: 1, dstPort: 2 },
      payload: 'x',
    });
    rig.fromInside(p6);
    rig.fromOutside(p6.slice());
    assert.equal(rig.nat.stats.drops['not-ipv4'], 2);
    assert.equal(rig.nat.stats.drops.malformed, 0);
    rig.close();
  });
});
