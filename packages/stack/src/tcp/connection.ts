/**
 * One TCP connection: the RFC 9293 state machine with the RFC 6298 retransmission timer, NewReno
 * (RFC 6582) congestion control, fast retransmit, SACK (RFC 2018), window scaling (RFC 7323),
 * delayed ACKs (RFC 9293 §3.8.6.3, RFC 5681 §4.2), zero-window probing, keep-alive and TIME-WAIT.
 *
 * The connection never calls user code while it processes a segment: socket events (data, end,
 * errors, writable) are collected and delivered by {@link TcpConnection.flushEvents}, which the
 * host calls once the packet that caused them has been fully processed.
 */
import type { TimerHandle } from '@l3kit/core';
import { finishChecksum, formatIp, onesSum, pseudoHeaderSum4, pseudoHeaderSum6 } from '@l3kit/wire';
import { SocketError } from '../errors.js';
import { copyBytes, type IpLayer, ipHeaderLen } from '../ip.js';
import { NewReno } from './congestion.js';
import { Reassembly } from './recv-buffer.js';
import { RttEstimator } from './rtt.js';
import { Scoreboard } from './sack.js';
import {
  type RxSegment,
  TCP_CHECKSUM_OFF,
  TCP_HEADER_LEN,
  TcpFlag,
  type TxOptions,
  tcpOptionsLen,
  writeTcpHeader,
} from './segment.js';
import { SendBuffer } from './send-buffer.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlag;

/** TCP connection states (RFC 9293 §3.3.2). */
export const TcpState = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  FIN_WAIT_1: 5,
  FIN_WAIT_2: 6,
  CLOSE_WAIT: 7,
  CLOSING: 8,
  LAST_ACK: 9,
  TIME_WAIT: 10,
} as const;
/** A {@link TcpState} value. */
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

const STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
];

/** The RFC name of a state, e.g. `TIME-WAIT`. */
export function tcpStateName(s: number): string {
  return STATE_NAMES[s] ?? `state-${s}`;
}

/** Tunables of the TCP implementation. All times in ms, sizes in bytes. */
export interface TcpConfig {
  /** Receive buffer: the most the connection advertises (window scaling picks the shift). Default 1 MiB. */
  rcvBuf: number;
  /** Send buffer: write() back-pressure starts above this many unacknowledged bytes. Default 1 MiB. */
  sndBuf: number;
  /** Lower bound of the RTO. RFC 6298 says 1 s; default 200 ms, as Linux. */
  minRtoMs: number;
  /** Upper bound of the RTO (RFC 6298 §2.5: at least 60 s). Default 60 s. */
  maxRtoMs: number;
  /** Delayed-ACK timeout. Default 40 ms (RFC 9293: less than 0.5 s). */
  delayedAckMs: number;
  /** TIME-WAIT duration (2·MSL). Default 60 s. */
  timeWaitMs: number;
  /** SYN / SYN-ACK retransmissions before giving up with ETIMEDOUT. Default 6. */
  synRetries: number;
  /** Data retransmissions (consecutive timeouts) before giving up with ETIMEDOUT. Default 15. */
  maxRetransmits: number;
  /** Idle time before the first keep-alive probe. Default 2 h (RFC 1122 §4.2.3.6). */
  keepAliveIdleMs: number;
  /** Interval between keep-alive probes. Default 75 s. */
  keepAliveIntervalMs: number;
  /** Unanswered keep-alive probes before ETIMEDOUT. Default 9. */
  keepAliveProbes: number;
  /** Offer / accept SACK (RFC 2018). Default true. */
  sack: boolean;
  /** Offer / accept window scaling (RFC 7323). Default true. */
  windowScaling: boolean;
}

/** Default {@link TcpConfig}. */
export const DEFAULT_TCP_CONFIG: Readonly<TcpConfig> = {
  rcvBuf: 1 << 20,
  sndBuf: 1 << 20,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  synRetries: 6,
  maxRetransmits: 15,
  keepAliveIdleMs: 7_200_000,
  keepAliveIntervalMs: 75_000,
  keepAliveProbes: 9,
  sack: true,
  windowScaling: true,
};

/** Counters of one connection (see `socket.tcpInfo()`). */
export interface TcpConnectionStats {
  segmentsSent: number;
  segmentsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Segments sent again (any reason). */
  retransmits: number;
  /** Fast retransmits (triple duplicate ACK or SACK hole). */
  fastRetransmits: number;
  /** Retransmission timeouts. */
  timeouts: number;
  /** Retransmissions found lost from SACK information (and sent again without a timeout). */
  lostRetransmits: number;
  /** Zero-window probes sent. */
  windowProbes: number;
  /** Keep-alive probes sent. */
  keepAliveProbes: number;
  /** Duplicate ACKs received. */
  dupAcks: number;
  /** Segments that arrived out of order. */
  outOfOrder: number;
  /** Segments outside the window (answered with an ACK and dropped). */
  unacceptable: number;
}

/** What a connection reports to its socket (through {@link TcpConnection.flushEvents}). */
export interface ConnectionUser {
  onConnect(): void;
  onData(chunk: Uint8Array): void;
  onEnd(): void;
  onError(err: Error): void;
  /** Send-buffer space was freed. */
  onWritable(): void;
  /** The connection reached CLOSED (or TIME-WAIT) and will report nothing more. */
  onClose(): void;
}

/** What the connection needs from the TCP layer that owns it. */
export interface TcpOwner {
  readonly ip: IpLayer;
  readonly config: TcpConfig;
  /** Removes the connection from the demultiplexing table. */
  remove(c: TcpConnection): void;
  /** A connection opened by a listener reached ESTABLISHED. */
  accepted(c: TcpConnection): void;
  /** Global counters. */
  countSegmentOut(): void;
}

const MAX_SACK_BLOCKS = 4;

/** One TCP connection (the socket layer wraps it in a `stream.Duplex`). */
export class TcpConnection {
  state: TcpState = TcpState.CLOSED;
  readonly family: 4 | 6;
  readonly localAddr: Uint8Array;
  readonly remoteAddr: Uint8Array;
  readonly localPort: number;
  readonly remotePort: number;
  /** Remote address as text. */
  readonly remoteText: string;
  /** Demultiplexing key (ports). */
  readonly portKey: number;
  /** The listener that created this connection, if passive (set by the TCP layer). */
  listener: { port: number; halfOpen: number } | undefined;
  user: ConnectionUser | undefined;
  readonly stats: TcpConnectionStats = {
    segmentsSent: 0,
    segmentsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    lostRetransmits: 0,
    windowProbes: 0,
    keepAliveProbes: 0,
    dupAcks: 0,
    outOfOrder: 0,
    unacceptable: 0,
  };

