/**
 * Egress without NAT, with real software: a client namespace attached through a TUN to an
 * `EgressDevice` in this process fetches pages from `python3 -m http.server` in a server
 * namespace — directly from this process (slirp-style), through Dante (`danted`, SOCKS5),
 * through microsocks (SOCKS5 with RFC 1929 authentication) and through tinyproxy (HTTP CONNECT
 * with Basic authentication). The route is chosen by the name curl resolved through the device's
 * DNS interceptor (fake-IP), so five names on one address take four routes, and one is denied.
 *
 *   client ns ──TUN── l3kit EgressDevice (root ns) ── veth 10.250.N.0/30 ── proxy ns (danted,
 *   microsocks, tinyproxy; forwards) ── veth 10.250.N.4/30 ── server ns (http.server)
 *
 * The server logs the peer of each request: the root namespace's veth address for direct egress,
 * the proxy namespace's address for the proxies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { EgressDevice } from '@l3kit/egress';
import { assertChecksums } from '@l3kit/testkit';
import type { TunDevice } from '@l3kit/tun';
import {
  freshId,
  ifName,
  interopTest,
  ip,
  Netns,
  onCleanup,
  type Proc,
  python3,
  skipReason,
  tempDir,
  tunInto,
} from './harness.js';

const TOOLS = [
  'curl',
  'python3',
  'sha256sum',
  'danted',
  'microsocks',
  'tinyproxy',
  'socat',
  'getent',
] as const;
const UDP_PORT = 9000;
const N = 20 + (process.pid % 200);
const NET = `10.250.${N}`;
const ROOT = `${NET}.1`;
const PROXY = `${NET}.2`;
const PROXY_OUT = `${NET}.5`;
const SERVER = `${NET}.6`;
const HTTP_PORT = 8000;
const BIG = 50 * 1024 * 1024;
const NAMES = ['direct.test', 'dante.test', 'micro.test', 'tiny.test', 'bad.test'];

describe('egress: client -TUN- l3kit EgressDevice - direct / danted / microsocks / tinyproxy - http.server', () => {
  let client: Netns | undefined;
  let proxy: Netns | undefined;
  let server: Netns | undefined;
  let tun: TunDevice | undefined;
  let egress: EgressDevice | undefined;
  let http: Proc | undefined;
  let udpEcho: Proc | undefined;
  let bigSha = '';
  let verified = 0;
  const procs: Proc[] = [];

  before(async () => {
    if (skipReason([...TOOLS])) return;
    const id = freshId();
    client = new Netns(`${id}ec`);
    proxy = new Netns(`${id}ep`);
    server = new Netns(`${id}es`);
    // root ⇄ proxy ns
    const rootIf = ifName(id, 'r');
    const p1 = ifName(id, 'p');
    const p2 = ifName(id, 'q');
    const sIf = ifName(id, 's');
    ip('link', 'add', rootIf, 'type', 'veth', 'peer', 'name', p1);
    onCleanup(() => {
      spawnSync('ip', ['link', 'del', rootIf]);
    });
    ip('link', 'set', p1, 'netns', proxy.name);
    ip('addr', 'add', `${ROOT}/30`, 'dev', rootIf);
    ip('link', 'set', rootIf, 'up');
    proxy.ip('addr', 'add', `${PROXY}/30`, 'dev', p1);
    proxy.ip('link', 'set', p1, 'up');
    // proxy ns ⇄ server ns; the proxy namespace routes between its two links.
    proxy.ip('link', 'add', p2, 'type', 'veth', 'peer', 'name', sIf);
    proxy.ip('link', 'set', sIf, 'netns', server.name);
    proxy.ip('addr', 'add', `${PROXY_OUT}/30`, 'dev', p2);
    proxy.ip('link', 'set', p2, 'up');
    proxy.sysctl('net.ipv4.ip_forward', '1');
    server.ip('addr', 'add', `${SERVER}/30`, 'dev', sIf);
    server.ip('link', 'set', sIf, 'up');
    server.ip('route', 'add', 'default', 'via', PROXY_OUT);
    // This process (direct egress) reaches the server through the proxy namespace; the route
    // goes away with the veth.
    ip('route', 'add', `${NET}.4/30`, 'via', PROXY);

    // `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc: the client resolves through the
    // interceptor, the proxies resolve the test names to the server.
    const etc = (ns: Netns, file: string, text: string): void => {
      const d = `/etc/netns/${ns.name}`;
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, file), text);
      onCleanup(() => {
        rmSync(d, { recursive: true, force: true });
        try {
          rmdirSync('/etc/netns');
        } catch {
          /* other namespaces still use it */
        }
      });
    };
    etc(client, 'resolv.conf', 'nameserver 192.168.1.1\noptions timeout:2 attempts:2\n');
    etc(client, 'hosts', '127.0.0.1 localhost\n');
    etc(proxy, 'hosts', `127.0.0.1 localhost\n${NAMES.map((n) => `${SERVER} ${n}`).join('\n')}\n`);

    // The upstream web server with a 50 MB file.
    const www = tempDir();
    const big = randomBytes(BIG);
    bigSha = createHash('sha256').update(big).digest('hex');
    writeFileSync(join(www, 'big.bin'), big);
    writeFileSync(join(www, 'index.html'), 'hello from the server namespace\n');
    http = server.spawn([python3(), '-m', 'http.server', '--bind', SERVER, String(HTTP_PORT)], { cwd: www });
    // A UDP service that answers with the peer it saw.
    udpEcho = server.spawn([
      'socat',
      '-T',
      '10',
      `UDP4-RECVFROM:${UDP_PORT},bind=${SERVER},fork`,
      'SYSTEM:read l; echo "$l from $SOCAT_PEERADDR"',
    ]);

    // The proxies, in the proxy namespace, leaving from PROXY_OUT.
    const conf = tempDir();
    writeFileSync(
      join(conf, 'danted.conf'),
      [
        'logoutput: stderr',
        `internal: ${PROXY} port = 1080`,
        `external: ${PROXY_OUT}`,
        'clientmethod: none',
        'socksmethod: none',
        'user.privileged: root',
        'user.unprivileged: nobody',
        'client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }',
        'socks block { from: 0.0.0.0/0 to: 127.0.0.0/8 }',
        'socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate }',
        'socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: udpreply }',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(conf, 'tinyproxy.conf'),
      [
        'User nobody',
        'Group nogroup',
        'Port 8888',
        `Listen ${PROXY}`,
        `Bind ${PROXY_OUT}`,
        'Timeout 120',
        'MaxClients 20',
        `Allow ${NET}.0/30`,
        `ConnectPort ${HTTP_PORT}`,
        'BasicAuth tuser tpass',
        'LogLevel Info',
        '',
      ].join('\n'),
    );
    const dante = proxy.spawn(['danted', '-f', join(conf, 'danted.conf'), '-p', join(conf, 'danted.pid')]);
    const micro = proxy.spawn([
      'microsocks',
      '-i',
      PROXY,
      '-p',
      '1081',
      '-b',
      PROXY_OUT,
      '-u',
      'muser',
      '-P',
      'mpass',
    ]);
    const tiny = proxy.spawn(['tinyproxy', '-d', '-c', join(conf, 'tinyproxy.conf')]);
    procs.push(dante, micro, tiny);
    await server.waitForPort(HTTP_PORT, 'tcp', 10_000, http);
    await server.waitForPort(UDP_PORT, 'udp', 10_000, udpEcho);
    await proxy.waitForPort(1080, 'tcp', 10_000, dante);
    await proxy.waitForPort(1081, 'tcp', 10_000, micro);
    await proxy.waitForPort(8888, 'tcp', 10_000, tiny);

    // The client namespace: a TUN with a default route into the egress device.
    tun = tunInto(client, ifName(id, 'c'), '192.168.1.2/24');
    client.ip('route', 'add', 'default', 'dev', tun.name);
    const e = new EgressDevice({
      dns: { fakeIp: '198.18.0.0/16', hosts: Object.fromEntries(NAMES.map((n) => [n, SERVER])) },
      proxies: {
        dante: { type: 'socks5', host: PROXY, port: 1080 },
        micro: { type: 'socks5', host: PROXY, port: 1081, username: 'muser', password: 'mpass' },
        tiny: { type: 'http', host: PROXY, port: 8888, username: 'tuser', password: 'tpass' },
      },
      rules: [
        { domain: 'bad.test', action: 'deny' },
        { domain: 'dante.test', action: 'dante' },
        { domain: 'micro.test', action: 'micro' },
        { domain: 'tiny.test', action: 'tiny' },
      ],
      defaultAction: 'direct',
    });
    egress = e;
    // Verify what the device sends into the TUN with the independent oracle (bulk sampled).
    const dev = tun;
    let k = 0;
    const checked = {
      setHandler: (h: (p: Uint8Array) => void) => dev.setHandler(h),
      send: (p: Uint8Array) => {
        if ((k++ & 63) === 0 || p.length < 200) {
          assertChecksums(p, 'packet from the egress device');
          verified++;
        }
        dev.send(p);
      },
      addr: () => dev.addr(),
      setAddr: () => {},
      close: () => {},
    };
    const detach = e.connectL3(checked, { name: 'client' });
    onCleanup(() => {
      detach();
      e.close();
    });
  });

  after(async () => {
    egress?.close();
    tun?.close();
    for (const p of procs) await p.stop();
    await Promise.all([client?.dispose(), proxy?.dispose(), server?.dispose()]);
  });

  const ready = (): { client: Netns; egress: EgressDevice; http: Proc } => {
    assert.ok(client && egress && http, 'topology was not created');
    return { client, egress, http };
  };

  /** The peer http.server logged for a request path. */
  const peerOf = async (path: string): Promise<string> => {
    const { http: srv } = ready();
    const esc = path.replace(/[?.]/g, '\\$&');
    const re = new RegExp(`^(\\S+) - - \\[.*"GET ${esc} HTTP/1\\.1" 200`, 'm');
    for (let i = 0; i < 100; i++) {
      const m = re.exec(srv.stderr);
      if (m) return m[1];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`http.server did not log ${path}:\n${srv.stderr.slice(-2000)}`);
  };

  for (const [name, via, expectPeer] of [
    ['direct.test', 'direct egress from this process', ROOT],
    ['dante.test', 'Dante (SOCKS5)', PROXY_OUT],
    ['micro.test', 'microsocks (SOCKS5, username/password)', PROXY_OUT],
    ['tiny.test', 'tinyproxy (HTTP CONNECT, Basic auth)', PROXY_OUT],
  ] as const) {
    interopTest(
      `curl fetches a page and 50 MB byte-identical through ${via}, and the server sees ${expectPeer === ROOT ? 'this host' : 'the proxy'}`,
      [...TOOLS],
      async () => {
        const { client: c, egress: e } = ready();
        const page = await c.run(
          ['curl', '-sS', '--fail', '--max-time', '20', `http://${name}:${HTTP_PORT}/index.html?via=${name}`],
          {
            timeoutMs: 30_000,
          },
        );
        assert.equal(page.code, 0, `curl failed: ${page.stderr}`);
        assert.equal(page.stdout, 'hello from the server namespace\n');
        assert.equal(await peerOf(`/index.html?via=${name}`), expectPeer);
        const t0 = performance.now();
        const sum = await c.run(
          [
            'sh',
            '-c',
            `curl -sS --fail --max-time 120 http://${name}:${HTTP_PORT}/big.bin?via=${name} | sha256sum`,
          ],
          {
            timeoutMs: 150_000,
          },
        );
        const s = (performance.now() - t0) / 1000;
        assert.equal(sum.code, 0, `curl | sha256sum failed: ${sum.stderr}`);
        assert.equal(sum.stdout.split(' ')[0], bigSha, '50 MB arrived altered');
        assert.equal(await peerOf(`/big.bin?via=${name}`), expectPeer);
        console.log(`# ${name}: 50 MB in ${s.toFixed(2)} s (${(50 / s).toFixed(1)} MB/s)`);
        assert.ok(verified > 0);
        const route = name === 'direct.test' ? undefined : e.stats.proxies[name.split('.')[0]];
        if (route) assert.ok(route.connects >= 2 && !route.down);
      },
    );
  }

  interopTest(
    'a domain deny rule blocks bad.test while direct.test on the same address passes',
    [...TOOLS],
    async () => {
      const { client: c, egress: e } = ready();
      const denied: string[] = [];
      const onDeny = (i: { name?: string }): void => {
        denied.push(i.name ?? '?');
      };
      e.on('deny', onDeny);
      try {
        const bad = await c.run(
          ['curl', '-sS', '--max-time', '10', `http://bad.test:${HTTP_PORT}/index.html?via=bad`],
          { timeoutMs: 20_000 },
        );
        assert.notEqual(bad.code, 0, 'bad.test was fetched');
        assert.match(bad.stderr, /Failed to connect|No route to host|Couldn't connect/i);
        assert.ok(denied.includes('bad.test'), `deny events: ${denied.join(', ')}`);
        const good = await c.run(
          [
            'curl',
            '-sS',
            '--fail',
            '--max-time',
            '10',
            `http://direct.test:${HTTP_PORT}/index.html?via=good`,
          ],
          { timeoutMs: 20_000 },
        );
        assert.equal(good.code, 0, good.stderr);
        const addrs = await c.run(['getent', 'ahostsv4', 'bad.test'], { timeoutMs: 10_000 });
        const addrs2 = await c.run(['getent', 'ahostsv4', 'direct.test'], { timeoutMs: 10_000 });
        assert.notEqual(
          addrs.stdout.split(' ')[0],
          addrs2.stdout.split(' ')[0],
          'fake IPs tell the names apart',
        );
        assert.ok(!ready().http.stderr.includes('via=bad'), 'the denied request reached the server');
      } finally {
        e.off('deny', onDeny);
      }
    },
  );

  for (const [name, via, expectPeer] of [
    ['direct.test', 'a dgram socket of this process', ROOT],
    ['dante.test', 'a Dante UDP association (SOCKS5 UDP ASSOCIATE)', PROXY_OUT],
  ] as const) {
    interopTest(`a UDP exchange with socat by name goes through ${via}`, [...TOOLS], async () => {
      const { client: c } = ready();
      const r = await c.run(['sh', '-c', `echo hello-${name} | socat -t 3 - UDP4:${name}:${UDP_PORT}`], {
        timeoutMs: 15_000,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `hello-${name} from ${expectPeer}`);
    });
  }
});
