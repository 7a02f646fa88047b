/**
 * The interop harness: network namespaces, TUN devices moved into them, real programs started
 * by PID inside them, and cleanup that always runs (test failure, exception, SIGINT / SIGTERM,
 * process exit). Everything it creates is named `l3k-<pid>-...` (namespaces) or
 * `l3k<pid36><n><role>` (interfaces, unique across namespaces), so that a run can sweep what a
 * dead run left behind without touching a live one.
 *
 * Skips: a test declared with {@link interopTest} skips with a clear message when not root or
 * when a tool is missing, except with `L3KIT_INTEROP=required`, where that is a failure.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { connectL3, type L3Device } from '@l3kit/core';
import { TunDevice, tunAvailable } from '@l3kit/tun';

const execFileP = promisify(execFile);

/** True when `L3KIT_INTEROP=required`: every skip becomes a failure. */
export const REQUIRED = process.env.L3KIT_INTEROP === 'required';

/** Debian package of each tool the suite uses (for skip messages and `.ci/run`). */
export const TOOL_PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  ss: 'iproute2',
  ping: 'iputils-ping',
  curl: 'curl',
  socat: 'socat',
  iperf3: 'iperf3',
  tshark: 'tshark',
  python3: 'python3',
  nft: 'nftables',
  ethtool: 'ethtool',
  sleep: 'coreutils',
  sha256sum: 'coreutils',
  'wireguard-go': 'wireguard-go',
  wg: 'wireguard-tools',
  tayga: 'tayga',
  lftp: 'lftp',
  vsftpd: 'vsftpd',
  'in.tftpd': 'tftpd-hpa',
  tftp: 'tftp-hpa',
  upnpc: 'miniupnpc',
  natpmpc: 'natpmpc',
  danted: 'dante-server',
  microsocks: 'microsocks',
  tinyproxy: 'tinyproxy',
};

const toolCache = new Map<string, boolean>();
/** Whether `tool` is on PATH. */
export function hasTool(tool: string): boolean {
  let ok = toolCache.get(tool);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
    toolCache.set(tool, ok);
  }
  return ok;
}

/** Why interop tests needing `tools` cannot run here, or undefined. */
export function skipReason(tools: readonly string[] = []): string | undefined {
  if (process.platform !== 'linux') return 'interop tests need Linux';
  if (process.getuid?.() !== 0)
    return 'interop tests need root (network namespaces, TUN); run `sudo npm run test:interop`';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  if (!tunAvailable()) return 'the @l3kit/tun native addon is not built (npm run build:addon -w @l3kit/tun)';
  const missing = ['ip', 'ss', ...tools].filter((t) => !hasTool(t));
  if (missing.length)
    return `missing tools: ${missing.map((t) => `${t} (apt-get install ${TOOL_PACKAGES[t] ?? t})`).join(', ')}`;
  return undefined;
}

/**
 * Declares an interop test that needs `tools`. Without root or a tool it skips with the reason,
 * or fails with it under `L3KIT_INTEROP=required`.
 */
