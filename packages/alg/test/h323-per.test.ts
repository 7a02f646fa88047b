import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L3kitError } from '@l3kit/core';
import fc from 'fast-check';
import * as H323Schemas from '../src/h323/h225.js';
import { BOOL, choice, F, int, O, octets, PerReader, PerWriter, seq, seqOf, str } from '../src/h323/per.js';
import {
  type AsnType,
  type AsnValue,
  H323UserInformation,
  MultimediaSystemControlMessage,
  OpenLogicalChannel,
  PerError,
  perDecode,
  perEncode,
} from '../src/h323.js';
import {
  CONF_ID,
  connectUuie,
  facilityUuie,
  fastStartOffer,
  INSIDE,
  olcAckValue,
  olcValue,
  progressUuie,
  REMOTE,
  setupUuie,
  strip,
  ta225,
  ta245,
} from './h323-fixtures.js';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(
    s
      .replace(/\s+/g, '')
      .match(/../g)
      ?.map((h) => parseInt(h, 16)) ?? [],
  );
const rep = (byte: string, n: number): string => byte.repeat(n);
const PID_BYTES = '06 0008914a0004'; // OID length 6: {0 0} → 00, 8, 2250 → 91 4a, 0, 4

function uu(body: AsnValue): AsnValue {
  return { 'h323-uu-pdu': { 'h323-message-body': body } };
}
const ENDPOINT_MIN: AsnValue = { mc: false, undefinedNode: false };
const CONF_11 = new Uint8Array(16).fill(0x11);

describe('aligned PER primitives', () => {
  const cases: Array<[string, AsnType, AsnValue, string]> = [
    // range 4 → 2-bit field, not aligned
    ['INTEGER (1..4) in a 2-bit field', int(1, 4), 3, '80'],
    // range 255 → 8-bit field, not aligned (preceded by nothing here)
    ['INTEGER (1..255) in an 8-bit field', int(1, 255), 255, 'fe'],
    // range 256 → one aligned octet
    ['INTEGER (0..255) in one aligned octet', int(0, 255), 200, 'c8'],
    // range 65536 → two aligned octets
    ['INTEGER (0..65535) in two aligned octets', int(0, 65535), 1720, '06b8'],
    // range > 64K: 2-bit length (octets - 1), aligned value octets
    ['INTEGER (1..192400) with a length prefix', int(1, 192400), 64001, '40 fa00'],
    ['INTEGER (0..4294967295) with a length prefix', int(0, 4294967295), 4294967295, 'c0 ffffffff'],
    // unconstrained length determinant: one octet below 128, two octets (10xxxxxx) below 16384
    ['OCTET STRING with a short length', octets(), Uint8Array.of(1, 2, 3), '03 010203'],
    ['OCTET STRING with a 2-octet length', octets(), new Uint8Array(200).fill(7), `80c8 ${rep('07', 200)}`],
    // SIZE(1..256): length in one aligned octet (range 256)
    ['OCTET STRING (SIZE(1..256))', octets(1, 256), Uint8Array.of(0xab), '00 ab'],
    // dialedDigits: 7-bit length, aligned 4-bit indexes into "#*,0123456789"
    ['dialedDigits "1#0"', str(4, 1, 128, '0123456789#*,'), '1#0', '04 4030'],
    // BMPString SIZE(1..256): aligned length octet, 16-bit characters
    ['h323-ID "é"', str(16, 1, 256), 'é', '00 00e9'],
    // SEQUENCE with extension bit and one OPTIONAL field present
    [
      'SEQUENCE { a BOOLEAN, b INTEGER(0..7) OPTIONAL, ... }',
      seq(true, [F('a', BOOL), O('b', int(0, 7))]),
      { a: true, b: 5 },
      '74',
    ],
    // CHOICE root index and an extension alternative carried as an open type
    [
      'CHOICE extension alternative',
      choice(true, [['x', int(0, 1)]], [['y', int(0, 255)]]),
      { y: 9 },
      '80 01 09',
    ],
    ['SEQUENCE OF with SIZE(0..3)', seqOf(int(0, 3), 0, 3), [1, 2, 3], 'db'],
  ];
  for (const [name, type, value, bytes] of cases) {
    it(`encodes and decodes ${name} as ${bytes}`, () => {
      const enc = perEncode(type, value);
      assert.deepEqual([...enc], [...hex(bytes)]);
      assert.deepEqual(strip(perDecode(type, enc).value), strip(value));
    });
  }

  it('writes normally small numbers of 64 and more with a length prefix and reads them back', () => {
    for (const n of [0, 63, 64, 300, 70000]) {
      const w = new PerWriter();
      w.bits(1, 1); // misalign on purpose: the long form aligns its length octet
      w.smallNumber(n);
      const r = new PerReader(w.finish(), 0, w.finish().length);
      assert.equal(r.bits(1), 1);
      assert.equal(r.smallNumber(), n);
    }
    // 64: bit 1, padding, length 1, value 64
    const w = new PerWriter();
    w.smallNumber(64);
    assert.deepEqual([...w.finish()], [0x80, 0x01, 0x40]);
  });

  it('sends an empty encoding as one zero octet and decodes it back', () => {
    assert.deepEqual([...perEncode(seq(false, []), {})], [0]);
  });

  it('rejects values that do not fit their type with a PerError', () => {
    assert.throws(
      () => perEncode(int(1, 4), 5),
      (e: unknown) => e instanceof PerError && e instanceof L3kitError && e.code === 'ERR_PER',
    );
    assert.throws(() => perEncode(octets(4, 4), Uint8Array.of(1)), PerError);
    assert.throws(() => perEncode(str(4, 1, 128, '0123456789#*,'), 'x'), PerError);
    assert.throws(() => perEncode(choice(false, [['a', int(0, 1)]]), { b: 1 }), PerError);
  });

  it('rejects truncated input and fragmented lengths with a PerError', () => {
    assert.throws(() => perDecode(int(0, 65535), Uint8Array.of(1)), PerError);
    assert.throws(() => perDecode(octets(), Uint8Array.of(0xc1, 0, 0)), PerError);
  });
});

