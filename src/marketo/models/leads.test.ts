import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextChicagoMidnight } from '../limits.ts';
import { windowsBetween } from '../bulk/exports.ts';
import {
  exportOptionsOf,
  fieldChunks,
  leadsSync,
  readLeadsCheckpoint,
  UPDATED_AT_UNAVAILABLE,
} from './leads.ts';
import type { MemoryEngine, RunReport } from './testing.ts';
import { ok, startHarness, type Harness, type Row } from './test-helpers.ts';
import type { SyncRecord } from './types.ts';

const FAST = { exportPollMs: 10 };

async function settings(h: Harness, body: Record<string, unknown>): Promise<void> {
  const res = await h.sb.control('PATCH', `/instances/${h.sb.munchkinId}`, body);
  expect(res.status).toBe(200);
}

async function bulkStats(h: Harness): Promise<{ jobs: Record<string, number> }> {
  const res = await h.sb.control<{ bulk: { jobs: Record<string, number> } }>(
    'GET',
    `/instances/${h.sb.munchkinId}/counters`,
  );
  return res.body.bulk;
}

async function errorsByCode(h: Harness): Promise<Record<string, number>> {
  const res = await h.sb.control<{ errorsByCode: Record<string, number> }>(
    'GET',
    `/instances/${h.sb.munchkinId}/counters`,
  );
  return res.body.errorsByCode;
}

function totalJobs(stats: { jobs: Record<string, number> }): number {
  return Object.values(stats.jobs).reduce((a, b) => a + b, 0);
}

async function fieldNames(h: Harness): Promise<string[]> {
  const d = await ok(h, '/rest/v1/leads/describe.json');
  return d.result!.map((f) => (f.rest as { name: string }).name);
}

/** Every live lead with ids 1..maxId as the REST API answers it with all fields, nulls dropped. */
async function truth(h: Harness, maxId: number): Promise<Map<string, Row>> {
  const fields = await fieldNames(h);
  const out = new Map<string, Row>();
  for (let from = 1; from <= maxId; from += 300) {
    const ids = Array.from({ length: Math.min(300, maxId - from + 1) }, (_, i) => from + i);
    const body = await ok(
      h,
      `/rest/v1/leads.json?filterType=id&filterValues=${ids.join(',')}&fields=${fields.join(',')}`,
    );
    for (const item of body.result ?? []) {
      const rec: Row = {};
      for (const [k, v] of Object.entries(item)) if (v !== null && v !== '') rec[k] = v;
      rec.id = String(item.id);
      out.set(rec.id as string, rec);
    }
  }
  return out;
}

/** The cache as plain JSON (records of dense files hold empty fields as undefined). */
function cache(engine: MemoryEngine): Map<string, SyncRecord> {
  const out = new Map<string, SyncRecord>();
  for (const [id, r] of engine.live('Lead')) out.set(id, JSON.parse(JSON.stringify(r)) as SyncRecord);
  return out;
}

function expectCacheEquals(engine: MemoryEngine, expected: Map<string, Row>): void {
  const got = cache(engine);
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, rec] of expected) expect(got.get(id)).toEqual(rec);
}

function creates(r: RunReport): number {
  return r.calls.filter((c) => c === 'POST /bulk/v1/leads/export/create.json').length;
}

async function write(h: Harness, path: string, json: unknown): Promise<Row[]> {
  return (await ok(h, path, { method: 'POST', json })).result!;
}

describe('leads sync: pure parts', () => {
  it('cuts long field lists so every URL stays short enough', () => {
    const names = Array.from({ length: 600 }, (_, i) => `customField${i}__c`);
    const chunks = fieldChunks(names, 1000);
    expect(chunks.flat()).toEqual(names);
    for (const c of chunks) expect(1000 + c.join('%2C').length + 300).toBeLessThanOrEqual(7000);
    expect(fieldChunks(['id', 'email'], 100)).toEqual([['id', 'email']]);
  });

  it('reads options with defaults and bounds', () => {
    expect(exportOptionsOf({})).toEqual({
      pollMs: 60_000,
      batchRows: 1000,
      maxQueued: 10,
      dailyBytes: 500 * 1024 * 1024,
    });
    expect(exportOptionsOf({ exportPollMs: 1, maxQueuedExports: 50, exportBatchRows: '200' })).toMatchObject({
      pollMs: 10,
      maxQueued: 10,
      batchRows: 200,
    });
  });

  it('reads checkpoints defensively', () => {
    expect(readLeadsCheckpoint(null)).toEqual({});
    expect(readLeadsCheckpoint({ cycle: { kind: 'nope' }, doneAt: 'x' })).toEqual({});
    const cp = readLeadsCheckpoint({
      doneAt: '2024-01-01T00:00:00.000Z',
      doneToken: 'T',
      updatedAtFilter: { available: false, checkedAt: '2024-01-01T00:00:00.000Z' },
      cycle: {
        kind: 'fallback',
        from: '2024-01-01T00:00:00.000Z',
        startAt: '2024-01-02T00:00:00.000Z',
        token: 'U',
        fields: ['id'],
        step: 'changes',
        export: { jobs: [], pending: [] },
        changes: { startToken: 'T', token: 'V', chunk: 0, pending: [1, 'x', 2] },
        rows: 3,
      },
    });
    expect(cp.cycle?.changes?.pending).toEqual([1, 2]);
    expect(cp.updatedAtFilter?.available).toBe(false);
  });
});

