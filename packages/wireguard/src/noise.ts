/**
 * The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake as WireGuard uses it (whitepaper §5.4).
 * HASH is BLAKE2s-256 and HMAC is HMAC-BLAKE2s (both Node native); DH is X25519 (Node native);
 * AEAD is ChaCha20-Poly1305 (Node native). mac1 / mac2 are added by `cookie.ts`.
 */
import { createHash, createHmac, type KeyObject } from 'node:crypto';
import {
  CONSTRUCTION,
  IDENTIFIER,
  INITIATION_LEN,
  LABEL_COOKIE,
  LABEL_MAC1,
  MessageType,
  RESPONSE_LEN,
} from './constants.js';
import { dh, generateKeyPair, privateKeyObject, publicFromPrivate } from './keys.js';
import { Init, Resp, readU32le, writeU32le } from './messages.js';
import { aeadOpen, aeadSeal } from './xchacha.js';

const ZERO12 = new Uint8Array(12);
const EMPTY = new Uint8Array(0);
const ZERO32 = new Uint8Array(32);

/** HASH(parts…) = BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** KDFn(key, input) (whitepaper §5.4): n 32-byte outputs from HMAC-BLAKE2s. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmac(key, input);
  const out: Uint8Array[] = [];
  let prev = hmac(t0, Uint8Array.of(1));
  out.push(prev);
  for (let i = 2; i <= n; i++) {
    prev = hmac(t0, prev, Uint8Array.of(i));
    out.push(prev);
  }
  return out;
}

const enc = new TextEncoder();
/** Ci = HASH(CONSTRUCTION). */
export const INITIAL_CHAIN_KEY = hash(enc.encode(CONSTRUCTION));
/** Hi = HASH(Ci || IDENTIFIER). */
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, enc.encode(IDENTIFIER));

/** This side's static identity with the keys derived from it. */
export class StaticIdentity {
  readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;
  /** HASH(LABEL_MAC1 || Spub): key for mac1 of messages sent to us. */
  readonly mac1Key: Uint8Array;
  /** HASH(LABEL_COOKIE || Spub): key for cookie replies we send. */
  readonly cookieKey: Uint8Array;
  constructor(rawPrivate: Uint8Array) {
    this.privateKey = privateKeyObject(rawPrivate);
    this.publicKey = publicFromPrivate(rawPrivate);
    this.mac1Key = hash(enc.encode(LABEL_MAC1), this.publicKey);
    this.cookieKey = hash(enc.encode(LABEL_COOKIE), this.publicKey);
  }
}

/** The symmetric keys a completed handshake yields. */
export interface SessionKeys {
  send: Uint8Array;
  recv: Uint8Array;
  /** Our index (the receiver index the remote puts on transport messages to us). */
  localIndex: number;
  /** The remote's index (we put it on transport messages we send). */
  remoteIndex: number;
  /** Whether we initiated the handshake. */
  initiator: boolean;
}

/** Handshake states (wireguard-go `handshakeState`). */
export const HandshakeState = {
  Zeroed: 0,
  InitiationCreated: 1,
  InitiationConsumed: 2,
  ResponseCreated: 3,
  ResponseConsumed: 4,
} as const;

/** Per-peer handshake state. */
export class Handshake {
  state: number = HandshakeState.Zeroed;
  hash: Uint8Array = INITIAL_HASH;
  chainKey: Uint8Array = INITIAL_CHAIN_KEY;
  localEphemeral: KeyObject | undefined;
  remoteEphemeral: Uint8Array = ZERO32;
  localIndex = 0;
  remoteIndex = 0;
  /** Greatest TAI64N timestamp accepted from the remote (replay protection for initiations). */
  lastTimestamp = new Uint8Array(12);
  /** DH(Spriv, Sremote_pub), precomputed; null if the remote key is invalid. */
  readonly staticStatic: Uint8Array | null;
  /** HASH(LABEL_MAC1 || remote pub): mac1 key for messages we send to the remote. */
  readonly remoteMac1Key: Uint8Array;
  /** HASH(LABEL_COOKIE || remote pub): decrypts cookie replies from the remote. */
  readonly remoteCookieKey: Uint8Array;

