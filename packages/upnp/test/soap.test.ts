import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pump } from '@l3kit/testkit';
import fc from 'fast-check';
import {
  buildSoapFault,
  buildSoapResponse,
  parseHttpHead,
  parseSoapActionHeader,
  parseSoapFault,
  parseSoapRequest,
  parseXml,
  UPNP_ERRORS,
  xmlEscape,
} from '../src/index.js';
import { igdRig, mappingArgs, rawHttp, SERVICES, soapCall, soapRequest } from './fake-host.js';

const ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const IPC1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';

function envelope(inner: string): string {
  return `<?xml version="1.0"?><s:Envelope xmlns:s="${ENV}"><s:Body>${inner}</s:Body></s:Envelope>`;
}

describe('XML parser', () => {
  it('parses elements, namespaces, attributes, entities and CDATA', () => {
    const p = parseXml(
      '<?xml version="1.0"?><a xmlns="urn:x" xmlns:p="urn:p" k="v&amp;w"><p:b>1 &lt; 2 &#65;&#x42;</p:b><c/><!-- c --><d><![CDATA[<raw>]]></d></a>',
    );
    assert.ok(p.ok);
    assert.equal(p.root.ns, 'urn:x');
    assert.equal(p.root.attrs.get('k'), 'v&w');
    assert.deepEqual(
      p.root.children.map((c) => [c.name, c.ns, c.text]),
      [
        ['b', 'urn:p', '1 < 2 AB'],
        ['c', 'urn:x', ''],
        ['d', 'urn:x', '<raw>'],
      ],
    );
  });

  it('refuses DTDs and entity declarations, so no entity expansion can happen', () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>';
    const p = parseXml(bomb);
    assert.equal(p.ok, false);
    assert.match((p as { error: string }).error, /DTD/);
    assert.equal(parseXml('<a>&lol;</a>').ok, false);
    assert.equal(parseXml('<a>&#0;</a>').ok, false);
    assert.equal(parseXml('<a>& b</a>').ok, false);
  });

  it('refuses malformed documents', () => {
    for (const bad of [
      '',
      '<a>',
      '<a></b>',
      '<a/><b/>',
      'text<a/>',
      '<a><b></a></b>',
      '<p:a/>',
      '<a x="1" x="2"/>',
      '<a x=1/>',
      '<a><?pi x?></a>',
      '<1a/>',
      '<a',
    ])
      assert.equal(parseXml(bad).ok, false, bad);
  });

  it('enforces its limits on length, depth, element count and attributes', () => {
    assert.equal(parseXml(`<a>${'x'.repeat(100)}</a>`, { maxLength: 50 }).ok, false);
    assert.equal(parseXml(`${'<a>'.repeat(20)}${'</a>'.repeat(20)}`).ok, false);
    assert.equal(parseXml(`<a>${'<b/>'.repeat(600)}</a>`).ok, false);
    const attrs = Array.from({ length: 20 }, (_, i) => `a${i}="1"`).join(' ');
    assert.equal(parseXml(`<a ${attrs}/>`).ok, false);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        parseXml(s);
        parseSoapRequest(s);
      }),
      { numRuns: 10_000 },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            '<',
            '>',
            '/',
            'a',
            's:',
            '="',
            '"',
            '&',
            ';',
            '<!',
            '<?',
            ']]>',
            ' ',
            'xmlns:s=',
            'Body',
            'Envelope',
          ),
          {
            maxLength: 60,
          },
        ),
        (parts) => {
          parseXml(parts.join(''));
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('escapes the five special characters', () => {
    assert.equal(xmlEscape(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});

describe('SOAP encoding', () => {
  it('parses a control request into service type, action and arguments', () => {
    const r = parseSoapRequest(
      envelope(
        `<u:AddPortMapping xmlns:u="${IPC1}"><NewExternalPort>80</NewExternalPort><NewRemoteHost/></u:AddPortMapping>`,
      ),
    );
    assert.ok(r.ok);
    assert.equal(r.req.serviceType, IPC1);
    assert.equal(r.req.action, 'AddPortMapping');
    assert.deepEqual(
      [...r.req.args],
      [
        ['NewExternalPort', '80'],
        ['NewRemoteHost', ''],
      ],
    );
  });

  it('refuses envelopes of the wrong namespace, without one action, or with nested or repeated arguments', () => {
    const bad = [
      `<s:Envelope xmlns:s="urn:wrong"><s:Body><u:A xmlns:u="${IPC1}"/></s:Body></s:Envelope>`,
      envelope(''),
      envelope(`<u:A xmlns:u="${IPC1}"/><u:B xmlns:u="${IPC1}"/>`),
      envelope('<A/>'),
      envelope(`<u:A xmlns:u="${IPC1}"><X><Y/></X></u:A>`),
      envelope(`<u:A xmlns:u="${IPC1}"><X>1</X><X>2</X></u:A>`),
    ];
    for (const b of bad) assert.equal(parseSoapRequest(b).ok, false, b);
  });

  it('parses SOAPACTION headers with and without quotes', () => {
    assert.deepEqual(parseSoapActionHeader(`"${IPC1}#GetStatusInfo"`), {
      serviceType: IPC1,
      action: 'GetStatusInfo',
    });
    assert.deepEqual(parseSoapActionHeader(`${IPC1}#X`), { serviceType: IPC1, action: 'X' });
    for (const b of [undefined, '', '"#X"', `${IPC1}`, `${IPC1}#`, `${IPC1}#A B`, 'http://x#A'])
      assert.equal(parseSoapActionHeader(b), null, String(b));
  });

  it('builds responses and faults that parse back', () => {
    const resp = parseXml(
      buildSoapResponse(IPC1, 'GetExternalIPAddress', [['NewExternalIPAddress', '1.2.3.4']]),
    );
    assert.ok(resp.ok);
    for (const code of Object.keys(UPNP_ERRORS).map(Number) as Array<keyof typeof UPNP_ERRORS>)
      assert.deepEqual(parseSoapFault(buildSoapFault(code)), { code, description: UPNP_ERRORS[code] });
    assert.equal(parseSoapFault('<a/>'), null);
    const cdata = parseXml(buildSoapResponse(IPC1, 'X', [['Doc', { cdata: '<a>&amp;</a>' }]]));
    assert.ok(cdata.ok);
    assert.equal(cdata.root.children[0].children[0].children[0].text, '<a>&amp;</a>');
    assert.throws(() => buildSoapResponse(IPC1, 'X', [['Doc', { cdata: 'x]]>y' }]]), RangeError);
  });

  it('parses HTTP request heads strictly', () => {
    const ok = parseHttpHead('POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Length: 5');
    assert.ok(ok.ok);
    assert.equal(ok.headers.get('content-length'), '5');
    assert.deepEqual(parseHttpHead('GET / HTTP/2.0'), {
      ok: false,
      status: 505,
      reason: 'unsupported version',
    });
    assert.equal((parseHttpHead('get / HTTP/1.1') as { status: number }).status, 400);
    assert.equal((parseHttpHead('GET / HTTP/1.1\r\n folded') as { status: number }).status, 400);
    assert.equal((parseHttpHead('GET / HTTP/1.1\r\nA B: c') as { status: number }).status, 400);
    assert.equal(
      (parseHttpHead('GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2') as { status: number })
        .status,
      400,
    );
  });
});

describe('UpnpIgd HTTP abuse', () => {
  async function stillWorks(rig: ReturnType<typeof igdRig>): Promise<void> {
    const r = await soapCall(rig, SERVICES.ipc1, 'GetExternalIPAddress');
    assert.equal(r.out.get('NewExternalIPAddress'), '203.0.113.1');
    assert.equal(rig.igd.openConnections(), 0);
  }

  it('answers 403 to a request whose Host is a DNS name (DNS rebinding) and accepts address hosts', async () => {
    const rig = igdRig();
    const r = await rawHttp(rig, 'GET /rootDesc.xml HTTP/1.1\r\nHost: evil.example:5000\r\n\r\n');
    assert.equal(r.status, 403);
    assert.equal(rig.igd.stats.http.refused[403], 1);
    const add = soapRequest('/ctl/IPConn', IPC1, 'AddPortMapping', mappingArgs()).replace(
      'Host: 192.168.1.1:5000',
      'Host: rebound.example',
    );
    assert.equal((await rawHttp(rig, add)).status, 403);
    assert.equal(rig.host.listPortForwards().length, 0);
    for (const h of ['192.168.1.1:5000', '192.168.1.1', '[fe80::1]:5000'])
      assert.equal((await rawHttp(rig, `GET /rootDesc.xml HTTP/1.1\r\nHost: ${h}\r\n\r\n`)).status, 200, h);
    assert.equal((await rawHttp(rig, 'GET /rootDesc.xml HTTP/1.1\r\nHost: 999.1.1.1\r\n\r\n')).status, 403);
    await stillWorks(rig);
  });

  it('answers 404 for an unknown path and 405 with Allow for the wrong method', async () => {
    const rig = igdRig();
    assert.equal((await rawHttp(rig, 'GET /etc/passwd HTTP/1.1\r\n\r\n')).status, 404);
    const a = await rawHttp(rig, 'GET /ctl/IPConn HTTP/1.1\r\n\r\n');
    assert.equal(a.status, 405);
    assert.equal(a.headers.get('allow'), 'POST');
    const b = await rawHttp(rig, 'POST /rootDesc.xml HTTP/1.1\r\nContent-Length: 0\r\n\r\n');
    assert.equal(b.status, 405);
    assert.equal(b.headers.get('allow'), 'GET');
    await stillWorks(rig);
  });

  it('answers 400 for a malformed request line, a missing SOAPACTION or malformed XML', async () => {
    const rig = igdRig();
    assert.equal((await rawHttp(rig, 'HELLO\r\n\r\n')).status, 400);
    const body = envelope(`<u:GetStatusInfo xmlns:u="${IPC1}"/>`);
    const noAction = `POST /ctl/IPConn HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    assert.equal((await rawHttp(rig, noAction)).status, 400);
    for (const junk of [
      '<not xml',
      envelope('<u:X xmlns:u="urn:a"><b></u:X>'),
      `<!DOCTYPE x [<!ENTITY a "b">]>${body}`,
    ]) {
      const req =
        `POST /ctl/IPConn HTTP/1.1\r\nContent-Type: text/xml\r\nSOAPAction: "${IPC1}#GetStatusInfo"\r\n` +
        `Content-Length: ${Buffer.byteLength(junk)}\r\n\r\n${junk}`;
      const r = await rawHttp(rig, req);
      assert.equal(r.status, 400, junk);
      assert.match(r.body, /malformed SOAP request/);
    }
    assert.equal((await rawHttp(rig, 'GET / HTTP/3.0\r\n\r\n')).status, 505);
    assert.equal(rig.igd.stats.http.refused[400], 5);
    assert.equal(rig.igd.stats.http.refused[505], 1);
    await stillWorks(rig);
  });

  it('answers 411 without Content-Length, 501 for chunked bodies and 415 for a non-XML body', async () => {
    const rig = igdRig();
    assert.equal((await rawHttp(rig, 'POST /ctl/IPConn HTTP/1.1\r\n\r\n')).status, 411);
    assert.equal(
      (
        await rawHttp(
          rig,
          'POST /ctl/IPConn HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
        )
      ).status,
      501,
    );
    const r = soapRequest('/ctl/IPConn', IPC1, 'GetStatusInfo', []).replace('text/xml', 'application/json');
    assert.equal((await rawHttp(rig, r)).status, 415);
    await stillWorks(rig);
  });

  it('answers 413 for a body over the limit without reading it and 431 for oversized headers', async () => {
    const rig = igdRig({ http: { maxBodyBytes: 4096, maxHeaderBytes: 1024 } });
    const big = `POST /ctl/IPConn HTTP/1.1\r\nSOAPAction: "${IPC1}#GetStatusInfo"\r\nContent-Length: 1000000\r\n\r\n`;
    assert.equal((await rawHttp(rig, [big, Buffer.alloc(20_000, 0x41)])).status, 413);
    const fat = `GET /rootDesc.xml HTTP/1.1\r\nX-Pad: ${'a'.repeat(2000)}\r\n\r\n`;
    assert.equal((await rawHttp(rig, fat)).status, 431);
    const endless = `GET /rootDesc.xml HTTP/1.1\r\n${'X-A: b\r\n'.repeat(200)}`;
    assert.equal((await rawHttp(rig, endless)).status, 431);
    assert.equal(rig.igd.stats.http.refused[413], 1);
    assert.equal(rig.igd.stats.http.refused[431], 2);
    await stillWorks(rig);
  });

  it('cuts off a slow sender with 408 at the request deadline (slowloris) and frees the connection', async () => {
    const rig = igdRig({ http: { requestTimeoutMs: 2000 } });
    const req = soapRequest('/ctl/IPConn', IPC1, 'GetStatusInfo', []);
    const parts = Array.from(req, (c) => c); // one byte per write…
    const t0 = rig.sched.clock.now();
    const r = await rawHttp(rig, parts.slice(0, 40), { gapMs: 200 }); // …200 ms apart
    assert.equal(r.status, 408);
    assert.ok(rig.sched.clock.now() - t0 < 10_000);
    await stillWorks(rig);
  });

  it('limits concurrent connections per tenant and recovers once they close', async () => {
    const rig = igdRig({ maxConnectionsPerTenant: 3, http: { requestTimeoutMs: 1000 } });
    const socks = Array.from({ length: 3 }, () =>
      rig.client.tcp.connect({ host: '192.168.1.1', port: 5000 }),
    );
    let refused = false;
    const extra = rig.client.tcp.connect({ host: '192.168.1.1', port: 5000 });
    extra.on('error', () => {
      refused = true;
    });
    extra.on('close', () => {
      refused = true;
    });
    for (const s of socks) s.on('error', () => undefined);
    await pump(rig.sched, () => refused, 5000);
    assert.equal(rig.igd.openConnections(0), 3);
    assert.equal(rig.igd.stats.http.refused[503], 1);
    await pump(rig.sched, () => rig.igd.openConnections(0) === 0, 20_000); // idle ones time out (408)
    for (const s of socks) s.destroy();
    await stillWorks(rig);
  });

  it('survives a flood of SOAP requests with the table bounded by the policy', async () => {
    const rig = igdRig({ policy: { maxPerClient: 5 } });
    let ok = 0;
    let full = 0;
    for (let i = 0; i < 30; i++) {
      const r = await soapCall(
        rig,
        SERVICES.ipc1,
        'AddPortMapping',
        mappingArgs({ NewExternalPort: 10_000 + i }),
      );
      if (r.status === 200) ok++;
      else if (r.error === 728) full++;
    }
    assert.equal(ok, 5);
    assert.equal(full, 25);
    assert.equal(rig.igd.table.size, 5);
    assert.equal(rig.host.listPortForwards().length, 5);
    await stillWorks(rig);
  });

  it('answers a request sent in many small segments and with a body that follows the headers later', async () => {
    const rig = igdRig();
    const req = soapRequest('/ctl/IPConn', IPC1, 'GetExternalIPAddress', []);
    const cut = req.indexOf('\r\n\r\n') + 4;
    const r = await rawHttp(
      rig,
      [req.slice(0, 10), req.slice(10, cut), req.slice(cut, cut + 30), req.slice(cut + 30)],
      { gapMs: 50 },
    );
    assert.equal(r.status, 200);
    assert.match(r.body, /<NewExternalIPAddress>203\.0\.113\.1<\/NewExternalIPAddress>/);
  });
});
