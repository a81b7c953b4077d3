import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import type { RunningTether } from '../../server/start.ts';
import { startTestTether, tetherApi, type TestTether } from '../../server/testing.ts';
import {
  advanceClocks,
  captureLogs,
  connectNew,
  startSecondTether,
} from '../../server/routes/connections/test-helpers.ts';
import { nowOf } from '../../db/context.ts';
import { getSync } from '../../db/syncs.ts';
import { nextChicagoMidnight } from '../../marketo/limits.ts';
import { leadsSync, UPDATED_AT_UNAVAILABLE } from '../../marketo/models/leads.ts';
import { DAY_MS, iso } from '../../sandbox/bulk/test-helpers.ts';
import { rest, type TestSandbox } from '../../sandbox/testing.ts';
import { SyncScheduler } from './scheduler.ts';
import type { RunOutcome } from './runner.ts';
import type { SyncRegistry } from './registry.ts';
import { waitFor } from '../../testing/wait.ts';
import { QUICK_SCHEDULER } from './testing.ts';

/**
 * The `leads` sync end to end over real HTTP: a real Tether (the scheduler, the runner's SyncIO, the
 * records cache, the sync routes) against a real Marketo sandbox serving bulk lead exports. The cache read
 * through `GET /records` (@nangohq/node) must equal the sandbox's leads read by REST with every describe
 * field (nulls and empty values left out, as the Lead records do) after: the initial load, changes made
 * afterwards (updatedAt windows, then the 1035 fallback), an export quota pause resumed after midnight
 * Central, and a restart of Tether while export jobs are processing (the same jobs are picked up).
 *
 * The scheduler runs the `leads` sync alone (its own registry): other syncs would only add calls.
 */

type Json = Record<string, unknown>;
type Ended = RunOutcome & { syncId: number; syncName: string };
interface RunView {
  id: number;
  type: string;
  status: string;
  started_at: string;
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
  api_calls: number;
  error: { type: string; message: string } | null;
  paused_until: string | null;
}
interface BulkStats {
  jobs: Record<string, number>;
  bytesExportedToday: number;
}

