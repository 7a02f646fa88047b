#!/usr/bin/env node
// Builds the @l3kit/tun N-API addon (build/Release/l3kit_tun.node) with node-gyp, offline.
//
// Usage: node scripts/build-addon.mjs [--strict] [--if-missing] [--quiet]
//   --strict      exit 1 when the addon cannot be built (default: warn and exit 0, so that
//                 `npm install` succeeds on machines without a compiler or on other systems)
//   --if-missing  do nothing when the addon exists and is newer than its sources
//
// node-gyp never downloads anything here: it is pointed at local headers with --nodedir
// (npm_config_nodedir, /usr when /usr/include/node/node_api.h exists, or the directory Node
// itself was installed in). Without local headers the build is skipped with a message.
// The build itself is the shared scripts/native-addon.mjs of the repository.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../../../scripts/native-addon.mjs';

buildAddon({
  pkgDir: fileURLToPath(new URL('..', import.meta.url)),
  label: '@l3kit/tun',
  target: 'l3kit_tun',
  sources: ['native/tun.c', 'binding.gyp'],
  unsupported: () =>
    os.platform() !== 'linux' ? `TUN devices need Linux (this is ${os.platform()})` : undefined,
  hints: [
    'TunDevice.open() will throw ERR_TUN_UNAVAILABLE until it is built',
    '(retry with `npm run build:addon -w @l3kit/tun`)',
  ],
});
