/**
 * The interface between the NAT and application-level gateways (ALGs). The ALG issue implements
 * {@link NatHelper}s (FTP, SIP, PPTP, …); the NAT calls them for every packet of the connections
 * they match, in both directions, with the connection's mapping, tenant and direction.
 */
import type { Clock } from '@l3kit/core';
import type { PortForwardOptions } from './forwards.js';
import type { ExpectationRecord, ForwardRecord, MappingRecord } from './records.js';

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
  /** Inside endpoint (IPv4 as an unsigned 32-bit number, as `parseIpv4` returns it; port). */
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
   * port (inbound-initiated through a forward or expectation) is one of these. Read when each
   * connection starts, so a helper may add ports it learnt from signalling (H.323's H.245).
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
  /**
   * Called when a connection this helper served ends (expired, closed, removed, or the helper was
   * removed), so per-connection state kept by `connectionId` can be freed.
   */
  onClose?(connectionId: number): void;
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
  /**
   * Hand the expected connection to the helper named in `helper` (whatever its port), as H.323
   * does for the H.245 connection announced in H.225.0. Default false: the expected connection
   * gets the helper of its port, if any (an FTP data connection gets none).
   */
  attachHelper?: boolean;
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
  /** The NAT's clock: helpers time their own state with it. */
  readonly clock: Clock;
  addExpectation(opts: ExpectationOptions): ExpectationRecord;
  removeExpectation(id: number): boolean;
  allocOutsidePort(proto: number, outsideIp?: string): { ip: string; port: number };
  releaseOutsidePort(proto: number, port: number, outsideIp?: string): boolean;
  createMapping(opts: CreateMappingOptions): MappingRecord;
  /**
   * Removes the connection with this record id (as `createMapping` returned it) and its mapping
   * when nothing else uses it; false when it is gone already.
   */
  deleteMapping(id: number): boolean;
  sendInside(pkt: Uint8Array, tenant?: number): void;
  sendOutside(pkt: Uint8Array): void;
  /**
   * Replaces `len` payload bytes at `off` (relative to `ctx.payloadOff`) with `data` (a string is
   * written as latin1/ASCII) in the packet of `ctx`, like Linux's `nf_nat_mangle_tcp_packet`:
   * fixes the IP total length and header checksum and the TCP / UDP length and checksum, and
   * updates `ctx.pkt` / `ctx.payloadLen`. Returns the packet (a new buffer when it grew); return
   * it from `onPacket`. Several calls on one packet are fine (offsets refer to the payload as
   * already mangled). For TCP the NAT records the total length change of the segment and from
   * then on shifts seq / ack numbers and SACK blocks of the connection in both directions; a
   * retransmission of the same segment must be mangled identically (its change is not counted
   * twice). Throws `ERR_BAD_OPTION` for a range outside the payload.
   */
  mangle(ctx: HelperPacketContext, off: number, len: number, data: Uint8Array | string): Uint8Array;
}

/** A local endpoint a {@link NatLocalHelper} serves. */
export interface LocalEndpoint {
  /** 6 (TCP) or 17 (UDP). */
  proto: number;
  port: number;
  /**
   * A multicast group (UDP only) received from the inside instead of the NAT's inside address,
   * e.g. `'239.255.255.250'` for SSDP.
   */
  group?: string;
}

/**
 * A local helper: a service of the NAT itself for its inside hosts (UPnP IGD, SSDP, NAT-PMP,
 * PCP), added with `nat.addHelper(helper)` like an ALG. The NAT hands it every packet from the
 * inside addressed to the NAT's inside address on one of its `endpoints` (or to one of their
 * multicast groups), per tenant. Nothing from the outside interface ever reaches it.
 */
export interface NatLocalHelper {
  /** Unique name among the NAT's helpers (`'upnp'`, `'pcp'`). */
  readonly name: string;
  readonly kind: 'local';
  readonly endpoints: readonly LocalEndpoint[];
  /** Tenants it serves; all when absent. */
  readonly tenants?: readonly number[];
  /** Called by `addHelper`, before any packet. */
  attach(host: NatLocalHost): void;
  /** Called when removed from the NAT or when the NAT closes: release timers and state. */
  detach(): void;
  /**
   * A packet for the helper: a whole IPv4 packet with valid IP and transport checksums (the NAT
   * checked them), valid only during the call (copy what you keep). Must not throw.
   */
  onLocalPacket(pkt: Uint8Array, tenant: number): void;
  /** A tenant was detached from the NAT: forget its state. */
  onTenantRemoved?(tenant: number): void;
}

/** Traffic totals of the NAT (for UPnP's GetTotalBytesSent and friends). */
export interface NatTrafficTotals {
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
}

/** What the NAT offers a {@link NatLocalHelper}. `Nat` implements it. */
export interface NatLocalHost {
  readonly clock: Clock;
  /** The NAT's inside address (e.g. `'192.168.1.1'`) and prefix length, the same for every tenant. */
  readonly insideAddress: string;
  readonly insidePrefixLength: number;
  /**
   * The outside address connections of `insideIp` in `tenant` use (with an outside pool, the
   * paired address; else the single outside address).
   */
  externalAddress(tenant?: number, insideIp?: string): string;
  /** Tenant ids attached now. */
  tenantIds(): number[];
  trafficTotals(): NatTrafficTotals;
  /** Sends a locally generated packet to a tenant (e.g. a reply from the inside address). */
  sendInside(pkt: Uint8Array, tenant?: number): void;
  addPortForward(opts: PortForwardOptions): ForwardRecord;
  removePortForward(proto: number, outsidePort: number, outsideIp?: string): boolean;
  listPortForwards(): ForwardRecord[];
  /**
   * Changes the lease (`leaseMs`, 0 = permanent, from now) and/or description of a forward
   * without disturbing its connections; returns the updated record, or undefined when absent.
   */
  updatePortForward(
    proto: number,
    outsidePort: number,
    changes: { leaseMs?: number; description?: string },
    outsideIp?: string,
  ): ForwardRecord | undefined;
  /** Reserves a free outside port (as for helpers); `releaseOutsidePort` gives it back. */
  allocOutsidePort(proto: number, outsideIp?: string): { ip: string; port: number };
  releaseOutsidePort(proto: number, port: number, outsideIp?: string): boolean;
  createMapping(opts: CreateMappingOptions): MappingRecord;
}
