import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPostgres } from './context.ts';
import { packedPrefix, PayloadRecord, recordShape, type RecordShape } from '../record-payload.ts';
import { createConnection } from './connections.ts';
import * as m016 from './migrations/016_records_meta_derived.ts';
import * as m017 from './migrations/017_record_shapes.ts';
import { forgetRecordShapes } from './record-shapes.ts';
import { payloadJson } from './record-json.ts';
import {
  countRecords,
  decodeCursor,
  deleteAllRecords,
  encodeCursor,
  formatMicros,
  InvalidCursorError,
  listRecords,
  listRecordRows,
  markDeleted,
  markMissingDeleted,
  metaJson,
  pruneRecords,
  recordPayload,
  recordsDb,
  recordsPageJson,
  stableStringify,
  toRecordTimestamp,
  upsertRecords,
  type ListRecordsInput,
  type NangoRecord,
  type RecordInput,
} from './records.ts';
import { recordsPageBody } from './records-page.ts';
import { openTestDb, type TestDb } from './testing.ts';

/**
 * Records cache repository against a real database (SQLite, or PostgreSQL with TETHER_TEST_POSTGRES_URL):
 * change detection, ADDED/UPDATED/DELETED, deletion detection, pruning, filters and cursor paging.
 */

let t: TestDb;
let pk: number;
beforeEach(async () => {
  t = await openTestDb(new Date('2025-03-01T10:00:00.000Z'));
  const c = await createConnection(t.ctx, {
    environmentId: t.environmentId,
    connectionId: 'conn-1',
    providerConfigKey: 'marketo',
    provider: 'marketo',
  });
  pk = c.id;
});
afterEach(async () => {
  await t.cleanup();
});

const lead = (id: number, over: Record<string, unknown> = {}) => ({
  id: String(id),
  email: `lead${id}@example.com`,
  firstName: 'Ada',
  score: id,
  ...over,
});

/**
 * `r` packed with `shape`, written here independently of record-payload.ts: each member's JSON value or
 * nothing, followed by U+001F, then the id as a JSON string.
 */
function packedOf(shape: RecordShape, r: RecordInput): PayloadRecord {
  const values = shape.members.map((m) => `${r[m] === undefined ? '' : JSON.stringify(r[m])}\x1f`).join('');
  return new PayloadRecord(String(r.id), packedPrefix(shape) + values + JSON.stringify(String(r.id)), shape);
}

/** Prunes the `n` oldest Lead records (default two); returns their ids. */
async function pruneOldest(n = 2): Promise<string[]> {
  const oldest = await listRecords(t.ctx, { connectionPk: pk, model: 'Lead', limit: n });
  await pruneRecords(t.ctx, {
    connectionPk: pk,
    model: 'Lead',
    untilCursor: oldest.records[n - 1]!._nango_metadata.cursor,
    limit: n,
  });
  return oldest.records.map((r) => r.id);
}

function at(iso: string): void {
  t.clock.now = new Date(iso);
}

async function all(over: Partial<ListRecordsInput> = {}): Promise<NangoRecord[]> {
  const out: NangoRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await listRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      limit: 1000,
      ...over,
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.records);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return out;
}

async function one(id: string): Promise<NangoRecord> {
  const [r] = await all({ ids: [id] });
  if (!r) throw new Error(`no record ${id}`);
  return r;
}

describe('timestamps and cursors', () => {
  it('stores and answers microsecond timestamps with a +00:00 offset', () => {
    expect(toRecordTimestamp(new Date('2025-01-02T03:04:05.678Z'))).toBe('2025-01-02T03:04:05.678000+00:00');
    expect(toRecordTimestamp('2025-01-02T03:04:05Z')).toBe('2025-01-02T03:04:05.000000+00:00');
    expect(toRecordTimestamp('2025-01-02T03:04:05.1234567Z')).toBe('2025-01-02T03:04:05.123456+00:00');
    expect(formatMicros(Date.parse('2025-01-02T03:04:05.678Z') * 1000 + 9)).toBe(
      '2025-01-02T03:04:05.678009+00:00',
    );
  });

  it('encodes cursors as base64(<updated_at>||<id>)', () => {
    const stamps = ['2025-01-02T03:04:05.678009+00:00', '2026-12-31T23:59:59.999999+00:00'];
    for (const stamp of stamps)
      for (const id of [1, 9, 10, 99, 100, 12345, 123456, 9007199254740991])
        expect(encodeCursor(stamp, id)).toBe(Buffer.from(`${stamp}||${id}`).toString('base64'));
  });

  it('round-trips cursors and refuses anything else', () => {
    const c = encodeCursor('2025-01-02T03:04:05.678009+00:00', 42);
    expect(Buffer.from(c, 'base64').toString()).toBe('2025-01-02T03:04:05.678009+00:00||42');
    expect(decodeCursor(c)).toEqual({ updatedAt: '2025-01-02T03:04:05.678009+00:00', id: 42 });
    for (const bad of [
      'nope!',
      Buffer.from('x||1').toString('base64'),
      Buffer.from('2025-01-02T03:04:05.678009+00:00||abc').toString('base64'),
      Buffer.from('2025-01-02T03:04:05.678009+00:00').toString('base64'),
      Buffer.from('2025-01-02T03:04:05.678Z||1').toString('base64'),
      Buffer.from('2025-01-02T03:04:05.678009+00:00||0').toString('base64'),
    ])
      expect(() => decodeCursor(bad), bad).toThrow(InvalidCursorError);
  });
});

