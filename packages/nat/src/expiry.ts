/**
 * Expiry for the NAT's tables: a single-level timer wheel over numeric ids with lazy refresh.
 *
 * The packet path only writes a new deadline into its own array (no wheel operation). An id sits
 * in the slot of the deadline it had when it was (re)scheduled; when that slot comes due,
 * {@link TimerWheel.advance} asks the owner for the id's current deadline and either expires it
 * or moves it to the slot of the new deadline. So `advance` costs O(slots passed + ids due or
 * moved), never a scan of the table: with a million live entries and none due it touches only
 * the empty slots between two calls.
 */

/** Called for an id whose slot is due: return its current deadline (ms), or `-1` if it was expired and removed. */
export type DueCallback = (id: number, now: number) => number;

/** A timer wheel over ids `0 .. capacity-1`. Ids are scheduled at most once each. */
export class TimerWheel {
  private readonly granularity: number;
  private readonly mask: number;
  private readonly heads: Int32Array;
  private prev: Int32Array;
  private next: Int32Array;
  /** Scheduled tick relative to `base` (int32: 2^31 × granularity is years), -1 when not scheduled. */
  private tick: Int32Array;
  private readonly base: number;
  /** The last tick fully processed. */
  private doneTick: number;
  /** Number of ids currently scheduled. */
  size = 0;
  private scratch = new Int32Array(256);

  /**
   * @param granularityMs width of one slot
   * @param slotsLog2 log2 of the number of slots (the wheel spans `granularityMs << slotsLog2`)
   * @param nowMs the current time
   * @param capacity initial id capacity (grows with {@link TimerWheel.ensureCapacity})
   */
  constructor(granularityMs: number, slotsLog2: number, nowMs: number, capacity = 1024) {
    this.granularity = granularityMs;
    this.heads = new Int32Array(1 << slotsLog2).fill(-1);
    this.mask = (1 << slotsLog2) - 1;
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.tick = new Int32Array(capacity).fill(-1);
    this.base = Math.floor(nowMs / granularityMs) - 1;
    this.doneTick = Math.floor(nowMs / granularityMs);
  }

  /** Grows the id space to at least `n` ids. */
  ensureCapacity(n: number): void {
    if (n <= this.prev.length) return;
    let cap = this.prev.length;
    while (cap < n) cap *= 2;
    const p = new Int32Array(cap);
    p.set(this.prev);
    const nx = new Int32Array(cap);
    nx.set(this.next);
    const t = new Int32Array(cap).fill(-1);
    t.set(this.tick);
    this.prev = p;
    this.next = nx;
    this.tick = t;
  }

  /** Whether `id` is scheduled. */
  has(id: number): boolean {
    return this.tick[id] >= 0;
  }

  /** Schedules `id` (not yet scheduled) to be checked at `atMs`. */
  schedule(id: number, atMs: number): void {
    let t = Math.ceil(atMs / this.granularity);
    if (t <= this.doneTick) t = this.doneTick + 1;
    // Beyond one lap: park in the farthest slot; it is re-checked (and moved) when reached.
    if (t - this.doneTick > this.mask) t = this.doneTick + this.mask;
    const slot = t & this.mask;
    const h = this.heads[slot];
    this.prev[id] = -1;
    this.next[id] = h;
    if (h >= 0) this.prev[h] = id;
    this.heads[slot] = id;
    this.tick[id] = t - this.base;
    this.size++;
  }

  /** Removes `id` from the wheel (no-op if not scheduled). */
  cancel(id: number): void {
    const rt = this.tick[id];
    if (rt < 0) return;
    const t = rt + this.base;
    const p = this.prev[id];
    const n = this.next[id];
    if (p >= 0) this.next[p] = n;
    else this.heads[t & this.mask] = n;
    if (n >= 0) this.prev[n] = p;
    this.tick[id] = -1;
    this.size--;
  }

  /** Moves `id` earlier if `atMs` falls before its current slot (deadlines that grow need no call). */
  pullIn(id: number, atMs: number): void {
    const rt = this.tick[id];
    if (rt < 0) {
      this.schedule(id, atMs);
      return;
    }
    const t = rt + this.base;
    if (Math.ceil(atMs / this.granularity) < t) {
      this.cancel(id);
      this.schedule(id, atMs);
    }
  }

  /**
   * Processes every slot up to `nowMs`: each id found there is unlinked and passed to `due`,
   * which returns its current deadline (then the id is rescheduled) or `-1` (it was removed).
   * Returns the number of ids visited.
   */
  advance(nowMs: number, due: DueCallback): number {
    const target = Math.floor(nowMs / this.granularity);
    let visited = 0;
    if (target <= this.doneTick) return 0;
    // More than a lap behind: one full lap visits every slot once.
    let from = this.doneTick + 1;
    if (target - from > this.mask) from = target - this.mask;
    this.doneTick = target; // reschedules below land after `target`
    for (let t = from; t <= target; t++) {
      const slot = t & this.mask;
      let id = this.heads[slot];
      if (id < 0) continue;
      this.heads[slot] = -1;
      // Detach the whole slot first (so `due` may cancel or schedule any id safely), then visit.
      let n = 0;
      while (id >= 0) {
        if (n === this.scratch.length) {
          const g = new Int32Array(n * 2);
          g.set(this.scratch);
          this.scratch = g;
        }
        this.scratch[n++] = id;
        this.tick[id] = -1;
        this.size--;
        id = this.next[id];
      }
      const list = this.scratch;
      for (let i = 0; i < n; i++) {
        const x = list[i];
        if (this.tick[x] >= 0) continue; // rescheduled meanwhile by a callback
        visited++;
        const deadline = due(x, nowMs);
        if (deadline >= 0 && this.tick[x] < 0) this.schedule(x, deadline);
      }
    }
    return visited;
  }
}
