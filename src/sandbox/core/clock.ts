import type { Clock } from '../model.ts';

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

const chicagoParts = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Chicago',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** Wall-clock fields of an instant in America/Chicago. */
function chicagoFields(ms: number): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  const get: Record<string, number> = {};
  for (const p of chicagoParts.formatToParts(new Date(ms))) {
    if (p.type !== 'literal') get[p.type] = Number(p.value);
  }
  return { y: get.year!, m: get.month!, d: get.day!, h: get.hour!, mi: get.minute!, s: get.second! };
}

/** The calendar day in America/Chicago, `YYYY-MM-DD`: Marketo's quota and statistics day. */
export function chicagoDay(ms: number): string {
  const f = chicagoFields(ms);
  return `${f.y}-${String(f.m).padStart(2, '0')}-${String(f.d).padStart(2, '0')}`;
}

/** The first instant after `ms` at which the America/Chicago date changes (the daily quota reset). */
export function nextChicagoMidnight(ms: number): number {
  const f = chicagoFields(ms);
  const sinceMidnight = ((f.h * 60 + f.mi) * 60 + f.s) * 1000 + (ms % 1000);
  // Days are 23 to 25 hours long around DST changes; start from a 24 h guess and correct.
  let guess = ms - sinceMidnight + 24 * 3600_000;
  for (let i = 0; i < 3; i++) {
    const g = chicagoFields(guess);
    const off = ((g.h * 60 + g.mi) * 60 + g.s) * 1000;
    if (off === 0) break;
    guess += off > 12 * 3600_000 ? 24 * 3600_000 - off : -off;
  }
  return guess;
}

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
