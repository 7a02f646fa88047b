/**
 * Just enough DNS (RFC 1035) for the interceptor: parse a query's question, read A / AAAA
 * answers out of a response (with name compression), and build responses. Parsers return
 * `null` for anything malformed and never throw.
 */
import { formatIp, parseIp } from '@l3kit/wire';

/*
 * RFC 1035 §4.1.1 header:  ID | QR Opcode AA TC RD RA Z RCODE | QDCOUNT | ANCOUNT | NSCOUNT | ARCOUNT
 * (six 16-bit words), then questions (QNAME QTYPE QCLASS) and resource records
 * (NAME TYPE CLASS TTL(32) RDLENGTH RDATA).
 */
const HEADER_LEN = 12;
const MAX_POINTERS = 16;

/** Resource record types used here. */
export const DnsType = { A: 1, CNAME: 5, AAAA: 28 } as const;
/** Response codes used here. */
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, Refused: 5 } as const;

/** The question of a query. */
export interface DnsQuestion {
  id: number;
  /** Flags word of the query (RD is copied into the answer). */
  flags: number;
  /** Lower-case name without the trailing dot. */
  name: string;
  type: number;
  qclass: number;
  /** Offset just past the question (the answer starts here when building a response). */
  end: number;
}

/** One A / AAAA answer. */
export interface DnsAnswer {
  name: string;
  address: string;
  ttl: number;
}

/** Reads a (possibly compressed) name at `off`; returns it and the offset past it in place. */
function readName(b: Uint8Array, off: number): { name: string; end: number } | null {
  const labels: string[] = [];
  let p = off;
  let end = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (p >= b.length) return null;
    const len = b[p];
    if (len === 0) {
      if (end < 0) end = p + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= b.length || ++jumps > MAX_POINTERS) return null;
      if (end < 0) end = p + 2;
      p = ((len & 0x3f) << 8) | b[p + 1];
      continue;
    }
    if ((len & 0xc0) !== 0 || p + 1 + len > b.length) return null;
    total += len + 1;
    if (total > 255) return null;
    let s = '';
    for (let i = p + 1; i <= p + len; i++) s += String.fromCharCode(b[i]);
    labels.push(s.toLowerCase());
    p += 1 + len;
  }
  return { name: labels.join('.'), end };
}

/** Parses a standard query with exactly one question; `null` otherwise. */
export function parseDnsQuery(b: Uint8Array): DnsQuestion | null {
  if (b.length < HEADER_LEN) return null;
  const flags = (b[2] << 8) | b[3];
  if (flags & 0x8000) return null; // a response
  if ((flags >> 11) & 0xf) return null; // opcode must be QUERY
  const qd = (b[4] << 8) | b[5];
  if (qd !== 1) return null;
  const n = readName(b, HEADER_LEN);
  if (!n || n.end + 4 > b.length) return null;
  return {
    id: (b[0] << 8) | b[1],
    flags,
    name: n.name,
    type: (b[n.end] << 8) | b[n.end + 1],
    qclass: (b[n.end + 2] << 8) | b[n.end + 3],
    end: n.end + 4,
  };
}

/** Reads the A / AAAA answers of a response (CNAME chains are followed by owner name only). */
export function parseDnsAnswers(
  b: Uint8Array,
): { id: number; rcode: number; question: string; answers: DnsAnswer[] } | null {
  if (b.length < HEADER_LEN) return null;
  const flags = (b[2] << 8) | b[3];
  if (!(flags & 0x8000)) return null;
  const qd = (b[4] << 8) | b[5];
  const an = (b[6] << 8) | b[7];
  let p = HEADER_LEN;
  let question = '';
  for (let i = 0; i < qd; i++) {
    const n = readName(b, p);
    if (!n || n.end + 4 > b.length) return null;
    if (i === 0) question = n.name;
    p = n.end + 4;
  }
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < an; i++) {
    const n = readName(b, p);
    if (!n || n.end + 10 > b.length) return null;
    const type = (b[n.end] << 8) | b[n.end + 1];
    const ttl = ((b[n.end + 4] << 24) | (b[n.end + 5] << 16) | (b[n.end + 6] << 8) | b[n.end + 7]) >>> 0;
    const rdlen = (b[n.end + 8] << 8) | b[n.end + 9];
    const rd = n.end + 10;
    if (rd + rdlen > b.length) return null;
    if ((type === DnsType.A && rdlen === 4) || (type === DnsType.AAAA && rdlen === 16))
      answers.push({ name: n.name, address: formatIp(b.subarray(rd, rd + rdlen)), ttl });
    p = rd + rdlen;
  }
  return { id: (b[0] << 8) | b[1], rcode: flags & 0xf, question, answers };
}

/**
 * Builds the response to `query` (the raw query bytes and its parsed question): the question
 * copied, then one A or AAAA record per address of the question's type (others are skipped),
 * with a compression pointer to the question name.
 */
export function buildDnsResponse(
  query: Uint8Array,
  q: DnsQuestion,
  rcode: number,
  addresses: readonly string[],
  ttl: number,
): Uint8Array {
  const rdata: Uint8Array[] = [];
  for (const a of addresses) {
    const ip = parseIp(a);
    if (!ip) continue;
    if ((q.type === DnsType.A && ip.length === 4) || (q.type === DnsType.AAAA && ip.length === 16))
      rdata.push(ip);
  }
  let len = q.end;
  for (const r of rdata) len += 12 + r.length;
  const out = new Uint8Array(len);
  out.set(query.subarray(0, q.end));
  // QR=1, opcode 0, AA=0, TC=0, RD copied, RA=1.
  const flags = 0x8000 | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf);
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[6] = rdata.length >> 8;
  out[7] = rdata.length & 0xff;
  out[8] = out[9] = out[10] = out[11] = 0; // no authority / additional records
  let p = q.end;
  const t = Math.max(0, Math.min(ttl, 0x7fffffff)) >>> 0;
  for (const r of rdata) {
    out[p] = 0xc0;
    out[p + 1] = HEADER_LEN;
    out[p + 2] = 0;
    out[p + 3] = q.type;
    out[p + 4] = 0;
    out[p + 5] = 1;
    out[p + 6] = t >>> 24;
    out[p + 7] = (t >>> 16) & 0xff;
    out[p + 8] = (t >>> 8) & 0xff;
    out[p + 9] = t & 0xff;
    out[p + 10] = 0;
    out[p + 11] = r.length;
    out.set(r, p + 12);
    p += 12 + r.length;
  }
  return out;
}

/** Builds a query for `name` (tests, and the interceptor's forwarder). */
export function buildDnsQuery(id: number, name: string, type: number): Uint8Array {
  const labels = name.split('.').filter((l) => l.length > 0);
  let len = HEADER_LEN + 1 + 4;
  for (const l of labels) len += 1 + Buffer.byteLength(l);
  const out = new Uint8Array(len);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = 0x01; // RD
  out[5] = 1;
  let p = HEADER_LEN;
  for (const l of labels) {
    const b = Buffer.from(l);
    out[p++] = b.length;
    out.set(b, p);
    p += b.length;
  }
  out[p++] = 0;
  out[p + 1] = type;
  out[p + 3] = 1;
  return out;
}
