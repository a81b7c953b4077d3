/**
 * Per-integration function settings over real HTTP against a real Tether and the sandbox:
 * `PATCH /integrations/{key}/functions/{name}` (validation, what GET then shows), `auto_start: false` (new
 * connections get the sync paused; it runs once started), a disabled sync (trigger/start refused, STOPPED,
 * not run by the scheduler, its run in progress stopped, its records readable, runs again once enabled)
 * and a disabled action (404 `disabled_resource`, sync and async).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { startTestTether, type TestTether } from '../../../testing.ts';
import { connectNew } from '../../connections/test-helpers.ts';
import { startSyncScheduler, type SyncScheduler } from '../../../../engine/sync/scheduler.ts';
import type { RunOutcome } from '../../../../engine/sync/runner.ts';
import { MARKETO_SYNCS } from '../../../../marketo/models/index.ts';
import { waitFor } from '../../../../testing/wait.ts';
import { QUICK_SCHEDULER } from '../../../../engine/sync/testing.ts';

type Json = Record<string, unknown>;
type Ended = RunOutcome & { syncId: number; syncName: string; variant: string };
interface ErrorBody {
  error: { code: string; message: string };
}
interface StatusView {
  name: string;
  status: string;
  latestExecutionStatus: string | null;
  finishedAt: string | null;
  nextScheduledSyncAt: string | null;
  recordCount: Record<string, number>;
}

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000) =>
  waitFor(what, fn, timeoutMs, 25);

describe('function settings', () => {
  let t: TestTether;
  let nango: Nango;
  let scheduler: SyncScheduler;
  let connectionId: string;
  const ended: Ended[] = [];

  const patch = (name: string, body: unknown, query = '') =>
    t.api(`/integrations/marketo/functions/${name}${query}`, { method: 'PATCH', json: body });

  async function errorOf(res: Response): Promise<[number, string]> {
    return [res.status, ((await res.json()) as ErrorBody).error.code];
  }

  async function status(): Promise<Map<string, StatusView>> {
    const res = await t.api(`/sync/status?syncs=*&provider_config_key=marketo&connection_id=${connectionId}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { syncs: StatusView[] };
    return new Map(body.syncs.map((s) => [s.name, s]));
  }

  function nextRun(name: string, from: number): Promise<Ended> {
    return until(`a run of ${name}`, async () => ended.slice(from).find((e) => e.syncName === name));
  }

  function startScheduler(): SyncScheduler {
    scheduler = startSyncScheduler(t.tether.deps, {
      ...QUICK_SCHEDULER,
      onRunEnd: (o) => ended.push(o),
    });
    t.tether.deps.syncs = scheduler;
    return scheduler;
  }

  beforeAll(async () => {
    t = await startTestTether({ sandbox: { seed: { leads: 50, seed: 3, spanDays: 30 } } });
    await t.tether.deps.syncs?.close();
    startScheduler();
    nango = new Nango({ host: t.url, secretKey: t.secretKey });
  });
  afterAll(async () => {
    await scheduler?.close();
    await t?.close();
  });

  it('PATCH validates its input and answers the function as GET then does', async () => {
    for (const body of [{}, { enabled: 'no' }, { enabled: true, extra: 1 }, null, []]) {
      expect(await errorOf(await patch('leads', body))).toEqual([400, 'invalid_body']);
    }
    const onAction = await patch('merge-leads', { auto_start: false });
    expect(onAction.status).toBe(400);
    expect(((await onAction.json()) as ErrorBody).error).toMatchObject({
      code: 'invalid_body',
      message: expect.stringContaining('syncs only'),
    });
    expect(await errorOf(await patch('nope', { enabled: false }))).toEqual([404, 'not_found']);
    expect(await errorOf(await patch('leads', { enabled: false }, '?type=action'))).toEqual([
      404,
      'not_found',
    ]);
    expect(await errorOf(await patch('leads', { enabled: false }, '?x=1'))).toEqual([
      400,
      'invalid_query_params',
    ]);
    expect(await errorOf(await patch('a.b', { enabled: false }))).toEqual([400, 'invalid_uri_params']);
    const unknown = await t.api('/integrations/nope/functions/leads', {
      method: 'PATCH',
      json: { enabled: false },
    });
    expect(await errorOf(unknown)).toEqual([404, 'not_found']);
    const noAuth = await t.api('/integrations/marketo/functions/leads', {
      method: 'PATCH',
      json: { enabled: false },
      headers: { authorization: 'Bearer nope' },
    });
    expect(noAuth.status).toBe(401);

    const res = await patch('leads', { auto_start: false }, '?type=sync');
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Json };
    expect(data).toMatchObject({ type: 'sync', name: 'leads', enabled: true, auto_start: false });
    const got = (await (await t.api('/integrations/marketo/functions/leads')).json()) as { data: Json };
    expect(got.data).toEqual(data);
    const action = await patch('merge-leads', { enabled: false });
    expect(((await action.json()) as { data: Json }).data).toMatchObject({
      name: 'merge-leads',
      enabled: false,
    });
    const list = (await (await t.api('/integrations/marketo/functions?limit=100')).json()) as {
      data: Json[];
    };
    const byName = new Map(list.data.map((f) => [f.name, f]));
    expect(byName.get('leads')).toEqual(data);
    expect(byName.get('merge-leads')).toMatchObject({ enabled: false });
    expect(byName.get('static-lists')).toMatchObject({ enabled: true, auto_start: true });
    expect((await patch('merge-leads', { enabled: true })).status).toBe(200);
  });

  it('auto_start false: a new connection gets the sync paused; it runs once started', async () => {
    // No sync auto-starts for connections made from now on: nothing runs unless started.
    for (const def of MARKETO_SYNCS) expect((await patch(def.name, { auto_start: false })).status).toBe(200);
    connectionId = await connectNew(t);
    const before = await status();
    expect(before.size).toBe(MARKETO_SYNCS.length);
    for (const s of before.values()) {
      expect(s).toMatchObject({ status: 'PAUSED', latestExecutionStatus: null, nextScheduledSyncAt: null });
    }
    const from = ended.length;
    await nango.startSync('marketo', ['static-lists'], connectionId);
    expect((await nextRun('static-lists', from)).end).toBe('SUCCESS');
    const after = await status();
    expect(after.get('static-lists')).toMatchObject({ status: 'SUCCESS', latestExecutionStatus: 'SUCCESS' });
    // The others never ran.
    for (const [name, s] of after) {
      if (name !== 'static-lists') expect(s).toMatchObject({ status: 'PAUSED', latestExecutionStatus: null });
    }
  });

  it('a disabled sync: refused by trigger and start, STOPPED, not run by the scheduler; enabled, it runs', async () => {
    const records = (await status()).get('static-lists')!.recordCount.StaticList!;
    // Requested while no scheduler runs, then disabled: it would be due at the next tick.
    await scheduler.close();
    expect(
      (
        await t.api('/sync/trigger', {
          method: 'POST',
          json: { syncs: ['static-lists'], provider_config_key: 'marketo', connection_id: connectionId },
        })
      ).status,
    ).toBe(200);
    expect((await patch('static-lists', { enabled: false })).status).toBe(200);

    const trigger = await t.api('/sync/trigger', {
      method: 'POST',
      json: { syncs: ['static-lists'], provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(trigger.status).toBe(404);
    const error = ((await trigger.json()) as ErrorBody).error;
    expect(error.code).toBe('disabled_resource');
    expect(error.message).toContain('"static-lists"');
    expect(error.message).toContain('PATCH /integrations/marketo/functions/static-lists');
    const start = await t.api('/sync/start', {
      method: 'POST',
      json: { syncs: ['static-lists'], provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(await errorOf(start)).toEqual([404, 'disabled_resource']);
    // Every sync (none named): the disabled one is left out, the call succeeds.
    const all = await t.api('/sync/trigger', {
      method: 'POST',
      json: { syncs: [], provider_config_key: 'marketo', connection_id: connectionId },
    });
    expect(all.status).toBe(200);
    // Pausing it is allowed.
    expect(
      (
        await t.api('/sync/pause', {
          method: 'POST',
          json: { syncs: ['static-lists'], provider_config_key: 'marketo', connection_id: connectionId },
        })
      ).status,
    ).toBe(200);
    await nango.startSync('marketo', ['activity-types'], connectionId);

    const stopped = (await status()).get('static-lists')!;
    expect(stopped).toMatchObject({ status: 'STOPPED', nextScheduledSyncAt: null });
    const page = await nango.listRecords({ providerConfigKey: 'marketo', connectionId, model: 'StaticList' });
    expect(page.records).toHaveLength(Math.min(records, 100));

    // Both were due when the scheduler starts: the same tick lists both, and only the enabled one runs.
    const from = ended.length;
    startScheduler();
    expect((await nextRun('activity-types', from)).end).toBe('SUCCESS');
    await scheduler.idle();
    expect(ended.slice(from).map((e) => e.syncName)).not.toContain('static-lists');
    expect((await status()).get('static-lists')).toMatchObject({
      status: 'STOPPED',
      finishedAt: stopped.finishedAt,
    });

    // Enabled again: its requested run happens (it is still paused: a trigger runs a paused sync).
    expect((await patch('static-lists', { enabled: true })).status).toBe(200);
    expect((await nextRun('static-lists', from)).end).toBe('SUCCESS');
    expect((await status()).get('static-lists')).toMatchObject({
      status: 'PAUSED',
      latestExecutionStatus: 'SUCCESS',
    });
  });

  it('disabling a sync stops its run in progress (CANCELLED, sync_disabled); enabled, it runs again', async () => {
    // The run hangs on its first call until it is stopped.
    const fault = await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/faults`, {
      kind: 'slow',
      delayMs: 8_000,
      count: 1,
      path: 'lists.json',
    });
    expect(fault.status).toBe(201);
    const from = ended.length;
    await nango.triggerSync('marketo', ['static-lists'], connectionId);
    await until('the run in progress', async () =>
      (await status()).get('static-lists')?.status === 'RUNNING' ? true : undefined,
    );
    expect((await patch('static-lists', { enabled: false })).status).toBe(200);
    const run = await nextRun('static-lists', from);
    expect(run).toMatchObject({ end: 'CANCELLED', error: { type: 'sync_disabled' } });
    expect((await status()).get('static-lists')).toMatchObject({
      status: 'STOPPED',
      latestExecutionStatus: 'STOPPED',
    });
    const logs = await t.api(
      `/sync/runs/${run.runId}/logs?provider_config_key=marketo&connection_id=${connectionId}`,
    );
    expect(logs.status).toBe(200);
    expect(JSON.stringify(await logs.json())).toContain('was disabled for its integration');

    expect((await patch('static-lists', { enabled: true })).status).toBe(200);
    const again = ended.length;
    await nango.triggerSync('marketo', ['static-lists'], connectionId);
    expect((await nextRun('static-lists', again)).end).toBe('SUCCESS');
  });

  it('a disabled action answers 404 disabled_resource, sync and async; enabled, it is checked again', async () => {
    expect((await patch('merge-leads', { enabled: false })).status).toBe(200);
    const trigger = (async_: boolean) =>
      t.api('/action/trigger', {
        method: 'POST',
        headers: {
          'connection-id': connectionId,
          'provider-config-key': 'marketo',
          ...(async_ ? { 'x-async': 'true' } : {}),
        },
        json: { action_name: 'merge-leads', input: {} },
      });
    for (const async_ of [false, true]) {
      const res = await trigger(async_);
      expect(res.status).toBe(404);
      const error = ((await res.json()) as ErrorBody).error;
      expect(error.code).toBe('disabled_resource');
      expect(error.message).toContain('"merge-leads"');
    }
    // Another action is untouched; enabled again, the input is checked (and refused) as before.
    expect((await patch('merge-leads', { enabled: true })).status).toBe(200);
    expect(await errorOf(await trigger(false))).toEqual([400, 'invalid_action_input']);
  });
});
