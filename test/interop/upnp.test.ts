/**
 * miniupnpc's `upnpc` against l3kit's UPnP IGD (`@l3kit/upnp`) on the NAT: the client namespace
 * discovers the gateway by SSDP multicast through its TUN, lists it, adds a TCP and a UDP port
 * mapping, a program in the server namespace (outside) reaches a server in the client namespace
 * through the mapped external port, and `upnpc -d` closes it again. The server namespace has no
 * route back to 192.168.1.0/24: only the NAT's forward can carry the connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { UpnpIgd } from '@l3kit/upnp';
import { interopTest, makeTopology, PLAN, skipReason, type Topology } from './harness.js';

const NAT_OUTSIDE = PLAN.natOutside.split('/')[0];
const TOOLS = ['upnpc', 'socat'];

/**
 * The common topology with a NAT running `igd`. SSDP multicast leaves the client namespace through
 * its TUN towards the NAT. `seen` counts the packets the NAT sent to the client (all checked).
 */
function igdTopology(igd: UpnpIgd): { topo: Topology; nat: () => Nat; seen: () => number } {
  let nat: Nat | undefined;
  let seen = 0;
  const topo = makeTopology({
    serverRouteBack: false,
    wire: (clientTun, serverTun) => {
      const n = new Nat({ inside: PLAN.natInside, outside: PLAN.natOutside });
      nat = n;
      n.addHelper(igd);
      connectL3(n.inside(), clientTun);
      n.inside().setHandler((p) => {
        assertChecksums(p, 'NAT inside packet');
        seen++;
        clientTun.send(p);
      });
      n.outside().setHandler((p) => {
        assertChecksums(p, 'NAT outside packet');
        serverTun.send(p);
      });
      serverTun.setHandler((p) => n.outside().send(p));
      return () => n.close();
    },
  });
  topo.client.ip('route', 'add', '239.0.0.0/8', 'dev', topo.clientTun.name);
  return { topo, nat: () => nat as Nat, seen: () => seen };
}

/**
 * upnpc in the client namespace, discovering on the client TUN (SSDP multicast out of that
 * interface). `-i`: miniupnpc ≥ 2.2 treats an IGD whose external address is reserved
 * (203.0.113.0/24 is TEST-NET-3) as "not connected" and would not use it otherwise.
 */
function upnpcIn(topo: Topology, ...args: string[]) {
  return topo.client.run(['upnpc', '-i', '-m', topo.clientTun.name, ...args], { timeoutMs: 30_000 });
}

/** Declares before / after hooks for a topology running `makeIgd()`; returns its accessors. */
function useIgdTopology(makeIgd: () => UpnpIgd) {
  let w: ReturnType<typeof igdTopology> | undefined;
  let igd: UpnpIgd | undefined;
  before(() => {
    if (skipReason(TOOLS)) return;
    igd = makeIgd();
    w = igdTopology(igd);
  });
  after(async () => {
    await w?.topo.dispose();
  });
  const get = () => {
    assert.ok(w && igd, 'topology was not created');
    return { ...w, igd };
  };
  return { get, upnpc: (...args: string[]) => upnpcIn(get().topo, ...args) };
}

