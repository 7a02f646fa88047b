/**
 * A Linux TUN interface as an {@link L3Device}: packets the kernel routes into the interface come
 * out of the device's handler; packets given to `send` are handed to the kernel as if they had
 * arrived on the interface.
 */
import {
  ClosedError,
  ConfigError,
  discard,
  type L3Device,
  type PacketHandler,
  type Prefix,
} from '@l3kit/core';
import { loadAddon, type TunAddon } from './addon.js';
import { tunErrorFrom } from './errors.js';
import { completeVnetChecksum, fillVnetHeader, VNET_HDR_LEN, vnetGsoType } from './vnet.js';

/** Options of {@link TunDevice.open}. */
export interface TunOptions {
  /**
   * Interface name (at most 15 bytes). A name with `%d` (the default is `tun%d`) lets the kernel
   * pick a free number. Naming an existing persistent TUN (`ip tuntap add ... mode tun`)
   * attaches to it.
   */
  name?: string;
  /** Sets the interface MTU after opening (68 ... 65535). Default: leave the kernel's (1500). */
  mtu?: number;
  /**
   * Sets the interface's transmit queue length: how many packets the kernel queues for l3kit to
   * read before it drops (the kernel's default is 500). A deeper queue (e.g. 4096) absorbs the
   * pauses of a busy event loop; TCP through the device then sees no drops. Default: leave it.
   */
  txQueueLen?: number;
  /** Brings the link up after opening. Default false (bring it up yourself, e.g. with `ip`). */
  up?: boolean;
  /**
   * Opens with `IFF_VNET_HDR`: every packet on the fd carries a `virtio_net_hdr`. Needed for
   * {@link TunOptions.offload}. Default false.
   */
  vnetHdr?: boolean;
  /**
   * With `vnetHdr`: enables TUNSETOFFLOAD (checksum, TSO4, TSO6). The kernel then hands over TCP
   * super-packets up to 64 KiB (their checksums are completed before the handler sees them), and
   * TCP packets longer than the MTU given to `send` are written as GSO super-packets that the
   * kernel segments. Default false.
   */
  offload?: boolean;
  /** Opens with `IFF_MULTI_QUEUE`. Default false. */
  multiQueue?: boolean;
  /** With `multiQueue`: how many queues (fds) to open and read. Default 1. */
  queues?: number;
  /** Packets read per batch (one JS call per batch). Default 32. */
  batch?: number;
}

/** Why a packet given to {@link TunDevice.send} was not written. */
export interface TunTxDrops {
  /** The device is closed or its interface was deleted. */
  closed: number;
  /** EIO: the link is down. The device stays usable; bring the link up and sends resume. */
  linkDown: number;
  /** EAGAIN / ENOBUFS: the kernel queue is full. */
  full: number;
  /** Not an IPv4 / IPv6 packet, empty, or longer than 65535 bytes. */
  malformed: number;
  /** EINVAL / EMSGSIZE from the kernel (e.g. a header the kernel rejects). */
  rejected: number;
  /** Any other write error. */
  other: number;
}

/** Counters of a {@link TunDevice}. Plain numbers, updated in place. */
export interface TunStats {
  /** Packets read from the kernel and given to the handler. */
  rxPackets: number;
  /** Bytes of those packets (IP packets, without vnet headers). */
  rxBytes: number;
  /** Wakeups that delivered at least one packet (rxPackets / rxBatches = packets per batch). */
  rxBatches: number;
  /** Read errors reported by the kernel. */
  rxErrors: number;
  /** Packets read but dropped (a vnet header that does not fit the packet). */
  rxDropped: number;
  /** Super-packets (GSO) read with offloads on. */
  rxGso: number;
  /** Packets written to the kernel. */
  txPackets: number;
  /** Bytes of those packets (without vnet headers). */
  txBytes: number;
  /** Super-packets written with a GSO header. */
  txGso: number;
  /** Packets not written, by reason. */
  txDropped: TunTxDrops;
  /** Name of the last write error (`EIO`, ...), for diagnostics. */
  lastTxError: string | undefined;
}

const MAX_PACKET = 65535;
/**
 * Bytes kept free before every received packet in its slot (see {@link TunDevice.rxHeadroom}):
 * room for a receiver to grow the packet in place, e.g. a NAT64 writing the IPv6 header of a
 * translated IPv4 packet (`Nat64Options.outsideHeadroom`).
 */
