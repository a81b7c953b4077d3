/**
 * The HTTP surface of the sandbox core (spec 2, 3, 4): envelope, dispatch errors, permissions,
 * body checks, size limits, `_method=GET`, gzip, instance by Host. Over HTTP only.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 5 }, limits: unlimited() });
});
afterAll(async () => {
  await sb.close();
});

const control = (method: string, rest: string, body?: unknown) =>
  sb.control(method, `/instances/${sb.munchkinId}${rest}`, body);

async function tokenFor(clientId: string, secret: string): Promise<string> {
  const res = await fetch(
    `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${clientId}&client_secret=${secret}`,
  );
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A token for a new API user whose role has exactly these permissions. */
async function tokenWithRole(role: string, permissions: string[] | null): Promise<string> {
  if (permissions) expect((await control('POST', '/roles', { name: role, permissions })).status).toBe(201);
  const email = `${role.replace(/\W/g, '').toLowerCase()}@example.test`;
  expect((await control('POST', '/users', { email, role })).status).toBe(201);
  const svc = await control('POST', '/services', { name: role, user: email });
  expect(svc.status).toBe(201);
  const { clientId, clientSecret } = svc.body as { clientId: string; clientSecret: string };
  return tokenFor(clientId, clientSecret);
}

function expectFailure(body: MarketoBody, code: string, message?: string): void {
  expect(body.success).toBe(false);
  expect(body.errors).toHaveLength(1);
  expect(body.errors![0]!.code).toBe(code);
  if (message !== undefined) expect(body.errors![0]!.message).toBe(message);
}

