/**
 * The benchmark harness. A `*.bench.ts` file in any package's `bench/` folder exports
 * `benchmarks: Benchmark[]`; `npm run bench [-- prefix]` (scripts/bench.mjs) runs each one in a
 * fresh `node --expose-gc` process and merges the results into `bench/results.json`.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';

/** One measured figure, as stored in `bench/results.json`. */
export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  [extra: string]: unknown;
}

/** A benchmark: a stable name (issues cite it), a unit, and a function producing the figure. */
export interface Benchmark {
  name: string;
  unit: string;
  /** Human description of what is measured. */
  description: string;
  run(): Promise<Omit<BenchResult, 'name' | 'unit'>> | Omit<BenchResult, 'name' | 'unit'>;
}

/** Result of {@link timeOps}. */
export interface Timing {
  /** Nanoseconds per operation (median of the rounds). */
  nsPerOp: number;
  /** Operations per second derived from the median. */
  opsPerSec: number;
  rounds: number;
  opsPerRound: number;
}

/**
 * Times `fn(i)` called `opsPerRound` times per round, after a warm-up, and returns the median
 * ns/op over `rounds`. `fn` must do the work for one operation; loop overhead is included.
 */
export function timeOps(
  fn: (i: number) => void,
  opts: { opsPerRound?: number; rounds?: number; warmup?: number } = {},
): Timing {
  const opsPerRound = opts.opsPerRound ?? 100_000;
  const rounds = opts.rounds ?? 15;
  const warmup = opts.warmup ?? 3;
  const samples: number[] = [];
  for (let r = 0; r < warmup + rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < opsPerRound; i++) fn(i);
    const t1 = process.hrtime.bigint();
    if (r >= warmup) samples.push(Number(t1 - t0) / opsPerRound);
  }
  samples.sort((a, b) => a - b);
  const nsPerOp = samples[samples.length >> 1];
  return { nsPerOp: round(nsPerOp), opsPerSec: Math.round(1e9 / nsPerOp), rounds, opsPerRound };
}

/** Result of {@link measureAllocations}. */
export interface AllocationReport {
  /** Heap growth per operation in bytes, with GC suppressed as far as possible (≈0 means no allocation). */
  bytesPerOp: number;
  /** Garbage collections observed while the operations ran (0 in a truly allocation-free loop). */
  gcCount: number;
  ops: number;
}

/**
 * Measures heap allocation of `fn` by the heap growth over `ops` calls between two forced GCs,
 * and counts the GCs that happened meanwhile. Needs `--expose-gc` (the bench runner passes it).
 */
export async function measureAllocations(fn: (i: number) => void, ops = 200_000): Promise<AllocationReport> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('measureAllocations needs node --expose-gc');
  for (let i = 0; i < 10_000; i++) fn(i); // warm up, let ICs settle
  let gcCount = 0;
  const obs = new PerformanceObserver((list) => {
    gcCount += list.getEntries().length;
  });
  gc();
  gc();
  await new Promise((r) => setImmediate(r));
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < ops; i++) fn(i);
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 10));
  obs.disconnect();
  const bytesPerOp = Math.max(0, after - before) / ops;
  return { bytesPerOp: round(bytesPerOp), gcCount, ops };
}

/** Heap bytes in use after a full GC (needs `--expose-gc`). */
export function heapUsedAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Milliseconds taken by one call of `fn`, median of `rounds` calls. */
export function timeMs(fn: () => void, rounds = 7): number {
  const s: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    s.push(performance.now() - t0);
  }
  s.sort((a, b) => a - b);
  return round(s[s.length >> 1]);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
