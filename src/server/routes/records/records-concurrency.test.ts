/**
 * `GET /records` and `PATCH /records/prune` while records are written, and with hostile cursors, on a real
 * Tether (SQLite, or PostgreSQL in the `postgres` project). Records are written through the repository as a
 * sync's pages would be. Expected: cursor paging never skips a record and repeats one only when it was
 * modified after it was read; a prune never empties a record modified after its cursor; hostile input gets a
 * clear 4xx (never a 5xx).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { startTestTether, type TestTether } from '../../testing.ts';
import { captureLogs, connectNew } from '../connections/test-helpers.ts';
import { markDeleted, upsertRecords, type NangoRecord } from '../../../db/records.ts';
import { waitFor } from '../../../testing/wait.ts';

interface Page {
  next_cursor: string | null;
  records: NangoRecord[];
}

let t: TestTether;
let logs: string[];
let connectionId: string;
let pk: number;

beforeAll(async () => {
  t = await startTestTether();
  logs = captureLogs(t);
  connectionId = await connectNew(t);
  const res = await t.api(`/connections/${connectionId}?provider_config_key=marketo`);
  pk = ((await res.json()) as { id: number }).id;
});
afterAll(() => t?.close());

const store = () => t.tether.deps.store.ctx;
const serverErrors = () => logs.filter((l) => /"level":(50|60)/.test(l));
const headers = () => ({ 'connection-id': connectionId, 'provider-config-key': 'marketo' });

const write = (model: string, ids: (string | number)[], version: number) =>
  upsertRecords(store(), {
    connectionPk: pk,
    model,
    records: ids.map((id) => ({ id: String(id), version })),
  });

async function get(query: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await t.api(`/records?${query}`, { headers: headers() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function page(query: string): Promise<Page> {
  const r = await get(query);
  if (r.status !== 200) throw new Error(`GET /records?${query}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as unknown as Page;
}

const cursorOf = (updatedAt: string, id: number) => Buffer.from(`${updatedAt}||${id}`).toString('base64');

describe('cursor paging while a sync writes', () => {
  it('never skips a record; repeats one only after it was modified; sees every change', async () => {
    const model = 'Lead';
    await write(
      model,
      Array.from({ length: 60 }, (_, i) => i),
      1,
    );
    const read: { id: string; version: unknown; action: string }[] = [];
    let cursor: string | null = null;
    let step = 0;
    const modifiedAfterRead = new Set<string>();
    do {
      const p: Page = await page(`model=${model}&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      for (const r of p.records) {
        read.push({ id: r.id, version: r.version, action: r._nango_metadata.last_action });
        modifiedAfterRead.delete(r.id);
      }
      cursor = p.next_cursor;
      // Between pages, a sync page lands: records already read change, unread ones are deleted or
      // changed, new ones arrive.
      step++;
      if (step <= 5) {
        const readId = read[step]!.id;
        await write(model, [readId, `new-${step}`, String(59 - step)], step + 1);
        modifiedAfterRead.add(readId);
        await markDeleted(store(), { connectionPk: pk, model, ids: [String(50 - step)] });
      }
    } while (cursor);
    // Every record of the final state was read, in its final state, last.
    const finalState = new Map<string, string>();
    let c: string | null = null;
    do {
      const p: Page = await page(`model=${model}&limit=100${c ? `&cursor=${c}` : ''}`);
      for (const r of p.records)
        finalState.set(r.id, `${String(r.version)}/${r._nango_metadata.last_action}`);
      c = p.next_cursor;
    } while (c);
    const lastRead = new Map<string, string>();
    for (const r of read) lastRead.set(r.id, `${String(r.version)}/${r.action}`);
    expect(lastRead).toEqual(finalState);
    expect(finalState.size).toBe(65);
    expect(modifiedAfterRead.size).toBe(0);
    // A record read twice was modified in between: never more reads than writes seen.
    const times = new Map<string, number>();
    for (const r of read) times.set(r.id, (times.get(r.id) ?? 0) + 1);
    expect([...times.values()].every((n) => n <= 2)).toBe(true);
    expect([...times.values()].filter((n) => n === 2).length).toBeLessThanOrEqual(15);
  });

  it('modified_after (and delta) give every record changed at or after it, none before', async () => {
    const model = 'Activity';
    const first = await write(model, [1, 2, 3], 1);
    const second = await write(model, [2, 4], 2);
    const iso = (stamp: string) => `${stamp.slice(0, 26)}Z`;
    for (const key of ['modified_after', 'delta']) {
      const p = await page(`model=${model}&${key}=${encodeURIComponent(iso(second.modifiedAt))}`);
      expect(p.records.map((r) => r.id).sort()).toEqual(['2', '4']);
      const all = await page(`model=${model}&${key}=${encodeURIComponent(iso(first.modifiedAt))}`);
      expect(all.records.map((r) => r.id).sort()).toEqual(['1', '2', '3', '4']);
    }
  });
});

describe('hostile cursors and limits', () => {
  it('a well-formed cursor beyond any row id is an empty page or a 400, never a 5xx', async () => {
    await write('Program', [1, 2], 1);
    for (const id of [2147483647, 2147483648, 9007199254740991]) {
      const cursor = cursorOf('2025-01-01T00:00:00.000000+00:00', id);
      const r = await get(`model=Program&cursor=${encodeURIComponent(cursor)}`);
      expect(r.status, `id ${id}`).toBeLessThan(500);
      const ids = await get(`model=Program&ids=1&cursor=${encodeURIComponent(cursor)}`);
      expect(ids.status, `id ${id} with ids`).toBeLessThan(500);
      const prune = await t.api('/records/prune', {
        method: 'PATCH',
        headers: headers(),
        json: { model: 'Program', until_cursor: cursor },
      });
      expect(prune.status, `prune, id ${id}`).toBeLessThan(500);
    }
    expect(serverErrors()).toEqual([]);
  });

  it('cursors with impossible dates are 400 invalid_cursor', async () => {
    for (const stamp of [
      '2025-13-01T00:00:00.000000+00:00',
      '2025-02-30T25:00:00.000000+00:00',
      '0000-00-00T00:00:00.000000+00:00',
    ]) {
      const r = await get(`model=Program&cursor=${encodeURIComponent(cursorOf(stamp, 1))}`);
      expect(r.status, stamp).toBe(400);
      expect((r.body as { error: { code: string } }).error.code).toBe('invalid_cursor');
    }
    expect(serverErrors()).toEqual([]);
  });
});

describe('prune while a sync writes', () => {
  it('a record changed after until_cursor keeps its new payload (PostgreSQL: a prune waiting on the write)', async () => {
    const model = 'List';
    await write(model, [1, 2, 3], 1);
    const p = await page(`model=${model}`);
    const untilCursor = p.records[2]!._nango_metadata.cursor;
    const db = store().db;
    if (t.databaseUrl === undefined) {
      // SQLite runs one writer at a time: the prune comes after the write, and skips the moved record.
      await write(model, [2], 2);
    } else {
      // The write holds record 2's row until it commits; the prune reads the old row, then waits on it.
      let commit!: () => void;
      const held = new Promise<void>((r) => (commit = r));
      let written!: () => void;
      const isWritten = new Promise<void>((r) => (written = r));
      const writer = db.transaction().execute(async (trx) => {
        await upsertRecords(
          { ...store(), db: trx },
          { connectionPk: pk, model, records: [{ id: '2', version: 2 }] },
        );
        written();
        await held;
      });
      await isWritten;
      const prune = t.api('/records/prune', {
        method: 'PATCH',
        headers: headers(),
        json: { model, until_cursor: untilCursor },
      });
      // Wait until the prune blocks on the row lock (a lock not granted), then commit the write.
      await waitFor(
        'the prune to wait on the write',
        async () => {
          const r = await sql<{ n: string }>`select count(*) as n from pg_locks where not granted`.execute(
            db,
          );
          return Number(r.rows[0]!.n) > 0 ? true : undefined;
        },
        10_000,
        5,
      );
      commit();
      await writer;
      const res = await prune;
      expect(res.status).toBe(200);
    }
    if (t.databaseUrl === undefined) {
      const res = await t.api('/records/prune', {
        method: 'PATCH',
        headers: headers(),
        json: { model, until_cursor: untilCursor },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ count: 2, has_more: false });
    }
    const after = await page(`model=${model}&ids=2`);
    const r2 = after.records[0]!;
    expect(r2.version).toBe(2);
    expect(r2._nango_metadata.pruned_at).toBeNull();
    expect(r2._nango_metadata.last_action).toBe('UPDATED');
    const all = await page(`model=${model}`);
    expect(all.records.map((r) => [r.id, r._nango_metadata.pruned_at === null])).toEqual([
      ['1', false],
      ['3', false],
      ['2', true],
    ]);
    expect(serverErrors()).toEqual([]);
  });
});
