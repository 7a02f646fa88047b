/**
 * An H.323 call through the NAT end to end, over the userspace TCP/UDP stack: an inside caller
 * sends a fastStart Setup on TCP 1720; the outside callee opens the H.245 connection to the
 * (rewritten) h245Address through the helper's expectation, opens a logical channel, and sends
 * RTP / RTCP to the addresses of the caller's (rewritten) OpenLogicalChannelAck. Every packet on
 * both links is checked with the independent checksum oracle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TcpSocket } from '@l3kit/stack';
import { pump } from '@l3kit/testkit';
import {
  type AddressHit,
  H323Helper,
  H323UserInformation,
  MultimediaSystemControlMessage,
  parseQ931,
  perDecode,
  Q931MessageType,
} from '../src/h323.js';
import { OUTSIDE_HOST as CALLEE, CLIENT as CALLER, EXT, stackTopology } from './alg-peers.js';
import { connectUuie, fullSetupTpkt, h245Tpkt, olcAckValue, olcValue, q931Tpkt } from './h323-fixtures.js';

/** Collects whole TPKTs from a TCP socket. */
function tpkts(sock: TcpSocket, onTpkt: (t: Uint8Array) => void): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= buf.readUInt16BE(2)) {
      const n = buf.readUInt16BE(2);
      onTpkt(new Uint8Array(buf.subarray(0, n)));
      buf = buf.subarray(n);
    }
  });
}

function q931Hits(t: Uint8Array): Map<string, string> {
  const q = parseQ931(t, 4, t.length);
  assert.ok(q && q.uuOff > 0);
  return named(perDecode(H323UserInformation, t, q.uuOff, q.uuEnd).hits);
}
function h245Hits(t: Uint8Array): Map<string, string> {
  return named(perDecode(MultimediaSystemControlMessage, t, 4, t.length).hits);
}
function named(hits: AddressHit[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const h of hits) {
    const role =
      /(h245Address|sourceCallSignalAddress|destCallSignalAddress|mediaControlChannel|mediaChannel)/.exec(
        h.path,
      )?.[1] ?? h.path;
    const key = m.has(role) ? `${role}#${[...m.keys()].filter((k) => k.startsWith(role)).length}` : role;
    m.set(key, `${h.ip >>> 24}.${(h.ip >>> 16) & 255}.${(h.ip >>> 8) & 255}.${h.ip & 255}:${h.port}`);
  }
  return m;
}

async function call(withHelper: boolean) {
  const { clock, sched, nat, inner: caller, outer: callee, outside } = stackTopology();
  const h323 = new H323Helper({ clock });
  if (withHelper) nat.addHelper(h323);

  // Caller: listens for H.245 on 1800, receives RTP on 6000 and RTCP on 6001.
  const rtpIn: Buffer[] = [];
  const rtcpIn: Buffer[] = [];
  caller.udp.bind(6000).on('message', (m: Buffer) => rtpIn.push(m));
  caller.udp.bind(6001).on('message', (m: Buffer) => rtcpIn.push(m));
  const callerH245: Uint8Array[] = [];
  let acked = false;
  caller.tcp.listen(1800, (sock) => {
    tpkts(sock, (t) => {
      callerH245.push(t);
      sock.write(h245Tpkt(olcAckValue([CALLER, 6000], [CALLER, 6001])));
      acked = true;
    });
  });

  // Callee: answers the Setup with Connect, opens H.245 to the announced address, opens a channel.
  const calleeSaw: Uint8Array[] = [];
  const calleeH245: Uint8Array[] = [];
  let h245Peer = '';
  const media = callee.udp.bind(7000);
  const control = callee.udp.bind(7001);
  let q931Peer = '';
  callee.tcp.listen(1720, (sock) => {
    q931Peer = `${sock.remoteAddress}:${sock.remotePort}`;
    tpkts(sock, (t) => {
      calleeSaw.push(t);
      sock.write(q931Tpkt(Q931MessageType.connect, connectUuie(undefined), 0x9234));
      const [ip, port] = (q931Hits(t).get('h245Address') ?? ':').split(':');
      const h245 = callee.tcp.connect({ host: ip, port: Number(port) });
      h245.on('connect', () => {
        h245Peer = `${h245.remoteAddress}:${h245.remotePort}`;
        h245.write(h245Tpkt(olcValue([CALLEE, 7001])));
      });
      tpkts(h245, (a) => {
        calleeH245.push(a);
        const hits = h245Hits(a);
        const [mip, mport] = (hits.get('mediaChannel') ?? ':').split(':');
        const [cip, cport] = (hits.get('mediaControlChannel') ?? ':').split(':');
        media.send(
          Buffer.from([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef]),
          Number(mport),
          mip,
        );
        control.send(Buffer.from([0x81, 0xc9, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]), Number(cport), cip);
      });
    });
  });

  const q931 = caller.tcp.connect({ host: CALLEE, port: 1720 });
  const callerQ931: Uint8Array[] = [];
  tpkts(q931, (t) => callerQ931.push(t));
  q931.on('connect', () => q931.write(fullSetupTpkt(CALLER, [CALLEE, 1720])));
  const done = () => rtpIn.length > 0 && rtcpIn.length > 0;
  await pump(sched, () => done() || (!withHelper && calleeSaw.length > 0 && sched.clock.now() > 1_030_000));
  return {
    nat,
    h323,
    outside,
    rtpIn,
    rtcpIn,
    callerH245,
    calleeH245,
    calleeSaw,
    callerQ931,
    acked,
    h245Peer,
    q931Peer,
  };
}

