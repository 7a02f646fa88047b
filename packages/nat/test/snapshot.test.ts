/** snapshot() / Nat.restore(): a restarted gateway keeps its connections. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EXT,
  H1,
  H2,
  handshake,
  liveMappings,
  R1,
  R2,
  Rig,
  TCP,
  TestTenant,
  tcp,
  tcpDataIn,
  tcpDataOut,
  UDP,
  udp,
} from './helpers.js';

describe('snapshot and restore', () => {
  it('a TCP connection continues after a restore into a new NAT with a new clock', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 443);
    tcpDataOut(rig, c, 'before');
    rig.advanceSec(100);
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap, {}, 42_000_000);
    const recs = liveMappings(r2.nat, TCP);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].state, 'ESTABLISHED');
    assert.equal(recs[0].externalPort, c.ext);
    assert.ok(
      Math.abs(recs[0].expiresInMs - (7_440_000 - 100_000)) <= 1000,
      `time left carried over (${recs[0].expiresInMs})`,
    );
    assert.equal(tcpDataIn(r2, c, 'after').length, 1, 'inbound data reaches the host');
    const out = tcpDataOut(r2, c, 'more');
    assert.equal(out.length, 1);
    assert.equal(out[0].srcPort, c.ext, 'outbound keeps the external port');
    // Expiry continues on the new clock.
    r2.advanceSec(7442);
    assert.equal(liveMappings(r2.nat, TCP).length, 0);
    r2.close();
  });

  it('forwards, expectations, mappings and filtering state survive a restore', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H2, insidePort: 53 });
    const e = rig.nat.addExpectation({ proto: UDP, insideIp: H1, insidePort: 69, remoteIp: R1 });
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap);
    assert.equal(r2.nat.listPortForwards().length, 1);
    assert.equal(r2.fromOutside(udp(R1, 1, EXT, 5353)).in[0]?.dst, H2, 'forward');
    assert.equal(r2.fromOutside(udp(R1, 7, EXT, e.externalPort)).in[0]?.dstPort, 69, 'expectation');
    assert.equal(r2.udpIn(R1, 53, x)[0]?.dstPort, 5000, 'mapping');
    assert.equal(r2.udpIn(R2, 53, x).length, 0, 'APDF filtering state kept');
    assert.equal(r2.udpOut(H2, 5000, R1, 53).srcPort !== x, true, 'no port reuse of a restored mapping');
    r2.close();
  });

  it('the snapshot is plain JSON and restoring it twice gives the same table', () => {
    const rig = new Rig();
    for (let i = 0; i < 50; i++) rig.udpOut(i % 2 ? H1 : H2, 10000 + i, R1, 53);
    rig.fromInside(tcp(H1, 40000, R2, 80, 0x02));
    const text = JSON.stringify(rig.nat.snapshot());
    const a = Rig.restored(JSON.parse(text), {}, 9_000_000);
    const b = Rig.restored(JSON.parse(text), {}, 9_000_000);
    const key = (r: Rig) =>
      liveMappings(r.nat)
        .map(
          (m) =>
            `${m.proto} ${m.insideIp}:${m.insidePort} ${m.externalPort} ${m.remoteIp}:${m.remotePort} ${m.state}`,
        )
        .sort();
    assert.equal(key(a).length, 51);
    assert.deepEqual(key(a), key(b));
    assert.deepEqual(key(a), key(rig));
    a.close();
    b.close();
    rig.close();
  });

  it('tenant flows continue when the tenants are re-attached by id after a restore', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    const ida = rig.tenantId('a');
    const idb = rig.tenantId('b');
    const xa = rig.fromTenant('a', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const xb = rig.fromTenant('b', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap);
    // Re-attach in the opposite order, by id.
    r2.addTenant('b2', idb);
    r2.addTenant('a2', ida);
    const ra = r2.fromOutside(udp(R1, 53, EXT, xa, 'for-a'));
    assert.equal(ra.tenant('a2').length, 1);
    assert.equal(ra.tenant('b2').length, 0);
    const rb = r2.fromOutside(udp(R1, 53, EXT, xb, 'for-b'));
    assert.equal(rb.tenant('b2').length, 1);
    assert.equal(rb.tenant('a2').length, 0);
    assert.equal(r2.fromTenant('a2', udp(H1, 5000, R2, 53)).out[0].srcPort, xa, 'same mapping outbound');
    assert.throws(
      () => r2.nat.connectL3(new TestTenant('dup'), { tenant: ida }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_TENANT_IN_USE',
    );
    r2.close();
  });

  it('a corrupt snapshot is refused with ERR_BAD_SNAPSHOT', () => {
    const rig = new Rig();
    rig.udpOut(H1, 5000, R1, 53);
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    for (const bad of [null, 42, {}, { ...snap, version: 999 }]) {
      assert.throws(
        () => Rig.restored(bad),
        (e: unknown) => (e as { code?: string }).code === 'ERR_BAD_SNAPSHOT',
        JSON.stringify(bad)?.slice(0, 40),
      );
    }
  });

  it('the 120 s port quarantine survives a restore', () => {
    const rig = new Rig({ portRange: { udp: [50000, 50000] } });
    rig.udpOut(H1, 5000, R1, 53);
    rig.advanceSec(301);
    assert.equal(liveMappings(rig.nat, UDP).length, 0);
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap, { portRange: { udp: [50000, 50000] } });
    assert.equal(r2.fromInside(udp(H2, 6000, R1, 53)).out.length, 0, 'still quarantined after the restart');
    r2.advanceSec(121);
    assert.equal(r2.fromInside(udp(H2, 6000, R1, 53)).out[0]?.srcPort, 50000);
    r2.close();
  });

  it('after a restore, traffic of a tenant that is not re-attached reaches nobody', () => {
    const rig = new Rig();
    rig.addTenant('a');
    const xa = rig.fromTenant('a', udp(H1, 5000, R1, 53)).out[0].srcPort as number;
    const snap = JSON.parse(JSON.stringify(rig.nat.snapshot()));
    rig.close();
    const r2 = Rig.restored(snap);
    r2.addTenant('other'); // a new device, which must get a fresh tenant id, not a's
    const r = r2.fromOutside(udp(R1, 53, EXT, xa, 'for-a'));
    assert.equal(r.all.length, 0, 'not delivered to the plain inside nor to another tenant');
    r2.close();
  });
});
