import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetRecord } from './assets.ts';
import { programsSync } from './programs.ts';
import { CrashError } from './testing.ts';
import { ok, readAllAssets, sorted, startHarness, type Harness } from './test-helpers.ts';

describe('programs sync against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(50, 51);
  });
  afterAll(async () => h.close());

  it('first run: a full sweep yielding exactly programs.json, page by page', async () => {
    const r = await h.engine.run(programsSync, { options: { maxReturn: 10 } });
    expect(r.error).toBeUndefined();
    const direct = await readAllAssets(h, '/rest/asset/v1/programs.json');
    expect(direct.length).toBeGreaterThan(20);
    const live = h.engine.live('Program');
    expect(sorted(live.keys())).toEqual(sorted(direct.map((p) => String(p.id))));
    for (const p of direct) expect(live.get(String(p.id))).toEqual(assetRecord(p));
    expect(live.get(String(direct[0]!.id))!.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(r.added.Program).toHaveLength(direct.length);
    expect(r.pages.length).toBeGreaterThan(3);
    expect(r.checkpoints).toHaveLength(r.pages.length);
    expect(r.pages.at(-1)!.sweep).toMatchObject({ complete: true, models: ['Program'] });
    const maxUpdated = direct
      .map((p) => String(p.updatedAt).replace('Z+0000', 'Z'))
      .sort()
      .at(-1);
    expect(r.checkpoints.at(-1)).toEqual({ highWater: maxUpdated, lastFullSweepAt: expect.any(String) });
  });

  it('next run: incremental by updatedAt, yielding exactly the renamed program', async () => {
    await h.advance(3600);
    const direct = await readAllAssets(h, '/rest/asset/v1/programs.json');
    const target = direct[7]!;
    const res = await h.api(`/rest/asset/v1/program/${target.id}.json`, {
      method: 'POST',
      body: new URLSearchParams({ name: 'Renamed by the sync test' }),
    });
    expect(res.success).toBe(true);

    const r = await h.engine.run(programsSync, { options: { maxReturn: 10 } });
    expect(r.error).toBeUndefined();
    expect(r.calls.every((c) => c.includes('earliestUpdatedAt=') && c.includes('latestUpdatedAt='))).toBe(
      true,
    );
    expect(r.added).toEqual({});
    expect(r.updated).toEqual({ Program: [String(target.id)] });
    expect(r.deleted).toEqual({});
    expect(r.pages.every((p) => p.sweep === undefined)).toBe(true);
    expect(h.engine.live('Program').get(String(target.id))!.name).toBe('Renamed by the sync test');
    // The window starts a few minutes before the previous high-water mark: few programs are read again.
    expect((r.unchanged.Program ?? []).length).toBeLessThan(5);

    const idle = await h.engine.run(programsSync, { options: { maxReturn: 10 } });
    expect(idle.added).toEqual({});
    expect(idle.updated).toEqual({});
  });

  it('after a day, a full sweep again (nothing changed: nothing added, updated or deleted)', async () => {
    await h.advance(86_400);
    const r = await h.engine.run(programsSync, { options: { maxReturn: 10 } });
    expect(r.error).toBeUndefined();
    expect(r.calls.some((c) => c.includes('earliestUpdatedAt='))).toBe(false);
    expect(r.pages.at(-1)!.sweep!.complete).toBe(true);
    expect(r.added).toEqual({});
    expect(r.updated).toEqual({});
    expect(r.deleted).toEqual({});
  });

  it('resuming from a mid-run checkpoint gives the same final set without gaps or duplicates', async () => {
    const engine = h.newEngine();
    const crashed = await engine.run(programsSync, { options: { maxReturn: 8 }, crashAtSave: 3 });
    expect(crashed.error).toBeInstanceOf(CrashError);
    expect(engine.checkpoints.get('programs')).toMatchObject({ run: { kind: 'full' } });
    const resumed = await engine.run(programsSync, { options: { maxReturn: 8 } });
    expect(resumed.error).toBeUndefined();
    expect(sorted(engine.live('Program').keys())).toEqual(sorted(h.engine.live('Program').keys()));
    expect(crashed.added.Program!.length + resumed.added.Program!.length).toBe(engine.live('Program').size);
    expect(resumed.deleted).toEqual({});
    await expect(ok(h, '/rest/asset/v1/programs.json?maxReturn=1')).resolves.toBeDefined();
  });
});
