/**
 * Issue 4 schema: configurable limits (a connection's daily budget, an instance's limits) and the
 * redacted log of proxied calls.
 *
 * Portable DDL only, as 001_initial.ts: `text` and `integer` columns, ISO timestamps as text.
 * - `connection_limits`: one row per connection with a daily budget set through the API.
 * - `instance_limits`: one row per (provider, instance key) whose limits were set through the API;
 *   `null` columns keep the provider's default. Instances are shared by every connection to them.
 * - `request_log`: one row per proxied call; read newest first per connection, pruned by age.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('connection_limits')
    .addColumn('connection_pk', 'integer', (c) =>
      c.primaryKey().references('connections.id').onDelete('cascade'),
    )
    .addColumn('daily_budget', 'integer')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('instance_limits')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('instance_key', 'text', (c) => c.notNull())
    .addColumn('rate_max', 'integer')
    .addColumn('rate_window_ms', 'integer')
    .addColumn('max_in_flight', 'integer')
    .addColumn('daily_quota', 'integer')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('instance_limits_pk', ['provider', 'instance_key'])
    .execute();

  await db.schema
    .createTable('request_log')
    .addColumn('id', 'integer', ctx.idColumn)
    // No foreign key: entries are written in batches (one bad row must not lose the batch), connections
    // are soft-deleted anyway, and retention removes old entries.
    .addColumn('connection_pk', 'integer', (c) => c.notNull())
    .addColumn('provider_config_key', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    /** Redacted: sensitive query values replaced, truncated. */
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    /** JSON array of provider codes (`["606","601"]`). */
    .addColumn('codes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('request_log_connection_at')
    .on('request_log')
    .columns(['connection_pk', 'at'])
    .execute();
  // Retention deletes by age across connections.
  await db.schema.createIndex('request_log_at').on('request_log').columns(['at']).execute();
}

export async function down(db: AnyDb): Promise<void> {
  for (const table of ['request_log', 'instance_limits', 'connection_limits'])
    await db.schema.dropTable(table).ifExists().execute();
}
