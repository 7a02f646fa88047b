/**
 * A WireGuard peer as an {@link L3Device}: packets sent into it are encrypted to the remote;
 * packets decrypted from the remote are emitted through its handler after the allowed-IPs
 * source check. Also holds the peer's handshake, key pairs, timers and counters.
 */
import { createCipheriv, createDecipheriv, randomInt } from 'node:crypto';
import {
  type Clock,
  ConfigError,
  discard,
  type L3Device,
  type PacketHandler,
  type Scheduler,
} from '@l3kit/core';
import { Prefix } from '@l3kit/wire';
import { AllowedIps } from './allowed-ips.js';
import { type ChaChaPoly, keyWords } from './chacha20poly1305.js';
import {
  KEEPALIVE_TIMEOUT,
  MAX_QUEUED_PACKETS,
  MessageType,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  TAG_LEN,
  TRANSPORT_HEADER_LEN,
} from './constants.js';
import { CookieGenerator } from './cookie.js';
import { encodeKey } from './keys.js';
import { readU64le, Transport, writeU32le, writeU64le } from './messages.js';
import { NativeAeadKey } from './native-aead.js';
import {
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
  HandshakeState,
  type InitiationOpened,
  type SessionKeys,
  type StaticIdentity,
  tai64n,
} from './noise.js';
import { ReplayWindow } from './replay.js';
import { PeerTimers, TimerSlot } from './timers.js';

/** Largest plaintext whose padded transport message fits one UDP datagram (65507 bytes). */
const MAX_PLAINTEXT = 65507 - TRANSPORT_HEADER_LEN - TAG_LEN - 15;

/** Largest counter we use or accept: REJECT_AFTER_MESSAGES, capped to exact doubles. */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** A UDP endpoint. */
export interface Endpoint {
  address: string;
  port: number;
}

/** Counters of one peer. */
export interface PeerStats {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  handshakesInitiated: number;
  handshakesCompleted: number;
  cookiesReceived: number;
  /** Decrypted packets whose source is outside the peer's allowed IPs. */
  badSource: number;
  /** Packets sent into the peer that are not IPv4/IPv6, or decrypted packets that are not well-formed IP. */
  malformed: number;
  /** Transport messages with a replayed or too old counter. */
  replay: number;
  /** Transport messages that failed authentication. */
  decryptFailed: number;
  /** Transport messages for an expired key pair. */
  expired: number;
  /** Packets dropped because the peer has no endpoint. */
  noEndpoint: number;
  /** Packets dropped because the queue awaiting a handshake was full or the attempt timed out. */
  queueDropped: number;
  /** Handshake initiations rejected (bad or replayed timestamp). */
  handshakeRejected: number;
  /** Packets sent into the peer too big for one UDP datagram once encrypted. */
  tooBig: number;
  /** Packets sent into a closed peer. */
  closed: number;
}

/**
 * Which implementation encrypts transport data:
 * - `'addon'`: l3kit's N-API addon over the OpenSSL that Node exports ({@link NativeAeadKey}):
 *   keys set up once per key pair, in place, no allocation per packet;
 * - `'node-crypto'`: `node:crypto` `createCipheriv` / `createDecipheriv` per packet;
 * - `'js'`: the TypeScript AEAD of `chacha20poly1305.ts`.
 */
export type CipherBackend = 'addon' | 'node-crypto' | 'js';

