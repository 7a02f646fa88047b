/**
 * `@l3kit/egress`: egress devices without NAT: tenants' connections leave through SOCKS5, HTTP
 * CONNECT or host sockets, routed per tenant, destination and domain name.
 * @packageDocumentation
 */
export * from './constants.js';
export * from './dialer.js';
export * from './dns.js';
export * from './dns-interceptor.js';
export * from './egress.js';
export * from './errors.js';
export * from './http-connect.js';
export * from './packets.js';
export * from './rules.js';
export * from './socks5.js';
