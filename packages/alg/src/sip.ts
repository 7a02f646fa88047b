/**
 * SIP ALG (RFC 3261 signalling with RFC 8866 SDP; behaviour of Linux `nf_conntrack_sip` +
 * `nf_nat_sip`), over UDP or TCP.
 *
 * A {@link NatHelper} serves one transport protocol, so SIP over UDP and SIP over TCP are two
 * helper instances: `new SipHelper()` (name `'sip'`, UDP 5060) and
 * `new SipHelper({ transport: 'tcp' })` (name `'sip-tcp'`, TCP 5060).
 *
 * For each whole message of a matched connection, in both directions:
 *
 * - The sender's own address is translated wherever it names this signalling flow: outbound the
 *   inside `ip:port` becomes the external `ip:port`, inbound the external `ip:port` becomes the
 *   inside one. An address matches when its IPv4 address and port (5060 when none is written)
 *   are the flow's. Fields: the Request-URI, the topmost Via sent-by (only when its transport is
 *   the helper's) with its `maddr=` (outbound) or `received=` / `rport=` (inbound) parameters,
 *   every Contact, From, To, Route and Record-Route entry.
 * - SDP bodies the inside host sends: each `m=` stream whose connection address (`c=`) is the
 *   sender's inside address gets an external RTP port and the next one for RTCP, with one
 *   expectation for each (from the signalling peer, any port, unless `directMedia: false`); the
 *   `m=` port, an `a=rtcp:` port, and the `c=` / `o=` addresses are rewritten. Content-Length is
 *   fixed when the body changed length.
 * - An outbound REGISTER whose Contact is the sender adds a signalling expectation (from the
 *   registrar unless `directSignalling: false`) for the registration's lifetime.
 *
 * Over TCP only messages seen entirely in one segment are rewritten (Content-Length framing);
 * the helper follows message boundaries across segments and rewrites a retransmitted segment
 * byte-identically.
 */
import { Buffer } from 'node:buffer';
import { ConfigError } from '@l3kit/core';
import type { HelperPacketContext, NatDirection, NatHelper, NatHelperHost } from '@l3kit/nat';
import { formatIpv4 } from '@l3kit/wire';
import {
  guardPacket,
  type HelperCommonOptions,
  resolveCommonOptions,
  seqDiff,
  tcpFlagsOf,
  tcpSeqOf,
} from './line-protocol.js';
import {
  findElementUri,
  type HostPort,
  headersNamed,
  parseIpv4Span,
  parseSipHead,
  parseSipMessage,
  parseViaEntry,
  type SipMessage,
  splitList,
  startsWithCi,
  uriHostPort,
} from './sip-message.js';
import { parseSdp, type SdpAddress } from './sip-sdp.js';

export { parseSipMessage, type SipMessage } from './sip-message.js';
export { parseSdp, type SdpInfo, type SdpMedia } from './sip-sdp.js';

/** The SIP port (RFC 3261 §19.1.2). */
export const SIP_PORT = 5060;
/** Lifetime of a media expectation (Linux `sip_exp_policy`: 3 min). */
export const SIP_MEDIA_TIMEOUT_MS = 180_000;
/** Pending audio (and video) expectations per signalling connection: Linux's 2 × (RTP + RTCP). */
export const SIP_MAX_MEDIA_EXPECTATIONS = 4;
/** Pending image (T.38) expectations per signalling connection (Linux: 2). */
export const SIP_MAX_IMAGE_EXPECTATIONS = 2;
/** Pending signalling expectations per connection (Linux: 1). */
export const SIP_MAX_SIGNALLING_EXPECTATIONS = 1;
/** Registration lifetime assumed when a REGISTER gives none (RFC 3261 §10.2.1.1: 3600 s). */
export const SIP_DEFAULT_EXPIRES_S = 3600;

/** Transport of a {@link SipHelper}. */
export type SipTransport = 'udp' | 'tcp';

/** Expectation classes of the SIP helper (as Linux's `sip_exp_policy`). */
export type SipExpectationClass = 'signalling' | 'audio' | 'video' | 'image';

