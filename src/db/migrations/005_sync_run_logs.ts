/**
 * Issue 6: the log of each sync run, readable through the API (`GET /sync/runs/:runId/logs`).
 *
 * What a sync model says while it runs (`io.log`: "the subscription answers 1035, falling back to…",
 * "export job failed: window split") and how the run ended, so that a user sees why a run took the path
 * it took without access to Tether's process logs. Rows go with their run (cascade: runs are pruned to
 * the last 100 per sync, and go with their sync and connection). Portable DDL as 001.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('sync_run_logs')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('run_id', 'integer', (c) => c.notNull().references('sync_runs.id').onDelete('cascade'))
    .addColumn('at', 'text', (c) => c.notNull())
    // 'info' | 'warn' | 'error'
    .addColumn('level', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    // JSON object or null.
    .addColumn('data', 'text')
    .execute();
  await db.schema.createIndex('sync_run_logs_run').on('sync_run_logs').columns(['run_id', 'id']).execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('sync_run_logs').ifExists().execute();
}