describe('stable payloads', () => {
  it('ignores key order, drops id and _nango_metadata, keeps JSON.stringify semantics', () => {
    const a = recordPayload({ id: '1', b: 2, a: 'x', d: new Date('2025-01-01T00:00:00.000Z'), u: undefined });
    const b = recordPayload({ a: 'x', u: undefined, d: '2025-01-01T00:00:00.000Z', b: 2, id: 'other' });
    expect(a).toEqual(b);
    expect(a.payload).toBe('{"a":"x","b":2,"d":"2025-01-01T00:00:00.000Z"}');
    expect(recordPayload({ id: 1, _nango_metadata: { x: 1 }, n: NaN, f: () => 1 }).payload).toBe(
      '{"n":null}',
    );
  });

  it('gives records of one shape (compiled writer) the same text as stableStringify', () => {
    // Built like the Lead model's dense records: one key list, empty fields undefined. `nested` set on
    // some records only: those take the ranked path, the others the compiled one.
    const make = (i: number, nested: boolean) => {
      const r: Record<string, unknown> = {
        id: String(i),
        zeta: i % 2 ? undefined : `z${i}`,
        'quo"te': 'a"b\\c\n\u0001',
        alpha: i,
        nested: nested ? { b: [1, { d: i, c: null }], a: undefined } : null,
        list: [1, 'two', null, undefined, new Date(0), NaN],
        when: new Date(Date.UTC(2025, 0, i + 1)),
        never: new Date(NaN),
        flag: i % 3 === 0,
        nan: NaN,
        minusZero: -0,
        big: 1e21,
        unicode: 'Nguyễn \u2028 \ud800 é',
        fn: () => 1,
        _nango_metadata: { x: 1 },
      };
      Object.defineProperty(r, '__proto__', { value: i, enumerable: true });
      return r;
    };
    for (let i = 0; i < 12; i++) {
      const r = make(i, i % 5 === 4);
      const expected: Record<string, unknown> = {};
      for (const k of Object.keys(r)) {
        if (k !== 'id' && k !== '_nango_metadata')
          Object.defineProperty(expected, k, { value: r[k], enumerable: true });
      }
      expect(recordPayload(r as RecordInput).payload, `record ${i}`).toBe(stableStringify(expected));
    }
    // Integer-like keys (JSON.stringify would write them first): still sorted as strings.
    for (let i = 0; i < 4; i++) {
      expect(recordPayload({ id: i, b: 1, 10: 'x', 9: 'y', a: i }).payload).toBe(
        `{"10":"x","9":"y","a":${i},"b":1}`,
      );
    }
    // Another shape after a compiled one, and sparse records whose keys change every time.
    for (let i = 0; i < 6; i++) {
      const r: Record<string, unknown> = { id: i, [`k${i}`]: i, b: 'x' };
      expect(recordPayload(r as RecordInput).payload).toBe(`{"b":"x","k${i}":${i}}`);
      expect(recordPayload({ id: 1, b: 'y', a: undefined }).payload).toBe('{"b":"y"}');
    }
    for (let i = 0; i < 4; i++) {
      expect(() => recordPayload({ id: 1, big: 1n } as RecordInput)).toThrow(TypeError);
      // A throw leaves nothing behind for the next record.
      expect(recordPayload({ id: 2, small: 1 }).payload).toBe('{"small":1}');
    }
  });

  it('stores the id as the last member of the payload, on every path', async () => {
    const shapes: RecordInput[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ id: `s${i}`, b: i, a: 'x' })),
      { id: 'empty' },
      { id: 'nested', z: { b: 1, a: 2 } },
    ];
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: shapes });
    expect((await one('s4')) as unknown).toMatchObject({ id: 's4', a: 'x', b: 4 });
    expect(Object.keys(await one('empty'))).toEqual(['id', '_nango_metadata']);
    expect(Object.keys(await one('nested'))).toEqual(['z', 'id', '_nango_metadata']);
    const raw = await listRecordRows(t.ctx, { connectionPk: pk, model: 'Lead', limit: 10 });
    expect(raw.rows.map((r) => r.payload)).toEqual([
      '{"a":"x","b":0,"id":"s0"}',
      '{"a":"x","b":1,"id":"s1"}',
      '{"a":"x","b":2,"id":"s2"}',
      '{"a":"x","b":3,"id":"s3"}',
      '{"a":"x","b":4,"id":"s4"}',
      '{"id":"empty"}',
      '{"z":{"a":2,"b":1},"id":"nested"}',
    ]);
  });

  it('sorts nested objects too, and the fast path agrees with stableStringify', () => {
    const nested = { id: '1', z: { b: [1, { d: 1, c: 2 }], a: null }, y: [1, 'two', null] };
    expect(recordPayload(nested).payload).toBe('{"y":[1,"two",null],"z":{"a":null,"b":[1,{"c":2,"d":1}]}}');
    const flat = { id: '9', q: 'é"\\', p: [1, 2], o: true, n: -0, m: 1e21 };
    const { id: _id, ...rest } = flat;
    expect(recordPayload(flat).payload).toBe(stableStringify(rest));
    expect(JSON.parse(recordPayload(flat).payload)).toEqual(JSON.parse(JSON.stringify(rest)));
  });
});

