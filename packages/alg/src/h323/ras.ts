/**
 * H.225.0 RAS (Registration, Admission and Status, UDP 1719): the ASN.1 of the messages that
 * carry transport addresses — GatekeeperRequest / Confirm, RegistrationRequest / Confirm,
 * UnregistrationRequest, AdmissionRequest / Confirm, LocationRequest / Confirm and
 * InfoRequestResponse — decoded through their root fields; every other message stops decoding.
 */
import {
  AliasAddress,
  CallIdentifier,
  QseriesOptions as CallServices,
  CallType,
  EndpointType,
  NonStandardParameter,
  TransportAddress,
  VendorIdentifier,
} from './h225.js';
import {
  type AsnType,
  BOOL,
  choice,
  F,
  int,
  NULL,
  O,
  OID,
  OPAQUE,
  octets,
  STOP_TYPE,
  seq,
  seqOf,
  str,
} from './per.js';

const requestSeqNum = F('requestSeqNum', int(1, 65535));
const pid = F('protocolIdentifier', OID);
const nsd = O('nonStandardData', NonStandardParameter);
const identifier = str(16, 1, 128);
const aliases = seqOf(AliasAddress);
const addresses = seqOf(TransportAddress);
const bandWidth = int(0, 4294967295);
const callModel = choice(true, [
  ['direct', NULL],
  ['gatekeeperRouted', NULL],
]);
const more = (...names: string[]) => names.map((n) => O(n, OPAQUE));

/** GatekeeperRequest. */
export const GatekeeperRequest = seq(true, [
  requestSeqNum,
  pid,
  nsd,
  F('rasAddress', TransportAddress),
  F('endpointType', EndpointType),
  O('gatekeeperIdentifier', identifier),
  O('callServices', CallServices),
  O('endpointAlias', aliases),
]);

/** GatekeeperConfirm. */
export const GatekeeperConfirm = seq(true, [
  requestSeqNum,
  pid,
  nsd,
  O('gatekeeperIdentifier', identifier),
  F('rasAddress', TransportAddress),
]);

/** RegistrationRequest. */
export const RegistrationRequest = seq(
  true,
  [
    requestSeqNum,
    pid,
    nsd,
    F('discoveryComplete', BOOL),
    F('callSignalAddress', addresses),
    F('rasAddress', addresses),
    F('terminalType', EndpointType),
    O('terminalAlias', aliases),
    O('gatekeeperIdentifier', identifier),
    F('endpointVendor', VendorIdentifier),
  ],
  [
    ...more('alternateEndpoints'),
    O('timeToLive', int(1, 4294967295)),
    ...more('tokens', 'cryptoTokens', 'integrityCheckValue'),
    O('keepAlive', BOOL),
    O('endpointIdentifier', identifier),
  ],
);

/** RegistrationConfirm. */
export const RegistrationConfirm = seq(
  true,
  [
    requestSeqNum,
    pid,
    nsd,
    F('callSignalAddress', addresses),
    O('terminalAlias', aliases),
    O('gatekeeperIdentifier', identifier),
    F('endpointIdentifier', identifier),
  ],
  [...more('alternateGatekeeper'), O('timeToLive', int(1, 4294967295))],
);

/** UnregistrationRequest. */
export const UnregistrationRequest = seq(true, [
  requestSeqNum,
  F('callSignalAddress', addresses),
  O('endpointAlias', aliases),
  nsd,
  O('endpointIdentifier', identifier),
]);

/** AdmissionRequest. */
export const AdmissionRequest = seq(
  true,
  [
    requestSeqNum,
    F('callType', CallType),
    O('callModel', callModel),
    F('endpointIdentifier', identifier),
    O('destinationInfo', aliases),
    O('destCallSignalAddress', TransportAddress),
    O('destExtraCallInfo', aliases),
    F('srcInfo', aliases),
    O('srcCallSignalAddress', TransportAddress),
    F('bandWidth', bandWidth),
    F('callReferenceValue', int(0, 65535)),
    nsd,
    O('callServices', CallServices),
    F('conferenceID', octets(16, 16)),
    F('activeMC', BOOL),
    F('answerCall', BOOL),
  ],
  [O('canMapAlias', BOOL), O('callIdentifier', CallIdentifier)],
);

/** AdmissionConfirm. */
export const AdmissionConfirm = seq(true, [
  requestSeqNum,
  F('bandWidth', bandWidth),
  F('callModel', callModel),
  F('destCallSignalAddress', TransportAddress),
  O('irrFrequency', int(1, 65535)),
  nsd,
]);

/** LocationRequest. */
export const LocationRequest = seq(true, [
  requestSeqNum,
  O('endpointIdentifier', identifier),
  F('destinationInfo', aliases),
  nsd,
  F('replyAddress', TransportAddress),
]);

/** LocationConfirm. */
export const LocationConfirm = seq(true, [
  requestSeqNum,
  F('callSignalAddress', TransportAddress),
  F('rasAddress', TransportAddress),
  nsd,
]);

/** InfoRequestResponse (decoded up to its callSignalAddress list). */
export const InfoRequestResponse = seq(true, [
  nsd,
  requestSeqNum,
  F('endpointType', EndpointType),
  F('endpointIdentifier', identifier),
  F('rasAddress', TransportAddress),
  F('callSignalAddress', addresses),
  O('endpointAlias', aliases),
  O('perCallInfo', STOP_TYPE),
]);

const names = [
  'gatekeeperRequest',
  'gatekeeperConfirm',
  'gatekeeperReject',
  'registrationRequest',
  'registrationConfirm',
  'registrationReject',
  'unregistrationRequest',
  'unregistrationConfirm',
  'unregistrationReject',
  'admissionRequest',
  'admissionConfirm',
  'admissionReject',
  'bandwidthRequest',
  'bandwidthConfirm',
  'bandwidthReject',
  'disengageRequest',
  'disengageConfirm',
  'disengageReject',
  'locationRequest',
  'locationConfirm',
  'locationReject',
  'infoRequest',
  'infoRequestResponse',
  'nonStandardMessage',
  'unknownMessageResponse',
];
const modelled: Record<string, AsnType> = {
  gatekeeperRequest: GatekeeperRequest,
  gatekeeperConfirm: GatekeeperConfirm,
  registrationRequest: RegistrationRequest,
  registrationConfirm: RegistrationConfirm,
  unregistrationRequest: UnregistrationRequest,
  admissionRequest: AdmissionRequest,
  admissionConfirm: AdmissionConfirm,
  locationRequest: LocationRequest,
  locationConfirm: LocationConfirm,
  infoRequestResponse: InfoRequestResponse,
};

/** RasMessage: the PDU of a RAS datagram. Unmodelled messages stop decoding (no address of interest). */
export const RasMessage = choice(
  true,
  names.map((n): [string, AsnType] => [n, modelled[n] ?? STOP_TYPE]),
);
