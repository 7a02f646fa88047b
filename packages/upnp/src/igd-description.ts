/**
 * The IGD's device description and service descriptions (SCPD), generated from one table of
 * actions and state variables, which the SOAP dispatcher also uses to check arguments.
 *
 * Device tree (IGD:1 by default, IGD:2 when configured; many control points break on v2):
 * InternetGatewayDevice → WANDevice (WANCommonInterfaceConfig:1) → WANConnectionDevice
 * (WANIPConnection:1 or :2).
 */

import { xmlEscape } from './igd-xml.js';
import { UPNP_URN } from './ssdp.js';

/** A state variable of a service (UPnP data type and allowed values). */
export interface StateVariable {
  name: string;
  /** UPnP data type. (`sendEvents` is always "no": eventing is not offered.) */
  type: 'string' | 'boolean' | 'ui2' | 'ui4';
  /** The allowedValueList, if any. */
  allowed?: readonly string[];
  /** The allowedValueRange, if any. */
  range?: { min: number; max: number };
  /** Introduced in WANIPConnection:2. */
  v2?: boolean;
}

/** An argument of an action and the state variable that types it. */
export interface ActionArgument {
  name: string;
  dir: 'in' | 'out';
  related: string;
}

/** An action of a service. */
export interface ServiceAction {
  name: string;
  args: readonly ActionArgument[];
  /** Introduced in WANIPConnection:2. */
  v2?: boolean;
}

/** A service: type (without version), version, actions and state variables. */
export interface ServiceSpec {
  type: 'WANCommonInterfaceConfig' | 'WANIPConnection';
  actions: readonly ServiceAction[];
  variables: readonly StateVariable[];
}

const i = (name: string, related: string): ActionArgument => ({ name, dir: 'in', related });
const o = (name: string, related: string): ActionArgument => ({ name, dir: 'out', related });

/** WANCommonInterfaceConfig:1 (the actions l3kit implements). */
export const WAN_COMMON_INTERFACE_CONFIG: ServiceSpec = {
  type: 'WANCommonInterfaceConfig',
  actions: [
    {
      name: 'GetCommonLinkProperties',
      args: [
        o('NewWANAccessType', 'WANAccessType'),
        o('NewLayer1UpstreamMaxBitRate', 'Layer1UpstreamMaxBitRate'),
        o('NewLayer1DownstreamMaxBitRate', 'Layer1DownstreamMaxBitRate'),
        o('NewPhysicalLinkStatus', 'PhysicalLinkStatus'),
      ],
    },
    { name: 'GetTotalBytesSent', args: [o('NewTotalBytesSent', 'TotalBytesSent')] },
    { name: 'GetTotalBytesReceived', args: [o('NewTotalBytesReceived', 'TotalBytesReceived')] },
    { name: 'GetTotalPacketsSent', args: [o('NewTotalPacketsSent', 'TotalPacketsSent')] },
    { name: 'GetTotalPacketsReceived', args: [o('NewTotalPacketsReceived', 'TotalPacketsReceived')] },
  ],
  variables: [
    { name: 'WANAccessType', type: 'string', allowed: ['DSL', 'POTS', 'Cable', 'Ethernet'] },
    { name: 'Layer1UpstreamMaxBitRate', type: 'ui4' },
    { name: 'Layer1DownstreamMaxBitRate', type: 'ui4' },
    { name: 'PhysicalLinkStatus', type: 'string', allowed: ['Up', 'Down'] },
    { name: 'TotalBytesSent', type: 'ui4' },
    { name: 'TotalBytesReceived', type: 'ui4' },
    { name: 'TotalPacketsSent', type: 'ui4' },
    { name: 'TotalPacketsReceived', type: 'ui4' },
  ],
};

const MAPPING_IN = [
  i('NewRemoteHost', 'RemoteHost'),
  i('NewExternalPort', 'ExternalPort'),
  i('NewProtocol', 'PortMappingProtocol'),
  i('NewInternalPort', 'InternalPort'),
  i('NewInternalClient', 'InternalClient'),
  i('NewEnabled', 'PortMappingEnabled'),
  i('NewPortMappingDescription', 'PortMappingDescription'),
  i('NewLeaseDuration', 'PortMappingLeaseDuration'),
];

const RANGE_IN = [
  i('NewStartPort', 'ExternalPort'),
  i('NewEndPort', 'ExternalPort'),
  i('NewProtocol', 'PortMappingProtocol'),
  i('NewManage', 'A_ARG_TYPE_Manage'),
];

