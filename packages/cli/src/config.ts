/**
 * The gateway configuration: its types, the JSON Schema (`gateway.schema.json`, shipped with the
 * package) and validation with error messages that name the JSON path of each problem.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '@l3kit/core';
import type { EndpointBehavior, NatType } from '@l3kit/nat';
import { Prefix } from '@l3kit/wire';
import { decodeKey } from '@l3kit/wireguard';
import { Ajv, type ErrorObject } from 'ajv';
import type { LogLevel } from './log.js';

/** A static port forward of the gateway config. */
export interface ForwardConfig {
  proto: 'tcp' | 'udp';
  outsidePort: number;
  insideIp: string;
  insidePort: number;
  /** Tenant of the inside server (default: the first peer's or TUN's tenant). */
  tenant?: number;
  description?: string;
}

/** A WireGuard peer of the gateway config. */
export interface PeerConfig {
  /** A name for logs and metrics (default: the first 8 characters of the public key). */
  name?: string;
  publicKey: string;
  presharedKey?: string;
  allowedIps: string[];
  /** NAT tenant id of this peer; keep it stable across restarts (the snapshot refers to it). */
  tenant: number;
  endpoint?: string;
  persistentKeepalive?: number;
}

/** The parsed gateway configuration (`gateway.json`). See `gateway.schema.json` and docs/gateway.md. */
export interface GatewayConfig {
  log?: { level?: LogLevel; format?: 'text' | 'json' };
  nat: {
    inside: string;
    outside: string;
    outsidePool?: string[];
    type?: NatType;
    mapping?: EndpointBehavior;
    filtering?: EndpointBehavior;
    hairpinning?: boolean;
    maxMappingsPerTenant?: number;
    maxMappings?: number;
    mtu?: number;
    /** Idle timeouts in seconds. */
    timeouts?: { udp?: number; icmp?: number; gre?: number; tcpEstablished?: number; tcpTransitory?: number };
    helpers?: string[];
    forwards?: ForwardConfig[];
  };
  nat64?: { prefix: string; inside?: string; outside: string; allowNonGlobal?: boolean };
  wireguard?: {
    privateKey?: string;
    privateKeyFile?: string;
    listenPort: number;
    listenAddress?: string;
    cipher?: 'native' | 'js';
    peers: PeerConfig[];
  };
  tunInside?: Array<{ name: string; tenant: number; address: string; mtu?: number }>;
  uplink?: { tun: string; address: string; mtu?: number; routes?: string[] };
  upnp?: {
    enabled?: boolean;
    igd?: boolean;
    pcp?: boolean;
    secureMode?: boolean;
    maxLeaseSeconds?: number;
    maxPerClient?: number;
  };
  control?: { socket: string };
  metrics?: { listen?: string; port: number };
  state?: { file: string };
}

