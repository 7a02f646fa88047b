/**
 * Rules that the other NAT tests do not show on their own: reassembly (RFC 5722 overlaps in IPv6,
 * RFC 6946 atomic fragments, the reassembly key of RFC 791 / RFC 8200, RFC 8200 length limits),
 * RFC 7915 translation (a Routing header with Segments Left 0, through `Siit`) and the RFC 6146
 * simultaneous open. Listed in docs/conformance.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, formatIpv4, Ipv4Packet } from '@l3kit/wire';
import { Defragmenter } from '../src/defrag.js';
import { fragmentIpv4, fragmentIpv6 } from '../src/fragment.js';
import { Nat64 } from '../src/nat64.js';
import { Siit } from '../src/siit.js';

const FRAG_ID = 0x0badcafe;
const FRAGMENT = 44;
const ROUTING = 43;
const UDP = 17;
/** An experimental Routing Type (RFC 4727): no node knows it, so Segments Left decides. */
const EXPERIMENTAL_ROUTING_TYPE = 253;
/** Offset of the Fragment header's offset / M field in a fragment with no other extension header. */
const FRAG_OFFSET_FIELD = 42;

function defragmenter() {
  const d = new Defragmenter({
    clock: new ManualClock(5_000),
    maintainIntervalMs: 0,
    icmpSource6: '2001:db8:ffff::1',
  });
  const out: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  d.setHandler((p) => out.push(p.slice()));
  d.setReplyHandler((p) => replies.push(p.slice()));
  return { d, out, replies };
}

/** Type, code and pointer of an ICMPv6 error (after a 40-byte IPv6 header). */
function icmp6Error(p: Uint8Array): [number, number, number] {
  return [p[40], p[41], ((p[44] << 24) | (p[45] << 16) | (p[46] << 8) | p[47]) >>> 0];
}

/** A TCP/IPv6 segment with `size` payload bytes (a pattern, so misplaced data is seen). */
function tcp6(size: number, src = '2001:db8:1::10'): Uint8Array {
  return buildPacket({
    src,
    dst: '2001:db8:2::20',
    tcp: { srcPort: 4000, dstPort: 80, flags: 0x18, seq: 7, ack: 9 },
    payload: new Uint8Array(size).map((_, i) => (i * 31 + 5) & 0xff),
  });
}

function fragments6(pkt: Uint8Array, id = FRAG_ID): Uint8Array[] {
  const r = fragmentIpv6(pkt, 1280, id);
  assert.ok(Array.isArray(r) && r.length >= 3, `fragmentIpv6: ${String(r)}`);
  return r;
}

/** Rewrites the fragment offset (bytes) of an IPv6 fragment, keeping its M flag. */
function setOffset6(frag: Uint8Array, offsetBytes: number): Uint8Array {
  const f = frag.slice();
  const m = f[FRAG_OFFSET_FIELD + 1] & 1;
  f[FRAG_OFFSET_FIELD] = offsetBytes >> 8;
  f[FRAG_OFFSET_FIELD + 1] = (offsetBytes & 0xf8) | m;
  return f;
}

/** `pkt` (no extension headers) with the 8-byte extension header `ext` (type `nh`) inserted. */
function withExtensionHeader(pkt: Uint8Array, nh: number, ext: number[]): Uint8Array {
  const out = new Uint8Array(pkt.length + 8);
  out.set(pkt.subarray(0, 40));
  const payloadLength = ((pkt[4] << 8) | pkt[5]) + 8;
  out[4] = payloadLength >> 8;
  out[5] = payloadLength & 0xff;
  out[6] = nh;
  out.set([pkt[6], ...ext], 40);
  out.set(pkt.subarray(40), 48);
  return out;
}

/** `pkt` with an atomic Fragment header (offset 0, M = 0) of Identification `id`. */
function atomicFragment(pkt: Uint8Array, id: number): Uint8Array {
  return withExtensionHeader(pkt, FRAGMENT, [
    0,
    0,
    0,
    id >>> 24,
    (id >>> 16) & 0xff,
    (id >>> 8) & 0xff,
    id & 0xff,
  ]);
}

/** `pkt` with a Routing header of an experimental type (RFC 4727) and `segmentsLeft`. */
function withRoutingHeader(pkt: Uint8Array, segmentsLeft: number): Uint8Array {
  return withExtensionHeader(pkt, ROUTING, [0, EXPERIMENTAL_ROUTING_TYPE, segmentsLeft, 0, 0, 0, 0]);
}

