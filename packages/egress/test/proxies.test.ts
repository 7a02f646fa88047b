import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  closedPort,
  connected,
  connectProxy,
  echoServer,
  failure,
  readAll,
  resolveVia,
  setup,
  sha256,
  socksServer,
  until,
} from './helpers.js';

test('a connection routed to a SOCKS5 proxy is carried by it and the upstream sees the proxy', async () => {
  const up = await echoServer();
  const proxy = await socksServer();
  const t = setup({
    proxies: { socks: { type: 'socks5', host: '127.0.0.1', port: proxy.port } },
    defaultAction: 'socks',
  });
  try {
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    const data = randomBytes(200_000);
    const got = readAll(s);
    s.end(data);
    assert.equal(sha256(await got), sha256(data));
    assert.deepEqual(proxy.log, [{ cmd: 1, host: '127.0.0.1', port: up.port }]);
    assert.equal(t.egress.stats.proxies.socks.connects, 1);
  } finally {
    t.close();
    await proxy.close();
    up.close();
  }
});

test('SOCKS5 username/password authentication is used, and a rejected password takes the proxy down', async () => {
  const up = await echoServer();
  const proxy = await socksServer({ username: 'alice', password: 's3cret' });
  const good = setup({
    proxies: {
      p: { type: 'socks5', host: '127.0.0.1', port: proxy.port, username: 'alice', password: 's3cret' },
    },
    defaultAction: 'p',
  });
  const bad = setup(
    {
      proxies: {
        p: { type: 'socks5', host: '127.0.0.1', port: proxy.port, username: 'alice', password: 'wrong' },
      },
      defaultAction: 'p',
    },
    'bob',
  );
  try {
    const s = good.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    s.destroy();
    const events: string[] = [];
    bad.egress.on('proxyDown', (i) => events.push(`down ${i.proxy} ${i.code}`));
    bad.egress.on('proxyError', (i) => events.push(`error ${i.proxy} ${i.code}`));
    const err = await failure(bad.client.tcp.connect({ host: '127.0.0.1', port: up.port }));
    assert.equal(err.code, 'EHOSTUNREACH');
    assert.deepEqual(events, ['error p ERR_PROXY_AUTH', 'down p ERR_PROXY_AUTH']);
    assert.equal(bad.egress.stats.proxies.p.down, true);
    assert.equal(bad.egress.stats.tcp.proxyFailures, 1);
  } finally {
    good.close();
    bad.close();
    await proxy.close();
    up.close();
  }
});

test('SOCKS5 reply codes map to what the tenant sees: refused → RST, not allowed → ICMP prohibited', async () => {
  const port = await closedPort();
  const proxy = await socksServer();
  const strict = await socksServer({ forceReply: 2 });
  const t = setup({
    proxies: {
      p: { type: 'socks5', host: '127.0.0.1', port: proxy.port },
      strict: { type: 'socks5', host: '127.0.0.1', port: strict.port },
    },
    rules: [{ ports: 9, action: 'strict' }],
    defaultAction: 'p',
  });
  try {
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.1', port }))).code, 'ECONNREFUSED');
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.1', port: 9 }))).code, 'EACCES');
    assert.equal(t.egress.stats.tcp.refused, 1);
    assert.equal(t.egress.stats.tcp.denied, 1);
    assert.equal(
      t.egress.stats.proxies.p.down,
      false,
      'a refusal relayed by the proxy is not a proxy failure',
    );
  } finally {
    t.close();
    await proxy.close();
    await strict.close();
  }
});

test('a proxy that is down gives ICMP host unreachable, proxyDown once, and proxyUp when it is back', async () => {
  const up = await echoServer();
  const port = await closedPort();
  const t = setup({ proxies: { p: { type: 'socks5', host: '127.0.0.1', port } }, defaultAction: 'p' });
  try {
    const events: string[] = [];
    t.egress.on('proxyDown', (i) => events.push(`down ${i.code}`));
    t.egress.on('proxyUp', () => events.push('up'));
    for (let i = 0; i < 2; i++)
      assert.equal(
        (await failure(t.client.tcp.connect({ host: '127.0.0.1', port: up.port }))).code,
        'EHOSTUNREACH',
      );
    assert.deepEqual(events, ['down ERR_PROXY_UNAVAILABLE']);
    assert.equal(t.egress.stats.proxies.p.failures, 2);
    // The proxy comes up on the same port.
    const proxy = await socksServer();
    proxy.server.close();
    const { createServer } = await import('node:net');
    const again = createServer((c) => proxy.server.emit('connection', c));
    await new Promise<void>((r) => again.listen(port, '127.0.0.1', () => r()));
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    s.destroy();
    assert.deepEqual(events, ['down ERR_PROXY_UNAVAILABLE', 'up']);
    assert.equal(t.egress.stats.proxies.p.down, false);
    again.close();
  } finally {
    t.close();
    up.close();
  }
});

