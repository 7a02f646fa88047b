import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksum } from '@l3kit/wire';
import {
  ImpairmentLink,
  type L3Device,
  ManualClock,
  ManualScheduler,
  type PacketHandler,
  SeededRandom,
  TimerScheduler,
} from '../src/index.js';

/** A device that records what is sent into it and can emit packets. */
class Probe implements L3Device {
  received: Array<{ t: number; pkt: Uint8Array }> = [];
  handler: PacketHandler = () => {};
  constructor(private readonly clock?: ManualClock) {}
  setHandler(h: PacketHandler): void {
    this.handler = h;
  }
  send(pkt: Uint8Array): void {
    this.received.push({ t: this.clock?.now() ?? 0, pkt });
  }
  addr() {
    return undefined;
  }
  setAddr(): void {}
  close(): void {}
  emit(pkt: Uint8Array): void {
    this.handler(pkt);
  }
}

function numbered(i: number, len = 100): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = i >> 8;
  p[1] = i & 0xff;
  return p;
}

function run(opts: Omit<ConstructorParameters<typeof ImpairmentLink>[0], 'scheduler'>, n: number) {
  const sched = new ManualScheduler(new ManualClock(0));
  const a = new Probe(sched.clock);
  const b = new Probe(sched.clock);
  const link = new ImpairmentLink({ ...opts, scheduler: sched });
  link.connect(a, b);
  for (let i = 0; i < n; i++) a.emit(numbered(i));
  sched.runAll();
  return { link, got: b.received, sched, a, b };
}

describe('SeededRandom', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const x = new SeededRandom(1);
    const y = new SeededRandom(1);
    const z = new SeededRandom(2);
    const xs = Array.from({ length: 5 }, () => x.nextU32());
    assert.deepEqual(
      xs,
      Array.from({ length: 5 }, () => y.nextU32()),
    );
    assert.notDeepEqual(
      xs,
      Array.from({ length: 5 }, () => z.nextU32()),
    );
  });

  it('is roughly uniform in [0, 1)', () => {
    const r = new SeededRandom(42);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const v = r.next();
      assert.ok(v >= 0 && v < 1);
      buckets[Math.floor(v * 10)]++;
    }
    for (const b of buckets) assert.ok(b > 9_500 && b < 10_500, `bucket ${b}`);
  });
});

