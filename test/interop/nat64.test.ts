/**
 * NAT64 interop (issue 4): an IPv6-only client namespace reaches an IPv4-only HTTP server through
 * a NAT64, first l3kit's `Nat64` (running in this process between two TUNs), then tayga (a real
 * stateless NAT64 in a router namespace, made stateful with an nftables masquerade). Both run
 * the same checks with the same addresses:
 *
 * - the IPv4 server `203.0.113.2` is reached from the IPv6 side as `2001:db8:64::cb00:7102`
 *   (RFC 6052, network-specific prefix `2001:db8:64::/96`: 203.0.113.0/24 is not global, so the
 *   well-known prefix would be wrong), the client is `2001:db8:1::2/64`;
 * - the server sees the NAT64's IPv4 address `203.0.113.1` (l3kit's pool address; for tayga the
 *   router's address after masquerade) and has no IPv6 at all;
 * - `ping -6` gets every reply; `curl -6` downloads a 10 MB random file byte-identical;
 * - path MTU: the server's IPv4 link has MTU 1280 (l3kit: the server TUN, and `ipv4Mtu: 1280`
 *   for the Nat64; tayga: the router—server veth pair). A 1400-byte `ping -6 -M do` gets an ICMPv6
 *   Packet Too Big with MTU 1300 (= 1280 + 20, RFC 7915 §4.2 / §5.1): l3kit generates it from its
 *   `ipv4Mtu`; with tayga the router kernel sends ICMPv4 3/4 MTU 1280 and tayga translates it. The
 *   client caches 1300 and 1300-byte echoes are answered. A 4 MB `curl -6 -T` upload to a server
 *   that advertises MSS 1460 (an `advmss` route attribute, so that the MSS does not hide the small
 *   link) goes through the same PMTU discovery for TCP and arrives intact. A 3000-byte UDP
 *   datagram, fragmented by the client, crosses to the small link and its echo (fragmented by the
 *   IPv4 server) comes back intact. The 10 MB download is intact too: there the server sizes its
 *   segments to its own 1280-byte link (MSS 1240), so no PMTU discovery is needed downstream.
 * - A fragmented ICMPv6 echo is reassembled, translated with DF clear (RFC 7915 §5.1) and
 *   IPv4-fragmented for the small link. tayga does not translate fragmented ICMPv6 (observed: the
 *   fragments enter its TUN and nothing leaves), so that case has no tayga counterpart.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectL3 } from '@l3kit/core';
import { Nat64 } from '@l3kit/nat';
import { verifyPacket } from '@l3kit/testkit';
import { TUN_RX_HEADROOM } from '@l3kit/tun';
import { freshId, ifName, interopTest, Netns, python3, skipReason, tempDir, tunInto } from './harness.js';

/** Addresses shared by both topologies. */
const A = {
  client6: '2001:db8:1::2',
  /** The NAT64's (or the router's) IPv6 address on the client network. */
  gateway6: '2001:db8:1::1',
  prefix: '2001:db8:64::/96',
  server4: '203.0.113.2',
  /** The server reached through the prefix (203.0.113.2 = cb00:7102). */
  server6: '2001:db8:64::cb00:7102',
  /** What the server sees as the client: l3kit's pool address / the router after masquerade. */
  nat4: '203.0.113.1',
} as const;

/** The small MTU of the IPv4 side in the path-MTU topologies, and what the client must learn. */
const SMALL_MTU = 1280;
const LEARNED_MTU = SMALL_MTU + 20;

const DOWNLOAD_BYTES = 10 * 1000 * 1000;
const UPLOAD_BYTES = 4 * 1000 * 1000;
const HTTP_PORT = 8080;
const PUT_PORT = 8081;

/** A NAT64 topology under test. */
interface Env {
  readonly client: Netns;
  readonly server: Netns;
  /** The server's IPv4 interface (in the server namespace). */
  readonly serverDev: string;
  dispose(): Promise<void>;
}

