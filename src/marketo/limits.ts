/**
 * Marketo's call limits as data for the engine's traffic control (src/engine/traffic.ts), and how a
 * Marketo response maps to a traffic {@link CallOutcome}. Facts: shared spec marketo-api.md §3.1 (codes),
 * §3.3 (retry policy of maintained clients), §4 (limits).
 *
 * Wiring: `new TrafficController({ ...marketoTrafficOptions(), observer })`, then per instance
 * `configure(instanceKey, {rateMax, dailyQuota, …})` for customers who bought more.
 */
import type {
  BackoffPolicy,
  CallOutcome,
  InstanceLimits,
  LimitHitPause,
  QuotaDay,
} from '../engine/traffic.ts';
import { classifyEnvelope } from './envelope.ts';

/** Marketo's documented limits per instance (subscription), shared by every API user of it (spec §4). */
export const MARKETO_LIMITS = {
  /** 606 above this many calls in a rolling window. */
  rateMax: 100,
  rateWindowMs: 20_000,
  /** 615 above this many calls in flight. */
  maxInFlight: 10,
  /** 607 above this many calls per day: the typical default, purchasable higher. */
  dailyQuota: 50_000,
  /** The daily quota resets at midnight in this zone. */
  quotaTimeZone: 'America/Chicago',
} as const;

/** Tether's share of an instance's daily quota: the customer's other tools share the rest. */
export const TETHER_QUOTA_SHARE = 0.8;

/**
 * Margin added to the rolling window when granting. A call is counted by Marketo when it arrives, not
 * when we grant it; two calls `rateWindowMs + skew` apart can only look closer than `rateWindowMs` to
 * Marketo if the older one took `skew` longer to arrive. 500 ms covers a cold TLS connection and keeps
 * 100 / 20.5 s = 97.6 % of the allowed rate.
 */
export const MARKETO_WINDOW_SKEW_MS = 500;

/** In-flight slots kept for interactive (proxy) calls; syncs get the other 8. */
export const MARKETO_INTERACTIVE_RESERVE = 2;

/** Traffic limits of a Marketo instance by default (the engine's `InstanceLimits`). */
export const MARKETO_TRAFFIC_LIMITS: Readonly<InstanceLimits> = {
  rateMax: MARKETO_LIMITS.rateMax,
  rateWindowMs: MARKETO_LIMITS.rateWindowMs,
  windowSkewMs: MARKETO_WINDOW_SKEW_MS,
  maxInFlight: MARKETO_LIMITS.maxInFlight,
  reservedForInteractive: MARKETO_INTERACTIVE_RESERVE,
  dailyQuota: MARKETO_LIMITS.dailyQuota,
  quotaShare: TETHER_QUOTA_SHARE,
};

/**
 * Default daily budget of a connection: 40,000 = 80 % of 50,000. The controller derives it from the
 * instance (`dailyQuota × quotaShare`), so it follows a configured larger quota; `setBudget` overrides.
 */
export const DEFAULT_CONNECTION_BUDGET = Math.floor(MARKETO_LIMITS.dailyQuota * TETHER_QUOTA_SHARE);

/**
 * Retries of transient failures (502/5xx, 604, 608, 611, 614, 713, 719): full jitter, 500 ms doubling to
 * 8 s, 3 retries for reads; writes only as many as the caller asks. 606/615: up to 10 (the wait is the
 * instance pause, not a sleep).
 */
export const MARKETO_BACKOFF: Readonly<BackoffPolicy> = {
  baseMs: 500,
  maxMs: 8_000,
  maxRetries: 3,
  maxRetriesCap: 10,
  maxLimitRetries: 10,
};

/**
 * Pauses after a 606/615 that reached us anyway (another tool of the customer used the instance).
 * 606: at least 2 s (doubling per hit in a row, at most a window), and until our oldest call in the
 * window aged out; 615: 500 ms doubling to 5 s.
 */
export const MARKETO_LIMIT_HIT_PAUSE: Readonly<LimitHitPause> = {
  rate: { minMs: 2_000, maxMs: MARKETO_LIMITS.rateWindowMs },
  concurrency: { minMs: 500, maxMs: 5_000 },
};

