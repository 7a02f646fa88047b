import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  concatChunks,
  LinkType,
  PcapFormatError,
  PcapReader,
  PcapWriter,
  type PcapWriterOptions,
  readPcap,
} from '../src/index.js';
import { hexBytes } from './fixtures/hex-bytes.js';
import {
  pcapFixturePackets,
  pcapFixtureSeconds,
  pcapngText2pcap,
  pcapText2pcapMicros,
  pcapText2pcapNanos,
} from './fixtures/pcap-fixtures.js';

/** Runs a writer against an in-memory sink and returns the whole file. */
function capture(opts: PcapWriterOptions, fn: (w: PcapWriter) => void): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter((c) => chunks.push(c), opts);
  fn(w);
  return concatChunks(chunks);
}

/** Asserts that `fn` throws a PcapFormatError with the stable code (and returns it). */
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

const fourBytes = Uint8Array.of(0x45, 0x00, 0x00, 0x04);

describe('pcap writer', () => {
  it('writes the golden bytes of a little-endian microsecond file', () => {
    const file = capture({}, (w) => w.write(fourBytes, 1_700_000_000_123.456));
    const expected = hexBytes(`
      d4 c3 b2 a1   // magic 0xa1b2c3d4, little-endian
      02 00 04 00   // version 2.4
      00 00 00 00   // reserved1
      00 00 00 00   // reserved2
      ff ff 00 00   // snaplen 65535
      65 00 00 00   // link type 101 (raw IP)
      00 f1 53 65   // ts seconds 1700000000 = 0x6553f100
      40 e2 01 00   // ts microseconds 123456 = 0x0001e240
      04 00 00 00   // captured length 4
      04 00 00 00   // original length 4
      45 00 00 04   // data
    `);
    assert.deepEqual(file, expected);
  });

  it('writes the golden bytes of a big-endian nanosecond file with a short snaplen', () => {
    const pkt = Uint8Array.of(0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    const file = capture({ bigEndian: true, nanosecond: true, snaplen: 8, linkType: LinkType.Ipv6 }, (w) =>
      w.writeNs(pkt, 1_700_000_000_123_456_789n),
    );
    const expected = hexBytes(`
      a1 b2 3c 4d   // magic 0xa1b23c4d (nanoseconds), big-endian
      00 02 00 04   // version 2.4
      00 00 00 00 00 00 00 00
      00 00 00 08   // snaplen 8
      00 00 00 e5   // link type 229 (IPv6)
      65 53 f1 00   // seconds
      07 5b cd 15   // nanoseconds 123456789
      00 00 00 08   // captured length 8 (cut at snaplen)
      00 00 00 0a   // original length 10
      60 01 02 03 04 05 06 07
    `);
    assert.deepEqual(file, expected);
  });

  it('writes the header at construction, so a capture without packets is a valid empty file', () => {
    const file = capture({}, () => {});
    assert.equal(file.length, 24);
    const r = readPcap(file);
    assert.equal(r.packets.length, 0);
    assert.equal(r.linkType, 101);
    assert.equal(r.snaplen, 65535);
  });

  it('hands the sink a fresh chunk per packet, unaffected by later changes to the packet buffer', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((c) => chunks.push(c));
    const pkt = Uint8Array.of(0x45, 1, 2, 3);
    w.write(pkt, 1);
    pkt[1] = 99;
    assert.equal(chunks.length, 2);
    assert.deepEqual(chunks[1].subarray(16), Uint8Array.of(0x45, 1, 2, 3));
    assert.equal(w.packetsWritten, 1);
  });

  it('rounds sub-resolution timestamps to the nearest unit and carries into the seconds', () => {
    const file = capture({}, (w) => {
      w.write(fourBytes, 1999.9996); // 1.9999996 s -> 2.000000 s
      w.write(fourBytes, 0.0004); // 0.4 µs -> 0
      w.write(fourBytes, 0.0006); // 0.6 µs -> 1 µs
    });
    const r = readPcap(file);
    assert.deepEqual(
      r.packets.map((p) => p.timestampMs),
      [2000, 0, 0.001],
    );
  });

  it('rejects negative, non-finite and post-2106 timestamps and bad options with RangeError', () => {
    const w = new PcapWriter(() => {});
    assert.throws(() => w.write(fourBytes, -1), RangeError);
    assert.throws(() => w.writeNs(fourBytes, -1n), RangeError);
    assert.throws(() => w.writeNs(fourBytes, 2n ** 32n * 1_000_000_000n), RangeError);
    assert.throws(() => w.write(fourBytes, Number.NaN), RangeError);
    assert.throws(() => w.write(fourBytes, Number.POSITIVE_INFINITY), RangeError);
    assert.throws(() => w.write(fourBytes, 2 ** 32 * 1000), RangeError);
    assert.doesNotThrow(() => w.write(fourBytes, (2 ** 32 - 1) * 1000));
    assert.throws(() => new PcapWriter(() => {}, { snaplen: 0 }), RangeError);
    assert.throws(() => new PcapWriter(() => {}, { snaplen: 1.5 }), RangeError);
    assert.throws(() => new PcapWriter(() => {}, { linkType: 70000 }), RangeError);
  });
});

