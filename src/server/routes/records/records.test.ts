import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nango } from '@nangohq/node';
import { startTestTether, type TestTether } from '../../testing.ts';
import { AUTH_CODES, authFailures, connectNew } from '../connections/test-helpers.ts';
import { markDeleted, upsertRecords, type NangoRecord, type RecordInput } from '../../../db/records.ts';

/**
 * `GET /records` and `PATCH /records/prune` over real HTTP against a real Tether (connection made through
 * the real connect flow against the Marketo sandbox); records are written through the repository as a
 * sync would.
 */

type Json = Record<string, unknown>;
interface Page {
  next_cursor: string | null;
  records: NangoRecord[];
}
interface ErrorBody {
  error: { code: string; message?: string; errors?: { path: string[] }[] };
}

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/;

describe('records API', () => {
  let t: TestTether;
  let connectionId: string;
  let pk: number;
  let otherId: string;

  const lead = (id: number, over: Json = {}): RecordInput => ({
    id: String(id),
    email: `lead${id}@example.com`,
    firstName: 'Ada',
    leadScore: id,
    ...over,
  });
  const write = (records: RecordInput[], model = 'Lead', connectionPk = pk) =>
    upsertRecords(t.tether.deps.store.ctx, { connectionPk, model, records });

  async function get(
    query: string | URLSearchParams,
    opts: { connectionId?: string | null; key?: string | null; path?: string } = {},
  ): Promise<{ status: number; body: Json; text: string; headers: Headers }> {
    const headers: Record<string, string> = {};
    const conn = opts.connectionId === undefined ? connectionId : opts.connectionId;
    const key = opts.key === undefined ? 'marketo' : opts.key;
    if (conn !== null) headers['Connection-Id'] = conn;
    if (key !== null) headers['Provider-Config-Key'] = key;
    const res = await t.api(`${opts.path ?? '/records'}?${query.toString()}`, { headers });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Json, text, headers: res.headers };
  }
  const page = async (query: string | URLSearchParams): Promise<Page> => {
    const r = await get(query);
    if (r.status !== 200) throw new Error(`GET /records?${query.toString()}: ${r.status} ${r.text}`);
    return r.body as unknown as Page;
  };
  async function all(params: Record<string, string>): Promise<NangoRecord[]> {
    const out: NangoRecord[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams(params);
      if (cursor) q.set('cursor', cursor);
      const p = await page(q);
      out.push(...p.records);
      cursor = p.next_cursor;
    } while (cursor);
    return out;
  }

  beforeAll(async () => {
    t = await startTestTether();
    connectionId = await connectNew(t);
    otherId = await connectNew(t, { end_user: { id: 'user-2' }, allowed_integrations: ['marketo'] });
    const res = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
    pk = ((await res.json()) as { id: number }).id;
    expect(pk).toEqual(expect.any(Number));
  });
  afterAll(() => t.close());

  it('answers Nango’s shape, on /records and /records/', async () => {
    const s = await write([lead(1), lead(2)]);
    expect(s).toMatchObject({ added: 2, updated: 0, unchanged: 0 });
    for (const path of ['/records', '/records/']) {
      const r = await get('model=Lead&ids=1', { path });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      expect(r.body).toEqual({
        next_cursor: null,
        records: [
          {
            id: '1',
            email: 'lead1@example.com',
            firstName: 'Ada',
            leadScore: 1,
            _nango_metadata: {
              first_seen_at: s.modifiedAt,
              last_modified_at: s.modifiedAt,
              last_action: 'ADDED',
              deleted_at: null,
              pruned_at: null,
              cursor: expect.any(String),
            },
          },
        ],
      });
    }
    const meta = (await page('model=Lead&ids=1')).records[0]!._nango_metadata;
    expect(meta.first_seen_at).toMatch(TS);
    expect(Math.abs(Date.parse(meta.first_seen_at) - Date.now())).toBeLessThan(60_000);
    expect(Buffer.from(meta.cursor, 'base64').toString()).toMatch(/^.{32}\|\|\d+$/);
  });

  it('derives ADDED / UPDATED / DELETED; an unchanged write changes nothing', async () => {
    await write([lead(10), lead(11), lead(12)]);
    const before = await page('model=Lead&ids=10&ids=11&ids=12');
    expect(before.records.map((r) => r._nango_metadata.last_action)).toEqual(['ADDED', 'ADDED', 'ADDED']);

    const s = await write([lead(10), lead(11, { leadScore: 99 })]);
    expect(s).toMatchObject({ added: 0, updated: 1, unchanged: 1 });
    await markDeleted(t.tether.deps.store.ctx, { connectionPk: pk, model: 'Lead', ids: ['12'] });
    const after = await page('model=Lead&ids=10&ids=11&ids=12');
    const byId = Object.fromEntries(after.records.map((r) => [r.id, r]));
    expect(byId['10']).toEqual(before.records[0]); // unchanged: same last_modified_at, same cursor
    expect(byId['11']).toMatchObject({
      leadScore: 99,
      _nango_metadata: {
        first_seen_at: before.records[1]!._nango_metadata.first_seen_at,
        last_action: 'UPDATED',
        deleted_at: null,
      },
    });
    expect(
      byId['11']!._nango_metadata.last_modified_at > before.records[1]!._nango_metadata.last_modified_at,
    ).toBe(true);
    expect(byId['12']).toMatchObject({
      email: 'lead12@example.com',
      _nango_metadata: { last_action: 'DELETED', deleted_at: expect.stringMatching(TS) },
    });
    expect(byId['12']!._nango_metadata.deleted_at).toBe(byId['12']!._nango_metadata.last_modified_at);
    // Order: by last modification.
    expect(after.records.map((r) => r.id)).toEqual(['10', '11', '12']);
  });

  it('filter: any case, combined as a union', async () => {
    const ids = '&ids=10&ids=11&ids=12';
    const idsOf = async (filter: string) =>
      (await page(`model=Lead&filter=${filter}${ids}`)).records.map((r) => r.id);
    expect(await idsOf('added')).toEqual(['10']);
    expect(await idsOf('UPDATED')).toEqual(['11']);
    expect(await idsOf('Deleted')).toEqual(['12']);
    expect(await idsOf('added,updated')).toEqual(['10', '11']);
    expect(await idsOf('updated,DELETED')).toEqual(['11', '12']);
    expect(await idsOf('added,updated,deleted')).toEqual(['10', '11', '12']);
  });

  it('modified_after (and delta) select records modified at or after the time', async () => {
    await write([lead(20)]);
    const p = await page('model=Lead&ids=20');
    const at = p.records[0]!._nango_metadata.last_modified_at;
    const iso = `${at.slice(0, 26)}Z`;
    expect((await page(`model=Lead&modified_after=${iso}`)).records.map((r) => r.id)).toEqual(['20']);
    expect((await page(`model=Lead&delta=${iso}`)).records.map((r) => r.id)).toEqual(['20']);
    const later = new Date(Date.parse(at.slice(0, 23) + 'Z') + 1).toISOString();
    expect((await page(`model=Lead&modified_after=${later}`)).records).toEqual([]);
    const earlier = new Date(Date.now() - 300 * 86_400_000).toISOString();
    expect((await page(`model=Lead&modified_after=${earlier}`)).records.length).toBeGreaterThan(5);
  });

  it('ids: repeated, bracketed, unknown ids ignored', async () => {
    expect((await page('model=Lead&ids=2&ids=1&ids=nope')).records.map((r) => r.id)).toEqual(['1', '2']);
    expect((await page('model=Lead&ids[]=2')).records.map((r) => r.id)).toEqual(['2']);
    const hundred = Array.from({ length: 100 }, (_, i) => `ids=${i}`).join('&');
    expect((await get(`model=Lead&${hundred}`)).status).toBe(200);
  });

  it('limit bounds and paging with next_cursor', async () => {
    await write(
      Array.from({ length: 30 }, (_, i) => lead(100 + i)),
      'Program',
    );
    const everything = await all({ model: 'Program', limit: '7' });
    expect(everything.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => String(100 + i)));
    const first = await page('model=Program&limit=1');
    expect(first.records).toHaveLength(1);
    expect(first.next_cursor).toBe(first.records[0]!._nango_metadata.cursor);
    expect((await page('model=Program&limit=30')).next_cursor).toBeNull();
    expect((await page('model=Program&limit=10000')).records).toHaveLength(30);
    expect((await page('model=Program')).records).toHaveLength(30); // default 100
    const r = await page(
      `model=Program&limit=5&cursor=${encodeURIComponent(everything[27]!._nango_metadata.cursor)}`,
    );
    expect(r).toMatchObject({ next_cursor: null, records: [{ id: '128' }, { id: '129' }] });
  });

  it('cursor paging returns every record exactly once while a sync writes between pages', async () => {
    await write(
      Array.from({ length: 120 }, (_, i) => ({ id: `s${i}`, v: 0 })),
      'StaticList',
    );
    const delivered = new Map<string, string[]>();
    const modifiedAfterRead = new Set<string>();
    const readIds = new Set<string>();
    let cursor: string | null = null;
    let round = 0;
    let next = 1000;
    do {
      const q = new URLSearchParams({ model: 'StaticList', limit: '10' });
      if (cursor) q.set('cursor', cursor);
      const p = await page(q);
      for (const r of p.records) {
        delivered.set(r.id, [...(delivered.get(r.id) ?? []), JSON.stringify(r)]);
        readIds.add(r.id);
      }
      cursor = p.next_cursor;
      if (!cursor) break;
      round++;
      // A read record changes, an unread one changes, an unchanged write, two new records.
      const readOne = `s${(round * 7) % 120}`;
      const unread = `s${Math.min(119, round * 10 + 15)}`;
      if (readIds.has(readOne)) modifiedAfterRead.add(readOne);
      if (readIds.has(unread)) modifiedAfterRead.add(unread);
      const s = await write(
        [
          { id: readOne, v: round },
          { id: unread, v: -round },
          { id: `s${(round * 13) % 120}`, v: 'x' }, // may be an update too: counted below
          { id: `n${next++}`, v: 1 },
          { id: `n${next++}`, v: 1 },
        ],
        'StaticList',
      );
      expect(s.added).toBe(2);
      if (readIds.has(`s${(round * 13) % 120}`)) modifiedAfterRead.add(`s${(round * 13) % 120}`);
      if (round % 3 === 0) {
        const del = `s${(round * 5) % 120}`;
        const n = await markDeleted(t.tether.deps.store.ctx, {
          connectionPk: pk,
          model: 'StaticList',
          ids: [del],
        });
        if (n > 0 && readIds.has(del)) modifiedAfterRead.add(del);
      }
    } while (cursor);
    expect(round).toBeGreaterThan(10);

    const final = await all({ model: 'StaticList', limit: '10000' });
    for (const r of final) {
      const got = delivered.get(r.id) ?? [];
      // No skip: the latest version was delivered. No repeat unless modified after being read.
      expect(got, r.id).toContain(JSON.stringify(r));
      if (!modifiedAfterRead.has(r.id)) expect(got, r.id).toHaveLength(1);
      expect(new Set(got).size, r.id).toBe(got.length);
    }
  });

  it('variant: stored apart from the base model; base = no variant', async () => {
    await write([lead(500)], 'Lead::eu');
    expect((await page('model=Lead&variant=eu')).records.map((r) => r.id)).toEqual(['500']);
    expect((await page('model=Lead&variant=base&ids=500')).records).toEqual([]);
  });

  it('models: known ones answer empty, cached ones answer, others 400 unknown_model', async () => {
    expect(await page('model=SmartCampaign')).toEqual({ next_cursor: null, records: [] });
    const unknown = await get('model=Leads');
    expect(unknown.status).toBe(400);
    expect((unknown.body as unknown as ErrorBody).error.code).toBe('unknown_model');
    expect((unknown.body as unknown as ErrorBody).error.message).toContain('Lead');
    await write([{ id: 'c1', x: 1 }], 'CustomThing');
    expect((await page('model=CustomThing')).records.map((r) => r.id)).toEqual(['c1']);
    // The cache of another connection does not make a model known.
    expect((await get('model=CustomThing', { connectionId: otherId })).status).toBe(400);
    expect(await page('model=Lead&ids=1').then((p) => p.records.length)).toBe(1);
  });

  it('connections: records are per connection; unknown ones are 400 unknown_connection', async () => {
    const other = await get('model=Lead', { connectionId: otherId });
    expect(other.status).toBe(200);
    expect(other.body).toEqual({ next_cursor: null, records: [] });
    for (const [conn, key] of [
      ['nope', 'marketo'],
      [connectionId, 'other-key'],
    ] as const) {
      const r = await get('model=Lead', { connectionId: conn, key });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({
        error: {
          code: 'unknown_connection',
          message: 'Provided ConnectionId and ProviderConfigKey does not match a valid connection',
        },
      });
    }
  });

  it.each([
    ['no model', ''],
    ['lower-case model', 'model=lead'],
    ['one-letter model', 'model=L'],
    ['unknown key', 'model=Lead&foo=1'],
    ['limit 0', 'model=Lead&limit=0'],
    ['limit 10001', 'model=Lead&limit=10001'],
    ['limit not a number', 'model=Lead&limit=ten'],
    ['limit not an integer', 'model=Lead&limit=1.5'],
    ['two limits', 'model=Lead&limit=1&limit=2'],
    ['bad filter', 'model=Lead&filter=created'],
    ['empty filter', 'model=Lead&filter='],
    ['empty cursor', 'model=Lead&cursor='],
    ['long cursor', `model=Lead&cursor=${'a'.repeat(1001)}`],
    ['date without time', 'model=Lead&modified_after=2025-01-01'],
    ['date with offset', `model=Lead&modified_after=${new Date().toISOString().slice(0, 19)}%2B01:00`],
    ['not a date', 'model=Lead&modified_after=yesterday'],
    [
      'older than 365 days',
      `model=Lead&modified_after=${new Date(Date.now() - 366 * 86_400_000).toISOString()}`,
    ],
    [
      'delta older than 365 days',
      `model=Lead&delta=${new Date(Date.now() - 366 * 86_400_000).toISOString()}`,
    ],
    ['101 ids', `model=Lead&${Array.from({ length: 101 }, (_, i) => `ids=${i}`).join('&')}`],
    ['long id', `model=Lead&ids=${'x'.repeat(257)}`],
    ['empty id', 'model=Lead&ids='],
    ['bad variant', 'model=Lead&variant=a%20b'],
  ])('400 invalid_query_params: %s', async (_name, query) => {
    const r = await get(query);
    expect(r.status).toBe(400);
    const body = r.body as unknown as ErrorBody;
    expect(body.error.code).toBe('invalid_query_params');
    expect(body.error.errors?.length).toBeGreaterThan(0);
  });

  it('400 invalid_cursor for a cursor it did not make', async () => {
    for (const cursor of ['garbage!', Buffer.from('abc||1').toString('base64'), 'YWJj']) {
      const r = await get(`model=Lead&cursor=${encodeURIComponent(cursor)}`);
      expect(r.status, cursor).toBe(400);
      expect((r.body as unknown as ErrorBody).error.code).toBe('invalid_cursor');
    }
  });

  it('400 invalid_headers without Connection-Id or Provider-Config-Key', async () => {
    for (const opts of [{ connectionId: null }, { key: null }, { key: 'bad/key' }]) {
      const r = await get('model=Lead', opts);
      expect(r.status).toBe(400);
      expect((r.body as unknown as ErrorBody).error.code).toBe('invalid_headers');
    }
  });

  it('401 without a valid secret key', async () => {
    const results = await authFailures(t, 'GET', '/records?model=Lead');
    expect(results.map((r) => r.code)).toEqual(AUTH_CODES);
  });

  it('PATCH /records/prune empties payloads up to a cursor and keeps the records', async () => {
    await write(
      Array.from({ length: 5 }, (_, i) => lead(700 + i)),
      'Activity',
    );
    const before = await all({ model: 'Activity' });
    const prune = (body: unknown, headers: Record<string, string> = {}) =>
      t.api('/records/prune', {
        method: 'PATCH',
        json: body,
        headers: { 'Connection-Id': connectionId, 'Provider-Config-Key': 'marketo', ...headers },
      });
    const until = before[2]!._nango_metadata.cursor;
    let res = await prune({ model: 'Activity', until_cursor: until, limit: 2 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ count: 2, has_more: true });
    res = await prune({ model: 'Activity', until_cursor: until });
    expect(await res.json()).toEqual({ count: 1, has_more: false });
    res = await prune({ model: 'Activity', until_cursor: until });
    expect(await res.json()).toEqual({ count: 0, has_more: false });
    const after = await all({ model: 'Activity' });
    expect(after.map((r) => r._nango_metadata.cursor)).toEqual(before.map((r) => r._nango_metadata.cursor));
    expect(after[0]).toEqual({
      id: '700',
      _nango_metadata: { ...before[0]!._nango_metadata, pruned_at: expect.stringMatching(TS) },
    });
    expect(after[3]).toEqual(before[3]);

    res = await prune({ model: 'Activity', until_cursor: 'bad!' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_cursor');
    res = await prune({ model: 'Activity', until_cursor: until, extra: 1 });
    expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_body');
    res = await prune({ model: 'Activity', until_cursor: until }, { 'Connection-Id': 'nope' });
    expect(((await res.json()) as ErrorBody).error.code).toBe('unknown_connection');
    res = await t.api('/records/prune?x=1', {
      method: 'PATCH',
      json: { model: 'Activity', until_cursor: until },
      headers: { 'Connection-Id': connectionId, 'Provider-Config-Key': 'marketo' },
    });
    expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_query_params');
  });

  it('@nangohq/node listRecords and pruneRecords work against it', async () => {
    const nango = new Nango({ host: t.url, secretKey: t.secretKey });
    await write(
      Array.from({ length: 25 }, (_, i) => lead(900 + i)),
      'DeletedLead',
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Page = await nango.listRecords({
        providerConfigKey: 'marketo',
        connectionId,
        model: 'DeletedLead',
        limit: 10,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...res.records.map((r) => r.id));
      cursor = res.next_cursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => String(900 + i)));

    const leads = await nango.listRecords({ providerConfigKey: 'marketo', connectionId, model: 'Lead' });
    expect(leads.records.length).toBeGreaterThan(5);
    const some = await nango.listRecords({
      providerConfigKey: 'marketo',
      connectionId,
      model: 'Lead',
      ids: ['1', '2'],
      filter: 'added',
      modifiedAfter: new Date(Date.now() - 3_600_000).toISOString(),
    });
    expect(some.records.map((r) => r.id)).toEqual(['1', '2']);

    const all25 = await nango.listRecords({
      providerConfigKey: 'marketo',
      connectionId,
      model: 'DeletedLead',
    });
    const pruned = await nango.pruneRecords({
      providerConfigKey: 'marketo',
      connectionId,
      model: 'DeletedLead',
      untilCursor: all25.records[24]!._nango_metadata.cursor,
    });
    expect(pruned).toEqual({ count: 25, has_more: false });

    await expect(
      nango.listRecords({ providerConfigKey: 'marketo', connectionId: 'nope', model: 'Lead' }),
    ).rejects.toMatchObject({ response: { status: 400, data: { error: { code: 'unknown_connection' } } } });
  });
});
