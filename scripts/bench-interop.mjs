#!/usr/bin/env node
// End-to-end throughput benchmarks with real software (root only). Merges into
// bench/results.json (same format as scripts/bench.mjs, merged by name):
//   e2e.relay.iperf3      Mbit/s of iperf3 TCP through a do-nothing l3kit relay (TUN <-> TUN,
//                         connectL3 in this process), MTU 1500, no offloads
//   e2e.relay.iperf3.gso  the same relay with IFF_VNET_HDR + offloads (64 KiB super-packets)
//   e2e.kernel.iperf3     the kernel's nftables masquerade in a router namespace on the same
//                         addresses (veth, offloads off): the yardstick
//   e2e.nat44.iperf3      iperf3 TCP through l3kit's NAT44 (@l3kit/nat)
//   e2e.nat44.iperf3.gso  the NAT with IFF_VNET_HDR + offloads on both TUNs
//   e2e.wireguard.iperf3  iperf3 TCP from a wireguard-go client through l3kit's WireGuardServer
//                         and Nat (the topology of test/interop/wireguard.test.ts, one client)
//   e2e.wireguard-go.iperf3  the reference: the same addresses, wireguard-go on both ends (gateway
//                         namespace with kernel forwarding + nftables masquerade, veth links)
// All setups are built first and their runs interleaved; each figure is the median of its runs,
// with the 1-minute load average at each run recorded (the machine is shared).
// Usage: node scripts/bench-interop.mjs [prefix ...] [--seconds N] [--runs N]
//   prefix: measure only the setups whose name starts with one of them (e.g. e2e.wireguard).
//   --seconds: iperf3 duration of every run (default: 5 s for the WireGuard setups, 4 s else).
import { spawnSync } from 'node:child_process';
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
const secondsOpt = opt('--seconds', undefined);
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

/** One iperf3 TCP run client -> server; returns receiver Mbit/s and retransmits. */
async function iperfOnce(client, server, serverAddr, seconds) {
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
    return h.parseIperf(r.stdout);
  } finally {
    await srv.stop();
  }
}

let Nat;
try {
  ({ Nat } = await import('@l3kit/nat'));
} catch {
  /* not built */
}
let wgt;
let wgtError;
try {
  wgt = await import(pathToFileURL(join(root, 'test', 'dist', 'interop', 'wireguard-topology.js')).href);
} catch (e) {
  wgtError = e;
}

/**
 * The setups. Each `make()` builds its namespaces and returns { client, server, extra(),
 * dispose() }. All setups exist at once and the runs are interleaved (run 1 of each, then run 2
 * of each, ...), so a load change on this shared machine affects every figure alike.
 */
const setups = [];
function relaySetup(name, description, topoOpts) {
  setups.push({
    name,
    description,
    make() {
      const topo = h.makeTopology({ serverRouteBack: true, wire: h.relay, ...topoOpts });
      return {
        client: topo.client,
        server: topo.server,
        extra: () => ({
          mtu: 1500,
          rxPacketsPerBatch:
            Math.round((topo.clientTun.stats.rxPackets / Math.max(1, topo.clientTun.stats.rxBatches)) * 10) /
            10,
          rxGso: topo.clientTun.stats.rxGso,
          txGso: topo.serverTun.stats.txGso,
        }),
        dispose: () => topo.dispose(),
      };
    },
  });
}
function natSetup(name, description, topoOpts) {
  setups.push({
    name,
    description,
    make() {
      if (typeof Nat !== 'function') throw new Error('@l3kit/nat does not export Nat');
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
      return {
        client: topo.client,
        server: topo.server,
        extra: () => ({
          mtu: 1500,
          rxGso: topo.clientTun.stats.rxGso,
          txGso: topo.serverTun.stats.txGso,
          natDrops: Object.fromEntries(
            Object.entries(nat.stats.drops ?? {}).filter(([, v]) => typeof v === 'number' && v > 0),
          ),
        }),
        dispose: () => topo.dispose(),
      };
    },
  });
}