describe('hand-checked H.225.0 vectors', () => {
  it('encodes a Setup with h245Address, sourceCallSignalAddress and callIdentifier bit-exactly', () => {
    const value = uu({
      setup: {
        protocolIdentifier: [0, 0, 8, 2250, 0, 4],
        h245Address: ta225([INSIDE, 1800]),
        sourceInfo: ENDPOINT_MIN,
        activeMC: false,
        conferenceID: CONF_11,
        conferenceGoal: { create: null },
        callType: { pointToPoint: null },
        sourceCallSignalAddress: ta225([INSIDE, 1720]),
        callIdentifier: { guid: new Uint8Array(16).fill(0x22) },
      },
    });
    const expected = hex(
      [
        // 0 UserInformation: ext 0, user-data absent | UU-PDU: ext 0, nonStandardData absent |
        //   body CHOICE: ext 0, index 0 (setup, 3 bits) | Setup: ext 1, 7 OPTIONAL bits 1000000
        '00 c0',
        PID_BYTES, // 2 protocolIdentifier
        // 9 h245Address: TransportAddress ext 0 + index 0 (4 bits), padding; ip; port 1800
        '00 c0a8010a 0708',
        // 16 sourceInfo: ext 0, 6 OPTIONAL bits 0, mc 0, undefinedNode 0; activeMC 0; padding
        '0000',
        rep('11', 16), // 18 conferenceID
        // 34 conferenceGoal create (ext 0, 2 bits), callType pointToPoint (ext 0, 2 bits),
        //    additions: count - 1 = 2 (normally small, 7 bits), bitmap 101
        '0015',
        // 36 sourceCallSignalAddress as an open type of 7 octets
        '07 00 c0a8010a 06b8',
        // 44 callIdentifier as an open type: ext 0 + padding, guid
        `11 00 ${rep('22', 16)}`,
      ].join(''),
    );
    const enc = perEncode(H323UserInformation, value);
    assert.deepEqual([...enc], [...expected]);
    const r = perDecode(H323UserInformation, expected);
    assert.equal(r.complete, true);
    assert.deepEqual(
      r.hits.map((h) => [h.path, h.ipOff, h.port]),
      [
        ['h323-uu-pdu.h323-message-body.setup.h245Address.ipAddress', 10, 1800],
        ['h323-uu-pdu.h323-message-body.setup.sourceCallSignalAddress.ipAddress', 38, 1720],
      ],
    );
    assert.deepEqual(strip(r.value), strip(value));
  });

  it('encodes a CallProceeding with h245Address bit-exactly', () => {
    const value = uu({
      callProceeding: {
        protocolIdentifier: [0, 0, 8, 2250, 0, 4],
        destinationInfo: ENDPOINT_MIN,
        h245Address: ta225([INSIDE, 1801]),
      },
    });
    // 00 UserInformation/UU-PDU bits 0000, body index 1 (0 001), CallProceeding ext 0, h245Address present
    const expected = hex(`01 40 ${PID_BYTES} 0000 c0a8010a 0709`);
    assert.deepEqual([...perEncode(H323UserInformation, value)], [...expected]);
    const r = perDecode(H323UserInformation, expected);
    assert.deepEqual(
      r.hits.map((h) => [h.ipOff, h.port]),
      [[11, 1801]],
    );
  });

  it('encodes an Alerting with h245Address bit-exactly', () => {
    const value = uu({
      alerting: {
        protocolIdentifier: [0, 0, 8, 2250, 0, 4],
        destinationInfo: ENDPOINT_MIN,
        h245Address: ta225([INSIDE, 1802]),
      },
    });
    // body index 3 (0 011); destinationInfo (9 bits) + TransportAddress CHOICE (4 bits) + padding
    const expected = hex(`03 40 ${PID_BYTES} 0000 c0a8010a 070a`);
    assert.deepEqual([...perEncode(H323UserInformation, value)], [...expected]);
    assert.deepEqual(
      perDecode(H323UserInformation, expected).hits.map((h) => [h.ipOff, h.port]),
      [[11, 1802]],
    );
  });

  it('encodes a Connect with h245Address bit-exactly', () => {
    const value = uu({
      connect: {
        protocolIdentifier: [0, 0, 8, 2250, 0, 4],
        h245Address: ta225([INSIDE, 1803]),
        destinationInfo: ENDPOINT_MIN,
        conferenceID: CONF_11,
      },
    });
    // body index 2 (0 010), Connect ext 0 + h245Address present; destinationInfo 9 bits + pad
    const expected = hex(`02 40 ${PID_BYTES} 00 c0a8010a 070b 0000 ${rep('11', 16)}`);
    assert.deepEqual([...perEncode(H323UserInformation, value)], [...expected]);
    assert.deepEqual(
      perDecode(H323UserInformation, expected).hits.map((h) => [h.ipOff, h.port]),
      [[10, 1803]],
    );
  });

  it('encodes a Facility (startH245) whose h245Address is an extension addition bit-exactly', () => {
    const value = uu({
      facility: {
        protocolIdentifier: [0, 0, 8, 2250, 0, 4],
        reason: { startH245: null },
        h245Address: ta225([INSIDE, 1804]),
      },
    });
    const expected = hex(
      [
        '06 80', // body index 6 (0 110); Facility ext 1, 3 OPTIONAL bits 000
        PID_BYTES,
        '81 01 00', // reason: extension alternative 1 (startH245), open type of NULL = one zero octet
        '0c 04', // additions: count - 1 = 6, bitmap 0000001
        '07 00 c0a8010a 070c', // h245Address open type
      ].join(' '),
    );
    assert.deepEqual([...perEncode(H323UserInformation, value)], [...expected]);
    assert.deepEqual(
      perDecode(H323UserInformation, expected).hits.map((h) => [h.ipOff, h.port]),
      [[16, 1804]],
    );
  });
});

