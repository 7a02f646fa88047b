/**
 * The interface between the NAT and application-level gateways (ALGs). The ALG issue implements
 * {@link NatHelper}s (FTP, SIP, PPTP, …); the NAT calls them for every packet of the connections
 * they match, in both directions, with the connection's mapping, tenant and direction.
 */
import type { ExpectationRecord, MappingRecord } from './records.js';

/** Direction of a packet through the NAT. */
export type NatDirection = 'outbound' | 'inbound';

/**
 * What a helper sees for one packet. The NAT reuses its context objects (one per nesting depth,
 * no allocation per packet): read it during the call, copy what you keep. The packet's IP and transport headers
 * are already translated (outbound: source is the external endpoint; inbound: destination is the
 * inside endpoint) and its checksums are correct.
 */
export interface HelperPacketContext {
  direction: NatDirection;
  tenant: number;
  /** IP protocol number. */
  proto: number;
  /** Inside endpoint (numeric IPv4, port). */
  insideIp: number;
  insidePort: number;
  /** External endpoint. */
  externalIp: number;
  externalPort: number;
  /** Remote endpoint. */
  remoteIp: number;
  remotePort: number;
  /** Stable id of the connection (the `id` of its {@link MappingRecord}). */
  connectionId: number;
  /** The whole IPv4 packet. */
  pkt: Uint8Array;
  /** Offset of the transport header. */
  l4Off: number;
  /** Offset and length of the transport payload. */
  payloadOff: number;
  payloadLen: number;
}

/** An application-level gateway plugged into the NAT with `nat.addHelper(helper)`. */
export interface NatHelper {
  /** Unique name (`'ftp'`, `'sip'`, …). */
  readonly name: string;
  /** Transport protocol (6 or 17). */
  readonly proto: number;
  /**
   * Server ports: a connection matches when its remote port (outbound-initiated) or its inside
   * port (inbound-initiated through a forward or expectation) is one of these.
   */
  readonly ports: readonly number[];
  /** Tenants it serves; all when absent. */
  readonly tenants?: readonly number[];
  /**
   * Called for each packet of a matched connection. Return `undefined` to let the (possibly
   * in-place modified, checksums fixed by the helper) packet go on, a new `Uint8Array` to send
   * instead, or `null` to drop it (counted as `helper`).
   */
  onPacket(ctx: HelperPacketContext, host: NatHelperHost): Uint8Array | null | undefined;
}

/** Options of `nat.addExpectation`. */
export interface ExpectationOptions {
  /** 6 or 17 (1 and 47 are accepted too). */
  proto: number;
  /** The inside endpoint the expected connection is mapped to. */
  insideIp: string;
  insidePort: number;
  /** Tenant of the inside endpoint (default 0). */
  tenant?: number;
  /** Remote address allowed to open it; any when absent. */
  remoteIp?: string;
  /** Remote port allowed; any when absent. */
  remotePort?: number;
  /** External port: one from `allocOutsidePort`, or one of a live mapping of the same inside endpoint; allocated when absent. */
  externalPort?: number;
  /** External address (default: the tenant/inside ip's paired outside address). */
  externalIp?: string;
  /** Lifetime in ms (default `timeouts.expectation`). */
  timeoutMs?: number;
  /** Name of the helper asking (for records and limits). */
  helper?: string;
}

/** Options of `nat.createMapping`. */
export interface CreateMappingOptions {
  proto: number;
  insideIp: string;
  insidePort: number;
  tenant?: number;
  /** A port from `allocOutsidePort`, or a free one; allocated (with preservation) when absent. */
  externalPort?: number;
  externalIp?: string;
  /** When given, a session to this remote is created too (so filtering lets it in). */
  remoteIp?: string;
  remotePort?: number;
  /** How long the mapping is kept without traffic, ms (default: the protocol's timeout). */
  timeoutMs?: number;
}

/** The NAT services a helper may use. `Nat` implements it. */
export interface NatHelperHost {
  addExpectation(opts: ExpectationOptions): ExpectationRecord;
  removeExpectation(id: number): boolean;
  allocOutsidePort(proto: number, outsideIp?: string): { ip: string; port: number };
  releaseOutsidePort(proto: number, port: number, outsideIp?: string): boolean;
  createMapping(opts: CreateMappingOptions): MappingRecord;
  sendInside(pkt: Uint8Array, tenant?: number): void;
  sendOutside(pkt: Uint8Array): void;
}
