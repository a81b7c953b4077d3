/**
 * Records cache repository: what syncs write and `GET /records` reads (Nango's records API). DDL:
 * migrations/003_records.ts.
 *
 * A record is one object of a model (e.g. a Marketo `Lead`) for one connection, keyed by its external id.
 * Semantics (Nango's):
 * - `created_at` (`first_seen_at`) is set when the record is first inserted and never changes;
 *   `updated_at` (`last_modified_at`) changes on every content change, deletion, undeletion or restore
 *   after a prune. `last_action` is derived: DELETED if `deleted_at` is set, else ADDED if
 *   `created_at == updated_at`, else UPDATED.
 * - Change detection is by content: the payload is serialised with sorted keys (stable JSON) and compared
 *   with the stored payload text (`content_hash` is no longer used: written empty; rows hashed by earlier
 *   versions compare by their payload text just the same). Writing the same content again is `unchanged`:
 *   no write, no timestamp change (only the sync run id is recorded, for `markMissingDeleted`).
 * - A deleted record that reappears is counted as `added` by `upsertRecords` (as Nango's upsert summary),
 *   but keeps its `first_seen_at`: the API shows it as UPDATED with `deleted_at: null` (as Nango).
 * - A pruned record (payload emptied by `PATCH /records/prune`) that is written again gets its payload
 *   back, `pruned_at` cleared and a new `updated_at` (so readers fetch it again); counted as `updated`.
 * - Deleting keeps the last payload (the API returns it with DELETED).
 *
 * Timestamps (deviation from schema.ts, records table only): stored as Nango answers them,
 * `2025-01-01T10:00:00.123456+00:00` (microseconds, fixed width, so string order is time order).
 *
 * Cursor paging: order `(updated_at, id)` ascending, cursor = base64(`<updated_at>||<id>`), next page =
 * rows strictly after the cursor. Every write transaction stamps its rows with a time strictly greater
 * than any `updated_at` already stored for the (connection, model) — the wall clock, or the previous
 * maximum + 1 µs when the clock is behind or equal — so a write always lands after every cursor a reader
 * may hold: paging never skips or repeats a record that was not modified after being read (a modified
 * record moves to the end and is read again: Nango's semantics). On SQLite writes are serialised; on
 * PostgreSQL writers of one (connection, model) take a transaction advisory lock (as Nango does).
 *
 * Storage for fast reads: `payload` holds the record's JSON as the API answers it without metadata
 * (payload fields with sorted keys, then `id`), and `meta` the API's `,"_nango_metadata":{…,"cursor":"`
 * text, rendered by every write from the timestamp columns (which stay the source of truth for queries).
 * A page is then four columns per row, spliced into the response without parsing or stringifying
 * (`recordsPageJson`): only the cursor (which needs the row id) is computed on read.
 *
 * Speed (a 1M-lead initial load writes through here): statements are raw SQL with many rows per
 * statement, in a dozen fixed sizes so that prepared statements are reused; no read before the writes of
 * an initial load; payloads serialised by a writer compiled per record shape; one transaction per call.
 */
import { CompiledQuery, sql, type Generated, type Kysely } from 'kysely';
import { inTransaction, nowOf, type DbContext } from './context.ts';
import type { Database } from './schema.ts';

