import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nowOf } from '../db/context.ts';
import { openTestDb, type TestDb } from '../db/testing.ts';
import { loadUsageDays } from '../db/usage-days.ts';
import { MARKETO_QUOTA_DAY } from '../marketo/limits.ts';
import { UsagePersistence } from './usage-persistence.ts';
import { UsageRecorder, type UsageCounters } from './usage.ts';

/** Stored usage against a real (migrated) SQLite database. */
describe('UsagePersistence', () => {
  let t: TestDb;
  const I = 'abc-123-def.mktorest.com';
  beforeEach(async () => {
    t = await openTestDb(new Date('2025-01-15T18:00:00.000Z'));
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const recorder = () => new UsageRecorder({ day: MARKETO_QUOTA_DAY, now: () => nowOf(t.ctx).getTime() });
  const grant = (u: UsageRecorder, connectionId: string) =>
    u.granted({
      instanceKey: I,
      connectionId,
      priority: 'interactive',
      at: nowOf(t.ctx).getTime(),
      queuedMs: 0,
    });

  it('stores what changed and restores it into a new recorder', async () => {
    const log = pino({ level: 'silent' });
    const u = recorder();
    const p = await UsagePersistence.start(t.ctx, u, { log, now: () => nowOf(t.ctx), intervalMs: 60_000 });
    grant(u, 'c1');
    grant(u, 'c1');
    grant(u, 'c2');
    await p.flush();
    grant(u, 'c1');
    await p.close();
    const stored = await loadUsageDays<UsageCounters>(t.ctx, '2025-01-01');
    expect(
      stored
        .map((r) => [r.scope, r.key, r.day, r.counters.calls])
        .sort((a, b) => String(a).localeCompare(String(b))),
    ).toEqual([
      ['connection', 'c1', '2025-01-15', 3],
      ['connection', 'c2', '2025-01-15', 1],
      ['instance', I, '2025-01-15', 4],
    ]);

    const again = recorder();
    const p2 = await UsagePersistence.start(t.ctx, again, {
      log,
      now: () => nowOf(t.ctx),
      intervalMs: 60_000,
    });
    expect(again.callsOn('connection', 'c1', '2025-01-15')).toBe(3);
    expect(again.callsOn('instance', I, '2025-01-15')).toBe(4);
    await p2.close();
  });

  it('a failed write is retried with the next one, never thrown', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const u = recorder();
    const p = await UsagePersistence.start(t.ctx, u, { log, now: () => nowOf(t.ctx), intervalMs: 60_000 });
    grant(u, 'c1');
    await t.ctx.db.schema.alterTable('usage_days').renameTo('usage_days_away').execute();
    await expect(p.flush()).resolves.toBeUndefined();
    expect(lines.some((l) => l.includes('could not store API usage'))).toBe(true);
    await t.ctx.db.schema.alterTable('usage_days_away').renameTo('usage_days').execute();
    await p.close(); // nothing new counted: the failed rows alone are written
    const stored = await loadUsageDays<UsageCounters>(t.ctx, '2025-01-01');
    expect(stored.map((r) => [r.scope, r.counters.calls]).sort()).toEqual([
      ['connection', 1],
      ['instance', 1],
    ]);
  });
  it("two processes on one database: each stores only its rows and reads the others', summed", async () => {
    const log = pino({ level: 'silent' });
    const a = recorder();
    const b = recorder();
    const opts = (processId: string) => ({ log, now: () => nowOf(t.ctx), intervalMs: 60_000, processId });
    const pa = await UsagePersistence.start(t.ctx, a, opts('a'));
    const pb = await UsagePersistence.start(t.ctx, b, opts('b'));
    const told: number[] = [];
    b.onElsewhere((scope, key, _day, calls) => {
      if (scope === 'connection' && key === 'c1') told.push(calls);
    });
    grant(a, 'c1');
    grant(a, 'c1');
    grant(b, 'c1');
    await pa.flush();
    await pb.flush(); // stores b's call, then reads a's
    await pa.flush(); // reads b's
    for (const u of [a, b]) {
      const [row] = await u.snapshot({ connectionId: 'c1' });
      expect(row?.calls).toBe(3);
      expect(u.callsOn('instance', I, '2025-01-15')).toBe(3);
    }
    expect(told).toEqual([2]);
    grant(a, 'c1');
    await pa.flush();
    await pb.flush();
    expect(told).toEqual([2, 3]);
    expect((await loadUsageDays<UsageCounters>(t.ctx, '2025-01-01')).map((r) => r.processId).sort()).toEqual([
      'a',
      'a',
      'b',
      'b',
    ]);
    await pa.close();
    await pb.close();

    // A restart is a new process: every stored row is elsewhere, today's spend is kept.
    const again = recorder();
    const p3 = await UsagePersistence.start(t.ctx, again, opts('c'));
    expect(again.callsOn('connection', 'c1', '2025-01-15')).toBe(4);
    expect(again.ownCallsOn('connection', 'c1', '2025-01-15')).toBe(0);
    await p3.close();
  });

  it("reads only the others' rows written since its last read, and keeps counting the older ones", async () => {
    const log = pino({ level: 'silent' });
    const a = recorder();
    const b = recorder();
    const opts = (processId: string) => ({ log, now: () => nowOf(t.ctx), intervalMs: 60_000, processId });
    const pa = await UsagePersistence.start(t.ctx, a, opts('a'));
    const pb = await UsagePersistence.start(t.ctx, b, opts('b'));
    grant(a, 'c1');
    await pa.flush();
    await pb.flush();
    expect(b.callsOn('connection', 'c1', '2025-01-15')).toBe(1);
    // Ten minutes later (past the re-read margin) a writes another connection's row only: b reads that
    // one, and still counts c1's call, which it does not read again.
    t.clock.now = new Date(t.clock.now.getTime() + 10 * 60_000);
    grant(a, 'c2');
    await pa.flush();
    await pb.flush();
    expect(b.callsOn('connection', 'c2', '2025-01-15')).toBe(1);
    expect(b.callsOn('connection', 'c1', '2025-01-15')).toBe(1);
    expect(b.callsOn('instance', I, '2025-01-15')).toBe(2);
    await pa.close();
    await pb.close();
  });
});
