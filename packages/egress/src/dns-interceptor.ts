/**
 * The DNS interceptor: answers tenants' UDP queries to port 53 (any server address) so the
 * egress device knows which name each connection is for. Three sources, in order:
 *
 * 1. `hosts`: static answers (like dnsmasq `address=`), recorded;
 * 2. `fakeIp`: A queries get an address from a private pool (fake-IP, as Clash / sing-box do),
 *    one per name per tenant, so every connection to a fake address carries its name — two names
 *    on one real address are told apart, and proxies receive the name (SOCKS5 ATYP 3, CONNECT
 *    host:port); AAAA queries get an empty answer so clients use IPv4;
 * 3. otherwise the query is forwarded to `upstream` (or resolved with `resolve`) and the
 *    answers are recorded, address → most recently answered name, per tenant.
 */

import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Clock } from '@l3kit/core';
import { ConfigError } from '@l3kit/core';
import { formatIpv4, parseIpv4 } from '@l3kit/wire';
import ipaddr from 'ipaddr.js';
import { type Resolver, systemResolver } from './dialer.js';
import { buildDnsQuery, buildDnsResponse, DnsRcode, DnsType, parseDnsAnswers, parseDnsQuery } from './dns.js';
import { normalizeName } from './rules.js';

/** Options of the DNS interceptor. */
export interface DnsInterceptorOptions {
  /** Static answers: name → address(es). Matched exactly (lower case). */
  hosts?: Record<string, string | readonly string[]>;
  /** Fake-IP pool (IPv4 prefix, e.g. `'198.18.0.0/15'`), or `true` for that default. */
  fakeIp?: string | boolean;
  /** Upstream resolver for forwarded queries and for resolving fake-IP names (`host:port` or host, port 53). */
  upstream?: string;
  /** Resolves names when there is no upstream (default: the system resolver). */
  resolve?: Resolver;
  /** TTL of synthesized answers in seconds (default 60; fake-IP answers use 1 s less than the recycle grace). */
  ttlSeconds?: number;
  /** Upstream query timeout in ms (default 2000). */
  timeoutMs?: number;
  /** Most names remembered per tenant (default 4096); the least recently used is forgotten. */
  maxRecords?: number;
}

/** Counters of the interceptor. */
export interface DnsStats {
  queries: number;
  /** Answered from `hosts`. */
  staticAnswers: number;
  fakeAnswers: number;
  forwarded: number;
  /** Queries that could not be parsed (dropped). */
  malformed: number;
  /** Upstream failures (answered SERVFAIL). */
  failures: number;
}

interface Recorded {
  name: string;
  expires: number;
}

/** Per-tenant name tables. */
export class DnsTable {
  /** name → fake address (uint32). Insertion order = LRU order. */
  readonly fakeByName = new Map<string, number>();
  /** fake address → name. */
  readonly nameByFake = new Map<number, string>();
  /** real address (text) → most recent name. */
  readonly recorded = new Map<string, Recorded>();
  nextFake = 0;
}

/** The interceptor shared by a device's tenants (tables are per tenant). */
export class DnsInterceptor {
  readonly stats: DnsStats = {
    queries: 0,
    staticAnswers: 0,
    fakeAnswers: 0,
    forwarded: 0,
    malformed: 0,
    failures: 0,
  };
  private readonly hosts = new Map<string, string[]>();
  private readonly fakeBase: number;
  private readonly fakeSize: number;
  private readonly upstreamHost: string | undefined;
  private readonly upstreamPort: number;
  private readonly resolver: Resolver;
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly maxRecords: number;

