/**
 * PCP (RFC 6887) wire format: constants, the common request / response header, the MAP and PEER
 * opcode data, ANNOUNCE, and the THIRD_PARTY / PREFER_FAILURE / FILTER options.
 *
 * Addresses in PCP are always 128-bit fields; an IPv4 address is carried as an IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`, RFC 6887 §5). In the Reprs below such an address is text in dotted-quad
 * form (`'192.0.2.1'`, `'0.0.0.0'` for the IPv4 all-zeros address) and any other address is IPv6
 * text (`'::'` is the IPv6 all-zeros address).
 *
 * Not a hot path: parsing allocates Reprs. Parsers never throw on arbitrary bytes.
 */
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '@l3kit/wire';
import { checkField as checkRange, get16, get32, put16, put32 } from './pcp-bytes.js';

// ---------------------------------------------------------------------------------------------
// Specification constants (RFC 6887)
// ---------------------------------------------------------------------------------------------

/** The PCP version this server speaks (RFC 6887 §7). */
export const PCP_VERSION = 2;
/** UDP port of the PCP (and NAT-PMP) server (RFC 6887 §19.1). */
export const PCP_SERVER_PORT = 5351;
/** UDP port clients listen on for unsolicited ANNOUNCE responses (RFC 6887 §19.1). */
export const PCP_CLIENT_PORT = 5350;
/** IPv4 group unsolicited ANNOUNCE responses go to (all-hosts, RFC 6887 §14.1.3). */
export const PCP_ANNOUNCE_GROUP = '224.0.0.1';
/** Largest PCP message (RFC 6887 §7). */
export const PCP_MAX_MESSAGE_LEN = 1100;
/** Length of the common request / response header (RFC 6887 §7.1, §7.2). */
export const PCP_HEADER_LEN = 24;
/** Length of the MAP opcode data (RFC 6887 §11.1). */
export const PCP_MAP_LEN = 36;
/** Length of the PEER opcode data (RFC 6887 §12.1). */
export const PCP_PEER_LEN = 56;
/** Length of the MAP / PEER mapping nonce (RFC 6887 §11.1). */
export const PCP_NONCE_LEN = 12;
/** Length of an option header (RFC 6887 §7.3). */
export const PCP_OPTION_HEADER_LEN = 4;

/** PCP opcodes (RFC 6887 §19.2). Unknown values stay representable. */
export const PcpOpcode = {
  Announce: 0,
  Map: 1,
  Peer: 2,
} as const;
/** A PCP opcode number. */
export type PcpOpcode = (typeof PcpOpcode)[keyof typeof PcpOpcode] | (number & {});

/** PCP result codes (RFC 6887 §7.4). */
export const PcpResult = {
  Success: 0,
  UnsuppVersion: 1,
  NotAuthorized: 2,
  MalformedRequest: 3,
  UnsuppOpcode: 4,
  UnsuppOption: 5,
  MalformedOption: 6,
  NetworkFailure: 7,
  NoResources: 8,
  UnsuppProtocol: 9,
  UserExQuota: 10,
  CannotProvideExternal: 11,
  AddressMismatch: 12,
  ExcessiveRemotePeers: 13,
} as const;
/** A PCP result code. */
export type PcpResult = (typeof PcpResult)[keyof typeof PcpResult] | (number & {});

const RESULT_NAMES = [
  'SUCCESS',
  'UNSUPP_VERSION',
  'NOT_AUTHORIZED',
  'MALFORMED_REQUEST',
  'UNSUPP_OPCODE',
  'UNSUPP_OPTION',
  'MALFORMED_OPTION',
  'NETWORK_FAILURE',
  'NO_RESOURCES',
  'UNSUPP_PROTOCOL',
  'USER_EX_QUOTA',
  'CANNOT_PROVIDE_EXTERNAL',
  'ADDRESS_MISMATCH',
  'EXCESSIVE_REMOTE_PEERS',
];

/** The RFC name of a result code (`'NOT_AUTHORIZED'`), or `'RESULT_<n>'` for an unknown one. */
export function pcpResultName(code: number): string {
  return RESULT_NAMES[code] ?? `RESULT_${code}`;
}

