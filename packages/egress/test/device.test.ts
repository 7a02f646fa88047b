import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@l3kit/core';
import { VirtualHost } from '@l3kit/stack';
import { verifyPacket } from '@l3kit/testkit';
import { buildPacket, formatIpv4, parseIpv4, TcpFlags } from '@l3kit/wire';
import fc from 'fast-check';
import { EgressDevice, rewriteFlow } from '../src/index.js';
import { CheckedDevice, captureTenantHandler, connected, echoServer, readAll, setup } from './helpers.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    return e.code;
  }
  return 'no error';
};

test('bad device options throw ConfigErrors with stable codes', () => {
  assert.equal(
    code(() => new EgressDevice({ proxies: { direct: { type: 'socks5', host: '127.0.0.1' } } })),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new EgressDevice({ proxies: { p: { type: 'ftp', host: 'x' } as never } })),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new EgressDevice({ defaultAction: 'nowhere' })),
    'ERR_UNKNOWN_PROXY',
  );
  assert.equal(
    code(() => new EgressDevice({ connectTimeoutMs: 0 })),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new EgressDevice({ mtu: 100 })),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new EgressDevice({ deniedResponse: 'shout' as never })),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new EgressDevice({ dns: { fakeIp: '2001:db8::/64' } })),
    'ERR_BAD_PREFIX',
  );
  assert.equal(
    code(() => new EgressDevice({ dns: { upstream: 'resolver.example' } })),
    'ERR_BAD_ADDRESS',
  );
  assert.equal(
    code(() => new EgressDevice({ dns: { hosts: { a: 'not-an-ip' } } })),
    'ERR_BAD_ADDRESS',
  );
  assert.equal(
    code(
      () => new EgressDevice({ proxies: { p: { type: 'socks5', host: 'h', username: '', password: 'x' } } }),
    ),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new EgressDevice({ proxies: { p: { type: 'http', host: 'h', port: 0 } } })),
    'ERR_BAD_PORT',
  );
  assert.equal(
    code(
      () =>
        new EgressDevice({ proxies: { p: { type: 'http', host: 'h', headers: { 'X-A': 'a\r\nB: c' } } } }),
    ),
    'ERR_BAD_OPTION',
  );
});

test('tenant names are unique and a closed device accepts no tenant', () => {
  const e = new EgressDevice();
  const a = new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1' });
  const detach = e.connectL3(a, { name: 'x' });
  assert.equal(
    code(() => e.connectL3(a, { name: 'x' })),
    'ERR_DUPLICATE_TENANT',
  );
  detach();
  e.close();
  assert.equal(
    code(() => e.connectL3(a)),
    'ERR_CLOSED',
  );
  a.close();
});

test('two tenants with the same address are kept apart', async () => {
  const up = await echoServer();
  const t = setup();
  const twin = new VirtualHost({ addr: '10.0.0.2/24', gateway: '10.0.0.1' });
  const detachTwin = t.egress.connectL3(new CheckedDevice(twin), { name: 'twin' });
  try {
    // Same client address and port, same destination: two independent connections.
    const a = t.client.tcp.connect({ host: '127.0.0.1', port: up.port, localPort: 40000 });
    const b = twin.tcp.connect({ host: '127.0.0.1', port: up.port, localPort: 40000 });
    await Promise.all([connected(a), connected(b)]);
    const ga = readAll(a);
    const gb = readAll(b);
    a.end('from alice');
    b.end('from twin');
    assert.equal(String(await ga), 'from alice');
    assert.equal(String(await gb), 'from twin');
    assert.equal(up.peers.length, 2);
  } finally {
    detachTwin();
    twin.close();
    t.close();
    up.close();
  }
});

test('IPv6, fragments and other protocols are dropped and counted by reason', () => {
  const t = setup();
  try {
    const send = captureTenantHandler(t);
    send(buildPacket({ src: 'fd00::2', dst: 'fd00::1', udp: { srcPort: 1, dstPort: 2 }, payload: 'x' }));
    send(
      buildPacket({
        src: '10.0.0.2',
        dst: '192.0.2.1',
        udp: { srcPort: 1, dstPort: 2 },
        moreFragments: true,
        payload: 'abcdefgh',
      }),
    );
    send(buildPacket({ src: '10.0.0.2', dst: '192.0.2.1', protocol: 47, payload: 'gre' }));
    const bad = buildPacket({
      src: '10.0.0.2',
      dst: '192.0.2.1',
      tcp: { srcPort: 1, dstPort: 2, flags: TcpFlags.SYN },
    });
    bad[bad.length - 1] ^= 0xff; // TCP checksum (urgent pointer byte) now wrong
    send(bad);
    const d = t.egress.stats.drops;
    assert.deepEqual([d.unsupported, d.fragment, d.badChecksum], [2, 1, 1]);
    assert.equal(t.egress.stats.tcp.opened, 0);
  } finally {
    t.close();
  }
});

test('rewriting addresses and ports keeps TCP and UDP checksums exactly right', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(fc.nat(0xffffffff), { minLength: 4, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 4, maxLength: 4 }),
      fc.uint8Array({ maxLength: 64 }),
      (isTcp, [s, d, ns, nd], [sp, dp, nsp, ndp], payload) => {
        const ipSpec = { src: formatIpv4(s), dst: formatIpv4(d), payload };
        const pkt = isTcp
          ? buildPacket({ ...ipSpec, tcp: { srcPort: sp, dstPort: dp, seq: 7, flags: TcpFlags.ACK } })
          : buildPacket({ ...ipSpec, udp: { srcPort: sp, dstPort: dp } });
        rewriteFlow(pkt, 20, isTcp ? 16 : 6, ns >>> 16, ns & 0xffff, nsp, nd >>> 16, nd & 0xffff, ndp);
        const r = verifyPacket(pkt);
        assert.ok(r.ok, JSON.stringify(r.problems));
        assert.equal(
          parseIpv4(formatIpv4(ns)),
          ((pkt[12] << 24) | (pkt[13] << 16) | (pkt[14] << 8) | pkt[15]) >>> 0,
        );
        assert.equal((pkt[22] << 8) | pkt[23], ndp);
      },
    ),
    { numRuns: 10_000 },
  );
});
