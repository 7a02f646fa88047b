#!/usr/bin/env node
// Runs every compiled unit / in-process test with node's own test runner.
// Usage: node scripts/test.mjs [dir-or-substring ...]   (filters test files by path substring)
// Interop tests (test/interop) are excluded here; they run with scripts/test-interop.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(join(root, 'packages')))
  walk(join(root, 'packages', pkg, 'dist', 'test'), files);
walk(join(root, 'test', 'dist'), files);
const selected = files
  .map((f) => relative(root, f))
  .filter((f) => !f.includes(`${'interop'}/`))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (selected.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'}; did the build run?`);
  process.exit(1);
}
// A test that hangs fails after 5 minutes; a run that does not end (a test file that never
// exits because it left a socket or timer open) is killed after 30 minutes and fails, instead of
// blocking CI.
const RUN_LIMIT_MS = 30 * 60 * 1000;
const r = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...selected],
  {
    cwd: root,
    stdio: 'inherit',
    timeout: RUN_LIMIT_MS,
    killSignal: 'SIGKILL',
  },
);
if (r.error && /ETIMEDOUT/.test(String(r.error))) {
  console.error(
    `test: the run exceeded ${RUN_LIMIT_MS / 60000} minutes (a test file did not exit: open handles?)`,
  );
  process.exit(1);
}
process.exit(r.status ?? 1);
