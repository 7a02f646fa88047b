/**
 * UPnP Device Architecture 1.1 and IGD rules that the other UPnP tests do not show on their own:
 * the SSDP headers of what the IGD really sends, the MX cap, eventing refused, and UPnP error 501.
 * Listed in docs/conformance.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, Ipv4Packet } from '@l3kit/wire';
import { parseSsdpMessage } from '../src/index.js';
import { igdRig, mappingArgs, rawHttp, SERVICES, soapCall } from './fake-host.js';

const SEARCH_DELAY_CAP_MS = 10_000;

/** An M-SEARCH from the rig's client 192.168.1.10:40000 to the SSDP group. */
function mSearch(st: string, mx: number): Uint8Array {
  const text = `M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: ${mx}\r\nST: ${st}\r\n\r\n`;
  return buildPacket({
    src: '192.168.1.10',
    dst: '239.255.255.250',
    udp: { srcPort: 40000, dstPort: 1900 },
    payload: text,
  });
}

/** The SSDP messages the IGD sent to tenant 0 (checksums verified), parsed. */
function ssdpSent(rig: ReturnType<typeof igdRig>) {
  return rig.host.take(0).map((p) => {
    assertChecksums(p, 'SSDP datagram');
    const ip = Ipv4Packet.checked(p);
    assert.ok(ip);
    const msg = parseSsdpMessage(p.subarray(ip.payloadOffset + 8));
    assert.ok(msg, 'an SSDP message');
    return msg;
  });
}

