/**
 * Benchmarks of the userspace stack:
 * - `stack.tcp.throughput`: MB/s of one TCP connection between two in-process virtual hosts,
 *   through the NAT (`@l3kit/nat`) when it loads, else over a direct link (the result says which).
 * - `stack.tcp.connect`: connections per second (handshake, one request byte, close).
 */
import { connectL3, type L3Device, TimerScheduler } from '@l3kit/core';
import type { Benchmark } from '@l3kit/testkit';
import { VirtualHost } from '../src/index.js';

interface NatLike {
  inside(): L3Device;
  outside(): L3Device;
  close(): void;
}

async function loadNat(): Promise<(new (o: Record<string, unknown>) => NatLike) | undefined> {
  try {
    const spec = '@l3kit/nat';
    return (await import(spec)).Nat;
  } catch {
    return undefined;
  }
}

/** Client behind the NAT (or directly linked), server outside. */
async function topology(mtu: number) {
  const scheduler = new TimerScheduler();
  const client = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', mtu, scheduler });
  const server = new VirtualHost({ addr: '203.0.113.20/24', gateway: '203.0.113.1', mtu, scheduler });
  const Nat = await loadNat();
  let via = 'direct link';
  let nat: NatLike | undefined;
  if (Nat) {
    nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', maintainIntervalMs: 0 });
    connectL3(client, nat.inside());
    connectL3(nat.outside(), server);
    via = 'nat44';
  } else {
    connectL3(client, server);
  }
  const close = (): void => {
    client.close();
    server.close();
    nat?.close();
  };
  return { client, server, via, close };
}

async function throughput(mtu: number, totalBytes: number) {
  const t = await topology(mtu);
  let got = 0;
  const done = new Promise<void>((resolve) =>
    t.server.tcp.listen(5001, (s) => {
      s.on('data', (d: Buffer) => {
        got += d.length;
      });
      s.on('end', () => {
        s.end();
        resolve();
      });
    }),
  );
  const c = t.client.tcp.connect({ host: '203.0.113.20', port: 5001 });
  await new Promise<void>((r) => c.once('connect', () => r()));
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  while (sent < totalBytes) {
    if (!c.write(chunk)) await new Promise<void>((r) => c.once('drain', () => r()));
    sent += chunk.length;
  }
  c.end();
  await done;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  if (got !== sent) throw new Error(`throughput: received ${got} of ${sent} bytes`);
  const info = c.tcpInfo();
  t.close();
  return {
    mbPerSec: sent / 1048576 / (ms / 1000),
    mbPerCpuSec: sent / 1048576 / (cpuMs / 1000),
    via: t.via,
    retransmits: info.retransmits,
  };
}

export const benchmarks: Benchmark[] = [
  {
    name: 'stack.tcp.throughput',
    unit: 'MB/s',
    description:
      'One TCP connection, client behind the NAT to a server outside (direct link if @l3kit/nat is missing), MTU 9000, 256 MiB, wall clock',
    async run() {
      await throughput(9000, 16 << 20); // warm-up
      const r = await throughput(9000, 256 << 20);
      const r1500 = await throughput(1500, 64 << 20);
      return {
        value: Math.round(r.mbPerSec * 10) / 10,
        mbPerCpuSec: Math.round(r.mbPerCpuSec * 10) / 10,
        mtu: 9000,
        via: r.via,
        mtu1500MBps: Math.round(r1500.mbPerSec * 10) / 10,
        mtu1500MBpsPerCpu: Math.round(r1500.mbPerCpuSec * 10) / 10,
        retransmits: r.retransmits,
      };
    },
  },
  {
    name: 'stack.tcp.connect',
    unit: 'conn/s',
    description:
      'Connections per second: handshake, 1 byte each way, close (client behind the NAT if available)',
    async run() {
      const t = await topology(1500);
      t.server.tcp.listen(80, (s) => {
        s.once('data', () => s.end('y'));
        s.on('error', () => {});
      });
      const one = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const c = t.client.tcp.connect({ host: '203.0.113.20', port: 80 });
          c.on('error', reject);
          c.on('data', () => {});
          c.on('close', () => resolve());
          c.end('x');
        });
      for (let i = 0; i < 500; i++) await one(); // warm-up
      const n = 5000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await one();
      const ms = performance.now() - t0;
      t.close();
      return { value: Math.round((n / ms) * 1000), via: t.via, connections: n };
    },
  },
];
