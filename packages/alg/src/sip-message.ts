/**
 * SIP message framing and the few header grammars the SIP ALG rewrites (RFC 3261 §7, §20, §25).
 *
 * Everything works on a latin-1 string of the payload (one character per byte, so string
 * offsets are byte offsets). Parsers return positions, never copies, so the rewriter can replace
 * exactly the bytes of an address and leave every other byte as it was.
 *
 * Not a hot path: only packets of connections on the SIP helper's ports get here.
 */

/** Default SIP port for `sip:` URIs and Via sent-by without a port (RFC 3261 §19.1.2). */
export const SIP_DEFAULT_PORT = 5060;
/** Default port of `sips:` URIs (RFC 3261 §19.1.2). */
export const SIPS_DEFAULT_PORT = 5061;
/** Largest Content-Length accepted (an IPv4 datagram cannot carry more). */
export const SIP_MAX_CONTENT_LENGTH = 65535;

/** Compact header names (RFC 3261 §7.3.3 and the RFCs that added letters) → full lower-case names. */
const COMPACT_NAMES: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** One header field: its full lower-case name and where its value is (trimmed, folding included). */
export interface SipHeader {
  /** Full lower-case name (`v` is reported as `via`). */
  name: string;
  /** Offset of the name as written. */
  nameStart: number;
  valueStart: number;
  valueEnd: number;
}

/** A SIP message located in a string (all offsets absolute in that string). */
export interface SipMessage {
  /** First character of the start line. */
  start: number;
  /** One past the last byte of the message (end of the body). */
  end: number;
  isRequest: boolean;
  /** Request method (upper case as written); `''` for a response. */
  method: string;
  /** Response status code; `0` for a request. */
  status: number;
  /** Request-URI span (requests only; `uriStart === uriEnd` for responses). */
  uriStart: number;
  uriEnd: number;
  headers: SipHeader[];
  /** First byte of the body (after the empty line). */
  bodyStart: number;
  /** Content-Length value, `-1` when absent. */
  contentLength: number;
}

/** A host (and optional port) found in a URI or a Via sent-by. */
export interface HostPort {
  hostStart: number;
  hostEnd: number;
  /** The host as an IPv4 address (uint32), or `-1` for a name or an IPv6 reference. */
  ip: number;
  /** The port, or `-1` when none was written. */
  port: number;
  /** End of `host[:port]` (equals `hostEnd` without a port). */
  end: number;
  /** The port meant when none is written: 5061 for a `sips:` URI, else 5060. */
  defaultPort: number;
}

/** A `;name[=value]` parameter. */
export interface SipParam {
  /** Lower-case name. */
  name: string;
  /** Span of the value (`valueStart === valueEnd` when the parameter has no value). */
  valueStart: number;
  valueEnd: number;
  hasValue: boolean;
}

/** The first (topmost) entry of a Via header value. */
export interface ViaEntry {
  /** Transport, upper case (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`…). */
  transport: string;
  sentBy: HostPort;
  params: SipParam[];
}

const TOKEN_EXTRA = "-.!%*_+`'~";

function isTokenChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c < 0x80 && TOKEN_EXTRA.includes(String.fromCharCode(c)))
  );
}