/** WANIPConnection:1 and :2 (actions marked `v2` only in :2). */
export const WAN_IP_CONNECTION: ServiceSpec = {
  type: 'WANIPConnection',
  actions: [
    {
      name: 'GetConnectionTypeInfo',
      args: [
        o('NewConnectionType', 'ConnectionType'),
        o('NewPossibleConnectionTypes', 'PossibleConnectionTypes'),
      ],
    },
    {
      name: 'GetStatusInfo',
      args: [
        o('NewConnectionStatus', 'ConnectionStatus'),
        o('NewLastConnectionError', 'LastConnectionError'),
        o('NewUptime', 'Uptime'),
      ],
    },
    {
      name: 'GetNATRSIPStatus',
      args: [o('NewRSIPAvailable', 'RSIPAvailable'), o('NewNATEnabled', 'NATEnabled')],
    },
    {
      name: 'GetGenericPortMappingEntry',
      args: [
        i('NewPortMappingIndex', 'PortMappingNumberOfEntries'),
        o('NewRemoteHost', 'RemoteHost'),
        o('NewExternalPort', 'ExternalPort'),
        o('NewProtocol', 'PortMappingProtocol'),
        o('NewInternalPort', 'InternalPort'),
        o('NewInternalClient', 'InternalClient'),
        o('NewEnabled', 'PortMappingEnabled'),
        o('NewPortMappingDescription', 'PortMappingDescription'),
        o('NewLeaseDuration', 'PortMappingLeaseDuration'),
      ],
    },
    {
      name: 'GetSpecificPortMappingEntry',
      args: [
        i('NewRemoteHost', 'RemoteHost'),
        i('NewExternalPort', 'ExternalPort'),
        i('NewProtocol', 'PortMappingProtocol'),
        o('NewInternalPort', 'InternalPort'),
        o('NewInternalClient', 'InternalClient'),
        o('NewEnabled', 'PortMappingEnabled'),
        o('NewPortMappingDescription', 'PortMappingDescription'),
        o('NewLeaseDuration', 'PortMappingLeaseDuration'),
      ],
    },
    { name: 'AddPortMapping', args: MAPPING_IN },
    {
      name: 'DeletePortMapping',
      args: [
        i('NewRemoteHost', 'RemoteHost'),
        i('NewExternalPort', 'ExternalPort'),
        i('NewProtocol', 'PortMappingProtocol'),
      ],
    },
    { name: 'GetExternalIPAddress', args: [o('NewExternalIPAddress', 'ExternalIPAddress')] },
    {
      name: 'DeletePortMappingRange',
      v2: true,
      args: RANGE_IN,
    },
    {
      name: 'GetListOfPortMappings',
      v2: true,
      args: [
        ...RANGE_IN,
        i('NewNumberOfPorts', 'PortMappingNumberOfEntries'),
        o('NewPortListing', 'A_ARG_TYPE_PortListing'),
      ],
    },
    {
      name: 'AddAnyPortMapping',
      v2: true,
      args: [...MAPPING_IN, o('NewReservedPort', 'ExternalPort')],
    },
  ],
  variables: [
    { name: 'ConnectionType', type: 'string' },
    { name: 'PossibleConnectionTypes', type: 'string', allowed: ['Unconfigured', 'IP_Routed', 'IP_Bridged'] },
    {
      name: 'ConnectionStatus',
      type: 'string',
      allowed: [
        'Unconfigured',
        'Connecting',
        'Connected',
        'PendingDisconnect',
        'Disconnecting',
        'Disconnected',
      ],
    },
    { name: 'Uptime', type: 'ui4' },
    { name: 'LastConnectionError', type: 'string', allowed: ['ERROR_NONE'] },
    { name: 'RSIPAvailable', type: 'boolean' },
    { name: 'NATEnabled', type: 'boolean' },
    { name: 'ExternalIPAddress', type: 'string' },
    { name: 'PortMappingNumberOfEntries', type: 'ui2' },
    { name: 'PortMappingEnabled', type: 'boolean' },
    { name: 'PortMappingLeaseDuration', type: 'ui4', range: { min: 0, max: 604800 } },
    { name: 'RemoteHost', type: 'string' },
    { name: 'ExternalPort', type: 'ui2' },
    { name: 'InternalPort', type: 'ui2', range: { min: 1, max: 65535 } },
    { name: 'PortMappingProtocol', type: 'string', allowed: ['TCP', 'UDP'] },
    { name: 'InternalClient', type: 'string' },
    { name: 'PortMappingDescription', type: 'string' },
    { name: 'A_ARG_TYPE_Manage', type: 'boolean', v2: true },
    { name: 'A_ARG_TYPE_PortListing', type: 'string', v2: true },
  ],
};

/** The service as offered at `version` (v2-only actions and variables dropped for 1). */
export function serviceAt(spec: ServiceSpec, version: 1 | 2): ServiceSpec {
  if (version === 2) return spec;
  return {
    type: spec.type,
    actions: spec.actions.filter((a) => !a.v2),
    // IGD:1 bounds no lease (0 = permanent, any ui4); the 604800 s cap is IGD:2's.
    variables: spec.variables
      .filter((v) => !v.v2)
      .map((v) => (v.name === 'PortMappingLeaseDuration' ? { name: v.name, type: v.type } : v)),
  };
}

