/**
 * Real WireGuard clients through l3kit: two wireguard-go clients, each in its own namespace and
 * both with the inside address 10.0.0.2, handshake with an l3kit `WireGuardServer` whose
 * connector is an l3kit `Nat`; a server namespace (203.0.113.2, no route back) is outside.
 *
 * The WireGuard underlay stays inside this test's namespaces: each client namespace reaches the
 * gateway's UDP port over a TUN (172.31.<k>.2 → 172.31.0.1) that ends in an l3kit VirtualHost,
 * whose UDP socket feeds `WireGuardServer.receive` (a custom transport).
 *
 * ```text
 *  ns c1: wg0 10.0.0.2 ─┐ UDP over TUN ┌─ VirtualHost 172.31.0.1:51820 ─ WireGuardServer ─ Nat ─TUN─ ns s: 203.0.113.2
 *  ns c2: wg0 10.0.0.2 ─┘              └─ (one tenant of the Nat per peer)
 * ```
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { VirtualHost } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import type { TunDevice } from '@l3kit/tun';
import { genkey, pubkey, WireGuardServer } from '@l3kit/wireguard';
import { freshId, ifName, interopTest, Netns, python3, skipReason, tempDir, tunInto } from './harness.js';

/** Tools this file needs (Debian packages: wireguard-go, wireguard-tools, iputils-ping, curl). */
const WG_TOOLS = ['wireguard-go', 'wg', 'ping'] as const;
const SERVER = '203.0.113.2';
const WG_PORT = 51820;