/** Response-level codes retried with backoff by traffic control (spec §3.1 class R, except bulk queues). */
export const MARKETO_TRANSIENT_CODES: ReadonlySet<string> = new Set([
  '500',
  '502',
  '604',
  '608',
  '611',
  '614',
  '713',
  '719',
]);

// ---------------------------------------------------------------------------------------------------
// The quota day: midnight America/Chicago

const chicagoParts = new Intl.DateTimeFormat('en-US', {
  timeZone: MARKETO_LIMITS.quotaTimeZone,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

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
  const sinceMidnight = ((f.h * 60 + f.mi) * 60 + f.s) * 1000 + (((ms % 1000) + 1000) % 1000);
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

/** Marketo's quota day for the engine. */
export const MARKETO_QUOTA_DAY: QuotaDay = { dayOf: chicagoDay, nextStart: nextChicagoMidnight };

/** Options for `new TrafficController(...)` with Marketo's limits (add `now`, `observer`…). */
export function marketoTrafficOptions(): {
  defaults: InstanceLimits;
  day: QuotaDay;
  backoff: BackoffPolicy;
  limitHitPause: LimitHitPause;
} {
  return {
    defaults: { ...MARKETO_TRAFFIC_LIMITS },
    day: MARKETO_QUOTA_DAY,
    backoff: { ...MARKETO_BACKOFF },
    limitHitPause: {
      rate: { ...MARKETO_LIMIT_HIT_PAUSE.rate },
      concurrency: { ...MARKETO_LIMIT_HIT_PAUSE.concurrency },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Responses → traffic outcomes

/**
 * What a Marketo response means for traffic control. `body` is the parsed JSON body, `undefined` when
 * the response is not JSON (bulk files, CSV). Reuses {@link classifyEnvelope}:
 *  - 5xx → `transient` (`http_<status>`); 401 → `auth`; 429 → `rate_limited`; other 4xx → `fail`;
 *  - 606 → `rate_limited`; 615 → `concurrency_limited` (the call did not run);
 *  - 607 → `quota_spent` until the next midnight America/Chicago;
 *  - 500/502/604/608/611/614/713/719 → `transient`;
 *  - 600/601/602 → `auth` (the token manager refreshes);
 *  - 1029 "Export daily quota" is the bulk export volume, not the call quota: `fail` (never blocks the
 *    instance), as are the bulk queue codes (1016/1019/1022/1029), whose waits (10–60 s) are the bulk
 *    caller's business, and every other code;
 *  - a 2xx JSON body that is not an envelope → `ok`.
 */
export function marketoCallOutcome(
  res: { status: number; body?: unknown },
  now: number = Date.now(),
): CallOutcome {
  const { status } = res;
  if (status >= 500) return { kind: 'transient', code: `http_${status}` };
  if (status === 401) return { kind: 'auth', code: 'http_401' };
  if (status === 429) return { kind: 'rate_limited', code: 'http_429' };
  if (status >= 400) return { kind: 'fail', code: `http_${status}` };
  if (res.body === undefined) return { kind: 'ok' };
  const c = classifyEnvelope(res.body);
  switch (c.kind) {
    case 'ok':
      return { kind: 'ok' };
    case 'refresh_token':
      return { kind: 'auth', code: c.code };
    case 'quota_spent':
      return c.code === '607'
        ? { kind: 'quota_spent', code: c.code, resetAt: nextChicagoMidnight(now) }
        : { kind: 'fail', code: c.code };
    case 'back_off':
      if (c.code === '606') return { kind: 'rate_limited', code: c.code };
      if (c.code === '615') return { kind: 'concurrency_limited', code: c.code };
      return MARKETO_TRANSIENT_CODES.has(c.code)
        ? { kind: 'transient', code: c.code }
        : { kind: 'fail', code: c.code };
    case 'fail':
      return c.code === 'invalid_envelope' ? { kind: 'ok' } : { kind: 'fail', code: c.code };
  }
}

/**
 * Whether a JSON answer is `ok` for {@link marketoCallOutcome} without parsing it: below 400, only an
 * envelope with `"success": false` reads otherwise, and that needs the bytes `false` somewhere in the
 * body (JSON has no other way to write false, nor to escape its letters). A scan is ~10× cheaper
 * than `JSON.parse` for a lead read.
 */
export function marketoOkWithoutParse(status: number, body: Buffer): boolean {
  return status < 400 && body.indexOf('false') === -1;
}
