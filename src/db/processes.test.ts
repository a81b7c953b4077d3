import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from './testing.ts';
import { beatProcess, countLiveProcesses, pruneProcesses, removeProcess } from './processes.ts';

/** The processes repository on a real database (SQLite; PostgreSQL with TETHER_TEST_POSTGRES_URL). */
describe('processes repository', () => {
  let t: TestDb;
  const T0 = new Date('2025-01-01T00:00:00.000Z');
  const at = (s: number) => new Date(T0.getTime() + s * 1000);

  beforeEach(async () => {
    t = await openTestDb(T0);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('counts the processes that beat recently; a stop removes one, silence ages one out', async () => {
    expect(await countLiveProcesses(t.ctx, at(-15))).toBe(0);
    await beatProcess(t.ctx, 'a', at(0));
    await beatProcess(t.ctx, 'b', at(1));
    expect(await countLiveProcesses(t.ctx, at(-15))).toBe(2);
    // A beat renews the row (no second row for one process).
    await beatProcess(t.ctx, 'a', at(20));
    expect(await countLiveProcesses(t.ctx, at(5))).toBe(1);
    expect(await countLiveProcesses(t.ctx, at(0))).toBe(2);
    await removeProcess(t.ctx, 'a');
    expect(await countLiveProcesses(t.ctx, at(0))).toBe(1);
    await pruneProcesses(t.ctx, at(2));
    expect(await countLiveProcesses(t.ctx, at(-100))).toBe(0);
  });
});
