/**
 * A reset discards a sync's checkpoint. What that checkpoint holds at the provider (Marketo bulk export
 * jobs still queued or processing: they keep the instance's few export slots and spend its daily volume)
 * must be given back, which takes calls to the provider: that is done by the next run, before it starts
 * over (engine/sync/release.ts). The discarded checkpoints wait here until then, a JSON array, so that a
 * restart in between does not forget them.
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('syncs').addColumn('discarded_checkpoints', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('syncs').dropColumn('discarded_checkpoints').execute();
}
