/**
 * Syncs repository: the syncs of each connection (schedule, checkpoint, lease of the run in progress) and
 * their run history. DDL: migrations/004_syncs.ts. The engine that uses it: src/engine/sync/.
 *
 * One run per (connection, sync) at a time, across processes: a run starts only after {@link claimSync}
 * won a conditional update of the sync's lease (`lease_owner` free, or its `heartbeat_at` older than the
 * stale limit: the owner crashed). The owner renews `heartbeat_at` while it runs ({@link heartbeat}) and
 * every write of the run ({@link savePage}, {@link finishRun}) is conditioned on still owning the lease, so a
 * process that lost it (paused too long, taken over) cannot overwrite the new owner's work. A run left
 * `RUNNING` by a crash or a graceful stop is resumed (same run row, same counts) from the checkpoint by
 * whoever claims the sync next.
 *
 * Each sync exists as variant `base` for every connection ({@link ensureSyncs}); more variants of a sync
 * (Nango's sync variants) are rows of their own ({@link createVariant}, {@link deleteVariant}), with their
 * own schedule, checkpoint, options, lease and runs.
 */
import { sql, type Generated, type Kysely, type Selectable } from 'kysely';
import { fromJson, inTransaction, isPostgres, toJson, type DbContext } from './context.ts';
import { toIso, type Database } from './schema.ts';
import { deleteAllRecords, recordsDb } from './records.ts';
import type { IntegrationFunctionsTables } from './integration-functions.ts';

export type ScheduleStatus = 'STARTED' | 'PAUSED';
/** A requested run: plain, from an empty checkpoint, or from an empty checkpoint and an emptied cache. */
export type PendingMode = 'run' | 'reset' | 'reset_clear';
export type RunStatus = 'RUNNING' | 'SUCCESS' | 'ERROR' | 'PAUSED' | 'CANCELLED';
export type RunType = 'INITIAL' | 'INCREMENTAL';
export type RunReason = 'schedule' | 'trigger' | 'reset' | 'reset_clear';

