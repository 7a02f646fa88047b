import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pump } from '@l3kit/testkit';
import { buildPacket, Ipv4Packet, parseIpv4, UdpDatagram } from '@l3kit/wire';
import fc from 'fast-check';
import {
  buildNotifyAlive,
  buildSearchResponse,
  matchSearchTarget,
  parseMSearch,
  parseSsdpMessage,
  type SsdpDeviceInfo,
  ssdpTargets,
} from '../src/index.js';
import { igdRig } from './fake-host.js';

const dev1: SsdpDeviceInfo = { uuidRoot: 'r', uuidWan: 'w', uuidConn: 'c', version: 1 };
const dev2: SsdpDeviceInfo = { ...dev1, version: 2 };
const te = new TextEncoder();

function msearch(st: string, extra: Record<string, string | undefined> = {}): string {
  const h: Record<string, string | undefined> = {
    HOST: '239.255.255.250:1900',
    MAN: '"ssdp:discover"',
    MX: '2',
    ST: st,
    ...extra,
  };
  const lines = ['M-SEARCH * HTTP/1.1'];
  for (const [k, v] of Object.entries(h)) if (v !== undefined) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function datagram(text: string, dst = '239.255.255.250', srcPort = 40000, src = '192.168.1.10'): Uint8Array {
  return buildPacket({ src, dst, udp: { srcPort, dstPort: 1900 }, payload: text });
}

/** The SSDP texts of what the IGD sent to tenant 0, with the UDP ports and destination. */
function answers(rig: ReturnType<typeof igdRig>) {
  return rig.host.take(0).map((p) => {
    const ip = Ipv4Packet.checked(p) as Ipv4Packet;
    const u = UdpDatagram.checked(p, ip.payloadOffset) as UdpDatagram;
    const text = Buffer.from(p.subarray(ip.payloadOffset + 8)).toString();
    const msg = parseSsdpMessage(te.encode(text));
    return { dst: ip.dst >>> 0, ttl: ip.ttl, srcPort: u.srcPort, dstPort: u.dstPort, text, h: msg?.headers };
  });
}

describe('SSDP messages', () => {
  it('parses an M-SEARCH and requires MAN "ssdp:discover" and, for multicast, an MX of at least 1', () => {
    const ok = parseMSearch(parseSsdpMessage(te.encode(msearch('ssdp:all'))) ?? assert.fail(), true);
    assert.deepEqual(ok, { ok: true, st: 'ssdp:all', mx: 2 });
    const p = (t: string, mc = true) => parseMSearch(parseSsdpMessage(te.encode(t)) ?? assert.fail(), mc);
    assert.deepEqual(p(msearch('ssdp:all', { MAN: undefined })), { ok: false, reason: 'bad-man' });
    assert.deepEqual(p(msearch('ssdp:all', { MAN: '"ssdp:alive"' })), { ok: false, reason: 'bad-man' });
    assert.deepEqual(p(msearch('ssdp:all', { MX: undefined })), { ok: false, reason: 'bad-mx' });
    assert.deepEqual(p(msearch('ssdp:all', { MX: '0' })), { ok: false, reason: 'bad-mx' });
    assert.deepEqual(p(msearch('ssdp:all', { MX: 'x' })), { ok: false, reason: 'bad-mx' });
    assert.deepEqual(p(msearch('ssdp:all', { MX: '120' })), { ok: true, st: 'ssdp:all', mx: 5 });
    assert.deepEqual(p(msearch('ssdp:all', { MX: undefined }), false), { ok: true, st: 'ssdp:all', mx: 0 });
    assert.deepEqual(p(msearch('ssdp:all', { ST: undefined })), { ok: false, reason: 'no-st' });
    assert.deepEqual(p('NOTIFY * HTTP/1.1\r\nNT: x\r\n\r\n'), { ok: false, reason: 'not-msearch' });
    assert.deepEqual(p('M-SEARCH /x HTTP/1.1\r\nMAN: "ssdp:discover"\r\n\r\n'), {
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuses non-text, oversized, header-less or duplicate-header datagrams', () => {
    assert.equal(parseSsdpMessage(new Uint8Array([0x4d, 0x00, 0x41])), null);
    assert.equal(parseSsdpMessage(new Uint8Array(3000).fill(0x41)), null);
    assert.equal(parseSsdpMessage(te.encode('M-SEARCH * HTTP/1.1\r\nnocolon\r\n\r\n')), null);
    assert.equal(parseSsdpMessage(te.encode('M-SEARCH * HTTP/1.1\r\nST: a\r\nst: b\r\n\r\n')), null);
    assert.equal(parseSsdpMessage(new Uint8Array(0)), null);
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2100 }), fc.boolean(), (b, mc) => {
        const m = parseSsdpMessage(b);
        if (m) parseMSearch(m, mc);
      }),
      { numRuns: 10_000 },
    );
  });

  it('matches every search target of the device tree', () => {
    const all = ssdpTargets(dev1);
    assert.equal(matchSearchTarget('ssdp:all', dev1).length, 9);
    assert.deepEqual(matchSearchTarget('upnp:rootdevice', dev1), [
      { nt: 'upnp:rootdevice', usn: 'uuid:r::upnp:rootdevice' },
    ]);
    assert.deepEqual(matchSearchTarget('uuid:w', dev1), [{ nt: 'uuid:w', usn: 'uuid:w' }]);
    assert.deepEqual(matchSearchTarget('uuid:nope', dev1), []);
    const u = 'urn:schemas-upnp-org';
    const cases: Array<[string, string]> = [
      [`${u}:device:InternetGatewayDevice:1`, 'uuid:r'],
      [`${u}:device:WANDevice:1`, 'uuid:w'],
      [`${u}:device:WANConnectionDevice:1`, 'uuid:c'],
      [`${u}:service:WANIPConnection:1`, 'uuid:c'],
      [`${u}:service:WANCommonInterfaceConfig:1`, 'uuid:w'],
    ];
    for (const [st, uuid] of cases)
      assert.deepEqual(matchSearchTarget(st, dev1), [{ nt: st, usn: `${uuid}::${st}` }], st);
    assert.ok(all.every((t) => t.usn.startsWith('uuid:')));
  });

  it('answers a lower version search with the version asked for and ignores a higher one', () => {
    const u = 'urn:schemas-upnp-org';
    assert.deepEqual(matchSearchTarget(`${u}:device:InternetGatewayDevice:1`, dev2), [
      { nt: `${u}:device:InternetGatewayDevice:1`, usn: `uuid:r::${u}:device:InternetGatewayDevice:1` },
    ]);
    assert.equal(matchSearchTarget(`${u}:service:WANIPConnection:2`, dev2).length, 1);
    assert.equal(matchSearchTarget(`${u}:device:InternetGatewayDevice:2`, dev1).length, 0);
    assert.equal(matchSearchTarget(`${u}:service:WANIPConnection:2`, dev1).length, 0);
    assert.equal(matchSearchTarget(`${u}:service:WANCommonInterfaceConfig:2`, dev2).length, 0);
    assert.equal(matchSearchTarget(`${u}:service:WANPPPConnection:1`, dev2).length, 0);
    assert.equal(matchSearchTarget(`${u}:device:InternetGatewayDevice:0`, dev2).length, 0);
  });

  it('builds search responses and NOTIFYs that parse back with their headers', () => {
    const a = {
      location: 'http://192.168.1.1:5000/rootDesc.xml',
      server: 'x/1 UPnP/1.1 y/1',
      maxAgeSec: 1800,
      bootId: 1,
      configId: 1,
    };
    const r = parseSsdpMessage(
      buildSearchResponse({ nt: 'upnp:rootdevice', usn: 'uuid:r::upnp:rootdevice' }, a),
    );
    assert.equal(r?.startLine, 'HTTP/1.1 200 OK');
    assert.equal(r?.headers.get('st'), 'upnp:rootdevice');
    assert.equal(r?.headers.get('location'), a.location);
    assert.equal(r?.headers.get('cache-control'), 'max-age=1800');
    assert.equal(r?.headers.get('ext'), '');
    const n = parseSsdpMessage(buildNotifyAlive({ nt: 'uuid:r', usn: 'uuid:r' }, a));
    assert.equal(n?.startLine, 'NOTIFY * HTTP/1.1');
    assert.equal(n?.headers.get('nts'), 'ssdp:alive');
    assert.equal(n?.headers.get('host'), '239.255.255.250:1900');
  });
});