relaySetup(
  'e2e.relay.iperf3',
  'iperf3 TCP through a do-nothing l3kit relay: client ns -TUN- connectL3 -TUN- server ns, MTU 1500, no vnet header (median of interleaved runs)',
  {},
);
relaySetup(
  'e2e.relay.iperf3.gso',
  'iperf3 TCP through the same relay with IFF_VNET_HDR and offloads (TSO super-packets up to 64 KiB in l3kit)',
  { vnetHdr: true, offload: true },
);
setups.push({
  name: 'e2e.kernel.iperf3',
  description:
    'iperf3 TCP through the kernel: nftables masquerade in a router namespace, veth, offloads off (tso gso gro tx rx sg), MTU 1500 (median of interleaved runs)',
  async make() {
    const missing = ['nft', 'ethtool'].filter((t) => !h.hasTool(t));
    if (missing.length) throw new Error(`missing ${missing.join(', ')} (apt-get install nftables ethtool)`);
    const id = h.freshId();
    const client = new h.Netns(`${id}c`);
    const router = new h.Netns(`${id}r`);
    const server = new h.Netns(`${id}s`);
    const dispose = () => Promise.all([client.dispose(), router.dispose(), server.dispose()]);
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
          { check: true },
        );
      }
      client.ip('route', 'add', 'default', 'via', h.PLAN.natInside.split('/')[0]);
      router.sysctl('net.ipv4.ip_forward', '1');
      const rules = `table ip l3kbench {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${rs}" masquerade\n }\n}\n`;
      await router.run(['sh', '-c', `printf '${rules}' | nft -f -`], { check: true });
      return { client, server, extra: () => ({ mtu: 1500 }), dispose };
    } catch (e) {
      await dispose();
      throw e;
    }
  },
});
natSetup(
  'e2e.nat44.iperf3',
  "iperf3 TCP through l3kit's NAT44 (masquerade 192.168.1.0/24 -> 203.0.113.1) between two TUNs, MTU 1500, no offloads (median of interleaved runs)",
  {},
);
natSetup(
  'e2e.nat44.iperf3.gso',
  "iperf3 TCP through l3kit's NAT44 with IFF_VNET_HDR + offloads on both TUNs (the NAT translates 64 KiB super-packets)",
  { vnetHdr: true, offload: true },
);

