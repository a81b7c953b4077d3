import { afterEach, describe, expect, it } from 'vitest';
import { nextChicagoMidnight } from '../limits.ts';
import { startHarness, type Harness } from '../models/test-helpers.ts';
import { MarketoSyncError } from '../models/types.ts';
import {
  DAY_MS,
  bulkStats,
  exportSync,
  leadIdsCreated,
  pastChicagoMidnight,
  sandboxSettings,
  totalJobs,
  type Collected,
} from './export-test-helpers.ts';
import { windowsBetween, type ExportPlan, type ExportState } from './exports.ts';
import { instanceExports } from './instance-queue.ts';

const LEADS: ExportPlan = { kind: 'leads', filterField: 'createdAt', fields: ['id', 'email'] };
const ACTIVITIES: ExportPlan = { kind: 'activities', filterField: 'createdAt' };

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function start(leads: number): Promise<Harness> {
  const h = await startHarness(leads, 5);
  harnesses.push(h);
  return h;
}

function collected(): Collected {
  return { ids: [], batches: [] };
}

function lastDays(h: Harness, days: number) {
  const end = Math.ceil((h.now().getTime() + 60_000) / 1000) * 1000;
  return windowsBetween(end - days * DAY_MS, end);
}

function checkpointOf(h: Harness, name = 'bulk-export-test'): ExportState {
  return h.engine.checkpoints.get(name)?.export as ExportState;
}

async function ok(h: Harness, path: string, json?: unknown): Promise<Record<string, unknown>> {
  const body = await h.api(path, json === undefined ? {} : { method: 'POST', json });
  if (!body.success) throw new Error(`${path}: ${JSON.stringify(body.errors)}`);
  return body.result![0]!;
}

/** A job made outside the exporter (another tool, or another sync of this API user). */
async function outsideJob(h: Harness, kind: 'leads' | 'activities', enqueue = true): Promise<string> {
  const end = h.now().getTime();
  const range = {
    startAt: new Date(end - 7 * DAY_MS).toISOString().slice(0, 19) + 'Z',
    endAt: new Date(end + 60_000).toISOString().slice(0, 19) + 'Z',
  };
  const body =
    kind === 'leads' ? { fields: ['id'], filter: { createdAt: range } } : { filter: { createdAt: range } };
  const id = (await ok(h, `/bulk/v1/${kind}/export/create.json`, body)).exportId as string;
  if (enqueue) await ok(h, `/bulk/v1/${kind}/export/${id}/enqueue.json`, {});
  return id;
}

