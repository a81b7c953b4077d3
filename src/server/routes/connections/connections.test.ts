import { createHash, createHmac } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../testing.ts';
import {
  advanceClocks,
  advanceTetherClock,
  AUTH_CODES,
  authFailures,
  captureLogs,
  connectNew,
  counters,
  getConn,
  marketoGet,
  startReceiver,
  startTetherWithReceiver,
  type Credentials,
  type Receiver,
  type ReceivedHook,
} from './test-helpers.ts';

/**
 * Connections API over real HTTP against a real Tether and a real Marketo sandbox: list, get (with
 * token refresh), patch, delete, metadata, auth webhooks, and where secrets may (not) appear.
 */

type Json = Record<string, unknown>;
type ErrorBody = { error: { code: string; message?: string; errors?: unknown[]; payload?: Json } };

const ROUTES: [string, string][] = [
  ['GET', '/connections'],
  ['GET', '/connection'],
  ['GET', '/connections/abc?provider_config_key=marketo'],
  ['GET', '/connection/abc?provider_config_key=marketo'],
  ['PATCH', '/connections/abc?provider_config_key=marketo'],
  ['DELETE', '/connections/abc?provider_config_key=marketo'],
  ['POST', '/connections/metadata'],
  ['PATCH', '/connections/metadata'],
];

async function json<T = Json>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

function verifySignatures(hook: ReceivedHook, key: string): void {
  expect(hook.headers['x-nango-signature']).toBe(
    createHash('sha256').update(`${key}${hook.body}`).digest('hex'),
  );
  expect(hook.headers['x-nango-hmac-sha256']).toBe(createHmac('sha256', key).update(hook.body).digest('hex'));
}

describe('connections: auth and input handling', () => {
  let t: TestTether;
  let id: string;
  beforeAll(async () => {
    t = await startTestTether();
    id = await connectNew(t);
  });
  afterAll(() => t.close());

  it.each(ROUTES)('%s %s answers the 401 codes of auth.ts', async (method, path) => {
    const results = await authFailures(t, method, path);
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(results.map((r) => r.code)).toEqual(AUTH_CODES);
  });

  it.each(ROUTES)('%s %s refuses a connect session token', async (method, path) => {
    const token = await t.session();
    const res = await t.api(path, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(method === 'GET' || method === 'DELETE' ? {} : { json: {} }),
    });
    expect(res.status).toBe(401);
    expect((await json<ErrorBody>(res)).error.code).toBe('invalid_secret_key_format');
  });

  it('accepts the headers the SDK adds to every call', async () => {
    const res = await t.api('/connections', {
      headers: {
        'content-type': 'application/json',
        'nango-is-sync': 'false',
        'nango-is-script': 'false',
        'nango-is-dry-run': 'false',
        'user-agent': 'nango-node-client/0.71.10 (linux/6.0; node.js/20.19.0)',
      },
    });
    expect(res.status).toBe(200);
  });

  it.each([
    ['PATCH', `/connections/ID?provider_config_key=marketo`],
    ['POST', '/connections/metadata'],
    ['PATCH', '/connections/metadata'],
  ])('%s %s: malformed JSON → 400 invalid_json, text body → 415', async (method, rawPath) => {
    const path = rawPath.replace('ID', id);
    const bad = await t.api(path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: '{"metadata":',
    });
    expect(bad.status).toBe(400);
    expect((await json<ErrorBody>(bad)).error.code).toBe('invalid_json');
    const text = await t.api(path, { method, headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect((await json<ErrorBody>(text)).error.code).toBe('invalid_content_type');
  });

  it.each([
    ['PATCH', `/connections/ID?provider_config_key=marketo`],
    ['POST', '/connections/metadata'],
  ])('%s %s: a body over 1 MiB → 413', async (method, rawPath) => {
    const res = await t.api(rawPath.replace('ID', id), {
      method,
      json: { metadata: { big: 'x'.repeat(1_100_000) }, connection_id: id, provider_config_key: 'marketo' },
    });
    expect(res.status).toBe(413);
    expect((await json<ErrorBody>(res)).error.code).toBe('payload_too_large');
  });

  it('unknown routes and methods answer JSON errors', async () => {
    const put = await t.api(`/connections/${id}?provider_config_key=marketo`, { method: 'PUT', json: {} });
    expect(put.status).toBe(405);
    expect((await json<ErrorBody>(put)).error.code).toBe('method_not_allowed');
  });
});

