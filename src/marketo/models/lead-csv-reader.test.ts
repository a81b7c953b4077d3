/**
 * `LeadRowConverter.csvReader`: records read straight from the export text (the lead sync's hot path, as
 * PayloadRecords) must store, byte for byte, the payload text of the records the converter builds from
 * the parsed rows (db/record-json.ts `payloadJson`).
 */
import { describe, expect, it } from 'vitest';
import { createConnection } from '../../db/connections.ts';
import { payloadJson } from '../../db/record-json.ts';
import { upsertRecords } from '../../db/records.ts';
import { openTestDb } from '../../db/testing.ts';
import { isPacked, PayloadRecord } from '../../record-payload.ts';
import { CSV_SPLIT, csvBatches, type CsvReader } from '../bulk/csv.ts';
import { chunksOf, expectedPayloads } from './csv-test-helpers.ts';
import { LeadRowConverter, LeadSchema, type LeadItem } from './lead-records.ts';
import { TEST_LEAD_FIELDS } from './test-helpers.ts';
import type { SyncRecord } from './types.ts';

const schema = new LeadSchema(TEST_LEAD_FIELDS);

/** Odd values for every kind, cycled through the rows. */
const NUMBERS = [
  '7',
  '007',
  '-0',
  '-12',
  '1.5',
  ' 5',
  '5 ',
  'n/a',
  '1e3',
  '12345678901234567890',
  '0',
  'null',
  '',
];
const BOOLEANS = ['true', 'false', 'TRUE', '1', 'no', 'tru', 'falsy', 'null', ''];
const DATETIMES = ['2024-01-31T10:00:00Z', '2024-01-31T10:00:00+0100', '2014-11-13 12:43:04', 'soon', 'null'];
const DATES = ['2024-01-31', '2024-01-31T00:00:00Z', 'someday', ''];
const NAMES = ['a@b.c', 'Jos\u00e9@b.c', '"q, ""x"""', '"null"', 'null', '', '\u4e2d@b.c'];