export interface SyncsTable {
  id: Generated<number>;
  connection_pk: number;
  name: string;
  variant: string;
  schedule_status: string;
  frequency: string | null;
  frequency_seconds: number | null;
  checkpoint: string | null;
  /** Checkpoints a reset discarded, JSON array, until a run released them (migration 009). */
  discarded_checkpoints: string | null;
  options: string;
  next_run_at: string | null;
  pending_mode: string | null;
  initial_done: number;
  current_run_id: number | null;
  lease_owner: string | null;
  heartbeat_at: string | null;
  paused_until: string | null;
  last_run_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface SyncRunsTable {
  id: Generated<number>;
  sync_id: number;
  connection_pk: number;
  type: string;
  reason: string;
  status: string;
  started_at: string;
  ended_at: string | null;
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
  results: string;
  api_calls: number;
  pages: number;
  resumes: number;
  checkpoint_from: string | null;
  error: string | null;
  paused_until: string | null;
}

// A type alias (not an interface): `withTables` needs an index signature.
export type SyncsTables = { syncs: SyncsTable; sync_runs: SyncRunsTable };

export function syncsDb(ctx: DbContext): Kysely<Database & SyncsTables> {
  return ctx.db.withTables<SyncsTables>();
}

export type Checkpoint = Record<string, unknown>;

export interface ModelCounts {
  added: number;
  updated: number;
  deleted: number;
}

export interface Sync {
  id: number;
  connectionPk: number;
  name: string;
  variant: string;
  scheduleStatus: ScheduleStatus;
  /** Per-connection frequency (`every 30m`), or null for the sync's default. */
  frequency: string | null;
  frequencySeconds: number | null;
  checkpoint: Checkpoint | null;
  /**
   * Checkpoints discarded by resets and not released yet (what they hold at the provider, e.g. export
   * jobs, is given back by the next run: engine/sync/release.ts), oldest first.
   */
  discardedCheckpoints: Checkpoint[];
  options: Record<string, unknown>;
  nextRunAt: string | null;
  pendingMode: PendingMode | null;
  initialDone: boolean;
  currentRunId: number | null;
  leaseOwner: string | null;
  heartbeatAt: string | null;
  pausedUntil: string | null;
  lastRunId: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface SyncRunError {
  type: string;
  message: string;
}

export interface SyncRun {
  id: number;
  syncId: number;
  connectionPk: number;
  type: RunType;
  reason: RunReason;
  status: RunStatus;
  startedAt: string;
  endedAt: string | null;
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
  results: Record<string, ModelCounts>;
  apiCalls: number;
  pages: number;
  resumes: number;
  checkpointFrom: Checkpoint | null;
  error: SyncRunError | null;
  pausedUntil: string | null;
}

/** A sync with the connection it belongs to. */
export interface SyncWithConnection extends Sync {
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  environmentId: number;
}

/** The lease was taken over by another process (or the sync is gone): stop without writing. */
export class LeaseLostError extends Error {
  constructor(syncId: number) {
    super(`The lease of sync ${syncId} was lost.`);
    this.name = 'LeaseLostError';
  }
}

/** The sync's connection was deleted: the page is not written (the run ends CANCELLED). */
export class ConnectionDeletedError extends Error {
  constructor(syncId: number) {
    super(`The connection of sync ${syncId} was deleted.`);
    this.name = 'ConnectionDeletedError';
  }
}

/**
 * An id from a request, bound as `bigint`: PostgreSQL's ids are 4-byte integers, and a larger id (a valid
 * positive integer in the API) must match nothing rather than fail the query.
 */
export function idParam(id: number) {
  return sql<number>`cast(${id} as bigint)`;
}

/** The variant every sync of a connection has (Nango's default variant; no `::variant` in model names). */
export const BASE_VARIANT = 'base';

/** Runs kept per sync; older ones are deleted when a run ends. */
export const RUNS_KEPT_PER_SYNC = 100;

type SyncRow = Selectable<SyncsTable>;
type RunRow = Selectable<SyncRunsTable>;

function toSync(row: SyncRow): Sync {
  return {
    id: row.id,
    connectionPk: row.connection_pk,
    name: row.name,
    variant: row.variant,
    scheduleStatus: row.schedule_status === 'PAUSED' ? 'PAUSED' : 'STARTED',
    frequency: row.frequency,
    frequencySeconds: row.frequency_seconds,
    checkpoint: fromJson<Checkpoint>(row.checkpoint),
    discardedCheckpoints: fromJson<Checkpoint[]>(row.discarded_checkpoints) ?? [],
    options: fromJson<Record<string, unknown>>(row.options) ?? {},
    nextRunAt: row.next_run_at,
    pendingMode: (row.pending_mode as PendingMode | null) ?? null,
    initialDone: Number(row.initial_done) === 1,
    currentRunId: row.current_run_id,
    leaseOwner: row.lease_owner,
    heartbeatAt: row.heartbeat_at,
    pausedUntil: row.paused_until,
    lastRunId: row.last_run_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toRun(row: RunRow): SyncRun {
  return {
    id: row.id,
    syncId: row.sync_id,
    connectionPk: row.connection_pk,
    type: row.type as RunType,
    reason: row.reason as RunReason,
    status: row.status as RunStatus,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    added: Number(row.added),
    updated: Number(row.updated),
    deleted: Number(row.deleted),
    unchanged: Number(row.unchanged),
    results: fromJson<Record<string, ModelCounts>>(row.results) ?? {},
    apiCalls: Number(row.api_calls),
    pages: Number(row.pages),
    resumes: Number(row.resumes),
    checkpointFrom: fromJson<Checkpoint>(row.checkpoint_from),
    error: fromJson<SyncRunError>(row.error),
    pausedUntil: row.paused_until,
  };
}

const MODE_RANK: Record<PendingMode, number> = { run: 1, reset: 2, reset_clear: 3 };

/** The stronger of two requests (a reset wins over a plain run, clearing the cache over a reset). */
function strongest(a: PendingMode | null, b: PendingMode): PendingMode {
  return a !== null && MODE_RANK[a] >= MODE_RANK[b] ? a : b;
}

function changes(r: { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined): number {
  return Number(r?.numUpdatedRows ?? r?.numDeletedRows ?? 0n);
}

// ---------------------------------------------------------------------------------------------------
// Syncs

/**
 * A new sync (base or variant): started, due at `at` (its initial run), no options of its own; or created
 * `paused` (its integration does not auto-start it): its initial run waits for a start.
 */
function newSyncRow(connectionPk: number, name: string, variant: string, at: string, paused = false) {
  return {
    connection_pk: connectionPk,
    name,
    variant,
    schedule_status: paused ? ('PAUSED' as const) : ('STARTED' as const),
    options: '{}',
    next_run_at: at,
    initial_done: 0 as const,
    created_at: at,
    updated_at: at,
  };
}

/**
 * Creates the missing syncs of a connection (existing ones are left as they are), due at once: the
 * initial run. Those `paused()` names (asked only when some are missing: the answer costs a query) are
 * created with a paused schedule instead. Returns how many were created.
 */
export async function ensureSyncs(
  ctx: DbContext,
  connectionPk: number,
  names: string[],
  now: Date,
  paused?: () => Promise<ReadonlySet<string>>,
): Promise<number> {
  if (names.length === 0) return 0;
  const db = syncsDb(ctx);
  const existing = await db
    .selectFrom('syncs')
    .select('name')
    .where('connection_pk', '=', connectionPk)
    .where('variant', '=', 'base')
    .execute();
  const have = new Set(existing.map((r) => r.name));
  const missing = names.filter((n) => !have.has(n));
  if (missing.length === 0) return 0;
  const at = toIso(now);
  const notStarted = paused ? await paused() : new Set<string>();
  await db
    .insertInto('syncs')
    .values(missing.map((name) => newSyncRow(connectionPk, name, 'base', at, notStarted.has(name))))
    .onConflict((oc) => oc.columns(['connection_pk', 'name', 'variant']).doNothing())
    .execute();
  return missing.length;
}

/** Live connections of the given providers that have fewer syncs than `counts[provider]`. */
export async function connectionsMissingSyncs(
  ctx: DbContext,
  counts: Record<string, number>,
): Promise<{ id: number; provider: string }[]> {
  const providers = Object.keys(counts);
  if (providers.length === 0) return [];
  const rows = await syncsDb(ctx)
    .selectFrom('connections')
    // Base syncs only: a connection's variants must not hide a base sync it lacks.
    .leftJoin('syncs', (join) =>
      join.onRef('syncs.connection_pk', '=', 'connections.id').on('syncs.variant', '=', BASE_VARIANT),
    )
    .select(['connections.id', 'connections.provider', (eb) => eb.fn.count<number>('syncs.id').as('n')])
    .where('connections.deleted_at', 'is', null)
    .where('connections.provider', 'in', providers)
    .groupBy(['connections.id', 'connections.provider'])
    .execute();
  return rows
    .filter((r) => Number(r.n) < (counts[r.provider] ?? 0))
    .map((r) => ({ id: r.id, provider: r.provider }));
}

export async function getSync(ctx: DbContext, id: number): Promise<Sync | undefined> {
  const row = await syncsDb(ctx).selectFrom('syncs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toSync(row) : undefined;
}

/**
 * The syncs of an integration's live connections in an environment (one connection when `connectionId`
 * is given), ordered by connection then sync name.
 */
export async function listSyncs(
  ctx: DbContext,
  filter: { environmentId: number; providerConfigKey: string; connectionId?: string; connectionPk?: number },
): Promise<SyncWithConnection[]> {
  let q = syncsDb(ctx)
    .selectFrom('syncs')
    .innerJoin('connections', 'connections.id', 'syncs.connection_pk')
    .selectAll('syncs')
    .select([
      'connections.connection_id as c_connection_id',
      'connections.provider_config_key as c_provider_config_key',
      'connections.provider as c_provider',
      'connections.environment_id as c_environment_id',
    ])
    .where('connections.environment_id', '=', filter.environmentId)
    .where('connections.provider_config_key', '=', filter.providerConfigKey)
    .where('connections.deleted_at', 'is', null);
  if (filter.connectionId !== undefined) q = q.where('connections.connection_id', '=', filter.connectionId);
  if (filter.connectionPk !== undefined) q = q.where('connections.id', '=', filter.connectionPk);
  const rows = await q.orderBy('connections.id').orderBy('syncs.name').orderBy('syncs.variant').execute();
  return rows.map((r) => ({
    ...toSync(r),
    connectionId: r.c_connection_id,
    providerConfigKey: r.c_provider_config_key,
    provider: r.c_provider,
    environmentId: r.c_environment_id,
  }));
}

/** Every sync of a connection, deleted or not (what a deletion must wind down). */
export async function syncsOfConnection(ctx: DbContext, connectionPk: number): Promise<Sync[]> {
  const rows = await syncsDb(ctx)
    .selectFrom('syncs')
    .selectAll()
    .where('connection_pk', '=', connectionPk)
    .orderBy('id')
    .execute();
  return rows.map(toSync);
}

/** Discarded checkpoints kept for release at most (the newest: an older one's jobs are finished by now). */
const MAX_DISCARDED = 8;

/** `discarded` (JSON array or null) with `checkpoint` appended, when there is one. */
function withDiscarded(discarded: string | null, checkpoint: string | null): string | null {
  if (checkpoint === null) return discarded;
  const list = fromJson<Checkpoint[]>(discarded) ?? [];
  const next = fromJson<Checkpoint>(checkpoint);
  if (next !== null) list.push(next);
  return list.length === 0 ? null : toJson(list.slice(-MAX_DISCARDED));
}

/**
 * Forgets the first `count` discarded checkpoints of a sync (those a run released), if `owner` still
 * holds its lease; a reset that added more meanwhile keeps those.
 */
export async function forgetDiscarded(
  ctx: DbContext,
  opts: { syncId: number; owner: string; count: number },
): Promise<void> {
  if (opts.count <= 0) return;
  await inTransaction(ctx, async (tx) => {
    const db = syncsDb(tx);
    const row = await db
      .selectFrom('syncs')
      .select('discarded_checkpoints')
      .where('id', '=', opts.syncId)
      .where('lease_owner', '=', opts.owner)
      .executeTakeFirst();
    if (!row) return;
    const rest = (fromJson<Checkpoint[]>(row.discarded_checkpoints) ?? []).slice(opts.count);
    await db
      .updateTable('syncs')
      .set({ discarded_checkpoints: rest.length === 0 ? null : toJson(rest) })
      .where('id', '=', opts.syncId)
      .execute();
  });
}

/**
 * Asks for a run as soon as possible. A reset (`reset`, `reset_clear`) of a sync with no run in progress is
 * applied at once (checkpoint cleared, the next run is INITIAL; `reset_clear` also deletes the records of
 * `models`); otherwise it is applied when the next run starts (a run in progress finishes first).
 */
export async function requestRun(
  ctx: DbContext,
  syncId: number,
  mode: PendingMode,
  now: Date,
  models: string[],
): Promise<void> {
  await inTransaction(ctx, async (tx) => {
    const db = syncsDb(tx);
    const row = await db.selectFrom('syncs').selectAll().where('id', '=', syncId).executeTakeFirst();
    if (!row) return;
    const at = toIso(now);
    if (mode !== 'run' && row.current_run_id === null) {
      const r = await db
        .updateTable('syncs')
        .set({
          checkpoint: null,
          discarded_checkpoints: withDiscarded(row.discarded_checkpoints, row.checkpoint),
          initial_done: 0,
          // Kept: the run that follows is a reset run (resetting again when it starts is harmless).
          pending_mode: strongest(row.pending_mode as PendingMode | null, mode),
          updated_at: at,
        })
        .where('id', '=', syncId)
        .where('current_run_id', 'is', null)
        .executeTakeFirst();
      if (changes(r) === 1) {
        if (mode === 'reset_clear') {
          for (const model of models) await deleteAllRecords(tx, { connectionPk: row.connection_pk, model });
        }
        return;
      }
    }
    await db
      .updateTable('syncs')
      .set({ pending_mode: strongest(row.pending_mode as PendingMode | null, mode), updated_at: at })
      .where('id', '=', syncId)
      .execute();
  });
}

/**
 * Pause or start schedules. Starting a paused schedule makes it due at once (Nango: "the sync will
 * execute immediately"); starting a started one changes nothing. Returns how many changed.
 */
export async function setScheduleStatus(
  ctx: DbContext,
  syncIds: number[],
  status: ScheduleStatus,
  now: Date,
): Promise<number> {
  if (syncIds.length === 0) return 0;
  const at = toIso(now);
  const r = await syncsDb(ctx)
    .updateTable('syncs')
    .set(
      status === 'STARTED'
        ? { schedule_status: 'STARTED', next_run_at: at, updated_at: at }
        : { schedule_status: 'PAUSED', updated_at: at },
    )
    .where('id', 'in', syncIds)
    .where('schedule_status', '<>', status)
    .executeTakeFirst();
  return changes(r);
}

/**
 * Sets (or with null clears) a sync's per-connection frequency. An idle sync's next run moves to its last
 * run's end plus the new interval (not before now).
 */
export async function setFrequency(
  ctx: DbContext,
  syncId: number,
  frequency: { text: string; seconds: number } | null,
  effectiveSeconds: number,
  now: Date,
): Promise<void> {
  await inTransaction(ctx, async (tx) => {
    const db = syncsDb(tx);
    const row = await db.selectFrom('syncs').selectAll().where('id', '=', syncId).executeTakeFirst();
    if (!row) return;
    let next = row.next_run_at;
    const paused = row.paused_until !== null && row.paused_until > toIso(now);
    if (row.current_run_id === null && row.last_run_id !== null && !paused && row.pending_mode === null) {
      const last = await db
        .selectFrom('sync_runs')
        .select('ended_at')
        .where('id', '=', row.last_run_id)
        .executeTakeFirst();
      const base = last?.ended_at ? Date.parse(last.ended_at) : now.getTime();
      next = toIso(new Date(Math.max(now.getTime(), base + effectiveSeconds * 1000)));
    }
    await db
      .updateTable('syncs')
      .set({
        frequency: frequency?.text ?? null,
        frequency_seconds: frequency?.seconds ?? null,
        next_run_at: next,
        updated_at: toIso(now),
      })
      .where('id', '=', syncId)
      .execute();
  });
}

export async function setSyncOptions(
  ctx: DbContext,
  syncId: number,
  options: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await syncsDb(ctx)
    .updateTable('syncs')
    .set({ options: toJson(options), updated_at: toIso(now) })
    .where('id', '=', syncId)
    .execute();
}

// ---------------------------------------------------------------------------------------------------
// Variants (Nango's sync variants: `POST/DELETE /sync/:name/variant/:variant`)

/** One sync of a connection by name and variant. */
export async function getSyncByName(
  ctx: DbContext,
  opts: { connectionPk: number; name: string; variant: string },
): Promise<Sync | undefined> {
  const row = await syncsDb(ctx)
    .selectFrom('syncs')
    .selectAll()
    .where('connection_pk', '=', opts.connectionPk)
    .where('name', '=', opts.name)
    .where('variant', '=', opts.variant)
    .executeTakeFirst();
  return row ? toSync(row) : undefined;
}

/**
 * On PostgreSQL, locks the connection's row until the transaction ends (SQLite runs one writer at a time
 * anyway), so that creating a variant and purging the records of a deleted one never interleave. False
 * when the connection is deleted.
 */
async function lockLiveConnection(tx: DbContext, connectionPk: number): Promise<boolean> {
  let q = syncsDb(tx)
    .selectFrom('connections')
    .select('id')
    .where('id', '=', connectionPk)
    .where('deleted_at', 'is', null);
  if (isPostgres(tx)) q = q.forUpdate();
  return (await q.executeTakeFirst()) !== undefined;
}

export type CreateVariantResult =
  { kind: 'created'; sync: Sync } | { kind: 'exists'; sync: Sync } | { kind: 'connection_deleted' };

/**
 * Creates variant `variant` of sync `name` for a connection: a sync row of its own (schedule started and
 * due at once, i.e. its initial run, as Nango schedules a new variant at once; empty checkpoint; no
 * options, no frequency of its own: the sync's defaults), so it runs, pauses, resets and keeps its history
 * independently of the base sync. Records a deleted variant of the same name left behind (its purge
 * interrupted by a stop or a crash) are deleted first (`storedModels`: the variant's `Model::variant`
 * names), so a new variant never starts with an old cache.
 */
export async function createVariant(
  ctx: DbContext,
  opts: { connectionPk: number; name: string; variant: string; now: Date; storedModels: string[] },
): Promise<CreateVariantResult> {
  if (opts.variant === BASE_VARIANT) throw new Error('The base variant is created with the connection.');
  return inTransaction(ctx, async (tx) => {
    if (!(await lockLiveConnection(tx, opts.connectionPk))) return { kind: 'connection_deleted' };
    const existing = await getSyncByName(tx, opts);
    if (existing) return { kind: 'exists', sync: existing };
    if (opts.storedModels.length > 0) {
      await recordsDb(tx)
        .deleteFrom('records')
        .where('connection_pk', '=', opts.connectionPk)
        .where('model', 'in', opts.storedModels)
        .execute();
    }
    const at = toIso(opts.now);
    const row = await syncsDb(tx)
      .insertInto('syncs')
      .values(newSyncRow(opts.connectionPk, opts.name, opts.variant, at))
      .returningAll()
      .executeTakeFirstOrThrow();
    return { kind: 'created', sync: toSync(row) };
  });
}

/**
 * Deletes a variant's sync row; its runs and their logs go with it (foreign keys `on delete cascade`).
 * A run of it in progress loses its lease at once: its next page, heartbeat or end finds no row and
 * writes nothing (see {@link savePage}). Its records are left to {@link purgeVariantRecords} (bounded
 * transactions: a variant may hold millions). Returns the deleted sync, or undefined when there is none.
 */
export async function deleteVariant(
  ctx: DbContext,
  opts: { connectionPk: number; name: string; variant: string },
): Promise<Sync | undefined> {
  if (opts.variant === BASE_VARIANT) throw new Error('The base variant cannot be deleted.');
  return inTransaction(ctx, async (tx) => {
    const sync = await getSyncByName(tx, opts);
    if (!sync) return undefined;
    await syncsDb(tx).deleteFrom('syncs').where('id', '=', sync.id).execute();
    return sync;
  });
}

/**
 * Deletes up to `limit` records of a deleted variant (`storedModels`: its `Model::variant` names), in one
 * transaction. Returns how many went: 0 once none is left, or when the variant exists again (created anew
 * meanwhile: {@link createVariant} already cleared what was left, and what is there now is the new
 * variant's). The caller repeats until 0, like the purge of deleted connections (engine/records-purge.ts).
 */
export async function purgeVariantRecords(
  ctx: DbContext,
  opts: { connectionPk: number; name: string; variant: string; storedModels: string[]; limit: number },
): Promise<number> {
  if (opts.variant === BASE_VARIANT || opts.storedModels.length === 0) return 0;
  return inTransaction(ctx, async (tx) => {
    // A deleted connection's records are purged by records-purge.ts; going on here is harmless.
    await lockLiveConnection(tx, opts.connectionPk);
    if (await getSyncByName(tx, opts)) return 0;
    const r = await recordsDb(tx)
      .deleteFrom('records')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('records')
          .select('id')
          .where('connection_pk', '=', opts.connectionPk)
          .where('model', 'in', opts.storedModels)
          .limit(Math.max(1, Math.floor(opts.limit))),
      )
      .executeTakeFirst();
    return changes(r);
  });
}

// ---------------------------------------------------------------------------------------------------
// Scheduling and leases

export interface DueSync {
  id: number;
  connectionPk: number;
  provider: string;
  name: string;
  variant: string;
  /** The connection's environment and integration (which name the sync's settings). */
  environmentId: number;
  providerConfigKey: string;
}

/**
 * Syncs of live connections that may run now, oldest due first: a run to resume (left `RUNNING` by a stopped
 * or crashed process), a requested run, or a started schedule that is due and not paused by a spent
 * quota. Only syncs whose lease is free or stale (heartbeat before `staleBefore`).
 */
export async function listDueSyncs(
  ctx: DbContext,
  opts: { now: Date; staleBefore: Date; limit: number; exclude?: number[]; providers: string[] },
): Promise<DueSync[]> {
  if (opts.providers.length === 0 || opts.limit <= 0) return [];
  const now = toIso(opts.now);
  const stale = toIso(opts.staleBefore);
  let q = ctx.db
    .withTables<SyncsTables & IntegrationFunctionsTables>()
    .selectFrom('syncs')
    .innerJoin('connections', 'connections.id', 'syncs.connection_pk')
    .select([
      'syncs.id',
      'syncs.connection_pk',
      'connections.provider',
      'syncs.name',
      'syncs.variant',
      'connections.environment_id',
      'connections.provider_config_key',
    ])
    .where('connections.deleted_at', 'is', null)
    .where('connections.provider', 'in', opts.providers)
    // A sync disabled for its integration (db/integration-functions.ts) never runs. Filtered here, not
    // after the query: a disabled sync stays due, and would otherwise fill the `limit` tick after tick.
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('integration_functions')
            .innerJoin('integrations', 'integrations.id', 'integration_functions.integration_id')
            .select('integration_functions.name')
            .whereRef('integrations.environment_id', '=', 'connections.environment_id')
            .whereRef('integrations.unique_key', '=', 'connections.provider_config_key')
            .where('integration_functions.type', '=', 'sync')
            .whereRef('integration_functions.name', '=', 'syncs.name')
            .where('integration_functions.enabled', '=', 0),
        ),
      ),
    )
    .where((eb) =>
      eb.or([
        eb('syncs.lease_owner', 'is', null),
        eb('syncs.heartbeat_at', 'is', null),
        eb('syncs.heartbeat_at', '<', stale),
      ]),
    )
    .where((eb) =>
      eb.or([
        eb('syncs.current_run_id', 'is not', null),
        eb('syncs.pending_mode', 'is not', null),
        eb.and([
          eb('syncs.schedule_status', '=', 'STARTED'),
          eb('syncs.next_run_at', '<=', now),
          eb.or([eb('syncs.paused_until', 'is', null), eb('syncs.paused_until', '<=', now)]),
        ]),
      ]),
    );
  if (opts.exclude && opts.exclude.length > 0) q = q.where('syncs.id', 'not in', opts.exclude);
  const rows = await q.orderBy('syncs.next_run_at').orderBy('syncs.id').limit(opts.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    connectionPk: r.connection_pk,
    provider: r.provider,
    name: r.name,
    variant: r.variant,
    environmentId: r.environment_id,
    providerConfigKey: r.provider_config_key,
  }));
}

