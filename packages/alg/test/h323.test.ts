/** H.323 ALG through a NAT: Q.931 / H.225.0 and H.245 rewrites, expectations, TCP stream handling. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@l3kit/core';
import type { HelperPacketContext, NatHelperHost } from '@l3kit/nat';
import { buildPacket } from '@l3kit/wire';
import fc from 'fast-check';
import {
  type AsnValue,
  buildQ931,
  buildTpkt,
  H323Helper,
  type H323HelperOptions,
  H323UserInformation,
  MultimediaSystemControlMessage,
  parseQ931,
  perDecode,
  perEncode,
  Q931MessageType,
} from '../src/h323.js';
import {
  ACK,
  AlgRig,
  CLIENT,
  CLIENT2,
  EXT,
  parseSeg,
  ScriptedConn,
  SERVER,
  type Seg,
  udpDgram,
} from './alg-peers.js';
import {
  connectUuie,
  facilityUuie,
  fastStartOffer,
  fullSetupTpkt,
  h245Tpkt,
  olcAckValue,
  olcValue,
  progressUuie,
  q931Tpkt,
  setupUuie,
} from './h323-fixtures.js';

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const TCP = 6;
const UDP = 17;

/** `path tail → "ip:port"` of every transport address in a TPKT-framed Q.931 or H.245 payload. */
function addresses(payload: Uint8Array, h245 = false): Map<string, string> {
  let r: ReturnType<typeof perDecode>;
  if (h245) r = perDecode(MultimediaSystemControlMessage, payload, 4, payload.length);
  else {
    const q = parseQ931(payload, 4, payload.length);
    assert.ok(q && q.uuOff > 0, 'a Q.931 message with a User-user IE');
    r = perDecode(H323UserInformation, payload, q.uuOff, q.uuEnd);
  }
  const out = new Map<string, string>();
  for (const h of r.hits) {
    const short = h.path
      .replace(/^h323-uu-pdu\.h323-message-body\.\w+\./, '')
      .replace(/\.(ipAddress|unicastAddress\.iPAddress)$/, '');
    out.set(short, `${h.ip >>> 24}.${(h.ip >>> 16) & 255}.${(h.ip >>> 8) & 255}.${h.ip & 255}:${h.port}`);
  }
  return out;
}

/** Byte positions where two equally long buffers differ. */
function diff(a: Uint8Array, b: Uint8Array): number[] {
  assert.equal(a.length, b.length, 'H.323 rewrites never change the length');
  const d: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d.push(i);
  return d;
}

function one(segs: Seg[]): Seg {
  assert.equal(segs.length, 1, 'exactly one packet passes');
  return segs[0];
}

function expectation(rig: AlgRig, proto: number, insidePort: number) {
  const e = rig.nat.listExpectations().find((x) => x.proto === proto && x.insidePort === insidePort);
  assert.ok(e, `an expectation for ${proto === TCP ? 'TCP' : 'UDP'} ${insidePort}`);
  return e;
}

/** A rig with an H323Helper and an open call-signalling connection CLIENT:40000 → SERVER:1720. */
function caller(opts: H323HelperOptions = {}) {
  const rig = new AlgRig();
  const h323 = new H323Helper({ clock: rig.clock, ...opts });
  const remove = rig.nat.addHelper(h323);
  const q931 = new ScriptedConn(rig, CLIENT, 40000, SERVER, 1720).open();
  return { rig, h323, remove, q931 };
}

