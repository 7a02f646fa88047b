import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImpairmentLink } from '@l3kit/core';
import type { SocketError, TcpSocket } from '../src/index.js';
import { bytes, pair, pump, sha256, tcpInfo, tick } from './helpers.js';

/** Connects a→b:7 where b collects everything; returns the client and the collected chunks. */
async function setup(opts: Parameters<typeof pair>[0] = {}) {
  const p = pair(opts);
  const got: Buffer[] = [];
  let server: TcpSocket | undefined;
  let ended = false;
  p.b.tcp.listen(7, (s) => {
    server = s;
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => {
      ended = true;
    });
  });
  const c = p.a.tcp.connect({ host: '10.0.0.2', port: 7 });
  await pump(p.sched, () => server !== undefined);
  return { ...p, c, got, server: server as TcpSocket, isEnded: () => ended };
}

/** Drops the data segments a→b whose index (among first transmissions of data) is in `which`. */
function dropDataSegments(which: number[]) {
  const seen = new Set<number>();
  let index = 0;
  const dropped: number[] = [];
  return {
    dropped,
    filter: (pkt: Uint8Array, dir: 'ab' | 'ba') => {
      if (dir !== 'ab') return false;
      const t = tcpInfo(pkt);
      if (!t || t.dataLen === 0 || seen.has(t.seq)) return false;
      seen.add(t.seq);
      if (which.includes(index++)) {
        dropped.push(t.seq);
        return true;
      }
      return false;
    },
  };
}

function hasSackOption(pkt: Uint8Array): boolean {
  const t = 20;
  const doff = (pkt[t + 12] >> 4) * 4;
  for (let i = t + 20; i < t + doff; ) {
    if (pkt[i] === 1) {
      i++;
      continue;
    }
    if (pkt[i] === 0) break;
    if (pkt[i] === 5) return true;
    i += pkt[i + 1];
  }
  return false;
}

describe('TCP loss recovery', () => {
  it('retransmits a lost tail segment after the RFC 6298 timeout', async () => {
    const { sched, c, got, link, isEnded } = await setup();
    const data = bytes(3000);
    link.filter = dropDataSegments([2]).filter; // 3 segments: 1460, 1460, 80 — drop the last
    c.end(data);
    const took = await pump(sched, isEnded, 10_000, 5);
    assert.equal(sha256(got), sha256(data));
    const info = c.tcpInfo();
    assert.ok(info.timeouts >= 1, 'a timeout happened');
    assert.ok(took >= 200, `recovery waited for the RTO (${took} ms)`);
  });

  it('fast-retransmits after three duplicate ACKs without waiting for the timer', async () => {
    const { sched, c, got, link, isEnded } = await setup();
    const data = bytes(100_000);
    const d = dropDataSegments([3]);
    link.filter = d.filter;
    c.end(data);
    await pump(sched, isEnded, 10_000, 1);
    assert.equal(sha256(got), sha256(data));
    const info = c.tcpInfo();
    assert.equal(d.dropped.length, 1);
    assert.equal(info.timeouts, 0);
    assert.ok(info.fastRetransmits >= 1);
    assert.ok(info.dupAcks >= 3);
    assert.equal(info.retransmits, 1);
  });

  it('repairs several holes in one window from SACK information, each retransmitted once', async () => {
    const { sched, c, got, link, isEnded } = await setup();
    link.record = true;
    const data = bytes(200_000);
    const d = dropDataSegments([4, 7, 11]);
    link.filter = d.filter;
    c.end(data);
    await pump(sched, isEnded, 10_000, 1);
    assert.equal(sha256(got), sha256(data));
    const info = c.tcpInfo();
    assert.equal(info.timeouts, 0);
    assert.equal(info.retransmits, 3);
    assert.equal(info.fastRetransmits, 3);
    const sackAcks = link.log.filter((e) => e.dir === 'ba' && hasSackOption(e.pkt));
    assert.ok(sackAcks.length > 0, 'the receiver sent SACK blocks');
    // Each dropped sequence number was sent exactly twice (original + one retransmission).
    for (const seq of d.dropped) {
      const n = link.log.filter(
        (e) => e.dir === 'ab' && tcpInfo(e.pkt)?.seq === seq && (tcpInfo(e.pkt)?.dataLen ?? 0) > 0,
      ).length;
      assert.equal(n, 2, `segment ${seq}`);
    }
  });

  it('recovers the same holes without SACK (NewReno partial ACKs)', async () => {
    const { sched, c, got, link, isEnded } = await setup({ tcp: { sack: false } });
    const data = bytes(200_000);
    link.filter = dropDataSegments([4, 7, 11]).filter;
    c.end(data);
    await pump(sched, isEnded, 10_000, 1);
    assert.equal(sha256(got), sha256(data));
    assert.equal(c.tcpInfo().sackEnabled, false);
    assert.ok(c.tcpInfo().fastRetransmits >= 1);
  });

  it('gives up with ETIMEDOUT when data is never acknowledged', async () => {
    const { sched, c, link } = await setup({ tcp: { maxRetransmits: 4 } });
    link.filter = (_p, dir) => dir === 'ab';
    let err: SocketError | undefined;
    c.on('error', (e) => {
      err = e as SocketError;
    });
    c.write('hello');
    await pump(sched, () => err !== undefined, 600_000, 100);
    assert.equal(err?.code, 'ETIMEDOUT');
    assert.equal(c.tcpInfo().timeouts, 5);
  });
});

