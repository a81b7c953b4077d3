import { MarketoError } from '../core/envelope.ts';
import type { Params } from '../core/route.ts';

/** Query parsing shared by the asset and campaign endpoints. */

export const NO_ASSETS = 'No assets found for the given search criteria.';

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parse the datetimes Marketo accepts (`2024-01-31`, `2024-01-31T10:00:00Z`, `…-08:00`, `…+0800`,
 * and its own `…Z+0000`). Undefined when the text is not a valid datetime. A missing zone means UTC.
 */
export function parseDateTime(text: string): number | undefined {
  const t = text.trim().replace(/Z\+0000$/, 'Z');
  const m = DATE_RE.exec(t);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  const z = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${frac.slice(0, 4)}${z}`);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse rolls 2024-02-31 over to March; Marketo refuses such dates.
  if (new Date(ms + offsetMs(z)).getUTCDate() !== day) return undefined;
  return ms;
}

function offsetMs(zone: string): number {
  if (zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
}

/** A date parameter, or 704 when present but unreadable. */
export function dateParam(query: Params, key: string): number | undefined {
  const v = query.get(key);
  if (v === undefined || v.trim() === '') return undefined;
  const ms = parseDateTime(v);
  if (ms === undefined) throw new MarketoError('704', 'Invalid date format');
  return ms;
}

/** The inclusive `[earliestUpdatedAt, latestUpdatedAt]` window of the asset browse endpoints. */
export function updatedWindow(query: Params): (updatedAt: number) => boolean {
  const from = dateParam(query, 'earliestUpdatedAt');
  const to = dateParam(query, 'latestUpdatedAt');
  return (t) => (from === undefined || t >= from) && (to === undefined || t <= to);
}

/** Asset browse paging: `offset` (default 0) and `maxReturn` (default 20, at most 200). */
export function assetPage(query: Params): { offset: number; maxReturn: number } {
  const maxReturn = query.int('maxReturn') ?? 20;
  if (maxReturn < 1 || maxReturn > 200) {
    throw new MarketoError('1003', `Invalid value '${maxReturn}' for 'maxReturn': must be between 1 and 200`);
  }
  const offset = query.int('offset') ?? 0;
  if (offset < 0) throw new MarketoError('1003', `Invalid value '${offset}' for 'offset'`);
  return { offset, maxReturn };
}

/** A boolean parameter (`true`/`false`, any case); 1003 for anything else. */
export function boolParam(query: Params, key: string): boolean | undefined {
  const v = query.get(key);
  if (v === undefined || v === '') return undefined;
  const l = v.trim().toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  throw new MarketoError('1003', `Invalid value '${v}' for '${key}'`);
}

/** A positive integer path segment, or undefined (callers answer "not found" their own way). */
export function idSegment(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}
