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
 * (payload fields with sorted keys, then `id`). A page splices it into the response without parsing or
 * stringifying (`recordsPageJson`); the `_nango_metadata` member is rendered on read from the timestamp
 * columns (`metaJson`, a few string joins). It used to be stored, rendered by every write: ~190 bytes of
 * a ~1,380-byte lead row, which every write paid for three times (insert, log, checkpoint): a 1M-lead
 * initial load measured ~6% faster without it (migration 016 dropped the column).
 *
 * Speed (a 1M-lead initial load writes through here): statements are raw SQL with many rows per
 * statement, in a dozen fixed sizes so that prepared statements are reused; no read before the writes of
 * an initial load, and a load that continues is written insert-first on both databases (stored rows read
 * only when a chunk met some); payloads serialised by a writer compiled per record shape (record-json.ts), or given
 * already serialised (`PayloadRecord`, src/record-payload.ts: the Lead export reader writes them straight
 * from the file's text; their `payload` is stored and compared as is); one
 * transaction per call. On SQLite, `upsertRecords` runs its statements synchronously on better-sqlite3
 * inside the transaction (context.ts `transactionSqlite`), each row binding only its id and payload;
 * PostgreSQL takes the same write statement through Kysely (`postgresUpsert`: inserts first while rows
 * are new, reads by id with plans that do not depend on statistics, full chunks as named prepared
 * statements); SQLite in a transaction not opened by `inTransaction` takes portable statements
 * (`genericUpsert`). records-sqlite.test.ts checks that SQLite's two paths store the same rows;
 * records.test.ts runs on both databases.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import type { Generated, Kysely } from 'kysely';
import { inTransaction, isPostgres, nowOf, transactionSqlite, type DbContext } from './context.ts';
import { PayloadRecord, type RecordShape } from '../record-payload.ts';
import { payloadJson } from './record-json.ts';
import { run } from './raw-query.ts';
import {
  jsonPayload,
  loadShapes,
  loadShapesSqlite,
  samePayload,
  saveShapes,
  saveShapesSqlite,
} from './record-shapes.ts';
import type { Database } from './schema.ts';

export { recordPayload, stableStringify } from './record-json.ts';

export interface RecordsTable {
  id: Generated<number>;
  connection_pk: number;
  model: string;
  external_id: string;
  /** `{…payload fields (sorted keys)…,"id":"<external id>"}`; `{"id":"…"}` once pruned. */
  payload: string;
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

/** The API's `_nango_metadata` member up to the cursor value, from the row's timestamp columns. */
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

/** `payload` text: payload fields JSON + `"id"` as the last member. */
function withId(fields: string, externalId: string): string {
  const id = `"id":${JSON.stringify(externalId)}}`;
  return fields.length > 2 ? `${fields.slice(0, -1)},${id}` : `{${id}`;
}

// ---------------------------------------------------------------------------------------------------
// Raw statements (both dialects)

/** Rows per statement through Kysely (PostgreSQL: fewer round trips). */
const ROWS_PER_STATEMENT = 500;
/**
 * Rows per statement on the SQLite path (no round trips): smaller statements measured as fast or a little
 * faster (100 vs 500: ~5–10% less CPU per record), with one fifth of the compiled statement memory and
 * fewer payload strings alive at a time.
 */
const SQLITE_ROWS_PER_STATEMENT = 100;
/** How long a records write runs on SQLite before it lets the event loop turn (ms). */
const SQLITE_YIELD_MS = 10;

function marks(n: number): string {
  return n === 1 ? '?' : `?${',?'.repeat(n - 1)}`;
}

/**
 * Rows in the next statement when `left` remain: `max` while that many remain, then the
 * largest power of two (300 → 256, 32, 8, 4). Statement texts then come in a dozen sizes, so their
 * compiled forms are reused instead of one per odd size.
 */
function chunkSize(left: number, max = ROWS_PER_STATEMENT): number {
  if (left >= max) return max;
  let size = 1;
  while (size * 2 <= left) size *= 2;
  return size;
}

/** `items` in chunks of chunkSize. */
function writeChunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length;) {
    const size = chunkSize(items.length - i);
    out.push(items.slice(i, i + size));
    i += size;
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
  if (isPostgres(ctx))
    await run(ctx, 'select pg_advisory_xact_lock(hashtext(?)) as locked', [
      `tether.records:${connectionPk}:${model}`,
    ]);
  const { rows } = await run<{ updated_at: string }>(
    ctx,
    'select updated_at from records where connection_pk = ? and model = ? order by updated_at desc, id desc limit 1',
    [connectionPk, model],
  );
  return stampAfter(toRecordTimestamp(now), rows[0]?.updated_at);
}

/** `candidate`, or 1 µs after `newest` when that is not older; `empty` when there is no `newest`. */
function stampAfter(candidate: string, newest: string | undefined): { stamp: string; empty: boolean } {
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
  /** Objects, or records already serialised as stored ({@link PayloadRecord}: `payload` kept as is). */
  records: (RecordInput | PayloadRecord)[];
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

/** An input record: an object to serialise, or a PayloadRecord (its text used as is). */
type PreparedRecord = Record<string, unknown> | PayloadRecord;

/** The input records with valid ids, duplicates dropped (the last occurrence wins, in its position). */
interface Prepared {
  ids: string[];
  records: PreparedRecord[];
  duplicates: number;
  /** The shapes of packed PayloadRecords among `records` (stored with them). */
  shapes: RecordShape[];
}

/** Checks ids and drops duplicates. Parallel arrays, no object per record; a Map only when ids repeat. */
function prepare(input: (RecordInput | PayloadRecord)[]): Prepared {
  const n = input.length;
  const ids = new Array<string>(n);
  const records = new Array<PreparedRecord>(n);
  const seen = new Set<string>();
  const shapes: RecordShape[] = [];
  let lastShape: RecordShape | undefined;
  for (let i = 0; i < n; i++) {
    const record = input[i] as unknown;
    if (record === null || typeof record !== 'object' || Array.isArray(record))
      throw new TypeError('Each record must be a JSON object.');
    const rawId = (record as RecordInput).id;
    if ((typeof rawId !== 'string' && typeof rawId !== 'number') || rawId === '')
      throw new TypeError('Each record needs an `id` (non-empty string or number).');
    const externalId = String(rawId);
    ids[i] = externalId;
    records[i] = record as PreparedRecord;
    seen.add(externalId);
    // The records of a file share one shape object: compared by reference first.
    const shape = record instanceof PayloadRecord ? record.shape : undefined;
    if (shape !== undefined && shape !== lastShape) {
      lastShape = shape;
      if (!shapes.includes(shape)) shapes.push(shape);
    }
  }
  if (seen.size === n) return { ids, records, duplicates: 0, shapes };
  const last = new Map<string, number>();
  for (let i = 0; i < n; i++) last.set(ids[i]!, i);
  const keptIds: string[] = [];
  const kept: PreparedRecord[] = [];
  for (let i = 0; i < n; i++) {
    if (last.get(ids[i]!) !== i) continue;
    keptIds.push(ids[i]!);
    kept.push(records[i]!);
  }
  return { ids: keptIds, records: kept, duplicates: n - keptIds.length, shapes };
}

/** The stored payload text of an input record (`id` its external id). */
function payloadOf(record: PreparedRecord, id: string): string {
  return record instanceof PayloadRecord ? record.payload : payloadJson(record, id);
}

/** A stored record as the read before a write sees it: [payload, deleted_at, pruned_at, sync_run_id]. */
type StoredRow = [payload: string, deletedAt: string | null, prunedAt: string | null, runId: string | null];

/**
 * What to do with an input record given its stored row (`seen`: unchanged, but last seen by another run
 * than the writing one: only its `sync_run_id` is written).
 */
type Outcome = 'added' | 'updated' | 'unchanged' | 'seen';

function outcomeOf(old: StoredRow | undefined, payload: string, runId: string | null): Outcome {
  if (old === undefined || old[1] !== null) return 'added';
  if (old[2] !== null || !samePayload(old[0], payload)) return 'updated';
  return runId !== null && old[3] !== runId ? 'seen' : 'unchanged';
}

/*
 * The write statement: one multi-row INSERT … ON CONFLICT DO UPDATE for the new and the changed records
 * of a chunk (what is new or changed is known from the read before it). Its text depends only on the row
 * count, and is built once per count: the same text each time, so the prepared statement is reused.
 *
 * A row binds only its external id and payload; what every row of one call shares (connection, model,
 * the stamp, the run) is bound once per statement as named parameters (measured: 8 bound values per row
 * cost ~30% more CPU in SQLite than 2). An existing record keeps its `created_at` (`first_seen_at`).
 */
const UPSERT_HEAD = `insert into records
  (connection_pk, model, external_id, payload, content_hash, created_at, updated_at, sync_run_id)
  values `;
const UPSERT_ROW = "(@c,@m,?,?,'',@s,@s,@r)";
const UPSERT_TAIL = ` on conflict (connection_pk, model, external_id) do update set
  payload = excluded.payload, content_hash = excluded.content_hash, updated_at = excluded.updated_at,
  deleted_at = null, pruned_at = null, sync_run_id = excluded.sync_run_id`;

/** The insert-first statement: new rows only (`changes` tells how many were new). */
const INSERT_NEW_TAIL = ' on conflict (connection_pk, model, external_id) do nothing';
/** The stored rows of a chunk of external ids (raw rows: see StoredRow). */
const SELECT_STORED = `select external_id, payload, deleted_at, pruned_at, sync_run_id from records
  where connection_pk = @c and model = @m and external_id in `;
/**
 * After an insert-first: the rows that were there before it. A row the insert added has `updated_at` =
 * the call's stamp, which is later than every `updated_at` stored before the call (writeStampOf). The
 * unary `+` keeps that term out of index choice: as a range on records_cursor it read the whole model
 * for every chunk (measured: an incremental run of 10,000 leads at 1,200 records/s instead of 7,500).
 */
const SELECT_OLDER = ' and +updated_at < @s';
const UPDATE_SEEN = `update records set sync_run_id = @r
  where connection_pk = @c and model = @m and external_id in `;
const NEWEST_STAMP = `select updated_at from records where connection_pk = ? and model = ?
  order by updated_at desc, id desc limit 1`;

/** Prepared statements of the SQLite write path, per connection, by SQL text (a few dozen at most). */
const sqliteStatements = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

function sqliteStatement(sqlite: BetterSqlite3.Database, text: string, raw = false): BetterSqlite3.Statement {
  let cache = sqliteStatements.get(sqlite);
  if (cache === undefined) {
    cache = new Map();
    sqliteStatements.set(sqlite, cache);
  }
  let stmt = cache.get(text);
  if (stmt === undefined) {
    stmt = sqlite.prepare(text);
    if (raw) stmt.raw(true);
    if (cache.size >= 64) cache.clear();
    cache.set(text, stmt);
  }
  return stmt;
}

/** Texts by row count, built once per count (a dozen counts: see chunkSize). */
const statementTexts = new Map<string, string>();

function textFor(kind: 'upsert' | 'insert-new' | 'select' | 'select-older' | 'seen', rows: number): string {
  const key = `${kind}:${rows}`;
  let text = statementTexts.get(key);
  if (text === undefined) {
    const values = `${UPSERT_HEAD}${UPSERT_ROW}${`,${UPSERT_ROW}`.repeat(rows - 1)}`;
    if (kind === 'upsert') text = `${values}${UPSERT_TAIL}`;
    else if (kind === 'insert-new') text = `${values}${INSERT_NEW_TAIL}`;
    else if (kind === 'seen') text = `${UPDATE_SEEN}(${marks(rows)})`;
    else text = `${SELECT_STORED}(${marks(rows)})${kind === 'select-older' ? SELECT_OLDER : ''}`;
    if (statementTexts.size >= 64) statementTexts.clear();
    statementTexts.set(key, text);
  }
  return text;
}

/** The text of SQLite's read of the stored rows of `rows` ids (`older`: after an insert-first), for tests. */
export function storedRowsTextSqlite(rows: number, older: boolean): string {
  return textFor(older ? 'select-older' : 'select', rows);
}

/** The SQLite stamp (see writeStampOf), read on the transaction's connection. */
function sqliteStampOf(
  sqlite: BetterSqlite3.Database,
  connectionPk: number,
  model: string,
  now: Date,
): { stamp: string; empty: boolean } {
  const newest = sqliteStatement(sqlite, NEWEST_STAMP, true).get(connectionPk, model) as [string] | undefined;
  return stampAfter(toRecordTimestamp(now), newest?.[0]);
}

/**
 * `upsertRecords` on SQLite, in the transaction `sqlite` holds: the same statements as the portable path
 * (genericUpsert), run synchronously on better-sqlite3 with reused prepared statements. Per chunk: the
 * payloads are made as the statement's parameters are filled (no intermediate objects), so at most one
 * chunk of payload strings is alive at a time.
 *
 * As on PostgreSQL, a model that has records is written insert-first while most rows turn out new (the
 * pages after the first of an initial load, a resumed load): `INSERT … ON CONFLICT DO NOTHING`, and only
 * when it inserted fewer rows than given are the older rows read and compared. That spares a lookup of
 * every id in the unique index before the insert looks it up again (measured 3–9% less CPU per record
 * on the writing thread). Once a chunk inserts fewer than half its rows, the call reads first.
 */
async function sqliteUpsert(
  sqlite: BetterSqlite3.Database,
  input: UpsertRecordsInput,
  prepared: Prepared,
  now: Date,
  runId: string | null,
): Promise<UpsertSummary> {
  const { connectionPk, model } = input;
  const { ids, records, duplicates } = prepared;
  const { stamp, empty } = sqliteStampOf(sqlite, connectionPk, model, now);
  const summary: UpsertSummary = { added: 0, updated: 0, unchanged: 0, duplicates, modifiedAt: stamp };
  const named = { c: connectionPk, m: model, s: stamp, r: runId };
  const n = ids.length;
  let insertFirst = true;
  let ranSince = performance.now();
  for (let start = 0; start < n;) {
    // Statements are synchronous: a call that has run for a while lets the event loop serve what waits
    // (API requests that need no database), the transaction held meanwhile (Kysely queues other queries).
    // A page of 1,000 scattered updates into a large model touches ~1,000 pages and took ~80 ms in one
    // piece (GET /health waited 120–210 ms during bench:sync's incremental run).
    if (performance.now() - ranSince > SQLITE_YIELD_MS) {
      await yieldToLoop();
      ranSince = performance.now();
    }
    const size = chunkSize(n - start, SQLITE_ROWS_PER_STATEMENT);
    if (empty) {
      // Initial load: every record is new, nothing to read.
      const params = new Array<string>(size * 2);
      for (let k = 0; k < size; k++) {
        const id = ids[start + k]!;
        params[2 * k] = id;
        params[2 * k + 1] = payloadOf(records[start + k]!, id);
      }
      sqliteStatement(sqlite, textFor('upsert', size)).run(params, named);
      summary.added += size;
      start += size;
      continue;
    }
    let payloads: string[] | undefined;
    if (insertFirst) {
      payloads = new Array<string>(size);
      const params = new Array<string>(size * 2);
      for (let k = 0; k < size; k++) {
        const id = ids[start + k]!;
        params[2 * k] = id;
        params[2 * k + 1] = payloads[k] = payloadOf(records[start + k]!, id);
      }
      const inserted = sqliteStatement(sqlite, textFor('insert-new', size)).run(params, named).changes;
      summary.added += inserted;
      if (inserted * 2 < size) insertFirst = false;
      if (inserted === size) {
        start += size;
        continue;
      }
    }
    // After an insert-first, only the rows that were there before it (the others were just added).
    const rows = sqliteStatement(sqlite, textFor(payloads ? 'select-older' : 'select', size), true).all(
      ids.slice(start, start + size),
      named,
    ) as [string, ...StoredRow][];
    let found: Map<string, StoredRow> | undefined;
    if (rows.length > 0) {
      found = new Map();
      for (const [externalId, ...stored] of rows) found.set(externalId, stored);
      loadShapesSqlite(
        sqlite,
        rows.map((r) => r[1]),
      );
    }
    const params: string[] = [];
    const seen: string[] = [];
    for (let k = 0; k < size; k++) {
      const id = ids[start + k]!;
      const old = found?.get(id);
      if (payloads !== undefined && old === undefined) continue;
      const payload = payloads?.[k] ?? payloadOf(records[start + k]!, id);
      const outcome = outcomeOf(old, payload, runId);
      if (outcome === 'added' || outcome === 'updated') {
        if (outcome === 'added') summary.added++;
        else summary.updated++;
        params.push(id, payload);
      } else {
        summary.unchanged++;
        if (outcome === 'seen') seen.push(id);
      }
    }
    for (let w = 0; w < params.length;) {
      const rowsLeft = (params.length - w) / 2;
      const part = chunkSize(rowsLeft, SQLITE_ROWS_PER_STATEMENT);
      const slice = part === rowsLeft && w === 0 ? params : params.slice(w, w + part * 2);
      sqliteStatement(sqlite, textFor('upsert', part)).run(slice, named);
      w += part * 2;
    }
    for (let w = 0; w < seen.length;) {
      const part = chunkSize(seen.length - w, SQLITE_ROWS_PER_STATEMENT);
      const slice = part === seen.length ? seen : seen.slice(w, w + part);
      sqliteStatement(sqlite, textFor('seen', part)).run(slice, named);
      w += part;
    }
    start += size;
  }
  return summary;
}

/** The portable write statement (SQLite outside a transaction of `inTransaction`). */
const GENERIC_UPSERT_HEAD = `insert into records
  (connection_pk, model, external_id, payload, content_hash, created_at, updated_at, sync_run_id)
  values `;
const GENERIC_UPSERT_ROW = "(?,?,?,?,'',?,?,?)";
const GENERIC_UPSERT_TAIL = ` on conflict (connection_pk, model, external_id) do update set
  payload = excluded.payload, content_hash = excluded.content_hash,
  updated_at = excluded.updated_at, deleted_at = null, pruned_at = null, sync_run_id = excluded.sync_run_id`;
const upsertTexts = new Map<number, string>();

function upsertText(rows: number): string {
  let text = upsertTexts.get(rows);
  if (text === undefined) {
    text = `${GENERIC_UPSERT_HEAD}${GENERIC_UPSERT_ROW}${`,${GENERIC_UPSERT_ROW}`.repeat(rows - 1)}${GENERIC_UPSERT_TAIL}`;
    if (upsertTexts.size >= 16) upsertTexts.clear();
    upsertTexts.set(rows, text);
  }
  return text;
}

/*
 * PostgreSQL statements. Their plans must not depend on the table's statistics. A table never analysed (a
 * new instance), or a connection the statistics do not know yet (its first sync into a large table), gets
 * default selectivities under which a lookup by external id looks as cheap through the cursor index
 * (connection, model, updated_at, id), filtering every record of the model, as through the unique index,
 * or `external_id in (…)` looks cheaper as one scan of the model's range than as one probe per id. Every
 * chunk then reads every record already written: a 1M-lead initial load goes quadratic until autovacuum
 * analyses the table (measured: 200,000 leads at 4,700 records/s, ~100 µs of server CPU per record and
 * falling as the table grew; an equality lookup through LATERAL took the cursor index the same way).
 *
 * So an id is looked up as "the first key at or after (connection, model, id) in key order", LIMIT 1: a
 * row comparison only the unique index can answer in that order (any other plan sorts a range estimated
 * at a third of the table), and a LATERAL subquery with LIMIT is never flattened into a join. The outer
 * filter keeps the key that is equal. Rows found are then addressed by primary key (`id = any(…)` plans
 * as an index scan without statistics). The write binds per row only its id and payload; what rows share
 * ($1…$4) is bound once (the SQLite statement's tail).
 */

/** Lookup by external ids: binds the id array, then (connection, model) twice; `x.external_id`, `r` the row. */
const PG_LOOKUP = (columns: string, where = '') =>
  `select ${columns} from unnest(cast(? as text[])) as x(external_id)
   cross join lateral (select * from records where (connection_pk, model, external_id) >= (?, ?, x.external_id)
     order by connection_pk, model, external_id limit 1) r
   where r.connection_pk = ? and r.model = ? and r.external_id = x.external_id${where}`;
const PG_SELECT_STORED = PG_LOOKUP(
  'r.id, x.external_id, r.payload, r.created_at, r.deleted_at, r.pruned_at, r.sync_run_id',
);
const pgTexts = new Map<string, string>();

/** VALUES rows binding only (external id, payload) after the shared $1…$4. */
function pgRowsText(kind: 'upsert' | 'insert-new', rows: number): string {
  const key = `${kind}:${rows}`;
  let text = pgTexts.get(key);
  if (text === undefined) {
    const values: string[] = [];
    for (let k = 0; k < rows; k++) values.push(`($1,$2,$${5 + 2 * k},$${6 + 2 * k},'',$3,$3,$4)`);
    const tail =
      kind === 'upsert'
        ? UPSERT_TAIL
        : ' on conflict (connection_pk, model, external_id) do nothing returning external_id';
    text = `${UPSERT_HEAD}${values.join(',')}${tail}`;
    if (pgTexts.size >= 32) pgTexts.clear();
    pgTexts.set(key, text);
  }
  return text;
}

const pgUpsertText = (rows: number) => pgRowsText('upsert', rows);
const pgInsertNewText = (rows: number) => pgRowsText('insert-new', rows);

/** A row of the portable upsert. */
interface RowWrite {
  externalId: string;
  payload: string;
}

/** A stored row read before a write: StoredRow, plus its `created_at` and primary key. */
type FoundRow = StoredRow & { createdAt: string; pk: number };

/** PostgreSQL's read of the stored rows of `ids` before a write: text (`?` marks) and parameters. */
export function storedRowsQueryPg(connectionPk: number, model: string, ids: string[]): [string, unknown[]] {
  return [PG_SELECT_STORED, pgLookupParams(ids, connectionPk, model)];
}

/** The parameters of PG_LOOKUP (before those its `where` adds). */
function pgLookupParams(ids: string[], connectionPk: number, model: string): unknown[] {
  return [ids, connectionPk, model, connectionPk, model];
}

/** The stored rows of `ids` (chunk of one statement), by external id; undefined when none. */
async function storedRows(
  tx: DbContext,
  pg: boolean,
  connectionPk: number,
  model: string,
  ids: string[],
): Promise<Map<string, FoundRow> | undefined> {
  const [text, params] = pg
    ? storedRowsQueryPg(connectionPk, model, ids)
    : [
        `select id, external_id, payload, created_at, deleted_at, pruned_at, sync_run_id from records
         where connection_pk = ? and model = ? and external_id in (${marks(ids.length)})`,
        [connectionPk, model, ...ids],
      ];
  const { rows } = await run<{
    id: number;
    external_id: string;
    payload: string;
    created_at: string;
    deleted_at: string | null;
    pruned_at: string | null;
    sync_run_id: string | null;
  }>(tx, text, params, pg);
  if (rows.length === 0) return undefined;
  await loadShapes(
    tx,
    rows.map((r) => r.payload),
  );
  const found = new Map<string, FoundRow>();
  for (const r of rows) {
    const stored: StoredRow = [r.payload, r.deleted_at, r.pruned_at, r.sync_run_id];
    found.set(r.external_id, Object.assign(stored, { createdAt: r.created_at, pk: Number(r.id) }));
  }
  return found;
}

/** A write path of `upsertRecords` taking its chunks through Kysely (the transaction `tx`). */
type UpsertPath = (
  tx: DbContext,
  input: UpsertRecordsInput,
  prepared: Prepared,
  now: Date,
  runId: string | null,
) => Promise<UpsertSummary>;

/** The stamp of a write (see writeStampOf), whether the model is empty, and its summary so far. */
async function beginWrite(tx: DbContext, input: UpsertRecordsInput, prepared: Prepared, now: Date) {
  const { stamp, empty } = await writeStampOf(tx, input.connectionPk, input.model, now);
  const summary: UpsertSummary = {
    added: 0,
    updated: 0,
    unchanged: 0,
    duplicates: prepared.duplicates,
    modifiedAt: stamp,
  };
  return { stamp, empty, summary };
}

/**
 * `upsertRecords` through Kysely with portable statements: SQLite in a transaction not opened by
 * `inTransaction`. One read, one upsert, one run-id update per chunk (the read skipped on an initial load).
 */
const genericUpsert: UpsertPath = async (tx, input, prepared, now, runId) => {
  const { connectionPk, model } = input;
  const { ids, records } = prepared;
  const { stamp, empty, summary } = await beginWrite(tx, input, prepared, now);
  for (let start = 0; start < ids.length;) {
    const size = chunkSize(ids.length - start);
    const chunkIds = ids.slice(start, start + size);
    const found = empty ? undefined : await storedRows(tx, false, connectionPk, model, chunkIds);
    const writes: RowWrite[] = [];
    const seen: string[] = [];
    for (let k = 0; k < size; k++) {
      const externalId = chunkIds[k]!;
      const payload = payloadOf(records[start + k]!, externalId);
      const old = found?.get(externalId);
      const outcome = outcomeOf(old, payload, runId);
      if (outcome === 'added' || outcome === 'updated') {
        if (outcome === 'added') summary.added++;
        else summary.updated++;
        writes.push({ externalId, payload });
      } else {
        summary.unchanged++;
        if (outcome === 'seen') seen.push(externalId);
      }
    }
    for (const part of writeChunks(writes)) {
      const params = new Array<unknown>(part.length * 7);
      let p = 0;
      for (const w of part) {
        params[p++] = connectionPk;
        params[p++] = model;
        params[p++] = w.externalId;
        params[p++] = w.payload;
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
    start += size;
  }
  return summary;
};

/**
 * `upsertRecords` on PostgreSQL (statements: see PG_LOOKUP). Per chunk of ROWS_PER_STATEMENT:
 * - an initial load (the model had no record) upserts the chunk, nothing to read;
 * - otherwise, while most rows turn out new, the chunk is first inserted with ON CONFLICT DO NOTHING:
 *   the unique index finds what already exists as part of the insert, so a load that continues (the
 *   pages after the first of an initial load, a resumed one) reads nothing more. Only the rows that were
 *   not inserted are then read and compared. Once a chunk inserts fewer than half of its rows (updates,
 *   full-refresh sweeps of unchanged data), the rest of the call reads first, not to send every payload
 *   twice;
 * - what changed is upserted, and unchanged rows a sweep sees get the run id, by primary key.
 */
const postgresUpsert: UpsertPath = async (tx, input, prepared, now, runId) => {
  const { connectionPk, model } = input;
  const { ids, records } = prepared;
  const { stamp, empty, summary } = await beginWrite(tx, input, prepared, now);
  const shared: unknown[] = [connectionPk, model, stamp, runId];
  /** Writes rows (external id, payload) of `ids`/`payloads` at `positions` with the statement `text`. */
  const write = async (
    text: (rows: number) => string,
    chunkIds: string[],
    payloads: string[],
    positions: number[],
  ) => {
    const rows: { external_id: string }[] = [];
    for (let w = 0; w < positions.length;) {
      const part = chunkSize(positions.length - w);
      const params = shared.concat(new Array<unknown>(part * 2));
      for (let k = 0; k < part; k++) {
        const at = positions[w + k]!;
        params[4 + 2 * k] = chunkIds[at];
        params[5 + 2 * k] = payloads[at];
      }
      // Full chunks run as prepared statements (pg-prepared.ts); a call's odd tail sizes unnamed.
      const r = await run<{ external_id: string }>(tx, text(part), params, part === ROWS_PER_STATEMENT);
      for (const row of r.rows) rows.push(row);
      w += part;
    }
    return rows;
  };
  let insertFirst = true;
  for (let start = 0; start < ids.length;) {
    const size = chunkSize(ids.length - start);
    const chunkIds = ids.slice(start, start + size);
    const payloads = new Array<string>(size);
    for (let k = 0; k < size; k++) payloads[k] = payloadOf(records[start + k]!, chunkIds[k]!);
    const all = Array.from({ length: size }, (_, k) => k);
    start += size;
    if (empty) {
      await write(pgUpsertText, chunkIds, payloads, all);
      summary.added += size;
      continue;
    }
    let rest = all;
    if (insertFirst) {
      const inserted = new Set(
        (await write(pgInsertNewText, chunkIds, payloads, all)).map((r) => r.external_id),
      );
      summary.added += inserted.size;
      if (inserted.size * 2 < size) insertFirst = false;
      if (inserted.size === size) continue;
      rest = all.filter((k) => !inserted.has(chunkIds[k]!));
    }
    const found = await storedRows(
      tx,
      true,
      connectionPk,
      model,
      rest.map((k) => chunkIds[k]!),
    );
    const changed: number[] = [];
    const seenPks: number[] = [];
    for (const k of rest) {
      const old = found?.get(chunkIds[k]!);
      const outcome = outcomeOf(old, payloads[k]!, runId);
      if (outcome === 'added' || outcome === 'updated') {
        if (outcome === 'added') summary.added++;
        else summary.updated++;
        changed.push(k);
      } else {
        summary.unchanged++;
        if (outcome === 'seen') seenPks.push(old!.pk);
      }
    }
    if (changed.length > 0) await write(pgUpsertText, chunkIds, payloads, changed);
    if (seenPks.length > 0)
      await run(tx, 'update records set sync_run_id = ? where id = any(cast(? as bigint[]))', [
        runId,
        seenPks,
      ]);
  }
  if (empty) await analyseIfNeverAnalysed(tx);
  return summary;
};

/**
 * A table PostgreSQL never analysed (a new database: autovacuum's first pass comes up to a minute later)
 * is planned with default selectivities, under which "the first page of a model" looks like a few rows:
 * a bitmap scan of every record of the model and a sort, instead of the first entries of the cursor index
 * (measured: 167 ms for 100,000 records, growing with the model, for every first page). So the first
 * write into an empty model analyses the table if it never was: once per database, on a small table, in
 * the writing transaction (ANALYZE samples its own new rows). Later growth needs nothing: the planner
 * scales the statistics by the table's actual size, and a new connection or model is estimated small,
 * which still plans ordered reads through the cursor index.
 */
async function analyseIfNeverAnalysed(tx: DbContext): Promise<void> {
  const { rows } = await run<{ never: boolean }>(
    tx,
    "select reltuples < 0 as never from pg_class where oid = cast('records' as regclass)",
    [],
  );
  if (rows[0]?.never === true) await run(tx, 'analyze records', []);
}

/**
 * Inserts or updates records by content (see the module comment). One transaction per call.
 * Throws TypeError for a record that is not an object or has no `id`.
 *
 * Per chunk of up to ROWS_PER_STATEMENT: one read of the stored rows by external id (skipped when the
 * model has no record yet: an initial load), then one upsert of the new and changed rows, and one update
 * of `sync_run_id` for unchanged rows a sweep sees. Change detection compares payload texts: no content
 * hash to compute (rows written with a sha256 in `content_hash` by earlier versions stay comparable: their
 * payload text is what is compared; `content_hash` is now written empty and not read).
 */
export async function upsertRecords(ctx: DbContext, input: UpsertRecordsInput): Promise<UpsertSummary> {
  const prepared = prepare(input.records);
  const now = input.now ?? nowOf(ctx);
  const runId = input.runId === undefined ? null : String(input.runId);
  return inTransaction(ctx, async (tx) => {
    const sqlite = transactionSqlite(tx);
    if (prepared.shapes.length > 0) {
      if (sqlite !== undefined) saveShapesSqlite(sqlite, prepared.shapes, now.toISOString());
      else await saveShapes(tx, prepared.shapes, now.toISOString());
    }
    if (sqlite !== undefined) return sqliteUpsert(sqlite, input, prepared, now, runId);
    return isPostgres(tx)
      ? postgresUpsert(tx, input, prepared, now, runId)
      : genericUpsert(tx, input, prepared, now, runId);
  });
}

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
    const pg = isPostgres(tx);
    for (const chunk of writeChunks(ids)) {
      // PostgreSQL: the rows by primary key, found one index probe per id (see PG_LOOKUP).
      const r = await run(
        tx,
        `update records set deleted_at = ?, updated_at = ? where ${
          pg
            ? `id = any(array(${PG_LOOKUP('r.id', ' and r.deleted_at is null')}))`
            : `connection_pk = ? and model = ? and deleted_at is null and external_id in (${marks(chunk.length)})`
        }`,
        [
          stamp,
          stamp,
          ...(pg
            ? pgLookupParams(chunk, input.connectionPk, input.model)
            : [input.connectionPk, input.model, ...chunk]),
        ],
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
      `update records set deleted_at = ?, updated_at = ?
       where connection_pk = ? and model = ? and deleted_at is null
         and (sync_run_id is null or sync_run_id <> ?)`,
      [stamp, stamp, input.connectionPk, input.model, String(input.runId)],
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
 * Deletes up to `limit` records of one deleted connection (soft-deleted: `connections.deleted_at` set),
 * the first such connection that still has records. Returns the connection's pk and how many went, or
 * undefined when no deleted connection has records left. Bounded so that a connection holding millions
 * of records is purged by many short transactions (engine/records-purge.ts), not one long one.
 */
export async function purgeRecordsOfDeletedConnection(
  ctx: DbContext,
  input: { limit: number },
): Promise<{ connectionPk: number; deleted: number } | undefined> {
  const { rows } = await run<{ id: number | string }>(
    ctx,
    `select c.id as id from connections c where c.deleted_at is not null
       and exists (select 1 from records r where r.connection_pk = c.id) order by c.id limit 1`,
    [],
  );
  const found = rows[0];
  if (found === undefined) return undefined;
  const connectionPk = Number(found.id);
  // Only rows of a connection deleted already: a connection is never undeleted (a new one is created).
  const r = await run(
    ctx,
    `delete from records where id in (select id from records where connection_pk = ? limit ?)`,
    [connectionPk, Math.max(1, Math.floor(input.limit))],
  );
  return { connectionPk, deleted: r.changes };
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
    const { rows } = await run<{ id: number; external_id: string; updated_at: string }>(
      tx,
      `select id, external_id, updated_at from records
       where connection_pk = ? and model = ? and (updated_at, id) <= (?, cast(? as bigint)) and pruned_at is null
       order by updated_at, id limit ?`,
      [input.connectionPk, input.model, until.updatedAt, until.id, input.limit],
    );
    let count = 0;
    let last: (typeof rows)[number] | undefined;
    for (const r of rows) {
      // Only the row as read: on PostgreSQL a sync may have rewritten it since (it moved past the cursor
      // with a new payload, which must not be emptied; the update waits for that write, then skips it).
      const u = await run(
        tx,
        'update records set payload = ?, pruned_at = ? where id = ? and updated_at = ? and pruned_at is null',
        [withId('{}', r.external_id), stamp, r.id, r.updated_at],
      );
      if (u.changes === 0) continue;
      count++;
      last = r;
    }
    return { count, lastCursor: last ? encodeCursor(last.updated_at, last.id) : null };
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

/** What a page reads per record: the stored payload text, the metadata's columns and the cursor's. */
export interface RecordRow {
  id: number;
  /** As stored: JSON, or packed (record-payload.ts; listRecordRows loads its shape). */
  payload: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  pruned_at: string | null;
}

/** Runs reads in one transaction (repeatable read on PostgreSQL; SQLite transactions are snapshots). */
function inSnapshot<T>(ctx: DbContext, fn: (tx: DbContext) => Promise<T>): Promise<T> {
  if (ctx.db.isTransaction) return fn(ctx);
  return ctx.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute((trx) => fn({ ...ctx, db: trx }));
}

const ROW_COLUMNS = 'id, payload, created_at, updated_at, deleted_at, pruned_at';

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
 * page). Throws InvalidCursorError. Cursor ids are bound as `bigint`: PostgreSQL's ids are 4-byte integers,
 * and a larger id in a hand-made cursor must mean "after every id", not fail the query.
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
    // PostgreSQL: one index probe per id whatever the statistics (see PG_LOOKUP).
    const pg = isPostgres(ctx);
    let q = pg
      ? `select ${ROW_COLUMNS} from records where id = any(array(${PG_LOOKUP('r.id')}))`
      : `select ${ROW_COLUMNS} from records where id in (select id from records
      where connection_pk = ? and model = ? and external_id in (${marks(ids.length)}))`;
    const params: unknown[] = pg
      ? pgLookupParams(ids, input.connectionPk, input.model)
      : [input.connectionPk, input.model, ...ids];
    if (cursor) {
      q += ' and (updated_at, id) > (?, cast(? as bigint))';
      params.push(cursor.updatedAt, cursor.id);
    }
    q += `${extra.where} order by updated_at, id limit ?`;
    rows = (await run<RecordRow>(ctx, q, [...params, ...extra.params, want])).rows;
  } else if (cursor) {
    // Both scans in one snapshot, so that a write committed between them cannot show a record twice.
    rows = await inSnapshot(ctx, async (tx) => {
      const first = await run<RecordRow>(
        tx,
        `select ${ROW_COLUMNS} from records where connection_pk = ? and model = ? and updated_at = ? and id > cast(? as bigint)${extra.where}
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
  const more = rows.length > input.limit;
  if (more) rows.length = input.limit;
  // Packed payloads (record-payload.ts) are answered in their JSON form: their shapes, read now, are
  // what renders them.
  await loadShapes(
    ctx,
    rows.map((r) => r.payload),
  );
  if (!more) return { rows, nextCursor: null };
  const last = rows[rows.length - 1]!;
  return { rows, nextCursor: encodeCursor(last.updated_at, last.id) };
}

/** One record as the API answers it (JSON text): payload, id, metadata with the cursor. */
function recordJson(r: RecordRow): string {
  const meta = metaJson(r.created_at, r.updated_at, r.deleted_at, r.pruned_at);
  return `${jsonPayload(r.payload).slice(0, -1)}${meta}${encodeCursor(r.updated_at, r.id)}"}}`;
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
