/**
 * The gateway in process: a WireGuard client reaches a server behind the NAT over the uplink,
 * IPv6 goes through the NAT64, forwards and peers reload, and a restart restores the NAT state.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pipeL3 } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { genkey, pubkey } from '@l3kit/wireguard';
import fc from 'fast-check';
import { validateGatewayConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { availableHelpers } from '../src/helpers.js';
import { Logger } from '../src/log.js';
import { renderMetrics } from '../src/metrics.js';
import { nextMessage, nextRaw, startRig, tempDir, waitFor, withClientEndpoint } from './fixtures.js';

describe('Gateway', () => {
  it('carries a WireGuard peer to a server outside: NAT, handshake, stats and metrics', async () => {
    const rig = await startRig();
    try {
      const echo = rig.server.udp.bind(7);
      echo.on('message', (d, from) => echo.send(d, from.port, from.address));
      const sock = rig.client.udp.bind(40000);
      const got = nextMessage(sock);
      sock.send('through the tunnel', 7, '203.0.113.80');
      assert.equal((await got).text, 'through the tunnel');
      const ping = await rig.client.ping('203.0.113.80', { size: 24 });
      assert.equal(ping.bytes, 24);
      // Everything that left through the uplink carries the NAT's outside address.
      assert.ok(rig.uplinkOut.length >= 2);
      for (const p of rig.uplinkOut) assert.deepEqual([...p.subarray(12, 16)], [203, 0, 113, 1]);

      const s = rig.gw.stats();
      assert.equal(s.peers.length, 1);
      assert.equal(s.peers[0].name, 'alice');
      assert.equal(s.peers[0].handshakes, 1);
      assert.equal(s.peers[0].endpoint, '192.0.2.10:51820');
      assert.deepEqual(s.tenants, [{ tenant: 1, name: 'alice', kind: 'wireguard' }]);
      assert.equal(s.mappingsPerTenant['1'], 2);
      assert.equal(s.nat.packetsOut, rig.uplinkOut.length);
      assert.equal(s.uplink.packetsOut, rig.uplinkOut.length);
      assert.ok(
        rig.logLines.some((l) => /INFO {2}handshake peer=alice endpoint=192\.0\.2\.10:51820/.test(l)),
      );

      const m = renderMetrics(s);
      assert.match(m, /^l3kit_wireguard_handshakes_total\{peer="alice",tenant="1"\} 1$/m);
      assert.match(m, /^l3kit_nat_mappings\{tenant="1",name="alice"\} 2$/m);
      assert.match(
        m,
        new RegExp(`^l3kit_nat_packets_total\\{nat="nat44",direction="out"\\} ${s.nat.packetsOut}$`, 'm'),
      );
      assert.match(m, /^l3kit_nat_drops_total\{nat="nat44",reason="no-mapping"\} 0$/m);
      assert.match(m, /^# TYPE l3kit_nat_drops_total counter$/m);
      assert.match(rig.gw.conntrack(), /src=10\.0\.0\.2 dst=203\.0\.113\.80 sport=40000 dport=7 .* zone=1 /);
      // Without a NAT64 the peer's IPv6 goes nowhere, counted.
      rig.client.udp.bind(0).send('v6', 7, '2001:db8::80');
      await waitFor(() => rig.gw.stats().tenantIpv6Dropped === 1);
      assert.match(
        renderMetrics(rig.gw.stats()),
        /^l3kit_tenant_drops_total\{reason="ipv6-without-nat64"\} 1$/m,
      );
    } finally {
      rig.close();
    }
  });

  it('counts the uplink packets that are not IPv4 as dropped and never throws on them', async () => {
    const rig = await startRig();
    try {
      const ipv6 = new Uint8Array(40);
      ipv6[0] = 0x60;
      for (const junk of [new Uint8Array(0), new Uint8Array([0x45, 0, 0]), ipv6]) rig.injectFromUplink(junk);
      // An IPv4-looking packet with garbage inside reaches the NAT, which drops and counts it.
      rig.injectFromUplink(new Uint8Array(40).fill(0x45));
      const s = rig.gw.stats();
      assert.equal(rig.uplinkOut.length, 0);
      assert.deepEqual(s.uplink, { packetsIn: 4, packetsOut: 0, dropped: 3 });
      assert.equal(s.nat.packetsIn, 0);
      assert.equal(
        Object.values(s.nat.drops).reduce((a, b) => a + b, 0),
        1,
      );
    } finally {
      rig.close();
    }
  });

  it('never throws on arbitrary bytes from the uplink or from a tenant (10,000 runs each)', async () => {
    const [up, down] = pipeL3();
    const [tenantEnd, host] = pipeL3();
    const emitted: Uint8Array[] = [];
    down.setHandler((p) => emitted.push(p));
    host.setHandler((p) => emitted.push(p));
    const gw = await Gateway.start({
      config: validateGatewayConfig({
        nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' },
        nat64: { prefix: '2001:db8:64::/96', outside: '203.0.113.2/24', inside: 'fd00::1/64' },
      }),
      uplink: up,
      log: new Logger({ write: () => {} }),
    });
    try {
      gw.attachTenant(tenantEnd, 1, 'fuzz', 'tun');
      const bytes = fc.uint8Array({ minLength: 0, maxLength: 96 });
      // Mostly well-formed-looking headers: IPv4 or IPv6 version nibbles with random rest.
      const packet = fc.oneof(
        bytes,
        bytes.map((b) => Uint8Array.from([0x45, ...b])),
        bytes.map((b) => Uint8Array.from([0x60, ...b])),
      );
      fc.assert(
        fc.property(packet, (p) => {
          down.send(Uint8Array.from(p));
          host.send(Uint8Array.from(p));
        }),
        { numRuns: 10_000 },
      );
      for (const p of emitted) assertChecksums(p, 'packet emitted for fuzz input');
      const s = gw.stats();
      assert.equal(s.uplink.packetsIn, 10_000);
    } finally {
      gw.stop({ snapshot: false });
    }
  });

  it('translates a peer’s IPv6 to IPv4 through the NAT64 when one is configured', async () => {
    const rig = await startRig((c) => ({
      ...c,
      nat64: {
        prefix: '2001:db8:64::/96',
        inside: 'fd00::1/64',
        outside: '203.0.113.2/24',
        allowNonGlobal: true,
      },
    }));
    try {
      assert.ok(rig.gw.nat64);
      const target = rig.gw.nat64.ipv6Of('203.0.113.80');
      const ping = await rig.client.ping(target, { size: 16 });
      assert.equal(ping.bytes, 16);
      const v4 = rig.uplinkOut.filter((p) => p[9] === 1);
      assert.equal(v4.length, 1);
      assert.deepEqual([...v4[0].subarray(12, 16)], [203, 0, 113, 2], 'NAT64 pool address as source');
      const s = rig.gw.stats();
      assert.equal(s.nat64?.packetsOut, 1);
      assert.equal(s.nat64?.packetsIn, 1);
      assert.equal(s.mappingsPerTenant['1'], 1);
      assert.match(rig.gw.conntrack(), /nat64/);
    } finally {
      rig.close();
    }
  });

  it('reloads peers and forwards: removed peers lose their tenant, new forwards let traffic in', async () => {
    const rig = await startRig();
    try {
      const newPeer = pubkey(genkey());
      const wg = rig.config.wireguard;
      assert.ok(wg);
      const next = validateGatewayConfig({
        ...rig.config,
        nat: {
          ...rig.config.nat,
          forwards: [{ proto: 'udp', outsidePort: 5000, insideIp: '10.0.0.2', insidePort: 5000, tenant: 2 }],
        },
        wireguard: {
          ...wg,
          peers: [{ name: 'bob', publicKey: newPeer, allowedIps: ['10.0.0.3/32'], tenant: 2 }],
        },
      });
      const r = rig.gw.reload(next);
      assert.deepEqual([r.peersAdded, r.peersRemoved, r.peersUpdated], [['bob'], ['alice'], []]);
      assert.deepEqual([r.forwardsAdded, r.forwardsRemoved, r.needRestart], [1, 0, []]);
      assert.deepEqual(rig.gw.stats().tenants, [{ tenant: 2, name: 'bob', kind: 'wireguard' }]);
      const f = rig.gw.nat.listPortForwards();
      assert.deepEqual(
        f.map((x) => [x.proto, x.outsidePort, x.insideIp, x.tenant, x.origin]),
        [[17, 5000, '10.0.0.2', 2, 'config']],
      );
      // Reloading the same file again changes nothing; dropping the forward removes it.
      assert.deepEqual(rig.gw.reload(next).forwardsAdded, 0);
      const again = rig.gw.reload({ ...next, nat: { ...next.nat, forwards: [] }, nat64: undefined });
      assert.deepEqual([again.forwardsRemoved, again.needRestart], [1, []]);
      const moved = rig.gw.reload({ ...next, nat: { ...next.nat, outside: '203.0.113.9/24' } });
      assert.deepEqual(moved.needRestart, ['$.nat']);
    } finally {
      rig.close();
    }
  });

  it('writes the NAT state on stop and restores it on the next start: the mapping keeps its port', async () => {
    const dir = tempDir();
    const state = join(dir, 'state.json');
    const keys = { server: genkey(), client: genkey() };
    try {
      const first = await startRig((c) => ({ ...withClientEndpoint(c), state: { file: state } }), keys);
      let extPort: number;
      try {
        const seen = first.server.udp.bind(9);
        const from = nextMessage(seen);
        const sock = first.client.udp.bind(41000);
        sock.send('before restart', 9, '203.0.113.80');
        extPort = (await from).port;
      } finally {
        first.clientWg.close();
        first.client.close();
        first.server.close();
        const saved = first.gw.stop();
        assert.ok(saved && saved.nat.mappings.length === 1);
      }
      assert.ok(existsSync(state));
      assert.equal(statSync(state).mode & 0o777, 0o600);
      const file = JSON.parse(readFileSync(state, 'utf8'));
      assert.equal(file.version, 1);
      assert.equal(file.nat.mappings[0].externalPort, extPort);

      const second = await startRig((c) => ({ ...withClientEndpoint(c), state: { file: state } }), keys);
      try {
        assert.equal(second.gw.restoredFromSnapshot, true);
        // Used once: a crash of this run must not bring the old state back.
        assert.ok(!existsSync(state) && existsSync(`${state}.restored`));
        assert.match(second.gw.conntrack(), new RegExp(`sport=41000 dport=9 .* dport=${extPort} `));
        // The server answers to the old external port: the restored mapping carries it in, the
        // gateway (which knows the peer's endpoint) handshakes again and delivers it.
        const sock = second.client.udp.bind(41000);
        const got = nextMessage(sock);
        const srv = second.server.udp.bind(9);
        srv.send('after restart', extPort, '203.0.113.1');
        const m = await got;
        assert.deepEqual([m.text, m.port, m.address], ['after restart', 9, '203.0.113.80']);
      } finally {
        second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown helper with ERR_UNKNOWN_HELPER and leaves nothing running', async () => {
    await assert.rejects(
      startRig((c) => ({ ...c, nat: { ...c.nat, helpers: ['gopher'] } })),
      (e: Error & { code?: string }) => e.code === 'ERR_UNKNOWN_HELPER' && /gopher/.test(e.message),
    );
  });

  it('enables every helper of @l3kit/alg by name and counts the packets they rewrite', async () => {
    const names = availableHelpers();
    for (const n of ['ftp', 'tftp', 'irc', 'sip', 'sip-tcp', 'pptp', 'h323']) assert.ok(names.includes(n), n);
    const rig = await startRig((c) => ({ ...c, nat: { ...c.nat, helpers: names } }));
    try {
      assert.deepEqual(Object.keys(rig.gw.stats().helperRewrites).sort(), [...names].sort());
      // An active-mode FTP command from the peer: the FTP helper rewrites its private address.
      const got = new Promise<string>((resolve) =>
        rig.server.tcp.listen(21, (sock) => {
          sock.setEncoding('utf8');
          let text = '';
          sock.on('data', (d: string) => {
            text += d;
            if (text.endsWith('\r\n')) resolve(text);
          });
        }),
      );
      const ctl = rig.client.tcp.connect({ host: '203.0.113.80', port: 21 });
      ctl.write('PORT 10,0,0,2,156,64\r\n');
      assert.match(await got, /^PORT 203,0,113,1,\d+,\d+\r\n$/);
      ctl.destroy();
      assert.equal(rig.gw.stats().helperRewrites.ftp, 1);
      assert.match(renderMetrics(rig.gw.stats()), /^l3kit_alg_rewrites_total\{helper="ftp"\} 1$/m);
    } finally {
      rig.close();
    }
  });

  it('lets an inside host open a port with NAT-PMP and receives through it from outside', async () => {
    const rig = await startRig((c) => ({ ...c, upnp: { maxLeaseSeconds: 3600 } }));
    try {
      const sock = rig.client.udp.bind(6000);
      const reply = nextRaw(sock);
      // NAT-PMP (RFC 6886 §3.3): version 0, opcode 1 (UDP), internal port 6000, suggested 16000, 600 s.
      const req = new Uint8Array([0, 1, 0, 0, 0x17, 0x70, 0x3e, 0x80, 0, 0, 0x02, 0x58]);
      sock.send(req, 5351, '10.0.0.1');
      const r = await reply;
      assert.deepEqual(
        [r[0], r[1], (r[2] << 8) | r[3]],
        [0, 129, 0],
        'version 0, opcode 129, result success',
      );
      assert.equal((r[8] << 8) | r[9], 6000);
      const ext = (r[10] << 8) | r[11];
      assert.ok(ext > 0);
      const f = rig.gw.nat.listPortForwards();
      assert.deepEqual(
        f.map((x) => [x.proto, x.outsidePort, x.insideIp, x.insidePort, x.tenant, x.origin]),
        [[17, ext, '10.0.0.2', 6000, 1, 'natpmp']],
      );
      // Unsolicited traffic from outside to the mapped port now reaches the host.
      const got = nextMessage(sock);
      rig.server.udp.bind(7777).send('from outside', ext, '203.0.113.1');
      const m = await got;
      assert.deepEqual([m.text, m.address, m.port], ['from outside', '203.0.113.80', 7777]);
      const s = rig.gw.stats();
      assert.deepEqual(s.forwardsByOrigin, { natpmp: 1 });
      assert.deepEqual(Object.values(s.portControlRequests), [1]);
      assert.match(renderMetrics(s), /^l3kit_nat_forwards\{origin="natpmp"\} 1$/m);
      assert.match(
        renderMetrics(s),
        /^l3kit_port_control_requests_total\{protocol="natpmp",action="1",result="[A-Z_]+"\} 1$/m,
      );
    } finally {
      rig.close();
    }
  });

  it('starts with the shipped example configuration, forwards to peer tenants included', async () => {
    const example = JSON.parse(
      readFileSync(new URL('../../examples/gateway.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown> & { wireguard: { listenPort: number } };
    // No root here: an in-memory uplink, no control socket, metrics port or state file.
    delete example.uplink;
    delete example.control;
    delete example.metrics;
    delete example.state;
    example.wireguard.listenPort = 0;
    const [up] = pipeL3();
    const gw = await Gateway.start({
      config: validateGatewayConfig(example),
      uplink: up,
      log: new Logger({ write: () => {} }),
    });
    try {
      assert.deepEqual(
        gw.nat.listPortForwards().map((f) => [f.outsidePort, f.insideIp, f.insidePort, f.tenant]),
        [[8080, '10.0.0.2', 80, 1]],
      );
    } finally {
      gw.stop({ snapshot: false });
    }
  });

  it('needs an uplink: without a device or $.uplink it throws ERR_BAD_CONFIG', async () => {
    await assert.rejects(
      Gateway.start({ config: { nat: { inside: '10.0.0.1/24', outside: '203.0.113.1/24' } } }),
      (e: Error & { code?: string }) => e.code === 'ERR_BAD_CONFIG' && /\$\.uplink/.test(e.message),
    );
  });
});
