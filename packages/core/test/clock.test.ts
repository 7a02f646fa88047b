import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock, SystemClock, systemClock } from '../src/index.js';

describe('ManualClock', () => {
  it('starts where told and moves only when advanced or set', () => {
    const c = new ManualClock(500);
    assert.equal(c.now(), 500);
    assert.equal(c.now(), 500);
    c.advance(2.5);
    assert.equal(c.now(), 502.5);
    c.set(1000);
    assert.equal(c.now(), 1000);
    assert.equal(new ManualClock().now(), 0);
  });

  it('refuses to go backwards or advance by a negative or NaN amount', () => {
    const c = new ManualClock(10);
    assert.throws(() => c.set(9), RangeError);
    assert.throws(() => c.advance(-1), RangeError);
    assert.throws(() => c.advance(Number.NaN), RangeError);
    assert.equal(c.now(), 10);
  });
});

describe('SystemClock', () => {
  it('reads wall-clock milliseconds, refreshed at its resolution, and stops after close', async () => {
    const c = new SystemClock(5);
    try {
      const t0 = c.now();
      assert.ok(Math.abs(t0 - Date.now()) < 50, `${t0} vs ${Date.now()}`);
      assert.equal(c.now(), t0, 'cached between refreshes');
      await sleep(40);
      const t1 = c.now();
      assert.ok(t1 > t0 && t1 - t0 < 1000, `${t0} -> ${t1}`);
      c.close();
      const t2 = c.now();
      await sleep(30);
      assert.equal(c.now(), t2);
    } finally {
      c.close();
    }
  });

  it('shares one process-wide instance through systemClock()', () => {
    assert.equal(systemClock(), systemClock());
    assert.ok(systemClock() instanceof SystemClock);
  });
});
