/**
 * Property tests (fast-check): arbitrary bytes and mutated valid packets into the NAT's inside,
 * outside and tenant interfaces. Never a throw; every emitted packet has correct checksums (when
 * the NAT verifies checksums, unconditionally; otherwise whenever the input was itself valid);
 * nothing leaves on the outside with an inside source; never a delivery to the wrong tenant.
 * 10,500 runs in total.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { verifyPacket } from '@l3kit/testkit';
import fc from 'fast-check';
import { Nat, type NatOptions } from '../src/index.js';
import {
  EXT,
  echo,
  fixChecksums,
  get16,
  H1,
  H2,
  icmpError,
  NAT_INSIDE,
  NAT_OUTSIDE,
  packet,
  R1,
  R2,
  SYN,
  TestTenant,
  tcp,
  udp,
} from './helpers.js';

/** A NAT with two tenants, the plain inside, and some live flows of each. */
class FuzzRig {
  readonly clock = new ManualClock(1_000_000);
  readonly nat: Nat;
  readonly a = new TestTenant('a');
  readonly b = new TestTenant('b');
  readonly ids = new Map<string, number>();
  /** Emitted packets of the current step: side and a copy. */
  emitted: Array<{ side: string; pkt: Uint8Array }> = [];
  /** External ports of the live flows (to aim mutated inbound packets at). */
  readonly ports: number[] = [];

  constructor(options: Partial<NatOptions> = {}) {
    this.nat = new Nat({
      inside: NAT_INSIDE,
      outside: NAT_OUTSIDE,
      clock: this.clock,
      maintainIntervalMs: 0,
      ...options,
    } as NatOptions);
    this.nat.outside().setHandler((p) => this.emitted.push({ side: 'outside', pkt: p.slice() }));
    this.nat.inside().setHandler((p) => this.emitted.push({ side: 'inside', pkt: p.slice() }));
    this.ids.set('inside', 0);
    for (const t of [this.a, this.b]) {
      t.onReceive = (p) => this.emitted.push({ side: t.name, pkt: p });
      this.ids.set(t.name, this.nat.connectL3(t).tenant);
    }
    // Identical flows from every tenant: the classic overlap case.
    for (const send of [
      (p: Uint8Array) => this.nat.inside().send(p),
      (p: Uint8Array) => this.a.emit(p),
      (p: Uint8Array) => this.b.emit(p),
    ]) {
      for (const pkt of [
        udp(H1, 5000, R1, 53),
        tcp(H1, 40000, R1, 80, SYN),
        echo(H1, R1, 0x42),
        udp(H2, 6000, R2, 123),
      ]) {
        this.emitted = [];
        send(pkt);
        for (const e of this.emitted)
          if (e.side === 'outside') this.ports.push(get16(e.pkt, 20 + (e.pkt[9] === 1 ? 4 : 0)));
      }
    }
    this.emitted = [];
    this.nat.addPortForward({
      proto: 17,
      outsidePort: 7777,
      insideIp: H1,
      insidePort: 53,
      tenant: this.ids.get('b'),
    });
    this.ports.push(7777);
  }

  /** Which tenants own (proto, external port) right now. */
  owners(): Map<string, Set<number>> {
    const m = new Map<string, Set<number>>();
    const add = (k: string, t: number) => {
      const s = m.get(k) ?? new Set<number>();
      s.add(t);
      m.set(k, s);
    };
    for (const r of this.nat.mappings()) add(`${r.proto}:${r.externalPort}`, r.tenant);
    for (const f of this.nat.listPortForwards()) add(`${f.proto}:${f.outsidePort}`, f.tenant);
    return m;
  }

  run(side: 'inside' | 'outside' | 'a' | 'b', pkt: Uint8Array): Array<{ side: string; pkt: Uint8Array }> {
    this.emitted = [];
    if (side === 'inside') this.nat.inside().send(pkt);
    else if (side === 'outside') this.nat.outside().send(pkt);
    else (side === 'a' ? this.a : this.b).emit(pkt);
    return this.emitted;
  }
}

/** The (proto, external port) an inbound packet is aimed at, or undefined. */
function inboundTarget(p: Uint8Array): string | undefined {
  if (p.length < 20 || p[0] >> 4 !== 4) return undefined;
  const ihl = (p[0] & 15) * 4;
  if (p.length < ihl + 8) return undefined;
  const proto = p[9];
  if (proto === 6 || proto === 17) return `${proto}:${get16(p, ihl + 2)}`;
  if (proto === 47) return `47:${get16(p, ihl + 6)}`;
  if (proto === 1) {
    const type = p[ihl];
    if (type === 0 || type === 14 || type === 16 || type === 18) return `1:${get16(p, ihl + 4)}`;
    const inner = ihl + 8;
    if (p.length < inner + 20) return undefined;
    const iihl = (p[inner] & 15) * 4;
    const iproto = p[inner + 9];
    if (p.length < inner + iihl + 8) return undefined;
    if (iproto === 6 || iproto === 17) return `${iproto}:${get16(p, inner + iihl)}`;
    if (iproto === 1) return `1:${get16(p, inner + iihl + 4)}`;
    if (iproto === 47) return `47:${get16(p, inner + iihl + 6)}`;
  }
  return undefined;
}

