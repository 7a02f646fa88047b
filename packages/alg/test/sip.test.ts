/**
 * Byte-level tests of the SIP rewriter with messages as real user agents format them
 * (Linphone, Zoiper, Asterisk), and property tests: content that does not name the flow is left
 * byte-identical, Content-Length always matches the rewritten body, arbitrary bytes never throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '@l3kit/wire';
import fc from 'fast-check';
import {
  parseSdp,
  parseSipMessage,
  rewriteSipMessage,
  type SipMediaRequest,
  type SipMessage,
  type SipRewriteEnv,
} from '../src/sip.js';

const INSIDE = '192.168.1.10';
const EXT = '203.0.113.1';
const REMOTE = '198.51.100.1';

/** Joins lines with CRLF, appends the body and sets Content-Length to the body's length. */
function sip(lines: string[], body = '', contentLength: 'auto' | 'none' = 'auto'): string {
  const head = contentLength === 'auto' ? [...lines, `Content-Length: ${body.length}`] : lines;
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

/** An SDP body from its lines (CRLF line ends, as RFC 8866 requires). */
function sdp(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n`;
}

function parse(text: string, stream = false): SipMessage {
  const m = parseSipMessage(text, 0, text.length, stream);
  assert.ok(m && m !== 'incomplete', 'the fixture parses');
  return m;
}

interface Run {
  out: string;
  fields: number;
  media: SipMediaRequest[];
  registered: number[];
  drop: boolean;
  refusals: number;
}

/** Rewrites `text` for a flow INSIDE:insidePort ↔ EXT:externalPort; media ports map to port + 30000. */
function run(
  text: string,
  direction: 'outbound' | 'inbound',
  o: { insidePort?: number; externalPort?: number; transport?: 'udp' | 'tcp'; failMedia?: boolean } = {},
): Run {
  const media: SipMediaRequest[] = [];
  const registered: number[] = [];
  const env: SipRewriteEnv = {
    direction,
    transport: o.transport ?? 'udp',
    insideIp: parseIpv4(INSIDE) as number,
    insidePort: o.insidePort ?? 5060,
    externalIp: parseIpv4(EXT) as number,
    externalPort: o.externalPort ?? 61000,
    media: (req) => {
      media.push(req);
      return o.failMedia ? null : { rtpPort: req.rtpPort + 30000, rtcpPort: req.rtpPort + 30001 };
    },
    register: (e) => registered.push(e),
  };
  const r = rewriteSipMessage(text, parse(text), env);
  return { out: r.text, fields: r.fields, media, registered, drop: r.drop, refusals: r.refusals };
}

/** A minimal INVITE from the inside phone with `body` as its SDP. */
function sdpInvite(body: string): string {
  return sip(
    [
      `INVITE sip:b@${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bK1`,
      'Call-ID: c',
      'CSeq: 1 INVITE',
      'Content-Type: application/sdp',
    ],
    body,
  );
}

/** Asserts that Content-Length equals the body's byte length in `text`. */
function assertContentLength(text: string): void {
  const m = parse(text);
  assert.equal(m.end, text.length, 'the message ends where the datagram ends');
  assert.equal(m.contentLength, text.length - m.bodyStart, 'Content-Length is the body length');
}

/** A Linphone INVITE as it leaves the phone (`addr`, media ports) or the NAT (`sentBy` etc.). */
function linphoneInvite(o: {
  sentBy: string;
  contactHost: string;
  addr: string;
  audio: number;
  video: number;
}): string {
  const body = sdp([
    'v=0',
    `o=alice 1840 3232 IN IP4 ${o.addr}`,
    's=Talk',
    `c=IN IP4 ${o.addr}`,
    't=0 0',
    'a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics',
    `m=audio ${o.audio} RTP/AVP 96 97 98 0 8 101`,
    'a=rtpmap:96 opus/48000/2',
    'a=fmtp:96 useinbandfec=1',
    'a=rtpmap:97 speex/16000',
    'a=rtpmap:98 speex/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=rtcp-fb:* trr-int 1000',
    `m=video ${o.video} RTP/AVP 96 97`,
    'a=rtpmap:96 VP8/90000',
    'a=rtpmap:97 H264/90000',
    'a=rtcp-fb:* ccm fir',
  ]);
  return sip(
    [
      `INVITE sip:bob@${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/UDP ${o.sentBy};branch=z9hG4bK.Ufo7H2vTN;rport`,
      'From: <sip:alice@example.com>;tag=9kvhyKuvy',
      `To: sip:bob@${REMOTE}`,
      'CSeq: 20 INVITE',
      'Call-ID: 3T~L3ZbFoQ',
      'Max-Forwards: 70',
      'Supported: replaces, outbound, gruu',
      'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE',
      'Content-Type: application/sdp',
      `Contact: <sip:alice@${o.contactHost};transport=udp>;+sip.instance="<urn:uuid:0f9a6a4c-3c1f-4a59-9ae5-1f2b3e4d5c6a>"`,
      'User-Agent: Linphone Desktop/4.4.10 (Ubuntu 22.04.1 LTS) Linux/5.15.0, Qt 5.15.2 LinphoneCore/5.1.64',
    ],
    body,
  );
}

const LINPHONE_INVITE = linphoneInvite({
  sentBy: `${INSIDE}:5060`,
  contactHost: INSIDE,
  addr: INSIDE,
  audio: 7078,
  video: 9078,
});

describe('SIP rewriting of an outbound INVITE', () => {
  it('a Linphone INVITE gets the external address in Via, Contact and SDP, media ports and Content-Length', () => {
    const r = run(LINPHONE_INVITE, 'outbound');
    const expected = linphoneInvite({
      sentBy: `${EXT}:61000`,
      contactHost: `${EXT}:61000`,
      addr: EXT,
      audio: 37078,
      video: 39078,
    });
    assert.equal(r.out, expected);
    assert.deepEqual(
      r.media.map((m) => [m.kind, m.rtpPort, m.rtcpPort]),
      [
        ['audio', 7078, 7079],
        ['video', 9078, 9079],
      ],
    );
    assert.equal(r.media[0].insideIp, parseIpv4(INSIDE));
    assertContentLength(r.out);
    assert.equal(r.drop, false);
  });

  it('a port written as the default 5060 stays without one when the external port is 5060 too', () => {
    const msg = sip([
      `OPTIONS sip:${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE};branch=z9hG4bK776asdhds`,
      `Contact: <sip:alice@${INSIDE}>`,
      `From: <sip:alice@${INSIDE}>;tag=1`,
      `To: <sip:${REMOTE}>`,
      'Call-ID: x1',
      'CSeq: 1 OPTIONS',
    ]);
    const same = run(msg, 'outbound', { externalPort: 5060 });
    assert.equal(same.out, msg.replaceAll(INSIDE, EXT));
    const other = run(msg, 'outbound', { externalPort: 40000 });
    assert.equal(other.out, msg.replaceAll(INSIDE, `${EXT}:40000`));
  });

  it('compact header forms (v: f: t: m: c: l:) are rewritten like the long ones', () => {
    const body = sdp([
      'v=0',
      `o=- 0 0 IN IP4 ${INSIDE}`,
      's=-',
      `c=IN IP4 ${INSIDE}`,
      't=0 0',
      'm=audio 4000 RTP/AVP 0',
    ]);
    const lines = [
      `INVITE sip:bob@${REMOTE} SIP/2.0`,
      `v: SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bKnashds8`,
      `f: Alice <sip:alice@${INSIDE}>;tag=1928301774`,
      `t: Bob <sip:bob@${REMOTE}>`,
      'i: a84b4c76e66710',
      'CSeq: 314159 INVITE',
      `m: <sip:alice@${INSIDE}:5060>`,
      'c: application/sdp',
      `l: ${body.length}`,
    ];
    const msg = sip(lines, body, 'none');
    const r = run(msg, 'outbound');
    const want = sip(
      [
        `INVITE sip:bob@${REMOTE} SIP/2.0`,
        `v: SIP/2.0/UDP ${EXT}:61000;branch=z9hG4bKnashds8`,
        `f: Alice <sip:alice@${EXT}:61000>;tag=1928301774`,
        `t: Bob <sip:bob@${REMOTE}>`,
        'i: a84b4c76e66710',
        'CSeq: 314159 INVITE',
        `m: <sip:alice@${EXT}:61000>`,
        'c: application/sdp',
        `l: ${body.length + 2 * (EXT.length - INSIDE.length) + 1}`,
      ],
      body.replaceAll(INSIDE, EXT).replace('audio 4000', 'audio 34000'),
      'none',
    );
    assert.equal(r.out, want);
    assertContentLength(r.out);
  });

  it('only the topmost Via is the sender: lower Via entries and headers stay as they are', () => {
    const msg = sip([
      `INVITE sip:bob@${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bK1, SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bK0`,
      `Via: SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bKz`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>',
      'Call-ID: c',
      'CSeq: 1 INVITE',
    ]);
    const r = run(msg, 'outbound');
    assert.equal(
      r.out,
      msg.replace(`${INSIDE}:5060;branch=z9hG4bK1`, `${EXT}:61000;branch=z9hG4bK1`),
      'one field changed',
    );
    assert.equal(r.fields, 1);
  });

  it('a Via of another transport is not the flow and stays', () => {
    const msg = sip([
      `OPTIONS sip:${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/TCP ${INSIDE}:5060;branch=z9hG4bK1`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>',
      'Call-ID: c',
      'CSeq: 1 OPTIONS',
    ]);
    assert.equal(run(msg, 'outbound').out, msg);
    assert.equal(
      run(msg, 'outbound', { transport: 'tcp' }).out,
      msg.replace(`${INSIDE}:5060`, `${EXT}:61000`),
    );
  });

  it('an address with another port, or another inside host, is not this flow and stays', () => {
    const msg = sip([
      `MESSAGE sip:bob@${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE}:5062;branch=z9hG4bK1`,
      `From: <sip:a@${INSIDE}:5062>;tag=1`,
      'To: <sip:b@192.168.1.11>',
      `Contact: <sip:a@192.168.1.100:5060>`,
      'Call-ID: c',
      'CSeq: 1 MESSAGE',
    ]);
    assert.equal(run(msg, 'outbound').out, msg);
  });

  it('Record-Route and Route entries that name the sender are rewritten, others stay', () => {
    const msg = sip([
      `BYE sip:bob@${REMOTE}:5070 SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bK1`,
      `Route: <sip:${REMOTE};lr>, <sip:${INSIDE}:5060;lr;transport=udp>`,
      `Record-Route: <sip:${INSIDE};lr>`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      'Call-ID: c',
      'CSeq: 2 BYE',
    ]);
    const r = run(msg, 'outbound');
    assert.equal(
      r.out,
      sip([
        `BYE sip:bob@${REMOTE}:5070 SIP/2.0`,
        `Via: SIP/2.0/UDP ${EXT}:61000;branch=z9hG4bK1`,
        `Route: <sip:${REMOTE};lr>, <sip:${EXT}:61000;lr;transport=udp>`,
        `Record-Route: <sip:${EXT}:61000;lr>`,
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:b@example.com>;tag=2',
        'Call-ID: c',
        'CSeq: 2 BYE',
      ]),
    );
  });

  it('a REGISTER from Zoiper maps its Contact and reports the registration lifetime', () => {
    const msg = sip([
      'REGISTER sip:sip.example.com;transport=UDP SIP/2.0',
      `Via: SIP/2.0/UDP ${INSIDE}:54321;branch=z9hG4bK-524287-1---f1f3e1e8a0c6c3b2;rport`,
      'Max-Forwards: 70',
      `Contact: <sip:alice@${INSIDE}:54321;rinstance=8b1c3f0c7a0e9d21;transport=UDP>`,
      'To: <sip:alice@sip.example.com;transport=UDP>',
      'From: <sip:alice@sip.example.com;transport=UDP>;tag=4a1b2c3d',
      'Call-ID: ZDk2YjE3NmQ5ZGE5ZjJkNzM1NjI0ZGE0YjQ3YTk0YzQ',
      'CSeq: 1 REGISTER',
      'Expires: 60',
      'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE',
      'User-Agent: Z 5.5.12 v2.10.18.2',
      'Allow-Events: presence, kpml, talk',
    ]);
    const r = run(msg, 'outbound', { insidePort: 54321, externalPort: 1024 });
    assert.equal(r.out, msg.replaceAll(`${INSIDE}:54321`, `${EXT}:1024`));
    assert.deepEqual(r.registered, [60]);
    const withParam = msg.replace(';transport=UDP>', ';transport=UDP>;expires=3600');
    assert.deepEqual(
      run(withParam, 'outbound', { insidePort: 54321 }).registered,
      [3600],
      'contact expires wins',
    );
    const unregister = msg.replace('Expires: 60', 'Expires: 0');
    assert.deepEqual(run(unregister, 'outbound', { insidePort: 54321 }).registered, [0]);
    const ok = [
      'SIP/2.0 200 OK',
      `Via: SIP/2.0/UDP ${EXT}:1024;branch=z9hG4bK-524287-1---f1f3e1e8a0c6c3b2;rport=1024;received=${EXT}`,
      `Contact: <sip:alice@${EXT}:1024;rinstance=8b1c3f0c7a0e9d21;transport=UDP>;expires=45`,
      'CSeq: 1 REGISTER',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const answered = run(ok, 'inbound', { insidePort: 54321, externalPort: 1024 });
    assert.equal(
      answered.out,
      ok
        .replaceAll(`${EXT}:1024`, `${INSIDE}:54321`)
        .replace('rport=1024', 'rport=54321')
        .replace(`received=${EXT}`, `received=${INSIDE}`),
    );
    assert.deepEqual(answered.registered, [45], 'the granted lifetime');
    assert.deepEqual(
      run(ok.replace('1 REGISTER', '1 INVITE'), 'inbound', { insidePort: 54321, externalPort: 1024 })
        .registered,
      [],
    );
    const noExpires = msg.replace('Expires: 60\r\n', '');
    assert.deepEqual(run(noExpires, 'outbound', { insidePort: 54321 }).registered, [3600], 'RFC default');
  });

  it('maddr naming the inside address becomes the external address', () => {
    const msg = sip([
      `OPTIONS sip:${REMOTE} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE}:5060;maddr=${INSIDE};branch=z9hG4bK1`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>',
      'Call-ID: c',
      'CSeq: 1 OPTIONS',
    ]);
    assert.equal(
      run(msg, 'outbound').out,
      msg.replace(`${INSIDE}:5060;maddr=${INSIDE}`, `${EXT}:61000;maddr=${EXT}`),
    );
  });
});

describe('SIP rewriting of SDP', () => {
  it('an Asterisk-style offer with a=rtcp and media-level c= gets both ports and addresses', () => {
    const body = sdp([
      'v=0',
      `o=root 1932531013 1932531013 IN IP4 ${INSIDE}`,
      's=Asterisk PBX 18.10.0',
      `c=IN IP4 ${INSIDE}`,
      't=0 0',
      'm=audio 12302 RTP/AVP 0 8 101',
      `c=IN IP4 ${INSIDE}`,
      `a=rtcp:12303 IN IP4 ${INSIDE}`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-16',
      'a=ptime:20',
      'a=sendrecv',
    ]);
    const msg = sip(
      [
        'SIP/2.0 200 OK',
        `Via: SIP/2.0/UDP ${REMOTE}:5060;branch=z9hG4bK-1;received=${REMOTE};rport=5060`,
        `From: <sip:bob@${REMOTE}>;tag=as1`,
        `To: <sip:alice@${INSIDE}>;tag=as58f4201b`,
        'Call-ID: 1-2@198.51.100.1',
        'CSeq: 102 INVITE',
        'Server: Asterisk PBX 18.10.0',
        `Contact: <sip:alice@${INSIDE}:5060>`,
        'Content-Type: application/sdp',
      ],
      body,
    );
    const r = run(msg, 'outbound');
    const wantBody = body
      .replaceAll(INSIDE, EXT)
      .replace('audio 12302', 'audio 42302')
      .replace('rtcp:12303', 'rtcp:42303');
    assert.equal(
      r.out,
      sip(
        [
          'SIP/2.0 200 OK',
          `Via: SIP/2.0/UDP ${REMOTE}:5060;branch=z9hG4bK-1;received=${REMOTE};rport=5060`,
          `From: <sip:bob@${REMOTE}>;tag=as1`,
          `To: <sip:alice@${EXT}:61000>;tag=as58f4201b`,
          'Call-ID: 1-2@198.51.100.1',
          'CSeq: 102 INVITE',
          'Server: Asterisk PBX 18.10.0',
          `Contact: <sip:alice@${EXT}:61000>`,
          'Content-Type: application/sdp',
        ],
        wantBody,
      ),
    );
    assert.deepEqual(
      r.media.map((m) => [m.rtpPort, m.rtcpPort]),
      [[12302, 12303]],
    );
  });

  it('a disabled stream (port 0) and a stream at a foreign address are left alone', () => {
    const body = sdp([
      'v=0',
      `o=- 1 1 IN IP4 ${INSIDE}`,
      's=-',
      't=0 0',
      'm=audio 0 RTP/AVP 0',
      `c=IN IP4 ${INSIDE}`,
      'm=video 5000 RTP/AVP 96',
      'c=IN IP4 198.51.100.77',
    ]);
    const msg = sdpInvite(body);
    const r = run(msg, 'outbound');
    assert.equal(r.media.length, 0);
    assert.equal(r.refusals, 1, 'the foreign media address is counted');
    assert.ok(r.out.includes('m=audio 0 RTP/AVP 0') && r.out.includes('m=video 5000 RTP/AVP 96'));
    assert.ok(r.out.includes('c=IN IP4 198.51.100.77'));
    assertContentLength(r.out);
  });

  it('a media allocation failure asks to drop the message', () => {
    const r = run(LINPHONE_INVITE, 'outbound', { failMedia: true });
    assert.equal(r.drop, true);
  });

  it('SDP in inbound messages is not touched', () => {
    const body = sdp([
      'v=0',
      `o=bob 1 1 IN IP4 ${REMOTE}`,
      's=-',
      `c=IN IP4 ${REMOTE}`,
      't=0 0',
      'm=audio 30000 RTP/AVP 0',
    ]);
    const msg = sip(
      [
        'SIP/2.0 200 OK',
        `Via: SIP/2.0/UDP ${EXT}:61000;branch=z9hG4bK.Ufo7H2vTN;rport=61000;received=${EXT}`,
        'From: <sip:alice@example.com>;tag=9kvhyKuvy',
        `To: sip:bob@${REMOTE};tag=8321234356`,
        'Call-ID: 3T~L3ZbFoQ',
        'CSeq: 20 INVITE',
        `Contact: <sip:bob@${REMOTE}:5060>`,
        'Content-Type: application/sdp',
      ],
      body,
    );
    const r = run(msg, 'inbound');
    assert.equal(r.media.length, 0);
    assert.equal(
      r.out,
      msg.replace(
        `${EXT}:61000;branch=z9hG4bK.Ufo7H2vTN;rport=61000;received=${EXT}`,
        `${INSIDE}:5060;branch=z9hG4bK.Ufo7H2vTN;rport=5060;received=${INSIDE}`,
      ),
    );
  });
});

describe('SIP rewriting of inbound messages', () => {
  it('an INVITE to the registered contact gets the inside address in the Request-URI and To', () => {
    const msg = sip([
      `INVITE sip:alice@${EXT}:61000;transport=udp SIP/2.0`,
      `Via: SIP/2.0/UDP ${REMOTE}:5060;branch=z9hG4bK-2;rport`,
      `From: <sip:bob@${REMOTE}>;tag=b`,
      `To: <sip:alice@${EXT}:61000>`,
      'Call-ID: in1',
      'CSeq: 1 INVITE',
      `Contact: <sip:bob@${REMOTE}:5060>`,
    ]);
    const r = run(msg, 'inbound');
    assert.equal(r.out, msg.replaceAll(`${EXT}:61000`, `${INSIDE}:5060`));
    assert.equal(r.fields, 2);
  });

  it('a request for the external address of an inside registrar behind a port forward reaches it as its own', () => {
    const msg = sip([
      `REGISTER sip:${EXT} SIP/2.0`,
      `Via: SIP/2.0/UDP ${REMOTE}:5060;branch=z9hG4bK-3;rport`,
      `From: <sip:carol@${EXT}>;tag=c`,
      `To: <sip:carol@${EXT}>`,
      'Call-ID: reg1',
      'CSeq: 1 REGISTER',
      `Contact: <sip:carol@${REMOTE}:5060>`,
      'Expires: 3600',
    ]);
    const r = run(msg, 'inbound', { externalPort: 5060 });
    assert.equal(r.out, msg.replaceAll(EXT, INSIDE));
    assert.deepEqual(r.registered, [], 'inbound REGISTERs create no expectation');
  });

  it('received= and rport= of a response are translated only when the Via is ours', () => {
    const ours = sip([
      'SIP/2.0 401 Unauthorized',
      `Via: SIP/2.0/UDP ${EXT}:61000;branch=z9hG4bK1;received=${EXT};rport=61000`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:a@example.com>;tag=2',
      'Call-ID: c',
      'CSeq: 1 REGISTER',
      'WWW-Authenticate: Digest realm="example.com", nonce="abc"',
    ]);
    assert.equal(
      run(ours, 'inbound').out,
      ours.replace(
        `${EXT}:61000;branch=z9hG4bK1;received=${EXT};rport=61000`,
        `${INSIDE}:5060;branch=z9hG4bK1;received=${INSIDE};rport=5060`,
      ),
    );
    const theirs = ours.replace(`${EXT}:61000;`, '198.51.100.9:5060;');
    assert.equal(run(theirs, 'inbound').out, theirs);
  });
});

describe('SIP rewriter properties', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const foreignIp = fc
    .tuple(octet, octet, octet, octet)
    .map((a) => a.join('.'))
    .filter((ip) => ip !== INSIDE && ip !== EXT);
  const port = fc.integer({ min: 1, max: 65535 });

  it('messages that name other endpoints are left byte-identical', () => {
    fc.assert(
      fc.property(foreignIp, port, foreignIp, port, fc.boolean(), (a, pa, b, pb, outbound) => {
        const body = sdp([
          'v=0',
          `o=- 1 1 IN IP4 ${a}`,
          's=-',
          `c=IN IP4 ${a}`,
          't=0 0',
          `m=audio ${pa} RTP/AVP 0`,
        ]);
        const msg = sip(
          [
            `INVITE sip:x@${b}:${pb} SIP/2.0`,
            `Via: SIP/2.0/UDP ${a}:${pa};branch=z9hG4bK1;received=${EXT};rport=61000`,
            `From: <sip:x@${a}:${pa}>;tag=1`,
            `To: <sip:y@${b}>`,
            `Contact: <sip:x@${a}:${pa}>, <sip:x@${b}:${pb}>`,
            'Call-ID: c',
            'CSeq: 1 INVITE',
            'Content-Type: application/sdp',
          ],
          body,
        );
        const r = run(msg, outbound ? 'outbound' : 'inbound');
        assert.equal(r.out, msg);
        assert.equal(r.media.length, 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('Content-Length always equals the rewritten body and every inside stream gets its port', () => {
    const stream = fc.record({
      kind: fc.constantFrom('audio', 'video', 'image'),
      port: fc.integer({ min: 1024, max: 35000 }),
      inside: fc.boolean(),
      rtcp: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(stream, { minLength: 0, maxLength: 6 }), fc.boolean(), (streams, lf) => {
        const lines = ['v=0', `o=- 7 7 IN IP4 ${INSIDE}`, 's=-', 't=0 0'];
        for (const st of streams) {
          lines.push(`m=${st.kind} ${st.port} RTP/AVP 0`);
          lines.push(`c=IN IP4 ${st.inside ? INSIDE : '198.51.100.50'}`);
          if (st.rtcp) lines.push(`a=rtcp:${st.port + 1}`);
        }
        const body = lf ? `${lines.join('\n')}\n` : sdp(lines);
        const msg = sdpInvite(body);
        const r = run(msg, 'outbound');
        assertContentLength(r.out);
        const m = parse(r.out);
        const info = parseSdp(r.out, m.bodyStart, m.end);
        assert.ok(info);
        assert.equal(info.media.length, streams.length);
        streams.forEach((st, i) => {
          const got = info.media[i];
          assert.equal(got.port.port, st.inside ? st.port + 30000 : st.port);
          if (st.rtcp) assert.equal(got.rtcp?.port.port, st.inside ? st.port + 30001 : st.port + 1);
        });
        assert.equal(r.media.length, streams.filter((s) => s.inside).length);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes never throw from the parsers or the rewriter', () => {
    const prefix = fc.constantFrom(
      '',
      'INVITE sip:a@1.2.3.4 SIP/2.0\r\n',
      'SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 192.168.1.10\r\n',
      `REGISTER sip:x SIP/2.0\r\nm: <sip:a@${INSIDE}>;expires=\r\nl: 3\r\n\r\n`,
    );
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 400 }), fc.boolean(), (p, bytes, stream) => {
        const s = p + Buffer.from(bytes).toString('latin1');
        parseSipMessage(s, 0, s.length, stream);
        parseSdp(s, 0, s.length);
        const m = parseSipMessage(s, 0, s.length, false);
        if (m && m !== 'incomplete') {
          const r = run(s, 'outbound');
          assert.equal(typeof r.out, 'string');
          run(s, 'inbound');
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
