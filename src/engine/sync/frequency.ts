/**
 * Sync frequencies as Nango writes them (`runs` in nango.yaml, `frequency` of
 * `PUT /sync/update-connection-frequency`): `every 30m`, `every 2 hours`, `every day`, `every half hour`…
 * The `every ` prefix is optional; a number with a unit (ms, s, m, h, d, w, y and their long forms), or
 * one of Nango's named intervals. At least {@link MIN_FREQUENCY_SECONDS}.
 */

export const MIN_FREQUENCY_SECONDS = 30;
/** One year: longer intervals are certainly a mistake. */
export const MAX_FREQUENCY_SECONDS = 366 * 86_400;

const NAMED: Record<string, number> = {
  'half day': 43_200,
  'half hour': 1_800,
  'quarter hour': 900,
  hour: 3_600,
  day: 86_400,
  week: 604_800,
  month: 30 * 86_400,
  minute: 60,
};

const UNITS: Record<string, number> = {
  ms: 0.001,
  msec: 0.001,
  msecs: 0.001,
  millisecond: 0.001,
  milliseconds: 0.001,
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3_600,
  hr: 3_600,
  hrs: 3_600,
  hour: 3_600,
  hours: 3_600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
  y: 31_557_600,
  yr: 31_557_600,
  yrs: 31_557_600,
  year: 31_557_600,
  years: 31_557_600,
};

export class FrequencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrequencyError';
  }
}

/** `{text: 'every 30m', seconds: 1800}`; throws {@link FrequencyError} for anything else. */
export function parseFrequency(input: string): { text: string; seconds: number } {
  const raw = input.trim().toLowerCase().replace(/\s+/g, ' ');
  const body = raw.startsWith('every ') ? raw.slice('every '.length) : raw;
  let seconds: number | undefined = NAMED[body];
  if (seconds === undefined) {
    const m = /^(\d+(?:\.\d+)?) ?([a-z]+)$/.exec(body);
    const unit = m ? UNITS[m[2]!] : undefined;
    if (m && unit !== undefined) seconds = Number(m[1]) * unit;
  }
  if (seconds === undefined || !Number.isFinite(seconds)) {
    throw new FrequencyError(
      `Invalid frequency "${input}": use e.g. "every 30m", "every 2 hours", "every day" or "every half hour".`,
    );
  }
  seconds = Math.round(seconds);
  if (seconds < MIN_FREQUENCY_SECONDS) {
    throw new FrequencyError(
      `Frequency "${input}" is too short: the minimum is ${MIN_FREQUENCY_SECONDS} seconds.`,
    );
  }
  if (seconds > MAX_FREQUENCY_SECONDS) {
    throw new FrequencyError(`Frequency "${input}" is too long: the maximum is one year.`);
  }
  return { text: `every ${body}`, seconds };
}

/** The text of a default frequency: `every 15m`, `every 1h`, `every 1d`, `every 90s`. */
export function formatFrequency(seconds: number): string {
  if (seconds % 86_400 === 0) return `every ${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `every ${seconds / 3_600}h`;
  if (seconds % 60 === 0) return `every ${seconds / 60}m`;
  return `every ${seconds}s`;
}