describe('hand-checked H.245 vectors', () => {
  it('encodes an OpenLogicalChannel with mediaControlChannel bit-exactly', () => {
    const value: AsnValue = {
      request: {
        openLogicalChannel: {
          forwardLogicalChannelNumber: 1,
          forwardLogicalChannelParameters: {
            dataType: { audioData: { g711Ulaw64k: 20 } },
            multiplexParameters: {
              h2250LogicalChannelParameters: {
                sessionID: 1,
                mediaControlChannel: ta245([INSIDE, 6001]),
                silenceSuppression: false,
                dynamicRTPPayloadType: 101,
              },
            },
          },
        },
      },
    };
    const expected = hex(
      [
        '03 00', // request (ext 0, 2 bits 00), openLogicalChannel (ext 0, 4 bits 0011), OLC ext 0, reverse absent
        '0000', // forwardLogicalChannelNumber 1 (two aligned octets, value - 1)
        '0c 60 13', // params ext 0, portNumber absent; DataType audioData (0 011); g711Ulaw64k (0 0011); 20 - 1
        '80 0b', // multiplexParameters: extension alternative 0 (h2250), open type of 11 octets
        '05 40 01', // h2250: ext 0, OPTIONAL bits 0000101010, sessionID 1 (aligned octet)
        '00 c0a8010a 1771', // mediaControlChannel unicast iPAddress 192.168.1.10:6001
        '14', // silenceSuppression FALSE, dynamicRTPPayloadType 101 - 96 in 5 bits
      ].join(' '),
    );
    assert.deepEqual([...perEncode(MultimediaSystemControlMessage, value)], [...expected]);
    const r = perDecode(MultimediaSystemControlMessage, expected);
    assert.deepEqual(
      r.hits.map((h) => [h.ipOff, h.port]),
      [[13, 6001]],
    );
    assert.match(
      r.hits[0].path,
      /h2250LogicalChannelParameters\.mediaControlChannel\.unicastAddress\.iPAddress$/,
    );
  });

  it('encodes an OpenLogicalChannelAck with media and media-control channels bit-exactly', () => {
    const expected = hex(
      [
        '22 c0', // response (001), openLogicalChannelAck (0 00101), OLCAck ext 1, reverse absent
        '0000', // forwardLogicalChannelNumber 1
        '02 80', // additions: count - 1 = 1, bitmap 01 (forwardMultiplexAckParameters)
        '10', // open type of 16 octets
        '1c 00 00', // CHOICE (ext 0, 1 alternative), h2250Ack ext 0, OPTIONAL 01110, sessionID 1 → 0, TA/UA/iP headers
        'c0a8010a 1770', // mediaChannel 192.168.1.10:6000
        '00 c0a8010a 1771', // mediaControlChannel 192.168.1.10:6001
      ].join(' '),
    );
    assert.deepEqual(
      [...perEncode(MultimediaSystemControlMessage, olcAckValue([INSIDE, 6000], [INSIDE, 6001]))],
      [...expected],
    );
    const r = perDecode(MultimediaSystemControlMessage, expected);
    assert.deepEqual(
      r.hits.map((h) => [h.ipOff, h.port]),
      [
        [10, 6000],
        [17, 6001],
      ],
    );
  });

  it('stops at H.245 messages that carry no transport address and reports them partial', () => {
    // request.terminalCapabilitySet (index 2) is not modelled
    const r = perDecode(MultimediaSystemControlMessage, hex('02 00 00'));
    assert.equal(r.complete, false);
    assert.equal(r.hits.length, 0);
  });
});