describe('H323Helper options', () => {
  it('defaults to port 1720 and the Linux expectation policy', () => {
    const h = new H323Helper();
    assert.deepEqual([...h.ports], [1720]);
    assert.equal(h.name, 'h323');
    assert.equal(h.proto, 6);
  });

  it('rejects bad options with ConfigError ERR_BAD_OPTION', () => {
    const bad: unknown[] = [
      { ports: [] },
      { ports: [0] },
      { ports: [70000] },
      { ports: 'x' },
      { tenants: [-1] },
      { expectationTimeoutMs: 0 },
      { expectationTimeoutMs: Number.NaN },
      { maxExpectations: 0 },
      { maxExpectations: 1.5 },
      { h245: 'yes' },
      { clock: {} },
      null,
    ];
    for (const o of bad)
      assert.throws(
        () => new H323Helper(o as H323HelperOptions),
        (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_OPTION',
        JSON.stringify(o),
      );
  });

  it('serves the ports and tenants it is given', () => {
    const h = new H323Helper({ ports: [1720, 11720], tenants: [3] });
    assert.deepEqual([...h.ports], [1720, 11720]);
    assert.deepEqual(h.tenants, [3]);
  });
});

describe('Q.931 / H.225.0 from an inside caller', () => {
  it("rewrites the Setup's h245Address, sourceCallSignalAddress and fastStart media, and expects H.245, RTP and RTCP", () => {
    const { rig, h323, q931 } = caller();
    const setup = fullSetupTpkt(CLIENT, [SERVER, 1720]);
    const out = one(q931.iSend(latin1(setup)));
    const a = addresses(out.payload);
    const h245 = expectation(rig, TCP, 1800);
    const rtp = expectation(rig, UDP, 5000);
    const rtcp = expectation(rig, UDP, 5001);
    assert.equal(a.get('h245Address'), `${EXT}:${h245.externalPort}`);
    assert.equal(a.get('sourceCallSignalAddress'), `${EXT}:${q931.ext}`);
    assert.equal(a.get('destCallSignalAddress'), `${SERVER}:1720`, 'the remote address is left alone');
    assert.equal(
      a.get(
        'fastStart.0.forwardLogicalChannelParameters.multiplexParameters.h2250LogicalChannelParameters.mediaControlChannel',
      ),
      `${EXT}:${rtcp.externalPort}`,
    );
    assert.equal(
      a.get(
        'fastStart.1.reverseLogicalChannelParameters.multiplexParameters.h2250LogicalChannelParameters.mediaChannel',
      ),
      `${EXT}:${rtp.externalPort}`,
    );
    assert.equal(
      a.get(
        'fastStart.1.reverseLogicalChannelParameters.multiplexParameters.h2250LogicalChannelParameters.mediaControlChannel',
      ),
      `${EXT}:${rtcp.externalPort}`,
    );
    assert.equal(rtcp.externalPort, rtp.externalPort + 1, 'RTCP sits next to RTP on the outside');
    for (const e of [h245, rtp, rtcp]) {
      assert.equal(e.remoteIp, SERVER, 'only the peer may use it');
      assert.equal(e.remotePort, undefined);
      assert.equal(e.helper, 'h323');
      assert.equal(e.expiresInMs, 240_000);
    }
    // Only the bytes of the five rewritten addresses changed (4 + 2 bytes each, some equal).
    assert.ok(diff(setup, out.payload).length <= 5 * 6);
    assert.deepEqual(
      {
        rewrites: h323.stats.rewrites,
        expectations: h323.stats.expectations,
        parseErrors: h323.stats.parseErrors,
      },
      { rewrites: 5, expectations: 3, parseErrors: 0 },
    );
  });

  it('rewrites h245Address in CallProceeding, Alerting, Connect and Facility, and a Facility alternativeAddress naming the caller', () => {
    const { rig, q931 } = caller();
    const msgs: Array<[number, AsnValue, number]> = [
      [Q931MessageType.callProceeding, progressUuie('callProceeding', [CLIENT, 1801]), 1801],
      [Q931MessageType.alerting, progressUuie('alerting', [CLIENT, 1802]), 1802],
      [Q931MessageType.connect, connectUuie([CLIENT, 1803]), 1803],
      [Q931MessageType.facility, facilityUuie({ h245: [CLIENT, 1804], alternative: [CLIENT, 40000] }), 1804],
    ];
    for (const [type, uuie, port] of msgs) {
      const out = one(q931.iSend(latin1(q931Tpkt(type, uuie))));
      const a = addresses(out.payload);
      assert.equal(a.get('h245Address'), `${EXT}:${expectation(rig, TCP, port).externalPort}`);
      if (type === Q931MessageType.facility) assert.equal(a.get('alternativeAddress'), `${EXT}:${q931.ext}`);
    }
  });

  it('rewrites a Progress h245Address, also when unmodelled tokens follow it (a partial decode)', () => {
    const { rig, h323, q931 } = caller();
    const progress = (port: number): Uint8Array =>
      q931Tpkt(Q931MessageType.progress, {
        'h323-uu-pdu': {
          'h323-message-body': {
            progress: {
              protocolIdentifier: [0, 0, 8, 2250, 0, 4],
              destinationInfo: { mc: false, undefinedNode: false },
              h245Address: { ipAddress: { ip: Uint8Array.of(10, 0, 0, 5), port } },
              callIdentifier: { guid: new Uint8Array(16) },
            },
          },
        },
      });
    const out = one(q931.iSend(latin1(progress(1805))));
    assert.equal(
      addresses(out.payload).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1805).externalPort}`,
    );
    assert.equal(h323.stats.partialDecodes, 0);
    // Set the `tokens` presence bit: Progress is an extension alternative, so its encoding is an
    // open type 3 octets into the UUIE (12 bits of headers, aligned length octet); its first octet
    // holds the extension bit and the OPTIONAL bits h245Address, h245SecurityMode, tokens, …
    const msg = progress(1806);
    const q = parseQ931(msg, 4, msg.length);
    assert.ok(q);
    msg[q.uuOff + 3] |= 0x10;
    const out2 = one(q931.iSend(latin1(msg)));
    assert.equal(
      addresses(out2.payload).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1806).externalPort}`,
    );
    assert.equal(h323.stats.partialDecodes, 1);
    assert.equal(h323.stats.parseErrors, 0);
  });

  it('rewrites two messages carried in one segment', () => {
    const { rig, q931 } = caller();
    const two = Buffer.concat([
      q931Tpkt(Q931MessageType.callProceeding, progressUuie('callProceeding', [CLIENT, 1801])),
      q931Tpkt(Q931MessageType.alerting, progressUuie('alerting', [CLIENT, 1802])),
    ]);
    const out = one(q931.iSend(latin1(two)));
    const first = (out.payload[2] << 8) | out.payload[3];
    assert.equal(
      addresses(out.payload.subarray(0, first)).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1801).externalPort}`,
    );
    assert.equal(
      addresses(out.payload.subarray(first)).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1802).externalPort}`,
    );
  });

  it('rewrites H.245 tunnelled in h245Control', () => {
    const { rig, q931 } = caller();
    const uuie: AsnValue = {
      'h323-uu-pdu': {
        'h323-message-body': { empty: null },
        h245Tunneling: true,
        h245Control: [olcAckValue([CLIENT, 6000], [CLIENT, 6001])],
      },
    };
    const out = one(q931.iSend(latin1(q931Tpkt(Q931MessageType.facility, uuie))));
    const a = [...addresses(out.payload).entries()];
    assert.equal(a.length, 2);
    assert.match(a[0][0], /h245Control\.0\.response\.openLogicalChannelAck\..*mediaChannel$/);
    assert.equal(a[0][1], `${EXT}:${expectation(rig, UDP, 6000).externalPort}`);
    assert.equal(a[1][1], `${EXT}:${expectation(rig, UDP, 6001).externalPort}`);
  });

  it('rewrites H.245 sent in parallel with fastStart (parallelH245Control of a Setup)', () => {
    const { rig, q931 } = caller();
    const uuie = setupUuie({});
    const body = (uuie as { 'h323-uu-pdu': { 'h323-message-body': { setup: Record<string, AsnValue> } } })[
      'h323-uu-pdu'
    ]['h323-message-body'].setup;
    body.parallelH245Control = [olcValue([CLIENT, 5007])];
    const out = one(q931.iSend(latin1(q931Tpkt(Q931MessageType.setup, uuie))));
    const a = [...addresses(out.payload).entries()];
    assert.equal(a.length, 1);
    assert.match(a[0][0], /parallelH245Control\.0\.request\.openLogicalChannel\..*mediaControlChannel$/);
    assert.equal(a[0][1], `${EXT}:${expectation(rig, UDP, 5007).externalPort}`);
  });

  it("leaves a private address that is not the sender's alone and counts a refusal", () => {
    const { rig, h323, q931 } = caller();
    const setup = q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT2, 1800] }));
    const out = one(q931.iSend(latin1(setup)));
    assert.deepEqual(diff(setup, out.payload), []);
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(h323.stats.refusals, 1);
  });

  it('renews an h245Address announced again (Setup, then Facility) on the same external port', () => {
    const { rig, h323, q931 } = caller();
    const first = one(
      q931.iSend(latin1(q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT, 1800] })))),
    );
    const ext = expectation(rig, TCP, 1800).externalPort;
    rig.advance(200_000);
    const again = one(
      q931.iSend(latin1(q931Tpkt(Q931MessageType.facility, facilityUuie({ h245: [CLIENT, 1800] })))),
    );
    assert.equal(addresses(first.payload).get('h245Address'), `${EXT}:${ext}`);
    assert.equal(addresses(again.payload).get('h245Address'), `${EXT}:${ext}`);
    const list = rig.nat.listExpectations();
    assert.equal(list.length, 1, 'the older expectation is replaced');
    assert.equal(list[0].expiresInMs, 240_000, 'with a fresh lifetime');
    assert.equal(h323.stats.expectations, 2);
  });

  it('evicts the oldest expectation of a connection beyond maxExpectations', () => {
    const { rig, h323, q931 } = caller({ maxExpectations: 2 });
    q931.iSend(
      latin1(
        q931Tpkt(
          Q931MessageType.setup,
          setupUuie({ h245: [CLIENT, 1800], fastStart: fastStartOffer([CLIENT, 5000], [CLIENT, 5001]) }),
        ),
      ),
    );
    assert.equal(h323.stats.expectations, 3);
    assert.equal(h323.stats.evictions, 1);
    assert.deepEqual(
      rig.nat
        .listExpectations()
        .map((e) => e.insidePort)
        .sort(),
      [5000, 5001],
    );
  });

  it('drops its expectations when it is removed from the NAT', () => {
    const { rig, remove, q931, h323 } = caller();
    q931.iSend(latin1(q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT, 1800] }))));
    assert.equal(rig.nat.listExpectations().length, 1);
    remove();
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(h323.trackedConnections, 0);
  });
});

