/**
 * ALG benchmarks. Run: `npx tsc -b packages/alg && node scripts/bench.mjs alg. nat44.tcp.outbound`.
 *
 * The three rewrite benchmarks keep one signalling flow through a Nat with one helper, from
 * 10.0.0.5 to 198.51.100.20 (TCP flows open with a handshake first); each operation is a new
 * message (fresh data: the next sequence number over TCP, a new Call-ID over UDP) that the
 * helper parses, expects for and rewrites. Packets are built before each timed round (the NAT
 * rewrites in place); between rounds the clock moves 130 s so that ports freed by evicted
 * expectations leave their reuse quarantine. Figures are the NAT + helper cost per message
 * (median over the rounds after the first five).
 *
 * - `alg.ftp.port-rewrite`: `PORT 10,0,0,5,195,80` segments; the FtpHelper expects (evicting the
 *   previous expectation, Linux's limit of one) and rewrites to the longer external address
 *   through `mangle` (payload rebuilt, checksums and the sequence adjustment updated).
 * - `alg.sip.invite-rewrite`: INVITEs with an SDP offer (one audio stream on a new RTP port per
 *   call) over UDP 5060; the SipHelper rewrites the request line, Via, Contact and the SDP `o=` /
 *   `c=` / `m=` lines, fixes Content-Length (the body grows), and creates the RTP and RTCP
 *   expectations (evicting older calls' beyond Linux's limit of four).
 * - `alg.h323.setup-rewrite`: fastStart Q.931 Setups on TCP 1720 (new h245Address and media ports
 *   per call); the H323Helper decodes the aligned-PER H.225.0 UUIE, rewrites the h245Address,
 *   the sourceCallSignalAddress and the fastStart RTP / RTCP addresses in place (same length,
 *   incremental checksum) and creates the H.245, RTP and RTCP expectations (at most 18 per
 *   connection, oldest evicted).
 * - `nat44.tcp.outbound.helpers-loaded`: the setup of `nat44.tcp.outbound` (10,000 established
 *   flows to port 443, 1440-byte payloads, round robin, a handler reflecting each packet; shared
 *   through `@l3kit/testkit`) on a Nat with every helper of `@l3kit/alg` loaded; every packet
 *   must take the NAT's fast path (checked). Compare with `nat44.tcp.outbound` run right after it.
 */
import { ManualClock } from '@l3kit/core';
import { Nat, type NatHelper } from '@l3kit/nat';
import { type Benchmark, establishReflectedFlows, NAT_BENCH_FLOWS as FLOWS } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import * as alg from '../src/index.js';
import { fastStartOffer, q931Tpkt, setupUuie } from '../test/h323-fixtures.js';

const NAT_OPTS = { inside: '10.0.0.1/8', outside: '203.0.113.1/24', maintainIntervalMs: 0 };
const EXT = '203.0.113.1';
const C = '10.0.0.5';
const S = '198.51.100.20';

function median(a: number[]): number {
  a.sort((x, y) => x - y);
  return Math.round(a[a.length >> 1] * 100) / 100;
}

/** Every helper class `@l3kit/alg` exports, instantiated with defaults (SIP over UDP and TCP). */
function allHelpers(): NatHelper[] {
  const out: NatHelper[] = [];
  for (const [name, value] of Object.entries(alg)) {
    if (!name.endsWith('Helper') || typeof value !== 'function') continue;
    const Ctor = value as unknown as new (o?: object) => NatHelper;
    const h = new Ctor();
    out.push(h);
    if ((h as { transport?: string }).transport === 'udp') out.push(new Ctor({ transport: 'tcp' }));
  }
  return out;
}

function helpersLoaded() {
  // One rig per process, timed as nat44.tcp.outbound is (60 rounds, the first 10 discarded):
  // compare with that benchmark (a second rig in the same process is not a fair baseline, the
  // rig built second measures faster on its own).
  const helpers = allHelpers();
  const nat = new Nat({ ...NAT_OPTS, clock: new ManualClock(1_000_000) });
  for (const h of helpers) nat.addHelper(h);
  const { bufs, inside, outside, counts } = establishReflectedFlows(nat, 'tcp', buildPacket, EXT, FLOWS);
  const fast0 = nat._fastPathPackets;
  const samples: number[] = [];
  for (let r = 0; r < 60; r++) {
    // One outbound pass over all flows (timed, ns per packet), then the inbound pass back.
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < FLOWS; i++) inside.send(bufs[i]);
    const ns = Number(process.hrtime.bigint() - t0) / FLOWS;
    for (let i = 0; i < FLOWS; i++) outside.send(bufs[i]);
    if (r >= 10) samples.push(ns);
  }
  const out = counts()[0];
  if (out !== 61 * FLOWS) throw new Error(`packets lost: ${out} of ${61 * FLOWS}`);
  const fast = nat._fastPathPackets - fast0;
  if (fast !== 120 * FLOWS) throw new Error(`fast path took ${fast} of ${120 * FLOWS} packets`);
  return {
    value: median(samples),
    minOutNs: Math.round(Math.min(...samples) * 100) / 100,
    flows: FLOWS,
    helpers: helpers.map((h) => h.name),
  };
}

