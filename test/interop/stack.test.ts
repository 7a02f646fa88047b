/**
 * Real software against l3kit's userspace TCP (`@l3kit/stack`) over TUN: the kernel's curl
 * downloads 50 MiB from a VirtualHost running Node's http server, and a VirtualHost downloads
 * 50 MiB from `python3 -m http.server` in a namespace — byte-identical, also with 1 % loss
 * injected by the ImpairmentLink. (Proposed for test/interop/stack.test.ts by the stack owner.)
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { describe } from 'node:test';
import { connectL3, ImpairmentLink, type L3Device } from '@l3kit/core';
import { VirtualHost } from '@l3kit/stack';
import { interopTest, makeTopology, PLAN, python3, tempDir } from './harness.js';

const SIZE = 50 << 20;

function link(a: L3Device, b: L3Device, loss: number, seed: number): void {
  if (loss > 0) new ImpairmentLink({ seed, loss }).connect(a, b);
  else connectL3(a, b);
}

describe('stack: kernel TCP <-> l3kit VirtualHost over TUN', () => {
  for (const loss of [0, 0.01]) {
    interopTest(
      `curl downloads 50 MiB from a VirtualHost's http server (loss ${loss * 100} %)`,
      ['curl', 'sha256sum'],
      async () => {
        const body = randomBytes(SIZE);
        let host: VirtualHost | undefined;
        const topo = makeTopology({
          serverRouteBack: true,
          wire: (clientTun) => {
            host = new VirtualHost({ addr: '203.0.113.20/24', gateway: '203.0.113.1' });
            link(clientTun, host, loss, 1);
            return () => host?.close();
          },
        });
        try {
          const server = http.createServer((_req, res) => {
            res.writeHead(200, { 'content-length': body.length });
            res.end(body);
          });
          host?.tcp.listen(80, (s) => server.emit('connection', s));
          const r = await topo.client.run(
            ['sh', '-c', 'curl -sS --fail --max-time 120 http://203.0.113.20/blob | sha256sum'],
            { timeoutMs: 130_000 },
          );
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(body).digest('hex'));
        } finally {
          await topo.dispose();
        }
      },
      { timeout: 180_000 },
    );

    interopTest(
      `a VirtualHost downloads 50 MiB from python3 -m http.server (loss ${loss * 100} %)`,
      ['python3'],
      async () => {
        const body = randomBytes(SIZE);
        const dir = tempDir();
        writeFileSync(join(dir, 'blob.bin'), body);
        let host: VirtualHost | undefined;
        const topo = makeTopology({
          serverRouteBack: true,
          wire: (_clientTun, serverTun) => {
            host = new VirtualHost({ addr: '192.168.1.50/24', gateway: '192.168.1.1' });
            link(serverTun, host, loss, 2);
            return () => host?.close();
          },
        });
        const srv = topo.server.spawn([python3(), '-m', 'http.server', '--bind', PLAN.server, '8080'], {
          cwd: dir,
        });
        try {
          await topo.server.waitForPort(8080, 'tcp', 10_000, srv);
          const h = host as VirtualHost;
          const hash = await new Promise<string>((resolve, reject) => {
            http
              .get(
                {
                  host: PLAN.server,
                  port: 8080,
                  path: '/blob.bin',
                  createConnection: () => h.tcp.connect({ host: PLAN.server, port: 8080 }) as never,
                },
                (res) => {
                  const sha = createHash('sha256');
                  res.on('data', (d: Buffer) => sha.update(d));
                  res.on('end', () => resolve(sha.digest('hex')));
                },
              )
              .on('error', reject);
          });
          assert.equal(hash, createHash('sha256').update(body).digest('hex'));
        } finally {
          await srv.stop();
          await topo.dispose();
        }
      },
      { timeout: 180_000 },
    );
  }
});
