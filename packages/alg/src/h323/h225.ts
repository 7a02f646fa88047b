/**
 * The part of the H.225.0 (H323-MESSAGES, version 4+) ASN.1 the H.323 ALG decodes: the
 * H323-UserInformation of the Q.931 User-user information element with the Setup,
 * CallProceeding, Connect, Alerting, Information, ReleaseComplete, Facility and Progress bodies,
 * every root field up to their TransportAddress fields, fastStart (OpenLogicalChannel inside OCTET
 * STRINGs) and tunnelled H.245 (`h245Control`). Extension additions of no interest are kept as
 * opaque open types.
 */
import { DIGITS_ALPHABET, MultimediaSystemControlMessage, OpenLogicalChannel } from './h245.js';
import {
  type AsnType,
  addrSeq,
  BOOL,
  bools,
  choice,
  containing,
  F,
  int,
  NULL,
  O,
  OID,
  OPAQUE,
  octets,
  seq,
  seqOf,
  str,
} from './per.js';

const H221NonStandard = seq(true, [
  F('t35CountryCode', int(0, 255)),
  F('t35Extension', int(0, 255)),
  F('manufacturerCode', int(0, 65535)),
]);

/** H.225 NonStandardParameter. */
export const NonStandardParameter = seq(false, [
  F(
    'nonStandardIdentifier',
    choice(true, [
      ['object', OID],
      ['h221NonStandard', H221NonStandard],
    ]),
  ),
  F('data', octets()),
]);
const NSP = NonStandardParameter;

/** H.225 TransportAddress: `ipAddress` is the IPv4 address the ALG rewrites. */
export const TransportAddress = choice(true, [
  ['ipAddress', addrSeq(false, 'ip', 'port')],
  [
    'ipSourceRoute',
    seq(true, [
      F('ip', octets(4, 4)),
      F('port', int(0, 65535)),
      F('route', seqOf(octets(4, 4))),
      F(
        'routing',
        choice(true, [
          ['strict', NULL],
          ['loose', NULL],
        ]),
      ),
    ]),
  ],
  ['ipxAddress', seq(false, [F('node', octets(6, 6)), F('netnum', octets(4, 4)), F('port', octets(2, 2))])],
  ['ip6Address', seq(true, [F('ip', octets(16, 16)), F('port', int(0, 65535))])],
  ['netBios', octets(16, 16)],
  ['nsap', octets(1, 20)],
  ['nonStandardAddress', NSP],
]);

/** AliasAddress (dialled digits, H.323 ID, and the extensions as opaque or TransportAddress). */
export const AliasAddress = choice(
  true,
  [
    ['dialedDigits', str(4, 1, 128, DIGITS_ALPHABET)],
    ['h323-ID', str(16, 1, 256)],
  ],
  [
    ['url-ID', OPAQUE],
    ['transportID', TransportAddress],
    ['email-ID', OPAQUE],
    ['partyNumber', OPAQUE],
    ['mobileUIM', OPAQUE],
    ['isupNumber', OPAQUE],
  ],
);
const Aliases = seqOf(AliasAddress);

const Caps = seq(
  true,
  [O('nonStandardData', NSP)],
  [O('dataRatesSupported', OPAQUE), O('supportedPrefixes', OPAQUE)],
);

const SupportedProtocols = choice(
  true,
  [
    ['nonStandardData', NSP],
    ['h310', Caps],
    ['h320', Caps],
    ['h321', Caps],
    ['h322', Caps],
    ['h323', Caps],
    ['h324', Caps],
    ['voice', Caps],
    ['t120-only', Caps],
  ],
  [
    ['nonStandardProtocol', OPAQUE],
    ['t38FaxAnnexbOnly', OPAQUE],
    ['sip', OPAQUE],
  ],
);

/** VendorIdentifier. */
export const VendorIdentifier = seq(
  true,
  [F('vendor', H221NonStandard), O('productId', octets(1, 256)), O('versionId', octets(1, 256))],
  [O('enterpriseNumber', OID)],
);

/** EndpointType (sourceInfo / destinationInfo). */
export const EndpointType = seq(
  true,
  [
    O('nonStandardData', NSP),
    O('vendor', VendorIdentifier),
    O('gatekeeper', seq(true, [O('nonStandardData', NSP)])),
    O('gateway', seq(true, [O('protocol', seqOf(SupportedProtocols)), O('nonStandardData', NSP)])),
    O('mcu', seq(true, [O('nonStandardData', NSP)], [O('protocol', seqOf(SupportedProtocols))])),
    O('terminal', seq(true, [O('nonStandardData', NSP)])),
    F('mc', BOOL),
    F('undefinedNode', BOOL),
  ],
  [O('set', OPAQUE), O('supportedTunnelledProtocols', OPAQUE)],
);

