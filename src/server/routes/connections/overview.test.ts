import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from '../../testing.ts';
import { getConnectionById } from '../../../db/connections.ts';
import { nowOf } from '../../../db/context.ts';
import {
  advanceClocks,
  AUTH_CODES,
  authFailures,
  connectNew,
  counters,
  getConn,
  type Credentials,
} from './test-helpers.ts';
import { redactSecrets, secretValues } from './overview.ts';

/**
 * `GET /connections/{id}/overview` over real HTTP against a real Tether and the Marketo sandbox: the
 * connection without credentials, its credential status, and that looking never renews a token.
 */

type Json = Record<string, unknown>;
interface Status {
  type: string | null;
  expires_at: string | null;
  expired: boolean;
  last_refresh_success_at: string | null;
  last_refresh_error: { code: string; message: string; at: string; log_id: string | null } | null;
  refresh_attempts: number;
  refresh_exhausted: boolean;
}
type Overview = Json & { id: number; credentials_status: Status };

describe('GET /connections/{id}/overview', () => {
  let t: TestTether;
  let id: string;
  const service = () => `/instances/${t.sandbox.munchkinId}/services/${t.sandbox.clientId}`;

  async function overview(
    connectionId: string,
    query = 'provider_config_key=marketo',
  ): Promise<{ status: number; text: string; body: Overview & { error?: { code: string } } }> {
    const res = await t.api(`/connections/${encodeURIComponent(connectionId)}/overview?${query}`);
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Overview & { error?: { code: string } } };
  }

  /** What Tether stores, read straight from its database (no route, so nothing renewed). */
  async function stored(pk: number) {
    const c = await getConnectionById(t.tether.deps.store.ctx, pk);
    expect(c).toBeDefined();
    return c!;
  }

  beforeAll(async () => {
    t = await startTestTether();
    id = await connectNew(t, { end_user: { id: 'ov-user', email: 'ov@example.com' }, tags: { k: 'v' } });
  });
  afterAll(() => t.close());

  it('answers the 401 codes of auth.ts', async () => {
    const results = await authFailures(t, 'GET', `/connections/${id}/overview?provider_config_key=marketo`);
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(results.map((r) => r.code)).toEqual(AUTH_CODES);
  });

  it('is the connection of GET /connections/{id} without credentials, plus its credential status', async () => {
    const full = await getConn(t, id);
    expect(full.status).toBe(200);
    const creds = full.body.credentials as Credentials;
    const { status, text, body } = await overview(id);
    expect(status).toBe(200);
    expect(text).not.toContain(creds.token);
    expect(text).not.toContain(t.sandbox.clientSecret);
    expect(body).not.toHaveProperty('credentials');
    const { credentials: _c, ...sameFields } = full.body;
    expect(Object.keys(body).sort()).toEqual([...Object.keys(sameFields), 'credentials_status'].sort());
    expect(body).toMatchObject({
      connection_id: id,
      provider_config_key: 'marketo',
      provider: 'marketo',
      errors: [],
      end_user: { id: 'ov-user', email: 'ov@example.com' },
      tags: { k: 'v' },
      connection_config: full.body.connection_config as Json,
      created_at: full.body.created_at as string,
    });
    expect(body.credentials_status).toEqual({
      type: 'OAUTH2_CC',
      expires_at: creds.expires_at,
      expired: false,
      // The token of the connect flow is not a renewal.
      last_refresh_success_at: null,
      last_refresh_error: null,
      refresh_attempts: 0,
      refresh_exhausted: false,
    });
  });

  it('does not record a read (last_fetched_at) nor call the identity endpoint', async () => {
    const { body } = await overview(id);
    const before = await stored(body.id);
    const calls = (await counters(t)).identityCalls;
    await overview(id);
    expect((await stored(body.id)).lastFetchedAt).toBe(before.lastFetchedAt);
    expect((await counters(t)).identityCalls).toBe(calls);
  });

  it('says an expired token is expired, and does not renew it', async () => {
    const pk = (await overview(id)).body.id;
    const token = (await stored(pk)).credentials?.token;
    await advanceClocks(t, 3700);
    const calls = (await counters(t)).identityCalls;
    const { status, body } = await overview(id);
    expect(status).toBe(200);
    expect(body.credentials_status.expired).toBe(true);
    expect(Date.parse(body.credentials_status.expires_at!)).toBeLessThan(
      nowOf(t.tether.deps.store.ctx).getTime(),
    );
    expect((await counters(t)).identityCalls).toBe(calls);
    expect((await stored(pk)).credentials?.token).toBe(token);
    // GET /connections/{id} does renew it: it was indeed expired.
    const renewed = await getConn(t, id);
    expect((renewed.body.credentials as Credentials).token).not.toBe(token);
    expect((await counters(t)).identityCalls).toBe(calls + 1);
    const after = (await overview(id)).body.credentials_status;
    expect(after.expired).toBe(false);
    expect(after.last_refresh_success_at).toEqual(expect.any(String));
  });

  it('shows the last refresh failure (code, message, when, log id) without retrying it', async () => {
    expect((await t.sandbox.control('POST', `${service()}/revoke`)).status).toBe(200);
    try {
      const failed = await getConn(t, id, { force: true });
      expect(failed.status).toBe(400);
      const calls = (await counters(t)).identityCalls;
      const { status, text, body } = await overview(id);
      expect(status).toBe(200);
      expect(body.errors).toEqual([{ type: 'auth', log_id: expect.any(String) }]);
      expect(body.credentials_status.last_refresh_error).toEqual({
        code: 'invalid_credentials',
        message: expect.stringMatching(/renew/),
        at: expect.any(String),
        log_id: (body.errors as { log_id: string }[])[0]!.log_id,
      });
      expect(body.credentials_status.refresh_attempts).toBe(1);
      expect(text).not.toContain(t.sandbox.clientSecret);
      expect((await counters(t)).identityCalls).toBe(calls);
    } finally {
      expect((await t.sandbox.control('POST', `${service()}/restore`)).status).toBe(200);
    }
    // A successful refresh clears it.
    expect((await getConn(t, id, { force: true })).status).toBe(200);
    expect((await overview(id)).body.credentials_status.last_refresh_error).toBeNull();
  });

  it('redacts a secret that a caller copied into metadata', async () => {
    const pk = (await overview(id)).body.id;
    const token = String((await stored(pk)).credentials?.token);
    const res = await t.api('/connections/metadata', {
      method: 'POST',
      json: { connection_id: id, provider_config_key: 'marketo', metadata: { copied: `x ${token}`, ok: 1 } },
    });
    expect(res.status).toBe(201);
    const { text, body } = await overview(id);
    expect(text).not.toContain(token);
    expect(body.metadata).toEqual({ copied: '[redacted]', ok: 1 });
  });

  it('404 for an unknown connection, 400 for an unknown integration or a bad query', async () => {
    const missing = await overview('no-such-connection');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'not_found', message: expect.any(String) });
    const unknown = await overview(id, 'provider_config_key=nope');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'unknown_provider_config' });
    for (const query of ['', 'provider_config_key=marketo&force_refresh=true', 'provider_config_key=a%2Fb']) {
      const bad = await overview(id, query);
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 'invalid_query_params', message: expect.any(String) });
    }
  });
});

describe('overview secrets (pure)', () => {
  it('finds every secret of stored credentials, raw included, and redacts them anywhere', () => {
    const secrets = secretValues({
      type: 'OAUTH2_CC',
      token: 'tok-123456789',
      expires_at: '2030-01-01T00:00:00.000Z',
      client_id: 'client-id-visible',
      client_secret: 'sec-123456789',
      raw: { access_token: 'tok-123456789', token_type: 'bearer', refresh_token: 'ref-123456789' },
    });
    expect(new Set(secrets)).toEqual(new Set(['tok-123456789', 'sec-123456789', 'ref-123456789']));
    expect(
      redactSecrets({ a: ['x', 'has sec-123456789 in it'], b: { c: 'ref-123456789' }, n: 1 }, secrets),
    ).toEqual({ a: ['x', '[redacted]'], b: { c: '[redacted]' }, n: 1 });
    expect(secretValues(null)).toEqual([]);
  });
});
