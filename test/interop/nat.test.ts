/**
 * Real software through l3kit's NAT44 (`@l3kit/nat`) between two TUNs. The server namespace has
 * no route back to the client network (192.168.1.0/24), so every answer that arrives proves the
 * NAT masqueraded the client as 203.0.113.1 and translated the replies back. The servers
 * themselves report the address they saw.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { interopTest, makeTopology, PLAN, skipReason, type Topology } from './harness.js';
import { CURL_TOOLS, curlDownload, iperf, pingServer, socatUdp, udpBulk } from './scenarios.js';

const NAT_OUTSIDE = PLAN.natOutside.split('/')[0];

describe('nat44: client -TUN- l3kit Nat -TUN- server (no route back)', () => {
  let topo: Topology | undefined;
  let nat: Nat | undefined;
  /** Every packet the NAT emitted towards the server, checksum-verified independently (sampled). */
  let verified = 0;
  before(() => {
    if (skipReason()) return;
    topo = makeTopology({
      serverRouteBack: false,
      wire: (clientTun, serverTun) => {
        const n = new Nat({ inside: PLAN.natInside, outside: PLAN.natOutside });
        nat = n;
        connectL3(n.inside(), clientTun);
        // Verify what the NAT emits (outside and inside) with the independent oracle; bulk
        // transfers are sampled (1 in 64) to keep the relay fast.
        let k = 0;
        n.outside().setHandler((p) => {
          if ((k++ & 63) === 0 || p.length < 200) {
            assertChecksums(p, 'NAT outside packet');
            verified++;
          }
          serverTun.send(p);
        });
        serverTun.setHandler((p) => n.outside().send(p));
        return () => n.close();
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

  interopTest('the server namespace has no route back to the client network', [], async () => {
    const r = await t().server.run(['ip', 'route', 'get', PLAN.client]);
    assert.notEqual(r.code, 0, `unexpected route: ${r.stdout}`);
    assert.match(r.stderr, /unreachable/i);
  });

  interopTest('ping from the client is masqueraded and every reply comes back', ['ping'], async () => {
    await pingServer(t());
    assert.match(
      nat?.formatConntrack() ?? '',
      new RegExp(`icmp .*src=${PLAN.client} dst=${PLAN.server} type=8`),
    );
    assert.ok(verified > 0);
  });

  interopTest(
    'curl downloads a 1 MiB file intact and python3 http.server sees the NAT address',
    CURL_TOOLS,
    async () => {
      assert.equal(await curlDownload(t()), NAT_OUTSIDE);
    },
  );

  interopTest(
    'a UDP exchange with socat is answered, and the server saw the NAT address',
    ['socat'],
    async () => {
      assert.equal(await socatUdp(t()), NAT_OUTSIDE);
    },
  );

  interopTest(
    'the conntrack listing shows the iperf3 TCP flow as ESTABLISHED during the transfer',
    ['iperf3'],
    async () => {
      const transfer = iperf(t(), 'tcp', 3);
      let listing = '';
      const deadline = Date.now() + 10_000;
      // Poll until the data connection to port 5201 shows up established with traffic.
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        listing = nat?.formatConntrack() ?? '';
        if (
          /tcp .*ESTABLISHED src=192\.168\.1\.2 dst=203\.0\.113\.2 sport=\d+ dport=5201 packets=\d{3,}/.test(
            listing,
          )
        )
          break;
      }
      const r = await transfer;
      assert.match(
        listing,
        new RegExp(
          `tcp +6 +\\d+ ESTABLISHED src=${PLAN.client} dst=${PLAN.server} sport=(\\d+) dport=5201 packets=\\d+ bytes=\\d+ src=${PLAN.server} dst=${NAT_OUTSIDE} sport=5201 dport=\\d+ packets=\\d+ bytes=\\d+ \\[ASSURED\\]`,
        ),
        `conntrack listing during the transfer:\n${listing}`,
      );
      assert.ok(r.bytes > 1_000_000, `only ${r.bytes} bytes`);
      console.log(`# conntrack during iperf3:\n${listing.replace(/^/gm, '#   ')}`);
    },
  );

  interopTest(
    'iperf3 UDP at 50 Mbit/s for 2 s through the NAT: l3kit drops nothing, loss under 10 %',
    ['iperf3'],
    async () => {
      await udpBulk(t());
    },
  );
});

describe('nat44 with IFF_VNET_HDR and offloads: the NAT translates 64 KiB super-packets', () => {
  let topo: Topology | undefined;
  let superChecked = 0;
  before(() => {
    if (skipReason()) return;
    topo = makeTopology({
      serverRouteBack: false,
      vnetHdr: true,
      offload: true,
      wire: (clientTun, serverTun) => {
        const n = new Nat({ inside: PLAN.natInside, outside: PLAN.natOutside });
        let k = 0;
        const verify = (p: Uint8Array, what: string) => {
          if (p.length > 1500 && (k++ & 15) === 0) {
            assertChecksums(p, what);
            superChecked++;
          }
        };
        n.outside().setHandler((p) => {
          verify(p, 'translated super-packet towards the server');
          serverTun.send(p);
        });
        serverTun.setHandler((p) => n.outside().send(p));
        n.inside().setHandler((p) => {
          verify(p, 'translated super-packet towards the client');
          clientTun.send(p);
        });
        clientTun.setHandler((p) => n.inside().send(p));
        return () => n.close();
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

  interopTest('curl downloads 1 MiB intact through the NAT as super-packets', CURL_TOOLS, async () => {
    assert.equal(await curlDownload(t()), NAT_OUTSIDE);
    assert.ok(t().serverTun.stats.rxGso > 0, 'the server kernel sent super-packets');
    assert.ok(t().clientTun.stats.txGso > 0, 'the client kernel received GSO writes');
  });

  interopTest(
    'iperf3 TCP for 2 s through the NAT with super-packets whose checksums verify',
    ['iperf3'],
    async () => {
      const r = await iperf(t(), 'tcp', 2);
      assert.ok(r.bytes > 1_000_000, `only ${r.bytes} bytes`);
      assert.ok(superChecked > 0, 'super-packets were translated and verified');
      assert.equal(t().serverTun.stats.txDropped.rejected + t().clientTun.stats.txDropped.rejected, 0);
    },
  );
});