export interface RecordsTable {
  id: Generated<number>;
  connection_pk: number;
  model: string;
  external_id: string;
  /** `{…payload fields (sorted keys)…,"id":"<external id>"}`; `{"id":"…"}` once pruned. */
  payload: string;
  /** `,"_nango_metadata":{…,"cursor":"` as answered (see metaJson), kept in step by every write. */
  meta: string;
  content_hash: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  pruned_at: string | null;
  /** The sync run that last wrote or saw the record. */
  sync_run_id: string | null;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type RecordsTables = { records: RecordsTable };

/** For typed Kysely queries on the records table. */
export function recordsDb(ctx: DbContext): Kysely<Database & RecordsTables> {
  return ctx.db.withTables<RecordsTables>();
}

export type LastAction = 'ADDED' | 'UPDATED' | 'DELETED';
export type RecordFilter = 'added' | 'updated' | 'deleted';

/** A record as given to `upsertRecords`: its external id and any JSON payload. */
export interface RecordInput {
  id: string | number;
  [key: string]: unknown;
}

/** A record as answered by `GET /records`. */
export interface NangoRecord {
  [key: string]: unknown;
  id: string;
  _nango_metadata: {
    first_seen_at: string;
    last_modified_at: string;
    last_action: LastAction;
    deleted_at: string | null;
    pruned_at: string | null;
    cursor: string;
  };
}

export class InvalidCursorError extends Error {
  constructor() {
    super('The cursor is not a cursor returned by GET /records.');
    this.name = 'InvalidCursorError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Timestamps and cursors

const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/;
const ISO_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/;

/** Microseconds since the epoch → stored / answered form `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`. */
export function formatMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const extra = micros - ms * 1000;
  return `${new Date(ms).toISOString().slice(0, 23)}${String(extra).padStart(3, '0')}+00:00`;
}

function parseStamp(stamp: string): number {
  return Date.parse(`${stamp.slice(0, 23)}Z`) * 1000 + Number(stamp.slice(23, 26));
}

/** A Date (or a UTC ISO string, microseconds kept) in the stored form. */
export function toRecordTimestamp(value: Date | string): string {
  if (value instanceof Date) return formatMicros(value.getTime() * 1000);
  if (TS_RE.test(value)) return value;
  const m = ISO_RE.exec(value);
  if (!m) {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new RangeError(`Not a date: ${value}`);
    return formatMicros(ms * 1000);
  }
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) throw new RangeError(`Not a date: ${value}`);
  const fraction = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return formatMicros(ms * 1000 + Number(fraction));
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** base64 of an ASCII string (short: the id part of a cursor). */
function asciiBase64(text: string): string {
  let out = '';
  let i = 0;
  for (; i + 2 < text.length; i += 3) {
    const n = (text.charCodeAt(i) << 16) | (text.charCodeAt(i + 1) << 8) | text.charCodeAt(i + 2);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  if (i + 1 === text.length) {
    const n = text.charCodeAt(i) << 16;
    out += `${B64[n >> 18]!}${B64[(n >> 12) & 63]!}==`;
  } else if (i + 2 === text.length) {
    const n = (text.charCodeAt(i) << 16) | (text.charCodeAt(i + 1) << 8);
    out += `${B64[n >> 18]!}${B64[(n >> 12) & 63]!}${B64[(n >> 6) & 63]!}=`;
  }
  return out;
}

/** base64 of `<timestamp>|` (33 bytes: 44 characters, no padding) for the last timestamp seen. */
let lastStamp = '';
let lastStampB64 = '';

/**
 * base64(`<updated_at>||<id>`). A page shares few timestamps: the first 33 bytes (`<updated_at>|`, a
 * multiple of 3) are encoded once per timestamp and the rest (`|<id>`) appended.
 */
export function encodeCursor(updatedAt: string, id: number): string {
  if (updatedAt.length !== 32) return Buffer.from(`${updatedAt}||${id}`, 'utf8').toString('base64');
  if (updatedAt !== lastStamp) {
    lastStampB64 = Buffer.from(`${updatedAt}|`, 'latin1').toString('base64');
    lastStamp = updatedAt;
  }
  return lastStampB64 + asciiBase64(`|${id}`);
}

/** Throws InvalidCursorError for anything `encodeCursor` did not make. */
export function decodeCursor(cursor: string): { updatedAt: string; id: number } {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(cursor)) throw new InvalidCursorError();
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  const sep = text.indexOf('||');
  if (sep === -1) throw new InvalidCursorError();
  const updatedAt = text.slice(0, sep);
  const idText = text.slice(sep + 2);
  if (!TS_RE.test(updatedAt) || !/^[1-9]\d{0,15}$/.test(idText)) throw new InvalidCursorError();
  const id = Number(idText);
  if (!Number.isSafeInteger(id) || Number.isNaN(parseStamp(updatedAt))) throw new InvalidCursorError();
  return { updatedAt, id };
}

export function lastActionOf(createdAt: string, updatedAt: string, deletedAt: string | null): LastAction {
  if (deletedAt !== null) return 'DELETED';
  return createdAt === updatedAt ? 'ADDED' : 'UPDATED';
}

/** The stored `meta` text: the API's `_nango_metadata` member up to the cursor value. */
export function metaJson(
  createdAt: string,
  updatedAt: string,
  deletedAt: string | null,
  prunedAt: string | null,
): string {
  return (
    `,"_nango_metadata":{"first_seen_at":"${createdAt}","last_modified_at":"${updatedAt}",` +
    `"last_action":"${lastActionOf(createdAt, updatedAt, deletedAt)}",` +
    `"deleted_at":${deletedAt === null ? 'null' : `"${deletedAt}"`},` +
    `"pruned_at":${prunedAt === null ? 'null' : `"${prunedAt}"`},"cursor":"`
  );
}

/** SQL for the `meta` of a row being deleted at the stamp bound twice (same text as metaJson). */
const DELETED_META_SQL = `',"_nango_metadata":{"first_seen_at":"' || created_at || '","last_modified_at":"' ||
  cast(? as text) || '","last_action":"DELETED","deleted_at":"' || cast(? as text) || '","pruned_at":' ||
  coalesce('"' || pruned_at || '"', 'null') || ',"cursor":"'`;

/** `payload` text: payload fields JSON + `"id"` as the last member. */
function withId(fields: string, externalId: string): string {
  const id = `"id":${JSON.stringify(externalId)}}`;
  return fields.length > 2 ? `${fields.slice(0, -1)},${id}` : `{${id}`;
}

// ---------------------------------------------------------------------------------------------------
// Stable JSON and content hash

/** JSON.stringify semantics (toJSON, undefined/function dropped, non-finite → null) with sorted keys. */
export function stableStringify(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return stableStringify((toJSON as () => unknown).call(value));
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += stableStringify(value[i]) ?? 'null';
        }
        return `${out}]`;
      }
      return objectJson(value as Record<string, unknown>, false);
    }
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return undefined;
  }
}

