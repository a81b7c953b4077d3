import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { beatProcess } from '../../db/processes.ts';
import { releaseProcessSlots, slotHolders, takeSlot } from '../../db/shared-slots.ts';
import { openTestDb, type TestDb } from '../../db/testing.ts';
import { SharedSlots } from '../../engine/shared-slots.ts';
import { waitFor } from '../../testing/wait.ts';
import { startHarness, type Harness } from '../models/test-helpers.ts';
import {
  DAY_MS,
  bulkStats,
  exportSync,
  type ExportSyncConfig,
  leadIdsCreated,
  sandboxSettings,
  type Collected,
} from './export-test-helpers.ts';
import { windowsBetween, type ExportPlan, type ExportState } from './exports.ts';
import { instanceExports } from './instance-queue.ts';

/**
 * The exporter with `io.slots` bound to the engine's shared slots on a real database (SQLite; PostgreSQL
 * in the `postgres` project) and the real sandbox: slots of the instance's export queue held by another
 * live Tether process make it wait (no job enqueued, no 1029), it goes on once they are given back, a
 * saved state's queued jobs are taken whatever the count, and every slot it took is given back.
 */

const LEADS: ExportPlan = { kind: 'leads', filterField: 'createdAt', fields: ['id', 'email'] };
const silent = pino({ level: 'silent' });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ h: Harness; db: TestDb; slots: SharedSlots; scope: string }> {
  const h = await startHarness(600, 9);
  cleanups.push(() => h.close());
  const db = await openTestDb();
  cleanups.push(() => db.cleanup());
  await beatProcess(db.ctx, 'me', db.clock.now);
  await beatProcess(db.ctx, 'other', db.clock.now);
  const slots = new SharedSlots(db.ctx, { processId: 'me', staleMs: 15_000, log: silent });
  return { h, db, slots, scope: `marketo-export-queue:${h.sb.munchkinId}` };
}

/**
 * A run of the lead exporter (2 jobs queued at most, polls every 20 ms) with `io.slots` as the engine
 * gives it.
 */
function runWithSlots(
  h: Harness,
  slots: SharedSlots,
  cfg: Omit<ExportSyncConfig, 'plan' | 'options'>,
): ReturnType<Harness['engine']['run']> {
  const def = exportSync({ plan: LEADS, options: { pollMs: 20, maxQueued: 2 }, ...cfg });
  return h.engine.run({ ...def, run: (io) => def.run({ ...io, slots }) });
}

function lastDays(h: Harness, days: number) {
  const end = Math.ceil((h.now().getTime() + 60_000) / 1000) * 1000;
  return windowsBetween(end - days * DAY_MS, end);
}

describe('bulk exports and the shared slots of the instance queue', () => {
  it('waits while other processes hold the slots, then exports every window and gives its slots back', async () => {
    const { h, db, slots, scope } = await setup();
    await sandboxSettings(h, { settings: { bulkProcessingMs: 50 } });
    const other = (holder: string) =>
      takeSlot(db.ctx, {
        scope,
        holder,
        processId: 'other',
        liveSince: new Date(db.clock.now.getTime() - 15_000),
        now: db.clock.now,
        max: 2,
      });
    expect(await other('x1')).toBe(true);
    expect(await other('x2')).toBe(true);

    const windows = lastDays(h, 93);
    expect(windows).toHaveLength(3);
    const out: Collected = { ids: [], batches: [] };
    const events: string[] = [];
    let sleeps = 0;
    let atMarketoWhileHeld = -1;
    const report = await runWithSlots(h, slots, {
      windows,
      out,
      events,
      fakes: {
        sleep: async (ms, real) => {
          // Blocked: the first job is created and waits for a slot the other process holds.
          if (++sleeps === 3) {
            const s = await bulkStats(h);
            atMarketoWhileHeld = s.queued + s.processing;
            await slots.release(scope, 'x1'); // not this process's: nothing happens
            expect(await slotHolders(db.ctx, scope, 'me', new Date(0))).toHaveLength(2);
            await releaseProcessSlots(db.ctx, 'other');
          }
          await real(ms);
        },
      },
    });
    expect(report.error).toBeUndefined();
    expect(atMarketoWhileHeld).toBe(0);
    expect(events.filter((e) => e.endsWith('/enqueue.json -> 1029'))).toEqual([]);
    expect(report.logs.filter((l) => l.message.includes('held by other Tether processes'))).toHaveLength(1);
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    expect((await bulkStats(h)).jobs.Completed).toBe(3);
    expect(await slotHolders(db.ctx, scope, 'me', new Date(0))).toEqual([]);
    expect(instanceExports(h.sb.munchkinId).slotsHeld).toBe(0);
  });

  it("a saved state's queued jobs take their slots whatever the count; an abandoned run gives them back", async () => {
    const { h, db, slots, scope } = await setup();
    await sandboxSettings(h, { settings: { bulkProcessingMs: 600_000 } });
    const windows = lastDays(h, 62);
    // A first run enqueues both jobs, then stops (its slots are given back when it ends).
    let enqueued = 0;
    const first = await runWithSlots(h, slots, {
      windows,
      fakes: {
        afterPost: (path, _b, result) => {
          if (path.endsWith('/enqueue.json') && ++enqueued === 2) throw new Error('stopped');
          return result;
        },
      },
    });
    expect(String(first.error)).toContain('stopped');
    expect(await slotHolders(db.ctx, scope, 'me', new Date(0))).toEqual([]);
    const saved = h.engine.checkpoints.get('bulk-export-test')?.export as ExportState;
    expect(saved.jobs).toHaveLength(2);

    // Meanwhile another process filled the scope: the resumed run still holds its two jobs' slots.
    for (const holder of ['x1', 'x2']) {
      await takeSlot(db.ctx, {
        scope,
        holder,
        processId: 'other',
        liveSince: new Date(0),
        now: db.clock.now,
        max: 2,
      });
    }
    let held: string[] = [];
    const mine = async () =>
      (await slotHolders(db.ctx, scope, 'me', new Date(0))).filter((r) => r.processId === 'me');
    const resumed = await runWithSlots(h, slots, {
      windows,
      fakes: {
        // The first wait comes after the resume and a poll: the run stops there.
        sleep: async () => {
          held = (
            await waitFor('the resumed jobs hold slots', async () => {
              const rows = await mine();
              return rows.length === 2 ? rows : undefined;
            })
          ).map((r) => r.holder);
          throw new Error('stop here');
        },
      },
    });
    expect(String(resumed.error)).toContain('stop here');
    expect(held.sort()).toEqual(saved.jobs.map((j) => j.exportId).sort());
    expect((await slotHolders(db.ctx, scope, 'me', new Date(0))).map((s) => s.processId)).toEqual([
      'other',
      'other',
    ]);
  });

  it('fails open: with the database gone, takes are granted and releases do not throw', async () => {
    const { db, slots } = await setup();
    await db.close();
    expect(await slots.take('s', 'h1', 1)).toBe(true);
    await expect(slots.release('s', 'h1')).resolves.toBeUndefined();
    await expect(slots.close()).resolves.toBeUndefined();
  });
});
