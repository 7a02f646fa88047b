import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClosedError, ConfigError } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { TunDevice, TunError, tunAvailable } from '../src/index.js';
import { ip, rootSkipReason, TestNetns, uniqueName } from './root-env.js';

const run = promisify(execFile);
const indexUrl = new URL('../src/index.js', import.meta.url).href;
const rootSkip = rootSkipReason();

/** Runs `TunDevice.open(opts)` in a child node and returns what it threw (or `opened`). */
function openInChild(
  opts: object,
  spawnOpts: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; wrap?: string[] } = {},
): { code?: string; name?: string; message?: string; opened?: boolean; raw: string } {
  const script = `import { TunDevice } from ${JSON.stringify(indexUrl)};
try { const d = TunDevice.open(${JSON.stringify(opts)}); d.close(); console.log(JSON.stringify({ opened: true })); }
catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })); }`;
  const argv = [process.execPath, '--input-type=module', '-e', script];
  const cmd = spawnOpts.wrap ? [...spawnOpts.wrap, ...argv] : argv;
  const r = spawnSync(cmd[0], cmd.slice(1), {
    encoding: 'utf8',
    env: spawnOpts.env ?? process.env,
    uid: spawnOpts.uid,
    gid: spawnOpts.gid,
    cwd: '/',
    timeout: 20_000,
  });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return { ...JSON.parse(line), raw: `${r.stdout}${r.stderr}` };
  } catch {
    return { raw: `exit ${r.status}: ${r.stdout}${r.stderr}` };
  }
}

