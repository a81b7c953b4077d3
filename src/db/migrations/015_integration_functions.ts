/**
 * Per-integration settings of its functions (repository: ../integration-functions.ts): whether a sync or
 * an action is enabled, and whether a sync starts by itself for new connections (Nango's `auto_start`).
 * One row per (integration, type, function name), written only when a setting was changed: no row means
 * the defaults (enabled, auto-started), so installs made before this migration behave as they did.
 * Rows go with their integration (foreign key, cascade). Portable DDL as 001 (booleans as 0/1 integers).
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('integration_functions')
    .addColumn('integration_id', 'integer', (c) =>
      c.notNull().references('integrations.id').onDelete('cascade'),
    )
    // 'sync' | 'action': a sync and an action may share a name.
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('auto_start', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('integration_functions_pk', ['integration_id', 'type', 'name'])
    .execute();
  // The scheduler's question, every tick: which syncs are disabled (few rows; no full scan of settings).
  await db.schema
    .createIndex('integration_functions_disabled')
    .on('integration_functions')
    .columns(['enabled', 'type'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('integration_functions').ifExists().execute();
}
