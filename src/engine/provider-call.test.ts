import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../server/testing.ts';
import { connectNew, counters } from '../server/routes/connections/test-helpers.ts';
import { getConnection, type ConnectionWithCredentials } from '../db/connections.ts';
import { nextChicagoMidnight } from '../marketo/limits.ts';
import { PausedUntil, providerCall, ProviderCallError } from './provider-call.ts';

/**
 * `providerCall` (Tether's own calls to Marketo, e.g. syncs) against a real sandbox: parsed answers,
 * Marketo error envelopes handed back, token refresh and replay, retries, the quota and budget pauses,
 * long GETs, aborts.
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
