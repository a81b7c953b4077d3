import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import type { TestTether } from '../../testing.ts';
import {
  connectNew,
  startReceiver,
  startTetherWithReceiver,
  type Receiver,
} from '../connections/test-helpers.ts';
import { startSyncScheduler, type SyncScheduler } from '../../../engine/sync/scheduler.ts';
import type { RunOutcome } from '../../../engine/sync/runner.ts';
import { MARKETO_SYNCS } from '../../../marketo/models/index.ts';
import { waitFor } from '../../../testing/wait.ts';
import { QUICK_SCHEDULER } from '../../../engine/sync/testing.ts';

/**
 * Sync variants end to end over real HTTP (@nangohq/node's `createSyncVariant` / `deleteSyncVariant`,
 * `triggerSync`, `pauseSync`, `startSync`, `syncStatus`, `listRecords` with `variant`): a real Tether,
 * the real Marketo sandbox and the real `activities` sync. The base sync and a variant read different
 * activity types (`activityTypeIds` per variant) into their own records; deleting the variant stops its
 * run in progress and removes its records, status and runs, leaving the base sync as it was.
 */

type Ended = RunOutcome & { syncId: number; syncName: string; variant: string };
type Json = Record<string, unknown>;
interface StatusView {
  id: string;
  name: string;
  variant: string;
  type: string;
  status: string;
  frequency: string;
  finishedAt: string | null;
  latestExecutionStatus: string | null;
  latestResult: Record<string, { added: number; updated: number; deleted: number }>;
  recordCount: Record<string, number>;
  checkpoint: Json | null;
}
interface ErrorBody {
  error: { code: string; message?: string };
}

const VISIT_WEBPAGE = 1;
const SEND_EMAIL = 6;
const EMAIL_DELIVERED = 7;
const BASE_TYPES = [VISIT_WEBPAGE];
const VARIANT_TYPES = [SEND_EMAIL, EMAIL_DELIVERED];
const VARIANT = 'emails';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000) =>
  waitFor(what, fn, timeoutMs, 25);

