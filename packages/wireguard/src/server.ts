/**
 * {@link WireGuardServer}: a userspace WireGuard interface on a `node:dgram` socket whose peers
 * are {@link L3Device}s attached to an {@link L3Connector} (a NAT, a hub, ...). The same class is a
 * client when a peer has an `endpoint`.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import {
  type Clock,
  ClosedError,
  ConfigError,
  defaultScheduler,
  type L3Connector,
  type Scheduler,
  systemClock,
} from '@l3kit/core';
import { parseIp } from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';
import { AllowedIps } from './allowed-ips.js';
import { ChaChaPoly } from './chacha20poly1305.js';
import { DEFAULT_HANDSHAKE_LOAD_THRESHOLD, MessageType, UNDER_LOAD_AFTER_TIME } from './constants.js';
import { CookieChecker } from './cookie.js';
import { decodeKey, encodeKey } from './keys.js';
import { Cookie, Init, messageType, Resp, readU32le, Transport } from './messages.js';
import { loadNativeAead, nativeAeadUnavailableReason } from './native-aead.js';
import { openInitiation, StaticIdentity } from './noise.js';
import {
  type CipherBackend,
  type Endpoint,
  type Keypair,
  Peer,
  type PeerHost,
  type PeerOptions,
} from './peer.js';
import { HandshakeRateLimiter } from './rate-limiter.js';

/** Sends UDP datagrams for a server; replace the socket for tests or custom transports. */
export interface UdpTransport {
  send(msg: Uint8Array, port: number, address: string): void;
  close(): void;
}

/** Options of {@link WireGuardServer}. */
export interface WireGuardServerOptions {
  /** Our private key (WireGuard base64). */
  privateKey: string;
  /** UDP port to listen on (0: ephemeral). Ignored with `transport`. */
  listenPort?: number;
  /** Address to bind (default `0.0.0.0`; use `::` for dual stack). */
  listenAddress?: string;
  /** Where peers are attached (`connector.connectL3(peer)`). Without one, peers are only returned. */
  connector?: L3Connector;
  /** Time source (default: system clock). */
  clock?: Clock;
  /** Timer source (default: a scheduler for `clock`). */
  scheduler?: Scheduler;
  /**
   * A custom datagram transport instead of a UDP socket. Incoming datagrams are then passed to
   * {@link WireGuardServer.receive}.
   */
  transport?: UdpTransport;
  /** Handshake messages per second above which mac2 (a cookie) is required. 0: always under load. */
  handshakeLoadThreshold?: number;
  /**
   * Transport-data AEAD (handshakes always use `node:crypto`); see {@link CipherBackend}:
   * - `'native'` (default): the native addon when it is built, else `node:crypto`
   *   ({@link WireGuardServer.cipherBackend} tells which);
   * - `'addon'`: the native addon, or throw {@link ConfigError} `ERR_CIPHER_UNAVAILABLE`;
   * - `'node-crypto'`: `createCipheriv` / `createDecipheriv` per packet (allocates per packet);
   * - `'js'`: l3kit's TypeScript ChaCha20-Poly1305, in place, almost no allocation.
   */
  cipher?: 'native' | CipherBackend;
}

/** Server-wide counters (drops by reason). */
export interface WireGuardServerStats {
  received: number;
  /** Wrong type, reserved bytes or length. */
  malformed: number;
  badMac1: number;
  /** Handshake messages answered with a cookie reply (under load, no valid mac2). */
  cookieRepliesSent: number;
  /** Handshake messages dropped under load because their source exceeded its rate (20/s, burst 5). */
  rateLimited: number;
  /** Initiations that did not decrypt. */
  handshakeFailed: number;
  /** Initiations from a static key that is not a peer. */
  unknownPeer: number;
  /** Messages with a receiver index we do not know. */
  unknownIndex: number;
  /** Packets routed with {@link WireGuardServer.route} that match no peer. */
  noRoute: number;
  /** Datagrams that could not be sent (socket error). */
  sendErrors: number;
}

/** Events of a {@link WireGuardServer}. */
export interface WireGuardServerEvents {
  /** A handshake completed (`initiator`: whether we initiated it). */
  handshake: (peer: Peer, initiator: boolean) => void;
  peerAdded: (peer: Peer) => void;
  peerRemoved: (peer: Peer) => void;
  /** A socket error. */
  error: (err: Error) => void;
}

