/**
 * Real software through a do-nothing l3kit relay: the client and server kernels talk across two
 * TUN devices joined by `connectL3` in this process (the server has a route back to the client
 * network; no translation happens). Proves the TUN bridge end to end: ICMP, TCP, UDP, bulk.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import { interopTest, makeTopology, PLAN, relay, skipReason, type Topology } from './harness.js';
import { CURL_TOOLS, curlDownload, iperf, pingServer, socatUdp, udpBulk } from './scenarios.js';

describe('relay: client -TUN- l3kit connectL3 -TUN- server', () => {
  let topo: Topology | undefined;
  before(() => {
    if (skipReason()) return;
    topo = makeTopology({ serverRouteBack: true, ipv6: true, wire: relay });
  });
  after(async () => {
    await topo?.dispose();
  });
  const t = (): Topology => {
    assert.ok(topo, 'topology was not created');
    return topo;
  };

  interopTest('ping from the client reaches the server and every reply comes back', ['ping'], async () => {
    const before = t().clientTun.stats.rxPackets;
    await pingServer(t());
    assert.ok(t().clientTun.stats.rxPackets - before >= 3, 'the requests crossed l3kit');
    assert.ok(t().serverTun.stats.rxPackets >= 3, 'the replies crossed l3kit');
  });

  interopTest('curl downloads a 1 MiB file from python3 http.server intact', CURL_TOOLS, async () => {
    const peer = await curlDownload(t());
    assert.equal(peer, PLAN.client, 'without NAT the server sees the client address');
  });

  interopTest(
    'a UDP exchange with socat gets its answer, from the client address as sent',
    ['socat'],
    async () => {
      const peer = await socatUdp(t());
      assert.equal(peer, PLAN.client);
    },
  );

  interopTest(
    'ping -6 and curl -6 work over the same TUNs (IPv6 through the relay)',
    ['ping', ...CURL_TOOLS],
    async () => {
      const p = await t().client.run(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', PLAN.server6]);
      assert.equal(p.code, 0, p.stdout + p.stderr);
      assert.match(p.stdout, /3 packets transmitted, 3 received/);
      assert.equal(await curlDownload(t(), 6), PLAN.client6);
    },
  );

  interopTest('iperf3 moves TCP data for 2 s', ['iperf3'], async () => {
    const r = await iperf(t(), 'tcp', 2);
    assert.ok(r.bytes > 1_000_000, `only ${r.bytes} bytes`);
    assert.ok(r.mbps > 10, `only ${r.mbps.toFixed(1)} Mbit/s`);
    assert.equal(t().clientTun.stats.txDropped.linkDown + t().serverTun.stats.txDropped.linkDown, 0);
  });

  interopTest(
    'iperf3 UDP at 50 Mbit/s for 2 s: l3kit drops nothing and the loss stays under 10 %',
    ['iperf3'],
    async () => {
      await udpBulk(t());
    },
  );
});

describe('relay with IFF_VNET_HDR and offloads: TCP crosses l3kit as 64 KiB super-packets', () => {
  let topo: Topology | undefined;
  /** Super-packets seen by the relay, checked with the independent checksum oracle. */
  let superPackets = 0;
  let checked = 0;
  before(() => {
    if (skipReason()) return;
    topo = makeTopology({
      serverRouteBack: true,
      vnetHdr: true,
      offload: true,
      wire: (a, b) => {
        // The relay verifies every super-packet's completed checksum before passing it on.
        a.setHandler((p) => {
          if (p.length > 1500) {
            superPackets++;
            if ((superPackets & 15) === 1) {
              assertChecksums(p, 'super-packet from the client kernel');
              checked++;
            }
          }
          b.send(p);
        });
        b.setHandler((p) => a.send(p));
        return undefined;
      },
    });
  });
  after(async () => {
    await topo?.dispose();
  });
  const t = (): Topology => {
    assert.ok(topo, 'topology was not created');
    return topo;
  };

  interopTest(
    'curl downloads 1 MiB intact while the server kernel hands l3kit GSO super-packets',
    CURL_TOOLS,
    async () => {
      const before = t().serverTun.stats.rxGso;
      assert.equal(await curlDownload(t()), PLAN.client);
      assert.ok(t().serverTun.stats.rxGso > before, 'the server kernel sent super-packets into l3kit');
      assert.ok(t().clientTun.stats.txGso > 0, 'l3kit wrote them to the client kernel as GSO');
    },
  );

  interopTest(
    'iperf3 TCP for 2 s moves super-packets whose completed checksums verify',
    ['iperf3'],
    async () => {
      const r = await iperf(t(), 'tcp', 2);
      assert.ok(r.bytes > 1_000_000, `only ${r.bytes} bytes`);
      assert.ok(superPackets > 0 && checked > 0, `super-packets ${superPackets}, checked ${checked}`);
      assert.equal(t().serverTun.stats.txDropped.rejected, 0, 'the kernel accepted every GSO write');
      assert.equal(t().clientTun.stats.rxDropped, 0);
    },
  );
});
