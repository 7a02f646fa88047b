/**
 * `@l3kit/nat`: the NAT44 (NAPT) device with tenants, port forwards, rules, expectations, the
 * helper (ALG) API, conntrack-style records and snapshots. See the package README.
 * @packageDocumentation
 */

export * from './events.js';
export { TimerWheel } from './expiry.js';
export type { PortForwardOptions } from './forwards.js';
export * from './helper-api.js';
export { buildIcmpError } from './icmp.js';
export * from './nat.js';
export * from './options.js';
export { PortAllocator } from './port-allocator.js';
export * from './records.js';
export type { DropRuleOptions, RedirectRuleOptions } from './rules.js';
export * from './snapshot.js';
export { DROP_REASONS, type DropReason, type NatStats } from './stats.js';
export { TCP_STATE_NAMES, TcpState } from './tcp-state.js';
