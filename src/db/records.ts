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
 * - Change detection is by content: the payload is serialised with sorted keys (stable JSON) and hashed
 *   (sha256). Writing the same content again is `unchanged`: no write, no timestamp change (only the sync
 *   run id is recorded, for `markMissingDeleted`).
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
 * Speed: statements are raw SQL with many rows per statement (no query-builder work per value), one
 * transaction per call.
 */
import { hash } from 'node:crypto';
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

/** True for values JSON.stringify writes without visiting object keys (so a key allowlist is harmless). */
function isFlat(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (value instanceof Date) return true;
  if (!Array.isArray(value)) return false;
  for (const v of value) if (v !== null && typeof v === 'object' && !(v instanceof Date)) return false;
  return true;
}

/**
 * Stored payload text of a record (stable JSON without `id` and `_nango_metadata`) and its content hash
 * (sha256, base64url). Same text as `stableStringify` minus those keys; flat records (no nested objects:
 * Marketo leads) take a fast path that reuses the sorted key list of the previous record.
 */
export function recordPayload(record: RecordInput): { payload: string; hash: string } {
  const obj = record as Record<string, unknown>;
  const payload = (typeof obj.toJSON !== 'function' && flatJson(obj)) || objectJson(obj, true);
  return { payload, hash: hash('sha256', payload, 'base64url') };
}

interface KeyPlan {
  keys: string[];
  sorted: string[];
  /** `"key":` for each sorted key. */
  prefixes: string[];
}

/** Sorting the keys costs more than serialising: records of one batch share their keys, keep the last. */
let lastPlan: KeyPlan = { keys: [], sorted: [], prefixes: [] };

function keyPlan(keys: string[]): KeyPlan {
  const last = lastPlan;
  if (keys.length === last.keys.length) {
    let same = true;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== last.keys[i]) {
        same = false;
        break;
      }
    }
    if (same) return last;
  }
  const sorted = keys.filter((k) => k !== 'id' && k !== '_nango_metadata').sort();
  lastPlan = { keys, sorted, prefixes: sorted.map((k) => `${JSON.stringify(k)}:`) };
  return lastPlan;
}

/** Stable JSON of a record whose values are all flat (see isFlat), or undefined when one is not. */
function flatJson(obj: Record<string, unknown>): string | undefined {
  const plan = keyPlan(Object.keys(obj));
  const { sorted, prefixes } = plan;
  let out = '{';
  let first = true;
  for (let i = 0; i < sorted.length; i++) {
    const v = obj[sorted[i]!];
    if (v !== null && typeof v === 'object' && !isFlat(v)) return undefined;
    const json = JSON.stringify(v) as string | undefined;
    if (json === undefined) continue;
    out += first ? prefixes[i] : `,${prefixes[i]}`;
    out += json;
    first = false;
  }
  return `${out}}`;
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
  let q = text;
  if (usesDollar(ctx.db as Kysely<unknown>)) {
    let n = 0;
    q = text.replace(/\?/g, () => `$${++n}`);
  }
  const r = await ctx.db.executeQuery<R>(CompiledQuery.raw(q, params));
  return { rows: r.rows, changes: Number(r.numAffectedRows ?? 0n) };
}

function marks(n: number): string {
  return n === 1 ? '?' : `?${',?'.repeat(n - 1)}`;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The stamp for a write to (connection, model): `now`, or 1 µs after the newest stored `updated_at` when
 * that is not older than `now`. Call inside the write transaction.
 */
async function writeStamp(ctx: DbContext, connectionPk: number, model: string, now: Date): Promise<string> {
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
  if (newest === undefined || candidate > newest) return candidate;
  return formatMicros(parseStamp(newest) + 1);
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
  /** Stored `payload` text (with the id). */
  payload: string;
  hash: string;
}

function prepare(records: RecordInput[]): { items: Prepared[]; duplicates: number } {
  const byId = new Map<string, Prepared>();
  for (const record of records) {
    if (record === null || typeof record !== 'object' || Array.isArray(record))
      throw new TypeError('Each record must be a JSON object.');
    const rawId = record.id;
    if ((typeof rawId !== 'string' && typeof rawId !== 'number') || rawId === '')
      throw new TypeError('Each record needs an `id` (non-empty string or number).');
    const externalId = String(rawId);
    const { payload, hash } = recordPayload(record);
    byId.delete(externalId); // last occurrence wins, in its position
    byId.set(externalId, { externalId, payload: withId(payload, externalId), hash });
  }
  return { items: [...byId.values()], duplicates: records.length - byId.size };
}

/**
 * Inserts or updates records by content (see the module comment). One transaction per call.
 * Throws TypeError for a record that is not an object or has no `id`.
 */
export async function upsertRecords(ctx: DbContext, input: UpsertRecordsInput): Promise<UpsertSummary> {
  const { items, duplicates } = prepare(input.records);
  const now = input.now ?? nowOf(ctx);
  const runId = input.runId === undefined ? null : String(input.runId);
  const { connectionPk, model } = input;
  return inTransaction(ctx, async (tx) => {
    const stamp = await writeStamp(tx, connectionPk, model, now);
    const summary: UpsertSummary = { added: 0, updated: 0, unchanged: 0, duplicates, modifiedAt: stamp };
    const newMeta = metaJson(stamp, stamp, null, null);
    for (const chunk of chunks(items, ROWS_PER_STATEMENT)) {
      const { rows: existing } = await run<{
        external_id: string;
        content_hash: string;
        created_at: string;
        deleted_at: string | null;
        pruned_at: string | null;
        sync_run_id: string | null;
      }>(
        tx,
        `select external_id, content_hash, created_at, deleted_at, pruned_at, sync_run_id from records
         where connection_pk = ? and model = ? and external_id in (${marks(chunk.length)})`,
        [connectionPk, model, ...chunk.map((c) => c.externalId)],
      );
      const found = new Map(existing.map((r) => [r.external_id, r]));
      const params: unknown[] = [];
      let writes = 0;
      const seen: string[] = [];
      for (const item of chunk) {
        const old = found.get(item.externalId);
        if (old === undefined || old.deleted_at !== null) summary.added++;
        else if (old.content_hash !== item.hash || old.pruned_at !== null) summary.updated++;
        else {
          summary.unchanged++;
          if (runId !== null && old.sync_run_id !== runId) seen.push(item.externalId);
          continue;
        }
        const meta = old === undefined ? newMeta : metaJson(old.created_at, stamp, null, null);
        params.push(connectionPk, model, item.externalId, item.payload, meta, item.hash, stamp, stamp, runId);
        writes++;
      }
      if (writes > 0) {
        await run(
          tx,
          `insert into records
             (connection_pk, model, external_id, payload, meta, content_hash, created_at, updated_at, sync_run_id)
           values ${Array.from({ length: writes }, () => '(?,?,?,?,?,?,?,?,?)').join(',')}
           on conflict (connection_pk, model, external_id) do update set
             payload = excluded.payload, meta = excluded.meta, content_hash = excluded.content_hash,
             updated_at = excluded.updated_at, deleted_at = null, pruned_at = null,
             sync_run_id = excluded.sync_run_id`,
          params,
        );
      }
      if (seen.length > 0) {
        await run(
          tx,
          `update records set sync_run_id = ?
           where connection_pk = ? and model = ? and external_id in (${marks(seen.length)})`,
          [runId, connectionPk, model, ...seen],
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
    for (const chunk of chunks(ids, ROWS_PER_STATEMENT)) {
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