describe('GET /connections', () => {
  let t: TestTether;
  let a: string;
  let b: string;
  beforeAll(async () => {
    t = await startTestTether();
    a = await connectNew(t, {
      end_user: { id: 'u-a', email: 'ann@example.com', display_name: 'Ann' },
      organization: { id: 'org-1', display_name: 'Org One' },
      tags: { team: 'red' },
    });
    b = await connectNew(t, { end_user: { id: 'u-b' }, tags: { team: 'blue', Region: 'EU' } });
  });
  afterAll(() => t.close());

  const ids = async (query: string, path = '/connections') => {
    const res = await t.api(`${path}${query}`);
    expect(res.status).toBe(200);
    const body = await json<{ connections: { connection_id: string }[] }>(res);
    return body.connections.map((c) => c.connection_id);
  };

  it('lists every connection, newest first, in the list-item shape without credentials', async () => {
    const res = await t.api('/connections');
    expect(res.status).toBe(200);
    const body = await json<{ connections: Json[] }>(res);
    expect(body.connections.map((c) => c.connection_id)).toEqual([b, a]);
    const item = body.connections[1]!;
    expect(Object.keys(item).sort()).toEqual(
      [
        'id',
        'connection_id',
        'provider_config_key',
        'provider',
        'errors',
        'end_user',
        'tags',
        'metadata',
        'created',
      ].sort(),
    );
    expect(item).toMatchObject({
      provider_config_key: 'marketo',
      provider: 'marketo',
      errors: [],
      end_user: {
        id: 'u-a',
        email: 'ann@example.com',
        display_name: 'Ann',
        organization: { id: 'org-1', display_name: 'Org One' },
      },
      tags: { team: 'red' },
      metadata: null,
    });
    expect(typeof item.id).toBe('number');
    expect(item.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const text = JSON.stringify(body);
    expect(text).not.toContain(t.sandbox.clientSecret);
    expect(text).not.toContain('credentials');
  });

  it('filters like the SDK asks (object form)', async () => {
    expect(await ids(`?connectionId=${a}`)).toEqual([a]);
    expect(await ids('?endUserId=u-b')).toEqual([b]);
    expect(await ids('?integrationId=marketo')).toEqual([b, a]);
    expect(await ids('?integrationId=other,marketo')).toEqual([b, a]);
    expect(await ids('?integrationId=other')).toEqual([]);
    expect(await ids('?tags[team]=red')).toEqual([a]);
    expect(await ids('?tags[region]=EU')).toEqual([b]);
    expect(await ids('?tags[team]=red&tags[region]=EU')).toEqual([]);
    expect(await ids('?tags[end_user_email]=ann%40example.com')).toEqual([a]);
    expect(await ids('?tags[end_user_display_name]=Ann')).toEqual([a]);
    expect(await ids('?limit=1')).toEqual([b]);
    expect(await ids('?limit=1&page=1')).toEqual([a]);
    expect(await ids('?limit=1&page=2')).toEqual([]);
    expect(await ids('?limit=2000&page=0')).toEqual([b, a]);
  });

  it('filters like the SDK asks (legacy form and path)', async () => {
    expect(await ids(`?search=${a.slice(0, 8).toUpperCase()}`)).toEqual([a]);
    expect(await ids('?endUserOrganizationId=org-1')).toEqual([a]);
    expect(await ids('?endUserOrganizationId=org-2')).toEqual([]);
    expect(await ids('', '/connection')).toEqual([b, a]);
    expect(await ids(`?connectionId=${b}`, '/connection')).toEqual([b]);
  });

  it.each([
    '?unknown=1',
    '?limit=0',
    '?limit=2001',
    '?limit=abc',
    '?limit=-1',
    '?page=-1',
    '?page=1.5',
    '?connectionId=a&connectionId=b',
    '?connectionId=',
    `?search=${'x'.repeat(256)}`,
    '?tags=plain',
    `?tags[${'k'.repeat(65)}]=v`,
    `?integrationId=${'x'.repeat(2049)}`,
  ])('GET /connections%s → 400 invalid_query_params', async (query) => {
    const res = await t.api(`/connections${query}`);
    expect(res.status).toBe(400);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe('invalid_query_params');
    expect(Array.isArray(body.error.errors)).toBe(true);
  });
});

describe('GET /connections/{id}', () => {
  let t: TestTether;
  let id: string;
  beforeAll(async () => {
    t = await startTestTether();
    id = await connectNew(t, { end_user: { id: 'u1' }, tags: { k: 'v' } });
  });
  afterAll(() => t.close());

  it('answers the full connection with OAUTH2_CC credentials whose token works on Marketo', async () => {
    const { status, body } = await getConn(t, id);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      connection_id: id,
      provider_config_key: 'marketo',
      provider: 'marketo',
      errors: [],
      end_user: { id: 'u1' },
      tags: { k: 'v' },
      metadata: null,
      webhook_url_override: null,
    });
    for (const k of ['created_at', 'updated_at', 'last_fetched_at']) {
      expect(body[k]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    }
    const creds = body.credentials as Credentials;
    expect(Object.keys(creds)).toEqual(['type', 'token', 'expires_at', 'client_id', 'client_secret', 'raw']);
    expect(creds.type).toBe('OAUTH2_CC');
    expect(creds.client_id).toBe(t.sandbox.clientId);
    expect(creds.client_secret).toBe(t.sandbox.clientSecret);
    expect(creds.expires_at).toMatch(/Z$/);
    expect(Date.parse(creds.expires_at)).toBeGreaterThan(Date.now() + 3000_000);
    expect(creds.raw).toMatchObject({ access_token: creds.token, token_type: 'bearer' });
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', creds.token)).success).toBe(true);
  });

  it('reuses a valid token without calling the identity endpoint, and records last_fetched_at', async () => {
    const first = await getConn(t, id);
    const before = await counters(t);
    await new Promise((r) => setTimeout(r, 5));
    const second = await getConn(t, id);
    expect((second.body.credentials as Credentials).token).toBe(
      (first.body.credentials as Credentials).token,
    );
    expect((await counters(t)).identityCalls).toBe(before.identityCalls);
    expect(Date.parse(String(second.body.last_fetched_at))).toBeGreaterThan(
      Date.parse(String(first.body.last_fetched_at)),
    );
  });

  it('force_refresh=true gets a fresh token after the sandbox expired the old one', async () => {
    const old = (await getConn(t, id)).body.credentials as Credentials;
    const expired = await t.sandbox.control('POST', `/instances/${t.sandbox.munchkinId}/tokens/expire`, {});
    expect(expired.status).toBe(200);
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', old.token)).success).toBe(false);
    const { status, body } = await getConn(t, id, { force: true });
    expect(status).toBe(200);
    const fresh = body.credentials as Credentials;
    expect(fresh.token).not.toBe(old.token);
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', fresh.token)).success).toBe(true);
  });

  it('refreshes by itself once the token expired (sandbox and Tether clocks moved 3700 s)', async () => {
    const old = (await getConn(t, id)).body.credentials as Credentials;
    await advanceClocks(t, 3700);
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', old.token)).success).toBe(false);
    const before = await counters(t);
    const { status, body } = await getConn(t, id);
    expect(status).toBe(200);
    const fresh = body.credentials as Credentials;
    expect(fresh.token).not.toBe(old.token);
    expect((await counters(t)).identityCalls).toBe(before.identityCalls + 1);
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', fresh.token)).success).toBe(true);
  });

  it('concurrent GETs on an expired token make exactly one identity call', async () => {
    await advanceClocks(t, 3700);
    await t.sandbox.control('DELETE', `/instances/${t.sandbox.munchkinId}/counters`);
    const results = await Promise.all(Array.from({ length: 12 }, () => getConn(t, id)));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
    const tokens = new Set(results.map((r) => (r.body.credentials as Credentials).token));
    expect(tokens.size).toBe(1);
    expect(await counters(t)).toMatchObject({ identityCalls: 1, tokensIssued: 1 });
  });

  it('concurrent forced refreshes share one identity call', async () => {
    await t.sandbox.control('DELETE', `/instances/${t.sandbox.munchkinId}/counters`);
    const results = await Promise.all(Array.from({ length: 8 }, () => getConn(t, id, { force: true })));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect((await counters(t)).identityCalls).toBe(1);
  });

  it('the legacy path answers the same', async () => {
    const res = await t.api(`/connection/${id}?provider_config_key=marketo`);
    expect(res.status).toBe(200);
    expect((await json(res)).connection_id).toBe(id);
  });

  it.each([
    ['no provider_config_key', '?force_refresh=false', 400, 'invalid_query_params'],
    ['an unknown key', '?provider_config_key=marketo&foo=bar', 400, 'invalid_query_params'],
    ['a non-boolean', '?provider_config_key=marketo&force_refresh=maybe', 400, 'invalid_query_params'],
    ['a repeated key', '?provider_config_key=marketo&provider_config_key=x', 400, 'invalid_query_params'],
    ['a bad key', '?provider_config_key=mark%3Cto', 400, 'invalid_query_params'],
    ['a long key', `?provider_config_key=${'m'.repeat(256)}`, 400, 'invalid_query_params'],
    ['an unknown integration', '?provider_config_key=nope', 400, 'unknown_provider_config'],
  ])('%s → %i %s', async (_what, query, status, code) => {
    const res = await t.api(`/connections/${id}${query}`);
    expect(res.status).toBe(status);
    expect((await json<ErrorBody>(res)).error.code).toBe(code);
  });

  it('unknown integration and unknown connection answer Nango messages', async () => {
    const i = await t.api(`/connections/${id}?provider_config_key=nope`);
    expect(await json(i)).toEqual({
      error: { code: 'unknown_provider_config', message: 'Provider does not exists' },
    });
    const c = await getConn(t, 'does-not-exist');
    expect(c.status).toBe(404);
    expect(c.body).toEqual({ error: { code: 'not_found', message: 'Failed to find connection' } });
  });

  it.each([
    ['a forbidden character', '%3Cscript%3E'],
    ['an id over 255 characters', 'x'.repeat(256)],
    ['malformed percent-encoding', '%E0%A4%A'],
  ])('a connection id with %s → 400 invalid_uri_params', async (_what, raw) => {
    const res = await t.api(`/connections/${raw}?provider_config_key=marketo`);
    expect(res.status).toBe(400);
    expect((await json<ErrorBody>(res)).error.code).toBe('invalid_uri_params');
  });
});

