/**
 * Issue 5: syncs per connection and their run history (repository: ../syncs.ts, engine: src/engine/sync/).
 *
 * Portable DDL only, as 001_initial.ts: `text` and `integer` columns, ISO timestamps as text, JSON as text.
 *
 * - `syncs`: one row per (connection, sync name, variant). The schedule (`schedule_status`, per-connection
 *   `frequency`, `next_run_at`), the checkpoint saved after every page, a pending trigger (`pending_mode`),
 *   and the lease of the run in progress: `current_run_id` + `lease_owner` + `heartbeat_at`. A process may
 *   only claim a sync whose lease is free or whose heartbeat is older than the stale limit (a crashed
 *   process), with a conditional update: at most one run per (connection, sync), enforced by the database.
 * - `sync_runs`: the history (start, end, counts, API calls, error). A partial unique index allows at most
 *   one `RUNNING` run per sync, whatever the processes do.
 */
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('syncs')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('connection_pk', 'integer', (c) =>
      c.notNull().references('connections.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('variant', 'text', (c) => c.notNull().defaultTo('base'))
    // 'STARTED' | 'PAUSED' (pause/start routes).
    .addColumn('schedule_status', 'text', (c) => c.notNull().defaultTo('STARTED'))
    // Per-connection frequency (`every 30m`) and its length; null: the sync's default.
    .addColumn('frequency', 'text')
    .addColumn('frequency_seconds', 'integer')
    // JSON object or null (first run / after a reset).
    .addColumn('checkpoint', 'text')
    // JSON object: options handed to the sync (`io.options`).
    .addColumn('options', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('next_run_at', 'text')
    // A requested run: 'run' | 'reset' | 'reset_clear' (trigger), applied when the run starts.
    .addColumn('pending_mode', 'text')
    // 1 once a run finished successfully since creation or the last reset (later runs are INCREMENTAL).
    .addColumn('initial_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('current_run_id', 'integer')
    .addColumn('lease_owner', 'text')
    .addColumn('heartbeat_at', 'text')
    // The daily quota or budget is spent: runs wait until then.
    .addColumn('paused_until', 'text')
    .addColumn('last_run_id', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('syncs_connection_name_unique', ['connection_pk', 'name', 'variant'])
    .execute();
  await db.schema.createIndex('syncs_next_run').on('syncs').columns(['next_run_at']).execute();

  await db.schema
    .createTable('sync_runs')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('sync_id', 'integer', (c) => c.notNull().references('syncs.id').onDelete('cascade'))
    .addColumn('connection_pk', 'integer', (c) => c.notNull())
    // 'INITIAL' | 'INCREMENTAL'
    .addColumn('type', 'text', (c) => c.notNull())
    // Why it ran: 'schedule' | 'trigger' | 'reset' | 'reset_clear'
    .addColumn('reason', 'text', (c) => c.notNull())
    // 'RUNNING' | 'SUCCESS' | 'ERROR' | 'PAUSED' | 'CANCELLED'
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('added', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unchanged', 'integer', (c) => c.notNull().defaultTo(0))
    // JSON `{model: {added, updated, deleted}}`.
    .addColumn('results', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('api_calls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pages', 'integer', (c) => c.notNull().defaultTo(0))
    // Times the run was taken over after a crash or a restart.
    .addColumn('resumes', 'integer', (c) => c.notNull().defaultTo(0))
    // JSON checkpoint the run started from.
    .addColumn('checkpoint_from', 'text')
    // JSON `{type, message}`.
    .addColumn('error', 'text')
    .addColumn('paused_until', 'text')
    .execute();
  await db.schema.createIndex('sync_runs_sync').on('sync_runs').columns(['sync_id', 'id']).execute();
  await db.schema
    .createIndex('sync_runs_one_running')
    .on('sync_runs')
    .column('sync_id')
    .unique()
    .where(sql.ref('status'), '=', sql.lit('RUNNING'))
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  for (const table of ['sync_runs', 'syncs']) await db.schema.dropTable(table).ifExists().execute();
}
