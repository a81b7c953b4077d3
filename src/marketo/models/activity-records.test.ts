/**
 * The activity export reader: rows straight to the payload text the records cache stores, the same byte
 * for byte as `payloadJson(converter.record(row), id)` (what the store wrote for the converter's objects),
 * on the CSV worker thread (a real worker, loaded from the sources through tsx) and in-thread; rows whose
 * attributes cell is not JSON are marked and counted the same both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payloadJson } from '../../db/record-json.ts';
import { PayloadRecord } from '../../record-payload.ts';
import { offloadCounts, offloadedBatches } from '../bulk/csv-offload.ts';
import { recipeReader, type CsvRecipe } from '../bulk/csv-worker.ts';
import { csvBatches, type CsvBatch } from '../bulk/csv.ts';
import { activitiesSync } from './activities.ts';
import {
  activityCsvReader,
  activityRecords,
  ActivityRowConverter,
  type ActivityItem,
} from './activity-records.ts';
import { startHarness, TEST_ACTIVITY_HEADER, type Harness } from './test-helpers.ts';

const RECIPE: CsvRecipe = { kind: 'activity' };
const reader = recipeReader(RECIPE);

const HEADER = TEST_ACTIVITY_HEADER;

/** Attribute cells as Marketo writes them (JSON), with escapes, unicode, nesting, and some that are not JSON. */
const ATTRIBUTES = [
  '{"Webpage URL":"/pricing.html","Client IP Address":"10.0.0.1"}',
  '[{"name":"New Value","value":"a@b.c","apiName":"email"},{"name":"Old Value","value":null},{"name":"Reason","value":""}]',
  '{"q":"say \\"hi\\", back\\\\slash, tab\\t, ctl\\u0001, nl\\n"}',
  '{"u":"Jos\u00e9 \u4e2d\u6587 \ud83d\ude00","lone":"\\ud800","esc":"\\u00e9\\u2028"}',
  '{"n":{"b":1,"a":[1,{"d":2,"c":3}]},"big":1e21,"neg":-0,"f":1.50,"t":true,"z":0}',
  '{}',
  '[]',
  '',
  'null',
  '{oops',
  '[1,2',
  '"just text"',
  '42',
];
const DATES = [
  '2024-01-31T10:00:00Z',
  '2024-01-31 10:00:00',
  '2024-01-31T10:00:00+0100',
  '2024-01-31T10:00:00.123Z',
  'not a date',
  '',
];
const NUMBERS = ['17', '007', '-3', '1e3', '1.5', 'abc', ' 5', '', 'null', '9007199254740993'];
const TEXTS = ['www.example.com/a', 'Jos\u00e9', '\u4e2d\u6587', 'a,b', 'q "x"', 'two\nlines', 'null', ''];