/** `{…}` with sorted keys; at the top level of a record, `id` and `_nango_metadata` are left out. */
function objectJson(obj: Record<string, unknown>, isRecord: boolean): string {
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    if (isRecord && (key === 'id' || key === '_nango_metadata')) continue;
    const v = stableStringify(obj[key]);
    if (v === undefined) continue;
    out += first ? '' : ',';
    out += JSON.stringify(key);
    out += ':';
    out += v;
    first = false;
  }
  return `${out}}`;
}

/**
 * Stored payload text of a record: stable JSON without `id` and `_nango_metadata` (same text as
 * `stableStringify` minus those keys). Change detection compares these texts.
 */
export function recordPayload(record: RecordInput): { payload: string } {
  return { payload: payloadJson(record as Record<string, unknown>, undefined) };
}

/** The payload text, with `"id":<id>` as its last member when `id` is given. */
function payloadJson(obj: Record<string, unknown>, id: string | undefined): string {
  const proto = Object.getPrototypeOf(obj) as unknown;
  // The fast paths read own keys as `for…in` or Object.keys see them: plain objects only.
  if (proto === Object.prototype || proto === null) {
    const write = shapeFor(Object.keys(obj))?.write;
    const json = write === undefined ? undefined : write(obj, id);
    return json ?? rankedJson(obj, id === undefined ? '' : `"id":${JSON.stringify(id)}`);
  }
  const fields = objectJson(obj, true);
  if (id === undefined) return fields;
  const last = `"id":${JSON.stringify(id)}`;
  return fields.length > 2 ? `${fields.slice(0, -1)},${last}}` : `{${last}}`;
}

/*
 * Records of one shape. A sync's records are often built with one object shape (the Lead model builds
 * every record of an export file with the same keys, empty fields `undefined`): for those a writer is
 * compiled once that copies the fields into an object literal with the keys in sorted order (and `id`
 * last) and hands it to JSON.stringify. JSON.stringify keeps that order, escapes as JSON does and writes
 * one flat string, which SQLite then takes without V8 first joining the pieces of a concatenated one.
 * Measured on sandbox leads: serialising and inserting a record ~30% cheaper than the ranked path below.
 *
 * Only values JSON.stringify writes as stableStringify does take this path: primitives, Dates, arrays of
 * those. A record with another object value (nested keys to sort, a custom toJSON) takes the ranked path.
 * So does a shape with integer-like keys, which JSON.stringify would write first. A shape is compiled
 * after it was seen on SHAPE_STREAK records in a row: records whose keys vary from one to the next
 * (sparse records) never pay for compiling.
 */
type ShapeWriter = (obj: Record<string, unknown>, id: string | undefined) => string | undefined;

interface Shape {
  keys: string[];
  /** Undefined for a shape the compiled writer cannot serve (integer-like keys). */
  write: ShapeWriter | undefined;
}

const SHAPE_STREAK = 3;
let shape: Shape | undefined;
let candidateKeys: string[] = [];
let candidateStreak = 0;

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function shapeFor(keys: string[]): Shape | undefined {
  if (shape !== undefined && sameKeys(keys, shape.keys)) return shape;
  if (!sameKeys(keys, candidateKeys)) {
    candidateKeys = keys;
    candidateStreak = 1;
    return undefined;
  }
  if (++candidateStreak < SHAPE_STREAK) return undefined;
  shape = { keys, write: compileShape(keys) };
  return shape;
}

const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;

/** True for an object value JSON.stringify writes as stableStringify does: a Date, an array of primitives. */
function nativeJsonValue(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Date.prototype) return !Object.hasOwn(v, 'toJSON');
  if (!Array.isArray(v) || proto !== Array.prototype) return false;
  for (let i = 0; i < v.length; i++) {
    const e = v[i] as unknown;
    if (
      typeof e === 'object' &&
      e !== null &&
      !(Object.getPrototypeOf(e) === Date.prototype && !Object.hasOwn(e, 'toJSON'))
    )
      return false;
  }
  return true;
}

/**
 * `(o, id) => JSON.stringify({"a": o.a, "b": o.b, …, id})` for one key list (keys sorted), or undefined
 * (ranked path) when a value is an object JSON.stringify would not write as stableStringify. Keys enter
 * the generated code only as JSON string literals.
 */
function compileShape(keys: string[]): ShapeWriter | undefined {
  const sorted = keys.filter((k) => k !== 'id' && k !== '_nango_metadata').sort();
  if (sorted.some((k) => ARRAY_INDEX.test(k) && Number(k) < 4294967295)) return undefined;
  const lines: string[] = [];
  const members: string[] = [];
  sorted.forEach((key, i) => {
    const name = JSON.stringify(key);
    lines.push(
      `const v${i} = o[${name}];`,
      `if (typeof v${i} === 'object' && v${i} !== null && !nativeJsonValue(v${i})) return undefined;`,
    );
    // A literal `__proto__:` would set the prototype: computed key.
    members.push(key === '__proto__' ? `[${name}]: v${i}` : `${name}: v${i}`);
  });
  members.push('id: id');
  lines.push(`return JSON.stringify({ ${members.join(', ')} });`);
  const make = new Function('nativeJsonValue', `return function (o, id) {\n${lines.join('\n')}\n};`) as (
    check: typeof nativeJsonValue,
  ) => ShapeWriter;
  return make(nativeJsonValue);
}

