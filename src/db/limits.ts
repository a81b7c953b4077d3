/**
 * Limits repository: the daily budget of a connection and the limits of a provider instance, as set
 * through `PATCH /connections/{id}/limits`, so they survive a restart (src/engine/limits-store.ts
 * applies them to traffic control at startup). DDL: migrations/002_limits.ts.
 *
 * A missing row (or a `null` column) means "the provider's default".
 */
import type { Kysely } from 'kysely';
import { nowOf, type DbContext } from './context.ts';
import { toIso, type Database } from './schema.ts';

export interface ConnectionLimitsTable {
  connection_pk: number;
  daily_budget: number | null;
  updated_at: string;
}

export interface InstanceLimitsTable {
  provider: string;
  instance_key: string;
  rate_max: number | null;
  rate_window_ms: number | null;
  max_in_flight: number | null;
  daily_quota: number | null;
  updated_at: string;
}

export type LimitsTables = {
  connection_limits: ConnectionLimitsTable;
  instance_limits: InstanceLimitsTable;
};

/** The database with this module's tables (kept out of schema.ts, which other work edits). */
export function limitsDb(ctx: DbContext): Kysely<Database & LimitsTables> {
  return ctx.db.withTables<LimitsTables>();
}

/** Instance limits set through the API; `undefined` keeps the provider's default. */
export interface StoredInstanceLimits {
  rateMax?: number;
  rateWindowMs?: number;
  maxInFlight?: number;
  dailyQuota?: number;
}

export interface StoredInstance {
  provider: string;
  instanceKey: string;
  limits: StoredInstanceLimits;
}

export interface StoredBudget {
  connectionPk: number;
  provider: string;
  dailyBudget: number;
}

// -- connections ----------------------------------------------------------------------------------

export async function getConnectionBudget(ctx: DbContext, connectionPk: number): Promise<number | null> {
  const row = await limitsDb(ctx)
    .selectFrom('connection_limits')
    .select('daily_budget')
    .where('connection_pk', '=', connectionPk)
    .executeTakeFirst();
  return row?.daily_budget ?? null;
}

/** Set (or with `null` clear) a connection's daily budget. */
export async function setConnectionBudget(
  ctx: DbContext,
  connectionPk: number,
  dailyBudget: number | null,
): Promise<void> {
  const db = limitsDb(ctx);
  if (dailyBudget === null) {
    await db.deleteFrom('connection_limits').where('connection_pk', '=', connectionPk).execute();
    return;
  }
  const now = toIso(nowOf(ctx));
  await db
    .insertInto('connection_limits')
    .values({ connection_pk: connectionPk, daily_budget: dailyBudget, updated_at: now })
    .onConflict((oc) =>
      oc.column('connection_pk').doUpdateSet({ daily_budget: dailyBudget, updated_at: now }),
    )
    .execute();
}

/** Every stored budget of a live connection, with the connection's provider. */
export async function listConnectionBudgets(ctx: DbContext): Promise<StoredBudget[]> {
  const rows = await limitsDb(ctx)
    .selectFrom('connection_limits')
    .innerJoin('connections', 'connections.id', 'connection_limits.connection_pk')
    .select(['connection_limits.connection_pk', 'connection_limits.daily_budget', 'connections.provider'])
    .where('connections.deleted_at', 'is', null)
    .where('connection_limits.daily_budget', 'is not', null)
    .execute();
  return rows.map((r) => ({
    connectionPk: r.connection_pk,
    provider: r.provider,
    dailyBudget: r.daily_budget!,
  }));
}

// -- instances ------------------------------------------------------------------------------------

function toLimits(
  row: Pick<InstanceLimitsTable, 'rate_max' | 'rate_window_ms' | 'max_in_flight' | 'daily_quota'>,
) {
  const out: StoredInstanceLimits = {};
  if (row.rate_max !== null) out.rateMax = row.rate_max;
  if (row.rate_window_ms !== null) out.rateWindowMs = row.rate_window_ms;
  if (row.max_in_flight !== null) out.maxInFlight = row.max_in_flight;
  if (row.daily_quota !== null) out.dailyQuota = row.daily_quota;
  return out;
}

export async function getInstanceLimits(
  ctx: DbContext,
  provider: string,
  instanceKey: string,
): Promise<StoredInstanceLimits> {
  const row = await limitsDb(ctx)
    .selectFrom('instance_limits')
    .selectAll()
    .where('provider', '=', provider)
    .where('instance_key', '=', instanceKey)
    .executeTakeFirst();
  return row ? toLimits(row) : {};
}

/** Replace an instance's stored limits (`{}` removes the row: back to the defaults). */
export async function setInstanceLimits(
  ctx: DbContext,
  provider: string,
  instanceKey: string,
  limits: StoredInstanceLimits,
): Promise<void> {
  const db = limitsDb(ctx);
  const cols = {
    rate_max: limits.rateMax ?? null,
    rate_window_ms: limits.rateWindowMs ?? null,
    max_in_flight: limits.maxInFlight ?? null,
    daily_quota: limits.dailyQuota ?? null,
  };
  if (Object.values(cols).every((v) => v === null)) {
    await db
      .deleteFrom('instance_limits')
      .where('provider', '=', provider)
      .where('instance_key', '=', instanceKey)
      .execute();
    return;
  }
  const now = toIso(nowOf(ctx));
  await db
    .insertInto('instance_limits')
    .values({ provider, instance_key: instanceKey, ...cols, updated_at: now })
    .onConflict((oc) => oc.columns(['provider', 'instance_key']).doUpdateSet({ ...cols, updated_at: now }))
    .execute();
}

export async function listInstanceLimits(ctx: DbContext): Promise<StoredInstance[]> {
  const rows = await limitsDb(ctx).selectFrom('instance_limits').selectAll().execute();
  return rows.map((r) => ({ provider: r.provider, instanceKey: r.instance_key, limits: toLimits(r) }));
}
