/**
 * Shared slots (db/shared-slots.ts, engine/shared-slots.ts): named scopes each holding at most N holders
 * across the Tether processes of one database (e.g. the jobs a Marketo instance's bulk export queue may
 * hold). A row per holder, with the process that holds it: a holder counts only while that process is
 * live (its `tether_processes` heartbeat). Portable DDL as 001; times are ISO text like the others.
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('shared_slots')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('process_id', 'text', (c) => c.notNull())
    .addColumn('taken_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('shared_slots_pk', ['scope', 'holder'])
    .execute();
  // A clean stop removes a process's rows by process id.
  await db.schema.createIndex('shared_slots_process').on('shared_slots').column('process_id').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('shared_slots').ifExists().execute();
}