/** Pings 203.0.113.2 through a fresh tunnel until it answers: the handshake is done before timing. */
async function warmUp(ns) {
  for (let i = 0; ; i++) {
    const r = await ns.run(['ping', '-c', '1', '-W', '3', h.PLAN.server], { timeoutMs: 10_000 });
    if (r.code === 0) return;
    if (i === 4) throw new Error(`no ping through the tunnel: ${r.stdout} ${r.stderr}`);
  }
}
function requireWireGuard(extraTools = []) {
  if (!wgt) throw new Error(`test/dist/interop/wireguard-topology.js: ${wgtError?.message ?? 'missing'}`);
  const missing = [...wgt.WG_TOOLS, 'ping', ...extraTools].filter((t) => !h.hasTool(t));
  if (missing.length)
    throw new Error(`missing ${missing.join(', ')} (apt-get install wireguard-go wireguard-tools)`);
}
/** Packets `dev` in `ns` dropped on transmit (a full TUN / veth queue). */
function txDropped(ns, dev) {
  return JSON.parse(ns.ip('-s', '-j', 'link', 'show', 'dev', dev))[0]?.stats64?.tx?.dropped;
}
/** UDP datagrams `ns` dropped because a socket's receive buffer was full (/proc/net/snmp). */
function udpRcvbufErrors(ns) {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'cat', '/proc/net/snmp'], { encoding: 'utf8' });
  const [head, vals] = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('Udp: '));
  const i = head?.split(' ').indexOf('RcvbufErrors') ?? -1;
  return i > 0 ? Number(vals.split(' ')[i]) : undefined;
}
/** wireguard-go's version string (e.g. v0.0.20220316). */
function wireguardGoVersion() {
  const r = spawnSync('wireguard-go', ['--version'], { encoding: 'utf8' });
  return /v[\d.]+/.exec(r.stdout ?? '')?.[0];
}
/** The MTU of `dev` in `ns` (the tunnel's: wireguard-go's default 1420). */
function mtuOf(ns, dev) {
  return Number(/ mtu (\d+)/.exec(ns.ip('link', 'show', dev))?.[1]);
}
setups.push({
  name: 'e2e.wireguard.iperf3',
  seconds: 5,
  description:
    "iperf3 TCP from a wireguard-go client (10.0.0.2, its own namespace) through l3kit's WireGuardServer and Nat (masquerade to 203.0.113.1) to a server namespace; WireGuard UDP over a TUN into an l3kit VirtualHost, server side TUN MTU 1500, no offloads (the topology of test/interop/wireguard.test.ts with one client; median of interleaved runs)",
  async make() {
    requireWireGuard();
    const topo = await wgt.makeWireGuardTopology({ clients: 1 });
    try {
      const c = topo.clients[0];
      await warmUp(c.ns);
      const peer = topo.wg.peer(c.pub);
      return {
        client: c.ns,
        server: topo.server,
        extra: () => {
          const st = peer?.stats ?? {};
          const nonzero = (o) =>
            Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => typeof v === 'number' && v > 0));
          return {
            mtu: 1500,
            tunnelMtu: mtuOf(c.ns, c.wgIf),
            wireguardGo: wireguardGoVersion(),
            // WireGuard UDP lost on the way into l3kit (the client's underlay TUN queue)
            underlayTxDropped: txDropped(c.ns, c.tun.name),
            handshakes: st.handshakesCompleted,
            peerRxPackets: st.rxPackets,
            peerTxPackets: st.txPackets,
            peerDrops: nonzero({
              badSource: st.badSource,
              malformed: st.malformed,
              replay: st.replay,
              decryptFailed: st.decryptFailed,
              expired: st.expired,
              queueDropped: st.queueDropped,
              tooBig: st.tooBig,
            }),
            natDrops: nonzero(topo.nat.stats.drops),
          };
        },
        dispose: () => topo.dispose(),
      };
    } catch (e) {
      await topo.dispose();
      throw e;
    }
  },
});
setups.push({
  name: 'e2e.wireguard-go.iperf3',
  seconds: 5,
  description:
    'the reference for e2e.wireguard.iperf3: the same addresses with wireguard-go on both ends; the gateway is a namespace with wireguard-go (172.31.0.1:51820, 10.0.0.1), kernel forwarding and nftables masquerade to 203.0.113.1; veth links MTU 1500, offloads off (median of interleaved runs)',
  async make() {
    requireWireGuard(wgt?.WG_GO_REFERENCE_TOOLS ?? []);
    const topo = await wgt.makeWireGuardGoTopology();
    try {
      await warmUp(topo.client.ns);
      return {
        client: topo.client.ns,
        server: topo.server,
        extra: () => ({
          mtu: 1500,
          tunnelMtu: mtuOf(topo.client.ns, topo.client.wgIf),
          wireguardGo: wireguardGoVersion(),
          // WireGuard UDP lost on the way into the gateway's wireguard-go (full socket buffer)
          gatewayUdpRcvbufErrors: udpRcvbufErrors(topo.gateway),
        }),
        dispose: () => topo.dispose(),
      };
    } catch (e) {
      await topo.dispose();
      throw e;
    }
  },
});

const live = [];
for (const s of setups.filter((x) => wanted(x.name))) {
  try {
    const seconds = secondsOpt ?? s.seconds ?? 4;
    live.push({ ...s, seconds, env: await s.make(), figures: [], retransmits: 0, load: [] });
  } catch (e) {
    console.error(`${s.name}: skipped: ${e.message}`);
  }
}
for (let i = 0; i < runs; i++) {
  for (const s of live) {
    const load = os.loadavg()[0];
    const r = await iperfOnce(s.env.client, s.env.server, h.PLAN.server, s.seconds);
    s.figures.push(Math.round(r.mbps * 10) / 10);
    s.retransmits += r.retransmits ?? 0;
    s.load.push(Math.round(load * 10) / 10);
  }
}
const results = [];
for (const s of live) {
  const value = median(s.figures);
  results.push({
    name: s.name,
    unit: 'Mbit/s',
    value,
    runs: s.figures,
    seconds: s.seconds,
    retransmits: s.retransmits,
    loadavg1: s.load,
    ...s.env.extra(),
    description: s.description,
  });
  console.log(
    `${s.name.padEnd(26)} ${String(value).padStart(10)} Mbit/s  runs=${JSON.stringify(s.figures)} retransmits=${s.retransmits} load=${JSON.stringify(s.load)}`,
  );
  await s.env.dispose();
}

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
