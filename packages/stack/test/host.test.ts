import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImpairmentLink, ManualClock, ManualScheduler } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { checksum, finishChecksum, onesSum, pseudoHeaderSum4 } from '@l3kit/wire';
import fc from 'fast-check';
import { type RemoteInfo, type SocketError, VirtualHost } from '../src/index.js';
import { bytes, pair, pump, sha256, tick } from './helpers.js';

describe('VirtualHost: ICMP', () => {
  it('answers ping over IPv4 and IPv6 and measures the round trip on its clock', async () => {
    const { sched, a, b } = pair({}, false);
    new ImpairmentLink({ seed: 1, delayMs: 7, scheduler: sched }).connect(a, b);
    const seen: Uint8Array[] = [];
    const origSend = b.send.bind(b);
    b.send = (p) => {
      seen.push(p.slice());
      origSend(p);
    };
    const p4 = a.ping('10.0.0.2', { size: 100 });
    const p6 = a.ping('fd00::2');
    let r4: Awaited<typeof p4> | undefined;
    let r6: Awaited<typeof p6> | undefined;
    p4.then((r) => {
      r4 = r;
    });
    p6.then((r) => {
      r6 = r;
    });
    await pump(sched, () => r4 !== undefined && r6 !== undefined, 1000, 1);
    assert.equal(r4?.rttMs, 14);
    assert.equal(r4?.bytes, 100);
    assert.equal(r6?.rttMs, 14);
    assert.equal(b.icmp.stats.echoRequestsIn, 2);
    assert.equal(b.icmp.stats.echoRepliesOut, 2);
    for (const p of seen) assertChecksums(p);
  });

  it('rejects a ping with ETIMEDOUT when no reply comes', async () => {
    const { sched, a, link } = pair();
    link.filter = () => true;
    let err: SocketError | undefined;
    a.ping('10.0.0.2', { timeoutMs: 500 }).catch((e) => {
      err = e;
    });
    await pump(sched, () => err !== undefined, 2000, 100);
    assert.equal(err?.code, 'ETIMEDOUT');
  });
});

describe('VirtualHost: UDP', () => {
  it('delivers datagrams both ways with rinfo, over IPv4 and IPv6', async () => {
    const { a, b } = pair();
    const sa = a.udp.bind(5000);
    const sb = b.udp.bind(53);
    const got: Array<[string, RemoteInfo]> = [];
    sb.on('message', (msg, rinfo) => {
      got.push([msg.toString(), rinfo]);
      sb.send(`re: ${msg}`, rinfo.port, rinfo.address);
    });
    const replies: string[] = [];
    sa.on('message', (msg) => replies.push(msg.toString()));
    sa.send('hello', 53, '10.0.0.2');
    sa.send('hello6', 53, 'fd00::2');
    for (let i = 0; i < 5; i++) await tick();
    assert.deepEqual(
      got.map((g) => [g[0], g[1].address, g[1].port, g[1].family]),
      [
        ['hello', '10.0.0.1', 5000, 'IPv4'],
        ['hello6', 'fd00::1', 5000, 'IPv6'],
      ],
    );
    assert.deepEqual(replies, ['re: hello', 're: hello6']);
  });

  it('answers a datagram to a closed port with ICMP port unreachable', async () => {
    const { a, b, link } = pair();
    link.record = true;
    const s = a.udp.bind();
    assert.ok(s.port >= 49152);
    s.send('x', 9999, '10.0.0.2');
    await tick();
    assert.equal(b.udp.stats.noPort, 1);
    const icmp = link.log.find((e) => e.dir === 'ba');
    assert.ok(icmp);
    assert.equal(icmp.pkt[9], 1);
    assert.equal(icmp.pkt[20], 3);
    assert.equal(icmp.pkt[21], 3);
    assert.equal(a.icmp.stats.errorsIn, 1);
  });

  it('reports send errors to the callback and refuses a taken port', async () => {
    const { a } = pair();
    const s = a.udp.bind(7);
    assert.throws(() => a.udp.bind(7), { code: 'EADDRINUSE' });
    const errs: Array<string | undefined> = [];
    await new Promise<void>((r) =>
      s.send(new Uint8Array(2000), 7, '10.0.0.2', (e) => r(void errs.push((e as SocketError)?.code))),
    );
    await new Promise<void>((r) =>
      s.send('x', 7, '192.0.2.1', (e) => r(void errs.push((e as SocketError)?.code))),
    );
    assert.deepEqual(errs, ['EMSGSIZE', 'ENETUNREACH']);
  });
});

