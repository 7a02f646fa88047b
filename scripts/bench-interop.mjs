#!/usr/bin/env node
// End-to-end throughput benchmarks with real software (root only). Merges into
// bench/results.json (same format as scripts/bench.mjs, merged by name):
//   e2e.relay.iperf3      Mbit/s of iperf3 TCP through a do-nothing l3kit relay (TUN <-> TUN,
//                         connectL3 in this process), MTU 1500, no offloads
//   e2e.relay.iperf3.gso  the same relay with IFF_VNET_HDR + offloads (64 KiB super-packets)
//   e2e.kernel.iperf3     the kernel's nftables masquerade in a router namespace on the same
//                         addresses (veth, offloads off): the yardstick
//   e2e.nat44.iperf3      iperf3 TCP through l3kit's NAT44 (@l3kit/nat), when it is available
// Usage: node scripts/bench-interop.mjs [prefix ...] [--seconds N] [--runs N]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = opt('--seconds', 4);
const runs = opt('--runs', 3);
const prefixes = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const wanted = (name) => prefixes.length === 0 || prefixes.some((p) => name.startsWith(p));

if (process.getuid?.() !== 0) {
  console.error('bench-interop: needs root (network namespaces, TUN devices)');
  process.exit(1);
}
const harnessFile = join(root, 'test', 'dist', 'interop', 'harness.js');
if (!existsSync(harnessFile)) {
  console.error('bench-interop: test/dist/interop/harness.js is missing; run `npm run build` first');
  process.exit(1);
}
const h = await import(pathToFileURL(harnessFile).href);
const reason = h.skipReason(['iperf3']);
if (reason) {
  console.error(`bench-interop: cannot run: ${reason}`);
  process.exit(1);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** iperf3 TCP client -> server, `runs` times; returns the median receiver Mbit/s and all runs. */
async function iperfRuns(client, server, serverAddr) {
  const figures = [];
  let retransmits = 0;
  for (let i = 0; i < runs; i++) {
    const srv = server.spawn(['iperf3', '-s', '-1', '-B', serverAddr, '-p', '5201']);
    try {
      await server.waitForPort(5201, 'tcp', 10_000, srv);
      const r = await client.run(
        ['iperf3', '-c', serverAddr, '-p', '5201', '-t', String(seconds), '-O', '1', '-J'],
        {
          timeoutMs: (seconds + 30) * 1000,
        },
      );
      if (r.code !== 0) throw new Error(`iperf3 failed: ${r.stdout.slice(0, 1000)} ${r.stderr}`);
      const res = h.parseIperf(r.stdout);
      figures.push(Math.round(res.mbps * 10) / 10);
      retransmits += res.retransmits ?? 0;
    } finally {
      await srv.stop();
    }
  }
  return { value: median(figures), runs: figures, retransmits };
}

const results = [];
function record(name, description, r, extra = {}) {
  const result = {
    name,
    unit: 'Mbit/s',
    value: r.value,
    runs: r.runs,
    seconds,
    retransmits: r.retransmits,
    ...extra,
    description,
  };
  results.push(result);
  console.log(
    `${name.padEnd(24)} ${String(r.value).padStart(10)} Mbit/s  runs=${JSON.stringify(r.runs)} retransmits=${r.retransmits}`,
  );
}

async function relayBench(name, description, topoOpts) {
  if (!wanted(name)) return;
  const topo = h.makeTopology({ serverRouteBack: true, wire: h.relay, ...topoOpts });
  try {
    const r = await iperfRuns(topo.client, topo.server, h.PLAN.server);
    const st = topo.clientTun.stats;
    record(name, description, r, {
      mtu: 1500,
      rxPacketsPerBatch: Math.round((st.rxPackets / Math.max(1, st.rxBatches)) * 10) / 10,
      rxGso: st.rxGso,
      txGso: topo.serverTun.stats.txGso,
    });
  } finally {
    await topo.dispose();
  }
}

await relayBench(
  'e2e.relay.iperf3',
  'iperf3 TCP through a do-nothing l3kit relay: client ns -TUN- connectL3 -TUN- server ns, MTU 1500, no vnet header (median of runs)',
  {},
);
await relayBench(
  'e2e.relay.iperf3.gso',
  'iperf3 TCP through the same relay with IFF_VNET_HDR and offloads (TSO super-packets up to 64 KiB in l3kit)',
  { vnetHdr: true, offload: true },
);

if (wanted('e2e.kernel.iperf3')) {
  const missing = ['nft', 'ethtool'].filter((t) => !h.hasTool(t));
  if (missing.length) {
    console.error(
      `e2e.kernel.iperf3: skipped, missing ${missing.join(', ')} (apt-get install nftables ethtool)`,
    );
  } else {
    const id = h.freshId();
    const client = new h.Netns(`${id}c`);
    const router = new h.Netns(`${id}r`);
    const server = new h.Netns(`${id}s`);
    try {
      const [c, rc, rs, s] = ['c', 'x', 'y', 's'].map((r) => h.ifName(id, r));
      h.ip('link', 'add', c, 'netns', client.name, 'type', 'veth', 'peer', 'name', rc, 'netns', router.name);
      h.ip('link', 'add', rs, 'netns', router.name, 'type', 'veth', 'peer', 'name', s, 'netns', server.name);
      const cfg = [
        [client, c, `${h.PLAN.client}/24`],
        [router, rc, h.PLAN.natInside],
        [router, rs, h.PLAN.natOutside],
        [server, s, `${h.PLAN.server}/24`],
      ];
      for (const [ns, dev, addr] of cfg) {
        ns.ip('addr', 'add', addr, 'dev', dev);
        ns.ip('link', 'set', dev, 'mtu', '1500', 'up');
        // Offloads off: every packet is a real 1500-byte packet, as on a plain TUN.
        await ns.run(
          [
            'ethtool',
            '-K',
            dev,
            'tso',
            'off',
            'gso',
            'off',
            'gro',
            'off',
            'tx',
            'off',
            'rx',
            'off',
            'sg',
            'off',
          ],
          {
            check: true,
          },
        );
      }
      client.ip('route', 'add', 'default', 'via', h.PLAN.natInside.split('/')[0]);
      await router.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1'], { check: true });
      const rules = `table ip l3kbench {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${rs}" masquerade\n }\n}\n`;
      await router.run(['sh', '-c', `printf '%s' '${rules}' | nft -f -`], { check: true });
      const r = await iperfRuns(client, server, h.PLAN.server);
      record(
        'e2e.kernel.iperf3',
        'iperf3 TCP through the kernel: nftables masquerade in a router namespace, veth, offloads off (tso gso gro tx rx sg), MTU 1500 (median of runs)',
        r,
        { mtu: 1500 },
      );
    } finally {
      await Promise.all([client.dispose(), router.dispose(), server.dispose()]);
    }
  }
}

let Nat;
try {
  ({ Nat } = await import('@l3kit/nat'));
} catch {
  /* not built */
}

async function natBench(name, description, topoOpts) {
  if (!wanted(name)) return;
  if (typeof Nat !== 'function') {
    console.error(`${name}: skipped, @l3kit/nat does not export Nat`);
    return;
  }
  let nat;
  const topo = h.makeTopology({
    serverRouteBack: false,
    ...topoOpts,
    wire: (clientTun, serverTun) => {
      nat = new Nat({ inside: h.PLAN.natInside, outside: h.PLAN.natOutside });
      h.relay(nat.inside(), clientTun);
      h.relay(nat.outside(), serverTun);
      return () => nat.close();
    },
  });
  try {
    const r = await iperfRuns(topo.client, topo.server, h.PLAN.server);
    record(name, description, r, {
      mtu: 1500,
      rxGso: topo.clientTun.stats.rxGso,
      txGso: topo.serverTun.stats.txGso,
      natDrops: Object.fromEntries(
        Object.entries(nat.stats.drops ?? {}).filter(([, v]) => typeof v === 'number' && v > 0),
      ),
    });
  } finally {
    await topo.dispose();
  }
}

await natBench(
  'e2e.nat44.iperf3',
  "iperf3 TCP through l3kit's NAT44 (masquerade 192.168.1.0/24 -> 203.0.113.1) between two TUNs, MTU 1500, no offloads (median of runs)",
  {},
);
await natBench(
  'e2e.nat44.iperf3.gso',
  "iperf3 TCP through l3kit's NAT44 with IFF_VNET_HDR + offloads on both TUNs (the NAT translates 64 KiB super-packets)",
  { vnetHdr: true, offload: true },
);

if (results.length === 0) {
  console.error('bench-interop: nothing measured');
  process.exit(1);
}
const outFile = join(root, 'bench', 'results.json');
mkdirSync(join(root, 'bench'), { recursive: true });
let doc = { machine: {}, results: [] };
if (existsSync(outFile)) {
  try {
    doc = JSON.parse(readFileSync(outFile, 'utf8'));
  } catch {
    /* start afresh */
  }
}
doc.machine = {
  ...doc.machine,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  date: new Date().toISOString(),
};
for (const r of results) {
  doc.results = doc.results.filter((x) => x.name !== r.name);
  doc.results.push(r);
}
doc.results.sort((a, b) => a.name.localeCompare(b.name));
writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
console.log(`wrote ${relative(root, outFile)} (${doc.results.length} results)`);
process.exit(0);
