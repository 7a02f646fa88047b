/** The JSON shape of `nat.snapshot()` and its validation for `Nat.restore`. */
import { ConfigError } from '@l3kit/core';
import type { ExpectationRecord, ForwardRecord } from './records.js';
import type { DropRuleOptions, RedirectRuleOptions } from './rules.js';
import { SeqAdjust } from './seq-adjust.js';

/** Current snapshot format version. */
export const SNAPSHOT_VERSION = 1;

/** One session of a snapshot mapping. */
export interface SnapshotSession {
  remoteIp: string;
  remotePort: number;
  /** TCP state code (`TcpState`), 0 for other protocols. */
  state: number;
  flags: number;
  expiresInMs: number;
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
  /** Original destination of a redirected session. */
  origIp?: string;
  origPort?: number;
  /** TCP sequence adjustment of a connection a helper resized (`SeqAdjust.toJSON()`). */
  seqAdj?: unknown;
}

/** One mapping of a snapshot. */
export interface SnapshotMapping {
  tenant: number;
  proto: number;
  /** `MappingKind` code. */
  kind: number;
  insideIp: string;
  insidePort: number;
  keyPort: number;
  keyRemoteIp: string;
  keyRemotePort: number;
  externalIp: string;
  externalPort: number;
  /** -1 = forever (forward), 0 = not pinned. */
  pinnedForMs: number;
  idleMs: number;
  sessions: SnapshotSession[];
}

/** All NAT state, JSON-serialisable; times are relative to the moment of the snapshot. */
export interface NatSnapshot {
  version: number;
  mappings: SnapshotMapping[];
  forwards: ForwardRecord[];
  expectations: ExpectationRecord[];
  rules: Array<{ kind: 'drop' | 'redirect'; spec: DropRuleOptions | RedirectRuleOptions }>;
  quarantine: Array<{ proto: number; externalIp: string; port: number; forMs: number }>;
}

function bad(what: string): never {
  throw new ConfigError('ERR_BAD_SNAPSHOT', `bad snapshot: ${what}`);
}

