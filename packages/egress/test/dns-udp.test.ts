import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { buildDnsQuery, buildDnsResponse, DnsType, parseDnsAnswers, parseDnsQuery } from '../src/index.js';
import {
  connected,
  echoServer,
  failure,
  readAll,
  resolveVia,
  setup,
  socksServer,
  udpEcho,
  until,
} from './helpers.js';

/** Sends one datagram from a tenant UDP socket and resolves with the first answer. */
async function udpRoundTrip(t: ReturnType<typeof setup>, host: string, port: number, data: string) {
  const s = t.client.udp.bind(0);
  try {
    const got = new Promise<{ msg: string; from: string }>((r) =>
      s.once('message', (m, ri) => r({ msg: String(m), from: `${ri.address}:${ri.port}` })),
    );
    s.send(data, port, host);
    return await got;
  } finally {
    s.close();
  }
}

test('the fake-IP pool gives each name its own address, stable per name, and empty AAAA answers', async () => {
  const t = setup({ dns: { fakeIp: '198.18.0.0/24' } });
  try {
    const a = await resolveVia(t, 'one.test');
    const b = await resolveVia(t, 'two.test');
    assert.match(a, /^198\.18\.0\.\d+$/);
    assert.notEqual(a, b);
    assert.equal(await resolveVia(t, 'ONE.test.'), a);
    const s = t.client.udp.bind(0);
    const got = new Promise<Buffer>((r) => s.once('message', (m) => r(m)));
    s.send(buildDnsQuery(9, 'one.test', DnsType.AAAA), 53, '10.0.0.1');
    const p = parseDnsAnswers(await got);
    s.close();
    assert.deepEqual(p && { rcode: p.rcode, n: p.answers.length }, { rcode: 0, n: 0 });
    assert.equal(t.egress.dnsStats?.fakeAnswers, 4);
  } finally {
    t.close();
  }
});

test('a domain deny rule blocks one name while another name on the same address passes', async () => {
  const up = await echoServer();
  const t = setup({
    dns: { fakeIp: true, hosts: { 'good.test': '127.0.0.1', 'bad.test': '127.0.0.1' } },
    rules: [{ domain: 'bad.test', action: 'deny' }],
  });
  try {
    const good = await resolveVia(t, 'good.test');
    const bad = await resolveVia(t, 'bad.test');
    const denied: Array<string | undefined> = [];
    t.egress.on('deny', (i) => denied.push(i.name));
    assert.equal((await failure(t.client.tcp.connect({ host: bad, port: up.port }))).code, 'EACCES');
    const s = t.client.tcp.connect({ host: good, port: up.port });
    await connected(s);
    const got = readAll(s);
    s.end('ok');
    assert.equal(String(await got), 'ok');
    assert.deepEqual(denied, ['bad.test']);
    assert.equal(up.peers.length, 1);
  } finally {
    t.close();
    up.close();
  }
});

test('without fake IPs, recorded answers give connections their names for domain rules', async () => {
  const up = await echoServer();
  const t = setup({
    dns: { hosts: { 'blocked.test': '127.0.0.1' } },
    rules: [{ domain: 'blocked.test', action: 'deny' }],
  });
  try {
    // Before any lookup the address has no name: the connection passes.
    const s = t.client.tcp.connect({ host: '127.0.0.1', port: up.port });
    await connected(s);
    s.destroy();
    assert.equal(await resolveVia(t, 'blocked.test'), '127.0.0.1');
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.1', port: up.port }))).code, 'EACCES');
  } finally {
    t.close();
    up.close();
  }
});

test('queries are forwarded to the upstream resolver and its answers are recorded', async () => {
  const resolver = createSocket('udp4');
  const asked: string[] = [];
  resolver.on('message', (m, r) => {
    const q = parseDnsQuery(m);
    if (!q) return;
    asked.push(q.name);
    resolver.send(buildDnsResponse(m, q, 0, ['127.0.0.1'], 120), r.port, r.address);
  });
  await new Promise<void>((r) => resolver.bind(0, '127.0.0.1', () => r()));
  const up = await echoServer();
  const t = setup({
    dns: { upstream: `127.0.0.1:${resolver.address().port}` },
    rules: [{ domain: 'example.org', action: 'deny' }],
  });
  try {
    assert.equal(await resolveVia(t, 'www.example.org'), '127.0.0.1');
    assert.deepEqual(asked, ['www.example.org']);
    assert.equal(t.egress.dnsStats?.forwarded, 1);
    assert.equal((await failure(t.client.tcp.connect({ host: '127.0.0.1', port: up.port }))).code, 'EACCES');
  } finally {
    t.close();
    resolver.close();
    up.close();
  }
});

