import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import fc from 'fast-check';
import {
  KEEPALIVE_TIMEOUT,
  MessageType,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from '../src/constants.js';
import { genpsk } from '../src/keys.js';
import type { Peer } from '../src/peer.js';
import { HandshakeRateLimiter, rateLimitKey } from '../src/rate-limiter.js';
import type { WireGuardServerOptions } from '../src/server.js';
import { BACKENDS, MemoryNet, manual, memServer, type MemoryNet as Net, testCipher } from './helpers.js';

const udp = (src: string, dst: string, payload: string) =>
  buildPacket({ src, dst, udp: { srcPort: 1000, dstPort: 2000 }, payload });

/** Two servers A (10.0.0.1 inside) and B (10.0.0.2 inside), A knows B's endpoint. */
function pair(
  opts: {
    psk?: boolean;
    bLoad?: number;
    noEndpointB?: boolean;
    cipherA?: WireGuardServerOptions['cipher'];
    cipherB?: WireGuardServerOptions['cipher'];
  } = {},
) {
  const sched = manual();
  const net = new MemoryNet();
  const a = memServer(net, sched, '192.0.2.1', 51820, { cipher: opts.cipherA });
  const b = memServer(net, sched, '192.0.2.2', 51820, {
    handshakeLoadThreshold: opts.bLoad,
    cipher: opts.cipherB,
  });
  const psk = opts.psk ? genpsk() : undefined;
  const pa = a.server.addPeer({
    publicKey: b.pub,
    allowedIps: ['10.0.0.2/32'],
    endpoint: '192.0.2.2:51820',
    presharedKey: psk,
  });
  const pb = b.server.addPeer({
    publicKey: a.pub,
    allowedIps: ['10.0.0.1/32'],
    endpoint: opts.noEndpointB ? undefined : '192.0.2.1:51820',
    presharedKey: psk,
  });
  const gotA: Uint8Array[] = [];
  const gotB: Uint8Array[] = [];
  pa.setHandler((p) => gotA.push(Uint8Array.from(p)));
  pb.setHandler((p) => gotB.push(Uint8Array.from(p)));
  return { sched, net, a, b, pa, pb, gotA, gotB };
}

/** Two servers A (192.0.2.1:1) and B (192.0.2.2:1) on one memory network, no peers yet. */
function twoServers() {
  const sched = manual();
  const net = new MemoryNet();
  return { sched, net, a: memServer(net, sched, '192.0.2.1', 1), b: memServer(net, sched, '192.0.2.2', 1) };
}

function handshakes(net: Net, t: number): number {
  return net.ofType(t).length;
}

// Every suite below runs once per transport AEAD backend (servers default to it).
for (const backend of BACKENDS) {
  describe(`with the ${backend.cipher} transport AEAD`, { skip: backend.skip }, () => {
    before(() => {
      testCipher.value = backend.cipher;
    });
    after(() => {
      testCipher.value = undefined;
    });

    describe('WireGuardServer handshake and transport', () => {
      it('completes a handshake when A initiates and carries data both ways', () => {
        const { a, b, pa, pb, gotA, gotB, net } = pair();
        const events: string[] = [];
        a.server.on('handshake', (_p, init) => events.push(`a:${init}`));
        b.server.on('handshake', (_p, init) => events.push(`b:${init}`));
        const p1 = udp('10.0.0.1', '10.0.0.2', 'hello from A');
        pa.send(p1);
        assert.deepEqual(events, ['a:true', 'b:false']);
        assert.equal(gotB.length, 1);
        assert.deepEqual(gotB[0], p1);
        assertChecksums(gotB[0], 'decrypted at B');
        pb.send(udp('10.0.0.2', '10.0.0.1', 'reply from B'));
        assert.equal(gotA.length, 1);
        assert.equal(new TextDecoder().decode(gotA[0].subarray(28)), 'reply from B');
        assert.equal(handshakes(net, MessageType.Initiation), 1);
        assert.equal(handshakes(net, MessageType.Response), 1);
        assert.ok(pa.lastHandshake !== undefined && pb.lastHandshake !== undefined);
        assert.equal(pa.stats.txPackets, 1);
        assert.equal(pb.stats.rxPackets, 1);
        // transport messages are padded to 16 bytes: 40-byte packet -> 48 + 32
        const t = net.ofType(MessageType.Transport).find((d) => d.from.address === '192.0.2.2');
        assert.equal(t?.msg.length, 16 + 48 + 16);
      });

      it('recovers when both sides initiate at the same moment (crossing initiations)', () => {
        const { sched, pa, pb, gotA, gotB, net } = pair();
        const held: Array<Parameters<typeof net.inject>[0]> = [];
        net.filter = (d) => {
          held.push(d);
          return false;
        };
        pa.send(udp('10.0.0.1', '10.0.0.2', 'A at the same time'));
        pb.send(udp('10.0.0.2', '10.0.0.1', 'B at the same time'));
        assert.equal(held.filter((d) => d.msg[0] === MessageType.Initiation).length, 2);
        net.filter = () => true;
        for (const d of held) net.inject(d); // the two initiations cross on the wire
        // Whatever the first exchange gave, within one rekey timeout + jitter both sides have a
        // session and the queued packets are delivered.
        sched.advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 1);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'A after'));
        pb.send(udp('10.0.0.2', '10.0.0.1', 'B after'));
        const texts = (got: Uint8Array[]) => got.map((p) => new TextDecoder().decode(p.subarray(28)));
        assert.ok(texts(gotB).includes('A after'), `B got ${JSON.stringify(texts(gotB))}`);
        assert.ok(texts(gotA).includes('B after'), `A got ${JSON.stringify(texts(gotA))}`);
      });

      it('completes a handshake in the other role when B initiates', () => {
        const { pa, pb, gotA, net } = pair();
        const p = udp('10.0.0.2', '10.0.0.1', 'B first');
        pb.send(p);
        assert.equal(gotA.length, 1);
        assert.deepEqual(gotA[0], p);
        assert.equal(net.ofType(MessageType.Initiation)[0].from.address, '192.0.2.2');
        assert.equal(pb.stats.handshakesCompleted, 1);
        assert.equal(pa.stats.handshakesCompleted, 1);
      });

      it('uses a preshared key when both sides have the same one and fails when they differ', () => {
        const ok = pair({ psk: true });
        ok.pa.send(udp('10.0.0.1', '10.0.0.2', 'psk'));
        assert.equal(ok.gotB.length, 1);

        const { a, b } = twoServers();
        const pa = a.server.addPeer({
          publicKey: b.pub,
          allowedIps: ['10.0.0.2/32'],
          endpoint: '192.0.2.2:1',
          presharedKey: genpsk(),
        });
        const pb = b.server.addPeer({
          publicKey: a.pub,
          allowedIps: ['10.0.0.1/32'],
          presharedKey: genpsk(),
        });
        let got = 0;
        pb.setHandler(() => got++);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        assert.equal(got, 0);
        assert.equal(pa.stats.handshakeRejected, 1); // the response does not authenticate
        assert.equal(pa.hasSession(), false);
      });

      it('drops a replayed transport message and counts it', () => {
        const { pa, pb, gotB, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'once'));
        const data = net.ofType(MessageType.Transport).filter((d) => d.from.address === '192.0.2.1');
        const last = data[data.length - 1];
        net.inject(last);
        assert.equal(gotB.length, 1);
        assert.equal(pb.stats.replay, 1);
      });

      it('drops a transport message with a flipped bit as a decryption failure', () => {
        const { pa, pb, gotB, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'one'));
        net.filter = (d) => {
          if (d.msg[0] === MessageType.Transport && d.msg.length > 40) d.msg[20] ^= 0x80;
          return true;
        };
        pa.send(udp('10.0.0.1', '10.0.0.2', 'two'));
        assert.equal(gotB.length, 1);
        assert.equal(pb.stats.decryptFailed, 1);
      });

      it('drops and counts a decrypted packet whose source is not in the allowed IPs', () => {
        const { pa, pb, gotB } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'fine'));
        pa.send(udp('10.9.9.9', '10.0.0.2', 'spoofed'));
        assert.equal(gotB.length, 1);
        assert.equal(pb.stats.badSource, 1);
        assert.equal(pb.stats.rxPackets, 1);
      });

      it('drops non-IP and oversized packets sent into a peer and counts them', () => {
        const { pa } = pair();
        pa.send(new Uint8Array(0));
        pa.send(Uint8Array.of(0x10, 1, 2, 3));
        pa.send(new Uint8Array(19).fill(0x45));
        assert.equal(pa.stats.malformed, 3);
        const huge = new Uint8Array(65461);
        huge[0] = 0x45;
        pa.send(huge);
        assert.equal(pa.stats.tooBig, 1);
        assert.equal(pa.stats.handshakesInitiated, 0);
      });

      it('follows the remote to a new endpoint after an authenticated packet (roaming)', () => {
        const { pa, pb, a, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'before'));
        assert.deepEqual(pb.endpoint, { address: '192.0.2.1', port: 51820 });
        a.transport.rebind('198.51.100.7', 40000);
        net.attach('198.51.100.7', 40000, a.server);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'after'));
        assert.deepEqual(pb.endpoint, { address: '198.51.100.7', port: 40000 });
        pb.send(udp('10.0.0.2', '10.0.0.1', 'to the new place'));
        assert.equal(pa.stats.rxPackets, 1);
      });
    });

    describe('WireGuardServer transport ciphers', () => {
      it('delivers IPv6 packets whose source is allowed', () => {
        const { a, b } = twoServers();
        const pa = a.server.addPeer({
          publicKey: b.pub,
          allowedIps: ['fd00::2/128'],
          endpoint: '192.0.2.2:1',
        });
        const pb = b.server.addPeer({ publicKey: a.pub, allowedIps: ['fd00::1/128'] });
        const got: Uint8Array[] = [];
        pb.setHandler((p) => got.push(Uint8Array.from(p)));
        const p6 = udp('fd00::1', 'fd00::2', 'six');
        pa.send(p6);
        pa.send(udp('fd00::9', 'fd00::2', 'spoofed six'));
        assert.deepEqual(got, [p6]);
        assertChecksums(got[0], 'IPv6 packet');
        assert.equal(pb.stats.badSource, 1);
      });

      it('rejects an unknown cipher option', () => {
        assert.throws(() => memServer(new MemoryNet(), manual(), '1.1.1.1', 1, { cipher: 'rot13' as 'js' }), {
          code: 'ERR_BAD_OPTION',
        });
      });
    });

    describe('WireGuardServer timers', () => {
      it('rekeys when the initiator sends after REKEY_AFTER_TIME and keeps delivering', () => {
        const { sched, pa, pb, gotB, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'first'));
        const firstIndex = pa.current?.localIndex;
        sched.advance(REKEY_AFTER_TIME - 1000);
        pb.send(udp('10.0.0.2', '10.0.0.1', 'keep it warm'));
        pa.send(udp('10.0.0.1', '10.0.0.2', 'still old key'));
        assert.equal(net.ofType(MessageType.Initiation).length, 1);
        sched.advance(2000);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'triggers rekey'));
        assert.equal(net.ofType(MessageType.Initiation).length, 2);
        assert.notEqual(pa.current?.localIndex, firstIndex);
        assert.equal(pa.stats.handshakesCompleted, 2);
        assert.equal(pb.stats.handshakesCompleted, 2);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'new key'));
        assert.equal(gotB.length, 4);
        assert.equal(pb.current?.remoteIndex, pa.current?.localIndex);
      });

      it('rejects a key pair after REJECT_AFTER_TIME in both directions', () => {
        const { sched, pa, pb, gotB, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'first'));
        // capture a valid message without delivering it
        net.filter = (d) => d.msg[0] !== MessageType.Transport;
        pa.send(udp('10.0.0.1', '10.0.0.2', 'late'));
        const late = net.log[net.log.length - 1];
        assert.equal(late.msg[0], MessageType.Transport);
        net.filter = () => false; // the network is down: no rekey can complete
        sched.advance(REJECT_AFTER_TIME);
        net.filter = () => true;
        net.inject(late);
        assert.equal(gotB.length, 1);
        assert.equal(pb.stats.expired, 1);
        // the sender does not use the expired key either: it queues and starts a handshake
        const before = net.ofType(MessageType.Transport).length;
        assert.equal(pa.hasSession(), false);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'after expiry'));
        assert.equal(gotB.length, 2, 'queued packet delivered after a new handshake');
        assert.ok(net.ofType(MessageType.Transport).length > before);
      });

      it('retransmits an unanswered initiation every REKEY_TIMEOUT plus jitter and gives up after REKEY_ATTEMPT_TIME', () => {
        const { sched, pa, net } = pair();
        net.filter = (d) => d.msg[0] !== MessageType.Initiation;
        pa.send(udp('10.0.0.1', '10.0.0.2', 'lost'));
        assert.equal(pa.stats.handshakesInitiated, 1);
        sched.advance(REKEY_TIMEOUT - 1);
        assert.equal(pa.stats.handshakesInitiated, 1);
        sched.advance(REKEY_TIMEOUT_JITTER_MAX + 1);
        assert.equal(pa.stats.handshakesInitiated, 2);
        sched.advance(REKEY_ATTEMPT_TIME);
        const n = pa.stats.handshakesInitiated;
        assert.ok(n >= 16 && n <= 19, `attempts ${n}`);
        assert.equal(pa.stats.queueDropped, 1);
        sched.advance(60_000);
        assert.equal(pa.stats.handshakesInitiated, n, 'no attempts after giving up');
      });

      it('sends a keepalive KEEPALIVE_TIMEOUT after receiving data it did not answer', () => {
        const { sched, pa, pb } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'ping'));
        assert.equal(pb.stats.keepalivesSent, 0);
        sched.advance(KEEPALIVE_TIMEOUT + 1);
        assert.equal(pb.stats.keepalivesSent, 1);
        assert.equal(pa.stats.keepalivesReceived >= 1, true);
      });

      it('sends persistent keepalives at the configured interval', () => {
        const { sched, a, b } = twoServers();
        b.server.addPeer({ publicKey: a.pub, allowedIps: ['10.0.0.1/32'] });
        const pa = a.server.addPeer({
          publicKey: b.pub,
          allowedIps: ['10.0.0.2/32'],
          endpoint: '192.0.2.2:1',
          persistentKeepalive: 25,
        });
        assert.equal(pa.stats.handshakesCompleted, 1, 'the first keepalive triggers a handshake');
        const k0 = pa.stats.keepalivesSent;
        sched.advance(25_000 * 4);
        assert.ok(pa.stats.keepalivesSent >= k0 + 4, `keepalives ${pa.stats.keepalivesSent}`);
      });

      it('erases all keys after 3 × REJECT_AFTER_TIME without a handshake', () => {
        const { sched, pa, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        net.filter = () => false;
        sched.advance(3 * REJECT_AFTER_TIME + 1);
        assert.equal(pa.current, undefined);
        assert.equal(pa.previous, undefined);
      });
    });

    describe('HandshakeRateLimiter', () => {
      it('keys IPv4 by address and IPv6 by /64, and bounds its table', () => {
        assert.equal(rateLimitKey('192.0.2.7'), '192.0.2.7');
        assert.equal(rateLimitKey('::ffff:192.0.2.7'), '192.0.2.7');
        assert.equal(rateLimitKey('2001:db8:1:2:aaaa::1'), rateLimitKey('2001:db8:1:2::ffff'));
        assert.notEqual(rateLimitKey('2001:db8:1:2::1'), rateLimitKey('2001:db8:1:3::1'));
        const clock = {
          t: 0,
          now() {
            return this.t;
          },
        };
        const rl = new HandshakeRateLimiter(clock, 2);
        assert.equal(rl.allow('192.0.2.1'), true);
        assert.equal(rl.allow('192.0.2.2'), true);
        assert.equal(rl.allow('192.0.2.3'), false, 'table full: a new source waits for the sweep');
        clock.t = 1001;
        assert.equal(rl.allow('192.0.2.3'), true, 'idle entries were swept');
        assert.equal(rl.size, 1);
      });
    });

    describe('WireGuardServer cookies under load', () => {
      it('answers an initiation without mac2 with a cookie reply and accepts the retry with mac2', () => {
        const { sched, b, pa, gotB, net } = pair({ bLoad: 0 });
        assert.equal(b.server.underLoad(), true);
        pa.send(udp('10.0.0.1', '10.0.0.2', 'under load'));
        assert.equal(b.server.stats.cookieRepliesSent, 1);
        assert.equal(net.ofType(MessageType.CookieReply).length, 1);
        assert.equal(pa.stats.cookiesReceived, 1);
        assert.equal(gotB.length, 0);
        // the first initiation had an all-zero mac2
        const first = net.ofType(MessageType.Initiation)[0].msg;
        assert.ok(first.subarray(132).every((x) => x === 0));
        sched.advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
        const second = net.ofType(MessageType.Initiation)[1].msg;
        assert.ok(
          second.subarray(132).some((x) => x !== 0),
          'retry carries mac2',
        );
        assert.equal(gotB.length, 1);
        assert.equal(b.server.stats.cookieRepliesSent, 1);
      });

      it('rate-limits a source with a valid cookie to a burst of 5, then 20 handshakes per second', () => {
        const { sched, b, pa, net } = pair({ bLoad: 0 });
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        sched.advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX); // the retry carries mac2 and is accepted
        const withMac2 = net.ofType(MessageType.Initiation)[1];
        assert.ok(withMac2.msg.subarray(132).some((x) => x !== 0));
        // the retry's jitter (0..333 ms) decides how much of the bucket refilled by now: let it fill
        sched.advance(5 * 50);
        const done = () => b.server.stats.rateLimited;
        for (let i = 0; i < 10; i++) net.inject(withMac2);
        assert.equal(done(), 5, 'a burst of 5 (the bucket is full again), then refused');
        sched.advance(100); // two tokens at 20/s
        for (let i = 0; i < 3; i++) net.inject(withMac2);
        assert.equal(done(), 6);
      });

      it('enters load mode when handshake messages exceed the threshold', () => {
        const { b, pa, net } = pair({ bLoad: 2 });
        assert.equal(b.server.underLoad(), false);
        const init = () => {
          pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        };
        init();
        const msg = net.ofType(MessageType.Initiation)[0];
        net.inject(msg);
        net.inject(msg);
        assert.equal(b.server.underLoad(), true);
        assert.ok(b.server.stats.cookieRepliesSent >= 1);
      });

      it('drops handshake messages with a bad mac1 without answering', () => {
        const { b, pa, net } = pair();
        net.filter = (d) => {
          if (d.msg[0] === MessageType.Initiation) d.msg[120] ^= 1;
          return true;
        };
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        assert.equal(b.server.stats.badMac1, 1);
        assert.equal(net.ofType(MessageType.Response).length, 0);
      });

      it('ignores a replayed initiation (timestamp not newer)', () => {
        const { b, pa, net } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        const peerB = b.server.listPeers()[0] as Peer;
        net.inject(net.ofType(MessageType.Initiation)[0]);
        assert.equal(peerB.stats.handshakeRejected, 1);
        assert.equal(net.ofType(MessageType.Response).length, 1);
      });
    });

    describe('WireGuardServer robustness', () => {
      it('never throws for arbitrary datagrams and counts them', () => {
        const { b, pa } = pair();
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        const idx = pa.current?.remoteIndex ?? 0;
        const typed = fc
          .tuple(fc.constantFrom(1, 2, 3, 4), fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean())
          .map(([t, rest, useIdx]) => {
            const lens: Record<number, number> = { 1: 148, 2: 92, 3: 64 };
            const len = lens[t] ?? Math.max(32, rest.length);
            const m = new Uint8Array(len);
            m.set(rest.subarray(0, len));
            m[0] = t;
            m[1] = m[2] = m[3] = 0;
            if (useIdx) {
              const o = t === 2 ? 8 : 4;
              m[o] = idx;
              m[o + 1] = idx >>> 8;
              m[o + 2] = idx >>> 16;
              m[o + 3] = idx >>> 24;
            }
            return m;
          });
        fc.assert(
          fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), typed), (m) => {
            b.server.receive(m, '192.0.2.99', 1234);
          }),
          { numRuns: 500 },
        );
        const s = b.server.stats;
        assert.ok(s.received >= 500);
        assert.ok(s.malformed + s.badMac1 + s.unknownIndex + s.handshakeFailed > 0);
      });

      it('rejects API misuse with typed errors', () => {
        const { a, b } = pair();
        assert.throws(() => a.server.addPeer({ publicKey: b.pub, allowedIps: [] }), {
          code: 'ERR_PEER_EXISTS',
        });
        assert.throws(() => a.server.addPeer({ publicKey: 'nope', allowedIps: [] }), { code: 'ERR_BAD_KEY' });
        assert.throws(() => a.server.addPeer({ publicKey: a.pub, allowedIps: [] }), { code: 'ERR_BAD_KEY' });
        const k = memServer(new MemoryNet(), manual(), '1.1.1.1', 1).pub;
        assert.throws(() => a.server.addPeer({ publicKey: k, allowedIps: ['10.0.0.0/33'] }), {
          code: 'ERR_BAD_PREFIX',
        });
        assert.throws(() => a.server.addPeer({ publicKey: k, allowedIps: [], endpoint: 'host' }), {
          code: 'ERR_BAD_ENDPOINT',
        });
        assert.throws(() => a.server.addPeer({ publicKey: k, allowedIps: [], persistentKeepalive: -1 }), {
          code: 'ERR_BAD_OPTION',
        });
      });

      it('does not keep a peer whose connector refuses it', () => {
        const sched = manual();
        const net = new MemoryNet();
        const refusing = {
          connectL3(): () => void {
            throw new Error('no room');
          },
        };
        const a = memServer(net, sched, '192.0.2.1', 1, { connector: refusing });
        const k = memServer(net, sched, '192.0.2.2', 1).pub;
        assert.throws(() => a.server.addPeer({ publicKey: k, allowedIps: ['10.0.0.2/32'] }), /no room/);
        assert.equal(a.server.peer(k), undefined);
        assert.equal(a.server.route(udp('10.0.0.1', '10.0.0.2', 'x')), false);
      });

      it('removes a peer: it is cut off, its indices are forgotten and events fire', () => {
        const { a, b, pa, gotB, net } = pair();
        const removed: string[] = [];
        b.server.on('peerRemoved', (p) => removed.push(p.publicKey));
        pa.send(udp('10.0.0.1', '10.0.0.2', 'x'));
        assert.equal(gotB.length, 1);
        assert.equal(b.server.removePeer(a.pub), true);
        assert.equal(b.server.removePeer(a.pub), false);
        assert.deepEqual(removed, [a.pub]);
        const unknown = b.server.stats.unknownIndex;
        pa.send(udp('10.0.0.1', '10.0.0.2', 'y'));
        assert.equal(gotB.length, 1);
        assert.equal(b.server.stats.unknownIndex, unknown + 1);
        assert.ok(net.log.length > 0);
      });

      it('routes outgoing packets to the peer by destination (cryptokey routing)', () => {
        const { a, gotB } = pair();
        assert.equal(a.server.route(udp('10.0.0.1', '10.0.0.2', 'routed')), true);
        assert.equal(gotB.length, 1);
        assert.equal(a.server.route(udp('10.0.0.1', '10.0.0.3', 'nowhere')), false);
        assert.equal(a.server.stats.noRoute, 1);
      });
    });
  });
}

