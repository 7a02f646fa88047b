/**
 * Congestion control: slow start and congestion avoidance (RFC 5681) with NewReno fast recovery
 * (RFC 6582), counting bytes acknowledged (RFC 3465, L = 2·SMSS). Recovery retransmissions are
 * chosen by the connection (SACK holes, RFC 6675 style, or SND.UNA for plain NewReno).
 */

/** Initial window (RFC 6928): min(10·MSS, max(2·MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/** NewReno state of one connection. All sizes in bytes. */
export class NewReno {
  cwnd: number;
  ssthresh = 0x7fffffff;
  /** In fast recovery; `recover` is the highest sequence sent when it started. */
  inRecovery = false;
  recover = 0;
  /** Bytes acked towards the next congestion-avoidance increment. */
  private acked = 0;

  constructor(public mss: number) {
    this.cwnd = initialWindow(mss);
  }

  /** New data acknowledged outside recovery (RFC 5681 §3.1, RFC 3465). */
  onAck(bytes: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(bytes, 2 * this.mss);
    } else {
      this.acked += bytes;
      if (this.acked >= this.cwnd) {
        this.acked -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
  }

  /** Third duplicate ACK: RFC 6582 §3.2 step 2. `flight` is the data outstanding. */
  enterRecovery(flight: number, highest: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.ssthresh + 3 * this.mss;
    this.inRecovery = true;
    this.recover = highest;
  }

  /** A further duplicate ACK during recovery inflates the window (step 3). */
  onDupAckInRecovery(): void {
    this.cwnd += this.mss;
  }

  /** Partial ACK (step 5): deflate by the amount acked, add back one MSS if ≥ MSS acked. */
  onPartialAck(bytes: number): void {
    this.cwnd = Math.max(this.mss, this.cwnd - bytes + (bytes >= this.mss ? this.mss : 0));
  }

  /** Full ACK (step 4, option 1 of §3.2): cwnd = min(ssthresh, flight + MSS). */
  exitRecovery(flight: number): void {
    this.cwnd = Math.min(this.ssthresh, Math.max(flight, 0) + this.mss);
    this.inRecovery = false;
    this.acked = 0;
  }

  /** Retransmission timeout (RFC 5681 §3.1 eq. 4): ssthresh from flight, cwnd = 1 MSS. */
  onTimeout(flight: number, highest: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.inRecovery = false;
    this.recover = highest;
    this.acked = 0;
  }

  /** RFC 7661-lite: an idle connection restarts from the initial window (RFC 5681 §4.1). */
  restartAfterIdle(): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(this.mss));
  }
}
