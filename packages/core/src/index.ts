/**
 * `@l3kit/core`: the L3Device contract, connectL3, pipes, the L3Hub router, clocks, capture
 * taps and a minimal virtual host.
 * @packageDocumentation
 */
export { Prefix } from '@l3kit/wire';
export * from './capture.js';
export * from './clock.js';
export * from './device.js';
export * from './errors.js';
export * from './hub.js';
export * from './impairment.js';
export * from './pipe.js';
export * from './token-bucket.js';
export * from './virtual-host.js';
