import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  emitNatPmpAddressResponse,
  emitNatPmpMapResponse,
  emitNatPmpRequest,
  NatPmpResult,
  natPmpErrorResponse,
  natPmpResultName,
  parseNatPmpRequest,
  parseNatPmpResponse,
} from '../src/pcp.js';
import { hexBytes } from './pcp-fake-host.js';

describe('nat-pmp wire format (RFC 6886)', () => {
  it('emits the external address request as two bytes', () => {
    assert.deepEqual(emitNatPmpRequest({ opcode: 0 }), hexBytes('00 00'));
  });

  it('emits a TCP map request byte for byte as §3.3 lays it out', () => {
    const b = emitNatPmpRequest({ opcode: 2, internalPort: 8080, externalPort: 8081, lifetime: 7200 });
    assert.deepEqual(b, hexBytes('00 02 00 00 1f 90 1f 91 00 00 1c 20'));
    const r = parseNatPmpRequest(b);
    assert.deepEqual(r, {
      ok: true,
      request: { opcode: 2, internalPort: 8080, externalPort: 8081, lifetime: 7200 },
    });
  });

  it('emits the external address response with opcode 128, result, epoch and address', () => {
    const b = emitNatPmpAddressResponse(0, 42, '203.0.113.1');
    assert.deepEqual(b, hexBytes('00 80 00 00 00 00 00 2a cb 00 71 01'));
    assert.deepEqual(parseNatPmpResponse(b), {
      opcode: 0,
      result: 0,
      epoch: 42,
      externalAddress: '203.0.113.1',
    });
  });

  it('sends 0.0.0.0 as the address of a failed external address response', () => {
    const b = emitNatPmpAddressResponse(NatPmpResult.NetworkFailure, 1, '203.0.113.1');
    assert.deepEqual(b, hexBytes('00 80 00 03 00 00 00 01 00 00 00 00'));
  });

  it('emits a UDP map response with opcode 129 and the granted port and lifetime', () => {
    const b = emitNatPmpMapResponse(1, 0, 5, 5000, 6000, 3600);
    assert.deepEqual(b, hexBytes('00 81 00 00 00 00 00 05 13 88 17 70 00 00 0e 10'));
    assert.deepEqual(parseNatPmpResponse(b), {
      opcode: 1,
      result: 0,
      epoch: 5,
      internalPort: 5000,
      externalPort: 6000,
      lifetime: 3600,
    });
  });

  it('answers an unsupported version with the 8-byte error and opcode + 128', () => {
    const req = hexBytes('02 01 00 00');
    const r = parseNatPmpRequest(req);
    assert.deepEqual(r, { ok: false, result: NatPmpResult.UnsupportedVersion, reason: 'version 2' });
    assert.deepEqual(natPmpErrorResponse(req, 1, 9), hexBytes('00 81 00 01 00 00 00 09'));
  });

  it('returns the entire request with the opcode top bit and result 5 for an unsupported opcode', () => {
    const req = hexBytes('00 07 00 00 aa bb cc dd ee ff 11 22');
    assert.equal((parseNatPmpRequest(req) as { result: unknown }).result, NatPmpResult.UnsupportedOpcode);
    const e = natPmpErrorResponse(req, NatPmpResult.UnsupportedOpcode, 9);
    assert.deepEqual(e, hexBytes('00 87 00 05 aa bb cc dd ee ff 11 22'));
    // A request too short to hold the result and epoch is extended to carry them.
    assert.deepEqual(natPmpErrorResponse(hexBytes('00 07'), 5, 9), hexBytes('00 87 00 05 00 00 00 09'));
    assert.equal(natPmpErrorResponse(new Uint8Array(3000), 5, 0).length, 1100);
  });

  it('drops responses, one-byte messages and truncated map requests', () => {
    assert.equal((parseNatPmpRequest(hexBytes('00')) as { result: unknown }).result, 'drop');
    assert.equal((parseNatPmpRequest(hexBytes('00 80')) as { result: unknown }).result, 'drop');
    assert.equal((parseNatPmpRequest(hexBytes('00 01 00 00 1f 90')) as { result: unknown }).result, 'drop');
  });

  it('ignores reserved bits and trailing bytes of a map request', () => {
    const r = parseNatPmpRequest(hexBytes('00 01 ff ff 00 50 00 00 00 00 00 3c 99 99'));
    assert.deepEqual(r, {
      ok: true,
      request: { opcode: 1, internalPort: 80, externalPort: 0, lifetime: 60 },
    });
  });

  it('names the six result codes', () => {
    for (const [key, code] of Object.entries(NatPmpResult))
      assert.equal(natPmpResultName(code), key.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase());
    assert.equal(natPmpResultName(4), 'OUT_OF_RESOURCES');
    assert.equal(natPmpResultName(6), 'RESULT_6');
  });

  it('refuses out-of-range fields when emitting', () => {
    assert.throws(
      () => emitNatPmpRequest({ opcode: 1, internalPort: -1, externalPort: 0, lifetime: 0 }),
      RangeError,
    );
    assert.throws(() => emitNatPmpMapResponse(1, 0, 2 ** 32, 1, 1, 1), RangeError);
    assert.throws(() => emitNatPmpAddressResponse(0, 0, 'not-an-address'), RangeError);
  });

  it('never throws parsing arbitrary bytes, and round-trips arbitrary map requests', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        parseNatPmpRequest(b);
        parseNatPmpResponse(b);
      }),
      { numRuns: 10_000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(1 as const, 2 as const),
        fc.nat(0xffff),
        fc.nat(0xffff),
        fc.nat(0xffffffff),
        (opcode, internalPort, externalPort, lifetime) => {
          const req = { opcode, internalPort, externalPort, lifetime };
          assert.deepEqual(parseNatPmpRequest(emitNatPmpRequest(req)), { ok: true, request: req });
        },
      ),
      { numRuns: 2000 },
    );
  });
});
