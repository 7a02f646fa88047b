/**
 * Realistic H.323 messages for the H.323 ALG tests, built as ASN.1 values and encoded with the
 * helper's PER encoder: Q.931 Setup / CallProceeding / Alerting / Connect / Facility with the
 * fields an OpenH323-style endpoint sends, fastStart proposals (G.711 µ-law both ways) and the
 * H.245 OpenLogicalChannel / OpenLogicalChannelAck of a slow-start call.
 */
import {
  type AsnValue,
  buildQ931,
  buildTpkt,
  H323UserInformation,
  MultimediaSystemControlMessage,
  OpenLogicalChannel,
  perEncode,
  Q931MessageType,
  RasMessage,
} from '../src/h323.js';

/** An IPv4 address + port as dotted text and number. */
export type Addr = [string, number];

/** Inside endpoint, remote endpoint and the NAT's external address used by the tests. */
export const INSIDE = '192.168.1.10';
export const REMOTE = '198.51.100.1';
export const EXTERNAL = '203.0.113.1';

const enc = new TextEncoder();

function ipBytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number));
}

/** H.225 TransportAddress value. */
export function ta225([ip, port]: Addr): AsnValue {
  return { ipAddress: { ip: ipBytes(ip), port } };
}
/** H.245 TransportAddress value (unicast IPv4). */
export function ta245([ip, port]: Addr): AsnValue {
  return { unicastAddress: { iPAddress: { network: ipBytes(ip), tsapIdentifier: port } } };
}

/** The EndpointType an OpenH323-based terminal sends (vendor + terminal). */
export const ENDPOINT: AsnValue = {
  vendor: {
    vendor: { t35CountryCode: 9, t35Extension: 0, manufacturerCode: 61 },
    productId: enc.encode('l3kit test terminal'),
    versionId: enc.encode('1.19.1'),
  },
  terminal: {},
  mc: false,
  undefinedNode: false,
};

/** H.225.0 version 4 protocol identifier. */
export const PID = [0, 0, 8, 2250, 0, 4];
/** A conference id. */
export const CONF_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
/** A call identifier GUID. */
export const CALL_ID = { guid: Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i) };

/** G.711 µ-law, 20 ms frames. */
const G711U: AsnValue = { audioData: { g711Ulaw64k: 20 } };

/** The OpenLogicalChannel of a G.711 channel the sender transmits on, with its RTCP address. */
function sendingChannel(channel: number, rtcp: Addr, extra: Record<string, AsnValue>): AsnValue {
  return {
    forwardLogicalChannelNumber: channel,
    forwardLogicalChannelParameters: {
      dataType: G711U,
      multiplexParameters: {
        h2250LogicalChannelParameters: {
          sessionID: 1,
          mediaControlChannel: ta245(rtcp),
          ...extra,
          silenceSuppression: false,
        },
      },
    },
  };
}

/** fastStart proposal of a caller: it sends G.711 (RTCP at `rtcp`) and receives at `rtp` / `rtcp`. */
export function fastStartOffer(rtp: Addr, rtcp: Addr): AsnValue[] {
  const send = sendingChannel(1, rtcp, {});
  const receive: AsnValue = {
    forwardLogicalChannelNumber: 2,
    forwardLogicalChannelParameters: { dataType: { nullData: null }, multiplexParameters: { none: null } },
    reverseLogicalChannelParameters: {
      dataType: G711U,
      multiplexParameters: {
        h2250LogicalChannelParameters: {
          sessionID: 1,
          mediaChannel: ta245(rtp),
          mediaControlChannel: ta245(rtcp),
        },
      },
    },
  };
  return [send, receive];
}

