/**
 * The Tether processes using this database (engine/presence.ts): each keeps a row with a heartbeat, so
 * every process knows how many share the Marketo instances it calls and grants only its part of their
 * rate and in-flight limits. Portable DDL as 001.
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('tether_processes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('tether_processes').ifExists().execute();
}
