/**
 * Routing rules: which way a tenant's new connection (or UDP flow) leaves — `direct` from the
 * host, through a named proxy, through a proxy group (one member chosen per client, so a client
 * keeps one egress address), or `deny`. Rules are compiled once (prefixes with ipaddr.js) and
 * evaluated when a flow is created, never per packet. The first matching rule wins.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '@l3kit/core';
import ipaddr from 'ipaddr.js';

/** A port (`443`), or an inclusive range as text (`'8000-8099'`). */
export type PortSpec = number | string;

/**
 * What a rule does with a matching flow: `'direct'`, `'deny'`, or the name of a proxy or of a
 * proxy group given in the device options.
 */
export type EgressAction = 'direct' | 'deny' | (string & {});

/** One routing rule. Every given field must match; an empty rule matches everything. */
export interface EgressRule {
  /** Tenant names (as given to `connectL3(dev, { name })`). */
  tenant?: string | readonly string[];
  /** Destination prefixes or addresses, IPv4 or IPv6 (`'10.0.0.0/8'`, `'2001:db8::/32'`). */
  cidr?: string | readonly string[];
  /** Source (client) prefixes inside the tenant. */
  srcCidr?: string | readonly string[];
  /** Destination ports or ranges: `443`, `'8000-8099'`, `[80, 443, '8000-8099']`. */
  ports?: PortSpec | readonly PortSpec[];
  /**
   * Destination names: `'example.com'` matches the name and every subdomain, `'=example.com'`
   * only the name itself. A name is known when the DNS interceptor answered it (fake IP or a
   * recorded answer); rules with `domain` never match a flow without a name.
   */
  domain?: string | readonly string[];
  /** Transport; default both. */
  protocol?: 'tcp' | 'udp';
  /** Where matching flows go. */
  action: EgressAction;
}

/** What {@link Router.route} looks at. */
export interface RouteQuery {
  tenant: string;
  protocol: 'tcp' | 'udp';
  /** Client address (text). */
  src: string;
  /** Destination address (text). For a fake IP, the fake address. */
  dst: string;
  port: number;
  /** Destination name, lower case without the trailing dot, when known. */
  name?: string;
}

/** The outcome of routing a flow. */
export interface RouteDecision {
  /** `'direct'`, `'deny'` or a proxy name (a group is already resolved to one member). */
  action: string;
  /** Index of the matching rule, -1 for the default action. */
  rule: number;
  /** The group the proxy was chosen from, if any. */
  group?: string;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

interface CompiledRule {
  tenants: Set<string> | null;
  dst: Range[] | null;
  src: Range[] | null;
  ports: Array<[number, number]> | null;
  suffixes: string[] | null;
  exact: Set<string> | null;
  protocol: 'tcp' | 'udp' | null;
  action: string;
}

function list<T>(v: T | readonly T[] | undefined): readonly T[] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

function parseRange(text: string, what: string): Range {
  try {
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const a = ipaddr.parse(text);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  } catch (cause) {
    throw new ConfigError('ERR_BAD_PREFIX', `${what}: not a prefix: ${JSON.stringify(text)}`, { cause });
  }
}

function checkPort(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535)
    throw new ConfigError('ERR_BAD_PORT', `${what}: port must be 0..65535, got ${p}`);
  return p;
}

/** Lower case, no trailing dot. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Parses an address for matching; `null` when it is not an IP address. */
function parseAddr(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    const a = ipaddr.parse(text);
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()
      ? (a as ipaddr.IPv6).toIPv4Address()
      : a;
  } catch {
    return null;
  }
}

function inRanges(a: ipaddr.IPv4 | ipaddr.IPv6 | null, ranges: Range[]): boolean {
  if (!a) return false;
  for (const r of ranges) if (a.kind() === r[0].kind() && a.match(r)) return true;
  return false;
}

/**
 * Compiled rules plus proxy groups. `route()` returns the first matching rule's action; a group
 * resolves to one member by a hash of (tenant, client address), so a client keeps the same
 * egress as long as the group does not change (rendezvous hashing: removing one member moves
 * only that member's clients).
 */
export class Router {
  private readonly rules: CompiledRule[];
  private readonly groups: Map<string, readonly string[]>;

