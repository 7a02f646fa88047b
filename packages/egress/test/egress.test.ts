import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VirtualHost } from '@l3kit/stack';
import { buildPacket, TcpFlags, TcpSegment } from '@l3kit/wire';
import fc from 'fast-check';
import { DialError, type DialFailure } from '../src/index.js';
import {
  captureTenantHandler,
  closedPort,
  connected,
  echoServer,
  emitFromTenant,
  failure,
  readAll,
  resolveVia,
  setup,
  sha256,
  until,
} from './helpers.js';

test('a tenant connection to any address leaves directly from the host and carries data both ways', async () => {
  const up = await echoServer();
  const t = setup();
  t.link.record = true;
  try {
    const events: string[] = [];
    t.egress.on('connection', (i) => events.push(`connection ${i.dst}:${i.dstPort} via ${i.route}`));
    t.egress.on('connect', () => events.push('connect'));
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    const data = randomBytes(300_000);
    const got = readAll(s);
    s.end(data);
    const echoed = await got;
    assert.equal(sha256(echoed), sha256(data));
    assert.deepEqual(events, [`connection 127.0.0.1:${up.port} via direct`, 'connect']);
    assert.equal(up.peers.length, 1);
    assert.match(up.peers[0], /^127\.0\.0\.1:/);
    await until(() => t.egress.stats.tcp.active === 0, 5000, 'the connection to close');
    assert.equal(t.egress.stats.tcp.bytesUp, data.length);
    assert.equal(t.egress.stats.tcp.bytesDown, data.length);
    const [alice] = t.egress.tenantStats();
    assert.deepEqual([alice.bytesUp, alice.bytesDown, alice.activeTcp], [data.length, data.length, 0]);
    assert.ok(t.link.received.length > 10);
  } finally {
    t.close();
    up.close();
  }
});

test('a refused upstream connection answers the tenant SYN with a RST', async () => {
  const port = await closedPort();
  const t = setup();
  try {
    const err = await failure(t.client.tcp.connect({ host: '127.0.0.1', port }));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(t.egress.stats.tcp.refused, 1);
  } finally {
    t.close();
  }
});

test('a denied destination is answered with ICMP administratively prohibited, or a RST when configured', async () => {
  const up = await echoServer();
  const t = setup({ rules: [{ cidr: '127.0.0.0/8', ports: up.port, action: 'deny' }] });
  const r = setup({ rules: [{ cidr: '127.0.0.1', action: 'deny' }], deniedResponse: 'rst' }, 'bob');
  try {
    const denies: number[] = [];
    t.egress.on('deny', (i) => denies.push(i.rule));
    const err = await failure(t.client.tcp.connect({ host: '127.0.0.1', port: up.port }));
    assert.equal(err.code, 'EACCES');
    assert.deepEqual(denies, [0]);
    assert.equal(t.egress.stats.icmp.unreachablesSent, 1);
    const err2 = await failure(r.client.tcp.connect({ host: '127.0.0.1', port: up.port }));
    assert.equal(err2.code, 'ECONNREFUSED');
    assert.equal(r.egress.stats.tcp.denied, 1);
    assert.equal(up.peers.length, 0, 'nothing reached the upstream');
  } finally {
    t.close();
    r.close();
    up.close();
  }
});

test('host-local destinations are denied unless allowLoopback is set', async () => {
  const up = await echoServer();
  const t = setup({ allowLoopback: false });
  try {
    const err = await failure(t.client.tcp.connect({ host: '127.0.0.1', port: up.port }));
    assert.equal(err.code, 'EACCES');
    assert.equal(up.peers.length, 0);
  } finally {
    t.close();
    up.close();
  }
});