function exportText(rows: number): string {
  const header = 'id,email,leadScore,urgency,unsubscribed,createdAt,dateOfBirth,__proto__,extra,id';
  const lines = [header];
  for (let i = 0; i < rows; i++) {
    const pick = (list: string[], k: number) => list[(i + k) % list.length]!;
    const id = i % 17 === 16 ? 'null' : String(1000 + i);
    lines.push(
      [
        id,
        pick(NAMES, 0),
        pick(NUMBERS, 1),
        pick(NUMBERS, 5),
        pick(BOOLEANS, 2),
        pick(DATETIMES, 3),
        pick(DATES, 4),
        `p${i}`,
        i % 3 === 0 ? 'x' : 'null',
        String(i),
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/** The record's JSON text as the records cache answers it (PayloadRecords carry theirs, packed). */
function payloadOf(item: LeadItem): string | undefined {
  if (item === undefined) return undefined;
  return item instanceof PayloadRecord ? item.json() : payloadJson(item, item.id);
}

/** The items of the lead sync's reader for `bytes` read in chunks of `size`, and how many rows came as text. */
async function readItems(
  bytes: Uint8Array,
  schema: LeadSchema,
  size: number,
  delimiter?: ',' | ';',
): Promise<{ items: NonNullable<LeadItem>[]; textRows: number }> {
  let textRows = 0;
  const reader = (header: readonly string[], d: string): CsvReader<LeadItem> => {
    const inner = new LeadRowConverter(header, schema).csvReader(d);
    return {
      cells: (row) => inner.cells(row),
      get text() {
        const text = inner.text;
        return text && ((t: string, s: number, e: number) => (textRows++, text(t, s, e)));
      },
    };
  };
  const items: NonNullable<LeadItem>[] = [];
  for await (const batch of csvBatches(chunksOf(bytes, size), { batchRows: 50, reader, delimiter })) {
    for (const item of batch.rows) if (item !== undefined) items.push(item);
  }
  return { items, textRows };
}

describe('lead records read straight from the export text', () => {
  const bytes = new TextEncoder().encode(exportText(400));

  it('store the same payload text as the records built from the parsed rows, for any chunk size', async () => {
    const expected = await expectedPayloads(bytes, schema);
    expect(expected.length).toBeGreaterThan(300);
    for (const size of [5, 333, 1 << 16]) {
      const { items, textRows } = await readItems(bytes, schema, size);
      const got = items.map(payloadOf);
      expect(got).toHaveLength(expected.length);
      for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) expect(got[i]).toBe(expected[i]);
      if (size >= 333) {
        expect(textRows).toBeGreaterThan(200);
        // Past the sample, rows read from the text come as payload text, not objects.
        expect(items.filter((r) => r instanceof PayloadRecord).length).toBeGreaterThan(200);
      }
    }
  });

  it('keeps a hostile column a member, and drops a second id column', async () => {
    const reader = (h: readonly string[], d: string) => new LeadRowConverter(h, schema).csvReader(d);
    const recs: LeadItem[] = [];
    for await (const batch of csvBatches(chunksOf(bytes, 1 << 16), { reader })) recs.push(...batch.rows);
    const last = recs[recs.length - 1]!;
    expect(last).toBeInstanceOf(PayloadRecord);
    expect(last.id).toBe('1399');
    // Stored packed: the member names once, in the shape; the values in the payload.
    const record = last as PayloadRecord;
    expect(isPacked(record.payload)).toBe(true);
    expect(record.payload).not.toContain('__proto__');
    expect(record.shape?.members).toContain('__proto__');
    expect(record.shape?.members).not.toContain('id');
    const parsed = JSON.parse(record.json()) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value).toBe('p399');
    expect(parsed.id).toBe('1399');
    // JSON.stringify writes the record it holds.
    expect(JSON.stringify(last)).toBe(record.json());
  });

  it('writes odd names and values byte for byte as the records cache would (escapes, unicode, duplicates)', async () => {
    const odd = new LeadSchema([
      { name: 'id', kind: 'number' },
      { name: 'n', kind: 'number' },
      { name: 'b', kind: 'boolean' },
      { name: 'dt', kind: 'datetime' },
      { name: 'd', kind: 'date' },
    ]);
    // Names out of order, non-ASCII (sorted by code unit), repeated (the last column wins, empty or not),
    // `_nango_metadata` (dropped by the cache), integer-like.
    const header = [
      'zeta',
      'id',
      'n',
      '\u00e9t\u00e9',
      'b',
      'dt',
      'd',
      '\u4e2d',
      'zeta',
      '_nango_metadata',
      '10',
      'A',
      'id',
    ];
    const strings = [
      'plain',
      'back\\slash',
      'tab\there',
      'ctl\u0001x',
      'Jos\u00e9',
      '\u4e2d\u6587',
      '\u{1F600}',
      '',
      'null',
    ];
    const lines = [header.join(',')];
    for (let i = 0; i < 300; i++) {
      const pick = (list: string[], k: number) => list[(i * 7 + k) % list.length]!;
      lines.push(
        [
          pick(strings, 0),
          i % 29 === 28 ? 'null' : String(5000 + i),
          pick(NUMBERS, 1),
          pick(strings, 2),
          pick(BOOLEANS, 3),
          pick(DATETIMES, 4),
          pick(DATES, 5),
          pick(strings, 6),
          i % 4 === 0 ? '' : pick(strings, 7),
          'meta',
          pick(NUMBERS, 8),
          i % 3 === 0 ? 'null' : `a${i}`,
          'x',
        ].join(','),
      );
    }
    const oddBytes = new TextEncoder().encode(lines.join('\r\n') + '\r\n');
    const expected = await expectedPayloads(oddBytes, odd);
    expect(expected.length).toBeGreaterThan(250);
    for (const escaped of ['\\u0001', '\\\\', '\\t', '\u00e9', '\u{1F600}'])
      expect(expected.some((p) => p.includes(escaped))).toBe(true);
    for (const size of [7, 1 << 16]) {
      const { items, textRows } = await readItems(oddBytes, odd, size);
      // Every row, the first ones sampled as cells (objects) as well as those read from the text: with a
      // repeated name the last column wins on both paths, empty or not.
      expect(items).toHaveLength(expected.length);
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const text = item instanceof PayloadRecord ? item.json() : payloadJson(item, item.id);
        if (text !== expected[i]) expect(text).toBe(expected[i]);
      }
      if (size > 7) expect(textRows).toBeGreaterThan(200);
    }
  });

  it('compares unchanged in the records cache when the same file is read again (or read as objects)', async () => {
    const db = await openTestDb(new Date('2025-03-01T10:00:00.000Z'));
    try {
      const { id: connectionPk } = await createConnection(db.ctx, {
        environmentId: db.environmentId,
        connectionId: 'conn-1',
        providerConfigKey: 'marketo',
        provider: 'marketo',
      });
      const upsert = (records: (SyncRecord | PayloadRecord)[]) =>
        upsertRecords(db.ctx, { connectionPk, model: 'Lead', records, runId: 'r1' });
      const { items } = await readItems(bytes, schema, 1 << 16);
      expect(await upsert(items)).toMatchObject({ added: items.length, updated: 0, unchanged: 0 });
      db.clock.now = new Date('2025-03-01T11:00:00.000Z');
      expect(await upsert((await readItems(bytes, schema, 333)).items)).toMatchObject({
        added: 0,
        updated: 0,
        unchanged: items.length,
      });
      // The records the cells path builds for the same rows: the same stored text.
      const objects: SyncRecord[] = [];
      let conv: LeadRowConverter | undefined;
      for await (const batch of csvBatches(chunksOf(bytes, 1 << 16), {})) {
        conv ??= new LeadRowConverter(batch.header, schema);
        objects.push(...conv.records(batch.rows));
      }
      expect(await upsert(objects)).toMatchObject({ added: 0, updated: 0, unchanged: items.length });
    } finally {
      await db.cleanup();
    }
  });

  it('writes rows the parser cannot hand it as the cache would: lone surrogates, any delimiter', async () => {
    const conv = new LeadRowConverter(['id', 'email', 'leadScore'], schema);
    const reader = conv.csvReader(';');
    for (let i = 0; i < 64; i++) reader.cells([String(i + 1), `e${i}`, String(i)]);
    const text = reader.text!;
    const rows = [
      '7;lone \ud800 surrogate;1',
      '8;pair \ud83d\ude00;2',
      '9;a,b;0012',
      '10;;',
      'null;x;1',
      '11;x',
      '12;x;1;2',
    ];
    const got = rows.map((row) => {
      const item = text(`>>${row}<<`, 2, row.length + 2);
      return item === CSV_SPLIT ? 'split' : payloadOf(item);
    });
    const want = rows.map((row) => {
      const cells = row.split(';');
      if (cells.length !== 3) return 'split';
      const rec = conv.record(cells.map((c) => (c === 'null' ? null : c)));
      return rec === undefined ? undefined : payloadJson(rec, rec.id);
    });
    expect(got).toEqual(want);
    expect(got[0]).toBe('{"email":"lone \\ud800 surrogate","leadScore":1,"id":"7"}');
  });
});