/**
 * Whether an error is a "short lifetime" error (RFC 6887 §7.4: NETWORK_FAILURE, NO_RESOURCES,
 * USER_EX_QUOTA, CANNOT_PROVIDE_EXTERNAL): a retry may succeed soon. Every other error is long.
 */
export function isShortLifetimeError(code: number): boolean {
  return (
    code === PcpResult.NetworkFailure ||
    code === PcpResult.NoResources ||
    code === PcpResult.UserExQuota ||
    code === PcpResult.CannotProvideExternal
  );
}

/** PCP option codes (RFC 6887 §19.4). Codes 0–127 are mandatory to process, 128–255 optional. */
export const PcpOptionCode = {
  ThirdParty: 1,
  PreferFailure: 2,
  Filter: 3,
} as const;
/** A PCP option code. */
export type PcpOptionCode = (typeof PcpOptionCode)[keyof typeof PcpOptionCode] | (number & {});

/** Option data lengths (RFC 6887 §13). */
const THIRD_PARTY_LEN = 16;
const PREFER_FAILURE_LEN = 0;
const FILTER_LEN = 20;

// Common request header (RFC 6887 §7.1):
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Version = 2  |R|   Opcode    |         Reserved              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Requested Lifetime (32 bits)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |            PCP Client's IP Address (128 bits)                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// Common response header (RFC 6887 §7.2):
//  |  Version = 2  |R|   Opcode    |   Reserved    |  Result Code  |
//  |                      Lifetime (32 bits)                       |
//  |                     Epoch Time (32 bits)                      |
//  |                      Reserved (96 bits)                       |
const VERSION = 0;
const R_OPCODE = 1;
const RESULT = 3;
const LIFETIME = 4;
const CLIENT_IP = 8;
const EPOCH = 8;
const RESPONSE_RESERVED = 12;
const R_BIT = 0x80;

// MAP opcode data (RFC 6887 §11.1); PEER (§12.1) extends it with the remote peer:
//  |                 Mapping Nonce (96 bits)                       |
//  |   Protocol    |          Reserved (24 bits)                   |
//  |        Internal Port          |    Suggested External Port    |
//  |           Suggested External IP Address (128 bits)            |
//  |       Remote Peer Port        |     Reserved (16 bits)        |   (PEER only)
//  |               Remote Peer IP Address (128 bits)               |   (PEER only)
const NONCE = 0;
const PROTOCOL = 12;
const INTERNAL_PORT = 16;
const EXTERNAL_PORT = 18;
const EXTERNAL_IP = 20;
const PEER_PORT = 36;
const PEER_IP = 40;

// Option (RFC 6887 §7.3):
//  |  Option Code  |  Reserved     |       Option Length           |
//  :                       (optional) data                         :
// FILTER data (§13.3): Reserved(8) Prefix-Length(8) Remote Peer Port(16) Remote Peer IP(128).

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/**
 * The IPv4 address carried by the 16-byte PCP address field at `b[off..]` when it is IPv4-mapped
 * (all of the first 80 bits zero, the next 16 bits one, RFC 6887 §5), else `null`.
 */
export function pcpFieldIpv4(b: Uint8Array, off: number): number | null {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return null;
  if (b[off + 10] !== 0xff || b[off + 11] !== 0xff) return null;
  return ((b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15]) >>> 0;
}

/** Whether the 16-byte field at `b[off..]` is `::` (the IPv6 all-zeros address). */
export function pcpFieldIsZero(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0) return false;
  return true;
}

/** Reads a 16-byte PCP address field as text: dotted quad when IPv4-mapped, IPv6 text otherwise. */
export function readPcpAddress(b: Uint8Array, off: number): string {
  const v4 = pcpFieldIpv4(b, off);
  return v4 === null ? formatIpv6(b, off) : formatIpv4(v4);
}

/**
 * Writes `addr` (IPv4 dotted quad → IPv4-mapped, or IPv6 text) into the 16-byte field at
 * `b[off..]`. Throws `RangeError` for text that is neither.
 */
