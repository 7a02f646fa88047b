/**
 * Cross-parser fuzzing: arbitrary bytes and mutated valid packets never make a `checked()`,
 * `rebind()` or options / header-chain parser throw, and a view that validated never reads or
 * writes outside the range it was validated for.
 *
 * Buffers are wrapped in a Proxy that records every indexed read and write, so an accessor that
 * reads past its packet (which a plain Uint8Array would silently answer with `undefined`) fails
 * the test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  buildIcmpv4Error,
  buildIcmpv6Error,
  buildPacket,
  GrePacket,
  GreProtocolType,
  Icmpv4Packet,
  Icmpv6Packet,
  IpProtocol,
  Ipv4Packet,
  Ipv6HeaderChain,
  Ipv6Packet,
  type PacketSpec,
  TcpFlags,
  TcpOptions,
  TcpSegment,
  UdpDatagram,
} from '../src/index.js';

const RUNS = 10_000;

/** Records the lowest and highest index touched through a guarded buffer. */
class Track {
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  bad: Array<string | symbol> = [];
  reset(): void {
    this.min = Number.POSITIVE_INFINITY;
    this.max = Number.NEGATIVE_INFINITY;
    this.bad = [];
  }
  touch(i: number): void {
    if (i < this.min) this.min = i;
    if (i > this.max) this.max = i;
  }
  /** Asserts every touched index lies in `[lo, hi)`. */
  within(lo: number, hi: number, what: string): void {
    assert.deepEqual(this.bad, [], `${what}: non-integer index access`);
    if (this.max < this.min) return;
    assert.ok(
      this.min >= lo && this.max < hi,
      `${what}: touched [${this.min}, ${this.max}] outside [${lo}, ${hi})`,
    );
  }
}

function guarded(bytes: Uint8Array): { buf: Uint8Array; track: Track } {
  const track = new Track();
  const numeric = (p: string | symbol): number | null => {
    if (typeof p !== 'string') return null;
    const n = Number(p);
    return String(n) === p || p === '-0' ? n : null;
  };
  const buf = new Proxy(bytes, {
    get(target, prop) {
      const i = numeric(prop);
      if (i !== null) {
        if (Number.isInteger(i)) track.touch(i);
        else track.bad.push(prop);
        return target[i];
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
    set(target, prop, value) {
      const i = numeric(prop);
      if (i !== null) {
        if (Number.isInteger(i)) track.touch(i);
        else track.bad.push(prop);
        target[i] = value;
        return true;
      }
      return Reflect.set(target, prop, value, target);
    },
  });
  return { buf, track };
}

const READ_METHODS = ['payload', 'bytes', 'options', 'data', 'srcAddr', 'dstAddr', 'verifyChecksum'];
/** Setters that redefine the validated extent (the caller owns keeping them in range), or need other arguments. */
const SKIP_SETTERS = new Set([
  'setTotalLength',
  'setLength',
  'setPayloadLength',
  'setUint32Incremental',
  'setUint16Incremental',
]);

/**
 * Calls every getter and read-only method of `view` and checks results: numbers finite, subarrays
 * inside `[lo, hi]` of the underlying bytes and not silently clamped. Then calls every setter with
 * `v` and the checksum fillers, and checks all accesses stayed inside `[lo, hi)`.
 */
function exercise(
  view: object,
  raw: Uint8Array,
  track: Track,
  lo: number,
  hi: number,
  v: number,
  what: string,
): void {
  const rec = view as Record<string, unknown>;
  const proto = Object.getPrototypeOf(view);
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
    if (!d.get) continue;
    const x = d.get.call(view);
    if (typeof x === 'number') assert.ok(Number.isFinite(x), `${what}.${name} = ${x}`);
  }
  for (const m of READ_METHODS) {
    const fn = rec[m];
    if (typeof fn !== 'function') continue;
    const r = (fn as (...a: unknown[]) => unknown).call(view, 0, false);
    if (!(r instanceof Uint8Array)) continue;
    assert.equal(r.buffer, raw.buffer, `${what}.${m}() views the packet's buffer`);
    const start = r.byteOffset - raw.byteOffset;
    assert.ok(
      start >= lo && start + r.length <= hi,
      `${what}.${m}() = [${start}, ${start + r.length}) outside [${lo}, ${hi})`,
    );
    if (m === 'payload' && typeof rec.payloadLength === 'number')
      assert.equal(r.length, rec.payloadLength, `${what}.payload() not clamped`);
    if (m === 'data' && typeof rec.length === 'number')
      assert.equal(r.length, (rec.length as number) - 8, `${what}.data()`);
  }
  track.within(lo, hi, `${what} reads`);
  // Mutators, on the same bytes (the caller passes a copy it may spoil).
  track.reset();
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
    if (typeof d.value !== 'function' || !/^set[A-Z]/.test(name) || SKIP_SETTERS.has(name)) continue;
    const arg =
      d.value.length === 1 && (name === 'setSrc' || name === 'setDst') && view instanceof Ipv6Packet
        ? new Uint8Array(16).fill(v & 0xff)
        : v;
    d.value.call(view, arg, (v & 1) === 1, v);
  }
  if (typeof rec.fillChecksum === 'function') (rec.fillChecksum as (s: number) => void).call(view, 0);
  if (typeof rec.decrementTtl === 'function') (rec.decrementTtl as () => void).call(view);
  if (typeof rec.decrementHopLimit === 'function') (rec.decrementHopLimit as () => void).call(view);
  track.within(lo, hi, `${what} writes`);
}

