/**
 * Private helpers shared by l3kit's tests and benchmarks. Not published.
 * @packageDocumentation
 */

export * from './bench.js';
export * from './checksum-oracle.js';
export * from './nat-bench.js';
export * from './virtual-time.js';
export * from './wait.js';