/*
 * Key order of the fast path. Sorting each record's keys cost more than serialising it: records of one
 * model share a small set of keys, but not one list (a Marketo lead leaves its empty fields out, so two
 * leads rarely have the same keys). Every top-level key seen so far gets its rank in sorted order; a
 * record's values are dropped into slots by rank and read back in order: no sort, no comparison.
 */
const SKIPPED_RANK = -1;
/** Key → rank in `rankedKeys` (SKIPPED_RANK for `id` and `_nango_metadata`). */
let keyRank = new Map<string, number>();
let rankedKeys: string[] = [];
/** `"key":` and `,"key":` for each ranked key. */
let rankedPrefixes: string[] = [];
let rankedCommaPrefixes: string[] = [];
/** Values of the record being serialised, by rank (always left empty). */
const slots: unknown[] = [];
/** Bound on the keys remembered: records with ever-new keys (ids as keys) start over past it. */
const MAX_RANKED_KEYS = 4096;

/** Adds `keys` to the ranked set (starting over when it grew past the bound) and re-ranks. */
function learnKeys(keys: string[]): void {
  const all = rankedKeys.length + keys.length > MAX_RANKED_KEYS ? new Set<string>() : new Set(rankedKeys);
  for (const k of keys) if (k !== 'id' && k !== '_nango_metadata') all.add(k);
  rankedKeys = [...all].sort();
  rankedPrefixes = rankedKeys.map((k) => `${JSON.stringify(k)}:`);
  rankedCommaPrefixes = rankedPrefixes.map((p) => `,${p}`);
  keyRank = new Map(rankedKeys.map((k, i) => [k, i]));
  keyRank.set('id', SKIPPED_RANK);
  keyRank.set('_nango_metadata', SKIPPED_RANK);
}

/** Characters JSON.stringify escapes (and surrogates, which it escapes when unpaired). */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON text of one member value (JSON.stringify semantics, nested objects with sorted keys). */
function valueJson(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      // Most values need no escaping; testing for that is cheaper than JSON.stringify of each string.
      return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      return v === null ? 'null' : stableStringify(v);
    default:
      return stableStringify(v);
  }
}

function rankedJson(obj: Record<string, unknown>, last: string): string {
  let lo = rankedKeys.length;
  let hi = -1;
  for (const key in obj) {
    const r = keyRank.get(key);
    if (r === undefined) {
      // A key not seen before: forget the slots filled so far, re-rank, start again.
      for (let i = lo; i <= hi; i++) slots[i] = undefined;
      learnKeys(Object.keys(obj));
      return rankedJson(obj, last);
    }
    if (r === SKIPPED_RANK) continue;
    slots[r] = obj[key];
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  let out = '{';
  let first = true;
  let i = lo;
  try {
    for (; i <= hi; i++) {
      const v = slots[i];
      if (v === undefined) continue;
      slots[i] = undefined;
      const json = valueJson(v);
      if (json === undefined) continue;
      out += first ? rankedPrefixes[i]! : rankedCommaPrefixes[i]!;
      out += json;
      first = false;
    }
  } catch (err) {
    // A BigInt (or a throwing toJSON): leave the slots empty for the next record.
    for (; i <= hi; i++) slots[i] = undefined;
    throw err;
  }
  if (last === '') return `${out}}`;
  return first ? `${out}${last}}` : `${out},${last}}`;
}

// ---------------------------------------------------------------------------------------------------
// Raw statements (both dialects)

const ROWS_PER_STATEMENT = 500;
const placeholderStyle = new WeakMap<object, boolean>();

/** True when `db` compiles `$1` placeholders (PostgreSQL). */
function usesDollar(db: Kysely<unknown>): boolean {
  let v = placeholderStyle.get(db);
  if (v === undefined) {
    v = sql`${1}`.compile(db).sql === '$1';
    placeholderStyle.set(db, v);
  }
  return v;
}

async function run<R = Record<string, unknown>>(
  ctx: DbContext,
  text: string,
  params: unknown[],
): Promise<{ rows: R[]; changes: number }> {
  const q = usesDollar(ctx.db as Kysely<unknown>) ? dollarText(text) : text;
  const r = await ctx.db.executeQuery<R>(CompiledQuery.raw(q, params));
  return { rows: r.rows, changes: Number(r.numAffectedRows ?? 0n) };
}

/** `?` → `$1, $2…`, remembered for the write statements (same text, same prepared statement). */
const dollarTexts = new Map<string, string>();

function dollarText(text: string): string {
  let q = dollarTexts.get(text);
  if (q === undefined) {
    let n = 0;
    q = text.replace(/\?/g, () => `$${++n}`);
    if (dollarTexts.size >= 64) dollarTexts.clear();
    dollarTexts.set(text, q);
  }
  return q;
}

function marks(n: number): string {
  return n === 1 ? '?' : `?${',?'.repeat(n - 1)}`;
}

/**
 * Chunks of the writes: full chunks of ROWS_PER_STATEMENT, the rest in powers of two (300 → 256, 32,
 * 8, 4). Statement texts then come in a dozen sizes, so their compiled forms are reused (SQLite: see
 * database.ts) instead of one per odd size.
 */
function writeChunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  for (; i + ROWS_PER_STATEMENT <= items.length; i += ROWS_PER_STATEMENT)
    out.push(items.slice(i, i + ROWS_PER_STATEMENT));
  for (let size = 256; size >= 1; size >>= 1) {
    if (items.length - i >= size) {
      out.push(items.slice(i, i + size));
      i += size;
    }
  }
  return out;
}