describe('upsertRecords', () => {
  it('adds, updates by content, and leaves unchanged records alone', async () => {
    at('2025-03-01T10:00:00.000Z');
    expect(
      await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1), lead(2)] }),
    ).toEqual({
      added: 2,
      updated: 0,
      unchanged: 0,
      duplicates: 0,
      modifiedAt: '2025-03-01T10:00:00.000000+00:00',
    });
    const first = await one('1');
    expect(first).toEqual({
      id: '1',
      email: 'lead1@example.com',
      firstName: 'Ada',
      score: 1,
      _nango_metadata: {
        first_seen_at: '2025-03-01T10:00:00.000000+00:00',
        last_modified_at: '2025-03-01T10:00:00.000000+00:00',
        last_action: 'ADDED',
        deleted_at: null,
        pruned_at: null,
        cursor: expect.any(String),
      },
    });

    at('2025-03-01T11:00:00.000Z');
    // Same content in another key order: unchanged, no timestamp change.
    const { email, ...rest } = lead(1);
    const s = await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [{ ...rest, email }, lead(2, { firstName: 'Grace' }), lead(3)],
    });
    expect(s).toMatchObject({ added: 1, updated: 1, unchanged: 1 });
    expect(await one('1')).toEqual(first);
    expect((await one('2'))._nango_metadata).toMatchObject({
      first_seen_at: '2025-03-01T10:00:00.000000+00:00',
      last_modified_at: '2025-03-01T11:00:00.000000+00:00',
      last_action: 'UPDATED',
    });
    expect((await one('2')).firstName).toBe('Grace');
    expect((await one('3'))._nango_metadata.last_action).toBe('ADDED');
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Lead' })).toBe(3);
  });

  it('stores PayloadRecords as they are and compares them by text with records given as objects', async () => {
    at('2025-03-01T10:00:00.000Z');
    const asPayload = (r: RecordInput) => new PayloadRecord(String(r.id), payloadJson(r, String(r.id)));
    const text = (id: number) => asPayload(lead(id)).payload;
    expect(text(1)).toBe('{"email":"lead1@example.com","firstName":"Ada","score":1,"id":"1"}');
    // Initial load (no read): mixed kinds in one call.
    expect(
      await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [asPayload(lead(1)), lead(2)] }),
    ).toMatchObject({ added: 2, updated: 0, unchanged: 0 });
    const first = await one('1');
    expect(first).toMatchObject({ id: '1', email: 'lead1@example.com', firstName: 'Ada', score: 1 });

    at('2025-03-01T11:00:00.000Z');
    // Same content the other way round: unchanged; changed content and new ids either way.
    const s = await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [
        lead(1),
        asPayload(lead(2)),
        asPayload(lead(3, { firstName: 'Grace' })),
        lead(4),
        asPayload(lead(4, { score: 40 })),
      ],
    });
    expect(s).toMatchObject({ added: 2, updated: 0, unchanged: 2, duplicates: 1 });
    expect(await one('1')).toEqual(first);
    expect((await one('4')).score).toBe(40);
    const changed = await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [asPayload(lead(1, { score: 2 })), asPayload(lead(3, { firstName: 'Grace' }))],
    });
    expect(changed).toMatchObject({ added: 0, updated: 1, unchanged: 1 });
    expect((await one('1')).score).toBe(2);
    await expect(
      upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: [new PayloadRecord('', '{"id":""}')],
      }),
    ).rejects.toThrow(TypeError);
  });

  it('stores packed PayloadRecords without their member names and answers them as JSON', async () => {
    at('2025-03-01T10:00:00.000Z');
    const shape = recordShape(['email', 'firstName', 'nick', 'score']);
    const packed = (r: RecordInput) => packedOf(shape, r);
    const nick = lead(2, { nick: 'Bo\u001f"b' });
    expect(
      await upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: [packed(lead(1)), packed(nick), lead(3)],
      }),
    ).toMatchObject({ added: 3 });
    const stored = await sql<{
      external_id: string;
      payload: string;
    }>`select external_id, payload from records
      order by external_id`.execute(t.db);
    expect(stored.rows[0]!.payload).toBe(`\x01${shape.hash}\x1f"lead1@example.com"\x1f"Ada"\x1f\x1f1\x1f"1"`);
    expect(stored.rows[1]!.payload).not.toContain('email');
    expect(stored.rows[2]!.payload).toBe(payloadJson(lead(3), '3'));
    const shapes = await sql<{
      hash: string;
      members: string;
    }>`select hash, members from record_shapes`.execute(t.db);
    expect(shapes.rows).toEqual([{ hash: shape.hash, members: '["email","firstName","nick","score"]' }]);

    // Answered as JSON, byte for byte what the records as objects give (an absent member left out).
    const page = await listRecordRows(t.ctx, { connectionPk: pk, model: 'Lead', limit: 10 });
    const answered = JSON.parse(recordsPageJson(page.rows, null)) as { records: NangoRecord[] };
    expect(answered.records.map(({ _nango_metadata: _, ...r }) => payloadJson(r, r.id))).toEqual(
      [lead(1), nick, lead(3)].map((r) => payloadJson(r, r.id)),
    );
    expect(await one('2')).toMatchObject({ id: '2', nick: 'Bo\u001f"b', score: 2 });

    // Change detection across forms, in a process that has not seen the shape yet (read from the table).
    forgetRecordShapes();
    at('2025-03-01T11:00:00.000Z');
    expect(
      await upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: [lead(1), nick, packed(lead(3))],
      }),
    ).toMatchObject({ added: 0, updated: 0, unchanged: 3 });
    expect(
      await upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: [packed(lead(1)), packed(lead(2)), packed(lead(3, { score: 30 }))],
      }),
    ).toMatchObject({ added: 0, updated: 2, unchanged: 1 });
    forgetRecordShapes();
    expect((await all()).map((r) => [r.id, r.nick, r.score])).toEqual([
      ['1', undefined, 1],
      ['2', undefined, 2],
      ['3', undefined, 30],
    ]);
  });

  it('refuses a packed record whose shape hash is stored with other members', async () => {
    const shape = recordShape(['a', 'b']);
    await sql`insert into record_shapes (hash, members, created_at) values (${shape.hash}, ${'["a","c"]'}, 'x')`.execute(
      t.db,
    );
    forgetRecordShapes();
    const record = new PayloadRecord('1', `${packedPrefix(shape)}1\x1f2\x1f"1"`, shape);
    await expect(
      upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [record] }),
    ).rejects.toThrow(/stored member list differs/);
    expect(await countRecords(t.ctx, { connectionPk: pk })).toBe(0);
  });

  it('keeps the last of duplicate ids and accepts numeric ids', async () => {
    const s = await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [{ id: 7, v: 1 }, { id: '7', v: 2 }, lead(8)],
    });
    expect(s).toMatchObject({ added: 2, duplicates: 1 });
    expect(await one('7')).toMatchObject({ id: '7', v: 2 });
  });

  it('refuses records without an id', async () => {
    await expect(
      upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [{ v: 1 } as never] }),
    ).rejects.toThrow(TypeError);
    await expect(
      upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [{ id: '' }] }),
    ).rejects.toThrow(TypeError);
  });

  it('stamps every write after the newest stored one, even when the clock stands still', async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1)] });
    const s2 = await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(2)] });
    const n = await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['1'] });
    expect(n).toBe(1);
    expect(s2.modifiedAt).toBe('2025-03-01T10:00:00.000001+00:00');
    expect((await one('1'))._nango_metadata).toMatchObject({
      last_modified_at: '2025-03-01T10:00:00.000002+00:00',
      deleted_at: '2025-03-01T10:00:00.000002+00:00',
      last_action: 'DELETED',
    });
    // A clock that went back does not move records before the others either.
    at('2025-02-01T00:00:00.000Z');
    const s3 = await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(3)] });
    expect(s3.modifiedAt).toBe('2025-03-01T10:00:00.000003+00:00');
    // Other models and connections have their own clocks.
    const s4 = await upsertRecords(t.ctx, { connectionPk: pk, model: 'Program', records: [lead(1)] });
    expect(s4.modifiedAt).toBe('2025-02-01T00:00:00.000000+00:00');
  });

  it('gives concurrent writers of one model distinct stamps', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, k) =>
        upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(k), lead(100 + k)] }),
      ),
    );
    expect(new Set(results.map((r) => r.modifiedAt)).size).toBe(6);
    const ordered = (await all()).map((r) => r._nango_metadata.last_modified_at);
    expect([...ordered].sort()).toEqual(ordered);
  });

  it('writes batches larger than one statement', async () => {
    const records = Array.from({ length: 1234 }, (_, i) => lead(i));
    expect(await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records })).toMatchObject({
      added: 1234,
    });
    const again = records.map((r, i) => (i % 2 ? { ...r, score: -1 } : r));
    expect(await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: again })).toMatchObject({
      added: 0,
      updated: 617,
      unchanged: 617,
    });
    expect(await all()).toHaveLength(1234);
  });

  it('counts a mixed large batch right: new, changed, unchanged, deleted, pruned, duplicates', async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: Array.from({ length: 1500 }, (_, i) => lead(i)),
    });
    await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['3', '703'] });
    expect(await pruneOldest()).toEqual(['0', '1']);
    at('2025-03-01T11:00:00.000Z');
    // 0..1499 again (every 7th changed), 1500..2036 new, one duplicate id at the end.
    const records = Array.from({ length: 2037 }, (_, i) =>
      i % 7 === 0 && i < 1500 ? lead(i, { score: -i }) : lead(i),
    );
    records.push(lead(2036, { email: 'last@example.com' }));
    const s = await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records, runId: 'run-2' });
    const changed = Math.ceil(1500 / 7);
    // 3 and 703 come back (added); every 7th changed (0 among them, pruned too) and 1 (pruned) updated.
    expect(s).toMatchObject({
      added: 537 + 2,
      updated: changed + 1,
      unchanged: 1500 - 2 - changed - 1,
      duplicates: 1,
    });
    expect(s.added + s.updated + s.unchanged).toBe(2037);
    expect((await one('2036')).email).toBe('last@example.com');
    expect((await one('703'))._nango_metadata).toMatchObject({ last_action: 'UPDATED', deleted_at: null });
    // Every record was written or seen by run-2: nothing is missing.
    expect(await markMissingDeleted(t.ctx, { connectionPk: pk, model: 'Lead', runId: 'run-2' })).toBe(0);
  });

  it('counts right when stored records hide among mostly new ones (a load that continues)', async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: Array.from({ length: 100 }, (_, i) => lead(i)),
    });
    await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['3'] });
    expect(await pruneOldest()).toEqual(['0', '1']);
    at('2025-03-01T11:00:00.000Z');
    // 4 new records for every stored one (0..99, every 7th changed): 500, one chunk of PostgreSQL's path.
    const records: RecordInput[] = [];
    for (let i = 0; i < 100; i++) {
      records.push(i % 7 === 0 ? lead(i, { score: -i }) : lead(i));
      for (let j = 0; j < 4; j++) records.push(lead(1000 + i * 4 + j));
    }
    const s = await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records, runId: 'run-2' });
    const changed = Math.ceil(100 / 7); // 0 among them, pruned too
    expect(s).toMatchObject({ added: 400 + 1, updated: changed + 1, unchanged: 100 - 1 - changed - 1 });
    expect(await all()).toHaveLength(500);
    expect((await one('3'))._nango_metadata).toMatchObject({ last_action: 'UPDATED', deleted_at: null });
    expect((await one('1'))._nango_metadata.pruned_at).toBeNull();
    expect((await one('7')).score).toBe(-7);
    expect((await one('1399'))._nango_metadata.last_action).toBe('ADDED');
    // Unchanged records were seen by run-2 too: nothing is missing.
    expect(await markMissingDeleted(t.ctx, { connectionPk: pk, model: 'Lead', runId: 'run-2' })).toBe(0);
  });

  it('compares stored payload texts, so rows hashed by earlier versions stay unchanged', async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1), lead(2)] });
    // Earlier versions stored a sha256 of the payload in content_hash.
    await recordsDb(t.ctx).updateTable('records').set({ content_hash: 'sha256-of-the-payload' }).execute();
    at('2025-03-01T11:00:00.000Z');
    expect(
      await upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: [lead(1), lead(2, { score: 9 })],
      }),
    ).toMatchObject({ added: 0, updated: 1, unchanged: 1 });
  });
});

