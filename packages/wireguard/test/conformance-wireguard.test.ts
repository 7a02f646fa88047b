/**
 * WireGuard whitepaper rules that `server.test.ts` does not show on its own: the responder waits
 * for key confirmation, the receive-side and no-reply rekey triggers, the initiation rate, an
 * exhausted message counter, and the lifetime of cookies and of the cookie secret. Listed in
 * docs/conformance.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import {
  COOKIE_REFRESH_TIME,
  KEEPALIVE_TIMEOUT,
  MessageType,
  REJECT_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from '../src/constants.js';
import { type Datagram, MemoryNet, manual, memServer } from './helpers.js';

const A_UDP = { address: '192.0.2.1', port: 51820 };
const B_UDP = { address: '192.0.2.2', port: 51820 };

/** A UDP packet from inside address `src` to `dst` with a text payload. */
function ip(src: string, dst: string, text: string): Uint8Array {
  return buildPacket({ src, dst, udp: { srcPort: 4000, dstPort: 5000 }, payload: text });
}

/** Text payload of a decrypted UDP/IPv4 packet (after checking its checksums). */
function text(p: Uint8Array): string {
  assertChecksums(p, 'decrypted packet');
  return new TextDecoder().decode(p.subarray(28));
}

/**
 * Initiator A (inside 10.9.0.1, knows B's endpoint) and responder B (inside 10.9.0.2). Nothing is
 * sent yet. `count(type, from)` counts datagrams of a message type sent by A or B.
 */
function peers(opts: { bUnderLoad?: boolean } = {}) {
  const sched = manual();
  const net = new MemoryNet();
  const a = memServer(net, sched, A_UDP.address, A_UDP.port);
  const b = memServer(net, sched, B_UDP.address, B_UDP.port, {
    handshakeLoadThreshold: opts.bUnderLoad ? 0 : undefined,
  });
  const pa = a.server.addPeer({
    publicKey: b.pub,
    allowedIps: ['10.9.0.2/32'],
    endpoint: `${B_UDP.address}:${B_UDP.port}`,
  });
  const pb = b.server.addPeer({ publicKey: a.pub, allowedIps: ['10.9.0.1/32'] });
  const atA: string[] = [];
  const atB: string[] = [];
  pa.setHandler((p) => atA.push(text(p)));
  pb.setHandler((p) => atB.push(text(p)));
  const sentBy = (d: Datagram, who: 'A' | 'B') => d.from.address === (who === 'A' ? A_UDP : B_UDP).address;
  const count = (type: number, who: 'A' | 'B') =>
    net.log.filter((d) => d.msg[0] === type && sentBy(d, who)).length;
  const toB = (t: string) => pa.send(ip('10.9.0.1', '10.9.0.2', t));
  const toA = (t: string) => pb.send(ip('10.9.0.2', '10.9.0.1', t));
  return { sched, net, b, pa, pb, atA, atB, sentBy, count, toB, toA };
}

