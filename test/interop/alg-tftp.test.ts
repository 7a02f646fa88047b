/**
 * tftp-hpa (client namespace) ↔ tftpd-hpa (server namespace) through l3kit's Nat with
 * address-and-port-dependent filtering. tftpd answers a read request from a new port, which such
 * a filter drops unless the TftpHelper expects it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { TftpHelper } from '@l3kit/alg';
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { interopTest, makeTopology, PLAN, type Topology, tempDir } from './harness.js';

const TOOLS = ['tftp', 'in.tftpd'] as const;
const SIZE = 512 * 1024 + 100;

interface Setup {
  topo: Topology;
  nat: Nat;
  tftp: TftpHelper;
  dir: string;
  sha: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function setup(withHelper: boolean): Promise<Setup> {
  const tftp = new TftpHelper();
  let nat: Nat | undefined;
  const topo = makeTopology({
    serverRouteBack: false,
    wire: (clientTun, serverTun) => {
      const n = new Nat({
        inside: PLAN.natInside,
        outside: PLAN.natOutside,
        filtering: 'address-and-port-dependent',
      });
      nat = n;
      if (withHelper) n.addHelper(tftp);
      connectL3(n.inside(), clientTun);
      n.outside().setHandler((p) => {
        assertChecksums(p, 'NAT outside packet');
        serverTun.send(p);
      });
      serverTun.setHandler((p) => n.outside().send(p));
      return () => n.close();
    },
  });
  const dir = tempDir('l3k-tftp-');
  chmodSync(dir, 0o755);
  const root = join(dir, 'root');
  mkdirSync(root, { mode: 0o755 });
  mkdirSync(join(dir, 'out'), { mode: 0o777 });
  const data = randomBytes(SIZE);
  writeFileSync(join(root, 'boot.img'), data, { mode: 0o644 });
  // -L: foreground, -s: chroot to the root, -a: listen address, -u: the Debian tftp user.
  const d = topo.server.spawn(['in.tftpd', '-L', '-v', '-u', 'tftp', '-a', `${PLAN.server}:69`, '-s', root]);
  await topo.server.waitForPort(69, 'udp', 10_000, d);
  return { topo, nat: nat as unknown as Nat, tftp, dir, sha: sha256(data) };
}

async function tftpGet(s: Setup, name: string) {
  const out = join(s.dir, 'out', name);
  const r = await s.topo.client.run(
    ['tftp', '-v', '-m', 'octet', PLAN.server, '-c', 'get', 'boot.img', out],
    {
      timeoutMs: 40_000,
    },
  );
  return { ...r, out };
}

/** Runs `check` on a fresh topology (helper added or not), torn down afterwards. */
async function withSetup(withHelper: boolean, check: (s: Setup) => Promise<void>): Promise<void> {
  const s = await setup(withHelper);
  try {
    await check(s);
  } finally {
    await s.topo.dispose();
  }
}

describe('TFTP ALG: tftp-hpa ↔ tftpd-hpa through l3kit with address-and-port-dependent filtering', () => {
  interopTest(
    'with the TftpHelper a binary download is byte-identical',
    TOOLS,
    () =>
      withSetup(true, async (s) => {
        const r = await tftpGet(s, 'with.img');
        assert.equal(r.code, 0, `tftp failed:\n${r.stdout}\n${r.stderr}`);
        assert.equal(sha256(readFileSync(r.out)), s.sha);
        assert.equal(s.tftp.stats.requests, 1);
        assert.equal(s.nat.stats.expectationsUsed, 1);
      }),
    { timeout: 90_000 },
  );

  interopTest(
    'without the helper the reply from the new server port is filtered and the transfer times out',
    TOOLS,
    () =>
      withSetup(false, async (s) => {
        const r = await tftpGet(s, 'without.img');
        const text = r.stdout + r.stderr;
        assert.match(text, /timed out/i, `tftp output:\n${text}`);
        assert.ok(!existsSync(r.out) || readFileSync(r.out).length === 0, 'nothing was received');
        assert.ok(s.nat.stats.drops.filtered > 0, JSON.stringify(s.nat.stats.drops));
      }),
    { timeout: 90_000 },
  );
});