describe('UpnpIgd SSDP', () => {
  it('answers a multicast ssdp:all search with one unicast response per target after an MX-bounded delay', () => {
    const rig = igdRig({ maxResponseDelayMs: 3000 });
    rig.igd.onLocalPacket(datagram(msearch('ssdp:all', { MX: '1' })), 0);
    assert.equal(rig.host.take(0).length, 0, 'not at once');
    rig.sched.advance(499); // random() = 0.5 → 0.5 × min(1 s, 3 s)
    assert.equal(rig.host.take(0).length, 0);
    rig.sched.advance(1);
    const got = answers(rig);
    assert.equal(got.length, 9);
    for (const g of got) {
      assert.equal(g.dst, parseIpv4('192.168.1.10'));
      assert.equal(g.srcPort, 1900);
      assert.equal(g.dstPort, 40000);
      assert.equal(g.h?.get('location'), 'http://192.168.1.1:5000/rootDesc.xml');
    }
    assert.deepEqual(
      got.map((g) => g.h?.get('st')),
      ssdpTargets({
        ...dev1,
        uuidRoot: rig.igd.uuids.root,
        uuidWan: rig.igd.uuids.wan,
        uuidConn: rig.igd.uuids.conn,
      }).map((t) => t.nt),
    );
  });

  it('answers a unicast search at once without MX', () => {
    const rig = igdRig();
    rig.igd.onLocalPacket(datagram(msearch('upnp:rootdevice', { MX: undefined }), '192.168.1.1'), 0);
    const got = answers(rig);
    assert.equal(got.length, 1);
    assert.equal(got[0].h?.get('usn'), `uuid:${rig.igd.uuids.root}::upnp:rootdevice`);
  });

  it('ignores searches without MAN, with a bad MX, for unknown targets, from off the LAN, and NOTIFYs of others, counting each', () => {
    const rig = igdRig();
    rig.igd.onLocalPacket(datagram(msearch('ssdp:all', { MAN: undefined })), 0);
    rig.igd.onLocalPacket(datagram(msearch('ssdp:all', { MX: '0' })), 0);
    rig.igd.onLocalPacket(datagram(msearch('urn:schemas-upnp-org:device:MediaServer:1')), 0);
    rig.igd.onLocalPacket(datagram('NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n'), 0);
    rig.igd.onLocalPacket(datagram('\x00\x01garbage'), 0);
    rig.sched.advance(10_000);
    assert.equal(rig.host.take(0).length, 0);
    assert.deepEqual(rig.igd.stats.ssdp.ignored, {
      'bad-man': 1,
      'bad-mx': 1,
      'no-match': 1,
      notify: 1,
      malformed: 1,
    });
  });

  it('bounds a flood of searches with a per-tenant token bucket and keeps answering other tenants', () => {
    const rig = igdRig({ ssdpBurst: 4, ssdpRatePerSec: 1 });
    rig.host.addTenant(2);
    for (let i = 0; i < 1000; i++)
      rig.igd.onLocalPacket(datagram(msearch('upnp:rootdevice'), '239.255.255.250', 40000 + i), 0);
    rig.sched.advance(2000);
    assert.equal(rig.host.take(0).length, 4); // the burst; no time passed, nothing refilled
    assert.equal(rig.igd.stats.ssdp.ignored['rate-limited'], 996);
    rig.igd.onLocalPacket(datagram(msearch('upnp:rootdevice')), 2);
    rig.sched.advance(2000);
    assert.equal(rig.host.take(2).length, 1);
  });

  it('sends NOTIFY ssdp:alive for every target to every tenant periodically', () => {
    const rig = igdRig({ notifyIntervalMs: 60_000 });
    rig.host.addTenant(3);
    rig.sched.advance(0);
    const first = answers(rig);
    assert.equal(first.length, 9);
    for (const n of first) {
      assert.equal(n.dst, parseIpv4('239.255.255.250'));
      assert.equal(n.ttl, 2);
      assert.equal(n.h?.get('nts'), 'ssdp:alive');
    }
    assert.equal(rig.host.take(3).length, 9);
    rig.sched.advance(60_000);
    assert.equal(rig.host.take(0).length, 9);
  });

  it('never throws on arbitrary packets or SSDP payloads and keeps its pending answers bounded', () => {
    const rig = igdRig({ maxPendingResponses: 20, ssdpBurst: 1000, ssdpRatePerSec: 1000 });
    const header = fc.constantFrom(
      'MAN: "ssdp:discover"',
      'MX: 3',
      'ST: ssdp:all',
      'ST: upnp:rootdevice',
      'X: y',
      '',
    );
    const search = fc
      .array(header, { maxLength: 6 })
      .map((h) => `M-SEARCH * HTTP/1.1\r\n${h.join('\r\n')}\r\n\r\n`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }),
          search.map((t) => datagram(t)),
        ),
        (pkt) => {
          rig.igd.onLocalPacket(pkt, 0);
        },
      ),
      { numRuns: 10_000 },
    );
    rig.sched.advance(10_000);
    const sent = rig.host.take(0);
    assert.ok(sent.length > 0, 'some searches were valid');
    assert.ok((rig.igd.stats.ssdp.ignored['too-many-pending'] ?? 0) > 0, 'the pending cap was reached');
    assert.ok((rig.igd.stats.drops.malformed ?? 0) > 0);
  });

  it('is discovered by a client host over its own UDP socket', async () => {
    const rig = igdRig();
    const sock = rig.client.udp.bind(0);
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    sock.send(
      Buffer.from(msearch('urn:schemas-upnp-org:device:InternetGatewayDevice:1')),
      1900,
      '239.255.255.250',
    );
    await pump(rig.sched, () => got.length > 0, 5000);
    assert.match(got[0], /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(got[0], /LOCATION: http:\/\/192\.168\.1\.1:5000\/rootDesc\.xml/);
    sock.close();
  });
});