describe('deletions', () => {
  it('markDeleted keeps the payload, skips unknown and already deleted ids; a reappearing record is added back', async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1), lead(2)] });
    at('2025-03-01T11:00:00.000Z');
    expect(await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['1', 'nope'] })).toBe(1);
    at('2025-03-01T11:30:00.000Z');
    expect(await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['1'] })).toBe(0);
    expect(await one('1')).toMatchObject({
      email: 'lead1@example.com',
      _nango_metadata: { last_action: 'DELETED', deleted_at: '2025-03-01T11:00:00.000000+00:00' },
    });
    expect(await countRecords(t.ctx, { connectionPk: pk })).toBe(1);
    expect(await countRecords(t.ctx, { connectionPk: pk, includeDeleted: true })).toBe(2);

    at('2025-03-01T12:00:00.000Z');
    // Same content as before the deletion: still counted as added (Nango's summary), shown as UPDATED.
    expect(await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1)] })).toMatchObject(
      {
        added: 1,
        updated: 0,
        unchanged: 0,
      },
    );
    expect((await one('1'))._nango_metadata).toMatchObject({
      first_seen_at: '2025-03-01T10:00:00.000000+00:00',
      last_modified_at: '2025-03-01T12:00:00.000000+00:00',
      last_action: 'UPDATED',
      deleted_at: null,
    });
  });

  it('markMissingDeleted deletes what a full-refresh run neither wrote nor saw', async () => {
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [1, 2, 3, 4].map((i) => lead(i)),
      runId: 'r1',
    });
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Program', records: [lead(9)], runId: 'r1' });
    at('2025-03-02T10:00:00.000Z');
    // Run 2 sees 1 (unchanged), changes 2, adds 5; 3 and 4 are gone.
    const s = await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [lead(1), lead(2, { score: 0 }), lead(5)],
      runId: 2,
    });
    expect(s).toMatchObject({ added: 1, updated: 1, unchanged: 1 });
    expect((await one('1'))._nango_metadata.last_modified_at).toBe('2025-03-01T10:00:00.000000+00:00');
    at('2025-03-02T10:05:00.000Z');
    expect(await markMissingDeleted(t.ctx, { connectionPk: pk, model: 'Lead', runId: 2 })).toBe(2);
    const byId = Object.fromEntries((await all()).map((r) => [r.id, r._nango_metadata.last_action]));
    expect(byId).toEqual({ '1': 'ADDED', '2': 'UPDATED', '3': 'DELETED', '4': 'DELETED', '5': 'ADDED' });
    // Other models are untouched; a second call deletes nothing more.
    expect(await countRecords(t.ctx, { connectionPk: pk, model: 'Program' })).toBe(1);
    expect(await markMissingDeleted(t.ctx, { connectionPk: pk, model: 'Lead', runId: 2 })).toBe(0);
  });

  it('deleteAllRecords empties one model or the whole connection', async () => {
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1), lead(2)] });
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Program', records: [lead(1)] });
    expect(await deleteAllRecords(t.ctx, { connectionPk: pk, model: 'Lead' })).toBe(2);
    expect(await countRecords(t.ctx, { connectionPk: pk, includeDeleted: true })).toBe(1);
    expect(await deleteAllRecords(t.ctx, { connectionPk: pk })).toBe(1);
    expect(await countRecords(t.ctx, { connectionPk: pk, includeDeleted: true })).toBe(0);
  });
});

