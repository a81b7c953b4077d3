/**
 * Issue 3 schema: meta, environments, integrations, connections (+ tag index), connect sessions.
 *
 * Portable DDL only (see ../schema.ts for the representation rules): `text` and `integer` columns, the id
 * column is the one place where the dialects differ (`ctx.idColumn`).
 */
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('environments')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('secret_key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('secret_key_encrypted', 'text', (c) => c.notNull())
    .addColumn('webhook_url', 'text')
    .addColumn('webhook_url_secondary', 'text')
    .addColumn('webhook_signing_key_encrypted', 'text', (c) => c.notNull())
    .addColumn('on_auth_creation', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('on_auth_refresh_error', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('integrations')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('environment_id', 'integer', (c) =>
      c.notNull().references('environments.id').onDelete('cascade'),
    )
    .addColumn('unique_key', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text')
    .addColumn('credentials_encrypted', 'text')
    .addColumn('forward_webhooks', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('integrations_env_key_unique', ['environment_id', 'unique_key'])
    .execute();

  await db.schema
    .createTable('connections')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('environment_id', 'integer', (c) =>
      c.notNull().references('environments.id').onDelete('cascade'),
    )
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('provider_config_key', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('connection_config', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('credentials_encrypted', 'text')
    .addColumn('credentials_expires_at', 'text')
    .addColumn('metadata', 'text')
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('end_user', 'text')
    .addColumn('end_user_id', 'text')
    .addColumn('end_user_organization_id', 'text')
    .addColumn('webhook_url_override', 'text')
    .addColumn('errors', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('last_refresh_success', 'text')
    .addColumn('last_refresh_failure', 'text')
    .addColumn('refresh_attempts', 'integer')
    .addColumn('refresh_exhausted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('last_fetched_at', 'text')
    .addColumn('deleted_at', 'text')
    .execute();

  // One live connection per (environment, integration, connection id); deleted rows are kept aside.
  // Partial indexes exist in both SQLite (3.8+) and PostgreSQL.
  await db.schema
    .createIndex('connections_live_unique')
    .on('connections')
    .columns(['environment_id', 'provider_config_key', 'connection_id'])
    .unique()
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('connections_end_user')
    .on('connections')
    .columns(['environment_id', 'end_user_id'])
    .execute();
  await db.schema
    .createIndex('connections_expires')
    .on('connections')
    .columns(['credentials_expires_at'])
    .execute();

  await db.schema
    .createTable('connection_tags')
    .addColumn('connection_pk', 'integer', (c) =>
      c.notNull().references('connections.id').onDelete('cascade'),
    )
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('connection_tags_pk', ['connection_pk', 'key'])
    .execute();
  await db.schema.createIndex('connection_tags_kv').on('connection_tags').columns(['key', 'value']).execute();

  await db.schema
    .createTable('connect_sessions')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('environment_id', 'integer', (c) =>
      c.notNull().references('environments.id').onDelete('cascade'),
    )
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('end_user', 'text')
    .addColumn('organization', 'text')
    .addColumn('allowed_integrations', 'text')
    .addColumn('integrations_config_defaults', 'text')
    .addColumn('tags', 'text')
    .addColumn('connection_id', 'text')
    .addColumn('integration_key', 'text')
    .addColumn('webhook_url_override', 'text')
    .addColumn('overrides', 'text')
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('connect_sessions_expires')
    .on('connect_sessions')
    .columns(['expires_at'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  for (const table of [
    'connect_sessions',
    'connection_tags',
    'connections',
    'integrations',
    'environments',
    'meta',
  ])
    await db.schema.dropTable(table).ifExists().execute();
}
