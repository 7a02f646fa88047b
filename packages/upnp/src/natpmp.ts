/**
 * NAT-PMP (RFC 6886) wire format: the external-address request and response, the UDP / TCP map
 * requests and responses, result codes and the error answers (unsupported version, unsupported
 * opcode). `PcpServer` answers NAT-PMP (version 0) on the PCP port with these.
 *
 * Not a hot path: parsing allocates Reprs. Parsers never throw on arbitrary bytes.
 */
import { formatIpv4, parseIpv4 } from '@l3kit/wire';
import { checkField, get16, get32, put16, put32 } from './pcp-bytes.js';

/** NAT-PMP version (RFC 6886 §3.2). */
export const NATPMP_VERSION = 0;
/** Length of the external-address request (RFC 6886 §3.2). */
export const NATPMP_ADDRESS_REQUEST_LEN = 2;
/** Length of the external-address response (RFC 6886 §3.2). */
export const NATPMP_ADDRESS_RESPONSE_LEN = 12;
/** Length of a map request (RFC 6886 §3.3). */
export const NATPMP_MAP_REQUEST_LEN = 12;
/** Length of a map response (RFC 6886 §3.3). */
export const NATPMP_MAP_RESPONSE_LEN = 16;
/** Length of a bare error answer: version, opcode, result, epoch (RFC 6886 §3.5). */
export const NATPMP_ERROR_RESPONSE_LEN = 8;
/** Lifetime RFC 6886 §3.3 recommends clients ask for, seconds. */
export const NATPMP_RECOMMENDED_LIFETIME = 7200;
/** Largest message this module answers with (echoed unsupported-opcode requests are cut here). */
export const NATPMP_MAX_MESSAGE_LEN = 1100;

/** NAT-PMP request opcodes (RFC 6886 §3); a response has 128 added. */
export const NatPmpOpcode = {
  ExternalAddress: 0,
  MapUdp: 1,
  MapTcp: 2,
} as const;
/** A NAT-PMP opcode. */
export type NatPmpOpcode = (typeof NatPmpOpcode)[keyof typeof NatPmpOpcode] | (number & {});

/** NAT-PMP result codes (RFC 6886 §3.5). */
export const NatPmpResult = {
  Success: 0,
  UnsupportedVersion: 1,
  /** Not authorized / refused (e.g. the box supports mapping but the user turned it off). */
  NotAuthorized: 2,
  /** e.g. the NAT has not obtained a DHCP lease. */
  NetworkFailure: 3,
  /** The NAT cannot create more mappings now. */
  OutOfResources: 4,
  UnsupportedOpcode: 5,
} as const;
/** A NAT-PMP result code. */
export type NatPmpResult = (typeof NatPmpResult)[keyof typeof NatPmpResult] | (number & {});

const RESULT_NAMES = [
  'SUCCESS',
  'UNSUPPORTED_VERSION',
  'NOT_AUTHORIZED',
  'NETWORK_FAILURE',
  'OUT_OF_RESOURCES',
  'UNSUPPORTED_OPCODE',
];

/** A readable name of a NAT-PMP result code (`'OUT_OF_RESOURCES'`), `'RESULT_<n>'` when unknown. */
export function natPmpResultName(code: number): string {
  return RESULT_NAMES[code] ?? `RESULT_${code}`;
}

// Requests (RFC 6886 §3.2, §3.3):
//  | Vers = 0      | OP = 0        |                                       (external address)
//  | Vers = 0      | OP = x        | Reserved                      |       (map, x = 1 UDP, 2 TCP)
//  | Internal Port                 | Suggested External Port       |
//  | Requested Port Mapping Lifetime in Seconds                    |
// Responses:
//  | Vers = 0      | OP = 128 + x  | Result Code                   |
//  | Seconds Since Start of Epoch                                  |
//  | External IPv4 Address (x = 0)  /  Internal Port | Mapped External Port (x = 1, 2)
//  | Port Mapping Lifetime in Seconds (x = 1, 2)                   |
const VERSION = 0;
const OPCODE = 1;
const RESULT = 2;
const EPOCH = 4;
const EXTERNAL_ADDRESS = 8;
const REQ_INTERNAL_PORT = 4;
const REQ_EXTERNAL_PORT = 6;
const REQ_LIFETIME = 8;
const RESP_INTERNAL_PORT = 8;
const RESP_EXTERNAL_PORT = 10;
const RESP_LIFETIME = 12;
const RESPONSE_BIT = 0x80;

