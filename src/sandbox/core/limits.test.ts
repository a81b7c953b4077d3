/**
 * Call limits (spec 4): rolling window 606, concurrency 615, daily quota 607 with its midnight
 * reset; each configurable and switchable. Small numbers and the instance clock keep it fast and
 * free of timing luck.
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

async function freshToken(): Promise<string> {
  const res = await fetch(
    `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${sb.clientId}&client_secret=${sb.clientSecret}`,
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function usage(token: string): Promise<MarketoBody> {
  const res = await fetch(`${sb.base}/rest/v1/stats/usage.json`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as MarketoBody;
}

const codeOf = (b: MarketoBody) => (b.success ? 'ok' : b.errors![0]!.code);

async function patchLimits(limits: unknown): Promise<void> {
  const r = await sb.control('PATCH', `/instances/${sb.munchkinId}`, { limits });
  expect(r.status).toBe(200);
}

async function advance(body: unknown): Promise<void> {
  const r = await sb.control('POST', `/instances/${sb.munchkinId}/clock`, body);
  expect(r.status).toBe(200);
}

interface CountersBody {
  errorsByCode: Record<string, number>;
  peakConcurrency: number;
  inFlight: number;
  callsToday: number;
  callsInWindow: number;
}

const counters = async () =>
  (await sb.control<CountersBody>('GET', `/instances/${sb.munchkinId}/counters`)).body;

describe('rolling window (606)', () => {
  it('refuses the call past max within the window, and serves again once the window has passed', async () => {
    const token = await freshToken();
    await patchLimits({ rate: { enabled: true, max: 5, windowMs: 60_000 } });
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) codes.push(codeOf(await usage(token)));
    expect(codes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', '606', '606']);
    const refused = await usage(token);
    expect(refused.errors![0]!.message).toBe("Max rate limit '5' exceeded with in '60' secs");
    expect((await counters()).callsInWindow).toBe(5);

    await advance({ advanceMs: 60_001 });
    expect(codeOf(await usage(token))).toBe('ok');
    expect((await counters()).errorsByCode['606']).toBe(3);
  });

  it('is a rolling window, not a fixed one', async () => {
    const token = await freshToken();
    await patchLimits({ rate: { enabled: true, max: 2, windowMs: 10_000 } });
    expect(codeOf(await usage(token))).toBe('ok');
    await advance({ advanceMs: 6_000 });
    expect(codeOf(await usage(token))).toBe('ok');
    await advance({ advanceMs: 6_000 });
    // The first call left the window; the second (6 s old) is still in it.
    expect(codeOf(await usage(token))).toBe('ok');
    expect(codeOf(await usage(token))).toBe('606');
  });

  it('can be switched off', async () => {
    const token = await freshToken();
    await patchLimits({ rate: { enabled: false, max: 2, windowMs: 60_000 } });
    for (let i = 0; i < 10; i++) expect(codeOf(await usage(token))).toBe('ok');
  });
});

describe('concurrency (615)', () => {
  it('refuses calls beyond the in-flight maximum', async () => {
    const token = await freshToken();
    await patchLimits({ concurrency: { enabled: true, max: 2 } });
    const fault = await sb.control('POST', `/instances/${sb.munchkinId}/faults`, {
      kind: 'slow',
      delayMs: 800,
      count: 4,
    });
    expect(fault.status).toBe(201);
    const bodies = await Promise.all(Array.from({ length: 4 }, () => usage(token)));
    const codes = bodies.map(codeOf).sort();
    expect(codes).toEqual(['615', '615', 'ok', 'ok']);
    const refused = bodies.find((b) => !b.success)!;
    expect(refused.errors![0]!.message).toBe("Concurrent access limit '2' reached");
    const c = await counters();
    expect(c.peakConcurrency).toBe(2);
    expect(c.inFlight).toBe(0);
    expect(c.errorsByCode['615']).toBe(2);
    expect(codeOf(await usage(token))).toBe('ok');
  });

  it('can be switched off', async () => {
    const token = await freshToken();
    await patchLimits({ concurrency: { enabled: false, max: 1 } });
    await sb.control('POST', `/instances/${sb.munchkinId}/faults`, { kind: 'slow', delayMs: 800, count: 4 });
    const bodies = await Promise.all(Array.from({ length: 4 }, () => usage(token)));
    expect(bodies.map(codeOf)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect((await counters()).peakConcurrency).toBe(4);
  });
});

describe('daily quota (607)', () => {
  it('refuses calls past the quota until midnight America/Chicago; identity still answers', async () => {
    const token = await freshToken();
    await patchLimits({ daily: { enabled: true, quota: 3 } });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push(codeOf(await usage(token)));
    expect(codes).toEqual(['ok', 'ok', 'ok', '607', '607']);
    expect((await usage(token)).errors![0]!.message).toBe('Daily quota reached');
    expect((await counters()).callsToday).toBe(3);
    // Identity does not count against the quota.
    expect(await freshToken()).toBe(token);

    const before = (await sb.control<{ quotaResetAt: string }>('GET', `/instances/${sb.munchkinId}`)).body;
    await advance({ toNextMidnight: true });
    const after = (
      await sb.control<{ now: string; quotaResetAt: string }>('GET', `/instances/${sb.munchkinId}`)
    ).body;
    expect(Date.parse(after.now)).toBeGreaterThanOrEqual(Date.parse(before.quotaResetAt));
    expect(Date.parse(after.quotaResetAt)).toBeGreaterThan(Date.parse(before.quotaResetAt));
    // Midnight in Chicago is 05:00 or 06:00 UTC.
    expect([5, 6]).toContain(new Date(before.quotaResetAt).getUTCHours());

    // The jump may outlive the token; take a new one if needed.
    let next = await usage(token);
    if (!next.success && ['601', '602'].includes(codeOf(next))) next = await usage(await freshToken());
    expect(next.success).toBe(true);
    expect((await counters()).callsToday).toBe(1);
  });

  it('can be switched off', async () => {
    const token = await freshToken();
    await patchLimits({ daily: { enabled: false, quota: 1 } });
    for (let i = 0; i < 4; i++) expect(codeOf(await usage(token))).toBe('ok');
  });

  it('takes limits at instance creation', async () => {
    const created = await sb.control<{
      identity: string;
      endpoint: string;
      clientId: string;
      clientSecret: string;
    }>('POST', '/instances', {
      seed: { leads: 1, seed: 1 },
      limits: { daily: { quota: 1 }, rate: { max: 50 } },
    });
    expect(created.status).toBe(201);
    const c = created.body;
    const tok = (await (
      await fetch(
        `${c.identity}/oauth/token?grant_type=client_credentials&client_id=${c.clientId}&client_secret=${c.clientSecret}`,
      )
    ).json()) as { access_token: string };
    const call = async () =>
      (await (
        await fetch(`${c.endpoint}/v1/stats/usage.json`, {
          headers: { authorization: `Bearer ${tok.access_token}` },
        })
      ).json()) as MarketoBody;
    expect(codeOf(await call())).toBe('ok');
    expect(codeOf(await call())).toBe('607');
    // The first instance is not affected.
    expect(codeOf(await usage(await freshToken()))).toBe('ok');
  });
});
