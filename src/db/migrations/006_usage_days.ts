/**
 * API usage per quota day, persisted: one row per (scope, key, day) with its counters as JSON.
 *
 * Usage was kept in memory only, so a restart forgot today's calls: the connection's daily budget and
 * Tether's share of the instance's quota started again from zero, and Tether could spend a customer's
 * quota twice in one day. Rows are written by engine/usage-persistence.ts (every second, and at close)
 * and read at start; traffic control seeds today's spend from them. Portable DDL as 001.
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('usage_days')
    // 'instance' | 'connection'
    .addColumn('scope', 'text', (c) => c.notNull())
    // The instance key, or the connection's key in traffic control.
    .addColumn('key', 'text', (c) => c.notNull())
    // Quota day, YYYY-MM-DD.
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('instance_key', 'text')
    // JSON UsageCounters.
    .addColumn('counters', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_days_pk', ['scope', 'key', 'day'])
    .execute();
  await db.schema.createIndex('usage_days_day').on('usage_days').column('day').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('usage_days').ifExists().execute();
}
