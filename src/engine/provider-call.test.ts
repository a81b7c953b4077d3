import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../server/testing.ts';
import { connectNew, counters } from '../server/routes/connections/test-helpers.ts';
import { getConnection, type ConnectionWithCredentials } from '../db/connections.ts';
import { nextChicagoMidnight } from '../marketo/limits.ts';
import { DAY_MS, iso, runJob } from '../sandbox/bulk/test-helpers.ts';
import {
  connectionInstanceKey,
  PausedUntil,
  providerCall,
  ProviderCallError,
  providerDownload,
  type ProviderDownload,
  type ProviderDownloadOptions,
} from './provider-call.ts';
import { waitFor } from '../testing/wait.ts';

/**
 * `providerCall` (Tether's own calls to Marketo, e.g. syncs) against a real sandbox: parsed answers,
 * Marketo error envelopes handed back, token refresh and replay, retries, the quota and budget pauses,
 * long GETs, aborts. `providerDownload` (bulk export files): streaming, ranges, the replay after 601, the
 * traffic permit held while the body flows and always released (end, cancel, abort, a forgotten body),
 * the quota pause.
 */

describe('providerCall against the sandbox', () => {
  let t: TestTether;
  let connection: ConnectionWithCredentials;
  const admin = (path: string) => `/instances/${t.sandbox.munchkinId}${path}`;

  async function call(
    path: string,
    opts: Parameters<typeof providerCall>[3] = {},
    method = 'GET',
    body?: unknown,
  ) {
    let attempts = 0;
    const value = await providerCall(
      t.tether.deps,
      connection,
      { method, path, ...(body !== undefined ? { body } : {}) },
      {
        ...opts,
        onAttempt: () => attempts++,
        onConnection: (c) => {
          connection = c;
        },
      },
    );
    return { value: value as Record<string, unknown>, attempts };
  }

  beforeAll(async () => {
    t = await startTestTether({ sandbox: { seed: { leads: 50, seed: 1 } } });
    const id = await connectNew(t);
    connection = (await getConnection(
      t.tether.deps.store.ctx,
      t.tether.deps.store.environment.id,
      'marketo',
      id,
    ))!;
  });
  afterAll(() => t.close());

  it('answers parsed JSON; a Marketo error envelope is handed back as is', async () => {
    const ok = await call('/rest/v1/lists.json?batchSize=2');
    expect(ok.attempts).toBe(1);
    expect(ok.value).toMatchObject({ success: true, result: expect.any(Array) });
    // `/v1/…` is below `/rest`, as in the proxy.
    expect((await call('/v1/lead/1.json')).value).toMatchObject({ success: true });
    const bad = await call('/rest/v1/leads.json?filterType=nope&filterValues=1');
    expect(bad.value).toMatchObject({
      success: false,
      errors: [expect.objectContaining({ code: expect.any(String) })],
    });
    const posted = await call('/rest/v1/lists/1001/leads.json', {}, 'POST', { input: [{ id: 1 }] });
    expect(posted.value).toMatchObject({ success: true });
  });

  it('a GET longer than 8 KB goes as POST with _method=GET', async () => {
    const emails = Array.from({ length: 250 }, (_, i) => `someone.with.a.long.address.${i}@example.com`);
    const res = await call(`/rest/v1/leads.json?filterType=email&filterValues=${emails.join(',')}&fields=id`);
    expect(res.value).toMatchObject({ success: true });
  });

  it('an expired token is refreshed once and the call replayed', async () => {
    const before = await counters(t);
    await t.sandbox.control('POST', admin('/tokens/revoke'), {});
    const res = await call('/rest/v1/lists.json?batchSize=1');
    expect(res.value).toMatchObject({ success: true });
    expect(res.attempts).toBe(2);
    expect((await counters(t)).identityCalls).toBe(before.identityCalls + 1);
  });

  it('transient failures of reads are retried; a 4xx is not', async () => {
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'http',
      status: 502,
      count: 1,
      path: 'lists.json',
    });
    const res = await call('/rest/v1/lists.json?batchSize=1');
    expect(res).toMatchObject({ attempts: 2, value: { success: true } });
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'http',
      status: 404,
      count: 1,
      path: 'lists.json',
    });
    let attempts = 0;
    const err = await providerCall(
      t.tether.deps,
      connection,
      { method: 'GET', path: '/rest/v1/lists.json' },
      { onAttempt: () => attempts++ },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err).toMatchObject({ status: 404 });
    expect(attempts).toBe(1);
  });

  it('an aborted call stops', async () => {
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'slow',
      delayMs: 2_000,
      count: 1,
      path: 'lists.json',
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await providerCall(
      t.tether.deps,
      connection,
      { method: 'GET', path: '/rest/v1/lists.json' },
      { signal: ac.signal },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'aborted' });
  });

  it("the connection's spent budget pauses (PausedUntil) without calling Marketo", async () => {
    const traffic = t.tether.deps.traffic.get('marketo')!;
    traffic.setBudget(String(connection.id), 0);
    try {
      let attempts = 0;
      const err = await providerCall(
        t.tether.deps,
        connection,
        { method: 'GET', path: '/rest/v1/lists.json' },
        { onAttempt: () => attempts++ },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PausedUntil);
      expect(err).toMatchObject({
        reason: 'budget_exhausted',
        scope: 'connection',
        resetAt: traffic.budget(String(connection.id)).resetAt,
      });
      expect(attempts).toBe(0);
    } finally {
      traffic.setBudget(String(connection.id), null);
    }
  });

  it("Marketo's spent daily quota (607) pauses until midnight in Chicago, and blocks the instance", async () => {
    await t.sandbox.control('PATCH', admin(''), { limits: { daily: { quota: 1 } } });
    const err = await providerCall(t.tether.deps, connection, {
      method: 'GET',
      path: '/rest/v1/lists.json',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PausedUntil);
    const resetAt = (err as PausedUntil).resetAt;
    expect((err as PausedUntil).reason).toBe('quota_exhausted');
    expect(Math.abs(resetAt - nextChicagoMidnight(Date.now()))).toBeLessThan(5_000);
    // The next call is refused by traffic control at once: no call reaches Marketo.
    let attempts = 0;
    const again = await providerCall(
      t.tether.deps,
      connection,
      { method: 'GET', path: '/rest/v1/lists.json' },
      { onAttempt: () => attempts++ },
    ).catch((e: unknown) => e);
    expect(again).toMatchObject({ reason: 'quota_exhausted', resetAt });
    expect(attempts).toBe(0);
  });
});

