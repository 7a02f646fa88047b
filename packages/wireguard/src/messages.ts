/**
 * Wire formats of WireGuard's four message types (whitepaper §5.4.2–§5.4.7). All integers are
 * little-endian.
 *
 * ```text
 * Initiation (148):  type=1 | 3×0 | sender u32 | ephemeral 32 | static 32+16 | timestamp 12+16 | mac1 16 | mac2 16
 * Response (92):     type=2 | 3×0 | sender u32 | receiver u32 | ephemeral 32 | empty 0+16 | mac1 16 | mac2 16
 * Cookie reply (64): type=3 | 3×0 | receiver u32 | nonce 24 | cookie 16+16
 * Transport (16+n):  type=4 | 3×0 | receiver u32 | counter u64 | packet n (padded to 16) + 16
 * ```
 */
import {
  COOKIE_REPLY_LEN,
  INITIATION_LEN,
  MessageType,
  RESPONSE_LEN,
  TRANSPORT_MIN_LEN,
} from './constants.js';

/** Offsets in a handshake initiation. */
export const Init = {
  sender: 4,
  ephemeral: 8,
  static: 40,
  timestamp: 88,
  mac1: 116,
  mac2: 132,
} as const;

/** Offsets in a handshake response. */
export const Resp = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  empty: 44,
  mac1: 60,
  mac2: 76,
} as const;

/** Offsets in a cookie reply. */
export const Cookie = {
  receiver: 4,
  nonce: 8,
  cookie: 32,
} as const;

/** Offsets in a transport data message. */
export const Transport = {
  receiver: 4,
  counter: 8,
  data: 16,
} as const;

/** Reads a little-endian uint32. */
export function readU32le(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** Writes a little-endian uint32. */
export function writeU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** Reads a little-endian uint64 as a number (exact below 2^53; larger values lose precision, which only matters past any valid counter). */
export function readU64le(b: Uint8Array, o: number): number {
  return readU32le(b, o) + readU32le(b, o + 4) * 0x100000000;
}

/** Writes a non-negative integer below 2^53 as a little-endian uint64. */
export function writeU64le(b: Uint8Array, o: number, v: number): void {
  writeU32le(b, o, v >>> 0);
  writeU32le(b, o + 4, Math.floor(v / 0x100000000));
}

/**
 * The message type of `b` if it is a well-formed WireGuard message by type byte, reserved bytes
 * and length, else 0. Never throws.
 */
export function messageType(b: Uint8Array): number {
  if (b.length < 4 || b[1] !== 0 || b[2] !== 0 || b[3] !== 0) return 0;
  const t = b[0];
  switch (t) {
    case MessageType.Initiation:
      return b.length === INITIATION_LEN ? t : 0;
    case MessageType.Response:
      return b.length === RESPONSE_LEN ? t : 0;
    case MessageType.CookieReply:
      return b.length === COOKIE_REPLY_LEN ? t : 0;
    case MessageType.Transport:
      return b.length >= TRANSPORT_MIN_LEN ? t : 0;
    default:
      return 0;
  }
}
