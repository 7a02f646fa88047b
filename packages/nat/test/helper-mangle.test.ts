/**
 * Payload rewriting by helpers (`nat.mangle`) and the TCP sequence adjustment that follows a
 * length change: seq of later segments, acks and SACK blocks of the other side, retransmissions,
 * helper removal, snapshots.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError } from '@l3kit/core';
import fc from 'fast-check';
import type { HelperPacketContext, NatHelper, NatHelperHost } from '../src/index.js';
import { MAX_POINTS, SeqAdjust } from '../src/seq-adjust.js';
import {
  ACK,
  EXT,
  get32,
  H1,
  handshake,
  type Parsed,
  PSH,
  packet,
  R1,
  Rig,
  TCP,
  tcp,
  UDP,
  udp,
} from './helpers.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A helper that replaces every `from` with `to` inside each segment of the given direction(s). */
function replacer(
  from: string,
  to: string,
  opts: { proto?: number; port?: number; dirs?: Array<'outbound' | 'inbound'> } = {},
): NatHelper & { closed: number[]; rewritten: number } {
  const dirs = opts.dirs ?? ['outbound'];
  const h = {
    name: `replace-${from}`,
    proto: opts.proto ?? TCP,
    ports: [opts.port ?? 21],
    closed: [] as number[],
    rewritten: 0,
    onPacket(ctx: HelperPacketContext, host: NatHelperHost) {
      if (!dirs.includes(ctx.direction)) return undefined;
      let payload = text(ctx.pkt.subarray(ctx.payloadOff, ctx.payloadOff + ctx.payloadLen));
      let at = payload.indexOf(from);
      let pkt: Uint8Array | undefined;
      while (at >= 0) {
        pkt = host.mangle(ctx, at, from.length, to);
        h.rewritten++;
        payload = payload.slice(0, at) + to + payload.slice(at + from.length);
        at = payload.indexOf(from, at + to.length);
      }
      return pkt;
    },
    onClose(id: number) {
      h.closed.push(id);
    },
  };
  return h;
}

/** A TCP SACK option (kind 5) with the given blocks, NOP-padded to 4 bytes. */
function sackOption(blocks: Array<[number, number]>): Uint8Array {
  const o = new Uint8Array(2 + 2 + blocks.length * 8);
  o[0] = 1;
  o[1] = 1;
  o[2] = 5;
  o[3] = 2 + blocks.length * 8;
  const dv = new DataView(o.buffer);
  blocks.forEach(([s, e], i) => {
    dv.setUint32(4 + i * 8, s >>> 0);
    dv.setUint32(8 + i * 8, e >>> 0);
  });
  return o;
}

/** The SACK blocks of a parsed TCP segment's options. */
function sackBlocks(p: Parsed): Array<[number, number]> {
  const b = p.bytes;
  const l4 = p.ihl;
  const end = l4 + ((b[l4 + 12] >> 4) << 2);
  const out: Array<[number, number]> = [];
  for (let o = l4 + 20; o < end; ) {
    if (b[o] === 0) break;
    if (b[o] === 1) {
      o++;
      continue;
    }
    if (b[o] === 5)
      for (let k = o + 2; k + 8 <= o + b[o + 1]; k += 8) out.push([get32(b, k), get32(b, k + 4)]);
    o += b[o + 1];
  }
  return out;
}

