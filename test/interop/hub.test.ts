/**
 * An `L3Hub` (`@l3kit/core`) as the router between the two TUNs: the kernels on both sides see
 * a real IPv4 router — TTL decremented, ICMP Time Exceeded and Destination Unreachable generated
 * by l3kit and understood by `ping`.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { L3Hub, VirtualHost } from '@l3kit/core';
import { interopTest, makeTopology, PLAN, skipReason, type Topology } from './harness.js';
import { CURL_TOOLS, curlDownload } from './scenarios.js';

const HUB = '10.255.0.1';
const HUB6 = '2001:db8:ff::1';
/** A VirtualHost behind the hub, on a network of its own. */
const VHOST = '10.255.1.2';

describe('hub: client -TUN- l3kit L3Hub -TUN- server', () => {
  let topo: Topology | undefined;
  let hub: L3Hub | undefined;
  before(() => {
    if (skipReason()) return;
    topo = makeTopology({
      serverRouteBack: true,
      ipv6: true,
      wire: (clientTun, serverTun) => {
        const h = new L3Hub({ addr4: HUB, addr6: HUB6 });
        hub = h;
        h.attach(clientTun, { routes: [PLAN.clientNet, PLAN.clientNet6] });
        h.attach(serverTun, { routes: [PLAN.serverNet, PLAN.serverNet6] });
        h.attach(new VirtualHost({ addr: `${VHOST}/24` }));
        return () => h.close();
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

  interopTest('ping crosses the hub and the reply shows the TTL decremented once', ['ping'], async () => {
    const r = await t().client.run(['ping', '-c', '2', '-i', '0.2', '-W', '2', PLAN.server]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Linux answers with TTL 64; the hub forwards it with 63.
    assert.match(r.stdout, /from 203\.0\.113\.2: icmp_seq=1 ttl=63/);
  });

  interopTest('ping with TTL 1 gets Time to live exceeded from the hub address', ['ping'], async () => {
    const r = await t().client.run(['ping', '-c', '1', '-t', '1', '-W', '2', PLAN.server]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, new RegExp(`From ${HUB.replace(/\./g, '\\.')} icmp_seq=1 Time to live exceeded`));
    assert.ok((hub?.stats.ttlExceeded ?? 0) >= 1);
  });

  interopTest(
    'ping to a network without a route gets Destination Net Unreachable from the hub',
    ['ping'],
    async () => {
      const r = await t().client.run(['ping', '-c', '1', '-W', '2', '198.51.100.7']);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stdout,
        new RegExp(`From ${HUB.replace(/\./g, '\\.')} icmp_seq=1 Destination Net Unreachable`),
      );
      assert.ok((hub?.stats.noRoute ?? 0) >= 1);
    },
  );

  interopTest('ping -6 crosses the hub with the hop limit decremented once', ['ping'], async () => {
    const r = await t().client.run(['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', PLAN.server6]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /from 2001:db8:2::2: icmp_seq=1 ttl=63/);
  });

  interopTest('ping -6 with hop limit 1 gets Time exceeded from the hub IPv6 address', ['ping'], async () => {
    const r = await t().client.run(['ping', '-6', '-c', '1', '-t', '1', '-W', '2', PLAN.server6]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /From 2001:db8:ff::1 icmp_seq=1 Time exceeded: Hop limit/);
  });

  interopTest('the kernel pings a VirtualHost behind the hub and gets its replies', ['ping'], async () => {
    const r = await t().client.run(['ping', '-c', '3', '-i', '0.2', '-W', '2', VHOST]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
    assert.match(r.stdout, new RegExp(`from ${VHOST.replace(/\./g, '\\.')}: icmp_seq=1 ttl=63`));
  });

  interopTest('curl downloads a 1 MiB file intact through the hub', CURL_TOOLS, async () => {
    assert.equal(await curlDownload(t()), PLAN.client);
  });
});
