import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PayloadRecord } from '../record-payload.ts';
import { createConnection } from './connections.ts';
import { payloadJson } from './record-json.ts';
import { inTransaction, transactionSqlite, type DbContext } from './context.ts';
import {
  listRecordRows,
  markDeleted,
  pruneRecords,
  storedRowsTextSqlite,
  upsertRecords,
  type RecordInput,
  type UpsertRecordsInput,
  type UpsertSummary,
} from './records.ts';
import { openTestDb, type TestDb } from './testing.ts';

/**
 * The SQLite write path of `upsertRecords` (statements run on better-sqlite3 inside the transaction of
 * `inTransaction`) against the portable path (the same call in a Kysely transaction `inTransaction` did not
 * open, which takes the Kysely statements, as PostgreSQL does): one connection is written through each,
 * with the same records at the same clock, and both must store exactly the same rows and summaries.
 * (On PostgreSQL both connections take the portable path: the comparison still holds.)
 */

let t: TestDb;
let fast: number;
let portable: number;
beforeEach(async () => {
  t = await openTestDb(new Date('2025-03-01T10:00:00.000Z'));
  const make = async (connectionId: string) =>
    (
      await createConnection(t.ctx, {
        environmentId: t.environmentId,
        connectionId,
        providerConfigKey: 'marketo',
        provider: 'marketo',
      })
    ).id;
  fast = await make('fast');
  portable = await make('portable');
});
afterEach(async () => {
  await t.cleanup();
});

const isSqlite = () => !process.env.TETHER_TEST_POSTGRES_URL;

const lead = (id: number, over: Record<string, unknown> = {}): RecordInput => ({
  id: String(id),
  email: `lead${id}@example.com`,
  firstName: id % 7 === 0 ? 'Zoë "Q"' : 'Ada',
  score: id,
  vip: id % 2 === 0,
  empty: undefined,
  ...over,
});

const range = (from: number, to: number, over: Record<string, unknown> = {}): RecordInput[] => {
  const out: RecordInput[] = [];
  for (let id = from; id <= to; id++) out.push(lead(id, over));
  return out;
};

/** The same upsert through both paths; the two summaries must be equal (it returns one). */
async function upsertBoth(input: Omit<UpsertRecordsInput, 'connectionPk'>): Promise<UpsertSummary> {
  const a = await upsertRecords(t.ctx, { ...input, connectionPk: fast });
  const b = await t.ctx.db
    .transaction()
    .execute((trx) => upsertRecords({ ...t.ctx, db: trx }, { ...input, connectionPk: portable }));
  expect(a).toEqual(b);
  return a;
}

async function storedRows(connectionPk: number): Promise<unknown[]> {
  const { rows } = await sql<Record<string, unknown>>`
    select model, external_id, payload, content_hash, created_at, updated_at, deleted_at, pruned_at,
      sync_run_id
    from records where connection_pk = ${connectionPk} order by model, external_id`.execute(t.ctx.db);
  return rows;
}

async function cursorAfter(connectionPk: number, n: number): Promise<string> {
  const page = await listRecordRows(t.ctx, { connectionPk, model: 'Lead', limit: n });
  return page.nextCursor!;
}

