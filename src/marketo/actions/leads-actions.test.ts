/**
 * upsert-leads, delete-leads, merge-leads and add-custom-activities against a real sandbox over HTTP:
 * the effect read back through Marketo's REST API, per-record skips, batching and call-level errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarketoSyncError } from '../models/types.ts';
import { addCustomActivities } from './add-custom-activities.ts';
import { deleteLeads } from './delete-leads.ts';
import { mergeLeads } from './merge-leads.ts';
import { startActionHarness, type ActionHarness } from './test-helpers.ts';
import type { ActionIO } from './types.ts';
import { upsertLeads } from './upsert-leads.ts';

type Row = Record<string, unknown>;

let h: ActionHarness;
beforeAll(async () => {
  h = await startActionHarness(200, 7);
});
afterAll(async () => h.close());

async function leadByEmail(email: string, fields = 'id,email,firstName'): Promise<Row[]> {
  const body = await h.ok(
    `/rest/v1/leads.json?filterType=email&filterValues=${encodeURIComponent(email)}&fields=${fields}`,
  );
  return body.result ?? [];
}

async function leadById(id: number): Promise<Row | undefined> {
  return (await h.ok(`/rest/v1/lead/${id}.json?fields=id,email,firstName,lastName`)).result?.[0];
}

describe('upsert-leads', () => {
  it('creates 650 leads in 3 calls, then updates them, skipping an unknown email with 1004', async () => {
    const before = await h.counted('POST /rest/v1/leads.json');
    const leads = Array.from({ length: 650 }, (_, i) => ({
      email: `upsert-${i}@example.com`,
      firstName: 'New',
    }));
    const created = await h.run(upsertLeads, { leads });
    expect(await h.counted('POST /rest/v1/leads.json')).toBe(before + 3);
    expect(created).toMatchObject({ created: 650, updated: 0, skipped: 0 });
    expect(created.results.map((r) => r.index)).toEqual(leads.map((_, i) => i));
    const r649 = created.results[649]!;
    expect(r649.status).toBe('created');
    expect(await leadByEmail('upsert-649@example.com')).toEqual([
      { id: r649.id, email: 'upsert-649@example.com', firstName: 'New' },
    ]);

    const updated = await h.run(upsertLeads, {
      action: 'updateOnly',
      lookupField: 'email',
      leads: [
        { email: 'upsert-0@example.com', firstName: 'Changed' },
        { email: 'nobody-here@example.com', firstName: 'Ghost' },
      ],
    });
    expect(updated).toEqual({
      results: [
        { index: 0, id: created.results[0]!.id, status: 'updated' },
        { index: 1, status: 'skipped', reasons: [{ code: '1004', message: expect.any(String) }] },
      ],
      created: 0,
      updated: 1,
      skipped: 1,
    });
    expect((await leadByEmail('upsert-0@example.com'))[0]).toMatchObject({ firstName: 'Changed' });
    expect(await leadByEmail('nobody-here@example.com')).toEqual([]);
  });

  it('skips createOnly of an existing lead with 1005', async () => {
    const out = await h.run(upsertLeads, {
      action: 'createOnly',
      leads: [{ email: 'upsert-1@example.com' }],
    });
    expect(out.results).toEqual([
      { index: 0, status: 'skipped', reasons: [{ code: '1005', message: expect.any(String) }] },
    ]);
  });

  it('throws the Marketo code of a refused call (unknown lookup field) and logs the batch, not the records', async () => {
    h.logs.length = 0;
    const err = await h
      .run(upsertLeads, { lookupField: 'noSuchField', leads: [{ email: 'secret-person@example.com' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MarketoSyncError);
    expect((err as MarketoSyncError).code).toMatch(/^10(06|11)$/);
    expect(h.logs).toHaveLength(1);
    expect(h.logs[0]!.data).toMatchObject({ batch: 1, batches: 1, total: 1 });
    expect(JSON.stringify(h.logs)).not.toContain('secret-person');
  });

  it('says how many leads were written when a later batch fails', async () => {
    // A 604 on the second call (installed once the first call has answered).
    let calls = 0;
    const io: ActionIO = {
      ...h.io,
      post: async (path, body) => {
        const res = await h.io.post(path, body);
        if (++calls === 1) {
          const f = await h.sb.control('POST', `/instances/${h.sb.munchkinId}/faults`, {
            kind: 'error',
            code: '604',
            count: 1,
            path: '/rest/v1/leads.json',
          });
          expect(f.status).toBeLessThan(300);
        }
        return res;
      },
    };
    const leads = Array.from({ length: 650 }, (_, i) => ({ email: `partial-${i}@example.com` }));
    const err = await upsertLeads.run(io, upsertLeads.input.parse({ leads })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MarketoSyncError);
    expect((err as MarketoSyncError).code).toBe('604');
    expect((err as Error).message).toContain('after 300 of 650 leads were written');
    expect(await leadByEmail('partial-299@example.com')).toHaveLength(1);
    expect(await leadByEmail('partial-300@example.com')).toEqual([]);
  });
});

describe('delete-leads', () => {
  it('deletes known leads and skips unknown ids with 1004', async () => {
    expect(await leadById(10)).toBeDefined();
    const out = await h.run(deleteLeads, { ids: [10, 11, 99_999_999] });
    expect(out).toEqual({
      results: [
        { id: 10, status: 'deleted' },
        { id: 11, status: 'deleted' },
        { id: 99_999_999, status: 'skipped', reasons: [{ code: '1004', message: expect.any(String) }] },
      ],
      deleted: 2,
      skipped: 1,
    });
    expect(await leadById(10)).toBeUndefined();
    // Idempotent: the repeat skips what is gone.
    expect(await h.run(deleteLeads, { ids: [10] })).toMatchObject({ deleted: 0, skipped: 1 });
  });
});

describe('merge-leads', () => {
  it('merges losers into the winner (losers deleted), and throws 1004 for an unknown lead', async () => {
    expect(await leadById(20)).toBeDefined();
    const before = await h.counted('POST /rest/v1/leads/:id/merge.json');
    const out = await h.run(mergeLeads, { winnerId: 20, loserIds: [21, 22], mergeInCRM: false });
    expect(out).toEqual({ winnerId: 20, merged: [21, 22] });
    expect(await leadById(20)).toBeDefined();
    expect(await leadById(21)).toBeUndefined();
    expect(await leadById(22)).toBeUndefined();
    expect(await h.counted('POST /rest/v1/leads/:id/merge.json')).toBe(before + 1);

    const err = await h.run(mergeLeads, { winnerId: 20, loserIds: [21] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MarketoSyncError);
    expect((err as MarketoSyncError).code).toBe('1004');
  });
});

describe('add-custom-activities', () => {
  it('adds activities readable through the activities API, skipping an unknown lead with 1004', async () => {
    const since = (await h.ok('/rest/v1/activities/pagingtoken.json?sinceDatetime=2000-01-01T00:00:00Z'))
      .nextPageToken as string;
    const base = {
      activityTypeId: 100001,
      activityDate: new Date(Date.now() - 60_000).toISOString(),
      primaryAttributeValue: 'Tether webinar',
      attributes: [{ name: 'Seconds Watched', value: 42 }],
    };
    const out = await h.run(addCustomActivities, {
      activities: [
        { ...base, leadId: 30 },
        { ...base, leadId: 99_999_999 },
      ],
    });
    expect(out.added).toBe(1);
    expect(out.skipped).toBe(1);
    expect(out.results[0]).toMatchObject({ index: 0, status: 'added', id: expect.any(Number) });
    expect(out.results[1]).toEqual({
      index: 1,
      status: 'skipped',
      reasons: [{ code: '1004', message: expect.any(String) }],
    });

    const found: Row[] = [];
    let token = since;
    for (;;) {
      const page = await h.ok(
        `/rest/v1/activities.json?activityTypeIds=100001&leadIds=30&nextPageToken=${encodeURIComponent(token)}`,
      );
      found.push(...(page.result ?? []));
      token = page.nextPageToken as string;
      if (!page.moreResult) break;
    }
    const mine = found.filter((a) => a.primaryAttributeValue === 'Tether webinar');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ leadId: 30, activityTypeId: 100001 });
    expect(mine[0]!.attributes).toEqual(expect.arrayContaining([expect.objectContaining({ value: 42 })]));
  });
});
