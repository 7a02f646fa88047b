/**
 * The NAT's state as struct-of-arrays typed storage (no object per flow):
 *
 * - **Mappings** (RFC 6146 BIB entries): tenant, protocol, inside endpoint ↔ outside endpoint.
 *   Found outbound by a hash of (tenant, proto, inside ip, key port, key remote ip, key remote
 *   port), where the key remote fields are 0 for endpoint-independent mapping, the remote ip for
 *   address-dependent and ip:port for address-and-port-dependent mapping. Found inbound through
 *   the port allocator's owner table (outside address, port → mapping index).
 * - **Sessions** (one per remote endpoint of a mapping, conntrack's "connection"): found in both
 *   directions by a hash of (mapping, remote ip, remote port). They carry the TCP state, the
 *   deadline, the counters and the filtering state (a session to a remote is what lets its
 *   packets in under address(-and-port)-dependent filtering).
 *
 * Indices are reused after removal; chains are `Int32Array` links, -1 terminated.
 */

/** Mapping kinds (stored in `mKind`). */
export const MappingKind = {
  free: 0,
  dynamic: 1,
  forward: 2,
  expectation: 3,
  static: 4,
} as const;

/** Names of {@link MappingKind} values, by value. */
export const MAPPING_KIND_NAMES = ['free', 'dynamic', 'forward', 'expectation', 'static'] as const;

/** Session flag: a packet went out (inside → outside). */
export const SF_OUT = 1;
/** Session flag: a packet came in (outside → inside): the flow is "replied". */
export const SF_IN = 2;
/** Session flag: the session's destination was rewritten by a redirect rule. */
export const SF_REDIRECT = 4;
/** Session flag: created by an inbound packet (forward, EIF, expectation). */
export const SF_INBOUND_ORIGIN = 8;
/** Session flag: linked in the outbound 5-tuple index. */
export const SF_OUT_LINKED = 16;

/** Hot session record: 64 bytes (one cache line) per session, `Int32Array` slots (`si[(s << 4) + …]`). */
export const S_MAP = 0;
/** Remote address (int32). */
export const S_REM_IP = 1;
/** Remote port (GRE: 0). */
export const S_REM_PORT = 2;
/** TCP state. */
export const S_STATE = 3;
/** `SF_*` flags. */
export const S_FLAGS = 4;
/** Helper index + 1, 0 = none. */
export const S_HELPER = 5;
/** Hash of the outbound 5-tuple. */
export const S_OUT_HASH = 6;
/** Next session in the outbound index chain. */
export const S_OUT_NEXT = 7;
/** Packets inside → outside (wraps at 2^32; read with `>>> 0`). */
export const S_PKTS_OUT = 8;
/** Packets outside → inside. */
export const S_PKTS_IN = 9;
/** Float64 slots of the same record (`sd[(s << 3) + …]`): bytes in. */
export const SD_BYTES_IN = 5;
/** Deadline (ms). */
export const SD_EXPIRE = 6;
/** Bytes out. */
export const SD_BYTES_OUT = 7;
/** Hot mapping record: 32 bytes per mapping (`mi[(m << 3) + …]`): inside address (int32). */
export const M_IN_IP = 0;
/** Port part of the outbound key (the inside port; 0 for GRE, whose outbound packets do not carry it). */
export const M_KPORT = 1;
/** Tenant id. */
export const M_TENANT = 2;
/** IP protocol. */
export const M_PROTO = 3;
/** Outside address index. */
export const M_EXT_IDX = 4;
/** External port / identifier / call ID. */
export const M_EXT_PORT = 5;
/**
 * Checksum deltas (RFC 1624, folded `~old + new` words): low 16 bits for the outbound address
 * rewrite (IP header), high 16 bits for address + port / identifier (transport checksum).
 */
export const M_CK = 6;
/** Inside port / ICMP identifier / GRE call ID. */
export const M_IN_PORT = 7;

