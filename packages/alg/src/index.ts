/**
 * `@l3kit/alg`: Application Layer Gateways for `@l3kit/nat`. Each helper is added per NAT with
 * `nat.addHelper(new FtpHelper())` and removed with the function `addHelper` returns.
 */
export * from './ftp.js';
export * from './h323.js';
export * from './irc.js';
export type { HelperBaseStats, LineHelperStats } from './line-protocol.js';
export * from './pptp.js';
export * from './sip.js';
export * from './tftp.js';
