import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyPacket } from '@l3kit/testkit';
import { buildPacket } from '@l3kit/wire';

// The oracle guards every other test's checksum claims, so it is tested against wire's builder
// (two independent implementations agreeing) and against deliberate corruption.
describe('the independent checksum oracle', () => {
  const packets = {
    tcp4: buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      tcp: { srcPort: 1, dstPort: 2, flags: 2, mss: 1460 },
      payload: 'abc',
    }),
    udp4: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 1, dstPort: 2 }, payload: 'odd' }),
    icmp4: buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      icmp: { type: 8, code: 0, identifier: 1, sequence: 2, data: new Uint8Array(5) },
    }),
    tcp6: buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      tcp: { srcPort: 1, dstPort: 2, flags: 2 },
      payload: 'abcd',
    }),
    icmp6: buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      icmpv6: { type: 128, code: 0, identifier: 1, sequence: 1 },
    }),
  };

  it('accepts packets built by @l3kit/wire', () => {
    for (const [name, p] of Object.entries(packets)) {
      const r = verifyPacket(p);
      assert.ok(r.ok, `${name}: ${JSON.stringify(r.problems)}`);
      assert.ok(r.checked.length >= 1, name);
    }
  });

  it('reports a single flipped bit in any covered byte', () => {
    for (const [name, p] of Object.entries(packets)) {
      const start = p[0] >> 4 === 4 ? 0 : 8; // IPv6 bytes 0-7 are not covered by any checksum
      for (let i = start; i < p.length; i++) {
        if (p[0] >> 4 === 4 && i >= 2 && i < 4) continue; // a length change is a length problem, also reported
        const c = p.slice();
        c[i] ^= 0x10;
        assert.equal(verifyPacket(c).ok, false, `${name}: flip at ${i} went unnoticed`);
      }
    }
  });

  it('treats a UDP/IPv4 checksum of zero as "none" and reports zero in IPv6', () => {
    const none = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      udp: { srcPort: 1, dstPort: 2, checksum: 'none' },
    });
    assert.ok(verifyPacket(none).ok);
    assert.ok(verifyPacket(none).checked.includes('udp(none)'));
    const v6 = buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', udp: { srcPort: 1, dstPort: 2 } });
    v6[46] = 0;
    v6[47] = 0;
    assert.equal(verifyPacket(v6).ok, false);
  });

  it('uses the final destination of a Routing header with segments left (RFC 8200 §8.1)', () => {
    const finalDst = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    const inner = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::9',
      udp: { srcPort: 1, dstPort: 2 },
      payload: 'x',
    });
    // Same UDP bytes (checksummed for ::9) behind a type-0 Routing header; the header's dst is ::5.
    const pkt = new Uint8Array(inner.length + 24);
    pkt.set(inner.subarray(0, 40), 0);
    pkt[39] = 5;
    pkt[6] = 43;
    pkt.set([17, 2, 0, 1, 0, 0, 0, 0], 40);
    pkt.set(finalDst, 48);
    pkt.set(inner.subarray(40), 64);
    const pl = pkt.length - 40;
    pkt[4] = pl >> 8;
    pkt[5] = pl & 0xff;
    assert.ok(verifyPacket(pkt).ok, JSON.stringify(verifyPacket(pkt).problems));
  });
});

describe('the oracle with Node Buffers', () => {
  it('leaves a Buffer packet untouched while checking it (Buffer.slice would alias)', () => {
    const pkt = Buffer.from(
      buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', udp: { srcPort: 1, dstPort: 2 }, payload: 'x' }),
    );
    const before = Buffer.from(pkt);
    assert.ok(verifyPacket(pkt).ok);
    assert.deepEqual(pkt, before);
  });
});
