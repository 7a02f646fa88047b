/**
 * Mapping and filtering against a reference model (RFC 4787 §4.1 and §5, RFC 5382 §4): random
 * outbound and inbound UDP datagrams or TCP SYNs between two inside endpoints per host and two remotes × two ports. The model
 * predicts, for each configuration, which external port every outbound packet must use (a new
 * one exactly when the behaviour calls for a new mapping; never one already held by another
 * mapping) and which inbound packets must be delivered, and to whom.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Behaviour, EXT, H1, H2, R1, R2, Rig, SYN, tcp } from './helpers.js';

const HOSTS = [H1, H2];
const HPORTS = [5000, 5001];
const REMOTES = [R1, R2];
const RPORTS = [53, 54];

type Op = { out: boolean; h: number; hp: number; r: number; rp: number; guess: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  out: fc.boolean(),
  h: fc.integer({ min: 0, max: 1 }),
  hp: fc.integer({ min: 0, max: 1 }),
  r: fc.integer({ min: 0, max: 1 }),
  rp: fc.integer({ min: 0, max: 1 }),
  guess: fc.nat(),
});

function mappingKey(m: Behaviour, o: Op): string {
  if (m === 'endpoint-independent') return `${o.h}/${o.hp}`;
  if (m === 'address-dependent') return `${o.h}/${o.hp}/${o.r}`;
  return `${o.h}/${o.hp}/${o.r}/${o.rp}`;
}

const BEHAVIOURS: Behaviour[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];
const COMBOS: Array<[Behaviour, Behaviour]> = BEHAVIOURS.flatMap((m) =>
  BEHAVIOURS.map((f): [Behaviour, Behaviour] => [m, f]),
);

describe('mapping and filtering model', () => {
  for (const proto of ['udp', 'tcp'] as const)
    for (const [mapping, filtering] of COMBOS) {
      it(`${proto.toUpperCase()}: ${mapping} mapping with ${filtering} filtering matches the model`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.boolean(), (ops, preserve) => {
            const rig = new Rig({ mapping, filtering, portPreservation: preserve, maintainIntervalMs: 0 });
            const maps = new Map<string, { port: number; h: number; hp: number }>();
            const byPort = new Map<number, { h: number; hp: number }>();
            const sessions = new Set<string>(); // `${port}/${r}/${rp}`
            // Sessions created by delivered inbound packets: `${h}/${hp}/${r}/${rp}` -> port. An
            // answer to such a packet goes out through the same port (what the remote expects),
            // even where the mapping behaviour alone would pick a new mapping.
            const answered = new Map<string, Set<number>>();
            for (const o of ops) {
              if (o.out) {
                const key = mappingKey(mapping, o);
                const sent =
                  proto === 'udp'
                    ? rig.udpOut(HOSTS[o.h], HPORTS[o.hp], REMOTES[o.r], RPORTS[o.rp])
                    : rig.fromInside(tcp(HOSTS[o.h], HPORTS[o.hp], REMOTES[o.r], RPORTS[o.rp], SYN, 1000))
                        .out[0];
                assert.ok(sent, 'the packet left');
                assert.equal(sent.src, EXT);
                const port = sent.srcPort as number;
                const known = maps.get(key);
                const viaInbound = answered.get(`${o.h}/${o.hp}/${o.r}/${o.rp}`);
                // An active mapping for this destination (by the mapping behaviour) must be reused
                // (RFC 4787 §4.1); only without one may an inbound-created session decide the port.
                if (known) assert.equal(port, known.port, `mapping ${key} keeps its port`);
                else if (viaInbound)
                  assert.ok(
                    viaInbound.has(port),
                    `the answer to ${REMOTES[o.r]}:${RPORTS[o.rp]} uses a port it came in on`,
                  );
                else {
                  const holder = byPort.get(port);
                  assert.ok(
                    !holder,
                    `new mapping ${key} got port ${port}, already held by ${JSON.stringify(holder)}`,
                  );
                  maps.set(key, { port, h: o.h, hp: o.hp });
                  byPort.set(port, { h: o.h, hp: o.hp });
                }
                sessions.add(`${port}/${o.r}/${o.rp}`);
              } else {
                const ports = [...byPort.keys()];
                if (ports.length === 0) continue;
                const port = ports[o.guess % ports.length];
                const owner = byPort.get(port) as { h: number; hp: number };
                const allowed =
                  filtering === 'endpoint-independent' ||
                  (filtering === 'address-dependent' &&
                    RPORTS.some((_, rp) => sessions.has(`${port}/${o.r}/${rp}`))) ||
                  sessions.has(`${port}/${o.r}/${o.rp}`);
                // TCP: a SYN (an unsolicited one that the filter refuses is held, not delivered).
                const got =
                  proto === 'udp'
                    ? rig.udpIn(REMOTES[o.r], RPORTS[o.rp], port)
                    : rig.fromOutside(tcp(REMOTES[o.r], RPORTS[o.rp], EXT, port, SYN, 7000)).in;
                if (allowed) {
                  assert.equal(
                    got.length,
                    1,
                    `inbound ${REMOTES[o.r]}:${RPORTS[o.rp]} -> ${port} must be delivered`,
                  );
                  assert.deepEqual([got[0].dst, got[0].dstPort], [HOSTS[owner.h], HPORTS[owner.hp]]);
                  const k = `${owner.h}/${owner.hp}/${o.r}/${o.rp}`;
                  answered.set(k, (answered.get(k) ?? new Set<number>()).add(port));
                  sessions.add(`${port}/${o.r}/${o.rp}`);
                } else {
                  assert.equal(
                    got.length,
                    0,
                    `inbound ${REMOTES[o.r]}:${RPORTS[o.rp]} -> ${port} must be filtered`,
                  );
                }
              }
            }
            rig.close();
          }),
          { numRuns: 300 },
        );
      });
    }
});
