/**
 * FTP ALG (RFC 959, RFC 2428; behaviour of Linux `nf_conntrack_ftp` + `nf_nat_ftp`).
 *
 * What the inside host sends on a control connection is parsed line by line (only at line
 * starts, whole lines only):
 *
 * - Inside client (control connection to a remote port 21): `PORT h1,h2,h3,h4,p1,p2` and
 *   `EPRT |1|a.b.c.d|port|` carry the client's data endpoint. The address is replaced by the
 *   NAT's external address, the port by an external port the NAT allocates, and an expectation
 *   lets the server's data connection in (from the server's address, any source port) and maps it
 *   to the client's endpoint.
 * - Inside server behind a port forward (inbound control connection to inside port 21):
 *   `227 … (h1,h2,h3,h4,p1,p2)` gets the external address and an allocated port, with an
 *   expectation for the client's data connection (from the client's address, any port);
 *   `229 … (|||port|)` is left as it is (it carries no address) and the expectation keeps the
 *   same external port when it is free (else the port is rewritten, as Linux does).
 * - An address that is neither the sender's inside address nor its external address (FTP
 *   bounce, RFC 2577) is refused like Linux does: no rewrite, no expectation, the line passes
 *   unchanged (the server then rejects it, e.g. vsftpd's `500 Illegal PORT command.`).
 *
 * Replies the inside client receives (`227`, `229`) and commands an inside server receives
 * (`PORT`, `EPRT`) need nothing: the data connection they announce is opened from the inside.
 */
import type { HelperPacketContext } from '@l3kit/nat';
import { latin1Bytes } from '@l3kit/wire';
import {
  COMMA,
  decimalLength,
  type HelperCommonOptions,
  isDigit,
  type LineConn,
  type LineEdit,
  type LineHelperStats,
  parseDottedQuad,
  readDecimal,
  SP,
  startsWithKeyword,
  TcpLineHelper,
  TcpLineStream,
  zeroLineStats,
} from './line-protocol.js';

/** The options every helper of `@l3kit/alg` accepts (re-exported for users of the package). */
export type { HelperCommonOptions } from './line-protocol.js';

/** Linux `nf_conntrack_ftp`: one expectation per control connection, 300 s. */
export const FTP_MAX_EXPECTATIONS = 1;
/** Lifetime of an FTP data-connection expectation (Linux: 5 min). */
export const FTP_EXPECTATION_TIMEOUT_MS = 300_000;
/** The FTP control port (RFC 959). */
export const FTP_PORT = 21;

/** What an FTP line announces: a data endpoint in one of the four forms. */
export type FtpAddressKind = 'PORT' | 'EPRT' | '227' | '229';

/** A data endpoint found in an FTP line by {@link parseFtpLine}. */
export interface FtpAddress {
  kind: FtpAddressKind;
  /** IPv4 address as a uint32 (`-1` for `229`, which has none). */
  ip: number;
  port: number;
  /** Offset of the first and after the last byte of the replaceable argument. */
  argStart: number;
  argEnd: number;
  /** EPRT / EPSV field delimiter (ASCII code), 0 for PORT / 227. */
  delimiter: number;
}

/** Reads `h1,h2,h3,h4,p1,p2` at `off`; returns [ip, port, end] or null. */
function readHostPort(b: Uint8Array, off: number, end: number): [number, number, number] | null {
  const v = [0, 0, 0, 0, 0, 0];
  let i = off;
  for (let k = 0; k < 6; k++) {
    const n = readDecimal(b, i, end, 3);
    if (n < 0 || n > 255) return null;
    v[k] = n;
    i += decimalLength(b, i, end);
    if (k < 5) {
      if (i >= end || b[i] !== COMMA) return null;
      i++;
    }
  }
  const ip = ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0;
  return [ip, (v[4] << 8) | v[5], i];
}

/** Reads `<d><x><d>…` fields: returns the offset of the delimiter after a field starting at `off`. */
function fieldEnd(b: Uint8Array, off: number, end: number, d: number): number {
  for (let i = off; i < end; i++) if (b[i] === d) return i;
  return -1;
}

function skipSpaces(b: Uint8Array, off: number, end: number): number {
  while (off < end && b[off] === SP) off++;
  return off;
}