describe('upnp: upnpc in the client namespace drives l3kit UpnpIgd on the NAT', () => {
  const { get, upnpc } = useIgdTopology(() => new UpnpIgd({ friendlyName: 'l3kit interop IGD' }));
  const t = () => get().topo;
  const nat = () => get().nat();

  interopTest(
    'upnpc discovers the IGD by SSDP and reads the status and external address',
    TOOLS,
    async () => {
      const r = await upnpc('-s');
      const out = r.stdout + r.stderr;
      assert.match(out, /desc: http:\/\/192\.168\.1\.1:5000\/rootDesc\.xml/, out);
      assert.match(
        out,
        /Found (a )?(valid|\(not connected\?\)) IGD : http:\/\/192\.168\.1\.1:5000\/ctl\/IPConn/i,
        out,
      );
      assert.match(out, /Local LAN ip address : 192\.168\.1\.2/, out);
      assert.match(out, new RegExp(`ExternalIPAddress = ${NAT_OUTSIDE.replace(/\./g, '\\.')}`), out);
      assert.match(out, /Status : Connected/, out);
      assert.ok(get().igd.stats.ssdp.searches > 0);
      assert.ok(get().seen() > 0);
    },
  );

  interopTest(
    'upnpc maps a TCP port; a connection from outside reaches the inside server; -d closes it',
    TOOLS,
    async () => {
      const srv = t().client.spawn([
        'socat',
        'TCP-LISTEN:8080,reuseaddr,fork',
        'SYSTEM:echo hello-from-inside',
      ]);
      try {
        await t().client.waitForPort(8080, 'tcp', 10_000, srv);
        const add = await upnpc('-e', 'interop tcp', '-a', PLAN.client, '8080', '18080', 'TCP', '3600');
        assert.match(
          add.stdout,
          /external 203\.0\.113\.1:18080 TCP is redirected to internal 192\.168\.1\.2:8080/,
          add.stdout + add.stderr,
        );
        const fwd = nat().listPortForwards() ?? [];
        assert.equal(fwd.length, 1);
        assert.equal(fwd[0].origin, 'upnp');
        assert.equal(fwd[0].description, 'interop tcp');
        const list = await upnpc('-l');
        assert.match(list.stdout, /TCP\s+18080->192\.168\.1\.2:8080\s+'interop tcp'/, list.stdout);
        const got = await t().server.run(
          ['socat', '-T', '5', '-', `TCP:${NAT_OUTSIDE}:18080,connect-timeout=5`],
          {
            timeoutMs: 15_000,
          },
        );
        assert.equal(got.stdout.trim(), 'hello-from-inside', got.stderr);
        const del = await upnpc('-d', '18080', 'TCP');
        assert.equal(del.code, 0, del.stdout + del.stderr);
        assert.equal(nat().listPortForwards().length, 0);
        const closed = await t().server.run(
          ['socat', '-T', '3', '-', `TCP:${NAT_OUTSIDE}:18080,connect-timeout=3`],
          {
            timeoutMs: 15_000,
          },
        );
        assert.notEqual(closed.code, 0, 'the port still answers after upnpc -d');
        assert.equal(closed.stdout.trim(), '');
      } finally {
        await srv.stop();
      }
    },
  );

  interopTest(
    'upnpc maps a UDP port; datagrams from outside reach the inside socket until -d',
    TOOLS,
    async () => {
      const srv = t().client.spawn(['socat', '-u', 'UDP-RECV:5555', 'STDOUT']);
      try {
        await t().client.waitForPort(5555, 'udp', 10_000, srv);
        const add = await upnpc('-a', PLAN.client, '5555', '15555', 'UDP', '600');
        assert.match(
          add.stdout,
          /external 203\.0\.113\.1:15555 UDP is redirected to internal 192\.168\.1\.2:5555/,
          add.stdout + add.stderr,
        );
        const send = (text: string) =>
          t().server.run(['sh', '-c', `echo ${text} | socat -u - UDP-SENDTO:${NAT_OUTSIDE}:15555`], {
            timeoutMs: 10_000,
          });
        await send('first-datagram');
        const deadline = Date.now() + 5000;
        while (!srv.stdout.includes('first-datagram') && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        assert.match(srv.stdout, /first-datagram/);
        const del = await upnpc('-d', '15555', 'UDP');
        assert.equal(del.code, 0, del.stdout + del.stderr);
        assert.equal(nat().listPortForwards().length, 0);
        await send('second-datagram');
        await new Promise((r) => setTimeout(r, 1000));
        assert.doesNotMatch(srv.stdout, /second-datagram/);
      } finally {
        await srv.stop();
      }
    },
  );

  interopTest('upnpc cannot map another host address (secure mode)', TOOLS, async () => {
    const r = await upnpc('-a', '192.168.1.77', '8080', '18081', 'TCP');
    assert.match(r.stdout + r.stderr, /718|ConflictInMappingEntry/, r.stdout + r.stderr);
    assert.equal(nat().listPortForwards().length, 0);
  });
});

describe('upnp: upnpc uses the IGD:2 actions of l3kit UpnpIgd version 2', () => {
  const { get, upnpc } = useIgdTopology(() => new UpnpIgd({ version: 2 }));

  interopTest(
    'AddAnyPortMapping, GetListOfPortMappings and DeletePortMappingRange work with upnpc -n, -L and -N',
    TOOLS,
    async () => {
      // upnpc searches for IGD:1 first; an IGD:2 answers that search with the version asked for
      // (as miniupnpd) and the description then offers WANIPConnection:2, whose actions follow.
      const desc = await upnpc('-s');
      assert.match(desc.stdout, /ExternalIPAddress = 203\.0\.113\.1/, desc.stdout + desc.stderr);
      // A static forward holds 20000: AddAnyPortMapping must choose another port.
      get().nat().addPortForward({ proto: 6, outsidePort: 20000, insideIp: '192.168.1.50', insidePort: 80 });
      const any = await upnpc('-n', PLAN.client, '20000', '20000', 'TCP', '600');
      const m = /external 203\.0\.113\.1:(\d+) TCP is redirected to internal 192\.168\.1\.2:20000/.exec(
        any.stdout,
      );
      assert.ok(m, any.stdout + any.stderr);
      assert.notEqual(m[1], '20000');
      assert.equal((await upnpc('-a', PLAN.client, '20001', '20001', 'TCP', '600')).code, 0);
      const list = await upnpc('-L');
      assert.match(list.stdout, new RegExp(`TCP\\s+${m[1]}->192\\.168\\.1\\.2:20000`), list.stdout);
      assert.match(list.stdout, /TCP\s+20001->192\.168\.1\.2:20001/, list.stdout);
      const range = await upnpc('-N', '1024', '65535', 'TCP');
      assert.equal(range.code, 0, range.stdout + range.stderr);
      assert.deepEqual(
        get()
          .nat()
          .listPortForwards()
          .map((f) => `${f.origin}:${f.outsidePort}`),
        ['static:20000'],
      );
    },
  );
});