/** A raw request, for what fetch would rewrite (Host header, `..` in paths). */
function raw(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(sb.base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('envelope', () => {
  it('has a requestId "<hex>#<hex server time in ms>" and JSON;charset=UTF-8', async () => {
    const before = Date.now();
    const res = await sb.api('/rest/v1/stats/usage.json');
    const after = Date.now();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    const body = (await res.json()) as MarketoBody;
    expect(body.success).toBe(true);
    expect(body.requestId).toMatch(/^[0-9a-f]+#[0-9a-f]+$/);
    const ms = parseInt(body.requestId.split('#')[1]!, 16);
    expect(ms).toBeGreaterThanOrEqual(before - 5_000);
    expect(ms).toBeLessThanOrEqual(after + 5_000);
    const other = await sb.apiJson('/rest/v1/stats/usage.json');
    expect(other.requestId).not.toBe(body.requestId);
  });

  it('answers 6xx with HTTP 200, success:false and string codes; 610 for an unknown path', async () => {
    const res = await sb.api('/rest/v1/no/such/thing.json');
    expect(res.status).toBe(200);
    const body = (await res.json()) as MarketoBody;
    expectFailure(body, '610', 'Requested resource not found');
    expect(typeof body.errors![0]!.code).toBe('string');
    expect(body.requestId).toMatch(/^[0-9a-f]+#[0-9a-f]+$/);
  });

  it('answers 605 for a wrong method on a known path', async () => {
    const post = await sb.apiJson('/rest/v1/stats/usage.json', { method: 'POST', json: {} });
    expectFailure(post, '605');
    const get = await sb.apiJson('/rest/v1/campaigns/1001/trigger.json');
    expectFailure(get, '605');
  });
});

describe('permissions', () => {
  it('answers 603 when the role lacks the permission; stats need none', async () => {
    const token = await tokenWithRole('No Access', null);
    const headers = { authorization: `Bearer ${token}` };
    const denied = (await (
      await fetch(`${sb.base}/rest/asset/v1/programs.json`, { headers })
    ).json()) as MarketoBody;
    expectFailure(denied, '603', 'Access denied');
    const campaigns = (await (
      await fetch(`${sb.base}/rest/v1/campaigns.json`, { headers })
    ).json()) as MarketoBody;
    expectFailure(campaigns, '603');
    const usage = (await (
      await fetch(`${sb.base}/rest/v1/stats/usage.json`, { headers })
    ).json()) as MarketoBody;
    expect(usage.success).toBe(true);
  });

  it('grants by the role: a read-only assets role reads assets but cannot write them', async () => {
    const token = await tokenWithRole('Assets Reader', ['readOnlyAssets']);
    const headers = { authorization: `Bearer ${token}` };
    const read = (await (
      await fetch(`${sb.base}/rest/asset/v1/programs.json`, { headers })
    ).json()) as MarketoBody;
    expect(read.success).toBe(true);
    const write = (await (
      await fetch(`${sb.base}/rest/asset/v1/program/1001.json`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'description=x',
      })
    ).json()) as MarketoBody;
    expectFailure(write, '603');
  });

  it('answers 603 to callers outside the IP allowlist', async () => {
    try {
      expect(
        (
          await sb.control('PATCH', `/instances/${sb.munchkinId}`, {
            settings: { ipAllowlist: ['10.9.8.7'] },
          })
        ).status,
      ).toBe(200);
      expectFailure(await sb.apiJson('/rest/v1/stats/usage.json'), '603');
      await sb.control('PATCH', `/instances/${sb.munchkinId}`, {
        settings: { ipAllowlist: ['10.9.8.7', '127.0.0.1'] },
      });
      expect((await sb.apiJson('/rest/v1/stats/usage.json')).success).toBe(true);
    } finally {
      await sb.control('PATCH', `/instances/${sb.munchkinId}`, { settings: { ipAllowlist: null } });
    }
    expect((await sb.apiJson('/rest/v1/stats/usage.json')).success).toBe(true);
  });
});

describe('request bodies', () => {
  const triggerPath = async () => {
    const list = await sb.apiJson('/rest/v1/campaigns.json?isTriggerable=true');
    return `/rest/v1/campaigns/${(list.result![0] as { id: number }).id}/trigger.json`;
  };

  it('answers 612 for a non-JSON content type and 609 for invalid JSON on a JSON route', async () => {
    const path = await triggerPath();
    const ok = await sb.apiJson(path, { method: 'POST', json: { input: [{ id: 1 }] } });
    expect(ok.success).toBe(true);
    const text = await sb.apiJson(path, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"input":[{"id":1}]}',
    });
    expectFailure(text, '612', 'Invalid Content Type');
    const broken = await sb.apiJson(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"input":[{"id":1}],',
    });
    expectFailure(broken, '609', 'Invalid JSON');
  });

  it('answers HTTP 413 for a body over 1 MB', async () => {
    const path = await triggerPath();
    const big = JSON.stringify({ input: [{ id: 1 }], pad: 'x'.repeat(1_100_000) });
    const res = await sb.api(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toContain('413');
    // Just under the limit is read and handled.
    const under = JSON.stringify({ input: [{ id: 1 }], pad: 'x'.repeat(1_000_000) });
    const ok = await sb.apiJson(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: under,
    });
    expect(ok.success).toBe(true);
  });

  it('answers HTTP 414 for a URI over 8 KB; POST ?_method=GET with a form body does the same read', async () => {
    const campaigns = (await sb.apiJson('/rest/v1/campaigns.json')).result as { id: number; name: string }[];
    const names = [campaigns[0]!.name, ...Array.from({ length: 500 }, (_, i) => `padding name ${i}`)];
    const query = new URLSearchParams({ name: names.join(',') }).toString();
    expect(query.length).toBeGreaterThan(8_192);
    const long = await sb.api(`/rest/v1/campaigns.json?${query}`);
    expect(long.status).toBe(414);
    const viaPost = await sb.apiJson('/rest/v1/campaigns.json?_method=GET', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: query,
    });
    expect(viaPost.success).toBe(true);
    expect((viaPost.result as { id: number }[]).map((c) => c.id)).toEqual([campaigns[0]!.id]);
  });

  it('lets the body and URI limits be changed and switched off', async () => {
    const path = await triggerPath();
    const id = sb.munchkinId;
    try {
      await sb.control('PATCH', `/instances/${id}`, { limits: { body: { maxBytes: 100 } } });
      const small = await sb.api(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: [{ id: 1 }], pad: 'x'.repeat(200) }),
      });
      expect(small.status).toBe(413);
      await sb.control('PATCH', `/instances/${id}`, {
        limits: { body: { enabled: false }, uri: { enabled: false } },
      });
      const big = await sb.apiJson(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: [{ id: 1 }], pad: 'x'.repeat(1_200_000) }),
      });
      expect(big.success).toBe(true);
      const longUri = await sb.api(`/rest/v1/campaigns.json?name=${'y'.repeat(9_000)}`);
      expect(longUri.status).toBe(200);
    } finally {
      await sb.control('PATCH', `/instances/${id}`, {
        limits: { body: { enabled: true, maxBytes: 1_048_576 }, uri: { enabled: true } },
      });
    }
  });
});

describe('transport', () => {
  it('gzips responses of 1 KiB or more when asked', async () => {
    const res = await sb.api('/rest/v1/campaigns.json', { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(((await res.json()) as MarketoBody).success).toBe(true);
    const small = await sb.api('/rest/v1/stats/errors.json', { headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers.get('content-encoding')).toBeNull();
  });

  it('finds the instance by its <munchkin>.mktorest.com Host and normalises /rest/../ paths', async () => {
    const token = await sb.token();
    const byHost = await raw('/rest/v1/stats/usage.json', {
      host: `${sb.munchkinId.toLowerCase()}.mktorest.com`,
      authorization: `Bearer ${token}`,
    });
    expect(byHost.status).toBe(200);
    expect((JSON.parse(byHost.body) as MarketoBody).success).toBe(true);
    const dotted = await raw(`/${sb.munchkinId}/rest/../rest/v1/stats/usage.json`, {
      authorization: `Bearer ${token}`,
    });
    expect((JSON.parse(dotted.body) as MarketoBody).success).toBe(true);
    const unknown = await raw('/rest/v1/stats/usage.json', { host: '999-zzz-999.mktorest.com' });
    expect(unknown.status).toBe(404);
  });
});
