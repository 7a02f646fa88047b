/**
 * Real WireGuard clients through l3kit: two wireguard-go clients, each in its own namespace and
 * both with the inside address 10.0.0.2, handshake with an l3kit `WireGuardServer` whose
 * connector is an l3kit `Nat`; a server namespace (203.0.113.2, no route back) is outside.
 *
 * The topology is built by `makeWireGuardTopology` (wireguard-topology.ts, shared with
 * `scripts/bench-interop.mjs`). The WireGuard underlay stays inside this test's namespaces: each
 * client namespace reaches the gateway's UDP port over a TUN (172.31.<k>.2 → 172.31.0.1) that
 * ends in an l3kit VirtualHost, whose UDP socket feeds `WireGuardServer.receive`.
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
import { interopTest, python3, skipReason, tempDir } from './harness.js';
import {
  makeWireGuardTopology,
  WG_SERVER as SERVER,
  WG_TOOLS as TOPOLOGY_TOOLS,
  type WireGuardTopology,
} from './wireguard-topology.js';

/** Tools this file needs (Debian packages: wireguard-go, wireguard-tools, iputils-ping, curl). */
const WG_TOOLS = [...TOPOLOGY_TOOLS, 'ping'] as const;

describe('wireguard: two wireguard-go clients with the same inside address behind an l3kit Nat', () => {
  let topo: WireGuardTopology | undefined;

  before(async () => {
    if (skipReason([...WG_TOOLS])) return;
    topo = await makeWireGuardTopology({ clients: 2 });
  });

  after(async () => {
    await topo?.dispose();
  });

  const ok = () => {
    assert.ok(topo && topo.clients.length === 2, 'topology was not created');
    return topo;
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