type Parser = {
  name: string;
  checked: (b: Uint8Array, off: number, end: number) => object | null;
  empty: () => { rebind(b: Uint8Array, off: number, end: number): boolean };
  /** Where a valid view may touch: `[off, hi)`. */
  hi: (view: object, off: number, end: number) => number;
  /** Extra parsers run over a valid view (options, header chains). */
  extra?: (view: object) => void;
};

const tcpOptions = new TcpOptions();
const chain = new Ipv6HeaderChain();

const PARSERS: Parser[] = [
  {
    name: 'Ipv4Packet',
    checked: Ipv4Packet.checked,
    empty: Ipv4Packet.empty,
    hi: (v) => (v as Ipv4Packet).off + (v as Ipv4Packet).totalLength,
  },
  {
    name: 'Ipv6Packet',
    checked: Ipv6Packet.checked,
    empty: Ipv6Packet.empty,
    hi: (v) => (v as Ipv6Packet).end,
    extra: (v) => {
      if (chain.parse(v as Ipv6Packet)) {
        const p = v as Ipv6Packet;
        assert.ok(
          chain.upperOffset >= p.payloadOffset && chain.upperOffset <= p.end,
          'chain upperOffset inside the packet',
        );
        assert.equal(chain.end, p.end);
        assert.ok(chain.upperLength >= 0);
      }
    },
  },
  {
    name: 'TcpSegment',
    checked: TcpSegment.checked,
    empty: TcpSegment.empty,
    hi: (_v, _off, end) => end,
    extra: (v) => {
      const s = v as TcpSegment;
      if (tcpOptions.parse(s)) {
        const hdrEnd = s.off + s.headerLen;
        if (tcpOptions.mssOffset >= 0) assert.ok(tcpOptions.mssOffset + 2 <= hdrEnd);
        if (tcpOptions.timestampOffset >= 0) assert.ok(tcpOptions.timestampOffset + 8 <= hdrEnd);
        if (tcpOptions.sackBlocksOffset >= 0)
          assert.ok(tcpOptions.sackBlocksOffset + 8 * tcpOptions.sackBlockCount <= hdrEnd);
      }
    },
  },
  {
    name: 'UdpDatagram',
    checked: UdpDatagram.checked,
    empty: UdpDatagram.empty,
    hi: (v) => (v as UdpDatagram).off + (v as UdpDatagram).length,
  },
  {
    name: 'Icmpv4Packet',
    checked: Icmpv4Packet.checked,
    empty: Icmpv4Packet.empty,
    hi: (_v, _off, end) => end,
  },
  {
    name: 'Icmpv6Packet',
    checked: Icmpv6Packet.checked,
    empty: Icmpv6Packet.empty,
    hi: (_v, _off, end) => end,
  },
  { name: 'GrePacket', checked: GrePacket.checked, empty: GrePacket.empty, hi: (_v, _off, end) => end },
];