function isWsp(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** True when `s[off..]` starts with `kw` (ASCII, case-insensitive; `kw` in lower case). */
export function startsWithCi(s: string, off: number, end: number, kw: string): boolean {
  if (end - off < kw.length) return false;
  for (let i = 0; i < kw.length; i++) {
    let c = s.charCodeAt(off + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== kw.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses a strict dotted-quad IPv4 address spanning exactly `s[start..end)` (1–3 digits per
 * part, each ≤ 255). Returns the address as a uint32 or `-1`.
 */
export function parseIpv4Span(s: string, start: number, end: number): number {
  let ip = 0;
  let i = start;
  for (let k = 0; k < 4; k++) {
    let v = 0;
    const d0 = i;
    while (i < end && i - d0 < 4) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      i++;
    }
    if (i === d0 || i - d0 > 3 || v > 255) return -1;
    ip = ip * 256 + v;
    if (k < 3) {
      if (i >= end || s.charCodeAt(i) !== 0x2e) return -1;
      i++;
    }
  }
  return i === end ? ip : -1;
}

/** Parses a port (1–5 digits, 1–65535) spanning exactly `s[start..end)`; `-1` otherwise. */
export function parsePortSpan(s: string, start: number, end: number): number {
  if (end <= start || end - start > 5) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v >= 1 && v <= 65535 ? v : -1;
}

/** End of the line starting at `pos` (index of its CR or LF) and the start of the next line. */
function lineAt(s: string, pos: number, end: number): { lineEnd: number; next: number } | null {
  const nl = s.indexOf('\n', pos);
  if (nl < 0 || nl >= end) return null;
  const lineEnd = nl > pos && s.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
  return { lineEnd, next: nl + 1 };
}

function parseStartLine(
  s: string,
  start: number,
  lineEnd: number,
  msg: Pick<SipMessage, 'isRequest' | 'method' | 'status' | 'uriStart' | 'uriEnd'>,
): boolean {
  if (startsWithCi(s, start, lineEnd, 'sip/2.0 ')) {
    let i = start + 8;
    while (i < lineEnd && s.charCodeAt(i) === 0x20) i++;
    const d = i;
    let code = 0;
    while (i < lineEnd && i - d < 3) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      code = code * 10 + (c - 0x30);
      i++;
    }
    if (i - d !== 3 || code < 100 || (i < lineEnd && s.charCodeAt(i) !== 0x20)) return false;
    msg.isRequest = false;
    msg.status = code;
    return true;
  }
  let i = start;
  while (i < lineEnd && isTokenChar(s.charCodeAt(i))) i++;
  if (i === start || i >= lineEnd || s.charCodeAt(i) !== 0x20) return false;
  const method = s.slice(start, i);
  const uriStart = i + 1;
  const sp = s.indexOf(' ', uriStart);
  if (sp < 0 || sp >= lineEnd || sp === uriStart) return false;
  if (lineEnd - (sp + 1) !== 7 || !startsWithCi(s, sp + 1, lineEnd, 'sip/2.0')) return false;
  msg.isRequest = true;
  msg.method = method;
  msg.uriStart = uriStart;
  msg.uriEnd = sp;
  return true;
}

/**
 * Locates the SIP message that starts at `off` (leading CR LF keep-alives must be skipped by the
 * caller) in `s[off..end)`.
 *
 * - `stream` (TCP): the message must carry Content-Length (RFC 3261 §18.3) and ends after that
 *   many body bytes; `'incomplete'` when its headers or body go past `end`.
 * - datagram (UDP): the body is Content-Length bytes when given (trailing bytes are not part of
 *   the message), otherwise the rest of the datagram; a missing empty line is malformed.
 *
 * Returns `null` for a malformed message (bad start line, header line without a colon, bad or
 * conflicting Content-Length, Content-Length beyond the datagram).
 */
export function parseSipMessage(
  s: string,
  off: number,
  end: number,
  stream: boolean,
): SipMessage | 'incomplete' | null {
  const msg = parseSipHead(s, off, end, stream);
  if (msg === 'incomplete') return stream ? 'incomplete' : null;
  if (msg && msg.end > end) return stream ? 'incomplete' : null;
  return msg;
}

/**
 * Parses the start line and headers of the message at `off`; `end` of the result is where its
 * body ends (it may lie beyond `end`: the body is not checked). `'incomplete'` when the empty
 * line that ends the headers is not in `s[off..end)`; `null` when malformed (for `stream`, a
 * message without Content-Length is malformed).
 */
export function parseSipHead(
  s: string,
  off: number,
  end: number,
  stream: boolean,
): SipMessage | 'incomplete' | null {
  const first = lineAt(s, off, end);
  if (!first) return 'incomplete';
  const msg: SipMessage = {
    start: off,
    end: off,
    isRequest: false,
    method: '',
    status: 0,
    uriStart: off,
    uriEnd: off,
    headers: [],
    bodyStart: off,
    contentLength: -1,
  };
  if (!parseStartLine(s, off, first.lineEnd, msg)) return null;
  let pos = first.next;
  let cur: SipHeader | null = null;
  for (;;) {
    const ln = lineAt(s, pos, end);
    if (!ln) return 'incomplete';
    if (ln.lineEnd === pos) {
      msg.bodyStart = ln.next;
      break;
    }
    const c0 = s.charCodeAt(pos);
    if (isWsp(c0)) {
      // Folded continuation of the previous header (RFC 3261 §7.3.1).
      if (!cur) return null;
      let e = ln.lineEnd;
      while (e > pos && isWsp(s.charCodeAt(e - 1))) e--;
      if (e > pos && cur.valueEnd === cur.valueStart) {
        let b = pos;
        while (isWsp(s.charCodeAt(b))) b++;
        cur.valueStart = b;
      }
      if (e > pos) cur.valueEnd = Math.max(cur.valueEnd, e);
      pos = ln.next;
      continue;
    }
    let i = pos;
    while (i < ln.lineEnd && isTokenChar(s.charCodeAt(i))) i++;
    if (i === pos) return null;
    const nameEnd = i;
    while (i < ln.lineEnd && isWsp(s.charCodeAt(i))) i++;
    if (i >= ln.lineEnd || s.charCodeAt(i) !== 0x3a) return null;
    i++;
    while (i < ln.lineEnd && isWsp(s.charCodeAt(i))) i++;
    let ve = ln.lineEnd;
    while (ve > i && isWsp(s.charCodeAt(ve - 1))) ve--;
    let name = s.slice(pos, nameEnd).toLowerCase();
    if (name.length === 1) name = COMPACT_NAMES[name] ?? name;
    cur = { name, nameStart: pos, valueStart: i, valueEnd: ve };
    msg.headers.push(cur);
    pos = ln.next;
  }
  for (const h of msg.headers) {
    if (h.name !== 'content-length') continue;
    const v = h.valueEnd - h.valueStart <= 5 ? parseDecimal(s, h.valueStart, h.valueEnd) : -1;
    if (v < 0 || v > SIP_MAX_CONTENT_LENGTH || (msg.contentLength >= 0 && msg.contentLength !== v))
      return null;
    msg.contentLength = v;
  }
  if (msg.contentLength < 0) {
    if (stream) return null;
    msg.end = end;
  } else msg.end = msg.bodyStart + msg.contentLength;
  return msg;
}

function parseDecimal(s: string, start: number, end: number): number {
  if (end <= start) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** The headers of `msg` with the given full lower-case name, in order. */
export function headersNamed(msg: SipMessage, name: string): SipHeader[] {
  return msg.headers.filter((h) => h.name === name);
}

/**
 * Splits a header value into its comma-separated elements (RFC 3261 §7.3.1), ignoring commas
 * inside quoted strings and `<…>`. Returns `[start, end)` pairs, trimmed.
 */
export function splitList(s: string, start: number, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let quoted = false;
  let angle = false;
  let from = start;
  for (let i = start; i <= end; i++) {
    const c = i < end ? s.charCodeAt(i) : 0x2c;
    if (quoted) {
      if (c === 0x5c) i++;
      else if (c === 0x22) quoted = false;
      continue;
    }
    if (c === 0x22) quoted = true;
    else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) {
      let a = from;
      let b = i;
      while (a < b && isLws(s.charCodeAt(a))) a++;
      while (b > a && isLws(s.charCodeAt(b - 1))) b--;
      if (b > a) out.push([a, b]);
      from = i + 1;
    }
  }
  return out;
}

function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * Finds the SIP URI of one name-addr / addr-spec element `s[start..end)` (`"Bob" <sip:…>`,
 * `<sip:…>;tag=…`, `sip:…;tag=…`) and returns its host and port. `null` for a non-SIP URI
 * (`tel:`, `*`), a malformed one, or one whose host part is empty.
 */
export function findElementUri(s: string, start: number, end: number): HostPort | null {
  // Skip a quoted display name, then look for '<'.
  let i = start;
  let lt = -1;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      i++;
      while (i < end && s.charCodeAt(i) !== 0x22) i += s.charCodeAt(i) === 0x5c ? 2 : 1;
    } else if (c === 0x3c) {
      lt = i;
      break;
    }
    i++;
  }
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1);
    if (gt < 0 || gt >= end) return null;
    return uriHostPort(s, lt + 1, gt);
  }
  // addr-spec: header parameters follow the first ';' (the URI cannot contain one, §20).
  let e = start;
  while (e < end) {
    const c = s.charCodeAt(e);
    if (c === 0x3b || c === 0x3f || isLws(c)) break;
    e++;
  }
  return uriHostPort(s, start, e);
}

