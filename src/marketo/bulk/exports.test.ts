import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../models/test-helpers.ts';
import { MarketoSyncError } from '../models/types.ts';
import {
  DAY_MS,
  bulkStats,
  corruptDownloads,
  createdIds,
  exportSync,
  leadIdsCreated,
  rewriteJobs,
  sandboxSettings,
  totalJobs,
  type Collected,
} from './export-test-helpers.ts';
import { splitWindow, windowsBetween, type ExportPlan, type ExportState } from './exports.ts';

const LEADS: ExportPlan = { kind: 'leads', filterField: 'createdAt', fields: ['id', 'email', 'createdAt'] };
const FAST = { pollMs: 20 };

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(leads: number): Promise<Harness> {
  harness = await startHarness(leads, 7);
  return harness;
}

function collected(): Collected {
  return { ids: [], batches: [] };
}

/** `days` days up to just after the sandbox clock's now, as whole-second windows. */
function lastDays(h: Harness, days: number, maxDays = 31) {
  const end = Math.ceil((h.now().getTime() + 60_000) / 1000) * 1000;
  return windowsBetween(end - days * DAY_MS, end, maxDays);
}

function checkpointOf(h: Harness, name = 'bulk-export-test'): ExportState {
  return h.engine.checkpoints.get(name)?.export as ExportState;
}

describe('windowsBetween', () => {
  const t0 = Date.UTC(2024, 0, 1);

  it('covers [start, end) with windows of at most maxDays, in order, on whole seconds', () => {
    expect(windowsBetween(t0, t0)).toEqual([]);
    expect(windowsBetween(t0 + 1, t0)).toEqual([]);
    expect(windowsBetween(t0, t0 + 31 * DAY_MS)).toEqual([{ startAt: t0, endAt: t0 + 31 * DAY_MS }]);
    expect(windowsBetween(t0, t0 + 31 * DAY_MS + 1)).toEqual([
      { startAt: t0, endAt: t0 + 31 * DAY_MS },
      { startAt: t0 + 31 * DAY_MS, endAt: t0 + 31 * DAY_MS + 1000 },
    ]);
    // Milliseconds widen the range to whole seconds: no window is empty once written without them.
    expect(windowsBetween(t0 + 400, t0 + 600)).toEqual([{ startAt: t0, endAt: t0 + 1000 }]);
    expect(windowsBetween(t0, t0 + 2.5 * DAY_MS, 1).map((w) => (w.endAt - w.startAt) / DAY_MS)).toEqual([
      1, 1, 0.5,
    ]);
    const two = windowsBetween(t0, t0 + 730 * DAY_MS);
    expect(two).toHaveLength(24);
    for (let i = 1; i < two.length; i++) expect(two[i]!.startAt).toBe(two[i - 1]!.endAt);
    expect(two.at(-1)!.endAt).toBe(t0 + 730 * DAY_MS);
    expect(() => windowsBetween(t0, Infinity)).toThrow(RangeError);
    expect(() => windowsBetween(t0, t0 + DAY_MS, 0)).toThrow(RangeError);
  });

  it('splits a failed window in two halves of at least a day, and not below a day', () => {
    expect(splitWindow({ startAt: t0, endAt: t0 + 2 * DAY_MS })).toEqual([
      { startAt: t0, endAt: t0 + DAY_MS, attempts: 1 },
      { startAt: t0 + DAY_MS, endAt: t0 + 2 * DAY_MS, attempts: 1 },
    ]);
    expect(splitWindow({ startAt: t0, endAt: t0 + 1.5 * DAY_MS, attempts: 2 })).toEqual([
      { startAt: t0, endAt: t0 + DAY_MS, attempts: 3 },
      { startAt: t0 + DAY_MS, endAt: t0 + 1.5 * DAY_MS, attempts: 3 },
    ]);
    expect(splitWindow({ startAt: t0, endAt: t0 + DAY_MS })).toBeUndefined();
  });
});