describe('nat.mangle: payload rewrites that change the length', () => {
  it('a grown outbound segment keeps its seq; later segments, acks and SACK blocks are shifted', () => {
    const rig = new Rig();
    const h = replacer('AB', 'XYZ');
    rig.nat.addHelper(h);
    const c = handshake(rig, H1, 40000, R1, 21);
    const s1 = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq, c.rseq, 'PORT AB\r\n'));
    assert.equal(text(s1.out[0].payload), 'PORT XYZ\r\n');
    assert.equal(s1.out[0].seq, c.hseq, 'the resized segment itself starts where it did');
    const s2 = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 9, c.rseq, 'LIST\r\n'));
    assert.equal(s2.out[0].seq, c.hseq + 10, 'later segments move by the growth');
    // The remote acknowledges everything (in its view: 10 + 6 bytes), with a SACK for LIST.
    const ackAll = rig.fromOutside(
      packet({
        src: R1,
        dst: EXT,
        tcp: {
          srcPort: 21,
          dstPort: c.ext,
          flags: ACK,
          seq: c.rseq,
          ack: c.hseq + 16,
          options: sackOption([[c.hseq + 10, c.hseq + 16]]),
        },
      }),
    );
    assert.equal(ackAll.in[0].ack, c.hseq + 15, 'the ack is mapped back to the inside host’s numbers');
    assert.deepEqual(sackBlocks(ackAll.in[0]), [[c.hseq + 9, c.hseq + 15]]);
    // An ack for only the start of the resized segment is not shifted.
    const ackStart = rig.fromOutside(tcp(R1, 21, EXT, c.ext, ACK, c.rseq, c.hseq));
    assert.equal(ackStart.in[0].ack, c.hseq);
    rig.close();
  });

  it('a retransmission of the resized segment is rewritten identically and counted once', () => {
    const rig = new Rig();
    rig.nat.addHelper(replacer('AB', 'XYZ'));
    const c = handshake(rig, H1, 40000, R1, 21);
    const seg = () => tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq, c.rseq, 'PORT AB\r\n');
    const first = rig.fromInside(seg()).out[0];
    const again = rig.fromInside(seg()).out[0];
    assert.deepEqual(again.bytes, first.bytes, 'byte-identical retransmission');
    const next = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 9, c.rseq, 'X')).out[0];
    assert.equal(next.seq, c.hseq + 10, 'shifted by one growth, not two');
    rig.close();
  });

  it('a retransmission of an older resized segment gets the offset that was right for it', () => {
    const rig = new Rig();
    rig.nat.addHelper(replacer('AB', 'XYZ'));
    const c = handshake(rig, H1, 40000, R1, 21);
    rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq, c.rseq, 'AB'));
    rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 2, c.rseq, 'AB'));
    rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 4, c.rseq, 'AB'));
    // Linux keeps one correction point and would send this at +1; the right place is +0.
    const old = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq, c.rseq, 'AB')).out[0];
    assert.equal(old.seq, c.hseq);
    const mid = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 2, c.rseq, 'AB')).out[0];
    assert.equal(mid.seq, c.hseq + 3);
    rig.close();
  });

  it('an inbound resize shifts the remote’s later seqs and the inside host’s acks', () => {
    const rig = new Rig();
    rig.nat.addHelper(replacer('LONGADDR', 'S', { dirs: ['inbound'] }));
    const c = handshake(rig, H1, 40000, R1, 21);
    const r1 = rig.fromOutside(tcp(R1, 21, EXT, c.ext, PSH | ACK, c.rseq, c.hseq, '227 (LONGADDR)\r\n'));
    assert.equal(text(r1.in[0].payload), '227 (S)\r\n');
    const r2 = rig.fromOutside(tcp(R1, 21, EXT, c.ext, PSH | ACK, c.rseq + 16, c.hseq, '226 ok\r\n'));
    assert.equal(r2.in[0].seq, c.rseq + 9);
    const ack = rig.fromInside(tcp(H1, 40000, R1, 21, ACK, c.hseq, c.rseq + 9 + 8)).out[0];
    assert.equal(ack.ack, c.rseq + 16 + 8);
    rig.close();
  });

  it('sequence adjustment stays after the helper is removed, and survives a snapshot', () => {
    const rig = new Rig();
    const remove = rig.nat.addHelper(replacer('AB', 'XYZ'));
    const c = handshake(rig, H1, 40000, R1, 21);
    rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq, c.rseq, 'AB'));
    remove();
    const after = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 2, c.rseq, 'AB')).out[0];
    assert.equal(text(after.payload), 'AB', 'no helper: no rewrite');
    assert.equal(after.seq, c.hseq + 3, 'but the earlier growth is still accounted for');
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap);
    const later = r2.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq + 4, c.rseq, 'Z')).out[0];
    assert.equal(later.seq, c.hseq + 5, 'restored NAT keeps shifting');
    const ack = r2.fromOutside(tcp(R1, 21, EXT, c.ext, ACK, c.rseq, c.hseq + 6)).in[0];
    assert.equal(ack.ack, c.hseq + 5);
    r2.close();
  });

  it('onClose tells the helper when its connection ends', () => {
    const rig = new Rig();
    const h = replacer('AB', 'XYZ');
    rig.nat.addHelper(h);
    handshake(rig, H1, 40000, R1, 21);
    const id = rig.nat.mappings().find((m) => m.proto === TCP)?.id;
    assert.ok(id !== undefined);
    rig.advanceSec(3 * 3600);
    assert.deepEqual(h.closed, [id]);
    rig.close();
  });

  it('UDP payload rewrites fix the UDP length and checksum; a zero checksum stays zero', () => {
    const rig = new Rig();
    rig.nat.addHelper(replacer('AB', 'XYZW', { proto: UDP, port: 69 }));
    const out = rig.fromInside(udp(H1, 5000, R1, 69, 'xABx')).out[0];
    assert.equal(text(out.payload), 'xXYZWx');
    assert.equal((out.bytes[out.ihl + 4] << 8) | out.bytes[out.ihl + 5], 8 + 6);
    const z = packet({
      src: H1,
      dst: R1,
      udp: { srcPort: 5001, dstPort: 69, zeroChecksum: true },
      payload: 'AB',
    });
    const zo = rig.fromInside(z).out[0];
    assert.equal(text(zo.payload), 'XYZW');
    assert.equal((zo.bytes[zo.ihl + 6] << 8) | zo.bytes[zo.ihl + 7], 0);
    rig.close();
  });

  it('mangle refuses misuse with ERR_BAD_OPTION, and a throwing helper only drops its packet', () => {
    const rig = new Rig();
    const fake = {
      direction: 'outbound',
      tenant: 0,
      proto: TCP,
      pkt: new Uint8Array(40),
      l4Off: 20,
      payloadOff: 40,
      payloadLen: 0,
    } as unknown as HelperPacketContext;
    assert.throws(
      () => rig.nat.mangle(fake, 0, 0, 'x'),
      (e: unknown) => e instanceof L3kitError && e.code === 'ERR_BAD_OPTION',
    );
    let err: unknown;
    rig.nat.addHelper({
      name: 'bad-range',
      proto: TCP,
      ports: [21],
      onPacket(ctx, host) {
        if (ctx.payloadLen === 0) return undefined;
        try {
          host.mangle(ctx, ctx.payloadLen, 1, 'x');
        } catch (e) {
          err = e;
          throw e;
        }
        return undefined;
      },
    });
    const c = handshake(rig, H1, 40000, R1, 21);
    const r = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, c.hseq, c.rseq, 'abc'));
    assert.equal(r.out.length, 0);
    assert.ok(err instanceof L3kitError && err.code === 'ERR_BAD_OPTION');
    assert.equal(rig.nat.stats.drops.helper, 1);
    rig.close();
  });

  it('property: the remote receives exactly the rewritten stream, and every ack maps back exactly', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            data: fc.stringMatching(/^[ABx]{1,12}$/),
            retransmitBack: fc.nat({ max: 6 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        (segs) => {
          const rig = new Rig();
          rig.nat.addHelper(replacer('AB', 'XYZ'));
          const c = handshake(rig, H1, 40000, R1, 21);
          const sent: Array<{ seq: number; data: string; outSeq?: number }> = [];
          const received = new Map<number, string>(); // remote side: adjusted seq → data
          let seq = c.hseq;
          for (const s of segs) {
            const out = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, seq, c.rseq, s.data)).out[0];
            const expected = s.data.split('AB').join('XYZ');
            assert.equal(text(out.payload), expected);
            received.set(out.seq as number, expected);
            sent.push({ seq, data: s.data, outSeq: out.seq });
            seq += s.data.length;
            // a retransmission of a recent segment is byte-identical to its first transmission
            const back = Math.min(s.retransmitBack, sent.length - 1, MAX_POINTS - 2);
            const old = sent[sent.length - 1 - back];
            const re = rig.fromInside(tcp(H1, 40000, R1, 21, PSH | ACK, old.seq, c.rseq, old.data)).out[0];
            assert.equal(re.seq, old.outSeq);
          }
          // The remote's stream is contiguous and equals the rewritten data.
          const keys = [...received.keys()].sort((a, b) => a - b);
          let pos = c.hseq;
          let stream = '';
          for (const k of keys) {
            assert.equal(k, pos, 'no gap or overlap in the remote’s sequence space');
            stream += received.get(k);
            pos += (received.get(k) as string).length;
          }
          assert.equal(stream, segs.map((s) => s.data.split('AB').join('XYZ')).join(''));
          // Acks at every segment boundary map back to the inside host's boundary.
          for (const s of sent) {
            const out = s.outSeq as number;
            const ack = rig.fromOutside(tcp(R1, 21, EXT, c.ext, ACK, c.rseq, out)).in[0];
            assert.equal(ack.ack, s.seq);
          }
          const fin = rig.fromOutside(tcp(R1, 21, EXT, c.ext, ACK, c.rseq, pos)).in[0];
          assert.equal(fin.ack, seq);
          rig.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('SeqAdjust', () => {
  it('folds correction points beyond its limit into the base offset', () => {
    const a = new SeqAdjust();
    for (let i = 0; i < MAX_POINTS + 4; i++) assert.equal(a.record(0, 1000 + i * 10, 1), true);
    assert.equal(a.record(0, 1000 + (MAX_POINTS + 3) * 10, 1), false, 'a retransmission');
    const back = SeqAdjust.fromJSON(JSON.parse(JSON.stringify(a)));
    assert.ok(back);
    assert.deepEqual(back.toJSON(), a.toJSON());
    assert.equal(SeqAdjust.fromJSON({ ways: [{ base: 0, pos: [1], off: [] }, {}] }), null);
  });
});
