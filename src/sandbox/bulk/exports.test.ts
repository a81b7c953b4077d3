import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { unlimited } from '../index.ts';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import {
  asCell,
  cancel,
  createJob,
  DAY_MS,
  download,
  enqueue,
  iso,
  parseDelimited,
  runJob,
  status,
  waitFor,
  type Kind,
} from './test-helpers.ts';
// Named apart from the job waiter of ./test-helpers.ts.
import { waitFor as waitUntil } from '../../testing/wait.ts';

let sb: TestSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

async function start(seed = { leads: 200, seed: 7 }): Promise<TestSandbox> {
  sb = await startTestSandbox({ seed, limits: unlimited() });
  return sb;
}

function instancePath(s: TestSandbox): string {
  return `/instances/${s.munchkinId}`;
}

/** The last 30 days: inside the 31-day limit and covering the recent generated history. */
function recentWindow(): { startAt: string; endAt: string } {
  const end = Date.now() + 60_000;
  return { startAt: iso(end - 30 * DAY_MS), endAt: iso(end) };
}

function activityJob(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { filter: { createdAt: recentWindow() }, ...extra };
}

async function createdId(s: TestSandbox, kind: Kind, body: unknown): Promise<string> {
  const res = await createJob(s, kind, body);
  expect(res.success, JSON.stringify(res.errors)).toBe(true);
  return res.result![0]!.exportId as string;
}

function errorOf(body: MarketoBody): { code: string; message: string } | undefined {
  return body.success ? undefined : body.errors?.[0];
}

async function countersBulk(s: TestSandbox): Promise<{ processing: number; queued: number }> {
  const { body } = await s.control<{ bulk: { processing: number; queued: number } }>(
    'GET',
    `${instancePath(s)}/counters`,
  );
  return body.bulk;
}

