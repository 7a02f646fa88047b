import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { connected, listen, readAll, setup, sha256, sleep, until } from './helpers.js';

const BUFFER = 64 * 1024;
/**
 * What the device may hold per direction: the stack's buffer, the Duplex queue (64 KiB high-water
 * mark), the net socket queue (64 KiB), plus one chunk in flight.
 */
const BOUND = BUFFER + 3 * 64 * 1024;

test('a paused upstream stops the tenant: memory inside the device stays bounded and no byte is lost', async () => {
  let upstream: Socket | undefined;
  const received: Buffer[] = [];
  const server = createServer((s) => {
    upstream = s;
    s.pause();
    s.on('data', (d: Buffer) => received.push(d));
  });
  const port = await listen(server);
  const t = setup({ bufferBytes: BUFFER });
  try {
    const s = t.client.tcp.connect({ host: '127.0.0.1', port });
    await connected(s);
    await until(() => upstream !== undefined, 2000, 'the upstream connection');
    const data = randomBytes(24 * 1024 * 1024);
    let off = 0;
    let stalled = false;
    // Write until the tenant's own socket refuses more and stays stuck.
    while (off < data.length) {
      const ok = s.write(data.subarray(off, off + 65536));
      off += 65536;
      if (!ok) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => s.once('drain', () => r(true))),
          sleep(400).then(() => false),
        ]);
        if (!drained) {
          stalled = true;
          break;
        }
      }
    }
    assert.ok(stalled, 'the tenant was never stopped');
    assert.ok(off < data.length, 'everything fit: the test proves nothing');
    const snap = t.egress.connections()[0];
    assert.ok(snap.bufferedUp <= BOUND, `device holds ${snap.bufferedUp} bytes, bound ${BOUND}`);
    await sleep(300);
    const later = t.egress.connections()[0].bufferedUp;
    assert.ok(later <= BOUND, `the device kept taking data while the upstream was paused: ${later} bytes`);
    // Resume: the rest flows and every byte arrives in order.
    const all = new Promise<void>((r) => upstream?.on('end', () => r()));
    upstream?.resume();
    while (off < data.length) {
      if (!s.write(data.subarray(off, off + 65536)))
        await new Promise<void>((r) => s.once('drain', () => r()));
      off += 65536;
    }
    s.end();
    await all;
    assert.equal(sha256(Buffer.concat(received)), sha256(data));
  } finally {
    t.close();
    upstream?.destroy();
    server.close();
  }
});

test('a tenant that stops reading stops the upstream: memory inside the device stays bounded', async () => {
  let upWritable = true;
  const data = randomBytes(24 * 1024 * 1024);
  let written = 0;
  let upstream: Socket | undefined;
  const server = createServer((s) => {
    upstream = s;
    const pump = (): void => {
      while (written < data.length) {
        const ok = s.write(data.subarray(written, written + 65536));
        written += 65536;
        if (!ok) {
          upWritable = false;
          s.once('drain', () => {
            upWritable = true;
            pump();
          });
          return;
        }
      }
      s.end();
    };
    pump();
  });
  const port = await listen(server);
  const t = setup({ bufferBytes: BUFFER });
  try {
    const s = t.client.tcp.connect({ host: '127.0.0.1', port });
    s.pause();
    await connected(s);
    await sleep(600);
    assert.ok(!upWritable && written < data.length, 'the upstream was never stopped');
    const snap = t.egress.connections()[0];
    assert.ok(snap.bufferedDown <= BOUND, `device holds ${snap.bufferedDown} bytes, bound ${BOUND}`);
    assert.ok(upstream);
    const got = readAll(s);
    s.resume();
    assert.equal(sha256(await got), sha256(data));
  } finally {
    t.close();
    upstream?.destroy();
    server.close();
  }
});