function int(v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    bad(`${what} must be an integer ${lo}..${hi}`);
  return v;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) bad(`${what} must be a number`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} must be a string`);
  return v;
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) bad(`${what} must be an array`);
  return v;
}

/** Validates a snapshot (possibly parsed from JSON); throws `ConfigError` `ERR_BAD_SNAPSHOT`. */
export function parseSnapshot(x: unknown): NatSnapshot {
  if (!x || typeof x !== 'object') bad('not an object');
  const s = x as Record<string, unknown>;
  if (s.version !== SNAPSHOT_VERSION) bad(`unsupported version ${String(s.version)}`);
  const mappings = arr(s.mappings, 'mappings').map((mv, i) => {
    if (!mv || typeof mv !== 'object') bad(`mappings[${i}]`);
    const m = mv as Record<string, unknown>;
    return {
      tenant: int(m.tenant, 0, 0x7fffffff, 'tenant'),
      proto: int(m.proto, 0, 255, 'proto'),
      kind: int(m.kind, 1, 4, 'kind'),
      insideIp: str(m.insideIp, 'insideIp'),
      insidePort: int(m.insidePort, 0, 65535, 'insidePort'),
      keyPort: int(m.keyPort, 0, 65535, 'keyPort'),
      keyRemoteIp: str(m.keyRemoteIp, 'keyRemoteIp'),
      keyRemotePort: int(m.keyRemotePort, 0, 65535, 'keyRemotePort'),
      externalIp: str(m.externalIp, 'externalIp'),
      externalPort: int(m.externalPort, 0, 65535, 'externalPort'),
      pinnedForMs: num(m.pinnedForMs, 'pinnedForMs'),
      idleMs: num(m.idleMs, 'idleMs'),
      sessions: arr(m.sessions, 'sessions').map((sv) => {
        if (!sv || typeof sv !== 'object') bad('session');
        const q = sv as Record<string, unknown>;
        const out: SnapshotSession = {
          remoteIp: str(q.remoteIp, 'remoteIp'),
          remotePort: int(q.remotePort, 0, 65535, 'remotePort'),
          state: int(q.state, 0, 7, 'state'),
          flags: int(q.flags, 0, 255, 'flags'),
          expiresInMs: num(q.expiresInMs, 'expiresInMs'),
          packetsOut: int(q.packetsOut, 0, 0xffffffff, 'packetsOut'),
          packetsIn: int(q.packetsIn, 0, 0xffffffff, 'packetsIn'),
          bytesOut: num(q.bytesOut, 'bytesOut'),
          bytesIn: num(q.bytesIn, 'bytesIn'),
        };
        if (q.origIp !== undefined) {
          out.origIp = str(q.origIp, 'origIp');
          out.origPort = int(q.origPort, 0, 65535, 'origPort');
        }
        if (q.seqAdj !== undefined) {
          if (SeqAdjust.fromJSON(q.seqAdj) === null) bad('seqAdj');
          out.seqAdj = q.seqAdj;
        }
        return out;
      }),
    } satisfies SnapshotMapping;
  });
  const forwards = arr(s.forwards, 'forwards').map((fv) => {
    const f = (fv ?? {}) as Record<string, unknown>;
    const r: ForwardRecord = {
      proto: int(f.proto, 0, 255, 'proto'),
      outsideIp: str(f.outsideIp, 'outsideIp'),
      outsidePort: int(f.outsidePort, 1, 65535, 'outsidePort'),
      insideIp: str(f.insideIp, 'insideIp'),
      insidePort: int(f.insidePort, 1, 65535, 'insidePort'),
      tenant: int(f.tenant, 0, 0x7fffffff, 'tenant'),
      origin: f.origin === undefined ? 'static' : str(f.origin, 'origin'),
    };
    if (f.description !== undefined) r.description = str(f.description, 'description');
    if (f.expiresInMs !== undefined) r.expiresInMs = num(f.expiresInMs, 'expiresInMs');
    return r;
  });
  const expectations = arr(s.expectations, 'expectations').map((ev) => {
    const e = (ev ?? {}) as Record<string, unknown>;
    const r: ExpectationRecord = {
      id: num(e.id, 'id'),
      tenant: int(e.tenant, 0, 0x7fffffff, 'tenant'),
      proto: int(e.proto, 0, 255, 'proto'),
      insideIp: str(e.insideIp, 'insideIp'),
      insidePort: int(e.insidePort, 0, 65535, 'insidePort'),
      externalIp: str(e.externalIp, 'externalIp'),
      externalPort: int(e.externalPort, 0, 65535, 'externalPort'),
      expiresInMs: num(e.expiresInMs, 'expiresInMs'),
    };
    if (e.remoteIp !== undefined) r.remoteIp = str(e.remoteIp, 'remoteIp');
    if (e.remotePort !== undefined) r.remotePort = int(e.remotePort, 0, 65535, 'remotePort');
    if (e.helper !== undefined) r.helper = str(e.helper, 'helper');
    return r;
  });
  const rules = arr(s.rules ?? [], 'rules').map((rv) => {
    const r = (rv ?? {}) as Record<string, unknown>;
    if (r.kind !== 'drop' && r.kind !== 'redirect') bad('rule kind');
    if (!r.spec || typeof r.spec !== 'object') bad('rule spec');
    return { kind: r.kind as 'drop' | 'redirect', spec: r.spec as DropRuleOptions | RedirectRuleOptions };
  });
  const quarantine = arr(s.quarantine ?? [], 'quarantine').map((qv) => {
    const q = (qv ?? {}) as Record<string, unknown>;
    return {
      proto: int(q.proto, 0, 255, 'proto'),
      externalIp: str(q.externalIp, 'externalIp'),
      port: int(q.port, 0, 65535, 'port'),
      forMs: num(q.forMs, 'forMs'),
    };
  });
  return { version: SNAPSHOT_VERSION, mappings, forwards, expectations, rules, quarantine };
}
