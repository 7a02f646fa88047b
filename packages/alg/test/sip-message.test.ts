/**
 * The SIP message and SDP parsers (framing, compact forms, folding, URIs, Via) and the TCP
 * message framing of {@link SipTcpStream}: boundaries across segments, gaps, retransmissions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SipTcpStream } from '../src/sip.js';
import {
  findElementUri,
  parseSipHead,
  parseSipMessage,
  parseViaEntry,
  type SipMessage,
  splitList,
  uriHostPort,
} from '../src/sip-message.js';
import { parseSdp } from '../src/sip-sdp.js';

function msgOf(s: string, stream = false): SipMessage {
  const m = parseSipMessage(s, 0, s.length, stream);
  assert.ok(m && m !== 'incomplete', `parses: ${JSON.stringify(s.slice(0, 40))}`);
  return m;
}

function value(s: string, m: SipMessage, name: string): string[] {
  return m.headers.filter((h) => h.name === name).map((h) => s.slice(h.valueStart, h.valueEnd));
}

describe('SIP message framing', () => {
  it('a request: method, Request-URI, headers by full name, body by Content-Length', () => {
    const s =
      'INVITE sip:bob@198.51.100.1:5070;transport=udp SIP/2.0\r\nv: SIP/2.0/UDP 192.168.1.10\r\n' +
      'To:   <sip:bob@example.com>  \r\nl: 5\r\n\r\nhellotrailing';
    const m = msgOf(s);
    assert.deepEqual([m.isRequest, m.method, m.status], [true, 'INVITE', 0]);
    assert.equal(s.slice(m.uriStart, m.uriEnd), 'sip:bob@198.51.100.1:5070;transport=udp');
    assert.deepEqual(value(s, m, 'via'), ['SIP/2.0/UDP 192.168.1.10']);
    assert.deepEqual(value(s, m, 'to'), ['<sip:bob@example.com>'], 'trimmed');
    assert.equal(m.contentLength, 5);
    assert.equal(s.slice(m.bodyStart, m.end), 'hello', 'bytes after Content-Length are not the message');
  });

  it('a response with LF-only line ends and a folded header', () => {
    const s = 'SIP/2.0 180 Ringing\nContact: <sip:a@192.0.2.1>,\n <sip:b@192.0.2.2>\nContent-Length: 0\n\n';
    const m = msgOf(s);
    assert.deepEqual([m.isRequest, m.status], [false, 180]);
    const [c] = value(s, m, 'contact');
    assert.equal(c, '<sip:a@192.0.2.1>,\n <sip:b@192.0.2.2>');
    const h = m.headers[0];
    assert.deepEqual(
      splitList(s, h.valueStart, h.valueEnd).map(([a, b]) => s.slice(a, b)),
      ['<sip:a@192.0.2.1>', '<sip:b@192.0.2.2>'],
    );
  });

  it('a datagram without Content-Length takes the rest of the datagram as body', () => {
    const s = 'MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nbody text';
    assert.equal(msgOf(s).end, s.length);
    assert.equal(parseSipMessage(s, 0, s.length, true), null, 'over TCP Content-Length is required');
  });

  it('malformed messages are rejected: bad start line, header without colon, bad or conflicting lengths', () => {
    const bad = [
      'HELLO\r\n\r\n',
      'INVITE sip:a SIP/3.0\r\n\r\n',
      'SIP/2.0 20 OK\r\n\r\n',
      'SIP/2.0 200 OK\r\nNoColonHere\r\n\r\n',
      'SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n',
      'SIP/2.0 200 OK\r\nContent-Length: 1\r\nl: 2\r\n\r\nab',
      'SIP/2.0 200 OK\r\nContent-Length: 99\r\n\r\nshort',
      'SIP/2.0 200 OK\r\nContent-Length: 0\r\n',
      ' SIP/2.0 200 OK\r\n\r\n',
    ];
    for (const s of bad) assert.equal(parseSipMessage(s, 0, s.length, false), null, JSON.stringify(s));
  });

  it('over a stream, a message whose headers or body go on is incomplete, and parseSipHead tells which', () => {
    const whole = 'SIP/2.0 200 OK\r\nContent-Length: 4\r\n\r\nabcd';
    for (let cut = 1; cut < whole.length; cut++)
      assert.equal(parseSipMessage(whole, 0, cut, true), 'incomplete', `cut at ${cut}`);
    const head = parseSipHead(whole, 0, whole.length - 2, true);
    assert.ok(head && head !== 'incomplete');
    assert.equal(head.end, whole.length, 'the head knows where the body ends');
    assert.equal(parseSipHead(whole, 0, 20, true), 'incomplete');
  });

  it('URIs: host and port after the userinfo, default port absent, IPv6 and names are not IPv4', () => {
    const cases: Array<[string, number, number]> = [
      ['sip:alice@192.168.1.10', 0xc0a8010a, -1],
      ['sip:alice:secret@192.168.1.10:5062;transport=udp', 0xc0a8010a, 5062],
      ['sips:192.168.1.10:5061', 0xc0a8010a, 5061],
      ['sip:alice@pbx.example.com:5060', -1, 5060],
      ['sip:alice@[2001:db8::1]:5060', -1, 5060],
      ['sip:alice@192.168.1.256', -1, -1],
    ];
    for (const [u, ip, port] of cases) {
      const hp = uriHostPort(u, 0, u.length);
      assert.ok(hp, u);
      assert.deepEqual([hp.ip, hp.port], [ip, port], u);
    }
    assert.equal(uriHostPort('tel:+15551234', 0, 12), null);
    assert.equal(uriHostPort('sip:a@1.2.3.4:99999', 0, 19), null, 'port out of range');
  });

  it('name-addr elements: display names with < and , inside quotes, addr-spec with header params', () => {
    const e1 = '"Smith, <John>" <sip:john@192.0.2.4:5070>;tag=88';
    const hp1 = findElementUri(e1, 0, e1.length);
    assert.equal(e1.slice(hp1?.hostStart, hp1?.end), '192.0.2.4:5070');
    const e2 = 'sip:bob@192.0.2.5;tag=1';
    const hp2 = findElementUri(e2, 0, e2.length);
    assert.equal(e2.slice(hp2?.hostStart, hp2?.end), '192.0.2.5');
    assert.equal(findElementUri('*', 0, 1), null);
    const list = '"A, B" <sip:a@192.0.2.1>, sip:b@192.0.2.2;expires=60 ,<sip:c@192.0.2.3>';
    assert.deepEqual(
      splitList(list, 0, list.length).map(([a, b]) => list.slice(a, b)),
      ['"A, B" <sip:a@192.0.2.1>', 'sip:b@192.0.2.2;expires=60', '<sip:c@192.0.2.3>'],
    );
  });

  it('Via: transport, sent-by and parameters with and without values, spaces around separators', () => {
    const v =
      'SIP / 2.0 / udp 192.168.1.10:5060 ; branch=z9hG4bK1;rport;received=203.0.113.1;maddr=[2001:db8::1]';
    const e = parseViaEntry(v, 0, v.length);
    assert.ok(e);
    assert.equal(e.transport, 'UDP');
    assert.equal(v.slice(e.sentBy.hostStart, e.sentBy.end), '192.168.1.10:5060');
    assert.deepEqual(
      e.params.map((p) => [p.name, p.hasValue ? v.slice(p.valueStart, p.valueEnd) : null]),
      [
        ['branch', 'z9hG4bK1'],
        ['rport', null],
        ['received', '203.0.113.1'],
        ['maddr', '[2001:db8::1]'],
      ],
    );
    assert.equal(parseViaEntry('SIP/2.0/UDP', 0, 11), null);
    assert.equal(parseViaEntry('HTTP/1.1 host', 0, 13), null);
  });
});

describe('SDP parsing', () => {
  it('finds o=, session and media c=, m= ports with counts and a=rtcp with an address', () => {
    const s = [
      'v=0',
      'o=- 20518 0 IN IP4 192.0.2.1',
      's=-',
      'c=IN IP4 192.0.2.1/127',
      't=0 0',
      'm=audio 49170/2 RTP/AVP 0',
      'a=rtcp:53020 IN IP4 192.0.2.9',
      'm=video 0 RTP/AVP 31',
      'c=IN IP6 2001:db8::2',
      'm=image 6000 udptl t38',
      '',
    ].join('\r\n');
    const d = parseSdp(s, 0, s.length);
    assert.ok(d);
    assert.equal(s.slice(d.origin?.start, d.origin?.end), '192.0.2.1');
    assert.equal(s.slice(d.connection?.start, d.connection?.end), '192.0.2.1', 'TTL excluded');
    assert.equal(d.connection?.ip, 0xc0000201);
    assert.deepEqual(
      d.media.map((m) => [m.media, m.port.port, m.portCount, m.proto]),
      [
        ['audio', 49170, 2, 'RTP/AVP'],
        ['video', 0, 1, 'RTP/AVP'],
        ['image', 6000, 1, 'udptl'],
      ],
    );
    assert.equal(d.media[0].rtcp?.port.port, 53020);
    assert.equal(d.media[0].rtcp?.address?.ip, 0xc0000209);
    assert.equal(d.media[1].connection?.ip, -1, 'IPv6 is not an IPv4 address');
  });

  it('a body that is not SDP or has a broken m= line is rejected', () => {
    assert.equal(parseSdp('hello', 0, 5), null);
    const s = 'v=0\r\nm=audio port RTP/AVP 0\r\n';
    assert.equal(parseSdp(s, 0, s.length), null);
  });

  it('arbitrary bytes never throw from the parsers', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const s = `v=0\r\n${a}${Buffer.from(b).toString('latin1')}`;
        parseSdp(s, 0, s.length);
        parseSipHead(s, 0, s.length, true);
        parseViaEntry(s, 0, s.length);
        findElementUri(s, 0, s.length);
        splitList(s, 0, s.length);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('SIP over TCP framing', () => {
  const stats = () => ({ incomplete: 0, parseErrors: 0, retransmissions: 0 });
  const msg = (n: number, body = ''): string =>
    `OPTIONS sip:x SIP/2.0\r\nCSeq: ${n} OPTIONS\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  /** Marks every whole message it is given by upper-casing its CSeq method line. */
  const upper = (s: string, m: SipMessage): string =>
    s.slice(m.start, m.end).replace(' OPTIONS\r\nC', ' options\r\nC');

  it('every whole message is handed over; split ones are skipped without losing the boundary', () => {
    const st = new SipTcpStream();
    const k = stats();
    st.syn(99);
    const stream = msg(1) + msg(2, 'body-two') + msg(3) + msg(4, 'x'.repeat(50)) + msg(5);
    const seen: string[] = [];
    // Cut the stream at every 37 bytes: each piece is a segment.
    let out = '';
    for (let off = 0; off < stream.length; off += 37) {
      const seg = stream.slice(off, off + 37);
      const r = st.process(
        seg,
        100 + off,
        (s, m) => {
          seen.push(s.slice(m.start, m.end));
          return upper(s, m);
        },
        k,
      );
      out += r ?? seg;
    }
    assert.equal(out.length, stream.length);
    // Only messages that fit in one segment were seen, and each exactly.
    for (const s of seen) assert.ok(stream.includes(s));
    assert.ok(k.incomplete > 0);
    assert.equal(k.parseErrors, 0);
  });

  it('a retransmitted segment gets the same output; a gap waits for a segment that starts a message', () => {
    const st = new SipTcpStream();
    const k = stats();
    st.syn(0);
    const a = msg(1);
    const first = st.process(a, 1, upper, k);
    assert.equal(first, a.replace(' OPTIONS\r\nC', ' options\r\nC'));
    assert.equal(st.process(a, 1, upper, k), first);
    assert.equal(k.retransmissions, 1);
    // A gap: the next segment starts mid-message and is left alone, the one after resynchronises.
    const b = msg(2, 'zz');
    assert.equal(st.process(b.slice(5), 1 + a.length + 500, upper, k), undefined);
    const c = msg(3);
    assert.ok(st.process(c, 1 + a.length + 500 + b.length - 5, upper, k)?.includes(' options'));
  });

  it('dropping a segment leaves the stream as if it had not arrived', () => {
    const st = new SipTcpStream();
    const k = stats();
    st.syn(0);
    const a = msg(1);
    assert.equal(
      st.process(a, 1, () => null, k),
      null,
    );
    assert.equal(
      st.process(a, 1, upper, k),
      a.replace(' OPTIONS\r\nC', ' options\r\nC'),
      'the resend is new data',
    );
  });

  it('arbitrary segments never throw and never change length unless a message was rewritten', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: -200, max: 200 })), {
          maxLength: 12,
        }),
        (segs) => {
          const st = new SipTcpStream();
          const k = stats();
          let seq = 1;
          for (const [bytes, jump] of segs) {
            const s = msg(1) + Buffer.from(bytes).toString('latin1');
            const r = st.process(s, seq, (t, m) => t.slice(m.start, m.end), k);
            assert.ok(r === undefined || r === s);
            seq = (seq + Math.max(0, s.length + jump)) >>> 0;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
