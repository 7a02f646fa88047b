/**
 * The ALG helpers the gateway can enable by name (`nat.helpers` in the config), found among the
 * exports of `@l3kit/alg`: a factory `create<Name>Helper()` or a class `<Name>Helper` whose
 * instances are `NatHelper`s, known by the helper's own `name` (`ftp`, `sip`, `sip-tcp`,
 * `h323-ras`, …).
 */
import * as alg from '@l3kit/alg';
import type { NatHelper } from '@l3kit/nat';

type Factory = () => NatHelper;

let registry: Map<string, Factory> | undefined;

function isHelper(h: unknown): h is NatHelper {
  const o = h as NatHelper | null;
  return !!o && typeof o.name === 'string' && typeof o.onPacket === 'function' && Array.isArray(o.ports);
}

/** Helpers that need options to exist: `<export>` with these options, under the helper's own name. */
const VARIANTS: Array<[string, Record<string, unknown>]> = [['SipHelper', { transport: 'tcp' }]];

function build(): Map<string, Factory> {
  const out = new Map<string, Factory>();
  const add = (make: Factory) => {
    try {
      const h = make();
      if (isHelper(h) && !out.has(h.name)) out.set(h.name, make);
    } catch {
      // A factory that needs other arguments is not usable from a config file.
    }
  };
  const exports = alg as Record<string, unknown>;
  for (const [key, value] of Object.entries(exports)) {
    if (typeof value !== 'function') continue;
    if (/^create[A-Z][A-Za-z0-9]*Helper$/.test(key)) add(() => (value as () => NatHelper)());
    else if (/^[A-Z][A-Za-z0-9]*Helper$/.test(key)) add(() => new (value as new () => NatHelper)());
  }
  for (const [key, opts] of VARIANTS) {
    const cls = exports[key];
    if (typeof cls === 'function') add(() => new (cls as new (o: unknown) => NatHelper)(opts));
  }
  return out;
}

/** Names of the helpers `@l3kit/alg` provides, sorted. */
export function availableHelpers(): string[] {
  registry ??= build();
  return [...registry.keys()].sort();
}

/** A new helper by name, or `undefined` if `@l3kit/alg` has none of that name. */
export function createHelper(name: string): NatHelper | undefined {
  registry ??= build();
  return registry.get(name)?.();
}
