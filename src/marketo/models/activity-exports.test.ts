import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvBatches } from '../bulk/csv.ts';
import { download, iso, runJob } from '../../sandbox/bulk/test-helpers.ts';
import {
  activitiesSync,
  activityRecord,
  chooseActivityPath,
  groupsAfterBulk,
  planGroups,
} from './activities.ts';
import { activityIdOfGuid, ActivityRowConverter, restAttributes } from './activity-exports.ts';
import type { MemoryEngine } from './testing.ts';
import { ok, readAllSince, startHarness, TEST_ACTIVITY_HEADER, type Harness } from './test-helpers.ts';
import type { SyncRecord } from './types.ts';

const DAY = 86_400_000;
const FAST = { exportPollMs: 10 };

function plain(engine: MemoryEngine): Map<string, SyncRecord> {
  const out = new Map<string, SyncRecord>();
  for (const [id, r] of engine.live('Activity')) out.set(id, JSON.parse(JSON.stringify(r)) as SyncRecord);
  return out;
}

describe('activity export rows → records', () => {
  const header = [...TEST_ACTIVITY_HEADER];

  it('an export row and the REST item of the same activity give the same record', () => {
    const row = [
      '1234',
      '17',
      '2024-01-31T10:00:00Z',
      '13',
      null,
      '51',
      'Email Address',
      '{"New Value":"a@b.c","Old Value":null,"Reason":"","Count":3,"Flag":false}',
    ];
    const rest = {
      id: 1234,
      marketoGUID: '1234',
      leadId: 17,
      activityDate: '2024-01-31T10:00:00Z',
      activityTypeId: 13,
      primaryAttributeValueId: 51,
      primaryAttributeValue: 'Email Address',
      attributes: [
        { name: 'New Value', value: 'a@b.c' },
        { name: 'Count', value: 3 },
        { name: 'Flag', value: false, apiName: 'flag' },
      ],
    };
    const fromRow = new ActivityRowConverter(header).record(row);
    expect(fromRow).toEqual({
      id: '1234',
      marketoGUID: '1234',
      activityId: 1234,
      leadId: 17,
      activityDate: '2024-01-31T10:00:00Z',
      activityTypeId: 13,
      primaryAttributeValueId: 51,
      primaryAttributeValue: 'Email Address',
      attributes: [
        { name: 'New Value', value: 'a@b.c' },
        { name: 'Count', value: 3 },
        { name: 'Flag', value: false },
      ],
    });
    expect(activityRecord(rest)).toEqual(fromRow);
  });

  it('GUIDs that are not integers give no activityId; bad attribute JSON is counted, not fatal', () => {
    expect(activityIdOfGuid('42')).toBe(42);
    expect(activityIdOfGuid('9007199254740993')).toBeUndefined();
    expect(activityIdOfGuid('a1b2-c3')).toBeUndefined();
    const conv = new ActivityRowConverter(header);
    const rec = conv.record(['a1b2-c3', '1', '2024-01-31 10:00:00', '1', '7', null, null, '{oops'])!;
    expect(rec).toEqual({
      id: 'a1b2-c3',
      marketoGUID: 'a1b2-c3',
      leadId: 1,
      activityDate: '2024-01-31T10:00:00Z',
      activityTypeId: 1,
      campaignId: 7,
      attributes: [],
    });
    expect(conv.badAttributes).toBe(1);
    expect(conv.record([null, '1', null, null, null, null, null, null])).toBeUndefined();
    expect(restAttributes({ a: 1, b: null, c: '' })).toEqual([{ name: 'a', value: 1 }]);
    expect(restAttributes([{ name: 'a', value: 1, apiName: 'x' }, { name: 'b' }])).toEqual([
      { name: 'a', value: 1 },
    ]);
  });
});