describe('WireGuard whitepaper rules (conformance)', () => {
  it('the responder sends no data on a new key pair until the initiator’s first message confirms it', () => {
    const { net, pa, atA, atB, sentBy, count, toB, toA } = peers();
    // A's confirming keepalive is lost: B holds the key pair as "next", unconfirmed.
    net.filter = (d) => !(d.msg[0] === MessageType.Transport && sentBy(d, 'A'));
    pa.initiateHandshake();
    assert.equal(count(MessageType.Response, 'B'), 1);
    assert.equal(count(MessageType.Transport, 'A'), 1, 'the initiator confirmed with a keepalive');
    toA('queued at B');
    assert.equal(count(MessageType.Transport, 'B'), 0, 'B must not encrypt with an unconfirmed key pair');
    assert.equal(count(MessageType.Initiation, 'B'), 0, 'B waits for the confirmation instead of initiating');
    assert.deepEqual(atA, []);
    net.filter = () => true;
    toB('confirms');
    assert.deepEqual(atB, ['confirms']);
    assert.deepEqual(atA, ['queued at B'], 'the queued packet goes out once the key pair is confirmed');
    assert.equal(count(MessageType.Initiation, 'A') + count(MessageType.Initiation, 'B'), 1);
  });

  it('the initiator rekeys when it receives data on a key pair older than REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT', () => {
    const { sched, pa, atA, count, toB, toA } = peers();
    toB('opens the session');
    const first = pa.current?.localIndex;
    const threshold = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
    sched.advance(threshold - 2);
    toA('just before');
    assert.equal(count(MessageType.Initiation, 'A'), 1, 'no rekey before the threshold');
    sched.advance(2);
    toA('at the threshold');
    assert.equal(count(MessageType.Initiation, 'A'), 2, 'receiving at the threshold starts a handshake');
    assert.equal(count(MessageType.Initiation, 'B'), 0, 'the responder never rekeys on receive');
    assert.notEqual(pa.current?.localIndex, first);
    assert.deepEqual(atA, ['just before', 'at the threshold']);
    toB('new key');
    assert.equal(pa.stats.handshakesCompleted, 2);
  });

  it('data sent without any reply for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT starts a new handshake', () => {
    const { sched, net, pa, atB, sentBy, count, toB } = peers();
    toB('one');
    // Every transport message of B (its passive keepalive included) is lost from now on.
    net.filter = (d) => !(d.msg[0] === MessageType.Transport && sentBy(d, 'B'));
    sched.advance(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT - 1);
    assert.equal(count(MessageType.Transport, 'B'), 1, 'B sent its passive keepalive (lost)');
    assert.equal(count(MessageType.Initiation, 'A'), 1);
    sched.advance(1);
    assert.equal(count(MessageType.Initiation, 'A'), 2, 'a new handshake after 15 s without a reply');
    assert.equal(pa.stats.handshakesCompleted, 2);
    net.filter = () => true;
    toB('two');
    assert.deepEqual(atB, ['one', 'two']);
  });

  it('a burst of packets without a session sends one initiation, and none again within REKEY_TIMEOUT', () => {
    const { sched, net, pa, atB, count, toB } = peers();
    net.filter = (d) => d.msg[0] !== MessageType.Initiation;
    for (let i = 0; i < 200; i++) {
      toB(`burst ${i}`);
      if (i % 50 === 49) sched.advance(1000);
    }
    assert.equal(count(MessageType.Initiation, 'A'), 1, 'one initiation for 200 packets over 4 s');
    assert.equal(pa.stats.handshakesInitiated, 1);
    net.filter = () => true;
    sched.advance(REKEY_TIMEOUT + 400);
    assert.equal(count(MessageType.Initiation, 'A'), 2, 'the retransmission after REKEY_TIMEOUT + jitter');
    assert.equal(atB.length, 200, 'the queued packets are delivered once the handshake completes');
    assert.equal(atB[199], 'burst 199');
  });

  it('a key pair whose message counter is exhausted is not used again: data waits for a new handshake', () => {
    const { sched, net, pa, atB, count, toB } = peers();
    toB('first');
    const kp = pa.current;
    assert.ok(kp);
    sched.advance(REKEY_TIMEOUT + 1);
    // 2^53 − 1 messages (l3kit's cap, below REJECT_AFTER_MESSAGES) cannot be sent in a test.
    kp.sendCounter = Number.MAX_SAFE_INTEGER;
    net.filter = (d) => d.msg[0] !== MessageType.Initiation;
    const transports = count(MessageType.Transport, 'A');
    toB('must wait');
    assert.equal(count(MessageType.Transport, 'A'), transports, 'nothing sent on the exhausted key pair');
    assert.equal(pa.hasSession(), false);
    assert.equal(count(MessageType.Initiation, 'A'), 2, 'a new handshake is started at once');
    net.filter = () => true;
    sched.advance(REKEY_TIMEOUT + 400);
    assert.notEqual(pa.current, kp);
    assert.deepEqual(atB, ['first', 'must wait']);
  });

  it('the responder’s cookie secret lasts COOKIE_REFRESH_TIME: an old mac2 then gets a new cookie reply', () => {
    const { sched, net, b, atB, toB } = peers({ bUnderLoad: true });
    toB('under load');
    assert.equal(b.server.stats.cookieRepliesSent, 1, 'the first initiation has no mac2');
    sched.advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    assert.deepEqual(atB, ['under load'], 'the retry with mac2 completed the handshake');
    const withMac2 = net.ofType(MessageType.Initiation)[1];
    assert.ok(withMac2.msg.subarray(132).some((x) => x !== 0));
    sched.advance(COOKIE_REFRESH_TIME - REKEY_TIMEOUT - REKEY_TIMEOUT_JITTER_MAX - 1);
    net.inject(withMac2); // replayed: its mac2 is still valid, so no cookie reply (the timestamp refuses it)
    assert.equal(b.server.stats.cookieRepliesSent, 1);
    sched.advance(1);
    net.inject(withMac2);
    assert.equal(b.server.stats.cookieRepliesSent, 2, 'the secret changed: the old mac2 is no longer valid');
  });

  it('the initiator uses a cookie for COOKIE_REFRESH_TIME only: later initiations carry no mac2', () => {
    const { sched, net, pa, atB, toB } = peers({ bUnderLoad: true });
    toB('one');
    sched.advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    assert.equal(pa.stats.cookiesReceived, 1);
    assert.deepEqual(atB, ['one']);
    const mac2 = (d: Datagram) => d.msg.subarray(132, 148);
    const inits = () => net.ofType(MessageType.Initiation);
    assert.ok(
      mac2(inits()[1]).some((x) => x !== 0),
      'the retry within 2 min carries mac2',
    );
    sched.advance(COOKIE_REFRESH_TIME);
    toB('two'); // the key pair is older than REKEY_AFTER_TIME: a new initiation
    assert.equal(inits().length, 3);
    assert.ok(
      mac2(inits()[2]).every((x) => x === 0),
      'the cookie expired: mac2 is zero',
    );
    assert.equal(pa.stats.cookiesReceived, 2, 'so the loaded responder sends a new cookie');
  });
});
