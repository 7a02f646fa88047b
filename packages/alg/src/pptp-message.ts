/**
 * PPTP control messages (RFC 2637 §2): constants, the fixed layouts the ALG reads, and a
 * {@link PptpControlRepr} with {@link parsePptpControl} / {@link emitPptpControl} for tests and
 * tools (not for the per-segment path, which reads bytes directly).
 *
 * Every control message starts with the same 12 bytes:
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |     PPTP Message Type (1)     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Magic Cookie 0x1A2B3C4D                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Control Message Type      |           Reserved0           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Call ID / Peer's Call ID (at 12)  |  Peer's Call ID (at 14)  |  ...
 * ```
 */

// ---------------------------------------------------------------- specification constants

/** TCP port of the PPTP control connection (RFC 2637 §1.3). */
export const PPTP_PORT = 1723;
/** Magic cookie of every PPTP message (RFC 2637 §2). */
export const PPTP_MAGIC_COOKIE = 0x1a2b3c4d;
/** Length of the header common to every control message. */
export const PPTP_HEADER_LEN = 12;

/** PPTP Message Type (RFC 2637 §2): only control messages are defined in practice. */
export const PptpMessageType = {
  control: 1,
  management: 2,
} as const;

/** Control Message Type values (RFC 2637 §2). Unknown values stay representable as numbers. */
export const PptpControlType = {
  startControlConnectionRequest: 1,
  startControlConnectionReply: 2,
  stopControlConnectionRequest: 3,
  stopControlConnectionReply: 4,
  echoRequest: 5,
  echoReply: 6,
  outgoingCallRequest: 7,
  outgoingCallReply: 8,
  incomingCallRequest: 9,
  incomingCallReply: 10,
  incomingCallConnected: 11,
  callClearRequest: 12,
  callDisconnectNotify: 13,
  wanErrorNotify: 14,
  setLinkInfo: 15,
} as const;

/** Result code of Outgoing-Call-Reply "Connected" / Incoming-Call-Reply "Accept" (RFC 2637 §2.8, §2.10). */
export const PPTP_RESULT_CONNECTED = 1;

/**
 * Length of each control message (index = control message type), RFC 2637 §2.1 – §2.15; 0 for
 * an unknown type.
 */
export const PPTP_MESSAGE_LENGTH: readonly number[] = [
  0, 156, 156, 16, 16, 16, 20, 168, 32, 220, 24, 28, 16, 148, 40, 24,
];

/**
 * Offset of the field holding the sender's own Call ID, per control message type, or -1:
 * Outgoing-Call-Request / -Reply, Incoming-Call-Request / -Reply, Call-Clear-Request (the PNS's
 * Call ID, §2.12) and Call-Disconnect-Notify (the PAC's Call ID, §2.13).
 */
export const PPTP_OWN_CALL_ID_OFFSET: readonly number[] = [
  -1, -1, -1, -1, -1, -1, -1, 12, 12, 12, 12, -1, 12, 12, -1, -1,
];

/**
 * Offset of the field holding the receiver's Call ID ("Peer's Call ID"), per control message
 * type, or -1: Outgoing-Call-Reply and Incoming-Call-Reply (at 14), Incoming-Call-Connected,
 * WAN-Error-Notify and Set-Link-Info (at 12).
 */
export const PPTP_PEER_CALL_ID_OFFSET: readonly number[] = [
  -1, -1, -1, -1, -1, -1, -1, -1, 14, -1, 14, 12, -1, -1, 12, 12,
];

/** Offset of the result code in Outgoing-Call-Reply and Incoming-Call-Reply. */
export const PPTP_CALL_REPLY_RESULT_OFFSET = 16;

// ---------------------------------------------------------------- Repr

/**
 * A control message as plain data. `callId` / `peerCallId` are the fields at the offsets of
 * {@link PPTP_OWN_CALL_ID_OFFSET} / {@link PPTP_PEER_CALL_ID_OFFSET} where the type has them;
 * `resultCode` is the byte after them in the replies that carry one.
 */