describe('ImpairmentLink', () => {
  it('passes everything synchronously, in order, when nothing is impaired', () => {
    const a = new Probe();
    const b = new Probe();
    new ImpairmentLink({ seed: 1 }).connect(a, b);
    for (let i = 0; i < 10; i++) a.emit(numbered(i));
    b.emit(numbered(99));
    assert.deepEqual(
      b.received.map((r) => r.pkt[1]),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(a.received.length, 1);
  });

  it('drops about the configured fraction, reproducibly for a seed', () => {
    const r1 = run({ seed: 7, loss: 0.1 }, 10_000);
    const r2 = run({ seed: 7, loss: 0.1 }, 10_000);
    const lost = r1.link.stats.ab.lost;
    assert.ok(lost > 900 && lost < 1100, `lost ${lost}`);
    assert.deepEqual(
      r1.got.map((g) => (g.pkt[0] << 8) | g.pkt[1]),
      r2.got.map((g) => (g.pkt[0] << 8) | g.pkt[1]),
    );
    assert.equal(r1.got.length + lost, 10_000);
    const r3 = run({ seed: 8, loss: 0.1 }, 10_000);
    assert.notDeepEqual(
      r1.got.map((g) => (g.pkt[0] << 8) | g.pkt[1]),
      r3.got.map((g) => (g.pkt[0] << 8) | g.pkt[1]),
    );
  });

  it('delays by delayMs plus jitter in [0, jitterMs)', () => {
    const { got } = run({ seed: 3, delayMs: 20, jitterMs: 5 }, 500);
    assert.equal(got.length, 500);
    for (const g of got) assert.ok(g.t >= 20 && g.t < 25, `arrived at ${g.t}`);
    assert.ok(new Set(got.map((g) => Math.floor(g.t))).size > 3, 'jitter spreads arrival times');
  });

  it('reorders: held-back packets arrive after packets sent later', () => {
    const { got, link } = run({ seed: 11, reorder: 0.1, delayMs: 1, reorderDelayMs: 10 }, 1000);
    assert.equal(got.length, 1000);
    // A packet was overtaken when one sent after it arrived before it.
    let overtaken = 0;
    let maxSeen = -1;
    for (const g of got) {
      const n = (g.pkt[0] << 8) | g.pkt[1];
      if (n < maxSeen) overtaken++;
      maxSeen = Math.max(maxSeen, n);
    }
    assert.ok(link.stats.ab.reordered > 50);
    assert.equal(overtaken, link.stats.ab.reordered);
  });

  it('duplicates packets as separate buffers', () => {
    const { got, link } = run({ seed: 5, duplicate: 0.2 }, 1000);
    assert.equal(got.length, 1000 + link.stats.ab.duplicated);
    assert.ok(link.stats.ab.duplicated > 150 && link.stats.ab.duplicated < 250);
    for (let i = 1; i < got.length; i++) {
      if (got[i].pkt[1] === got[i - 1].pkt[1] && got[i].pkt[0] === got[i - 1].pkt[0]) {
        assert.notEqual(got[i].pkt, got[i - 1].pkt);
      }
    }
  });

  it('corrupts exactly one bit, on a copy, so checksums catch it', () => {
    const sched = new ManualScheduler();
    const a = new Probe();
    const b = new Probe();
    new ImpairmentLink({ seed: 9, corrupt: 1, scheduler: sched }).connect(a, b);
    for (let i = 0; i < 100; i++) {
      const p = numbered(i, 20);
      p[0] = 0x45;
      const ck = checksum(p, 0, 20);
      p[10] = ck >> 8;
      p[11] = ck & 0xff;
      const orig = p.slice();
      a.emit(p);
      assert.deepEqual(p, orig, 'the sender keeps its buffer');
      const got = b.received[i].pkt;
      let bits = 0;
      for (let j = 0; j < 20; j++) {
        let x = got[j] ^ orig[j];
        while (x) {
          bits += x & 1;
          x >>= 1;
        }
      }
      assert.equal(bits, 1);
      assert.notEqual(checksum(got, 0, 20), 0);
    }
  });

  it('limits the rate by serialising packets and tail-drops beyond the queue', () => {
    // 100-byte packets at 80 kbit/s = 10 ms each; queue 1000 bytes = 10 packets.
    const { got, link } = run({ seed: 1, rateBps: 80_000, queueBytes: 1000 }, 20);
    assert.equal(got.length, 10);
    assert.equal(link.stats.ab.queueDropped, 10);
    assert.deepEqual(
      got.map((g) => g.t),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    );
  });

  it('impairs both directions with separate counters, and wraps a single device', () => {
    const sched = new ManualScheduler();
    const inner = new Probe(sched.clock);
    const link = new ImpairmentLink({ seed: 2, delayMs: 5, scheduler: sched });
    const outer = link.wrap(inner);
    const fromInner: Uint8Array[] = [];
    outer.setHandler((p) => fromInner.push(p));
    outer.send(numbered(1));
    inner.emit(numbered(2));
    assert.equal(inner.received.length, 0);
    assert.equal(fromInner.length, 0);
    sched.advance(5);
    assert.equal(inner.received.length, 1);
    assert.equal(fromInner.length, 1);
    assert.equal(link.stats.ab.delivered, 1);
    assert.equal(link.stats.ba.delivered, 1);
    link.close();
    outer.send(numbered(3));
    assert.equal(link.stats.ab.closed, 1);
  });

  it('rejects bad options with typed errors', () => {
    assert.throws(() => new ImpairmentLink({ seed: Number.NaN }), { code: 'ERR_BAD_SEED' });
    assert.throws(() => new ImpairmentLink({ seed: 1, loss: 1.5 }), { code: 'ERR_BAD_PROBABILITY' });
    assert.throws(() => new ImpairmentLink({ seed: 1, delayMs: -1 }), { code: 'ERR_BAD_IMPAIRMENT' });
    assert.throws(() => new ImpairmentLink({ seed: 1, rateBps: 0 }), { code: 'ERR_BAD_IMPAIRMENT' });
  });
});

describe('schedulers', () => {
  it('ManualScheduler runs callbacks in time order, with the clock at each due time', () => {
    const s = new ManualScheduler(new ManualClock(100));
    const seen: Array<[string, number]> = [];
    s.schedule(130, () => seen.push(['c', s.clock.now()]));
    s.schedule(110, () => {
      seen.push(['a', s.clock.now()]);
      s.schedule(115, () => seen.push(['b', s.clock.now()]));
    });
    const dead = s.schedule(120, () => seen.push(['x', s.clock.now()]));
    dead.cancel();
    s.advance(25);
    assert.deepEqual(seen, [
      ['a', 110],
      ['b', 115],
    ]);
    assert.equal(s.clock.now(), 125);
    assert.equal(s.pending, 1);
    s.runAll();
    assert.deepEqual(seen.at(-1), ['c', 130]);
  });

  it('TimerScheduler fires on real time', async () => {
    const s = new TimerScheduler();
    const t0 = Date.now();
    // The scheduler's timers are unref'd (they never keep a process alive): hold the event loop
    // open with a ref'd timer of our own while waiting, or node:test may end the file first.
    const keepAlive = setTimeout(() => {}, 5_000);
    try {
      await new Promise<void>((r) => s.schedule(s.clock.now() + 20, r));
    } finally {
      clearTimeout(keepAlive);
    }
    assert.ok(Date.now() - t0 >= 10);
  });
});
