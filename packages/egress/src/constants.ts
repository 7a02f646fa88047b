/**
 * Constants of the egress device: specification values (RFC-cited) and implementation defaults.
 */

// --- Specification -------------------------------------------------------------------------

/** ICMPv6 destination unreachable (type 1) codes used (RFC 4443 §3.1). */
export const Icmp6Unreach = {
  NoRoute: 0,
  AdminProhibited: 1,
  AddressUnreachable: 3,
} as const;

/** ICMP destination unreachable codes used (RFC 792, RFC 1812 §5.2.7.1). */
export const IcmpUnreach = {
  /** Network unreachable. */
  Net: 0,
  /** Host unreachable: no route, no answer, the proxy could not reach it. */
  Host: 1,
  /** Communication administratively prohibited (RFC 1812): a deny rule. */
  AdminProhibited: 13,
} as const;

/** RFC 4787 REQ-5: a UDP mapping must survive at least 120 s idle; 300 s recommended. */
export const UDP_IDLE_MIN_MS = 120_000;

/** RFC 5382 REQ-5: an established TCP session must survive at least 2 h 4 min idle. */
export const TCP_ESTABLISHED_IDLE_MS = 7_440_000;

// --- Implementation --------------------------------------------------------------------------

/** Default time to open the upstream side (connect + proxy handshake). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default idle timeout of a TCP connection (both directions silent). */
export const DEFAULT_TCP_IDLE_MS = TCP_ESTABLISHED_IDLE_MS;
/** Default idle timeout of a UDP flow. */
export const DEFAULT_UDP_IDLE_MS = 300_000;
/** Default limit of concurrent TCP connections per tenant. */
export const DEFAULT_MAX_TCP_PER_TENANT = 1024;
/** Default limit of concurrent UDP flows (client address:port) per tenant. */
export const DEFAULT_MAX_UDP_PER_TENANT = 256;
/** Default per-connection buffer in each direction inside the device (the internal stack's send / receive buffer). */
export const DEFAULT_BUFFER_BYTES = 256 * 1024;
/** Datagrams held per UDP flow while its relay opens. */
export const UDP_PENDING_MAX = 16;
/** How long a closed connection's translation is kept so late segments (final ACK, retransmitted FIN) still reach the stack. */
export const TCP_LINGER_MS = 5_000;
/** TIME-WAIT of the internal stack (its connections never see the real network). */
export const INTERNAL_TIME_WAIT_MS = 2_000;
/** Port the internal stack listens on; every tenant connection is steered to it. */
export const INTERNAL_LISTEN_PORT = 1;
/** Internal stack address (never visible to tenants or upstream). */
export const INTERNAL_HOST_ADDR = '10.255.255.254/8';
/** Internal stack gateway (every pseudo source is routed there, i.e. back to the device). */
export const INTERNAL_GATEWAY = '10.255.255.253';
/** Base of the pseudo client addresses (11.0.0.0/8); each carries 65535 ports. */
export const PSEUDO_BASE = 0x0b000000;
/** Internal stack IPv6 address (tenants' IPv6 connections end here). */
export const INTERNAL_HOST_ADDR6 = 'fd7f:ffff:ffff::fffe/64';
/** Internal stack IPv6 gateway (pseudo sources are routed there, i.e. back to the device). */
export const INTERNAL_GATEWAY6 = 'fd7f:ffff:ffff::fffd';
/** Pseudo IPv6 client addresses: this /96 plus a 32-bit block number; each carries 65535 ports. */
export const PSEUDO6_PREFIX = 'fd7f:ffff:ffff:1::';
/**
 * Destinations denied unless `allowLoopback`: this host, "this network", link-local, multicast,
 * broadcast, and their IPv6 counterparts (loopback, unspecified, link-local, multicast).
 */
export const HOST_LOCAL_PREFIXES = [
  '127.0.0.0/8',
  '0.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '255.255.255.255/32',
  '::1/128',
  '::/128',
  'fe80::/10',
  'ff00::/8',
] as const;