/** The UUIE of a Setup. */
export function setupUuie(o: { h245?: Addr; src?: Addr; dest?: Addr; fastStart?: AsnValue[] }): AsnValue {
  return {
    'h323-uu-pdu': {
      'h323-message-body': {
        setup: {
          protocolIdentifier: PID,
          h245Address: o.h245 ? ta225(o.h245) : undefined,
          sourceAddress: [{ 'h323-ID': 'alice' }, { dialedDigits: '1001' }],
          sourceInfo: ENDPOINT,
          destinationAddress: [{ dialedDigits: '2002' }],
          destCallSignalAddress: o.dest ? ta225(o.dest) : undefined,
          activeMC: false,
          conferenceID: CONF_ID,
          conferenceGoal: { create: null },
          callType: { pointToPoint: null },
          sourceCallSignalAddress: o.src ? ta225(o.src) : undefined,
          callIdentifier: CALL_ID,
          fastStart: o.fastStart,
          mediaWaitForConnect: false,
          canOverlapSend: false,
          multipleCalls: false,
          maintainConnection: false,
        },
      },
      h245Tunneling: false,
    },
  };
}

/** A complete Setup TPKT from `self`: h245Address :1800, sourceCallSignalAddress :1720, fastStart RTP :5000 / RTCP :5001. */
export function fullSetupTpkt(self: string, dest: Addr): Uint8Array {
  return q931Tpkt(
    Q931MessageType.setup,
    setupUuie({
      h245: [self, 1800],
      src: [self, 1720],
      dest,
      fastStart: fastStartOffer([self, 5000], [self, 5001]),
    }),
  );
}

/** The UUIE of a CallProceeding / Alerting (same root layout). */
export function progressUuie(
  kind: 'callProceeding' | 'alerting',
  h245?: Addr,
  fastStart?: AsnValue[],
): AsnValue {
  return {
    'h323-uu-pdu': {
      'h323-message-body': {
        [kind]: {
          protocolIdentifier: PID,
          destinationInfo: ENDPOINT,
          h245Address: h245 ? ta225(h245) : undefined,
          callIdentifier: CALL_ID,
          fastStart,
          multipleCalls: false,
          maintainConnection: false,
        },
      },
      h245Tunneling: false,
    },
  };
}

/** The UUIE of a Connect. */
export function connectUuie(h245?: Addr, fastStart?: AsnValue[]): AsnValue {
  return {
    'h323-uu-pdu': {
      'h323-message-body': {
        connect: {
          protocolIdentifier: PID,
          h245Address: h245 ? ta225(h245) : undefined,
          destinationInfo: ENDPOINT,
          conferenceID: CONF_ID,
          callIdentifier: CALL_ID,
          fastStart,
          multipleCalls: false,
          maintainConnection: false,
        },
      },
      h245Tunneling: false,
    },
  };
}

/** The UUIE of a Facility (startH245 with h245Address, or callForwarded with alternativeAddress). */
export function facilityUuie(o: { h245?: Addr; alternative?: Addr }): AsnValue {
  return {
    'h323-uu-pdu': {
      'h323-message-body': {
        facility: {
          protocolIdentifier: PID,
          alternativeAddress: o.alternative ? ta225(o.alternative) : undefined,
          conferenceID: CONF_ID,
          reason: o.alternative ? { callForwarded: null } : { startH245: null },
          callIdentifier: CALL_ID,
          h245Address: o.h245 ? ta225(o.h245) : undefined,
        },
      },
    },
  };
}

/** A Q.931 message in a TPKT carrying `uuie` (Setup also gets a Bearer capability IE, as real endpoints send). */
export function q931Tpkt(type: number, uuie: AsnValue, crv = 0x1234): Uint8Array {
  const ies =
    type === Q931MessageType.setup
      ? [
          { id: 0x04, data: Uint8Array.of(0x88, 0x90, 0xa5) }, // Bearer capability: unrestricted digital
          { id: 0x70, data: Uint8Array.of(0x81, 0x32, 0x30, 0x30, 0x32) }, // Called party number "2002"
        ]
      : [];
  return buildTpkt(buildQ931(type, crv, ies, perEncode(H323UserInformation, uuie)));
}

/** An H.245 OpenLogicalChannel (slow start): the sender's G.711 channel with its RTCP address. */
export function olcValue(rtcp: Addr, channel = 1): AsnValue {
  return { request: { openLogicalChannel: sendingChannel(channel, rtcp, { dynamicRTPPayloadType: 101 }) } };
}

