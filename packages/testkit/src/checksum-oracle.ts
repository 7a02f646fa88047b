/**
 * An independent checksum oracle for tests. It deliberately shares no code with
 * `@l3kit/wire`: it reads fields through a DataView and sums 16-bit words the slow,
 * obvious way, so a bug in the fast checksum module cannot hide itself.
 */

/** One problem found in a packet. */
export interface ChecksumProblem {
  layer: 'ipv4' | 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'gre' | 'embedded-ipv4' | 'length';
  expected: number;
  found: number;
}

/** Result of {@link verifyPacket}. `ok` is true when every checksum present is correct. */
export interface ChecksumReport {
  ok: boolean;
  problems: ChecksumProblem[];
  /** What was checked, e.g. `['ipv4', 'tcp']`. Layers skipped (non-first fragment, truncated) are absent. */
  checked: string[];
}

function sum16(bytes: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) {
    const hi = bytes[i];
    const lo = i + 1 < end ? bytes[i + 1] : 0;
    s += hi * 256 + lo;
  }
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** Ones'-complement checksum of the concatenation of the given byte ranges, complemented. */
export function internetChecksum(parts: Array<[Uint8Array, number, number]>): number {
  let s = 0;
  // Concatenate logically so odd-length parts are handled as one stream.
  const flat: number[] = [];
  for (const [b, from, to] of parts) for (let i = from; i < to; i++) flat.push(b[i]);
  s = sum16(Uint8Array.from(flat), 0, flat.length);
  return ~fold(s) & 0xffff;
}

function pseudo4(b: Uint8Array, ihlOff: number, proto: number, len: number): Uint8Array {
  const p = new Uint8Array(12);
  p.set(b.subarray(ihlOff + 12, ihlOff + 20), 0);
  p[9] = proto;
  p[10] = len >> 8;
  p[11] = len & 0xff;
  return p;
}

function pseudo6(b: Uint8Array, off: number, proto: number, len: number, finalDst: number): Uint8Array {
  const p = new Uint8Array(40);
  p.set(b.subarray(off + 8, off + 24), 0);
  // RFC 8200 §8.1: the final destination, which a Routing header with segments left carries.
  p.set(b.subarray(finalDst, finalDst + 16), 16);
  p[32] = (len >>> 24) & 0xff;
  p[33] = (len >>> 16) & 0xff;
  p[34] = (len >>> 8) & 0xff;
  p[35] = len & 0xff;
  p[39] = proto;
  return p;
}

function checkL4(
  b: Uint8Array,
  proto: number,
  start: number,
  end: number,
  pseudo: Uint8Array | null,
  v6: boolean,
  report: ChecksumReport,
  embedded: boolean,
): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = end - start;
  let layer: ChecksumProblem['layer'];
  let csumOff: number;
  if (proto === 6) {
    if (len < 20) return;
    layer = 'tcp';
    csumOff = 16;
  } else if (proto === 17) {
    if (len < 8) return;
    layer = 'udp';
    csumOff = 6;
    if (!v6 && dv.getUint16(start + 6) === 0) {
      report.checked.push('udp(none)');
      return;
    }
  } else if (proto === 1 && !v6) {
    if (len < 8) return;
    layer = 'icmp';
    csumOff = 2;
    pseudo = null;
  } else if (proto === 58 && v6) {
    if (len < 8) return;
    layer = 'icmpv6';
    csumOff = 2;
  } else if (proto === 47) {
    if (len < 4) return;
    // GRE checksum present only when the C bit is set.
    if ((b[start] & 0x80) === 0) return;
    layer = 'gre';
    csumOff = 4;
    pseudo = null;
  } else {
    return;
  }
  if (embedded) return; // embedded transport headers are truncated copies; no checksum rule applies
  const found = dv.getUint16(start + csumOff);
  // Uint8Array's slice copies; Buffer's (a Uint8Array subclass) would alias and be spoiled below.
  const copy = Uint8Array.prototype.slice.call(b, start, end);
  copy[csumOff] = 0;
  copy[csumOff + 1] = 0;
  const parts: Array<[Uint8Array, number, number]> = [];
  if (pseudo) parts.push([pseudo, 0, pseudo.length]);
  parts.push([copy, 0, copy.length]);
  let expected = internetChecksum(parts);
  if (layer === 'udp' && expected === 0) expected = 0xffff;
  report.checked.push(layer);
  if (expected !== found) report.problems.push({ layer, expected, found });
  if (layer === 'icmp') {
    const type = b[start];
    if ((type === 3 || type === 11 || type === 12 || type === 4 || type === 5) && len >= 28) {
      checkIpv4Header(b, start + 8, end, report, true);
    }
  }
}

