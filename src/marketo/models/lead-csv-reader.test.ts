/**
 * `LeadRowConverter.csvReader`: records read straight from the export text (the lead sync's hot path)
 * must equal, field by field, the records the converter builds from the parsed rows.
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { csvBatches, type CsvReader } from '../bulk/csv.ts';
import { LeadRowConverter, LeadSchema } from './lead-records.ts';
import type { SyncRecord } from './types.ts';

const schema = new LeadSchema([
  { name: 'id', kind: 'number' },
  { name: 'email', kind: 'string' },
  { name: 'leadScore', kind: 'number' },
  { name: 'urgency', kind: 'number' },
  { name: 'unsubscribed', kind: 'boolean' },
  { name: 'createdAt', kind: 'datetime' },
  { name: 'dateOfBirth', kind: 'date' },
]);

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

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Own enumerable properties without the undefined ones (what JSON and the records cache keep). */
function stored(rec: SyncRecord | undefined): unknown {
  if (rec === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(rec)) {
    const v = rec[key];
    if (v !== undefined) Object.defineProperty(out, key, { value: v, enumerable: true });
  }
  return out;
}

describe('lead records read straight from the export text', () => {
  const bytes = new TextEncoder().encode(exportText(400));

  it('equal the records built from the parsed rows, with the text path in use, for any chunk size', async () => {
    // As the lead sync built them before: one converter per file, records() per batch.
    const expected: unknown[] = [];
    let conv: LeadRowConverter | undefined;
    for await (const batch of csvBatches(chunksOf(bytes, 1 << 16), { batchRows: 1000 })) {
      conv ??= new LeadRowConverter(batch.header, schema);
      for (const rec of conv.records(batch.rows)) expected.push(stored(rec));
    }
    expect(conv?.isDense).toBe(true);
    expect(expected.length).toBeGreaterThan(300);

    for (const size of [5, 333, 1 << 16]) {
      let textRows = 0;
      const reader = (header: readonly string[], d: string): CsvReader<SyncRecord | undefined> => {
        const inner = new LeadRowConverter(header, schema).csvReader(d);
        return {
          cells: (row) => inner.cells(row),
          get text() {
            const text = inner.text;
            return text && ((t: string, s: number, e: number) => (textRows++, text(t, s, e)));
          },
        };
      };
      const got: unknown[] = [];
      const shapes = new Set<string>();
      for await (const batch of csvBatches(chunksOf(bytes, size), { batchRows: 50, reader })) {
        for (const rec of batch.rows) {
          if (rec === undefined) continue;
          got.push(stored(rec));
          shapes.add(Object.keys(rec).join(','));
        }
      }
      expect(got).toHaveLength(expected.length);
      for (let i = 0; i < got.length; i++) {
        // Object.is on every value (so -0 stays -0) and the same JSON text.
        if (!isDeepStrictEqual(got[i], expected[i])) expect(got[i]).toStrictEqual(expected[i]);
        expect(JSON.stringify(got[i])).toBe(JSON.stringify(expected[i]));
      }
      if (size >= 333) {
        expect(textRows).toBeGreaterThan(200);
        // Past the sample every record has one shape: the records cache compiles its writer once.
        expect(shapes.size).toBeLessThan(70);
      }
    }
  });

  it('keeps a hostile column an own property, and drops a second id column', async () => {
    const reader = (h: readonly string[], d: string) => new LeadRowConverter(h, schema).csvReader(d);
    const recs: (SyncRecord | undefined)[] = [];
    for await (const batch of csvBatches(chunksOf(bytes, 1 << 16), { reader })) recs.push(...batch.rows);
    const last = recs[recs.length - 1]!;
    expect(Object.getPrototypeOf(last)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(last, '__proto__')?.value).toBe('p399');
    expect(last.id).toBe('1399');
  });
});