/** Options of {@link SipHelper}. */
export interface SipHelperOptions extends HelperCommonOptions {
  /** `'udp'` (default) or `'tcp'`; one helper instance per transport. */
  transport?: SipTransport;
  /**
   * Media expectations accept RTP/RTCP only from the signalling peer's address (default `true`,
   * Linux `sip_direct_media=1`); `false` accepts any remote address.
   */
  directMedia?: boolean;
  /**
   * The REGISTER signalling expectation accepts only the registrar's address (default `true`,
   * Linux `sip_direct_signalling=1`); `false` accepts any remote address.
   */
  directSignalling?: boolean;
}

/** Counters of a {@link SipHelper}. */
export interface SipHelperStats {
  /** Whole SIP messages parsed. */
  messages: number;
  /** Messages changed. */
  rewrites: number;
  /** Address, port and Content-Length fields replaced. */
  fields: number;
  /** Expectations created (media and signalling). */
  expectations: number;
  /** Pending expectations removed to stay within the per-class limit. */
  evictions: number;
  /** Payloads that were not SIP or not well-formed SIP (passed unchanged). */
  parseErrors: number;
  /** TCP messages not rewritten because they were not seen entirely in one segment. */
  incomplete: number;
  /** SDP streams left alone: their address is not the sender's, or they use several ports. */
  refusals: number;
  /** Messages dropped because no media expectation could be created (as Linux does). */
  allocationFailures: number;
  /** Messages dropped because the NAT could not apply the rewrite. */
  mangleErrors: number;
  /** Retransmissions given the same rewrite as the first copy. */
  retransmissions: number;
}

/** What the rewriter asks for an outbound SDP stream. */
export interface SipMediaRequest {
  kind: Exclude<SipExpectationClass, 'signalling'>;
  /** Inside address and ports of the stream (RTP and RTCP). */
  insideIp: number;
  rtpPort: number;
  rtcpPort: number;
}

/** The translation of one signalling flow, for {@link rewriteSipMessage}. */
export interface SipRewriteEnv {
  direction: NatDirection;
  transport: SipTransport;
  insideIp: number;
  insidePort: number;
  externalIp: number;
  externalPort: number;
  /**
   * Allocates the external RTP / RTCP ports of an outbound stream (and their expectations);
   * `null` when it cannot (the message is then dropped). Without it SDP is not rewritten.
   */
  media?(req: SipMediaRequest): { rtpPort: number; rtcpPort: number } | null;
  /**
   * An outbound REGISTER binds the sender's Contact for `expires` seconds (0 = unregister); an
   * inbound 2xx answer to a REGISTER reports the lifetime the registrar granted.
   */
  register?(expires: number): void;
}