describe('Reassembly rules (conformance)', () => {
  it('RFC 5722: an IPv6 fragment that overlaps another drops the whole datagram, and its later fragments too', () => {
    const { d, out } = defragmenter();
    const fs = fragments6(tcp6(3000));
    const firstDataLen = fs[0].length - 48;
    d.send(fs[0]);
    d.send(setOffset6(fs[1], firstDataLen - 8)); // 8 bytes over the end of the first fragment
    for (const f of fs.slice(1)) d.send(f);
    assert.deepEqual(out, [], 'nothing is reassembled');
    assert.equal(d.stats.dropOverlap, 1);
    assert.equal(d.stats.dropPoisoned, fs.length - 1, 'the genuine later fragments are dropped too');
    // The same fragments without the forgery reassemble: the drop was the overlap's doing.
    const clean = defragmenter();
    for (const f of fs) clean.d.send(f);
    assert.deepEqual(clean.out, [tcp6(3000)]);
  });

  it('RFC 6946: an IPv6 atomic fragment is processed on its own, even while fragments with its ID are pending', () => {
    const { d, out } = defragmenter();
    const big = tcp6(3000);
    const fs = fragments6(big);
    d.send(fs[0]);
    const atomic = atomicFragment(tcp6(60), FRAG_ID);
    d.send(atomic);
    assert.equal(out.length, 1, 'the atomic fragment is delivered at once');
    assert.deepEqual(out[0], atomic);
    assertChecksums(out[0], 'atomic fragment');
    for (const f of fs.slice(1)) d.send(f);
    assert.equal(out.length, 2);
    assert.deepEqual(out[1], big, 'the pending datagram is unaffected');
    assertChecksums(out[1], 'reassembled datagram');
  });

  it('RFC 8200 §4.5: fragments with one Identification but another source are separate datagrams', () => {
    const { d, out } = defragmenter();
    const a = tcp6(3000, '2001:db8:1::10');
    const b = tcp6(3000, '2001:db8:1::11');
    const fa = fragments6(a);
    const fb = fragments6(b);
    for (let i = 0; i < fa.length; i++) {
      d.send(fb[fa.length - 1 - i]);
      d.send(fa[i]);
    }
    assert.equal(out.length, 2);
    assert.deepEqual(
      new Set(out.map((p) => Buffer.from(p).toString('hex'))),
      new Set([a, b].map((p) => Buffer.from(p).toString('hex'))),
    );
    for (const p of out) assertChecksums(p, 'reassembled datagram');
    assert.equal(d.stats.dropOverlap, 0);
  });

  it('RFC 791: fragments with one Identification but another protocol are separate datagrams', () => {
    const { d, out } = defragmenter();
    const common = { src: '192.0.2.10', dst: '198.51.100.7', identification: 0x4242 };
    const udp = buildPacket({
      ...common,
      udp: { srcPort: 5000, dstPort: 53 },
      payload: new Uint8Array(2000).fill(1),
    });
    const tcp = buildPacket({
      ...common,
      tcp: { srcPort: 5000, dstPort: 80, flags: 0x18, seq: 1, ack: 1 },
      payload: new Uint8Array(2000).fill(2),
    });
    const fu = fragmentIpv4(udp, 700);
    const ft = fragmentIpv4(tcp, 700);
    assert.ok(Array.isArray(fu) && Array.isArray(ft));
    for (let i = 0; i < fu.length; i++) {
      d.send(ft[i]);
      d.send(fu[i]);
    }
    assert.equal(out.length, 2);
    for (const p of out) assertChecksums(p, 'reassembled datagram');
    assert.deepEqual(
      out.map((p) => p[9]).sort((x, y) => x - y),
      [6, 17],
      'one TCP and one UDP datagram',
    );
    assert.deepEqual(
      out.find((p) => p[9] === 17),
      udp,
    );
    assert.deepEqual(
      out.find((p) => p[9] === 6),
      tcp,
    );
  });

  it('RFC 8200 §4.5: an IPv6 non-last fragment whose length is not a multiple of 8 is discarded, with Parameter Problem at the Payload Length', () => {
    const { d, out, replies } = defragmenter();
    const fs = fragments6(tcp6(3000));
    const short = fs[0].slice(0, fs[0].length - 3);
    const payloadLength = short.length - 40;
    short[4] = payloadLength >> 8;
    short[5] = payloadLength & 0xff;
    d.send(short);
    assert.equal(d.stats.dropBadLength, 1);
    assert.equal(d.stats.fragments, 0, 'not queued');
    for (const f of fs.slice(1)) d.send(f);
    assert.deepEqual(out, [], 'the datagram cannot complete without its first fragment');
    assert.equal(replies.length, 1);
    assertChecksums(replies[0], 'Parameter Problem');
    assert.deepEqual(icmp6Error(replies[0]), [4, 0, 4]);
    assert.equal(d.stats.icmpParameterProblem, 1);
  });

  it('RFC 8200 §4.5: an IPv6 fragment that would make the payload exceed 65535 bytes is discarded, and only that fragment, with Parameter Problem at the Fragment Offset', () => {
    const { d, out, replies } = defragmenter();
    const fs = fragments6(tcp6(3000));
    d.send(fs[0]);
    const last = fs[fs.length - 1];
    assert.equal(last[FRAG_OFFSET_FIELD + 1] & 1, 0, 'the last fragment (M = 0)');
    d.send(setOffset6(last, 65528)); // the largest offset: its data ends past 65535
    assert.equal(d.stats.dropTooLarge, 1);
    assert.deepEqual(out, []);
    assert.equal(replies.length, 1);
    assertChecksums(replies[0], 'Parameter Problem');
    assert.deepEqual(
      icmp6Error(replies[0]),
      [4, 0, 40 + 2],
      'the Fragment Offset field of the Fragment header at 40',
    );
    // Only that fragment is discarded: the genuine ones still complete the datagram.
    for (const f of fs.slice(1)) d.send(f);
    assert.deepEqual(out, [tcp6(3000)]);
    assertChecksums(out[0], 'reassembled datagram');
  });
});

