/**
 * lftp (client namespace) ↔ vsftpd (server namespace) through l3kit's Nat with the FtpHelper.
 * The server namespace has no route back to the client network, so an active-mode data
 * connection can only reach the client through the expectation the helper creates. Without the
 * helper, vsftpd refuses the client's private address in PORT (`500 Illegal PORT command.`), as
 * behind any plain NAT.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { FtpHelper } from '@l3kit/alg';
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { interopTest, makeTopology, PLAN, type Proc, skipReason, type Topology, tempDir } from './harness.js';

const TOOLS = ['lftp', 'vsftpd'] as const;
const SIZE = 5 * 1024 * 1024;

interface Setup {
  topo: Topology;
  nat: Nat;
  ftp: FtpHelper;
  dir: string;
  sha: string;
  vsftpd: Proc;
  /** Packets the NAT emitted whose checksums were verified independently. */
  verified: () => number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The topology with a Nat (helper added or not), a vsftpd serving a 5 MB random file. */
async function setup(withHelper: boolean): Promise<Setup> {
  const ftp = new FtpHelper();
  let nat: Nat | undefined;
  let verified = 0;
  const topo = makeTopology({
    serverRouteBack: false,
    wire: (clientTun, serverTun) => {
      const n = new Nat({ inside: PLAN.natInside, outside: PLAN.natOutside });
      nat = n;
      if (withHelper) n.addHelper(ftp);
      connectL3(n.inside(), clientTun);
      let k = 0;
      n.outside().setHandler((p) => {
        // Every control packet (small) and a sample of the data is checked independently.
        if (p.length < 200 || (k++ & 63) === 0) {
          assertChecksums(p, 'NAT outside packet');
          verified++;
        }
        serverTun.send(p);
      });
      serverTun.setHandler((p) => n.outside().send(p));
      return () => n.close();
    },
  });
  const dir = tempDir('l3k-ftp-');
  chmodSync(dir, 0o755);
  const pub = join(dir, 'pub');
  const empty = join(dir, 'empty');
  mkdirSync(pub, { mode: 0o755 });
  mkdirSync(empty, { mode: 0o755 });
  mkdirSync(join(dir, 'out'), { mode: 0o755 });
  const data = randomBytes(SIZE);
  writeFileSync(join(pub, 'big.bin'), data, { mode: 0o644 });
  const conf = join(dir, 'vsftpd.conf');
  writeFileSync(
    conf,
    [
      'listen=YES',
      'listen_ipv6=NO',
      `listen_address=${PLAN.server}`,
      'background=NO',
      'anonymous_enable=YES',
      'no_anon_password=YES',
      `anon_root=${pub}`,
      'local_enable=NO',
      'write_enable=NO',
      'seccomp_sandbox=NO',
      `secure_chroot_dir=${empty}`,
      'pasv_enable=YES',
      'port_enable=YES',
      'connect_from_port_20=YES',
      'xferlog_enable=NO',
      'dirmessage_enable=NO',
      'use_localtime=NO',
      '',
    ].join('\n'),
  );
  const vsftpd = topo.server.spawn(['vsftpd', conf]);
  await topo.server.waitForPort(21, 'tcp', 10_000, vsftpd);
  return {
    topo,
    nat: nat as unknown as Nat,
    ftp,
    dir,
    sha: sha256(data),
    vsftpd,
    verified: () => verified,
  };
}

/** lftp downloads big.bin in active or passive mode; returns its exit code and debug output. */
async function lftpGet(s: Setup, passive: boolean, name: string) {
  const out = join(s.dir, 'out', name);
  const script = [
    `set ftp:passive-mode ${passive ? 'on' : 'off'}`,
    'set net:max-retries 1',
    'set net:reconnect-interval-base 1',
    'set net:timeout 8',
    'set xfer:clobber on',
    `open ftp://anonymous@${PLAN.server}`,
    `get big.bin -o ${out}`,
    'quit',
  ].join('; ');
  const r = await s.topo.client.run(['lftp', '-d', '-c', script], { timeoutMs: 60_000 });
  return { ...r, out };
}

/** A describe block with its own topology (helper added or not) and tests that get the setup. */
function suite(title: string, withHelper: boolean, tests: (get: () => Setup) => void): void {
  describe(title, () => {
    let s: Setup | undefined;
    before(async () => {
      if (skipReason([...TOOLS])) return;
      s = await setup(withHelper);
    });
    after(async () => {
      await s?.topo.dispose();
    });
    tests(() => {
      assert.ok(s, 'setup failed');
      return s;
    });
  });
}

suite('FTP ALG: lftp ↔ vsftpd through l3kit (client masqueraded, no route back)', true, (get) => {
  interopTest(
    'active mode: a 5 MB download is byte-identical, PORT rewritten and the data connection let in',
    TOOLS,
    async () => {
      const st = get();
      const r = await lftpGet(st, false, 'active.bin');
      assert.equal(r.code, 0, `lftp failed:\n${r.stdout}\n${r.stderr}`);
      assert.ok(existsSync(r.out));
      assert.equal(sha256(readFileSync(r.out)), st.sha);
      // lftp sent its private address; the server accepted the rewritten one.
      const log = r.stdout + r.stderr;
      assert.match(log, /---> (PORT 192,168,1,2,|EPRT \|1\|192\.168\.1\.2\|)/);
      assert.match(log, /<--- 200 (PORT|EPRT) command successful/);
      assert.ok(st.ftp.stats.rewrites >= 1);
      assert.ok(st.nat.stats.expectationsUsed >= 1);
      assert.ok(st.verified() > 0);
    },
    { timeout: 120_000 },
  );

  interopTest(
    'passive mode: a 5 MB download is byte-identical',
    TOOLS,
    async () => {
      const st = get();
      const r = await lftpGet(st, true, 'passive.bin');
      assert.equal(r.code, 0, `lftp failed:\n${r.stdout}\n${r.stderr}`);
      assert.equal(sha256(readFileSync(r.out)), st.sha);
      assert.match(r.stdout + r.stderr, /<--- 22[79] /);
    },
    { timeout: 120_000 },
  );
});

suite('FTP without the helper: active mode fails as through a plain NAT', false, (get) => {
  interopTest(
    'vsftpd answers 500 Illegal PORT command. and nothing is downloaded',
    TOOLS,
    async () => {
      const r = await lftpGet(get(), false, 'nohelper.bin');
      assert.notEqual(r.code, 0, 'lftp should fail');
      assert.match(r.stdout + r.stderr, /500 Illegal (PORT|EPRT) command/);
      assert.equal(existsSync(r.out) && readFileSync(r.out).length === SIZE, false);
    },
    { timeout: 120_000 },
  );
});
