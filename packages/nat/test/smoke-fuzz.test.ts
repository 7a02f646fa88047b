import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type L3Device, ManualClock, type PacketHandler } from '@l3kit/core';
import { verifyPacket } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import fc from 'fast-check';
import { Nat } from '../src/index.js';

class Tenant implements L3Device {
  h: PacketHandler = () => {};
  got: Uint8Array[] = [];
  setHandler(h: PacketHandler) {
    this.h = h;
  }
  send(p: Uint8Array) {
    this.got.push(p.slice());
  }
  addr() {
    return undefined;
  }
  setAddr() {}
  close() {}
}

function world() {
  const clock = new ManualClock(0);
  const nat = new Nat({
    inside: '10.0.0.1/24',
    outside: '203.0.113.1/24',
    clock,
    maintainIntervalMs: 0,
    filtering: 'endpoint-independent',
    verifyChecksums: true,
  });
  const bad: string[] = [];
  const check = (p: Uint8Array) => {
    const r = verifyPacket(p);
    if (!r.ok) bad.push(JSON.stringify(r.problems));
  };
  nat.outside().setHandler(check);
  const a = new Tenant();
  const b = new Tenant();
  nat.connectL3(a);
  nat.connectL3(b);
  const seeds = [
    buildPacket({
      src: '10.0.0.2',
      dst: '198.51.100.7',
      udp: { srcPort: 1000, dstPort: 53 },
      payload: 'abc',
    }),
    buildPacket({
      src: '10.0.0.2',
      dst: '198.51.100.7',
      tcp: { srcPort: 1001, dstPort: 80, flags: 2 },
      payload: 'x',
    }),
    buildPacket({
      src: '10.0.0.2',
      dst: '198.51.100.7',
      icmp: { type: 8, code: 0, identifier: 5, sequence: 1 },
      payload: 'p',
    }),
  ];
  for (const p of seeds) a.h(p.slice());
  return { nat, a, b, bad, seeds };
}

describe('NAT44 smoke: fuzz', () => {
  it('never throws, never emits a bad checksum and never delivers to the wrong tenant', () => {
    const w = world();
    fc.assert(
      fc.property(
        fc.nat(2),
        fc.array(fc.tuple(fc.nat(80), fc.nat(255)), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.nat(3),
        (seedIdx, muts, junk, where) => {
          const p = w.seeds[seedIdx].slice();
          for (const [off, v] of muts) if (off < p.length) p[off] = v;
          const pkt = where === 3 ? junk : p;
          // outside: replies aimed at the external port (whatever it became)
          if (where === 0) w.a.h(pkt);
          else if (where === 1) w.b.h(pkt);
          else w.nat.outside().send(pkt);
          return true;
        },
      ),
      { numRuns: 5000 },
    );
    for (const p of [...w.a.got, ...w.b.got]) {
      const r = verifyPacket(p);
      if (!r.ok) w.bad.push(JSON.stringify(r.problems));
    }
    assert.deepEqual(w.bad.slice(0, 3), []);
    // tenant b never talked to 198.51.100.7 from 10.0.0.2:1000, so it got nothing addressed there
    for (const p of w.b.got) assert.notEqual((p[22] << 8) | p[23], 1000);
  });
});