test('an HTTP CONNECT proxy with Basic authentication carries the connection', async () => {
  const up = await echoServer();
  const proxy = await connectProxy({ username: 'u', password: 'p w' });
  const t = setup({
    proxies: { web: { type: 'http', host: '127.0.0.1', port: proxy.port, username: 'u', password: 'p w' } },
    defaultAction: 'web',
  });
  try {
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    const data = randomBytes(100_000);
    const got = readAll(s);
    s.end(data);
    assert.equal(sha256(await got), sha256(data));
    assert.deepEqual(proxy.log, [`127.0.0.1:${up.port}`]);
  } finally {
    t.close();
    await proxy.close();
    up.close();
  }
});

test('HTTP CONNECT answers map: 403 → prohibited, 407 → proxy failure, 502 → unreachable', async () => {
  const port = await closedPort();
  const proxy = await connectProxy({ forbid: '127.0.0.2' });
  const authProxy = await connectProxy({ username: 'u', password: 'x' });
  const t = setup({
    proxies: {
      web: { type: 'http', host: '127.0.0.1', port: proxy.port },
      auth: { type: 'http', host: '127.0.0.1', port: authProxy.port, username: 'u', password: 'wrong' },
    },
    rules: [{ ports: 7, action: 'auth' }],
    defaultAction: 'web',
  });
  try {
    const failures: string[] = [];
    t.egress.on('dialError', (i) => failures.push(`${i.failure} ${i.code}`));
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.2', port: 80 }))).code, 'EACCES');
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.1', port: 7 }))).code, 'EHOSTUNREACH');
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.1', port }))).code, 'EHOSTUNREACH');
    assert.deepEqual(failures, [
      'denied ERR_EGRESS_DENIED',
      'proxy ERR_PROXY_AUTH',
      'unreachable ERR_EGRESS_UNREACHABLE',
    ]);
  } finally {
    t.close();
    await proxy.close();
    await authProxy.close();
  }
});

test('fake-IP names reach proxies by name (SOCKS5 domain address type, CONNECT host:port)', async () => {
  const up = await echoServer();
  const hosts = { 'socks.test': '127.0.0.1', 'web.test': '127.0.0.1' };
  const socks = await socksServer({ hosts });
  const http = await connectProxy({ hosts });
  const t = setup({
    dns: { fakeIp: '198.18.0.0/16' },
    proxies: {
      socks: { type: 'socks5', host: '127.0.0.1', port: socks.port },
      web: { type: 'http', host: '127.0.0.1', port: http.port },
    },
    rules: [
      { domain: 'web.test', action: 'web' },
      { domain: 'socks.test', action: 'socks' },
    ],
  });
  try {
    const a = await resolveVia(t, 'socks.test');
    const b = await resolveVia(t, 'web.test');
    assert.match(a, /^198\.18\./);
    assert.notEqual(a, b);
    for (const addr of [a, b]) {
      const s = t.client.tcp.connect({ host: addr, port: up.port });
      await connected(s);
      const got = readAll(s);
      s.end(`via ${addr}`);
      assert.equal(String(await got), `via ${addr}`);
    }
    assert.deepEqual(socks.log, [{ cmd: 1, host: 'socks.test', port: up.port }]);
    assert.deepEqual(http.log, [`web.test:${up.port}`]);
  } finally {
    t.close();
    await socks.close();
    await http.close();
    up.close();
  }
});

test('a proxy group sends each client through the same member every time', async () => {
  const up = await echoServer();
  const p1 = await socksServer();
  const p2 = await socksServer();
  const t = setup({
    proxies: {
      one: { type: 'socks5', host: '127.0.0.1', port: p1.port },
      two: { type: 'socks5', host: '127.0.0.1', port: p2.port },
    },
    groups: { pool: ['one', 'two'] },
    defaultAction: 'pool',
  });
  try {
    for (let i = 0; i < 5; i++) {
      const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
      await connected(s);
      s.destroy();
    }
    await until(() => p1.log.length + p2.log.length === 5, 2000, 'five connections');
    assert.ok(p1.log.length === 5 || p2.log.length === 5, `split ${p1.log.length}/${p2.log.length}`);
  } finally {
    t.close();
    await p1.close();
    await p2.close();
    up.close();
  }
});

test('with remoteDns off, names are resolved by the device and the proxy gets the address', async () => {
  const up = await echoServer();
  const socks = await socksServer();
  const t = setup({
    dns: { fakeIp: true, hosts: { 'named.test': '127.0.0.1' } },
    proxies: { socks: { type: 'socks5', host: '127.0.0.1', port: socks.port } },
    defaultAction: 'socks',
    remoteDns: false,
  });
  try {
    const a = await resolveVia(t, 'named.test');
    const s = t.client.tcp.connect({ host: a, port: up.port });
    await connected(s);
    s.destroy();
    assert.deepEqual(socks.log, [{ cmd: 1, host: '127.0.0.1', port: up.port }]);
  } finally {
    t.close();
    await socks.close();
    up.close();
  }
});
