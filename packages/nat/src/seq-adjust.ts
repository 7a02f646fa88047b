/**
 * TCP sequence adjustment for connections whose payload a helper resized (an FTP `PORT` whose
 * address got longer, a SIP body, …): after a segment of one direction grew by `delta` bytes, every
 * later sequence number of that direction is shifted by `delta`, and the acknowledgement numbers
 * and SACK blocks the other side sends back are shifted the other way.
 *
 * Linux (`nf_conntrack_seqadj`) keeps one correction point per direction, so a retransmission of
 * a segment older than the last rewrite gets the wrong offset. This keeps the last
 * {@link MAX_POINTS} correction points per direction, sorted by sequence number: a
 * retransmission of any of them is recognised (its change is not counted twice) and gets the
 * offset that was right for it.
 */
import { updateChecksum32 } from '@l3kit/wire';

/** Correction points kept per direction; older ones fold into the base offset. */
export const MAX_POINTS = 16;

/** `a` is after `b` in sequence space (RFC 1982 serial arithmetic). */
function after(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}

/** One direction: correction points (sequence number of the resized segment, offset after it). */
class Way {
  /** Offset of sequence numbers before the oldest point kept. */
  base = 0;
  readonly pos: number[] = [];
  /** Cumulative offset for sequence numbers after `pos[i]`. */
  readonly off: number[] = [];

  /** Offset to add to a sequence number of this direction, in the sender's (original) space. */
  seqOffset(seq: number): number {
    for (let i = this.pos.length - 1; i >= 0; i--) if (after(seq, this.pos[i])) return this.off[i];
    return this.base;
  }

  /** Offset to subtract from an ack / SACK edge in the adjusted space (sent by the other side). */
  ackOffset(ack: number): number {
    for (let i = this.pos.length - 1; i >= 0; i--) {
      const before = i > 0 ? this.off[i - 1] : this.base;
      if (after((ack - before) | 0, this.pos[i])) return this.off[i];
    }
    return this.base;
  }

  /** Records that the segment starting at `seq` changed length by `delta`; false for a retransmission. */
  record(seq: number, delta: number): boolean {
    let i = this.pos.length;
    while (i > 0 && after(this.pos[i - 1], seq)) i--;
    if (i > 0 && this.pos[i - 1] === seq) return false; // seen: a retransmission, rewritten identically
    const prev = i > 0 ? this.off[i - 1] : this.base;
    this.pos.splice(i, 0, seq);
    this.off.splice(i, 0, (prev + delta) | 0);
    for (let j = i + 1; j < this.off.length; j++) this.off[j] = (this.off[j] + delta) | 0;
    if (this.pos.length > MAX_POINTS) {
      this.base = this.off[0];
      this.pos.shift();
      this.off.shift();
    }
    return true;
  }
}

/** Direction index: 0 = sent by the inside host (outbound), 1 = sent by the remote (inbound). */
export type SeqDirection = 0 | 1;

function rd32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3] | 0;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** The sequence adjustment state of one TCP connection. */
export class SeqAdjust {
  private readonly ways: [Way, Way] = [new Way(), new Way()];

  /** Records a length change of `delta` bytes of the segment at `seq` sent in direction `dir`. */
  record(dir: SeqDirection, seq: number, delta: number): boolean {
    if (delta === 0) return false;
    return this.ways[dir].record(seq | 0, delta);
  }

  /**
   * Shifts seq (by this direction's offset), ack and SACK blocks (by the other direction's) of the
   * TCP segment at `l4` (its checksum at `l4 + 16` updated incrementally). `end` is the end of the
   * TCP header's options area bound (the IP total length).
   */
  apply(pkt: Uint8Array, l4: number, end: number, dir: SeqDirection): void {
    const me = this.ways[dir];
    const other = this.ways[dir ^ 1];
    let ck = (pkt[l4 + 16] << 8) | pkt[l4 + 17];
    const seq = rd32(pkt, l4 + 4);
    const so = me.seqOffset(seq);
    if (so !== 0) {
      const ns = (seq + so) | 0;
      ck = updateChecksum32(ck, seq, ns);
      wr32(pkt, l4 + 4, ns);
    }
    if ((pkt[l4 + 13] & 0x10) !== 0) {
      const ack = rd32(pkt, l4 + 8);
      const ao = other.ackOffset(ack);
      if (ao !== 0) {
        const na = (ack - ao) | 0;
        ck = updateChecksum32(ck, ack, na);
        wr32(pkt, l4 + 8, na);
      }
      ck = this.adjustSack(pkt, l4, end, other, ck);
    }
    pkt[l4 + 16] = ck >>> 8;
    pkt[l4 + 17] = ck & 0xff;
  }

  /** Shifts the edges of SACK blocks (option 5) by the other direction's offsets. */
  private adjustSack(pkt: Uint8Array, l4: number, end: number, other: Way, ck: number): number {
    const hEnd = Math.min(end, l4 + ((pkt[l4 + 12] >> 4) << 2));
    let o = l4 + 20;
    while (o < hEnd) {
      const kind = pkt[o];
      if (kind === 0) break;
      if (kind === 1) {
        o++;
        continue;
      }
      if (o + 1 >= hEnd) break;
      const len = pkt[o + 1];
      if (len < 2 || o + len > hEnd) break;
      // start and end edges alike (4-byte steps over the 8-byte blocks)
      if (kind === 5)
        for (let b = o + 2; b + 4 <= o + len; b += 4) {
          const v = rd32(pkt, b);
          const nv = (v - other.ackOffset(v)) | 0;
          if (nv !== v) {
            ck = updateChecksum32(ck, v, nv);
            wr32(pkt, b, nv);
          }
        }
      o += len;
    }
    return ck;
  }

  /** JSON form (snapshots). */
  toJSON(): { ways: Array<{ base: number; pos: number[]; off: number[] }> } {
    return { ways: this.ways.map((w) => ({ base: w.base, pos: [...w.pos], off: [...w.off] })) };
  }

  /** Rebuilds the state from {@link SeqAdjust.toJSON}; returns null for a malformed value. */
  static fromJSON(v: unknown): SeqAdjust | null {
    const ways = (v as { ways?: unknown })?.ways;
    if (!Array.isArray(ways) || ways.length !== 2) return null;
    const r = new SeqAdjust();
    for (let d = 0; d < 2; d++) {
      const w = ways[d] as { base?: unknown; pos?: unknown; off?: unknown };
      const int = (x: unknown) =>
        typeof x === 'number' && Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff;
      if (!int(w?.base) || !Array.isArray(w.pos) || !Array.isArray(w.off)) return null;
      if (w.pos.length !== w.off.length || w.pos.length > MAX_POINTS) return null;
      if (!w.pos.every(int) || !w.off.every(int)) return null;
      r.ways[d].base = w.base as number;
      r.ways[d].pos.push(...(w.pos as number[]));
      r.ways[d].off.push(...(w.off as number[]));
    }
    return r;
  }
}