/** Result of {@link rewriteSipMessage}. */
export interface SipRewriteResult {
  /** The message text after the rewrite (the input when nothing changed). */
  text: string;
  /** Fields replaced. */
  fields: number;
  /** SDP streams left alone (see {@link SipHelperStats.refusals}). */
  refusals: number;
  /** A media allocation failed: drop the message. */
  drop: boolean;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** The edits that change something, in order, without overlaps (none by construction; the first wins). */
function effectiveEdits(s: string, edits: Edit[]): Edit[] {
  edits.sort((a, b) => a.start - b.start);
  const out: Edit[] = [];
  let pos = 0;
  for (const e of edits) {
    if (e.start < pos || s.slice(e.start, e.end) === e.text) continue;
    out.push(e);
    pos = e.end;
  }
  return out;
}

/** `s[start..end)` with the sorted, non-overlapping `edits` applied. */
function applyTextEdits(s: string, start: number, end: number, edits: Edit[]): string {
  let out = '';
  let pos = start;
  for (const e of edits) {
    out += s.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + s.slice(pos, end);
}

function mediaClass(media: string): SipMediaRequest['kind'] {
  if (media === 'video') return 'video';
  if (media === 'image' || media === 'application') return 'image';
  return 'audio';
}

function expiresOf(s: string, msg: SipMessage, contactEl: [number, number]): number {
  const el = s.slice(contactEl[0], contactEl[1]);
  const gt = el.lastIndexOf('>');
  const m = /;\s*expires\s*=\s*(\d{1,10})/i.exec(gt >= 0 ? el.slice(gt) : el);
  if (m) return Number(m[1]);
  const h = headersNamed(msg, 'expires')[0];
  if (h) {
    const v = s.slice(h.valueStart, h.valueEnd);
    if (/^\d{1,10}$/.test(v)) return Number(v);
  }
  return SIP_DEFAULT_EXPIRES_S;
}

/**
 * Rewrites one SIP message `s[msg.start..msg.end)` for the flow `env` (see the module comment
 * for what is rewritten). Pure apart from the `media` / `register` callbacks; never throws for
 * any message {@link parseSipMessage} returned.
 */
export function rewriteSipMessage(s: string, msg: SipMessage, env: SipRewriteEnv): SipRewriteResult {
  const out = env.direction === 'outbound';
  const fromIp = out ? env.insideIp : env.externalIp;
  const fromPort = out ? env.insidePort : env.externalPort;
  const toIp = out ? env.externalIp : env.insideIp;
  const toPort = out ? env.externalPort : env.insidePort;
  const toIpText = formatIpv4(toIp);
  const edits: Edit[] = [];
  const result: SipRewriteResult = { text: '', fields: 0, refusals: 0, drop: false };
  const mapHostPort = (hp: HostPort | null): boolean => {
    if (!hp || hp.ip !== fromIp || (hp.port < 0 ? hp.defaultPort : hp.port) !== fromPort) return false;
    const text = hp.port < 0 && toPort === hp.defaultPort ? toIpText : `${toIpText}:${toPort}`;
    edits.push({ start: hp.hostStart, end: hp.end, text });
    return true;
  };
  if (msg.isRequest) mapHostPort(uriHostPort(s, msg.uriStart, msg.uriEnd));

  // Topmost Via, with its received= / rport= / maddr= parameters.
  const via = msg.headers.find((h) => h.name === 'via');
  const top = via ? splitList(s, via.valueStart, via.valueEnd)[0] : undefined;
  const entry = top ? parseViaEntry(s, top[0], top[1]) : null;
  if (entry && entry.transport === env.transport.toUpperCase() && mapHostPort(entry.sentBy)) {
    for (const p of entry.params) {
      if (!p.hasValue) continue;
      if (out && p.name === 'maddr' && parseIpv4Span(s, p.valueStart, p.valueEnd) === env.insideIp)
        edits.push({ start: p.valueStart, end: p.valueEnd, text: formatIpv4(env.externalIp) });
      else if (!out && p.name === 'received' && parseIpv4Span(s, p.valueStart, p.valueEnd) === env.externalIp)
        edits.push({ start: p.valueStart, end: p.valueEnd, text: formatIpv4(env.insideIp) });
      else if (!out && p.name === 'rport' && s.slice(p.valueStart, p.valueEnd) === String(env.externalPort))
        edits.push({ start: p.valueStart, end: p.valueEnd, text: String(env.insidePort) });
    }
  }

  // Contact, From, To, Route, Record-Route.
  let boundContact: [number, number] | undefined;
  for (const h of msg.headers) {
    if (
      h.name !== 'contact' &&
      h.name !== 'from' &&
      h.name !== 'to' &&
      h.name !== 'route' &&
      h.name !== 'record-route'
    )
      continue;
    const elements =
      h.name === 'from' || h.name === 'to'
        ? [[h.valueStart, h.valueEnd] as [number, number]]
        : splitList(s, h.valueStart, h.valueEnd);
    for (const el of elements)
      if (mapHostPort(findElementUri(s, el[0], el[1])) && h.name === 'contact') boundContact ??= el;
  }
  if (env.register && isRegistration(s, msg, out)) {
    if (boundContact) env.register(expiresOf(s, msg, boundContact));
    else if (
      out &&
      msg.headers.some((h) => h.name === 'contact' && s.slice(h.valueStart, h.valueEnd) === '*')
    )
      env.register(0); // `Contact: *` removes every binding (RFC 3261 §10.2.2)
  }

  // SDP the inside host sends.
  const bodyEdits: Edit[] = [];
  if (out && env.media && msg.end > msg.bodyStart && isSdp(s, msg)) {
    const sdp = parseSdp(s, msg.bodyStart, msg.end);
    if (sdp) {
      const inside = env.insideIp;
      const extText = formatIpv4(env.externalIp);
      const mapAddr = (a: SdpAddress | undefined): void => {
        if (a && a.ip === inside) bodyEdits.push({ start: a.start, end: a.end, text: extText });
      };
      for (const m of sdp.media) {
        if (m.port.port === 0) continue;
        const addr = m.connection ?? sdp.connection;
        if (!addr || addr.ip !== inside || m.portCount !== 1) {
          if (addr && addr.ip >= 0 && addr.ip !== env.externalIp) result.refusals++;
          continue;
        }
        const rtcpPort = m.rtcp ? m.rtcp.port.port : m.port.port + 1;
        if (rtcpPort > 65535) {
          result.refusals++;
          continue;
        }
        const got = env.media({
          kind: mediaClass(m.media),
          insideIp: inside,
          rtpPort: m.port.port,
          rtcpPort,
        });
        if (!got) {
          result.drop = true;
          result.text = s.slice(msg.start, msg.end);
          return result;
        }
        bodyEdits.push({ start: m.port.start, end: m.port.end, text: String(got.rtpPort) });
        if (m.rtcp) {
          bodyEdits.push({ start: m.rtcp.port.start, end: m.rtcp.port.end, text: String(got.rtcpPort) });
          mapAddr(m.rtcp.address);
        }
        mapAddr(m.connection);
      }
      mapAddr(sdp.connection);
      mapAddr(sdp.origin);
    }
  }
  const all = effectiveEdits(s, edits.concat(bodyEdits));
  let delta = 0;
  for (const e of all) if (e.start >= msg.bodyStart) delta += e.text.length - (e.end - e.start);
  if (delta !== 0) {
    for (const h of msg.headers)
      if (h.name === 'content-length')
        all.push({ start: h.valueStart, end: h.valueEnd, text: String(msg.contentLength + delta) });
    all.sort((a, b) => a.start - b.start);
  }
  result.fields = all.length;
  result.text = all.length === 0 ? s.slice(msg.start, msg.end) : applyTextEdits(s, msg.start, msg.end, all);
  return result;
}

/**
 * An outbound REGISTER request, or an inbound 2xx response to one (its Contact carries the
 * lifetime the registrar granted, RFC 3261 §10.3 step 8).
 */
function isRegistration(s: string, msg: SipMessage, outbound: boolean): boolean {
  if (outbound) return msg.isRequest && msg.method.toUpperCase() === 'REGISTER';
  if (msg.isRequest || msg.status < 200 || msg.status > 299) return false;
  const cseq = msg.headers.find((h) => h.name === 'cseq');
  return cseq !== undefined && /^\d+\s+REGISTER$/i.test(s.slice(cseq.valueStart, cseq.valueEnd));
}

function isSdp(s: string, msg: SipMessage): boolean {
  const ct = msg.headers.find((h) => h.name === 'content-type');
  if (!ct) return startsWithCi(s, msg.bodyStart, msg.end, 'v=');
  return startsWithCi(s, ct.valueStart, ct.valueEnd, 'application/sdp');
}

// =============================================================================== TCP framing

interface CachedSegment {
  seq: number;
  input: string;
  output: string;
}

/** SIP methods of the IANA registry (RFC 3261, 3262, 3265, 3311, 3428, 3515, 3903, 6086, 6665). */
const KNOWN_METHODS = new Set([
  'ACK',
  'BYE',
  'CANCEL',
  'INFO',
  'INVITE',
  'MESSAGE',
  'NOTIFY',
  'OPTIONS',
  'PRACK',
  'PUBLISH',
  'REFER',
  'REGISTER',
  'SUBSCRIBE',
  'UPDATE',
]);

/** Remembered rewritten segments per direction (retransmissions are rewritten identically). */
const SEGMENT_CACHE = 4;
/** Largest unfinished message head kept to learn where the message ends. */
const MAX_PENDING_HEAD = 16384;

/**
 * Follows one direction of a SIP-over-TCP connection as a sequence of messages (Content-Length
 * framing, RFC 3261 §18.3). Exported for tests; the helper keeps two per connection.
 */
export class SipTcpStream {
  private nextSeq = 0;
  private started = false;
  /** Bytes of the current (not rewritable) message still to come; -1 = message alignment lost. */
  private skip = 0;
  /** Head of a message whose empty line has not arrived yet. */
  private pending = '';
  private readonly cache: CachedSegment[] = [];

  /** A SYN with sequence number `seq`: data starts at `seq + 1`, at a message start. */
  syn(seq: number): void {
    this.nextSeq = (seq + 1) >>> 0;
    this.started = true;
    this.skip = 0;
    this.pending = '';
    this.cache.length = 0;
  }

  /**
   * Processes the payload `s` (latin-1) with sequence number `seq`. `rewrite` is called for each
   * whole message of new data that starts at a known message boundary and returns its new text,
   * or `null` to drop the segment. Returns the new payload, `undefined` for no change, `null` to
   * drop (the stream state is then as if the segment had not arrived).
   */
  process(
    s: string,
    seq: number,
    rewrite: (s: string, msg: SipMessage) => string | null,
    stats: Pick<SipHelperStats, 'incomplete' | 'parseErrors' | 'retransmissions'>,
  ): string | null | undefined {
    const len = s.length;
    if (!this.started) {
      this.started = true;
      this.nextSeq = seq >>> 0;
    }
    const saved = { nextSeq: this.nextSeq, skip: this.skip, pending: this.pending };
    const ahead = seqDiff(seq, this.nextSeq);
    let pos = 0;
    if (ahead < 0) {
      for (const c of this.cache)
        if (c.seq === seq && c.input === s) {
          stats.retransmissions++;
          return c.output;
        }
      if (-ahead >= len) return undefined;
      pos = -ahead;
    } else if (ahead > 0) {
      this.skip = -1;
      this.pending = '';
    }
    this.nextSeq = (seq + len) >>> 0;
    let out = '';
    let copied = 0;
    let changed = false;
    if (this.pending !== '') {
      const joined = this.pending + s.slice(pos);
      const head = parseSipHead(joined, 0, joined.length, true);
      this.pending = '';
      if (head === 'incomplete') {
        if (joined.length <= MAX_PENDING_HEAD) this.pending = joined;
        else this.skip = -1;
        return undefined;
      }
      this.skip = head === null ? -1 : head.end - (joined.length - (len - pos));
    }
    while (pos < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - pos);
        pos += n;
        this.skip -= n;
        continue;
      }
      while (pos < len && (s.charCodeAt(pos) === 0x0d || s.charCodeAt(pos) === 0x0a)) pos++;
      if (pos >= len) break;
      const head = parseSipHead(s, pos, len, true);
      if (this.skip < 0) {
        // Lost alignment: resynchronise only on a segment that starts with a response or a
        // request of a registered method (a start line cut in the middle must not pass).
        if (head === null || pos !== 0) break;
        if (head !== 'incomplete' && head.isRequest && !KNOWN_METHODS.has(head.method.toUpperCase())) break;
        this.skip = 0;
      }
      if (head === null) {
        stats.parseErrors++;
        this.skip = -1;
        break;
      }
      if (head === 'incomplete') {
        stats.incomplete++;
        if (len - pos <= MAX_PENDING_HEAD) this.pending = s.slice(pos);
        else this.skip = -1;
        break;
      }
      if (head.end > len) {
        stats.incomplete++;
        this.skip = head.end - len;
        break;
      }
      const text = rewrite(s, head);
      if (text === null) {
        this.nextSeq = saved.nextSeq;
        this.skip = saved.skip;
        this.pending = saved.pending;
        return null;
      }
      if (text !== s.slice(head.start, head.end)) {
        out += s.slice(copied, head.start) + text;
        copied = head.end;
        changed = true;
      }
      pos = head.end;
    }
    if (!changed) return undefined;
    out += s.slice(copied);
    if (this.cache.length >= SEGMENT_CACHE) this.cache.shift();
    this.cache.push({ seq: seq >>> 0, input: s, output: out });
    return out;
  }
}

