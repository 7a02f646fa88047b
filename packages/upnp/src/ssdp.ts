/**
 * SSDP (UPnP Device Architecture 1.1, section 1): parsing M-SEARCH requests, matching search
 * targets against the IGD's device tree, and building search responses and NOTIFY messages.
 *
 * Pure functions over strings and bytes: the {@link UpnpIgd} sends and times them.
 */

/** The SSDP multicast group and port (UDA 1.1 §1.1.2). */
export const SSDP_GROUP = '239.255.255.250';
/** The SSDP port. */
export const SSDP_PORT = 1900;
/** Largest SSDP message accepted (UDA messages fit in one unfragmented UDP datagram). */
export const SSDP_MAX_MESSAGE = 2048;
/** Largest MX honoured; UDA 1.1: "values greater than 5 SHOULD be treated as 5". */
export const SSDP_MAX_MX = 5;

/** The UPnP forum's schema prefix of device and service types. */
export const UPNP_URN = 'urn:schemas-upnp-org';

/** The identity of the IGD's device tree that SSDP announces. */
export interface SsdpDeviceInfo {
  /** UUIDs (without `uuid:`) of the root InternetGatewayDevice, its WANDevice and WANConnectionDevice. */
  uuidRoot: string;
  uuidWan: string;
  uuidConn: string;
  /** IGD version: 1 or 2 (WANIPConnection has the same version). */
  version: 1 | 2;
}

/** One announced (notification type, unique service name) pair. */
export interface SsdpTarget {
  nt: string;
  usn: string;
}

/** A parsed SSDP message: request line (or status line) and headers with lower-case names. */
export interface SsdpMessage {
  startLine: string;
  headers: Map<string, string>;
}

/** What an M-SEARCH asks for, or why it is ignored. */
export type MSearchParse =
  | { ok: true; st: string; mx: number }
  | { ok: false; reason: 'malformed' | 'not-msearch' | 'bad-man' | 'bad-mx' | 'no-st' };

const te = new TextEncoder();

/**
 * Parses an SSDP datagram (HTTP-over-UDP: start line, headers, blank line). Returns `null` for
 * anything that is not one: too long, not ASCII text, no start line, a header line without a
 * colon, or a repeated header. Never throws.
 */
export function parseSsdpMessage(buf: Uint8Array): SsdpMessage | null {
  if (buf.length === 0 || buf.length > SSDP_MAX_MESSAGE) return null;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c > 0x7e || (c < 0x20 && c !== 0x0d && c !== 0x0a && c !== 0x09)) return null;
  }
  const text = String.fromCharCode(...buf);
  const lines = text.split(/\r?\n/);
  const startLine = lines[0].trim();
  if (startLine === '') return null;
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l === '') break;
    const colon = l.indexOf(':');
    if (colon <= 0) return null;
    const name = l.slice(0, colon).trim().toLowerCase();
    if (name === '' || headers.has(name)) return null;
    headers.set(name, l.slice(colon + 1).trim());
  }
  return { startLine, headers };
}

/**
 * Checks an M-SEARCH (UDA 1.1 §1.3.2). `multicast`: sent to the group (then MX is required, an
 * integer ≥ 1, capped at {@link SSDP_MAX_MX}); a unicast search needs no MX (answered at once,
 * `mx` 0). MAN must be `"ssdp:discover"` (quoted; unquoted is accepted, as many clients send it).
 */
