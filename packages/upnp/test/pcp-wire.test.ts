import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  emitPcpRequest,
  emitPcpResponse,
  isShortLifetimeError,
  PCP_MAX_MESSAGE_LEN,
  PcpOpcode,
  type PcpOption,
  PcpResult,
  parsePcpRequest,
  parsePcpResponse,
  pcpErrorResponse,
  pcpFieldIpv4,
  pcpResultName,
  readPcpAddress,
  writePcpAddress,
} from '../src/pcp.js';
import { hexBytes, nonce } from './pcp-fake-host.js';

const N = hexBytes('01 02 03 04 05 06 07 08 09 0a 0b 0c');

// RFC 6887 §7.1 header + §11.1 MAP: version 2, opcode 1, lifetime 3600, client ::ffff:192.168.1.10,
// nonce 01..0c, protocol TCP, internal port 8080, no suggested port, suggested ::ffff:0.0.0.0.
const MAP_REQUEST = hexBytes(`
  02 01 00 00  00 00 0e 10
  00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 01 0a
  01 02 03 04 05 06 07 08 09 0a 0b 0c
  06 00 00 00  1f 90 00 00
  00 00 00 00 00 00 00 00 00 00 ff ff 00 00 00 00`);

// RFC 6887 §7.2 + §11.1: success, lifetime 3600, epoch 42, assigned 203.0.113.1:8080.
const MAP_RESPONSE = hexBytes(`
  02 81 00 00  00 00 0e 10  00 00 00 2a
  00 00 00 00 00 00 00 00 00 00 00 00
  01 02 03 04 05 06 07 08 09 0a 0b 0c
  06 00 00 00  1f 90 1f 90
  00 00 00 00 00 00 00 00 00 00 ff ff cb 00 71 01`);

// §12.1 PEER: UDP 5000 -> 198.51.100.7:3478, suggested external port 6000, lifetime 120.
const PEER_REQUEST = hexBytes(`
  02 02 00 00  00 00 00 78
  00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 01 0a
  01 02 03 04 05 06 07 08 09 0a 0b 0c
  11 00 00 00  13 88 17 70
  00 00 00 00 00 00 00 00 00 00 ff ff 00 00 00 00
  0d 96 00 00
  00 00 00 00 00 00 00 00 00 00 ff ff c6 33 64 07`);

// §13.1 THIRD_PARTY (192.168.1.20), §13.2 PREFER_FAILURE, §13.3 FILTER 198.51.100.0/120 port 80.
const THIRD_PARTY = hexBytes('01 00 00 10  00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 01 14');
const PREFER_FAILURE = hexBytes('02 00 00 00');
const FILTER = hexBytes('03 00 00 14  00 78 00 50  00 00 00 00 00 00 00 00 00 00 ff ff c6 33 64 00');

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function errorOf(b: Uint8Array): number | 'drop' | 'ok' {
  const r = parsePcpRequest(b);
  return r.ok ? 'ok' : r.result;
}

