/**
 * The IGD's control actions (WANIPConnection:1 / :2 and WANCommonInterfaceConfig:1) on top of the
 * shared {@link PortMappingTable}, with the UPnP error codes of the IGD specifications (miniupnpd
 * is the behavioural reference).
 */
import type { NatLocalHost } from '@l3kit/nat';
import { formatIpv4, parseIpv4 } from '@l3kit/wire';
import {
  type ServiceSpec,
  serviceAt,
  WAN_COMMON_INTERFACE_CONFIG,
  WAN_IP_CONNECTION,
} from './igd-description.js';
import { buildPortListing, type PortListingEntry, type SoapValue, type UpnpErrorCode } from './igd-soap.js';
import type { MappingErrorCode, PortMapping, PortMappingTable } from './policy.js';

/** IGD:2's longest lease, seconds; also what a lease of 0 means there. */
export const IGD2_MAX_LEASE_SEC = 604_800;
/** Most entries one GetListOfPortMappings returns. */
export const MAX_PORT_LISTING = 1000;

/** What an action runs against. */
export interface ActionContext {
  host: NatLocalHost;
  table: PortMappingTable;
  version: 1 | 2;
  tenant: number;
  /** The requesting control point's address. */
  client: string;
  /** Seconds since the IGD was attached. */
  uptimeSec: number;
  link: { accessType: string; upstreamBps: number; downstreamBps: number };
}

/** The outcome of an action: output arguments in SCPD order, or a UPnP error. */
export type ActionResult =
  | { ok: true; out: Array<[string, SoapValue]> }
  | { ok: false; code: UpnpErrorCode; message?: string };

const err = (code: UpnpErrorCode, message?: string): ActionResult => ({ ok: false, code, message });

function ui(v: string | undefined, max: number): number | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (!/^\d{1,10}$/.test(t)) return null;
  const n = Number(t);
  return n <= max ? n : null;
}

function bool(v: string | undefined): boolean | null {
  const t = v?.trim().toLowerCase();
  if (t === '1' || t === 'true' || t === 'yes') return true;
  if (t === '0' || t === 'false' || t === 'no') return false;
  return null;
}

function proto(v: string | undefined): 6 | 17 | null {
  const t = v?.trim().toUpperCase();
  return t === 'TCP' ? 6 : t === 'UDP' ? 17 : null;
}

function protoName(p: number): 'TCP' | 'UDP' {
  return p === 6 ? 'TCP' : 'UDP';
}

function wildcardHost(v: string | undefined): boolean {
  const t = (v ?? '').trim();
  return t === '' || t === '*';
}

/** UPnP code for a refusal of the table, per IGD version (IGD:1 has no 606 / 729 for these). */
export function upnpCodeFor(code: MappingErrorCode, version: 1 | 2): UpnpErrorCode {
  switch (code) {
    case 'invalid':
      return 402;
    case 'not-authorized':
    case 'port-not-allowed':
      return version === 2 ? 606 : 718;
    case 'conflict':
      return 718;
    case 'conflict-other':
      return version === 2 ? 729 : 718;
    case 'no-resources':
    case 'quota-exceeded':
      return 728;
    case 'not-found':
      return 714;
    case 'only-permanent-leases':
      return 725;
    case 'same-port-required':
      return 724;
    default:
      return 501;
  }
}

function remainingSec(m: PortMapping, now: number): number {
  if (m.expiresAt === Number.POSITIVE_INFINITY) return 0;
  return Math.max(1, Math.ceil((m.expiresAt - now) / 1000));
}

function entryOut(m: PortMapping, now: number, withKey: boolean): Array<[string, SoapValue]> {
  const out: Array<[string, SoapValue]> = [];
  if (withKey)
    out.push(['NewRemoteHost', ''], ['NewExternalPort', m.externalPort], ['NewProtocol', protoName(m.proto)]);
  out.push(
    ['NewInternalPort', m.internalPort],
    ['NewInternalClient', m.internalIp],
    ['NewEnabled', m.enabled ? 1 : 0],
    ['NewPortMappingDescription', m.description],
    ['NewLeaseDuration', remainingSec(m, now)],
  );
  return out;
}

/** The services by control path. */
export function serviceSpec(kind: 'cic' | 'ipc', version: 1 | 2): { spec: ServiceSpec; type: string } {
  if (kind === 'cic')
    return {
      spec: WAN_COMMON_INTERFACE_CONFIG,
      type: 'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1',
    };
  return {
    spec: serviceAt(WAN_IP_CONNECTION, version),
    type: `urn:schemas-upnp-org:service:WANIPConnection:${version}`,
  };
}

/**
 * Checks the arguments against the action's SCPD: every in-argument present, nothing else
 * (UDA 1.1 §3.2.2: 402 Invalid Args). Returns the error or `undefined`.
 */
