import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../server/testing.ts';
import { ApiCallError, DashboardApi } from './api.ts';
import { freePort } from '../../e2e/helpers.ts';

/** The dashboard's API client in node, against a real Tether and the sandbox (nothing mocked). */
describe('DashboardApi', () => {
  let t: TestTether;
  let api: DashboardApi;
  let connectionId: string;
  /** Every path the client asked for. */
  const paths: string[] = [];

  async function failure(p: Promise<unknown>) {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiCallError);
    return (err as ApiCallError).failure;
  }

  beforeAll(async () => {
    t = await startTestTether();
    api = new DashboardApi({
      baseUrl: t.url,
      getKey: () => t.secretKey,
      fetch: (input, init) => {
        paths.push(new URL(String(input)).pathname);
        return fetch(input, init);
      },
    });
    const res = await t.connect(await t.session({ end_user: { id: 'dash-user', email: 'd@example.com' } }));
    expect(res.status).toBe(200);
    connectionId = ((await res.json()) as { connectionId: string }).connectionId;
  });
  afterAll(async () => {
    await t.close();
  });

  it('checks the key, with the API message for a wrong one', async () => {
    await api.checkKey();
    const wrong = new DashboardApi({ baseUrl: t.url, getKey: () => crypto.randomUUID() });
    expect(await failure(wrong.checkKey())).toMatchObject({ status: 401, code: 'unknown_account' });
    const malformed = new DashboardApi({ baseUrl: t.url, getKey: () => 'nope' });
    expect(await failure(malformed.checkKey())).toMatchObject({
      status: 401,
      code: 'invalid_secret_key_format',
    });
  });

  it('lists integrations, counts and connections (searched by id)', async () => {
    expect(await api.integrations()).toEqual([
      { uniqueKey: 'marketo', provider: 'marketo', displayName: 'Marketo' },
    ]);
    expect(await api.connectionCount('marketo')).toBe(1);
    const page = await api.connections('', 0);
    expect(page.more).toBe(false);
    expect(page.items).toMatchObject([
      { connectionId, integration: 'marketo', endUserId: 'dash-user', endUserEmail: 'd@example.com' },
    ]);
    expect((await api.connections(connectionId.slice(3, 12).toUpperCase(), 0)).items).toHaveLength(1);
    expect((await api.connections('no-such-id', 0)).items).toEqual([]);
  });

  it('reads a connection without its credentials, and its usage, limits, requests, syncs', async () => {
    const ref = { integration: 'marketo', connectionId };
    const identityCalls = async () =>
      (
        await t.sandbox.control<{ identityCalls: number }>(
          'GET',
          `/instances/${t.sandbox.munchkinId}/counters`,
        )
      ).body.identityCalls;
    const callsBefore = await identityCalls();
    const detail = await api.connection(ref);
    expect(detail.config.map(([k]) => k)).toEqual(['endpointURL', 'identityURL']);
    expect(detail.credentials).toMatchObject({ type: 'OAUTH2_CC', expired: false, lastRefreshError: null });
    expect(detail.credentials.expiresAt).not.toBeNull();
    expect(JSON.stringify(detail)).not.toContain(t.sandbox.clientSecret);
    // Read through the overview: no identity call (GET /connections/{id} may renew the token).
    expect(await identityCalls()).toBe(callsBefore);
    expect(paths).toContain(`/connections/${connectionId}/overview`);
    expect(paths).not.toContain(`/connections/${connectionId}`);
    const usage = await api.usage(ref);
    expect(usage.day).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const limits = await api.limits(ref);
    expect(limits.budget?.limit).toBeGreaterThan(0);
    expect(await api.requests(ref)).toEqual([]);
    const syncs = await api.syncs(ref);
    expect(syncs.map((s) => s.name)).toContain('lead-fields');
    await api.syncAction(
      ref,
      syncs.find((s) => s.name === 'lead-fields')!,
      'pause',
    );
    expect((await api.syncs(ref)).find((s) => s.name === 'lead-fields')!.status).toBe('PAUSED');
    await api.syncAction(
      ref,
      syncs.find((s) => s.name === 'lead-fields')!,
      'start',
    );
    expect(await api.runs(ref)).toEqual([]);
    expect(await failure(api.runLogs(ref, '999999'))).toMatchObject({
      status: 404,
      code: 'unknown_sync_run',
    });
    expect(await failure(api.connection({ integration: 'marketo', connectionId: 'nope' }))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('creates a Connect link, and explains refused input', async () => {
    const link = await api.createConnectLink('marketo', {
      id: 'new-user',
      email: 'n@example.com',
      displayName: 'N',
    });
    expect(link.connectLink).toMatch(new RegExp(`^${t.url}/connect/\\?session_token=`));
    expect(Date.parse(link.expiresAt!)).toBeGreaterThan(Date.now());
    const bad = await failure(api.createConnectLink('nope', { id: 'x' }));
    expect(bad).toMatchObject({ status: 400, code: 'invalid_body', message: 'Integration does not exist' });
  });

  it('turns an unreachable Tether into a network_error', async () => {
    const down = new DashboardApi({ baseUrl: `http://127.0.0.1:${await freePort()}`, getKey: () => 'k' });
    expect(await failure(down.integrations())).toMatchObject({ status: 0, code: 'network_error' });
  });
});
