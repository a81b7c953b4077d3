import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createConnection } from './connections.ts';
import * as m016 from './migrations/016_records_meta_derived.ts';
import {
  listRecords,
  markDeleted,
  metaJson,
  pruneRecords,
  upsertRecords,
  type ListRecordsInput,
} from './records.ts';
import { openTestDb, type TestDb } from './testing.ts';

/**
 * Migration 016 dropped `records.meta` (the stored `_nango_metadata` text): reads render it from the
 * timestamp columns. Records of every kind (added, updated, deleted, pruned) read the same before and after
 * it, and its `down` stores exactly the text the API renders. SQLite and PostgreSQL.
 */
let t: TestDb;
let pk: number;
beforeEach(async () => {
  t = await openTestDb(new Date('2025-03-01T10:00:00.000Z'));
  pk = (
    await createConnection(t.ctx, {
      environmentId: t.environmentId,
      connectionId: 'conn-1',
      providerConfigKey: 'marketo',
      provider: 'marketo',
    })
  ).id;
});
afterEach(async () => {
  await t.cleanup();
});

const lead = (id: number, score = id) => ({ id: String(id), email: `lead${id}@example.com`, score });

it('016 changes no answer of GET /records, and its down stores the text reads render', async () => {
  const at = (iso: string) => (t.clock.now = new Date(iso));
  at('2025-03-01T10:00:00.000Z');
  await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [1, 2, 3, 4].map((i) => lead(i)) });
  at('2025-03-01T11:00:00.000Z');
  await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(2, 20)] });
  await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['3'] });
  at('2025-03-01T12:00:00.000Z');
  const first = await listRecords(t.ctx, { connectionPk: pk, model: 'Lead', limit: 1 });
  await pruneRecords(t.ctx, {
    connectionPk: pk,
    model: 'Lead',
    untilCursor: first.records[0]!._nango_metadata.cursor,
    limit: 1,
  });
  const input: ListRecordsInput = { connectionPk: pk, model: 'Lead', limit: 100 };
  const before = await listRecords(t.ctx, input);
  expect(
    before.records.map((r) => [r.id, r._nango_metadata.last_action, r._nango_metadata.pruned_at]),
  ).toEqual([
    ['1', 'ADDED', '2025-03-01T12:00:00.000000+00:00'],
    ['4', 'ADDED', null],
    ['2', 'UPDATED', null],
    ['3', 'DELETED', null],
  ]);

  await m016.down(t.db);
  const rows = await sql<{
    meta: string;
    created_at: string;
    updated_at: string;
    deleted_at: string | null;
    pruned_at: string | null;
  }>`select meta, created_at, updated_at, deleted_at, pruned_at from records`.execute(t.db);
  expect(rows.rows).toHaveLength(4);
  for (const r of rows.rows) {
    expect(r.meta).toBe(metaJson(r.created_at, r.updated_at, r.deleted_at, r.pruned_at));
  }

  await m016.up(t.db);
  await expect(sql`select meta from records`.execute(t.db)).rejects.toThrow(/meta/);
  expect(await listRecords(t.ctx, input)).toEqual(before);
});