/**
 * The stamp for a write to (connection, model): `now`, or 1 µs after the newest stored `updated_at` when
 * that is not older than `now`. Call inside the write transaction.
 */
async function writeStamp(ctx: DbContext, connectionPk: number, model: string, now: Date): Promise<string> {
  return (await writeStampOf(ctx, connectionPk, model, now)).stamp;
}

/** `writeStamp`, and whether (connection, model) has no record at all (an initial load). */
async function writeStampOf(
  ctx: DbContext,
  connectionPk: number,
  model: string,
  now: Date,
): Promise<{ stamp: string; empty: boolean }> {
  // PostgreSQL runs writers concurrently: serialise those of one (connection, model) until commit, as
  // Nango does. (SQLite writes are serialised already.)
  if (usesDollar(ctx.db as Kysely<unknown>))
    await run(ctx, 'select pg_advisory_xact_lock(hashtext(?)) as locked', [
      `tether.records:${connectionPk}:${model}`,
    ]);
  const { rows } = await run<{ updated_at: string }>(
    ctx,
    'select updated_at from records where connection_pk = ? and model = ? order by updated_at desc, id desc limit 1',
    [connectionPk, model],
  );
  const candidate = toRecordTimestamp(now);
  const newest = rows[0]?.updated_at;
  if (newest === undefined) return { stamp: candidate, empty: true };
  if (candidate > newest) return { stamp: candidate, empty: false };
  return { stamp: formatMicros(parseStamp(newest) + 1), empty: false };
}

// ---------------------------------------------------------------------------------------------------
// Writes

export interface UpsertRecordsInput {
  connectionPk: number;
  /** Model name, with its variant if any (`Lead` or `Lead::variant`). */
  model: string;
  records: RecordInput[];
  /** Defaults to the context clock. */
  now?: Date;
  /** The sync run writing: recorded on written and unchanged records, for `markMissingDeleted`. */
  runId?: string | number;
}

export interface UpsertSummary {
  /** New records, and deleted records that reappeared. */
  added: number;
  /** Records whose content changed (or whose pruned payload was restored). */
  updated: number;
  /** Records with the same content as stored (no write, no timestamp change). */
  unchanged: number;
  /** Input records whose id appeared earlier in the same call (the last occurrence wins). */
  duplicates: number;
  /** The `updated_at` given to the added / updated records of this call (stored form). */
  modifiedAt: string;
}

interface Prepared {
  externalId: string;
  record: Record<string, unknown>;
}

/** Checks ids and drops duplicates (the last occurrence wins, in its position). */
function prepare(records: RecordInput[]): { items: Prepared[]; duplicates: number } {
  const byId = new Map<string, Prepared>();
  for (const record of records) {
    if (record === null || typeof record !== 'object' || Array.isArray(record))
      throw new TypeError('Each record must be a JSON object.');
    const rawId = record.id;
    if ((typeof rawId !== 'string' && typeof rawId !== 'number') || rawId === '')
      throw new TypeError('Each record needs an `id` (non-empty string or number).');
    const externalId = String(rawId);
    byId.delete(externalId);
    byId.set(externalId, { externalId, record: record as Record<string, unknown> });
  }
  return { items: [...byId.values()], duplicates: records.length - byId.size };
}

/** Stored `payload` text of a prepared record (with its id as the last member). */
function storedPayload(item: Prepared): string {
  return payloadJson(item.record, item.externalId);
}

/*
 * The write statement: one multi-row INSERT … ON CONFLICT DO UPDATE for the new and the changed records
 * of a chunk (what is new or changed is known from the read before it). Its text depends only on the row
 * count, and is built once per count: the same text each time, so SQLite's prepared statement is reused.
 */
const UPSERT_HEAD = `insert into records
  (connection_pk, model, external_id, payload, meta, content_hash, created_at, updated_at, sync_run_id)
  values `;
const UPSERT_ROW = "(?,?,?,?,?,'',?,?,?)";
const UPSERT_TAIL = ` on conflict (connection_pk, model, external_id) do update set
  payload = excluded.payload, meta = excluded.meta, content_hash = excluded.content_hash,
  updated_at = excluded.updated_at, deleted_at = null, pruned_at = null, sync_run_id = excluded.sync_run_id`;
const upsertTexts = new Map<number, string>();

function upsertText(rows: number): string {
  let text = upsertTexts.get(rows);
  if (text === undefined) {
    text = `${UPSERT_HEAD}${UPSERT_ROW}${`,${UPSERT_ROW}`.repeat(rows - 1)}${UPSERT_TAIL}`;
    if (upsertTexts.size >= 16) upsertTexts.clear();
    upsertTexts.set(rows, text);
  }
  return text;
}

