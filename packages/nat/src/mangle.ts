/**
 * Payload rewriting for helpers (`nat.mangle`): replaces a byte range of a TCP or UDP payload
 * with bytes of another length and fixes every length and checksum of the IPv4 packet.
 */
import { ConfigError } from '@l3kit/core';
import { finishChecksum, onesSum, pseudoHeaderSum4 } from '@l3kit/wire';

/**
 * Returns the packet with payload bytes `[payloadOff + off, payloadOff + off + len)` replaced by
 * `data` (in place when the length is unchanged, else in a new buffer), the IP total length, IP
 * header checksum, UDP length and the transport checksum recomputed (a UDP checksum of zero —
 * "none" — stays zero). `l4` is the transport header offset, `proto` 6 or 17.
 */
export function replacePayload(
  pkt: Uint8Array,
  l4: number,
  proto: number,
  payloadOff: number,
  off: number,
  len: number,
  data: Uint8Array,
): Uint8Array {
  const total = (pkt[2] << 8) | pkt[3];
  const payloadLen = total - payloadOff;
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > payloadLen)
    throw new ConfigError(
      'ERR_BAD_OPTION',
      `mangle: range ${off}+${len} is outside the ${payloadLen}-byte payload`,
    );
  const delta = data.length - len;
  const newTotal = total + delta;
  if (newTotal > 65535)
    throw new ConfigError('ERR_BAD_OPTION', 'mangle: the packet would exceed 65535 bytes');
  const start = payloadOff + off;
  let out = pkt;
  if (delta === 0) pkt.set(data, start);
  else {
    out = new Uint8Array(newTotal);
    out.set(pkt.subarray(0, start));
    out.set(data, start);
    out.set(pkt.subarray(start + len, total), start + data.length);
    out[2] = newTotal >>> 8;
    out[3] = newTotal & 0xff;
    const hl = (out[0] & 0x0f) << 2;
    out[10] = 0;
    out[11] = 0;
    const ipCk = finishChecksum(onesSum(out, 0, hl));
    out[10] = ipCk >>> 8;
    out[11] = ipCk & 0xff;
  }
  const l4Len = newTotal - l4;
  const ckOff = proto === 6 ? l4 + 16 : l4 + 6;
  if (proto === 17) {
    out[l4 + 4] = l4Len >>> 8;
    out[l4 + 5] = l4Len & 0xff;
    if (out[ckOff] === 0 && out[ckOff + 1] === 0) return out; // no checksum: stays none
  }
  out[ckOff] = 0;
  out[ckOff + 1] = 0;
  let ck = finishChecksum(onesSum(out, l4, l4Len, pseudoHeaderSum4(out, 0, proto, l4Len)));
  if (proto === 17 && ck === 0) ck = 0xffff;
  out[ckOff] = ck >>> 8;
  out[ckOff + 1] = ck & 0xff;
  return out;
}
