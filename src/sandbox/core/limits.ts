import type { Limits } from './config.ts';
import { nextChicagoMidnight } from './clock.ts';

/**
 * Marketo's three call limits for one instance (spec section 4): a rolling window of calls (606),
 * calls in flight (615) and the daily quota that resets at midnight America/Chicago (607).
 */
export class CallLimiter {
  /** Acceptance times of the last `rate.max` calls, oldest at `head` once full. */
  private ring: Float64Array;
  private head = 0;
  private filled = 0;
  inFlight = 0;
  peakInFlight = 0;
  callsToday = 0;
  private resetAt: number;

  constructor(
    private readonly limits: Limits,
    now: number,
  ) {
    this.ring = new Float64Array(limits.rate.max);
    this.resetAt = nextChicagoMidnight(now);
  }

  /** Re-size the window after the rate limit changed. */
  reconfigure(): void {
    if (this.ring.length !== this.limits.rate.max) {
      this.ring = new Float64Array(this.limits.rate.max);
      this.head = 0;
      this.filled = 0;
    }
  }

  /** Roll the daily counter over when the instance clock passed midnight Central. */
  private roll(now: number): void {
    if (now >= this.resetAt) {
      this.callsToday = 0;
      this.resetAt = nextChicagoMidnight(now);
    }
  }

  /** When the daily quota resets next (epoch ms). */
  quotaResetAt(now: number): number {
    this.roll(now);
    return this.resetAt;
  }

  /**
   * Admit a call or name the code that refuses it. An admitted call counts against all three
   * limits and must be released with {@link release} when its response ends.
   */
  admit(now: number): '606' | '607' | '615' | null {
    this.roll(now);
    const { rate, concurrency, daily } = this.limits;
    if (daily.enabled && this.callsToday >= daily.quota) return '607';
    if (rate.enabled && this.filled === this.ring.length && now - this.ring[this.head]! < rate.windowMs) {
      return '606';
    }
    if (concurrency.enabled && this.inFlight >= concurrency.max) return '615';
    this.ring[this.head] = now;
    this.head = (this.head + 1) % this.ring.length;
    if (this.filled < this.ring.length) this.filled++;
    this.callsToday++;
    this.inFlight++;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    return null;
  }

  release(): void {
    this.inFlight--;
  }

  /** Calls accepted in the current rolling window. */
  callsInWindow(now: number): number {
    let n = 0;
    for (let i = 0; i < this.filled; i++) if (now - this.ring[i]! < this.limits.rate.windowMs) n++;
    return n;
  }
}
