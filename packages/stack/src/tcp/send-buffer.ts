/**
 * The send buffer: bytes written by the application and not yet acknowledged. Offset 0 is
 * SND.UNA. Large writes are kept as chunks; small writes are packed into a shared tail buffer,
 * so that many tiny writes do not make a long chunk list. Segments copy straight from the
 * chunks into packets.
 */
export class SendBuffer {
  private chunks: Uint8Array[] = [];
  /** Bytes of `chunks[0]` already consumed. */
  private head = 0;
  /** Bytes held (unacknowledged plus unsent). */
  length = 0;
  /** Packing buffer for small writes; the last chunk is a view of it when `tailOpen`. */
  private tail: Uint8Array | undefined;
  private tailLen = 0;
  private tailOpen = false;

  /**
   * Appends `data`. With `owned`, the buffer keeps `data` by reference (the caller must not
   * modify it afterwards); otherwise it copies.
   */
  push(data: Uint8Array, owned = true): void {
    const n = data.length;
    if (n === 0) return;
    this.length += n;
    if (n <= SMALL_WRITE) {
      if (!this.tailOpen || !this.tail || this.tailLen + n > this.tail.length) {
        this.tail = new Uint8Array(TAIL_SIZE);
        this.tailLen = 0;
        this.tailOpen = true;
        this.chunks.push(this.tail.subarray(0, 0));
      }
      this.tail.set(data, this.tailLen);
      this.tailLen += n;
      // Bytes already in the tail never change; the view just grows.
      this.chunks[this.chunks.length - 1] = this.tail.subarray(0, this.tailLen);
      return;
    }
    this.tailOpen = false;
    this.chunks.push(owned ? data : data.slice());
  }

  /** Copies `len` bytes starting `offset` bytes after SND.UNA into `dst[dstOff..]`. */
  copyOut(offset: number, len: number, dst: Uint8Array, dstOff: number): void {
    let skip = offset + this.head;
    let i = 0;
    while (i < this.chunks.length && skip >= this.chunks[i].length) {
      skip -= this.chunks[i].length;
      i++;
    }
    let left = len;
    let o = dstOff;
    while (left > 0 && i < this.chunks.length) {
      const c = this.chunks[i];
      const n = Math.min(left, c.length - skip);
      dst.set(skip === 0 && n === c.length ? c : c.subarray(skip, skip + n), o);
      o += n;
      left -= n;
      skip = 0;
      i++;
    }
  }

  /** Drops `n` acknowledged bytes from the front. */
  consume(n: number): void {
    let left = Math.min(n, this.length);
    this.length -= left;
    while (left > 0) {
      const c = this.chunks[0];
      const avail = c.length - this.head;
      if (left >= avail) {
        left -= avail;
        this.chunks.shift();
        this.head = 0;
        if (this.chunks.length === 0) this.tailOpen = false;
      } else {
        this.head += left;
        left = 0;
      }
    }
  }

  /** Drops everything. */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
    this.tail = undefined;
    this.tailOpen = false;
  }
}

/** Writes up to this size are packed into the tail buffer. */
const SMALL_WRITE = 2048;
/** Size of a tail packing buffer. */
const TAIL_SIZE = 65536;
