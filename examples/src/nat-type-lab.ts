/**
 * A NAT-type lab: test an application's NAT traversal against every RFC 4787 behaviour.
 *
 * The application here is a STUN-like UDP hole punch: two peers, each behind its own NAT, register
 * with a rendezvous server, which tells each the other's public (mapped) address; then both send
 * to each other at once, and a peer answers whatever reaches it. The lab runs it for every pair of
 * NAT types (mapping x filtering presets) and prints which pairs connect — the table every
 * peer-to-peer developer wants before shipping. Replace `holePunch` with your own protocol.
 *
 * Run it: node examples/dist/nat-type-lab.js        (exits 1 if a result contradicts RFC 4787)
 *
 * ```text
 *  peer-a 192.168.1.10 ─ NAT A 203.0.113.1 ─┐
 *                                           ├── internet router ── rendezvous 198.51.100.10:3478
 *  peer-b 192.168.1.10 ─ NAT B 198.18.0.1 ──┘
 * ```
 */
import { fileURLToPath } from 'node:url';
import { L3Hub, ManualClock, VirtualHost } from '@l3kit/core';
import { NAT_TYPE_PRESETS, Nat, type NatType } from '@l3kit/nat';

/** The NAT types the lab tries, in table order. */
export const LAB_TYPES: readonly NatType[] = [
  'full-cone',
  'restricted-cone',
  'port-restricted-cone',
  'symmetric',
];

/** One cell of the lab's table. */
export interface LabResult {
  a: NatType;
  b: NatType;
  /** Whether the peers exchanged datagrams directly. */
  connected: boolean;
  /** What the rendezvous server saw for each peer, and what a second server port saw (mapping test). */
  mappedA: string;
  mappedB: string;
  /** Whether NAT A kept the same mapping towards a second destination (endpoint-independent mapping). */
  aIndependentMapping: boolean;
}

type UdpSock = ReturnType<VirtualHost['udp']['bind']>;
type Msg = { text: string; address: string; port: number };

function inbox(sock: UdpSock): Msg[] {
  const got: Msg[] = [];
  sock.on('message', (d, from) =>
    got.push({ text: new TextDecoder().decode(d), address: from.address, port: from.port }),
  );
  return got;
}

/** Runs the hole punch between peers behind NATs of types `a` and `b`. Deterministic. */
export function holePunch(a: NatType, b: NatType): LabResult {
  const clock = new ManualClock(0);
  const internet = new L3Hub({ addr4: '100.64.0.1', clock });
  const natA = new Nat({
    inside: '192.168.1.1/24',
    outside: '203.0.113.1/24',
    type: a,
    clock,
    maintainIntervalMs: 0,
  });
  const natB = new Nat({
    inside: '192.168.1.1/24',
    outside: '198.18.0.1/24',
    type: b,
    clock,
    maintainIntervalMs: 0,
  });
  const server = new VirtualHost({ name: 'rendezvous', addr: '198.51.100.10/24', clock });
  const peerA = new VirtualHost({ name: 'peer-a', addr: '192.168.1.10/24', clock });
  const peerB = new VirtualHost({ name: 'peer-b', addr: '192.168.1.10/24', clock });
  try {
    internet.connectL3(natA.outside());
    internet.connectL3(natB.outside());
    internet.connectL3(server);
    natA.connectL3(peerA);
    natB.connectL3(peerB);

    // The rendezvous server: remembers who registered from where, introduces the two.
    const rv = server.udp.bind(3478);
    const alt = server.udp.bind(3479);
    const seen = new Map<string, { address: string; port: number }>();
    rv.on('message', (d, from) => {
      seen.set(new TextDecoder().decode(d), { address: from.address, port: from.port });
      if (seen.size === 2) {
        const ea = seen.get('a') as { address: string; port: number };
        const eb = seen.get('b') as { address: string; port: number };
        rv.send(`peer ${eb.address} ${eb.port}`, ea.port, ea.address);
        rv.send(`peer ${ea.address} ${ea.port}`, eb.port, eb.address);
      }
    });
    const altSeen: Msg[] = inbox(alt);

    const sa = peerA.udp.bind(5000);
    const sb = peerB.udp.bind(5000);
    const ga = inbox(sa);
    const gb = inbox(sb);
    sa.send('a', 3479, '198.51.100.10'); // the mapping test: another server port first
    sa.send('a', 3478, '198.51.100.10');
    sb.send('b', 3478, '198.51.100.10');
    const intro = (got: Msg[]) => {
      const m = /^peer (\S+) (\d+)$/.exec(got.find((x) => x.text.startsWith('peer '))?.text ?? '');
      if (!m) throw new Error('the rendezvous server did not introduce the peers');
      return { address: m[1], port: Number(m[2]) };
    };
    const toB = intro(ga);
    const toA = intro(gb);

    // The punch: both send at once; whoever hears the other answers to the packet's source.
    for (const sock of [sa, sb])
      sock.on('message', (d, from) => {
        if (new TextDecoder().decode(d) === 'punch') sock.send('ack', from.port, from.address);
      });
    for (let round = 0; round < 3; round++) {
      sa.send('punch', toB.port, toB.address);
      sb.send('punch', toA.port, toA.address);
      clock.advance(100);
    }
    const connected =
      ga.some((m) => m.text === 'ack' || m.text === 'punch') &&
      gb.some((m) => m.text === 'ack' || m.text === 'punch');
    return {
      a,
      b,
      connected,
      mappedA: `${toA.address}:${toA.port}`,
      mappedB: `${toB.address}:${toB.port}`,
      aIndependentMapping: altSeen.length === 1 && altSeen[0].port === toA.port,
    };
  } finally {
    for (const h of [peerA, peerB, server]) h.close();
    natA.close();
    natB.close();
    internet.close();
  }
}