  /**
   * @param rules first match wins
   * @param defaultAction when nothing matches (default `'direct'`)
   * @param targets names of the configured proxies; actions must name one of them, a group, `direct` or `deny`
   * @param groups proxy groups: name → member proxy names
   */
  constructor(
    rules: readonly EgressRule[],
    readonly defaultAction: EgressAction = 'direct',
    targets: readonly string[] = [],
    groups: Record<string, readonly string[]> = {},
  ) {
    const known = new Set(targets);
    this.groups = new Map();
    for (const [g, members] of Object.entries(groups)) {
      if (known.has(g) || g === 'direct' || g === 'deny')
        throw new ConfigError(
          'ERR_BAD_OPTION',
          `proxy group ${JSON.stringify(g)} clashes with a proxy or action name`,
        );
      if (!Array.isArray(members) || members.length === 0)
        throw new ConfigError('ERR_BAD_OPTION', `proxy group ${JSON.stringify(g)} needs at least one member`);
      for (const m of members)
        if (!known.has(m) && m !== 'direct')
          throw new ConfigError(
            'ERR_UNKNOWN_PROXY',
            `proxy group ${JSON.stringify(g)}: unknown proxy ${JSON.stringify(m)}`,
          );
      this.groups.set(g, [...members]);
    }
    const checkAction = (a: string, what: string): string => {
      if (typeof a !== 'string' || (a !== 'direct' && a !== 'deny' && !known.has(a) && !this.groups.has(a)))
        throw new ConfigError('ERR_UNKNOWN_PROXY', `${what}: unknown action or proxy ${JSON.stringify(a)}`);
      return a;
    };
    checkAction(defaultAction, 'defaultAction');
    this.rules = rules.map((r, i) => {
      const what = `rules[${i}]`;
      if (!r || typeof r !== 'object')
        throw new ConfigError('ERR_BAD_OPTION', `${what}: rule object required`);
      const tenants = list(r.tenant);
      const dst = list(r.cidr);
      const src = list(r.srcCidr);
      const ports = list(r.ports);
      const domains = list(r.domain);
      if (r.protocol !== undefined && r.protocol !== 'tcp' && r.protocol !== 'udp')
        throw new ConfigError('ERR_BAD_OPTION', `${what}: protocol must be 'tcp' or 'udp'`);
      let suffixes: string[] | null = null;
      let exact: Set<string> | null = null;
      if (domains) {
        suffixes = [];
        exact = new Set();
        for (const d of domains) {
          if (typeof d !== 'string' || d.length === 0 || d === '=')
            throw new ConfigError('ERR_BAD_OPTION', `${what}: bad domain ${JSON.stringify(d)}`);
          if (d.startsWith('=')) exact.add(normalizeName(d.slice(1)));
          else suffixes.push(normalizeName(d.startsWith('*.') ? d.slice(2) : d));
        }
      }
      return {
        tenants: tenants ? new Set(tenants) : null,
        dst: dst ? dst.map((t) => parseRange(t, `${what}.cidr`)) : null,
        src: src ? src.map((t) => parseRange(t, `${what}.srcCidr`)) : null,
        ports: ports
          ? ports.map((p): [number, number] => {
              if (typeof p === 'number') return [checkPort(p, what), p];
              const m = typeof p === 'string' ? /^(\d+)-(\d+)$/.exec(p) : null;
              if (!m)
                throw new ConfigError(
                  'ERR_BAD_PORT',
                  `${what}: port range must look like '8000-8099', got ${JSON.stringify(p)}`,
                );
              const lo = checkPort(Number(m[1]), what);
              const hi = checkPort(Number(m[2]), what);
              if (lo > hi) throw new ConfigError('ERR_BAD_PORT', `${what}: port range ${lo}-${hi} is empty`);
              return [lo, hi];
            })
          : null,
        suffixes,
        exact,
        protocol: r.protocol ?? null,
        action: checkAction(r.action, `${what}.action`),
      };
    });
  }

  /** Routes one new flow. */
  route(q: RouteQuery): RouteDecision {
    const dst = parseAddr(q.dst);
    let src: ipaddr.IPv4 | ipaddr.IPv6 | null | undefined;
    const name = q.name === undefined ? undefined : normalizeName(q.name);
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      if (r.tenants && !r.tenants.has(q.tenant)) continue;
      if (r.protocol && r.protocol !== q.protocol) continue;
      if (r.ports && !r.ports.some(([lo, hi]) => q.port >= lo && q.port <= hi)) continue;
      if (r.dst && !inRanges(dst, r.dst)) continue;
      if (r.src) {
        if (src === undefined) src = parseAddr(q.src);
        if (!inRanges(src, r.src)) continue;
      }
      if (r.suffixes || r.exact) {
        if (name === undefined) continue;
        if (!r.exact?.has(name) && !r.suffixes?.some((s) => name === s || name.endsWith(`.${s}`))) continue;
      }
      return this.resolve(r.action, i, q);
    }
    return this.resolve(this.defaultAction, -1, q);
  }

  private resolve(action: string, rule: number, q: RouteQuery): RouteDecision {
    const members = this.groups.get(action);
    if (!members) return { action, rule };
    return { action: pickMember(members, `${q.tenant}\0${q.src}`), rule, group: action };
  }
}

/** Rendezvous (highest random weight) hashing: the member with the largest hash of (member, key). */
export function pickMember(members: readonly string[], key: string): string {
  let best = members[0];
  let bestScore = -1;
  for (const m of members) {
    const d = createHash('sha256').update(m).update('\0').update(key).digest();
    const score = d.readUInt32BE(0);
    if (score > bestScore) {
      bestScore = score;
      best = m;
    }
  }
  return best;
}
