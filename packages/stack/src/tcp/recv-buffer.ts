/**
 * Out-of-order reassembly for the receive side: segments above RCV.NXT kept until the gap before
 * them fills, and the SACK blocks (RFC 2018) that describe them.
 */
import { copyBytes } from '../ip.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';

interface Piece {
  seq: number;
  data: Uint8Array;
}

/** Holds out-of-order data, non-overlapping, sorted by sequence number. */
export class Reassembly {
  private pieces: Piece[] = [];
  /** Bytes held. */
  bytes = 0;
  /** Left edge of the block that received the most recent segment (reported first in SACK). */
  private lastSeq = 0;

  /** Whether nothing is held. */
  get empty(): boolean {
    return this.pieces.length === 0;
  }

  /**
   * Stores `data` (copied) at `seq`, dropping the parts already held. `seq` must be above
   * RCV.NXT.
   */
  insert(seq: number, data: Uint8Array): void {
    this.lastSeq = seq;
    let s = seq;
    let d = data;
    const out: Piece[] = [];
    let i = 0;
    const ps = this.pieces;
    while (i < ps.length && seqLe(seqAdd(ps[i].seq, ps[i].data.length), s)) out.push(ps[i++]);
    while (d.length > 0 && i < ps.length) {
      const p = ps[i];
      const pEnd = seqAdd(p.seq, p.data.length);
      if (seqLt(s, p.seq)) {
        const n = Math.min(d.length, seqDiff(p.seq, s));
        out.push({ seq: s, data: copyBytes(d, 0, n) });
        this.bytes += n;
        s = seqAdd(s, n);
        d = d.subarray(n);
        continue;
      }
      // s is inside p: skip the overlap.
      const skip = Math.min(d.length, seqDiff(pEnd, s));
      s = seqAdd(s, skip);
      d = d.subarray(skip);
      out.push(p);
      i++;
    }
    if (d.length > 0) {
      out.push({ seq: s, data: copyBytes(d) });
      this.bytes += d.length;
    }
    while (i < ps.length) out.push(ps[i++]);
    this.pieces = out;
  }

  /**
   * Removes and returns the data that became in order at `rcvNxt` (trimming pieces that start
   * below it). Returns an empty array when the gap is still open.
   */
  take(rcvNxt: number): Uint8Array[] {
    const got: Uint8Array[] = [];
    let next = rcvNxt;
    while (this.pieces.length > 0) {
      const p = this.pieces[0];
      if (seqGt(p.seq, next)) break;
      this.pieces.shift();
      this.bytes -= p.data.length;
      const skip = seqDiff(next, p.seq);
      if (skip < p.data.length) {
        const d = p.data.subarray(skip);
        got.push(d);
        next = seqAdd(next, d.length);
      }
    }
    return got;
  }

  /**
   * Up to `max` SACK blocks as [left, right) pairs, the block holding the most recently
   * received segment first (RFC 2018 §4), the others highest first.
   */
  sackBlocks(max: number): number[] {
    const blocks: number[] = [];
    for (const p of this.pieces) {
      const end = seqAdd(p.seq, p.data.length);
      const n = blocks.length;
      if (n > 0 && blocks[n - 1] === p.seq) blocks[n - 1] = end;
      else blocks.push(p.seq, end);
    }
    const out: number[] = [];
    let first = -1;
    for (let i = 0; i < blocks.length; i += 2) {
      if (seqLe(blocks[i], this.lastSeq) && seqLt(this.lastSeq, blocks[i + 1])) first = i;
    }
    if (first >= 0) out.push(blocks[first], blocks[first + 1]);
    for (let i = blocks.length - 2; i >= 0 && out.length < max * 2; i -= 2) {
      if (i !== first) out.push(blocks[i], blocks[i + 1]);
    }
    return out;
  }

  /** Drops everything. */
  clear(): void {
    this.pieces = [];
    this.bytes = 0;
  }
}
