/**
 * Fault injection through the control API: Marketo error codes, gateway statuses, slow and
 * dropped calls, path filters, identity faults, and the counters that record them.
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

const USAGE = '/rest/v1/stats/usage.json';
const ERRORS = '/rest/v1/stats/errors.json';

async function addFault(spec: Record<string, unknown>): Promise<number> {
  const r = await sb.control<{ id: number }>('POST', `/instances/${sb.munchkinId}/faults`, spec);
  expect(r.status).toBe(201);
  return r.body.id;
}

interface CountersBody {
  apiCalls: number;
  identityCalls: number;
  byEndpoint: Record<string, number>;
  errorsByCode: Record<string, number>;
  droppedConnections: number;
  peakConcurrency: number;
}

const counters = async () =>
  (await sb.control<CountersBody>('GET', `/instances/${sb.munchkinId}/counters`)).body;

const codeOf = (b: MarketoBody) => (b.success ? 'ok' : b.errors![0]!.code);

describe('error faults', () => {
  const expected: Record<string, string> = {
    '604': 'Request timed out',
    '606': "Max rate limit '100' exceeded with in '20' secs",
    '608': 'API Temporarily Unavailable',
    '611': 'System error',
    '615': "Concurrent access limit '10' reached",
    '713': 'Transient Error',
  };

  it('answers each code once per count, as an HTTP 200 envelope, then serves normally', async () => {
    for (const [code, message] of Object.entries(expected)) {
      await addFault({ kind: 'error', code, count: 1 });
      const res = await sb.api(USAGE);
      expect(res.status).toBe(200);
      const body = (await res.json()) as MarketoBody;
      expect(body.success).toBe(false);
      expect(body.errors).toEqual([{ code, message }]);
      expect(body.requestId).toMatch(/^[0-9a-f]+#[0-9a-f]+$/);
      expect((await sb.apiJson(USAGE)).success).toBe(true);
    }
    const c = await counters();
    for (const code of Object.keys(expected)) expect(c.errorsByCode[code]).toBe(1);
  });

  it('applies a count of several to the next calls only', async () => {
    await addFault({ kind: 'error', code: '608', count: 3 });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push(codeOf(await sb.apiJson(USAGE)));
    expect(codes).toEqual(['608', '608', '608', 'ok', 'ok']);
  });

  it('applies probability 1 to every call until cleared, probability 0 to none', async () => {
    const id = await addFault({ kind: 'error', code: '713', probability: 1 });
    for (let i = 0; i < 3; i++) expect(codeOf(await sb.apiJson(USAGE))).toBe('713');
    const listed = await sb.control<{ faults: { id: number; remaining: number | null; hits: number }[] }>(
      'GET',
      `/instances/${sb.munchkinId}/faults`,
    );
    expect(listed.body.faults).toEqual([
      expect.objectContaining({ id, kind: 'error', remaining: null, hits: 3 }),
    ]);
    expect((await sb.control('DELETE', `/instances/${sb.munchkinId}/faults`)).status).toBe(200);
    expect(codeOf(await sb.apiJson(USAGE))).toBe('ok');

    await addFault({ kind: 'error', code: '604', probability: 0, count: 5 });
    for (let i = 0; i < 5; i++) expect(codeOf(await sb.apiJson(USAGE))).toBe('ok');
    const after = await sb.control<{ faults: { remaining: number; hits: number }[] }>(
      'GET',
      `/instances/${sb.munchkinId}/faults`,
    );
    expect(after.body.faults).toEqual([expect.objectContaining({ remaining: 5, hits: 0 })]);
  });

  it('filters by path', async () => {
    await addFault({ kind: 'error', code: '611', count: 2, path: '/stats/errors' });
    expect(codeOf(await sb.apiJson(USAGE))).toBe('ok');
    expect(codeOf(await sb.apiJson(ERRORS))).toBe('611');
    expect(codeOf(await sb.apiJson(USAGE))).toBe('ok');
    expect(codeOf(await sb.apiJson(ERRORS))).toBe('611');
    expect(codeOf(await sb.apiJson(ERRORS))).toBe('ok');
  });
});

describe('gateway, slow and dropped calls', () => {
  it('answers plain HTTP 502 and 500 pages', async () => {
    await addFault({ kind: 'http', status: 502, count: 1 });
    await addFault({ kind: 'http', status: 500, count: 1 });
    const first = await sb.api(USAGE);
    expect(first.status).toBe(502);
    expect(first.headers.get('content-type')).toContain('text/html');
    expect(await first.text()).toContain('502 Bad Gateway');
    const second = await sb.api(USAGE);
    expect(second.status).toBe(500);
    await second.text();
    expect((await sb.api(USAGE)).status).toBe(200);
    const c = await counters();
    expect(c.errorsByCode['502']).toBe(1);
    expect(c.errorsByCode['500']).toBe(1);
  });

  it('delays a slow call and then serves it', async () => {
    await addFault({ kind: 'slow', delayMs: 300, count: 1 });
    const t0 = performance.now();
    const body = await sb.apiJson(USAGE);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(body.success).toBe(true);
  });

  it('drops the connection: the client sees a network error', async () => {
    await addFault({ kind: 'drop', count: 1 });
    await expect(sb.api(USAGE)).rejects.toThrow();
    expect((await sb.apiJson(USAGE)).success).toBe(true);
    expect((await counters()).droppedConnections).toBe(1);
  });

  it('hits identity only when asked', async () => {
    await sb.token();
    await addFault({ kind: 'http', status: 502, count: 1, identity: true });
    // API calls are untouched by an identity fault.
    expect((await sb.apiJson(USAGE)).success).toBe(true);
    const url = `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${sb.clientId}&client_secret=${sb.clientSecret}`;
    const failed = await fetch(url);
    expect(failed.status).toBe(502);
    await failed.text();
    expect((await fetch(url)).status).toBe(200);
  });
});

describe('counters', () => {
  it('count calls by endpoint, errors by code and identity calls; DELETE resets them', async () => {
    await sb.control('DELETE', `/instances/${sb.munchkinId}/counters`);
    await sb.token();
    for (let i = 0; i < 3; i++) await sb.apiJson(USAGE);
    await sb.apiJson(ERRORS);
    await sb.apiJson('/rest/v1/nope.json');
    await addFault({ kind: 'error', code: '604', count: 1 });
    await sb.apiJson(USAGE);
    const c = await counters();
    expect(c.byEndpoint[`GET ${USAGE}`]).toBe(3);
    expect(c.byEndpoint[`GET ${ERRORS}`]).toBe(1);
    expect(c.errorsByCode['610']).toBe(1);
    expect(c.errorsByCode['604']).toBe(1);
    // The helper fetched its token once, after the reset.
    expect(c.identityCalls).toBe(1);
    expect(c.peakConcurrency).toBeGreaterThanOrEqual(1);

    const before = c.identityCalls;
    await fetch(
      `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${sb.clientId}&client_secret=${sb.clientSecret}`,
    );
    expect((await counters()).identityCalls).toBe(before + 1);

    expect((await sb.control('DELETE', `/instances/${sb.munchkinId}/counters`)).status).toBe(200);
    const reset = await counters();
    expect(reset.apiCalls).toBe(0);
    expect(reset.identityCalls).toBe(0);
    expect(reset.byEndpoint).toEqual({});
    expect(reset.errorsByCode).toEqual({});
  });
});