/** Resolves the `cipher` option to a backend (throws {@link ConfigError} for a bad or unavailable one). */
function chooseBackend(cipher: WireGuardServerOptions['cipher']): CipherBackend {
  switch (cipher) {
    case 'native':
      return loadNativeAead() ? 'addon' : 'node-crypto';
    case 'addon':
      if (!loadNativeAead())
        throw new ConfigError('ERR_CIPHER_UNAVAILABLE', `@l3kit/wireguard: ${nativeAeadUnavailableReason()}`);
      return 'addon';
    case 'node-crypto':
    case 'js':
      return cipher;
    default:
      throw new ConfigError(
        'ERR_BAD_OPTION',
        `cipher must be 'native', 'addon', 'node-crypto' or 'js', got ${String(cipher)}`,
      );
  }
}

interface IndexEntry {
  peer: Peer;
  keypair: Keypair | undefined;
}

/**
 * A WireGuard interface.
 *
 * ```ts
 * const nat = new Nat({ inside: '10.0.0.1/24', outside: '203.0.113.1/24' });
 * const wg = new WireGuardServer({ privateKey: genkey(), listenPort: 51820, connector: nat });
 * await wg.ready;
 * wg.addPeer({ publicKey: clientPub, allowedIps: ['10.0.0.2/32'] });
 * ```
 */
export class WireGuardServer extends EventEmitter<WireGuardServerEvents> {
  /** Counters. */
  readonly stats: WireGuardServerStats = {
    received: 0,
    malformed: 0,
    badMac1: 0,
    cookieRepliesSent: 0,
    rateLimited: 0,
    handshakeFailed: 0,
    unknownPeer: 0,
    unknownIndex: 0,
    noRoute: 0,
    sendErrors: 0,
  };
  /** Resolves when the socket is bound (at once with a custom transport). */
  readonly ready: Promise<void>;
  /** Our public key (base64). */
  readonly publicKey: string;

  private readonly host: PeerHost;
  private readonly identity: StaticIdentity;
  private readonly checker: CookieChecker;
  private readonly clock: Clock;
  private readonly peers = new Map<string, { peer: Peer; cleanup: (() => void) | undefined }>();
  private readonly indices = new Map<number, IndexEntry>();
  private readonly routes = new AllowedIps<Peer>();
  private readonly connector: L3Connector | undefined;
  private readonly transport: UdpTransport;
  private boundPort = 0;
  private isClosed = false;
  private readonly loadThreshold: number;
  private loadWindowStart = Number.NEGATIVE_INFINITY;
  private loadCount = 0;
  private underLoadUntil = Number.NEGATIVE_INFINITY;
  private readonly limiter: HandshakeRateLimiter;

