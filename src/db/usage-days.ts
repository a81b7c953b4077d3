/**
 * Usage days repository (DDL: migrations/006_usage_days.ts): the counters of engine/usage.ts, kept so
 * that a restart keeps today's spend. Counters are stored whole (JSON): a row is rewritten with its
 * current values, never incremented here.
 */
import type { Kysely } from 'kysely';
import { fromJson, inTransaction, toJson, type DbContext } from './context.ts';
import type { Database } from './schema.ts';

export interface UsageDaysTable {
  scope: string;
  key: string;
  day: string;
  instance_key: string | null;
  counters: string;
  updated_at: string;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type UsageDaysTables = { usage_days: UsageDaysTable };

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

/** Writes rows (insert or replace their counters), in one transaction. */
export async function saveUsageDays<C>(ctx: DbContext, rows: StoredUsageDay<C>[], now: Date): Promise<void> {
  if (rows.length === 0) return;
  const at = now.toISOString();
  await inTransaction(ctx, async (tx) => {
    for (const r of rows) {
      const values = {
        scope: r.scope,
        key: r.key,
        day: r.day,
        instance_key: r.instanceKey ?? null,
        counters: toJson(r.counters),
        updated_at: at,
      };
      await usageDb(tx)
        .insertInto('usage_days')
        .values(values)
        .onConflict((oc) =>
          oc.columns(['scope', 'key', 'day']).doUpdateSet({
            instance_key: values.instance_key,
            counters: values.counters,
            updated_at: at,
          }),
        )
        .execute();
    }
  });
}

/** Rows of `fromDay` and later. */
export async function loadUsageDays<C>(ctx: DbContext, fromDay: string): Promise<StoredUsageDay<C>[]> {
  const rows = await usageDb(ctx).selectFrom('usage_days').selectAll().where('day', '>=', fromDay).execute();
  return rows.map((r) => ({
    scope: r.scope === 'instance' ? 'instance' : 'connection',
    key: r.key,
    day: r.day,
    instanceKey: r.instance_key ?? undefined,
    counters: fromJson<C>(r.counters) as C,
  }));
}

/** Deletes rows older than `beforeDay`. */
export async function pruneUsageDays(ctx: DbContext, beforeDay: string): Promise<void> {
  await usageDb(ctx).deleteFrom('usage_days').where('day', '<', beforeDay).execute();
}