/** A row of the upsert. */
interface RowWrite {
  externalId: string;
  payload: string;
  meta: string;
}

/** What the read before a write needs of a stored record. */
interface StoredRow {
  external_id: string;
  payload: string;
  created_at: string;
  deleted_at: string | null;
  pruned_at: string | null;
  sync_run_id: string | null;
}

/**
 * Inserts or updates records by content (see the module comment). One transaction per call.
 * Throws TypeError for a record that is not an object or has no `id`.
 *
 * Per chunk of 500: one read of the stored rows by external id (skipped when the model has no record
 * yet: an initial load), then one upsert of the new and changed rows, and one update of `sync_run_id` for
 * unchanged rows a sweep sees. Change detection compares payload texts: no content hash to compute (rows
 * written with a sha256 in `content_hash` by earlier versions stay comparable: their payload text is what
 * is compared; `content_hash` is now written empty and not read).
 */
export async function upsertRecords(ctx: DbContext, input: UpsertRecordsInput): Promise<UpsertSummary> {
  const { items, duplicates } = prepare(input.records);
  const now = input.now ?? nowOf(ctx);
  const runId = input.runId === undefined ? null : String(input.runId);
  const { connectionPk, model } = input;
  return inTransaction(ctx, async (tx) => {
    const { stamp, empty } = await writeStampOf(tx, connectionPk, model, now);
    const summary: UpsertSummary = { added: 0, updated: 0, unchanged: 0, duplicates, modifiedAt: stamp };
    const newMeta = metaJson(stamp, stamp, null, null);
    // Payloads are made a chunk at a time: fewer live strings while the statements run (less GC work).
    for (const chunk of writeChunks(items)) {
      const payloads = chunk.map(storedPayload);
      let found: Map<string, StoredRow> | undefined;
      if (!empty) {
        const { rows } = await run<StoredRow>(
          tx,
          `select external_id, payload, created_at, deleted_at, pruned_at, sync_run_id from records
           where connection_pk = ? and model = ? and external_id in (${marks(chunk.length)})`,
          [connectionPk, model, ...chunk.map((c) => c.externalId)],
        );
        if (rows.length > 0) found = new Map(rows.map((r) => [r.external_id, r]));
      }
      const writes: RowWrite[] = [];
      const seen: string[] = [];
      for (let i = 0; i < chunk.length; i++) {
        const externalId = chunk[i]!.externalId;
        const payload = payloads[i]!;
        const old = found?.get(externalId);
        if (old === undefined) {
          summary.added++;
          writes.push({ externalId, payload, meta: newMeta });
        } else if (old.deleted_at !== null) {
          summary.added++;
          writes.push({ externalId, payload, meta: metaJson(old.created_at, stamp, null, null) });
        } else if (old.payload !== payload || old.pruned_at !== null) {
          summary.updated++;
          writes.push({ externalId, payload, meta: metaJson(old.created_at, stamp, null, null) });
        } else {
          summary.unchanged++;
          if (runId !== null && old.sync_run_id !== runId) seen.push(externalId);
        }
      }
      for (const part of writeChunks(writes)) {
        const params = new Array<unknown>(part.length * 8);
        let p = 0;
        for (const w of part) {
          params[p++] = connectionPk;
          params[p++] = model;
          params[p++] = w.externalId;
          params[p++] = w.payload;
          params[p++] = w.meta;
          params[p++] = stamp;
          params[p++] = stamp;
          params[p++] = runId;
        }
        await run(tx, upsertText(part.length), params);
      }
      for (const part of writeChunks(seen)) {
        await run(
          tx,
          `update records set sync_run_id = ?
           where connection_pk = ? and model = ? and external_id in (${marks(part.length)})`,
          [runId, connectionPk, model, ...part],
        );
      }
    }
    return summary;
  });
}

/** Marks the given records deleted (those not deleted yet). Returns how many were. Unknown ids are skipped. */
export async function markDeleted(
  ctx: DbContext,
  input: { connectionPk: number; model: string; ids: (string | number)[]; now?: Date },
): Promise<number> {
  const ids = [...new Set(input.ids.map(String))];
  if (ids.length === 0) return 0;
  const now = input.now ?? nowOf(ctx);
  return inTransaction(ctx, async (tx) => {
    const stamp = await writeStamp(tx, input.connectionPk, input.model, now);
    let count = 0;
    for (const chunk of writeChunks(ids)) {
      const r = await run(
        tx,
        `update records set meta = ${DELETED_META_SQL}, deleted_at = ?, updated_at = ?
         where connection_pk = ? and model = ? and deleted_at is null and external_id in (${marks(chunk.length)})`,
        [stamp, stamp, stamp, stamp, input.connectionPk, input.model, ...chunk],
      );
      count += r.changes;
    }
    return count;
  });
}

/**
 * Full-refresh deletion detection: marks deleted every live record of (connection, model) that run
 * `runId` neither wrote nor saw (`upsertRecords` with the same `runId`). Returns how many.
 */
