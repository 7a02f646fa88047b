/**
 * Q.931 as H.225.0 uses it on the call-signalling channel: protocol discriminator 0x08, a call
 * reference, a message type, then information elements. The H.225.0 PDU travels in the
 * User-user IE (0x7E), whose length is two octets in H.225.0 (§7.2.2.1), after its own protocol
 * discriminator (0x05, "X.208 / X.209 coded user information").
 */

/** Q.931 protocol discriminator. */
export const Q931_DISCRIMINATOR = 0x08;
/** User-user information element identifier. */
export const IE_USER_USER = 0x7e;
/** Protocol discriminator inside the User-user IE for H.225.0. */
export const UU_PROTOCOL_X208 = 0x05;

/** Q.931 message types H.225.0 uses (Q.931 table 4-2). */
export const Q931MessageType = {
  alerting: 0x01,
  callProceeding: 0x02,
  progress: 0x03,
  setup: 0x05,
  connect: 0x07,
  setupAcknowledge: 0x0d,
  releaseComplete: 0x5a,
  facility: 0x62,
  notify: 0x6e,
  statusEnquiry: 0x75,
  information: 0x7b,
  status: 0x7d,
} as const;

/** Where the parts of a Q.931 message are. */
export interface Q931Message {
  messageType: number;
  callReference: number;
  /** Offset and end of the H323-UserInformation PER bytes (after the UU discriminator), or -1. */
  uuOff: number;
  uuEnd: number;
}

/**
 * Parses the Q.931 message in `b[off, end)`. Returns null when it is not a well-formed Q.931
 * message (wrong discriminator, truncated information elements).
 */
export function parseQ931(b: Uint8Array, off: number, end: number): Q931Message | null {
  if (end - off < 3 || b[off] !== Q931_DISCRIMINATOR) return null;
  const crLen = b[off + 1];
  if (crLen > 15) return null;
  let p = off + 2;
  if (p + crLen + 1 > end) return null;
  let callReference = 0;
  for (let i = 0; i < crLen; i++) callReference = callReference * 256 + b[p + i];
  p += crLen;
  const messageType = b[p++];
  if (messageType & 0x80) return null;
  let uuOff = -1;
  let uuEnd = -1;
  while (p < end) {
    const id = b[p];
    if (id & 0x80) {
      p++; // single-octet information element
      continue;
    }
    let len: number;
    let body: number;
    if (id === IE_USER_USER) {
      if (p + 3 > end) return null;
      len = (b[p + 1] << 8) | b[p + 2];
      body = p + 3;
    } else {
      if (p + 2 > end) return null;
      len = b[p + 1];
      body = p + 2;
    }
    if (body + len > end) return null;
    if (id === IE_USER_USER && uuOff < 0 && len >= 2 && b[body] === UU_PROTOCOL_X208) {
      uuOff = body + 1;
      uuEnd = body + len;
    }
    p = body + len;
  }
  return { messageType, callReference, uuOff, uuEnd };
}

/** One information element for {@link buildQ931}. */
export interface Q931Ie {
  id: number;
  data: Uint8Array;
}

/**
 * Builds a Q.931 message (2-byte call reference) with the given information elements and, when
 * `uuie` is given, a User-user IE carrying it. Throws a RangeError when an element is too long.
 */
export function buildQ931(
  messageType: number,
  callReference: number,
  ies: Q931Ie[],
  uuie?: Uint8Array,
): Uint8Array {
  const parts: number[] = [
    Q931_DISCRIMINATOR,
    2,
    (callReference >>> 8) & 0xff,
    callReference & 0xff,
    messageType,
  ];
  for (const ie of ies) {
    if (ie.data.length > 255) throw new RangeError('information element too long');
    parts.push(ie.id, ie.data.length, ...ie.data);
  }
  if (uuie) {
    const len = uuie.length + 1;
    if (len > 0xffff) throw new RangeError('user-user element too long');
    parts.push(IE_USER_USER, len >>> 8, len & 0xff, UU_PROTOCOL_X208, ...uuie);
  }
  return Uint8Array.from(parts);
}
