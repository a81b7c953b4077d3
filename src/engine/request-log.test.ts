import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from '../db/testing.ts';
import { listRequestLog } from '../db/request-log.ts';
import {
  decodeCursor,
  isSensitiveKey,
  MAX_LOGGED_PATH,
  redactPath,
  RequestLog,
  requestLogDaysFromEnv,
  type RequestRecord,
} from './request-log.ts';

const DAY = 86_400_000;

describe('redactPath', () => {
  it('drops the values of sensitive query keys and keeps the path and the rest', () => {
    expect(redactPath('/rest/v1/leads.json?filterType=id&access_token=SECRET&filterValues=1,2')).toBe(
      '/rest/v1/leads.json?filterType=id&access_token=[redacted]&filterValues=1,2',
    );
    for (const key of [
      'access_token',
      'client_secret',
      'token',
      'password',
      'refresh_token',
      'Access_Token',
      'access%5Ftoken',
      'params[client_secret]',
      'x-api-key',
      'user_password',
    ]) {
      const out = redactPath(`/identity/oauth/token?${key}=SECRET&client_id=abc`);
      expect(out, key).not.toContain('SECRET');
      expect(out).toContain('client_id=abc');
      expect(out.startsWith('/identity/oauth/token?')).toBe(true);
    }
  });

  it('keeps paging tokens, paths without a query, keys without a value; drops fragments', () => {
    expect(redactPath('/rest/v1/activities.json?nextPageToken=ABC')).toBe(
      '/rest/v1/activities.json?nextPageToken=ABC',
    );
    expect(redactPath('/rest/v1/lead/1.json')).toBe('/rest/v1/lead/1.json');
    expect(redactPath('/x?token&a=1')).toBe('/x?token&a=1');
    expect(redactPath('/x?a=1#access_token=SECRET')).toBe('/x?a=1');
    expect(redactPath('/x?token=a&token=b')).toBe('/x?token=[redacted]&token=[redacted]');
  });

  it('truncates long paths after redacting', () => {
    const long = `/rest/v1/leads.json?filterValues=${'1,'.repeat(3000)}&access_token=SECRET`;
    const out = redactPath(long);
    expect(out.length).toBe(MAX_LOGGED_PATH);
    expect(out.endsWith('…')).toBe(true);
    expect(redactPath(`/x?access_token=${'S'.repeat(5000)}`)).toBe('/x?access_token=[redacted]');
  });

  it('classifies keys', () => {
    expect(isSensitiveKey('nextPageToken')).toBe(false);
    expect(isSensitiveKey('fields')).toBe(false);
    expect(isSensitiveKey('client_id')).toBe(false);
    expect(isSensitiveKey('apiKey')).toBe(true);
    expect(isSensitiveKey('ID_TOKEN')).toBe(true);
  });
});

describe('requestLogDaysFromEnv', () => {
  it('reads TETHER_REQUEST_LOG_DAYS with a default of 7', () => {
    expect(requestLogDaysFromEnv({})).toBe(7);
    expect(requestLogDaysFromEnv({ TETHER_REQUEST_LOG_DAYS: '' })).toBe(7);
    expect(requestLogDaysFromEnv({ TETHER_REQUEST_LOG_DAYS: '30' })).toBe(30);
    expect(() => requestLogDaysFromEnv({ TETHER_REQUEST_LOG_DAYS: '0' })).toThrow(/TETHER_REQUEST_LOG_DAYS/);
    expect(() => requestLogDaysFromEnv({ TETHER_REQUEST_LOG_DAYS: '1.5' })).toThrow(/whole number/);
  });
});

