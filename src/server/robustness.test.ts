/**
 * Every public route (routes/index.ts, enumerated, so a new route is covered the day it is added) against
 * hostile input: broken and odd JSON bodies, oversized bodies, wrong content types, garbage in path
 * parameters and query strings, malformed percent-encoding. Whatever the input: never a 5xx, every error
 * is `{ "error": { "code": snake_case, "message" } }`, no secret in any answer or log line, and the server
 * still answers afterwards with the connection intact (no lost data).
 */
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from './routes/index.ts';
import { startTestTether, type TestTether } from './testing.ts';
import { captureLogs, connectNew } from './routes/connections/test-helpers.ts';

interface Variant {
  name: string;
  /** Path parameter value (for every `:param`); undefined: a value that exists. */
  param?: string;
  query?: string;
  body?: string | Uint8Array<ArrayBuffer>;
  contentType?: string;
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

const VARIANTS: Variant[] = [
  { name: 'no body' },
  { name: 'broken JSON', body: '{"a":', contentType: 'application/json' },
  { name: 'JSON null', body: 'null', contentType: 'application/json' },
  { name: 'JSON array', body: '[1,2,3]', contentType: 'application/json' },
  { name: 'JSON string', body: '"x"', contentType: 'application/json' },
  { name: 'JSON number', body: '1e309', contentType: 'application/json' },
  {
    name: 'prototype keys',
    body: '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}',
    contentType: 'application/json',
  },
  {
    name: 'wrong types everywhere',
    body: JSON.stringify({
      end_user: 5,
      allowed_integrations: 'marketo',
      provider_config_key: ['marketo'],
      connection_id: { id: 1 },
      metadata: 'x',
      syncs: 7,
      credentials: null,
      instance: [],
      daily_budget: 'lots',
      frequency: -1,
    }),
    contentType: 'application/json',
  },
  { name: 'deep nesting', body: deep(20_000), contentType: 'application/json' },
  { name: 'oversized body', body: new Uint8Array(3 * 1024 * 1024).fill(97), contentType: 'application/json' },
  { name: 'JSON as text/plain', body: '{"a":1}', contentType: 'text/plain' },
  { name: 'form body', body: 'a=1&b=2', contentType: 'application/x-www-form-urlencoded' },
  {
    name: 'invalid UTF-8',
    body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
    contentType: 'application/json',
  },
  {
    name: 'garbage query',
    query:
      'provider_config_key=%00&connection_id=' +
      'x'.repeat(5000) +
      '&limit=-1&cursor=%FF%FE&modified_after=yesterday&a[b]=1&syncs=&syncs=&ids=%E2%80%AE',
  },
  {
    name: 'repeated query keys',
    query: 'provider_config_key=marketo&provider_config_key=other&limit=1&limit=2',
  },
  { name: 'malformed percent-encoding in query', query: 'provider_config_key=%ZZ&connection_id=%' },
  { name: 'NUL in path parameter', param: '%00' },
  { name: 'traversal in path parameter', param: '..%2F..%2Fetc%2Fpasswd' },
  { name: 'long path parameter', param: 'p'.repeat(4000) },
  { name: 'unicode path parameter', param: encodeURIComponent('é🙂\u202e') },
  { name: 'malformed percent-encoding in path parameter', param: '%E0%A4%A' },
];

function pathOf(route: string, param: string | undefined, real: { connectionId: string }): string {
  return route
    .replace('*', 'rest/v1/leads.json')
    .replace(/:([A-Za-z]+)(\.svg)?/g, (_m, name: string, ext: string | undefined) => {
      if (param !== undefined) return param + (ext ?? '');
      if (name === 'connectionId') return real.connectionId;
      if (name === 'runId') return '1';
      return 'marketo' + (ext ?? '');
    });
}

describe('every route, hostile input', () => {
  let t: TestTether;
  let logs: string[];
  let connectionId: string;
  let sessionToken: string;

  beforeAll(async () => {
    t = await startTestTether();
    logs = captureLogs(t);
    connectionId = await connectNew(t);
    sessionToken = await t.session();
  });
  afterAll(() => t?.close());

  it(
    'answers every variant on every route without a 5xx, with the error shape, and loses nothing',
    { timeout: 120_000 },
    async () => {
      const seen: string[] = [];
      for (const route of routes) {
        const methods = route.method === '*' ? ['GET', 'POST'] : [route.method];
        for (const method of methods) {
          for (const v of VARIANTS) {
            // Destructive routes get an id that does not exist, so the connection survives for the checks.
            const param = v.param ?? (method === 'DELETE' ? 'does-not-exist' : undefined);
            const url = `${t.url}${pathOf(route.path, param, { connectionId })}${v.query ? `?${v.query}` : ''}`;
            const headers: Record<string, string> = {
              authorization: `Bearer ${route.auth === 'session' ? sessionToken : t.secretKey}`,
            };
            if (v.contentType) headers['content-type'] = v.contentType;
            const hasBody = v.body !== undefined && method !== 'GET' && method !== 'HEAD';
            const res = await fetch(url, {
              method,
              headers,
              signal: AbortSignal.timeout(5000),
              ...(hasBody ? { body: v.body } : {}),
            });
            const text = await res.text();
            const label = `${method} ${route.path} (${v.name}) → ${res.status} ${text.slice(0, 200)}`;
            seen.push(label);
            expect(res.status, label).toBeLessThan(500);
            expect(text, label).not.toContain(t.sandbox.clientSecret);
            expect(text, label).not.toContain(t.secretKey);
            const isTetherError =
              res.status >= 400 && (res.headers.get('content-type') ?? '').includes('application/json');
            if (isTetherError && route.path !== '/proxy/*') {
              const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
              expect(body.error?.code, label).toMatch(/^[a-z][a-z0-9_]*$/);
              expect(typeof body.error?.message, label).toBe('string');
              expect((body.error?.message as string).length, label).toBeGreaterThan(0);
            }
          }
        }
      }
      // Every route × variant was sent (none skipped by a thrown fetch).
      const sent = routes.reduce((n, r) => n + (r.method === '*' ? 2 : 1), 0) * VARIANTS.length;
      expect(seen).toHaveLength(sent);

      // Still up, the connection intact, and no prototype polluted by the bodies.
      expect((await t.api('/health')).status).toBe(200);
      const conn = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
      expect(conn.status).toBe(200);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const all = logs.join('');
      expect(all).not.toContain(t.sandbox.clientSecret);
      expect(all).not.toContain(t.secretKey);
    },
  );

  it('after a body refused as too large, the next request on one connection is answered (it was left hanging)', async () => {
    // One connection only: the second request must reuse it or open a new one after the server closed it.
    const dispatcher = new Agent({ connections: 1 });
    try {
      const post = (body: string | Uint8Array) =>
        undiciFetch(`${t.url}/connect/sessions`, {
          method: 'POST',
          dispatcher,
          headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(5000),
        });
      for (let i = 0; i < 3; i++) {
        const big = await post(new Uint8Array(3 * 1024 * 1024).fill(97));
        expect(big.status).toBe(413);
        expect(big.headers.get('connection')).toBe('close');
        expect(((await big.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
        const next = await post('{}');
        expect(next.status).toBe(400);
        expect(((await next.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
      }
    } finally {
      await dispatcher.close();
    }
  });
});
