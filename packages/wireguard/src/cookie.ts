/**
 * mac1 / mac2 and cookie replies (whitepaper §5.4.4, §5.4.7). MAC is keyed BLAKE2s-128
 * (`blake2s.ts`, not in Node); the cookie is sealed with XChaCha20-Poly1305 (`xchacha.ts`).
 *
 * - {@link CookieChecker} (receiving side): verifies mac1 on every handshake message; under load
 *   also verifies mac2, and answers messages without a valid mac2 with a cookie reply.
 * - {@link CookieGenerator} (sending side, one per peer): adds mac1 and, with a fresh cookie,
 *   mac2; consumes cookie replies.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '@l3kit/core';
import { Blake2s } from './blake2s.js';
import { COOKIE_REFRESH_TIME, COOKIE_REPLY_LEN, MessageType } from './constants.js';
import { Cookie, writeU32le } from './messages.js';
import { xaeadOpen, xaeadSeal } from './xchacha.js';

const mac = new Blake2s(16);
const macOut = new Uint8Array(16);

/** MAC(key, data) = keyed BLAKE2s with a 16-byte output, into a shared scratch buffer. */
function macInto(key: Uint8Array, data: Uint8Array): Uint8Array {
  mac.init(16, key).update(data).digest(macOut);
  return macOut;
}

function eq16(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(a, b);
}

/** Verifies macs of received handshake messages and creates cookie replies. */
export class CookieChecker {
  private secret = new Uint8Array(32);
  private secretSetAt = Number.NEGATIVE_INFINITY;

  /**
   * @param mac1Key HASH(LABEL_MAC1 || our public key)
   * @param cookieKey HASH(LABEL_COOKIE || our public key)
   */
  constructor(
    private readonly mac1Key: Uint8Array,
    private readonly cookieKey: Uint8Array,
    private readonly clock: Clock,
  ) {}

  /** Whether mac1 of the handshake message `msg` is valid. */
  checkMac1(msg: Uint8Array): boolean {
    const off = msg.length - 32;
    return eq16(macInto(this.mac1Key, msg.subarray(0, off)), msg.subarray(off, off + 16));
  }

  private cookieFor(src: Uint8Array): Uint8Array {
    const now = this.clock.now();
    if (now - this.secretSetAt >= COOKIE_REFRESH_TIME) {
      this.secret = new Uint8Array(randomBytes(32));
      this.secretSetAt = now;
    }
    return new Uint8Array(macInto(this.secret, src));
  }

  /** Whether mac2 of `msg` is valid for the source address bytes `src` (IP bytes + port). */
  checkMac2(msg: Uint8Array, src: Uint8Array): boolean {
    const now = this.clock.now();
    if (now - this.secretSetAt >= COOKIE_REFRESH_TIME) return false; // no live secret: no valid cookie
    const cookie = new Uint8Array(macInto(this.secret, src));
    const off = msg.length - 16;
    return eq16(macInto(cookie, msg.subarray(0, off)), msg.subarray(off));
  }

  /** A cookie reply to handshake message `msg` (whose sender index is `receiverIndex`) from `src`. */
  createReply(msg: Uint8Array, receiverIndex: number, src: Uint8Array): Uint8Array {
    const out = new Uint8Array(COOKIE_REPLY_LEN);
    out[0] = MessageType.CookieReply;
    writeU32le(out, Cookie.receiver, receiverIndex);
    const nonce = new Uint8Array(randomBytes(24));
    out.set(nonce, Cookie.nonce);
    const m1 = msg.subarray(msg.length - 32, msg.length - 16);
    out.set(xaeadSeal(this.cookieKey, nonce, this.cookieFor(src), m1), Cookie.cookie);
    return out;
  }
}

/** Adds macs to handshake messages sent to one peer and keeps the cookie it gave us. */
export class CookieGenerator {
  private cookie = new Uint8Array(16);
  private cookieAt = Number.NEGATIVE_INFINITY;
  private lastMac1 = new Uint8Array(16);
  private hasLastMac1 = false;

  /**
   * @param mac1Key HASH(LABEL_MAC1 || peer public key)
   * @param cookieKey HASH(LABEL_COOKIE || peer public key)
   */
  constructor(
    private readonly mac1Key: Uint8Array,
    private readonly cookieKey: Uint8Array,
    private readonly clock: Clock,
  ) {}

  /** Whether a cookie younger than COOKIE_REFRESH_TIME is held. */
  hasCookie(): boolean {
    return this.clock.now() - this.cookieAt < COOKIE_REFRESH_TIME;
  }

  /** Writes mac1, and mac2 if a fresh cookie is held (else zeros), into the last 32 bytes of `msg`. */
  addMacs(msg: Uint8Array): void {
    const off1 = msg.length - 32;
    const m1 = macInto(this.mac1Key, msg.subarray(0, off1));
    msg.set(m1, off1);
    this.lastMac1.set(m1);
    this.hasLastMac1 = true;
    const off2 = msg.length - 16;
    if (this.hasCookie()) msg.set(macInto(this.cookie, msg.subarray(0, off2)), off2);
    else msg.fill(0, off2);
  }

  /** Consumes a cookie reply; true if it decrypted (the cookie is then used for mac2). */
  consumeReply(reply: Uint8Array): boolean {
    if (!this.hasLastMac1) return false;
    const nonce = reply.subarray(Cookie.nonce, Cookie.nonce + 24);
    const c = xaeadOpen(
      this.cookieKey,
      nonce,
      reply.subarray(Cookie.cookie, Cookie.cookie + 32),
      this.lastMac1,
    );
    if (!c) return false;
    this.cookie.set(c);
    this.cookieAt = this.clock.now();
    this.hasLastMac1 = false;
    return true;
  }
}
