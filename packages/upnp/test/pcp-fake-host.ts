/**
 * Test harness of the PCP / NAT-PMP server tests: a {@link PcpServer} on the shared
 * {@link FakeNatHost}, and a client that sends one UDP request from an inside address and returns
 * the server's answers after checking every emitted packet independently (checksums, addresses,
 * ports).
 */
import assert from 'node:assert/strict';
import { ConfigError, ManualClock } from '@l3kit/core';
import type { CreateMappingOptions, MappingRecord } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, formatIpv4, Ipv4Packet, UdpDatagram } from '@l3kit/wire';
import { PCP_SERVER_PORT, PcpServer, type PcpServerConfig } from '../src/pcp.js';
import { FakeNatHost } from './fake-host.js';

/** One answer of the server, checked and decoded to its UDP payload. */
export interface Answer {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  ttl: number;
  payload: Uint8Array;
}

/** Decodes and checks a packet the server sent: valid IPv4 + UDP with correct checksums, from the inside address:5351. */
export function decodeAnswer(pkt: Uint8Array, insideAddress = '192.168.1.1'): Answer {
  assertChecksums(pkt, 'PCP server packet');
  const ip = Ipv4Packet.checked(pkt);
  assert.ok(ip, 'an IPv4 packet');
  assert.equal(ip.protocol, 17);
  const udp = UdpDatagram.checked(pkt, ip.headerLen, ip.totalLength);
  assert.ok(udp, 'a UDP datagram');
  assert.equal(formatIpv4(ip.src >>> 0), insideAddress);
  assert.equal(udp.srcPort, PCP_SERVER_PORT);
  return {
    src: formatIpv4(ip.src >>> 0),
    dst: formatIpv4(ip.dst >>> 0),
    srcPort: udp.srcPort,
    dstPort: udp.dstPort,
    ttl: ip.ttl,
    payload: udp.payload().slice(),
  };
}

/**
 * The shared fake NAT plus an endpoint-independent `createMapping` (for PEER): one external port
 * per inside endpoint, `ERR_PORT_IN_USE` when a different one is asked for, every call recorded.
 */
export class PeerFakeHost extends FakeNatHost {
  readonly mappingCalls: CreateMappingOptions[] = [];
  private readonly eim = new Map<string, number>();
  private nextPort = 20000;

  override createMapping(o: CreateMappingOptions): MappingRecord {
    this.mappingCalls.push({ ...o });
    const tenant = o.tenant ?? 0;
    const ext = this.externalAddress(tenant);
    const k = `${tenant}/${o.proto}/${o.insideIp}:${o.insidePort}`;
    let port = this.eim.get(k);
    if (port !== undefined && o.externalPort !== undefined && o.externalPort !== port)
      throw new ConfigError('ERR_PORT_IN_USE', 'the inside endpoint already has a different mapping');
    if (port === undefined) {
      port = o.externalPort ?? this.nextPort++;
      this.eim.set(k, port);
    }
    const tuple = {
      src: o.insideIp,
      srcPort: o.insidePort,
      dst: o.remoteIp ?? '0.0.0.0',
      dstPort: o.remotePort ?? 0,
    };
    return {
      id: this.mappingCalls.length,
      tenant,
      proto: o.proto,
      protoName: o.proto === 6 ? 'tcp' : 'udp',
      kind: 'static',
      insideIp: o.insideIp,
      insidePort: o.insidePort,
      externalIp: ext,
      externalPort: port,
      remoteIp: o.remoteIp ?? '0.0.0.0',
      remotePort: o.remotePort ?? 0,
      original: tuple,
      reply: tuple,
      state: 'UNREPLIED',
      expiresInMs: o.timeoutMs ?? 0,
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
    };
  }
}

/** A server on a fake NAT with a manual clock; announcements sent on attach are taken out. */
export class PcpRig {
  readonly clock: ManualClock;
  readonly host: PeerFakeHost;
  readonly server: PcpServer;
  /** Announcements sent when the server attached (tenant 0). */
  readonly startAnnouncements: Answer[];

  constructor(config: PcpServerConfig = {}, opts: { clock?: ManualClock; tenants?: number[] } = {}) {
    this.clock = opts.clock ?? new ManualClock(1_000_000);
    this.host = new PeerFakeHost({ clock: this.clock });
    for (const t of opts.tenants ?? []) this.host.addTenant(t);
    this.server = new PcpServer(config);
    this.host.install(this.server);
    this.startAnnouncements = this.host.take(0).map((p) => decodeAnswer(p));
    for (const t of opts.tenants ?? []) this.host.take(t);
  }

  /**
   * Sends `payload` from `src:srcPort` of `tenant` to the server (inside address:5351) and returns
   * the answers, each checked: unicast back to `src:srcPort`.
   */
  send(
    payload: Uint8Array,
    opts: { src?: string; srcPort?: number; tenant?: number; dst?: string; dstPort?: number } = {},
  ): Uint8Array[] {
    const src = opts.src ?? '192.168.1.10';
    const srcPort = opts.srcPort ?? 40000;
    const tenant = opts.tenant ?? 0;
    const pkt = buildPacket({
      src,
      dst: opts.dst ?? this.host.insideAddress,
      udp: { srcPort, dstPort: opts.dstPort ?? PCP_SERVER_PORT },
      payload,
    });
    this.server.onLocalPacket(pkt, tenant);
    return this.host.take(tenant).map((p) => {
      const a = decodeAnswer(p, this.host.insideAddress);
      assert.equal(a.dst, src, 'answer goes back to the client');
      assert.equal(a.dstPort, srcPort, 'answer goes back to the client port');
      return a.payload;
    });
  }

  /** Like {@link send} but expects exactly one answer and returns it. */
  ask(payload: Uint8Array, opts: Parameters<PcpRig['send']>[1] = {}): Uint8Array {
    const out = this.send(payload, opts);
    assert.equal(out.length, 1, `exactly one answer, got ${out.length}`);
    return out[0];
  }
}

/** 12 nonce bytes from a small seed. */
export function nonce(seed: number): Uint8Array {
  const b = new Uint8Array(12);
  for (let i = 0; i < 12; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** Bytes from spaced hex text (`'02 01 00 00'`). */
export function hexBytes(s: string): Uint8Array {
  const t = s.replace(/\s+/g, '');
  const b = new Uint8Array(t.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = Number.parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return b;
}