/** A NAT-PMP request. */
export type NatPmpRequestRepr =
  | { opcode: 0 }
  | {
      /** 1 = UDP, 2 = TCP. */
      opcode: 1 | 2;
      /** 0 with lifetime 0 deletes all of the client's mappings of the protocol. */
      internalPort: number;
      /** Suggested external port; 0 = no preference (and on delete). */
      externalPort: number;
      /** Seconds; 0 deletes. */
      lifetime: number;
    };

/** A NAT-PMP response, as {@link parseNatPmpResponse} reads it. */
export interface NatPmpResponseRepr {
  /** The request opcode it answers (without the 128). */
  opcode: number;
  result: number;
  /** Seconds since the server's epoch began. */
  epoch: number;
  /** Opcode 0 (success). */
  externalAddress?: string;
  /** Opcodes 1 and 2. */
  internalPort?: number;
  externalPort?: number;
  lifetime?: number;
}

function check(name: string, v: number, max: number): void {
  checkField('NAT-PMP', name, v, max);
}

/** A response of `len` bytes with its common header (version 0, opcode + 128, result, epoch) written. */
function response(len: number, opcode: number, result: number, epoch: number): Uint8Array {
  check('opcode', opcode, 0x7f);
  check('result', result, 0xffff);
  check('epoch', epoch, 0xffffffff);
  const b = new Uint8Array(len);
  b[VERSION] = NATPMP_VERSION;
  b[OPCODE] = RESPONSE_BIT | opcode;
  put16(b, RESULT, result);
  put32(b, EPOCH, epoch);
  return b;
}

/** Builds a NAT-PMP request (for clients and tests). Throws `RangeError` for out-of-range fields. */
export function emitNatPmpRequest(r: NatPmpRequestRepr): Uint8Array {
  if (r.opcode === NatPmpOpcode.ExternalAddress) return Uint8Array.of(NATPMP_VERSION, 0);
  check('internalPort', r.internalPort, 0xffff);
  check('externalPort', r.externalPort, 0xffff);
  check('lifetime', r.lifetime, 0xffffffff);
  const b = new Uint8Array(NATPMP_MAP_REQUEST_LEN);
  b[OPCODE] = r.opcode;
  put16(b, REQ_INTERNAL_PORT, r.internalPort);
  put16(b, REQ_EXTERNAL_PORT, r.externalPort);
  put32(b, REQ_LIFETIME, r.lifetime);
  return b;
}

/** The outcome of {@link parseNatPmpRequest}. */
export type NatPmpRequestParse =
  | { ok: true; request: NatPmpRequestRepr }
  /** `'drop'`: ignore silently (a response, or too short to answer); a number: answer with {@link natPmpErrorResponse}. */
  | { ok: false; result: 'drop' | number; reason: string };

/**
 * Parses a NAT-PMP request as a server must (RFC 6886 §3.5): fewer than 2 bytes or a response
 * opcode (≥ 128) → drop; version ≠ 0 → UNSUPPORTED_VERSION; opcode other than 0, 1, 2 →
 * UNSUPPORTED_OPCODE; a map request shorter than 12 bytes → drop (it cannot be answered with the
 * fields a client matches on). Reserved bits and trailing bytes are ignored. Never throws.
 */
export function parseNatPmpRequest(b: Uint8Array): NatPmpRequestParse {
  if (b.length < 2) return { ok: false, result: 'drop', reason: 'short' };
  const op = b[OPCODE];
  if (op & RESPONSE_BIT) return { ok: false, result: 'drop', reason: 'response' };
  if (b[VERSION] !== NATPMP_VERSION)
    return { ok: false, result: NatPmpResult.UnsupportedVersion, reason: `version ${b[VERSION]}` };
  if (op === NatPmpOpcode.ExternalAddress) return { ok: true, request: { opcode: 0 } };
  if (op !== NatPmpOpcode.MapUdp && op !== NatPmpOpcode.MapTcp)
    return { ok: false, result: NatPmpResult.UnsupportedOpcode, reason: `opcode ${op}` };
  if (b.length < NATPMP_MAP_REQUEST_LEN) return { ok: false, result: 'drop', reason: 'short' };
  return {
    ok: true,
    request: {
      opcode: op,
      internalPort: get16(b, REQ_INTERNAL_PORT),
      externalPort: get16(b, REQ_EXTERNAL_PORT),
      lifetime: get32(b, REQ_LIFETIME),
    },
  };
}