/**
 * Host and port of a `sip:` / `sips:` URI spanning `s[start..end)` (RFC 3261 §19.1.1): the host
 * follows the userinfo's `@` when there is one; the port is the `:digits` after the host.
 */
export function uriHostPort(s: string, start: number, end: number): HostPort | null {
  let i: number;
  let secure = false;
  if (startsWithCi(s, start, end, 'sip:')) i = start + 4;
  else if (startsWithCi(s, start, end, 'sips:')) {
    i = start + 5;
    secure = true;
  } else return null;
  // The host part ends at the first of ';' '?' '>' once past the userinfo.
  let at = -1;
  for (let k = i; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x40) {
      at = k;
      break;
    }
    if (c === 0x3e || isLws(c)) break;
  }
  if (at >= 0) i = at + 1;
  const hp = hostPortAt(s, i, end);
  if (hp && secure) hp.defaultPort = SIPS_DEFAULT_PORT;
  return hp;
}

/** Parses `host[:port]` at `s[i..)`, stopping at `;`, `?`, `>`, `,`, whitespace or `end`. */
export function hostPortAt(s: string, i: number, end: number): HostPort | null {
  const hostStart = i;
  if (i < end && s.charCodeAt(i) === 0x5b) {
    const rb = s.indexOf(']', i);
    if (rb < 0 || rb >= end) return null;
    i = rb + 1;
  } else {
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c === 0x3a || c === 0x3b || c === 0x3f || c === 0x3e || c === 0x2c || c === 0x2f || isLws(c)) break;
      i++;
    }
  }
  const hostEnd = i;
  if (hostEnd === hostStart) return null;
  const ip = s.charCodeAt(hostStart) === 0x5b ? -1 : parseIpv4Span(s, hostStart, hostEnd);
  let port = -1;
  let hpEnd = hostEnd;
  if (i < end && s.charCodeAt(i) === 0x3a) {
    let k = i + 1;
    while (k < end && s.charCodeAt(k) >= 0x30 && s.charCodeAt(k) <= 0x39) k++;
    port = parsePortSpan(s, i + 1, k);
    if (port < 0) return null;
    hpEnd = k;
  }
  return { hostStart, hostEnd, ip, port, end: hpEnd, defaultPort: SIP_DEFAULT_PORT };
}

