import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnection, deleteConnection } from '../db/connections.ts';
import { countRecords, purgeRecordsOfDeletedConnection, upsertRecords } from '../db/records.ts';
import { openTestDb, type TestDb } from '../db/testing.ts';
import { startRecordsPurge, type RecordsPurge } from './records-purge.ts';
import { waitFor } from '../testing/wait.ts';

/** Records of deleted connections are purged in bounded chunks; live connections' records stay. */

let t: TestDb;
let purge: RecordsPurge | undefined;
const lines: string[] = [];

beforeEach(async () => {
  t = await openTestDb(new Date('2026-03-01T10:00:00.000Z'));
  lines.length = 0;
});
afterEach(async () => {
  await purge?.close();
  purge = undefined;
  await t.cleanup();
});

async function connectionWith(connectionId: string, leads: number, activities = 0): Promise<number> {
  const c = await createConnection(t.ctx, {
    environmentId: t.environmentId,
    connectionId,
    providerConfigKey: 'marketo',
    provider: 'marketo',
  });
  const records = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ id: String(i + 1), email: `l${i}@x.y` }));
  await upsertRecords(t.ctx, { connectionPk: c.id, model: 'Lead', records: records(leads) });
  if (activities > 0)
    await upsertRecords(t.ctx, { connectionPk: c.id, model: 'Activity', records: records(activities) });
  return c.id;
}

const all = (connectionPk: number) => countRecords(t.ctx, { connectionPk, includeDeleted: true });

describe('purgeRecordsOfDeletedConnection', () => {
  it('deletes at most `limit` records of a deleted connection per call, and nothing of a live one', async () => {
    const gone = await connectionWith('gone', 1_200, 300);
    const live = await connectionWith('live', 500);
    expect(await purgeRecordsOfDeletedConnection(t.ctx, { limit: 1_000 })).toBeUndefined();

    expect(await deleteConnection(t.ctx, t.environmentId, 'marketo', 'gone')).toBe(true);
    expect(await purgeRecordsOfDeletedConnection(t.ctx, { limit: 1_000 })).toEqual({
      connectionPk: gone,
      deleted: 1_000,
    });
    expect(await all(gone)).toBe(500);
    expect(await purgeRecordsOfDeletedConnection(t.ctx, { limit: 1_000 })).toEqual({
      connectionPk: gone,
      deleted: 500,
    });
    expect(await all(gone)).toBe(0);
    expect(await purgeRecordsOfDeletedConnection(t.ctx, { limit: 1_000 })).toBeUndefined();
    expect(await all(live)).toBe(500);
  });
});

describe('a connection deleted and connected again under the same id', () => {
  it('loses the old records only', async () => {
    const old = await connectionWith('same', 400);
    await deleteConnection(t.ctx, t.environmentId, 'marketo', 'same');
    const again = await connectionWith('same', 150);
    expect(again).not.toBe(old);
    expect(await purgeRecordsOfDeletedConnection(t.ctx, { limit: 10_000 })).toEqual({
      connectionPk: old,
      deleted: 400,
    });
    expect(await purgeRecordsOfDeletedConnection(t.ctx, { limit: 10_000 })).toBeUndefined();
    expect(await all(again)).toBe(150);
  });
});

describe('startRecordsPurge', () => {
  it('purges every deleted connection within its ticks, logs each once, and keeps live records', async () => {
    const a = await connectionWith('a', 2_500);
    const b = await connectionWith('b', 700, 100);
    const live = await connectionWith('live', 300);
    await deleteConnection(t.ctx, t.environmentId, 'marketo', 'a');
    await deleteConnection(t.ctx, t.environmentId, 'marketo', 'b');
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    purge = startRecordsPurge(t.ctx, { log, intervalMs: 60_000, chunk: 400, budgetMs: 10_000 });

    expect(await purge.runOnce()).toBe(3_300);
    expect(await all(a)).toBe(0);
    expect(await all(b)).toBe(0);
    expect(await all(live)).toBe(300);
    const done = lines.map((l) => JSON.parse(l) as { msg: string; connectionPk: number; deleted: number });
    expect(done.map((d) => [d.msg, d.connectionPk, d.deleted])).toEqual([
      ['Records of a deleted connection purged', a, 2_500],
      ['Records of a deleted connection purged', b, 800],
    ]);
    // Nothing left: the next tick deletes nothing and logs nothing.
    expect(await purge.runOnce()).toBe(0);
    expect(lines).toHaveLength(2);
  });

  it('stops a tick once its time budget is spent and goes on at the next one', async () => {
    const a = await connectionWith('a', 1_000);
    await deleteConnection(t.ctx, t.environmentId, 'marketo', 'a');
    purge = startRecordsPurge(t.ctx, {
      log: pino({ level: 'silent' }),
      intervalMs: 60_000,
      chunk: 100,
      budgetMs: 0,
    });
    // A zero budget: one chunk per tick.
    expect(await purge.runOnce()).toBe(100);
    expect(await all(a)).toBe(900);
    expect(await purge.runOnce()).toBe(100);
    expect(await all(a)).toBe(800);
  });

  it('runs on its own timer', async () => {
    const a = await connectionWith('a', 250);
    await deleteConnection(t.ctx, t.environmentId, 'marketo', 'a');
    purge = startRecordsPurge(t.ctx, { log: pino({ level: 'silent' }), intervalMs: 20 });
    await waitFor('the records purged', async () => ((await all(a)) > 0 ? undefined : true), 5_000, 20);
    expect(await all(a)).toBe(0);
  });
});