/** Paths the IGD serves over HTTP. */
export const IGD_PATHS = {
  description: '/rootDesc.xml',
  cicScpd: '/WANCfg.xml',
  ipcScpd: '/WANIPCn.xml',
  cicControl: '/ctl/CmnIfCfg',
  ipcControl: '/ctl/IPConn',
  cicEvents: '/evt/CmnIfCfg',
  ipcEvents: '/evt/IPConn',
} as const;

/** What the description shows about the device. */
export interface DescriptionInfo {
  version: 1 | 2;
  uuidRoot: string;
  uuidWan: string;
  uuidConn: string;
  friendlyName: string;
  manufacturer: string;
  modelName: string;
  modelNumber: string;
  serialNumber: string;
  /** `http://<inside address>:<port>` (URLBase; UDA 1.0 control points use it). */
  urlBase: string;
}

function tag(name: string, value: string | number): string {
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

function serviceXml(
  type: string,
  version: number,
  id: string,
  scpd: string,
  ctl: string,
  evt: string,
): string {
  return (
    '<service>' +
    tag('serviceType', `${UPNP_URN}:service:${type}:${version}`) +
    tag('serviceId', `urn:upnp-org:serviceId:${id}`) +
    tag('SCPDURL', scpd) +
    tag('controlURL', ctl) +
    tag('eventSubURL', evt) +
    '</service>'
  );
}

/** The root device description (UDA 1.1 §2.3). */
export function buildDeviceDescription(d: DescriptionInfo): string {
  const v = d.version;
  const dev = (type: string, uuid: string, name: string, inner: string): string =>
    '<device>' +
    tag('deviceType', `${UPNP_URN}:device:${type}:${v}`) +
    tag('friendlyName', name) +
    tag('manufacturer', d.manufacturer) +
    tag('modelName', d.modelName) +
    tag('modelNumber', d.modelNumber) +
    tag('serialNumber', d.serialNumber) +
    tag('UDN', `uuid:${uuid}`) +
    inner +
    '</device>';
  const P = IGD_PATHS;
  const conn = dev(
    'WANConnectionDevice',
    d.uuidConn,
    'WANConnectionDevice',
    `<serviceList>${serviceXml('WANIPConnection', v, 'WANIPConn1', P.ipcScpd, P.ipcControl, P.ipcEvents)}</serviceList>`,
  );
  const wan = dev(
    'WANDevice',
    d.uuidWan,
    'WANDevice',
    `<serviceList>${serviceXml('WANCommonInterfaceConfig', 1, 'WANCommonIFC1', P.cicScpd, P.cicControl, P.cicEvents)}</serviceList>` +
      `<deviceList>${conn}</deviceList>`,
  );
  const root = dev(
    'InternetGatewayDevice',
    d.uuidRoot,
    d.friendlyName,
    `${tag('presentationURL', `${d.urlBase}/`)}<deviceList>${wan}</deviceList>`,
  );
  return (
    '<?xml version="1.0"?>\r\n' +
    `<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1">` +
    `<specVersion>${tag('major', 1)}${tag('minor', 1)}</specVersion>` +
    tag('URLBase', `${d.urlBase}/`) +
    root +
    '</root>'
  );
}

/** A service description (SCPD, UDA 1.1 §2.5) of `spec` at `version`. */
export function buildScpd(spec: ServiceSpec, version: 1 | 2): string {
  const s = serviceAt(spec, version);
  const actions = s.actions
    .map(
      (a) =>
        `<action>${tag('name', a.name)}<argumentList>` +
        a.args
          .map(
            (g) =>
              `<argument>${tag('name', g.name)}${tag('direction', g.dir)}${tag('relatedStateVariable', g.related)}</argument>`,
          )
          .join('') +
        '</argumentList></action>',
    )
    .join('');
  const vars = s.variables
    .map((v) => {
      let x = `<stateVariable sendEvents="no">${tag('name', v.name)}${tag('dataType', v.type)}`;
      if (v.allowed)
        x += `<allowedValueList>${v.allowed.map((a) => tag('allowedValue', a)).join('')}</allowedValueList>`;
      if (v.range)
        x += `<allowedValueRange>${tag('minimum', v.range.min)}${tag('maximum', v.range.max)}</allowedValueRange>`;
      return `${x}</stateVariable>`;
    })
    .join('');
  return (
    '<?xml version="1.0"?>\r\n' +
    '<scpd xmlns="urn:schemas-upnp-org:service-1-0">' +
    `<specVersion>${tag('major', 1)}${tag('minor', 1)}</specVersion>` +
    `<actionList>${actions}</actionList>` +
    `<serviceStateTable>${vars}</serviceStateTable>` +
    '</scpd>'
  );
}