/** 32-bit mix (murmur3 finaliser). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Hash of a mapping's outbound key. */
export function mappingHash(
  tenant: number,
  proto: number,
  inIp: number,
  kPort: number,
  kRemIp: number,
  kRemPort: number,
): number {
  return mix(
    Math.imul(tenant ^ (proto << 24), 0x9e3779b1) ^
      Math.imul(inIp, 0x27d4eb2f) ^
      Math.imul(kPort | (kRemPort << 16), 0x165667b1) ^
      Math.imul(kRemIp, 0x61c88647),
  );
}

/**
 * Hash of an outbound 5-tuple (tenant, proto, inside ip:port, destination ip:port).
 * `Nat.fastOut` computes the same expression inline: change both together.
 */
export function outHash(
  tenant: number,
  proto: number,
  inIp: number,
  inPort: number,
  dstIp: number,
  dstPort: number,
): number {
  return mix(
    Math.imul(tenant ^ (proto << 24), 0x9e3779b1) ^
      Math.imul(inIp, 0x27d4eb2f) ^
      Math.imul(inPort | (dstPort << 16), 0x165667b1) ^
      Math.imul(dstIp, 0x61c88647) ^
      0x5bd1e995,
  );
}

/**
 * Hash of a session key: the mapping's external endpoint (`extKey` = outside address index × 65536
 * + external port; one mapping per external endpoint, no port overloading) and the remote endpoint.
 * Inbound packets find their session with one lookup, without going through the mapping.
 * `Nat.fastIn` computes the same expression inline: change both together.
 */
export function sessionHash(proto: number, extKey: number, remIp: number, remPort: number): number {
  return mix(
    Math.imul(extKey ^ (proto << 24), 0x9e3779b1) ^
      Math.imul(remIp, 0x27d4eb2f) ^
      Math.imul(remPort + 1, 0x165667b1),
  );
}

function growU16(a: Uint16Array, n: number): Uint16Array {
  const b = new Uint16Array(n);
  b.set(a);
  return b;
}
function growU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
function growI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n).fill(-1);
  b.set(a);
  return b;
}
function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

/** Mapping and session storage with their hash indexes. Fields are public for the hot path. */
export class FlowTable {
  // ---- mappings ----
  mCap: number;
  mCount = 0;
  /** Hot mapping fields, 8 int32 per mapping (`M_*`). */
  mi: Int32Array;
  mKind: Uint8Array;
  /** IPv4 address as a signed int32 (a small integer for V8: no boxing on the hot path). */
  mKRemIp: Int32Array;
  mKRemPort: Uint16Array;
  mSessHead: Int32Array;
  mSessCount: Int32Array;
  mHashNext: Int32Array;
  mTenPrev: Int32Array;
  mTenNext: Int32Array;
  mLastUsed: Float64Array;
  /** Kept (without sessions) until this time; Infinity for forwards. */
  mPinUntil: Float64Array;
  mId: Float64Array;
  mBuckets: Int32Array;
  private mBucketMask: number;
  private mFree = -1;
  private mNextIdx = 0;

  // ---- sessions ----
  sCap: number;
  sCount = 0;
  /** Hot session fields, 16 int32 per session (`S_*`), sharing its buffer with {@link FlowTable.sd}. */
  si: Int32Array;
  /** Float64 view of the session records (`SD_*`). */
  sd: Float64Array;
  sHashNext: Int32Array;
  sMapNext: Int32Array;
  sMapPrev: Int32Array;
  sId: Float64Array;
  sBuckets: Int32Array;
  /** `sBuckets.length - 1` (read by the NAT's fast paths, which walk the chains inline). */
  sBucketMask: number;
  sOutBuckets: Int32Array;
  /** `sOutBuckets.length - 1`. */
  sOutMask: number;
  private sFree = -1;
  private sNextIdx = 0;
  private nextId = 1;

