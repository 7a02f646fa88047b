/**
 * Fragmentation of whole datagrams: IPv4 (RFC 791 §3.2, "An Example Fragmentation Procedure")
 * and IPv6 (RFC 8200 §4.5). Used after translation to re-fragment to the largest fragment size
 * seen on arrival (Linux `frag_max_size`), and by NAT64 to honour the lowest IPv6 MTU.
 * Fragmentation allocates: it is not the hot path.
 */
import { IPV6_FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN, Ipv4Packet } from '@l3kit/wire';

/** Why {@link fragmentIpv4} could not fragment. */
export type FragmentFailure = 'malformed' | 'dont-fragment' | 'mtu-too-small';

/**
 * Splits an IPv4 datagram into fragments of at most `mtu` bytes each. Options without the
 * "copied" flag stay in the first fragment only. Returns `[pkt]` unchanged when it already fits,
 * or a {@link FragmentFailure} when DF is set (the caller answers ICMP 3/4), the packet is not
 * valid, or `mtu` leaves no room for 8 data bytes.
 */
export function fragmentIpv4(pkt: Uint8Array, mtu: number): Uint8Array[] | FragmentFailure {
  const ip = Ipv4Packet.checked(pkt);
  if (!ip) return 'malformed';
  const total = ip.totalLength;
  if (total <= mtu) return [pkt];
  if (ip.dontFragment) return 'dont-fragment';
  const hl = ip.headerLen;
  const laterHeader = copiedOptionsHeader(pkt, hl);
  const firstRoom = (mtu - hl) & ~7;
  const laterRoom = (mtu - laterHeader.length) & ~7;
  if (firstRoom < 8 || laterRoom < 8) return 'mtu-too-small';
  const baseOffset = ip.fragmentOffset;
  const lastHadMore = ip.moreFragments;
  const data = pkt.subarray(hl, total);
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < data.length) {
    const first = pos === 0;
    const header = first ? pkt.subarray(0, hl) : laterHeader;
    const room = first ? firstRoom : laterRoom;
    const n = Math.min(room, data.length - pos);
    const last = pos + n >= data.length;
    const frag = new Uint8Array(header.length + n);
    frag.set(header, 0);
    frag.set(data.subarray(pos, pos + n), header.length);
    frag[2] = frag.length >> 8; // Total Length first, so the view validates
    frag[3] = frag.length & 0xff;
    const v = Ipv4Packet.checked(frag)!;
    v.setFragment(false, !last || lastHadMore, baseOffset + pos);
    v.fillChecksum();
    out.push(frag);
    pos += n;
  }
  return out;
}

/** The IPv4 header for non-first fragments: the fixed header plus only the "copied" options. */
function copiedOptionsHeader(pkt: Uint8Array, hl: number): Uint8Array {
  const opts: number[] = [];
  let i = 20;
  while (i < hl) {
    const type = pkt[i];
    if (type === 0) break; // End of Option List
    if (type === 1) {
      i++; // No-Operation: not copied
      continue;
    }
    const len = i + 1 < hl ? pkt[i + 1] : 0;
    if (len < 2 || i + len > hl) break; // malformed option: stop copying
    if (type & 0x80) for (let k = 0; k < len; k++) opts.push(pkt[i + k]);
    i += len;
  }
  const newHl = 20 + ((opts.length + 3) & ~3);
  const h = new Uint8Array(newHl);
  h.set(pkt.subarray(0, 20), 0);
  h.set(opts, 20);
  h[0] = 0x40 | (newHl >> 2);
  return h;
}

/**
 * Splits an IPv6 packet into fragments of at most `mtu` bytes (`mtu` ≥ 1280 normally) with a
 * Fragment header carrying `id`. The unfragmentable part is the fixed header plus Hop-by-Hop,
 * Routing, and Destination Options headers that precede a Routing header (RFC 8200 §4.5).
 * Returns `[pkt]` unchanged when it fits, or a {@link FragmentFailure}.
 */
export function fragmentIpv6(pkt: Uint8Array, mtu: number, id: number): Uint8Array[] | FragmentFailure {
  if (pkt.length < IPV6_HEADER_LEN || pkt[0] >> 4 !== 6) return 'malformed';
  const end = IPV6_HEADER_LEN + ((pkt[4] << 8) | pkt[5]);
  if (end > pkt.length) return 'malformed';
  if (end <= mtu) return [pkt];
  // Find the end of the unfragmentable part and the Next Header field that must name the
  // Fragment header.
  let nh = pkt[6];
  let o = IPV6_HEADER_LEN;
  let unfragEnd = IPV6_HEADER_LEN;
  let unfragField = 6;
  // A Destination Options header is unfragmentable only when a Routing header follows it.
  while (nh === 0 || nh === 43 || nh === 60) {
    if (o + 2 > end) return 'malformed';
    const len = (pkt[o + 1] + 1) << 3;
    if (o + len > end) return 'malformed';
    if (nh === 0 || nh === 43 || (nh === 60 && routingFollows(pkt, o, end))) {
      unfragEnd = o + len;
      unfragField = o;
    } else {
      break;
    }
    nh = pkt[o];
    o += len;
  }
  const firstNext = pkt[unfragField];
  const room = (mtu - unfragEnd - IPV6_FRAGMENT_HEADER_LEN) & ~7;
  if (room < 8) return 'mtu-too-small';
  const data = pkt.subarray(unfragEnd, end);
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < data.length; pos += room) {
    const n = Math.min(room, data.length - pos);
    const last = pos + n >= data.length;
    const frag = new Uint8Array(unfragEnd + IPV6_FRAGMENT_HEADER_LEN + n);
    frag.set(pkt.subarray(0, unfragEnd), 0);
    frag[unfragField] = 44;
    const f = unfragEnd;
    frag[f] = firstNext;
    frag[f + 1] = 0;
    const w = pos | (last ? 0 : 1);
    frag[f + 2] = w >> 8;
    frag[f + 3] = w & 0xff;
    frag[f + 4] = id >>> 24;
    frag[f + 5] = (id >>> 16) & 0xff;
    frag[f + 6] = (id >>> 8) & 0xff;
    frag[f + 7] = id & 0xff;
    frag.set(data.subarray(pos, pos + n), f + IPV6_FRAGMENT_HEADER_LEN);
    const pl = frag.length - IPV6_HEADER_LEN;
    frag[4] = pl >> 8;
    frag[5] = pl & 0xff;
    out.push(frag);
  }
  return out;
}

function routingFollows(pkt: Uint8Array, o: number, end: number): boolean {
  let nh = pkt[o];
  let p = o + ((pkt[o + 1] + 1) << 3);
  while (nh === 60 || nh === 0) {
    if (p + 2 > end) return false;
    nh = pkt[p];
    p += (pkt[p + 1] + 1) << 3;
  }
  return nh === 43;
}