test('an unreachable or timed-out upstream is answered with ICMP host unreachable, or a RST when configured', async () => {
  const failing = (failure: DialFailure) => ({
    name: `fail-${failure}`,
    connect: () => Promise.reject(new DialError(failure, 'ERR_TEST', `test ${failure}`)),
  });
  const t = setup({
    dialers: [failing('unreachable'), failing('timeout')],
    rules: [
      { ports: 1001, action: 'fail-unreachable' },
      { ports: 1002, action: 'fail-timeout' },
    ],
  });
  const r = setup(
    { dialers: [failing('unreachable')], defaultAction: 'fail-unreachable', unreachableResponse: 'rst' },
    'bob',
  );
  try {
    const errors: string[] = [];
    t.egress.on('dialError', (i) => errors.push(`${i.dstPort} ${i.failure} ${i.code}`));
    assert.equal(
      (await failure(t.client.tcp.connect({ host: '192.0.2.1', port: 1001 }))).code,
      'EHOSTUNREACH',
    );
    assert.equal(
      (await failure(t.client.tcp.connect({ host: '192.0.2.1', port: 1002 }))).code,
      'EHOSTUNREACH',
    );
    assert.deepEqual(errors, ['1001 unreachable ERR_TEST', '1002 timeout ERR_TEST']);
    assert.equal(t.egress.stats.tcp.unreachable, 1);
    assert.equal(t.egress.stats.tcp.timeouts, 1);
    assert.equal(
      (await failure(r.client.tcp.connect({ host: '192.0.2.1', port: 1001 }))).code,
      'ECONNREFUSED',
    );
  } finally {
    t.close();
    r.close();
  }
});

test('a real connect timeout toward a silent destination maps to ICMP host unreachable', async () => {
  const t = setup({
    connectTimeoutMs: 200,
    direct: { resolve: () => new Promise(() => {}) },
    dns: { fakeIp: true },
  });
  try {
    // A fake-IP destination whose name never resolves: the dial times out.
    const keepAlive = setInterval(() => {}, 1000); // the device's timers do not hold the process
    const name = 'silent.example';
    const addr = await resolveVia(t, name);
    const t0 = performance.now();
    const err = await failure(t.client.tcp.connect({ host: addr, port: 80 }));
    clearInterval(keepAlive);
    assert.equal(err.code, 'EHOSTUNREACH');
    assert.ok(performance.now() - t0 >= 150);
    assert.equal(t.egress.stats.tcp.timeouts, 1);
  } finally {
    t.close();
  }
});

test('segments of no connection are answered with RST and counted', async () => {
  const t = setup();
  try {
    const got: Uint8Array[] = [];
    t.link.record = true;
    t.egress.connections();
    const pkt = buildPacket({
      src: '10.0.0.2',
      dst: '192.0.2.7',
      tcp: { srcPort: 40000, dstPort: 80, seq: 1, ack: 12345, flags: TcpFlags.ACK },
    });
    // Deliver as if the tenant emitted it: through the handler the device installed.
    emitFromTenant(t, pkt);
    for (const p of t.link.received) got.push(p);
    assert.equal(t.egress.stats.tcp.strayResets, 1);
    const rst = got.find((p) => p[9] === 6);
    assert.ok(rst);
    const seg = TcpSegment.checked(rst, 20) as TcpSegment;
    assert.equal(seg.flags, TcpFlags.RST);
    assert.equal(seg.seq, 12345);
    assert.equal(seg.dstPort, 40000);
  } finally {
    t.close();
  }
});

test('the per-tenant connection limit refuses further connections and emits a limit event', async () => {
  const up = await echoServer();
  const t = setup({ maxConnectionsPerTenant: 2 });
  const other = t.egress.connectL3(new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1' }), {
    name: 'carol',
  });
  try {
    const limits: string[] = [];
    t.egress.on('limit', (i) => limits.push(`${i.tenant} ${i.protocol} ${i.limit}`));
    const a = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    const b = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await Promise.all([connected(a), connected(b)]);
    const err = await failure(t.client.tcp.connect({ host: '127.0.0.1', port: up.port }));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.deepEqual(limits, ['alice tcp 2']);
    assert.equal(t.egress.stats.tcp.limited, 1);
    const [alice, carol] = t.egress.tenantStats();
    assert.deepEqual([alice.name, alice.activeTcp, alice.tcpOpened, alice.limited], ['alice', 2, 2, 1]);
    assert.deepEqual([carol.name, carol.activeTcp, carol.limited], ['carol', 0, 0]);
    a.destroy();
    await until(() => t.egress.stats.tcp.active === 1, 5000, 'a slot to free up');
    const c = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(c);
    c.destroy();
    b.destroy();
  } finally {
    other();
    t.close();
    up.close();
  }
});

