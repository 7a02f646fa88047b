/** Port forwards: static inbound mappings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ForwardRecord } from '../src/index.js';
import { ACK, EXT, H1, H2, liveMappings, R1, R2, Rig, SYN, TCP, tcp, UDP, udp } from './helpers.js';

describe('port forwards', () => {
  it('a UDP forward delivers inbound packets and the replies leave from the forwarded port', () => {
    const rig = new Rig();
    const rec = rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    assert.deepEqual(
      [rec.proto, rec.outsidePort, rec.insideIp, rec.insidePort, rec.outsideIp, rec.tenant],
      [UDP, 5353, H1, 53, EXT, 0],
    );
    for (const remote of [R1, R2]) {
      const r = rig.fromOutside(udp(remote, 40000, EXT, 5353, 'query'));
      assert.equal(r.in.length, 1, `from ${remote}`);
      assert.deepEqual([r.in[0].src, r.in[0].srcPort, r.in[0].dst, r.in[0].dstPort], [remote, 40000, H1, 53]);
      const rep = rig.fromInside(udp(H1, 53, remote, 40000, 'answer'));
      assert.deepEqual(
        [rep.out[0].src, rep.out[0].srcPort, rep.out[0].dst, rep.out[0].dstPort],
        [EXT, 5353, remote, 40000],
      );
    }
    rig.close();
  });

  it('a TCP forward carries a whole connection and does not expire while idle', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: TCP, outsidePort: 8443, insideIp: H2, insidePort: 443 });
    rig.advanceSec(100_000);
    const syn = rig.fromOutside(tcp(R1, 50000, EXT, 8443, SYN, 10));
    assert.equal(syn.in.length, 1, 'delivered at once, not held');
    assert.deepEqual([syn.in[0].dst, syn.in[0].dstPort], [H2, 443]);
    const sa = rig.fromInside(tcp(H2, 443, R1, 50000, SYN | ACK, 77, 11));
    assert.deepEqual([sa.out[0].src, sa.out[0].srcPort], [EXT, 8443]);
    assert.equal(rig.fromOutside(tcp(R1, 50000, EXT, 8443, ACK, 11, 78, 'hi')).in.length, 1);
    rig.close();
  });

  it('listPortForwards lists what was added and removePortForward takes it away', () => {
    const rig = new Rig();
    const added: ForwardRecord[] = [];
    const removed: ForwardRecord[] = [];
    rig.nat.on('forward-added', (f) => added.push(f));
    rig.nat.on('forward-removed', (f) => removed.push(f));
    rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    rig.nat.addPortForward({ proto: TCP, outsidePort: 5353, insideIp: H2, insidePort: 53 });
    const list = rig.nat.listPortForwards();
    assert.equal(list.length, 2);
    assert.deepEqual(
      list.map((f) => `${f.proto}/${f.outsidePort}->${f.insideIp}:${f.insidePort}`).sort(),
      [`17/5353->${H1}:53`, `6/5353->${H2}:53`].sort(),
    );
    assert.equal(added.length, 2);
    assert.equal(rig.nat.removePortForward(UDP, 5353), true);
    assert.equal(rig.nat.removePortForward(UDP, 5353), false, 'already gone');
    assert.equal(removed.length, 1);
    assert.equal(rig.nat.listPortForwards().length, 1);
    assert.equal(rig.fromOutside(udp(R1, 1, EXT, 5353)).in.length, 0, 'UDP no longer forwarded');
    assert.equal(rig.fromOutside(tcp(R1, 1, EXT, 5353, SYN)).in.length, 1, 'TCP still forwarded');
    rig.close();
  });

  it('a conflicting forward is refused with a stable error code', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    assert.throws(
      () => rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H2, insidePort: 53 }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_FORWARD_CONFLICT',
    );
    const x = rig.udpOut(H2, 40000, R1, 53).srcPort as number;
    assert.throws(
      () => rig.nat.addPortForward({ proto: UDP, outsidePort: x, insideIp: H1, insidePort: 1 }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_PORT_IN_USE',
    );
    assert.throws(
      () => rig.nat.addPortForward({ proto: 99, outsidePort: 1, insideIp: H1, insidePort: 1 }),
      (e: unknown) => typeof (e as { code?: string }).code === 'string',
    );
    rig.close();
  });

  it('a forwarded port is never handed out to a dynamic mapping', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50002] }, portPreservation: false });
    rig.nat.addPortForward({ proto: UDP, outsidePort: 50001, insideIp: H1, insidePort: 53 });
    const a = rig.udpOut(H2, 1, R1, 53).srcPort;
    const b = rig.udpOut(H2, 2, R1, 53).srcPort;
    assert.deepEqual([a, b].sort(), [50000, 50002]);
    assert.equal(
      rig.fromInside(udp(H2, 3, R1, 53)).out.length,
      0,
      'exhausted rather than stealing the forward',
    );
    rig.close();
  });

  it('a forwarded inside endpoint that talks first to a new remote uses the forwarded port (EIM)', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    const o = rig.udpOut(H1, 53, '192.0.2.99', 53);
    assert.deepEqual([o.src, o.srcPort], [EXT, 5353]);
    rig.close();
  });

  it('sessions through a forward report their own time left and expire; the forward stays', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    rig.fromOutside(udp(R2, 1000, EXT, 5353));
    const sess = liveMappings(rig.nat, UDP).find((m) => m.remoteIp === R2);
    assert.ok(sess, 'a session record for the remote');
    assert.equal(sess.kind, 'forward');
    assert.ok(sess.expiresInMs <= 300_000 && sess.expiresInMs > 290_000, `time left ${sess.expiresInMs}`);
    rig.advanceSec(301);
    const recs = liveMappings(rig.nat, UDP);
    assert.deepEqual(
      recs.map((m) => [m.remoteIp, m.state]),
      [['0.0.0.0', 'LISTEN']],
    );
    rig.close();
  });
});
