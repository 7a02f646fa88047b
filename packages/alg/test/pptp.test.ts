/**
 * PPTP ALG: the control message codec (golden bytes from the RFC 2637 layouts as pptp-linux sends
 * them) and the helper driven directly with helper contexts and a recording NAT host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, ManualClock } from '@l3kit/core';
import type { CreateMappingOptions, HelperPacketContext, MappingRecord, NatHelperHost } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, parseIpv4 } from '@l3kit/wire';
import fc from 'fast-check';
import {
  PptpControlType as C,
  emitPptpControl,
  PPTP_MESSAGE_LENGTH,
  PptpHelper,
  parsePptpControl,
} from '../src/pptp.js';

const IN = '192.168.1.10';
const EXT = '203.0.113.1';
const SRV = '198.51.100.7';
const IN_PORT = 50000;
const EXT_PORT = 61000;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** A NAT host that records what the helper asks for. */
class RecordingHost implements NatHelperHost {
  readonly clock = new ManualClock(0);
  nextPort = 0x2000;
  readonly allocated: number[] = [];
  readonly released: number[] = [];
  readonly mappings: CreateMappingOptions[] = [];
  readonly removed: number[] = [];
  failAlloc = false;
  allocOutsidePort(proto: number, outsideIp?: string): { ip: string; port: number } {
    assert.equal(proto, 47);
    assert.equal(outsideIp, EXT);
    if (this.failAlloc) throw new ConfigError('ERR_PORTS_EXHAUSTED', 'no free gre port');
    const port = this.nextPort++;
    this.allocated.push(port);
    return { ip: EXT, port };
  }
  releaseOutsidePort(proto: number, port: number): boolean {
    assert.equal(proto, 47);
    this.released.push(port);
    return true;
  }
  createMapping(o: CreateMappingOptions): MappingRecord {
    this.mappings.push(o);
    const tuple = {
      src: o.insideIp,
      srcPort: o.insidePort,
      dst: o.remoteIp ?? '',
      dstPort: o.remotePort ?? 0,
    };
    return {
      id: 100 + this.mappings.length,
      tenant: o.tenant ?? 0,
      proto: o.proto,
      protoName: 'gre',
      kind: 'static',
      insideIp: o.insideIp,
      insidePort: o.insidePort,
      externalIp: o.externalIp ?? EXT,
      externalPort: o.externalPort ?? 0,
      remoteIp: o.remoteIp ?? '0.0.0.0',
      remotePort: o.remotePort ?? 0,
      original: tuple,
      reply: tuple,
      state: 'UNREPLIED',
      expiresInMs: 300_000,
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
    };
  }
  deleteMapping(id: number): boolean {
    this.removed.push(id);
    return true;
  }
  addExpectation(): never {
    throw new Error('the PPTP helper uses no expectations');
  }
  removeExpectation(): boolean {
    return false;
  }
  sendInside(): void {}
  sendOutside(): void {}
  mangle(): never {
    throw new Error('the PPTP helper rewrites in place');
  }
}

/**
 * One control connection as the helper sees it after the NAT translated the headers: outbound
 * EXT:EXT_PORT → SRV:1723, inbound SRV:1723 → IN:IN_PORT. Tracks both sequence spaces.
 */
class Control {
  readonly host = new RecordingHost();
  readonly helper: PptpHelper;
  outSeq = 1_000_000;
  inSeq = 0xfffffff0; // wraps during the test
  constructor(
    helper?: PptpHelper,
    readonly connectionId = 7,
  ) {
    this.helper = helper ?? new PptpHelper();
  }

  private run(
    dir: 'outbound' | 'inbound',
    seq: number,
    payload: Uint8Array,
    flags = 0x18,
  ): Uint8Array | null {
    const out = dir === 'outbound';
    const pkt = buildPacket({
      src: out ? EXT : SRV,
      dst: out ? SRV : IN,
      tcp: {
        srcPort: out ? EXT_PORT : 1723,
        dstPort: out ? 1723 : IN_PORT,
        seq,
        ack: 1,
        flags,
      },
      payload,
    });
    const ctx: HelperPacketContext = {
      direction: dir,
      tenant: 0,
      proto: 6,
      insideIp: parseIpv4(IN) as number,
      insidePort: IN_PORT,
      externalIp: parseIpv4(EXT) as number,
      externalPort: EXT_PORT,
      remoteIp: parseIpv4(SRV) as number,
      remotePort: 1723,
      connectionId: this.connectionId,
      pkt,
      l4Off: 20,
      payloadOff: 40,
      payloadLen: payload.length,
    };
    const r = this.helper.onPacket(ctx, this.host);
    if (r === null) return null;
    const res = r ?? pkt;
    assertChecksums(res, `${dir} segment`);
    return res.slice(40);
  }