describe('listRecords', () => {
  beforeEach(async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [1, 2, 3, 4, 5].map((i) => lead(i)),
    });
    at('2025-03-01T11:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [lead(2, { score: 0 }), lead(6)],
    });
    at('2025-03-01T12:00:00.000Z');
    await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['3'] });
  });

  it('orders by last modification, then insertion', async () => {
    expect((await all()).map((r) => r.id)).toEqual(['1', '4', '5', '2', '6', '3']);
  });

  it('filters by action (union of the given ones)', async () => {
    const ids = async (filter: ('added' | 'updated' | 'deleted')[]) =>
      (await all({ filter })).map((r) => r.id);
    expect(await ids(['added'])).toEqual(['1', '4', '5', '6']);
    expect(await ids(['updated'])).toEqual(['2']);
    expect(await ids(['deleted'])).toEqual(['3']);
    expect(await ids(['added', 'updated'])).toEqual(['1', '4', '5', '2', '6']);
    expect(await ids(['updated', 'deleted'])).toEqual(['2', '3']);
    expect(await ids(['added', 'deleted'])).toEqual(['1', '4', '5', '6', '3']);
    expect(await ids(['added', 'updated', 'deleted'])).toHaveLength(6);
  });

  it('reads deleted records only through their own index (not a scan of the model)', async () => {
    const more: RecordInput[] = [];
    for (let i = 100; i < 3100; i++) more.push(lead(i));
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: more });
    await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['200', '300'] });
    const pg = isPostgres(t.ctx);
    if (pg) await sql`analyze records`.execute(t.ctx.db);
    // The statement listRecordRows runs for a first page with filter=deleted.
    const query = `select id from records where connection_pk = ${pk} and model = 'Lead' and (deleted_at is not null)
      order by updated_at, id limit 101`;
    const plan = await sql
      .raw<Record<string, unknown>>(`${pg ? 'explain' : 'explain query plan'} ${query}`)
      .execute(t.ctx.db);
    const text = JSON.stringify(plan.rows);
    expect(text).toContain('records_deleted');
    expect(text).not.toContain('records_cursor');
    expect((await all({ filter: ['deleted'] })).map((r) => r.id)).toEqual(['3', '200', '300']);
  });

  it('filters by modification time (inclusive) and by ids', async () => {
    expect((await all({ modifiedAfter: '2025-03-01T11:00:00.000Z' })).map((r) => r.id)).toEqual([
      '2',
      '6',
      '3',
    ]);
    expect((await all({ modifiedAfter: new Date('2025-03-01T11:00:00.001Z') })).map((r) => r.id)).toEqual([
      '3',
    ]);
    expect((await all({ ids: ['6', '1', 'nope', '3'] })).map((r) => r.id)).toEqual(['1', '6', '3']);
    expect(await all({ ids: [] })).toEqual([]);
    expect((await all({ ids: ['6', '1', '3'], filter: ['added'] })).map((r) => r.id)).toEqual(['1', '6']);
  });

  it('pages with limit + 1 probing, through ids and filters too', async () => {
    const p1 = await listRecords(t.ctx, { connectionPk: pk, model: 'Lead', limit: 4 });
    expect(p1.records.map((r) => r.id)).toEqual(['1', '4', '5', '2']);
    expect(p1.next_cursor).toBe(p1.records[3]!._nango_metadata.cursor);
    const p2 = await listRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      limit: 4,
      cursor: p1.next_cursor!,
    });
    expect(p2.records.map((r) => r.id)).toEqual(['6', '3']);
    expect(p2.next_cursor).toBeNull();
    const exact = await listRecords(t.ctx, { connectionPk: pk, model: 'Lead', limit: 6 });
    expect(exact.next_cursor).toBeNull();
    const byIds = await listRecords(t.ctx, { connectionPk: pk, model: 'Lead', limit: 1, ids: ['2', '6'] });
    expect(byIds.records.map((r) => r.id)).toEqual(['2']);
    const rest = await listRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      limit: 1,
      ids: ['2', '6'],
      cursor: byIds.next_cursor!,
    });
    expect(rest).toMatchObject({ records: [{ id: '6' }], next_cursor: null });
    expect((await all({ filter: ['added'], limit: 1 })).map((r) => r.id)).toEqual(['1', '4', '5', '6']);
    await expect(
      listRecords(t.ctx, { connectionPk: pk, model: 'Lead', limit: 1, cursor: 'bad' }),
    ).rejects.toThrow(InvalidCursorError);
  });

  it('renders the same JSON from raw rows as from parsed records, as text and as bytes', async () => {
    // Packed records among the plain ones: odd values, an absent member, a non-ASCII member name, a value
    // longer than the page buffer's first guess; one of them pruned.
    const shape = recordShape(['firstName', 'nick', 'note', 'score', 'villé']);
    at('2025-03-01T13:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [
        packedOf(shape, { id: 'p1', firstName: 'Zoë 😀', note: 'a "quoted"\n\\ line\u2028', score: -1.5 }),
        packedOf(shape, { id: 'p2', nick: 'x'.repeat(5000), villé: { nested: [1, null, 'ü'] } }),
        packedOf(shape, { id: 'p3', score: 3 }),
      ],
    });
    at('2025-03-01T14:00:00.000Z');
    const p3 = await one('p3');
    await pruneRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      untilCursor: p3._nango_metadata.cursor,
      limit: 1,
    });
    for (const limit of [4, 100]) {
      const input = { connectionPk: pk, model: 'Lead', limit };
      const raw = await listRecordRows(t.ctx, input);
      const text = recordsPageJson(raw.rows, raw.nextCursor);
      expect(JSON.parse(text)).toEqual(await listRecords(t.ctx, input));
      expect(recordsPageBody(raw.rows, raw.nextCursor).equals(Buffer.from(text, 'utf8'))).toBe(true);
    }
    expect((await one('p1')).firstName).toBe('Zoë 😀');
    expect((await one('p2'))['villé']).toEqual({ nested: [1, null, 'ü'] });
    expect(recordsPageJson([], null)).toBe('{"next_cursor":null,"records":[]}');
    expect(recordsPageBody([], null).toString()).toBe('{"next_cursor":null,"records":[]}');
  });
});

