import { afterEach, expect, it } from 'vitest';
import { unlimited } from '../index.ts';
import { startTestSandbox, type TestSandbox } from '../testing.ts';
import { createJob, DAY_MS, enqueue, iso, rawDownload, status } from './test-helpers.ts';
import { waitFor } from '../../testing/wait.ts';

let sb: TestSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

it('exports 1,000,000 leads in seconds without holding files in memory', async () => {
  const asOf = Math.floor(Date.now() / 1000) * 1000;
  const s = (sb = await startTestSandbox({ seed: { leads: 1_000_000, seed: 1, asOf }, limits: unlimited() }));
  await s.control('PATCH', `/instances/${s.munchkinId}`, { limits: { bulk: { maxQueued: 30 } } });
  const fields = ['id', 'email', 'firstName', 'lastName', 'company', 'createdAt'];
  // Generated leads are created over the 730 days before asOf: 24 windows of 31 days cover them all.
  const windows: { startAt: string; endAt: string }[] = [];
  for (let from = asOf - 730 * DAY_MS - 1000; from <= asOf; from += 31 * DAY_MS) {
    windows.push({ startAt: iso(from), endAt: iso(from + 31 * DAY_MS) });
  }
  const token = await s.token();

  const exportWindow = async (window: { startAt: string; endAt: string }) => {
    const created = await createJob(s, 'leads', { fields, filter: { createdAt: window } });
    expect(created.success, JSON.stringify(created.errors)).toBe(true);
    const id = created.result![0]!.exportId as string;
    expect((await enqueue(s, 'leads', id)).success).toBe(true);
    return id;
  };
  /** Wait for a job, download its file as a client with a big file would, return its record count. */
  const collect = async (id: string) => {
    // No deadline of its own (Infinity): the test's 30 s timeout bounds the wait.
    const st = await waitFor(
      `export ${id}`,
      async () => {
        const v = await status(s, 'leads', id);
        if (v.status === 'Completed') return v;
        expect(['Queued', 'Processing']).toContain(v.status);
        return undefined;
      },
      Infinity,
      20,
    );
    const file = await rawDownload(s.base, `/bulk/v1/leads/export/${id}/file.json`, token);
    expect(file.status).toBe(200);
    expect(file.size).toBe(st.fileSize);
    expect(`sha256:${file.sha256}`).toBe(st.fileChecksum);
    return st.numberOfRecords as number;
  };

  const started = performance.now();
  // The first window runs alone before memory is measured: V8 sizes its young generation once
  // under allocation-heavy work, whatever the volume; what follows must not grow with the data.
  let records = await collect(await exportWindow(windows[0]!));
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 10);
  try {
    const ids: string[] = [];
    for (const window of windows.slice(1)) ids.push(await exportWindow(window));
    for (const id of ids) records += await collect(id);
  } finally {
    clearInterval(sampler);
  }
  const elapsed = performance.now() - started;
  expect(records).toBe(1_000_000);
  expect(elapsed).toBeLessThan(15_000);
  expect(rssPeak - rssBefore).toBeLessThan(50 * 1024 * 1024);
}, 30_000);