describe('H.245', () => {
  it('lets the callee open H.245 through the expectation, rewrites the OpenLogicalChannelAck and lets RTP in', () => {
    const { rig, h323, q931 } = caller();
    q931.iSend(latin1(q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT, 1800] }))));
    const ext245 = expectation(rig, TCP, 1800).externalPort;
    const h245 = new ScriptedConn(rig, CLIENT, 1800, SERVER, 30000).accept(ext245);
    assert.equal(h323.stats.h245Connections, 1);
    // The callee opens its channel: its own addresses pass unchanged.
    const olc = h245Tpkt(olcValue([SERVER, 7001]));
    const inOlc = one(h245.rSend(latin1(olc), h245.iSeq));
    assert.deepEqual(diff(olc, inOlc.payload), []);
    // The caller answers with where it receives.
    const ack = h245Tpkt(olcAckValue([CLIENT, 6000], [CLIENT, 6001]));
    const out = one(h245.iSend(latin1(ack)));
    const a = [...addresses(out.payload, true).values()];
    const rtp = expectation(rig, UDP, 6000);
    const rtcp = expectation(rig, UDP, 6001);
    assert.deepEqual(a, [`${EXT}:${rtp.externalPort}`, `${EXT}:${rtcp.externalPort}`]);
    // RTP from the callee reaches the caller through the expectation.
    const media = Uint8Array.of(0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1);
    const got = one(rig.fromOutside(udpDgram(SERVER, 7000, EXT, rtp.externalPort, media)));
    assert.deepEqual([got.dst, got.dport], [CLIENT, 6000]);
    const gotRtcp = one(
      rig.fromOutside(udpDgram(SERVER, 7001, EXT, rtcp.externalPort, Uint8Array.of(0x81, 0xc9, 0, 1))),
    );
    assert.deepEqual([gotRtcp.dst, gotRtcp.dport], [CLIENT, 6001]);
  });

  it('follows the H.245 connection an inside caller opens to the address the remote announced in Connect', () => {
    const { rig, h323, q931 } = caller();
    q931.iSend(latin1(q931Tpkt(Q931MessageType.setup, setupUuie({}))));
    const connect = q931Tpkt(Q931MessageType.connect, connectUuie([SERVER, 1900]));
    const inConnect = one(q931.rSend(latin1(connect), q931.iSeq));
    assert.deepEqual(diff(connect, inConnect.payload), [], "the remote's address is not rewritten");
    assert.ok(h323.ports.includes(1900), 'the announced port is followed');
    const h245 = new ScriptedConn(rig, CLIENT, 41000, SERVER, 1900).open();
    assert.ok(!h323.ports.includes(1900), 'until the connection exists');
    const out = one(h245.iSend(latin1(h245Tpkt(olcValue([CLIENT, 5003])))));
    assert.equal(
      [...addresses(out.payload, true).values()][0],
      `${EXT}:${expectation(rig, UDP, 5003).externalPort}`,
    );
    assert.equal(h323.stats.h245Connections, 1);
  });

  it('forgets an announced H.245 port that is never opened', () => {
    const { rig, h323, q931 } = caller();
    q931.rSend(latin1(q931Tpkt(Q931MessageType.connect, connectUuie([SERVER, 1900]))), q931.iSeq);
    assert.ok(h323.ports.includes(1900));
    rig.advance(241_000);
    q931.iSend(latin1(q931Tpkt(Q931MessageType.facility, facilityUuie({}))));
    assert.ok(!h323.ports.includes(1900));
    const late = new ScriptedConn(rig, CLIENT, 41000, SERVER, 1900).open();
    const olc = h245Tpkt(olcValue([CLIENT, 5003]));
    assert.deepEqual(
      diff(olc, one(late.iSend(latin1(olc))).payload),
      [],
      'a late connection is not treated as H.245',
    );
  });
  it('keeps at most maxExpectations announced H.245 ports per connection, however many the remote names', () => {
    const { h323, q931 } = caller({ maxExpectations: 4 });
    for (let i = 0; i < 50; i++)
      q931.rSend(
        latin1(q931Tpkt(Q931MessageType.facility, facilityUuie({ h245: [SERVER, 3000 + i] }))),
        q931.iSeq,
      );
    assert.deepEqual([...h323.ports], [1720, 3046, 3047, 3048, 3049], 'the four latest are followed');
  });
});