describe('pcap reader', () => {
  it('reads a microsecond file written by text2pcap/editcap with exact packets and timestamps', () => {
    const r = readPcap(pcapText2pcapMicros);
    assert.equal(r.linkType, 101);
    assert.equal(r.nanosecond, false);
    assert.equal(r.littleEndian, true);
    assert.equal(r.snaplen, 262144);
    assert.equal(r.versionMajor, 2);
    assert.equal(r.versionMinor, 4);
    assert.equal(r.packets.length, 4);
    r.packets.forEach((p, i) => {
      assert.deepEqual(p.data, pcapFixturePackets[i]);
      assert.equal(p.originalLength, pcapFixturePackets[i].length);
      assert.equal(Math.round(p.timestampMs * 1000), pcapFixtureSeconds[i] * 1e6 + 123456);
    });
  });

  it('reads a nanosecond file written by editcap with nanosecond timestamps', () => {
    const r = readPcap(pcapText2pcapNanos);
    assert.equal(r.nanosecond, true);
    assert.equal(r.packets.length, 4);
    r.packets.forEach((p, i) => {
      assert.deepEqual(p.data, pcapFixturePackets[i]);
      const sec = Math.floor(p.timestampMs / 1000);
      assert.equal(sec, pcapFixtureSeconds[i]);
      assert.ok(Math.abs((p.timestampMs - sec * 1000) * 1e6 - 123456789) < 250); // double resolution
      assert.equal(p.timestampNs, BigInt(pcapFixtureSeconds[i]) * 1_000_000_000n + 123_456_789n);
    });
  });

  it('reads the same packets from big-endian files (a byte-swapped copy of the fixture)', () => {
    const src = pcapText2pcapMicros;
    const be = src.slice();
    const swap32 = (o: number) => be.set([src[o + 3], src[o + 2], src[o + 1], src[o]], o);
    for (const o of [0, 8, 12, 16, 20]) swap32(o);
    be.set([src[5], src[4], src[7], src[6]], 4);
    let o = 24;
    while (o < src.length) {
      const incl = new DataView(src.buffer, src.byteOffset).getUint32(o + 8, true);
      for (let k = 0; k < 16; k += 4) swap32(o + k);
      o += 16 + incl;
    }
    assert.equal(be[0], 0xa1);
    const a = readPcap(src);
    const b = readPcap(be);
    assert.equal(b.littleEndian, false);
    assert.deepEqual(b.packets, a.packets);
  });

  it('round-trips arbitrary packets and exact timestamps in both byte orders and both resolutions', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            data: fc.uint8Array({ minLength: 0, maxLength: 300 }),
            // Nanoseconds since the epoch, up to the last second a pcap file can hold (2106).
            ns: fc.bigInt({ min: 0n, max: 4_294_967_295_999_999_999n }),
          }),
          { maxLength: 12 },
        ),
        fc.boolean(),
        fc.boolean(),
        (pkts, bigEndian, nanosecond) => {
          const unit = nanosecond ? 1n : 1000n;
          const file = capture({ bigEndian, nanosecond }, (w) => {
            // Truncate to the file's unit so the round trip is exact (rounding is tested apart).
            for (const p of pkts) w.writeNs(p.data, (p.ns / unit) * unit);
          });
          const r = readPcap(file);
          assert.equal(r.littleEndian, !bigEndian);
          assert.equal(r.nanosecond, nanosecond);
          assert.equal(r.packets.length, pkts.length);
          r.packets.forEach((p, i) => {
            assert.deepEqual(p.data, pkts[i].data);
            assert.equal(p.originalLength, pkts[i].data.length);
            assert.equal(p.timestampNs, (pkts[i].ns / unit) * unit);
            assert.ok(Math.abs(p.timestampMs - Number(p.timestampNs) / 1e6) <= 0.001);
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips millisecond timestamps to within half a unit of the file resolution', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 4_294_967_295_000, noNaN: true }),
        fc.boolean(),
        (ms, nanosecond) => {
          const r = readPcap(capture({ nanosecond }, (w) => w.write(fourBytes, ms)));
          // Half a microsecond, or half a nanosecond plus the double's own resolution near `ms`.
          const tol = nanosecond ? 0.5e-6 + ms * 2 ** -52 : 0.5e-3 + ms * 2 ** -52;
          assert.ok(Math.abs(r.packets[0].timestampMs - ms) <= tol, `${ms} -> ${r.packets[0].timestampMs}`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rounds nanosecond timestamps to microseconds in a microsecond file, carrying into the seconds', () => {
    const r = readPcap(
      capture({}, (w) => {
        w.writeNs(fourBytes, 1_999_999_500n);
        w.writeNs(fourBytes, 1_000_000_499n);
      }),
    );
    assert.deepEqual(
      r.packets.map((p) => p.timestampNs),
      [2_000_000_000n, 1_000_000_000n],
    );
  });

  it('cuts packets longer than snaplen and keeps the original length', () => {
    const big = new Uint8Array(1500).map((_, i) => i & 0xff);
    const r = readPcap(capture({ snaplen: 100 }, (w) => w.write(big, 5)));
    assert.equal(r.packets[0].data.length, 100);
    assert.equal(r.packets[0].originalLength, 1500);
    assert.deepEqual(r.packets[0].data, big.subarray(0, 100));
  });

  it('accepts link types 228 and 229 and refuses others unless anyLinkType is set', () => {
    for (const lt of [101, 228, 229])
      assert.equal(readPcap(capture({ linkType: lt }, () => {})).linkType, lt);
    const eth = capture({ linkType: 1 }, (w) => w.write(fourBytes, 0));
    const e = assertFormatError(() => readPcap(eth), /link type 1/);
    assert.equal(e.offset, 20);
    assert.equal(readPcap(eth, { anyLinkType: true }).packets.length, 1);
  });

  it('ignores the FCS bits above the 16-bit link type', () => {
    const f = capture({}, () => {});
    f[23] = 0x10; // FCS length field, upper bits of the LinkType word (little-endian)
    assert.equal(readPcap(f).linkType, 101);
  });

  it('throws PcapFormatError for bad magic, with a hint for pcapng input', () => {
    assertFormatError(() => readPcap(new Uint8Array(24)), /bad pcap magic 0x00000000/);
    assertFormatError(() => readPcap(pcapngText2pcap), /pcapng file; use readPcapng/);
  });

  it('throws PcapFormatError for a short file header', () => {
    const f = capture({}, () => {});
    for (let n = 0; n < 24; n++)
      assertFormatError(() => readPcap(f.subarray(0, n)), /truncated pcap file header/);
  });

  it('throws PcapFormatError for an unsupported major version', () => {
    const f = capture({}, () => {});
    f[4] = 1;
    assertFormatError(() => readPcap(f), /unsupported pcap version 1\.4/);
  });

  it('throws PcapFormatError at every truncation point inside a record, naming the offset', () => {
    const full = pcapText2pcapMicros;
    const ends = new Set<number>();
    const r = new PcapReader(full);
    ends.add(r.offset);
    while (r.readPacket() !== null) ends.add(r.offset);
    for (let n = 24; n < full.length; n++) {
      if (ends.has(n)) {
        assert.doesNotThrow(() => readPcap(full.subarray(0, n)));
        continue;
      }
      const e = assertFormatError(() => readPcap(full.subarray(0, n)), /truncated pcap record/);
      assert.ok(e.offset >= 24 && e.offset <= n, `offset ${e.offset} for length ${n}`);
    }
  });

  it('throws PcapFormatError for a record length beyond any snaplen', () => {
    const f = capture({}, (w) => w.write(fourBytes, 0));
    new DataView(f.buffer).setUint32(24 + 8, 0x7fffffff, true);
    const e = assertFormatError(() => readPcap(f), /larger than any snaplen/);
    assert.equal(e.offset, 32);
  });

  it('iterates record by record and yields the good records of a damaged file before throwing', () => {
    const damaged = pcapText2pcapMicros.subarray(0, pcapText2pcapMicros.length - 3);
    const reader = new PcapReader(damaged);
    assert.equal(reader.header.linkType, 101);
    const seen: Uint8Array[] = [];
    assertFormatError(() => {
      for (const p of reader) seen.push(p.data);
    });
    assert.equal(seen.length, 3);
    assert.deepEqual(seen, pcapFixturePackets.slice(0, 3));
    // A whole file iterates to the end.
    assert.equal([...new PcapReader(pcapText2pcapMicros)].length, 4);
  });

  it('reads from a subarray at a nonzero byte offset (e.g. a pooled Buffer)', () => {
    const host = new Uint8Array(pcapText2pcapMicros.length + 7);
    host.set(pcapText2pcapMicros, 7);
    assert.deepEqual(readPcap(host.subarray(7)).packets[3].data, pcapFixturePackets[3]);
  });

  it('never throws anything but PcapFormatError for arbitrary bytes', () => {
    const check = (bytes: Uint8Array) => {
      try {
        const r = readPcap(bytes);
        for (const p of r.packets) assert.ok(p.data.length <= bytes.length);
      } catch (e) {
        if (!(e instanceof PcapFormatError) || e.code !== 'ERR_PCAP_FORMAT') throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 10_000 });
    // Past the magic check: a valid header (either order and resolution) followed by garbage.
    const headers = [false, true].flatMap((bigEndian) =>
      [false, true].map((nanosecond) => capture({ bigEndian, nanosecond }, () => {})),
    );
    fc.assert(
      fc.property(fc.constantFrom(...headers), fc.uint8Array({ maxLength: 300 }), (h, tail) =>
        check(concatChunks([h, tail])),
      ),
      { numRuns: 10_000 },
    );
    // Single-byte corruption of a real file.
    fc.assert(
      fc.property(fc.nat(pcapText2pcapMicros.length - 1), fc.integer({ min: 0, max: 255 }), (at, v) => {
        const f = pcapText2pcapMicros.slice();
        f[at] = v;
        check(f);
      }),
      { numRuns: 10_000 },
    );
  });
});