describe('sync variants over HTTP against the sandbox', () => {
  let receiver: Receiver;
  let t: TestTether;
  let scheduler: SyncScheduler;
  let nango: Nango;
  let connectionId: string;
  const ended: Ended[] = [];

  const key = () => ({ provider_config_key: 'marketo', connection_id: connectionId });

  function nextRun(name: string, variant: string, from: number): Promise<Ended> {
    return until(`a run of ${name}::${variant}`, async () =>
      ended.slice(from).find((e) => e.syncName === name && e.variant === variant && e.end !== 'LOST'),
    );
  }

  async function allRecords(variant?: string): Promise<Json[]> {
    const out: Json[] = [];
    let cursor: string | undefined;
    do {
      const page = await nango.listRecords({
        providerConfigKey: 'marketo',
        connectionId,
        model: 'Activity',
        limit: 1000,
        ...(variant !== undefined ? { variant } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      out.push(...(page.records as Json[]));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return out;
  }

  /**
   * `nango.syncStatus` (GET /sync/status through the SDK); its 0.71 type leaves out fields the server
   * answers (`variant`, `latestExecutionStatus`…), hence the wider view.
   */
  async function syncStatus(syncs: '*' | string[], id: string): Promise<{ syncs: StatusView[] }> {
    return (await nango.syncStatus('marketo', syncs, id)) as unknown as { syncs: StatusView[] };
  }

  /** The sandbox's activity export jobs (Marketo's job list). */
  async function activityJobs(): Promise<{ exportId: string; status: string }[]> {
    const body = await t.sandbox.apiJson<{ result?: { exportId: string; status: string }[] }>(
      '/bulk/v1/activities/export.json?batchSize=300',
    );
    return body.result ?? [];
  }

  const typesOf = (records: Json[]) => new Set(records.map((r) => r.activityTypeId as number));

  function putOptions(options: Json, variant?: string) {
    return t.api('/sync/options', {
      method: 'PUT',
      json: {
        sync_name: 'activities',
        ...(variant !== undefined ? { sync_variant: variant } : {}),
        ...key(),
        options,
      },
    });
  }

  function call(method: string, path: string, body?: unknown) {
    return t.api(path, { method, ...(body !== undefined ? { json: body } : {}) });
  }

  async function errorOf(res: Response): Promise<[number, string]> {
    return [res.status, ((await res.json()) as ErrorBody).error.code];
  }

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver, { sandbox: { seed: { leads: 200, seed: 3, spanDays: 90 } } });
    // Nothing runs until the options of both variants are set (the default scheduler is off in tests).
    await t.tether.deps.syncs?.close();
    connectionId = await connectNew(t);
    nango = new Nango({ host: t.url, secretKey: t.secretKey });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('a variant of `activities` with other activity types than the base: records, status, webhooks', async () => {
    // Only the activities syncs run in this file.
    const others = MARKETO_SYNCS.map((s) => s.name).filter((n) => n !== 'activities');
    await nango.pauseSync('marketo', others, connectionId);

    const created = await nango.createSyncVariant({ ...key(), name: 'activities', variant: VARIANT });
    expect(created).toEqual({ id: expect.any(String), name: 'activities', variant: VARIANT });

    let res = await putOptions({ activityTypeIds: BASE_TYPES });
    expect(res.status).toBe(200);
    res = await putOptions({ activityTypeIds: VARIANT_TYPES }, VARIANT);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ options: { activityTypeIds: VARIANT_TYPES } });

    const pending = await syncStatus(['activities', `activities::${VARIANT}`], connectionId);
    expect(pending.syncs.map((s) => [s.name, s.variant, s.latestExecutionStatus])).toEqual([
      ['activities', 'base', null],
      ['activities', VARIANT, null],
    ]);
    expect(pending.syncs[1]!.id).toBe(created.id);

    scheduler = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      onRunEnd: (o) => ended.push(o),
    });
    t.tether.deps.syncs = scheduler;
    expect((await nextRun('activities', 'base', 0)).end).toBe('SUCCESS');
    expect((await nextRun('activities', VARIANT, 0)).end).toBe('SUCCESS');

    // Each reads what its own options ask for, into its own records.
    const base = await allRecords();
    const variant = await allRecords(VARIANT);
    expect(base.length).toBeGreaterThan(0);
    expect(variant.length).toBeGreaterThan(0);
    expect(typesOf(base)).toEqual(new Set(BASE_TYPES));
    expect([...typesOf(variant)].every((id) => VARIANT_TYPES.includes(id))).toBe(true);
    expect(await allRecords('base')).toHaveLength(base.length);

    // Status: both listed by `*`, the variant alone by `name::variant`, counts from its own records.
    const all = await syncStatus('*', connectionId);
    const activities = all.syncs.filter((s) => s.name === 'activities');
    expect(activities.map((s) => s.variant)).toEqual(['base', VARIANT]);
    const one = await syncStatus([`activities::${VARIANT}`], connectionId);
    expect(one.syncs).toHaveLength(1);
    expect(one.syncs[0]).toMatchObject({
      id: created.id,
      name: 'activities',
      variant: VARIANT,
      status: 'SUCCESS',
      type: 'INITIAL',
      recordCount: { Activity: variant.length },
      latestResult: { Activity: { added: variant.length, updated: 0, deleted: 0 } },
    });
    expect(activities[0]!.recordCount).toEqual({ Activity: base.length });

    // Sync webhooks name the variant (the model stays the plain model name, as in Nango).
    const hook = await receiver.waitFor((h) => h.json.type === 'sync' && h.json.syncVariant === VARIANT);
    expect(hook.json).toMatchObject({
      connectionId,
      providerConfigKey: 'marketo',
      syncName: 'activities',
      syncVariant: VARIANT,
      model: 'Activity',
      success: true,
      responseResults: { added: variant.length, updated: 0, deleted: 0 },
    });
    const baseHook = await receiver.waitFor((h) => h.json.type === 'sync' && h.json.syncVariant === 'base');
    expect(baseHook.json).toMatchObject({ syncName: 'activities', model: 'Activity' });
    expect((baseHook.json.responseResults as Json).added).toBe(base.length);

    // Runs are listed per variant.
    res = await t.api(
      `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&syncs=activities::${VARIANT}`,
    );
    const runs = ((await res.json()) as { runs: Json[] }).runs;
    expect(runs.map((r) => [r.sync, r.variant, r.status])).toEqual([['activities', VARIANT, 'SUCCESS']]);
  });

  it('trigger, pause and start act on the variant named by {name, variant} only', async () => {
    const from = ended.length;
    await nango.triggerSync('marketo', [{ name: 'activities', variant: VARIANT }], connectionId);
    const run = await nextRun('activities', VARIANT, from);
    expect(run.end).toBe('SUCCESS');
    expect(ended.slice(from).some((e) => e.syncName === 'activities' && e.variant === 'base')).toBe(false);
    // The string form `name::variant` selects it too.
    const from2 = ended.length;
    let res = await call('POST', '/sync/trigger', { syncs: [`activities::${VARIANT}`], ...key() });
    expect(res.status).toBe(200);
    expect((await nextRun('activities', VARIANT, from2)).end).toBe('SUCCESS');

    await nango.pauseSync('marketo', [{ name: 'activities', variant: VARIANT }], connectionId);
    let st = await syncStatus(['activities', `activities::${VARIANT}`], connectionId);
    expect(st.syncs.map((s) => [s.variant, s.status])).toEqual([
      ['base', 'SUCCESS'],
      [VARIANT, 'PAUSED'],
    ]);
    await nango.startSync('marketo', [{ name: 'activities', variant: VARIANT }], connectionId);
    st = await syncStatus([`activities::${VARIANT}`], connectionId);
    expect(st.syncs[0]!.status).not.toBe('PAUSED');

    // A frequency of its own.
    res = await call('PUT', '/sync/update-connection-frequency', {
      sync_name: 'activities',
      sync_variant: VARIANT,
      ...key(),
      frequency: 'every 2h',
    });
    expect(await res.json()).toEqual({ frequency: 'every 2h' });
    st = await syncStatus(['activities', `activities::${VARIANT}`], connectionId);
    expect(st.syncs[1]!.frequency).toBe('every 2h');
    expect(st.syncs[0]!.frequency).not.toBe('every 2h');
  });

  it('bad input: Nango’s codes', async () => {
    const path = (name: string, variant: string) => `/sync/${name}/variant/${variant}`;
    const cases: [string, string, unknown, number, string][] = [
      ['POST', path('activities', 'base'), key(), 400, 'invalid_variant'],
      ['POST', path('activities', 'BASE'), key(), 400, 'invalid_variant'],
      ['POST', path('nope', 'v'), key(), 400, 'unknown_sync'],
      ['POST', path('activities', VARIANT), key(), 400, 'sync_variant_already_exists'],
      ['POST', path('activities', 'v'), { ...key(), connection_id: 'nope' }, 400, 'unknown_connection'],
      [
        'POST',
        path('activities', 'v'),
        { provider_config_key: 'nope', connection_id: connectionId },
        400,
        'unknown_connection',
      ],
      ['POST', path('activities', 'v'), { provider_config_key: 'marketo' }, 400, 'invalid_body'],
      ['POST', path('activities', 'v'), { ...key(), extra: 1 }, 400, 'invalid_body'],
      ['POST', path('activities', 'v'), undefined, 400, 'invalid_body'],
      ['POST', path('activities', 'a.b'), key(), 400, 'invalid_uri_params'],
      ['POST', `${path('activities', 'v')}?x=1`, key(), 400, 'invalid_query_params'],
      ['DELETE', path('activities', 'base'), key(), 400, 'invalid_variant'],
      ['DELETE', path('activities', 'nope'), key(), 404, 'not_found'],
      ['DELETE', path('nope', VARIANT), key(), 404, 'not_found'],
      ['DELETE', path('activities', VARIANT), { ...key(), connection_id: 'nope' }, 400, 'unknown_connection'],
      ['DELETE', path('activities', VARIANT), {}, 400, 'invalid_body'],
      [
        'POST',
        '/sync/trigger',
        { syncs: [{ name: 'activities', variant: 'nope' }], ...key() },
        400,
        'unknown_sync',
      ],
      [
        'POST',
        '/sync/pause',
        { syncs: [{ name: 'activities', variant: 'nope' }], ...key() },
        400,
        'unknown_sync',
      ],
      [
        'PUT',
        '/sync/options',
        { sync_name: 'activities', sync_variant: 'nope', ...key(), options: {} },
        400,
        'unknown_sync',
      ],
    ];
    for (const [method, p, body, status, code] of cases) {
      expect(await errorOf(await call(method, p, body)), `${method} ${p} ${JSON.stringify(body)}`).toEqual([
        status,
        code,
      ]);
    }
    const res = await t.api(
      `/sync/status?syncs=activities::nope&provider_config_key=marketo&connection_id=${connectionId}`,
    );
    expect(await errorOf(res)).toEqual([400, 'unknown_sync']);
    // The SDK surfaces them as errors with the response.
    await expect(
      nango.createSyncVariant({ ...key(), name: 'activities', variant: 'base' }),
    ).rejects.toMatchObject({
      response: { status: 400, data: { error: { code: 'invalid_variant' } } },
    });
  });

  it('deleting the variant stops its run, removes its records, status and runs; the base is untouched', async () => {
    const baseBefore = await allRecords();
    const baseStatus = (await syncStatus(['activities'], connectionId)).syncs[0]!;
    expect((await allRecords(VARIANT)).length).toBeGreaterThan(0);

    // A run that waits (a bulk export polled every 10 minutes, its job processing for 10 minutes of the
    // sandbox's clock) is in progress when the variant goes.
    const instance = `/instances/${t.sandbox.munchkinId}`;
    const settings = (await t.sandbox.control<{ settings: Json }>('GET', instance)).body.settings;
    await t.sandbox.control('PATCH', instance, { settings: { bulkProcessingMs: 600_000 } });
    const jobsBefore = new Set((await activityJobs()).map((j) => j.exportId));
    const res = await putOptions(
      { activityTypeIds: VARIANT_TYPES, activityExport: 'bulk', exportPollMs: 600_000 },
      VARIANT,
    );
    expect(res.status).toBe(200);
    const from = ended.length;
    await nango.triggerSync('marketo', [{ name: 'activities', variant: VARIANT }], connectionId, {
      reset: true,
    });
    await until('the variant run in progress', async () => {
      const s = (await syncStatus([`activities::${VARIANT}`], connectionId)).syncs[0]!;
      return s.status === 'RUNNING' && scheduler.runningCount > 0 ? true : undefined;
    });
    const variantJobs = await until('the variant’s export job processing', async () => {
      const jobs = (await activityJobs()).filter((j) => !jobsBefore.has(j.exportId));
      return jobs.some((j) => j.status === 'Processing') ? jobs : undefined;
    });
    await sleep(300);

    const started = Date.now();
    expect(await nango.deleteSyncVariant({ ...key(), name: 'activities', variant: VARIANT })).toEqual({
      success: true,
    });
    // Stopped at once, not after its 10-minute wait; it wrote nothing after the deletion.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await nextRun('activities', VARIANT, from)).end).toBe('DELETED');
    // Its export jobs are cancelled in Marketo: they would hold the instance's export slots (2 processing)
    // for nothing and spend its daily export volume.
    const after = new Map((await activityJobs()).map((j) => [j.exportId, j.status]));
    expect(variantJobs.length).toBeGreaterThan(0);
    for (const job of variantJobs) expect(after.get(job.exportId)).toBe('Cancelled');
    await t.sandbox.control('PATCH', instance, {
      settings: { bulkProcessingMs: settings.bulkProcessingMs },
    });

    expect(await allRecords(VARIANT)).toEqual([]);
    const st = await syncStatus('*', connectionId);
    expect(st.syncs.filter((s) => s.name === 'activities').map((s) => s.variant)).toEqual(['base']);
    expect(
      await errorOf(
        await t.api(
          `/sync/status?syncs=activities::${VARIANT}&provider_config_key=marketo&connection_id=${connectionId}`,
        ),
      ),
    ).toEqual([400, 'unknown_sync']);
    const runs = await t.api(`/sync/runs?provider_config_key=marketo&connection_id=${connectionId}`);
    expect(((await runs.json()) as { runs: Json[] }).runs.every((r) => r.variant === 'base')).toBe(true);

    // The base sync: same records, same status.
    expect(await allRecords()).toEqual(baseBefore);
    const baseAfter = (await syncStatus(['activities'], connectionId)).syncs[0]!;
    expect(baseAfter).toMatchObject({
      id: baseStatus.id,
      variant: 'base',
      recordCount: { Activity: baseBefore.length },
      finishedAt: baseStatus.finishedAt,
    });

    // Deleted twice: not found. Created again: a fresh variant, empty cache, its initial run.
    await expect(
      nango.deleteSyncVariant({ ...key(), name: 'activities', variant: VARIANT }),
    ).rejects.toMatchObject({
      response: { status: 404, data: { error: { code: 'not_found' } } },
    });
    const from2 = ended.length;
    const again = await nango.createSyncVariant({ ...key(), name: 'activities', variant: VARIANT });
    expect(again.id).not.toBe(baseStatus.id);
    expect((await nextRun('activities', VARIANT, from2)).end).toBe('SUCCESS');
    // Its first run is an initial one that found an empty cache: every record it holds is new.
    const fresh = (await syncStatus([`activities::${VARIANT}`], connectionId)).syncs[0]!;
    expect(fresh).toMatchObject({ id: again.id, type: 'INITIAL', status: 'SUCCESS' });
    expect(fresh.latestResult).toEqual({
      Activity: { added: fresh.recordCount.Activity, updated: 0, deleted: 0 },
    });
    // No options of its own yet: every activity type.
    expect(typesOf(await allRecords(VARIANT)).size).toBeGreaterThan(VARIANT_TYPES.length);
  });
});
