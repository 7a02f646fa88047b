/**
 * A small, strict HTTP/1.1 server for one request per connection (as miniupnpd does), on any
 * `stream.Duplex` socket (the userspace stack's TCP sockets). Bounded: header size, body size
 * (Content-Length required; chunked bodies are refused), and a deadline for the whole request
 * (slowloris) on an injected scheduler.
 */
import type { Duplex } from 'node:stream';
import type { Scheduler, TimerHandle } from '@l3kit/core';

/** Limits of the HTTP server. */
export interface HttpLimits {
  /** Request line + headers, bytes. Default 8192. */
  maxHeaderBytes: number;
  /** Request body, bytes. Default 16 384. */
  maxBodyBytes: number;
  /** Time to receive the whole request, ms (slow senders are cut off with 408). Default 10 000. */
  requestTimeoutMs: number;
}

/** Defaults of {@link HttpLimits}. */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxHeaderBytes: 8192,
  maxBodyBytes: 16_384,
  requestTimeoutMs: 10_000,
});

/** A received request. Header names are lower case. */
export interface HttpRequest {
  method: string;
  /** Request target (path and query). */
  target: string;
  headers: Map<string, string>;
  body: Buffer;
  /** The peer's address. */
  remoteAddress: string;
}

/** A response to send; the server adds Content-Length, Connection: close and Server. */
export interface HttpResponse {
  status: number;
  headers?: ReadonlyArray<[string, string]>;
  body?: string;
}

/** Result of {@link parseHttpHead}. */
export type HttpHeadParse =
  | { ok: true; method: string; target: string; version: string; headers: Map<string, string> }
  | { ok: false; status: number; reason: string };

const REASONS: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  411: 'Length Required',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** How long a connection may stay open after the response before it is destroyed, ms. */
const LINGER_MS = 5000;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses a request head (the bytes before the blank line, as latin1 text). Strict: CRLF or LF
 * line ends, no obsolete line folding, token header names, no duplicate Content-Length.
 */
export function parseHttpHead(text: string): HttpHeadParse {
  const lines = text.split(/\r?\n/);
  const rl = /^([A-Z]{1,16}) (\S{1,2048}) (HTTP\/\d\.\d)$/.exec(lines[0]);
  if (!rl) return { ok: false, status: 400, reason: 'bad request line' };
  if (rl[3] !== 'HTTP/1.1' && rl[3] !== 'HTTP/1.0')
    return { ok: false, status: 505, reason: 'unsupported version' };
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l === '') continue;
    if (l[0] === ' ' || l[0] === '\t') return { ok: false, status: 400, reason: 'obsolete line folding' };
    const c = l.indexOf(':');
    if (c <= 0) return { ok: false, status: 400, reason: 'bad header line' };
    const name = l.slice(0, c).toLowerCase();
    if (!TOKEN.test(name)) return { ok: false, status: 400, reason: 'bad header name' };
    const value = l.slice(c + 1).trim();
    const prev = headers.get(name);
    if (prev !== undefined) {
      if (name === 'content-length' || name === 'host' || name === 'soapaction')
        return { ok: false, status: 400, reason: `duplicate ${name}` };
      headers.set(name, `${prev}, ${value}`);
    } else headers.set(name, value);
  }
  return { ok: true, method: rl[1], target: rl[2], version: rl[3], headers };
}

/**
 * Whether a Host header value names an address rather than a DNS name (DNS rebinding defence, as
 * miniupnpd: a web page whose name was rebound to the gateway's address sends its own name).
 * An absent header (HTTP/1.0) is accepted.
 */
export function hostIsAddress(host: string | undefined): boolean {
  if (host === undefined) return true;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.exec(host.trim());
  if (!m) return false;
  if (m[1].startsWith('[')) return true;
  return m[1].split('.').every((o) => Number(o) <= 255);
}