/** How {@link rewriteRounds} drives one signalling flow. */
interface RewriteScenario {
  helper: NatHelper;
  /** The NAT's clock (give it to a helper that takes one). */
  clock?: ManualClock;
  proto: 'tcp' | 'udp';
  /** Client source port and server port of the signalling flow. */
  sport: number;
  dport: number;
  /** The payload of message `k` (k counts over all rounds). */
  message(k: number): string | Uint8Array;
  rounds: number;
  /** Messages per round. */
  perRound: number;
}

/** Timed rounds of new messages through Nat + helper; returns the median ns per message. */
function rewriteRounds(s: RewriteScenario) {
  const clock = s.clock ?? new ManualClock(1_000_000);
  const nat = new Nat({ ...NAT_OPTS, clock });
  nat.addHelper(s.helper);
  let last: Uint8Array | null = null;
  let outCount = 0;
  nat.outside().setHandler((p) => {
    last = p;
    outCount++;
  });
  nat.inside().setHandler(() => {});
  const inside = nat.inside();
  let seq = 1000;
  let opened = 0;
  if (s.proto === 'tcp') {
    inside.send(
      buildPacket({ src: C, dst: S, tcp: { srcPort: s.sport, dstPort: s.dport, flags: 0x02, seq: 999 } }),
    );
    const syn = last as unknown as Uint8Array;
    const ext = (syn[20] << 8) | syn[21];
    const synAck = { srcPort: s.dport, dstPort: ext, flags: 0x12, seq: 5000, ack: 1000 };
    nat.outside().send(buildPacket({ src: S, dst: EXT, tcp: synAck }));
    opened = 1;
  }
  const N = s.perRound;
  let k = 0;
  const round = () => {
    const pkts: Uint8Array[] = [];
    for (let i = 0; i < N; i++) {
      const m = s.message(k++);
      const payload = typeof m === 'string' ? Buffer.from(m, 'latin1') : m;
      const l4 =
        s.proto === 'tcp'
          ? { tcp: { srcPort: s.sport, dstPort: s.dport, flags: 0x18, seq: seq >>> 0, ack: 5001 } }
          : { udp: { srcPort: s.sport, dstPort: s.dport } };
      pkts.push(buildPacket({ src: C, dst: S, ...l4, payload }));
      seq += payload.length;
    }
    return pkts;
  };
  const samples: number[] = [];
  for (let r = 0; r < s.rounds; r++) {
    const pkts = round();
    // Freed ports wait out their reuse quarantine between rounds.
    clock.advance(130_000);
    nat.maintain();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) inside.send(pkts[i]);
    const t1 = process.hrtime.bigint();
    if (r >= 5) samples.push(Number(t1 - t0) / N);
  }
  const messages = s.rounds * N;
  if (outCount !== messages + opened) throw new Error(`out ${outCount}, expected ${messages + opened}`);
  const p = last as unknown as Uint8Array;
  const hl = (p[0] & 15) << 2;
  const payloadOff = hl + (s.proto === 'tcp' ? (p[hl + 12] >> 4) << 2 : 8);
  return { ns: median(samples), messages, nat, last: p.subarray(payloadOff) };
}

function portSegments(line: string, rounds: number) {
  const ftp = new alg.FtpHelper();
  const r = rewriteRounds({
    helper: ftp,
    proto: 'tcp',
    sport: 40000,
    dport: 21,
    message: () => line,
    rounds,
    perRound: 5_000,
  });
  const text = Buffer.from(r.last).toString('latin1').trim();
  return { ns: r.ns, segments: r.messages, stats: ftp.stats, text };
}

function portRewrite() {
  const r = portSegments('PORT 10,0,0,5,195,80\r\n', 25);
  if (r.stats.rewrites !== r.segments || !r.text.startsWith(`PORT ${EXT.replaceAll('.', ',')},`))
    throw new Error(`not rewritten: ${r.stats.rewrites} of ${r.segments}, last ${r.text}`);
  // For attribution: the same segments naming another host (parsed and refused: no expectation,
  // no mangle), and ordinary command lines (parsed, nothing to do).
  const refused = portSegments('PORT 10,0,0,9,195,80\r\n', 10);
  const plain = portSegments('NOOP\r\nTYPE I\r\n', 10);
  return {
    value: r.ns,
    segments: r.segments,
    expectations: r.stats.expectations,
    sample: r.text,
    refusedPortNs: refused.ns,
    plainLinesNs: plain.ns,
  };
}

/** An INVITE of call `k` with an SDP offer for one audio stream on RTP port `rtp`. */
function invite(k: number, rtp: number): string {
  const body = [
    'v=0',
    `o=alice ${k} ${k} IN IP4 ${C}`,
    's=-',
    `c=IN IP4 ${C}`,
    't=0 0',
    `m=audio ${rtp} RTP/AVP 0 8 101`,
    'a=rtpmap:101 telephone-event/8000',
    '',
  ].join('\r\n');
  const head = [
    `INVITE sip:bob@${S} SIP/2.0`,
    `Via: SIP/2.0/UDP ${C}:5060;branch=z9hG4bK-${k};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@${S}>;tag=a${k}`,
    `To: <sip:bob@${S}>`,
    `Call-ID: bench-${k}@${C}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@${C}:5060>`,
    'Content-Type: application/sdp',
    `Content-Length: ${body.length}`,
  ].join('\r\n');
  return `${head}\r\n\r\n${body}`;
}