  constructor(initial = 1024) {
    const c = Math.max(16, initial);
    this.mCap = c;
    this.mi = new Int32Array(c * 8);
    this.mKind = new Uint8Array(c);
    this.mKRemIp = new Int32Array(c);
    this.mKRemPort = new Uint16Array(c);
    this.mSessHead = new Int32Array(c).fill(-1);
    this.mSessCount = new Int32Array(c);
    this.mHashNext = new Int32Array(c).fill(-1);
    this.mTenPrev = new Int32Array(c).fill(-1);
    this.mTenNext = new Int32Array(c).fill(-1);
    this.mLastUsed = new Float64Array(c);
    this.mPinUntil = new Float64Array(c);
    this.mId = new Float64Array(c);
    this.mBuckets = new Int32Array(c).fill(-1);
    this.mBucketMask = c - 1;

    this.sCap = c;
    const sb = new ArrayBuffer(c * 64);
    this.si = new Int32Array(sb);
    this.sd = new Float64Array(sb);
    this.sHashNext = new Int32Array(c).fill(-1);
    this.sMapNext = new Int32Array(c).fill(-1);
    this.sMapPrev = new Int32Array(c).fill(-1);
    this.sId = new Float64Array(c);
    this.sBuckets = new Int32Array(c).fill(-1);
    this.sBucketMask = c - 1;
    this.sOutBuckets = new Int32Array(c).fill(-1);
    this.sOutMask = c - 1;
  }

  // ------------------------------------------------------------------ mappings

  /** Finds a mapping by its outbound key; -1 when absent. */
  findMapping(
    tenant: number,
    proto: number,
    inIp: number,
    kPort: number,
    kRemIp: number,
    kRemPort: number,
  ): number {
    let m = this.mBuckets[mappingHash(tenant, proto, inIp, kPort, kRemIp, kRemPort) & this.mBucketMask];
    while (m >= 0) {
      if (
        this.mi[(m << 3) + M_IN_IP] === inIp &&
        this.mi[(m << 3) + M_KPORT] === kPort &&
        this.mi[(m << 3) + M_TENANT] === tenant &&
        this.mi[(m << 3) + M_PROTO] === proto &&
        this.mKRemIp[m] === kRemIp &&
        this.mKRemPort[m] === kRemPort
      )
        return m;
      m = this.mHashNext[m];
    }
    return -1;
  }

  /** Allocates a mapping slot, fills its key and links it in the hash. Returns its index. */
  addMapping(
    tenant: number,
    proto: number,
    kind: number,
    inIp: number,
    inPort: number,
    kPort: number,
    kRemIp: number,
    kRemPort: number,
    extIdx: number,
    extPort: number,
    now: number,
  ): number {
    let m = this.mFree;
    if (m >= 0) this.mFree = this.mHashNext[m];
    else {
      if (this.mNextIdx === this.mCap) this.growMappings();
      m = this.mNextIdx++;
    }
    this.mi[(m << 3) + M_TENANT] = tenant;
    this.mi[(m << 3) + M_PROTO] = proto;
    this.mKind[m] = kind;
    this.mi[(m << 3) + M_IN_IP] = inIp;
    this.mi[(m << 3) + M_IN_PORT] = inPort;
    this.mi[(m << 3) + M_KPORT] = kPort;
    this.mKRemIp[m] = kRemIp;
    this.mKRemPort[m] = kRemPort;
    this.mi[(m << 3) + M_EXT_IDX] = extIdx;
    this.mi[(m << 3) + M_EXT_PORT] = extPort;
    this.mSessHead[m] = -1;
    this.mSessCount[m] = 0;
    this.mLastUsed[m] = now;
    this.mPinUntil[m] = 0;
    this.mId[m] = this.nextId++;
    const b = mappingHash(tenant, proto, inIp, kPort, kRemIp, kRemPort) & this.mBucketMask;
    this.mHashNext[m] = this.mBuckets[b];
    this.mBuckets[b] = m;
    this.mCount++;
    if (this.mCount > this.mBucketMask + 1) this.rehashMappings((this.mBucketMask + 1) * 2);
    return m;
  }

  /** Unlinks a mapping from the hash and frees its slot (sessions must be gone; tenant list is the caller's). */
  freeMapping(m: number): void {
    const b =
      mappingHash(
        this.mi[(m << 3) + M_TENANT],
        this.mi[(m << 3) + M_PROTO],
        this.mi[(m << 3) + M_IN_IP],
        this.mi[(m << 3) + M_KPORT],
        this.mKRemIp[m],
        this.mKRemPort[m],
      ) & this.mBucketMask;
    let p = -1;
    let c = this.mBuckets[b];
    while (c >= 0 && c !== m) {
      p = c;
      c = this.mHashNext[c];
    }
    if (c === m) {
      if (p < 0) this.mBuckets[b] = this.mHashNext[m];
      else this.mHashNext[p] = this.mHashNext[m];
    }
    this.mKind[m] = MappingKind.free;
    this.mHashNext[m] = this.mFree;
    this.mFree = m;
    this.mCount--;
  }

