/**
 * Concurrent use of one end user, one connection, one integration, on a real Tether and sandbox: many
 * connects at once, deletes racing a token refresh, a connect or proxied calls, PATCH/DELETE storms. The
 * races are made deterministic with the sandbox's `slow` fault: a test waits until the slowed call has
 * reached the sandbox (the fault, of count 1, is taken) before it sends the racing request.
 * Expected: a consistent final state (no duplicate rows, no orphan, no secret kept by a deleted row),
 * clear 4xx, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTether, type TestTether } from './testing.ts';
import { captureLogs, connectNew } from './routes/connections/test-helpers.ts';
import { waitFor } from '../testing/wait.ts';

let t: TestTether;
let logs: string[];

beforeAll(async () => {
  t = await startTestTether();
  logs = captureLogs(t);
});
afterAll(() => t?.close());

const db = () => t.tether.deps.store.ctx.db;
const admin = (p: string) => `/instances/${t.sandbox.munchkinId}${p}`;
const serverErrors = () => logs.filter((l) => /"level":(50|60)/.test(l));

/** Slow the next identity call by `delayMs`; resolves a waiter once that call reached the sandbox. */
async function slowNextIdentityCall(delayMs: number): Promise<() => Promise<void>> {
  const r = await t.sandbox.control('POST', admin('/faults'), {
    kind: 'slow',
    delayMs,
    count: 1,
    identity: true,
  });
  expect(r.status).toBe(201);
  return async () => {
    await waitFor(
      'the slowed identity call',
      async () => {
        const f = await t.sandbox.control<{ faults: unknown[] }>('GET', admin('/faults'));
        return f.body.faults.length === 0 ? true : undefined; // taken: the slowed call is at the sandbox
      },
      10_000,
      10,
    );
  };
}

const proxyGet = (connectionId: string, key = 'marketo') =>
  t.api('/proxy/rest/v1/leads.json?filterType=id&filterValues=1', {
    headers: { 'connection-id': connectionId, 'provider-config-key': key },
  });

async function rowsOf(connectionId: string) {
  return db().selectFrom('connections').selectAll().where('connection_id', '=', connectionId).execute();
}

