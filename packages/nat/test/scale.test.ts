/**
 * Table growth: tens of thousands of mappings across tenants force the flow tables to grow and
 * rehash; every mapping must still translate both ways afterwards, and expire completely.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { Nat } from '../src/index.js';
import { EXT, get16, NAT_INSIDE, NAT_OUTSIDE, R1, TestTenant, udp } from './helpers.js';

describe('scale', () => {
  it('24,000 mappings over three tenants all translate both ways after the tables grow, then all expire', () => {
    const clock = new ManualClock(0);
    const nat = new Nat({ inside: NAT_INSIDE, outside: NAT_OUTSIDE, clock, maintainIntervalMs: 0 });
    let last: Uint8Array | undefined;
    let lastSide = '';
    nat.outside().setHandler((p) => {
      last = p.slice();
      lastSide = 'out';
    });
    nat.inside().setHandler((p) => {
      last = p.slice();
      lastSide = 'inside';
    });
    const tenants = [new TestTenant('a'), new TestTenant('b')];
    for (const t of tenants) {
      t.onReceive = (p) => {
        last = p;
        lastSide = t.name;
      };
      nat.connectL3(t);
    }
    const senders: Array<[string, (p: Uint8Array) => void]> = [
      ['inside', (p) => nat.inside().send(p)],
      ['a', (p) => tenants[0].emit(p)],
      ['b', (p) => tenants[1].emit(p)],
    ];
    const ext: number[] = [];
    const N = 8000;
    for (let i = 0; i < N; i++) {
      const host = `192.168.1.${(i % 250) + 2}`;
      for (const [, send] of senders) {
        last = undefined;
        send(udp(host, 1024 + i, R1, 53));
        assert.ok(last && lastSide === 'out', `flow ${i} left`);
        ext.push(get16(last, 20));
      }
    }
    assert.equal(new Set(ext).size, ext.length, 'all external ports distinct');
    assert.equal(nat.stats.activeMappings, 3 * N);
    for (let i = 0; i < ext.length; i++) {
      last = undefined;
      nat.outside().send(udp(R1, 53, EXT, ext[i]));
      assert.ok(last, `reply ${i} delivered`);
      assert.equal(lastSide, senders[i % 3][0], `reply ${i} reached its own tenant`);
      assert.equal(get16(last, 22), 1024 + Math.floor(i / 3), `reply ${i} to the right port`);
    }
    clock.advance(301_000);
    nat.maintain();
    assert.equal(nat.stats.activeMappings, 0);
    assert.equal(nat.mappings().length, 0);
    nat.close();
  });
});
