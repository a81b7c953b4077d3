/**
 * Issue 6 (sync speed): packed record payloads (src/record-payload.ts). A record written packed stores
 * its members' values only; the member names are kept once per shape here, content-addressed by `hash`
 * (a shape never changes, so any process may cache one it has read). Records written before keep their
 * JSON payloads: both forms are read alike.
 */
import { sql, type Kysely } from 'kysely';
import { packedShapeHash, unpackPayload, type RecordShape } from '../../record-payload.ts';

// Migrations must not depend on the current typed schema (it changes over time).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('record_shapes')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    // JSON array of the member names, in the order their values are packed.
    .addColumn('members', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

/** Packed payloads back to JSON (what 016 reads), then the table. */
export async function down(db: AnyDb): Promise<void> {
  const shapes = new Map<string, RecordShape>();
  const stored = await sql<{
    hash: string;
    members: string;
  }>`select hash, members from record_shapes`.execute(db);
  for (const r of stored.rows)
    shapes.set(r.hash, { hash: r.hash, members: JSON.parse(r.members) as string[] });
  let after = 0;
  for (;;) {
    const { rows } = await sql<{ id: number | string; payload: string }>`select id, payload from records
      where id > ${after} and substr(payload, 1, 1) = ${'\x01'} order by id limit 500`.execute(db);
    if (rows.length === 0) break;
    for (const r of rows) {
      const shape = shapes.get(packedShapeHash(r.payload));
      if (shape === undefined) throw new Error(`record ${r.id}: the shape of its packed payload is missing`);
      const json = unpackPayload(r.payload, shape);
      await sql`update records set payload = ${json} where id = ${r.id}`.execute(db);
      after = Number(r.id);
    }
  }
  await db.schema.dropTable('record_shapes').ifExists().execute();
}