export async function markMissingDeleted(
  ctx: DbContext,
  input: { connectionPk: number; model: string; runId: string | number; now?: Date },
): Promise<number> {
  const now = input.now ?? nowOf(ctx);
  return inTransaction(ctx, async (tx) => {
    const stamp = await writeStamp(tx, input.connectionPk, input.model, now);
    const r = await run(
      tx,
      `update records set meta = ${DELETED_META_SQL}, deleted_at = ?, updated_at = ?
       where connection_pk = ? and model = ? and deleted_at is null
         and (sync_run_id is null or sync_run_id <> ?)`,
      [stamp, stamp, stamp, stamp, input.connectionPk, input.model, String(input.runId)],
    );
    return r.changes;
  });
}

/** Hard-deletes the records of a connection (one model, or all). Returns how many. */
export async function deleteAllRecords(
  ctx: DbContext,
  input: { connectionPk: number; model?: string },
): Promise<number> {
  const r =
    input.model === undefined
      ? await run(ctx, 'delete from records where connection_pk = ?', [input.connectionPk])
      : await run(ctx, 'delete from records where connection_pk = ? and model = ?', [
          input.connectionPk,
          input.model,
        ]);
  return r.changes;
}

/**
 * Empties the payload of the records up to and including `untilCursor` (`pruned_at` set, `updated_at`
 * unchanged so cursors stay valid), oldest first, at most `limit`. `lastCursor` is the cursor of the last
 * pruned record. Throws InvalidCursorError.
 */
export async function pruneRecords(
  ctx: DbContext,
  input: { connectionPk: number; model: string; untilCursor: string; limit: number; now?: Date },
): Promise<{ count: number; lastCursor: string | null }> {
  const until = decodeCursor(input.untilCursor);
  const stamp = toRecordTimestamp(input.now ?? nowOf(ctx));
  return inTransaction(ctx, async (tx) => {
    const { rows } = await run<{
      id: number;
      external_id: string;
      created_at: string;
      updated_at: string;
      deleted_at: string | null;
    }>(
      tx,
      `select id, external_id, created_at, updated_at, deleted_at from records
       where connection_pk = ? and model = ? and (updated_at, id) <= (?, ?) and pruned_at is null
       order by updated_at, id limit ?`,
      [input.connectionPk, input.model, until.updatedAt, until.id, input.limit],
    );
    for (const r of rows) {
      await run(tx, 'update records set payload = ?, meta = ?, pruned_at = ? where id = ?', [
        withId('{}', r.external_id),
        metaJson(r.created_at, r.updated_at, r.deleted_at, stamp),
        stamp,
        r.id,
      ]);
    }
    const last = rows[rows.length - 1];
    return { count: rows.length, lastCursor: last ? encodeCursor(last.updated_at, last.id) : null };
  });
}

// ---------------------------------------------------------------------------------------------------
// Reads

/** Number of records of a connection (one model or all); deleted ones only with `includeDeleted`. */
export async function countRecords(
  ctx: DbContext,
  input: { connectionPk: number; model?: string; includeDeleted?: boolean },
): Promise<number> {
  let q = 'select count(*) as n from records where connection_pk = ?';
  const params: unknown[] = [input.connectionPk];
  if (input.model !== undefined) {
    q += ' and model = ?';
    params.push(input.model);
  }
  if (!input.includeDeleted) q += ' and deleted_at is null';
  const { rows } = await run<{ n: number | string }>(ctx, q, params);
  return Number(rows[0]?.n ?? 0);
}

/** True if the connection has at least one record (any state) of `model`. */
export async function hasRecordsOfModel(
  ctx: DbContext,
  connectionPk: number,
  model: string,
): Promise<boolean> {
  const { rows } = await run(
    ctx,
    'select 1 as x from records where connection_pk = ? and model = ? limit 1',
    [connectionPk, model],
  );
  return rows.length > 0;
}

export interface ListRecordsInput {
  connectionPk: number;
  model: string;
  /** A `next_cursor` / `_nango_metadata.cursor`: rows strictly after it. */
  cursor?: string;
  /** Page size (the route bounds it to 1..10000). */
  limit: number;
  /** Records with `updated_at >= modifiedAfter` (Date, or UTC ISO string). */
  modifiedAfter?: Date | string;
  /** Any of; empty or all three = no filter. ADDED/UPDATED exclude deleted records. */
  filter?: RecordFilter[];
  /** External ids. */
  ids?: string[];
}

/** What a page reads per record: the stored texts and the cursor's two columns. */
export interface RecordRow {
  id: number;
  payload: string;
  meta: string;
  updated_at: string;
}

/** Runs reads in one transaction (repeatable read on PostgreSQL; SQLite transactions are snapshots). */
function inSnapshot<T>(ctx: DbContext, fn: (tx: DbContext) => Promise<T>): Promise<T> {
  if (ctx.db.isTransaction) return fn(ctx);
  return ctx.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute((trx) => fn({ ...ctx, db: trx }));
}

const ROW_COLUMNS = 'id, payload, meta, updated_at';

