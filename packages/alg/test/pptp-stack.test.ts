/**
 * PPTP control connections between real userspace TCP stacks (`VirtualHost`) through the NAT and
 * the PptpHelper: a small MTU makes the client's messages share and span segments (one segment
 * ends in the middle of a Call ID), and the segment carrying it is lost once after the NAT, so the
 * helper must rewrite the retransmission identically for the server to see a consistent stream.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type L3Device, ManualClock, ManualScheduler } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { VirtualHost } from '@l3kit/stack';
import { assertChecksums } from '@l3kit/testkit';
import {
  PptpControlType as C,
  emitPptpControl,
  type PptpControlRepr,
  PptpHelper,
  parsePptpControl,
} from '../src/pptp.js';

const SERVER = '203.0.113.20';
const CLIENT_CALL_ID = 0x4000;

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

async function pump(sched: ManualScheduler, done: () => boolean, maxMs = 60_000): Promise<void> {
  const start = sched.clock.now();
  await tick();
  while (!done()) {
    if (sched.clock.now() - start > maxMs)
      throw new Error(`condition not met after ${maxMs} ms virtual time`);
    sched.advance(10);
    await tick();
  }
}

/** Splits a byte stream into PPTP control messages by their length field. */
class MessageReader {
  private buf = Buffer.alloc(0);
  constructor(private readonly onMessage: (m: PptpControlRepr) => void) {}
  push(data: Buffer): void {
    this.buf = Buffer.concat([this.buf, data]);
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < len) return;
      const m = parsePptpControl(new Uint8Array(this.buf.subarray(0, len)));
      assert.ok(m, 'a well-formed control message');
      this.onMessage(m);
      this.buf = this.buf.subarray(len);
    }
  }
}

/** The link between the NAT's outside and the server: checks checksums, can lose one segment. */
function outsideLink(nat: L3Device, server: L3Device, lose: (pkt: Uint8Array) => boolean): void {
  nat.setHandler((p) => {
    assertChecksums(p, 'NAT → server');
    if (!lose(p)) server.send(p);
  });
  server.setHandler((p) => {
    assertChecksums(p, 'server → NAT');
    nat.send(p);
  });
}

describe('PPTP between TCP stacks through the NAT', () => {
  it('two clients with one address in two tenants open calls over split, lost and retransmitted segments', async () => {
    const sched = new ManualScheduler(new ManualClock(1_000_000));
    const nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', clock: sched.clock });
    const helper = new PptpHelper();
    nat.addHelper(helper);
    const server = new VirtualHost({ addr: `${SERVER}/24`, gateway: '203.0.113.1', scheduler: sched });
    // The segment that ends inside the Call ID of each client's Outgoing-Call-Request is lost once.
    const lost = new Set<string>();
    outsideLink(nat.outside(), server, (p) => {
      const hl = (p[0] & 15) * 4;
      const dataLen = ((p[2] << 8) | p[3]) - hl - (p[hl + 12] >> 4) * 4;
      const key = `${(p[hl] << 8) | p[hl + 1]}`;
      if (p[9] !== 6 || dataLen !== 169 || lost.has(key)) return false;
      lost.add(key);
      return true;
    });

    // Server: answers Start-Control-Connection and Outgoing-Call requests, recording Call IDs.
    const seenCallIds: number[] = [];
    const errors: string[] = [];
    let nextServerCallId = 0x9001;
    server.tcp.listen(1723, (sock) => {
      const reader = new MessageReader((m) => {
        if (m.type === C.startControlConnectionRequest) {
          assert.equal(m.hostName, 'local');
          sock.write(
            emitPptpControl({ type: C.startControlConnectionReply, hostName: 'pac', vendor: 'Microsoft' }),
          );
        } else if (m.type === C.outgoingCallRequest) {
          seenCallIds.push(m.callId ?? -1);
          sock.write(
            emitPptpControl({ type: C.outgoingCallReply, callId: nextServerCallId++, peerCallId: m.callId }),
          );
        }
      });
      sock.on('data', (d: Buffer) => reader.push(d));
      sock.on('error', (e: Error) => errors.push(`server: ${e.message}`));
    });

    // Clients: the same address in tenants 1 and 2; MTU 209 gives segments of 169 bytes, so the
    // first one carries the 156-byte Start-Control-Connection-Request and 13 bytes of the
    // Outgoing-Call-Request: its header and the first byte of its Call ID.
    const replies: PptpControlRepr[][] = [[], []];
    const clients: VirtualHost[] = [];
    for (const tenant of [1, 2]) {
      const host = new VirtualHost({
        addr: '192.168.1.10/24',
        gateway: '192.168.1.1',
        scheduler: sched,
        mtu: 209,
      });
      clients.push(host);
      nat.connectL3(host, { tenant });
      const sock = host.tcp.connect({ host: SERVER, port: 1723 });
      const reader = new MessageReader((m) => replies[tenant - 1].push(m));
      sock.on('data', (d: Buffer) => reader.push(d));
      sock.on('error', (e: Error) => errors.push(`client ${tenant}: ${e.message}`));
      sock.on('connect', () => {
        sock.write(
          Buffer.concat([
            emitPptpControl({ type: C.startControlConnectionRequest }),
            emitPptpControl({ type: C.outgoingCallRequest, callId: CLIENT_CALL_ID, serial: tenant }),
          ]),
        );
      });
    }
    await pump(sched, () => replies[0].length === 2 && replies[1].length === 2);

    assert.equal(lost.size, 2, 'one segment lost per client, then retransmitted');
    assert.ok(helper.stats.retransmissionsRewritten >= 2, 'the retransmissions were rewritten from the log');
    assert.equal(helper.stats.splitFields, 2);
    assert.equal(helper.stats.unresolvedSplitFields, 0);
    assert.equal(seenCallIds.length, 2);
    assert.equal(new Set(seenCallIds).size, 2, `the server saw distinct Call IDs ${seenCallIds}`);
    assert.ok(!seenCallIds.includes(CLIENT_CALL_ID));
    for (const r of replies) {
      assert.equal(r[1].type, C.outgoingCallReply);
      assert.equal(r[1].peerCallId, CLIENT_CALL_ID, 'each client sees its own Call ID');
    }
    const gre = nat
      .mappings()
      .filter((m) => m.proto === 47)
      .map((m) => [m.tenant, m.insidePort, m.externalPort, m.remotePort])
      .sort((a, b) => a[0] - b[0]);
    const serverIdFor = (outside: number) => 0x9001 + seenCallIds.indexOf(outside);
    assert.deepEqual(
      gre,
      [1, 2].map((t) => [t, CLIENT_CALL_ID, gre[t - 1][2], serverIdFor(gre[t - 1][2])]),
    );
    assert.deepEqual(new Set(gre.map((g) => g[2])), new Set(seenCallIds));
    assert.deepEqual(errors, []);
    for (const c of clients) c.close(); // resets the connections (errors from here on are expected)
    server.close();
    nat.close();
  });
});