/** CallIdentifier (a GUID). */
export const CallIdentifier = seq(true, [F('guid', octets(16, 16))]);

/** fastStart: each element is a PER-encoded OpenLogicalChannel. */
export const FastStart = seqOf(containing(OpenLogicalChannel));
/** h245Control: each element is a PER-encoded MultimediaSystemControlMessage (tunnelled H.245). */
export const H245Control = seqOf(containing(MultimediaSystemControlMessage));

const ssm = choice(true, [
  ['nonStandard', NSP],
  ['none', NULL],
  ['default', NULL],
]);
const SecurityCapabilities = seq(true, [
  O('nonStandard', NSP),
  F('encryption', ssm),
  F('authenticaton', ssm),
  F('integrity', ssm),
]);
const H245Security = choice(true, [
  ['nonStandard', NSP],
  ['noSecurity', NULL],
  ['tls', SecurityCapabilities],
  ['ipsec', SecurityCapabilities],
]);

/** QseriesOptions (callServices). */
export const QseriesOptions = seq(true, [
  ...bools('q932Full', 'q951Full', 'q952Full', 'q953Full', 'q955Full', 'q956Full', 'q957Full'),
  F('q954Info', seq(true, bools('conferenceCalling', 'threePartyService'))),
]);

/** CallType. */
export const CallType = choice(true, [
  ['pointToPoint', NULL],
  ['oneToN', NULL],
  ['nToOne', NULL],
  ['nToN', NULL],
]);

const pid = F('protocolIdentifier', OID);
const tail = (...names: string[]) => names.map((n) => O(n, OPAQUE));

/** Setup-UUIE. */
export const SetupUUIE = seq(
  true,
  [
    pid,
    O('h245Address', TransportAddress),
    O('sourceAddress', Aliases),
    F('sourceInfo', EndpointType),
    O('destinationAddress', Aliases),
    O('destCallSignalAddress', TransportAddress),
    O('destExtraCallInfo', Aliases),
    O('destExtraCRV', seqOf(int(0, 65535))),
    F('activeMC', BOOL),
    F('conferenceID', octets(16, 16)),
    F(
      'conferenceGoal',
      choice(
        true,
        [
          ['create', NULL],
          ['join', NULL],
          ['invite', NULL],
        ],
        [
          ['capability-negotiation', NULL],
          ['callIndependentSupplementaryService', NULL],
        ],
      ),
    ),
    O('callServices', QseriesOptions),
    F('callType', CallType),
  ],
  [
    O('sourceCallSignalAddress', TransportAddress),
    O('remoteExtensionAddress', AliasAddress),
    O('callIdentifier', CallIdentifier),
    ...tail('h245SecurityCapability', 'tokens', 'cryptoTokens'),
    O('fastStart', FastStart),
    O('mediaWaitForConnect', BOOL),
    O('canOverlapSend', BOOL),
    O('endpointIdentifier', OPAQUE),
    O('multipleCalls', BOOL),
    O('maintainConnection', BOOL),
    ...tail(
      'connectionParameters',
      'language',
      'presentationIndicator',
      'screeningIndicator',
      'serviceControl',
      'symmetricOperationRequired',
      'capacity',
      'circuitInfo',
      'desiredProtocols',
      'neededFeatures',
      'desiredFeatures',
      'supportedFeatures',
    ),
    O('parallelH245Control', H245Control),
  ],
);

const afterCallId = [
  O('callIdentifier', CallIdentifier),
  ...tail('h245SecurityMode', 'tokens', 'cryptoTokens'),
  O('fastStart', FastStart),
  O('multipleCalls', BOOL),
  O('maintainConnection', BOOL),
];

/** CallProceeding-UUIE. */
export const CallProceedingUUIE = seq(
  true,
  [pid, F('destinationInfo', EndpointType), O('h245Address', TransportAddress)],
  [...afterCallId, O('fastConnectRefused', NULL)],
);

/** Connect-UUIE. */
export const ConnectUUIE = seq(
  true,
  [
    pid,
    O('h245Address', TransportAddress),
    F('destinationInfo', EndpointType),
    F('conferenceID', octets(16, 16)),
  ],
  afterCallId,
);

