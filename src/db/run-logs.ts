/**
 * Sync run logs repository: the lines a run wrote (DDL: migrations/005_sync_run_logs.ts). The engine side,
 * which decides what is kept and redacts it, is src/engine/sync/run-log.ts.
 */
import type { Generated, Kysely } from 'kysely';
import { fromJson, toJson, type DbContext } from './context.ts';
import { toIso, type Database } from './schema.ts';
import { idParam, type SyncsTables } from './syncs.ts';

export type RunLogLevel = 'info' | 'warn' | 'error';

export interface SyncRunLogsTable {
  id: Generated<number>;
  run_id: number;
  at: string;
  level: string;
  message: string;
  data: string | null;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type RunLogsTables = { sync_run_logs: SyncRunLogsTable };

function runLogsDb(ctx: DbContext): Kysely<Database & SyncsTables & RunLogsTables> {
  return ctx.db.withTables<SyncsTables & RunLogsTables>();
}

export interface RunLogLine {
  at: Date;
  level: RunLogLevel;
  message: string;
  data?: Record<string, unknown> | undefined;
}

export interface StoredRunLogLine {
  id: number;
  at: string;
  level: RunLogLevel;
  message: string;
  data: Record<string, unknown> | null;
}

/** Appends lines to a run's log (one statement). A run deleted meanwhile (pruned) makes it a no-op. */
export async function appendRunLog(ctx: DbContext, runId: number, lines: RunLogLine[]): Promise<void> {
  if (lines.length === 0) return;
  const db = runLogsDb(ctx);
  // Not for a run that no longer exists (its sync or connection deleted while it ran): the foreign key
  // would refuse the insert.
  const run = await db.selectFrom('sync_runs').select('id').where('id', '=', runId).executeTakeFirst();
  if (!run) return;
  await db
    .insertInto('sync_run_logs')
    .values(
      lines.map((l) => ({
        run_id: runId,
        at: toIso(l.at),
        level: l.level,
        message: l.message,
        data: l.data === undefined ? null : toJson(l.data),
      })),
    )
    .execute();
}

/** A run's lines in the order written; `afterId` pages on. */
export async function listRunLog(
  ctx: DbContext,
  opts: { runId: number; limit: number; afterId?: number },
): Promise<StoredRunLogLine[]> {
  let q = runLogsDb(ctx).selectFrom('sync_run_logs').selectAll().where('run_id', '=', opts.runId);
  if (opts.afterId !== undefined) q = q.where('id', '>', idParam(opts.afterId));
  const rows = await q.orderBy('id', 'asc').limit(opts.limit).execute();
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    level: r.level as RunLogLevel,
    message: r.message,
    data: fromJson<Record<string, unknown>>(r.data),
  }));
}
