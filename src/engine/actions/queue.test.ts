/**
 * Async runs refused because a daily budget or quota is spent, on a real Tether and the Marketo sandbox:
 * the run is parked until the reset (not failed, no attempt counted), answers 404 meanwhile, survives a
 * restart of the queue, holds the later runs of its connection but not other connections', fails once it
 * would wait longer than the cap; and a real spent budget (traffic control) waits for midnight.
 * Test actions refuse with the provider call's PausedUntil at reset times the test chooses; the queue's
 * clock option moves a queue past a reset without touching the rest of Tether.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { TestTether } from '../../server/testing.ts';
import {
  advanceClocks,
  connectNew,
  startTetherWithReceiver,
  startReceiver,
  type Receiver,
} from '../../server/routes/connections/test-helpers.ts';
import { MARKETO_ACTIONS } from '../../marketo/actions/index.ts';
import type { ActionDef, AnyActionDef } from '../../marketo/actions/types.ts';
import { getActionRun, type ActionRun } from '../../db/action-runs.ts';
import { updateFunctionSettings } from '../../db/integration-functions.ts';
import { getIntegration } from '../../db/integrations.ts';
import { nowOf } from '../../db/context.ts';
import { waitFor } from '../../testing/wait.ts';
import { PausedUntil } from '../provider-call.ts';
import { startActionQueue, type ActionQueue, type ActionQueueOptions } from './queue.ts';

const HOUR = 3_600_000;

/** Per input key: the reset times the next calls are refused with (then it succeeds), and its calls. */
const refusals = new Map<string, number[]>();
const calls: { key: string; at: number }[] = [];

const paused: ActionDef<{ key: string }, { key: string }> = {
  name: 'test-paused',
  description: 'Refused as by a spent daily budget while the test says so, then succeeds.',
  input: z.object({ key: z.string() }),
  idempotent: false,
  run: (_io, input) => {
    calls.push({ key: input.key, at: Date.now() });
    const next = refusals.get(input.key)?.shift();
    if (next !== undefined) {
      return Promise.reject(new PausedUntil(next, 'budget_exhausted', 'The daily budget is spent.'));
    }
    return Promise.resolve({ key: input.key });
  },
};

const REGISTRY = { marketo: [...MARKETO_ACTIONS, paused as AnyActionDef] };

