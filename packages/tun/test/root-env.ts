/**
 * Helpers for the root-only tests of this package: a network namespace per test, named after
 * the process so that parallel runs never collide, and always deleted.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tunAvailable } from '../src/index.js';

/** Why root-only tests skip here, or undefined when they can run. */
export function rootSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN); run as root to exercise a real TUN';
  if (!tunAvailable()) return 'the native addon is not built (npm run build:addon -w @l3kit/tun)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  if (spawnSync('ip', ['-V']).status !== 0) return 'the ip command (iproute2) is missing';
  if (spawnSync('ping', ['-V']).status !== 0) return 'ping (iputils-ping) is missing';
  return undefined;
}

let seq = 0;
/** A short unique name: `<prefix><pid base36><seq>`, at most 15 bytes. */
export function uniqueName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}${(seq++).toString(36)}`.slice(0, 15);
}

/** Runs `ip` with arguments; throws with stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A network namespace deleted by `dispose()`. */
export class TestNetns {
  readonly name: string;
  constructor() {
    this.name = `l3k-${process.pid}-u${seq++}`;
    ip('netns', 'add', this.name);
  }
  /** Runs `ip` inside the namespace. */
  ip(...args: string[]): string {
    return ip('-n', this.name, ...args);
  }
  /** Runs a program inside the namespace and returns its exit status and output. */
  run(cmd: string[], timeoutMs = 10_000): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.name, ...cmd], { encoding: 'utf8', timeout: timeoutMs });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }
  dispose(): void {
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}
