/**
 * The SIP helper inside a real `Nat`: calls over UDP with RTP and RTCP flowing both ways through
 * the expectations, a REGISTER and the inbound call it enables, an inside registrar behind a port
 * forward, SIP over TCP with a length-changing rewrite checked for seq / ack continuity across a
 * retransmission, limits, removal and malformed payloads. Every packet the NAT emits is checked
 * with the independent checksum oracle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError, ManualClock, pipeL3 } from '@l3kit/core';
import { Nat, type NatOptions } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import fc from 'fast-check';
import { SipHelper, type SipHelperOptions } from '../src/sip.js';
import { parseSeg, type Seg, tcpSeg as tcp, udpDgram } from './alg-peers.js';

const INSIDE = '192.168.1.10';
const EXT = '203.0.113.1';
const PROXY = '198.51.100.1';
const OTHER = '198.51.100.2';
const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;

/** A UDP datagram carrying latin-1 `text`. */
function udp(src: string, sport: number, dst: string, dport: number, text: string): Uint8Array {
  return udpDgram(src, sport, dst, dport, Buffer.from(text, 'latin1'));
}

/** A NAT with a manual clock; what it emits on each side is checked and decoded. */
class Rig {
  readonly clock = new ManualClock(1_000_000);
  readonly nat: Nat;
  private sink: { out: Seg[]; in: Seg[] } = { out: [], in: [] };
  constructor(opts: Partial<NatOptions> = {}) {
    this.nat = new Nat({
      inside: '192.168.1.1/24',
      outside: `${EXT}/24`,
      clock: this.clock,
      type: 'port-restricted-cone',
      maintainIntervalMs: 0,
      // External ports differ from inside ones, so every translated port is visible.
      portPreservation: false,
      ...opts,
    } as NatOptions);
    this.nat.outside().setHandler((p) => {
      assertChecksums(p, 'packet leaving on the outside');
      this.sink.out.push(parseSeg(p.slice()));
    });
    this.nat.inside().setHandler((p) => {
      assertChecksums(p, 'packet delivered inside');
      this.sink.in.push(parseSeg(p.slice()));
    });
  }
  private run(fn: () => void): { out: Seg[]; in: Seg[] } {
    this.sink = { out: [], in: [] };
    fn();
    return this.sink;
  }
  /** Sends from the inside; returns the one packet that left on the outside (asserted). */
  out(pkt: Uint8Array): Seg {
    const r = this.run(() => this.nat.inside().send(pkt));
    assert.equal(r.out.length, 1, 'one packet leaves on the outside');
    return r.out[0];
  }
  /** Sends from the outside; returns what reached the inside. */
  in(pkt: Uint8Array): Seg[] {
    return this.run(() => this.nat.outside().send(pkt)).in;
  }
  /** Sends from the inside; returns what left on the outside (possibly nothing). */
  outAll(pkt: Uint8Array): Seg[] {
    return this.run(() => this.nat.inside().send(pkt)).out;
  }
  close(): void {
    this.nat.close();
  }
}

function sip(lines: string[], body = ''): string {
  return `${[...lines, `Content-Length: ${body.length}`].join('\r\n')}\r\n\r\n${body}`;
}

/** A SIP message with the dialog headers in the usual order (Via, From, To, Call-ID, CSeq, Contact). */
function sipMsg(
  start: string,
  h: {
    via: string;
    from?: string;
    to?: string;
    id: string;
    cseq: string;
    contact?: string;
    extra?: string[];
  },
  body = '',
): string {
  const lines = [start, `Via: SIP/2.0/${h.via}`];
  if (h.from) lines.push(`From: ${h.from}`);
  if (h.to) lines.push(`To: ${h.to}`);
  lines.push(`Call-ID: ${h.id}`, `CSeq: ${h.cseq}`);
  if (h.contact) lines.push(`Contact: ${h.contact}`);
  return sip([...lines, ...(h.extra ?? [])], body);
}

function sdp(addr: string, audio: number, video?: number): string {
  const l = ['v=0', `o=alice 1840 3232 IN IP4 ${addr}`, 's=Talk', `c=IN IP4 ${addr}`, 't=0 0'];
  l.push(`m=audio ${audio} RTP/AVP 0 8 101`, 'a=rtpmap:101 telephone-event/8000');
  if (video !== undefined) l.push(`m=video ${video} RTP/AVP 96`, 'a=rtpmap:96 VP8/90000');
  return `${l.join('\r\n')}\r\n`;
}

