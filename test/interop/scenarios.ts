/**
 * The checks every topology runs (relay, NAT): each drives real software across
 * client namespace —TUN— l3kit —TUN— server namespace and asserts on what that software saw.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLAN, parseIperf, python3, type Topology, tempDir } from './harness.js';

/** The tools {@link curlDownload} needs. */
export const CURL_TOOLS = ['curl', 'python3', 'sha256sum'] as const;

/** `ping -c 3` from the client to the server: all replies arrive. */
export async function pingServer(topo: Topology): Promise<void> {
  const r = await topo.client.run(['ping', '-c', '3', '-i', '0.2', '-W', '2', PLAN.server]);
  assert.equal(r.code, 0, `ping failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
}

/**
 * curl downloads a 1 MiB random file from `python3 -m http.server` in the server namespace; the
 * SHA-256 matches. Returns the client address the server logged.
 */
export async function curlDownload(topo: Topology, family: 4 | 6 = 4): Promise<string> {
  const host = family === 6 ? PLAN.server6 : PLAN.server;
  const url = family === 6 ? `http://[${host}]` : `http://${host}`;
  const dir = tempDir();
  const body = randomBytes(1 << 20);
  writeFileSync(join(dir, 'blob.bin'), body);
  const port = 8080;
  const srv = topo.server.spawn([python3(), '-m', 'http.server', '--bind', host, String(port)], {
    cwd: dir,
  });
  try {
    await topo.server.waitForPort(port, 'tcp', 10_000, srv);
    const sum = await topo.client.run(
      ['sh', '-c', `curl -sS --fail --max-time 20 -g ${url}:${port}/blob.bin | sha256sum`],
      { timeoutMs: 30_000 },
    );
    assert.equal(sum.code, 0, `curl | sha256sum failed: ${sum.stderr}`);
    assert.equal(sum.stdout.split(' ')[0], createHash('sha256').update(body).digest('hex'));
  } finally {
    await srv.stop();
  }
  const m = /^(\S+) - - \[.*"GET \/blob\.bin HTTP\/1\.1" 200/m.exec(srv.stderr);
  assert.ok(m, `http.server did not log the request:\n${srv.stderr}`);
  return m[1];
}

/**
 * A UDP exchange with socat: the server answers each datagram with its text upper-cased and the
 * peer address it saw. Returns that peer address.
 */
export async function socatUdp(topo: Topology): Promise<string> {
  const port = 9000;
  const srv = topo.server.spawn([
    'socat',
    '-T',
    '10',
    `UDP4-RECVFROM:${port},bind=${PLAN.server},fork`,
    'SYSTEM:read l; echo "$(echo $l | tr a-z A-Z) from $SOCAT_PEERADDR:$SOCAT_PEERPORT"',
  ]);
  try {
    await topo.server.waitForPort(port, 'udp', 10_000, srv);
    const token = `hello-${randomBytes(4).toString('hex')}`;
    const r = await topo.client.run(
      ['sh', '-c', `echo ${token} | socat -t 3 - UDP4:${PLAN.server}:${port},sourceport=40123`],
      { timeoutMs: 15_000 },
    );
    assert.equal(r.code, 0, `socat client failed: ${r.stderr}`);
    const m = new RegExp(`^${token.toUpperCase()} from (\\S+):(\\d+)$`, 'm').exec(r.stdout);
    assert.ok(m, `unexpected UDP answer: ${JSON.stringify(r.stdout)} ${r.stderr}`);
    return m[1];
  } finally {
    await srv.stop();
  }
}

/** iperf3 for `seconds` (TCP, or UDP at 50 Mbit/s); returns the receiver's Mbit/s and details. */
export async function iperf(
  topo: Topology,
  mode: 'tcp' | 'udp',
  seconds = 2,
  extra: string[] = [],
): Promise<ReturnType<typeof parseIperf>> {
  const port = 5201;
  const srv = topo.server.spawn(['iperf3', '-s', '-1', '-B', PLAN.server, '-p', String(port)]);
  try {
    await topo.server.waitForPort(port, 'tcp', 10_000, srv);
    const args = ['iperf3', '-c', PLAN.server, '-p', String(port), '-t', String(seconds), '-J', ...extra];
    if (mode === 'udp') args.push('-u', '-b', '50M');
    const r = await topo.client.run(args, { timeoutMs: (seconds + 20) * 1000 });
    assert.equal(r.code, 0, `iperf3 failed (exit ${r.code}): ${r.stdout.slice(0, 2000)} ${r.stderr}`);
    return parseIperf(r.stdout);
  } finally {
    await srv.stop();
  }
}

/** Kernel drop counters of a TUN (`ip -s link`), for diagnostics. */
async function tunDrops(topo: Topology): Promise<string> {
  const out: string[] = [];
  for (const [ns, dev] of [
    [topo.client, topo.clientTun.name],
    [topo.server, topo.serverTun.name],
  ] as const) {
    const r = await ns.run(['ip', '-s', '-j', 'link', 'show', 'dev', dev]);
    try {
      const s = JSON.parse(r.stdout)[0].stats64;
      out.push(`${dev}: rx dropped ${s.rx.dropped}, tx (queue to l3kit) dropped ${s.tx.dropped}`);
    } catch {
      out.push(`${dev}: ${r.stdout.trim()} ${r.stderr.trim()}`);
    }
  }
  return out.join('; ');
}

/**
 * iperf3 UDP at 50 Mbit/s for 2 s. Asserts that more than 1000 datagrams went, that l3kit
 * dropped none (every write to the kernel succeeded), and that the end-to-end loss is below
 * 10 % (it is usually 0; on a loaded machine the receiving iperf3 itself may fall behind).
 */
export async function udpBulk(topo: Topology): Promise<void> {
  const drops = () => {
    const a = topo.clientTun.stats.txDropped;
    const b = topo.serverTun.stats.txDropped;
    return a.linkDown + a.full + a.rejected + a.other + b.linkDown + b.full + b.rejected + b.other;
  };
  const before = drops();
  const r = await iperf(topo, 'udp', 2);
  assert.ok((r.packets ?? 0) > 1000, `only ${r.packets} datagrams`);
  assert.equal(drops() - before, 0, 'l3kit failed to write some packets to the kernel');
  assert.ok((r.lostPercent ?? 100) < 10, `lost ${r.lostPercent}% of ${r.packets} (${await tunDrops(topo)})`);
}