/** Answers ICMP echo requests addressed to `me` (IPv4), as a tiny host behind the TUN. */
function echoResponder(dev: TunDevice, me: string, replies: Uint8Array[]): void {
  dev.setHandler((p) => {
    if (p.length < 28 || p[0] >>> 4 !== 4 || p[9] !== 1) return;
    const ihl = (p[0] & 15) * 4;
    if (p[ihl] !== 8) return;
    const dst = `${p[16]}.${p[17]}.${p[18]}.${p[19]}`;
    if (dst !== me) return;
    const src = `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
    const reply = buildPacket({
      src: dst,
      dst: src,
      icmp: {
        type: 0,
        code: 0,
        identifier: (p[ihl + 4] << 8) | p[ihl + 5],
        sequence: (p[ihl + 6] << 8) | p[ihl + 7],
        data: p.slice(ihl + 8),
      },
    });
    assertChecksums(reply, 'echo reply');
    replies.push(reply);
    dev.send(reply);
  });
}

describe('TunDevice options', () => {
  it('rejects a name longer than 15 bytes with ERR_TUN_BAD_NAME before touching the system', () => {
    assert.throws(
      () => TunDevice.open({ name: 'a-very-long-interface-name' }),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_TUN_BAD_NAME',
    );
    assert.throws(() => TunDevice.open({ name: 'has space' }), { code: 'ERR_TUN_BAD_NAME' });
    assert.throws(() => TunDevice.open({ name: '' }), { code: 'ERR_TUN_BAD_NAME' });
    assert.throws(() => TunDevice.open({ name: '..' }), { code: 'ERR_TUN_BAD_NAME' });
  });

  it('rejects an MTU outside 68..65535 with ERR_TUN_BAD_MTU', () => {
    for (const mtu of [0, 67, 65536, 1500.5])
      assert.throws(() => TunDevice.open({ name: 'x', mtu }), { code: 'ERR_TUN_BAD_MTU' });
  });

  it('rejects several queues without multiQueue, a bad batch or queue length, and offload without vnetHdr', () => {
    assert.throws(() => TunDevice.open({ name: 'x', queues: 2 }), { code: 'ERR_TUN_BAD_OPTION' });
    assert.throws(() => TunDevice.open({ name: 'x', batch: 0 }), { code: 'ERR_TUN_BAD_OPTION' });
    assert.throws(() => TunDevice.open({ name: 'x', offload: true }), { code: 'ERR_TUN_BAD_OPTION' });
    assert.throws(() => TunDevice.open({ name: 'x', txQueueLen: 0 }), { code: 'ERR_TUN_BAD_OPTION' });
  });
});

describe('TunDevice errors', () => {
  it('throws ERR_TUN_UNAVAILABLE with a build hint when the native addon is missing', () => {
    const r = openInChild(
      { name: 'l3kmissing' },
      { env: { ...process.env, L3KIT_TUN_ADDON: '/nonexistent/l3kit_tun.node' } },
    );
    assert.equal(r.code, 'ERR_TUN_UNAVAILABLE', r.raw);
    assert.equal(r.name, 'TunError');
    assert.match(r.message ?? '', /build:addon/);
  });

  it('throws ERR_TUN_PERMISSION without CAP_NET_ADMIN', (t) => {
    if (!tunAvailable()) return t.skip('the native addon is not built');
    if (!existsSync('/dev/net/tun')) return t.skip('/dev/net/tun is missing');
    const asRoot = process.getuid?.() === 0;
    const r = openInChild({ name: uniqueName('l3kp') }, asRoot ? { uid: 65534, gid: 65534 } : {});
    assert.equal(r.code, 'ERR_TUN_PERMISSION', r.raw);
    assert.match(r.message ?? '', /CAP_NET_ADMIN/);
  });

  it('throws ERR_TUN_NO_DEVICE when /dev/net/tun does not exist', (t) => {
    if (rootSkip) return t.skip(rootSkip);
    if (spawnSync('unshare', ['--version']).status !== 0) return t.skip('unshare (util-linux) is missing');
    // A private mount namespace where /dev/net is an empty tmpfs.
    const r = openInChild(
      { name: uniqueName('l3kn') },
      {
        wrap: [
          'unshare',
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs none /dev/net && exec "$0" "$@"',
        ],
      },
    );
    assert.equal(r.code, 'ERR_TUN_NO_DEVICE', r.raw);
    assert.match(r.message ?? '', /\/dev\/net\/tun/);
  });

  it('throws ERR_TUN_BUSY when the name is taken by an attached TUN', (t) => {
    if (rootSkip) return t.skip(rootSkip);
    const name = uniqueName('l3kb');
    const a = TunDevice.open({ name });
    try {
      assert.throws(
        () => TunDevice.open({ name }),
        (e: unknown) => e instanceof TunError && e.code === 'ERR_TUN_BUSY' && e.sysCode === 'EBUSY',
      );
    } finally {
      a.close();
    }
  });
});

describe('TunDevice with the kernel', { skip: rootSkip }, () => {
  let ns: TestNetns;
  before(() => {
    ns = new TestNetns();
  });
  after(() => ns?.dispose());

  /** Opens a TUN, moves it into the test namespace as 10.201.<n>.1/24, link up. */
  function tunInNs(n: number, opts: Parameters<typeof TunDevice.open>[0] = {}): TunDevice {
    const dev = TunDevice.open({ name: uniqueName('l3kt'), ...opts });
    ip('link', 'set', dev.name, 'netns', ns.name);
    ns.ip('addr', 'add', `10.201.${n}.1/24`, 'dev', dev.name);
    ns.ip('link', 'set', dev.name, 'up');
    return dev;
  }

  async function ping(addr: string, count = 3): Promise<string> {
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      ns.name,
      'ping',
      '-c',
      String(count),
      '-i',
      '0.2',
      '-W',
      '2',
      addr,
    ]);
    return stdout;
  }

  it('answers a ping from a network namespace through its handler', async () => {
    const dev = tunInNs(1);
    try {
      const replies: Uint8Array[] = [];
      echoResponder(dev, '10.201.1.2', replies);
      const out = await ping('10.201.1.2');
      assert.match(out, /3 packets transmitted, 3 received/);
      assert.equal(replies.length, 3);
      assert.ok(dev.stats.rxPackets >= 3);
      assert.equal(dev.stats.txPackets, 3);
      assert.ok(dev.stats.rxBatches >= 1);
    } finally {
      dev.close();
    }
  });

  it('works the same with a vnet header on the fd', async () => {
    const dev = tunInNs(2, { vnetHdr: true });
    try {
      const replies: Uint8Array[] = [];
      echoResponder(dev, '10.201.2.2', replies);
      assert.match(await ping('10.201.2.2'), /3 received/);
      assert.equal(dev.stats.txPackets, 3);
      assert.equal(dev.stats.rxDropped, 0);
    } finally {
      dev.close();
    }
  });

  it('reads from every queue of a multi-queue device', async () => {
    const dev = tunInNs(3, { multiQueue: true, queues: 2 });
    try {
      const replies: Uint8Array[] = [];
      echoResponder(dev, '10.201.3.2', replies);
      assert.match(await ping('10.201.3.2', 4), /4 received/);
      assert.equal(replies.length, 4);
    } finally {
      dev.close();
    }
  });

  it('delivers a batch of packets to the kernel and reads the kernel replies back', async () => {
    const dev = tunInNs(4);
    try {
      const got: number[] = [];
      dev.setHandler((p) => {
        assertChecksums(p, 'kernel echo reply');
        if (p[9] === 1 && p[20] === 0) got.push((p[26] << 8) | p[27]);
      });
      const pkts = [1, 2, 3, 4, 5].map((seq) =>
        buildPacket({
          src: '10.201.4.2',
          dst: '10.201.4.1',
          icmp: { type: 8, code: 0, identifier: 77, sequence: seq, data: new Uint8Array(32) },
        }),
      );
      for (const p of pkts) assertChecksums(p, 'echo request');
      assert.equal(dev.sendBatch(pkts), 5);
      const deadline = Date.now() + 3000;
      while (got.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got.sort(), [1, 2, 3, 4, 5]);
      assert.equal(dev.stats.txPackets, 5);
    } finally {
      dev.close();
    }
  });

  it('counts writes to a link that is down as linkDown (EIO) and keeps working when it comes back', async () => {
    const dev = tunInNs(5);
    try {
      const replies: Uint8Array[] = [];
      echoResponder(dev, '10.201.5.2', replies);
      ns.ip('link', 'set', dev.name, 'down');
      const req = buildPacket({
        src: '10.201.5.2',
        dst: '10.201.5.1',
        icmp: { type: 8, code: 0, identifier: 1, sequence: 1 },
      });
      dev.send(req);
      dev.send(req);
      assert.equal(dev.stats.txDropped.linkDown, 2);
      assert.equal(dev.stats.lastTxError, 'EIO');
      assert.equal(dev.closed, false);
      ns.ip('link', 'set', dev.name, 'up');
      ns.ip('route', 'replace', '10.201.5.0/24', 'dev', dev.name);
      assert.match(await ping('10.201.5.2', 2), /2 received/);
    } finally {
      dev.close();
    }
  });

  it('drops and counts packets that are not IP instead of throwing', () => {
    const dev = tunInNs(6);
    try {
      dev.send(new Uint8Array(0));
      dev.send(Uint8Array.from([0x10, 0, 0, 0]));
      dev.send(new Uint8Array(70000).fill(0x45));
      assert.equal(dev.stats.txDropped.malformed, 3);
      assert.equal(dev.sendBatch([new Uint8Array(0), Uint8Array.from([0x70])]), 0);
      assert.equal(dev.stats.txDropped.malformed, 5);
    } finally {
      dev.close();
    }
  });

  it('sets and reads the MTU and the link state by name in its namespace', () => {
    const dev = TunDevice.open({ name: uniqueName('l3km'), mtu: 1400, txQueueLen: 4096 });
    try {
      assert.equal(dev.mtu, 1400);
      assert.match(ip('link', 'show', dev.name), /mtu 1400 .*qlen 4096/);
      assert.equal(dev.readTxQueueLen(), 4096);
      dev.setMtu(9000);
      assert.equal(dev.readMtu(), 9000);
      assert.equal(dev.isUp(), false);
      dev.setUp(true);
      assert.equal(dev.isUp(), true);
      dev.setUp(false);
      assert.equal(dev.isUp(), false);
      assert.throws(() => dev.setMtu(10), { code: 'ERR_TUN_BAD_MTU' });
    } finally {
      dev.close();
    }
  });

  it('reports ERR_TUN_NOT_FOUND for link control once the interface lives in another namespace', () => {
    const dev = tunInNs(7);
    try {
      assert.throws(() => dev.setMtu(1300), { code: 'ERR_TUN_NOT_FOUND' });
    } finally {
      dev.close();
    }
  });

  it('attaches to an existing persistent TUN by name and leaves it in place on close', () => {
    const name = uniqueName('l3ka');
    ip('tuntap', 'add', 'name', name, 'mode', 'tun');
    try {
      const dev = TunDevice.open({ name, mtu: 1280 });
      assert.equal(dev.name, name);
      assert.equal(dev.readMtu(), 1280);
      dev.close();
      assert.match(ip('link', 'show', name), /mtu 1280/, 'a persistent device outlives the fd');
    } finally {
      ip('tuntap', 'del', 'name', name, 'mode', 'tun');
    }
  });

  it('closes cleanly: the interface disappears, close is idempotent, later use is counted or refused', () => {
    const dev = TunDevice.open({ name: uniqueName('l3kc'), up: true });
    const name = dev.name;
    assert.match(ip('link', 'show', name), new RegExp(name));
    dev.close();
    dev.close();
    assert.notEqual(spawnSync('ip', ['link', 'show', name]).status, 0, 'interface is gone');
    dev.send(buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 1, dstPort: 2 } }));
    assert.equal(dev.stats.txDropped.closed, 1);
    assert.throws(
      () => dev.setMtu(1400),
      (e: unknown) => e instanceof ClosedError && e.code === 'ERR_CLOSED',
    );
  });

  it('reports a throwing handler as an uncaught exception and keeps reading afterwards', () => {
    // In a child inside the test namespace: the kernel answers echo requests written into the
    // TUN; the first reply reaches a handler that throws.
    const script = `import { TunDevice } from ${JSON.stringify(indexUrl)};
import { buildPacket } from '@l3kit/wire';
import { execFileSync } from 'node:child_process';
const d = TunDevice.open({ name: ${JSON.stringify(uniqueName('l3kx'))} });
execFileSync('ip', ['addr', 'add', '10.202.0.1/24', 'dev', d.name]);
execFileSync('ip', ['link', 'set', d.name, 'up']);
const req = (seq) => buildPacket({ src: '10.202.0.2', dst: '10.202.0.1', icmp: { type: 8, code: 0, identifier: 9, sequence: seq } });
process.on('uncaughtException', (e) => {
  console.log('caught ' + e.message);
  d.setHandler((p) => { if (p[20] === 0) { console.log('recovered'); d.close(); } });
  d.send(req(2));
});
d.setHandler(() => { throw new Error('boom'); });
d.send(req(1));
setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000).unref();`;
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 15_000,
        cwd: fileURLToPath(new URL('.', import.meta.url)),
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /caught boom\nrecovered/);
  });

  it('lets the process exit while a device is open once it is unref()ed', () => {
    const script = `import { TunDevice } from ${JSON.stringify(indexUrl)};
const d = TunDevice.open({ name: ${JSON.stringify(uniqueName('l3ku'))}, up: true }); d.unref(); console.log('bye');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /bye/);
  });
});