describe('an inside callee behind a port forward', () => {
  it('maps destCallSignalAddress to the callee and rewrites its Connect with fastStart', () => {
    const rig = new AlgRig();
    const h323 = new H323Helper({ clock: rig.clock });
    rig.nat.addHelper(h323);
    rig.nat.addPortForward({ proto: TCP, outsidePort: 1720, insideIp: CLIENT, insidePort: 1720 });
    const q931 = new ScriptedConn(rig, CLIENT, 1720, SERVER, 45000).accept(1720);
    const setup = fullSetupTpkt(SERVER, [EXT, 1720]);
    const inSetup = one(q931.rSend(latin1(setup), q931.iSeq));
    const a = addresses(inSetup.payload);
    assert.equal(a.get('destCallSignalAddress'), `${CLIENT}:1720`);
    assert.equal(a.get('h245Address'), `${SERVER}:1800`);
    assert.equal(a.get('sourceCallSignalAddress'), `${SERVER}:1720`);
    const connect = q931Tpkt(
      Q931MessageType.connect,
      connectUuie([CLIENT, 1801], fastStartOffer([CLIENT, 6000], [CLIENT, 6001])),
    );
    const out = one(q931.iSend(latin1(connect)));
    const b = addresses(out.payload);
    assert.equal(b.get('h245Address'), `${EXT}:${expectation(rig, TCP, 1801).externalPort}`);
    assert.equal(
      b.get(
        'fastStart.1.reverseLogicalChannelParameters.multiplexParameters.h2250LogicalChannelParameters.mediaChannel',
      ),
      `${EXT}:${expectation(rig, UDP, 6000).externalPort}`,
    );
    assert.equal(h323.stats.parseErrors, 0);
  });
});

