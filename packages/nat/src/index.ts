/**
 * `@l3kit/nat`: the NAT44 (NAPT) device with tenants, port forwards, rules, expectations, the
 * helper (ALG) API, conntrack-style records and snapshots. See the package README.
 * @packageDocumentation
 */
export * from './nat.js';
export * from './options.js';
export * from './records.js';
export * from './events.js';
export * from './stats.js';
export * from './helper-api.js';
export * from './snapshot.js';
export type { DropRuleOptions, RedirectRuleOptions } from './rules.js';
export { TcpState, TCP_STATE_NAMES } from './tcp-state.js';
export { TimerWheel } from './expiry.js';
export { PortAllocator } from './port-allocator.js';
export { buildIcmpError } from './icmp.js';
