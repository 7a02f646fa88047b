/**
 * A capture written by l3kit is readable by Wireshark: the traffic of real programs crossing the
 * relay is recorded with `Capture` from `@l3kit/core` (pcapng and classic pcap, raw IP link
 * type), and tshark decodes every frame with IP, TCP and UDP checksum validation on, finding no
 * malformed packet and no bad checksum.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { Capture, type L3Device } from '@l3kit/core';
import { buildPacket, checksum } from '@l3kit/wire';
import { interopTest, makeTopology, PLAN, skipReason, type Topology, tempDir } from './harness.js';
import { CURL_TOOLS, curlDownload, pingServer, socatUdp } from './scenarios.js';
import { tsharkDecode } from './tshark.js';

describe('capture: l3kit pcapng / pcap decoded by tshark', () => {
  let topo: Topology | undefined;
  let cap: Capture | undefined;
  before(() => {
    if (skipReason(['tshark'])) return;
    cap = new Capture({ format: 'pcapng', comments: true });
    const c = cap;
    topo = makeTopology({
      serverRouteBack: true,
      ipv6: true,
      wire: (a, b) => {
        c.link(a, b, 'relay');
        return undefined;
      },
    });
  });
  after(async () => {
    await topo?.dispose();
  });

  interopTest(
    'tshark decodes every frame of a pcapng of ping, ping -6, UDP and HTTP with no malformed packet or bad checksum',
    ['tshark', 'ping', 'socat', ...CURL_TOOLS],
    async () => {
      assert.ok(topo && cap);
      await pingServer(topo);
      const p6 = await topo.client.run(['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', PLAN.server6]);
      assert.equal(p6.code, 0, p6.stdout + p6.stderr);
      await socatUdp(topo);
      await curlDownload(topo);
      const file = join(tempDir(), 'relay.pcapng');
      cap.writeFile(file);
      const d = tsharkDecode(file, { allowTcpNegativeZero: true });
      assert.equal(d.frames, cap.packets, 'tshark sees every recorded frame');
      assert.ok(d.frames > 700, `only ${d.frames} frames`);
      for (const p of ['raw', 'ip', 'icmp', 'ipv6', 'icmpv6', 'udp', 'tcp', 'http'])
        assert.ok(d.protocols.has(p), `no ${p} in ${[...d.protocols]}`);
      assert.deepEqual(d.problems, [], 'tshark reported problems');
    },
  );

  interopTest('tshark decodes a classic pcap of a ping the same way', ['tshark', 'ping'], async () => {
    assert.ok(topo);
    const pcap = new Capture({ format: 'pcap' });
    pcap.link(topo.clientTun, topo.serverTun, 'relay');
    await pingServer(topo);
    const file = join(tempDir(), 'relay.pcap');
    pcap.writeFile(file);
    const d = tsharkDecode(file, { allowTcpNegativeZero: true });
    assert.equal(d.frames, pcap.packets);
    assert.ok(d.frames >= 6, `only ${d.frames} frames`);
    assert.ok(d.protocols.has('icmp'));
    assert.deepEqual(d.problems, []);
  });

  interopTest(
    'the tshark check itself flags a bad UDP checksum, a bad IPv4 length and a short TCP header',
    ['tshark'],
    () => {
      // A negative control: without it, a checker that never finds anything would pass too.
      const bad = new Capture({ format: 'pcapng' });
      const sink: L3Device = { setHandler() {}, send() {}, addr: () => undefined, setAddr() {}, close() {} };
      const tap = bad.tap(sink, 'control');
      const udp = buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        udp: { srcPort: 1000, dstPort: 2000 },
        payload: 'x',
      });
      udp[26] ^= 0xff;
      tap.send(udp);
      const long = buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.3',
        udp: { srcPort: 1, dstPort: 2 },
        payload: 'y',
      });
      long[3] += 20; // total length claims 20 bytes more than present; header checksum fixed below
      long[10] = 0;
      long[11] = 0;
      const ck = checksum(long, 0, 20);
      long[10] = ck >>> 8;
      long[11] = ck & 0xff;
      tap.send(long);
      const short = buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.4',
        tcp: { srcPort: 1, dstPort: 2, flags: 0x02 },
      });
      short[32] = 0xf0; // data offset 60 bytes, only 20 present
      tap.send(short);
      const file = join(tempDir(), 'control.pcapng');
      bad.writeFile(file);
      const d = tsharkDecode(file);
      assert.equal(d.frames, 3);
      const all = d.problems.join('\n');
      assert.match(all, /Error\/Checksum/, 'bad UDP checksum flagged');
      assert.match(all, /Error\/Protocol/, 'bad IPv4 total length flagged');
      assert.match(all, /Malformed/, 'short TCP header flagged');
    },
  );
});
