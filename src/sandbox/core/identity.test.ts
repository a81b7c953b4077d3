/**
 * Conformance of the identity endpoint (spec section 1), driven over HTTP only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

let sb: TestSandbox;

beforeEach(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 1 }, limits: unlimited() });
});
afterEach(async () => {
  await sb.close();
});

function tokenQuery(clientId = sb.clientId, secret = sb.clientSecret): string {
  return `grant_type=client_credentials&client_id=${encodeURIComponent(clientId)}&client_secret=${encodeURIComponent(secret)}`;
}

async function identityGet(query = tokenQuery()): Promise<Response> {
  return fetch(`${sb.identity}/oauth/token?${query}`);
}

async function tokenNow(): Promise<TokenBody> {
  const res = await identityGet();
  expect(res.status).toBe(200);
  return (await res.json()) as TokenBody;
}

async function stats(token: string): Promise<MarketoBody> {
  const res = await fetch(`${sb.base}/rest/v1/stats/usage.json`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await res.json()) as MarketoBody;
}

async function advanceSeconds(seconds: number): Promise<void> {
  const r = await sb.control('POST', `/instances/${sb.munchkinId}/clock`, { advanceSeconds: seconds });
  expect(r.status).toBe(200);
}

describe('identity: getting a token', () => {
  it('answers GET with query parameters: four fields, no-store headers', async () => {
    const res = await identityGet();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    const body = (await res.json()) as TokenBody;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body.access_token).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}:[a-z0-9]+$/,
    );
    expect(body.token_type).toBe('bearer');
    expect(Number.isInteger(body.expires_in)).toBe(true);
    expect(body.expires_in).toBeGreaterThanOrEqual(3599);
    expect(body.expires_in).toBeLessThanOrEqual(3600);
    expect(body.scope).toContain('@');
    expect((await stats(body.access_token)).success).toBe(true);
  });

  it('answers POST with query parameters and POST with a form body, with the same token', async () => {
    const first = await tokenNow();
    const postQuery = await fetch(`${sb.identity}/oauth/token?${tokenQuery()}`, { method: 'POST' });
    expect(postQuery.status).toBe(200);
    expect(postQuery.headers.get('cache-control')).toBe('no-store');
    const byQuery = (await postQuery.json()) as TokenBody;
    const postForm = await fetch(`${sb.identity}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: tokenQuery(),
    });
    expect(postForm.status).toBe(200);
    const byForm = (await postForm.json()) as TokenBody;
    expect(byQuery.access_token).toBe(first.access_token);
    expect(byForm.access_token).toBe(first.access_token);
  });

  it('returns the same token with a decreasing expires_in, and a new one after expiry', async () => {
    const first = await tokenNow();
    await advanceSeconds(100);
    const second = await tokenNow();
    expect(second.access_token).toBe(first.access_token);
    expect(second.expires_in).toBeLessThanOrEqual(first.expires_in - 100);
    expect(second.expires_in).toBeGreaterThanOrEqual(first.expires_in - 102);
    await advanceSeconds(second.expires_in + 1);
    const third = await tokenNow();
    expect(third.access_token).not.toBe(first.access_token);
    expect(third.expires_in).toBeGreaterThanOrEqual(3599);
    expect((await stats(third.access_token)).success).toBe(true);
  });

  it('keeps one token per client id: two services of one user get different tokens', async () => {
    const svc = await sb.control<{ clientId: string; clientSecret: string }>(
      'POST',
      `/instances/${sb.munchkinId}/services`,
      { name: 'second', user: 'api@sandbox.tether.dev' },
    );
    expect(svc.status).toBe(201);
    const a = await tokenNow();
    const b = (await (
      await identityGet(tokenQuery(svc.body.clientId, svc.body.clientSecret))
    ).json()) as TokenBody;
    expect(b.access_token).not.toBe(a.access_token);
    expect(b.scope).toBe(a.scope);
  });

  it('answers 401 with OAuth bodies for a bad secret and an unknown client id', async () => {
    const bad = await identityGet(tokenQuery(sb.clientId, 'wrong-secret'));
    expect(bad.status).toBe(401);
    expect(bad.headers.get('cache-control')).toBe('no-store');
    expect(await bad.json()).toEqual({
      error: 'invalid_client',
      error_description: 'Bad client credentials',
    });

    const unknown = await identityGet(tokenQuery('no-such-client', 'x'));
    expect(unknown.status).toBe(401);
    const body = (await unknown.json()) as { error: string; error_description: string };
    expect(body.error_description).toBe('No client with requested id: no-such-client');
    expect(typeof body.error).toBe('string');
  });

  it('answers 400 for a missing or unsupported grant type', async () => {
    const missing = await identityGet(`client_id=${sb.clientId}&client_secret=${sb.clientSecret}`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe('invalid_request');
    const other = await identityGet(
      `grant_type=password&client_id=${sb.clientId}&client_secret=${sb.clientSecret}`,
    );
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: string }).error).toBe('unsupported_grant_type');
  });

  it('does not count identity calls as API calls (usage stats, counters, daily quota)', async () => {
    const token = (await tokenNow()).access_token;
    const before = await sb.control<{ apiCalls: number; identityCalls: number; callsToday: number }>(
      'GET',
      `/instances/${sb.munchkinId}/counters`,
    );
    const usageBefore = (await stats(token)).result![0] as { total: number };
    for (let i = 0; i < 3; i++) await tokenNow();
    await identityGet(tokenQuery(sb.clientId, 'bad'));
    const usageAfter = (await stats(token)).result![0] as { total: number };
    // Only the second usage call itself was added.
    expect(usageAfter.total).toBe(usageBefore.total + 1);
    const after = await sb.control<{ apiCalls: number; identityCalls: number; callsToday: number }>(
      'GET',
      `/instances/${sb.munchkinId}/counters`,
    );
    expect(after.body.identityCalls).toBe(before.body.identityCalls + 4);
    expect(after.body.apiCalls).toBe(before.body.apiCalls + 2);
    expect(after.body.callsToday).toBe(before.body.callsToday + 2);
  });

  it('uses the instance tokenTtlSeconds setting (at creation and after a change)', async () => {
    const created = await sb.control<{
      munchkinId: string;
      identity: string;
      clientId: string;
      clientSecret: string;
    }>('POST', '/instances', {
      munchkinId: '321-TTL-321',
      seed: { leads: 1, seed: 1 },
      settings: { tokenTtlSeconds: 120 },
    });
    expect(created.status).toBe(201);
    const c = created.body;
    const res = await fetch(
      `${c.identity}/oauth/token?grant_type=client_credentials&client_id=${c.clientId}&client_secret=${c.clientSecret}`,
    );
    const body = (await res.json()) as TokenBody;
    expect(body.expires_in).toBeGreaterThanOrEqual(119);
    expect(body.expires_in).toBeLessThanOrEqual(120);

    const patched = await sb.control('PATCH', `/instances/${sb.munchkinId}`, {
      settings: { tokenTtlSeconds: 60 },
    });
    expect(patched.status).toBe(200);
    await sb.control('POST', `/instances/${sb.munchkinId}/tokens/expire`, {});
    const fresh = await tokenNow();
    expect(fresh.expires_in).toBeGreaterThanOrEqual(59);
    expect(fresh.expires_in).toBeLessThanOrEqual(60);
  });

  it('answers 404 for an unknown instance', async () => {
    const res = await fetch(
      `${sb.identity.replace(sb.munchkinId, '999-ZZZ-999')}/oauth/token?${tokenQuery()}`,
    );
    expect(res.status).toBe(404);
  });
});
