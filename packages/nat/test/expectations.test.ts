/** The helper API: expectations, reserved ports, pinned mappings, helpers and sendInside. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExpectationRecord, HelperPacketContext, NatHelper } from '../src/index.js';
import {
  ACK,
  EXT,
  H1,
  H2,
  handshake,
  liveMappings,
  PSH,
  R1,
  R2,
  Rig,
  SYN,
  TCP,
  tcp,
  UDP,
  udp,
} from './helpers.js';

describe('expectations and helpers', () => {
  it('an expectation lets the expected inbound flow in once and maps it to the inside endpoint', () => {
    const rig = new Rig();
    const used: ExpectationRecord[] = [];
    const added: ExpectationRecord[] = [];
    rig.nat.on('expectation-added', (e) => added.push(e));
    rig.nat.on('expectation-used', (e) => used.push(e));
    const e = rig.nat.addExpectation({ proto: TCP, insideIp: H1, insidePort: 20, remoteIp: R1 });
    assert.equal(added.length, 1);
    assert.equal(e.externalIp, EXT);
    assert.ok(e.externalPort > 0);
    assert.equal(rig.fromOutside(tcp(R2, 20, EXT, e.externalPort, SYN)).in.length, 0, 'wrong remote');
    const syn = rig.fromOutside(tcp(R1, 20, EXT, e.externalPort, SYN, 5));
    assert.equal(syn.in.length, 1);
    assert.deepEqual([syn.in[0].dst, syn.in[0].dstPort, syn.in[0].src, syn.in[0].srcPort], [H1, 20, R1, 20]);
    assert.equal(used.length, 1);
    assert.equal(rig.nat.stats.expectationsUsed, 1);
    const sa = rig.fromInside(tcp(H1, 20, R1, 20, SYN | ACK, 50, 6));
    assert.deepEqual([sa.out[0].src, sa.out[0].srcPort], [EXT, e.externalPort]);
    assert.equal(liveMappings(rig.nat, TCP)[0].kind, 'expectation');
    rig.close();
  });

  it('an expectation with a wildcard remote port accepts any source port of that remote', () => {
    const rig = new Rig();
    const e = rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 69, remoteIp: R1 });
    const r = rig.fromOutside(udp(R1, 49152, EXT, e.externalPort, 'data'));
    assert.equal(r.in.length, 1);
    assert.deepEqual([r.in[0].dst, r.in[0].dstPort], [H1, 69]);
    rig.close();
  });

  it('an unused expectation expires after its timeout', () => {
    const rig = new Rig();
    const expired: ExpectationRecord[] = [];
    rig.nat.on('expectation-expired', (e) => expired.push(e));
    const e = rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 69, timeoutMs: 10_000 });
    rig.advanceSec(11);
    assert.equal(expired.length, 1);
    assert.equal(expired[0].id, e.id);
    assert.equal(rig.fromOutside(udp(R1, 1, EXT, e.externalPort)).in.length, 0);
    rig.close();
  });

  it('removeExpectation cancels it', () => {
    const rig = new Rig();
    const e = rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 69 });
    assert.equal(rig.nat.removeExpectation(e.id), true);
    assert.equal(rig.nat.removeExpectation(e.id), false);
    assert.equal(rig.fromOutside(udp(R1, 1, EXT, e.externalPort)).in.length, 0);
    rig.close();
  });

  it('allocOutsidePort reserves a port that dynamic mappings do not get', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50001] }, portPreservation: false });
    const res = rig.nat.allocOutsidePort(UDP);
    assert.equal(res.ip, EXT);
    assert.ok(res.port === 50000 || res.port === 50001);
    const other = rig.udpOut(H1, 1, R1, 53).srcPort;
    assert.notEqual(other, res.port);
    assert.equal(rig.fromInside(udp(H1, 2, R1, 53)).out.length, 0, 'the reserved port is not handed out');
    const e = rig.nat.addExpectation({ proto: UDP, insideIp: H2, insidePort: 5004, externalPort: res.port });
    assert.equal(e.externalPort, res.port);
    assert.equal(rig.fromOutside(udp(R2, 7, EXT, res.port)).in[0]?.dst, H2);
    rig.close();
  });

  it('releaseOutsidePort returns a reserved port', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50000] } });
    const res = rig.nat.allocOutsidePort(UDP);
    assert.equal(rig.fromInside(udp(H1, 1, R1, 53)).out.length, 0);
    assert.equal(rig.nat.releaseOutsidePort(UDP, res.port), true);
    rig.advanceSec(121);
    assert.equal(rig.fromInside(udp(H1, 1, R1, 53)).out.length, 1);
    rig.close();
  });

  it('createMapping pins a mapping with a session that filtering lets in', () => {
    const rig = new Rig();
    const m = rig.nat.createMapping({
      proto: UDP,
      insideIp: H1,
      insidePort: 5060,
      remoteIp: R1,
      remotePort: 5060,
    });
    assert.equal(m.insideIp, H1);
    assert.equal(m.externalIp, EXT);
    const r = rig.fromOutside(udp(R1, 5060, EXT, m.externalPort, 'INVITE'));
    assert.equal(r.in.length, 1);
    assert.deepEqual([r.in[0].dst, r.in[0].dstPort], [H1, 5060]);
    assert.equal(rig.udpOut(H1, 5060, R2, 5060).srcPort, m.externalPort, 'outbound uses the pinned mapping');
    rig.close();
  });

  it('a helper sees the packets of matching connections in both directions, translated', () => {
    const rig = new Rig();
    const seen: Array<{ dir: string; tenant: number; ext: number; payload: string }> = [];
    const helper: NatHelper = {
      name: 'test',
      proto: TCP,
      ports: [2121],
      onPacket(ctx: HelperPacketContext) {
        seen.push({
          dir: ctx.direction,
          tenant: ctx.tenant,
          ext: ctx.externalPort,
          payload: new TextDecoder().decode(
            ctx.pkt.subarray(ctx.payloadOff, ctx.payloadOff + ctx.payloadLen),
          ),
        });
        return undefined;
      },
    };
    const remove = rig.nat.addHelper(helper);
    const c = handshake(rig, H1, 40000, R1, 2121);
    rig.fromInside(tcp(H1, 40000, R1, 2121, PSH | ACK, c.hseq, c.rseq, 'USER x'));
    rig.fromOutside(tcp(R1, 2121, EXT, c.ext, PSH | ACK, c.rseq, c.hseq + 6, '331 ok'));
    const withData = seen.filter((s) => s.payload.length > 0);
    assert.deepEqual(
      withData.map((s) => [s.dir, s.payload, s.ext, s.tenant]),
      [
        ['outbound', 'USER x', c.ext, 0],
        ['inbound', '331 ok', c.ext, 0],
      ],
    );
    // A connection to another port is not shown to the helper.
    const before = seen.length;
    handshake(rig, H1, 40001, R1, 80);
    assert.equal(seen.length, before);
    remove();
    rig.fromInside(tcp(H1, 40000, R1, 2121, PSH | ACK, c.hseq + 6, c.rseq + 6, 'PASS y'));
    assert.equal(seen.length, before, 'removed helper sees nothing');
    rig.close();
  });

  it('a helper can drop a packet (counted as helper)', () => {
    const rig = new Rig();
    rig.nat.addHelper({ name: 'dropper', proto: UDP, ports: [9], onPacket: () => null });
    assert.equal(rig.fromInside(udp(H1, 1, R1, 9)).out.length, 0);
    assert.equal(rig.nat.stats.drops.helper, 1);
    assert.equal(rig.fromInside(udp(H1, 1, R1, 10)).out.length, 1);
    rig.close();
  });

  it('a helper limited to some tenants sees only their connections', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    const seen: number[] = [];
    rig.nat.addHelper({
      name: 'only-b',
      proto: UDP,
      ports: [5060],
      tenants: [rig.tenantId('b')],
      onPacket(ctx) {
        seen.push(ctx.tenant);
        return undefined;
      },
    });
    rig.fromTenant('a', udp(H1, 5060, R1, 5060));
    const xb = rig.fromTenant('b', udp(H1, 5060, R1, 5060)).out[0].srcPort as number;
    rig.fromOutside(udp(R1, 5060, EXT, xb));
    assert.deepEqual(seen, [rig.tenantId('b'), rig.tenantId('b')]);
    rig.close();
  });

  it('an expectation follows its inside host’s paired external address', () => {
    const pool = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
    const rig = new Rig({ outsidePool: pool });
    const addrs = ['192.168.1.20', '192.168.1.21', '192.168.1.22', '192.168.1.23'].map((h) => {
      const a = rig.udpOut(h, 21, R1, 21).src;
      const e = rig.nat.addExpectation({ proto: TCP, insideIp: h, insidePort: 20 });
      assert.equal(e.externalIp, a, `expectation of ${h} uses ${a}`);
      const syn = rig.fromOutside(tcp(R1, 20, e.externalIp, e.externalPort, SYN));
      assert.equal(syn.in[0]?.dst, h);
      return a;
    });
    assert.ok(new Set(addrs).size > 1, 'the pool is used');
    rig.close();
  });

  it('an expectation may reuse the external port of a live mapping of the same inside endpoint only', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5060, R1, 5060).srcPort as number;
    const e = rig.nat.addExpectation({
      proto: UDP,
      insideIp: H1,
      insidePort: 5060,
      externalPort: x,
      remoteIp: R2,
    });
    assert.equal(e.externalPort, x);
    const r = rig.fromOutside(udp(R2, 7, EXT, x));
    assert.deepEqual([r.in[0]?.dst, r.in[0]?.dstPort], [H1, 5060], 'the expected remote gets through APDF');
    assert.throws(
      () => rig.nat.addExpectation({ proto: UDP, insideIp: H2, insidePort: 1, externalPort: x }),
      (err: unknown) => (err as { code?: string }).code === 'ERR_PORT_IN_USE',
    );
    rig.close();
  });

  it('allocOutsidePort fails with ERR_PORTS_EXHAUSTED when no port is left', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50000] } });
    rig.nat.allocOutsidePort(UDP);
    assert.throws(
      () => rig.nat.allocOutsidePort(UDP),
      (err: unknown) => (err as { code?: string }).code === 'ERR_PORTS_EXHAUSTED',
    );
    rig.close();
  });

  it('sendOutside emits a packet on the outside untranslated', () => {
    const rig = new Rig();
    const pkt = udp(EXT, 1, R1, 2, 'raw');
    const r = rig.step(() => rig.nat.sendOutside(pkt.slice()));
    assert.equal(r.out.length, 1);
    assert.deepEqual([...r.out[0].bytes], [...pkt]);
    rig.close();
  });

  it('a helper can open an expectation from onPacket for the connection’s tenant (FTP active-mode shape)', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    let expected: ExpectationRecord | undefined;
    rig.nat.addHelper({
      name: 'ftp-like',
      proto: TCP,
      ports: [21],
      onPacket(ctx, host) {
        const text = new TextDecoder().decode(
          ctx.pkt.subarray(ctx.payloadOff, ctx.payloadOff + ctx.payloadLen),
        );
        const m = /^PORT (\d+)\r\n$/.exec(text);
        if (ctx.direction === 'outbound' && m) {
          const ip = ctx.insideIp;
          expected = host.addExpectation({
            proto: TCP,
            insideIp: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`,
            insidePort: Number(m[1]),
            tenant: ctx.tenant,
            remoteIp: `${ctx.remoteIp >>> 24}.${(ctx.remoteIp >>> 16) & 255}.${(ctx.remoteIp >>> 8) & 255}.${ctx.remoteIp & 255}`,
            remotePort: 20,
            helper: 'ftp-like',
          });
        }
        return undefined;
      },
    });
    // Tenant b's client: SYN, SYN-ACK, ACK, then PORT.
    const syn = rig.fromTenant('b', tcp(H1, 40000, R1, 21, SYN, 1)).out[0];
    const ext = syn.srcPort as number;
    rig.fromOutside(tcp(R1, 21, EXT, ext, SYN | ACK, 100, 2));
    rig.fromTenant('b', tcp(H1, 40000, R1, 21, ACK, 2, 101));
    rig.fromTenant('b', tcp(H1, 40000, R1, 21, PSH | ACK, 2, 101, 'PORT 50123\r\n'));
    assert.ok(expected, 'the helper saw the command and added an expectation');
    assert.equal(expected.tenant, rig.tenantId('b'));
    const data = rig.fromOutside(tcp(R1, 20, expected.externalIp, expected.externalPort, SYN, 555));
    assert.equal(data.tenant('b').length, 1, 'the data connection reaches tenant b');
    assert.deepEqual([data.tenant('b')[0].dst, data.tenant('b')[0].dstPort], [H1, 50123]);
    assert.equal(data.tenant('a').length + data.in.length, 0);
    rig.close();
  });

  it('an announced endpoint (pending expectation) sends its first packet from the announced external port', () => {
    const rig = new Rig({ filtering: 'address-and-port-dependent' });
    const port = rig.nat.allocOutsidePort(UDP).port;
    rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 7078, externalPort: port, remoteIp: R1 });
    const rtp = rig.udpOut(H1, 7078, R1, 40000, 'rtp');
    assert.equal(rtp.srcPort, port, 'symmetric RTP: the advertised port');
    // The peer answers from another port (allowed by the expectation), and reaches the phone.
    const back = rig.fromOutside(udp(R1, 40002, EXT, port, 'rtp back'));
    assert.deepEqual([back.in[0].dst, back.in[0].dstPort], [H1, 7078]);
    rig.close();
  });

  it('an explicit external port expected for another inside endpoint is refused', () => {
    const rig = new Rig();
    const port = rig.nat.allocOutsidePort(UDP).port;
    rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 7078, externalPort: port });
    assert.throws(
      () => rig.nat.addExpectation({ proto: UDP, insideIp: H2, insidePort: 7078, externalPort: port }),
      (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'ERR_PORT_IN_USE',
    );
    // The same endpoint may have a second expectation on it (e.g. another remote).
    rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 7078, externalPort: port, remoteIp: R2 });
    rig.close();
  });

  it('attachHelper hands the expected connection to the named helper, whatever its port', () => {
    const rig = new Rig();
    const seen: number[] = [];
    rig.nat.addHelper({
      name: 'signalling',
      proto: TCP,
      ports: [1720],
      onPacket(ctx) {
        seen.push(ctx.insidePort);
        return undefined;
      },
    });
    const e = rig.nat.addExpectation({
      proto: TCP,
      insideIp: H1,
      insidePort: 40100,
      remoteIp: R1,
      helper: 'signalling',
      attachHelper: true,
    });
    const syn = rig.fromOutside(tcp(R1, 50000, EXT, e.externalPort, SYN, 1));
    assert.deepEqual([syn.in[0].dst, syn.in[0].dstPort], [H1, 40100]);
    assert.deepEqual(seen, [40100], 'the helper saw the expected connection');
    // Without attachHelper, the expected connection gets only the helper of its own port.
    const e2 = rig.nat.addExpectation({
      proto: TCP,
      insideIp: H1,
      insidePort: 40200,
      remoteIp: R1,
      helper: 'signalling',
    });
    rig.fromOutside(tcp(R1, 50001, EXT, e2.externalPort, SYN, 1));
    assert.deepEqual(seen, [40100]);
    rig.close();
  });
});
