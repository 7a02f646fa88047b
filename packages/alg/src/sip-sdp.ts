/**
 * The parts of an SDP body (RFC 8866, RFC 3605) the SIP ALG rewrites: `o=` and `c=` addresses,
 * `m=` ports and `a=rtcp:` attributes. Like the SIP parser it returns positions in a latin-1
 * string so that only those bytes change.
 */
import { parseIpv4Span, parsePortSpan } from './sip-message.js';

/** An address in an `o=`, `c=` or `a=rtcp:` line. */
export interface SdpAddress {
  start: number;
  end: number;
  /** IPv4 address (uint32) for `IN IP4 <dotted quad>`, `-1` otherwise (IPv6, FQDN). */
  ip: number;
}

/** A numeric field (port) in an `m=` or `a=rtcp:` line. */
export interface SdpPort {
  start: number;
  end: number;
  port: number;
}

/** One `m=` section. */
export interface SdpMedia {
  /** Media type as written in lower case (`audio`, `video`, `image`, `text`, `application`, …). */
  media: string;
  /** Transport port (0 = stream disabled). */
  port: SdpPort;
  /** Number of ports (`m=audio 49170/2 …`), 1 when not written. */
  portCount: number;
  /** Transport protocol (`RTP/AVP`, `RTP/SAVPF`, `udptl`, …). */
  proto: string;
  /** Media-level `c=` line, if any. */
  connection?: SdpAddress;
  /** `a=rtcp:` attribute (RFC 3605), if any. */
  rtcp?: { port: SdpPort; address?: SdpAddress };
}

/** The addresses and media of an SDP body. */
export interface SdpInfo {
  origin?: SdpAddress;
  /** Session-level `c=` line. */
  connection?: SdpAddress;
  media: SdpMedia[];
}

/** Parses `IN IP4 <addr>[/ttl[/n]]` at `s[i..end)`; the address span excludes `/ttl`. */
function parseNetAddr(s: string, i: number, end: number): SdpAddress | undefined {
  const rest = s.slice(i, end);
  const m = /^IN[ \t]+(IP4|IP6)[ \t]+([^ \t/]+)/i.exec(rest);
  if (!m) return undefined;
  const start = i + m[0].length - m[2].length;
  const aEnd = start + m[2].length;
  return { start, end: aEnd, ip: m[1].toUpperCase() === 'IP4' ? parseIpv4Span(s, start, aEnd) : -1 };
}

/**
 * Parses the SDP body `s[start..end)`. Returns `null` when it does not look like SDP (does not
 * start with `v=`), or a line of a section the ALG uses is malformed (an `m=` without a valid
 * port). Unknown lines are ignored.
 */
export function parseSdp(s: string, start: number, end: number): SdpInfo | null {
  if (end - start < 2 || s.charCodeAt(start) !== 0x76 || s.charCodeAt(start + 1) !== 0x3d) return null;
  const info: SdpInfo = { media: [] };
  let pos = start;
  let cur: SdpMedia | undefined;
  while (pos < end) {
    let nl = s.indexOf('\n', pos);
    if (nl < 0 || nl >= end) nl = end;
    const lineEnd = nl > pos && s.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (lineEnd - pos >= 2 && s.charCodeAt(pos + 1) === 0x3d) {
      const type = s[pos];
      const v = pos + 2;
      if (type === 'o') {
        // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
        let k = v;
        for (let f = 0; f < 3 && k < lineEnd; f++) {
          const sp = s.indexOf(' ', k);
          if (sp < 0 || sp >= lineEnd) {
            k = lineEnd;
            break;
          }
          k = sp + 1;
        }
        if (k < lineEnd && !info.origin) info.origin = parseNetAddr(s, k, lineEnd);
      } else if (type === 'c') {
        const a = parseNetAddr(s, v, lineEnd);
        if (a) {
          if (cur) cur.connection ??= a;
          else info.connection ??= a;
        }
      } else if (type === 'm') {
        const m = /^([A-Za-z0-9_.-]+) (\d+)(?:\/(\d+))? ([^ ]+)/.exec(s.slice(v, lineEnd));
        if (!m) return null;
        const ps = v + m[1].length + 1;
        const pe = ps + m[2].length;
        const port = m[2] === '0' ? 0 : parsePortSpan(s, ps, pe);
        if (port < 0) return null;
        cur = {
          media: m[1].toLowerCase(),
          port: { start: ps, end: pe, port },
          portCount: m[3] === undefined ? 1 : Number(m[3]),
          proto: m[4],
        };
        info.media.push(cur);
      } else if (type === 'a' && cur && !cur.rtcp && /^rtcp:/i.test(s.slice(v, v + 5))) {
        // a=rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605)
        const ps = v + 5;
        let pe = ps;
        while (pe < lineEnd && s.charCodeAt(pe) >= 0x30 && s.charCodeAt(pe) <= 0x39) pe++;
        const port = parsePortSpan(s, ps, pe);
        if (port > 0) {
          let k = pe;
          while (k < lineEnd && s.charCodeAt(k) === 0x20) k++;
          cur.rtcp = { port: { start: ps, end: pe, port }, address: parseNetAddr(s, k, lineEnd) };
        }
      }
    }
    pos = nl + 1;
  }
  return info;
}