describe('pruneRecords', () => {
  it('empties payloads up to the cursor without moving records; a re-sync restores them', async () => {
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [1, 2, 3, 4].map((i) => lead(i)),
    });
    const before = await all();
    at('2025-03-01T11:00:00.000Z');
    const r = await pruneRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      untilCursor: before[2]!._nango_metadata.cursor,
      limit: 2,
    });
    expect(r).toEqual({ count: 2, lastCursor: before[1]!._nango_metadata.cursor });
    const r2 = await pruneRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      untilCursor: before[2]!._nango_metadata.cursor,
      limit: 10,
    });
    expect(r2).toEqual({ count: 1, lastCursor: before[2]!._nango_metadata.cursor });
    const after = await all();
    expect(after.map((x) => x._nango_metadata.cursor)).toEqual(before.map((x) => x._nango_metadata.cursor));
    expect(after[0]).toEqual({
      id: '1',
      _nango_metadata: { ...before[0]!._nango_metadata, pruned_at: '2025-03-01T11:00:00.000000+00:00' },
    });
    expect(after[3]).toEqual(before[3]);

    // Deleting a pruned record: the metadata rendered in SQL keeps pruned_at.
    at('2025-03-01T11:30:00.000Z');
    expect(await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['2'] })).toBe(1);
    expect(await one('2')).toEqual({
      id: '2',
      _nango_metadata: {
        first_seen_at: '2025-03-01T10:00:00.000000+00:00',
        last_modified_at: '2025-03-01T11:30:00.000000+00:00',
        last_action: 'DELETED',
        deleted_at: '2025-03-01T11:30:00.000000+00:00',
        pruned_at: '2025-03-01T11:00:00.000000+00:00',
        cursor: expect.any(String),
      },
    });

    at('2025-03-01T12:00:00.000Z');
    const s = await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(1), lead(4)] });
    expect(s).toMatchObject({ updated: 1, unchanged: 1 });
    expect(await one('1')).toMatchObject({
      email: 'lead1@example.com',
      _nango_metadata: { pruned_at: null, last_modified_at: '2025-03-01T12:00:00.000000+00:00' },
    });
    await expect(
      pruneRecords(t.ctx, { connectionPk: pk, model: 'Lead', untilCursor: 'bad', limit: 1 }),
    ).rejects.toThrow(InvalidCursorError);
  });
});