export function checkArguments(
  spec: ServiceSpec,
  action: string,
  args: Map<string, string>,
): ActionResult | undefined {
  const a = spec.actions.find((x) => x.name === action);
  if (!a) return err(401, `no action ${action}`);
  const ins = a.args.filter((g) => g.dir === 'in').map((g) => g.name);
  for (const n of ins) if (!args.has(n)) return err(402, `missing argument ${n}`);
  for (const n of args.keys()) if (!ins.includes(n)) return err(402, `unexpected argument ${n}`);
  return undefined;
}

type MappingArgs = {
  eport: number;
  iport: number;
  proto: 6 | 17;
  internalIp: string;
  enabled: boolean;
  description: string;
  leaseSec: number;
};

function mappingArgs(c: ActionContext, a: Map<string, string>, any: boolean): MappingArgs | ActionResult {
  if (!wildcardHost(a.get('NewRemoteHost'))) return err(726, 'only the wildcard remote host is supported');
  const eport = ui(a.get('NewExternalPort'), 65535);
  const iport = ui(a.get('NewInternalPort'), 65535);
  const p = proto(a.get('NewProtocol'));
  const enabled = bool(a.get('NewEnabled'));
  const leaseSec = ui(a.get('NewLeaseDuration'), 0xffffffff);
  if (eport === null || iport === null || p === null || enabled === null || leaseSec === null)
    return err(402, 'bad argument value');
  if (eport === 0 && !any) return err(716, 'the external port cannot be a wildcard');
  if (iport === 0)
    return c.version === 2 ? err(732, 'the internal port cannot be a wildcard') : err(402, 'internal port 0');
  let ic = (a.get('NewInternalClient') ?? '').trim();
  if (ic === '') ic = c.client; // as miniupnpd: an empty NewInternalClient means the caller
  const ipn = parseIpv4(ic);
  if (ipn === null || ipn === 0 || ipn === -1 || ipn === 0xffffffff) return err(402, 'bad NewInternalClient');
  return {
    eport,
    iport,
    proto: p,
    internalIp: formatIpv4(ipn),
    enabled,
    description: a.get('NewPortMappingDescription') ?? '',
    leaseSec,
  };
}

function addMapping(c: ActionContext, a: Map<string, string>, any: boolean): ActionResult {
  const m = mappingArgs(c, a, any);
  if ('ok' in m) return m;
  let leaseSec = m.leaseSec;
  if (c.version === 2 && (leaseSec === 0 || leaseSec > IGD2_MAX_LEASE_SEC)) leaseSec = IGD2_MAX_LEASE_SEC;
  const r = c.table.add({
    tenant: c.tenant,
    client: c.client,
    proto: m.proto,
    externalPort: m.eport,
    internalIp: m.internalIp,
    internalPort: m.iport,
    leaseMs: leaseSec * 1000,
    origin: 'upnp',
    description: m.description,
    enabled: m.enabled,
    portChoice: any ? 'any' : 'exact',
  });
  if (!r.ok) return err(upnpCodeFor(r.code, c.version), r.message);
  return { ok: true, out: any ? [['NewReservedPort', r.mapping.externalPort]] : [] };
}

function portRange(
  a: Map<string, string>,
): { from: number; to: number; proto: 6 | 17; manage: boolean } | ActionResult {
  const from = ui(a.get('NewStartPort'), 65535);
  const to = ui(a.get('NewEndPort'), 65535);
  const p = proto(a.get('NewProtocol'));
  const manage = bool(a.get('NewManage'));
  if (from === null || to === null || p === null || manage === null) return err(402, 'bad argument value');
  if (from > to) return err(733, 'NewStartPort is greater than NewEndPort');
  return { from, to, proto: p, manage };
}

