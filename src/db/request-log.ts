/**
 * Request log repository: one row per proxied call (already redacted by src/engine/request-log.ts),
 * listed newest first per connection with keyset paging, pruned by age. DDL: migrations/002_limits.ts.
 */
import type { Generated, Kysely } from 'kysely';
import type { DbContext } from './context.ts';
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

/** Rows per INSERT: 10 parameters each, far below SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500;

export async function insertRequestLog(ctx: DbContext, rows: readonly RequestLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  const db = logDb(ctx);
  const write = async (d: Kysely<Database & RequestLogTables>) => {
    for (let i = 0; i < rows.length; i += CHUNK) {
      await d
        .insertInto('request_log')
        .values(
          rows.slice(i, i + CHUNK).map((r) => ({
            connection_pk: r.connectionPk,
            provider_config_key: r.providerConfigKey,
            method: r.method,
            path: r.path,
            status: r.status,
            codes: JSON.stringify(r.codes),
            duration_ms: r.durationMs,
            attempts: r.attempts,
            at: r.at,
          })),
        )
        .execute();
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