  // Send sequence space.
  /** Initial send sequence number (RFC 6528). */
  readonly iss: number;
  sndUna: number;
  sndNxt: number;
  /** Highest sequence sent + 1 (SND.NXT moves back after a timeout; this does not). */
  sndMax: number;
  sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private maxSndWnd = 0;
  /** Peer's window-scale shift (0 when scaling is off). */
  private sndShift = 0;
  /** Effective send MSS. */
  mss: number;
  readonly sendBuf = new SendBuffer();
  /** Whether our SYN has been acknowledged. */
  private synAcked = false;
  /** FIN requested by the application; its sequence number once known. */
  private finQueued = false;
  private finSeq = 0;

  // Receive sequence space.
  /** Initial receive sequence number (the peer's ISN). */
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the last advertised window (RCV.NXT + RCV.WND). */
  private rcvAdvRight = 0;
  /** Our window-scale shift. */
  private rcvShift = 0;
  private readonly ooo = new Reassembly();
  /** Sequence number of a FIN seen beyond a gap. */
  private rcvFinSeq = -1;
  private finReceived = false;
  /** Bytes delivered to the user and not yet read (besides the stream's own count). */
  private undelivered = 0;
  /** Function returning how many received bytes the application has not read yet. */
  unread: () => number = () => 0;

  // Options.
  private sackOk = false;
  private wsOk = false;
  private readonly scoreboard = new Scoreboard();

  // Loss recovery.
  private readonly cc: NewReno;
  private readonly rtt: RttEstimator;
  private dupAcks = 0;
  /** Extra window (bytes) granted by limited transmit (RFC 3042) until new data is acked. */
  private limitedTransmit = 0;
  private rexmitNxt = 0;
  /** SND.MAX when the current round of hole retransmissions started. */
  private roundMark = 0;
  private rttSeq = 0;
  private rttStart = -1;
  private retries = 0;

  // ACK generation.
  private ackPending = false;
  private segsSinceAck = 0;

  // Timers (absolute ms; 0 = off) and the single scheduled wakeup.
  private rtoAt = 0;
  private delAckAt = 0;
  private persistAt = 0;
  private persistBackoff = 0;
  /** Set by the SWS override timer: send a small segment despite sender SWS avoidance. */
  private forceSend = false;
  private keepAliveAt = 0;
  private timeWaitAt = 0;
  private idleAt = 0;
  private wakeup: TimerHandle | undefined;

  // Options set by the socket.
  noDelay = false;
  keepAlive = false;
  keepAliveIdleMs: number;
  private keepAliveSent = 0;
  /** Idle timeout (socket.setTimeout) in ms, 0 = off; `onIdle` is called when it fires. */
  idleTimeoutMs = 0;
  onIdle: (() => void) | undefined;
  private lastActivity = 0;
  private lastRecv = 0;

  // Pending socket events.
  private evConnect = false;
  private evData: Uint8Array[] = [];
  private evEnd = false;
  private evError: Error | undefined;
  private evWritable = false;
  private evClose = false;
  private queuedForFlush = false;
  /** Set once the socket no longer wants events (destroyed): the connection finishes alone. */
  orphaned = false;
  private closedNotified = false;

  constructor(
    private readonly owner: TcpOwner,
    family: 4 | 6,
    localAddr: Uint8Array,
    localPort: number,
    remoteAddr: Uint8Array,
    remotePort: number,
    iss: number,
  ) {
    this.family = family;
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.localPort = localPort;
    this.remotePort = remotePort;
    this.remoteText = formatIp(remoteAddr);
    this.portKey = localPort * 65536 + remotePort;
    this.iss = iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    const cfg = owner.config;
    this.mss = this.defaultMss();
    this.cc = new NewReno(this.mss);
    this.cc.recover = this.iss;
    this.rtt = new RttEstimator(cfg.minRtoMs, cfg.maxRtoMs);
    this.keepAliveIdleMs = cfg.keepAliveIdleMs;
    if (cfg.windowScaling) {
      let s = 0;
      while (s < 14 && cfg.rcvBuf >>> s > 0xffff) s++;
      this.rcvShift = s;
    }
    const now = this.now();
    this.lastActivity = now;
    this.lastRecv = now;
  }

  private now(): number {
    return this.owner.ip.clock.now();
  }

  /** Our MSS: MTU minus the IP and TCP headers. */
  private ourMss(): number {
    return this.owner.ip.mtu - ipHeaderLen(this.family) - TCP_HEADER_LEN;
  }

  /** RFC 9293 §3.7.1: without an MSS option assume 536 (IPv4) / 1220 (IPv6). */
  private defaultMss(): number {
    return Math.min(this.ourMss(), this.family === 4 ? 536 : 1220);
  }

  /** Whether the connection reached CLOSED (not narrowed by control flow, unlike `state`). */
  get closed(): boolean {
    return this.state === TcpState.CLOSED;
  }

  /** Congestion window (bytes). */
  get cwnd(): number {
    return this.cc.cwnd;
  }
  /** Slow-start threshold (bytes). */
  get ssthresh(): number {
    return this.cc.ssthresh;
  }
  /** Smoothed RTT (ms), or -1. */
  get srtt(): number {
    return this.rtt.srtt;
  }
  /** Current RTO (ms). */
  get rto(): number {
    return this.rtt.current();
  }
  /** Whether SACK was negotiated. */
  get sackEnabled(): boolean {
    return this.sackOk;
  }
  /** Peer's and our window-scale shifts, or `undefined` when scaling is off. */
  get windowScale(): { send: number; receive: number } | undefined {
    return this.wsOk ? { send: this.sndShift, receive: this.rcvShift } : undefined;
  }
  /** Sequence numbers sent and not yet acknowledged (bytes in flight). */
  get unacked(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }
  /** Bytes in the send buffer (unacknowledged + unsent). */
  get bufferedOut(): number {
    return this.sendBuf.length;
  }

  // -------------------------------------------------------------------------------------------
  // Opening

  /** Active open: sends SYN (RFC 9293 §3.10.1). */
  openActive(): void {
    this.state = TcpState.SYN_SENT;
    this.sendSyn(false);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.rtoAt = this.now() + this.rtt.current();
    this.rttSeq = this.iss;
    this.rttStart = this.now();
    this.arm();
  }

