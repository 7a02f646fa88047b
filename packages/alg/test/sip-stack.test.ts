/**
 * SIP over TCP through the NAT between two userspace TCP stacks (`VirtualHost`): a phone behind
 * the NAT registers and calls a server outside. The first copy of the segment carrying the
 * INVITE is lost on the outside link, so the phone's own TCP retransmits it and the NAT must
 * rewrite it identically; then RTP flows both ways between UDP sockets through the media
 * expectation. Every packet on both links is checked with the independent checksum oracle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pump } from '@l3kit/testkit';
import { parseSipMessage, SipHelper } from '../src/sip.js';
import { EXT, CLIENT as PHONE, OUTSIDE_HOST as SERVER, stackTopology } from './alg-peers.js';

/** Splits a byte stream into SIP messages by Content-Length; returns them and the rest. */
function frames(buf: string): { messages: string[]; rest: string } {
  const messages: string[] = [];
  let pos = 0;
  for (;;) {
    const m = parseSipMessage(buf, pos, buf.length, true);
    if (!m || m === 'incomplete') break;
    messages.push(buf.slice(pos, m.end));
    pos = m.end;
  }
  return { messages, rest: buf.slice(pos) };
}

function header(msg: string, name: string): string {
  const m = new RegExp(`\\r\\n${name}: ([^\\r]*)`, 'i').exec(msg);
  assert.ok(m, `${name} header`);
  return m[1];
}

