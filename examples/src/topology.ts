/**
 * The topology behind `npm run demo`, as a function so tests can run it in process.
 *
 * ```
 *   alice  10.0.1.10/24  2001:db8:1::10/64 ──┐
 *                                            ├── hub (router) 10.0.0.1 / 2001:db8::1
 *   bob    10.0.2.20/24  2001:db8:2::20/64 ──┤
 *   carol  10.0.2.30/24  2001:db8:2::30/64 ──┘
 * ```
 *
 * Two subnets: alice alone on 10.0.1.0/24, bob and carol share 10.0.2.0/24 (the hub gets host
 * routes for them). Every host is wrapped in a capture tap, so each packet is recorded (and
 * printed) where it leaves one host and again where it enters another.
 */
import {
  Capture,
  type Clock,
  IcmpError,
  L3Hub,
  type PingResult,
  PingTimeoutError,
  VirtualHost,
} from '@l3kit/core';
import { formatPacket } from '@l3kit/wire';
import { type EgressSceneResult, runEgressScene } from './egress-scene.js';
import { type FtpSceneResult, runFtpScene } from './ftp-scene.js';
import { type NatSceneResult, runNatScene } from './nat-scene.js';
import { type Nat64SceneResult, runNat64Scene } from './nat64-scene.js';
import { runUpnpScene, type UpnpSceneResult } from './upnp-scene.js';
import { runWireGuardScene, type WireGuardSceneResult } from './wireguard-scene.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where to write the pcapng file. Default: not written (see `DemoResult.pcapng`). */
  out?: string;
  /** Where the narration and the packet lines go. Default: discarded. */
  log?: (line: string) => void;
  /** Time source. Default: a high-resolution wall clock (real in-process round-trip times). */
  clock?: Clock;
}

/** What {@link runDemo} did, for tests and for the summary. */
export interface DemoResult {
  /** Packets recorded in the capture. */
  packets: number;
  /** The capture file's bytes. */
  pcapng: Uint8Array;
  /** Ping alice → carol over IPv4. */
  ping4: PingResult;
  /** Ping alice → bob over IPv6. */
  ping6: PingResult;
  /** Ping alice → the hub itself. */
  pingHub: PingResult;
  /** Replies the UDP client received, as text, in order. */
  udpReplies: string[];
  /** The error a TTL-1 ping got back (ICMP time exceeded from the hub). */
  ttlExceeded: IcmpError;
  /** The error a ping to a network without a route got back (ICMP net unreachable). */
  netUnreachable: IcmpError;
  /** The error a UDP datagram to a closed port got back (ICMPv6 port unreachable). */
  portUnreachable: IcmpError;
  /** Hub counters at the end. */
  hubStats: L3Hub['stats'];
  /** The NAT scene: two tenants with one inside address behind one NAT. */
  nat: NatSceneResult;
  /** The NAT64 scene: an IPv6-only host pings an IPv4-only server. */
  nat64: Nat64SceneResult;
  /** The egress scene: a tenant leaves without NAT, directly and through SOCKS5, chosen by DNS name. */
  egress: EgressSceneResult;
  /** The WireGuard scene: two WireGuard clients with one tunnel address fetch a page over HTTP. */
  wireguard: WireGuardSceneResult;
  /** The FTP scene: an active-mode download through the NAT's FTP ALG. */
  ftp: FtpSceneResult;
  /** The UPnP scene: an inside host opens a port with UPnP IGD, a peer outside uses it. */
  upnp: UpnpSceneResult;
}

/** A wall clock with sub-millisecond resolution (the demo measures real round trips). */
class HighResClock implements Clock {
  now(): number {
    return performance.timeOrigin + performance.now();
  }
}