describe('TCP stream handling', () => {
  it('passes a TPKT split across segments unmodified and keeps parsing in step after it', () => {
    const { rig, h323, q931 } = caller();
    const setup = q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT, 1800] }));
    const cut = 30;
    const p1 = one(q931.iSend(latin1(setup.subarray(0, cut))));
    const p2 = one(q931.iSend(latin1(setup.subarray(cut))));
    assert.deepEqual(diff(setup, Buffer.concat([p1.payload, p2.payload])), []);
    assert.equal(h323.stats.spanned, 1);
    assert.equal(h323.stats.unrewritable, 1);
    assert.equal(rig.nat.listExpectations().length, 0, 'no expectation for an address the remote never sees');
    const next = one(
      q931.iSend(
        latin1(q931Tpkt(Q931MessageType.callProceeding, progressUuie('callProceeding', [CLIENT, 1801]))),
      ),
    );
    assert.equal(
      addresses(next.payload).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1801).externalPort}`,
    );
  });

  it('splits the TPKT header itself across segments without losing step', () => {
    const { rig, q931 } = caller();
    const a = q931Tpkt(Q931MessageType.callProceeding, progressUuie('callProceeding', [CLIENT, 1801]));
    const b = q931Tpkt(Q931MessageType.alerting, progressUuie('alerting', [CLIENT, 1802]));
    q931.iSend(latin1(Buffer.concat([a, b.subarray(0, 2)])));
    q931.iSend(latin1(b.subarray(2)));
    const c = one(q931.iSend(latin1(q931Tpkt(Q931MessageType.connect, connectUuie([CLIENT, 1803])))));
    assert.equal(
      addresses(c.payload).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1803).externalPort}`,
    );
  });

  it('rewrites a retransmission exactly like the original, also when it is cut differently', () => {
    const { rig, h323, q931 } = caller();
    const setup = q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT, 1800], src: [CLIENT, 1720] }));
    const seq = q931.iSeq;
    const first = one(q931.iSend(latin1(setup)));
    const again = one(q931.iSend(latin1(setup), seq));
    assert.deepEqual([...again.payload], [...first.payload]);
    const half = one(q931.iSend(latin1(setup.subarray(0, 40)), seq));
    assert.deepEqual([...half.payload], [...first.payload.subarray(0, 40)]);
    const tail = one(q931.iSend(latin1(setup.subarray(12)), seq + 12));
    assert.deepEqual([...tail.payload], [...first.payload.subarray(12)]);
    assert.equal(rig.nat.listExpectations().length, 1, 'no second expectation');
    assert.equal(h323.stats.retransmissions, 3);
    assert.equal(h323.stats.rewrites, 2);
  });

  it('resynchronises on the next TPKT after a gap in the stream', () => {
    const { rig, h323, q931 } = caller();
    const lost = q931Tpkt(Q931MessageType.callProceeding, progressUuie('callProceeding', [CLIENT, 1801]));
    q931.iSeq += lost.length; // never arrives
    const out = one(
      q931.iSend(latin1(q931Tpkt(Q931MessageType.alerting, progressUuie('alerting', [CLIENT, 1802])))),
    );
    assert.equal(
      addresses(out.payload).get('h245Address'),
      `${EXT}:${expectation(rig, TCP, 1802).externalPort}`,
    );
    assert.equal(h323.stats.outOfOrder, 1);
  });

  it('leaves a stream that is not TPKT alone', () => {
    const { h323, q931 } = caller();
    const junk = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    assert.equal(one(q931.iSend(junk)).text, junk);
    const setup = q931Tpkt(Q931MessageType.setup, setupUuie({ h245: [CLIENT, 1800] }));
    // A later segment that starts with a TPKT header is parsed again.
    assert.notDeepEqual([...one(q931.iSend(latin1(setup))).payload], [...setup]);
    assert.equal(h323.stats.parseErrors, 1);
  });
});

