import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReplayWindow } from '../src/replay.js';

describe('ReplayWindow', () => {
  it('accepts counters in order and rejects each one a second time', () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 5000; i++) assert.equal(w.update(i), true);
    for (let i = 4990; i < 5000; i++) assert.equal(w.update(i), false);
    assert.equal(w.highest, 4999);
  });

  it('accepts out-of-order counters within the window once', () => {
    const w = new ReplayWindow();
    assert.ok(w.update(1000));
    assert.ok(w.update(998));
    assert.ok(w.update(999));
    assert.ok(w.update(10));
    assert.equal(w.update(998), false);
    assert.equal(w.update(10), false);
    assert.ok(w.update(11));
  });

  it('rejects counters older than the window', () => {
    const w = new ReplayWindow();
    assert.ok(w.size >= 2048);
    assert.ok(w.update(100_000));
    assert.equal(w.check(100_000 - w.size), false);
    assert.equal(w.update(100_000 - w.size), false);
    assert.ok(w.update(100_000 - w.size + 1));
  });

  it('forgets old bits when the window jumps far ahead', () => {
    const w = new ReplayWindow(4);
    assert.ok(w.update(5));
    assert.ok(w.update(5 + 64 * 4));
    // counter 5 + 64*4 - 64*3 + 1 is inside the window and was never seen
    assert.ok(w.update(5 + 64 + 1));
    assert.equal(w.update(5 + 64 * 4), false);
  });

  it('behaves like a set with a moving lower bound for arbitrary sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(3000), { maxLength: 300 }), (seqs) => {
        const w = new ReplayWindow(4);
        const seen = new Set<number>();
        let hi = -1;
        for (const c of seqs) {
          const expect = !seen.has(c) && (c > hi || hi - c < w.size);
          assert.equal(w.update(c), expect, `counter ${c} (hi ${hi})`);
          if (expect) {
            seen.add(c);
            if (c > hi) hi = c;
          }
        }
      }),
    );
  });
});
