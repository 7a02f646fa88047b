/**
 * The l3kit command in process: keys, usage errors, config checks, the demo (with and without
 * colour), and conntrack / stats / reload against a running gateway's control socket.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readPcapng } from '@l3kit/wire';
import { type CliIo, runCli } from '../src/cli.js';
import { controlRequest, serveControl } from '../src/control.js';
import { serveMetrics } from '../src/metrics.js';
import { startGatewayServices } from '../src/run-gateway.js';
import { nextMessage, startRig, tempDir } from './fixtures.js';

function io(stdin = '', extra: Partial<CliIo> = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    readStdin: async () => stdin,
    env: {},
    ...extra,
    out: () => out,
    err: () => err,
  };
}

const hex = (h: string) => Buffer.from(h, 'hex').toString('base64');

describe('l3kit command', () => {
  it('genkey prints a clamped 32-byte base64 key; pubkey derives the RFC 7748 public key', async () => {
    const g = io();
    assert.equal(await runCli(['genkey'], g), 0);
    const raw = Buffer.from(g.out().trim(), 'base64');
    assert.equal(raw.length, 32);
    assert.equal(raw[0] & 7, 0);
    assert.equal(raw[31] & 0xc0, 0x40);
    // RFC 7748 §6.1: Alice's private key and public key.
    const p = io(`${hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')}\n`);
    assert.equal(await runCli(['pubkey'], p), 0);
    assert.equal(p.out(), `${hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')}\n`);
  });

  it('pubkey rejects a bad key with exit 1 and the key error code', async () => {
    const p = io('not a key');
    assert.equal(await runCli(['pubkey'], p), 1);
    assert.match(p.err(), /^l3kit pubkey: .*\[ERR_BAD_KEY\]\n$/);
  });

  it('answers usage errors with exit 2 and the usage text', async () => {
    for (const args of [[], ['frobnicate'], ['gateway'], ['stats', '--bogus'], ['demo', '--out']]) {
      const x = io();
      assert.equal(await runCli(args, x), 2, args.join(' '));
      assert.match(x.out() + x.err(), /usage: l3kit <command>/);
    }
    const h = io();
    assert.equal(await runCli(['help'], h), 0);
  });

  it('gateway --check validates a file and prints each problem with its path', async () => {
    const dir = tempDir();
    try {
      const f = join(dir, 'gw.json');
      writeFileSync(f, JSON.stringify({ nat: { inside: '10.0.0.1/24', outside: 'x' } }));
      const bad = io();
      assert.equal(await runCli(['gateway', '--check', '--config', f], bad), 1);
      assert.match(bad.err(), /\$\.nat\.outside: must be an IPv4 address with a prefix length/);
      assert.match(bad.err(), /\[ERR_BAD_CONFIG\]/);
      // Valid JSON, but nothing to run on: --check says what a start would find.
      writeFileSync(f, JSON.stringify({ nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' } }));
      const noUplink = io();
      assert.equal(await runCli(['gateway', `--config=${f}`, '--check'], noUplink), 1);
      assert.match(noUplink.err(), /\$\.uplink: required/);
      const uplink = { tun: 'l3up0', address: '203.0.113.254/24' };
      const keyless = {
        nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' },
        uplink,
        wireguard: { privateKeyFile: join(dir, 'missing.key'), listenPort: 51820, peers: [] },
      };
      writeFileSync(f, JSON.stringify(keyless));
      const noKey = io();
      assert.equal(await runCli(['gateway', `--config=${f}`, '--check'], noKey), 1);
      assert.match(noKey.err(), /\$\.wireguard\.privateKeyFile: cannot read/);
      writeFileSync(f, JSON.stringify({ nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' }, uplink }));
      const good = io();
      assert.equal(await runCli(['gateway', `--config=${f}`, '--check'], good), 0);
      assert.match(good.out(), /valid/);
      const help = io();
      assert.equal(await runCli(['gateway', '--help'], help), 0);
      assert.match(help.out(), /usage: l3kit/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('schema prints the JSON Schema', async () => {
    const x = io();
    assert.equal(await runCli(['schema'], x), 0);
    assert.equal(JSON.parse(x.out()).required[0], 'nat');
  });

  it('demo runs in process, writes its pcapng and colours only when asked', async () => {
    const dir = tempDir();
    try {
      const out = join(dir, 'demo.pcapng');
      const plain = io('', { color: false });
      assert.equal(await runCli(['demo', '--out', out], plain), 0);
      assert.ok(!plain.out().includes('\x1b['));
      assert.match(plain.out(), /^== WireGuard: two clients/m);
      const file = readPcapng(new Uint8Array(readFileSync(out)));
      assert.ok(file.packets.length > 50);
      const colour = io('', { color: true });
      assert.equal(await runCli(['demo', '--out', out], colour), 0);
      assert.ok(colour.out().includes('\x1b[1m\x1b[36m== WireGuard'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses control and metrics endpoints it cannot open with typed errors', async () => {
    const dir = tempDir();
    try {
      await assert.rejects(
        serveControl(join(dir, 'no', 'such', 'dir.sock'), () => 0),
        {
          code: 'ERR_CONTROL_PATH',
        },
      );
      const file = join(dir, 'plain-file');
      writeFileSync(file, 'not a socket');
      await assert.rejects(
        serveControl(file, () => 0),
        { code: 'ERR_CONTROL_PATH', message: /is not a socket/ },
      );
      const first = await serveMetrics(() => '', 0);
      try {
        await assert.rejects(
          serveMetrics(() => '', first.port),
          { code: 'ERR_METRICS_LISTEN', message: /EADDRINUSE/ },
        );
      } finally {
        first.server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('conntrack, stats and reload talk to a running gateway over its 0600 control socket', async () => {
    const dir = tempDir();
    const socket = join(dir, 'ctl.sock');
    const rig = await startRig((c) => ({ ...c, control: { socket }, metrics: { port: 0 } }));
    let reloads = 0;
    const svc = await startGatewayServices(rig.gw, rig.config, () => {
      reloads++;
      return rig.gw.reload(rig.config);
    });
    try {
      assert.equal(statSync(socket).mode & 0o777, 0o600);
      const echo = rig.server.udp.bind(7);
      echo.on('message', (d, from) => echo.send(d, from.port, from.address));
      const sock = rig.client.udp.bind(40000);
      const got = nextMessage(sock);
      sock.send('x', 7, '203.0.113.80');
      await got;

      const ct = io();
      assert.equal(await runCli(['conntrack', '--socket', socket], ct), 0);
      assert.match(
        ct.out(),
        /^ipv4 +2 udp +17 .*src=10\.0\.0\.2 dst=203\.0\.113\.80 sport=40000 dport=7 .*zone=1 /m,
      );
      const ctj = io();
      assert.equal(await runCli(['conntrack', '--json'], { ...ctj, env: { L3KIT_SOCKET: socket } }), 0);
      assert.equal(JSON.parse(ctj.out()).nat44[0].insidePort, 40000);

      const st = io();
      assert.equal(await runCli(['stats', '--socket', socket], st), 0);
      assert.match(st.out(), /^tenant 1 alice \(wireguard\): 1 mappings$/m);
      assert.match(st.out(), /^peer alice: endpoint 192\.0\.2\.10:51820, 1 handshakes/m);
      const prom = io();
      assert.equal(await runCli(['stats', '--prometheus', '--socket', socket], prom), 0);
      assert.match(prom.out(), /^l3kit_nat_mappings\{tenant="1",name="alice"\} 1$/m);
      // The HTTP endpoint serves the same text.
      const res = await fetch(`http://127.0.0.1:${svc.metricsPort}/metrics`);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(await res.text(), /^l3kit_wireguard_handshakes_total\{peer="alice",tenant="1"\} 1$/m);
      assert.equal((await fetch(`http://127.0.0.1:${svc.metricsPort}/`)).status, 404);

      const rl = io();
      assert.equal(await runCli(['reload', '--socket', socket], rl), 0);
      assert.equal(reloads, 1);
      assert.deepEqual(JSON.parse(rl.out()).needRestart, []);
      await assert.rejects(controlRequest(socket, { cmd: 'selfdestruct' }), { code: 'ERR_UNKNOWN_COMMAND' });
    } finally {
      await svc.close();
      rig.close();
    }
    assert.ok(!existsSync(socket), 'the socket file is removed');
    const gone = io();
    assert.equal(await runCli(['stats', '--socket', socket], gone), 1);
    assert.match(gone.err(), /cannot reach a gateway at .*\[ERR_CONTROL_UNREACHABLE\]/);
    rmSync(dir, { recursive: true, force: true });
  });
});
