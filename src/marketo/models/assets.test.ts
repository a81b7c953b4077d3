import { describe, expect, it } from 'vitest';
import { assetRecord, needsFullSweep } from './assets.ts';
import { programsSync } from './programs.ts';
import { MemoryEngine } from './testing.ts';

/**
 * A fake asset browse endpoint (offset/maxReturn, updatedAt window, "No assets found" past the end) over
 * an array the test edits, so deletions, which the sandbox cannot do, can be tested too.
 */
function fakeAssets(count: number, base: number) {
  const items = Array.from({ length: count }, (_, i) => ({
    id: 1001 + i,
    name: `P${i}`,
    updatedAt: new Date(base - (count - i) * 60_000).toISOString().slice(0, 19) + 'Z+0000',
  }));
  let beforeCall: ((n: number) => void) | undefined;
  let calls = 0;
  const get = async (path: string) => {
    beforeCall?.(++calls);
    const q = new URL(path, 'http://x').searchParams;
    const offset = Number(q.get('offset') ?? 0);
    const max = Number(q.get('maxReturn') ?? 20);
    const from = q.get('earliestUpdatedAt') ? Date.parse(q.get('earliestUpdatedAt')!) : -Infinity;
    const to = q.get('latestUpdatedAt') ? Date.parse(q.get('latestUpdatedAt')!) : Infinity;
    const page = items
      .filter((p) => {
        const t = Date.parse(p.updatedAt.replace('Z+0000', 'Z'));
        return t >= from && t <= to;
      })
      .slice(offset, offset + max);
    if (page.length === 0)
      return { success: true, errors: [], warnings: ['No assets found for the given search criteria.'] };
    return { success: true, errors: [], warnings: [], result: page.map((p) => ({ ...p })) };
  };
  return {
    items,
    get,
    onCall(fn: ((n: number) => void) | undefined) {
      beforeCall = fn;
      calls = 0;
    },
  };
}

describe('asset syncs without a network', () => {
  const t0 = Date.UTC(2026, 0, 10, 12);

  it('a full sweep deletes assets gone since the last one; incremental runs never delete', async () => {
    let now = t0;
    const fake = fakeAssets(12, t0);
    const engine = new MemoryEngine({ get: fake.get, now: () => new Date(now) });
    const first = await engine.run(programsSync, { options: { maxReturn: 5 } });
    expect(first.error).toBeUndefined();
    expect(first.added.Program).toHaveLength(12);
    expect(first.pages.at(-1)!.sweep).toMatchObject({ complete: true, models: ['Program'] });

    fake.items.splice(3, 1); // id 1004 is deleted in Marketo
    now += 3600_000;
    const incremental = await engine.run(programsSync, { options: { maxReturn: 5 } });
    expect(incremental.calls.every((c) => c.includes('earliestUpdatedAt='))).toBe(true);
    expect(incremental.deleted).toEqual({});
    expect(incremental.pages.every((p) => p.sweep === undefined)).toBe(true);

    now += 86_400_000; // past the full-sweep interval
    const full = await engine.run(programsSync, { options: { maxReturn: 5 } });
    expect(full.calls.some((c) => c.includes('earliestUpdatedAt='))).toBe(false);
    expect(full.deleted).toEqual({ Program: ['1004'] });
    expect(engine.live('Program').size).toBe(11);
  });

  it('an asset deleted during a sweep: nothing is deleted, the high-water mark holds, the next run sweeps again', async () => {
    let now = t0;
    const fake = fakeAssets(12, t0);
    const engine = new MemoryEngine({ get: fake.get, now: () => new Date(now) });
    await engine.run(programsSync, { options: { maxReturn: 5 } });
    const before = engine.checkpoints.get('programs')!;

    now += 2 * 86_400_000;
    // Before the 2nd call of the sweep, three early programs vanish: offsets shift past the overlap.
    fake.onCall((n) => {
      if (n === 2) fake.items.splice(0, 3);
    });
    const broken = await engine.run(programsSync, { options: { maxReturn: 5 } });
    fake.onCall(undefined);
    expect(broken.error).toBeUndefined();
    expect(broken.pages.at(-1)!.sweep).toMatchObject({ complete: false });
    expect(broken.deleted).toEqual({});
    const cp = engine.checkpoints.get('programs')!;
    expect(cp.lastFullSweepAt).toBeUndefined();
    expect(cp.highWater).toBe(before.highWater);

    const again = await engine.run(programsSync, { options: { maxReturn: 5 } });
    expect(again.pages.at(-1)!.sweep).toMatchObject({ complete: true });
    expect(again.deleted.Program!.sort()).toEqual(['1001', '1002', '1003']);
    expect(engine.live('Program').size).toBe(9);
  });

  it('a run resumed from a mid-sweep checkpoint completes the same sweep', async () => {
    const fake = fakeAssets(12, t0);
    const engine = new MemoryEngine({ get: fake.get, now: () => new Date(t0) });
    const crashed = await engine.run(programsSync, { options: { maxReturn: 5 }, crashAtSave: 2 });
    expect(crashed.error).toBeDefined();
    const mid = engine.checkpoints.get('programs')!;
    expect(mid.run).toMatchObject({ kind: 'full', cursor: { offset: 4, lastId: '1005' } });
    const resumed = await engine.run(programsSync, { options: { maxReturn: 5 } });
    expect(resumed.pages.every((p) => p.sweep?.id === crashed.pages[0]!.sweep!.id)).toBe(true);
    expect(resumed.pages.at(-1)!.sweep!.complete).toBe(true);
    expect(resumed.deleted).toEqual({});
    expect(engine.live('Program').size).toBe(12);
    // The page whose checkpoint was lost is read again: its records come back unchanged, not added twice.
    expect((crashed.added.Program?.length ?? 0) + (resumed.added.Program?.length ?? 0)).toBe(12);
  });

  it('record shape and sweep scheduling', () => {
    expect(assetRecord({ id: 7, updatedAt: '2015-05-21T22:45:13Z+0000', folder: { value: 3 } })).toEqual({
      id: '7',
      updatedAt: '2015-05-21T22:45:13Z',
      folder: { value: 3 },
    });
    expect(assetRecord({ name: 'no id' })).toBeUndefined();
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(needsFullSweep({}, now, 86_400, false)).toBe(true);
    const cp = { highWater: '2026-01-01T00:00:00Z', lastFullSweepAt: '2026-01-01T12:00:00Z' };
    expect(needsFullSweep(cp, now, 86_400, false)).toBe(false);
    expect(needsFullSweep(cp, now, 3600, false)).toBe(true);
    expect(needsFullSweep(cp, now, 86_400, true)).toBe(true);
  });
});
