import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import type { TestTether } from '../../server/testing.ts';
import {
  advanceClocks,
  connectNew,
  startReceiver,
  startTetherWithReceiver,
  type ReceivedHook,
  type Receiver,
} from '../../server/routes/connections/test-helpers.ts';
import { upsertRecords } from '../../db/records.ts';
import { claimSync, getRun, listSyncs, setSyncOptions, syncsDb } from '../../db/syncs.ts';
import { MARKETO_SYNCS } from '../../marketo/models/index.ts';
import { startSyncScheduler, type SyncScheduler, type SyncSchedulerOptions } from './scheduler.ts';
import { sweepTag, type RunOutcome } from './runner.ts';
import { waitFor } from '../../testing/wait.ts';
import { QUICK_SCHEDULER } from './testing.ts';

/**
 * Syncs end to end over real HTTP: a real Tether, a real Marketo sandbox, the real Marketo sync models,
 * the sync routes (and @nangohq/node), the records cache, sync webhooks, the budget pause and the
 * resumption of a crashed run. The scheduler runs with short ticks (`tickMs`).
 */

type Json = Record<string, unknown>;
interface Status {
  id: string;
  connection_id: string;
  type: string;
  finishedAt: string | null;
  nextScheduledSyncAt: string | null;
  name: string;
  variant: string;
  status: string;
  frequency: string;
  latestResult: Record<string, { added: number; updated: number; deleted: number }>;
  latestExecutionStatus: string | null;
  recordCount: Record<string, number>;
  checkpoint: Json | null;
  pausedUntil: string | null;
  lastError: { type: string; message: string } | null;
}
interface RunView {
  id: number;
  sync: string;
  type: string;
  reason: string;
  status: string;
  started_at: string;
  ended_at: string | null;
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
  api_calls: number;
  pages: number;
  resumes: number;
  error: { type: string; message: string } | null;
  paused_until: string | null;
}
type Ended = RunOutcome & { syncId: number; syncName: string };

const SYNC_NAMES = MARKETO_SYNCS.map((s) => s.name).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000) =>
  waitFor(what, fn, timeoutMs, 25);

async function json<T = Json>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