describe('refresh failures: revoked credentials, back-off, exhaustion, webhooks', () => {
  let receiver: Receiver;
  let t: TestTether;
  let id: string;
  let logs: string[];
  const service = () => `/instances/${t.sandbox.munchkinId}/services/${t.sandbox.clientId}`;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver);
    logs = captureLogs(t);
    id = await connectNew(t, { end_user: { id: 'u-r', email: 'r@example.com' }, tags: { plan: 'pro' } });
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it('revoked → 400 invalid_credentials with the connection (no credentials) as payload', async () => {
    const token = ((await getConn(t, id)).body.credentials as Credentials).token;
    expect((await t.sandbox.control('POST', `${service()}/revoke`)).status).toBe(200);
    const before = await counters(t);
    const { status, body } = await getConn(t, id, { force: true });
    expect(status).toBe(400);
    const error = (body as ErrorBody).error;
    expect(error.code).toBe('invalid_credentials');
    expect(error.message).toMatch(/refresh/i);
    const conn = error.payload!.connection as Json;
    expect(conn).toMatchObject({ connection_id: id, provider_config_key: 'marketo', credentials: {} });
    expect(conn.errors).toEqual([{ type: 'auth', log_id: expect.any(String) }]);
    expect((await counters(t)).identityCalls).toBe(before.identityCalls + 1);
    const text = JSON.stringify(body);
    expect(text).not.toContain(t.sandbox.clientSecret);
    expect(text).not.toContain(token);
  });

  it('the list shows errors [{type: "auth"}]', async () => {
    const res = await t.api(`/connections?connectionId=${id}`);
    const body = await json<{ connections: Json[] }>(res);
    expect(body.connections[0]!.errors).toEqual([{ type: 'auth', log_id: expect.any(String) }]);
  });

  it('sends the refresh-failure auth webhook, signed with the environment signing key', async () => {
    const hook = await receiver.waitFor((h) => h.json.operation === 'refresh');
    expect(hook.json).toMatchObject({
      from: 'nango',
      type: 'auth',
      connectionId: id,
      providerConfigKey: 'marketo',
      provider: 'marketo',
      authMode: 'OAUTH2_CC',
      environment: 'dev',
      operation: 'refresh',
      success: false,
      endUser: { endUserId: 'u-r', endUserEmail: 'r@example.com' },
      tags: { plan: 'pro' },
      error: { type: 'refresh_token_external_error', description: expect.any(String) },
    });
    expect(hook.headers['content-type']).toBe('application/json');
    verifySignatures(hook, t.tether.deps.store.environment.webhookSigningKey);
    expect(hook.body).not.toContain(t.sandbox.clientSecret);
  });

  it('a second GET within 30 s → 424 connection_refresh_backoff, without an identity call', async () => {
    const before = await counters(t);
    const { status, body } = await getConn(t, id);
    expect(status).toBe(424);
    expect((body as ErrorBody).error.code).toBe('connection_refresh_backoff');
    expect(((body as ErrorBody).error.payload!.connection as Json).credentials).toEqual({});
    expect((await counters(t)).identityCalls).toBe(before.identityCalls);
    expect(receiver.hooks.filter((h) => h.json.operation === 'refresh')).toHaveLength(1);
  });

  it('after the back-off, a plain GET still answers the unexpired token without an identity call', async () => {
    advanceTetherClock(t, 31_000);
    const before = await counters(t);
    const { status, body } = await getConn(t, id);
    expect(status).toBe(200);
    expect(body.errors).toEqual([{ type: 'auth', log_id: expect.any(String) }]);
    expect((await counters(t)).identityCalls).toBe(before.identityCalls);
  });

  it('once the token expired, a plain GET tries again (and fails again while revoked)', async () => {
    advanceTetherClock(t, 3700_000);
    const before = await counters(t);
    const { status, body } = await getConn(t, id);
    expect(status).toBe(400);
    expect((body as ErrorBody).error.code).toBe('invalid_credentials');
    expect((await counters(t)).identityCalls).toBe(before.identityCalls + 1);
  });

  it('restored credentials recover with force_refresh: errors cleared, a working token', async () => {
    expect((await t.sandbox.control('POST', `${service()}/restore`)).status).toBe(200);
    // Still in back-off for plain calls…
    expect((await getConn(t, id)).status).toBe(424);
    // …but a forced refresh goes through.
    const { status, body } = await getConn(t, id, { force: true });
    expect(status).toBe(200);
    expect(body.errors).toEqual([]);
    const creds = body.credentials as Credentials;
    expect((await marketoGet(t, '/rest/v1/leads/describe2.json', creds.token)).success).toBe(true);
    // A success ends the back-off at once.
    expect((await getConn(t, id)).status).toBe(200);
  });

  it('four failed days exhaust the connection: 424 connection_refresh_exhausted until a forced success', async () => {
    await t.sandbox.control('POST', `${service()}/revoke`);
    for (let day = 0; day < 4; day++) {
      advanceTetherClock(t, 86_400_000);
      const r = await getConn(t, id, { force: true });
      expect(r.status).toBe(400);
      expect((r.body as ErrorBody).error.code).toBe('invalid_credentials');
    }
    advanceTetherClock(t, 60_000);
    const before = await counters(t);
    const exhausted = await getConn(t, id);
    expect(exhausted.status).toBe(424);
    expect((exhausted.body as ErrorBody).error.code).toBe('connection_refresh_exhausted');
    expect((await counters(t)).identityCalls).toBe(before.identityCalls);
    await t.sandbox.control('POST', `${service()}/restore`);
    expect((await getConn(t, id, { force: true })).status).toBe(200);
    expect((await getConn(t, id)).status).toBe(200);
  });

  it('nothing logged carries the client secret or a token', async () => {
    const tokens = new Set<string>();
    tokens.add(((await getConn(t, id)).body.credentials as Credentials).token);
    const all = logs.join('');
    expect(all).toContain('token refresh failed');
    expect(all).not.toContain(t.sandbox.clientSecret);
    for (const token of tokens) expect(all).not.toContain(token);
  });
});

