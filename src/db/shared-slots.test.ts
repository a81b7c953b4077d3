import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type OpenDatabase } from './database.ts';
import type { DbContext } from './context.ts';
import { beatProcess } from './processes.ts';
import { releaseProcessSlots, releaseSlot, slotHolders, takeSlot, type SlotTake } from './shared-slots.ts';
import { openTestDb, type TestDb } from './testing.ts';

/**
 * The shared slots repository on a real database (SQLite; PostgreSQL in the `postgres` project): the cap
 * per scope, idempotent re-takes, release, dead processes' rows, and two connections racing for the last
 * slot.
 */
describe('shared slots repository', () => {
  let t: TestDb;
  const T0 = new Date('2025-01-01T00:00:00.000Z');
  const at = (s: number) => new Date(T0.getTime() + s * 1000);
  /** Live = a heartbeat in the last 15 s. */
  const take = (ctx: DbContext, processId: string, holder: string, max: number | undefined, s = 0) => {
    const input: SlotTake = { scope: 'q', holder, processId, liveSince: at(s - 15), now: at(s) };
    if (max !== undefined) input.max = max;
    return takeSlot(ctx, input);
  };
  const holders = (processId = 'a', s = 0) => slotHolders(t.ctx, 'q', processId, at(s - 15));

  beforeEach(async () => {
    t = await openTestDb(T0);
    await beatProcess(t.ctx, 'a', at(0));
    await beatProcess(t.ctx, 'b', at(0));
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('holds at most max holders per scope across processes; scopes are separate', async () => {
    expect(await take(t.ctx, 'a', 'j1', 3)).toBe(true);
    expect(await take(t.ctx, 'b', 'j2', 3)).toBe(true);
    expect(await take(t.ctx, 'a', 'j3', 3)).toBe(true);
    expect(await take(t.ctx, 'b', 'j4', 3)).toBe(false);
    expect(await take(t.ctx, 'a', 'j4', 3)).toBe(false);
    // Another scope has its own slots.
    expect(
      await takeSlot(t.ctx, {
        scope: 'other',
        holder: 'j4',
        processId: 'a',
        liveSince: at(-15),
        now: at(0),
        max: 1,
      }),
    ).toBe(true);
    expect((await holders()).map((h) => h.holder)).toEqual(['j1', 'j2', 'j3']);
    // Bad caps take nothing.
    expect(await take(t.ctx, 'a', 'j9', 0)).toBe(false);
    expect(await take(t.ctx, 'a', 'j9', Number.NaN)).toBe(false);
  });

  it('a re-take is idempotent, moves the holder to the taker, and succeeds even when the scope is full', async () => {
    expect(await take(t.ctx, 'a', 'j1', 2)).toBe(true);
    expect(await take(t.ctx, 'a', 'j1', 2)).toBe(true);
    expect(await take(t.ctx, 'a', 'j2', 2)).toBe(true);
    expect(await holders()).toHaveLength(2);
    expect(await take(t.ctx, 'b', 'j1', 2)).toBe(true);
    expect(await holders()).toEqual([
      { holder: 'j1', processId: 'b' },
      { holder: 'j2', processId: 'a' },
    ]);
    // Without a cap (a job already at Marketo) a holder is taken whatever the count.
    expect(await take(t.ctx, 'b', 'j3', undefined)).toBe(true);
    expect(await holders()).toHaveLength(3);
  });

  it("release frees a slot, only the holder's own; a clean stop frees all of a process's", async () => {
    expect(await take(t.ctx, 'a', 'j1', 2)).toBe(true);
    expect(await take(t.ctx, 'b', 'j2', 2)).toBe(true);
    expect(await take(t.ctx, 'a', 'j3', 2)).toBe(false);
    // b's holder is not a's to release.
    await releaseSlot(t.ctx, 'q', 'j2', 'a');
    expect(await take(t.ctx, 'a', 'j3', 2)).toBe(false);
    await releaseSlot(t.ctx, 'q', 'j1', 'a');
    expect(await take(t.ctx, 'a', 'j3', 2)).toBe(true);
    await releaseProcessSlots(t.ctx, 'b');
    expect((await holders()).map((h) => h.holder)).toEqual(['j3']);
    // Releasing what is not held is harmless.
    await releaseSlot(t.ctx, 'q', 'nope', 'a');
  });

  it("a dead process's holders stop counting and are removed when met", async () => {
    expect(await take(t.ctx, 'b', 'j1', 2)).toBe(true);
    expect(await take(t.ctx, 'b', 'j2', 2)).toBe(true);
    expect(await take(t.ctx, 'a', 'j3', 2, 10)).toBe(false);
    // 20 s later only a beat: b is silent past the 15 s stale window.
    await beatProcess(t.ctx, 'a', at(20));
    expect(await holders('a', 20)).toEqual([]);
    expect(await take(t.ctx, 'a', 'j3', 2, 20)).toBe(true);
    expect(await take(t.ctx, 'a', 'j4', 2, 20)).toBe(true);
    // b's rows are gone: when b beats again, they do not come back.
    await beatProcess(t.ctx, 'b', at(21));
    expect((await holders('a', 21)).map((h) => h.holder)).toEqual(['j3', 'j4']);
    // The caller's own holders count even when its heartbeat is stale.
    expect(await take(t.ctx, 'a', 'j5', 2, 100)).toBe(false);
  });

  it('two connections racing for the last slot: exactly one wins', async () => {
    // A second handle on the same database, as a second process has (a second pool on PostgreSQL).
    const second = await openSecond(t);
    try {
      const ctx2: DbContext = { ...t.ctx, db: second.db };
      for (let round = 0; round < 5; round++) {
        const scope = `race-${round}`;
        const input = (processId: string, holder: string): SlotTake => ({
          scope,
          holder,
          processId,
          liveSince: at(-15),
          now: at(0),
          max: 3,
        });
        expect(await takeSlot(t.ctx, input('a', 'x1'))).toBe(true);
        expect(await takeSlot(ctx2, input('b', 'x2'))).toBe(true);
        const results = await Promise.all([
          takeSlot(t.ctx, input('a', 'a-last')),
          takeSlot(ctx2, input('b', 'b-last')),
          takeSlot(t.ctx, input('a', 'a-other')),
          takeSlot(ctx2, input('b', 'b-other')),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await slotHolders(t.ctx, scope, 'a', at(-15))).toHaveLength(3);
      }
    } finally {
      await second.close();
    }
  });
});

/** Opens the test's database a second time (its own connection or pool). */
async function openSecond(t: TestDb): Promise<OpenDatabase> {
  if (t.dialect === 'sqlite') return openDatabase({ database: { kind: 'sqlite', file: t.file } });
  const url = process.env.TETHER_TEST_POSTGRES_URL;
  if (!url) throw new Error('postgres without TETHER_TEST_POSTGRES_URL');
  // The test's schema is the first pool's search_path: read it back, open a pool on it.
  const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(t.db)).rows[0]!.s;
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return openDatabase({ database: { kind: 'postgres', url: u.toString() } }, { migrate: false });
}