// =============================================================================== helper

interface MediaAlloc {
  rtp: number;
  rtcp: number;
  ids: number[];
}

interface SipConn {
  host: NatHelperHost;
  /** Pending expectation ids by class, oldest first. */
  exp: Record<SipExpectationClass, number[]>;
  /** Media allocations by inside endpoint, so a repeated offer keeps its external ports. */
  media: Map<string, MediaAlloc>;
  /** UDP: recent rewritten datagrams by direction + text. */
  recent: Map<string, string | null>;
  streams: [SipTcpStream, SipTcpStream] | null;
}

/** Recent datagrams remembered per connection (retransmitted requests get the same rewrite). */
const DATAGRAM_CACHE = 8;
/** Media allocations remembered per connection (the oldest is forgotten beyond it). */
const MEDIA_MEMORY = 32;
/** Attempts to find an external RTP/RTCP port pair. */
const PAIR_ATTEMPTS = 8;

/**
 * The SIP ALG: `nat.addHelper(new SipHelper())` for SIP over UDP on port 5060,
 * `nat.addHelper(new SipHelper({ transport: 'tcp' }))` for SIP over TCP. See the module comment
 * for what it rewrites.
 */
export class SipHelper implements NatHelper {
  /** `'sip'` (UDP) or `'sip-tcp'` unless named otherwise. */
  readonly name: string;
  /** 17 (UDP) or 6 (TCP). */
  readonly proto: number;
  /** Signalling ports (default 5060). */
  readonly ports: readonly number[];
  /** Tenants served; all when absent. */
  readonly tenants?: readonly number[];
  /** `'udp'` or `'tcp'`. */
  readonly transport: SipTransport;
  /** Counters (live object). */
  readonly stats: SipHelperStats = {
    messages: 0,
    rewrites: 0,
    fields: 0,
    expectations: 0,
    evictions: 0,
    parseErrors: 0,
    incomplete: 0,
    refusals: 0,
    allocationFailures: 0,
    mangleErrors: 0,
    retransmissions: 0,
  };
  private readonly mediaTimeoutMs: number;
  private readonly limits: Record<SipExpectationClass, number>;
  private readonly directMedia: boolean;
  private readonly directSignalling: boolean;
  private readonly conns = new Map<number, SipConn>();

