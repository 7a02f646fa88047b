/**
 * The device contract. Every l3kit component that moves IP packets is an {@link L3Device}:
 * hosts, routers, the NAT's interfaces, TUN devices, WireGuard peers, capture taps.
 */
import type { Prefix } from '@l3kit/wire';

/** Receives one IP packet. Delivery is synchronous; a handler that keeps the packet copies it. */
export type PacketHandler = (pkt: Uint8Array) => void;

/**
 * One IP (layer 3) interface.
 *
 * - `send(pkt)` delivers a packet *into* the device, as if it arrived on its wire. It never
 *   throws for a bad packet: bad packets are dropped and counted. The device may rewrite the
 *   buffer in place; a caller that needs the bytes afterwards copies first.
 * - The device emits packets by calling the handler given to `setHandler` (one handler; setting
 *   again replaces it).
 */
export interface L3Device {
  /** Where this device emits packets. One handler; setting again replaces it. */
  setHandler(handler: PacketHandler): void;
  /** Deliver one IP packet into this device (as if it arrived on its wire). */
  send(pkt: Uint8Array): void;
  /** The device's address and prefix length, if it has one. */
  addr(): Prefix | undefined;
  /** Sets the device's address and prefix length. */
  setAddr(prefix: Prefix): void;
  /** Releases resources. Packets sent afterwards are dropped. */
  close(): void;
}

/** Something that tenants attach to (a NAT, a hub, an egress device). */
export interface L3Connector {
  /** Attaches `dev`; returns a cleanup function that detaches it and frees its state. */
  connectL3(dev: L3Device): () => void;
}

/** A handler that drops everything (the initial handler of a device). */
export const discard: PacketHandler = () => {};

/**
 * Wires two devices back to back: what `a` emits is sent into `b` and vice versa.
 * Replaces both devices' handlers.
 */
export function connectL3(a: L3Device, b: L3Device): void {
  a.setHandler((p) => b.send(p));
  b.setHandler((p) => a.send(p));
}
