#!/usr/bin/env node
// Builds the @l3kit/wireguard N-API addon (build/Release/l3kit_wireguard_aead.node): ChaCha20-Poly1305
// for the transport data path through the OpenSSL that Node itself exports. Offline node-gyp,
// best effort: without a compiler `npm install` still succeeds and `cipher: 'native'` falls back
// to node:crypto.
//
// Usage: node scripts/build-addon.mjs [--strict] [--if-missing] [--quiet]
// (the flags and the search for local Node headers are described in scripts/native-addon.mjs at
// the repository root).
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../../../scripts/native-addon.mjs';

buildAddon({
  pkgDir: fileURLToPath(new URL('..', import.meta.url)),
  label: '@l3kit/wireguard',
  target: 'l3kit_wireguard_aead',
  sources: ['native/aead.c', 'binding.gyp'],
  hints: [
    "cipher: 'native' uses node:crypto (a cipher object per packet) until it is built",
    '(retry with `npm run build:addon -w @l3kit/wireguard`)',
  ],
});