  /** Throws `ConfigError('ERR_BAD_OPTION')` for an invalid option. */
  constructor(opts: SipHelperOptions = {}) {
    const transport = opts?.transport ?? 'udp';
    if (transport !== 'udp' && transport !== 'tcp')
      throw new ConfigError(
        'ERR_BAD_OPTION',
        `sip: transport must be 'udp' or 'tcp', not ${String(transport)}`,
      );
    const base = transport === 'udp' ? 'sip' : 'sip-tcp';
    for (const k of ['directMedia', 'directSignalling'] as const)
      if (opts?.[k] !== undefined && typeof opts[k] !== 'boolean')
        throw new ConfigError('ERR_BAD_OPTION', `${base}: ${k} must be a boolean`);
    const r = resolveCommonOptions(base, opts, defaultsOf(SIP_MAX_MEDIA_EXPECTATIONS), [
      'transport',
      'directMedia',
      'directSignalling',
    ]);
    this.transport = transport;
    this.name = r.name;
    this.proto = transport === 'udp' ? 17 : 6;
    this.ports = r.ports;
    if (r.tenants) this.tenants = r.tenants;
    this.mediaTimeoutMs = r.expectationTimeoutMs;
    this.limits = {
      signalling: SIP_MAX_SIGNALLING_EXPECTATIONS,
      audio: r.maxExpectations,
      video: r.maxExpectations,
      image: Math.min(SIP_MAX_IMAGE_EXPECTATIONS, r.maxExpectations),
    };
    this.directMedia = opts?.directMedia ?? true;
    this.directSignalling = opts?.directSignalling ?? true;
  }