function onlySpacesLeft(b: Uint8Array, off: number, end: number): boolean {
  return skipSpaces(b, off, end) === end;
}

/** Parses an EPRT / EPSV-reply delimiter: RFC 2428 allows ASCII 33–126. */
function isDelimiter(c: number): boolean {
  return c >= 33 && c <= 126 && !isDigit(c);
}

function parsePortCommand(b: Uint8Array, off: number, end: number): FtpAddress | null {
  const a = skipSpaces(b, off + 5, end);
  const hp = readHostPort(b, a, end);
  if (!hp || hp[1] === 0 || !onlySpacesLeft(b, hp[2], end)) return null;
  return { kind: 'PORT', ip: hp[0], port: hp[1], argStart: a, argEnd: hp[2], delimiter: 0 };
}

function parseEprtCommand(b: Uint8Array, off: number, end: number): FtpAddress | null {
  const s = skipSpaces(b, off + 5, end);
  if (s + 2 >= end) return null;
  const d = b[s];
  if (!isDelimiter(d)) return null;
  const protoEnd = fieldEnd(b, s + 1, end, d);
  if (protoEnd !== s + 2) return null;
  if (b[s + 1] !== 0x31) return null; // only AF 1 (IPv4) is translated; AF 2 is not ours
  const addrStart = protoEnd + 1;
  const addrEnd = fieldEnd(b, addrStart, end, d);
  if (addrEnd < 0) return null;
  const ip = parseDottedQuad(b, addrStart, addrEnd);
  const portEnd = fieldEnd(b, addrEnd + 1, end, d);
  if (ip < 0 || portEnd < 0) return null;
  const port = readDecimal(b, addrEnd + 1, portEnd, 5);
  if (port < 1 || port > 65535 || decimalLength(b, addrEnd + 1, portEnd) !== portEnd - addrEnd - 1)
    return null;
  if (!onlySpacesLeft(b, portEnd + 1, end)) return null;
  return { kind: 'EPRT', ip, port, argStart: addrStart, argEnd: portEnd, delimiter: d };
}

function parse227(b: Uint8Array, off: number, end: number): FtpAddress | null {
  // RFC 1123 4.1.2.6: scan for the first digit after the code; "(h1,…)" is usual, not required.
  let i = off + 4;
  while (i < end && !isDigit(b[i])) i++;
  const hp = readHostPort(b, i, end);
  if (!hp || hp[1] === 0) return null;
  return { kind: '227', ip: hp[0], port: hp[1], argStart: i, argEnd: hp[2], delimiter: 0 };
}

function parse229(b: Uint8Array, off: number, end: number): FtpAddress | null {
  // "229 Entering Extended Passive Mode (|||6446|)"
  const open = fieldEnd(b, off + 4, end, 0x28);
  if (open < 0 || open + 5 >= end) return null;
  const d = b[open + 1];
  if (!isDelimiter(d) || b[open + 2] !== d || b[open + 3] !== d) return null;
  const p = open + 4;
  const pe = fieldEnd(b, p, end, d);
  if (pe < 0 || pe + 1 >= end || b[pe + 1] !== 0x29) return null;
  const port = readDecimal(b, p, pe, 5);
  if (port < 1 || port > 65535 || decimalLength(b, p, pe) !== pe - p) return null;
  return { kind: '229', ip: -1, port, argStart: p, argEnd: pe, delimiter: d };
}

/**
 * The FTP line kind at `b[off..end)` that carries a data endpoint, or `null` for any other line
 * (commands case-insensitive as RFC 959 requires; reply codes followed by a space).
 */
export function ftpLineKind(b: Uint8Array, off: number, end: number): FtpAddressKind | null {
  if (end - off < 5) return null;
  if (startsWithKeyword(b, off, end, 'PORT ')) return 'PORT';
  if (startsWithKeyword(b, off, end, 'EPRT ')) return 'EPRT';
  if (startsWithKeyword(b, off, end, '227 ')) return '227';
  if (startsWithKeyword(b, off, end, '229 ')) return '229';
  return null;
}

/**
 * Parses one FTP line `b[off..end)` (without CR LF) that announces a data endpoint: `PORT`,
 * `EPRT` (IPv4 only), `227` or `229`. Returns `null` for other lines and for malformed ones.
 */
