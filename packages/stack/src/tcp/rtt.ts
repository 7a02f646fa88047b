/**
 * The retransmission timer computation of RFC 6298: SRTT / RTTVAR smoothing, RTO = SRTT +
 * max(G, 4·RTTVAR), clamped to [minRto, maxRto], with exponential back-off.
 */

/** RFC 6298 §2.1: the initial RTO before any measurement. */
export const INITIAL_RTO_MS = 1000;

/** RTT estimator and RTO of one connection. */
export class RttEstimator {
  /** Smoothed RTT in ms, or -1 before the first sample. */
  srtt = -1;
  rttvar = 0;
  /** Current RTO (ms), before back-off. */
  rto = INITIAL_RTO_MS;
  /** Back-off exponent: the timer runs for `rto · 2^backoff`. */
  backoff = 0;

  constructor(
    private readonly minRto: number,
    private readonly maxRto: number,
    /** Clock granularity G (ms). */
    private readonly granularity = 1,
  ) {}

  /** Takes one RTT sample (ms), per RFC 6298 §2.2–2.3, and clears the back-off (§5.7). */
  sample(r: number): void {
    if (this.srtt < 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(
      this.maxRto,
      Math.max(this.minRto, this.srtt + Math.max(this.granularity, 4 * this.rttvar)),
    );
    this.backoff = 0;
  }

  /** The timer duration now (RTO with back-off, clamped to maxRto). */
  current(): number {
    return Math.min(this.maxRto, this.rto * 2 ** this.backoff);
  }

  /** RFC 6298 §5.5: doubles the timer after an expiry. */
  backOff(): void {
    if (this.rto * 2 ** this.backoff < this.maxRto) this.backoff++;
  }
}
