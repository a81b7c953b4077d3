import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activitiesSync, activityRecord } from './activities.ts';
import { CrashError } from './testing.ts';
import { ok, readAllSince, sorted, startHarness, type Harness, type Row } from './test-helpers.ts';

/** These tests are about the REST path (the bulk path: activity-exports.test.ts). */
const REST = { activityExport: 'rest' };

describe('activities sync against the sandbox (REST path)', () => {
  let h: Harness;
  let since: string;
  let typeIds: number[];
  let expected: Map<string, Row>;

  beforeAll(async () => {
    h = await startHarness(300, 21);
    since = new Date(h.now().getTime() - 30 * 86_400_000).toISOString().slice(0, 19) + 'Z';
    const types = await ok(h, '/rest/v1/activities/types.json');
    typeIds = types.result!.map((t) => t.id as number);
    expect(typeIds.length).toBeGreaterThan(10);
    // Direct reads, one type at a time (a different grouping than the sync's).
    expected = new Map();
    for (const id of typeIds) {
      for (const a of await readAllSince(h, `/rest/v1/activities.json?activityTypeIds=${id}`, since))
        expected.set(a.marketoGUID as string, a);
    }
    expect(expected.size).toBeGreaterThan(200);
  });
  afterAll(async () => h.close());

  it('first run: exactly the activities since the start date, in several pages, a checkpoint after each', async () => {
    const r = await h.engine.run(activitiesSync, {
      options: { ...REST, sinceDatetime: since, batchSize: 50 },
    });
    expect(r.error).toBeUndefined();
    const live = h.engine.live('Activity');
    expect(sorted(live.keys())).toEqual(sorted(expected.keys()));
    expect(r.added.Activity).toHaveLength(expected.size);
    expect(r.updated).toEqual({});
    for (const [guid, item] of expected) expect(live.get(guid)).toEqual(activityRecord(item));
    expect(r.pages.length).toBeGreaterThan(expected.size / 50);
    expect(r.checkpoints).toHaveLength(r.pages.length);
    // ≤10 activity types per call; every type read; the default is every type types.json lists.
    const groups = r.calls
      .filter((c) => c.startsWith('/rest/v1/activities.json'))
      .map((c) => new URL(c, 'http://x').searchParams.get('activityTypeIds')!.split(','));
    expect(Math.max(...groups.map((g) => g.length))).toBeLessThanOrEqual(10);
    expect(new Set(groups.flat().map(Number))).toEqual(new Set(typeIds));
    const cp = r.checkpoints.at(-1) as { groups: { typeIds: number[]; nextPageToken: string }[] };
    expect(cp.groups.length).toBe(Math.ceil(typeIds.length / 10));
    expect(cp.groups.every((g) => typeof g.nextPageToken === 'string')).toBe(true);
  });

  it('next run: exactly the New Lead, Change Data Value and Add to List activities written since', async () => {
    const created = await ok(h, '/rest/v1/leads.json', {
      method: 'POST',
      json: {
        action: 'createOnly',
        input: [
          { email: 'act-sync-1@example.com', firstName: 'Ada' },
          { email: 'act-sync-2@example.com', firstName: 'Bo' },
        ],
      },
    });
    const [a, b] = created.result!.map((x) => x.id as number);
    const updated = await ok(h, '/rest/v1/leads.json', {
      method: 'POST',
      json: { action: 'updateOnly', lookupField: 'id', input: [{ id: 5, firstName: 'Renamed Five' }] },
    });
    expect(updated.result![0]).toMatchObject({ status: 'updated' });
    const added = await ok(h, `/rest/v1/lists/1004/leads.json`, {
      method: 'POST',
      json: { input: [{ id: a }] },
    });
    expect(added.result![0]).toMatchObject({ status: 'added' });

    const r = await h.engine.run(activitiesSync, {
      options: { ...REST, sinceDatetime: since, batchSize: 50 },
    });
    expect(r.error).toBeUndefined();
    expect(r.updated).toEqual({});
    const live = h.engine.live('Activity');
    const got = r.added.Activity!.map((id) => `${live.get(id)!.activityTypeId}:${live.get(id)!.leadId}`);
    expect(got.sort()).toEqual([`12:${a}`, `12:${b}`, '13:5', `24:${a}`].sort());
    // sinceDatetime only matters for types without a token: the run resumed from the checkpoint.
    expect(r.calls.some((c) => c.includes('pagingtoken.json'))).toBe(false);

    const idle = await h.engine.run(activitiesSync, { options: { ...REST, sinceDatetime: since } });
    expect(idle.added).toEqual({});
  });

  it('a run that fails mid-way resumes from its last checkpoint: same final set, no gaps, no duplicates', async () => {
    const engine = h.newEngine();
    const crashed = await engine.run(activitiesSync, {
      options: { ...REST, sinceDatetime: since, batchSize: 40 },
      crashAtSave: 4,
    });
    expect(crashed.error).toBeInstanceOf(CrashError);
    expect(crashed.checkpoints).toHaveLength(3);
    const resumed = await engine.run(activitiesSync, {
      options: { ...REST, sinceDatetime: since, batchSize: 40 },
    });
    expect(resumed.error).toBeUndefined();
    const all = await ok(h, '/rest/v1/activities/types.json');
    expect(all.result).toHaveLength(typeIds.length);
    expect(sorted(engine.live('Activity').keys())).toEqual(sorted(h.engine.live('Activity').keys()));
    // The 4th page was stored without its checkpoint, so it is read again: unchanged, not added twice.
    const addedTotal = crashed.added.Activity!.length + resumed.added.Activity!.length;
    expect(addedTotal).toBe(h.engine.live('Activity').size);
    expect(resumed.unchanged.Activity!.length).toBe(crashed.pages[3]!.upserts!.Activity!.length);
  });

  it('explicit activityTypeIds: only those types; a type added later starts at the start date', async () => {
    const engine = h.newEngine();
    const r1 = await engine.run(activitiesSync, {
      options: { ...REST, sinceDatetime: since, activityTypeIds: [12, 13] },
    });
    expect(r1.calls.some((c) => c.includes('types.json'))).toBe(false);
    const want = [...expected.values()].filter((x) => [12, 13].includes(x.activityTypeId as number));
    // Plus the New Lead ×2 and Change Data Value written by the previous test.
    expect(r1.added.Activity).toHaveLength(want.length + 3);
    const r2 = await engine.run(activitiesSync, {
      options: { ...REST, sinceDatetime: since, activityTypeIds: '12,13,24' },
    });
    const types = new Set(r2.added.Activity!.map((id) => engine.live('Activity').get(id)!.activityTypeId));
    expect(types).toEqual(new Set([24]));
    const cp = engine.checkpoints.get('activities') as { groups: { typeIds: number[] }[] };
    expect(cp.groups.map((g) => g.typeIds)).toEqual([[12, 13], [24]]);
  });
});
