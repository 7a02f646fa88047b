import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertChecksums } from '@l3kit/testkit';
import { buildPacket, foldSum, onesSum, pseudoHeaderSum4, pseudoHeaderSum6 } from '@l3kit/wire';
import {
  completeVnetChecksum,
  fillVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  VnetGso,
} from '../src/index.js';

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function bigTcp(src: string, dst: string, payloadLen: number, flags = 0x18): Uint8Array {
  const payload = new Uint8Array(payloadLen);
  for (let i = 0; i < payloadLen; i++) payload[i] = (i * 7 + 3) & 0xff;
  return buildPacket({ src, dst, tcp: { srcPort: 40000, dstPort: 5201, seq: 1, ack: 2, flags }, payload });
}

describe('vnet header', () => {
  it('leaves a packet that fits the MTU as a plain write with a zero header', () => {
    const pkt = bigTcp('10.0.0.1', '10.0.0.2', 1000);
    const copy = Uint8Array.from(pkt);
    const hdr = new Uint8Array(VNET_HDR_LEN).fill(0xaa);
    assert.equal(fillVnetHeader(hdr, pkt, 1500), false);
    assert.deepEqual([...hdr], new Array(VNET_HDR_LEN).fill(0));
    assert.deepEqual(pkt, copy);
  });

  it('turns an over-MTU IPv4 TCP packet into a TCPV4 GSO write with a partial checksum', () => {
    const pkt = bigTcp('10.0.0.1', '10.0.0.2', 30000);
    const hdr = new Uint8Array(VNET_HDR_LEN);
    assert.equal(fillVnetHeader(hdr, pkt, 1500), true);
    assert.equal(hdr[0], VNET_F_NEEDS_CSUM);
    assert.equal(hdr[1], VnetGso.TCPV4);
    assert.equal(le16(hdr, 2), 40, 'hdr_len = IPv4 + TCP headers');
    assert.equal(le16(hdr, 4), 1460, 'gso_size = MTU - 40');
    assert.equal(le16(hdr, 6), 20, 'csum_start = TCP header');
    assert.equal(le16(hdr, 8), 16, 'csum_offset = TCP checksum field');
    const field = (pkt[36] << 8) | pkt[37];
    assert.equal(field, foldSum(pseudoHeaderSum4(pkt, 0, 6, pkt.length - 20)));
  });

  it('sets the ECN bit of the GSO type when the super-packet carries CWR', () => {
    const pkt = bigTcp('10.0.0.1', '10.0.0.2', 5000, 0x80 | 0x10);
    const hdr = new Uint8Array(VNET_HDR_LEN);
    assert.equal(fillVnetHeader(hdr, pkt, 1500), true);
    assert.equal(hdr[1], VnetGso.TCPV4 | VnetGso.ECN);
  });

  it('turns an over-MTU IPv6 TCP packet into a TCPV6 GSO write', () => {
    const pkt = bigTcp('2001:db8::1', '2001:db8::2', 9000);
    const hdr = new Uint8Array(VNET_HDR_LEN);
    assert.equal(fillVnetHeader(hdr, pkt, 1500), true);
    assert.equal(hdr[1], VnetGso.TCPV6);
    assert.equal(le16(hdr, 4), 1440);
    assert.equal(le16(hdr, 6), 40);
    const field = (pkt[56] << 8) | pkt[57];
    assert.equal(field, foldSum(pseudoHeaderSum6(pkt, 0, 6, pkt.length - 40)));
  });

  it('does not use GSO for UDP, fragments or a truncated packet', () => {
    const hdr = new Uint8Array(VNET_HDR_LEN);
    const udp = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      udp: { srcPort: 1, dstPort: 2 },
      payload: new Uint8Array(3000),
    });
    assert.equal(fillVnetHeader(hdr, udp, 1500), false);
    const frag = bigTcp('10.0.0.1', '10.0.0.2', 3000);
    frag[6] |= 0x20; // MF
    assert.equal(fillVnetHeader(hdr, frag, 1500), false);
    const cut = bigTcp('10.0.0.1', '10.0.0.2', 3000).subarray(0, 2500);
    assert.equal(fillVnetHeader(hdr, cut, 1500), false);
  });

  it('completes a partial TCP checksum the way the kernel leaves it (NEEDS_CSUM)', () => {
    const pkt = bigTcp('192.168.1.10', '203.0.113.5', 20000);
    const buf = new Uint8Array(VNET_HDR_LEN + pkt.length);
    buf.set(pkt, VNET_HDR_LEN);
    const hdr = buf.subarray(0, VNET_HDR_LEN);
    assert.equal(fillVnetHeader(hdr, buf.subarray(VNET_HDR_LEN), 1500), true);
    assert.notEqual((buf[VNET_HDR_LEN + 36] << 8) | buf[VNET_HDR_LEN + 37], (pkt[36] << 8) | pkt[37]);
    assert.equal(completeVnetChecksum(buf, 0, VNET_HDR_LEN, pkt.length), true);
    assertChecksums(buf.subarray(VNET_HDR_LEN), 'completed super-packet');
    assert.deepEqual(buf.subarray(VNET_HDR_LEN), pkt);
  });

  it('completes a partial UDP checksum and sends a computed 0 as 0xFFFF', () => {
    // Find a payload whose UDP checksum computes to 0 by adjusting two bytes.
    const pkt = buildPacket({
      src: '10.1.1.1',
      dst: '10.2.2.2',
      udp: { srcPort: 1000, dstPort: 2000 },
      payload: new Uint8Array(10),
    });
    pkt[26] = 0;
    pkt[27] = 0;
    const partial = foldSum(pseudoHeaderSum4(pkt, 0, 17, pkt.length - 20));
    // Make the full sum 0xFFFF so the complemented checksum is 0: set payload word to the gap.
    pkt[26] = partial >>> 8;
    pkt[27] = partial & 0xff;
    const rest = foldSum(onesSum(pkt, 20, pkt.length - 20));
    const need = 0xffff - rest;
    pkt[28] = need >>> 8;
    pkt[29] = need & 0xff;
    const buf = new Uint8Array(VNET_HDR_LEN + pkt.length);
    buf.set(pkt, VNET_HDR_LEN);
    buf[0] = VNET_F_NEEDS_CSUM;
    buf[6] = 20;
    buf[8] = 6;
    assert.equal(completeVnetChecksum(buf, 0, VNET_HDR_LEN, pkt.length), true);
    const out = buf.subarray(VNET_HDR_LEN);
    assert.equal((out[26] << 8) | out[27], 0xffff);
    assertChecksums(out, 'UDP with a computed zero checksum');
  });

  it('refuses a header whose checksum location lies outside the packet', () => {
    const buf = new Uint8Array(VNET_HDR_LEN + 40);
    buf[0] = VNET_F_NEEDS_CSUM;
    buf[6] = 30;
    buf[8] = 16;
    assert.equal(completeVnetChecksum(buf, 0, VNET_HDR_LEN, 40), false);
  });
});
