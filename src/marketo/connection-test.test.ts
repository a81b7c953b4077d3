import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { startTestSandbox, type TestSandbox } from '../sandbox/testing.ts';
import { OutboundClient, type OutboundRequestOptions, type OutboundResponse } from '../engine/outbound.ts';
import {
  testMarketoConnection,
  type ConnectionTestDeps,
  type ConnectionTestFailure,
} from './connection-test.ts';

/**
 * Against the real sandbox (its host:port allowlisted), as a user connecting would. The read used is
 * `GET /rest/v1/leads/describe2.json` (needs Read-Only Lead).
 */
let sb: TestSandbox;
let client: OutboundClient;
let deps: ConnectionTestDeps;
let hostPort: string;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 20, seed: 1 } });
  hostPort = new URL(sb.endpoint).host;
  client = new OutboundClient({ allowedHosts: [hostPort] });
  deps = {
    request: (o) => client.request(o),
    isAllowedHost: (h) => client.policy.isAllowlisted(h),
    backOffMs: 10,
  };
});

afterAll(async () => {
  client.close();
  await sb.close();
});

afterEach(async () => {
  await sb.control('DELETE', `/instances/${sb.munchkinId}/faults`);
});

const input = () => ({
  clientId: sb.clientId,
  clientSecret: sb.clientSecret,
  endpointURL: sb.endpoint,
  identityURL: sb.identity,
});

function expectFailure(r: unknown, step: string, code: string): ConnectionTestFailure {
  expect(r).toMatchObject({ ok: false, step, code });
  const f = r as ConnectionTestFailure;
  expect(f.message.length).toBeGreaterThan(10);
  expect(f.hint.length).toBeGreaterThan(10);
  return f;
}

