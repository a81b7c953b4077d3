/**
 * The async action runs repository on a real database (SQLite, and PostgreSQL in the `postgres` project):
 * creation order per environment, one run at a time per environment whatever the processes do, leases
 * (renewal, expiry after a crash, release at a stop), ends, pruning; runs parked until a reset (held
 * with their connection's later runs, not blocking other connections, honoured by any process).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from './testing.ts';
import { createConnection } from './connections.ts';
import { ensureEnvironment } from './environments.ts';
import {
  claimNextActionRuns,
  createActionRun,
  finishActionRun,
  getActionRun,
  parkActionRun,
  pruneActionRuns,
  releaseActionLeases,
  renewActionLease,
  setActionAttempts,
} from './action-runs.ts';

const T0 = new Date('2025-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('action runs', () => {
  let t: TestDb;
  let pk: number;
  let env2: number;
  let pk2: number;

  beforeEach(async () => {
    t = await openTestDb(T0);
    pk = (
      await createConnection(t.ctx, {
        environmentId: t.environmentId,
        connectionId: 'c1',
        providerConfigKey: 'marketo',
        provider: 'marketo',
      })
    ).id;
    env2 = (await ensureEnvironment(t.ctx, { name: 'prod', secretKey: randomUUID() })).id;
    pk2 = (
      await createConnection(t.ctx, {
        environmentId: env2,
        connectionId: 'c2',
        providerConfigKey: 'marketo',
        provider: 'marketo',
      })
    ).id;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  async function add(environmentId = t.environmentId, input: unknown = 1, now = T0): Promise<string> {
    const id = randomUUID();
    await createActionRun(t.ctx, {
      id,
      environmentId,
      connectionPk: environmentId === t.environmentId ? pk : pk2,
      providerConfigKey: 'marketo',
      connectionId: environmentId === t.environmentId ? 'c1' : 'c2',
      actionName: 'do-it',
      input,
      maxRetries: 2,
      now,
    });
    return id;
  }

  const claim = (owner: string, now = T0, limit = 10) =>
    claimNextActionRuns(t.ctx, { owner, now, leaseUntil: new Date(now.getTime() + 60_000), limit });

  it('stores a run and reads it back only in its environment; no input stays undefined', async () => {
    const id = await add(t.environmentId, { listId: 5, ids: [1] });
    const run = await getActionRun(t.ctx, t.environmentId, id);
    expect(run).toMatchObject({
      id,
      status: 'pending',
      attempts: 0,
      maxRetries: 2,
      input: { listId: 5, ids: [1] },
      output: null,
      error: null,
      createdAt: T0.toISOString(),
      startedAt: null,
    });
    expect(await getActionRun(t.ctx, env2, id)).toBeUndefined();
    const none = randomUUID();
    await createActionRun(t.ctx, {
      id: none,
      environmentId: t.environmentId,
      connectionPk: pk,
      providerConfigKey: 'marketo',
      connectionId: 'c1',
      actionName: 'do-it',
      input: undefined,
      maxRetries: 0,
      now: T0,
    });
    expect((await getActionRun(t.ctx, t.environmentId, none))!.input).toBeUndefined();
  });

  it('one run at a time per environment, in creation order; environments side by side', async () => {
    const a1 = await add();
    const a2 = await add();
    const b1 = await add(env2);
    const first = await claim('p1');
    expect(first.map((c) => c.run.id).sort()).toEqual([a1, b1].sort());
    expect(first.every((c) => !c.resumed)).toBe(true);
    // a1 runs: a2 waits, for this process and any other.
    expect(await claim('p2')).toEqual([]);
    expect(
      await finishActionRun(t.ctx, a1, 'p1', { status: 'success', output: { ok: 1 }, now: at(1000) }),
    ).toBe(true);
    const next = await claim('p2');
    expect(next.map((c) => c.run.id)).toEqual([a2]);
    const done = await getActionRun(t.ctx, t.environmentId, a1);
    expect(done).toMatchObject({ status: 'success', output: { ok: 1 }, finishedAt: at(1000).toISOString() });
  });

  it('two processes claiming at once: each run goes to one of them', async () => {
    await add();
    await add(env2);
    const [x, y] = await Promise.all([claim('p1'), claim('p2')]);
    const ids = [...x!, ...y!].map((c) => c.run.id);
    expect(ids.length).toBe(2);
    expect(new Set(ids).size).toBe(2);
  });

  it('a run whose lease ran out is taken again as resumed; the old owner can no longer end it', async () => {
    const id = await add();
    await claim('p1');
    await setActionAttempts(t.ctx, id, 'p1', 1);
    expect(await renewActionLease(t.ctx, id, 'p1', at(90_000))).toBe(true);
    expect(await claim('p2', at(60_000))).toEqual([]); // lease renewed until 90 s
    const again = await claim('p2', at(91_000));
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ resumed: true, run: { id, attempts: 1, startedAt: T0.toISOString() } });
    expect(await renewActionLease(t.ctx, id, 'p1', at(200_000))).toBe(false);
    expect(
      await finishActionRun(t.ctx, id, 'p1', {
        status: 'failure',
        error: { code: 'x', message: 'x' },
        now: at(1),
      }),
    ).toBe(false);
    expect(
      await finishActionRun(t.ctx, id, 'p2', {
        status: 'failure',
        error: { code: 'marketo_error', message: 'no', extra: { upstream: { code: '1003' } } },
        now: at(92_000),
      }),
    ).toBe(true);
    expect((await getActionRun(t.ctx, t.environmentId, id))!.error).toEqual({
      code: 'marketo_error',
      message: 'no',
      extra: { upstream: { code: '1003' } },
    });
  });

  it('a stop releases the leases: the next process takes the run at once', async () => {
    const id = await add();
    await claim('p1');
    expect(await releaseActionLeases(t.ctx, 'p1')).toBe(1);
    const again = await claim('p2', at(1));
    expect(again.map((c) => [c.run.id, c.resumed])).toEqual([[id, true]]);
  });

  it('prunes runs older than the cutoff, except one running under a live lease', async () => {
    const old = await add(t.environmentId, 1, T0);
    const oldOther = await add(env2, 1, T0);
    const recent = await add(t.environmentId, 1, at(10 * 86_400_000));
    await claim('p1', at(10 * 86_400_000 - 1000)); // both old ones running, lease to +59 s
    const cutoff = at(7 * 86_400_000);
    expect(await pruneActionRuns(t.ctx, cutoff, at(10 * 86_400_000))).toBe(0);
    await finishActionRun(t.ctx, old, 'p1', { status: 'success', output: null, now: at(10 * 86_400_000) });
    expect(await pruneActionRuns(t.ctx, cutoff, at(10 * 86_400_000))).toBe(1);
    expect(await getActionRun(t.ctx, t.environmentId, old)).toBeUndefined();
    // The other's lease runs out: pruned too.
    expect(await pruneActionRuns(t.ctx, cutoff, at(11 * 86_400_000))).toBe(1);
    expect(await getActionRun(t.ctx, env2, oldOther)).toBeUndefined();
    expect(await getActionRun(t.ctx, t.environmentId, recent)).toBeDefined();
  });

  describe('parked runs', () => {
    let pk3: number;
    beforeEach(async () => {
      pk3 = (
        await createConnection(t.ctx, {
          environmentId: t.environmentId,
          connectionId: 'c3',
          providerConfigKey: 'marketo',
          provider: 'marketo',
        })
      ).id;
    });

    async function addOn(connectionPk: number): Promise<string> {
      const id = randomUUID();
      await createActionRun(t.ctx, {
        id,
        environmentId: t.environmentId,
        connectionPk,
        providerConfigKey: 'marketo',
        connectionId: connectionPk === pk ? 'c1' : 'c3',
        actionName: 'do-it',
        input: 1,
        maxRetries: 0,
        now: T0,
      });
      return id;
    }

    const reason = { code: 'daily_budget_exhausted', message: 'The daily budget is spent.' };
    const RESET = at(30_000);

    it('waits until not_before, holds its connection’s later runs, lets other connections run', async () => {
      const a1 = await addOn(pk);
      const a2 = await addOn(pk);
      const b1 = await addOn(pk3);
      const b2 = await addOn(pk3);
      expect((await claim('p1')).map((c) => c.run.id)).toEqual([a1]);
      await setActionAttempts(t.ctx, a1, 'p1', 1);
      expect(
        await parkActionRun(t.ctx, a1, 'p2', { notBefore: RESET, reason, attempts: 0, now: at(5) }),
      ).toBe(false); // not its holder
      expect(
        await parkActionRun(t.ctx, a1, 'p1', { notBefore: RESET, reason, attempts: 0, now: at(5) }),
      ).toBe(true);
      const parked = (await getActionRun(t.ctx, t.environmentId, a1))!;
      expect(parked).toMatchObject({
        status: 'pending',
        attempts: 0,
        error: null,
        parkedAt: at(5).toISOString(),
        waiting: { until: RESET.toISOString(), since: at(5).toISOString(), reason },
      });

      // a1 waits and a2 waits behind it (same connection); c3's runs go on, one at a time, in order.
      expect((await claim('p2', at(10))).map((c) => c.run.id)).toEqual([b1]);
      expect(await claim('p1', at(11))).toEqual([]);
      await finishActionRun(t.ctx, b1, 'p2', { status: 'success', output: null, now: at(12) });
      expect((await claim('p1', at(13))).map((c) => c.run.id)).toEqual([b2]);
      // The reset passes while b2 runs: a1 still waits for the environment's run in progress.
      expect(await claim('p1', at(30_001))).toEqual([]);
      await finishActionRun(t.ctx, b2, 'p1', { status: 'success', output: null, now: at(30_002) });

      const again = await claim('p2', at(30_003));
      expect(again).toMatchObject([{ resumed: false, run: { id: a1, waiting: null, error: null } }]);
      expect((await getActionRun(t.ctx, t.environmentId, a1))!.waiting).toBeNull();
      await finishActionRun(t.ctx, a1, 'p2', { status: 'success', output: 1, now: at(30_004) });
      expect((await claim('p2', at(30_005))).map((c) => c.run.id)).toEqual([a2]);
    });

    it('parked again: the first parking time is kept; the refusal becomes the error only on failure', async () => {
      const a1 = await addOn(pk);
      await claim('p1');
      await parkActionRun(t.ctx, a1, 'p1', { notBefore: RESET, reason, attempts: 2, now: at(5) });
      await claim('p1', at(3_600_001));
      const later = at(90_000_000);
      await parkActionRun(t.ctx, a1, 'p1', { notBefore: later, reason, attempts: 2, now: at(3_600_002) });
      expect(await getActionRun(t.ctx, t.environmentId, a1)).toMatchObject({
        attempts: 2,
        parkedAt: at(5).toISOString(),
        waiting: { until: later.toISOString(), since: at(5).toISOString() },
      });
      await claim('p1', at(90_000_001));
      await finishActionRun(t.ctx, a1, 'p1', { status: 'failure', error: reason, now: at(90_000_002) });
      expect(await getActionRun(t.ctx, t.environmentId, a1)).toMatchObject({
        status: 'failure',
        error: reason,
        waiting: null,
      });
    });

    it('a running run resumes before an older run whose wait ended; never two at once', async () => {
      const a1 = await addOn(pk);
      const b1 = await addOn(pk3);
      await claim('p1');
      await parkActionRun(t.ctx, a1, 'p1', { notBefore: RESET, reason, attempts: 0, now: at(5) });
      expect((await claim('p1', at(10))).map((c) => c.run.id)).toEqual([b1]);
      // p1 dies; a1's wait ends: b1 (started) is taken again first, a1 after it.
      const later = at(3_700_000);
      expect(await claim('p2', later)).toMatchObject([{ resumed: true, run: { id: b1 } }]);
      expect(await claim('p3', later)).toEqual([]);
      await finishActionRun(t.ctx, b1, 'p2', { status: 'success', output: null, now: later });
      expect((await claim('p3', later)).map((c) => c.run.id)).toEqual([a1]);
    });
  });
});