describe('BulkExporter and the instance limits', () => {
  it('waits on 1029 "Too many jobs in queue" and goes on once the queue frees', async () => {
    const h = await start(600);
    await sandboxSettings(h, { settings: { bulkProcessingMs: 600_000 } });
    const others: string[] = [];
    for (let i = 0; i < 10; i++) others.push(await outsideJob(h, 'activities'));
    let freed: Promise<void> | undefined;
    const free = async () => {
      for (const id of others) await ok(h, `/bulk/v1/activities/export/${id}/cancel.json`, {});
      await sandboxSettings(h, { settings: { bulkProcessingMs: 0 } });
    };
    let refusals = 0;
    const events: string[] = [];
    const out = collected();
    const windows = lastDays(h, 62);
    const report = await h.engine.run(
      exportSync({
        plan: LEADS,
        windows,
        options: { pollMs: 20 },
        events,
        out,
        fakes: {
          afterPost: (path, _b, result) => {
            const code = (result as { errors?: { code: string }[] }).errors?.[0]?.code;
            // The other tool's jobs leave after the exporter was refused a few times.
            if (path.endsWith('/enqueue.json') && code === '1029' && ++refusals === 3) freed = free();
            return result;
          },
        },
      }),
    );
    await freed;
    expect(report.error).toBeUndefined();
    expect(refusals).toBeGreaterThanOrEqual(3);
    expect(report.logs.some((l) => /queue is full/.test(l.message))).toBe(true);
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    const stats = await bulkStats(h);
    expect(stats.jobs).toMatchObject({ Cancelled: 10, Completed: 2 });
    expect(totalJobs(stats)).toBe(12);
  });

  it('pauses until midnight Central on 1029 "Export daily quota exceeded", then resumes the same jobs', async () => {
    const h = await start(1500);
    // One file a day: the second enqueue of each day is refused.
    await sandboxSettings(h, { limits: { bulk: { dailyBytes: 1 } } });
    const windows = lastDays(h, 93);
    expect(windows).toHaveLength(3);
    const options = { pollMs: 20, maxQueued: 1 };
    const truth = (i: number) => leadIdsCreated(h, windows[i]!.startAt, windows[i]!.endAt);

    for (let day = 0; day < 3; day++) {
      const out = collected();
      const report = await h.engine.run(exportSync({ plan: LEADS, windows, options, out }));
      expect(report.error).toBeUndefined();
      expect(out.ids).toEqual(truth(day));
      const saved = checkpointOf(h);
      if (day < 2) {
        expect(report.paused?.reason).toBe('export_quota_exhausted');
        expect(report.paused?.resetAt).toBe(nextChicagoMidnight(h.now().getTime()));
        // The next window's job exists (created, refused at enqueue) and is in the saved state.
        expect(saved.jobs).toHaveLength(1);
        expect(saved.jobs[0]).toMatchObject({ status: 'Created', window: windows[day + 1] });
        expect(saved.pending).toHaveLength(1 - day);
        expect(totalJobs(await bulkStats(h))).toBe(day + 2);
        await pastChicagoMidnight(h, nextChicagoMidnight);
      } else {
        expect(report.paused).toBeUndefined();
        expect(saved).toEqual({ jobs: [], pending: [] });
      }
    }
    // One job per window over the three days.
    const stats = await bulkStats(h);
    expect(totalJobs(stats)).toBe(3);
    expect(stats.jobs.Completed).toBe(3);
  });

  it('pauses on its own ledger: today’s Completed jobs from the job list plus what completes', async () => {
    const h = await start(1500);
    // Today's volume so far: a file exported by another sync of this API user.
    const before = await outsideJob(h, 'activities');
    let size = 0;
    for (let i = 0; i < 500 && size === 0; i++) {
      const s = await ok(h, `/bulk/v1/activities/export/${before}/status.json`);
      if (s.status === 'Completed') size = s.fileSize as number;
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(size).toBeGreaterThan(0);
    const windows = lastDays(h, 62);
    const full = await h.engine.run(
      exportSync({ plan: LEADS, windows, options: { pollMs: 20, dailyBytes: size } }),
    );
    expect(full.paused?.reason).toBe('export_quota_exhausted');
    expect(full.paused?.message).toMatch(/America\/Chicago/);
    // Two list reads (leads, activities) and nothing else: no job made that could not run today.
    expect(full.calls).toHaveLength(2);
    expect(full.calls.every((c) => c.includes('/export.json?status=Completed'))).toBe(true);
    expect(checkpointOf(h)).toEqual({ jobs: [], pending: windows });

    // Room for one more file: the exporter counts it when the job list shows it Completed.
    const other = h.newEngine();
    const out = collected();
    const next = await other.run(
      exportSync({ plan: LEADS, windows, options: { pollMs: 20, dailyBytes: size + 1, maxQueued: 1 }, out }),
    );
    expect(next.paused?.reason).toBe('export_quota_exhausted');
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows[0]!.endAt));
    expect(next.calls.filter((c) => c.endsWith('/create.json'))).toHaveLength(1);
    expect(totalJobs(await bulkStats(h))).toBe(2);
  });

  it('keeps two exporters of one instance within maxQueued jobs queued or processing together', async () => {
    const h = await start(1500);
    await sandboxSettings(h, { settings: { bulkProcessingMs: 150 } });
    const shared = instanceExports(h.sb.munchkinId);
    let maxAtMarketo = 0;
    let maxHeld = 0;
    const watch = async (path: string, _b: unknown, result: unknown) => {
      if (path.endsWith('/enqueue.json')) {
        const s = await bulkStats(h);
        maxAtMarketo = Math.max(maxAtMarketo, s.queued + s.processing);
        maxHeld = Math.max(maxHeld, shared.slotsHeld);
      }
      return result;
    };
    const windows = lastDays(h, 186);
    expect(windows).toHaveLength(6);
    const options = { pollMs: 20, maxQueued: 4 };
    const leads = collected();
    const activities = collected();
    const [a, b] = await Promise.all([
      h.newEngine().run(
        exportSync({
          name: 'leads',
          plan: LEADS,
          windows,
          options,
          out: leads,
          fakes: { afterPost: watch },
        }),
      ),
      h.newEngine().run(
        exportSync({
          name: 'activities',
          plan: ACTIVITIES,
          windows,
          options,
          out: activities,
          idColumn: 'marketoGUID',
          fakes: { afterPost: watch },
        }),
      ),
    ]);
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(leads.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    expect(activities.ids.length).toBeGreaterThan(0);
    expect(new Set(activities.ids).size).toBe(activities.ids.length);
    expect(maxHeld).toBeLessThanOrEqual(4);
    expect(maxAtMarketo).toBeLessThanOrEqual(4);
    expect(maxAtMarketo).toBeGreaterThanOrEqual(2);
    expect(shared.slotsHeld).toBe(0);
    const stats = await bulkStats(h);
    expect(totalJobs(stats)).toBe(12);
    expect(stats.jobs.Completed).toBe(12);
  });

  it('cancelAll cancels the jobs of a saved state that are not final; an abandoned run frees its slots', async () => {
    const h = await start(600);
    await sandboxSettings(h, { settings: { bulkProcessingMs: 600_000 } });
    const windows = lastDays(h, 124);
    let enqueues = 0;
    const crashed = await h.engine.run(
      exportSync({
        plan: LEADS,
        windows,
        options: { pollMs: 20 },
        fakes: {
          // The third job is created (and saved) but the process dies before enqueueing it.
          beforePost: (path) => {
            if (path.endsWith('/enqueue.json') && ++enqueues === 3) throw new Error('crash before enqueue');
          },
        },
      }),
    );
    expect(String(crashed.error)).toContain('crash before enqueue');
    expect(instanceExports(h.sb.munchkinId).slotsHeld).toBe(0);
    expect(checkpointOf(h).jobs.map((j) => j.status)).toEqual(['Queued', 'Queued', 'Created']);

    const out = collected();
    const report = await h.engine.run(
      exportSync({ plan: LEADS, windows, options: { pollMs: 20 }, out, drive: (e) => e.cancelAll() }),
    );
    expect(report.error).toBeUndefined();
    expect(out.exporter!.state().jobs.map((j) => j.status)).toEqual(['Cancelled', 'Cancelled', 'Cancelled']);
    expect(report.calls.filter((c) => c.endsWith('/cancel.json'))).toHaveLength(3);
    const stats = await bulkStats(h);
    expect(stats.jobs.Cancelled).toBe(3);
    expect(totalJobs(stats)).toBe(3);
  });

  it('throws 1035 from create to the caller (the Lead sync falls back) and holds nothing', async () => {
    const h = await start(300);
    await sandboxSettings(h, { settings: { bulkUpdatedAtFilter: false } });
    const report = await h.engine.run(
      exportSync({
        plan: { ...LEADS, filterField: 'updatedAt' },
        windows: lastDays(h, 31),
        options: { pollMs: 20 },
      }),
    );
    expect(report.error).toBeInstanceOf(MarketoSyncError);
    expect((report.error as MarketoSyncError).code).toBe('1035');
    expect(instanceExports(h.sb.munchkinId).slotsHeld).toBe(0);
    expect(totalJobs(await bulkStats(h))).toBe(0);
  });
});
