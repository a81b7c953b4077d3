/**
 * Several Marketo instances behind one sandbox, created through the control API: each has its own
 * credentials, tokens, limits and clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

interface Created {
  munchkinId: string;
  endpoint: string;
  identity: string;
  clientId: string;
  clientSecret: string;
  clockOffsetMs: number;
  leads: number;
}

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({
    munchkinId: '100-AAA-100',
    seed: { leads: 10, seed: 1 },
    limits: unlimited(),
  });
});
afterAll(async () => {
  await sb.close();
});

async function tokenOf(i: { identity: string; clientId: string; clientSecret: string }): Promise<string> {
  const res = await fetch(
    `${i.identity}/oauth/token?grant_type=client_credentials&client_id=${i.clientId}&client_secret=${i.clientSecret}`,
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function usage(endpoint: string, token: string): Promise<MarketoBody> {
  const res = await fetch(`${endpoint}/v1/stats/usage.json`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await res.json()) as MarketoBody;
}

async function create(body: unknown): Promise<Created> {
  const r = await sb.control<Created>('POST', '/instances', body);
  expect(r.status).toBe(201);
  return r.body;
}

describe('several instances', () => {
  it('creates an instance with its own URLs and credentials', async () => {
    const b = await create({ munchkinId: '200-bbb-200', seed: { leads: 5, seed: 2 } });
    expect(b.munchkinId).toBe('200-BBB-200');
    expect(b.endpoint).toMatch(/\/200-BBB-200\/rest$/);
    expect(b.identity).toMatch(/\/200-BBB-200\/identity$/);
    expect(b.clientId).not.toBe(sb.clientId);
    expect(b.clientSecret).not.toBe(sb.clientSecret);
    const list = await sb.control<{ instances: { munchkinId: string }[] }>('GET', '/instances');
    expect(list.body.instances.map((i) => i.munchkinId)).toEqual(
      expect.arrayContaining(['100-AAA-100', '200-BBB-200']),
    );
    const one = await sb.control<Created>('GET', '/instances/200-bbb-200');
    expect(one.status).toBe(200);
    expect(one.body.clientId).toBe(b.clientId);
    // A second instance with the same id is refused.
    const dup = await sb.control<{ error: { code: string } }>('POST', '/instances', {
      munchkinId: '200-BBB-200',
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('instance_exists');
  });

  it('keeps tokens apart: a token of one instance is 601 on the other', async () => {
    const c = await create({ munchkinId: '300-CCC-300', seed: { leads: 5, seed: 3 } });
    const tokenA = await sb.token();
    const tokenC = await tokenOf(c);
    expect((await usage(c.endpoint, tokenC)).success).toBe(true);
    const cross = await usage(c.endpoint, tokenA);
    expect(cross.success).toBe(false);
    expect(cross.errors![0]!.code).toBe('601');
    const back = await usage(sb.endpoint, tokenC);
    expect(back.errors![0]!.code).toBe('601');
    // Credentials are per instance too.
    const res = await fetch(
      `${c.identity}/oauth/token?grant_type=client_credentials&client_id=${sb.clientId}&client_secret=${sb.clientSecret}`,
    );
    expect(res.status).toBe(401);
    // The path prefix is case-insensitive.
    expect((await usage(c.endpoint.replace('300-CCC-300', '300-ccc-300'), tokenC)).success).toBe(true);
  });

  it('keeps limits apart', async () => {
    const d = await create({
      munchkinId: '400-DDD-400',
      seed: { leads: 5, seed: 4 },
      limits: { daily: { quota: 2 } },
    });
    const token = await tokenOf(d);
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await usage(d.endpoint, token);
      codes.push(b.success ? 'ok' : b.errors![0]!.code);
    }
    expect(codes).toEqual(['ok', 'ok', '607']);
    for (let i = 0; i < 3; i++) expect((await usage(sb.endpoint, await sb.token())).success).toBe(true);
  });

  it('keeps clocks apart', async () => {
    const e = await create({ munchkinId: '500-EEE-500', seed: { leads: 5, seed: 5 } });
    const tokenE = await tokenOf(e);
    const moved = await sb.control<{ offsetMs: number }>('POST', '/instances/500-EEE-500/clock', {
      advanceSeconds: 7_200,
    });
    expect(moved.body.offsetMs).toBe(7_200_000);
    expect((await sb.control<Created>('GET', '/instances/500-EEE-500')).body.clockOffsetMs).toBe(7_200_000);
    expect((await sb.control<Created>('GET', '/instances/100-AAA-100')).body.clockOffsetMs).toBe(0);
    // E's token expired with its clock; A's did not.
    expect((await usage(e.endpoint, tokenE)).errors![0]!.code).toBe('602');
    expect((await usage(sb.endpoint, await sb.token())).success).toBe(true);
    const body = await usage(e.endpoint, await tokenOf(e));
    const ms = parseInt(body.requestId.split('#')[1]!, 16);
    expect(ms - Date.now()).toBeGreaterThan(7_190_000);
  });

  it('deletes an instance: its URLs answer 404 afterwards', async () => {
    const f = await create({ munchkinId: '600-FFF-600', seed: { leads: 5, seed: 6 } });
    const token = await tokenOf(f);
    const del = await sb.control('DELETE', '/instances/600-FFF-600');
    expect(del.status).toBe(200);
    const res = await fetch(`${f.endpoint}/v1/stats/usage.json`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(404);
    await res.text();
    expect((await sb.control('GET', '/instances/600-FFF-600')).status).toBe(404);
  });

  it('creates an instance with a random Munchkin ID and fixed credentials when asked', async () => {
    const g = await create({
      clientId: 'fixed-id',
      clientSecret: 'fixed-secret',
      seed: { leads: 1, seed: 1 },
    });
    expect(g.munchkinId).toMatch(/^\d{3}-[A-Z]{3}-\d{3}$/);
    expect(g.clientId).toBe('fixed-id');
    expect(g.clientSecret).toBe('fixed-secret');
    expect((await usage(g.endpoint, await tokenOf(g))).success).toBe(true);
  });
});