/** A configuration that failed validation; `problems` lists each one as `<json path>: <what>`. */
export class GatewayConfigError extends ConfigError {
  /** One line per problem, each starting with its JSON path (`$.nat.inside: ...`). */
  readonly problems: readonly string[];
  constructor(source: string, problems: string[]) {
    super('ERR_BAD_CONFIG', `${source}: invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'GatewayConfigError';
    this.problems = problems;
  }
}

/** The path of the JSON Schema file shipped with `@l3kit/cli`. */
export const GATEWAY_SCHEMA_PATH: string = resolve(
  dirname(new URL(import.meta.url).pathname),
  '..',
  '..',
  'gateway.schema.json',
);

let validator: ReturnType<Ajv['compile']> | undefined;

/** The gateway's JSON Schema, as an object. */
export function gatewaySchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(GATEWAY_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
}

const FRIENDLY: Record<string, string> = {
  ipv4: 'must be an IPv4 address such as 10.0.0.1',
  prefix4: 'must be an IPv4 address with a prefix length, such as 10.0.0.1/24',
  key: 'must be a WireGuard key: 44 base64 characters, as printed by `l3kit genkey`',
  ifname: 'must be an interface name: 1 to 15 of A-Z a-z 0-9 _ . -',
};

/** `/wireguard/peers/0/publicKey` → `$.wireguard.peers[0].publicKey`. */
export function jsonPath(pointer: string): string {
  let out = '$';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part)
      ? `[${part}]`
      : /^[A-Za-z_$][\w$]*$/.test(part)
        ? `.${part}`
        : `[${JSON.stringify(part)}]`;
  }
  return out;
}

function describe(e: ErrorObject): string {
  const path = jsonPath(e.instancePath);
  const def = /#\/definitions\/([A-Za-z0-9]+)\/pattern$/.exec(e.schemaPath)?.[1];
  if (def && FRIENDLY[def]) return `${path}: ${FRIENDLY[def]}`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${path}: unknown property ${JSON.stringify(p.additionalProperty)}`;
    case 'required':
      return `${path}: missing required property ${JSON.stringify(p.missingProperty)}`;
    case 'enum':
      return `${path}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'oneOf':
      return `${path}: needs exactly one of "privateKey" and "privateKeyFile"`;
    default:
      return `${path}: ${e.message ?? e.keyword}`;
  }
}

/**
 * Validates a parsed configuration against the schema and checks what a schema cannot (prefixes,
 * keys, unique tenants and ports, distinct outside addresses). Returns it typed; throws
 * {@link GatewayConfigError} (`ERR_BAD_CONFIG`) listing every problem with its JSON path.
 */
export function validateGatewayConfig(value: unknown, source = 'config'): GatewayConfig {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    validator = ajv.compile(gatewaySchema());
  }
  if (!validator(value)) {
    // oneOf reports the branches' own `required` errors too; keep the clearer summary.
    const errors = (validator.errors ?? []).filter((e) => !/\/oneOf\/\d+\//.test(e.schemaPath));
    throw new GatewayConfigError(source, [...new Set(errors.map(describe))]);
  }
  const cfg = value as GatewayConfig;
  const problems: string[] = [];
  const prefix = (v: string | undefined, path: string) => {
    if (v === undefined) return;
    try {
      Prefix.parse(v);
    } catch (e) {
      problems.push(`${path}: ${(e as Error).message}`);
    }
  };
  prefix(cfg.nat64?.prefix, '$.nat64.prefix');
  const plen = Number(cfg.nat64?.prefix.split('/')[1]);
  if (cfg.nat64 && ![32, 40, 48, 56, 64, 96].includes(plen))
    problems.push('$.nat64.prefix: an RFC 6052 prefix is /32, /40, /48, /56, /64 or /96');
  prefix(cfg.nat64?.inside, '$.nat64.inside');
  if (cfg.nat64 && cfg.nat64.outside.split('/')[0] === cfg.nat.outside.split('/')[0])
    problems.push('$.nat64.outside: must differ from $.nat.outside (the uplink tells them apart by address)');
  const tenants = new Map<number, string>();
  const claim = (t: number, path: string) => {
    const prev = tenants.get(t);
    if (prev) problems.push(`${path}: tenant ${t} is already used by ${prev}`);
    else tenants.set(t, path);
  };
  const wg = cfg.wireguard;
  if (wg) {
    const keys = new Set<string>();
    wg.peers.forEach((p, i) => {
      const path = `$.wireguard.peers[${i}]`;
      claim(p.tenant, `${path}.tenant`);
      if (keys.has(p.publicKey)) problems.push(`${path}.publicKey: duplicate peer`);
      keys.add(p.publicKey);
      for (const [j, a] of p.allowedIps.entries()) prefix(a, `${path}.allowedIps[${j}]`);
    });
    if (wg.privateKey) {
      try {
        decodeKey(wg.privateKey, 'privateKey');
      } catch (e) {
        problems.push(`$.wireguard.privateKey: ${(e as Error).message}`);
      }
    }
  }
  (cfg.tunInside ?? []).forEach((t, i) => {
    claim(t.tenant, `$.tunInside[${i}].tenant`);
  });
  const seen = new Set<string>();
  (cfg.nat.forwards ?? []).forEach((f, i) => {
    const k = `${f.proto}/${f.outsidePort}`;
    if (seen.has(k))
      problems.push(`$.nat.forwards[${i}]: ${f.proto} port ${f.outsidePort} is forwarded twice`);
    seen.add(k);
    if (f.tenant !== undefined && !tenants.has(f.tenant))
      problems.push(`$.nat.forwards[${i}].tenant: no peer or tunInside has tenant ${f.tenant}`);
  });
  if (problems.length) throw new GatewayConfigError(source, problems);
  return cfg;
}

/**
 * Reads and validates a configuration file. Throws {@link GatewayConfigError} (`ERR_BAD_CONFIG`)
 * for unreadable files, JSON syntax errors and invalid contents.
 */
export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new GatewayConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new GatewayConfigError(file, [`not valid JSON: ${(e as Error).message}`]);
  }
  return validateGatewayConfig(value, file);
}
