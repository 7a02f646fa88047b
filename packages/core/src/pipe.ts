/**
 * A pipe: two {@link L3Device}s joined by a virtual wire. Sending a packet into one end makes the
 * other end emit it (call its handler), synchronously.
 *
 * Re-entrancy: delivery is a plain function call, so a handler that answers by sending into the
 * pipe again (an echo responder on each end, a routing loop through other devices) recurses.
 * The pipe keeps a depth counter shared by both ends; a send that would nest deeper than
 * `maxDepth` deliveries (default {@link PIPE_DEFAULT_MAX_DEPTH}) is dropped and counted in
 * `stats.depthExceeded`, so a loop ends with a drop instead of a stack overflow.
 */
import type { Prefix } from '@l3kit/wire';
import { discard, type L3Device, type PacketHandler } from './device.js';
import { ConfigError } from './errors.js';

/** Default nesting limit of a pipe's synchronous deliveries. */
export const PIPE_DEFAULT_MAX_DEPTH = 64;

/** Counters of one pipe, shared by both ends. */
export interface PipeStats {
  /** Packets handed to the far end's handler. */
  delivered: number;
  /** Packets dropped because the pipe was closed. */
  closed: number;
  /** Packets dropped because the synchronous delivery depth reached `maxDepth`. */
  depthExceeded: number;
}

/** Options of {@link pipeL3}. */
export interface PipeOptions {
  /** Nesting limit of synchronous deliveries (≥ 1). Default {@link PIPE_DEFAULT_MAX_DEPTH}. */
  maxDepth?: number;
}

/** One end of a pipe. */
export interface PipeEnd extends L3Device {
  /** Counters of the pipe (the same object on both ends). */
  readonly stats: Readonly<PipeStats>;
  /** The other end. */
  readonly peer: PipeEnd;
}

class PipeCore {
  readonly stats: PipeStats = { delivered: 0, closed: 0, depthExceeded: 0 };
  depth = 0;
  closed = false;
  constructor(readonly maxDepth: number) {}
}

class End implements PipeEnd {
  handler: PacketHandler = discard;
  peer!: End;
  private address: Prefix | undefined;
  constructor(private readonly core: PipeCore) {}

  get stats(): Readonly<PipeStats> {
    return this.core.stats;
  }

  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }

  send(pkt: Uint8Array): void {
    const c = this.core;
    if (c.closed) {
      c.stats.closed++;
      return;
    }
    if (c.depth >= c.maxDepth) {
      c.stats.depthExceeded++;
      return;
    }
    c.depth++;
    c.stats.delivered++;
    try {
      this.peer.handler(pkt);
    } finally {
      c.depth--;
    }
  }

  addr(): Prefix | undefined {
    return this.address;
  }

  setAddr(prefix: Prefix): void {
    this.address = prefix;
  }

  /** Closes the pipe (both ends): later sends into either end are dropped and counted. */
  close(): void {
    this.core.closed = true;
  }
}

/**
 * Creates a pipe and returns its two ends. `a.send(p)` calls `b`'s handler with `p` and vice
 * versa. Each end can carry its own address (`setAddr`). Closing either end closes the pipe.
 *
 * ```ts
 * const [a, b] = pipeL3();
 * b.setHandler((p) => console.log('b emitted', p.length));
 * a.send(packet);
 * ```
 */
export function pipeL3(opts: PipeOptions = {}): [PipeEnd, PipeEnd] {
  const maxDepth = opts.maxDepth ?? PIPE_DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 1)
    throw new ConfigError('ERR_BAD_OPTION', `pipeL3: maxDepth must be an integer >= 1, got ${maxDepth}`);
  const core = new PipeCore(maxDepth);
  const a = new End(core);
  const b = new End(core);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