interface Client {
  ns: Netns;
  tun: TunDevice;
  wgIf: string;
  key: string;
  pub: string;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('wireguard: two wireguard-go clients with the same inside address behind an l3kit Nat', () => {
  let server: Netns | undefined;
  let serverTun: TunDevice | undefined;
  let nat: Nat | undefined;
  let wg: WireGuardServer | undefined;
  let underlay: VirtualHost | undefined;
  const clients: Client[] = [];

  before(async () => {
    if (skipReason([...WG_TOOLS])) return;
    const id = freshId();
    server = new Netns(`${id}s`);
    serverTun = tunInto(server, ifName(id, 's'), `${SERVER}/24`);
    const n = new Nat({ inside: '10.0.0.1/24', outside: '203.0.113.1/24' });
    nat = n;
    const sTun = serverTun;
    n.outside().setHandler((p) => sTun.send(p));
    sTun.setHandler((p) => n.outside().send(p));

    // the underlay: a virtual host at 172.31.0.1 with one TUN per client namespace
    const host = new VirtualHost({ addr: '172.31.0.1/16' });
    underlay = host;
    const tuns: TunDevice[] = [];
    host.setHandler((p) => tuns[p[18]]?.send(p)); // 172.31.<k>.2: route by the third octet
    const sock = host.udp.bind(WG_PORT);
    const gw = new WireGuardServer({
      privateKey: genkey(),
      connector: n,
      transport: { send: (m, port, addr) => sock.send(m, port, addr), close: () => sock.close() },
    });
    wg = gw;
    sock.on('message', (data, r) => gw.receive(data, r.address, r.port));

    const dir = tempDir();
    for (const k of [1, 2]) {
      const ns = new Netns(`${id}c${k}`);
      const tun = tunInto(ns, ifName(id, `u${k}`), `172.31.${k}.2/24`);
      tuns[k] = tun;
      tun.setHandler((p) => host.send(p));
      ns.ip('route', 'add', '172.31.0.1/32', 'dev', tun.name);
      const wgIf = ifName(id, `w${k}`);
      const proc = ns.spawn(['wireguard-go', '-f', wgIf]);
      await waitFor(() => {
        if (!proc.running) throw new Error(`wireguard-go exited: ${proc.stderr}`);
        try {
          ns.ip('link', 'show', wgIf);
          return true;
        } catch {
          return false;
        }
      }, `wireguard-go to create ${wgIf}`);
      const key = genkey();
      const keyFile = join(dir, `c${k}.key`);
      writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
      // wg talks to wireguard-go over its UAPI socket; retry until the socket exists
      for (let tries = 0; ; tries++) {
        const r = await ns.run([
          'wg',
          'set',
          wgIf,
          'private-key',
          keyFile,
          'peer',
          gw.publicKey,
          'endpoint',
          `172.31.0.1:${WG_PORT}`,
          'allowed-ips',
          '0.0.0.0/0',
        ]);
        if (r.code === 0) break;
        if (tries > 40) throw new Error(`wg set failed: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      ns.ip('addr', 'add', '10.0.0.2/24', 'dev', wgIf);
      ns.ip('link', 'set', wgIf, 'up');
      ns.ip('route', 'add', '203.0.113.0/24', 'dev', wgIf);
      const pub = pubkey(key);
      gw.addPeer({ publicKey: pub, allowedIps: ['10.0.0.2/32'] });
      clients.push({ ns, tun, wgIf, key, pub });
    }
  });

  after(async () => {
    wg?.close();
    nat?.close();
    underlay?.close();
    for (const c of clients) {
      c.tun.close();
      await c.ns.dispose();
    }
    serverTun?.close();
    await server?.dispose();
  });

  const ok = () => {
    assert.ok(wg && nat && server && clients.length === 2, 'topology was not created');
    return { wg, nat, server, clients };
  };

  interopTest(
    'both clients complete a handshake and ping the outside server at once',
    [...WG_TOOLS],
    async () => {
      const t = ok();
      const pings = await Promise.all(
        t.clients.map((c) =>
          c.ns.run(['ping', '-c', '5', '-i', '0.2', '-W', '3', SERVER], { timeoutMs: 30_000 }),
        ),
      );
      for (const [i, r] of pings.entries()) {
        assert.equal(r.code, 0, `client ${i + 1} ping failed:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /5 received/, `client ${i + 1}: ${r.stdout}`);
      }
      for (const c of t.clients) {
        const peer = t.wg.peer(c.pub);
        assert.ok(peer?.lastHandshake !== undefined, 'handshake recorded');
        assert.ok((peer?.stats.rxPackets ?? 0) >= 5);
        assert.equal(peer?.stats.badSource, 0);
        const show = await c.ns.run(['wg', 'show', c.wgIf, 'latest-handshakes']);
        assert.match(show.stdout, /\t[1-9]\d*\s*$/m, `wireguard-go saw no handshake: ${show.stdout}`);
      }
      // two tenants, two distinct conntrack zones for the same inside address
      const ct = t.nat.formatConntrack();
      const zones = new Set(
        [...ct.matchAll(/icmp .*src=10\.0\.0\.2 dst=203\.0\.113\.2.*zone=(\d+)/g)].map((m) => m[1]),
      );
      assert.equal(zones.size, 2, ct);
    },
  );

  interopTest(
    'both clients download a file with curl at once and each gets it intact',
    ['curl', 'python3', 'sha256sum', ...WG_TOOLS],
    async () => {
      const t = ok();
      const dir = tempDir();
      const body = randomBytes(512 * 1024);
      writeFileSync(join(dir, 'blob.bin'), body);
      const srv = t.server.spawn([python3(), '-m', 'http.server', '--bind', SERVER, '8080'], { cwd: dir });
      try {
        await t.server.waitForPort(8080, 'tcp', 10_000, srv);
        const sums = await Promise.all(
          t.clients.map((c) =>
            c.ns.run(
              ['sh', '-c', `curl -sS --fail --max-time 30 http://${SERVER}:8080/blob.bin | sha256sum`],
              {
                timeoutMs: 40_000,
              },
            ),
          ),
        );
        const want = createHash('sha256').update(body).digest('hex');
        for (const s of sums) {
          assert.equal(s.code, 0, s.stderr);
          assert.equal(s.stdout.split(' ')[0], want);
        }
      } finally {
        await srv.stop();
      }
      // the server saw both downloads from the NAT's outside address
      const hits = srv.stderr.match(/^203\.0\.113\.1 - - .*"GET \/blob\.bin HTTP\/1\.1" 200/gm) ?? [];
      assert.equal(hits.length, 2, srv.stderr);
    },
  );

  interopTest(
    'a rekey initiated by l3kit during an iperf3 run completes without a stall',
    ['iperf3', ...WG_TOOLS],
    async () => {
      const t = ok();
      const c = t.clients[1];
      const peer = t.wg.peer(c.pub);
      assert.ok(peer);
      const before = peer.stats.handshakesCompleted;
      const srv = t.server.spawn(['iperf3', '-s', '-1', '-B', SERVER, '-p', '5201']);
      try {
        await t.server.waitForPort(5201, 'tcp', 10_000, srv);
        const run = c.ns.run(['iperf3', '-c', SERVER, '-p', '5201', '-t', '6', '-i', '1', '-J'], {
          timeoutMs: 40_000,
        });
        // l3kit (the responder so far) initiates a new handshake mid-stream
        const kick = setTimeout(() => peer.initiateHandshake(), 2500);
        const r = await run;
        clearTimeout(kick);
        assert.equal(r.code, 0, r.stderr);
        const j = JSON.parse(r.stdout) as {
          intervals: Array<{ sum: { bits_per_second: number } }>;
          end: { sum_received: { bits_per_second: number } };
        };
        const mbps = j.end.sum_received.bits_per_second / 1e6;
        const perSecond = j.intervals.map((i) => Math.round(i.sum.bits_per_second / 1e6));
        console.log(
          `# wireguard-go -> l3kit WireGuardServer -> Nat: ${mbps.toFixed(0)} Mbit/s, per second ${perSecond.join(' ')}`,
        );
        assert.ok(
          perSecond.every((x) => x > 0),
          `a one-second interval stalled: ${perSecond.join(' ')}`,
        );
        assert.ok(mbps > 1, `throughput ${mbps} Mbit/s`);
      } finally {
        await srv.stop();
      }
      assert.ok(
        peer.stats.handshakesCompleted >= before + 1,
        `handshakes ${before} -> ${peer.stats.handshakesCompleted}`,
      );
      assert.equal(peer.current?.initiator, true, 'the session in use is the one l3kit initiated');
      assert.equal(peer.stats.decryptFailed, 0);
    },
    { timeout: 90_000 },
  );

  interopTest('removing a peer cuts it off while the other client keeps working', [...WG_TOOLS], async () => {
    const t = ok();
    const [one, two] = t.clients;
    assert.equal(t.wg.removePeer(one.pub), true);
    const [r1, r2] = await Promise.all([
      one.ns.run(['ping', '-c', '3', '-i', '0.2', '-W', '1', SERVER], { timeoutMs: 20_000 }),
      two.ns.run(['ping', '-c', '3', '-i', '0.2', '-W', '2', SERVER], { timeoutMs: 20_000 }),
    ]);
    assert.notEqual(r1.code, 0, `removed client still reaches the server:\n${r1.stdout}`);
    assert.match(r1.stdout, /0 received/);
    assert.equal(r2.code, 0, `remaining client lost connectivity:\n${r2.stdout}\n${r2.stderr}`);
    assert.equal(t.wg.peer(one.pub), undefined);
  });
});
