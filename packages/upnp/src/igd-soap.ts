/**
 * SOAP 1.1 as UPnP control uses it (UDA 1.1 §3): the SOAPACTION header, the request envelope,
 * responses, UPnP error faults, and the IGD:2 port listing document.
 */
import { parseXml, type XmlLimits, xmlChild, xmlEscape } from './igd-xml.js';

/** SOAP 1.1 envelope namespace. */
export const SOAP_ENVELOPE_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
/** SOAP 1.1 encoding style UPnP requires. */
export const SOAP_ENCODING = 'http://schemas.xmlsoap.org/soap/encoding/';
/** Namespace of the UPnPError fault detail. */
export const UPNP_CONTROL_NS = 'urn:schemas-upnp-org:control-1-0';

/** The UPnP error codes the IGD returns, with their names (UDA 1.1 §3.2.2, IGD:1 / IGD:2 WANIPConnection). */
export const UPNP_ERRORS = {
  401: 'Invalid Action',
  402: 'Invalid Args',
  501: 'Action Failed',
  606: 'Action not authorized',
  713: 'SpecifiedArrayIndexInvalid',
  714: 'NoSuchEntryInArray',
  715: 'WildCardNotPermittedInSrcIP',
  716: 'WildCardNotPermittedInExtPort',
  718: 'ConflictInMappingEntry',
  724: 'SamePortValuesRequired',
  725: 'OnlyPermanentLeasesSupported',
  726: 'RemoteHostOnlySupportsWildcard',
  727: 'ExternalPortOnlySupportsWildcard',
  728: 'NoPortMapsAvailable',
  729: 'ConflictWithOtherMechanisms',
  730: 'PortMappingNotFound',
  732: 'WildCardNotPermittedInIntPort',
  733: 'InconsistentParameters',
} as const;

/** A UPnP error code the IGD uses. */
export type UpnpErrorCode = keyof typeof UPNP_ERRORS;

/** The `SOAPACTION` header: `"urn:…:service:Type:v#Action"` (quotes optional). */
export interface SoapActionHeader {
  serviceType: string;
  action: string;
}

/** Parses a SOAPACTION header value; `null` when malformed. */
export function parseSoapActionHeader(v: string | undefined): SoapActionHeader | null {
  if (v === undefined) return null;
  let s = v.trim();
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
  const m = /^(urn:[A-Za-z0-9:._-]{1,200})#([A-Za-z][A-Za-z0-9_]{0,63})$/.exec(s);
  return m ? { serviceType: m[1], action: m[2] } : null;
}

/** A parsed control request: the action element's namespace and name, and its arguments. */
export interface SoapRequest {
  serviceType: string;
  action: string;
  args: Map<string, string>;
}

/** Result of {@link parseSoapRequest}. */
export type SoapParse = { ok: true; req: SoapRequest } | { ok: false; error: string };

/**
 * Parses a control request envelope strictly: an `Envelope` in the SOAP 1.1 namespace with one
 * `Body` holding exactly one action element in a namespace; arguments are simple elements (no
 * children, no repeats). Bounded by `limits`; never throws.
 */
export function parseSoapRequest(xml: string, limits?: XmlLimits): SoapParse {
  const p = parseXml(xml, { maxDepth: 8, maxElements: 128, ...limits });
  if (!p.ok) return p;
  const env = p.root;
  if (env.name !== 'Envelope' || env.ns !== SOAP_ENVELOPE_NS)
    return { ok: false, error: 'not a SOAP 1.1 envelope' };
  const bodies = env.children.filter((c) => c.name === 'Body' && c.ns === SOAP_ENVELOPE_NS);
  if (bodies.length !== 1) return { ok: false, error: 'the envelope must have one Body' };
  const body = bodies[0];
  if (body.children.length !== 1) return { ok: false, error: 'the Body must hold exactly one action' };
  const act = body.children[0];
  if (act.ns === '') return { ok: false, error: 'the action element has no namespace' };
  const args = new Map<string, string>();
  for (const a of act.children) {
    if (a.children.length > 0) return { ok: false, error: `argument ${a.name} is not a simple value` };
    if (args.has(a.name)) return { ok: false, error: `argument ${a.name} appears twice` };
    args.set(a.name, a.text);
  }
  return { ok: true, req: { serviceType: act.ns, action: act.name, args } };
}

