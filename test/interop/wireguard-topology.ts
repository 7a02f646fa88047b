/**
 * Topologies with real WireGuard clients (wireguard-go), shared by the WireGuard interop test
 * (`wireguard.test.ts`) and the end-to-end benchmarks (`scripts/bench-interop.mjs`).
 *
 * {@link makeWireGuardTopology}: wireguard-go clients, each in its own namespace and all with the
 * inside address 10.0.0.2, handshake with an l3kit `WireGuardServer` whose connector is an l3kit
 * `Nat`; a server namespace (203.0.113.2, no route back) is outside. The WireGuard underlay stays
 * inside the namespaces: each client namespace reaches the gateway's UDP port over a TUN
 * (172.31.<k>.2 → 172.31.0.1) that ends in an l3kit VirtualHost, whose UDP socket feeds
 * `WireGuardServer.receive` (a custom transport).
 *
 * ```text
 *  ns c1: wg0 10.0.0.2 ─┐ UDP over TUN ┌─ VirtualHost 172.31.0.1:51820 ─ WireGuardServer ─ Nat ─TUN─ ns s: 203.0.113.2
 *  ns c2: wg0 10.0.0.2 ─┘              └─ (one tenant of the Nat per peer)
 * ```
 *
 * {@link makeWireGuardGoTopology}: the reference, the same addresses with wireguard-go on both
 * ends and the kernel in between: a gateway namespace runs wireguard-go (10.0.0.1, UDP
 * 172.31.0.1:51820), forwards and masquerades to 203.0.113.1 with nftables; veth pairs with
 * offloads off (1500-byte packets, as on the TUNs of the l3kit topology).
 *
 * ```text
 *  ns c: wg0 10.0.0.2 ─veth─ ns g: 172.31.0.1:51820 wireguard-go wg0 10.0.0.1, nft masquerade ─veth─ ns s: 203.0.113.2
 * ```
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualHost } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { waitFor as pollUntil } from '@l3kit/testkit';
import type { TunDevice } from '@l3kit/tun';
import { genkey, pubkey, WireGuardServer } from '@l3kit/wireguard';
import { freshId, hasTool, ifName, Netns, type Proc, tempDir, tunInto } from './harness.js';

/** Tools every WireGuard topology needs (Debian packages: wireguard-go, wireguard-tools). */
export const WG_TOOLS = ['wireguard-go', 'wg'] as const;
/** Tools {@link makeWireGuardGoTopology} needs in addition (nftables, ethtool). */
export const WG_GO_REFERENCE_TOOLS = ['nft', 'ethtool'] as const;
/** The server outside the NAT (no route back to 10.0.0.0/24). */
export const WG_SERVER = '203.0.113.2';
/** The WireGuard gateway's underlay address. */
export const WG_GATEWAY = '172.31.0.1';
/** The gateway's UDP port. */
export const WG_PORT = 51820;
/** Every client's address inside the tunnel. */
export const WG_CLIENT_INSIDE = '10.0.0.2';

/** Polls `check` every 50 ms until it returns true; throws after `timeoutMs`. */
export function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return pollUntil(check, { what, timeoutMs, intervalMs: 50 });
}

/** Starts `wireguard-go -f <wgIf>` in `ns` and waits until the interface exists. */
export async function startWireguardGo(ns: Netns, wgIf: string): Promise<Proc> {
  const proc = ns.spawn(['wireguard-go', '-f', wgIf]);
  await waitFor(() => {
    if (!proc.running) throw new Error(`wireguard-go exited: ${proc.stderr}`);
    try {
      ns.ip('link', 'show', wgIf);
      return true;
    } catch {
      return false;
    }
  }, `wireguard-go to create ${wgIf}`);
  return proc;
}

/**
 * `wg set <wgIf> args...` in `ns`. wg talks to wireguard-go over its UAPI socket, which appears
 * shortly after the interface: retried until it exists (4 s).
 */
