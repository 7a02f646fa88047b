import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums, verifyPacket } from '@l3kit/testkit';
import { buildPacket, checksum, formatIpv4, formatIpv6, Prefix, parseIp } from '@l3kit/wire';
import fc from 'fast-check';
import { ClosedError, ConfigError, L3Hub, ManualClock } from '../src/index.js';
import { echo, hex, Recorder, udp } from './helpers.js';

function hub(opts: ConstructorParameters<typeof L3Hub>[0] = {}): L3Hub {
  return new L3Hub({ addr4: '10.255.0.1', addr6: '2001:db8:ff::1', clock: new ManualClock(1000), ...opts });
}

const isCode = (code: string) => (e: unknown) => e instanceof ConfigError && e.code === code;

describe('L3Hub routing', () => {
  it('forwards by longest-prefix match over overlapping IPv4 routes, default route included', () => {
    const h = hub();
    const devs = ['any', 'r8', 'r16', 'r24', 'r32', 'src'].map((n) => new Recorder(undefined, n));
    const [any, r8, r16, r24, r32, src] = devs;
    h.attach(any, { routes: ['0.0.0.0/0'] });
    h.attach(r8, { routes: ['10.0.0.0/8'] });
    h.attach(r16, { routes: ['10.1.0.0/16'] });
    h.attach(r24, { routes: ['10.1.2.0/24'] });
    h.attach(r32, { routes: ['10.1.2.3/32'] });
    h.attach(src, { routes: ['192.168.0.0/16'] });
    const cases: [string, Recorder][] = [
      ['10.1.2.3', r32],
      ['10.1.2.4', r24],
      ['10.1.3.1', r16],
      ['10.200.0.1', r8],
      ['11.0.0.1', any],
      ['203.0.113.9', any],
    ];
    for (const [dst, want] of cases) {
      assert.equal(h.lookup(dst), want, `lookup ${dst}`);
      src.emit(udp('192.168.0.1', dst));
      for (const d of devs) assert.equal(d.take().length, d === want ? 1 : 0, `${dst} at ${d.name}`);
    }
    assert.equal(h.stats.forwarded, cases.length);
  });

  it('forwards by longest-prefix match over overlapping IPv6 routes, default route included', () => {
    const h = hub();
    const names = ['any', 'r32', 'r48', 'r64', 'r127', 'r128', 'src'];
    const devs = names.map((n) => new Recorder(undefined, n));
    const [any, r32, r48, r64, r127, r128, src] = devs;
    h.attach(any, { routes: ['::/0'] });
    h.attach(r32, { routes: ['2001:db8::/32'] });
    h.attach(r48, { routes: ['2001:db8:1::/48'] });
    h.attach(r64, { routes: ['2001:db8:1:2::/64'] });
    h.attach(r127, { routes: ['2001:db8:1:2::/127'] });
    h.attach(r128, { routes: ['2001:db8:1:2::1/128'] });
    h.attach(src, { routes: ['fd00::/8'] });
    const cases: [string, Recorder][] = [
      ['2001:db8:1:2::1', r128],
      ['2001:db8:1:2::', r127],
      ['2001:db8:1:2::2', r64],
      ['2001:db8:1:3::1', r48],
      ['2001:db8:2::1', r32],
      ['2001:db9::1', any],
    ];
    for (const [dst, want] of cases) {
      assert.equal(h.lookup(dst), want, `lookup ${dst}`);
      src.emit(udp('fd00::1', dst));
      for (const d of devs) assert.equal(d.take().length, d === want ? 1 : 0, `${dst} at ${d.name}`);
    }
  });

  it('agrees with a brute-force longest-prefix match for random IPv4 and IPv6 tables', () => {
    // Addresses share a few leading bits so that routes overlap and nest often.
    const v4 = fc.tuple(
      fc.constantFrom(0x0a000000, 0x0a010000, 0xc0a80000),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 32 }),
    );
    const v6 = fc.tuple(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 128 }),
    );
    const route = fc.oneof(
      v4.map(([base, r, l]) => {
        const a = (base | ((r * 0x9e37) & 0xffff)) >>> 0;
        return new Prefix(Uint8Array.of(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255), l).network();
      }),
      v6.map(([tail, at, l]) => {
        const ip = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        ip.set(tail, Math.min(at, 12));
        return new Prefix(ip, l).network();
      }),
    );
    const textOf = (ip: Uint8Array) =>
      ip.length === 4
        ? formatIpv4(((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) >>> 0)
        : formatIpv6(ip);
    fc.assert(
      fc.property(
        fc.array(route, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (routes, picks) => {
          const h = hub();
          const table = new Map<string, { p: Prefix; dev: Recorder }>();
          for (const p of routes) {
            if (table.has(p.toString())) continue;
            const dev = new Recorder(undefined, p.toString(), false);
            h.attach(dev, { routes: [p.toString()] });
            table.set(p.toString(), { p, dev });
          }
          // Probe addresses inside each route (with varied host bits), next to it, and fixed ones.
          const probes: Uint8Array[] = [Uint8Array.of(10, 1, 2, 3), parseIp('2001:db8::1')!];
          const all = [...table.values()];
          for (const [i, n] of picks.entries()) {
            if (all.length === 0) break;
            const e = all[n % all.length];
            const ip = e.p.ip.slice();
            for (let b = e.p.bits; b < ip.length * 8; b++)
              if ((n >> (b % 13)) & 1) ip[b >> 3] |= 0x80 >> (b & 7);
            probes.push(ip);
            probes.push(ip.map((x, j) => (j === i % ip.length ? x ^ 0x01 : x)));
          }
          const check = () => {
            const entries = [...table.values()];
            for (const ip of probes) {
              let best: { p: Prefix; dev: Recorder } | undefined;
              for (const e of entries)
                if (
                  e.p.version === (ip.length === 4 ? 4 : 6) &&
                  e.p.containsBytes(ip) &&
                  (!best || e.p.bits > best.p.bits)
                )
                  best = e;
              assert.equal(h.lookup(textOf(ip)), best?.dev, `lookup ${textOf(ip)}`);
            }
          };
          check();
          // Remove some routes (by prefix or by detaching the device) and check again.
          for (const [i, n] of picks.entries()) {
            const keys = [...table.keys()];
            if (keys.length === 0) break;
            const key = keys[n % keys.length];
            if (i % 2) assert.equal(h.removeRoute(key), true);
            else assert.equal(h.detach(table.get(key)!.dev), true);
            table.delete(key);
          }
          check();
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('falls back to the next-longest route after removeRoute and detach', () => {
    const h = hub();
    const r16 = new Recorder(undefined, 'r16');
    const r24 = new Recorder(undefined, 'r24');
    const def = new Recorder(undefined, 'def');
    h.attach(r16, { routes: ['10.1.0.0/16', '2001:db8::/32'] });
    const detach24 = h.attach(r24, { routes: ['10.1.2.0/24'] });
    h.attach(def, { routes: ['0.0.0.0/0'] });
    assert.equal(h.lookup('10.1.2.9'), r24);
    assert.equal(h.removeRoute('10.1.2.0/24'), true);
    assert.equal(h.removeRoute('10.1.2.0/24'), false);
    assert.equal(h.lookup('10.1.2.9'), r16);
    h.addRoute('10.1.2.0/24', r24);
    assert.equal(h.lookup('10.1.2.9'), r24);
    detach24();
    detach24(); // idempotent
    assert.equal(h.lookup('10.1.2.9'), r16);
    assert.equal(h.detach(r16), true);
    assert.equal(h.lookup('10.1.2.9'), def);
    assert.equal(h.lookup('2001:db8::1'), undefined);
    assert.equal(h.removeRoute('0.0.0.0/0'), true);
    assert.equal(h.lookup('10.1.2.9'), undefined);
    assert.deepEqual(h.routes(), []);
  });

  it('routes the networks of a device’s addresses on connectL3, and normalises host bits', () => {
    const h = hub();
    const a = new Recorder('10.0.1.7/24', 'a');
    h.connectL3(a);
    assert.deepEqual(
      h.routes().map((r) => r.prefix),
      ['10.0.1.0/24'],
    );
    h.addRoute('10.9.9.9/8', a);
    assert.equal(h.routes()[1].prefix, '10.0.0.0/8');
  });

  it('decrements TTL with a correct header checksum and leaves the rest of the packet alone', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    const b = new Recorder('10.0.2.1/24', 'b');
    h.connectL3(a);
    h.connectL3(b);
    const p = udp('10.0.1.1', '10.0.2.1', { ttl: 9 });
    const before = p.slice();
    a.emit(p);
    const [got] = b.take();
    assert.equal(got[8], 8);
    assertChecksums(got);
    assert.equal(checksum(got, 0, 20), 0);
    before[8] = 8;
    before[10] = got[10];
    before[11] = got[11];
    assert.equal(hex(got), hex(before));
  });

  it('decrements the IPv6 hop limit', () => {
    const h = hub();
    const a = new Recorder('2001:db8:1::1/64', 'a');
    const b = new Recorder('2001:db8:2::1/64', 'b');
    h.connectL3(a);
    h.connectL3(b);
    a.emit(udp('2001:db8:1::1', '2001:db8:2::1', { ttl: 2 }));
    const [got] = b.take();
    assert.equal(got[7], 1);
  });

  it('answers TTL 1 with ICMP time exceeded from the hub, quoting the original header', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    const b = new Recorder('10.0.2.1/24', 'b');
    h.connectL3(a);
    h.connectL3(b);
    const p = udp('10.0.1.1', '10.0.2.1', { ttl: 1, payload: 'x'.repeat(100) });
    const original = p.slice();
    a.emit(p);
    assert.equal(b.take().length, 0);
    const [err] = a.take();
    assertChecksums(err);
    assert.equal(err[9], 1, 'ICMP');
    assert.equal(
      formatIpv4(((err[12] << 24) | (err[13] << 16) | (err[14] << 8) | err[15]) >>> 0),
      '10.255.0.1',
    );
    assert.equal(
      formatIpv4(((err[16] << 24) | (err[17] << 16) | (err[18] << 8) | err[19]) >>> 0),
      '10.0.1.1',
    );
    assert.equal(err[20], 11);
    assert.equal(err[21], 0);
    assert.equal(
      hex(err.subarray(28)),
      hex(original),
      'the whole (short) original packet is quoted, TTL 1 as received',
    );
    assert.equal(h.stats.ttlExceeded, 1);
    assert.equal(h.stats.icmpSent, 1);
  });

  it('answers hop limit 1 with ICMPv6 time exceeded quoting the original packet', () => {
    const h = hub();
    const a = new Recorder('2001:db8:1::1/64', 'a');
    const b = new Recorder('2001:db8:2::1/64', 'b');
    h.connectL3(a);
    h.connectL3(b);
    const p = udp('2001:db8:1::1', '2001:db8:2::1', { ttl: 1 });
    const original = p.slice();
    a.emit(p);
    const [err] = a.take();
    assertChecksums(err);
    assert.equal(err[6], 58);
    assert.equal(formatIpv6(err, 8), '2001:db8:ff::1');
    assert.equal(formatIpv6(err, 24), '2001:db8:1::1');
    assert.deepEqual([err[40], err[41]], [3, 0]);
    assert.equal(hex(err.subarray(48)), hex(original));
  });

  it('answers a destination without a route with net unreachable (ICMP 3/0, ICMPv6 1/0)', () => {
    const h = hub();
    const a = new Recorder(undefined, 'a');
    h.attach(a, { routes: ['10.0.1.0/24', '2001:db8:1::/64'] });
    a.emit(udp('10.0.1.1', '172.16.0.1'));
    a.emit(udp('2001:db8:1::1', '2001:db8:77::1'));
    const [e4, e6] = a.take();
    assertChecksums(e4);
    assertChecksums(e6);
    assert.deepEqual([e4[20], e4[21]], [3, 0]);
    assert.deepEqual([e6[40], e6[41]], [1, 0]);
    assert.equal(h.stats.noRoute, 2);
  });

  it('sends no ICMP error about an ICMP error', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    h.connectL3(a);
    const inner = udp('10.0.1.1', '10.0.9.9');
    const icmpErr = buildPacket({
      src: '10.0.1.1',
      dst: '172.16.0.1',
      icmp: { type: 3, code: 3, data: inner.subarray(0, 28) },
    });
    a.emit(icmpErr);
    assert.equal(a.take().length, 0);
    assert.equal(h.stats.noRoute, 1);
    assert.equal(h.stats.icmpSuppressed, 1);
  });

  it('sends no ICMP error without a hub address of that family', () => {
    const h = new L3Hub({ clock: new ManualClock() });
    const a = new Recorder('10.0.1.1/24', 'a');
    h.connectL3(a);
    a.emit(udp('10.0.1.1', '172.16.0.1'));
    assert.equal(a.take().length, 0);
    assert.equal(h.stats.icmpSuppressed, 1);
  });

  it('rate-limits ICMP errors with a token bucket on the injected clock', () => {
    const clock = new ManualClock(0);
    const h = hub({ clock, icmpRateLimit: { burst: 2, perSecond: 1 } });
    const a = new Recorder('10.0.1.1/24', 'a');
    h.connectL3(a);
    for (let i = 0; i < 3; i++) a.emit(udp('10.0.1.1', '172.16.0.1'));
    assert.equal(a.take().length, 2);
    assert.equal(h.stats.icmpRateLimited, 1);
    clock.advance(1000);
    a.emit(udp('10.0.1.1', '172.16.0.1'));
    assert.equal(a.take().length, 1);
  });

  it('does not send a packet back out its ingress interface unless the route allows hairpinning', () => {
    const h = hub();
    const a = new Recorder(undefined, 'a');
    h.attach(a, { routes: ['10.0.0.0/8'] });
    a.emit(udp('10.0.0.1', '10.0.0.2'));
    assert.equal(a.take().length, 0);
    assert.equal(h.stats.sameInterface, 1);
    h.addRoute('10.0.0.0/8', a, { hairpin: true });
    a.emit(udp('10.0.0.1', '10.0.0.2', { ttl: 5 }));
    const [back] = a.take();
    assert.equal(back[8], 4);
  });

  it('answers ICMP and ICMPv6 echo sent to its own addresses, and UDP with port unreachable', () => {
    const h = hub();
    const a = new Recorder(undefined, 'a');
    h.attach(a, { routes: ['10.0.1.0/24', '2001:db8:1::/64'] });
    a.emit(echo('10.0.1.1', '10.255.0.1', { id: 0x1234, seq: 9 }));
    a.emit(echo('2001:db8:1::1', '2001:db8:ff::1', { id: 0x4321, seq: 3 }));
    a.emit(udp('10.0.1.1', '10.255.0.1'));
    const [r4, r6, pu] = a.take();
    assert.deepEqual([r4[20], r4[24], r4[25], r4[27]], [0, 0x12, 0x34, 9]);
    assert.equal(formatIpv4(((r4[12] << 24) | (r4[13] << 16) | (r4[14] << 8) | r4[15]) >>> 0), '10.255.0.1');
    assert.deepEqual([r6[40], r6[44], r6[45], r6[47]], [129, 0x43, 0x21, 3]);
    assert.equal(formatIpv6(r6, 8), '2001:db8:ff::1');
    assert.deepEqual([pu[20], pu[21]], [3, 3]);
    assert.equal(h.stats.local, 3);
  });

  it('drops and counts malformed, bad-checksum and martian packets', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    const b = new Recorder('10.0.2.1/24', 'b');
    h.connectL3(a);
    h.connectL3(b);
    const good = udp('10.0.1.1', '10.0.2.1');
    a.emit(new Uint8Array(0));
    a.emit(good.subarray(0, 19));
    a.emit(Uint8Array.of(0x75, ...good.subarray(1)));
    const longer = good.slice();
    longer[3] += 1; // total length past the buffer
    a.emit(longer);
    const badSum = good.slice();
    badSum[10] ^= 0xff;
    a.emit(badSum);
    a.emit(udp('10.0.1.1', '224.0.0.1'));
    a.emit(udp('0.0.0.0', '10.0.2.1'));
    a.emit(udp('fe80::1', '2001:db8::1'));
    a.emit(new Uint8Array(39).fill(0x60));
    assert.equal(h.stats.malformed, 5);
    assert.equal(h.stats.badChecksum, 1);
    assert.equal(h.stats.martian, 3);
    assert.equal(b.take().length, 0);
    assert.equal(a.take().length, 0);
  });

  it('trims link padding after the IP total length when forwarding', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    const b = new Recorder('10.0.2.1/24', 'b');
    h.connectL3(a);
    h.connectL3(b);
    const p = udp('10.0.1.1', '10.0.2.1');
    const padded = new Uint8Array(p.length + 6);
    padded.set(p);
    a.emit(padded);
    assert.equal(b.take()[0].length, p.length);
  });

  it('never throws for arbitrary bytes; what it generates has correct checksums, what it forwards keeps them', () => {
    const h = hub();
    const devs = [
      new Recorder('10.0.1.1/24', 'a', false),
      new Recorder('10.0.2.1/24', 'b', false),
      new Recorder('2001:db8:1::1/64', 'c', false),
      new Recorder('2001:db8:2::1/64', 'd', false),
    ];
    for (const d of devs) h.connectL3(d);
    const seeds = [
      udp('10.0.1.1', '10.0.2.1', { ttl: 1 }),
      udp('10.0.1.1', '10.9.9.9'),
      echo('10.0.1.1', '10.255.0.1'),
      udp('2001:db8:1::1', '2001:db8:2::1', { ttl: 1 }),
      echo('2001:db8:1::1', '2001:db8:ff::1'),
      udp('2001:db8:1::1', '2001:db8:9::1'),
    ];
    const mutated = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(100),
      )
      .map(([seed, edits, cut]) => {
        const p = seed.slice(0, Math.max(0, seed.length - (cut % 3 === 0 ? cut % seed.length : 0)));
        for (const [at, v] of edits) if (at < p.length) p[at] = v;
        return p;
      });
    const bytes = fc.uint8Array({ maxLength: 120 }).map((b) => {
      if (b.length > 0) b[0] = (b[0] & 0x0f) | (b[0] & 1 ? 0x40 : 0x60);
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), bytes, mutated), fc.nat(4), (pkt, from) => {
        const inputOk = verifyPacket(pkt).ok;
        if (from === 4)
          h.send(pkt); // the hub's own uplink
        else devs[from].emit(pkt);
        for (const d of devs)
          for (const out of d.take()) {
            const generated =
              out[0] >> 4 === 4 ? out[12] === 10 && out[13] === 255 : formatIpv6(out, 8) === '2001:db8:ff::1';
            const r = verifyPacket(out);
            if (generated || inputOk) assert.ok(r.ok, `${hex(out)}: ${JSON.stringify(r.problems)}`);
            // A forwarded packet with a broken transport checksum stays broken (routers do not
            // check L4), but its IPv4 header checksum is always right after the TTL decrement.
            else assert.ok(!r.problems.some((x) => x.layer === 'ipv4'), hex(out));
          }
      }),
      { numRuns: 10_000 },
    );
    const s = h.stats;
    assert.ok(s.malformed > 0 && s.forwarded + s.local + s.ttlExceeded + s.noRoute > 0, JSON.stringify(s));
  });
});

