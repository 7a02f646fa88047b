/** GRE (protocol 47, enhanced GRE of PPTP) translated by call ID, as the PPTP helper sets it up. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXT, GRE, H1, H2, liveMappings, packet, R1, Rig } from './helpers.js';

const PPP = Uint8Array.from([0xff, 0x03, 0xc0, 0x21, 1, 2, 3, 4]);

function gre(src: string, dst: string, callId: number, seq?: number): Uint8Array {
  return packet({ src, dst, gre: { callId, seq }, payload: PPP });
}

describe('GRE', () => {
  it('GRE call IDs are translated like ports for two PPTP clients using the same call ID', () => {
    const rig = new Rig();
    // Each client picked call ID 0x100; the server gave each of them its own call ID.
    const m1 = rig.nat.createMapping({
      proto: GRE,
      insideIp: H1,
      insidePort: 0x100,
      remoteIp: R1,
      remotePort: 0x500,
    });
    const m2 = rig.nat.createMapping({
      proto: GRE,
      insideIp: H2,
      insidePort: 0x100,
      remoteIp: R1,
      remotePort: 0x501,
    });
    assert.notEqual(m1.externalPort, m2.externalPort, 'distinct external call IDs');
    // Outbound packets carry the server's call ID and only get the external source address.
    const o1 = rig.fromInside(gre(H1, R1, 0x500, 1)).out;
    assert.equal(o1.length, 1);
    assert.deepEqual([o1[0].src, o1[0].dst, o1[0].callId], [EXT, R1, 0x500]);
    // Inbound packets carry the client's (external) call ID, translated back.
    const i1 = rig.fromOutside(gre(R1, EXT, m1.externalPort, 1)).in;
    const i2 = rig.fromOutside(gre(R1, EXT, m2.externalPort, 1)).in;
    assert.equal(i1.length, 1);
    assert.equal(i2.length, 1);
    assert.deepEqual([i1[0].dst, i1[0].callId], [H1, 0x100]);
    assert.deepEqual([i2[0].dst, i2[0].callId], [H2, 0x100]);
    assert.deepEqual(
      [...i1[0].payload.subarray(i1[0].payload.length - PPP.length)],
      [...PPP],
      'payload untouched',
    );
    assert.equal(liveMappings(rig.nat, GRE).length, 2);
    rig.close();
  });

  it('GRE for an unknown call ID is dropped', () => {
    const rig = new Rig();
    assert.equal(rig.fromOutside(gre(R1, EXT, 0x4444)).all.length, 0);
    rig.close();
  });

  it('protocols the NAT does not translate are dropped and counted', () => {
    const rig = new Rig();
    const esp = packet({ src: H1, dst: R1, protocol: 50, payload: new Uint8Array(24) });
    assert.equal(rig.fromInside(esp).all.length, 0);
    assert.equal(rig.nat.stats.drops['unsupported-protocol'], 1);
    rig.close();
  });

  it('a GRE mapping expires after the GRE timeout', () => {
    const rig = new Rig();
    const m = rig.nat.createMapping({ proto: GRE, insideIp: H1, insidePort: 7, remoteIp: R1, remotePort: 9 });
    rig.advanceSec(301);
    assert.equal(liveMappings(rig.nat, GRE).length, 0);
    assert.equal(rig.fromOutside(gre(R1, EXT, m.externalPort)).in.length, 0);
    rig.close();
  });

  it('call ID 0 is a valid inside call ID, and deleteMapping removes one call and frees its external ID', () => {
    const rig = new Rig();
    const m0 = rig.nat.createMapping({
      proto: GRE,
      insideIp: H1,
      insidePort: 0,
      remoteIp: R1,
      remotePort: 0x500,
    });
    const m1 = rig.nat.createMapping({
      proto: GRE,
      insideIp: H1,
      insidePort: 1,
      remoteIp: R1,
      remotePort: 0x501,
    });
    const i0 = rig.fromOutside(gre(R1, EXT, m0.externalPort, 1)).in;
    assert.deepEqual([i0[0].dst, i0[0].callId], [H1, 0]);
    assert.equal(rig.nat.deleteMapping(m0.id), true);
    assert.equal(rig.nat.deleteMapping(m0.id), false, 'already gone');
    assert.equal(
      rig.fromOutside(gre(R1, EXT, m0.externalPort, 2)).in.length,
      0,
      'the deleted call is cut off',
    );
    assert.equal(rig.fromOutside(gre(R1, EXT, m1.externalPort, 2)).in.length, 1, 'the other call goes on');
    assert.equal(liveMappings(rig.nat, GRE).length, 1);
    assert.equal(rig.nat.deleteMapping(123456789), false);
    rig.close();
  });
});
