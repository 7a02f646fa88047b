import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TimerWheel } from '../src/index.js';

describe('TimerWheel smoke', () => {
  it('expires each id at its deadline, including deadlines beyond one lap, and visits nothing early', () => {
    const w = new TimerWheel(100, 4, 0, 4); // 16 slots of 100 ms: one lap is 1.6 s
    const deadline = [250, 1_000, 10_000, 3_333];
    const expired: Array<[number, number]> = [];
    for (let id = 0; id < deadline.length; id++) w.schedule(id, deadline[id]);
    for (let now = 0; now <= 12_000; now += 50) {
      w.advance(now, (id, t) => {
        if (deadline[id] > t) return deadline[id];
        expired.push([id, t]);
        return -1;
      });
    }
    assert.deepEqual(expired, [
      [0, 300],
      [1, 1_000],
      [3, 3_400],
      [2, 10_000],
    ]);
    assert.equal(w.size, 0);
  });

  it('follows a deadline that moved later without any wheel operation (lazy refresh)', () => {
    const w = new TimerWheel(100, 8, 0, 4);
    let d = 500;
    w.schedule(0, d);
    let at = -1;
    for (let now = 0; now <= 5_000; now += 100) {
      if (now === 400) d = 2_000; // a packet refreshed it
      w.advance(now, (_id, t) => {
        if (d > t) return d;
        at = t;
        return -1;
      });
    }
    assert.equal(at, 2_000);
  });

  it('lets a callback cancel another id of the same slot safely', () => {
    const w = new TimerWheel(100, 8, 0, 4);
    w.schedule(0, 100);
    w.schedule(1, 100);
    const seen: number[] = [];
    w.advance(100, (id) => {
      seen.push(id);
      w.cancel(id === 0 ? 1 : 0);
      return -1;
    });
    assert.equal(seen.length, 2, 'both detached ids are still offered (the owner checks liveness)');
    assert.equal(w.size, 0);
  });
});
