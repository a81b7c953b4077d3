/**
 * Request log repository: one row per proxied call (already redacted by src/engine/request-log.ts),
 * listed newest first per connection with keyset paging, pruned by age. DDL: migrations/002_limits.ts.
 */
import { CompiledQuery, type Generated, type Kysely } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import { inTransaction, isPostgres, transactionSqlite, type DbContext } from './context.ts';
import type { Database } from './schema.ts';

export interface RequestLogTable {
  id: Generated<number>;
  connection_pk: number;
  provider_config_key: string;
  method: string;
  path: string;
  status: number;
  /** JSON array of strings. */
  codes: string;
  duration_ms: number;
  attempts: number;
  /** ISO timestamp (see schema.ts): string order is time order. */
  at: string;
}

export type RequestLogTables = {
  request_log: RequestLogTable;
};

function logDb(ctx: DbContext): Kysely<Database & RequestLogTables> {
  return ctx.db.withTables<RequestLogTables>();
}

export interface RequestLogRow {
  connectionPk: number;
  providerConfigKey: string;
  method: string;
  path: string;
  status: number;
  codes: string[];
  durationMs: number;
  attempts: number;
  /** ISO timestamp. */
  at: string;
}

export interface RequestLogEntry extends RequestLogRow {
  id: number;
}

/** Where the next page starts: strictly older than this entry (order `at desc, id desc`). */
export interface RequestLogCursor {
  at: string;
  id: number;
}

/** Rows per INSERT: 9 parameters each, far below SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500;

const COLUMNS =
  '"connection_pk", "provider_config_key", "method", "path", "status", "codes", "duration_ms", "attempts", "at"';
const PER_ROW = 9;

/** INSERT texts by row count and placeholder style (a few sizes in practice: 500 and powers of two). */
const insertTexts = new Map<string, string>();

/**
 * The multi-row INSERT for `rows` rows, written once per size: building it with Kysely's query builder
 * cost more per logged call (a value node per column per row, then compiling them) than the insert.
 */
function insertText(rows: number, dollar: boolean): string {
  const key = `${dollar ? '$' : '?'}${rows}`;
  let text = insertTexts.get(key);
  if (text === undefined) {
    const tuples: string[] = [];
    for (let r = 0, n = 1; r < rows; r++) {
      const marks: string[] = [];
      for (let c = 0; c < PER_ROW; c++, n++) marks.push(dollar ? `$${n}` : '?');
      tuples.push(`(${marks.join(', ')})`);
    }
    text = `insert into "request_log" (${COLUMNS}) values ${tuples.join(', ')}`;
    if (insertTexts.size >= 64) insertTexts.clear();
    insertTexts.set(key, text);
  }
  return text;
}

/** The single-row INSERT, prepared once per SQLite connection. */
const sqliteInserts = new WeakMap<BetterSqlite3.Database, BetterSqlite3.Statement>();

/**
 * SQLite, inside a transaction: one reused prepared statement, a row per run. Kysely's SQLite driver
 * prepares (compiles) its statement on every query, which for a 500-row INSERT cost more than the rows.
 */
function sqliteInsert(sqlite: BetterSqlite3.Database, rows: readonly RequestLogRow[]): void {
  let stmt = sqliteInserts.get(sqlite);
  if (stmt === undefined) {
    stmt = sqlite.prepare(insertText(1, false));
    sqliteInserts.set(sqlite, stmt);
  }
  for (const r of rows) stmt.run(rowValues(r));
}

/** A row's values in the INSERT's column order (COLUMNS). */
function rowValues(r: RequestLogRow): unknown[] {
  return [
    r.connectionPk,
    r.providerConfigKey,
    r.method,
    r.path,
    r.status,
    r.codes.length === 0 ? '[]' : JSON.stringify(r.codes),
    r.durationMs,
    r.attempts,
    r.at,
  ];
}

export async function insertRequestLog(ctx: DbContext, rows: readonly RequestLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  const sqlite = transactionSqlite(ctx);
  if (sqlite !== undefined) return sqliteInsert(sqlite, rows);
  if (!ctx.db.isTransaction) {
    // On SQLite, a transaction is what hands out the connection for the fast path above.
    return inTransaction(ctx, (tx) => insertRequestLog(tx, rows));
  }
  const db = logDb(ctx);
  const write = async (d: Kysely<Database & RequestLogTables>) => {
    // PostgreSQL numbers its parameters (`$1`); SQLite takes `?`.
    const dollar = isPostgres(ctx);
    for (let i = 0; i < rows.length; i += CHUNK) {
      const end = Math.min(rows.length, i + CHUNK);
      const params: unknown[] = [];
      for (let j = i; j < end; j++) params.push(...rowValues(rows[j]!));
      await d.executeQuery(CompiledQuery.raw(insertText(end - i, dollar), params));
    }
  };
  if (rows.length <= CHUNK || db.isTransaction) await write(db);
  else await db.transaction().execute((trx) => write(trx));
}

/** A connection's entries, newest first; `before` continues a previous page. */
export async function listRequestLog(
  ctx: DbContext,
  connectionPk: number,
  opts: { limit: number; before?: RequestLogCursor | undefined },
): Promise<RequestLogEntry[]> {
  let q = logDb(ctx).selectFrom('request_log').selectAll().where('connection_pk', '=', connectionPk);
  const before = opts.before;
  if (before) {
    q = q.where((eb) =>
      eb.or([eb('at', '<', before.at), eb.and([eb('at', '=', before.at), eb('id', '<', before.id)])]),
    );
  }
  const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    connectionPk: r.connection_pk,
    providerConfigKey: r.provider_config_key,
    method: r.method,
    path: r.path,
    status: r.status,
    codes: parseCodes(r.codes),
    durationMs: r.duration_ms,
    attempts: r.attempts,
    at: r.at,
  }));
}

/** Delete entries older than `before` (ISO). Returns how many went. */
export async function pruneRequestLog(ctx: DbContext, before: string): Promise<number> {
  const r = await logDb(ctx).deleteFrom('request_log').where('at', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}

function parseCodes(text: string): string[] {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}