describe('WireGuardServer transport AEAD backends', () => {
  for (const x of BACKENDS)
    for (const y of BACKENDS) {
      const [ca, cb] = [x.cipher, y.cipher];
      it(`carries data both ways between ${ca} and ${cb} AEADs, at odd sizes up to 65000 bytes`, {
        skip: x.skip || y.skip,
      }, () => {
        const { pa, pb, gotA, gotB } = pair({ cipherA: ca, cipherB: cb });
        const sent: Uint8Array[] = [];
        for (const n of [0, 1, 15, 16, 17, 100, 1372, 9000, 65000]) {
          const p = udp('10.0.0.1', '10.0.0.2', 'x'.repeat(n));
          sent.push(p);
          pa.send(p);
        }
        assert.deepEqual(gotB, sent);
        for (const p of gotB) assertChecksums(p, `decrypted by ${cb}`);
        pb.send(udp('10.0.0.2', '10.0.0.1', 'back'));
        assert.equal(gotA.length, 1);
        assert.equal(pb.stats.decryptFailed + pa.stats.decryptFailed, 0);
      });
    }

  it('picks the native addon for the default cipher when it is built, else node:crypto', () => {
    const { server } = memServer(new MemoryNet(), manual(), '1.1.1.1', 1);
    assert.equal(server.cipherBackend, BACKENDS[0].skip ? 'node-crypto' : 'addon');
    for (const c of ['js', 'node-crypto'] as const)
      assert.equal(memServer(new MemoryNet(), manual(), '1.1.1.1', 1, { cipher: c }).server.cipherBackend, c);
  });

  it('releases the native key handles of every key pair it forgets', { skip: BACKENDS[0].skip }, () => {
    const { sched, pa, pb, b, a, net } = pair({ cipherA: 'addon', cipherB: 'addon' });
    pa.send(udp('10.0.0.1', '10.0.0.2', 'first'));
    const first = pa.current;
    assert.ok(first?.sendKey && first.recvKey);
    assert.equal(first.sendKey.released, false);
    // a rekey keeps the old pair as `previous`; a second rekey drops it
    for (let i = 0; i < 2; i++) {
      sched.advance(REKEY_AFTER_TIME + 1);
      pb.send(udp('10.0.0.2', '10.0.0.1', 'warm'));
      pa.send(udp('10.0.0.1', '10.0.0.2', 'rekey'));
    }
    assert.equal(pa.stats.handshakesCompleted, 3);
    assert.ok(first.erased && first.sendKey.released && first.recvKey?.released);
    assert.deepEqual(first.send, Buffer.alloc(32), 'key bytes are zeroed');
    // removing a peer erases its live pairs
    const live = [pb.current, pb.previous].filter((k) => k !== undefined);
    assert.ok(live.length > 0);
    b.server.removePeer(a.pub);
    for (const kp of live) assert.ok(kp.sendKey?.released && kp.recvKey?.released);
    // the zero-keys timer erases the rest
    const rest = [pa.current, pa.previous].filter((k) => k !== undefined);
    net.filter = () => false;
    sched.advance(3 * REJECT_AFTER_TIME + 1);
    for (const kp of rest) assert.ok(kp.erased && kp.sendKey?.released);
  });

  it('refuses cipher addon with ERR_CIPHER_UNAVAILABLE when the addon cannot be loaded', async () => {
    const url = new URL('../src/index.js', import.meta.url).href;
    const code = `const w = await import(${JSON.stringify(url)});
      const t = { send() {}, close() {} };
      const s = new w.WireGuardServer({ privateKey: w.genkey(), transport: t });
      let err = 'none';
      try { new w.WireGuardServer({ privateKey: w.genkey(), transport: t, cipher: 'addon' }); } catch (e) { err = e.code; }
      console.log(JSON.stringify({ backend: s.cipherBackend, err, reason: w.nativeAeadUnavailableReason() }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, L3KIT_WIREGUARD_ADDON: '/nonexistent/l3kit_wireguard_aead.node' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.backend, 'node-crypto');
    assert.equal(out.err, 'ERR_CIPHER_UNAVAILABLE');
    assert.match(out.reason, /not built .*nonexistent/);
  });
});
