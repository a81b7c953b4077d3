/**
 * Marketo's usage and error statistics (spec 5.9) reflect what the sandbox counted: calls per API
 * user and errors per code, per America/Chicago day.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../testing.ts';
import { unlimited } from '../index.ts';

interface UsageDay {
  date: string;
  total: number;
  users: { userId: string; count: number }[];
}
interface ErrorDay {
  date: string;
  total: number;
  errors: { errorCode: string; count: number }[];
}

let sb: TestSandbox;

beforeEach(async () => {
  sb = await startTestSandbox({ seed: { leads: 10, seed: 1 }, limits: unlimited() });
});
afterEach(async () => {
  await sb.close();
});

function chicagoDay(ms: number): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: 'America/Chicago',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
}

async function tokenFor(clientId: string, secret: string): Promise<string> {
  const res = await fetch(
    `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${clientId}&client_secret=${secret}`,
  );
  return ((await res.json()) as { access_token: string }).access_token;
}

async function get<T>(path: string, token: string): Promise<MarketoBody & { result: T[] }> {
  const res = await fetch(`${sb.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as MarketoBody & { result: T[] };
}

describe('stats', () => {
  it('usage.json counts calls per API user for today (Chicago)', async () => {
    const m = sb.munchkinId;
    await sb.control('POST', `/instances/${m}/users`, { email: 'second@example.test', role: 'No Access' });
    const svc = (
      await sb.control('POST', `/instances/${m}/services`, { name: 's', user: 'second@example.test' })
    ).body as { clientId: string; clientSecret: string };
    const mine = await tokenFor(sb.clientId, sb.clientSecret);
    const theirs = await tokenFor(svc.clientId, svc.clientSecret);
    await get('/rest/v1/stats/errors.json', mine);
    await get('/rest/v1/stats/errors.json', mine);
    await get('/rest/v1/stats/errors.json', theirs);
    await get('/rest/v1/stats/errors.json', theirs);
    const usage = await get<UsageDay>('/rest/v1/stats/usage.json', mine);
    expect(usage.success).toBe(true);
    expect(usage.result).toHaveLength(1);
    const day = usage.result[0]!;
    expect(day.date).toBe(chicagoDay(Date.now()));
    const byUser = Object.fromEntries(day.users.map((u) => [u.userId, u.count]));
    expect(byUser).toEqual({ 'api@sandbox.tether.dev': 3, 'second@example.test': 2 });
    expect(day.total).toBe(5);
  });

  it('errors.json counts errors by code; totals add up', async () => {
    const token = await tokenFor(sb.clientId, sb.clientSecret);
    await get('/rest/v1/nothing.json', token);
    await get('/rest/v1/nothing.json', token);
    await get('/rest/v1/stats/usage.json', 'not-a-token');
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, { kind: 'error', code: '604', count: 1 });
    await get('/rest/v1/stats/usage.json', token);
    const errors = await get<ErrorDay>('/rest/v1/stats/errors.json', token);
    const day = errors.result[0]!;
    expect(day.date).toBe(chicagoDay(Date.now()));
    const byCode = Object.fromEntries(day.errors.map((e) => [e.errorCode, e.count]));
    expect(byCode).toEqual({ '610': 2, '601': 1, '604': 1 });
    expect(day.total).toBe(4);
    for (const e of day.errors) expect(typeof e.errorCode).toBe('string');
  });

  it('last7days lists seven days, newest first, and keeps earlier days apart', async () => {
    const token = await tokenFor(sb.clientId, sb.clientSecret);
    await get('/rest/v1/nothing.json', token);
    await get('/rest/v1/stats/usage.json', token);
    const firstDay = chicagoDay(Date.now());
    await sb.control('POST', `/instances/${sb.munchkinId}/clock`, { advanceSeconds: 86_400 });
    const next = await tokenFor(sb.clientId, sb.clientSecret);
    const usage = await get<UsageDay>('/rest/v1/stats/usage/last7days.json', next);
    expect(usage.result).toHaveLength(7);
    const dates = usage.result.map((d) => d.date);
    expect([...dates].sort().reverse()).toEqual(dates);
    expect(new Set(dates).size).toBe(7);
    expect(dates).toContain(firstDay);
    expect(usage.result[0]!.date).not.toBe(firstDay);
    expect(usage.result[0]!.total).toBe(1);
    expect(usage.result.find((d) => d.date === firstDay)!.total).toBe(2);

    const errors = await get<ErrorDay>('/rest/v1/stats/errors/last7days.json', next);
    expect(errors.result).toHaveLength(7);
    expect(errors.result.find((d) => d.date === firstDay)!.errors).toEqual([{ errorCode: '610', count: 1 }]);
    expect(errors.result[0]!.total).toBe(0);
  });
});
