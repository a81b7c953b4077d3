import type { Clock } from '../model.ts';
import { chicagoDay, nextChicagoMidnight } from '../../marketo/limits.ts';

/**
 * An instance's clock: real time plus an offset that only grows. Tests move it forward to cross
 * midnight America/Chicago (quota reset) or a token's lifetime without waiting.
 */
export class InstanceClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('the clock only moves forward');
    this.offsetMs += ms;
  }

  get offset(): number {
    return this.offsetMs;
  }
}

// Marketo's quota day is a Marketo fact shared with Tether's traffic control: one implementation.
export { chicagoDay, nextChicagoMidnight };

let cachedDay = { from: Infinity, until: -Infinity, day: '' };

/**
 * `chicagoDay` for hot paths (every API call is counted per day): Intl formatting is the costliest
 * step of a simple read, so keep the answer until the day it names ends.
 */
export function chicagoDayCached(ms: number): string {
  if (ms < cachedDay.from || ms >= cachedDay.until) {
    const until = nextChicagoMidnight(ms);
    // The day started at most 25 hours before its end (DST); recomputing early is harmless.
    cachedDay = { from: Math.max(ms, until - 23 * 3600_000), until, day: chicagoDay(ms) };
  }
  return cachedDay.day;
}
