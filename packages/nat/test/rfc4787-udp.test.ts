/**
 * RFC 4787 (NAT behavioural requirements for unicast UDP), one test per requirement.
 * REQ-10 (ALGs), REQ-13 (DF / ICMP 3/4) and REQ-14 (fragments) belong to later issues; see
 * docs/conformance.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXT, H1, H2, H3, icmpError, liveMappings, probe, R1, R2, Rig, ROUTER, UDP, udp } from './helpers.js';

describe('RFC 4787 (UDP)', () => {
  it('RFC 4787 REQ-1: a UDP mapping is endpoint-independent', () => {
    const rig = new Rig();
    const ports = new Set<number>();
    for (const [ip, port] of [
      [R1, 53],
      [R1, 54],
      [R2, 53],
      [R2, 9999],
      ['192.0.2.77', 3478],
    ] as const) {
      const o = rig.udpOut(H1, 5000, ip, port);
      assert.equal(o.src, EXT);
      assert.equal(o.dst, ip);
      assert.equal(o.dstPort, port);
      ports.add(o.srcPort as number);
    }
    assert.equal(ports.size, 1, `one external port for every remote, got ${[...ports].join(', ')}`);
    rig.close();
  });

  it('RFC 4787 REQ-2: IP address pooling is paired (one inside host, one external address)', () => {
    const pool = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'];
    const rig = new Rig({ outsidePool: pool });
    const byHost = new Map<string, Set<string>>();
    for (const host of [H1, H2, H3]) {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const o = rig.udpOut(host, 6000 + i, i % 2 ? R1 : R2, 1000 + i);
        assert.ok(pool.includes(o.src), `external address ${o.src} is from the pool`);
        seen.add(o.src);
      }
      byHost.set(host, seen);
    }
    for (const [host, seen] of byHost)
      assert.equal(seen.size, 1, `${host} used ${[...seen].join(', ')} instead of a single address`);
    // Replies to the paired address reach the host.
    const o = rig.udpOut(H2, 6100, R1, 53);
    const back = rig.fromOutside(udp(R1, 53, o.src, o.srcPort as number)).in;
    assert.equal(back.length, 1);
    assert.equal(back[0].dst, H2);
    assert.equal(back[0].dstPort, 6100);
    rig.close();
  });

  it('RFC 4787 REQ-3: no port overloading (two inside endpoints never share an external port)', () => {
    const rig = new Rig();
    // The same inside port on three hosts to the same remote: three distinct external ports.
    const ports = [H1, H2, H3].map((h) => rig.udpOut(h, 5060, R1, 5060).srcPort as number);
    assert.equal(new Set(ports).size, 3, `external ports ${ports.join(', ')}`);
    // Each reply reaches exactly its own host.
    [H1, H2, H3].forEach((h, i) => {
      const back = rig.udpIn(R1, 5060, ports[i]);
      assert.equal(back.length, 1);
      assert.equal(back[0].dst, h);
      assert.equal(back[0].dstPort, 5060);
    });
    rig.close();
  });

  it('RFC 4787 REQ-3a: the port range is kept (0-1023 stays below 1024, 1024-65535 stays above)', () => {
    const rig = new Rig();
    for (const [host, port] of [
      [H1, 123],
      [H2, 123],
      [H3, 500],
      [H1, 1023],
    ] as const) {
      const o = rig.udpOut(host, port, R1, 123);
      assert.ok((o.srcPort as number) < 1024, `${host}:${port} mapped to ${o.srcPort}`);
      assert.ok((o.srcPort as number) > 0);
    }
    for (const [host, port] of [
      [H1, 1024],
      [H2, 1024],
      [H3, 40000],
      [H2, 65535],
    ] as const) {
      const o = rig.udpOut(host, port, R1, 123);
      assert.ok((o.srcPort as number) >= 1024, `${host}:${port} mapped to ${o.srcPort}`);
    }
    rig.close();
  });

  it('RFC 4787 REQ-4: port parity is preserved when configured', () => {
    const rig = new Rig({ portParity: true });
    // H1 takes 40000 and 40001 first, so H2's and H3's mappings cannot be preserved.
    rig.udpOut(H1, 40000, R1, 5004);
    rig.udpOut(H1, 40001, R1, 5005);
    for (const host of [H2, H3]) {
      const even = rig.udpOut(host, 40000, R1, 5004).srcPort as number;
      const odd = rig.udpOut(host, 40001, R1, 5005).srcPort as number;
      assert.equal(even % 2, 0, `even inside port mapped to ${even}`);
      assert.equal(odd % 2, 1, `odd inside port mapped to ${odd}`);
    }
    rig.close();
  });

  it('RFC 4787 REQ-5: a UDP mapping survives at least 120 s idle and 300 s by default', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(299);
    assert.equal(liveMappings(rig.nat, UDP).length, 1, 'alive after 299 s idle');
    assert.equal(rig.udpIn(R1, 53, x).length, 1, 'reply passes after 299 s');
    // The reply above may refresh (inbound refresh is allowed); wait a full default period more.
    rig.advanceSec(302);
    assert.equal(liveMappings(rig.nat, UDP).length, 0, 'gone after the timeout');
    assert.equal(rig.udpIn(R1, 53, x).length, 0, 'a reply after expiry is dropped');
    rig.close();
  });

  it('RFC 4787 REQ-5: a configured UDP timeout below 120 s is refused, 120 s is accepted', () => {
    assert.throws(
      () => new Rig({ timeouts: { udp: 119_999 } }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT_TOO_SHORT',
    );
    const rig = new Rig({ timeouts: { udp: 120_000 } });
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(119);
    assert.equal(liveMappings(rig.nat, UDP).length, 1, 'alive after 119 s');
    rig.advanceSec(3);
    assert.equal(liveMappings(rig.nat, UDP).length, 0, 'the configured 120 s applies');
    assert.equal(rig.udpIn(R1, 53, x).length, 0);
    rig.close();
  });

  it('RFC 4787 REQ-6: outbound packets refresh the mapping', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    rig.advanceSec(250);
    assert.equal(rig.udpOut(H1, 5000, R1, 53).srcPort, x, 'same mapping on refresh');
    rig.advanceSec(250); // 500 s after creation, 250 s after the refresh
    assert.equal(liveMappings(rig.nat, UDP).length, 1, 'refreshed mapping alive');
    assert.equal(rig.udpIn(R1, 53, x).length, 1);
    rig.close();
  });

  it('RFC 4787 REQ-8: filtering is configurable (EIF, ADF, APDF)', () => {
    for (const filtering of [
      'endpoint-independent',
      'address-dependent',
      'address-and-port-dependent',
    ] as const) {
      const rig = new Rig({ filtering });
      assert.equal(probe(rig).filtering, filtering);
      rig.close();
    }
    // The default is endpoint-independent mapping with address-and-port-dependent filtering.
    const rig = new Rig();
    const r = probe(rig);
    assert.equal(r.mapping, 'endpoint-independent');
    assert.equal(r.filtering, 'address-and-port-dependent');
    rig.close();
  });

  it('RFC 4787 REQ-9: UDP hairpinning with the external address and port as source (REQ-9a)', () => {
    const rig = new Rig({ filtering: 'endpoint-independent' });
    const x1 = rig.udpOut(H1, 5000, R1, 3478).srcPort as number;
    const x2 = rig.udpOut(H2, 6000, R1, 3478).srcPort as number;
    const r = rig.fromInside(udp(H2, 6000, EXT, x1, 'hairpin'));
    assert.equal(r.out.length, 0, 'a hairpinned packet does not leave on the outside');
    assert.equal(r.in.length, 1, 'the hairpinned packet reaches H1');
    const p = r.in[0];
    assert.equal(p.dst, H1);
    assert.equal(p.dstPort, 5000);
    assert.equal(p.src, EXT, 'source is the external address');
    assert.equal(p.srcPort, x2, 'source port is H2s external port');
    assert.equal(new TextDecoder().decode(p.payload), 'hairpin');
    // H1 answers the external endpoint it saw; that reaches H2 from H1's external endpoint.
    const back = rig.fromInside(udp(H1, 5000, EXT, x2, 'back')).in;
    assert.equal(back.length, 1);
    assert.deepEqual([back[0].src, back[0].srcPort, back[0].dst, back[0].dstPort], [EXT, x1, H2, 6000]);
    rig.close();
  });

  it('RFC 4787 REQ-11: behaviour is deterministic (unchanged under load and over time)', () => {
    const rig = new Rig();
    const first = probe(rig, H1, 7000);
    // Load the table with many mappings, let time pass, probe again from other endpoints.
    for (let i = 0; i < 2000; i++) rig.udpOut(i % 2 ? H2 : H3, 10000 + i, R1, 80);
    const second = probe(rig, H1, 7100);
    rig.advanceSec(100);
    const third = probe(rig, H2, 7200);
    for (const r of [first, second, third]) {
      assert.equal(r.mapping, 'endpoint-independent');
      assert.equal(r.filtering, 'address-and-port-dependent');
    }
    rig.close();
  });

  it('RFC 4787 REQ-12: receiving ICMP never deletes a UDP mapping', () => {
    const rig = new Rig();
    const o = rig.udpOut(H1, 5000, R1, 53);
    const x = o.srcPort as number;
    for (const [type, code] of [
      [3, 3],
      [3, 1],
      [11, 0],
      [3, 13],
    ]) {
      rig.fromOutside(icmpError(ROUTER, EXT, type, code, o.bytes));
      assert.equal(liveMappings(rig.nat, UDP).length, 1, `mapping kept after ICMP ${type}/${code}`);
    }
    const back = rig.udpIn(R1, 53, x);
    assert.equal(back.length, 1, 'traffic still flows after the errors');
    assert.equal(rig.udpOut(H1, 5000, R1, 53).srcPort, x, 'same external port');
    rig.close();
  });
});