  /** Opens the connection (SYN each way). */
  open(): this {
    this.run('outbound', this.outSeq - 1, new Uint8Array(0), 0x02);
    this.run('inbound', this.inSeq - 1, new Uint8Array(0), 0x12);
    return this;
  }

  /** New bytes from the inside client; returns the payload as it leaves the helper. */
  out(payload: Uint8Array): Uint8Array | null {
    const r = this.run('outbound', this.outSeq, payload);
    this.outSeq = (this.outSeq + payload.length) >>> 0;
    return r;
  }

  /** New bytes from the server. */
  in(payload: Uint8Array): Uint8Array | null {
    const r = this.run('inbound', this.inSeq, payload);
    this.inSeq = (this.inSeq + payload.length) >>> 0;
    return r;
  }

  /** A segment at an explicit sequence number (retransmissions, gaps). */
  outAt(seq: number, payload: Uint8Array): Uint8Array | null {
    return this.run('outbound', seq >>> 0, payload);
  }

  /** A server segment at an explicit sequence number. */
  inAt(seq: number, payload: Uint8Array): Uint8Array | null {
    return this.run('inbound', seq >>> 0, payload);
  }

  /** Start-Control-Connection exchange, then an outgoing call with the server's answer. */
  call(clientCallId: number, serverCallId: number): { outsideId: number } {
    this.out(emitPptpControl({ type: C.startControlConnectionRequest }));
    this.in(emitPptpControl({ type: C.startControlConnectionReply, hostName: 'pac', vendor: 'Microsoft' }));
    const rq = this.out(emitPptpControl({ type: C.outgoingCallRequest, callId: clientCallId, serial: 1 }));
    assert.ok(rq);
    const outsideId = u16(rq, 12);
    const rp = this.in(
      emitPptpControl({ type: C.outgoingCallReply, callId: serverCallId, peerCallId: outsideId }),
    );
    assert.ok(rp);
    assert.equal(u16(rp, 14), clientCallId, 'peer call ID translated back');
    return { outsideId };
  }
}

