/**
 * Usage rows per process: several Tether processes on one database each wrote the row (scope, key, day)
 * with their own counters, so each overwrote the others' and the stored usage was wrong. The writing
 * process's id (engine/presence.ts: a new one at every start) joins the key; readers sum a day's rows over
 * processes. Rows stored before this migration keep the process id '' ("before processes").
 *
 * The primary key cannot be altered in SQLite: the table is rebuilt (renamed, created anew, copied,
 * dropped), the same way on both dialects. Portable DDL as 001.
 */
import { sql, type Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

const COPIED = ['scope', 'key', 'day', 'instance_key', 'counters', 'updated_at'] as const;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('usage_days').renameTo('usage_days_011').execute();
  await db.schema
    .createTable('usage_days')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    // The process that counted (and alone writes) the row; '' for rows from before processes.
    .addColumn('process_id', 'text', (c) => c.notNull())
    .addColumn('instance_key', 'text')
    .addColumn('counters', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    // A new constraint name: PostgreSQL names the old table's index `usage_days_pk` until it is dropped.
    .addPrimaryKeyConstraint('usage_days_process_pk', ['scope', 'key', 'day', 'process_id'])
    .execute();
  await db
    .insertInto('usage_days')
    .columns([...COPIED, 'process_id'])
    .expression(db.selectFrom('usage_days_011').select([...COPIED, sql.lit('').as('process_id')]))
    .execute();
  // Drops the old table's index `usage_days_day` with it.
  await db.schema.dropTable('usage_days_011').execute();
  await db.schema.createIndex('usage_days_day').on('usage_days').column('day').execute();
}

/** Back to one row per (scope, key, day): where several processes wrote one, one of them is kept. */
export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('usage_days').renameTo('usage_days_012').execute();
  await db.schema
    .createTable('usage_days')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('instance_key', 'text')
    .addColumn('counters', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_days_pk', ['scope', 'key', 'day'])
    .execute();
  await db
    .insertInto('usage_days')
    .columns([...COPIED])
    // `where true`: SQLite reads an `on conflict` after a bare SELECT as a join's ON.
    .expression(
      db
        .selectFrom('usage_days_012')
        .select([...COPIED])
        .where(sql<boolean>`true`),
    )
    .onConflict((oc) => oc.columns(['scope', 'key', 'day']).doNothing())
    .execute();
  await db.schema.dropTable('usage_days_012').execute();
  await db.schema.createIndex('usage_days_day').on('usage_days').column('day').execute();
}
