import { randomBytes, randomUUID } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createConnection } from './connections.ts';
import { inTransaction } from './context.ts';
import { listRecordRows, storedRowsQueryPg, upsertRecords } from './records.ts';
import { openDatabase } from './database.ts';
import { ensureEnvironment } from './environments.ts';
import { freshPostgresSchema, openTestDb, type TestDb } from './testing.ts';
import { Vault } from '../engine/vault.ts';

/**
 * PostgreSQL's write path reads the stored rows of each chunk of ids before writing it. That read must
 * cost one index probe per id whatever the planner's statistics say: on a table never analysed, and for
 * a connection the statistics do not know yet, default selectivities used to turn it into a scan of
 * every record of the model per chunk (quadratic initial loads). Checked on the plan actually executed
 * (EXPLAIN ANALYZE): which index it reads and how many entries.
 * The `sqlite` project runs this file with SQLite, where it has nothing to check.
 */

const ON_POSTGRES = Boolean(process.env.TETHER_TEST_POSTGRES_URL);

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

let t: TestDb | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

/** Every scan of `records` in the executed plan of the read of `ids`: index, entries read in all. */
async function lookupScans(db: TestDb, connectionPk: number, ids: string[]) {
  const [text, params] = storedRowsQueryPg(connectionPk, model, ids);
  let n = 0;
  const dollar = text.replace(/\?/g, () => `$${++n}`);
  const result = await db.db.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    CompiledQuery.raw(`explain (analyze, format json) ${dollar}`, params),
  );
  const scans: { node: string; index: string | undefined; read: number }[] = [];
  const walk = (p: PlanNode) => {
    if (p['Relation Name'] === 'records')
      scans.push({
        node: p['Node Type'],
        index: p['Index Name'],
        read: (p['Actual Rows'] + (p['Rows Removed by Filter'] ?? 0)) * p['Actual Loops'],
      });
    for (const c of p.Plans ?? []) walk(c);
  };
  walk(result.rows[0]!['QUERY PLAN'][0].Plan);
  return scans;
}

const model = 'Lead';
const connection = (db: TestDb, id: string) =>
  createConnection(db.ctx, {
    environmentId: db.environmentId,
    connectionId: id,
    providerConfigKey: 'marketo',
    provider: 'marketo',
  });
const records = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: String(from + i), email: `l${from + i}@example.com` }));
/** 250 stored ids and 250 unknown ones, interleaved. */
const probeIds = (from: number) =>
  Array.from({ length: 500 }, (_, i) => String(i % 2 === 0 ? from + i : 9_000_000 + i));

