/**
 * Allowed IPs: a longest-prefix-match binary trie per address family (whitepaper §2,
 * "cryptokey routing"). Used for the source check of decrypted packets and for routing outgoing
 * packets to a peer. Lookups walk bytes of the packet directly and never allocate.
 */

import { ConfigError } from '@l3kit/core';
import { Prefix } from '@l3kit/wire';

class Node<T> {
  zero: Node<T> | undefined;
  one: Node<T> | undefined;
  value: T | undefined;
  has = false;
}

/** A longest-prefix-match table from IPv4 / IPv6 prefixes to values. */
export class AllowedIps<T> {
  private readonly root4 = new Node<T>();
  private readonly root6 = new Node<T>();
  private readonly entries = new Map<string, { prefix: Prefix; value: T }>();

  /** Inserts (or replaces) `prefix` → `value`. Host bits of the prefix are ignored. */
  insert(prefix: Prefix | string, value: T): void {
    const p = toPrefix(prefix).network();
    let n = p.version === 4 ? this.root4 : this.root6;
    for (let i = 0; i < p.bits; i++) {
      const bit = (p.ip[i >> 3] >> (7 - (i & 7))) & 1;
      let next = bit ? n.one : n.zero;
      if (!next) {
        next = new Node<T>();
        if (bit) n.one = next;
        else n.zero = next;
      }
      n = next;
    }
    n.value = value;
    n.has = true;
    this.entries.set(p.toString(), { prefix: p, value });
  }

  /** Removes `prefix`; true if it was present. */
  remove(prefix: Prefix | string): boolean {
    const p = toPrefix(prefix).network();
    const key = p.toString();
    if (!this.entries.delete(key)) return false;
    let n: Node<T> | undefined = p.version === 4 ? this.root4 : this.root6;
    for (let i = 0; i < p.bits && n; i++) n = (p.ip[i >> 3] >> (7 - (i & 7))) & 1 ? n.one : n.zero;
    if (n) {
      n.has = false;
      n.value = undefined;
    }
    return true;
  }

  /** Removes every prefix that maps to `value`. */
  removeValue(value: T): void {
    for (const { prefix, value: v } of [...this.entries.values()]) if (v === value) this.remove(prefix);
  }

  /** The prefixes in the table with their values. */
  list(): Array<{ prefix: Prefix; value: T }> {
    return [...this.entries.values()];
  }

  /** Longest-prefix match of the address at `b[off..off+len]` (len 4 or 16). */
  lookup(b: Uint8Array, off: number, len: 4 | 16): T | undefined {
    let n: Node<T> | undefined = len === 4 ? this.root4 : this.root6;
    let best: T | undefined;
    const bits = len * 8;
    for (let i = 0; ; i++) {
      if (n.has) best = n.value;
      if (i === bits) break;
      const next: Node<T> | undefined = (b[off + (i >> 3)] >> (7 - (i & 7))) & 1 ? n.one : n.zero;
      if (!next) break;
      n = next;
    }
    return best;
  }

  /** Longest-prefix match of the source (`which = 'src'`) or destination address of an IP packet; undefined for a non-IP or short packet. */
  lookupPacket(pkt: Uint8Array, which: 'src' | 'dst'): T | undefined {
    if (pkt.length < 1) return undefined;
    const v = pkt[0] >> 4;
    if (v === 4 && pkt.length >= 20) return this.lookup(pkt, which === 'src' ? 12 : 16, 4);
    if (v === 6 && pkt.length >= 40) return this.lookup(pkt, which === 'src' ? 8 : 24, 16);
    return undefined;
  }
}

function toPrefix(p: Prefix | string): Prefix {
  if (p instanceof Prefix) return p;
  const r = Prefix.tryParse(p);
  if (!r) throw new ConfigError('ERR_BAD_PREFIX', `not an IP prefix: ${JSON.stringify(p)}`);
  return r;
}