/**
 * What RFC 4787 predicts for this application: it connects unless one side maps per destination
 * (symmetric) and the other filters by port (port-restricted or symmetric), because the
 * symmetric side's punch then comes from a port the other side never sent to.
 */
export function expectedToConnect(a: NatType, b: NatType): boolean {
  const dependentMapping = (t: NatType) => NAT_TYPE_PRESETS[t].mapping !== 'endpoint-independent';
  const portFiltering = (t: NatType) => NAT_TYPE_PRESETS[t].filtering === 'address-and-port-dependent';
  return !((dependentMapping(a) && portFiltering(b)) || (dependentMapping(b) && portFiltering(a)));
}

/** Runs every pair; returns the table and whether every cell matched the prediction. */
export function runNatTypeLab(log: (line: string) => void = () => {}): {
  results: LabResult[];
  allAsExpected: boolean;
} {
  const results: LabResult[] = [];
  let allAsExpected = true;
  const w = Math.max(...LAB_TYPES.map((t) => t.length));
  log(`${'A \\ B'.padEnd(w)}  ${LAB_TYPES.map((t) => t.padEnd(w)).join('  ')}`);
  for (const a of LAB_TYPES) {
    const cells: string[] = [];
    for (const b of LAB_TYPES) {
      const r = holePunch(a, b);
      results.push(r);
      const ok = r.connected === expectedToConnect(a, b);
      if (!ok) allAsExpected = false;
      cells.push(`${r.connected ? 'connects' : 'fails'}${ok ? '' : ' (UNEXPECTED)'}`.padEnd(w));
    }
    log(`${a.padEnd(w)}  ${cells.join('  ')}`);
  }
  return { results, allAsExpected };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log('UDP hole punching through every pair of RFC 4787 NAT types (peer A behind the row type,');
  console.log('peer B behind the column type):');
  console.log('');
  const { results, allAsExpected } = runNatTypeLab((l) => console.log(`  ${l}`));
  console.log('');
  for (const t of LAB_TYPES) {
    const r = results.find((x) => x.a === t) as LabResult;
    console.log(
      `  ${t}: ${r.aIndependentMapping ? 'endpoint-independent mapping' : 'a new mapping per destination'} (mapped as ${r.mappedA})`,
    );
  }
  console.log('');
  console.log(allAsExpected ? 'every result matches RFC 4787' : 'some results contradict RFC 4787');
  process.exitCode = allAsExpected ? 0 : 1;
}