describe('upsertRecords on SQLite (statements on the transaction’s connection)', () => {
  it('stores exactly what the portable path stores, step by step', async () => {
    t.clock.now = new Date('2025-03-01T10:00:00.000Z');
    // An initial load across statement sizes (357 = 3 × 100 + 32 + 16 + 8 + 1).
    expect(await upsertBoth({ model: 'Lead', records: range(1, 357), runId: 'sweep:a' })).toMatchObject({
      added: 357,
      updated: 0,
      unchanged: 0,
      duplicates: 0,
    });

    // New, changed, unchanged (seen by another run) and a duplicate (the last one wins) in one call.
    t.clock.now = new Date('2025-03-01T10:00:01.000Z');
    const mixed = [
      ...range(200, 249, { score: -1 }),
      ...range(250, 349),
      ...range(358, 457),
      lead(300, { score: 'last wins' }),
    ];
    expect(await upsertBoth({ model: 'Lead', records: mixed, runId: 'sweep:b' })).toMatchObject({
      added: 100,
      updated: 51,
      unchanged: 99,
      duplicates: 1,
    });

    // Deleted, then pruned, then written again with the clock behind the newest stamp.
    t.clock.now = new Date('2025-03-01T10:00:02.000Z');
    for (const connectionPk of [fast, portable]) {
      expect(
        await markDeleted(t.ctx, { connectionPk, model: 'Lead', ids: range(1, 20).map((r) => r.id) }),
      ).toBe(20);
    }
    for (const connectionPk of [fast, portable]) {
      const untilCursor = await cursorAfter(connectionPk, 40);
      expect((await pruneRecords(t.ctx, { connectionPk, model: 'Lead', untilCursor, limit: 40 })).count).toBe(
        40,
      );
    }
    t.clock.now = new Date('2025-03-01T09:00:00.000Z');
    // 1–20 deleted (they reappear), 21–60 pruned (oldest first: restored), 61–80 unchanged.
    expect(await upsertBoth({ model: 'Lead', records: range(1, 80), runId: 'sweep:c' })).toMatchObject({
      added: 20,
      updated: 40,
      unchanged: 20,
    });

    // No run id; another model of the same connection starts empty.
    t.clock.now = new Date('2025-03-01T10:00:03.000Z');
    expect(await upsertBoth({ model: 'Lead', records: range(50, 70, { score: 0 }) })).toMatchObject({
      updated: 21,
    });
    expect(await upsertBoth({ model: 'Lead::other', records: range(1, 3) })).toMatchObject({ added: 3 });

    const a = await storedRows(fast);
    expect(a).toHaveLength(460);
    expect(a).toEqual(await storedRows(portable));
  });

  it('stores PayloadRecords as the portable path does, and finds them unchanged as objects', async () => {
    t.clock.now = new Date('2025-03-01T10:00:00.000Z');
    const asPayload = (r: RecordInput) => new PayloadRecord(String(r.id), payloadJson(r, String(r.id)));
    expect(await upsertBoth({ model: 'Lead', records: range(1, 150).map(asPayload) })).toMatchObject({
      added: 150,
    });
    t.clock.now = new Date('2025-03-01T10:00:01.000Z');
    const mixed = [...range(1, 100), ...range(101, 150, { score: -1 }).map(asPayload), ...range(151, 160)];
    expect(await upsertBoth({ model: 'Lead', records: mixed, runId: 'sweep:a' })).toMatchObject({
      added: 10,
      updated: 50,
      unchanged: 100,
    });
    const a = await storedRows(fast);
    expect(a).toHaveLength(160);
    expect(a).toEqual(await storedRows(portable));
  });

  it('keeps stamps monotonic when the clock does not move', async () => {
    const stamps: string[] = [];
    for (let i = 0; i < 3; i++)
      stamps.push((await upsertBoth({ model: 'Lead', records: range(i, i) })).modifiedAt);
    expect(stamps).toEqual([
      '2025-03-01T10:00:00.000000+00:00',
      '2025-03-01T10:00:00.000001+00:00',
      '2025-03-01T10:00:00.000002+00:00',
    ]);
    expect(await storedRows(fast)).toEqual(await storedRows(portable));
  });

  it('rolls back with the transaction it runs in', async () => {
    await upsertRecords(t.ctx, { connectionPk: fast, model: 'Lead', records: range(1, 5) });
    await expect(
      inTransaction(t.ctx, async (tx) => {
        await upsertRecords(tx, { connectionPk: fast, model: 'Lead', records: range(1, 150, { score: 9 }) });
        throw new Error('page failed');
      }),
    ).rejects.toThrow('page failed');
    const rows = (await storedRows(fast)) as { payload: string }[];
    expect(rows).toHaveLength(5);
    expect(rows.every((r) => !r.payload.includes('"score":9'))).toBe(true);
  });
});

describe('long writes on SQLite', () => {
  it('let the event loop turn while they run, and store the same', async () => {
    // 20,000 records of ~2 KB, then all of them changed: each call runs far longer than 10 ms.
    const big = (id: number, v: string) => lead(id, { note: v.repeat(2000) });
    const records = (v: string) => Array.from({ length: 20_000 }, (_, i) => big(i + 1, v));
    for (const [v, expected] of [
      ['a', { added: 20_000, updated: 0 }],
      ['b', { added: 0, updated: 20_000 }],
    ] as const) {
      let timerRanAt: number | undefined;
      const timer = setTimeout(() => (timerRanAt = performance.now()), 0);
      const summary = await upsertRecords(t.ctx, { connectionPk: fast, model: 'Lead', records: records(v) });
      const endedAt = performance.now();
      clearTimeout(timer);
      expect(summary).toMatchObject(expected);
      // On SQLite the statements are synchronous: only a turn of the loop within the call lets a timer
      // run before it ends (PostgreSQL waits on the network anyway).
      expect(timerRanAt).toBeDefined();
      expect(timerRanAt!).toBeLessThan(endedAt);
    }
    const page = await listRecordRows(t.ctx, { connectionPk: fast, model: 'Lead', limit: 1 });
    expect(JSON.parse(page.rows[0]!.payload)).toMatchObject({ id: '1', note: 'b'.repeat(2000) });
  });
});

describe('reads before a write (SQLite plans)', () => {
  it('look ids up in the unique index, also after an insert-first (never a scan of the model)', async () => {
    if (!isSqlite()) return;
    await upsertRecords(t.ctx, { connectionPk: fast, model: 'Lead', records: range(1, 3000) });
    await inTransaction(t.ctx, async (tx) => {
      const sqlite = transactionSqlite(tx)!;
      for (const older of [false, true]) {
        const text = storedRowsTextSqlite(100, older);
        const ids = Array.from({ length: 100 }, (_, k) => String(k * 30 + 1));
        const plan = sqlite
          .prepare(`explain query plan ${text}`)
          .all(ids, { c: fast, m: 'Lead', s: '9999' }) as { detail: string }[];
        const details = plan.map((p) => p.detail).join(' | ');
        // `updated_at < @s` matches every stored row: through records_cursor it reads the whole model.
        expect(details).toContain('records_external_unique');
        expect(details).not.toContain('records_cursor');
      }
    });
  });
});

describe('transactionSqlite', () => {
  it('is the SQLite connection only inside a transaction of inTransaction, while it is open', async () => {
    let inside: DbContext | undefined;
    const seen = await inTransaction(t.ctx, async (tx) => {
      inside = tx;
      return transactionSqlite(tx);
    });
    expect(seen !== undefined).toBe(isSqlite());
    expect(transactionSqlite(inside!)).toBeUndefined();
    expect(transactionSqlite(t.ctx)).toBeUndefined();
    await t.ctx.db.transaction().execute(async (trx) => {
      expect(transactionSqlite({ ...t.ctx, db: trx })).toBeUndefined();
    });
  });
});