describe('H.323 call through the NAT over the userspace stack', () => {
  it('sets up a fastStart call, opens H.245 through the expectation and carries RTP and RTCP to the caller', async () => {
    const r = await call(true);
    // The callee saw only the NAT's address in the Setup.
    const setup = q931Hits(r.calleeSaw[0]);
    assert.match(setup.get('h245Address') ?? '', new RegExp(`^${EXT}:\\d+$`));
    assert.equal(
      setup.get('sourceCallSignalAddress'),
      r.q931Peer,
      'the NAT side of the call-signalling connection',
    );
    for (const [k, v] of setup)
      if (k !== 'destCallSignalAddress') assert.ok(v.startsWith(`${EXT}:`), `${k} = ${v}`);
    // H.245 reached the caller through the expectation, from the callee.
    assert.equal(r.h245Peer, setup.get('h245Address'));
    assert.equal(r.h323.stats.h245Connections, 1);
    assert.equal(r.acked, true);
    assert.deepEqual(h245Hits(r.callerH245[0]).get('mediaControlChannel'), `${CALLEE}:7001`);
    // The OpenLogicalChannelAck the callee got names the NAT, and media arrived at the caller.
    const ack = h245Hits(r.calleeH245[0]);
    assert.match(ack.get('mediaChannel') ?? '', new RegExp(`^${EXT}:\\d+$`));
    assert.match(ack.get('mediaControlChannel') ?? '', new RegExp(`^${EXT}:\\d+$`));
    assert.deepEqual([...r.rtpIn[0].subarray(8)], [0xde, 0xad, 0xbe, 0xef]);
    assert.deepEqual([...r.rtcpIn[0].subarray(4)], [0xde, 0xad, 0xbe, 0xef]);
    assert.equal(r.callerQ931.length, 1, 'the Connect reached the caller');
    // No TCP payload on the outside link carries the caller's private address.
    const inside = Uint8Array.of(10, 0, 0, 5);
    for (const s of r.outside.filter((x) => x.proto === 6))
      assert.equal(Buffer.from(s.payload).indexOf(inside), -1, 'private address leaked');
    assert.equal(r.h323.stats.parseErrors, 0);
    r.nat.close();
  });

  it('fails without the helper: the callee is told the private address and H.245 never opens', async () => {
    const { nat, rtpIn, calleeSaw, h245Peer } = await call(false);
    const setup = q931Hits(calleeSaw[0]);
    assert.equal(setup.get('h245Address'), `${CALLER}:1800`);
    assert.equal(h245Peer, '');
    assert.equal(rtpIn.length, 0);
    nat.close();
  });
});