describe('RFC 7915 translation rules (conformance)', () => {
  it('RFC 7915 §5.1: a Routing header with Segments Left 0 is skipped and the upper layer translated', () => {
    const siit = new Siit({ prefix: '2001:db8:64::/96', icmpSource6: '2001:db8:ffff::1' });
    const v4out: Uint8Array[] = [];
    const v6replies: Uint8Array[] = [];
    siit.outside().setHandler((p) => v4out.push(p.slice()));
    siit.inside().setHandler((p) => v6replies.push(p.slice()));
    const payload = new Uint8Array(100).map((_, i) => (i * 11 + 7) & 0xff);
    const plain = buildPacket({
      src: '2001:db8:64::c633:6401', // 198.51.100.1
      dst: '2001:db8:64::cb00:7109', // 203.0.113.9
      hopLimit: 30,
      udp: { srcPort: 4000, dstPort: 53 },
      payload,
    });
    siit.inside().send(withRoutingHeader(plain, 0));
    assert.deepEqual(v6replies, [], 'no ICMPv6 error');
    assert.equal(v4out.length, 1);
    const ip = Ipv4Packet.checked(v4out[0]);
    assert.ok(ip);
    assertChecksums(v4out[0], 'translated datagram');
    assert.equal(ip.protocol, UDP);
    assert.equal(ip.headerLen, 20, 'no trace of the Routing header');
    assert.equal(ip.totalLength, 20 + 8 + payload.length);
    assert.equal(ip.ttl, 29);
    assert.equal(formatIpv4(ip.src), '198.51.100.1');
    assert.equal(formatIpv4(ip.dst), '203.0.113.9');
    assert.deepEqual(v4out[0].subarray(28), payload);

    // The same header with Segments Left 1 is refused (the counterpart rule, for contrast).
    siit.inside().send(withRoutingHeader(plain, 1));
    assert.equal(v4out.length, 1, 'not translated');
    assert.equal(v6replies.length, 1, 'an ICMPv6 error');
    assert.deepEqual([v6replies[0][40], v6replies[0][41]], [4, 0], 'parameter problem 4/0');
    assertChecksums(v6replies[0], 'ICMPv6 error');
  });
});

describe('RFC 6146 TCP state machine (conformance)', () => {
  it('RFC 6146 §3.5.2.2: a simultaneous open (the IPv4 SYN crosses the IPv6 SYN) is translated both ways and reaches ESTABLISHED', () => {
    const pool = '203.0.113.9';
    const nat = new Nat64({
      prefix: '2001:db8:46::/96',
      inside: '2001:db8:5::1/64',
      outside: `${pool}/24`,
      clock: new ManualClock(10_000),
      maintainIntervalMs: 0,
    });
    const out4: Uint8Array[] = [];
    const out6: Uint8Array[] = [];
    nat.outside().setHandler((p) => out4.push(p.slice()));
    nat.inside().setHandler((p) => out6.push(p.slice()));
    const host = '2001:db8:5::10';
    const peer4 = '198.51.100.7';
    const peer6 = nat.ipv6Of(peer4);
    const seg6 = (flags: number, seq: number, ack = 0) =>
      buildPacket({ src: host, dst: peer6, tcp: { srcPort: 41000, dstPort: 5000, flags, seq, ack } });
    nat.inside().send(seg6(0x02, 100)); // SYN
    assert.equal(out4.length, 1);
    assertChecksums(out4[0], 'translated SYN');
    const extPort = (out4[0][20] << 8) | out4[0][21];
    const seg4 = (flags: number, seq: number, ack = 0) =>
      buildPacket({
        src: peer4,
        dst: pool,
        tcp: { srcPort: 5000, dstPort: extPort, flags, seq, ack },
      });
    nat.outside().send(seg4(0x02, 900)); // the peer's own SYN, crossing ours
    assert.equal(out6.length, 1, 'the crossing SYN is delivered at once, not held');
    assertChecksums(out6[0], 'translated crossing SYN');
    assert.equal(out6[0][40 + 13], 0x02);
    nat.inside().send(seg6(0x12, 100, 901)); // each side answers SYN-ACK
    nat.outside().send(seg4(0x12, 900, 101));
    nat.inside().send(seg6(0x10, 101, 901));
    assert.equal(out4.length, 3);
    assert.equal(out6.length, 2);
    for (const p of [...out4, ...out6]) assertChecksums(p, 'translated segment');
    const [m] = nat.mappings();
    assert.equal(m.state, 'ESTABLISHED');
    assert.ok(m.expiresInMs > 2 * 3600_000, `TCP_EST (2 h 4 min), not a transitory timer: ${m.expiresInMs}`);
    assert.equal(nat.stats.drops['unsolicited-syn'] ?? 0, 0);
  });
});
