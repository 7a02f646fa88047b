/**
 * SIP expectation limits of Linux `nf_conntrack_sip` that `sip-nat.test.ts` does not show on its
 * own: video apart from audio, and one signalling expectation. Listed in docs/conformance.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { SIP_MAX_MEDIA_EXPECTATIONS, SIP_MAX_SIGNALLING_EXPECTATIONS, SipHelper } from '../src/sip.js';
import { parseSeg, udpDgram } from './alg-peers.js';

const PHONE = '192.168.7.20';
const REGISTRAR = '198.51.100.77';
const UDP = 17;

/** A NAT with the SIP helper; returns the text of each SIP datagram that leaves on the outside. */
function sipNat() {
  const nat = new Nat({
    inside: '192.168.7.1/24',
    outside: '203.0.113.70/24',
    clock: new ManualClock(50_000),
    type: 'port-restricted-cone',
    maintainIntervalMs: 0,
    portPreservation: false,
  });
  nat.addHelper(new SipHelper());
  const left: string[] = [];
  nat.outside().setHandler((p) => {
    assertChecksums(p, 'SIP datagram leaving the NAT');
    left.push(parseSeg(p.slice()).text);
  });
  const fromPhone = (text: string) =>
    nat.inside().send(udpDgram(PHONE, 5060, REGISTRAR, 5060, Buffer.from(text, 'latin1')));
  const pendingPorts = () =>
    nat
      .listExpectations()
      .filter((e) => e.helper === 'sip' && e.proto === UDP)
      .map((e) => e.insidePort)
      .sort((a, b) => a - b);
  return { nat, left, fromPhone, pendingPorts };
}

/** A SIP request from the phone with the headers a UA sends and `body` as SDP (if any). */
function request(method: string, callId: string, cseq: number, body = ''): string {
  const lines = [
    `${method} sip:${method === 'REGISTER' ? '' : 'bob@'}${REGISTRAR} SIP/2.0`,
    `Via: SIP/2.0/UDP ${PHONE}:5060;branch=z9hG4bK-${callId}-${cseq};rport`,
    `From: <sip:carol@${REGISTRAR}>;tag=c${cseq}`,
    `To: <sip:${method === 'REGISTER' ? 'carol' : 'bob'}@${REGISTRAR}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:carol@${PHONE}:5060>${method === 'REGISTER' ? ';expires=600' : ''}`,
    'Max-Forwards: 70',
  ];
  if (body) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${body.length}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** An SDP offer with one audio and one video stream. */
function audioVideo(audio: number, video: number): string {
  return [
    'v=0',
    `o=carol 77 ${audio} IN IP4 ${PHONE}`,
    's=call',
    `c=IN IP4 ${PHONE}`,
    't=0 0',
    `m=audio ${audio} RTP/AVP 0`,
    `m=video ${video} RTP/AVP 96`,
    'a=rtpmap:96 H264/90000',
    '',
  ].join('\r\n');
}

describe('SIP expectation limits as Linux nf_conntrack_sip (conformance)', () => {
  it('keeps at most 4 pending video expectations per signalling flow, counted apart from audio', () => {
    const { left, fromPhone, pendingPorts } = sipNat();
    for (let i = 0; i < 4; i++)
      fromPhone(request('INVITE', 'av-call', 10 + i, audioVideo(7000 + 4 * i, 9000 + 4 * i)));
    assert.equal(left.length, 4, 'every INVITE left, rewritten');
    for (const t of left) assert.ok(!t.includes(PHONE), 'no inside address leaks');
    const ports = pendingPorts();
    const audio = ports.filter((p) => p < 9000);
    const video = ports.filter((p) => p >= 9000);
    assert.equal(SIP_MAX_MEDIA_EXPECTATIONS, 4);
    assert.deepEqual(audio, [7008, 7009, 7012, 7013], 'the 2 newest audio streams (RTP + RTCP)');
    assert.deepEqual(video, [9008, 9009, 9012, 9013], 'the 2 newest video streams, beside the audio ones');
  });

  it('keeps one pending signalling expectation per flow: a new REGISTER replaces the old one', () => {
    const { nat, left, fromPhone } = sipNat();
    const signalling = () =>
      nat.listExpectations().filter((e) => e.helper === 'sip' && e.insidePort === 5060);
    fromPhone(request('REGISTER', 'reg-a', 1));
    assert.equal(signalling().length, 1);
    const first = signalling()[0].id;
    fromPhone(request('REGISTER', 'reg-b', 1));
    fromPhone(request('REGISTER', 'reg-c', 1));
    assert.equal(left.length, 3);
    assert.equal(SIP_MAX_SIGNALLING_EXPECTATIONS, 1);
    assert.equal(signalling().length, 1, 'still one');
    assert.notEqual(signalling()[0].id, first, 'the newest registration holds it');
  });
});