/** One symmetric session (whitepaper §5.4.6). */
export class Keypair {
  readonly send: Buffer;
  readonly recv: Buffer;
  /** The keys as little-endian words for the TypeScript AEAD. */
  readonly sendWords: Uint32Array;
  readonly recvWords: Uint32Array;
  /** The keys in the native addon (backend `'addon'` only), created once at the handshake. */
  readonly sendKey: NativeAeadKey | undefined;
  readonly recvKey: NativeAeadKey | undefined;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly initiator: boolean;
  readonly created: number;
  sendCounter = 0;
  readonly replay = new ReplayWindow();
  /**
   * `backend` `'addon'` sets the keys up in the native addon once, here; when that is impossible
   * (addon not built, OpenSSL out of memory) the key pair uses node:crypto instead.
   */
  constructor(keys: SessionKeys, created: number, backend: CipherBackend = 'node-crypto') {
    this.send = Buffer.from(keys.send);
    this.recv = Buffer.from(keys.recv);
    this.sendWords = keyWords(keys.send);
    this.recvWords = keyWords(keys.recv);
    if (backend === 'addon') {
      // Only an out-of-memory condition in OpenSSL can fail here (the server checked that the
      // addon loads): then this key pair uses node:crypto rather than throwing out of receive().
      let sk: NativeAeadKey | undefined;
      try {
        sk = NativeAeadKey.create(keys.send, 'seal');
        this.recvKey = NativeAeadKey.create(keys.recv, 'open');
        this.sendKey = sk;
      } catch {
        sk?.release();
      }
    }
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.initiator = keys.initiator;
    this.created = created;
  }

  /** Whether {@link erase} was called. */
  get erased(): boolean {
    return this.isErased;
  }
  private isErased = false;

  /**
   * Erases the keys: zeroes every copy we hold and releases the native key handles (which wipe
   * OpenSSL's cipher state). The key pair cannot encrypt or decrypt afterwards. Idempotent.
   */
  erase(): void {
    this.isErased = true;
    this.send.fill(0);
    this.recv.fill(0);
    this.sendWords.fill(0);
    this.recvWords.fill(0);
    this.sendKey?.release();
    this.recvKey?.release();
  }
}

/** What a peer needs from its server (internal). */
export interface PeerHost {
  readonly identity: StaticIdentity;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Which AEAD encrypts transport data. */
  readonly backend: CipherBackend;
  /** The TypeScript AEAD (backend `'js'`), else null. */
  readonly aead: ChaChaPoly | null;
  /** Receive buffer for decrypted packets (TypeScript AEAD). */
  readonly rxScratch: Uint8Array;
  /** Nesting depth of packet delivery (the scratch buffer is in use when > 0). */
  rxDepth: number;
  /** Sends a UDP datagram. */
  sendUdp(msg: Uint8Array, ep: Endpoint): void;
  /** A fresh local index bound to `peer`. */
  allocIndex(peer: Peer): number;
  /** Binds an index to a key pair. */
  bindIndex(index: number, peer: Peer, kp: Keypair): void;
  freeIndex(index: number): void;
  /** Reports a completed handshake. */
  handshakeComplete(peer: Peer, initiator: boolean): void;
}

/** Options of {@link WireGuardServer.addPeer}. */
export interface PeerOptions {
  /** The peer's public key (WireGuard base64). */
  publicKey: string;
  /** Optional preshared key (base64). */
  presharedKey?: string;
  /** Prefixes the peer may use as source, and that route to it (e.g. `['10.0.0.2/32']`). */
  allowedIps: Array<string | Prefix>;
  /** Where to reach the peer (`host:port`, `[v6]:port` or an object). Makes us able to initiate. */
  endpoint?: string | Endpoint;
  /** Persistent keepalive interval in seconds (0 or absent: off). */
  persistentKeepalive?: number;
}

/** A peer's public state, for `wg show`-like output. */
export interface PeerInfo {
  publicKey: string;
  endpoint: Endpoint | undefined;
  allowedIps: string[];
  /** Time (clock ms) of the last completed handshake, if any. */
  lastHandshake: number | undefined;
  stats: PeerStats;
}

const nonce = Buffer.alloc(12);
const scratch = Buffer.alloc(65536 + 16);
const AUTH = { authTagLength: 16 } as const;