describe('realistic messages', () => {
  const fs = fastStartOffer([INSIDE, 5000], [INSIDE, 5001]);
  const messages: Array<[string, AsnType, AsnValue, number]> = [
    [
      'Setup with fastStart',
      H323UserInformation,
      setupUuie({ h245: [INSIDE, 1800], src: [INSIDE, 1720], dest: [REMOTE, 1720], fastStart: fs }),
      6,
    ],
    ['CallProceeding', H323UserInformation, progressUuie('callProceeding', [INSIDE, 1801]), 1],
    ['Alerting with fastStart', H323UserInformation, progressUuie('alerting', [INSIDE, 1802], fs), 4],
    ['Connect with fastStart', H323UserInformation, connectUuie([INSIDE, 1803], fs), 4],
    ['Facility', H323UserInformation, facilityUuie({ h245: [INSIDE, 1804], alternative: [REMOTE, 1720] }), 2],
    ['OpenLogicalChannel', MultimediaSystemControlMessage, olcValue([INSIDE, 6001]), 1],
    ['OpenLogicalChannelAck', MultimediaSystemControlMessage, olcAckValue([INSIDE, 6000], [INSIDE, 6001]), 2],
  ];
  for (const [name, type, value, n] of messages) {
    it(`round-trips a ${name} and finds its ${n} address(es) at the right offsets`, () => {
      const enc = perEncode(type, value);
      const r = perDecode(type, enc);
      assert.equal(r.complete, true);
      assert.deepEqual(strip(r.value), strip(value));
      assert.equal(r.hits.length, n);
      for (const h of r.hits) {
        const ip = `${enc[h.ipOff]}.${enc[h.ipOff + 1]}.${enc[h.ipOff + 2]}.${enc[h.ipOff + 3]}`;
        assert.equal(ip === INSIDE || ip === REMOTE, true, `${h.path} points at ${ip}`);
        assert.equal((enc[h.ipOff + 4] << 8) | enc[h.ipOff + 5], h.port);
      }
    });
  }

  it('keeps the conference id intact while decoding', () => {
    const r = perDecode(H323UserInformation, perEncode(H323UserInformation, connectUuie([INSIDE, 1803])));
    const v = r.value as {
      'h323-uu-pdu': { 'h323-message-body': { connect: { conferenceID: Uint8Array } } };
    };
    assert.deepEqual([...v['h323-uu-pdu']['h323-message-body'].connect.conferenceID], [...CONF_ID]);
  });
});

