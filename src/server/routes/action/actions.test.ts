/**
 * Nango's actions API end to end: a real Tether, a real Marketo sandbox, the real Marketo actions
 * (add-to-list) and a few test actions defined here (passed through the async runner's registry option),
 * called with @nangohq/node (`triggerAction`, `triggerActionAsync`, `getAsyncActionResult`) and raw HTTP:
 * sync runs and their errors, async runs (queue order, retries, failures, the `async_action` webhook),
 * and a run left pending by a stop, taken by the next start.
 */
import { createHmac } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Nango } from '@nangohq/node';
import type { TestTether } from '../../testing.ts';
import type { RunningTether } from '../../start.ts';
import {
  captureLogs,
  connectNew,
  startReceiver,
  startSecondTether,
  startTetherWithReceiver,
  type Receiver,
} from '../connections/test-helpers.ts';
import { MARKETO_ACTIONS } from '../../../marketo/actions/index.ts';
import { MarketoSyncError, type ActionDef, type AnyActionDef } from '../../../marketo/actions/types.ts';
import { startActionQueue, type ActionQueue } from '../../../engine/actions/queue.ts';
import { ActionFailed, runAction } from '../../../engine/actions/runner.ts';
import { getConnection } from '../../../db/connections.ts';
import { waitFor } from '../../../testing/wait.ts';

type Json = Record<string, unknown>;
interface ErrorBody {
  error: { code: string; message: string; upstream?: { code: string } };
}

/** Test actions: a gate the test opens, counters of runs, failures on demand. */
const gates = new Map<string, () => void>();
const runs: Record<string, number> = {};
const order: string[] = [];

const gated: ActionDef<{ key: string }, { key: string; opened: true }> = {
  name: 'test-gated',
  description: 'Waits until the test opens its gate.',
  input: z.object({ key: z.string() }),
  idempotent: true,
  run: async (_io, input) => {
    order.push(input.key);
    await new Promise<void>((resolve) => gates.set(input.key, resolve));
    return { key: input.key, opened: true };
  },
};

const gatedOnce: ActionDef<{ key: string }, { key: string }> = {
  ...gated,
  name: 'test-gated-once',
  description: 'Waits until the test opens its gate; not idempotent.',
  idempotent: false,
};

const refused = (name: string, idempotent: boolean): ActionDef<{ key: string }, never> => ({
  name,
  description: 'Counts its runs and fails as Marketo refusing the call (1003).',
  input: z.object({ key: z.string() }),
  idempotent,
  run: (_io, input) => {
    runs[input.key] = (runs[input.key] ?? 0) + 1;
    return Promise.reject(new MarketoSyncError('1003', 'Refused for the test', '/rest/v1/x.json'));
  },
});

const echo: ActionDef<{ marker: string }, { length: number }> = {
  name: 'test-echo',
  description: 'Answers the length of its marker.',
  input: z.object({ marker: z.string() }),
  idempotent: false,
  run: (io, input) => {
    io.log('echo ran', { length: input.marker.length });
    return Promise.resolve({ length: input.marker.length });
  },
};

const TEST_ACTIONS = [
  gated,
  gatedOnce,
  refused('test-refused', false),
  refused('test-refused-idem', true),
  echo,
] as AnyActionDef[];

function gate(key: string): () => void {
  return () => {
    const open = gates.get(key);
    if (!open) throw new Error(`gate ${key} not reached`);
    open();
  };
}