describe('cursor paging while syncs write', () => {
  it('returns every record not modified after being read exactly once, and every final version', async () => {
    at('2025-03-01T10:00:00.000Z');
    for (let b = 0; b < 4; b++)
      await upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: Array.from({ length: 50 }, (_, i) => lead(b * 50 + i)),
      });
    // The clock stands still: every write relies on the monotonic stamps.
    let nextId = 1000;
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const delivered = new Map<string, string[]>();
    const versions = new Map<string, string[]>();
    const modified = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      for (const r of page.records) {
        const list = delivered.get(r.id) ?? [];
        list.push(r._nango_metadata.last_modified_at);
        delivered.set(r.id, list);
        versions.set(r.id, [...(versions.get(r.id) ?? []), JSON.stringify(r)]);
      }
      cursor = page.next_cursor ?? undefined;
      pages++;
      if (!cursor || pages > 60) continue;
      // Between pages: new records, changes to records read or not yet read, unchanged writes, deletions.
      const changed = [rand(200), rand(200), rand(200)].map(String);
      changed.forEach((id) => modified.add(id));
      await upsertRecords(t.ctx, {
        connectionPk: pk,
        model: 'Lead',
        records: [
          lead(nextId++),
          lead(nextId++),
          ...changed.map((id) => lead(Number(id), { score: -pages })),
          lead(rand(200) + 200, {}), // never existed before 200..399: an add
        ],
      });
      for (const id of [String(rand(200)), String(rand(200))]) {
        const current = (await all({ ids: [id] }))[0];
        if (current && current._nango_metadata.last_action !== 'DELETED')
          await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [current] }); // unchanged
      }
      const del = String(rand(200));
      if ((await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: [del] })) > 0) modified.add(del);
    } while (cursor);

    const final = await all();
    for (const r of final) {
      const got = delivered.get(r.id);
      // No skip: the latest version of every record (content and metadata) was delivered.
      expect(versions.get(r.id), `record ${r.id}`).toContain(JSON.stringify(r));
      // No repeat: only modified records come back, each time with a newer version.
      if (!modified.has(r.id)) expect(got, `record ${r.id}`).toHaveLength(1);
      expect([...got!].sort(), `record ${r.id}`).toEqual(got);
      expect(new Set(got).size, `record ${r.id}`).toBe(got!.length);
    }
    expect(pages).toBeGreaterThan(30);
  });
});