function inviteRewrite() {
  const sip = new alg.SipHelper();
  // A new even RTP port per call (RTCP on the next), cycling through 16384..56382.
  const rtpOf = (k: number) => 16384 + 2 * (k % 20_000);
  const r = rewriteRounds({
    helper: sip,
    proto: 'udp',
    sport: 5060,
    dport: 5060,
    message: (k) => invite(k, rtpOf(k)),
    rounds: 25,
    perRound: 2_000,
  });
  const st = sip.stats;
  const text = Buffer.from(r.last).toString('latin1');
  if (st.rewrites !== r.messages || st.expectations !== 2 * r.messages || st.allocationFailures !== 0)
    throw new Error(`not rewritten: ${JSON.stringify(st)}`);
  // Call-ID is an opaque token (not rewritten, as Linux): everything else names the NAT.
  if (text.replace(/\r\nCall-ID: [^\r]*/, '').includes(C) || !text.includes(`c=IN IP4 ${EXT}`))
    throw new Error(`the last INVITE still names the inside host:\n${text}`);
  const declared = Number(/Content-Length: (\d+)/.exec(text)?.[1]);
  if (declared !== text.length - text.indexOf('\r\n\r\n') - 4) throw new Error('Content-Length not fixed');
  return {
    value: r.ns,
    invites: r.messages,
    bytes: text.length,
    expectations: st.expectations,
    evictions: st.evictions,
    pendingExpectations: r.nat.listExpectations().length,
  };
}

function setupRewrite() {
  const clock = new ManualClock(1_000_000);
  const h323 = new alg.H323Helper({ clock });
  // New H.245 and media ports per call; Setups are encoded once per distinct call (the PER
  // encoder is test code, not measured), 500 calls cycling.
  const CALLS = 500;
  const setups: Uint8Array[] = [];
  for (let k = 0; k < CALLS; k++) {
    const rtp = 20000 + 2 * k;
    const uuie = setupUuie({
      h245: [C, 30000 + k],
      src: [C, 40000],
      dest: [S, 1720],
      fastStart: fastStartOffer([C, rtp], [C, rtp + 1]),
    });
    setups.push(q931Tpkt(alg.Q931MessageType.setup, uuie, 0x1000 + k));
  }
  const r = rewriteRounds({
    helper: h323,
    clock,
    proto: 'tcp',
    sport: 40000,
    dport: 1720,
    message: (k) => setups[k % CALLS],
    rounds: 25,
    perRound: 2_000,
  });
  const st = h323.stats;
  // Each Setup: h245Address, sourceCallSignalAddress and three fastStart addresses.
  if (st.rewrites !== 5 * r.messages || st.parseErrors !== 0 || st.expectationFailures !== 0)
    throw new Error(`not rewritten: ${JSON.stringify(st)}`);
  const inside = Uint8Array.of(10, 0, 0, 5);
  if (Buffer.from(r.last).indexOf(inside) >= 0) throw new Error('the last Setup still names the inside host');
  return {
    value: r.ns,
    setups: r.messages,
    bytes: r.last.length,
    expectations: st.expectations,
    evictions: st.evictions,
    pendingExpectations: r.nat.listExpectations().length,
  };
}

/** ALG benchmarks. */
export const benchmarks: Benchmark[] = [
  {
    name: 'alg.ftp.port-rewrite',
    unit: 'ns/segment',
    description:
      'New PORT segment through Nat + FtpHelper: parse, expectation (evicting the previous), length-changing mangle with checksums and seq adjustment (median of 20 rounds of 5,000)',
    run: portRewrite,
  },
  {
    name: 'alg.sip.invite-rewrite',
    unit: 'ns/INVITE',
    description:
      'New INVITE with an SDP offer over UDP through Nat + SipHelper: parse, rewrite of request line, Via, Contact, o= / c= / m=, Content-Length fix, RTP + RTCP expectations (evicting beyond 4), UDP payload rebuilt (median of 20 rounds of 2,000)',
    run: inviteRewrite,
  },
  {
    name: 'alg.h323.setup-rewrite',
    unit: 'ns/Setup',
    description:
      'New fastStart Q.931 Setup on TCP 1720 through Nat + H323Helper: TPKT / Q.931 / aligned-PER H.225.0 decode, 5 addresses rewritten in place with incremental checksums, H.245 + RTP + RTCP expectations (median of 20 rounds of 2,000)',
    run: setupRewrite,
  },
  {
    name: 'nat44.tcp.outbound.helpers-loaded',
    unit: 'ns/pkt',
    description:
      'nat44.tcp.outbound (10,000 established flows to port 443, 1440-byte payload, reflecting handler) on a Nat with every @l3kit/alg helper loaded',
    run: helpersLoaded,
  },
];