describe('BulkExporter against the sandbox', () => {
  it('exports 24 windows: every lead once, in window order, job ids saved before enqueue, few calls', async () => {
    const h = await start(2400);
    const windows = lastDays(h, 731);
    // 731 days reach back past the first generated lead (730 days before the instance was made).
    expect(windows).toHaveLength(24);
    const events: string[] = [];
    const out = collected();
    // Polls 100 ms apart: the sandbox makes these small files far faster, so polls stay few.
    const options = { pollMs: 100 };
    const report = await h.engine.run(exportSync({ plan: LEADS, windows, options, events, out }));
    expect(report.error).toBeUndefined();

    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    expect(out.ids).toHaveLength(2400);
    for (const b of out.batches) expect(b.header).toEqual(['id', 'email', 'createdAt']);
    // One last batch per job, jobs in window order, each window's job handed out whole before the next.
    const lasts = out.batches.filter((b) => b.last).map((b) => b.job);
    expect(lasts).toHaveLength(24);
    expect(lasts.map((j) => j.window)).toEqual(windows.map((w) => ({ startAt: w.startAt, endAt: w.endAt })));
    expect(checkpointOf(h)).toEqual({ jobs: [], pending: [] });

    // Each job was in a persisted state before its enqueue call.
    const enqueues = events.filter((e) => e.startsWith('POST') && e.endsWith('/enqueue.json'));
    expect(enqueues).toHaveLength(24);
    for (const e of enqueues) {
      const id = /export\/([^/]+)\/enqueue/.exec(e)![1]!;
      const persisted = events.findIndex((p) => p.startsWith('persist') && p.includes(`${id}:Created`));
      expect(persisted).toBeGreaterThan(-1);
      expect(persisted).toBeLessThan(events.indexOf(e));
    }

    const stats = await bulkStats(h);
    expect(stats.jobs.Completed).toBe(24);
    expect(totalJobs(stats)).toBe(24);
    const count = (re: RegExp) => report.calls.filter((c) => re.test(c)).length;
    const polls = count(/\/export\.json\?status=Queued/);
    expect(count(/create\.json$/)).toBe(24);
    expect(count(/enqueue\.json$/)).toBe(24);
    expect(count(/file\.json$/)).toBe(24);
    expect(count(/\/export\.json\?status=Completed/)).toBe(2); // the ledger, once
    expect(count(/status\.json$/)).toBe(0); // one list read polls every job
    expect(report.calls.length).toBe(24 * 3 + 2 + polls);
    console.log(`24-window export: ${report.calls.length} Marketo calls, ${polls} of them polls`);
    expect(polls).toBeLessThanOrEqual(12);
  });

  it('hands out files in window order when a later window completes first', async () => {
    const h = await start(1500);
    const windows = lastDays(h, 93);
    const created = createdIds();
    let hiding = true;
    let hiddenPolls = 0;
    const events: string[] = [];
    const out = collected();
    // The first job looks Processing in the job list (once at least) until every later job shows
    // Completed there.
    const hideFirst = (path: string, body: unknown): unknown => {
      if (!hiding || !path.includes('/export.json?status=Queued')) return body;
      const result = (body as { result?: { exportId: string; status: string }[] }).result ?? [];
      const others = result.filter((j) => created.ids.slice(1).includes(j.exportId));
      const othersDone =
        others.length === windows.length - 1 && others.every((j) => j.status === 'Completed');
      if (othersDone && hiddenPolls > 0) {
        hiding = false;
        return body;
      }
      hiddenPolls++;
      return rewriteJobs((j) =>
        j.exportId === created.ids[0] ? { exportId: j.exportId, format: 'CSV', status: 'Processing' } : j,
      )(path, body);
    };
    const report = await h.engine.run(
      exportSync({
        plan: LEADS,
        windows,
        options: FAST,
        events,
        out,
        fakes: { afterPost: created.afterPost, get: hideFirst },
      }),
    );
    expect(report.error).toBeUndefined();
    expect(hiding).toBe(false);
    expect(hiddenPolls).toBeGreaterThan(0);
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    const files = events.filter((e) => e.startsWith('FILE'));
    expect(files[0]).toContain(created.ids[0]);
    expect(files).toHaveLength(windows.length);
  });

  it('resumes the checkpointed jobs after a crash: no second job for any window', async () => {
    const h = await start(600);
    await sandboxSettings(h, { settings: { bulkProcessingMs: 600_000 } });
    const windows = lastDays(h, 120);
    expect(windows).toHaveLength(4);
    let enqueues = 0;
    const crash = exportSync({
      plan: LEADS,
      windows,
      options: FAST,
      fakes: {
        // The third enqueue reaches Marketo, then the process dies before anything else is saved.
        afterPost: (path, _b, result) => {
          if (path.endsWith('/enqueue.json') && ++enqueues === 3) throw new Error('crash after enqueue');
          return result;
        },
      },
    });
    const first = await h.engine.run(crash);
    expect(String(first.error)).toContain('crash after enqueue');
    const saved = checkpointOf(h);
    expect(saved.jobs.map((j) => j.status)).toEqual(['Queued', 'Queued', 'Created']);
    expect(saved.pending).toHaveLength(1);
    expect(await bulkStats(h)).toMatchObject({ processing: 2, queued: 1 });

    await sandboxSettings(h, { settings: { bulkProcessingMs: 0 } });
    const events: string[] = [];
    const out = collected();
    const second = await h.engine.run(exportSync({ plan: LEADS, windows, options: FAST, events, out }));
    expect(second.error).toBeUndefined();
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    // Only the window that had no job got one; the "Created" job was already queued (1029).
    expect(events.filter((e) => e.endsWith('/create.json'))).toHaveLength(1);
    expect(events.some((e) => e.endsWith(`${saved.jobs[2]!.exportId}/enqueue.json -> 1029`))).toBe(true);
    const stats = await bulkStats(h);
    expect(totalJobs(stats)).toBe(4);
    expect(stats.jobs.Completed).toBe(4);
  });

  it('restarts mid-file: only the rows not yet saved, from the same job, without a poll', async () => {
    const h = await start(1500);
    const windows = lastDays(h, 31);
    expect(windows).toHaveLength(1);
    const truth = leadIdsCreated(h, windows[0]!.startAt, windows[0]!.endAt);
    expect(truth.length).toBeGreaterThan(40);
    const options = { ...FAST, batchRows: 10 };
    const crash = exportSync({
      plan: LEADS,
      windows,
      options,
      afterBatch: (_b, n) => {
        if (n === 2) throw new Error('crash after two batches');
      },
    });
    expect(String((await h.engine.run(crash)).error)).toContain('crash after two batches');
    const saved = checkpointOf(h);
    expect(saved.jobs).toHaveLength(1);
    expect(saved.jobs[0]).toMatchObject({ status: 'Completed', rowsDone: 20 });
    expect(saved.jobs[0]!.fileChecksum).toMatch(/^sha256:[0-9a-f]{64}$/);

    const out = collected();
    const report = await h.engine.run(exportSync({ plan: LEADS, windows, options, out }));
    expect(report.error).toBeUndefined();
    expect(out.ids).toEqual(truth.slice(20));
    expect(report.calls).toEqual([`/bulk/v1/leads/export/${saved.jobs[0]!.exportId}/file.json`]);
    expect(totalJobs(await bulkStats(h))).toBe(1);
  });

  it('reads a file again when its bytes do not match fileChecksum, and fails on a second mismatch', async () => {
    const h = await start(1500);
    const windows = lastDays(h, 31);
    const truth = leadIdsCreated(h, windows[0]!.startAt, windows[0]!.endAt);
    const options = { ...FAST, batchRows: 10 };
    const events: string[] = [];
    const out = collected();
    const report = await h.engine.run(
      exportSync({ plan: LEADS, windows, options, events, out, fakes: { download: corruptDownloads(1) } }),
    );
    expect(report.error).toBeUndefined();
    expect(events.filter((e) => e.startsWith('FILE'))).toHaveLength(2);
    expect(report.logs.some((l) => /checksum/.test(l.message))).toBe(true);
    // The whole file again after the partial first pass (its last batch was held back).
    expect(out.ids.slice(-truth.length)).toEqual(truth);
    expect(new Set(out.ids).size).toBe(truth.length);
    // What was saved from the corrupt pass was overwritten: same records as a clean export.
    const clean = h.newEngine();
    expect((await clean.run(exportSync({ plan: LEADS, windows, options }))).error).toBeUndefined();
    expect(h.engine.live('Row')).toEqual(clean.live('Row'));

    const bad = h.newEngine();
    const failed = await bad.run(
      exportSync({ plan: LEADS, windows, options, fakes: { download: corruptDownloads(Infinity) } }),
    );
    expect(failed.error).toBeInstanceOf(MarketoSyncError);
    expect((failed.error as MarketoSyncError).code).toBe('checksum_mismatch');
    const left = bad.checkpoints.get('bulk-export-test')?.export as ExportState;
    expect(left.jobs).toHaveLength(1);
  });

  it('reads a file again when a corrupt download breaks the CSV itself', async () => {
    const h = await start(1500);
    const windows = lastDays(h, 31);
    const events: string[] = [];
    const out = collected();
    const report = await h.engine.run(
      exportSync({
        plan: LEADS,
        windows,
        options: { ...FAST, batchRows: 10 },
        events,
        out,
        fakes: { download: corruptDownloads(1, 'comma') },
      }),
    );
    expect(report.error).toBeUndefined();
    expect(events.filter((e) => e.startsWith('FILE'))).toHaveLength(2);
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows[0]!.endAt));
  });

  it('splits the window of a Failed job and retries both halves; a failing day is final', async () => {
    const h = await start(1500);
    const windows = lastDays(h, 62);
    expect(windows).toHaveLength(2);
    const created = createdIds();
    const bodies: { startAt: string; endAt: string }[] = [];
    const failFirst = rewriteJobs((j) =>
      j.exportId === created.ids[0]
        ? { exportId: j.exportId, format: 'CSV', status: 'Failed', errorMsg: 'simulated failure' }
        : j,
    );
    const out = collected();
    const report = await h.engine.run(
      exportSync({
        plan: LEADS,
        windows,
        options: FAST,
        out,
        fakes: {
          beforePost: (path, body) => {
            if (path.endsWith('/create.json')) {
              bodies.push(
                (body as { filter: { createdAt: { startAt: string; endAt: string } } }).filter.createdAt,
              );
            }
          },
          afterPost: created.afterPost,
          get: failFirst,
        },
      }),
    );
    expect(report.error).toBeUndefined();
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows[1]!.endAt));
    const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';
    const w0 = windows[0]!;
    const mid = w0.startAt + (w0.endAt - w0.startAt) / 2;
    expect(bodies).toContainEqual({ startAt: iso(w0.startAt), endAt: iso(mid) });
    expect(bodies).toContainEqual({ startAt: iso(mid), endAt: iso(w0.endAt) });
    expect(bodies).toHaveLength(4);
    const lasts = out.batches.filter((b) => b.last).map((b) => b.job);
    expect(lasts.map((j) => j.attempts)).toEqual([1, 1, undefined]);
    expect(
      report.logs.some((l) => /failed/.test(l.message) && l.data?.errorMsg === 'simulated failure'),
    ).toBe(true);

    const day = h.newEngine();
    const all = rewriteJobs((j) => ({
      exportId: j.exportId,
      format: 'CSV',
      status: 'Failed',
      errorMsg: 'no luck',
    }));
    const final = await day.run(
      exportSync({ plan: LEADS, windows: lastDays(h, 1, 1).slice(0, 1), options: FAST, fakes: { get: all } }),
    );
    expect(final.error).toBeInstanceOf(MarketoSyncError);
    expect((final.error as MarketoSyncError).code).toBe('export_failed');
    expect((final.error as MarketoSyncError).message).toContain('no luck');
  });

  it('makes a new job for a checkpointed job cancelled by someone else', async () => {
    const h = await start(600);
    await sandboxSettings(h, { settings: { bulkProcessingMs: 600_000 } });
    const windows = lastDays(h, 60);
    const stop = exportSync({
      plan: LEADS,
      windows,
      options: FAST,
      fakes: { sleep: () => Promise.reject(new Error('run stopped')) },
    });
    expect(String((await h.engine.run(stop)).error)).toContain('run stopped');
    const saved = checkpointOf(h);
    expect(saved.jobs).toHaveLength(2);
    const cancelled = await h.api(`/bulk/v1/leads/export/${saved.jobs[0]!.exportId}/cancel.json`, {
      method: 'POST',
    });
    expect(cancelled.success).toBe(true);
    await sandboxSettings(h, { settings: { bulkProcessingMs: 0 } });

    const out = collected();
    const report = await h.engine.run(exportSync({ plan: LEADS, windows, options: FAST, out }));
    expect(report.error).toBeUndefined();
    expect(out.ids).toEqual(leadIdsCreated(h, windows[0]!.startAt, windows.at(-1)!.endAt));
    expect(report.logs.some((l) => /cancelled/.test(l.message))).toBe(true);
    expect((await bulkStats(h)).jobs).toMatchObject({ Cancelled: 1, Completed: 2 });
  });

  it('makes a new job when a checkpointed Completed job has no file any more (404 after 7 days)', async () => {
    const h = await start(1500);
    const windows = lastDays(h, 31);
    const truth = leadIdsCreated(h, windows[0]!.startAt, windows[0]!.endAt);
    const options = { ...FAST, batchRows: 10 };
    const crash = exportSync({
      plan: LEADS,
      windows,
      options,
      afterBatch: (_b, n) => {
        if (n === 1) throw new Error('crash');
      },
    });
    expect(String((await h.engine.run(crash)).error)).toContain('crash');
    expect(checkpointOf(h).jobs[0]).toMatchObject({ status: 'Completed', rowsDone: 10 });
    await h.advance(8 * 86_400);

    const out = collected();
    const report = await h.engine.run(exportSync({ plan: LEADS, windows, options, out }));
    expect(report.error).toBeUndefined();
    expect(out.ids).toEqual(truth);
    expect(report.logs.some((l) => /404/.test(l.message))).toBe(true);
    expect(totalJobs(await bulkStats(h))).toBe(2);
  });
});
