/**
 * What translation may change: outbound only the source address and port (or echo identifier),
 * inbound only the destination, plus TTL and checksums. Everything else is byte-for-byte intact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXT, echo, H1, packet, R1, Rig, tcp, udp } from './helpers.js';

/** Offsets where `a` and `b` differ. */
function diff(a: Uint8Array, b: Uint8Array): number[] {
  assert.equal(a.length, b.length, 'length unchanged');
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

function allowed(offsets: number[], ok: number[]): void {
  const bad = offsets.filter((o) => !ok.includes(o));
  assert.deepEqual(bad, [], `unexpected bytes changed at offsets ${bad.join(', ')}`);
}

const IP_TTL_CSUM = [8, 10, 11];
const IP_SRC = [12, 13, 14, 15];
const IP_DST = [16, 17, 18, 19];

describe('translation', () => {
  it('an outbound UDP datagram changes only in TTL, source address, source port and checksums', () => {
    const rig = new Rig({ portPreservation: false });
    const input = packet({
      src: H1,
      dst: R1,
      ttl: 33,
      identification: 0xabcd,
      dontFragment: true,
      udp: { srcPort: 5000, dstPort: 53 },
      payload: 'payload bytes that must not change',
    });
    const out = rig.fromInside(input).out[0];
    assert.equal(out.ttl, 32);
    assert.equal(out.identification, 0xabcd, 'IP ID kept');
    assert.equal(out.bytes[6] & 0x40, 0x40, 'DF kept');
    allowed(diff(input, out.bytes), [...IP_TTL_CSUM, ...IP_SRC, 20, 21, 26, 27]);
    // Inbound reply: only TTL, destination address, destination port and checksums.
    const reply = packet({
      src: R1,
      dst: EXT,
      ttl: 50,
      udp: { srcPort: 53, dstPort: out.srcPort as number },
      payload: 'answer',
    });
    const back = rig.fromOutside(reply).in[0];
    assert.equal(back.ttl, 49);
    allowed(diff(reply, back.bytes), [...IP_TTL_CSUM, ...IP_DST, 22, 23, 26, 27]);
    rig.close();
  });

  it('a TCP segment with options and payload changes only in TTL, source, source port and checksums', () => {
    const rig = new Rig({ portPreservation: false });
    const opts = Uint8Array.from([2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0]);
    const input = packet({
      src: H1,
      dst: R1,
      tcp: { srcPort: 40000, dstPort: 443, flags: 'S', seq: 0xdeadbeef, window: 29200, options: opts },
    });
    const out = rig.fromInside(input).out[0];
    allowed(diff(input, out.bytes), [...IP_TTL_CSUM, ...IP_SRC, 20, 21, 36, 37]);
    const data = tcp(H1, 40000, R1, 443, 'PA', 0xdeadbef0, 77, 'x'.repeat(999));
    const out2 = rig.fromInside(data).out[0];
    assert.equal(out2.seq, 0xdeadbef0, 'sequence numbers untouched');
    assert.equal(out2.ack, 77);
    allowed(diff(data, out2.bytes), [...IP_TTL_CSUM, ...IP_SRC, 20, 21, 36, 37]);
    rig.close();
  });

  it('an echo request changes only in TTL, source, identifier and checksums', () => {
    const rig = new Rig();
    const input = echo(H1, R1, 0x1234, 7);
    const out = rig.fromInside(input).out[0];
    allowed(diff(input, out.bytes), [...IP_TTL_CSUM, ...IP_SRC, 22, 23, 24, 25]);
    rig.close();
  });

  it('an inbound packet with TTL 1 is answered with time exceeded from the external address', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const r = rig.fromOutside(packet({ src: R1, dst: EXT, ttl: 1, udp: { srcPort: 53, dstPort: x } }));
    assert.equal(r.in.length, 0);
    assert.equal(r.out.length, 1);
    assert.deepEqual([r.out[0].src, r.out[0].dst, r.out[0].icmpType, r.out[0].icmpCode], [EXT, R1, 11, 0]);
    rig.close();
  });

  it('IP options are skipped: ports are found and rewritten after the options, options kept', () => {
    const rig = new Rig();
    const opt = Uint8Array.from([0x94, 0x04, 0x00, 0x00]); // Router Alert
    const input = packet({
      src: H1,
      dst: R1,
      options: opt,
      udp: { srcPort: 5000, dstPort: 53 },
      payload: 'opts',
    });
    const out = rig.fromInside(input).out[0];
    assert.equal(out.ihl, 24);
    assert.deepEqual([...out.bytes.subarray(20, 24)], [...opt]);
    assert.deepEqual([out.src, out.dstPort], [EXT, 53]);
    const reply = packet({
      src: R1,
      dst: EXT,
      options: opt,
      udp: { srcPort: 53, dstPort: out.srcPort as number },
      payload: 'r',
    });
    const back = rig.fromOutside(reply).in[0];
    assert.deepEqual([back.dst, back.dstPort, back.ihl], [H1, 5000, 24]);
    rig.close();
  });

  it('bytes after Total Length (link padding) do not confuse translation', () => {
    const rig = new Rig();
    const x = rig.udpOut(H1, 5000, R1, 53).srcPort as number;
    const core = udp(R1, 53, EXT, x, 'pad');
    const padded = new Uint8Array(core.length + 6);
    padded.set(core);
    padded.fill(0xee, core.length);
    const back = rig.fromOutside(padded).in;
    assert.equal(back.length, 1);
    assert.deepEqual([back[0].dst, back[0].dstPort, back[0].totalLength], [H1, 5000, core.length]);
    assert.equal(new TextDecoder().decode(back[0].payload), 'pad');
    rig.close();
  });
});
