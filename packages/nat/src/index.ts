/**
 * `@l3kit/nat`: the NAT44 (NAPT) device with tenants, port forwards, rules, expectations, the
 * helper (ALG) API, conntrack-style records and snapshots. See the package README.
 * @packageDocumentation
 */

// Defragmentation, RFC 6052 addressing, the RFC 7915 translator and the stateless SIIT device.
export * from './defrag.js';
export * from './events.js';
export { TimerWheel } from './expiry.js';
export type { PortForwardOptions } from './forwards.js';
export * from './fragment.js';
export * from './helper-api.js';
export { buildIcmpError } from './icmp.js';
export * from './nat.js';
export * from './nat64.js';
export * from './options.js';
export { PortAllocator } from './port-allocator.js';
export * from './records.js';
export * from './rfc6052.js';
export type { DropRuleOptions, RedirectRuleOptions } from './rules.js';
export * from './siit.js';
export * from './snapshot.js';
export { DROP_REASONS, type DropReason, type NatStats } from './stats.js';
export { TCP_STATE_NAMES, TcpState } from './tcp-state.js';
export * from './xlat.js';
export * from './xlat-icmp-map.js';
