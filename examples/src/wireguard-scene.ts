/**
 * The WireGuard part of the demo: two WireGuard clients, both 10.0.0.2 inside their tunnels,
 * handshake with one l3kit WireGuard gateway whose peers are tenants of one NAT; each fetches a
 * page from an HTTP server outside (Node's own `http` over l3kit's userspace TCP). The WireGuard
 * datagrams cross an in-memory underlay (no sockets), so the scene needs no root and no network.
 *
 * ```text
 *  wg-alice 10.0.0.2 ─ WireGuard client ─┐ in-memory UDP  ┌─ WireGuard gateway ─ Nat ─ web 203.0.113.80:80
 *  wg-bob   10.0.0.2 ─ WireGuard client ─┘  192.0.2.0/24  └─ (one tenant per peer)
 * ```
 */
import http from 'node:http';
import {
  type Capture,
  type Clock,
  connectL3,
  ManualClock,
  ManualScheduler,
  type Scheduler,
} from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { buildPacket } from '@l3kit/wire';
import { genkey, pubkey, type UdpTransport, WireGuardServer } from '@l3kit/wireguard';
import { httpRequest } from './example-util.js';

/** What the WireGuard scene did. */
export interface WireGuardSceneResult {
  /** The body each client got, in order (alice, bob). */
  pages: string[];
  /** The source port the web server saw for each client (they differ: one mapping per tenant). */
  serverSawPorts: number[];
  /** Completed handshakes at the gateway. */
  handshakes: number;
  /** Encrypted datagrams that crossed the in-memory underlay. */
  datagrams: number;
  /** The NAT's conntrack table after the exchange. */
  conntrack: string;
}

/**
 * An in-memory UDP underlay: each endpoint `address:port` is a WireGuard interface; a datagram is
 * copied and delivered on a later turn of the event loop (never inside the sender's call).
 */
export class MemoryUnderlay {
  /** Datagrams carried. */
  datagrams = 0;
  private readonly ends = new Map<string, WireGuardServer>();

  /**
   * `record`, when given, receives every datagram as an IPv4/UDP packet (for a capture: Wireshark
   * then decodes the WireGuard messages).
   */
  constructor(private readonly record?: (pkt: Uint8Array) => void) {}

  /** A transport for the interface at `address:port`; register the interface with {@link attach}. */
  transport(address: string, port: number): UdpTransport {
    const self = `${address}:${port}`;
    return {
      send: (msg, toPort, toAddress) => {
        const copy = Uint8Array.from(msg);
        this.datagrams++;
        this.record?.(
          buildPacket({
            src: address,
            dst: toAddress,
            udp: { srcPort: port, dstPort: toPort },
            payload: copy,
          }),
        );
        setImmediate(() => this.ends.get(`${toAddress}:${toPort}`)?.receive(copy, address, port));
      },
      close: () => {
        this.ends.delete(self);
      },
    };
  }

  /** Registers `wg` as the interface behind `address:port`. */
  attach(address: string, port: number, wg: WireGuardServer): void {
    this.ends.set(`${address}:${port}`, wg);
  }
}

/**
 * Waits for `p`. With a manual scheduler, time only moves when advanced: advance it in small
 * steps between turns of the event loop until `p` settles (at most `maxMs` of virtual time).
 */
export async function settle<T>(
  p: Promise<T>,
  sched: ManualScheduler | undefined,
  maxMs = 60_000,
): Promise<T> {
  if (!sched) return p;
  let done = false;
  const tracked = p.finally(() => {
    done = true;
  });
  tracked.catch(() => {});
  for (let t = 0; !done && t < maxMs; t += 5) {
    await new Promise((r) => setImmediate(r));
    if (!done) sched.advance(5);
  }
  return tracked;
}

/** A scheduler for the scene's hosts: manual (and driven by {@link settle}) under a manual clock. */
export function sceneScheduler(clock: Clock): ManualScheduler | undefined {
  return clock instanceof ManualClock ? new ManualScheduler(clock) : undefined;
}