const REGISTRY: SyncRegistry = { marketo: [leadsSync] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const until = waitFor;

/**
 * A scheduler with the `leads` sync alone, not started until the connection's options are set: the
 * initial run must already poll export jobs every few milliseconds (the default is a minute).
 */
function leadsScheduler(tether: RunningTether, ended: Ended[]): SyncScheduler {
  const scheduler = new SyncScheduler(tether.deps, {
    ...QUICK_SCHEDULER,
    registry: REGISTRY,
    onRunEnd: (o) => ended.push(o),
  });
  tether.deps.syncs = scheduler;
  return scheduler;
}

async function putOptions(
  api: ReturnType<typeof tetherApi>,
  connectionId: string,
  options: Json,
): Promise<void> {
  const res = await api('/sync/options', {
    method: 'PUT',
    json: { sync_name: 'leads', provider_config_key: 'marketo', connection_id: connectionId, options },
  });
  expect(res.status).toBe(200);
}

/** Every REST field name of the sandbox's leads (describe: standard and custom). */
async function describeFields(sb: TestSandbox): Promise<string[]> {
  const body = await rest<{ result: { rest: { name: string } }[] }>(sb, '/rest/v1/leads/describe.json');
  return body.result.map((f) => f.rest.name);
}

/**
 * The sandbox's live leads among ids 1..maxId, read by REST with every describe field, as Lead records
 * are: id as a string, null and empty values left out.
 */
async function sandboxLeads(sb: TestSandbox, maxId: number): Promise<Map<string, Json>> {
  const fields = await describeFields(sb);
  const half = Math.ceil(fields.length / 2);
  const out = new Map<string, Json>();
  for (let first = 1; first <= maxId; first += 300) {
    const ids = Array.from({ length: Math.min(300, maxId - first + 1) }, (_, i) => first + i);
    // Two field lists per id batch keep each URL far below Marketo's 8 KB.
    for (const part of [fields.slice(0, half), fields.slice(half)]) {
      const q = new URLSearchParams({
        filterType: 'id',
        filterValues: ids.join(','),
        fields: [...new Set(['id', ...part])].join(','),
        batchSize: '300',
      });
      const body = await rest<{ result: Json[] }>(sb, `/rest/v1/leads.json?${q}`);
      for (const item of body.result) {
        const id = String(item.id);
        const rec = out.get(id) ?? { id };
        for (const [k, v] of Object.entries(item)) {
          if (k === 'id' || v === null || v === '') continue;
          rec[k] = v;
        }
        out.set(id, rec);
      }
    }
  }
  return out;
}

/** Every Lead record of the cache (@nangohq/node, all pages), split into live and deleted. */
async function cachedLeads(
  tether: RunningTether,
  connectionId: string,
): Promise<{ live: Map<string, Json>; deleted: Map<string, Json> }> {
  const nango = new Nango({ host: tether.url, secretKey: tether.secretKey });
  const live = new Map<string, Json>();
  const deleted = new Map<string, Json>();
  let cursor: string | null | undefined;
  do {
    const page = await nango.listRecords<Json>({
      providerConfigKey: 'marketo',
      connectionId,
      model: 'Lead',
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    for (const r of page.records) {
      const { _nango_metadata: meta, ...rec } = r as Json & { _nango_metadata: { last_action: string } };
      (meta.last_action === 'DELETED' ? deleted : live).set(String(rec.id), rec);
    }
    cursor = page.next_cursor;
  } while (cursor);
  return { live, deleted };
}

function sorted(m: Map<string, Json>): Json[] {
  return [...m.values()].sort((a, b) => Number(a.id) - Number(b.id));
}

async function bulkStats(sb: TestSandbox): Promise<BulkStats> {
  return (await sb.control<{ bulk: BulkStats }>('GET', `/instances/${sb.munchkinId}/counters`)).body.bulk;
}

/** Lead export jobs of the sandbox's default API user (Marketo's job list, last 7 days). */
async function exportJobs(sb: TestSandbox): Promise<Json[]> {
  const jobs: Json[] = [];
  let token: string | undefined;
  do {
    const body = await rest<{ result: Json[]; nextPageToken?: string }>(
      sb,
      `/bulk/v1/leads/export.json?batchSize=300${token ? `&nextPageToken=${token}` : ''}`,
    );
    jobs.push(...body.result);
    token = body.nextPageToken;
  } while (token);
  return jobs;
}

describe('the leads sync over HTTP against the sandbox', () => {
  const LEADS = 2_000;
  let t: TestTether;
  let scheduler: SyncScheduler;
  const ended: Ended[] = [];
  let logs: string[];
  let connectionId: string;
  let maxId = LEADS;
  /** Bytes of the initial load's files. */
  let initialBytes = 0;

  const api = (path: string, init?: RequestInit & { json?: unknown }) => t.api(path, init);

  async function syncId(): Promise<number> {
    return Number((await status()).id);
  }

  async function status(): Promise<Json> {
    const res = await api(
      `/sync/status?syncs=leads&provider_config_key=marketo&connection_id=${connectionId}`,
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { syncs: Json[] }).syncs[0]!;
  }

  async function lastRun(): Promise<RunView> {
    const res = await api(
      `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=leads&limit=1`,
    );
    return ((await res.json()) as { runs: RunView[] }).runs[0]!;
  }

  /** A run's log through `GET /sync/runs/:runId/logs` (every page). */
  async function runLogOf(runId: number): Promise<{ level: string; message: string; data: Json | null }[]> {
    const out: { level: string; message: string; data: Json | null }[] = [];
    let cursor: string | null = null;
    do {
      const res = await api(
        `/sync/runs/${runId}/logs?provider_config_key=marketo&connection_id=${connectionId}&limit=2` +
          (cursor ? `&cursor=${cursor}` : ''),
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { logs: typeof out; next_cursor: string | null };
      out.push(...body.logs);
      cursor = body.next_cursor;
    } while (cursor);
    return out;
  }

  /** Ends of the leads sync's runs after this call. */
  async function endsFrom(): Promise<() => Ended[]> {
    const id = await syncId();
    const from = ended.length;
    return () => ended.slice(from).filter((e) => e.syncId === id && e.end !== 'LOST');
  }

  async function trigger(opts?: Json): Promise<() => Ended[]> {
    const ends = await endsFrom();
    const res = await api('/sync/trigger', {
      method: 'POST',
      json: {
        syncs: ['leads'],
        provider_config_key: 'marketo',
        connection_id: connectionId,
        ...(opts ? { opts } : {}),
      },
    });
    expect(res.status).toBe(200);
    return ends;
  }

  async function expectCacheEqualsSandbox(): Promise<Map<string, Json>> {
    const [expected, cache] = await Promise.all([
      sandboxLeads(t.sandbox, maxId),
      cachedLeads(t.tether, connectionId),
    ]);
    expect(cache.live.size).toBe(expected.size);
    expect(sorted(cache.live)).toEqual(sorted(expected));
    return cache.deleted;
  }

  /** REST writes to the sandbox (as a customer's other tools would make them). */
  async function changeLeads(opts: { update: number[]; remove: number[]; tag: string }): Promise<number> {
    await rest(t.sandbox, '/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: opts.update.map((id) => ({ id, firstName: `${opts.tag}-${id}`, leadScore: id % 97 })),
    });
    const created = await rest<{ result: { id: number; status: string }[] }>(
      t.sandbox,
      '/rest/v1/leads.json',
      {
        action: 'createOnly',
        input: [{ email: `${opts.tag}@example.com`, firstName: opts.tag, company: 'Tether' }],
      },
    );
    expect(created.result[0]!.status).toBe('created');
    const newId = created.result[0]!.id;
    maxId = Math.max(maxId, newId);
    await rest(t.sandbox, '/rest/v1/leads/delete.json', { input: opts.remove.map((id) => ({ id })) });
    // The changes are in the past for the next run whatever the clocks' sub-second phase, and the
    // previous runs' calls are out of the rolling 20 s window Tether keeps under 100 calls (so the run
    // does not wait for it: that is traffic control's own test).
    await advanceClocks(t, 21);
    return newId;
  }

  beforeAll(async () => {
    t = await startTestTether({
      sandbox: { seed: { leads: LEADS, seed: 21 }, settings: { bulkProcessingMs: 50 } },
    });
    // The test's own REST reads (its oracle) share the instance: room for them beside Tether's 100 calls
    // per 20 s, so Tether never meets a 606 it could not foresee (and waits out for 20 s).
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { rate: { max: 300 } },
    });
    await t.tether.deps.syncs?.close();
    logs = captureLogs(t);
    scheduler = leadsScheduler(t.tether, ended);
    connectionId = await connectNew(t);
    await putOptions(api, connectionId, { exportPollMs: 50 });
    scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.close();
    await t?.close();
  });

  it('the initial load equals the sandbox lead by lead, field by field', async () => {
    const ends = await endsFrom();
    const first = await until('the initial run', () => ends()[0], 30_000);
    expect(first.end).toBe('SUCCESS');
    const run = await lastRun();
    expect(run).toMatchObject({ type: 'INITIAL', status: 'SUCCESS', added: LEADS, updated: 0, deleted: 0 });
    await expectCacheEqualsSandbox();
    // 730 days of createdAt in windows of at most 31 days: 24 jobs, each completed once.
    const stats = await bulkStats(t.sandbox);
    expect(stats.jobs).toMatchObject({ Completed: 24, Failed: 0, Cancelled: 0, Queued: 0, Processing: 0 });
    initialBytes = stats.bytesExportedToday;
    expect(initialBytes).toBeGreaterThan(LEADS * 100);
    // Per job: create, enqueue and the file; the rest is polling and the REST reads around it.
    expect(run.api_calls).toBeLessThan(24 * 3 + 60);
  });

  it('updates, a creation and deletions made after it show as UPDATED, ADDED, DELETED after the next run', async () => {
    const updated = [5, 500, 1999];
    const removed = [7, 8];
    const created = await changeLeads({ update: updated, remove: removed, tag: 'second' });
    const ends = await trigger();
    expect((await until('the incremental run', () => ends()[0])).end).toBe('SUCCESS');
    const run = await lastRun();
    expect(run).toMatchObject({ type: 'INCREMENTAL', added: 1, updated: 3, deleted: 2 });
    // Exactly those records changed, as GET /records?modified_after tells.
    const nango = new Nango({ host: t.tether.url, secretKey: t.tether.secretKey });
    const delta = await nango.listRecords<Json>({
      providerConfigKey: 'marketo',
      connectionId,
      model: 'Lead',
      modifiedAfter: run.started_at,
    });
    const actions = delta.records
      .map((r) => [String(r.id), (r._nango_metadata as { last_action: string }).last_action])
      .sort();
    expect(actions).toEqual(
      [
        ...updated.map((id) => [String(id), 'UPDATED']),
        [String(created), 'ADDED'],
        ...removed.map((id) => [String(id), 'DELETED']),
      ].sort(),
    );
    const deleted = await expectCacheEqualsSandbox();
    expect([...deleted.keys()].sort()).toEqual(removed.map(String).sort());
  });

  it('a merge made through Tether’s proxy: the losers show DELETED, the filled winner UPDATED', async () => {
    // The winner's empty title is filled from the first loser that has one.
    await rest(t.sandbox, '/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: [{ id: 20, title: null }],
    });
    const res = await api('/proxy/rest/v1/leads/20/merge.json?leadIds=21,22', {
      method: 'POST',
      headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ success: true });
    await advanceClocks(t, 21); // the changes in the past for the run; an empty window of calls
    const ends = await trigger();
    expect((await until('the run after the merge', () => ends()[0])).end).toBe('SUCCESS');
    expect(await lastRun()).toMatchObject({ type: 'INCREMENTAL', added: 0, updated: 1, deleted: 2 });
    const deleted = await expectCacheEqualsSandbox();
    expect(deleted.has('21') && deleted.has('22')).toBe(true);
    expect((await cachedLeads(t.tether, connectionId)).live.get('20')?.title).toBeTruthy();
  });

  it('without the updatedAt filter (1035) the fallback gives the same final cache, and says so in the log', async () => {
    const r = await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      settings: { bulkUpdatedAtFilter: false },
    });
    expect(r.status).toBe(200);
    const updated = [10, 11, 1500];
    const removed = [12];
    const created = await changeLeads({ update: updated, remove: removed, tag: 'third' });
    const ends = await trigger();
    const e = await until('the fallback run', () => ends()[0]);
    expect(e.end).toBe('SUCCESS');
    expect(await lastRun()).toMatchObject({ type: 'INCREMENTAL', added: 1, updated: 3, deleted: 1 });
    const deleted = await expectCacheEqualsSandbox();
    expect(deleted.has(String(removed[0]))).toBe(true);
    expect((await cachedLeads(t.tether, connectionId)).live.get(String(created))).toMatchObject({
      firstName: 'third',
    });
    const said = logs
      .map((l) => JSON.parse(l) as Json)
      .filter((l) => l.runId === e.runId && l.msg === UPDATED_AT_UNAVAILABLE);
    expect(said.length).toBeGreaterThan(0);
    // …and in the run's own log, read through the API.
    const runLog = await runLogOf(e.runId);
    expect(runLog.filter((l) => l.message === UPDATED_AT_UNAVAILABLE).length).toBeGreaterThan(0);
    expect(runLog[0]!.message).toBe('incremental run started (trigger)');
    expect(runLog.at(-1)).toMatchObject({
      level: 'info',
      message: 'run succeeded: 1 added, 3 updated, 1 deleted',
    });
  });

  it('a spent export quota pauses the run; past midnight Central the scheduler resumes and finishes it', async () => {
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      settings: { bulkUpdatedAtFilter: true },
    });
    // Today leaves room for about half of a full load; tomorrow's quota is enough for the rest.
    const today = (await bulkStats(t.sandbox)).bytesExportedToday;
    const dailyBytes = today + Math.floor(initialBytes / 2);
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { bulk: { dailyBytes } },
    });
    expect(dailyBytes).toBeGreaterThan(initialBytes);
    const completedBefore = (await bulkStats(t.sandbox)).jobs.Completed!;
    await advanceClocks(t, 21); // an empty rolling window of calls (see changeLeads)
    const ends = await trigger({ reset: true });
    const paused = await until('the paused run', () => ends()[0], 30_000);
    expect(paused.end).toBe('PAUSED');
    // Part of the 24 windows today, the rest tomorrow.
    const completedToday = (await bulkStats(t.sandbox)).jobs.Completed! - completedBefore;
    expect(completedToday).toBeGreaterThan(0);
    expect(completedToday).toBeLessThan(24);
    expect(paused.error?.type).toBe('export_quota_exhausted');
    const s = await status();
    const resetAt = nextChicagoMidnight(nowOf(t.tether.deps.store.ctx).getTime());
    expect(s).toMatchObject({
      status: 'PAUSED',
      pausedUntil: new Date(resetAt).toISOString(),
      lastError: { type: 'export_quota_exhausted' },
    });
    expect((await lastRun()).status).toBe('PAUSED');
    expect((await runLogOf(paused.runId)).at(-1)).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/^run paused until \S+Z: /) as unknown,
      data: { pausedUntil: new Date(resetAt).toISOString(), reason: 'export_quota_exhausted' },
    });
    await sleep(300);
    expect(ends()).toHaveLength(1);

    // Both clocks past midnight Central: no trigger, the scheduler resumes the run from its checkpoint.
    const seconds = Math.ceil((resetAt - nowOf(t.tether.deps.store.ctx).getTime()) / 1000) + 1;
    await advanceClocks(t, seconds);
    const done = await until('the resumed run', () => ends()[1], 30_000);
    expect(done.end).toBe('SUCCESS');
    expect((await status()).status).toBe('SUCCESS');
    await expectCacheEqualsSandbox();
    // Every window of the reset load was exported once: 24 jobs over the two days, none cancelled or failed.
    const stats = await bulkStats(t.sandbox);
    expect(stats.jobs).toMatchObject({
      Completed: completedBefore + 24,
      Failed: 0,
      Cancelled: 0,
      Queued: 0,
      Processing: 0,
      Created: 0,
    });
  });

  it('a custom field created in Marketo after the load reaches the records of the leads given a value', async () => {
    const before = await cachedLeads(t.tether, connectionId);
    // The customer's admin adds a field (field schema API), and another tool fills it on a few leads.
    const created = await rest<{ result: Json[] }>(t.sandbox, '/rest/v1/leads/schema/fields.json', {
      input: [{ displayName: 'Loyalty Tier', name: 'loyaltyTier', dataType: 'string' }],
    });
    expect(created.result).toEqual([{ name: 'loyaltyTier', status: 'created' }]);
    const touched = [30, 31, 1200];
    const synced = await rest<{ result: Json[] }>(t.sandbox, '/rest/v1/leads.json', {
      action: 'updateOnly',
      lookupField: 'id',
      input: touched.map((id) => ({ id, loyaltyTier: `tier-${id}` })),
    });
    expect(synced.result.map((r) => r.status)).toEqual(['updated', 'updated', 'updated']);
    await advanceClocks(t, 21); // the changes in the past for the run; an empty window of calls

    const ends = await trigger();
    expect((await until('the run after the new field', () => ends()[0])).end).toBe('SUCCESS');
    const run = await lastRun();
    expect(run).toMatchObject({ type: 'INCREMENTAL', added: 0, updated: touched.length, deleted: 0 });
    const nango = new Nango({ host: t.tether.url, secretKey: t.tether.secretKey });
    const delta = await nango.listRecords<Json>({
      providerConfigKey: 'marketo',
      connectionId,
      model: 'Lead',
      modifiedAfter: run.started_at,
    });
    expect(delta.records.map((r) => String(r.id)).sort()).toEqual(touched.map(String).sort());

    const after = await cachedLeads(t.tether, connectionId);
    expect(after.live.size).toBe(before.live.size);
    for (const id of touched) {
      const { loyaltyTier, updatedAt, ...others } = after.live.get(String(id))!;
      const { updatedAt: updatedBefore, ...othersBefore } = before.live.get(String(id))!;
      expect(loyaltyTier).toBe(`tier-${id}`);
      // Setting the field moved updatedAt; every other value is what it was.
      expect(Date.parse(updatedAt as string)).toBeGreaterThan(Date.parse(updatedBefore as string));
      expect(others).toEqual(othersBefore);
    }
    // The leads nobody gave a value: the same records as before the field existed (no empty field added).
    for (const [id, rec] of after.live) {
      if (touched.includes(Number(id))) continue;
      expect(rec).toEqual(before.live.get(id));
    }
    await expectCacheEqualsSandbox();
  });
});

