/**
 * Async action runs (`POST /action/trigger` with `X-Async: true`; repository: ../action-runs.ts, engine:
 * src/engine/actions/). A run is written before the 202 answer and executed by a background runner, in
 * creation order per environment, one at a time per environment; `GET /action/:id` reads its result.
 *
 * Portable DDL as 001: `text` and `integer` columns, ISO timestamps as text, JSON as text.
 * - `seq`: the creation order (an integer key: two runs created in the same millisecond keep their order);
 *   `id`: the public uuid (`/action/<id>`).
 * - `claimed_until` + `lease_owner`: the process executing a `running` row holds it until then and renews
 *   it while it runs; a row whose lease ran out (a crash) is taken again by any process.
 * - `input` is kept (the run needs it) until the row is pruned, 7 days after its creation.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('action_runs')
    .addColumn('seq', 'integer', ctx.idColumn)
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('environment_id', 'integer', (c) => c.notNull())
    .addColumn('connection_pk', 'integer', (c) =>
      c.notNull().references('connections.id').onDelete('cascade'),
    )
    // For the webhook and logs (the connection may be deleted meanwhile: connections are soft-deleted).
    .addColumn('provider_config_key', 'text', (c) => c.notNull())
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('action_name', 'text', (c) => c.notNull())
    .addColumn('input', 'text', (c) => c.notNull())
    // 'pending' | 'running' | 'success' | 'failure'.
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_retries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('output', 'text')
    // JSON {code, message}.
    .addColumn('error', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('claimed_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .execute();
  // The runner's question: the oldest unfinished run of each environment.
  await db.schema
    .createIndex('action_runs_queue')
    .on('action_runs')
    .columns(['status', 'environment_id', 'seq'])
    .execute();
  await db.schema.createIndex('action_runs_created').on('action_runs').columns(['created_at']).execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('action_runs').ifExists().execute();
}
