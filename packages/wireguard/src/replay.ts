/**
 * The anti-replay sliding window for transport counters (RFC 6479 style): a ring of 64-bit
 * blocks kept as pairs of uint32 words, so checking and updating never allocates. Counters are
 * numbers: exact up to 2^53, far beyond REJECT_AFTER_MESSAGES in practice within a key pair's
 * 180 s life.
 */
import { REPLAY_WINDOW_BLOCKS } from './constants.js';

const BLOCK_BITS = 64;

/**
 * A sliding window over received counters. `check` says whether a counter is acceptable (not too
 * old, not seen); `update` records it after the packet authenticated.
 */
export class ReplayWindow {
  /** Usable window size in counters (blocks − 1 so the ring can advance without clearing live bits). */
  readonly size: number;
  private readonly bits: Uint32Array; // [hi, lo] per block, indexed block*2 + (bit >> 5)
  private readonly blocks: number;
  private last = -1; // highest counter seen

  constructor(blocks = REPLAY_WINDOW_BLOCKS) {
    this.blocks = blocks;
    this.bits = new Uint32Array(blocks * 2);
    this.size = (blocks - 1) * BLOCK_BITS;
  }

  /** Forgets everything. */
  reset(): void {
    this.bits.fill(0);
    this.last = -1;
  }

  /** The highest counter accepted so far (−1 if none). */
  get highest(): number {
    return this.last;
  }

  /** Whether `counter` would be accepted (without recording it). */
  check(counter: number): boolean {
    if (counter > this.last) return true;
    if (this.last - counter >= this.size) return false;
    const block = Math.floor(counter / BLOCK_BITS) % this.blocks;
    const bit = counter % BLOCK_BITS;
    return (this.bits[block * 2 + (bit >>> 5)] & (1 << (bit & 31))) === 0;
  }

  /** Records `counter`; returns false (and changes nothing) if it is a replay or too old. */
  update(counter: number): boolean {
    if (!this.check(counter)) return false;
    const blockAbs = Math.floor(counter / BLOCK_BITS);
    if (counter > this.last) {
      const lastBlock = this.last < 0 ? -1 : Math.floor(this.last / BLOCK_BITS);
      let diff = blockAbs - lastBlock;
      if (diff > this.blocks) diff = this.blocks;
      for (let i = 1; i <= diff; i++) {
        const b = ((lastBlock + i) % this.blocks) * 2;
        this.bits[b] = 0;
        this.bits[b + 1] = 0;
      }
      this.last = counter;
    }
    const bit = counter % BLOCK_BITS;
    const b = (blockAbs % this.blocks) * 2 + (bit >>> 5);
    this.bits[b] |= 1 << (bit & 31);
    return true;
  }
}
