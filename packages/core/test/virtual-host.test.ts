import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import { buildPacket, formatIpv6 } from '@l3kit/wire';
import fc from 'fast-check';
import {
  ClosedError,
  ConfigError,
  connectL3,
  IcmpError,
  type L3Device,
  L3Hub,
  ManualClock,
  ManualScheduler,
  PingTimeoutError,
  pipeL3,
  VirtualHost,
} from '../src/index.js';
import { echo, hex, Recorder, udp } from './helpers.js';

const isCode = (code: string) => (e: unknown) => e instanceof ConfigError && e.code === code;

/** Checks the checksums of everything `dev` emits or is sent (and records it in `seen`). */
function verified(dev: L3Device, seen: Uint8Array[] = []): Uint8Array[] {
  const origSetHandler = dev.setHandler.bind(dev);
  const origSend = dev.send.bind(dev);
  dev.setHandler = (h) =>
    origSetHandler((p) => {
      assertChecksums(p, `packet emitted by ${String(dev)}`);
      seen.push(p.slice());
      h(p);
    });
  dev.send = (p) => {
    assertChecksums(p, `packet sent into ${String(dev)}`);
    seen.push(p.slice());
    origSend(p);
  };
  return seen;
}

/** Two dual-stack hosts on two subnets across a hub, every emitted packet checked. */
function topology(clock = new ManualClock(5000)) {
  const hub = new L3Hub({ addr4: '10.0.0.254', addr6: '2001:db8::fe', clock });
  const a = new VirtualHost({ addr: '10.0.1.1/24', addr6: '2001:db8:1::1/64', clock, name: 'a' });
  const b = new VirtualHost({ addr: '10.0.2.1/24', addr6: '2001:db8:2::1/64', clock, name: 'b' });
  const seen: Uint8Array[] = [];
  verified(a, seen);
  verified(b, seen);
  verified(hub, seen);
  hub.connectL3(a);
  hub.connectL3(b);
  return { hub, a, b, clock, seen };
}

