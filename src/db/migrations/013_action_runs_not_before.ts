/**
 * Async action runs that wait for a daily budget or quota to reset (engine/actions/queue.ts parks them):
 * - `not_before`: the run is not taken before this time (ISO text, compared as text like the other times);
 *   set while a `pending` run waits for the reset, kept afterwards for the record.
 * - `parked_at`: when the run was first parked; a run parked longer than the queue's cap fails.
 * The refusal that parked the run is kept in `error` while it waits (it becomes the run's error if the
 * cap is reached). An index serves the queue's question "does this connection have a waiting run before
 * this one?".
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('action_runs').addColumn('not_before', 'text').execute();
  await db.schema.alterTable('action_runs').addColumn('parked_at', 'text').execute();
  await db.schema
    .createIndex('action_runs_connection_queue')
    .on('action_runs')
    .columns(['connection_pk', 'status', 'seq'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('action_runs_connection_queue').ifExists().execute();
  await db.schema.alterTable('action_runs').dropColumn('parked_at').execute();
  await db.schema.alterTable('action_runs').dropColumn('not_before').execute();
}