/** A second API user with its own service and token, for visibility checks. */
async function otherUserToken(s: TestSandbox, role = 'API Full Access'): Promise<string> {
  const email = `other-${role.replace(/\W/g, '').toLowerCase()}@example.com`;
  expect((await s.control('POST', `${instancePath(s)}/users`, { email, role })).status).toBe(201);
  const svc = await s.control<{ clientId: string; clientSecret: string }>(
    'POST',
    `${instancePath(s)}/services`,
    { name: `svc ${role}`, user: email },
  );
  const res = await fetch(
    `${s.base}/identity/oauth/token?grant_type=client_credentials&client_id=${svc.body.clientId}&client_secret=${svc.body.clientSecret}`,
  );
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('bulk extract jobs', () => {
  it('runs Created → Queued → Processing → Completed with the documented shapes', async () => {
    const s = await start();
    const created = await createJob(s, 'activities', activityJob());
    expect(created.success).toBe(true);
    const job = created.result![0]!;
    expect(Object.keys(job)).toEqual(['exportId', 'format', 'status', 'createdAt']);
    expect(job.exportId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(job).toMatchObject({ format: 'CSV', status: 'Created' });
    expect(job.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const id = job.exportId as string;

    const queued = await enqueue(s, 'activities', id);
    expect(queued.result![0]).toMatchObject({ exportId: id, status: 'Queued' });
    expect(queued.result![0]!.queuedAt).toMatch(/Z$/);

    const done = await waitFor(s, 'activities', id);
    expect(Object.keys(done)).toEqual([
      'exportId',
      'format',
      'status',
      'createdAt',
      'queuedAt',
      'startedAt',
      'finishedAt',
      'numberOfRecords',
      'fileSize',
      'fileChecksum',
    ]);
    const file = await download(s, 'activities', id);
    expect(done.fileSize).toBe(file.length);
    expect(done.fileChecksum).toBe(`sha256:${createHash('sha256').update(file).digest('hex')}`);
    const rows = parseDelimited(file.toString('utf8'));
    expect(rows[0]).toEqual([
      'marketoGUID',
      'leadId',
      'activityDate',
      'activityTypeId',
      'campaignId',
      'primaryAttributeValueId',
      'primaryAttributeValue',
      'attributes',
    ]);
    expect(rows.length - 1).toBe(done.numberOfRecords);
  });

  it('answers 404 text for a file before completion, and cancels from any non-final state', async () => {
    const s = await start();
    await s.control('PATCH', instancePath(s), { settings: { bulkProcessingMs: 60_000 } });
    const created = await createdId(s, 'activities', activityJob());
    const processing = await createdId(s, 'activities', activityJob());
    const queued = [
      await createdId(s, 'activities', activityJob()),
      await createdId(s, 'activities', activityJob()),
    ];
    for (const id of [processing, ...queued]) expect((await enqueue(s, 'activities', id)).success).toBe(true);
    expect((await status(s, 'activities', processing)).status).toBe('Processing');
    expect((await status(s, 'activities', queued[1]!)).status).toBe('Queued');

    const early = await s.api(`/bulk/v1/activities/export/${processing}/file.json`);
    expect(early.status).toBe(404);
    expect(early.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await early.text()).toBe('Export file not available');

    for (const id of [created, processing, queued[1]!]) {
      const res = await cancel(s, 'activities', id);
      expect(res.result![0]).toMatchObject({ exportId: id, status: 'Cancelled' });
      expect(res.result![0]!.finishedAt).toBeUndefined();
    }
    // The freed slot goes to the next queued job.
    expect((await status(s, 'activities', queued[0]!)).status).toBe('Processing');
    expect((await cancel(s, 'activities', processing)).result![0]!.status).toBe('Cancelled');
    expect((await s.api(`/bulk/v1/activities/export/${processing}/file.json`)).status).toBe(404);
    expect(errorOf(await enqueue(s, 'activities', created))).toEqual({
      code: '1029',
      message: 'Job already queued',
    });
  });

  it('refuses to enqueue twice', async () => {
    const s = await start();
    await s.control('PATCH', instancePath(s), { settings: { bulkProcessingMs: 60_000 } });
    const id = await createdId(s, 'activities', activityJob());
    expect((await enqueue(s, 'activities', id)).success).toBe(true);
    expect(errorOf(await enqueue(s, 'activities', id))).toEqual({
      code: '1029',
      message: 'Job already queued',
    });
  });

  it('keeps at most 2 jobs Processing and starts queued ones as slots free', async () => {
    const s = await start();
    await s.control('PATCH', instancePath(s), { settings: { bulkProcessingMs: 60_000 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createdId(s, 'activities', activityJob()));
    for (const id of ids) expect((await enqueue(s, 'activities', id)).success).toBe(true);

    const census = async () => {
      const counts: Record<string, number> = {};
      for (const id of ids) {
        const st = (await status(s, 'activities', id)).status as string;
        counts[st] = (counts[st] ?? 0) + 1;
      }
      expect(counts.Processing ?? 0).toBeLessThanOrEqual(2);
      return counts;
    };
    expect(await census()).toEqual({ Processing: 2, Queued: 3 });
    expect(await countersBulk(s)).toMatchObject({ processing: 2, queued: 3 });
    // Processing time passes on the instance clock; each step frees both slots.
    const expected = [
      { Completed: 2, Processing: 2, Queued: 1 },
      { Completed: 4, Processing: 1 },
      { Completed: 5 },
    ];
    for (const want of expected) {
      await s.control('POST', `${instancePath(s)}/clock`, { advanceMs: 60_000 });
      const counts = await waitUntil(
        `the census ${JSON.stringify(want)}`,
        async () => {
          const c = await census();
          return JSON.stringify(c) === JSON.stringify(want) ? c : undefined;
        },
        10_000,
        10,
      );
      expect(counts).toEqual(want);
    }
  });

  it('answers 1029 when 10 jobs are queued or processing, shared by leads and activities', async () => {
    const s = await start();
    await s.control('PATCH', instancePath(s), { settings: { bulkProcessingMs: 60_000 } });
    const leadJob = { fields: ['id', 'email'], filter: { createdAt: recentWindow() } };
    const jobs: [Kind, string][] = [];
    for (let i = 0; i < 11; i++) {
      const kind: Kind = i % 2 === 0 ? 'leads' : 'activities';
      jobs.push([kind, await createdId(s, kind, kind === 'leads' ? leadJob : activityJob())]);
    }
    for (const [kind, id] of jobs.slice(0, 10)) expect((await enqueue(s, kind, id)).success).toBe(true);
    const [lastKind, lastId] = jobs[10]!;
    expect(errorOf(await enqueue(s, lastKind, lastId))).toEqual({
      code: '1029',
      message: 'Too many jobs in queue',
    });
    expect(await countersBulk(s)).toMatchObject({ processing: 2, queued: 8 });
    await cancel(s, jobs[9]![0], jobs[9]![1]);
    expect((await enqueue(s, lastKind, lastId)).success).toBe(true);
  });

  it('closes while files are being made, and leaves no file behind', async () => {
    // The file thread works through its jobs on its own: a close landing between two of its files once
    // met the next file being created in the directory it was removing (ENOTEMPTY). 20 closes at
    // different points of the work; without waiting for the writers, about every other run failed.
    const body = { fields: ['id', 'email'], filter: { createdAt: recentWindow() } };
    for (let round = 0; round < 20; round++) {
      const s = await startTestSandbox({ seed: { leads: 400, seed: 7 }, limits: unlimited() });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await createdId(s, 'leads', body));
      for (const id of ids.slice(0, 10)) expect((await enqueue(s, 'leads', id)).success).toBe(true);
      for (const id of ids.slice(0, 10)) await waitFor(s, 'leads', id);
      for (const id of ids.slice(10)) expect((await enqueue(s, 'leads', id)).success).toBe(true);
      const dir = s.sandbox.instances.get(s.munchkinId)!.bulk.filesDirectory;
      expect(dir).toBeDefined();
      expect(readdirSync(dir!).length).toBeGreaterThanOrEqual(10);
      await new Promise((resolve) => setTimeout(resolve, round % 3));
      await s.close();
      expect(existsSync(dir!), `round ${round}`).toBe(false);
    }
  }, 120_000);

  it('meters the daily export volume and resets it at midnight Central', async () => {
    const s = await start();
    await s.control('PATCH', instancePath(s), { limits: { bulk: { dailyBytes: 1 } } });
    const first = await runJob(s, 'activities', activityJob());
    expect(first.status.fileSize as number).toBeGreaterThan(1);
    const second = await createdId(s, 'activities', activityJob());
    expect(errorOf(await enqueue(s, 'activities', second))).toEqual({
      code: '1029',
      message: 'Export daily quota 0.00000095MB exceeded.',
    });
    expect((await status(s, 'activities', second)).status).toBe('Created');

    await s.control('POST', `${instancePath(s)}/clock`, { toNextMidnight: true });
    // The jump outlives the cached access token: continue with a fresh one.
    const res = await fetch(
      `${s.base}/identity/oauth/token?grant_type=client_credentials&client_id=${s.clientId}&client_secret=${encodeURIComponent(s.clientSecret)}`,
    );
    const auth = { authorization: `Bearer ${((await res.json()) as { access_token: string }).access_token}` };
    const again = await s.apiJson(`/bulk/v1/activities/export/${second}/enqueue.json`, {
      method: 'POST',
      headers: auth,
    });
    expect(again.success, JSON.stringify(again.errors)).toBe(true);
    // Polled back to back, as before: no pause between looks.
    const state = await waitUntil(
      'the export to complete',
      async () => {
        const st = await s.apiJson(`/bulk/v1/activities/export/${second}/status.json`, { headers: auth });
        return st.result![0]!.status === 'Completed' ? 'Completed' : undefined;
      },
      10_000,
      0,
    );
    expect(state).toBe('Completed');
    const { body } = await s.control<{ bulk: { bytesExportedToday: number } }>(
      'GET',
      `${instancePath(s)}/counters`,
    );
    expect(body.bulk.bytesExportedToday).toBeGreaterThan(0);
  });

  it('shows a job only to the API user that created it', async () => {
    const s = await start();
    const { id } = await runJob(s, 'activities', activityJob());
    const token = await otherUserToken(s);
    const asOther = (path: string, init: RequestInit = {}) =>
      fetch(s.base + path, { ...init, headers: { authorization: `Bearer ${token}` } });

    const st = (await (await asOther(`/bulk/v1/activities/export/${id}/status.json`)).json()) as MarketoBody;
    expect(errorOf(st)).toEqual({ code: '1003', message: `Export Id ${id} not found` });
    const file = await asOther(`/bulk/v1/activities/export/${id}/file.json`);
    expect(file.status).toBe(404);
    expect(await file.text()).toBe('Export file not available');
    const canceled = (await (
      await asOther(`/bulk/v1/activities/export/${id}/cancel.json`, { method: 'POST' })
    ).json()) as MarketoBody;
    expect(errorOf(canceled)?.code).toBe('1003');
    const list = (await (await asOther('/bulk/v1/activities/export.json')).json()) as MarketoBody;
    expect(list.result).toEqual([]);
    // A leads path does not reach an activities job either.
    expect(errorOf(await s.apiJson(`/bulk/v1/leads/export/${id}/status.json`))?.code).toBe('1003');
    expect((await status(s, 'activities', id)).status).toBe('Completed');
  });

  it('needs the activity read permission for activity exports', async () => {
    const s = await start();
    const token = await otherUserToken(s, 'Read-Only Lead');
    const res = await fetch(`${s.base}/bulk/v1/activities/export/create.json`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(activityJob()),
    });
    expect(errorOf((await res.json()) as MarketoBody)?.code).toBe('603');
  });

  it('lists the caller’s jobs with a status filter and paging', async () => {
    const s = await start();
    const ids = [
      await createdId(s, 'activities', activityJob()),
      await createdId(s, 'activities', activityJob()),
      await createdId(s, 'activities', activityJob()),
    ];
    await cancel(s, 'activities', ids[1]!);
    const created = await s.apiJson('/bulk/v1/activities/export.json?status=Created');
    expect(created.result!.map((j) => j.exportId)).toEqual([ids[0], ids[2]]);
    const both = await s.apiJson('/bulk/v1/activities/export.json?status=created,Canceled');
    expect(both.result).toHaveLength(3);

    const seen: unknown[] = [];
    let token: string | undefined;
    do {
      const page: MarketoBody = await s.apiJson(
        `/bulk/v1/activities/export.json?batchSize=2${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`,
      );
      expect(page.success).toBe(true);
      seen.push(...page.result!.map((j) => j.exportId));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual(ids);
    expect((await s.apiJson('/bulk/v1/leads/export.json')).result).toEqual([]);
    expect(errorOf(await s.apiJson('/bulk/v1/activities/export.json?status=Done'))?.code).toBe('1003');
  });

  it('serves byte ranges (206), suffix ranges, 416 past the end, and counts bytes sent', async () => {
    const s = await start();
    const { id, status: st } = await runJob(s, 'activities', activityJob());
    const full = await download(s, 'activities', id);
    const size = full.length;
    expect(size).toBe(st.fileSize);
    const path = `/bulk/v1/activities/export/${id}/file.json`;

    const fullRes = await s.api(path);
    expect(fullRes.headers.get('content-type')).toBe('text/csv');
    expect(fullRes.headers.get('content-length')).toBe(String(size));
    expect(fullRes.headers.get('content-encoding')).toBeNull();
    await fullRes.arrayBuffer();

    const probe = await s.api(path, { headers: { range: 'bytes=0-0' } });
    expect(probe.status).toBe(206);
    expect(probe.headers.get('accept-ranges')).toBe('bytes');
    expect(probe.headers.get('content-range')).toBe(`bytes 0-0/${size}`);
    expect(probe.headers.get('content-length')).toBe('1');
    expect(Buffer.from(await probe.arrayBuffer())).toEqual(full.subarray(0, 1));

    const mid = await s.api(path, { headers: { range: 'bytes=5-20' } });
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe(`bytes 5-20/${size}`);
    expect(Buffer.from(await mid.arrayBuffer())).toEqual(full.subarray(5, 21));

    const open = await s.api(path, { headers: { range: 'bytes=10-' } });
    expect(open.headers.get('content-range')).toBe(`bytes 10-${size - 1}/${size}`);
    expect(Buffer.from(await open.arrayBuffer())).toEqual(full.subarray(10));

    const tail = await s.api(path, { headers: { range: 'bytes=-7' } });
    expect(tail.headers.get('content-range')).toBe(`bytes ${size - 7}-${size - 1}/${size}`);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(full.subarray(size - 7));

    const past = await s.api(path, { headers: { range: `bytes=${size}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
    await past.arrayBuffer();

    const { body } = await s.control<{ bytesExported: number }>('GET', `${instancePath(s)}/counters`);
    expect(body.bytesExported).toBe(size * 2 + 1 + 16 + (size - 10) + 7);
  });

  it('validates activity export requests', async () => {
    const s = await start();
    const now = Date.now();
    const range = (days: number) => ({ startAt: iso(now - days * DAY_MS), endAt: iso(now) });
    const refuse = async (body: unknown, code = '1003') => {
      const res = await createJob(s, 'activities', body);
      const err = errorOf(res);
      expect(err?.code, JSON.stringify(body)).toBe(code);
      return err!.message;
    };
    expect(await refuse({})).toBe("Invalid value specified for attribute 'filter'");
    expect(await refuse({ filter: {} })).toBe("Invalid value specified for attribute 'filter'");
    expect(await refuse({ filter: { createdAt: range(31.001) } })).toMatch(/31 days/);
    expect(await refuse({ filter: { createdAt: { startAt: iso(now), endAt: iso(now - 1000) } } })).toMatch(
      /startAt must be before/,
    );
    expect(await refuse({ filter: { createdAt: { startAt: 'last week', endAt: iso(now) } } })).toMatch(
      /startAt is not an ISO-8601/,
    );
    expect(await refuse({ filter: { createdAt: range(1), activityTypeIds: [1, 37] } })).toMatch(/37/);
    expect(await refuse({ filter: { createdAt: range(1), primaryAttributeValueIds: [1] } })).toMatch(
      /need activityTypeIds/,
    );
    expect(
      await refuse({
        filter: {
          createdAt: range(1),
          activityTypeIds: [1],
          primaryAttributeValueIds: [1],
          primaryAttributeValues: ['a'],
        },
      }),
    ).toMatch(/mutually exclusive/);
    const many = Array.from({ length: 51 }, (_, i) => i + 1);
    expect(
      await refuse({ filter: { createdAt: range(1), activityTypeIds: [1], primaryAttributeValueIds: many } }),
    ).toMatch(/at most 50/);
    expect(await refuse({ filter: { createdAt: range(1) }, fields: ['marketoGUID', 'email'] })).toMatch(
      /email/,
    );
    expect(await refuse({ filter: { createdAt: range(1) }, format: 'XLS' })).toBe(
      "Invalid value specified for attribute 'format'",
    );

    expect((await createJob(s, 'activities', { filter: { createdAt: range(31) } })).success).toBe(true);
    const custom = await createJob(s, 'activities', {
      filter: { createdAt: range(2), activityTypeIds: [1], primaryAttributeValues: ['Web.Page'] },
      fields: ['leadId', 'actionResult'],
      format: 'tsv',
    });
    expect(custom.result![0]).toMatchObject({ format: 'TSV', status: 'Created' });
  });

  it('validates lead export requests: fields, filter, 31 days, 1035', async () => {
    const s = await start();
    const now = Date.now();
    const range = (days: number) => ({ startAt: iso(now - days * DAY_MS), endAt: iso(now) });
    const fields = ['id', 'email'];
    const refuse = async (body: unknown, code = '1003') => {
      const err = errorOf(await createJob(s, 'leads', body));
      expect(err?.code, JSON.stringify(body)).toBe(code);
      return err!.message;
    };
    expect(await refuse({ filter: { createdAt: range(1) } })).toBe(
      "Invalid value specified for attribute 'fields'",
    );
    expect(await refuse({ fields: [], filter: { createdAt: range(1) } })).toBe(
      "Invalid value specified for attribute 'fields'",
    );
    expect(await refuse({ fields: ['id', 'noSuchField'], filter: { createdAt: range(1) } })).toMatch(
      /noSuchField/,
    );
    expect(await refuse({ fields })).toBe("Invalid value specified for attribute 'filter'");
    expect(await refuse({ fields, filter: {} })).toBe("Invalid value specified for attribute 'filter'");
    expect(await refuse({ fields, filter: { createdAt: range(1), updatedAt: range(1) } })).toBe(
      "Invalid value specified for attribute 'filter'",
    );
    expect(await refuse({ fields, filter: { createdAt: range(32) } })).toMatch(/31 days/);
    expect(await refuse({ fields, filter: { createdAt: { startAt: iso(now), endAt: iso(now) } } })).toMatch(
      /startAt must be before/,
    );
    expect(await refuse({ fields, filter: { smartListId: 1 } }, '1035')).toBe(
      'Unsupported filter type for target subscription: smartListId',
    );
    expect(await refuse({ fields, filter: { staticListName: 'No such list anywhere' } })).toMatch(
      /not found/,
    );

    expect((await createJob(s, 'leads', { fields, filter: { updatedAt: range(31) } })).success).toBe(true);
    await s.control('PATCH', instancePath(s), { settings: { bulkUpdatedAtFilter: false } });
    expect(await refuse({ fields, filter: { updatedAt: range(1) } }, '1035')).toBe(
      'Unsupported filter type for target subscription: updatedAt',
    );
    expect((await createJob(s, 'leads', { fields, filter: { createdAt: range(31) } })).success).toBe(true);
  });
});

describe('failing jobs', () => {
  it('fails a job whose file would exceed bulkFailAboveRecords, and a smaller window then completes', async () => {
    const s = await start({ leads: 3000, seed: 11 });
    await s.control('PATCH', instancePath(s), { settings: { bulkFailAboveRecords: 10 } });
    const big = await runJobUntil(s, { fields: ['id'], filter: { createdAt: recentWindow() } });
    expect(big.status).toBe('Failed');
    expect(big.errorMsg).toMatch(/too large/);
    expect(big.fileSize).toBeUndefined();
    const file = await s.api(`/bulk/v1/leads/export/${String(big.exportId)}/file.json`);
    expect(file.status).toBe(404);
    await s.control('PATCH', instancePath(s), { settings: { bulkFailAboveRecords: null } });
    const again = await runJobUntil(s, { fields: ['id'], filter: { createdAt: recentWindow() } });
    expect(again.status).toBe('Completed');
    expect(again.numberOfRecords).toBeGreaterThan(10);
  });
});

async function runJobUntil(s: TestSandbox, body: unknown): Promise<Record<string, unknown>> {
  const id = await createdId(s, 'leads', body);
  expect((await enqueue(s, 'leads', id)).success).toBe(true);
  return waitFor(s, 'leads', id, ['Completed', 'Failed']);
}

describe('lead export files', () => {
  it('exports every lead created in the window, equal to what the REST API reads', async () => {
    const s = await start({ leads: 3000, seed: 11 });
    const fields = [
      'id',
      'email',
      'firstName',
      'lastName',
      'company',
      'createdAt',
      'updatedAt',
      'unsubscribed',
    ];
    const window = recentWindow();
    const { id, status: st } = await runJob(s, 'leads', { fields, filter: { createdAt: window } });
    const file = await download(s, 'leads', id);
    expect(st.fileChecksum).toBe(`sha256:${createHash('sha256').update(file).digest('hex')}`);
    const rows = parseDelimited(file.toString('utf8'));
    expect(rows[0]).toEqual(fields);
    const data = rows.slice(1);
    expect(data.length).toBe(st.numberOfRecords);
    expect(data.length).toBeGreaterThan(50);

    const ids = data.map((r) => Number(r[0]));
    const from = Date.parse(window.startAt);
    const to = Date.parse(window.endAt);
    for (const row of data) {
      const lead = (await s.apiJson(`/rest/v1/lead/${row[0]}.json?fields=${fields.join(',')}`)).result![0]!;
      expect(row).toEqual(fields.map((f) => asCell(lead[f])));
      const created = Date.parse(row[5]!);
      expect(created >= from && created < to).toBe(true);
    }
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // Completeness: the leads just outside the exported id range fall outside the window.
    const before = (await s.apiJson(`/rest/v1/lead/${ids[0]! - 1}.json?fields=createdAt`)).result?.[0];
    if (before) expect(Date.parse(before.createdAt as string)).toBeLessThan(from);
    const after = (await s.apiJson(`/rest/v1/lead/${ids[ids.length - 1]! + 1}.json?fields=createdAt`))
      .result?.[0];
    if (after) expect(Date.parse(after.createdAt as string)).toBeGreaterThanOrEqual(to);
    expect(new Set(data.map((r) => r[7]))).toSatisfy((vals: Set<string>) =>
      [...vals].every((v) => v === 'true' || v === 'false' || v === 'null'),
    );
  });

  it('quotes per RFC 4180, writes null for empty values, and honours format and header names', async () => {
    const s = await start();
    const sync = await s.apiJson('/rest/v1/leads.json', {
      method: 'POST',
      json: {
        action: 'createOnly',
        input: [{ email: 'quoting@example.com', firstName: 'Ann, "Q"', lastName: 'Two\nLines', company: '' }],
      },
    });
    expect(sync.result![0]!.status).toBe('created');
    const window = { startAt: iso(Date.now() - 3600_000), endAt: iso(Date.now() + 3600_000) };
    const fields = ['email', 'firstName', 'lastName', 'company'];
    const { id } = await runJob(s, 'leads', { fields, filter: { createdAt: window } });
    const text = (await download(s, 'leads', id)).toString('utf8');
    expect(text).toContain('quoting@example.com,"Ann, ""Q""","Two\nLines",null\n');
    const row = parseDelimited(text).find((r) => r[0] === 'quoting@example.com');
    expect(row).toEqual(['quoting@example.com', 'Ann, "Q"', 'Two\nLines', 'null']);

    const ssv = await runJob(s, 'leads', {
      fields,
      format: 'SSV',
      columnHeaderNames: { email: 'E-mail; primary', firstName: 'First' },
      filter: { createdAt: window },
    });
    const ssvText = (await download(s, 'leads', ssv.id)).toString('utf8');
    expect(ssvText.startsWith('"E-mail; primary";First;lastName;company\n')).toBe(true);
    // A quote is special in every format; a comma is not in SSV.
    expect(ssvText).toContain('quoting@example.com;"Ann, ""Q""";"Two\nLines";null\n');
    expect(parseDelimited(ssvText, ';').find((r) => r[0] === 'quoting@example.com')).toEqual(row);
  });

  it('exports leads by last update with the updatedAt filter', async () => {
    const s = await start();
    const sync = await s.apiJson('/rest/v1/leads.json', {
      method: 'POST',
      json: { action: 'updateOnly', lookupField: 'id', input: [{ id: 17, firstName: 'Recently Changed' }] },
    });
    expect(sync.result![0]!.status).toBe('updated');
    const window = { startAt: iso(Date.now() - 3600_000), endAt: iso(Date.now() + 3600_000) };
    const { id } = await runJob(s, 'leads', {
      fields: ['id', 'firstName', 'updatedAt'],
      filter: { updatedAt: window },
    });
    const rows = parseDelimited((await download(s, 'leads', id)).toString('utf8')).slice(1);
    expect(rows.find((r) => r[0] === '17')?.[1]).toBe('Recently Changed');
    for (const row of rows) expect(Date.parse(row[2]!)).toBeGreaterThanOrEqual(Date.parse(window.startAt));
  });

  it('exports the members of a static list by id and by name', async () => {
    const s = await start();
    const lists = await s.apiJson('/rest/v1/lists.json');
    const list = lists.result![0]!;
    const members: number[] = [];
    let token: string | undefined;
    do {
      const page: MarketoBody = await s.apiJson(
        `/rest/v1/lists/${list.id}/leads.json?fields=id${token ? `&nextPageToken=${token}` : ''}`,
      );
      members.push(...(page.result ?? []).map((l) => l.id as number));
      token = page.nextPageToken;
    } while (token);

    for (const filter of [{ staticListId: list.id }, { staticListName: list.name }]) {
      const { id, status: st } = await runJob(s, 'leads', { fields: ['id'], filter });
      const rows = parseDelimited((await download(s, 'leads', id)).toString('utf8')).slice(1);
      expect(st.numberOfRecords).toBe(members.length);
      expect(rows.map((r) => Number(r[0]))).toEqual(members);
    }
  });
});

describe('activity export files', () => {
  it('exports the activities of the window, equal to what the REST API reads', async () => {
    const s = await start({ leads: 300, seed: 5 });
    const window = recentWindow();
    const { id, status: st } = await runJob(s, 'activities', { filter: { createdAt: window } });
    const rows = parseDelimited((await download(s, 'activities', id)).toString('utf8'));
    const data = rows.slice(1);
    expect(data.length).toBe(st.numberOfRecords);
    expect(data.length).toBeGreaterThan(20);
    const from = Date.parse(window.startAt);
    const to = Date.parse(window.endAt);
    let last = 0;
    const byGuid = new Map<string, string[]>();
    for (const row of data) {
      expect(row).toHaveLength(8);
      const date = Date.parse(row[2]!);
      expect(date >= from && date < to && date >= last).toBe(true);
      last = date;
      const attrs: unknown = JSON.parse(row[7]!);
      expect(typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs)).toBe(true);
      byGuid.set(row[0]!, row);
    }

    // The same activities through the REST API (≤10 types per call).
    const types = [...new Set(data.map((r) => r[3]!))];
    const pt = await s.apiJson(`/rest/v1/activities/pagingtoken.json?sinceDatetime=${window.startAt}`);
    const rest = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < types.length; i += 10) {
      let token = pt.nextPageToken!;
      for (;;) {
        const page = await s.apiJson(
          `/rest/v1/activities.json?nextPageToken=${encodeURIComponent(token)}&activityTypeIds=${types.slice(i, i + 10).join(',')}`,
        );
        for (const a of page.result ?? []) {
          if (Date.parse(a.activityDate as string) < to) rest.set(a.marketoGUID as string, a);
        }
        token = page.nextPageToken!;
        if (!page.moreResult) break;
      }
    }
    expect([...rest.keys()].sort()).toEqual([...byGuid.keys()].sort());
    for (const [guid, a] of rest) {
      const row = byGuid.get(guid)!;
      expect(row.slice(0, 7)).toEqual([
        guid,
        String(a.leadId),
        a.activityDate,
        String(a.activityTypeId),
        asCell(a.campaignId),
        asCell(a.primaryAttributeValueId),
        asCell(a.primaryAttributeValue),
      ]);
      const attrs = JSON.parse(row[7]!) as Record<string, unknown>;
      for (const { name, value } of (a.attributes ?? []) as { name: string; value: unknown }[]) {
        expect(attrs[name]).toEqual(value);
      }
    }
  });

  it('filters by activity type and chosen columns', async () => {
    const s = await start({ leads: 300, seed: 5 });
    const { id } = await runJob(s, 'activities', {
      filter: { createdAt: recentWindow(), activityTypeIds: [1] },
      fields: ['activityTypeId', 'leadId', 'actionResult'],
      columnHeaderNames: { leadId: 'Lead' },
    });
    const rows = parseDelimited((await download(s, 'activities', id)).toString('utf8'));
    expect(rows[0]).toEqual(['activityTypeId', 'Lead', 'actionResult']);
    expect(rows.length).toBeGreaterThan(2);
    for (const row of rows.slice(1)) expect([row[0], row[2]]).toEqual(['1', 'succeeded']);
  });
});