  /** Whether index `m` holds a live mapping. */
  mappingLive(m: number): boolean {
    return m >= 0 && m < this.mNextIdx && this.mKind[m] !== MappingKind.free;
  }

  /** Highest mapping index ever used + 1 (iteration bound). */
  get mappingBound(): number {
    return this.mNextIdx;
  }

  private growMappings(): void {
    const n = this.mCap * 2;
    const mi = new Int32Array(n * 8);
    mi.set(this.mi);
    this.mi = mi;
    this.mKind = growU8(this.mKind, n);
    this.mKRemIp = growI32(this.mKRemIp, n);
    this.mKRemPort = growU16(this.mKRemPort, n);
    this.mSessHead = growI32(this.mSessHead, n);
    this.mSessCount = growI32(this.mSessCount, n);
    this.mHashNext = growI32(this.mHashNext, n);
    this.mTenPrev = growI32(this.mTenPrev, n);
    this.mTenNext = growI32(this.mTenNext, n);
    this.mLastUsed = growF64(this.mLastUsed, n);
    this.mPinUntil = growF64(this.mPinUntil, n);
    this.mId = growF64(this.mId, n);
    this.mCap = n;
  }

  private rehashMappings(size: number): void {
    const buckets = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let m = 0; m < this.mNextIdx; m++) {
      if (this.mKind[m] === MappingKind.free) continue;
      const b =
        mappingHash(
          this.mi[(m << 3) + M_TENANT],
          this.mi[(m << 3) + M_PROTO],
          this.mi[(m << 3) + M_IN_IP],
          this.mi[(m << 3) + M_KPORT],
          this.mKRemIp[m],
          this.mKRemPort[m],
        ) & mask;
      this.mHashNext[m] = buckets[b];
      buckets[b] = m;
    }
    this.mBuckets = buckets;
    this.mBucketMask = mask;
  }

  // ------------------------------------------------------------------ sessions

  /** Finds the session of mapping `m` with remote `remIp:remPort`; -1 when absent. */
  findSession(m: number, remIp: number, remPort: number): number {
    const mo = m << 3;
    const h = sessionHash(
      this.mi[mo + M_PROTO],
      this.mi[mo + M_EXT_IDX] * 65536 + this.mi[mo + M_EXT_PORT],
      remIp,
      remPort,
    );
    let s = this.sBuckets[h & this.sBucketMask];
    while (s >= 0) {
      if (
        this.si[(s << 4) + S_MAP] === m &&
        this.si[(s << 4) + S_REM_IP] === remIp &&
        this.si[(s << 4) + S_REM_PORT] === remPort
      )
        return s;
      s = this.sHashNext[s];
    }
    return -1;
  }

  private sessionBucketOf(m: number, remIp: number, remPort: number, mask: number): number {
    const mo = m << 3;
    return (
      sessionHash(
        this.mi[mo + M_PROTO],
        this.mi[mo + M_EXT_IDX] * 65536 + this.mi[mo + M_EXT_PORT],
        remIp,
        remPort,
      ) & mask
    );
  }

  /**
   * Finds a session by the inbound key: protocol, external endpoint (outside address index,
   * port / identifier / call ID) and remote endpoint. One lookup on the inbound fast path.
   */
  findSessionIn(proto: number, extIdx: number, extPort: number, remIp: number, remPort: number): number {
    const extKey = extIdx * 65536 + extPort;
    let s = this.sBuckets[sessionHash(proto, extKey, remIp, remPort) & this.sBucketMask];
    while (s >= 0) {
      const so = s << 4;
      if (this.si[so + S_REM_IP] === remIp && this.si[so + S_REM_PORT] === remPort) {
        const mo = this.si[so + S_MAP] << 3;
        if (
          this.mi[mo + M_EXT_PORT] === extPort &&
          this.mi[mo + M_EXT_IDX] === extIdx &&
          this.mi[mo + M_PROTO] === proto
        )
          return s;
      }
      s = this.sHashNext[s];
    }
    return -1;
  }

  /**
   * Finds a session by the outbound 5-tuple of a packet (one lookup on the outbound fast path).
   * Only sessions linked with {@link FlowTable.linkOut} are found.
   */
  findSessionOut(
    tenant: number,
    proto: number,
    inIp: number,
    inPort: number,
    dstIp: number,
    dstPort: number,
  ): number {
    const h = outHash(tenant, proto, inIp, inPort, dstIp, dstPort);
    let s = this.sOutBuckets[h & this.sOutMask];
    while (s >= 0) {
      if (
        this.si[(s << 4) + S_OUT_HASH] === h &&
        this.si[(s << 4) + S_REM_IP] === dstIp &&
        this.si[(s << 4) + S_REM_PORT] === dstPort
      ) {
        const m = this.si[(s << 4) + S_MAP];
        if (
          this.mi[(m << 3) + M_IN_IP] === inIp &&
          this.mi[(m << 3) + M_KPORT] === inPort &&
          this.mi[(m << 3) + M_TENANT] === tenant &&
          this.mi[(m << 3) + M_PROTO] === proto
        )
          return s;
      }
      s = this.si[(s << 4) + S_OUT_NEXT];
    }
    return -1;
  }

  /** Links session `s` in the outbound index under its own remote endpoint. */
  linkOut(s: number): void {
    const m = this.si[(s << 4) + S_MAP];
    const h = outHash(
      this.mi[(m << 3) + M_TENANT],
      this.mi[(m << 3) + M_PROTO],
      this.mi[(m << 3) + M_IN_IP],
      this.mi[(m << 3) + M_KPORT],
      this.si[(s << 4) + S_REM_IP],
      this.si[(s << 4) + S_REM_PORT],
    );
    this.si[(s << 4) + S_OUT_HASH] = h;
    const b = h & this.sOutMask;
    this.si[(s << 4) + S_OUT_NEXT] = this.sOutBuckets[b];
    this.sOutBuckets[b] = s;
    this.si[(s << 4) + S_FLAGS] |= SF_OUT_LINKED;
  }

  private unlinkOut(s: number): void {
    const b = this.si[(s << 4) + S_OUT_HASH] & this.sOutMask;
    let p = -1;
    let c = this.sOutBuckets[b];
    while (c >= 0 && c !== s) {
      p = c;
      c = this.si[(c << 4) + S_OUT_NEXT];
    }
    if (c === s) {
      if (p < 0) this.sOutBuckets[b] = this.si[(s << 4) + S_OUT_NEXT];
      else this.si[(p << 4) + S_OUT_NEXT] = this.si[(s << 4) + S_OUT_NEXT];
    }
    this.si[(s << 4) + S_FLAGS] &= ~SF_OUT_LINKED;
  }

  /** Whether mapping `m` has a session with remote address `remIp` (any port): address-dependent filtering. */
  hasSessionToAddress(m: number, remIp: number): boolean {
    for (let s = this.mSessHead[m]; s >= 0; s = this.sMapNext[s])
      if (this.si[(s << 4) + S_REM_IP] === remIp) return true;
    return false;
  }

  /** Creates a session of mapping `m` with remote `remIp:remPort`. Returns its index. */
  addSession(
    m: number,
    remIp: number,
    remPort: number,
    state: number,
    flags: number,
    expire: number,
  ): number {
    let s = this.sFree;
    if (s >= 0) this.sFree = this.sHashNext[s];
    else {
      if (this.sNextIdx === this.sCap) this.growSessions();
      s = this.sNextIdx++;
    }
    this.si[(s << 4) + S_MAP] = m;
    this.si[(s << 4) + S_REM_IP] = remIp;
    this.si[(s << 4) + S_REM_PORT] = remPort;
    this.si[(s << 4) + S_STATE] = state;
    this.si[(s << 4) + S_FLAGS] = flags;
    this.si[(s << 4) + S_HELPER] = 0;
    this.sd[(s << 3) + SD_EXPIRE] = expire;
    this.si[(s << 4) + S_PKTS_OUT] = 0;
    this.si[(s << 4) + S_PKTS_IN] = 0;
    this.sd[(s << 3) + SD_BYTES_OUT] = 0;
    this.sd[(s << 3) + SD_BYTES_IN] = 0;
    this.sId[s] = this.nextId++;
    const b = this.sessionBucketOf(m, remIp, remPort, this.sBucketMask);
    this.sHashNext[s] = this.sBuckets[b];
    this.sBuckets[b] = s;
    // link into the mapping's session list
    const h = this.mSessHead[m];
    this.sMapPrev[s] = -1;
    this.sMapNext[s] = h;
    if (h >= 0) this.sMapPrev[h] = s;
    this.mSessHead[m] = s;
    this.mSessCount[m]++;
    this.sCount++;
    if (this.sCount > this.sBucketMask + 1) this.rehashSessions((this.sBucketMask + 1) * 2);
    return s;
  }

  /** Removes a session from the hash and its mapping's list and frees the slot. */
  freeSession(s: number): void {
    const m = this.si[(s << 4) + S_MAP];
    if ((this.si[(s << 4) + S_FLAGS] & SF_OUT_LINKED) !== 0) this.unlinkOut(s);
    const b = this.sessionBucketOf(
      m,
      this.si[(s << 4) + S_REM_IP],
      this.si[(s << 4) + S_REM_PORT],
      this.sBucketMask,
    );
    let p = -1;
    let c = this.sBuckets[b];
    while (c >= 0 && c !== s) {
      p = c;
      c = this.sHashNext[c];
    }
    if (c === s) {
      if (p < 0) this.sBuckets[b] = this.sHashNext[s];
      else this.sHashNext[p] = this.sHashNext[s];
    }
    const pv = this.sMapPrev[s];
    const nx = this.sMapNext[s];
    if (pv >= 0) this.sMapNext[pv] = nx;
    else this.mSessHead[m] = nx;
    if (nx >= 0) this.sMapPrev[nx] = pv;
    this.mSessCount[m]--;
    this.si[(s << 4) + S_MAP] = -1;
    this.sHashNext[s] = this.sFree;
    this.sFree = s;
    this.sCount--;
  }

  /** Whether index `s` holds a live session. */
  sessionLive(s: number): boolean {
    return s >= 0 && s < this.sNextIdx && this.si[(s << 4) + S_MAP] >= 0;
  }

  /** Highest session index ever used + 1 (iteration bound). */
  get sessionBound(): number {
    return this.sNextIdx;
  }

  private growSessions(): void {
    const n = this.sCap * 2;
    const sb = new ArrayBuffer(n * 64);
    new Int32Array(sb).set(this.si);
    this.si = new Int32Array(sb);
    this.sd = new Float64Array(sb);
    this.sHashNext = growI32(this.sHashNext, n);
    this.sMapNext = growI32(this.sMapNext, n);
    this.sMapPrev = growI32(this.sMapPrev, n);
    this.sId = growF64(this.sId, n);
    this.sCap = n;
  }

  private rehashSessions(size: number): void {
    const buckets = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let s = 0; s < this.sNextIdx; s++) {
      const m = this.si[(s << 4) + S_MAP];
      if (m < 0) continue;
      const b = this.sessionBucketOf(m, this.si[(s << 4) + S_REM_IP], this.si[(s << 4) + S_REM_PORT], mask);
      this.sHashNext[s] = buckets[b];
      buckets[b] = s;
    }
    this.sBuckets = buckets;
    this.sBucketMask = mask;
    const ob = new Int32Array(size).fill(-1);
    for (let s = 0; s < this.sNextIdx; s++) {
      if (this.si[(s << 4) + S_MAP] < 0 || (this.si[(s << 4) + S_FLAGS] & SF_OUT_LINKED) === 0) continue;
      const b = this.si[(s << 4) + S_OUT_HASH] & mask;
      this.si[(s << 4) + S_OUT_NEXT] = ob[b];
      ob[b] = s;
    }
    this.sOutBuckets = ob;
    this.sOutMask = mask;
  }
}