describe('a restart of Tether while lead export jobs are processing', () => {
  let t: TestTether;
  let second: RunningTether | undefined;
  const ended: Ended[] = [];
  let connectionId: string;

  beforeAll(async () => {
    // Jobs take ten minutes of the sandbox's clock: they are still processing when Tether stops.
    t = await startTestTether({
      sandbox: { seed: { leads: 2_000, seed: 22 }, settings: { bulkProcessingMs: 600_000 } },
    });
    await t.tether.deps.syncs?.close();
  });
  afterAll(async () => {
    await second?.close();
    await t.sandbox.close();
    rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('the next Tether resumes the same jobs: no second job for any window', async () => {
    const first = leadsScheduler(t.tether, ended);
    connectionId = await connectNew(t);
    // 45 days back: two windows, two jobs processing at once.
    const since = iso(Date.now() - 45 * DAY_MS);
    await putOptions(tetherApi(t.tether), connectionId, { exportPollMs: 20, sinceDatetime: since });
    first.start();
    const processing = await until('two jobs processing', async () => {
      const jobs = await exportJobs(t.sandbox);
      return jobs.filter((j) => j.status === 'Processing').length === 2 ? jobs : undefined;
    });
    const ids = processing.map((j) => j.exportId as string).sort();
    // The checkpoint holds both job ids (saved before they were enqueued).
    const statusUrl = `/sync/status?syncs=leads&provider_config_key=marketo&connection_id=${connectionId}`;
    const cp = ((await (await tetherApi(t.tether)(statusUrl)).json()) as { syncs: { checkpoint: Json }[] })
      .syncs[0]!.checkpoint;
    expect(JSON.stringify(cp)).toContain(ids[0]);
    expect(JSON.stringify(cp)).toContain(ids[1]);

    await t.tether.close();
    expect(ended.map((e) => e.end)).toEqual(['STOPPED']);

    // A new Tether on the same data directory.
    second = await startSecondTether(t);
    const scheduler = leadsScheduler(second, ended);
    scheduler.start();
    await sleep(200);
    // The jobs finish on the sandbox's clock.
    const moved = await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/clock`, {
      advanceSeconds: 601,
    });
    expect(moved.status).toBe(200);
    const done = await until('the resumed run', () => ended.slice(1).find((e) => e.end !== 'LOST'), 20_000);
    expect(done.end).toBe('SUCCESS');
    await scheduler.close();

    const jobs = await exportJobs(t.sandbox);
    expect(jobs.map((j) => j.exportId as string).sort()).toEqual(ids);
    expect(jobs.every((j) => j.status === 'Completed')).toBe(true);
    const exported = jobs.reduce((n, j) => n + (j.numberOfRecords as number), 0);
    const cache = await cachedLeads(second, connectionId);
    expect(cache.live.size).toBe(exported);
    expect(exported).toBeGreaterThan(50);
  });
});

/**
 * A Tether and a sandbox whose export jobs take ten minutes of the sandbox's clock (still processing when
 * the test acts), the default scheduler off.
 */
function withSlowJobs(seed: number): { t: () => TestTether } {
  let t: TestTether;
  beforeAll(async () => {
    t = await startTestTether({
      sandbox: { seed: { leads: 1_000, seed }, settings: { bulkProcessingMs: 600_000 } },
    });
    await t.tether.deps.syncs?.close();
  });
  afterAll(async () => {
    await t.close();
  });
  return { t: () => t };
}

/** Connects, starts a `leads` scheduler and waits until its initial run has two export jobs processing. */
async function twoJobsProcessing(t: TestTether, ended: Ended[]) {
  const api = tetherApi(t.tether);
  const scheduler = leadsScheduler(t.tether, ended);
  const connectionId = await connectNew(t);
  // 45 days back: two windows, two jobs processing at once.
  await putOptions(api, connectionId, { exportPollMs: 20, sinceDatetime: iso(Date.now() - 45 * DAY_MS) });
  scheduler.start();
  const jobs = await until(
    'two jobs processing',
    async () => {
      const all = await exportJobs(t.sandbox);
      return all.filter((j) => j.status === 'Processing').length === 2 ? all : undefined;
    },
    // Polled slowly: the test's own calls count in the instance's 100 calls per 20 s.
    10_000,
    250,
  );
  return { api, scheduler, connectionId, jobs };
}

/** The run ended as a deleted connection's run ends, and `jobs` are cancelled at Marketo (within 5 s). */
async function expectWoundDown(t: TestTether, ended: Ended[], jobs: Json[]): Promise<void> {
  await until('the run ended', () => (ended.length > 0 ? true : undefined), 5_000);
  expect(ended.map((e) => e.end)).toEqual(['CANCELLED']);
  await until(
    'the jobs cancelled',
    async () => {
      const after = new Map((await exportJobs(t.sandbox)).map((j) => [j.exportId, j.status]));
      return jobs.every((j) => after.get(j.exportId) === 'Cancelled') ? true : undefined;
    },
    5_000,
    250,
  );
}

describe('a reset while lead export jobs are processing', () => {
  const env = withSlowJobs(23);
  const ended: Ended[] = [];

  it('the run after the reset cancels the discarded checkpoint’s jobs before exporting again', async () => {
    const t = env.t();
    const { api, scheduler: first, connectionId, jobs: old } = await twoJobsProcessing(t, ended);
    const oldIds = new Set(old.map((j) => j.exportId as string));
    // The run stops with its jobs in its checkpoint (it would resume them), then a reset is asked for.
    await first.close();
    expect(ended.map((e) => e.end)).toEqual(['STOPPED']);
    const res = await api('/sync/trigger', {
      method: 'POST',
      json: {
        syncs: ['leads'],
        provider_config_key: 'marketo',
        connection_id: connectionId,
        opts: { reset: true },
      },
    });
    expect(res.status).toBe(200);

    const scheduler = leadsScheduler(t.tether, ended);
    scheduler.start();
    // The reset run cancels both old jobs, then makes new ones for the same windows.
    const jobs = await until(
      'the old jobs cancelled and two new ones processing',
      async () => {
        const all = await exportJobs(t.sandbox);
        const fresh = all.filter((j) => !oldIds.has(j.exportId as string) && j.status === 'Processing');
        const cancelled = all.filter((j) => oldIds.has(j.exportId as string) && j.status === 'Cancelled');
        return cancelled.length === 2 && fresh.length === 2 ? all : undefined;
      },
      10_000,
      250,
    );
    expect(jobs).toHaveLength(4);
    const moved = await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/clock`, {
      advanceSeconds: 601,
    });
    expect(moved.status).toBe(200);
    const done = await until('the reset run', () => ended.slice(1).find((e) => e.end !== 'LOST'), 20_000);
    expect(done.end).toBe('SUCCESS');
    await scheduler.close();

    const runs = (await (
      await api(`/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=leads&limit=1`)
    ).json()) as { runs: { id: number; reason: string; type: string }[] };
    expect(runs.runs[0]).toMatchObject({ reason: 'reset', type: 'INITIAL' });
    const logs = (await (
      await api(
        `/sync/runs/${runs.runs[0]!.id}/logs?provider_config_key=marketo&connection_id=${connectionId}&limit=100`,
      )
    ).json()) as { logs: { message: string }[] };
    expect(logs.logs.map((l) => l.message)).toContain(
      'cancelled 2 lead export job(s) of the discarded checkpoint',
    );
    // Released once: the sync keeps no discarded checkpoint any more.
    const status = (await (
      await api(`/sync/status?syncs=leads&provider_config_key=marketo&connection_id=${connectionId}`)
    ).json()) as { syncs: { id: string }[] };
    const sync = await getSync(t.tether.deps.store.ctx, Number(status.syncs[0]!.id));
    expect(sync?.discardedCheckpoints).toEqual([]);
  });
});

describe('deleting a connection while its lead export jobs are processing', () => {
  const env = withSlowJobs(24);
  const ended: Ended[] = [];

  it('stops its run and cancels the jobs before answering', async () => {
    const t = env.t();
    const { api, scheduler, connectionId, jobs } = await twoJobsProcessing(t, ended);

    const started = Date.now();
    const res = await api(`/connections/${connectionId}?provider_config_key=marketo`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    // The run waited on jobs of ten minutes: stopped at once (in the background of the answer), ended as a
    // deleted connection's run ends, and its jobs cancelled.
    await expectWoundDown(t, ended, jobs);
    expect(Date.now() - started).toBeLessThan(5_000);
    await scheduler.close();
  });
});

describe('deleting an integration while its connections’ lead export jobs are processing', () => {
  const env = withSlowJobs(25);
  const ended: Ended[] = [];

  it('stops their runs and cancels their jobs', async () => {
    const t = env.t();
    const { api, scheduler, jobs } = await twoJobsProcessing(t, ended);
    const res = await api('/integrations/marketo', { method: 'DELETE' });
    expect(res.status).toBe(200);
    await expectWoundDown(t, ended, jobs);
    await scheduler.close();
  });
});