  constructor(
    opts: DnsInterceptorOptions,
    private readonly clock: Clock,
  ) {
    for (const [k, v] of Object.entries(opts.hosts ?? {})) {
      const addrs = typeof v === 'string' ? [v] : [...v];
      for (const a of addrs)
        if (!ipaddr.isValid(a))
          throw new ConfigError('ERR_BAD_ADDRESS', `dns.hosts[${k}]: not an address: ${a}`);
      this.hosts.set(normalizeName(k), addrs);
    }
    if (opts.fakeIp) {
      const text = opts.fakeIp === true ? '198.18.0.0/15' : opts.fakeIp;
      let net: [ipaddr.IPv4 | ipaddr.IPv6, number];
      try {
        net = ipaddr.parseCIDR(text);
      } catch (cause) {
        throw new ConfigError('ERR_BAD_PREFIX', `dns.fakeIp: not a prefix: ${text}`, { cause });
      }
      if (net[0].kind() !== 'ipv4' || net[1] > 30 || net[1] < 8)
        throw new ConfigError('ERR_BAD_PREFIX', `dns.fakeIp: need an IPv4 prefix /8../30, got ${text}`);
      const mask = (0xffffffff << (32 - net[1])) >>> 0;
      this.fakeBase = ((parseIpv4(net[0].toString()) ?? 0) & mask) >>> 0;
      this.fakeSize = 2 ** (32 - net[1]);
    } else {
      this.fakeBase = 0;
      this.fakeSize = 0;
    }
    if (opts.upstream !== undefined) {
      const u = opts.upstream;
      const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(u);
      const parts = u.split(':');
      const host = m6 ? m6[1] : parts.length === 2 ? parts[0] : u;
      const port = m6 ? m6[2] : parts.length === 2 ? parts[1] : undefined;
      if (!ipaddr.isValid(host)) throw new ConfigError('ERR_BAD_ADDRESS', `dns.upstream: bad address ${u}`);
      this.upstreamHost = host;
      this.upstreamPort = port === undefined ? 53 : Number(port);
      if (!Number.isInteger(this.upstreamPort) || this.upstreamPort < 1 || this.upstreamPort > 65535)
        throw new ConfigError('ERR_BAD_PORT', `dns.upstream: bad port in ${u}`);
    } else {
      this.upstreamHost = undefined;
      this.upstreamPort = 53;
    }
    this.resolver = opts.resolve ?? systemResolver;
    this.ttl = opts.ttlSeconds ?? 60;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxRecords = opts.maxRecords ?? 4096;
    if (!Number.isInteger(this.maxRecords) || this.maxRecords < 1)
      throw new ConfigError('ERR_BAD_OPTION', 'dns.maxRecords must be a positive integer');
  }

  /** Whether `ip` (uint32) is in the fake-IP pool. */
  isFake(ip: number): boolean {
    return this.fakeSize > 0 && ip - this.fakeBase >= 0 && ip - this.fakeBase < this.fakeSize;
  }

  /** The name behind a destination address for this tenant, if known. */
  nameFor(t: DnsTable, ip: number): string | undefined {
    if (this.isFake(ip)) return t.nameByFake.get(ip);
    const r = t.recorded.get(formatIpv4(ip));
    if (!r) return undefined;
    if (r.expires < this.clock.now()) {
      t.recorded.delete(formatIpv4(ip));
      return undefined;
    }
    return r.name;
  }

  /** The name recorded for a destination address given as text (IPv6 destinations), if any. */
  nameForText(t: DnsTable, address: string): string | undefined {
    const r = t.recorded.get(address);
    if (!r) return undefined;
    if (r.expires < this.clock.now()) {
      t.recorded.delete(address);
      return undefined;
    }
    return r.name;
  }

  /** Resolves a name to real addresses: `hosts`, then the upstream resolver, then `resolve`. */
  async resolve(name: string): Promise<string[]> {
    const n = normalizeName(name);
    const h = this.hosts.get(n);
    if (h) return h;
    if (this.upstreamHost) {
      const r = await this.ask(buildDnsQuery(randomInt(65536), n, DnsType.A));
      const p = parseDnsAnswers(r);
      if (!p || p.rcode !== DnsRcode.NoError) throw new Error(`upstream DNS: no answer for ${n}`);
      return p.answers.map((a) => a.address);
    }
    return this.resolver(n);
  }

