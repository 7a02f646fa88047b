/**
 * `l3kit gateway` as a real program: the command runs (as a child process) in a gateway
 * namespace with its WireGuard listener on a veth and a TUN uplink; a wireguard-go client in its
 * own namespace pings and curls a server namespace through it, opens a port with UPnP (upnpc)
 * that the server then reaches, reads `l3kit conntrack` / `stats` / the metrics endpoint, reloads
 * on SIGHUP, and a long TCP transfer survives a restart of the gateway thanks to the state
 * snapshot.
 *
 * ```text
 *  ns c: wg 10.0.0.2 ─veth 172.31.0.2 ─── ns g: 172.31.0.1:51820  l3kit gateway  TUN uplink ── kernel ─veth 198.51.100.1 ─── ns s: 198.51.100.2
 *        (wireguard-go)                          NAT 10.0.0.1 -> 203.0.113.1 (TUN kernel side 203.0.113.254/24)
 * ```
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { fileURLToPath } from 'node:url';
import { genkey, pubkey } from '@l3kit/wireguard';
import { freshId, ifName, interopTest, Netns, type Proc, python3, skipReason, tempDir } from './harness.js';
import { startWireguardGo, waitFor, wgSet } from './wireguard-topology.js';

const TOOLS = ['wireguard-go', 'wg', 'ping', 'curl', 'python3', 'socat', 'upnpc'] as const;
const BIN = fileURLToPath(new URL('../../../packages/cli/dist/src/bin.js', import.meta.url));
const SERVER = '198.51.100.2';
const CLIENT_LISTEN = 51821;

describe('l3kit gateway with a wireguard-go client, a TUN uplink and a restart', () => {
  let c: Netns | undefined;
  let g: Netns | undefined;
  let s: Netns | undefined;
  let dir = '';
  let cfgFile = '';
  let socket = '';
  let stateFile = '';
  let wgIf = '';
  let insideTun = '';
  let h: Netns | undefined;
  let gateway: Proc | undefined;

  const startGateway = async (): Promise<Proc> => {
    const ns = g as Netns;
    const p = ns.spawn([process.execPath, BIN, 'gateway', '--config', cfgFile]);
    await ns.waitForPort(51820, 'udp', 15_000, p);
    await waitFor(() => existsSync(socket), 'the control socket', 10_000);
    await waitFor(() => /gateway started/.test(p.stderr), 'the start log line', 10_000);
    return p;
  };
  const l3kit = async (...args: string[]) => {
    const r = await (g as Netns).run([process.execPath, BIN, ...args], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, `l3kit ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    if (skipReason([...TOOLS])) return;
    const id = freshId();
    c = new Netns(`${id}c`);
    g = new Netns(`${id}g`);
    s = new Netns(`${id}s`);
    dir = tempDir();
    insideTun = ifName(id, 'i');
    const [cv, gc, gs, sv] = ['a', 'b', 'd', 'e'].map((r) => ifName(id, r));
    c.ip('link', 'add', cv, 'type', 'veth', 'peer', 'name', gc, 'netns', g.name);
    g.ip('link', 'add', gs, 'type', 'veth', 'peer', 'name', sv, 'netns', s.name);
    for (const [ns, dev, addr] of [
      [c, cv, '172.31.0.2/24'],
      [g, gc, '172.31.0.1/24'],
      [g, gs, '198.51.100.1/24'],
      [s, sv, `${SERVER}/24`],
    ] as const) {
      ns.sysctl(`net.ipv6.conf.${dev}.disable_ipv6`, '1');
      ns.ip('addr', 'add', addr, 'dev', dev);
      ns.ip('link', 'set', dev, 'up');
    }
    g.sysctl('net.ipv4.ip_forward', '1');
    s.ip('route', 'add', 'default', 'via', '198.51.100.1');

    // The gateway's configuration: one peer (tenant 1) whose endpoint is known, so that after a
    // restart the gateway can handshake again on its own as soon as it has a packet for it.
    const gwKey = genkey();
    const clientKey = genkey();
    socket = join(dir, 'gw.sock');
    stateFile = join(dir, 'state.json');
    cfgFile = join(dir, 'gateway.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        log: { level: 'debug' },
        nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' },
        wireguard: {
          privateKey: gwKey,
          listenPort: 51820,
          peers: [
            {
              name: 'client',
              publicKey: pubkey(clientKey),
              allowedIps: ['10.0.0.2/32'],
              tenant: 1,
              endpoint: `172.31.0.2:${CLIENT_LISTEN}`,
            },
          ],
        },
        tunInside: [{ name: insideTun, tenant: 2, address: '10.0.0.254/24' }],
        upnp: { secureMode: true },
        uplink: { tun: ifName(id, 'u'), address: '203.0.113.254/24', routes: ['100.64.99.0/24'] },
        control: { socket },
        metrics: { port: 9464 },
        state: { file: stateFile },
      }),
    );
    gateway = await startGateway();

    // The wireguard-go client.
    wgIf = ifName(id, 'w');
    await startWireguardGo(c, wgIf);
    const kf = join(dir, 'client.key');
    writeFileSync(kf, `${clientKey}\n`, { mode: 0o600 });
    await wgSet(c, wgIf, [
      'listen-port',
      String(CLIENT_LISTEN),
      'private-key',
      kf,
      'peer',
      pubkey(gwKey),
      'endpoint',
      '172.31.0.1:51820',
      'allowed-ips',
      '0.0.0.0/0',
    ]);
    c.ip('addr', 'add', '10.0.0.2/24', 'dev', wgIf);
    c.ip('link', 'set', wgIf, 'up');
    c.ip('route', 'add', '198.51.100.0/24', 'dev', wgIf);
    c.ip('route', 'add', '203.0.113.0/24', 'dev', wgIf);
  });

  after(async () => {
    await gateway?.stop();
    await Promise.all([c, g, s, h].map((ns) => ns?.dispose()));
  });

  interopTest(
    'ping, curl, a UPnP mapping, conntrack / stats / metrics, SIGHUP, and a TCP transfer across a restart',
    TOOLS,
    async () => {
      const cn = c as Netns;
      const gn = g as Netns;
      const sn = s as Netns;

      // 0. The uplink's kernel side: its address and the configured route.
      const up = gn.ip('-4', 'addr', 'show');
      assert.match(up, /inet 203\.0\.113\.254\/24 /);
      assert.match(gn.ip('route', 'show', '100.64.99.0/24'), /^100\.64\.99\.0\/24 dev l3k\S+ /m);

      // 1. ping through the tunnel and the NAT (the first packet starts the handshake).
      const ping = await cn.run(['ping', '-c', '3', '-i', '0.2', '-W', '3', SERVER], { timeoutMs: 20_000 });
      assert.equal(ping.code, 0, `ping failed:\n${ping.stdout}${ping.stderr}\n${gateway?.stderr}`);
      assert.match(ping.stdout, /3 packets transmitted, 3 received/);

      // 2. curl a page from the server; the server sees the NAT's outside address.
      writeFileSync(
        join(dir, 'who.py'),
        [
          'import http.server',
          'class H(http.server.BaseHTTPRequestHandler):',
          '    def do_GET(self):',
          "        body = ('you are %s\\n' % self.client_address[0]).encode()",
          '        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()',
          '        self.wfile.write(body)',
          '    def log_message(self, *a): pass',
          "http.server.HTTPServer(('0.0.0.0', 8000), H).serve_forever()",
        ].join('\n'),
      );
      const web = sn.spawn([python3(), join(dir, 'who.py')]);
      await sn.waitForPort(8000, 'tcp', 10_000, web);
      const curl = await cn.run(['curl', '-sS', '--max-time', '10', `http://${SERVER}:8000/`]);
      assert.equal(curl.code, 0, curl.stderr);
      assert.equal(curl.stdout, 'you are 203.0.113.1\n');

      // 3. UPnP: the client maps TCP 9000 -> itself with upnpc; the server connects to it.
      const listener = cn.spawn([
        'socat',
        'TCP-LISTEN:9000,reuseaddr,fork',
        'SYSTEM:echo hello through upnp',
      ]);
      await cn.waitForPort(9000, 'tcp', 10_000, listener);
      const upnpc = await cn.run(
        [
          'upnpc',
          '-u',
          'http://10.0.0.1:5000/rootDesc.xml',
          '-e',
          'interop',
          '-a',
          '10.0.0.2',
          '9000',
          '9000',
          'TCP',
        ],
        { timeoutMs: 20_000 },
      );
      assert.equal(upnpc.code, 0, `upnpc:\n${upnpc.stdout}${upnpc.stderr}`);
      assert.match(
        upnpc.stdout,
        /external 203\.0\.113\.1:9000 TCP is redirected to internal 10\.0\.0\.2:9000/,
      );
      const inbound = await sn.run(['curl', '-sS', '--max-time', '10', 'telnet://203.0.113.1:9000'], {
        timeoutMs: 15_000,
      });
      assert.match(inbound.stdout, /hello through upnp/, inbound.stderr);

      // 4. The control socket and the metrics endpoint.
      const ct = await l3kit('conntrack', '--socket', socket);
      assert.match(ct, /src=10\.0\.0\.2 dst=198\.51\.100\.2 sport=\d+ dport=8000 .*zone=1 /);
      const stats = JSON.parse(await l3kit('stats', '--json', '--socket', socket));
      assert.equal(stats.peers[0].name, 'client');
      assert.ok(stats.peers[0].handshakes >= 1);
      assert.equal(stats.forwardsByOrigin.upnp, 1);
      const metrics = await gn.run(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9464/metrics']);
      assert.match(metrics.stdout, /^l3kit_wireguard_handshakes_total\{peer="client",tenant="1"\} [1-9]/m);
      assert.match(metrics.stdout, /^l3kit_nat_forwards\{origin="upnp"\} 1$/m);

      // 5. SIGHUP: a broken file is refused (the gateway keeps running), a good one adds a forward.
      const good = readFileSync(cfgFile, 'utf8');
      const gp = gateway as Proc;
      writeFileSync(cfgFile, good.replace('"outside":"203.0.113.1/24"', '"outside":"203.0.113.1"'));
      process.kill(gp.pid, 'SIGHUP');
      await waitFor(() => /reload failed/.test(gp.stderr), 'the refused reload', 10_000);
      assert.match(gp.stderr, /\$\.nat\.outside: must be an IPv4 address with a prefix length/);
      const cfg = JSON.parse(good);
      cfg.nat.forwards = [
        { proto: 'tcp', outsidePort: 8022, insideIp: '10.0.0.2', insidePort: 9000, tenant: 1 },
      ];
      writeFileSync(cfgFile, JSON.stringify(cfg));
      process.kill(gp.pid, 'SIGHUP');
      await waitFor(() => /configuration reloaded/.test(gp.stderr), 'the reload', 10_000);
      assert.ok(gp.running);
      const viaForward = await sn.run(['curl', '-sS', '--max-time', '10', 'telnet://203.0.113.1:8022'], {
        timeoutMs: 15_000,
      });
      assert.match(viaForward.stdout, /hello through upnp/, viaForward.stderr);
      assert.equal(JSON.parse(await l3kit('stats', '--json', '--socket', socket)).forwardsByOrigin.config, 1);

      // 6. A long TCP transfer (500 KB over ~10 s) keeps going while the gateway restarts.
      writeFileSync(
        join(dir, 'slow.py'),
        [
          'import socket, time',
          's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
          "s.bind(('0.0.0.0', 9100)); s.listen(1)",
          'c, _ = s.accept()',
          'for i in range(500):',
          '    c.sendall(bytes([65 + i % 26]) * 1000); time.sleep(0.02)',
          'c.close()',
        ].join('\n'),
      );
      const slow = sn.spawn([python3(), join(dir, 'slow.py')]);
      await sn.waitForPort(9100, 'tcp', 10_000, slow);
      const transfer = cn.spawn(['sh', '-c', `socat -u TCP:${SERVER}:9100 STDOUT | wc -c`]);
      await new Promise((r) => setTimeout(r, 2500));
      assert.ok(transfer.running, `the transfer ended early: ${transfer.stdout}${transfer.stderr}`);
      const ctBefore = await l3kit('conntrack', '--json', '--socket', socket);
      const flowBefore = JSON.parse(ctBefore).nat44.find(
        (m: { remotePort: number }) => m.remotePort === 9100,
      );
      assert.ok(flowBefore, 'the transfer is in the conntrack table');

      await (gateway as Proc).stop(10_000);
      assert.equal((gateway as Proc).exitCode, 0, (gateway as Proc).stderr);
      assert.match((gateway as Proc).stderr, /state saved/);
      const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
      assert.ok(
        saved.nat.mappings.some((m: { externalPort: number }) => m.externalPort === flowBefore.externalPort),
      );
      gateway = await startGateway();
      assert.match(gateway.stderr, /restored=true/);

      const code = await transfer.exited;
      assert.equal(code, 0, transfer.stderr);
      assert.equal(transfer.stdout.trim(), '500000', `received ${transfer.stdout.trim()} of 500000 bytes`);
      const after = JSON.parse(await l3kit('stats', '--json', '--socket', socket));
      assert.equal(after.restoredFromSnapshot, true);
      assert.ok(after.peers[0].handshakes >= 1, 'the peer handshook again after the restart');
      // The UPnP mapping came back with the snapshot.
      assert.equal(after.forwardsByOrigin.upnp, 1);
    },
    { timeout: 120_000 },
  );

  interopTest(
    'a TUN inside is a tenant of its own: a namespace behind it reaches the server with the same address',
    TOOLS,
    async () => {
      // The gateway opened the TUN in its namespace; move it into a host namespace (the fd stays
      // valid) whose only route is through it, with the same address as the WireGuard client.
      const hn = new Netns('h');
      h = hn;
      (g as Netns).ip('link', 'set', insideTun, 'netns', hn.name);
      hn.sysctl(`net.ipv6.conf.${insideTun}.disable_ipv6`, '1');
      hn.ip('addr', 'add', '10.0.0.2/24', 'dev', insideTun);
      hn.ip('link', 'set', insideTun, 'up');
      hn.ip('route', 'add', 'default', 'via', '10.0.0.1');
      const ping = await hn.run(['ping', '-c', '2', '-i', '0.2', '-W', '3', SERVER], { timeoutMs: 20_000 });
      assert.equal(ping.code, 0, `ping failed:\n${ping.stdout}${ping.stderr}\n${gateway?.stderr}`);
      const curl = await hn.run(['curl', '-sS', '--max-time', '10', `http://${SERVER}:8000/`]);
      assert.equal(curl.stdout, 'you are 203.0.113.1\n', curl.stderr);
      const stats = JSON.parse(await l3kit('stats', '--json', '--socket', socket));
      assert.deepEqual(
        stats.tenants.map((t: { tenant: number; kind: string }) => [t.tenant, t.kind]),
        [
          [1, 'wireguard'],
          [2, 'tun'],
        ],
      );
      const ct = await l3kit('conntrack', '--socket', socket);
      assert.match(ct, /src=10\.0\.0\.2 dst=198\.51\.100\.2 sport=\d+ dport=8000 .*zone=2 /);
    },
    { timeout: 60_000 },
  );
});