/** The external-address response (RFC 6886 §3.2); `externalAddress` is ignored unless the result is 0 (then `0.0.0.0`). */
export function emitNatPmpAddressResponse(
  result: number,
  epoch: number,
  externalAddress: string,
): Uint8Array {
  const b = response(NATPMP_ADDRESS_RESPONSE_LEN, NatPmpOpcode.ExternalAddress, result, epoch);
  const a = result === NatPmpResult.Success ? parseIpv4(externalAddress) : 0;
  if (a === null) throw new RangeError(`NAT-PMP: not an IPv4 address: ${externalAddress}`);
  put32(b, EXTERNAL_ADDRESS, a);
  return b;
}

/**
 * A map response (RFC 6886 §3.3) for request opcode 1 or 2. On success `externalPort` and
 * `lifetime` are the granted ones (both 0 for a delete); on error the caller passes 0 for both.
 */
export function emitNatPmpMapResponse(
  opcode: number,
  result: number,
  epoch: number,
  internalPort: number,
  externalPort: number,
  lifetime: number,
): Uint8Array {
  check('internalPort', internalPort, 0xffff);
  check('externalPort', externalPort, 0xffff);
  check('lifetime', lifetime, 0xffffffff);
  const b = response(NATPMP_MAP_RESPONSE_LEN, opcode, result, epoch);
  put16(b, RESP_INTERNAL_PORT, internalPort);
  put16(b, RESP_EXTERNAL_PORT, externalPort);
  put32(b, RESP_LIFETIME, lifetime);
  return b;
}

/**
 * The error answers of RFC 6886 §3.5 for a request `b`:
 * - UNSUPPORTED_VERSION (1): 8 bytes, version 0, the request's opcode + 128, result, epoch —
 *   also what a NAT-PMP-only server sends a PCP client (RFC 6887 §9), which then falls back.
 * - UNSUPPORTED_OPCODE (5): "the entire request returned" with the opcode's top bit set and the
 *   result code written; it is extended to 8 bytes (epoch at 4..7 when the request was shorter)
 *   and cut at {@link NATPMP_MAX_MESSAGE_LEN}.
 * - any other result: 8 bytes like UNSUPPORTED_VERSION.
 */
export function natPmpErrorResponse(b: Uint8Array, result: number, epoch: number): Uint8Array {
  const op = b.length > OPCODE ? b[OPCODE] & 0x7f : 0;
  const out = response(NATPMP_ERROR_RESPONSE_LEN, op, result, epoch);
  if (result !== NatPmpResult.UnsupportedOpcode || b.length < NATPMP_ERROR_RESPONSE_LEN) return out;
  const whole = b.slice(0, NATPMP_MAX_MESSAGE_LEN);
  whole.set(out.subarray(0, EPOCH)); // version, opcode, result; the request's own bytes from 4 on
  return whole;
}

/**
 * Parses a NAT-PMP response (for clients and tests): version 0, opcode ≥ 128, at least 8 bytes;
 * the address (12 bytes) or map fields (16 bytes) when present. `null` otherwise. Never throws.
 */
export function parseNatPmpResponse(b: Uint8Array): NatPmpResponseRepr | null {
  if (b.length < NATPMP_ERROR_RESPONSE_LEN || b[VERSION] !== NATPMP_VERSION || !(b[OPCODE] & RESPONSE_BIT))
    return null;
  const r: NatPmpResponseRepr = {
    opcode: b[OPCODE] & 0x7f,
    result: get16(b, RESULT),
    epoch: get32(b, EPOCH),
  };
  if (r.opcode === NatPmpOpcode.ExternalAddress && b.length >= NATPMP_ADDRESS_RESPONSE_LEN)
    r.externalAddress = formatIpv4(get32(b, EXTERNAL_ADDRESS));
  else if (
    (r.opcode === NatPmpOpcode.MapUdp || r.opcode === NatPmpOpcode.MapTcp) &&
    b.length >= NATPMP_MAP_RESPONSE_LEN
  ) {
    r.internalPort = get16(b, RESP_INTERNAL_PORT);
    r.externalPort = get16(b, RESP_EXTERNAL_PORT);
    r.lifetime = get32(b, RESP_LIFETIME);
  }
  return r;
}
