/**
 * Behaviour the Marketo fact sheet (../shared/spec/marketo-api.md) states and no other sandbox test
 * pins. Each test is named after the spec section it pins; everything goes over loopback HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { unlimited } from './index.ts';
import { startTestSandbox, type MarketoBody, type TestSandbox } from './testing.ts';
import { cancel, createJob, DAY_MS, enqueue, iso, runJob, waitFor } from './bulk/test-helpers.ts';

let sb: TestSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

async function start(): Promise<TestSandbox> {
  sb = await startTestSandbox({ seed: { leads: 200, seed: 5 }, limits: unlimited() });
  return sb;
}

function leadJob(): Record<string, unknown> {
  const end = Date.now() + 60_000;
  return {
    fields: ['id', 'email'],
    filter: { createdAt: { startAt: iso(end - 30 * DAY_MS), endAt: iso(end) } },
  };
}

function errorOf(body: MarketoBody): { code: string; message: string } | undefined {
  return body.success ? undefined : body.errors?.[0];
}

async function identity(s: TestSandbox): Promise<{ access_token: string; expires_in: number }> {
  const q = `grant_type=client_credentials&client_id=${encodeURIComponent(s.clientId)}&client_secret=${encodeURIComponent(s.clientSecret)}`;
  const res = await fetch(`${s.identity}/oauth/token?${q}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; expires_in: number };
}

async function usageWith(s: TestSandbox, token: string): Promise<MarketoBody> {
  return s.apiJson('/rest/v1/stats/usage.json', { headers: { authorization: `Bearer ${token}` } });
}

describe('spec §4 limits: URI length', () => {
  it('answers 414 past 8 KB on the lead database but serves asset-API URIs up to 65 KiB', async () => {
    const s = await start();
    const pad = 'x'.repeat(20_000);
    // Lead database: 8 KB.
    const lead = await s.api(`/rest/v1/campaigns.json?name=${pad}`);
    expect(lead.status).toBe(414);
    await lead.arrayBuffer();
    // Asset API: 65 KiB since Sep 2020, so a 20 KB browse is served.
    const asset = await s.api(`/rest/asset/v1/programs.json?maxReturn=1&pad=${pad}`);
    expect(asset.status).toBe(200);
    const body = (await asset.json()) as MarketoBody;
    expect(body.success).toBe(true);
    // ...and past 65 KiB it is refused too.
    const huge = await s.api(`/rest/asset/v1/programs.json?pad=${'x'.repeat(65 * 1024)}`);
    expect(huge.status).toBe(414);
    await huge.arrayBuffer();
  });
});

describe('spec §4 limits: URI length boundary', () => {
  it('measures the 8 KB on the URI Marketo sees (path and query), not the sandbox /<munchkin> prefix', async () => {
    const s = await start();
    const head = '/rest/v1/campaigns.json?name=';
    const at = (bytes: number) => head + 'y'.repeat(bytes - head.length);
    const ok = await s.api(at(8_192));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as MarketoBody).success).toBe(true);
    const over = await s.api(at(8_193));
    expect(over.status).toBe(414);
    await over.arrayBuffer();
  });
});

describe('spec §1 token reuse and §3.1 602/601', () => {
  it('keeps the same token down to expires_in 0..1, then a new one; the old one answers 602 once, then 601', async () => {
    const s = await start();
    const first = await identity(s);
    expect(first.expires_in).toBeGreaterThanOrEqual(3599);
    await s.control('POST', `/instances/${s.munchkinId}/clock`, { advanceSeconds: 3599 });
    const late = await identity(s);
    expect(late.access_token).toBe(first.access_token);
    expect(late.expires_in).toBeGreaterThanOrEqual(0);
    expect(late.expires_in).toBeLessThanOrEqual(1);
    await s.control('POST', `/instances/${s.munchkinId}/clock`, { advanceSeconds: 2 });
    const next = await identity(s);
    expect(next.access_token).not.toBe(first.access_token);
    expect(next.expires_in).toBeGreaterThanOrEqual(3599);
    // A new token was issued meanwhile: the old string still gets its single 602 first.
    expect(errorOf(await usageWith(s, first.access_token))).toEqual({
      code: '602',
      message: 'Access token expired',
    });
    expect(errorOf(await usageWith(s, first.access_token))?.code).toBe('601');
    expect((await usageWith(s, next.access_token)).success).toBe(true);
  });
});

describe('spec §5.10 bulk extract job states', () => {
  it('answers 404 plain text for the file of a Failed job, which cancel and enqueue leave Failed', async () => {
    const s = await start();
    await s.control('PATCH', `/instances/${s.munchkinId}`, { settings: { bulkFailAboveRecords: 0 } });
    const created = await createJob(s, 'leads', leadJob());
    const id = created.result![0]!.exportId as string;
    expect((await enqueue(s, 'leads', id)).success).toBe(true);
    const failed = await waitFor(s, 'leads', id, ['Failed', 'Completed']);
    expect(failed.status).toBe('Failed');
    expect(failed.finishedAt).toMatch(/Z$/);
    expect(typeof failed.errorMsg).toBe('string');
    const file = await s.api(`/bulk/v1/leads/export/${id}/file.json`);
    expect(file.status).toBe(404);
    expect(file.headers.get('content-type')).toMatch(/^text\/plain/);
    await file.arrayBuffer();
    expect((await cancel(s, 'leads', id)).result![0]!.status).toBe('Failed');
    expect(errorOf(await enqueue(s, 'leads', id))?.code).toBe('1029');
  });

  it('keeps a Completed job Completed on cancel, its file still served; enqueue again answers 1029', async () => {
    const s = await start();
    const { id, status } = await runJob(s, 'leads', leadJob());
    const cancelled = await cancel(s, 'leads', id);
    expect(cancelled.success).toBe(true);
    expect(cancelled.result![0]).toMatchObject({
      exportId: id,
      status: 'Completed',
      fileSize: status.fileSize,
    });
    const file = await s.api(`/bulk/v1/leads/export/${id}/file.json`);
    expect(file.status).toBe(200);
    expect((await file.arrayBuffer()).byteLength).toBe(status.fileSize);
    expect(errorOf(await enqueue(s, 'leads', id))).toEqual({ code: '1029', message: 'Job already queued' });
  });

  it('answers 404 for the file of a job cancelled while Queued, and never starts it', async () => {
    const s = await start();
    await s.control('PATCH', `/instances/${s.munchkinId}`, { settings: { bulkProcessingMs: 60_000 } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await createJob(s, 'leads', leadJob());
      ids.push(created.result![0]!.exportId as string);
      expect((await enqueue(s, 'leads', ids[i]!)).success).toBe(true);
    }
    // Two slots: the third waits in the queue.
    const queued = ids[2]!;
    const view = (await cancel(s, 'leads', queued)).result![0]!;
    expect(view).toMatchObject({ status: 'Cancelled' });
    expect(view.queuedAt).toMatch(/Z$/);
    expect(view.startedAt).toBeUndefined();
    await s.control('POST', `/instances/${s.munchkinId}/clock`, { advanceSeconds: 120 });
    await waitFor(s, 'leads', ids[0]!);
    const after = await s.apiJson(`/bulk/v1/leads/export/${queued}/status.json`);
    expect(after.result![0]!.status).toBe('Cancelled');
    const file = await s.api(`/bulk/v1/leads/export/${queued}/file.json`);
    expect(file.status).toBe(404);
    await file.arrayBuffer();
  });
});