describe('providerDownload of bulk export files', () => {
  let t: TestTether;
  let connection: ConnectionWithCredentials;
  let fileId: string;
  let fileBytes: Buffer;
  let bigId: string;
  let bigSize: number;
  const admin = (path: string) => `/instances/${t.sandbox.munchkinId}${path}`;
  const traffic = () => t.tether.deps.traffic.get('marketo')!;
  const inFlight = () => traffic().status(connectionInstanceKey(connection)).inFlight;
  const filePath = (id: string) => `/bulk/v1/leads/export/${id}/file.json`;

  async function download(
    path: string,
    opts: ProviderDownloadOptions & { range?: { start: number; end?: number } } = {},
  ): Promise<{ d: ProviderDownload; attempts: () => number }> {
    let attempts = 0;
    const { range, ...rest } = opts;
    const d = await providerDownload(
      t.tether.deps,
      connection,
      { path, ...(range ? { range } : {}) },
      {
        ...rest,
        onAttempt: () => attempts++,
        onConnection: (c) => {
          connection = c;
        },
      },
    );
    return { d, attempts: () => attempts };
  }

  async function readAll(d: ProviderDownload): Promise<{ bytes: Buffer; chunks: number; largest: number }> {
    const parts: Buffer[] = [];
    let largest = 0;
    for await (const c of d.body) {
      parts.push(Buffer.from(c));
      largest = Math.max(largest, c.byteLength);
    }
    return { bytes: Buffer.concat(parts), chunks: parts.length, largest };
  }

  async function bytesServed(): Promise<number> {
    return (await t.sandbox.control<{ bytesExported: number }>('GET', admin('/counters'))).body.bytesExported;
  }

  beforeAll(async () => {
    // Procedural leads cost nothing until read: 400,000 give ~17,000 leads per 31 days (a 10 MB file).
    t = await startTestTether({ sandbox: { seed: { leads: 400_000, seed: 3 } } });
    const id = await connectNew(t);
    connection = (await getConnection(
      t.tether.deps.store.ctx,
      t.tether.deps.store.environment.id,
      'marketo',
      id,
    ))!;
    const end = Date.now();
    const small = await runJob(t.sandbox, 'leads', {
      fields: ['id', 'email', 'firstName', 'lastName', 'updatedAt'],
      filter: { createdAt: { startAt: iso(end - 2 * DAY_MS), endAt: iso(end) } },
    });
    fileId = small.id;
    fileBytes = Buffer.from(await (await t.sandbox.api(filePath(fileId))).arrayBuffer());
    expect(fileBytes.length).toBe(small.status.fileSize);
    const describe = await t.sandbox.apiJson('/rest/v1/leads/describe.json');
    const fields = (describe.result as { rest: { name: string } }[]).map((f) => f.rest.name);
    const big = await runJob(t.sandbox, 'leads', {
      fields,
      filter: { createdAt: { startAt: iso(end - 31 * DAY_MS), endAt: iso(end) } },
    });
    bigId = big.id;
    bigSize = big.status.fileSize as number;
    expect(bigSize).toBeGreaterThan(8 * 1024 * 1024);
  }, 30_000);
  afterAll(() => t.close());

  it('streams a file: one call, lower-case headers, the exact bytes, the permit held until the end', async () => {
    const { d, attempts } = await download(filePath(fileId));
    expect(d.status).toBe(200);
    expect(d.headers['content-type']).toContain('text/csv');
    expect(Number(d.headers['content-length'])).toBe(fileBytes.length);
    expect(Object.keys(d.headers).every((k) => k === k.toLowerCase())).toBe(true);
    // Resolved at the headers: the call is still in flight for Marketo and for traffic control.
    expect(inFlight()).toBe(1);
    const { bytes } = await readAll(d);
    expect(bytes.equals(fileBytes)).toBe(true);
    expect(attempts()).toBe(1);
    expect(inFlight()).toBe(0);
    d.cancel(); // harmless after the end
    expect(inFlight()).toBe(0);
  });

  it('a byte range answers 206 with those bytes', async () => {
    const { d } = await download(filePath(fileId), { range: { start: 10, end: 59 } });
    expect(d.status).toBe(206);
    expect(d.headers['content-range']).toBe(`bytes 10-59/${fileBytes.length}`);
    expect((await readAll(d)).bytes.equals(fileBytes.subarray(10, 60))).toBe(true);
    const open = await download(filePath(fileId), { range: { start: fileBytes.length - 5 } });
    expect((await readAll(open.d)).bytes.equals(fileBytes.subarray(-5))).toBe(true);
    expect(inFlight()).toBe(0);
  });

  it('a missing file is handed back as Marketo answers it (404 text), not retried', async () => {
    const { d, attempts } = await download(filePath('00000000-0000-0000-0000-000000000000'));
    expect(d.status).toBe(404);
    expect((await readAll(d)).bytes.toString()).toBe('Export file not available');
    expect(attempts()).toBe(1);
    expect(inFlight()).toBe(0);
  });

  it('601 instead of the file (a 200 JSON envelope): one refresh, the download replayed', async () => {
    const before = await counters(t);
    await t.sandbox.control('POST', admin('/tokens/revoke'), {});
    const { d, attempts } = await download(filePath(fileId));
    expect(d.status).toBe(200);
    expect((await readAll(d)).bytes.equals(fileBytes)).toBe(true);
    expect(attempts()).toBe(2);
    expect((await counters(t)).identityCalls).toBe(before.identityCalls + 1);
    expect(inFlight()).toBe(0);
  });

  it('615 (concurrency limit hit anyway) and a 502 are retried; another envelope error is handed back', async () => {
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'error',
      code: '615',
      count: 1,
      path: 'file.json',
    });
    const limited = await download(filePath(fileId));
    expect((await readAll(limited.d)).bytes.equals(fileBytes)).toBe(true);
    expect(limited.attempts()).toBe(2);
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'http',
      status: 502,
      count: 1,
      path: 'file.json',
    });
    const flaky = await download(filePath(fileId));
    expect((await readAll(flaky.d)).bytes.equals(fileBytes)).toBe(true);
    expect(flaky.attempts()).toBe(2);
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'error',
      code: '1003',
      count: 1,
      path: 'file.json',
    });
    const refused = await download(filePath(fileId));
    expect(refused.d.status).toBe(200);
    expect(JSON.parse((await readAll(refused.d)).bytes.toString())).toMatchObject({
      success: false,
      errors: [{ code: '1003' }],
    });
    expect(refused.attempts()).toBe(1);
    expect(inFlight()).toBe(0);
  });

  it('11 downloads cancelled in a row leave no permit behind (the instance allows 10 in flight)', async () => {
    const limits = traffic().limitsOf(connectionInstanceKey(connection));
    expect(limits.maxInFlight).toBe(10);
    for (let i = 0; i < 11; i++) {
      // Interactive and a short wait: a leaked permit would make an acquire fail here, not hang.
      const { d } = await download(filePath(bigId), { priority: 'interactive', maxWaitMs: 2_000 });
      expect(inFlight()).toBe(1);
      if (i % 2 === 0) d.cancel();
      else {
        for await (const chunk of d.body) {
          expect(chunk.byteLength).toBeGreaterThan(0);
          break; // a reader that stops early ends the download too
        }
      }
      expect(inFlight()).toBe(0);
    }
  });

  it('a body nobody reads or cancels is cut by the idle watchdog, and its permit freed', async () => {
    const { d } = await download(filePath(bigId), { idleTimeoutMs: 100 });
    expect(inFlight()).toBe(1);
    await waitFor('the permit freed', () => (inFlight() > 0 ? undefined : true), 5_000, 20);
    expect(inFlight()).toBe(0);
    d.cancel();
  });

  it('a 10 MB file streams in bounded chunks, read as it is consumed', async () => {
    const served0 = await bytesServed();
    const { d } = await download(filePath(bigId));
    const it = d.body[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // The reader holds its chunk: the transfer stalls once the socket buffers are full (backpressure),
    // far from the whole file; nothing reads ahead into memory.
    await new Promise((r) => setTimeout(r, 300));
    const stalled = (await bytesServed()) - served0;
    await new Promise((r) => setTimeout(r, 300));
    expect((await bytesServed()) - served0).toBe(stalled);
    expect(stalled).toBeLessThan(bigSize * 0.8);
    let total = first.value!.byteLength;
    let chunks = 1;
    let largest = total;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      total += r.value.byteLength;
      largest = Math.max(largest, r.value.byteLength);
      chunks++;
    }
    expect(total).toBe(bigSize);
    expect(chunks).toBeGreaterThan(20);
    expect(largest).toBeLessThanOrEqual(1024 * 1024);
    expect(inFlight()).toBe(0);
  });

  it('the abort signal stops a download in the middle of its body', async () => {
    const ac = new AbortController();
    const { d } = await download(filePath(bigId), { signal: ac.signal });
    let read = 0;
    const err = await (async () => {
      for await (const c of d.body) {
        read += c.byteLength;
        if (read > 100_000) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err).toMatchObject({ code: 'aborted' });
    expect(read).toBeLessThan(bigSize);
    expect(inFlight()).toBe(0);
    // Aborted before the call: no call made.
    let calls = 0;
    const early = await providerDownload(
      t.tether.deps,
      connection,
      { path: filePath(fileId) },
      { signal: ac.signal, onAttempt: () => calls++ },
    ).catch((e: unknown) => e);
    expect(early).toMatchObject({ code: 'aborted' });
    expect(calls).toBe(0);
  });

  it('607 instead of the file pauses until midnight in Chicago', async () => {
    await t.sandbox.control('POST', admin('/faults'), {
      kind: 'error',
      code: '607',
      count: 1,
      path: 'file.json',
    });
    const err = await download(filePath(fileId)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PausedUntil);
    expect(err).toMatchObject({ reason: 'quota_exhausted', scope: 'instance' });
    expect(Math.abs((err as PausedUntil).resetAt - nextChicagoMidnight(Date.now()))).toBeLessThan(5_000);
    expect(inFlight()).toBe(0);
  });
});
