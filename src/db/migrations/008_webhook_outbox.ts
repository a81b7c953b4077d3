/**
 * Webhook deliveries not yet made (engine/webhooks.ts): a delivery is written here before its first
 * attempt and removed once the receiver took it, so a delivery still failing when Tether stops (or
 * crashes) is made by the next start instead of being lost. The row holds the exact body and its
 * signature headers (not the signing key: the signatures are all a retry needs). Portable DDL as 001.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('webhook_outbox')
    .addColumn('id', 'integer', ctx.idColumn)
    // The environment whose key signed it: a key rotation signs its pending deliveries again.
    .addColumn('environment_id', 'integer')
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    // JSON object: the signature headers computed when the delivery was queued.
    .addColumn('headers', 'text', (c) => c.notNull())
    // 'pending' (to be attempted at next_attempt_at) or 'failed' (given up; kept for a while to inspect).
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    // A process delivering the row holds it until then (so two processes never send it twice at once).
    .addColumn('claimed_until', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_outbox_due')
    .on('webhook_outbox')
    .columns(['status', 'next_attempt_at'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('webhook_outbox').ifExists().execute();
}
