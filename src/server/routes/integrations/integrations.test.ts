import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../testing.ts';
import { AUTH_CODES, authFailures, connectNew, getConn } from '../connections/test-helpers.ts';

/** Integrations API over real HTTP: list, get (with include), create, update, delete. */

type Json = Record<string, unknown>;
type ErrorBody = {
  error: { code: string; message?: string; errors?: { message: string; path: string[] }[] };
};

async function json<T = Json>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

const INTEGRATION_KEYS = [
  'unique_key',
  'provider',
  'display_name',
  'logo',
  'forward_webhooks',
  'created_at',
  'updated_at',
].sort();

describe('integrations API', () => {
  let t: TestTether;
  beforeAll(async () => {
    t = await startTestTether();
  });
  afterAll(() => t.close());

  it.each([
    ['GET', '/integrations/marketo'],
    ['POST', '/integrations'],
    ['PATCH', '/integrations/marketo'],
    ['DELETE', '/integrations/marketo'],
    ['GET', '/integrations'],
  ])('%s %s answers the 401 codes of auth.ts', async (method, path) => {
    const results = await authFailures(t, method, path);
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(results.map((r) => r.code)).toEqual(AUTH_CODES);
  });

  it.each([
    ['POST', '/integrations'],
    ['PATCH', '/integrations/marketo'],
    ['DELETE', '/integrations/marketo'],
  ])('%s %s refuses a connect session token', async (method, path) => {
    const token = await t.session();
    const res = await t.api(path, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(method === 'DELETE' ? {} : { json: {} }),
    });
    expect(res.status).toBe(401);
  });

  describe('GET /integrations/{uniqueKey}', () => {
    it('answers {data} in ApiPublicIntegration shape', async () => {
      const res = await t.api('/integrations/marketo');
      expect(res.status).toBe(200);
      const { data } = await json<{ data: Json }>(res);
      expect(Object.keys(data).sort()).toEqual(INTEGRATION_KEYS);
      expect(data).toMatchObject({
        unique_key: 'marketo',
        provider: 'marketo',
        display_name: 'Marketo',
        logo: `${t.url}/images/template-logos/marketo.svg`,
        forward_webhooks: true,
      });
      expect(data.created_at).toMatch(/Z$/);
    });

    it('include=webhook and/or credentials add webhook_url and credentials (null for Marketo)', async () => {
      const w = await json<{ data: Json }>(await t.api('/integrations/marketo?include=webhook'));
      expect(w.data.webhook_url).toBeNull();
      expect('credentials' in w.data).toBe(false);
      const c = await json<{ data: Json }>(await t.api('/integrations/marketo?include=credentials'));
      expect(c.data.credentials).toBeNull();
      expect('webhook_url' in c.data).toBe(false);
      const both = await json<{ data: Json }>(
        await t.api('/integrations/marketo?include=webhook&include=credentials'),
      );
      expect(both.data).toMatchObject({ webhook_url: null, credentials: null });
    });

    it.each(['?include=secrets', '?include=', '?other=1', '?include[a]=webhook'])(
      '%s → 400 invalid_query_params',
      async (query) => {
        const res = await t.api(`/integrations/marketo${query}`);
        expect(res.status).toBe(400);
        expect((await json<ErrorBody>(res)).error.code).toBe('invalid_query_params');
      },
    );

    it('unknown → 404 not_found; a bad key → 400 invalid_uri_params', async () => {
      const res = await t.api('/integrations/nope');
      expect(res.status).toBe(404);
      expect(await json(res)).toEqual({
        error: { code: 'not_found', message: 'Integration "nope" does not exist' },
      });
      const bad = await t.api('/integrations/bad%3Ckey');
      expect(bad.status).toBe(400);
      expect((await json<ErrorBody>(bad)).error.code).toBe('invalid_uri_params');
      const long = await t.api(`/integrations/${'k'.repeat(256)}`);
      expect(long.status).toBe(400);
    });

    it('with a connect session: allowed integrations only, no include', async () => {
      const token = await t.session({ end_user: { id: 'u' }, allowed_integrations: ['marketo'] });
      const headers = { authorization: `Bearer ${token}` };
      const ok = await t.api('/integrations/marketo', { headers });
      expect(ok.status).toBe(200);
      const inc = await t.api('/integrations/marketo?include=credentials', { headers });
      expect(inc.status).toBe(403);
      expect((await json<ErrorBody>(inc)).error.code).toBe('invalid_permissions');
      await t.api('/integrations', { method: 'POST', json: { provider: 'marketo', unique_key: 'hidden' } });
      const hidden = await t.api('/integrations/hidden', { headers });
      expect(hidden.status).toBe(404);
      const del = await t.api('/integrations/hidden', { method: 'DELETE' });
      expect(del.status).toBe(200);
    });
  });

  describe('POST /integrations', () => {
    it('creates an integration: 200 {data}, listed, usable for connections', async () => {
      const res = await t.api('/integrations', {
        method: 'POST',
        json: {
          provider: 'marketo',
          unique_key: 'marketo-eu',
          display_name: 'Marketo EU',
          forward_webhooks: false,
        },
      });
      expect(res.status).toBe(200);
      const { data } = await json<{ data: Json }>(res);
      expect(Object.keys(data).sort()).toEqual(INTEGRATION_KEYS);
      expect(data).toMatchObject({
        unique_key: 'marketo-eu',
        provider: 'marketo',
        display_name: 'Marketo EU',
        forward_webhooks: false,
      });
      const list = await json<{ data: Json[] }>(await t.api('/integrations'));
      expect(list.data.map((i) => i.unique_key)).toEqual(['marketo', 'marketo-eu']);

      const token = await t.session({ end_user: { id: 'u' }, allowed_integrations: ['marketo-eu'] });
      const q = new URLSearchParams({
        connect_session_token: token,
        'params[endpointURL]': t.sandbox.endpoint,
        'params[identityURL]': t.sandbox.identity,
      });
      const connected = await fetch(`${t.url}/oauth2/auth/marketo-eu?${q}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: t.sandbox.clientId, client_secret: t.sandbox.clientSecret }),
      });
      expect(connected.status).toBe(200);
      const { connectionId } = await json<{ connectionId: string }>(connected);
      expect((await getConn(t, connectionId, { key: 'marketo-eu' })).status).toBe(200);
    });

    it('display_name defaults to the provider name; forward_webhooks to true', async () => {
      const res = await t.api('/integrations', {
        method: 'POST',
        json: { provider: 'marketo', unique_key: 'plain' },
      });
      expect(res.status).toBe(200);
      expect((await json<{ data: Json }>(res)).data).toMatchObject({
        display_name: 'Marketo',
        forward_webhooks: true,
      });
    });

    it('an unknown provider → 400 invalid_body "Invalid provider"', async () => {
      const res = await t.api('/integrations', {
        method: 'POST',
        json: { provider: 'salesforce', unique_key: 'sf' },
      });
      expect(res.status).toBe(400);
      const body = await json<ErrorBody>(res);
      expect(body.error.code).toBe('invalid_body');
      expect(body.error.errors).toEqual([
        { code: 'invalid_string', message: 'Invalid provider', path: ['provider'] },
      ]);
    });

    it('a duplicate unique key → 400 invalid_body "Unique key already exists"', async () => {
      const res = await t.api('/integrations', {
        method: 'POST',
        json: { provider: 'marketo', unique_key: 'marketo' },
      });
      expect(res.status).toBe(400);
      const body = await json<ErrorBody>(res);
      expect(body.error.code).toBe('invalid_body');
      expect(body.error.errors?.[0]?.message).toBe('Unique key already exists');
    });

    it('credentials of another auth mode → 400 incompatible', async () => {
      const res = await t.api('/integrations', {
        method: 'POST',
        json: {
          provider: 'marketo',
          unique_key: 'with-creds',
          credentials: { type: 'OAUTH2', client_id: 'a', client_secret: 'b' },
        },
      });
      expect(res.status).toBe(400);
      expect(await json(res)).toEqual({
        error: { code: 'invalid_body', message: 'incompatible credentials auth type and provider auth' },
      });
    });

    it.each([
      ['no provider', { unique_key: 'x' }],
      ['no unique_key', { provider: 'marketo' }],
      ['a bad unique_key', { provider: 'marketo', unique_key: 'a/b' }],
      ['an over-long unique_key', { provider: 'marketo', unique_key: 'k'.repeat(256) }],
      ['an empty display_name', { provider: 'marketo', unique_key: 'x', display_name: '' }],
      ['an over-long display_name', { provider: 'marketo', unique_key: 'x', display_name: 'd'.repeat(256) }],
      ['a string forward_webhooks', { provider: 'marketo', unique_key: 'x', forward_webhooks: 'yes' }],
      ['an unknown field', { provider: 'marketo', unique_key: 'x', custom: {} }],
      ['unknown credentials', { provider: 'marketo', unique_key: 'x', credentials: { type: 'OAUTH2_CC' } }],
      ['no body', undefined],
    ])('%s → 400 invalid_body', async (_what, body) => {
      const res = await t.api('/integrations', {
        method: 'POST',
        ...(body === undefined ? {} : { json: body }),
      });
      expect(res.status).toBe(400);
      expect((await json<ErrorBody>(res)).error.code).toBe('invalid_body');
    });

    it('bad JSON → 400 invalid_json; text → 415; a query string → 400', async () => {
      const bad = await t.api('/integrations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{',
      });
      expect(bad.status).toBe(400);
      expect((await json<ErrorBody>(bad)).error.code).toBe('invalid_json');
      const text = await t.api('/integrations', {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(text.status).toBe(415);
      const q = await t.api('/integrations?x=1', {
        method: 'POST',
        json: { provider: 'marketo', unique_key: 'qq' },
      });
      expect(q.status).toBe(400);
      expect((await json<ErrorBody>(q)).error.code).toBe('invalid_query_params');
      const big = await t.api('/integrations', {
        method: 'POST',
        json: { provider: 'marketo', unique_key: 'big', display_name: 'x'.repeat(1_100_000) },
      });
      expect(big.status).toBe(413);
    });
  });

  describe('PATCH /integrations/{uniqueKey}', () => {
    it('updates display_name and forward_webhooks, and renames an integration without connections', async () => {
      await t.api('/integrations', { method: 'POST', json: { provider: 'marketo', unique_key: 'p1' } });
      const res = await t.api('/integrations/p1', {
        method: 'PATCH',
        json: { display_name: 'Renamed', forward_webhooks: false, unique_key: 'p2' },
      });
      expect(res.status).toBe(200);
      expect((await json<{ data: Json }>(res)).data).toMatchObject({
        unique_key: 'p2',
        display_name: 'Renamed',
        forward_webhooks: false,
      });
      expect((await t.api('/integrations/p1')).status).toBe(404);
      expect((await t.api('/integrations/p2')).status).toBe(200);
      const same = await t.api('/integrations/p2', { method: 'PATCH', json: { unique_key: 'p2' } });
      expect(same.status).toBe(200);
      const empty = await t.api('/integrations/p2', { method: 'PATCH', json: {} });
      expect(empty.status).toBe(200);
    });

    it('refuses a key in use, a rename with connections, incompatible credentials, unknown keys', async () => {
      const taken = await t.api('/integrations/p2', { method: 'PATCH', json: { unique_key: 'marketo' } });
      expect(taken.status).toBe(400);
      expect((await json<ErrorBody>(taken)).error.message).toBe(
        'uniqueKey is already used by another integration',
      );
      await connectNew(t);
      const rename = await t.api('/integrations/marketo', {
        method: 'PATCH',
        json: { unique_key: 'marketo-new' },
      });
      expect(rename.status).toBe(400);
      expect((await json<ErrorBody>(rename)).error.message).toBe(
        "Can't rename an integration with active connections",
      );
      const creds = await t.api('/integrations/p2', {
        method: 'PATCH',
        json: { credentials: { type: 'OAUTH1', client_id: 'a', client_secret: 'b' } },
      });
      expect(creds.status).toBe(400);
      const unknown = await t.api('/integrations/p2', { method: 'PATCH', json: { provider: 'x' } });
      expect(unknown.status).toBe(400);
      expect((await json<ErrorBody>(unknown)).error.code).toBe('invalid_body');
      const wrongType = await t.api('/integrations/p2', { method: 'PATCH', json: { display_name: 5 } });
      expect(wrongType.status).toBe(400);
      const missing = await t.api('/integrations/nope', { method: 'PATCH', json: {} });
      expect(missing.status).toBe(404);
      expect((await json<ErrorBody>(missing)).error.code).toBe('not_found');
      const q = await t.api('/integrations/p2?x=1', { method: 'PATCH', json: {} });
      expect(q.status).toBe(400);
      const badJson = await t.api('/integrations/p2', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: '[',
      });
      expect((await json<ErrorBody>(badJson)).error.code).toBe('invalid_json');
    });
  });

  describe('DELETE /integrations/{uniqueKey}', () => {
    it('deletes the integration and its connections; then 404', async () => {
      await t.api('/integrations', { method: 'POST', json: { provider: 'marketo', unique_key: 'gone' } });
      const token = await t.session({ end_user: { id: 'u' }, allowed_integrations: ['gone'] });
      const q = new URLSearchParams({
        connect_session_token: token,
        'params[endpointURL]': t.sandbox.endpoint,
        'params[identityURL]': t.sandbox.identity,
      });
      const connected = await fetch(`${t.url}/oauth2/auth/gone?${q}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: t.sandbox.clientId, client_secret: t.sandbox.clientSecret }),
      });
      expect(connected.status).toBe(200);

      const res = await t.api('/integrations/gone', { method: 'DELETE' });
      expect(res.status).toBe(200);
      expect(await json(res)).toEqual({ success: true });
      expect((await t.api('/integrations/gone')).status).toBe(404);
      const list = await json<{ connections: Json[] }>(await t.api('/connections?integrationId=gone'));
      expect(list.connections).toEqual([]);
      const again = await t.api('/integrations/gone', { method: 'DELETE' });
      expect(again.status).toBe(404);
      expect(await json(again)).toEqual({
        error: { code: 'not_found', message: 'Integration does not exist' },
      });
      const q2 = await t.api('/integrations/marketo?x=1', { method: 'DELETE' });
      expect(q2.status).toBe(400);
      expect((await json<ErrorBody>(q2)).error.code).toBe('invalid_query_params');
    });
  });
});