/** Runs one action. The arguments were checked with {@link checkArguments}. Never throws. */
export function runAction(
  kind: 'cic' | 'ipc',
  action: string,
  a: Map<string, string>,
  c: ActionContext,
): ActionResult {
  const ok = (out: Array<[string, SoapValue]>): ActionResult => ({ ok: true, out });
  if (kind === 'cic') {
    const t = c.host.trafficTotals();
    switch (action) {
      case 'GetCommonLinkProperties':
        return ok([
          ['NewWANAccessType', c.link.accessType],
          ['NewLayer1UpstreamMaxBitRate', c.link.upstreamBps],
          ['NewLayer1DownstreamMaxBitRate', c.link.downstreamBps],
          ['NewPhysicalLinkStatus', 'Up'],
        ]);
      // ui4 counters wrap at 2^32 (IGD:1 WANCommonInterfaceConfig).
      case 'GetTotalBytesSent':
        return ok([['NewTotalBytesSent', t.bytesOut % 2 ** 32]]);
      case 'GetTotalBytesReceived':
        return ok([['NewTotalBytesReceived', t.bytesIn % 2 ** 32]]);
      case 'GetTotalPacketsSent':
        return ok([['NewTotalPacketsSent', t.packetsOut % 2 ** 32]]);
      case 'GetTotalPacketsReceived':
        return ok([['NewTotalPacketsReceived', t.packetsIn % 2 ** 32]]);
    }
    return err(401);
  }
  const now = c.host.clock.now();
  switch (action) {
    case 'GetExternalIPAddress': {
      let ip: string;
      try {
        // The client's paired external address (with an outside pool, RFC 4787 REQ-2).
        ip = c.host.externalAddress(c.tenant, c.client);
      } catch {
        return err(501, 'no external address');
      }
      return ok([['NewExternalIPAddress', ip]]);
    }
    case 'GetStatusInfo':
      return ok([
        ['NewConnectionStatus', 'Connected'],
        ['NewLastConnectionError', 'ERROR_NONE'],
        ['NewUptime', c.uptimeSec],
      ]);
    case 'GetConnectionTypeInfo':
      return ok([
        ['NewConnectionType', 'IP_Routed'],
        ['NewPossibleConnectionTypes', 'IP_Routed'],
      ]);
    case 'GetNATRSIPStatus':
      return ok([
        ['NewRSIPAvailable', 0],
        ['NewNATEnabled', 1],
      ]);
    case 'AddPortMapping':
      return addMapping(c, a, false);
    case 'AddAnyPortMapping':
      return addMapping(c, a, true);
    case 'DeletePortMapping': {
      const eport = ui(a.get('NewExternalPort'), 65535);
      const p = proto(a.get('NewProtocol'));
      if (eport === null || p === null) return err(402, 'bad argument value');
      if (!wildcardHost(a.get('NewRemoteHost'))) return err(714, 'no mapping with that remote host');
      const r = c.table.remove({ tenant: c.tenant, client: c.client }, p, eport);
      if (!r.ok) return err(r.code === 'not-found' ? 714 : upnpCodeFor(r.code, 2), r.message);
      return ok([]);
    }
    case 'DeletePortMappingRange': {
      const r = portRange(a);
      if ('ok' in r) return r;
      const present = c.table.list(c.tenant, { proto: r.proto, from: r.from, to: r.to }).length;
      if (present === 0) return err(730, 'no mapping in the range');
      const n = c.table.removeRange({ tenant: c.tenant, client: c.client }, r.proto, r.from, r.to, r.manage);
      if (n === 0) return err(606, 'no mapping in the range belongs to the caller');
      return ok([]);
    }
    case 'GetSpecificPortMappingEntry': {
      const eport = ui(a.get('NewExternalPort'), 65535);
      const p = proto(a.get('NewProtocol'));
      if (eport === null || p === null) return err(402, 'bad argument value');
      if (eport === 0) return err(402, 'external port 0');
      if (!wildcardHost(a.get('NewRemoteHost'))) return err(714, 'no mapping with that remote host');
      const m = c.table.get(c.tenant, p, eport, c.client);
      if (!m) return err(714, 'no such mapping');
      return ok(entryOut(m, now, false));
    }
    case 'GetGenericPortMappingEntry': {
      const idx = ui(a.get('NewPortMappingIndex'), 65535);
      if (idx === null) return err(402, 'bad NewPortMappingIndex');
      const list = c.table.list(c.tenant);
      if (idx >= list.length) return err(713, 'index out of range');
      return ok(entryOut(list[idx], now, true));
    }
    case 'GetListOfPortMappings': {
      const r = portRange(a);
      if ('ok' in r) return r;
      const want = ui(a.get('NewNumberOfPorts'), 65535);
      if (want === null) return err(402, 'bad NewNumberOfPorts');
      let list = c.table.list(c.tenant, { proto: r.proto, from: r.from, to: r.to });
      if (!r.manage) list = list.filter((m) => m.internalIp === c.client || m.client === c.client);
      if (list.length === 0) return err(730, 'no mapping in the range');
      list.sort((x, y) => x.externalPort - y.externalPort);
      const limit = Math.min(want === 0 ? MAX_PORT_LISTING : want, MAX_PORT_LISTING);
      const entries: PortListingEntry[] = list.slice(0, limit).map((m) => ({
        remoteHost: '',
        externalPort: m.externalPort,
        protocol: protoName(m.proto),
        internalPort: m.internalPort,
        internalClient: m.internalIp,
        enabled: m.enabled,
        description: m.description,
        leaseSec: remainingSec(m, now),
      }));
      // The listing escapes its text, so it cannot contain ']]>'.
      return ok([['NewPortListing', { cdata: buildPortListing(entries) }]]);
    }
  }
  return err(401);
}