/**
 * Parses `;name[=value]` parameters starting at `s[i..)` up to `end` or a top-level `,`.
 * Whitespace around `;` and `=` is allowed (RFC 3261 SEMI / EQUAL).
 */
export function parseParams(s: string, i: number, end: number): { params: SipParam[]; end: number } {
  const params: SipParam[] = [];
  for (;;) {
    while (i < end && isLws(s.charCodeAt(i))) i++;
    if (i >= end || s.charCodeAt(i) !== 0x3b) break;
    i++;
    while (i < end && isLws(s.charCodeAt(i))) i++;
    const ns = i;
    while (i < end && isTokenChar(s.charCodeAt(i))) i++;
    if (i === ns) break;
    const name = s.slice(ns, i).toLowerCase();
    let k = i;
    while (k < end && isLws(s.charCodeAt(k))) k++;
    if (k < end && s.charCodeAt(k) === 0x3d) {
      k++;
      while (k < end && isLws(s.charCodeAt(k))) k++;
      const vs = k;
      if (k < end && s.charCodeAt(k) === 0x22) {
        k++;
        while (k < end && s.charCodeAt(k) !== 0x22) k += s.charCodeAt(k) === 0x5c ? 2 : 1;
        k = Math.min(k + 1, end);
      } else if (k < end && s.charCodeAt(k) === 0x5b) {
        const rb = s.indexOf(']', k);
        k = rb < 0 || rb >= end ? end : rb + 1;
      } else {
        while (k < end) {
          const c = s.charCodeAt(k);
          if (c === 0x3b || c === 0x2c || isLws(c)) break;
          k++;
        }
      }
      params.push({ name, valueStart: vs, valueEnd: k, hasValue: true });
      i = k;
    } else params.push({ name, valueStart: i, valueEnd: i, hasValue: false });
  }
  return { params, end: i };
}

/**
 * Parses the first (topmost) entry of a Via value: `SIP / 2.0 / transport LWS sent-by *(;param)`
 * (RFC 3261 §20.42). `null` when it is malformed.
 */
export function parseViaEntry(s: string, start: number, end: number): ViaEntry | null {
  let i = start;
  const expect = (kw: string): boolean => {
    while (i < end && isLws(s.charCodeAt(i))) i++;
    if (!startsWithCi(s, i, end, kw)) return false;
    i += kw.length;
    return true;
  };
  if (!expect('sip') || !expect('/') || !expect('2.0') || !expect('/')) return null;
  while (i < end && isLws(s.charCodeAt(i))) i++;
  const ts = i;
  while (i < end && isTokenChar(s.charCodeAt(i))) i++;
  if (i === ts) return null;
  const transport = s.slice(ts, i).toUpperCase();
  const ws = i;
  while (i < end && isLws(s.charCodeAt(i))) i++;
  if (i === ws) return null;
  const sentBy = hostPortAt(s, i, end);
  if (!sentBy) return null;
  const { params } = parseParams(s, sentBy.end, end);
  return { transport, sentBy, params };
}