describe('testMarketoConnection against the sandbox', () => {
  it('succeeds with the instance credentials and returns what to store', async () => {
    const r = await testMarketoConnection(input(), deps);
    expect(r).toMatchObject({
      ok: true,
      scope: 'api@sandbox.tether.dev',
      munchkinId: sb.munchkinId,
      connectionConfig: {
        endpointURL: `http://${hostPort}/${sb.munchkinId}`,
        identityURL: `http://${hostPort}/${sb.munchkinId}`,
      },
    });
    if (!r.ok) return;
    expect(r.token).toMatch(/:/);
    expect(r.expiresIn).toBeGreaterThan(3000);
    expect(r.raw).toMatchObject({ access_token: r.token, token_type: 'bearer' });
  });

  it('derives the Identity URL from the Domain', async () => {
    const r = await testMarketoConnection({ ...input(), identityURL: '' }, deps);
    expect(r.ok).toBe(true);
  });

  it('wrong secret → identity / invalid_client_secret, secret never echoed', async () => {
    const r = await testMarketoConnection({ ...input(), clientSecret: 'WrongSecretValue123' }, deps);
    const f = expectFailure(r, 'identity', 'invalid_client_secret');
    expect(f.status).toBe(401);
    expect(JSON.stringify(f)).not.toContain('WrongSecretValue123');
    expect(JSON.stringify(f)).not.toContain(sb.clientSecret);
  });

  it('unknown client id → identity / unknown_client_id', async () => {
    const r = await testMarketoConnection(
      { ...input(), clientId: '00000000-0000-4000-8000-000000000000' },
      deps,
    );
    expectFailure(r, 'identity', 'unknown_client_id');
  });

  it('a role without Read-Only Lead → api / marketo_permission_missing', async () => {
    const u = await sb.control('POST', `/instances/${sb.munchkinId}/users`, {
      email: 'ro@x.com',
      role: 'No Access',
    });
    expect(u.status).toBe(201);
    const s = await sb.control<{ clientId: string; clientSecret: string }>(
      'POST',
      `/instances/${sb.munchkinId}/services`,
      { name: 'No access', user: 'ro@x.com' },
    );
    expect(s.status).toBe(201);
    const r = await testMarketoConnection(
      { ...input(), clientId: s.body.clientId, clientSecret: s.body.clientSecret },
      deps,
    );
    const f = expectFailure(r, 'api', 'marketo_permission_missing');
    expect(f.marketoCode).toBe('603');
    expect(f.message).toContain('Read-Only Lead');
  });

  it('an IP allowlist that excludes Tether → api / marketo_ip_restricted', async () => {
    const path = `/instances/${sb.munchkinId}`;
    expect((await sb.control('PATCH', path, { settings: { ipAllowlist: ['10.9.9.9'] } })).status).toBe(200);
    try {
      const r = await testMarketoConnection(input(), deps);
      const f = expectFailure(r, 'api', 'marketo_ip_restricted');
      expect(f.hint).toContain('IP Restrictions');
    } finally {
      await sb.control('PATCH', path, { settings: { ipAllowlist: null } });
    }
  });

  it('601 on the read → one fresh token, then success', async () => {
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, {
      kind: 'error',
      code: '601',
      count: 1,
      path: 'describe2',
    });
    expect((await testMarketoConnection(input(), deps)).ok).toBe(true);
  });

  it('601 twice → api / marketo_token_rejected', async () => {
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, {
      kind: 'error',
      code: '601',
      count: 2,
      path: 'describe2',
    });
    expectFailure(await testMarketoConnection(input(), deps), 'api', 'marketo_token_rejected');
  });

  it('606 once → waits, retries, succeeds; twice → marketo_rate_limited', async () => {
    const faults = `/instances/${sb.munchkinId}/faults`;
    await sb.control('POST', faults, { kind: 'error', code: '606', count: 1, path: 'describe2' });
    expect((await testMarketoConnection(input(), deps)).ok).toBe(true);
    await sb.control('POST', faults, { kind: 'error', code: '615', count: 2, path: 'describe2' });
    expectFailure(await testMarketoConnection(input(), deps), 'api', 'marketo_rate_limited');
  });

  it('607 → api / marketo_daily_quota_exhausted', async () => {
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, {
      kind: 'error',
      code: '607',
      count: 1,
      path: 'describe2',
    });
    expectFailure(await testMarketoConnection(input(), deps), 'api', 'marketo_daily_quota_exhausted');
  });

  it('another Marketo code → api / marketo_api_error with the code', async () => {
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, {
      kind: 'error',
      code: '613',
      count: 1,
      path: 'describe2',
    });
    const f = expectFailure(await testMarketoConnection(input(), deps), 'api', 'marketo_api_error');
    expect(f.marketoCode).toBe('613');
  });

  it('identity 5xx → identity / identity_unexpected_response', async () => {
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, {
      kind: 'http',
      status: 503,
      count: 1,
      identity: true,
    });
    const f = expectFailure(
      await testMarketoConnection(input(), deps),
      'identity',
      'identity_unexpected_response',
    );
    expect(f.status).toBe(503);
  });

  it('an instance that does not exist → identity / identity_unexpected_response (404, not JSON)', async () => {
    const r = await testMarketoConnection(
      { ...input(), endpointURL: `http://${hostPort}/999-ZZZ-999/rest`, identityURL: '' },
      deps,
    );
    const f = expectFailure(r, 'identity', 'identity_unexpected_response');
    expect(f.status).toBe(404);
  });

  it('Domain and Identity URL of different instances → input / invalid_url', async () => {
    const r = await testMarketoConnection(
      { ...input(), identityURL: `http://${hostPort}/999-ZZZ-999/identity` },
      deps,
    );
    const f = expectFailure(r, 'input', 'invalid_url');
    expect(f.field).toBe('identityURL');
  });

  it('missing credentials → input', async () => {
    expectFailure(
      await testMarketoConnection({ ...input(), clientId: ' ' }, deps),
      'input',
      'missing_client_id',
    );
    expectFailure(
      await testMarketoConnection({ ...input(), clientSecret: '' }, deps),
      'input',
      'missing_client_secret',
    );
  });
});

describe('network failures', () => {
  it('a host that is not allowlisted → input / host_not_allowed', async () => {
    const r = await testMarketoConnection(
      { ...input(), endpointURL: 'http://127.0.0.1:9/123-ABC-456/rest', identityURL: '' },
      deps,
    );
    expectFailure(r, 'input', 'host_not_allowed');
  });

  it('refused by the outbound policy even without the input check → identity / host_not_allowed', async () => {
    const strict = new OutboundClient();
    const r = await testMarketoConnection(input(), { request: (o) => strict.request(o) });
    expectFailure(r, 'identity', 'host_not_allowed');
    strict.close();
  });

  it('unreachable port → identity / host_unreachable', async () => {
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    const freePort = (tmp.address() as AddressInfo).port;
    await new Promise((r) => tmp.close(r));
    const c = new OutboundClient({ allowedHosts: [`127.0.0.1:${freePort}`] });
    const r = await testMarketoConnection(
      { ...input(), endpointURL: `http://127.0.0.1:${freePort}/123-ABC-456/rest`, identityURL: '' },
      { request: (o) => c.request(o) },
    );
    expectFailure(r, 'identity', 'host_unreachable');
    c.close();
  });

  it('a server that never answers → identity / timeout', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const p = (silent.address() as AddressInfo).port;
    const c = new OutboundClient({ allowedHosts: [`127.0.0.1:${p}`] });
    const started = Date.now();
    const r = await testMarketoConnection(
      { ...input(), endpointURL: `http://127.0.0.1:${p}/123-ABC-456/rest`, identityURL: '' },
      { request: (o) => c.request(o), timeoutMs: 300 },
    );
    expectFailure(r, 'identity', 'timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
    c.close();
    silent.closeAllConnections();
    await new Promise((r2) => silent.close(r2));
  });
});

