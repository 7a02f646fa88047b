import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIp } from '@l3kit/wire';
import { AllowedIps } from '../src/allowed-ips.js';

const ip = (s: string) => parseIp(s) as Uint8Array;

describe('AllowedIps', () => {
  it('finds the longest matching IPv4 prefix', () => {
    const t = new AllowedIps<string>();
    t.insert('10.0.0.0/8', 'a');
    t.insert('10.1.0.0/16', 'b');
    t.insert('10.1.2.3/32', 'c');
    assert.equal(t.lookup(ip('10.9.9.9'), 0, 4), 'a');
    assert.equal(t.lookup(ip('10.1.9.9'), 0, 4), 'b');
    assert.equal(t.lookup(ip('10.1.2.3'), 0, 4), 'c');
    assert.equal(t.lookup(ip('11.0.0.1'), 0, 4), undefined);
  });

  it('finds IPv6 prefixes and a default route, separately from IPv4', () => {
    const t = new AllowedIps<number>();
    t.insert('::/0', 1);
    t.insert('2001:db8::/32', 2);
    assert.equal(t.lookup(ip('2001:db8::1'), 0, 16), 2);
    assert.equal(t.lookup(ip('2001:db9::1'), 0, 16), 1);
    assert.equal(t.lookup(ip('10.0.0.1'), 0, 4), undefined);
  });

  it('removes prefixes and all prefixes of a value', () => {
    const t = new AllowedIps<string>();
    t.insert('10.0.0.0/8', 'a');
    t.insert('10.1.0.0/16', 'b');
    t.insert('192.168.0.0/16', 'b');
    assert.ok(t.remove('10.1.0.0/16'));
    assert.equal(t.remove('10.1.0.0/16'), false);
    assert.equal(t.lookup(ip('10.1.1.1'), 0, 4), 'a');
    t.removeValue('b');
    assert.equal(t.lookup(ip('192.168.1.1'), 0, 4), undefined);
    assert.deepEqual(
      t.list().map((e) => e.prefix.toString()),
      ['10.0.0.0/8'],
    );
  });

  it('looks up the source and destination of IP packets and ignores short ones', () => {
    const t = new AllowedIps<string>();
    t.insert('10.0.0.2/32', 'src');
    t.insert('8.8.8.0/24', 'dst');
    const p = new Uint8Array(20);
    p[0] = 0x45;
    p.set(ip('10.0.0.2'), 12);
    p.set(ip('8.8.8.8'), 16);
    assert.equal(t.lookupPacket(p, 'src'), 'src');
    assert.equal(t.lookupPacket(p, 'dst'), 'dst');
    assert.equal(t.lookupPacket(p.subarray(0, 19), 'src'), undefined);
    assert.throws(() => t.insert('nope', 'x'), { code: 'ERR_BAD_PREFIX' });
  });
});
