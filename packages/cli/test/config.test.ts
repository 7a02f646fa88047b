/** Gateway config validation: the schema, the checks beyond it, and error messages with JSON paths. */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { genkey, pubkey } from '@l3kit/wireguard';
import {
  GATEWAY_SCHEMA_PATH,
  GatewayConfigError,
  jsonPath,
  loadGatewayConfig,
  validateGatewayConfig,
} from '../src/config.js';
import { baseConfig, tempDir } from './fixtures.js';

const key = genkey();
const peer = pubkey(genkey());

function problems(value: unknown): readonly string[] {
  try {
    validateGatewayConfig(value);
  } catch (e) {
    assert.ok(e instanceof GatewayConfigError);
    assert.equal(e.code, 'ERR_BAD_CONFIG');
    return e.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('gateway config', () => {
  it('accepts a complete configuration and returns it unchanged', () => {
    const cfg = {
      ...baseConfig(peer, key),
      log: { level: 'debug', format: 'json' },
      nat64: { prefix: '64:ff9b::/96', outside: '203.0.113.2/24' },
      uplink: { tun: 'l3up0', address: '203.0.113.254/24', routes: ['198.51.100.0/24'] },
      tunInside: [{ name: 'l3in0', tenant: 7, address: '10.0.0.254/24' }],
      control: { socket: '/run/l3kit.sock' },
      metrics: { port: 9464 },
      state: { file: '/var/lib/l3kit/state.json' },
    };
    assert.deepEqual(validateGatewayConfig(structuredClone(cfg)), cfg);
  });

  it('names the JSON path of every schema problem in words', () => {
    const bad = {
      nat: { inside: '10.0.0.1', outside: '203.0.113.1/24', type: 'cone', extra: 1 },
      wireguard: {
        privateKey: key,
        listenPort: 70000,
        peers: [{ publicKey: 'nope', allowedIps: [], tenant: 0 }],
      },
      uplink: { tun: 'this-name-is-far-too-long', address: '1.2.3.4/24' },
    };
    const expected = [
      '$.nat: unknown property "extra"',
      '$.nat.inside: must be an IPv4 address with a prefix length, such as 10.0.0.1/24',
      '$.nat.type: must be one of "full-cone", "restricted-cone", "port-restricted-cone", "symmetric"',
      '$.uplink.tun: must be an interface name: 1 to 15 of A-Z a-z 0-9 _ . -',
      '$.wireguard.listenPort: must be <= 65535',
      '$.wireguard.peers[0].allowedIps: must NOT have fewer than 1 items',
      '$.wireguard.peers[0].publicKey: must be a WireGuard key: 44 base64 characters, as printed by `l3kit genkey`',
      '$.wireguard.peers[0].tenant: must be >= 1',
    ];
    assert.deepEqual([...problems(bad)].sort(), expected.sort());
  });

  it('requires exactly one of privateKey and privateKeyFile', () => {
    const cfg = baseConfig(peer, key);
    const both = { ...cfg, wireguard: { ...cfg.wireguard, privateKeyFile: '/etc/l3kit/key' } };
    assert.deepEqual(problems(both), ['$.wireguard: needs exactly one of "privateKey" and "privateKeyFile"']);
    const none = { ...cfg, wireguard: { ...cfg.wireguard, privateKey: undefined } };
    assert.deepEqual(problems(JSON.parse(JSON.stringify(none))), [
      '$.wireguard: needs exactly one of "privateKey" and "privateKeyFile"',
    ]);
  });

  it('finds what the schema cannot: shared tenants, duplicate peers and forwards, bad prefixes', () => {
    const cfg = baseConfig(peer, key);
    const wg = cfg.wireguard;
    assert.ok(wg);
    const bad = {
      ...cfg,
      nat: {
        ...cfg.nat,
        forwards: [
          { proto: 'tcp', outsidePort: 80, insideIp: '10.0.0.2', insidePort: 80 },
          { proto: 'tcp', outsidePort: 80, insideIp: '10.0.0.3', insidePort: 8080, tenant: 9 },
        ],
      },
      nat64: { prefix: '64:ff9b::/95', outside: '203.0.113.1/24' },
      wireguard: { ...wg, peers: [wg.peers[0], { ...wg.peers[0], allowedIps: ['10.0.0.300/32'] }] },
      tunInside: [{ name: 'l3in0', tenant: 1, address: '10.0.0.254/24' }],
    };
    const p = problems(bad);
    assert.ok(
      p.includes('$.wireguard.peers[1].tenant: tenant 1 is already used by $.wireguard.peers[0].tenant'),
      p.join('\n'),
    );
    assert.ok(p.includes('$.wireguard.peers[1].publicKey: duplicate peer'));
    assert.ok(p.includes('$.tunInside[0].tenant: tenant 1 is already used by $.wireguard.peers[0].tenant'));
    assert.ok(p.includes('$.nat.forwards[1]: tcp port 80 is forwarded twice'));
    assert.ok(p.includes('$.nat.forwards[1].tenant: no peer or tunInside has tenant 9'));
    assert.ok(
      p.includes('$.nat64.outside: must differ from $.nat.outside (the uplink tells them apart by address)'),
    );
    assert.ok(p.some((x) => x.startsWith('$.wireguard.peers[1].allowedIps[0]: ')));
    assert.ok(p.includes('$.nat64.prefix: an RFC 6052 prefix is /32, /40, /48, /56, /64 or /96'));
  });

  it('reports unreadable files and JSON syntax errors with the file name', () => {
    const dir = tempDir();
    try {
      const f = join(dir, 'gateway.json');
      writeFileSync(f, '{ "nat": ');
      assert.throws(
        () => loadGatewayConfig(f),
        (e: GatewayConfigError) => e.problems[0].startsWith('not valid JSON') && e.message.startsWith(f),
      );
      assert.throws(() => loadGatewayConfig(join(dir, 'missing.json')), /cannot read/);
      writeFileSync(f, JSON.stringify(baseConfig(peer, key)));
      assert.equal(loadGatewayConfig(f).wireguard?.peers[0].name, 'alice');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('turns JSON pointers into readable paths', () => {
    assert.equal(jsonPath(''), '$');
    assert.equal(jsonPath('/wireguard/peers/0/publicKey'), '$.wireguard.peers[0].publicKey');
    assert.equal(jsonPath('/a~1b/c d'), '$["a/b"]["c d"]');
  });

  it('ships the schema file with the package and validates the documented example', () => {
    const schema = JSON.parse(readFileSync(GATEWAY_SCHEMA_PATH, 'utf8'));
    assert.equal(schema.title, 'l3kit gateway configuration');
    const example = JSON.parse(readFileSync(new URL('../../examples/gateway.json', import.meta.url), 'utf8'));
    assert.doesNotThrow(() => validateGatewayConfig(example));
  });
});
