/**
 * The send buffer: bytes written by the application and not yet acknowledged. Offset 0 is
 * SND.UNA. Chunks are kept as written (no copy); segments copy straight from them into packets.
 */
export class SendBuffer {
  private chunks: Uint8Array[] = [];
  /** Bytes of `chunks[0]` already consumed. */
  private head = 0;
  /** Bytes held (unacknowledged plus unsent). */
  length = 0;

  /** Appends `data` (kept by reference; the caller must not modify it afterwards). */
  push(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.length += data.length;
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
  }
}
