/** mappings(), formatConntrack(), stats and events. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MappingRecord } from '../src/index.js';
import {
  EXT,
  echo,
  H1,
  H2,
  handshake,
  liveMappings,
  packet,
  R1,
  R2,
  Rig,
  SYN,
  TestTenant,
  tcp,
  tcpDataIn,
  tcpDataOut,
  UDP,
  udp,
} from './helpers.js';

describe('introspection', () => {
  it('mappings() describes a UDP session with both tuples, state, time left and counters', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53, 'q'.repeat(10));
    let [m] = liveMappings(rig.nat, UDP);
    assert.equal(m.state, 'UNREPLIED');
    rig.udpIn(R1, 53, o.srcPort as number, 'a'.repeat(30));
    rig.udpIn(R1, 53, o.srcPort as number, 'a'.repeat(30));
    rig.advanceSec(10);
    [m] = liveMappings(rig.nat, UDP);
    assert.deepEqual(
      {
        tenant: m.tenant,
        proto: m.proto,
        protoName: m.protoName,
        kind: m.kind,
        insideIp: m.insideIp,
        insidePort: m.insidePort,
        externalIp: m.externalIp,
        externalPort: m.externalPort,
        remoteIp: m.remoteIp,
        remotePort: m.remotePort,
        original: m.original,
        reply: m.reply,
        state: m.state,
        packetsOut: m.packetsOut,
        packetsIn: m.packetsIn,
      },
      {
        tenant: 0,
        proto: UDP,
        protoName: 'udp',
        kind: 'dynamic',
        insideIp: H1,
        insidePort: 5000,
        externalIp: EXT,
        externalPort: o.srcPort,
        remoteIp: R1,
        remotePort: 53,
        original: { src: H1, srcPort: 5000, dst: R1, dstPort: 53 },
        reply: { src: R1, srcPort: 53, dst: EXT, dstPort: o.srcPort },
        state: 'ASSURED',
        packetsOut: 1,
        packetsIn: 2,
      },
    );
    assert.equal(m.bytesOut, 20 + 8 + 10, 'bytes counted as IP length');
    assert.equal(m.bytesIn, 2 * (20 + 8 + 30));
    assert.ok(Math.abs(m.expiresInMs - 290_000) <= 1000, `about 290 s left, got ${m.expiresInMs}`);
    rig.close();
  });

  it('one record per session: EIM sessions to two remotes share the external port', () => {
    const rig = new Rig();
    rig.udpOut(H1, 5000, R1, 53);
    rig.udpOut(H1, 5000, R2, 53);
    const recs = liveMappings(rig.nat, UDP);
    assert.equal(recs.length, 2);
    assert.equal(new Set(recs.map((r) => r.externalPort)).size, 1);
    assert.deepEqual(recs.map((r) => r.remoteIp).sort(), [R1, R2]);
    rig.close();
  });

  it('formatConntrack() prints one conntrack -L style line per record', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 443);
    const x = rig.udpOut(H2, 5000, R2, 53).srcPort as number;
    const text = rig.nat.formatConntrack();
    const lines = text
      .trim()
      .split('\n')
      .filter((l) => l.includes('src='));
    assert.equal(lines.length, 2, text);
    const tcpLine = lines.find((l) => /\btcp\b/.test(l));
    const udpLine = lines.find((l) => /\budp\b/.test(l));
    assert.ok(tcpLine && udpLine, text);
    assert.match(tcpLine, /\b6\b/);
    assert.match(tcpLine, /ESTABLISHED/);
    assert.ok(tcpLine.includes(`src=${H1} dst=${R1} sport=40000 dport=443`), tcpLine);
    assert.ok(tcpLine.includes(`src=${R1} dst=${EXT} sport=443 dport=${c.ext}`), tcpLine);
    assert.ok(udpLine.includes(`src=${H2} dst=${R2} sport=5000 dport=53`), udpLine);
    assert.ok(udpLine.includes(`src=${R2} dst=${EXT} sport=53 dport=${x}`), udpLine);
    assert.match(udpLine, /UNREPLIED/);
    rig.close();
  });

  it('formatConntrack() tells tenants apart (zone = tenant id)', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.fromInside(udp(H1, 5000, R1, 53));
    rig.fromTenant('a', udp(H1, 5000, R1, 53));
    const lines = rig.nat
      .formatConntrack()
      .split('\n')
      .filter((l) => l.includes('src='));
    assert.equal(lines.length, 2);
    assert.equal(lines.filter((l) => /\bzone=0\b/.test(l)).length, 1);
    assert.equal(lines.filter((l) => new RegExp(`\\bzone=${rig.tenantId('a')}\\b`).test(l)).length, 1);
    rig.close();
  });

  it('stats count packets both ways and drops by reason', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 80);
    tcpDataOut(rig, c);
    tcpDataIn(rig, c);
    assert.equal(rig.nat.stats.packetsOut, 3);
    assert.equal(rig.nat.stats.packetsIn, 2);
    assert.equal(rig.nat.stats.activeSessions, 1);
    assert.ok(rig.nat.stats.activeMappings >= 1);
    const d = rig.nat.stats.drops;
    for (const k of [
      'malformed',
      'not-for-us',
      'filtered',
      'no-mapping',
      'fragment',
      'ttl-exceeded',
      'bad-ip-checksum',
    ])
      assert.equal(d[k as keyof typeof d], 0, `${k} starts at 0`);
    rig.fromInside(Uint8Array.from([0x45, 0, 0, 10]));
    assert.equal(d.malformed, 1, 'malformed');
    const badIp = udp(H1, 1, R1, 2);
    badIp[10] ^= 0xff;
    rig.fromInside(badIp);
    assert.equal(d['bad-ip-checksum'], 1, 'bad IP checksum');
    rig.fromOutside(udp(R1, 53, '203.0.113.99', 5000));
    assert.equal(d['not-for-us'], 1, 'not for us');
    rig.fromOutside(udp(R1, 53, EXT, 61234));
    assert.equal(d['no-mapping'], 1, 'no mapping');
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.fromOutside(udp(R2, 53, EXT, x));
    assert.equal(d.filtered, 1, 'filtered');
    rig.fromInside(packet({ src: H1, dst: R1, udp: { srcPort: 1, dstPort: 2 }, ttl: 1 }));
    assert.equal(d['ttl-exceeded'], 1);
    const frag = udp(H1, 1, R1, 2);
    frag[6] = 0x20; // MF
    frag[10] = 0;
    frag[11] = 0;
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (frag[i] << 8) | frag[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    frag[10] = (~s >> 8) & 0xff;
    frag[11] = ~s & 0xff;
    rig.fromInside(frag);
    assert.equal(d.fragment, 0, 'a fragment goes to reassembly, not to the drop counter');
    // This one has MF set and a length that is not a multiple of 8: reassembly drops it as such.
    assert.equal(rig.nat.defragStats().dropBadLength, 1, 'counted by the defragmenter');
    rig.fromInside(udp(H1, 1, '192.168.1.1', 53));
    assert.equal(d['to-nat'], 1, 'inside packet to the NAT itself');
    rig.close();
  });

  it('events: mapping created once per mapping, expired on expiry, never per packet', () => {
    const rig = new Rig();
    const created: MappingRecord[] = [];
    const expired: MappingRecord[] = [];
    rig.nat.on('mapping-created', (m) => created.push(m));
    rig.nat.on('mapping-expired', (m) => expired.push(m));
    for (let i = 0; i < 100; i++) rig.udpOut(H1, 5000, R1, 53);
    rig.fromInside(echo(H1, R1, 1));
    rig.fromInside(tcp(H1, 40000, R1, 80, SYN));
    assert.equal(created.length, 3);
    assert.deepEqual(created.map((m) => m.protoName).sort(), ['icmp', 'tcp', 'udp']);
    assert.equal(created.find((m) => m.protoName === 'udp')?.insidePort, 5000);
    rig.advanceSec(61);
    assert.deepEqual(
      expired.map((m) => m.protoName),
      ['icmp'],
    );
    rig.advanceSec(200);
    assert.deepEqual(expired.map((m) => m.protoName).sort(), ['icmp', 'tcp']);
    rig.advanceSec(100);
    assert.deepEqual(expired.map((m) => m.protoName).sort(), ['icmp', 'tcp', 'udp']);
    assert.equal(rig.nat.stats.mappingsCreated, 3);
    rig.close();
  });

  it('mapping-removed fires when a tenant is detached', () => {
    const rig = new Rig();
    rig.addTenant('a');
    const removed: MappingRecord[] = [];
    rig.nat.on('mapping-removed', (m) => removed.push(m));
    rig.fromTenant('a', udp(H1, 1, R1, 53));
    rig.fromTenant('a', tcp(H1, 2, R1, 80, SYN));
    rig.removeTenant('a');
    assert.deepEqual(removed.map((m) => m.protoName).sort(), ['tcp', 'udp']);
    assert.ok(removed.every((m) => m.tenant !== 0));
    assert.equal(liveMappings(rig.nat).length, 0);
    rig.close();
  });

  it('close() stops the NAT: packets are dropped afterwards', () => {
    const rig = new Rig();
    rig.close();
    assert.equal(rig.fromInside(udp(H1, 1, R1, 53)).all.length, 0);
    assert.ok(rig.nat.stats.drops.closed >= 1);
    assert.throws(
      () => rig.nat.connectL3(new TestTenant('late')),
      (e: unknown) => (e as { code?: string }).code === 'ERR_CLOSED',
    );
    assert.throws(
      () => rig.nat.addPortForward({ proto: UDP, outsidePort: 1, insideIp: H1, insidePort: 1 }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_CLOSED',
    );
  });

  it('maintain() also runs on the NAT’s own timer, and close() stops it', async () => {
    const rig = new Rig({ maintainIntervalMs: 5 });
    const expired: MappingRecord[] = [];
    rig.nat.on('mapping-expired', (m) => expired.push(m));
    rig.udpOut(H1, 5000, R1, 53);
    rig.clock.advance(301_000); // no explicit maintain()
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(expired.length, 1, 'expired by the timer');
    let calls = 0;
    const real = rig.nat.maintain.bind(rig.nat);
    rig.nat.maintain = () => {
      calls++;
      real();
    };
    rig.close();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(calls, 0, 'no timer after close()');
  });
});