describe('with a scripted Marketo', () => {
  type Answer = { status?: number; json?: unknown; text?: string };
  const scripted = (answers: Record<string, Answer[]>) => {
    const calls: string[] = [];
    const request = async (o: OutboundRequestOptions): Promise<OutboundResponse> => {
      const path = new URL(o.url).pathname;
      calls.push(path);
      const a = answers[path]?.shift() ?? { status: 404, text: 'no script' };
      const text = a.text ?? JSON.stringify(a.json);
      return {
        status: a.status ?? 200,
        headers: { 'content-type': 'application/json' },
        body: Readable.from([text]),
      };
    };
    return { request, calls };
  };
  const token = { json: { access_token: 'tok:sb', token_type: 'bearer', expires_in: 3599, scope: 'a@b.c' } };
  const env603 = {
    json: { requestId: '1#1', success: false, errors: [{ code: '603', message: 'Access denied' }] },
  };
  const real = { clientId: 'cid', clientSecret: 'Sup3rS3cret', endpointURL: '123-abc-456.mktorest.com' };

  it('603 that the permission-free probe cannot explain → marketo_access_denied (both causes named)', async () => {
    const s = scripted({
      '/identity/oauth/token': [token],
      '/rest/v1/leads/describe2.json': [env603],
      '/rest/v1/stats/usage.json': [{ status: 502, text: 'Bad Gateway' }],
    });
    const f = expectFailure(
      await testMarketoConnection(real, { request: s.request }),
      'api',
      'marketo_access_denied',
    );
    expect(f.hint).toContain('Read-Only Lead');
    expect(f.hint).toContain('IP Restrictions');
  });

  it('calls the documented GET token endpoint with query parameters on the real host', async () => {
    const seen: OutboundRequestOptions[] = [];
    const s = scripted({
      '/identity/oauth/token': [token],
      '/rest/v1/leads/describe2.json': [
        { json: { requestId: '1#1', success: true, result: [{ name: 'API Lead' }] } },
      ],
    });
    const r = await testMarketoConnection(real, {
      request: (o) => {
        seen.push(o);
        return s.request(o);
      },
    });
    expect(r).toMatchObject({
      ok: true,
      token: 'tok:sb',
      expiresIn: 3599,
      scope: 'a@b.c',
      munchkinId: '123-ABC-456',
    });
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe(
      'https://123-abc-456.mktorest.com/identity/oauth/token?grant_type=client_credentials&client_id=cid&client_secret=Sup3rS3cret',
    );
    expect(seen[1]!.url).toBe('https://123-abc-456.mktorest.com/rest/v1/leads/describe2.json');
    expect(seen[1]!.headers?.authorization).toBe('Bearer tok:sb');
  });

  it('a 200 identity answer without a token, or HTML → identity_unexpected_response', async () => {
    for (const a of [
      { json: { hello: 1 } },
      { text: '<html></html>' },
      { status: 400, json: { error: 'invalid_request' } },
    ]) {
      const s = scripted({ '/identity/oauth/token': [a] });
      expectFailure(
        await testMarketoConnection(real, { request: s.request }),
        'identity',
        'identity_unexpected_response',
      );
    }
  });

  it('a redirect from the identity URL is not followed', async () => {
    const s = scripted({ '/identity/oauth/token': [{ status: 301, text: '' }] });
    const f = expectFailure(
      await testMarketoConnection(real, { request: s.request }),
      'identity',
      'identity_unexpected_response',
    );
    expect(f.message).toContain('redirect');
    expect(s.calls).toEqual(['/identity/oauth/token']);
  });

  it('a gateway 5xx on the read is retried once after a wait', async () => {
    const waits: number[] = [];
    const ok = { json: { requestId: '1#1', success: true, result: [] } };
    const s = scripted({
      '/identity/oauth/token': [token],
      '/rest/v1/leads/describe2.json': [{ status: 502, text: 'Bad Gateway' }, ok],
    });
    const r = await testMarketoConnection(real, {
      request: s.request,
      backOffMs: 1234,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(r.ok).toBe(true);
    expect(waits).toEqual([1234]);
  });

  it('a non-envelope 200 on the read → api_unexpected_response', async () => {
    const s = scripted({
      '/identity/oauth/token': [token],
      '/rest/v1/leads/describe2.json': [{ json: { foo: 1 } }],
    });
    expectFailure(
      await testMarketoConnection(real, { request: s.request }),
      'api',
      'api_unexpected_response',
    );
  });
});