export interface Claim {
  sync: Sync;
  run: SyncRun;
  /** True when the run was left `RUNNING` (crash, restart) and is continued from its checkpoint. */
  resumed: boolean;
}

/**
 * Takes the lease of a sync and starts (or resumes) its run, in one transaction. Null when someone else
 * holds a live lease. A pending reset cancels a run left in progress and starts over from an empty
 * checkpoint (`reset_clear` also deletes the records of `models`).
 */
export async function claimSync(
  ctx: DbContext,
  opts: { syncId: number; owner: string; now: Date; staleBefore: Date; models: string[] },
): Promise<Claim | null> {
  return inTransaction(ctx, async (tx) => {
    const db = syncsDb(tx);
    const at = toIso(opts.now);
    const won = await db
      .updateTable('syncs')
      .set({ lease_owner: opts.owner, heartbeat_at: at })
      .where('id', '=', opts.syncId)
      .where((eb) =>
        eb.or([
          eb('lease_owner', 'is', null),
          eb('heartbeat_at', 'is', null),
          eb('heartbeat_at', '<', toIso(opts.staleBefore)),
        ]),
      )
      .executeTakeFirst();
    if (changes(won) !== 1) return null;
    const row = await db
      .selectFrom('syncs')
      .selectAll()
      .where('id', '=', opts.syncId)
      .executeTakeFirstOrThrow();
    const mode = (row.pending_mode as PendingMode | null) ?? null;
    const reset = mode === 'reset' || mode === 'reset_clear';
    if (row.current_run_id !== null) {
      const open = await db
        .selectFrom('sync_runs')
        .selectAll()
        .where('id', '=', row.current_run_id)
        .where('status', '=', 'RUNNING')
        .executeTakeFirst();
      if (open && !reset) {
        await db
          .updateTable('sync_runs')
          .set({ resumes: sql`resumes + 1` })
          .where('id', '=', open.id)
          .execute();
        return {
          sync: toSync(row),
          run: { ...toRun(open), resumes: Number(open.resumes) + 1 },
          resumed: true,
        };
      }
      if (open) {
        await db
          .updateTable('sync_runs')
          .set({
            status: 'CANCELLED',
            ended_at: at,
            error: toJson({ type: 'reset', message: 'Cancelled by a reset (trigger with reset).' }),
          })
          .where('id', '=', open.id)
          .execute();
      }
    }
    if (mode === 'reset_clear') {
      for (const model of opts.models) await deleteAllRecords(tx, { connectionPk: row.connection_pk, model });
    }
    const checkpoint = reset ? null : row.checkpoint;
    const initialDone = reset ? 0 : Number(row.initial_done);
    const reason: RunReason = mode === null ? 'schedule' : mode === 'run' ? 'trigger' : mode;
    const inserted = await db
      .insertInto('sync_runs')
      .values({
        sync_id: row.id,
        connection_pk: row.connection_pk,
        type: initialDone === 1 ? 'INCREMENTAL' : 'INITIAL',
        reason,
        status: 'RUNNING',
        started_at: at,
        results: '{}',
        checkpoint_from: checkpoint,
        added: 0,
        updated: 0,
        deleted: 0,
        unchanged: 0,
        api_calls: 0,
        pages: 0,
        resumes: 0,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const updated = await db
      .updateTable('syncs')
      .set({
        current_run_id: inserted.id,
        pending_mode: null,
        paused_until: null,
        checkpoint,
        ...(reset ? { discarded_checkpoints: withDiscarded(row.discarded_checkpoints, row.checkpoint) } : {}),
        initial_done: initialDone,
        updated_at: at,
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { sync: toSync(updated), run: toRun(inserted), resumed: false };
  });
}

/** Renews the lease; false when it was lost (taken over, or the sync deleted). */
export async function heartbeat(ctx: DbContext, syncId: number, owner: string, now: Date): Promise<boolean> {
  const r = await syncsDb(ctx)
    .updateTable('syncs')
    .set({ heartbeat_at: toIso(now) })
    .where('id', '=', syncId)
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return changes(r) === 1;
}

/** What one page changed, by model. */
export type PageCounts = Record<string, ModelCounts & { unchanged: number }>;

/**
 * One page of a run, atomically: the lease is checked (and renewed), `write` stores the records, the
 * checkpoint that follows them is saved, and the run's counts grow. Throws {@link ConnectionDeletedError}
 * (nothing written) when the sync's connection was deleted, {@link LeaseLostError} (nothing
 * written) when the lease was lost.
 */
export async function savePage(
  ctx: DbContext,
  opts: {
    syncId: number;
    runId: number;
    owner: string;
    now: Date;
    checkpoint: Checkpoint;
    apiCalls: number;
  },
  write: (tx: DbContext) => Promise<PageCounts>,
): Promise<PageCounts> {
  return inTransaction(ctx, async (tx) => {
    const db = syncsDb(tx);
    const at = toIso(opts.now);
    const owned = await db
      .updateTable('syncs')
      .set({ checkpoint: toJson(opts.checkpoint), heartbeat_at: at, updated_at: at })
      .where('id', '=', opts.syncId)
      .where('lease_owner', '=', opts.owner)
      .where('current_run_id', '=', opts.runId)
      .returning('connection_pk')
      .executeTakeFirst();
    if (!owned) throw new LeaseLostError(opts.syncId);
    // A deleted connection gets no more records. On PostgreSQL the shared row lock makes a concurrent
    // delete wait for this page (or this page see the committed delete); SQLite runs one writer at a time.
    let live = db
      .selectFrom('connections')
      .select('id')
      .where('id', '=', owned.connection_pk)
      .where('deleted_at', 'is', null);
    if (isPostgres(tx)) live = live.forShare();
    if (!(await live.executeTakeFirst())) throw new ConnectionDeletedError(opts.syncId);
    const counts = await write(tx);
    const run = await db
      .selectFrom('sync_runs')
      .select('results')
      .where('id', '=', opts.runId)
      .executeTakeFirstOrThrow();
    const results = fromJson<Record<string, ModelCounts>>(run.results) ?? {};
    let added = 0;
    let updated = 0;
    let deleted = 0;
    let unchanged = 0;
    for (const [model, c] of Object.entries(counts)) {
      const cur = results[model] ?? { added: 0, updated: 0, deleted: 0 };
      results[model] = {
        added: cur.added + c.added,
        updated: cur.updated + c.updated,
        deleted: cur.deleted + c.deleted,
      };
      added += c.added;
      updated += c.updated;
      deleted += c.deleted;
      unchanged += c.unchanged;
    }
    await db
      .updateTable('sync_runs')
      .set({
        added: sql`added + ${added}`,
        updated: sql`updated + ${updated}`,
        deleted: sql`deleted + ${deleted}`,
        unchanged: sql`unchanged + ${unchanged}`,
        results: toJson(results),
        api_calls: opts.apiCalls,
        pages: sql`pages + 1`,
      })
      .where('id', '=', opts.runId)
      .execute();
    return counts;
  });
}

/** Records the API calls of a run so far (at the end, or before a pause/failure). */
export async function setRunApiCalls(ctx: DbContext, runId: number, apiCalls: number): Promise<void> {
  await syncsDb(ctx).updateTable('sync_runs').set({ api_calls: apiCalls }).where('id', '=', runId).execute();
}

/**
 * Ends a run and frees the lease, if still owned (false otherwise: nothing written). The next run is due
 * at `pausedUntil` for a paused run, at once when a run was requested meanwhile, else after the interval
 * (the per-connection frequency as it is now, or `defaultIntervalSeconds`).
 * Old runs beyond {@link RUNS_KEPT_PER_SYNC} are deleted.
 */
export async function finishRun(
  ctx: DbContext,
  opts: {
    syncId: number;
    runId: number;
    owner: string;
    now: Date;
    status: Exclude<RunStatus, 'RUNNING'>;
    apiCalls: number;
    /** The sync's default interval (its per-connection frequency, when set, wins). */
    defaultIntervalSeconds: number;
    error?: SyncRunError;
    pausedUntil?: Date;
  },
): Promise<boolean> {
  return inTransaction(ctx, async (tx) => {
    const db = syncsDb(tx);
    const row = await db
      .selectFrom('syncs')
      .select(['pending_mode', 'initial_done', 'lease_owner', 'current_run_id', 'frequency_seconds'])
      .where('id', '=', opts.syncId)
      .executeTakeFirst();
    if (!row || row.lease_owner !== opts.owner || row.current_run_id !== opts.runId) return false;
    const at = toIso(opts.now);
    let next: string;
    if (opts.status === 'PAUSED' && opts.pausedUntil) next = toIso(opts.pausedUntil);
    else if (row.pending_mode !== null) next = at;
    else {
      const interval = row.frequency_seconds ?? opts.defaultIntervalSeconds;
      next = toIso(new Date(opts.now.getTime() + interval * 1000));
    }
    await db
      .updateTable('syncs')
      .set({
        current_run_id: null,
        lease_owner: null,
        heartbeat_at: null,
        last_run_id: opts.runId,
        next_run_at: next,
        paused_until: opts.status === 'PAUSED' && opts.pausedUntil ? toIso(opts.pausedUntil) : null,
        initial_done: opts.status === 'SUCCESS' ? 1 : Number(row.initial_done),
        updated_at: at,
      })
      .where('id', '=', opts.syncId)
      .execute();
    await db
      .updateTable('sync_runs')
      .set({
        status: opts.status,
        ended_at: at,
        api_calls: opts.apiCalls,
        error: opts.error ? toJson(opts.error) : null,
        paused_until: opts.pausedUntil ? toIso(opts.pausedUntil) : null,
      })
      .where('id', '=', opts.runId)
      .execute();
    const keep = await db
      .selectFrom('sync_runs')
      .select('id')
      .where('sync_id', '=', opts.syncId)
      .orderBy('id', 'desc')
      .offset(RUNS_KEPT_PER_SYNC - 1)
      .limit(1)
      .executeTakeFirst();
    if (keep) {
      await db
        .deleteFrom('sync_runs')
        .where('sync_id', '=', opts.syncId)
        .where('id', '<', keep.id)
        .where('status', '<>', 'RUNNING')
        .execute();
    }
    return true;
  });
}

/**
 * Frees the lease without ending the run (graceful stop): the run stays `RUNNING` and the next claim
 * resumes it from its checkpoint at once.
 */
export async function releaseLease(ctx: DbContext, syncId: number, owner: string): Promise<void> {
  await syncsDb(ctx)
    .updateTable('syncs')
    .set({ lease_owner: null, heartbeat_at: null })
    .where('id', '=', syncId)
    .where('lease_owner', '=', owner)
    .execute();
}

// ---------------------------------------------------------------------------------------------------
// Runs

export async function getRun(ctx: DbContext, id: number): Promise<SyncRun | undefined> {
  const row = await syncsDb(ctx)
    .selectFrom('sync_runs')
    .selectAll()
    .where('id', '=', idParam(id))
    .executeTakeFirst();
  return row ? toRun(row) : undefined;
}

/** Runs of the given syncs, newest first; `beforeId` pages back. */
export async function listRuns(
  ctx: DbContext,
  opts: { syncIds: number[]; limit: number; beforeId?: number },
): Promise<SyncRun[]> {
  if (opts.syncIds.length === 0) return [];
  let q = syncsDb(ctx).selectFrom('sync_runs').selectAll().where('sync_id', 'in', opts.syncIds);
  if (opts.beforeId !== undefined) q = q.where('id', '<', idParam(opts.beforeId));
  const rows = await q.orderBy('id', 'desc').limit(opts.limit).execute();
  return rows.map(toRun);
}

/** Runs by id (e.g. the current and the last run of several syncs). */
export async function getRunsByIds(ctx: DbContext, ids: number[]): Promise<Map<number, SyncRun>> {
  const unique = [...new Set(ids)];
  const out = new Map<number, SyncRun>();
  if (unique.length === 0) return out;
  const rows = await syncsDb(ctx).selectFrom('sync_runs').selectAll().where('id', 'in', unique).execute();
  for (const row of rows) out.set(row.id, toRun(row));
  return out;
}