export async function wgSet(ns: Netns, wgIf: string, args: string[]): Promise<void> {
  for (let tries = 0; ; tries++) {
    const r = await ns.run(['wg', 'set', wgIf, ...args]);
    if (r.code === 0) return;
    if (tries > 40) throw new Error(`wg set ${wgIf} ${args.join(' ')} failed in ${ns.name}: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Writes a private key to a 0600 file in `dir` (wg reads keys from files only). */
function keyFile(dir: string, name: string, key: string): string {
  const f = join(dir, `${name}.key`);
  writeFileSync(f, `${key}\n`, { mode: 0o600 });
  return f;
}

/** One wireguard-go client of a WireGuard topology. */
export interface WgClient {
  /** Its namespace. */
  readonly ns: Netns;
  /** The underlay TUN (l3kit topology) into the gateway; undefined with a veth underlay. */
  readonly tun: TunDevice | undefined;
  /** The wireguard-go interface name. */
  readonly wgIf: string;
  /** Its private key (base64). */
  readonly key: string;
  /** Its public key (base64), the peer's key at the gateway. */
  readonly pub: string;
}

/** What {@link makeWireGuardTopology} builds. */
export interface WireGuardTopology {
  /** The server namespace (203.0.113.2). */
  readonly server: Netns;
  readonly serverTun: TunDevice;
  readonly nat: Nat;
  readonly wg: WireGuardServer;
  /** The l3kit host at 172.31.0.1 that carries the WireGuard UDP. */
  readonly underlay: VirtualHost;
  readonly clients: readonly WgClient[];
  /** Tears everything down (programs, namespaces, TUNs, the server, the NAT). Idempotent. */
  dispose(): Promise<void>;
}

/** Options of {@link makeWireGuardTopology}. */
export interface WireGuardTopologyOptions {
  /** Number of wireguard-go clients (1..250), all with the inside address 10.0.0.2. */
  clients: number;
}

/**
 * Builds the l3kit WireGuard topology (see the module comment): `clients` wireguard-go clients
 * configured with the gateway as their peer (allowed IPs 0.0.0.0/0, route to 203.0.113.0/24
 * through the tunnel), each added to the l3kit `WireGuardServer` with allowed IPs 10.0.0.2/32.
 * No handshake has happened yet when it returns (the first packet starts one).
 */
export async function makeWireGuardTopology(opts: WireGuardTopologyOptions): Promise<WireGuardTopology> {
  if (!Number.isInteger(opts.clients) || opts.clients < 1 || opts.clients > 250)
    throw new RangeError(`clients must be 1..250, got ${opts.clients}`);
  const id = freshId();
  const clients: WgClient[] = [];
  let server: Netns | undefined;
  let serverTun: TunDevice | undefined;
  let nat: Nat | undefined;
  let wg: WireGuardServer | undefined;
  let underlay: VirtualHost | undefined;
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    wg?.close();
    nat?.close();
    underlay?.close();
    for (const c of clients) {
      c.tun?.close();
      await c.ns.dispose();
    }
    serverTun?.close();
    await server?.dispose();
  };
  try {
    server = new Netns(`${id}s`);
    const sTun = tunInto(server, ifName(id, 's'), `${WG_SERVER}/24`);
    serverTun = sTun;
    const n = new Nat({ inside: '10.0.0.1/24', outside: '203.0.113.1/24' });
    nat = n;
    n.outside().setHandler((p) => sTun.send(p));
    sTun.setHandler((p) => n.outside().send(p));

    // the underlay: a virtual host at 172.31.0.1 with one TUN per client namespace
    const host = new VirtualHost({ addr: `${WG_GATEWAY}/16` });
    underlay = host;
    const tuns: TunDevice[] = [];
    host.setHandler((p) => tuns[p[18]]?.send(p)); // 172.31.<k>.2: route by the third octet
    const sock = host.udp.bind(WG_PORT);
    const gw = new WireGuardServer({
      privateKey: genkey(),
      connector: n,
      transport: { send: (m, port, addr) => sock.send(m, port, addr), close: () => sock.close() },
    });
    wg = gw;
    sock.on('message', (data, r) => gw.receive(data, r.address, r.port));

    const dir = tempDir();
    for (let k = 1; k <= opts.clients; k++) {
      const ns = new Netns(`${id}c${k}`);
      const tun = tunInto(ns, ifName(id, `u${k}`), `172.31.${k}.2/24`);
      const wgIf = ifName(id, `w${k}`);
      const key = genkey();
      const pub = pubkey(key);
      clients.push({ ns, tun, wgIf, key, pub });
      tuns[k] = tun;
      tun.setHandler((p) => host.send(p));
      ns.ip('route', 'add', `${WG_GATEWAY}/32`, 'dev', tun.name);
      await startWireguardGo(ns, wgIf);
      await wgSet(ns, wgIf, [
        'private-key',
        keyFile(dir, `c${k}`, key),
        'peer',
        gw.publicKey,
        'endpoint',
        `${WG_GATEWAY}:${WG_PORT}`,
        'allowed-ips',
        '0.0.0.0/0',
      ]);
      ns.ip('addr', 'add', `${WG_CLIENT_INSIDE}/24`, 'dev', wgIf);
      ns.ip('link', 'set', wgIf, 'up');
      ns.ip('route', 'add', '203.0.113.0/24', 'dev', wgIf);
      gw.addPeer({ publicKey: pub, allowedIps: [`${WG_CLIENT_INSIDE}/32`] });
    }
    return { server, serverTun: sTun, nat: n, wg: gw, underlay: host, clients, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** What {@link makeWireGuardGoTopology} builds. */
export interface WireGuardGoTopology {
  /** The client namespace (wireguard-go, 10.0.0.2 inside the tunnel). */
  readonly client: WgClient;
  /** The gateway namespace (wireguard-go 10.0.0.1, nftables masquerade to 203.0.113.1). */
  readonly gateway: Netns;
  /** The gateway's wireguard-go interface name. */
  readonly gatewayWgIf: string;
  /** The server namespace (203.0.113.2, no route back to 10.0.0.0/24). */
  readonly server: Netns;
  /** Tears everything down. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Builds the wireguard-go reference (see the module comment): the same addresses as
 * {@link makeWireGuardTopology} with one client, but the gateway is wireguard-go in a namespace
 * and the NAT is the kernel's (nftables masquerade); veth links, MTU 1500, offloads off. Needs
 * {@link WG_TOOLS} and {@link WG_GO_REFERENCE_TOOLS}.
 */
export async function makeWireGuardGoTopology(): Promise<WireGuardGoTopology> {
  const missing = [...WG_TOOLS, ...WG_GO_REFERENCE_TOOLS].filter((t) => !hasTool(t));
  if (missing.length) throw new Error(`missing ${missing.join(', ')}`);
  const id = freshId();
  const made: Netns[] = [];
  const dispose = async () => {
    await Promise.all(made.map((ns) => ns.dispose()));
  };
  try {
    const client = new Netns(`${id}c`);
    made.push(client);
    const gateway = new Netns(`${id}g`);
    made.push(gateway);
    const server = new Netns(`${id}s`);
    made.push(server);
    const [c, gc, gs, s] = ['u', 'x', 'y', 's'].map((r) => ifName(id, r));
    client.ip('link', 'add', c, 'type', 'veth', 'peer', 'name', gc, 'netns', gateway.name);
    gateway.ip('link', 'add', gs, 'type', 'veth', 'peer', 'name', s, 'netns', server.name);
    const cfg: Array<[Netns, string, string]> = [
      [client, c, '172.31.1.2/24'],
      [gateway, gc, `${WG_GATEWAY}/16`],
      [gateway, gs, '203.0.113.1/24'],
      [server, s, `${WG_SERVER}/24`],
    ];
    for (const [ns, dev, addr] of cfg) {
      ns.sysctl(`net.ipv6.conf.${dev}.disable_ipv6`, '1');
      ns.ip('addr', 'add', addr, 'dev', dev);
      ns.ip('link', 'set', dev, 'mtu', '1500', 'up');
      // Offloads off: every packet on the links is a real ≤1500-byte packet, as on a plain TUN.
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
    client.ip('route', 'add', `${WG_GATEWAY}/32`, 'dev', c);
    gateway.sysctl('net.ipv4.ip_forward', '1');
    const rules = `table ip l3kwg {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${gs}" masquerade\n }\n}\n`;
    await gateway.run(['sh', '-c', `printf '${rules}' | nft -f -`], { check: true });

    const dir = tempDir();
    const gKey = genkey();
    const cKey = genkey();
    const cPub = pubkey(cKey);
    const gWg = ifName(id, 'w');
    const cWg = ifName(id, 'v');
    await startWireguardGo(gateway, gWg);
    await startWireguardGo(client, cWg);
    await wgSet(gateway, gWg, [
      'private-key',
      keyFile(dir, 'g', gKey),
      'listen-port',
      String(WG_PORT),
      'peer',
      cPub,
      'allowed-ips',
      `${WG_CLIENT_INSIDE}/32`,
    ]);
    await wgSet(client, cWg, [
      'private-key',
      keyFile(dir, 'c', cKey),
      'peer',
      pubkey(gKey),
      'endpoint',
      `${WG_GATEWAY}:${WG_PORT}`,
      'allowed-ips',
      '0.0.0.0/0',
    ]);
    gateway.ip('addr', 'add', '10.0.0.1/24', 'dev', gWg);
    gateway.ip('link', 'set', gWg, 'up');
    client.ip('addr', 'add', `${WG_CLIENT_INSIDE}/24`, 'dev', cWg);
    client.ip('link', 'set', cWg, 'up');
    client.ip('route', 'add', '203.0.113.0/24', 'dev', cWg);
    return {
      client: { ns: client, tun: undefined, wgIf: cWg, key: cKey, pub: cPub },
      gateway,
      gatewayWgIf: gWg,
      server,
      dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}