export function parseFtpLine(b: Uint8Array, off = 0, end = b.length): FtpAddress | null {
  switch (ftpLineKind(b, off, end)) {
    case 'PORT':
      return parsePortCommand(b, off, end);
    case 'EPRT':
      return parseEprtCommand(b, off, end);
    case '227':
      return parse227(b, off, end);
    case '229':
      return parse229(b, off, end);
    default:
      return null;
  }
}

/**
 * The replacement text of an argument for the endpoint `ip:port`, in the syntax of `kind`
 * (`h1,h2,h3,h4,p1,p2`, `a.b.c.d<d>port` for EPRT, `port` for 229).
 */
export function formatFtpArgument(kind: FtpAddressKind, ip: number, port: number, delimiter = 0x7c): string {
  const a = ip >>> 24;
  const b = (ip >>> 16) & 255;
  const c = (ip >>> 8) & 255;
  const d = ip & 255;
  if (kind === 'EPRT') return `${a}.${b}.${c}.${d}${String.fromCharCode(delimiter)}${port}`;
  if (kind === '229') return `${port}`;
  return `${a},${b},${c},${d},${port >>> 8},${port & 255}`;
}

/** Options of {@link FtpHelper}. */
export type FtpHelperOptions = HelperCommonOptions;

/** Counters of an {@link FtpHelper}. */
export type FtpHelperStats = LineHelperStats;

interface FtpConn extends LineConn {
  /** The inside host is the client (control connection to a remote port 21). */
  client: boolean;
}

/**
 * The FTP ALG. `nat.addHelper(new FtpHelper())`, or `new FtpHelper({ ports: [21, 2121] })`.
 * See the module documentation for what it rewrites.
 */
export class FtpHelper extends TcpLineHelper<FtpConn, FtpHelperStats> {
  /** Throws `ConfigError('ERR_BAD_OPTION')` for bad options. */
  constructor(opts?: FtpHelperOptions) {
    super(
      'ftp',
      opts,
      {
        ports: [FTP_PORT],
        expectationTimeoutMs: FTP_EXPECTATION_TIMEOUT_MS,
        maxExpectations: FTP_MAX_EXPECTATIONS,
      },
      zeroLineStats(),
    );
  }

  protected newConn(ctx: HelperPacketContext): FtpConn {
    // Every rewrite happens in what the inside host sends: only the outbound stream is parsed.
    return { client: this.ports.includes(ctx.remotePort), out: new TcpLineStream() };
  }

  protected onPartial(b: Uint8Array, off: number, end: number): void {
    // A line that may announce an endpoint did not end in this segment: it will pass unchanged.
    const n = Math.min(end - off, 4);
    const heads = this.conn.client ? ['PORT', 'EPRT'] : ['227 ', '229 '];
    for (const h of heads)
      if (startsWithKeyword(b, off, off + n, h.slice(0, n))) {
        this.stats.splitLines++;
        return;
      }
  }

  protected onLine(b: Uint8Array, off: number, end: number): LineEdit | undefined {
    const kind = ftpLineKind(b, off, end);
    if (kind === null) return undefined;
    // Commands come from the client, replies from the server.
    const fromClient = kind === 'PORT' || kind === 'EPRT';
    if (fromClient !== this.conn.client) return undefined;
    const a = parseFtpLine(b, off, end);
    if (!a) {
      this.stats.parseErrors++;
      return undefined;
    }
    let extPort: number;
    if (a.kind === '229') {
      // No address: the expectation keeps the announced port when it is free.
      extPort = this.expect(a.port, a.port, true);
      if (extPort < 0) extPort = this.expect(a.port, undefined, true);
      if (extPort < 0) this.stats.failures++;
      if (extPort < 0 || extPort === a.port) return undefined;
    } else {
      extPort = this.expectAnnounced(a.ip, a.port, true);
      if (extPort < 0) return undefined;
    }
    this.stats.rewrites++;
    const text = formatFtpArgument(a.kind, this.ctx.externalIp, extPort, a.delimiter);
    return { off: a.argStart - off, len: a.argEnd - a.argStart, data: latin1Bytes(text) };
  }
}