describe.skipIf(!ON_POSTGRES)(
  'records on PostgreSQL: the read before a write, whatever the statistics',
  () => {
    it('reads one entry of the unique index per id on a table never analysed', async () => {
      t = await openTestDb();
      const a = await connection(t, 'a');
      for (let from = 0; from < 6_000; from += 1_000)
        await upsertRecords(t.ctx, { connectionPk: a.id, model, records: records(from, 1_000) });
      const scans = await lookupScans(t, a.id, probeIds(1_000));
      expect(scans.map((s) => s.index)).toEqual(['records_external_unique']);
      // One entry per id (the id itself, or the next key for an unknown one), not the 6,000 of the model.
      expect(scans[0]!.read).toBeLessThanOrEqual(500);
    });

    it('reads one entry per id for a connection the statistics do not know yet', async () => {
      t = await openTestDb();
      const a = await connection(t, 'a');
      for (let from = 0; from < 4_000; from += 1_000)
        await upsertRecords(t.ctx, { connectionPk: a.id, model, records: records(from, 1_000) });
      await sql`analyze records`.execute(t.db);
      const b = await connection(t, 'b');
      for (let from = 0; from < 4_000; from += 1_000)
        await upsertRecords(t.ctx, { connectionPk: b.id, model, records: records(from, 1_000) });
      const scans = await lookupScans(t, b.id, probeIds(2_000));
      expect(scans.map((s) => s.index)).toEqual(['records_external_unique']);
      expect(scans[0]!.read).toBeLessThanOrEqual(500);
      // And the read finds exactly the stored ones.
      const [text, params] = storedRowsQueryPg(b.id, model, probeIds(2_000));
      let n = 0;
      const found = await t.db.executeQuery<{ external_id: string }>(
        CompiledQuery.raw(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        ),
      );
      expect(found.rows.map((r) => r.external_id).sort()).toEqual(
        probeIds(2_000)
          .filter((id) => Number(id) < 4_000)
          .sort(),
      );
    });

    it('runs the full chunks of a write as named prepared statements, parsed once per connection', async () => {
      t = await openTestDb();
      const a = await connection(t, 'a');
      await upsertRecords(t.ctx, { connectionPk: a.id, model, records: records(0, 1_000) });
      // One pooled connection, held by the transaction: the statements prepared on it are listed there.
      const prepared = await inTransaction(t.ctx, async (tx) => {
        await upsertRecords(tx, { connectionPk: a.id, model, records: records(500, 1_500) });
        const r = await sql<{ name: string; statement: string }>`
        select name, statement from pg_prepared_statements where name like 'tether_%'`.execute(tx.db);
        return r.rows;
      });
      // The insert of new rows, then (500..999 stored already) the read by id and the upsert.
      expect(prepared.some((p) => p.statement.includes('do nothing returning external_id'))).toBe(true);
      expect(prepared.some((p) => p.statement.includes('cross join lateral'))).toBe(true);
    });

    it('runs every statement unnamed when prepared statements are off (TETHER_DATABASE_PREPARED=off)', async () => {
      const schema = await freshPostgresSchema(process.env.TETHER_TEST_POSTGRES_URL!);
      const opened = await openDatabase({
        database: { kind: 'postgres', url: schema.url, preparedStatements: false },
      });
      try {
        const ctx = { db: opened.db, vault: new Vault(randomBytes(32)) };
        const env = await ensureEnvironment(ctx, { name: 'dev', secretKey: randomUUID() });
        const a = await createConnection(ctx, {
          environmentId: env.id,
          connectionId: 'a',
          providerConfigKey: 'marketo',
          provider: 'marketo',
        });
        await upsertRecords(ctx, { connectionPk: a.id, model, records: records(0, 1_000) });
        const prepared = await inTransaction(ctx, async (tx) => {
          const s = await upsertRecords(tx, { connectionPk: a.id, model, records: records(500, 1_500) });
          expect(s).toMatchObject({ added: 1_000, unchanged: 500 });
          const r = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(tx.db);
          return r.rows;
        });
        expect(prepared).toEqual([]);
      } finally {
        await opened.close();
        await schema.drop();
      }
    });

    it('analyses a table never analysed at the first write, so a first page reads the cursor index', async () => {
      t = await openTestDb();
      const reltuples = async () =>
        (
          await sql<{
            n: number;
          }>`select reltuples as n from pg_class where oid = 'records'::regclass`.execute(t!.db)
        ).rows[0]!.n;
      expect(await reltuples()).toBeLessThan(0);
      const a = await connection(t, 'a');
      await upsertRecords(t.ctx, { connectionPk: a.id, model, records: records(0, 1_000) });
      expect(await reltuples()).toBe(1_000);
      // The model grows to 100,000 records (written directly: the sync path is the slow part here).
      await sql`insert into records (connection_pk, model, external_id, payload, content_hash,
          created_at, updated_at)
        select ${a.id}, ${model}, cast(g as text), repeat('x', 1000), '', 't', 't' || g
        from generate_series(1000, 99999) g`.execute(t.db);
      // Heap rows the first page fetched (this transaction's counters): about a page, not the model.
      const fetched = await inTransaction(t.ctx, async (tx) => {
        const page = await listRecordRows(tx, { connectionPk: a.id, model, limit: 100 });
        expect(page.rows).toHaveLength(100);
        const r = await sql<{ n: string }>`
          select pg_stat_get_xact_tuples_fetched('records'::regclass) as n`.execute(tx.db);
        return Number(r.rows[0]!.n);
      });
      expect(fetched).toBeLessThanOrEqual(200);
    });
  },
);
