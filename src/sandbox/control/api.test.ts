/**
 * The control API refuses bad input with a 4xx JSON `{error:{code,message}}` and never breaks the
 * sandbox: after each refusal the instance still answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

let sb: TestSandbox;
let m: string;

beforeAll(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 1 }, limits: unlimited() });
  m = sb.munchkinId;
});
afterAll(async () => {
  await sb.close();
});

/** Send a raw body (possibly not JSON) to the control API. */
async function send(
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; type: string | null; json: unknown }> {
  const res = await fetch(sb.admin + path, {
    method,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, type: res.headers.get('content-type'), json };
}

function expectControlError(
  r: { status: number; type: string | null; json: unknown },
  status?: number,
): void {
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(r.status).toBeLessThan(500);
  if (status !== undefined) expect(r.status).toBe(status);
  expect(r.type).toContain('application/json');
  const err = (r.json as { error?: { code?: unknown; message?: unknown } }).error;
  expect(typeof err?.code).toBe('string');
  expect(typeof err?.message).toBe('string');
}

async function stillServes(): Promise<void> {
  const info = await send('GET', `/instances/${m}`);
  expect(info.status).toBe(200);
  const body = await sb.apiJson('/rest/v1/stats/usage.json');
  expect(body.success).toBe(true);
}

const j = (v: unknown) => JSON.stringify(v);

interface Created {
  munchkinId: string;
  endpoint: string;
  identity: string;
  clientId: string;
  clientSecret: string;
}

async function freshInstance(): Promise<Created> {
  const r = await sb.control<Created>('POST', '/instances', { seed: { leads: 1, seed: 1 } });
  expect(r.status).toBe(201);
  return r.body;
}

/** Whether the instance still serves a token and a call. */
async function usageOn(i: Created): Promise<boolean> {
  const res = await fetch(
    `${i.identity}/oauth/token?grant_type=client_credentials&client_id=${i.clientId}&client_secret=${i.clientSecret}`,
  );
  if (res.status !== 200) return false;
  const { access_token } = (await res.json()) as { access_token: string };
  const call = await fetch(`${i.endpoint}/v1/stats/usage.json`, {
    headers: { authorization: `Bearer ${access_token}` },
  });
  return ((await call.json()) as { success: boolean }).success;
}

describe('control API input checks', () => {
  it('refuses malformed or mistyped bodies with 400', async () => {
    const cases: [string, string, string][] = [
      ['POST', '/instances', '{"munchkinId":'],
      ['POST', '/instances', '[1,2]'],
      ['POST', '/instances', '"text"'],
      ['POST', '/instances', '42'],
      ['POST', '/instances', j({ munchkinId: 'not-a-munchkin' })],
      ['POST', '/instances', j({ unknownKey: true })],
      ['POST', '/instances', j({ limits: { rate: { max: 0 } } })],
      ['POST', '/instances', j({ limits: { rate: { max: 'ten' } } })],
      ['POST', '/instances', j({ limits: { teleport: {} } })],
      ['POST', '/instances', j({ seed: { leads: -1, seed: 1 } })],
      ['POST', '/instances', j({ seed: { leads: 1, seed: 1, asOf: 'yesterday' } })],
      ['POST', '/instances', j({ settings: { tokenTtlSeconds: 0 } })],
      ['PATCH', `/instances/${m}`, j({ limits: { rate: { windowMs: -5 } } })],
      ['PATCH', `/instances/${m}`, j({ settings: { gzip: 'yes' } })],
      ['PATCH', `/instances/${m}`, j({ settings: { ipAllowlist: 'everyone' } })],
      ['POST', `/instances/${m}/seed`, j({ leads: 1e300, seed: 1 })],
      ['POST', `/instances/${m}/seed`, '{'],
      ['POST', `/instances/${m}/roles`, j({ name: 'x', permissions: ['fly'] })],
      ['POST', `/instances/${m}/roles`, j({ name: '', permissions: [] })],
      ['POST', `/instances/${m}/users`, j({ email: 'a@b.c', role: 'No Such Role' })],
      ['POST', `/instances/${m}/services`, j({ name: 's', user: 'nobody@example.test' })],
      ['POST', `/instances/${m}/faults`, j({ kind: 'error', count: 1 })],
      ['POST', `/instances/${m}/faults`, j({ kind: 'explode', count: 1 })],
      ['POST', `/instances/${m}/faults`, j({ kind: 'error', code: '604' })],
      ['POST', `/instances/${m}/faults`, j({ kind: 'slow', delayMs: -1, count: 1 })],
      ['POST', `/instances/${m}/faults`, j({ kind: 'http', status: 200, count: 1 })],
      ['POST', `/instances/${m}/faults`, j({ kind: 'error', code: '604', probability: 2 })],
      ['POST', `/instances/${m}/clock`, j({ advanceMs: -5 })],
      ['POST', `/instances/${m}/clock`, j({ advanceSeconds: 'soon' })],
      ['POST', `/instances/${m}/tokens/expire`, j({ clientId: 5 })],
    ];
    for (const [method, path, body] of cases) {
      const r = await send(method, path, body);
      expect({ method, path, body, status: r.status }).toEqual({ method, path, body, status: 400 });
      expectControlError(r, 400);
    }
    await stillServes();
  });

  it('answers 404 for unknown instances, services and routes, 405 and 409 where due', async () => {
    expectControlError(await send('GET', '/instances/999-ZZZ-999'), 404);
    expectControlError(await send('POST', '/instances/999-ZZZ-999/clock', j({ advanceMs: 1 })), 404);
    expectControlError(await send('POST', `/instances/${m}/services/no-such-client/revoke`), 404);
    expectControlError(await send('GET', `/instances/${m}/teleport`), 404);
    expectControlError(await send('GET', '/elsewhere'), 404);
    expectControlError(await send('PUT', '/instances'), 405);
    expectControlError(await send('POST', '/instances', j({ munchkinId: m })), 409);
    const svc = await send(
      'POST',
      `/instances/${m}/services`,
      j({ name: 'a', user: 'api@sandbox.tether.dev', clientId: 'taken-id' }),
    );
    expect(svc.status).toBe(201);
    expectControlError(
      await send(
        'POST',
        `/instances/${m}/services`,
        j({ name: 'b', user: 'api@sandbox.tether.dev', clientId: 'taken-id' }),
      ),
      409,
    );
    await stillServes();
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const r = await send('POST', '/instances', j({ pad: 'x'.repeat(1_100_000) }));
    expectControlError(r, 413);
    await stillServes();
  });

  it('refuses a clock jump beyond any sensible date instead of breaking the instance', async () => {
    // An instance of its own: if the jump were applied, this instance would stay broken.
    const own = await freshInstance();
    const r = await send('POST', `/instances/${own.munchkinId}/clock`, j({ advanceSeconds: 1e300 }));
    expectControlError(r, 400);
    expect((await send('GET', `/instances/${own.munchkinId}`)).status).toBe(200);
    expect(await usageOn(own)).toBe(true);
  });

  it('refuses an absurd rate limit instead of half-applying it', async () => {
    const own = await freshInstance();
    const r = await send('PATCH', `/instances/${own.munchkinId}`, j({ limits: { rate: { max: 1e12 } } }));
    expectControlError(r, 400);
    const info = (await send('GET', `/instances/${own.munchkinId}`)).json as {
      limits: { rate: { max: number } };
    };
    expect(info.limits.rate.max).toBeLessThan(1e12);
    expectControlError(await send('POST', '/instances', j({ limits: { rate: { max: 1e12 } } })), 400);
    expect(await usageOn(own)).toBe(true);
  });

  it('answers a malformed percent-encoded path with a 4xx JSON error', async () => {
    const r = await send('GET', '/instances/%E0%A4%A');
    expectControlError(r);
    await stillServes();
  });
});
