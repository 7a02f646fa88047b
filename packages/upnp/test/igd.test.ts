import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigError } from '@l3kit/core';
import { VirtualHost } from '@l3kit/stack';
import { PortMappingTable, parseXml, UpnpIgd, type XmlElement } from '../src/index.js';
import { igdRig, mappingArgs, rawHttp, SERVICES, soapCall } from './fake-host.js';

function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

function all(el: XmlElement, name: string, out: XmlElement[] = []): XmlElement[] {
  if (el.name === name) out.push(el);
  for (const c of el.children) all(c, name, out);
  return out;
}

describe('UpnpIgd descriptions', () => {
  it('serves an IGD:1 device description that parses back with WANCommonInterfaceConfig:1 and WANIPConnection:1', async () => {
    const rig = igdRig({ uuid: '11111111-2222-3333-4444-555555555555' });
    const r = await rawHttp(rig, 'GET /rootDesc.xml HTTP/1.1\r\nHost: 192.168.1.1:5000\r\n\r\n');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/xml/);
    assert.equal(Number(r.headers.get('content-length')), Buffer.byteLength(r.body));
    const p = parseXml(r.body);
    assert.ok(p.ok);
    assert.equal(p.root.name, 'root');
    assert.equal(p.root.ns, 'urn:schemas-upnp-org:device-1-0');
    const types = all(p.root, 'deviceType').map((e) => e.text);
    assert.deepEqual(types, [
      'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
      'urn:schemas-upnp-org:device:WANDevice:1',
      'urn:schemas-upnp-org:device:WANConnectionDevice:1',
    ]);
    const services = all(p.root, 'service').map((s) => ({
      type: child(s, 'serviceType')?.text,
      scpd: child(s, 'SCPDURL')?.text,
      ctl: child(s, 'controlURL')?.text,
    }));
    assert.deepEqual(services, [
      {
        type: 'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1',
        scpd: '/WANCfg.xml',
        ctl: '/ctl/CmnIfCfg',
      },
      { type: 'urn:schemas-upnp-org:service:WANIPConnection:1', scpd: '/WANIPCn.xml', ctl: '/ctl/IPConn' },
    ]);
    assert.equal(all(p.root, 'UDN')[0].text, 'uuid:11111111-2222-3333-4444-555555555555');
    assert.equal(child(p.root, 'URLBase')?.text, 'http://192.168.1.1:5000/');
    assert.equal(new Set(all(p.root, 'UDN').map((e) => e.text)).size, 3);
  });

  it('serves an IGD:2 description and a WANIPConnection:2 SCPD with the v2 actions when configured', async () => {
    const rig = igdRig({ version: 2 });
    const d = await rawHttp(rig, 'GET /rootDesc.xml HTTP/1.1\r\n\r\n');
    assert.match(d.body, /InternetGatewayDevice:2/);
    assert.match(d.body, /WANIPConnection:2/);
    assert.match(d.body, /WANCommonInterfaceConfig:1/);
    const s = await rawHttp(rig, 'GET /WANIPCn.xml HTTP/1.1\r\n\r\n');
    const p = parseXml(s.body);
    assert.ok(p.ok);
    const names = all(p.root, 'action').map((a) => child(a, 'name')?.text);
    for (const n of [
      'AddAnyPortMapping',
      'DeletePortMappingRange',
      'GetListOfPortMappings',
      'AddPortMapping',
    ])
      assert.ok(names.includes(n), n);
  });

  it('lists in each SCPD only actions whose arguments refer to declared state variables', async () => {
    for (const version of [1, 2] as const) {
      const rig = igdRig({ version });
      for (const path of ['/WANIPCn.xml', '/WANCfg.xml']) {
        const r = await rawHttp(rig, `GET ${path} HTTP/1.1\r\n\r\n`);
        const p = parseXml(r.body);
        assert.ok(p.ok, path);
        assert.equal(p.root.ns, 'urn:schemas-upnp-org:service-1-0');
        const vars = new Set(all(p.root, 'stateVariable').map((v) => child(v, 'name')?.text));
        const related = all(p.root, 'relatedStateVariable').map((e) => e.text);
        assert.ok(related.length > 0);
        for (const r2 of related) assert.ok(vars.has(r2), `${path} v${version}: ${r2} not declared`);
        const names = all(p.root, 'action').map((a) => child(a, 'name')?.text);
        if (version === 1) assert.ok(!names.includes('AddAnyPortMapping'));
        const lease = all(p.root, 'stateVariable').find(
          (v) => child(v, 'name')?.text === 'PortMappingLeaseDuration',
        );
        if (path === '/WANIPCn.xml')
          assert.equal(all(lease as XmlElement, 'maximum')[0]?.text, version === 2 ? '604800' : undefined);
      }
    }
  });
});

