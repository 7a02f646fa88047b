#!/usr/bin/env node
// Runs the interop suite (test/dist/interop/*.test.js) with node's test runner, one file at a
// time (the tests share two CPU cores with everything else and start real programs).
//
// Usage: node scripts/test-interop.mjs [pattern ...]
//   A pattern that matches part of a test file path selects those files; a pattern that matches
//   no file is used as a test name pattern (regular expression) across all files.
//   L3KIT_INTEROP=required  turns every skip (no root, missing tool, addon not built) into a failure.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const required = process.env.L3KIT_INTEROP === 'required';
const patterns = process.argv.slice(2).filter((a) => !a.startsWith('--'));

// The TUN addon is built by `npm install`; build it now if that step was skipped.
const addon = spawnSync(
  process.execPath,
  [
    join(root, 'packages', 'tun', 'scripts', 'build-addon.mjs'),
    '--if-missing',
    '--quiet',
    ...(required ? ['--strict'] : []),
  ],
  { stdio: 'inherit' },
);
if (addon.status !== 0) {
  console.error('test-interop: the @l3kit/tun addon cannot be built (L3KIT_INTEROP=required)');
  process.exit(1);
}

const dir = join(root, 'test', 'dist', 'interop');
const files = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.test.js'))
      .map((f) => relative(root, join(dir, f)))
      .sort()
  : [];
if (files.length === 0) {
  console.error('test-interop: no compiled interop tests in test/dist/interop; did the build run?');
  process.exit(1);
}

let selected = files;
const namePatterns = [];
if (patterns.length) {
  const byFile = new Set();
  for (const p of patterns) {
    const hits = files.filter((f) => f.includes(p));
    if (hits.length) for (const h of hits) byFile.add(h);
    else namePatterns.push(p);
  }
  if (byFile.size) selected = files.filter((f) => byFile.has(f));
}

if (process.getuid?.() !== 0) {
  const msg = 'interop tests need root (network namespaces, TUN devices)';
  if (required) {
    console.error(`test-interop: L3KIT_INTEROP=required but ${msg}`);
    process.exit(1);
  }
  console.log(`test-interop: ${msg}; every test will skip. Run as root to exercise them.`);
}

console.log(
  `test-interop: ${selected.length} file(s)${namePatterns.length ? `, tests matching ${namePatterns.join(' | ')}` : ''}${required ? ' (L3KIT_INTEROP=required)' : ''}`,
);
const args = [
  '--test',
  '--test-reporter=spec',
  '--test-concurrency=1',
  ...namePatterns.map((p) => `--test-name-pattern=${p}`),
  ...selected,
];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.signal) {
  console.error(`test-interop: test runner killed by ${r.signal}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
