/**
 * The NAT44 (NAPT) device: RFC 4787 / 5382 / 5508 / 7857 / 6888 behaviour, tenants with
 * overlapping inside addresses, typed-array flow tables and zero allocations per translated
 * packet. See the package README for the option and counter names.
 */
import {
  type Clock,
  ClosedError,
  ConfigError,
  discard,
  type L3Connector,
  type L3Device,
  type PacketHandler,
  TokenBucket,
} from '@l3kit/core';
import {
  foldSum,
  formatIpv4,
  latin1Bytes,
  onesSum,
  Prefix,
  parseIpv4,
  updateChecksum16,
  updateChecksum32,
  writeIpv4,
} from '@l3kit/wire';
import { EventEmitter } from 'eventemitter3';
import { formatConntrackLines } from './conntrack.js';
import { Defragmenter, type DefragStats, emptyDefragStats } from './defrag.js';
import type { NatEvents } from './events.js';
import { TimerWheel } from './expiry.js';
import * as flowTable from './flow-table.js';
import { FlowTable, MAPPING_KIND_NAMES } from './flow-table.js';
import {
  checkLease,
  checkPort,
  type ForwardEntry,
  type PortForwardOptions,
  parseIpv4Strict,
  validateForward,
} from './forwards.js';
import { fragmentIpv4 } from './fragment.js';
import { greCallIdOffset } from './gre.js';
import type {
  CreateMappingOptions,
  ExpectationOptions,
  HelperPacketContext,
  NatHelper,
  NatHelperHost,
  NatLocalHelper,
  NatLocalHost,
  NatTrafficTotals,
} from './helper-api.js';
import {
  buildIcmpError,
  type EmbeddedInfo,
  isTranslatedIcmpError,
  parseEmbedded,
  rewriteEmbedded,
} from './icmp.js';
import { replacePayload } from './mangle.js';
import {
  type NatDefragOptions,
  type NatOptions,
  type NatTimeouts,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import * as portConstants from './port-allocator.js';
import { PortAllocator, protoSlot, SLOT_PROTOS } from './port-allocator.js';
import type { ExpectationRecord, ForwardRecord, MappingRecord } from './records.js';
import {
  type CompiledRule,
  compileDropRule,
  compileRedirectRule,
  type DropRuleOptions,
  type RedirectRuleOptions,
  ruleMatches,
} from './rules.js';
import { SeqAdjust } from './seq-adjust.js';
import { type NatSnapshot, parseSnapshot, SNAPSHOT_VERSION, type SnapshotMapping } from './snapshot.js';
import * as statsLayout from './stats.js';
import { createStats, type NatStats } from './stats.js';
import * as tcpConstants from './tcp-state.js';
import { TCP_STATE_NAMES, tcpInitialState, tcpNextState, tcpRefreshes, tcpTimeout } from './tcp-state.js';

// Constants used on the packet path, as module-local consts. V8 compiles every use of an
// imported (or exported) binding as a load from the module's cell with a TDZ check, a few
// instructions each time; a module-local const is folded into the code.
const {
  M_CK,
  M_EXT_IDX,
  M_EXT_PORT,
  M_IN_IP,
  M_IN_PORT,
  M_KPORT,
  M_PROTO,
  M_TENANT,
  MappingKind,
  S_FLAGS,
  S_HELPER,
  S_MAP,
  S_OUT_HASH,
  S_OUT_NEXT,
  S_PKTS_IN,
  S_PKTS_OUT,
  S_REM_IP,
  S_REM_PORT,
  S_STATE,
  SD_BYTES_IN,
  SD_BYTES_OUT,
  SD_EXPIRE,
  SF_IN,
  SF_INBOUND_ORIGIN,
  SF_OUT,
  SF_OUT_LINKED,
  SF_REDIRECT,
} = flowTable;
const { C_BYTES_IN, C_BYTES_OUT, C_FAST_PATH, C_PKTS_IN, C_PKTS_OUT } = statsLayout;
const { TCP_ACK, TCP_RST, TCP_SYN, TcpState } = tcpConstants;
const TCP_ESTABLISHED = TcpState.established;
const { PORT_FREE, PORT_RESERVED } = portConstants;

const MAP_EIM = 0;
const MAP_APDM = 2;
const FILTER_EIF = 0;
const FILTER_ADF = 1;

function behaviorCode(b: string): number {
  return b === 'endpoint-independent' ? 0 : b === 'address-dependent' ? 1 : 2;
}

/** Reads an IPv4 address as a signed int32 (stays a small integer in V8; tables store it so). */
function rd32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/**
 * Destinations a router does not forward: 0/8, 127/8, 169.254/16, 224/4 multicast, 240/4
 * (reserved and limited broadcast).
 */
function isMartian(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 224 || a >>> 16 === 0xa9fe;
}

/** Sources a router does not forward (the same set; 0.0.0.0 is a DHCP client, which is local). */
function isMartianSource(a: number): boolean {
  return isMartian(a);
}

/** Folds a sum of 16-bit words (below 2^32) to 16 bits with end-around carry (not complemented). */
function fold16(x: number): number {
  const s = (x & 0xffff) + (x >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/**
 * RFC 1624 eqn. 3 with the change precomputed: `d` is the folded sum of `~old + new` over the
 * rewritten 16-bit words (per mapping, see `FlowTable.mCkAddr`). Returns the new header checksum.
 */
function applyDelta(hc: number, d: number): number {
  return ~fold16((~hc & 0xffff) + d) & 0xffff;
}

/** Folded `~old + new` of a 32-bit address change. */
function addrDelta(oldIp: number, newIp: number): number {
  return fold16((~(oldIp >>> 16) & 0xffff) + (~oldIp & 0xffff) + (newIp >>> 16) + (newIp & 0xffff));
}

/** `~old + new` of a TTL decrement in the TTL/protocol word: −0x100 in one's complement. */
const TTL_DELTA = 0xfeff;
/** Key of an inside endpoint in the expectation index (address as uint32, port). */
function insideKey(ip: number, port: number): number {
  return (ip >>> 0) * 65536 + port;
}

/** Removes `v` from the list of `key` in `m`, dropping the list when it empties. */
function removeFromIndex<T>(m: Map<number, T[]>, key: number, v: T): void {
  const list = m.get(key);
  if (!list) return;
  const i = list.indexOf(v);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) m.delete(key);
}

/** `S_HELPER` value of a session with no helper left but a sequence adjustment to keep applying. */
const SEQADJ_ONLY = 255;

/** Whether the IPv4 header checksum of `pkt[0..hl)` verifies. */
function ipHeaderOk(p: Uint8Array, hl: number): boolean {
  if (hl !== 20) return fold16(onesSum(p, 0, hl, 0)) === 0xffff;
  // The common option-less header, unrolled (the packet path's only full sum).
  const sum =
    ((p[0] << 8) | p[1]) +
    ((p[2] << 8) | p[3]) +
    ((p[4] << 8) | p[5]) +
    ((p[6] << 8) | p[7]) +
    ((p[8] << 8) | p[9]) +
    ((p[10] << 8) | p[11]) +
    ((p[12] << 8) | p[13]) +
    ((p[14] << 8) | p[15]) +
    ((p[16] << 8) | p[17]) +
    ((p[18] << 8) | p[19]);
  return fold16(sum) === 0xffff;
}

const PROTO_NAMES: Record<number, 'tcp' | 'udp' | 'icmp' | 'gre'> = {
  6: 'tcp',
  17: 'udp',
  1: 'icmp',
  47: 'gre',
};

/** A pending expectation. */
interface Expectation {
  id: number;
  slotId: number;
  tenant: number;
  proto: number;
  insideIp: number;
  insidePort: number;
  extIdx: number;
  extPort: number;
  remoteIp: number | null; // null = any
  remotePort: number; // -1 any
  deadline: number;
  helper?: string;
  /** Hand the expected connection to the helper named `helper`. */
  attachHelper: boolean;
  /** The expectation holds the port reservation (released when it lapses). */
  ownsPort: boolean;
}

/** An unsolicited inbound SYN held for RFC 5382 REQ-4. */
interface HeldSyn {
  pkt: Uint8Array;
  extIdx: number;
  extPort: number;
  remIp: number;
  remPort: number;
  deadline: number;
  live: boolean;
}

/** A tenant: one inside namespace. */
interface Tenant {
  id: number;
  deliver: PacketHandler;
  dev?: L3Device;
  /** Head of the tenant's mapping list. */
  head: number;
  /** Mappings counted against the quota (forwards excluded). */
  count: number;
}

/** Original destination of a redirected session. */
interface RedirectOrig {
  ip: number;
  port: number;
}

/** One of the NAT's two interfaces. */
class NatInterface implements L3Device {
  handler: PacketHandler = discard;
  constructor(
    private readonly nat: Nat,
    private readonly side: 'inside' | 'outside',
  ) {}
  setHandler(handler: PacketHandler): void {
    this.handler = handler;
    if (this.side === 'inside') this.nat._setTenantDeliver(0, handler);
    else this.nat._setOutHandler(handler);
  }
  send(pkt: Uint8Array): void {
    if (this.side === 'inside') this.nat._fromInside(0, pkt);
    else this.nat._fromOutside(pkt, false);
  }
  addr(): Prefix | undefined {
    return this.nat._addr(this.side);
  }
  setAddr(prefix: Prefix): void {
    this.nat._setAddr(this.side, prefix);
  }
  close(): void {
    this.nat.close();
  }
}

/** The cleanup function `connectL3` returns; `tenant` is the tenant id. */
export type TenantCleanup = (() => void) & { readonly tenant: number };

/**
 * A NAT44 device. `inside()` faces the private network (tenant 0), `outside()` the public one;
 * `connectL3(dev)` attaches more tenants, each its own namespace. Packets are translated in place.
 */
export class Nat extends EventEmitter<NatEvents> implements L3Connector, NatHelperHost, NatLocalHost {
  /** Counters, drops by reason. */
  readonly stats: NatStats;
  private readonly ctr = new Float64Array(statsLayout.HOT_COUNTERS);
  private readonly o: ResolvedOptions;
  /** The NAT's time source (`options.clock`). */
  readonly clock: Clock;
  private readonly t: FlowTable;
  private readonly ports: PortAllocator;
  private readonly sWheel: TimerWheel;
  private readonly mWheel: TimerWheel;
  private readonly eWheel: TimerWheel;
  private readonly insideIf: NatInterface;
  private readonly outsideIf: NatInterface;
  private insidePrefix: Prefix;
  private insideIp: number;
  /** Reassembly (null: fragments are dropped). One defragmenter outside, one per tenant inside (overlapping addresses). */
  private defragOpts: NatDefragOptions | null;
  private defragOut: Defragmenter | null = null;
  private readonly defragIn = new Map<number, Defragmenter>();
  /** While a reassembled datagram is being translated: the largest fragment it arrived in (re-fragment to it). */
  private refrag = 0;
  private insideNet = 0;
  private insideMask = 0;
  private insideBcast = 0;
  private readonly pool: number[];
  private readonly poolIndex = new Map<number, number>();
  private readonly pool0: number;
  private readonly poolMin: number;
  private readonly poolMax: number;
  private readonly mapMode: number;
  private readonly filterMode: number;
  private readonly tmo: NatTimeouts;
  private readonly tEst: number;
  private readonly tTrans: number;
  private readonly tUdp: number;
  private readonly verify: boolean;
  /** Outside MTU (0: none). */
  private readonly mtu: number;
  /** Deliver-to-inside per tenant id. */
  private tenants: Array<Tenant | undefined> = [];
  private nextTenant = 1;
  private outHandler: PacketHandler = discard;
  private closed = false;
  /**
   * 1 when the fast paths must stand aside (closed, or checksum verification on), else 0. A
   * number: a boolean field costs V8 a generic truth test per packet.
   */
  private fastOff = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly forwards = new Map<number, ForwardEntry>();
  /** Mappings reached inbound only (forward / expectation for an inside endpoint that already had a mapping). */
  private readonly shadows = new Set<number>();
  /** GRE mappings (few; ICMP errors quoting GRE are matched by scanning them). */
  private readonly greMappings = new Set<number>();
  private staticCount = 0;
  private rules: CompiledRule[] = [];
  private dropRuleCount = 0;
  private redirectRuleCount = 0;
  private nextRuleId = 1;
  private readonly redirectOrig = new Map<number, RedirectOrig>();
  /** Outbound lookup of redirected sessions: mapping → (orig ip * 65536 + orig port) → session. */
  private readonly redirectAlias = new Map<number, Map<number, number>>();
  private readonly expectations = new Map<number, Expectation>();
  private readonly expByPort = new Map<number, Expectation[]>();
  /** Pending expectations by inside endpoint (`insideKey`), for a new outbound flow of it. */
  private readonly expByInside = new Map<number, Expectation[]>();
  private readonly expSlots: Array<Expectation | undefined> = [];
  private readonly expFreeSlots: number[] = [];
  private nextExpId = 1;
  private readonly reservations: Array<{ key: number; deadline: number }> = [];
  private reservationHead = 0;
  private held: HeldSyn[] = [];
  private heldHead = 0;
  private heldLive = 0;
  private helpers: NatHelper[] = [];
  private localHelpers: NatLocalHelper[] = [];
  /** Multicast groups local helpers listen on (numeric), for the inside path's quick check. */
  private localGroups: number[] = [];
  /** Every local helper endpoint, group parsed (0 = the NAT's inside address), for dispatch. */
  private localEndpoints: Array<{ helper: NatLocalHelper; proto: number; port: number; group: number }> = [];
  /** Helper contexts, one per nesting depth (a helper that sends packets re-enters the NAT). */
  private readonly hctx: HelperPacketContext[] = [];
  /** Length change `mangle` made to the packet of the context at the same depth. */
  private readonly hDelta: number[] = [];
  private hdepth = 0;
  /** Sequence adjustment of TCP sessions whose payload a helper resized, by session index. */
  private readonly seqAdj = new Map<number, SeqAdjust>();
  /** Forwards with a lease, by deadline (few: UPnP / PCP keep them bounded). */
  private leases: Array<{ key: number; deadline: number }> = [];
  /** ICMP error token bucket (see `icmpRateLimit`). */
  private readonly icmpBucket: TokenBucket;
  private readonly emb: EmbeddedInfo = { ipOff: 0, hl: 0, proto: 0, l4Off: 0, end: 0 };
  private readonly dueSession = (s: number, now: number): number => this.onSessionDue(s, now);
  private readonly dueMapping = (m: number, now: number): number => this.onMappingDue(m, now);
  private readonly dueExpectation = (e: number, now: number): number => this.onExpectationDue(e, now);

  constructor(options: NatOptions) {
    super();
    this.o = resolveOptions(options);
    this.clock = this.o.clock;
    this.icmpBucket = new TokenBucket(this.o.icmpRateLimit, this.clock, 'icmpRateLimit');
    this.tmo = this.o.timeouts;
    this.tEst = this.tmo.tcpEstablished;
    this.tTrans = this.tmo.tcpTransitory;
    this.tUdp = this.tmo.udp;
    this.verify = this.o.verifyChecksums;
    this.fastOff = this.verify ? 1 : 0;
    this.mtu = this.o.mtu;
    this.insidePrefix = this.o.inside;
    this.insideIp = this.o.inside.ipv4 | 0;
    this.defragOpts = this.o.defrag;
    this.setInsideNet(this.o.inside);
    this.pool = this.o.pool.map((ip) => ip | 0);
    this.pool0 = this.pool[0];
    this.poolMin = Math.min(...this.pool);
    this.poolMax = Math.max(...this.pool);
    for (let i = 0; i < this.pool.length; i++) this.poolIndex.set(this.pool[i], i);
    this.mapMode = behaviorCode(this.o.mapping);
    this.filterMode = behaviorCode(this.o.filtering);
    const now = this.clock.now();
    this.t = new FlowTable(1024);
    this.ports = new PortAllocator(
      this.pool.length,
      this.o.ranges,
      this.tmo.portReuse,
      this.o.random,
      this.o.portPreservation,
      this.o.portParity,
    );
    this.sWheel = new TimerWheel(100, 17, now, 1024);
    this.mWheel = new TimerWheel(100, 14, now, 1024);
    this.eWheel = new TimerWheel(100, 12, now, 64);
    this.stats = createStats({ mappings: () => this.t.mCount, sessions: () => this.t.sCount }, this.ctr);
    this.insideIf = new NatInterface(this, 'inside');
    this.outsideIf = new NatInterface(this, 'outside');
    this.tenants[0] = { id: 0, deliver: discard, head: -1, count: 0 };
    if (this.o.maintainIntervalMs > 0) {
      this.timer = setInterval(() => this.maintain(), this.o.maintainIntervalMs);
      this.timer.unref?.();
    }
  }

  // =================================================================== devices and tenants

  /**
   * @internal Packets translated by the fast paths (see `fastOut`): the benchmarks check that
   * established flows take them.
   */
  get _fastPathPackets(): number {
    return this.ctr[C_FAST_PATH];
  }

  /** The inside interface (tenant 0). */
  inside(): L3Device {
    return this.insideIf;
  }

  /** The outside interface. */
  outside(): L3Device {
    return this.outsideIf;
  }

  /**
   * Attaches a tenant: `dev`'s packets enter the NAT from the inside in a namespace of their own
   * (overlapping addresses allowed); replies go to `dev.send`. Returns a cleanup function (with
   * the tenant id as `.tenant`) that detaches it and frees all its mappings, forwards and
   * expectations. `opts.tenant` picks the id (e.g. to re-attach after `Nat.restore`).
   */
  connectL3(dev: L3Device, opts: { tenant?: number } = {}): TenantCleanup {
    if (this.closed) throw new ClosedError('Nat');
    if (!dev || typeof dev.setHandler !== 'function' || typeof dev.send !== 'function')
      throw new ConfigError('ERR_BAD_OPTION', 'connectL3: an L3Device (setHandler, send) is required');
    let id = opts?.tenant;
    if (id === undefined) {
      while (this.tenants[this.nextTenant]?.dev) this.nextTenant++;
      id = this.nextTenant++;
    } else {
      if (!Number.isInteger(id) || id < 1 || id > 0x7fffffff)
        throw new ConfigError('ERR_BAD_OPTION', 'tenant id must be an integer >= 1');
      if (this.tenants[id]?.dev)
        throw new ConfigError('ERR_TENANT_IN_USE', `tenant ${id} is already attached`);
    }
    const tid = id;
    const existing = this.tenants[tid];
    const tenant: Tenant = existing ?? { id: tid, deliver: discard, head: -1, count: 0 };
    tenant.dev = dev;
    tenant.deliver = (p) => dev.send(p);
    this.tenants[tid] = tenant;
    dev.setHandler((p) => this._fromInside(tid, p));
    let done = false;
    const cleanup = (() => {
      if (done) return;
      done = true;
      dev.setHandler(discard);
      this.removeTenantState(tid);
      this.tenants[tid] = undefined;
    }) as TenantCleanup;
    Object.defineProperty(cleanup, 'tenant', { value: tid, enumerable: true });
    return cleanup;
  }

  /** The tenant id of an attached device, or `undefined`. */
  tenantOf(dev: L3Device): number | undefined {
    if (dev === this.insideIf) return 0;
    for (const t of this.tenants) if (t?.dev === dev) return t.id;
    return undefined;
  }

  /** @internal */
  _setTenantDeliver(id: number, h: PacketHandler): void {
    const t = this.tenants[id];
    if (t) t.deliver = h;
  }

  /** @internal */
  _addr(side: 'inside' | 'outside'): Prefix {
    return side === 'inside' ? this.insidePrefix : this.o.outside;
  }

  /** @internal */
  _setAddr(side: 'inside' | 'outside', p: Prefix): void {
    if (!(p instanceof Prefix) || p.version !== 4)
      throw new ConfigError('ERR_BAD_PREFIX', 'NAT addresses are IPv4');
    if (side === 'inside') {
      this.insidePrefix = p;
      this.insideIp = p.ipv4 | 0;
      this.setInsideNet(p);
      return;
    }
    if ((p.ipv4 | 0) !== this.pool0)
      throw new ConfigError(
        'ERR_UNSUPPORTED',
        'the outside address cannot change on a running NAT; create a new Nat',
      );
  }

  private setInsideNet(p: Prefix): void {
    this.insideMask = p.mask4 | 0;
    this.insideNet = p.ipv4 & this.insideMask;
    // A directed broadcast exists for /0../30 networks.
    this.insideBcast = p.bits <= 30 ? this.insideNet | ~this.insideMask : 0;
  }

  private removeTenantState(tid: number): void {
    for (const h of this.localHelpers) {
      try {
        h.onTenantRemoved?.(tid);
      } catch {
        // ignored: the tenant goes away regardless
      }
    }
    this.defragIn.get(tid)?.close();
    this.defragIn.delete(tid);
    for (const [key, f] of [...this.forwards]) if (f.rec.tenant === tid) this.removeForwardEntry(key, f);
    for (const e of [...this.expectations.values()]) if (e.tenant === tid) this.dropExpectation(e, false);
    const t = this.tenants[tid];
    if (!t) return;
    const now = this.clock.now();
    while (t.head >= 0) this.removeMapping(t.head, now, false);
  }

  // =================================================================== packet entry points

  /** @internal Packet from tenant `tid`'s inside network. */
  _fromInside(tid: number, pkt: Uint8Array): void {
    if (!this.fastOut(tid, pkt)) this.insideGeneral(tid, pkt);
  }

  /** @internal Packet from the outside (or hairpinned: `hairpin` true, TTL already handled). */
  _fromOutside(pkt: Uint8Array, hairpin: boolean): void {
    if (hairpin || !this.fastIn(pkt)) this.outsideGeneral(pkt, hairpin);
  }

  // =================================================================== fast paths
  //
  // The common case, one TCP or UDP packet of an established flow, handled in one function
  // with every helper inlined by hand (V8 does not reliably inline small helpers into functions
  // of this size: its per-function inlining budget goes to whatever had call feedback first).
  // A fast path only accepts a packet the general path would translate in exactly the same way
  // (option-less IPv4 header, not a fragment, nothing to drop or answer, a session that exists,
  // no TCP state change, no redirect, no helper, no checksum verification); for anything else it
  // returns `false` having changed nothing, and the general path starts over. The general path
  // is the specification: every test packet of an established flow goes through a fast path, and
  // every other one through the general path, so the test suite covers both.

  /** Outbound fast path (see above). True when `pkt` was translated and sent. */
  private fastOut(tid: number, pkt: Uint8Array): boolean {
    if (pkt.length < 28 || pkt[0] !== 0x45 || this.fastOff !== 0) return false;
    // Each header byte is read once (V8 does not merge repeated typed-array loads).
    const total = (pkt[2] << 8) | pkt[3];
    const frag = (pkt[6] << 8) | pkt[7];
    const ttlProto = (pkt[8] << 8) | pkt[9];
    // Not a fragment (MF clear, offset 0), TTL left to decrement, within the buffer.
    if ((frag & 0x3fff) !== 0 || ttlProto < 0x200 || total > pkt.length) return false;
    const srcHi = (pkt[12] << 8) | pkt[13];
    const srcLo = (pkt[14] << 8) | pkt[15];
    const dstHi = (pkt[16] << 8) | pkt[17];
    const dstLo = (pkt[18] << 8) | pkt[19];
    // Header checksum (ipHeaderOk, unrolled): the ten 16-bit words fold to 0xffff.
    let sum =
      0x4500 +
      pkt[1] +
      total +
      ((pkt[4] << 8) | pkt[5]) +
      frag +
      ttlProto +
      ((pkt[10] << 8) | pkt[11]) +
      srcHi +
      srcLo +
      dstHi +
      dstLo;
    sum = (sum & 0xffff) + (sum >>> 16);
    if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) return false;
    const src = (srcHi << 16) | srcLo;
    const dst = (dstHi << 16) | dstLo;
    // Martian source or destination (isMartian), directed broadcast, the NAT itself.
    const sTop = srcHi >>> 8;
    const dTop = dstHi >>> 8;
    if (
      dTop === 0 ||
      dTop === 127 ||
      dTop >= 224 ||
      dstHi === 0xa9fe ||
      sTop === 0 ||
      sTop === 127 ||
      sTop >= 224 ||
      srcHi === 0xa9fe ||
      dst === this.insideBcast ||
      dst === this.insideIp
    )
      return false;
    const proto = ttlProto & 0xff;
    let ckOff: number;
    if (proto === 6) {
      // Header fits, data offset sane, no SYN / FIN / RST (those change the TCP state).
      if (total < 40) return false;
      const doff = (pkt[32] >> 4) << 2;
      if (doff < 20 || doff > total - 20 || (pkt[33] & 0x07) !== 0) return false;
      ckOff = 36;
    } else if (proto === 17) {
      const ulen = (pkt[24] << 8) | pkt[25];
      if (total < 28 || ulen < 8 || ulen > total - 20) return false;
      ckOff = 26;
    } else return false;
    // ---- the session: FlowTable.findSessionOut, inlined (outHash, then the chain)
    const sp = (pkt[20] << 8) | pkt[21];
    const dp = (pkt[22] << 8) | pkt[23];
    let h =
      Math.imul(tid ^ (proto << 24), 0x9e3779b1) ^
      Math.imul(src, 0x27d4eb2f) ^
      Math.imul(sp | (dp << 16), 0x165667b1) ^
      Math.imul(dst, 0x61c88647) ^
      0x5bd1e995;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const T = this.t;
    const si = T.si;
    const mi = T.mi;
    let s = T.sOutBuckets[h & T.sOutMask];
    let so = 0;
    let mo = 0;
    for (; s >= 0; s = si[so + S_OUT_NEXT]) {
      so = s << 4;
      if (si[so + S_OUT_HASH] !== h || si[so + S_REM_IP] !== dst || si[so + S_REM_PORT] !== dp) continue;
      mo = si[so + S_MAP] << 3;
      if (
        mi[mo + M_IN_IP] === src &&
        mi[mo + M_KPORT] === sp &&
        mi[mo + M_TENANT] === tid &&
        mi[mo + M_PROTO] === proto
      )
        break;
    }
    if (s < 0) return false;
    const sf = si[so + S_FLAGS];
    if ((sf & SF_REDIRECT) !== 0 || si[so + S_HELPER] !== 0) return false;
    // A session a remote opened under loose filtering may not be the mapping behaviour's choice.
    if ((sf & SF_INBOUND_ORIGIN) !== 0 && this.mapMode !== MAP_EIM) return false;
    if (proto === 6 && si[so + S_STATE] !== TCP_ESTABLISHED) return false;
    // ---- committed: refresh, count, rewrite (as outL4 does)
    const sd = T.sd;
    const now = this.clock.now();
    sd[(s << 3) + SD_EXPIRE] =
      now + (proto === 17 ? this.tUdp : (sf & SF_IN) !== 0 ? this.tEst : this.tTrans);
    si[so + S_FLAGS] = sf | SF_OUT;
    si[so + S_PKTS_OUT]++;
    sd[(s << 3) + SD_BYTES_OUT] += total;
    const delta = mi[mo + M_CK];
    const ext = this.pool[mi[mo + M_EXT_IDX]];
    const ep = mi[mo + M_EXT_PORT];
    // IP header: source address and TTL (applyDelta with TTL_DELTA, inlined).
    let ck = (~((pkt[10] << 8) | pkt[11]) & 0xffff) + (delta & 0xffff) + TTL_DELTA;
    ck = (ck & 0xffff) + (ck >>> 16);
    ck = ~((ck & 0xffff) + (ck >>> 16)) & 0xffff;
    pkt[10] = ck >>> 8;
    pkt[11] = ck & 0xff;
    pkt[8]--;
    pkt[12] = ext >>> 24;
    pkt[13] = (ext >>> 16) & 0xff;
    pkt[14] = (ext >>> 8) & 0xff;
    pkt[15] = ext & 0xff;
    pkt[20] = ep >>> 8;
    pkt[21] = ep & 0xff;
    // Transport checksum: address and port (UDP: 0 means none and stays so; a result of 0 is sent as 0xffff).
    ck = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (proto === 6 || ck !== 0) {
      ck = (~ck & 0xffff) + (delta >>> 16);
      ck = (ck & 0xffff) + (ck >>> 16);
      ck = ~((ck & 0xffff) + (ck >>> 16)) & 0xffff;
      if (ck === 0 && proto === 17) ck = 0xffff;
      pkt[ckOff] = ck >>> 8;
      pkt[ckOff + 1] = ck & 0xff;
    }
    this.ctr[C_PKTS_OUT]++;
    this.ctr[C_BYTES_OUT] += total;
    this.ctr[C_FAST_PATH]++;
    // Hairpin, MTU and re-fragmentation cases go through emitOutside.
    if (
      this.refrag === 0 &&
      (this.mtu === 0 || total <= this.mtu) &&
      (dst < this.poolMin || dst > this.poolMax)
    )
      this.outHandler(pkt);
    else this.emitOutside(pkt);
    return true;
  }

  /** Inbound fast path (see above; not for hairpinned packets). True when `pkt` was translated and delivered. */
  private fastIn(pkt: Uint8Array): boolean {
    if (pkt.length < 28 || pkt[0] !== 0x45 || this.fastOff !== 0) return false;
    const total = (pkt[2] << 8) | pkt[3];
    const frag = (pkt[6] << 8) | pkt[7];
    const ttlProto = (pkt[8] << 8) | pkt[9];
    if ((frag & 0x3fff) !== 0 || ttlProto < 0x200 || total > pkt.length) return false;
    const srcHi = (pkt[12] << 8) | pkt[13];
    const srcLo = (pkt[14] << 8) | pkt[15];
    const dstHi = (pkt[16] << 8) | pkt[17];
    const dstLo = (pkt[18] << 8) | pkt[19];
    let sum =
      0x4500 +
      pkt[1] +
      total +
      ((pkt[4] << 8) | pkt[5]) +
      frag +
      ttlProto +
      ((pkt[10] << 8) | pkt[11]) +
      srcHi +
      srcLo +
      dstHi +
      dstLo;
    sum = (sum & 0xffff) + (sum >>> 16);
    if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) return false;
    // To one of the outside addresses (the first without a lookup).
    const dst = (dstHi << 16) | dstLo;
    let extIdx = 0;
    if (dst !== this.pool0) {
      if (dst < this.poolMin || dst > this.poolMax) return false;
      const i = this.poolIndex.get(dst);
      if (i === undefined) return false;
      extIdx = i;
    }
    const sTop = srcHi >>> 8;
    if (sTop === 0 || sTop === 127 || sTop >= 224 || srcHi === 0xa9fe) return false;
    const src = (srcHi << 16) | srcLo;
    const proto = ttlProto & 0xff;
    let ckOff: number;
    if (proto === 6) {
      if (total < 40) return false;
      const doff = (pkt[32] >> 4) << 2;
      if (doff < 20 || doff > total - 20 || (pkt[33] & 0x07) !== 0) return false;
      ckOff = 36;
    } else if (proto === 17) {
      const ulen = (pkt[24] << 8) | pkt[25];
      if (total < 28 || ulen < 8 || ulen > total - 20) return false;
      ckOff = 26;
    } else return false;
    // ---- the session: FlowTable.findSessionIn, inlined (sessionHash, then the chain)
    const sp = (pkt[20] << 8) | pkt[21];
    const dp = (pkt[22] << 8) | pkt[23];
    let h =
      Math.imul((extIdx * 65536 + dp) ^ (proto << 24), 0x9e3779b1) ^
      Math.imul(src, 0x27d4eb2f) ^
      Math.imul(sp + 1, 0x165667b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const T = this.t;
    const si = T.si;
    const mi = T.mi;
    let s = T.sBuckets[h & T.sBucketMask];
    let so = 0;
    let mo = 0;
    for (; s >= 0; s = T.sHashNext[s]) {
      so = s << 4;
      if (si[so + S_REM_IP] !== src || si[so + S_REM_PORT] !== sp) continue;
      mo = si[so + S_MAP] << 3;
      if (mi[mo + M_EXT_PORT] === dp && mi[mo + M_EXT_IDX] === extIdx && mi[mo + M_PROTO] === proto) break;
    }
    if (s < 0) return false;
    const sf = si[so + S_FLAGS];
    if ((sf & SF_REDIRECT) !== 0 || si[so + S_HELPER] !== 0) return false;
    if (proto === 6 && si[so + S_STATE] !== TCP_ESTABLISHED) return false;
    // ---- committed: refresh, count, rewrite (as inL4 does)
    const sd = T.sd;
    const now = this.clock.now();
    sd[(s << 3) + SD_EXPIRE] = now + (proto === 6 ? this.tEst : this.tUdp);
    si[so + S_FLAGS] = sf | SF_IN;
    si[so + S_PKTS_IN]++;
    sd[(s << 3) + SD_BYTES_IN] += total;
    const delta = mi[mo + M_CK];
    const inIp = mi[mo + M_IN_IP];
    const inPort = mi[mo + M_IN_PORT];
    // The outbound deltas reversed: ~d undoes d in one's complement.
    let ck = (~((pkt[10] << 8) | pkt[11]) & 0xffff) + (~delta & 0xffff) + TTL_DELTA;
    ck = (ck & 0xffff) + (ck >>> 16);
    ck = ~((ck & 0xffff) + (ck >>> 16)) & 0xffff;
    pkt[10] = ck >>> 8;
    pkt[11] = ck & 0xff;
    pkt[8]--;
    pkt[16] = inIp >>> 24;
    pkt[17] = (inIp >>> 16) & 0xff;
    pkt[18] = (inIp >>> 8) & 0xff;
    pkt[19] = inIp & 0xff;
    pkt[22] = inPort >>> 8;
    pkt[23] = inPort & 0xff;
    ck = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (proto === 6 || ck !== 0) {
      ck = (~ck & 0xffff) + (~(delta >>> 16) & 0xffff);
      ck = (ck & 0xffff) + (ck >>> 16);
      ck = ~((ck & 0xffff) + (ck >>> 16)) & 0xffff;
      if (ck === 0 && proto === 17) ck = 0xffff;
      pkt[ckOff] = ck >>> 8;
      pkt[ckOff + 1] = ck & 0xff;
    }
    this.ctr[C_PKTS_IN]++;
    this.ctr[C_BYTES_IN] += total;
    this.ctr[C_FAST_PATH]++;
    // deliverTenant, inlined: a call site of its own, so V8 can inline the tenant's handler.
    const tenant = this.tenants[mi[mo + M_TENANT]];
    if (tenant !== undefined) {
      if (this.refrag === 0) tenant.deliver(pkt);
      else this.deliverTenant(mi[mo + M_TENANT], pkt);
    }
    return true;
  }

  /** The general path of a packet from tenant `tid`: every check, every feature, in RFC order. */
  private insideGeneral(tid: number, pkt: Uint8Array): void {
    const st = this.stats;
    if (this.closed) {
      st.drops.closed++;
      return;
    }
    const len = pkt.length;
    if (len < 20) {
      st.drops.malformed++;
      return;
    }
    const vihl = pkt[0];
    const hl = (vihl & 0x0f) << 2;
    const total = (pkt[2] << 8) | pkt[3];
    if (vihl >> 4 !== 4) {
      // An IPv6 packet (or garbage) on an IPv4-only NAT: not malformed, just not ours.
      st.drops[vihl >> 4 === 6 ? 'not-ipv4' : 'malformed']++;
      return;
    }
    if (hl < 20 || total < hl || total > len) {
      st.drops.malformed++;
      return;
    }
    if (!ipHeaderOk(pkt, hl)) {
      st.drops['bad-ip-checksum']++;
      return;
    }
    if ((pkt[6] & 0x3f) !== 0 || pkt[7] !== 0) {
      if (this.defragOpts === null) st.drops.fragment++;
      else this.insideDefrag(tid).send(pkt);
      return;
    }
    const dst = rd32(pkt, 16);
    const proto = pkt[9];
    if (
      this.localHelpers.length > 0 &&
      (dst === this.insideIp || this.localGroups.includes(dst)) &&
      this.toLocalHelper(tid, pkt, hl, total, dst, proto)
    )
      return;
    if (isMartian(dst) || (dst === this.insideBcast && dst !== 0) || isMartianSource(rd32(pkt, 12))) {
      // Local-only destinations (broadcast, multicast, loopback, 0/8, link-local) never leave.
      st.drops.martian++;
      return;
    }
    if (dst === this.insideIp) {
      if (proto === 1 && total - hl >= 8 && pkt[hl] === 8 && l4ChecksumOk(pkt, hl, total, 1)) {
        this.answerEcho(pkt, hl, total);
        this.deliverTenant(tid, pkt);
        return;
      }
      st.drops['to-nat']++;
      return;
    }
    if (pkt[8] <= 1) {
      st.drops['ttl-exceeded']++;
      const err = this.icmpToken() ? buildIcmpError(pkt, total, this.insideIp, 11, 0) : null;
      if (err) {
        st.icmpErrorsSent++;
        this.deliverTenant(tid, err);
      }
      return;
    }
    if (proto === 6 || proto === 17) this.outL4(tid, pkt, hl, total, proto);
    else if (proto === 1) this.outIcmp(tid, pkt, hl, total);
    else if (proto === 47) this.outGre(tid, pkt, hl, total);
    else st.drops['unsupported-protocol']++;
  }

  /** The general path of a packet from the outside (or hairpinned). */
  private outsideGeneral(pkt: Uint8Array, hairpin: boolean): void {
    const st = this.stats;
    if (this.closed) {
      st.drops.closed++;
      return;
    }
    const len = pkt.length;
    if (len < 20) {
      st.drops.malformed++;
      return;
    }
    const vihl = pkt[0];
    const hl = (vihl & 0x0f) << 2;
    const total = (pkt[2] << 8) | pkt[3];
    if (vihl >> 4 !== 4) {
      // An IPv6 packet (or garbage) on an IPv4-only NAT: not malformed, just not ours.
      st.drops[vihl >> 4 === 6 ? 'not-ipv4' : 'malformed']++;
      return;
    }
    if (hl < 20 || total < hl || total > len) {
      st.drops.malformed++;
      return;
    }
    if (!hairpin && !ipHeaderOk(pkt, hl)) {
      st.drops['bad-ip-checksum']++;
      return;
    }
    if ((pkt[6] & 0x3f) !== 0 || pkt[7] !== 0) {
      if (this.defragOpts === null || hairpin) st.drops.fragment++;
      else this.outsideDefrag().send(pkt);
      return;
    }
    const dst = rd32(pkt, 16);
    let extIdx = 0;
    if (dst !== this.pool0) {
      const i = this.poolIndex.get(dst);
      if (i === undefined) {
        st.drops['not-for-us']++;
        return;
      }
      extIdx = i;
    }
    if (!hairpin && isMartianSource(rd32(pkt, 12))) {
      st.drops.martian++;
      return;
    }
    // TTL matters for forwarded packets; an echo request to the NAT itself is answered.
    if (!hairpin && pkt[8] <= 1 && !(pkt[9] === 1 && total - hl >= 8 && pkt[hl] === 8)) {
      st.drops['ttl-exceeded']++;
      const err = this.icmpToken() ? buildIcmpError(pkt, total, dst, 11, 0) : null;
      if (err) {
        st.icmpErrorsSent++;
        this.outHandler(err);
      }
      return;
    }
    const proto = pkt[9];
    if (proto === 6 || proto === 17) this.inL4(pkt, hl, total, proto, extIdx, hairpin);
    else if (proto === 1) this.inIcmp(pkt, hl, total, extIdx, hairpin);
    else if (proto === 47) this.inGre(pkt, hl, total, extIdx, hairpin);
    else st.drops['unsupported-protocol']++;
  }

  // =================================================================== outbound

  private outL4(tid: number, pkt: Uint8Array, hl: number, total: number, proto: number): void {
    const st = this.stats;
    const l4len = total - hl;
    let flags = 0;
    let ckOff: number;
    if (proto === 6) {
      if (l4len < 20) {
        st.drops.malformed++;
        return;
      }
      const doff = (pkt[hl + 12] >> 4) << 2;
      if (doff < 20 || doff > l4len) {
        st.drops.malformed++;
        return;
      }
      flags = pkt[hl + 13];
      ckOff = hl + 16;
    } else {
      if (l4len < 8) {
        st.drops.malformed++;
        return;
      }
      const ulen = (pkt[hl + 4] << 8) | pkt[hl + 5];
      if (ulen < 8 || ulen > l4len) {
        st.drops.malformed++;
        return;
      }
      ckOff = hl + 6;
    }
    if (this.verify && !l4ChecksumOk(pkt, hl, total, proto)) {
      st.drops['bad-checksum']++;
      return;
    }
    const src = rd32(pkt, 12);
    const dst = rd32(pkt, 16);
    const sp = (pkt[hl] << 8) | pkt[hl + 1];
    const dp = (pkt[hl + 2] << 8) | pkt[hl + 3];
    const now = this.clock.now();
    const T = this.t;
    let s = T.findSessionOut(tid, proto, src, sp, dst, dp);
    if (s >= 0 && this.mapMode !== MAP_EIM && (T.si[(s << 4) + S_FLAGS] & SF_INBOUND_ORIGIN) !== 0) {
      // The session was opened by the remote, through a mapping that filtering looser than the
      // mapping behaviour let it reach. If the behaviour already gives this host a mapping for
      // that remote, that active mapping is reused (RFC 4787 §4.1); otherwise the answer leaves
      // through the port the remote used.
      const mm = this.mapMode;
      const m0 = T.findMapping(tid, proto, src, sp, dst, mm === MAP_APDM ? dp : 0);
      if (m0 >= 0 && m0 !== T.si[(s << 4) + S_MAP]) {
        const s0 = T.findSession(m0, dst, dp);
        s = s0 >= 0 ? s0 : this.outboundMiss(tid, proto, src, sp, dst, dp, m0, flags, pkt, total, now);
        if (s < 0) return;
      }
    }
    if (s < 0) {
      const mm = this.mapMode;
      let m0 = T.findMapping(tid, proto, src, sp, mm === MAP_EIM ? 0 : dst, mm === MAP_APDM ? dp : 0);
      if (m0 < 0 && mm !== MAP_EIM && this.staticCount > 0) m0 = T.findMapping(tid, proto, src, sp, 0, 0);
      if (m0 >= 0) s = T.findSession(m0, dst, dp);
      if (s < 0) s = this.outboundMiss(tid, proto, src, sp, dst, dp, m0, flags, pkt, total, now);
      if (s < 0) return;
    }
    const m = T.si[(s << 4) + S_MAP];
    // ---- state and timers
    const sf = T.si[(s << 4) + S_FLAGS];
    if (proto === 6) {
      const old = T.si[(s << 4) + S_STATE];
      if ((flags & 0x07) === 0 && old === TCP_ESTABLISHED) {
        T.sd[(s << 3) + SD_EXPIRE] = now + ((sf & SF_IN) !== 0 ? this.tEst : this.tTrans);
      } else this.tcpTrack(s, old, flags, true, now);
    } else {
      T.sd[(s << 3) + SD_EXPIRE] = now + this.tUdp;
    }
    T.si[(s << 4) + S_FLAGS] = sf | SF_OUT;
    T.si[(s << 4) + S_PKTS_OUT]++;
    T.sd[(s << 3) + SD_BYTES_OUT] += total;
    // ---- rewrite: source → external endpoint, TTL - 1 (precomputed checksum deltas)
    const ext = this.pool[T.mi[(m << 3) + M_EXT_IDX]];
    const ep = T.mi[(m << 3) + M_EXT_PORT];
    const ipCk = applyDelta((pkt[10] << 8) | pkt[11], (T.mi[(m << 3) + M_CK] & 0xffff) + TTL_DELTA);
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    pkt[8]--;
    writeIpv4(pkt, 12, ext);
    pkt[hl] = ep >>> 8;
    pkt[hl + 1] = ep & 0xff;
    let ck = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (proto === 6 || ck !== 0) {
      ck = applyDelta(ck, T.mi[(m << 3) + M_CK] >>> 16);
      if (proto === 17 && ck === 0) ck = 0xffff;
      pkt[ckOff] = ck >>> 8;
      pkt[ckOff + 1] = ck & 0xff;
    }
    if ((sf & SF_REDIRECT) !== 0)
      this.redirectOut(
        pkt,
        hl,
        ckOff,
        proto,
        dst,
        dp,
        T.si[(s << 4) + S_REM_IP],
        T.si[(s << 4) + S_REM_PORT],
      );
    this.ctr[C_PKTS_OUT]++;
    this.ctr[C_BYTES_OUT] += total;
    let out = pkt;
    if (T.si[(s << 4) + S_HELPER] !== 0) {
      const r = this.runHelper(
        s,
        m,
        'outbound',
        pkt,
        hl,
        proto === 6 ? hl + ((pkt[hl + 12] >> 4) << 2) : hl + 8,
        total,
      );
      if (r === null) return;
      out = r;
    }
    this.emitOutside(out);
  }

  /** Rewrites the destination of an outbound packet of a redirected session (DNAT). */
  private redirectOut(
    pkt: Uint8Array,
    hl: number,
    ckOff: number,
    proto: number,
    dst: number,
    dp: number,
    nd: number,
    np: number,
  ): void {
    const ipCk = updateChecksum32((pkt[10] << 8) | pkt[11], dst, nd);
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    writeIpv4(pkt, 16, nd);
    pkt[hl + 2] = np >>> 8;
    pkt[hl + 3] = np & 0xff;
    let ck = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (proto === 6 || ck !== 0) {
      ck = updateChecksum16(updateChecksum32(ck, dst, nd), dp, np);
      if (proto === 17 && ck === 0) ck = 0xffff;
      pkt[ckOff] = ck >>> 8;
      pkt[ckOff + 1] = ck & 0xff;
    }
  }

  /** Rewrites the source of an inbound packet of a redirected session back to the original destination. */
  private redirectIn(
    pkt: Uint8Array,
    hl: number,
    ckOff: number,
    proto: number,
    src: number,
    sp: number,
    s: number,
  ): void {
    const orig = this.redirectOrig.get(s);
    if (!orig) return;
    const ipCk = updateChecksum32((pkt[10] << 8) | pkt[11], src, orig.ip);
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    writeIpv4(pkt, 12, orig.ip);
    if (proto === 1) return;
    pkt[hl] = orig.port >>> 8;
    pkt[hl + 1] = orig.port & 0xff;
    let ck = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (proto === 6 || ck !== 0) {
      ck = updateChecksum16(updateChecksum32(ck, src, orig.ip), sp, orig.port);
      if (proto === 17 && ck === 0) ck = 0xffff;
      pkt[ckOff] = ck >>> 8;
      pkt[ckOff + 1] = ck & 0xff;
    }
  }

  /** TCP state transition and deadline for a segment with SYN/FIN/RST or outside ESTABLISHED. */
  private tcpTrack(s: number, old: number, flags: number, outbound: boolean, now: number): void {
    const T = this.t;
    const replied = !outbound || (T.si[(s << 4) + S_FLAGS] & SF_IN) !== 0;
    const ns = tcpNextState(old, flags, outbound);
    if (ns !== old) {
      T.si[(s << 4) + S_STATE] = ns;
      const d = now + tcpTimeout(this.tmo, ns, replied);
      if (d < T.sd[(s << 3) + SD_EXPIRE]) this.sWheel.pullIn(s, d);
      T.sd[(s << 3) + SD_EXPIRE] = d;
    } else if (tcpRefreshes(ns)) {
      T.sd[(s << 3) + SD_EXPIRE] = now + tcpTimeout(this.tmo, ns, replied);
    }
  }

  /** Sends a translated packet out, or hairpins it when it is addressed to an outside address. */
  private emitOutside(pkt: Uint8Array): void {
    const dst = rd32(pkt, 16);
    if (dst === this.pool0 || (dst >= this.poolMin && dst <= this.poolMax && this.poolIndex.has(dst))) {
      if (!this.o.hairpinning) {
        this.stats.drops['no-hairpin']++;
        return;
      }
      this.stats.hairpinned++;
      this._fromOutside(pkt, true);
      return;
    }
    const len = (pkt[2] << 8) | pkt[3];
    if ((this.o.mtu > 0 && len > this.o.mtu) || (this.refrag > 0 && len > this.refrag)) {
      this.emitFragmented(pkt, len);
      return;
    }
    this.outHandler(pkt);
  }

  /**
   * An outbound packet larger than the outside MTU or than the fragments it was reassembled from.
   * DF set and over the MTU: dropped with ICMP 3/4 (RFC 4787 REQ-13), built about the translated
   * packet and then translated back like any ICMP error from outside, so it reaches the right
   * tenant with the embedded header as the sender sent it. Otherwise: fragmented.
   */
  private emitFragmented(pkt: Uint8Array, len: number): void {
    const mtu = this.o.mtu;
    if (mtu > 0 && len > mtu && (pkt[6] & 0x40) !== 0) {
      this.stats.drops['too-big']++;
      const err = this.icmpToken() ? buildIcmpError(pkt, len, this.pool0, 3, 4, mtu & 0xffff) : null;
      if (err) {
        this.stats.icmpErrorsSent++;
        this._fromOutside(err, false);
      }
      return;
    }
    const size = mtu > 0 && this.refrag > 0 ? Math.min(mtu, this.refrag) : mtu > 0 ? mtu : this.refrag;
    const frags = fragmentIpv4(pkt.subarray(0, len), size);
    if (typeof frags === 'string') {
      this.stats.drops.malformed++;
      return;
    }
    for (const f of frags) this.outHandler(f);
  }

  /** The inside defragmenter of tenant `tid` (created on its first fragment). */
  private insideDefrag(tid: number): Defragmenter {
    let d = this.defragIn.get(tid);
    if (d === undefined) {
      const dd = new Defragmenter({
        ...this.defragOpts,
        clock: this.clock,
        maintainIntervalMs: 0,
        icmpSource4: formatIpv4(this.insideIp >>> 0),
      });
      dd.setHandler((whole) => this.reassembled(dd, () => this._fromInside(tid, whole)));
      dd.setReplyHandler((err) => this.deliverTenant(tid, err));
      this.defragIn.set(tid, dd);
      d = dd;
    }
    return d;
  }

  /** The outside defragmenter (created on the first fragment from outside). */
  private outsideDefrag(): Defragmenter {
    if (this.defragOut === null) {
      const d = new Defragmenter({
        ...this.defragOpts,
        clock: this.clock,
        maintainIntervalMs: 0,
        icmpSource4: formatIpv4(this.pool0 >>> 0),
      });
      d.setHandler((whole) => this.reassembled(d, () => this._fromOutside(whole, false)));
      d.setReplyHandler((err) => this.outHandler(err));
      this.defragOut = d;
    }
    return this.defragOut;
  }

  /** Translates a reassembled datagram with re-fragmentation to its largest fragment size. */
  private reassembled(d: Defragmenter, translate: () => void): void {
    const prev = this.refrag;
    this.refrag = d.lastMaxFragmentSize;
    try {
      translate();
    } finally {
      this.refrag = prev;
    }
  }

  /** Counters of the NAT's defragmenters, summed (all zero when none was needed yet). */
  defragStats(): DefragStats {
    const sum = emptyDefragStats();
    const all = [...this.defragIn.values()];
    if (this.defragOut) all.push(this.defragOut);
    for (const d of all) for (const k of Object.keys(sum) as Array<keyof DefragStats>) sum[k] += d.stats[k];
    return sum;
  }

  /**
   * Turns reassembly on (with these settings; existing defragmenters are replaced, their partial
   * datagrams dropped) or off with `false`.
   */
  enableDefrag(options: NatDefragOptions | false = {}): void {
    for (const d of this.defragIn.values()) d.close();
    this.defragIn.clear();
    this.defragOut?.close();
    this.defragOut = null;
    this.defragOpts = options === false ? null : { ...options };
  }

  /** Slow path of an outbound packet without a session: rules, limits, mapping and session creation. Returns the session or -1 (dropped). */
  private outboundMiss(
    tid: number,
    proto: number,
    src: number,
    sp: number,
    dst: number,
    dp: number,
    m: number,
    flags: number,
    pkt: Uint8Array,
    total: number,
    now: number,
  ): number {
    const T = this.t;
    const st = this.stats;
    // A redirected session, looked up by its original destination.
    if (m >= 0 && this.redirectAlias.size > 0) {
      const s = this.redirectAlias.get(m)?.get(dst * 65536 + dp);
      if (s !== undefined) return s;
    }
    // A reply on a mapping reached inbound only (several forwards to one inside endpoint, …).
    if (this.shadows.size > 0) {
      const s = this.shadowSession(tid, proto, src, sp, dst, dp);
      if (s >= 0) return s;
    }
    let state: number = TcpState.none;
    if (proto === 6) {
      state = tcpInitialState(flags, true);
      if (state < 0) {
        st.drops['no-mapping']++;
        return -1;
      }
    }
    let rIp = dst;
    let rPort = dp;
    let redirected = false;
    if (this.dropRuleCount + this.redirectRuleCount > 0) {
      const portOrId = proto === 6 || proto === 17 ? dp : -1;
      for (const r of this.rules) {
        if (!ruleMatches(r, tid, proto, src, dst, portOrId, false)) continue;
        if (r.kind === 'drop') {
          st.drops['drop-rule']++;
          return -1;
        }
        if (!redirected) {
          redirected = true;
          rIp = r.toIp | 0;
          if (r.toPort >= 0 && (proto === 6 || proto === 17)) rPort = r.toPort;
        }
      }
      if (redirected && rIp === dst && rPort === dp) redirected = false;
      if (redirected && (proto === 6 || proto === 17) && ((rIp ^ this.insideNet) & this.insideMask) === 0) {
        // DNAT to an inside host: the target is reached through its own (pinned, open) mapping,
        // so the flow hairpins and the target's replies come back through the client's session.
        const ep = this.pinInsideTarget(tid, proto, rIp, rPort, now, pkt, total);
        if (ep < 0) return -1;
        rIp = this.pool[Math.floor(ep / 65536)];
        rPort = ep % 65536;
      }
    }
    let created = false;
    if (m < 0) {
      const mm = this.mapMode;
      // An endpoint a helper announced (an SDP media port, a DCC offer) leaves from the external
      // port it announced: the one its pending expectation holds.
      const e = this.expectations.size > 0 ? this.pendingExpectationOf(tid, proto, src, sp) : undefined;
      m = this.newMapping(
        tid,
        proto,
        src,
        sp,
        sp,
        mm === MAP_EIM ? 0 : dst,
        mm === MAP_APDM ? dp : 0,
        e ? e.extIdx : -1,
        e ? e.extPort : -1,
        MappingKind.dynamic,
        now,
        pkt,
        total,
      );
      if (m < 0) return -1;
      created = true;
    }
    if (redirected && T.findSession(m, rIp, rPort) >= 0) {
      // The redirect target is already a direct peer of this mapping: replies could not be told apart.
      st.drops['no-mapping']++;
      if (created) this.maybeRemoveMapping(m, now);
      return -1;
    }
    const timeout =
      proto === 6
        ? tcpTimeout(this.tmo, state, false)
        : proto === 17
          ? this.tmo.udp
          : proto === 1
            ? this.tmo.icmp
            : this.tmo.gre;
    const s = this.newSession(m, rIp, rPort, state, SF_OUT | (redirected ? SF_REDIRECT : 0), now + timeout);
    if (redirected) {
      this.redirectOrig.set(s, { ip: dst, port: dp });
      let am = this.redirectAlias.get(m);
      if (!am) {
        am = new Map();
        this.redirectAlias.set(m, am);
      }
      am.set(dst * 65536 + dp, s);
    }
    if (proto === 6 && (flags & TCP_SYN) !== 0 && this.heldLive > 0)
      this.cancelHeldSyn(T.mi[(m << 3) + M_EXT_IDX], T.mi[(m << 3) + M_EXT_PORT], rIp, rPort);
    if (this.helpers.length > 0) this.attachHelper(s, tid, proto, dp);
    if (this.listenerCount('mapping-created') > 0) this.emit('mapping-created', this.sessionRecord(s, now));
    return s;
  }

  /**
   * The external endpoint (extIdx * 65536 + port) of an inside redirect target, creating or
   * pinning an open (static) mapping for it. -1 when no mapping could be made (counted).
   */
  private pinInsideTarget(
    tid: number,
    proto: number,
    ip: number,
    port: number,
    now: number,
    pkt: Uint8Array,
    total: number,
  ): number {
    const T = this.t;
    let m = T.findMapping(tid, proto, ip, port, 0, 0);
    if (m < 0) {
      m = this.newMapping(tid, proto, ip, port, port, 0, 0, -1, -1, MappingKind.static, now, pkt, total);
      if (m < 0) return -1;
    } else if (T.mKind[m] === MappingKind.dynamic) {
      T.mKind[m] = MappingKind.static;
      this.staticCount++;
    }
    const until = now + (proto === 6 ? this.tmo.tcpTransitory : this.tmo.udp);
    if (T.mPinUntil[m] < until) T.mPinUntil[m] = until;
    if (T.mKind[m] !== MappingKind.forward && !this.mWheel.has(m)) this.mWheel.schedule(m, T.mPinUntil[m]);
    return T.mi[(m << 3) + M_EXT_IDX] * 65536 + T.mi[(m << 3) + M_EXT_PORT];
  }

  /** Creates a session and schedules its expiry. */
  private newSession(
    m: number,
    rIp: number,
    rPort: number,
    state: number,
    flags: number,
    deadline: number,
  ): number {
    const T = this.t;
    const s = T.addSession(m, rIp, rPort, state, flags & ~SF_OUT_LINKED, deadline);
    if ((flags & SF_REDIRECT) === 0 && T.mi[(m << 3) + M_PROTO] !== 47) T.linkOut(s);
    this.sWheel.ensureCapacity(T.sCap);
    this.sWheel.schedule(s, deadline);
    this.stats.sessionsCreated++;
    return s;
  }

  /** The outside address index for an inside host of a tenant (paired pooling, deterministic). */
  private pairedExtIdx(tid: number, inIp: number): number {
    const n = this.pool.length;
    if (n === 1) return 0;
    let h = Math.imul(inIp ^ Math.imul(tid, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0) % n;
  }

  /**
   * Creates a mapping (limits, port allocation). `wantPort` ≥ 0 takes that exact port (must be
   * free or reserved); `extIdxIn` ≥ 0 forces the outside address. On failure counts the drop,
   * sends ICMP 3/13 to the sender of `pkt` (when given) and returns -1.
   */
  private newMapping(
    tid: number,
    proto: number,
    inIp: number,
    inPort: number,
    kPort: number,
    kRemIp: number,
    kRemPort: number,
    extIdxIn: number,
    wantPort: number,
    kind: number,
    now: number,
    pkt: Uint8Array | null,
    total: number,
  ): number {
    const T = this.t;
    const st = this.stats;
    const tenant = this.tenants[tid];
    if (!tenant) {
      st.drops['no-mapping']++;
      return -1;
    }
    if (kind !== MappingKind.forward) {
      if (T.mCount >= this.o.maxMappings) {
        st.drops['table-full']++;
        this.reject(tid, pkt, total);
        return -1;
      }
      if (tenant.count >= this.o.maxMappingsPerTenant) {
        if (this.o.onTenantLimit !== 'evict-lru' || !this.evictLru(tenant, now)) {
          st.drops['tenant-limit']++;
          this.reject(tid, pkt, total);
          return -1;
        }
      }
    }
    const slot = protoSlot(proto);
    const extIdx = extIdxIn >= 0 ? extIdxIn : this.pairedExtIdx(tid, inIp);
    let port = wantPort;
    if (port < 0) {
      port = this.ports.allocate(slot, extIdx, inPort, 0x7fffffff, now);
      if (port < 0) {
        st.drops['ports-exhausted']++;
        this.reject(tid, pkt, total);
        return -1;
      }
    } else {
      const owner = this.ports.owner(slot, extIdx, port);
      if (owner !== PORT_FREE && owner !== PORT_RESERVED) return -1;
    }
    const m = T.addMapping(tid, proto, kind, inIp, inPort, kPort, kRemIp, kRemPort, extIdx, port, now);
    const dA = addrDelta(inIp, this.pool[extIdx]);
    const dPort = (~inPort & 0xffff) + port;
    const dL4 = proto === 1 ? fold16(dPort) : proto === 47 ? 0 : fold16(dA + dPort);
    T.mi[(m << 3) + M_CK] = dA | (dL4 << 16);
    if (proto === 47) this.greMappings.add(m);
    this.mWheel.ensureCapacity(T.mCap);
    this.ports.take(slot, extIdx, port, m);
    // tenant list
    T.mTenPrev[m] = -1;
    T.mTenNext[m] = tenant.head;
    if (tenant.head >= 0) T.mTenPrev[tenant.head] = m;
    tenant.head = m;
    if (kind !== MappingKind.forward) tenant.count++;
    else this.staticCount++;
    if (kind === MappingKind.static || kind === MappingKind.expectation) this.staticCount++;
    st.mappingsCreated++;
    return m;
  }

  /** Drops the least recently used dynamic mapping of a tenant. */
  private evictLru(tenant: Tenant, now: number): boolean {
    const T = this.t;
    let best = -1;
    let bestT = Number.POSITIVE_INFINITY;
    for (let m = tenant.head; m >= 0; m = T.mTenNext[m]) {
      if (T.mKind[m] !== MappingKind.dynamic) continue;
      // Recency: the latest session deadline (refreshed by traffic); creation time without sessions.
      let r = T.mLastUsed[m];
      for (let s = T.mSessHead[m]; s >= 0; s = T.sMapNext[s]) {
        const d = T.sd[(s << 3) + SD_EXPIRE];
        if (d > r) r = d;
      }
      if (r < bestT) {
        bestT = r;
        best = m;
      }
    }
    if (best < 0) return false;
    this.stats.evictions++;
    this.removeMapping(best, now, false);
    return true;
  }

  /** Takes a token of the ICMP error bucket; false (counted) when it is empty. */
  private icmpToken(): boolean {
    if (this.icmpBucket.take()) return true;
    this.stats.icmpRateLimited++;
    return false;
  }

  /** ICMP 3/13 (communication administratively prohibited) to the sender of a rejected packet (RFC 5508 / 6888). */
  private reject(tid: number, pkt: Uint8Array | null, total: number): void {
    if (!pkt || !this.icmpToken()) return;
    const err = buildIcmpError(pkt, total, this.insideIp, 3, 13);
    if (err) {
      this.stats.icmpErrorsSent++;
      this.deliverTenant(tid, err);
    }
  }

  private deliverTenant(tid: number, pkt: Uint8Array): void {
    const t = this.tenants[tid];
    if (!t) return;
    if (this.refrag > 0 && pkt.length > this.refrag) {
      const frags = fragmentIpv4(pkt, this.refrag);
      if (typeof frags !== 'string') {
        for (const f of frags) t.deliver(f);
        return;
      }
    }
    t.deliver(pkt);
  }

  private outIcmp(tid: number, pkt: Uint8Array, hl: number, total: number): void {
    const st = this.stats;
    if (total - hl < 8) {
      st.drops.malformed++;
      return;
    }
    // ICMP is always verified (messages are small and off the bulk data path): an error
    // translated incrementally must not carry a broken checksum forward.
    if (!l4ChecksumOk(pkt, hl, total, 1)) {
      st.drops['bad-checksum']++;
      return;
    }
    const type = pkt[hl];
    if (type === 8 || type === 13 || type === 15 || type === 17) {
      // Queries (echo, timestamp, information, address mask): the identifier is the port (RFC 5508 REQ-1).
      this.outEcho(tid, pkt, hl, total);
      return;
    }
    if (isTranslatedIcmpError(type)) {
      this.outIcmpError(tid, pkt, hl, total);
      return;
    }
    st.drops['icmp-unsupported']++;
  }

  private outEcho(tid: number, pkt: Uint8Array, hl: number, total: number): void {
    const T = this.t;
    const src = rd32(pkt, 12);
    const dst = rd32(pkt, 16);
    const id = (pkt[hl + 4] << 8) | pkt[hl + 5];
    const now = this.clock.now();
    let m = T.findMapping(tid, 1, src, id, this.mapMode === MAP_EIM ? 0 : dst, 0);
    if (m < 0 && this.mapMode !== MAP_EIM && this.staticCount > 0) m = T.findMapping(tid, 1, src, id, 0, 0);
    let s = m >= 0 ? T.findSession(m, dst, 0) : -1;
    if (s < 0) s = this.outboundMiss(tid, 1, src, id, dst, 0, m, 0, pkt, total, now);
    if (s < 0) return;
    m = T.si[(s << 4) + S_MAP];
    T.sd[(s << 3) + SD_EXPIRE] = now + this.tmo.icmp;
    T.si[(s << 4) + S_FLAGS] |= SF_OUT;
    T.si[(s << 4) + S_PKTS_OUT]++;
    T.sd[(s << 3) + SD_BYTES_OUT] += total;
    const ext = this.pool[T.mi[(m << 3) + M_EXT_IDX]];
    const eid = T.mi[(m << 3) + M_EXT_PORT];
    let ipCk = applyDelta((pkt[10] << 8) | pkt[11], (T.mi[(m << 3) + M_CK] & 0xffff) + TTL_DELTA);
    pkt[8]--;
    writeIpv4(pkt, 12, ext);
    if ((T.si[(s << 4) + S_FLAGS] & SF_REDIRECT) !== 0) {
      const nd = T.si[(s << 4) + S_REM_IP];
      ipCk = updateChecksum32(ipCk, dst, nd);
      writeIpv4(pkt, 16, nd);
    }
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    const ck = applyDelta((pkt[hl + 2] << 8) | pkt[hl + 3], T.mi[(m << 3) + M_CK] >>> 16);
    pkt[hl + 4] = eid >>> 8;
    pkt[hl + 5] = eid & 0xff;
    pkt[hl + 2] = ck >>> 8;
    pkt[hl + 3] = ck & 0xff;
    this.ctr[C_PKTS_OUT]++;
    this.ctr[C_BYTES_OUT] += total;
    this.emitOutside(pkt);
  }

  /** An ICMP error from inside about a packet we delivered inward (RFC 5508 §4.2): translate back. */
  private outIcmpError(tid: number, pkt: Uint8Array, hl: number, total: number): void {
    const st = this.stats;
    const e = this.emb;
    if (!parseEmbedded(pkt, hl, total, e)) {
      st.drops.malformed++;
      return;
    }
    const T = this.t;
    const eIp = e.ipOff;
    const l4 = e.l4Off;
    const proto = e.proto;
    const remIp = rd32(pkt, eIp + 12);
    const inIp = rd32(pkt, eIp + 16);
    let remPort = 0;
    let inPort = 0;
    let s = -1;
    if (proto === 6 || proto === 17 || proto === 1) {
      if (proto === 1) {
        remPort = 0;
        inPort = (pkt[l4 + 4] << 8) | pkt[l4 + 5];
      } else {
        remPort = (pkt[l4] << 8) | pkt[l4 + 1];
        inPort = (pkt[l4 + 2] << 8) | pkt[l4 + 3];
      }
      s = T.findSessionOut(tid, proto, inIp, inPort, remIp, remPort);
      if (s < 0 && this.redirectAlias.size > 0) {
        // A redirected session: the quoted packet shows the original destination.
        const mm = this.mapMode;
        let m = T.findMapping(
          tid,
          proto,
          inIp,
          inPort,
          mm === MAP_EIM ? 0 : remIp,
          mm === MAP_APDM ? remPort : 0,
        );
        if (m < 0 && mm !== MAP_EIM) m = T.findMapping(tid, proto, inIp, inPort, 0, 0);
        if (m >= 0) s = this.redirectAlias.get(m)?.get(remIp * 65536 + remPort) ?? -1;
      }
    } else if (proto === 47) {
      // A quoted inbound GRE packet carries the inside call ID (already translated back).
      inPort = (pkt[l4 + 6] << 8) | pkt[l4 + 7];
      for (const g of this.greMappings) {
        const go = g << 3;
        if (
          T.mi[go + M_TENANT] === tid &&
          T.mi[go + M_IN_IP] === inIp &&
          T.mi[go + M_IN_PORT] === inPort &&
          T.mKRemIp[g] === remIp
        ) {
          s = T.findSession(g, remIp, 0);
          break;
        }
      }
    }
    if (s < 0) {
      st.drops['icmp-error-no-mapping']++;
      return;
    }
    const m = T.si[(s << 4) + S_MAP];
    const ext = this.pool[T.mi[(m << 3) + M_EXT_IDX]];
    rewriteEmbedded(pkt, hl, e, 16, ext, T.mi[(m << 3) + M_EXT_PORT]);
    const redirected = (T.si[(s << 4) + S_FLAGS] & SF_REDIRECT) !== 0;
    if (redirected) {
      // The inside host saw the original destination; the remote must see its own address.
      rewriteEmbedded(
        pkt,
        hl,
        e,
        12,
        T.si[(s << 4) + S_REM_IP],
        proto === 1 ? T.mi[(m << 3) + M_EXT_PORT] : T.si[(s << 4) + S_REM_PORT],
      );
    }
    // outer: source → external address, destination stays the remote, TTL - 1
    const src = rd32(pkt, 12);
    let ipCk = (pkt[10] << 8) | pkt[11];
    ipCk = updateChecksum32(ipCk, src, ext);
    const ttlWord = (pkt[8] << 8) | 1;
    ipCk = updateChecksum16(ipCk, ttlWord, ttlWord - 0x100);
    pkt[8]--;
    writeIpv4(pkt, 12, ext);
    const outerDst = rd32(pkt, 16);
    if (redirected && outerDst === remIp) {
      ipCk = updateChecksum32(ipCk, outerDst, T.si[(s << 4) + S_REM_IP]);
      writeIpv4(pkt, 16, T.si[(s << 4) + S_REM_IP]);
    }
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    st.icmpErrorsTranslated++;
    this.ctr[C_PKTS_OUT]++;
    this.ctr[C_BYTES_OUT] += total;
    this.emitOutside(pkt);
  }

  private shadowSession(
    tid: number,
    proto: number,
    inIp: number,
    inPort: number,
    remIp: number,
    remPort: number,
  ): number {
    const T = this.t;
    for (const fm of this.shadows) {
      if (
        T.mi[(fm << 3) + M_TENANT] !== tid ||
        T.mi[(fm << 3) + M_PROTO] !== proto ||
        T.mi[(fm << 3) + M_IN_IP] !== inIp ||
        T.mi[(fm << 3) + M_IN_PORT] !== inPort
      )
        continue;
      const s = T.findSession(fm, remIp, remPort);
      if (s >= 0) return s;
    }
    return -1;
  }

  private outGre(tid: number, pkt: Uint8Array, hl: number, total: number): void {
    const st = this.stats;
    const T = this.t;
    const cidOff = greCallIdOffset(pkt, hl, total);
    if (cidOff < 0) {
      st.drops[cidOff === -1 ? 'malformed' : 'unsupported-protocol']++;
      return;
    }
    const src = rd32(pkt, 12);
    const dst = rd32(pkt, 16);
    const peerCallId = (pkt[cidOff] << 8) | pkt[cidOff + 1];
    const m = T.findMapping(tid, 47, src, 0, dst, peerCallId);
    if (m < 0) {
      st.drops['no-mapping']++;
      return;
    }
    const s = T.findSession(m, dst, 0);
    if (s < 0) {
      st.drops['no-mapping']++;
      return;
    }
    const now = this.clock.now();
    T.sd[(s << 3) + SD_EXPIRE] = now + this.tmo.gre;
    T.si[(s << 4) + S_FLAGS] |= SF_OUT;
    T.si[(s << 4) + S_PKTS_OUT]++;
    T.sd[(s << 3) + SD_BYTES_OUT] += total;
    const ext = this.pool[T.mi[(m << 3) + M_EXT_IDX]];
    let ipCk = (pkt[10] << 8) | pkt[11];
    ipCk = updateChecksum32(ipCk, src, ext);
    const ttlWord = (pkt[8] << 8) | 47;
    ipCk = updateChecksum16(ipCk, ttlWord, ttlWord - 0x100);
    pkt[8]--;
    writeIpv4(pkt, 12, ext);
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    this.ctr[C_PKTS_OUT]++;
    this.ctr[C_BYTES_OUT] += total;
    this.emitOutside(pkt);
  }

  // =================================================================== inbound

  private inL4(
    pkt: Uint8Array,
    hl: number,
    total: number,
    proto: number,
    extIdx: number,
    hairpin: boolean,
  ): void {
    const st = this.stats;
    const l4len = total - hl;
    let flags = 0;
    let ckOff: number;
    if (proto === 6) {
      if (l4len < 20) {
        st.drops.malformed++;
        return;
      }
      const doff = (pkt[hl + 12] >> 4) << 2;
      if (doff < 20 || doff > l4len) {
        st.drops.malformed++;
        return;
      }
      flags = pkt[hl + 13];
      ckOff = hl + 16;
    } else {
      if (l4len < 8) {
        st.drops.malformed++;
        return;
      }
      const ulen = (pkt[hl + 4] << 8) | pkt[hl + 5];
      if (ulen < 8 || ulen > l4len) {
        st.drops.malformed++;
        return;
      }
      ckOff = hl + 6;
    }
    if (this.verify && !hairpin && !l4ChecksumOk(pkt, hl, total, proto)) {
      st.drops['bad-checksum']++;
      return;
    }
    const src = rd32(pkt, 12);
    const sp = (pkt[hl] << 8) | pkt[hl + 1];
    const dp = (pkt[hl + 2] << 8) | pkt[hl + 3];
    const T = this.t;
    const now = this.clock.now();
    let s = T.findSessionIn(proto, extIdx, dp, src, sp);
    if (s < 0) {
      const owners = this.ports.owners[proto === 6 ? 0 : 1][extIdx];
      const m0 = owners ? owners[dp] : PORT_FREE;
      s = this.inboundMiss(proto, extIdx, dp, src, sp, m0, flags, pkt, total, now);
      if (s < 0) return;
    }
    const m = T.si[(s << 4) + S_MAP];
    const sf = T.si[(s << 4) + S_FLAGS];
    if (proto === 6) {
      const old = T.si[(s << 4) + S_STATE];
      if ((flags & 0x07) === 0 && old === TCP_ESTABLISHED) T.sd[(s << 3) + SD_EXPIRE] = now + this.tEst;
      else this.tcpTrack(s, old, flags, false, now);
    } else {
      T.sd[(s << 3) + SD_EXPIRE] = now + this.tUdp;
    }
    T.si[(s << 4) + S_FLAGS] = sf | SF_IN;
    T.si[(s << 4) + S_PKTS_IN]++;
    T.sd[(s << 3) + SD_BYTES_IN] += total;
    // ---- rewrite: destination → inside endpoint, TTL - 1 (once for a hairpinned packet)
    const inIp = T.mi[(m << 3) + M_IN_IP];
    const ip = T.mi[(m << 3) + M_IN_PORT];
    const ipCk = applyDelta(
      (pkt[10] << 8) | pkt[11],
      (~T.mi[(m << 3) + M_CK] & 0xffff) + (hairpin ? 0 : TTL_DELTA),
    );
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    if (!hairpin) pkt[8]--;
    writeIpv4(pkt, 16, inIp);
    pkt[hl + 2] = ip >>> 8;
    pkt[hl + 3] = ip & 0xff;
    let ck = (pkt[ckOff] << 8) | pkt[ckOff + 1];
    if (proto === 6 || ck !== 0) {
      ck = applyDelta(ck, ~(T.mi[(m << 3) + M_CK] >>> 16) & 0xffff);
      if (proto === 17 && ck === 0) ck = 0xffff;
      pkt[ckOff] = ck >>> 8;
      pkt[ckOff + 1] = ck & 0xff;
    }
    if ((sf & SF_REDIRECT) !== 0) this.redirectIn(pkt, hl, ckOff, proto, src, sp, s);
    this.ctr[C_PKTS_IN]++;
    this.ctr[C_BYTES_IN] += total;
    let out = pkt;
    if (T.si[(s << 4) + S_HELPER] !== 0) {
      const r = this.runHelper(
        s,
        m,
        'inbound',
        pkt,
        hl,
        proto === 6 ? hl + ((pkt[hl + 12] >> 4) << 2) : hl + 8,
        total,
      );
      if (r === null) return;
      out = r;
    }
    this.deliverTenant(T.mi[(m << 3) + M_TENANT], out);
  }

  /** Slow path of an inbound packet without a session: filtering, forwards, expectations, SYN hold. */
  private inboundMiss(
    proto: number,
    extIdx: number,
    extPort: number,
    src: number,
    sp: number,
    m: number,
    flags: number,
    pkt: Uint8Array,
    total: number,
    now: number,
  ): number {
    const T = this.t;
    const st = this.stats;
    let state: number = TcpState.none;
    if (proto === 6) {
      state = tcpInitialState(flags, false);
    }
    if (m >= 0) {
      const kind = T.mKind[m];
      const f = this.filterMode;
      let allowed =
        kind === MappingKind.forward ||
        f === FILTER_EIF ||
        (f === FILTER_ADF && T.hasSessionToAddress(m, src)) ||
        (kind === MappingKind.static && T.mKRemIp[m] === 0) ||
        (kind === MappingKind.expectation && T.mSessCount[m] === 0 && T.mKRemIp[m] === 0);
      if (allowed && this.dropRuleCount > 0) {
        for (const r of this.rules)
          if (
            r.kind === 'drop' &&
            ruleMatches(
              r,
              T.mi[(m << 3) + M_TENANT],
              proto,
              src,
              this.pool[extIdx],
              proto === 1 ? -1 : extPort,
              true,
            )
          ) {
            st.drops['drop-rule']++;
            return -1;
          }
      }
      if (allowed && proto === 6 && state < 0) allowed = false;
      if (allowed) {
        const timeout =
          proto === 6 ? tcpTimeout(this.tmo, state, true) : proto === 17 ? this.tmo.udp : this.tmo.icmp;
        const s = this.newSession(m, src, sp, state, SF_IN | SF_INBOUND_ORIGIN, now + timeout);
        if (this.helpers.length > 0)
          this.attachHelper(s, T.mi[(m << 3) + M_TENANT], proto, T.mi[(m << 3) + M_IN_PORT]);
        if (this.listenerCount('mapping-created') > 0)
          this.emit('mapping-created', this.sessionRecord(s, now));
        return s;
      }
    }
    if (this.expByPort.size > 0) {
      const s = this.useExpectation(proto, extIdx, extPort, src, sp, m, state, now);
      if (s >= 0) return s;
      if (s === -2) return -1;
    }
    if (proto === 6 && (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
      this.holdSyn(pkt, total, extIdx, extPort, src, sp, now);
      return -1;
    }
    st.drops[m >= 0 ? 'filtered' : 'no-mapping']++;
    return -1;
  }

  private inIcmp(pkt: Uint8Array, hl: number, total: number, extIdx: number, hairpin: boolean): void {
    const st = this.stats;
    if (total - hl < 8) {
      st.drops.malformed++;
      return;
    }
    if (!hairpin && !l4ChecksumOk(pkt, hl, total, 1)) {
      st.drops['bad-checksum']++;
      return;
    }
    const type = pkt[hl];
    if (type === 0 || type === 14 || type === 16 || type === 18) {
      this.inEchoReply(pkt, hl, total, extIdx, hairpin);
      return;
    }
    if (type === 8) {
      // An echo request to an outside address: the NAT answers for itself.
      this.answerEcho(pkt, hl, total);
      st.echoAnswered++;
      if (hairpin) this._fromOutside(pkt, true);
      else this.outHandler(pkt);
      return;
    }
    if (isTranslatedIcmpError(type)) {
      this.inIcmpError(pkt, hl, total, extIdx, hairpin);
      return;
    }
    st.drops['icmp-unsupported']++;
  }

  /** Turns an echo request into the echo reply, in place (swap addresses, type 0, fresh TTL). */
  private answerEcho(pkt: Uint8Array, hl: number, total: number): void {
    const src = rd32(pkt, 12);
    const dst = rd32(pkt, 16);
    writeIpv4(pkt, 12, dst);
    writeIpv4(pkt, 16, src);
    let ipCk = (pkt[10] << 8) | pkt[11];
    const ttlWord = (pkt[8] << 8) | 1;
    ipCk = updateChecksum16(ipCk, ttlWord, (64 << 8) | 1);
    pkt[8] = 64;
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    const ck = updateChecksum16((pkt[hl + 2] << 8) | pkt[hl + 3], 0x0800 | pkt[hl + 1], pkt[hl + 1]);
    pkt[hl] = 0;
    pkt[hl + 2] = ck >>> 8;
    pkt[hl + 3] = ck & 0xff;
    void total;
  }

  private inEchoReply(pkt: Uint8Array, hl: number, total: number, extIdx: number, hairpin: boolean): void {
    const T = this.t;
    const src = rd32(pkt, 12);
    const eid = (pkt[hl + 4] << 8) | pkt[hl + 5];
    const owners = this.ports.owners[2][extIdx];
    const m0 = owners ? owners[eid] : PORT_FREE;
    const now = this.clock.now();
    let s = m0 >= 0 ? T.findSession(m0, src, 0) : -1;
    if (s < 0) {
      s = this.inboundMiss(1, extIdx, eid, src, 0, m0, 0, pkt, total, now);
      if (s < 0) return;
    }
    const m = T.si[(s << 4) + S_MAP];
    T.sd[(s << 3) + SD_EXPIRE] = now + this.tmo.icmp;
    T.si[(s << 4) + S_FLAGS] |= SF_IN;
    T.si[(s << 4) + S_PKTS_IN]++;
    T.sd[(s << 3) + SD_BYTES_IN] += total;
    const dst = rd32(pkt, 16);
    const inIp = T.mi[(m << 3) + M_IN_IP];
    const id = T.mi[(m << 3) + M_IN_PORT];
    let ipCk = (pkt[10] << 8) | pkt[11];
    ipCk = updateChecksum32(ipCk, dst, inIp);
    if (!hairpin) {
      const ttlWord = (pkt[8] << 8) | 1;
      ipCk = updateChecksum16(ipCk, ttlWord, ttlWord - 0x100);
      pkt[8]--;
    }
    writeIpv4(pkt, 16, inIp);
    if ((T.si[(s << 4) + S_FLAGS] & SF_REDIRECT) !== 0) {
      const orig = this.redirectOrig.get(s);
      if (orig) {
        ipCk = updateChecksum32(ipCk, src, orig.ip);
        writeIpv4(pkt, 12, orig.ip);
      }
    }
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    const ck = updateChecksum16((pkt[hl + 2] << 8) | pkt[hl + 3], eid, id);
    pkt[hl + 4] = id >>> 8;
    pkt[hl + 5] = id & 0xff;
    pkt[hl + 2] = ck >>> 8;
    pkt[hl + 3] = ck & 0xff;
    this.ctr[C_PKTS_IN]++;
    this.ctr[C_BYTES_IN] += total;
    this.deliverTenant(T.mi[(m << 3) + M_TENANT], pkt);
  }

  /** An ICMP error from outside about a packet we sent out (RFC 5508 §4.1). Never refreshes. */
  private inIcmpError(pkt: Uint8Array, hl: number, total: number, extIdx: number, hairpin: boolean): void {
    const st = this.stats;
    const e = this.emb;
    if (!parseEmbedded(pkt, hl, total, e)) {
      st.drops.malformed++;
      return;
    }
    const T = this.t;
    const eIp = e.ipOff;
    const l4 = e.l4Off;
    const proto = e.proto;
    const embSrc = rd32(pkt, eIp + 12);
    const remIp = rd32(pkt, eIp + 16);
    let embExtIdx = 0;
    if (embSrc !== this.pool0) {
      const i = this.poolIndex.get(embSrc);
      if (i === undefined) {
        st.drops['icmp-error-no-mapping']++;
        return;
      }
      embExtIdx = i;
    }
    void extIdx;
    let remPort = 0;
    let m = PORT_FREE;
    if (proto === 6 || proto === 17 || proto === 1) {
      let extPort: number;
      if (proto === 1) extPort = (pkt[l4 + 4] << 8) | pkt[l4 + 5];
      else {
        extPort = (pkt[l4] << 8) | pkt[l4 + 1];
        remPort = (pkt[l4 + 2] << 8) | pkt[l4 + 3];
      }
      const owners = this.ports.owners[protoSlot(proto)][embExtIdx];
      if (owners) m = owners[extPort];
    } else if (proto === 47) {
      // A quoted outbound GRE packet carries the peer's call ID: find the mapping by its key.
      const cid = (pkt[l4 + 6] << 8) | pkt[l4 + 7];
      for (const g of this.greMappings) {
        if (T.mi[(g << 3) + M_EXT_IDX] === embExtIdx && T.mKRemIp[g] === remIp && T.mKRemPort[g] === cid) {
          m = g;
          break;
        }
      }
    }
    if (m < 0) {
      st.drops['icmp-error-no-mapping']++;
      return;
    }
    const s = T.findSession(m, remIp, remPort);
    if (s < 0 && this.filterMode !== FILTER_EIF) {
      st.drops['icmp-error-no-mapping']++;
      return;
    }
    const inIp = T.mi[(m << 3) + M_IN_IP];
    rewriteEmbedded(pkt, hl, e, 12, inIp, T.mi[(m << 3) + M_IN_PORT]);
    const orig =
      s >= 0 && (T.si[(s << 4) + S_FLAGS] & SF_REDIRECT) !== 0 ? this.redirectOrig.get(s) : undefined;
    if (orig) rewriteEmbedded(pkt, hl, e, 16, orig.ip, proto === 1 ? T.mi[(m << 3) + M_IN_PORT] : orig.port);
    const dst = rd32(pkt, 16);
    let ipCk = (pkt[10] << 8) | pkt[11];
    ipCk = updateChecksum32(ipCk, dst, inIp);
    if (orig && rd32(pkt, 12) === T.si[(s << 4) + S_REM_IP]) {
      ipCk = updateChecksum32(ipCk, T.si[(s << 4) + S_REM_IP], orig.ip);
      writeIpv4(pkt, 12, orig.ip);
    }
    if (!hairpin) {
      const ttlWord = (pkt[8] << 8) | 1;
      ipCk = updateChecksum16(ipCk, ttlWord, ttlWord - 0x100);
      pkt[8]--;
    }
    writeIpv4(pkt, 16, inIp);
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    st.icmpErrorsTranslated++;
    this.ctr[C_PKTS_IN]++;
    this.ctr[C_BYTES_IN] += total;
    this.deliverTenant(T.mi[(m << 3) + M_TENANT], pkt);
  }

  private inGre(pkt: Uint8Array, hl: number, total: number, extIdx: number, hairpin: boolean): void {
    const st = this.stats;
    const T = this.t;
    const cidOff = greCallIdOffset(pkt, hl, total);
    if (cidOff < 0) {
      st.drops[cidOff === -1 ? 'malformed' : 'unsupported-protocol']++;
      return;
    }
    const src = rd32(pkt, 12);
    const extCid = (pkt[cidOff] << 8) | pkt[cidOff + 1];
    const owners = this.ports.owners[3][extIdx];
    const m = owners ? owners[extCid] : PORT_FREE;
    if (m < 0) {
      st.drops['no-mapping']++;
      return;
    }
    const s = T.findSession(m, src, 0);
    if (s < 0) {
      st.drops.filtered++;
      return;
    }
    const now = this.clock.now();
    T.sd[(s << 3) + SD_EXPIRE] = now + this.tmo.gre;
    T.si[(s << 4) + S_FLAGS] |= SF_IN;
    T.si[(s << 4) + S_PKTS_IN]++;
    T.sd[(s << 3) + SD_BYTES_IN] += total;
    const dst = rd32(pkt, 16);
    const inIp = T.mi[(m << 3) + M_IN_IP];
    let ipCk = (pkt[10] << 8) | pkt[11];
    ipCk = updateChecksum32(ipCk, dst, inIp);
    if (!hairpin) {
      const ttlWord = (pkt[8] << 8) | 47;
      ipCk = updateChecksum16(ipCk, ttlWord, ttlWord - 0x100);
      pkt[8]--;
    }
    writeIpv4(pkt, 16, inIp);
    pkt[10] = ipCk >>> 8;
    pkt[11] = ipCk & 0xff;
    const cid = T.mi[(m << 3) + M_IN_PORT];
    pkt[cidOff] = cid >>> 8;
    pkt[cidOff + 1] = cid & 0xff;
    this.ctr[C_PKTS_IN]++;
    this.ctr[C_BYTES_IN] += total;
    this.deliverTenant(T.mi[(m << 3) + M_TENANT], pkt);
  }

  // =================================================================== SYN hold (RFC 5382 REQ-4)

  private holdSyn(
    pkt: Uint8Array,
    total: number,
    extIdx: number,
    extPort: number,
    remIp: number,
    remPort: number,
    now: number,
  ): void {
    if (this.heldLive >= this.o.maxHeldSyns) {
      this.stats.drops['unsolicited-syn']++;
      return;
    }
    this.held.push({
      pkt: pkt.slice(0, total),
      extIdx,
      extPort,
      remIp,
      remPort,
      deadline: now + this.tmo.tcpSynHold,
      live: true,
    });
    this.heldLive++;
    this.stats.synHeld++;
  }

  private cancelHeldSyn(extIdx: number, extPort: number, remIp: number, remPort: number): void {
    for (let i = this.heldHead; i < this.held.length; i++) {
      const h = this.held[i];
      if (
        h.live &&
        h.extPort === extPort &&
        h.remIp === remIp &&
        h.remPort === remPort &&
        h.extIdx === extIdx
      ) {
        h.live = false;
        this.heldLive--;
        this.stats.drops['unsolicited-syn']++;
      }
    }
  }

  private expireHeldSyns(now: number): void {
    const q = this.held;
    while (this.heldHead < q.length && q[this.heldHead].deadline <= now) {
      const h = q[this.heldHead++];
      if (!h.live) continue;
      h.live = false;
      this.heldLive--;
      this.stats.drops['unsolicited-syn']++;
      const err = this.icmpToken() ? buildIcmpError(h.pkt, h.pkt.length, this.pool[h.extIdx], 3, 3) : null;
      if (err) {
        this.stats.icmpErrorsSent++;
        this.outHandler(err);
      }
    }
    if (this.heldHead > 1024 && this.heldHead * 2 > q.length) {
      this.held = q.slice(this.heldHead);
      this.heldHead = 0;
    }
  }

  // =================================================================== removal and expiry

  private onSessionDue(s: number, now: number): number {
    const T = this.t;
    if (T.si[(s << 4) + S_MAP] < 0) return -1; // freed meanwhile (an event listener removed it)
    const d = T.sd[(s << 3) + SD_EXPIRE];
    if (d > now) return d;
    this.stats.sessionsExpired++;
    const m = T.si[(s << 4) + S_MAP];
    if (this.listenerCount('mapping-expired') > 0) this.emit('mapping-expired', this.sessionRecord(s, now));
    this.freeSession(s);
    if (T.mSessCount[m] === 0) this.maybeRemoveMapping(m, now, true);
    return -1;
  }

  private onMappingDue(m: number, now: number): number {
    const T = this.t;
    if (T.mKind[m] === MappingKind.free) return -1;
    const pin = T.mPinUntil[m];
    if (pin > now) return pin;
    T.mPinUntil[m] = 0;
    if (T.mSessCount[m] === 0 && T.mKind[m] !== MappingKind.forward) {
      if (this.listenerCount('mapping-expired') > 0)
        this.emit('mapping-expired', this.mappingOnlyRecord(m, now));
      this.removeMapping(m, now, true);
    }
    return -1;
  }

  private freeSession(s: number): void {
    const T = this.t;
    this.sWheel.cancel(s);
    const hi = T.si[(s << 4) + S_HELPER];
    if (hi !== 0) {
      this.seqAdj.delete(s);
      const h = this.helpers[hi - 1];
      if (h?.onClose) {
        try {
          h.onClose(T.sId[s]);
        } catch {
          // a helper's bookkeeping error must not disturb the NAT
        }
      }
    }
    if ((T.si[(s << 4) + S_FLAGS] & SF_REDIRECT) !== 0) {
      const orig = this.redirectOrig.get(s);
      this.redirectOrig.delete(s);
      const am = this.redirectAlias.get(T.si[(s << 4) + S_MAP]);
      if (am && orig) {
        am.delete(orig.ip * 65536 + orig.port);
        if (am.size === 0) this.redirectAlias.delete(T.si[(s << 4) + S_MAP]);
      }
    }
    T.freeSession(s);
  }

  /** Removes a mapping whose last session went, unless it is a forward or still pinned. */
  private maybeRemoveMapping(m: number, now: number, expired = false): void {
    const T = this.t;
    if (T.mKind[m] === MappingKind.forward || T.mSessCount[m] > 0) return;
    if (T.mPinUntil[m] > now) return;
    this.removeMapping(m, now, expired);
  }

  /** Removes a mapping and all its sessions; frees (quarantines) its port. */
  private removeMapping(m: number, now: number, expired: boolean): void {
    const T = this.t;
    const emitRemoved = !expired && this.listenerCount('mapping-removed') > 0;
    while (T.mSessHead[m] >= 0) {
      const s = T.mSessHead[m];
      if (emitRemoved) this.emit('mapping-removed', this.sessionRecord(s, now));
      this.freeSession(s);
    }
    if (emitRemoved && T.mSessCount[m] === 0 && T.mKind[m] !== MappingKind.dynamic)
      this.emit('mapping-removed', this.mappingOnlyRecord(m, now));
    this.mWheel.cancel(m);
    this.shadows.delete(m);
    this.greMappings.delete(m);
    const tid = T.mi[(m << 3) + M_TENANT];
    const tenant = this.tenants[tid];
    const kind = T.mKind[m];
    if (tenant) {
      const p = T.mTenPrev[m];
      const n = T.mTenNext[m];
      if (p >= 0) T.mTenNext[p] = n;
      else tenant.head = n;
      if (n >= 0) T.mTenPrev[n] = p;
      if (kind !== MappingKind.forward) tenant.count--;
    }
    if (kind === MappingKind.forward || kind === MappingKind.static || kind === MappingKind.expectation)
      this.staticCount--;
    const slot = protoSlot(T.mi[(m << 3) + M_PROTO]);
    this.ports.release(slot, T.mi[(m << 3) + M_EXT_IDX], T.mi[(m << 3) + M_EXT_PORT], now);
    T.freeMapping(m);
    if (expired) this.stats.mappingsExpired++;
    else this.stats.mappingsRemoved++;
  }

  /**
   * Expires what is due at `clock.now()`: sessions, session-less mappings, expectations, held
   * SYNs (sending their ICMP 3/3) and port reservations. Cost O(expired + slots passed).
   * Runs on the NAT's own timer too (`maintainIntervalMs`).
   */
  maintain(): void {
    if (this.closed) return;
    const now = this.clock.now();
    this.defragOut?.maintain();
    for (const d of this.defragIn.values()) d.maintain();
    this.sWheel.advance(now, this.dueSession);
    this.mWheel.advance(now, this.dueMapping);
    this.eWheel.advance(now, this.dueExpectation);
    if (this.leases.length > 0 && this.leases[0].deadline <= now) this.expireLeases(now);
    if (this.heldLive > 0 || this.heldHead < this.held.length) this.expireHeldSyns(now);
    const rq = this.reservations;
    while (this.reservationHead < rq.length && rq[this.reservationHead].deadline <= now) {
      const r = rq[this.reservationHead++];
      const slot = Math.floor(r.key / 2 ** 32);
      const extIdx = Math.floor(r.key / 65536) % 65536;
      const port = r.key % 65536;
      if (this.ports.owner(slot, extIdx, port) === PORT_RESERVED && !this.expByPort.has(r.key))
        this.ports.release(slot, extIdx, port, now);
    }
    if (this.reservationHead > 256 && this.reservationHead * 2 > rq.length) {
      rq.splice(0, this.reservationHead);
      this.reservationHead = 0;
    }
  }

  /** Stops the maintain timer and drops every later packet (counted as `closed`). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fastOff = 1;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.enableDefrag(false);
    const locals = this.localHelpers;
    this.localHelpers = [];
    this.localGroups = [];
    this.localEndpoints = [];
    for (const h of locals) this.detachLocal(h);
  }

  /** Whether {@link Nat.close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  // =================================================================== port forwards

  /**
   * Forwards `outsideIp:outsidePort` (default: the main outside address) to
   * `insideIp:insidePort` of `tenant` (default 0): any remote may open connections to it.
   * Throws `ERR_FORWARD_CONFLICT` when the port is forwarded already, `ERR_PORT_IN_USE` when a
   * live mapping or reservation holds it.
   */
  addPortForward(f: PortForwardOptions): ForwardRecord {
    if (this.closed) throw new ClosedError('Nat');
    const inIp = validateForward(f);
    const tid = this.checkTenant(f.tenant);
    const extIdx = this.extIndexOf(f.outsideIp);
    const slot = protoSlot(f.proto);
    const key = portKey(slot, extIdx, f.outsidePort);
    if (this.forwards.has(key))
      throw new ConfigError(
        'ERR_FORWARD_CONFLICT',
        `${PROTO_NAMES[f.proto]} port ${f.outsidePort} is already forwarded`,
      );
    const owner = this.ports.owner(slot, extIdx, f.outsidePort);
    if (owner !== PORT_FREE)
      throw new ConfigError('ERR_PORT_IN_USE', `${PROTO_NAMES[f.proto]} port ${f.outsidePort} is in use`);
    const now = this.clock.now();
    const T = this.t;
    let kRemIp = 0;
    let kRemPort = 0;
    const shadow = T.findMapping(tid, f.proto, inIp, f.insidePort, 0, 0) >= 0;
    if (shadow) {
      // The inside endpoint already has a mapping: this one is reached inbound only (shadow key).
      kRemIp = -1;
      kRemPort = f.outsidePort;
    }
    const m = this.newMapping(
      tid,
      f.proto,
      inIp,
      f.insidePort,
      f.insidePort,
      kRemIp,
      kRemPort,
      extIdx,
      f.outsidePort,
      MappingKind.forward,
      now,
      null,
      0,
    );
    if (m < 0) throw new ConfigError('ERR_PORT_IN_USE', `port ${f.outsidePort} is not available`);
    T.mPinUntil[m] = Number.POSITIVE_INFINITY;
    if (shadow) this.shadows.add(m);
    const rec: ForwardRecord = {
      proto: f.proto,
      outsideIp: formatIpv4(this.pool[extIdx]),
      outsidePort: f.outsidePort,
      insideIp: formatIpv4(inIp),
      insidePort: f.insidePort,
      tenant: tid,
      origin: f.origin ?? 'static',
    };
    if (f.description !== undefined) rec.description = f.description;
    const lease = checkLease(f.leaseMs);
    const deadline = lease > 0 ? now + lease : Number.POSITIVE_INFINITY;
    this.forwards.set(key, { rec, m, slot, extIdx, deadline });
    if (lease > 0) this.scheduleLease(key, deadline);
    if (this.helpers.length > 0)
      for (let s = T.mSessHead[m]; s >= 0; s = T.sMapNext[s])
        this.attachHelper(s, tid, f.proto, f.insidePort);
    this.emit('forward-added', { ...rec });
    return { ...rec };
  }

  /** Removes a port forward (and its connections). Returns false when there was none. */
  removePortForward(proto: number, outsidePort: number, outsideIp?: string): boolean {
    const slot = protoSlot(proto);
    if (slot < 0) return false;
    const key = portKey(slot, this.extIndexOf(outsideIp), outsidePort);
    const f = this.forwards.get(key);
    if (!f) return false;
    this.removeForwardEntry(key, f);
    return true;
  }

  private removeForwardEntry(key: number, f: ForwardEntry): void {
    this.forwards.delete(key);
    this.removeMapping(f.m, this.clock.now(), false);
    this.emit('forward-removed', { ...f.rec });
  }

  /** All port forwards (with the time left of their lease, if any). */
  listPortForwards(): ForwardRecord[] {
    const now = this.clock.now();
    // Leases that ran out since the last maintain() are not listed as live.
    if (this.leases.length > 0 && this.leases[0].deadline <= now && !this.closed) this.expireLeases(now);
    return [...this.forwards.values()].map((f) => this.forwardRecord(f, now));
  }

  private forwardRecord(f: ForwardEntry, now: number): ForwardRecord {
    const r = { ...f.rec };
    if (f.deadline !== Number.POSITIVE_INFINITY) r.expiresInMs = Math.max(0, f.deadline - now);
    return r;
  }

  /** {@inheritDoc NatLocalHost.updatePortForward} */
  updatePortForward(
    proto: number,
    outsidePort: number,
    changes: { leaseMs?: number; description?: string },
    outsideIp?: string,
  ): ForwardRecord | undefined {
    if (!changes || typeof changes !== 'object')
      throw new ConfigError('ERR_BAD_OPTION', 'updatePortForward: changes object required');
    const slot = protoSlot(proto);
    if (slot < 0) return undefined;
    const key = portKey(slot, this.extIndexOf(outsideIp), outsidePort);
    const f = this.forwards.get(key);
    if (!f) return undefined;
    const now = this.clock.now();
    if (changes.description !== undefined) {
      if (typeof changes.description !== 'string' || changes.description.length > 256)
        throw new ConfigError(
          'ERR_BAD_OPTION',
          'updatePortForward: description must be a string of at most 256 characters',
        );
      f.rec = { ...f.rec, description: changes.description };
    }
    if (changes.leaseMs !== undefined) {
      const lease = checkLease(changes.leaseMs);
      f.deadline = lease > 0 ? now + lease : Number.POSITIVE_INFINITY;
      if (lease > 0) this.scheduleLease(key, f.deadline);
    }
    return this.forwardRecord(f, now);
  }

  /** Queues a lease deadline (sorted; stale entries are skipped when they come due). */
  private scheduleLease(key: number, deadline: number): void {
    const q = this.leases;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid].deadline <= deadline) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, { key, deadline });
  }

  /** Removes forwards whose lease ran out. O(expired). */
  private expireLeases(now: number): void {
    const q = this.leases;
    let n = 0;
    while (n < q.length && q[n].deadline <= now) {
      const { key, deadline } = q[n++];
      const f = this.forwards.get(key);
      if (!f || f.deadline !== deadline) continue; // renewed or removed meanwhile
      this.forwards.delete(key);
      this.removeMapping(f.m, now, false);
      this.emit('forward-expired', this.forwardRecord(f, now));
    }
    if (n > 0) q.splice(0, n);
  }

  // =================================================================== rules

  /** Adds a drop rule for new flows (see {@link DropRuleOptions}); returns its id. */
  addDropRule(o: DropRuleOptions): number {
    const r = compileDropRule(this.nextRuleId++, o);
    this.rules.push(r);
    this.dropRuleCount++;
    return r.id;
  }

  /** Adds a redirect (DNAT) rule for new outbound flows; returns its id. */
  addRedirectRule(o: RedirectRuleOptions): number {
    const r = compileRedirectRule(this.nextRuleId++, o);
    this.rules.push(r);
    this.redirectRuleCount++;
    return r.id;
  }

  /** Removes a rule (existing flows keep their translation). */
  removeRule(id: number): boolean {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i < 0) return false;
    const [r] = this.rules.splice(i, 1);
    if (r.kind === 'drop') this.dropRuleCount--;
    else this.redirectRuleCount--;
    return true;
  }

  /** The rules, in evaluation order. */
  listRules(): Array<{ id: number; kind: 'drop' | 'redirect'; spec: DropRuleOptions | RedirectRuleOptions }> {
    return this.rules.map((r) => ({ id: r.id, kind: r.kind, spec: { ...r.spec } }));
  }

  // =================================================================== helper API

  /** Plugs in an ALG; returns a function that removes it (REQ-10: each helper switchable). */
  addHelper(h: NatHelper | NatLocalHelper): () => void {
    if (this.closed) throw new ClosedError('Nat');
    if (h && (h as NatLocalHelper).kind === 'local') return this.addLocalHelper(h as NatLocalHelper);
    const helper = h as NatHelper;
    if (
      !helper ||
      typeof helper.onPacket !== 'function' ||
      typeof helper.name !== 'string' ||
      typeof helper.proto !== 'number' ||
      !Array.isArray(helper.ports) ||
      !helper.ports.every((p) => Number.isInteger(p) && p >= 0 && p <= 65535) ||
      (helper.tenants !== undefined && !Array.isArray(helper.tenants))
    )
      throw new ConfigError(
        'ERR_BAD_OPTION',
        'addHelper: a helper needs a name, a proto, an array of ports and onPacket()',
      );
    if (this.helperNameTaken(helper.name))
      throw new ConfigError('ERR_HELPER_EXISTS', `a helper named ${helper.name} is already installed`);
    if (this.helpers.length >= SEQADJ_ONLY - 1) throw new ConfigError('ERR_BAD_OPTION', 'too many helpers');
    this.helpers.push(helper);
    const T = this.t;
    // Existing connections it matches (e.g. after restore) get it too.
    for (let s = 0; s < T.sessionBound; s++) {
      const m = T.si[(s << 4) + S_MAP];
      const cur = T.si[(s << 4) + S_HELPER];
      if (m < 0 || (cur !== 0 && cur !== SEQADJ_ONLY)) continue;
      const port =
        (T.si[(s << 4) + S_FLAGS] & SF_INBOUND_ORIGIN) !== 0
          ? T.mi[(m << 3) + M_IN_PORT]
          : T.si[(s << 4) + S_REM_PORT];
      this.attachHelper(s, T.mi[(m << 3) + M_TENANT], T.mi[(m << 3) + M_PROTO], port);
    }
    return () => {
      const i = this.helpers.indexOf(helper);
      if (i < 0) return;
      for (let s = 0; s < T.sessionBound; s++) {
        const h = T.si[(s << 4) + S_HELPER];
        if (h === i + 1) {
          // A resized connection keeps its sequence adjustment without the helper.
          T.si[(s << 4) + S_HELPER] = this.seqAdj.has(s) ? SEQADJ_ONLY : 0;
          try {
            helper.onClose?.(T.sId[s]);
          } catch {
            // ignored: the helper is going away
          }
        } else if (h > i + 1 && h !== SEQADJ_ONLY) T.si[(s << 4) + S_HELPER] = h - 1;
      }
      this.helpers.splice(i, 1);
    };
  }

  private helperNameTaken(name: string): boolean {
    return this.helpers.some((h) => h.name === name) || this.localHelpers.some((h) => h.name === name);
  }

  /** Adds a local helper (UPnP IGD, PCP, …): see {@link NatLocalHelper}. */
  private addLocalHelper(helper: NatLocalHelper): () => void {
    const eps = helper.endpoints;
    if (
      typeof helper.name !== 'string' ||
      typeof helper.onLocalPacket !== 'function' ||
      typeof helper.attach !== 'function' ||
      typeof helper.detach !== 'function' ||
      !Array.isArray(eps) ||
      eps.length === 0 ||
      (helper.tenants !== undefined && !Array.isArray(helper.tenants))
    )
      throw new ConfigError(
        'ERR_BAD_OPTION',
        'addHelper: a local helper needs a name, endpoints, attach(), detach() and onLocalPacket()',
      );
    for (const ep of eps) {
      if (
        (ep?.proto !== 6 && ep?.proto !== 17) ||
        !Number.isInteger(ep.port) ||
        ep.port < 1 ||
        ep.port > 65535
      )
        throw new ConfigError('ERR_BAD_OPTION', `addHelper: bad local endpoint ${JSON.stringify(ep)}`);
      if (ep.group !== undefined) {
        const g = parseIpv4(ep.group);
        if (g === null || g >>> 28 !== 0xe || ep.proto !== 17)
          throw new ConfigError('ERR_BAD_OPTION', `addHelper: ${ep.group} is not a UDP multicast group`);
      }
      for (const other of this.localHelpers)
        for (const o of other.endpoints)
          if (o.proto === ep.proto && o.port === ep.port && (o.group ?? '') === (ep.group ?? ''))
            throw new ConfigError(
              'ERR_HELPER_EXISTS',
              `local helper ${other.name} already serves ${PROTO_NAMES[ep.proto]} port ${ep.port}`,
            );
    }
    if (this.helperNameTaken(helper.name))
      throw new ConfigError('ERR_HELPER_EXISTS', `a helper named ${helper.name} is already installed`);
    helper.attach(this);
    this.localHelpers.push(helper);
    this.updateLocalGroups();
    return () => {
      const i = this.localHelpers.indexOf(helper);
      if (i < 0) return;
      this.localHelpers.splice(i, 1);
      this.updateLocalGroups();
      this.detachLocal(helper);
    };
  }

  private detachLocal(helper: NatLocalHelper): void {
    try {
      helper.detach();
    } catch {
      // a helper failing to clean up must not stop the NAT's own cleanup
    }
  }

  private updateLocalGroups(): void {
    const eps: typeof this.localEndpoints = [];
    for (const helper of this.localHelpers)
      for (const ep of helper.endpoints)
        eps.push({
          helper,
          proto: ep.proto,
          port: ep.port,
          group: ep.group === undefined ? 0 : (parseIpv4(ep.group) ?? 0) | 0,
        });
    this.localEndpoints = eps;
    this.localGroups = eps.filter((e) => e.group !== 0).map((e) => e.group);
  }

  /**
   * Hands a packet from the inside addressed to the NAT's inside address (or a local helper's
   * multicast group) to the local helper serving its protocol and port. True when it was
   * consumed (delivered, or dropped as malformed).
   */
  private toLocalHelper(
    tid: number,
    pkt: Uint8Array,
    hl: number,
    total: number,
    dst: number,
    proto: number,
  ): boolean {
    if ((proto !== 6 && proto !== 17) || total - hl < (proto === 6 ? 20 : 8)) return false;
    const group = dst === this.insideIp ? 0 : dst;
    const port = (pkt[hl + 2] << 8) | pkt[hl + 3];
    for (const ep of this.localEndpoints) {
      if (ep.proto !== proto || ep.port !== port || ep.group !== group) continue;
      const h = ep.helper;
      if (h.tenants && !h.tenants.includes(tid)) continue;
      if (!l4ChecksumOk(pkt, hl, total, proto)) {
        this.stats.drops['bad-checksum']++;
        return true;
      }
      try {
        h.onLocalPacket(pkt.length === total ? pkt : pkt.subarray(0, total), tid);
      } catch {
        this.stats.drops.helper++;
      }
      return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ NatLocalHost

  /** {@inheritDoc NatLocalHost.insideAddress} */
  get insideAddress(): string {
    return formatIpv4(this.insideIp >>> 0);
  }

  /** {@inheritDoc NatLocalHost.insidePrefixLength} */
  get insidePrefixLength(): number {
    return this.insidePrefix.bits;
  }

  /** {@inheritDoc NatLocalHost.externalAddress} */
  externalAddress(tenant = 0, insideIp?: string): string {
    const tid = this.checkTenant(tenant);
    if (insideIp === undefined) return formatIpv4(this.pool[0]);
    return formatIpv4(this.pool[this.pairedExtIdx(tid, parseIpv4Strict(insideIp, 'insideIp') | 0)]);
  }

  /** {@inheritDoc NatLocalHost.tenantIds} */
  tenantIds(): number[] {
    const ids = [0];
    for (const t of this.tenants) if (t && t.id !== 0 && t.dev) ids.push(t.id);
    return ids;
  }

  /** {@inheritDoc NatLocalHost.trafficTotals} */
  trafficTotals(): NatTrafficTotals {
    return {
      packetsOut: this.stats.packetsOut,
      packetsIn: this.stats.packetsIn,
      bytesOut: this.stats.bytesOut,
      bytesIn: this.stats.bytesIn,
    };
  }

  private attachHelper(s: number, tid: number, proto: number, port: number): void {
    const hs = this.helpers;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      if (h.proto !== proto || !h.ports.includes(port)) continue;
      if (h.tenants && !h.tenants.includes(tid)) continue;
      this.t.si[(s << 4) + S_HELPER] = i + 1;
      return;
    }
  }

  private runHelper(
    s: number,
    m: number,
    dir: 'outbound' | 'inbound',
    pkt: Uint8Array,
    l4: number,
    payloadOff: number,
    total: number,
  ): Uint8Array | null {
    const T = this.t;
    const h = this.helpers[T.si[(s << 4) + S_HELPER] - 1];
    if (!h) {
      // Sequence adjustment outlives a removed helper.
      const adj = this.seqAdj.get(s);
      if (adj && T.mi[(m << 3) + M_PROTO] === 6) adj.apply(pkt, l4, total, dir === 'outbound' ? 0 : 1);
      return pkt;
    }
    let c = this.hctx[this.hdepth];
    if (!c) {
      c = {
        direction: dir,
        tenant: 0,
        proto: 0,
        insideIp: 0,
        insidePort: 0,
        externalIp: 0,
        externalPort: 0,
        remoteIp: 0,
        remotePort: 0,
        connectionId: 0,
        pkt,
        l4Off: 0,
        payloadOff: 0,
        payloadLen: 0,
      };
      this.hctx[this.hdepth] = c;
    }
    c.direction = dir;
    c.tenant = T.mi[(m << 3) + M_TENANT];
    c.proto = T.mi[(m << 3) + M_PROTO];
    // Addresses as unsigned 32-bit numbers, comparable with parseIpv4's results.
    c.insideIp = T.mi[(m << 3) + M_IN_IP] >>> 0;
    c.insidePort = T.mi[(m << 3) + M_IN_PORT];
    c.externalIp = this.pool[T.mi[(m << 3) + M_EXT_IDX]] >>> 0;
    c.externalPort = T.mi[(m << 3) + M_EXT_PORT];
    c.remoteIp = T.si[(s << 4) + S_REM_IP] >>> 0;
    c.remotePort = T.si[(s << 4) + S_REM_PORT];
    c.connectionId = T.sId[s];
    c.pkt = pkt;
    c.l4Off = l4;
    c.payloadOff = payloadOff;
    c.payloadLen = total - payloadOff;
    const depth = this.hdepth;
    this.hDelta[depth] = 0;
    const seq = c.proto === 6 ? rd32(pkt, l4 + 4) : 0;
    let r: Uint8Array | null | undefined;
    this.hdepth++;
    try {
      r = h.onPacket(c, this);
    } catch {
      r = null; // a throwing helper drops the packet, never the NAT
    } finally {
      this.hdepth--;
    }
    if (r === undefined) r = c.pkt;
    if (!(r instanceof Uint8Array) || r.length < 20) {
      this.stats.drops.helper++; // null (the helper dropped it), or something that is not a packet
      return null;
    }
    if (c.proto === 6) {
      const d = dir === 'outbound' ? 0 : 1;
      const delta = this.hDelta[depth];
      let adj = this.seqAdj.get(s);
      if (delta !== 0) {
        if (!adj) {
          adj = new SeqAdjust();
          this.seqAdj.set(s, adj);
        }
        adj.record(d, seq, delta);
      }
      if (adj && r.length >= l4 + 20) adj.apply(r, l4, (r[2] << 8) | r[3], d);
    }
    return r;
  }

  /** {@inheritDoc NatHelperHost.mangle} */
  mangle(ctx: HelperPacketContext, off: number, len: number, data: Uint8Array | string): Uint8Array {
    let depth = -1;
    for (let i = 0; i < this.hdepth; i++) if (this.hctx[i] === ctx) depth = i;
    if (depth < 0)
      throw new ConfigError('ERR_BAD_OPTION', 'mangle: ctx is not a packet being handled by a helper');
    if (ctx.proto !== 6 && ctx.proto !== 17)
      throw new ConfigError('ERR_BAD_OPTION', 'mangle: only TCP and UDP payloads can be rewritten');
    let bytes = data;
    if (typeof data === 'string') {
      try {
        bytes = latin1Bytes(data);
      } catch (e) {
        throw new ConfigError('ERR_BAD_OPTION', `mangle: ${(e as Error).message}`);
      }
    }
    if (!(bytes instanceof Uint8Array))
      throw new ConfigError('ERR_BAD_OPTION', 'mangle: data must be bytes or a string');
    const out = replacePayload(ctx.pkt, ctx.l4Off, ctx.proto, ctx.payloadOff, off, len, bytes);
    const delta = bytes.length - len;
    ctx.pkt = out;
    ctx.payloadLen += delta;
    this.hDelta[depth] += delta;
    return out;
  }

  /**
   * Reserves an outside port (ICMP id / GRE call ID) for a helper. It stays reserved until passed
   * to {@link Nat.addExpectation} / {@link Nat.createMapping}, released with
   * {@link Nat.releaseOutsidePort}, or `timeouts.expectation` passes unused.
   */
  allocOutsidePort(proto: number, outsideIp?: string): { ip: string; port: number } {
    const slot = protoSlot(proto);
    if (slot < 0) throw new ConfigError('ERR_BAD_OPTION', `allocOutsidePort: unsupported protocol ${proto}`);
    const extIdx = this.extIndexOf(outsideIp);
    const now = this.clock.now();
    const port = this.ports.allocate(slot, extIdx, -1, PORT_RESERVED, now);
    if (port < 0) throw new ConfigError('ERR_PORTS_EXHAUSTED', `no free ${PROTO_NAMES[proto]} port`);
    this.reservations.push({ key: portKey(slot, extIdx, port), deadline: now + this.tmo.expectation });
    return { ip: formatIpv4(this.pool[extIdx]), port };
  }

  /** Releases a reservation from {@link Nat.allocOutsidePort}. */
  releaseOutsidePort(proto: number, port: number, outsideIp?: string): boolean {
    const slot = protoSlot(proto);
    if (slot < 0) return false;
    const extIdx = this.extIndexOf(outsideIp);
    if (this.ports.owner(slot, extIdx, port) !== PORT_RESERVED) return false;
    if (this.expByPort.has(portKey(slot, extIdx, port))) return false;
    this.ports.release(slot, extIdx, port, this.clock.now());
    return true;
  }

  /**
   * Expects an inbound connection: a packet from `remoteIp[:remotePort]` (wildcards when absent)
   * to the external port is let in (whatever the filtering) and mapped to
   * `insideIp:insidePort` of `tenant`. One use; lapses after `timeoutMs`.
   */
  addExpectation(o: ExpectationOptions): ExpectationRecord {
    if (this.closed) throw new ClosedError('Nat');
    if (!o || typeof o !== 'object')
      throw new ConfigError('ERR_BAD_OPTION', 'addExpectation: options object required');
    const slot = protoSlot(o.proto);
    if (slot < 0) throw new ConfigError('ERR_BAD_OPTION', `addExpectation: unsupported protocol ${o.proto}`);
    const inIp = parseIpv4Strict(o.insideIp, 'insideIp');
    checkPort(o.insidePort, 'insidePort', o.proto === 1 ? 0 : 1);
    const tid = this.checkTenant(o.tenant);
    const remoteIp = o.remoteIp === undefined ? null : parseIpv4Strict(o.remoteIp, 'remoteIp');
    if (o.remotePort !== undefined) checkPort(o.remotePort, 'remotePort', 0);
    const remotePort = o.remotePort ?? -1;
    const now = this.clock.now();
    const T = this.t;
    // Default external address: the one the inside endpoint already uses, else its paired one.
    let extIdx: number;
    if (o.externalIp !== undefined) extIdx = this.extIndexOf(o.externalIp);
    else {
      const em = T.findMapping(tid, o.proto, inIp, o.insidePort, 0, 0);
      extIdx = em >= 0 ? T.mi[(em << 3) + M_EXT_IDX] : this.pairedExtIdx(tid, inIp);
    }
    let extPort: number;
    let ownsPort = false;
    if (o.externalPort !== undefined) {
      checkPort(o.externalPort, 'externalPort', o.proto === 1 ? 0 : 1);
      extPort = o.externalPort;
      const owner = this.ports.owner(slot, extIdx, extPort);
      if (owner === PORT_RESERVED) {
        // A reservation (from allocOutsidePort) or another expectation's port: only shared
        // with expectations of the same inside endpoint.
        for (const other of this.expByPort.get(portKey(slot, extIdx, extPort)) ?? [])
          if (other.tenant !== tid || other.insideIp !== inIp || other.insidePort !== o.insidePort)
            throw new ConfigError(
              'ERR_PORT_IN_USE',
              `external port ${extPort} is expected for another inside endpoint`,
            );
        ownsPort = true;
      } else if (owner >= 0) {
        if (
          T.mi[(owner << 3) + M_TENANT] !== tid ||
          T.mi[(owner << 3) + M_IN_IP] !== inIp ||
          T.mi[(owner << 3) + M_IN_PORT] !== o.insidePort
        )
          throw new ConfigError('ERR_PORT_IN_USE', `external port ${extPort} belongs to another mapping`);
      } else {
        if (!this.ports.isFree(slot, extIdx, extPort, now))
          throw new ConfigError('ERR_PORT_IN_USE', `external port ${extPort} is quarantined`);
        this.ports.take(slot, extIdx, extPort, PORT_RESERVED);
        ownsPort = true;
      }
    } else {
      const em = T.findMapping(tid, o.proto, inIp, o.insidePort, 0, 0);
      if (em >= 0 && T.mi[(em << 3) + M_EXT_IDX] === extIdx) extPort = T.mi[(em << 3) + M_EXT_PORT];
      else {
        extPort = this.ports.allocate(slot, extIdx, o.insidePort, PORT_RESERVED, now);
        if (extPort < 0) throw new ConfigError('ERR_PORTS_EXHAUSTED', `no free ${PROTO_NAMES[o.proto]} port`);
        ownsPort = true;
      }
    }
    const timeoutMs = o.timeoutMs ?? this.tmo.expectation;
    if (!(timeoutMs > 0)) throw new ConfigError('ERR_BAD_OPTION', 'timeoutMs must be > 0');
    const slotId = this.expFreeSlots.pop() ?? this.expSlots.length;
    const e: Expectation = {
      id: this.nextExpId++,
      slotId,
      tenant: tid,
      proto: o.proto,
      insideIp: inIp,
      insidePort: o.insidePort,
      extIdx,
      extPort,
      remoteIp,
      remotePort,
      deadline: now + timeoutMs,
      helper: o.helper,
      attachHelper: o.attachHelper === true,
      ownsPort,
    };
    this.expSlots[slotId] = e;
    this.expectations.set(e.id, e);
    const key = portKey(slot, extIdx, extPort);
    const list = this.expByPort.get(key);
    if (list) list.push(e);
    else this.expByPort.set(key, [e]);
    const ik = insideKey(e.insideIp, e.insidePort);
    const byInside = this.expByInside.get(ik);
    if (byInside) byInside.push(e);
    else this.expByInside.set(ik, [e]);
    this.eWheel.ensureCapacity(this.expSlots.length);
    this.eWheel.schedule(slotId, e.deadline);
    const rec = this.expectationRecord(e, now);
    this.emit('expectation-added', rec);
    return { ...rec };
  }

  /** Cancels an expectation. */
  removeExpectation(id: number): boolean {
    const e = this.expectations.get(id);
    if (!e) return false;
    this.dropExpectation(e, false);
    return true;
  }

  /** Pending expectations. */
  listExpectations(): ExpectationRecord[] {
    const now = this.clock.now();
    return [...this.expectations.values()].map((e) => this.expectationRecord(e, now));
  }

  private onExpectationDue(slotId: number, now: number): number {
    const e = this.expSlots[slotId];
    if (!e) return -1;
    if (e.deadline > now) return e.deadline;
    this.dropExpectation(e, true);
    return -1;
  }

  /** A pending expectation for this inside endpoint whose external port is still only reserved. */
  private pendingExpectationOf(
    tid: number,
    proto: number,
    ip: number,
    port: number,
  ): Expectation | undefined {
    for (const e of this.expByInside.get(insideKey(ip, port)) ?? [])
      if (
        e.tenant === tid &&
        e.proto === proto &&
        this.ports.owner(protoSlot(proto), e.extIdx, e.extPort) === PORT_RESERVED
      )
        return e;
    return undefined;
  }

  private dropExpectation(e: Expectation, expired: boolean): void {
    const now = this.clock.now();
    this.expectations.delete(e.id);
    this.expSlots[e.slotId] = undefined;
    this.expFreeSlots.push(e.slotId);
    this.eWheel.cancel(e.slotId);
    const slot = protoSlot(e.proto);
    const key = portKey(slot, e.extIdx, e.extPort);
    removeFromIndex(this.expByPort, key, e);
    removeFromIndex(this.expByInside, insideKey(e.insideIp, e.insidePort), e);
    if (
      e.ownsPort &&
      !this.expByPort.has(key) &&
      this.ports.owner(slot, e.extIdx, e.extPort) === PORT_RESERVED
    )
      this.ports.release(slot, e.extIdx, e.extPort, now);
    if (expired && this.listenerCount('expectation-expired') > 0)
      this.emit('expectation-expired', this.expectationRecord(e, now));
  }

  /** Returns the new session, -1 when no expectation matched, -2 when one matched but failed. */
  private useExpectation(
    proto: number,
    extIdx: number,
    extPort: number,
    src: number,
    sp: number,
    m: number,
    state: number,
    now: number,
  ): number {
    const slot = protoSlot(proto);
    const key = portKey(slot, extIdx, extPort);
    const list = this.expByPort.get(key);
    if (!list) return -1;
    const e = list.find(
      (x) => (x.remoteIp === null || x.remoteIp === src) && (x.remotePort < 0 || x.remotePort === sp),
    );
    if (!e) return -1;
    if (proto === 6 && state < 0) return -1;
    const T = this.t;
    let mm = m;
    if (mm < 0) {
      // Key as an outbound packet of this connection would look it up; a shadow key when the
      // inside endpoint already has that key on another port (reached inbound only).
      const mode = this.mapMode;
      let kRemIp = mode === MAP_EIM ? 0 : src;
      let kRemPort = mode === MAP_APDM ? sp : 0;
      let shadow = false;
      if (T.findMapping(e.tenant, proto, e.insideIp, e.insidePort, kRemIp, kRemPort) >= 0) {
        kRemIp = -1;
        kRemPort = extPort;
        shadow = true;
      }
      mm = this.newMapping(
        e.tenant,
        proto,
        e.insideIp,
        e.insidePort,
        e.insidePort,
        kRemIp,
        kRemPort,
        extIdx,
        extPort,
        MappingKind.expectation,
        now,
        null,
        0,
      );
      if (mm < 0) return -2;
      if (shadow) this.shadows.add(mm);
    }
    e.ownsPort = false;
    this.dropExpectation(e, false);
    const timeout =
      proto === 6 ? tcpTimeout(this.tmo, state, true) : proto === 17 ? this.tmo.udp : this.tmo.icmp;
    const s = this.newSession(mm, src, sp, state, SF_IN | SF_INBOUND_ORIGIN, now + timeout);
    const named =
      e.attachHelper && e.helper !== undefined ? this.helpers.findIndex((h) => h.name === e.helper) : -1;
    if (named >= 0)
      T.si[(s << 4) + S_HELPER] = named + 1; // e.g. H.245 on a port announced in H.225
    else if (this.helpers.length > 0) this.attachHelper(s, e.tenant, proto, e.insidePort);
    this.stats.expectationsUsed++;
    if (this.listenerCount('expectation-used') > 0)
      this.emit('expectation-used', this.expectationRecord(e, now));
    if (this.listenerCount('mapping-created') > 0) this.emit('mapping-created', this.sessionRecord(s, now));
    return s;
  }

  /**
   * Creates a mapping for a helper (or a static one): `insideIp:insidePort` of `tenant` ↔
   * `externalIp:externalPort` (allocated when absent). With `remoteIp[:remotePort]` a session to
   * that remote is created too so filtering lets its packets in. Kept `timeoutMs` without traffic.
   * GRE (47): `insidePort` is the inside call ID, `remotePort` the peer's call ID (required).
   */
  createMapping(o: CreateMappingOptions): MappingRecord {
    if (this.closed) throw new ClosedError('Nat');
    if (!o || typeof o !== 'object')
      throw new ConfigError('ERR_BAD_OPTION', 'createMapping: options object required');
    const slot = protoSlot(o.proto);
    if (slot < 0) throw new ConfigError('ERR_BAD_OPTION', `createMapping: unsupported protocol ${o.proto}`);
    const inIp = parseIpv4Strict(o.insideIp, 'insideIp');
    // ICMP identifiers and GRE call IDs may be 0 (pptp-linux numbers its calls from 0).
    checkPort(o.insidePort, 'insidePort', o.proto === 1 || o.proto === 47 ? 0 : 1);
    const tid = this.checkTenant(o.tenant);
    const hasRem = o.remoteIp !== undefined;
    const remIp = hasRem ? parseIpv4Strict(o.remoteIp, 'remoteIp') : 0;
    if (o.remotePort !== undefined) checkPort(o.remotePort, 'remotePort', 0);
    const isGre = o.proto === 47;
    if (isGre && (!hasRem || o.remotePort === undefined))
      throw new ConfigError(
        'ERR_BAD_OPTION',
        'createMapping: GRE needs remoteIp and remotePort (the peer call ID)',
      );
    const remPort = o.proto === 1 ? 0 : (o.remotePort ?? 0);
    const now = this.clock.now();
    const T = this.t;
    const mm = this.mapMode;
    const kPort = isGre ? 0 : o.insidePort;
    const kRemIp = isGre ? remIp : mm === MAP_EIM || !hasRem ? 0 : remIp;
    const kRemPort = isGre ? remPort : mm === MAP_APDM && hasRem ? remPort : 0;
    const timeoutMs =
      o.timeoutMs ??
      (o.proto === 6
        ? this.tmo.tcpTransitory
        : o.proto === 17
          ? this.tmo.udp
          : o.proto === 1
            ? this.tmo.icmp
            : this.tmo.gre);
    if (!(timeoutMs > 0)) throw new ConfigError('ERR_BAD_OPTION', 'timeoutMs must be > 0');
    let m = T.findMapping(tid, o.proto, inIp, kPort, kRemIp, kRemPort);
    const extIdx = o.externalIp !== undefined ? this.extIndexOf(o.externalIp) : -1;
    if (m >= 0) {
      if (
        (o.externalPort !== undefined && T.mi[(m << 3) + M_EXT_PORT] !== o.externalPort) ||
        (extIdx >= 0 && T.mi[(m << 3) + M_EXT_IDX] !== extIdx)
      )
        throw new ConfigError('ERR_PORT_IN_USE', 'the inside endpoint already has a different mapping');
    } else {
      let want = -1;
      if (o.externalPort !== undefined) {
        checkPort(o.externalPort, 'externalPort', o.proto === 1 ? 0 : 1);
        const owner = this.ports.owner(
          slot,
          extIdx >= 0 ? extIdx : this.pairedExtIdx(tid, inIp),
          o.externalPort,
        );
        if (owner !== PORT_FREE && owner !== PORT_RESERVED)
          throw new ConfigError('ERR_PORT_IN_USE', `external port ${o.externalPort} is in use`);
        want = o.externalPort;
      }
      m = this.newMapping(
        tid,
        o.proto,
        inIp,
        o.insidePort,
        kPort,
        kRemIp,
        kRemPort,
        extIdx,
        want,
        MappingKind.static,
        now,
        null,
        0,
      );
      if (m < 0)
        throw new ConfigError(
          'ERR_PORTS_EXHAUSTED',
          'createMapping: no mapping could be created (limits or ports)',
        );
    }
    T.mPinUntil[m] = Math.max(T.mPinUntil[m], now + timeoutMs);
    if (!this.mWheel.has(m)) this.mWheel.schedule(m, T.mPinUntil[m]);
    let s = -1;
    if (hasRem) {
      const sk = isGre ? 0 : remPort;
      s = T.findSession(m, remIp, sk);
      if (s < 0) {
        const state = o.proto === 6 ? TcpState.synSent : TcpState.none;
        s = this.newSession(m, remIp, sk, state, SF_OUT, now + timeoutMs);
        if (this.helpers.length > 0) this.attachHelper(s, tid, o.proto, remPort);
      } else if (T.sd[(s << 3) + SD_EXPIRE] < now + timeoutMs) T.sd[(s << 3) + SD_EXPIRE] = now + timeoutMs;
    }
    const rec = s >= 0 ? this.sessionRecord(s, now) : this.mappingOnlyRecord(m, now);
    if (this.listenerCount('mapping-created') > 0) this.emit('mapping-created', { ...rec });
    return rec;
  }

  /**
   * Removes the connection (or session-less mapping) with this record `id` — e.g. the one
   * {@link Nat.createMapping} returned — and its mapping when no other connection uses it, freeing
   * the external port. Port forwards are removed with {@link Nat.removePortForward} instead.
   * Returns false when there is no such record (already gone) or it is a forward's own mapping
   * (its connections can be deleted; the forward stays).
   * Control-plane cost: a scan of the tables.
   */
  deleteMapping(id: number): boolean {
    if (this.closed || typeof id !== 'number' || !Number.isFinite(id)) return false;
    const T = this.t;
    const now = this.clock.now();
    for (let s = 0; s < T.sessionBound; s++) {
      const m = T.si[(s << 4) + S_MAP];
      if (m < 0 || T.sId[s] !== id) continue;
      if (this.listenerCount('mapping-removed') > 0) this.emit('mapping-removed', this.sessionRecord(s, now));
      this.freeSession(s);
      if (T.mSessCount[m] === 0 && T.mKind[m] !== MappingKind.forward) this.removeMapping(m, now, false);
      return true;
    }
    for (let m = 0; m < T.mappingBound; m++) {
      if (T.mKind[m] === MappingKind.free || T.mId[m] !== id) continue;
      if (T.mKind[m] === MappingKind.forward) return false;
      this.removeMapping(m, now, false);
      return true;
    }
    return false;
  }

  /** Delivers `pkt` to the inside of `tenant` (default 0) untranslated (helpers, replies). */
  sendInside(pkt: Uint8Array, tenant = 0): void {
    const t = this.tenants[tenant];
    if (!t) throw new ConfigError('ERR_NO_SUCH_TENANT', `no tenant ${tenant}`);
    t.deliver(pkt);
  }

  /** Sends `pkt` out of the outside interface untranslated (helpers). */
  sendOutside(pkt: Uint8Array): void {
    this.outHandler(pkt);
  }

  /** @internal */
  _setOutHandler(h: PacketHandler): void {
    this.outHandler = h;
  }

  // =================================================================== records

  /** Every connection (and session-less mapping) as a plain record. */
  mappings(): MappingRecord[] {
    const T = this.t;
    const now = this.clock.now();
    const out: MappingRecord[] = [];
    for (let m = 0; m < T.mappingBound; m++) {
      if (T.mKind[m] === MappingKind.free) continue;
      if (T.mSessHead[m] < 0) {
        out.push(this.mappingOnlyRecord(m, now));
        continue;
      }
      for (let s = T.mSessHead[m]; s >= 0; s = T.sMapNext[s]) out.push(this.sessionRecord(s, now));
    }
    out.sort((a, b) => a.id - b.id);
    return out;
  }

  /** The connection table as `conntrack -L` prints it (zone = tenant). */
  formatConntrack(): string {
    return formatConntrackLines(this.mappings());
  }

  private sessionRecord(s: number, now: number): MappingRecord {
    const T = this.t;
    const m = T.si[(s << 4) + S_MAP];
    const proto = T.mi[(m << 3) + M_PROTO];
    const inIp = formatIpv4(T.mi[(m << 3) + M_IN_IP]);
    const extIp = formatIpv4(this.pool[T.mi[(m << 3) + M_EXT_IDX]]);
    const remIp = formatIpv4(T.si[(s << 4) + S_REM_IP]);
    const isGre = proto === 47;
    const remPort = isGre ? T.mKRemPort[m] : T.si[(s << 4) + S_REM_PORT];
    const orig = (T.si[(s << 4) + S_FLAGS] & SF_REDIRECT) !== 0 ? this.redirectOrig.get(s) : undefined;
    const flags = T.si[(s << 4) + S_FLAGS];
    const state =
      proto === 6
        ? TCP_STATE_NAMES[T.si[(s << 4) + S_STATE]]
        : (flags & SF_IN) !== 0 && (flags & SF_OUT) !== 0
          ? 'ASSURED'
          : 'UNREPLIED';
    return {
      id: T.sId[s],
      tenant: T.mi[(m << 3) + M_TENANT],
      proto,
      protoName: PROTO_NAMES[proto],
      kind: MAPPING_KIND_NAMES[T.mKind[m]] as MappingRecord['kind'],
      insideIp: inIp,
      insidePort: T.mi[(m << 3) + M_IN_PORT],
      externalIp: extIp,
      externalPort: T.mi[(m << 3) + M_EXT_PORT],
      remoteIp: remIp,
      remotePort: remPort,
      original: {
        src: inIp,
        srcPort: T.mi[(m << 3) + M_IN_PORT],
        dst: orig ? formatIpv4(orig.ip) : remIp,
        dstPort: orig ? orig.port : proto === 1 ? T.mi[(m << 3) + M_IN_PORT] : remPort,
      },
      reply: {
        src: remIp,
        srcPort: proto === 1 ? T.mi[(m << 3) + M_EXT_PORT] : remPort,
        dst: extIp,
        dstPort: T.mi[(m << 3) + M_EXT_PORT],
      },
      state,
      expiresInMs: Math.max(0, T.sd[(s << 3) + SD_EXPIRE] - now),
      packetsOut: T.si[(s << 4) + S_PKTS_OUT] >>> 0,
      bytesOut: T.sd[(s << 3) + SD_BYTES_OUT],
      packetsIn: T.si[(s << 4) + S_PKTS_IN] >>> 0,
      bytesIn: T.sd[(s << 3) + SD_BYTES_IN],
    };
  }

  private mappingOnlyRecord(m: number, now: number): MappingRecord {
    const T = this.t;
    const proto = T.mi[(m << 3) + M_PROTO];
    const inIp = formatIpv4(T.mi[(m << 3) + M_IN_IP]);
    const extIp = formatIpv4(this.pool[T.mi[(m << 3) + M_EXT_IDX]]);
    const pin = T.mPinUntil[m];
    return {
      id: T.mId[m],
      tenant: T.mi[(m << 3) + M_TENANT],
      proto,
      protoName: PROTO_NAMES[proto],
      kind: MAPPING_KIND_NAMES[T.mKind[m]] as MappingRecord['kind'],
      insideIp: inIp,
      insidePort: T.mi[(m << 3) + M_IN_PORT],
      externalIp: extIp,
      externalPort: T.mi[(m << 3) + M_EXT_PORT],
      remoteIp: '0.0.0.0',
      remotePort: 0,
      original: { src: inIp, srcPort: T.mi[(m << 3) + M_IN_PORT], dst: '0.0.0.0', dstPort: 0 },
      reply: { src: '0.0.0.0', srcPort: 0, dst: extIp, dstPort: T.mi[(m << 3) + M_EXT_PORT] },
      state: 'LISTEN',
      expiresInMs: pin === Number.POSITIVE_INFINITY ? pin : Math.max(0, pin - now),
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
    };
  }

  private expectationRecord(e: Expectation, now: number): ExpectationRecord {
    const r: ExpectationRecord = {
      id: e.id,
      tenant: e.tenant,
      proto: e.proto,
      insideIp: formatIpv4(e.insideIp),
      insidePort: e.insidePort,
      externalIp: formatIpv4(this.pool[e.extIdx]),
      externalPort: e.extPort,
      expiresInMs: Math.max(0, e.deadline - now),
    };
    if (e.remoteIp !== null) r.remoteIp = formatIpv4(e.remoteIp);
    if (e.remotePort >= 0) r.remotePort = e.remotePort;
    if (e.helper !== undefined) r.helper = e.helper;
    return r;
  }

  // =================================================================== snapshot / restore

  /** All state as a JSON-serialisable object (times relative to now). See {@link Nat.restore}. */
  snapshot(): NatSnapshot {
    const T = this.t;
    const now = this.clock.now();
    const mappings: SnapshotMapping[] = [];
    for (let m = 0; m < T.mappingBound; m++) {
      if (T.mKind[m] === MappingKind.free) continue;
      const sessions: SnapshotMapping['sessions'] = [];
      for (let s = T.mSessHead[m]; s >= 0; s = T.sMapNext[s]) {
        const orig = this.redirectOrig.get(s);
        sessions.push({
          remoteIp: formatIpv4(T.si[(s << 4) + S_REM_IP]),
          remotePort: T.si[(s << 4) + S_REM_PORT],
          state: T.si[(s << 4) + S_STATE],
          flags: T.si[(s << 4) + S_FLAGS],
          expiresInMs: Math.max(0, T.sd[(s << 3) + SD_EXPIRE] - now),
          packetsOut: T.si[(s << 4) + S_PKTS_OUT] >>> 0,
          packetsIn: T.si[(s << 4) + S_PKTS_IN] >>> 0,
          bytesOut: T.sd[(s << 3) + SD_BYTES_OUT],
          bytesIn: T.sd[(s << 3) + SD_BYTES_IN],
          ...(orig ? { origIp: formatIpv4(orig.ip), origPort: orig.port } : {}),
          ...(this.seqAdj.has(s) ? { seqAdj: this.seqAdj.get(s)?.toJSON() } : {}),
        });
      }
      const pin = T.mPinUntil[m];
      mappings.push({
        tenant: T.mi[(m << 3) + M_TENANT],
        proto: T.mi[(m << 3) + M_PROTO],
        kind: T.mKind[m],
        insideIp: formatIpv4(T.mi[(m << 3) + M_IN_IP]),
        insidePort: T.mi[(m << 3) + M_IN_PORT],
        keyPort: T.mi[(m << 3) + M_KPORT],
        keyRemoteIp: formatIpv4(T.mKRemIp[m]),
        keyRemotePort: T.mKRemPort[m],
        externalIp: formatIpv4(this.pool[T.mi[(m << 3) + M_EXT_IDX]]),
        externalPort: T.mi[(m << 3) + M_EXT_PORT],
        pinnedForMs: pin === Number.POSITIVE_INFINITY ? -1 : Math.max(0, pin - now),
        idleMs: Math.max(0, now - T.mLastUsed[m]),
        sessions,
      });
    }
    const quarantine: NatSnapshot['quarantine'] = [];
    for (const [slot, a, port, until] of this.ports.quarantined(now))
      quarantine.push({
        proto: SLOT_PROTOS[slot],
        externalIp: formatIpv4(this.pool[a]),
        port,
        forMs: until - now,
      });
    return {
      version: SNAPSHOT_VERSION,
      mappings,
      forwards: this.listPortForwards(),
      expectations: this.listExpectations(),
      rules: this.rules.map((r) => ({ kind: r.kind, spec: { ...r.spec } })),
      quarantine,
    };
  }

  /**
   * A new NAT with `options` and the state of `snapshot` (mappings, connections with their TCP
   * state and remaining time, forwards, expectations, rules, port quarantine). Tenants keep their
   * ids: re-attach them with `connectL3(dev, { tenant: id })`. Throws `ERR_BAD_SNAPSHOT`.
   */
  static restore(snapshot: NatSnapshot, options: NatOptions): Nat {
    const snap = parseSnapshot(snapshot);
    const nat = new Nat(options);
    try {
      nat.load(snap);
    } catch (e) {
      nat.close();
      if (e instanceof ConfigError && e.code === 'ERR_BAD_SNAPSHOT') throw e;
      throw new ConfigError('ERR_BAD_SNAPSHOT', `snapshot does not fit this NAT: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return nat;
  }

  private load(snap: NatSnapshot): void {
    const now = this.clock.now();
    const T = this.t;
    const ensureTenant = (tid: number) => {
      if (!this.tenants[tid]) this.tenants[tid] = { id: tid, deliver: discard, head: -1, count: 0 };
      if (tid >= this.nextTenant) this.nextTenant = tid + 1;
    };
    for (const r of snap.rules) {
      if (r.kind === 'drop') this.addDropRule(r.spec as DropRuleOptions);
      else this.addRedirectRule(r.spec as RedirectRuleOptions);
    }
    for (const q of snap.quarantine) {
      const slot = protoSlot(q.proto);
      if (slot < 0) continue;
      this.ports.setQuarantine(slot, this.extIndexOf(q.externalIp), q.port, now + q.forMs);
    }
    for (const sm of snap.mappings) {
      ensureTenant(sm.tenant);
      const slot = protoSlot(sm.proto);
      const extIdx = this.extIndexOf(sm.externalIp);
      if (slot < 0) throw new ConfigError('ERR_BAD_SNAPSHOT', `unsupported protocol ${sm.proto}`);
      if (this.ports.owner(slot, extIdx, sm.externalPort) !== PORT_FREE)
        throw new ConfigError('ERR_BAD_SNAPSHOT', `external port ${sm.externalPort} appears twice`);
      const m = this.newMapping(
        sm.tenant,
        sm.proto,
        parseIpv4Strict(sm.insideIp, 'insideIp'),
        sm.insidePort,
        sm.keyPort,
        parseIpv4Strict(sm.keyRemoteIp, 'keyRemoteIp'),
        sm.keyRemotePort,
        extIdx,
        sm.externalPort,
        sm.kind,
        now,
        null,
        0,
      );
      if (m < 0) throw new ConfigError('ERR_BAD_SNAPSHOT', 'mapping does not fit the limits');
      T.mLastUsed[m] = now - sm.idleMs;
      if (sm.pinnedForMs < 0) T.mPinUntil[m] = Number.POSITIVE_INFINITY;
      else if (sm.pinnedForMs > 0) {
        T.mPinUntil[m] = now + sm.pinnedForMs;
        this.mWheel.schedule(m, T.mPinUntil[m]);
      }
      if (T.mKRemIp[m] === -1) this.shadows.add(m);
      for (const ss of sm.sessions) {
        const s = this.newSession(
          m,
          parseIpv4Strict(ss.remoteIp, 'remoteIp'),
          ss.remotePort,
          ss.state,
          ss.flags,
          now + ss.expiresInMs,
        );
        T.si[(s << 4) + S_PKTS_OUT] = ss.packetsOut;
        T.si[(s << 4) + S_PKTS_IN] = ss.packetsIn;
        T.sd[(s << 3) + SD_BYTES_OUT] = ss.bytesOut;
        T.sd[(s << 3) + SD_BYTES_IN] = ss.bytesIn;
        if (ss.origIp !== undefined && ss.origPort !== undefined) {
          const oip = parseIpv4Strict(ss.origIp, 'origIp');
          this.redirectOrig.set(s, { ip: oip, port: ss.origPort });
          let am = this.redirectAlias.get(m);
          if (!am) {
            am = new Map();
            this.redirectAlias.set(m, am);
          }
          am.set(oip * 65536 + ss.origPort, s);
        } else T.si[(s << 4) + S_FLAGS] &= ~SF_REDIRECT;
        const adj = ss.seqAdj === undefined ? null : SeqAdjust.fromJSON(ss.seqAdj);
        if (adj) {
          this.seqAdj.set(s, adj);
          T.si[(s << 4) + S_HELPER] = SEQADJ_ONLY; // until a helper attaches (addHelper)
        }
      }
    }
    for (const f of snap.forwards) {
      ensureTenant(f.tenant);
      const extIdx = this.extIndexOf(f.outsideIp);
      const slot = protoSlot(f.proto);
      const m = this.ports.owner(slot, extIdx, f.outsidePort);
      if (m < 0 || T.mKind[m] !== MappingKind.forward)
        throw new ConfigError('ERR_BAD_SNAPSHOT', 'forward without its mapping');
      const rec: ForwardRecord = { ...f };
      delete rec.expiresInMs;
      const key = portKey(slot, extIdx, f.outsidePort);
      const deadline = f.expiresInMs === undefined ? Number.POSITIVE_INFINITY : now + f.expiresInMs;
      this.forwards.set(key, { rec, m, slot, extIdx, deadline });
      if (f.expiresInMs !== undefined) this.scheduleLease(key, deadline);
    }
    for (const e of snap.expectations) {
      ensureTenant(e.tenant);
      const slot = protoSlot(e.proto);
      const extIdx = this.extIndexOf(e.externalIp);
      const owner = this.ports.owner(slot, extIdx, e.externalPort);
      if (owner === PORT_FREE) this.ports.take(slot, extIdx, e.externalPort, PORT_RESERVED);
      this.addExpectation({
        proto: e.proto,
        insideIp: e.insideIp,
        insidePort: e.insidePort,
        tenant: e.tenant,
        remoteIp: e.remoteIp,
        remotePort: e.remotePort,
        externalIp: e.externalIp,
        externalPort: e.externalPort,
        timeoutMs: Math.max(1, e.expiresInMs),
        helper: e.helper,
      });
    }
  }

  // =================================================================== small helpers

  private checkTenant(t: number | undefined): number {
    const tid = t ?? 0;
    if (!Number.isInteger(tid) || tid < 0 || !this.tenants[tid])
      throw new ConfigError('ERR_NO_SUCH_TENANT', `no tenant ${String(t)}`);
    return tid;
  }

  private extIndexOf(ip: string | undefined): number {
    if (ip === undefined) return 0;
    if (typeof ip !== 'string')
      throw new ConfigError('ERR_BAD_OPTION', `not an outside address: ${String(ip)}`);
    const v = parseIpv4(ip);
    const i = v === null ? undefined : this.poolIndex.get(v | 0);
    if (i === undefined)
      throw new ConfigError('ERR_BAD_OPTION', `${String(ip)} is not an outside address of this NAT`);
    return i;
  }
}

/** Key of (allocator slot, outside address index, port) for maps. */
function portKey(slot: number, extIdx: number, port: number): number {
  return slot * 2 ** 32 + extIdx * 65536 + port;
}

/** Full transport checksum check (only with `verifyChecksums`). */
function l4ChecksumOk(pkt: Uint8Array, hl: number, total: number, proto: number): boolean {
  const len = total - hl;
  if (proto === 1) return foldSum(onesSum(pkt, hl, len, 0)) === 0xffff;
  if (proto === 17 && pkt[hl + 6] === 0 && pkt[hl + 7] === 0) return true;
  const pseudo = onesSum(pkt, 12, 8, 0) + proto + len;
  return foldSum(onesSum(pkt, hl, len, pseudo)) === 0xffff;
}
