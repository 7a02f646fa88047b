/** Port forwards: their options, validation and stored form (the table itself lives in `Nat`). */
import { ConfigError } from '@l3kit/core';
import { parseIpv4 } from '@l3kit/wire';
import type { ForwardRecord } from './records.js';

/** Options of `nat.addPortForward`. */
export interface PortForwardOptions {
  /** IP protocol number: 6 (TCP) or 17 (UDP). */
  proto: number;
  /** External port on the outside address. */
  outsidePort: number;
  /** Inside server address. */
  insideIp: string;
  insidePort: number;
  /** Tenant of the inside server (default 0). */
  tenant?: number;
  /** Outside address (default: the NAT's main outside address). */
  outsideIp?: string;
  /** Who made it: `'static'` (default), `'upnp'`, `'pcp'`, `'natpmp'`, … (shown in records). */
  origin?: string;
  /** Free text (UPnP's NewPortMappingDescription). */
  description?: string;
  /**
   * Lease in ms: the NAT removes the forward when it runs out (event `forward-expired`).
   * Absent or 0: permanent.
   */
  leaseMs?: number;
}

/** A port forward as the NAT stores it: its record and its (forward-kind) mapping. */
export interface ForwardEntry {
  rec: ForwardRecord;
  /** Mapping index. */
  m: number;
  /** Port allocator slot of the protocol. */
  slot: number;
  /** Outside address index. */
  extIdx: number;
  /** When its lease runs out (clock ms); `Infinity` when permanent. */
  deadline: number;
}

/** Validates a lease (ms, 0 = permanent); throws `ERR_BAD_OPTION`. */
export function checkLease(v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new ConfigError('ERR_BAD_OPTION', 'leaseMs must be a number >= 0 (0 = permanent)');
  return v;
}

/** Throws `ERR_BAD_OPTION` unless `p` is an integer port in `min..65535`. */
export function checkPort(p: unknown, what: string, min = 1): void {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < min || p > 65535)
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be an integer ${min}..65535`);
}

/** Parses an address to the signed int32 form the flow tables use; throws `ERR_BAD_OPTION`. */
export function parseIpv4Strict(s: unknown, what: string): number {
  const v = typeof s === 'string' ? parseIpv4(s) : null;
  if (v === null) throw new ConfigError('ERR_BAD_OPTION', `${what}: not an IPv4 address: ${String(s)}`);
  return v | 0;
}

/** Validates the shape of forward options (ports, protocol, inside address); returns the inside address. */
export function validateForward(f: PortForwardOptions): number {
  if (!f || typeof f !== 'object')
    throw new ConfigError('ERR_BAD_OPTION', 'addPortForward: options object required');
  if (f.proto !== 6 && f.proto !== 17)
    throw new ConfigError('ERR_BAD_OPTION', 'addPortForward: proto must be 6 or 17');
  checkPort(f.outsidePort, 'outsidePort');
  checkPort(f.insidePort, 'insidePort');
  checkLease(f.leaseMs);
  if (
    f.origin !== undefined &&
    (typeof f.origin !== 'string' || f.origin.length === 0 || f.origin.length > 32)
  )
    throw new ConfigError('ERR_BAD_OPTION', 'addPortForward: origin must be a string of 1..32 characters');
  if (f.description !== undefined && (typeof f.description !== 'string' || f.description.length > 256))
    throw new ConfigError(
      'ERR_BAD_OPTION',
      'addPortForward: description must be a string of at most 256 characters',
    );
  return parseIpv4Strict(f.insideIp, 'insideIp');
}
