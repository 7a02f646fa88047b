/**
 * The `l3kit` command line: `demo`, `gateway`, `conntrack`, `stats`, `reload`, `genkey`,
 * `genpsk`, `pubkey`, `schema`. {@link runCli} is the whole program minus `process.exit`, so
 * tests run it in process.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, L3kitError } from '@l3kit/core';
import { runDemo } from '@l3kit/examples/topology';
import { genkey, genpsk, pubkey } from '@l3kit/wireguard';
import { colorEnabled, colors } from './color.js';
import { GATEWAY_SCHEMA_PATH, loadGatewayConfig } from './config.js';
import { controlRequest } from './control.js';
import { type GatewayStats, readKeyFile } from './gateway.js';
import { runGateway } from './run-gateway.js';

/** Where the command reads and writes. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads all of stdin (for `pubkey`). */
  readStdin: () => Promise<string>;
  /** Colour on stdout (default: TTY and no NO_COLOR). */
  color?: boolean;
  /** Environment (`NO_COLOR`, `FORCE_COLOR`, `L3KIT_SOCKET`, `L3KIT_DEMO_OUT`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The usage text. */
export const USAGE = `usage: l3kit <command> [options]

  demo [--out <file.pcapng>]        an in-process tour: WireGuard tenants, NAT, HTTP over the
                                    userspace TCP, NAT64, conntrack, a pcapng (no root)
  gateway --config <gateway.json>   run a gateway (root: TUN); SIGHUP reloads peers and forwards,
          [--check]                 SIGTERM/SIGINT save the state; --check only validates the file
  conntrack [--json]                connection table of a running gateway
  stats [--json | --prometheus]     counters of a running gateway
  reload                            like SIGHUP: re-read the config of a running gateway
  genkey | genpsk                   print a new WireGuard private / preshared key
  pubkey                            read a private key on stdin, print its public key
  schema                            print the gateway config's JSON Schema

  conntrack, stats and reload talk to the control socket: --socket <path>, or --config <file>
  (its control.socket), or $L3KIT_SOCKET.`;

/** Parses `--name value` / `--name=value` / `--flag` options after the command. */
export function parseOptions(
  args: string[],
  valued: readonly string[],
  flags: readonly string[],
): { values: Record<string, string>; flags: Set<string> } {
  const values: Record<string, string> = {};
  const set = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
    const [, name, inline] = m;
    if (valued.includes(name)) {
      const v = inline ?? args[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--')))
        throw new UsageError(`--${name} needs a value`);
      values[name] = v;
    } else if (flags.includes(name) && inline === undefined) set.add(name);
    else throw new UsageError(`unknown option --${name}`);
  }
  return { values, flags: set };
}