function invite(via: string, contact: string, body: string, cseq = 20, transport = 'UDP'): string {
  return sipMsg(
    `INVITE sip:bob@${PROXY} SIP/2.0`,
    {
      via: `${transport} ${via};branch=z9hG4bK.${cseq};rport`,
      from: '<sip:alice@example.com>;tag=9kvhyKuvy',
      to: `sip:bob@${PROXY}`,
      id: '3T~L3ZbFoQ',
      cseq: `${cseq} INVITE`,
      contact: `<sip:alice@${contact};transport=${transport.toLowerCase()}>`,
      extra: ['Max-Forwards: 70', 'Content-Type: application/sdp', 'User-Agent: Linphone Desktop/4.4.10'],
    },
    body,
  );
}

function mediaPort(text: string, kind: string): number {
  const m = new RegExp(`m=${kind} (\\d+) `).exec(text);
  assert.ok(m, `an m=${kind} line`);
  return Number(m[1]);
}

function bodyOf(text: string): { cl: number; body: string } {
  const i = text.indexOf('\r\n\r\n');
  const cl = /\r\nContent-Length: (\d+)/i.exec(text);
  assert.ok(i > 0 && cl);
  return { cl: Number(cl[1]), body: text.slice(i + 4) };
}

describe('SIP over UDP through the NAT', () => {
  it('a call: INVITE, 200 OK and ACK are translated and RTP / RTCP flow both ways through the expectations', () => {
    const rig = new Rig();
    const helper = new SipHelper();
    rig.nat.addHelper(helper);
    const inv = rig.out(
      udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078, 9078))),
    );
    assert.equal(inv.src, EXT);
    const ext = inv.sport;
    assert.ok(inv.text.includes(`Via: SIP/2.0/UDP ${EXT}:${ext};branch=`), inv.text);
    const contact = ext === 5060 ? EXT : `${EXT}:${ext}`;
    assert.ok(
      inv.text.includes(`Contact: <sip:alice@${contact};transport=udp>`),
      'Contact (default port omitted)',
    );
    assert.ok(!inv.text.includes(INSIDE), 'no inside address leaks');
    const { cl, body } = bodyOf(inv.text);
    assert.equal(cl, body.length, 'Content-Length fixed');
    assert.ok(body.includes(`c=IN IP4 ${EXT}`) && body.includes(`o=alice 1840 3232 IN IP4 ${EXT}`));
    const audio = mediaPort(inv.text, 'audio');
    const video = mediaPort(inv.text, 'video');
    const exps = rig.nat.listExpectations().filter((e) => e.helper === 'sip');
    assert.deepEqual(
      exps
        .map((e) => [e.insidePort, e.externalPort, e.remoteIp, e.proto])
        .sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [7078, audio, PROXY, 17],
        [7079, audio + 1, PROXY, 17],
        [9078, video, PROXY, 17],
        [9079, video + 1, PROXY, 17],
      ],
    );
    assert.ok(exps.every((e) => e.expiresInMs === 180_000));

    // A retransmission of the INVITE comes out byte-identical and adds nothing.
    const again = rig.out(
      udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078, 9078))),
    );
    assert.equal(again.text, inv.text);
    assert.equal(rig.nat.listExpectations().length, 4);
    assert.equal(helper.stats.retransmissions, 1);

    // 200 OK from the proxy: our Via comes back to the inside address and port.
    const ok = sipMsg(
      'SIP/2.0 200 OK',
      {
        via: `UDP ${EXT}:${ext};branch=z9hG4bK.20;rport=${ext};received=${EXT}`,
        from: '<sip:alice@example.com>;tag=9kvhyKuvy',
        to: `sip:bob@${PROXY};tag=as6d`,
        id: '3T~L3ZbFoQ',
        cseq: '20 INVITE',
        contact: `<sip:bob@${PROXY}:5060>`,
        extra: ['Content-Type: application/sdp'],
      },
      sdp(PROXY, 30000),
    );
    const got = rig.in(udp(PROXY, 5060, EXT, ext, ok));
    assert.equal(got.length, 1);
    assert.equal(got[0].dst, INSIDE);
    assert.ok(
      got[0].text.includes(`Via: SIP/2.0/UDP ${INSIDE}:5060;branch=z9hG4bK.20;rport=5060;received=${INSIDE}`),
    );
    assert.ok(got[0].text.includes(`c=IN IP4 ${PROXY}`) && got[0].text.includes('m=audio 30000 '));

    const ack = rig.out(
      udp(
        INSIDE,
        5060,
        PROXY,
        5060,
        sipMsg(`ACK sip:bob@${PROXY}:5060 SIP/2.0`, {
          via: `UDP ${INSIDE}:5060;branch=z9hG4bK.ack;rport`,
          from: '<sip:alice@example.com>;tag=9kvhyKuvy',
          to: `sip:bob@${PROXY};tag=as6d`,
          id: '3T~L3ZbFoQ',
          cseq: '20 ACK',
        }),
      ),
    );
    assert.ok(ack.text.includes(`Via: SIP/2.0/UDP ${EXT}:${ext};branch=z9hG4bK.ack`));

    // RTP and RTCP from the callee reach the caller's media ports; a stranger is refused.
    assert.equal(rig.in(udp(OTHER, 30000, EXT, audio, 'rtp-from-stranger')).length, 0);
    const rtp = rig.in(udp(PROXY, 30000, EXT, audio, 'rtp-in'));
    assert.deepEqual([rtp.length, rtp[0]?.dst, rtp[0]?.dport, rtp[0]?.text], [1, INSIDE, 7078, 'rtp-in']);
    const rtcp = rig.in(udp(PROXY, 30001, EXT, audio + 1, 'rtcp-in'));
    assert.deepEqual([rtcp.length, rtcp[0]?.dport], [1, 7079]);
    // The caller's RTP leaves from the port it advertised.
    const rtpOut = rig.out(udp(INSIDE, 7078, PROXY, 30000, 'rtp-out'));
    assert.deepEqual([rtpOut.src, rtpOut.sport], [EXT, audio]);
    const rtcpOut = rig.out(udp(INSIDE, 7079, PROXY, 30001, 'rtcp-out'));
    assert.equal(rtcpOut.sport, audio + 1);
    assert.equal(rig.in(udp(PROXY, 30000, EXT, audio, 'rtp-in-2')).length, 1);
    assert.equal(helper.stats.expectations, 4);
    assert.ok(helper.stats.rewrites >= 3);
    rig.close();
  });

  it('without the helper the same call leaks the inside address and its RTP is filtered', () => {
    const rig = new Rig();
    const inv = rig.out(udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078))));
    assert.ok(inv.text.includes(`c=IN IP4 ${INSIDE}`));
    assert.equal(mediaPort(inv.text, 'audio'), 7078);
    assert.equal(rig.in(udp(PROXY, 30000, EXT, 7078, 'rtp-in')).length, 0);
    rig.close();
  });

  it('a REGISTER opens a signalling expectation so the registrar can call from another port', () => {
    const rig = new Rig();
    const helper = new SipHelper();
    rig.nat.addHelper(helper);
    const reg = rig.out(
      udp(
        INSIDE,
        5060,
        PROXY,
        5060,
        sipMsg(`REGISTER sip:${PROXY} SIP/2.0`, {
          via: `UDP ${INSIDE}:5060;branch=z9hG4bK-r1;rport`,
          from: `<sip:alice@${PROXY}>;tag=r`,
          to: `<sip:alice@${PROXY}>`,
          id: 'reg-1',
          cseq: '1 REGISTER',
          contact: `<sip:alice@${INSIDE}:5060>;expires=600`,
        }),
      ),
    );
    const ext = reg.sport;
    assert.ok(reg.text.includes(`Contact: <sip:alice@${EXT}:${ext}>;expires=600`));
    const sig = rig.nat.listExpectations().filter((e) => e.helper === 'sip');
    assert.deepEqual(
      sig.map((e) => [e.insidePort, e.externalPort, e.remoteIp, e.expiresInMs]),
      [[5060, ext, PROXY, 600_000]],
    );
    // The registrar grants 300 s: the expectation follows.
    const granted = sipMsg('SIP/2.0 200 OK', {
      via: `UDP ${EXT}:${ext};branch=z9hG4bK-r1;rport=${ext};received=${EXT}`,
      from: `<sip:alice@${PROXY}>;tag=r`,
      to: `<sip:alice@${PROXY}>;tag=reg`,
      id: 'reg-1',
      cseq: '1 REGISTER',
      contact: `<sip:alice@${EXT}:${ext}>;expires=300`,
    });
    const g = rig.in(udp(PROXY, 5060, EXT, ext, granted));
    assert.ok(g[0].text.includes(`Contact: <sip:alice@${INSIDE}:5060>;expires=300`));
    assert.deepEqual(
      rig.nat.listExpectations().map((e) => [e.insidePort, e.externalPort, e.expiresInMs]),
      [[5060, ext, 300_000]],
    );
    // Port-restricted filtering would drop this; the expectation lets it in and it is translated.
    const inv = sipMsg(`INVITE sip:alice@${EXT}:${ext} SIP/2.0`, {
      via: `UDP ${PROXY}:5080;branch=z9hG4bK-i1;rport`,
      from: `<sip:bob@${PROXY}>;tag=b`,
      to: `<sip:alice@${PROXY}>`,
      id: 'call-2',
      cseq: '1 INVITE',
      contact: `<sip:bob@${PROXY}:5080>`,
    });
    assert.equal(rig.in(udp(OTHER, 5080, EXT, ext, inv)).length, 0, 'only the registrar may use it');
    const got = rig.in(udp(PROXY, 5080, EXT, ext, inv));
    assert.equal(got.length, 1);
    assert.ok(got[0].text.startsWith(`INVITE sip:alice@${INSIDE}:5060 SIP/2.0\r\n`), got[0].text);
    rig.close();
  });

  it('an inside registrar behind a port forward sees its own address and answers with the external one', () => {
    const rig = new Rig();
    rig.nat.addHelper(new SipHelper());
    rig.nat.addPortForward({ proto: 17, outsidePort: 5060, insideIp: INSIDE, insidePort: 5060 });
    const reg = sipMsg(`REGISTER sip:${EXT} SIP/2.0`, {
      via: `UDP ${OTHER}:5062;branch=z9hG4bK-x;rport`,
      from: `<sip:carol@${EXT}>;tag=c`,
      to: `<sip:carol@${EXT}>`,
      id: 'reg-c',
      cseq: '7 REGISTER',
      contact: `<sip:carol@${OTHER}:5062>`,
      extra: ['Expires: 3600'],
    });
    const got = rig.in(udp(OTHER, 5062, EXT, 5060, reg));
    assert.equal(got.length, 1);
    assert.equal(got[0].text, reg.replaceAll(EXT, INSIDE));
    const ok = sipMsg('SIP/2.0 200 OK', {
      via: `UDP ${OTHER}:5062;branch=z9hG4bK-x;rport=5062;received=${OTHER}`,
      from: `<sip:carol@${INSIDE}>;tag=c`,
      to: `<sip:carol@${INSIDE}>;tag=srv`,
      id: 'reg-c',
      cseq: '7 REGISTER',
      contact: `<sip:carol@${OTHER}:5062>;expires=3600`,
    });
    const out = rig.out(udp(INSIDE, 5060, OTHER, 5062, ok));
    assert.deepEqual([out.src, out.sport], [EXT, 5060]);
    assert.equal(out.text, ok.replaceAll(INSIDE, EXT));
    // The PBX answers a call with its own media address: the caller's RTP reaches it.
    const answer = sipMsg(
      'SIP/2.0 200 OK',
      {
        via: `UDP ${OTHER}:5062;branch=z9hG4bK-y;rport=5062;received=${OTHER}`,
        from: `<sip:dave@${OTHER}>;tag=d`,
        to: `<sip:carol@${INSIDE}>;tag=pbx`,
        id: 'call-c',
        cseq: '1 INVITE',
        contact: `<sip:carol@${INSIDE}>`,
        extra: ['Content-Type: application/sdp'],
      },
      sdp(INSIDE, 10000),
    );
    const ans = rig.out(udp(INSIDE, 5060, OTHER, 5062, answer));
    assert.ok(ans.text.includes(`Contact: <sip:carol@${EXT}>`), 'the external port is 5060: no port written');
    const media = mediaPort(ans.text, 'audio');
    const rtp = rig.in(udp(OTHER, 4000, EXT, media, 'rtp'));
    assert.deepEqual([rtp.length, rtp[0]?.dst, rtp[0]?.dport], [1, INSIDE, 10000]);
    rig.close();
  });

  it('two tenants with the same inside address get their own media expectations and RTP', () => {
    const rig = new Rig();
    rig.nat.addHelper(new SipHelper());
    const seen = new Map<number, Seg[]>();
    const hosts = [1, 2].map((id) => {
      const [natEnd, hostEnd] = pipeL3();
      hostEnd.setHandler((p) => {
        assertChecksums(p, `packet delivered to tenant ${id}`);
        seen.set(id, [...(seen.get(id) ?? []), parseSeg(p.slice())]);
      });
      rig.nat.connectL3(natEnd, { tenant: id });
      return hostEnd;
    });
    const audio: number[] = [];
    for (const [i, h] of hosts.entries()) {
      const before = rig.nat.listExpectations().length;
      const sent: Seg[] = [];
      rig.nat.outside().setHandler((p) => {
        assertChecksums(p, 'packet leaving on the outside');
        sent.push(parseSeg(p.slice()));
      });
      h.send(udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078), 50 + i)));
      assert.equal(sent.length, 1);
      audio.push(mediaPort(sent[0].text, 'audio'));
      assert.equal(rig.nat.listExpectations().length, before + 2);
    }
    assert.notEqual(audio[0], audio[1], 'one external media port per tenant');
    assert.deepEqual(
      rig.nat
        .listExpectations()
        .filter((e) => e.insidePort === 7078)
        .map((e) => [e.tenant, e.externalPort])
        .sort(),
      [
        [1, audio[0]],
        [2, audio[1]],
      ],
    );
    rig.nat.outside().send(udp(PROXY, 30000, EXT, audio[1], 'to-two'));
    rig.nat.outside().send(udp(PROXY, 30000, EXT, audio[0], 'to-one'));
    assert.deepEqual(
      [seen.get(1)?.map((p) => [p.dport, p.text]), seen.get(2)?.map((p) => [p.dport, p.text])],
      [[[7078, 'to-one']], [[7078, 'to-two']]],
    );
    rig.close();
  });

  it('repeated offers keep their ports and the pending audio expectations stay within the limit', () => {
    const rig = new Rig();
    const helper = new SipHelper();
    rig.nat.addHelper(helper);
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) {
      const o = rig.out(
        udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078 + 2 * i), 30 + i)),
      );
      ports.push(mediaPort(o.text, 'audio'));
    }
    assert.equal(new Set(ports).size, 4);
    const pending = rig.nat.listExpectations();
    assert.equal(pending.length, 4, 'audio: at most 4 pending (2 streams)');
    assert.deepEqual(pending.map((e) => e.insidePort).sort(), [7082, 7083, 7084, 7085]);
    assert.equal(helper.stats.evictions, 4);
    // A re-INVITE for the same stream keeps its external port.
    const re = rig.out(
      udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7084), 40)),
    );
    assert.equal(mediaPort(re.text, 'audio'), ports[3]);
    assert.equal(rig.nat.listExpectations().length, 4);
    rig.close();
  });

  it('removing the helper removes its pending expectations and forgets its connections', () => {
    const rig = new Rig();
    const helper = new SipHelper();
    const remove = rig.nat.addHelper(helper);
    rig.out(udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078))));
    assert.equal(rig.nat.listExpectations().length, 2);
    assert.equal(helper.connections, 1);
    remove();
    assert.equal(helper.connections, 0);
    assert.equal(rig.nat.listExpectations().length, 0);
    const plain = rig.out(
      udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078))),
    );
    assert.ok(plain.text.includes(`c=IN IP4 ${INSIDE}`), 'no longer rewritten');
    rig.close();
  });

  it('when the signalling flow expires the helper forgets it and removes its pending media expectations', () => {
    const rig = new Rig({ timeouts: { udp: 120_000 } });
    const helper = new SipHelper();
    rig.nat.addHelper(helper);
    rig.out(udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078))));
    assert.equal(rig.nat.listExpectations().length, 2);
    rig.clock.advance(121_000);
    rig.nat.maintain();
    assert.equal(helper.connections, 0);
    assert.equal(rig.nat.listExpectations().length, 0, 'removed with their master, before their own 180 s');
    rig.close();
  });

  it('arbitrary payloads to and from the SIP port never throw and every emitted packet is valid', () => {
    const rig = new Rig({ type: 'full-cone' });
    const helper = new SipHelper();
    rig.nat.addHelper(helper);
    const heads = [
      '',
      'INVITE sip:a@192.168.1.10 SIP/2.0\r\n',
      `SIP/2.0 200 OK\r\nv: SIP/2.0/UDP ${EXT}:5060\r\n`,
    ];
    const first = rig.out(udp(INSIDE, 5060, PROXY, 5060, 'OPTIONS sip:x SIP/2.0\r\nl: 0\r\n\r\n'));
    fc.assert(
      fc.property(
        fc.constantFrom(...heads),
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        (h, bytes, outbound) => {
          const text = h + Buffer.from(bytes).toString('latin1');
          if (outbound) rig.outAll(udp(INSIDE, 5060, PROXY, 5060, text));
          else rig.in(udp(PROXY, 5060, EXT, first.sport, text));
        },
      ),
      { numRuns: 2000 },
    );
    assert.ok(helper.stats.parseErrors > 0);
    rig.close();
  });
});

