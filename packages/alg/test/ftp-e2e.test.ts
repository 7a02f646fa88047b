/**
 * FTP through the NAT end to end, over the userspace TCP stack: an inside client does an
 * active-mode download from an outside server, and an outside client downloads from an inside
 * server behind a port forward in passive mode. Every packet on both links is checked with the
 * independent checksum oracle; the outside link can drop the first copy of the PORT segment so
 * the client's own TCP retransmits it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { pump } from '@l3kit/testkit';
import { FtpHelper } from '../src/index.js';
import {
  runMiniFtpClient,
  OUTSIDE_HOST as SERVER_IP,
  type Seg,
  stackTopology,
  startMiniFtpServer,
} from './alg-peers.js';

/** `client` is the inside host and `server` the outside one (roles swap for an inside server). */
function topology(withHelper: boolean, drop: (s: Seg) => boolean = () => false) {
  const t = stackTopology(drop);
  const ftp = new FtpHelper();
  if (withHelper) t.nat.addHelper(ftp);
  return { ...t, ftp, client: t.inner, server: t.outer };
}

function file(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('FTP through the NAT over the userspace stack', () => {
  it('downloads a file byte-identically with the FTP helper, the control connection staying in sync', async () => {
    const t = topology(true);
    const body = file(300_000);
    const log = startMiniFtpServer(t.server, { 'big.bin': body });
    const r = runMiniFtpClient(t.client, SERVER_IP, 'big.bin', 50000, { extra: ['NOOP'] });
    await pump(t.sched, () => r.done && r.data !== undefined);
    assert.deepEqual(
      r.replies.map((x) => x.slice(0, 3)),
      ['220', '331', '230', '200', '200', '200', '226', '221'],
    );
    assert.equal(sha(r.data as Buffer), sha(body));
    // The server saw the NAT's address in PORT; the client sent its own.
    const port = log.commands.find((c) => c.startsWith('PORT')) as string;
    assert.match(port, /^PORT 203,0,113,100,\d+,\d+$/);
    assert.equal(log.peers[0], '203.0.113.100');
    const sentPort = t.inside.find((s) => s.text.startsWith('PORT'));
    assert.equal(sentPort?.text, 'PORT 10,0,0,5,195,80\r\n');
    assert.equal(t.ftp.stats.rewrites, 1);
    assert.equal(t.nat.stats.expectationsUsed, 1);
    // Seq continuity: the segment after PORT leaves exactly where the longer PORT ended.
    const ctl = t.outside.filter((s) => s.dport === 21 && s.payload.length > 0);
    const i = ctl.findIndex((s) => s.text.startsWith('PORT'));
    assert.equal(ctl[i + 1].seq, (ctl[i].seq + ctl[i].payload.length) >>> 0);
    assert.equal(ctl[i + 1].text, 'RETR big.bin\r\n');
    t.nat.close();
  });

  it('rewrites EPRT the same way', async () => {
    const t = topology(true);
    const body = file(20_000);
    const log = startMiniFtpServer(t.server, { 'f.bin': body });
    const r = runMiniFtpClient(t.client, SERVER_IP, 'f.bin', 41873, { eprt: true });
    await pump(t.sched, () => r.done && r.data !== undefined);
    assert.equal(sha(r.data as Buffer), sha(body));
    assert.match(
      log.commands.find((c) => c.startsWith('EPRT')) as string,
      /^EPRT \|1\|203\.0\.113\.100\|\d+\|$/,
    );
    t.nat.close();
  });

  it('rewrites a retransmitted PORT identically and the transfer still completes', async () => {
    let dropped = 0;
    const t = topology(true, (s) => {
      if (s.dport === 21 && s.text.startsWith('PORT') && dropped === 0) {
        dropped++;
        return true;
      }
      return false;
    });
    const body = file(50_000);
    const log = startMiniFtpServer(t.server, { 'f.bin': body });
    const r = runMiniFtpClient(t.client, SERVER_IP, 'f.bin', 50000);
    await pump(t.sched, () => r.done && r.data !== undefined);
    assert.equal(dropped, 1);
    const copies = t.outside.filter((s) => s.dport === 21 && s.text.startsWith('PORT'));
    assert.equal(copies.length, 2, 'the client retransmitted PORT');
    assert.equal(copies[1].seq, copies[0].seq);
    assert.deepEqual(copies[1].payload, copies[0].payload);
    assert.equal(t.ftp.stats.retransmissions, 1);
    assert.equal(log.commands.filter((c) => c.startsWith('PORT')).length, 1);
    assert.equal(sha(r.data as Buffer), sha(body));
    t.nat.close();
  });

  it('fails without the helper the way a plain NAT does: 500 Illegal PORT command.', async () => {
    const t = topology(false);
    startMiniFtpServer(t.server, { 'f.bin': file(1000) });
    const r = runMiniFtpClient(t.client, SERVER_IP, 'f.bin', 50000);
    await pump(t.sched, () => r.done);
    assert.equal(r.replies.at(-1), '500 Illegal PORT command.');
    assert.equal(r.data, undefined);
    t.nat.close();
  });

  for (const mode of ['PASV', 'EPSV'] as const)
    it(`serves an outside client from an inside server behind a port forward in ${mode} mode`, async () => {
      const t = topology(true);
      t.nat.addPortForward({ proto: 6, outsidePort: 21, insideIp: '10.0.0.5', insidePort: 21 });
      const body = file(120_000);
      const log = startMiniFtpServer(t.client, { 'in.bin': body }, 10005);
      const r = runMiniFtpClient(t.server, '203.0.113.100', 'in.bin', 50000, { passive: mode });
      await pump(t.sched, () => r.done && r.data !== undefined);
      assert.equal(sha(r.data as Buffer), sha(body));
      assert.equal(log.peers[0], SERVER_IP, 'the inside server sees the real client');
      const reply = r.replies.find((x) => x.startsWith(mode === 'PASV' ? '227' : '229')) as string;
      const sent = t.inside.find((x) => x.text.startsWith(mode === 'PASV' ? '227' : '229'))?.text;
      if (mode === 'PASV') {
        assert.equal(sent, '227 Entering Passive Mode (10,0,0,5,39,21).\r\n');
        assert.match(reply, /^227 Entering Passive Mode \(203,0,113,100,\d+,\d+\)\.$/);
      } else {
        // 229 carries no address and is left as it is; the port is expected on the same external port.
        assert.equal(reply, '229 Entering Extended Passive Mode (|||10005|)');
        assert.equal(t.ftp.stats.rewrites, 0);
      }
      assert.equal(t.nat.stats.expectationsUsed, 1);
      t.nat.close();
    });
});
