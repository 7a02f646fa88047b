/**
 * The ALG helpers the gateway can enable by name (`nat.helpers` in the config), found among the
 * exports of `@l3kit/alg`: a factory `create<Name>Helper()` or a class `<Name>Helper` whose
 * instances are `NatHelper`s.
 */
import * as alg from '@l3kit/alg';
import type { NatHelper } from '@l3kit/nat';

type Factory = () => NatHelper;

let registry: Map<string, Factory> | undefined;

function isHelper(h: unknown): h is NatHelper {
  const o = h as NatHelper | null;
  return !!o && typeof o.name === 'string' && typeof o.onPacket === 'function' && Array.isArray(o.ports);
}

function build(): Map<string, Factory> {
  const out = new Map<string, Factory>();
  for (const [key, value] of Object.entries(alg as Record<string, unknown>)) {
    if (typeof value !== 'function') continue;
    const fn = /^create([A-Z][A-Za-z0-9]*)Helper$/.exec(key);
    const cls = /^([A-Z][A-Za-z0-9]*)Helper$/.exec(key);
    const name = (fn ?? cls)?.[1]?.toLowerCase();
    if (!name || out.has(name)) continue;
    const make: Factory = fn
      ? () => (value as () => NatHelper)()
      : () => new (value as new () => NatHelper)();
    try {
      if (isHelper(make())) out.set(name, make);
    } catch {
      // A factory that needs arguments is not usable from a config file.
    }
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
