import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from './testing.ts';
import { createConnection, deleteConnection } from './connections.ts';
import { countRecords, upsertRecords } from './records.ts';
import { appendRunLog, listRunLog } from './run-logs.ts';
import {
  claimSync,
  connectionsMissingSyncs,
  createVariant,
  deleteVariant,
  ensureSyncs,
  finishRun,
  getRun,
  getSyncByName,
  heartbeat,
  LeaseLostError,
  listDueSyncs,
  listSyncs,
  purgeVariantRecords,
  savePage,
} from './syncs.ts';

/**
 * Sync variants in the syncs repository, on a real database (SQLite; PostgreSQL in the `postgres`
 * project): creation, deletion with its runs and logs, the bounded purge of a variant's records, and
 * what a run of a deleted variant can still write (nothing).
 */

const T0 = new Date('2025-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

describe('sync variants repository', () => {
  let t: TestDb;
  let pk: number;

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
    await ensureSyncs(t.ctx, pk, ['activities', 'lists'], T0);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const create = (variant: string, storedModels = [`Activity::${variant}`], name = 'activities') =>
    createVariant(t.ctx, { connectionPk: pk, name, variant, now: at(5), storedModels });

  async function seed(model: string, n: number): Promise<void> {
    const records = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, v: model }));
    await upsertRecords(t.ctx, { connectionPk: pk, model, records, now: T0 });
  }

  it('creates a variant once: started, due at once, no options, its own row', async () => {
    const r = await create('v1');
    expect(r.kind).toBe('created');
    if (r.kind !== 'created') return;
    expect(r.sync).toMatchObject({
      connectionPk: pk,
      name: 'activities',
      variant: 'v1',
      scheduleStatus: 'STARTED',
      nextRunAt: at(5).toISOString(),
      options: {},
      checkpoint: null,
      initialDone: false,
      frequency: null,
    });
    const again = await create('v1');
    expect(again).toEqual({ kind: 'exists', sync: r.sync });
    await expect(create('base')).rejects.toThrow(/base/);

    const all = await listSyncs(t.ctx, { environmentId: t.environmentId, providerConfigKey: 'marketo' });
    expect(all.map((s) => [s.name, s.variant])).toEqual([
      ['activities', 'base'],
      ['activities', 'v1'],
      ['lists', 'base'],
    ]);
    const due = await listDueSyncs(t.ctx, {
      now: at(5),
      staleBefore: at(-30),
      limit: 10,
      providers: ['marketo'],
    });
    expect(due.find((d) => d.id === r.sync.id)).toMatchObject({ name: 'activities', variant: 'v1' });
  });

  it('variants do not hide a missing base sync from the safety net', async () => {
    await create('v1');
    await create('v2');
    // Two base syncs and two variants: four rows, but a third base sync is missing.
    expect(await connectionsMissingSyncs(t.ctx, { marketo: 3 })).toEqual([{ id: pk, provider: 'marketo' }]);
    expect(await connectionsMissingSyncs(t.ctx, { marketo: 2 })).toEqual([]);
  });

  it('a new variant starts with an empty cache: records left by an earlier one of that name go', async () => {
    await seed('Activity', 3);
    await seed('Activity::v1', 4);
    await seed('Activity::v2', 2);
    expect((await create('v1')).kind).toBe('created');
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity::v1' })).toBe(0);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity' })).toBe(3);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity::v2' })).toBe(2);
  });

  it('no variant for a deleted connection', async () => {
    expect(await deleteConnection(t.ctx, t.environmentId, 'marketo', 'c1')).toBe(true);
    expect(await create('v1')).toEqual({ kind: 'connection_deleted' });
  });

  it('deleting a variant removes its row, runs and run logs; the base sync keeps its own', async () => {
    const v = await create('v1');
    if (v.kind !== 'created') throw new Error(v.kind);
    const base = (await getSyncByName(t.ctx, { connectionPk: pk, name: 'activities', variant: 'base' }))!;
    const models = ['Activity::v1'];
    const vc = (await claimSync(t.ctx, {
      syncId: v.sync.id,
      owner: 'p1',
      now: at(6),
      staleBefore: at(-30),
      models,
    }))!;
    const bc = (await claimSync(t.ctx, {
      syncId: base.id,
      owner: 'p1',
      now: at(6),
      staleBefore: at(-30),
      models: ['Activity'],
    }))!;
    await appendRunLog(t.ctx, vc.run.id, [{ at: at(6), level: 'info', message: 'variant run' }]);
    await appendRunLog(t.ctx, bc.run.id, [{ at: at(6), level: 'info', message: 'base run' }]);

    expect(
      await deleteVariant(t.ctx, { connectionPk: pk, name: 'activities', variant: 'nope' }),
    ).toBeUndefined();
    await expect(
      deleteVariant(t.ctx, { connectionPk: pk, name: 'activities', variant: 'base' }),
    ).rejects.toThrow();
    const deleted = await deleteVariant(t.ctx, { connectionPk: pk, name: 'activities', variant: 'v1' });
    expect(deleted).toMatchObject({ id: v.sync.id, variant: 'v1', currentRunId: vc.run.id });
    expect(
      await getSyncByName(t.ctx, { connectionPk: pk, name: 'activities', variant: 'v1' }),
    ).toBeUndefined();
    expect(await getRun(t.ctx, vc.run.id)).toBeUndefined();
    expect(await listRunLog(t.ctx, { runId: vc.run.id, limit: 10 })).toEqual([]);
    // A log line of the gone run is dropped, not an error (the runner may still flush one).
    await appendRunLog(t.ctx, vc.run.id, [{ at: at(7), level: 'info', message: 'late' }]);

    // The variant's run in progress can write nothing more.
    expect(await heartbeat(t.ctx, v.sync.id, 'p1', at(7))).toBe(false);
    await expect(
      savePage(
        t.ctx,
        { syncId: v.sync.id, runId: vc.run.id, owner: 'p1', now: at(7), checkpoint: { a: 1 }, apiCalls: 1 },
        async (tx) => {
          await upsertRecords(tx, {
            connectionPk: pk,
            model: 'Activity::v1',
            records: [{ id: 'x' }],
            now: at(7),
          });
          return {};
        },
      ),
    ).rejects.toBeInstanceOf(LeaseLostError);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity::v1' })).toBe(0);
    expect(
      await finishRun(t.ctx, {
        syncId: v.sync.id,
        runId: vc.run.id,
        owner: 'p1',
        now: at(8),
        status: 'SUCCESS',
        apiCalls: 1,
        defaultIntervalSeconds: 60,
      }),
    ).toBe(false);

    // The base sync and its run are untouched.
    expect(await getRun(t.ctx, bc.run.id)).toMatchObject({ status: 'RUNNING' });
    expect((await listRunLog(t.ctx, { runId: bc.run.id, limit: 10 })).map((l) => l.message)).toEqual([
      'base run',
    ]);
    expect(await heartbeat(t.ctx, base.id, 'p1', at(7))).toBe(true);
  });

  it('purges a deleted variant’s records in bounded steps, and nothing else', async () => {
    await create('v1', ['Activity::v1', 'Other::v1']);
    await seed('Activity::v1', 3);
    await seed('Other::v1', 2);
    await seed('Activity', 4);
    await seed('Activity::v2', 1);
    const opts = {
      connectionPk: pk,
      name: 'activities',
      variant: 'v1',
      storedModels: ['Activity::v1', 'Other::v1'],
      limit: 2,
    };
    // The variant still exists: its records are its own.
    expect(await purgeVariantRecords(t.ctx, opts)).toBe(0);
    await deleteVariant(t.ctx, { connectionPk: pk, name: 'activities', variant: 'v1' });
    const steps: number[] = [];
    for (let n = await purgeVariantRecords(t.ctx, opts); n > 0; n = await purgeVariantRecords(t.ctx, opts)) {
      steps.push(n);
    }
    expect(steps).toEqual([2, 2, 1]);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity::v1' })).toBe(0);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Other::v1' })).toBe(0);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity' })).toBe(4);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity::v2' })).toBe(1);
    expect(await purgeVariantRecords(t.ctx, { ...opts, variant: 'base', storedModels: ['Activity'] })).toBe(
      0,
    );
  });

  it('a purge stops when the variant is created again meanwhile', async () => {
    await create('v1');
    await deleteVariant(t.ctx, { connectionPk: pk, name: 'activities', variant: 'v1' });
    await seed('Activity::v1', 3);
    const opts = {
      connectionPk: pk,
      name: 'activities',
      variant: 'v1',
      storedModels: ['Activity::v1'],
      limit: 1,
    };
    expect(await purgeVariantRecords(t.ctx, opts)).toBe(1);
    // Re-created: what was left is cleared by the creation, what comes next is the new variant's.
    expect((await create('v1')).kind).toBe('created');
    await seed('Activity::v1', 2);
    expect(await purgeVariantRecords(t.ctx, opts)).toBe(0);
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Activity::v1' })).toBe(2);
  });
});