describe('L3Hub configuration', () => {
  it('rejects bad configuration and misuse with typed errors', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    const b = new Recorder('10.0.1.2/24', 'b');
    h.connectL3(a);
    assert.throws(() => h.connectL3(a), isCode('ERR_ALREADY_ATTACHED'));
    assert.throws(() => h.connectL3(b), isCode('ERR_ROUTE_EXISTS'));
    assert.equal(h.routes().length, 1, 'a failed attach leaves no route behind');
    h.attach(b, { routes: ['10.0.1.2/32'] });
    assert.throws(() => h.addRoute('10.0.1.0/24', b), isCode('ERR_ROUTE_EXISTS'));
    assert.throws(() => h.addRoute('10.0.0.0/33', a), isCode('ERR_BAD_PREFIX'));
    assert.throws(() => h.addRoute('10.0.0.1', a), isCode('ERR_BAD_PREFIX'));
    assert.throws(() => h.addRoute('10.7.0.0/16', new Recorder()), isCode('ERR_NOT_ATTACHED'));
    assert.throws(() => h.attach(h), isCode('ERR_SELF_ATTACH'));
    assert.throws(() => h.lookup('nonsense'), isCode('ERR_BAD_ADDRESS'));
    assert.throws(() => new L3Hub({ addr4: '2001:db8::1' }), isCode('ERR_BAD_ADDRESS'));
    assert.throws(() => new L3Hub({ icmpRateLimit: { burst: 0, perSecond: 1 } }), isCode('ERR_BAD_OPTION'));
    // Two hosts sharing a subnet: host routes make both reachable.
    assert.equal(h.lookup('10.0.1.2'), b);
    assert.equal(h.lookup('10.0.1.3'), a);
  });

  it('drops packets and refuses attachments once closed', () => {
    const h = hub();
    const a = new Recorder('10.0.1.1/24', 'a');
    h.connectL3(a);
    h.close();
    a.emit(udp('10.0.1.1', '10.0.2.1'));
    assert.equal(h.stats.closed, 0, 'closing detached the device: its handler no longer reaches the hub');
    h.send(udp('10.0.1.1', '10.0.2.1'));
    assert.equal(h.stats.closed, 1);
    assert.throws(
      () => h.attach(new Recorder()),
      (e: unknown) => e instanceof ClosedError && e.code === 'ERR_CLOSED',
    );
  });

  it('is itself a device: send() routes from its uplink and routes to the hub reach its handler', () => {
    const edge = hub({ addr4: '10.1.0.254', addr6: undefined });
    const core = hub();
    const host = new Recorder('10.1.0.1/24', 'host');
    const far = new Recorder('10.2.0.1/24', 'far');
    edge.connectL3(host);
    edge.addRoute('0.0.0.0/0', edge); // everything else goes up
    core.attach(edge, { routes: ['10.1.0.0/16'] });
    core.connectL3(far);
    assert.equal(edge.addr()?.toString(), '10.1.0.254/32');
    host.emit(udp('10.1.0.1', '10.2.0.1', { ttl: 10 }));
    const [got] = far.take();
    assert.equal(got[8], 8, 'two routers, two decrements');
    far.emit(udp('10.2.0.1', '10.1.0.1', { ttl: 10 }));
    assert.equal(host.take()[0][8], 8);
  });
});
