// Shared offline node-gyp build of an l3kit N-API addon (used by packages/tun/scripts/build-addon.mjs
// and packages/wireguard/scripts/build-addon.mjs).
//
// Flags (from the package script's argv):
//   --strict      exit 1 when the addon cannot be built (default: warn and exit 0, so that
//                 `npm install` succeeds on machines without a compiler or on other systems)
//   --if-missing  do nothing when the addon exists and is newer than its sources
//   --quiet       no success message, no node-gyp output (errors still go to stderr)
//
// node-gyp never downloads anything here: it is pointed at local headers with --nodedir
// (npm_config_nodedir, /usr when /usr/include/node/node_api.h exists, or the directory Node
// itself was installed in). Without local headers the build is skipped with a message.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Builds `<pkgDir>/build/Release/<target>.node` with node-gyp and exits the process (0 on
 * success or on a non-strict failure, 1 on a strict failure).
 *
 * @param {object} o
 * @param {string} o.pkgDir     the package directory (holds binding.gyp)
 * @param {string} o.label      message prefix, e.g. '@l3kit/tun'
 * @param {string} o.target     the gyp target name (the .node file name without extension)
 * @param {string[]} o.sources  files (relative to pkgDir) whose mtime decides --if-missing
 * @param {string[]} o.hints    lines printed after a failure (what is missing, how to retry)
 * @param {() => string | undefined} [o.unsupported] a reason when this platform cannot have the addon
 * @param {string[]} [o.argv]   the flags (default: process.argv.slice(2))
 * @returns {never}
 */
export function buildAddon(o) {
  const args = new Set(o.argv ?? process.argv.slice(2));
  const strict = args.has('--strict');
  const quiet = args.has('--quiet');
  const pkgDir = o.pkgDir;
  const target = join(pkgDir, 'build', 'Release', `${o.target}.node`);
  const sources = o.sources.map((s) => join(pkgDir, s));

  function done(ok, msg) {
    if (ok) {
      if (!quiet) console.log(`${o.label}: ${msg}`);
      process.exit(0);
    }
    console.warn(`${o.label}: native addon not built: ${msg}`);
    for (const h of o.hints) console.warn(`${o.label}: ${h}`);
    process.exit(strict ? 1 : 0);
  }

  if (args.has('--if-missing') && existsSync(target)) {
    const t = statSync(target).mtimeMs;
    if (sources.every((s) => !existsSync(s) || statSync(s).mtimeMs <= t)) done(true, 'addon is up to date');
  }
  const reason = o.unsupported?.();
  if (reason) done(false, reason);

  // Set by npm for install scripts (not turbo task inputs).
  const { npm_config_nodedir, npm_execpath, npm_config_node_gyp } = process.env;
  function hasHeaders(dir) {
    return !!dir && existsSync(join(dir, 'include', 'node', 'node_api.h'));
  }
  const nodedir = [
    npm_config_nodedir,
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
  if (npm_execpath) npmDirs.push(dirname(dirname(npm_execpath)));
  npmDirs.push(join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm'));
  npmDirs.push('/usr/lib/node_modules/npm', '/usr/share/nodejs/npm', '/usr/local/lib/node_modules/npm');
  const gyp = [
    npm_config_node_gyp,
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
}
