/** Drop rules and redirect (DNAT) rules. */
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
  SYN,
  TCP,
  tcp,
  tcpDataOut,
  UDP,
  udp,
} from './helpers.js';

describe('drop and redirect rules', () => {
  it('a drop rule by protocol and destination port drops new outbound flows and counts them', () => {
    const rig = new Rig();
    const id = rig.nat.addDropRule({ proto: TCP, dstPort: 25 });
    assert.equal(rig.fromInside(tcp(H1, 40000, R1, 25, SYN)).out.length, 0);
    assert.equal(rig.nat.stats.drops['drop-rule'], 1);
    assert.equal(rig.fromInside(tcp(H1, 40000, R1, 587, SYN)).out.length, 1, 'other port passes');
    assert.equal(rig.fromInside(udp(H1, 40000, R1, 25)).out.length, 1, 'other protocol passes');
    assert.equal(rig.nat.removeRule(id), true);
    assert.equal(rig.fromInside(tcp(H1, 40001, R1, 25, SYN)).out.length, 1, 'removed rule no longer applies');
    rig.close();
  });

  it('rules apply when a flow is created: an established flow is not cut by a new drop rule', () => {
    const rig = new Rig();
    const c = handshake(rig, H1, 40000, R1, 25);
    rig.nat.addDropRule({ proto: TCP, dstPort: 25 });
    assert.equal(
      tcpDataOut(rig, c, 'EHLO x').length,
      1,
      'existing flow continues (README: rules apply at flow creation)',
    );
    assert.equal(rig.fromInside(tcp(H1, 40001, R1, 25, SYN)).out.length, 0, 'a new flow is dropped');
    rig.close();
  });

  it('a drop rule by destination prefix matches only that prefix', () => {
    const rig = new Rig();
    rig.nat.addDropRule({ dst: '198.51.100.0/31' });
    assert.equal(rig.fromInside(udp(H1, 1, '198.51.100.0', 53)).out.length, 0);
    assert.equal(rig.fromInside(udp(H1, 1, R1, 53)).out.length, 0, '.1 is inside /31');
    assert.equal(rig.fromInside(udp(H1, 1, R2, 53)).out.length, 1, '.2 is outside /31');
    assert.equal(rig.nat.stats.drops['drop-rule'], 2);
    rig.close();
  });

  it('a drop rule can be limited to a source prefix', () => {
    const rig = new Rig();
    rig.nat.addDropRule({ src: `${H2}/32` });
    assert.equal(rig.fromInside(udp(H2, 1, R1, 53)).out.length, 0);
    assert.equal(rig.fromInside(udp(H1, 1, R1, 53)).out.length, 1);
    rig.close();
  });

  it('an inbound drop rule stops forwarded traffic', () => {
    const rig = new Rig();
    rig.nat.addPortForward({ proto: UDP, outsidePort: 5353, insideIp: H1, insidePort: 53 });
    rig.nat.addDropRule({ proto: UDP, dstPort: 5353, direction: 'inbound' });
    assert.equal(rig.fromOutside(udp(R1, 1, EXT, 5353)).in.length, 0);
    assert.ok(rig.nat.stats.drops['drop-rule'] >= 1);
    rig.close();
  });

  it('a redirect rule sends new outbound flows to another destination and translates replies back', () => {
    const rig = new Rig();
    const DNS = '192.0.2.53';
    rig.nat.addRedirectRule({ proto: UDP, dst: `${R1}/32`, dstPort: 53, toIp: DNS, toPort: 5353 });
    const o = rig.udpOut(H1, 4000, R1, 53);
    assert.deepEqual([o.src, o.dst, o.dstPort], [EXT, DNS, 5353], 'rewritten destination');
    const back = rig.udpIn(DNS, 5353, o.srcPort as number);
    assert.equal(back.length, 1);
    assert.deepEqual(
      [back[0].src, back[0].srcPort, back[0].dst, back[0].dstPort],
      [R1, 53, H1, 4000],
      'reply appears to come from the original destination',
    );
    const rec = liveMappings(rig.nat, UDP)[0];
    assert.deepEqual([rec.original.dst, rec.original.dstPort], [R1, 53]);
    assert.deepEqual([rec.reply.src, rec.reply.srcPort], [DNS, 5353]);
    // Other destinations are not redirected.
    assert.equal(rig.udpOut(H1, 4001, R2, 53).dst, R2);
    rig.close();
  });

  it('a redirect rule can point to an inside host (DNAT + hairpin)', () => {
    const rig = new Rig();
    rig.nat.addRedirectRule({ proto: TCP, dst: `${R1}/32`, dstPort: 80, toIp: H2, toPort: 8080 });
    const r = rig.fromInside(tcp(H1, 40000, R1, 80, SYN));
    assert.equal(r.out.length, 0, 'not sent to R1');
    assert.equal(r.in.length, 1);
    assert.deepEqual([r.in[0].dst, r.in[0].dstPort], [H2, 8080]);
    rig.close();
  });

  it('rules can be limited to one tenant', () => {
    const rig = new Rig();
    rig.addTenant('a');
    rig.addTenant('b');
    rig.nat.addDropRule({ proto: UDP, dstPort: 53, tenant: rig.tenantId('a') });
    rig.nat.addRedirectRule({
      proto: UDP,
      dst: `${R1}/32`,
      dstPort: 123,
      toIp: R2,
      toPort: 1123,
      tenant: rig.tenantId('b'),
    });
    assert.equal(rig.fromTenant('a', udp(H1, 1, R1, 53)).out.length, 0, 'dropped for a');
    assert.equal(rig.fromTenant('b', udp(H1, 1, R1, 53)).out.length, 1, 'not for b');
    assert.equal(rig.fromInside(udp(H1, 1, R1, 53)).out.length, 1, 'not for the plain inside');
    assert.deepEqual(
      [
        rig.fromTenant('b', udp(H1, 2, R1, 123)).out[0]?.dst,
        rig.fromTenant('a', udp(H1, 2, R1, 123)).out[0]?.dst,
      ],
      [R2, R1],
      'redirected for b only',
    );
    rig.close();
  });
});
