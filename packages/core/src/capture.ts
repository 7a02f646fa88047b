/**
 * Capture taps: record the packets crossing any device or link to a pcapng (or pcap) stream that
 * Wireshark / tshark / tcpdump read (link type 101, raw IP: IPv4 and IPv6 in one file).
 *
 * Packets are recorded (copied into the capture) at the moment they cross, before the receiving
 * device sees them, so a receiver that rewrites a buffer in place does not change the record.
 * Capturing allocates per packet: use it for tests, demos and debugging, not on a hot path you
 * are measuring.
 */
import { writeFileSync } from 'node:fs';
import { concatChunks, LinkType, PcapngWriter, PcapWriter, type Prefix } from '@l3kit/wire';
import { type Clock, systemClock } from './clock.js';
import type { L3Device, PacketHandler } from './device.js';
import { ConfigError } from './errors.js';
import { addressesOf, type MultiAddressDevice } from './hub.js';

/** Which way a recorded packet went. */
export type CaptureDirection = 'in' | 'out';

/** What {@link CaptureOptions.onPacket} learns about each recorded packet. */
export interface CaptureRecord {
  /** The tap or link name (the pcapng interface name). */
  name: string;
  /**
   * For a tap: `'in'` = sent into the device, `'out'` = emitted by it. For a link `a`–`b`:
   * `'out'` = from `a` to `b`, `'in'` = from `b` to `a`.
   */
  direction: CaptureDirection;
  /** Capture time (the capture's clock), milliseconds. */
  timestampMs: number;
  /** 1-based number of the packet in the capture (Wireshark's frame number). */
  frame: number;
}

/** Options of {@link Capture}. */
export interface CaptureOptions {
  /** File format. Default `'pcapng'` (one interface per tap / link, names kept). */
  format?: 'pcapng' | 'pcap';
  /** Time source for timestamps. Default: the shared {@link SystemClock}. */
  clock?: Clock;
  /** pcapng only: add a packet comment naming the tap and direction (e.g. `"host-a out"`). Default false. */
  comments?: boolean;
  /**
   * Called for every recorded packet, after it is recorded and before it is delivered. `pkt` is
   * the live buffer: read it during the call, copy it to keep it.
   */
  onPacket?: (pkt: Uint8Array, info: CaptureRecord) => void;
}

/** A device wrapped by {@link Capture.tap}: behaves like the inner device and records its traffic. */
export interface CaptureTap extends MultiAddressDevice {
  /** The wrapped device. */
  readonly inner: L3Device;
  /** The tap's name in the capture. */
  readonly name: string;
}

interface Iface {
  name: string;
  id: number;
}

/**
 * Records packets of taps and links into one capture.
 *
 * ```ts
 * const cap = new Capture({ format: 'pcapng' });
 * hub.connectL3(cap.tap(hostA, 'host-a'));   // everything host A sends and receives
 * cap.link(natInside, tenant, 'tenant-1');   // connectL3 with recording
 * await hostA.ping('10.0.2.1');
 * cap.writeFile('out.pcapng');
 * ```
 */
export class Capture {
  /** The capture's file format. */
  readonly format: 'pcapng' | 'pcap';
  private readonly clock: Clock;
  private readonly chunks: Uint8Array[] = [];
  private readonly ng: PcapngWriter | undefined;
  private readonly classic: PcapWriter | undefined;
  private readonly comments: boolean;
  private readonly onPacket: ((pkt: Uint8Array, info: CaptureRecord) => void) | undefined;
  private readonly names = new Set<string>();
  private count = 0;

