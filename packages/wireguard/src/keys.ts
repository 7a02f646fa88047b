/**
 * Curve25519 keys in WireGuard's base64 form, and X25519 (Node's native implementation).
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { ConfigError } from '@l3kit/core';

/** Length of a Curve25519 key in bytes. */
export const KEY_LEN = 32;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** Encodes a 32-byte key as WireGuard base64 (44 characters). */
export function encodeKey(key: Uint8Array): string {
  if (key.length !== KEY_LEN)
    throw new ConfigError('ERR_BAD_KEY', `a key is ${KEY_LEN} bytes, got ${key.length}`);
  return Buffer.from(key).toString('base64');
}

/** Decodes a WireGuard base64 key. Throws {@link ConfigError} `ERR_BAD_KEY` unless it is 32 bytes of valid base64. */
export function decodeKey(text: string, what = 'key'): Uint8Array {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text))
    throw new ConfigError('ERR_BAD_KEY', `${what} is not a WireGuard base64 key: ${JSON.stringify(text)}`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Clamps a Curve25519 private key in place (RFC 7748 §5) and returns it. */
export function clamp(k: Uint8Array): Uint8Array {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/** A new random private key (clamped), as WireGuard base64 — like `wg genkey`. */
export function genkey(): string {
  return encodeKey(clamp(new Uint8Array(randomBytes(32))));
}

/** A new random 32-byte preshared key as base64 — like `wg genpsk`. */
export function genpsk(): string {
  return encodeKey(new Uint8Array(randomBytes(32)));
}

/** The public key of a base64 private key — like `wg pubkey`. */
export function pubkey(privateKey: string): string {
  return encodeKey(publicFromPrivate(decodeKey(privateKey, 'private key')));
}

/** A Node KeyObject for a raw X25519 private key. */
export function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

/** A Node KeyObject for a raw X25519 public key. */
export function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw public key of a raw private key. */
export function publicFromPrivate(raw: Uint8Array): Uint8Array {
  const pub = createPublicKey(privateKeyObject(raw)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(pub.subarray(pub.length - 32));
}

/** A fresh X25519 key pair (the handshake's ephemeral keys). */
export function generateKeyPair(): { privateKey: KeyObject; publicKey: Uint8Array } {
  const kp = generateKeyPairSync('x25519');
  const pub = kp.publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey: kp.privateKey, publicKey: new Uint8Array(pub.subarray(pub.length - 32)) };
}

/** X25519(priv, pub), or `null` for an invalid public key (all-zero shared secret). */
export function dh(priv: KeyObject, pub: Uint8Array): Uint8Array | null {
  try {
    const s = diffieHellman({ privateKey: priv, publicKey: publicKeyObject(pub) });
    let z = 0;
    for (let i = 0; i < s.length; i++) z |= s[i];
    return z === 0 ? null : new Uint8Array(s);
  } catch {
    return null;
  }
}
