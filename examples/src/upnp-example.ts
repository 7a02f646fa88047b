/**
 * UPnP: an inside host opens a port on the NAT itself, like a game console or a BitTorrent client.
 *
 * The NAT runs the UPnP IGD of `@l3kit/upnp` on its inside address. The host behind it discovers
 * the gateway with SSDP (an M-SEARCH to 239.255.255.250:1900), reads the device description,
 * asks for the external address and adds a port mapping with SOAP — all over l3kit's userspace
 * TCP/UDP — and a host outside then connects to the mapped port. No sockets, no root.
 *
 * Run it: node examples/dist/upnp-example.js        (exits 1 if a step fails)
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { connectL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { SSDP_GROUP, SSDP_PORT, UpnpIgd } from '@l3kit/upnp';

/** What the example did. */
export interface UpnpExampleResult {
  /** The LOCATION the SSDP answer pointed to. */
  location: string;
  /** GetExternalIPAddress's answer. */
  externalIp: string;
  /** The line the outside client read through the mapping. */
  greeting: string;
  /** The forward the NAT created (origin `upnp`). */
  forward: string;
}

const SERVICE = 'urn:schemas-upnp-org:service:WANIPConnection:1';

/** Sends an HTTP request from `host` and returns status and body (Node's http over l3kit TCP). */
function request(
  host: VirtualHost,
  url: URL,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: Number(url.port || 80),
        path: url.pathname,
        method: opts.method ?? 'GET',
        headers: { connection: 'close', ...opts.headers },
        createConnection: () =>
          host.tcp.connect({ host: url.hostname, port: Number(url.port || 80) }) as never,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Calls a WANIPConnection action and returns the response body (throws on a SOAP fault). */
async function soap(host: VirtualHost, control: URL, action: string, args: Record<string, string | number>) {
  const params = Object.entries(args)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('');
  const body =
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
    `<u:${action} xmlns:u="${SERVICE}">${params}</u:${action}></s:Body></s:Envelope>`;
  const r = await request(host, control, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset="utf-8"', soapaction: `"${SERVICE}#${action}"` },
    body,
  });
  if (r.status !== 200) throw new Error(`${action}: HTTP ${r.status}: ${r.body}`);
  return r.body;
}

/** Runs the example; `log` gets the narration. */
export async function runUpnpExample(log: (line: string) => void = () => {}): Promise<UpnpExampleResult> {
  const nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', maintainIntervalMs: 0 });
  const igd = new UpnpIgd({ version: 1, notifyIntervalMs: 0, maxResponseDelayMs: 0 });
  nat.addHelper(igd);
  const console_ = new VirtualHost({ addr: '192.168.1.20/24', gateway: '192.168.1.1' });
  const outside = new VirtualHost({ addr: '203.0.113.50/24', gateway: '203.0.113.1' });
  nat.connectL3(console_);
  connectL3(nat.outside(), outside);
  try {
    // 1. SSDP discovery.
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
    const location = /^LOCATION:\s*(\S+)/im.exec(await answer)?.[1];
    if (!location) throw new Error('no LOCATION in the SSDP answer');
    log(`SSDP: the gateway's description is at ${location}`);

    // 2. The description names the control URL of WANIPConnection.
    const desc = await request(console_, new URL(location));
    const service = desc.body.split('<service>').find((s) => s.includes(SERVICE));
    const controlPath = service && /<controlURL>([^<]+)<\/controlURL>/.exec(service)?.[1];
    if (!controlPath) throw new Error('no WANIPConnection control URL in the description');
    const control = new URL(controlPath, location);
    log(`description: WANIPConnection is controlled at ${control}`);

    // 3. SOAP: the external address, then a mapping of TCP 8080 to our port 8080.
    const ext = await soap(console_, control, 'GetExternalIPAddress', {});
    const externalIp = /<NewExternalIPAddress>([^<]+)</.exec(ext)?.[1] ?? '';
    log(`GetExternalIPAddress: ${externalIp}`);
    await soap(console_, control, 'AddPortMapping', {
      NewRemoteHost: '',
      NewExternalPort: 8080,
      NewProtocol: 'TCP',
      NewInternalPort: 8080,
      NewInternalClient: '192.168.1.20',
      NewEnabled: 1,
      NewPortMappingDescription: 'l3kit example',
      NewLeaseDuration: 3600,
    });
    const f = nat.listPortForwards()[0];
    const forward = `${f.origin} tcp ${f.outsideIp}:${f.outsidePort} -> ${f.insideIp}:${f.insidePort} (${f.description})`;
    log(`AddPortMapping: the NAT now has a forward: ${forward}`);

    // 4. A server behind the NAT, reached from outside through the mapping.
    console_.tcp.listen(8080, (sock) => sock.end('hello from behind the NAT\n'));
    const greeting = await new Promise<string>((resolve, reject) => {
      const c = outside.tcp.connect({ host: externalIp, port: 8080 });
      let text = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        text += d;
      });
      c.on('end', () => resolve(text.trim()));
      c.on('error', reject);
    });
    log(`203.0.113.50 connected to ${externalIp}:8080 and read: ${JSON.stringify(greeting)}`);
    return { location, externalIp, greeting, forward };
  } finally {
    console_.close();
    outside.close();
    nat.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // l3kit's timers are unref'd (a virtual network never keeps a process alive): hold it open.
  const alive = setInterval(() => {}, 1000);
  try {
    await runUpnpExample((l) => console.log(l));
  } catch (e) {
    console.error(`upnp example failed: ${(e as Error).message}`);
    process.exitCode = 1;
  } finally {
    clearInterval(alive);
  }
}