describe('deletes racing other work', () => {
  it('a connection deleted while its token is refreshed keeps no credentials (the refresh wrote them back)', async () => {
    const id = await connectNew(t);
    const reached = await slowNextIdentityCall(1000);
    const refresh = t.api(`/connections/${id}?provider_config_key=marketo&force_refresh=true`);
    await reached();
    const del = await t.api(`/connections/${id}?provider_config_key=marketo`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const r = await refresh;
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const rows = await rowsOf(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.deleted_at).not.toBeNull();
    expect(rows[0]!.credentials_encrypted).toBeNull();
    expect(rows[0]!.credentials_expires_at).toBeNull();
    expect(serverErrors()).toEqual([]);
  });

  it('a reconnect with other client credentials during a token refresh wins (the refresh wrote the old ones back)', async () => {
    const id = await connectNew(t);
    const svc = await t.sandbox.control<{ clientId: string; clientSecret: string }>(
      'POST',
      admin('/services'),
      { name: 'Second app', user: 'api@sandbox.tether.dev' },
    );
    expect(svc.status).toBe(201);
    const rs = await t.api('/connect/sessions/reconnect', {
      method: 'POST',
      json: { connection_id: id, integration_id: 'marketo' },
    });
    expect(rs.status).toBe(201);
    const token = ((await rs.json()) as { data: { token: string } }).data.token;
    // The refresh asks with the first app's credentials and is held at the sandbox; the reconnect
    // stores the second app's credentials (and its token) meanwhile.
    const reached = await slowNextIdentityCall(1000);
    const refresh = t.api(`/connections/${id}?provider_config_key=marketo&force_refresh=true`);
    await reached();
    const re = await t.connect(token, { clientId: svc.body.clientId, clientSecret: svc.body.clientSecret });
    expect(re.status).toBe(200);
    expect((await refresh).status).toBe(200);
    const after = await t.api(`/connections/${id}?provider_config_key=marketo`);
    const creds = ((await after.json()) as { credentials: { client_id: string; client_secret: string } })
      .credentials;
    expect(creds.client_id).toBe(svc.body.clientId);
    expect(creds.client_secret).toBe(svc.body.clientSecret);
    expect(serverErrors()).toEqual([]);
  });

  it('an integration deleted during a connect leaves no orphan connection (the connect used to succeed)', async () => {
    const key = 'marketo-race';
    const created = await t.api('/integrations', {
      method: 'POST',
      json: { unique_key: key, provider: 'marketo' },
    });
    expect(created.status).toBe(200);
    const token = await t.session({ end_user: { id: 'race' }, allowed_integrations: [key] });
    const reached = await slowNextIdentityCall(1000);
    const q = new URLSearchParams({
      connect_session_token: token,
      'params[endpointURL]': t.sandbox.endpoint,
      'params[identityURL]': t.sandbox.identity,
    });
    const connect = fetch(`${t.url}/oauth2/auth/${key}?${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: t.sandbox.clientId, client_secret: t.sandbox.clientSecret }),
    });
    await reached();
    expect((await t.api(`/integrations/${key}`, { method: 'DELETE' })).status).toBe(200);
    const res = await connect;
    const body = (await res.json()) as { error?: { code: string } };
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body.error?.code).toBe('unknown_provider_config');
    const live = await db()
      .selectFrom('connections')
      .select('id')
      .where('provider_config_key', '=', key)
      .where('deleted_at', 'is', null)
      .execute();
    expect(live).toEqual([]);
    // A new integration of the same key starts empty.
    expect(
      (await t.api('/integrations', { method: 'POST', json: { unique_key: key, provider: 'marketo' } }))
        .status,
    ).toBe(200);
    const list = (await (await t.api(`/connections?integrationId=${key}`)).json()) as {
      connections: unknown[];
    };
    expect(list.connections).toEqual([]);
    expect((await t.api(`/integrations/${key}`, { method: 'DELETE' })).status).toBe(200);
  });

  it('once DELETE answered, proxied calls for the connection stop at once (the proxy cache served it for 1 s)', async () => {
    const id = await connectNew(t);
    expect((await proxyGet(id)).status).toBe(200); // now in the proxy's lookup cache
    expect((await t.api(`/connections/${id}?provider_config_key=marketo`, { method: 'DELETE' })).status).toBe(
      200,
    );
    const after = await proxyGet(id);
    expect(after.status).toBe(400);
    expect(((await after.json()) as { error: { code: string } }).error.code).toBe('server_error');
  });

  it('once an integration is deleted, proxied calls through it stop at once', async () => {
    const key = 'marketo-gone';
    expect(
      (await t.api('/integrations', { method: 'POST', json: { unique_key: key, provider: 'marketo' } }))
        .status,
    ).toBe(200);
    const token = await t.session({ end_user: { id: 'gone' }, allowed_integrations: [key] });
    const res = await t.connect(token, {}, key);
    const id = ((await res.json()) as { connectionId: string }).connectionId;
    expect((await proxyGet(id, key)).status).toBe(200);
    expect((await t.api(`/integrations/${key}`, { method: 'DELETE' })).status).toBe(200);
    const after = await proxyGet(id, key);
    expect(after.status).toBe(404);
    expect(((await after.json()) as { error: { code: string } }).error.code).toBe('unknown_provider_config');
  });
});

describe('many at once', () => {
  it('simultaneous connects of one end user: one connection each, all live, no 5xx', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.session({ end_user: { id: 'same-user' }, allowed_integrations: ['marketo'] }),
      ),
    );
    expect(new Set(tokens).size).toBe(8);
    const answers = await Promise.all(
      tokens.map(async (tk) => {
        const r = await t.connect(tk);
        return { status: r.status, body: (await r.json()) as { connectionId: string } };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const ids = answers.map((a) => a.body.connectionId);
    expect(new Set(ids).size).toBe(8);
    for (const id of ids) expect(await rowsOf(id)).toHaveLength(1);
    const list = (await (await t.api('/connections?endUserId=same-user')).json()) as {
      connections: unknown[];
    };
    expect(list.connections).toHaveLength(8);
  });

  it('simultaneous reconnects of one connection: one row, still live, same id', async () => {
    const id = await connectNew(t);
    const rs = await t.api('/connect/sessions/reconnect', {
      method: 'POST',
      json: { connection_id: id, integration_id: 'marketo' },
    });
    expect(rs.status).toBe(201);
    const token = ((await rs.json()) as { data: { token: string } }).data.token;
    const answers = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const r = await t.connect(token);
        return { status: r.status, body: (await r.json()) as { connectionId: string } };
      }),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.connectionId).toBe(id);
    }
    const rows = await rowsOf(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.deleted_at).toBeNull();
    expect((await proxyGet(id)).status).toBe(200);
  });

  it('simultaneous POST /connect/sessions: distinct tokens, each usable', async () => {
    const answers = await Promise.all(
      Array.from({ length: 25 }, () =>
        t.api('/connect/sessions', { method: 'POST', json: { end_user: { id: 'many' } } }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(25).fill(201));
    const tokens = await Promise.all(
      answers.map(async (a) => ((await a.json()) as { data: { token: string } }).data.token),
    );
    expect(new Set(tokens).size).toBe(25);
    for (const tk of tokens.slice(0, 3)) {
      const r = await fetch(`${t.url}/connect/session`, { headers: { authorization: `Bearer ${tk}` } });
      expect(r.status).toBe(200);
    }
  });

  it('PATCH, metadata, DELETE and proxied calls on one connection at once: no 5xx, a consistent end', async () => {
    const id = await connectNew(t);
    const q = `provider_config_key=marketo`;
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, () => proxyGet(id).then((r) => ['proxy', r.status] as const)),
      ...Array.from({ length: 4 }, (_, i) =>
        t
          .api(`/connections/${id}?${q}`, { method: 'PATCH', json: { tags: { n: String(i) } } })
          .then((r) => ['patch', r.status] as const),
      ),
      ...Array.from({ length: 3 }, () =>
        t
          .api(`/connections/${id}/metadata?${q}`, { method: 'PATCH', json: { metadata: { a: 1 } } })
          .then((r) => ['metadata', r.status] as const),
      ),
      ...Array.from({ length: 3 }, () =>
        t.api(`/connections/${id}?${q}`, { method: 'DELETE' }).then((r) => ['delete', r.status] as const),
      ),
    ]);
    for (const [what, status] of answers) {
      expect(status, what).toBeLessThan(500);
      if (what === 'proxy') expect([200, 400]).toContain(status);
      if (what === 'patch' || what === 'metadata') expect([200, 404]).toContain(status);
      if (what === 'delete') expect([200, 400]).toContain(status);
    }
    // Exactly one DELETE won.
    expect(answers.filter(([w, s]) => w === 'delete' && s === 200)).toHaveLength(1);
    const rows = await rowsOf(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.deleted_at).not.toBeNull();
    expect(rows[0]!.credentials_encrypted).toBeNull();
    const tags = await db()
      .selectFrom('connection_tags')
      .selectAll()
      .where('connection_pk', '=', rows[0]!.id)
      .execute();
    expect(tags).toEqual([]);
    expect((await proxyGet(id)).status).toBe(400);
    expect((await t.api(`/connections/${id}?${q}`)).status).toBe(404);
    expect(serverErrors()).toEqual([]);
  });
});