/** UDA 1.1 §1.2.2 / §1.3.3: headers every alive NOTIFY and search response must carry. */
function assertUda11Headers(h: Map<string, string>, what: string): void {
  const maxAge = /^max-age\s*=\s*(\d+)$/i.exec(h.get('cache-control') ?? '');
  assert.ok(maxAge && Number(maxAge[1]) >= 1800, `${what}: CACHE-CONTROL max-age ≥ 1800`);
  assert.match(h.get('location') ?? '', /^http:\/\/192\.168\.1\.1:5000\//, `${what}: LOCATION`);
  assert.match(
    h.get('server') ?? '',
    /^\S+\/\S+ UPnP\/1\.1 \S+\/\S+$/,
    `${what}: SERVER "OS/version UPnP/1.1 product/version"`,
  );
  assert.match(h.get('usn') ?? '', /^uuid:[0-9a-f-]{36}(::.+)?$/, `${what}: USN`);
  assert.match(h.get('bootid.upnp.org') ?? '', /^\d+$/, `${what}: BOOTID.UPNP.ORG`);
  assert.match(h.get('configid.upnp.org') ?? '', /^\d+$/, `${what}: CONFIGID.UPNP.ORG`);
}

describe('UPnP Device Architecture 1.1 and IGD (conformance)', () => {
  it('UDA 1.1: every search response carries ST, USN, EXT, LOCATION, SERVER, max-age ≥ 1800, BOOTID and CONFIGID', () => {
    const rig = igdRig();
    rig.igd.onLocalPacket(mSearch('ssdp:all', 1), 0);
    rig.sched.advance(1000);
    const got = ssdpSent(rig);
    assert.ok(got.length > 0, 'answered');
    for (const m of got) {
      assert.equal(m.startLine, 'HTTP/1.1 200 OK');
      assert.equal(m.headers.get('ext'), '', 'EXT: present and empty');
      const st = m.headers.get('st') ?? '';
      const usn = m.headers.get('usn') ?? '';
      assert.ok(usn === st || usn.endsWith(`::${st}`), `USN ${usn} names ST ${st}`);
      assertUda11Headers(m.headers, `response for ${st}`);
    }
  });

  it('UDA 1.1: every ssdp:alive NOTIFY carries NT, USN, LOCATION, SERVER, max-age ≥ 1800, BOOTID and CONFIGID', () => {
    const rig = igdRig({ notifyIntervalMs: 60_000 });
    rig.sched.advance(0);
    const got = ssdpSent(rig);
    assert.ok(got.length > 0, 'announced');
    for (const m of got) {
      assert.equal(m.startLine, 'NOTIFY * HTTP/1.1');
      assert.equal(m.headers.get('host'), '239.255.255.250:1900');
      assert.equal(m.headers.get('nts'), 'ssdp:alive');
      const nt = m.headers.get('nt') ?? '';
      const usn = m.headers.get('usn') ?? '';
      assert.ok(usn === nt || usn.endsWith(`::${nt}`), `USN ${usn} names NT ${nt}`);
      assertUda11Headers(m.headers, `NOTIFY for ${nt}`);
    }
  });

  it('UDA 1.1: BOOTID.UPNP.ORG grows with every start of the device', () => {
    const bootIdOf = (rig: ReturnType<typeof igdRig>) => {
      rig.sched.advance(0);
      const ids = new Set(ssdpSent(rig).map((m) => Number(m.headers.get('bootid.upnp.org'))));
      assert.equal(ids.size, 1, 'one BOOTID per run');
      return [...ids][0];
    };
    const first = igdRig({ notifyIntervalMs: 60_000 });
    const a = bootIdOf(first);
    // A later start (the rig's clock starts at the same instant: move it on before attaching).
    const later = igdRig({ notifyIntervalMs: 60_000 });
    later.igd.detach();
    later.sched.clock.advance(5_000);
    later.host.install(later.igd);
    later.host.take(0);
    const b = bootIdOf(later);
    assert.ok(Number.isInteger(a) && a >= 1 && b > a, `BOOTID ${a} then ${b}`);
  });

  it('UDA 1.1: an MX above 5 is treated as 5 when choosing the answer delay', () => {
    // random() = 0.5 in the rig: the answer waits half of min(MX, maxResponseDelayMs).
    const capped = igdRig({ maxResponseDelayMs: SEARCH_DELAY_CAP_MS });
    capped.igd.onLocalPacket(mSearch('upnp:rootdevice', 120), 0);
    capped.sched.advance(2499);
    assert.equal(ssdpSent(capped).length, 0, 'not before 0.5 × 5 s');
    capped.sched.advance(1);
    assert.equal(ssdpSent(capped).length, 1, 'at 0.5 × 5 s, not 0.5 × 10 s');
    const small = igdRig({ maxResponseDelayMs: SEARCH_DELAY_CAP_MS });
    small.igd.onLocalPacket(mSearch('upnp:rootdevice', 2), 0);
    small.sched.advance(1000);
    assert.equal(ssdpSent(small).length, 1, 'an MX of 2 waits 0.5 × 2 s');
  });

  it('UDA 1.1 eventing is not offered: SUBSCRIBE to either eventSubURL answers 501', async () => {
    const rig = igdRig();
    for (const path of ['/evt/IPConn', '/evt/CmnIfCfg']) {
      const r = await rawHttp(
        rig,
        `SUBSCRIBE ${path} HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nCALLBACK: <http://192.168.1.10:49152/>\r\nNT: upnp:event\r\nTIMEOUT: Second-1800\r\n\r\n`,
      );
      assert.equal(r.status, 501, path);
      assert.equal(r.headers.get('sid'), undefined, `${path}: no subscription id`);
    }
  });

  it('UPnP error 501 Action Failed: GetExternalIPAddress and AddPortMapping when the NAT has no external address', async () => {
    for (const [version, service] of [
      [1, SERVICES.ipc1],
      [2, SERVICES.ipc2],
    ] as const) {
      const rig = igdRig({ version });
      rig.host.externalAddress = () => {
        throw new ConfigError('ERR_CLOSED', 'the NAT is closed');
      };
      const ext = await soapCall(rig, service, 'GetExternalIPAddress');
      assert.equal(ext.status, 500);
      assert.equal(ext.error, 501, `IGD:${version} GetExternalIPAddress`);
      const add = await soapCall(rig, service, 'AddPortMapping', mappingArgs());
      assert.equal(add.error, 501, `IGD:${version} AddPortMapping`);
      assert.deepEqual(rig.host.log, [], 'no forward was created');
    }
  });
});
