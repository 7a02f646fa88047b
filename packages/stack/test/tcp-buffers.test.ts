import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Reassembly } from '../src/tcp/recv-buffer.js';
import { Scoreboard } from '../src/tcp/sack.js';
import { SendBuffer } from '../src/tcp/send-buffer.js';
import { seqAdd, seqDiff, seqGt, seqLt } from '../src/tcp/seq.js';

describe('sequence arithmetic', () => {
  it('compares across the 2^32 wrap', () => {
    assert.ok(seqLt(0xfffffff0, 0x10));
    assert.ok(seqGt(0x10, 0xfffffff0));
    assert.equal(seqDiff(0x10, 0xfffffff0), 0x20);
    assert.equal(seqAdd(0xffffffff, 2), 1);
  });
});

describe('SendBuffer', () => {
  it('matches a flat model for any mix of writes, acknowledgements and reads', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              op: fc.constant('push' as const),
              len: fc.integer({ min: 0, max: 5000 }),
              owned: fc.boolean(),
            }),
            fc.record({ op: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 6000 }) }),
            fc.record({
              op: fc.constant('read' as const),
              off: fc.nat(),
              len: fc.integer({ min: 0, max: 3000 }),
            }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const sb = new SendBuffer();
          let model: number[] = [];
          let counter = 0;
          for (const o of ops) {
            if (o.op === 'push') {
              const d = new Uint8Array(o.len);
              for (let i = 0; i < o.len; i++) d[i] = (counter + i) & 0xff;
              counter += o.len;
              sb.push(d, o.owned);
              if (!o.owned) d.fill(0xee); // the buffer must have copied it
              for (let i = 0; i < o.len; i++) model.push((counter - o.len + i) & 0xff);
            } else if (o.op === 'consume') {
              const n = Math.min(o.n, model.length);
              sb.consume(n);
              model = model.slice(n);
            } else if (model.length > 0) {
              const off = o.off % model.length;
              const len = Math.min(o.len, model.length - off);
              const out = new Uint8Array(len);
              sb.copyOut(off, len, out, 0);
              assert.deepEqual([...out], model.slice(off, off + len));
            }
            assert.equal(sb.length, model.length);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Reassembly', () => {
  it('rebuilds the stream from overlapping out-of-order pieces and reports SACK blocks inside the held data', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 1500 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (isn, pieces) => {
          const total = 6000;
          const stream = Uint8Array.from({ length: total }, (_, i) => (i * 7) & 0xff);
          const r = new Reassembly();
          let rcvNxt = isn >>> 0;
          const got: number[] = [];
          const base = isn >>> 0;
          for (const [start, len] of pieces) {
            const end = Math.min(total, start + len);
            const relNxt = seqDiff(rcvNxt, base);
            if (end <= relNxt) continue;
            const s = Math.max(start, relNxt);
            if (s === relNxt) {
              for (const b of stream.subarray(s, end)) got.push(b);
              rcvNxt = seqAdd(base, end);
              for (const d of r.take(rcvNxt)) {
                for (const b of d) got.push(b);
                rcvNxt = seqAdd(rcvNxt, d.length);
              }
            } else {
              r.insert(seqAdd(base, s), stream.subarray(s, end));
              const blocks = r.sackBlocks(4);
              for (let i = 0; i < blocks.length; i += 2) {
                assert.ok(seqLt(rcvNxt, blocks[i]) && seqLt(blocks[i], blocks[i + 1]));
              }
            }
          }
          assert.deepEqual(got, [...stream.subarray(0, got.length)]);
          assert.equal(seqDiff(rcvNxt, base), got.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Scoreboard', () => {
  it('tracks SACKed ranges like a bitmap and finds the holes below the highest one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 60 })), {
          maxLength: 20,
        }),
        (una, blocks) => {
          const sb = new Scoreboard();
          const max = seqAdd(una, 400);
          const bitmap = new Array(400).fill(false);
          for (const [l, n] of blocks) {
            sb.add([seqAdd(una, l), seqAdd(una, l + n)], una, max);
            for (let i = l; i < Math.min(400, l + n); i++) bitmap[i] = true;
          }
          const covered = bitmap.filter(Boolean).length;
          assert.equal(sb.bytes(), covered);
          const highest = bitmap.lastIndexOf(true) + 1;
          let at = una;
          for (;;) {
            const hole = sb.nextHole(at, 1000);
            if (!hole) break;
            const s = seqDiff(hole[0], una);
            const e = seqDiff(hole[1], una);
            for (let i = s; i < e; i++) assert.equal(bitmap[i], false, `hole byte ${i}`);
            assert.ok(e <= highest);
            at = hole[1];
          }
          // Every un-SACKed byte below the highest SACKed one is inside some reported hole.
          const firstGap = bitmap.indexOf(false);
          if (firstGap >= 0 && firstGap < highest) assert.ok(sb.nextHole(una, 1000));
        },
      ),
      { numRuns: 500 },
    );
  });
});
