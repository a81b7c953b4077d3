import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticListMembershipsSync } from './static-list-memberships.ts';
import { staticListRecord, staticListsSync } from './static-lists.ts';
import { CrashError } from './testing.ts';
import { ok, readAllByToken, sorted, startHarness, type Harness } from './test-helpers.ts';

describe('static lists and memberships against the sandbox', () => {
  let h: Harness;
  let listIds: number[];
  /** `${listId}:${leadId}` as the direct reads see them. */
  const directMemberships = async () => {
    const out: string[] = [];
    for (const listId of listIds)
      for (const m of await readAllByToken(h, `/rest/v1/lists/${listId}/leads.json?fields=id`))
        out.push(`${listId}:${m.id}`);
    return out.sort();
  };

  beforeAll(async () => {
    h = await startHarness(400, 41);
    listIds = (await readAllByToken(h, '/rest/v1/lists.json')).map((l) => l.id as number);
    expect(listIds.length).toBeGreaterThanOrEqual(3);
  });
  afterAll(async () => h.close());

  it('static-lists: first run is exactly lists.json, paged, each page in the same sweep', async () => {
    const r = await h.engine.run(staticListsSync, { options: { batchSize: 2 } });
    expect(r.error).toBeUndefined();
    const direct = await readAllByToken(h, '/rest/v1/lists.json');
    const live = h.engine.live('StaticList');
    expect(sorted(live.keys())).toEqual(sorted(direct.map((l) => String(l.id))));
    for (const l of direct) expect(live.get(String(l.id))).toEqual(staticListRecord(l));
    expect(r.pages.length).toBe(Math.ceil(direct.length / 2));
    expect(new Set(r.pages.map((p) => p.sweep!.id)).size).toBe(1);
    expect(r.pages.map((p) => p.sweep!.complete)).toEqual([...Array(r.pages.length - 1).fill(false), true]);
    expect(r.checkpoints).toHaveLength(r.pages.length);
    expect(r.checkpoints.at(-1)).toEqual({ lastSweepAt: expect.any(String) });
  });

  it('memberships: first run is exactly the members of every list, over several pages', async () => {
    const r = await h.engine.run(staticListMembershipsSync, { options: { batchSize: 25 } });
    expect(r.error).toBeUndefined();
    const direct = await directMemberships();
    expect(direct.length).toBeGreaterThan(100);
    expect(sorted(h.engine.live('StaticListMembership').keys())).toEqual(direct);
    expect(r.added.StaticListMembership).toHaveLength(direct.length);
    expect(r.calls.filter((c) => c.includes('/leads.json')).every((c) => c.includes('fields=id'))).toBe(true);
    expect(r.pages.length).toBeGreaterThan(direct.length / 25);
    expect(r.checkpoints).toHaveLength(r.pages.length);
    expect(r.pages.at(-1)!.sweep!.complete).toBe(true);
    expect(r.deleted).toEqual({});
    const [listId, leadId] = direct[0]!.split(':').map(Number);
    expect(h.engine.live('StaticListMembership').get(direct[0]!)).toEqual({ id: direct[0], listId, leadId });
  });

  it('next runs: the added pairs are added, removed ones (and those of a deleted lead) are deleted', async () => {
    const before = new Set(h.engine.live('StaticListMembership').keys());
    const big = listIds[0]!;
    const small = listIds[1]!;
    const bigMembers = [...before].filter((k) => k.startsWith(`${big}:`)).map((k) => Number(k.split(':')[1]));
    const [removed, deletedLead] = bigMembers;
    const outsiders = Array.from({ length: 400 }, (_, i) => i + 1).filter(
      (id) => !before.has(`${small}:${id}`) && id !== deletedLead,
    );
    const [add1, add2] = outsiders;
    await ok(h, `/rest/v1/lists/${small}/leads.json`, {
      method: 'POST',
      json: { input: [{ id: add1 }, { id: add2 }] },
    });
    const rm = await ok(h, `/rest/v1/lists/${big}/leads.json?id=${removed}`, { method: 'DELETE' });
    expect(rm.result![0]).toMatchObject({ status: 'removed' });
    await ok(h, '/rest/v1/leads/delete.json', { method: 'POST', json: { input: [{ id: deletedLead }] } });
    const goneWithLead = [...before].filter((k) => k.endsWith(`:${deletedLead}`));

    const r = await h.engine.run(staticListMembershipsSync, { options: { batchSize: 25 } });
    expect(r.error).toBeUndefined();
    expect(sorted(r.added.StaticListMembership!)).toEqual(sorted([`${small}:${add1}`, `${small}:${add2}`]));
    expect(sorted(r.deleted.StaticListMembership!)).toEqual(sorted([`${big}:${removed}`, ...goneWithLead]));
    expect(r.updated).toEqual({});
    expect(sorted(h.engine.live('StaticListMembership').keys())).toEqual(await directMemberships());

    // Lists: membership changes moved the lists' updatedAt; no list was deleted.
    const lists = await h.engine.run(staticListsSync);
    expect(lists.added).toEqual({});
    expect(lists.deleted).toEqual({});
    expect(lists.updated.StaticList).toEqual(expect.arrayContaining([String(big), String(small)]));
  });

  it('a sweep resumed after a failure: same final set, nothing deleted by mistake', async () => {
    const engine = h.newEngine();
    const first = await engine.run(staticListMembershipsSync, { options: { batchSize: 20 } });
    expect(first.error).toBeUndefined();
    const crashed = await engine.run(staticListMembershipsSync, {
      options: { batchSize: 20 },
      crashAtSave: 3,
    });
    expect(crashed.error).toBeInstanceOf(CrashError);
    const mid = engine.checkpoints.get('static-list-memberships')!;
    expect(mid).toMatchObject({ sweepId: expect.any(String), listIds, index: expect.any(Number) });
    const resumed = await engine.run(staticListMembershipsSync, { options: { batchSize: 20 } });
    expect(resumed.error).toBeUndefined();
    expect(resumed.pages.every((p) => p.sweep!.id === mid.sweepId)).toBe(true);
    expect(resumed.calls.some((c) => c.startsWith('/rest/v1/lists.json'))).toBe(false);
    expect(resumed.deleted).toEqual({});
    expect(resumed.added).toEqual({});
    expect(sorted(engine.live('StaticListMembership').keys())).toEqual(await directMemberships());
  });

  it('listIds option: only those lists; a list that disappears (1013) is skipped', async () => {
    const engine = h.newEngine();
    const r = await engine.run(staticListMembershipsSync, { options: { listIds: [listIds[1], 987654] } });
    expect(r.error).toBeUndefined();
    expect(r.logs.some((l) => l.message.includes('not found'))).toBe(true);
    const direct = (await readAllByToken(h, `/rest/v1/lists/${listIds[1]}/leads.json?fields=id`)).map(
      (m) => `${listIds[1]}:${m.id}`,
    );
    expect(sorted(engine.live('StaticListMembership').keys())).toEqual(sorted(direct));
    expect(r.pages.at(-1)!.sweep!.complete).toBe(true);
  });
});
