/**
 * `GET /records?filter=deleted` read the model in cursor order through `records_cursor` and skipped every
 * record not deleted: with a handful of deletions among 1,000,000 leads, each page read the whole model.
 * A partial index over the deleted records only, in the same order, answers that page from the deleted
 * records alone; rows enter it only when deleted (markDeleted, a sweep), so writes of live records do not
 * touch it. Both SQLite and PostgreSQL use a partial index when the query's WHERE has its condition.
 */
import { sql, type Kysely } from 'kysely';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createIndex('records_deleted')
    .on('records')
    .columns(['connection_pk', 'model', 'updated_at', 'id'])
    .where(sql.ref('deleted_at'), 'is not', null)
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('records_deleted').ifExists().execute();
}
