/**
 * A minimal, strict and bounded XML parser for the SOAP subset UPnP control uses, and XML
 * escaping. Deliberately small: no DTD (a `<!DOCTYPE` is refused, so no entity expansion of any
 * kind), only the five predefined entities and numeric character references, namespace prefixes
 * resolved, hard limits on input length, depth, element count, attributes and text size.
 */

/** Limits of {@link parseXml}. */
export interface XmlLimits {
  /** Longest input, characters. Default 65 536. */
  maxLength?: number;
  /** Deepest nesting. Default 16. */
  maxDepth?: number;
  /** Most elements. Default 512. */
  maxElements?: number;
  /** Most attributes per element. Default 16. */
  maxAttributes?: number;
}

/** An element of a parsed document. */
export interface XmlElement {
  /** Local name (without prefix). */
  name: string;
  /** Resolved namespace URI ('' when none). */
  ns: string;
  /** Attributes by their qualified name as written. */
  attrs: Map<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (entities decoded). */
  text: string;
}

/** Result of {@link parseXml}. */
export type XmlParse = { ok: true; root: XmlElement } | { ok: false; error: string };

class XmlSyntaxError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?$/;
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

function decodeText(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&([^;&\s]{0,10});?/g, (whole, ent: string) => {
    if (!whole.endsWith(';')) throw new XmlSyntaxError('unterminated entity reference');
    switch (ent) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    let cp = Number.NaN;
    if (/^#[0-9]{1,7}$/.test(ent)) cp = Number(ent.slice(1));
    else if (/^#x[0-9A-Fa-f]{1,6}$/.test(ent)) cp = Number.parseInt(ent.slice(2), 16);
    const valid =
      cp === 0x9 ||
      cp === 0xa ||
      cp === 0xd ||
      (cp >= 0x20 && cp <= 0xd7ff) ||
      (cp >= 0xe000 && cp <= 0xfffd) ||
      (cp >= 0x10000 && cp <= 0x10ffff);
    if (!valid) throw new XmlSyntaxError(`unknown or invalid entity &${ent};`);
    return String.fromCodePoint(cp);
  });
}

interface Frame {
  el: XmlElement;
  qname: string;
  scope: Map<string, string>;
}

/**
 * Parses a document. Returns the root element or an error message; never throws. Refuses DTDs,
 * processing instructions other than the XML declaration, unbalanced or mismatched tags, unbound
 * prefixes, duplicate attributes, text outside the root, and anything over the limits.
 */
export function parseXml(input: string, limits: XmlLimits = {}): XmlParse {
  try {
    return { ok: true, root: parse(input, limits) };
  } catch (e) {
    if (e instanceof XmlSyntaxError) return { ok: false, error: e.message };
    return { ok: false, error: `XML parse error: ${(e as Error).message}` };
  }
}

function parse(s: string, limits: XmlLimits): XmlElement {
  const maxLength = limits.maxLength ?? 65_536;
  const maxDepth = limits.maxDepth ?? 16;
  const maxElements = limits.maxElements ?? 512;
  const maxAttributes = limits.maxAttributes ?? 16;
  if (s.length > maxLength) throw new XmlSyntaxError('document too long');
  let i = 0;
  if (s.charCodeAt(0) === 0xfeff) i = 1;
  const stack: Frame[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  const rootScope = new Map<string, string>([['xml', XML_NS]]);
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const textEnd = lt < 0 ? s.length : lt;
    if (textEnd > i) {
      const raw = s.slice(i, textEnd);
      if (stack.length === 0) {
        if (raw.trim() !== '') throw new XmlSyntaxError('text outside the root element');
      } else {
        if (raw.indexOf('>') >= 0 && raw.indexOf(']]>') >= 0) throw new XmlSyntaxError("']]>' in text");
        stack[stack.length - 1].el.text += decodeText(raw);
      }
    }
    if (lt < 0) break;
    i = lt;
    if (s.startsWith('<?', i)) {
      const end = s.indexOf('?>', i + 2);
      if (end < 0) throw new XmlSyntaxError('unterminated processing instruction');
      const target = /^<\?([^\s?]+)/.exec(s.slice(i, end + 2));
      if (target?.[1] !== 'xml' || i !== (s.charCodeAt(0) === 0xfeff ? 1 : 0))
        throw new XmlSyntaxError('processing instructions are not allowed');
      i = end + 2;
      continue;
    }
    if (s.startsWith('<!--', i)) {
      const end = s.indexOf('-->', i + 4);
      if (end < 0) throw new XmlSyntaxError('unterminated comment');
      i = end + 3;
      continue;
    }
    if (s.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) throw new XmlSyntaxError('CDATA outside the root element');
      const end = s.indexOf(']]>', i + 9);
      if (end < 0) throw new XmlSyntaxError('unterminated CDATA section');
      stack[stack.length - 1].el.text += s.slice(i + 9, end);
      i = end + 3;
      continue;
    }
    if (s.startsWith('<!', i)) throw new XmlSyntaxError('DTDs and declarations are not allowed');
    const gt = findTagEnd(s, i);
    if (gt < 0) throw new XmlSyntaxError('unterminated tag');
    const tag = s.slice(i + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const qname = tag.slice(1).trim();
      const top = stack.pop();
      if (!top || top.qname !== qname) throw new XmlSyntaxError(`mismatched end tag </${qname}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([^\s/>]+)/.exec(body);
    if (!m || !NAME.test(m[1])) throw new XmlSyntaxError('bad element name');
    const qname = m[1];
    const attrs = parseAttributes(body.slice(qname.length), maxAttributes);
    if (stack.length === 0 && root) throw new XmlSyntaxError('more than one root element');
    if (stack.length >= maxDepth) throw new XmlSyntaxError('nesting too deep');
    if (++elements > maxElements) throw new XmlSyntaxError('too many elements');
    const parentScope = stack.length > 0 ? stack[stack.length - 1].scope : rootScope;
    let scope = parentScope;
    for (const [k, v] of attrs) {
      if (k === 'xmlns' || k.startsWith('xmlns:')) {
        if (scope === parentScope) scope = new Map(parentScope);
        scope.set(k === 'xmlns' ? '' : k.slice(6), v);
      }
    }
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const ns = scope.get(prefix);
    if (prefix !== '' && ns === undefined) throw new XmlSyntaxError(`unbound namespace prefix ${prefix}`);
    for (const k of attrs.keys()) {
      const c = k.indexOf(':');
      if (c > 0 && k.slice(0, c) !== 'xmlns' && !scope.has(k.slice(0, c)))
        throw new XmlSyntaxError(`unbound namespace prefix ${k.slice(0, c)}`);
    }
    const el: XmlElement = { name: qname.slice(colon + 1), ns: ns ?? '', attrs, children: [], text: '' };
    if (stack.length > 0) stack[stack.length - 1].el.children.push(el);
    else root = el;
    if (!selfClosing) stack.push({ el, qname, scope });
  }
  if (stack.length > 0) throw new XmlSyntaxError(`unclosed element <${stack[stack.length - 1].qname}>`);
  if (!root) throw new XmlSyntaxError('no root element');
  return root;
}

function findTagEnd(s: string, from: number): number {
  let q = 0;
  for (let j = from + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (q !== 0) {
      if (c === q) q = 0;
    } else if (c === 0x22 || c === 0x27) q = c;
    else if (c === 0x3e) return j;
    else if (c === 0x3c) return -1;
  }
  return -1;
}

function parseAttributes(s: string, max: number): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /\s+([^\s=]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;
  let pos = 0;
  while (pos < s.length) {
    if (/^\s*$/.test(s.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new XmlSyntaxError('bad attribute syntax');
    const name = m[1];
    if (!NAME.test(name)) throw new XmlSyntaxError('bad attribute name');
    if (attrs.has(name)) throw new XmlSyntaxError(`duplicate attribute ${name}`);
    if (attrs.size >= max) throw new XmlSyntaxError('too many attributes');
    attrs.set(name, decodeText(m[2] ?? m[3] ?? ''));
    pos = re.lastIndex;
  }
  return attrs;
}

/** Escapes text for element content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;',
  );
}

/** The first child element named `name` (local name), optionally in namespace `ns`. */
export function xmlChild(el: XmlElement, name: string, ns?: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name && (ns === undefined || c.ns === ns));
}