/** Parses an endpoint string `host:port` / `[v6]:port`. Throws {@link ConfigError} `ERR_BAD_ENDPOINT`. */
export function parseEndpoint(ep: string | Endpoint): Endpoint {
  if (typeof ep === 'object' && ep !== null) {
    if (typeof ep.address === 'string' && Number.isInteger(ep.port) && ep.port > 0 && ep.port < 65536)
      return { address: ep.address, port: ep.port };
  } else if (typeof ep === 'string') {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(ep) ?? /^([^:]+):(\d+)$/.exec(ep);
    if (m) {
      const port = Number(m[2]);
      if (port > 0 && port < 65536) return { address: m[1], port };
    }
  }
  throw new ConfigError('ERR_BAD_ENDPOINT', `bad endpoint: ${JSON.stringify(ep)}`);
}

/**
 * A WireGuard peer. Create it with {@link WireGuardServer.addPeer}, which attaches it to the
 * server's connector.
 */
export class Peer implements L3Device {
  /** Counters. */
  readonly stats: PeerStats = {
    txPackets: 0,
    txBytes: 0,
    rxPackets: 0,
    rxBytes: 0,
    keepalivesSent: 0,
    keepalivesReceived: 0,
    handshakesInitiated: 0,
    handshakesCompleted: 0,
    cookiesReceived: 0,
    badSource: 0,
    malformed: 0,
    replay: 0,
    decryptFailed: 0,
    expired: 0,
    noEndpoint: 0,
    queueDropped: 0,
    handshakeRejected: 0,
    tooBig: 0,
    closed: 0,
  };
  /** The peer's public key, base64. */
  readonly publicKey: string;
  /** The peer's allowed IPs (source check on receive). */
  readonly allowedIps = new AllowedIps<true>();
  /** Time (clock ms) of the last completed handshake. */
  lastHandshake: number | undefined;
  /** @internal */
  readonly handshake: Handshake;
  /** @internal */
  readonly cookies: CookieGenerator;
  /** @internal */
  current: Keypair | undefined;
  /** @internal */
  previous: Keypair | undefined;
  /** @internal */
  next: Keypair | undefined;

  private ep: Endpoint | undefined;
  private handler: PacketHandler = discard;
  private isClosed = false;
  private readonly timers: PeerTimers;
  private readonly queue: Uint8Array[] = [];
  private attemptStart = Number.NEGATIVE_INFINITY;
  private lastInitiationAt = Number.NEGATIVE_INFINITY;
  private lastTimestampMs = Number.NEGATIVE_INFINITY;
  private readonly keepaliveMs: number;
  private firstAddr: Prefix | undefined;

  /** @internal Use {@link WireGuardServer.addPeer}. */
  constructor(
    private readonly host: PeerHost,
    remoteStatic: Uint8Array,
    opts: PeerOptions,
    psk: Uint8Array | undefined,
  ) {
    this.publicKey = encodeKey(remoteStatic);
    this.handshake = new Handshake(host.identity, remoteStatic, psk);
    this.cookies = new CookieGenerator(
      this.handshake.remoteMac1Key,
      this.handshake.remoteCookieKey,
      host.clock,
    );
    for (const p of opts.allowedIps) {
      const pre = typeof p === 'string' ? Prefix.tryParse(p) : p;
      if (!(pre instanceof Prefix))
        throw new ConfigError('ERR_BAD_PREFIX', `bad allowed IP: ${JSON.stringify(p)}`);
      this.allowedIps.insert(pre, true);
      this.firstAddr ??= pre;
    }
    if (opts.endpoint !== undefined) this.ep = parseEndpoint(opts.endpoint);
    const ka = opts.persistentKeepalive ?? 0;
    if (!Number.isInteger(ka) || ka < 0 || ka > 65535)
      throw new ConfigError('ERR_BAD_OPTION', `persistentKeepalive must be 0..65535 seconds, got ${ka}`);
    this.keepaliveMs = ka * 1000;
    this.timers = new PeerTimers(host.scheduler, (s) => this.onTimer(s));
  }

  // ------------------------------------------------------------------ L3Device