/**
 * Builds the topology, runs the scenario (pings, UDP, TTL expiry, unreachables), prints every
 * packet with the pretty-printer and returns what happened. No root, no network, no timers
 * left behind.
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? (() => {});
  const clock = opts.clock ?? new HighResClock();
  const t0 = clock.now();

  const cap = new Capture({
    format: 'pcapng',
    clock,
    comments: true,
    onPacket: (pkt, info) => {
      const arrow = info.direction === 'out' ? `${info.name} ->` : `-> ${info.name}`;
      log(
        `  ${String(info.frame).padStart(3)} ${arrow.padEnd(9)} ${formatPacket(pkt, { timestampMs: info.timestampMs - t0 })}`,
      );
    },
  });

  const hub = new L3Hub({ addr4: '10.0.0.1', addr6: '2001:db8::1', clock });
  const alice = new VirtualHost({ name: 'alice', addr: '10.0.1.10/24', addr6: '2001:db8:1::10/64', clock });
  const bob = new VirtualHost({ name: 'bob', addr: '10.0.2.20/24', addr6: '2001:db8:2::20/64', clock });
  const carol = new VirtualHost({ name: 'carol', addr: '10.0.2.30/24', addr6: '2001:db8:2::30/64', clock });

  // alice has her subnet to herself: the hub routes her networks (10.0.1.0/24, 2001:db8:1::/64).
  hub.connectL3(cap.tap(alice));
  // bob and carol share a subnet: give the hub a host route for each.
  hub.attach(cap.tap(bob), { routes: ['10.0.2.20/32', '2001:db8:2::20/128'] });
  hub.attach(cap.tap(carol), { routes: ['10.0.2.30/32', '2001:db8:2::30/128'] });

  log('l3kit demo: three virtual hosts and a router, all in this process (no root, no network).');
  log('');
  log('  alice  10.0.1.10/24  2001:db8:1::10/64 ──┐');
  log('                                           ├── hub (router) 10.0.0.1 / 2001:db8::1');
  log('  bob    10.0.2.20/24  2001:db8:2::20/64 ──┤');
  log('  carol  10.0.2.30/24  2001:db8:2::30/64 ──┘');
  log('');
  log('Each packet is printed where it leaves a host (alice ->) and where it enters one (-> carol),');
  log('with the time since the start of the demo.');
  const step = (title: string) => {
    log('');
    log(`== ${title}`);
  };

  // l3kit's timers are unref'd (a virtual network never keeps a process alive on its own); with a
  // wall clock, hold the event loop open until the tour is over.
  const alive = setInterval(() => {}, 1000);
  try {
    step(
      'alice pings carol over IPv4 (through the hub, which decrements the TTL: the reply arrives with 63)',
    );
    const ping4 = await alice.ping('10.0.2.30', { size: 32 });
    log(`   reply from ${ping4.from}: ${ping4.bytes} bytes, ttl ${ping4.ttl}, rtt ${ms(ping4.rttMs)}`);

    step('alice pings bob over IPv6');
    const ping6 = await alice.ping('2001:db8:2::20', { size: 32 });
    log(`   reply from ${ping6.from}: ${ping6.bytes} bytes, hop limit ${ping6.ttl}, rtt ${ms(ping6.rttMs)}`);

    step('alice pings the router itself');
    const pingHub = await alice.ping('10.0.0.1', { size: 16 });
    log(`   reply from ${pingHub.from}, ttl ${pingHub.ttl}, rtt ${ms(pingHub.rttMs)}`);

    step('UDP: carol runs an upper-casing echo service on port 7; alice talks to it over IPv4 and IPv6');
    const service = carol.udp.bind(7);
    service.on('message', (data, from) => {
      service.send(new TextDecoder().decode(data).toUpperCase(), from.port, from.address);
    });
    const client = alice.udp.bind();
    const udpReplies: string[] = [];
    client.on('message', (data, from) => {
      const text = new TextDecoder().decode(data);
      udpReplies.push(text);
      log(`   alice got ${JSON.stringify(text)} from ${from.address} port ${from.port}`);
    });
    client.send('hello carol', 7, '10.0.2.30');
    client.send('hello again, over ipv6', 7, '2001:db8:2::30');

    step('bob and carol share a subnet; the router forwards between them too');
    const bobSock = bob.udp.bind(5353);
    bobSock.on('message', (data) => log(`   bob got ${JSON.stringify(new TextDecoder().decode(data))}`));
    bobSock.send('hi neighbour', 7, '10.0.2.30');

    step('alice pings carol with TTL 1: the router answers ICMP time exceeded');
    const ttlExceeded = await expectIcmpError(alice.ping('10.0.2.30', { ttl: 1, size: 8 }));
    log(`   ping failed as expected: ${ttlExceeded.message} [${ttlExceeded.code}]`);

    step('alice pings 192.0.2.1, a network the router has no route for: net unreachable');
    const netUnreachable = await expectIcmpError(alice.ping('192.0.2.1', { size: 8 }));
    log(`   ping failed as expected: ${netUnreachable.message} [${netUnreachable.code}]`);

    step('alice sends UDP to a closed port on bob over IPv6: ICMPv6 port unreachable');
    let portUnreachable: IcmpError | undefined;
    client.on('error', (e) => {
      portUnreachable = e;
    });
    client.send('anyone there?', 9999, '2001:db8:2::20');
    if (!portUnreachable) throw new Error('expected an ICMPv6 port unreachable');
    log(`   socket error as expected: ${portUnreachable.message} [${portUnreachable.code}]`);

    step('NAT: two tenants, both 192.168.1.10, behind one NAT (203.0.113.1) reach a server outside');
    const nat = await runNatScene(cap, log, clock);

    step(
      'WireGuard: two clients, both 10.0.0.2 in their tunnels, are two tenants of one NAT; each fetches a page from an HTTP server outside (Node http over the userspace TCP)',
    );
    const wireguard = await runWireGuardScene(cap, log, clock);

    step(
      'FTP through the ALG: an active-mode download; the helper rewrites PORT and expects the data connection',
    );
    const ftp = await runFtpScene(cap, log, clock);

    step(
      'UPnP: a console behind the NAT discovers the gateway (SSDP), maps a port (SOAP), and a peer outside connects to it',
    );
    const upnp = await runUpnpScene(cap, log, clock);

    step('NAT64: an IPv6-only host pings an IPv4-only server through 2001:db8:64::/96 (RFC 6052, RFC 7915)');
    const nat64 = await runNat64Scene(cap, log, clock);

    step(
      'Egress without NAT: a tenant fetches through direct egress and a SOCKS5 proxy, chosen by DNS name; a denied name is refused',
    );
    const egress = await runEgressScene(cap, log, clock);

    const s = hub.stats;
    step('done');
    log(
      `   hub: ${s.forwarded} forwarded, ${s.local} for itself, ${s.ttlExceeded} TTL expired, ` +
        `${s.noRoute} without a route, ${s.icmpSent} ICMP messages sent`,
    );
    log(`   capture: ${cap.packets} packets${opts.out ? ` written to ${opts.out}` : ''}`);
    if (opts.out) {
      cap.writeFile(opts.out);
      log(`   open it with: wireshark ${opts.out}   or   tshark -r ${opts.out}`);
    }
    return {
      packets: cap.packets,
      pcapng: cap.bytes(),
      ping4,
      ping6,
      pingHub,
      udpReplies,
      ttlExceeded,
      netUnreachable,
      portUnreachable,
      hubStats: { ...s },
      nat,
      nat64,
      wireguard,
      ftp,
      upnp,
      egress,
    };
  } finally {
    clearInterval(alive);
    for (const h of [alice, bob, carol]) h.close();
    hub.close();
  }
}

async function expectIcmpError(p: Promise<unknown>): Promise<IcmpError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof IcmpError) return e;
    if (e instanceof PingTimeoutError) throw new Error(`expected an ICMP error, the ping timed out`);
    throw e;
  }
  throw new Error('expected an ICMP error, the ping succeeded');
}

function ms(x: number): string {
  return x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`;
}
