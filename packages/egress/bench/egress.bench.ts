/**
 * Benchmarks of the egress device (in process, loopback upstream):
 * - `egress.direct.throughput`: MB/s of one tenant TCP connection leaving directly (net.connect)
 *   to a sink on 127.0.0.1, upload then download;
 * - `egress.socks5.throughput`: the same through an in-process SOCKS5 server on 127.0.0.1.
 */
import { createServer, type Server } from 'node:net';
import { VirtualHost } from '@l3kit/stack';
import type { Benchmark } from '@l3kit/testkit';
import { EgressDevice, type EgressDeviceOptions } from '../src/index.js';
import { listen, socksServer } from '../test/helpers.js';

/** A sink that counts what it receives and, on a "send N" request, sends N bytes. */
async function sink(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    let first = true;
    s.on('data', (d: Buffer) => {
      if (first && d.subarray(0, 5).toString() === 'send ') {
        first = false;
        let left = Number(d.subarray(5).toString());
        const chunk = Buffer.alloc(256 * 1024, 0x5a);
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              s.once('drain', pump);
              return;
            }
          }
          s.end();
        };
        pump();
      }
      first = false;
    });
    s.on('end', () => {
      if (s.writable && s.writableLength === 0 && !s.writableEnded) s.end();
    });
  });
  return { server, port: await listen(server) };
}

async function run(opts: EgressDeviceOptions, port: number, bytes: number) {
  const egress = new EgressDevice({ allowLoopback: true, mtu: 1500, bufferBytes: 1 << 20, ...opts });
  const client = new VirtualHost({
    addr: '10.0.0.2/24',
    gateway: '10.0.0.1',
    tcp: { rcvBuf: 1 << 20, sndBuf: 1 << 20 },
  });
  const detach = egress.connectL3(client);
  try {
    // Upload.
    const up = client.tcp.connect({ host: '127.0.0.1', port });
    await new Promise<void>((r, j) => {
      up.once('connect', () => r());
      up.once('error', j);
    });
    const chunk = Buffer.alloc(256 * 1024, 0xa5);
    const cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let sent = 0;
    while (sent < bytes) {
      if (!up.write(chunk)) await new Promise<void>((r) => up.once('drain', () => r()));
      sent += chunk.length;
    }
    up.end();
    await new Promise<void>((r) => up.once('close', () => r()).resume());
    const upMs = performance.now() - t0;
    // Download.
    const down = client.tcp.connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => down.once('connect', () => r()));
    t0 = performance.now();
    let got = 0;
    down.on('data', (d: Buffer) => {
      got += d.length;
    });
    down.write(`send ${bytes}`);
    await new Promise<void>((r) => down.once('end', () => r()));
    const downMs = performance.now() - t0;
    down.end();
    const cpu = process.cpuUsage(cpu0);
    if (got !== bytes) throw new Error(`download: got ${got} of ${bytes} bytes`);
    const mb = bytes / 1048576;
    return {
      upload: mb / (upMs / 1000),
      download: mb / (downMs / 1000),
      mbPerCpuSec: (2 * mb) / ((cpu.user + cpu.system) / 1e6),
    };
  } finally {
    detach();
    client.close();
    egress.close();
  }
}

const r1 = (v: number): number => Math.round(v * 10) / 10;

async function measure(withSocks: boolean) {
  const s = await sink();
  const proxy = withSocks ? await socksServer() : undefined;
  const opts: EgressDeviceOptions = proxy
    ? { proxies: { socks: { type: 'socks5', host: '127.0.0.1', port: proxy.port } }, defaultAction: 'socks' }
    : {};
  try {
    await run(opts, s.port, 16 << 20); // warm-up
    const r = await run(opts, s.port, 128 << 20);
    return {
      value: r1((r.upload + r.download) / 2),
      uploadMBps: r1(r.upload),
      downloadMBps: r1(r.download),
      mbPerCpuSec: r1(r.mbPerCpuSec),
      mtu: 1500,
      bytes: 128 << 20,
    };
  } finally {
    await proxy?.close();
    s.server.close();
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'egress.direct.throughput',
    unit: 'MB/s',
    description:
      'One tenant TCP connection through the egress device, direct (net.connect) to a loopback sink, MTU 1500, 128 MiB up then 128 MiB down; value = mean of both',
    run: () => measure(false),
  },
  {
    name: 'egress.socks5.throughput',
    unit: 'MB/s',
    description:
      'As egress.direct.throughput, through an in-process SOCKS5 server on 127.0.0.1 (the tests’ minimal server)',
    run: () => measure(true),
  },
];