describe('SIP over TCP through the NAT', () => {
  /** Opens inside:50000 → PROXY:5060; returns the external port and the next seq of each side. */
  function connect(rig: Rig): { ext: number; c: number; s: number } {
    const syn = rig.out(tcp(INSIDE, 50000, PROXY, 5060, SYN, 1000, 0));
    const ext = syn.sport;
    assert.equal(rig.in(tcp(PROXY, 5060, EXT, ext, SYN | ACK, 9000, 1001)).length, 1);
    rig.out(tcp(INSIDE, 50000, PROXY, 5060, ACK, 1001, 9001));
    return { ext, c: 1001, s: 9001 };
  }

  it('a rewrite that changes the length keeps seq / ack continuous, also across a retransmission', () => {
    const rig = new Rig();
    const helper = new SipHelper({ transport: 'tcp' });
    assert.equal(helper.name, 'sip-tcp');
    rig.nat.addHelper(helper);
    const { ext, c, s } = connect(rig);
    const msg = invite(`${INSIDE}:50000`, `${INSIDE}:50000`, sdp(INSIDE, 7078), 20, 'TCP');
    const first = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, c, s, msg));
    assert.equal(first.seq, c);
    assert.ok(first.text.includes(`Via: SIP/2.0/TCP ${EXT}:${ext};branch=`), first.text);
    assert.ok(first.text.includes(`Contact: <sip:alice@${EXT}:${ext};transport=tcp>`));
    const { cl, body } = bodyOf(first.text);
    assert.equal(cl, body.length);
    const delta = first.text.length - msg.length;
    assert.notEqual(delta, 0, 'the rewrite changed the length');

    // The retransmission comes out identical (same bytes, same sequence number).
    const rexmit = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, c, s, msg));
    assert.deepEqual([rexmit.seq, rexmit.text], [first.seq, first.text]);

    // The proxy acknowledges the rewritten bytes; the inside sees its own numbering.
    const ackIn = rig.in(tcp(PROXY, 5060, EXT, ext, ACK, s, c + first.text.length));
    assert.equal(ackIn.length, 1);
    assert.equal(ackIn[0].ack, c + msg.length);

    // The next segment of the client is shifted by the length change.
    const bye = sipMsg(`BYE sip:bob@${PROXY} SIP/2.0`, {
      via: `TCP ${INSIDE}:50000;branch=z9hG4bK.bye`,
      id: '3T~L3ZbFoQ',
      cseq: '21 BYE',
    });
    const next = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, c + msg.length, s, bye));
    assert.equal(next.seq, (c + msg.length + delta) >>> 0);
    const byeDelta = next.text.length - bye.length;
    // A SACK block for the rewritten BYE (while the INVITE is still unacknowledged) maps back too.
    const byeEnd = next.seq + next.text.length;
    const sack = rig.in(tcp(PROXY, 5060, EXT, ext, ACK, s, c, '', [[next.seq, byeEnd]]));
    assert.deepEqual(sack[0].sack, [[c + msg.length, c + msg.length + bye.length]]);
    assert.equal(sack[0].ack, c);
    const ack2 = rig.in(tcp(PROXY, 5060, EXT, ext, ACK, s, next.seq + next.text.length));
    assert.equal(ack2[0].ack, c + msg.length + bye.length);

    // Data from the proxy passes with its own numbering; the client's ack of it is unchanged.
    const resp = sipMsg('SIP/2.0 200 OK', {
      via: `TCP ${EXT}:${ext};branch=z9hG4bK.bye;received=${EXT};rport=${ext}`,
      id: '3T~L3ZbFoQ',
      cseq: '21 BYE',
    });
    const r = rig.in(tcp(PROXY, 5060, EXT, ext, PSH | ACK, s, next.seq + next.text.length, resp));
    assert.equal(r.length, 1);
    assert.equal(r[0].seq, s, 'no change was made in this direction before this segment');
    assert.ok(
      r[0].text.includes(
        `Via: SIP/2.0/TCP ${INSIDE}:50000;branch=z9hG4bK.bye;received=${INSIDE};rport=50000`,
      ),
    );
    assert.equal(r[0].ack, c + msg.length + bye.length);
    const clientAck = rig.out(
      tcp(INSIDE, 50000, PROXY, 5060, ACK, c + msg.length + bye.length, s + r[0].text.length),
    );
    assert.equal(clientAck.seq, (c + msg.length + bye.length + delta + byeDelta) >>> 0);
    assert.equal(clientAck.ack, (s + resp.length) >>> 0, 'the ack is mapped back to the proxy numbering');
    rig.close();
  });

  it('two messages in one segment are both rewritten; a message split across segments is never rewritten', () => {
    const rig = new Rig();
    const helper = new SipHelper({ transport: 'tcp' });
    rig.nat.addHelper(helper);
    const { ext, c, s } = connect(rig);
    const opt = (n: number): string =>
      sipMsg(`OPTIONS sip:${PROXY} SIP/2.0`, {
        via: `TCP ${INSIDE}:50000;branch=z9hG4bK.o${n}`,
        id: 'o',
        cseq: `${n} OPTIONS`,
        contact: `<sip:alice@${INSIDE}:50000;transport=tcp>`,
      });
    const two = opt(1) + opt(2);
    const a = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, c, s, two));
    assert.equal(a.text, two.replaceAll(`${INSIDE}:50000`, `${EXT}:${ext}`));
    let seq = c + two.length;
    // A message cut in two: neither part is rewritten, and framing resumes after it.
    const big = invite(`${INSIDE}:50000`, `${INSIDE}:50000`, sdp(INSIDE, 7078), 21, 'TCP');
    const cut = 120;
    const p1 = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, seq, s, big.slice(0, cut)));
    const p2 = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, seq + cut, s, big.slice(cut)));
    assert.equal(p1.text + p2.text, big);
    assert.equal(helper.stats.incomplete, 1);
    assert.equal(rig.nat.listExpectations().length, 0, 'no expectation from a message not seen whole');
    seq += big.length;
    const after = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, seq, s, opt(3)));
    assert.equal(after.text, opt(3).replaceAll(`${INSIDE}:50000`, `${EXT}:${ext}`));
    // A body split across segments (headers complete in the first) is skipped the same way.
    seq += opt(3).length;
    const cut2 = big.indexOf('v=0') + 5;
    const q1 = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, seq, s, big.slice(0, cut2)));
    const q2 = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, seq + cut2, s, big.slice(cut2)));
    assert.equal(q1.text + q2.text, big);
    seq += big.length;
    const last = rig.out(tcp(INSIDE, 50000, PROXY, 5060, PSH | ACK, seq, s, opt(4)));
    assert.equal(last.text, opt(4).replaceAll(`${INSIDE}:50000`, `${EXT}:${ext}`));
    assert.equal(helper.stats.incomplete, 2);
    rig.close();
  });

  it('an inside server behind a TCP port forward gets inbound requests lengthened, with acks mapped back', () => {
    const rig = new Rig();
    rig.nat.addHelper(new SipHelper({ transport: 'tcp' }));
    rig.nat.addPortForward({ proto: 6, outsidePort: 5060, insideIp: INSIDE, insidePort: 5060 });
    assert.equal(rig.in(tcp(OTHER, 40000, EXT, 5060, SYN, 7000, 0)).length, 1);
    const sa = rig.out(tcp(INSIDE, 5060, OTHER, 40000, SYN | ACK, 3000, 7001));
    assert.deepEqual([sa.src, sa.sport], [EXT, 5060]);
    rig.in(tcp(OTHER, 40000, EXT, 5060, ACK, 7001, 3001));
    const reg = sipMsg(`REGISTER sip:${EXT};transport=tcp SIP/2.0`, {
      via: `TCP ${OTHER}:40000;branch=z9hG4bK-t;rport`,
      from: `<sip:erin@${EXT}>;tag=e`,
      to: `<sip:erin@${EXT}>`,
      id: 'tcp-reg',
      cseq: '1 REGISTER',
      contact: `<sip:erin@${OTHER}:40000;transport=tcp>`,
    });
    const got = rig.in(tcp(OTHER, 40000, EXT, 5060, PSH | ACK, 7001, 3001, reg));
    assert.equal(got.length, 1);
    assert.equal(got[0].text, reg.replaceAll(EXT, INSIDE));
    const grow = got[0].text.length - reg.length;
    assert.equal(grow, 3, 'three addresses, one byte longer each');
    // The server acknowledges what it received; the client sees its own numbering.
    const ack = rig.out(tcp(INSIDE, 5060, OTHER, 40000, ACK, 3001, 7001 + got[0].text.length));
    assert.equal(ack.ack, 7001 + reg.length);
    // The client's next request follows on in the server's numbering, shifted by the growth.
    const opt = sipMsg(`OPTIONS sip:${OTHER} SIP/2.0`, {
      via: `TCP ${OTHER}:40000;branch=z9hG4bK-u`,
      id: 'tcp-opt',
      cseq: '2 OPTIONS',
    });
    const next = rig.in(tcp(OTHER, 40000, EXT, 5060, PSH | ACK, 7001 + reg.length, 3001, opt));
    assert.deepEqual([next[0].seq, next[0].text], [7001 + reg.length + grow, opt]);
    rig.close();
  });
});

