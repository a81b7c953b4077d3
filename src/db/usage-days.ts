/**
 * Usage days repository (DDL: migrations/006_usage_days.ts, 012_usage_days_process.ts): the counters of
 * engine/usage.ts, kept so that a restart keeps today's spend. One row per (scope, key, day, process): each
 * Tether process writes only its own rows (several processes on one database would otherwise overwrite each
 * other's counts), and readers sum a day's rows over processes. Counters are stored whole (JSON): a row is
 * rewritten with its current values, never incremented here.
 */
import type { Kysely } from 'kysely';
import { fromJson, inTransaction, toJson, type DbContext } from './context.ts';
import type { Database } from './schema.ts';

export interface UsageDaysTable {
  scope: string;
  key: string;
  day: string;
  process_id: string;
  instance_key: string | null;
  counters: string;
  updated_at: string;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type UsageDaysTables = { usage_days: UsageDaysTable };

/** The process id of rows stored before usage rows were per process (migration 012). */
export const BEFORE_PROCESSES = '';

function usageDb(ctx: DbContext): Kysely<Database & UsageDaysTables> {
  return ctx.db.withTables<UsageDaysTables>();
}

export interface StoredUsageDay<C> {
  scope: 'instance' | 'connection';
  key: string;
  day: string;
  instanceKey: string | undefined;
  counters: C;
}

export interface LoadedUsageDay<C> extends StoredUsageDay<C> {
  /** The process that wrote the row. */
  processId: string;
}

/** Writes `processId`'s rows (insert or replace their counters), in one transaction. */
export async function saveUsageDays<C>(
  ctx: DbContext,
  rows: StoredUsageDay<C>[],
  now: Date,
  processId: string = BEFORE_PROCESSES,
): Promise<void> {
  if (rows.length === 0) return;
  const at = now.toISOString();
  await inTransaction(ctx, async (tx) => {
    for (const r of rows) {
      const values = {
        scope: r.scope,
        key: r.key,
        day: r.day,
        process_id: processId,
        instance_key: r.instanceKey ?? null,
        counters: toJson(r.counters),
        updated_at: at,
      };
      await usageDb(tx)
        .insertInto('usage_days')
        .values(values)
        .onConflict((oc) =>
          oc.columns(['scope', 'key', 'day', 'process_id']).doUpdateSet({
            instance_key: values.instance_key,
            counters: values.counters,
            updated_at: at,
          }),
        )
        .execute();
    }
  });
}

/**
 * Rows of `fromDay` and later, each process's apart (sum them to read a day's usage), except those of
 * `exceptProcess` when given, and only those written at or after `updatedSince` (ISO) when given.
 */
export async function loadUsageDays<C>(
  ctx: DbContext,
  fromDay: string,
  opts: { exceptProcess?: string; updatedSince?: string } = {},
): Promise<LoadedUsageDay<C>[]> {
  let q = usageDb(ctx).selectFrom('usage_days').selectAll().where('day', '>=', fromDay);
  if (opts.exceptProcess !== undefined) q = q.where('process_id', '<>', opts.exceptProcess);
  if (opts.updatedSince !== undefined) q = q.where('updated_at', '>=', opts.updatedSince);
  const rows = await q.execute();
  return rows.map((r) => ({
    scope: r.scope === 'instance' ? 'instance' : 'connection',
    key: r.key,
    day: r.day,
    processId: r.process_id,
    instanceKey: r.instance_key ?? undefined,
    counters: fromJson<C>(r.counters) as C,
  }));
}

/** Deletes rows older than `beforeDay` (every process's). */
export async function pruneUsageDays(ctx: DbContext, beforeDay: string): Promise<void> {
  await usageDb(ctx).deleteFrom('usage_days').where('day', '<', beforeDay).execute();
}