export function interopTest(
  name: string,
  tools: readonly string[],
  fn: () => Promise<void> | void,
  options: { timeout?: number } = {},
): void {
  const reason = skipReason(tools);
  if (reason === undefined) {
    it(name, { timeout: options.timeout ?? 60_000 }, fn);
  } else if (REQUIRED) {
    it(name, () => {
      throw new Error(`L3KIT_INTEROP=required, but this test cannot run: ${reason}`);
    });
  } else {
    it(name, { skip: reason }, () => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry

type Cleanup = () => void;
const cleanups: Cleanup[] = [];
let handlersInstalled = false;

function runCleanupsSync(): void {
  while (cleanups.length) {
    const c = cleanups.pop() as Cleanup;
    try {
      c();
    } catch {
      /* best effort: keep cleaning */
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', runCleanupsSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      runCleanupsSync();
      process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
    });
  }
}

/** Registers a synchronous cleanup that runs at dispose, exit or on a signal. Returns a remover. */
export function onCleanup(c: Cleanup): () => void {
  installHandlers();
  cleanups.push(c);
  return () => {
    const i = cleanups.indexOf(c);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Whether `pid` runs (a zombie counts as dead). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function killNetnsPids(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const p of (r.stdout ?? '').split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Deletes namespaces named `l3k-<pid>-...` whose creating process is dead (after killing what
 * runs inside them). Returns the names removed.
 */
export function sweepStale(): string[] {
  if (process.getuid?.() !== 0 || !hasTool('ip')) return [];
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const removed: string[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const name = line.split(' ')[0];
    const m = /^l3k-(\d+)-/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    killNetnsPids(name);
    spawnSync('ip', ['netns', 'del', name]);
    removed.push(name);
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Names

let counter = 0;
const pid36 = process.pid.toString(36);

/** A fresh id for this process (used in namespace and interface names). */
export function freshId(): string {
  return (counter++).toString(36);
}

/** An interface name unique across namespaces: `l3k<pid36><id><role>` (≤ 15 bytes). */
export function ifName(id: string, role: string): string {
  const n = `l3k${pid36}${id}${role}`;
  if (n.length > 15) throw new Error(`interface name too long: ${n}`);
  return n;
}

/** Runs `ip args...` synchronously; throws with stderr on failure. */
export function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr ?? '').trim()}`);
  return r.stdout ?? '';
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A program started inside a namespace; its PID is the program's (ip netns exec execs it). */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly cmd: string;
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;
  readonly #unregister: () => void;

  constructor(ns: string, cmd: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.cmd = cmd.join(' ');
    this.child = spawn('ip', ['netns', 'exec', ns, ...cmd], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`cannot start ${this.cmd}`);
    this.pid = this.child.pid;
    const cap = (s: string, d: Buffer) => (s.length < 1 << 20 ? s + d.toString('utf8') : s);
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout = cap(this.stdout, d);
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = cap(this.stderr, d);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
      this.child.on('error', () => resolve(null));
    });
    const pid = this.pid;
    this.#unregister = onCleanup(() => {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.exitCode === null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.running) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        if (this.running) process.kill(this.pid, 'SIGKILL');
      }, graceMs);
      await this.exited;
      clearTimeout(t);
    }
    this.#unregister();
  }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

/** The result of a command run to completion in a namespace. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A network namespace `l3k-<pid>-<id>-<role>`, deleted by `dispose()` or at exit. */
export class Netns {
  readonly name: string;
  readonly #procs = new Set<Proc>();
  readonly #unregister: () => void;
  #disposed = false;

  constructor(role: string) {
    this.name = `l3k-${process.pid}-${freshId()}-${role}`;
    ip('netns', 'add', this.name);
    const name = this.name;
    this.#unregister = onCleanup(() => {
      killNetnsPids(name);
      spawnSync('ip', ['netns', 'del', name]);
    });
    this.ip('link', 'set', 'lo', 'up');
  }

  /** `ip -n <ns> args...` (synchronous). */
  ip(...args: string[]): string {
    return ip('-n', this.name, ...args);
  }

  /** Sets a sysctl inside the namespace (via /proc/sys, no procps needed). Synchronous. */
  sysctl(key: string, value: string): void {
    if (!/^[\w.-]+$/.test(key) || !/^[\w.-]+$/.test(value)) throw new Error(`bad sysctl ${key}=${value}`);
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    const r = spawnSync('ip', ['netns', 'exec', this.name, 'sh', '-c', `echo ${value} > ${path}`], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`sysctl ${key}=${value} failed in ${this.name}: ${r.stderr}`);
  }

  /** Runs a command to completion in the namespace (asynchronously: the event loop keeps relaying). */
  async run(
    cmd: string[],
    opts: { timeoutMs?: number; check?: boolean; cwd?: string } = {},
  ): Promise<RunResult> {
    try {
      const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', this.name, ...cmd], {
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
        cwd: opts.cwd,
        killSignal: 'SIGKILL',
      });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean };
      const res = {
        code: typeof err.code === 'number' ? err.code : -1,
        stdout: err.stdout ?? '',
        stderr: `${err.stderr ?? ''}${err.killed ? '\n(killed: timeout)' : ''}`,
      };
      if (opts.check)
        throw new Error(
          `${cmd.join(' ')} failed in ${this.name} (exit ${res.code}):\n${res.stdout}\n${res.stderr}`,
        );
      return res;
    }
  }

  /** Starts a long-running program in the namespace; `dispose()` stops it if still running. */
  spawn(cmd: string[], opts: { cwd?: string } = {}): Proc {
    const p = new Proc(this.name, cmd, opts);
    this.#procs.add(p);
    return p;
  }

  /** Waits until something listens on `port` (TCP or UDP) in the namespace. */
  async waitForPort(
    port: number,
    proto: 'tcp' | 'udp' = 'tcp',
    timeoutMs = 10_000,
    proc?: Proc,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const flag = proto === 'tcp' ? '-Hltn' : '-Hlun';
    for (;;) {
      const r = spawnSync('ip', ['netns', 'exec', this.name, 'ss', flag, `sport = :${port}`], {
        encoding: 'utf8',
      });
      if ((r.stdout ?? '').trim().length > 0) return;
      if (proc && !proc.running)
        throw new Error(`${proc.cmd} exited (${proc.exitCode}) before listening on ${port}: ${proc.stderr}`);
      if (Date.now() > deadline) throw new Error(`nothing listens on ${proto}/${port} in ${this.name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the namespace's programs and deletes it. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all([...this.#procs].map((p) => p.stop()));
    killNetnsPids(this.name);
    spawnSync('ip', ['netns', 'del', this.name]);
    this.#unregister();
  }
}

/**
 * Opens a TUN in the root namespace with a unique name, moves it into `ns` (the fd stays valid),
 * gives it `addr` and brings it up. Closed at dispose / exit.
 */
export function tunInto(
  ns: Netns,
  name: string,
  addr: string,
  opts: {
    mtu?: number;
    vnetHdr?: boolean;
    offload?: boolean;
    txQueueLen?: number;
    batch?: number;
    /** Keep IPv6 on the interface (default false: no router solicitations into IPv4-only devices). */
    ipv6?: boolean;
  } = {},
): TunDevice {
  // A deep kernel queue (4096, kernel default 500) absorbs event-loop pauses of the relay on a
  // busy machine; with 500, bulk TCP through the relay loses packets at the queue.
  const tun = TunDevice.open({
    name,
    mtu: opts.mtu ?? 1500,
    vnetHdr: opts.vnetHdr,
    offload: opts.offload,
    txQueueLen: opts.txQueueLen ?? 4096,
    batch: opts.batch,
  });
  onCleanup(() => tun.close());
  ip('link', 'set', tun.name, 'netns', ns.name);
  if (!opts.ipv6) ns.sysctl(`net.ipv6.conf.${tun.name}.disable_ipv6`, '1');
  ns.ip('addr', 'add', addr, 'dev', tun.name);
  ns.ip('link', 'set', tun.name, 'up');
  return tun;
}

// ---------------------------------------------------------------------------------------------
// The common topology

/** Addresses of the common topology (the same for the relay and the NAT). */
export const PLAN = {
  /** The client's address on its TUN; its default route points into l3kit. */
  client: '192.168.1.2',
  clientNet: '192.168.1.0/24',
  /** The NAT's inside address (the client's gateway). */
  natInside: '192.168.1.1/24',
  /** The server's address on its TUN. */
  server: '203.0.113.2',
  serverNet: '203.0.113.0/24',
  /** The NAT's outside address (what the server sees as the source with the NAT). */
  natOutside: '203.0.113.1/24',
  /** IPv6 (with `ipv6: true`): the client, its network, the server and its network. */
  client6: '2001:db8:1::2',
  clientNet6: '2001:db8:1::/64',
  server6: '2001:db8:2::2',
  serverNet6: '2001:db8:2::/64',
} as const;

/** client namespace —TUN— l3kit (this process) —TUN— server namespace. */
export interface Topology {
  readonly client: Netns;
  readonly server: Netns;
  readonly clientTun: TunDevice;
  readonly serverTun: TunDevice;
  /** Tears everything down (programs, namespaces, TUNs). */
  dispose(): Promise<void>;
}

/** Options of {@link makeTopology}. */
export interface TopologyOptions {
  /**
   * Whether the server gets a route back to the client network (true for a do-nothing relay,
   * false when a NAT in the middle masquerades the client).
   */
  serverRouteBack: boolean;
  /** Wires the two TUNs together inside this process; returns an optional cleanup. */
  wire: (clientTun: TunDevice, serverTun: TunDevice) => (() => void) | undefined;
  mtu?: number;
  vnetHdr?: boolean;
  offload?: boolean;
  /** Kernel queue length of both TUNs (default 4096). */
  txQueueLen?: number;
  /** Packets per read batch of both TUNs (default: TunDevice's). */
  batch?: number;
  /**
   * Also IPv6: client 2001:db8:1::2/64 with a default route into its TUN, server
   * 2001:db8:2::2/64 (plus a route back to 2001:db8:1::/64 with `serverRouteBack`). Default false.
   */
  ipv6?: boolean;
}

/**
 * Builds the common topology: a client namespace with 192.168.1.2/24 and a default route into
 * its TUN, a server namespace with 203.0.113.2/24 on its TUN (and, if `serverRouteBack`, a
 * route to 192.168.1.0/24), and both TUNs wired by `wire` in this process.
 */
export function makeTopology(opts: TopologyOptions): Topology {
  const id = freshId();
  const client = new Netns(`${id}c`);
  const server = new Netns(`${id}s`);
  const devOpts = {
    mtu: opts.mtu,
    vnetHdr: opts.vnetHdr,
    offload: opts.offload,
    txQueueLen: opts.txQueueLen,
    batch: opts.batch,
    ipv6: opts.ipv6,
  };
  const clientTun = tunInto(client, ifName(id, 'c'), `${PLAN.client}/24`, devOpts);
  const serverTun = tunInto(server, ifName(id, 's'), `${PLAN.server}/24`, devOpts);
  client.ip('route', 'add', 'default', 'dev', clientTun.name);
  if (opts.serverRouteBack) server.ip('route', 'add', PLAN.clientNet, 'dev', serverTun.name);
  if (opts.ipv6) {
    // nodad: the address is usable at once (no duplicate detection on a point-to-point TUN).
    client.ip('-6', 'addr', 'add', `${PLAN.client6}/64`, 'dev', clientTun.name, 'nodad');
    client.ip('-6', 'route', 'add', 'default', 'dev', clientTun.name);
    server.ip('-6', 'addr', 'add', `${PLAN.server6}/64`, 'dev', serverTun.name, 'nodad');
    if (opts.serverRouteBack) server.ip('-6', 'route', 'add', PLAN.clientNet6, 'dev', serverTun.name);
  }
  const unwire = opts.wire(clientTun, serverTun);
  return {
    client,
    server,
    clientTun,
    serverTun,
    async dispose() {
      unwire?.();
      clientTun.close();
      serverTun.close();
      await Promise.all([client.dispose(), server.dispose()]);
    },
  };
}

/** The do-nothing relay: `connectL3(clientTun, serverTun)`. */
export function relay(a: L3Device, b: L3Device): () => void {
  connectL3(a, b);
  return () => {
    a.setHandler(() => {});
    b.setHandler(() => {});
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** A temporary directory removed at cleanup. */
export function tempDir(prefix = 'l3k-interop-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The python3 to use for `python3 -m http.server` (Debian's, when present). */
export function python3(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** Parses iperf3 `-J` output; throws with the text when it is not JSON or reports an error. */
export function parseIperf(out: string): IperfResult {
  let j: {
    error?: string;
    end?: {
      sum_received?: { bits_per_second: number; bytes: number };
      sum_sent?: { bits_per_second: number; bytes: number; retransmits?: number };
      sum?: {
        bits_per_second: number;
        bytes: number;
        lost_percent?: number;
        lost_packets?: number;
        packets?: number;
      };
    };
  };
  try {
    j = JSON.parse(out);
  } catch {
    throw new Error(`iperf3 output is not JSON:\n${out.slice(0, 2000)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const end = j.end ?? {};
  if (end.sum && end.sum.lost_percent !== undefined)
    return {
      mbps: end.sum.bits_per_second / 1e6,
      bytes: end.sum.bytes,
      lostPercent: end.sum.lost_percent,
      packets: end.sum.packets,
    };
  if (end.sum_received)
    return {
      mbps: end.sum_received.bits_per_second / 1e6,
      bytes: end.sum_received.bytes,
      retransmits: end.sum_sent?.retransmits,
    };
  throw new Error(`iperf3 JSON without a summary:\n${out.slice(0, 2000)}`);
}

/** What {@link parseIperf} extracts. */
export interface IperfResult {
  mbps: number;
  bytes: number;
  retransmits?: number;
  lostPercent?: number;
  packets?: number;
}

sweepStale();