  /** Number of connections with state (for leak checks). */
  get connections(): number {
    return this.conns.size;
  }

  /** {@inheritDoc NatHelper.onPacket} */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    return guardPacket(this.stats, this.segment, this, ctx, host);
  }

  private segment(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined {
    let c = this.conns.get(ctx.connectionId);
    if (!c) {
      c = {
        host,
        exp: { signalling: [], audio: [], video: [], image: [] },
        media: new Map(),
        recent: new Map(),
        streams: this.proto === 6 ? [new SipTcpStream(), new SipTcpStream()] : null,
      };
      this.conns.set(ctx.connectionId, c);
    }
    c.host = host;
    const env = this.envFor(ctx, host, c);
    let text: string | null | undefined;
    if (c.streams) {
      const st = c.streams[ctx.direction === 'outbound' ? 0 : 1];
      if ((tcpFlagsOf(ctx) & 0x02) !== 0) st.syn(tcpSeqOf(ctx));
      if (ctx.payloadLen === 0) return undefined;
      const s = payloadText(ctx);
      text = st.process(s, tcpSeqOf(ctx), (str, msg) => this.rewriteOne(str, msg, env), this.stats);
    } else {
      if (ctx.payloadLen === 0) return undefined;
      text = this.onDatagram(payloadText(ctx), ctx.direction, env, c);
    }
    if (text === undefined) return undefined;
    if (text === null) return null;
    try {
      return host.mangle(ctx, 0, ctx.payloadLen, text);
    } catch {
      this.stats.mangleErrors++;
      return null;
    }
  }

  /** {@inheritDoc NatHelper.onClose} */
  onClose(connectionId: number): void {
    const c = this.conns.get(connectionId);
    if (!c) return;
    this.conns.delete(connectionId);
    for (const ids of Object.values(c.exp)) for (const id of ids) c.host.removeExpectation(id);
  }

  private onDatagram(
    s: string,
    dir: NatDirection,
    env: SipRewriteEnv,
    c: SipConn,
  ): string | null | undefined {
    let pos = 0;
    while (pos < s.length && (s.charCodeAt(pos) === 0x0d || s.charCodeAt(pos) === 0x0a)) pos++;
    if (pos >= s.length) return undefined; // CRLF keep-alive (RFC 5626)
    const key = `${dir}\n${s}`;
    const seen = c.recent.get(key);
    if (seen !== undefined) {
      this.stats.retransmissions++;
      return seen ?? undefined;
    }
    const msg = parseSipMessage(s, pos, s.length, false);
    if (!msg || msg === 'incomplete') {
      this.stats.parseErrors++;
      return undefined;
    }
    const text = this.rewriteOne(s, msg, env);
    if (text === null) return null;
    const whole =
      text === s.slice(msg.start, msg.end) ? null : s.slice(0, msg.start) + text + s.slice(msg.end);
    if (c.recent.size >= DATAGRAM_CACHE) c.recent.delete(c.recent.keys().next().value as string);
    c.recent.set(key, whole);
    return whole ?? undefined;
  }

  private rewriteOne(s: string, msg: SipMessage, env: SipRewriteEnv): string | null {
    this.stats.messages++;
    const r = rewriteSipMessage(s, msg, env);
    this.stats.refusals += r.refusals;
    if (r.drop) {
      this.stats.allocationFailures++;
      return null;
    }
    if (r.fields > 0) {
      this.stats.rewrites++;
      this.stats.fields += r.fields;
    }
    return r.text;
  }

  private envFor(ctx: HelperPacketContext, host: NatHelperHost, c: SipConn): SipRewriteEnv {
    const tenant = ctx.tenant;
    // The NAT's context may carry addresses as signed 32-bit numbers: compare them unsigned.
    const remoteIp = formatIpv4(ctx.remoteIp >>> 0);
    const insideIp = ctx.insideIp >>> 0;
    const insidePort = ctx.insidePort;
    const externalPort = ctx.externalPort;
    return {
      direction: ctx.direction,
      transport: this.transport,
      insideIp,
      insidePort,
      externalIp: ctx.externalIp >>> 0,
      externalPort,
      media: (req) => this.allocMedia(c, host, tenant, remoteIp, req),
      register: (expires) => {
        const old = c.exp.signalling.splice(0);
        if (expires > 0) {
          try {
            const e = host.addExpectation({
              proto: this.proto,
              insideIp: formatIpv4(insideIp),
              insidePort,
              externalPort,
              tenant,
              remoteIp: this.directSignalling ? remoteIp : undefined,
              timeoutMs: Math.min(expires, 0x7fffffff / 1000) * 1000,
              helper: this.name,
            });
            c.exp.signalling.push(e.id);
            this.stats.expectations++;
          } catch {
            this.stats.allocationFailures++;
          }
        }
        for (const id of old) host.removeExpectation(id);
      },
    };
  }

  /** Records `id` in its class, evicting the oldest pending ones beyond the limit. */
  private track(c: SipConn, cls: SipExpectationClass, id: number): void {
    const ids = c.exp[cls];
    ids.push(id);
    while (ids.length > this.limits[cls]) {
      const old = ids.shift() as number;
      if (c.host.removeExpectation(old)) this.stats.evictions++;
    }
  }

  /** Removes the expectations `ids` (superseded by new ones) and their slots in `cls`. */
  private forget(c: SipConn, cls: SipExpectationClass, ids: number[]): void {
    for (const id of ids) {
      c.host.removeExpectation(id);
      const i = c.exp[cls].indexOf(id);
      if (i >= 0) c.exp[cls].splice(i, 1);
    }
  }

  private allocMedia(
    c: SipConn,
    host: NatHelperHost,
    tenant: number,
    remoteIp: string,
    req: SipMediaRequest,
  ): { rtpPort: number; rtcpPort: number } | null {
    const key = `${tenant}/${req.insideIp}/${req.rtpPort}/${req.rtcpPort}`;
    const prev = c.media.get(key);
    const base = {
      proto: 17,
      insideIp: formatIpv4(req.insideIp),
      tenant,
      remoteIp: this.directMedia ? remoteIp : undefined,
      timeoutMs: this.mediaTimeoutMs,
      helper: this.name,
    };
    for (let attempt = 0; attempt < PAIR_ATTEMPTS; attempt++) {
      // 1: the ports this stream had before; 2: the NAT's choice (port preservation or the
      // endpoint's existing mapping); then reserved random ports.
      let want: number | undefined;
      let reserved = -1;
      if (attempt === 0) {
        if (!prev) continue;
        want = prev.rtp;
      } else if (attempt > 1) {
        try {
          reserved = host.allocOutsidePort(17).port;
        } catch {
          break;
        }
        want = reserved;
      }
      let rtpId = -1;
      try {
        const e1 = host.addExpectation({ ...base, insidePort: req.rtpPort, externalPort: want });
        rtpId = e1.id;
        const rtcpExt = e1.externalPort + 1;
        if (rtcpExt > 65535) throw new RangeError('no RTCP port above 65535');
        const e2 = host.addExpectation({ ...base, insidePort: req.rtcpPort, externalPort: rtcpExt });
        if (prev) this.forget(c, req.kind, prev.ids);
        this.track(c, req.kind, e1.id);
        this.track(c, req.kind, e2.id);
        this.stats.expectations += 2;
        c.media.delete(key);
        if (c.media.size >= MEDIA_MEMORY) c.media.delete(c.media.keys().next().value as string);
        c.media.set(key, { rtp: e1.externalPort, rtcp: rtcpExt, ids: [e1.id, e2.id] });
        return { rtpPort: e1.externalPort, rtcpPort: rtcpExt };
      } catch {
        if (rtpId >= 0) host.removeExpectation(rtpId);
        else if (reserved >= 0) host.releaseOutsidePort(17, reserved);
      }
    }
    return null;
  }
}

function defaultsOf(max: number): { ports: number[]; expectationTimeoutMs: number; maxExpectations: number } {
  return { ports: [SIP_PORT], expectationTimeoutMs: SIP_MEDIA_TIMEOUT_MS, maxExpectations: max };
}

function payloadText(ctx: HelperPacketContext): string {
  const p = ctx.pkt;
  return Buffer.from(p.buffer, p.byteOffset + ctx.payloadOff, ctx.payloadLen).toString('latin1');
}
