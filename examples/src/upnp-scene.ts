/**
 * The UPnP part of the demo: a game console behind the NAT opens a port on the NAT itself, the
 * way consoles and P2P clients do at home. It discovers the gateway with SSDP (an M-SEARCH to
 * 239.255.255.250:1900), reads the device description, asks for the external address and adds a
 * port mapping with SOAP — all over l3kit's userspace TCP/UDP — and a peer on the outside then
 * connects to the mapped port and reaches the console's server. Finally the console deletes the
 * mapping. No sockets, no root.
 *
 * ```text
 *  console 192.168.1.20 ─── Nat 192.168.1.1 | 203.0.113.1 ─── peer 198.51.100.7
 *              └─ SSDP + HTTP/SOAP ─┘ UpnpIgd (local helper)
 * ```
 */
import { type Capture, type Clock, connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import {
  parseSoapFault,
  parseSsdpMessage,
  parseXml,
  SOAP_ENVELOPE_NS,
  SSDP_GROUP,
  SSDP_PORT,
  UpnpIgd,
  type XmlElement,
  xmlEscape,
} from '@l3kit/upnp';
import { sceneScheduler, settle } from './wireguard-scene.js';

/** What the UPnP scene did. */
export interface UpnpSceneResult {
  /** The description URL from the SSDP answer. */
  location: string;
  /** The WANIPConnection control URL read from the description. */
  controlUrl: string;
  /** GetExternalIPAddress's answer. */
  externalIp: string;
  /** The NAT forward the mapping created, e.g. `upnp tcp 203.0.113.1:3074 -> 192.168.1.20:3074 (console, lease 3600 s)`. */
  forward: string;
  /** What the outside peer read through the mapped port. */
  greeting: string;
  /** The NAT's forwards after DeletePortMapping (0). */
  forwardsAfterDelete: number;
}

const WANIP = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const GAME_PORT = 3074;

/** Sends one HTTP request over a userspace TCP connection and returns status and body. */
async function http1(
  host: VirtualHost,
  url: URL,
  method: string,
  headers: string[],
  body = '',
): Promise<{ status: number; body: string }> {
  const port = Number(url.port || 80);
  const sock = host.tcp.connect({ host: url.hostname, port });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', resolve);
    sock.on('error', reject);
  });
  const head = [
    `${method} ${url.pathname} HTTP/1.1`,
    `Host: ${url.host}`,
    ...headers,
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  sock.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  await done;
  const text = Buffer.concat(chunks).toString('utf8');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

/** Calls an action of WANIPConnection:1; returns its output arguments or throws with the UPnP error. */
async function soap(
  host: VirtualHost,
  control: URL,
  action: string,
  args: Record<string, string | number> = {},
): Promise<Map<string, string>> {
  const params = Object.entries(args)
    .map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`)
    .join('');
  const envelope =
    `<?xml version="1.0"?><s:Envelope xmlns:s="${SOAP_ENVELOPE_NS}" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` +
    `<s:Body><u:${action} xmlns:u="${WANIP}">${params}</u:${action}></s:Body></s:Envelope>`;
  const r = await http1(
    host,
    control,
    'POST',
    ['Content-Type: text/xml; charset="utf-8"', `SOAPAction: "${WANIP}#${action}"`],
    envelope,
  );
  if (r.status !== 200) {
    const f = parseSoapFault(r.body);
    throw new Error(`${action}: ${f ? `UPnP error ${f.code} ${f.description}` : `HTTP ${r.status}`}`);
  }
  const doc = parseXml(r.body);
  const out = new Map<string, string>();
  if (doc.ok) for (const c of doc.root.children[0]?.children[0]?.children ?? []) out.set(c.name, c.text);
  return out;
}

function find(el: XmlElement, pred: (e: XmlElement) => boolean): XmlElement | undefined {
  if (pred(el)) return el;
  for (const c of el.children) {
    const f = find(c, pred);
    if (f) return f;
  }
  return undefined;
}

/** Runs the scene; packets are recorded (and printed) through `cap`. */
export async function runUpnpScene(
  cap: Capture,
  log: (line: string) => void,
  clock: Clock,
): Promise<UpnpSceneResult> {
  const sched = sceneScheduler(clock);
  const timing = sched ? { clock, scheduler: sched } : { clock };
  const nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', clock, maintainIntervalMs: 0 });
  const igd = new UpnpIgd({
    version: 1,
    notifyIntervalMs: 0,
    maxResponseDelayMs: 20,
    ...(sched ? { scheduler: sched } : {}),
  });
  nat.addHelper(igd);
  const console_ = new VirtualHost({ addr: '192.168.1.20/24', gateway: '192.168.1.1', ...timing });
  const peer = new VirtualHost({ addr: '198.51.100.7/24', gateway: '198.51.100.1', ...timing });
  nat.connectL3(cap.tap(console_, 'console'));
  connectL3(nat.outside(), cap.tap(peer, 'peer'));
  try {
    // 1. SSDP: who is the Internet gateway here?
    const ssdp = console_.udp.bind(0);
    const answer = new Promise<string>((resolve) =>
      ssdp.once('message', (d) => resolve(d.toString('latin1'))),
    );
    ssdp.send(
      `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_GROUP}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n` +
        'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n',
      SSDP_PORT,
      SSDP_GROUP,
    );
    const msg = parseSsdpMessage(new TextEncoder().encode(await settle(answer, sched)));
    ssdp.close();
    const location = msg?.headers.get('location');
    if (!location) throw new Error('no LOCATION in the SSDP answer');
    log(`   console: M-SEARCH to ${SSDP_GROUP}:${SSDP_PORT} answered by ${msg?.headers.get('usn')}`);
    log(`   console: the gateway's description is at ${location}`);

    // 2. The description names the WANIPConnection control URL.
    const desc = await settle(http1(console_, new URL(location), 'GET', []), sched);
    const doc = parseXml(desc.body);
    if (!doc.ok) throw new Error(`bad description: ${doc.error}`);
    const service = find(
      doc.root,
      (e) => e.name === 'service' && e.children.some((c) => c.name === 'serviceType' && c.text === WANIP),
    );
    const ctl = service?.children.find((c) => c.name === 'controlURL')?.text;
    if (!ctl) throw new Error('no WANIPConnection control URL in the description');
    const control = new URL(ctl, location);
    log(`   console: WANIPConnection:1 is controlled at ${control}`);

    // 3. SOAP: the external address, then a mapping for the game port.
    const externalIp =
      (await settle(soap(console_, control, 'GetExternalIPAddress'), sched)).get('NewExternalIPAddress') ??
      '';
    log(`   console: GetExternalIPAddress → ${externalIp}`);
    await settle(
      soap(console_, control, 'AddPortMapping', {
        NewRemoteHost: '',
        NewExternalPort: GAME_PORT,
        NewProtocol: 'TCP',
        NewInternalPort: GAME_PORT,
        NewInternalClient: '192.168.1.20',
        NewEnabled: 1,
        NewPortMappingDescription: 'console',
        NewLeaseDuration: 3600,
      }),
      sched,
    );
    const f = nat.listPortForwards()[0];
    const forward = `${f.origin} tcp ${f.outsideIp}:${f.outsidePort} -> ${f.insideIp}:${f.insidePort} (${f.description}, lease ${Math.round((f.expiresInMs ?? 0) / 1000)} s)`;
    log(`   console: AddPortMapping TCP ${GAME_PORT} → the NAT now has a forward: ${forward}`);

    // 4. The console's server, reached from outside through the mapping.
    const server = console_.tcp.listen(GAME_PORT, (sock) =>
      sock.end(`welcome to the console's lobby, ${sock.remoteAddress}\n`),
    );
    const greeting = await settle(
      new Promise<string>((resolve, reject) => {
        const c = peer.tcp.connect({ host: externalIp, port: GAME_PORT });
        let text = '';
        c.on('data', (d: Buffer) => {
          text += d.toString();
        });
        c.on('end', () => resolve(text.trim()));
        c.on('error', reject);
      }),
      sched,
    );
    log(`   peer 198.51.100.7 connected to ${externalIp}:${GAME_PORT} and read: ${JSON.stringify(greeting)}`);
    server.close();

    // 5. Done playing: the console removes its mapping.
    await settle(
      soap(console_, control, 'DeletePortMapping', {
        NewRemoteHost: '',
        NewExternalPort: GAME_PORT,
        NewProtocol: 'TCP',
      }),
      sched,
    );
    const forwardsAfterDelete = nat.listPortForwards().length;
    log(
      `   console: DeletePortMapping → the NAT has ${forwardsAfterDelete} forwards; SOAP actions served: ${igd.stats.soap.actions}`,
    );
    return { location, controlUrl: control.href, externalIp, forward, greeting, forwardsAfterDelete };
  } finally {
    console_.close();
    peer.close();
    nat.close();
  }
}
