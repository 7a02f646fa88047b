/**
 * `@l3kit/wire`: packet views, checksums, builders, pcap/pcapng and a pretty-printer.
 * No dependencies. See the package README.
 * @packageDocumentation
 */
export * from './address.js';
export * from './checksum.js';
export * from './constants.js';
export * from './ipv4.js';