describe('VirtualHost', () => {
  it('answers a ping over a pipe, with the round-trip time from its clock', async () => {
    const clock = new ManualClock(100);
    const a = new VirtualHost({ addr: '10.0.0.1/24', clock });
    const b = new VirtualHost({ addr: '10.0.0.2/24', clock });
    const [pa, pb] = pipeL3();
    verified(a);
    verified(b);
    connectL3(a, pa);
    // A slow wire: delivering towards b takes 7 ms of simulated time.
    pb.setHandler((p) => {
      clock.advance(7);
      b.send(p);
    });
    b.setHandler((p) => pb.send(p));
    const r = await a.ping('10.0.0.2', { id: 42, seq: 3, size: 32 });
    assert.deepEqual(r, { rttMs: 7, from: '10.0.0.2', ttl: 64, bytes: 32, id: 42, seq: 3 });
    assert.equal(b.stats.echoRequests, 1);
    assert.equal(a.stats.echoReplies, 1);
  });

  it('answers IPv4 and IPv6 pings across a hub, and the hub itself answers too', async () => {
    const { a, hub, seen } = topology();
    const r4 = await a.ping('10.0.2.1');
    assert.equal(r4.from, '10.0.2.1');
    assert.equal(r4.ttl, 63, 'one router on the way back');
    const r6 = await a.ping('2001:db8:2::1');
    assert.equal(r6.from, '2001:db8:2::1');
    assert.equal(r6.ttl, 63);
    assert.equal((await a.ping('10.0.0.254')).from, '10.0.0.254');
    assert.equal((await a.ping('2001:db8::fe')).from, '2001:db8::fe');
    assert.equal(hub.stats.forwarded, 4);
    assert.equal(seen.length, 12, 'a: 4 requests out, 4 replies in; b: 2 requests in, 2 replies out');
  });

  it('rejects a ping whose TTL runs out with an IcmpError (time exceeded) from the router', async () => {
    const { a } = topology();
    await assert.rejects(a.ping('10.0.2.1', { ttl: 1 }), (e: unknown) => {
      assert.ok(e instanceof IcmpError);
      assert.equal(e.code, 'ERR_TIME_EXCEEDED');
      assert.equal(e.from, '10.0.0.254');
      assert.deepEqual([e.icmpType, e.icmpCode], [11, 0]);
      return true;
    });
    await assert.rejects(
      a.ping('2001:db8:2::1', { ttl: 1 }),
      (e: unknown) => e instanceof IcmpError && e.code === 'ERR_TIME_EXCEEDED' && e.from === '2001:db8::fe',
    );
  });

  it('rejects a ping to an unrouted network with an IcmpError (unreachable)', async () => {
    const { a } = topology();
    await assert.rejects(
      a.ping('192.0.2.1'),
      (e: unknown) =>
        e instanceof IcmpError && e.code === 'ERR_UNREACHABLE' && e.icmpType === 3 && e.icmpCode === 0,
    );
    await assert.rejects(
      a.ping('2001:db8:9::1'),
      (e: unknown) => e instanceof IcmpError && e.code === 'ERR_UNREACHABLE' && e.icmpType === 1,
    );
  });

  it('times out a ping that gets no reply with a PingTimeoutError', async () => {
    const a = new VirtualHost({ addr: '10.0.0.1/24' });
    await assert.rejects(
      a.ping('10.0.0.2', { timeoutMs: 20 }),
      (e: unknown) => e instanceof PingTimeoutError && e.code === 'ERR_PING_TIMEOUT',
    );
  });

  it('answers pings and UDP to its own addresses internally, without emitting anything', async () => {
    const h = new VirtualHost({ addr: '10.0.0.1/24', addr6: '2001:db8::1/64', clock: new ManualClock() });
    const out = new Recorder();
    connectL3(h, out);
    assert.equal((await h.ping('10.0.0.1')).from, '10.0.0.1');
    assert.equal((await h.ping('2001:db8::1')).from, '2001:db8::1');
    const s = h.udp.bind(9);
    const got: string[] = [];
    s.on('message', (d, r) => got.push(`${new TextDecoder().decode(d)} from ${r.address}:${r.port}`));
    s.send('me', 9, '10.0.0.1');
    assert.deepEqual(got, ['me from 10.0.0.1:9']);
    assert.equal(out.take().length, 0);
    assert.equal(h.stats.sent, 0);
    assert.equal(h.stats.loopback, 5);
  });

  it('times out on an injected scheduler exactly when its clock reaches the deadline', async () => {
    const sched = new ManualScheduler(new ManualClock(0));
    const a = new VirtualHost({ addr: '10.0.0.1/24', clock: sched.clock, scheduler: sched });
    const out: { err?: unknown } = {};
    const p = a.ping('10.0.0.2', { timeoutMs: 500 }).catch((e: unknown) => {
      out.err = e;
    });
    sched.advance(499);
    await Promise.resolve();
    assert.equal(out.err, undefined);
    sched.advance(1);
    await p;
    const err = out.err as unknown; // (assert.equal above narrowed the property to undefined)
    assert.ok(err instanceof PingTimeoutError && err.timeoutMs === 500);
  });

  it('rejects pings in flight when closed, and refuses new ones', async () => {
    const a = new VirtualHost({ addr: '10.0.0.1/24' });
    const p = a.ping('10.0.0.2', { timeoutMs: 5000 });
    a.close();
    await assert.rejects(p, (e: unknown) => e instanceof ClosedError);
    assert.throws(() => a.ping('10.0.0.2'), ClosedError);
    a.send(echo('10.0.0.2', '10.0.0.1'));
    assert.equal(a.stats.closed, 1);
  });

  it('echoes UDP over IPv4 and IPv6 with the sender’s address and port in rinfo', async () => {
    const { a, b } = topology();
    const server = b.udp.bind(7);
    server.on('message', (data, r) => server.send(data, r.port, r.address));
    const client = a.udp.bind();
    assert.ok(client.port >= 49152);
    const got: [string, string, number, string][] = [];
    client.on('message', (data, r) => got.push([Buffer.from(data).toString(), r.address, r.port, r.family]));
    client.send('ping over v4', 7, '10.0.2.1');
    client.send(new TextEncoder().encode('ping over v6'), 7, '2001:db8:2::1');
    assert.deepEqual(got, [
      ['ping over v4', '10.0.2.1', 7, 'IPv4'],
      ['ping over v6', '2001:db8:2::1', 7, 'IPv6'],
    ]);
    assert.equal(b.stats.udpDelivered, 2);
  });

  it('answers UDP to a closed port with port unreachable, which the sending socket sees as an error', () => {
    const { a, b } = topology();
    const client = a.udp.bind(5000);
    const errors: IcmpError[] = [];
    client.on('error', (e) => errors.push(e));
    client.send('x', 9, '10.0.2.1');
    client.send('x', 9, '2001:db8:2::1');
    assert.equal(b.stats.udpNoListener, 2);
    assert.deepEqual(
      errors.map((e) => [e.code, e.from, e.icmpType, e.icmpCode]),
      [
        ['ERR_UNREACHABLE', '10.0.2.1', 3, 3],
        ['ERR_UNREACHABLE', '2001:db8:2::1', 1, 4],
      ],
    );
  });

  it('answers an unknown protocol with protocol unreachable / parameter problem pointing at Next Header', () => {
    const h = new VirtualHost({ addr: '10.0.0.1/24', addr6: '2001:db8::1/64' });
    const out = new Recorder();
    connectL3(h, out);
    h.send(buildPacket({ src: '10.0.0.2', dst: '10.0.0.1', protocol: 6, payload: new Uint8Array(20) }));
    h.send(
      buildPacket({ src: '2001:db8::2', dst: '2001:db8::1', protocol: 132, payload: new Uint8Array(12) }),
    );
    const [e4, e6] = out.take();
    assert.deepEqual([e4[20], e4[21]], [3, 2]);
    assert.deepEqual([e6[40], e6[41]], [4, 1]);
    assert.equal(
      (e6[44] << 24) | (e6[45] << 16) | (e6[46] << 8) | e6[47],
      6,
      'pointer to the fixed header’s Next Header',
    );
    assert.equal(formatIpv6(e6, 24), '2001:db8::2');
    assert.equal(h.stats.unsupportedProtocol, 2);
  });

  it('drops and counts packets that are malformed, not for it, fragments, or have bad checksums', () => {
    const h = new VirtualHost({ addr: '10.0.0.1/24', addr6: '2001:db8::1/64' });
    const out = new Recorder();
    connectL3(h, out);
    const good = echo('10.0.0.2', '10.0.0.1');
    h.send(good.subarray(0, 10));
    h.send(new Uint8Array(0));
    h.send(Uint8Array.of(0x10, 0, 0));
    h.send(echo('10.0.0.2', '10.0.0.9'));
    h.send(echo('2001:db8::2', '2001:db8::9'));
    const badIcmp = good.slice();
    badIcmp[30] ^= 1;
    h.send(badIcmp);
    const badUdp = udp('2001:db8::2', '2001:db8::1');
    badUdp[48] ^= 1;
    h.send(badUdp);
    const zeroUdp6 = udp('2001:db8::2', '2001:db8::1');
    zeroUdp6[46] = 0;
    zeroUdp6[47] = 0;
    h.send(zeroUdp6);
    h.send(
      buildPacket({ src: '10.0.0.2', dst: '10.0.0.1', moreFragments: true, udp: { srcPort: 1, dstPort: 2 } }),
    );
    h.send(
      buildPacket({
        src: '2001:db8::2',
        dst: '2001:db8::1',
        fragmentOffset: 8,
        udp: { srcPort: 1, dstPort: 2 },
      }),
    );
    assert.deepEqual(
      [h.stats.malformed, h.stats.notForUs, h.stats.badChecksum, h.stats.fragments],
      [3, 2, 3, 2],
    );
    assert.equal(out.take().length, 0);
    // IPv4 UDP checksum 0 means "none" and is accepted.
    const sock = h.udp.bind(2000);
    let n = 0;
    sock.on('message', () => n++);
    const none = udp('10.0.0.2', '10.0.0.1');
    none[26] = 0;
    none[27] = 0;
    h.send(none);
    assert.equal(n, 1);
  });

  it('never throws for arbitrary bytes, and every packet it emits has correct checksums', () => {
    const h = new VirtualHost({ addr: '10.0.0.1/24', addr6: '2001:db8::1/64' });
    const out = new Recorder(undefined, 'out'); // asserts checksums of everything h emits
    connectL3(h, out);
    h.udp.bind(2000).on('message', () => {});
    const seeds = [
      echo('10.0.0.2', '10.0.0.1'),
      udp('10.0.0.2', '10.0.0.1'),
      udp('10.0.0.2', '10.0.0.1', { dport: 9 }),
      echo('2001:db8::2', '2001:db8::1'),
      udp('2001:db8::2', '2001:db8::1'),
      udp('2001:db8::2', '2001:db8::1', { dport: 9 }),
      buildPacket({
        src: '10.0.0.2',
        dst: '10.0.0.1',
        icmp: { type: 3, code: 3, data: udp('10.0.0.1', '10.0.0.2').subarray(0, 28) },
      }),
    ];
    const mutated = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(90), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.nat(40),
      )
      .map(([seed, edits, cut]) => {
        const p = seed.slice(0, seed.length - (cut < 10 ? cut : 0));
        for (const [at, v] of edits) if (at < p.length) p[at] = v;
        return p;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), mutated), (pkt) => {
        h.send(pkt);
      }),
      { numRuns: 10_000 },
    );
    const s = h.stats;
    assert.ok(
      s.echoRequests > 0 && s.udpDelivered > 0 && s.malformed > 0 && s.badChecksum > 0,
      JSON.stringify(s),
    );
  });

  it('binds ports: ephemeral ports differ, a bound port is refused, close frees it', () => {
    const h = new VirtualHost({ addr: '10.0.0.1/24' });
    const s1 = h.udp.bind();
    const s2 = h.udp.bind();
    assert.notEqual(s1.port, s2.port);
    const fixed = h.udp.bind(53);
    assert.throws(() => h.udp.bind(53), isCode('ERR_PORT_IN_USE'));
    assert.throws(() => h.udp.bind(70000), isCode('ERR_BAD_PORT'));
    let closed = 0;
    fixed.on('close', () => closed++);
    fixed.close();
    fixed.close();
    assert.equal(closed, 1);
    assert.equal(h.udp.bind(53).port, 53);
    assert.throws(() => fixed.send('x', 1, '10.0.0.2'), ClosedError);
    assert.throws(() => s1.send('x', 0, '10.0.0.2'), isCode('ERR_BAD_PORT'));
    assert.throws(() => s1.send('x', 1, '2001:db8::2'), isCode('ERR_BAD_ADDRESS'));
    assert.throws(() => s1.send('x', 1, 'not-an-ip'), isCode('ERR_BAD_ADDRESS'));
    assert.throws(() => s1.send(new Uint8Array(65508), 1, '10.0.0.2'), isCode('ERR_MESSAGE_TOO_BIG'));
  });

  it('rejects bad configuration with typed errors', () => {
    assert.throws(() => new VirtualHost({ addr: 'bogus' }), isCode('ERR_BAD_ADDRESS'));
    assert.throws(
      () => new VirtualHost({ addr: '10.0.0.1/24', addr6: '10.0.0.2/24' }),
      isCode('ERR_BAD_ADDRESS'),
    );
    assert.throws(() => new VirtualHost({ addr: '10.0.0.1/24', ttl: 0 }), isCode('ERR_BAD_OPTION'));
    const h = new VirtualHost({ addr: '10.0.0.1/24' });
    assert.throws(() => h.ping('10.0.0.2', { size: -1 }), isCode('ERR_BAD_OPTION'));
    assert.throws(() => h.ping('2001:db8::1'), isCode('ERR_BAD_ADDRESS'));
    const p = h.ping('10.0.0.2', { id: 1, seq: 1, timeoutMs: 10 });
    assert.throws(() => h.ping('10.0.0.2', { id: 1, seq: 1 }), isCode('ERR_PING_IN_FLIGHT'));
    return assert.rejects(p, PingTimeoutError);
  });

  it('emits echo replies that mirror the request’s identifier, sequence and data', () => {
    const h = new VirtualHost({ addr: '10.0.0.1/24', addr6: '2001:db8::1/64' });
    const out = new Recorder();
    connectL3(h, out);
    const req4 = echo('10.0.0.2', '10.0.0.1', { id: 0xbeef, seq: 0x0102 });
    h.send(req4);
    const [rep4] = out.take();
    assert.equal(rep4[20], 0);
    assert.equal(hex(rep4.subarray(24)), hex(req4.subarray(24)), 'identifier, sequence and data');
    const req6 = echo('2001:db8::2', '2001:db8::1', { id: 0xbeef, seq: 0x0102 });
    h.send(req6);
    const [rep6] = out.take();
    assert.equal(rep6[40], 129);
    assert.equal(hex(rep6.subarray(44)), hex(req6.subarray(44)));
    assert.ok(verifyPacket(rep6).checked.includes('icmpv6'));
  });
});
