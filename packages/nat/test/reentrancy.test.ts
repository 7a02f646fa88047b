/**
 * Synchronous delivery (DESIGN.md): a handler may answer by sending into the NAT again before the
 * first send returns. Virtual servers and hosts do exactly that; the NAT must stay consistent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { assertChecksums } from '@l3kit/testkit';
import { Nat } from '../src/index.js';
import {
  ACK,
  echo,
  H1,
  NAT_INSIDE,
  NAT_OUTSIDE,
  type Parsed,
  parse,
  R1,
  Rig,
  SYN,
  tcp,
  udp,
} from './helpers.js';

describe('re-entrancy', () => {
  it('an outside server and an inside host that answer from inside their handlers complete UDP, ICMP and TCP exchanges', () => {
    const nat = new Nat({
      inside: NAT_INSIDE,
      outside: NAT_OUTSIDE,
      clock: new ManualClock(0),
      maintainIntervalMs: 0,
    });
    const seenIn: Parsed[] = [];
    const seenOut: Parsed[] = [];
    nat.outside().setHandler((p) => {
      assertChecksums(p, 'outside');
      const q = parse(p.slice());
      seenOut.push(q);
      if (q.proto === 17)
        nat.outside().send(udp(q.dst, q.dstPort as number, q.src, q.srcPort as number, 'pong'));
      if (q.proto === 1 && q.icmpType === 8)
        nat.outside().send(echo(q.dst, q.src, q.icmpId as number, q.icmpSeq, true));
      if (q.proto === 6 && q.flags === SYN)
        nat
          .outside()
          .send(
            tcp(
              q.dst,
              q.dstPort as number,
              q.src,
              q.srcPort as number,
              SYN | ACK,
              5000,
              ((q.seq as number) + 1) >>> 0,
            ),
          );
    });
    nat.inside().setHandler((p) => {
      assertChecksums(p, 'inside');
      const q = parse(p.slice());
      seenIn.push(q);
      if (q.proto === 6 && q.flags === (SYN | ACK))
        nat
          .inside()
          .send(
            tcp(
              q.dst,
              q.dstPort as number,
              q.src,
              q.srcPort as number,
              ACK,
              q.ack,
              ((q.seq as number) + 1) >>> 0,
            ),
          );
    });
    nat.inside().send(udp(H1, 5000, R1, 7, 'ping'));
    nat.inside().send(echo(H1, R1, 0x55, 1));
    nat.inside().send(tcp(H1, 40000, R1, 80, SYN, 100));
    assert.deepEqual(
      seenIn.map((q) => [q.proto, q.src, q.dst, q.dstPort ?? q.icmpId]),
      [
        [17, R1, H1, 5000],
        [1, R1, H1, 0x55],
        [6, R1, H1, 40000],
      ],
    );
    assert.equal(seenOut.length, 4, 'UDP, echo, SYN and the final ACK left');
    assert.deepEqual(
      nat
        .mappings()
        .map((m) => `${m.protoName} ${m.state}`)
        .sort(),
      ['icmp ASSURED', 'tcp ESTABLISHED', 'udp ASSURED'],
    );
    nat.close();
  });

  it('a helper that throws is contained: the packet is dropped and counted, send() does not throw', () => {
    const rig = new Rig();
    rig.nat.addHelper({
      name: 'buggy',
      proto: 17,
      ports: [9],
      onPacket() {
        throw new Error('helper bug');
      },
    });
    const r = rig.fromInside(udp(H1, 1, R1, 9));
    assert.equal(r.out.length, 0);
    assert.equal(rig.nat.stats.drops.helper, 1);
    assert.equal(rig.fromInside(udp(H1, 1, R1, 10)).out.length, 1, 'other traffic unaffected');
    rig.close();
  });
});
