/**
 * Expiry against a model: random flows, refreshes and clock jumps (including timeouts longer
 * than any internal timer span); after every `maintain()` a flow idle for less than its timeout
 * is alive and one idle for longer (plus 200 ms of timer granularity) is gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ACK, EXT, H1, handshake, liveMappings, R1, Rig, TCP, tcp, UDP } from './helpers.js';

const SLACK_MS = 200;

type Op = { kind: 'open' | 'touch'; flow: number } | { kind: 'wait'; ms: number };

function ops(timeout: number): fc.Arbitrary<Op[]> {
  return fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('open' as const), flow: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('touch' as const), flow: fc.integer({ min: 0, max: 7 }) }),
      fc.record({
        kind: fc.constant('wait' as const),
        ms: fc.oneof(
          fc.integer({ min: 0, max: 5_000 }),
          fc.integer({ min: timeout - 2_000, max: timeout + 2_000 }),
          fc.integer({ min: 0, max: 3 * timeout }),
        ),
      }),
    ),
    { minLength: 1, maxLength: 30 },
  );
}

describe('expiry model', () => {
  for (const timeout of [120_000, 300_000, 20_000_000]) {
    it(`UDP mappings with a ${timeout / 1000} s timeout expire exactly as the model says`, () => {
      fc.assert(
        fc.property(ops(timeout), (list) => {
          const rig = new Rig({ timeouts: { udp: timeout }, maintainIntervalMs: 0 });
          const last = new Map<number, number>();
          const ext = new Map<number, number>();
          for (const op of list) {
            if (op.kind === 'wait') {
              rig.advance(op.ms);
              const now = rig.clock.now();
              const live = new Set(liveMappings(rig.nat, UDP).map((m) => m.insidePort - 10000));
              for (const [flow, t] of last) {
                const idle = now - t;
                if (idle < timeout) assert.ok(live.has(flow), `flow ${flow} idle ${idle} ms must be alive`);
                else if (idle >= timeout + SLACK_MS) {
                  assert.ok(!live.has(flow), `flow ${flow} idle ${idle} ms must be gone`);
                  last.delete(flow);
                } else if (!live.has(flow)) last.delete(flow); // within the timer granularity: either
              }
            } else if (op.kind === 'open' || last.has(op.flow)) {
              const o = rig.udpOut(H1, 10000 + op.flow, R1, 53);
              const known = ext.get(op.flow);
              if (last.has(op.flow) && known !== undefined)
                assert.equal(o.srcPort, known, 'a live mapping keeps its port');
              ext.set(op.flow, o.srcPort as number);
              last.set(op.flow, rig.clock.now());
            }
          }
          rig.close();
        }),
        { numRuns: 150 },
      );
    });
  }

  it('an established TCP connection with a 24 h timeout survives 23 h idle and is gone after 24 h', () => {
    const rig = new Rig({ timeouts: { tcpEstablished: 86_400_000 }, maintainIntervalMs: 0 });
    const c = handshake(rig, H1, 40000, R1, 443);
    for (let h = 0; h < 23; h++) rig.advanceSec(3600);
    assert.equal(liveMappings(rig.nat, TCP).length, 1, 'alive after 23 h');
    rig.advanceSec(3599);
    assert.equal(liveMappings(rig.nat, TCP).length, 1, 'alive 1 s before 24 h');
    rig.advanceSec(2);
    assert.equal(liveMappings(rig.nat, TCP).length, 0, 'gone after 24 h');
    assert.equal(rig.fromOutside(tcp(R1, 443, EXT, c.ext, ACK, c.rseq, c.hseq, 'late')).in.length, 0);
    rig.close();
  });

  it('one huge clock jump expires everything that is due', () => {
    const rig = new Rig({ maintainIntervalMs: 0 });
    for (let i = 0; i < 50; i++) rig.udpOut(H1, 20000 + i, R1, 53);
    handshake(rig, H1, 40000, R1, 443);
    rig.advance(30 * 24 * 3600 * 1000);
    assert.equal(liveMappings(rig.nat).length, 0);
    rig.close();
  });
});