export function writePcpAddress(b: Uint8Array, off: number, addr: string): void {
  const v4 = parseIpv4(addr);
  if (v4 !== null) {
    b.fill(0, off, off + 10);
    b[off + 10] = 0xff;
    b[off + 11] = 0xff;
    b[off + 12] = v4 >>> 24;
    b[off + 13] = (v4 >>> 16) & 0xff;
    b[off + 14] = (v4 >>> 8) & 0xff;
    b[off + 15] = v4 & 0xff;
    return;
  }
  const v6 = parseIpv6(addr);
  if (v6 === null) throw new RangeError(`PCP: not an IP address: ${addr}`);
  b.set(v6, off);
}

// ---------------------------------------------------------------------------------------------
// Reprs
// ---------------------------------------------------------------------------------------------

/** MAP opcode data (RFC 6887 §11.1). In a response the external fields are the assigned ones. */
export interface PcpMapRepr {
  /** 12 random bytes chosen by the client; a renewal or delete must repeat them. */
  nonce: Uint8Array;
  /** IP protocol number; 0 means all protocols. */
  protocol: number;
  internalPort: number;
  /** Suggested (request) or assigned (response) external port; 0 = no preference. */
  externalPort: number;
  /** Suggested / assigned external address (see the module note on address text). */
  externalAddress: string;
}

/** PEER opcode data (RFC 6887 §12.1): MAP's fields plus the remote peer. */
export interface PcpPeerRepr extends PcpMapRepr {
  remotePeerPort: number;
  remotePeerAddress: string;
}

/** THIRD_PARTY (RFC 6887 §13.1): the internal address the mapping is for. */
export interface PcpThirdPartyOption {
  code: 1;
  address: string;
}
/** PREFER_FAILURE (RFC 6887 §13.2): fail rather than assign another external port / address. */
export interface PcpPreferFailureOption {
  code: 2;
}
/** FILTER (RFC 6887 §13.3): only this remote prefix / port may use the mapping. */
export interface PcpFilterOption {
  code: 3;
  /** Prefix length over the 128-bit field (96–128 for IPv4-mapped); 0 removes all filters. */
  prefixLength: number;
  /** 0 = any port. */
  remotePeerPort: number;
  remotePeerAddress: string;
}
/** An option this module does not decode: its code and raw data. */
export interface PcpRawOption {
  code: number;
  data: Uint8Array;
}
/** One PCP option. */
export type PcpOption = PcpThirdPartyOption | PcpPreferFailureOption | PcpFilterOption | PcpRawOption;

/** A PCP request. Exactly one of `map` / `peer` is set for those opcodes; `opaque` holds the opcode data of any other. */
export interface PcpRequestRepr {
  /** Default {@link PCP_VERSION}. */
  version?: number;
  opcode: number;
  /** Requested lifetime, seconds. */
  lifetime: number;
  /** The client's own address (IPv4 dotted quad or IPv6 text). */
  clientAddress: string;
  map?: PcpMapRepr;
  peer?: PcpPeerRepr;
  /** Opcode data of an opcode without a Repr (copied as is). */
  opaque?: Uint8Array;
  options?: PcpOption[];
}

/** A PCP response. */
export interface PcpResponseRepr {
  /** Default {@link PCP_VERSION}. */
  version?: number;
  opcode: number;
  result: number;
  /** Granted lifetime (success) or how long the error is expected to last (error), seconds. */
  lifetime: number;
  /** Seconds since the server's epoch began. */
  epoch: number;
  map?: PcpMapRepr;
  peer?: PcpPeerRepr;
  opaque?: Uint8Array;
  options?: PcpOption[];
}

// ---------------------------------------------------------------------------------------------
// Emit
// ---------------------------------------------------------------------------------------------

function opcodeDataLen(r: { map?: PcpMapRepr; peer?: PcpPeerRepr; opaque?: Uint8Array }): number {
  if (r.peer) return PCP_PEER_LEN;
  if (r.map) return PCP_MAP_LEN;
  return r.opaque?.length ?? 0;
}

function optionLen(o: PcpOption): number {
  return PCP_OPTION_HEADER_LEN + pad4(optionDataLen(o));
}

