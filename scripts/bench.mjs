#!/usr/bin/env node
// Runs benchmarks and merges their figures into bench/results.json.
// Usage: node scripts/bench.mjs [prefix ...] [--package name] [--list]
// Each compiled `*.bench.js` under packages/*/dist/bench or test/dist/bench exports
// `benchmarks: Benchmark[]` (see @l3kit/testkit). Each benchmark runs in its own
// `node --expose-gc` process so JIT state and heap of one cannot colour another.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const list = args.includes('--list');
const pkgIdx = args.indexOf('--package');
const onlyPkg = pkgIdx >= 0 ? args[pkgIdx + 1] : undefined;
const prefixes = args.filter((a, i) => !a.startsWith('--') && !(pkgIdx >= 0 && i === pkgIdx + 1));

const dirs = [];
for (const pkg of readdirSync(join(root, 'packages'))) {
  if (onlyPkg && pkg !== onlyPkg) continue;
  dirs.push(join(root, 'packages', pkg, 'dist', 'bench'));
}
if (!onlyPkg) dirs.push(join(root, 'test', 'dist', 'bench'));
const files = dirs.filter(existsSync).flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.bench.js'))
    .map((f) => join(d, f)),
);

const todo = [];
for (const file of files) {
  const mod = await import(pathToFileURL(file).href);
  for (const b of mod.benchmarks ?? []) {
    if (prefixes.length === 0 || prefixes.some((p) => b.name.startsWith(p)))
      todo.push({ file, name: b.name });
  }
}
if (list) {
  for (const t of todo) console.log(`${t.name}\t${relative(root, t.file)}`);
  process.exit(0);
}
if (todo.length === 0) {
  console.error(`no benchmark matches ${prefixes.join(' ') || '(all)'}`);
  process.exit(1);
}

const outFile = join(root, 'bench', 'results.json');
mkdirSync(join(root, 'bench'), { recursive: true });
let doc = { machine: {}, results: [] };
if (existsSync(outFile)) {
  try {
    doc = JSON.parse(readFileSync(outFile, 'utf8'));
  } catch {
    /* start afresh */
  }
}
doc.machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  date: new Date().toISOString(),
};
let failed = 0;
for (const t of todo) {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', join(root, 'scripts', 'bench-one.mjs'), t.file, t.name],
    {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    console.error(`FAIL ${t.name} (exit ${r.status})`);
    failed++;
    continue;
  }
  const result = JSON.parse(line);
  doc.results = doc.results.filter((x) => x.name !== result.name);
  doc.results.push(result);
  const extra = Object.entries(result)
    .filter(([k]) => !['name', 'unit', 'value', 'description'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
  console.log(
    `${result.name.padEnd(32)} ${String(result.value).padStart(12)} ${result.unit.padEnd(8)} ${extra}`,
  );
}
doc.results.sort((a, b) => a.name.localeCompare(b.name));
writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
console.log(`wrote ${relative(root, outFile)} (${doc.results.length} results)`);
process.exit(failed ? 1 : 0);
