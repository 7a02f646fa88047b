/**
 * The sender's SACK scoreboard (RFC 2018, used as in RFC 6675): which ranges above SND.UNA the
 * receiver reported holding, so recovery retransmits only the holes.
 */
import { seqAdd, seqDiff, seqGt, seqLe, seqLt, seqMax } from './seq.js';

/** Sorted, merged [start, end) ranges above SND.UNA. */
export class Scoreboard {
  private ranges: number[] = [];

  /** Whether no range is recorded. */
  get empty(): boolean {
    return this.ranges.length === 0;
  }

  /** The highest sequence number reported (end of the last range), or `undefined`. */
  highest(): number | undefined {
    return this.ranges.length > 0 ? this.ranges[this.ranges.length - 1] : undefined;
  }

  /** Bytes covered by the ranges. */
  bytes(): number {
    let n = 0;
    for (let i = 0; i < this.ranges.length; i += 2) n += seqDiff(this.ranges[i + 1], this.ranges[i]);
    return n;
  }

  /**
   * Records blocks from an ACK, ignoring ones outside (sndUna, sndMax]. Returns true when the
   * scoreboard gained information.
   */
  add(blocks: number[], sndUna: number, sndMax: number): boolean {
    let changed = false;
    for (let i = 0; i + 1 < blocks.length; i += 2) {
      let l = blocks[i];
      const r = blocks[i + 1];
      if (!seqLt(l, r) || seqLe(r, sndUna) || seqGt(r, sndMax)) continue;
      if (seqLt(l, sndUna)) l = sndUna;
      changed = this.insert(l, r) || changed;
    }
    return changed;
  }

  private insert(l: number, r: number): boolean {
    const rs = this.ranges;
    const out: number[] = [];
    let nl = l;
    let nr = r;
    let i = 0;
    let covered = false;
    while (i < rs.length && seqLt(rs[i + 1], nl)) {
      out.push(rs[i], rs[i + 1]);
      i += 2;
    }
    while (i < rs.length && seqLe(rs[i], nr)) {
      if (seqLe(rs[i], nl) && seqLe(nr, rs[i + 1])) covered = true;
      if (seqLt(rs[i], nl)) nl = rs[i];
      nr = seqMax(nr, rs[i + 1]);
      i += 2;
    }
    out.push(nl, nr);
    while (i < rs.length) {
      out.push(rs[i], rs[i + 1]);
      i += 2;
    }
    this.ranges = out;
    return !covered;
  }

  /** Forgets everything at or below `sndUna`. */
  trim(sndUna: number): void {
    const rs = this.ranges;
    let i = 0;
    while (i < rs.length && seqLe(rs[i + 1], sndUna)) i += 2;
    if (i > 0) rs.splice(0, i);
    if (rs.length > 0 && seqLt(rs[0], sndUna)) rs[0] = sndUna;
  }

  /**
   * The first hole at or after `from` that lies below the highest SACKed byte: returns its
   * [start, end) clipped to `maxLen` bytes, or `undefined` when there is none.
   */
  nextHole(from: number, maxLen: number): [number, number] | undefined {
    const rs = this.ranges;
    let s = from;
    for (let i = 0; i < rs.length; i += 2) {
      if (seqLt(s, rs[i])) {
        const end = seqLt(seqAdd(s, maxLen), rs[i]) ? seqAdd(s, maxLen) : rs[i];
        return [s, end];
      }
      if (seqLt(s, rs[i + 1])) s = rs[i + 1];
    }
    return undefined;
  }

  /** If `seq` lies inside a SACKed range, the end of that range; else `undefined`. */
  sackedEnd(seq: number): number | undefined {
    const rs = this.ranges;
    for (let i = 0; i < rs.length; i += 2) {
      if (seqLt(seq, rs[i])) return undefined;
      if (seqLt(seq, rs[i + 1])) return rs[i + 1];
    }
    return undefined;
  }

  /** The start of the first SACKed range above `seq`, or `undefined`. */
  nextSackedStart(seq: number): number | undefined {
    const rs = this.ranges;
    for (let i = 0; i < rs.length; i += 2) if (seqGt(rs[i], seq)) return rs[i];
    return undefined;
  }

  /** Drops everything (after repeated timeouts: the receiver may have reneged). */
  clear(): void {
    this.ranges = [];
  }
}