function request(method: string, cseq: number, localPort: number, extra: string[], body = ''): string {
  const lines = [
    `${method} sip:${method === 'REGISTER' ? SERVER : `bob@${SERVER}`};transport=tcp SIP/2.0`,
    `Via: SIP/2.0/TCP ${PHONE}:${localPort};branch=z9hG4bK-${cseq};rport`,
    `From: <sip:alice@${SERVER}>;tag=ph`,
    `To: <sip:${method === 'REGISTER' ? 'alice' : 'bob'}@${SERVER}>`,
    'Call-ID: stack-1',
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:alice@${PHONE}:${localPort};transport=tcp>`,
    ...extra,
    `Content-Length: ${body.length}`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

describe('SIP over TCP between userspace stacks through the NAT', () => {
  it('REGISTER and INVITE arrive translated despite a lost segment, replies come back, RTP flows both ways', async () => {
    let dropped = 0;
    const {
      sched,
      nat,
      inner: phone,
      outer: server,
      outside,
    } = stackTopology((s) => {
      if (dropped === 0 && s.proto === 6 && s.text.includes('INVITE sip:')) {
        dropped++;
        return true;
      }
      return false;
    });
    const sip = new SipHelper({ transport: 'tcp' });
    nat.addHelper(sip);

    // The server answers each request 200 OK, echoing Via with received / rport as RFC 3581 says.
    const atServer: string[] = [];
    const errors: string[] = [];
    let serverConn = { address: '', port: 0 };
    server.tcp.listen(5060, (sock) => {
      serverConn = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
      sock.on('error', (e: Error) => errors.push(`server: ${e.message}`));
      let buf = '';
      sock.on('data', (d: Buffer) => {
        const f = frames(buf + d.toString('latin1'));
        buf = f.rest;
        for (const m of f.messages) {
          atServer.push(m);
          const via = `${header(m, 'Via').replace(';rport', `;rport=${serverConn.port}`)};received=${serverConn.address}`;
          const body = m.startsWith('INVITE')
            ? `v=0\r\no=bob 1 1 IN IP4 ${SERVER}\r\ns=-\r\nc=IN IP4 ${SERVER}\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n`
            : '';
          const ok = [
            'SIP/2.0 200 OK',
            `Via: ${via}`,
            `From: ${header(m, 'From')}`,
            `To: ${header(m, 'To')};tag=srv`,
            `Call-ID: ${header(m, 'Call-ID')}`,
            `CSeq: ${header(m, 'CSeq')}`,
            `Contact: <sip:bob@${SERVER}:5060;transport=tcp>`,
            ...(body ? ['Content-Type: application/sdp'] : []),
            `Content-Length: ${body.length}`,
          ];
          sock.write(Buffer.from(`${ok.join('\r\n')}\r\n\r\n${body}`, 'latin1'));
        }
      });
    });

    const atPhone: string[] = [];
    const conn = phone.tcp.connect({ host: SERVER, port: 5060, localPort: 5062 });
    conn.on('error', (e: Error) => errors.push(`phone: ${e.message}`));
    let pbuf = '';
    conn.on('data', (d: Buffer) => {
      const f = frames(pbuf + d.toString('latin1'));
      pbuf = f.rest;
      atPhone.push(...f.messages);
    });
    const offer = `v=0\r\no=alice 7 7 IN IP4 ${PHONE}\r\ns=-\r\nc=IN IP4 ${PHONE}\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n`;
    const sent = [
      request('REGISTER', 1, 5062, ['Expires: 600']),
      request('INVITE', 2, 5062, ['Content-Type: application/sdp'], offer),
    ];
    conn.on('connect', () => conn.write(Buffer.from(sent.join(''), 'latin1')));
    await pump(sched, () => atPhone.length === 2);

    // What the server received: the NAT's address everywhere, lengths right.
    assert.equal(atServer.length, 2);
    assert.equal(serverConn.address, EXT);
    const ext = serverConn.port;
    const hp = ext === 5060 ? EXT : `${EXT}:${ext}`;
    for (const m of atServer) {
      assert.ok(!m.includes(PHONE), `no inside address reaches the server:\n${m}`);
      assert.ok(m.includes(`Via: SIP/2.0/TCP ${EXT}:${ext};branch=`));
      assert.ok(m.includes(`Contact: <sip:alice@${hp};transport=tcp>`));
    }
    const inv = atServer[1];
    const media = Number(/m=audio (\d+) /.exec(inv)?.[1]);
    assert.ok(media > 0 && inv.includes(`c=IN IP4 ${EXT}`));
    // The lost INVITE went out again byte-identical.
    const copies = outside.filter((s) => s.proto === 6 && s.text.includes('INVITE sip:'));
    assert.equal(copies.length, 2, 'the phone retransmitted the lost segment');
    assert.equal(copies[1].text, copies[0].text);
    assert.equal(copies[1].seq, copies[0].seq);
    assert.ok(sip.stats.retransmissions >= 1);
    // What the phone got back: its own Via, received and rport.
    for (const [i, m] of atPhone.entries()) {
      assert.ok(m.startsWith('SIP/2.0 200 OK'));
      assert.ok(
        m.includes(`Via: SIP/2.0/TCP ${PHONE}:5062;branch=z9hG4bK-${i + 1};rport=5062;received=${PHONE}`),
        m,
      );
    }

    // Media: the server's RTP reaches the phone's socket; the phone answers from its port.
    const phoneRtp = phone.udp.bind(7078);
    const serverRtp = server.udp.bind(30000);
    const phoneGot: Array<{ text: string; from: string }> = [];
    const serverGot: Array<{ text: string; from: string; port: number }> = [];
    phoneRtp.on('message', (msg: Buffer, r: { address: string }) => {
      phoneGot.push({ text: msg.toString(), from: r.address });
      phoneRtp.send(Buffer.from('rtp-from-phone'), 30000, SERVER);
    });
    serverRtp.on('message', (msg: Buffer, r: { address: string; port: number }) =>
      serverGot.push({ text: msg.toString(), from: r.address, port: r.port }),
    );
    serverRtp.send(Buffer.from('rtp-from-server'), media, EXT);
    await pump(sched, () => serverGot.length === 1);
    assert.deepEqual(phoneGot, [{ text: 'rtp-from-server', from: SERVER }]);
    assert.deepEqual(serverGot, [{ text: 'rtp-from-phone', from: EXT, port: media }]);

    assert.deepEqual(errors, []);
    errors.length = 0; // closing the hosts resets what is left: not part of the test
    conn.destroy();
    phone.close();
    server.close();
    nat.close();
  });
});