/** Serialises a response (status line, headers, body) with Connection: close. */
export function serializeResponse(r: HttpResponse, server: string): Buffer {
  const body = Buffer.from(r.body ?? '', 'utf8');
  let head = `HTTP/1.1 ${r.status} ${REASONS[r.status] ?? 'Status'}\r\n`;
  for (const [k, v] of r.headers ?? []) head += `${k}: ${v}\r\n`;
  head += `Server: ${server}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Counters of the HTTP server (all tenants). */
export interface HttpStats {
  requests: number;
  /** Refused by status: 400, 404, 405, 408, 411, 413, 431, 501, 503, 505 … */
  refused: Record<number, number>;
}

/**
 * Serves one request on `sock`, then closes it. `handler` gets the complete request and returns
 * the response (it must not throw; a throw is answered with 500).
 */
export function serveHttpConnection(
  sock: Duplex,
  opts: {
    limits: HttpLimits;
    scheduler: Scheduler;
    server: string;
    stats: HttpStats;
    handler: (req: HttpRequest) => HttpResponse;
    onClose: () => void;
  },
): void {
  const { limits, stats } = opts;
  const remoteAddress = String((sock as Duplex & { remoteAddress?: string }).remoteAddress ?? '');
  let head: Buffer = Buffer.alloc(0);
  let parsed: Extract<HttpHeadParse, { ok: true }> | undefined;
  let need = 0;
  const body: Buffer[] = [];
  let got = 0;
  let done = false;
  let linger: TimerHandle | undefined;
  let timer: TimerHandle | undefined = opts.scheduler.schedule(
    opts.scheduler.clock.now() + limits.requestTimeoutMs,
    () => {
      timer = undefined;
      respond({ status: 408, body: 'request timeout\n' });
    },
  );

  const finish = (): void => {
    timer?.cancel();
    timer = undefined;
    sock.removeListener('data', onData);
  };

  const respond = (r: HttpResponse): void => {
    if (done) return;
    done = true;
    finish();
    if (r.status >= 400 && r.status !== 500) stats.refused[r.status] = (stats.refused[r.status] ?? 0) + 1;
    sock.end(serializeResponse(r, opts.server));
    // A peer that never closes its side must not hold the connection slot forever.
    linger = opts.scheduler.schedule(opts.scheduler.clock.now() + LINGER_MS, () => sock.destroy());
  };

  const complete = (): void => {
    if (!parsed) return;
    stats.requests++;
    let res: HttpResponse;
    try {
      res = opts.handler({
        method: parsed.method,
        target: parsed.target,
        headers: parsed.headers,
        body: Buffer.concat(body, got),
        remoteAddress,
      });
    } catch {
      res = { status: 500, body: 'internal error\n' };
    }
    respond(res);
  };

  const startBody = (rest: Buffer): void => {
    const h = (parsed as Extract<HttpHeadParse, { ok: true }>).headers;
    if (h.has('transfer-encoding')) {
      respond({ status: 501, body: 'chunked bodies are not supported\n' });
      return;
    }
    const cl = h.get('content-length');
    const method = (parsed as { method: string }).method;
    if (cl === undefined) {
      if (method === 'POST') {
        respond({ status: 411, body: 'Content-Length required\n' });
        return;
      }
      need = 0;
    } else {
      if (!/^\d{1,9}$/.test(cl)) {
        respond({ status: 400, body: 'bad Content-Length\n' });
        return;
      }
      need = Number(cl);
      if (need > limits.maxBodyBytes) {
        respond({ status: 413, body: 'body too large\n' });
        return;
      }
    }
    if (need > 0 && /100-continue/i.test(h.get('expect') ?? '')) sock.write('HTTP/1.1 100 Continue\r\n\r\n');
    onBody(rest);
  };

  const onBody = (chunk: Buffer): void => {
    if (chunk.length > 0) {
      const take = Math.min(chunk.length, need - got);
      if (take > 0) {
        body.push(chunk.subarray(0, take));
        got += take;
      }
    }
    if (got >= need) complete();
  };

  const onData = (chunk: Buffer): void => {
    if (done) return;
    if (parsed) {
      onBody(chunk);
      return;
    }
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const scanFrom = 0;
    let end = head.indexOf('\r\n\r\n', scanFrom);
    let sep = 4;
    if (end < 0) {
      end = head.indexOf('\n\n', scanFrom);
      sep = 2;
    }
    if (end < 0) {
      if (head.length > limits.maxHeaderBytes) respond({ status: 431, body: 'headers too large\n' });
      return;
    }
    if (end > limits.maxHeaderBytes) {
      respond({ status: 431, body: 'headers too large\n' });
      return;
    }
    const p = parseHttpHead(head.subarray(0, end).toString('latin1'));
    if (!p.ok) {
      respond({ status: p.status, body: `${p.reason}\n` });
      return;
    }
    parsed = p;
    const rest = head.subarray(end + sep);
    head = Buffer.alloc(0);
    startBody(rest);
  };

  sock.on('data', onData);
  sock.on('error', () => {
    done = true;
    finish();
  });
  sock.once('close', () => {
    done = true;
    finish();
    linger?.cancel();
    opts.onClose();
  });
}