function optionDataLen(o: PcpOption): number {
  if ('data' in o) return o.data.length;
  if (o.code === PcpOptionCode.ThirdParty) return THIRD_PARTY_LEN;
  if (o.code === PcpOptionCode.Filter) return FILTER_LEN;
  return PREFER_FAILURE_LEN;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Length in bytes of the message {@link emitPcpRequest} / {@link emitPcpResponse} writes. */
export function pcpMessageLen(r: PcpRequestRepr | PcpResponseRepr): number {
  let n = PCP_HEADER_LEN + opcodeDataLen(r);
  for (const o of r.options ?? []) n += optionLen(o);
  return n;
}

function checkField(name: string, v: number, max: number): void {
  checkRange('PCP', name, v, max);
}

function emitOpcodeData(
  r: { map?: PcpMapRepr; peer?: PcpPeerRepr; opaque?: Uint8Array },
  b: Uint8Array,
  o: number,
): number {
  const m = r.peer ?? r.map;
  if (!m) {
    if (r.opaque) b.set(r.opaque, o);
    return r.opaque?.length ?? 0;
  }
  if (m.nonce.length !== PCP_NONCE_LEN) throw new RangeError(`PCP nonce must be ${PCP_NONCE_LEN} bytes`);
  checkField('protocol', m.protocol, 0xff);
  checkField('internalPort', m.internalPort, 0xffff);
  checkField('externalPort', m.externalPort, 0xffff);
  b.set(m.nonce, o + NONCE);
  b[o + PROTOCOL] = m.protocol;
  put16(b, o + INTERNAL_PORT, m.internalPort);
  put16(b, o + EXTERNAL_PORT, m.externalPort);
  writePcpAddress(b, o + EXTERNAL_IP, m.externalAddress);
  if (!r.peer) return PCP_MAP_LEN;
  checkField('remotePeerPort', r.peer.remotePeerPort, 0xffff);
  put16(b, o + PEER_PORT, r.peer.remotePeerPort);
  writePcpAddress(b, o + PEER_IP, r.peer.remotePeerAddress);
  return PCP_PEER_LEN;
}

function emitOptions(options: readonly PcpOption[], b: Uint8Array, o: number): void {
  for (const opt of options) {
    checkField('option code', opt.code, 0xff);
    const len = optionDataLen(opt);
    checkField('option length', len, 0xffff);
    b[o] = opt.code;
    put16(b, o + 2, len);
    const d = o + PCP_OPTION_HEADER_LEN;
    if ('data' in opt) b.set(opt.data, d);
    else if (opt.code === PcpOptionCode.ThirdParty) writePcpAddress(b, d, opt.address);
    else if (opt.code === PcpOptionCode.Filter) {
      checkField('prefixLength', opt.prefixLength, 128);
      checkField('remotePeerPort', opt.remotePeerPort, 0xffff);
      b[d + 1] = opt.prefixLength;
      put16(b, d + 2, opt.remotePeerPort);
      writePcpAddress(b, d + 4, opt.remotePeerAddress);
    }
    o += PCP_OPTION_HEADER_LEN + pad4(len);
  }
}

/** Builds a PCP request (for clients and tests). Throws `RangeError` for out-of-range fields. */
export function emitPcpRequest(r: PcpRequestRepr): Uint8Array {
  const b = new Uint8Array(pcpMessageLen(r));
  const version = r.version ?? PCP_VERSION;
  checkField('version', version, 0xff);
  checkField('opcode', r.opcode, 0x7f);
  checkField('lifetime', r.lifetime, 0xffffffff);
  b[VERSION] = version;
  b[R_OPCODE] = r.opcode;
  put32(b, LIFETIME, r.lifetime);
  writePcpAddress(b, CLIENT_IP, r.clientAddress);
  const n = emitOpcodeData(r, b, PCP_HEADER_LEN);
  emitOptions(r.options ?? [], b, PCP_HEADER_LEN + n);
  return b;
}

/** Builds a PCP response. Throws `RangeError` for out-of-range fields. */
export function emitPcpResponse(r: PcpResponseRepr): Uint8Array {
  const b = new Uint8Array(pcpMessageLen(r));
  const version = r.version ?? PCP_VERSION;
  checkField('version', version, 0xff);
  checkField('opcode', r.opcode, 0x7f);
  checkField('result', r.result, 0xff);
  checkField('lifetime', r.lifetime, 0xffffffff);
  checkField('epoch', r.epoch, 0xffffffff);
  b[VERSION] = version;
  b[R_OPCODE] = R_BIT | r.opcode;
  b[RESULT] = r.result;
  put32(b, LIFETIME, r.lifetime);
  put32(b, EPOCH, r.epoch);
  const n = emitOpcodeData(r, b, PCP_HEADER_LEN);
  emitOptions(r.options ?? [], b, PCP_HEADER_LEN + n);
  return b;
}

/**
 * Turns a received request into an error response the way RFC 6887 §8.3 asks: the request's bytes
 * (truncated to {@link PCP_MAX_MESSAGE_LEN}, zero-padded to at least the header and to a multiple of
 * 4) with the response header written over its header, so the opcode data and options the client
 * sent come back unchanged. `version` is the version to answer with (the highest supported one for
 * UNSUPP_VERSION).
 */
export function pcpErrorResponse(
  request: Uint8Array,
  result: number,
  lifetime: number,
  epoch: number,
  version = PCP_VERSION,
): Uint8Array {
  const n = Math.max(PCP_HEADER_LEN, pad4(Math.min(request.length, PCP_MAX_MESSAGE_LEN)));
  const b = new Uint8Array(Math.min(n, PCP_MAX_MESSAGE_LEN));
  b.set(request.subarray(0, b.length));
  writeResponseHeader(b, version, request.length > 1 ? request[R_OPCODE] & 0x7f : 0, result, lifetime, epoch);
  return b;
}

function writeResponseHeader(
  b: Uint8Array,
  version: number,
  opcode: number,
  result: number,
  lifetime: number,
  epoch: number,
): void {
  b[VERSION] = version;
  b[R_OPCODE] = R_BIT | opcode;
  b[2] = 0;
  b[RESULT] = result;
  put32(b, LIFETIME, lifetime);
  put32(b, EPOCH, epoch);
  b.fill(0, RESPONSE_RESERVED, PCP_HEADER_LEN);
}

// ---------------------------------------------------------------------------------------------
// Parse
// ---------------------------------------------------------------------------------------------

/** Why {@link parsePcpRequest} refused a message. */
export type PcpRequestError =
  /** Shorter than 2 bytes or a response (R bit set): RFC 6887 §8.3 says drop silently. */
  | { result: 'drop'; reason: 'short' | 'response' }
  /** Answer with this result code (an error response built by {@link pcpErrorResponse}). */
  | { result: number; reason: string };

/** The outcome of {@link parsePcpRequest}. */
export type PcpRequestParse = { ok: true; request: ParsedPcpRequest } | ({ ok: false } & PcpRequestError);

/** A request that passed {@link parsePcpRequest}: options decoded and checked against the opcode. */
export interface ParsedPcpRequest extends PcpRequestRepr {
  version: number;
  options: PcpOption[];
  /** The client address field as IPv4 when it is IPv4-mapped, else `null`. */
  clientIpv4: number | null;
  /** THIRD_PARTY address when present. */
  thirdParty?: string;
  preferFailure: boolean;
  filters: PcpFilterOption[];
}

/** Which known options each opcode accepts (RFC 6887 §13: THIRD_PARTY for MAP and PEER, the others MAP only). */
function optionAllowed(code: number, opcode: number): boolean {
  if (code === PcpOptionCode.ThirdParty) return opcode === PcpOpcode.Map || opcode === PcpOpcode.Peer;
  return opcode === PcpOpcode.Map;
}

/**
 * Parses and validates a PCP request as a server must (RFC 6887 §8.3, §7.3): the result says
 * whether to drop it silently, answer with an error code, or process it. Checks, in order: length
 * ≥ 2, R bit clear, version 2 (else UNSUPP_VERSION), 24 ≤ length ≤ 1100 and a multiple of 4 (else
 * MALFORMED_REQUEST), a known opcode (else UNSUPP_OPCODE), enough opcode data (else
 * MALFORMED_REQUEST), then each option: header and padded data inside the message, known options
 * with their exact length, allowed for the opcode and not repeated (else MALFORMED_OPTION), unknown
 * options in the mandatory range 0–127 refused (UNSUPP_OPTION), optional ones (128–255) skipped.
 * Version 0 (NAT-PMP) is the caller's business: it comes back as UNSUPP_VERSION. Never throws.
 */
export function parsePcpRequest(b: Uint8Array): PcpRequestParse {
  if (b.length < 2) return { ok: false, result: 'drop', reason: 'short' };
  if (b[R_OPCODE] & R_BIT) return { ok: false, result: 'drop', reason: 'response' };
  if (b[VERSION] !== PCP_VERSION)
    return { ok: false, result: PcpResult.UnsuppVersion, reason: `version ${b[VERSION]}` };
  if (b.length < PCP_HEADER_LEN || b.length > PCP_MAX_MESSAGE_LEN || b.length % 4 !== 0)
    return { ok: false, result: PcpResult.MalformedRequest, reason: `length ${b.length}` };
  const opcode = b[R_OPCODE];
  let dataLen: number;
  if (opcode === PcpOpcode.Announce) dataLen = 0;
  else if (opcode === PcpOpcode.Map) dataLen = PCP_MAP_LEN;
  else if (opcode === PcpOpcode.Peer) dataLen = PCP_PEER_LEN;
  else return { ok: false, result: PcpResult.UnsuppOpcode, reason: `opcode ${opcode}` };
  if (b.length < PCP_HEADER_LEN + dataLen)
    return { ok: false, result: PcpResult.MalformedRequest, reason: 'opcode data truncated' };

  const req: ParsedPcpRequest = {
    version: PCP_VERSION,
    opcode,
    lifetime: get32(b, LIFETIME),
    clientAddress: readPcpAddress(b, CLIENT_IP),
    clientIpv4: pcpFieldIpv4(b, CLIENT_IP),
    options: [],
    preferFailure: false,
    filters: [],
  };
  if (opcode !== PcpOpcode.Announce) readOpcodeData(b, opcode, req);
  const slots = frameOptions(b, PCP_HEADER_LEN + dataLen);
  if (!slots)
    return { ok: false, result: PcpResult.MalformedOption, reason: 'an option overruns the message' };
  for (const s of slots) {
    const want = KNOWN_OPTION_LEN[s.code];
    if (want === undefined) {
      if (s.code < 128) return { ok: false, result: PcpResult.UnsuppOption, reason: `option ${s.code}` };
      req.options.push(decodeOption(b, s));
      continue;
    }
    const bad = (reason: string): PcpRequestParse => ({
      ok: false,
      result: PcpResult.MalformedOption,
      reason,
    });
    if (s.len !== want) return bad(`option ${s.code} length ${s.len}`);
    if (!optionAllowed(s.code, opcode)) return bad(`option ${s.code} not valid for opcode ${opcode}`);
    const opt = decodeOption(b, s);
    if (opt.code === PcpOptionCode.ThirdParty && 'address' in opt) {
      if (req.thirdParty !== undefined) return bad('THIRD_PARTY repeated');
      req.thirdParty = opt.address;
    } else if (opt.code === PcpOptionCode.PreferFailure) {
      if (req.preferFailure) return bad('PREFER_FAILURE repeated');
      req.preferFailure = true;
    } else if ('prefixLength' in opt) {
      if (!filterPrefixValid(b, s.data + 4, opt.prefixLength))
        return bad(`FILTER prefix length ${opt.prefixLength}`);
      req.filters.push(opt);
    }
    req.options.push(opt);
  }
  return { ok: true, request: req };
}

/** Data lengths of the options this module decodes (RFC 6887 §13). */
const KNOWN_OPTION_LEN: Readonly<Record<number, number>> = {
  [PcpOptionCode.ThirdParty]: THIRD_PARTY_LEN,
  [PcpOptionCode.PreferFailure]: PREFER_FAILURE_LEN,
  [PcpOptionCode.Filter]: FILTER_LEN,
};

/** Reads the MAP or PEER opcode data after the header into `into.map` / `into.peer`. */
function readOpcodeData(b: Uint8Array, opcode: number, into: { map?: PcpMapRepr; peer?: PcpPeerRepr }): void {
  const d = PCP_HEADER_LEN;
  const map: PcpMapRepr = {
    nonce: b.slice(d + NONCE, d + NONCE + PCP_NONCE_LEN),
    protocol: b[d + PROTOCOL],
    internalPort: get16(b, d + INTERNAL_PORT),
    externalPort: get16(b, d + EXTERNAL_PORT),
    externalAddress: readPcpAddress(b, d + EXTERNAL_IP),
  };
  if (opcode === PcpOpcode.Map) into.map = map;
  else
    into.peer = {
      ...map,
      remotePeerPort: get16(b, d + PEER_PORT),
      remotePeerAddress: readPcpAddress(b, d + PEER_IP),
    };
}

/** Where one option sits: its code, data length and data offset. */
interface OptionSlot {
  code: number;
  len: number;
  data: number;
}

/** Frames the options from `o` to the end of `b`; `null` when one (header or padded data) overruns it. */
function frameOptions(b: Uint8Array, o: number): OptionSlot[] | null {
  const out: OptionSlot[] = [];
  while (o < b.length) {
    if (b.length - o < PCP_OPTION_HEADER_LEN) return null;
    const len = get16(b, o + 2);
    const end = o + PCP_OPTION_HEADER_LEN + pad4(len);
    if (end > b.length) return null;
    out.push({ code: b[o], len, data: o + PCP_OPTION_HEADER_LEN });
    o = end;
  }
  return out;
}

/** Decodes THIRD_PARTY, PREFER_FAILURE and FILTER of their exact length; anything else raw. */
function decodeOption(b: Uint8Array, s: OptionSlot): PcpOption {
  if (KNOWN_OPTION_LEN[s.code] === s.len) {
    if (s.code === PcpOptionCode.ThirdParty) return { code: 1, address: readPcpAddress(b, s.data) };
    if (s.code === PcpOptionCode.PreferFailure) return { code: 2 };
    return {
      code: 3,
      prefixLength: b[s.data + 1],
      remotePeerPort: get16(b, s.data + 2),
      remotePeerAddress: readPcpAddress(b, s.data + 4),
    };
  }
  return { code: s.code, data: b.slice(s.data, s.data + s.len) };
}

/** RFC 6887 §13.3: prefix length ≤ 128, and 96..128 for an IPv4-mapped address (0 removes all filters). */
function filterPrefixValid(b: Uint8Array, addrOff: number, prefixLength: number): boolean {
  if (prefixLength === 0) return true;
  if (prefixLength > 128) return false;
  return pcpFieldIpv4(b, addrOff) === null || prefixLength >= 96;
}

/**
 * Parses a PCP response (for clients and tests); `null` unless it is a well-formed version 2
 * response (R bit set, 24..1100 bytes, multiple of 4, opcode data present for MAP / PEER, options
 * inside the message). Option contents are returned raw except THIRD_PARTY, PREFER_FAILURE and
 * FILTER with their exact lengths. Never throws.
 */
export function parsePcpResponse(b: Uint8Array): PcpResponseRepr | null {
  if (b.length < PCP_HEADER_LEN || b.length > PCP_MAX_MESSAGE_LEN || b.length % 4 !== 0) return null;
  if (b[VERSION] !== PCP_VERSION || !(b[R_OPCODE] & R_BIT)) return null;
  const opcode = b[R_OPCODE] & 0x7f;
  const r: PcpResponseRepr = {
    version: PCP_VERSION,
    opcode,
    result: b[RESULT],
    lifetime: get32(b, LIFETIME),
    epoch: get32(b, EPOCH),
    options: [],
  };
  let o = PCP_HEADER_LEN;
  if (opcode === PcpOpcode.Map || opcode === PcpOpcode.Peer) {
    const len = opcode === PcpOpcode.Map ? PCP_MAP_LEN : PCP_PEER_LEN;
    if (b.length < o + len) return null;
    readOpcodeData(b, opcode, r);
    o += len;
  } else if (opcode !== PcpOpcode.Announce) {
    r.opaque = b.slice(o);
    return r;
  }
  const slots = frameOptions(b, o);
  if (!slots) return null;
  r.options = slots.map((s) => decodeOption(b, s));
  return r;
}
