/**
 * `@l3kit/wire`: packet views, checksums, builders, pcap/pcapng and a pretty-printer.
 * No dependencies. See the package README.
 * @packageDocumentation
 */
export * from './address.js';
export * from './build.js';
export * from './checksum.js';
export * from './constants.js';
export * from './gre.js';
export * from './icmpv4.js';
export * from './icmpv6.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './pcap.js';
export * from './pcapng.js';
export * from './print.js';
export * from './tcp.js';
export * from './text.js';
export * from './udp.js';