/** One 10 MB random file served to every topology (created once per process). */
let blob: { dir: string; sha: string } | undefined;
function downloadBlob(): { dir: string; sha: string } {
  if (!blob) {
    const dir = tempDir();
    const body = randomBytes(DOWNLOAD_BYTES);
    writeFileSync(join(dir, 'blob.bin'), body);
    blob = { dir, sha: createHash('sha256').update(body).digest('hex') };
  }
  return blob;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The server namespace: IPv6 off everywhere (an IPv4-only host). */
function ipv4OnlyServer(role: string): Netns {
  const server = new Netns(role);
  server.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
  server.sysctl('net.ipv6.conf.default.disable_ipv6', '1');
  server.sysctl('net.ipv6.conf.lo.disable_ipv6', '1');
  return server;
}

/**
 * In path-MTU topologies, the server advertises MSS 1460 despite its 1280-byte link, so the
 * client's 1440-byte segments must meet the small IPv4 link and trigger PMTU discovery.
 */
function advertiseLargeMss(server: Netns, dev: string): void {
  server.ip('route', 'replace', '203.0.113.0/24', 'dev', dev, 'src', A.server4, 'advmss', '1460');
}

// ---------------------------------------------------------------------------------------------
// l3kit: client ns —TUN— Nat64 (this process) —TUN— server ns

/** What the l3kit topology exposes besides {@link Env}. */
interface L3kitEnv extends Env {
  readonly nat64: Nat64;
  /** Emitted packets checked with the independent checksum oracle, and the failures. */
  readonly checked: { count: number; failures: string[] };
}

function makeL3kitEnv(mtu: number): L3kitEnv {
  const id = freshId();
  const client = new Netns(`${id}c`);
  const server = ipv4OnlyServer(`${id}s`);
  // The client TUN keeps IPv6 (its only family); a NOARP point-to-point link skips DAD.
  const clientTun = tunInto(client, ifName(id, 'c'), `${A.client6}/64`, { ipv6: true });
  client.ip('-6', 'route', 'add', 'default', 'dev', clientTun.name);
  const serverTun = tunInto(server, ifName(id, 's'), `${A.server4}/24`, { mtu });
  if (mtu < 1500) advertiseLargeMss(server, serverTun.name);

  // The IPv4 side grows packets in place into the TUN's receive headroom (no copy per datagram):
  // the downloads below check it against the real kernel byte for byte.
  assert.equal(serverTun.rxHeadroom, TUN_RX_HEADROOM, 'the TUN addon reserves receive headroom');
  const nat64 = new Nat64({
    prefix: A.prefix,
    inside: `${A.gateway6}/64`,
    outside: `${A.nat4}/24`,
    ipv4Mtu: mtu,
    outsideHeadroom: true,
  });
  const checked = { count: 0, failures: [] as string[] };
  let k = 0;
  const verify = (p: Uint8Array, side: string) => {
    // Every small packet (handshakes, ICMP, ACKs) and 1 in 32 bulk packets.
    if (p.length >= 200 && (k++ & 31) !== 0) return;
    const r = verifyPacket(p);
    checked.count++;
    if (!r.ok && checked.failures.length < 10)
      checked.failures.push(`${side}: ${JSON.stringify(r.problems)} (${p.length} bytes)`);
  };
  connectL3(nat64.inside(), clientTun);
  // connectL3 set the inside handler to clientTun.send; wrap it to verify first.
  nat64.inside().setHandler((p) => {
    verify(p, 'towards the IPv6 client');
    clientTun.send(p);
  });
  nat64.outside().setHandler((p) => {
    verify(p, 'towards the IPv4 server');
    serverTun.send(p);
  });
  serverTun.setHandler((p) => nat64.outside().send(p));
  return {
    client,
    server,
    serverDev: serverTun.name,
    nat64,
    checked,
    async dispose() {
      nat64.close();
      clientTun.close();
      serverTun.close();
      await Promise.all([client.dispose(), server.dispose()]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tayga: client ns —veth— router ns (tayga on its TUN `nat64`, nftables masquerade) —veth— server ns

const TAYGA_POOL = '192.168.255.0/24';

async function makeTaygaEnv(mtu: number): Promise<Env> {
  const id = freshId();
  const client = new Netns(`${id}c`);
  const router = new Netns(`${id}r`);
  const server = ipv4OnlyServer(`${id}s`);
  const envDispose = async () => {
    await Promise.all([client.dispose(), router.dispose(), server.dispose()]);
  };
  try {
    // Client side: 2001:db8:1::2/64 ↔ router 2001:db8:1::1/64.
    const [cc, rc] = [ifName(id, 'c'), ifName(id, 'rc')];
    client.ip('link', 'add', cc, 'type', 'veth', 'peer', 'name', rc, 'netns', router.name);
    client.ip('-6', 'addr', 'add', `${A.client6}/64`, 'dev', cc, 'nodad');
    client.ip('link', 'set', cc, 'up');
    client.ip('-6', 'route', 'add', 'default', 'via', A.gateway6, 'dev', cc);
    router.ip('-6', 'addr', 'add', `${A.gateway6}/64`, 'dev', rc, 'nodad');
    router.ip('link', 'set', rc, 'up');

    // Server side: router 203.0.113.1/24 ↔ server 203.0.113.2/24, both ends at `mtu`.
    const [rs, ss] = [ifName(id, 'rs'), ifName(id, 's')];
    router.ip('link', 'add', rs, 'type', 'veth', 'peer', 'name', ss, 'netns', server.name);
    router.ip('link', 'set', rs, 'mtu', String(mtu));
    server.ip('link', 'set', ss, 'mtu', String(mtu));
    router.sysctl(`net.ipv6.conf.${rs}.disable_ipv6`, '1');
    router.ip('addr', 'add', `${A.nat4}/24`, 'dev', rs);
    router.ip('link', 'set', rs, 'up');
    server.ip('addr', 'add', `${A.server4}/24`, 'dev', ss);
    server.ip('link', 'set', ss, 'up');
    if (mtu < 1500) advertiseLargeMss(server, ss);

    router.sysctl('net.ipv4.ip_forward', '1');
    router.sysctl('net.ipv6.conf.all.forwarding', '1');

    // tayga: the README's minimal configuration with our prefix, in the router namespace.
    const dir = tempDir('l3k-tayga-');
    const conf = join(dir, 'tayga.conf');
    writeFileSync(
      conf,
      [
        'tun-device nat64',
        'ipv4-addr 192.168.255.1',
        `prefix ${A.prefix}`,
        `dynamic-pool ${TAYGA_POOL}`,
        '',
      ].join('\n'),
    );
    await router.run(['tayga', '--config', conf, '--mktun'], { check: true });
    router.ip('link', 'set', 'nat64', 'up');
    router.ip('addr', 'add', '192.168.254.1/32', 'dev', 'nat64');
    router.ip('route', 'add', TAYGA_POOL, 'dev', 'nat64');
    router.ip('-6', 'route', 'add', A.prefix, 'dev', 'nat64');
    // Stateless tayga maps the client to a pool address; masquerade makes it stateful NAT64.
    const nft = join(dir, 'nat.nft');
    writeFileSync(
      nft,
      `table ip l3knat64 {\n  chain post {\n    type nat hook postrouting priority 100;\n    oifname "${rs}" ip saddr ${TAYGA_POOL} masquerade\n  }\n}\n`,
    );
    await router.run(['nft', '-f', nft], { check: true });
    const tayga = router.spawn(['tayga', '--config', conf, '-d']);
    // tayga opens the TUN at once; give it a moment and make sure it did not exit.
    await new Promise((r) => setTimeout(r, 300));
    if (!tayga.running) throw new Error(`tayga exited (${tayga.exitCode}): ${tayga.stdout}${tayga.stderr}`);
    return { client, server, serverDev: ss, dispose: envDispose };
  } catch (e) {
    await envDispose();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// The checks

/** `ping -6` to the server's embedded address: all replies. */
async function ping6(env: Env): Promise<void> {
  const r = await env.client.run(['ping', '-6', '-c', '3', '-i', '0.3', '-W', '3', A.server6], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `ping -6 failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
  assert.match(r.stdout, new RegExp(`bytes from ${A.server6}: icmp_seq=1 `));
}

/**
 * `curl -6` downloads the 10 MB file from `python3 -m http.server` (bound to the server's IPv4
 * address only); the SHA-256 matches. Returns the client address the server logged.
 */
async function download(env: Env): Promise<{ seen: string; seconds: number }> {
  const { dir, sha } = downloadBlob();
  const out = join(tempDir(), 'got.bin');
  const srv = env.server.spawn([python3(), '-m', 'http.server', '--bind', A.server4, String(HTTP_PORT)], {
    cwd: dir,
  });
  let seconds = 0;
  try {
    await env.server.waitForPort(HTTP_PORT, 'tcp', 15_000, srv);
    const r = await env.client.run(
      [
        'curl',
        '-6',
        '-sS',
        '--fail',
        '--max-time',
        '150',
        '-g',
        '-o',
        out,
        '-w',
        '%{size_download} %{time_total}',
        `http://[${A.server6}]:${HTTP_PORT}/blob.bin`,
      ],
      { timeoutMs: 170_000 },
    );
    assert.equal(r.code, 0, `curl -6 failed (exit ${r.code}): ${r.stdout} ${r.stderr}`);
    const [size, time] = r.stdout.trim().split(' ');
    assert.equal(Number(size), DOWNLOAD_BYTES);
    seconds = Number(time);
    assert.equal(sha256File(out), sha, 'the downloaded file differs');
  } finally {
    await srv.stop();
  }
  const m = /^(\S+) - - \[.*"GET \/blob\.bin HTTP\/1\.1" 200/m.exec(srv.stderr);
  assert.ok(m, `http.server did not log the request:\n${srv.stderr}`);
  return { seen: m[1], seconds };
}

/** A PUT server that answers with the SHA-256 and length of the body and the peer address. */
const PUT_SERVER = `
import hashlib, http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        left = int(self.headers['Content-Length']); h = hashlib.sha256(); n = 0
        while left > 0:
            d = self.rfile.read(min(left, 65536))
            if not d: break
            h.update(d); n += len(d); left -= len(d)
        body = ('%s %d %s\\n' % (h.hexdigest(), n, self.client_address[0])).encode()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
`;

/** `curl -6 -T` uploads 4 MB; the server's SHA-256 matches. Returns the address the server saw. */
async function upload(env: Env): Promise<string> {
  const dir = tempDir();
  const body = randomBytes(UPLOAD_BYTES);
  const file = join(dir, 'up.bin');
  writeFileSync(file, body);
  const script = join(dir, 'put.py');
  writeFileSync(script, PUT_SERVER);
  const srv = env.server.spawn([python3(), script, A.server4, String(PUT_PORT)]);
  try {
    await env.server.waitForPort(PUT_PORT, 'tcp', 15_000, srv);
    const r = await env.client.run(
      [
        'curl',
        '-6',
        '-sS',
        '--fail',
        '--max-time',
        '120',
        '-g',
        '-H',
        'Expect:',
        '-T',
        file,
        `http://[${A.server6}]:${PUT_PORT}/up.bin`,
      ],
      { timeoutMs: 140_000 },
    );
    assert.equal(r.code, 0, `curl -6 -T failed (exit ${r.code}): ${r.stdout} ${r.stderr}\n${srv.stderr}`);
    const [sha, n, peer] = r.stdout.trim().split(' ');
    assert.equal(Number(n), UPLOAD_BYTES);
    assert.equal(sha, createHash('sha256').update(body).digest('hex'), 'the uploaded file differs');
    return peer;
  } finally {
    await srv.stop();
  }
}

/** The path MTU the client kernel has cached towards the server (1500 without an entry). */
async function clientPmtu(env: Env): Promise<number> {
  const r = await env.client.run(['ip', '-6', 'route', 'get', A.server6], { check: true });
  const m = /\bmtu (\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : 1500;
}

/**
 * Path MTU with `ping -6 -M do` (never fragment) over the small IPv4 link: a 1400-byte echo is
 * answered by an ICMPv6 Packet Too Big with {@link LEARNED_MTU} from the NAT64 side, the client
 * kernel caches it, and echoes of exactly that size (1252 + 8 + 40 = 1300 bytes of IPv6, 1280 of
 * IPv4) are answered. Returns the first ping's output.
 */
async function bigPing(env: Env): Promise<string> {
  assert.equal(await clientPmtu(env), 1500, 'the client starts without a cached path MTU');
  const big = await env.client.run(
    ['ping', '-6', '-M', 'do', '-c', '1', '-W', '3', '-s', '1400', A.server6],
    { timeoutMs: 30_000 },
  );
  assert.match(
    big.stdout,
    new RegExp(`icmp_seq=1 Packet too big: mtu=${LEARNED_MTU}`),
    `no Packet Too Big:\n${big.stdout}${big.stderr}`,
  );
  assert.equal(await clientPmtu(env), LEARNED_MTU, 'the client cached the path MTU');
  const fit = LEARNED_MTU - 48;
  const r = await env.client.run(
    ['ping', '-6', '-M', 'do', '-c', '3', '-i', '0.3', '-W', '3', '-s', String(fit), A.server6],
    { timeoutMs: 30_000 },
  );
  assert.match(r.stdout, /3 packets transmitted, 3 received/, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`${fit + 8} bytes from ${A.server6}`));
  return big.stdout;
}

/** A UDP echo server (python3): sends every datagram back unchanged. */
const UDP_ECHO = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
`;

/** A UDP client (python3, IPv6): sends N random bytes up to 3 times, prints whether the echo matched. */
const UDP_CLIENT = `
import os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
d = os.urandom(int(sys.argv[3]))
for attempt in range(3):
    s.sendto(d, (sys.argv[1], int(sys.argv[2])))
    try:
        r = s.recv(65535)
        print('match' if r == d else 'differs %d' % len(r), attempt)
        sys.exit(0)
    except OSError as e:
        print('attempt', attempt, e)
print('no echo')
sys.exit(1)
`;

/**
 * A 3000-byte UDP datagram from the IPv6 client: its kernel fragments it, the NAT64 must
 * translate it to IPv4 (DF clear: RFC 7915 §5.1 for a fragmented IPv6 packet) fitting the small
 * IPv4 link, and the IPv4 server's fragmented 3000-byte echo must come back intact.
 */
async function fragmentedUdp(env: Env): Promise<void> {
  const dir = tempDir();
  writeFileSync(join(dir, 'echo.py'), UDP_ECHO);
  writeFileSync(join(dir, 'client.py'), UDP_CLIENT);
  const port = 9000;
  const srv = env.server.spawn([python3(), join(dir, 'echo.py'), A.server4, String(port)]);
  try {
    await env.server.waitForPort(port, 'udp', 15_000, srv);
    const r = await env.client.run([python3(), join(dir, 'client.py'), A.server6, String(port), '3000'], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `no UDP echo: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^match \d/m, r.stdout);
  } finally {
    await srv.stop();
  }
}

/** The server has no IPv6 address and no route to the client's network. */
async function assertIpv4OnlyServer(env: Env): Promise<void> {
  const a = await env.server.run(['ip', '-6', 'addr', 'show']);
  assert.equal(a.stdout.trim(), '', `the server has IPv6 addresses:\n${a.stdout}`);
  const r = await env.server.run(['ip', 'route', 'get', '192.168.255.2']);
  assert.notEqual(r.code, 0, `the server has a route beyond its link: ${r.stdout}`);
}

// ---------------------------------------------------------------------------------------------
// The suites

const CURL = ['curl', 'python3'] as const;

describe('nat64: IPv6-only client -TUN- l3kit Nat64 -TUN- IPv4-only server (MTU 1500)', () => {
  let env: L3kitEnv | undefined;
  before(() => {
    if (skipReason()) return;
    env = makeL3kitEnv(1500);
  });
  after(async () => {
    await env?.dispose();
  });
  const e = (): L3kitEnv => {
    assert.ok(env, 'topology was not created');
    return env;
  };

  interopTest(
    'ping -6 to the server under the prefix gets every reply, as an ICMP BIB entry',
    ['ping'],
    async () => {
      await assertIpv4OnlyServer(e());
      await ping6(e());
      assert.match(
        e().nat64.formatConntrack(),
        new RegExp(`icmp .*src=${A.client6} dst=${A.server6}`),
        e().nat64.formatConntrack(),
      );
      assert.deepEqual(e().checked.failures, []);
      assert.ok(e().checked.count >= 6, `only ${e().checked.count} packets verified`);
    },
  );

  interopTest(
    'curl -6 downloads 10 MB byte-identical, and http.server sees the pool address',
    CURL,
    async () => {
      const r = await download(e());
      assert.equal(r.seen, A.nat4);
      console.log(`# l3kit Nat64: 10 MB in ${r.seconds.toFixed(2)} s (${(80 / r.seconds) | 0} Mbit/s)`);
      assert.match(
        e().nat64.formatConntrack(),
        new RegExp(`tcp .*src=${A.client6} dst=${A.server6} .*dport=${HTTP_PORT}`),
      );
      assert.deepEqual(e().checked.failures, []);
      assert.equal(e().nat64.stats.drops['bad-checksum'], 0);
    },
    { timeout: 200_000 },
  );
});

describe(`nat64: l3kit Nat64 with a ${SMALL_MTU}-byte IPv4 link (path MTU)`, () => {
  let env: L3kitEnv | undefined;
  before(() => {
    if (skipReason()) return;
    env = makeL3kitEnv(SMALL_MTU);
  });
  after(async () => {
    await env?.dispose();
  });
  const e = (): L3kitEnv => {
    assert.ok(env, 'topology was not created');
    return env;
  };

  interopTest(
    `a 1400-byte ping -6 -M do gets Packet Too Big ${LEARNED_MTU} from the Nat64, and echoes of that size are answered`,
    ['ping'],
    async () => {
      const tooBigBefore = e().nat64.translatorStats.dropTooBig;
      const out = await bigPing(e());
      assert.ok(
        e().nat64.translatorStats.dropTooBig > tooBigBefore,
        'the Nat64 refused an oversized DF packet',
      );
      assert.match(out, new RegExp(`From ${A.gateway6} icmp_seq=1 Packet too big`));
      assert.deepEqual(e().checked.failures, []);
    },
  );

  // Reassembled datagrams keep DF clear (RFC 7915 §5.1), so the IPv4 side gets fragments.
  it('a 1400-byte ping -6 that the client fragments at the learned MTU is translated and answered', {
    skip: skipReason(['ping']),
  }, async () => {
    assert.equal(await clientPmtu(e()), LEARNED_MTU, 'run after the Packet Too Big test');
    const r = await e().client.run(
      ['ping', '-6', '-M', 'want', '-c', '3', '-i', '0.3', '-W', '3', '-s', '1400', A.server6],
      { timeoutMs: 30_000 },
    );
    assert.match(r.stdout, /3 packets transmitted, 3 received/, `${r.stdout}${r.stderr}`);
  });

  interopTest(
    'a fragmented 3000-byte UDP datagram crosses the Nat64 to the small IPv4 link, and its echo returns intact',
    ['python3'],
    async () => {
      await fragmentedUdp(e());
      assert.ok(e().nat64.stats.fragmentsReassembled > 0);
      assert.deepEqual(e().checked.failures, []);
    },
  );

  interopTest(
    'a 4 MB curl -6 upload needs PMTU discovery through the Nat64 and arrives intact',
    CURL,
    async () => {
      await e().client.run(['ip', '-6', 'route', 'flush', 'cache']);
      const tooBigBefore = e().nat64.translatorStats.dropTooBig;
      assert.equal(await upload(e()), A.nat4);
      assert.ok(
        e().nat64.translatorStats.dropTooBig > tooBigBefore,
        'the 1440-byte segments met the small link and were answered with Packet Too Big',
      );
      assert.equal(await clientPmtu(e()), LEARNED_MTU);
      assert.deepEqual(e().checked.failures, []);
    },
    { timeout: 180_000 },
  );

  interopTest(
    'curl -6 downloads 10 MB byte-identical over the small IPv4 link',
    CURL,
    async () => {
      const r = await download(e());
      assert.equal(r.seen, A.nat4);
      console.log(`# l3kit Nat64, IPv4 MTU ${SMALL_MTU}: 10 MB in ${r.seconds.toFixed(2)} s`);
      assert.deepEqual(e().checked.failures, []);
    },
    { timeout: 200_000 },
  );
});

const TAYGA = ['tayga', 'nft'] as const;

describe('nat64: the same topology through tayga (router namespace, nftables masquerade), MTU 1500', () => {
  let env: Env | undefined;
  before(async () => {
    if (skipReason(TAYGA)) return;
    env = await makeTaygaEnv(1500);
  });
  after(async () => {
    await env?.dispose();
  });
  const e = (): Env => {
    assert.ok(env, 'topology was not created');
    return env;
  };

  interopTest(
    'tayga: ping -6 to the server under the prefix gets every reply',
    [...TAYGA, 'ping'],
    async () => {
      await assertIpv4OnlyServer(e());
      await ping6(e());
    },
  );

  interopTest(
    'tayga: curl -6 downloads 10 MB byte-identical, and http.server sees the router address',
    [...TAYGA, ...CURL],
    async () => {
      const r = await download(e());
      assert.equal(r.seen, A.nat4);
      console.log(`# tayga: 10 MB in ${r.seconds.toFixed(2)} s (${(80 / r.seconds) | 0} Mbit/s)`);
    },
    { timeout: 200_000 },
  );
});

describe(`nat64: tayga with a ${SMALL_MTU}-byte IPv4 link (path MTU)`, () => {
  let env: Env | undefined;
  before(async () => {
    if (skipReason(TAYGA)) return;
    env = await makeTaygaEnv(SMALL_MTU);
  });
  after(async () => {
    await env?.dispose();
  });
  const e = (): Env => {
    assert.ok(env, 'topology was not created');
    return env;
  };

  interopTest(
    `tayga: a 1400-byte ping -6 -M do gets Packet Too Big ${LEARNED_MTU} (translated from the router's ICMP 3/4), and echoes of that size are answered`,
    [...TAYGA, 'ping'],
    async () => {
      const out = await bigPing(e());
      // The router kernel (192.168.254.1 on the TUN) sent ICMP 3/4 MTU 1280; tayga translated it.
      assert.match(out, /From 2001:db8:64::c0a8:fe01 icmp_seq=1 Packet too big/);
    },
  );

  interopTest(
    'tayga: a fragmented 3000-byte UDP datagram crosses to the small IPv4 link, and its echo returns intact',
    [...TAYGA, 'python3'],
    async () => {
      await fragmentedUdp(e());
    },
  );

  interopTest(
    'tayga: a 4 MB curl -6 upload needs PMTU discovery and arrives intact',
    [...TAYGA, ...CURL],
    async () => {
      await e().client.run(['ip', '-6', 'route', 'flush', 'cache']);
      assert.equal(await upload(e()), A.nat4);
      assert.equal(await clientPmtu(e()), LEARNED_MTU);
    },
    { timeout: 180_000 },
  );

  interopTest(
    'tayga: curl -6 downloads 10 MB byte-identical over the small IPv4 link',
    [...TAYGA, ...CURL],
    async () => {
      const r = await download(e());
      assert.equal(r.seen, A.nat4);
      console.log(`# tayga, IPv4 MTU ${SMALL_MTU}: 10 MB in ${r.seconds.toFixed(2)} s`);
    },
    { timeout: 200_000 },
  );
});
