/**
 * The helper contract every `@l3kit/alg` helper keeps: `onPacket` never throws into the NAT, even
 * when something it relies on fails unexpectedly (a context that cannot be read, a host whose
 * methods throw plain errors). The packet then goes on unmodified and the failure is counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HelperPacketContext, NatHelper, NatHelperHost } from '@l3kit/nat';
import { buildPacket } from '@l3kit/wire';
import {
  FtpHelper,
  H323Helper,
  H323RasHelper,
  IrcHelper,
  PptpHelper,
  SipHelper,
  TftpHelper,
} from '../src/index.js';

/** A host every method of which throws a plain `Error` (not the `ConfigError`s of the contract). */
function brokenHost(): NatHelperHost & { calls: number } {
  const host = { calls: 0 } as NatHelperHost & { calls: number };
  for (const m of [
    'addExpectation',
    'removeExpectation',
    'allocOutsidePort',
    'releaseOutsidePort',
    'createMapping',
    'deleteMapping',
    'sendInside',
    'sendOutside',
    'mangle',
  ])
    (host as unknown as Record<string, () => never>)[m] = () => {
      host.calls++;
      throw new Error(`host.${m} failed`);
    };
  return host;
}

/**
 * A context for `payload` from 10.0.0.5 to 198.51.100.20:`port` whose `pkt` can be read
 * `readable` times, then throws.
 */
function context(proto: 6 | 17, port: number, payload: Uint8Array, readable: number): HelperPacketContext {
  const l4 =
    proto === 6
      ? { tcp: { srcPort: 40000, dstPort: port, seq: 1, ack: 1, flags: 0x18 } }
      : { udp: { srcPort: 40000, dstPort: port } };
  const pkt = buildPacket({ src: '203.0.113.1', dst: '198.51.100.20', ...l4, payload });
  let reads = 0;
  const ctx = {
    direction: 'outbound',
    tenant: 0,
    proto,
    insideIp: 0x0a000005,
    insidePort: 40000,
    externalIp: 0xcb007101,
    externalPort: 40000,
    remoteIp: 0xc6336414,
    remotePort: port,
    connectionId: 1,
    l4Off: 20,
    payloadOff: proto === 6 ? 40 : 28,
    payloadLen: payload.length,
    get pkt(): Uint8Array {
      if (reads++ >= readable) throw new TypeError('context no longer readable');
      return pkt;
    },
  };
  return ctx as HelperPacketContext;
}

const text = (s: string) => Buffer.from(s, 'latin1');
const invite = [
  'INVITE sip:bob@198.51.100.20 SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.5:40000;branch=z9hG4bK-1',
  'From: <sip:alice@198.51.100.20>;tag=1',
  'To: <sip:bob@198.51.100.20>',
  'Call-ID: 1@10.0.0.5',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@10.0.0.5:40000>',
  'Content-Type: application/sdp',
  'Content-Length: 59',
  '',
  'v=0\r\no=a 1 1 IN IP4 10.0.0.5\r\nc=IN IP4 10.0.0.5\r\nm=audio 7078 RTP/AVP 0\r\n',
].join('\r\n');

const cases: Array<{
  name: string;
  helper: () => NatHelper;
  proto: 6 | 17;
  port: number;
  payload: Uint8Array;
}> = [
  {
    name: 'FtpHelper',
    helper: () => new FtpHelper(),
    proto: 6,
    port: 21,
    payload: text('PORT 10,0,0,5,195,80\r\n'),
  },
  {
    name: 'IrcHelper',
    helper: () => new IrcHelper(),
    proto: 6,
    port: 6667,
    payload: text('PRIVMSG bob :\x01DCC SEND f 167772165 5000 10\x01\r\n'),
  },
  {
    name: 'TftpHelper',
    helper: () => new TftpHelper(),
    proto: 17,
    port: 69,
    payload: text('\0\x01f\0octet\0'),
  },
  { name: 'SipHelper', helper: () => new SipHelper(), proto: 17, port: 5060, payload: text(invite) },
  {
    name: 'SipHelper over TCP',
    helper: () => new SipHelper({ transport: 'tcp' }),
    proto: 6,
    port: 5060,
    payload: text(invite),
  },
  {
    name: 'H323Helper',
    helper: () => new H323Helper(),
    proto: 6,
    port: 1720,
    payload: Uint8Array.of(3, 0, 0, 8, 8, 2, 0, 1),
  },
  {
    name: 'H323RasHelper',
    helper: () => new H323RasHelper(),
    proto: 17,
    port: 1719,
    payload: Uint8Array.of(0x06, 0, 1),
  },
  { name: 'PptpHelper', helper: () => new PptpHelper(), proto: 6, port: 1723, payload: new Uint8Array(168) },
];

describe('every helper keeps the NAT helper contract', () => {
  for (const c of cases)
    it(`${c.name} never throws when its context or its host fails part-way, and counts it`, () => {
      for (let readable = 0; readable < 6; readable++) {
        const h = c.helper();
        const host = brokenHost();
        const ctx = context(c.proto, c.port, c.payload, readable);
        let r: ReturnType<NatHelper['onPacket']>;
        assert.doesNotThrow(() => {
          r = h.onPacket(ctx, host);
        }, `after ${readable} reads of the packet`);
        assert.ok(r === undefined || r === null, 'nothing rewritten');
        const stats = (h as unknown as { stats: Record<string, unknown> }).stats;
        const counted = Object.values(stats).reduce<number>((n, v) => n + (typeof v === 'number' ? v : 0), 0);
        assert.ok(counted > 0, `the failure is counted (${JSON.stringify(stats)})`);
      }
    });
});
