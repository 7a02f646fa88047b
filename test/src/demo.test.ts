/**
 * Runs the demo topology (examples/src/topology.ts) in process and checks what it did: the
 * expected replies and errors happened, and every packet in its pcapng has correct checksums.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { runDemo } from '@l3kit/examples/topology';
import { assertChecksums } from '@l3kit/testkit';
import { readPcapng } from '@l3kit/wire';

describe('the demo (npm run demo)', () => {
  it('pings, exchanges UDP, and gets time exceeded and unreachables back, as narrated', async () => {
    const lines: string[] = [];
    const r = await runDemo({ log: (l) => lines.push(l), clock: new ManualClock(1_763_000_000_000) });
    assert.deepEqual([r.ping4.from, r.ping4.ttl, r.ping4.bytes], ['10.0.2.30', 63, 32]);
    assert.deepEqual([r.ping6.from, r.ping6.ttl], ['2001:db8:2::20', 63]);
    assert.equal(r.pingHub.from, '10.0.0.1');
    assert.deepEqual(r.udpReplies, ['HELLO CAROL', 'HELLO AGAIN, OVER IPV6']);
    assert.deepEqual(
      [r.ttlExceeded.code, r.ttlExceeded.from, r.ttlExceeded.icmpType, r.ttlExceeded.icmpCode],
      ['ERR_TIME_EXCEEDED', '10.0.0.1', 11, 0],
    );
    assert.deepEqual(
      [r.netUnreachable.code, r.netUnreachable.from, r.netUnreachable.icmpType, r.netUnreachable.icmpCode],
      ['ERR_UNREACHABLE', '10.0.0.1', 3, 0],
    );
    assert.deepEqual(
      [
        r.portUnreachable.code,
        r.portUnreachable.from,
        r.portUnreachable.icmpType,
        r.portUnreachable.icmpCode,
      ],
      ['ERR_UNREACHABLE', '2001:db8:2::20', 1, 4],
    );
    assert.equal(r.hubStats.ttlExceeded, 1);
    assert.equal(r.hubStats.noRoute, 1);
    assert.equal(r.hubStats.malformed, 0);
    // One printed line per captured packet.
    assert.equal(lines.filter((l) => /^\s+\d+ /.test(l)).length, r.packets);
  });

  it('keeps two tenants with the same inside address apart behind one NAT', async () => {
    const r = await runDemo({ clock: new ManualClock(1_763_000_000_000) });
    assert.deepEqual(r.nat.replies, ['tenant 1: hello from tenant 1', 'tenant 2: hello from tenant 2']);
    assert.equal(r.nat.serverSawPorts.length, 2);
    assert.notEqual(r.nat.serverSawPorts[0], r.nat.serverSawPorts[1]);
    const zones = r.nat.conntrack
      .split('\n')
      .filter((l) => l.includes('udp'))
      .map((l) => /zone=(\d+)/.exec(l)?.[1]);
    assert.deepEqual(zones, ['1', '2']);
  });

  it('gets an IPv6-only host a ping reply from an IPv4-only server through the NAT64', async () => {
    const r = await runDemo({ clock: new ManualClock(1_763_000_000_000) });
    assert.equal(r.nat64.replyFrom, '2001:db8:64::c633:6407');
  });

  it('carries two WireGuard clients with one tunnel address as two NAT tenants to an HTTP server', async () => {
    const r = await runDemo({ clock: new ManualClock(1_763_000_000_000) });
    const w = r.wireguard;
    assert.equal(w.handshakes, 2);
    assert.ok(w.datagrams >= 2 * 4, `only ${w.datagrams} datagrams on the underlay`);
    assert.equal(w.serverSawPorts.length, 2);
    assert.notEqual(w.serverSawPorts[0], w.serverSawPorts[1]);
    assert.deepEqual(w.pages, [
      `hello wg-alice, you came from 203.0.113.1:${w.serverSawPorts[0]}\n`,
      `hello wg-bob, you came from 203.0.113.1:${w.serverSawPorts[1]}\n`,
    ]);
    const tcp = w.conntrack.split('\n').filter((l) => l.includes(' tcp '));
    assert.deepEqual(
      tcp.map((l) => [/src=(\S+)/.exec(l)?.[1], /zone=(\d+)/.exec(l)?.[1]]),
      [
        ['10.0.0.2', '1'],
        ['10.0.0.2', '2'],
      ],
    );
  });

  it('downloads over active FTP through the ALG and opens a UPnP mapping used from outside', async () => {
    const r = await runDemo({ clock: new ManualClock(1_763_000_000_000) });
    assert.match(r.ftp.portSent, /^PORT 192,168,1,10,\d+,\d+$/);
    assert.match(r.ftp.portReceived, /^PORT 203,0,113,1,\d+,\d+$/);
    assert.deepEqual([r.ftp.bytes, r.ftp.intact], [64 * 1024, true]);
    assert.equal(r.upnp.externalIp, '203.0.113.1');
    assert.match(r.upnp.forward, /^upnp tcp 203\.0\.113\.1:\d+ -> 192\.168\.1\.20:\d+ /);
    assert.match(r.upnp.greeting, /198\.51\.100\.7/);
    assert.equal(r.upnp.forwardsAfterDelete, 0);
  });

  it('leaves without NAT through direct egress and SOCKS5 by DNS name, and refuses a denied name', async () => {
    const r = await runDemo();
    assert.ok(r.egress.direct.length > 0, 'the direct fetch returned a body');
    assert.ok(r.egress.viaSocks.length > 0, 'the SOCKS5 fetch returned a body');
    assert.ok(
      r.egress.socksRequests.some((d) => d.startsWith('via-socks.example')),
      `the proxy was asked for the name: ${r.egress.socksRequests.join(', ')}`,
    );
    assert.equal(r.egress.blocked, 'EACCES', 'ICMP administratively prohibited');
    assert.match(
      r.egress.addresses['web.example'] ?? '',
      /^198\.18\./,
      'a fake address from the interceptor',
    );
  });

  it('writes a pcapng in which every packet has correct checksums', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l3kit-demo-'));
    try {
      const out = join(dir, 'demo.pcapng');
      const r = await runDemo({ out });
      const file = readPcapng(new Uint8Array(readFileSync(out)));
      assert.equal(file.packets.length, r.packets);
      assert.ok(r.packets >= 25, `only ${r.packets} packets`);
      assert.deepEqual(
        file.interfaces.map((i) => i.name),
        [
          'alice',
          'bob',
          'carol',
          'server',
          'tenant-a',
          'tenant-b',
          'wg-underlay',
          'web',
          'wg-alice',
          'wg-bob',
          'ftp-client',
          'ftp-server',
          'console',
          'peer',
          'v6-only-client',
          'v4-only-server',
          'egress-tenant',
        ],
      );
      for (const [i, p] of file.packets.entries()) assertChecksums(p.data, `frame ${i + 1}`);
      // The WireGuard underlay is in the capture: UDP 51820 carrying handshake initiations (type
      // 1), responses (2) and transport data (4), two handshakes for two clients.
      const wg = file.interfaces.findIndex((i) => i.name === 'wg-underlay');
      const wgTypes = file.packets
        .filter((p) => p.interfaceId === wg)
        .map((p) => {
          assert.equal(p.data[9], 17);
          assert.deepEqual([(p.data[20] << 8) | p.data[21], (p.data[22] << 8) | p.data[23]], [51820, 51820]);
          return p.data[28];
        });
      assert.deepEqual(
        [1, 2, 4].map((t) => wgTypes.filter((x) => x === t).length > 0),
        [true, true, true],
      );
      assert.equal(wgTypes.filter((t) => t === 1).length, 2);
      assert.equal(r.wireguard.datagrams, wgTypes.length);
      // The TTL-expired request and the time-exceeded answer are both in the capture.
      const icmpTypes = file.packets
        .filter((p) => p.data[0] >> 4 === 4 && p.data[9] === 1)
        .map((p) => p.data[20]);
      assert.ok(
        icmpTypes.includes(11) && icmpTypes.includes(3) && icmpTypes.includes(8) && icmpTypes.includes(0),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