describe('async runs waiting for a daily budget or quota reset', () => {
  let receiver: Receiver;
  let t: TestTether;
  let conn1: string;
  let conn2: string;
  let queue: ActionQueue;

  function newQueue(opts: ActionQueueOptions = {}): ActionQueue {
    queue = startActionQueue(t.tether.deps, {
      registry: REGISTRY,
      pollMs: 50,
      leaseMs: 5_000,
      retryDelayMs: () => 10,
      parkJitterMs: 0,
      ...opts,
    });
    t.tether.deps.actions = queue;
    return queue;
  }
  async function restartQueue(opts: ActionQueueOptions = {}): Promise<void> {
    await queue.close();
    newQueue(opts);
  }
  const now = () => nowOf(t.tether.deps.store.ctx).getTime();
  const later = (ms: number) => () => new Date(now() + ms);

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver);
    conn1 = await connectNew(t);
    conn2 = await connectNew(t, { end_user: { id: 'user-2' }, allowed_integrations: ['marketo'] });
    await t.tether.deps.actions?.close();
    newQueue();
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  async function trigger(connectionId: string, name: string, input: unknown, retries = '0'): Promise<string> {
    const res = await t.api('/action/trigger', {
      method: 'POST',
      json: { action_name: name, input },
      headers: {
        'connection-id': connectionId,
        'provider-config-key': 'marketo',
        'x-async': 'true',
        'x-max-retries': retries,
      },
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }
  const run = async (id: string): Promise<ActionRun> =>
    (await getActionRun(t.tether.deps.store.ctx, t.tether.deps.store.environment.id, id))!;
  const waiting = (id: string) =>
    waitFor(`run ${id} to wait`, async () => {
      const r = await run(id);
      return r.waiting ? r : undefined;
    });
  const ended = (id: string) =>
    waitFor(`run ${id} to end`, async () => {
      const r = await run(id);
      return r.status === 'success' || r.status === 'failure' ? r : undefined;
    });
  const callsOf = (key: string) => calls.filter((c) => c.key === key);

  it('a run refused with a spent budget waits for the reset (404 meanwhile), then runs and succeeds', async () => {
    const resetAt = now() + 1_500;
    refusals.set('k1', [resetAt]);
    // No retry asked for: waiting for a reset is no retry.
    const id = await trigger(conn1, 'test-paused', { key: 'k1' });
    const parked = await waiting(id);
    expect(parked).toMatchObject({
      status: 'pending',
      attempts: 0,
      waiting: {
        until: new Date(resetAt).toISOString(),
        reason: { code: 'daily_budget_exhausted', message: 'The daily budget is spent.' },
      },
    });
    const res = await t.api(`/action/${id}`);
    const body = (await res.json()) as { error: { code: string; message: string } };
    if (res.status === 404) {
      expect(body.error.code).toBe('not_found');
      expect(body.error.message).toMatch(/waiting until .*daily budget is spent/);
    } else expect(res.status).toBe(200); // the reset came first on a slow machine

    const done = await ended(id);
    expect(done).toMatchObject({ status: 'success', output: { key: 'k1' }, attempts: 1, waiting: null });
    expect(callsOf('k1')).toHaveLength(2);
    expect(callsOf('k1')[1]!.at).toBeGreaterThanOrEqual(resetAt);
    const got = await t.api(`/action/${id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual({ key: 'k1' });
  });

  it('a waiting run whose action is disabled meanwhile is not run: it fails with disabled_resource', async () => {
    const ctx = t.tether.deps.store.ctx;
    const integration = (await getIntegration(ctx, t.tether.deps.store.environment.id, 'marketo'))!;
    const setEnabled = (enabled: boolean) =>
      updateFunctionSettings(ctx, {
        integrationId: integration.id,
        type: 'action',
        name: 'test-paused',
        patch: { enabled },
        now: new Date(),
      });
    refusals.set('k-off', [now() + 1_000]);
    const id = await trigger(conn1, 'test-paused', { key: 'k-off' });
    await waiting(id);
    await setEnabled(false);
    try {
      const done = await ended(id);
      expect(done).toMatchObject({ status: 'failure', error: { code: 'disabled_resource' } });
      expect(done.error?.message).toMatch(
        /"test-paused" was disabled for integration "marketo" before it ran/,
      );
      // Only the attempt before it was disabled reached the action.
      expect(callsOf('k-off')).toHaveLength(1);
    } finally {
      await setEnabled(true);
    }
  });

  it('a queue closed while it claims runs nothing after close; the next queue runs the run', async () => {
    await queue.close();
    const q = startActionQueue(t.tether.deps, { registry: REGISTRY, pollMs: 60_000, leaseMs: 60_000 });
    let restored = false;
    try {
      // Its first look (and its prune of old runs) is over; the next one goes straight to the claim.
      await new Promise((r) => setTimeout(r, 300));
      // Queued while no queue of this Tether looks (the trigger wakes the closed one).
      const id = await trigger(conn1, 'test-paused', { key: 'k-close' });
      q.wake(); // its claim is now in flight…
      await q.close(); // …and close waits for it: what it claimed is given back, not run
      await new Promise((r) => setTimeout(r, 300));
      expect(callsOf('k-close')).toHaveLength(0);
      expect(await run(id)).toMatchObject({ attempts: 0, output: null, error: null });
      // The next queue takes it over; no attempt was counted, so none began: it runs, idempotent or not.
      newQueue();
      restored = true;
      expect(await ended(id)).toMatchObject({ status: 'success', output: { key: 'k-close' }, attempts: 1 });
      expect(callsOf('k-close')).toHaveLength(1);
    } finally {
      await q.close();
      if (!restored) newQueue();
    }
  });

  it('holds later runs of its connection, not other connections; survives a restart of the queue', async () => {
    refusals.set('p1', [now() + HOUR]);
    const p1 = await trigger(conn1, 'test-paused', { key: 'p1' });
    await waiting(p1);
    const p2 = await trigger(conn1, 'test-paused', { key: 'p2' });
    const o1 = await trigger(conn2, 'test-paused', { key: 'o1' });
    expect(await ended(o1)).toMatchObject({ status: 'success' });

    // A new queue (a restart) honours the stored wait: it runs conn2's next run, not conn1's.
    await restartQueue();
    const o2 = await trigger(conn2, 'test-paused', { key: 'o2' });
    expect(await ended(o2)).toMatchObject({ status: 'success' });
    expect((await run(p1)).waiting).not.toBeNull();
    expect(await run(p2)).toMatchObject({ status: 'pending', startedAt: null, waiting: null });
    expect(callsOf('p1')).toHaveLength(1);
    expect(callsOf('p2')).toHaveLength(0);

    // Past the reset (the queue's clock): p1 runs, then p2 behind it.
    await restartQueue({ now: later(HOUR + 1_000) });
    expect(await ended(p2)).toMatchObject({ status: 'success' });
    expect(await run(p1)).toMatchObject({ status: 'success', attempts: 1 });
    const order = calls.filter((c) => c.key === 'p1' || c.key === 'p2').map((c) => c.key);
    expect(order).toEqual(['p1', 'p1', 'p2']);
    await restartQueue();
  });

  it('a run that would wait longer than the cap fails with the refusal, as before', async () => {
    await restartQueue({ maxParkMs: HOUR });
    refusals.set('c1', [now() + 2 * HOUR]);
    const c1 = await trigger(conn1, 'test-paused', { key: 'c1' });
    expect(await ended(c1)).toMatchObject({
      status: 'failure',
      attempts: 1,
      error: { code: 'daily_budget_exhausted' },
    });
    const res = await t.api(`/action/${c1}`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('daily_budget_exhausted');

    // The cap counts from the first wait: parked 30 min, then refused again until 2 h after it began.
    const start = now();
    refusals.set('c2', [start + HOUR / 2, start + 2 * HOUR]);
    const c2 = await trigger(conn1, 'test-paused', { key: 'c2' });
    await waiting(c2);
    await restartQueue({ maxParkMs: HOUR, now: later(HOUR / 2 + 1_000) });
    expect(await ended(c2)).toMatchObject({ status: 'failure', error: { code: 'daily_budget_exhausted' } });
    expect(callsOf('c2')).toHaveLength(2);
    await restartQueue();
  });

  it('a budget spent at traffic control: the run waits for midnight, then writes to Marketo', async () => {
    const limitsPath = `/connections/${conn1}/limits?provider_config_key=marketo`;
    const patched = await t.api(limitsPath, { method: 'PATCH', json: { daily_budget: 1 } });
    expect(patched.status).toBe(200);
    // The one call of the day.
    const lists = await t.api('/proxy/rest/v1/lists.json', {
      headers: { 'connection-id': conn1, 'provider-config-key': 'marketo' },
    });
    expect(lists.status).toBe(200);
    const listId = ((await lists.json()) as { result: { id: number }[] }).result[0]!.id;
    const limits = (await (await t.api(limitsPath)).json()) as { budget: { left: number; reset_at: string } };
    expect(limits.budget.left).toBe(0);

    const id = await trigger(conn1, 'add-to-list', { listId, leadIds: [100] }, '2');
    const parked = await waiting(id);
    expect(parked.waiting).toMatchObject({
      until: limits.budget.reset_at,
      reason: { code: 'daily_budget_exhausted' },
    });
    expect(parked.attempts).toBe(0);

    // Midnight in Chicago (both clocks): a new day, a new budget; the run goes on by itself.
    await advanceClocks(t, Math.ceil((Date.parse(limits.budget.reset_at) - now()) / 1000) + 1);
    const done = await ended(id);
    expect(done).toMatchObject({ status: 'success', output: { listId, added: 1 } });
  });
});
