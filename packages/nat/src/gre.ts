/**
 * PPTP enhanced GRE (RFC 2637 §4.1, GRE version 1, protocol type 0x880B): the NAT translates the
 * Call ID in the key field like a port.
 *
 * ```
 *  0                   1                   2                   3
 * |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
 * |    Key (HW) Payload Length    |       Key (LW) Call ID        |
 * |                  Sequence Number (Optional)                   |
 * |               Acknowledgment Number (Optional)                |
 * ```
 */

const GRE_K = 0x20;
const GRE_C = 0x80;
const GRE_R = 0x40;
/** PPP over enhanced GRE. */
export const GRE_PROTO_PPP = 0x880b;

/**
 * Offset of the Call ID of the enhanced GRE header at `l4` (packet ends at `end`), `-1` when the
 * header is truncated, `-2` when it is not PPTP enhanced GRE (version 0 GRE, no key, …).
 */
export function greCallIdOffset(pkt: Uint8Array, l4: number, end: number): number {
  if (end - l4 < 8) return end - l4 >= 4 ? -2 : -1;
  const b0 = pkt[l4];
  const ver = pkt[l4 + 1] & 0x07;
  const ptype = (pkt[l4 + 2] << 8) | pkt[l4 + 3];
  if (ver !== 1 || (b0 & GRE_K) === 0 || (b0 & (GRE_C | GRE_R)) !== 0 || ptype !== GRE_PROTO_PPP) return -2;
  return l4 + 6;
}
