import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectL3, ImpairmentLink, type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { VirtualHost } from '../src/index.js';
import { bytes, pump, sha256 } from './helpers.js';

const SIZE = 10 * 1024 * 1024;

/** Server on `server` port 80 sends SIZE bytes; the client downloads them. Returns the client hash. */
async function download(
  sched: ManualScheduler,
  client: VirtualHost,
  server: VirtualHost,
  serverAddr: string,
) {
  const data = bytes(SIZE, 42);
  server.tcp.listen(80, (s) => {
    s.on('data', () => {});
    s.on('error', () => {});
    // Write in 64 KiB pieces, respecting back-pressure.
    let off = 0;
    const more = (): void => {
      while (off < data.length) {
        const piece = data.subarray(off, off + 65536);
        off += piece.length;
        if (!s.write(piece)) {
          s.once('drain', more);
          return;
        }
      }
      s.end();
    };
    more();
  });
  const c = client.tcp.connect({ host: serverAddr, port: 80 });
  const chunks: Buffer[] = [];
  let ended = false;
  c.on('data', (d: Buffer) => chunks.push(d));
  c.on('end', () => {
    ended = true;
  });
  c.write('GET');
  await pump(sched, () => ended, 3_600_000, 20);
  return { hash: sha256(chunks), expected: sha256(data), info: c.tcpInfo() };
}

function checked(dev: L3Device): L3Device {
  // Verify every packet leaving `dev` with the independent checksum oracle.
  return {
    setHandler: (h) =>
      dev.setHandler((p) => {
        assertChecksums(p);
        h(p);
      }),
    send: (p) => dev.send(p),
    addr: () => dev.addr(),
    setAddr: (p) => dev.setAddr(p),
    close: () => dev.close(),
  };
}

describe('bulk transfer over an impaired path', () => {
  it('moves 10 MB intact through 5 % loss and reordering on a direct link', async () => {
    const sched = new ManualScheduler(new ManualClock(0));
    const a = new VirtualHost({ addr: '10.1.0.1/24', scheduler: sched });
    const b = new VirtualHost({ addr: '10.1.0.2/24', scheduler: sched });
    const link = new ImpairmentLink({
      seed: 2024,
      loss: 0.05,
      reorder: 0.03,
      delayMs: 2,
      jitterMs: 1,
      scheduler: sched,
    });
    link.connect(checked(a), checked(b));
    const r = await download(sched, a, b, '10.1.0.2');
    assert.equal(r.hash, r.expected);
    assert.ok(link.stats.ba.lost > 100, `lost ${link.stats.ba.lost}`);
    assert.ok(link.stats.ba.reordered > 50);
    assert.ok(r.info.outOfOrder > 0);
  });

  it('moves 10 MB intact from behind the NAT through 5 % loss and reordering', async (t) => {
    let NatCtor:
      | (new (
          o: Record<string, unknown>,
        ) => { inside(): L3Device; outside(): L3Device })
      | undefined;
    try {
      const spec = '@l3kit/nat';
      NatCtor = (await import(spec)).Nat;
    } catch (e) {
      t.skip(`@l3kit/nat is not available: ${(e as Error).message}`);
      return;
    }
    if (!NatCtor) {
      t.skip('@l3kit/nat exports no Nat');
      return;
    }
    const sched = new ManualScheduler(new ManualClock(0));
    const nat = new NatCtor({
      inside: '192.168.1.1/24',
      outside: '203.0.113.1/24',
      clock: sched.clock,
      maintainIntervalMs: 0,
    });
    const client = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', scheduler: sched });
    const server = new VirtualHost({ addr: '203.0.113.20/24', gateway: '203.0.113.1', scheduler: sched });
    connectL3(checked(client), nat.inside());
    const link = new ImpairmentLink({
      seed: 99,
      loss: 0.05,
      reorder: 0.03,
      delayMs: 2,
      jitterMs: 1,
      scheduler: sched,
    });
    link.connect(checked(nat.outside()), checked(server));
    let seenFrom = '';
    server.tcp.listen(81, (s) => {
      seenFrom = s.remoteAddress;
      s.end();
    });
    const probe = client.tcp.connect({ host: '203.0.113.20', port: 81 });
    probe.resume();
    await pump(sched, () => seenFrom !== '', 60_000, 5);
    assert.equal(seenFrom, '203.0.113.1', 'the server sees the NAT outside address');
    const r = await download(sched, client, server, '203.0.113.20');
    assert.equal(r.hash, r.expected);
    assert.ok(link.stats.ab.lost + link.stats.ba.lost > 100);
  });
});
