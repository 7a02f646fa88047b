/**
 * Drop and redirect (DNAT) rules. Parsed once with ipaddr.js into numeric network / mask pairs
 * and evaluated when a flow is created, never per packet.
 */
import { ConfigError } from '@l3kit/core';
import ipaddr from 'ipaddr.js';

/** Options of `nat.addDropRule`. Every given field must match. */
export interface DropRuleOptions {
  /** IP protocol number. */
  proto?: number;
  /** Destination port (of the new flow's first packet; the echo identifier is not a port). */
  dstPort?: number;
  /** Destination prefix (`'10.0.0.0/8'` or an address). */
  dst?: string;
  /** Source prefix. */
  src?: string;
  tenant?: number;
  /** Which new flows: created by an outbound packet (default) or by an inbound one. */
  direction?: 'outbound' | 'inbound';
}

/** Options of `nat.addRedirectRule`: new outbound flows to `dst[:dstPort]` go to `toIp[:toPort]`. */
export interface RedirectRuleOptions {
  proto?: number;
  /** Destination prefix or address to match. */
  dst: string;
  dstPort?: number;
  /** New destination address. */
  toIp: string;
  /** New destination port (default: unchanged). */
  toPort?: number;
  tenant?: number;
}

/** A compiled rule. */
export interface CompiledRule {
  id: number;
  kind: 'drop' | 'redirect';
  proto: number; // -1 any
  dstPort: number; // -1 any
  dstNet: number;
  dstMask: number;
  srcNet: number;
  srcMask: number;
  tenant: number; // -1 any
  inbound: boolean;
  toIp: number;
  toPort: number; // -1 unchanged
  /** The options as given (for listing). */
  spec: DropRuleOptions | RedirectRuleOptions;
}

function cidr(text: string | undefined, what: string): [number, number] {
  if (text === undefined) return [0, 0];
  try {
    const [addr, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), 32];
    if (addr.kind() !== 'ipv4') throw new Error('not IPv4');
    const b = (addr as ipaddr.IPv4).toByteArray();
    const ip = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return [(ip & mask) >>> 0, mask];
  } catch (cause) {
    throw new ConfigError('ERR_BAD_PREFIX', `${what}: not an IPv4 prefix: ${JSON.stringify(text)}`, {
      cause,
    });
  }
}

function optInt(v: number | undefined, lo: number, hi: number, what: string): number {
  if (v === undefined) return -1;
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new ConfigError('ERR_BAD_OPTION', `${what} must be an integer ${lo}..${hi}`);
  return v;
}

/** Compiles a drop rule. */
export function compileDropRule(id: number, o: DropRuleOptions): CompiledRule {
  if (!o || typeof o !== 'object')
    throw new ConfigError('ERR_BAD_OPTION', 'addDropRule: options object required');
  const [dstNet, dstMask] = cidr(o.dst, 'dst');
  const [srcNet, srcMask] = cidr(o.src, 'src');
  if (o.direction !== undefined && o.direction !== 'outbound' && o.direction !== 'inbound')
    throw new ConfigError('ERR_BAD_OPTION', `direction must be 'outbound' or 'inbound'`);
  return {
    id,
    kind: 'drop',
    proto: optInt(o.proto, 0, 255, 'proto'),
    dstPort: optInt(o.dstPort, 0, 65535, 'dstPort'),
    dstNet,
    dstMask,
    srcNet,
    srcMask,
    tenant: optInt(o.tenant, 0, 0x7fffffff, 'tenant'),
    inbound: o.direction === 'inbound',
    toIp: 0,
    toPort: -1,
    spec: { ...o },
  };
}

/** Compiles a redirect rule. */
export function compileRedirectRule(id: number, o: RedirectRuleOptions): CompiledRule {
  if (!o || typeof o !== 'object')
    throw new ConfigError('ERR_BAD_OPTION', 'addRedirectRule: options object required');
  if (o.dst === undefined) throw new ConfigError('ERR_BAD_OPTION', 'addRedirectRule: dst is required');
  const [dstNet, dstMask] = cidr(o.dst, 'dst');
  const [toIp, toMask] = cidr(o.toIp, 'toIp');
  if (toMask !== 0xffffffff) throw new ConfigError('ERR_BAD_PREFIX', 'toIp must be a single address');
  const proto = optInt(o.proto, 0, 255, 'proto');
  if (proto !== -1 && proto !== 6 && proto !== 17 && proto !== 1)
    throw new ConfigError('ERR_BAD_OPTION', 'redirect proto must be 6, 17 or 1');
  return {
    id,
    kind: 'redirect',
    proto,
    dstPort: optInt(o.dstPort, 1, 65535, 'dstPort'),
    dstNet,
    dstMask,
    srcNet: 0,
    srcMask: 0,
    tenant: optInt(o.tenant, 0, 0x7fffffff, 'tenant'),
    inbound: false,
    toIp,
    toPort: optInt(o.toPort, 1, 65535, 'toPort'),
    spec: { ...o },
  };
}

/** Whether rule `r` matches a new flow. Ports are ignored for protocols without ports (ICMP, GRE) when the rule names a port: such rules do not match them. */
export function ruleMatches(
  r: CompiledRule,
  tenant: number,
  proto: number,
  src: number,
  dst: number,
  dstPort: number,
  inbound: boolean,
): boolean {
  if (r.inbound !== inbound) return false;
  if (r.tenant >= 0 && r.tenant !== tenant) return false;
  if (r.proto >= 0 && r.proto !== proto) return false;
  if (r.dstPort >= 0 && (dstPort < 0 || r.dstPort !== dstPort)) return false;
  if ((dst & r.dstMask) >>> 0 !== r.dstNet) return false;
  if ((src & r.srcMask) >>> 0 !== r.srcNet) return false;
  return true;
}