export interface PptpControlRepr {
  /** Control message type ({@link PptpControlType}). */
  type: number;
  callId?: number;
  peerCallId?: number;
  resultCode?: number;
  /** Call serial number (Outgoing- / Incoming-Call-Request). */
  serial?: number;
  /** Echo identifier (Echo-Request / -Reply). */
  identifier?: number;
  /** Host name of Start-Control-Connection-Request / -Reply (≤ 63 bytes, ASCII). */
  hostName?: string;
  /** Vendor string of Start-Control-Connection-Request / -Reply (≤ 63 bytes, ASCII). */
  vendor?: string;
  /** Phone number of Outgoing-Call-Request (≤ 63 bytes, ASCII). */
  phoneNumber?: string;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function putAscii(b: Uint8Array, o: number, s: string, max: number): void {
  for (let i = 0; i < s.length && i < max - 1; i++) b[o + i] = s.charCodeAt(i) & 0x7f;
}

function asciiz(b: Uint8Array, o: number, max: number): string {
  let s = '';
  for (let i = 0; i < max && b[o + i] !== 0; i++) s += String.fromCharCode(b[o + i]);
  return s;
}

/** Length in bytes of the message {@link emitPptpControl} writes for `repr`. */
export function pptpControlLen(repr: PptpControlRepr): number {
  return PPTP_MESSAGE_LENGTH[repr.type] ?? 0;
}

/**
 * Builds a whole control message with the RFC 2637 layout, filling the other fields the way
 * pptp-linux does (protocol version 1.0, async + sync framing, analog + digital bearer,
 * 2400 – 10,000,000 bps, receive window 64). Throws `RangeError` for an unknown type (a test-tool
 * function, not a packet path).
 */
export function emitPptpControl(repr: PptpControlRepr): Uint8Array {
  const len = pptpControlLen(repr);
  if (len === 0) throw new RangeError(`emitPptpControl: unknown control message type ${repr.type}`);
  const b = new Uint8Array(len);
  put16(b, 0, len);
  put16(b, 2, PptpMessageType.control);
  put32(b, 4, PPTP_MAGIC_COOKIE);
  put16(b, 8, repr.type);
  const own = PPTP_OWN_CALL_ID_OFFSET[repr.type];
  const peer = PPTP_PEER_CALL_ID_OFFSET[repr.type];
  if (own >= 0) put16(b, own, repr.callId ?? 0);
  if (peer >= 0) put16(b, peer, repr.peerCallId ?? 0);
  const T = PptpControlType;
  switch (repr.type) {
    case T.startControlConnectionRequest:
    case T.startControlConnectionReply:
      put16(b, 12, 0x0100);
      if (repr.type === T.startControlConnectionReply) b[14] = repr.resultCode ?? 1;
      put32(b, 16, 3); // framing capabilities: async | sync
      put32(b, 20, 3); // bearer capabilities: analog | digital
      put16(b, 24, repr.type === T.startControlConnectionRequest ? 65535 : 0); // max channels
      put16(b, 26, 1); // firmware revision
      putAscii(b, 28, repr.hostName ?? 'local', 64);
      putAscii(b, 92, repr.vendor ?? 'cananian', 64);
      break;
    case T.stopControlConnectionRequest:
    case T.stopControlConnectionReply:
      b[12] = repr.resultCode ?? 1;
      break;
    case T.echoRequest:
    case T.echoReply:
      put32(b, 12, repr.identifier ?? 0);
      if (repr.type === T.echoReply) b[16] = repr.resultCode ?? 1;
      break;
    case T.outgoingCallRequest:
      put16(b, 14, repr.serial ?? 0);
      put32(b, 16, 2400); // minimum BPS
      put32(b, 20, 10_000_000); // maximum BPS
      put32(b, 24, 3); // bearer type: either
      put32(b, 28, 3); // framing type: either
      put16(b, 32, 64); // packet receive window size
      put16(b, 36, (repr.phoneNumber ?? '').length);
      putAscii(b, 40, repr.phoneNumber ?? '', 64);
      break;
    case T.outgoingCallReply:
      b[16] = repr.resultCode ?? PPTP_RESULT_CONNECTED;
      put32(b, 20, 10_000_000); // connect speed
      put16(b, 24, 64); // packet receive window size
      break;
    case T.incomingCallRequest:
      put16(b, 14, repr.serial ?? 0);
      put32(b, 16, 1); // call bearer type: analog
      break;
    case T.incomingCallReply:
      b[16] = repr.resultCode ?? PPTP_RESULT_CONNECTED;
      put16(b, 18, 64); // packet receive window size
      break;
    case T.incomingCallConnected:
      put32(b, 16, 10_000_000); // connect speed
      put16(b, 20, 64);
      put32(b, 24, 1); // framing type: async
      break;
    case T.callDisconnectNotify:
      b[14] = repr.resultCode ?? 3; // administrative shutdown
      break;
    case T.setLinkInfo:
      put32(b, 16, 0xffffffff); // send ACCM
      put32(b, 20, 0xffffffff); // receive ACCM
      break;
  }
  return b;
}

/**
 * Parses the control message at `buf[off..end)`: `null` when it is truncated, not a control
 * message, has a wrong magic cookie, a length shorter than its type needs, or an unknown type.
 * Never throws.
 */
export function parsePptpControl(buf: Uint8Array, off = 0, end = buf.length): PptpControlRepr | null {
  if (off < 0 || end > buf.length || end - off < PPTP_HEADER_LEN) return null;
  const len = get16(buf, off);
  if (len > end - off || get16(buf, off + 2) !== PptpMessageType.control) return null;
  if (((get16(buf, off + 4) << 16) | get16(buf, off + 6)) >>> 0 !== PPTP_MAGIC_COOKIE) return null;
  const type = get16(buf, off + 8);
  const need = PPTP_MESSAGE_LENGTH[type] ?? 0;
  if (need === 0 || len < need) return null;
  const repr: PptpControlRepr = { type };
  const own = PPTP_OWN_CALL_ID_OFFSET[type];
  const peer = PPTP_PEER_CALL_ID_OFFSET[type];
  if (own >= 0) repr.callId = get16(buf, off + own);
  if (peer >= 0) repr.peerCallId = get16(buf, off + peer);
  const T = PptpControlType;
  switch (type) {
    case T.startControlConnectionRequest:
    case T.startControlConnectionReply:
      if (type === T.startControlConnectionReply) repr.resultCode = buf[off + 14];
      repr.hostName = asciiz(buf, off + 28, 64);
      repr.vendor = asciiz(buf, off + 92, 64);
      break;
    case T.stopControlConnectionReply:
    case T.stopControlConnectionRequest:
      repr.resultCode = buf[off + 12];
      break;
    case T.echoRequest:
    case T.echoReply:
      repr.identifier = ((get16(buf, off + 12) << 16) | get16(buf, off + 14)) >>> 0;
      if (type === T.echoReply) repr.resultCode = buf[off + 16];
      break;
    case T.outgoingCallRequest:
      repr.serial = get16(buf, off + 14);
      repr.phoneNumber = asciiz(buf, off + 40, Math.min(64, get16(buf, off + 36)));
      break;
    case T.incomingCallRequest:
      repr.serial = get16(buf, off + 14);
      break;
    case T.outgoingCallReply:
    case T.incomingCallReply:
      repr.resultCode = buf[off + PPTP_CALL_REPLY_RESULT_OFFSET];
      break;
    case T.callDisconnectNotify:
      repr.resultCode = buf[off + 14];
      break;
  }
  return repr;
}
