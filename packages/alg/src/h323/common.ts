/** Pieces shared by the H.323 call-signalling helper and the RAS helper. */
import { ConfigError } from '@l3kit/core';
import type { HelperPacketContext } from '@l3kit/nat';
import { readChecksum, updateChecksumBytes, writeChecksum } from '@l3kit/wire';
import type { AddressHit } from './per.js';

/** Options every H.323 helper takes. */
export interface H323CommonOptions {
  /** Ports served. */
  ports?: number[];
  /** Tenants served (default: all). */
  tenants?: number[];
}

/** Validated {@link H323CommonOptions}. */
export interface CheckedCommon {
  ports: number[];
  tenants?: number[];
}

/** Validates the options object, its ports (default `defPorts`) and tenants; throws ConfigError ERR_BAD_OPTION. */
export function checkCommon(opts: unknown, what: string, defPorts: number[]): CheckedCommon {
  if (opts === null || typeof opts !== 'object')
    throw new ConfigError('ERR_BAD_OPTION', `${what} options must be an object`);
  const o = opts as H323CommonOptions;
  let ports = defPorts;
  if (o.ports !== undefined) {
    const v: unknown = o.ports;
    if (!Array.isArray(v) || v.length === 0 || !v.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535))
      throw new ConfigError('ERR_BAD_OPTION', 'ports must be a non-empty array of ports 1..65535');
    ports = [...v];
  }
  if (o.tenants === undefined) return { ports };
  const t: unknown = o.tenants;
  if (!Array.isArray(t) || !t.every((x) => Number.isInteger(x) && x >= 0))
    throw new ConfigError('ERR_BAD_OPTION', 'tenants must be an array of tenant ids');
  return { ports, tenants: [...t] };
}

/** A positive finite number of milliseconds, or `def`; throws ConfigError ERR_BAD_OPTION. */
export function checkMs(v: unknown, name: string, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
    throw new ConfigError('ERR_BAD_OPTION', `${name} must be a positive number of milliseconds`);
  return v;
}

/** RFC 1918 and RFC 6598 addresses (numeric, unsigned). */
export function isPrivate(ip: number): boolean {
  const a = ip >>> 24;
  const b = (ip >>> 16) & 0xff;
  return (
    a === 10 ||
    (a === 172 && b >= 16 && b < 32) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b < 128)
  );
}

/** The 6 bytes of an IPv4 transport address (address, port) as PER carries them. */
export function addressBytes(ip: number, port: number): Uint8Array {
  return Uint8Array.of(ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff, port >>> 8, port & 0xff);
}

/** "a.b.c.d:port" of a decoded address (for records and tests). */
export function hitText(h: AddressHit): string {
  return `${h.ip >>> 24}.${(h.ip >>> 16) & 255}.${(h.ip >>> 8) & 255}.${h.ip & 255}:${h.port}`;
}

/**
 * Writes `bytes[from, to)` at `ctx.pkt[off + from]` (inside the TCP or UDP payload of `ctx`) and
 * updates the transport checksum incrementally (RFC 1624) over the 16-bit aligned window that
 * covers the change. A UDP checksum of 0 ("none") stays 0; a computed 0 is sent as 0xFFFF.
 */
export function writeL4Bytes(
  ctx: HelperPacketContext,
  off: number,
  bytes: Uint8Array,
  from = 0,
  to = bytes.length,
): void {
  const pkt = ctx.pkt;
  const l4Off = ctx.l4Off;
  const segEnd = ctx.payloadOff + ctx.payloadLen;
  const ck = l4Off + (ctx.proto === 6 ? 16 : 6);
  const start = off + from;
  const end = off + to;
  const a = l4Off + (((start - l4Off) >> 1) << 1);
  let b = l4Off + (((end - l4Off + 1) >> 1) << 1);
  if (b > segEnd) b = segEnd; // odd length: the pad byte is virtual
  const win = b - a;
  const old = new Uint8Array(win + (win & 1));
  old.set(pkt.subarray(a, b));
  for (let i = from; i < to; i++) pkt[off + i] = bytes[i];
  const stored = readChecksum(pkt, ck);
  if (ctx.proto === 17 && stored === 0) return;
  const neu = new Uint8Array(old.length);
  neu.set(pkt.subarray(a, b));
  const next = updateChecksumBytes(stored, old, 0, neu, 0, old.length);
  writeChecksum(pkt, ck, ctx.proto === 17 && next === 0 ? 0xffff : next);
}
