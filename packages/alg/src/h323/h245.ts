/**
 * The part of the H.245 (MULTIMEDIA-SYSTEM-CONTROL, version 7+) ASN.1 the H.323 ALG decodes:
 * OpenLogicalChannel and OpenLogicalChannelAck with their media / media-control transport
 * addresses, everything that precedes them in the encoding (DataType with the audio and video
 * capabilities of the root), and a few small messages used in tests. Root alternatives that
 * cannot contain a transport address of interest are `stop` types: decoding ends there.
 */
import {
  type AsnType,
  addrSeq,
  BOOL,
  bools,
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

/** The digit alphabet of dialled digits / E.164 addresses. */
export const DIGITS_ALPHABET = '0123456789#*,';

const H221 = seq(false, [
  F('t35CountryCode', int(0, 255)),
  F('t35Extension', int(0, 255)),
  F('manufacturerCode', int(0, 65535)),
]);
/** H.245 NonStandardParameter (its identifier CHOICE and h221 SEQUENCE are not extensible). */
export const H245NonStandardParameter = seq(false, [
  F(
    'nonStandardIdentifier',
    choice(false, [
      ['object', OID],
      ['h221NonStandard', H221],
    ]),
  ),
  F('data', octets()),
]);
const NSP = H245NonStandardParameter;

/** UnicastAddress: `iPAddress` is the IPv4 address the ALG rewrites. */
export const UnicastAddress = choice(
  true,
  [
    ['iPAddress', addrSeq(true, 'network', 'tsapIdentifier')],
    [
      'iPXAddress',
      seq(true, [F('node', octets(6, 6)), F('netnum', octets(4, 4)), F('tsapIdentifier', octets(2, 2))]),
    ],
    ['iP6Address', seq(true, [F('network', octets(16, 16)), F('tsapIdentifier', int(0, 65535))])],
    ['netBios', octets(16, 16)],
    [
      'iPSourceRouteAddress',
      seq(true, [
        F(
          'routing',
          choice(false, [
            ['strict', NULL],
            ['loose', NULL],
          ]),
        ),
        F('network', octets(4, 4)),
        F('tsapIdentifier', int(0, 65535)),
        F('route', seqOf(octets(4, 4))),
      ]),
    ],
  ],
  [
    ['nsap', octets(1, 20)],
    ['nonStandardAddress', NSP],
  ],
);

/** MulticastAddress (never rewritten: multicast is not translated). */
export const MulticastAddress = choice(
  true,
  [
    ['iPAddress', seq(true, [F('network', octets(4, 4)), F('tsapIdentifier', int(0, 65535))])],
    ['iP6Address', seq(true, [F('network', octets(16, 16)), F('tsapIdentifier', int(0, 65535))])],
  ],
  [
    ['nsap', octets(1, 20)],
    ['nonStandardAddress', NSP],
  ],
);

/** H.245 TransportAddress. */
export const H245TransportAddress = choice(true, [
  ['unicastAddress', UnicastAddress],
  ['multicastAddress', MulticastAddress],
]);

const TerminalLabel = seq(true, [F('mcuNumber', int(0, 192)), F('terminalNumber', int(0, 192))]);

/** H2250LogicalChannelParameters (inside an open type: the h2250 alternative is an extension). */
export const H2250LogicalChannelParameters = seq(
  true,
  [
    O('nonStandard', seqOf(NSP)),
    F('sessionID', int(0, 255)),
    O('associatedSessionID', int(1, 255)),
    O('mediaChannel', H245TransportAddress),
    O('mediaGuaranteedDelivery', BOOL),
    O('mediaControlChannel', H245TransportAddress),
    O('mediaControlGuaranteedDelivery', BOOL),
    O('silenceSuppression', BOOL),
    O('destination', TerminalLabel),
    O('dynamicRTPPayloadType', int(96, 127)),
    O('mediaPacketization', choice(true, [['h261aVideoPacketization', NULL]], [['rtpPayloadType', OPAQUE]])),
  ],
  [O('transportCapability', OPAQUE), O('redundancyEncoding', OPAQUE), O('source', TerminalLabel)],
);

/** H2250LogicalChannelAckParameters. */
export const H2250LogicalChannelAckParameters = seq(
  true,
  [
    O('nonStandard', seqOf(NSP)),
    O('sessionID', int(1, 255)),
    O('mediaChannel', H245TransportAddress),
    O('mediaControlChannel', H245TransportAddress),
    O('dynamicRTPPayloadType', int(96, 127)),
  ],
  [O('flowControlToZero', BOOL), O('portNumber', int(0, 65535))],
);

const H222LogicalChannelParameters = seq(true, [
  F('resourceID', int(0, 65535)),
  F('subChannelID', int(0, 8191)),
  O('pcr-pid', int(0, 8191)),
  O('programDescriptors', octets()),
  O('streamDescriptors', octets()),
]);

const H223LogicalChannelParameters = seq(true, [
  F(
    'adaptationLayerType',
    choice(
      true,
      [
        ['nonStandard', NSP],
        ['al1Framed', NULL],
        ['al1NotFramed', NULL],
        ['al2WithoutSequenceNumbers', NULL],
        ['al2WithSequenceNumbers', NULL],
        ['al3', seq(false, [F('controlFieldOctets', int(0, 2)), F('sendBufferSize', int(0, 16777215))])],
      ],
      [
        ['al1M', OPAQUE],
        ['al2M', OPAQUE],
        ['al3M', OPAQUE],
      ],
    ),
  ),
  F('segmentableFlag', BOOL),
]);

const threeNulls = (a: string, b: string, c: string): AsnType =>
  choice(true, [
    [a, NULL],
    [b, NULL],
    [c, NULL],
  ]);

const V76LogicalChannelParameters = seq(true, [
  F(
    'hdlcParameters',
    seq(true, [
      F('crcLength', threeNulls('crc8bit', 'crc16bit', 'crc32bit')),
      F('n401', int(1, 4095)),
      F('loopbackTestProcedure', BOOL),
    ]),
  ),
  F('suspendResume', threeNulls('noSuspendResume', 'suspendResumewAddress', 'suspendResumewoAddress')),
  F('uIH', BOOL),
  F(
    'mode',
    choice(true, [
      ['eRM', seq(true, [F('windowSize', int(1, 127)), F('recovery', threeNulls('rej', 'sREJ', 'mSREJ'))])],
      ['uNERM', NULL],
    ]),
  ),
  F('v75Parameters', seq(true, [F('audioHeaderPresent', BOOL)])),
]);

const videoBadMBsCap = [O('videoBadMBsCap', BOOL)];

const VideoCapability = choice(
  true,
  [
    ['nonStandard', NSP],
    [
      'h261VideoCapability',
      seq(
        true,
        [
          O('qcifMPI', int(1, 4)),
          O('cifMPI', int(1, 4)),
          F('temporalSpatialTradeOffCapability', BOOL),
          F('maxBitRate', int(1, 19200)),
          F('stillImageTransmission', BOOL),
        ],
        videoBadMBsCap,
      ),
    ],
    [
      'h262VideoCapability',
      seq(
        true,
        [
          ...bools(
            'profileAndLevel-SPatML',
            'profileAndLevel-MPatLL',
            'profileAndLevel-MPatML',
            'profileAndLevel-MPatH-14',
            'profileAndLevel-MPatHL',
            'profileAndLevel-SNRatLL',
            'profileAndLevel-SNRatML',
            'profileAndLevel-SpatialatH-14',
            'profileAndLevel-HPatML',
            'profileAndLevel-HPatH-14',
            'profileAndLevel-HPatHL',
          ),
          O('videoBitRate', int(0, 1073741823)),
          O('vbvBufferSize', int(0, 262143)),
          O('samplesPerLine', int(0, 16383)),
          O('linesPerFrame', int(0, 16383)),
          O('framesPerSecond', int(0, 15)),
          O('luminanceSampleRate', int(0, 4294967295)),
        ],
        videoBadMBsCap,
      ),
    ],
    [
      'h263VideoCapability',
      seq(
        true,
        [
          O('sqcifMPI', int(1, 32)),
          O('qcifMPI', int(1, 32)),
          O('cifMPI', int(1, 32)),
          O('cif4MPI', int(1, 32)),
          O('cif16MPI', int(1, 32)),
          F('maxBitRate', int(1, 192400)),
          ...bools(
            'unrestrictedVector',
            'arithmeticCoding',
            'advancedPrediction',
            'pbFrames',
            'temporalSpatialTradeOffCapability',
          ),
          O('hrd-B', int(0, 524287)),
          O('bppMaxKb', int(0, 65535)),
        ],
        [
          O('slowSqcifMPI', int(1, 3600)),
          O('slowQcifMPI', int(1, 3600)),
          O('slowCifMPI', int(1, 3600)),
          O('slowCif4MPI', int(1, 3600)),
          O('slowCif16MPI', int(1, 3600)),
          O('errorCompensation', BOOL),
          O('enhancementLayerInfo', OPAQUE),
          O('h263Options', OPAQUE),
        ],
      ),
    ],
    [
      'is11172VideoCapability',
      seq(
        true,
        [
          F('constrainedBitstream', BOOL),
          O('videoBitRate', int(0, 1073741823)),
          O('vbvBufferSize', int(0, 262143)),
          O('samplesPerLine', int(0, 16383)),
          O('linesPerFrame', int(0, 16383)),
          O('pictureRate', int(0, 15)),
          O('luminanceSampleRate', int(0, 4294967295)),
        ],
        videoBadMBsCap,
      ),
    ],
  ],
  [
    ['genericVideoCapability', OPAQUE],
    ['extendedVideoCapability', OPAQUE],
  ],
);

const frames = int(1, 256);

const AudioCapability = choice(
  true,
  [
    ['nonStandard', NSP],
    ['g711Alaw64k', frames],
    ['g711Alaw56k', frames],
    ['g711Ulaw64k', frames],
    ['g711Ulaw56k', frames],
    ['g722-64k', frames],
    ['g722-56k', frames],
    ['g722-48k', frames],
    ['g7231', seq(false, [F('maxAl-sduAudioFrames', frames), F('silenceSuppression', BOOL)])],
    ['g728', frames],
    ['g729', frames],
    ['g729AnnexA', frames],
    [
      'is11172AudioCapability',
      seq(true, [
        ...bools(
          'audioLayer1',
          'audioLayer2',
          'audioLayer3',
          'audioSampling32k',
          'audioSampling44k1',
          'audioSampling48k',
          'singleChannel',
          'twoChannels',
        ),
        F('bitRate', int(1, 448)),
      ]),
    ],
    [
      'is13818AudioCapability',
      seq(true, [
        ...bools(
          'audioLayer1',
          'audioLayer2',
          'audioLayer3',
          'audioSampling16k',
          'audioSampling22k05',
          'audioSampling24k',
          'audioSampling32k',
          'audioSampling44k1',
          'audioSampling48k',
          'singleChannel',
          'twoChannels',
          'threeChannels2-1',
          'threeChannels3-0',
          'fourChannels2-0-2-0',
          'fourChannels2-2',
          'fourChannels3-1',
          'fiveChannels3-0-2-0',
          'fiveChannels3-2',
          'lowFrequencyEnhancement',
          'multilingual',
        ),
        F('bitRate', int(1, 1130)),
      ]),
    ],
  ],
  [
    ['g729wAnnexB', frames],
    ['g729AnnexAwAnnexB', frames],
    ['g7231AnnexCCapability', OPAQUE],
    ['gsmFullRate', OPAQUE],
    ['gsmHalfRate', OPAQUE],
    ['gsmEnhancedFullRate', OPAQUE],
    ['genericAudioCapability', OPAQUE],
    ['g729Extensions', OPAQUE],
    ['vbd', OPAQUE],
    ['audioTelephonyEvent', OPAQUE],
    ['audioTone', OPAQUE],
  ],
);

const DataProtocolCapability = choice(
  true,
  [
    ['nonStandard', NSP],
    ['v14buffered', NULL],
    ['v42lapm', NULL],
    ['hdlcFrameTunnelling', NULL],
    ['h310SeparateVCStack', NULL],
    ['h310SingleVCStack', NULL],
    ['transparent', NULL],
  ],
  [
    ['segmentationAndReassembly', NULL],
    ['hdlcFrameTunnelingwSAR', NULL],
    ['v120', NULL],
    ['separateLANStack', NULL],
    ['v76wCompression', OPAQUE],
    ['tcp', NULL],
    ['udp', NULL],
  ],
);

const T84Profile = choice(false, [
  ['t84Unrestricted', NULL],
  [
    't84Restricted',
    seq(
      true,
      bools(
        'qcif',
        'cif',
        'ccir601Seq',
        'ccir601Prog',
        'hdtvSeq',
        'hdtvProg',
        'g3FacsMH200x100',
        'g3FacsMH200x200',
        'g4FacsMMR200x100',
        'g4FacsMMR200x200',
        'jbig200x200Seq',
        'jbig200x200Prog',
        'jbig300x300Seq',
        'jbig300x300Prog',
        'digPhotoLow',
        'digPhotoMedSeq',
        'digPhotoMedProg',
        'digPhotoHighSeq',
        'digPhotoHighProg',
      ),
    ),
  ],
]);

const DataApplicationCapability = seq(true, [
  F(
    'application',
    choice(
      true,
      [
        ['nonStandard', NSP],
        ['t120', DataProtocolCapability],
        ['dsm-cc', DataProtocolCapability],
        ['userData', DataProtocolCapability],
        ['t84', seq(false, [F('t84Protocol', DataProtocolCapability), F('t84Profile', T84Profile)])],
        ['t434', DataProtocolCapability],
        ['h224', DataProtocolCapability],
        ['nlpid', seq(false, [F('nlpidProtocol', DataProtocolCapability), F('nlpidData', octets())])],
        ['dsvdControl', NULL],
        ['h222DataPartitioning', DataProtocolCapability],
      ],
      [
        ['t30fax', OPAQUE],
        ['t140', OPAQUE],
        ['t38fax', OPAQUE],
        ['genericDataCapability', OPAQUE],
      ],
    ),
  ),
  F('maxBitRate', int(0, 4294967295)),
]);

/** DataType: the media type of a logical channel. */
export const DataType = choice(
  true,
  [
    ['nonStandard', NSP],
    ['nullData', NULL],
    ['videoData', VideoCapability],
    ['audioData', AudioCapability],
    ['data', DataApplicationCapability],
    [
      'encryptionData',
      choice(true, [
        ['nonStandard', NSP],
        ['h233Encryption', NULL],
      ]),
    ],
  ],
  [
    ['h235Control', OPAQUE],
    ['h235Media', OPAQUE],
    ['multiplexedStream', OPAQUE],
    ['redundancyEncoding', OPAQUE],
    ['multiplePayloadStream', OPAQUE],
    ['fec', OPAQUE],
  ],
);

const NetworkAccessParameters = seq(
  true,
  [
    O(
      'distribution',
      choice(true, [
        ['unicast', NULL],
        ['multicast', NULL],
      ]),
    ),
    F(
      'networkAddress',
      choice(true, [
        [
          'q2931Address',
          seq(true, [
            F(
              'address',
              choice(true, [
                ['internationalNumber', str(4, 1, 16, ' 0123456789')],
                ['nsapAddress', octets(1, 20)],
              ]),
            ),
            O('subaddress', octets(1, 20)),
          ]),
        ],
        ['e164Address', str(4, 1, 128, DIGITS_ALPHABET)],
        ['localAreaAddress', H245TransportAddress],
      ]),
    ),
    F('associateConference', BOOL),
    O('externalReference', octets(1, 255)),
  ],
  [O('t120SetupProcedure', OPAQUE)],
);

const channelNumber = int(1, 65535);

/** OpenLogicalChannel. */
export const OpenLogicalChannel = seq(
  true,
  [
    F('forwardLogicalChannelNumber', channelNumber),
    F(
      'forwardLogicalChannelParameters',
      seq(
        true,
        [
          O('portNumber', int(0, 65535)),
          F('dataType', DataType),
          F(
            'multiplexParameters',
            choice(
              true,
              [
                ['h222LogicalChannelParameters', H222LogicalChannelParameters],
                ['h223LogicalChannelParameters', H223LogicalChannelParameters],
                ['v76LogicalChannelParameters', V76LogicalChannelParameters],
              ],
              [
                ['h2250LogicalChannelParameters', H2250LogicalChannelParameters],
                ['none', NULL],
              ],
            ),
          ),
        ],
        [O('forwardLogicalChannelDependency', channelNumber), O('replacementFor', channelNumber)],
      ),
    ),
    O(
      'reverseLogicalChannelParameters',
      seq(
        true,
        [
          F('dataType', DataType),
          O(
            'multiplexParameters',
            choice(
              true,
              [
                ['h223LogicalChannelParameters', H223LogicalChannelParameters],
                ['v76LogicalChannelParameters', V76LogicalChannelParameters],
              ],
              [['h2250LogicalChannelParameters', H2250LogicalChannelParameters]],
            ),
          ),
        ],
        [O('reverseLogicalChannelDependency', channelNumber), O('replacementFor', channelNumber)],
      ),
    ),
  ],
  [O('separateStack', NetworkAccessParameters), O('encryptionSync', OPAQUE), O('genericInformation', OPAQUE)],
);

/** OpenLogicalChannelAck. */
export const OpenLogicalChannelAck = seq(
  true,
  [
    F('forwardLogicalChannelNumber', channelNumber),
    O(
      'reverseLogicalChannelParameters',
      seq(
        true,
        [
          F('reverseLogicalChannelNumber', channelNumber),
          O('portNumber', int(0, 65535)),
          O(
            'multiplexParameters',
            choice(
              true,
              [['h222LogicalChannelParameters', H222LogicalChannelParameters]],
              [['h2250LogicalChannelParameters', H2250LogicalChannelParameters]],
            ),
          ),
        ],
        [O('replacementFor', channelNumber)],
      ),
    ),
  ],
  [
    O('separateStack', NetworkAccessParameters),
    O(
      'forwardMultiplexAckParameters',
      choice(true, [['h2250LogicalChannelAckParameters', H2250LogicalChannelAckParameters]]),
    ),
    O('encryptionSync', OPAQUE),
    O('genericInformation', OPAQUE),
  ],
);

const sequenceNumber = int(0, 255);

/** RequestMessage: only OpenLogicalChannel (and two small messages) are modelled. */
export const RequestMessage = choice(true, [
  ['nonStandard', STOP_TYPE],
  [
    'masterSlaveDetermination',
    seq(true, [F('terminalType', int(0, 255)), F('statusDeterminationNumber', int(0, 16777215))]),
  ],
  ['terminalCapabilitySet', STOP_TYPE],
  ['openLogicalChannel', OpenLogicalChannel],
  ['closeLogicalChannel', STOP_TYPE],
  ['requestChannelClose', STOP_TYPE],
  ['multiplexEntrySend', STOP_TYPE],
  ['requestMultiplexEntry', STOP_TYPE],
  ['requestMode', STOP_TYPE],
  ['roundTripDelayRequest', seq(true, [F('sequenceNumber', sequenceNumber)])],
  ['maintenanceLoopRequest', STOP_TYPE],
]);

const response = (modelled: Record<number, [string, AsnType]>): Array<[string, AsnType]> => {
  const names = [
    'nonStandard',
    'masterSlaveDeterminationAck',
    'masterSlaveDeterminationReject',
    'terminalCapabilitySetAck',
    'terminalCapabilitySetReject',
    'openLogicalChannelAck',
    'openLogicalChannelReject',
    'closeLogicalChannelAck',
    'requestChannelCloseAck',
    'requestChannelCloseReject',
    'multiplexEntrySendAck',
    'multiplexEntrySendReject',
    'requestMultiplexEntryAck',
    'requestMultiplexEntryReject',
    'requestModeAck',
    'requestModeReject',
    'roundTripDelayResponse',
    'maintenanceLoopAck',
    'maintenanceLoopReject',
  ];
  return names.map((n, i) => modelled[i] ?? [n, STOP_TYPE]);
};

/** ResponseMessage: OpenLogicalChannelAck (and two small messages) are modelled. */
export const ResponseMessage = choice(
  true,
  response({
    3: ['terminalCapabilitySetAck', seq(true, [F('sequenceNumber', sequenceNumber)])],
    5: ['openLogicalChannelAck', OpenLogicalChannelAck],
    16: ['roundTripDelayResponse', seq(true, [F('sequenceNumber', sequenceNumber)])],
  }),
);

/** MultimediaSystemControlMessage: the PDU of an H.245 TPKT (or of a tunnelled h245Control). */
export const MultimediaSystemControlMessage = choice(true, [
  ['request', RequestMessage],
  ['response', ResponseMessage],
  ['command', STOP_TYPE],
  ['indication', STOP_TYPE],
]);