describe('SIP helper options', () => {
  it('UDP and TCP helpers have their own names and can both be added to one NAT', () => {
    const rig = new Rig();
    const u = new SipHelper();
    const t = new SipHelper({ transport: 'tcp', ports: [5060, 5080] });
    assert.deepEqual([u.name, u.proto, u.ports], ['sip', 17, [5060]]);
    assert.deepEqual([t.name, t.proto, t.ports], ['sip-tcp', 6, [5060, 5080]]);
    rig.nat.addHelper(u);
    rig.nat.addHelper(t);
    rig.close();
  });

  it('bad options throw ConfigError ERR_BAD_OPTION', () => {
    const bad: unknown[] = [
      { transport: 'sctp' },
      { ports: [] },
      { ports: [70000] },
      { tenants: 'all' },
      { directMedia: 'yes' },
      { expectationTimeoutMs: 0 },
      { bogus: 1 },
    ];
    for (const o of bad)
      assert.throws(
        () => new SipHelper(o as SipHelperOptions),
        (e: unknown) => e instanceof L3kitError && e.code === 'ERR_BAD_OPTION',
        JSON.stringify(o),
      );
  });

  it('directMedia: false lets media in from any address', () => {
    const rig = new Rig();
    rig.nat.addHelper(new SipHelper({ directMedia: false }));
    const inv = rig.out(udp(INSIDE, 5060, PROXY, 5060, invite(`${INSIDE}:5060`, INSIDE, sdp(INSIDE, 7078))));
    const audio = mediaPort(inv.text, 'audio');
    const got = rig.in(udp(OTHER, 40000, EXT, audio, 'rtp'));
    assert.deepEqual([got.length, got[0]?.dport], [1, 7078]);
    rig.close();
  });
});