function envelope(body: string): string {
  return (
    '<?xml version="1.0"?>\r\n' +
    `<s:Envelope xmlns:s="${SOAP_ENVELOPE_NS}" s:encodingStyle="${SOAP_ENCODING}">` +
    `<s:Body>${body}</s:Body></s:Envelope>\r\n`
  );
}

/**
 * An output argument value: text (escaped), a number, or `{ cdata }` for an embedded XML document
 * (IGD:2's NewPortListing), sent as a CDATA section as miniupnpd does — miniupnpc reads the
 * listing from CDATA and does not decode entities.
 */
export type SoapValue = string | number | { cdata: string };

function soapValue(v: SoapValue): string {
  if (typeof v === 'object') {
    if (v.cdata.includes(']]>')) throw new RangeError('CDATA content must not contain "]]>"');
    return `<![CDATA[${v.cdata}]]>`;
  }
  return xmlEscape(String(v));
}

/** A successful response with output arguments in order. Throws `RangeError` for CDATA containing `]]>`. */
export function buildSoapResponse(
  serviceType: string,
  action: string,
  out: ReadonlyArray<[string, SoapValue]>,
): string {
  const args = out.map(([k, v]) => `<${k}>${soapValue(v)}</${k}>`).join('');
  return envelope(`<u:${action}Response xmlns:u="${xmlEscape(serviceType)}">${args}</u:${action}Response>`);
}

/** A UPnP error fault (sent with HTTP 500). */
export function buildSoapFault(code: UpnpErrorCode, description: string = UPNP_ERRORS[code]): string {
  return envelope(
    '<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>' +
      `<UPnPError xmlns="${UPNP_CONTROL_NS}"><errorCode>${code}</errorCode>` +
      `<errorDescription>${xmlEscape(description)}</errorDescription></UPnPError></detail></s:Fault>`,
  );
}

/** Reads a fault back: the UPnP error code and description, or `null` when `xml` is not one. */
export function parseSoapFault(xml: string): { code: number; description: string } | null {
  const p = parseXml(xml);
  if (!p.ok) return null;
  const body = xmlChild(p.root, 'Body', SOAP_ENVELOPE_NS);
  const fault = body && xmlChild(body, 'Fault', SOAP_ENVELOPE_NS);
  const detail = fault && xmlChild(fault, 'detail');
  const err = detail && xmlChild(detail, 'UPnPError', UPNP_CONTROL_NS);
  const code = err && xmlChild(err, 'errorCode', UPNP_CONTROL_NS);
  if (!err || !code || !/^\d{3}$/.test(code.text.trim())) return null;
  return {
    code: Number(code.text.trim()),
    description: xmlChild(err, 'errorDescription', UPNP_CONTROL_NS)?.text ?? '',
  };
}

/** One entry of an IGD:2 port listing. */
export interface PortListingEntry {
  remoteHost: string;
  externalPort: number;
  protocol: 'TCP' | 'UDP';
  internalPort: number;
  internalClient: string;
  enabled: boolean;
  description: string;
  leaseSec: number;
}

const LISTING_NS = 'urn:schemas-upnp-org:gw:WANIPConnection';

/** The `NewPortListing` document of GetListOfPortMappings (IGD:2 WANIPConnection §2.6). */
export function buildPortListing(entries: readonly PortListingEntry[]): string {
  const items = entries
    .map(
      (e) =>
        '<p:PortMappingEntry>' +
        `<p:NewRemoteHost>${xmlEscape(e.remoteHost)}</p:NewRemoteHost>` +
        `<p:NewExternalPort>${e.externalPort}</p:NewExternalPort>` +
        `<p:NewProtocol>${e.protocol}</p:NewProtocol>` +
        `<p:NewInternalPort>${e.internalPort}</p:NewInternalPort>` +
        `<p:NewInternalClient>${xmlEscape(e.internalClient)}</p:NewInternalClient>` +
        `<p:NewEnabled>${e.enabled ? 1 : 0}</p:NewEnabled>` +
        `<p:NewDescription>${xmlEscape(e.description)}</p:NewDescription>` +
        `<p:NewLeaseTime>${e.leaseSec}</p:NewLeaseTime>` +
        '</p:PortMappingEntry>',
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<p:PortMappingList xmlns:p="${LISTING_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
    `xsi:schemaLocation="${LISTING_NS} http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">${items}</p:PortMappingList>`
  );
}
