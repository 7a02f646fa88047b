/**
 * PPTP through a real `Nat` with the PptpHelper: scripted TCP peers run the control connection
 * (RFC 2637 messages as pptp-linux sends them), then enhanced GRE flows both ways. Three clients
 * share one inside Call ID: two with the same address in two tenants, two with different
 * addresses in one tenant.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, type PipeEnd, pipeL3 } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';
import { PptpControlType as C, emitPptpControl, PptpHelper } from '../src/pptp.js';

const EXT = '203.0.113.1';
const SRV = '198.51.100.7';
const CLIENT_CALL_ID = 0x4000;
const CLIENT_PORT = 50000;
const SYN = 0x02;
const ACK = 0x10;
const PSH_ACK = 0x18;
/** PPP LCP Echo-Request inside GRE (what pppd sends as keepalive). */
const PPP = Uint8Array.from([0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78]);

interface Seg {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  payload: Uint8Array;
}

interface Gre {
  src: string;
  dst: string;
  callId: number;
  payload: Uint8Array;
}

function ip(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Reads a TCP segment byte by byte (independent of the wire views). */
function tcpOf(p: Uint8Array): Seg {
  assert.equal(p[9], 6, 'TCP');
  const hl = (p[0] & 15) * 4;
  const total = rd16(p, 2);
  return {
    src: ip(p, 12),
    dst: ip(p, 16),
    srcPort: rd16(p, hl),
    dstPort: rd16(p, hl + 2),
    seq: rd32(p, hl + 4),
    ack: rd32(p, hl + 8),
    flags: p[hl + 13],
    payload: p.slice(hl + (p[hl + 12] >> 4) * 4, total),
  };
}

/** Reads enhanced GRE (RFC 2637 §4.1): flags, protocol 0x880B, payload length, call ID, [seq], [ack]. */
function greOf(p: Uint8Array): Gre {
  assert.equal(p[9], 47, 'GRE');
  const hl = (p[0] & 15) * 4;
  assert.equal(p[hl] & 0x20, 0x20, 'key present');
  assert.equal(p[hl + 1] & 7, 1, 'version 1');
  assert.equal(rd16(p, hl + 2), 0x880b);
  const len = rd16(p, hl + 4);
  const hdr = 8 + (p[hl] & 0x10 ? 4 : 0) + (p[hl + 1] & 0x80 ? 4 : 0);
  return {
    src: ip(p, 12),
    dst: ip(p, 16),
    callId: rd16(p, hl + 6),
    payload: p.slice(hl + hdr, hl + hdr + len),
  };
}

function u16(b: Uint8Array, o: number): number {
  return rd16(b, o);
}

/** The NAT with two tenants, the PPTP helper and capture of everything it emits. */
class Net {
  readonly clock = new ManualClock(1_000_000);
  readonly nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', clock: this.clock });
  readonly helper = new PptpHelper();
  readonly removeHelper: () => void;
  /** Packets the NAT sent out of its outside interface. */
  readonly outside: Uint8Array[] = [];
  readonly tenants = new Map<number, { end: PipeEnd; got: Uint8Array[] }>();

  constructor(withHelper = true) {
    this.removeHelper = withHelper ? this.nat.addHelper(this.helper) : () => {};
    this.nat.outside().setHandler((p) => this.outside.push(checked(p, 'outside')));
    for (const id of [1, 2]) {
      const [natEnd, hostEnd] = pipeL3();
      const got: Uint8Array[] = [];
      hostEnd.setHandler((p) => got.push(checked(p, `tenant ${id}`)));
      this.nat.connectL3(natEnd, { tenant: id });
      this.tenants.set(id, { end: hostEnd, got });
    }
  }

  /** Sends from an inside host of tenant `tenant`; returns what left on the outside. */
  fromTenant(tenant: number, pkt: Uint8Array): Uint8Array[] {
    const n = this.outside.length;
    this.tenants.get(tenant)?.end.send(pkt);
    return this.outside.slice(n);
  }

  /** Sends from the outside; returns what each tenant received. */
  fromOutside(pkt: Uint8Array): Map<number, Uint8Array[]> {
    const before = new Map([...this.tenants].map(([id, t]) => [id, t.got.length]));
    this.nat.outside().send(pkt);
    return new Map([...this.tenants].map(([id, t]) => [id, t.got.slice(before.get(id))]));
  }

  close(): void {
    this.nat.close();
  }
}

function checked(p: Uint8Array, where: string): Uint8Array {
  const copy = p.slice();
  assertChecksums(copy, `packet emitted to ${where}`);
  return copy;
}

/** One inside PPTP client (scripted TCP) and the server's side of its control connection. */
class Client {
  seq = 10_000;
  /** Server side. */
  srvSeq = 0xfffff000;
  extPort = -1;
  constructor(
    readonly net: Net,
    readonly tenant: number,
    readonly addr: string,
  ) {}

  private seg(flags: number, payload: Uint8Array, seq = this.seq): Uint8Array {
    return buildPacket({
      src: this.addr,
      dst: SRV,
      tcp: { srcPort: CLIENT_PORT, dstPort: 1723, seq, ack: this.srvSeq, flags },
      payload,
    });
  }

  /** The client sends `payload` (at `seq`, default: the next byte); returns the segments that left the NAT. */
  send(payload: Uint8Array, seq?: number): Seg[] {
    const out = this.net.fromTenant(this.tenant, this.seg(PSH_ACK, payload, seq)).map(tcpOf);
    if (seq === undefined) this.seq += payload.length;
    return out;
  }

  /** The server sends `payload` to this client's external port; returns what the client got. */
  reply(payload: Uint8Array, flags = PSH_ACK): Seg[] {
    const pkt = buildPacket({
      src: SRV,
      dst: EXT,
      tcp: { srcPort: 1723, dstPort: this.extPort, seq: this.srvSeq, ack: this.seq, flags },
      payload,
    });
    const got = this.net.fromOutside(pkt);
    for (const [id, pkts] of got)
      if (id !== this.tenant) assert.equal(pkts.length, 0, `nothing leaks to tenant ${id}`);
    this.srvSeq += payload.length;
    return (got.get(this.tenant) ?? []).map(tcpOf).filter((s) => s.dst === this.addr);
  }

  /** Three-way handshake through the NAT. */
  connect(): void {
    const [syn] = this.net.fromTenant(this.tenant, this.seg(SYN, new Uint8Array(0), this.seq - 1)).map(tcpOf);
    assert.equal(syn.src, EXT);
    this.extPort = syn.srcPort;
    this.srvSeq -= 1;
    const [sa] = this.reply(new Uint8Array(0), SYN | ACK);
    this.srvSeq += 1;
    assert.equal(sa.dstPort, CLIENT_PORT);
    this.net.fromTenant(this.tenant, this.seg(ACK, new Uint8Array(0)));
  }

  /** Control connection set-up and an outgoing call; returns the outside Call ID the server saw. */
  openCall(serverCallId: number, callId = CLIENT_CALL_ID): number {
    this.connect();
    const sccrq = emitPptpControl({ type: C.startControlConnectionRequest });
    const [s1] = this.send(sccrq);
    assert.deepEqual(s1.payload, sccrq, 'Start-Control-Connection-Request unchanged');
    this.reply(
      emitPptpControl({ type: C.startControlConnectionReply, hostName: 'pac', vendor: 'Microsoft' }),
    );
    const [rq] = this.send(emitPptpControl({ type: C.outgoingCallRequest, callId, serial: 1 }));
    const outsideId = u16(rq.payload, 12);
    const [rp] = this.reply(
      emitPptpControl({ type: C.outgoingCallReply, callId: serverCallId, peerCallId: outsideId }),
    );
    assert.equal(u16(rp.payload, 12), serverCallId);
    assert.equal(u16(rp.payload, 14), callId, 'the client sees its own Call ID as the peer Call ID');
    return outsideId;
  }

  /** GRE from this client to the server (keyed with the server's Call ID). */
  greOut(serverCallId: number, sequence: number): Gre[] {
    const pkt = buildPacket({
      src: this.addr,
      dst: SRV,
      gre: { version: 1, protocolType: 0x880b, callId: serverCallId, sequence },
      payload: PPP,
    });
    return this.net.fromTenant(this.tenant, pkt).map(greOf);
  }
}

/** GRE from the server to the NAT, keyed with `callId` (an outside Call ID); what each tenant got. */
function greIn(net: Net, callId: number, sequence: number): Array<[number, Gre]> {
  const pkt = buildPacket({
    src: SRV,
    dst: EXT,
    gre: { version: 1, protocolType: 0x880b, callId, sequence },
    payload: PPP,
  });
  const got: Array<[number, Gre]> = [];
  for (const [id, pkts] of net.fromOutside(pkt)) for (const p of pkts) got.push([id, greOf(p)]);
  return got;
}

function greMappings(net: Net): Array<[number, string, number, number, number]> {
  return net.nat
    .mappings()
    .filter((m) => m.proto === 47)
    .map(
      (m) =>
        [m.tenant, m.insideIp, m.insidePort, m.externalPort, m.remotePort] as [
          number,
          string,
          number,
          number,
          number,
        ],
    )
    .sort((a, b) => a[3] - b[3]);
}

describe('PPTP through the NAT', () => {
  it('three clients with one Call ID (same address in two tenants, two addresses in one) each get their GRE', () => {
    const net = new Net();
    const clients = [
      new Client(net, 1, '192.168.1.10'),
      new Client(net, 2, '192.168.1.10'),
      new Client(net, 1, '192.168.1.11'),
    ];
    const serverIds = [0x9001, 0x9002, 0x9003];
    const outsideIds = clients.map((c, i) => c.openCall(serverIds[i]));
    assert.equal(new Set(outsideIds).size, 3, `distinct outside Call IDs ${outsideIds}`);
    assert.deepEqual(
      greMappings(net),
      clients
        .map((c, i) => [c.tenant, c.addr, CLIENT_CALL_ID, outsideIds[i], serverIds[i]])
        .sort((a, b) => (a[3] as number) - (b[3] as number)),
    );
    clients.forEach((c, i) => {
      // Client → server: the server's Call ID, the NAT's address.
      const out = c.greOut(serverIds[i], 1);
      assert.equal(out.length, 1);
      assert.deepEqual([out[0].src, out[0].dst, out[0].callId], [EXT, SRV, serverIds[i]]);
      assert.deepEqual(out[0].payload, PPP);
      // Server → client: the outside Call ID comes back as the client's, to that client only.
      const back = greIn(net, outsideIds[i], 1);
      assert.equal(back.length, 1, `one delivery for client ${i}`);
      const [tenant, g] = back[0];
      assert.deepEqual([tenant, g.dst, g.callId], [c.tenant, c.addr, CLIENT_CALL_ID]);
      assert.deepEqual(g.payload, PPP);
    });
    assert.equal(greIn(net, 0x7777, 2).length, 0, 'GRE for an unknown Call ID is dropped');
    assert.equal(net.helper.stats.greMappings, 3);
    net.close();
  });

  it('Call-Clear-Request and Call-Disconnect-Notify remove the GRE mapping of that call only', () => {
    const net = new Net();
    const a = new Client(net, 1, '192.168.1.10');
    const b = new Client(net, 2, '192.168.1.10');
    const xa = a.openCall(0x9001);
    const xb = b.openCall(0x9002);
    const [cc] = a.send(emitPptpControl({ type: C.callClearRequest, callId: CLIENT_CALL_ID }));
    assert.equal(u16(cc.payload, 12), xa, 'Call-Clear-Request names the outside Call ID');
    a.reply(emitPptpControl({ type: C.callDisconnectNotify, callId: 0x9001 }));
    assert.equal(greIn(net, xa, 5).length, 0, 'the cleared call gets no more GRE');
    assert.equal(greIn(net, xb, 5).length, 1, 'the other call still does');
    assert.deepEqual(
      greMappings(net).map((m) => m[3]),
      [xb],
    );
    b.reply(emitPptpControl({ type: C.callDisconnectNotify, callId: 0x9002 }));
    assert.deepEqual(greMappings(net), []);
    net.close();
  });

  it('a disconnected call is forgotten and its GRE mapping gone at the latest after the GRE timeout', () => {
    const net = new Net();
    const a = new Client(net, 1, '192.168.1.10');
    const xa = a.openCall(0x9001);
    const control = net.nat.mappings().find((m) => m.proto === 6);
    assert.ok(control);
    assert.equal(net.helper.calls(control.id).length, 1, 'the helper keys its state by the connection id');
    a.reply(emitPptpControl({ type: C.callDisconnectNotify, callId: 0x9001 }));
    assert.equal(net.helper.stats.callsCleared, 1);
    assert.deepEqual(net.helper.calls(control.id), []);
    net.clock.advance(301_000);
    net.nat.maintain();
    assert.deepEqual(greMappings(net), []);
    assert.equal(greIn(net, xa, 9).length, 0);
    net.close();
  });

  it('an Outgoing-Call-Request split across two segments leaves the NAT rewritten once complete', () => {
    const net = new Net();
    const a = new Client(net, 1, '192.168.1.10');
    a.connect();
    const rq = emitPptpControl({ type: C.outgoingCallRequest, callId: CLIENT_CALL_ID, serial: 2 });
    const start = a.seq;
    // Split inside the Call ID field: its first byte ends the first segment.
    const [s1] = a.send(rq.subarray(0, 13));
    const [s2] = a.send(rq.subarray(13));
    const sent = new Uint8Array(rq.length);
    sent.set(s1.payload, 0);
    sent.set(s2.payload, 13);
    const outsideId = u16(sent, 12);
    assert.notEqual(outsideId, CLIENT_CALL_ID);
    assert.deepEqual(sent.subarray(14), rq.subarray(14));
    assert.equal(s2.seq, (s1.seq + 13) >>> 0, 'sequence numbers untouched (same length)');
    // The first segment again (a retransmission) carries the same rewritten byte.
    const [again] = a.send(rq.subarray(0, 13), start);
    assert.deepEqual(again.payload, s1.payload);
    // The server answers in two segments as well; the mapping appears once the reply is whole.
    const rp = emitPptpControl({ type: C.outgoingCallReply, callId: 0x9001, peerCallId: outsideId });
    const [r1] = a.reply(rp.subarray(0, 20));
    assert.equal(u16(r1.payload, 14), CLIENT_CALL_ID);
    assert.deepEqual(greMappings(net), []);
    a.reply(rp.subarray(20));
    assert.deepEqual(greMappings(net), [[1, '192.168.1.10', CLIENT_CALL_ID, outsideId, 0x9001]]);
    net.close();
  });

  it('a client using Call ID 0 (pptp-linux numbers its calls from 0) gets its GRE', () => {
    const net = new Net();
    const a = new Client(net, 1, '192.168.1.10');
    const x = a.openCall(0x9001, 0);
    assert.notEqual(x, 0);
    assert.equal(net.helper.stats.refusals, 0);
    const back = greIn(net, x, 1);
    assert.deepEqual(
      back.map(([t, g]) => [t, g.dst, g.callId]),
      [[1, '192.168.1.10', 0]],
    );
    net.close();
  });

  it('an inside server (PAC) behind a port forward gets an outside Call ID and its GRE', () => {
    const net = new Net();
    const PAC = '192.168.1.20';
    net.nat.addPortForward({ proto: 6, outsidePort: 1723, insideIp: PAC, insidePort: 1723, tenant: 1 });
    const seq = { pns: 5000, pac: 90_000 };
    /** A segment of the remote client (PNS) or of the inside server (PAC); what came through. */
    const segment = (from: 'pns' | 'pac', flags: number, payload: Uint8Array): Seg[] => {
      const pns = from === 'pns';
      const pkt = buildPacket({
        src: pns ? SRV : PAC,
        dst: pns ? EXT : SRV,
        tcp: {
          srcPort: pns ? 40000 : 1723,
          dstPort: pns ? 1723 : 40000,
          seq: pns ? seq.pns : seq.pac,
          ack: pns ? seq.pac : seq.pns,
          flags,
        },
        payload,
      });
      seq[from] += payload.length + (flags & SYN ? 1 : 0);
      return (pns ? (net.fromOutside(pkt).get(1) ?? []) : net.fromTenant(1, pkt)).map(tcpOf);
    };
    const fromPns = (flags: number, payload: Uint8Array) => segment('pns', flags, payload);
    const fromPac = (flags: number, payload: Uint8Array) => segment('pac', flags, payload);
    assert.equal(fromPns(SYN, new Uint8Array(0)).length, 1);
    assert.equal(fromPac(SYN | ACK, new Uint8Array(0)).length, 1);
    const ocrq = emitPptpControl({ type: C.outgoingCallRequest, callId: 0x5555 });
    const [rq] = fromPns(PSH_ACK, ocrq);
    assert.deepEqual(rq.payload, ocrq, 'the remote client names its own call');
    const [rp] = fromPac(
      PSH_ACK,
      emitPptpControl({ type: C.outgoingCallReply, callId: 0x0101, peerCallId: 0x5555 }),
    );
    const outsideId = u16(rp.payload, 12);
    assert.notEqual(outsideId, 0x0101);
    assert.equal(u16(rp.payload, 14), 0x5555);
    assert.deepEqual(greMappings(net), [[1, PAC, 0x0101, outsideId, 0x5555]]);
    const back = greIn(net, outsideId, 1);
    assert.deepEqual(
      back.map(([t, g]) => [t, g.dst, g.callId]),
      [[1, PAC, 0x0101]],
    );
    const pkt = buildPacket({
      src: PAC,
      dst: SRV,
      gre: { version: 1, protocolType: 0x880b, callId: 0x5555, sequence: 1 },
      payload: PPP,
    });
    const out = net.fromTenant(1, pkt).map(greOf);
    assert.deepEqual(
      out.map((g) => [g.src, g.dst, g.callId]),
      [[EXT, SRV, 0x5555]],
    );
    net.close();
  });

  it('without the helper the Call IDs pass untranslated and the server GRE finds no client', () => {
    const net = new Net(false);
    const a = new Client(net, 1, '192.168.1.10');
    a.connect();
    const [rq] = a.send(emitPptpControl({ type: C.outgoingCallRequest, callId: CLIENT_CALL_ID }));
    assert.equal(u16(rq.payload, 12), CLIENT_CALL_ID);
    assert.equal(a.greOut(0x9001, 1).length, 0, 'no GRE mapping: dropped');
    assert.equal(greIn(net, CLIENT_CALL_ID, 1).length, 0);
    net.close();
  });

  it('removing the helper stops the translation and ends its connections', () => {
    const net = new Net();
    const a = new Client(net, 1, '192.168.1.10');
    a.openCall(0x9001);
    assert.equal(net.helper.connectionCount, 1);
    net.removeHelper();
    assert.equal(net.helper.connectionCount, 0, 'onClose for the connections it served');
    const [rq] = a.send(emitPptpControl({ type: C.outgoingCallRequest, callId: 0x4001 }));
    assert.equal(u16(rq.payload, 12), 0x4001);
    net.close();
  });
});
