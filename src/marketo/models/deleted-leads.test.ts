import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletedLeadsSync } from './deleted-leads.ts';
import { ok, readAllSince, sorted, startHarness, type Harness } from './test-helpers.ts';

describe('deleted-leads sync against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(200, 31);
  });
  afterAll(async () => h.close());

  const del = (ids: number[]) =>
    ok(h, '/rest/v1/leads/delete.json', { method: 'POST', json: { input: ids.map((id) => ({ id })) } });

  it('first run: exactly the deleted leads of the last 14 days', async () => {
    await del([3, 4]);
    const since = new Date(h.now().getTime() - 14 * 86_400_000).toISOString().slice(0, 19) + 'Z';
    const direct = await readAllSince(h, '/rest/v1/activities/deletedleads.json', since);
    expect(direct.map((d) => d.leadId).sort()).toEqual([3, 4]);
    const r = await h.engine.run(deletedLeadsSync);
    expect(r.error).toBeUndefined();
    expect(sorted(h.engine.live('DeletedLead').keys())).toEqual(['3', '4']);
    expect(h.engine.live('DeletedLead').get('3')).toMatchObject({
      id: '3',
      leadId: 3,
      deletedAt: expect.any(String),
    });
    expect(sorted(r.deleteRequests.Lead!)).toEqual(['3', '4']);
  });

  it('next run: exactly the leads deleted since, and their Lead records are marked deleted', async () => {
    // Lead records as the Lead sync (bulk extract) would have stored them.
    h.engine.records.set(
      'Lead',
      new Map(
        [10, 11, 12].map((id) => [
          String(id),
          { record: { id: String(id), email: `l${id}@x.test` }, deleted: false },
        ]),
      ),
    );
    await del([10, 11]);
    const r = await h.engine.run(deletedLeadsSync, { options: { batchSize: 1 } });
    expect(r.error).toBeUndefined();
    expect(r.added.DeletedLead!.sort()).toEqual(['10', '11']);
    expect(r.deleteRequests.Lead!.sort()).toEqual(['10', '11']);
    expect(r.deleted).toEqual({ Lead: expect.arrayContaining(['10', '11']) });
    expect(sorted(h.engine.live('Lead').keys())).toEqual(['12']);
    // batchSize 1: one page per deleted lead, each with its checkpoint.
    expect(r.pages.filter((p) => (p.upserts?.DeletedLead?.length ?? 0) > 0)).toHaveLength(2);
    expect(r.checkpoints).toHaveLength(r.pages.length);

    const idle = await h.engine.run(deletedLeadsSync);
    expect(idle.added).toEqual({});
    expect(idle.deleteRequests).toEqual({});
    expect(idle.calls.some((c) => c.includes('pagingtoken.json'))).toBe(false);
  });

  it('warns when the previous run is older than Marketo keeps deleted leads', async () => {
    await h.advance(15 * 86_400);
    const r = await h.engine.run(deletedLeadsSync);
    expect(r.error).toBeUndefined();
    expect(r.logs.some((l) => /older than 14 days/.test(l.message))).toBe(true);
  });
});