describe('syncs over HTTP against the sandbox', () => {
  let receiver: Receiver;
  let t: TestTether;
  let scheduler: SyncScheduler;
  const ended: Ended[] = [];
  let connectionId: string;
  let connectionPk: number;

  function useScheduler(opts: SyncSchedulerOptions = {}): SyncScheduler {
    scheduler = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      onRunEnd: (o) => ended.push(o),
      ...opts,
    });
    t.tether.deps.syncs = scheduler;
    return scheduler;
  }

  const statusPath = (syncs = '*', id = connectionId) =>
    `/sync/status?syncs=${encodeURIComponent(syncs)}&provider_config_key=marketo&connection_id=${encodeURIComponent(id)}`;

  async function statuses(syncs = '*', id = connectionId): Promise<Status[]> {
    const res = await t.api(statusPath(syncs, id));
    expect(res.status).toBe(200);
    return (await json<{ syncs: Status[] }>(res)).syncs;
  }

  async function statusOf(name: string, id = connectionId): Promise<Status> {
    return (await statuses(name, id))[0]!;
  }

  function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    return t.api(path, { method: 'POST', json: body, headers });
  }

  async function trigger(syncs: unknown[], opts?: Json): Promise<void> {
    const res = await post('/sync/trigger', {
      syncs,
      provider_config_key: 'marketo',
      connection_id: connectionId,
      ...(opts ? { opts } : {}),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true });
  }

  /** Runs `action`, then waits for the next end of a run of `name` (of the main connection). */
  async function nextRunOf(name: string, action: () => Promise<unknown>): Promise<Ended> {
    const before = ended.length;
    await action();
    return until(`a run of ${name}`, async () =>
      ended.slice(before).find((e) => e.syncName === name && e.end !== 'LOST'),
    );
  }

  async function runs(name: string, id = connectionId): Promise<RunView[]> {
    const res = await t.api(
      `/sync/runs?provider_config_key=marketo&connection_id=${encodeURIComponent(id)}&syncs=${name}&limit=100`,
    );
    expect(res.status).toBe(200);
    return (await json<{ runs: RunView[] }>(res)).runs;
  }

  async function records(model: string, query = '', id = connectionId) {
    const res = await t.api(`/records/?model=${model}${query}`, {
      headers: { 'connection-id': id, 'provider-config-key': 'marketo' },
    });
    expect(res.status).toBe(200);
    return json<{ records: (Json & { id: string; _nango_metadata: Json })[]; next_cursor: string | null }>(
      res,
    );
  }

  function hooksFor(model: string, from = 0): ReceivedHook[] {
    return receiver.hooks.slice(from).filter((h) => h.json.type === 'sync' && h.json.model === model);
  }

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver, { sandbox: { seed: { leads: 200, seed: 1, spanDays: 90 } } });
    await t.tether.deps.syncs?.close();
    // Every built-in sync's initial run (custom objects' export jobs and a call per program among them) and
    // this file's own direct reads share the instance's 100 calls per 20 s: room for both, in the sandbox
    // and in Tether's traffic control, so that no read here meets a 606 and the initial runs do not queue.
    await t.sandbox.control('PATCH', `/instances/${t.sandbox.munchkinId}`, {
      limits: { rate: { max: 300 } },
    });
    useScheduler();
    connectionId = await connectNew(t);
    const limits = await t.api(`/connections/${connectionId}/limits?provider_config_key=marketo`, {
      method: 'PATCH',
      json: { instance: { rate_max: 300 } },
    });
    expect(limits.status).toBe(200);
    const res = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
    connectionPk = (await json<{ id: number }>(res)).id;
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('creates the syncs of a new connection and completes their initial runs', async () => {
    const all = await until('initial runs', async () => {
      const s = await statuses();
      return s.length === SYNC_NAMES.length && s.every((x) => x.finishedAt !== null) ? s : undefined;
    });
    expect(all.map((s) => s.name).sort()).toEqual(SYNC_NAMES);
    for (const s of all) {
      expect(s).toMatchObject({
        connection_id: connectionId,
        variant: 'base',
        type: 'INITIAL',
        status: 'SUCCESS',
        latestExecutionStatus: 'SUCCESS',
        pausedUntil: null,
      });
      const def = MARKETO_SYNCS.find((d) => d.name === s.name)!;
      // Next run: one default interval after the end of the initial run.
      expect(Date.parse(s.nextScheduledSyncAt!) - Date.parse(s.finishedAt!)).toBe(
        def.defaultFrequencySeconds * 1000,
      );
      for (const model of def.models) expect(s.recordCount[model]).toBeTypeOf('number');
    }
    const lists = all.find((s) => s.name === 'static-lists')!;
    expect(lists.frequency).toBe('every 1h');
    expect(lists.recordCount).toEqual({ StaticList: 5 });
    expect(lists.latestResult).toEqual({ StaticList: { added: 5, updated: 0, deleted: 0 } });
    expect(lists.checkpoint).toMatchObject({ lastSweepAt: expect.any(String) });

    // The records are in the cache, as GET /records answers them.
    const page = await records('StaticList');
    expect(new Set(page.records.map((r) => r.id)).size).toBe(5);
    expect(page.records.map((r) => r.id)).toContain('1001');
    expect(page.records.every((r) => r._nango_metadata.last_action === 'ADDED')).toBe(true);

    // Run history: one INITIAL run per sync with its API calls.
    const history = await runs('static-lists');
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      type: 'INITIAL',
      reason: 'schedule',
      status: 'SUCCESS',
      added: 5,
      updated: 0,
      deleted: 0,
      api_calls: 1,
      pages: 1,
      resumes: 0,
      error: null,
    });

    // A signed sync webhook per model with changes.
    const hook = await receiver.waitFor((h) => h.json.type === 'sync' && h.json.model === 'StaticList');
    expect(hook.json).toEqual({
      from: 'nango',
      type: 'sync',
      connectionId,
      providerConfigKey: 'marketo',
      syncName: 'static-lists',
      syncVariant: 'base',
      model: 'StaticList',
      syncType: 'INITIAL',
      success: true,
      modifiedAfter: history[0]!.started_at,
      responseResults: { added: 5, updated: 0, deleted: 0 },
      queryTimeStamp: history[0]!.started_at,
    });
    const key = t.tether.deps.store.environment.webhookSigningKey;
    expect(hook.headers['x-nango-hmac-sha256']).toBe(
      createHmac('sha256', key).update(hook.body).digest('hex'),
    );
    // modifiedAfter fetches exactly what the run changed.
    const changed = await records('StaticList', `&modified_after=${hook.json.modifiedAfter as string}`);
    expect(changed.records).toHaveLength(5);
    // Models without records send no webhook (Nango's default).
    expect(hooksFor('DeletedLead')).toHaveLength(0);
  });

  it('a change in Marketo shows up after a triggered run as exactly that change', async () => {
    const members = (await records('StaticListMembership', '&limit=1000')).records;
    const inList = members.filter((r) => r.listId === 1001).map((r) => Number(r.leadId));
    const removed = inList[0]!;
    let added = 1;
    while (inList.includes(added)) added++;
    expect(
      (await t.sandbox.apiJson(`/rest/v1/lists/1001/leads.json?id=${removed}`, { method: 'DELETE' })).success,
    ).toBe(true);
    const add = await t.sandbox.apiJson<{ result: { status: string }[] }>('/rest/v1/lists/1001/leads.json', {
      method: 'POST',
      json: { input: [{ id: added }] },
    });
    expect(add.result[0]!.status).toBe('added');

    const hooksBefore = receiver.hooks.length;
    const end = await nextRunOf('static-list-memberships', () => trigger(['static-list-memberships']));
    expect(end.end).toBe('SUCCESS');
    const s = await statusOf('static-list-memberships');
    expect(s).toMatchObject({ type: 'INCREMENTAL', status: 'SUCCESS' });
    expect(s.latestResult).toEqual({ StaticListMembership: { added: 1, updated: 0, deleted: 1 } });
    expect(s.recordCount.StaticListMembership).toBe(members.length);

    const hook = await receiver.waitFor(
      (h) => receiver.hooks.indexOf(h) >= hooksBefore && h.json.model === 'StaticListMembership',
    );
    expect(hook.json).toMatchObject({
      syncType: 'INCREMENTAL',
      success: true,
      responseResults: { added: 1, updated: 0, deleted: 1 },
    });
    const delta = await records(
      'StaticListMembership',
      `&modified_after=${hook.json.modifiedAfter as string}`,
    );
    expect(delta.records.map((r) => [r.id, r._nango_metadata.last_action]).sort()).toEqual(
      [
        [`1001:${added}`, 'ADDED'],
        [`1001:${removed}`, 'DELETED'],
      ].sort(),
    );
  });

  it('trigger with reset reads everything again (INITIAL); emptyCache deletes the records first', async () => {
    // Lists changed with their members above: catch up first.
    expect((await nextRunOf('static-lists', () => trigger(['static-lists']))).end).toBe('SUCCESS');
    const firstSeen = (await records('StaticList')).records.map((r) => r._nango_metadata.first_seen_at);

    let end = await nextRunOf('static-lists', () => trigger(['static-lists'], { reset: true }));
    expect(end.end).toBe('SUCCESS');
    let last = (await runs('static-lists'))[0]!;
    expect(last).toMatchObject({
      type: 'INITIAL',
      reason: 'reset',
      added: 0,
      updated: 0,
      deleted: 0,
      unchanged: 5,
    });
    expect((await records('StaticList')).records.map((r) => r._nango_metadata.first_seen_at)).toEqual(
      firstSeen,
    );

    const hooksBefore = receiver.hooks.length;
    end = await nextRunOf('static-lists', () => trigger(['static-lists'], { reset: true, emptyCache: true }));
    expect(end.end).toBe('SUCCESS');
    last = (await runs('static-lists'))[0]!;
    expect(last).toMatchObject({ type: 'INITIAL', reason: 'reset_clear', added: 5, unchanged: 0 });
    const again = (await records('StaticList')).records;
    expect(again).toHaveLength(5);
    expect(again.every((r) => !firstSeen.includes(r._nango_metadata.first_seen_at as string))).toBe(true);
    const hook = await receiver.waitFor(
      (h) => receiver.hooks.indexOf(h) >= hooksBefore && h.json.model === 'StaticList',
    );
    expect(hook.json).toMatchObject({
      syncType: 'INITIAL',
      responseResults: { added: 5, updated: 0, deleted: 0 },
    });

    // Deprecated forms: sync_mode and full_resync.
    end = await nextRunOf('static-lists', () =>
      post('/sync/trigger', {
        syncs: ['static-lists'],
        provider_config_key: 'marketo',
        connection_id: connectionId,
        sync_mode: 'incremental',
      }),
    );
    expect((await runs('static-lists'))[0]).toMatchObject({ type: 'INCREMENTAL', reason: 'trigger' });
    end = await nextRunOf('static-lists', () =>
      post(
        '/sync/trigger',
        { syncs: ['static-lists'], full_resync: true },
        { 'provider-config-key': 'marketo', 'connection-id': connectionId },
      ),
    );
    expect((await runs('static-lists'))[0]).toMatchObject({ type: 'INITIAL', reason: 'reset' });
  });

  it('pause stops the schedule, start resumes it at once; trigger still runs a paused sync', async () => {
    const body = { syncs: ['static-lists'], provider_config_key: 'marketo', connection_id: connectionId };
    expect((await post('/sync/pause', body)).status).toBe(200);
    let s = await statusOf('static-lists');
    expect(s).toMatchObject({ status: 'PAUSED', nextScheduledSyncAt: null });

    // Make the schedule due: a paused sync does not run.
    await syncsDb(t.tether.deps.store.ctx)
      .updateTable('syncs')
      .set({ next_run_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', Number(s.id))
      .execute();
    const count = (await runs('static-lists')).length;
    await sleep(300);
    expect(await runs('static-lists')).toHaveLength(count);

    const end = await nextRunOf('static-lists', () => trigger(['static-lists']));
    expect(end.end).toBe('SUCCESS');
    expect((await statusOf('static-lists')).status).toBe('PAUSED');

    const started = await nextRunOf('static-lists', async () => {
      expect((await post('/sync/start', body)).status).toBe(200);
    });
    expect(started.end).toBe('SUCCESS');
    s = await statusOf('static-lists');
    expect(s.status).toBe('SUCCESS');
    expect(Date.parse(s.nextScheduledSyncAt!) - Date.parse(s.finishedAt!)).toBe(3600_000);
    expect((await runs('static-lists'))[0]).toMatchObject({ reason: 'schedule', status: 'SUCCESS' });
    // Starting a started schedule changes nothing.
    expect((await post('/sync/start', body)).status).toBe(200);
    expect((await statusOf('static-lists')).nextScheduledSyncAt).toBe(s.nextScheduledSyncAt);
  });

  it('per-connection frequency', async () => {
    const put = (frequency: string | null, extra: Json = {}) =>
      t.api('/sync/update-connection-frequency', {
        method: 'PUT',
        json: {
          sync_name: 'static-lists',
          provider_config_key: 'marketo',
          connection_id: connectionId,
          frequency,
          ...extra,
        },
      });
    let res = await put('every 30 minutes');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ frequency: 'every 30 minutes' });
    let s = await statusOf('static-lists');
    expect(s.frequency).toBe('every 30 minutes');
    expect(Date.parse(s.nextScheduledSyncAt!) - Date.parse(s.finishedAt!)).toBe(1800_000);

    res = await put(null);
    expect(await res.json()).toEqual({ frequency: 'every 1h' });
    s = await statusOf('static-lists');
    expect(s.frequency).toBe('every 1h');
    expect(Date.parse(s.nextScheduledSyncAt!) - Date.parse(s.finishedAt!)).toBe(3600_000);

    for (const bad of ['every 5s', 'sometimes', 'every -1h']) {
      res = await put(bad);
      expect(res.status).toBe(400);
      expect((await json<{ error: { code: string } }>(res)).error.code).toBe('invalid_body');
    }
    res = await put('every 1h', { sync_name: 'nope' });
    expect(res.status).toBe(400);
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe('unknown_sync');
    res = await put('every 1h', { connection_id: 'nope' });
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe('unknown_connection');
    res = await put('every 1h', { sync_variant: 'v2' });
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe('unknown_sync');
  });

  it('per-connection options: the activities sync reads only the chosen activity types', async () => {
    // Let a run with the default (every type) finish first, so what follows is this test's run alone.
    expect((await nextRunOf('activities', () => trigger(['activities']))).end).toBe('SUCCESS');
    const put = (body: unknown) => t.api('/sync/options', { method: 'PUT', json: body });
    const bad = await put({
      sync_name: 'activities',
      provider_config_key: 'marketo',
      connection_id: connectionId,
      options: [],
    });
    expect(bad.status).toBe(400);
    const unknown = await put({
      sync_name: 'nope',
      provider_config_key: 'marketo',
      connection_id: connectionId,
      options: {},
    });
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_sync');
    const ok = await put({
      sync_name: 'activities',
      provider_config_key: 'marketo',
      connection_id: connectionId,
      options: { activityTypeIds: [13] },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ options: { activityTypeIds: [13] } });

    // A field change in Marketo is a Change Data Value (13) activity.
    const changed = await t.sandbox.apiJson<{ result: { status: string }[] }>('/rest/v1/leads.json', {
      method: 'POST',
      json: { action: 'updateOnly', lookupField: 'id', input: [{ id: 7, firstName: 'Optioned' }] },
    });
    expect(changed.result[0]!.status).toBe('updated');
    const since = new Date().toISOString();
    const end = await nextRunOf('activities', () => trigger(['activities']));
    expect(end.end).toBe('SUCCESS');
    const delta = await records('Activity', `&modified_after=${since}&limit=1000`);
    expect(delta.records.length).toBeGreaterThan(0);
    expect(new Set(delta.records.map((r) => r.activityTypeId))).toEqual(new Set([13]));
    expect(delta.records.some((r) => r.leadId === 7)).toBe(true);
  });

  it('bad input answers a clear 4xx', async () => {
    const cases: [string, string, unknown, number, string][] = [
      [
        'POST',
        '/sync/trigger',
        { syncs: ['nope'], provider_config_key: 'marketo', connection_id: connectionId },
        400,
        'unknown_sync',
      ],
      [
        'POST',
        '/sync/trigger',
        { syncs: [{ name: 'static-lists', variant: 'v2' }], provider_config_key: 'marketo' },
        400,
        'unknown_sync',
      ],
      [
        'POST',
        '/sync/trigger',
        { syncs: [], provider_config_key: 'marketo', connection_id: 'nope' },
        400,
        'unknown_connection',
      ],
      ['POST', '/sync/trigger', { syncs: [] }, 400, 'missing_provider_config_key'],
      ['POST', '/sync/trigger', { syncs: [], provider_config_key: 'nope' }, 400, 'unknown_provider_config'],
      [
        'POST',
        '/sync/trigger',
        { syncs: [], provider_config_key: 'marketo', opts: { reset: true }, sync_mode: 'full_refresh' },
        400,
        'invalid_body',
      ],
      [
        'POST',
        '/sync/trigger',
        { syncs: 'static-lists', provider_config_key: 'marketo' },
        400,
        'invalid_body',
      ],
      [
        'POST',
        '/sync/trigger',
        { syncs: [], provider_config_key: 'marketo', sync_mode: 'sometimes' },
        400,
        'invalid_body',
      ],
      ['POST', '/sync/trigger', { syncs: [], provider_config_key: 'marketo', extra: 1 }, 400, 'invalid_body'],
      ['POST', '/sync/start', { syncs: ['nope'], provider_config_key: 'marketo' }, 400, 'unknown_sync'],
      [
        'POST',
        '/sync/start',
        { syncs: [], provider_config_key: 'marketo', connection_id: 'nope' },
        400,
        'unknown_connection',
      ],
      ['POST', '/sync/pause', { syncs: [] }, 400, 'invalid_body'],
      [
        'POST',
        '/sync/pause',
        { syncs: [], provider_config_key: 'marketo', connection_id: '' },
        400,
        'invalid_body',
      ],
      [
        'GET',
        '/sync/status?syncs=*&provider_config_key=marketo&connection_id=nope',
        undefined,
        400,
        'invalid_body',
      ],
      ['GET', '/sync/status?syncs=nope&provider_config_key=marketo', undefined, 400, 'unknown_sync'],
      ['GET', '/sync/status?provider_config_key=marketo', undefined, 400, 'invalid_query_params'],
      [
        'GET',
        '/sync/status?syncs=*&provider_config_key=marketo&bad=1',
        undefined,
        400,
        'invalid_query_params',
      ],
      ['GET', '/sync/status?syncs=a,,b&provider_config_key=marketo', undefined, 400, 'invalid_query_params'],
      [
        'GET',
        `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&cursor=x`,
        undefined,
        400,
        'invalid_query_params',
      ],
      [
        'GET',
        `/sync/runs?provider_config_key=marketo&connection_id=${connectionId}&limit=0`,
        undefined,
        400,
        'invalid_query_params',
      ],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await t.api(path, { method, ...(body !== undefined ? { json: body } : {}) });
      const out = await json<{ error: { code: string; message: string } }>(res);
      expect([path, body, res.status, out.error?.code]).toEqual([path, body, status, code]);
      expect(out.error.message).toBeTruthy();
    }
    const bad = await t.api('/sync/trigger', {
      method: 'POST',
      body: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const unauth = await t.api('/sync/status?syncs=*&provider_config_key=marketo', {
      headers: { authorization: '' },
    });
    expect(unauth.status).toBe(401);
  });

  it('a failed run: status ERROR, a failure webhook per model, the next run succeeds', async () => {
    const admin = `/instances/${t.sandbox.munchkinId}/faults`;
    await t.sandbox.control('POST', admin, { kind: 'error', code: '610', count: 1, path: 'lists.json' });
    const hooksBefore = receiver.hooks.length;
    const end = await nextRunOf('static-lists', () => trigger(['static-lists']));
    expect(end).toMatchObject({ end: 'ERROR', error: { type: 'marketo_610' } });
    const s = await statusOf('static-lists');
    expect(s).toMatchObject({
      status: 'ERROR',
      latestExecutionStatus: 'ERROR',
      lastError: { type: 'marketo_610', message: expect.stringContaining('610') },
    });
    expect(Date.parse(s.nextScheduledSyncAt!) - Date.parse(s.finishedAt!)).toBe(3600_000);
    const run = (await runs('static-lists'))[0]!;
    expect(run).toMatchObject({ status: 'ERROR', api_calls: 1, error: { type: 'marketo_610' } });
    const hook = await receiver.waitFor(
      (h) => receiver.hooks.indexOf(h) >= hooksBefore && h.json.model === 'StaticList',
    );
    expect(hook.json).toEqual({
      from: 'nango',
      type: 'sync',
      connectionId,
      providerConfigKey: 'marketo',
      syncName: 'static-lists',
      syncVariant: 'base',
      model: 'StaticList',
      syncType: 'INCREMENTAL',
      success: false,
      error: { type: 'marketo_610', description: run.error!.message },
      startedAt: run.started_at,
      failedAt: run.ended_at,
    });
    expect((await nextRunOf('static-lists', () => trigger(['static-lists']))).end).toBe('SUCCESS');
    expect(await statusOf('static-lists')).toMatchObject({ status: 'SUCCESS', lastError: null });
  });

  it('closing the scheduler stops a run after its page; the next scheduler resumes it at once', async () => {
    const ctx = t.tether.deps.store.ctx;
    const id = Number((await statusOf('static-lists')).id);
    await setSyncOptions(ctx, id, { batchSize: 1 }, new Date());
    await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/faults`, {
      kind: 'slow',
      delayMs: 150,
      count: 5,
      path: 'lists.json',
    });
    try {
      await trigger(['static-lists'], { reset: true });
      await until('the first page', async () => {
        const s = await statusOf('static-lists');
        return s.status === 'RUNNING' && typeof s.checkpoint?.sweepId === 'string' ? s : undefined;
      });
      await scheduler.close();
      const stopped = await statusOf('static-lists');
      expect(stopped.status).toBe('RUNNING');
      const row = await syncsDb(ctx)
        .selectFrom('syncs')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.lease_owner).toBeNull();
      const runId = row.current_run_id!;
      const partial = (await getRun(ctx, runId))!;
      expect(partial.pages).toBeGreaterThanOrEqual(1);
      expect(partial.pages).toBeLessThan(5);

      const before = ended.length;
      useScheduler();
      const end = await until('the resumed run', async () =>
        ended.slice(before).find((e) => e.syncName === 'static-lists'),
      );
      expect(end).toMatchObject({ end: 'SUCCESS', runId });
      const run = (await getRun(ctx, runId))!;
      expect(run).toMatchObject({ resumes: 1, pages: 5, deleted: 0, unchanged: 5 });
      // The call in flight at the stop was abandoned (and counted); its page was read again.
      expect(run.apiCalls).toBeGreaterThanOrEqual(5);
      expect(run.apiCalls).toBeLessThanOrEqual(6);
      expect((await records('StaticList')).records).toHaveLength(5);
    } finally {
      await setSyncOptions(ctx, id, {}, new Date());
    }
  });

  it('a run that hits the connection budget pauses until the reset, then continues from its checkpoint', async () => {
    const traffic = t.tether.deps.traffic.get('marketo')!;
    const full = (await runs('static-list-memberships'))[0]!;
    const used = traffic.budget(String(connectionPk)).used;
    traffic.setBudget(String(connectionPk), used + 2);
    const hooksBefore = receiver.hooks.length;
    try {
      const end = await nextRunOf('static-list-memberships', () =>
        trigger(['static-list-memberships'], { reset: true }),
      );
      expect(end.end).toBe('PAUSED');
      const resetAt = traffic.budget(String(connectionPk)).resetAt;
      const s = await statusOf('static-list-memberships');
      expect(s).toMatchObject({
        status: 'PAUSED',
        latestExecutionStatus: 'PAUSED',
        pausedUntil: new Date(resetAt).toISOString(),
        nextScheduledSyncAt: new Date(resetAt).toISOString(),
        lastError: { type: 'budget_exhausted', message: expect.stringContaining('budget') },
      });
      // The pages read before the budget ran out are saved, with the checkpoint after them.
      expect(s.checkpoint).toMatchObject({ sweepId: expect.any(String), index: 1 });
      const paused = (await runs('static-list-memberships'))[0]!;
      expect(paused).toMatchObject({ status: 'PAUSED', api_calls: 2, pages: 1, paused_until: s.pausedUntil });
      // Not a failure: no webhook.
      expect(receiver.hooks.slice(hooksBefore).filter((h) => h.json.success === false)).toHaveLength(0);
      // Nothing runs before the reset.
      await sleep(200);
      expect((await runs('static-list-memberships'))[0]!.id).toBe(paused.id);
    } finally {
      traffic.setBudget(String(connectionPk), null);
    }
    // After the reset (here: the budget raised and a trigger), the sweep continues where it stopped.
    const end = await nextRunOf('static-list-memberships', () => trigger(['static-list-memberships']));
    expect(end.end).toBe('SUCCESS');
    const resumed = (await runs('static-list-memberships'))[0]!;
    expect(resumed).toMatchObject({ status: 'SUCCESS', type: 'INITIAL', deleted: 0 });
    expect(resumed.api_calls).toBe(full.api_calls - 2);
    const s = await statusOf('static-list-memberships');
    expect(s).toMatchObject({ status: 'SUCCESS', pausedUntil: null, lastError: null });
    expect(s.recordCount.StaticListMembership).toBe(
      (await records('StaticListMembership', '&limit=1000&filter=added,updated')).records.length,
    );
  });

  it('a run left RUNNING by a dead process is resumed from its checkpoint by the next scheduler', async () => {
    // Past the rolling window of the calls before: Tether's traffic control starts this test with room.
    await advanceClocks(t, 21);
    const ctx = t.tether.deps.store.ctx;
    const [lists] = await listSyncs(ctx, {
      environmentId: t.tether.deps.store.environment.id,
      providerConfigKey: 'marketo',
      connectionPk,
    }).then((all) => all.filter((s) => s.name === 'static-lists'));
    // One list per page: 5 pages.
    await setSyncOptions(ctx, lists!.id, { batchSize: 1 }, new Date());
    await scheduler.close();

    // A "dead" process read two pages of a sweep, saved them and their checkpoint, then died.
    const dead = await claimSync(ctx, {
      syncId: lists!.id,
      owner: 'dead-process',
      now: new Date(),
      staleBefore: new Date(0),
      models: ['StaticList'],
    });
    expect(dead?.resumed).toBe(false);
    const p1 = await t.sandbox.apiJson<{ result: Json[]; nextPageToken: string }>(
      '/rest/v1/lists.json?batchSize=1',
    );
    const p2 = await t.sandbox.apiJson<{ result: Json[]; nextPageToken: string }>(
      `/rest/v1/lists.json?batchSize=1&nextPageToken=${p1.nextPageToken}`,
    );
    const sweepId = 'static-lists:dead';
    const seen = (await records('StaticList')).records.filter((r) =>
      [p1.result[0]!.id, p2.result[0]!.id].map(String).includes(r.id),
    );
    await upsertRecords(ctx, {
      connectionPk,
      model: 'StaticList',
      records: seen.map(({ _nango_metadata: _m, ...r }) => r as { id: string }),
      runId: sweepTag(sweepId),
    });
    await syncsDb(ctx)
      .updateTable('syncs')
      .set({
        checkpoint: JSON.stringify({ sweepId, nextPageToken: p2.nextPageToken }),
        heartbeat_at: new Date(Date.now() - 60_000).toISOString(),
      })
      .where('id', '=', lists!.id)
      .execute();
    await syncsDb(ctx)
      .updateTable('sync_runs')
      .set({ api_calls: 2, pages: 2 })
      .where('id', '=', dead!.run.id)
      .execute();
    expect((await statusOf('static-lists')).status).toBe('RUNNING');

    // A restarted scheduler takes the stale lease over and continues the same run from page 3.
    const before = ended.length;
    useScheduler();
    const end = await until('the resumed run', async () =>
      ended.slice(before).find((e) => e.syncName === 'static-lists'),
    );
    expect(end).toMatchObject({ end: 'SUCCESS', runId: dead!.run.id });
    const run = (await getRun(ctx, dead!.run.id))!;
    expect(run).toMatchObject({ status: 'SUCCESS', resumes: 1, apiCalls: 5, pages: 5, deleted: 0 });
    expect((await records('StaticList')).records).toHaveLength(5);
    expect((await statusOf('static-lists')).checkpoint).toMatchObject({ lastSweepAt: expect.any(String) });
    await setSyncOptions(ctx, lists!.id, {}, new Date());
  });

  it('one run per connection and sync: a live lease cannot be claimed twice', async () => {
    const ctx = t.tether.deps.store.ctx;
    const [s] = (
      await listSyncs(ctx, {
        environmentId: t.tether.deps.store.environment.id,
        providerConfigKey: 'marketo',
        connectionPk,
      })
    ).filter((x) => x.name === 'lead-fields');
    await scheduler.close();
    const claims = await Promise.all(
      ['a', 'b', 'c'].map((owner) =>
        claimSync(ctx, {
          syncId: s!.id,
          owner,
          now: new Date(),
          staleBefore: new Date(Date.now() - 60_000),
          models: [],
        }),
      ),
    );
    expect(claims.filter((c) => c !== null)).toHaveLength(1);
    // Two schedulers (two processes) on one database: runs of a sync never overlap.
    const winner = claims.find((c) => c !== null)!;
    await syncsDb(ctx)
      .updateTable('syncs')
      .set({ heartbeat_at: new Date(0).toISOString() })
      .where('id', '=', s!.id)
      .execute();
    const before = ended.length;
    const a = useScheduler({ owner: 'process-a' });
    const b = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      owner: 'process-b',
      onRunEnd: (o) => ended.push(o),
    });
    try {
      await until('the stale run resumed', async () =>
        ended.slice(before).find((e) => e.runId === winner.run.id),
      );
      for (let i = 0; i < 5; i++) await trigger(['lead-fields']);
      await until('triggered runs', async () =>
        (await statusOf('lead-fields')).status === 'SUCCESS' ? true : undefined,
      );
      await a.idle();
      await b.idle();
      const history = (await runs('lead-fields')).filter((r) => r.status !== 'RUNNING').reverse();
      for (let i = 1; i < history.length; i++) {
        expect(history[i]!.started_at >= history[i - 1]!.ended_at!).toBe(true);
      }
    } finally {
      await b.close();
    }
  });

  it('@nangohq/node: triggerSync, pauseSync, startSync, syncStatus, updateSyncConnectionFrequency', async () => {
    const nango = new Nango({ host: t.url, secretKey: t.secretKey });
    let end = await nextRunOf('activity-types', () =>
      nango.triggerSync('marketo', ['activity-types'], connectionId),
    );
    expect(end.end).toBe('SUCCESS');
    end = await nextRunOf('activity-types', () =>
      nango.triggerSync('marketo', ['activity-types'], connectionId, { reset: true }),
    );
    expect((await runs('activity-types'))[0]).toMatchObject({ reason: 'reset', type: 'INITIAL' });
    end = await nextRunOf('activity-types', () =>
      nango.triggerSync('marketo', ['activity-types'], connectionId, true),
    );
    expect((await runs('activity-types'))[0]).toMatchObject({ reason: 'reset' });

    await nango.pauseSync('marketo', ['activity-types'], connectionId);
    let st = await nango.syncStatus('marketo', ['activity-types'], connectionId);
    expect(st.syncs).toHaveLength(1);
    expect(st.syncs[0]).toMatchObject({ name: 'activity-types', status: 'PAUSED', frequency: 'every 1d' });
    end = await nextRunOf('activity-types', () =>
      nango.startSync('marketo', ['activity-types'], connectionId),
    );
    expect(end.end).toBe('SUCCESS');
    st = await nango.syncStatus('marketo', '*', connectionId);
    expect(st.syncs.map((s) => s.name).sort()).toEqual(SYNC_NAMES);
    expect(st.syncs.find((s) => s.name === 'activity-types')).toMatchObject({
      status: 'SUCCESS',
      recordCount: { ActivityType: expect.any(Number) },
    });
    const freq = await nango.updateSyncConnectionFrequency(
      'marketo',
      'activity-types',
      connectionId,
      'every 12h',
    );
    expect(freq).toEqual({ frequency: 'every 12h' });
    expect(
      await nango.updateSyncConnectionFrequency('marketo', 'activity-types', connectionId, null),
    ).toEqual({
      frequency: 'every 1d',
    });
    // Every connection of the integration when no connection id is given.
    await nango.pauseSync('marketo', []);
    expect((await statuses()).every((s) => s.status === 'PAUSED')).toBe(true);
    await nango.startSync('marketo', []);
    await until('all started', async () =>
      (await statuses()).every((s) => s.status !== 'PAUSED') ? true : undefined,
    );
  });
});
