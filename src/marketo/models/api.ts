/**
 * Reading Marketo envelopes for the sync models (spec marketo-api.md §3): `result` may be absent,
 * warnings come as strings (asset API) or `{code, message}` (lead DB), error codes are quoted strings.
 * Plus small option, query and date helpers shared by the models. No I/O of its own.
 */
import { classifyEnvelope } from '../envelope.ts';
import { MarketoSyncError, type SyncIO } from './types.ts';

export type MarketoItem = Record<string, unknown>;

export interface Envelope {
  /** `result`, or `[]` when Marketo left it out (nothing matched, caught up, past the end). */
  result: MarketoItem[];
  /** Warning messages, whatever their shape on the wire. */
  warnings: string[];
  nextPageToken?: string;
  moreResult?: boolean;
}

/** The asset API's end-of-data warning (success:true, no `result`). */
export const NO_ASSETS_WARNING = 'No assets found for the given search criteria.';

export function isNoAssetsWarning(warnings: readonly string[]): boolean {
  return warnings.some((w) => /no assets found/i.test(w));
}

/**
 * Check and normalize a parsed body. `success:false` → {@link MarketoSyncError} with the first error's
 * code, unless that code is in `emptyOn` (then: an empty envelope). Not an envelope → 'invalid_envelope'.
 */
export function readEnvelope(body: unknown, path: string, emptyOn: readonly string[] = []): Envelope {
  const c = classifyEnvelope(body);
  if (c.kind !== 'ok') {
    if (emptyOn.includes(c.code)) return { result: [], warnings: [c.message] };
    throw new MarketoSyncError(c.code, c.message, path, c.kind);
  }
  const b = body as Record<string, unknown>;
  const result = Array.isArray(b.result)
    ? b.result.filter((r): r is MarketoItem => typeof r === 'object' && r !== null && !Array.isArray(r))
    : [];
  const warnings: string[] = [];
  if (Array.isArray(b.warnings)) {
    for (const w of b.warnings) {
      if (typeof w === 'string') warnings.push(w);
      else if (typeof w === 'object' && w !== null) {
        const { code, message } = w as { code?: unknown; message?: unknown };
        warnings.push([code, message].filter((x) => x !== undefined && x !== null).join(' '));
      }
    }
  }
  const env: Envelope = { result, warnings };
  if (typeof b.nextPageToken === 'string' && b.nextPageToken !== '') env.nextPageToken = b.nextPageToken;
  if (typeof b.moreResult === 'boolean') env.moreResult = b.moreResult;
  return env;
}

/** One GET through the engine, checked. */
export async function call(
  io: Pick<SyncIO, 'get'>,
  path: string,
  emptyOn: readonly string[] = [],
): Promise<Envelope> {
  return readEnvelope(await io.get(path), path, emptyOn);
}

/** `path?k=v&…`, skipping undefined values; arrays become comma-separated lists (Marketo's list form). */
export function withQuery(
  path: string,
  params: Record<string, string | number | boolean | readonly (string | number)[] | undefined>,
): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    const text = Array.isArray(v) ? v.join(',') : String(v);
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(text)}`);
  }
  if (parts.length === 0) return path;
  return `${path}${path.includes('?') ? '&' : '?'}${parts.join('&')}`;
}

// ---------------------------------------------------------------------------------------------------
// Dates

const MARKETO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z)?\s*([+-]\d{2}:?\d{2})?$/;

/**
 * Epoch ms of a Marketo datetime: lead DB `2024-01-31T10:00:00Z`, older `+0000` offsets, 2014-era
 * `2014-11-13 12:43:04` (UTC), and the asset API's `2015-05-21T22:45:13Z+0000`. Undefined otherwise.
 */
export function parseMarketoDate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = MARKETO_DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', , offset] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (frac) ms += Number(frac.slice(0, 3).padEnd(3, '0'));
  if (offset) {
    const digits = offset.slice(1).replace(':', '');
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
    ms -= (offset.startsWith('-') ? -1 : 1) * minutes * 60_000;
  }
  return Number.isNaN(ms) ? undefined : ms;
}

/** `YYYY-MM-DDTHH:MM:SSZ`: what Marketo's date parameters accept everywhere. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

/** A Marketo datetime rewritten as {@link isoSeconds}; other values unchanged. */
export function normalizeDate(value: unknown): unknown {
  const ms = parseMarketoDate(value);
  return ms === undefined ? value : isoSeconds(ms);
}

// ---------------------------------------------------------------------------------------------------
// Options (per connection, untrusted shapes)

export function intOption(
  options: Record<string, unknown>,
  key: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  const raw = options[key];
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isInteger(n)) return fallback;
  return Math.min(range.max, Math.max(range.min, n));
}

/** A list of positive integers from `[1, 2]`, `"1,2"` or `"1 2"`; undefined when absent or empty. */
export function intListOption(options: Record<string, unknown>, key: string): number[] | undefined {
  const raw = options[key];
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[\s,]+/) : [];
  const out: number[] = [];
  for (const item of items) {
    const n = typeof item === 'number' ? item : typeof item === 'string' && item !== '' ? Number(item) : NaN;
    if (Number.isInteger(n) && n > 0 && !out.includes(n)) out.push(n);
  }
  return out.length > 0 ? out : undefined;
}

/** An instant option (ISO-8601 string or epoch ms); undefined when absent or unreadable. */
export function dateOption(options: Record<string, unknown>, key: string): number | undefined {
  const raw = options[key];
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  const ms = Date.parse(raw);
  return Number.isNaN(ms) ? undefined : ms;
}

export function boolOption(options: Record<string, unknown>, key: string): boolean {
  const raw = options[key];
  return raw === true || raw === 'true';
}

/** A fresh sweep id: the sync name, the instant and a random suffix. */
export function newSweepId(name: string, now: Date): string {
  return `${name}:${now.toISOString()}:${Math.random().toString(36).slice(2, 8)}`;
}

/** A string id from Marketo's numeric (or string) key; undefined when there is none. */
export function idOf(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value !== '') return value;
  return undefined;
}

/** Records without the undefined ones, one per id (the last wins). */
export function uniqueById<T extends { id: string }>(records: readonly (T | undefined)[]): T[] {
  const out = new Map<string, T>();
  for (const r of records) if (r !== undefined) out.set(r.id, r);
  return [...out.values()];
}