  /** Passive open from a listener's SYN (RFC 9293 §3.10.7.2): answers SYN-ACK. */
  openPassive(seg: RxSegment): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.takeSynOptions(seg);
    this.sndWnd = seg.window; // never scaled in a SYN
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.state = TcpState.SYN_RECEIVED;
    this.sendSyn(true);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.rtoAt = this.now() + this.rtt.current();
    this.rttSeq = this.iss;
    this.rttStart = this.now();
    this.lastRecv = this.now();
    this.arm();
  }

  private takeSynOptions(seg: RxSegment): void {
    const cfg = this.owner.config;
    this.mss = Math.max(64, Math.min(this.ourMss(), seg.mss > 0 ? seg.mss : this.defaultMss()));
    this.cc.mss = this.mss;
    this.cc.cwnd = Math.min(10 * this.mss, Math.max(2 * this.mss, 14600));
    this.sackOk = cfg.sack && seg.sackPermitted;
    if (cfg.windowScaling && seg.wscale >= 0) {
      this.wsOk = true;
      this.sndShift = seg.wscale;
    } else {
      this.wsOk = false;
      this.sndShift = 0;
      this.rcvShift = 0;
    }
  }

  private sendSyn(withAck: boolean): void {
    const cfg = this.owner.config;
    const o: TxOptions = { mss: this.ourMss() };
    // In a SYN-ACK only echo the options the peer offered (RFC 7323 §2.2, RFC 2018 §2).
    if (cfg.windowScaling && (!withAck || this.wsOk)) o.wscale = this.rcvShift;
    if (cfg.sack && (!withAck || this.sackOk)) o.sackPermitted = true;
    const wnd = Math.min(0xffff, this.rcvWindowBytes());
    this.rcvAdvRight = seqAdd(this.rcvNxt, wnd);
    this.emit(this.iss, withAck ? SYN | ACK : SYN, withAck ? this.rcvNxt : 0, wnd, o, 0, 0);
  }

  // -------------------------------------------------------------------------------------------
  // Application side

  /**
   * Queues `data` for sending (copied unless `owned`). The caller handles back-pressure with
   * {@link sendSpace}.
   */
  write(data: Uint8Array, owned = false): void {
    if (this.finQueued) return;
    this.sendBuf.push(data, owned);
    this.lastActivity = this.now();
    if (this.state === TcpState.ESTABLISHED || this.state === TcpState.CLOSE_WAIT) this.output();
  }

  /** Free space in the send buffer. */
  sendSpace(): number {
    return this.owner.config.sndBuf - this.sendBuf.length;
  }

  /** Whether {@link shutdown} was called. */
  get writeShut(): boolean {
    return this.finQueued;
  }

  /** Half-close: sends FIN after the queued data (RFC 9293 §3.10.4). */
  shutdown(): void {
    if (this.finQueued) return;
    switch (this.state) {
      case TcpState.SYN_SENT:
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
      case TcpState.CLOSE_WAIT:
        this.finQueued = true;
        this.finSeq = seqAdd(
          this.sndUna,
          this.sendBuf.length +
            (this.state === TcpState.SYN_SENT || this.state === TcpState.SYN_RECEIVED ? 1 : 0),
        );
        if (this.state === TcpState.ESTABLISHED || this.state === TcpState.CLOSE_WAIT) this.output();
        break;
      default:
        break;
    }
  }

  /** Aborts: sends RST (RFC 9293 §3.10.5) unless closed or still opening without peer state. */
  abort(): void {
    switch (this.state) {
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
      case TcpState.FIN_WAIT_1:
      case TcpState.FIN_WAIT_2:
      case TcpState.CLOSE_WAIT:
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
        this.emit(this.sndMax, RST | ACK, this.rcvNxt, 0, undefined, 0, 0);
        break;
      default:
        break;
    }
    this.toClosed();
  }

  /**
   * The application read data: RFC 9293 §3.8.6.2.2 receiver SWS avoidance — send a window
   * update once the window can open by min(RCV.BUFF / 2, MSS).
   */
  onRead(): void {
    if (this.state < TcpState.ESTABLISHED || this.state === TcpState.TIME_WAIT) return;
    if (this.finReceived) return;
    const wnd = this.rcvWindowBytes();
    const right = seqAdd(this.rcvNxt, (wnd >>> this.rcvShift) << this.rcvShift);
    const step = Math.min(this.owner.config.rcvBuf >>> 1, this.mss);
    if (seqDiff(right, this.rcvAdvRight) >= step && !this.windowUpdateQueued) {
      // Sent once the host is idle: the peer's answer (more data) is then processed at once.
      this.windowUpdateQueued = true;
      this.owner.ip.whenIdle(this.windowUpdate);
    }
  }

  private windowUpdateQueued = false;
  /** Sends the window update queued by {@link onRead}, if still useful. Emits last. */
  private readonly windowUpdate = (): void => {
    this.windowUpdateQueued = false;
    if (this.state < TcpState.ESTABLISHED || this.state === TcpState.TIME_WAIT || this.finReceived) return;
    const wnd = this.rcvWindowBytes();
    const right = seqAdd(this.rcvNxt, (wnd >>> this.rcvShift) << this.rcvShift);
    if (seqDiff(right, this.rcvAdvRight) < Math.min(this.owner.config.rcvBuf >>> 1, this.mss)) return;
    this.sendAck();
    this.arm();
  };

  // -------------------------------------------------------------------------------------------
  // Receive window

  /** Free receive buffer space (bytes the application has not read count against it). */
  private rcvWindowBytes(): number {
    return Math.max(0, this.owner.config.rcvBuf - this.unread() - this.undelivered);
  }

  /** The window field to advertise now; moves the right edge only forward (no shrinking). */
  private windowField(): number {
    const wnd = this.rcvWindowBytes();
    let right = seqAdd(this.rcvNxt, (wnd >>> this.rcvShift) << this.rcvShift);
    const step = Math.min(this.owner.config.rcvBuf >>> 1, this.mss);
    // SWS avoidance: keep the old edge unless the window opens by a useful amount.
    if (seqLt(right, this.rcvAdvRight) || seqDiff(right, this.rcvAdvRight) < step) {
      if (seqGe(this.rcvAdvRight, this.rcvNxt)) right = this.rcvAdvRight;
    }
    // Round up: rounding down would pull the right edge back below what was offered before.
    const unit = (1 << this.rcvShift) - 1;
    let field = (seqDiff(right, this.rcvNxt) + unit) >>> this.rcvShift;
    if (field > 0xffff) field = 0xffff;
    if (field < 0) field = 0;
    this.rcvAdvRight = seqAdd(this.rcvNxt, field << this.rcvShift);
    return field;
  }

  /** RCV.WND as last advertised. */
  private rcvWnd(): number {
    const w = seqDiff(this.rcvAdvRight, this.rcvNxt);
    return Math.max(w, 0);
  }

  // -------------------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 §3.10.7)

  /**
   * Processes one segment for this connection (checksum already verified). Returns true when
   * the connection gave the segment up (a SYN reopening a TIME-WAIT pair) and the caller should
   * dispatch it again as if no connection existed.
   */
  input(seg: RxSegment): boolean {
    // TIME-WAIT: a new SYN above the old sequence space may reopen (RFC 6191 in spirit).
    if (
      this.state === TcpState.TIME_WAIT &&
      seg.flags & SYN &&
      !(seg.flags & ACK) &&
      seqGt(seg.seq, this.rcvNxt)
    ) {
      this.toClosed();
      return true;
    }
    this.inputInner(seg);
    return false;
  }

  private inputInner(seg: RxSegment): void {
    this.stats.segmentsReceived++;
    const now = this.now();
    this.lastRecv = now;
    this.lastActivity = now;
    this.keepAliveSent = 0;
    if (this.state === TcpState.SYN_SENT) {
      this.inputSynSent(seg);
      this.arm();
      return;
    }
    if (this.closed) return;
    const flags = seg.flags;
    let dataLen = seg.dataLen;
    let dataOff = seg.dataOff;
    let seq = seg.seq;
    const segLen = dataLen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);

    // First: sequence number acceptability (four cases).
    const wnd = this.rcvWnd();
    let ok: boolean;
    if (segLen === 0) {
      ok = wnd === 0 ? seq === this.rcvNxt : seqLe(this.rcvNxt, seq) && seqLt(seq, seqAdd(this.rcvNxt, wnd));
    } else if (wnd === 0) {
      ok = false;
    } else {
      const last = seqAdd(seq, segLen - 1);
      ok =
        (seqLe(this.rcvNxt, seq) && seqLt(seq, seqAdd(this.rcvNxt, wnd))) ||
        (seqLe(this.rcvNxt, last) && seqLt(last, seqAdd(this.rcvNxt, wnd)));
    }
    // A zero-window probe or keep-alive: process its ACK, answer with an ACK.
    if (!ok) {
      if (flags & RST) return;
      this.stats.unacceptable++;
      // Its ACK still counts when the window is zero (RFC 9293: "special allowance") or when
      // the segment is an old duplicate (a retransmission whose ACK field is news, as Linux).
      if (
        flags & ACK &&
        this.state >= TcpState.ESTABLISHED &&
        (wnd === 0 || seqLe(seqAdd(seq, segLen), this.rcvNxt))
      ) {
        this.processAck(seg, false);
        if (this.closed) return;
        this.output();
      }
      if (this.state === TcpState.TIME_WAIT && flags & FIN)
        this.timeWaitAt = now + this.owner.config.timeWaitMs;
      if (this.state !== TcpState.CLOSED) this.sendAck();
      this.arm();
      return;
    }

    // Second: RST (RFC 5961 §3.2: exact match resets, otherwise a challenge ACK).
    if (flags & RST) {
      if (seq !== this.rcvNxt) {
        this.sendAck();
        return;
      }
      if (this.state === TcpState.SYN_RECEIVED && this.listener) {
        // Passive open: return to LISTEN (the listener keeps listening), silently.
        this.toClosed();
        return;
      }
      if (
        this.state === TcpState.CLOSING ||
        this.state === TcpState.LAST_ACK ||
        this.state === TcpState.TIME_WAIT
      ) {
        this.toClosed();
        return;
      }
      this.fail(this.state === TcpState.SYN_RECEIVED ? 'ECONNREFUSED' : 'ECONNRESET', 'read');
      return;
    }

    // Trim data before RCV.NXT and beyond the window.
    if (seqLt(seq, this.rcvNxt)) {
      let skip = seqDiff(this.rcvNxt, seq);
      if (flags & SYN) skip--; // SYN occupies the first number
      if (skip > dataLen) skip = dataLen;
      dataOff += skip;
      dataLen -= skip;
      seq = seqAdd(seq, skip + (flags & SYN ? 1 : 0));
    }
    let fin = (flags & FIN) !== 0;
    const room = seqDiff(seqAdd(this.rcvNxt, wnd), seq);
    if (dataLen > room) {
      dataLen = Math.max(0, room);
      fin = false;
    }

    // Fourth: SYN in a synchronized state → challenge ACK (RFC 5961 §4).
    if (flags & SYN && this.state !== TcpState.SYN_RECEIVED) {
      this.sendAck();
      return;
    }

    // Fifth: ACK.
    if (!(flags & ACK)) return;
    if (this.state === TcpState.SYN_RECEIVED) {
      if (seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax)) {
        this.sndWnd = seg.window << this.sndShift;
        this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.establish();
      } else {
        this.emit(seg.ack, RST, 0, 0, undefined, 0, 0);
        return;
      }
    }
    if (!this.processAck(seg, dataLen === 0 && !fin)) {
      this.arm();
      return;
    }
    if (this.closed) return;

    // Seventh: segment text.
    if (
      dataLen > 0 &&
      (this.state === TcpState.ESTABLISHED ||
        this.state === TcpState.FIN_WAIT_1 ||
        this.state === TcpState.FIN_WAIT_2)
    ) {
      this.receiveData(seg.buf, dataOff, dataLen, seq, fin);
    } else if (fin) {
      if (seq === this.rcvNxt) this.receiveFin();
      else if (this.state <= TcpState.FIN_WAIT_2 && this.rcvFinSeq < 0) {
        this.rcvFinSeq = seqAdd(seq, dataLen);
        this.sendAck();
      }
    }
    if (this.state !== TcpState.CLOSED) {
      this.output();
      this.flushAck();
    }
    this.arm();
  }

  private inputSynSent(seg: RxSegment): void {
    const flags = seg.flags;
    if (flags & ACK) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(flags & RST)) this.emit(seg.ack, RST, 0, 0, undefined, 0, 0);
        return;
      }
    }
    if (flags & RST) {
      if (flags & ACK) this.fail('ECONNREFUSED', 'connect');
      return;
    }
    if (!(flags & SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdvRight = seqAdd(this.rcvNxt, Math.min(0xffff, this.rcvWindowBytes()));
    this.takeSynOptions(seg);
    if (flags & ACK) {
      this.sndUna = seg.ack;
      this.synAcked = true;
      this.sndWnd = seg.window; // the window of a SYN-ACK is never scaled (RFC 7323 §2.2)
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      if (this.rttStart >= 0 && this.retries === 0) this.rtt.sample(this.now() - this.rttStart);
      this.rttStart = -1;
      this.rtoAt = 0;
      this.retries = 0;
      this.establish();
      // Data in a SYN-ACK is not accepted (rare); acknowledge the SYN.
      this.sendAck();
      this.output();
    } else {
      // Simultaneous open (RFC 9293 §3.5, figure 8): SYN-SENT → SYN-RECEIVED, send SYN-ACK.
      this.state = TcpState.SYN_RECEIVED;
      this.sndWnd = seg.window;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = this.iss;
      this.sendSyn(true);
      this.rtoAt = this.now() + this.rtt.current();
    }
  }

  private establish(): void {
    this.state = TcpState.ESTABLISHED;
    this.rtoAt = this.sndNxt === this.sndUna ? 0 : this.rtoAt;
    this.retries = 0;
    this.rtt.backoff = 0;
    if (this.finQueued) {
      // FIN was requested while opening: its number comes after the data queued so far.
      this.finSeq = seqAdd(this.sndUna, this.sendBuf.length);
    }
    if (this.listener) this.owner.accepted(this);
    this.evConnect = true;
    this.queueFlush();
  }

  /**
   * ACK processing (RFC 9293 §3.10.7.4 fifth step, RFC 5681, RFC 6582, RFC 6298).
   * Returns false when the segment must be dropped.
   */
  private processAck(seg: RxSegment, pureAck: boolean): boolean {
    const ack = seg.ack;
    const now = this.now();
    if (seqGt(ack, this.sndMax)) {
      // Acknowledges something not yet sent: ACK and drop.
      this.sendAck();
      return false;
    }
    const window = seg.window << this.sndShift;
    if (seqLt(ack, this.sndUna)) return true; // old duplicate
    // SACK information.
    let sackNew = false;
    if (this.sackOk && seg.sack.length > 0) sackNew = this.scoreboard.add(seg.sack, ack, this.sndMax);
    const acked = seqDiff(ack, this.sndUna);
    // Window update (RFC 9293: SND.WL1 < SEG.SEQ or (= and SND.WL2 =< SEG.ACK)).
    const windowChanged = window !== this.sndWnd;
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      this.sndWnd = window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
      if (window > 0) {
        this.persistAt = 0;
        this.persistBackoff = 0;
      }
    }
    if (acked === 0) {
      // Duplicate ACK (RFC 5681 §2 definition).
      const flight = seqDiff(this.sndMax, this.sndUna);
      if (pureAck && flight > 0 && window > 0 && (!windowChanged || sackNew)) {
        this.stats.dupAcks++;
        this.dupAcks++;
        if (this.cc.inRecovery) {
          this.cc.onDupAckInRecovery();
          this.detectLostRetransmission();
          this.retransmitHole();
        } else if (
          (this.dupAcks >= 3 || (this.sackOk && this.scoreboard.bytes() >= 3 * this.mss)) &&
          seqGe(ack, this.cc.recover)
        ) {
          // Fast retransmit (RFC 6582 §3.2 step 2); with SACK also when three segments' worth
          // above SND.UNA has arrived (RFC 6675 IsLost), even if ACKs were lost or merged.
          this.cc.enterRecovery(flight, this.sndMax);
          this.limitedTransmit = 0;
          this.rexmitNxt = this.sndUna;
          this.retransmitHole();
        } else if (this.dupAcks <= 2) {
          // Limited transmit (RFC 3042): each of the first two duplicate ACKs may release one
          // new segment beyond cwnd, so a small window still produces a third duplicate.
          this.limitedTransmit = this.dupAcks * this.mss;
          this.output();
        }
      }
      return true;
    }

    // New data acknowledged.
    this.limitedTransmit = 0;
    const finAcked = this.finQueued && seqGt(this.sndMax, this.finSeq) && seqGt(ack, this.finSeq);
    let dataAcked = finAcked ? acked - 1 : acked;
    if (!this.synAcked) {
      this.synAcked = true;
      dataAcked--;
    }
    if (dataAcked > 0) this.sendBuf.consume(Math.min(dataAcked, this.sendBuf.length));
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.scoreboard.trim(ack);
    this.retries = 0;
    // RTT sample (Karn: only when the timed segment was not retransmitted).
    if (this.rttStart >= 0 && seqGt(ack, this.rttSeq)) {
      this.rtt.sample(now - this.rttStart);
      this.rttStart = -1;
    }
    this.rtt.backoff = 0;
    // Congestion control.
    if (this.cc.inRecovery) {
      if (seqGe(ack, this.cc.recover)) {
        this.cc.exitRecovery(seqDiff(this.sndMax, this.sndUna));
        this.dupAcks = 0;
      } else {
        // Partial ACK: retransmit the next hole (RFC 6582 §3.2 step 5).
        this.cc.onPartialAck(acked);
        this.detectLostRetransmission();
        this.retransmitHole();
      }
    } else {
      this.dupAcks = 0;
      this.cc.onAck(acked);
    }
    // Retransmission timer (RFC 6298 §5.2–5.3).
    this.rtoAt = this.sndUna === this.sndMax ? 0 : now + this.rtt.current();
    if (dataAcked > 0) {
      this.evWritable = true;
      this.queueFlush();
    }
    if (finAcked) {
      switch (this.state) {
        case TcpState.FIN_WAIT_1:
          this.state = TcpState.FIN_WAIT_2;
          // An orphaned connection does not wait for the peer's FIN forever (Linux tcp_fin_timeout).
          if (this.orphaned) this.timeWaitAt = now + this.owner.config.timeWaitMs;
          break;
        case TcpState.CLOSING:
          this.enterTimeWait();
          break;
        case TcpState.LAST_ACK:
          this.toClosed();
          return false;
        default:
          break;
      }
    }
    return true;
  }

  /**
   * Retransmits one segment during recovery: the next SACK hole (RFC 6675 style), or without
   * SACK information SND.UNA once per (partial) ACK (RFC 6582).
   */
  /**
   * RACK-style detection of a lost retransmission (RFC 8985 idea, with sequence order standing
   * in for send time): when the receiver SACKs data first sent after this round of hole
   * retransmissions began, while a hole we already retransmitted is still missing, that
   * retransmission was lost — start the round again instead of waiting for the RTO.
   */
  private detectLostRetransmission(): void {
    if (!this.sackOk || !seqGt(this.rexmitNxt, this.sndUna)) return;
    const hi = this.scoreboard.highest();
    if (hi === undefined || !seqGt(hi, this.roundMark)) return;
    const first = this.scoreboard.nextHole(this.sndUna, this.mss);
    if (first && seqLt(first[0], this.rexmitNxt)) {
      this.rexmitNxt = this.sndUna;
      this.stats.lostRetransmits++;
    }
  }

  private retransmitHole(): void {
    let start: number;
    let len: number;
    if (seqLt(this.rexmitNxt, this.sndUna)) this.rexmitNxt = this.sndUna;
    // A new round of hole retransmissions: data sent from here on lies above this mark.
    if (this.rexmitNxt === this.sndUna) this.roundMark = this.sndMax;
    if (this.sackOk && !this.scoreboard.empty) {
      const hole = this.scoreboard.nextHole(this.rexmitNxt, this.mss);
      if (!hole) return;
      start = hole[0];
      len = seqDiff(hole[1], hole[0]);
    } else {
      if (this.rexmitNxt !== this.sndUna) return;
      start = this.sndUna;
      len = Math.min(this.mss, seqDiff(this.sndMax, this.sndUna));
    }
    if (len <= 0) return;
    this.sendRange(start, len, true);
    this.stats.fastRetransmits++;
    this.rexmitNxt = seqAdd(start, len);
    if (this.rttStart >= 0 && seqLe(start, this.rttSeq)) this.rttStart = -1;
  }

  /** Sends `len` sequence numbers from `start` (data and/or FIN) as one segment. */
  private sendRange(start: number, len: number, retransmit: boolean): void {
    const off = seqDiff(start, this.sndUna);
    const dataAvail = this.sendBuf.length - off;
    let dataLen = Math.min(len, Math.max(0, dataAvail));
    let flags = ACK;
    if (this.finQueued && seqLe(this.finSeq, seqAdd(start, len - 1)) && seqGe(this.finSeq, start)) {
      flags |= FIN;
      dataLen = seqDiff(this.finSeq, start);
    }
    if (dataLen > 0) flags |= PSH;
    if (dataLen === 0 && !(flags & FIN)) return;
    if (retransmit) this.stats.retransmits++;
    this.emit(start, flags, this.rcvNxt, this.windowField(), this.sackOptions(), off, dataLen);
    this.ackSent();
    const end = seqAdd(start, dataLen + (flags & FIN ? 1 : 0));
    if (seqGt(end, this.sndMax)) this.sndMax = end;
    if (this.rtoAt === 0) this.rtoAt = this.now() + this.rtt.current();
  }

  /** In-order and out-of-order data (RFC 9293 seventh step). */
  private receiveData(buf: Uint8Array, off: number, len: number, seq: number, fin: boolean): void {
    if (seq === this.rcvNxt) {
      if (fin) this.rcvFinSeq = seqAdd(seq, len);
      const data = copyBytes(buf, off, off + len);
      this.deliver(data);
      this.rcvNxt = seqAdd(this.rcvNxt, len);
      let filled = false;
      if (!this.ooo.empty) {
        for (const d of this.ooo.take(this.rcvNxt)) {
          this.deliver(d);
          this.rcvNxt = seqAdd(this.rcvNxt, d.length);
          filled = true;
        }
      }
      if (this.rcvFinSeq >= 0 && this.rcvFinSeq === this.rcvNxt) {
        this.receiveFin();
        return;
      }
      // RFC 5681 §4.2: ACK at least every second full-sized segment; at once when a gap filled.
      this.segsSinceAck++;
      if (filled || this.segsSinceAck >= 2 || !this.ooo.empty) this.ackPending = true;
      else if (this.delAckAt === 0) this.delAckAt = this.now() + this.owner.config.delayedAckMs;
      if (this.ackPending) this.delAckAt = 0;
      return;
    }
    // Out of order: keep it, ACK immediately with SACK (RFC 5681 §4.2, RFC 2018).
    this.stats.outOfOrder++;
    this.ooo.insert(seq, buf.subarray(off, off + len));
    if (fin && this.rcvFinSeq < 0) this.rcvFinSeq = seqAdd(seq, len);
    this.sendAck();
  }

  private deliver(data: Uint8Array): void {
    this.stats.bytesReceived += data.length;
    if (this.orphaned || this.finReceived) return;
    this.undelivered += data.length;
    this.evData.push(data);
    this.queueFlush();
  }

  private receiveFin(): void {
    if (this.finReceived) {
      this.sendAck();
      return;
    }
    this.finReceived = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.evEnd = true;
    this.queueFlush();
    switch (this.state) {
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
        this.state = TcpState.CLOSE_WAIT;
        break;
      case TcpState.FIN_WAIT_1:
        this.state = TcpState.CLOSING;
        break;
      case TcpState.FIN_WAIT_2:
        this.enterTimeWait();
        break;
      default:
        break;
    }
    this.sendAck();
  }

  private enterTimeWait(): void {
    this.state = TcpState.TIME_WAIT;
    this.rtoAt = 0;
    this.persistAt = 0;
    this.keepAliveAt = 0;
    this.delAckAt = 0;
    this.timeWaitAt = this.now() + this.owner.config.timeWaitMs;
    this.sendBuf.clear();
    this.ooo.clear();
    this.notifyClosed();
  }

  // -------------------------------------------------------------------------------------------
  // Output

  /** Sends what the windows allow (new data and FIN), with Nagle (RFC 896) unless noDelay. */
  output(): void {
    const st = this.state;
    if (
      st !== TcpState.ESTABLISHED &&
      st !== TcpState.CLOSE_WAIT &&
      st !== TcpState.FIN_WAIT_1 &&
      st !== TcpState.CLOSING &&
      st !== TcpState.LAST_ACK
    )
      return;
    const mss = this.mss;
    for (;;) {
      const off = seqDiff(this.sndNxt, this.sndUna);
      const unsent = this.sendBuf.length - off;
      const flight = seqDiff(this.sndNxt, this.sndUna);
      const wnd = Math.min(this.cc.cwnd + this.limitedTransmit, this.sndWnd);
      const usable = wnd - flight;
      let len = Math.min(mss, unsent, usable);
      const resend = seqLt(this.sndNxt, this.sndMax);
      if (len > 0 && resend && this.sackOk && !this.scoreboard.empty) {
        // Going back after a timeout: skip what the receiver already holds.
        const end = this.scoreboard.sackedEnd(this.sndNxt);
        if (end !== undefined) {
          this.sndNxt = end;
          continue;
        }
        const next = this.scoreboard.nextSackedStart(this.sndNxt);
        if (next !== undefined && seqDiff(next, this.sndNxt) < len) len = seqDiff(next, this.sndNxt);
      }
      if (unsent > 0 && len <= 0) {
        if (this.sndWnd === 0 && flight === 0 && this.persistAt === 0 && this.rtoAt === 0)
          this.startPersist();
        break;
      }
      if (len > 0) {
        // Sender SWS avoidance + Nagle (RFC 9293 §3.8.6.2.1).
        const finNext = this.finQueued && len === unsent;
        if (len < mss && !finNext && !resend) {
          const idle = this.sndMax === this.sndUna || flight === 0;
          const allQueued = len === unsent;
          if (!((this.noDelay || idle) && allQueued) && len < this.maxSndWnd / 2 && !this.forceSend) {
            // Nothing in flight will bring an ACK: the persist timer doubles as the SWS
            // override timer (RFC 9293 §3.8.6.2.1) and sends what the window allows.
            if (flight === 0 && this.persistAt === 0) this.startPersist();
            break;
          }
        }
        this.forceSend = false;
        const retransmit = resend;
        if (!retransmit && this.rttStart < 0) {
          this.rttSeq = this.sndNxt;
          this.rttStart = this.now();
        }
        // Attach FIN when this segment carries the last byte.
        this.sendRange(this.sndNxt, len + (finNext ? 1 : 0), retransmit);
        this.sndNxt = seqAdd(this.sndNxt, len + (finNext ? 1 : 0));
        if (finNext) this.finSent();
        continue;
      }
      // No data left: a bare FIN?
      if (this.finQueued && this.sndNxt === this.finSeq) {
        this.sendRange(this.sndNxt, 1, seqLt(this.sndNxt, this.sndMax));
        this.sndNxt = seqAdd(this.sndNxt, 1);
        this.finSent();
      }
      break;
    }
    this.arm();
  }

  private finSent(): void {
    if (this.state === TcpState.ESTABLISHED) this.state = TcpState.FIN_WAIT_1;
    else if (this.state === TcpState.CLOSE_WAIT) this.state = TcpState.LAST_ACK;
  }

  private sackOptions(): TxOptions | undefined {
    if (!this.sackOk || this.ooo.empty) return undefined;
    return { sack: this.ooo.sackBlocks(MAX_SACK_BLOCKS) };
  }

  /** Sends a pure ACK now. */
  sendAck(): void {
    if (this.state === TcpState.CLOSED || this.state === TcpState.SYN_SENT) return;
    // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back, but the peer may already hold
    // everything up to SND.MAX and would find a lower sequence number unacceptable.
    const wnd = this.windowField();
    const sack = this.sackOptions();
    // Clear the ACK state before emitting: when called from idle work the peer's answer is
    // processed inside emit() and may need an ACK of its own.
    this.ackSent();
    this.emit(this.sndMax, ACK, this.rcvNxt, wnd, sack, 0, 0);
  }

  private ackSent(): void {
    this.ackPending = false;
    this.segsSinceAck = 0;
    this.delAckAt = 0;
  }

  private flushAck(): void {
    if (this.ackPending) this.sendAck();
  }

  /**
   * Builds and emits one segment: `dataLen` bytes from the send buffer at `bufOff` (offset from
   * SND.UNA).
   */
  private emit(
    seq: number,
    flags: number,
    ack: number,
    window: number,
    o: TxOptions | undefined,
    bufOff: number,
    dataLen: number,
  ): void {
    const ip = this.owner.ip;
    const hl = TCP_HEADER_LEN + tcpOptionsLen(o);
    const l4Len = hl + dataLen;
    // Every byte is written below (headers, options, payload): no zero fill needed.
    const pkt = ip.allocPacket(this.family, 6, this.localAddr, this.remoteAddr, l4Len, true);
    const t = ipHeaderLen(this.family);
    writeTcpHeader(pkt, t, this.localPort, this.remotePort, seq, ack, flags, window, o);
    if (dataLen > 0) this.sendBuf.copyOut(bufOff, dataLen, pkt, t + hl);
    const ps = this.family === 4 ? pseudoHeaderSum4(pkt, 0, 6, l4Len) : pseudoHeaderSum6(pkt, 0, 6, l4Len);
    const ck = finishChecksum(onesSum(pkt, t, l4Len, ps));
    pkt[t + TCP_CHECKSUM_OFF] = ck >>> 8;
    pkt[t + TCP_CHECKSUM_OFF + 1] = ck & 0xff;
    this.stats.segmentsSent++;
    this.stats.bytesSent += dataLen;
    this.owner.countSegmentOut();
    ip.output(pkt);
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  private startPersist(): void {
    const d = Math.min(
      this.owner.config.maxRtoMs,
      Math.max(this.rtt.current(), 200) * 2 ** this.persistBackoff,
    );
    this.persistAt = this.now() + d;
  }

  /** (Re)schedules the single wakeup at the earliest deadline. */
  arm(): void {
    if (this.state === TcpState.CLOSED) {
      this.wakeup?.cancel();
      this.wakeup = undefined;
      return;
    }
    if (this.keepAlive && (this.state === TcpState.ESTABLISHED || this.state === TcpState.CLOSE_WAIT)) {
      this.keepAliveAt =
        this.lastRecv + this.keepAliveIdleMs + this.keepAliveSent * this.owner.config.keepAliveIntervalMs;
    } else {
      this.keepAliveAt = 0;
    }
    this.idleAt = this.idleTimeoutMs > 0 && this.onIdle ? this.lastActivity + this.idleTimeoutMs : 0;
    let at = earliest(0, this.rtoAt);
    at = earliest(at, this.delAckAt);
    at = earliest(at, this.persistAt);
    at = earliest(at, this.keepAliveAt);
    at = earliest(at, this.timeWaitAt);
    at = earliest(at, this.idleAt);
    if (at === 0) {
      this.wakeup?.cancel();
      this.wakeup = undefined;
      return;
    }
    if (this.wakeup && this.wakeup.at <= at) return; // fires early and re-arms
    this.wakeup?.cancel();
    this.wakeup = this.owner.ip.scheduler.schedule(at, () => this.onWakeup());
  }

  private onWakeup(): void {
    this.wakeup = undefined;
    const ip = this.owner.ip;
    ip.enter();
    try {
      this.onTimers();
      this.arm();
    } finally {
      ip.leave();
    }
  }

  private onTimers(): void {
    const now = this.now();
    if (this.timeWaitAt > 0 && now >= this.timeWaitAt) {
      this.timeWaitAt = 0;
      this.toClosed();
      return;
    }
    if (this.delAckAt > 0 && now >= this.delAckAt) {
      this.delAckAt = 0;
      this.sendAck();
    }
    if (this.rtoAt > 0 && now >= this.rtoAt) {
      this.rtoAt = 0;
      this.onRetransmitTimeout();
      if (this.state === TcpState.CLOSED) return;
    }
    if (this.persistAt > 0 && now >= this.persistAt) {
      this.persistAt = 0;
      this.onPersist();
    }
    if (this.keepAliveAt > 0 && now >= this.keepAliveAt) {
      if (this.keepAliveSent >= this.owner.config.keepAliveProbes) {
        this.fail('ETIMEDOUT', 'read');
        return;
      }
      this.keepAliveSent++;
      this.stats.keepAliveProbes++;
      // RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT − 1, no data.
      this.emit(seqAdd(this.sndMax, -1), ACK, this.rcvNxt, this.windowField(), undefined, 0, 0);
    }
    if (this.idleAt > 0 && now >= this.idleAt) {
      this.lastActivity = now;
      const cb = this.onIdle;
      if (cb) this.owner.ip.defer({ flushEvents: cb });
    }
  }

  private onRetransmitTimeout(): void {
    this.stats.timeouts++;
    const cfg = this.owner.config;
    this.retries++;
    if (this.state === TcpState.SYN_SENT || this.state === TcpState.SYN_RECEIVED) {
      if (this.retries > cfg.synRetries) {
        if (this.state === TcpState.SYN_RECEIVED && this.listener) this.toClosed();
        else this.fail('ETIMEDOUT', 'connect');
        return;
      }
      this.rtt.backOff();
      this.rttStart = -1;
      this.stats.retransmits++;
      if (this.state === TcpState.SYN_SENT) this.sendSyn(false);
      else this.sendSyn(true);
      this.rtoAt = this.now() + this.rtt.current();
      return;
    }
    if (this.retries > cfg.maxRetransmits) {
      this.fail('ETIMEDOUT', 'read');
      return;
    }
    if (this.sndUna === this.sndMax) return;
    // RFC 6298 §5.4–5.6 and RFC 5681 §3.1: back off, collapse the window, go back to SND.UNA.
    this.cc.onTimeout(seqDiff(this.sndMax, this.sndUna), this.sndMax);
    this.limitedTransmit = 0;
    this.rtt.backOff();
    this.rttStart = -1;
    this.dupAcks = 0;
    // Keep what the receiver SACKed (as Linux does) so going back to SND.UNA resends only the
    // holes; after a second consecutive timeout assume it reneged and forget it (RFC 2018 §8).
    if (this.retries >= 2) this.scoreboard.clear();
    this.sndNxt = this.sndUna;
    this.rexmitNxt = this.sndUna;
    if (this.sndWnd === 0) {
      // Zero window: probe instead of retransmitting the window.
      this.onPersist();
      return;
    }
    const len = Math.min(this.mss, seqDiff(this.sndMax, this.sndUna));
    this.sendRange(this.sndUna, len, true);
    this.sndNxt = seqAdd(this.sndUna, len);
    this.rtoAt = this.now() + this.rtt.current();
  }

  /** Zero-window probe: one byte beyond the window (RFC 9293 §3.8.6.1). */
  private onPersist(): void {
    if (this.sndWnd > 0) {
      this.persistBackoff = 0;
      this.forceSend = true;
      this.output();
      this.forceSend = false;
      return;
    }
    const unsentOrFlight = this.sendBuf.length > 0 || (this.finQueued && seqLe(this.sndNxt, this.finSeq));
    if (!unsentOrFlight) return;
    this.stats.windowProbes++;
    if (this.sendBuf.length > 0) {
      this.emit(this.sndUna, ACK, this.rcvNxt, this.windowField(), undefined, 0, 1);
      if (this.sndNxt === this.sndUna) this.sndNxt = seqAdd(this.sndUna, 1);
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    } else {
      this.sendRange(this.finSeq, 1, false);
    }
    this.persistBackoff = Math.min(this.persistBackoff + 1, 10);
    this.startPersist();
  }

  // -------------------------------------------------------------------------------------------
  // Closing and events

  /** Fails the connection with a Node-style error (`code`), without sending anything. */
  failWith(code: string, syscall: string): void {
    if (this.closed) return;
    this.fail(code, syscall);
  }

  private fail(code: string, syscall: string): void {
    const err = new SocketError(code, syscall, this.remoteText, this.remotePort);
    this.evError = err;
    this.toClosed();
  }

  /** Moves to CLOSED, cancels timers and removes the connection from the host's table. */
  toClosed(): void {
    if (this.state === TcpState.CLOSED) return;
    if (this.state === TcpState.SYN_RECEIVED && this.listener) this.listener.halfOpen--;
    this.state = TcpState.CLOSED;
    this.rtoAt = this.delAckAt = this.persistAt = this.keepAliveAt = this.timeWaitAt = this.idleAt = 0;
    this.wakeup?.cancel();
    this.wakeup = undefined;
    this.sendBuf.clear();
    this.ooo.clear();
    this.owner.remove(this);
    this.notifyClosed();
  }

  private notifyClosed(): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.evClose = true;
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.queuedForFlush || this.orphaned || !this.user) return;
    this.queuedForFlush = true;
    this.owner.ip.defer(this);
  }

  /** Delivers pending events to the socket. Called by the host outside segment processing. */
  flushEvents(): void {
    this.queuedForFlush = false;
    const u = this.user;
    if (!u || this.orphaned) return;
    if (this.evConnect) {
      this.evConnect = false;
      u.onConnect();
    }
    if (this.evData.length > 0) {
      const data = this.evData;
      this.evData = [];
      for (const d of data) {
        this.undelivered -= d.length;
        u.onData(d);
      }
    }
    if (this.evEnd && !this.evError) {
      this.evEnd = false;
      u.onEnd();
    }
    if (this.evWritable) {
      this.evWritable = false;
      u.onWritable();
    }
    if (this.evError) {
      const e = this.evError;
      this.evError = undefined;
      this.evClose = false;
      u.onError(e);
      return;
    }
    if (this.evClose) {
      this.evClose = false;
      u.onClose();
    }
  }

  /** Whether received data is waiting to be handed to the socket. */
  get hasUndelivered(): boolean {
    return this.undelivered > 0;
  }

  /**
   * The socket is gone: drop pending events, stop counting its unread bytes against the
   * window, and finish whatever close is in progress alone.
   */
  orphan(): void {
    this.orphaned = true;
    this.evData = [];
    this.undelivered = 0;
    this.unread = () => 0;
  }

  /** Connection registers a user after a listener accepted it (events queued meanwhile flush now). */
  attach(user: ConnectionUser): void {
    this.user = user;
    if (
      this.evConnect ||
      this.evData.length > 0 ||
      this.evEnd ||
      this.evError ||
      this.evClose ||
      this.evWritable
    ) {
      this.queueFlush();
    }
  }
}

function earliest(at: number, t: number): number {
  return t > 0 && (at === 0 || t < at) ? t : at;
}