/** SQL conditions (with their parameters) for the optional filters of a listing. */
function listConditions(input: ListRecordsInput): { where: string; params: unknown[] } {
  let where = '';
  const params: unknown[] = [];
  if (input.modifiedAfter !== undefined) {
    where += ' and updated_at >= ?';
    params.push(toRecordTimestamp(input.modifiedAfter));
  }
  const filter = new Set(input.filter ?? []);
  if (filter.size > 0 && filter.size < 3) {
    const parts: string[] = [];
    if (filter.has('added') && filter.has('updated')) parts.push('deleted_at is null');
    else if (filter.has('added')) parts.push('(deleted_at is null and created_at = updated_at)');
    else if (filter.has('updated')) parts.push('(deleted_at is null and created_at <> updated_at)');
    if (filter.has('deleted')) parts.push('deleted_at is not null');
    where += ` and (${parts.join(' or ')})`;
  }
  return { where, params };
}

/**
 * One page of raw rows in `(updated_at, id)` order (limit + 1 probe) and the next cursor (null on the last
 * page). Throws InvalidCursorError.
 *
 * After a cursor `(t, i)` the page is read as two index range scans — rows with `updated_at = t and id > i`,
 * then rows with `updated_at > t` — because SQLite evaluates the row value `(updated_at, id) > (t, i)` as a
 * range on `updated_at >= t` and then skips every row of the same timestamp one by one (a batch written in
 * one call shares its timestamp, so that skip would grow with the batch size).
 */
export async function listRecordRows(
  ctx: DbContext,
  input: ListRecordsInput,
): Promise<{ rows: RecordRow[]; nextCursor: string | null }> {
  const want = input.limit + 1;
  const cursor = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  const extra = listConditions(input);
  let rows: RecordRow[];
  if (input.ids !== undefined) {
    // By the external-id index, then sorted (at most 100 ids), not by a scan of the model in cursor order.
    // PostgreSQL text cannot hold NUL (Nango strips it too).
    const ids = [...new Set(input.ids.map((id) => id.replaceAll('\x00', '')))];
    if (ids.length === 0) return { rows: [], nextCursor: null };
    let q = `select ${ROW_COLUMNS} from records where id in (select id from records
      where connection_pk = ? and model = ? and external_id in (${marks(ids.length)}))`;
    const params: unknown[] = [input.connectionPk, input.model, ...ids];
    if (cursor) {
      q += ' and (updated_at, id) > (?, ?)';
      params.push(cursor.updatedAt, cursor.id);
    }
    q += `${extra.where} order by updated_at, id limit ?`;
    rows = (await run<RecordRow>(ctx, q, [...params, ...extra.params, want])).rows;
  } else if (cursor) {
    // Both scans in one snapshot, so that a write committed between them cannot show a record twice.
    rows = await inSnapshot(ctx, async (tx) => {
      const first = await run<RecordRow>(
        tx,
        `select ${ROW_COLUMNS} from records where connection_pk = ? and model = ? and updated_at = ? and id > ?${extra.where}
         order by updated_at, id limit ?`,
        [input.connectionPk, input.model, cursor.updatedAt, cursor.id, ...extra.params, want],
      );
      if (first.rows.length === want) return first.rows;
      const more = await run<RecordRow>(
        tx,
        `select ${ROW_COLUMNS} from records where connection_pk = ? and model = ? and updated_at > ?${extra.where}
         order by updated_at, id limit ?`,
        [input.connectionPk, input.model, cursor.updatedAt, ...extra.params, want - first.rows.length],
      );
      return first.rows.length === 0 ? more.rows : first.rows.concat(more.rows);
    });
  } else {
    rows = (
      await run<RecordRow>(
        ctx,
        `select ${ROW_COLUMNS} from records where connection_pk = ? and model = ?${extra.where}
         order by updated_at, id limit ?`,
        [input.connectionPk, input.model, ...extra.params, want],
      )
    ).rows;
  }
  if (rows.length <= input.limit) return { rows, nextCursor: null };
  rows.length = input.limit;
  const last = rows[rows.length - 1]!;
  return { rows, nextCursor: encodeCursor(last.updated_at, last.id) };
}

/** One record as the API answers it (JSON text): payload, id, metadata with the cursor. */
function recordJson(r: RecordRow): string {
  return `${r.payload.slice(0, -1)}${r.meta}${encodeCursor(r.updated_at, r.id)}"}}`;
}

/** A row as the API answers it (parsed). */
export function toNangoRecord(row: RecordRow): NangoRecord {
  return JSON.parse(recordJson(row)) as NangoRecord;
}

/** `listRecordRows` with parsed records: `{records, next_cursor}` as `GET /records` answers. */
export async function listRecords(
  ctx: DbContext,
  input: ListRecordsInput,
): Promise<{ records: NangoRecord[]; next_cursor: string | null }> {
  const { rows, nextCursor } = await listRecordRows(ctx, input);
  return { records: rows.map(toNangoRecord), next_cursor: nextCursor };
}

/**
 * The JSON text of `{next_cursor, records}` spliced from the stored texts, without parsing anything (the
 * stored texts are JSON fragments; timestamps and cursors need no escaping). Same content as
 * `JSON.stringify(await listRecords(...))`.
 */
export function recordsPageJson(rows: RecordRow[], nextCursor: string | null): string {
  const parts: string[] = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) parts[i] = recordJson(rows[i]!);
  return `{"next_cursor":${nextCursor === null ? 'null' : `"${nextCursor}"`},"records":[${parts.join(',')}]}`;
}