export const TUN_RX_HEADROOM = 64;
const SLOT = TUN_RX_HEADROOM + 65536 + 16;
const DEFAULT_BATCH = 32;
const NAME_MAX = 15;

const EIO = 5;
const EAGAIN = 11;
const EINVAL = 22;
const EBADF = 9;
const EBADFD = 77;
const EMSGSIZE = 90;
const ENOBUFS = 105;

function errnoName(e: number): string {
  switch (e) {
    case EIO:
      return 'EIO';
    case EAGAIN:
      return 'EAGAIN';
    case EINVAL:
      return 'EINVAL';
    case EBADF:
      return 'EBADF';
    case EBADFD:
      return 'EBADFD';
    case EMSGSIZE:
      return 'EMSGSIZE';
    case ENOBUFS:
      return 'ENOBUFS';
    default:
      return `errno ${e}`;
  }
}

interface Queue {
  fd: number;
  poll: object | undefined;
  rx: Uint8Array;
  lens: Int32Array;
}

/**
 * A Linux TUN device (`IFF_TUN | IFF_NO_PI`) as an {@link L3Device}.
 *
 * Reads are non-blocking and driven by a `uv_poll` on the event loop: every wakeup drains the fd
 * in batches (no thread pool, no per-packet allocation except the view handed to the
 * handler, which is valid only during the call). `send` writes one packet synchronously; EIO
 * (link down) and EAGAIN (queue full) drop the packet and count it, and the device stays usable.
 *
 * The device keeps the event loop alive while open (like a socket); {@link TunDevice.unref}
 * changes that. Always {@link TunDevice.close} it.
 *
 * The fd stays valid when the interface is moved into another network namespace
 * (`ip link set NAME netns NS`); the MTU / link helpers of this class act on the interface by
 * name in the current process's namespace, so use them before moving it (or use `ip -n NS`).
 *
 * @example
 * ```ts
 * const tun = TunDevice.open({ name: 'l3k0', mtu: 1400, up: true });
 * tun.setHandler((pkt) => console.log('kernel sent', pkt.length, 'bytes'));
 * tun.send(packetForTheKernel);
 * tun.close();
 * ```
 */
export class TunDevice implements L3Device {
  /** The interface name the kernel gave the device. */
  readonly name: string;
  /** Whether packets carry a vnet header on the fd ({@link TunOptions.vnetHdr}). */
  readonly vnetHdr: boolean;
  /** Whether offloads (GSO super-packets) are on ({@link TunOptions.offload}). */
  readonly offload: boolean;
  /**
   * Bytes before every packet this device hands its handler that belong to nobody: the receiver
   * may write there (valid during the call, like the packet). {@link TUN_RX_HEADROOM}, or 0 with
   * an addon built from sources older than this package.
   */
  readonly rxHeadroom: number;
  /** Counters, updated in place. */
  readonly stats: TunStats = {
    rxPackets: 0,
    rxBytes: 0,
    rxBatches: 0,
    rxErrors: 0,
    rxDropped: 0,
    rxGso: 0,
    txPackets: 0,
    txBytes: 0,
    txGso: 0,
    txDropped: { closed: 0, linkDown: 0, full: 0, malformed: 0, rejected: 0, other: 0 },
    lastTxError: undefined,
  };

  readonly #addon: TunAddon;
  readonly #queues: Queue[];
  readonly #txHdr = new Uint8Array(VNET_HDR_LEN);
  #results = new Int32Array(64);
  #handler: PacketHandler = discard;
  #prefix: Prefix | undefined;
  #mtu: number;
  #closed = false;
  #detached = false;

