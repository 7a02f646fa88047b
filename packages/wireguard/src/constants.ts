/**
 * WireGuard constants. Specification constants are from the WireGuard whitepaper (Donenfeld,
 * "WireGuard: Next Generation Kernel Network Tunnel", §5.4 and §6.1); implementation constants
 * are l3kit's choices (wireguard-go `device/constants.go` values where it has one).
 */

// ---- specification (whitepaper §5.4, §6.1)

/** The Noise protocol name, hashed into the initial chaining key. */
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
/** The WireGuard identifier, mixed into the initial hash. */
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
/** Label of the mac1 key: `HASH(LABEL_MAC1 || Spub)`. */
export const LABEL_MAC1 = 'mac1----';
/** Label of the cookie key: `HASH(LABEL_COOKIE || Spub)`. */
export const LABEL_COOKIE = 'cookie--';

/** Rekey once this many messages were sent on a key pair (2^60). */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** Never use a key pair for more than this many messages (2^64 − 2^13 − 1). */
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
/** The initiator rekeys when its key pair is older than this (ms). */
export const REKEY_AFTER_TIME = 120_000;
/** Key pairs older than this are not used to send or receive (ms). */
export const REJECT_AFTER_TIME = 180_000;
/** Handshake attempts stop after this long (ms). */
export const REKEY_ATTEMPT_TIME = 90_000;
/** Retransmit a handshake initiation after this long without a response (ms), plus jitter. */
export const REKEY_TIMEOUT = 5_000;
/** Send a keepalive when nothing was sent this long after a received data packet (ms). */
export const KEEPALIVE_TIMEOUT = 10_000;
/** Cookies and the cookie secret are valid this long (ms). */
export const COOKIE_REFRESH_TIME = 120_000;
/** Maximum jitter added to handshake retransmissions (ms). */
export const REKEY_TIMEOUT_JITTER_MAX = 334;

// ---- message types and sizes (whitepaper §5.4.2–§5.4.7)

/** Message type bytes. */
export const MessageType = {
  Initiation: 1,
  Response: 2,
  CookieReply: 3,
  Transport: 4,
} as const;

/** Size of a handshake initiation. */
export const INITIATION_LEN = 148;
/** Size of a handshake response. */
export const RESPONSE_LEN = 92;
/** Size of a cookie reply. */
export const COOKIE_REPLY_LEN = 64;
/** Size of a transport data header (type, reserved, receiver, counter). */
export const TRANSPORT_HEADER_LEN = 16;
/** Poly1305 tag length. */
export const TAG_LEN = 16;
/** Smallest valid transport message (a keepalive: header + tag). */
export const TRANSPORT_MIN_LEN = TRANSPORT_HEADER_LEN + TAG_LEN;

// ---- implementation constants

/** Replay window size in bits (wireguard-go: 8192 − 64; RFC 6479 style, 64-bit blocks). */
export const REPLAY_WINDOW_BLOCKS = 128;
/** Handshake messages per second above which the server is under load (cookie mode). */
export const DEFAULT_HANDSHAKE_LOAD_THRESHOLD = 256;
/** Once under load, stay under load at least this long (ms) (wireguard-go UnderLoadAfterTime). */
export const UNDER_LOAD_AFTER_TIME = 1_000;
/** Packets queued per peer while a handshake is in progress. */
export const MAX_QUEUED_PACKETS = 1024;
/** Minimum time between handshake initiations to one peer (ms) (whitepaper: REKEY_TIMEOUT). */
export const HANDSHAKE_INITIATION_RATE = 50;
