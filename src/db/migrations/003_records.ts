/**
 * Issue 5: the records cache (what syncs write and `GET /records` reads).
 *
 * One row per (connection, model, external id). Portable DDL like 001 (`text`/`integer` only), with two
 * deviations documented in ../records.ts: the four record timestamps are stored in Nango's records format,
 * `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (microseconds, always 32 characters), so that string order is time
 * order and they can be answered without conversion; and the answer's JSON is stored pre-rendered
 * (`payload` + `meta`) next to the columns it derives from, so that reads only splice text (`meta` was
 * dropped by 016: reads render it from the columns).
 *
 * Indexes:
 * - `records_external_unique (connection_pk, model, external_id)`: upserts, `ids=` filters.
 * - `records_cursor (connection_pk, model, updated_at, id)`: cursor paging in `(updated_at, id)` order,
 *   `modified_after`, and the monotonic-clock probe of the writers.
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('records')
    .addColumn('id', 'integer', ctx.idColumn)
    .addColumn('connection_pk', 'integer', (c) =>
      c.notNull().references('connections.id').onDelete('cascade'),
    )
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    // The record's JSON without metadata: payload fields (sorted keys), then "id"; {"id":…} once pruned.
    .addColumn('payload', 'text', (c) => c.notNull())
    // `,"_nango_metadata":{…,"cursor":"` as answered, rendered by every write (see ../records.ts).
    .addColumn('meta', 'text', (c) => c.notNull())
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .addColumn('pruned_at', 'text')
    .addColumn('sync_run_id', 'text')
    .execute();
  await db.schema
    .createIndex('records_external_unique')
    .on('records')
    .columns(['connection_pk', 'model', 'external_id'])
    .unique()
    .execute();
  await db.schema
    .createIndex('records_cursor')
    .on('records')
    .columns(['connection_pk', 'model', 'updated_at', 'id'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('records').ifExists().execute();
}