/** An H.245 OpenLogicalChannelAck: the receiver's RTP and RTCP addresses. */
export function olcAckValue(rtp: Addr, rtcp: Addr, channel = 1): AsnValue {
  return {
    response: {
      openLogicalChannelAck: {
        forwardLogicalChannelNumber: channel,
        forwardMultiplexAckParameters: {
          h2250LogicalChannelAckParameters: {
            sessionID: 1,
            mediaChannel: ta245(rtp),
            mediaControlChannel: ta245(rtcp),
          },
        },
      },
    },
  };
}

/** An H.245 message in a TPKT. */
export function h245Tpkt(msg: AsnValue): Uint8Array {
  return buildTpkt(perEncode(MultimediaSystemControlMessage, msg));
}

/** Encodes one fastStart element (for tests that inspect it). */
export function encodeOlc(v: AsnValue): Uint8Array {
  return perEncode(OpenLogicalChannel, v);
}

/** Removes `undefined` members recursively (decoded values list absent OPTIONAL fields as undefined). */
export function strip(v: AsnValue | undefined): AsnValue | undefined {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map((x) => strip(x) as AsnValue);
  const out: { [k: string]: AsnValue } = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = strip(x) as AsnValue;
  return out;
}

/** Dotted text of 4 bytes at `b[off]`. */
export function ipAt(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** A RegistrationRequest of an endpoint with its call-signalling and RAS addresses. */
export function rrqValue(csa: Addr, ras: Addr, o: { ttl?: number; keepAlive?: boolean } = {}): AsnValue {
  return {
    registrationRequest: {
      requestSeqNum: 1,
      protocolIdentifier: PID,
      discoveryComplete: false,
      callSignalAddress: [ta225(csa)],
      rasAddress: [ta225(ras)],
      terminalType: ENDPOINT,
      terminalAlias: [{ 'h323-ID': 'alice' }, { dialedDigits: '1001' }],
      endpointVendor: { vendor: { t35CountryCode: 9, t35Extension: 0, manufacturerCode: 61 } },
      timeToLive: o.ttl,
      keepAlive: o.keepAlive ?? false,
      endpointIdentifier: o.keepAlive ? 'EP1' : undefined,
    },
  };
}

/** The gatekeeper's RegistrationConfirm echoing the registered call-signalling address. */
export function rcfValue(csa: Addr): AsnValue {
  return {
    registrationConfirm: {
      requestSeqNum: 1,
      protocolIdentifier: PID,
      callSignalAddress: [ta225(csa)],
      gatekeeperIdentifier: 'GK',
      endpointIdentifier: 'EP1',
      timeToLive: 60,
    },
  };
}

/** GatekeeperRequest, UnregistrationRequest, AdmissionRequest and LocationRequest of an endpoint. */
export function grqValue(ras: Addr): AsnValue {
  return {
    gatekeeperRequest: {
      requestSeqNum: 2,
      protocolIdentifier: PID,
      rasAddress: ta225(ras),
      endpointType: ENDPOINT,
    },
  };
}
export function urqValue(csa: Addr): AsnValue {
  return {
    unregistrationRequest: { requestSeqNum: 3, callSignalAddress: [ta225(csa)], endpointIdentifier: 'EP1' },
  };
}
export function arqValue(src: Addr, dest: Addr): AsnValue {
  return {
    admissionRequest: {
      requestSeqNum: 4,
      callType: { pointToPoint: null },
      callModel: { direct: null },
      endpointIdentifier: 'EP1',
      destinationInfo: [{ dialedDigits: '2002' }],
      destCallSignalAddress: ta225(dest),
      srcInfo: [{ 'h323-ID': 'alice' }],
      srcCallSignalAddress: ta225(src),
      bandWidth: 1280,
      callReferenceValue: 0x1234,
      conferenceID: CONF_ID,
      activeMC: false,
      answerCall: false,
      canMapAlias: true,
      callIdentifier: CALL_ID,
    },
  };
}
export function lrqValue(reply: Addr): AsnValue {
  return {
    locationRequest: {
      requestSeqNum: 5,
      destinationInfo: [{ dialedDigits: '2002' }],
      replyAddress: ta225(reply),
    },
  };
}

/** A RAS datagram payload. */
export function ras(v: AsnValue): Uint8Array {
  return perEncode(RasMessage, v);
}