/** Alerting-UUIE. */
export const AlertingUUIE = seq(
  true,
  [pid, F('destinationInfo', EndpointType), O('h245Address', TransportAddress)],
  afterCallId,
);

/** Information-UUIE. */
export const InformationUUIE = seq(
  true,
  [pid],
  [O('callIdentifier', CallIdentifier), ...tail('tokens', 'cryptoTokens')],
);

/** ReleaseComplete-UUIE. */
export const ReleaseCompleteUUIE = seq(
  true,
  [
    pid,
    O(
      'reason',
      choice(
        true,
        [
          'noBandwidth',
          'gatekeeperResources',
          'unreachableDestination',
          'destinationRejection',
          'invalidRevision',
          'noPermission',
          'unreachableGatekeeper',
          'gatewayResources',
          'badFormatAddress',
          'adaptiveBusy',
          'inConf',
          'undefinedReason',
        ].map((n): [string, AsnType] => [n, NULL]),
      ),
    ),
  ],
  [O('callIdentifier', CallIdentifier)],
);

/** Facility-UUIE. */
export const FacilityUUIE = seq(
  true,
  [
    pid,
    O('alternativeAddress', TransportAddress),
    O('alternativeAliasAddress', Aliases),
    O('conferenceID', octets(16, 16)),
    F(
      'reason',
      choice(
        true,
        [
          ['routeCallToGatekeeper', NULL],
          ['callForwarded', NULL],
          ['routeCallToMC', NULL],
          ['undefinedReason', NULL],
        ],
        [
          ['conferenceListChoice', NULL],
          ['startH245', NULL],
          ['noH245', NULL],
          ['newTokens', NULL],
          ['featureSetUpdate', NULL],
          ['forwardedElements', NULL],
          ['transportedInformation', NULL],
        ],
      ),
    ),
  ],
  [
    O('callIdentifier', CallIdentifier),
    ...tail('destExtraCallInfo', 'remoteExtensionAddress', 'tokens', 'cryptoTokens', 'conferences'),
    O('h245Address', TransportAddress),
    O('fastStart', FastStart),
    O('multipleCalls', BOOL),
    O('maintainConnection', BOOL),
  ],
);

/** Progress-UUIE (an extension alternative of the message body). Tokens are kept opaque only when absent. */
export const ProgressUUIE = seq(
  true,
  [
    pid,
    F('destinationInfo', EndpointType),
    O('h245Address', TransportAddress),
    F('callIdentifier', CallIdentifier),
    O('h245SecurityMode', H245Security),
    O('tokens', { t: 'stop' }),
    O('cryptoTokens', { t: 'stop' }),
    O('fastStart', FastStart),
  ],
  [O('multipleCalls', BOOL), O('maintainConnection', BOOL), O('fastConnectRefused', NULL)],
);

/** H323-UU-PDU. */
export const H323UUPDU = seq(
  true,
  [
    F(
      'h323-message-body',
      choice(
        true,
        [
          ['setup', SetupUUIE],
          ['callProceeding', CallProceedingUUIE],
          ['connect', ConnectUUIE],
          ['alerting', AlertingUUIE],
          ['information', InformationUUIE],
          ['releaseComplete', ReleaseCompleteUUIE],
          ['facility', FacilityUUIE],
        ],
        [
          ['progress', ProgressUUIE],
          ['empty', NULL],
          ['status', OPAQUE],
          ['statusInquiry', OPAQUE],
          ['setupAcknowledge', OPAQUE],
          ['notify', OPAQUE],
        ],
      ),
    ),
    O('nonStandardData', NSP),
  ],
  [O('h4501SupplementaryService', OPAQUE), O('h245Tunneling', BOOL), O('h245Control', H245Control)],
);

/** H323-UserInformation: the contents of the Q.931 User-user IE (after its protocol discriminator). */
export const H323UserInformation = seq(true, [
  F('h323-uu-pdu', H323UUPDU),
  O(
    'user-data',
    seq(true, [F('protocol-discriminator', int(0, 255)), F('user-information', octets(1, 131))]),
  ),
]);

/** The H.225.0 protocol identifier of version 4 (`itu-t(0) recommendation(0) h(8) 2250 version(0) 4`). */
export const H225_PROTOCOL_ID_V4: number[] = [0, 0, 8, 2250, 0, 4];