// ------------------------------------------------------------------------------------------
// Random values of a schema, for round-trip properties.

const BMP_CHARS = ['a', 'Z', '0', ' ', 'é', 'ß', 'Ω', '中'];

function arbOf(type: AsnType): fc.Arbitrary<AsnValue> {
  switch (type.t) {
    case 'seq': {
      const parts: Record<string, fc.Arbitrary<AsnValue | undefined>> = {};
      for (const f of type.fields) {
        if (f.type.t === 'stop') continue;
        parts[f.name] = f.optional ? fc.option(arbOf(f.type), { nil: undefined }) : arbOf(f.type);
      }
      for (const f of type.adds) parts[f.name] = fc.option(arbOf(f.type), { nil: undefined, freq: 3 });
      return fc.record(parts) as fc.Arbitrary<AsnValue>;
    }
    case 'choice': {
      const alts = [...type.alts, ...type.adds].filter((a) => a.type.t !== 'stop');
      return fc.oneof(...alts.map((a) => arbOf(a.type).map((v): AsnValue => ({ [a.name]: v }))));
    }
    case 'seqof':
      return fc.array(arbOf(type.of), { minLength: type.lb ?? 0, maxLength: Math.min(type.ub ?? 2, 2) });
    case 'int':
      return fc.integer({ min: type.lb, max: type.ub });
    case 'bool':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'octets':
      if (type.contains) return arbOf(type.contains);
      return fc.uint8Array({
        minLength: type.lb ?? 0,
        maxLength: Math.min(type.ub ?? Infinity, (type.lb ?? 0) + 12),
      });
    case 'str': {
      const chars = type.alphabet ? [...type.alphabet] : type.bits === 16 ? BMP_CHARS : ['a', 'b', '1'];
      return fc
        .array(fc.constantFrom(...chars), { minLength: type.lb ?? 0, maxLength: Math.min(type.ub ?? 8, 8) })
        .map((a) => a.join(''));
    }
    case 'oid':
      return fc
        .tuple(
          fc.integer({ min: 0, max: 2 }),
          fc.integer({ min: 0, max: 39 }),
          fc.array(fc.nat(), { maxLength: 5 }),
        )
        .map(([a, b, rest]) => [a, b, ...rest]);
    case 'opaque':
      return fc.uint8Array({ maxLength: 10 });
    case 'stop':
      throw new Error('stop types have no values');
  }
}

