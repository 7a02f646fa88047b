/**
 * TFTP ALG (RFC 1350, options RFC 2347; behaviour of Linux `nf_conntrack_tftp`).
 *
 * A TFTP server answers a read or write request from a new port of its own (its transfer
 * identifier), so under address-and-port-dependent filtering the answer would be dropped. On a
 * valid RRQ / WRQ from an inside client the helper adds an expectation: from the server's address,
 * any source port, to the external port of the request's mapping, mapped back to the client's
 * endpoint. One pending expectation per request flow (a retransmitted request replaces it),
 * 300 s, as in Linux.
 */
import type { HelperPacketContext, NatHelperHost } from '@l3kit/nat';
import { HelperBase, type HelperBaseStats, type HelperCommonOptions } from './line-protocol.js';

/** The TFTP server port (RFC 1350). */
export const TFTP_PORT = 69;
/** Linux `nf_conntrack_tftp`: one expectation per request flow. */
export const TFTP_MAX_EXPECTATIONS = 1;
/** Lifetime of a TFTP reply expectation (Linux: 5 min). */
export const TFTP_EXPECTATION_TIMEOUT_MS = 300_000;

/** TFTP opcodes (RFC 1350 §5, RFC 2347); unknown values stay representable. */
export const TftpOpcode = {
  rrq: 1,
  wrq: 2,
  data: 3,
  ack: 4,
  error: 5,
  oack: 6,
} as const;
/** A TFTP opcode. */
export type TftpOpcode = (typeof TftpOpcode)[keyof typeof TftpOpcode] | (number & {});

/** A parsed read or write request. */
export interface TftpRequest {
  opcode: 1 | 2;
  filename: string;
  /** Transfer mode in lower case: `netascii`, `octet` or `mail`. */
  mode: string;
  /** RFC 2347 options (names in lower case). */
  options: Record<string, string>;
}

const MODES = ['netascii', 'octet', 'mail'];

function cString(b: Uint8Array, off: number, end: number): [string, number] | null {
  let s = '';
  for (let i = off; i < end; i++) {
    if (b[i] === 0) return [s, i + 1];
    s += String.fromCharCode(b[i]);
  }
  return null;
}

/**
 * Parses a TFTP RRQ / WRQ in `b[off..end)`: opcode, NUL-terminated file name (non-empty) and
 * mode (`netascii`, `octet`, `mail`, any case), then option name / value pairs. Returns `null`
 * for anything else (other opcodes, truncation, unknown modes).
 */
export function parseTftpRequest(b: Uint8Array, off = 0, end = b.length): TftpRequest | null {
  if (end - off < 4) return null;
  const op = (b[off] << 8) | b[off + 1];
  if (op !== TftpOpcode.rrq && op !== TftpOpcode.wrq) return null;
  const f = cString(b, off + 2, end);
  if (!f || f[0].length === 0) return null;
  const m = cString(b, f[1], end);
  if (!m) return null;
  const mode = m[0].toLowerCase();
  if (!MODES.includes(mode)) return null;
  const options: Record<string, string> = {};
  let i = m[1];
  while (i < end) {
    const k = cString(b, i, end);
    if (!k || k[0].length === 0) return null;
    const v = cString(b, k[1], end);
    if (!v) return null;
    options[k[0].toLowerCase()] = v[0];
    i = v[1];
  }
  return { opcode: op, filename: f[0], mode, options };
}

/** Options of {@link TftpHelper}. */
export type TftpHelperOptions = HelperCommonOptions;

/** Counters of a {@link TftpHelper}. */
export interface TftpHelperStats extends HelperBaseStats {
  /** Read / write requests seen from inside clients. */
  requests: number;
}

/**
 * The TFTP ALG (UDP). `nat.addHelper(new TftpHelper())`; UDP helpers act only when added.
 */
export class TftpHelper extends HelperBase<TftpHelperStats> {
  /** UDP. */
  readonly proto = 17;

  /** Throws `ConfigError('ERR_BAD_OPTION')` for bad options. */
  constructor(opts?: TftpHelperOptions) {
    super(
      'tftp',
      opts,
      {
        ports: [TFTP_PORT],
        expectationTimeoutMs: TFTP_EXPECTATION_TIMEOUT_MS,
        maxExpectations: TFTP_MAX_EXPECTATIONS,
      },
      { requests: 0, expectations: 0, evictions: 0, parseErrors: 0, failures: 0 },
    );
  }

  /** Number of request flows with pending expectations tracked (for leak checks). */
  get connections(): number {
    return this.limiter.size;
  }

  /** {@inheritDoc NatHelper.onPacket} */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    // Requests go from an inside client to the server port; everything else passes.
    if (ctx.proto !== 17 || ctx.direction !== 'outbound' || !this.ports.includes(ctx.remotePort))
      return undefined;
    try {
      const req = parseTftpRequest(ctx.pkt, ctx.payloadOff, ctx.payloadOff + ctx.payloadLen);
      if (!req) {
        this.stats.parseErrors++;
        return undefined;
      }
      this.stats.requests++;
      // From the server's address, any port, to the request's own external port.
      if (this.expectFor(ctx, host, ctx.insidePort, ctx.externalPort, true) < 0) this.stats.failures++;
    } catch {
      this.stats.parseErrors++; // never throw into the NAT
    }
    return undefined;
  }
}