describe('VirtualHost: robustness', () => {
  it('drops corrupted packets on checksum and counts them by reason', async () => {
    const sched = new ManualScheduler(new ManualClock(0));
    const a = new VirtualHost({ addr: '10.0.0.1/24', scheduler: sched });
    const b = new VirtualHost({ addr: '10.0.0.2/24', scheduler: sched });
    const link = new ImpairmentLink({ seed: 5, corrupt: 1, scheduler: sched });
    link.connect(a, b);
    const s = a.udp.bind(1);
    b.udp.bind(2).on('message', () => assert.fail('a corrupted datagram was delivered'));
    for (let i = 0; i < 200; i++) s.send(`datagram ${i} with some payload to flip bits in`, 2, '10.0.0.2');
    await tick();
    const drops = b.stats.drops;
    const total =
      drops.badChecksum +
      drops.malformed +
      drops.notForHost +
      drops.fragment +
      drops.unknownProtocol +
      b.udp.stats.badChecksum +
      b.udp.stats.malformed +
      b.udp.stats.noPort;
    assert.equal(link.stats.ab.corrupted, 200);
    assert.equal(total, 200);
    assert.ok(b.udp.stats.badChecksum > 100);
    assert.ok(drops.badChecksum > 10);
  });

  it('keeps working when the link hands it one reused Buffer for every packet (like a TUN reader)', async () => {
    const sched = new ManualScheduler(new ManualClock(0));
    const a = new VirtualHost({ addr: '10.0.0.1/24', scheduler: sched });
    const b = new VirtualHost({ addr: '10.0.0.2/24', scheduler: sched });
    const scratchA = Buffer.allocUnsafe(65536);
    const scratchB = Buffer.allocUnsafe(65536);
    const relay = (scratch: Buffer, to: VirtualHost) => (p: Uint8Array) => {
      scratch.set(p);
      to.send(scratch.subarray(0, p.length));
      scratch.fill(0xaa, 0, p.length); // anything kept by reference is now garbage
    };
    a.setHandler(relay(scratchA, b));
    b.setHandler(relay(scratchB, a));
    const up = bytes(500_000, 3);
    const down = bytes(700_000, 4);
    const atServer: Buffer[] = [];
    const atClient: Buffer[] = [];
    let done = 0;
    b.tcp.listen(1, (s) => {
      s.on('data', (d: Buffer) => atServer.push(d));
      s.on('end', () => done++);
      s.end(down);
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 1 });
    c.on('data', (d: Buffer) => atClient.push(d));
    c.on('end', () => done++);
    c.end(up);
    const u = b.udp.bind(2);
    let dgram = '';
    u.on('message', (m) => {
      dgram = m.toString();
    });
    a.udp.bind(3).send('intact?', 2, '10.0.0.2');
    await pump(sched, () => done === 2 && dgram !== '', 60_000, 5);
    assert.equal(sha256(atServer), sha256(up));
    assert.equal(sha256(atClient), sha256(down));
    assert.equal(dgram, 'intact?');
  });

  it('never throws for arbitrary bytes sent into it (10,000 runs)', () => {
    const h = new VirtualHost({ addr: '10.0.0.2/24', addr6: 'fd00::2/64', scheduler: new ManualScheduler() });
    h.tcp.listen(80);
    h.udp.bind(53);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), (b) => {
        h.send(b);
      }),
      { numRuns: 10_000 },
    );
  });

  it('never throws for well-formed IPv4 headers with arbitrary TCP, UDP and ICMP bodies (10,000 runs)', () => {
    const h = new VirtualHost({ addr: '10.0.0.2/24', scheduler: new ManualScheduler() });
    h.tcp.listen(80);
    h.udp.bind(53);
    const out: Uint8Array[] = [];
    h.setHandler((p) => out.push(p));
    fc.assert(
      fc.property(
        fc.constantFrom(1, 6, 17, 99),
        fc.uint8Array({ minLength: 0, maxLength: 120, size: 'max' }),
        fc.boolean(),
        fc.constantFrom(0, 80, 53, 1234),
        fc.option(fc.constantFrom(0x02, 0x10, 0x12, 0x04, 0x11, 0x18, 0x01, 0x3f), { nil: undefined }),
        (proto, body, fixSum, port, tcpFlags) => {
          const pkt = new Uint8Array(20 + body.length);
          pkt.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
          pkt[2] = pkt.length >> 8;
          pkt[3] = pkt.length & 0xff;
          pkt.set(body, 20);
          if (body.length >= 4 && proto !== 1) {
            pkt[22] = port >> 8;
            pkt[23] = port & 0xff;
          }
          if (tcpFlags !== undefined && proto === 6 && body.length >= 20) {
            // A plausible TCP header (data offset 5) with a chosen flag combination.
            pkt[32] = 0x50;
            pkt[33] = tcpFlags;
          }
          if (body.length >= 8 && proto === 17) {
            pkt[24] = body.length >> 8;
            pkt[25] = body.length & 0xff;
          }
          const ck = checksum(pkt, 0, 20);
          pkt[10] = ck >> 8;
          pkt[11] = ck & 0xff;
          const ckOff = proto === 6 ? 36 : proto === 17 ? 26 : 22;
          if (fixSum && pkt.length >= ckOff + 2) {
            pkt[ckOff] = 0;
            pkt[ckOff + 1] = 0;
            const ps = proto === 1 ? 0 : pseudoHeaderSum4(pkt, 0, proto, body.length);
            const s = finishChecksum(onesSum(pkt, 20, body.length, ps));
            pkt[ckOff] = s >> 8;
            pkt[ckOff + 1] = s & 0xff;
          }
          h.send(pkt);
        },
      ),
      { numRuns: 10_000 },
    );
    for (const p of out) assertChecksums(p, 'reply to fuzz');
    assert.ok(h.tcp.stats.passiveOpens > 0, `passive opens ${JSON.stringify(h.tcp.stats)}`);
    assert.ok(h.tcp.stats.resetsSent > 0, `resets ${JSON.stringify(h.tcp.stats)}`);
    assert.ok(h.udp.stats.datagramsIn > 0);
    assert.ok(out.length > 0, 'some fuzz packets were answered (RST / ICMP)');
  });

  it('closes: aborts connections and drops later packets', async () => {
    const { sched, a, b } = pair();
    b.tcp.listen(80, (s) => s.resume());
    const c = a.tcp.connect({ host: '10.0.0.2', port: 80 });
    let connected = false;
    c.on('connect', () => {
      connected = true;
    });
    await pump(sched, () => connected);
    let err: SocketError | undefined;
    c.on('error', (e) => {
      err = e as SocketError;
    });
    b.close();
    await pump(sched, () => err !== undefined);
    assert.equal(err?.code, 'ECONNRESET');
    a.send(new Uint8Array(40));
    b.send(new Uint8Array(40));
    assert.equal(b.stats.drops.closed, 1);
    assert.throws(() => new VirtualHost({}), { code: 'ERR_NO_ADDRESS' });
    assert.throws(() => new VirtualHost({ addr: 'nope' }), { code: 'ERR_BAD_PREFIX' });
  });
});
