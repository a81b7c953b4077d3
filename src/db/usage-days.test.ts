import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as m012 from './migrations/012_usage_days_process.ts';
import { openTestDb, type TestDb } from './testing.ts';
import { BEFORE_PROCESSES, loadUsageDays, pruneUsageDays, saveUsageDays } from './usage-days.ts';

/** The usage days repository on a real database (SQLite; PostgreSQL with TETHER_TEST_POSTGRES_URL). */
describe('usage days repository', () => {
  let t: TestDb;
  const AT = new Date('2025-01-15T18:00:00.000Z');
  beforeEach(async () => {
    t = await openTestDb(AT);
  });
  afterEach(() => t.cleanup());

  const row = (key: string, day: string, calls: number) => ({
    scope: 'connection' as const,
    key,
    day,
    instanceKey: 'i.mktorest.com',
    counters: { calls },
  });
  const calls = async (opts: { exceptProcess?: string; updatedSince?: string } = {}) =>
    (await loadUsageDays<{ calls: number }>(t.ctx, '2025-01-01', opts))
      .map((r) => [r.processId, r.key, r.day, r.counters.calls] as const)
      .sort((a, b) => a.join().localeCompare(b.join()));

  it('keeps one row per process: a process rewrites only its own, readers choose whose', async () => {
    await saveUsageDays(t.ctx, [row('c1', '2025-01-15', 2)], AT, 'a');
    await saveUsageDays(t.ctx, [row('c1', '2025-01-15', 5), row('c2', '2025-01-15', 1)], AT, 'b');
    // A later write of process a's row replaces its counters, not b's.
    await saveUsageDays(t.ctx, [row('c1', '2025-01-15', 3)], AT, 'a');
    expect(await calls()).toEqual([
      ['a', 'c1', '2025-01-15', 3],
      ['b', 'c1', '2025-01-15', 5],
      ['b', 'c2', '2025-01-15', 1],
    ]);
    expect(await calls({ exceptProcess: 'b' })).toEqual([['a', 'c1', '2025-01-15', 3]]);
    // Without a process: the rows of before processes.
    await saveUsageDays(t.ctx, [row('c1', '2025-01-14', 9)], AT);
    expect((await calls({ exceptProcess: 'a' })).map((r) => r[0])).toEqual([BEFORE_PROCESSES, 'b', 'b']);
    // Pruning goes by day, whoever wrote the rows.
    await pruneUsageDays(t.ctx, '2025-01-15');
    expect((await calls()).map((r) => r[2])).toEqual(['2025-01-15', '2025-01-15', '2025-01-15']);
  });

  it('reads only the rows written at or after updatedSince (the others are known already)', async () => {
    await saveUsageDays(t.ctx, [row('c1', '2025-01-15', 1), row('c2', '2025-01-15', 1)], AT, 'a');
    const later = new Date(AT.getTime() + 5_000);
    await saveUsageDays(t.ctx, [row('c2', '2025-01-15', 2)], later, 'a');
    expect(await calls({ updatedSince: later.toISOString() })).toEqual([['a', 'c2', '2025-01-15', 2]]);
    expect(await calls({ updatedSince: AT.toISOString() })).toHaveLength(2);
    expect(await calls({ updatedSince: new Date(later.getTime() + 1).toISOString() })).toEqual([]);
  });

  it('migration 012 keeps the rows stored before it, under the process id of before processes', async () => {
    await saveUsageDays(t.ctx, [row('c1', '2025-01-15', 4)], AT, 'a');
    // Back to the shape of 006, a row written the old way, and up again.
    await m012.down(t.db);
    const old = await sql<{ key: string; counters: string }>`select key, counters from usage_days`.execute(
      t.db,
    );
    expect(old.rows.map((r) => [r.key, JSON.parse(r.counters)])).toEqual([['c1', { calls: 4 }]]);
    await sql`insert into usage_days (scope, key, day, instance_key, counters, updated_at)
      values ('instance', 'i.mktorest.com', '2025-01-15', null, '{"calls":7}', '2025-01-15T18:00:00.000Z')`.execute(
      t.db,
    );
    await m012.up(t.db);
    expect(await calls()).toEqual([
      [BEFORE_PROCESSES, 'c1', '2025-01-15', 4],
      [BEFORE_PROCESSES, 'i.mktorest.com', '2025-01-15', 7],
    ]);
    // New processes write next to them.
    await saveUsageDays(t.ctx, [row('c1', '2025-01-15', 1)], AT, 'b');
    expect((await calls()).map((r) => [r[0], r[1], r[3]])).toEqual([
      [BEFORE_PROCESSES, 'c1', 4],
      [BEFORE_PROCESSES, 'i.mktorest.com', 7],
      ['b', 'c1', 1],
    ]);
    const table = (await t.db.introspection.getTables()).find((x) => x.name === 'usage_days');
    expect(table?.columns.map((c) => c.name).sort()).toEqual(
      ['counters', 'day', 'instance_key', 'key', 'process_id', 'scope', 'updated_at'].sort(),
    );
  });
});