/** First bytes that make each parser's validation succeed more often than uniform bytes would. */
const LEAD: Record<string, number[]> = {
  Ipv4Packet: [0x45, 0x46, 0x4f, 0x44],
  Ipv6Packet: [0x60, 0x6f],
  TcpSegment: [0x00],
  UdpDatagram: [0x00],
  Icmpv4Packet: [3, 8, 11],
  Icmpv6Packet: [1, 128, 135],
  GrePacket: [0x00, 0x30, 0x20, 0xb0],
};

/** Arbitrary bytes, an offset and an end, sometimes out of range, sometimes with a plausible first byte. */
const arbInput = fc
  .record(
    {
      bytes: fc.integer({ min: 0, max: 120 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      offPick: fc.integer({ min: -1, max: 12 }),
      endCut: fc.integer({ min: -2, max: 12 }),
      lead: fc.nat(),
      useLead: fc.boolean(),
      v: fc.nat(0xffffffff),
    },
    { noNullPrototype: true },
  )
  .map(({ bytes, offPick, endCut, lead, useLead, v }) => {
    const len = bytes.length;
    // Offsets from -1 to 12 (clamped to len + 1); end from len + 2 (beyond the buffer) down to len - 12.
    return { bytes, off: Math.min(offPick, len + 1), end: len - endCut, lead, useLead, v };
  });

function fuzzParser(p: Parser): void {
  const empty = p.empty();
  let valid = 0;
  fc.assert(
    fc.property(arbInput, ({ bytes, off, end, lead, useLead, v }) => {
      const b = bytes.slice();
      const leads = LEAD[p.name];
      if (useLead && off >= 0 && off < b.length) b[off] = leads[lead % leads.length];
      // GRE needs more than a first byte: a version-0 byte 1, or a whole plausible v1 header.
      if (useLead && p.name === 'GrePacket' && off >= 0 && off + 5 < b.length) {
        if (lead & 1) {
          b[off] = lead & 2 ? 0x30 : 0x20;
          b[off + 1] = lead & 4 ? 0x81 : 0x01;
          b[off + 2] = 0x88;
          b[off + 3] = 0x0b;
          b[off + 4] = 0;
          b[off + 5] = (lead >> 3) & 0x1f;
        } else {
          b[off + 1] &= 0xf8;
        }
      }
      if (useLead && p.name === 'TcpSegment' && off >= 0 && off + 12 < b.length) b[off + 12] = 0x50;
      if (useLead && p.name === 'UdpDatagram' && off >= 0 && off + 5 < b.length) {
        b[off + 4] = 0;
        b[off + 5] = Math.max(0, Math.min(255, end - off - (lead % 3)));
      }
      if (useLead && p.name === 'Ipv4Packet' && off >= 0 && off + 3 < b.length) {
        b[off + 2] = 0;
        b[off + 3] = Math.max(0, Math.min(255, end - off - (lead % 3)));
      }
      if (useLead && p.name === 'Ipv6Packet' && off >= 0 && off + 5 < b.length) {
        b[off + 4] = 0;
        b[off + 5] = Math.max(0, Math.min(255, end - off - 40));
      }
      const { buf, track } = guarded(b);
      const view = p.checked(buf, off, end);
      assert.equal(empty.rebind(buf, off, end), view !== null, `${p.name}: rebind agrees with checked`);
      track.within(Math.max(0, off), Math.max(0, Math.min(end, b.length)), `${p.name}.checked`);
      if (view === null) return;
      valid++;
      track.reset();
      const hi = p.hi(view, off, end);
      assert.ok(hi <= end && hi <= b.length, `${p.name}: validated extent ${hi} within end ${end}`);
      p.extra?.(view);
      exercise(view, b, track, off, hi, v, p.name);
    }),
    { numRuns: RUNS },
  );
  // The inputs are biased so that a good share validates; otherwise the accessors go untested.
  assert.ok(valid > RUNS / 20, `${p.name}: only ${valid} of ${RUNS} inputs validated`);
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Valid packets of every kind buildPacket makes. */
const arbSpec: fc.Arbitrary<PacketSpec> = fc
  .tuple(
    fc.boolean(),
    fc.nat(6),
    fc.uint8Array({ maxLength: 80 }),
    u16,
    u16,
    u32,
    fc.boolean(),
    fc.option(fc.uint8Array({ minLength: 1, maxLength: 12 }), { nil: undefined }),
  )
  .map(([v6, kind, payload, a, b, c, flag, ipOpts]): PacketSpec => {
    const ip = v6
      ? { src: '2001:db8::1', dst: '2001:db8::2', ...(flag ? { identification: c } : {}) }
      : { src: '10.0.0.1', dst: '192.0.2.9', ...(ipOpts ? { options: ipOpts } : {}) };
    switch (kind) {
      case 0:
        return {
          ...ip,
          payload,
          tcp: {
            srcPort: a,
            dstPort: b,
            seq: c,
            flags: TcpFlags.ACK,
            mss: a,
            sackPermitted: flag,
            timestamp: [c, a],
            windowScale: b & 15,
            ...(flag ? {} : { sackBlocks: [[c, (c + 10) >>> 0] as [number, number]] }),
          },
        };
      case 1:
        return { ...ip, payload, udp: { srcPort: a, dstPort: b } };
      case 2:
        return v6
          ? { ...ip, payload, icmpv6: { type: flag ? 128 : 1, code: 0, identifier: a, sequence: b } }
          : { ...ip, payload, icmp: { type: flag ? 8 : 3, code: 0, identifier: a, sequence: b } };
      case 3:
        return {
          ...ip,
          payload,
          gre: {
            version: 1,
            protocolType: GreProtocolType.Ppp,
            callId: a,
            sequence: c,
            ...(flag ? { ack: c } : {}),
          },
        };
      case 4:
        return {
          ...ip,
          payload,
          gre: { version: 0, protocolType: GreProtocolType.Ipv4, checksum: flag, key: c, sequence: a },
        };
      case 5:
        return { ...ip, payload, tcp: { srcPort: a, dstPort: b, flags: TcpFlags.SYN } };
      default:
        return { ...ip, payload, protocol: 253 };
    }
  });

/**
 * Dissects a whole IP packet the way a device would (IP view, IPv6 header chain, transport
 * view, TCP options) and exercises every view. Returns the transport view's class name or
 * `null` when a layer did not validate.
 */
function dissect(bytes: Uint8Array, v: number): string | null {
  const { buf, track } = guarded(bytes);
  let l4Off: number;
  let l4End: number;
  let proto: number;
  if (bytes.length > 0 && bytes[0] >> 4 === 6) {
    const ip = Ipv6Packet.checked(buf);
    track.within(0, bytes.length, 'Ipv6Packet.checked');
    if (!ip) return null;
    if (!chain.parse(ip)) return 'chain';
    track.within(0, ip.end, 'Ipv6HeaderChain.parse');
    if (!chain.upperPresent) return 'fragment';
    l4Off = chain.upperOffset;
    l4End = chain.end;
    proto = chain.upperProtocol;
  } else {
    const ip = Ipv4Packet.checked(buf);
    track.within(0, bytes.length, 'Ipv4Packet.checked');
    if (!ip) return null;
    if (ip.fragmentOffset !== 0) return 'fragment';
    l4Off = ip.payloadOffset;
    l4End = ip.off + ip.totalLength;
    proto = ip.protocol;
  }
  track.reset();
  let view: object | null = null;
  if (proto === IpProtocol.Tcp) {
    view = TcpSegment.checked(buf, l4Off, l4End);
    if (view) tcpOptions.parse(view as TcpSegment);
  } else if (proto === IpProtocol.Udp) view = UdpDatagram.checked(buf, l4Off, l4End);
  else if (proto === IpProtocol.Icmp) view = Icmpv4Packet.checked(buf, l4Off, l4End);
  else if (proto === IpProtocol.Icmpv6) view = Icmpv6Packet.checked(buf, l4Off, l4End);
  else if (proto === IpProtocol.Gre) view = GrePacket.checked(buf, l4Off, l4End);
  else return 'other';
  if (!view) return null;
  const name = view.constructor.name;
  exercise(view, bytes, track, l4Off, l4End, v, name);
  return name;
}

/** A valid packet with some bytes flipped, and maybe truncated or extended. */
const arbMutated = fc
  .tuple(
    arbSpec,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
    fc.nat(),
    fc.constantFrom('keep', 'truncate', 'extend'),
    fc.nat(0xffffffff),
  )
  .map(([spec, flips, cut, how, v]) => {
    let pkt = buildPacket(spec);
    for (const [i, x] of flips) pkt[i % pkt.length] ^= x;
    if (how === 'truncate') pkt = pkt.slice(0, cut % (pkt.length + 1));
    else if (how === 'extend') {
      const longer = new Uint8Array(pkt.length + 1 + (cut % 16));
      longer.set(pkt);
      pkt = longer;
    }
    return { pkt, v };
  });

describe('fuzz harness', () => {
  it('catches a view that reads past its validated bytes', () => {
    class Leaky {
      constructor(
        readonly buf: Uint8Array,
        readonly off: number,
      ) {}
      get last(): number {
        return this.buf[this.off + 8];
      }
    }
    const bytes = new Uint8Array(16);
    const { buf, track } = guarded(bytes);
    assert.throws(() => exercise(new Leaky(buf, 0), bytes, track, 0, 8, 0, 'Leaky'), /outside \[0, 8\)/);
    track.reset();
    exercise(new Leaky(buf, 0), bytes, track, 0, 9, 0, 'Leaky');
  });

  it('catches a payload() that a subarray would silently clamp', () => {
    class Clamped {
      constructor(readonly buf: Uint8Array) {}
      get payloadLength(): number {
        return 20;
      }
      payload(): Uint8Array {
        return this.buf.subarray(0, 20);
      }
    }
    const bytes = new Uint8Array(10);
    const { buf, track } = guarded(bytes);
    assert.throws(() => exercise(new Clamped(buf), bytes, track, 0, 10, 0, 'Clamped'), /not clamped/);
  });
});

describe('fuzz: arbitrary bytes', () => {
  for (const p of PARSERS) {
    it(`${p.name}.checked / rebind never throw, and valid views stay inside their bytes (${RUNS} runs)`, () => {
      fuzzParser(p);
    });
  }
});

describe('fuzz: option parsers over arbitrary ranges', () => {
  it(`TcpOptions.parseRange never throws and reads only its range (${RUNS} runs)`, () => {
    const o = new TcpOptions();
    fc.assert(
      fc.property(arbInput, ({ bytes, off, end }) => {
        const { buf, track } = guarded(bytes);
        const ok = o.parseRange(buf, off, end);
        if (off < 0 || end > bytes.length) assert.equal(ok, false);
        track.within(Math.max(0, off), end, 'TcpOptions.parseRange');
        if (ok && o.sackBlockCount > 0) assert.ok(o.sackBlocksOffset + 8 * o.sackBlockCount <= end);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: mutated valid packets', () => {
  it(`every valid packet buildPacket makes dissects completely (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(arbSpec, fc.nat(0xffffffff), (spec, v) => {
        const pkt = buildPacket(spec);
        const got = dissect(pkt.slice(), v);
        assert.ok(got !== null, 'every layer validates');
        const opts = new TcpOptions();
        if (got === 'TcpSegment') {
          const l4 = pkt[0] >> 4 === 4 ? (pkt[0] & 15) * 4 : 'identification' in spec ? 48 : 40;
          assert.ok(opts.parse(TcpSegment.checked(pkt, l4)!), 'options of an emitted segment parse');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it(`flipped, truncated and extended packets never throw or read outside the packet (${RUNS} runs)`, () => {
    let deep = 0;
    fc.assert(
      fc.property(arbMutated, ({ pkt, v }) => {
        const got = dissect(pkt, v);
        if (got !== null && /Packet|Segment|Datagram/.test(got)) deep++;
      }),
      { numRuns: RUNS },
    );
    assert.ok(deep > RUNS / 5, `only ${deep} of ${RUNS} mutated packets reached a transport view`);
  });

  it(`ICMP error builders never throw for arbitrary originals (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          arbMutated.map((m) => m.pkt),
          fc.uint8Array({ maxLength: 100 }),
        ),
        (pkt) => {
          const e4 = buildIcmpv4Error(pkt, { src: '192.0.2.254', type: 3, code: 1 });
          const e6 = buildIcmpv6Error(pkt, { src: '2001:db8::fe', type: 1, code: 3 });
          if (e4) assert.equal(dissect(e4, 0), 'Icmpv4Packet');
          if (e6) assert.equal(dissect(e6, 0), 'Icmpv6Packet');
        },
      ),
      { numRuns: RUNS },
    );
  });
});