function problems(pkt: Uint8Array): string {
  return verifyPacket(pkt)
    .problems.map((x) => `${x.layer}: expected 0x${x.expected.toString(16)} found 0x${x.found.toString(16)}`)
    .join('; ');
}

const insideAddr = fc.constantFrom(H1, H2, '192.168.1.1', '192.168.1.255', '10.9.8.7', EXT, '0.0.0.0');
const outsideAddr = fc.constantFrom(R1, R2, '8.8.8.8', EXT, '203.0.113.99', '255.255.255.255', '127.0.0.1');

function portArb(known: number[]) {
  return fc.oneof(
    fc.constantFrom(0, 53, 80, 123, 5000, 6000, 40000, 65535, ...known),
    fc.integer({ min: 0, max: 65535 }),
  );
}

/** A valid packet of any kind the NAT handles (and some it does not). */
function validPacket(src: fc.Arbitrary<string>, dst: fc.Arbitrary<string>, port: fc.Arbitrary<number>) {
  const simple = fc.oneof(
    fc
      .record({ src, dst, sp: port, dp: port, data: fc.uint8Array({ maxLength: 64 }), zero: fc.boolean() })
      .map((r) =>
        packet({
          src: r.src,
          dst: r.dst,
          udp: { srcPort: r.sp, dstPort: r.dp, zeroChecksum: r.zero },
          payload: r.data,
        }),
      ),
    fc
      .record({
        src,
        dst,
        sp: port,
        dp: port,
        flags: fc.integer({ min: 0, max: 255 }),
        seq: fc.integer({ min: 0, max: 0xffffffff }),
        ack: fc.integer({ min: 0, max: 0xffffffff }),
        data: fc.uint8Array({ maxLength: 64 }),
      })
      .map((r) => tcp(r.src, r.sp, r.dst, r.dp, r.flags, r.seq, r.ack, r.data)),
    fc
      .record({
        src,
        dst,
        type: fc.constantFrom(0, 8, 13, 14, 9, 10, 5, 4),
        code: fc.integer({ min: 0, max: 3 }),
        id: port,
      })
      .map((r) =>
        packet({
          src: r.src,
          dst: r.dst,
          icmp: { type: r.type, code: r.code, identifier: r.id, sequence: 1 },
          payload: 'abcd',
        }),
      ),
    fc
      .record({ src, dst, callId: port, seq: fc.option(fc.nat(), { nil: undefined }) })
      .map((r) => packet({ src: r.src, dst: r.dst, gre: { callId: r.callId, seq: r.seq }, payload: 'ppp' })),
    fc
      .record({ src, dst, ttl: fc.integer({ min: 0, max: 3 }), sp: port, dp: port })
      .map((r) => packet({ src: r.src, dst: r.dst, ttl: r.ttl, udp: { srcPort: r.sp, dstPort: r.dp } })),
  );
  // ICMP errors quoting any of the above (addresses swapped so the quote looks like our own packet).
  const error = fc
    .record({
      src,
      dst,
      type: fc.constantFrom(3, 11, 12, 5),
      code: fc.integer({ min: 0, max: 15 }),
      inner: simple,
      quote: fc.integer({ min: 0, max: 80 }),
    })
    .map((r) => icmpError(r.src, r.dst, r.type, r.code, r.inner, { quoteLen: r.quote }));
  return fc.oneof({ arbitrary: simple, weight: 3 }, { arbitrary: error, weight: 2 });
}

/** A mutation: flip some bytes, maybe truncate or extend, maybe fix the checksums afterwards. */
const mutation = fc.record({
  flips: fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 4 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  extra: fc.uint8Array({ maxLength: 8 }),
  fix: fc.boolean(),
});

interface Mutation {
  flips: { at: number; xor: number }[];
  cut?: number;
  extra: Uint8Array;
  fix: boolean;
}

function mutate(pkt: Uint8Array, m: Mutation): Uint8Array {
  let out = new Uint8Array(pkt.length + m.extra.length);
  out.set(pkt);
  out.set(m.extra, pkt.length);
  for (const f of m.flips) if (out.length > 0) out[f.at % out.length] ^= f.xor;
  if (m.cut !== undefined && out.length > 0) out = out.slice(0, m.cut % (out.length + 1));
  if (m.fix) fixChecksums(out);
  return out;
}