describe('choosing REST or bulk for activities', () => {
  const limits = { aboveDays: 7, aboveRecords: 30_000 };

  it('auto: bulk for a long span or a heavy previous run, REST otherwise; forced modes win', () => {
    expect(chooseActivityPath('auto', 30 * DAY, undefined, limits).path).toBe('bulk');
    expect(chooseActivityPath('auto', 2 * DAY, undefined, limits).path).toBe('rest');
    expect(chooseActivityPath('auto', 600_000, 45_000, limits)).toMatchObject({
      path: 'bulk',
      reason: expect.stringContaining('45000') as unknown,
    });
    expect(chooseActivityPath('auto', 600_000, 100, limits).path).toBe('rest');
    expect(chooseActivityPath('rest', 300 * DAY, 1e6, limits).path).toBe('rest');
    expect(chooseActivityPath('bulk', 1000, 0, limits).path).toBe('bulk');
  });

  it('after a bulk catch-up the exported types continue from its token; Delete Lead keeps its place', () => {
    const groups = planGroups(
      [1, 2, 37],
      [{ typeIds: [1, 2, 37], nextPageToken: 'OLD', at: '2024-01-01T00:00:00.000Z' }],
    );
    expect(groups).toEqual([{ typeIds: [1, 2, 37], nextPageToken: 'OLD', at: '2024-01-01T00:00:00.000Z' }]);
    const after = groupsAfterBulk([1, 2, 37], groups, [1, 2], 'NEW', '2024-02-01T00:00:00.000Z');
    expect(after).toEqual([
      { typeIds: [1, 2], nextPageToken: 'NEW', at: '2024-02-01T00:00:00.000Z' },
      { typeIds: [37], nextPageToken: 'OLD', at: '2024-01-01T00:00:00.000Z' },
    ]);
    // More than 10 exported types make several groups at the same token.
    const many = Array.from({ length: 23 }, (_, i) => i + 1);
    const split = groupsAfterBulk(many, [], many, 'T', '2024-02-01T00:00:00.000Z');
    expect(split.map((g) => g.typeIds.length)).toEqual([10, 10, 3]);
  });
});