describe('pcp wire format', () => {
  it('emits a MAP request byte for byte as RFC 6887 §11.1 lays it out', () => {
    const b = emitPcpRequest({
      opcode: PcpOpcode.Map,
      lifetime: 3600,
      clientAddress: '192.168.1.10',
      map: { nonce: N, protocol: 6, internalPort: 8080, externalPort: 0, externalAddress: '0.0.0.0' },
    });
    assert.deepEqual(b, MAP_REQUEST);
  });

  it('parses the golden MAP request into its fields', () => {
    const r = parsePcpRequest(MAP_REQUEST);
    assert.ok(r.ok);
    assert.equal(r.request.opcode, 1);
    assert.equal(r.request.lifetime, 3600);
    assert.equal(r.request.clientAddress, '192.168.1.10');
    assert.equal(r.request.clientIpv4, 0xc0a8010a);
    assert.deepEqual(r.request.map, {
      nonce: N,
      protocol: 6,
      internalPort: 8080,
      externalPort: 0,
      externalAddress: '0.0.0.0',
    });
    assert.deepEqual(r.request.options, []);
    assert.equal(r.request.preferFailure, false);
  });

  it('emits and parses the golden MAP success response', () => {
    const b = emitPcpResponse({
      opcode: 1,
      result: 0,
      lifetime: 3600,
      epoch: 42,
      map: { nonce: N, protocol: 6, internalPort: 8080, externalPort: 8080, externalAddress: '203.0.113.1' },
    });
    assert.deepEqual(b, MAP_RESPONSE);
    const r = parsePcpResponse(MAP_RESPONSE);
    assert.ok(r);
    assert.equal(r.result, 0);
    assert.equal(r.epoch, 42);
    assert.equal(r.map?.externalAddress, '203.0.113.1');
    assert.equal(r.map?.externalPort, 8080);
  });

  it('emits and parses the golden PEER request with the remote peer after the MAP fields', () => {
    const b = emitPcpRequest({
      opcode: PcpOpcode.Peer,
      lifetime: 120,
      clientAddress: '192.168.1.10',
      peer: {
        nonce: N,
        protocol: 17,
        internalPort: 5000,
        externalPort: 6000,
        externalAddress: '0.0.0.0',
        remotePeerPort: 3478,
        remotePeerAddress: '198.51.100.7',
      },
    });
    assert.deepEqual(b, PEER_REQUEST);
    const r = parsePcpRequest(PEER_REQUEST);
    assert.ok(r.ok);
    assert.equal(r.request.peer?.remotePeerAddress, '198.51.100.7');
    assert.equal(r.request.peer?.remotePeerPort, 3478);
    assert.equal(r.request.peer?.externalPort, 6000);
  });

  it('emits an ANNOUNCE request as a bare 24-byte header', () => {
    const b = emitPcpRequest({ opcode: PcpOpcode.Announce, lifetime: 0, clientAddress: '192.168.1.10' });
    assert.deepEqual(b, hexBytes('02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 01 0a'));
  });

  it('encodes the THIRD_PARTY, PREFER_FAILURE and FILTER options per RFC 6887 §13', () => {
    const options: PcpOption[] = [
      { code: 1, address: '192.168.1.20' },
      { code: 2 },
      { code: 3, prefixLength: 120, remotePeerPort: 80, remotePeerAddress: '198.51.100.0' },
    ];
    const b = emitPcpRequest({
      opcode: 1,
      lifetime: 3600,
      clientAddress: '192.168.1.10',
      map: { nonce: N, protocol: 6, internalPort: 8080, externalPort: 0, externalAddress: '0.0.0.0' },
      options,
    });
    assert.deepEqual(b, concat(MAP_REQUEST, THIRD_PARTY, PREFER_FAILURE, FILTER));
    const r = parsePcpRequest(b);
    assert.ok(r.ok);
    assert.deepEqual(r.request.options, options);
    assert.equal(r.request.thirdParty, '192.168.1.20');
    assert.equal(r.request.preferFailure, true);
    assert.equal(r.request.filters.length, 1);
  });

  it('pads option data to a multiple of four bytes', () => {
    const b = emitPcpRequest({
      opcode: 0,
      lifetime: 0,
      clientAddress: '192.168.1.10',
      options: [{ code: 200, data: Uint8Array.of(0xaa, 0xbb, 0xcc) }],
    });
    assert.deepEqual(b.subarray(24), hexBytes('c8 00 00 03 aa bb cc 00'));
    const r = parsePcpRequest(b);
    assert.ok(r.ok);
    assert.deepEqual(r.request.options, [{ code: 200, data: Uint8Array.of(0xaa, 0xbb, 0xcc) }]);
  });

  it('reads an address as IPv4 only when all first 96 bits have the mapped pattern', () => {
    const b = new Uint8Array(16);
    writePcpAddress(b, 0, '192.0.2.1');
    assert.equal(pcpFieldIpv4(b, 0), 0xc0000201);
    assert.equal(readPcpAddress(b, 0), '192.0.2.1');
    b[3] = 1; // a bit set in the first 80 bits: not mapped
    assert.equal(pcpFieldIpv4(b, 0), null);
    assert.equal(readPcpAddress(b, 0), '0:1::ffff:c000:201');
    writePcpAddress(b, 0, '::');
    assert.equal(readPcpAddress(b, 0), '::');
    writePcpAddress(b, 0, '2001:db8::1');
    assert.equal(readPcpAddress(b, 0), '2001:db8::1');
    assert.throws(() => writePcpAddress(b, 0, 'nope'), RangeError);
  });

  it('names every RFC result code and sorts them into short and long lifetime errors', () => {
    // The RFC name is the constant's name in upper snake case.
    for (const [key, code] of Object.entries(PcpResult))
      assert.equal(pcpResultName(code), key.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase());
    assert.equal(pcpResultName(PcpResult.CannotProvideExternal), 'CANNOT_PROVIDE_EXTERNAL');
    assert.equal(Object.keys(PcpResult).length, 14);
    assert.equal(pcpResultName(99), 'RESULT_99');
    const short = Object.values(PcpResult).filter((c) => isShortLifetimeError(c));
    assert.deepEqual(short, [7, 8, 10, 11]);
  });

  it('refuses out-of-range fields when emitting', () => {
    const map = { nonce: N, protocol: 6, internalPort: 70000, externalPort: 0, externalAddress: '0.0.0.0' };
    assert.throws(
      () => emitPcpRequest({ opcode: 1, lifetime: 1, clientAddress: '192.168.1.10', map }),
      RangeError,
    );
    assert.throws(
      () => emitPcpRequest({ opcode: 128, lifetime: 1, clientAddress: '192.168.1.10' }),
      RangeError,
    );
    assert.throws(
      () =>
        emitPcpRequest({
          opcode: 1,
          lifetime: 1,
          clientAddress: '192.168.1.10',
          map: { ...map, internalPort: 1, nonce: new Uint8Array(5) },
        }),
      RangeError,
    );
  });
});

