/** H.225.0 RAS ALG through a NAT: registration, gatekeeper-routed call signalling, admission. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@l3kit/core';
import type { HelperPacketContext, NatHelperHost } from '@l3kit/nat';
import { buildPacket } from '@l3kit/wire';
import fc from 'fast-check';
import {
  type AsnValue,
  H323Helper,
  H323RasHelper,
  type H323RasHelperOptions,
  PerError,
  perDecode,
  perEncode,
  Q931MessageType,
  RasMessage,
} from '../src/h323.js';
import { AlgRig, CLIENT, CLIENT2, EXT, ScriptedConn, SERVER, type Seg, udpDgram } from './alg-peers.js';
import {
  arqValue,
  grqValue,
  lrqValue,
  q931Tpkt,
  ras,
  rcfValue,
  rrqValue,
  setupUuie,
  strip,
  urqValue,
} from './h323-fixtures.js';

const GK = SERVER;

function addrs(payload: Uint8Array): string[] {
  return perDecode(RasMessage, payload).hits.map(
    (h) => `${h.ip >>> 24}.${(h.ip >>> 16) & 255}.${(h.ip >>> 8) & 255}.${h.ip & 255}:${h.port}`,
  );
}

function one(segs: Seg[]): Seg {
  assert.equal(segs.length, 1, 'exactly one packet passes');
  return segs[0];
}

function rasRig(opts: H323RasHelperOptions = {}) {
  const rig = new AlgRig();
  const helper = new H323RasHelper(opts);
  rig.nat.addHelper(helper);
  const send = (v: AsnValue) => one(rig.fromInside(udpDgram(CLIENT, 1719, GK, 1719, ras(v))));
  return { rig, helper, send };
}

describe('RAS schema', () => {
  it('round-trips the RAS messages an endpoint and a gatekeeper exchange', () => {
    for (const v of [
      rrqValue([CLIENT, 1720], [CLIENT, 1719], { ttl: 60 }),
      rcfValue([EXT, 1720]),
      grqValue([CLIENT, 1719]),
      urqValue([CLIENT, 1720]),
      arqValue([CLIENT, 1720], [SERVER, 1720]),
      lrqValue([CLIENT, 1719]),
    ]) {
      const enc = perEncode(RasMessage, v);
      const r = perDecode(RasMessage, enc);
      assert.equal(r.complete, true);
      assert.deepEqual(strip(r.value), strip(v));
    }
  });

  it('encodes a GatekeeperRequest bit-exactly', () => {
    const v: AsnValue = {
      gatekeeperRequest: {
        requestSeqNum: 1,
        protocolIdentifier: [0, 0, 8, 2250, 0, 4],
        rasAddress: { ipAddress: { ip: Uint8Array.of(10, 0, 0, 5), port: 1719 } },
        endpointType: { mc: false, undefinedNode: false },
      },
    };
    // 00: RasMessage ext 0 + index 0 (5 bits), GRQ ext 0 + 4 OPTIONAL bits 0000 → 10 bits, padded
    // 0000: requestSeqNum 1 (two aligned octets, value - 1); 06 + OID; 00: TransportAddress
    // CHOICE (4 bits) + padding; 0a000005 06b7; 00 00: EndpointType (9 bits) + padding
    const expected = '0000 0000 06 0008914a0004 00 0a000005 06b7 0000';
    assert.equal(Buffer.from(perEncode(RasMessage, v)).toString('hex'), expected.replace(/ /g, ''));
  });

  it('never throws anything but PerError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          perDecode(RasMessage, b);
        } catch (e) {
          assert.ok(e instanceof PerError, String(e));
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('H323RasHelper', () => {
  it('rejects bad options with ConfigError ERR_BAD_OPTION', () => {
    for (const o of [{ ports: [] }, { tenants: ['a'] }, { defaultTtlMs: -1 }, null])
      assert.throws(
        () => new H323RasHelper(o as H323RasHelperOptions),
        (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_OPTION',
      );
    assert.deepEqual([...new H323RasHelper().ports], [1719]);
  });

  it('rewrites a RegistrationRequest and lets the gatekeeper-routed call in for the registration lifetime', () => {
    const { rig, helper, send } = rasRig();
    const h323 = new H323Helper({ clock: rig.clock });
    rig.nat.addHelper(h323);
    const out = send(rrqValue([CLIENT, 1720], [CLIENT, 1719], { ttl: 60 }));
    const exp = rig.nat.listExpectations().find((e) => e.proto === 6 && e.insidePort === 1720);
    assert.ok(exp, 'an expectation for the Q.931 connection');
    assert.equal(exp.remoteIp, GK, 'only from the gatekeeper (Linux gkrouted_only)');
    assert.equal(exp.expiresInMs, 60_000, 'for the timeToLive of the registration');
    assert.deepEqual(addrs(out.payload), [`${EXT}:${exp.externalPort}`, `${EXT}:${out.sport}`]);
    assert.equal(helper.stats.registrations, 1);
    // The RegistrationConfirm echoes the registered address: the endpoint sees its own.
    const rcf = one(
      rig.fromOutside(udpDgram(GK, 1719, EXT, out.sport, ras(rcfValue([EXT, exp.externalPort])))),
    );
    assert.deepEqual(addrs(rcf.payload), [`${CLIENT}:1720`]);
    // The gatekeeper opens the call-signalling connection; its Setup reaches the endpoint.
    const q931 = new ScriptedConn(rig, CLIENT, 1720, GK, 46000).accept(exp.externalPort);
    const setup = q931Tpkt(
      Q931MessageType.setup,
      setupUuie({ h245: [GK, 1800], dest: [EXT, exp.externalPort] }),
    );
    const inSetup = one(q931.rSend(Buffer.from(setup).toString('latin1'), q931.iSeq));
    assert.deepEqual([inSetup.dst, inSetup.dport], [CLIENT, 1720]);
    assert.equal(h323.stats.messages, 1, 'the call-signalling helper serves the expected connection');
    assert.equal(h323.stats.rewrites, 1, 'destCallSignalAddress names the endpoint again');
  });

  it('keeps the external port across re-registrations and frees it with an UnregistrationRequest', () => {
    const { rig, send, helper } = rasRig();
    const first = addrs(send(rrqValue([CLIENT, 1720], [CLIENT, 1719], { ttl: 60 })).payload)[0];
    const again = addrs(
      send(rrqValue([CLIENT, 1720], [CLIENT, 1719], { ttl: 60, keepAlive: true })).payload,
    )[0];
    assert.equal(again, first);
    assert.equal(rig.nat.listExpectations().length, 1);
    const urq = addrs(send(urqValue([CLIENT, 1720])).payload);
    assert.deepEqual(urq, [first]);
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(helper.registrations, 0);
  });

  it('uses the default lifetime when the registration names none', () => {
    const { rig, send } = rasRig({ defaultTtlMs: 90_000 });
    send(rrqValue([CLIENT, 1720], [CLIENT, 1719]));
    assert.equal(rig.nat.listExpectations()[0].expiresInMs, 90_000);
  });

  it('rewrites the RAS address of GatekeeperRequest and LocationRequest and the registered address in AdmissionRequest', () => {
    const { send } = rasRig();
    const grq = send(grqValue([CLIENT, 1719]));
    assert.deepEqual(addrs(grq.payload), [`${EXT}:${grq.sport}`]);
    const lrq = send(lrqValue([CLIENT, 1719]));
    assert.deepEqual(addrs(lrq.payload), [`${EXT}:${lrq.sport}`]);
    // Before registering, the call-signalling address has no external port: left alone.
    assert.deepEqual(addrs(send(arqValue([CLIENT, 1720], [SERVER, 1720])).payload), [
      `${SERVER}:1720`,
      `${CLIENT}:1720`,
    ]);
    const reg = addrs(send(rrqValue([CLIENT, 1720], [CLIENT, 1719])).payload)[0];
    assert.deepEqual(addrs(send(arqValue([CLIENT, 1720], [SERVER, 1720])).payload), [`${SERVER}:1720`, reg]);
  });

  it("leaves another host's private address alone", () => {
    const { rig, helper, send } = rasRig();
    const v = rrqValue([CLIENT2, 1720], [CLIENT, 1719]);
    assert.deepEqual(addrs(send(v).payload)[0], `${CLIENT2}:1720`);
    assert.equal(rig.nat.listExpectations().length, 0);
    assert.equal(helper.stats.refusals, 1);
  });

  it('never throws and never changes a datagram of arbitrary bytes, with or without a UDP checksum', () => {
    const host = {
      addExpectation: () => {
        throw new ConfigError('ERR_PORTS_EXHAUSTED', 'test');
      },
      removeExpectation: () => false,
    } as unknown as NatHelperHost;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (payload, zero) => {
        const pkt = buildPacket({ src: EXT, dst: GK, udp: { srcPort: 1719, dstPort: 1719 }, payload });
        if (zero) pkt[26] = pkt[27] = 0;
        const ctx: HelperPacketContext = {
          direction: 'outbound',
          tenant: 0,
          proto: 17,
          insideIp: 0x0a000005,
          insidePort: 1719,
          externalIp: 0xcb007164,
          externalPort: 1719,
          remoteIp: 0xc6336414,
          remotePort: 1719,
          connectionId: 1,
          pkt,
          l4Off: 20,
          payloadOff: 28,
          payloadLen: payload.length,
        };
        const before = pkt.slice();
        assert.equal(new H323RasHelper().onPacket(ctx, host), undefined);
        assert.deepEqual(pkt, before);
      }),
      { numRuns: 10_000 },
    );
  });
});