describe('leads sync against the sandbox: initial load, then changes', () => {
  let h: Harness;
  let maxId = 300;
  beforeAll(async () => {
    h = await startHarness(300, 31);
    await settings(h, { settings: { bulkProcessingMs: 20 } });
  });
  afterAll(async () => h.close());

  it('initial load: every lead with every field (custom included), in ~3 calls per window', async () => {
    const r = await h.engine.run(leadsSync, { options: { ...FAST, exportBatchRows: 50 } });
    expect(r.error).toBeUndefined();
    expect(r.paused).toBeUndefined();
    const expected = await truth(h, maxId);
    expect(expected.size).toBe(300);
    expectCacheEquals(h.engine, expected);
    expect(r.added.Lead).toHaveLength(300);
    // Custom fields came through, typed as REST types them.
    const some = [...cache(h.engine).values()];
    expect(some.some((x) => typeof x.accountTier === 'number')).toBe(true);
    expect(some.some((x) => x.isCustomer === true)).toBe(true);
    expect(some.some((x) => typeof x.salesRegion === 'string')).toBe(true);

    // 300 leads over 730 days: 24 windows of 31 days from the oldest lead's day.
    const cp = readLeadsCheckpoint(h.engine.checkpoints.get('leads')!);
    const oldest = [...expected.values()]
      .map((x) => Date.parse(x.createdAt as string))
      .sort((a, b) => a - b)[0]!;
    const windows = windowsBetween(Math.floor(oldest / 86_400_000) * 86_400_000, Date.parse(cp.doneAt!));
    expect(windows.length).toBeGreaterThanOrEqual(24);
    expect(creates(r)).toBe(windows.length);
    const rest = r.calls.filter((c) => c.startsWith('/rest/'));
    // describe, paging token, the start probe, deleted leads.
    expect(rest.length).toBeLessThanOrEqual(5);
    // create, enqueue and file per window, plus the REST reads. Job-list reads (the daily ledger, from
    // both export kinds' lists, and the polls) are left out: at this test's 10 ms poll interval their
    // number depends on the machine's speed (the exporter's own tests and bench:sync count them with
    // realistic intervals).
    const lists = r.calls.filter((c) => /^\/bulk\/v1\/(leads|activities)\/export\.json/.test(c));
    expect(lists.length).toBeGreaterThan(0);
    expect(r.calls.length - lists.length).toBeLessThanOrEqual(3 * windows.length + rest.length);
    // A checkpoint after every batch; the last one closes the cycle.
    expect(cp.cycle).toBeUndefined();
    expect(cp.deletedToken).toBeTruthy();
  });

  it('next run: leads updated, created and deleted since show up as such', async () => {
    await write(h, '/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [
        { id: 5, firstName: 'Changed', salesRegion: 'APAC', accountTier: 3 },
        { id: 250, isCustomer: true },
      ],
    });
    const created = await write(h, '/rest/v1/leads.json', {
      action: 'createOnly',
      input: [
        { email: 'new-1@example.com', firstName: 'Ann', productInterest: 'Analytics' },
        { email: 'new-2@example.com', lastName: 'Bee' },
      ],
    });
    const newIds = created.map((x) => String(x.id));
    maxId = Math.max(...created.map((x) => x.id as number));
    await write(h, '/rest/v1/leads/delete.json', { input: [{ id: 7 }, { id: 8 }] });
    // Windows end on a whole second before the run's start: let the writes fall before it.
    await h.advance(2);

    const r = await h.engine.run(leadsSync, { options: FAST });
    expect(r.error).toBeUndefined();
    expect((r.updated.Lead ?? []).sort()).toEqual(['250', '5']);
    expect((r.added.Lead ?? []).sort()).toEqual(newIds.sort());
    expect((r.deleted.Lead ?? []).sort()).toEqual(['7', '8']);
    expectCacheEquals(h.engine, await truth(h, maxId));
    // Incremental: updatedAt windows only (one here), no start probe.
    expect(creates(r)).toBe(1);
    expect(r.calls.some((c) => c.includes('filterType=id'))).toBe(false);

    const idle = await h.engine.run(leadsSync, { options: FAST });
    expect(idle.error).toBeUndefined();
    expect(idle.added).toEqual({});
    expect(idle.updated).toEqual({});
  });
});

