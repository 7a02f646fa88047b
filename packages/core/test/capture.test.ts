import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import { readPcap, readPcapng } from '@l3kit/wire';
import { Capture, type CaptureRecord, ConfigError, L3Hub, ManualClock, VirtualHost } from '../src/index.js';
import { hex, Recorder, udp } from './helpers.js';

describe('Capture', () => {
  it('records both directions of a tapped device and reads back from pcapng', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const cap = new Capture({ clock, comments: true });
    const hub = new L3Hub({ addr4: '10.0.0.254', clock });
    const a = new VirtualHost({ addr: '10.0.1.1/24', clock, name: 'host-a' });
    const b = new VirtualHost({ addr: '10.0.2.1/24', clock, name: 'host-b' });
    const ta = cap.tap(a);
    assert.equal(ta.name, 'host-a');
    assert.equal(ta.inner, a);
    hub.connectL3(ta);
    hub.connectL3(cap.tap(b, 'b-side'));
    await a.ping('10.0.2.1');
    clock.advance(1.5);
    await a.ping('10.0.2.1');
    // Per ping: a out, b in, b out, a in.
    assert.equal(cap.packets, 8);
    const file = readPcapng(cap.bytes());
    assert.deepEqual(
      file.interfaces.map((i) => [i.name, i.linkType]),
      [
        ['host-a', 101],
        ['b-side', 101],
      ],
    );
    assert.deepEqual(
      file.packets.map((p) => [p.interfaceId, p.comment]),
      [
        [0, 'host-a out'],
        [1, 'b-side in'],
        [1, 'b-side out'],
        [0, 'host-a in'],
        [0, 'host-a out'],
        [1, 'b-side in'],
        [1, 'b-side out'],
        [0, 'host-a in'],
      ],
    );
    assert.equal(file.packets[0].timestampMs, 1_700_000_000_000);
    assert.equal(file.packets[4].timestampMs, 1_700_000_000_001.5);
    for (const p of file.packets) assertChecksums(p.data, 'captured packet');
    // The request as a emitted it has TTL 64; as b received it, 63.
    assert.equal(file.packets[0].data[8], 64);
    assert.equal(file.packets[1].data[8], 63);
    assert.equal(file.packets[0].originalLength, file.packets[0].data.length);
  });

  it('keeps a copy: a receiver that rewrites the buffer in place does not change the record', () => {
    const cap = new Capture({ clock: new ManualClock() });
    const inner = new Recorder('10.0.0.1/24', 'inner', false);
    const mutating = Object.assign(inner, {
      send(p: Uint8Array) {
        p.fill(0);
        Recorder.prototype.send.call(inner, p);
      },
    });
    const t = cap.tap(mutating, 'm');
    const p = udp('10.0.0.2', '10.0.0.1');
    const before = p.slice();
    t.send(p);
    assert.equal(hex(readPcapng(cap.bytes()).packets[0].data), hex(before));
  });

  it('behaves like the wrapped device: handler, addresses and close pass through', () => {
    const cap = new Capture({ clock: new ManualClock() });
    const host = new VirtualHost({ addr: '10.0.0.1/24', addr6: '2001:db8::1/64' });
    const t = cap.tap(host);
    assert.equal(t.addr()?.toString(), '10.0.0.1/24');
    assert.deepEqual(t.addresses().map(String), ['10.0.0.1/24', '2001:db8::1/64']);
    const out: Uint8Array[] = [];
    t.setHandler((p) => out.push(p));
    t.setHandler((p) => out.push(p, p)); // replacing the handler keeps one tap, not two
    t.send(udp('10.0.0.2', '10.0.0.1', { dport: 9 })); // answered with port unreachable
    assert.equal(out.length, 2);
    assert.equal(cap.packets, 2);
    t.close();
    t.send(udp('10.0.0.2', '10.0.0.1', { dport: 9 }));
    assert.equal(host.stats.closed, 1);
  });

  it('records a link in both directions on one interface, and calls onPacket for each packet', () => {
    const seen: CaptureRecord[] = [];
    const cap = new Capture({ clock: new ManualClock(10), onPacket: (_p, info) => seen.push(info) });
    const x = new Recorder('10.0.0.1/24', 'x');
    const y = new Recorder('10.0.0.2/24', 'y');
    cap.link(x, y);
    x.emit(udp('10.0.0.1', '10.0.0.2'));
    y.emit(udp('10.0.0.2', '10.0.0.1'));
    assert.equal(x.take().length, 1);
    assert.equal(y.take().length, 1);
    assert.deepEqual(seen, [
      { name: 'x<->y', direction: 'out', timestampMs: 10, frame: 1 },
      { name: 'x<->y', direction: 'in', timestampMs: 10, frame: 2 },
    ]);
    const f = readPcapng(cap.bytes());
    assert.equal(f.interfaces.length, 1);
    assert.equal(f.packets.length, 2);
  });

  it('writes classic pcap when asked, readable with readPcap', () => {
    const cap = new Capture({ format: 'pcap', clock: new ManualClock(2000) });
    const t = cap.tap(new Recorder('10.0.0.1/24', 'r'));
    const p4 = udp('10.0.0.2', '10.0.0.1');
    const p6 = udp('2001:db8::2', '2001:db8::1');
    t.send(p4);
    t.send(p6);
    const f = readPcap(cap.bytes());
    assert.equal(f.linkType, 101);
    assert.deepEqual(
      f.packets.map((p) => hex(p.data)),
      [hex(p4), hex(p6)],
    );
    assert.equal(f.packets[1].timestampMs, 2000);
  });

  it('writes the file to disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l3kit-cap-'));
    try {
      const cap = new Capture({ clock: new ManualClock() });
      cap.tap(new Recorder('10.0.0.1/24')).send(udp('10.0.0.2', '10.0.0.1'));
      const path = join(dir, 'x.pcapng');
      cap.writeFile(path);
      const back = new Uint8Array(readFileSync(path));
      assert.equal(hex(back), hex(cap.bytes()));
      assert.equal(readPcapng(back).packets.length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses duplicate names and unknown formats with typed errors', () => {
    const cap = new Capture({ clock: new ManualClock() });
    cap.tap(new Recorder(undefined, 'same'));
    assert.throws(
      () => cap.tap(new Recorder(undefined, 'same')),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_DUPLICATE_NAME',
    );
    assert.throws(
      () => new Capture({ format: 'erf' as 'pcap' }),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_OPTION',
    );
  });
});