// ------------------------------------------------------------------------------------------
// The helper alone, with a recording host: arbitrary payloads never throw and change nothing.

function directCtx(payload: Uint8Array, direction: 'outbound' | 'inbound'): HelperPacketContext {
  const pkt = buildPacket({
    src: EXT,
    dst: SERVER,
    tcp: { srcPort: 40000, dstPort: 1720, seq: 1, flags: ACK },
    payload,
  });
  return {
    direction,
    tenant: 0,
    proto: 6,
    insideIp: 0x0a000005,
    insidePort: 40000,
    externalIp: 0xcb007164,
    externalPort: 40000,
    remoteIp: 0xc6336414,
    remotePort: 1720,
    connectionId: 7,
    pkt,
    l4Off: 20,
    payloadOff: 40,
    payloadLen: payload.length,
  };
}

const recordingHost = (): NatHelperHost & { calls: number } => {
  const host = {
    calls: 0,
    addExpectation: () => {
      host.calls++;
      throw new ConfigError('ERR_PORTS_EXHAUSTED', 'test host');
    },
    removeExpectation: () => false,
    allocOutsidePort: () => {
      throw new Error('not used');
    },
    releaseOutsidePort: () => false,
    createMapping: () => {
      throw new Error('not used');
    },
    sendInside: () => undefined,
    sendOutside: () => undefined,
    mangle: () => {
      throw new Error('not used');
    },
  };
  return host as unknown as NatHelperHost & { calls: number };
};