describe('RequestLog', () => {
  let t: TestDb;
  let now: number;
  const logs: RequestLog[] = [];
  const make = (opts: ConstructorParameters<typeof RequestLog>[1] = {}) => {
    const log = new RequestLog(t.ctx, { now: () => now, pruneIntervalMs: 0, ...opts });
    logs.push(log);
    return log;
  };
  const entry = (over: Partial<RequestRecord> = {}): RequestRecord => ({
    connectionId: 1,
    providerConfigKey: 'marketo',
    method: 'get',
    path: '/rest/v1/lead/1.json',
    status: 200,
    codes: [],
    durationMs: 12.4,
    attempts: 1,
    ...over,
  });

  beforeEach(async () => {
    t = await openTestDb();
    now = Date.parse('2025-03-10T12:00:00.000Z');
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await t.cleanup();
  });

  it('buffers records, writes them in one batch and lists them newest first', async () => {
    const log = make({ flushMs: 60_000 });
    for (let i = 0; i < 5; i++) {
      log.record(
        entry({ path: `/rest/v1/lead/${i}.json`, at: now + i * 1000, codes: i === 4 ? ['606'] : [] }),
      );
    }
    expect(await listRequestLog(t.ctx, 1, { limit: 10 })).toHaveLength(0); // still buffered
    const page = await log.list(1, { limit: 10 }); // a read flushes first
    expect(page.entries.map((e) => e.path)).toEqual([4, 3, 2, 1, 0].map((i) => `/rest/v1/lead/${i}.json`));
    expect(page.entries[0]).toMatchObject({
      method: 'GET',
      status: 200,
      codes: ['606'],
      durationMs: 12,
      attempts: 1,
      providerConfigKey: 'marketo',
      at: new Date(now + 4000).toISOString(),
    });
    expect(page.nextCursor).toBeNull();
  });

  it('writes on its own after flushMs and at batchSize', async () => {
    const log = make({ flushMs: 20, batchSize: 3 });
    log.record(entry());
    await new Promise((r) => setTimeout(r, 80));
    expect(await listRequestLog(t.ctx, 1, { limit: 10 })).toHaveLength(1);
    const slow = make({ flushMs: 60_000, batchSize: 3 });
    for (let i = 0; i < 3; i++) slow.record(entry({ connectionId: 2 }));
    await new Promise((r) => setTimeout(r, 50));
    expect(await listRequestLog(t.ctx, 2, { limit: 10 })).toHaveLength(3);
  });

  it('writes full batches and odd remainders alike, every field of every row', async () => {
    const log = make({ flushMs: 60_000 });
    for (let i = 0; i < 1_234; i++) {
      log.record(
        entry({ path: `/rest/v1/lead/${i}.json`, at: now + i, codes: i % 7 === 0 ? ['606', '601'] : [] }),
      );
    }
    await log.flush();
    const rows = await listRequestLog(t.ctx, 1, { limit: 2_000 });
    expect(rows).toHaveLength(1_234);
    expect(new Set(rows.map((r) => r.path)).size).toBe(1_234);
    expect(rows.at(-1)).toMatchObject({
      path: '/rest/v1/lead/0.json',
      codes: ['606', '601'],
      method: 'GET',
      status: 200,
      durationMs: 12,
      attempts: 1,
      at: new Date(now).toISOString(),
    });
    expect(rows[0]!.codes).toEqual([]);
  });

  it('pages with a cursor, per connection, ties on the same instant included', async () => {
    const log = make();
    for (let i = 0; i < 7; i++) log.record(entry({ path: `/p${i}`, at: now + Math.floor(i / 2) * 1000 }));
    log.record(entry({ connectionId: 9, path: '/other' }));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await log.list(1, { limit: 3, cursor });
      seen.push(...page.entries.map((e) => e.path));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(['/p6', '/p5', '/p4', '/p3', '/p2', '/p1', '/p0']);
    await expect(log.list(1, { limit: 3, cursor: 'nope' })).rejects.toThrow(RangeError);
    expect(decodeCursor(Buffer.from('2025-01-01T00:00:00.000Z|12').toString('base64url'))).toEqual({
      at: '2025-01-01T00:00:00.000Z',
      id: 12,
    });
  });

  it('stores only redacted paths', async () => {
    const log = make();
    log.record(entry({ path: '/rest/v1/lead/1.json?access_token=SECRET&fields=email' }));
    const [e] = (await log.list(1, { limit: 1 })).entries;
    expect(e!.path).toBe('/rest/v1/lead/1.json?access_token=[redacted]&fields=email');
    const raw = JSON.stringify(
      await t.db
        .withTables<{ request_log: { path: string } }>()
        .selectFrom('request_log')
        .selectAll()
        .execute(),
    );
    expect(raw).not.toContain('SECRET');
  });

  it('prunes entries older than the retention, on demand and every pruneEvery writes', async () => {
    const log = make({ retentionDays: 7, pruneEvery: 1_000_000 });
    log.record(entry({ path: '/old', at: now - 10 * DAY }));
    log.record(entry({ path: '/edge', at: now - 7 * DAY - 1 }));
    log.record(entry({ path: '/recent', at: now - 3 * DAY }));
    log.record(entry({ path: '/now', at: now }));
    await log.flush();
    expect(await log.prune()).toBe(2);
    expect((await log.list(1, { limit: 10 })).entries.map((e) => e.path)).toEqual(['/now', '/recent']);

    const auto = make({ retentionDays: 1, pruneEvery: 2, flushMs: 60_000 });
    auto.record(entry({ connectionId: 3, path: '/a', at: now - 2 * DAY }));
    await auto.flush(); // 1 written: not yet
    expect(await listRequestLog(t.ctx, 3, { limit: 10 })).toHaveLength(1);
    auto.record(entry({ connectionId: 3, path: '/b', at: now }));
    await auto.flush(); // 2 written: prune
    expect((await listRequestLog(t.ctx, 3, { limit: 10 })).map((e) => e.path)).toEqual(['/b']);
  });

  it('keeps memory bounded when writes lag, and never throws from record', async () => {
    const log = make({ flushMs: 60_000, batchSize: 1_000_000, maxBuffered: 1_000_000 });
    const bounded = new RequestLog(t.ctx, {
      flushMs: 60_000,
      batchSize: 5,
      maxBuffered: 5,
      pruneIntervalMs: 0,
    });
    logs.push(bounded);
    // batchSize triggers async flushes; records pile up synchronously past maxBuffered meanwhile.
    for (let i = 0; i < 20; i++) bounded.record(entry({ connectionId: 4, path: `/${i}` }));
    await bounded.flush();
    const kept = await listRequestLog(t.ctx, 4, { limit: 100 });
    expect(kept.length + bounded.dropped).toBe(20);
    expect(kept.length).toBeGreaterThanOrEqual(5);
    // Bad input does not throw out of record().
    expect(() => log.record({ ...entry(), codes: null as unknown as string[] })).not.toThrow();
  });

  it('reports write failures and ignores records after close', async () => {
    const errors: string[] = [];
    const log = make({ onError: (_e, what) => errors.push(what) });
    await t.cleanup();
    log.record(entry());
    await log.flush();
    expect(errors).toEqual(['write']);
    await log.close();
    log.record(entry());
    await log.flush();
    expect(errors).toEqual(['write']);
    t = await openTestDb(); // for afterEach
  });
});