test('a malformed query to port 53 is dropped and counted', async () => {
  const t = setup({ dns: { fakeIp: true } });
  try {
    const s = t.client.udp.bind(0);
    s.send(Buffer.from([1, 2, 3]), 53, '10.0.0.1');
    await until(() => t.egress.dnsStats?.malformed === 1, 1000, 'the drop');
    s.close();
  } finally {
    t.close();
  }
});

test('UDP leaves directly from a host socket and replies come back from the destination', async () => {
  const echo = await udpEcho();
  const t = setup();
  try {
    const r = await udpRoundTrip(t, '127.0.0.1', echo.port, 'ping');
    assert.deepEqual(r, { msg: 'ping', from: `127.0.0.1:${echo.port}` });
    assert.match(echo.sources[0], /^127\.0\.0\.1:\d+$/);
    assert.equal(t.egress.stats.udp.flowsOpened, 1);
    assert.equal(t.egress.stats.udp.datagramsDown, 1);
  } finally {
    t.close();
    echo.sock.close();
  }
});

test('UDP routed to a SOCKS5 proxy goes through a UDP association', async () => {
  const echo = await udpEcho();
  const proxy = await socksServer();
  const t = setup({
    proxies: { s: { type: 'socks5', host: '127.0.0.1', port: proxy.port } },
    defaultAction: 's',
  });
  try {
    const r = await udpRoundTrip(t, '127.0.0.1', echo.port, 'via socks');
    assert.deepEqual(r, { msg: 'via socks', from: `127.0.0.1:${echo.port}` });
    assert.deepEqual(
      proxy.log.map((l) => l.cmd),
      [3, 0x83],
    );
    assert.equal(proxy.log[1].port, echo.port);
  } finally {
    t.close();
    await proxy.close();
    echo.sock.close();
  }
});

test('UDP replies from endpoints the flow never sent to are filtered', async () => {
  const echo = await udpEcho();
  const t = setup();
  try {
    await udpRoundTrip(t, '127.0.0.1', echo.port, 'x');
    const relayPort = Number(echo.sources[0].split(':')[1]);
    const stranger = createSocket('udp4');
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
    stranger.send('intruder', relayPort, '127.0.0.1');
    await until(() => t.egress.stats.udp.filtered === 1, 2000, 'the filtered datagram');
    stranger.close();
  } finally {
    t.close();
    echo.sock.close();
  }
});

test('denied UDP, the UDP flow limit and the UDP idle timeout are enforced', async () => {
  const echo = await udpEcho();
  const t = setup({
    rules: [{ protocol: 'udp', ports: 9, action: 'deny' }],
    maxUdpFlowsPerTenant: 1,
    udpIdleTimeoutMs: 200,
  });
  try {
    const closes: string[] = [];
    t.egress.on('udpClose', (i) => closes.push(i.reason));
    const s = t.client.udp.bind(0);
    s.send('no', 9, '127.0.0.1');
    await until(() => t.egress.stats.udp.denied === 1, 1000, 'the deny');
    assert.equal(t.egress.stats.icmp.unreachablesSent, 1);
    await udpRoundTrip(t, '127.0.0.1', echo.port, 'first flow');
    const s2 = t.client.udp.bind(0);
    s2.send('second flow', echo.port, '127.0.0.1');
    await until(() => t.egress.stats.udp.limited === 1, 1000, 'the limit');
    await until(() => closes.length === 1, 3000, 'the idle close');
    assert.deepEqual(closes, ['idle']);
    assert.equal(t.egress.stats.udp.active, 0);
    s.close();
    s2.close();
  } finally {
    t.close();
    echo.sock.close();
  }
});

test('UDP to a fake-IP name reaches the real address, resolved once per flow, and replies come from the fake address', async () => {
  const echo = await udpEcho();
  let lookups = 0;
  const t = setup({
    dns: {
      fakeIp: true,
      resolve: async () => {
        lookups++;
        return ['127.0.0.1'];
      },
    },
  });
  try {
    const fake = await resolveVia(t, 'echo.test');
    const s = t.client.udp.bind(0);
    const replies: string[] = [];
    s.on('message', (m, r) => replies.push(`${m} from ${r.address}:${r.port}`));
    for (let i = 0; i < 3; i++) {
      s.send(`n${i}`, echo.port, fake);
      await until(() => replies.length === i + 1, 2000, `reply ${i}`);
    }
    s.close();
    assert.deepEqual(
      replies,
      [0, 1, 2].map((i) => `n${i} from ${fake}:${echo.port}`),
    );
    assert.equal(lookups, 1);
  } finally {
    t.close();
    echo.sock.close();
  }
});