  constructor(
    readonly local: StaticIdentity,
    readonly remoteStatic: Uint8Array,
    readonly presharedKey: Uint8Array = ZERO32,
  ) {
    this.staticStatic = dh(local.privateKey, remoteStatic);
    this.remoteMac1Key = hash(enc.encode(LABEL_MAC1), remoteStatic);
    this.remoteCookieKey = hash(enc.encode(LABEL_COOKIE), remoteStatic);
  }

  /** Clears the ephemeral state. */
  clear(): void {
    this.state = HandshakeState.Zeroed;
    this.hash = INITIAL_HASH;
    this.chainKey = INITIAL_CHAIN_KEY;
    this.localEphemeral = undefined;
    this.remoteEphemeral = ZERO32;
    this.localIndex = 0;
    this.remoteIndex = 0;
  }
}

/** A TAI64N timestamp (12 bytes) for `ms` since the Unix epoch. */
export function tai64n(ms: number): Uint8Array {
  const b = new Uint8Array(12);
  const secs = BigInt(Math.floor(ms / 1000)) + (1n << 62n);
  for (let i = 0; i < 8; i++) b[i] = Number((secs >> BigInt(8 * (7 - i))) & 0xffn);
  const ns = Math.floor(ms % 1000) * 1_000_000;
  b[8] = ns >>> 24;
  b[9] = ns >>> 16;
  b[10] = ns >>> 8;
  b[11] = ns;
  return b;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * Creates a handshake initiation (macs left zero) for `hs`, with our sender index `localIndex`
 * and timestamp `timestamp`. Returns null if the remote static key is invalid.
 */
export function createInitiation(
  hs: Handshake,
  localIndex: number,
  timestamp: Uint8Array,
): Uint8Array | null {
  if (!hs.staticStatic) return null;
  const msg = new Uint8Array(INITIATION_LEN);
  msg[0] = MessageType.Initiation;
  writeU32le(msg, Init.sender, localIndex);
  let h = hash(INITIAL_HASH, hs.remoteStatic);
  let c = INITIAL_CHAIN_KEY;
  const e = generateKeyPair();
  msg.set(e.publicKey, Init.ephemeral);
  [c] = kdf(1, c, e.publicKey);
  h = hash(h, e.publicKey);
  const es = dh(e.privateKey, hs.remoteStatic);
  if (!es) return null;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es);
  const encStatic = aeadSeal(k, ZERO12, hs.local.publicKey, h);
  msg.set(encStatic, Init.static);
  h = hash(h, encStatic);
  [c, k] = kdf(2, c, hs.staticStatic);
  const encTs = aeadSeal(k, ZERO12, timestamp, h);
  msg.set(encTs, Init.timestamp);
  h = hash(h, encTs);
  hs.hash = h;
  hs.chainKey = c;
  hs.localEphemeral = e.privateKey;
  hs.localIndex = localIndex;
  hs.state = HandshakeState.InitiationCreated;
  return msg;
}

/** The result of decrypting an initiation's static key, before the peer is known. */
export interface InitiationOpened {
  remoteStatic: Uint8Array;
  /** Finishes the consumption against the peer's handshake; false if it fails (bad timestamp, replay). */
  finish(hs: Handshake): boolean;
}

/**
 * Opens an initiation addressed to `local` (mac1 already checked): returns the initiator's static
 * public key and a continuation that verifies the timestamp against that peer. Null if it does not
 * decrypt.
 */