describe('pcp request validation (RFC 6887 §8.3, §7.3)', () => {
  it('drops messages shorter than two bytes and responses silently', () => {
    assert.equal(errorOf(new Uint8Array(0)), 'drop');
    assert.equal(errorOf(Uint8Array.of(2)), 'drop');
    const resp = MAP_REQUEST.slice();
    resp[1] |= 0x80;
    assert.equal(errorOf(resp), 'drop');
  });

  it('answers an unknown version with UNSUPP_VERSION', () => {
    for (const v of [1, 3, 255]) {
      const b = MAP_REQUEST.slice();
      b[0] = v;
      assert.equal(errorOf(b), PcpResult.UnsuppVersion);
    }
  });

  it('answers a message shorter than 24, longer than 1100 or not a multiple of 4 with MALFORMED_REQUEST', () => {
    assert.equal(errorOf(MAP_REQUEST.subarray(0, 20)), PcpResult.MalformedRequest);
    assert.equal(errorOf(concat(MAP_REQUEST, Uint8Array.of(0, 0))), PcpResult.MalformedRequest);
    const big = concat(MAP_REQUEST, new Uint8Array(1104 - MAP_REQUEST.length));
    for (let o = MAP_REQUEST.length; o < big.length; o += 4) big[o] = 0x80; // optional options
    assert.equal(errorOf(big), PcpResult.MalformedRequest);
    assert.equal(errorOf(big.subarray(0, PCP_MAX_MESSAGE_LEN)), 'ok');
  });

  it('answers an unknown opcode with UNSUPP_OPCODE', () => {
    const b = MAP_REQUEST.slice();
    b[1] = 9;
    assert.equal(errorOf(b), PcpResult.UnsuppOpcode);
  });

  it('answers MAP or PEER without their opcode data with MALFORMED_REQUEST', () => {
    assert.equal(errorOf(MAP_REQUEST.subarray(0, 56)), PcpResult.MalformedRequest);
    assert.equal(errorOf(PEER_REQUEST.subarray(0, 60)), PcpResult.MalformedRequest);
  });

  it('answers an option running past the message with MALFORMED_OPTION', () => {
    const opt = hexBytes('01 00 00 10 00 00 00 00');
    assert.equal(errorOf(concat(MAP_REQUEST, opt)), PcpResult.MalformedOption);
    const odd = hexBytes('c8 00 00 05 00 00 00 00'); // 5 bytes of data padded to 8: overruns
    assert.equal(errorOf(concat(MAP_REQUEST, odd)), PcpResult.MalformedOption);
  });

  it('answers a known option with the wrong length with MALFORMED_OPTION', () => {
    assert.equal(
      errorOf(concat(MAP_REQUEST, hexBytes('01 00 00 04 c0 a8 01 14'))),
      PcpResult.MalformedOption,
    );
    assert.equal(
      errorOf(concat(MAP_REQUEST, hexBytes('02 00 00 04 00 00 00 00'))),
      PcpResult.MalformedOption,
    );
  });

  it('answers a repeated THIRD_PARTY or PREFER_FAILURE with MALFORMED_OPTION but accepts several FILTERs', () => {
    assert.equal(errorOf(concat(MAP_REQUEST, THIRD_PARTY, THIRD_PARTY)), PcpResult.MalformedOption);
    assert.equal(errorOf(concat(MAP_REQUEST, PREFER_FAILURE, PREFER_FAILURE)), PcpResult.MalformedOption);
    assert.equal(errorOf(concat(MAP_REQUEST, FILTER, FILTER)), 'ok');
  });

  it('answers PREFER_FAILURE or FILTER in a PEER request, or any option in ANNOUNCE, with MALFORMED_OPTION', () => {
    assert.equal(errorOf(concat(PEER_REQUEST, PREFER_FAILURE)), PcpResult.MalformedOption);
    assert.equal(errorOf(concat(PEER_REQUEST, FILTER)), PcpResult.MalformedOption);
    assert.equal(errorOf(concat(PEER_REQUEST, THIRD_PARTY)), 'ok');
    const announce = emitPcpRequest({ opcode: 0, lifetime: 0, clientAddress: '192.168.1.10' });
    assert.equal(errorOf(concat(announce, THIRD_PARTY)), PcpResult.MalformedOption);
  });

  it('answers an unknown mandatory option with UNSUPP_OPTION and skips an unknown optional one', () => {
    assert.equal(errorOf(concat(MAP_REQUEST, hexBytes('32 00 00 00'))), PcpResult.UnsuppOption);
    assert.equal(errorOf(concat(MAP_REQUEST, hexBytes('7f 00 00 04 01 02 03 04'))), PcpResult.UnsuppOption);
    const r = parsePcpRequest(concat(MAP_REQUEST, hexBytes('80 00 00 04 01 02 03 04')));
    assert.ok(r.ok);
    assert.deepEqual(r.request.options, [{ code: 128, data: Uint8Array.of(1, 2, 3, 4) }]);
  });

  it('answers a FILTER with an impossible prefix length with MALFORMED_OPTION', () => {
    const short = FILTER.slice();
    short[5] = 64; // an IPv4-mapped prefix must be 96..128
    assert.equal(errorOf(concat(MAP_REQUEST, short)), PcpResult.MalformedOption);
    const long = FILTER.slice();
    long[5] = 129;
    assert.equal(errorOf(concat(MAP_REQUEST, long)), PcpResult.MalformedOption);
    const all = FILTER.slice();
    all[5] = 0; // "remove all filters"
    assert.equal(errorOf(concat(MAP_REQUEST, all)), 'ok');
  });

  it('builds error responses from the request bytes with the response header written over', () => {
    const req = concat(MAP_REQUEST, PREFER_FAILURE);
    const e = pcpErrorResponse(req, PcpResult.NotAuthorized, 1800, 7);
    assert.equal(e.length, req.length);
    assert.deepEqual(
      e.subarray(0, 24),
      hexBytes('02 81 00 02 00 00 07 08 00 00 00 07 00 00 00 00 00 00 00 00 00 00 00 00'),
    );
    assert.deepEqual(e.subarray(24), req.subarray(24));
    const parsed = parsePcpResponse(e);
    assert.equal(parsed?.result, PcpResult.NotAuthorized);
    assert.deepEqual(parsed?.map?.nonce, N);
  });

  it('pads an error response for a short or odd request and cuts one for an oversized request', () => {
    const short = pcpErrorResponse(Uint8Array.of(3, 1, 0), PcpResult.UnsuppVersion, 1800, 0);
    assert.equal(short.length, 24);
    assert.equal(short[0], 2);
    assert.equal(short[1], 0x81);
    assert.equal(short[3], 1);
    const odd = pcpErrorResponse(new Uint8Array(27).fill(2), PcpResult.MalformedRequest, 1, 0);
    assert.equal(odd.length, 28);
    const big = pcpErrorResponse(new Uint8Array(5000).fill(2), PcpResult.MalformedRequest, 1, 0);
    assert.equal(big.length, PCP_MAX_MESSAGE_LEN);
  });
});