describe('auth webhooks on connect', () => {
  let receiver: Receiver;
  let t: TestTether;
  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTetherWithReceiver(receiver);
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it('a new connection sends "creation", a reconnect session "override", both signed', async () => {
    const id = await connectNew(t, {
      end_user: { id: 'u-w', email: 'w@example.com' },
      organization: { id: 'org-w' },
      tags: { a: 'b' },
    });
    const created = await receiver.waitFor((h) => h.json.connectionId === id);
    expect(created.json).toMatchObject({
      operation: 'creation',
      success: true,
      type: 'auth',
      from: 'nango',
      authMode: 'OAUTH2_CC',
      providerConfigKey: 'marketo',
      endUser: { endUserId: 'u-w', endUserEmail: 'w@example.com', organizationId: 'org-w' },
      tags: { a: 'b' },
    });
    // The signed body is stable-sorted compact JSON.
    expect(created.body.startsWith('{"authMode":"OAUTH2_CC","connectionId":')).toBe(true);
    verifySignatures(created, t.tether.deps.store.environment.webhookSigningKey);

    const res = await t.api('/connect/sessions/reconnect', {
      method: 'POST',
      json: { connection_id: id, integration_id: 'marketo' },
    });
    expect(res.status).toBe(201);
    const token = (await json<{ data: { token: string } }>(res)).data.token;
    const again = await t.connect(token);
    expect(again.status).toBe(200);
    expect((await json(again)).connectionId).toBe(id);
    const override = await receiver.waitFor((h) => h.json.operation === 'override');
    expect(override.json).toMatchObject({ connectionId: id, success: true, operation: 'override' });
    verifySignatures(override, t.tether.deps.store.environment.webhookSigningKey);
  });

  it('a session webhook_url_override gets the webhook instead of the environment URL', async () => {
    // Only the receiver this Tether was started with is allowlisted: use it under another path.
    const override = `http://127.0.0.1:${receiver.port}/override`;
    const id = await connectNew(t, { end_user: { id: 'u-o' }, webhook_url_override: override });
    const hook = await receiver.waitFor((h) => h.json.connectionId === id);
    expect(hook.json.operation).toBe('creation');
    expect(hook.path).toBe('/override');
    expect(receiver.hooks.filter((h) => h.json.connectionId === id)).toHaveLength(1);
    expect((await getConn(t, id)).body.webhook_url_override).toBe(override);
  });
});

