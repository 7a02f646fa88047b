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

/** Hash of an outbound 5-tuple (tenant, proto, inside ip:port, destination ip:port). */
export function outHash(tenant: number, proto: number, inIp: number, inPort: number, dstIp: number, dstPort: number): number {
  return mix(
    Math.imul(tenant ^ (proto << 24), 0x9e3779b1) ^
      Math.imul(inIp, 0x27d4eb2f) ^
      Math.imul(inPort | (dstPort << 16), 0x165667b1) ^
      Math.imul(dstIp, 0x61c88647) ^
      0x5bd1e995,
  );
}

/** Hash of a session key. */
export function sessionHash(m: number, remIp: number, remPort: number): number {
  return mix(Math.imul(m, 0x9e3779b1) ^ Math.imul(remIp, 0x27d4eb2f) ^ Math.imul(remPort + 1, 0x165667b1));
}

function growU32(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
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
  mTenant: Uint32Array;
  mProto: Uint8Array;
  mKind: Uint8Array;
  /** IPv4 address as a signed int32 (a small integer for V8: no boxing on the hot path). */
  mInIp: Int32Array;
  mInPort: Uint16Array;
  /** Port part of the outbound key (the inside port; 0 for GRE, whose outbound packets do not carry it). */
  mKPort: Uint16Array;
  mExtIdx: Uint16Array;
  mExtPort: Uint16Array;
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
  /** Checksum delta (RFC 1624, folded `~old + new` words) of the outbound address rewrite. */
  mCkAddr: Uint16Array;
  /** Checksum delta of the outbound address + port (or ICMP identifier) rewrite, for the transport checksum. */
  mCkL4: Uint16Array;
  mBuckets: Int32Array;
  private mBucketMask: number;
  private mFree = -1;
  private mNextIdx = 0;

  // ---- sessions ----
  sCap: number;
  sCount = 0;
  sMap: Int32Array;
  /** IPv4 address as a signed int32 (a small integer for V8: no boxing on the hot path). */
  sRemIp: Int32Array;
  sRemPort: Uint16Array;
  sState: Uint8Array;
  sFlags: Uint8Array;
  sHelper: Uint8Array;
  sExpire: Float64Array;
  sHashNext: Int32Array;
  sMapNext: Int32Array;
  sMapPrev: Int32Array;
  sPktsOut: Uint32Array;
  sPktsIn: Uint32Array;
  sBytesOut: Float64Array;
  sBytesIn: Float64Array;
  sId: Float64Array;
  sBuckets: Int32Array;
  private sBucketMask: number;
  /** Outbound index: hash of the outbound 5-tuple per session, chain links and buckets. */
  sOutHash: Int32Array;
  sOutNext: Int32Array;
  sOutBuckets: Int32Array;
  private sOutMask: number;
  private sFree = -1;
  private sNextIdx = 0;
  private nextId = 1;

  constructor(initial = 1024) {
    const c = Math.max(16, initial);
    this.mCap = c;
    this.mTenant = new Uint32Array(c);
    this.mProto = new Uint8Array(c);
    this.mKind = new Uint8Array(c);
    this.mInIp = new Int32Array(c);
    this.mInPort = new Uint16Array(c);
    this.mKPort = new Uint16Array(c);
    this.mExtIdx = new Uint16Array(c);
    this.mExtPort = new Uint16Array(c);
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
    this.mCkAddr = new Uint16Array(c);
    this.mCkL4 = new Uint16Array(c);
    this.mBuckets = new Int32Array(c).fill(-1);
    this.mBucketMask = c - 1;

    this.sCap = c;
    this.sMap = new Int32Array(c).fill(-1);
    this.sRemIp = new Int32Array(c);
    this.sRemPort = new Uint16Array(c);
    this.sState = new Uint8Array(c);
    this.sFlags = new Uint8Array(c);
    this.sHelper = new Uint8Array(c);
    this.sExpire = new Float64Array(c);
    this.sHashNext = new Int32Array(c).fill(-1);
    this.sMapNext = new Int32Array(c).fill(-1);
    this.sMapPrev = new Int32Array(c).fill(-1);
    this.sPktsOut = new Uint32Array(c);
    this.sPktsIn = new Uint32Array(c);
    this.sBytesOut = new Float64Array(c);
    this.sBytesIn = new Float64Array(c);
    this.sId = new Float64Array(c);
    this.sBuckets = new Int32Array(c).fill(-1);
    this.sBucketMask = c - 1;
    this.sOutHash = new Int32Array(c);
    this.sOutNext = new Int32Array(c).fill(-1);
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
        this.mInIp[m] === inIp &&
        this.mKPort[m] === kPort &&
        this.mTenant[m] === tenant &&
        this.mProto[m] === proto &&
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
    this.mTenant[m] = tenant;
    this.mProto[m] = proto;
    this.mKind[m] = kind;
    this.mInIp[m] = inIp;
    this.mInPort[m] = inPort;
    this.mKPort[m] = kPort;
    this.mKRemIp[m] = kRemIp;
    this.mKRemPort[m] = kRemPort;
    this.mExtIdx[m] = extIdx;
    this.mExtPort[m] = extPort;
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
        this.mTenant[m],
        this.mProto[m],
        this.mInIp[m],
        this.mKPort[m],
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
    this.mTenant = growU32(this.mTenant, n);
    this.mProto = growU8(this.mProto, n);
    this.mKind = growU8(this.mKind, n);
    this.mInIp = growI32(this.mInIp, n);
    this.mInPort = growU16(this.mInPort, n);
    this.mKPort = growU16(this.mKPort, n);
    this.mExtIdx = growU16(this.mExtIdx, n);
    this.mExtPort = growU16(this.mExtPort, n);
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
    this.mCkAddr = growU16(this.mCkAddr, n);
    this.mCkL4 = growU16(this.mCkL4, n);
    this.mCap = n;
  }

  private rehashMappings(size: number): void {
    const buckets = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let m = 0; m < this.mNextIdx; m++) {
      if (this.mKind[m] === MappingKind.free) continue;
      const b =
        mappingHash(
          this.mTenant[m],
          this.mProto[m],
          this.mInIp[m],
          this.mKPort[m],
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
    let s = this.sBuckets[sessionHash(m, remIp, remPort) & this.sBucketMask];
    while (s >= 0) {
      if (this.sMap[s] === m && this.sRemIp[s] === remIp && this.sRemPort[s] === remPort) return s;
      s = this.sHashNext[s];
    }
    return -1;
  }

  /**
   * Finds a session by the outbound 5-tuple of a packet (one lookup on the outbound fast path).
   * Only sessions linked with {@link FlowTable.linkOut} are found.
   */
  findSessionOut(tenant: number, proto: number, inIp: number, inPort: number, dstIp: number, dstPort: number): number {
    const h = outHash(tenant, proto, inIp, inPort, dstIp, dstPort);
    let s = this.sOutBuckets[h & this.sOutMask];
    while (s >= 0) {
      if (this.sOutHash[s] === h && this.sRemIp[s] === dstIp && this.sRemPort[s] === dstPort) {
        const m = this.sMap[s];
        if (this.mInIp[m] === inIp && this.mKPort[m] === inPort && this.mTenant[m] === tenant && this.mProto[m] === proto)
          return s;
      }
      s = this.sOutNext[s];
    }
    return -1;
  }

  /** Links session `s` in the outbound index under its own remote endpoint. */
  linkOut(s: number): void {
    const m = this.sMap[s];
    const h = outHash(this.mTenant[m], this.mProto[m], this.mInIp[m], this.mKPort[m], this.sRemIp[s], this.sRemPort[s]);
    this.sOutHash[s] = h;
    const b = h & this.sOutMask;
    this.sOutNext[s] = this.sOutBuckets[b];
    this.sOutBuckets[b] = s;
    this.sFlags[s] |= SF_OUT_LINKED;
  }

  private unlinkOut(s: number): void {
    const b = this.sOutHash[s] & this.sOutMask;
    let p = -1;
    let c = this.sOutBuckets[b];
    while (c >= 0 && c !== s) {
      p = c;
      c = this.sOutNext[c];
    }
    if (c === s) {
      if (p < 0) this.sOutBuckets[b] = this.sOutNext[s];
      else this.sOutNext[p] = this.sOutNext[s];
    }
    this.sFlags[s] &= ~SF_OUT_LINKED;
  }

  /** Whether mapping `m` has a session with remote address `remIp` (any port): address-dependent filtering. */
  hasSessionToAddress(m: number, remIp: number): boolean {
    for (let s = this.mSessHead[m]; s >= 0; s = this.sMapNext[s]) if (this.sRemIp[s] === remIp) return true;
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
    this.sMap[s] = m;
    this.sRemIp[s] = remIp;
    this.sRemPort[s] = remPort;
    this.sState[s] = state;
    this.sFlags[s] = flags;
    this.sHelper[s] = 0;
    this.sExpire[s] = expire;
    this.sPktsOut[s] = 0;
    this.sPktsIn[s] = 0;
    this.sBytesOut[s] = 0;
    this.sBytesIn[s] = 0;
    this.sId[s] = this.nextId++;
    const b = sessionHash(m, remIp, remPort) & this.sBucketMask;
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
    const m = this.sMap[s];
    if ((this.sFlags[s] & SF_OUT_LINKED) !== 0) this.unlinkOut(s);
    const b = sessionHash(m, this.sRemIp[s], this.sRemPort[s]) & this.sBucketMask;
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
    this.sMap[s] = -1;
    this.sHashNext[s] = this.sFree;
    this.sFree = s;
    this.sCount--;
  }

  /** Whether index `s` holds a live session. */
  sessionLive(s: number): boolean {
    return s >= 0 && s < this.sNextIdx && this.sMap[s] >= 0;
  }

  /** Highest session index ever used + 1 (iteration bound). */
  get sessionBound(): number {
    return this.sNextIdx;
  }

  private growSessions(): void {
    const n = this.sCap * 2;
    this.sMap = growI32(this.sMap, n);
    this.sRemIp = growI32(this.sRemIp, n);
    this.sRemPort = growU16(this.sRemPort, n);
    this.sState = growU8(this.sState, n);
    this.sFlags = growU8(this.sFlags, n);
    this.sHelper = growU8(this.sHelper, n);
    this.sExpire = growF64(this.sExpire, n);
    this.sHashNext = growI32(this.sHashNext, n);
    this.sMapNext = growI32(this.sMapNext, n);
    this.sMapPrev = growI32(this.sMapPrev, n);
    this.sPktsOut = growU32(this.sPktsOut, n);
    this.sPktsIn = growU32(this.sPktsIn, n);
    this.sBytesOut = growF64(this.sBytesOut, n);
    this.sBytesIn = growF64(this.sBytesIn, n);
    this.sId = growF64(this.sId, n);
    this.sOutHash = growI32(this.sOutHash, n);
    this.sOutNext = growI32(this.sOutNext, n);
    this.sCap = n;
  }

  private rehashSessions(size: number): void {
    const buckets = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let s = 0; s < this.sNextIdx; s++) {
      const m = this.sMap[s];
      if (m < 0) continue;
      const b = sessionHash(m, this.sRemIp[s], this.sRemPort[s]) & mask;
      this.sHashNext[s] = buckets[b];
      buckets[b] = s;
    }
    this.sBuckets = buckets;
    this.sBucketMask = mask;
    const ob = new Int32Array(size).fill(-1);
    for (let s = 0; s < this.sNextIdx; s++) {
      if (this.sMap[s] < 0 || (this.sFlags[s] & SF_OUT_LINKED) === 0) continue;
      const b = this.sOutHash[s] & mask;
      this.sOutNext[s] = ob[b];
      ob[b] = s;
    }
    this.sOutBuckets = ob;
    this.sOutMask = mask;
  }
}
