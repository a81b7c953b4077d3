/**
 * add-to-list, remove-from-list, trigger-campaign and schedule-campaign against a real sandbox over HTTP:
 * membership read back through Marketo's REST API, per-lead skips, batching (sandbox counters) and the
 * codes of refused calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarketoSyncError } from '../models/types.ts';
import { addToList } from './add-to-list.ts';
import { removeFromList } from './remove-from-list.ts';
import { scheduleCampaign } from './schedule-campaign.ts';
import { startActionHarness, type ActionHarness } from './test-helpers.ts';
import { triggerCampaign } from './trigger-campaign.ts';

type Row = Record<string, unknown>;

let h: ActionHarness;
beforeAll(async () => {
  h = await startActionHarness(800, 5);
});
afterAll(async () => h.close());

const LIST = '/rest/v1/lists/:listId/leads.json';

async function membership(listId: number, ids: number[]): Promise<Record<number, unknown>> {
  const body = await h.ok(`/rest/v1/lists/${listId}/leads/ismember.json?id=${ids.join(',')}`);
  return Object.fromEntries((body.result ?? []).map((r) => [r.id as number, r.status]));
}

async function failure(p: Promise<unknown>): Promise<MarketoSyncError> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MarketoSyncError);
  return err as MarketoSyncError;
}

async function campaigns(): Promise<Row[]> {
  return (await h.ok('/rest/v1/campaigns.json')).result ?? [];
}

describe('add-to-list / remove-from-list', () => {
  it('adds 650 leads in 3 calls, skipping an unknown lead with 1004', async () => {
    const listId = (await h.ok('/rest/v1/lists.json')).result![0]!.id as number;
    const ids = Array.from({ length: 649 }, (_, i) => i + 100);
    const before = await h.counted(`POST ${LIST}`);
    const out = await h.run(addToList, { listId, leadIds: [...ids, 99_999_999] });
    expect(await h.counted(`POST ${LIST}`)).toBe(before + 3);
    expect(out).toMatchObject({ listId, added: 649, skipped: 1 });
    expect(out.results[0]).toEqual({ id: 100, status: 'added' });
    expect(out.results[649]).toEqual({
      id: 99_999_999,
      status: 'skipped',
      reasons: [{ code: '1004', message: expect.any(String) }],
    });
    expect(await membership(listId, [100, 748])).toEqual({ 100: 'memberof', 748: 'memberof' });

    const removed = await h.run(removeFromList, { listId, leadIds: [100, 101, 99_999_999] });
    expect(removed).toMatchObject({ listId, removed: 2, skipped: 1 });
    expect(removed.results.slice(0, 2)).toEqual([
      { id: 100, status: 'removed' },
      { id: 101, status: 'removed' },
    ]);
    expect(await membership(listId, [100, 101, 102])).toEqual({
      100: 'notmemberof',
      101: 'notmemberof',
      102: 'memberof',
    });
    // A lead no longer in the list: Marketo's 1015.
    expect((await h.run(removeFromList, { listId, leadIds: [100] })).results).toEqual([
      { id: 100, status: 'skipped', reasons: [{ code: '1015', message: 'Lead not in list' }] },
    ]);
  });

  it('throws 1013 for an unknown list', async () => {
    expect((await failure(h.run(addToList, { listId: 987_654, leadIds: [1] }))).code).toBe('1013');
    expect((await failure(h.run(removeFromList, { listId: 987_654, leadIds: [1] }))).code).toBe('1013');
  });
});

describe('trigger-campaign', () => {
  it('requests a trigger campaign for 250 leads in 3 calls, with tokens', async () => {
    const c = (await h.ok('/rest/v1/campaigns.json?isTriggerable=true')).result![0]!;
    const before = await h.counted('POST /rest/v1/campaigns/:id/trigger.json');
    const leadIds = Array.from({ length: 250 }, (_, i) => i + 1);
    const out = await h.run(triggerCampaign, {
      campaignId: c.id,
      leadIds: [...leadIds, 1],
      tokens: [{ name: '{{my.Offer}}', value: '10%' }],
    });
    expect(out).toEqual({ campaignId: c.id, leads: 250, calls: 3 });
    expect(await h.counted('POST /rest/v1/campaigns/:id/trigger.json')).toBe(before + 3);
  });

  it('throws 1003 for a batch campaign and 1013 for an unknown one', async () => {
    const batch = (await campaigns()).find((c) => c.type === 'batch')!;
    expect((await failure(h.run(triggerCampaign, { campaignId: batch.id, leadIds: [1] }))).code).toBe('1003');
    expect((await failure(h.run(triggerCampaign, { campaignId: 999_999, leadIds: [1] }))).code).toBe('1013');
  });
});

describe('schedule-campaign', () => {
  it('schedules a batch campaign (it becomes active), at a given time or by default', async () => {
    const batches = (await campaigns()).filter((c) => c.type === 'batch' && c.active === false);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    const [first, second] = [batches[0]!, batches[1]!];
    const runAt = new Date(Date.now() + 7 * 86_400_000);
    const out = await h.run(scheduleCampaign, {
      campaignId: first.id,
      runAt: runAt.toISOString(),
      tokens: [{ name: '{{my.Offer}}', value: '10%' }],
    });
    expect(out).toEqual({
      campaignId: first.id,
      scheduled: true,
      runAt: runAt.toISOString().slice(0, 19) + 'Z',
      scheduledCampaignId: first.id,
    });
    expect((await h.ok(`/rest/v1/campaigns/${first.id}.json`)).result![0]).toMatchObject({ active: true });
    expect(await h.run(scheduleCampaign, { campaignId: second.id })).toEqual({
      campaignId: second.id,
      scheduled: true,
      runAt: null,
      scheduledCampaignId: second.id,
    });
  });

  it('schedules a clone of the program with cloneToProgramName', async () => {
    const batch = (await campaigns()).find((c) => c.type === 'batch')!;
    const out = await h.run(scheduleCampaign, { campaignId: batch.id, cloneToProgramName: 'Tether Clone' });
    expect(out.scheduledCampaignId).not.toBe(batch.id);
    const clone = (await h.ok(`/rest/v1/campaigns/${out.scheduledCampaignId}.json`)).result![0]!;
    expect(clone).toMatchObject({ programName: 'Tether Clone', active: true });
    // The name is taken now: Marketo refuses a second clone under it.
    const again = h.run(scheduleCampaign, { campaignId: batch.id, cloneToProgramName: 'Tether Clone' });
    expect((await failure(again)).code).toBe('1003');
  });

  it('throws 1042 for a runAt past two years and 1003 for a trigger campaign', async () => {
    const batch = (await campaigns()).find((c) => c.type === 'batch')!;
    const far = new Date(Date.now() + 3 * 365 * 86_400_000).toISOString();
    expect((await failure(h.run(scheduleCampaign, { campaignId: batch.id, runAt: far }))).code).toBe('1042');
    const trig = (await campaigns()).find((c) => c.type === 'trigger')!;
    expect((await failure(h.run(scheduleCampaign, { campaignId: trig.id }))).code).toBe('1003');
  });
});
