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
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const strict = args.has('--strict');
const quiet = args.has('--quiet');
const target = join(pkgDir, 'build', 'Release', 'l3kit_tun.node');
const sources = [join(pkgDir, 'native', 'tun.c'), join(pkgDir, 'binding.gyp')];

function done(ok, msg) {
  if (ok) {
    if (!quiet) console.log(`@l3kit/tun: ${msg}`);
    process.exit(0);
  }
  console.warn(`@l3kit/tun: native addon not built: ${msg}`);
  console.warn('@l3kit/tun: TunDevice.open() will throw ERR_TUN_UNAVAILABLE until it is built');
  console.warn('@l3kit/tun: (retry with `npm run build:addon -w @l3kit/tun`)');
  process.exit(strict ? 1 : 0);
}

if (args.has('--if-missing') && existsSync(target)) {
  const t = statSync(target).mtimeMs;
  if (sources.every((s) => !existsSync(s) || statSync(s).mtimeMs <= t)) done(true, 'addon is up to date');
}
if (os.platform() !== 'linux') done(false, `TUN devices need Linux (this is ${os.platform()})`);

function hasHeaders(dir) {
  return !!dir && existsSync(join(dir, 'include', 'node', 'node_api.h'));
}
const nodedir = [
  process.env.npm_config_nodedir,
  '/usr',
  dirname(dirname(process.execPath)),
  join(os.homedir(), '.cache', 'node-gyp', process.versions.node),
].find(hasHeaders);
if (!nodedir)
  done(
    false,
    'no local Node headers (include/node/node_api.h); install nodejs headers (Debian: libnode-dev)',
  );

const npmDirs = [];
if (process.env.npm_execpath) npmDirs.push(dirname(dirname(process.env.npm_execpath)));
npmDirs.push(join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm'));
npmDirs.push('/usr/lib/node_modules/npm', '/usr/share/nodejs/npm', '/usr/local/lib/node_modules/npm');
const gyp = [
  process.env.npm_config_node_gyp,
  ...npmDirs.map((d) => join(d, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')),
].find((p) => !!p && existsSync(p));
if (!gyp) done(false, 'node-gyp not found (it ships with npm)');

const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], {
  cwd: pkgDir,
  stdio: quiet ? ['ignore', 'ignore', 'pipe'] : ['ignore', 'inherit', 'pipe'],
  encoding: 'utf8',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
if (r.error) done(false, `cannot run node-gyp: ${r.error.message}`);
if (r.status !== 0) {
  process.stderr.write(r.stderr ?? '');
  done(false, `node-gyp exited with ${r.status} (is a C compiler and make installed?)`);
}
if (!existsSync(target)) done(false, `node-gyp succeeded but ${target} is missing`);
done(true, `built ${target}`);