function checkIpv4Header(
  b: Uint8Array,
  off: number,
  end: number,
  report: ChecksumReport,
  embedded: boolean,
): number {
  const ihl = (b[off] & 0x0f) * 4;
  if (ihl < 20 || off + ihl > end) return -1;
  const found = b[off + 10] * 256 + b[off + 11];
  const copy = Uint8Array.prototype.slice.call(b, off, off + ihl);
  copy[10] = 0;
  copy[11] = 0;
  const expected = internetChecksum([[copy, 0, ihl]]);
  report.checked.push(embedded ? 'embedded-ipv4' : 'ipv4');
  if (expected !== found)
    report.problems.push({ layer: embedded ? 'embedded-ipv4' : 'ipv4', expected, found });
  return ihl;
}

/**
 * Recomputes, from scratch, every checksum an IPv4 or IPv6 packet carries: the IPv4 header
 * checksum, TCP / UDP / ICMP / ICMPv6 (and GRE when present), and for ICMPv4 errors the
 * embedded IPv4 header checksum. Non-first fragments and truncated packets skip L4.
 */
export function verifyPacket(pkt: Uint8Array): ChecksumReport {
  const report: ChecksumReport = { ok: true, problems: [], checked: [] };
  if (pkt.length < 1) {
    report.ok = false;
    report.problems.push({ layer: 'length', expected: 20, found: pkt.length });
    return report;
  }
  const version = pkt[0] >> 4;
  if (version === 4) {
    if (pkt.length < 20) {
      report.problems.push({ layer: 'length', expected: 20, found: pkt.length });
    } else {
      const ihl = checkIpv4Header(pkt, 0, pkt.length, report, false);
      const total = pkt[2] * 256 + pkt[3];
      if (ihl > 0 && total <= pkt.length && total >= ihl) {
        const fragField = pkt[6] * 256 + pkt[7];
        const mf = (fragField & 0x2000) !== 0;
        const offset = fragField & 0x1fff;
        if (offset === 0 && !mf) {
          const proto = pkt[9];
          checkL4(pkt, proto, ihl, total, pseudo4(pkt, 0, proto, total - ihl), false, report, false);
        }
      } else {
        report.problems.push({ layer: 'length', expected: total, found: pkt.length });
      }
    }
  } else if (version === 6) {
    if (pkt.length < 40) {
      report.problems.push({ layer: 'length', expected: 40, found: pkt.length });
    } else {
      const payloadLen = pkt[4] * 256 + pkt[5];
      const end = 40 + payloadLen;
      if (end > pkt.length) {
        report.problems.push({ layer: 'length', expected: end, found: pkt.length });
      } else {
        let next = pkt[6];
        let off = 40;
        let fragmented = false;
        let finalDst = 24;
        // Walk hop-by-hop (0), routing (43), fragment (44), destination options (60).
        while (next === 0 || next === 43 || next === 44 || next === 60) {
          if (off + 8 > end) return finish(report);
          const nh = pkt[off];
          if (next === 44) {
            const fo = (pkt[off + 2] * 256 + pkt[off + 3]) >> 3;
            const m = (pkt[off + 3] & 1) !== 0;
            if (fo !== 0 || m) fragmented = true;
            off += 8;
          } else {
            const len = (pkt[off + 1] + 1) * 8;
            if (next === 43 && off + len <= end && pkt[off + 3] > 0) {
              const type = pkt[off + 2];
              // Type 0: the last listed address; type 2: the home address; type 4 (SRH): Segment List[0].
              if (type === 0 && len >= 24) finalDst = off + len - 16;
              else if ((type === 2 || type === 4) && len >= 24) finalDst = off + 8;
            }
            off += len;
          }
          next = nh;
        }
        if (!fragmented && off <= end) {
          checkL4(pkt, next, off, end, pseudo6(pkt, 0, next, end - off, finalDst), true, report, false);
        }
      }
    }
  } else {
    report.problems.push({ layer: 'length', expected: 4, found: version });
  }
  return finish(report);
}

function finish(r: ChecksumReport): ChecksumReport {
  r.ok = r.problems.length === 0;
  return r;
}

/** Throws with a readable message when {@link verifyPacket} finds a problem. For use in tests. */
export function assertChecksums(pkt: Uint8Array, what = 'packet'): void {
  const r = verifyPacket(pkt);
  if (!r.ok) {
    const detail = r.problems
      .map((p) => `${p.layer}: expected 0x${p.expected.toString(16)}, found 0x${p.found.toString(16)}`)
      .join('; ');
    throw new Error(`${what} has bad checksums (${detail})`);
  }
}
