/**
 * The `custom-objects` sync and its two actions end to end over real HTTP: a real Tether (scheduler,
 * runner, records cache, sync and action routes) against a real Marketo sandbox serving custom objects
 * and their bulk exports. The cache read through `GET /records` must equal the sandbox's records read
 * through its REST query, field by field, after: the initial load, an upsert through the action (UPDATED
 * / ADDED after the next run), a delete through the action (only a full resync marks it DELETED), a
 * variant `car_c` (cars only), an unknown variant (a clear failure), and a restart of Tether while export
 * jobs process (the same jobs resumed).
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningTether } from '../../server/start.ts';
import { startTestTether, tetherApi, type TestTether } from '../../server/testing.ts';
import {
  advanceClocks,
  connectNew,
  startSecondTether,
} from '../../server/routes/connections/test-helpers.ts';
import type { SyncScheduler } from '../../engine/sync/scheduler.ts';
import { waitFor } from '../../testing/wait.ts';
import { serviceWith } from '../../sandbox/testing.ts';
import {
  cachedCustomObjects,
  customObjectJobs,
  customObjectsScheduler,
  sandboxCustomObjects,
  sortedById,
  type Ended,
  type Json,
} from './custom-objects-test-helpers.ts';

const DAY_MS = 86_400_000;
const TYPES = ['car_c', 'subscription_c'];

async function putOptions(
  api: ReturnType<typeof tetherApi>,
  connectionId: string,
  options: Json,
  variant?: string,
): Promise<void> {
  const res = await api('/sync/options', {
    method: 'PUT',
    json: {
      sync_name: 'custom-objects',
      provider_config_key: 'marketo',
      connection_id: connectionId,
      options,
      ...(variant ? { sync_variant: variant } : {}),
    },
  });
  expect(res.status).toBe(200);
}

describe('the custom-objects sync over HTTP against the sandbox', () => {
  const LEADS = 1_000;
  let t: TestTether;
  let scheduler: SyncScheduler;
  const ended: Ended[] = [];
  let connectionId: string;
  let api: ReturnType<typeof tetherApi>;
  const maxLeadId = LEADS;

  /** The next ends of the sync's runs (of `variant`) after this call. */
  function endsFrom(variant = 'base'): () => Ended[] {
    const from = ended.length;
    return () =>
      ended
        .slice(from)
        .filter((e) => e.syncName === 'custom-objects' && e.variant === variant && e.end !== 'LOST');
  }

  async function trigger(opts?: Json, variant?: string): Promise<() => Ended[]> {
    const ends = endsFrom(variant);
    const res = await api('/sync/trigger', {
      method: 'POST',
      json: {
        syncs: [variant ? { name: 'custom-objects', variant } : 'custom-objects'],
        provider_config_key: 'marketo',
        connection_id: connectionId,
        ...(opts ? { opts } : {}),
      },
    });
    expect(res.status).toBe(200);
    return ends;
  }

  async function lastRun(variant?: string): Promise<Json> {
    const q = new URLSearchParams({
      provider_config_key: 'marketo',
      connection_id: connectionId,
      syncs: variant ? `custom-objects::${variant}` : 'custom-objects',
      limit: '1',
    });
    const res = await api(`/sync/runs?${q}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { runs: Json[] }).runs[0]!;
  }

  async function action(name: string, input: unknown): Promise<{ status: number; body: Json }> {
    const res = await api('/action/trigger', {
      method: 'POST',
      headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
      json: { action_name: name, input },
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  async function expectCacheEqualsSandbox(types = TYPES, variant?: string): Promise<Map<string, Json>> {
    const expected = new Map<string, Json>();
    for (const type of types) {
      for (const [id, rec] of await sandboxCustomObjects(t.sandbox, type, maxLeadId)) expected.set(id, rec);
    }
    const cache = await cachedCustomObjects(t.tether, connectionId, variant);
    expect(cache.live.size).toBe(expected.size);
    expect(sortedById(cache.live)).toEqual(sortedById(expected));
    return cache.deleted;
  }

  beforeAll(async () => {
    t = await startTestTether({
      // 60 days of history: two windows per type, so each full load stays far below 100 calls per 20 s.
      sandbox: { seed: { leads: LEADS, seed: 31, spanDays: 60 }, settings: { bulkProcessingMs: 50 } },
    });
    // The test's own REST reads share the instance: room for them beside Tether's calls.
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { rate: { max: 300 } },
    });
    await t.tether.deps.syncs?.close();
    scheduler = customObjectsScheduler(t.tether, ended);
    api = tetherApi(t.tether);
    connectionId = await connectNew(t);
    await putOptions(api, connectionId, { exportPollMs: 50 });
    scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.close();
    await t?.close();
  });

  it('the initial load equals the sandbox record by record, field by field', async () => {
    const first = await waitFor(
      'the initial run',
      async () => ended.find((e) => e.syncName === 'custom-objects' && e.end !== 'LOST'),
      30_000,
    );
    expect(first.end).toBe('SUCCESS');
    const run = await lastRun();
    expect(run).toMatchObject({ type: 'INITIAL', status: 'SUCCESS', updated: 0, deleted: 0 });
    await expectCacheEqualsSandbox();
    const cache = await cachedCustomObjects(t.tether, connectionId);
    const cars = [...cache.live.values()].filter((r) => r.apiName === 'car_c');
    const subs = [...cache.live.values()].filter((r) => r.apiName === 'subscription_c');
    // About 0.3 cars and 0.2 subscriptions per lead.
    expect(cars.length).toBeGreaterThan(150);
    expect(subs.length).toBeGreaterThan(100);
    expect(run.added).toBe(cars.length + subs.length);
    const car = cars[0]!;
    expect(car.id).toBe(`car_c:${String(car.marketoGUID)}`);
    expect(typeof car.vin).toBe('string');
    expect(car.year === null || typeof car.year === 'number').toBe(true);
    expect(subs.some((s) => typeof s.active === 'boolean')).toBe(true);
  });

  it('upsert-custom-objects: per-record statuses; the update shows as UPDATED, the creation ADDED', async () => {
    const cache = await cachedCustomObjects(t.tether, connectionId);
    const car = [...cache.live.values()].find((r) => r.apiName === 'car_c')!;
    const out = await action('upsert-custom-objects', {
      apiName: 'car_c',
      records: [
        { vin: car.vin, make: 'Tether Motors' },
        { vin: 'TETHER-NEW-1', make: 'Newco', model: 'One', year: 2024, leadId: 5 },
        { vin: 'TETHER-NEW-2', make: 'Nobody', leadId: 999_999_999 },
      ],
    });
    expect(out.status).toBe(200);
    const results = out.body.results as Json[];
    expect(results.map((r) => r.status)).toEqual(['updated', 'created', 'skipped']);
    expect(results[0]!.marketoGUID).toBe(car.marketoGUID);
    expect(typeof results[1]!.marketoGUID).toBe('string');
    expect((results[2]!.reasons as Json[]).length).toBeGreaterThan(0);
    expect(out.body).toMatchObject({ created: 1, updated: 1, skipped: 1 });

    await advanceClocks(t, 21); // the changes in the past for the run; an empty window of calls
    const ends = await trigger();
    expect((await waitFor('the incremental run', async () => ends()[0], 30_000)).end).toBe('SUCCESS');
    const run = await lastRun();
    expect(run).toMatchObject({ type: 'INCREMENTAL', added: 1, updated: 1, deleted: 0 });
    const after = await cachedCustomObjects(t.tether, connectionId);
    expect(after.live.get(String(car.id))).toMatchObject({ make: 'Tether Motors' });
    expect(after.live.get(`car_c:${String(results[1]!.marketoGUID)}`)).toMatchObject({
      vin: 'TETHER-NEW-1',
      year: 2024,
      leadId: '5',
    });
    await expectCacheEqualsSandbox();
  });

  it('delete-custom-objects: per-record statuses; only a full resync marks the record deleted', async () => {
    const out = await action('delete-custom-objects', {
      apiName: 'car_c',
      keys: [{ vin: 'TETHER-NEW-1' }, { vin: 'NO-SUCH-VIN' }],
    });
    expect(out.status).toBe(200);
    expect(out.body).toMatchObject({ deleted: 1, skipped: 1 });
    const results = out.body.results as Json[];
    expect(results.map((r) => r.status)).toEqual(['deleted', 'skipped']);
    expect(results[1]!.reasons).toEqual([{ code: '1013', message: expect.any(String) as unknown }]);
    const before = await cachedCustomObjects(t.tether, connectionId);
    const id = [...before.live.values()].find((r) => r.vin === 'TETHER-NEW-1')!.id as string;

    await advanceClocks(t, 21);
    let ends = await trigger();
    expect((await waitFor('the incremental run', async () => ends()[0], 30_000)).end).toBe('SUCCESS');
    // Marketo reports no deletions: the record stays as last seen.
    expect((await cachedCustomObjects(t.tether, connectionId)).live.has(id)).toBe(true);

    ends = await trigger({ reset: true });
    expect((await waitFor('the full resync', async () => ends()[0], 30_000)).end).toBe('SUCCESS');
    expect(await lastRun()).toMatchObject({ status: 'SUCCESS', added: 0, deleted: 1 });
    const deleted = await expectCacheEqualsSandbox();
    expect([...deleted.keys()]).toEqual([id]);
  });

  it('a variant named car_c syncs only cars', async () => {
    const ends = endsFrom('car_c');
    const res = await api('/sync/custom-objects/variant/car_c', {
      method: 'POST',
      json: { provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(res.status).toBe(200);
    await putOptions(api, connectionId, { exportPollMs: 50 }, 'car_c');
    expect((await waitFor('the variant’s run', async () => ends()[0], 30_000)).end).toBe('SUCCESS');
    const cache = await cachedCustomObjects(t.tether, connectionId, 'car_c');
    expect([...cache.live.values()].every((r) => r.apiName === 'car_c')).toBe(true);
    await expectCacheEqualsSandbox(['car_c'], 'car_c');
  });

  it('an unknown variant fails its run naming the types that exist', async () => {
    const ends = endsFrom('boat_c');
    const res = await api('/sync/custom-objects/variant/boat_c', {
      method: 'POST',
      json: { provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(res.status).toBe(200);
    const end = await waitFor('the variant’s run', async () => ends()[0], 30_000);
    expect(end.end).toBe('ERROR');
    expect(end.error?.type).toBe('marketo_unknown_custom_object');
    expect(end.error?.message).toContain('"boat_c"');
    expect(end.error?.message).toContain('car_c, subscription_c');
  });
  it('an API user whose role lacks the Custom Object permissions: the run succeeds, writes nothing and says why', async () => {
    // A role with Read-Only Lead alone (what the connect test checks), its user and API service.
    const svc = await serviceWith(t.sandbox, ['readOnlyLead'], 'leads-only');
    const res = await t.connect(
      await t.session({ end_user: { id: 'user-2' }, allowed_integrations: ['marketo'] }),
      {
        clientId: svc.clientId,
        clientSecret: svc.clientSecret,
      },
    );
    expect(res.status).toBe(200);
    const other = ((await res.json()) as { connectionId: string }).connectionId;
    const trig = await api('/sync/trigger', {
      method: 'POST',
      json: { syncs: ['custom-objects'], provider_config_key: 'marketo', connection_id: other },
    });
    expect(trig.status).toBe(200);
    const q = new URLSearchParams({
      provider_config_key: 'marketo',
      connection_id: other,
      syncs: 'custom-objects',
      limit: '1',
    });
    const run = await waitFor(
      'a finished run of the leads-only connection',
      async () => {
        const body = (await (await api(`/sync/runs?${q}`)).json()) as {
          runs: { id: string; status: string }[];
        };
        const r = body.runs[0];
        return r && r.status !== 'RUNNING' ? r : undefined;
      },
      30_000,
    );
    expect(run.status).toBe('SUCCESS');
    expect((await cachedCustomObjects(t.tether, other)).live.size).toBe(0);
    const logs = await api(
      `/sync/runs/${run.id}/logs?${new URLSearchParams({ provider_config_key: 'marketo', connection_id: other })}`,
    );
    expect(JSON.stringify(await logs.json())).toContain("lacks Marketo's Read-Only Custom Object permission");
  });
});

describe('a restart of Tether while custom object export jobs are processing', () => {
  let t: TestTether;
  let second: RunningTether | undefined;
  let scheduler: SyncScheduler | undefined;
  const ended: Ended[] = [];

  beforeAll(async () => {
    // Jobs take ten minutes of the sandbox's clock: still processing when Tether stops.
    t = await startTestTether({
      sandbox: { seed: { leads: 1_000, seed: 32 }, settings: { bulkProcessingMs: 600_000 } },
    });
    await t.tether.deps.syncs?.close();
  });
  afterAll(async () => {
    await scheduler?.close();
    await second?.close();
    await t.sandbox.close();
    rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('the next Tether resumes the same jobs: no second job for any window', async () => {
    const first = customObjectsScheduler(t.tether, ended);
    const connectionId = await connectNew(t);
    // 45 days back: two windows per type, the cars' two jobs processing at once.
    const since = new Date(Date.now() - 45 * DAY_MS).toISOString();
    await putOptions(tetherApi(t.tether), connectionId, { exportPollMs: 20, sinceDatetime: since });
    first.start();
    const processing = await waitFor(
      'two car jobs processing',
      async () => {
        const jobs = await customObjectJobs(t.sandbox, 'car_c');
        return jobs.filter((j) => j.status === 'Processing').length === 2 ? jobs : undefined;
      },
      15_000,
      250,
    );
    const ids = processing.map((j) => j.exportId as string).sort();
    const statusUrl = `/sync/status?syncs=custom-objects&provider_config_key=marketo&connection_id=${connectionId}`;
    const cp = ((await (await tetherApi(t.tether)(statusUrl)).json()) as { syncs: { checkpoint: Json }[] })
      .syncs[0]!.checkpoint;
    expect(JSON.stringify(cp)).toContain(ids[0]);
    expect(JSON.stringify(cp)).toContain(ids[1]);

    await t.tether.close();
    expect(ended.map((e) => e.end)).toEqual(['STOPPED']);

    second = await startSecondTether(t);
    scheduler = customObjectsScheduler(second, ended);
    scheduler.start();
    // Each type's jobs finish on the sandbox's clock: move it on until the run ends.
    const done = await waitFor(
      'the resumed run',
      async () => {
        const end = ended.slice(1).find((e) => e.end !== 'LOST');
        if (end) return end;
        await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/clock`, { advanceSeconds: 601 });
        return undefined;
      },
      20_000,
      250,
    );
    expect(done.end).toBe('SUCCESS');

    const jobs = await customObjectJobs(t.sandbox, 'car_c');
    expect(jobs.map((j) => j.exportId as string).sort()).toEqual(ids);
    expect(jobs.every((j) => j.status === 'Completed')).toBe(true);
    const exported = jobs.reduce((n, j) => n + (j.numberOfRecords as number), 0);
    const cache = await cachedCustomObjects(second, connectionId);
    const cars = [...cache.live.values()].filter((r) => r.apiName === 'car_c');
    expect(cars.length).toBe(exported);
    expect(exported).toBeGreaterThan(0);
    const subs = await customObjectJobs(t.sandbox, 'subscription_c');
    expect(subs.length).toBe(2);
  });
});
