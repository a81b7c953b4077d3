/**
 * Token checks on API calls (spec 1 and 6.2): 600 / 601 / 602, revocation, the legacy
 * `access_token` parameter. Driven over HTTP only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

let sb: TestSandbox;

beforeEach(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 1 }, limits: unlimited() });
});
afterEach(async () => {
  await sb.close();
});

async function identity(clientId = sb.clientId, secret = sb.clientSecret): Promise<Response> {
  return fetch(
    `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${encodeURIComponent(clientId)}&client_secret=${encodeURIComponent(secret)}`,
  );
}

async function newToken(clientId?: string, secret?: string): Promise<string> {
  const res = await identity(clientId, secret);
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The cheap call: usage statistics (no permission needed). */
async function usage(
  init: { token?: string; query?: string; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  body: MarketoBody;
}> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(`${sb.base}/rest/v1/stats/usage.json${init.query ?? ''}`, { headers });
  return { status: res.status, body: (await res.json()) as MarketoBody };
}

function expectCode(r: { status: number; body: MarketoBody }, code: string, message?: string): void {
  expect(r.status).toBe(200);
  expect(r.body.success).toBe(false);
  expect(r.body.result).toBeUndefined();
  expect(r.body.errors).toHaveLength(1);
  expect(r.body.errors![0]!.code).toBe(code);
  if (message !== undefined) expect(r.body.errors![0]!.message).toBe(message);
}

const control = (method: string, rest: string, body?: unknown) =>
  sb.control(method, `/instances/${sb.munchkinId}${rest}`, body);

describe('token checks', () => {
  it('600 without a token, 601 for a garbage one', async () => {
    expectCode(await usage(), '600', 'Access token not specified');
    expectCode(await usage({ token: 'garbage' }), '601', 'Access token invalid');
    expectCode(await usage({ headers: { authorization: 'Bearer ' } }), '600');
    expectCode(await usage({ token: `${await newToken()}x` }), '601');
  });

  it('accepts the bearer scheme in any case', async () => {
    const token = await newToken();
    const r = await usage({ headers: { authorization: `bearer ${token}` } });
    expect(r.body.success).toBe(true);
  });

  it('expired through the control API: 602 on first use, 601 after; a new token works', async () => {
    const token = await newToken();
    expect((await usage({ token })).body.success).toBe(true);
    const expired = await control('POST', '/tokens/expire', {});
    expect(expired.status).toBe(200);
    expectCode(await usage({ token }), '602', 'Access token expired');
    expectCode(await usage({ token }), '601', 'Access token invalid');
    const fresh = await newToken();
    expect(fresh).not.toBe(token);
    expect((await usage({ token: fresh })).body.success).toBe(true);
  });

  it('expired by the instance clock: 602 then 601', async () => {
    const token = await newToken();
    const moved = await control('POST', '/clock', { advanceSeconds: 3601 });
    expect(moved.status).toBe(200);
    expectCode(await usage({ token }), '602');
    expectCode(await usage({ token }), '601');
  });

  it('expires only the named client when asked', async () => {
    const svc = (await control('POST', '/services', { name: 'other', user: 'api@sandbox.tether.dev' }))
      .body as { clientId: string; clientSecret: string };
    const mine = await newToken();
    const theirs = await newToken(svc.clientId, svc.clientSecret);
    await control('POST', '/tokens/expire', { clientId: svc.clientId });
    expect((await usage({ token: mine })).body.success).toBe(true);
    expectCode(await usage({ token: theirs }), '602');
  });

  it('revoked tokens answer 601 (never 602)', async () => {
    const token = await newToken();
    const r = await control('POST', '/tokens/revoke', {});
    expect(r.status).toBe(200);
    expectCode(await usage({ token }), '601');
    expect((await usage({ token: await newToken() })).body.success).toBe(true);
  });

  it('revoked credentials: identity answers 401 and the old token 601; restore brings them back', async () => {
    const token = await newToken();
    const revoked = await control('POST', `/services/${sb.clientId}/revoke`);
    expect(revoked.status).toBe(200);
    const res = await identity();
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error_description: string }).error_description).toBe(
      `No client with requested id: ${sb.clientId}`,
    );
    expectCode(await usage({ token }), '601');
    await control('POST', `/services/${sb.clientId}/restore`);
    expect((await usage({ token: await newToken() })).body.success).toBe(true);
  });

  it('a rotated secret refuses the old one', async () => {
    const r = await control('POST', `/services/${sb.clientId}/rotate-secret`, {
      clientSecret: 'fresh-secret',
    });
    expect(r.status).toBe(200);
    expect((await identity()).status).toBe(401);
    expect((await identity(sb.clientId, 'fresh-secret')).status).toBe(200);
  });

  it('accepts the access_token query parameter unless rejectQueryToken is set', async () => {
    const token = await newToken();
    const byQuery = await usage({ query: `?access_token=${encodeURIComponent(token)}` });
    expect(byQuery.body.success).toBe(true);
    const patched = await sb.control('PATCH', `/instances/${sb.munchkinId}`, {
      settings: { rejectQueryToken: true },
    });
    expect(patched.status).toBe(200);
    const refused = await usage({ query: `?access_token=${encodeURIComponent(token)}` });
    expect(refused.body.success).toBe(false);
    expect(['600', '601']).toContain(refused.body.errors![0]!.code);
    // The header keeps working.
    expect((await usage({ token })).body.success).toBe(true);
  });
});