export function parseMSearch(msg: SsdpMessage, multicast: boolean): MSearchParse {
  const parts = msg.startLine.split(/\s+/);
  if (parts.length !== 3 || parts[0] !== 'M-SEARCH') return { ok: false, reason: 'not-msearch' };
  if (parts[1] !== '*' || !/^HTTP\/1\.[01]$/.test(parts[2])) return { ok: false, reason: 'malformed' };
  const man = msg.headers.get('man');
  if (man === undefined || man.replace(/"/g, '').trim().toLowerCase() !== 'ssdp:discover')
    return { ok: false, reason: 'bad-man' };
  const st = msg.headers.get('st');
  if (st === undefined || st === '') return { ok: false, reason: 'no-st' };
  const mxText = msg.headers.get('mx');
  let mx = 0;
  if (multicast) {
    if (mxText === undefined || !/^\d{1,5}$/.test(mxText)) return { ok: false, reason: 'bad-mx' };
    mx = Number(mxText);
    if (mx < 1) return { ok: false, reason: 'bad-mx' };
    mx = Math.min(mx, SSDP_MAX_MX);
  }
  return { ok: true, st, mx };
}

/** Every (NT, USN) the IGD announces, in UDA order (root device first, then devices, then services). */
export function ssdpTargets(d: SsdpDeviceInfo): SsdpTarget[] {
  const v = d.version;
  const root = `uuid:${d.uuidRoot}`;
  const wan = `uuid:${d.uuidWan}`;
  const conn = `uuid:${d.uuidConn}`;
  const igd = `${UPNP_URN}:device:InternetGatewayDevice:${v}`;
  const wanDev = `${UPNP_URN}:device:WANDevice:${v}`;
  const connDev = `${UPNP_URN}:device:WANConnectionDevice:${v}`;
  const cic = `${UPNP_URN}:service:WANCommonInterfaceConfig:1`;
  const ipc = `${UPNP_URN}:service:WANIPConnection:${v}`;
  return [
    { nt: 'upnp:rootdevice', usn: `${root}::upnp:rootdevice` },
    { nt: root, usn: root },
    { nt: igd, usn: `${root}::${igd}` },
    { nt: wan, usn: wan },
    { nt: wanDev, usn: `${wan}::${wanDev}` },
    { nt: cic, usn: `${wan}::${cic}` },
    { nt: conn, usn: conn },
    { nt: connDev, usn: `${conn}::${connDev}` },
    { nt: ipc, usn: `${conn}::${ipc}` },
  ];
}

const VERSIONED = /^(urn:schemas-upnp-org:(?:device|service):[A-Za-z0-9_-]{1,64}):(\d{1,3})$/;

/**
 * The search responses an M-SEARCH with target `st` gets: `ssdp:all` → every target;
 * `upnp:rootdevice`, a `uuid:` or a type → the matching one. A versioned type matches when the
 * device's version is the same or higher (UDA 1.1 §1.3.2), and is answered with the version asked
 * for, as miniupnpd does (a control point looking for IGD:1 finds an IGD:2). Returns (ST, USN) pairs.
 */
export function matchSearchTarget(st: string, d: SsdpDeviceInfo): SsdpTarget[] {
  const all = ssdpTargets(d);
  if (st === 'ssdp:all') return all;
  if (st === 'upnp:rootdevice' || st.startsWith('uuid:')) {
    const t = all.find((x) => x.nt === st);
    return t ? [t] : [];
  }
  const m = VERSIONED.exec(st);
  if (!m) return [];
  const wanted = Number(m[2]);
  if (wanted < 1) return [];
  for (const t of all) {
    const tm = VERSIONED.exec(t.nt);
    if (tm && tm[1] === m[1] && Number(tm[2]) >= wanted) {
      const uuid = t.usn.slice(0, t.usn.indexOf('::'));
      return [{ nt: st, usn: `${uuid}::${st}` }];
    }
  }
  return [];
}

/** Header values shared by search responses and NOTIFYs. */
export interface SsdpAnnounce {
  /** Description URL (LOCATION). */
  location: string;
  /** SERVER / USER-AGENT product tokens. */
  server: string;
  /** CACHE-CONTROL max-age, seconds. */
  maxAgeSec: number;
  /** BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG (UDA 1.1). */
  bootId: number;
  configId: number;
}

function message(lines: string[]): Uint8Array {
  return te.encode(`${lines.join('\r\n')}\r\n\r\n`);
}

/** A unicast answer to an M-SEARCH (UDA 1.1 §1.3.3). */
export function buildSearchResponse(t: SsdpTarget, a: SsdpAnnounce): Uint8Array {
  return message([
    'HTTP/1.1 200 OK',
    `CACHE-CONTROL: max-age=${a.maxAgeSec}`,
    'EXT:',
    `LOCATION: ${a.location}`,
    `SERVER: ${a.server}`,
    `ST: ${t.nt}`,
    `USN: ${t.usn}`,
    `BOOTID.UPNP.ORG: ${a.bootId}`,
    `CONFIGID.UPNP.ORG: ${a.configId}`,
  ]);
}

/** A multicast `ssdp:alive` NOTIFY (UDA 1.1 §1.2.2). */
export function buildNotifyAlive(t: SsdpTarget, a: SsdpAnnounce): Uint8Array {
  return message([
    'NOTIFY * HTTP/1.1',
    `HOST: ${SSDP_GROUP}:${SSDP_PORT}`,
    `CACHE-CONTROL: max-age=${a.maxAgeSec}`,
    `LOCATION: ${a.location}`,
    `NT: ${t.nt}`,
    'NTS: ssdp:alive',
    `SERVER: ${a.server}`,
    `USN: ${t.usn}`,
    `BOOTID.UPNP.ORG: ${a.bootId}`,
    `CONFIGID.UPNP.ORG: ${a.configId}`,
  ]);
}

/** A multicast `ssdp:byebye` NOTIFY (UDA 1.1 §1.2.3). */
export function buildNotifyByebye(t: SsdpTarget, a: Pick<SsdpAnnounce, 'bootId' | 'configId'>): Uint8Array {
  return message([
    'NOTIFY * HTTP/1.1',
    `HOST: ${SSDP_GROUP}:${SSDP_PORT}`,
    `NT: ${t.nt}`,
    'NTS: ssdp:byebye',
    `USN: ${t.usn}`,
    `BOOTID.UPNP.ORG: ${a.bootId}`,
    `CONFIGID.UPNP.ORG: ${a.configId}`,
  ]);
}
