import assert from 'node:assert/strict';
import { test } from 'node:test';
import { L3kitError } from '@l3kit/core';
import { pickMember, type RouteQuery, Router } from '../src/index.js';

const q = (o: Partial<RouteQuery> = {}): RouteQuery => ({
  tenant: 'alice',
  protocol: 'tcp',
  src: '10.0.0.2',
  dst: '203.0.113.5',
  port: 443,
  ...o,
});

test('a CIDR rule matches addresses inside the prefix only, IPv4 and IPv6 alike', () => {
  const r = new Router([{ cidr: ['203.0.113.0/24', '2001:db8::/32'], action: 'p' }], 'direct', ['p']);
  assert.equal(r.route(q()).action, 'p');
  assert.equal(r.route(q({ dst: '203.0.114.5' })).action, 'direct');
  assert.equal(r.route(q({ dst: '2001:db8::1' })).action, 'p');
  assert.equal(r.route(q({ dst: '2001:db9::1' })).action, 'direct');
  assert.equal(
    r.route(q({ dst: '::ffff:203.0.113.9' })).action,
    'p',
    'an IPv4-mapped address matches the IPv4 prefix',
  );
});

test('a port rule matches single ports and inclusive ranges', () => {
  const r = new Router([{ ports: [25, '8000-8099'], action: 'deny' }], 'direct');
  assert.equal(r.route(q({ port: 25 })).action, 'deny');
  assert.equal(r.route(q({ port: 8000 })).action, 'deny');
  assert.equal(r.route(q({ port: 8099 })).action, 'deny');
  assert.equal(r.route(q({ port: 8100 })).action, 'direct');
  assert.equal(r.route(q({ port: 26 })).action, 'direct');
});

test('a domain rule matches the name and its subdomains, "=" matches the name only, never without a name', () => {
  const r = new Router(
    [
      { domain: '=exact.example', action: 'deny' },
      { domain: 'Example.COM.', action: 'p' },
    ],
    'direct',
    ['p'],
  );
  assert.equal(r.route(q({ name: 'example.com' })).action, 'p');
  assert.equal(r.route(q({ name: 'www.EXAMPLE.com.' })).action, 'p');
  assert.equal(r.route(q({ name: 'notexample.com' })).action, 'direct');
  assert.equal(r.route(q({ name: 'exact.example' })).action, 'deny');
  assert.equal(r.route(q({ name: 'sub.exact.example' })).action, 'direct');
  assert.equal(r.route(q()).action, 'direct');
});

test('tenant, source prefix and protocol narrow a rule, and the first matching rule wins', () => {
  const r = new Router(
    [
      { tenant: 'bob', action: 'deny' },
      { srcCidr: '10.0.0.128/25', action: 'p' },
      { protocol: 'udp', action: 'deny' },
      { action: 'p' },
    ],
    'direct',
    ['p'],
  );
  assert.deepEqual(r.route(q({ tenant: 'bob' })), { action: 'deny', rule: 0 });
  assert.deepEqual(r.route(q({ src: '10.0.0.200' })), { action: 'p', rule: 1 });
  assert.deepEqual(r.route(q({ protocol: 'udp' })), { action: 'deny', rule: 2 });
  assert.deepEqual(r.route(q()), { action: 'p', rule: 3 });
});

test('the default action applies when nothing matches', () => {
  const r = new Router([{ ports: 1, action: 'direct' }], 'deny');
  assert.deepEqual(r.route(q()), { action: 'deny', rule: -1 });
});

test('a proxy group keeps each client on one member and spreads clients over members', () => {
  const r = new Router([], 'pool', ['a', 'b', 'c'], { pool: ['a', 'b', 'c'] });
  const seen = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const src = `10.0.${i >> 8}.${i & 255}`;
    const d = r.route(q({ src }));
    assert.equal(d.group, 'pool');
    for (let k = 0; k < 3; k++)
      assert.equal(r.route(q({ src, port: 1000 + k })).action, d.action, 'same client, same member');
    seen.set(d.action, (seen.get(d.action) ?? 0) + 1);
  }
  assert.equal(seen.size, 3);
  for (const n of seen.values()) assert.ok(n > 50, `uneven spread ${[...seen.values()]}`);
});

test('removing a group member moves only the clients that were on it', () => {
  const keys = Array.from({ length: 200 }, (_, i) => `alice\0 10.1.0.${i}`);
  const before = keys.map((k) => pickMember(['a', 'b', 'c'], k));
  const after = keys.map((k) => pickMember(['a', 'b'], k));
  for (let i = 0; i < keys.length; i++) if (before[i] !== 'c') assert.equal(after[i], before[i]);
});

test('bad rules throw ConfigErrors with stable codes', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof L3kitError);
      return e.code;
    }
    return 'no error';
  };
  assert.equal(
    code(() => new Router([{ cidr: '10.0.0.0/33', action: 'direct' }])),
    'ERR_BAD_PREFIX',
  );
  assert.equal(
    code(() => new Router([{ ports: 70000, action: 'direct' }])),
    'ERR_BAD_PORT',
  );
  assert.equal(
    code(() => new Router([{ ports: '9-3', action: 'direct' }])),
    'ERR_BAD_PORT',
  );
  assert.equal(
    code(() => new Router([{ ports: '80..90', action: 'direct' }])),
    'ERR_BAD_PORT',
  );
  assert.equal(
    code(() => new Router([{ action: 'nope' }])),
    'ERR_UNKNOWN_PROXY',
  );
  assert.equal(
    code(() => new Router([], 'nope')),
    'ERR_UNKNOWN_PROXY',
  );
  assert.equal(
    code(() => new Router([], 'direct', ['a'], { g: ['zz'] })),
    'ERR_UNKNOWN_PROXY',
  );
  assert.equal(
    code(() => new Router([], 'direct', ['a'], { g: [] })),
    'ERR_BAD_OPTION',
  );
  assert.equal(
    code(() => new Router([{ domain: '', action: 'direct' }])),
    'ERR_BAD_OPTION',
  );
});