describe('PPTP control messages', () => {
  it('a Start-Control-Connection-Request has the RFC 2637 layout pptp-linux sends', () => {
    const m = emitPptpControl({ type: C.startControlConnectionRequest });
    assert.equal(m.length, 156);
    assert.equal(
      hex(m.subarray(0, 33)),
      '009c00011a2b3c4d00010000010000000000000300000003ffff00016c6f63616c',
    );
    assert.equal(Buffer.from(m.subarray(92, 100)).toString('latin1'), 'cananian');
    assert.deepEqual(parsePptpControl(m), {
      type: 1,
      hostName: 'local',
      vendor: 'cananian',
    });
  });

  it('an Outgoing-Call-Request carries the Call ID at 12 and the serial number at 14', () => {
    const m = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x1234, serial: 7, phoneNumber: '555' });
    assert.equal(m.length, 168);
    assert.equal(
      hex(m.subarray(0, 40)),
      `00a800011a2b3c4d00070000123400070000096000989680${'00000003'.repeat(2)}0040000000030000`,
    );
    assert.deepEqual(parsePptpControl(m), { type: 7, callId: 0x1234, serial: 7, phoneNumber: '555' });
  });

  it('replies carry the Call ID, the Peer Call ID and the result code', () => {
    const ocrp = emitPptpControl({
      type: C.outgoingCallReply,
      callId: 0x9001,
      peerCallId: 0x2000,
      resultCode: 1,
    });
    assert.equal(hex(ocrp.subarray(0, 17)), '002000011a2b3c4d0008000090012000' + '01');
    assert.deepEqual(parsePptpControl(ocrp), { type: 8, callId: 0x9001, peerCallId: 0x2000, resultCode: 1 });
    const sli = emitPptpControl({ type: C.setLinkInfo, peerCallId: 0x4242 });
    assert.equal(hex(sli), '001800011a2b3c4d000f00004242' + '0000ffffffffffffffff');
    const cdn = emitPptpControl({ type: C.callDisconnectNotify, callId: 0x9001 });
    assert.equal(cdn.length, 148);
    assert.deepEqual(parsePptpControl(cdn), { type: 13, callId: 0x9001, resultCode: 3 });
  });

  it('every control message type has its RFC length', () => {
    const want = [156, 156, 16, 16, 16, 20, 168, 32, 220, 24, 28, 16, 148, 40, 24];
    for (let t = 1; t <= 15; t++) {
      assert.equal(PPTP_MESSAGE_LENGTH[t], want[t - 1]);
      const m = emitPptpControl({ type: t });
      assert.equal(u16(m, 0), m.length);
      assert.equal(parsePptpControl(m)?.type, t);
    }
    assert.throws(() => emitPptpControl({ type: 16 }), RangeError);
  });

  it('truncated, foreign and short messages do not parse', () => {
    const m = emitPptpControl({ type: C.outgoingCallReply, callId: 1, peerCallId: 2 });
    assert.equal(parsePptpControl(m.subarray(0, 31)), null, 'truncated');
    const bad = m.slice();
    bad[7] ^= 1;
    assert.equal(parsePptpControl(bad), null, 'magic cookie');
    const short = m.slice();
    short[1] = 20; // a 20-byte Outgoing-Call-Reply is too short for its fields
    assert.equal(parsePptpControl(short), null, 'length below the type minimum');
    const mgmt = m.slice();
    mgmt[3] = 2;
    assert.equal(parsePptpControl(mgmt), null, 'management message');
    assert.equal(parsePptpControl(m, 5), null, 'offset into the message');
  });

  it('arbitrary bytes never throw from the parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (b, off) => {
        const r = parsePptpControl(b, Math.min(off, b.length));
        if (r) assert.ok(PPTP_MESSAGE_LENGTH[r.type] > 0);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('PptpHelper', () => {
  it('an Outgoing-Call-Request gets an outside Call ID and the reply is translated back', () => {
    const c = new Control().open();
    const sccrq = emitPptpControl({ type: C.startControlConnectionRequest });
    assert.deepEqual(c.out(sccrq), sccrq, 'Start-Control-Connection-Request passes unchanged');
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000, serial: 3 });
    const sent = c.out(rq);
    assert.ok(sent);
    assert.deepEqual(c.host.allocated, [0x2000]);
    assert.equal(u16(sent, 12), 0x2000, 'Call ID replaced by the outside one');
    assert.deepEqual([...sent.subarray(14)], [...rq.subarray(14)], 'nothing else changed');
    const rp = c.in(emitPptpControl({ type: C.outgoingCallReply, callId: 0x9001, peerCallId: 0x2000 }));
    assert.ok(rp);
    assert.equal(u16(rp, 12), 0x9001, 'the server Call ID is left alone');
    assert.equal(u16(rp, 14), 0x4000, 'Peer Call ID back to the inside one');
    assert.deepEqual(c.host.mappings, [
      {
        proto: 47,
        tenant: 0,
        insideIp: IN,
        insidePort: 0x4000,
        externalIp: EXT,
        externalPort: 0x2000,
        remoteIp: SRV,
        remotePort: 0x9001,
      },
    ]);
    assert.deepEqual(c.helper.calls(7), [
      { insideId: 0x4000, outsideId: 0x2000, remoteId: 0x9001, mapped: true },
    ]);
    assert.equal(c.helper.stats.rewrites, 2);
    assert.equal(c.helper.stats.greMappings, 1);
  });

  it('Call ID 0 is an ordinary Call ID', () => {
    const c = new Control().open();
    const rq = c.out(emitPptpControl({ type: C.outgoingCallRequest, callId: 0 }));
    assert.equal(rq && u16(rq, 12), 0x2000);
    const rp = c.in(emitPptpControl({ type: C.outgoingCallReply, callId: 0, peerCallId: 0x2000 }));
    assert.deepEqual(rp && [u16(rp, 12), u16(rp, 14)], [0, 0]);
    assert.deepEqual(
      c.host.mappings.map((m) => [m.insidePort, m.externalPort, m.remotePort]),
      [[0, 0x2000, 0]],
    );
  });

  it('Set-Link-Info, WAN-Error-Notify and Echo are translated or passed by direction', () => {
    const c = new Control().open();
    const { outsideId } = c.call(0x4000, 0x9001);
    const sliOut = emitPptpControl({ type: C.setLinkInfo, peerCallId: 0x9001 });
    assert.deepEqual(c.out(sliOut), sliOut, 'the client names the server call: unchanged');
    const sliIn = c.in(emitPptpControl({ type: C.setLinkInfo, peerCallId: outsideId }));
    assert.equal(sliIn && u16(sliIn, 12), 0x4000, 'the server names the client call: translated');
    const wen = c.in(emitPptpControl({ type: C.wanErrorNotify, peerCallId: outsideId }));
    assert.equal(wen && u16(wen, 12), 0x4000);
    const echo = emitPptpControl({ type: C.echoRequest, identifier: 0x2000_4000 });
    assert.deepEqual(c.in(echo), echo, 'an Echo-Request that looks like Call IDs is not touched');
    const unknown = c.in(emitPptpControl({ type: C.setLinkInfo, peerCallId: 0x7777 }));
    assert.equal(unknown && u16(unknown, 12), 0x7777);
    assert.equal(c.helper.stats.unknownCallIds, 1);
  });

  it('Call-Clear-Request is translated and removes the GRE mapping; Call-Disconnect-Notify ends the call', () => {
    const c = new Control().open();
    const { outsideId } = c.call(0x4000, 0x9001);
    const ccrq = c.out(emitPptpControl({ type: C.callClearRequest, callId: 0x4000 }));
    assert.equal(ccrq && u16(ccrq, 12), outsideId);
    assert.deepEqual(c.host.removed, [101], 'the mapping createMapping returned is removed');
    assert.equal(c.helper.calls(7).length, 1, 'kept until the Call-Disconnect-Notify');
    const cdn = emitPptpControl({ type: C.callDisconnectNotify, callId: 0x9001 });
    assert.deepEqual(c.in(cdn), cdn, 'the PAC names its own call: unchanged');
    assert.deepEqual(c.helper.calls(7), []);
    assert.equal(c.helper.stats.callsCleared, 1);
  });

  it('a Call-Disconnect-Notify naming the client call is translated as Linux does and ends it', () => {
    const c = new Control().open();
    const { outsideId } = c.call(0x4000, 0x9001);
    const cdn = c.in(emitPptpControl({ type: C.callDisconnectNotify, callId: outsideId }));
    assert.equal(cdn && u16(cdn, 12), 0x4000);
    assert.deepEqual(c.host.removed, [101]);
    assert.deepEqual(c.helper.calls(7), []);
  });

  it('a failed Outgoing-Call-Reply releases the outside Call ID and creates no mapping', () => {
    const c = new Control().open();
    const rq = c.out(emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 }));
    assert.ok(rq);
    const rp = c.in(
      emitPptpControl({ type: C.outgoingCallReply, callId: 0, peerCallId: u16(rq, 12), resultCode: 4 }),
    );
    assert.equal(rp && u16(rp, 14), 0x4000, 'still translated so the client learns its call failed');
    assert.deepEqual(c.host.mappings, []);
    assert.deepEqual(c.host.released, [0x2000]);
    assert.deepEqual(c.helper.calls(7), []);
  });

  it('an incoming call (Incoming-Call-Request from the server) is translated and mapped', () => {
    const c = new Control().open();
    const icrq = emitPptpControl({ type: C.incomingCallRequest, callId: 0x9005, serial: 9 });
    assert.deepEqual(c.in(icrq), icrq);
    const icrp = c.out(emitPptpControl({ type: C.incomingCallReply, callId: 0x4001, peerCallId: 0x9005 }));
    assert.ok(icrp);
    assert.equal(u16(icrp, 12), 0x2000, 'the client Call ID gets an outside one');
    assert.equal(u16(icrp, 14), 0x9005);
    assert.equal(c.host.mappings[0].insidePort, 0x4001);
    assert.equal(c.host.mappings[0].externalPort, 0x2000);
    assert.equal(c.host.mappings[0].remotePort, 0x9005);
    const iccn = c.in(emitPptpControl({ type: C.incomingCallConnected, peerCallId: 0x2000 }));
    assert.equal(iccn && u16(iccn, 12), 0x4001);
  });

  it('an inside server (PAC) answering an Outgoing-Call-Request gets an outside Call ID', () => {
    const c = new Control().open();
    const ocrq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x5555 });
    assert.deepEqual(c.in(ocrq), ocrq, 'the remote client names its own call');
    const ocrp = c.out(emitPptpControl({ type: C.outgoingCallReply, callId: 0x0101, peerCallId: 0x5555 }));
    assert.equal(ocrp && u16(ocrp, 12), 0x2000);
    assert.deepEqual(
      c.host.mappings.map((m) => [m.insidePort, m.externalPort, m.remotePort]),
      [[0x0101, 0x2000, 0x5555]],
    );
    const ccrq = emitPptpControl({ type: C.callClearRequest, callId: 0x5555 });
    assert.deepEqual(c.in(ccrq), ccrq);
    assert.deepEqual(c.host.removed, [101]);
    const cdn = c.out(emitPptpControl({ type: C.callDisconnectNotify, callId: 0x0101 }));
    assert.equal(cdn && u16(cdn, 12), 0x2000, 'the inside PAC names its own call: translated');
    assert.deepEqual(c.helper.calls(7), []);
  });

  it('several messages in one segment are each translated', () => {
    const c = new Control().open();
    const both = concat(
      emitPptpControl({ type: C.startControlConnectionRequest }),
      emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 }),
      emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4001 }),
    );
    const sent = c.out(both);
    assert.ok(sent);
    assert.equal(u16(sent, 156 + 12), 0x2000);
    assert.equal(u16(sent, 156 + 168 + 12), 0x2001);
    assert.equal(c.helper.stats.messages, 3);
  });

  it('a message split across two segments at any byte is rewritten exactly once', () => {
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000, serial: 1 });
    const want = rq.slice();
    want[12] = 0x20;
    want[13] = 0x00;
    for (let cut = 1; cut < rq.length; cut++) {
      const c = new Control().open();
      const a = c.out(rq.slice(0, cut));
      const b = c.out(rq.slice(cut));
      assert.ok(a && b);
      assert.equal(hex(concat(a, b)), hex(want), `split at ${cut}`);
      assert.deepEqual(c.host.allocated, [0x2000], `one allocation (split at ${cut})`);
      // The reply, split just inside its Peer Call ID, is translated back too.
      const rp = emitPptpControl({ type: C.outgoingCallReply, callId: 0x9001, peerCallId: 0x2000 });
      const at = (cut % 31) + 1;
      const x = c.in(rp.slice(0, at));
      const y = c.in(rp.slice(at));
      assert.ok(x && y);
      assert.equal(u16(concat(x, y), 14), 0x4000, `reply split at ${at}`);
      assert.equal(c.host.mappings.length, 1, `mapping created once the reply is complete (${cut}/${at})`);
    }
  });

  it('a split Call ID whose first byte is ambiguous is counted and left unchanged', () => {
    const c = new Control().open();
    // Two calls whose outside Call IDs share the high byte map back to inside IDs that differ in it.
    c.out(emitPptpControl({ type: C.outgoingCallRequest, callId: 0x1111 }));
    c.out(emitPptpControl({ type: C.outgoingCallRequest, callId: 0x2222 }));
    assert.deepEqual(c.host.allocated, [0x2000, 0x2001]);
    const sli = emitPptpControl({ type: C.setLinkInfo, peerCallId: 0x2001 });
    const a = c.in(sli.slice(0, 13));
    const b = c.in(sli.slice(13));
    assert.ok(a && b);
    assert.equal(u16(concat(a, b), 12), 0x2001, 'left unchanged rather than half rewritten');
    assert.equal(c.helper.stats.unresolvedSplitFields, 1);
  });

  it('a retransmitted segment is rewritten identically without a new allocation', () => {
    const c = new Control().open();
    const seq = c.outSeq;
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 });
    const first = c.out(rq);
    const again = c.outAt(seq, rq);
    assert.ok(first && again);
    assert.equal(hex(again), hex(first));
    assert.deepEqual(c.host.allocated, [0x2000]);
    // A retransmission that also carries new bytes: the old part from the log, the new part parsed.
    const rq2 = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4001 });
    const mixed = c.outAt(seq, concat(rq, rq2));
    c.outSeq += rq2.length;
    assert.ok(mixed);
    assert.equal(u16(mixed, 12), 0x2000);
    assert.equal(u16(mixed, 168 + 12), 0x2001);
    assert.equal(c.helper.stats.retransmissionsRewritten, 2);
  });

  it('a segment beyond a gap is dropped so that it comes again in order', () => {
    const c = new Control().open();
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 });
    assert.equal(c.outAt(c.outSeq + 10, rq), null);
    assert.equal(c.helper.stats.outOfOrderDrops, 1);
    assert.equal(u16(c.out(rq) as Uint8Array, 12), 0x2000);
  });

  it('a stream with a wrong magic cookie is given up and passed unchanged', () => {
    const c = new Control().open();
    const junk = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 });
    junk[4] = 0;
    assert.deepEqual(c.out(junk), junk);
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 });
    assert.deepEqual(c.out(rq), rq);
    assert.equal(c.helper.stats.parseErrors, 1);
    assert.deepEqual(c.host.allocated, []);
  });

  it('an unknown control message type is skipped by its length', () => {
    const c = new Control().open();
    const odd = emitPptpControl({ type: C.echoRequest });
    odd[9] = 99;
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4000 });
    const sent = c.out(concat(odd, rq));
    assert.ok(sent);
    assert.equal(u16(sent, odd.length + 12), 0x2000);
    assert.equal(c.helper.stats.parseErrors, 1);
  });

  it('the third unanswered call evicts the oldest reservation (2 pending calls, as Linux)', () => {
    const c = new Control().open();
    for (const id of [1, 2, 3]) c.out(emitPptpControl({ type: C.outgoingCallRequest, callId: id }));
    assert.deepEqual(c.host.released, [0x2000]);
    assert.equal(c.helper.stats.evictions, 1);
    assert.deepEqual(
      c.helper.calls(7).map((k) => k.insideId),
      [2, 3],
    );
  });

  it('calls beyond maxCallsPerConnection and exhausted Call IDs are refused and left unchanged', () => {
    const c = new Control(new PptpHelper({ maxCallsPerConnection: 1 })).open();
    c.call(0x4000, 0x9001);
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4001 });
    assert.deepEqual(c.out(rq), rq);
    const d = new Control().open();
    d.host.failAlloc = true;
    const rq2 = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4002 });
    assert.deepEqual(d.out(rq2), rq2);
    assert.equal(c.helper.stats.refusals + d.helper.stats.refusals, 2);
  });

  it('Stop-Control-Connection-Reply and the end of the connection tear every call down', () => {
    const c = new Control().open();
    c.call(0x4000, 0x9001);
    c.out(emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4001 }));
    c.out(emitPptpControl({ type: C.stopControlConnectionRequest }));
    assert.equal(c.helper.calls(7).length, 2, 'the request alone changes nothing');
    c.in(emitPptpControl({ type: C.stopControlConnectionReply }));
    assert.deepEqual(c.helper.calls(7), []);
    assert.deepEqual(c.host.removed, [101]);
    assert.deepEqual(c.host.released, [0x2001]);
    const d = new Control(undefined, 8).open();
    d.call(0x4000, 0x9001);
    d.out(emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4001 }).subarray(0, 20));
    d.helper.onClose(8);
    assert.equal(d.helper.connectionCount, 0);
    assert.deepEqual(d.host.removed, [101]);
    assert.deepEqual(d.host.released, [0x2001], 'the reservation of a half-received request too');
  });

  it('invalid options throw ConfigError ERR_BAD_OPTION', () => {
    const bad: unknown[] = [
      { ports: [] },
      { ports: [0] },
      { ports: [70000] },
      { ports: ['1723'] },
      { tenants: [-1] },
      { maxCallsPerConnection: 0 },
      { maxPendingCalls: 1.5 },
      null,
    ];
    for (const o of bad) {
      assert.throws(
        () => new PptpHelper(o as never),
        (e: unknown) => e instanceof ConfigError && e.code === 'ERR_BAD_OPTION',
        JSON.stringify(o),
      );
    }
    const h = new PptpHelper({ ports: [1723, 11723], tenants: [2] });
    assert.deepEqual([h.name, h.proto, h.ports, h.tenants], ['pptp', 6, [1723, 11723], [2]]);
    assert.deepEqual(new PptpHelper().ports, [1723]);
  });

  it('any segmentation and retransmission of both streams gives the bytes of the unsegmented run', () => {
    const m = emitPptpControl;
    const outStream = concat(
      m({ type: C.startControlConnectionRequest }),
      ...[0x4000, 0x4001, 0x4002].map((callId) => m({ type: C.outgoingCallRequest, callId })),
      m({ type: C.setLinkInfo, peerCallId: 0x9001 }),
      m({ type: C.callClearRequest, callId: 0x4001 }),
      m({ type: C.echoReply, identifier: 0x40004001 }),
    );
    const inStream = concat(
      m({ type: C.startControlConnectionReply }),
      ...[0, 1, 2].map((k) => m({ type: C.outgoingCallReply, callId: 0x9001 + k, peerCallId: 0x2000 + k })),
      m({ type: C.setLinkInfo, peerCallId: 0x2001 }),
      m({ type: C.wanErrorNotify, peerCallId: 0x2002 }),
      m({ type: C.callDisconnectNotify, callId: 0x9002 }),
      m({ type: C.echoRequest, identifier: 0x20012002 }),
    );
    const options = { maxPendingCalls: 3 };
    const ref = new Control(new PptpHelper(options)).open();
    const refOut = ref.out(outStream);
    const refIn = ref.in(inStream);
    assert.ok(refOut && refIn);
    assert.equal(ref.helper.stats.rewrites, 3 + 1 + 3 + 2);
    /** Feeds `stream` cut at `cuts`, resending up to `back[k]` old bytes with segment k. */
    const feed = (
      c: Control,
      out: boolean,
      stream: Uint8Array,
      cuts: number[],
      back: number[],
    ): Uint8Array => {
      const seq0 = out ? c.outSeq : c.inSeq;
      const got = new Uint8Array(stream.length);
      const ends = [...new Set(cuts.map((x) => x % stream.length))]
        .filter((x) => x > 0)
        .sort((a, b) => a - b);
      let pos = 0;
      ends.push(stream.length);
      ends.forEach((end, k) => {
        const from = Math.max(0, pos - (back[k] ?? 0));
        const seg = stream.slice(from, end);
        const r = out ? c.outAt(seq0 + from, seg) : c.inAt(seq0 + from, seg);
        assert.ok(r, 'in-order or retransmitted segments are never dropped');
        assert.deepEqual(r.subarray(0, pos - from), got.subarray(from, pos), 'retransmitted bytes as before');
        got.set(r.subarray(pos - from), pos);
        pos = end;
      });
      if (out) c.outSeq = (seq0 + stream.length) >>> 0;
      else c.inSeq = (seq0 + stream.length) >>> 0;
      return got;
    };
    const cutsArb = fc.array(fc.nat(2000), { maxLength: 40 });
    const backArb = fc.array(fc.nat(60), { maxLength: 41 });
    fc.assert(
      fc.property(cutsArb, backArb, cutsArb, backArb, (co, bo, ci, bi) => {
        const c = new Control(new PptpHelper(options)).open();
        assert.equal(hex(feed(c, true, outStream, co, bo)), hex(refOut));
        assert.equal(hex(feed(c, false, inStream, ci, bi)), hex(refIn));
        assert.equal(c.helper.stats.unresolvedSplitFields, 0);
        assert.deepEqual(c.host.mappings, ref.host.mappings);
        assert.deepEqual(c.host.released, ref.host.released);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary segments in both directions never throw and keep checksums valid', () => {
    const valid = fc.constantFrom(
      ...[
        C.outgoingCallRequest,
        C.outgoingCallReply,
        C.setLinkInfo,
        C.callDisconnectNotify,
        C.incomingCallReply,
      ].map((type) => emitPptpControl({ type, callId: 0x2000, peerCallId: 0x2000 })),
    );
    const chunk = fc.oneof(fc.uint8Array({ maxLength: 64 }), valid);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), chunk, fc.nat(3)), { maxLength: 12 }), (steps) => {
        const c = new Control().open();
        for (const [out, bytes, cut] of steps) {
          const at = Math.min(bytes.length, cut * 7);
          for (const part of [bytes.subarray(0, at), bytes.subarray(at)]) {
            if (part.length === 0) continue;
            if (out) c.out(part);
            else c.in(part);
          }
        }
        c.helper.onClose(7);
      }),
      { numRuns: 2000 },
    );
  });
});