describe('pcp wire properties', () => {
  it('never throws when parsing arbitrary bytes as a request or a response', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (b) => {
        parsePcpRequest(b);
        parsePcpResponse(b);
      }),
      { numRuns: 10_000 },
    );
  });

  it('never throws on arbitrary bytes after a valid MAP or PEER header, and finds any error', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), (peer, tail) => {
        const b = concat(peer ? PEER_REQUEST : MAP_REQUEST, tail);
        const r = parsePcpRequest(b);
        if (tail.length % 4 !== 0) assert.equal(r.ok ? 'ok' : r.result, PcpResult.MalformedRequest);
      }),
      { numRuns: 10_000 },
    );
  });

  it('round-trips arbitrary MAP and PEER requests through emit and parse', () => {
    const addr = fc.oneof(fc.ipV4(), fc.constantFrom('::', '2001:db8::7', 'fe80::1'));
    fc.assert(
      fc.property(
        fc.record({
          lifetime: fc.nat(0xffffffff),
          seed: fc.nat(255),
          protocol: fc.nat(255),
          internalPort: fc.nat(0xffff),
          externalPort: fc.nat(0xffff),
          externalAddress: addr,
          client: addr,
          remotePeerPort: fc.nat(0xffff),
          remotePeerAddress: addr,
          peer: fc.boolean(),
        }),
        (x) => {
          const map = {
            nonce: nonce(x.seed),
            protocol: x.protocol,
            internalPort: x.internalPort,
            externalPort: x.externalPort,
            externalAddress: x.externalAddress,
          };
          const b = emitPcpRequest({
            opcode: x.peer ? 2 : 1,
            lifetime: x.lifetime,
            clientAddress: x.client,
            ...(x.peer
              ? { peer: { ...map, remotePeerPort: x.remotePeerPort, remotePeerAddress: x.remotePeerAddress } }
              : { map }),
          });
          const r = parsePcpRequest(b);
          assert.ok(r.ok);
          assert.equal(r.request.lifetime, x.lifetime);
          assert.equal(r.request.clientAddress, x.client);
          const got = r.request.peer ?? r.request.map;
          assert.deepEqual(
            { ...got, remotePeerAddress: undefined, remotePeerPort: undefined },
            {
              ...map,
              remotePeerAddress: undefined,
              remotePeerPort: undefined,
            },
          );
          if (x.peer) assert.equal(r.request.peer?.remotePeerAddress, x.remotePeerAddress);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