describe('actions over HTTP against the sandbox', () => {
  let receiver: Receiver;
  let t: TestTether;
  let nango: Nango;
  let connectionId: string;
  let queue: ActionQueue;
  const REGISTRY = { marketo: [...MARKETO_ACTIONS, ...TEST_ACTIONS] };
  /** A new runner on the same Tether (another owner): what a restart of the runner does. */
  function newQueue(): ActionQueue {
    queue = startActionQueue(t.tether.deps, {
      registry: REGISTRY,
      pollMs: 50,
      leaseMs: 5_000,
      retryDelayMs: () => 10,
    });
    t.tether.deps.actions = queue;
    return queue;
  }
  let listId: number;
  let restarted: RunningTether | undefined;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver);
    connectionId = await connectNew(t);
    nango = new Nango({ secretKey: t.secretKey, host: t.url });
    // The started runner knows Marketo's actions only: this one knows the test's too.
    await t.tether.deps.actions?.close();
    newQueue();
    const lists = await nango.get<{ result: { id: number }[] }>({
      endpoint: '/rest/v1/lists.json',
      providerConfigKey: 'marketo',
      connectionId,
    });
    listId = lists.data.result[0]!.id;
  });

  afterAll(async () => {
    if (restarted) {
      await restarted.close();
      await t.sandbox.close();
      rmSync(t.dataDir, { recursive: true, force: true });
    } else await t?.close();
    await receiver?.close();
  });

  function trigger(body: unknown, headers: Record<string, string> = {}, query = ''): Promise<Response> {
    return t.api(`/action/trigger${query}`, {
      method: 'POST',
      json: body,
      headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo', ...headers },
    });
  }

  async function errorOf(res: Response): Promise<ErrorBody['error']> {
    return ((await res.json()) as ErrorBody).error;
  }

  async function result(id: string): Promise<{ status: number; body: Json }> {
    const res = await t.api(`/action/${id}`);
    return { status: res.status, body: (await res.json()) as Json };
  }

  it('triggerAction runs a Marketo action now: its output is the whole body', async () => {
    const out = (await nango.triggerAction('marketo', connectionId, 'add-to-list', {
      listId,
      leadIds: [100, 101, 99_999_999],
    })) as Json;
    expect(out).toMatchObject({ listId, added: 2, skipped: 1 });
    const member = await nango.get<{ result: { membership?: unknown; status?: string }[] }>({
      endpoint: `/rest/v1/lists/${listId}/leads/ismember.json?id=100`,
      providerConfigKey: 'marketo',
      connectionId,
    });
    expect(member.data.result[0]).toMatchObject({ status: 'memberof' });
  });

  it('a Marketo refusal is 424 marketo_error with the upstream code', async () => {
    const res = await trigger({ action_name: 'add-to-list', input: { listId: 987_654, leadIds: [1] } });
    expect(res.status).toBe(424);
    const error = await errorOf(res);
    expect(error.code).toBe('marketo_error');
    expect(error.upstream).toEqual({ code: '1013' });
  });

  it('errors: unknown action 404, bad input 400, unknown connection 400, headers, body, query', async () => {
    let res = await trigger({ action_name: 'no-such-action', input: {} });
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe('not_found');

    res = await trigger({ action_name: 'add-to-list', input: { listId: 'x' } });
    expect(res.status).toBe(400);
    const bad = await errorOf(res);
    expect(bad.code).toBe('invalid_action_input');
    expect(bad.message).toMatch(/listId/);

    res = await trigger(
      { action_name: 'add-to-list', input: { listId, leadIds: [1] } },
      { 'connection-id': 'nobody' },
    );
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('unknown_connection');

    const noConn = await t.api('/action/trigger', {
      method: 'POST',
      json: { action_name: 'add-to-list' },
      headers: { 'provider-config-key': 'marketo' },
    });
    expect(noConn.status).toBe(400);
    expect((await errorOf(noConn)).code).toBe('missing_connection_id');
    const noKey = await t.api('/action/trigger', {
      method: 'POST',
      json: { action_name: 'add-to-list' },
      headers: { 'connection-id': connectionId },
    });
    expect((await errorOf(noKey)).code).toBe('missing_provider_config_key');

    for (const body of [
      { action_name: 'bad name!' },
      { input: {} },
      { action_name: 'add-to-list', extra: 1 },
    ]) {
      res = await trigger(body);
      expect(res.status).toBe(400);
      expect((await errorOf(res)).code).toBe('invalid_body');
    }
    res = await t.api('/action/trigger', {
      method: 'POST',
      body: '{"action_name":',
      headers: {
        'content-type': 'application/json',
        'connection-id': connectionId,
        'provider-config-key': 'marketo',
      },
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('invalid_body');

    res = await trigger({ action_name: 'add-to-list' }, {}, '?x=1');
    expect((await errorOf(res)).code).toBe('invalid_query_params');
    res = await trigger(
      { action_name: 'test-echo', input: { marker: 'a' } },
      { 'x-async': 'true', 'x-max-retries': '6' },
    );
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('invalid_headers');

    // The SDK sees the same answers.
    const err = (await nango
      .triggerAction('marketo', connectionId, 'no-such-action', {})
      .catch((e: unknown) => e)) as {
      response?: { status: number };
    };
    expect(err.response?.status).toBe(404);
  });

  it('async: 202 with Location; 404 until it ends, then 200 with the output; the webhook says where', async () => {
    const res = await trigger({ action_name: 'test-gated', input: { key: 'a1' } }, { 'x-async': 'true' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; statusUrl: string };
    expect(body.statusUrl).toBe(`/action/${body.id}`);
    expect(res.headers.get('location')).toBe(body.statusUrl);

    await waitFor('the run to start', () => (gates.has('a1') ? true : undefined));
    const running = await result(body.id);
    expect(running.status).toBe(404);
    expect(running.body).toMatchObject({ error: { code: 'not_found' } });
    expect((running.body.error as Json).message).toMatch(/not finished/);
    const viaSdk = (await nango.getAsyncActionResult({ id: body.id }).catch((e: unknown) => e)) as {
      response?: { status: number };
    };
    expect(viaSdk.response?.status).toBe(404);

    gate('a1')();
    const done = await waitFor('the result', async () => {
      const r = await result(body.id);
      return r.status === 200 ? r : undefined;
    });
    expect(done.body).toEqual({ key: 'a1', opened: true });
    expect(await nango.getAsyncActionResult({ statusUrl: body.statusUrl })).toEqual({
      key: 'a1',
      opened: true,
    });

    const hook = await receiver.waitFor((h) => h.json.type === 'async_action');
    expect(hook.json).toEqual({
      type: 'async_action',
      from: 'nango',
      connectionId,
      providerConfigKey: 'marketo',
      payload: { id: body.id, statusUrl: body.statusUrl },
    });
    const key = t.tether.deps.store.environment.webhookSigningKey;
    expect(hook.headers['x-nango-hmac-sha256']).toBe(
      createHmac('sha256', key).update(hook.body).digest('hex'),
    );
  });

  it('async runs of an environment run one at a time, in creation order', async () => {
    const ids: string[] = [];
    for (const key of ['q1', 'q2', 'q3']) {
      const started = (await nango.triggerActionAsync('marketo', connectionId, 'test-gated', { key })) as {
        id: string;
      };
      ids.push(started.id);
    }
    await waitFor('q1 to start', () => (gates.has('q1') ? true : undefined));
    expect(gates.has('q2')).toBe(false);
    gate('q1')();
    await waitFor('q2 to start', () => (gates.has('q2') ? true : undefined));
    expect(gates.has('q3')).toBe(false);
    gate('q2')();
    await waitFor('q3 to start', () => (gates.has('q3') ? true : undefined));
    gate('q3')();
    for (const id of ids) {
      await waitFor(`run ${id}`, async () => ((await result(id)).status === 200 ? true : undefined));
    }
    expect(order.filter((k) => k.startsWith('q'))).toEqual(['q1', 'q2', 'q3']);
  });

  it('a failed async run answers 500 with its error; X-Max-Retries only retries what is safe to', async () => {
    // A real Marketo refusal: add-to-list is idempotent, so the 2 retries asked for are made.
    const real = await trigger(
      { action_name: 'add-to-list', input: { listId: 987_654, leadIds: [1] } },
      { 'x-async': 'true', 'x-max-retries': '2' },
    );
    const realId = ((await real.json()) as { id: string }).id;
    const failed = await waitFor('the failure', async () => {
      const r = await result(realId);
      return r.status === 500 ? r : undefined;
    });
    expect(failed.body).toMatchObject({ error: { code: 'marketo_error', upstream: { code: '1013' } } });
    const sdkErr = (await nango.getAsyncActionResult({ id: realId }).catch((e: unknown) => e)) as {
      response?: { status: number };
    };
    expect(sdkErr.response?.status).toBe(500);

    const start = async (name: string, key: string, retries: string) => {
      const res = await trigger(
        { action_name: name, input: { key } },
        { 'x-async': 'true', 'x-max-retries': retries },
      );
      expect(res.status).toBe(202);
      const id = ((await res.json()) as { id: string }).id;
      await waitFor(`run ${key}`, async () => ((await result(id)).status === 500 ? true : undefined));
    };
    await start('test-refused-idem', 'r-idem', '3');
    expect(runs['r-idem']).toBe(4); // idempotent: 1 + 3 retries
    await start('test-refused', 'r-once', '3');
    expect(runs['r-once']).toBe(1); // not idempotent and Marketo ran it: never again
    await start('test-refused-idem', 'r-none', '0');
    expect(runs['r-none']).toBe(1);
  });

  it('the input of an async run is never logged', async () => {
    const logs = captureLogs(t);
    const marker = 'INPUT-MARKER-7f3a9';
    const res = await trigger({ action_name: 'test-echo', input: { marker } }, { 'x-async': 'true' });
    const id = ((await res.json()) as { id: string }).id;
    await waitFor('the echo', async () => ((await result(id)).status === 200 ? true : undefined));
    await waitFor('its log line', () =>
      logs.some((l) => l.includes('async action ended')) ? true : undefined,
    );
    expect(logs.join('\n')).not.toContain(marker);
  });

  it('a run past its time bound is stopped: 408 action_timeout', async () => {
    const connection = (await getConnection(
      t.tether.deps.store.ctx,
      t.tether.deps.store.environment.id,
      'marketo',
      connectionId,
    ))!;
    const failed = await runAction(
      t.tether.deps,
      connection,
      gated as AnyActionDef,
      { key: 'slow' },
      {
        priority: 'interactive',
        timeoutMs: 50,
      },
    ).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ActionFailed);
    expect((failed as ActionFailed).toApiError()).toMatchObject({ status: 408, code: 'action_timeout' });
  });

  it('GET /action/:id: unknown ids are 404; another environment cannot read a run', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid!']) {
      const r = await result(encodeURIComponent(id));
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: { code: 'not_found' } });
    }
    expect((await fetch(`${t.url}/action/00000000-0000-4000-8000-000000000000`)).status).toBe(401);
  });

  it('a run stopped mid-way: run again if idempotent, else failed as interrupted', async () => {
    const start = async (name: string, key: string) => {
      const res = await trigger({ action_name: name, input: { key } }, { 'x-async': 'true' });
      const id = ((await res.json()) as { id: string }).id;
      await waitFor(`${key} to start`, () => (gates.has(key) ? true : undefined));
      return id;
    };
    const once = await start('test-gated-once', 'x1');
    await queue.close();
    newQueue();
    const interrupted = await waitFor('the interrupted run', async () => {
      const r = await result(once);
      return r.status === 500 ? r : undefined;
    });
    expect(interrupted.body).toMatchObject({ error: { code: 'interrupted' } });
    expect(order.filter((k) => k === 'x1')).toHaveLength(1);

    const idem = await start('test-gated', 'y1');
    gates.delete('y1');
    await queue.close();
    newQueue();
    await waitFor('y1 to run again', () => (gates.has('y1') ? true : undefined));
    expect(order.filter((k) => k === 'y1')).toHaveLength(2);
    gate('y1')();
    await waitFor('y1 to end', async () => ((await result(idem)).status === 200 ? true : undefined));
  });

  it('a run left pending by a stop is run by the next start', async () => {
    // The runner stops first: the run stays pending when Tether stops.
    await queue.close();
    const res = await trigger(
      { action_name: 'add-to-list', input: { listId, leadIds: [102] } },
      { 'x-async': 'true' },
    );
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { id: string }).id;
    expect((await result(id)).status).toBe(404);
    await t.tether.close();
    restarted = await startSecondTether(t, [`127.0.0.1:${receiver.port}`]);
    const second = restarted;
    const out = await waitFor(
      'the run after the restart',
      async () => {
        const r = await fetch(`${second.url}/action/${id}`, {
          headers: { authorization: `Bearer ${second.secretKey}` },
        });
        return r.status === 200 ? ((await r.json()) as Json) : undefined;
      },
      20_000,
    );
    expect(out).toMatchObject({ listId, added: 1, skipped: 0 });
  });
});