describe('connect does not wait for webhook delivery', () => {
  let receiver: Receiver;
  let t: TestTether;
  beforeAll(async () => {
    receiver = await startReceiver({ delayMs: 2000 });
    t = await startTetherWithReceiver(receiver);
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it('answers long before a receiver that takes 2 s has answered', async () => {
    const token = await t.session();
    const started = Date.now();
    const res = await t.connect(token);
    const took = Date.now() - started;
    expect(res.status).toBe(200);
    expect(took).toBeLessThan(1500);
    const { connectionId } = await json<{ connectionId: string }>(res);
    const hook = await receiver.waitFor((h) => h.json.connectionId === connectionId);
    expect(hook.json.operation).toBe('creation');
  });
});

describe('PATCH and DELETE /connections/{id}', () => {
  let t: TestTether;
  let id: string;
  beforeAll(async () => {
    t = await startTestTether();
    id = await connectNew(t, {
      end_user: { id: 'u-p', email: 'p@example.com' },
      organization: { id: 'org-p', display_name: 'P Corp' },
      tags: { tier: 'gold' },
    });
  });
  afterAll(() => t.close());

  const patch = (body: unknown, query = '?provider_config_key=marketo', cid = id) =>
    t.api(`/connections/${cid}${query}`, { method: 'PATCH', json: body });

  it('updates the end user (organization kept), tags and webhook override', async () => {
    const res = await patch({
      end_user: { id: 'u-p2', display_name: 'Pat', tags: { role: 'admin' } },
      tags: { tier: 'silver', owner: 'pat' },
      webhook_url_override: 'https://hooks.example.com/tether',
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ success: true });
    const { body } = await getConn(t, id);
    expect(body.end_user).toEqual({
      id: 'u-p2',
      display_name: 'Pat',
      email: null,
      tags: { role: 'admin' },
      organization: { id: 'org-p', display_name: 'P Corp' },
    });
    expect(body.tags).toEqual({ tier: 'silver', owner: 'pat' });
    expect(body.webhook_url_override).toBe('https://hooks.example.com/tether');
    const list = await json<{ connections: Json[] }>(await t.api('/connections?tags[owner]=pat'));
    expect(list.connections.map((c) => c.connection_id)).toEqual([id]);
    expect(
      (await json<{ connections: Json[] }>(await t.api('/connections?tags[tier]=gold'))).connections,
    ).toEqual([]);
    expect(
      (await json<{ connections: Json[] }>(await t.api('/connections?endUserId=u-p2'))).connections,
    ).toHaveLength(1);
  });

  it('an empty string (or null) clears the webhook override; an empty body changes nothing', async () => {
    expect((await patch({ webhook_url_override: '' })).status).toBe(200);
    expect((await getConn(t, id)).body.webhook_url_override).toBeNull();
    expect((await patch({ webhook_url_override: 'https://hooks.example.com/x' })).status).toBe(200);
    expect((await patch({ webhook_url_override: null })).status).toBe(200);
    expect((await getConn(t, id)).body.webhook_url_override).toBeNull();
    expect((await patch({})).status).toBe(200);
    const empty = await t.api(`/connections/${id}?provider_config_key=marketo`, { method: 'PATCH' });
    expect(empty.status).toBe(200);
  });

  it.each([
    ['an unknown field', { foo: 1 }],
    ['a bad email', { end_user: { id: 'x', email: 'not-an-email' } }],
    ['an end user without id', { end_user: { email: 'a@b.co' } }],
    ['an unknown end-user field', { end_user: { id: 'x', phone: '1' } }],
    ['an over-long end-user id', { end_user: { id: 'x'.repeat(256) } }],
    ['an over-long tag value', { tags: { a: 'v'.repeat(256) } }],
    ['a non-string tag', { tags: { a: 1 } }],
    ['tags as an array', { tags: ['a'] }],
    ['a bad webhook URL', { webhook_url_override: 'not a url' }],
    ['a body that is an array', [1, 2]],
  ])('%s → 400 invalid_body', async (_what, body) => {
    const res = await patch(body);
    expect(res.status).toBe(400);
    const err = await json<ErrorBody>(res);
    expect(err.error.code).toBe('invalid_body');
    expect(Array.isArray(err.error.errors)).toBe(true);
  });

  it('query, integration and connection errors', async () => {
    const missing = await patch({}, '');
    expect(missing.status).toBe(400);
    expect((await json<ErrorBody>(missing)).error.code).toBe('invalid_query_params');
    const extra = await patch({}, '?provider_config_key=marketo&x=1');
    expect((await json<ErrorBody>(extra)).error.code).toBe('invalid_query_params');
    const integration = await patch({}, '?provider_config_key=nope');
    expect(integration.status).toBe(400);
    expect((await json<ErrorBody>(integration)).error.code).toBe('unknown_provider_config');
    const conn = await patch({}, '?provider_config_key=marketo', 'nope');
    expect(conn.status).toBe(404);
    expect(await json(conn)).toEqual({ error: { code: 'not_found', message: 'Failed to find connection' } });
  });

  it('DELETE removes the connection; a second DELETE → 400 unknown_connection', async () => {
    const other = await connectNew(t);
    const bad = await t.api(`/connections/${other}`, { method: 'DELETE' });
    expect(bad.status).toBe(400);
    expect((await json<ErrorBody>(bad)).error.code).toBe('invalid_query_params');
    const extra = await t.api(`/connections/${other}?provider_config_key=marketo&x=1`, { method: 'DELETE' });
    expect(extra.status).toBe(400);

    const res = await t.api(`/connections/${other}?provider_config_key=marketo`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ success: true });
    expect((await getConn(t, other)).status).toBe(404);
    const list = await json<{ connections: Json[] }>(await t.api('/connections'));
    expect(list.connections.map((c) => c.connection_id)).toEqual([id]);
    const again = await t.api(`/connections/${other}?provider_config_key=marketo`, { method: 'DELETE' });
    expect(again.status).toBe(400);
    expect((await json<ErrorBody>(again)).error.code).toBe('unknown_connection');
  });

  it('DELETE on the legacy path', async () => {
    const other = await connectNew(t);
    const res = await t.api(`/connection/${other}?provider_config_key=marketo`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect((await getConn(t, other)).status).toBe(404);
  });
});

describe('connection metadata', () => {
  let t: TestTether;
  let a: string;
  let b: string;
  beforeAll(async () => {
    t = await startTestTether();
    a = await connectNew(t);
    b = await connectNew(t);
  });
  afterAll(() => t.close());

  const meta = async (id: string) => (await getConn(t, id)).body.metadata;

  it('POST replaces (201, body echoed); PATCH shallow-merges (200, body echoed)', async () => {
    const body = { metadata: { a: 1, nested: { x: 1 } }, connection_id: a, provider_config_key: 'marketo' };
    const set = await t.api('/connections/metadata', { method: 'POST', json: body });
    expect(set.status).toBe(201);
    expect(await json(set)).toEqual(body);
    expect(await meta(a)).toEqual({ a: 1, nested: { x: 1 } });

    const upd = {
      metadata: { b: 2, nested: { y: 2 } },
      connection_id: [a, b],
      provider_config_key: 'marketo',
    };
    const patched = await t.api('/connections/metadata', { method: 'PATCH', json: upd });
    expect(patched.status).toBe(200);
    expect(await json(patched)).toEqual(upd);
    expect(await meta(a)).toEqual({ a: 1, b: 2, nested: { y: 2 } });
    expect(await meta(b)).toEqual({ b: 2, nested: { y: 2 } });

    const replaced = await t.api('/connections/metadata', {
      method: 'POST',
      json: { metadata: { only: true }, connection_id: a, provider_config_key: 'marketo' },
    });
    expect(replaced.status).toBe(201);
    expect(await meta(a)).toEqual({ only: true });
    const list = await json<{ connections: Json[] }>(await t.api(`/connections?connectionId=${a}`));
    expect(list.connections[0]!.metadata).toEqual({ only: true });
  });

  it('an unknown connection → 404 unknown_connection and nothing is written', async () => {
    const before = await meta(a);
    const one = await t.api('/connections/metadata', {
      method: 'POST',
      json: { metadata: { z: 1 }, connection_id: 'nope', provider_config_key: 'marketo' },
    });
    expect(one.status).toBe(404);
    const err = await json<ErrorBody>(one);
    expect(err.error.code).toBe('unknown_connection');
    expect(err.error.message).toBe(
      'Connection with connection id nope and provider config key marketo not found. Please make sure the connection exists in the Nango dashboard',
    );
    const many = await t.api('/connections/metadata', {
      method: 'PATCH',
      json: { metadata: { z: 1 }, connection_id: [a, 'nope'], provider_config_key: 'marketo' },
    });
    expect(many.status).toBe(404);
    expect((await json<ErrorBody>(many)).error.message).toMatch(/No actions were taken/);
    expect(await meta(a)).toEqual(before);
    const otherKey = await t.api('/connections/metadata', {
      method: 'POST',
      json: { metadata: { z: 1 }, connection_id: a, provider_config_key: 'other' },
    });
    expect(otherKey.status).toBe(404);
  });

  it.each([
    ['no metadata', { connection_id: 'x', provider_config_key: 'marketo' }],
    ['metadata as an array', { metadata: [1], connection_id: 'x', provider_config_key: 'marketo' }],
    ['metadata as a string', { metadata: 'x', connection_id: 'x', provider_config_key: 'marketo' }],
    ['no connection_id', { metadata: {}, provider_config_key: 'marketo' }],
    ['an empty connection_id list', { metadata: {}, connection_id: [], provider_config_key: 'marketo' }],
    ['a numeric connection_id', { metadata: {}, connection_id: 1, provider_config_key: 'marketo' }],
    ['no provider_config_key', { metadata: {}, connection_id: 'x' }],
    ['an unknown field', { metadata: {}, connection_id: 'x', provider_config_key: 'marketo', extra: 1 }],
    ['an over-long id', { metadata: {}, connection_id: 'x'.repeat(256), provider_config_key: 'marketo' }],
  ])('%s → 400 invalid_body', async (_what, body) => {
    for (const method of ['POST', 'PATCH']) {
      const res = await t.api('/connections/metadata', { method, json: body });
      expect(res.status).toBe(400);
      expect((await json<ErrorBody>(res)).error.code).toBe('invalid_body');
    }
  });

  it('a query string → 400 invalid_query_params; legacy /connection/metadata works', async () => {
    const body = { metadata: { q: 1 }, connection_id: a, provider_config_key: 'marketo' };
    const q = await t.api('/connections/metadata?x=1', { method: 'POST', json: body });
    expect(q.status).toBe(400);
    expect((await json<ErrorBody>(q)).error.code).toBe('invalid_query_params');
    const legacy = await t.api('/connection/metadata', { method: 'POST', json: body });
    expect(legacy.status).toBe(201);
    const legacyPatch = await t.api('/connection/metadata', {
      method: 'PATCH',
      json: { ...body, metadata: { r: 2 } },
    });
    expect(legacyPatch.status).toBe(200);
    expect(await meta(a)).toEqual({ q: 1, r: 2 });
  });
});

describe('secrets at rest and in answers', () => {
  let t: TestTether;
  let logs: string[];
  beforeAll(async () => {
    t = await startTestTether();
    logs = captureLogs(t);
  });
  afterAll(() => t.close());

  function filesUnder(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? filesUnder(p) : [p];
    });
  }

  /** What Tether stored: the data dir's files and, on PostgreSQL, every row of its schema as text. */
  async function storedBytes(): Promise<{ where: string; bytes: Buffer }[]> {
    const out = filesUnder(t.dataDir).map((f) => ({ where: f, bytes: readFileSync(f) }));
    if (t.databaseUrl === undefined) return out;
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      const tables = await client.query<{ name: string }>(
        'select table_name as name from information_schema.tables where table_schema = current_schema()',
      );
      expect(tables.rows.length).toBeGreaterThan(0);
      for (const { name } of tables.rows) {
        const rows = await client.query<{ row: string }>(`select t::text as row from "${name}" t`);
        out.push({ where: `table ${name}`, bytes: Buffer.from(rows.rows.map((r) => r.row).join('\n')) });
      }
    } finally {
      await client.end();
    }
    return out;
  }

  it('the client secret and tokens are encrypted in the data dir, and absent from lists and errors', async () => {
    const id = await connectNew(t);
    const { body } = await getConn(t, id);
    const token = (body.credentials as Credentials).token;
    const forced = ((await getConn(t, id, { force: true })).body.credentials as Credentials).token;
    const secret = t.sandbox.clientSecret;

    const stored = await storedBytes();
    // Not vacuous: the connection itself is in what was read (the SQLite file, or PostgreSQL's rows).
    expect(stored.some((x) => x.bytes.includes(Buffer.from(id)))).toBe(true);
    for (const { where, bytes } of stored) {
      for (const s of [secret, token, forced]) {
        expect(bytes.includes(Buffer.from(s)), `${s.slice(0, 4)}… in ${where}`).toBe(false);
      }
    }

    const answers = [
      await t.api('/connections'),
      await t.api('/connection'),
      await t.api(`/connections?connectionId=${id}`),
      await t.api(`/connections/nope?provider_config_key=marketo`),
      await t.api(`/connections/${id}?provider_config_key=nope`),
      await t.api(`/connections/${id}?provider_config_key=marketo&bad=1`),
      await t.api('/connections/metadata', {
        method: 'POST',
        json: { metadata: {}, connection_id: 'nope', provider_config_key: 'marketo' },
      }),
      await t.api(`/connections/${id}?provider_config_key=marketo`, { method: 'PATCH', json: { x: 1 } }),
      await t.api('/integrations/marketo?include=credentials'),
      await t.api('/integrations'),
    ];
    for (const res of answers) {
      const text = await res.text();
      expect(text).not.toContain(secret);
      expect(text).not.toContain(token);
      expect(text).not.toContain(forced);
    }
    const all = logs.join('');
    expect(all).not.toContain(secret);
    expect(all).not.toContain(token);
    expect(all).not.toContain(forced);
  });
});