describe('fuzzing', () => {
  it('arbitrary bytes on every interface never throw and never produce a bad packet (checksums verified)', () => {
    const rig = new FuzzRig({ verifyChecksums: true });
    fc.assert(
      fc.property(
        fc.constantFrom('inside', 'outside', 'a', 'b') as fc.Arbitrary<'inside'>,
        fc.uint8Array({ maxLength: 120 }),
        (side, bytes) => {
          const input = bytes.length > 0 ? bytes : new Uint8Array(0);
          // Make a good share of them look like IPv4 so deeper code runs.
          if (input.length > 0 && input[0] % 2 === 0) input[0] = 0x45;
          const out = rig.run(side, input);
          for (const e of out) assert.ok(verifyPacket(e.pkt).ok, `${e.side}: ${problems(e.pkt)}`);
        },
      ),
      { numRuns: 3000 },
    );
    rig.nat.close();
  });

  it('mutated valid packets from inside and tenants never throw, never leak an inside source, keep checksums right, never cross tenants', () => {
    const rig = new FuzzRig();
    const port = portArb(rig.ports);
    fc.assert(
      fc.property(
        fc.constantFrom('inside', 'a', 'b') as fc.Arbitrary<'inside' | 'a' | 'b'>,
        validPacket(insideAddr, outsideAddr, port),
        mutation,
        fc.boolean(),
        (side, pkt, m, doMutate) => {
          const input = doMutate ? mutate(pkt, m) : pkt;
          const valid = verifyPacket(input).ok;
          const owners = rig.owners();
          const toExt = input.length >= 20 && `${input[16]}.${input[17]}.${input[18]}.${input[19]}` === EXT;
          const target = inboundTarget(input);
          const out = rig.run(side, input.slice());
          for (const e of out) {
            if (valid) assert.ok(verifyPacket(e.pkt).ok, `${e.side}: ${problems(e.pkt)}`);
            if (e.side === 'outside') {
              const src = `${e.pkt[12]}.${e.pkt[13]}.${e.pkt[14]}.${e.pkt[15]}`;
              assert.equal(src, EXT, 'every packet on the outside has the external source address');
            } else if (e.side !== side) {
              // Another tenant may only receive a hairpinned packet aimed at one of its own ports.
              const tenant = rig.ids.get(e.side) as number;
              assert.ok(
                toExt && target !== undefined,
                `${e.side} received a packet ${side} did not send to ${EXT}`,
              );
              assert.ok(
                owners.get(target)?.has(tenant),
                `${e.side} received a hairpinned packet aimed at ${target}`,
              );
            }
          }
        },
      ),
      { numRuns: 2500 },
    );
    rig.nat.close();
  });

  it('mutated valid packets from outside never throw, keep checksums right and never reach the wrong tenant', () => {
    const rig = new FuzzRig();
    const port = portArb(rig.ports);
    fc.assert(
      fc.property(
        validPacket(outsideAddr, fc.constantFrom(EXT, EXT, EXT, '203.0.113.7'), port),
        mutation,
        fc.boolean(),
        (pkt, m, doMutate) => {
          const input = doMutate ? mutate(pkt, m) : pkt;
          const valid = verifyPacket(input).ok;
          const owners = rig.owners();
          const target = inboundTarget(input);
          const out = rig.run('outside', input.slice());
          for (const e of out) {
            if (valid) assert.ok(verifyPacket(e.pkt).ok, `${e.side}: ${problems(e.pkt)}`);
            if (e.side === 'outside') continue;
            const tenant = rig.ids.get(e.side) as number;
            assert.ok(target !== undefined, `${e.side} received something for an unparseable input`);
            const who = owners.get(target);
            assert.ok(
              who?.has(tenant),
              `${e.side} (tenant ${tenant}) received a packet aimed at ${target}, owned by ${[...(who ?? [])].join(',') || 'nobody'}`,
            );
          }
        },
      ),
      { numRuns: 3000 },
    );
    rig.nat.close();
  });

  it('random sequences of packets and clock steps on all interfaces never throw or break checksums', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant('in' as const),
              side: fc.constantFrom('inside', 'a', 'b') as fc.Arbitrary<'inside' | 'a' | 'b'>,
              pkt: validPacket(insideAddr, outsideAddr, portArb([])),
            }),
            fc.record({
              kind: fc.constant('out' as const),
              pkt: validPacket(outsideAddr, fc.constant(EXT), portArb([5000, 40000, 6000, 7777])),
            }),
            fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 400_000 }) }),
          ),
          { maxLength: 25 },
        ),
        (steps) => {
          const rig = new FuzzRig({
            maxMappingsPerTenant: 8,
            portRange: { udp: [50000, 50015], tcp: [50000, 50015] },
          });
          for (const s of steps) {
            let out: Array<{ side: string; pkt: Uint8Array }>;
            if (s.kind === 'tick') {
              rig.emitted = [];
              rig.clock.advance(s.ms);
              rig.nat.maintain();
              out = rig.emitted;
            } else {
              out = rig.run(s.kind === 'in' ? s.side : 'outside', s.pkt.slice());
            }
            for (const e of out) assert.ok(verifyPacket(e.pkt).ok, `${e.side}: ${problems(e.pkt)}`);
          }
          rig.nat.close();
        },
      ),
      { numRuns: 2000 },
    );
  });
});