/** Wrong command-line usage (exit code 2). */
export class UsageError extends L3kitError {
  constructor(message: string) {
    super('ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

function socketPath(values: Record<string, string>, env: NodeJS.ProcessEnv): string {
  if (values.socket) return values.socket;
  if (values.config) {
    const cfg = loadGatewayConfig(values.config);
    if (!cfg.control) throw new UsageError(`${values.config} has no control.socket`);
    return cfg.control.socket;
  }
  if (env.L3KIT_SOCKET) return env.L3KIT_SOCKET;
  throw new UsageError('which gateway? give --socket <path> or --config <gateway.json>');
}

/** Formats `l3kit stats` for people. */
export function formatStats(s: GatewayStats): string {
  const out: string[] = [];
  out.push(
    `uptime ${s.uptimeSeconds.toFixed(0)} s${s.restoredFromSnapshot ? ' (state restored at start)' : ''}`,
  );
  for (const [name, n] of [
    ['nat44', s.nat],
    ['nat64', s.nat64],
  ] as const) {
    if (!n) continue;
    out.push(
      `${name}: ${n.packetsOut} packets out (${n.bytesOut} bytes), ${n.packetsIn} in (${n.bytesIn} bytes), ` +
        `${n.activeMappings} mappings, ${n.activeSessions} sessions`,
    );
    const drops = Object.entries(n.drops).filter(([, v]) => v > 0);
    if (drops.length) out.push(`  drops: ${drops.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  for (const t of s.tenants)
    out.push(`tenant ${t.tenant} ${t.name} (${t.kind}): ${s.mappingsPerTenant[t.tenant] ?? 0} mappings`);
  for (const p of s.peers)
    out.push(
      `peer ${p.name}: endpoint ${p.endpoint ?? '(none)'}, ${p.handshakes} handshakes` +
        (p.lastHandshakeSecondsAgo !== undefined
          ? `, last ${p.lastHandshakeSecondsAgo.toFixed(0)} s ago`
          : '') +
        `, rx ${p.rxBytes} bytes, tx ${p.txBytes} bytes`,
    );
  const fw = Object.entries(s.forwardsByOrigin);
  if (fw.length) out.push(`forwards: ${fw.map(([k, v]) => `${v} ${k}`).join(', ')}`);
  const pc = Object.entries(s.portControlRequests);
  if (pc.length) out.push(`port control: ${pc.map(([k, v]) => `${k} x${v}`).join(', ')}`);
  const rw = Object.entries(s.helperRewrites);
  if (rw.length) out.push(`helpers: ${rw.map(([k, v]) => `${k} ${v} rewrites`).join(', ')}`);
  out.push(`uplink: ${s.uplink.packetsIn} in, ${s.uplink.packetsOut} out, ${s.uplink.dropped} dropped`);
  return `${out.join('\n')}\n`;
}

/**
 * Runs the command line `args` (without `node` and the script). Resolves to the exit code:
 * 0 success, 1 failure, 2 usage error. `gateway` resolves only when the gateway stops.
 */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = args;
  const env = io.env ?? process.env;
  if (cmd !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  try {
    switch (cmd) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(`${USAGE}\n`);
        return cmd === undefined ? 2 : 0;
      case 'genkey':
      case 'genpsk':
        parseOptions(rest, [], []);
        io.stdout(`${cmd === 'genkey' ? genkey() : genpsk()}\n`);
        return 0;
      case 'pubkey': {
        parseOptions(rest, [], []);
        const text = (await io.readStdin()).trim();
        io.stdout(`${pubkey(text)}\n`);
        return 0;
      }
      case 'schema':
        parseOptions(rest, [], []);
        io.stdout(readFileSync(GATEWAY_SCHEMA_PATH, 'utf8'));
        return 0;
      case 'demo':
        return await demo(rest, io, env);
      case 'gateway': {
        const o = parseOptions(rest, ['config'], ['check']);
        if (!o.values.config) throw new UsageError('gateway needs --config <gateway.json>');
        const file = resolve(o.values.config);
        const config = loadGatewayConfig(file);
        if (o.flags.has('check')) {
          // What only a start would find: the uplink to open and the key file to read.
          if (!config.uplink)
            throw new ConfigError('ERR_BAD_CONFIG', '$.uplink: required to run the gateway (a TUN uplink)');
          if (config.wireguard?.privateKeyFile !== undefined) readKeyFile(config.wireguard.privateKeyFile);
          io.stdout(`${o.values.config}: valid\n`);
          return 0;
        }
        return await runGateway(file, config, io);
      }
      case 'conntrack': {
        const o = parseOptions(rest, ['socket', 'config'], ['json']);
        const json = o.flags.has('json');
        const r = await controlRequest(socketPath(o.values, env), { cmd: 'conntrack', json });
        io.stdout(json ? `${JSON.stringify(r, null, 2)}\n` : String(r));
        return 0;
      }
      case 'stats': {
        const o = parseOptions(rest, ['socket', 'config'], ['json', 'prometheus']);
        const path = socketPath(o.values, env);
        if (o.flags.has('prometheus')) io.stdout(String(await controlRequest(path, { cmd: 'metrics' })));
        else {
          const s = (await controlRequest(path, { cmd: 'stats' })) as GatewayStats;
          io.stdout(o.flags.has('json') ? `${JSON.stringify(s, null, 2)}\n` : formatStats(s));
        }
        return 0;
      }
      case 'reload': {
        const o = parseOptions(rest, ['socket', 'config'], []);
        const r = await controlRequest(socketPath(o.values, env), { cmd: 'reload' });
        io.stdout(`${JSON.stringify(r, null, 2)}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`l3kit: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof L3kitError) {
      io.stderr(`l3kit ${cmd}: ${e.message} [${e.code}]\n`);
      return 1;
    }
    io.stderr(`l3kit ${cmd}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

async function demo(rest: string[], io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const o = parseOptions(rest, ['out'], []);
  const out = resolve(o.values.out ?? env.L3KIT_DEMO_OUT ?? 'l3kit-demo.pcapng');
  const c = colors(io.color ?? colorEnabled(process.stdout, env));
  await runDemo({
    out,
    log: (line) => {
      let l = line;
      if (l.startsWith('== ')) l = c.bold(c.cyan(l));
      else if (/^\s+\d+ /.test(l))
        l = l.replace(/^(\s+\d+ )(\S+ ->|-> \S+)/, (_, n, a) => c.dim(n) + c.magenta(a));
      else if (/as expected/.test(l)) l = c.yellow(l);
      else if (/^ {3}\S/.test(l)) l = c.green(l);
      io.stdout(`${l}\n`);
    },
  });
  return 0;
}