  /** Throws {@link ConfigError} `ERR_BAD_OPTION` for an unknown format. */
  constructor(opts: CaptureOptions = {}) {
    const format = opts.format ?? 'pcapng';
    if (format !== 'pcapng' && format !== 'pcap')
      throw new ConfigError(
        'ERR_BAD_OPTION',
        `capture format must be 'pcapng' or 'pcap', got ${String(format)}`,
      );
    this.format = format;
    this.clock = opts.clock ?? systemClock();
    this.comments = opts.comments === true;
    this.onPacket = opts.onPacket;
    const sink = (c: Uint8Array) => {
      this.chunks.push(c);
    };
    if (format === 'pcapng') this.ng = new PcapngWriter(sink, { userAppl: 'l3kit' });
    else this.classic = new PcapWriter(sink, { linkType: LinkType.Raw });
  }

  /** Number of packets recorded so far. */
  get packets(): number {
    return this.count;
  }

  /**
   * Wraps `dev` in a device that records what is sent into it (`in`) and what it emits (`out`)
   * and otherwise behaves identically (handler, address, close). Use the returned device in place
   * of `dev`. `name` defaults to the device's `name` property or `tap-N`; names must be unique.
   */
  tap(dev: L3Device, name?: string): CaptureTap {
    const iface = this.addIface(name ?? defaultName(dev, `tap-${this.names.size + 1}`));
    const cap = this;
    let handler: PacketHandler | undefined;
    // One closure for the device's lifetime, set on the inner device at the first setHandler.
    const emitted: PacketHandler = (pkt) => {
      cap.record(iface, pkt, 'out');
      handler!(pkt);
    };
    return {
      inner: dev,
      name: iface.name,
      setHandler(h: PacketHandler): void {
        if (handler === undefined) dev.setHandler(emitted);
        handler = h;
      },
      send(pkt: Uint8Array): void {
        cap.record(iface, pkt, 'in');
        dev.send(pkt);
      },
      addr: (): Prefix | undefined => dev.addr(),
      addresses: (): Prefix[] => addressesOf(dev),
      setAddr: (p: Prefix): void => dev.setAddr(p),
      close: (): void => dev.close(),
    };
  }

  /**
   * Like `connectL3(a, b)` (what `a` emits is sent into `b` and vice versa), recording both
   * directions on one capture interface: `out` = from `a` to `b`, `in` = from `b` to `a`.
   * `name` defaults to `"<a.name><-><b.name>"` when both devices have a `name`, else `link-N`.
   */
  link(a: L3Device, b: L3Device, name?: string): void {
    const an = defaultName(a, '');
    const bn = defaultName(b, '');
    const iface = this.addIface(name ?? (an && bn ? `${an}<->${bn}` : `link-${this.names.size + 1}`));
    a.setHandler((p) => {
      this.record(iface, p, 'out');
      b.send(p);
    });
    b.setHandler((p) => {
      this.record(iface, p, 'in');
      a.send(p);
    });
  }

  /** The capture file so far (a pcapng or pcap byte stream). */
  bytes(): Uint8Array {
    const all = concatChunks(this.chunks);
    if (this.chunks.length > 1) {
      this.chunks.length = 0;
      this.chunks.push(all);
    }
    return all;
  }

  /** Writes the capture so far to `path` (synchronously). */
  writeFile(path: string): void {
    writeFileSync(path, this.bytes());
  }

  private addIface(name: string): Iface {
    if (this.names.has(name))
      throw new ConfigError('ERR_DUPLICATE_NAME', `capture name ${name} is already used`);
    this.names.add(name);
    const id = this.ng ? this.ng.addInterface(name, LinkType.Raw) : 0;
    return { name, id };
  }

  private record(iface: Iface, pkt: Uint8Array, direction: CaptureDirection): void {
    const t = this.clock.now();
    if (this.ng) this.ng.write(iface.id, pkt, t, this.comments ? `${iface.name} ${direction}` : undefined);
    else this.classic!.write(pkt, t);
    this.count++;
    this.onPacket?.(pkt, { name: iface.name, direction, timestampMs: t, frame: this.count });
  }
}

function defaultName(dev: L3Device, fallback: string): string {
  const n = (dev as { name?: unknown }).name;
  return typeof n === 'string' && n !== '' ? n : fallback;
}