describe('leads sync against the sandbox: 1035 fallback', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(200, 32);
    await settings(h, { settings: { bulkProcessingMs: 10 } });
  });
  afterAll(async () => h.close());

  it('createdAt windows + lead changes give the same cache as updatedAt windows', async () => {
    const bulk = h.newEngine();
    const fallback = h.newEngine();
    expect((await bulk.run(leadsSync, { options: FAST })).error).toBeUndefined();
    expect((await fallback.run(leadsSync, { options: FAST })).error).toBeUndefined();

    await write(h, '/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [
        { id: 3, lastName: 'Third', contractValue: 12345.5 },
        { id: 150, renewalDate: '2031-02-03', lastWebinarAt: '2030-01-02T03:04:05Z' },
        { id: 151, doNotCall: true },
      ],
    });
    const created = await write(h, '/rest/v1/leads.json', {
      action: 'createOnly',
      input: [{ email: 'fb-1@example.com', firstName: 'Fay' }],
    });
    await write(h, '/rest/v1/leads/delete.json', { input: [{ id: 9 }] });
    const maxId = created[0]!.id as number;
    await h.advance(2);

    const a = await bulk.run(leadsSync, { options: FAST });
    expect(a.error).toBeUndefined();
    await settings(h, { settings: { bulkUpdatedAtFilter: false } });
    const b = await fallback.run(leadsSync, { options: FAST });
    expect(b.error).toBeUndefined();
    expect(b.logs.some((l) => l.message === UPDATED_AT_UNAVAILABLE)).toBe(true);
    expect(b.calls.some((c) => c.startsWith('/rest/v1/activities/leadchanges.json'))).toBe(true);
    expect((b.updated.Lead ?? []).sort()).toEqual(['150', '151', '3']);
    expect(b.added.Lead).toEqual([String(maxId)]);
    expect(b.deleted.Lead).toEqual(['9']);
    const expected = await truth(h, maxId);
    expectCacheEquals(bulk, expected);
    expectCacheEquals(fallback, expected);
    const cp = readLeadsCheckpoint(fallback.checkpoints.get('leads')!);
    expect(cp.updatedAtFilter?.available).toBe(false);

    // Known unavailable: the next run goes straight to the fallback, without asking for updatedAt again.
    await write(h, '/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 4, title: 'Chief Fallback Officer' }],
    });
    await h.advance(2);
    const refused = (await errorsByCode(h))['1035'] ?? 0;
    const c = await fallback.run(leadsSync, { options: FAST });
    expect(c.error).toBeUndefined();
    expect(c.logs.some((l) => l.message === UPDATED_AT_UNAVAILABLE)).toBe(true);
    expect((await errorsByCode(h))['1035'] ?? 0).toBe(refused);
    expect(c.updated.Lead).toEqual(['4']);
    expectCacheEquals(fallback, await truth(h, maxId));
  });
});

