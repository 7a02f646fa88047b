import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  concatChunks,
  PcapFormatError,
  PcapngReader,
  PcapngWriter,
  type PcapngWriterOptions,
  PcapWriter,
  readPcapng,
} from '../src/index.js';
import { hexBytes } from './fixtures/hex-bytes.js';
import {
  pcapEcho4,
  pcapEcho6,
  pcapFixturePackets,
  pcapFixtureSeconds,
  pcapngText2pcap,
  pcapSyn4,
  pcapText2pcapMicros,
  pcapUdp4,
} from './fixtures/pcap-fixtures.js';

function capture(opts: PcapngWriterOptions, fn: (w: PcapngWriter) => void): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c), opts);
  fn(w);
  return concatChunks(chunks);
}

function assertFormatError(fn: () => unknown, message?: RegExp): PcapFormatError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PcapFormatError, `expected PcapFormatError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_PCAP_FORMAT');
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail('expected a PcapFormatError');
}

/** A raw block with the given type and body (padded to 32 bits), little-endian unless `be`. */
function rawBlock(type: number, body: Uint8Array, be = false): Uint8Array {
  const len = 12 + ((body.length + 3) & ~3);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, !be);
  dv.setUint32(4, len, !be);
  b.set(body, 8);
  dv.setUint32(len - 4, len, !be);
  return b;
}

/** Bytes of `u32` values, little-endian. */
function le32(...vals: number[]): Uint8Array {
  const b = new Uint8Array(vals.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < vals.length; i++) dv.setUint32(i * 4, vals[i], true);
  return b;
}

const fourBytes = Uint8Array.of(0x45, 0x00, 0x00, 0x04);

describe('pcapng writer', () => {
  it('writes the golden bytes of a little-endian file with a named interface and a comment', () => {
    const file = capture({}, (w) => {
      assert.equal(w.addInterface('tun0'), 0);
      w.write(0, fourBytes, 1_700_000_000_123.456, 'hi');
    });
    const expected = hexBytes(`
      // Section Header Block
      0a 0d 0d 0a   // block type
      1c 00 00 00   // total length 28
      4d 3c 2b 1a   // byte-order magic 0x1a2b3c4d, little-endian
      01 00 00 00   // version 1.0
      ff ff ff ff ff ff ff ff   // section length -1
      1c 00 00 00   // total length again
      // Interface Description Block
      01 00 00 00   // block type 1
      28 00 00 00   // total length 40
      65 00 00 00   // link type 101, reserved
      ff ff 00 00   // snaplen 65535
      02 00 04 00 74 75 6e 30   // if_name "tun0"
      09 00 01 00 06 00 00 00   // if_tsresol 6 (microseconds), padded
      00 00 00 00   // opt_endofopt
      28 00 00 00   // total length again
      // Enhanced Packet Block
      06 00 00 00   // block type 6
      30 00 00 00   // total length 48
      00 00 00 00   // interface 0
      24 0a 06 00   // timestamp high: 1700000000123456 us = 0x00060a24_18202240
      40 22 20 18   // timestamp low
      04 00 00 00   // captured length 4
      04 00 00 00   // original length 4
      45 00 00 04   // data (already 32-bit aligned)
      01 00 02 00 68 69 00 00   // opt_comment "hi", padded
      00 00 00 00   // opt_endofopt
      30 00 00 00   // total length again
    `);
    assert.deepEqual(file, expected);
  });

  it('writes the golden bytes of a big-endian nanosecond file with shb_userappl and padded data', () => {
    const file = capture({ bigEndian: true, nanosecond: true, userAppl: 'l3' }, (w) => {
      w.addInterface('', 229, { snaplen: 0 });
      w.writeNs(0, Uint8Array.of(0x60, 1, 2, 3, 4), 1_700_000_000_123_456_789n);
    });
    const expected = hexBytes(`
      0a 0d 0d 0a 00 00 00 28   // SHB, total length 40
      1a 2b 3c 4d 00 01 00 00   // byte-order magic (big-endian), version 1.0
      ff ff ff ff ff ff ff ff   // section length -1
      00 04 00 02 6c 33 00 00   // shb_userappl "l3", padded
      00 00 00 00   // opt_endofopt
      00 00 00 28
      00 00 00 01 00 00 00 20   // IDB, total length 32
      00 e5 00 00 00 00 00 00   // link type 229, reserved, snaplen 0 (no limit)
      00 09 00 01 09 00 00 00   // if_tsresol 9 (nanoseconds), padded
      00 00 00 00 00 00 00 20
      00 00 00 06 00 00 00 28   // EPB, total length 40
      00 00 00 00   // interface 0
      17 97 9c fe 3d 85 cd 15   // 1700000000123456789 ns
      00 00 00 05 00 00 00 05   // captured / original length 5
      60 01 02 03 04 00 00 00   // data padded to 8
      00 00 00 28               // no options: the block ends here
    `);
    assert.deepEqual(file, expected);
  });

  it('hands the sink one fresh chunk per block', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapngWriter((c) => chunks.push(c));
    const a = w.addInterface('a');
    const b = w.addInterface('b');
    assert.deepEqual([a, b, w.interfaceCount], [0, 1, 2]);
    const pkt = fourBytes.slice();
    w.write(b, pkt, 0);
    pkt[0] = 0;
    assert.equal(chunks.length, 4);
    assert.deepEqual(chunks[3].subarray(28, 32), fourBytes);
    assert.equal(w.packetsWritten, 1);
  });

  it('rejects an unknown interface, bad timestamps and bad interface options with RangeError', () => {
    const w = new PcapngWriter(() => {});
    assert.throws(() => w.write(0, fourBytes, 0), /interface 0 was not added/);
    w.addInterface('x');
    assert.throws(() => w.write(1, fourBytes, 0), RangeError);
    assert.throws(() => w.write(0.5, fourBytes, 0), RangeError);
    assert.throws(() => w.write(0, fourBytes, -1), RangeError);
    assert.throws(() => w.write(0, fourBytes, Number.NaN), RangeError);
    assert.throws(() => w.writeNs(0, fourBytes, -1n), RangeError);
    assert.throws(() => w.writeNs(0, fourBytes, 2n ** 64n * 1000n), RangeError);
    assert.throws(() => w.addInterface('y', -1), RangeError);
    assert.throws(() => w.addInterface('y', 101, { snaplen: -1 }), RangeError);
    assert.throws(() => w.write(0, fourBytes, 0, 'x'.repeat(70_000)), RangeError);
    assert.equal(w.packetsWritten, 0);
  });
});

describe('pcapng reader', () => {
  it('reads the file text2pcap and editcap wrote: section options, interface, packets, nanoseconds', () => {
    const f = readPcapng(pcapngText2pcap);
    assert.equal(f.sections.length, 1);
    const s = f.sections[0];
    assert.equal(s.littleEndian, true);
    assert.deepEqual([s.versionMajor, s.versionMinor], [1, 0]);
    assert.match(s.userAppl ?? '', /^Text2pcap \(Wireshark\) 4\.0\.17/);
    assert.equal(s.comment, 'Generated from input file in.txt.');
    assert.ok(s.os?.startsWith('Linux'));
    assert.ok(s.hardware !== undefined);
    assert.deepEqual(f.interfaces, [
      { linkType: 101, name: 'tun0', tsresol: 9, tsoffset: 0, snaplen: 262144, section: 0 },
    ]);
    assert.equal(f.packets.length, 4);
    f.packets.forEach((p, i) => {
      assert.equal(p.interfaceId, 0);
      assert.deepEqual(p.data, pcapFixturePackets[i]);
      assert.equal(p.originalLength, pcapFixturePackets[i].length);
      assert.equal(p.timestampNs, BigInt(pcapFixtureSeconds[i]) * 1_000_000_000n + 123_456_789n);
      assert.ok(Math.abs(p.timestampMs - (pcapFixtureSeconds[i] * 1000 + 123.456789)) < 0.001);
      assert.equal(p.comment, undefined);
    });
  });

  it('round-trips packets, timestamps, comments and several interfaces in both byte orders', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ name: fc.string({ maxLength: 20 }), linkType: fc.constantFrom(101, 228, 229) }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        fc.array(
          fc.record({
            itf: fc.nat(3),
            data: fc.uint8Array({ maxLength: 200 }),
            ns: fc.bigInt({ min: 0n, max: 2n ** 62n }),
            comment: fc.option(fc.string({ unit: 'grapheme', maxLength: 30 }), { nil: undefined }),
          }),
          { maxLength: 10 },
        ),
        fc.boolean(),
        fc.boolean(),
        (itfs, pkts, bigEndian, nanosecond) => {
          const unit = nanosecond ? 1n : 1000n;
          const file = capture({ bigEndian, nanosecond, userAppl: 'l3kit test' }, (w) => {
            for (const i of itfs) w.addInterface(i.name, i.linkType);
            for (const p of pkts) w.writeNs(p.itf % itfs.length, p.data, (p.ns / unit) * unit, p.comment);
          });
          const r = readPcapng(file);
          assert.equal(r.sections[0].littleEndian, !bigEndian);
          assert.equal(r.sections[0].userAppl, 'l3kit test');
          assert.deepEqual(
            r.interfaces.map((i) => [i.linkType, i.name ?? '', i.tsresol]),
            itfs.map((i) => [i.linkType, i.name, nanosecond ? 9 : 6]),
          );
          assert.equal(r.packets.length, pkts.length);
          r.packets.forEach((p, i) => {
            assert.equal(p.interfaceId, pkts[i].itf % itfs.length);
            assert.deepEqual(p.data, pkts[i].data);
            assert.equal(p.timestampNs, (pkts[i].ns / unit) * unit);
            assert.equal(p.comment, pkts[i].comment);
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips millisecond timestamps to the microsecond', () => {
    const times = [0, 1, 0.001, 1_700_000_000_123.456, 999.9996];
    const f = readPcapng(
      capture({}, (w) => {
        w.addInterface('a');
        for (const t of times) w.write(0, fourBytes, t);
      }),
    );
    assert.deepEqual(
      f.packets.map((p) => p.timestampNs),
      [0n, 1_000_000n, 1000n, 1_700_000_000_123_456_000n, 1_000_000_000n],
    );
  });

  it('cuts packets at the interface snaplen and keeps the original length', () => {
    const big = new Uint8Array(300).map((_, i) => i);
    const f = readPcapng(
      capture({}, (w) => {
        w.addInterface('cut', 101, { snaplen: 33 });
        w.addInterface('whole', 101, { snaplen: 0 });
        w.write(0, big, 1);
        w.write(1, big, 2);
      }),
    );
    assert.equal(f.packets[0].data.length, 33);
    assert.equal(f.packets[0].originalLength, 300);
    assert.deepEqual(f.packets[1].data, big);
    assert.equal(f.interfaces[0].snaplen, 33);
  });

  it('reads several sections of different byte orders, numbering interfaces across the file', () => {
    const a = capture({}, (w) => {
      w.addInterface('a0');
      w.addInterface('a1');
      w.write(1, pcapUdp4, 1000);
    });
    const b = capture({ bigEndian: true }, (w) => {
      w.addInterface('b0', 229, { description: 'second section' });
      w.write(0, pcapEcho6, 2000, 'v6');
    });
    const f = readPcapng(concatChunks([a, b]));
    assert.deepEqual(
      f.sections.map((s) => s.littleEndian),
      [true, false],
    );
    assert.deepEqual(
      f.interfaces.map((i) => [i.name, i.section]),
      [
        ['a0', 0],
        ['a1', 0],
        ['b0', 1],
      ],
    );
    assert.equal(f.interfaces[2].description, 'second section');
    assert.deepEqual(
      f.packets.map((p) => [p.interfaceId, p.timestampMs, p.comment]),
      [
        [1, 1000, undefined],
        [2, 2000, 'v6'],
      ],
    );
    assert.deepEqual(f.packets[1].data, pcapEcho6);
  });

  it('skips unknown and unsupported block types (custom, name resolution, statistics)', () => {
    const w = capture({}, (w) => w.addInterface('a'));
    const withPkt = capture({}, (w) => {
      w.addInterface('a');
      w.write(0, pcapSyn4, 5);
    });
    const pkt = withPkt.subarray(w.length); // just the EPB
    const f = readPcapng(
      concatChunks([
        w,
        rawBlock(0x00000bad, Uint8Array.of(1, 2, 3)),
        rawBlock(4, le32(0)), // empty Name Resolution Block
        pkt,
        rawBlock(5, le32(0, 0, 0)), // Interface Statistics Block
        rawBlock(0x40000bad, new Uint8Array(0)),
      ]),
    );
    assert.equal(f.packets.length, 1);
    assert.deepEqual(f.packets[0].data, pcapSyn4);
  });

  it('reads Simple Packet Blocks (no timestamp) and obsolete Packet Blocks', () => {
    const head = capture({}, (w) => w.addInterface('a', 101, { snaplen: 40 }));
    const spb = rawBlock(3, concatChunks([le32(pcapEcho4.length), pcapEcho4.subarray(0, 40)]));
    const pbBody = new Uint8Array(20 + 4 + 8);
    const dv = new DataView(pbBody.buffer);
    dv.setUint16(0, 0, true); // interface 0
    dv.setUint16(2, 7, true); // drops
    dv.setUint32(4, 0, true);
    dv.setUint32(8, 2_500_000, true); // 2.5 s
    dv.setUint32(12, 4, true);
    dv.setUint32(16, 4, true);
    pbBody.set(fourBytes, 20);
    pbBody.set([1, 0, 0, 0], 24); // opt_comment, length 0
    const f = readPcapng(concatChunks([head, spb, rawBlock(2, pbBody)]));
    assert.equal(f.packets.length, 2);
    assert.deepEqual(f.packets[0].data, pcapEcho4.subarray(0, 40));
    assert.equal(f.packets[0].originalLength, pcapEcho4.length);
    assert.ok(Number.isNaN(f.packets[0].timestampMs));
    assert.equal(f.packets[0].timestampNs, undefined);
    assert.deepEqual(f.packets[1].data, fourBytes);
    assert.equal(f.packets[1].timestampMs, 2500);
    assert.equal(f.packets[1].comment, '');
  });

  it('honours if_tsresol as a power of two and if_tsoffset', () => {
    const shb = capture({}, () => {});
    const idb = rawBlock(
      1,
      concatChunks([
        le32(101, 0),
        Uint8Array.of(9, 0, 1, 0, 0x80 | 10, 0, 0, 0), // if_tsresol 2^-10 s
        Uint8Array.of(14, 0, 8, 0, 100, 0, 0, 0, 0, 0, 0, 0), // if_tsoffset 100 s
        le32(0),
      ]),
    );
    const epb = rawBlock(6, concatChunks([le32(0, 0, 1024 * 3 + 512, 4, 4), fourBytes]));
    const f = readPcapng(concatChunks([shb, idb, epb]));
    assert.equal(f.interfaces[0].tsresol, 0x8a);
    assert.equal(f.interfaces[0].tsoffset, 100);
    assert.equal(f.packets[0].timestampMs, 103_500);
    assert.equal(f.packets[0].timestampNs, 103_500_000_000n);
  });

  it('throws PcapFormatError for input that is not pcapng, with a hint for classic pcap', () => {
    assertFormatError(() => readPcapng(new Uint8Array(0)), /not a pcapng file/);
    assertFormatError(() => readPcapng(new Uint8Array(64)), /not a pcapng file/);
    assertFormatError(() => readPcapng(pcapText2pcapMicros), /classic pcap file; use readPcap/);
  });

  it('throws PcapFormatError for a bad byte-order magic or an unsupported version', () => {
    const f = capture({}, () => {});
    const bom = f.slice();
    bom[8] = 0;
    assertFormatError(() => readPcapng(bom), /bad pcapng byte-order magic/);
    const ver = f.slice();
    ver[12] = 2;
    const e = assertFormatError(() => readPcapng(ver), /unsupported pcapng version 2\.0/);
    assert.equal(e.offset, 12);
  });

  it('throws PcapFormatError for block lengths that are too small, unaligned, too long or disagree', () => {
    const good = capture({}, (w) => {
      w.addInterface('a');
      w.write(0, fourBytes, 0);
    });
    const idb = 28;
    const setLen = (v: number, at = idb + 4) => {
      const f = good.slice();
      new DataView(f.buffer).setUint32(at, v, true);
      return f;
    };
    assertFormatError(() => readPcapng(setLen(8)), /bad pcapng block total length 8/);
    assertFormatError(() => readPcapng(setLen(30)), /bad pcapng block total length 30/);
    assertFormatError(() => readPcapng(setLen(4000)), /truncated pcapng block/);
    assertFormatError(() => readPcapng(setLen(36)), /total lengths differ/);
    assertFormatError(() => readPcapng(setLen(0, 24)), /total lengths differ/);
  });

  it('throws PcapFormatError at every truncation point except block boundaries', () => {
    const full = capture({}, (w) => {
      w.addInterface('a');
      w.addInterface('b');
      w.write(0, pcapUdp4, 1, 'one');
      w.write(1, pcapSyn4, 2);
    });
    const ends = new Set([28]);
    for (let o = 28; o < full.length; ) {
      o += new DataView(full.buffer).getUint32(o + 4, true);
      ends.add(o);
    }
    for (let n = 1; n < full.length; n++) {
      if (ends.has(n)) assert.doesNotThrow(() => readPcapng(full.subarray(0, n)));
      else assertFormatError(() => readPcapng(full.subarray(0, n)));
    }
  });

  it('throws PcapFormatError for options that overrun the block and for bad option lengths', () => {
    const shb = capture({}, () => {});
    const overrun = rawBlock(1, concatChunks([le32(101, 0), Uint8Array.of(2, 0, 40, 0, 0x61, 0, 0, 0)]));
    assertFormatError(() => readPcapng(concatChunks([shb, overrun])), /option 2 overruns/);
    const tsres = rawBlock(1, concatChunks([le32(101, 0), Uint8Array.of(9, 0, 2, 0, 6, 6, 0, 0)]));
    assertFormatError(() => readPcapng(concatChunks([shb, tsres])), /if_tsresol has length 2/);
    const tsoff = rawBlock(1, concatChunks([le32(101, 0), Uint8Array.of(14, 0, 4, 0, 6, 6, 0, 0)]));
    assertFormatError(() => readPcapng(concatChunks([shb, tsoff])), /if_tsoffset has length 4/);
  });

  it('throws PcapFormatError for a packet of an undescribed interface or longer than its block', () => {
    const head = capture({}, (w) => w.addInterface('a'));
    const ghost = rawBlock(6, concatChunks([le32(1, 0, 0, 4, 4), fourBytes]));
    assertFormatError(() => readPcapng(concatChunks([head, ghost])), /interface 1, which was not described/);
    const long = rawBlock(6, concatChunks([le32(0, 0, 0, 5, 5), fourBytes]));
    assertFormatError(() => readPcapng(concatChunks([head, long])), /captured length 5 exceeds the block/);
    const spbOnly = capture({}, () => {});
    assertFormatError(
      () => readPcapng(concatChunks([spbOnly, rawBlock(3, le32(0))])),
      /interface 0, which was not described/,
    );
  });

  it('refuses non-IP link types unless anyLinkType is set', () => {
    const eth = capture({}, (w) => w.addInterface('eth0', 1));
    assertFormatError(() => readPcapng(eth), /link type 1/);
    assert.equal(readPcapng(eth, { anyLinkType: true }).interfaces[0].linkType, 1);
  });

  it('yields the good packets of a damaged file before throwing', () => {
    const damaged = pcapngText2pcap.subarray(0, pcapngText2pcap.length - 1);
    const seen: Uint8Array[] = [];
    assertFormatError(() => {
      for (const p of new PcapngReader(damaged)) seen.push(p.data);
    });
    assert.deepEqual(seen, pcapFixturePackets.slice(0, 3));
  });

  it('never throws anything but PcapFormatError for arbitrary bytes', () => {
    const check = (bytes: Uint8Array) => {
      try {
        readPcapng(bytes);
      } catch (e) {
        if (!(e instanceof PcapFormatError) || e.code !== 'ERR_PCAP_FORMAT') throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 10_000 });
    const heads = [false, true].map((bigEndian) => capture({ bigEndian }, (w) => w.addInterface('x')));
    fc.assert(
      fc.property(fc.constantFrom(...heads), fc.uint8Array({ maxLength: 300 }), (h, tail) =>
        check(concatChunks([h, tail])),
      ),
      { numRuns: 10_000 },
    );
    // Plausible blocks with random type, length and body after a valid header.
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.constantFrom(1, 2, 3, 4, 5, 6, 0x0a0d0d0a, 0xbad),
            body: fc.uint8Array({ maxLength: 64 }),
          }),
          { maxLength: 5 },
        ),
        (blocks) => check(concatChunks([heads[0], ...blocks.map((b) => rawBlock(b.type, b.body))])),
      ),
      { numRuns: 10_000 },
    );
    fc.assert(
      fc.property(fc.nat(pcapngText2pcap.length - 1), fc.integer({ min: 0, max: 255 }), (at, v) => {
        const f = pcapngText2pcap.slice();
        f[at] = v;
        check(f);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('pcapng and tshark', () => {
  const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  const skip =
    tshark.status === 0 ? false : 'tshark is not installed (apt-get install tshark to run this check)';

  /** Runs `tshark -r file -V` (must be clean) and returns one `time|iface|len|comment|proto` line per packet. */
  function decode(bytes: Uint8Array, name: string): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'l3kit-pcapng-'));
    try {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const v = spawnSync('tshark', ['-r', file, '-V'], { encoding: 'utf8' });
      assert.equal(v.status, 0, v.stderr);
      assert.doesNotMatch(v.stdout, /malformed/i);
      assert.doesNotMatch(v.stderr, /malformed|isn't|cut short|corrupt|appears to be damaged/i);
      const fields = [
        'frame.time_epoch',
        'frame.interface_name',
        'frame.len',
        'frame.comment',
        '_ws.col.Protocol',
      ];
      const f = spawnSync(
        'tshark',
        ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((x) => ['-e', x])],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(f.status, 0, f.stderr);
      return f.stdout.trim().split('\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const packets: Array<[Uint8Array, bigint, string | undefined]> = [
    [pcapUdp4, 1_700_000_000_000_001_000n, 'first packet'],
    [pcapSyn4, 1_700_000_000_500_000_000n, undefined],
    [pcapEcho4, 1_700_000_001_000_000_000n, 'ünïcödé comment'],
    [pcapEcho6, 1_700_000_001_250_500_123n, undefined],
  ];

  it('tshark decodes every packet of l3kit pcapng files (both byte orders) with no malformed packet', {
    skip,
  }, () => {
    for (const [bigEndian, nanosecond] of [
      [false, false],
      [true, true],
    ]) {
      const bytes = capture({ userAppl: 'l3kit', bigEndian, nanosecond }, (w) => {
        const a = w.addInterface('inside');
        const b = w.addInterface('outside', 101, { description: 'NAT outside' });
        for (let i = 0; i < packets.length; i++) {
          const [pkt, ns, comment] = packets[i];
          w.writeNs(i % 2 === 0 ? a : b, pkt, ns, comment);
        }
      });
      assert.deepEqual(decode(bytes, 'capture.pcapng'), [
        '1700000000.000001000|inside|40|first packet|DNS',
        '1700000000.500000000|outside|60||TCP',
        '1700000001.000000000|inside|84|ünïcödé comment|ICMP',
        `1700000001.250500${nanosecond ? '123' : '000'}|outside|104||ICMPv6`,
      ]);
    }
  });

  it('tshark decodes every packet of l3kit pcap files (both byte orders) with no malformed packet', {
    skip,
  }, () => {
    for (const [bigEndian, nanosecond] of [
      [false, false],
      [true, true],
    ]) {
      const chunks: Uint8Array[] = [];
      const w = new PcapWriter((c) => chunks.push(c), { bigEndian, nanosecond });
      for (const [pkt, ns] of packets) w.writeNs(pkt, ns);
      assert.deepEqual(decode(concatChunks(chunks), 'capture.pcap'), [
        '1700000000.000001000||40||DNS',
        '1700000000.500000000||60||TCP',
        '1700000001.000000000||84||ICMP',
        `1700000001.250500${nanosecond ? '123' : '000'}||104||ICMPv6`,
      ]);
    }
  });
});
