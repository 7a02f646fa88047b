/** Plain records the NAT hands out (`mappings()`, forwards, expectations). */

/** One side of a connection as seen on the wire. */
export interface TupleRecord {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
}

/** One connection (session) or a session-less mapping, as `nat.mappings()` returns it. */
export interface MappingRecord {
  /** Unique id of the session (or of the mapping for a session-less record). */
  id: number;
  tenant: number;
  /** IP protocol number (6, 17, 1, 47). */
  proto: number;
  protoName: 'tcp' | 'udp' | 'icmp' | 'gre';
  kind: 'dynamic' | 'forward' | 'expectation' | 'static';
  insideIp: string;
  /** Inside port, ICMP echo identifier or GRE call ID. */
  insidePort: number;
  externalIp: string;
  externalPort: number;
  /** `0.0.0.0` for a session-less mapping. */
  remoteIp: string;
  remotePort: number;
  /** As the inside host sent it (before a redirect rule, if one applied). */
  original: TupleRecord;
  /** As the remote sends the reply. */
  reply: TupleRecord;
  /** TCP: SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, TIME_WAIT, CLOSE; others UNREPLIED / ASSURED; LISTEN for a session-less mapping. */
  state: string;
  /** Milliseconds until expiry (Infinity for a forward). */
  expiresInMs: number;
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
}

/** A port forward. */
export interface ForwardRecord {
  proto: number;
  outsideIp: string;
  outsidePort: number;
  insideIp: string;
  insidePort: number;
  tenant: number;
  /** Who made it (`'static'` for `addPortForward` without an origin). */
  origin: string;
  description?: string;
  /** Time left of its lease, ms; absent for a permanent forward. */
  expiresInMs?: number;
}

/** A pending expectation (an inbound connection the NAT will let in and map). */
export interface ExpectationRecord {
  id: number;
  tenant: number;
  proto: number;
  insideIp: string;
  insidePort: number;
  externalIp: string;
  externalPort: number;
  /** `undefined` = any remote address. */
  remoteIp?: string;
  /** `undefined` = any remote port. */
  remotePort?: number;
  expiresInMs: number;
  /** Name of the helper that asked for it, if any. */
  helper?: string;
}