describe('leads sync against the sandbox: crash, field change, export quota', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(300, 33);
    await settings(h, { settings: { bulkProcessingMs: 10 } });
  });
  afterAll(async () => h.close());

  it('a crash mid-load resumes the checkpointed jobs: no second job for any window, same cache', async () => {
    const options = { ...FAST, exportBatchRows: 4, maxQueuedExports: 1 };
    // A run to completion tells the order of saves (one job at a time: it is deterministic).
    const reference = h.newEngine();
    const full = await reference.run(leadsSync, { options });
    expect(full.error).toBeUndefined();
    const windows = creates(full);
    const batchSaves = full.pages
      .map((p, i) => ({ i, rows: p.upserts?.Lead?.length ?? 0 }))
      .filter((p) => p.rows > 0);
    const crashAt = batchSaves[Math.floor(batchSaves.length / 3)]!.i + 1;

    const engine = h.newEngine();
    const before = totalJobs(await bulkStats(h));
    const crashed = await engine.run(leadsSync, { options, crashAtSave: crashAt });
    expect(crashed.error).toBeDefined();
    expect(crashed.pages.at(-1)!.upserts?.Lead?.length).toBeGreaterThan(0);
    // A lead already loaded is deleted while the load is in flight: it must not stay in the cache.
    const loaded = crashed.pages.find((p) => (p.upserts?.Lead?.length ?? 0) > 0)!.upserts!.Lead![0]!.id;
    await write(h, '/rest/v1/leads/delete.json', { input: [{ id: Number(loaded) }] });
    const resumed = await engine.run(leadsSync, { options });
    expect(resumed.error).toBeUndefined();
    expect(resumed.logs.some((l) => l.message.startsWith('resuming the lead sync cycle'))).toBe(true);
    expect(creates(crashed) + creates(resumed)).toBe(windows);
    expect(totalJobs(await bulkStats(h)) - before).toBe(windows);
    expect(resumed.deleted.Lead).toEqual([loaded]);
    expectCacheEquals(engine, await truth(h, 300));
  });

  it('fields changed while jobs are in flight: the jobs are cancelled and the exports start over', async () => {
    await settings(h, { settings: { bulkProcessingMs: 60_000 } });
    const engine = h.newEngine();
    // Stop once the first job is checkpointed (saves: cycle start, job 1, job 2 → crash).
    const first = await engine.run(leadsSync, { options: { ...FAST, maxQueuedExports: 2 }, crashAtSave: 3 });
    expect(first.error).toBeDefined();
    const cp = engine.checkpoints.get('leads') as {
      cycle: { fields: string[]; export: { jobs: unknown[] } };
    };
    expect(cp.cycle.export.jobs.length).toBeGreaterThan(0);
    cp.cycle.fields = cp.cycle.fields.filter((f) => f !== 'salesRegion');
    const cancelledBefore = (await bulkStats(h)).jobs.Cancelled ?? 0;
    // The run cancels the jobs (still processing) and starts over; stop it at its first save.
    const changed = await engine.run(leadsSync, { options: FAST, crashAtSave: 1 });
    expect(changed.logs.some((l) => l.message.startsWith('lead fields changed'))).toBe(true);
    expect(changed.calls.filter((c) => c.endsWith('/cancel.json')).length).toBeGreaterThan(0);
    expect((await bulkStats(h)).jobs.Cancelled ?? 0).toBeGreaterThan(cancelledBefore);

    await settings(h, { settings: { bulkProcessingMs: 10 } });
    const r = await engine.run(leadsSync, { options: FAST });
    expect(r.error).toBeUndefined();
    expectCacheEquals(engine, await truth(h, 300));
  });

  it('export quota spent: the run pauses until midnight Central, then a new run finishes', async () => {
    // Room for what the earlier tests exported today plus one byte: the first files spend it.
    const today = (
      await h.sb.control<{ bulk: { bytesExportedToday: number } }>(
        'GET',
        `/instances/${h.sb.munchkinId}/counters`,
      )
    ).body.bulk.bytesExportedToday;
    await settings(h, { limits: { bulk: { dailyBytes: today + 1 } } });
    const engine = h.newEngine();
    const options = { ...FAST, maxQueuedExports: 2 };
    const r = await engine.run(leadsSync, { options });
    expect(r.error).toBeUndefined();
    expect(r.paused?.reason).toBe('export_quota_exhausted');
    expect(r.paused?.resetAt).toBe(nextChicagoMidnight(h.now().getTime()));
    expect(engine.live('Lead').size).toBeGreaterThan(0);
    expect(engine.live('Lead').size).toBeLessThan(300);

    // Marketo said the day is spent: even with room again, nothing more is asked for before midnight.
    await settings(h, { limits: { bulk: { dailyBytes: 500 * 1024 * 1024 } } });
    const early = await engine.run(leadsSync, { options });
    expect(early.paused?.reason).toBe('export_quota_exhausted');
    expect(early.calls.filter((c) => c.endsWith('/enqueue.json'))).toHaveLength(0);

    await h.advance(Math.ceil((nextChicagoMidnight(h.now().getTime()) - h.now().getTime()) / 1000) + 60);
    const after = await engine.run(leadsSync, { options });
    expect(after.error).toBeUndefined();
    expect(after.paused).toBeUndefined();
    expectCacheEquals(engine, await truth(h, 300));
  });
});
