/**
 * Shared by the sandbox tests of the sync models: a sandbox with limits off and a small seed, the
 * reference engine wired to it with the sandbox's clock, and direct reads to compare with.
 */
import { startTestSandbox, type MarketoBody, type TestSandbox } from '../../sandbox/testing.ts';
import { unlimited } from '../../sandbox/index.ts';
import type { LeadFieldType } from './lead-records.ts';
import { MemoryEngine } from './testing.ts';
import type { DownloadResponse } from './types.ts';

export type Row = Record<string, unknown>;

/**
 * A small lead schema for the reader tests: a field of every kind (a file may hold any of them; its
 * other columns read as text, as `postalCode` here).
 */
export const TEST_LEAD_FIELDS: readonly LeadFieldType[] = [
  { name: 'id', kind: 'number' },
  { name: 'email', kind: 'string' },
  { name: 'leadScore', kind: 'number' },
  { name: 'urgency', kind: 'number' },
  { name: 'unsubscribed', kind: 'boolean' },
  { name: 'createdAt', kind: 'datetime' },
  { name: 'dateOfBirth', kind: 'date' },
  { name: 'postalCode', kind: 'string' },
];

/** The columns of an activity export file by default (Marketo's, without `actionResult`). */
export const TEST_ACTIVITY_HEADER: readonly string[] = [
  'marketoGUID',
  'leadId',
  'activityDate',
  'activityTypeId',
  'campaignId',
  'primaryAttributeValueId',
  'primaryAttributeValue',
  'attributes',
];

export interface Harness {
  sb: TestSandbox;
  engine: MemoryEngine;
  /** A fresh engine (empty store) on the same sandbox. */
  newEngine(): MemoryEngine;
  /** A Marketo call with a token that is fetched again on 601/602 (the clock may jump past it). */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<MarketoBody>;
  /** The sandbox's clock (it can be moved forward). */
  now(): Date;
  advance(seconds: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(leads = 300, seed = 11): Promise<Harness> {
  const sb = await startTestSandbox({ limits: unlimited(), seed: { leads, seed } });
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  let token: string | undefined;
  const fetchToken = async () => {
    const url = `${sb.identity}/oauth/token?grant_type=client_credentials&client_id=${encodeURIComponent(sb.clientId)}&client_secret=${encodeURIComponent(sb.clientSecret)}`;
    token = ((await (await fetch(url)).json()) as { access_token: string }).access_token;
    return token;
  };
  const api = async (path: string, init: RequestInit & { json?: unknown } = {}): Promise<MarketoBody> => {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token ?? (await fetchToken())}`);
      const body = await sb.apiJson(path, { ...init, headers });
      const code = body.success ? undefined : body.errors?.[0]?.code;
      if (attempt === 0 && (code === '601' || code === '602')) {
        token = undefined;
        continue;
      }
      return body;
    }
  };
  const download = async (
    path: string,
    o?: { range?: { start: number; end?: number } },
  ): Promise<DownloadResponse> => {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { authorization: `Bearer ${token ?? (await fetchToken())}` };
      if (o?.range) headers.range = `bytes=${o.range.start}-${o.range.end ?? ''}`;
      const res = await fetch(`${sb.base}${path}`, { headers });
      if (attempt === 0 && res.status === 200 && res.headers.get('content-type')?.includes('json')) {
        const body = (await res.json()) as MarketoBody;
        const code = body.success ? undefined : body.errors?.[0]?.code;
        if (code === '601' || code === '602') {
          token = undefined;
          continue;
        }
        const text = JSON.stringify(body);
        return {
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: (async function* () {
            yield new TextEncoder().encode(text);
          })(),
          cancel: () => undefined,
        };
      }
      const reader = res.body;
      return {
        status: res.status,
        headers: Object.fromEntries(res.headers),
        body: reader ?? (async function* () {})(),
        cancel: () => void reader?.cancel().catch(() => undefined),
      };
    }
  };
  const post = (path: string, body: unknown) => api(path, { method: 'POST', json: body });
  const newEngine = () =>
    new MemoryEngine({ get: (path) => api(path), post, download, now, instanceKey: sb.munchkinId });
  return {
    sb,
    engine: newEngine(),
    newEngine,
    api,
    now,
    async advance(seconds) {
      const res = await sb.control<{ offsetMs: number }>('POST', `/instances/${sb.munchkinId}/clock`, {
        advanceSeconds: seconds,
      });
      offsetMs = res.body.offsetMs;
    },
    close: () => sb.close(),
  };
}

/** A call that must succeed. */
export async function ok(
  h: Harness,
  path: string,
  init?: RequestInit & { json?: unknown },
): Promise<MarketoBody> {
  const body = await h.api(path, init);
  if (!body.success) throw new Error(`${path}: ${JSON.stringify(body.errors)}`);
  return body;
}

/** Every page of a position-token read, 300 at a time. */
export async function readAllByToken(h: Harness, path: string): Promise<Row[]> {
  const out: Row[] = [];
  let token: string | undefined;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const body = await ok(
      h,
      `${path}${sep}batchSize=300${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`,
    );
    out.push(...(body.result ?? []));
    token = body.nextPageToken;
    if (!token) return out;
  }
}

/** Every item of a date-token reader from `since` (path carries the other parameters). */
export async function readAllSince(h: Harness, path: string, since: string): Promise<Row[]> {
  const t = await ok(h, `/rest/v1/activities/pagingtoken.json?sinceDatetime=${encodeURIComponent(since)}`);
  let token = t.nextPageToken!;
  const out: Row[] = [];
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const body = await ok(h, `${path}${sep}batchSize=300&nextPageToken=${encodeURIComponent(token)}`);
    out.push(...(body.result ?? []));
    token = body.nextPageToken!;
    if (!body.moreResult) return out;
  }
}

/** Every item of an asset browse (offset paging until the "No assets found" warning). */
export async function readAllAssets(h: Harness, path: string): Promise<Row[]> {
  const out: Row[] = [];
  for (let offset = 0; ; offset += 200) {
    const body = await ok(h, `${path}?maxReturn=200&offset=${offset}`);
    if (!body.result) return out;
    out.push(...body.result);
  }
}

export function sorted(ids: Iterable<string>): string[] {
  return [...ids].sort();
}

export function isoSecondsAgo(h: Harness, days: number): string {
  return new Date(h.now().getTime() - days * 86_400_000).toISOString().slice(0, 19) + 'Z';
}
