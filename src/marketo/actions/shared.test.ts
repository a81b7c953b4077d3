/** The pure parts of the actions: batching, progress in errors, per-record outcomes, schemas, bodies. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MarketoSyncError } from '../models/types.ts';
import { activityRecord, addCustomActivitiesInput } from './add-custom-activities.ts';
import { deleteLeadsInput, deleteResults } from './delete-leads.ts';
import { MARKETO_ACTIONS, marketoAction } from './index.ts';
import { listMembershipInput, membershipResults } from './list-membership.ts';
import { mergeLeadsInput, mergePath } from './merge-leads.ts';
import { scheduleBody, scheduleCampaignInput } from './schedule-campaign.ts';
import {
  NO_STATUS,
  chunk,
  chunkByBytes,
  countStatuses,
  progressText,
  readOutcome,
  readReasons,
  runBatches,
} from './shared.ts';
import { TRIGGER_BATCH, triggerBody, triggerCampaignInput } from './trigger-campaign.ts';
import { syncLeadsBody, upsertLeads, upsertLeadsInput, upsertResults } from './upsert-leads.ts';
import { isIdempotent } from './types.ts';

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('batching', () => {
  it('chunks in order, the last slice shorter', () => {
    expect(chunk(ids(650), 300).map((b) => b.length)).toEqual([300, 300, 50]);
    expect(chunk(ids(650), 300).flat()).toEqual(ids(650));
    expect(chunk([], 300)).toEqual([]);
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });

  it('chunks by bytes as well as by count, a record too big alone getting its own slice', () => {
    const small = { t: 'x'.repeat(10) };
    expect(chunkByBytes(Array(650).fill(small), 300, 1_000_000).map((b) => b.length)).toEqual([300, 300, 50]);
    const big = { t: 'x'.repeat(400) };
    const slices = chunkByBytes(Array(10).fill(big), 300, 1_000);
    expect(slices.map((b) => b.length)).toEqual([2, 2, 2, 2, 2]);
    for (const s of slices) expect(Buffer.byteLength(JSON.stringify(s))).toBeLessThanOrEqual(1_000);
    expect(chunkByBytes([{ t: 'x'.repeat(2_000) }, small], 300, 1_000).map((b) => b.length)).toEqual([1, 1]);
  });
});

describe('runBatches', () => {
  const logs: { message: string; data?: Record<string, unknown> }[] = [];
  const io = { log: (message: string, data?: Record<string, unknown>) => void logs.push({ message, data }) };
  const progress = { noun: 'leads', verb: 'written' };

  it('concatenates the batches in order, passing each its offset', async () => {
    const seen: number[] = [];
    const out = await runBatches(io, 't', chunk(ids(7), 3), progress, async (b, offset) => {
      seen.push(offset);
      return b.map((x) => x * 10);
    });
    expect(seen).toEqual([0, 3, 6]);
    expect(out).toEqual(ids(7).map((x) => x * 10));
  });

  it('says how many records were done before a failed batch, keeping code, path and kind', async () => {
    logs.length = 0;
    const err = await runBatches(io, 'upsert-leads', chunk(ids(1000), 300), progress, async (b, offset) => {
      if (offset === 600)
        throw new MarketoSyncError('604', 'Request timed out', '/rest/v1/leads.json', 'back_off');
      return b;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MarketoSyncError);
    const e = err as MarketoSyncError;
    expect(e.code).toBe('604');
    expect(e.kind).toBe('back_off');
    expect(e.path).toBe('/rest/v1/leads.json');
    expect(e.message).toBe(
      'Marketo 604: Request timed out, after 600 of 1000 leads were written (/rest/v1/leads.json)',
    );
    expect(logs).toEqual([
      {
        message: 'upsert-leads: batch 3 of 4 failed',
        data: {
          action: 'upsert-leads',
          batch: 3,
          batches: 4,
          offset: 600,
          size: 300,
          done: 600,
          total: 1000,
          code: '604',
        },
      },
    ]);
  });

  it('leaves the first batch error and errors of other kinds as they are', async () => {
    const first = new MarketoSyncError('1013', 'Object not found', '/rest/v1/lists/9/leads.json');
    expect(
      await runBatches(io, 't', chunk(ids(5), 2), progress, async () => {
        throw first;
      }).catch((e: unknown) => e),
    ).toBe(first);
    const other = new Error('quota spent');
    let calls = 0;
    expect(
      await runBatches(io, 't', chunk(ids(5), 2), progress, async (b) => {
        if (calls++ === 1) throw other;
        return b;
      }).catch((e: unknown) => e),
    ).toBe(other);
    expect(progressText(2, 5, { noun: 'lead ids', verb: 'deleted' })).toBe(
      'after 2 of 5 lead ids were deleted',
    );
  });
});

describe('per-record outcomes', () => {
  it('reads status, id and reasons; unknown statuses and missing items become skipped', () => {
    expect(readOutcome({ id: 5, status: 'created' }, ['created', 'updated'])).toEqual({
      id: 5,
      status: 'created',
    });
    expect(
      readOutcome({ status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] }, ['updated']),
    ).toEqual({ status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] });
    expect(readOutcome({ id: '7', status: 'weird' }, ['updated'])).toEqual({
      id: 7,
      status: 'skipped',
      reasons: [{ code: 'unknown_status', message: "Marketo answered status 'weird'" }],
    });
    expect(readOutcome(undefined, ['updated'])).toEqual({ status: 'skipped', reasons: [NO_STATUS] });
    expect(readReasons([{ code: 1004, message: 'x' }, 'junk', { message: 'no code' }])).toEqual([
      { code: '1004', message: 'x' },
    ]);
  });

  it('numbers upsert results from the batch offset and counts every status', () => {
    const r = upsertResults(
      [
        { id: 1, status: 'created' },
        { id: 2, status: 'updated' },
      ],
      3,
      300,
    );
    expect(r).toEqual([
      { index: 300, id: 1, status: 'created' },
      { index: 301, id: 2, status: 'updated' },
      { index: 302, status: 'skipped', reasons: [NO_STATUS] },
    ]);
    expect(countStatuses(r, ['created', 'updated', 'skipped'] as const)).toEqual({
      created: 1,
      updated: 1,
      skipped: 1,
    });
  });

  it('keeps the asked id for deletes and list changes', () => {
    expect(
      deleteResults([{ status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] }], [9]),
    ).toEqual([{ id: 9, status: 'skipped', reasons: [{ code: '1004', message: 'Lead not found' }] }]);
    expect(membershipResults([{ id: 3, status: 'added' }], [3], 'added')).toEqual([
      { id: 3, status: 'added' },
    ]);
  });
});

describe('input schemas', () => {
  const issues = (schema: z.ZodType, input: unknown) => {
    const r = schema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('bound upsert-leads input with clear messages', () => {
    expect(issues(upsertLeadsInput, { leads: [{ email: 'a@b.c' }] })).toEqual([]);
    expect(issues(upsertLeadsInput, { leads: [] })).toEqual(['leads: give at least one lead']);
    expect(issues(upsertLeadsInput, { leads: Array(10_001).fill({ email: 'a@b.c' }) })).toEqual([
      'leads: at most 10000 leads per call',
    ]);
    expect(issues(upsertLeadsInput, { leads: [{}] })).toEqual(['leads.0: a lead needs at least one field']);
    expect(issues(upsertLeadsInput, { leads: [{ email: { x: 1 } }] }).length).toBe(1);
    expect(issues(upsertLeadsInput, { leads: [{ id: 1 }], lookupField: 'id' })).toEqual([
      "lookupField: lookupField 'id' is only allowed with action 'updateOnly'",
    ]);
    expect(issues(upsertLeadsInput, { leads: [{ id: 1 }], lookupField: 'id', action: 'updateOnly' })).toEqual(
      [],
    );
    expect(issues(upsertLeadsInput, { leads: [{ id: 1 }], action: 'merge' })[0]).toMatch(
      /^action: action is one of/,
    );
  });

  it('bound id lists, campaign tokens, dates and merges', () => {
    expect(issues(deleteLeadsInput, { ids: [1, 2] })).toEqual([]);
    expect(issues(deleteLeadsInput, { ids: [0] })).toEqual(['ids.0: lead id must be a positive integer']);
    expect(issues(deleteLeadsInput, { ids: [1.5] })).toEqual(['ids.0: lead id must be an integer']);
    expect(issues(listMembershipInput, { listId: 1001, leadIds: ids(10_001) })).toEqual([
      'leadIds: at most 10000 lead ids per call',
    ]);
    expect(issues(triggerCampaignInput, { campaignId: 1, leadIds: ids(1001) })).toEqual([
      'leadIds: at most 1000 lead ids per call',
    ]);
    expect(
      issues(triggerCampaignInput, { campaignId: 1, leadIds: [1], tokens: [{ name: 'x', value: 'y' }] }),
    ).toEqual(["tokens.0.name: a token name has the form '{{my.Name}}'"]);
    expect(issues(scheduleCampaignInput, { campaignId: 1, runAt: 'tomorrow' })).toEqual([
      'runAt: runAt is an ISO-8601 datetime such as 2030-01-31T10:00:00Z',
    ]);
    expect(issues(scheduleCampaignInput, { campaignId: 1, runAt: '2030-01-31T10:00:00+02:00' })).toEqual([]);
    expect(issues(mergeLeadsInput, { winnerId: 1, loserIds: [2, 3, 4, 5] })).toEqual([
      'loserIds: at most 3 loser ids per merge',
    ]);
    expect(issues(mergeLeadsInput, { winnerId: 1, loserIds: [1, 2, 2] })).toEqual([
      'loserIds: the winner cannot be among the losers',
      'loserIds: loser ids must be distinct',
    ]);
    const act = {
      leadId: 1,
      activityDate: '2030-01-31T10:00:00Z',
      activityTypeId: 100001,
      primaryAttributeValue: 'x',
    };
    expect(issues(addCustomActivitiesInput, { activities: [act] })).toEqual([]);
    expect(issues(addCustomActivitiesInput, { activities: Array(3001).fill(act) })).toEqual([
      'activities: at most 3000 activities per call',
    ]);
    expect(
      issues(addCustomActivitiesInput, { activities: [{ ...act, activityDate: '31/01/2030' }] }),
    ).toEqual([
      'activities.0.activityDate: activityDate is an ISO-8601 datetime such as 2030-01-31T10:00:00Z',
    ]);
  });

  it('registers every action once, each publishable as JSON Schema', () => {
    const names = MARKETO_ACTIONS.map((a) => a.name);
    expect(names).toEqual([
      'upsert-leads',
      'delete-leads',
      'merge-leads',
      'add-to-list',
      'remove-from-list',
      'trigger-campaign',
      'schedule-campaign',
      'add-custom-activities',
      'upsert-custom-objects',
      'delete-custom-objects',
    ]);
    for (const a of MARKETO_ACTIONS) {
      expect(marketoAction(a.name)).toBe(a);
      expect(a.description.length).toBeGreaterThan(20);
      const schema = z.toJSONSchema(a.input, { io: 'input' }) as { type?: string };
      expect(schema.type).toBe('object');
    }
  });
});

describe('idempotency', () => {
  it('upsert-leads may be run again except with createDuplicate; constant actions keep their flag', () => {
    const leads = [{ email: 'a@example.com' }];
    expect(isIdempotent(upsertLeads, upsertLeadsInput.parse({ leads }))).toBe(true);
    expect(isIdempotent(upsertLeads, upsertLeadsInput.parse({ leads, action: 'createOnly' }))).toBe(true);
    expect(isIdempotent(upsertLeads, upsertLeadsInput.parse({ leads, action: 'createDuplicate' }))).toBe(
      false,
    );
    expect(isIdempotent({ idempotent: true }, {})).toBe(true);
    expect(isIdempotent({ idempotent: false }, {})).toBe(false);
  });
});

describe('request bodies', () => {
  it('builds the Marketo bodies and paths', () => {
    expect(syncLeadsBody({ leads: [], lookupField: 'email' }, [{ email: 'a@b.c' }])).toEqual({
      action: 'createOrUpdate',
      lookupField: 'email',
      input: [{ email: 'a@b.c' }],
    });
    expect(triggerBody([1, 2], [{ name: '{{my.x}}', value: 'y' }])).toEqual({
      input: { leads: [{ id: 1 }, { id: 2 }], tokens: [{ name: '{{my.x}}', value: 'y' }] },
    });
    expect(triggerBody([1], [])).toEqual({ input: { leads: [{ id: 1 }] } });
    expect(TRIGGER_BATCH).toBe(100);
    expect(scheduleBody({ runAt: '2030-01-31T12:00:00.500+02:00', cloneToProgramName: 'Copy' })).toEqual({
      input: { runAt: '2030-01-31T10:00:00Z', cloneToProgramName: 'Copy' },
    });
    expect(scheduleBody({})).toEqual({ input: {} });
    expect(mergePath({ winnerId: 1, loserIds: [2] })).toBe('/rest/v1/leads/1/merge.json?leadId=2');
    expect(mergePath({ winnerId: 1, loserIds: [2, 3], mergeInCRM: true })).toBe(
      '/rest/v1/leads/1/merge.json?leadIds=2%2C3&mergeInCRM=true',
    );
    expect(
      activityRecord({
        leadId: 1,
        activityDate: '2030-01-31T10:00:00.123Z',
        activityTypeId: 100001,
        primaryAttributeValue: 'Webinar',
        attributes: [],
      }),
    ).toEqual({
      leadId: 1,
      activityDate: '2030-01-31T10:00:00Z',
      activityTypeId: 100001,
      primaryAttributeValue: 'Webinar',
    });
  });
});