/** Runs the scene; packets are recorded (and printed) through `cap`. */
export async function runWireGuardScene(
  cap: Capture,
  log: (line: string) => void,
  clock: Clock,
): Promise<WireGuardSceneResult> {
  const sched = sceneScheduler(clock);
  const timing: { clock: Clock; scheduler?: Scheduler } = sched ? { clock, scheduler: sched } : { clock };
  // The underlay's datagrams go into the capture too, on an interface of their own.
  const wire = cap.tap(
    { setHandler: () => {}, send: () => {}, addr: () => undefined, setAddr: () => {}, close: () => {} },
    'wg-underlay',
  );
  const underlay = new MemoryUnderlay((pkt) => wire.send(pkt));
  const nat = new Nat({ inside: '10.0.0.1/24', outside: '203.0.113.1/24', clock, maintainIntervalMs: 0 });
  const gatewayKey = genkey();
  const gateway = new WireGuardServer({
    privateKey: gatewayKey,
    connector: nat,
    transport: underlay.transport('192.0.2.1', 51820),
    ...timing,
  });
  underlay.attach('192.0.2.1', 51820, gateway);
  let handshakes = 0;
  gateway.on('handshake', () => handshakes++);

  const web = new VirtualHost({ addr: '203.0.113.80/24', gateway: '203.0.113.1', ...timing });
  connectL3(nat.outside(), cap.tap(web, 'web'));
  const serverSawPorts: number[] = [];
  const site = http.createServer((req, res) => {
    serverSawPorts.push(req.socket.remotePort ?? 0);
    res.setHeader('content-type', 'text/plain');
    res.end(
      `hello ${req.headers['x-client']}, you came from ${req.socket.remoteAddress}:${req.socket.remotePort}\n`,
    );
  });
  web.tcp.listen(80, (socket) => site.emit('connection', socket));

  const closers: Array<() => void> = [];
  const pages: string[] = [];
  try {
    log(
      `   gateway public key ${pubkey(gatewayKey)}, listening on 192.0.2.1:51820 (an in-memory underlay, captured as wg-underlay)`,
    );
    for (const [i, name] of ['wg-alice', 'wg-bob'].entries()) {
      const host = new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1', ...timing });
      const key = genkey();
      const addr = `192.0.2.${10 + i}`;
      const client = new WireGuardServer({
        privateKey: key,
        transport: underlay.transport(addr, 51820),
        connector: {
          connectL3: (peer) => {
            connectL3(peer, cap.tap(host, name));
            return () => {};
          },
        },
        ...timing,
      });
      underlay.attach(addr, 51820, client);
      closers.push(
        () => client.close(),
        () => host.close(),
      );
      const peer = gateway.addPeer({ publicKey: pubkey(key), allowedIps: ['10.0.0.2/32'] });
      client.addPeer({
        publicKey: pubkey(gatewayKey),
        allowedIps: ['0.0.0.0/0'],
        endpoint: '192.0.2.1:51820',
      });
      const tenant = nat.tenantOf(peer);
      log(`   ${name}: WireGuard client at ${addr}, tunnel address 10.0.0.2, NAT tenant ${tenant}`);
      const body = await settle(fetchPage(host, name), sched);
      pages.push(body);
      log(`   ${name} GET http://203.0.113.80/ -> ${JSON.stringify(body.trim())}`);
    }
    log(
      `   the gateway completed ${handshakes} handshakes; ${underlay.datagrams} encrypted datagrams crossed the underlay`,
    );
    const conntrack = nat.formatConntrack();
    log('   the NAT conntrack table (both tenants are 10.0.0.2; zone = tenant):');
    for (const line of conntrack.trimEnd().split('\n')) log(`     ${line}`);
    return { pages, serverSawPorts, handshakes, datagrams: underlay.datagrams, conntrack };
  } finally {
    for (const c of closers) c();
    gateway.close();
    web.close();
    nat.close();
  }
}

async function fetchPage(host: VirtualHost, name: string): Promise<string> {
  return (await httpRequest(host, new URL('http://203.0.113.80/'), { headers: { 'x-client': name } })).body;
}