describe('properties', () => {
  it('round-trips random H323-UserInformation values', () => {
    fc.assert(
      fc.property(arbOf(H323UserInformation), (v) => {
        const enc = perEncode(H323UserInformation, v);
        const r = perDecode(H323UserInformation, enc);
        assert.deepEqual(strip(r.value), strip(v));
        const fast = perDecode(H323UserInformation, enc, 0, enc.length, false);
        assert.deepEqual(fast.hits, r.hits, 'the value-less walk finds the same addresses');
        assert.equal(fast.bits, r.bits);
        for (const h of r.hits)
          assert.equal(
            ((enc[h.ipOff] << 24) | (enc[h.ipOff + 1] << 16) | (enc[h.ipOff + 2] << 8) | enc[h.ipOff + 3]) >>>
              0,
            h.ip,
          );
      }),
      { numRuns: 1500 },
    );
  });

  it('round-trips random OpenLogicalChannel values and finds every unicast IPv4 address', () => {
    fc.assert(
      fc.property(arbOf(OpenLogicalChannel), (v) => {
        const enc = perEncode(OpenLogicalChannel, v);
        const r = perDecode(OpenLogicalChannel, enc);
        assert.deepEqual(strip(r.value), strip(v));
        const json = JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? [...x] : x));
        assert.equal(r.hits.length, json.split('"unicastAddress":{"iPAddress"').length - 1);
        for (const h of r.hits) assert.equal((enc[h.ipOff + 4] << 8) | enc[h.ipOff + 5], h.port);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but PerError on arbitrary bytes', () => {
    for (const type of [H323UserInformation, MultimediaSystemControlMessage, OpenLogicalChannel]) {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
          let full: ReturnType<typeof perDecode> | PerError;
          try {
            full = perDecode(type, b);
          } catch (e) {
            assert.ok(e instanceof PerError, String(e));
            full = e;
          }
          let fast: ReturnType<typeof perDecode> | PerError;
          try {
            fast = perDecode(type, b, 0, b.length, false);
          } catch (e) {
            assert.ok(e instanceof PerError, String(e));
            fast = e;
          }
          // The value-less walk the helper uses accepts and rejects exactly what the full decode does.
          assert.equal(fast instanceof PerError, full instanceof PerError);
          if (!(fast instanceof PerError) && !(full instanceof PerError))
            assert.deepEqual(fast.hits, full.hits);
        }),
        { numRuns: 10_000 },
      );
    }
  });

  it('never throws anything but PerError on mutated valid messages', () => {
    const base = perEncode(
      H323UserInformation,
      setupUuie({
        h245: [INSIDE, 1800],
        src: [INSIDE, 1720],
        fastStart: fastStartOffer([INSIDE, 5000], [INSIDE, 5001]),
      }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(base.length),
        (muts, cut) => {
          const b = base.slice(0, Math.max(1, cut));
          for (const [i, x] of muts) if (i < b.length) b[i] = x;
          try {
            const r = perDecode(H323UserInformation, b);
            for (const h of r.hits) assert.ok(h.ipOff >= 0 && h.ipOff + 6 <= b.length);
          } catch (e) {
            assert.ok(e instanceof PerError, String(e));
          }
        },
      ),
      { numRuns: 10_000 },
    );
  });
});

describe('schema sanity', () => {
  it('models the root of Setup-UUIE with 7 OPTIONAL fields and 13 root fields (H.225.0 v4)', () => {
    const { SetupUUIE } = H323Schemas;
    assert.equal(SetupUUIE.t, 'seq');
    if (SetupUUIE.t !== 'seq') return;
    assert.equal(SetupUUIE.fields.length, 13);
    assert.equal(SetupUUIE.fields.filter((f) => f.optional).length, 7);
    assert.deepEqual(
      SetupUUIE.adds.slice(0, 7).map((f) => f.name),
      [
        'sourceCallSignalAddress',
        'remoteExtensionAddress',
        'callIdentifier',
        'h245SecurityCapability',
        'tokens',
        'cryptoTokens',
        'fastStart',
      ],
    );
  });
});