describe('UpnpIgd SOAP actions', () => {
  it('answers GetExternalIPAddress with the tenant external address', async () => {
    const rig = igdRig();
    const r = await soapCall(rig, SERVICES.ipc1, 'GetExternalIPAddress');
    assert.equal(r.status, 200);
    assert.equal(r.out.get('NewExternalIPAddress'), '203.0.113.1');
  });

  it('answers GetStatusInfo, GetConnectionTypeInfo and GetNATRSIPStatus', async () => {
    const rig = igdRig();
    rig.sched.advance(42_000);
    const s = await soapCall(rig, SERVICES.ipc1, 'GetStatusInfo');
    assert.equal(s.out.get('NewConnectionStatus'), 'Connected');
    assert.equal(s.out.get('NewLastConnectionError'), 'ERROR_NONE');
    assert.ok(Number(s.out.get('NewUptime')) >= 42);
    const t = await soapCall(rig, SERVICES.ipc1, 'GetConnectionTypeInfo');
    assert.equal(t.out.get('NewConnectionType'), 'IP_Routed');
    assert.equal(t.out.get('NewPossibleConnectionTypes'), 'IP_Routed');
    const n = await soapCall(rig, SERVICES.ipc1, 'GetNATRSIPStatus');
    assert.equal(n.out.get('NewRSIPAvailable'), '0');
    assert.equal(n.out.get('NewNATEnabled'), '1');
  });

  it('answers the WANCommonInterfaceConfig actions from the NAT traffic totals', async () => {
    const rig = igdRig({ link: { accessType: 'Cable', upstreamBps: 5_000_000, downstreamBps: 50_000_000 } });
    rig.host.totals.bytesOut = 2 ** 32 + 7; // ui4 wraps
    const l = await soapCall(rig, SERVICES.cic, 'GetCommonLinkProperties');
    assert.equal(l.out.get('NewWANAccessType'), 'Cable');
    assert.equal(l.out.get('NewLayer1UpstreamMaxBitRate'), '5000000');
    assert.equal(l.out.get('NewLayer1DownstreamMaxBitRate'), '50000000');
    assert.equal(l.out.get('NewPhysicalLinkStatus'), 'Up');
    assert.equal((await soapCall(rig, SERVICES.cic, 'GetTotalBytesSent')).out.get('NewTotalBytesSent'), '7');
    assert.equal(
      (await soapCall(rig, SERVICES.cic, 'GetTotalBytesReceived')).out.get('NewTotalBytesReceived'),
      '4400',
    );
    assert.equal(
      (await soapCall(rig, SERVICES.cic, 'GetTotalPacketsSent')).out.get('NewTotalPacketsSent'),
      '11',
    );
    assert.equal(
      (await soapCall(rig, SERVICES.cic, 'GetTotalPacketsReceived')).out.get('NewTotalPacketsReceived'),
      '22',
    );
  });

  it('adds a port mapping that becomes a NAT forward with origin upnp and reads it back', async () => {
    const rig = igdRig();
    const events: number[] = [];
    rig.igd.on('request', (e) => events.push(e.errorCode));
    const a = await soapCall(
      rig,
      SERVICES.ipc1,
      'AddPortMapping',
      mappingArgs({ NewPortMappingDescription: 'web <&>' }),
    );
    assert.equal(a.status, 200);
    const f = rig.host.listPortForwards();
    assert.equal(f.length, 1);
    assert.deepEqual(
      {
        proto: f[0].proto,
        port: f[0].outsidePort,
        ip: f[0].insideIp,
        iport: f[0].insidePort,
        origin: f[0].origin,
      },
      { proto: 6, port: 8080, ip: '192.168.1.10', iport: 8080, origin: 'upnp' },
    );
    assert.equal(f[0].description, 'web <&>');
    assert.equal(f[0].expiresInMs, 3_600_000);
    const g = await soapCall(rig, SERVICES.ipc1, 'GetSpecificPortMappingEntry', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', 8080],
      ['NewProtocol', 'TCP'],
    ]);
    assert.equal(g.out.get('NewInternalClient'), '192.168.1.10');
    assert.equal(g.out.get('NewInternalPort'), '8080');
    assert.equal(g.out.get('NewEnabled'), '1');
    assert.equal(g.out.get('NewPortMappingDescription'), 'web <&>');
    assert.ok(Number(g.out.get('NewLeaseDuration')) <= 3600 && Number(g.out.get('NewLeaseDuration')) > 3500);
    const e = await soapCall(rig, SERVICES.ipc1, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 0]]);
    assert.equal(e.out.get('NewExternalPort'), '8080');
    assert.equal(e.out.get('NewProtocol'), 'TCP');
    assert.equal(e.out.get('NewRemoteHost'), '');
    const x = await soapCall(rig, SERVICES.ipc1, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 1]]);
    assert.equal(x.error, 713);
    assert.deepEqual(events, [0, 0, 0, 713]);
  });

  it('deletes a mapping and answers 714 for one that does not exist', async () => {
    const rig = igdRig();
    await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs({ NewProtocol: 'UDP' }));
    const key = (p: number): Array<[string, string | number]> => [
      ['NewRemoteHost', ''],
      ['NewExternalPort', p],
      ['NewProtocol', 'UDP'],
    ];
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'DeletePortMapping', key(8080))).status, 200);
    assert.equal(rig.host.listPortForwards().length, 0);
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'DeletePortMapping', key(8080))).error, 714);
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'GetSpecificPortMappingEntry', key(8080))).error, 714);
  });

  it('refuses in secure mode a mapping for another address with 718 on IGD:1 and 606 on IGD:2', async () => {
    for (const [version, code] of [
      [1, 718],
      [2, 606],
    ] as const) {
      const rig = igdRig({ version });
      const svc = version === 1 ? SERVICES.ipc1 : SERVICES.ipc2;
      const r = await soapCall(
        rig,
        svc,
        'AddPortMapping',
        mappingArgs({ NewInternalClient: '192.168.1.66' }),
      );
      assert.equal(r.error, code);
      assert.equal(rig.host.listPortForwards().length, 0);
    }
  });

  it('maps an empty NewInternalClient to the caller address', async () => {
    const rig = igdRig();
    assert.equal(
      (await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs({ NewInternalClient: '' }))).status,
      200,
    );
    assert.equal(rig.host.listPortForwards()[0].insideIp, '192.168.1.10');
  });

  it('answers 718 when another client holds the port and 729 on IGD:2 when another mechanism does', async () => {
    const rig = igdRig({ version: 2 });
    const other = new VirtualHost({ addr: '192.168.1.20/24', gateway: '192.168.1.1', scheduler: rig.sched });
    rig.host.connect(0, other); // same tenant network, second device: replaces the wire of tenant 0
    const mine = await soapCall(
      rig,
      SERVICES.ipc2,
      'AddPortMapping',
      mappingArgs({ NewInternalClient: '192.168.1.20' }),
      other,
    );
    assert.equal(mine.status, 200);
    rig.host.connect(0, rig.client);
    assert.equal((await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs())).error, 718);
    rig.host.busy.add('6/9090');
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewExternalPort: 9090 }))).error,
      729,
    );
    const v1 = igdRig({ version: 1 });
    v1.host.busy.add('6/9090');
    assert.equal(
      (await soapCall(v1, SERVICES.ipc1, 'AddPortMapping', mappingArgs({ NewExternalPort: 9090 }))).error,
      718,
    );
  });

  it('answers 402 for missing, unexpected or malformed arguments', async () => {
    const rig = igdRig();
    const bad: Array<Record<string, string | number>> = [
      { NewExternalPort: 'x' },
      { NewExternalPort: 70000 },
      { NewProtocol: 'ICMP' },
      { NewEnabled: 'maybe' },
      { NewLeaseDuration: -1 },
      { NewInternalClient: 'not-an-ip' },
      { NewInternalPort: 0 }, // IGD:1 has no 732
    ];
    for (const b of bad)
      assert.equal(
        (await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs(b))).error,
        402,
        JSON.stringify(b),
      );
    const missing = mappingArgs().filter(([k]) => k !== 'NewProtocol');
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', missing)).error, 402);
    assert.equal(
      (await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', [...mappingArgs(), ['Extra', 1]])).error,
      402,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc1, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 'a']]))
        .error,
      402,
    );
    assert.equal(rig.host.listPortForwards().length, 0);
  });

  it('answers 716 for a wildcard external port, 726 for a remote host and 732 for a wildcard internal port on IGD:2', async () => {
    const rig = igdRig({ version: 2 });
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewExternalPort: 0 }))).error,
      716,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewRemoteHost: '198.51.100.1' })))
        .error,
      726,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewInternalPort: 0 }))).error,
      732,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewRemoteHost: '*' }))).status,
      200,
    );
  });

  it('answers 728 when the client quota is used up and 606 for a port outside the allowed range', async () => {
    const rig = igdRig({
      version: 2,
      policy: { maxPerClient: 2, externalPorts: [{ from: 2000, to: 3000 }] },
    });
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewExternalPort: 1500 }))).error,
      606,
    );
    for (const p of [2000, 2001])
      assert.equal(
        (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewExternalPort: p }))).status,
        200,
      );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewExternalPort: 2002 }))).error,
      728,
    );
    assert.equal(rig.host.listPortForwards().length, 2);
  });

  it('answers 725 when only permanent leases are allowed and 724 when equal ports are required', async () => {
    const rig = igdRig({ policy: { allowPermanent: true, permanentOnly: true, samePorts: true } });
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs())).error, 725);
    assert.equal(
      (
        await soapCall(
          rig,
          SERVICES.ipc1,
          'AddPortMapping',
          mappingArgs({ NewLeaseDuration: 0, NewExternalPort: 8081 }),
        )
      ).error,
      724,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs({ NewLeaseDuration: 0 }))).status,
      200,
    );
    assert.equal(rig.host.listPortForwards()[0].expiresInMs, undefined);
  });

  it('adds any port mapping on IGD:2 and reports the reserved port', async () => {
    const rig = igdRig({ version: 2 });
    rig.host.busy.add('6/8080');
    const r = await soapCall(rig, SERVICES.ipc2, 'AddAnyPortMapping', mappingArgs());
    assert.equal(r.status, 200);
    const port = Number(r.out.get('NewReservedPort'));
    assert.ok(port >= 1024 && port !== 8080);
    assert.equal(rig.host.listPortForwards()[0].outsidePort, port);
    const w = await soapCall(
      rig,
      SERVICES.ipc2,
      'AddAnyPortMapping',
      mappingArgs({ NewExternalPort: 0, NewInternalPort: 9000 }),
    );
    assert.equal(w.status, 200);
    assert.equal(w.out.get('NewReservedPort'), '9000');
    // IGD:1 does not offer it.
    const v1 = igdRig({ version: 1 });
    assert.equal((await soapCall(v1, SERVICES.ipc1, 'AddAnyPortMapping', mappingArgs())).error, 401);
  });

  it('grants the IGD:2 maximum lease for a lease of 0', async () => {
    const rig = igdRig({ version: 2 });
    await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewLeaseDuration: 0 }));
    assert.equal(rig.host.listPortForwards()[0].expiresInMs, 604_800_000);
  });

  it('deletes a port range on IGD:2 with 733 for an inverted range and 730 for an empty one', async () => {
    const rig = igdRig({ version: 2 });
    for (const p of [3000, 3001, 3005])
      await soapCall(rig, SERVICES.ipc2, 'AddPortMapping', mappingArgs({ NewExternalPort: p }));
    const range = (a: number, b: number): Array<[string, string | number]> => [
      ['NewStartPort', a],
      ['NewEndPort', b],
      ['NewProtocol', 'TCP'],
      ['NewManage', 1],
    ];
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'DeletePortMappingRange', range(3001, 3000))).error,
      733,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'DeletePortMappingRange', range(4000, 5000))).error,
      730,
    );
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'DeletePortMappingRange', range(3000, 3001))).status,
      200,
    );
    assert.deepEqual(
      rig.host.listPortForwards().map((f) => f.outsidePort),
      [3005],
    );
  });

  it('refuses with 606 to delete another client mapping in secure mode', async () => {
    const rig = igdRig({ version: 2 });
    const other = new VirtualHost({ addr: '192.168.1.20/24', gateway: '192.168.1.1', scheduler: rig.sched });
    rig.host.connect(0, other);
    await soapCall(
      rig,
      SERVICES.ipc2,
      'AddPortMapping',
      mappingArgs({ NewInternalClient: '192.168.1.20' }),
      other,
    );
    rig.host.connect(0, rig.client);
    const key: Array<[string, string | number]> = [
      ['NewRemoteHost', ''],
      ['NewExternalPort', 8080],
      ['NewProtocol', 'TCP'],
    ];
    assert.equal((await soapCall(rig, SERVICES.ipc2, 'DeletePortMapping', key)).error, 606);
    const range: Array<[string, string | number]> = [
      ['NewStartPort', 1],
      ['NewEndPort', 65535],
      ['NewProtocol', 'TCP'],
      ['NewManage', 1],
    ];
    assert.equal((await soapCall(rig, SERVICES.ipc2, 'DeletePortMappingRange', range)).error, 606);
    assert.equal(rig.host.listPortForwards().length, 1);
  });

  it('lists port mappings on IGD:2 as an escaped PortMappingList document', async () => {
    const rig = igdRig({ version: 2 });
    for (const p of [3005, 3000])
      await soapCall(
        rig,
        SERVICES.ipc2,
        'AddPortMapping',
        mappingArgs({ NewExternalPort: p, NewPortMappingDescription: `d]]>${p}` }),
      );
    const args = (a: number, b: number, n: number): Array<[string, string | number]> => [
      ['NewStartPort', a],
      ['NewEndPort', b],
      ['NewProtocol', 'TCP'],
      ['NewManage', 0],
      ['NewNumberOfPorts', n],
    ];
    const r = await soapCall(rig, SERVICES.ipc2, 'GetListOfPortMappings', args(1, 65535, 0));
    assert.equal(r.status, 200);
    // As miniupnpd: the document travels as CDATA (miniupnpc does not decode entities there).
    assert.match(
      r.body,
      /<NewPortListing><!\[CDATA\[<\?xml version="1\.0" encoding="UTF-8"\?><p:PortMappingList /,
    );
    const doc = parseXml(r.out.get('NewPortListing') ?? '');
    assert.ok(doc.ok);
    assert.equal(doc.root.name, 'PortMappingList');
    const ports = all(doc.root, 'NewExternalPort').map((e) => Number(e.text));
    assert.deepEqual(ports, [3000, 3005]);
    assert.deepEqual(
      all(doc.root, 'NewDescription').map((e) => e.text),
      ['d]]>3000', 'd]]>3005'],
    );
    const one = await soapCall(rig, SERVICES.ipc2, 'GetListOfPortMappings', args(1, 65535, 1));
    const d1 = parseXml(one.out.get('NewPortListing') ?? '');
    assert.ok(d1.ok);
    assert.equal(all(d1.root, 'PortMappingEntry').length, 1);
    assert.equal((await soapCall(rig, SERVICES.ipc2, 'GetListOfPortMappings', args(9, 1, 0))).error, 733);
    assert.equal(
      (await soapCall(rig, SERVICES.ipc2, 'GetListOfPortMappings', args(4000, 5000, 0))).error,
      730,
    );
  });

  it('answers 401 for an unknown action or a SOAPACTION that does not match the body or the URL', async () => {
    const rig = igdRig();
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'Reboot')).error, 401);
    assert.equal(
      (await soapCall(rig, { path: '/ctl/CmnIfCfg', type: SERVICES.ipc1.type }, 'GetExternalIPAddress'))
        .error,
      401,
    );
    const body = soapBodyOnly('GetStatusInfo');
    const req =
      'POST /ctl/IPConn HTTP/1.1\r\nContent-Type: text/xml\r\n' +
      `SOAPAction: "${SERVICES.ipc1.type}#GetExternalIPAddress"\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const r = await rawHttp(rig, req);
    assert.equal(r.status, 500);
    assert.match(r.body, /<errorCode>401<\/errorCode>/);
  });
});

function soapBodyOnly(action: string): string {
  return (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>' +
    `<u:${action} xmlns:u="${SERVICES.ipc1.type}"/></s:Body></s:Envelope>`
  );
}

describe('UpnpIgd tenants and lifecycle', () => {
  it('keeps tenants apart: a tenant neither sees nor deletes another tenant mappings', async () => {
    const rig = igdRig({ policy: { secureMode: true } });
    const t1 = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', scheduler: rig.sched });
    rig.host.addTenant(1, '203.0.113.1'); // same outside address as tenant 0
    rig.host.connect(1, t1);
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs())).status, 200);
    const gen = await soapCall(
      rig,
      SERVICES.ipc1,
      'GetGenericPortMappingEntry',
      [['NewPortMappingIndex', 0]],
      t1,
    );
    assert.equal(gen.error, 713);
    const key: Array<[string, string | number]> = [
      ['NewRemoteHost', ''],
      ['NewExternalPort', 8080],
      ['NewProtocol', 'TCP'],
    ];
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'GetSpecificPortMappingEntry', key, t1)).error, 714);
    assert.equal((await soapCall(rig, SERVICES.ipc1, 'DeletePortMapping', key, t1)).error, 714);
    assert.equal(rig.host.listPortForwards().length, 1);
    assert.equal(
      (await soapCall(rig, SERVICES.ipc1, 'GetExternalIPAddress', [], t1)).out.get('NewExternalIPAddress'),
      '203.0.113.1',
    );
  });

  it('expires a mapping when its lease runs out and stops listing it', async () => {
    const rig = igdRig();
    await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs({ NewLeaseDuration: 300 }));
    const removed: string[] = [];
    rig.igd.table.on('removed', (m, why) => removed.push(`${m.externalPort}:${why}`));
    rig.sched.advance(299_000);
    assert.equal(removed.length, 0);
    rig.sched.advance(2_000);
    assert.deepEqual(removed, ['8080:expired']);
    assert.equal(rig.host.listPortForwards().length, 0);
    assert.equal(
      (await soapCall(rig, SERVICES.ipc1, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 0]])).error,
      713,
    );
  });

  it('forgets a removed tenant and removes its mappings; detach removes all and sends byebye', async () => {
    const rig = igdRig();
    await soapCall(rig, SERVICES.ipc1, 'AddPortMapping', mappingArgs());
    assert.equal(rig.igd.table.size, 1);
    rig.host.take(0);
    rig.igd.detach();
    const bye = rig.host.take(0).map((p) => Buffer.from(p.subarray(28)).toString());
    assert.equal(bye.length, 9);
    for (const b of bye) assert.match(b, /^NOTIFY \* HTTP\/1\.1\r\n[\s\S]*NTS: ssdp:byebye/);
    assert.equal(rig.host.listPortForwards().length, 0);
    assert.equal(rig.igd.table.bound, false);
  });

  it('shares one table with another front end and throws typed errors for bad configuration', () => {
    const table = new PortMappingTable();
    const igd = new UpnpIgd({ table });
    assert.equal(igd.table, table);
    assert.throws(
      () => new UpnpIgd({ version: 3 as 1 }),
      (e: ConfigError) => e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new UpnpIgd({ httpPort: 0 }),
      (e: ConfigError) => e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new UpnpIgd({ uuid: 'x y' }),
      (e: ConfigError) => e.code === 'ERR_BAD_OPTION',
    );
    assert.throws(
      () => new UpnpIgd({ http: { maxBodyBytes: 1 } }),
      (e: ConfigError) => e.code === 'ERR_BAD_OPTION',
    );
  });
});