  /**
   * Throws {@link ConfigError} `ERR_BAD_KEY` for a bad private key, `ERR_BAD_OPTION` for a bad
   * port or threshold.
   */
  constructor(opts: WireGuardServerOptions) {
    super();
    const priv = decodeKey(opts.privateKey, 'privateKey');
    this.identity = new StaticIdentity(priv);
    this.publicKey = encodeKey(this.identity.publicKey);
    this.clock = opts.clock ?? opts.scheduler?.clock ?? systemClock();
    const scheduler = defaultScheduler(this.clock, opts.scheduler);
    this.checker = new CookieChecker(this.identity.mac1Key, this.identity.cookieKey, this.clock);
    this.limiter = new HandshakeRateLimiter(this.clock);
    this.connector = opts.connector;
    const lt = opts.handshakeLoadThreshold ?? DEFAULT_HANDSHAKE_LOAD_THRESHOLD;
    if (!(lt >= 0)) throw new ConfigError('ERR_BAD_OPTION', `handshakeLoadThreshold must be >= 0, got ${lt}`);
    this.loadThreshold = lt;
    const backend = chooseBackend(opts.cipher ?? 'native');
    this.host = {
      identity: this.identity,
      clock: this.clock,
      scheduler,
      backend,
      aead: backend === 'js' ? new ChaChaPoly() : null,
      rxScratch: new Uint8Array(65536),
      rxDepth: 0,
      sendUdp: (msg, ep) => this.sendUdp(msg, ep),
      allocIndex: (peer) => this.allocIndex(peer),
      bindIndex: (index, peer, kp) => {
        this.indices.set(index, { peer, keypair: kp });
      },
      freeIndex: (index) => {
        this.indices.delete(index);
      },
      handshakeComplete: (peer, initiator) => {
        peer.noteHandshake(this.clock.now());
        this.emit('handshake', peer, initiator);
      },
    };
    if (opts.transport) {
      this.transport = opts.transport;
      this.ready = Promise.resolve();
    } else {
      const port = opts.listenPort ?? 0;
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new ConfigError('ERR_BAD_OPTION', `listenPort must be 0..65535, got ${port}`);
      const addr = opts.listenAddress ?? '0.0.0.0';
      const sock = createSocket({ type: isIPv6(addr) ? 'udp6' : 'udp4' });
      sock.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
      sock.on('error', (err) => this.emit('error', err));
      this.ready = new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(port, addr, () => {
          sock.off('error', reject);
          this.boundPort = sock.address().port;
          resolve();
        });
      });
      this.ready.catch(() => {});
      this.transport = {
        send: (msg, p, a) =>
          sock.send(msg, p, a, (err) => {
            if (err) this.stats.sendErrors++;
          }),
        close: () => sock.close(),
      };
    }
  }

  /**
   * Which AEAD encrypts transport data: `'addon'` (the native addon, no allocation per packet),
   * `'node-crypto'` (option `'native'` without a built addon, or asked for) or `'js'`.
   */
  get cipherBackend(): CipherBackend {
    return this.host.backend;
  }

  /** The bound UDP port (after {@link ready}). */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Adds a peer, attaches it to the connector and returns it. Throws {@link ConfigError}
   * `ERR_BAD_KEY` for bad keys, `ERR_PEER_EXISTS` for a duplicate, `ERR_BAD_PREFIX` /
   * `ERR_BAD_ENDPOINT` / `ERR_BAD_OPTION` for bad options, {@link ClosedError} when closed.
   */
  addPeer(opts: PeerOptions): Peer {
    if (this.isClosed) throw new ClosedError('WireGuardServer');
    const pub = decodeKey(opts.publicKey, 'publicKey');
    const key = encodeKey(pub);
    if (this.peers.has(key)) throw new ConfigError('ERR_PEER_EXISTS', `peer ${key} already exists`);
    if (key === this.publicKey) throw new ConfigError('ERR_BAD_KEY', 'a peer cannot have our own public key');
    const psk = opts.presharedKey !== undefined ? decodeKey(opts.presharedKey, 'presharedKey') : undefined;
    if (!Array.isArray(opts.allowedIps))
      throw new ConfigError('ERR_BAD_PREFIX', 'allowedIps must be an array of prefixes');
    const peer = new Peer(this.host, pub, opts, psk);
    for (const { prefix } of peer.allowedIps.list()) this.routes.insert(prefix, peer);
    const entry: { peer: Peer; cleanup: (() => void) | undefined } = { peer, cleanup: undefined };
    this.peers.set(key, entry);
    if (this.connector) {
      try {
        entry.cleanup = this.connector.connectL3(peer);
      } catch (e) {
        this.peers.delete(key);
        this.routes.removeValue(peer);
        peer.close();
        throw e;
      }
    }
    this.emit('peerAdded', peer);
    peer.start();
    return peer;
  }

  /** Removes a peer: detaches it from the connector (freeing its state there) and erases its keys. False if unknown. */
  removePeer(publicKey: string): boolean {
    const e = this.peers.get(publicKey);
    if (!e) return false;
    this.peers.delete(publicKey);
    this.routes.removeValue(e.peer);
    e.cleanup?.();
    e.peer.close();
    for (const [i, ie] of this.indices) if (ie.peer === e.peer) this.indices.delete(i);
    this.emit('peerRemoved', e.peer);
    return true;
  }

  /** The peer with this public key. */
  peer(publicKey: string): Peer | undefined {
    return this.peers.get(publicKey)?.peer;
  }

  /** All peers. */
  listPeers(): Peer[] {
    return [...this.peers.values()].map((e) => e.peer);
  }

  /**
   * Cryptokey routing for outgoing packets: sends `pkt` to the peer whose allowed IPs match its
   * destination best (with overlapping prefixes, the most recently added peer). False (counted as
   * `noRoute`) if none matches.
   */
  route(pkt: Uint8Array): boolean {
    const p = this.routes.lookupPacket(pkt, 'dst');
    if (!p) {
      this.stats.noRoute++;
      return false;
    }
    p.send(pkt);
    return true;
  }

  /** Whether handshake messages currently need a valid mac2 (cookie). */
  underLoad(): boolean {
    return this.loadThreshold === 0 || this.clock.now() < this.underLoadUntil;
  }

  /** Closes the socket and all peers (their connector cleanups run). */
  close(): void {
    if (this.isClosed) return;
    for (const k of [...this.peers.keys()]) this.removePeer(k);
    this.isClosed = true;
    try {
      this.transport.close();
    } catch {
      // already closed
    }
  }

  // ------------------------------------------------------------------ receive path

  /**
   * One UDP datagram from `address`:`port`. The socket calls this; custom transports call it
   * directly. Never throws for datagram content: bad datagrams are dropped and counted.
   */
  receive(msg: Uint8Array, address: string, port: number): void {
    if (this.isClosed) return;
    const s = this.stats;
    s.received++;
    const t = messageType(msg);
    if (t === MessageType.Transport) {
      const e = this.indices.get(readU32le(msg, Transport.receiver));
      if (!e?.keypair) {
        s.unknownIndex++;
        return;
      }
      e.peer.receiveTransport(e.keypair, msg, address, port);
      return;
    }
    if (t === 0) {
      s.malformed++;
      return;
    }
    if (t === MessageType.CookieReply) {
      const e = this.indices.get(readU32le(msg, Cookie.receiver));
      if (!e) {
        s.unknownIndex++;
        return;
      }
      if (e.peer.cookies.consumeReply(msg)) e.peer.stats.cookiesReceived++;
      return;
    }
    // handshake messages: mac1, then mac2 under load
    if (!this.checker.checkMac1(msg)) {
      s.badMac1++;
      return;
    }
    this.countHandshake();
    if (this.underLoad()) {
      const src = sourceBytes(address, port);
      if (!src) {
        s.malformed++;
        return;
      }
      if (!this.checker.checkMac2(msg, src)) {
        const sender = readU32le(msg, t === MessageType.Initiation ? Init.sender : Resp.sender);
        this.sendUdp(this.checker.createReply(msg, sender, src), { address, port });
        s.cookieRepliesSent++;
        return;
      }
      // The source is proven (mac2): now bound how fast it may make us do handshake work.
      if (!this.limiter.allow(address)) {
        s.rateLimited++;
        return;
      }
    }
    if (t === MessageType.Initiation) {
      const opened = openInitiation(this.identity, msg);
      if (!opened) {
        s.handshakeFailed++;
        return;
      }
      const e = this.peers.get(encodeKey(opened.remoteStatic));
      if (!e) {
        s.unknownPeer++;
        return;
      }
      e.peer.consumeInitiation(opened, address, port);
      return;
    }
    // response
    const e = this.indices.get(readU32le(msg, Resp.receiver));
    if (!e || e.keypair) {
      s.unknownIndex++;
      return;
    }
    e.peer.consumeResponse(msg, address, port);
  }

  private countHandshake(): void {
    const now = this.clock.now();
    if (now - this.loadWindowStart >= 1000) {
      this.loadWindowStart = now;
      this.loadCount = 0;
    }
    if (++this.loadCount > this.loadThreshold) this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
  }

  private sendUdp(msg: Uint8Array, ep: Endpoint): void {
    try {
      this.transport.send(msg, ep.port, ep.address);
    } catch {
      this.stats.sendErrors++;
    }
  }

  private allocIndex(peer: Peer): number {
    for (;;) {
      const i = randomBytes(4).readUInt32LE(0);
      if (i !== 0 && !this.indices.has(i)) {
        this.indices.set(i, { peer, keypair: undefined });
        return i;
      }
    }
  }
}

/** Source address bytes for cookies: IP bytes then the port (little-endian, as wireguard-go). */
function sourceBytes(address: string, port: number): Uint8Array | null {
  const a = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  const ip = parseIp(a);
  if (!ip) return null;
  const b = new Uint8Array(ip.length + 2);
  b.set(ip);
  b[ip.length] = port;
  b[ip.length + 1] = port >>> 8;
  return b;
}
