/**
 * Shared parts of the differential tests of the fast paths (NAT44 `fast-path.test.ts`, NAT64
 * `nat64-fast-path.test.ts`): a seeded generator, and a loop that sends random mutations of
 * template packets to two devices (fast paths on / off) and requires identical outputs.
 */
import assert from 'node:assert/strict';

/** A seeded linear congruential generator in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** One side of a differential run: where packets go in, what came out, its clock. */
export interface DifferentialSide<D extends string> {
  send(dir: D, pkt: Uint8Array): void;
  out: string[];
  clock: { advance(ms: number): void };
}

/**
 * Sends `count` packets — each a template with up to three random byte mutations (mostly in the
 * first `headerBytes`), sometimes truncated — to both sides, and asserts that both emit exactly
 * the same. Now and then the clocks move a second.
 */
export function runDifferential<D extends string>(
  a: DifferentialSide<D>,
  b: DifferentialSide<D>,
  templates: ReadonlyArray<readonly [D, Uint8Array]>,
  opts: { count: number; seed: number; headerBytes: number },
): void {
  const rnd = lcg(opts.seed);
  for (let k = 0; k < opts.count; k++) {
    const [dir, t] = templates[Math.floor(rnd() * templates.length)];
    const p = t.slice();
    const mutations = Math.floor(rnd() * 4);
    for (let j = 0; j < mutations; j++) {
      const off = rnd() < 0.8 ? Math.floor(rnd() * opts.headerBytes) : Math.floor(rnd() * p.length);
      p[off] = rnd() < 0.5 ? Math.floor(rnd() * 256) : p[off] ^ (1 << Math.floor(rnd() * 8));
    }
    const q = rnd() < 0.05 ? p.subarray(0, Math.floor(rnd() * p.length)) : p;
    a.out.length = 0;
    b.out.length = 0;
    a.send(dir, q.slice());
    b.send(dir, q.slice());
    if (rnd() < 0.001) for (const x of [a, b]) x.clock.advance(1000);
    assert.deepEqual(
      a.out,
      b.out,
      `packet ${k} (${dir}): outputs differ; input ${Buffer.from(q).toString('hex')}`,
    );
  }
}
