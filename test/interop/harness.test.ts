/**
 * The harness cleans up after itself: an interrupted run (SIGINT / SIGTERM) removes its
 * namespaces and stops its programs, and a run killed outright (SIGKILL) is swept by the next.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe } from 'node:test';
import { interopTest, sweepStale } from './harness.js';

const harnessUrl = new URL('./harness.js', import.meta.url).href;

interface Started {
  ns: string[];
  pid: number;
}

/** Starts a child that builds a topology with a `sleep 60` in the server namespace. */
async function startChild(): Promise<{
  child: ReturnType<typeof spawn>;
  info: Started;
  exit: Promise<number | null>;
}> {
  const script = `const h = await import(${JSON.stringify(harnessUrl)});
const topo = h.makeTopology({ serverRouteBack: true, wire: h.relay });
const p = topo.server.spawn(['sleep', '60']);
console.log(JSON.stringify({ ns: [topo.client.name, topo.server.name], pid: p.pid }));
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))),
  );
  const info = await new Promise<Started>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.on('exit', () => reject(new Error('child exited before reporting')));
  });
  return { child, info, exit };
}

function namespaces(): string[] {
  return (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0]);
}

/** Running (a zombie left for an init that does not reap counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe('harness cleanup', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    interopTest(
      `${sig} removes the namespaces and stops the programs of the interrupted run`,
      ['sleep'],
      async () => {
        const { child, info, exit } = await startChild();
        const before = namespaces();
        for (const ns of info.ns) assert.ok(before.includes(ns), `${ns} exists while running`);
        assert.ok(alive(info.pid), 'sleep runs');
        child.kill(sig);
        assert.equal(await exit, sig === 'SIGINT' ? 130 : 143);
        const after = namespaces();
        for (const ns of info.ns) assert.ok(!after.includes(ns), `${ns} removed`);
        assert.ok(await gone(info.pid), 'sleep was killed');
      },
    );
  }

  interopTest('the stale sweep removes what a SIGKILLed run left behind', ['sleep'], async () => {
    const { child, info, exit } = await startChild();
    child.kill('SIGKILL');
    await exit;
    // Nothing ran in the killed process: its namespaces and its program are still there.
    for (const ns of info.ns) assert.ok(namespaces().includes(ns), `${ns} left behind`);
    const removed = sweepStale();
    for (const ns of info.ns) assert.ok(removed.includes(ns), `${ns} swept`);
    for (const ns of info.ns) assert.ok(!namespaces().includes(ns));
    assert.ok(await gone(info.pid), 'the orphaned sleep was killed');
  });
});