  /** Answers one query (the UDP payload) for a tenant; resolves `null` to drop it. */
  async answer(t: DnsTable, query: Uint8Array): Promise<Uint8Array | null> {
    this.stats.queries++;
    const q = parseDnsQuery(query);
    if (!q) {
      this.stats.malformed++;
      return null;
    }
    const h = this.hosts.get(q.name);
    if (h && !(this.fakeSize > 0 && q.type === DnsType.A)) {
      this.stats.staticAnswers++;
      for (const a of h) this.record(t, a, q.name, this.ttl);
      return buildDnsResponse(query, q, DnsRcode.NoError, h, this.ttl);
    }
    if (this.fakeSize > 0 && (q.type === DnsType.A || q.type === DnsType.AAAA)) {
      this.stats.fakeAnswers++;
      if (q.type === DnsType.AAAA) return buildDnsResponse(query, q, DnsRcode.NoError, [], this.ttl);
      return buildDnsResponse(query, q, DnsRcode.NoError, [formatIpv4(this.fakeFor(t, q.name))], this.ttl);
    }
    if (this.upstreamHost) {
      this.stats.forwarded++;
      try {
        const id = randomInt(65536);
        const fwd = Uint8Array.from(query);
        fwd[0] = id >> 8;
        fwd[1] = id & 0xff;
        const r = await this.ask(fwd);
        const p = parseDnsAnswers(r);
        if (p) for (const a of p.answers) this.record(t, a.address, q.name, a.ttl);
        r[0] = q.id >> 8;
        r[1] = q.id & 0xff;
        return r;
      } catch {
        this.stats.failures++;
        return buildDnsResponse(query, q, DnsRcode.ServFail, [], 0);
      }
    }
    if (q.type !== DnsType.A && q.type !== DnsType.AAAA)
      return buildDnsResponse(query, q, DnsRcode.NoError, [], this.ttl);
    this.stats.forwarded++;
    try {
      const addrs = await this.resolver(q.name);
      for (const a of addrs) this.record(t, a, q.name, this.ttl);
      return buildDnsResponse(query, q, DnsRcode.NoError, addrs, this.ttl);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA')
        return buildDnsResponse(query, q, DnsRcode.NxDomain, [], this.ttl);
      this.stats.failures++;
      return buildDnsResponse(query, q, DnsRcode.ServFail, [], 0);
    }
  }

  private record(t: DnsTable, address: string, name: string, ttl: number): void {
    t.recorded.delete(address);
    t.recorded.set(address, { name, expires: this.clock.now() + Math.max(ttl, this.ttl) * 1000 });
    if (t.recorded.size > this.maxRecords) t.recorded.delete(t.recorded.keys().next().value as string);
  }

  /** The fake address of `name` for this tenant (allocated, or reused LRU-first when the pool is full). */
  private fakeFor(t: DnsTable, name: string): number {
    const have = t.fakeByName.get(name);
    if (have !== undefined) {
      t.fakeByName.delete(name);
      t.fakeByName.set(name, have);
      return have;
    }
    const usable = Math.min(this.fakeSize - 2, this.maxRecords);
    let ip: number;
    if (t.fakeByName.size < usable) {
      ip = (this.fakeBase + 1 + (t.nextFake++ % (this.fakeSize - 2))) >>> 0;
      const old = t.nameByFake.get(ip);
      if (old !== undefined) t.fakeByName.delete(old);
    } else {
      const [oldName, oldIp] = t.fakeByName.entries().next().value as [string, number];
      t.fakeByName.delete(oldName);
      ip = oldIp;
    }
    t.fakeByName.set(name, ip);
    t.nameByFake.set(ip, name);
    return ip;
  }

  /** One exchange with the upstream resolver over UDP. */
  private ask(query: Uint8Array): Promise<Uint8Array> {
    const host = this.upstreamHost as string;
    return new Promise((resolve, reject) => {
      const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      const id = (query[0] << 8) | query[1];
      const timer = setTimeout(() => {
        s.close();
        reject(new Error('upstream DNS timeout'));
      }, this.timeoutMs);
      s.on('error', (e) => {
        clearTimeout(timer);
        s.close();
        reject(e);
      });
      s.on('message', (m, rinfo) => {
        if (rinfo.port !== this.upstreamPort || m.length < 2 || ((m[0] << 8) | m[1]) !== id) return;
        clearTimeout(timer);
        s.close();
        resolve(new Uint8Array(m.buffer, m.byteOffset, m.length));
      });
      s.send(query, this.upstreamPort, host);
    });
  }
}