describe('TCP flow control', () => {
  it('shrinks the advertised window when the application does not read, probes the zero window, then resumes', async () => {
    const { sched, c, got, server, link, isEnded } = await setup({ tcp: { rcvBuf: 65536 } });
    link.record = true;
    server.pause();
    const data = bytes(300_000);
    c.end(data);
    await pump(sched, () => c.tcpInfo().windowProbes >= 2, 60_000, 50);
    const lastAck = link.log.filter((e) => e.dir === 'ba').at(-1);
    assert.equal(tcpInfo(lastAck?.pkt as Uint8Array)?.window, 0, 'zero window advertised');
    assert.ok(server.readableLength >= 65536 - 1460 && server.readableLength <= 65536 + 1460);
    server.resume();
    await pump(sched, isEnded, 120_000, 50);
    assert.equal(sha256(got), sha256(data));
  });

  it('reopens the window as a paused reader consumes with read()', async () => {
    const { sched, c, server, isEnded } = await setup({ tcp: { rcvBuf: 65536 } });
    server.removeAllListeners('data');
    server.pause();
    const data = bytes(400_000, 9);
    c.end(data);
    const got: Buffer[] = [];
    let reads = 0;
    await pump(
      sched,
      () => {
        for (;;) {
          const chunk = server.read(8192) as Buffer | null;
          if (!chunk) break;
          got.push(chunk);
          reads++;
        }
        return isEnded() || got.reduce((n, g) => n + g.length, 0) === data.length;
      },
      120_000,
      5,
    );
    assert.equal(sha256(got), sha256(data));
    assert.ok(reads >= 400_000 / 8192);
    assert.ok(c.tcpInfo().timeouts === 0, 'window updates, not timeouts, kept it going');
  });

  it('applies back-pressure: write() returns false while the send buffer is full, then drains', async () => {
    const { sched, c, server } = await setup({ tcp: { sndBuf: 100_000, rcvBuf: 65536 } });
    server.pause();
    let writes = 0;
    while (c.write(bytes(16384, writes))) writes++;
    assert.ok(writes < 40, `write() returned false after ${writes} writes`);
    let drained = false;
    c.on('drain', () => {
      drained = true;
    });
    await pump(sched, () => false, 2_000, 50).catch(() => {});
    assert.equal(drained, false, 'no drain while the reader is stalled');
    assert.ok(c.bufferSize > 100_000 - 16384);
    server.resume();
    await pump(sched, () => drained, 60_000, 10);
  });

  it('uses window scaling to keep more than 64 KiB in flight over a long path', async () => {
    const { sched, a, b } = pair({ tcp: { rcvBuf: 4 << 20 } }, false);
    new ImpairmentLink({ seed: 1, delayMs: 25, scheduler: sched }).connect(a, b);
    let ended = false;
    b.tcp.listen(7, (s) => {
      s.resume();
      s.on('end', () => {
        ended = true;
      });
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    c.end(bytes(3_000_000));
    let max = 0;
    await pump(
      sched,
      () => {
        max = Math.max(max, c.tcpInfo().unacked);
        return ended;
      },
      60_000,
      1,
    );
    const info = c.tcpInfo();
    assert.ok(info.windowScale && info.windowScale.send >= 6);
    assert.ok(max > 65535 * 4, `max in flight ${max}`);
  });

  it('delays the ACK of a lone segment by the delayed-ACK timeout', async () => {
    const { sched, c, link } = await setup();
    link.record = true;
    const before = link.log.length;
    c.write('x');
    await tick();
    const after = link.log.slice(before);
    assert.equal(after.filter((e) => e.dir === 'ab').length, 1);
    assert.equal(after.filter((e) => e.dir === 'ba').length, 0, 'no immediate ACK');
    sched.advance(39);
    await tick();
    assert.equal(link.log.slice(before).filter((e) => e.dir === 'ba').length, 0);
    sched.advance(1);
    await tick();
    assert.equal(link.log.slice(before).filter((e) => e.dir === 'ba').length, 1, 'ACK after 40 ms');
  });
});

describe('TCP keep-alive', () => {
  it('probes an idle connection and keeps it while probes are answered', async () => {
    const { sched, c, server } = await setup({ tcp: { keepAliveIntervalMs: 1000, keepAliveProbes: 3 } });
    c.setKeepAlive(true, 5000);
    let err: Error | undefined;
    c.on('error', (e) => {
      err = e;
    });
    await pump(sched, () => false, 30_000, 500).catch(() => {});
    assert.equal(err, undefined);
    assert.ok(c.tcpInfo().keepAliveProbes >= 5);
    assert.equal(server.tcpState, 'ESTABLISHED');
  });

  it('fails with ETIMEDOUT when keep-alive probes go unanswered', async () => {
    const { sched, c, link } = await setup({ tcp: { keepAliveIntervalMs: 1000, keepAliveProbes: 3 } });
    c.setKeepAlive(true, 5000);
    link.filter = () => true;
    let err: SocketError | undefined;
    c.on('error', (e) => {
      err = e as SocketError;
    });
    const took = await pump(sched, () => err !== undefined, 30_000, 100);
    assert.equal(err?.code, 'ETIMEDOUT');
    assert.equal(c.tcpInfo().keepAliveProbes, 3);
    assert.ok(took >= 8000 && took <= 9200, `took ${took}`);
  });
});