  private constructor(addon: TunAddon, name: string, fds: number[], opts: TunOptions, mtu: number) {
    this.#addon = addon;
    this.rxHeadroom = addon.rxHeadroom === true ? TUN_RX_HEADROOM : 0;
    this.name = name;
    this.vnetHdr = !!opts.vnetHdr;
    this.offload = !!opts.offload;
    this.#mtu = mtu;
    const batch = opts.batch ?? DEFAULT_BATCH;
    this.#queues = fds.map((fd) => ({
      fd,
      poll: undefined,
      rx: new Uint8Array(new ArrayBuffer(SLOT * batch)),
      lens: new Int32Array(batch),
    }));
  }

  /**
   * Creates (or attaches to) a TUN interface. Needs CAP_NET_ADMIN.
   *
   * @throws ConfigError `ERR_TUN_BAD_NAME`, `ERR_TUN_BAD_MTU`, `ERR_TUN_BAD_OPTION` for bad
   *   options.
   * @throws TunError `ERR_TUN_UNAVAILABLE` (addon not built / not Linux), `ERR_TUN_NO_DEVICE`
   *   (no /dev/net/tun), `ERR_TUN_PERMISSION` (EPERM / EACCES), `ERR_TUN_BUSY`, `ERR_TUN_IO`.
   */
  static open(opts: TunOptions = {}): TunDevice {
    const name = opts.name ?? 'tun%d';
    if (
      typeof name !== 'string' ||
      name.length === 0 ||
      name === '.' ||
      name === '..' ||
      Buffer.byteLength(name) > NAME_MAX ||
      /[\s/:]/.test(name)
    )
      throw new ConfigError(
        'ERR_TUN_BAD_NAME',
        `TUN name must be 1..${NAME_MAX} bytes without spaces, '/' or ':', got ${JSON.stringify(name)}`,
      );
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > MAX_PACKET))
      throw new ConfigError('ERR_TUN_BAD_MTU', `TUN MTU must be an integer 68..65535, got ${opts.mtu}`);
    const queues = opts.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1 || queues > 256 || (queues > 1 && !opts.multiQueue))
      throw new ConfigError(
        'ERR_TUN_BAD_OPTION',
        `queues must be 1, or 2..256 together with multiQueue: true (got ${opts.queues})`,
      );
    if (
      opts.txQueueLen !== undefined &&
      (!Number.isInteger(opts.txQueueLen) || opts.txQueueLen < 1 || opts.txQueueLen > 1_000_000)
    )
      throw new ConfigError(
        'ERR_TUN_BAD_OPTION',
        `txQueueLen must be an integer 1..1000000, got ${opts.txQueueLen}`,
      );
    const batch = opts.batch ?? DEFAULT_BATCH;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024)
      throw new ConfigError('ERR_TUN_BAD_OPTION', `batch must be an integer 1..1024, got ${opts.batch}`);
    if (opts.offload && !opts.vnetHdr)
      throw new ConfigError('ERR_TUN_BAD_OPTION', 'offload needs vnetHdr: true');

    const addon = loadAddon();
    const f = addon.flags;
    let flags = f.IFF_TUN | f.IFF_NO_PI;
    if (opts.vnetHdr) flags |= f.IFF_VNET_HDR;
    if (opts.multiQueue) flags |= f.IFF_MULTI_QUEUE;

    const fds: number[] = [];
    let actual = name;
    try {
      for (let i = 0; i < queues; i++) {
        let r: [number, string];
        try {
          r = addon.open(actual, flags);
        } catch (e) {
          throw tunErrorFrom(e, `cannot open TUN ${JSON.stringify(actual)}`);
        }
        fds.push(r[0]);
        actual = r[1];
        try {
          if (opts.vnetHdr) addon.setVnetHdrSz(r[0], VNET_HDR_LEN);
          if (opts.offload)
            addon.setOffload(r[0], f.TUN_F_CSUM | f.TUN_F_TSO4 | f.TUN_F_TSO6 | f.TUN_F_TSO_ECN);
        } catch (e) {
          throw tunErrorFrom(e, `cannot configure vnet header / offloads on ${actual}`);
        }
      }
      let mtu: number;
      try {
        if (opts.mtu !== undefined) addon.setMtu(actual, opts.mtu);
        if (opts.txQueueLen !== undefined) addon.setTxQueueLen(actual, opts.txQueueLen);
        mtu = addon.getMtu(actual);
        if (opts.up) addon.setUp(actual, true);
      } catch (e) {
        throw tunErrorFrom(e, `cannot configure ${actual}`);
      }
      const dev = new TunDevice(addon, actual, fds, opts, mtu);
      dev.#start();
      return dev;
    } catch (e) {
      for (const fd of fds) {
        try {
          addon.close(fd);
        } catch {
          /* already failing */
        }
      }
      throw e;
    }
  }

  #start(): void {
    for (const q of this.#queues) {
      q.poll = this.#addon.pollStart(
        q.fd,
        q.rx.buffer as ArrayBuffer,
        SLOT,
        q.lens,
        (count, err) => this.#onRead(q, count, err),
        this.rxHeadroom,
      );
    }
  }

  #onRead(q: Queue, count: number, err: number): void {
    const rx = q.rx;
    const lens = q.lens;
    const st = this.stats;
    // Views are made on the ArrayBuffer (≈ 20 ns on Node 20) rather than by `subarray` (≈ 31).
    const ab = rx.buffer;
    if (count > 0) st.rxBatches++;
    for (let i = 0; i < count && !this.#closed; i++) {
      const off = i * SLOT + this.rxHeadroom;
      let len = lens[i];
      let start = off;
      if (this.vnetHdr) {
        len -= VNET_HDR_LEN;
        start = off + VNET_HDR_LEN;
        if (len <= 0 || !completeVnetChecksum(rx, off, start, len)) {
          st.rxDropped++;
          continue;
        }
        if (vnetGsoType(rx, off) !== 0) st.rxGso++;
      }
      st.rxPackets++;
      st.rxBytes += len;
      this.#handler(new Uint8Array(ab, start, len));
    }
    if (err !== 0) {
      st.rxErrors++;
      // The interface was deleted (or the fd is no longer a TUN): stop polling, keep the object
      // so that sends are counted as dropped instead of throwing.
      if (err === EBADFD || err === EBADF) this.#detach();
    }
  }

  #detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    for (const q of this.#queues) {
      if (q.poll) this.#addon.pollStop(q.poll);
      q.poll = undefined;
    }
  }

  /** The current MTU (as set through this object or read at open). */
  get mtu(): number {
    return this.#mtu;
  }

  /** Whether {@link TunDevice.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** {@inheritDoc @l3kit/core#L3Device.setHandler} */
  setHandler(handler: PacketHandler): void {
    this.#handler = handler;
  }

  /**
   * Writes one IP packet to the kernel (as if it arrived on the interface). Never throws:
   * failures are counted in `stats.txDropped` by reason. The buffer may be modified (a GSO
   * write replaces the TCP checksum by the pseudo-header sum).
   */
  send(pkt: Uint8Array): void {
    const st = this.stats;
    if (this.#closed || this.#detached) {
      st.txDropped.closed++;
      return;
    }
    const len = pkt.length;
    const v = len > 0 ? pkt[0] >>> 4 : 0;
    if (len === 0 || len > MAX_PACKET || (v !== 4 && v !== 6)) {
      st.txDropped.malformed++;
      return;
    }
    let n: number;
    if (this.vnetHdr) {
      const gso = this.offload && fillVnetHeader(this.#txHdr, pkt, this.#mtu);
      if (!gso) this.#txHdr.fill(0);
      else st.txGso++;
      n = this.#addon.write(this.#queues[0].fd, pkt, this.#txHdr);
      if (n > 0) n -= VNET_HDR_LEN;
    } else {
      n = this.#addon.write(this.#queues[0].fd, pkt);
    }
    if (n >= 0) {
      st.txPackets++;
      st.txBytes += len;
    } else {
      this.#countTxError(-n);
    }
  }

  /**
   * Writes `count` packets (default all of `pkts`) in one native call. Same semantics and
   * counters as calling {@link TunDevice.send} for each. Returns how many were written.
   */
  sendBatch(pkts: readonly Uint8Array[], count = pkts.length): number {
    if (this.vnetHdr || this.#closed || this.#detached) {
      const before = this.stats.txPackets;
      for (let i = 0; i < count; i++) this.send(pkts[i]);
      return this.stats.txPackets - before;
    }
    const st = this.stats;
    if (this.#results.length < count)
      this.#results = new Int32Array(Math.max(count, this.#results.length * 2));
    const res = this.#results;
    // Malformed packets never reach the kernel: they are written as results in place.
    let allGood = true;
    for (let i = 0; i < count; i++) {
      const p = pkts[i];
      const v = p.length > 0 ? p[0] >>> 4 : 0;
      if (p.length === 0 || p.length > MAX_PACKET || (v !== 4 && v !== 6)) {
        allGood = false;
        break;
      }
    }
    if (!allGood) {
      let ok = 0;
      for (let i = 0; i < count; i++) {
        const before = st.txPackets;
        this.send(pkts[i]);
        ok += st.txPackets - before;
      }
      return ok;
    }
    const ok = this.#addon.writeMany(this.#queues[0].fd, pkts, count, res);
    for (let i = 0; i < count; i++) {
      const n = res[i];
      if (n >= 0) {
        st.txPackets++;
        st.txBytes += pkts[i].length;
      } else this.#countTxError(-n);
    }
    return ok;
  }

  #countTxError(errno: number): void {
    const d = this.stats.txDropped;
    this.stats.lastTxError = errnoName(errno);
    switch (errno) {
      case EIO:
        d.linkDown++;
        break;
      case EAGAIN:
      case ENOBUFS:
        d.full++;
        break;
      case EINVAL:
      case EMSGSIZE:
        d.rejected++;
        break;
      case EBADFD:
      case EBADF:
        d.closed++;
        this.#detach();
        break;
      default:
        d.other++;
    }
  }

  /** l3kit-side address metadata (used by routers); the kernel's address is set with `ip`. */
  addr(): Prefix | undefined {
    return this.#prefix;
  }

  /** Sets the l3kit-side address metadata. Does not configure the kernel interface. */
  setAddr(prefix: Prefix): void {
    this.#prefix = prefix;
  }

  /**
   * Sets the interface MTU (ioctl by name, in this process's network namespace).
   * @throws ConfigError `ERR_TUN_BAD_MTU`; TunError `ERR_TUN_NOT_FOUND` when the interface is in
   *   another namespace; ClosedError after close.
   */
  setMtu(mtu: number): void {
    this.#check();
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > MAX_PACKET)
      throw new ConfigError('ERR_TUN_BAD_MTU', `TUN MTU must be an integer 68..65535, got ${mtu}`);
    try {
      this.#addon.setMtu(this.name, mtu);
    } catch (e) {
      throw tunErrorFrom(e, `cannot set the MTU of ${this.name}`);
    }
    this.#mtu = mtu;
  }

  /**
   * Reads the interface MTU from the kernel (and remembers it for GSO writes).
   * @throws TunError `ERR_TUN_NOT_FOUND` when the interface is in another namespace.
   */
  readMtu(): number {
    this.#check();
    try {
      this.#mtu = this.#addon.getMtu(this.name);
    } catch (e) {
      throw tunErrorFrom(e, `cannot read the MTU of ${this.name}`);
    }
    return this.#mtu;
  }

  /** Reads the interface's transmit queue length (packets queued for l3kit to read), by name. */
  readTxQueueLen(): number {
    this.#check();
    try {
      return this.#addon.getTxQueueLen(this.name);
    } catch (e) {
      throw tunErrorFrom(e, `cannot read the queue length of ${this.name}`);
    }
  }

  /** Brings the link up or down (ioctl by name, in this process's network namespace). */
  setUp(up: boolean): void {
    this.#check();
    try {
      this.#addon.setUp(this.name, up);
    } catch (e) {
      throw tunErrorFrom(e, `cannot set ${this.name} ${up ? 'up' : 'down'}`);
    }
  }

  /** Whether the link is administratively up (in this process's network namespace). */
  isUp(): boolean {
    this.#check();
    try {
      return this.#addon.getUp(this.name);
    } catch (e) {
      throw tunErrorFrom(e, `cannot read the flags of ${this.name}`);
    }
  }

  /** Lets the process exit while the device is open (like `socket.unref()`). */
  unref(): this {
    for (const q of this.#queues) if (q.poll) this.#addon.pollRef(q.poll, false);
    return this;
  }

  /** Undoes {@link TunDevice.unref}. */
  ref(): this {
    for (const q of this.#queues) if (q.poll) this.#addon.pollRef(q.poll, true);
    return this;
  }

  /**
   * Stops reading and closes the fd(s). A non-persistent interface disappears from the kernel.
   * Idempotent; later sends are counted as `txDropped.closed`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
    this.#handler = discard;
    let first: unknown;
    for (const q of this.#queues) {
      try {
        this.#addon.close(q.fd);
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw tunErrorFrom(first, `closing ${this.name}`);
  }

  #check(): void {
    if (this.#closed) throw new ClosedError(`TUN ${this.name}`);
  }
}