test('an idle connection is reset on both sides after the idle timeout', async () => {
  const up = await echoServer();
  const t = setup({ tcpIdleTimeoutMs: 300 });
  try {
    const closes: string[] = [];
    t.egress.on('close', (i) => closes.push(i.reason));
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    s.write('x');
    const err = await new Promise<Error & { code?: string }>((r) => s.once('error', r));
    assert.equal(err.code, 'ECONNRESET');
    await until(() => closes.length === 1, 2000, 'the close event');
    assert.deepEqual(closes, ['idle']);
    assert.equal(t.egress.stats.tcp.idleClosed, 1);
    await until(() => up.sockets[0]?.destroyed === true, 2000, 'the upstream socket to close');
  } finally {
    t.close();
    up.close();
  }
});

test('detaching a tenant resets its upstream connections and frees its state', async () => {
  const up = await echoServer();
  const t = setup();
  try {
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    s.write('hello');
    await until(() => up.sockets.length === 1, 2000, 'the upstream connection');
    const closed = new Promise<void>((r) => up.sockets[0].once('close', () => r()));
    t.detach();
    await closed;
    assert.equal(t.egress.stats.tcp.active, 0);
    assert.deepEqual(t.egress.tenantNames(), []);
    assert.equal(t.egress.connections().length, 0);
  } finally {
    t.close();
    up.close();
  }
});

test('ICMP echo requests are answered by the device unless denied', async () => {
  const t = setup({ rules: [{ cidr: '192.0.2.66', action: 'deny' }] });
  try {
    const r = await t.client.ping('198.51.100.9', { timeoutMs: 1000 });
    assert.ok(r.rttMs >= 0);
    assert.equal(t.egress.stats.icmp.echoReplies, 1);
    const keepAlive = setInterval(() => {}, 1000); // the stack's ping timer does not hold the process
    await assert.rejects(t.client.ping('192.0.2.66', { timeoutMs: 300 }));
    clearInterval(keepAlive);
    assert.equal(t.egress.stats.icmp.unreachablesSent, 1);
  } finally {
    t.close();
  }
});

test('arbitrary bytes from a tenant never throw out of the device', () => {
  const t = setup();
  try {
    const send = captureTenantHandler(t);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 2 }), (bytes, kind) => {
        const p = Uint8Array.from(bytes);
        if (kind > 0 && p.length >= 20) {
          // Make it look like IPv4 so deeper parsers run.
          p[0] = 0x45;
          p[9] = kind === 1 ? 6 : 17;
        }
        send(p);
      }),
      { numRuns: 10_000 },
    );
    const d = t.egress.stats.drops;
    assert.ok(d.malformed + d.badChecksum + d.unsupported > 0);
  } finally {
    t.close();
  }
});

test('a client that reuses the 4-tuple of a connection that just closed gets a new connection at once', async () => {
  const up = await echoServer();
  const t = setup();
  try {
    for (let i = 0; i < 3; i++) {
      const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port, localPort: 40001 });
      await connected(s);
      assert.equal(
        t.egress.stats.drops.dialing,
        0,
        'the SYN was dropped instead of opening a new connection',
      );
      const got = readAll(s);
      s.end(`round ${i}`);
      assert.equal(String(await got), `round ${i}`);
      await until(() => t.egress.stats.tcp.active === 0, 2000, 'the close');
    }
    assert.equal(up.peers.length, 3);
    assert.equal(t.egress.stats.tcp.established, 3);
  } finally {
    t.close();
    up.close();
  }
});

test('an upstream connection is released when the tenant never completes its handshake', async () => {
  const up = await echoServer();
  const t = setup({ connectTimeoutMs: 300 });
  try {
    const send = captureTenantHandler(t);
    // A SYN the tenant host knows nothing about: it answers the device's SYN-ACK with RST.
    send(
      buildPacket({
        src: '10.0.0.2',
        dst: '127.0.0.1',
        tcp: { srcPort: 5555, dstPort: up.port, seq: 1000, flags: TcpFlags.SYN },
      }),
    );
    await until(() => up.sockets.length === 1, 2000, 'the upstream connection');
    await until(() => up.sockets[0].destroyed, 3000, 'the upstream socket to be released');
    assert.equal(t.egress.stats.tcp.timeouts, 1);
    assert.equal(t.egress.stats.tcp.active, 0);
  } finally {
    t.close();
    up.close();
  }
});