  /** Where decrypted packets from the remote go. */
  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }

  /** The first allowed-IP prefix. */
  addr(): Prefix | undefined {
    return this.firstAddr;
  }

  /** Adds `prefix` to the allowed IPs and makes it the {@link addr}. */
  setAddr(prefix: Prefix): void {
    this.allowedIps.insert(prefix, true);
    this.firstAddr = prefix;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Stops timers and erases keys. Packets sent afterwards are dropped and counted. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.timers.stop();
    this.zeroKeys();
    this.stats.queueDropped += this.queue.length;
    this.queue.length = 0;
    this.handler = discard;
  }

  /**
   * An IP packet to tunnel to the remote. Encrypted and sent at once with a valid session;
   * otherwise queued (copied) and a handshake is started. Never throws for packet content.
   */
  send(pkt: Uint8Array): void {
    if (this.isClosed) {
      this.stats.closed++;
      return;
    }
    const v = pkt.length > 0 ? pkt[0] >> 4 : 0;
    if ((v !== 4 || pkt.length < 20) && (v !== 6 || pkt.length < 40)) {
      this.stats.malformed++;
      return;
    }
    if (pkt.length > MAX_PLAINTEXT) {
      this.stats.tooBig++;
      return;
    }
    this.sendData(pkt, false);
  }

  // ------------------------------------------------------------------ public info

  /** The current endpoint (updated by roaming). */
  get endpoint(): Endpoint | undefined {
    return this.ep;
  }

  /** Sets the endpoint. */
  setEndpoint(ep: string | Endpoint): void {
    this.ep = parseEndpoint(ep);
  }

  /** A snapshot for display. */
  info(): PeerInfo {
    return {
      publicKey: this.publicKey,
      endpoint: this.ep ? { ...this.ep } : undefined,
      allowedIps: this.allowedIps.list().map((e) => e.prefix.toString()),
      lastHandshake: this.lastHandshake,
      stats: { ...this.stats },
    };
  }

  /** Whether a session usable for sending exists. */
  hasSession(): boolean {
    const kp = this.current;
    return !!kp && this.host.clock.now() - kp.created < REJECT_AFTER_TIME && kp.sendCounter < MAX_COUNTER;
  }

  /** Starts a handshake now (rate-limited to one per REKEY_TIMEOUT while one is in flight). */
  initiateHandshake(): void {
    this.beginHandshake(false);
  }

  /** Sends a keepalive (an empty transport message), starting a handshake if there is no session. */
  sendKeepalive(): void {
    if (this.isClosed) return;
    this.sendData(EMPTY_PKT, true);
  }

  // ------------------------------------------------------------------ send path

  private sendData(pkt: Uint8Array, keepalive: boolean): void {
    const now = this.host.clock.now();
    const kp = this.current;
    if (!kp || now - kp.created >= REJECT_AFTER_TIME || kp.sendCounter >= MAX_COUNTER) {
      if (!keepalive) {
        if (this.queue.length >= MAX_QUEUED_PACKETS) {
          this.queue.shift();
          this.stats.queueDropped++;
        }
        this.queue.push(Uint8Array.from(pkt));
      }
      // A responder awaiting the initiator's first message keeps waiting for it.
      const nx = this.next;
      if (!nx || now - nx.created >= REKEY_TIMEOUT) this.beginHandshake(false);
      return;
    }
    const ep = this.ep;
    if (!ep) {
      this.stats.noEndpoint++;
      return;
    }
    const len = pkt.length;
    const padded = (len + 15) & ~15;
    const out = Buffer.allocUnsafe(TRANSPORT_HEADER_LEN + padded + TAG_LEN);
    out[0] = MessageType.Transport;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    writeU32le(out, Transport.receiver, kp.remoteIndex);
    const counter = kp.sendCounter++;
    writeU64le(out, Transport.counter, counter);
    const aead = this.host.aead;
    const key = kp.sendKey;
    if (key) {
      // native addon: encrypt in place in the datagram, no other allocation
      out.set(pkt, TRANSPORT_HEADER_LEN);
      out.fill(0, TRANSPORT_HEADER_LEN + len, TRANSPORT_HEADER_LEN + padded);
      key.seal(counter, out, TRANSPORT_HEADER_LEN, padded);
    } else if (aead) {
      // TypeScript AEAD: encrypt in place in the datagram, no other allocation
      out.set(pkt, TRANSPORT_HEADER_LEN);
      out.fill(0, TRANSPORT_HEADER_LEN + len, TRANSPORT_HEADER_LEN + padded);
      aead.seal(kp.sendWords, counter, out, TRANSPORT_HEADER_LEN, padded, out, TRANSPORT_HEADER_LEN);
    } else {
      writeU64le(nonce, 4, counter);
      scratch.set(pkt, 0);
      scratch.fill(0, len, padded);
      const c = createCipheriv('chacha20-poly1305', kp.send, nonce, AUTH);
      const ct = c.update(scratch.subarray(0, padded));
      out.set(ct, TRANSPORT_HEADER_LEN);
      c.final();
      out.set(c.getAuthTag(), TRANSPORT_HEADER_LEN + padded);
    }
    this.host.sendUdp(out, ep);
    const s = this.stats;
    s.txBytes += out.length;
    if (keepalive) s.keepalivesSent++;
    else s.txPackets++;
    // timers: any packet sent cancels the passive keepalive; data expects a reply
    this.timers.clear(TimerSlot.SendKeepalive);
    if (!keepalive) this.timers.setIfIdle(TimerSlot.NewHandshake, now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
    if (this.keepaliveMs > 0) this.timers.set(TimerSlot.PersistentKeepalive, now + this.keepaliveMs);
    if (kp.initiator && (now - kp.created >= REKEY_AFTER_TIME || kp.sendCounter >= REKEY_AFTER_MESSAGES))
      this.beginHandshake(false);
  }

  private flushQueue(): void {
    if (this.queue.length === 0) return;
    const q = this.queue.splice(0, this.queue.length);
    for (const p of q) this.sendData(p, false);
  }

  // ------------------------------------------------------------------ receive path

  /** @internal A transport message for key pair `kp` (already matched by receiver index). */
  receiveTransport(kp: Keypair, msg: Uint8Array, address: string, port: number): void {
    const s = this.stats;
    if (this.isClosed) {
      s.closed++;
      return;
    }
    const now = this.host.clock.now();
    const counter = readU64le(msg, Transport.counter);
    if (now - kp.created >= REJECT_AFTER_TIME || counter >= MAX_COUNTER) {
      s.expired++;
      return;
    }
    if (!kp.replay.check(counter)) {
      s.replay++;
      return;
    }
    const end = msg.length - TAG_LEN;
    const ctLen = end - TRANSPORT_HEADER_LEN;
    const aead = this.host.aead;
    const key = kp.recvKey;
    let pt: Uint8Array;
    if (key || aead) {
      // addon or TypeScript AEAD: decrypt into the shared receive buffer (a fresh one when
      // re-entered); the datagram itself is only read
      const host = this.host;
      const buf =
        host.rxDepth === 0 && ctLen <= host.rxScratch.length ? host.rxScratch : new Uint8Array(ctLen);
      const ok = key
        ? key.open(counter, msg, TRANSPORT_HEADER_LEN, ctLen, buf, 0)
        : (aead as ChaChaPoly).open(kp.recvWords, counter, msg, TRANSPORT_HEADER_LEN, ctLen, buf, 0);
      if (!ok) {
        s.decryptFailed++;
        return;
      }
      pt = buf;
    } else {
      writeU64le(nonce, 4, counter);
      try {
        const d = createDecipheriv('chacha20-poly1305', kp.recv, nonce, AUTH);
        d.setAuthTag(msg.subarray(end));
        pt = d.update(msg.subarray(TRANSPORT_HEADER_LEN, end));
        d.final();
      } catch {
        s.decryptFailed++;
        return;
      }
    }
    if (!kp.replay.update(counter)) {
      s.replay++;
      return;
    }
    s.rxBytes += msg.length;
    // roaming: authenticated packets move the endpoint (whitepaper §2.1)
    const ep = this.ep;
    if (!ep || ep.port !== port || ep.address !== address) this.ep = { address, port };
    if (kp === this.next) this.promoteNext();
    this.timers.clear(TimerSlot.NewHandshake);
    if (this.keepaliveMs > 0) this.timers.set(TimerSlot.PersistentKeepalive, now + this.keepaliveMs);
    if (
      kp === this.current &&
      kp.initiator &&
      now - kp.created >= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT &&
      this.handshake.state !== HandshakeState.InitiationCreated
    )
      this.beginHandshake(false);
    if (ctLen === 0) {
      s.keepalivesReceived++;
      return;
    }
    this.timers.setIfIdle(TimerSlot.SendKeepalive, now + KEEPALIVE_TIMEOUT);
    const v = pt[0] >> 4;
    let ipLen = 0;
    if (v === 4 && ctLen >= 20) ipLen = (pt[2] << 8) | pt[3];
    else if (v === 6 && ctLen >= 40) ipLen = 40 + ((pt[4] << 8) | pt[5]);
    if (ipLen < (v === 4 ? 20 : 40) || ipLen > ctLen) {
      s.malformed++;
      return;
    }
    if (this.allowedIps.lookupPacket(pt, 'src') !== true) {
      s.badSource++;
      return;
    }
    s.rxPackets++;
    // Emit a plain Uint8Array view, not a Buffer: Buffer#slice does not copy, which surprises
    // consumers that expect Uint8Array semantics.
    const host = this.host;
    host.rxDepth++;
    try {
      this.handler(new Uint8Array(pt.buffer, pt.byteOffset, ipLen));
    } finally {
      host.rxDepth--;
    }
  }

  private promoteNext(): void {
    const kp = this.next as Keypair;
    if (this.previous) this.dropKeypair(this.previous);
    this.previous = this.current;
    this.current = kp;
    this.next = undefined;
    this.host.handshakeComplete(this, false);
    this.flushQueue();
  }

  // ------------------------------------------------------------------ handshake

  private beginHandshake(retry: boolean): void {
    if (this.isClosed) return;
    const now = this.host.clock.now();
    const hs = this.handshake;
    if (!retry) {
      if (hs.state === HandshakeState.InitiationCreated) return; // retransmission timer handles it
      if (now - this.lastInitiationAt < REKEY_TIMEOUT) return;
      this.attemptStart = now;
    } else if (now - this.attemptStart >= REKEY_ATTEMPT_TIME) {
      // give up (whitepaper §6.4): drop queued packets
      this.stats.queueDropped += this.queue.length;
      this.queue.length = 0;
      if (hs.localIndex) this.host.freeIndex(hs.localIndex);
      hs.clear();
      return;
    }
    const ep = this.ep;
    if (!ep) {
      this.stats.noEndpoint++;
      return;
    }
    if (hs.localIndex && hs.state === HandshakeState.InitiationCreated) this.host.freeIndex(hs.localIndex);
    const idx = this.host.allocIndex(this);
    const tsMs = Math.max(now, this.lastTimestampMs + 1);
    this.lastTimestampMs = tsMs;
    const msg = createInitiation(hs, idx, tai64n(tsMs));
    if (!msg) {
      this.host.freeIndex(idx);
      return;
    }
    this.cookies.addMacs(msg);
    this.lastInitiationAt = now;
    this.stats.handshakesInitiated++;
    this.host.sendUdp(msg, ep);
    this.timers.set(TimerSlot.Retransmit, now + REKEY_TIMEOUT + randomInt(REKEY_TIMEOUT_JITTER_MAX));
  }

  /** @internal An initiation from this peer decrypted up to its static key. */
  consumeInitiation(opened: InitiationOpened, address: string, port: number): boolean {
    if (this.isClosed) return false;
    const hs = this.handshake;
    const pendingIndex = hs.state === HandshakeState.InitiationCreated ? hs.localIndex : 0;
    if (!opened.finish(hs)) {
      // bad or replayed timestamp: our own handshake in flight (if any) is untouched
      this.stats.handshakeRejected++;
      return false;
    }
    // An initiation from the remote supersedes ours (both sides initiating at once).
    if (pendingIndex) this.host.freeIndex(pendingIndex);
    this.ep = { address, port };
    const idx = this.host.allocIndex(this);
    const r = createResponse(hs, idx);
    if (!r) {
      this.host.freeIndex(idx);
      return false;
    }
    this.cookies.addMacs(r.msg);
    const kp = new Keypair(r.keys, this.host.clock.now(), this.host.backend);
    if (this.next) this.dropKeypair(this.next);
    this.next = kp;
    this.host.bindIndex(idx, this, kp);
    this.timers.clear(TimerSlot.Retransmit);
    this.timers.set(TimerSlot.ZeroKeys, this.host.clock.now() + 3 * REJECT_AFTER_TIME);
    this.host.sendUdp(r.msg, this.ep);
    return true;
  }

  /** @internal A response addressed to our pending initiation (mac1 already checked). */
  consumeResponse(msg: Uint8Array, address: string, port: number): boolean {
    if (this.isClosed) return false;
    const keys = consumeResponse(this.handshake, msg);
    if (!keys) {
      this.stats.handshakeRejected++;
      return false;
    }
    const now = this.host.clock.now();
    const kp = new Keypair(keys, now, this.host.backend);
    if (this.previous) this.dropKeypair(this.previous);
    if (this.next) {
      this.previous = this.next;
      this.next = undefined;
      if (this.current) this.dropKeypair(this.current);
    } else {
      this.previous = this.current;
    }
    this.current = kp;
    this.host.bindIndex(kp.localIndex, this, kp);
    this.ep = { address, port };
    this.timers.clear(TimerSlot.Retransmit);
    this.timers.set(TimerSlot.ZeroKeys, now + 3 * REJECT_AFTER_TIME);
    this.host.handshakeComplete(this, true);
    // Confirm the session to the responder: queued data, or a keepalive.
    if (this.queue.length > 0) this.flushQueue();
    else this.sendKeepalive();
    return true;
  }

  /** @internal Marks that a completed handshake was counted. */
  noteHandshake(now: number): void {
    this.lastHandshake = now;
    this.stats.handshakesCompleted++;
  }

  // ------------------------------------------------------------------ timers

  private onTimer(slot: number): void {
    switch (slot) {
      case TimerSlot.Retransmit:
        if (this.handshake.state === HandshakeState.InitiationCreated) this.beginHandshake(true);
        break;
      case TimerSlot.SendKeepalive:
        if (this.hasSession()) this.sendKeepalive();
        break;
      case TimerSlot.NewHandshake:
        this.beginHandshake(false);
        break;
      case TimerSlot.ZeroKeys:
        this.zeroKeys();
        break;
      case TimerSlot.PersistentKeepalive:
        this.sendKeepalive();
        break;
    }
  }

  /** Forgets a key pair for good: its index is freed and its keys are erased. */
  private dropKeypair(kp: Keypair): void {
    this.host.freeIndex(kp.localIndex);
    kp.erase();
  }

  private zeroKeys(): void {
    for (const kp of [this.previous, this.current, this.next]) if (kp) this.dropKeypair(kp);
    if (this.handshake.localIndex) this.host.freeIndex(this.handshake.localIndex);
    this.previous = this.current = this.next = undefined;
    this.handshake.clear();
  }

  /** @internal Starts the persistent keepalive (called when the peer is added with one and an endpoint). */
  start(): void {
    if (this.keepaliveMs > 0 && this.ep) this.sendKeepalive();
  }
}

const EMPTY_PKT = new Uint8Array(0);
