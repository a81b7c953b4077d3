import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from './testing.ts';
import { createConnection } from './connections.ts';
import { countRecords, upsertRecords } from './records.ts';
import { isUniqueViolation } from './database.ts';
import {
  claimSync,
  ensureSyncs,
  finishRun,
  forgetDiscarded,
  getRun,
  getSync,
  heartbeat,
  LeaseLostError,
  listDueSyncs,
  listRuns,
  listSyncs,
  releaseLease,
  requestRun,
  RUNS_KEPT_PER_SYNC,
  savePage,
  setFrequency,
  setScheduleStatus,
  syncsDb,
  connectionsMissingSyncs,
} from './syncs.ts';

/** The syncs repository on a real database (SQLite; PostgreSQL with TETHER_TEST_POSTGRES_URL). */

const T0 = new Date('2025-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

describe('syncs repository', () => {
  let t: TestDb;
  let pk: number;

  beforeEach(async () => {
    t = await openTestDb(T0);
    const c = await createConnection(t.ctx, {
      environmentId: t.environmentId,
      connectionId: 'c1',
      providerConfigKey: 'marketo',
      provider: 'marketo',
    });
    pk = c.id;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  async function syncId(name = 'lists'): Promise<number> {
    await ensureSyncs(t.ctx, pk, [name], T0);
    const s = (await listSyncs(t.ctx, { environmentId: t.environmentId, providerConfigKey: 'marketo' })).find(
      (x) => x.name === name,
    );
    return s!.id;
  }

  const claim = (id: number, owner: string, now = T0, staleBefore = at(-30)) =>
    claimSync(t.ctx, { syncId: id, owner, now, staleBefore, models: ['List'] });

  it('creates the syncs of a connection once, due at once', async () => {
    expect(await ensureSyncs(t.ctx, pk, ['a', 'b'], T0)).toBe(2);
    expect(await ensureSyncs(t.ctx, pk, ['a', 'b', 'c'], T0)).toBe(1);
    const all = await listSyncs(t.ctx, { environmentId: t.environmentId, providerConfigKey: 'marketo' });
    expect(all.map((s) => [s.name, s.variant, s.scheduleStatus, s.nextRunAt, s.connectionId])).toEqual([
      ['a', 'base', 'STARTED', T0.toISOString(), 'c1'],
      ['b', 'base', 'STARTED', T0.toISOString(), 'c1'],
      ['c', 'base', 'STARTED', T0.toISOString(), 'c1'],
    ]);
    expect(await connectionsMissingSyncs(t.ctx, { marketo: 3 })).toEqual([]);
    expect(await connectionsMissingSyncs(t.ctx, { marketo: 4 })).toEqual([{ id: pk, provider: 'marketo' }]);
    const due = await listDueSyncs(t.ctx, {
      now: T0,
      staleBefore: at(-30),
      limit: 10,
      providers: ['marketo'],
    });
    expect(due.map((d) => d.name)).toEqual(['a', 'b', 'c']);
  });

  it('one live lease per sync; a stale one is taken over and its run resumed', async () => {
    const id = await syncId();
    const [a, b] = await Promise.all([claim(id, 'a'), claim(id, 'b')]);
    const first = a ?? b;
    expect([a, b].filter((c) => c !== null)).toHaveLength(1);
    expect(first).toMatchObject({
      resumed: false,
      run: { status: 'RUNNING', type: 'INITIAL', reason: 'schedule' },
    });
    const owner = a ? 'a' : 'b';
    // Not due while leased.
    expect(
      await listDueSyncs(t.ctx, { now: at(1), staleBefore: at(-29), limit: 10, providers: ['marketo'] }),
    ).toEqual([]);
    expect(await heartbeat(t.ctx, id, owner, at(10))).toBe(true);
    expect(await claim(id, 'c', at(20), at(-10))).toBeNull();
    // The owner dies: 30 s without heartbeat.
    const taken = await claim(id, 'c', at(60), at(30));
    expect(taken).toMatchObject({ resumed: true, run: { id: first!.run.id, resumes: 1 } });
    expect(await heartbeat(t.ctx, id, owner, at(61))).toBe(false);
    // Two RUNNING runs of one sync are impossible.
    let err: unknown;
    try {
      await syncsDb(t.ctx)
        .insertInto('sync_runs')
        .values({
          sync_id: id,
          connection_pk: pk,
          type: 'INITIAL',
          reason: 'schedule',
          status: 'RUNNING',
          started_at: T0.toISOString(),
          results: '{}',
          added: 0,
          updated: 0,
          deleted: 0,
          unchanged: 0,
          api_calls: 0,
          pages: 0,
          resumes: 0,
        })
        .execute();
    } catch (e) {
      err = e;
    }
    expect(isUniqueViolation(err)).toBe(true);
  });

  it('pages are written only while the lease is held, atomically with the checkpoint', async () => {
    const id = await syncId();
    const c = (await claim(id, 'a'))!;
    const write = (owner: string, n: number) =>
      savePage(
        t.ctx,
        { syncId: id, runId: c.run.id, owner, now: at(n), checkpoint: { page: n }, apiCalls: n },
        async (tx) => {
          const s = await upsertRecords(tx, {
            connectionPk: pk,
            model: 'List',
            records: [{ id: String(n) }],
          });
          return { List: { added: s.added, updated: s.updated, deleted: 0, unchanged: s.unchanged } };
        },
      );
    await write('a', 1);
    await write('a', 2);
    expect((await getSync(t.ctx, id))!.checkpoint).toEqual({ page: 2 });
    expect(await getRun(t.ctx, c.run.id)).toMatchObject({
      added: 2,
      pages: 2,
      apiCalls: 2,
      results: { List: { added: 2, updated: 0, deleted: 0 } },
    });
    // Taken over (stale): the old owner's page is refused and nothing of it is written.
    await claim(id, 'b', at(100), at(50));
    await expect(write('a', 3)).rejects.toBeInstanceOf(LeaseLostError);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'List' })).toBe(2);
    expect((await getSync(t.ctx, id))!.checkpoint).toEqual({ page: 2 });
    expect(
      await finishRun(t.ctx, {
        syncId: id,
        runId: c.run.id,
        owner: 'a',
        now: at(101),
        status: 'SUCCESS',
        apiCalls: 3,
        defaultIntervalSeconds: 60,
      }),
    ).toBe(false);
    await write('b', 3);
    expect(
      await finishRun(t.ctx, {
        syncId: id,
        runId: c.run.id,
        owner: 'b',
        now: at(102),
        status: 'SUCCESS',
        apiCalls: 3,
        defaultIntervalSeconds: 60,
      }),
    ).toBe(true);
    const s = (await getSync(t.ctx, id))!;
    expect(s).toMatchObject({
      currentRunId: null,
      leaseOwner: null,
      lastRunId: c.run.id,
      initialDone: true,
      nextRunAt: at(162).toISOString(),
    });
    expect(await getRun(t.ctx, c.run.id)).toMatchObject({ status: 'SUCCESS', added: 3, resumes: 1 });
    // The next run is INCREMENTAL, from the checkpoint.
    const next = (await claim(id, 'b', at(200), at(170)))!;
    expect(next).toMatchObject({ resumed: false, run: { type: 'INCREMENTAL', checkpointFrom: { page: 3 } } });
  });

  it('a paused run is due again at the reset; a graceful stop leaves the run to resume at once', async () => {
    const id = await syncId();
    let c = (await claim(id, 'a'))!;
    await finishRun(t.ctx, {
      syncId: id,
      runId: c.run.id,
      owner: 'a',
      now: at(1),
      status: 'PAUSED',
      apiCalls: 2,
      defaultIntervalSeconds: 60,
      pausedUntil: at(3600),
      error: { type: 'budget_exhausted', message: 'spent' },
    });
    expect(await getSync(t.ctx, id)).toMatchObject({
      pausedUntil: at(3600).toISOString(),
      initialDone: false,
    });
    const due = (now: Date) =>
      listDueSyncs(t.ctx, {
        now,
        staleBefore: new Date(now.getTime() - 30_000),
        limit: 10,
        providers: ['marketo'],
      });
    expect(await due(at(3599))).toEqual([]);
    expect(await due(at(3600))).toHaveLength(1);
    // A trigger runs it before the reset anyway.
    await requestRun(t.ctx, id, 'run', at(10), []);
    expect(await due(at(10))).toHaveLength(1);

    c = (await claim(id, 'a', at(3600), at(3570)))!;
    expect(c.run).toMatchObject({ type: 'INITIAL', reason: 'trigger' });
    await releaseLease(t.ctx, id, 'a');
    expect(await due(at(3601))).toHaveLength(1);
    expect(await claim(id, 'b', at(3601), at(3571))).toMatchObject({ resumed: true, run: { id: c.run.id } });
  });

  it('reset and emptyCache: at once when idle, at the next start when running', async () => {
    const id = await syncId();
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'List', records: [{ id: '1' }, { id: '2' }] });
    await syncsDb(t.ctx)
      .updateTable('syncs')
      .set({ checkpoint: '{"x":1}', initial_done: 1 })
      .where('id', '=', id)
      .execute();
    await requestRun(t.ctx, id, 'reset_clear', T0, ['List']);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'List' })).toBe(0);
    expect(await getSync(t.ctx, id)).toMatchObject({
      checkpoint: null,
      initialDone: false,
      pendingMode: 'reset_clear',
    });

    const c = (await claim(id, 'a'))!;
    expect(c.run).toMatchObject({ type: 'INITIAL', reason: 'reset_clear' });
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'List', records: [{ id: '3' }] });
    // While running: recorded, applied when the next run starts (the running one is cancelled then).
    await requestRun(t.ctx, id, 'reset_clear', at(1), ['List']);
    await requestRun(t.ctx, id, 'run', at(1), ['List']);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'List' })).toBe(1);
    expect((await getSync(t.ctx, id))!.pendingMode).toBe('reset_clear');
    const next = (await claim(id, 'b', at(100), at(50)))!;
    expect(next).toMatchObject({ resumed: false, run: { reason: 'reset_clear', type: 'INITIAL' } });
    expect(await getRun(t.ctx, c.run.id)).toMatchObject({ status: 'CANCELLED', error: { type: 'reset' } });
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'List' })).toBe(0);
  });

  it('a reset keeps the checkpoint it discards until a run released it (newest 8)', async () => {
    const id = await syncId();
    const setCheckpoint = (cp: string | null) =>
      syncsDb(t.ctx).updateTable('syncs').set({ checkpoint: cp }).where('id', '=', id).execute();
    // Idle: discarded at once, kept for the next run; a reset of an empty checkpoint adds nothing.
    await setCheckpoint('{"jobs":["a"]}');
    await requestRun(t.ctx, id, 'reset', T0, ['List']);
    await requestRun(t.ctx, id, 'reset', T0, ['List']);
    expect(await getSync(t.ctx, id)).toMatchObject({
      checkpoint: null,
      discardedCheckpoints: [{ jobs: ['a'] }],
    });
    // The next run sees it; its own checkpoint is not one.
    const c = (await claim(id, 'a'))!;
    expect(c.sync.discardedCheckpoints).toEqual([{ jobs: ['a'] }]);
    expect(c.sync.checkpoint).toBeNull();
    await savePage(
      t.ctx,
      { syncId: id, runId: c.run.id, owner: 'a', now: at(1), checkpoint: { jobs: ['b'] }, apiCalls: 0 },
      async () => ({}),
    );
    // Running: a reset is applied when the next run starts; the checkpoint it throws away is the newest.
    await requestRun(t.ctx, id, 'reset', at(2), ['List']);
    expect((await getSync(t.ctx, id))!.discardedCheckpoints).toEqual([{ jobs: ['a'] }]);
    const next = (await claim(id, 'b', at(100), at(50)))!;
    expect(next.sync.discardedCheckpoints).toEqual([{ jobs: ['a'] }, { jobs: ['b'] }]);
    // Released: forgotten, oldest first, by the lease holder only.
    await forgetDiscarded(t.ctx, { syncId: id, owner: 'a', count: 2 });
    expect((await getSync(t.ctx, id))!.discardedCheckpoints).toHaveLength(2);
    await forgetDiscarded(t.ctx, { syncId: id, owner: 'b', count: 1 });
    expect((await getSync(t.ctx, id))!.discardedCheckpoints).toEqual([{ jobs: ['b'] }]);
    await forgetDiscarded(t.ctx, { syncId: id, owner: 'b', count: 1 });
    expect((await getSync(t.ctx, id))!.discardedCheckpoints).toEqual([]);
    // Bounded: the newest 8.
    await releaseLease(t.ctx, id, 'b');
    await syncsDb(t.ctx).updateTable('syncs').set({ current_run_id: null }).where('id', '=', id).execute();
    for (let i = 0; i < 10; i++) {
      await setCheckpoint(JSON.stringify({ n: i }));
      await requestRun(t.ctx, id, 'reset', at(200 + i), ['List']);
    }
    expect((await getSync(t.ctx, id))!.discardedCheckpoints.map((cp) => cp.n)).toEqual([
      2, 3, 4, 5, 6, 7, 8, 9,
    ]);
  });

  it('pause, start, frequency', async () => {
    const id = await syncId();
    const c = (await claim(id, 'a'))!;
    await finishRun(t.ctx, {
      syncId: id,
      runId: c.run.id,
      owner: 'a',
      now: at(10),
      status: 'SUCCESS',
      apiCalls: 1,
      defaultIntervalSeconds: 3600,
    });
    expect((await getSync(t.ctx, id))!.nextRunAt).toBe(at(3610).toISOString());
    await setFrequency(t.ctx, id, { text: 'every 30m', seconds: 1800 }, 1800, at(20));
    expect(await getSync(t.ctx, id)).toMatchObject({
      frequency: 'every 30m',
      nextRunAt: at(1810).toISOString(),
    });
    // Not before now.
    await setFrequency(t.ctx, id, { text: 'every 1m', seconds: 60 }, 60, at(500));
    expect((await getSync(t.ctx, id))!.nextRunAt).toBe(at(500).toISOString());
    await setFrequency(t.ctx, id, null, 3600, at(500));
    expect(await getSync(t.ctx, id)).toMatchObject({ frequency: null, nextRunAt: at(3610).toISOString() });

    expect(await setScheduleStatus(t.ctx, [id], 'PAUSED', at(600))).toBe(1);
    expect(await setScheduleStatus(t.ctx, [id], 'PAUSED', at(600))).toBe(0);
    expect(
      await listDueSyncs(t.ctx, { now: at(9999), staleBefore: at(0), limit: 9, providers: ['marketo'] }),
    ).toEqual([]);
    expect(await setScheduleStatus(t.ctx, [id], 'STARTED', at(700))).toBe(1);
    expect((await getSync(t.ctx, id))!.nextRunAt).toBe(at(700).toISOString());
  });

  it(`keeps the last ${RUNS_KEPT_PER_SYNC} runs of a sync`, async () => {
    const id = await syncId();
    for (let i = 0; i < RUNS_KEPT_PER_SYNC + 5; i++) {
      const c = (await claim(id, 'a', at(i * 10), at(i * 10 - 30)))!;
      await finishRun(t.ctx, {
        syncId: id,
        runId: c.run.id,
        owner: 'a',
        now: at(i * 10 + 1),
        status: i % 2 ? 'SUCCESS' : 'ERROR',
        apiCalls: 1,
        defaultIntervalSeconds: 1,
        ...(i % 2 ? {} : { error: { type: 'x', message: 'y' } }),
      });
    }
    const runs = await listRuns(t.ctx, { syncIds: [id], limit: 1000 });
    expect(runs).toHaveLength(RUNS_KEPT_PER_SYNC);
    expect(runs[0]!.id).toBeGreaterThan(runs[1]!.id);
    const page2 = await listRuns(t.ctx, { syncIds: [id], limit: 10, beforeId: runs[9]!.id });
    expect(page2.map((r) => r.id)).toEqual(runs.slice(10, 20).map((r) => r.id));
  });
});
