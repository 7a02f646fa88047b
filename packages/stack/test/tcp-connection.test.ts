import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImpairmentLink } from '@l3kit/core';
import { type SocketError, TcpFlag, type TcpSocket, VirtualHost } from '../src/index.js';
import { bytes, pair, pump, sha256, tcpInfo, tick } from './helpers.js';

function collect(s: TcpSocket): { chunks: Buffer[]; ended: boolean; total: () => number } {
  const st = {
    chunks: [] as Buffer[],
    ended: false,
    total: () => st.chunks.reduce((n, c) => n + c.length, 0),
  };
  s.on('data', (d: Buffer) => st.chunks.push(d));
  s.on('end', () => {
    st.ended = true;
  });
  return st;
}

describe('TCP connection establishment', () => {
  it('completes the three-way handshake and reports both endpoints', async () => {
    const { sched, a, b, link } = pair();
    link.record = true;
    let server: TcpSocket | undefined;
    b.tcp.listen(8080, (s) => {
      server = s;
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 8080 });
    let connected = false;
    c.on('connect', () => {
      connected = true;
    });
    await pump(sched, () => connected && server !== undefined);
    assert.equal(c.remoteAddress, '10.0.0.2');
    assert.equal(c.remotePort, 8080);
    assert.equal(c.localAddress, '10.0.0.1');
    assert.ok(c.localPort >= 49152);
    assert.equal(server?.remoteAddress, '10.0.0.1');
    assert.equal(server?.remotePort, c.localPort);
    assert.equal(c.tcpState, 'ESTABLISHED');
    const flags = link.log.slice(0, 3).map((e) => tcpInfo(e.pkt)?.flags);
    assert.deepEqual(flags, [TcpFlag.SYN, TcpFlag.SYN | TcpFlag.ACK, TcpFlag.ACK]);
    // SYN carries MSS 1460, window scale and SACK-permitted; both sides agreed on them.
    const info = c.tcpInfo();
    assert.equal(info.mss, 1460);
    assert.equal(info.sackEnabled, true);
    assert.deepEqual(info.windowScale, { send: 5, receive: 5 });
  });

  it('negotiates the smaller MSS and no window scaling when the peer does not offer it', async () => {
    const sched0 = pair({ mtu: 1280 });
    const { sched, a } = sched0;
    const b = new VirtualHost({
      addr: '10.0.0.2/24',
      scheduler: sched,
      tcp: { windowScaling: false, sack: false },
    });
    sched0.link.filter = undefined;
    a.setHandler((p) => b.send(p));
    b.setHandler((p) => a.send(p));
    b.tcp.listen(1, () => {});
    const c = a.tcp.connect({ host: '10.0.0.2', port: 1 });
    let ok = false;
    c.on('connect', () => {
      ok = true;
    });
    await pump(sched, () => ok);
    const info = c.tcpInfo();
    assert.equal(info.mss, 1280 - 40);
    assert.equal(info.windowScale, undefined);
    assert.equal(info.sackEnabled, false);
  });

  it('opens simultaneously when both SYNs cross (RFC 9293 figure 8)', async () => {
    const { sched, a, b } = pair({}, false);
    const link = new ImpairmentLink({ seed: 7, delayMs: 20, scheduler: sched });
    link.connect(a, b);
    const ca = a.tcp.connect({ host: '10.0.0.2', port: 5000, localPort: 6000 });
    const cb = b.tcp.connect({ host: '10.0.0.1', port: 6000, localPort: 5000 });
    let n = 0;
    ca.on('connect', () => n++);
    cb.on('connect', () => n++);
    const ra = collect(ca);
    const rb = collect(cb);
    await pump(sched, () => n === 2, 10_000, 5);
    ca.end('from a');
    cb.end('from b');
    await pump(sched, () => ra.ended && rb.ended, 10_000, 5);
    assert.equal(Buffer.concat(ra.chunks).toString(), 'from b');
    assert.equal(Buffer.concat(rb.chunks).toString(), 'from a');
    assert.equal(a.tcp.stats.passiveOpens + b.tcp.stats.passiveOpens, 0);
  });

  it('fails with ECONNREFUSED when the port is closed (RST answers the SYN)', async () => {
    const { sched, a, b } = pair();
    const c = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    let err: SocketError | undefined;
    c.on('error', (e) => {
      err = e as SocketError;
    });
    await pump(sched, () => err !== undefined);
    assert.equal(err?.code, 'ECONNREFUSED');
    assert.equal(err?.syscall, 'connect');
    assert.equal(b.tcp.stats.resetsSent, 1);
    assert.equal(a.tcp.connectionCount, 0);
  });

  it('fails with ETIMEDOUT after the SYN retries when nothing answers', async () => {
    const { sched, a, link } = pair({ tcp: { synRetries: 3 } });
    link.filter = () => true;
    const c = a.tcp.connect({ host: '10.0.0.2', port: 80 });
    let err: SocketError | undefined;
    c.on('error', (e) => {
      err = e as SocketError;
    });
    const took = await pump(sched, () => err !== undefined, 120_000, 100);
    assert.equal(err?.code, 'ETIMEDOUT');
    // 1 + 3 retransmissions with back-off 1 s, 2 s, 4 s, then 8 s until giving up.
    assert.equal(link.carried.ab, 4);
    assert.ok(took >= 15_000 && took < 16_000, `took ${took}`);
  });

  it('answers a stray ACK with RST carrying the acknowledged number', async () => {
    const { a, b, link } = pair();
    link.record = true;
    b.tcp.listen(80, () => {});
    // A bare ACK to a listening port, built by the other host's stack: a connection it
    // believes established (we fake it by sending a segment crafted from a real one).
    const c = a.tcp.connect({ host: '10.0.0.2', port: 81 });
    c.on('error', () => {});
    await tick();
    const rst = link.log.find((e) => e.dir === 'ba');
    assert.ok(rst);
    const info = tcpInfo(rst.pkt);
    assert.equal(info?.flags, TcpFlag.RST | TcpFlag.ACK);
    const syn = tcpInfo(link.log[0].pkt);
    assert.equal(info?.ack, ((syn?.seq ?? 0) + 1) >>> 0);
  });

  it('fails a connect at once when an ICMP unreachable quotes its SYN', async () => {
    for (const [host, family] of [
      ['10.0.0.2', 4],
      ['fd00::2', 6],
    ] as const) {
      const { sched, a, b, link } = pair();
      link.filter = (pkt, dir) => {
        if (dir === 'ab' && tcpInfo(pkt)?.flags === TcpFlag.SYN) {
          // The far side answers the SYN with port unreachable instead of RST (a firewall).
          b.icmp.portUnreachable(family, pkt);
          return true;
        }
        return false;
      };
      const c = a.tcp.connect({ host, port: 443 });
      let err: SocketError | undefined;
      c.on('error', (e) => {
        err = e as SocketError;
      });
      const took = await pump(sched, () => err !== undefined, 5000, 10);
      assert.equal(err?.code, 'ECONNREFUSED', host);
      assert.ok(took < 100, 'no SYN retransmission was needed');
      assert.equal(a.icmp.stats.errorsIn, 1);
    }
  });

  it('emits timeout after the idle time set with setTimeout, counting any traffic as activity', async () => {
    const { sched, a, b } = pair();
    let server: TcpSocket | undefined;
    b.tcp.listen(7, (s) => {
      server = s;
      s.resume();
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    await pump(sched, () => server !== undefined);
    let fired = 0;
    c.setTimeout(1000, () => fired++);
    assert.equal(c.timeout, 1000);
    sched.advance(600);
    c.write('keeps it busy');
    await tick();
    sched.advance(600);
    await tick();
    assert.equal(fired, 0);
    sched.advance(500);
    await tick();
    assert.equal(fired, 1);
    c.setTimeout(0);
    sched.advance(5000);
    await tick();
    assert.equal(fired, 1);
  });

  it('connects to its own address without touching the wire', async () => {
    const { sched, a, link } = pair();
    let got = '';
    a.tcp.listen(5, (s) => s.end('to myself'));
    const c = a.tcp.connect({ host: '10.0.0.1', port: 5 });
    c.on('data', (d: Buffer) => {
      got += d;
    });
    await pump(sched, () => got === 'to myself');
    assert.equal(link.carried.ab + link.carried.ba, 0);
    assert.ok(a.stats.loopback > 0);
  });

  it('drops SYNs beyond the listen backlog and lets the client retry', async () => {
    const { sched, a, b, link } = pair();
    const server = b.tcp.listen(80, () => {}, { backlog: 1 });
    // Hold the server's SYN-ACKs back so connections stay half-open.
    link.filter = (pkt, dir) => dir === 'ba' && (tcpInfo(pkt)?.flags ?? 0) === (TcpFlag.SYN | TcpFlag.ACK);
    const c1 = a.tcp.connect({ host: '10.0.0.2', port: 80 });
    const c2 = a.tcp.connect({ host: '10.0.0.2', port: 80 });
    await tick();
    assert.equal(server.halfOpen, 1);
    assert.equal(server.overflows, 1);
    assert.equal(b.tcp.stats.listenOverflows, 1);
    link.filter = undefined;
    let n = 0;
    c1.on('connect', () => n++);
    c2.on('connect', () => n++);
    await pump(sched, () => n === 2, 10_000, 50);
    assert.equal(server.accepted, 2);
  });

  it('rejects bad arguments with typed errors', () => {
    const { a } = pair();
    assert.throws(() => a.tcp.connect({ host: 'example.com', port: 80 }), { code: 'ERR_BAD_ADDRESS' });
    assert.throws(() => a.tcp.connect({ host: '10.0.0.2', port: 0 }), { code: 'ERR_BAD_PORT' });
    assert.throws(() => a.tcp.listen(70000), { code: 'ERR_BAD_PORT' });
    a.tcp.listen(80);
    assert.throws(() => a.tcp.listen(80), { code: 'EADDRINUSE' });
  });

  it('reports ENETUNREACH for an off-link destination without a gateway', async () => {
    const { a } = pair();
    const c = a.tcp.connect({ host: '192.0.2.1', port: 80 });
    const err = await new Promise<SocketError>((r) => c.on('error', (e) => r(e as SocketError)));
    assert.equal(err.code, 'ENETUNREACH');
  });
});

describe('TCP data transfer and closing', () => {
  it('carries data both ways over IPv4 and IPv6', async () => {
    for (const host of ['10.0.0.2', 'fd00::2']) {
      const { sched, a, b } = pair();
      const fromClient = bytes(300_000, 1);
      const fromServer = bytes(200_000, 2);
      let srv: ReturnType<typeof collect> | undefined;
      b.tcp.listen(7, (s) => {
        srv = collect(s);
        s.end(fromServer);
      });
      const c = a.tcp.connect({ host, port: 7 });
      const cli = collect(c);
      c.end(fromClient);
      await pump(sched, () => cli.ended && srv?.ended === true);
      assert.equal(sha256(cli.chunks), sha256(fromServer), host);
      assert.equal(sha256(srv?.chunks ?? []), sha256(fromClient), host);
      assert.equal(c.remoteFamily, host.includes(':') ? 'IPv6' : 'IPv4');
    }
  });

  it('keeps receiving after a half-close until the peer closes too', async () => {
    const { sched, a, b } = pair();
    let server: TcpSocket | undefined;
    let srvEnded = false;
    b.tcp.listen(
      7,
      (s) => {
        server = s;
        s.on('end', () => {
          srvEnded = true;
        });
        s.resume();
      },
      { allowHalfOpen: true },
    );
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7, allowHalfOpen: true });
    const cli = collect(c);
    c.end('request');
    await pump(sched, () => srvEnded);
    assert.equal(c.tcpState, 'FIN-WAIT-2');
    assert.equal(server?.tcpState, 'CLOSE-WAIT');
    // The server still writes after receiving FIN.
    server?.write('part 1 ');
    server?.end('part 2');
    await pump(sched, () => cli.ended);
    assert.equal(Buffer.concat(cli.chunks).toString(), 'part 1 part 2');
    assert.equal(c.tcpState, 'TIME-WAIT');
  });

  it('holds TIME-WAIT for 2 MSL on the side that closed first, then forgets the connection', async () => {
    const { sched, a, b } = pair({ tcp: { timeWaitMs: 30_000 } });
    b.tcp.listen(7, (s) => {
      s.resume();
      s.on('end', () => s.end());
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    c.resume();
    c.end('x');
    let closed = false;
    c.on('close', () => {
      closed = true;
    });
    await pump(sched, () => closed && b.tcp.connectionCount === 0);
    assert.equal(a.tcp.connectionCount, 1);
    assert.equal(a.tcp.connections()[0].state, 10);
    sched.advance(29_000);
    assert.equal(a.tcp.connectionCount, 1);
    sched.advance(1_500);
    assert.equal(a.tcp.connectionCount, 0);
  });

  it('resets with ECONNRESET on the peer when a socket is reset', async () => {
    const { sched, a, b, link } = pair();
    link.record = true;
    let server: TcpSocket | undefined;
    b.tcp.listen(7, (s) => {
      server = s;
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    await pump(sched, () => server !== undefined);
    let err: SocketError | undefined;
    server?.on('error', (e) => {
      err = e as SocketError;
    });
    c.resetAndDestroy();
    await pump(sched, () => err !== undefined);
    assert.equal(err?.code, 'ECONNRESET');
    assert.ok(link.log.some((e) => e.dir === 'ab' && ((tcpInfo(e.pkt)?.flags ?? 0) & TcpFlag.RST) !== 0));
    assert.equal(a.tcp.connectionCount + b.tcp.connectionCount, 0);
  });

  it('sends RST when a socket is destroyed with unread data, and FIN otherwise', async () => {
    const { sched, a, b, link } = pair();
    link.record = true;
    const servers: TcpSocket[] = [];
    const serverErrors: string[] = [];
    b.tcp.listen(7, (s) => {
      servers.push(s);
      s.on('error', (e) => serverErrors.push((e as SocketError).code));
      s.write('unread');
    });
    const c1 = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    c1.pause();
    await pump(sched, () => c1.readableLength > 0);
    c1.destroy();
    await tick();
    const last1 = tcpInfo(link.log.filter((e) => e.dir === 'ab').at(-1)?.pkt as Uint8Array);
    assert.ok((last1?.flags ?? 0) & TcpFlag.RST);
    const c2 = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    c2.resume();
    await pump(sched, () => c2.bytesRead > 0);
    c2.destroy();
    await tick();
    const last2 = tcpInfo(link.log.filter((e) => e.dir === 'ab').at(-1)?.pkt as Uint8Array);
    assert.ok((last2?.flags ?? 0) & TcpFlag.FIN);
    assert.equal((last2?.flags ?? 0) & TcpFlag.RST, 0);
    assert.deepEqual(serverErrors, ['ECONNRESET']);
  });

  it('challenges an in-window RST that does not match RCV.NXT exactly (RFC 5961)', async () => {
    const { sched, a, b, link } = pair();
    link.record = true;
    let server: TcpSocket | undefined;
    b.tcp.listen(7, (s) => {
      server = s;
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    await pump(sched, () => server !== undefined);
    // Forge a RST from the client with seq = RCV.NXT + 100 by rewriting a real ACK.
    const ackPkt = link.log.filter((e) => e.dir === 'ab').at(-1)?.pkt as Uint8Array;
    const forged = ackPkt.slice();
    const dv = new DataView(forged.buffer);
    dv.setUint32(24, (dv.getUint32(24) + 100) >>> 0);
    forged[33] = TcpFlag.RST;
    // fix the TCP checksum
    const { finishChecksum, onesSum, pseudoHeaderSum4 } = await import('@l3kit/wire');
    forged[36] = 0;
    forged[37] = 0;
    const ck = finishChecksum(
      onesSum(forged, 20, forged.length - 20, pseudoHeaderSum4(forged, 0, 6, forged.length - 20)),
    );
    forged[36] = ck >> 8;
    forged[37] = ck & 0xff;
    const before = link.carried.ba;
    b.send(forged);
    await tick();
    assert.equal(server?.tcpState, 'ESTABLISHED');
    assert.equal(link.carried.ba, before + 1); // the challenge ACK
    assert.equal(c.tcpState, 'ESTABLISHED');
  });
});