describe('robustness', () => {
  it('never throws and never changes a packet of arbitrary bytes, raw or TPKT-framed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), fc.boolean(), (body, framed, inbound) => {
        const h = new H323Helper();
        const payload = framed && body.length < 60000 ? buildTpkt(body) : body;
        const ctx = directCtx(payload, inbound ? 'inbound' : 'outbound');
        const before = ctx.pkt.slice();
        const r = h.onPacket(ctx, recordingHost());
        assert.equal(r, undefined);
        assert.deepEqual(ctx.pkt, before);
        h.onClose(7);
        assert.equal(h.trackedConnections, 0);
      }),
      { numRuns: 10_000 },
    );
  });

  it('never throws on mutated real messages and keeps TCP checksums valid', () => {
    const base = q931Tpkt(
      Q931MessageType.setup,
      setupUuie({ h245: [CLIENT, 1800], fastStart: fastStartOffer([CLIENT, 5000], [CLIENT, 5001]) }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (muts) => {
          const p = base.slice();
          for (const [i, x] of muts) if (i >= 4) p[i] = x;
          const ctx = directCtx(p, 'outbound');
          new H323Helper().onPacket(ctx, recordingHost());
          parseSeg(ctx.pkt); // well-formed
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('rewrites addresses at odd and even offsets, in odd and even length segments, with correct checksums', () => {
    const { rig, q931 } = caller();
    for (let pad = 0; pad < 4; pad++) {
      // A Display IE of `pad` bytes in front of the User-user IE shifts every address by one.
      const uu = perEncode(
        H323UserInformation,
        setupUuie({ h245: [CLIENT, 1810 + pad], src: [CLIENT, 1720] }),
      );
      const msg = buildTpkt(
        buildQ931(
          Q931MessageType.setup,
          0x1000 + pad,
          [{ id: 0x28, data: new Uint8Array(pad).fill(0x41) }],
          uu,
        ),
      );
      const out = one(q931.iSend(latin1(msg))); // the rig verifies IP and TCP checksums independently
      const a = addresses(out.payload);
      assert.equal(a.get('h245Address'), `${EXT}:${expectation(rig, TCP, 1810 + pad).externalPort}`);
      assert.equal(a.get('sourceCallSignalAddress'), `${EXT}:${q931.ext}`);
    }
  });
});
