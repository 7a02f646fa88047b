/**
 * `@l3kit/cli`: the l3kit command (demo, gateway, conntrack, stats, genkey, pubkey) and the
 * gateway behind it, usable in process.
 */
export * from './cli.js';
export * from './color.js';
export * from './config.js';
export * from './control.js';
export * from './gateway.js';
export * from './helpers.js';
export * from './log.js';
export * from './metrics.js';
export * from './run-gateway.js';
