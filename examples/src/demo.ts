/**
 * `npm run demo`: virtual hosts across an L3Hub, every packet printed, a pcapng written.
 *
 * Usage: node examples/dist/demo.js [--out <path>]   (or L3KIT_DEMO_OUT=<path>)
 * Default output: ./l3kit-demo.pcapng
 */
import { resolve } from 'node:path';
import { runDemo } from './topology.js';

function outPath(argv: string[]): string {
  const i = argv.indexOf('--out');
  if (i >= 0) {
    const p = argv[i + 1];
    if (!p || p.startsWith('--')) {
      console.error('usage: demo [--out <path>]');
      process.exit(2);
    }
    return p;
  }
  const eq = argv.find((a) => a.startsWith('--out='));
  if (eq) return eq.slice('--out='.length);
  return process.env.L3KIT_DEMO_OUT || './l3kit-demo.pcapng';
}

const out = outPath(process.argv.slice(2));
try {
  await runDemo({ out: resolve(out), log: (line) => console.log(line) });
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
}