/** A CSV cell: quoted when it has to be (or, for variety, sometimes when not). */
function cell(v: string, i: number): string {
  if (v === 'null') return i % 2 === 0 ? 'null' : '"null"';
  return /[",\r\n]/.test(v) || i % 5 === 0 ? `"${v.replaceAll('"', '""')}"` : v;
}

function guidOf(i: number): string {
  if (i % 19 === 18) return '';
  if (i % 13 === 12) return `a1b2-${i}`;
  if (i % 29 === 28) return `90071992547409${93 + (i % 7)}`;
  return String(5000 + i);
}

/** `rows` activity rows under `header` (column names of HEADER, plus others kept as text). */
function file(rows: number, header: readonly string[] = HEADER, eol = '\n'): string {
  const lines = [header.join(',')];
  for (let i = 0; i < rows; i++) {
    const cells = header.map((name, c) => {
      const k = i * 7 + c * 3;
      switch (name) {
        case 'marketoGUID':
          return cell(guidOf(i), k);
        case 'attributes':
          return cell(ATTRIBUTES[i % ATTRIBUTES.length]!, k);
        case 'activityDate':
          return cell(DATES[i % DATES.length]!, k);
        case 'leadId':
        case 'activityTypeId':
        case 'campaignId':
        case 'primaryAttributeValueId':
          return cell(NUMBERS[k % NUMBERS.length]!, k);
        default:
          return cell(TEXTS[k % TEXTS.length]!, k);
      }
    });
    lines.push(cells.join(','));
  }
  return lines.join(eol) + eol;
}

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function collect<T>(batches: AsyncIterable<CsvBatch<T>>): Promise<CsvBatch<T>[]> {
  const out: CsvBatch<T>[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

/** What the store wrote before: the converter's record of each row, serialised by the store's function. */
async function reference(bytes: Uint8Array): Promise<{ texts: [string, string][]; bad: number }> {
  const texts: [string, string][] = [];
  let converter: ActivityRowConverter | undefined;
  for (const batch of await collect(csvBatches(chunks(bytes, 1 << 20), { batchRows: 1000 }))) {
    converter ??= new ActivityRowConverter(batch.header);
    for (const rec of converter.records(batch.rows)) texts.push([rec.id, payloadJson(rec, rec.id)]);
  }
  return { texts, bad: converter?.badAttributes ?? 0 };
}

function texts(batches: CsvBatch<ActivityItem>[]): { texts: [string, string][]; bad: number } {
  const out: [string, string][] = [];
  let bad = 0;
  for (const b of batches) {
    const read = activityRecords(b.rows);
    bad += read.bad;
    for (const r of read.records) out.push([r.id, r.payload]);
  }
  return { texts: out, bad };
}

async function both(text: string, size: number, batchRows = 40) {
  const bytes = new TextEncoder().encode(text);
  const inThread = await collect(csvBatches(chunks(bytes, size), { batchRows, reader }));
  const before = offloadCounts.worker;
  const offloaded = await collect(
    offloadedBatches(chunks(bytes, size), { batchRows, reader, recipe: RECIPE }),
  );
  expect(offloadCounts.worker).toBe(before + 1);
  return {
    bytes,
    inThread: inThread as CsvBatch<ActivityItem>[],
    offloaded: offloaded as CsvBatch<ActivityItem>[],
  };
}

describe('activity export files as payload text (worker and in-thread)', () => {
  it('the same payload text byte for byte as the store wrote for the converter records, both ways', async () => {
    const other = [
      'activityDate',
      'attributes',
      'actionResult',
      'leadId',
      'marketoGUID',
      'campaignId',
      'x y',
    ];
    const files = [
      file(400),
      file(300, HEADER, '\r\n'),
      file(260, other),
      file(0),
      HEADER.join(',') + '\n',
      // No marketoGUID column: no record at all.
      file(
        30,
        HEADER.filter((h) => h !== 'marketoGUID'),
      ),
      // Headers the direct writer leaves to the converter: names replacing the id or computed members,
      // repeated names, `__proto__`; and other names it writes (sorted as the store sorts them).
      file(120, [...HEADER, 'id']),
      file(120, [...HEADER, 'activityId', '_nango_metadata']),
      file(120, [...HEADER, 'attributes', 'marketoGUID']),
      file(60, [...HEADER, '__proto__']),
      file(60, [...HEADER, '10', 'B', 'a', '\u00e9', 'Z z']),
    ];
    let checked = 0;
    for (const text of files) {
      for (const size of [3, 97, 4096, 1 << 20]) {
        const { bytes, inThread, offloaded } = await both(text, size);
        // Same batches (header, bytes, items: PayloadRecords, marked rows, undefined for no GUID).
        expect(offloaded).toStrictEqual(inThread);
        const want = await reference(bytes);
        expect(texts(offloaded)).toEqual(want);
        expect(texts(inThread)).toEqual(want);
        checked += want.texts.length;
      }
    }
    expect(checked).toBeGreaterThan(3000);
  });

  it('rows with attributes that are not JSON are marked (counted), stored with empty attributes', async () => {
    const { bytes, offloaded } = await both(file(260), 64);
    const want = await reference(bytes);
    // '{oops', '[1,2' of 13 attribute cells, minus rows without a GUID.
    expect(want.bad).toBeGreaterThan(20);
    expect(texts(offloaded).bad).toBe(want.bad);
    const marked = offloaded
      .flatMap((b) => b.rows)
      .filter((r) => r !== undefined && !(r instanceof PayloadRecord));
    expect(marked).toHaveLength(want.bad);
    for (const m of marked) expect(JSON.parse(m!.payload)).toMatchObject({ attributes: [] });
    // Rows without a GUID are undefined items, as the converter gives no record.
    expect(offloaded.flatMap((b) => b.rows).filter((r) => r === undefined).length).toBeGreaterThan(10);
  });

  it('a payload parses back to the converter record', () => {
    const row = [
      '601',
      '16',
      '2024-01-31 10:00:00',
      '1',
      null,
      '1022',
      'x',
      '{"b":"\u00e9","a":{"z":1,"y":2}}',
    ];
    const rec = new ActivityRowConverter(HEADER).record(row)!;
    const item = activityCsvReader(HEADER).cells(row);
    expect(item).toBeInstanceOf(PayloadRecord);
    expect(JSON.parse((item as PayloadRecord).payload)).toEqual(rec);
    expect((item as PayloadRecord).payload).toBe(
      '{"activityDate":"2024-01-31T10:00:00Z","activityId":601,"activityTypeId":1,' +
        '"attributes":[{"name":"b","value":"\u00e9"},{"name":"a","value":{"y":2,"z":1}}],' +
        '"leadId":16,"marketoGUID":"601","primaryAttributeValue":"x","primaryAttributeValueId":1022,"id":"601"}',
    );
  });
});

describe('the activities bulk path reads its files on the worker', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(200, 43);
    await h.sb.control('PATCH', `/instances/${h.sb.munchkinId}`, { settings: { bulkProcessingMs: 10 } });
  });
  afterAll(async () => h.close());

  it('saves PayloadRecords parsed by the CSV worker thread', async () => {
    const before = offloadCounts.worker;
    const since = new Date(h.now().getTime() - 30 * 86_400_000).toISOString();
    const r = await h.newEngine().run(activitiesSync, {
      options: { exportPollMs: 10, sinceDatetime: since, activityExport: 'bulk' },
    });
    expect(r.error).toBeUndefined();
    expect(offloadCounts.worker).toBeGreaterThan(before);
    const saved = r.pages.flatMap((p) => p.upserts?.Activity ?? []);
    expect(saved.length).toBeGreaterThan(100);
    expect(saved.every((s) => s instanceof PayloadRecord)).toBe(true);
  });
});