export function openInitiation(local: StaticIdentity, msg: Uint8Array): InitiationOpened | null {
  let h = hash(INITIAL_HASH, local.publicKey);
  let c = INITIAL_CHAIN_KEY;
  const ei = new Uint8Array(msg.subarray(Init.ephemeral, Init.ephemeral + 32)); // a copy (Buffer#slice is not)
  [c] = kdf(1, c, ei);
  h = hash(h, ei);
  const es = dh(local.privateKey, ei);
  if (!es) return null;
  const [c1, k] = kdf(2, c, es);
  c = c1;
  const encStatic = msg.subarray(Init.static, Init.static + 48);
  const sPub = aeadOpen(k, ZERO12, encStatic, h);
  if (!sPub) return null;
  const remoteStatic = new Uint8Array(sPub);
  h = hash(h, encStatic);
  const sender = readU32le(msg, Init.sender);
  const encTs = msg.subarray(Init.timestamp, Init.timestamp + 28);
  return {
    remoteStatic,
    finish(hs: Handshake): boolean {
      if (!hs.staticStatic) return false;
      const [c2, k2] = kdf(2, c, hs.staticStatic);
      const ts = aeadOpen(k2, ZERO12, encTs, h);
      if (!ts) return false;
      if (compare(ts, hs.lastTimestamp) <= 0) return false; // replayed or old initiation
      hs.lastTimestamp = new Uint8Array(ts);
      hs.hash = hash(h, encTs);
      hs.chainKey = c2;
      hs.remoteEphemeral = ei;
      hs.remoteIndex = sender;
      hs.state = HandshakeState.InitiationConsumed;
      return true;
    },
  };
}

/** Creates the response to a consumed initiation (macs left zero) and derives the session keys. */
export function createResponse(
  hs: Handshake,
  localIndex: number,
): { msg: Uint8Array; keys: SessionKeys } | null {
  if (hs.state !== HandshakeState.InitiationConsumed) return null;
  const msg = new Uint8Array(RESPONSE_LEN);
  msg[0] = MessageType.Response;
  writeU32le(msg, Resp.sender, localIndex);
  writeU32le(msg, Resp.receiver, hs.remoteIndex);
  const e = generateKeyPair();
  msg.set(e.publicKey, Resp.ephemeral);
  let c = kdf(1, hs.chainKey, e.publicKey)[0];
  let h = hash(hs.hash, e.publicKey);
  const ee = dh(e.privateKey, hs.remoteEphemeral);
  const se = dh(e.privateKey, hs.remoteStatic);
  if (!ee || !se) return null;
  c = kdf(1, c, ee)[0];
  c = kdf(1, c, se)[0];
  const [c3, tau, k] = kdf(3, c, hs.presharedKey);
  h = hash(h, tau);
  const empty = aeadSeal(k, ZERO12, EMPTY, h);
  msg.set(empty, Resp.empty);
  h = hash(h, empty);
  const [t1, t2] = kdf(2, c3, EMPTY);
  const keys: SessionKeys = { send: t2, recv: t1, localIndex, remoteIndex: hs.remoteIndex, initiator: false };
  hs.clear();
  hs.state = HandshakeState.ResponseCreated;
  return { msg, keys };
}

/** Consumes a response to our initiation (mac1 already checked) and derives the session keys. */
export function consumeResponse(hs: Handshake, msg: Uint8Array): SessionKeys | null {
  if (hs.state !== HandshakeState.InitiationCreated || !hs.localEphemeral || !hs.staticStatic) return null;
  if (readU32le(msg, Resp.receiver) !== hs.localIndex) return null;
  const er = new Uint8Array(msg.subarray(Resp.ephemeral, Resp.ephemeral + 32));
  let c = kdf(1, hs.chainKey, er)[0];
  let h = hash(hs.hash, er);
  const ee = dh(hs.localEphemeral, er);
  const se = dh(hs.local.privateKey, er);
  if (!ee || !se) return null;
  c = kdf(1, c, ee)[0];
  c = kdf(1, c, se)[0];
  const [c3, tau, k] = kdf(3, c, hs.presharedKey);
  h = hash(h, tau);
  const empty = msg.subarray(Resp.empty, Resp.empty + 16);
  if (!aeadOpen(k, ZERO12, empty, h)) return null;
  const [t1, t2] = kdf(2, c3, EMPTY);
  const keys: SessionKeys = {
    send: t1,
    recv: t2,
    localIndex: hs.localIndex,
    remoteIndex: readU32le(msg, Resp.sender),
    initiator: true,
  };
  hs.clear();
  hs.state = HandshakeState.ResponseConsumed;
  return keys;
}