/**
 * Migration 016 dropped `records.meta` (the stored `_nango_metadata` text): reads render it from the
 * timestamp columns. Records of every kind read the same before and after it, and its `down` stores
 * exactly the text the API renders.
 */
describe('migration 016 (metadata rendered on read)', () => {
  it('016 changes no answer of GET /records, and its down stores the text reads render', async () => {
    const at = (iso: string) => (t.clock.now = new Date(iso));
    at('2025-03-01T10:00:00.000Z');
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [1, 2, 3, 4].map((i) => lead(i)),
    });
    at('2025-03-01T11:00:00.000Z');
    await upsertRecords(t.ctx, { connectionPk: pk, model: 'Lead', records: [lead(2, { score: 20 })] });
    await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['3'] });
    at('2025-03-01T12:00:00.000Z');
    await pruneOldest(1);
    const input: ListRecordsInput = { connectionPk: pk, model: 'Lead', limit: 100 };
    const before = await listRecords(t.ctx, input);
    expect(
      before.records.map((r) => [r.id, r._nango_metadata.last_action, r._nango_metadata.pruned_at]),
    ).toEqual([
      ['1', 'ADDED', '2025-03-01T12:00:00.000000+00:00'],
      ['4', 'ADDED', null],
      ['2', 'UPDATED', null],
      ['3', 'DELETED', null],
    ]);

    await m016.down(t.db);
    const rows = await sql<{
      meta: string;
      created_at: string;
      updated_at: string;
      deleted_at: string | null;
      pruned_at: string | null;
    }>`select meta, created_at, updated_at, deleted_at, pruned_at from records`.execute(t.db);
    expect(rows.rows).toHaveLength(4);
    for (const r of rows.rows) {
      expect(r.meta).toBe(metaJson(r.created_at, r.updated_at, r.deleted_at, r.pruned_at));
    }

    await m016.up(t.db);
    await expect(sql`select meta from records`.execute(t.db)).rejects.toThrow(/meta/);
    expect(await listRecords(t.ctx, input)).toEqual(before);
  });
});

describe('migration 017 (packed payloads)', () => {
  it('017 down writes packed payloads back as JSON; answers are the same before and after', async () => {
    const shape = recordShape(['email', 'firstName', 'score']);
    const packed = (r: RecordInput) => packedOf(shape, r);
    await upsertRecords(t.ctx, {
      connectionPk: pk,
      model: 'Lead',
      records: [packed(lead(1)), lead(2), packed(lead(3))],
    });
    await markDeleted(t.ctx, { connectionPk: pk, model: 'Lead', ids: ['3'] });
    const input: ListRecordsInput = { connectionPk: pk, model: 'Lead', limit: 100 };
    const before = await listRecords(t.ctx, input);

    await m017.down(t.db);
    const rows = await sql<{ external_id: string; payload: string }>`select external_id, payload from records
      order by external_id`.execute(t.db);
    expect(rows.rows.map((r) => r.payload)).toEqual([1, 2, 3].map((i) => payloadJson(lead(i), String(i))));
    await expect(sql`select hash from record_shapes`.execute(t.db)).rejects.toThrow(/record_shapes/);
    expect(await listRecords(t.ctx, input)).toEqual(before);

    await m017.up(t.db);
    expect(await listRecords(t.ctx, input)).toEqual(before);
  });
});
