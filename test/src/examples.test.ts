/**
 * Every runnable example (examples/src/*.ts with a main) runs to completion, exits 0 and prints
 * what it promises; `l3kit demo` runs as the installed command would. Each runs in a child
 * process with a timeout, in a temporary directory (some write capture files there).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dist = join(root, 'examples', 'dist');

/** The child's environment: ours without settings that would move or colour the output. */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  delete env.L3KIT_DEMO_OUT;
  if (!env.FORCE_COLOR) delete env.FORCE_COLOR;
  return env;
}

function run(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'l3kit-example-'));
  try {
    const r = spawnSync(process.execPath, [script, ...args], {
      cwd,
      encoding: 'utf8',
      timeout: 60_000,
      env: childEnv(env),
    });
    const files = readdirSync(cwd);
    return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr, files };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function ok(r: ReturnType<typeof run>, what: string) {
  assert.equal(r.signal, null, `${what} was killed (timeout?)\n${r.err}`);
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.out}\n${r.err}`);
}

describe('examples', () => {
  it('the virtual topology (wiring.js) pings over IPv6 and writes its capture', () => {
    const r = run(join(dist, 'wiring.js'));
    ok(r, 'wiring.js');
    assert.match(r.out, /^a got hello$/m);
    assert.match(r.out, /^ping over IPv6 answered by 2001:db8:2::2, hop limit 63$/m);
    assert.deepEqual(r.files, ['wiring.pcapng']);
  });

  it('the NAT-type lab reproduces RFC 4787 hole punching for all sixteen pairs', () => {
    const r = run(join(dist, 'nat-type-lab.js'));
    ok(r, 'nat-type-lab.js');
    assert.match(r.out, /every result matches RFC 4787/);
    const rows = r.out
      .split('\n')
      .filter((l) =>
        /^ {2}(full-cone|restricted-cone|port-restricted-cone|symmetric) +(connects|fails)/.test(l),
      );
    assert.equal(rows.length, 4);
    const fails = rows.map((l) => (l.match(/fails/g) ?? []).length);
    assert.deepEqual(fails, [0, 0, 1, 2]);
    assert.match(r.out, /symmetric: a new mapping per destination/);
    assert.match(r.out, /full-cone: endpoint-independent mapping \(mapped as 203\.0\.113\.1:5000\)/);
  });

  it('the WireGuard gateway keeps two peers with one address apart and publishes a forward', () => {
    const r = run(join(dist, 'wireguard-gateway.js'));
    ok(r, 'wireguard-gateway.js');
    assert.match(r.out, /^alice: tunnel address 10\.0\.0\.2, NAT tenant 1$/m);
    assert.match(r.out, /^bob: tunnel address 10\.0\.0\.2, NAT tenant 2$/m);
    const ports = [...r.out.matchAll(/-> 203\.0\.113\.80:7000: seen as 203\.0\.113\.1:(\d+)/g)].map(
      (m) => m[1],
    );
    assert.equal(ports.length, 2);
    assert.notEqual(ports[0], ports[1]);
    assert.match(r.out, /\(forward to tenant 2\): bob's server, reached through a port forward/);
    assert.equal((r.out.match(/^handshake with /gm) ?? []).length, 2);
  });

  it('the NAT64 gateway gets an IPv6-only host a ping and a page from an IPv4-only server', () => {
    const r = run(join(dist, 'nat64-gateway.js'));
    ok(r, 'nat64-gateway.js');
    assert.match(r.out, /^198\.51\.100\.7 is 2001:db8:64::c633:6407 for the IPv6-only network$/m);
    assert.match(r.out, /IPv4-only server; you are 203\.0\.113\.1/);
    assert.match(r.out, /ipv6 +10 tcp .*TIME_WAIT src=2001:db8:1::10/);
  });

  it('the UPnP example discovers the IGD, maps a port with SOAP, is reached through it, then unmaps', () => {
    const r = run(join(dist, 'upnp-example.js'), ['upnp.pcapng']);
    ok(r, 'upnp-example.js');
    assert.match(r.out, /the gateway's description is at http:\/\/192\.168\.1\.1:\d+\/\S+$/m);
    assert.match(r.out, /GetExternalIPAddress → 203\.0\.113\.1$/m);
    assert.match(r.out, /forward: upnp tcp 203\.0\.113\.1:3074 -> 192\.168\.1\.20:3074 /);
    assert.match(r.out, /read: "welcome to the console's lobby, 198\.51\.100\.7"$/m);
    assert.match(r.out, /DeletePortMapping → the NAT has 0 forwards/);
    assert.match(r.out, /^\d+ packets written to upnp\.pcapng$/m);
    assert.deepEqual(r.files, ['upnp.pcapng']);
  });

  it('npm run demo (examples/dist/demo.js) writes l3kit-demo.pcapng', () => {
    const r = run(join(dist, 'demo.js'));
    ok(r, 'demo.js');
    assert.deepEqual(r.files, ['l3kit-demo.pcapng']);
    assert.match(r.out, /== done/);
  });

  it('l3kit demo runs from the installed command, without colour under NO_COLOR', () => {
    const bin = join(root, 'packages', 'cli', 'dist', 'src', 'bin.js');
    assert.ok(existsSync(bin));
    const r = run(bin, ['demo', '--out', 'tour.pcapng']);
    ok(r, 'l3kit demo');
    assert.deepEqual(r.files, ['tour.pcapng']);
    assert.ok(!r.out.includes('\x1b['));
    for (const part of ['== NAT:', '== WireGuard:', '== NAT64:', 'conntrack v1.4 (l3kit)'])
      assert.ok(r.out.includes(part), part);
  });
});