describe('activities through bulk exports against the sandbox', () => {
  let h: Harness;
  let since: string;
  let typeIds: number[];

  beforeAll(async () => {
    h = await startHarness(300, 41);
    await h.sb.control('PATCH', `/instances/${h.sb.munchkinId}`, { settings: { bulkProcessingMs: 10 } });
    since = new Date(h.now().getTime() - 30 * DAY).toISOString().slice(0, 19) + 'Z';
    typeIds = (await ok(h, '/rest/v1/activities/types.json')).result!.map((t) => t.id as number);
    // A Delete Lead (37) to read: the bulk path leaves that type to REST.
    await ok(h, '/rest/v1/leads/delete.json', { method: 'POST', json: { input: [{ id: 11 }] } });
    await h.advance(2);
  });
  afterAll(async () => h.close());

  it('an export file holds exactly the REST records of its window and types', async () => {
    const end = h.now().getTime() - 1000;
    const start = end - 20 * DAY;
    const types = typeIds.filter((t) => t !== 37);
    const job = await runJob(h.sb, 'activities', {
      filter: { createdAt: { startAt: iso(start), endAt: iso(end) }, activityTypeIds: types },
    });
    const file = await download(h.sb, 'activities', job.id);
    const fromFile = new Map<string, SyncRecord>();
    const source = (async function* () {
      yield new Uint8Array(file);
    })();
    for await (const batch of csvBatches(source, { batchRows: 100 })) {
      for (const r of new ActivityRowConverter(batch.header).records(batch.rows)) fromFile.set(r.id, r);
    }
    const fromRest = new Map<string, SyncRecord>();
    for (let i = 0; i < types.length; i += 10) {
      const ids = types.slice(i, i + 10).join(',');
      for (const item of await readAllSince(
        h,
        `/rest/v1/activities.json?activityTypeIds=${ids}`,
        iso(start),
      )) {
        const rec = activityRecord(item)!;
        if (Date.parse(rec.activityDate as string) < end) fromRest.set(rec.id, rec);
      }
    }
    expect(fromRest.size).toBeGreaterThan(100);
    expect([...fromFile.keys()].sort()).toEqual([...fromRest.keys()].sort());
    for (const [id, rec] of fromRest) expect(fromFile.get(id)).toEqual(rec);
    expect([...fromRest.values()].some((r) => (r.attributes as unknown[]).length > 0)).toBe(true);
  });

  it('the bulk path and the REST path end with the same activities; then REST continues', async () => {
    const bulk = h.newEngine();
    const rest = h.newEngine();
    const a = await bulk.run(activitiesSync, {
      options: { ...FAST, sinceDatetime: since, activityExport: 'bulk' },
    });
    expect(a.error).toBeUndefined();
    expect(a.calls.some((c) => c.endsWith('/activities/export/create.json'))).toBe(true);
    expect(a.logs.some((l) => l.message.includes('cannot be exported'))).toBe(true);
    const b = await rest.run(activitiesSync, { options: { sinceDatetime: since, activityExport: 'rest' } });
    expect(b.error).toBeUndefined();
    expect(b.calls.some((c) => c.includes('/export/'))).toBe(false);
    // Both catch up to the same instant, by REST.
    await h.advance(1);
    await ok(h, '/rest/v1/leads.json', {
      method: 'POST',
      json: { action: 'updateOnly', lookupField: 'id', input: [{ id: 12, firstName: 'Later' }] },
    });
    await h.advance(2);
    const a2 = await bulk.run(activitiesSync, { options: { ...FAST, sinceDatetime: since } });
    const b2 = await rest.run(activitiesSync, { options: { sinceDatetime: since, activityExport: 'rest' } });
    expect(a2.error).toBeUndefined();
    expect(b2.error).toBeUndefined();
    expect(a2.calls.some((c) => c.includes('/export/'))).toBe(false);
    expect(a2.added.Activity).toHaveLength(1);
    const viaBulk = plain(bulk);
    const viaRest = plain(rest);
    expect(viaRest.size).toBeGreaterThan(250);
    expect([...viaBulk.keys()].sort()).toEqual([...viaRest.keys()].sort());
    for (const [id, rec] of viaRest) expect(viaBulk.get(id)).toEqual(rec);
    expect([...viaRest.values()].some((r) => r.activityTypeId === 37)).toBe(true);
  });

  it('auto: bulk for a 30-day catch-up, REST for the next run and for a short span; logged', async () => {
    const engine = h.newEngine();
    const first = await engine.run(activitiesSync, { options: { ...FAST, sinceDatetime: since } });
    expect(first.error).toBeUndefined();
    expect(first.logs.some((l) => l.message.startsWith('activities: bulk path'))).toBe(true);
    expect(first.calls.some((c) => c.endsWith('/activities/export/create.json'))).toBe(true);
    // A heavy previous run sends the next one to bulk even for a short span (of a few seconds).
    await h.advance(5);
    const heavy = await engine.run(activitiesSync, {
      options: { ...FAST, sinceDatetime: since, exportAboveRecords: 100 },
    });
    expect(heavy.logs.some((l) => l.message.includes('more than exportAboveRecords (100)'))).toBe(true);
    expect(heavy.calls.some((c) => c.endsWith('/activities/export/create.json'))).toBe(true);
    const next = await engine.run(activitiesSync, { options: { ...FAST, sinceDatetime: since } });
    expect(next.logs.some((l) => l.message.startsWith('activities: rest path'))).toBe(true);
    expect(next.calls.some((c) => c.includes('/export/'))).toBe(false);

    const short = h.newEngine();
    const s = await short.run(activitiesSync, {
      options: { ...FAST, sinceDatetime: new Date(h.now().getTime() - 2 * DAY).toISOString() },
    });
    expect(s.error).toBeUndefined();
    expect(s.logs.some((l) => l.message.startsWith('activities: rest path'))).toBe(true);
    expect(s.calls.some((c) => c.includes('/export/'))).toBe(false);
  });
  it('a crash mid-export resumes the checkpointed jobs: no second job for a window, same activities', async () => {
    const options = {
      ...FAST,
      activityExport: 'bulk',
      exportBatchRows: 20,
      maxQueuedExports: 1,
      sinceDatetime: new Date(h.now().getTime() - 70 * DAY).toISOString(),
    };
    const creates = (calls: string[]) =>
      calls.filter((c) => c.endsWith('/activities/export/create.json')).length;
    // One job at a time: the order of saves is the same from one run to the next.
    const reference = h.newEngine();
    const full = await reference.run(activitiesSync, { options });
    expect(full.error).toBeUndefined();
    const windows = creates(full.calls);
    expect(windows).toBe(3);
    const batches = full.pages
      .map((p, i) => ({ i, n: p.upserts?.Activity?.length ?? 0 }))
      .filter((p) => p.n > 0);
    const crashAt = batches[Math.floor(batches.length / 2)]!.i + 1;

    const engine = h.newEngine();
    const crashed = await engine.run(activitiesSync, { options, crashAtSave: crashAt });
    expect(crashed.error).toBeDefined();
    expect(crashed.pages.at(-1)!.upserts?.Activity?.length).toBeGreaterThan(0);
    const resumed = await engine.run(activitiesSync, { options });
    expect(resumed.error).toBeUndefined();
    expect(resumed.logs.some((l) => l.message.includes('resuming the export'))).toBe(true);
    expect(creates(crashed.calls) + creates(resumed.calls)).toBe(windows);
    const got = plain(engine);
    const want = plain(reference);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  });
});
