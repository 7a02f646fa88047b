/**
 * `@l3kit/wireguard`: a userspace WireGuard implementation whose peers are L3Devices.
 * @packageDocumentation
 */
export * from './allowed-ips.js';
export * from './blake2s.js';
export * from './chacha20poly1305.js';
export * from './constants.js';
export * from './cookie.js';
export * from './keys.js';
export * from './messages.js';
export * from './native-aead.js';
export * from './noise.js';
export * from './peer.js';
export * from './rate-limiter.js';
export * from './replay.js';
export * from './server.js';
export * from './timers.js';
export * from './xchacha.js';
